/* features.c: activation maximisation (include/nerve/features.h): the presets, the
 * CPU backend (plain loops + OpenBLAS sgemm, the reference of cuda/features.cu),
 * the one ascent loop both backends share, and the one place that picks the
 * backend. Snapshot files and figures live in features_run.c and features_plot.c.
 */
#include "nerve/features.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/device.h"
#include "nerve/kernels.h"
#include "nerve/mlp.h"

void nv_features_defaults(nv_features_params *p) {
    memset(p, 0, sizeof *p);
    p->steps = 500;
    p->lr = 0.05f;
    p->init = NV_FEAT_INIT_MEAN;
}

/* The verb's settings: the default (k = 0) and Yosinski, Clune, Nguyen, Fuchs and
 * Lipson's (2015) four regulariser combinations (their Table 1: 1 blur + norm
 * clipping, 2 strong decay + norm clipping, 3 weak decay + wide blur, 4 blur +
 * contribution clipping), each kept to its own regularisers but re-tuned by
 * measurement, separately for 28 x 28 images (Fashion-MNIST nets) and for short
 * vectors (the spheres' 12 coordinates). docs/features.md, "The presets", has the
 * criteria, the candidates and the numbers. Blur and jitter need a picture: for
 * vectors presets 1 and 4 take L2 decay in the blur's place (without a bound their
 * ascent ends at a corner of the box, 2.4 times the data's radius). */
typedef struct { int64_t steps; float lr, decay; int every; float width, npct, cpct; int jitter; } preset_row;
static const preset_row image_presets[NV_FEATURES_PRESETS + 1] = {
    /* steps  lr     decay    every width npct   cpct   jitter */
    {500,  0.05f, 0.02f,   4, 0.5f, 0.0f,  0.0f,  0}, /* default: decay + light blur */
    {500,  0.05f, 0.0f,    4, 0.5f, 30.0f, 0.0f,  0}, /* 1: blur + norm clipping (was 50%) */
    {750,  0.05f, 0.05f,   0, 0.0f, 20.0f, 0.0f,  0}, /* 2: decay (was 0.3) + norm clipping */
    {1000, 0.1f,  0.0001f, 4, 1.0f, 0.0f,  0.0f,  0}, /* 3: weak decay + wide blur (lr was 0.05) */
    {1000, 0.05f, 0.0f,    4, 0.5f, 0.0f,  30.0f, 0}, /* 4: blur + contribution clipping (was 90%) */
};
static const preset_row vector_presets[NV_FEATURES_PRESETS + 1] = {
    {500,  0.05f, 0.1f,  0, 0.0f, 0.0f,  0.0f,  0}, /* default: decay */
    {500,  0.05f, 0.1f,  0, 0.0f, 25.0f, 0.0f,  0}, /* 1: norm clipping, decay for the blur */
    {750,  0.1f,  0.2f,  0, 0.0f, 20.0f, 0.0f,  0}, /* 2: strong decay + norm clipping */
    {1000, 0.05f, 0.05f, 0, 0.0f, 0.0f,  0.0f,  0}, /* 3: weak decay */
    {1000, 0.05f, 0.1f,  0, 0.0f, 0.0f,  50.0f, 0}, /* 4: contribution clipping, decay for the blur */
};

nv_status nv_features_preset(int k, int image, nv_features_params *p, nv_error *err) {
    if (k < 0 || k > NV_FEATURES_PRESETS)
        return nv_fail(err, NV_EINPUT, "features: preset %d: expected 0 (the default) or 1..%d "
                       "(Yosinski et al. 2015, Table 1, re-tuned)", k, NV_FEATURES_PRESETS);
    const preset_row *t = image ? &image_presets[k] : &vector_presets[k];
    p->steps = t->steps;
    p->lr = t->lr;
    p->decay = t->decay;
    p->blur_every = t->every;
    p->blur_width = t->width;
    p->norm_pct = t->npct;
    p->contrib_pct = t->cpct;
    p->jitter = t->jitter;
    return NV_OK;
}

/* An input of d numbers is an image when it is a square of at least 64. */
static int image_side(int64_t d) {
    int64_t s = 1;
    while ((s + 1) * (s + 1) <= d) s++;
    return d >= 64 && s * s == d ? (int)s : 0;
}

