/* devlib_own.cu: the device library (include/nerve/devlib.h) on the project's own
 * kernels, for toolchains without NVIDIA's libraries: the CUDA-on-CPU build of make
 * test-cuda-cpu (chipStar's cucc refuses the cuBLAS and cuSOLVER headers and cannot
 * compile thrust). It is also a plain CUDA file, so `make DEVLIB=own` builds it with
 * nvcc to run the same kernels on a GPU.
 *
 *   products     a tiled shared-memory GEMM (16 x 16 tiles); every element sums
 *                over k in index order, so results are the same bits run to run.
 *   sort         a bitonic sorting network in its "flip" form, where every
 *                comparator puts the smaller element first: positions past the end
 *                then act as +infinity that never moves, so any n works without
 *                padding. Steps whose partners lie within one block of 1024 run in
 *                shared memory, the others one launch each over global memory.
 *   compaction   per-tile counts, one block's exclusive scan of the counts, then
 *                each tile's scatter from a scan over its threads: stable (input
 *                order), integers only, so exact.
 *   eigensolver  LAPACKE_dsyevd on the host after a copy of the matrix: the
 *                reference's own solver, so this part checks the copies and the
 *                layout, not a device algorithm.
 * None uses float atomics or warp votes (both are order- or emulation-dependent);
 * every kernel's parity with a CPU reference is tests/gpu/test_devlib_parity.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>
#include <lapacke.h>

#include "devlib.cuh"

struct nv_devlib {
    cudaStream_t stream;
    long long *scratch;     /* the compaction's tile counts, grown as needed */
    int64_t scratch_len;
};

extern "C" const char *nv_devlib_name(void) {
    return "own kernels (tiled GEMM, bitonic sort, scan compaction; LAPACKE dsyevd on the host)";
}

extern "C" nv_status nv_devlib_create(void *stream, nv_devlib **out, nv_error *err) {
    *out = (nv_devlib *)calloc(1, sizeof **out);
    if (!*out) return nv_fail(err, NV_ENOMEM, "device library: out of host memory");
    (*out)->stream = (cudaStream_t)stream;
    return NV_OK;
}

extern "C" void nv_devlib_destroy(nv_devlib *h) {
    if (!h) return;
    cudaFree(h->scratch); /* teardown: its status is not actionable */
    free(h);
}

/* --- products ------------------------------------------------------------------- */

#define GT 16           /* tile edge: blocks of GT x GT threads, one element of C each */
#define GEMM_MAX_GRID_Y 65535

/* Element (i, l) of op(A) for a column-major A. */
template <typename T>
__device__ __forceinline__ T op_at(const T *A, int64_t lda, int trans, int64_t i, int64_t l) {
    return trans ? A[l + i * lda] : A[i + l * lda];
}

/* Block (bx, by) computes the GT x GT tile of C at rows bx*GT.., columns by*GT..;
 * thread (tx, ty) its element (row tx, column ty: adjacent threads, adjacent rows,
 * which is how column-major C is laid out). Tiles of op(A) and op(B) along k pass
 * through shared memory; each thread then adds its products in index order. Tile
 * columns beyond gridDim.y are taken in turns. upper: write only i <= j (syrk). */
