/* reader.c: reading a model's dynamics record through its index file
 * (include/nerve/dynamics.h): the report's figures, the reconstruction, and later
 * the query engine and the viewer read here, never the chunk files directly.
 *
 * The index's datasets are virtual: HDF5 reads each row from the chunk file that
 * holds it (source names relative to the index's folder). HDF5 would fill rows of a
 * missing source file with zeros without a word, so opening checks that every chunk
 * the manifest lists is there.
 */
#include "dyn_store.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/h5util.h"

struct nv_dyn_run {
    char path[NV_PATH_LEN + 128];
    hid_t fid;
    nv_dyn_info info;
    int64_t *steps[NV_DYN_TIERS];   /* each tier's step column, read on first use */
    int64_t nrows[NV_DYN_TIERS];
};

static int cmp_name(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

nv_status nv_dyn_models(const char *run_dir, char (*names)[64], int cap, int *n, nv_error *err) {
    *n = 0;
    char dir[NV_PATH_LEN + 32];
    snprintf(dir, sizeof dir, "%s/dynamics", run_dir);
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return NV_OK;
        return nv_fail(err, NV_EINPUT, "%s: cannot open (%s)", dir, strerror(errno));
    }
    struct dirent *e;
    while ((e = readdir(d)) && *n < cap) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 4 || len - 3 >= 64 || strcmp(e->d_name + len - 3, ".h5")) continue;
        snprintf(names[*n], 64, "%.*s", (int)(len - 3), e->d_name);
        (*n)++;
    }
    closedir(d);
    qsort(names, (size_t)*n, 64, cmp_name);
    return NV_OK;
}

static int64_t rows_of(hid_t fid, const char *path) {
    if (!nv_h5_exists(fid, path)) return 0;
    hid_t ds = H5Dopen2(fid, path, H5P_DEFAULT);
    if (ds < 0) return 0;
    hid_t sp = H5Dget_space(ds);
    hsize_t d[2] = {0, 0};
    H5Sget_simple_extent_dims(sp, d, NULL);
    H5Sclose(sp);
    H5Dclose(ds);
    return (int64_t)d[0];
}

/* Every chunk the manifest lists must be on disk (see the top of the file). */
static nv_status check_chunks(const char *run_dir, const char *model, nv_error *err) {
    char path[NV_PATH_LEN + 160];
    snprintf(path, sizeof path, "%s/dynamics/%s/manifest.json", run_dir, model);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return nv_fail(err, NV_EINPUT, "%s: %s", path, access(path, F_OK) ? "missing" : je.text);
    nv_status st = NV_OK;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "chunks"), i, c) {
        const char *p = json_string_value(json_object_get(c, "path"));
        char full[NV_PATH_LEN + 256];
        snprintf(full, sizeof full, "%s/dynamics/%s/%s", run_dir, model, p ? p : "?");
        if (!p || strchr(p, '/') || access(full, R_OK) != 0) {
            st = nv_fail(err, NV_EINPUT, "%s lists %s, which is missing or unreadable", path, full);
            break;
        }
    }
    json_decref(root);
    return st;
}

