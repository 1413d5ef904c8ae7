/* backend.cu: the CUDA training backend of include/nerve/mlp.h, the twin of
 * src/train/backend.c: affine layers on the device library's sgemm
 * (include/nerve/devlib.h: cuBLAS on a GPU, cuda/devlib_own.cu's tiled kernel under
 * the CUDA-on-CPU emulation), everything else the kernels of cuda/kernels.cu (each
 * tested against its CPU reference).
 *
 * What crosses the bus per step is the minibatch's index array (b uint32 values),
 * plus the loss when the caller asks for it: the bound data sets, parameters,
 * gradients and optimiser state stay on the device. The batch rows are gathered
 * on the device from the uploaded indices.
 *
 * Row-major on a column-major BLAS: a row-major (r, c) matrix is the column-major
 * (c, r) matrix in the same memory, so Z = A W^T (row-major) is computed as
 * Z^T = W A^T, i.e. sgemm(T, N) on the same pointers (see forward()).
 *
 * Determinism: cuBLAS sgemm gives the same bits run to run on one GPU model and
 * toolkit (one stream, default math mode: no TF32), as does the own GEMM (a fixed
 * order per element), and no kernel uses atomics.
 *
 * NaN guard: the loss reduction marks a device flag with the step number when the
 * batch loss is not finite; the optimiser kernels then do nothing, so the state
 * stays at the last good step without a host round trip. The host learns of it at
 * the next synchronising call (see mlp.h).
 *
 * Memory: one device allocation for parameters, gradients and optimiser state, one
 * for the workspace (activations, gradients, index array, scalars), one per bound
 * data set.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "check.cuh"
#include "nerve/devlib.h"
#include "nerve/dyn_kernels.h"
#include "nerve/kernels.h"
#include "nerve/mlp.h"

struct nv_trainer {
    nv_mlp_spec spec;
    nv_optim_spec opt;
    int64_t nparams;
    int64_t max_batch;
    int64_t rows_cap;     /* max(max_batch, NV_EVAL_ROWS) */
    int64_t step;         /* steps issued to the device */
    int bad_step;         /* the host's copy of the device flag (0: none) */

    cudaStream_t stream;
    nv_devlib *blas;      /* the device library on `stream` */
    cudaEvent_t flag_ready; /* recorded after each step's async copy of the flag */
    int *h_flag;            /* pinned host copy of the device flag */

    float *dmem;          /* the one device allocation of the four groups below */
    float *params;        /* (nparams) mlp.h layout */
    float *grads;         /* (nparams) */
    float *state1;        /* (nparams) SGD momentum / Adam m */
    float *state2;        /* (nparams) Adam v */

    char *dws;            /* the one workspace allocation, carved below */
    float *in;            /* (max_batch, widths[0]) a step's gathered rows */
    float *pre[NV_MAX_LAYERS + 1];  /* (rows_cap, widths[l]), l = 1..L; pre[L] = logits */
    float *post[NV_MAX_LAYERS + 1]; /* (rows_cap, widths[l]), l = 1..L-1 */
    float *dz, *da;       /* (rows_cap, maxw) each */
    float *row_loss;      /* (rows_cap) */
    int32_t *row_ok;      /* (rows_cap) */
    int32_t *ybatch;      /* (rows_cap) */
    uint32_t *idx;        /* (max_batch) this step's sample indices */
    double *loss_sum;     /* (1) */
    long long *correct;   /* (1) */
    int *flag;            /* (1) the sticky NaN flag: 0, or the first bad step */

    /* The dynamics recorder's device buffers (step_record only; one allocation,
     * made on its first call, carved in rec_alloc). */
    char *drec;
    float *before;        /* (nparams) a layer's block before its update */
    float *unit[NV_MAX_LAYERS][NV_DU_COUNT]; /* (widths[k+1] + 1) each: the sums
                             behind nv_dyn_step.unit (row sums of squares for the
                             norms, sums over the batch for the means) */
    float *a_sq, *d_sq;   /* (L, max_batch) per-sample norms */
    float *dscaled;       /* (max_batch, maxw) d = b * dz on its way to the host */
    long long *gscratch;  /* 3 (maxw + 1) */
    float *uscratch;      /* 4 (maxw + 1) */
    long long *uscratch_i;/* (maxw + 1) */
    float *w0;            /* (nparams) a device copy of the request's w0 ... */
    const nv_real *w0_src;/* ... of this host array (constant for a trainer: dynamics_types.h) */
    double *ldouble;      /* (L, 5): the gradient's sum of squares, then the update's four */
    long long *lcount;    /* (L, 4): the gradient's three counts, then non-finite weights */

    float *x[NV_SLOTS];   /* (n[s], widths[0]) device copies */
    int32_t *y[NV_SLOTS]; /* (n[s]) */
    int64_t n[NV_SLOTS];
};

static void cuda_destroy(nv_trainer *t) {
    if (!t) return;
    /* Teardown errors are not actionable (the process may be exiting on a device
     * failure already), so they are ignored here and nowhere else. */
    for (int s = 0; s < NV_SLOTS; s++) {
        cudaFree(t->x[s]);
        cudaFree(t->y[s]);
    }
    cudaFree(t->drec);
    cudaFree(t->dws);
    cudaFree(t->dmem);
    if (t->h_flag) cudaFreeHost(t->h_flag);
    if (t->flag_ready) cudaEventDestroy(t->flag_ready);
    nv_devlib_destroy(t->blas);
    if (t->stream) cudaStreamDestroy(t->stream);
    free(t);
}

/* Carves `bytes` from the workspace cursor, 256-byte aligned (GEMMs and vector
 * loads like aligned rows). */
