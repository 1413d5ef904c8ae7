/* test_mlp.c: the MLP layout and initialisation of src/train/mlp.c, the CPU backend
 * (src/train/backend.c) and the backend choice (src/train/backend.c).
 *
 * The oracle for the backend's gradients is a loop-only double-precision MLP
 * written here (ref_loss_grad), itself checked against central finite differences
 * in double, so every backward pass of the network (affine, bias, each activation,
 * softmax cross-entropy) is verified by finite differences end to end. Steps are
 * checked against PyTorch's update rules applied to the backend's own gradient;
 * training curves against PyTorch itself are tests/integration/train_torch_parity.py.
 */
#include "testutil.h"

#include "nerve/kernels.h"
#include "nerve/mlp.h"
#include "nerve/rng.h"

static nv_mlp_spec make_spec(int L, const int64_t *w, nv_activation act) {
    nv_mlp_spec s;
    memset(&s, 0, sizeof s);
    s.nlayers = L;
    for (int l = 0; l <= L; l++) s.widths[l] = w[l];
    s.act = act;
    s.leaky_slope = 0.1f;
    s.init = NV_INIT_HE;
    return s;
}

static nv_optim_spec sgd_spec(float lr, float mom, float wd) {
    nv_optim_spec o = {.kind = NV_OPT_SGD, .lr = lr, .momentum = mom, .weight_decay = wd,
                       .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    return o;
}

static nv_optim_spec adam_spec(float lr, float wd) {
    nv_optim_spec o = {.kind = NV_OPT_ADAM, .lr = lr, .weight_decay = wd, .beta1 = 0.9f,
                       .beta2 = 0.999f, .eps = 1e-8f};
    return o;
}

/* A small two-class problem: x normal, label from the sign of a fixed nonlinear
 * score, so training has something to learn. */
static void make_data(int64_t n, int64_t d, int64_t classes, uint64_t seed, float *x, int32_t *y) {
    for (int64_t i = 0; i < n * d; i++) x[i] = nv_rng_normal(seed, NV_STREAM_TEST, (uint64_t)i);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += (j % 2 ? 1.0 : -0.7) * x[i * d + j] * (1 + 0.3 * j);
        s += 0.5 * x[i * d] * x[i * d + d - 1];
        int64_t c = s > 0 ? 1 : 0;
        if (classes > 2 && fabs(s) > 1.5) c = 2 + (int64_t)(x[i * d + 1] > 0) % (classes - 2);
        y[i] = (int32_t)c;
    }
}

/* --- the double-precision oracle ---------------------------------------------------- */

static double act_d(nv_activation a, double slope, double x) {
    switch (a) {
    case NV_ACT_RELU: return x > 0 ? x : 0;
    case NV_ACT_LEAKY_RELU: return x > 0 ? x : slope * x;
    case NV_ACT_TANH: return tanh(x);
    case NV_ACT_SIGMOID: return 1 / (1 + exp(-x));
    default: return x;
    }
}

static double dact_d(nv_activation a, double slope, double x) {
    switch (a) {
    case NV_ACT_RELU: return x > 0 ? 1 : 0;
    case NV_ACT_LEAKY_RELU: return x > 0 ? 1 : slope;
    case NV_ACT_TANH: { double t = tanh(x); return 1 - t * t; }
    case NV_ACT_SIGMOID: { double s = 1 / (1 + exp(-x)); return s * (1 - s); }
    default: return 1;
    }
}

/* Mean softmax cross-entropy over rows idx of (x, y) and, when g != NULL, its
 * gradient (mlp.h layout), all in double with plain loops. */
