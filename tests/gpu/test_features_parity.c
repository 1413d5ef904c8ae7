/* test_features_parity.c: the CUDA feature-image backend (cuda/features.cu) against
 * its CPU reference (analysis/features/features.c) through the shared nv_features_ops
 * contract. Tolerances (docs/CONTRACTS.md, |gpu - cpu| <= atol + rtol |cpu|):
 *   one operation on the same input (step, decay, blur, clip, shift, keep, project):
 *     exact (atol 0, rtol 0): the kernels round as the CPU does (__fmul_rn, ...)
 *   gradient to the input (sgemm sums in another order):  atol 1e-5, rtol 1e-4
 *   a whole ascent without clipping, 200 steps (relu and tanh nets, blur, decay,
 *   jitter on an 8x8 image): inputs atol 2e-3 (box width 1), objective rtol 1e-3
 *   -- the iterates drift apart by rounding only, and the best-iterate choice may
 *   pick neighbouring steps;
 *   projections (cuda/projections.cu against analysis/features/projections.c), every
 *   layer, with and without pre, 3 rules: exact (atol 0, rtol 0) on ReLU and leaky
 *   ReLU nets (plain kernels summing in the CPU's order with explicitly rounded
 *   intrinsics); tanh and sigmoid nets within atol 1e-6, rtol 1e-4 (the device's
 *   tanhf/expf differ from glibc's by an ulp or two).
 * Exits 77 with "SKIP: no usable CUDA device (...)" without a GPU or CUDA build.
 */
#include "nerve/features.h"
#include "nerve/projections.h"
#include "nerve/rng.h"
#include "testutil.h"

static nv_real *make_net(nv_mlp_spec *s, const int64_t *w, int L, nv_activation act) {
    memset(s, 0, sizeof *s);
    s->nlayers = L;
    for (int l = 0; l <= L; l++) s->widths[l] = w[l];
    s->act = act;
    int64_t np = nv_mlp_param_count(s);
    nv_real *p = malloc((size_t)np * sizeof *p);
    for (int64_t i = 0; i < np; i++) p[i] = 0.3f * nv_rng_normal(5, NV_STREAM_TEST, (uint64_t)i);
    return p;
}

typedef struct {
    nv_mlp_spec s;
    nv_real *P, lo[64], hi[64], c[64];
    nv_features_problem pb;
    nv_features_params p;
} fixture;

static void setup(fixture *f, nv_activation act, int layer) {
    const int64_t w[] = {64, 48, 32, 10};
    f->P = make_net(&f->s, w, 3, act);
    for (int i = 0; i < 64; i++) { f->lo[i] = 0; f->hi[i] = 1; f->c[i] = 0.2f + 0.005f * i; }
    f->pb = (nv_features_problem){&f->s, f->P, layer, f->lo, f->hi, f->c, NULL};
    nv_features_defaults(&f->p);
    f->p.img_h = f->p.img_w = 8;
    f->p.blur_width = 0.8f;
    f->p.jitter = 2;
    f->p.seed = 9;
}

/* Runs one operation on both backends from the same host input; compares. */
typedef enum { OP_GRAD, OP_STEP, OP_DECAY, OP_BLUR, OP_CLIP, OP_CLIPG, OP_SHIFT, OP_KEEP, OP_PROJECT } op_kind;