nv_features_params nv_features_job_params(const nv_features_job *job, int64_t d) {
    nv_features_params p = job->p;
    int side = image_side(d);
    if (job->tuned) {
        nv_features_params q = job->p;
        if (nv_features_preset(job->preset, side > 0, &q, NULL) == NV_OK) {
            unsigned set = job->set;
            if (!(set & NV_FEAT_SET_STEPS)) p.steps = q.steps;
            if (!(set & NV_FEAT_SET_LR)) p.lr = q.lr;
            if (!(set & NV_FEAT_SET_DECAY)) p.decay = q.decay;
            if (!(set & NV_FEAT_SET_BLUR_EVERY)) p.blur_every = q.blur_every;
            if (!(set & NV_FEAT_SET_BLUR_WIDTH)) p.blur_width = q.blur_width;
            if (!(set & NV_FEAT_SET_NORM_PCT)) p.norm_pct = q.norm_pct;
            if (!(set & NV_FEAT_SET_CONTRIB_PCT)) p.contrib_pct = q.contrib_pct;
            if (!(set & NV_FEAT_SET_JITTER)) p.jitter = q.jitter;
        }
    }
    p.img_h = p.img_w = side;
    return p;
}

nv_status nv_features_params_validate(const nv_features_params *p, int64_t d, nv_error *err) {
    if (p->steps < 0) return nv_fail(err, NV_EINPUT, "features: steps %lld: expected >= 0", (long long)p->steps);
    if (!(p->lr > 0 && p->lr <= 10)) return nv_fail(err, NV_EINPUT, "features: lr %g: expected in (0, 10]", (double)p->lr);
    if (!(p->decay >= 0 && p->decay < 1)) return nv_fail(err, NV_EINPUT, "features: decay %g: expected in [0, 1)", (double)p->decay);
    if (p->blur_every < 0) return nv_fail(err, NV_EINPUT, "features: blur_every %d: expected >= 0", p->blur_every);
    if (!(p->blur_width >= 0 && p->blur_width <= 10)) return nv_fail(err, NV_EINPUT, "features: blur_width %g: expected in [0, 10]", (double)p->blur_width);
    if (!(p->norm_pct >= 0 && p->norm_pct <= 100)) return nv_fail(err, NV_EINPUT, "features: norm percentile %g: expected in [0, 100]", (double)p->norm_pct);
    if (!(p->contrib_pct >= 0 && p->contrib_pct <= 100)) return nv_fail(err, NV_EINPUT, "features: contribution percentile %g: expected in [0, 100]", (double)p->contrib_pct);
    if (p->jitter < 0) return nv_fail(err, NV_EINPUT, "features: jitter %d: expected >= 0", p->jitter);
    if (p->img_h < 0 || p->img_w < 0 || (p->img_h && (int64_t)p->img_h * p->img_w != d))
        return nv_fail(err, NV_EINPUT, "features: image shape %dx%d does not match %lld inputs",
                       p->img_h, p->img_w, (long long)d);
    if (p->batch < 0) return nv_fail(err, NV_EINPUT, "features: batch %lld: expected >= 0", (long long)p->batch);
    return NV_OK;
}

/* ---- the CPU backend ------------------------------------------------------------ */

/* Clamp and max as plain comparisons: fminf/fmaxf are libm calls without
 * -ffast-math (a sixth of the ascent's time), and the CUDA twin uses the same
 * expressions, so both treat every value alike. */
static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }
static inline float maxf(float a, float b) { return a > b ? a : b; }

typedef struct {
    nv_features_problem pb;
    nv_features_params p;
    int64_t d, max_rows, maxw;
    nv_real *span;      /* (d) hi - lo */
    nv_real *zs, *as;   /* (l-1 layers, max_rows * maxw) pre-activations and outputs */
    nv_real *da, *db;   /* (max_rows * maxw) backward ping-pong */
    float *blur_w;      /* (2R+1) Gaussian taps */
    float *sortbuf;     /* (d) percentile scratch */
    int blur_r;
} cpu_ctx;

/* Gaussian taps exp(-k^2 / 2 sigma^2), k = -R..R, computed in double and rounded
 * once so both backends use the same floats. */
static void blur_taps(float sigma, int r, float *w) {
    for (int k = -r; k <= r; k++)
        w[k + r] = sigma > 0 ? (float)exp(-(double)k * k / (2.0 * (double)sigma * sigma)) : (k == 0);
}