template <typename T>
__global__ void own_gemm_kernel(int ta, int tb, int64_t m, int64_t n, int64_t k, T alpha,
                                const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C,
                                int64_t ldc, int upper) {
    __shared__ T As[GT][GT + 1]; /* As[i][l] = op(A)(row0 + i, l0 + l) */
    __shared__ T Bs[GT][GT + 1]; /* Bs[l][j] = op(B)(l0 + l, col0 + j) */
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t row0 = (int64_t)blockIdx.x * GT;
    const int64_t col_tiles = (n + GT - 1) / GT;
    for (int64_t cb = blockIdx.y; cb < col_tiles; cb += gridDim.y) {
        const int64_t col0 = cb * GT, i = row0 + tx, j = col0 + ty;
        T acc = 0;
        for (int64_t l0 = 0; l0 < k; l0 += GT) {
            /* thread (tx, ty) loads op(A)(row0 + tx, l0 + ty) and op(B)(l0 + tx, col0 + ty) */
            As[tx][ty] = (i < m && l0 + ty < k) ? op_at(A, lda, ta, i, l0 + ty) : (T)0;
            Bs[tx][ty] = (l0 + tx < k && j < n) ? op_at(B, ldb, tb, l0 + tx, j) : (T)0;
            __syncthreads();
            const int lim = k - l0 < GT ? (int)(k - l0) : GT;
            for (int l = 0; l < lim; l++) acc += As[tx][l] * Bs[l][ty];
            __syncthreads(); /* before the next tile overwrites these */
        }
        if (i < m && j < n && (!upper || i <= j)) {
            T r = alpha * acc;
            /* beta == 0: C is not read (it may be uninitialised), as in BLAS */
            C[i + j * ldc] = beta == (T)0 ? r : r + beta * C[i + j * ldc];
        }
    }
}

template <typename T>
static nv_status own_gemm(nv_devlib *h, int ta, int tb, int64_t m, int64_t n, int64_t k, T alpha,
                          const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C,
                          int64_t ldc, int upper, nv_error *err) {
    if (m == 0 || n == 0) return NV_OK;
    int64_t gy = (n + GT - 1) / GT;
    dim3 grid((unsigned)((m + GT - 1) / GT), (unsigned)(gy < GEMM_MAX_GRID_Y ? gy : GEMM_MAX_GRID_Y));
    own_gemm_kernel<T><<<grid, dim3(GT, GT), 0, h->stream>>>(ta, tb, m, n, k, alpha, A, lda, B, ldb,
                                                             beta, C, ldc, upper);
    NV_LAUNCHED();
    return NV_OK;
}

extern "C" nv_status nv_devlib_sgemm(nv_devlib *h, nv_devlib_op ta, nv_devlib_op tb, int64_t m,
                                     int64_t n, int64_t k, float alpha, const float *A, int64_t lda,
                                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                                     nv_error *err) {
    NV_TRY(nv_devlib_check_gemm("sgemm", ta, tb, m, n, k, lda, ldb, ldc, err));
    return own_gemm<float>(h, ta == NV_DEVLIB_T, tb == NV_DEVLIB_T, m, n, k, alpha, A, lda, B, ldb,
                           beta, C, ldc, 0, err);
}

extern "C" nv_status nv_devlib_dgemm(nv_devlib *h, nv_devlib_op ta, nv_devlib_op tb, int64_t m,
                                     int64_t n, int64_t k, double alpha, const double *A,
                                     int64_t lda, const double *B, int64_t ldb, double beta,
                                     double *C, int64_t ldc, nv_error *err) {
    NV_TRY(nv_devlib_check_gemm("dgemm", ta, tb, m, n, k, lda, ldb, ldc, err));
    return own_gemm<double>(h, ta == NV_DEVLIB_T, tb == NV_DEVLIB_T, m, n, k, alpha, A, lda, B, ldb,
                            beta, C, ldc, 0, err);
}

/* op(A) op(A)^T is the product with B = A and the other op. */
extern "C" nv_status nv_devlib_dsyrk_upper(nv_devlib *h, nv_devlib_op trans, int64_t n, int64_t k,
                                           double alpha, const double *A, int64_t lda, double beta,
                                           double *C, int64_t ldc, nv_error *err) {
    nv_devlib_op other = trans == NV_DEVLIB_N ? NV_DEVLIB_T : NV_DEVLIB_N;
    NV_TRY(nv_devlib_check_gemm("dsyrk", trans, other, n, n, k, lda, lda, ldc, err));
    return own_gemm<double>(h, trans == NV_DEVLIB_T, other == NV_DEVLIB_T, n, n, k, alpha, A, lda, A,
                            lda, beta, C, ldc, 1, err);
}

/* --- the eigensolver -------------------------------------------------------------- */

