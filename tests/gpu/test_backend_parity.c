/* test_backend_parity.c: the CUDA backend (cuda/backend.cu) against the CPU
 * backend (src/train/backend.c) as docs/CONTRACTS.md defines training parity: from the
 * same initial weights and the same sample order, per-step loss within rtol 1e-4
 * over the first 200 steps; plus the step-0 gradient (atol 1e-5), the final
 * parameters, evaluation (loss, accuracy within 0.5 points) and activations, for
 * each optimiser and activation and for the spheres nets (12-64-64-64-2 and the
 * bottleneck 12-3-64-64-2). Also the CUDA NaN guard, and step_record (the dynamics
 * recorder's step) against the CPU backend's and against plain steps. Exits 77 with a SKIP line
 * where no CUDA device is usable.
 */
#include "testutil.h"

#include "nerve/mlp.h"
#include "nerve/rng.h"

enum { STEPS = 200, BATCH = 64, N = 5000 /* > NV_EVAL_ROWS: chunked evaluation */ };

typedef struct {
    const char *name;
    int L;
    int64_t widths[6];
    nv_activation act;
    nv_opt_kind opt;
    float lr, momentum, wd;
    int64_t half_life; /* train.lr_half_life (0: constant) */
} parity_case;

static const parity_case cases[] = {
    {"spheres-expressive relu adam", 4, {12, 64, 64, 64, 2}, NV_ACT_RELU, NV_OPT_ADAM, 1e-3f, 0, 0},
    {"spheres-bottleneck relu adam", 4, {12, 3, 64, 64, 2}, NV_ACT_RELU, NV_OPT_ADAM, 1e-3f, 0, 0},
    {"tanh sgd momentum wd", 3, {12, 48, 48, 3}, NV_ACT_TANH, NV_OPT_SGD, 0.05f, 0.9f, 1e-3f},
    {"sigmoid sgd", 2, {12, 32, 2}, NV_ACT_SIGMOID, NV_OPT_SGD, 0.2f, 0.0f, 0.0f},
    {"leaky adam wd", 3, {12, 40, 40, 4}, NV_ACT_LEAKY_RELU, NV_OPT_ADAM, 2e-3f, 0, 1e-2f},
    {"logistic sgd", 1, {12, 2}, NV_ACT_RELU, NV_OPT_SGD, 0.1f, 0.5f, 0.0f},
    {"leaky adam, lr halving every 50 steps", 3, {12, 40, 40, 2}, NV_ACT_LEAKY_RELU, NV_OPT_ADAM, 1e-2f, 0, 0, 50},
    {"tanh sgd momentum, lr halving every 40 steps", 2, {12, 32, 3}, NV_ACT_TANH, NV_OPT_SGD, 0.1f, 0.9f, 0, 40},
};

static void make_data(int64_t d, int64_t K, float *x, int32_t *y) {
    for (int64_t i = 0; i < N * d; i++) x[i] = nv_rng_normal(3, NV_STREAM_TEST, (uint64_t)i);
    for (int64_t i = 0; i < N; i++) {
        double s = x[i * d] * x[i * d + 1] + 0.5 * x[i * d + 2] - 0.3 * x[i * d + 3] * x[i * d + 3];
        int64_t c = s > 0 ? 1 : 0;
        if (K > 2) c += 2 * (x[i * d + 4] > 0.5) * (K > 3 ? 1 : 0) + (x[i * d + 5] > 1.0 ? 1 : 0);
        y[i] = (int32_t)(c % K);
    }
}

typedef struct {
    const nv_backend *be;
    nv_trainer *t;
} side;

static void open_side(side *s, const nv_backend *be, const nv_mlp_spec *spec, const nv_optim_spec *o,
                      const float *p0, const float *x, const int32_t *y) {
    nv_error err = {0};
    s->be = be;
    if (be->create(spec, o, BATCH, &s->t, &err) != NV_OK || be->set_state(s->t, p0, NULL, NULL, 0, &err) != NV_OK ||
        be->bind(s->t, NV_SLOT_TRAIN, x, y, N, &err) != NV_OK || be->bind(s->t, NV_SLOT_TEST, x, y, 1000, &err) != NV_OK)
        fail_msg("%s backend: %s", be->name, err.msg);
}