static void *carve(char **cur, size_t bytes) {
    void *p = *cur;
    *cur += (bytes + 255) & ~(size_t)255;
    return p;
}

static size_t workspace_bytes(const nv_mlp_spec *s, int64_t R, int64_t max_batch) {
    const int L = s->nlayers;
    const int64_t maxw = nv_mlp_max_width(s);
    size_t f = sizeof(float), total = 0;
    total += ((size_t)(max_batch * s->widths[0]) * f + 255) & ~(size_t)255;
    for (int l = 1; l <= L; l++) total += (((size_t)(R * s->widths[l]) * f + 255) & ~(size_t)255) * (l < L ? 2 : 1);
    total += 2 * (((size_t)(R * maxw) * f + 255) & ~(size_t)255);
    total += 3 * (((size_t)R * 4 + 255) & ~(size_t)255);
    total += ((size_t)max_batch * 4 + 255) & ~(size_t)255;
    total += 3 * 256;
    return total;
}

static nv_status cuda_create(const nv_mlp_spec *spec, const nv_optim_spec *opt, int64_t max_batch,
                             nv_trainer **out, nv_error *err) {
    *out = NULL;
    nv_status st = nv_mlp_spec_validate(spec, err);
    if (st != NV_OK) return st;
    if ((st = nv_optim_spec_validate(opt, err)) != NV_OK) return st;
    if (max_batch < 1 || max_batch > ((int64_t)1 << 31))
        return nv_fail(err, NV_EINPUT, "trainer: max_batch: expected 1..2^31, found %lld",
                       (long long)max_batch);
    nv_trainer *t = (nv_trainer *)nv_calloc(1, sizeof *t, err);
    if (!t) return NV_ENOMEM;
    t->spec = *spec;
    t->opt = *opt;
    t->nparams = nv_mlp_param_count(spec);
    t->max_batch = max_batch;
    t->rows_cap = NV_MAX(max_batch, (int64_t)NV_EVAL_ROWS);
    const int L = spec->nlayers;
    const int64_t R = t->rows_cap, maxw = nv_mlp_max_width(spec);
    size_t wsb = workspace_bytes(spec, R, max_batch);
    char *cur;

    NV_CU_GOTO(cudaStreamCreateWithFlags(&t->stream, cudaStreamNonBlocking), fail);
    /* Plain fp32 (no TF32 tensor cores, the device library's rule): the parity with
     * the CPU needs fp32 sums. */
    NV_TRY_GOTO(nv_devlib_create(t->stream, &t->blas, err), fail);
    NV_CU_GOTO(cudaEventCreateWithFlags(&t->flag_ready, cudaEventDisableTiming), fail);
    NV_CU_GOTO(cudaMallocHost((void **)&t->h_flag, sizeof(int)), fail);
    *t->h_flag = 0;

    NV_CU_GOTO(cudaMalloc((void **)&t->dmem, (size_t)(4 * t->nparams) * sizeof(float)), fail);
    NV_CU_GOTO(cudaMemsetAsync(t->dmem, 0, (size_t)(4 * t->nparams) * sizeof(float), t->stream), fail);
    t->params = t->dmem;
    t->grads = t->params + t->nparams;
    t->state1 = t->grads + t->nparams;
    t->state2 = t->state1 + t->nparams;

    NV_CU_GOTO(cudaMalloc((void **)&t->dws, wsb), fail);
    cur = t->dws;
    t->in = (float *)carve(&cur, (size_t)(max_batch * spec->widths[0]) * sizeof(float)); /* a step's batch */
    for (int l = 1; l <= L; l++) {
        t->pre[l] = (float *)carve(&cur, (size_t)(R * spec->widths[l]) * sizeof(float));
        if (l < L) t->post[l] = (float *)carve(&cur, (size_t)(R * spec->widths[l]) * sizeof(float));
    }
    t->dz = (float *)carve(&cur, (size_t)(R * maxw) * sizeof(float));
    t->da = (float *)carve(&cur, (size_t)(R * maxw) * sizeof(float));
    t->row_loss = (float *)carve(&cur, (size_t)R * 4);
    t->row_ok = (int32_t *)carve(&cur, (size_t)R * 4);
    t->ybatch = (int32_t *)carve(&cur, (size_t)R * 4);
    t->idx = (uint32_t *)carve(&cur, (size_t)max_batch * 4);
    t->loss_sum = (double *)carve(&cur, sizeof(double));
    t->correct = (long long *)carve(&cur, sizeof(long long));
    t->flag = (int *)carve(&cur, sizeof(int));
    if ((size_t)(cur - t->dws) > wsb) {
        st = nv_fail(err, NV_EINTERNAL, "%s:%d: workspace layout overran its allocation", __FILE__, __LINE__);
        goto fail;
    }
    NV_CU_GOTO(cudaMemsetAsync(t->flag, 0, sizeof(int), t->stream), fail);
    NV_CU_GOTO(cudaStreamSynchronize(t->stream), fail);
    *out = t;
    return NV_OK;
fail:
    cuda_destroy(t);
    return st;
}

/* Waits for the stream and folds the device NaN flag into the host's copy. */
static nv_status sync_flag(nv_trainer *t, nv_error *err) {
    int f = 0;
    NV_CU(cudaMemcpyAsync(&f, t->flag, sizeof f, cudaMemcpyDeviceToHost, t->stream));
    NV_CU(cudaStreamSynchronize(t->stream));
    if (f && !t->bad_step) {
        t->bad_step = f;
        t->step = f - 1; /* the steps after the bad one changed nothing */
    }
    return NV_OK;
}

static nv_status diverged(nv_trainer *t, nv_error *err) {
    return nv_fail(err, NV_ENUMERIC,
                   "training diverged: the loss became non-finite at step %d; the parameters are "
                   "those before that step (lower the learning rate)",
                   t->bad_step);
}