extern "C" nv_status nv_devlib_dsyevd_upper(nv_devlib *h, int64_t n, double *A, int64_t lda,
                                            double *w, int *info, nv_error *err) {
    NV_TRY(nv_devlib_check_int("dsyevd", "n", n, err));
    NV_TRY(nv_devlib_check_int("dsyevd", "lda", lda, err));
    *info = 0;
    if (n == 0) return NV_OK;
    if (lda < n)
        return nv_fail(err, NV_EINTERNAL, "dsyevd: lda %lld < n %lld", (long long)lda, (long long)n);
    nv_status st = NV_OK;
    /* the columns with their leading-dimension gaps: one contiguous copy each way */
    const size_t span = (size_t)lda * (size_t)(n - 1) + (size_t)n;
    double *a = (double *)malloc(span * sizeof *a), *hw = (double *)malloc((size_t)n * sizeof *hw);
    lapack_int r = 0;
    if (!a || !hw) {
        st = nv_fail(err, NV_ENOMEM, "dsyevd: out of host memory for a %lld x %lld matrix",
                     (long long)n, (long long)n);
        goto done;
    }
    NV_CU_GOTO(cudaMemcpyAsync(a, A, span * sizeof *a, cudaMemcpyDeviceToHost, h->stream), done);
    NV_CU_GOTO(cudaStreamSynchronize(h->stream), done);
    r = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)n, a, (lapack_int)lda, hw);
    if (r == LAPACK_WORK_MEMORY_ERROR || r == LAPACK_TRANSPOSE_MEMORY_ERROR) {
        st = nv_fail(err, NV_ENOMEM, "dsyevd: LAPACKE_dsyevd ran out of memory (%d) on a %lld x %lld "
                     "matrix", (int)r, (long long)n, (long long)n);
        goto done;
    }
    *info = (int)r;
    if (r == 0) {
        NV_CU_GOTO(cudaMemcpyAsync(A, a, span * sizeof *a, cudaMemcpyHostToDevice, h->stream), done);
        NV_CU_GOTO(cudaMemcpyAsync(w, hw, (size_t)n * sizeof *hw, cudaMemcpyHostToDevice, h->stream), done);
        /* the host buffers are freed on return */
        NV_CU_GOTO(cudaStreamSynchronize(h->stream), done);
    }
done:
    free(a);
    free(hw);
    return st;
}

/* --- the sort ---------------------------------------------------------------------- */

#define SORT_LOCAL 1024            /* elements per shared-memory block */
#define SORT_THREADS (SORT_LOCAL / 2) /* one comparator per thread */
#define SORT_MAX_GRID 65535

/* x strictly before y in the order (total on distinct idx). */
__device__ __forceinline__ bool own_before(const nv_ph_simplex &x, const nv_ph_simplex &y, int order) {
    if (order == NV_DEVLIB_FILTRATION) return x.diam < y.diam || (x.diam == y.diam && x.idx > y.idx);
    return x.diam > y.diam || (x.diam == y.diam && x.idx < y.idx);
}

/* Comparator t of a step with half-distance `half`: its lower position i, and the
 * partner l (i + half; in a flip step the mirror of i in its block of 2 half). */
__device__ __forceinline__ void own_pair(int64_t t, int64_t half, int flip, int64_t *i, int64_t *l) {
    const int64_t base = (t / half) * 2 * half, r = t % half;
    *i = base + r;
    *l = flip ? base + 2 * half - 1 - r : base + r + half;
}

/* One step over global memory (partners in different shared-memory blocks). */
__global__ void own_sort_step_kernel(nv_ph_simplex *a, int64_t n, int64_t pairs, int64_t half,
                                     int flip, int order) {
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < pairs;
         t += (int64_t)gridDim.x * blockDim.x) {
        int64_t i, l;
        own_pair(t, half, flip, &i, &l);
        if (l >= n) continue; /* l past the end: +infinity, already in place */
        nv_ph_simplex x = a[i], y = a[l];
        if (own_before(y, x, order)) {
            a[i] = y;
            a[l] = x;
        }
    }
}