/* The network and optimiser of a case. */
static void case_spec(const parity_case *pc, nv_mlp_spec *spec, nv_optim_spec *o) {
    memset(spec, 0, sizeof *spec);
    spec->nlayers = pc->L;
    for (int l = 0; l <= pc->L; l++) spec->widths[l] = pc->widths[l];
    spec->act = pc->act;
    spec->leaky_slope = 0.01f;
    spec->init = NV_INIT_HE;
    *o = (nv_optim_spec){.kind = pc->opt, .lr = pc->lr, .momentum = pc->momentum, .weight_decay = pc->wd,
                         .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .lr_half_life = pc->half_life};
}

static void run_case(const parity_case *pc) {
    nv_mlp_spec spec;
    nv_optim_spec o;
    case_spec(pc, &spec, &o);
    const int64_t d = spec.widths[0], K = spec.widths[pc->L], P = nv_mlp_param_count(&spec);
    float *x = malloc((size_t)(N * d) * 4), *p0 = malloc((size_t)P * 4);
    int32_t *y = malloc((size_t)N * 4);
    make_data(d, K, x, y);
    nv_mlp_init_params(&spec, 9, p0);
    side cpu, gpu;
    open_side(&cpu, nv_backend_cpu(), &spec, &o, p0, x, y);
    open_side(&gpu, nv_backend_cuda(), &spec, &o, p0, x, y);
    nv_error err = {0};

    uint32_t *perm = malloc((size_t)N * 4);
    nv_rng_permutation(9, NV_STREAM_SHUFFLE, 0, perm, N);
    float *gc = malloc((size_t)P * 4), *gg = malloc((size_t)P * 4), lc, lg;
    if (cpu.be->gradient(cpu.t, perm, BATCH, &lc, gc, &err) != NV_OK ||
        gpu.be->gradient(gpu.t, perm, BATCH, &lg, gg, &err) != NV_OK)
        fail_msg("%s: gradient: %s", pc->name, err.msg);
    char what[160];
    snprintf(what, sizeof what, "%s: step-0 gradient", pc->name);
    nv_assert_close_f(gg, gc, P, 1e-5, 0, what);

    int64_t per_epoch = N / BATCH;
    double worst = 0;
    for (int64_t k = 0; k < STEPS; k++) {
        if (k % per_epoch == 0) nv_rng_permutation(9, NV_STREAM_SHUFFLE, (uint64_t)(k / per_epoch) << 32, perm, N);
        const uint32_t *idx = perm + (k % per_epoch) * BATCH;
        if (cpu.be->step(cpu.t, idx, BATCH, &lc, &err) != NV_OK || gpu.be->step(gpu.t, idx, BATCH, &lg, &err) != NV_OK)
            fail_msg("%s: step %lld: %s", pc->name, (long long)k + 1, err.msg);
        double rel = fabs((double)lg - lc) / fabs((double)lc);
        worst = rel > worst ? rel : worst;
        if (!(fabs((double)lg - lc) <= 1e-4 * fabs((double)lc)))
            fail_msg("%s: step %lld: CUDA loss %.9g, CPU %.9g (rtol 1e-4)", pc->name, (long long)k + 1,
                     (double)lg, (double)lc);
    }
    float *pc_ = malloc((size_t)P * 4), *pg = malloc((size_t)P * 4);
    int64_t sc, sg;
    if (cpu.be->get_state(cpu.t, pc_, NULL, NULL, &sc, &err) != NV_OK ||
        gpu.be->get_state(gpu.t, pg, NULL, NULL, &sg, &err) != NV_OK)
        fail_msg("%s: get_state: %s", pc->name, err.msg);
    assert_int_equal(sc, sg);
    /* The contract is the per-step loss; the parameters are a sanity check with room
     * for Adam, whose normalised step can turn a rounding-level difference in a
     * near-zero gradient into a difference of up to lr per step. */
    snprintf(what, sizeof what, "%s: parameters after %d steps", pc->name, STEPS);
    nv_assert_close_f(pg, pc_, P, 1e-3, 1e-2, what);
    double lsc, lsg;
    int64_t okc, okg;
    for (int slot = 0; slot < NV_SLOTS; slot++) {
        if (cpu.be->evaluate(cpu.t, slot, &lsc, &okc, &err) != NV_OK ||
            gpu.be->evaluate(gpu.t, slot, &lsg, &okg, &err) != NV_OK)
            fail_msg("%s: evaluate: %s", pc->name, err.msg);
        int64_t rows = slot == NV_SLOT_TRAIN ? N : 1000;
        assert_true(fabs(lsg - lsc) <= 1e-4 * fabs(lsc));
        assert_true(fabs((double)(okg - okc)) / (double)rows <= 0.005);
    }
    /* activations of the last hidden layer across the chunk boundary */
    int layer = pc->L > 1 ? pc->L - 1 : 1;
    int64_t w = spec.widths[layer], r0 = 4000, rows = 200;
    float *ac = malloc((size_t)(rows * w) * 4), *ag = malloc((size_t)(rows * w) * 4);
    for (int pre = 0; pre < 2; pre++) {
        if (cpu.be->activations(cpu.t, NV_SLOT_TRAIN, r0, rows, layer, pre, ac, &err) != NV_OK ||
            gpu.be->activations(gpu.t, NV_SLOT_TRAIN, r0, rows, layer, pre, ag, &err) != NV_OK)
            fail_msg("%s: activations: %s", pc->name, err.msg);
        snprintf(what, sizeof what, "%s: layer %d activations (pre %d)", pc->name, layer, pre);
        nv_assert_close_f(ag, ac, rows * w, 1e-3, 1e-2, what);
    }
    print_message("%-32s worst per-step relative loss difference %.2e, final loss %.4f\n", pc->name, worst,
                  (double)lc);
    cpu.be->destroy(cpu.t);
    gpu.be->destroy(gpu.t);
    free(x); free(p0); free(y); free(perm); free(gc); free(gg); free(pc_); free(pg); free(ac); free(ag);
}