static void cpu_destroy(void *vctx) {
    cpu_ctx *c = vctx;
    if (!c) return;
    free(c->span); free(c->zs); free(c->as); free(c->da); free(c->db); free(c->blur_w); free(c->sortbuf);
    free(c);
}

static nv_status cpu_create(const nv_features_problem *pb, const nv_features_params *p,
                            int64_t max_rows, void **out, nv_error *err) {
    cpu_ctx *c = nv_calloc(1, sizeof *c, err);
    if (!c) return NV_ENOMEM;
    c->pb = *pb;
    c->p = *p;
    c->d = pb->spec->widths[0];
    c->max_rows = max_rows;
    c->maxw = nv_mlp_max_width(pb->spec);
    int hidden = pb->layer - 1 > 0 ? pb->layer - 1 : 1;
    c->span = nv_malloc((size_t)c->d * sizeof(nv_real), err);
    c->zs = nv_malloc((size_t)(hidden * max_rows * c->maxw) * sizeof(nv_real), err);
    c->as = nv_malloc((size_t)(hidden * max_rows * c->maxw) * sizeof(nv_real), err);
    c->da = nv_malloc((size_t)(max_rows * c->maxw) * sizeof(nv_real), err);
    c->db = nv_malloc((size_t)(max_rows * c->maxw) * sizeof(nv_real), err);
    c->blur_r = nv_features_blur_radius(p->blur_width);
    c->blur_w = nv_malloc((size_t)(2 * c->blur_r + 1) * sizeof(float), err);
    c->sortbuf = nv_malloc((size_t)c->d * sizeof(float), err);
    if (!c->sortbuf || !c->span || !c->zs || !c->as || !c->da || !c->db || !c->blur_w) {
        cpu_destroy(c);
        return NV_ENOMEM;
    }
    for (int64_t i = 0; i < c->d; i++) c->span[i] = pb->hi[i] - pb->lo[i];
    blur_taps(p->blur_width, c->blur_r, c->blur_w);
    *out = c;
    return NV_OK;
}

static nv_status cpu_alloc(void *ctx, int64_t n, nv_real **p, nv_error *err) {
    (void)ctx;
    *p = nv_calloc((size_t)(n > 0 ? n : 1), sizeof(nv_real), err);
    return *p ? NV_OK : NV_ENOMEM;
}
static void cpu_release(void *ctx, nv_real *p) { (void)ctx; free(p); }
static nv_status cpu_copy(void *ctx, nv_real *dst, const nv_real *src, int64_t n, nv_error *err) {
    (void)ctx; (void)err;
    memcpy(dst, src, (size_t)n * sizeof(nv_real));
    return NV_OK;
}

/* The batched backward to the input. Row r's target is unit units_of[r] (or u0 + r
 * when units_of is NULL) of layer l: forward through layers 1..l-1 (sgemm), the
 * target pre-activation as one dot product per row, then dA_{l-1}[r] = W_l[unit]
 * and back down: dZ_k = dA_k * act'(Z_k), dA_{k-1} = dZ_k W_k (sgemm). */
static nv_status cpu_grad_units(cpu_ctx *c, const nv_real *x, int64_t n, int64_t u0,
                                const int64_t *units_of, nv_real *g, nv_real *z) {
    const nv_mlp_spec *s = c->pb.spec;
    const nv_real *P = c->pb.params;
    int l = c->pb.layer;
    int64_t stride = c->max_rows * c->maxw;
    const nv_real *a = x;
    for (int k = 1; k < l; k++) {
        int64_t win = s->widths[k - 1], wout = s->widths[k];
        nv_real *zk = c->zs + (k - 1) * stride, *ak = c->as + (k - 1) * stride;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)wout, (int)win, 1.0f, a,
                    (int)win, P + nv_mlp_weight_offset(s, k - 1), (int)win, 0.0f, zk, (int)wout);
        nv_cpu_bias_add(zk, P + nv_mlp_bias_offset(s, k - 1), n, wout);
        nv_cpu_act_forward(s->act, s->leaky_slope, zk, ak, n * wout);
        a = ak;
    }
    int64_t win = s->widths[l - 1];
    const nv_real *W = P + nv_mlp_weight_offset(s, l - 1), *b = P + nv_mlp_bias_offset(s, l - 1);
    nv_real *dcur = l > 1 ? c->da : g;
    for (int64_t r = 0; r < n; r++) {
        int64_t u = units_of ? units_of[r] : u0 + r;
        const nv_real *wr = W + u * win, *ar = a + r * win;
        float acc = 0.0f; /* sequential, the order the CUDA twin uses */
        for (int64_t i = 0; i < win; i++) acc += ar[i] * wr[i];
        if (z) z[r] = acc + b[u];
        memcpy(dcur + r * win, wr, (size_t)win * sizeof(nv_real));
    }
    for (int k = l - 1; k >= 1; k--) {
        int64_t wk = s->widths[k], wprev = s->widths[k - 1];
        nv_real *zk = c->zs + (k - 1) * stride, *ak = c->as + (k - 1) * stride;
        nv_cpu_act_backward(s->act, s->leaky_slope, zk, ak, dcur, dcur, n * wk);
        nv_real *dnext = k == 1 ? g : (dcur == c->da ? c->db : c->da);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)wprev, (int)wk, 1.0f,
                    dcur, (int)wk, P + nv_mlp_weight_offset(s, k - 1), (int)wprev, 0.0f, dnext,
                    (int)wprev);
        dcur = dnext;
    }
    return NV_OK;
}