static nv_status cuda_set_state(nv_trainer *t, const nv_real *params, const nv_real *state1,
                                const nv_real *state2, int64_t step, nv_error *err) {
    if (step < 0 || step >= INT32_MAX)
        return nv_fail(err, NV_EINPUT, "trainer: step count %lld outside 0..2^31-2", (long long)step);
    size_t bytes = (size_t)t->nparams * sizeof(float);
    NV_CU(cudaMemcpyAsync(t->params, params, bytes, cudaMemcpyHostToDevice, t->stream));
    if (state1) NV_CU(cudaMemcpyAsync(t->state1, state1, bytes, cudaMemcpyHostToDevice, t->stream));
    else NV_CU(cudaMemsetAsync(t->state1, 0, bytes, t->stream));
    if (state2) NV_CU(cudaMemcpyAsync(t->state2, state2, bytes, cudaMemcpyHostToDevice, t->stream));
    else NV_CU(cudaMemsetAsync(t->state2, 0, bytes, t->stream));
    NV_CU(cudaMemsetAsync(t->flag, 0, sizeof(int), t->stream));
    /* Synchronise: the host arrays may be freed as soon as we return. */
    NV_CU(cudaStreamSynchronize(t->stream));
    *t->h_flag = 0;
    t->step = step;
    t->bad_step = 0;
    return NV_OK;
}

static nv_status cuda_get_state(nv_trainer *t, nv_real *params, nv_real *state1, nv_real *state2,
                                int64_t *step, nv_error *err) {
    size_t bytes = (size_t)t->nparams * sizeof(float);
    NV_TRY(sync_flag(t, err));
    if (params) NV_CU(cudaMemcpyAsync(params, t->params, bytes, cudaMemcpyDeviceToHost, t->stream));
    if (state1) NV_CU(cudaMemcpyAsync(state1, t->state1, bytes, cudaMemcpyDeviceToHost, t->stream));
    if (state2) NV_CU(cudaMemcpyAsync(state2, t->state2, bytes, cudaMemcpyDeviceToHost, t->stream));
    NV_CU(cudaStreamSynchronize(t->stream));
    if (step) *step = t->step;
    /* The state is valid either way (frozen at the last good step); say so. */
    if (t->bad_step) return diverged(t, err);
    return NV_OK;
}

static nv_status cuda_bind(nv_trainer *t, int slot, const nv_real *x, const int32_t *y, int64_t n,
                           nv_error *err) {
    if (slot < 0 || slot >= NV_SLOTS)
        return nv_fail(err, NV_EINTERNAL, "trainer: slot %d out of range", slot);
    if (n < 0 || n > (int64_t)UINT32_MAX)
        return nv_fail(err, NV_EINPUT, "trainer: data set of %lld rows: expected 0..2^32-1",
                       (long long)n);
    const int64_t d = t->spec.widths[0], classes = t->spec.widths[t->spec.nlayers];
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= classes)
            return nv_fail(err, NV_EINPUT, "trainer: label of row %lld is %d: expected 0..%lld",
                           (long long)i, y[i], (long long)(classes - 1));
    float *dx = NULL;
    int32_t *dy = NULL;
    nv_status st = NV_OK;
    NV_CU_GOTO(cudaMalloc((void **)&dx, (size_t)(n * d) * sizeof(float) + 4), fail);
    NV_CU_GOTO(cudaMalloc((void **)&dy, (size_t)n * sizeof(int32_t) + 4), fail);
    NV_CU_GOTO(cudaMemcpyAsync(dx, x, (size_t)(n * d) * sizeof(float), cudaMemcpyHostToDevice, t->stream), fail);
    NV_CU_GOTO(cudaMemcpyAsync(dy, y, (size_t)n * sizeof(int32_t), cudaMemcpyHostToDevice, t->stream), fail);
    NV_CU_GOTO(cudaStreamSynchronize(t->stream), fail);
    cudaFree(t->x[slot]);
    cudaFree(t->y[slot]);
    t->x[slot] = dx;
    t->y[slot] = dy;
    t->n[slot] = n;
    return NV_OK;
fail:
    cudaFree(dx);
    cudaFree(dy);
    return st;
}

/* pre[l] = A W_l^T + b_l and post[l] = act(pre[l]) for l = 1..upto on the device;
 * x (rows, widths[0]) is the first layer's input. */
static nv_status forward(nv_trainer *t, const float *x, int64_t rows, int upto, nv_error *err) {
    const nv_mlp_spec *s = &t->spec;
    const int L = s->nlayers;
    const float *a = x;
    for (int l = 1; l <= upto; l++) {
        const int64_t in = s->widths[l - 1], out = s->widths[l];
        const float *W = t->params + nv_mlp_weight_offset(s, l - 1); /* (out, in) */
        const float *b = t->params + nv_mlp_bias_offset(s, l - 1);   /* (out) */
        /* Z^T (out, rows) = W (out, in) A^T (in, rows), column-major views */
        NV_TRY(nv_devlib_sgemm(t->blas, NV_DEVLIB_T, NV_DEVLIB_N, out, rows, in, 1.0f, W, in, a, in,
                               0.0f, t->pre[l], out, err));
        NV_TRY(nv_cuda_bias_add(t->pre[l], b, rows, out, t->stream, err));
        if (l < L) {
            NV_TRY(nv_cuda_act_forward(s->act, s->leaky_slope, t->pre[l], t->post[l], rows * out,
                                       t->stream, err));
            a = t->post[l];
        }
    }
    return NV_OK;
}

/* The recorder's device buffers, carved from one allocation on the first recorded
 * step (training without the recorder never pays for them). */