/* The steps within one block of SORT_LOCAL elements, in shared memory: with full,
 * the whole network up to blocks of SORT_LOCAL (each block sorted); without, the
 * half-cleaners of half-distance SORT_LOCAL/2 .. 1 that finish a larger merge. */
__global__ void own_sort_local_kernel(nv_ph_simplex *a, int64_t n, int full, int order) {
    __shared__ nv_ph_simplex s[SORT_LOCAL];
    const int64_t base = (int64_t)blockIdx.x * SORT_LOCAL;
    const int64_t len = n - base < SORT_LOCAL ? n - base : SORT_LOCAL;
    for (int q = threadIdx.x; q < len; q += blockDim.x) s[q] = a[base + q];
    __syncthreads();
    for (int k = full ? 2 : SORT_LOCAL; k <= SORT_LOCAL; k <<= 1) {
        for (int half = k / 2; half > 0; half >>= 1) {
            const int flip = full && half == k / 2;
            int64_t i, l;
            own_pair(threadIdx.x, half, flip, &i, &l);
            if (l < len) {
                nv_ph_simplex x = s[i], y = s[l];
                if (own_before(y, x, order)) {
                    s[i] = y;
                    s[l] = x;
                }
            }
            __syncthreads();
        }
    }
    for (int q = threadIdx.x; q < len; q += blockDim.x) a[base + q] = s[q];
}

extern "C" nv_status nv_devlib_sort_simplices(nv_devlib *h, nv_ph_simplex *a, int64_t n,
                                              nv_devlib_order order, nv_error *err) {
    if (n < 2) return NV_OK;
    int64_t p = 1;
    while (p < n) p <<= 1; /* the network's size; positions >= n are never touched */
    const unsigned local_blocks = (unsigned)((n + SORT_LOCAL - 1) / SORT_LOCAL);
    if ((n + SORT_LOCAL - 1) / SORT_LOCAL > 0x7fffffff)
        return nv_fail(err, NV_EINPUT, "sort: %lld simplices exceed one launch", (long long)n);
    own_sort_local_kernel<<<local_blocks, SORT_THREADS, 0, h->stream>>>(a, n, 1, (int)order);
    NV_LAUNCHED();
    const int64_t pairs = p / 2, gb = (pairs + 255) / 256;
    const unsigned gblocks = (unsigned)(gb < SORT_MAX_GRID ? gb : SORT_MAX_GRID);
    for (int64_t k = 2 * SORT_LOCAL; k <= p; k <<= 1) {
        for (int64_t half = k / 2; half >= SORT_LOCAL; half >>= 1) {
            own_sort_step_kernel<<<gblocks, 256, 0, h->stream>>>(a, n, pairs, half, half == k / 2,
                                                                (int)order);
            NV_LAUNCHED();
        }
        own_sort_local_kernel<<<local_blocks, SORT_THREADS, 0, h->stream>>>(a, n, 0, (int)order);
        NV_LAUNCHED();
    }
    NV_CU(cudaStreamSynchronize(h->stream));
    return NV_OK;
}

/* --- the compaction ---------------------------------------------------------------- */

#define CP_THREADS 256
#define CP_ITEMS 4                        /* consecutive items per thread */
#define CP_TILE (CP_THREADS * CP_ITEMS)   /* items per block */

/* s[0..blockDim.x) becomes its inclusive prefix sums (Hillis-Steele; integers, so
 * exact in any order). Every thread of the block must call it. */
__device__ void own_block_scan(long long *s) {
    const int t = threadIdx.x;
    for (int off = 1; off < (int)blockDim.x; off <<= 1) {
        long long add = t >= off ? s[t - off] : 0;
        __syncthreads(); /* every read of this round before any write */
        s[t] += add;
        __syncthreads();
    }
}

/* Thread t's kept items among its CP_ITEMS of tile `b`. */
__device__ __forceinline__ int own_tile_count(const unsigned char *flags, int64_t n, int64_t b) {
    const int64_t first = b * CP_TILE + (int64_t)threadIdx.x * CP_ITEMS;
    int c = 0;
    for (int q = 0; q < CP_ITEMS; q++) c += first + q < n && flags[first + q] != 0;
    return c;
}

