/* test_dynamics.c: the training-dynamics recorder (include/nerve/dynamics.h):
 * schedules; the statistics kernels (dyn_kernels.h) against plain double loops and
 * their lane order bit for bit; the influence against finite differences of the
 * loss; step_record performs the same step as step (same bytes); the store round
 * trip through nv_train_run and the reader (chunk boundaries at epochs, manifest,
 * rows, resume truncation and the alarm window read back); bad configs. */
#include "testutil.h"

#include <float.h>
#include <unistd.h>

#include "dynamics/dyn_store.h"
#include "nerve/config.h"
#include "nerve/dyn_kernels.h"
#include "nerve/dynamics.h"
#include "nerve/info.h"
#include "nerve/kernels.h"
#include "nerve/mlp.h"
#include "nerve/plot.h"
#include "nerve/report.h"
#include "nerve/rng.h"
#include "nerve/run.h"

static char g_dir[256];

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", nv_test_tmpdir("dynamics"));
    return 0;
}

static float frand(uint64_t i) { return nv_rng_normal(11, 7, i); }

/* ---- schedules ---------------------------------------------------------------------- */
static void test_schedules(void **state) {
    (void)state;
    nv_dyn_span sp = {10, 25}; /* 250 steps */
    nv_dyn_schedule e = {.kind = NV_SCHED_EVERY, .every = 16};
    assert_false(nv_dyn_scheduled(&e, &sp, 0));
    assert_false(nv_dyn_scheduled(&e, &sp, 15));
    assert_true(nv_dyn_scheduled(&e, &sp, 16));
    assert_true(nv_dyn_scheduled(&e, &sp, 240));
    assert_false(nv_dyn_scheduled(&e, &sp, 256)); /* past the run */
    assert_int_equal(nv_dyn_scheduled_count(&e, &sp, 1, 250), 15);
    assert_int_equal(nv_dyn_scheduled_count(&e, &sp, 17, 47), 1);
    nv_dyn_schedule lg = {.kind = NV_SCHED_LOG, .count = 12};
    int64_t n = 0, first = -1, last = -1;
    for (int64_t s = 1; s <= 250; s++)
        if (nv_dyn_scheduled(&lg, &sp, s)) {
            n++;
            if (first < 0) first = s;
            last = s;
        }
    assert_int_equal(first, 1);
    assert_int_equal(last, 250);
    assert_int_equal(n, nv_dyn_scheduled_count(&lg, &sp, 1, 250));
    assert_true(n >= 8 && n <= 12); /* rounding merges the first few */
    for (int64_t a = 1; a <= 250; a += 37) /* counts over ranges agree with membership */
        for (int64_t b = a; b <= 250; b += 53) {
            int64_t m = 0;
            for (int64_t s = a; s <= b; s++) m += nv_dyn_scheduled(&lg, &sp, s);
            assert_int_equal(m, nv_dyn_scheduled_count(&lg, &sp, a, b));
        }
    nv_dyn_schedule one = {.kind = NV_SCHED_LOG, .count = 1};
    assert_int_equal(nv_dyn_scheduled_count(&one, &sp, 1, 250), 1);
    assert_true(nv_dyn_scheduled(&one, &sp, 250));
    nv_dyn_schedule ep = {.kind = NV_SCHED_EPOCHS, .nepochs = 2, .epochs = {2, 10}};
    assert_false(nv_dyn_scheduled(&ep, &sp, 25));
    assert_true(nv_dyn_scheduled(&ep, &sp, 26));
    assert_true(nv_dyn_scheduled(&ep, &sp, 50));
    assert_false(nv_dyn_scheduled(&ep, &sp, 51));
    assert_int_equal(nv_dyn_scheduled_count(&ep, &sp, 1, 250), 50);
    char t[64];
    nv_dyn_schedule_text(&ep, t, sizeof t);
    assert_string_equal(t, "epochs = [2, 10]");

    /* a schedule that records nothing of the run is refused, naming the key */
    nv_dyn_config c = {.enabled = 1};
    c.on[NV_DYN_SAMPLES] = 1;
    c.sched[NV_DYN_SAMPLES] = (nv_dyn_schedule){.kind = NV_SCHED_EVERY, .every = 1000};
    nv_error err = {0};
    assert_int_equal(nv_dyn_check(&c, &sp, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "dynamics.samples"));
    assert_non_null(strstr(err.msg, "every = 1000"));
    c.on[NV_DYN_SAMPLES] = 0;
    nv_error_clear(&err);
    assert_int_equal(nv_dyn_check(&c, &sp, &err), NV_EINPUT); /* every tier off */
    assert_non_null(strstr(err.msg, "every tier is off"));
}

/* ---- kernels ------------------------------------------------------------------------- */
/* The contract's lane order, written out plainly (what the GPU twin does). */
static float lane_sumsq(const float *x, int64_t n) {
    float l[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) l[j] += x[i + j] * x[i + j];
    float s = (l[0] + l[1]) + (l[2] + l[3]);
    for (; i < n; i++) s += x[i] * x[i];
    return s;
}

