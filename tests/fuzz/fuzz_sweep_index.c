/* fuzz_sweep_index.c: the reader of a sweep directory's sweep.json
 * (nv_sweep_index_load), which `nerve sweep --run` and `nerve collect` trust for
 * the task names and their axis values. */
#include "fuzz_util.h"
#include "nerve/sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = nv_fuzz_file("sweep/sweep.json", data, size);
    char dir[512];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    nv_sweep_index *ix = NULL;
    nv_error err = {0};
    nv_status st = nv_sweep_index_load(dir, &ix, &err);
    nv_fuzz_check(st, &err, "sweep.json");
    if (st == NV_OK) {
        if (ix->naxes < 0 || ix->naxes > NV_SWEEP_MAX_AXES || ix->ntasks < 0) abort();
        if (ix->nconfigs < 1 || ix->nconfigs > (ix->ntasks > 1 ? ix->ntasks : 1)) abort(); /* sizes collect's tables */
        for (int64_t t = 0; t < ix->ntasks; t++) {
            const nv_sweep_task *k = &ix->tasks[t];
            if (!k->name[0] || strchr(k->name, '/') || !strcmp(k->name, "..") || !strcmp(k->name, ".")) {
                fprintf(stderr, "nerve fuzz: accepted task name '%s'\n", k->name);
                abort();
            }
            for (int a = 0; a < ix->naxes; a++)
                if (!k->labels || !k->labels[a]) abort();
        }
    }
    nv_sweep_index_free(ix);
    return 0;
}