static void test_training_parity(void **state) {
    (void)state;
    for (size_t i = 0; i < NV_ARRAY_LEN(cases); i++) run_case(&cases[i]);
}

/* A non-finite loss on the device: reported with the step, the state frozen at the
 * last good step, with and without the loss requested. */
static void test_nan_guard(void **state) {
    (void)state;
    const nv_backend *be = nv_backend_cuda();
    nv_mlp_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.nlayers = 2;
    spec.widths[0] = 4; spec.widths[1] = 8; spec.widths[2] = 2;
    spec.act = NV_ACT_RELU;
    nv_optim_spec o = {.kind = NV_OPT_ADAM, .lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    float x[40], p0[58], before[58], after[58];
    int32_t y[10];
    for (int i = 0; i < 40; i++) x[i] = nv_rng_normal(1, NV_STREAM_TEST, (uint64_t)i);
    for (int i = 0; i < 10; i++) y[i] = i % 2;
    assert_int_equal(nv_mlp_param_count(&spec), 58);
    nv_mlp_init_params(&spec, 1, p0);
    x[0] = NAN; /* row 0 poisons any batch that holds it */
    uint32_t good[4] = {1, 2, 3, 4}, poison[4] = {0, 5, 6, 7};
    for (int with_loss = 0; with_loss < 2; with_loss++) {
        nv_trainer *t;
        nv_error err = {0};
        if (be->create(&spec, &o, 4, &t, &err) != NV_OK || be->set_state(t, p0, NULL, NULL, 0, &err) != NV_OK ||
            be->bind(t, NV_SLOT_TRAIN, x, y, 10, &err) != NV_OK)
            fail_msg("%s", err.msg);
        float loss;
        assert_int_equal(be->step(t, good, 4, &loss, &err), NV_OK);
        assert_int_equal(be->get_state(t, before, NULL, NULL, NULL, &err), NV_OK);
        nv_status st = be->step(t, poison, 4, with_loss ? &loss : NULL, &err);
        if (with_loss) {
            assert_int_equal(st, NV_ENUMERIC);
            assert_true(!isfinite(loss));
        } else {
            /* no sync: the step is queued and reports OK; later ones change nothing */
            assert_int_equal(st, NV_OK);
            be->step(t, good, 4, NULL, &err);
        }
        nv_error_clear(&err);
        int64_t step;
        assert_int_equal(be->get_state(t, after, NULL, NULL, &step, &err), NV_ENUMERIC);
        assert_non_null(strstr(err.msg, "step 2"));
        assert_int_equal(step, 1);
        assert_memory_equal(before, after, sizeof before);
        nv_error_clear(&err);
        assert_int_equal(be->step(t, good, 4, NULL, &err), NV_ENUMERIC);
        nv_error_clear(&err);
        /* restoring a good state trains again */
        assert_int_equal(be->set_state(t, before, NULL, NULL, 1, &err), NV_OK);
        assert_int_equal(be->step(t, good, 4, &loss, &err), NV_OK);
        assert_true(isfinite(loss));
        be->destroy(t);
    }
}

/* |got - want| within rtol of the largest |want| of the array: sums that cancel
 * (an influence near 0) are compared at the array's scale, not their own. */
static void close_scaled(const float *got, const float *want, int64_t n, double rtol, const char *what) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)want[i]));
    nv_assert_close_f(got, want, n, rtol * m + 1e-30, 0, what);
}