static double ref_loss_grad(const nv_mlp_spec *s, const double *p, const float *x, const int32_t *y,
                            const uint32_t *idx, int64_t b, double *g) {
    const int L = s->nlayers;
    int64_t maxw = nv_mlp_max_width(s);
    double *pre = calloc((size_t)((L + 1) * maxw), sizeof *pre);  /* (L+1, maxw) one row */
    double *post = calloc((size_t)((L + 1) * maxw), sizeof *post);
    double *d = calloc((size_t)maxw, sizeof *d), *dn = calloc((size_t)maxw, sizeof *dn);
    const int64_t np = nv_mlp_param_count(s);
    if (g) for (int64_t i = 0; i < np; i++) g[i] = 0;
    double total = 0;
    for (int64_t r = 0; r < b; r++) {
        const float *xr = x + (int64_t)idx[r] * s->widths[0];
        for (int64_t j = 0; j < s->widths[0]; j++) post[j] = xr[j];
        for (int l = 1; l <= L; l++) {
            const double *W = p + nv_mlp_weight_offset(s, l - 1), *bb = p + nv_mlp_bias_offset(s, l - 1);
            int64_t in = s->widths[l - 1], out = s->widths[l];
            for (int64_t o = 0; o < out; o++) {
                double z = bb[o];
                for (int64_t k = 0; k < in; k++) z += W[o * in + k] * post[(l - 1) * maxw + k];
                pre[l * maxw + o] = z;
                post[l * maxw + o] = l < L ? act_d(s->act, s->leaky_slope, z) : z;
            }
        }
        const int64_t K = s->widths[L];
        const double *z = pre + L * maxw;
        double m = z[0];
        for (int64_t c = 1; c < K; c++) m = z[c] > m ? z[c] : m;
        double se = 0;
        for (int64_t c = 0; c < K; c++) se += exp(z[c] - m);
        int32_t lab = y[idx[r]];
        total += m + log(se) - z[lab];
        if (!g) continue;
        for (int64_t c = 0; c < K; c++) d[c] = (exp(z[c] - m) / se - (c == lab)) / (double)b;
        for (int l = L; l >= 1; l--) {
            int64_t in = s->widths[l - 1], out = s->widths[l];
            const double *W = p + nv_mlp_weight_offset(s, l - 1);
            double *gW = g + nv_mlp_weight_offset(s, l - 1), *gb = g + nv_mlp_bias_offset(s, l - 1);
            for (int64_t o = 0; o < out; o++) {
                gb[o] += d[o];
                for (int64_t k = 0; k < in; k++) gW[o * in + k] += d[o] * post[(l - 1) * maxw + k];
            }
            if (l > 1) {
                for (int64_t k = 0; k < in; k++) {
                    double a = 0;
                    for (int64_t o = 0; o < out; o++) a += d[o] * W[o * in + k];
                    dn[k] = a * dact_d(s->act, s->leaky_slope, pre[(l - 1) * maxw + k]);
                }
                memcpy(d, dn, (size_t)in * sizeof *d);
            }
        }
    }
    free(pre); free(post); free(d); free(dn);
    return total / (double)b;
}

/* --- layout, names, init, validation ------------------------------------------------- */

static void test_layout(void **state) {
    (void)state;
    const int64_t w[] = {3, 4, 5, 2};
    nv_mlp_spec s = make_spec(3, w, NV_ACT_RELU);
    assert_int_equal(nv_mlp_param_count(&s), 4 * 3 + 4 + 5 * 4 + 5 + 2 * 5 + 2);
    assert_int_equal(nv_mlp_weight_offset(&s, 0), 0);
    assert_int_equal(nv_mlp_bias_offset(&s, 0), 12);
    assert_int_equal(nv_mlp_weight_offset(&s, 1), 16);
    assert_int_equal(nv_mlp_bias_offset(&s, 1), 36);
    assert_int_equal(nv_mlp_weight_offset(&s, 2), 41);
    assert_int_equal(nv_mlp_bias_offset(&s, 2), 51);
    assert_int_equal(nv_mlp_max_width(&s), 5);
    for (int a = 0; a <= NV_ACT_IDENTITY; a++)
        assert_int_equal(nv_activation_parse(nv_activation_name((nv_activation)a)), a);
    assert_int_equal(nv_activation_parse("gelu"), -1);
    assert_int_equal(nv_activation_parse(NULL), -1);
}

static void test_validate(void **state) {
    (void)state;
    const int64_t w[] = {3, 4, 2};
    nv_mlp_spec s = make_spec(2, w, NV_ACT_TANH);
    nv_error err = {0};
    assert_int_equal(nv_mlp_spec_validate(&s, &err), NV_OK);
    nv_mlp_spec bad = s;
    bad.nlayers = 0;
    assert_int_equal(nv_mlp_spec_validate(&bad, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "layers"));
    nv_error_clear(&err);
    bad = s;
    bad.widths[1] = 0;
    assert_int_equal(nv_mlp_spec_validate(&bad, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "widths[1]"));
    nv_error_clear(&err);
    bad = s;
    bad.widths[2] = 1;
    assert_int_equal(nv_mlp_spec_validate(&bad, &err), NV_EINPUT);
    nv_error_clear(&err);
    nv_optim_spec o = adam_spec(1e-3f, 0);
    assert_int_equal(nv_optim_spec_validate(&o, &err), NV_OK);
    o.lr = 0;
    assert_int_equal(nv_optim_spec_validate(&o, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "lr"));
    nv_error_clear(&err);
    o = sgd_spec(0.1f, 1.0f, 0);
    assert_int_equal(nv_optim_spec_validate(&o, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "momentum"));
}