static nv_status cpu_grad(void *ctx, const nv_real *x, int64_t n, int64_t u0, nv_real *g,
                          nv_real *z, nv_error *err) {
    (void)err;
    return cpu_grad_units(ctx, x, n, u0, NULL, g, z);
}

static nv_status cpu_shift(void *ctx, const nv_real *src, nv_real *dst, int64_t n, int64_t u0,
                           int64_t t, int sign, nv_error *err) {
    cpu_ctx *c = ctx;
    (void)err;
    int h = c->p.img_h, w = c->p.img_w, J = c->p.jitter;
    for (int64_t r = 0; r < n; r++) {
        int oy = sign * nv_features_jitter_offset(c->p.seed, c->pb.layer, t, u0 + r, 0, J);
        int ox = sign * nv_features_jitter_offset(c->p.seed, c->pb.layer, t, u0 + r, 1, J);
        const nv_real *s = src + r * c->d;
        nv_real *o = dst + r * c->d;
        for (int i = 0; i < h; i++) {
            int ii = ((i + oy) % h + h) % h;
            for (int j = 0; j < w; j++) o[ii * w + ((j + ox) % w + w) % w] = s[i * w + j];
        }
    }
    return NV_OK;
}

static nv_status cpu_step(void *ctx, nv_real *x, const nv_real *g, int64_t n, float lr_t,
                          nv_error *err) {
    cpu_ctx *c = ctx;
    (void)err;
    int64_t d = c->d;
    for (int64_t r = 0; r < n; r++) {
        nv_real *xr = x + r * d;
        const nv_real *gr = g + r * d;
        float gmax = 0.0f;
        for (int64_t i = 0; i < d; i++) gmax = maxf(gmax, fabsf(gr[i]));
        if (!(gmax > 0.0f)) continue; /* a flat point (dead unit): nothing to follow */
        for (int64_t i = 0; i < d; i++) {
            float v = xr[i] + (lr_t * c->span[i]) * (gr[i] / gmax);
            xr[i] = clampf(v, c->pb.lo[i], c->pb.hi[i]);
        }
    }
    return NV_OK;
}

static nv_status cpu_decay(void *ctx, nv_real *x, int64_t n, float decay, nv_error *err) {
    cpu_ctx *c = ctx;
    (void)err;
    float keep = 1.0f - decay;
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < c->d; i++) {
            float m = c->pb.centre[i];
            x[r * c->d + i] = m + keep * (x[r * c->d + i] - m);
        }
    return NV_OK;
}

/* One blurred value along a line: taps over in-image neighbours, renormalised, in
 * tap order k = -R..R (the CUDA twin sums in the same order). */
static float blur_at(const nv_real *u, int64_t pos, int64_t len, int64_t stride,
                     const float *wt, int R) {
    float acc = 0.0f, norm = 0.0f;
    for (int k = -R; k <= R; k++) {
        int64_t q = pos + k;
        if (q < 0 || q >= len) continue;
        acc += wt[k + R] * u[q * stride];
        norm += wt[k + R];
    }
    return acc / norm;
}

