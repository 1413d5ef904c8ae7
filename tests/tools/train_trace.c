/* train_trace.c: trains one MLP with nerve and writes everything an outside oracle
 * needs to replay the run: the data, the initial parameters, the sample order, the
 * gradient at step 0, the per-step losses and the final parameters. The PyTorch
 * comparison (tests/integration/train_torch_parity.py) and the GPU parity test
 * drive it; it is a test driver, not part of the nerve program.
 *
 *   train_trace --widths 12,64,64,2 --act relu|leaky_relu|tanh|sigmoid|identity
 *               [--slope 0.01] [--init he|xavier] --opt sgd|adam --lr LR
 *               [--momentum M] [--wd WD] [--beta1 B1] [--beta2 B2] [--eps E]
 *               [--half-life STEPS] (train.lr_half_life)
 *               [--seed S] [--n ROWS] [--batch B] [--steps T] [--device cpu|cuda|auto]
 *               --out DIR
 *
 * Files in DIR (raw little-endian arrays, shapes from the arguments):
 *   x.f32 (n, widths[0])   y.i32 (n)           params0.f32 (P)  order.u32 (steps, batch)
 *   grad0.f32 (P): gradient of the first batch's mean loss at params0 (no weight decay)
 *   loss.f32 (steps): each step's batch mean loss, before its update
 *   params.f32 (P): after the last step    eval.txt: "loss_sum correct n" on x, y
 * Data: x standard normal from NV_STREAM_TEST; the label of a row is the argmax of
 * a fixed random projection of (x, x^2) (so every class occurs). The order is one
 * seeded permutation per epoch (NV_STREAM_SHUFFLE, index epoch << 32 | position),
 * consecutive batches, the incomplete last batch of an epoch dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nerve/mlp.h"
#include "nerve/rng.h"

static void usage(const char *msg) {
    fprintf(stderr, "train_trace: %s\n", msg);
    fprintf(stderr, "usage: train_trace --widths W0,W1,..,WL --act A --opt sgd|adam --lr LR --out DIR "
                    "[--slope S] [--init he|xavier] [--momentum M] [--wd WD] [--beta1 B] [--beta2 B] [--half-life T] "
                    "[--eps E] [--seed S] [--n N] [--batch B] [--steps T] [--device cpu|cuda|auto]\n");
    exit(2);
}

static int write_raw(const char *dir, const char *name, const void *p, size_t bytes) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "train_trace: %s: %s\n", path, strerror(errno)); return -1; }
    size_t k = fwrite(p, 1, bytes, f);
    if (fclose(f) != 0 || k != bytes) { fprintf(stderr, "train_trace: %s: write failed\n", path); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    nv_mlp_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.act = NV_ACT_RELU;
    spec.leaky_slope = 0.01f;
    spec.init = NV_INIT_HE;
    nv_optim_spec opt = {.kind = NV_OPT_SGD, .lr = 0.01f, .momentum = 0.0f, .weight_decay = 0.0f,
                         .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    uint64_t seed = 1;
    int64_t n = 512, batch = 32, steps = 200;
    const char *out = NULL, *device = "cpu";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage("every option takes a value");
        const char *v = argv[++i];
        if (!strcmp(a, "--widths")) {
            int L = -1;
            const char *p = v;
            while (*p) {
                char *end;
                long w = strtol(p, &end, 10);
                if (end == p || w < 1) usage("--widths: expected comma-separated positive integers");
                if (++L > NV_MAX_LAYERS) usage("--widths: too many layers");
                spec.widths[L] = w;
                p = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') usage("--widths: expected comma-separated integers");
            }
            spec.nlayers = L;
        } else if (!strcmp(a, "--act")) {
            int k = nv_activation_parse(v);
            if (k < 0) usage("--act: unknown activation");
            spec.act = (nv_activation)k;
        } else if (!strcmp(a, "--slope")) spec.leaky_slope = strtof(v, NULL);
        else if (!strcmp(a, "--init")) {
            if (!strcmp(v, "he")) spec.init = NV_INIT_HE;
            else if (!strcmp(v, "xavier")) spec.init = NV_INIT_XAVIER;
            else usage("--init: expected he or xavier");
        } else if (!strcmp(a, "--opt")) {
            if (!strcmp(v, "sgd")) opt.kind = NV_OPT_SGD;
            else if (!strcmp(v, "adam")) opt.kind = NV_OPT_ADAM;
            else usage("--opt: expected sgd or adam");
        } else if (!strcmp(a, "--lr")) opt.lr = strtof(v, NULL);
        else if (!strcmp(a, "--momentum")) opt.momentum = strtof(v, NULL);
        else if (!strcmp(a, "--wd")) opt.weight_decay = strtof(v, NULL);
        else if (!strcmp(a, "--beta1")) opt.beta1 = strtof(v, NULL);
        else if (!strcmp(a, "--beta2")) opt.beta2 = strtof(v, NULL);
        else if (!strcmp(a, "--eps")) opt.eps = strtof(v, NULL);
        else if (!strcmp(a, "--half-life")) opt.lr_half_life = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--n")) n = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--batch")) batch = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--steps")) steps = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--out")) out = v;
        else usage("unknown option");
    }
    if (!out) usage("--out is required");
    if (n < 1 || batch < 1 || batch > n || steps < 1) usage("need 1 <= batch <= n and steps >= 1");
    nv_device_kind want = !strcmp(device, "cuda") ? NV_DEVICE_CUDA
                          : !strcmp(device, "auto") ? NV_DEVICE_AUTO : NV_DEVICE_CPU;
    nv_error err = {0};
    const nv_backend *be;
    const char *note;
    if (nv_backend_select(want, &be, &note, &err) != NV_OK) {
        fprintf(stderr, "train_trace: %s\n", err.msg);
        return err.status == NV_ENODEVICE ? 77 : 1; /* no GPU here: skip; a failing one: fail */
    }
    if (note) fprintf(stderr, "train_trace: %s\n", note);
    if (nv_mlp_spec_validate(&spec, &err) != NV_OK) { fprintf(stderr, "train_trace: %s\n", err.msg); return 2; }
    mkdir(out, 0755);

    const int L = spec.nlayers;
    const int64_t d = spec.widths[0], K = spec.widths[L], P = nv_mlp_param_count(&spec);
    const int64_t per_epoch = n / batch;
    float *x = malloc((size_t)(n * d) * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    float *proj = malloc((size_t)(K * 2 * d) * sizeof *proj); /* (K, 2d) */
    float *p0 = malloc((size_t)P * sizeof *p0), *g0 = malloc((size_t)P * sizeof *g0);
    uint32_t *order = malloc((size_t)(steps * batch) * sizeof *order);
    uint32_t *perm = malloc((size_t)n * sizeof *perm);
    float *losses = malloc((size_t)steps * sizeof *losses);
    if (!x || !y || !proj || !p0 || !g0 || !order || !perm || !losses) { fprintf(stderr, "train_trace: out of memory\n"); return 1; }

    for (int64_t i = 0; i < n * d; i++) x[i] = nv_rng_normal(seed, NV_STREAM_TEST, (uint64_t)i);
    for (int64_t i = 0; i < K * 2 * d; i++) proj[i] = nv_rng_normal(seed + 1, NV_STREAM_TEST, (uint64_t)i);
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        double bv = -1e300;
        for (int64_t c = 0; c < K; c++) {
            double s = 0;
            for (int64_t j = 0; j < d; j++) {
                double v = x[i * d + j];
                s += proj[c * 2 * d + j] * v + 0.5 * proj[c * 2 * d + d + j] * (v * v - 1);
            }
            if (s > bv) { bv = s; best = c; }
        }
        y[i] = (int32_t)best;
    }
    for (int64_t k = 0; k < steps; k++) {
        int64_t epoch = k / per_epoch, pos = k % per_epoch;
        if (pos == 0) nv_rng_permutation(seed, NV_STREAM_SHUFFLE, (uint64_t)epoch << 32, perm, (uint32_t)n);
        memcpy(order + k * batch, perm + pos * batch, (size_t)batch * sizeof *order);
    }
    nv_mlp_init_params(&spec, seed, p0);

    nv_trainer *t = NULL;
    int rc = 1;
    if (be->create(&spec, &opt, batch, &t, &err) != NV_OK) goto done;
    if (be->set_state(t, p0, NULL, NULL, 0, &err) != NV_OK) goto done;
    if (be->bind(t, NV_SLOT_TRAIN, x, y, n, &err) != NV_OK) goto done;
    float l0;
    if (be->gradient(t, order, batch, &l0, g0, &err) != NV_OK) goto done;
    int64_t k;
    for (k = 0; k < steps; k++)
        if (be->step(t, order + k * batch, batch, &losses[k], &err) != NV_OK) break;
    if (k < steps) {
        fprintf(stderr, "train_trace: step %lld: %s\n", (long long)(k + 1), err.msg);
        goto done;
    }
    float *pf = malloc((size_t)P * sizeof *pf); /* (P) final params */
    if (!pf || be->get_state(t, pf, NULL, NULL, NULL, &err) != NV_OK) goto done;
    double ls = 0;
    int64_t correct = 0;
    if (be->evaluate(t, NV_SLOT_TRAIN, &ls, &correct, &err) != NV_OK) goto done;
    char ev[128];
    int evn = snprintf(ev, sizeof ev, "%.17g %lld %lld\n", ls, (long long)correct, (long long)n);
    if (write_raw(out, "x.f32", x, (size_t)(n * d) * 4) || write_raw(out, "y.i32", y, (size_t)n * 4) ||
        write_raw(out, "params0.f32", p0, (size_t)P * 4) ||
        write_raw(out, "order.u32", order, (size_t)(steps * batch) * 4) ||
        write_raw(out, "grad0.f32", g0, (size_t)P * 4) || write_raw(out, "loss.f32", losses, (size_t)steps * 4) ||
        write_raw(out, "params.f32", pf, (size_t)P * 4) || write_raw(out, "eval.txt", ev, (size_t)evn)) {
        free(pf);
        goto done;
    }
    free(pf);
    fprintf(stderr, "train_trace: %s backend, %lld steps, loss %.6g -> %.6g\n", be->name, (long long)steps,
            (double)losses[0], (double)losses[steps - 1]);
    rc = 0;
done:
    if (rc && err.status != NV_OK) fprintf(stderr, "train_trace: %s\n", err.msg);
    be->destroy(t);
    free(x); free(y); free(proj); free(p0); free(g0); free(order); free(perm); free(losses);
    return rc;
}