static void test_init(void **state) {
    (void)state;
    const int64_t w[] = {256, 512, 10};
    nv_mlp_spec s = make_spec(2, w, NV_ACT_RELU);
    int64_t np = nv_mlp_param_count(&s);
    float *p = malloc((size_t)np * sizeof *p), *q = malloc((size_t)np * sizeof *q);
    nv_mlp_init_params(&s, 42, p);
    /* He: std sqrt(2 / fan_in) per layer, biases zero */
    for (int l = 0; l < 2; l++) {
        const float *W = p + nv_mlp_weight_offset(&s, l);
        int64_t n = w[l + 1] * w[l];
        double s2 = 0, s1 = 0;
        for (int64_t i = 0; i < n; i++) { s1 += W[i]; s2 += (double)W[i] * W[i]; }
        double sd = sqrt(s2 / n - (s1 / n) * (s1 / n)), want = sqrt(2.0 / (double)w[l]);
        assert_true(fabs(sd / want - 1) < (l == 0 ? 0.01 : 0.05));
        const float *b = p + nv_mlp_bias_offset(&s, l);
        for (int64_t i = 0; i < w[l + 1]; i++) assert_true(b[i] == 0.0f);
    }
    /* the exact formula of mlp.h */
    assert_true(p[7] == (float)sqrt(2.0 / 256) * nv_rng_normal(42, NV_STREAM_INIT, 7));
    int64_t o1 = nv_mlp_weight_offset(&s, 1);
    assert_true(p[o1 + 3] == (float)sqrt(2.0 / 512) * nv_rng_normal(42, NV_STREAM_INIT, (1ull << 40) | 3));
    /* deterministic, seed-dependent */
    nv_mlp_init_params(&s, 42, q);
    assert_memory_equal(p, q, (size_t)np * sizeof *p);
    nv_mlp_init_params(&s, 43, q);
    assert_true(memcmp(p, q, (size_t)np * sizeof *p) != 0);
    /* Xavier: std sqrt(2 / (fan_in + fan_out)) */
    s.init = NV_INIT_XAVIER;
    nv_mlp_init_params(&s, 42, q);
    const float *W = q + nv_mlp_weight_offset(&s, 0);
    double s2 = 0;
    for (int64_t i = 0; i < 512 * 256; i++) s2 += (double)W[i] * W[i];
    assert_true(fabs(sqrt(s2 / (512 * 256)) / sqrt(2.0 / (256 + 512)) - 1) < 0.01);
    /* a layer's weights do not depend on the layers before it */
    const int64_t w2[] = {100, 512, 10};
    nv_mlp_spec s2s = make_spec(2, w2, NV_ACT_RELU);
    s.init = NV_INIT_HE;
    float *r = malloc((size_t)nv_mlp_param_count(&s2s) * sizeof *r);
    nv_mlp_init_params(&s2s, 42, r);
    assert_memory_equal(r + nv_mlp_weight_offset(&s2s, 1), p + nv_mlp_weight_offset(&s, 1),
                        10 * 512 * sizeof(float));
    free(p); free(q); free(r);
}

/* --- the CPU backend ------------------------------------------------------------------- */

typedef struct {
    nv_mlp_spec spec;
    int64_t n, np;
    float *x;      /* (n, widths[0]) */
    int32_t *y;    /* (n) */
    float *p0;     /* (np) initial params */
    nv_trainer *t;
    const nv_backend *be;
} fixture;