static void test_kernels(void **state) {
    (void)state;
    enum { R = 13, C = 11 };
    float x[R * C + R], y[R * C + R], z[R * C + R], out[C], out2[C], rs[R];
    for (int i = 0; i < R * C + R; i++) {
        x[i] = frand((uint64_t)i);
        y[i] = frand((uint64_t)i + 1000);
        z[i] = frand((uint64_t)i + 2000);
    }
    for (int64_t n = 0; n <= R * C; n += 7) {
        float s = nv_cpu_dyn_sumsq(x, n);
        assert_true(s == lane_sumsq(x, n)); /* the documented order, bit for bit */
        double d = 0;
        for (int64_t i = 0; i < n; i++) d += (double)x[i] * x[i];
        nv_assert_close_f(&s, &(float){(float)d}, 1, 1e-6, 1e-6, "sumsq vs double");
    }
    nv_cpu_dyn_row_sumsq(x, R, C, rs);
    for (int r = 0; r < R; r++) assert_true(rs[r] == lane_sumsq(x + r * C, C));

    /* unit statistics: column sums in row order (float), active counts, influence
     * (rounded product, then add), |dz|; in one pass, or any subset */
    float sa[C], na[C], si[C], sd[C];
    nv_cpu_dyn_unit_stats(x, y, z, z, R, C, sa, na, si, sd);
    for (int c = 0; c < C; c++) {
        float a = 0, cnt = 0, in = 0, ad = 0;
        for (int r = 0; r < R; r++) {
            a += x[r * C + c];
            cnt += y[r * C + c] > 0;
            in += x[r * C + c] * z[r * C + c];
            ad += fabsf(z[r * C + c]);
        }
        assert_true(sa[c] == a && na[c] == cnt && si[c] == fabsf(in) && sd[c] == ad);
    }
    nv_cpu_dyn_unit_stats(NULL, y, NULL, NULL, R, C, NULL, out, NULL, NULL); /* outputs skipped, inputs unread */
    assert_memory_equal(out, na, sizeof out);
    nv_cpu_dyn_unit_stats(NULL, NULL, NULL, z, R, C, NULL, NULL, NULL, out);
    assert_memory_equal(out, sd, sizeof out);
    nv_cpu_dyn_unit_stats(x, y, z, NULL, R, C, out2, out, si, NULL);
    assert_memory_equal(out2, sa, sizeof out2);
    nv_cpu_dyn_unit_stats(x, NULL, z, NULL, R, C, NULL, NULL, out, NULL); /* the general loop */
    assert_memory_equal(out, si, sizeof out);

    /* gradient statistics of a layer block W (R-1, C) + b: rows, total, counts */
    const int O = R - 1, I = C;
    float g[R * C + R];
    memcpy(g, x, sizeof g);
    g[5] = NAN;
    g[O * I + 2] = INFINITY; /* in the bias */
    float row[R];
    double total;
    int64_t cnt[3];
    nv_cpu_dyn_grad_stats(g, O, I, 1.0f, 0.5f, row, &total, cnt);
    int64_t ca = 0, cr = 0, cn = 0;
    double t = 0;
    for (int r = 0; r <= O; r++) {
        const float *p = r < O ? g + r * I : g + O * I;
        int n = r < O ? I : O;
        float s = lane_sumsq(p, n);
        if (r < O) assert_true(row[r] == s || (isnan(row[r]) && isnan(s)));
        t += (double)s;
        for (int i = 0; i < n; i++) {
            float m = fabsf(p[i]);
            ca += m > 1.0f;
            cr += m > 0.5f;
            cn += !isfinite(p[i]);
        }
    }
    assert_int_equal(cnt[0], ca);
    assert_int_equal(cnt[1], cr);
    assert_int_equal(cnt[2], 2);
    assert_int_equal(cn, 2);
    assert_true(isnan(total) && isnan(t));
    g[5] = 0.5f;
    g[O * I + 2] = -3.0f;
    nv_cpu_dyn_grad_stats(g, O, I, INFINITY, NAN, NULL, &total, cnt); /* +inf, NaN: no alarms */
    assert_int_equal(cnt[0], 0);
    assert_int_equal(cnt[1], 0);
    assert_int_equal(cnt[2], 0);

    /* update statistics */
    float before[R * C + R], after[R * C + R], w0[R * C + R];
    for (int i = 0; i < O * I + O; i++) {
        before[i] = x[i];
        after[i] = x[i] - 0.01f * y[i];
        w0[i] = z[i];
    }
    double sums[4];
    int64_t nf;
    nv_cpu_dyn_update_stats(before, after, w0, O, I, row, sums, &nf);
    double ref[4] = {0, 0, 0, 0};
    for (int r = 0; r <= O; r++) {
        int off = r < O ? r * I : O * I, n = r < O ? I : O;
        float u[C + R], d[C + R];
        for (int i = 0; i < n; i++) {
            u[i] = after[off + i] - before[off + i];
            d[i] = after[off + i] - w0[off + i];
        }
        if (r < O) assert_true(row[r] == lane_sumsq(u, n));
        ref[0] += lane_sumsq(after + off, n);
        ref[1] += lane_sumsq(before + off, n);
        ref[2] += lane_sumsq(u, n);
        ref[3] += lane_sumsq(d, n);
    }
    for (int q = 0; q < 4; q++) assert_true(sums[q] == ref[q]);
    assert_int_equal(nf, 0);
    /* non-finite entries are counted where they are; a row of large finite values
     * whose squares overflow holds none */
    after[1] = NAN;
    after[O * I + 1] = -INFINITY;
    for (int i = 0; i < I; i++) after[2 * I + i] = 3e30f;
    nv_cpu_dyn_update_stats(before, after, w0, O, I, row, sums, &nf);
    assert_int_equal(nf, 2);
    assert_true(isinf(row[2]));
    for (int i = 0; i < I; i++) g[I + i] = -2e30f;
    g[3 * I] = INFINITY;
    nv_cpu_dyn_grad_stats(g, O, I, 1.0f, 1.0f, row, &total, cnt);
    assert_true(isinf(row[1]) && isinf(row[3]));
    assert_int_equal(cnt[2], 1);
    assert_true(cnt[0] >= I);
    nv_cpu_dyn_scale_copy(out, z, C, 64.0f);
    for (int c = 0; c < C; c++) assert_true(out[c] == 64.0f * z[c]);
}