nv_status nv_dyn_open(const char *run_dir, const char *model, nv_dyn_run **out, nv_error *err) {
    *out = NULL;
    nv_dyn_run *r = nv_calloc(1, sizeof *r, err);
    if (!r) return NV_ENOMEM;
    snprintf(r->path, sizeof r->path, "%s/dynamics/%s.h5", run_dir, model);
    r->fid = H5I_INVALID_HID;
    nv_status st;
    if (access(r->path, F_OK) != 0) {
        st = nv_fail(err, NV_EINPUT, "%s: no dynamics record of model '%s' (turn the recorder on with "
                     "dynamics.enabled = true; docs/dynamics.md)", r->path, model);
        goto fail;
    }
    if ((st = check_chunks(run_dir, model, err))) goto fail;
    r->fid = nv_h5_open_read(r->path, err);
    if (r->fid < 0) {
        st = err ? err->status : NV_EINPUT;
        goto fail;
    }
    if ((st = nv_h5_check_format(r->fid, r->path, NV_DYN_FORMAT, NV_DYN_VERSION, NULL, err))) goto fail;
    nv_dyn_info *in = &r->info;
    char *s = NULL;
    int64_t v = 0;
    double f = 0;
    if ((st = nv_h5_read_attr_str(r->fid, "model", &s, r->path, "/", err))) goto fail;
    snprintf(in->model, sizeof in->model, "%s", s);
    free(s);
    if ((st = nv_h5_read_attr_str(r->fid, "config", &in->config_text, r->path, "/", err))) goto fail;
    if ((st = nv_h5_read_spec(r->fid, "model", &in->spec, r->path, err))) goto fail;
#define I64(name, dst) \
    if ((st = nv_h5_read_attr_i64(r->fid, name, &v, r->path, "/", err))) goto fail; \
    dst = v;
    I64("nparams", in->nparams);
    I64("batch_size", in->batch_size);
    I64("steps_per_epoch", in->steps_per_epoch);
    I64("epochs", in->epochs);
    I64("n_train", in->n_train);
    I64("last_step", in->last_step);
    I64("chunks", in->nchunks);
    I64("top_k", in->top_k);
    I64("preactivations", in->preactivations);
#undef I64
    if ((st = nv_h5_read_attr_str(r->fid, "factors_precision", &s, r->path, "/", err))) goto fail;
    in->f16 = !strcmp(s, "f16");
    free(s);
    if ((st = nv_h5_read_attr_str(r->fid, "optimizer", &s, r->path, "/", err))) goto fail;
    in->opt.kind = !strcmp(s, "adam") ? NV_OPT_ADAM : NV_OPT_SGD;
    free(s);
#define F32(name, dst) \
    if ((st = nv_h5_read_attr_f64(r->fid, name, &f, r->path, "/", err))) goto fail; \
    dst = (float)f;
    F32("lr", in->opt.lr);
    F32("momentum", in->opt.momentum);
    F32("weight_decay", in->opt.weight_decay);
    F32("beta1", in->opt.beta1);
    F32("beta2", in->opt.beta2);
    F32("eps", in->opt.eps);
#undef F32
    in->opt.lr_half_life = 0; /* absent: a constant rate */
    if (H5Aexists(r->fid, "lr_half_life") > 0 &&
        (st = nv_h5_read_attr_i64(r->fid, "lr_half_life", &in->opt.lr_half_life, r->path, "/", err)))
        goto fail;
    if (in->opt.lr_half_life < 0) {
        st = nv_fail(err, NV_EINPUT, "file %s: attribute lr_half_life is %lld (expected >= 0)", r->path,
                     (long long)in->opt.lr_half_life);
        goto fail;
    }
    if (in->nparams != nv_mlp_param_count(&in->spec)) {
        st = nv_fail(err, NV_EINPUT, "file %s: nparams %lld does not match /model (%lld)", r->path,
                     (long long)in->nparams, (long long)nv_mlp_param_count(&in->spec));
        goto fail;
    }
    for (int k = 0; k < in->spec.nlayers; k++) nv_layer_name(k + 1, in->spec.nlayers, in->layer_names[k], 16);
    for (int t = 0; t < NV_DYN_TIERS; t++) {
        char p[64];
        snprintf(p, sizeof p, "%s/step", nv_dyn_tier_name(t));
        in->rows[t] = rows_of(r->fid, p);
    }
    *out = r;
    return NV_OK;
fail:
    nv_dyn_close(r);
    return st;
}

void nv_dyn_close(nv_dyn_run *r) {
    if (!r) return;
    if (r->fid >= 0) H5Fclose(r->fid);
    for (int t = 0; t < NV_DYN_TIERS; t++) free(r->steps[t]);
    free(r->info.config_text);
    free(r);
}

const nv_dyn_info *nv_dyn_run_info(const nv_dyn_run *r) { return &r->info; }

static const char *tier_of_path(const char *path) {
    static char buf[16];
    snprintf(buf, sizeof buf, "%.*s", (int)strcspn(path, "/"), path);
    return buf;
}