/* The recorder's buffers for one step of a network (what src/dynamics/recorder.c
 * hands a backend). */
typedef struct {
    nv_dyn_step o;
    float *mem;
    int32_t *sc;
} rec_bufs;

static void rec_bufs_init(rec_bufs *r, const nv_mlp_spec *s, int64_t b) {
    memset(r, 0, sizeof *r);
    int64_t total = b; /* sample_loss */
    for (int k = 0; k < s->nlayers; k++)
        total += NV_DU_COUNT * s->widths[k + 1] + 2 * b + b * s->widths[k] + 2 * b * s->widths[k + 1];
    r->mem = calloc((size_t)total, sizeof(float));
    r->sc = calloc((size_t)b, sizeof(int32_t));
    float *p = r->mem;
    r->o.sample_loss = p, p += b;
    r->o.sample_correct = r->sc;
    for (int k = 0; k < s->nlayers; k++) {
        for (int q = 0; q < NV_DU_COUNT; q++) r->o.unit[k][q] = p, p += s->widths[k + 1];
        r->o.a_sq[k] = p, p += b;
        r->o.d_sq[k] = p, p += b;
        r->o.a[k] = p, p += b * s->widths[k];
        r->o.d[k] = p, p += b * s->widths[k + 1];
        r->o.pre[k] = p, p += b * s->widths[k + 1];
    }
}

/* step_record (nv_backend.step_record) on the CUDA backend: each recorded number
 * against the CPU backend's on the same steps (the training-parity tolerances of
 * docs/CONTRACTS.md, at the scale of each array), three kinds of request in turn
 * (everything; the steps tier and samples; factors alone, which updates all the
 * parameters at once); and a recorded step is the same step: the parameters after
 * 40 recorded steps are the same bits as after 40 plain ones on the device. */