/* The recorded step's fused update (nv_cpu_dyn_update_fused) against what it
 * replaces: a copy of the block, nv_cpu_apply_update on the whole block (weight
 * decay, then SGD in its three modes or Adam), nv_cpu_dyn_update_stats on the copy
 * and the result. Parameters, state, gradient and statistics equal bit for bit, for
 * widths that are and are not multiples of four lanes, with and without w0 and
 * weight decay, over several steps (Adam's bias correction, SGD's first step); and
 * the gradient's statistics it takes on the way equal nv_cpu_dyn_grad_stats'. */
/* a[i] and b[i] are the same bits, or both NaN: which NaN an operation on NaNs
 * gives depends on the order of its operands, which the compiler may choose. */
static void same_f32(const float *a, const float *b, int n) {
    for (int i = 0; i < n; i++)
        if (!(isnan(a[i]) && isnan(b[i])) && memcmp(a + i, b + i, sizeof *a))
            fail_msg("entry %d: %.9g != %.9g", i, (double)a[i], (double)b[i]);
}
static void same_f64(const double *a, const double *b, int n) {
    for (int i = 0; i < n; i++)
        if (!(isnan(a[i]) && isnan(b[i])) && memcmp(a + i, b + i, sizeof *a))
            fail_msg("entry %d: %.17g != %.17g", i, a[i], b[i]);
}

static void test_update_fused(void **state) {
    (void)state;
    const int shapes[][2] = {{5, 7}, {4, 8}, {3, 12}, {1, 1}, {9, 2}};
    for (int sh = 0; sh < 5; sh++) {
        const int O = shapes[sh][0], I = shapes[sh][1], N = O * I + O;
        for (int cfg = 0; cfg < 8; cfg++) {
            nv_optim_spec o = {.kind = cfg < 4 ? NV_OPT_SGD : NV_OPT_ADAM, .lr = 0.05f, .beta1 = 0.9f,
                               .beta2 = 0.999f, .eps = 1e-8f};
            o.momentum = cfg < 4 && (cfg & 1) ? 0.9f : 0.0f;
            o.weight_decay = cfg & 2 ? 0.01f : 0.0f;
            if (cfg >= 6) o.lr_half_life = 3;
            const int with_w0 = cfg & 1 || cfg >= 4;
            float w[2][64], s1[2][64], s2[2][64], g[2][64], w0[64], before[64], row[2][16];
            for (int i = 0; i < N; i++) {
                w[0][i] = w[1][i] = frand(1000 + (uint64_t)i);
                s1[0][i] = s1[1][i] = s2[0][i] = s2[1][i] = 0.0f;
                w0[i] = w[0][i] + 0.1f * frand(2000 + (uint64_t)i);
            }
            for (int64_t step = 1; step <= 4; step++) {
                for (int i = 0; i < N; i++) g[0][i] = g[1][i] = frand(3000 + (uint64_t)(step * 100 + i));
                if (step == 3) g[0][1] = g[1][1] = NAN; /* a non-finite result is counted alike */
                if (step == 2) g[0][N - 1] = g[1][N - 1] = INFINITY;
                double sums[2][4], gtotal;
                int64_t nf[2], gcounts[3];
                float grow[16], grow2[16];
                const float athr = 0.8f, rthr = step == 4 ? NAN : 1.5f;
                nv_cpu_dyn_grad_stats(g[0], O, I, athr, rthr, grow, &gtotal, gcounts);
                memcpy(before, w[0], sizeof(float) * (size_t)N);
                nv_cpu_apply_update(&o, w[0], s1[0], s2[0], g[0], N, step);
                nv_cpu_dyn_update_stats(before, w[0], with_w0 ? w0 : NULL, O, I, row[0], sums[0], &nf[0]);
                nv_dyn_grad_out go = {.alarm_abs = athr, .alarm_rel = rthr, .row_sq = step == 3 ? NULL : grow2};
                nv_cpu_dyn_update_fused(&o, step, w[1], s1[1], s2[1], g[1], with_w0 ? w0 : NULL, O, I,
                                        cfg == 5 ? NULL : &go, row[1], sums[1], &nf[1]);
                if (cfg != 5) { /* the gradient's statistics, before the weight decay */
                    if (step != 3) same_f32(grow, grow2, O);
                    same_f64(&gtotal, &go.total, 1);
                    assert_memory_equal(gcounts, go.counts, sizeof gcounts);
                    if (O * I > 8) assert_true(gcounts[0] > 0 && gcounts[0] < N);
                }
                same_f32(w[0], w[1], N);
                same_f32(s1[0], s1[1], N);
                same_f32(s2[0], s2[1], N);
                same_f32(g[0], g[1], N);
                same_f32(row[0], row[1], O);
                same_f64(sums[0], sums[1], 4);
                assert_int_equal(nf[0], nf[1]);
                if (step == 3) assert_true(nf[0] > 0);
                if (step == 2 && cfg != 5) assert_true(go.counts[2] == 1);
                if (step == 1) assert_true(sums[0][2] > 0.0); /* the update moved something */
            }
        }
    }
}

/* A hidden layer's activation backward fused with its unit statistics
 * (nv_cpu_dyn_unit_backward) against the three passes it replaces: the statistics
 * of the output and g, nv_cpu_act_backward, mean |dz| of the result. Every
 * activation, a width that takes the 8-, 4- and 1-column paths, in place (dz = g)
 * and not. */
