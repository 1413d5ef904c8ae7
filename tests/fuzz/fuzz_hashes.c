/* fuzz_hashes.c: the reader of a run's hash record, RUN/hashes.json, as `nerve
 * verify` uses it (nv_run_hashes_verify). The run directory holds one small,
 * fixed dataset file (data.h5, written once per process by nv_dataset_save) so
 * that a record can name a real file and its real datasets; the input is
 * hashes.json. Whatever it says, verify answers OK or NV_EINPUT naming a file,
 * and never opens a file outside the run directory. */
#include "fuzz_util.h"
#include "nerve/dataset.h"
#include "nerve/runhash.h"

static const char *run_dir(void) {
    static char dir[512];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/run", nv_fuzz_dir());
        mkdir(dir, 0755);
        nv_dataset tr = {0}, te = {0};
        nv_error err = {0};
        if (nv_dataset_alloc(&tr, 3, 2, &err) || nv_dataset_alloc(&te, 1, 2, &err)) abort();
        for (int i = 0; i < 6; i++) tr.x[i] = (float)i / 8;
        for (int i = 0; i < 3; i++) tr.y[i] = i % 2, tr.ids[i] = i;
        te.x[0] = 0.5f, te.x[1] = 0.25f, te.y[0] = 1, te.ids[0] = 3;
        tr.nclasses = te.nclasses = 2;
        char path[600];
        snprintf(path, sizeof path, "%s/data.h5", dir);
        if (nv_dataset_save(path, &tr, &te, "fuzz", &err)) {
            fprintf(stderr, "nerve fuzz: %s\n", err.msg);
            abort();
        }
        nv_dataset_free(&tr);
        nv_dataset_free(&te);
        /* NERVE_FUZZ_SEED=FILE: write the true record of this directory there (the
         * corpus's seed-valid, made once). */
        const char *seed = getenv("NERVE_FUZZ_SEED");
        if (seed) {
            char src[700], cmd[2000];
            if (nv_run_hashes_write(dir, &err)) abort();
            snprintf(src, sizeof src, "%s/hashes.json", dir);
            snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, seed);
            if (system(cmd) != 0) abort();
        }
    }
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = run_dir();
    char name[600];
    snprintf(name, sizeof name, "%s/hashes.json", dir + strlen(nv_fuzz_dir()) + 1);
    nv_fuzz_file(name, data, size);
    int64_t nf = 0, nd = 0;
    nv_error err = {0};
    nv_status st = nv_run_hashes_verify(dir, &nf, &nd, &err);
    nv_fuzz_check(st, &err, dir);
    if (st == NV_OK && (nf < 0 || nf > 1 || nd < 0)) abort();
    return 0;
}