nv_status nv_dyn_shape(nv_dyn_run *r, const char *path, int64_t *rows, int64_t *cols, nv_error *err) {
    nv_h5_quiet();
    if (!nv_h5_exists(r->fid, path))
        return nv_fail(err, NV_EINPUT, "file %s: no dataset %s (tier '%s'; docs/dynamics.md lists them)", r->path, path,
                       tier_of_path(path));
    hid_t ds = H5Dopen2(r->fid, path, H5P_DEFAULT);
    if (ds < 0) return nv_h5_fail(err, NV_EINPUT, r->path, path, "cannot open");
    hid_t sp = H5Dget_space(ds);
    hsize_t d[2] = {0, 1};
    int rank = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, d, NULL);
    H5Sclose(sp);
    H5Dclose(ds);
    *rows = (int64_t)d[0];
    *cols = rank > 1 ? (int64_t)d[1] : 1;
    return NV_OK;
}

static nv_status read_rows(nv_dyn_run *r, const char *path, int64_t row0, int64_t n, hid_t mt, void *out,
                           nv_error *err) {
    int64_t rows, cols;
    nv_status st = nv_dyn_shape(r, path, &rows, &cols, err);
    if (st) return st;
    if (row0 < 0 || n < 0 || row0 + n > rows)
        return nv_fail(err, NV_EINPUT, "file %s: %s has %lld rows; rows [%lld, %lld) asked for", r->path, path,
                       (long long)rows, (long long)row0, (long long)(row0 + n));
    if (n == 0) return NV_OK;
    hid_t ds = H5Dopen2(r->fid, path, H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t start[2] = {(hsize_t)row0, 0}, count[2] = {(hsize_t)n, (hsize_t)cols};
    hid_t ms = H5Screate_simple(rank, count, NULL);
    if (H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dread(ds, mt, ms, sp, H5P_DEFAULT, out) < 0)
        st = nv_h5_fail(err, NV_EINPUT, r->path, path, "cannot read rows [%lld, %lld)", (long long)row0,
                        (long long)(row0 + n));
    H5Sclose(ms);
    H5Sclose(sp);
    H5Dclose(ds);
    return st;
}

nv_status nv_dyn_read_f32(nv_dyn_run *r, const char *path, int64_t row0, int64_t n, float *out, nv_error *err) {
    return read_rows(r, path, row0, n, H5T_NATIVE_FLOAT, out, err);
}

nv_status nv_dyn_read_i64(nv_dyn_run *r, const char *path, int64_t row0, int64_t n, int64_t *out, nv_error *err) {
    return read_rows(r, path, row0, n, H5T_NATIVE_INT64, out, err);
}

nv_status nv_dyn_rows_of_step(nv_dyn_run *r, int tier, int64_t s, int64_t *row0, int64_t *n, nv_error *err) {
    *row0 = *n = 0;
    if (tier < 0 || tier >= NV_DYN_TIERS) return nv_fail(err, NV_EINTERNAL, "dynamics: tier %d", tier);
    if (!r->steps[tier]) {
        char p[64];
        snprintf(p, sizeof p, "%s/step", nv_dyn_tier_name(tier));
        int64_t rows = r->info.rows[tier];
        r->steps[tier] = nv_malloc(sizeof(int64_t) * (size_t)(rows ? rows : 1), err);
        if (!r->steps[tier]) return NV_ENOMEM;
        nv_status st = nv_dyn_read_i64(r, p, 0, rows, r->steps[tier], err);
        if (st) {
            free(r->steps[tier]);
            r->steps[tier] = NULL;
            return st;
        }
        r->nrows[tier] = rows;
    }
    const int64_t *v = r->steps[tier], rows = r->nrows[tier];
    int64_t lo = 0, hi = rows;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (v[mid] < s) lo = mid + 1;
        else hi = mid;
    }
    int64_t end = lo;
    while (end < rows && v[end] == s) end++;
    *row0 = lo;
    *n = end - lo;
    return NV_OK;
}