static void test_unit_backward(void **state) {
    (void)state;
    enum { R = 7, W = 13 };
    const nv_activation acts[] = {NV_ACT_RELU, NV_ACT_LEAKY_RELU, NV_ACT_TANH, NV_ACT_SIGMOID, NV_ACT_IDENTITY};
    for (int a = 0; a < 5; a++)
        for (int inplace = 0; inplace < 2; inplace++) {
            float pre[R * W], post[R * W], g[2][R * W], dz[2][R * W], st[2][4][W];
            for (int i = 0; i < R * W; i++) {
                pre[i] = frand(5000 + (uint64_t)i);
                if (i % 11 == 3) pre[i] = 0.0f;
                nv_cpu_act_forward(acts[a], 0.1f, pre + i, post + i, 1);
                g[0][i] = g[1][i] = frand(6000 + (uint64_t)i);
            }
            nv_cpu_dyn_unit_stats(post, pre, g[0], NULL, R, W, st[0][0], st[0][1], st[0][2], NULL);
            nv_cpu_act_backward(acts[a], 0.1f, pre, post, g[0], dz[0], R * W);
            nv_cpu_dyn_unit_stats(NULL, NULL, NULL, dz[0], R, W, NULL, NULL, NULL, st[0][3]);
            float *out = inplace ? g[1] : dz[1];
            nv_cpu_dyn_unit_backward(acts[a], 0.1f, post, pre, g[1], out, R, W, st[1][0], st[1][1], st[1][2],
                                     st[1][3]);
            assert_memory_equal(dz[0], out, sizeof dz[0]);
            assert_memory_equal(st[0], st[1], sizeof st[0]);
            if (!inplace) assert_memory_equal(g[0], g[1], sizeof g[0]);
            assert_true(st[0][3][0] > 0.0f && st[0][2][5] > 0.0f);
        }
}

/* The f16 factors' conversion against the compiler's _Float16, bit for bit. */
static void test_f16(void **state) {
    (void)state;
    const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.99f, 65520.0f, 1e6f, -1e6f, 6.1035156e-05f,
                             6.0e-05f, 5.96e-08f, 2.98e-08f, 2.99e-08f, 1e-10f, 0.33333334f, INFINITY, -INFINITY,
                             NAN, 1.00048828125f, 1.00146484375f, 2049.0f, 2051.0f};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) {
        _Float16 h = (_Float16)special[i];
        uint16_t ref;
        memcpy(&ref, &h, 2);
        uint16_t got = dyn_f32_to_f16(special[i]);
        if (isnan(special[i])) assert_true((got & 0x7c00) == 0x7c00 && (got & 0x3ff));
        else if (got != ref) fail_msg("%.9g: 0x%04x, _Float16 0x%04x", (double)special[i], got, ref);
    }
    for (uint64_t i = 0; i < 2000000; i++) { /* random bit patterns over all exponents */
        uint32_t u = nv_rng_u32(3, 9, i);
        float f;
        memcpy(&f, &u, 4);
        if (isnan(f)) continue;
        _Float16 h = (_Float16)f;
        uint16_t ref;
        memcpy(&ref, &h, 2);
        uint16_t got = dyn_f32_to_f16(f);
        if (got != ref) fail_msg("%a: 0x%04x, _Float16 0x%04x", (double)f, got, ref);
    }
}

/* ---- the backend: same step, and the influence against finite differences ---------- */
typedef struct {
    nv_mlp_spec spec;
    nv_optim_spec opt;
    const nv_backend *be;
    nv_trainer *t;
    float *x;
    int32_t *y;
    int64_t n;
} fixture;

