/* test_devlib_parity.c: the device library (include/nerve/devlib.h) against CPU
 * references, whichever implementation the plug-in carries: cuBLAS, cuSOLVER and
 * thrust in a GPU build (DEVLIB=vendor), the project's own kernels under make
 * test-cuda-cpu (DEVLIB=own). Shapes are chosen to miss the own kernels' tile sizes
 * (16 for the GEMM, 1024 for the sort's shared-memory blocks, 1024 per compaction
 * tile, 256 tiles per turn of the compaction's scan) and to hit the edge cases
 * (n = 0, 1, 2; k = 0; leading dimensions larger than the rows).
 *
 * Tolerances, |got - ref| <= bound (docs/CONTRACTS.md's one number, per element):
 *   products   the classic bound of any summation order, gamma_{k+2} (|alpha| sum_l
 *              |a_il b_lj| + |beta c_ij|) with gamma_j = j u / (1 - j u) and u the
 *              unit roundoff (2^-24 float, 2^-53 double), against a double or long
 *              double reference: cuBLAS (no TF32) and the tiled kernel both obey it.
 *   syrk       the same bound on the upper triangle; the strict lower one untouched.
 *   eigen      eigenvalues within 1e-12 * max |lambda| of LAPACKE_dsyevd's; vectors
 *              orthonormal and |A v - lambda v| <= 1e-11 * max |lambda| (signs and
 *              the basis of a repeated eigenvalue are the solver's choice).
 *   sort, compaction  exact: the same array as qsort / a loop (total orders, integers).
 * Exits 77 with a SKIP line where no CUDA device is usable.
 */
#include <float.h>
#include <lapacke.h>

#include "gpu_testutil.h"

#include "nerve/devlib.h"
#include "nerve/kernels.h"
#include "nerve/rng.h"

static nv_devlib *open_lib(void) {
    nv_devlib *h = NULL;
    nv_error err = {0};
    if (nv_devlib_create(NULL, &h, &err) != NV_OK) fail_msg("%s", err.msg);
    return h;
}

static double normal(uint64_t seed, uint64_t i) { return nv_rng_normal(seed, NV_STREAM_TEST, i); }

/* --- products ------------------------------------------------------------------ */

/* Element (i, l) of op(X) for a column-major X. */
static double at(const double *x, int64_t ld, int trans, int64_t i, int64_t l) {
    return trans ? x[l + i * ld] : x[i + l * ld];
}

/* dst[0..n) = src as double (dbl) or float. */
static void put(void *dst, const double *src, size_t n, int dbl) {
    for (size_t i = 0; i < n; i++) {
        if (dbl) ((double *)dst)[i] = src[i];
        else ((float *)dst)[i] = (float)src[i];
    }
}

/* One product C = alpha op(A) op(B) + beta C of the given shape, in float or double,
 * with leading dimensions padded by `pad`; beta == 0 fills C with NaN first (BLAS
 * must not read it). */