static void fixture_open(fixture *f, const nv_mlp_spec *s, const nv_optim_spec *o, int64_t n,
                         int64_t max_batch, uint64_t seed) {
    nv_error err = {0};
    f->spec = *s;
    f->n = n;
    f->np = nv_mlp_param_count(s);
    f->x = malloc((size_t)(n * s->widths[0]) * sizeof *f->x);
    f->y = malloc((size_t)n * sizeof *f->y);
    f->p0 = malloc((size_t)f->np * sizeof *f->p0);
    make_data(n, s->widths[0], s->widths[s->nlayers], seed, f->x, f->y);
    nv_mlp_init_params(s, seed, f->p0);
    f->be = nv_backend_cpu();
    if (f->be->create(s, o, max_batch, &f->t, &err) != NV_OK) fail_msg("create: %s", err.msg);
    if (f->be->set_state(f->t, f->p0, NULL, NULL, 0, &err) != NV_OK) fail_msg("set_state: %s", err.msg);
    if (f->be->bind(f->t, NV_SLOT_TRAIN, f->x, f->y, n, &err) != NV_OK) fail_msg("bind: %s", err.msg);
}

static void fixture_close(fixture *f) {
    f->be->destroy(f->t);
    free(f->x); free(f->y); free(f->p0);
}

static void check_gradient(nv_activation act, int L, const int64_t *w) {
    nv_mlp_spec s = make_spec(L, w, act);
    nv_optim_spec o = sgd_spec(0.1f, 0, 0);
    fixture f;
    fixture_open(&f, &s, &o, 40, 16, 7 + (uint64_t)act);
    uint32_t idx[16];
    for (int i = 0; i < 16; i++) idx[i] = (uint32_t)((i * 7 + 3) % 40);
    float *g = malloc((size_t)f.np * sizeof *g), loss;
    nv_error err = {0};
    assert_int_equal(f.be->gradient(f.t, idx, 16, &loss, g, &err), NV_OK);
    /* the oracle: double precision from the same float weights */
    double *p = malloc((size_t)f.np * sizeof *p), *gr = malloc((size_t)f.np * sizeof *gr);
    for (int64_t i = 0; i < f.np; i++) p[i] = f.p0[i];
    double lref = ref_loss_grad(&s, p, f.x, f.y, idx, 16, gr);
    float lref_f = (float)lref;
    nv_assert_close_f(&loss, &lref_f, 1, 1e-6, 1e-5, "batch loss vs double oracle");
    float *grf = malloc((size_t)f.np * sizeof *grf);
    for (int64_t i = 0; i < f.np; i++) grf[i] = (float)gr[i];
    char what[96];
    snprintf(what, sizeof what, "%s gradient vs double oracle", nv_activation_name(act));
    nv_assert_close_f(g, grf, f.np, 2e-6, 1e-4, what);
    /* the oracle against central finite differences in double, every coordinate;
     * kinks (relu) are measure-zero and h is tiny */
    const double h = 1e-6;
    int bad = 0;
    for (int64_t i = 0; i < f.np; i++) {
        double keep = p[i];
        p[i] = keep + h;
        double lp = ref_loss_grad(&s, p, f.x, f.y, idx, 16, NULL);
        p[i] = keep - h;
        double lm = ref_loss_grad(&s, p, f.x, f.y, idx, 16, NULL);
        p[i] = keep;
        double fd = (lp - lm) / (2 * h);
        if (!(fabs(fd - gr[i]) <= 1e-7 + 1e-5 * fabs(gr[i]))) {
            if (bad++ < 5)
                print_error("%s: param %lld: finite difference %.10g, oracle %.10g\n",
                            nv_activation_name(act), (long long)i, fd, gr[i]);
        }
    }
    assert_int_equal(bad, 0);
    /* and the float backend's own loss moves as its gradient says (a random
     * direction, coarse step: float forward) */
    float *pp = malloc((size_t)f.np * sizeof *pp), *gd = malloc((size_t)f.np * sizeof *gd);
    double dir_dot = 0, eps = 1e-3;
    float lpf, lmf;
    for (int64_t i = 0; i < f.np; i++) {
        double v = nv_rng_normal(99, NV_STREAM_TEST, (uint64_t)i);
        dir_dot += v * g[i];
        pp[i] = (float)(f.p0[i] + eps * v);
    }
    f.be->set_state(f.t, pp, NULL, NULL, 0, &err);
    f.be->gradient(f.t, idx, 16, &lpf, gd, &err);
    for (int64_t i = 0; i < f.np; i++) pp[i] = (float)(f.p0[i] - eps * nv_rng_normal(99, NV_STREAM_TEST, (uint64_t)i));
    f.be->set_state(f.t, pp, NULL, NULL, 0, &err);
    f.be->gradient(f.t, idx, 16, &lmf, gd, &err);
    float dfd = (float)(((double)lpf - lmf) / (2 * eps)), dd = (float)dir_dot;
    nv_assert_close_f(&dfd, &dd, 1, 2e-3, 2e-2, "directional derivative of the float backend");
    free(pp); free(gd); free(g); free(p); free(gr); free(grf);
    fixture_close(&f);
}

