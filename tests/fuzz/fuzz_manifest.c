/* fuzz_manifest.c: the snapshot manifest reader (nv_manifest_read), which decides
 * which files every analysis verb opens. An accepted manifest lists only
 * relative paths inside the directory and names nerve can use. */
#include "fuzz_util.h"
#include "nerve/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = nv_fuzz_file("snapshots/manifest.json", data, size);
    char dir[512];
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    nv_manifest m;
    nv_error err = {0};
    nv_status st = nv_manifest_read(dir, &m, &err);
    nv_fuzz_check(st, &err, "manifest.json");
    if (st == NV_OK) {
        for (int64_t i = 0; i < m.count; i++) {
            const nv_manifest_entry *e = &m.files[i];
            int escapes = e->path[0] == '/' || !e->path[0];
            char copy[sizeof e->path];
            snprintf(copy, sizeof copy, "%s", e->path);
            for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
                if (!strcmp(c, "..")) escapes = 1;
            if (escapes || !e->model[0] || e->epoch < 0) {
                fprintf(stderr, "nerve fuzz: accepted entry %lld: model '%s' path '%s'\n", (long long)i, e->model, e->path);
                abort();
            }
        }
        nv_manifest_free(&m);
    }
    return 0;
}