static void gemm_case(nv_devlib *h, int dbl, int ta, int tb, int64_t m, int64_t n, int64_t k,
                      int64_t pad, double alpha, double beta, uint64_t seed) {
    const int64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    const int64_t lda = NV_MAX(ar, 1) + pad, ldb = NV_MAX(br, 1) + pad, ldc = NV_MAX(m, 1) + pad;
    const size_t na = (size_t)(lda * NV_MAX(ac, 1)), nb = (size_t)(ldb * NV_MAX(bc, 1)),
                 nc = (size_t)(ldc * NV_MAX(n, 1));
    double *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
    for (size_t i = 0; i < na; i++) A[i] = normal(seed, i);
    for (size_t i = 0; i < nb; i++) B[i] = normal(seed + 1, i);
    for (size_t i = 0; i < nc; i++) C[i] = beta == 0.0 ? NAN : normal(seed + 2, i);
    if (!dbl) { /* the float inputs, exactly */
        for (size_t i = 0; i < na; i++) A[i] = (float)A[i];
        for (size_t i = 0; i < nb; i++) B[i] = (float)B[i];
        for (size_t i = 0; i < nc; i++) C[i] = (float)C[i];
    }
    const size_t es = dbl ? sizeof(double) : sizeof(float);
    void *hA = malloc(na * es), *hB = malloc(nb * es), *hC = malloc(nc * es), *got = malloc(nc * es);
    put(hA, A, na, dbl);
    put(hB, B, nb, dbl);
    put(hC, C, nc, dbl);
    void *dA = dev_from(hA, na * es), *dB = dev_from(hB, nb * es), *dC = dev_from(hC, nc * es);
    nv_devlib_op oa = ta ? NV_DEVLIB_T : NV_DEVLIB_N, ob = tb ? NV_DEVLIB_T : NV_DEVLIB_N;
    if (dbl)
        CHECK(nv_devlib_dgemm(h, oa, ob, m, n, k, alpha, dA, lda, dB, ldb, beta, dC, ldc, err));
    else
        CHECK(nv_devlib_sgemm(h, oa, ob, m, n, k, (float)alpha, dA, lda, dB, ldb, (float)beta, dC, ldc, err));
    to_host(got, dC, nc * es);
    const double u = dbl ? DBL_EPSILON / 2 : FLT_EPSILON / 2, ku = (double)(k + 2) * u;
    const double gamma = ku / (1.0 - ku);
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < m; i++) {
            long double ref = 0, mag = 0;
            for (int64_t l = 0; l < k; l++) {
                long double p = (long double)at(A, lda, ta, i, l) * at(B, ldb, tb, l, j);
                ref += p;
                mag += fabsl(p);
            }
            ref *= alpha;
            mag *= fabs(alpha);
            if (beta != 0.0) {
                ref += (long double)beta * C[i + j * ldc];
                mag += fabs(beta * C[i + j * ldc]);
            }
            double g = dbl ? ((double *)got)[i + j * ldc] : ((float *)got)[i + j * ldc];
            /* plus half an ulp of the result for the final rounding to float */
            double bound = gamma * (double)mag + u * fabs((double)ref) + (dbl ? 0 : 1e-38);
            if (!(fabs(g - (double)ref) <= bound))
                fail_msg("%cgemm %c%c m=%lld n=%lld k=%lld pad=%lld alpha=%g beta=%g: C(%lld,%lld) = %.17g, "
                         "reference %.17Lg (bound %.3g)",
                         dbl ? 'd' : 's', ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)m, (long long)n,
                         (long long)k, (long long)pad, alpha, beta, (long long)i, (long long)j, g, ref, bound);
        }
    /* padding rows of C (beyond m) are not written */
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = m; i < ldc; i++) {
            double g = dbl ? ((double *)got)[i + j * ldc] : ((float *)got)[i + j * ldc];
            double want = dbl ? ((double *)hC)[i + j * ldc] : ((float *)hC)[i + j * ldc];
            if (!(g == want || (isnan(g) && isnan(want))))
                fail_msg("gemm wrote C(%lld,%lld) below row m=%lld", (long long)i, (long long)j, (long long)m);
        }
    nv_cuda_free(dA); nv_cuda_free(dB); nv_cuda_free(dC);
    free(A); free(B); free(C); free(hA); free(hB); free(hC); free(got);
}

static void test_gemm(void **state) {
    (void)state;
    nv_devlib *h = open_lib();
    const int64_t shapes[][3] = {{1, 1, 1}, {37, 19, 53}, {16, 16, 16}, {17, 33, 15}, {64, 3, 200},
                                 {2, 70, 1}, {5, 4, 0}, {0, 7, 3}, {9, 0, 3}};
    uint64_t seed = 100;
    for (int dbl = 0; dbl < 2; dbl++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t s = 0; s < NV_ARRAY_LEN(shapes); s++) {
                    gemm_case(h, dbl, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 0, 1.0, 0.0, seed++);
                    gemm_case(h, dbl, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 3, -0.75, 0.5, seed++);
                }
    /* the training backend's largest product and a tall one: many tiles each way */
    gemm_case(h, 0, 1, 0, 64, 1000, 12, 0, 1.0, 0.0, seed++);
    gemm_case(h, 1, 0, 0, 300, 5, 257, 1, 1.0, 0.0, seed++);
    nv_devlib_destroy(h);
}

