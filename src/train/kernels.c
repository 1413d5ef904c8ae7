/* kernels.c: the CPU references of include/nerve/kernels.h. The CPU backend
 * (backend.c) runs them as they are, and the CUDA twins in cuda/kernels.cu are
 * tested against them, so each is first a fixed evaluation order: the arithmetic
 * follows PyTorch's CPU kernels operation by operation (same rounding order) so
 * that training curves agree within docs/CONTRACTS.md's parity window.
 *
 * Speed: at the project's widths (batch 64 x 64 units) a training step is a few
 * microseconds of arithmetic, so the elementwise loops matter as much as the
 * sgemm calls. The hot ones process four lanes at a time with GCC/Clang vector
 * extensions (SSE on x86-64, NEON on arm64, plain code elsewhere) and then finish
 * the tail with the same expression on scalars. Only IEEE operations that round
 * identically per lane are used (add, mul, div, sqrt, compare, bit select; no fma,
 * the build has no -ffast-math), so the result is the same bits as the scalar loop
 * and does not depend on where the vector loop stops; test_kernels.c checks that.
 * Branches are avoided too: their outcome follows the random signs of the data.
 */
#include "nerve/kernels.h"

#include <math.h>
#include <string.h>

#include "train/lanes.h"

void nv_cpu_bias_add(nv_real *z, const nv_real *bias, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        nv_real *zr = z + r * cols;
        int64_t c = 0;
        for (; c + 4 <= cols; c += 4) st4(zr + c, ld4(zr + c) + ld4(bias + c));
        for (; c < cols; c++) zr[c] += bias[c];
    }
}

void nv_cpu_bias_grad(nv_real *db, const nv_real *dz, int64_t rows, int64_t cols) {
    /* Row by row so the inner loop runs over contiguous memory; each column still
     * sums its rows in order 0..rows-1, the order the CUDA twin uses. */
    for (int64_t c = 0; c < cols; c++) db[c] = 0.0f;
    for (int64_t r = 0; r < rows; r++) {
        const nv_real *dr = dz + r * cols;
        int64_t c = 0;
        for (; c + 4 <= cols; c += 4) st4(db + c, ld4(db + c) + ld4(dr + c));
        for (; c < cols; c++) db[c] += dr[c];
    }
}