static void make(fixture *f, nv_opt_kind kind, nv_activation act) {
    memset(f, 0, sizeof *f);
    f->spec = (nv_mlp_spec){.nlayers = 3, .widths = {5, 9, 7, 3}, .act = act, .leaky_slope = 0.01f};
    f->opt = (nv_optim_spec){.kind = kind, .lr = kind == NV_OPT_ADAM ? 0.01f : 0.1f, .momentum = 0.9f,
                             .weight_decay = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    if (kind == NV_OPT_SGD) f->opt.momentum = 0.5f;
    f->be = nv_backend_cpu();
    nv_error err = {0};
    f->n = 40;
    f->x = malloc(sizeof(float) * 5 * 40);
    f->y = malloc(sizeof(int32_t) * 40);
    for (int i = 0; i < 5 * 40; i++) f->x[i] = frand(5000 + (uint64_t)i);
    for (int i = 0; i < 40; i++) f->y[i] = i % 3;
    if (f->be->create(&f->spec, &f->opt, 16, &f->t, &err)) fail_msg("%s", err.msg);
    int64_t np = nv_mlp_param_count(&f->spec);
    float *p = malloc(sizeof(float) * (size_t)np);
    nv_mlp_init_params(&f->spec, 5, p);
    for (int64_t i = 0; i < np; i++) p[i] += 0.05f * frand(9000 + (uint64_t)i); /* nonzero biases */
    assert_int_equal(f->be->set_state(f->t, p, NULL, NULL, 0, &err), NV_OK);
    assert_int_equal(f->be->bind(f->t, NV_SLOT_TRAIN, f->x, f->y, f->n, &err), NV_OK);
    free(p);
}

static void unmake(fixture *f) {
    f->be->destroy(f->t);
    free(f->x);
    free(f->y);
}

/* Buffers for every output of a recorded step of batch b. */
typedef struct {
    float units[3][NV_DU_COUNT][16], sl[16], asq[3][16], dsq[3][16], a[3][16 * 9], d[3][16 * 9], pre[3][16 * 9];
    int32_t sc[16];
} outbufs;

static void point(nv_dyn_step *o, outbufs *ob) {
    memset(o, 0, sizeof *o);
    for (int k = 0; k < 3; k++) {
        for (int q = 0; q < NV_DU_COUNT; q++) o->unit[k][q] = ob->units[k][q];
        o->a_sq[k] = ob->asq[k];
        o->d_sq[k] = ob->dsq[k];
        o->a[k] = ob->a[k];
        o->d[k] = ob->d[k];
        o->pre[k] = ob->pre[k];
    }
    o->sample_loss = ob->sl;
    o->sample_correct = ob->sc;
}

static void test_same_step(void **state) {
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        fixture f1, f2;
        make(&f1, (nv_opt_kind)kind, NV_ACT_RELU);
        make(&f2, (nv_opt_kind)kind, NV_ACT_RELU);
        int64_t np = nv_mlp_param_count(&f1.spec);
        float *w0 = malloc(sizeof(float) * (size_t)np);
        f1.be->get_state(f1.t, w0, NULL, NULL, NULL, NULL);
        nv_error err = {0};
        for (int s = 0; s < 6; s++) {
            uint32_t idx[16];
            for (int i = 0; i < 16; i++) idx[i] = (uint32_t)((s * 7 + i * 3) % 40);
            int64_t b = s == 5 ? 11 : 16; /* a short last batch too */
            float l1, l2;
            assert_int_equal(f1.be->step(f1.t, idx, b, &l1, &err), NV_OK);
            nv_dyn_request req = {.layer_stats = 1, .unit_stats = 1, .samples = 1, .factors = 1, .pre = 1,
                                  .w0 = w0, .alarm_abs = 0.1f};
            for (int k = 0; k < 3; k++) req.alarm_rel[k] = 0.05f;
            outbufs ob;
            nv_dyn_step o;
            point(&o, &ob);
            assert_int_equal(f2.be->step_record(f2.t, idx, b, &l2, &req, &o, &err), NV_OK);
            assert_true(l1 == l2);
        }
        float *p1 = malloc(sizeof(float) * 3 * (size_t)np), *p2 = malloc(sizeof(float) * 3 * (size_t)np);
        int64_t s1, s2;
        f1.be->get_state(f1.t, p1, p1 + np, p1 + 2 * np, &s1, &err);
        f2.be->get_state(f2.t, p2, p2 + np, p2 + 2 * np, &s2, &err);
        assert_int_equal(s1, s2);
        assert_memory_equal(p1, p2, sizeof(float) * 3 * (size_t)np); /* the same bytes */
        free(p1);
        free(p2);
        free(w0);
        unmake(&f1);
        unmake(&f2);
    }
}

/* Loss of the batch with the parameters p (the backend's own loss). */
static double batch_loss(fixture *f, const float *p, const uint32_t *idx, int64_t b) {
    nv_error err = {0};
    int64_t np = nv_mlp_param_count(&f->spec);
    float *g = malloc(sizeof(float) * (size_t)np), loss;
    f->be->set_state(f->t, p, NULL, NULL, 0, &err);
    f->be->gradient(f->t, idx, b, &loss, g, &err);
    free(g);
    return loss;
}

static void test_influence_fd(void **state) {
    (void)state;
    for (int act = 0; act < 3; act++) {
        fixture f;
        make(&f, NV_OPT_SGD, act == 0 ? NV_ACT_RELU : act == 1 ? NV_ACT_TANH : NV_ACT_SIGMOID);
        int64_t np = nv_mlp_param_count(&f.spec);
        float *p = malloc(sizeof(float) * (size_t)np), *q = malloc(sizeof(float) * (size_t)np);
        nv_error err = {0};
        f.be->get_state(f.t, p, NULL, NULL, NULL, &err);
        uint32_t idx[16];
        for (int i = 0; i < 16; i++) idx[i] = (uint32_t)(i * 2 + 1);
        nv_dyn_request req = {.layer_stats = 1, .unit_stats = 1, .samples = 1, .factors = 1};
        outbufs ob;
        nv_dyn_step o;
        point(&o, &ob);
        float loss;
        assert_int_equal(f.be->step_record(f.t, idx, 16, &loss, &req, &o, &err), NV_OK);
        /* scaling unit j's output by (1 - e) changes the loss by about -e sum a dL/da:
         * scale the next layer's column j (hidden units) or the logit's row (last) */
        const double e = 1e-3;
        for (int k = 0; k < 3; k++) {
            for (int j = 0; j < f.spec.widths[k + 1]; j++) {
                memcpy(q, p, sizeof(float) * (size_t)np);
                double lp, lm;
                for (int sgn = 0; sgn < 2; sgn++) {
                    double fac = sgn ? 1 + e : 1 - e;
                    memcpy(q, p, sizeof(float) * (size_t)np);
                    if (k < 2) {
                        float *W = q + nv_mlp_weight_offset(&f.spec, k + 1);
                        for (int r = 0; r < f.spec.widths[k + 2]; r++) W[r * f.spec.widths[k + 1] + j] *= (float)fac;
                    } else {
                        float *W = q + nv_mlp_weight_offset(&f.spec, k), *bb = q + nv_mlp_bias_offset(&f.spec, k);
                        for (int c = 0; c < f.spec.widths[k]; c++) W[j * f.spec.widths[k] + c] *= (float)fac;
                        bb[j] *= (float)fac;
                    }
                    if (sgn) lp = batch_loss(&f, q, idx, 16);
                    else lm = batch_loss(&f, q, idx, 16);
                }
                float fd = (float)fabs((lp - lm) / (2 * e));
                char what[96];
                snprintf(what, sizeof what, "influence of layer %d unit %d (act %d) vs central differences", k, j, act);
                nv_assert_close_f(&o.unit[k][NV_DU_INFLUENCE][j], &fd, 1, 2e-4, 2e-2, what);
            }
        }
        /* the unit's incoming-row gradient norm is the backend gradient's row norm */
        float *g = malloc(sizeof(float) * (size_t)np);
        f.be->set_state(f.t, p, NULL, NULL, 0, &err);
        f.be->gradient(f.t, idx, 16, &loss, g, &err);
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < f.spec.widths[k + 1]; j++) {
                const float *row = g + nv_mlp_weight_offset(&f.spec, k) + j * f.spec.widths[k];
                float ref = sqrtf(lane_sumsq(row, f.spec.widths[k]));
                assert_true(o.unit[k][NV_DU_GRAD_NORM][j] == ref);
            }
        /* per-sample gradient norm from the factors: ||d|| sqrt(||a||^2 + 1) against the
         * gradient of that one sample's loss */
        for (int i = 0; i < 3; i++) {
            f.be->gradient(f.t, &idx[i], 1, &loss, g, &err);
            for (int k = 0; k < 3; k++) {
                double s = 0;
                const float *blk = g + nv_mlp_weight_offset(&f.spec, k);
                for (int64_t m = 0; m < f.spec.widths[k] * f.spec.widths[k + 1] + f.spec.widths[k + 1]; m++)
                    s += (double)blk[m] * blk[m];
                float ref = (float)sqrt(s);
                float got = (float)sqrt((double)o.d_sq[k][i] * 256.0 * ((double)o.a_sq[k][i] + 1.0));
                nv_assert_close_f(&got, &ref, 1, 1e-6, 1e-4, "per-sample gradient norm from the factors");
            }
        }
        free(g);
        free(p);
        free(q);
        unmake(&f);
    }
}