/* --- syrk ------------------------------------------------------------------------ */

static void syrk_case(nv_devlib *h, int trans, int64_t n, int64_t k, int64_t pad, double beta,
                      uint64_t seed) {
    const int64_t ar = trans ? k : n, ac = trans ? n : k;
    const int64_t lda = NV_MAX(ar, 1) + pad, ldc = NV_MAX(n, 1) + pad;
    const size_t na = (size_t)(lda * NV_MAX(ac, 1)), nc = (size_t)(ldc * NV_MAX(n, 1));
    double *A = malloc(na * sizeof *A), *C = malloc(nc * sizeof *C), *got = malloc(nc * sizeof *got);
    for (size_t i = 0; i < na; i++) A[i] = normal(seed, i);
    for (size_t i = 0; i < nc; i++) C[i] = normal(seed + 1, i);
    double *dA = dev_from(A, na * sizeof *A), *dC = dev_from(C, nc * sizeof *C);
    const double alpha = 1.0 / 7.0;
    CHECK(nv_devlib_dsyrk_upper(h, trans ? NV_DEVLIB_T : NV_DEVLIB_N, n, k, alpha, dA, lda, beta, dC,
                                ldc, err));
    to_host(got, dC, nc * sizeof *got);
    const double u = DBL_EPSILON / 2, ku = (double)(k + 2) * u, gamma = ku / (1.0 - ku);
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < ldc; i++) {
            double g = got[i + j * ldc];
            if (i > j || i >= n) { /* strict lower triangle and padding: untouched */
                if (g != C[i + j * ldc])
                    fail_msg("dsyrk %c n=%lld k=%lld: wrote C(%lld,%lld) outside the upper triangle",
                             trans ? 'T' : 'N', (long long)n, (long long)k, (long long)i, (long long)j);
                continue;
            }
            long double ref = 0, mag = 0;
            for (int64_t l = 0; l < k; l++) {
                long double p = (long double)at(A, lda, trans, i, l) * at(A, lda, trans, j, l);
                ref += p;
                mag += fabsl(p);
            }
            ref = ref * alpha + (long double)beta * C[i + j * ldc];
            mag = mag * alpha + fabs(beta * C[i + j * ldc]);
            double bound = gamma * (double)mag + u * fabs((double)ref);
            if (!(fabs(g - (double)ref) <= bound))
                fail_msg("dsyrk %c n=%lld k=%lld: C(%lld,%lld) = %.17g, reference %.17Lg (bound %.3g)",
                         trans ? 'T' : 'N', (long long)n, (long long)k, (long long)i, (long long)j, g, ref, bound);
        }
    nv_cuda_free(dA); nv_cuda_free(dC);
    free(A); free(C); free(got);
}

static void test_syrk(void **state) {
    (void)state;
    nv_devlib *h = open_lib();
    const int64_t shapes[][2] = {{1, 1}, {2, 5}, {33, 7}, {20, 100}, {5, 0}, {0, 4}};
    uint64_t seed = 300;
    for (int trans = 0; trans < 2; trans++)
        for (size_t s = 0; s < NV_ARRAY_LEN(shapes); s++) {
            syrk_case(h, trans, shapes[s][0], shapes[s][1], 0, 0.0, seed++);
            syrk_case(h, trans, shapes[s][0], shapes[s][1], 2, 2.5, seed++);
        }
    nv_devlib_destroy(h);
}