static void one_op(fixture *f, op_kind k, double atol, double rtol, const char *what) {
    const nv_features_ops *be[2] = {nv_features_ops_cpu(), nv_features_ops_cuda()};
    int64_t n = f->s.widths[f->pb.layer], d = 64;
    nv_real *hx = malloc((size_t)(n * d) * sizeof *hx), *hg = malloc((size_t)(n * d) * sizeof *hg);
    nv_real *out[2], *outz[2], hz[64];
    for (int64_t i = 0; i < n * d; i++) {
        hx[i] = nv_rng_uniform(1, NV_STREAM_TEST, (uint64_t)i) * 1.4f - 0.2f; /* some outside */
        hg[i] = nv_rng_normal(2, NV_STREAM_TEST, (uint64_t)i);
    }
    for (int64_t r = 0; r < n; r++) hz[r] = nv_rng_normal(3, NV_STREAM_TEST, (uint64_t)r);
    for (int b = 0; b < 2; b++) {
        void *ctx;
        nv_error err = {0};
        nv_real *x, *g, *t, *z, *xb, *zb;
        assert_int_equal(be[b]->create(&f->pb, &f->p, n, &ctx, &err), NV_OK);
        assert_int_equal(be[b]->alloc(ctx, n * d, &x, &err), NV_OK);
        assert_int_equal(be[b]->alloc(ctx, n * d, &g, &err), NV_OK);
        assert_int_equal(be[b]->alloc(ctx, n * d, &t, &err), NV_OK);
        assert_int_equal(be[b]->alloc(ctx, n * d, &xb, &err), NV_OK);
        assert_int_equal(be[b]->alloc(ctx, n, &z, &err), NV_OK);
        assert_int_equal(be[b]->alloc(ctx, n, &zb, &err), NV_OK);
        assert_int_equal(be[b]->upload(ctx, x, hx, n * d, &err), NV_OK);
        assert_int_equal(be[b]->upload(ctx, g, hg, n * d, &err), NV_OK);
        assert_int_equal(be[b]->upload(ctx, z, hz, n, &err), NV_OK);
        assert_int_equal(be[b]->upload(ctx, zb, hz + 1, n - 1, &err), NV_OK);
        nv_status st = NV_OK;
        switch (k) {
        case OP_GRAD: st = be[b]->grad(ctx, x, n, 0, g, z, &err); break;
        case OP_STEP: st = be[b]->step(ctx, x, g, n, 0.037f, &err); break;
        case OP_DECAY: st = be[b]->decay(ctx, x, n, 0.3f, &err); break;
        case OP_BLUR: st = be[b]->blur(ctx, x, t, n, 0.8f, &err); break;
        case OP_CLIP: st = be[b]->clip(ctx, x, NULL, t, n, 50.0f, &err); break;
        case OP_CLIPG: st = be[b]->clip(ctx, x, g, t, n, 90.0f, &err); break;
        case OP_SHIFT: st = be[b]->shift(ctx, g, x, n, 3, 17, 1, &err); break;
        case OP_KEEP: st = be[b]->keep(ctx, x, z, xb, zb, n, 0, &err); break;
        case OP_PROJECT: st = be[b]->project(ctx, x, n, &err); break;
        }
        assert_int_equal(st, NV_OK);
        out[b] = malloc((size_t)(n * d) * sizeof(nv_real));
        outz[b] = malloc((size_t)n * sizeof(nv_real));
        nv_real *src = k == OP_GRAD ? g : (k == OP_KEEP ? xb : x);
        assert_int_equal(be[b]->download(ctx, out[b], src, n * d, &err), NV_OK);
        assert_int_equal(be[b]->download(ctx, outz[b], k == OP_KEEP ? zb : z, n, &err), NV_OK);
        be[b]->release(ctx, x); be[b]->release(ctx, g); be[b]->release(ctx, t);
        be[b]->release(ctx, xb); be[b]->release(ctx, z); be[b]->release(ctx, zb);
        be[b]->destroy(ctx);
    }
    nv_assert_close_f(out[1], out[0], n * d, atol, rtol, what);
    if (k == OP_GRAD || k == OP_KEEP) nv_assert_close_f(outz[1], outz[0], n, atol, rtol, what);
    for (int b = 0; b < 2; b++) { free(out[b]); free(outz[b]); }
    free(hx);
    free(hg);
}

static void test_ops_parity(void **state) {
    (void)state;
    for (int layer = 1; layer <= 3; layer++) {
        fixture f;
        setup(&f, NV_ACT_RELU, layer);
        one_op(&f, OP_GRAD, 1e-5, 1e-4, "grad (relu)");
        one_op(&f, OP_STEP, 0, 0, "step");
        one_op(&f, OP_DECAY, 0, 0, "decay");
        one_op(&f, OP_BLUR, 0, 0, "blur");
        one_op(&f, OP_CLIP, 0, 0, "clip by norm");
        one_op(&f, OP_CLIPG, 0, 0, "clip by contribution");
        one_op(&f, OP_SHIFT, 0, 0, "shift");
        one_op(&f, OP_KEEP, 0, 0, "keep");
        one_op(&f, OP_PROJECT, 0, 0, "project");
        free(f.P);
        setup(&f, NV_ACT_TANH, layer);
        one_op(&f, OP_GRAD, 1e-5, 1e-4, "grad (tanh)");
        free(f.P);
    }
}