static nv_status rec_alloc(nv_trainer *t, nv_error *err) {
    if (t->drec) return NV_OK;
    const nv_mlp_spec *s = &t->spec;
    const int L = s->nlayers;
    const int64_t maxw = nv_mlp_max_width(s), B = t->max_batch;
    size_t sizes[NV_MAX_LAYERS * NV_DU_COUNT + 16], total = 0;
    int n = 0;
    sizes[n++] = (size_t)t->nparams * sizeof(float); /* before */
    sizes[n++] = (size_t)t->nparams * sizeof(float); /* w0 */
    for (int k = 0; k < L; k++)
        for (int q = 0; q < NV_DU_COUNT; q++) sizes[n++] = (size_t)(s->widths[k + 1] + 1) * sizeof(float);
    sizes[n++] = (size_t)(L * B) * sizeof(float);
    sizes[n++] = (size_t)(L * B) * sizeof(float);
    sizes[n++] = (size_t)(B * maxw) * sizeof(float);
    sizes[n++] = (size_t)(3 * (maxw + 1)) * sizeof(long long);
    sizes[n++] = (size_t)(4 * (maxw + 1)) * sizeof(float);
    sizes[n++] = (size_t)(maxw + 1) * sizeof(long long);
    sizes[n++] = (size_t)(5 * L) * sizeof(double);
    sizes[n++] = (size_t)(4 * L) * sizeof(long long);
    for (int i = 0; i < n; i++) total += (sizes[i] + 255) & ~(size_t)255;
    NV_CU(cudaMalloc((void **)&t->drec, total));
    char *cur = t->drec;
    n = 0;
    t->before = (float *)carve(&cur, sizes[n++]);
    t->w0 = (float *)carve(&cur, sizes[n++]);
    for (int k = 0; k < L; k++)
        for (int q = 0; q < NV_DU_COUNT; q++) t->unit[k][q] = (float *)carve(&cur, sizes[n++]);
    t->a_sq = (float *)carve(&cur, sizes[n++]);
    t->d_sq = (float *)carve(&cur, sizes[n++]);
    t->dscaled = (float *)carve(&cur, sizes[n++]);
    t->gscratch = (long long *)carve(&cur, sizes[n++]);
    t->uscratch = (float *)carve(&cur, sizes[n++]);
    t->uscratch_i = (long long *)carve(&cur, sizes[n++]);
    t->ldouble = (double *)carve(&cur, sizes[n++]);
    t->lcount = (long long *)carve(&cur, sizes[n++]);
    if ((size_t)(cur - t->drec) > total)
        return nv_fail(err, NV_EINTERNAL, "%s:%d: recorder layout overran its allocation", __FILE__, __LINE__);
    return NV_OK;
}

/* Queues a copy of `bytes` from the device to a host buffer (nothing when dst is
 * NULL: a buffer the recorder did not ask for). */
static nv_status to_host(nv_trainer *t, void *dst, const void *src, size_t bytes, nv_error *err) {
    if (dst && bytes) NV_CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, t->stream));
    return NV_OK;
}

/* What a recorded step takes from layer l's (1-based) dz while the backward pass
 * holds it, as record_delta in src/train/backend.c: the factors and per-sample norms
 * go to the host in stream order (the buffers are reused by the next layer only
 * after the copies), the unit sums stay on the device until the step ends. */
static nv_status record_delta(nv_trainer *t, int l, const float *a, const float *dz, int64_t rows,
                              const nv_dyn_request *req, nv_dyn_step *o, nv_error *err) {
    const nv_mlp_spec *s = &t->spec;
    const int L = s->nlayers, k = l - 1;
    const int64_t in = s->widths[l - 1], out = s->widths[l];
    const size_t f = sizeof(float);
    if (req->factors) {
        NV_TRY(to_host(t, o->a[k], a, (size_t)(rows * in) * f, err));
        if (o->d[k]) {
            NV_TRY(nv_cuda_dyn_scale_copy(t->dscaled, dz, rows * out, (float)rows, t->stream, err));
            NV_TRY(to_host(t, o->d[k], t->dscaled, (size_t)(rows * out) * f, err));
        }
        if (req->pre) NV_TRY(to_host(t, o->pre[k], t->pre[l], (size_t)(rows * out) * f, err));
    }
    if (req->samples) {
        float *asq = t->a_sq + k * t->max_batch, *dsq = t->d_sq + k * t->max_batch;
        if (o->a_sq[k]) {
            NV_TRY(nv_cuda_dyn_row_sumsq(a, rows, in, asq, t->stream, err));
            NV_TRY(to_host(t, o->a_sq[k], asq, (size_t)rows * f, err));
        }
        if (o->d_sq[k]) {
            NV_TRY(nv_cuda_dyn_row_sumsq(dz, rows, out, dsq, t->stream, err));
            NV_TRY(to_host(t, o->d_sq[k], dsq, (size_t)rows * f, err));
        }
    }
    float *const *u = t->unit[k];
    if (req->unit_stats && l == L)
        return nv_cuda_dyn_unit_stats(t->pre[L], t->pre[L], dz, dz, rows, out, u[NV_DU_MEAN_ACT], u[NV_DU_FRAC_ACTIVE],
                                      u[NV_DU_INFLUENCE], u[NV_DU_MEAN_ABS_DELTA], t->stream, err);
    if (l == L && req->layer_stats)
        return nv_cuda_dyn_unit_stats(NULL, t->pre[L], NULL, NULL, rows, out, NULL, u[NV_DU_FRAC_ACTIVE], NULL,
                                      NULL, t->stream, err);
    if (req->unit_stats)
        return nv_cuda_dyn_unit_stats(NULL, NULL, NULL, dz, rows, out, NULL, NULL, NULL, u[NV_DU_MEAN_ABS_DELTA],
                                      t->stream, err);
    return NV_OK;
}

