/* cmd_verify.c: `nerve verify RUN`: recomputes the hash of every dataset
 * recorded in RUN/hashes.json (written at the end of training; sweep.h) and names
 * the first that differs. Given a sweep directory, checks every finished task. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "nerve/sweep.h"
#include "nerve/runhash.h"

static const char *const USAGE = "usage: nerve verify RUN|SWEEP_DIR\n";

static void usage(FILE *f) {
    fprintf(f,
            "usage: nerve verify RUN|SWEEP_DIR\n\n"
            "Re-checks a run against its reproducibility record: the XXH3-128 (SHA-256 in runs\n"
            "of nerve before hashes.json version 2) of the raw data of every dataset in every\n"
            "HDF5 file of the run, stored in RUN/hashes.json when training finished. Exit 0 when all match; exit 2 naming the first file and dataset that\n"
            "differ, are missing or were not recorded. Given a sweep directory, every finished\n"
            "task's run is checked.\n\n"
            "options:\n"
            "  -h, --help    this help\n");
}

static int verify_one(const char *run) {
    nv_error err = {0};
    int64_t nf = 0, nd = 0;
    if (nv_run_hashes_verify(run, &nf, &nd, &err)) return nv_cli_report("verify", &err);
    printf("%s: %lld datasets in %lld files match hashes.json\n", run, (long long)nd, (long long)nf);
    return 0;
}

int nv_cmd_verify(int argc, char **argv) {
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return 0; }
        return nv_cli_getopt_fail("verify", c, optind, argv, USAGE);
    }
    if (optind != argc - 1) return nv_cli_usage("verify", "expected one run directory, found %d arguments", argc - optind);
    const char *dir = argv[optind];
    char path[4096];
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    if (access(path, F_OK) != 0) return verify_one(dir);
    nv_error err = {0};
    nv_sweep_index *ix = NULL;
    if (nv_sweep_index_load(dir, &ix, &err)) return nv_cli_report("verify", &err);
    int rc = 0;
    int64_t checked = 0;
    for (int64_t t = 0; t < ix->ntasks && rc == 0; t++) {
        if (!nv_sweep_task_finished(dir, ix->tasks[t].name)) {
            printf("%s/tasks/%s: unfinished, not checked\n", dir, ix->tasks[t].name);
            continue;
        }
        snprintf(path, sizeof path, "%s/tasks/%s/run", dir, ix->tasks[t].name);
        rc = verify_one(path);
        checked++;
    }
    if (rc == 0) printf("verified %lld finished tasks of %lld\n", (long long)checked, (long long)ix->ntasks);
    nv_sweep_index_free(ix);
    return rc;
}