static nv_status cpu_blur(void *ctx, nv_real *x, nv_real *tmp, int64_t n, float sigma,
                          nv_error *err) {
    cpu_ctx *c = ctx;
    (void)err; (void)sigma;
    int h = c->p.img_h, w = c->p.img_w, R = c->blur_r;
    int64_t d = c->d;
    const nv_real *m = c->pb.centre;
    for (int64_t r = 0; r < n; r++) {
        nv_real *xr = x + r * d, *tr = tmp + r * d;
        for (int64_t i = 0; i < d; i++) xr[i] -= m[i]; /* to u */
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) tr[i * w + j] = blur_at(xr + i * w, j, w, 1, c->blur_w, R);
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) xr[i * w + j] = blur_at(tr + j, i, h, w, c->blur_w, R);
        for (int64_t i = 0; i < d; i++) xr[i] += m[i];
    }
    return NV_OK;
}

/* The k-th smallest of v[0..n) (v is reordered): quickselect with a median-of-
 * three pivot, O(n) expected. The value is unique whatever the ties, so this equals
 * sorting and indexing (and the CUDA twin's rank count), only without the
 * O(n log n) sort per row and step that made clipping dominate the ascent. */
static float kth_smallest(float *v, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        float a = v[lo], b = v[mid], c = v[hi];
        float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                float t = v[i]; v[i] = v[j]; v[j] = t;
                i++; j--;
            }
        }
        /* Now v[lo..j] <= pivot <= v[i..hi], and v[j+1..i-1] == pivot. */
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return pivot;
    }
    return v[k];
}

static nv_status cpu_clip(void *ctx, nv_real *x, const nv_real *g, nv_real *tmp, int64_t n,
                          float pct, nv_error *err) {
    cpu_ctx *c = ctx;
    (void)err;
    int64_t d = c->d, k = nv_features_pct_rank(pct, d);
    const nv_real *m = c->pb.centre;
    for (int64_t r = 0; r < n; r++) {
        nv_real *xr = x + r * d, *v = tmp + r * d;
        for (int64_t i = 0; i < d; i++) {
            float u = xr[i] - m[i];
            v[i] = fabsf(g ? u * g[r * d + i] : u);
        }
        /* The k-th smallest value (unique as a value, whatever the ties). */
        memcpy(c->sortbuf, v, (size_t)d * sizeof(float));
        float thr = kth_smallest(c->sortbuf, d, k);
        for (int64_t i = 0; i < d; i++)
            if (v[i] < thr) xr[i] = m[i];
    }
    return NV_OK;
}

static nv_status cpu_keep(void *ctx, const nv_real *x, const nv_real *z, nv_real *xb,
                          nv_real *zb, int64_t n, int first, nv_error *err) {
    cpu_ctx *c = ctx;
    (void)err;
    for (int64_t r = 0; r < n; r++)
        if (first || z[r] > zb[r]) {
            zb[r] = z[r];
            memcpy(xb + r * c->d, x + r * c->d, (size_t)c->d * sizeof(nv_real));
        }
    return NV_OK;
}

static nv_status cpu_project(void *ctx, nv_real *x, int64_t n, nv_error *err) {
    cpu_ctx *c = ctx;
    (void)err;
    for (int64_t r = 0; r < n; r++)
        for (int64_t i = 0; i < c->d; i++)
            x[r * c->d + i] = clampf(x[r * c->d + i], c->pb.lo[i], c->pb.hi[i]);
    return NV_OK;
}

static const nv_features_ops cpu_ops = {
    "cpu", cpu_create, cpu_destroy, cpu_alloc, cpu_release, cpu_copy, cpu_copy,
    cpu_grad, cpu_shift, cpu_step, cpu_decay, cpu_blur, cpu_clip, cpu_keep, cpu_project,
};
const nv_features_ops *nv_features_ops_cpu(void) { return &cpu_ops; }

/* ---- the shared loop ----------------------------------------------------------- */

/* act(z) for hidden layers unless pre; z for the logits. */
static void objective_from_z(const nv_features_problem *pb, int pre, nv_real *z, int64_t n) {
    if (pb->layer < pb->spec->nlayers && !pre)
        nv_cpu_act_forward(pb->spec->act, pb->spec->leaky_slope, z, z, n);
}