/* Given dz = dLoss/dlogits on the device, fills t->grads. With req (a recorded
 * step) it also takes what req asks for on the way, as the CPU backend's
 * backward(); the arithmetic of the gradients is the same. */
static nv_status backward(nv_trainer *t, const float *x, int64_t rows, const nv_dyn_request *req,
                          nv_dyn_step *o, nv_error *err) {
    const nv_mlp_spec *s = &t->spec;
    const int L = s->nlayers;
    const int stats = req && (req->layer_stats || req->unit_stats);
    float *dz = t->dz, *da = t->da;
    for (int l = L; l >= 1; l--) {
        const int64_t in = s->widths[l - 1], out = s->widths[l];
        const float *a = l == 1 ? x : t->post[l - 1];
        const float *W = t->params + nv_mlp_weight_offset(s, l - 1);
        float *dW = t->grads + nv_mlp_weight_offset(s, l - 1);
        float *db = t->grads + nv_mlp_bias_offset(s, l - 1);
        if (req) NV_TRY(record_delta(t, l, a, dz, rows, req, o, err));
        /* dW^T (in, out) = A^T (in, rows) dZ (rows, out), column-major views */
        NV_TRY(nv_devlib_sgemm(t->blas, NV_DEVLIB_N, NV_DEVLIB_T, in, out, rows, 1.0f, a, in, dz, out,
                               0.0f, dW, in, err));
        NV_TRY(nv_cuda_bias_grad(db, dz, rows, out, t->stream, err));
        /* the gradient's statistics (before weight decay), into the layer's slots */
        if (stats)
            NV_TRY(nv_cuda_dyn_grad_stats(dW, out, in, req->alarm_abs, req->alarm_rel[l - 1],
                                          t->unit[l - 1][NV_DU_GRAD_NORM], t->gscratch,
                                          t->ldouble + 5 * (l - 1), t->lcount + 4 * (l - 1), t->stream, err));
        if (l > 1) {
            /* dA^T (in, rows) = W^T (in, out) dZ^T (out, rows) */
            NV_TRY(nv_devlib_sgemm(t->blas, NV_DEVLIB_N, NV_DEVLIB_N, in, rows, out, 1.0f, W, in, dz,
                                   out, 0.0f, da, in, err));
            /* the previous layer's units while da = dLossmean/d(its output) is whole */
            float *const *u = stats ? t->unit[l - 2] : NULL;
            if (req && req->unit_stats)
                NV_TRY(nv_cuda_dyn_unit_stats(t->post[l - 1], t->pre[l - 1], da, NULL, rows, in, u[NV_DU_MEAN_ACT],
                                              u[NV_DU_FRAC_ACTIVE], u[NV_DU_INFLUENCE], NULL, t->stream, err));
            else if (req && req->layer_stats)
                NV_TRY(nv_cuda_dyn_unit_stats(NULL, t->pre[l - 1], NULL, NULL, rows, in, NULL, u[NV_DU_FRAC_ACTIVE],
                                              NULL, NULL, t->stream, err));
            NV_TRY(nv_cuda_act_backward(s->act, s->leaky_slope, t->pre[l - 1], t->post[l - 1], da,
                                        da, rows * in, t->stream, err));
            float *tmp = dz; dz = da; da = tmp;
        }
    }
    return NV_OK;
}

/* Uploads the indices, gathers, runs forward, loss (marking the flag with
 * `mark` when not finite) and backward, all queued on the stream. With req, the
 * per-row predictions and the count of correct ones too, and the recording. */
static nv_status loss_and_grad(nv_trainer *t, const uint32_t *idx, int64_t b, int mark,
                               const nv_dyn_request *req, nv_dyn_step *o, nv_error *err) {
    if (b < 1 || b > t->max_batch)
        return nv_fail(err, NV_EINPUT, "trainer: batch of %lld rows: expected 1..%lld",
                       (long long)b, (long long)t->max_batch);
    if (!t->x[NV_SLOT_TRAIN])
        return nv_fail(err, NV_EINTERNAL, "trainer: step before a train set was bound");
    const int64_t n = t->n[NV_SLOT_TRAIN], d = t->spec.widths[0];
    for (int64_t i = 0; i < b; i++)
        if ((int64_t)idx[i] >= n)
            return nv_fail(err, NV_EINPUT, "trainer: batch index %u at %lld: the train set has %lld rows",
                           idx[i], (long long)i, (long long)n);
    const int L = t->spec.nlayers;
    const int64_t classes = t->spec.widths[L];
    /* A pageable source: the copy is staged before this call returns, so idx may be
     * reused by the caller at once. */
    NV_CU(cudaMemcpyAsync(t->idx, idx, (size_t)b * sizeof(uint32_t), cudaMemcpyHostToDevice, t->stream));
    NV_TRY(nv_cuda_gather_rows(t->x[NV_SLOT_TRAIN], t->y[NV_SLOT_TRAIN], d, t->idx, b, t->in,
                               t->ybatch, t->stream, err));
    NV_TRY(forward(t, t->in, b, L, err));
    /* the per-row predictions change nothing else: the same loss sum either way */
    NV_TRY(nv_cuda_softmax_xent(t->pre[L], t->ybatch, b, classes, 1.0f / (float)b, t->row_loss,
                                req ? t->row_ok : NULL, t->dz, t->stream, err));
    NV_TRY(nv_cuda_reduce_loss(t->row_loss, req ? t->row_ok : NULL, b, t->loss_sum, req ? t->correct : NULL,
                               mark ? t->flag : NULL, mark, t->stream, err));
    NV_TRY(backward(t, t->in, b, req, o, err));
    return NV_OK;
}