static void test_step_record(void **state) {
    (void)state;
    enum { RSTEPS = 40 };
    static const parity_case rcases[] = {
        {"spheres-expressive relu adam", 4, {12, 64, 64, 64, 2}, NV_ACT_RELU, NV_OPT_ADAM, 1e-3f, 0, 0},
        {"tanh sgd momentum wd", 3, {12, 48, 48, 3}, NV_ACT_TANH, NV_OPT_SGD, 0.05f, 0.9f, 1e-3f},
    };
    for (size_t c = 0; c < NV_ARRAY_LEN(rcases); c++) {
        const parity_case *pc = &rcases[c];
        nv_mlp_spec spec;
        nv_optim_spec o;
        case_spec(pc, &spec, &o);
        const int L = pc->L;
        const int64_t d = spec.widths[0], K = spec.widths[L], P = nv_mlp_param_count(&spec);
        float *x = malloc((size_t)(N * d) * 4), *p0 = malloc((size_t)P * 4);
        int32_t *y = malloc((size_t)N * 4);
        make_data(d, K, x, y);
        nv_mlp_init_params(&spec, 9, p0);
        side cpu, gpu, plain;
        open_side(&cpu, nv_backend_cpu(), &spec, &o, p0, x, y);
        open_side(&gpu, nv_backend_cuda(), &spec, &o, p0, x, y);
        open_side(&plain, nv_backend_cuda(), &spec, &o, p0, x, y);
        rec_bufs rc, rg;
        rec_bufs_init(&rc, &spec, BATCH);
        rec_bufs_init(&rg, &spec, BATCH);
        uint32_t *perm = malloc((size_t)N * 4);
        nv_rng_permutation(11, NV_STREAM_SHUFFLE, 0, perm, N);
        nv_error err = {0};
        char what[200];
        for (int s = 0; s < RSTEPS; s++) {
            const uint32_t *idx = perm + (size_t)s * BATCH;
            nv_dyn_request req = {0};
            int kind = s % 3;
            req.layer_stats = kind != 2;
            req.unit_stats = kind == 0;
            req.samples = kind != 2;
            req.factors = kind != 1;
            req.pre = kind == 0;
            req.w0 = p0;
            req.alarm_abs = 0.02f;
            for (int k = 0; k < L; k++) req.alarm_rel[k] = k == 1 ? NAN : 0.01f * (float)(k + 1);
            float lc, lg, lp;
            if (cpu.be->step_record(cpu.t, idx, BATCH, &lc, &req, &rc.o, &err) != NV_OK ||
                gpu.be->step_record(gpu.t, idx, BATCH, &lg, &req, &rg.o, &err) != NV_OK ||
                plain.be->step(plain.t, idx, BATCH, &lp, &err) != NV_OK)
                fail_msg("%s: step %d: %s", pc->name, s + 1, err.msg);
            if (memcmp(&lg, &lp, sizeof lg))
                fail_msg("%s: step %d: recorded loss %.9g, plain step's %.9g (the same bits expected)", pc->name,
                         s + 1, (double)lg, (double)lp);
            if (!(fabs((double)lg - lc) <= 1e-4 * fabs((double)lc)))
                fail_msg("%s: step %d: CUDA loss %.9g, CPU %.9g (rtol 1e-4)", pc->name, s + 1, (double)lg, (double)lc);
            if (llabs((long long)(rg.o.correct - rc.o.correct)) > 1)
                fail_msg("%s: step %d: correct %lld on CUDA, %lld on the CPU", pc->name, s + 1,
                         (long long)rg.o.correct, (long long)rc.o.correct);
            for (int k = 0; k < L && req.layer_stats; k++) {
                const int64_t w = spec.widths[k + 1], np = spec.widths[k] * w + w;
                static const int sums[] = {NV_DL_WEIGHT_SQ, NV_DL_GRAD_SQ, NV_DL_BEFORE_SQ, NV_DL_UPDATE_SQ,
                                           NV_DL_INIT_SQ};
                for (size_t q = 0; q < NV_ARRAY_LEN(sums); q++) {
                    double a = rg.o.layer[k][sums[q]], b = rc.o.layer[k][sums[q]];
                    /* the update of Adam normalises tiny gradients: looser */
                    double tol = sums[q] == NV_DL_UPDATE_SQ || sums[q] == NV_DL_INIT_SQ ? 2e-2 : 1e-3;
                    if (!(fabs(a - b) <= tol * fabs(b) + 1e-12))
                        fail_msg("%s: step %d layer %d: sum %d: CUDA %.9g, CPU %.9g", pc->name, s + 1, k,
                                 sums[q], a, b);
                }
                for (int q = NV_DL_ALARM_ABS; q <= NV_DL_DEAD; q++) {
                    double a = rg.o.layer[k][q], b = rc.o.layer[k][q];
                    /* counts of entries beside a threshold may differ by a few */
                    if (!(fabs(a - b) <= 2 + 0.01 * (double)np))
                        fail_msg("%s: step %d layer %d: count %d: CUDA %g, CPU %g", pc->name, s + 1, k, q, a, b);
                }
                assert_true(rg.o.layer[k][NV_DL_NONFINITE_GRAD] == 0 && rg.o.layer[k][NV_DL_NONFINITE_WEIGHT] == 0);
                if (k == 1) assert_true(rg.o.layer[k][NV_DL_ALARM_REL] == 0); /* a NaN threshold counts nothing */
            }
            for (int k = 0; k < L; k++) {
                const int64_t w = spec.widths[k + 1];
                if (req.unit_stats)
                    for (int q = 0; q < NV_DU_COUNT; q++) {
                        snprintf(what, sizeof what, "%s: step %d layer %d unit statistic %d", pc->name, s + 1, k, q);
                        close_scaled(rg.o.unit[k][q], rc.o.unit[k][q], w, q == NV_DU_UPDATE_NORM ? 2e-2 : 1e-3, what);
                    }
                if (req.samples) {
                    snprintf(what, sizeof what, "%s: step %d layer %d |a_i|^2", pc->name, s + 1, k);
                    close_scaled(rg.o.a_sq[k], rc.o.a_sq[k], BATCH, 1e-4, what);
                    snprintf(what, sizeof what, "%s: step %d layer %d |d_i|^2", pc->name, s + 1, k);
                    close_scaled(rg.o.d_sq[k], rc.o.d_sq[k], BATCH, 1e-3, what);
                }
                if (req.factors) {
                    snprintf(what, sizeof what, "%s: step %d layer %d a_i", pc->name, s + 1, k);
                    close_scaled(rg.o.a[k], rc.o.a[k], BATCH * spec.widths[k], 1e-4, what);
                    snprintf(what, sizeof what, "%s: step %d layer %d d_i", pc->name, s + 1, k);
                    close_scaled(rg.o.d[k], rc.o.d[k], BATCH * w, 1e-3, what);
                    if (req.pre) {
                        snprintf(what, sizeof what, "%s: step %d layer %d pre-activations", pc->name, s + 1, k);
                        close_scaled(rg.o.pre[k], rc.o.pre[k], BATCH * w, 1e-4, what);
                    }
                }
            }
            if (req.samples) {
                snprintf(what, sizeof what, "%s: step %d per-sample loss", pc->name, s + 1);
                nv_assert_close_f(rg.o.sample_loss, rc.o.sample_loss, BATCH, 1e-5, 1e-4, what);
                int diff = 0;
                for (int i = 0; i < BATCH; i++) diff += rg.o.sample_correct[i] != rc.o.sample_correct[i];
                assert_true(diff <= 1);
            }
        }
        float *pg = malloc((size_t)P * 4), *pp = malloc((size_t)P * 4), *s1g = malloc((size_t)P * 4),
              *s1p = malloc((size_t)P * 4);
        int64_t sg, sp;
        if (gpu.be->get_state(gpu.t, pg, s1g, NULL, &sg, &err) != NV_OK ||
            plain.be->get_state(plain.t, pp, s1p, NULL, &sp, &err) != NV_OK)
            fail_msg("%s: get_state: %s", pc->name, err.msg);
        assert_int_equal(sg, RSTEPS);
        assert_int_equal(sp, RSTEPS);
        if (memcmp(pg, pp, (size_t)P * 4) || memcmp(s1g, s1p, (size_t)P * 4))
            fail_msg("%s: the parameters after %d recorded steps differ from those after %d plain ones", pc->name,
                     RSTEPS, RSTEPS);
        print_message("%-32s step_record: %d steps, parity with the CPU and with plain steps\n", pc->name, RSTEPS);
        cpu.be->destroy(cpu.t);
        gpu.be->destroy(gpu.t);
        plain.be->destroy(plain.t);
        free(rc.mem); free(rc.sc); free(rg.mem); free(rg.sc);
        free(x); free(p0); free(y); free(perm); free(pg); free(pp); free(s1g); free(s1p);
    }
}

static void test_select(void **state) {
    (void)state;
    const nv_backend *be;
    const char *note;
    nv_error err = {0};
    assert_int_equal(nv_backend_select(NV_DEVICE_AUTO, &be, &note, &err), NV_OK);
    assert_string_equal(be->name, "cuda");
    assert_null(note);
    assert_int_equal(nv_backend_select(NV_DEVICE_CUDA, &be, &note, &err), NV_OK);
    assert_string_equal(be->name, "cuda");
}

int main(void) {
    int rc = nv_test_gpu_skip("the CUDA backend parity");
    if (rc) return rc;
    char why[512];
    nv_cuda_status(why, sizeof why);
    printf("device: %s\n", why);
    if (!nv_backend_cuda()) {
        printf("FAIL: a CUDA device is usable but the CUDA backend did not load\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_training_parity),
        cmocka_unit_test(test_nan_guard),
        cmocka_unit_test(test_step_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