static void test_gradient_fd(void **state) {
    (void)state;
    const int64_t w3[] = {5, 6, 4, 3};
    const int64_t w1[] = {4, 3};
    check_gradient(NV_ACT_RELU, 3, w3);
    check_gradient(NV_ACT_LEAKY_RELU, 3, w3);
    check_gradient(NV_ACT_TANH, 3, w3);
    check_gradient(NV_ACT_SIGMOID, 3, w3);
    check_gradient(NV_ACT_IDENTITY, 3, w3);
    check_gradient(NV_ACT_RELU, 1, w1); /* logistic regression: no hidden layer */
}

/* One step equals PyTorch's rule applied to the backend's own gradient. */
static void test_step_rules(void **state) {
    (void)state;
    const int64_t w[] = {6, 8, 3};
    nv_mlp_spec s = make_spec(2, w, NV_ACT_TANH);
    uint32_t idx[10];
    for (int i = 0; i < 10; i++) idx[i] = (uint32_t)(i * 3 % 30);
    nv_error err = {0};
    for (int kind = 0; kind < 2; kind++) {
        nv_optim_spec o = kind == 0 ? sgd_spec(0.1f, 0.9f, 0.01f) : adam_spec(0.01f, 0.01f);
        fixture f;
        fixture_open(&f, &s, &o, 30, 10, 5);
        int64_t np = f.np;
        float *g = malloc((size_t)np * sizeof *g), *p1 = malloc((size_t)np * sizeof *p1),
              *s1 = malloc((size_t)np * sizeof *s1), *s2 = malloc((size_t)np * sizeof *s2),
              *want = malloc((size_t)np * sizeof *want);
        float lg, ls;
        assert_int_equal(f.be->gradient(f.t, idx, 10, &lg, g, &err), NV_OK);
        assert_int_equal(f.be->step(f.t, idx, 10, &ls, &err), NV_OK);
        assert_true(lg == ls); /* the loss before the update */
        int64_t step;
        assert_int_equal(f.be->get_state(f.t, p1, s1, s2, &step, &err), NV_OK);
        assert_int_equal(step, 1);
        for (int64_t i = 0; i < np; i++) {
            double gi = (double)g[i] + (double)o.weight_decay * f.p0[i];
            if (kind == 0) {
                want[i] = (float)(f.p0[i] - (double)o.lr * gi); /* buf = grad at step 1 */
            } else {
                double m = (1 - (double)o.beta1) * gi, v = (1 - (double)o.beta2) * gi * gi;
                want[i] = (float)(f.p0[i] - (o.lr / (1 - (double)o.beta1)) * m /
                                               (sqrt(v) / sqrt(1 - (double)o.beta2) + o.eps));
            }
        }
        nv_assert_close_f(p1, want, np, 1e-6, 1e-5, kind == 0 ? "sgd step" : "adam step");
        /* restoring the saved state and stepping again is the same as not stopping */
        float *p2 = malloc((size_t)np * sizeof *p2), *p3 = malloc((size_t)np * sizeof *p3);
        assert_int_equal(f.be->step(f.t, idx + 2, 8, NULL, &err), NV_OK);
        f.be->get_state(f.t, p2, NULL, NULL, NULL, &err);
        assert_int_equal(f.be->set_state(f.t, p1, s1, s2, 1, &err), NV_OK);
        assert_int_equal(f.be->step(f.t, idx + 2, 8, NULL, &err), NV_OK);
        f.be->get_state(f.t, p3, NULL, NULL, &step, &err);
        assert_int_equal(step, 2);
        assert_memory_equal(p2, p3, (size_t)np * sizeof *p2);
        free(g); free(p1); free(s1); free(s2); free(want); free(p2); free(p3);
        fixture_close(&f);
    }
}