static void test_ascent_parity(void **state) {
    (void)state;
    nv_activation acts[2] = {NV_ACT_RELU, NV_ACT_TANH};
    for (int a = 0; a < 2; a++)
        for (int layer = 1; layer <= 3; layer++) {
            fixture f;
            setup(&f, acts[a], layer);
            f.p.steps = 200;
            f.p.decay = 0.01f;
            f.p.blur_every = 4;
            int64_t n = f.s.widths[layer];
            nv_real *x[2], z[2][64];
            nv_error err = {0};
            for (int b = 0; b < 2; b++) {
                x[b] = malloc((size_t)(n * 64) * sizeof(nv_real));
                const nv_features_ops *ops = b ? nv_features_ops_cuda() : nv_features_ops_cpu();
                double t0 = nv_now();
                assert_int_equal(nv_features_ascend_ops(ops, &f.pb, &f.p, x[b], z[b], &err), NV_OK);
                print_message("%s layer %d %s: %.3f s\n", nv_activation_name(acts[a]), layer, ops->name, nv_now() - t0);
            }
            nv_assert_close_f(x[1], x[0], n * 64, 2e-3, 0, "ascent inputs");
            nv_assert_close_f(z[1], z[0], n, 1e-4, 1e-3, "ascent objective");
            free(x[0]); free(x[1]); free(f.P);
        }
}

static void test_projections_parity(void **state) {
    (void)state;
    nv_activation acts[4] = {NV_ACT_RELU, NV_ACT_LEAKY_RELU, NV_ACT_TANH, NV_ACT_SIGMOID};
    const int64_t w[] = {64, 48, 32, 10};
    for (int a = 0; a < 4; a++) {
        nv_mlp_spec s;
        nv_real *P = make_net(&s, w, 3, acts[a]);
        s.leaky_slope = 0.01f;
        double atol = a < 2 ? 0 : 1e-6, rtol = a < 2 ? 0 : 1e-4;
        for (int pre = 0; pre <= 1; pre++)
            for (int layer = 1; layer <= 3; layer++) {
                int64_t n = 9 * w[layer], d = 64;
                nv_real *x = malloc((size_t)(n * d) * sizeof *x);
                nv_real *out[2], seed[2][9 * 48];
                int64_t *units = malloc((size_t)n * sizeof *units);
                for (int64_t r = 0; r < n; r++) {
                    units[r] = r / 9;
                    for (int64_t i = 0; i < d; i++) /* image-like: a third exactly zero */
                        x[r * d + i] = i % 3 == 0 ? 0.0f : nv_rng_uniform(6, NV_STREAM_TEST, (uint64_t)(r * d + i));
                }
                nv_projection_problem pb = {&s, P, layer, pre};
                for (int b = 0; b < 2; b++) {
                    nv_error err = {0};
                    out[b] = malloc((size_t)(n * NV_PROJ_RULES * d) * sizeof(nv_real));
                    double t0 = nv_now();
                    nv_status st = b ? nv_projections_cuda(&pb, x, n, units, out[b], seed[b], &err)
                                     : nv_projections_cpu(&pb, x, n, units, out[b], seed[b], &err);
                    if (st != NV_OK) fail_msg("%s: %s", b ? "cuda" : "cpu", err.msg);
                    if (layer == 3 && !pre)
                        print_message("projections %s layer %d %s: %.3f s\n", nv_activation_name(acts[a]),
                                      layer, b ? "cuda" : "cpu", nv_now() - t0);
                }
                char what[96];
                snprintf(what, sizeof what, "projections %s layer %d pre %d", nv_activation_name(acts[a]), layer, pre);
                nv_assert_close_f(out[1], out[0], n * NV_PROJ_RULES * d, atol, rtol, what);
                nv_assert_close_f(seed[1], seed[0], n, atol, rtol, what);
                free(out[0]); free(out[1]); free(x); free(units);
            }
        free(P);
    }
}

int main(void) {
    int rc = nv_test_gpu_skip("the feature-image parity");
    if (rc) return rc;
    char why[512];
    nv_cuda_status(why, sizeof why);
    printf("device: %s\n", why);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_parity),
        cmocka_unit_test(test_ascent_parity),
        cmocka_unit_test(test_projections_parity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