nv_status nv_features_ascend_ops(const nv_features_ops *ops, const nv_features_problem *pb,
                                 const nv_features_params *p, nv_real *x, nv_real *act,
                                 nv_error *err) {
    const nv_mlp_spec *s = pb->spec;
    if (pb->layer < 1 || pb->layer > s->nlayers)
        return nv_fail(err, NV_EINPUT, "features: layer %d: expected 1..%d", pb->layer, s->nlayers);
    int64_t d = s->widths[0], units = s->widths[pb->layer];
    nv_status st = nv_features_params_validate(p, d, err);
    if (st != NV_OK) return st;
    int64_t bs = p->batch > 0 ? NV_MIN(p->batch, units) : units;
    int image = p->img_h > 0 && p->img_w > 0;
    int jitter = image && p->jitter > 0;
    int blur = image && p->blur_every > 0 && p->blur_width > 0;
    int regular = p->decay > 0 || blur || p->norm_pct > 0 || p->contrib_pct > 0;
    void *ctx = NULL;
    nv_real *dx = NULL, *dg = NULL, *dxs = NULL, *dtmp = NULL, *dz = NULL, *hx = NULL;
    nv_real *dxb = NULL, *dzb = NULL;
    if (p->init == NV_FEAT_INIT_TOP && !pb->starts)
        return nv_fail(err, NV_EINPUT, "features: init 'top' needs start points (the problem's starts)");
    if ((st = ops->create(pb, p, bs, &ctx, err)) != NV_OK) return st;
    if ((st = ops->alloc(ctx, bs * d, &dx, err)) != NV_OK) goto done;
    if ((st = ops->alloc(ctx, bs * d, &dg, err)) != NV_OK) goto done;
    if ((st = ops->alloc(ctx, bs * d, &dxs, err)) != NV_OK) goto done;
    if ((st = ops->alloc(ctx, bs * d, &dtmp, err)) != NV_OK) goto done;
    if ((st = ops->alloc(ctx, bs, &dz, err)) != NV_OK) goto done;
    if ((st = ops->alloc(ctx, bs * d, &dxb, err)) != NV_OK) goto done;
    if ((st = ops->alloc(ctx, bs, &dzb, err)) != NV_OK) goto done;
    for (int64_t u0 = 0; u0 < units; u0 += bs) {
        int64_t n = NV_MIN(bs, units - u0);
        hx = x + u0 * d;
        /* Start points on the host (the RNG's host side; both backends upload them). */
        for (int64_t r = 0; r < n; r++)
            for (int64_t i = 0; i < d; i++) {
                float v;
                if (p->init == NV_FEAT_INIT_ZEROS) v = 0.0f;
                else if (p->init == NV_FEAT_INIT_TOP) v = pb->starts[(u0 + r) * d + i];
                else v = pb->centre[i] + 0.01f * (pb->hi[i] - pb->lo[i]) *
                                           nv_features_start_noise(p->seed, pb->layer, u0 + r, d, i);
                hx[r * d + i] = clampf(v, pb->lo[i], pb->hi[i]);
            }
        if ((st = ops->upload(ctx, dx, hx, n * d, err)) != NV_OK) goto done;
        for (int64_t t = 0; t < p->steps; t++) {
            nv_real *g = dg;
            if (jitter) {
                if ((st = ops->shift(ctx, dx, dxs, n, u0, t, 1, err)) != NV_OK) goto done;
                if ((st = ops->grad(ctx, dxs, n, u0, dtmp, dz, err)) != NV_OK) goto done;
                if ((st = ops->shift(ctx, dtmp, dg, n, u0, t, -1, err)) != NV_OK) goto done;
            } else {
                if ((st = ops->grad(ctx, dx, n, u0, dg, dz, err)) != NV_OK) goto done;
                /* z is the objective at this iterate: remember the best. */
                if ((st = ops->keep(ctx, dx, dz, dxb, dzb, n, t == 0, err)) != NV_OK) goto done;
            }
            float lr_t = (float)((double)p->lr * (1.0 - (double)t / (double)p->steps));
            if ((st = ops->step(ctx, dx, g, n, lr_t, err)) != NV_OK) goto done;
            if (p->decay > 0 && (st = ops->decay(ctx, dx, n, p->decay, err)) != NV_OK) goto done;
            if (blur && (t + 1) % p->blur_every == 0 &&
                (st = ops->blur(ctx, dx, dtmp, n, p->blur_width, err)) != NV_OK) goto done;
            if (p->norm_pct > 0 && (st = ops->clip(ctx, dx, NULL, dtmp, n, p->norm_pct, err)) != NV_OK) goto done;
            if (p->contrib_pct > 0 && (st = ops->clip(ctx, dx, g, dtmp, n, p->contrib_pct, err)) != NV_OK) goto done;
            if (regular && (st = ops->project(ctx, dx, n, err)) != NV_OK) goto done;
        }
        /* The objective at the final point, without jitter. */
        if ((st = ops->grad(ctx, dx, n, u0, dg, dz, err)) != NV_OK) goto done;
        int first = jitter || p->steps == 0;
        if ((st = ops->keep(ctx, dx, dz, dxb, dzb, n, first, err)) != NV_OK) goto done;
        if ((st = ops->download(ctx, hx, dxb, n * d, err)) != NV_OK) goto done;
        if ((st = ops->download(ctx, act + u0, dzb, n, err)) != NV_OK) goto done;
        objective_from_z(pb, p->pre, act + u0, n);
        for (int64_t r = 0; r < n; r++)
            if (!isfinite(act[u0 + r])) {
                st = nv_fail(err, NV_ENUMERIC, "features: layer %d unit %lld: the objective became %g",
                             pb->layer, (long long)(u0 + r), (double)act[u0 + r]);
                goto done;
            }
    }
done:
    if (ctx) {
        ops->release(ctx, dx); ops->release(ctx, dg); ops->release(ctx, dxs);
        ops->release(ctx, dtmp); ops->release(ctx, dz);
        ops->release(ctx, dxb); ops->release(ctx, dzb);
        ops->destroy(ctx);
    }
    return st;
}