/* The optimiser over params[off, off + n) at step `next`: weight decay, then SGD or
 * Adam. Every kernel is elementwise, so a layer's block updated alone gets the same
 * bits as the whole array at once. */
static nv_status apply_update(nv_trainer *t, int64_t off, int64_t n, int64_t next, nv_error *err) {
    const nv_optim_spec *o = &t->opt;
    if (o->weight_decay != 0.0f)
        NV_TRY(nv_cuda_weight_decay(t->grads + off, t->params + off, o->weight_decay, n, t->flag, t->stream, err));
    if (o->kind == NV_OPT_SGD)
        return nv_cuda_sgd_update(t->params + off, t->state1 + off, t->grads + off, n, (float)nv_optim_lr(o, next),
                                  o->momentum, next == 1, t->flag, t->stream, err);
    float step_size, bc2_sqrt;
    nv_adam_factors(nv_optim_lr(o, next), o->beta1, o->beta2, next, &step_size, &bc2_sqrt);
    return nv_cuda_adam_update(t->params + off, t->state1 + off, t->state2 + off, t->grads + off, n, o->beta1,
                               o->beta2, o->eps, step_size, bc2_sqrt, t->flag, t->stream, err);
}

static nv_status cuda_step(nv_trainer *t, const uint32_t *idx, int64_t b, float *loss_out,
                           nv_error *err) {
    /* A cheap look at the flag copied after an earlier step, without waiting. */
    if (!t->bad_step) {
        cudaError_t q = cudaEventQuery(t->flag_ready);
        if (q == cudaErrorNotReady) {
            /* Not an error, but some runtimes record it as the last error, where the
             * next NV_LAUNCHED() would find it; every real error was already caught
             * right after its call, so clearing loses nothing. */
            (void)cudaGetLastError();
        } else if (q != cudaSuccess) {
            return nv_cuda_fail(q, "cudaEventQuery(t->flag_ready)", __FILE__, __LINE__, err);
        } else if (*t->h_flag) {
            t->bad_step = *t->h_flag;
            t->step = t->bad_step - 1;
        }
    }
    if (t->bad_step) return diverged(t, err);
    int64_t next = t->step + 1;
    NV_TRY(loss_and_grad(t, idx, b, (int)next, NULL, NULL, err));
    NV_TRY(apply_update(t, 0, t->nparams, next, err));
    t->step = next;
    NV_CU(cudaMemcpyAsync(t->h_flag, t->flag, sizeof(int), cudaMemcpyDeviceToHost, t->stream));
    NV_CU(cudaEventRecord(t->flag_ready, t->stream));
    if (loss_out) {
        double sum = 0.0;
        NV_CU(cudaMemcpyAsync(&sum, t->loss_sum, sizeof sum, cudaMemcpyDeviceToHost, t->stream));
        NV_TRY(sync_flag(t, err));
        *loss_out = (float)(sum / (double)b);
        if (t->bad_step) return diverged(t, err);
    }
    return NV_OK;
}

/* A recorded step (nv_backend.step_record): the same step as cuda_step, the same
 * kernels on the same buffers, with the statistics kernels of cuda/dyn_kernels.cu
 * (each the twin of a CPU reference) reading along the way. Every update kernel is
 * elementwise, so updating layer by layer (to compare each block with its copy)
 * leaves the same bits as one update over everything. It synchronises once, at the
 * end: the recorder needs the loss and the statistics on the host. */