/* counts[b] = the kept items of tile b. */
__global__ void own_compact_count_kernel(const unsigned char *flags, int64_t n, long long *counts) {
    __shared__ long long s[CP_THREADS];
    s[threadIdx.x] = own_tile_count(flags, n, blockIdx.x);
    __syncthreads();
    for (int h = CP_THREADS / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h) s[threadIdx.x] += s[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) counts[blockIdx.x] = s[0];
}

/* One block: counts[0..nb) becomes its exclusive prefix sums, *total their sum. */
__global__ void own_compact_scan_kernel(long long *counts, int64_t nb, long long *total) {
    __shared__ long long s[CP_THREADS];
    long long carry = 0;
    for (int64_t c0 = 0; c0 < nb; c0 += CP_THREADS) {
        const int64_t q = c0 + threadIdx.x;
        const long long v = q < nb ? counts[q] : 0;
        s[threadIdx.x] = v;
        __syncthreads();
        own_block_scan(s);
        if (q < nb) counts[q] = carry + s[threadIdx.x] - v;
        carry += s[CP_THREADS - 1];
        __syncthreads(); /* everyone has read s[last] before the next round writes s */
    }
    if (threadIdx.x == 0) *total = carry;
}

/* Tile b's kept items to out[offsets[b] + their rank in the tile]. */
__global__ void own_compact_scatter_kernel(const nv_ph_simplex *in, const unsigned char *flags,
                                           int64_t n, const long long *offsets, nv_ph_simplex *out) {
    __shared__ long long s[CP_THREADS];
    const int c = own_tile_count(flags, n, blockIdx.x);
    s[threadIdx.x] = c;
    __syncthreads();
    own_block_scan(s);
    long long o = offsets[blockIdx.x] + s[threadIdx.x] - c; /* exclusive: items before mine */
    const int64_t first = (int64_t)blockIdx.x * CP_TILE + (int64_t)threadIdx.x * CP_ITEMS;
    for (int q = 0; q < CP_ITEMS; q++)
        if (first + q < n && flags[first + q]) out[o++] = in[first + q];
}

extern "C" nv_status nv_devlib_compact_simplices(nv_devlib *h, const nv_ph_simplex *in,
                                                 const unsigned char *flags, int64_t n,
                                                 nv_ph_simplex *out, int64_t *kept, nv_error *err) {
    *kept = 0;
    if (n == 0) return NV_OK;
    const int64_t nb = (n + CP_TILE - 1) / CP_TILE;
    if (nb > 0x7fffffff)
        return nv_fail(err, NV_EINPUT, "compaction: %lld items exceed one launch", (long long)n);
    /* counts[0..nb) per tile, counts[nb] the total; kept in the handle */
    if (h->scratch_len < nb + 1) {
        cudaFree(h->scratch);
        h->scratch = NULL;
        h->scratch_len = 0;
        NV_CU(cudaMalloc((void **)&h->scratch, (size_t)(nb + 1) * sizeof *h->scratch));
        h->scratch_len = nb + 1;
    }
    long long *counts = h->scratch, total = 0;
    own_compact_count_kernel<<<(unsigned)nb, CP_THREADS, 0, h->stream>>>(flags, n, counts);
    NV_LAUNCHED();
    own_compact_scan_kernel<<<1, CP_THREADS, 0, h->stream>>>(counts, nb, counts + nb);
    NV_LAUNCHED();
    own_compact_scatter_kernel<<<(unsigned)nb, CP_THREADS, 0, h->stream>>>(in, flags, n, counts, out);
    NV_LAUNCHED();
    NV_CU(cudaMemcpyAsync(&total, counts + nb, sizeof total, cudaMemcpyDeviceToHost, h->stream));
    NV_CU(cudaStreamSynchronize(h->stream));
    *kept = (int64_t)total;
    return NV_OK;
}
