/* features_bench.c: timing driver of bench/features_bench.sh. Feature images of
 * every unit of a 256-wide hidden layer (the second of a 784-256-256-10 ReLU net
 * with He-initialised weights, inputs in a [0, 1] box as Fashion-MNIST's) by
 * nv_features_ascend:
 *   batched   all 256 units as one (256, 784) batch per step (the default)
 *   one       one unit at a time (params.batch = 1), the same steps
 *   cuda      batched on the GPU (a SKIP line when no device answers)
 * Each mode runs `reps` times, alternating; one line per run: "mode seconds".
 *
 *   features_bench [steps] [reps] [regularised]   (defaults 1000 3 0)
 * regularised = 1 turns on Yosinski et al.'s preset 1 (blur + norm clip).
 */
#include <stdio.h>
#include <stdlib.h>

#include "nerve/features.h"

int main(int argc, char **argv) {
    int64_t steps = argc > 1 ? atoll(argv[1]) : 1000;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    int reg = argc > 3 ? atoi(argv[3]) : 0;
    nv_mlp_spec s = {0};
    s.nlayers = 3;
    s.widths[0] = 784; s.widths[1] = 256; s.widths[2] = 256; s.widths[3] = 10;
    s.act = NV_ACT_RELU;
    s.init = NV_INIT_HE;
    nv_real *P = malloc((size_t)nv_mlp_param_count(&s) * sizeof *P);
    nv_mlp_init_params(&s, 1, P);
    static nv_real lo[784], hi[784], c[784];
    for (int i = 0; i < 784; i++) { lo[i] = 0; hi[i] = 1; c[i] = 0.3f; }
    nv_features_problem pb = {&s, P, 2, lo, hi, c, NULL};
    nv_features_params p;
    nv_features_defaults(&p);
    nv_error err = {0};
    if (reg) nv_features_preset(1, 1, &p, &err);
    p.steps = steps;
    p.img_h = p.img_w = 28;
    nv_real *x = malloc((size_t)(256 * 784) * sizeof *x), act[256];
    char why[256];
    int cuda = nv_cuda_usable(why, sizeof why);
    if (!cuda) printf("SKIP cuda: %s\n", why);
    printf("steps %lld, units 256, d 784, regularised %d\n", (long long)steps, reg);
    for (int r = 0; r < reps; r++) {
        for (int mode = 0; mode < 3; mode++) {
            if (mode == 2 && !cuda) continue;
            p.batch = mode == 1 ? 1 : 0;
            double t0 = nv_now();
            nv_status st = nv_features_ascend(&pb, &p, mode == 2 ? NV_DEVICE_CUDA : NV_DEVICE_CPU,
                                              x, act, NULL, &err);
            double t = nv_now() - t0;
            if (st != NV_OK) { fprintf(stderr, "features_bench: %s\n", err.msg); return 1; }
            printf("%s %.4f\n", mode == 0 ? "batched" : mode == 1 ? "one" : "cuda", t);
            fflush(stdout);
        }
    }
    free(P);
    free(x);
    return 0;
}