/* Training learns, evaluation and activations are consistent and deterministic. */
static void test_train_eval_activations(void **state) {
    (void)state;
    const int64_t w[] = {8, 32, 32, 3};
    nv_mlp_spec s = make_spec(3, w, NV_ACT_RELU);
    nv_optim_spec o = adam_spec(0.01f, 0);
    const int64_t n = 5000; /* more than NV_EVAL_ROWS: chunked evaluation */
    fixture f;
    fixture_open(&f, &s, &o, n, 64, 11);
    nv_error err = {0};
    double l0;
    int64_t c0;
    assert_int_equal(f.be->evaluate(f.t, NV_SLOT_TRAIN, &l0, &c0, &err), NV_OK);
    uint32_t *perm = malloc((size_t)n * sizeof *perm);
    for (int epoch = 0; epoch < 3; epoch++) {
        nv_rng_permutation(11, NV_STREAM_SHUFFLE, (uint64_t)epoch << 32, perm, (uint32_t)n);
        for (int64_t k = 0; k + 64 <= n; k += 64) {
            float loss;
            assert_int_equal(f.be->step(f.t, perm + k, 64, &loss, &err), NV_OK);
            assert_true(isfinite(loss));
        }
    }
    double l1, l1b;
    int64_t c1, c1b;
    assert_int_equal(f.be->evaluate(f.t, NV_SLOT_TRAIN, &l1, &c1, &err), NV_OK);
    assert_true(l1 < 0.5 * l0);
    assert_true((double)c1 / n > 0.85);
    assert_int_equal(f.be->evaluate(f.t, NV_SLOT_TRAIN, &l1b, &c1b, &err), NV_OK);
    assert_true(l1 == l1b && c1 == c1b);
    /* the evaluation loss against the double oracle at the trained weights */
    int64_t np = f.np;
    float *p = malloc((size_t)np * sizeof *p);
    double *pd = malloc((size_t)np * sizeof *pd);
    f.be->get_state(f.t, p, NULL, NULL, NULL, &err);
    for (int64_t i = 0; i < np; i++) pd[i] = p[i];
    for (int64_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    double lref = ref_loss_grad(&s, pd, f.x, f.y, perm, n, NULL) * (double)n;
    assert_true(fabs(l1 - lref) <= 1e-4 * fabs(lref));
    /* activations: layer 0 is the input, hidden pre/post, the logits; a range
     * across the chunk boundary equals the pieces of a full pass */
    const int64_t r0 = 4090, rows = 12;
    float *a = malloc((size_t)(n * 32) * sizeof *a), *b = malloc((size_t)(rows * 32) * sizeof *b);
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, r0, rows, 0, 0, b, &err), NV_OK);
    assert_memory_equal(b, f.x + r0 * 8, (size_t)(rows * 8) * sizeof *b);
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, 0, n, 2, 0, a, &err), NV_OK);
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, r0, rows, 2, 0, b, &err), NV_OK);
    assert_memory_equal(b, a + r0 * 32, (size_t)(rows * 32) * sizeof *b);
    float *pre = malloc((size_t)(rows * 32) * sizeof *pre);
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, r0, rows, 2, 1, pre, &err), NV_OK);
    int negatives = 0;
    for (int64_t i = 0; i < rows * 32; i++) {
        assert_true(b[i] == (pre[i] > 0 ? pre[i] : 0.0f));
        negatives += pre[i] < 0;
    }
    assert_true(negatives > 0);
    /* logits agree with the oracle's forward through the loss: check the argmax count */
    float *logits = malloc((size_t)(n * 3) * sizeof *logits);
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, 0, n, 3, 0, logits, &err), NV_OK);
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        int arg = 0;
        for (int c = 1; c < 3; c++) if (logits[i * 3 + c] > logits[i * 3 + arg]) arg = c;
        ok += arg == f.y[i];
    }
    assert_int_equal(ok, c1);
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, n - 2, 5, 1, 0, a, &err), NV_EINTERNAL);
    /* The forward pass a backend may keep between activations calls (snapshots ask
     * for a chunk's layers deepest first): a shallower layer after a deeper one is
     * what a fresh pass gives, and neither a step nor set_state leaves it stale. */
    const int64_t cr = NV_EVAL_ROWS;
    float *fresh = malloc((size_t)(cr * 32) * sizeof *fresh), *kept = malloc((size_t)(cr * 32) * sizeof *kept);
    assert_int_equal(f.be->evaluate(f.t, NV_SLOT_TRAIN, &l1b, &c1b, &err), NV_OK);
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, 0, cr, 1, 0, fresh, &err), NV_OK);
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, 0, cr, 3, 0, logits, &err), NV_OK);
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, 0, cr, 1, 0, kept, &err), NV_OK);
    assert_memory_equal(kept, fresh, (size_t)(cr * 32) * sizeof *kept);
    float loss;
    assert_int_equal(f.be->step(f.t, perm, 64, &loss, &err), NV_OK);
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, 0, cr, 1, 0, kept, &err), NV_OK);
    assert_true(memcmp(kept, fresh, (size_t)(cr * 32) * sizeof *kept) != 0); /* new parameters */
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, 0, cr, 3, 0, logits, &err), NV_OK);
    assert_int_equal(f.be->set_state(f.t, p, NULL, NULL, 0, &err), NV_OK); /* back to p */
    assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, 0, cr, 1, 0, kept, &err), NV_OK);
    assert_memory_equal(kept, fresh, (size_t)(cr * 32) * sizeof *kept);
    free(fresh); free(kept);
    /* evaluate_capture: the evaluation's numbers, and the layers activations gives */
    if (f.be->evaluate_capture) {
        const int lay[5] = {0, 1, 1, 2, 3}, prf[5] = {0, 1, 0, 0, 0};
        const int64_t wid[5] = {8, 32, 32, 32, 3};
        nv_capture cap[5];
        for (int i = 0; i < 5; i++) cap[i] = (nv_capture){lay[i], prf[i], malloc((size_t)(n * wid[i]) * sizeof(float))};
        double lc;
        int64_t cc;
        assert_int_equal(f.be->evaluate_capture(f.t, NV_SLOT_TRAIN, &lc, &cc, cap, 5, &err), NV_OK);
        assert_int_equal(f.be->evaluate(f.t, NV_SLOT_TRAIN, &l1b, &c1b, &err), NV_OK);
        assert_true(lc == l1b && cc == c1b);
        float *want = malloc((size_t)(n * 32) * sizeof *want);
        for (int i = 0; i < 5; i++) {
            assert_int_equal(f.be->activations(f.t, NV_SLOT_TRAIN, 0, n, lay[i], prf[i], want, &err), NV_OK);
            assert_memory_equal(cap[i].out, want, (size_t)(n * wid[i]) * sizeof *want);
            free(cap[i].out);
        }
        free(want);
        cap[0].layer = 4;
        assert_int_equal(f.be->evaluate_capture(f.t, NV_SLOT_TRAIN, &lc, &cc, cap, 1, &err), NV_EINTERNAL);
    }
    free(perm); free(p); free(pd); free(a); free(b); free(pre); free(logits);
    fixture_close(&f);
}

