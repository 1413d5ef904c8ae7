/* train_bench.c: training throughput of nerve's backends (samples per second), the
 * nerve side of bench/train_bench.sh (PyTorch's side is bench/train_torch.py, the
 * same MLP, data size, batch and optimiser). Prints one line:
 *   nerve <backend> widths=<w> batch=<b> steps=<t> seconds=<s> samples_per_s=<r>
 *         cpu_seconds=<c> samples_per_cpu_s=<q> final_loss=<l>
 * (CPU time of the whole process over the timed window: on a shared machine it
 * says what the work cost when wall time also counts the neighbours.)
 *
 *   train_bench [--widths 12,64,64,64,2] [--act relu] [--opt adam|sgd] [--batch 64]
 *               [--n 10000] [--seconds 3] [--device cpu|cuda|auto]
 *
 * The loop is a real training loop: one seeded permutation per epoch, every step
 * asks for its loss (as a logger would), a short warm-up is not timed. BLAS threads
 * come from OPENBLAS_NUM_THREADS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nerve/mlp.h"
#include "nerve/rng.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    nv_mlp_spec spec;
    memset(&spec, 0, sizeof spec);
    const char *widths = "12,64,64,64,2", *device = "cpu";
    spec.act = NV_ACT_RELU;
    spec.leaky_slope = 0.01f;
    nv_optim_spec opt = {.kind = NV_OPT_ADAM, .lr = 1e-3f, .momentum = 0.9f, .beta1 = 0.9f,
                         .beta2 = 0.999f, .eps = 1e-8f};
    int64_t batch = 64, n = 10000;
    double seconds = 3.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--widths")) widths = v;
        else if (!strcmp(a, "--act")) spec.act = (nv_activation)nv_activation_parse(v);
        else if (!strcmp(a, "--opt")) opt.kind = !strcmp(v, "sgd") ? NV_OPT_SGD : NV_OPT_ADAM;
        else if (!strcmp(a, "--batch")) batch = atoll(v);
        else if (!strcmp(a, "--n")) n = atoll(v);
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--device")) device = v;
        else { fprintf(stderr, "train_bench: unknown option %s\n", a); return 2; }
    }
    int L = -1;
    for (const char *p = widths; *p;) {
        char *end;
        spec.widths[++L] = strtol(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    spec.nlayers = L;
    nv_error err = {0};
    const nv_backend *be;
    const char *note;
    nv_device_kind want = !strcmp(device, "cuda") ? NV_DEVICE_CUDA
                          : !strcmp(device, "auto") ? NV_DEVICE_AUTO : NV_DEVICE_CPU;
    if (nv_backend_select(want, &be, &note, &err) != NV_OK) { fprintf(stderr, "train_bench: %s\n", err.msg); return 1; }
    if (note) fprintf(stderr, "train_bench: %s\n", note);

    const int64_t d = spec.widths[0], K = spec.widths[L], P = nv_mlp_param_count(&spec);
    float *x = malloc((size_t)(n * d) * sizeof *x), *p0 = malloc((size_t)P * sizeof *p0);
    int32_t *y = malloc((size_t)n * sizeof *y);
    uint32_t *perm = malloc((size_t)n * sizeof *perm);
    for (int64_t i = 0; i < n * d; i++) x[i] = nv_rng_normal(1, NV_STREAM_TEST, (uint64_t)i);
    for (int64_t i = 0; i < n; i++) y[i] = (int32_t)((x[i * d] * x[i * d + 1] > 0) ? 1 : 0) % (int32_t)K;
    nv_mlp_init_params(&spec, 1, p0);
    nv_trainer *t;
    if (be->create(&spec, &opt, batch, &t, &err) != NV_OK || be->set_state(t, p0, NULL, NULL, 0, &err) != NV_OK ||
        be->bind(t, NV_SLOT_TRAIN, x, y, n, &err) != NV_OK) {
        fprintf(stderr, "train_bench: %s\n", err.msg);
        return 1;
    }
    const int64_t per_epoch = n / batch;
    int64_t steps = 0, epoch = 0;
    float loss = 0;
    double sum = 0, t0 = 0, c0 = 0;
    const int64_t warm = 200;
    for (;;) {
        nv_rng_permutation(1, NV_STREAM_SHUFFLE, (uint64_t)epoch++ << 32, perm, (uint32_t)n);
        for (int64_t k = 0; k < per_epoch; k++) {
            if (be->step(t, perm + k * batch, batch, &loss, &err) != NV_OK) {
                fprintf(stderr, "train_bench: %s\n", err.msg);
                return 1;
            }
            sum += loss;
            if (++steps == warm) {
                t0 = nv_now();
                c0 = cpu_now();
            }
        }
        if (steps > warm && nv_now() - t0 >= seconds) break;
    }
    double dt = nv_now() - t0, dc = cpu_now() - c0;
    int64_t timed = steps - warm;
    printf("nerve %s widths=%s batch=%lld steps=%lld seconds=%.3f samples_per_s=%.0f cpu_seconds=%.3f "
           "samples_per_cpu_s=%.0f final_loss=%.4f\n",
           be->name, widths, (long long)batch, (long long)timed, dt, (double)(timed * batch) / dt, dc,
           (double)(timed * batch) / dc, (double)loss);
    be->destroy(t);
    free(x); free(p0); free(y); free(perm);
    (void)sum;
    return 0;
}