static nv_status cuda_step_record(nv_trainer *t, const uint32_t *idx, int64_t b, float *loss_out,
                                  const nv_dyn_request *req, nv_dyn_step *o, nv_error *err) {
    const nv_mlp_spec *s = &t->spec;
    const int L = s->nlayers;
    const int stats = req->layer_stats || req->unit_stats;
    NV_TRY(nv_dyn_step_check(req, o, L, err));
    NV_TRY(sync_flag(t, err));
    if (t->bad_step) return diverged(t, err);
    NV_TRY(rec_alloc(t, err));
    if (stats && req->w0 && req->w0 != t->w0_src) {
        NV_CU(cudaMemcpyAsync(t->w0, req->w0, (size_t)t->nparams * sizeof(float), cudaMemcpyHostToDevice,
                              t->stream));
        t->w0_src = req->w0;
    }
    const int64_t next = t->step + 1;
    NV_TRY(loss_and_grad(t, idx, b, (int)next, req, o, err));
    if (!stats) {
        NV_TRY(apply_update(t, 0, t->nparams, next, err));
    } else {
        for (int k = 0; k < L; k++) {
            const int64_t in = s->widths[k], out = s->widths[k + 1], off = nv_mlp_weight_offset(s, k);
            const int64_t n = out * in + out;
            NV_CU(cudaMemcpyAsync(t->before + off, t->params + off, (size_t)n * sizeof(float),
                                  cudaMemcpyDeviceToDevice, t->stream));
            NV_TRY(apply_update(t, off, n, next, err));
            NV_TRY(nv_cuda_dyn_update_stats(t->before + off, t->params + off,
                                            req->w0 ? t->w0 + off : NULL, out, in,
                                            t->unit[k][NV_DU_UPDATE_NORM], t->uscratch, t->uscratch_i,
                                            t->ldouble + 5 * k + 1, t->lcount + 4 * k + 3, t->stream, err));
        }
    }
    t->step = next;
    NV_CU(cudaMemcpyAsync(t->h_flag, t->flag, sizeof(int), cudaMemcpyDeviceToHost, t->stream));
    NV_CU(cudaEventRecord(t->flag_ready, t->stream));

    /* everything the host needs, then one wait */
    double sum = 0.0, ld[5 * NV_MAX_LAYERS];
    long long correct = 0, lc[4 * NV_MAX_LAYERS];
    NV_TRY(to_host(t, &sum, t->loss_sum, sizeof sum, err));
    NV_TRY(to_host(t, &correct, t->correct, sizeof correct, err));
    if (req->samples) {
        NV_TRY(to_host(t, o->sample_loss, t->row_loss, (size_t)b * sizeof(float), err));
        NV_TRY(to_host(t, o->sample_correct, t->row_ok, (size_t)b * sizeof(int32_t), err));
    }
    if (stats) {
        NV_TRY(to_host(t, ld, t->ldouble, (size_t)(5 * L) * sizeof(double), err));
        NV_TRY(to_host(t, lc, t->lcount, (size_t)(4 * L) * sizeof(long long), err));
        for (int k = 0; k < L; k++)
            for (int q = 0; q < NV_DU_COUNT; q++)
                if (q == NV_DU_FRAC_ACTIVE || req->unit_stats)
                    NV_TRY(to_host(t, o->unit[k][q], t->unit[k][q], (size_t)s->widths[k + 1] * sizeof(float), err));
    }
    NV_TRY(sync_flag(t, err));
    float loss = (float)(sum / (double)b);
    if (loss_out) *loss_out = loss;
    if (t->bad_step) return diverged(t, err);
    o->correct = (int64_t)correct;
    if (!stats) return NV_OK;
    /* what the CPU backend computes on the host side of the same sums, the same way */
    for (int k = 0; k < L; k++) {
        const int64_t out = s->widths[k + 1];
        o->layer[k][NV_DL_GRAD_SQ] = ld[5 * k];
        o->layer[k][NV_DL_WEIGHT_SQ] = ld[5 * k + 1];
        o->layer[k][NV_DL_BEFORE_SQ] = ld[5 * k + 2];
        o->layer[k][NV_DL_UPDATE_SQ] = ld[5 * k + 3];
        o->layer[k][NV_DL_INIT_SQ] = ld[5 * k + 4];
        o->layer[k][NV_DL_ALARM_ABS] = (double)lc[4 * k];
        o->layer[k][NV_DL_ALARM_REL] = (double)lc[4 * k + 1];
        o->layer[k][NV_DL_NONFINITE_GRAD] = (double)lc[4 * k + 2];
        o->layer[k][NV_DL_NONFINITE_WEIGHT] = (double)lc[4 * k + 3];
        if (req->unit_stats) {
            float *gn = o->unit[k][NV_DU_GRAD_NORM], *un = o->unit[k][NV_DU_UPDATE_NORM];
            for (int64_t j = 0; j < out; j++) {
                gn[j] = sqrtf(gn[j]);
                un[j] = sqrtf(un[j]);
            }
        }
        nv_dyn_step_finish_units(o, k, out, b, req->unit_stats);
    }
    return NV_OK;
}

static nv_status cuda_gradient(nv_trainer *t, const uint32_t *idx, int64_t b, float *loss_out,
                               nv_real *grad, nv_error *err) {
    NV_TRY(loss_and_grad(t, idx, b, 0, NULL, NULL, err));
    double sum = 0.0;
    NV_CU(cudaMemcpyAsync(&sum, t->loss_sum, sizeof sum, cudaMemcpyDeviceToHost, t->stream));
    NV_CU(cudaMemcpyAsync(grad, t->grads, (size_t)t->nparams * sizeof(float), cudaMemcpyDeviceToHost,
                          t->stream));
    NV_CU(cudaStreamSynchronize(t->stream));
    float loss = (float)(sum / (double)b);
    if (loss_out) *loss_out = loss;
    if (!isfinite(loss))
        return nv_fail(err, NV_ENUMERIC, "gradient: the batch loss is %s", isnan(loss) ? "NaN" : "infinite");
    return NV_OK;
}

static nv_status check_slot(nv_trainer *t, int slot, nv_error *err) {
    if (slot < 0 || slot >= NV_SLOTS)
        return nv_fail(err, NV_EINTERNAL, "trainer: slot %d out of range", slot);
    if (!t->x[slot]) return nv_fail(err, NV_EINTERNAL, "trainer: slot %d has no data bound", slot);
    return NV_OK;
}

static nv_status cuda_evaluate(nv_trainer *t, int slot, double *loss_sum, int64_t *correct,
                               nv_error *err) {
    NV_TRY(check_slot(t, slot, err));
    NV_TRY(sync_flag(t, err));
    if (t->bad_step) return diverged(t, err);
    const int L = t->spec.nlayers;
    const int64_t n = t->n[slot], d = t->spec.widths[0], classes = t->spec.widths[L];
    double sum = 0.0;
    int64_t ok = 0;
    for (int64_t r0 = 0; r0 < n; r0 += NV_EVAL_ROWS) {
        int64_t rows = NV_MIN((int64_t)NV_EVAL_ROWS, n - r0);
        NV_TRY(forward(t, t->x[slot] + r0 * d, rows, L, err));
        NV_TRY(nv_cuda_softmax_xent(t->pre[L], t->y[slot] + r0, rows, classes, 1.0f, t->row_loss,
                                    t->row_ok, NULL, t->stream, err));
        NV_TRY(nv_cuda_reduce_loss(t->row_loss, t->row_ok, rows, t->loss_sum, t->correct, NULL, 0,
                                   t->stream, err));
        double s = 0.0;
        long long c = 0;
        NV_CU(cudaMemcpyAsync(&s, t->loss_sum, sizeof s, cudaMemcpyDeviceToHost, t->stream));
        NV_CU(cudaMemcpyAsync(&c, t->correct, sizeof c, cudaMemcpyDeviceToHost, t->stream));
        NV_CU(cudaStreamSynchronize(t->stream));
        sum += s; /* chunk sums in chunk order, as the CPU backend */
        ok += c;
    }
    if (loss_sum) *loss_sum = sum;
    if (correct) *correct = ok;
    return NV_OK;
}