/* A non-finite loss stops training with NV_ENUMERIC and leaves the last good state. */
static void test_nan_guard(void **state) {
    (void)state;
    const int64_t w[] = {4, 8, 2};
    nv_mlp_spec s = make_spec(2, w, NV_ACT_RELU);
    nv_optim_spec o = sgd_spec(0.1f, 0.9f, 0);
    fixture f;
    fixture_open(&f, &s, &o, 20, 8, 3);
    nv_error err = {0};
    uint32_t good[4] = {1, 2, 3, 4}, poison[4] = {0, 1, 2, 3};
    assert_int_equal(f.be->step(f.t, good, 4, NULL, &err), NV_OK);
    /* rebind the train set with a NaN in row 0 */
    f.x[0] = NAN;
    assert_int_equal(f.be->bind(f.t, NV_SLOT_TRAIN, f.x, f.y, 20, &err), NV_OK);
    float *before = malloc((size_t)f.np * sizeof *before), *after = malloc((size_t)f.np * sizeof *after);
    f.be->get_state(f.t, before, NULL, NULL, NULL, &err);
    float loss = 0;
    assert_int_equal(f.be->step(f.t, poison, 4, &loss, &err), NV_ENUMERIC);
    assert_true(isnan(loss));
    assert_non_null(strstr(err.msg, "NaN"));
    assert_non_null(strstr(err.msg, "step 2"));
    nv_error_clear(&err);
    /* later steps refuse too, even on good rows; the state is the last good one */
    assert_int_equal(f.be->step(f.t, good, 4, NULL, &err), NV_ENUMERIC);
    nv_error_clear(&err);
    int64_t step;
    assert_int_equal(f.be->get_state(f.t, after, NULL, NULL, &step, &err), NV_ENUMERIC);
    nv_error_clear(&err);
    assert_int_equal(step, 1);
    assert_memory_equal(before, after, (size_t)f.np * sizeof *before);
    double lsum;
    assert_int_equal(f.be->evaluate(f.t, NV_SLOT_TRAIN, &lsum, NULL, &err), NV_ENUMERIC);
    assert_non_null(strstr(err.msg, "step 2"));
    nv_error_clear(&err);
    /* restoring a state starts afresh */
    assert_int_equal(f.be->set_state(f.t, before, NULL, NULL, 1, &err), NV_OK);
    assert_int_equal(f.be->step(f.t, good, 4, NULL, &err), NV_OK);
    /* a diverging learning rate also ends in NV_ENUMERIC, never in garbage */
    nv_optim_spec hot = sgd_spec(1e30f, 0, 0);
    nv_trainer *t2;
    nv_mlp_spec lin = s;
    lin.act = NV_ACT_IDENTITY; /* no dead units to stop the blow-up */
    assert_int_equal(f.be->create(&lin, &hot, 8, &t2, &err), NV_OK);
    f.x[0] = 0.5f;
    f.be->set_state(t2, f.p0, NULL, NULL, 0, &err);
    f.be->bind(t2, NV_SLOT_TRAIN, f.x, f.y, 20, &err);
    nv_status st = NV_OK;
    int k;
    for (k = 0; k < 50 && st == NV_OK; k++) st = f.be->step(t2, good, 4, &loss, &err);
    assert_int_equal(st, NV_ENUMERIC);
    assert_non_null(strstr(err.msg, "training diverged"));
    f.be->destroy(t2);
    free(before); free(after);
    fixture_close(&f);
}