/* The CPU or the CUDA ops, under the device rule (device.h). */
nv_status nv_features_ascend(const nv_features_problem *pb, const nv_features_params *p,
                             nv_device_kind want, nv_real *x, nv_real *act,
                             nv_device_kind *used, nv_error *err) {
    void *gpu = NULL;
    nv_status st = nv_device_select(want, "features", "nv_features_ops_cuda", 1, &gpu, NULL, err);
    if (st != NV_OK) return st;
    const nv_features_ops *ops = gpu ? ((const nv_features_ops *(*)(void))gpu)() : nv_features_ops_cpu();
    if (used) *used = gpu ? NV_DEVICE_CUDA : NV_DEVICE_CPU;
    return nv_features_ascend_ops(ops, pb, p, x, act, err);
}

nv_status nv_features_grad(const nv_features_problem *pb, const nv_real *x, int64_t n,
                           const int64_t *units_of, nv_real *g, nv_real *z, nv_error *err) {
    nv_features_params p;
    nv_features_defaults(&p);
    void *ctx = NULL;
    nv_status st = cpu_create(pb, &p, n, &ctx, err);
    if (st != NV_OK) return st;
    st = cpu_grad_units(ctx, x, n, 0, units_of, g, z);
    cpu_destroy(ctx);
    return st;
}

nv_status nv_features_eval(const nv_features_problem *pb, int pre, const nv_real *x, int64_t n,
                           nv_real *out, nv_error *err) {
    const nv_mlp_spec *s = pb->spec;
    int l = pb->layer;
    int64_t maxw = nv_mlp_max_width(s), bs = NV_MIN(n, (int64_t)NV_EVAL_ROWS);
    if (bs < 1) return NV_OK;
    nv_real *a = nv_malloc((size_t)(bs * maxw) * sizeof(nv_real), err);
    nv_real *b = nv_malloc((size_t)(bs * maxw) * sizeof(nv_real), err);
    if (!a || !b) { free(a); free(b); return NV_ENOMEM; }
    for (int64_t r0 = 0; r0 < n; r0 += bs) {
        int64_t rows = NV_MIN(bs, n - r0);
        const nv_real *in = x + r0 * s->widths[0];
        for (int k = 1; k <= l; k++) {
            int64_t win = s->widths[k - 1], wout = s->widths[k];
            nv_real *o = k == l ? out + r0 * wout : (in == a ? b : a);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)wout, (int)win,
                        1.0f, in, (int)win, pb->params + nv_mlp_weight_offset(s, k - 1), (int)win,
                        0.0f, o, (int)wout);
            nv_cpu_bias_add(o, pb->params + nv_mlp_bias_offset(s, k - 1), rows, wout);
            if (k < l || (k < s->nlayers && !pre))
                nv_cpu_act_forward(s->act, s->leaky_slope, o, o, rows * wout);
            in = o;
        }
    }
    free(a);
    free(b);
    return NV_OK;
}