/* ---- the store, through a real (small) training run ------------------------------ */
static const char *CFG =
    "experiment = \"dt\";\n"
    "data: { spheres: { dim = 5; points_per_class = 60; }; };\n" /* 96 train rows */
    "models: { hidden = [8, 6]; linear_baseline = false; };\n"
    "train: { epochs = 5; batch_size = 32; };\n"                /* 3 steps per epoch */
    "snapshots: { epochs = [5]; layers = [\"logits\"]; };\n"
    "dynamics: { enabled = true; chunk_steps = 6; models = [\"expressive\"];\n"
    "  samples: { every = 2; }; factors: { every = 1; }; weights: { every = 4; }; alarm: { window = 3; }; };\n";

static void train(const char *cfgpath, const char *out, int resume) {
    nv_experiment *ex = calloc(1, sizeof *ex);
    nv_error err = {0};
    if (nv_config_load(cfgpath, NULL, 0, ex, &err)) fail_msg("%s", err.msg);
    nv_train_options opt = {.out_dir = out, .resume = resume, .recorder = nv_dyn_hooks()};
    if (nv_train_run(ex, &opt, &err)) fail_msg("train: %s", err.msg);
    free(ex);
}

static void test_store_roundtrip(void **state) {
    (void)state;
    const char *cfg = nv_test_write_file(g_dir, "d.cfg", CFG);
    char run[512];
    snprintf(run, sizeof run, "%s/run", g_dir);
    train(cfg, run, 0);
    char names[4][64];
    int nm;
    nv_error err = {0};
    assert_int_equal(nv_dyn_models(run, names, 4, &nm, &err), NV_OK);
    assert_int_equal(nm, 1); /* models = ["expressive"] */
    assert_string_equal(names[0], "expressive");
    nv_dyn_run *r;
    assert_int_equal(nv_dyn_open(run, "expressive", &r, &err), NV_OK);
    const nv_dyn_info *in = nv_dyn_run_info(r);
    assert_int_equal(in->steps_per_epoch, 3);
    assert_int_equal(in->last_step, 15);
    assert_int_equal(in->nchunks, 3);           /* 2 epochs per chunk: [1,6] [7,12] [13,15] */
    assert_int_equal(in->rows[NV_DYN_STEPS], 15);
    assert_int_equal(in->rows[NV_DYN_SAMPLES], 7 * 32);
    assert_int_equal(in->rows[NV_DYN_FACTORS], 15 * 32);
    assert_int_equal(in->rows[NV_DYN_WEIGHTS], 4); /* 0, 4, 8, 12 */
    int64_t steps[15], r0, n;
    assert_int_equal(nv_dyn_read_i64(r, "steps/step", 0, 15, steps, &err), NV_OK);
    for (int i = 0; i < 15; i++) assert_int_equal(steps[i], i + 1);
    assert_int_equal(nv_dyn_rows_of_step(r, NV_DYN_SAMPLES, 6, &r0, &n, &err), NV_OK);
    assert_int_equal(r0, 2 * 32);
    assert_int_equal(n, 32);
    assert_int_equal(nv_dyn_rows_of_step(r, NV_DYN_SAMPLES, 7, &r0, &n, &err), NV_OK);
    assert_int_equal(n, 0);
    int64_t rows, cols;
    assert_int_equal(nv_dyn_shape(r, "neurons/hidden2/influence", &rows, &cols, &err), NV_OK);
    assert_int_equal(cols, 6);
    assert_int_equal(nv_dyn_shape(r, "neurons/hidden2/top_k", &rows, &cols, &err), NV_OK);
    assert_int_equal(cols, 6); /* min(top_k 8, width 6) */
    assert_int_equal(nv_dyn_shape(r, "steps/nope", &rows, &cols, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "steps/nope"));
    /* the alarm thresholds: NaN first, then relative x the median of <= 3 RMS values */
    float thr[15 * 3], gn[15 * 3];
    nv_dyn_read_f32(r, "steps/alarm_rel_threshold", 0, 15, thr, &err);
    nv_dyn_read_f32(r, "steps/grad_norm", 0, 15, gn, &err);
    assert_true(isnan(thr[0]));
    for (int s = 1; s < 15; s++) {
        double np = 5 * 8 + 8, v[3];
        int m = s < 3 ? s : 3;
        for (int i = 0; i < m; i++) v[i] = gn[(s - m + i) * 3] / sqrt(np);
        for (int i = 0; i < m; i++) /* sort m <= 3 */
            for (int j = i + 1; j < m; j++)
                if (v[j] < v[i]) { double t = v[i]; v[i] = v[j]; v[j] = t; }
        double med = m == 2 ? 0.5 * (v[0] + v[1]) : v[m / 2];
        float ref = (float)(10.0 * med);
        assert_true(thr[s * 3] == ref);
    }
    nv_dyn_close(r);

    /* nerve info's description: per tier steps, rows, bytes (from the manifest) */
    json_t *desc = NULL;
    assert_int_equal(nv_info_describe(run, &desc, &err), NV_OK);
    json_t *dm = json_object_get(json_object_get(desc, "dynamics"), "expressive");
    assert_non_null(dm);
    assert_int_equal(json_integer_value(json_object_get(dm, "chunks")), 3);
    assert_int_equal(json_integer_value(json_object_get(dm, "last_step")), 15);
    json_t *sm = json_object_get(json_object_get(dm, "tiers"), "samples");
    assert_int_equal(json_integer_value(json_object_get(sm, "steps")), 7);
    assert_int_equal(json_integer_value(json_object_get(sm, "rows")), 7 * 32);
    assert_true(json_integer_value(json_object_get(sm, "bytes")) > 7 * 32 * 8);
    assert_null(json_object_get(json_object_get(dm, "tiers"), "nothing"));
    json_decref(desc);

    /* the report's dynamics section: four figures, PNG and SVG */
    char page[600];
    assert_int_equal(nv_report_write(run, NULL, page, sizeof page, &err), NV_OK);
    char *html = nv_test_read_file(page, NULL);
    static const char *const stems[] = {"dynamics_norms", "dynamics_influence", "dynamics_dead", "dynamics_samples"};
    for (int i = 0; i < 4; i++) {
        char kind[64], f[700];
        snprintf(kind, sizeof kind, "data-kind=\"%s\"", stems[i]);
        if (!strstr(html, kind)) fail_msg("report lacks %s", kind);
        for (int e = 0; e < 2; e++) {
            snprintf(f, sizeof f, "%s/analysis/figures/%s.%s", run, stems[i], e ? "png" : "svg");
            assert_int_equal(access(f, F_OK), 0);
        }
    }
    assert_null(strstr(html, "No training-dynamics record"));
    free(html);

    /* chunk ranges: whole epochs, and pieces of a long epoch */
    dyn_layout l = {.steps_per_epoch = 3, .chunk_steps = 6, .epochs = 5};
    int64_t a, b, e0, e1;
    dyn_chunk_range(&l, 7, &a, &b, &e0, &e1);
    assert_true(a == 7 && b == 12 && e0 == 3 && e1 == 4);
    dyn_chunk_range(&l, 14, &a, &b, &e0, &e1);
    assert_true(a == 13 && b == 15 && e0 == 5 && e1 == 5);
    assert_false(dyn_chunk_ends_at_epoch(&l, 3));
    assert_true(dyn_chunk_ends_at_epoch(&l, 4));
    assert_true(dyn_chunk_ends_at_epoch(&l, 5));
    l.chunk_steps = 2;
    dyn_chunk_range(&l, 6, &a, &b, &e0, &e1);
    assert_true(a == 6 && b == 6 && e0 == 2 && e1 == 2);
    dyn_chunk_range(&l, 4, &a, &b, &e0, &e1);
    assert_true(a == 4 && b == 5);

    /* truncation to step 6 keeps chunk 0, drops the rest from manifest and disk */
    nv_experiment *ex = calloc(1, sizeof *ex);
    assert_int_equal(nv_config_load(cfg, NULL, 0, ex, &err), NV_OK);
    nv_model_def md[NV_MAX_MODELS];
    nv_experiment_models(ex, 5, 2, md);
    dyn_layout *lay;
    assert_int_equal(dyn_layout_new(ex, &md[0], "text", 3, 96, &lay, &err), NV_OK);
    dyn_writer *w;
    assert_int_equal(dyn_writer_new(lay, run, NULL, NULL, &w, &err), NV_OK);
    assert_int_equal(dyn_store_truncate(w, 6, &err), NV_OK);
    assert_int_equal(w->nchunks, 1);
    float tail[3 * 3];
    int64_t got;
    assert_int_equal(dyn_store_tail_grad_norm(w, 3, tail, &got, &err), NV_OK);
    assert_int_equal(got, 3);
    assert_memory_equal(tail, gn + 3 * 3, sizeof tail); /* steps 4..6, the stored floats */
    char p[600];
    snprintf(p, sizeof p, "%s/dynamics/expressive/chunk_000001.h5", run);
    assert_int_not_equal(access(p, F_OK), 0);
    assert_int_equal(nv_dyn_open(run, "expressive", &r, &err), NV_OK);
    assert_int_equal(nv_dyn_run_info(r)->last_step, 6);
    assert_int_equal(nv_dyn_run_info(r)->rows[NV_DYN_STEPS], 6);
    nv_dyn_close(r);
    dyn_writer_free(w);
    dyn_layout_free(lay);
    free(ex);

    /* a listed chunk that vanished is reported, not read as zeros */
    snprintf(p, sizeof p, "%s/dynamics/expressive/chunk_000000.h5", run);
    assert_int_equal(unlink(p), 0);
    nv_error_clear(&err);
    assert_int_equal(nv_dyn_open(run, "expressive", &r, &err), NV_EINPUT);
    if (!strstr(err.msg, "missing")) fail_msg("%s", err.msg);
}