static void test_bad_input(void **state) {
    (void)state;
    const int64_t w[] = {4, 8, 2};
    nv_mlp_spec s = make_spec(2, w, NV_ACT_RELU);
    nv_optim_spec o = sgd_spec(0.1f, 0, 0);
    fixture f;
    fixture_open(&f, &s, &o, 20, 8, 3);
    nv_error err = {0};
    int32_t y[20];
    memcpy(y, f.y, sizeof y);
    y[5] = 2;
    assert_int_equal(f.be->bind(f.t, NV_SLOT_TEST, f.x, y, 20, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "row 5"));
    nv_error_clear(&err);
    uint32_t idx[9] = {0, 1, 2, 3, 4, 5, 6, 7, 20};
    assert_int_equal(f.be->step(f.t, idx, 9, NULL, &err), NV_EINPUT); /* b > max_batch */
    nv_error_clear(&err);
    assert_int_equal(f.be->step(f.t, idx + 1, 8, NULL, &err), NV_EINPUT); /* index 20 */
    assert_non_null(strstr(err.msg, "20"));
    nv_error_clear(&err);
    double ls;
    assert_int_equal(f.be->evaluate(f.t, NV_SLOT_TEST, &ls, NULL, &err), NV_EINTERNAL); /* unbound */
    nv_error_clear(&err);
    nv_trainer *t2 = NULL;
    nv_mlp_spec bad = s;
    bad.nlayers = 0;
    assert_int_equal(f.be->create(&bad, &o, 8, &t2, &err), NV_EINPUT);
    assert_null(t2);
    f.be->destroy(NULL);
    fixture_close(&f);
}

static void test_backend_select(void **state) {
    (void)state;
    const nv_backend *be = NULL;
    const char *note = "x";
    nv_error err = {0};
    assert_int_equal(nv_backend_select(NV_DEVICE_CPU, &be, &note, &err), NV_OK);
    assert_ptr_equal(be, nv_backend_cpu());
    assert_null(note);
    assert_string_equal(be->name, "cpu");
    char why[256] = "";
    int usable = nv_cuda_usable(why, sizeof why);
    assert_int_equal(nv_backend_select(NV_DEVICE_AUTO, &be, &note, &err), NV_OK);
    if (usable) {
        assert_ptr_equal(be, nv_backend_cuda());
        assert_string_equal(be->name, "cuda");
    } else {
        assert_ptr_equal(be, nv_backend_cpu());
        assert_non_null(note);
        assert_non_null(strstr(note, "no usable GPU ("));
        assert_non_null(strstr(note, "running on the CPU"));
        assert_true(strlen(why) > 0);
        print_message("AUTO without a GPU: %s\n", note);
        assert_int_equal(nv_backend_select(NV_DEVICE_CUDA, &be, &note, &err), nv_cuda_status(NULL, 0));
        assert_null(be);
        assert_non_null(strstr(err.msg, "cuda"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_gradient_fd),
        cmocka_unit_test(test_step_rules),
        cmocka_unit_test(test_train_eval_activations),
        cmocka_unit_test(test_nan_guard),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_backend_select),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