/* --- eigensolver ------------------------------------------------------------------- */

static void eigen_case(nv_devlib *h, int64_t n, int64_t pad, int repeated, uint64_t seed) {
    const int64_t lda = NV_MAX(n, 1) + pad;
    const size_t na = (size_t)(lda * NV_MAX(n, 1));
    double *S = calloc(na, sizeof *S), *ref = malloc(na * sizeof *ref), *got = malloc(na * sizeof *got);
    double *wr = malloc((size_t)NV_MAX(n, 1) * sizeof *wr), *wg = malloc((size_t)NV_MAX(n, 1) * sizeof *wg);
    /* symmetric: S = (G + G^T) / 2, or with repeated eigenvalues a diagonal with ties
     * rotated by a Householder reflection */
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i <= j; i++) {
            double v = repeated ? (i == j ? (double)(1 + (i % 3)) : 0.0)
                                : 0.5 * (normal(seed, (uint64_t)(i * n + j)) + normal(seed, (uint64_t)(j * n + i)));
            S[i + j * lda] = S[j + i * lda] = v;
        }
    if (repeated && n > 1) {
        double *v = malloc((size_t)n * sizeof *v), vv = 0;
        for (int64_t i = 0; i < n; i++) {
            v[i] = normal(seed + 1, (uint64_t)i);
            vv += v[i] * v[i];
        }
        double *T = calloc(na, sizeof *T);
        /* T = H S H with H = I - 2 v v^T / vv */
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < n; i++) {
                double hs = 0;
                for (int64_t l = 0; l < n; l++)
                    for (int64_t q = 0; q < n; q++) {
                        double hil = (i == l) - 2 * v[i] * v[l] / vv, hqj = (q == j) - 2 * v[q] * v[j] / vv;
                        hs += hil * S[l + q * lda] * hqj;
                    }
                T[i + j * lda] = hs;
            }
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < n; i++) S[i + j * lda] = 0.5 * (T[i + j * lda] + T[j + i * lda]);
        free(T);
        free(v);
    }
    memcpy(ref, S, na * sizeof *S);
    if (n) assert_int_equal(LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', (lapack_int)n, ref, (lapack_int)lda, wr), 0);
    double *dA = dev_from(S, na * sizeof *S), *dw = dev_from(NULL, (size_t)NV_MAX(n, 1) * sizeof *dw);
    int info = -99;
    CHECK(nv_devlib_dsyevd_upper(h, n, dA, lda, dw, &info, err));
    assert_int_equal(info, 0);
    to_host(got, dA, na * sizeof *got);
    to_host(wg, dw, (size_t)n * sizeof *wg);
    double top = 0;
    for (int64_t i = 0; i < n; i++) top = fmax(top, fabs(wr[i]));
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(wg[i] - wr[i]) <= 1e-12 * top))
            fail_msg("dsyevd n=%lld: eigenvalue %lld = %.17g, LAPACKE %.17g", (long long)n, (long long)i, wg[i], wr[i]);
    for (int64_t a = 0; a < n; a++) {
        for (int64_t b = a; b < n; b++) { /* orthonormal columns */
            double dot = 0;
            for (int64_t i = 0; i < n; i++) dot += got[i + a * lda] * got[i + b * lda];
            if (!(fabs(dot - (a == b)) <= 1e-11))
                fail_msg("dsyevd n=%lld: columns %lld, %lld have dot product %.3g", (long long)n, (long long)a,
                         (long long)b, dot);
        }
        for (int64_t i = 0; i < n; i++) { /* S v = lambda v */
            double sv = 0;
            for (int64_t l = 0; l < n; l++) sv += S[i + l * lda] * got[l + a * lda];
            if (!(fabs(sv - wg[a] * got[i + a * lda]) <= 1e-11 * NV_MAX(top, 1e-300)))
                fail_msg("dsyevd n=%lld: residual of vector %lld at row %lld: %.3g", (long long)n, (long long)a,
                         (long long)i, fabs(sv - wg[a] * got[i + a * lda]));
        }
    }
    nv_cuda_free(dA); nv_cuda_free(dw);
    free(S); free(ref); free(got); free(wr); free(wg);
}