/* ---- configs ---------------------------------------------------------------------- */
static void expect_error(const char *text, const char *needle1, const char *needle2) {
    char full[2048];
    snprintf(full, sizeof full, "train: { epochs = 4; };\n%s", text);
    const char *p = nv_test_write_file(g_dir, "bad.cfg", full);
    nv_experiment *ex = calloc(1, sizeof *ex);
    nv_error err = {0};
    nv_status st = nv_config_load(p, NULL, 0, ex, &err);
    free(ex);
    if (st != NV_EINPUT) fail_msg("expected NV_EINPUT for:\n%s\ngot %d (%s)", text, st, err.msg);
    if (needle1 && !strstr(err.msg, needle1)) fail_msg("message '%s' lacks '%s'", err.msg, needle1);
    if (needle2 && !strstr(err.msg, needle2)) fail_msg("message '%s' lacks '%s'", err.msg, needle2);
}

static void test_config(void **state) {
    (void)state;
    expect_error("dynamics: { enabled = true; gradients: { every = 1; }; };", "bad.cfg:2", "unknown key");
    expect_error("dynamics: { neurons: { influence2 = true; }; };", "dynamics.neurons.influence2", "allowed here");
    expect_error("dynamics: { steps: { every = 0; }; };", "dynamics.steps.every", "stride of 0");
    expect_error("dynamics: { factors: { epochs = [1, 5]; }; };", "dynamics.factors.epochs", "train.epochs = 4");
    expect_error("dynamics: { factors: { epochs = [0]; }; };", "dynamics.factors.epochs", "(0)");
    expect_error("dynamics: { samples: { log = 0; }; };", "dynamics.samples.log", "expected 1");
    expect_error("dynamics: { samples: { log = 5; every = 2; }; };", "dynamics.samples", "one schedule");
    expect_error("dynamics: { factors: { precision = \"f64\"; }; };", "dynamics.factors.precision", "f16");
    expect_error("dynamics: { models = [\"expressive\", \"wide\"]; };", "dynamics.models", "expressive, bottleneck");
    expect_error("dynamics: { compression = 12; };", "dynamics.compression", "out of range");

    /* defaults, and the resolved text reads back to the same config */
    const char *p = nv_test_write_file(g_dir, "ok.cfg",
                                       "train: { epochs = 4; };\ndynamics: { enabled = true; factors: { log = 7; "
                                       "precision = \"f16\"; }; samples: { epochs = [4, 2, 2]; }; };\n");
    nv_experiment *ex = calloc(1, sizeof *ex), *ex2 = calloc(1, sizeof *ex2);
    nv_error err = {0};
    assert_int_equal(nv_config_load(p, NULL, 0, ex, &err), NV_OK);
    const nv_dyn_config *c = &ex->dynamics;
    assert_true(c->enabled && c->all_models && c->chunk_steps == 0 && c->compression == 0);
    assert_true(c->on[NV_DYN_STEPS] && c->on[NV_DYN_NEURONS] && c->on[NV_DYN_WEIGHTS]);
    assert_true(c->on[NV_DYN_FACTORS] && c->on[NV_DYN_SAMPLES]); /* a schedule turns a tier on */
    assert_int_equal(c->sched[NV_DYN_FACTORS].kind, NV_SCHED_LOG);
    assert_int_equal(c->sched[NV_DYN_SAMPLES].nepochs, 2);
    assert_int_equal(c->sched[NV_DYN_SAMPLES].epochs[0], 2);
    assert_int_equal(c->sched[NV_DYN_WEIGHTS].every, 1000);
    assert_true(c->f16 && c->top_k == 8);
    char *text = nv_config_resolved_text(ex);
    const char *p2 = nv_test_write_file(g_dir, "resolved.cfg", text);
    assert_int_equal(nv_config_load(p2, NULL, 0, ex2, &err), NV_OK);
    char *text2 = nv_config_resolved_text(ex2);
    assert_string_equal(text, text2);
    assert_memory_equal(&ex->dynamics, &ex2->dynamics, sizeof ex->dynamics);
    free(text2);
    free(text);
    /* an override's schedule replaces the file's */
    const char *ov[] = {"dynamics: { factors: { every = 3; }; };"};
    assert_int_equal(nv_config_load(p, ov, 1, ex2, &err), NV_OK);
    assert_int_equal(ex2->dynamics.sched[NV_DYN_FACTORS].kind, NV_SCHED_EVERY);
    assert_int_equal(ex2->dynamics.sched[NV_DYN_FACTORS].every, 3);
    /* off: no dynamics group in the resolved text (runs without the recorder keep
     * their bytes) */
    const char *p3 = nv_test_write_file(g_dir, "off.cfg", "train: { epochs = 4; };\n");
    assert_int_equal(nv_config_load(p3, NULL, 0, ex2, &err), NV_OK);
    text = nv_config_resolved_text(ex2);
    assert_null(strstr(text, "dynamics"));
    free(text);
    free(ex);
    free(ex2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedules),    cmocka_unit_test(test_kernels),    cmocka_unit_test(test_update_fused), cmocka_unit_test(test_unit_backward),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_same_step),    cmocka_unit_test(test_influence_fd),
        cmocka_unit_test(test_store_roundtrip), cmocka_unit_test(test_config),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    nv_plot_release_caches(); /* fontconfig's caches, from the report's figures (ASan) */
    return rc;
}
