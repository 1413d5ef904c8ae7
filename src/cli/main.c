/* main.c: `nerve VERB ...`, the one command-line program. Each verb is a pipeline
 * stage that reads and writes files, so stages chain in scripts and job arrays.
 *
 * Before anything else it makes sure OpenBLAS takes its fast kernels: OpenBLAS
 * 0.3.21 does not recognise recent AVX-512 Xeons and falls back to generic kernels
 * (4-5x slower sgemm), and it reads OPENBLAS_CORETYPE only when the library loads,
 * which is before main(). So when the variable is unset and the CPU has the
 * instructions, we set it and re-execute ourselves once.
 *
 * The same re-execution starts OpenBLAS with one thread (OPENBLAS_NUM_THREADS=1,
 * unless the user set it). Left alone it starts a worker per core at load, and each
 * worker spins for ~0.1 s of CPU before it sleeps, whether or not any BLAS call is
 * ever threaded; nerve parallelises its own work (snapshots, rows, chains), and a
 * verb that wants threaded BLAS asks for it (train: train.threads), which starts
 * the workers then. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} nv_verb;

static const nv_verb VERBS[] = {
    {"data", nv_cmd_data, "generate or import a data set into an HDF5 dataset file"},
    {"train", nv_cmd_train, "train the paired networks of an experiment, snapshotting activations"},
    {"dynamics", nv_cmd_dynamics, "a run's training-dynamics record; rebuild any recorded step's weights"},
    {"query", nv_cmd_query, "SQL and preset questions over training dynamics (which samples moved a weight, ...)"},
    {"info", nv_cmd_info, "describe a run directory or any HDF5 file nerve wrote"},
    {"ph", nv_cmd_ph, "persistent homology: of a file (Ripser-compatible) or of every snapshot of a run"},
    {"pca", nv_cmd_pca, "PCA of every snapshot of a run, or of a matrix file"},
    {"stats", nv_cmd_stats, "intrinsic dimension, CKA similarity and linear probes over a run"},
    {"features", nv_cmd_features, "what every neuron learned: feature images, top inputs, their projections"},
    {"analyze", nv_cmd_analyze, "run every analysis (ph, pca, stats, features) over a run"},
    {"report", nv_cmd_report, "one self-contained HTML page with the figures of a run"},
    {"sweep", nv_cmd_sweep, "expand a config with lists into tasks; run them locally or on Slurm"},
    {"collect", nv_cmd_collect, "merge finished sweep tasks into one table"},
    {"verify", nv_cmd_verify, "re-check the hashes of a run's stored datasets"},
    {"serve", nv_cmd_serve, "a live web viewer of a run or sweep (network, features, curves, topology, PCA)"},
};

/* The OpenBLAS core type this CPU should use, or NULL to leave OpenBLAS alone. */
static const char *openblas_coretype(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

static void ensure_openblas_env(char **argv) {
    if (getenv("NERVE_NO_REEXEC")) return;
    int changed = 0;
    const char *core = openblas_coretype();
    if (core && !getenv("OPENBLAS_CORETYPE")) setenv("OPENBLAS_CORETYPE", core, 1), changed = 1;
    if (!getenv("OPENBLAS_NUM_THREADS") && !getenv("OMP_NUM_THREADS"))
        setenv("OPENBLAS_NUM_THREADS", "1", 1), changed = 1;
    if (!changed) return;
    setenv("NERVE_NO_REEXEC", "1", 1); /* never loop, whatever happens */
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc?): carry on with the default kernels and threads, still correct. */
}

static void usage(FILE *f) {
    fprintf(f, "nerve %s: how neural networks learn, from the inside\n\n", NERVE_VERSION);
    fprintf(f, "usage: nerve VERB [options]    (nerve VERB --help for each)\n\n");
    for (size_t i = 0; i < NV_ARRAY_LEN(VERBS); i++)
        fprintf(f, "  %-8s %s\n", VERBS[i].name, VERBS[i].summary);
    fprintf(f, "\nThe main job: make demo. Documentation: README.md.\n");
}

int main(int argc, char **argv) {
    ensure_openblas_env(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("nerve %s\n", NERVE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < NV_ARRAY_LEN(VERBS); i++)
        if (!strcmp(argv[1], VERBS[i].name)) return VERBS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "nerve: unknown verb '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
