/* dyn_source.c: the viewer's window on the per-step record (serve_internal.h,
 * sv_dyn_*), the dynamics store of include/nerve/dynamics.h (docs/dynamics.md).
 *
 * The store's reader opens RUN/dynamics/<model>.h5, an index rewritten by atomic
 * rename after each chunk whose virtual datasets point only at chunk files the
 * chunk manifest lists; chunk files are immutable once published. So a reader
 * that opens the index anew for each request sees a consistent prefix of steps
 * and never a file still being written: the manifest rule of docs/CONTRACTS.md
 * for per-step data. The viewer adds nothing to it: it opens the index per request
 * (api.c holds the HDF5 lock) and follows dynamics/<model>/manifest.json for its
 * live events (live.c).
 *
 * The store comes with the dynamics recorder; a build without it (its header is
 * not in include/nerve/) compiles the second half of this file, where every call
 * says how to record. The choice is made once here, at file level, by whether the
 * header exists, so the views work as soon as the store is part of the build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_internal.h"

#if defined(__has_include)
#if __has_include("nerve/dynamics.h")
#define SV_HAVE_DYNAMICS 1
#endif
#endif

#ifdef SV_HAVE_DYNAMICS
#include "nerve/dynamics.h"

struct sv_dyn {
    nv_dyn_run *r;
};

int sv_dyn_built(void) { return 1; }

nv_status sv_dyn_open(const char *run_real, const char *model, sv_dyn **out, nv_error *err) {
    char p[SV_PATH_LEN];
    *out = NULL;
    snprintf(p, sizeof p, "%s/dynamics/%s.h5", run_real, model);
    FILE *f = fopen(p, "rb");
    if (!f) return nv_fail(err, NV_EINPUT, "model '%s' has no dynamics record: %s", model, SV_DYN_HINT);
    fclose(f);
    sv_dyn *d = calloc(1, sizeof *d);
    if (!d) return nv_fail(err, NV_ENOMEM, "out of memory");
    nv_status st = nv_dyn_open(run_real, model, &d->r, err);
    if (st) {
        free(d);
        return st;
    }
    *out = d;
    return NV_OK;
}

void sv_dyn_close(sv_dyn *d) {
    if (!d) return;
    nv_dyn_close(d->r);
    free(d);
}

int sv_dyn_layers(const sv_dyn *d, char names[][16], int cap, int64_t *widths) {
    const nv_dyn_info *in = nv_dyn_run_info(d->r);
    int n = in->spec.nlayers < cap ? in->spec.nlayers : cap;
    for (int k = 0; k < n; k++) snprintf(names[k], 16, "%s", in->layer_names[k]);
    for (int k = 0; k <= n; k++) widths[k] = in->spec.widths[k];
    return n;
}

int64_t sv_dyn_last_step(const sv_dyn *d) { return nv_dyn_run_info(d->r)->last_step; }

nv_status sv_dyn_shape(sv_dyn *d, const char *path, int64_t *rows, int64_t *cols, nv_error *err) {
    return nv_dyn_shape(d->r, path, rows, cols, err);
}
nv_status sv_dyn_read_f32(sv_dyn *d, const char *path, int64_t row0, int64_t n, float *out, nv_error *err) {
    return nv_dyn_read_f32(d->r, path, row0, n, out, err);
}
nv_status sv_dyn_read_i64(sv_dyn *d, const char *path, int64_t row0, int64_t n, int64_t *out, nv_error *err) {
    return nv_dyn_read_i64(d->r, path, row0, n, out, err);
}
nv_status sv_dyn_rows_of_step(sv_dyn *d, int tier, int64_t s, int64_t *row0, int64_t *n, nv_error *err) {
    return nv_dyn_rows_of_step(d->r, tier, s, row0, n, err);
}

#else /* no dynamics store in this build */

struct sv_dyn {
    int unused;
};

int sv_dyn_built(void) { return 0; }

nv_status sv_dyn_open(const char *run_real, const char *model, sv_dyn **out, nv_error *err) {
    (void)run_real;
    *out = NULL;
    return nv_fail(err, NV_EINPUT, "no per-step record of '%s' in this build: %s", model, SV_DYN_HINT);
}
void sv_dyn_close(sv_dyn *d) { free(d); }
int sv_dyn_layers(const sv_dyn *d, char names[][16], int cap, int64_t *widths) {
    (void)d, (void)names, (void)cap, (void)widths;
    return 0;
}
int64_t sv_dyn_last_step(const sv_dyn *d) {
    (void)d;
    return 0;
}
static nv_status none(nv_error *err) { return nv_fail(err, NV_EINPUT, "%s", SV_DYN_HINT); }
nv_status sv_dyn_shape(sv_dyn *d, const char *path, int64_t *rows, int64_t *cols, nv_error *err) {
    (void)d, (void)path, (void)rows, (void)cols;
    return none(err);
}
nv_status sv_dyn_read_f32(sv_dyn *d, const char *path, int64_t row0, int64_t n, float *out, nv_error *err) {
    (void)d, (void)path, (void)row0, (void)n, (void)out;
    return none(err);
}
nv_status sv_dyn_read_i64(sv_dyn *d, const char *path, int64_t row0, int64_t n, int64_t *out, nv_error *err) {
    (void)d, (void)path, (void)row0, (void)n, (void)out;
    return none(err);
}
nv_status sv_dyn_rows_of_step(sv_dyn *d, int tier, int64_t s, int64_t *row0, int64_t *n, nv_error *err) {
    (void)d, (void)tier, (void)s, (void)row0, (void)n;
    return none(err);
}

#endif