static nv_status cuda_activations(nv_trainer *t, int slot, int64_t row0, int64_t rows, int layer,
                                  int pre, nv_real *out, nv_error *err) {
    NV_TRY(check_slot(t, slot, err));
    NV_TRY(sync_flag(t, err));
    if (t->bad_step) return diverged(t, err);
    const int L = t->spec.nlayers;
    const int64_t n = t->n[slot], d = t->spec.widths[0];
    if (layer < 0 || layer > L)
        return nv_fail(err, NV_EINTERNAL, "activations: layer %d: expected 0..%d", layer, L);
    if (row0 < 0 || rows < 0 || row0 + rows > n)
        return nv_fail(err, NV_EINTERNAL, "activations: rows [%lld, %lld) outside 0..%lld",
                       (long long)row0, (long long)(row0 + rows), (long long)n);
    const int64_t w = t->spec.widths[layer];
    if (layer == 0) {
        NV_CU(cudaMemcpyAsync(out, t->x[slot] + row0 * d, (size_t)(rows * d) * sizeof(float),
                              cudaMemcpyDeviceToHost, t->stream));
        NV_CU(cudaStreamSynchronize(t->stream));
        return NV_OK;
    }
    /* Chunks aligned to NV_EVAL_ROWS from row 0, as the CPU backend. */
    int64_t r = row0;
    while (r < row0 + rows) {
        int64_t c0 = r - r % NV_EVAL_ROWS;
        int64_t c1 = NV_MIN(c0 + NV_EVAL_ROWS, n);
        NV_TRY(forward(t, t->x[slot] + c0 * d, c1 - c0, layer, err));
        int64_t take = NV_MIN(c1, row0 + rows) - r;
        const float *src = (pre || layer == L) ? t->pre[layer] : t->post[layer];
        NV_CU(cudaMemcpyAsync(out + (r - row0) * w, src + (r - c0) * w, (size_t)(take * w) * sizeof(float),
                              cudaMemcpyDeviceToHost, t->stream));
        NV_CU(cudaStreamSynchronize(t->stream));
        r += take;
    }
    return NV_OK;
}

static const nv_backend cuda_backend = {
    /* name */ "cuda",
    cuda_create,
    cuda_destroy,
    cuda_set_state,
    cuda_get_state,
    cuda_bind,
    cuda_step,
    cuda_evaluate,
    cuda_activations,
    cuda_gradient,
    /* evaluate_capture */ NULL, /* not yet: snapshots use evaluate + activations */
    cuda_step_record,
};

extern "C" const nv_backend *nv_backend_cuda_table(void) { return &cuda_backend; }

/* A build for real GPUs carries sm_90 code and compute_90 PTX, which runs on compute
 * capability 9.0 and later; the CUDA-on-CPU build (make test-cuda-cpu) compiles to
 * SPIR-V, which its CPU device runs whatever capability it reports. */
#if defined(NERVE_CUDA_ON_CPU) && NERVE_CUDA_ON_CPU
#define NEEDS_SM90 0
#define IS_STUB_LIBRARY(e) 0 /* chipStar's runtime has no such error code */
#else
#define NEEDS_SM90 1
#define IS_STUB_LIBRARY(e) ((e) == cudaErrorStubLibrary)
#endif

/* Runtime errors that mean "no GPU here" rather than "a GPU we cannot use": no device,
 * no driver, or the stub libcuda of a toolkit installed without a driver. */
static int no_driver_error(cudaError_t e) {
    return e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || IS_STUB_LIBRARY(e);
}

/* The plug-in's half of nv_cuda_status (src/core/device.c): NV_OK with the device's
 * name in why, NV_ENODEVICE when the runtime sees no device, NV_EDEVICE when one is
 * there but this build cannot run on it. */
extern "C" int nv_cuda_probe(char *why, size_t why_len) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        /* 35 (insufficient driver) or 34 (stub library): no driver, i.e. no GPU here;
         * 100 (no device) likewise. Anything else: a GPU the runtime cannot use. */
        if (why && why_len)
            snprintf(why, why_len, "cudaGetDeviceCount: %s (%d: %s)", cudaGetErrorName(e), (int)e,
                     cudaGetErrorString(e));
        int none = no_driver_error(e);
        cudaGetLastError(); /* clear the error so later calls start clean */
        return none ? NV_ENODEVICE : NV_EDEVICE;
    }
    if (count < 1) {
        if (why && why_len) snprintf(why, why_len, "cudaGetDeviceCount found no CUDA device");
        return NV_ENODEVICE;
    }
    int dev = 0;
    cudaDeviceProp prop;
    e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&prop, dev);
    if (e != cudaSuccess) {
        if (why && why_len)
            snprintf(why, why_len, "cudaGetDeviceProperties: %s (%d)", cudaGetErrorName(e), (int)e);
        cudaGetLastError();
        return NV_EDEVICE;
    }
    if (NEEDS_SM90 && prop.major < 9) {
        if (why && why_len)
            snprintf(why, why_len,
                     "device %d (%s) has compute capability %d.%d; this build has code for 9.0 and "
                     "later (sm_90 + PTX): rebuild with NVCCFLAGS for this GPU",
                     dev, prop.name, prop.major, prop.minor);
        return NV_EDEVICE;
    }
    if (why && why_len) snprintf(why, why_len, "device %d: %s", dev, prop.name);
    return NV_OK;
}