static void test_eigen(void **state) {
    (void)state;
    nv_devlib *h = open_lib();
    eigen_case(h, 0, 0, 0, 400);
    eigen_case(h, 1, 0, 0, 401);
    eigen_case(h, 2, 1, 0, 402);
    eigen_case(h, 17, 0, 0, 403);
    eigen_case(h, 60, 5, 0, 404);
    eigen_case(h, 12, 2, 1, 405); /* eigenvalues 1, 2, 3 four times each */
    nv_devlib_destroy(h);
}

/* --- sort and compaction --------------------------------------------------------------- */

static int order_of; /* qsort's comparator reads it */
static int cmp_simplex(const void *pa, const void *pb) {
    const nv_ph_simplex *x = pa, *y = pb;
    int before, after;
    if (order_of == NV_DEVLIB_FILTRATION) {
        before = x->diam < y->diam || (x->diam == y->diam && x->idx > y->idx);
        after = y->diam < x->diam || (y->diam == x->diam && y->idx > x->idx);
    } else {
        before = x->diam > y->diam || (x->diam == y->diam && x->idx < y->idx);
        after = y->diam > x->diam || (y->diam == x->diam && y->idx < x->idx);
    }
    return before ? -1 : after;
}

/* n simplices with distinct indices (a shuffled arithmetic sequence) and diameters
 * from few values (ties everywhere) or all different. */
static nv_ph_simplex *make_simplices(int64_t n, int ties, uint64_t seed) {
    nv_ph_simplex *a = malloc((size_t)NV_MAX(n, 1) * sizeof *a);
    uint32_t *perm = malloc((size_t)NV_MAX(n, 1) * sizeof *perm);
    if (n) nv_rng_permutation(seed, NV_STREAM_TEST, 0, perm, (uint32_t)n);
    for (int64_t i = 0; i < n; i++) {
        memset(&a[i], 0, sizeof a[i]); /* the padding too, for the byte comparison */
        a[i].idx = 3 * (int64_t)perm[i] + 7;
        a[i].diam = ties ? (float)nv_rng_below(seed + 1000, NV_STREAM_TEST, (uint64_t)i, 5) * 0.25f
                         : nv_rng_uniform(seed + 1000, NV_STREAM_TEST, (uint64_t)i);
    }
    free(perm);
    return a;
}

static void test_sort(void **state) {
    (void)state;
    nv_devlib *h = open_lib();
    const int64_t sizes[] = {0, 1, 2, 3, 100, 1023, 1024, 1025, 2048, 4097, 70001, 300001};
    uint64_t seed = 500;
    for (size_t s = 0; s < NV_ARRAY_LEN(sizes); s++)
        for (int ties = 0; ties < 2; ties++)
            for (int order = 0; order < 2; order++) {
                int64_t n = sizes[s];
                nv_ph_simplex *a = make_simplices(n, ties, seed++), *got = malloc((size_t)NV_MAX(n, 1) * sizeof *got);
                nv_ph_simplex *d = dev_from(a, (size_t)n * sizeof *a);
                CHECK(nv_devlib_sort_simplices(h, d, n, (nv_devlib_order)order, err));
                to_host(got, d, (size_t)n * sizeof *got);
                order_of = order;
                qsort(a, (size_t)n, sizeof *a, cmp_simplex);
                for (int64_t i = 0; i < n; i++)
                    if (a[i].idx != got[i].idx || a[i].diam != got[i].diam)
                        fail_msg("sort n=%lld ties=%d order=%d: position %lld holds (%lld, %g), qsort (%lld, %g)",
                                 (long long)n, ties, order, (long long)i, (long long)got[i].idx, got[i].diam,
                                 (long long)a[i].idx, a[i].diam);
                nv_cuda_free(d);
                free(a);
                free(got);
            }
    nv_devlib_destroy(h);
}