void nv_cpu_act_forward(nv_activation act, float slope, const nv_real *x, nv_real *y, int64_t n) {
    const v4f zero = splat4(0.0f), vs = splat4(slope);
    int64_t i = 0;
    switch (act) {
    case NV_ACT_RELU: /* PyTorch's threshold, x <= 0 ? 0 : x, so a NaN passes through */
        for (; i + 4 <= n; i += 4) {
            v4f v = ld4(x + i);
            st4(y + i, sel4(v <= zero, zero, v));
        }
        for (; i < n; i++) y[i] = sel1(x[i] <= 0.0f, 0.0f, x[i]);
        break;
    case NV_ACT_LEAKY_RELU:
        for (; i + 4 <= n; i += 4) {
            v4f v = ld4(x + i);
            st4(y + i, sel4(v > zero, v, v * vs));
        }
        for (; i < n; i++) y[i] = sel1(x[i] > 0.0f, x[i], x[i] * slope);
        break;
    case NV_ACT_TANH:
        for (; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case NV_ACT_SIGMOID:
        for (; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case NV_ACT_IDENTITY:
        if (y != x) memmove(y, x, (size_t)n * sizeof *y);
        break;
    }
}

static inline __attribute__((always_inline)) void act_backward_loop(const int act, float slope, const nv_real *x,
                                                                    const nv_real *y, const nv_real *dy,
                                                                    nv_real *dx, int64_t n) {
    const int rx = act_bwd_reads_x(act), ry = act_bwd_reads_y(act);
    const v4f zero = splat4(0.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        st4(dx + i, act_bwd4(act, slope, rx ? ld4(x + i) : zero, ry ? ld4(y + i) : zero, ld4(dy + i)));
    for (; i < n; i++) dx[i] = act_bwd1(act, slope, rx ? x[i] : 0.0f, ry ? y[i] : 0.0f, dy[i]);
}

void nv_cpu_act_backward(nv_activation act, float slope, const nv_real *x, const nv_real *y,
                         const nv_real *dy, nv_real *dx, int64_t n) {
    switch (act) { /* lanes.h: PyTorch's formulas, one loop per activation */
    case NV_ACT_RELU: act_backward_loop(NV_ACT_RELU, slope, x, y, dy, dx, n); break;
    case NV_ACT_LEAKY_RELU: act_backward_loop(NV_ACT_LEAKY_RELU, slope, x, y, dy, dx, n); break;
    case NV_ACT_TANH: act_backward_loop(NV_ACT_TANH, slope, x, y, dy, dx, n); break;
    case NV_ACT_SIGMOID: act_backward_loop(NV_ACT_SIGMOID, slope, x, y, dy, dx, n); break;
    case NV_ACT_IDENTITY:
        if (dx != dy) memmove(dx, dy, (size_t)n * sizeof *dx);
        break;
    }
}

void nv_cpu_softmax_xent(const nv_real *logits, const int32_t *y, int64_t rows, int64_t classes,
                         float scale, nv_real *row_loss, int32_t *row_correct, nv_real *dz) {
    for (int64_t r = 0; r < rows; r++) {
        const nv_real *z = logits + r * classes;
        /* The maximum first: exp of (z - max) <= 1 cannot overflow, and the first
         * index holding it is the prediction (ties go to the lower class). */
        int64_t arg = 0;
        float m = z[0];
        for (int64_t c = 1; c < classes; c++)
            if (z[c] > m) { m = z[c]; arg = c; }
        float s = 0.0f;
        for (int64_t c = 0; c < classes; c++) s += expf(z[c] - m);
        float lse = logf(s);
        int32_t label = y[r];
        /* -(log_softmax)[label] = (max + log s) - z[label], as (z - max) - log s */
        row_loss[r] = -((z[label] - m) - lse);
        if (row_correct) row_correct[r] = (arg == label);
        if (dz) {
            nv_real *d = dz + r * classes;
            float inv = 1.0f / s;
            for (int64_t c = 0; c < classes; c++) {
                float p = expf(z[c] - m) * inv;
                d[c] = scale * (p - (c == label ? 1.0f : 0.0f));
            }
        }
    }
}

double nv_cpu_sum_f64(const nv_real *v, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)v[i];
    return s;
}

int64_t nv_cpu_count_nonzero(const int32_t *v, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) k += (v[i] != 0);
    return k;
}

void nv_cpu_gather_rows(const nv_real *x, const int32_t *y, int64_t d, const uint32_t *idx,
                        int64_t b, nv_real *out, int32_t *yout) {
    for (int64_t i = 0; i < b; i++) {
        memcpy(out + i * d, x + (int64_t)idx[i] * d, (size_t)d * sizeof *out);
        if (y && yout) yout[i] = y[idx[i]];
    }
}

void nv_cpu_weight_decay(nv_real *g, const nv_real *w, float wd, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) st4(g + i, decay4(ld4(g + i), ld4(w + i), wd));
    for (; i < n; i++) g[i] = decay1(g[i], w[i], wd);
}

static inline __attribute__((always_inline)) void sgd_loop(nv_real *w, nv_real *buf, const nv_real *g, int64_t n,
                                                           float lr, float momentum, const int mode) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) st4(w + i, sgd4(ld4(w + i), ld4(g + i), buf, i, lr, momentum, mode));
    for (; i < n; i++) w[i] = sgd1(w[i], g[i], buf, i, lr, momentum, mode);
}

void nv_cpu_sgd_update(nv_real *w, nv_real *buf, const nv_real *g, int64_t n, float lr,
                       float momentum, int first) {
    switch (sgd_mode(momentum, first)) {
    case SGD_PLAIN: sgd_loop(w, buf, g, n, lr, momentum, SGD_PLAIN); break;
    case SGD_FIRST: sgd_loop(w, buf, g, n, lr, momentum, SGD_FIRST); break;
    default: sgd_loop(w, buf, g, n, lr, momentum, SGD_MOMENTUM); break;
    }
}

void nv_cpu_adam_update(nv_real *w, nv_real *m, nv_real *v, const nv_real *g, int64_t n,
                        float beta1, float beta2, float eps, float step_size, float bc2_sqrt) {
    const adam_k k = adam_k_of(beta1, beta2, eps, step_size, bc2_sqrt);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) st4(w + i, adam4(ld4(w + i), ld4(g + i), m + i, v + i, &k));
    for (; i < n; i++) w[i] = adam1(w[i], g[i], m + i, v + i, &k);
}