static void test_compact(void **state) {
    (void)state;
    nv_devlib *h = open_lib(); /* one handle throughout: its scratch grows and is reused */
    const int64_t sizes[] = {0, 1, 5, 1023, 1024, 1025, 5000, 262144, 300001, 77};
    const double density[] = {0.0, 0.3, 1.0, 0.999};
    uint64_t seed = 700;
    for (size_t s = 0; s < NV_ARRAY_LEN(sizes); s++)
        for (size_t q = 0; q < NV_ARRAY_LEN(density); q++) {
            int64_t n = sizes[s], want = 0;
            nv_ph_simplex *a = make_simplices(n, 0, seed), *ref = malloc((size_t)NV_MAX(n, 1) * sizeof *ref),
                          *got = malloc((size_t)NV_MAX(n, 1) * sizeof *got);
            unsigned char *f = malloc((size_t)NV_MAX(n, 1));
            for (int64_t i = 0; i < n; i++) {
                /* flags other than 1 count as set too */
                f[i] = nv_rng_uniform(seed + 2000, NV_STREAM_TEST, (uint64_t)i) < density[q] ? (unsigned char)(1 + i % 3) : 0;
                if (f[i]) ref[want++] = a[i];
            }
            seed++;
            nv_ph_simplex *din = dev_from(a, (size_t)n * sizeof *a), *dout = dev_from(NULL, (size_t)n * sizeof *a);
            unsigned char *df = dev_from(f, (size_t)n);
            int64_t kept = -1;
            CHECK(nv_devlib_compact_simplices(h, din, df, n, dout, &kept, err));
            assert_int_equal(kept, want);
            to_host(got, dout, (size_t)kept * sizeof *got);
            for (int64_t i = 0; i < kept; i++)
                if (ref[i].idx != got[i].idx || ref[i].diam != got[i].diam)
                    fail_msg("compaction n=%lld density %g: output %lld is (%lld, %g), expected (%lld, %g)",
                             (long long)n, density[q], (long long)i, (long long)got[i].idx, got[i].diam,
                             (long long)ref[i].idx, ref[i].diam);
            nv_cuda_free(din); nv_cuda_free(dout); nv_cuda_free(df);
            free(a); free(ref); free(got); free(f);
        }
    nv_devlib_destroy(h);
}

/* Bad sizes are refused with a message, not truncated or run. */
static void test_refusals(void **state) {
    (void)state;
    nv_devlib *h = open_lib();
    nv_error err = {0};
    assert_int_equal(nv_devlib_sgemm(h, NV_DEVLIB_N, NV_DEVLIB_N, (int64_t)1 << 33, 1, 1, 1.0f, NULL,
                                     (int64_t)1 << 33, NULL, 1, 0.0f, NULL, (int64_t)1 << 33, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "sgemm"));
    nv_error_clear(&err);
    assert_int_equal(nv_devlib_dgemm(h, NV_DEVLIB_T, NV_DEVLIB_N, 4, 4, 8, 1.0, NULL, 4, NULL, 8, 0.0, NULL, 4,
                                     &err), NV_EINTERNAL); /* lda 4 < k 8 for a transposed A */
    assert_non_null(strstr(err.msg, "leading dimensions"));
    nv_devlib_destroy(h);
}

int main(void) {
    int rc = nv_test_gpu_skip("the device library parity");
    if (rc) return rc;
    char why[512];
    nv_cuda_status(why, sizeof why);
    printf("device: %s\ndevice library: %s\n", why, nv_devlib_name());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm),    cmocka_unit_test(test_syrk),    cmocka_unit_test(test_eigen),
        cmocka_unit_test(test_sort),    cmocka_unit_test(test_compact), cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
