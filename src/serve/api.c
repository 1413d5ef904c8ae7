/* api.c: the viewer's read-only API over a run's files (docs/serve.md lists every
 * endpoint, its arguments and its answer).
 *
 * Every endpoint resolves its run (the `run` argument, a path relative to the
 * served root, realpath'd under it), finds its source file the way the pipeline
 * publishes it (a snapshot through snapshots/manifest.json; analysis outputs,
 * metrics and summaries, which are written whole by atomic rename, by their
 * fixed names) and reads it with HDF5 or jansson. Nothing here opens a file the
 * manifest rule of docs/CONTRACTS.md does not allow, and nothing writes.
 *
 * HDF5 (Debian's serial build) is not thread-safe, and libmicrohttpd answers each
 * connection in its own thread: every HDF5 read holds one lock. Answers built from
 * a file are kept in a small cache keyed by the request and the source file's
 * (inode, size, mtime): snapshot and analysis files never change in place (a new
 * version is a new inode), so a cached answer is never stale, and fifty pages
 * asking for the same epoch cost one read.
 *
 * Large arrays are binary: application/octet-stream, little-endian float32,
 * row-major, the shape in the X-Nerve-Shape header ("rows,cols").
 */
#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nerve/features.h"
#include "nerve/netspec.h"
#include "nerve/snapshot.h"
#include "nerve/strbuf.h"
#include "nerve/query.h"
#include "serve/serve_internal.h"
#include "store/h5util.h"

#define CACHE_SLOTS 96
#define CACHE_BYTES ((size_t)96 << 20)
#define NET_MAX_ROWS 10000   /* rows averaged per layer in /api/network (strided beyond) */
#define PCA_MAX_POINTS 4000  /* default points per /api/pca answer */

typedef struct {
    char *key;
    sv_reply r;
    uint64_t used;
} cache_slot;

struct sv_api {
    char root[SV_PATH_LEN];
    pthread_mutex_t h5;      /* HDF5 is not thread-safe */
    pthread_mutex_t cmu;     /* the cache */
    cache_slot cache[CACHE_SLOTS];
    size_t cache_bytes;
    uint64_t tick;
};

typedef struct {
    sv_api *a;
    sv_arg_fn arg;
    void *ctx;
    char run[SV_PATH_LEN];   /* the run directory, real path */
    const char *run_id;
} req;

static const char *arg(req *q, const char *name) { return q->arg(q->ctx, name); }

/* --- replies --------------------------------------------------------------------- */
void sv_reply_free(sv_reply *r) {
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

void sv_reply_error(sv_reply *r, int status, const char *msg, const char *hint) {
    sv_reply_free(r);
    json_t *j = json_pack("{s:s}", "error", msg ? msg : "error");
    if (hint) json_object_set_new(j, "hint", json_string(hint));
    r->status = status;
    r->ctype = "application/json";
    r->body = json_dumps(j, JSON_COMPACT);
    r->len = r->body ? strlen(r->body) : 0;
    json_decref(j);
}

static void reply_json(sv_reply *r, json_t *j) {
    r->status = 200;
    r->ctype = "application/json";
    r->body = json_dumps(j, JSON_COMPACT);
    r->len = r->body ? strlen(r->body) : 0;
    json_decref(j);
    if (!r->body) sv_reply_error(r, 500, "out of memory", NULL);
}

/* Takes ownership of data (floats, rows x cols). */
static void reply_bin(sv_reply *r, float *data, int64_t rows, int64_t cols) {
    r->status = 200;
    r->ctype = "application/octet-stream";
    r->body = (char *)data;
    r->len = sizeof(float) * (size_t)(rows * cols);
    snprintf(r->shape, sizeof r->shape, "%lld,%lld", (long long)rows, (long long)cols);
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *f32_array(const float *v, int64_t n) {
    json_t *a = json_array();
    for (int64_t i = 0; i < n; i++) json_array_append_new(a, num(v[i]));
    return a;
}
static json_t *f64_array(const double *v, int64_t n) {
    json_t *a = json_array();
    for (int64_t i = 0; i < n; i++) json_array_append_new(a, num(v[i]));
    return a;
}
static json_t *i64_array(const int64_t *v, int64_t n) {
    json_t *a = json_array();
    for (int64_t i = 0; i < n; i++) json_array_append_new(a, json_integer((json_int_t)v[i]));
    return a;
}

/* --- the cache -------------------------------------------------------------------- */
/* The identity of a file for cache keys: "ino:size:mtime" ("-" when absent). */
static void file_sig(const char *path, char *buf, size_t len) {
    struct stat st;
    if (stat(path, &st)) snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%llu:%lld:%lld.%09ld", (unsigned long long)st.st_ino, (long long)st.st_size,
                 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static int cache_get(sv_api *a, const char *key, sv_reply *r) {
    int hit = 0;
    pthread_mutex_lock(&a->cmu);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cache_slot *c = &a->cache[i];
        if (c->key && !strcmp(c->key, key)) {
            char *b = malloc(c->r.len ? c->r.len : 1);
            if (b) {
                memcpy(b, c->r.body, c->r.len);
                *r = c->r;
                r->body = b;
                c->used = ++a->tick;
                hit = 1;
            }
            break;
        }
    }
    pthread_mutex_unlock(&a->cmu);
    return hit;
}

static void cache_put(sv_api *a, const char *key, const sv_reply *r) {
    if (r->status != 200 || r->len > CACHE_BYTES / 4) return;
    char *b = malloc(r->len ? r->len : 1), *k = strdup(key);
    if (!b || !k) {
        free(b);
        free(k);
        return;
    }
    memcpy(b, r->body, r->len);
    pthread_mutex_lock(&a->cmu);
    for (;;) { /* evict the least recently used until there is room */
        int victim = -1, empty = -1;
        for (int i = 0; i < CACHE_SLOTS; i++) {
            if (!a->cache[i].key) {
                if (empty < 0) empty = i;
            } else if (victim < 0 || a->cache[i].used < a->cache[victim].used) {
                victim = i;
            }
        }
        if (empty >= 0 && a->cache_bytes + r->len <= CACHE_BYTES) {
            cache_slot *c = &a->cache[empty];
            c->key = k;
            c->r = *r;
            c->r.body = b;
            c->used = ++a->tick;
            a->cache_bytes += r->len;
            break;
        }
        if (victim < 0) {
            free(b);
            free(k);
            break;
        }
        cache_slot *c = &a->cache[victim];
        a->cache_bytes -= c->r.len;
        free(c->key);
        free(c->r.body);
        memset(c, 0, sizeof *c);
    }
    pthread_mutex_unlock(&a->cmu);
}

/* --- run files ---------------------------------------------------------------------- */
int sv_api_run_dir(sv_api *a, const char *run, char *out, sv_reply *r) {
    if (!run) run = "";
    if (!sv_rel_path_ok(run, 1)) {
        sv_reply_error(r, 400, "bad run: a relative path of plain names is expected", NULL);
        return -1;
    }
    int rc = sv_resolve_under(a->root, run, out);
    if (rc == -2) {
        sv_reply_error(r, 403, "that run lies outside the served directory", NULL);
        return -1;
    }
    if (rc || !sv_is_run_dir(out)) {
        sv_reply_error(r, 404, "no such run under the served directory", "GET /api/runs lists them");
        return -1;
    }
    return 0;
}

/* The snapshot of (model, epoch) through the manifest, as a real path under the
 * run. 0, or an error reply and -1. */
static int snapshot_path(req *q, const char *model, int64_t epoch, char *out, sv_reply *r) {
    char dir[SV_PATH_LEN];
    sv_path(dir, q->run, "snapshots");
    nv_manifest m = {0};
    nv_error err = {0};
    if (nv_manifest_read(dir, &m, &err)) { /* refused as a whole: nothing it lists is opened */
        sv_reply_error(r, 404, err.msg, NULL);
        return -1;
    }
    int found = -1;
    for (int64_t i = 0; i < m.count; i++)
        if (!strcmp(m.files[i].model, model) && m.files[i].epoch == epoch) {
            char rel[600];
            snprintf(rel, sizeof rel, "snapshots/%s", m.files[i].path);
            int rc = sv_rel_path_ok(rel, 0) ? sv_resolve_under(q->run, rel, out) : -2;
            found = rc == 0 ? 0 : rc == -2 ? -2 : -1;
            break;
        }
    nv_manifest_free(&m);
    if (found == -2) sv_reply_error(r, 403, "the manifest names a file outside the run", NULL);
    else if (found) sv_reply_error(r, 404, "no snapshot of that model and epoch in the manifest", NULL);
    return found ? -1 : 0;
}

/* An analysis output analysis/<kind>/<model>/epoch_EEEE.h5 (atomic): 0 or -1 with a 404. */
static int analysis_path(req *q, const char *kind, const char *model, int64_t epoch, char *out, sv_reply *r,
                         const char *hint) {
    char rel[256];
    snprintf(rel, sizeof rel, "analysis/%s/%s/epoch_%04lld.h5", kind, model, (long long)epoch);
    int rc = sv_resolve_under(q->run, rel, out);
    if (rc == 0) return 0;
    char msg[300];
    snprintf(msg, sizeof msg, "no %s output for %s at epoch %lld", kind, model, (long long)epoch);
    sv_reply_error(r, rc == -2 ? 403 : 404, msg, hint);
    return -1;
}

/* Checks the standard arguments model (and epoch when want_epoch). */
static int model_epoch(req *q, sv_reply *r, const char **model, int64_t *epoch, int want_epoch) {
    *model = arg(q, "model");
    if (!sv_name_ok(*model)) {
        sv_reply_error(r, 400, "bad or missing model", NULL);
        return -1;
    }
    if (want_epoch && !sv_int_ok(arg(q, "epoch"), 0, 100000000, epoch)) {
        sv_reply_error(r, 400, "bad or missing epoch", NULL);
        return -1;
    }
    return 0;
}

/* --- HDF5 reading (callers hold a->h5) ------------------------------------------------- */
static hid_t open_h5(const char *path, const char *format, int64_t version, sv_reply *r) {
    nv_error err = {0};
    nv_h5_quiet();
    hid_t f = nv_h5_open_read(path, &err);
    if (f < 0) {
        sv_reply_error(r, 500, err.msg, NULL);
        return -1;
    }
    if (format && nv_h5_check_format(f, path, format, version, NULL, &err)) {
        H5Fclose(f);
        sv_reply_error(r, 500, err.msg, NULL);
        return -1;
    }
    return f;
}

/* Shape of a 1- or 2-D dataset: rows, cols (1 for 1-D). -1 when absent. */
static int ds_shape(hid_t loc, const char *name, int64_t *rows, int64_t *cols) {
    if (!nv_h5_exists(loc, name)) return -1;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 1};
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank >= 1 && rank <= 2) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    if (rank < 1 || rank > 2) return -1;
    *rows = (int64_t)dims[0];
    *cols = rank == 2 ? (int64_t)dims[1] : 1;
    return 0;
}

/* Rows first, first+stride, ... (count of them) of a 1- or 2-D dataset converted to
 * mem_type (elem bytes each) into a malloc'd buffer. NULL on failure. */
static void *read_rows(hid_t loc, const char *name, hid_t mem_type, size_t elem, int64_t first, int64_t stride,
                       int64_t count, int64_t *cols_out) {
    int64_t rows, cols;
    if (ds_shape(loc, name, &rows, &cols) || count <= 0 || first + (count - 1) * stride >= rows) return NULL;
    void *buf = malloc(elem * (size_t)(count * cols));
    if (!buf) return NULL;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t fs = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(fs);
    hsize_t start[2] = {(hsize_t)first, 0}, str[2] = {(hsize_t)stride, 1}, cnt[2] = {(hsize_t)count, (hsize_t)cols};
    herr_t e = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, str, cnt, NULL);
    hid_t ms = H5Screate_simple(rank, cnt, NULL);
    if (e < 0 || H5Dread(d, mem_type, ms, fs, H5P_DEFAULT, buf) < 0) {
        free(buf);
        buf = NULL;
    }
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    if (cols_out) *cols_out = cols;
    return buf;
}

/* A whole dataset (1- or 2-D) as float / double / int64. */
static void *read_all(hid_t loc, const char *name, hid_t mem_type, size_t elem, int64_t *rows, int64_t *cols) {
    if (ds_shape(loc, name, rows, cols)) return NULL;
    if (*rows == 0) return calloc(1, elem);
    return read_rows(loc, name, mem_type, elem, 0, 1, *rows, cols);
}

static char **layer_names(hid_t f, const char *path, int64_t *n) {
    char **names = NULL;
    nv_error err = {0};
    if (nv_h5_read_attr_strs(f, "layer_names", &names, n, path, "/", &err)) return NULL;
    return names;
}

/* --- /api/runs ------------------------------------------------------------------------ */
static void find_runs(const char *root, const char *rel, int depth, json_t *out) {
    char dir[SV_PATH_LEN];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    if (sv_is_run_dir(dir)) {
        json_t *o = json_pack("{s:s}", "id", rel);
        char p[SV_PATH_LEN];
        sv_path(p, dir, "run.json");
        json_error_t je;
        json_t *rj = json_load_file(p, 0, &je);
        if (rj) {
            json_t *v;
            if ((v = json_object_get(rj, "status"))) json_object_set(o, "status", v);
            if ((v = json_object_get(rj, "experiment"))) json_object_set(o, "experiment", v);
            json_decref(rj);
        }
        json_array_append_new(out, o);
        return;
    }
    if (depth == 0 || json_array_size(out) >= 1000) return;
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent **list = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    char **names = NULL;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || e->d_type != DT_DIR) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nn = realloc(names, sizeof *nn * (size_t)cap);
            if (!nn) break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    (void)list;
    /* name order, so a sweep's tasks come in their order */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        char sub[SV_PATH_LEN];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        if (sv_rel_path_ok(sub, 0)) find_runs(root, sub, depth - 1, out);
        free(names[i]);
    }
    free(names);
}

static void api_runs(req *q, sv_reply *r) {
    json_t *runs = json_array();
    find_runs(q->a->root, "", 4, runs);
    const char *kind = json_array_size(runs) == 1 && !strcmp(json_string_value(json_object_get(json_array_get(runs, 0), "id")), "") ? "run" : "sweep";
    reply_json(r, json_pack("{s:s, s:o}", "kind", kind, "runs", runs));
}

/* --- /api/run ------------------------------------------------------------------------- */
static json_t *load_json_file(const char *dir, const char *name) {
    char p[SV_PATH_LEN];
    sv_path(p, dir, "%s", name);
    json_error_t je;
    return json_load_file(p, 0, &je);
}

/* Epochs of model m that have analysis/<kind>/<m>/epoch_EEEE.h5 (stat only). */
static json_t *analysis_epochs(const char *run, const char *kind, const char *model, const int64_t *epochs,
                               int64_t n) {
    json_t *a = json_array();
    for (int64_t i = 0; i < n; i++) {
        char p[SV_PATH_LEN];
        struct stat st;
        sv_path(p, run, "analysis/%s/%s/epoch_%04lld.h5", kind, model, (long long)epochs[i]);
        if (stat(p, &st) == 0) json_array_append_new(a, json_integer((json_int_t)epochs[i]));
    }
    return a;
}

/* One model's description from its first snapshot. */
static json_t *model_json(req *q, const char *model, const char *first_path) {
    json_t *o = json_object();
    char p[SV_PATH_LEN];
    char rel[600];
    snprintf(rel, sizeof rel, "snapshots/%s", first_path);
    if (!sv_rel_path_ok(rel, 0) || sv_resolve_under(q->run, rel, p)) return o;
    nv_error err = {0};
    nv_h5_quiet();
    hid_t f = nv_h5_open_read(p, &err);
    if (f < 0) return o;
    nv_mlp_spec spec;
    if (!nv_h5_read_spec(f, "model", &spec, p, &err)) {
        json_t *w = json_array();
        for (int l = 0; l <= spec.nlayers; l++) json_array_append_new(w, json_integer((json_int_t)spec.widths[l]));
        json_object_set_new(o, "widths", w);
        json_object_set_new(o, "activation", json_string(nv_activation_name(spec.act)));
    }
    int64_t nl = 0;
    char **names = layer_names(f, p, &nl);
    json_t *ln = json_array();
    for (int64_t i = 0; i < nl; i++) json_array_append_new(ln, json_string(names[i]));
    nv_h5_free_strs(names, nl);
    json_object_set_new(o, "layers", ln);
    int64_t v;
    if (!nv_h5_read_attr_i64(f, "n_train", &v, p, "/", &err)) json_object_set_new(o, "n_train", json_integer(v));
    if (!nv_h5_read_attr_i64(f, "n_test", &v, p, "/", &err)) json_object_set_new(o, "n_test", json_integer(v));
    int64_t rows, cols;
    int64_t *lab = read_all(f, "labels/train", H5T_NATIVE_INT64, 8, &rows, &cols);
    if (lab) {
        int64_t mx = -1;
        for (int64_t i = 0; i < rows; i++) mx = lab[i] > mx ? lab[i] : mx;
        json_object_set_new(o, "classes", json_integer(mx + 1));
        free(lab);
    }
    H5Fclose(f);
    return o;
}

static void api_run(req *q, sv_reply *r) {
    char dir[SV_PATH_LEN], key[SV_PATH_LEN * 2], sig[128], sig2[128];
    sv_path(dir, q->run, "snapshots/manifest.json");
    file_sig(dir, sig, sizeof sig);
    sv_path(dir, q->run, "analysis");
    file_sig(dir, sig2, sizeof sig2);
    /* the availability of analysis outputs changes with the directories' mtimes;
     * the whole answer is cheap, so it is cached only for the manifest's identity
     * plus a one-second clock */
    snprintf(key, sizeof key, "run|%s|%s|%s|%lld", q->run, sig, sig2, (long long)(sv_wall_ms() / 1000));
    if (cache_get(q->a, key, r)) return;

    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(q->run_id));
    json_t *rj = load_json_file(q->run, "run.json");
    if (rj) json_object_set_new(o, "run", rj);
    json_t *sj = load_json_file(q->run, "summary.json");
    if (sj) json_object_set_new(o, "summary", sj);
    char p[SV_PATH_LEN];
    sv_path(p, q->run, "config.cfg");
    char *cfg = nv_read_file(p, NULL);
    if (cfg) {
        json_object_set_new(o, "config", json_string(cfg));
        free(cfg);
    }
    sv_path(dir, q->run, "snapshots");
    nv_manifest m = {0};
    nv_error err = {0};
    json_t *models = json_array();
    if (!nv_manifest_read(dir, &m, &err)) {
        pthread_mutex_lock(&q->a->h5);
        for (int64_t i = 0; i < m.count; i++) {
            if (i > 0 && !strcmp(m.files[i].model, m.files[i - 1].model)) continue;
            int64_t n = 0;
            int64_t *ep = malloc(sizeof *ep * (size_t)m.count);
            if (!ep) continue;
            for (int64_t k = i; k < m.count && !strcmp(m.files[k].model, m.files[i].model); k++) ep[n++] = m.files[k].epoch;
            json_t *mj = model_json(q, m.files[i].model, m.files[i].path);
            json_object_set_new(mj, "name", json_string(m.files[i].model));
            json_object_set_new(mj, "epochs", i64_array(ep, n));
            json_t *an = json_object();
            json_object_set_new(an, "ph", analysis_epochs(q->run, "ph", m.files[i].model, ep, n));
            json_object_set_new(an, "pca", analysis_epochs(q->run, "pca", m.files[i].model, ep, n));
            json_object_set_new(an, "features", analysis_epochs(q->run, "features", m.files[i].model, ep, n));
            json_object_set_new(mj, "analysis", an);
            char dp[SV_PATH_LEN];
            struct stat st;
            sv_path(dp, q->run, "dynamics/%s.h5", m.files[i].model);
            json_object_set_new(mj, "dynamics", json_boolean(stat(dp, &st) == 0));
            json_array_append_new(models, mj);
            free(ep);
        }
        pthread_mutex_unlock(&q->a->h5);
        nv_manifest_free(&m);
    }
    json_object_set_new(o, "models", models);
    sv_path(p, q->run, "analysis/ph/summary.csv");
    struct stat st;
    json_object_set_new(o, "ph_summary", json_boolean(stat(p, &st) == 0));
    json_object_set_new(o, "dynamics", json_pack("{s:b, s:s}", "built", sv_dyn_built(), "hint", SV_DYN_HINT));
    json_object_set_new(o, "queries", json_pack("{s:b, s:s}", "available", 1, "hint",
                                                "the presets of nerve query read the run's dynamics record "
                                                "(docs/queries.md)"));
    reply_json(r, o);
    cache_put(q->a, key, r);
}

/* --- /api/metrics ----------------------------------------------------------------------- */
/* A CSV table of numbers with a header line -> {columns, rows}; non-numbers as strings. */
static json_t *csv_json(const char *path) {
    char *text = nv_read_file(path, NULL);
    if (!text) return NULL;
    json_t *cols = json_array(), *rows = json_array();
    char *save = NULL;
    int first = 1;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[l - 1] = '\0';
        if (!*line) continue;
        json_t *row = first ? cols : json_array();
        char *s2 = NULL;
        for (char *f = strtok_r(line, ",", &s2); f; f = strtok_r(NULL, ",", &s2)) {
            char *end;
            double v = strtod(f, &end);
            if (!first && *f && !*end) json_array_append_new(row, num(v));
            else json_array_append_new(row, json_string(f));
        }
        if (!first) json_array_append_new(rows, row);
        first = 0;
    }
    free(text);
    return json_pack("{s:o, s:o}", "columns", cols, "rows", rows);
}

static void api_metrics(req *q, sv_reply *r) {
    char dir[SV_PATH_LEN];
    sv_path(dir, q->run, "metrics");
    json_t *models = json_object();
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < 5 || n > 63 || strcmp(e->d_name + n - 4, ".csv")) continue;
        char name[64], rel[128], p[SV_PATH_LEN];
        memcpy(name, e->d_name, n - 4);
        name[n - 4] = '\0';
        snprintf(rel, sizeof rel, "metrics/%s", e->d_name);
        if (!sv_name_ok(name) || sv_resolve_under(q->run, rel, p)) continue;
        json_t *t = csv_json(p);
        if (t) json_object_set_new(models, name, t);
    }
    if (d) closedir(d);
    reply_json(r, json_pack("{s:o}", "models", models));
}

/* --- /api/network ---------------------------------------------------------------------- */
static void api_network(req *q, sv_reply *r) {
    const char *model;
    int64_t epoch, sample = -1;
    if (model_epoch(q, r, &model, &epoch, 1)) return;
    const char *sa = arg(q, "sample");
    if (sa && *sa && !sv_int_ok(sa, 0, INT64_MAX / 2, &sample)) {
        sv_reply_error(r, 400, "bad sample (a row of the all split)", NULL);
        return;
    }
    char path[SV_PATH_LEN], key[SV_PATH_LEN * 2], sig[128];
    if (snapshot_path(q, model, epoch, path, r)) return;
    file_sig(path, sig, sizeof sig);
    snprintf(key, sizeof key, "net|%s|%s|%lld", path, sig, (long long)sample);
    if (cache_get(q->a, key, r)) return;

    pthread_mutex_lock(&q->a->h5);
    hid_t f = open_h5(path, NV_SNAPSHOT_FORMAT, NV_SNAPSHOT_VERSION, r);
    if (f < 0) {
        pthread_mutex_unlock(&q->a->h5);
        return;
    }
    int64_t nl = 0, n = 0, one = 1;
    char **names = layer_names(f, path, &nl);
    int32_t *lab = read_all(f, "labels/all", H5T_NATIVE_INT32, 4, &n, &one);
    int64_t *ids = NULL;
    json_t *o = json_object(), *layers = json_array();
    if (!names || !lab || n == 0) {
        sv_reply_error(r, 500, "snapshot without layer names or labels", NULL);
        goto done;
    }
    if (sample >= n) {
        sv_reply_error(r, 400, "sample is past the last row of the all split", NULL);
        goto done;
    }
    int64_t stride = (n + NET_MAX_ROWS - 1) / NET_MAX_ROWS, used = (n + stride - 1) / stride;
    int classes = 0;
    for (int64_t i = 0; i < n; i++) classes = lab[i] + 1 > classes ? lab[i] + 1 : classes;
    if (classes > 1000) classes = 1000;
    int64_t *count = calloc((size_t)classes + 1, sizeof *count);
    for (int64_t i = 0; i < n; i += stride)
        if (lab[i] >= 0 && lab[i] < classes) count[lab[i]]++;
    for (int64_t li = 0; li < nl; li++) {
        char ds[160];
        snprintf(ds, sizeof ds, "layers/%s/all", names[li]);
        int64_t w = 0;
        float *x = read_rows(f, ds, H5T_NATIVE_FLOAT, 4, 0, stride, used, &w);
        if (!x) continue;
        double *mean = calloc((size_t)w, sizeof *mean), *cm = calloc((size_t)(w * classes), sizeof *cm);
        for (int64_t i = 0; i < used; i++) {
            int c = lab[i * stride];
            for (int64_t j = 0; j < w; j++) {
                mean[j] += x[i * w + j];
                if (c >= 0 && c < classes) cm[c * w + j] += x[i * w + j];
            }
        }
        for (int64_t j = 0; j < w; j++) mean[j] /= (double)used;
        json_t *bc = json_array();
        for (int c = 0; c < classes; c++) {
            for (int64_t j = 0; j < w; j++) cm[c * w + j] /= count[c] ? (double)count[c] : 1.0;
            json_array_append_new(bc, f64_array(cm + c * w, w));
        }
        json_t *lj = json_pack("{s:s, s:I, s:o, s:o}", "name", names[li], "width", (json_int_t)w, "mean",
                               f64_array(mean, w), "by_class", bc);
        if (sample >= 0) {
            float *row = read_rows(f, ds, H5T_NATIVE_FLOAT, 4, sample, 1, 1, NULL);
            if (row) json_object_set_new(lj, "sample", f32_array(row, w));
            free(row);
        }
        json_array_append_new(layers, lj);
        free(mean);
        free(cm);
        free(x);
    }
    free(count);
    json_object_set_new(o, "model", json_string(model));
    json_object_set_new(o, "epoch", json_integer(epoch));
    json_object_set_new(o, "classes", json_integer(classes));
    json_object_set_new(o, "rows", json_integer(n));
    json_object_set_new(o, "stride", json_integer(stride));
    json_object_set_new(o, "rows_used", json_integer(used));
    json_object_set_new(o, "layers", layers);
    layers = NULL;
    nv_mlp_spec spec;
    nv_error err = {0};
    if (!nv_h5_read_spec(f, "model", &spec, path, &err)) {
        json_t *w = json_array();
        for (int l = 0; l <= spec.nlayers; l++) json_array_append_new(w, json_integer((json_int_t)spec.widths[l]));
        json_object_set_new(o, "widths", w);
        json_object_set_new(o, "activation", json_string(nv_activation_name(spec.act)));
    }
    if (sample >= 0) {
        int64_t c1;
        ids = read_rows(f, "ids/all", H5T_NATIVE_INT64, 8, sample, 1, 1, &c1);
        json_object_set_new(o, "sample", json_pack("{s:I, s:i, s:I}", "row", (json_int_t)sample, "label", lab[sample],
                                                   "id", (json_int_t)(ids ? ids[0] : -1)));
    }
    reply_json(r, o);
    o = NULL;
    cache_put(q->a, key, r);
done:
    json_decref(o);
    json_decref(layers);
    free(ids);
    free(lab);
    nv_h5_free_strs(names, nl);
    H5Fclose(f);
    pthread_mutex_unlock(&q->a->h5);
}

static void api_params(req *q, sv_reply *r) {
    const char *model;
    int64_t epoch;
    if (model_epoch(q, r, &model, &epoch, 1)) return;
    char path[SV_PATH_LEN], key[SV_PATH_LEN * 2], sig[128];
    if (snapshot_path(q, model, epoch, path, r)) return;
    file_sig(path, sig, sizeof sig);
    snprintf(key, sizeof key, "params|%s|%s", path, sig);
    if (cache_get(q->a, key, r)) return;
    pthread_mutex_lock(&q->a->h5);
    hid_t f = open_h5(path, NV_SNAPSHOT_FORMAT, NV_SNAPSHOT_VERSION, r);
    if (f >= 0) {
        int64_t n, c;
        float *p = read_all(f, "model/params", H5T_NATIVE_FLOAT, 4, &n, &c);
        if (p) reply_bin(r, p, n, 1);
        else sv_reply_error(r, 404, "this snapshot holds no parameters", NULL);
        H5Fclose(f);
        if (p) cache_put(q->a, key, r);
    }
    pthread_mutex_unlock(&q->a->h5);
}

/* --- /api/features ---------------------------------------------------------------------- */
#define FEATURES_HINT "run: nerve features RUN"

static int layer_arg(req *q, sv_reply *r, const char **layer) {
    *layer = arg(q, "layer");
    if (!sv_name_ok(*layer)) {
        sv_reply_error(r, 400, "bad or missing layer", NULL);
        return -1;
    }
    return 0;
}

static void api_features(req *q, sv_reply *r, int binary) {
    const char *model, *layer, *what = arg(q, "what");
    int64_t epoch;
    if (model_epoch(q, r, &model, &epoch, 1) || layer_arg(q, r, &layer)) return;
    if (binary && (!what || (strcmp(what, "inputs") && strcmp(what, "top")))) {
        sv_reply_error(r, 400, "what: inputs or top", NULL);
        return;
    }
    char path[SV_PATH_LEN], snap[SV_PATH_LEN], key[SV_PATH_LEN * 2], sig[128];
    if (analysis_path(q, "features", model, epoch, path, r, FEATURES_HINT)) return;
    file_sig(path, sig, sizeof sig);
    snprintf(key, sizeof key, "feat|%d|%s|%s|%s|%s", binary, what ? what : "", path, sig, layer);
    if (cache_get(q->a, key, r)) return;
    if (binary && !strcmp(what, "top") && snapshot_path(q, model, epoch, snap, r)) return;
    pthread_mutex_lock(&q->a->h5);
    hid_t f = open_h5(path, NV_FEATURES_FORMAT, NV_FEATURES_VERSION, r), s = -1;
    if (f < 0) goto out;
    char ds[200];
    int64_t units, d, k9, c1;
    snprintf(ds, sizeof ds, "layers/%s/inputs", layer);
    if (ds_shape(f, ds, &units, &d)) {
        sv_reply_error(r, 404, "no such layer in the features file", NULL);
        goto out;
    }
    if (binary && !strcmp(what, "inputs")) {
        float *x = read_all(f, ds, H5T_NATIVE_FLOAT, 4, &units, &d);
        if (x) reply_bin(r, x, units, d);
        else sv_reply_error(r, 500, "cannot read the feature images", NULL);
    } else if (binary) {
        /* the top-9 real inputs: rows of the snapshot's input layer, train split */
        snprintf(ds, sizeof ds, "layers/%s/top_rows", layer);
        int64_t *rows = read_all(f, ds, H5T_NATIVE_INT64, 8, &units, &k9);
        if (!rows || (s = open_h5(snap, NV_SNAPSHOT_FORMAT, NV_SNAPSHOT_VERSION, r)) < 0) {
            free(rows);
            if (!rows) sv_reply_error(r, 500, "cannot read top_rows", NULL);
            goto out;
        }
        float *x = malloc(sizeof(float) * (size_t)(units * k9 * d));
        int ok = x != NULL;
        for (int64_t i = 0; ok && i < units * k9; i++) {
            float *row = read_rows(s, "layers/input/train", H5T_NATIVE_FLOAT, 4, rows[i], 1, 1, &c1);
            if (!row || c1 != d) ok = 0;
            else memcpy(x + i * d, row, sizeof(float) * (size_t)d);
            free(row);
        }
        free(rows);
        if (ok) reply_bin(r, x, units * k9, d);
        else {
            free(x);
            sv_reply_error(r, 500, "cannot read the top inputs from the snapshot", NULL);
        }
    } else {
        json_t *o = json_pack("{s:s, s:I, s:s, s:I, s:I}", "model", model, "epoch", (json_int_t)epoch, "layer", layer,
                              "units", (json_int_t)units, "d", (json_int_t)d);
        int64_t v, n, c;
        nv_error err = {0};
        if (!nv_h5_read_attr_i64(f, "img_h", &v, path, "/", &err)) json_object_set_new(o, "img_h", json_integer(v));
        if (!nv_h5_read_attr_i64(f, "img_w", &v, path, "/", &err)) json_object_set_new(o, "img_w", json_integer(v));
        static const char *const box[] = {"box/lo", "box/hi", "box/centre"};
        static const char *const bkey[] = {"lo", "hi", "centre"};
        for (int i = 0; i < 3; i++) {
            float *b = read_all(f, box[i], H5T_NATIVE_FLOAT, 4, &n, &c);
            if (b) json_object_set_new(o, bkey[i], f32_array(b, n * c));
            free(b);
        }
        static const char *const per[] = {"activations", "data_max"};
        for (int i = 0; i < 2; i++) {
            snprintf(ds, sizeof ds, "layers/%s/%s", layer, per[i]);
            float *b = read_all(f, ds, H5T_NATIVE_FLOAT, 4, &n, &c);
            if (b) json_object_set_new(o, per[i], f32_array(b, n * c));
            free(b);
        }
        snprintf(ds, sizeof ds, "layers/%s/top_ids", layer);
        int64_t *ti = read_all(f, ds, H5T_NATIVE_INT64, 8, &n, &c);
        if (ti) {
            json_t *a = json_array();
            for (int64_t i = 0; i < n; i++) json_array_append_new(a, i64_array(ti + i * c, c));
            json_object_set_new(o, "top_ids", a);
            free(ti);
        }
        snprintf(ds, sizeof ds, "layers/%s/top_activations", layer);
        float *ta = read_all(f, ds, H5T_NATIVE_FLOAT, 4, &n, &c);
        if (ta) {
            json_t *a = json_array();
            for (int64_t i = 0; i < n; i++) json_array_append_new(a, f32_array(ta + i * c, c));
            json_object_set_new(o, "top_activations", a);
            free(ta);
        }
        reply_json(r, o);
    }
    cache_put(q->a, key, r);
out:
    if (s >= 0) H5Fclose(s);
    if (f >= 0) H5Fclose(f);
    pthread_mutex_unlock(&q->a->h5);
}

/* One unit's feature image at every epoch that has a features file: (E, d), the
 * epochs in X-Nerve-Epochs. */
static void api_feature_history(req *q, sv_reply *r) {
    const char *model, *layer;
    int64_t unit, dummy;
    if (model_epoch(q, r, &model, &dummy, 0) || layer_arg(q, r, &layer)) return;
    if (!sv_int_ok(arg(q, "unit"), 0, 1 << 24, &unit)) {
        sv_reply_error(r, 400, "bad or missing unit", NULL);
        return;
    }
    char dir[SV_PATH_LEN];
    sv_path(dir, q->run, "snapshots");
    nv_manifest m = {0};
    nv_error err = {0};
    if (nv_manifest_read(dir, &m, &err)) {
        sv_reply_error(r, 500, err.msg, NULL);
        return;
    }
    float *out = NULL;
    int64_t ne = 0, d = -1;
    char epochs[1024] = "";
    size_t el = 0;
    pthread_mutex_lock(&q->a->h5);
    for (int64_t i = 0; i < m.count; i++) {
        if (strcmp(m.files[i].model, model)) continue;
        char p[SV_PATH_LEN], rel[256], ds[160];
        snprintf(rel, sizeof rel, "analysis/features/%s/epoch_%04lld.h5", model, (long long)m.files[i].epoch);
        if (sv_resolve_under(q->run, rel, p)) continue;
        sv_reply tmp = {0};
        hid_t f = open_h5(p, NV_FEATURES_FORMAT, NV_FEATURES_VERSION, &tmp);
        sv_reply_free(&tmp);
        if (f < 0) continue;
        int64_t units, w;
        snprintf(ds, sizeof ds, "layers/%s/inputs", layer);
        if (!ds_shape(f, ds, &units, &w) && unit < units && (d < 0 || w == d)) {
            float *row = read_rows(f, ds, H5T_NATIVE_FLOAT, 4, unit, 1, 1, NULL);
            float *grown = row ? realloc(out, sizeof(float) * (size_t)((ne + 1) * w)) : NULL;
            if (grown) {
                out = grown;
                memcpy(out + ne * w, row, sizeof(float) * (size_t)w);
                d = w;
                ne++;
                el += (size_t)snprintf(epochs + el, sizeof epochs - el, "%s%lld", el ? "," : "", (long long)m.files[i].epoch);
                if (el >= sizeof epochs) el = sizeof epochs - 1;
            }
            free(row);
        }
        H5Fclose(f);
    }
    pthread_mutex_unlock(&q->a->h5);
    nv_manifest_free(&m);
    if (!ne) {
        free(out);
        sv_reply_error(r, 404, "no feature images of that unit", FEATURES_HINT);
        return;
    }
    reply_bin(r, out, ne, d);
    snprintf(r->extra_name, sizeof r->extra_name, "X-Nerve-Epochs");
    snprintf(r->extra_value, sizeof r->extra_value, "%s", epochs);
}

/* --- /api/ph ------------------------------------------------------------------------------ */
#define PH_HINT "run: nerve ph RUN"

static void api_ph_summary(req *q, sv_reply *r) {
    char p[SV_PATH_LEN];
    if (sv_resolve_under(q->run, "analysis/ph/summary.csv", p)) {
        sv_reply_error(r, 404, "no persistent homology summary yet", PH_HINT);
        return;
    }
    char key[SV_PATH_LEN * 2], sig[128];
    file_sig(p, sig, sizeof sig);
    snprintf(key, sizeof key, "phsum|%s|%s", p, sig);
    if (cache_get(q->a, key, r)) return;
    json_t *t = csv_json(p);
    if (!t) {
        sv_reply_error(r, 500, "cannot read analysis/ph/summary.csv", NULL);
        return;
    }
    reply_json(r, t);
    cache_put(q->a, key, r);
}

typedef struct {
    json_t *out;
    hid_t f;
} ph_walk;

/* Visits /<layer>/<split>/<set> groups holding dim, birth, death. */
static herr_t ph_visit(hid_t loc, const char *name, const H5O_info_t *info, void *ctx) {
    (void)loc;
    ph_walk *w = ctx;
    if (info->type != H5O_TYPE_GROUP) return 0;
    char a[3][80];
    int n = sscanf(name, "%79[^/]/%79[^/]/%79s", a[0], a[1], a[2]);
    if (n != 3) return 0;
    char ds[SV_PATH_LEN];
    int64_t rows, cols;
    sv_path(ds, name, "dim");
    if (ds_shape(w->f, ds, &rows, &cols)) return 0;
    int64_t *dim = read_all(w->f, ds, H5T_NATIVE_INT64, 8, &rows, &cols);
    sv_path(ds, name, "birth");
    float *birth = read_all(w->f, ds, H5T_NATIVE_FLOAT, 4, &rows, &cols);
    sv_path(ds, name, "death");
    float *death = read_all(w->f, ds, H5T_NATIVE_FLOAT, 4, &rows, &cols);
    if (dim && birth && death) {
        json_t *L = json_object_get(w->out, a[0]);
        if (!L) json_object_set_new(w->out, a[0], L = json_object());
        json_t *S = json_object_get(L, a[1]);
        if (!S) json_object_set_new(L, a[1], S = json_object());
        json_object_set_new(S, a[2], json_pack("{s:o, s:o, s:o}", "dim", i64_array(dim, rows), "birth",
                                               f32_array(birth, rows), "death", f32_array(death, rows)));
    }
    free(dim);
    free(birth);
    free(death);
    return 0;
}

static void api_ph(req *q, sv_reply *r) {
    const char *model;
    int64_t epoch;
    if (model_epoch(q, r, &model, &epoch, 1)) return;
    char path[SV_PATH_LEN], key[SV_PATH_LEN * 2], sig[128];
    if (analysis_path(q, "ph", model, epoch, path, r, PH_HINT)) return;
    file_sig(path, sig, sizeof sig);
    snprintf(key, sizeof key, "ph|%s|%s", path, sig);
    if (cache_get(q->a, key, r)) return;
    pthread_mutex_lock(&q->a->h5);
    hid_t f = open_h5(path, "nerve-diagrams", 1, r);
    if (f >= 0) {
        json_t *o = json_pack("{s:s, s:I}", "model", model, "epoch", (json_int_t)epoch);
        nv_error err = {0};
        double v;
        int64_t k;
        if (!nv_h5_read_attr_f64(f, "scale", &v, path, "/", &err)) json_object_set_new(o, "scale", num(v));
        if (!nv_h5_read_attr_f64(f, "threshold", &v, path, "/", &err)) json_object_set_new(o, "threshold", num(v));
        if (!nv_h5_read_attr_i64(f, "k", &k, path, "/", &err)) json_object_set_new(o, "k", json_integer(k));
        char *dist = NULL;
        if (!nv_h5_read_attr_str(f, "distance", &dist, path, "/", &err)) json_object_set_new(o, "distance", json_string(dist));
        free(dist);
        ph_walk w = {json_object(), f};
        H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, ph_visit, &w);
        json_object_set_new(o, "diagrams", w.out);
        reply_json(r, o);
        cache_put(q->a, key, r);
        H5Fclose(f);
    }
    pthread_mutex_unlock(&q->a->h5);
}

/* --- /api/pca ---------------------------------------------------------------------------- */
#define PCA_HINT "run: nerve pca RUN"

static int64_t pca_max(req *q) {
    int64_t m = PCA_MAX_POINTS;
    const char *s = arg(q, "max");
    if (s && *s) sv_int_ok(s, 1, 100000, &m);
    return m;
}

/* Rows floor(i n / m), i < m (every row when n <= m). */
static int64_t *pca_rows(int64_t n, int64_t m, int64_t *count) {
    if (m > n) m = n;
    int64_t *idx = malloc(sizeof *idx * (size_t)(m ? m : 1));
    if (!idx) return NULL;
    for (int64_t i = 0; i < m; i++) idx[i] = (int64_t)((double)i * (double)n / (double)m);
    *count = m;
    return idx;
}

static void api_pca(req *q, sv_reply *r, int binary) {
    const char *model, *layer = NULL;
    int64_t epoch;
    if (model_epoch(q, r, &model, &epoch, 1)) return;
    if (binary && layer_arg(q, r, &layer)) return;
    int64_t mx = pca_max(q);
    char path[SV_PATH_LEN], snap[SV_PATH_LEN], key[SV_PATH_LEN * 2], sig[128];
    if (analysis_path(q, "pca", model, epoch, path, r, PCA_HINT)) return;
    file_sig(path, sig, sizeof sig);
    snprintf(key, sizeof key, "pca|%d|%s|%s|%s|%lld", binary, path, sig, layer ? layer : "", (long long)mx);
    if (cache_get(q->a, key, r)) return;
    if (!binary && snapshot_path(q, model, epoch, snap, r)) return;
    pthread_mutex_lock(&q->a->h5);
    hid_t f = open_h5(path, "nerve-pca", 1, r), s = -1;
    if (f < 0) goto out;
    int64_t nl = 0;
    char **names = layer_names(f, path, &nl);
    if (binary) {
        char ds[160];
        int64_t n, k, cnt;
        snprintf(ds, sizeof ds, "layers/%s/projections/all", layer);
        if (ds_shape(f, ds, &n, &k)) {
            sv_reply_error(r, 404, "no such layer in the PCA file", NULL);
        } else {
            int64_t *idx = pca_rows(n, mx, &cnt);
            double *all = read_all(f, ds, H5T_NATIVE_DOUBLE, 8, &n, &k);
            float *x = idx && all ? malloc(sizeof(float) * (size_t)(cnt * k)) : NULL;
            if (x) {
                for (int64_t i = 0; i < cnt; i++)
                    for (int64_t j = 0; j < k; j++) x[i * k + j] = (float)all[idx[i] * k + j];
                reply_bin(r, x, cnt, k);
            } else {
                sv_reply_error(r, 500, "cannot read the projections", NULL);
            }
            free(idx);
            free(all);
        }
    } else {
        json_t *o = json_pack("{s:s, s:I}", "model", model, "epoch", (json_int_t)epoch), *ls = json_array();
        int64_t n_all = -1, n_train = -1;
        for (int64_t i = 0; i < nl; i++) {
            char g[160];
            snprintf(g, sizeof g, "layers/%s", names[i]);
            hid_t gid = H5Gopen2(f, g, H5P_DEFAULT);
            if (gid < 0) continue;
            nv_error err = {0};
            int64_t k = 0, n90 = 0, w = 0, rows, cols;
            nv_h5_read_attr_i64(gid, "k", &k, path, g, &err);
            nv_h5_read_attr_i64(gid, "n_components_90", &n90, path, g, &err);
            nv_h5_read_attr_i64(gid, "width", &w, path, g, &err);
            nv_h5_read_attr_i64(gid, "n_train", &n_train, path, g, &err);
            double *ratios = read_all(gid, "ratios", H5T_NATIVE_DOUBLE, 8, &rows, &cols);
            json_array_append_new(ls, json_pack("{s:s, s:I, s:I, s:I, s:o}", "name", names[i], "k", (json_int_t)k,
                                                "width", (json_int_t)w, "n_components_90", (json_int_t)n90, "ratios",
                                                ratios ? f64_array(ratios, rows < 10 ? rows : 10) : json_array()));
            free(ratios);
            if (ds_shape(gid, "projections/all", &rows, &cols) == 0) n_all = rows;
            H5Gclose(gid);
        }
        json_object_set_new(o, "layers", ls);
        int64_t cnt = 0, *idx = n_all > 0 ? pca_rows(n_all, mx, &cnt) : NULL;
        if ((s = open_h5(snap, NV_SNAPSHOT_FORMAT, NV_SNAPSHOT_VERSION, r)) >= 0 && idx) {
            int64_t nlab, one;
            int32_t *lab = read_all(s, "labels/all", H5T_NATIVE_INT32, 4, &nlab, &one);
            if (lab && nlab == n_all) {
                json_t *la = json_array();
                for (int64_t i = 0; i < cnt; i++) json_array_append_new(la, json_integer(lab[idx[i]]));
                json_object_set_new(o, "labels", la);
            }
            free(lab);
        }
        json_object_set_new(o, "rows", idx ? i64_array(idx, cnt) : json_array());
        json_object_set_new(o, "n", json_integer(n_all));
        json_object_set_new(o, "n_train", json_integer(n_train));
        free(idx);
        reply_json(r, o);
    }
    cache_put(q->a, key, r);
    nv_h5_free_strs(names, nl);
out:
    if (s >= 0) H5Fclose(s);
    if (f >= 0) H5Fclose(f);
    pthread_mutex_unlock(&q->a->h5);
}

/* --- /api/dyn: the per-step record ---------------------------------------------------------- */
static void api_dyn(req *q, sv_reply *r) {
    const char *model;
    int64_t dummy;
    if (model_epoch(q, r, &model, &dummy, 0)) return;
    nv_error err = {0};
    sv_dyn *d = NULL;
    pthread_mutex_lock(&q->a->h5);
    if (sv_dyn_open(q->run, model, &d, &err)) {
        pthread_mutex_unlock(&q->a->h5);
        json_t *o = json_pack("{s:b, s:s, s:s}", "recorded", 0, "message", err.msg, "hint", SV_DYN_HINT);
        reply_json(r, o);
        return;
    }
    json_t *o = json_pack("{s:b, s:s}", "recorded", 1, "model", model);
    char names[NV_MAX_LAYERS][16];
    int64_t widths[NV_MAX_LAYERS + 1];
    int nl = sv_dyn_layers(d, names, NV_MAX_LAYERS, widths);
    json_t *ln = json_array();
    for (int i = 0; i < nl; i++) json_array_append_new(ln, json_string(names[i]));
    json_object_set_new(o, "layers", ln);
    json_object_set_new(o, "widths", i64_array(widths, nl + 1));
    json_object_set_new(o, "last_step", json_integer(sv_dyn_last_step(d)));
    int64_t n, c;
    if (!sv_dyn_shape(d, "steps/step", &n, &c, &err) && n > 0) {
        int64_t *st = malloc(sizeof *st * (size_t)n), *ep = malloc(sizeof *ep * (size_t)n);
        if (st && ep && !sv_dyn_read_i64(d, "steps/step", 0, n, st, &err) && !sv_dyn_read_i64(d, "steps/epoch", 0, n, ep, &err)) {
            json_object_set_new(o, "steps", i64_array(st, n));
            json_object_set_new(o, "epochs", i64_array(ep, n));
        }
        free(st);
        free(ep);
        static const char *const series[] = {"steps/loss", "steps/accuracy", "steps/grad_norm", "steps/update_norm",
                                             "steps/weight_norm", "steps/update_ratio", "steps/dead_frac"};
        json_t *so = json_object();
        for (size_t i = 0; i < NV_ARRAY_LEN(series); i++) {
            int64_t rn, rc;
            if (sv_dyn_shape(d, series[i], &rn, &rc, &err) || rn != n) continue;
            float *v = malloc(sizeof(float) * (size_t)(rn * rc));
            if (v && !sv_dyn_read_f32(d, series[i], 0, rn, v, &err)) {
                json_t *cols = json_array(); /* column-major: one array per layer */
                for (int64_t k = 0; k < rc; k++) {
                    json_t *a = json_array();
                    for (int64_t t = 0; t < rn; t++) json_array_append_new(a, num(v[t * rc + k]));
                    json_array_append_new(cols, a);
                }
                json_object_set_new(so, series[i] + 6, cols);
            }
            free(v);
        }
        json_object_set_new(o, "series", so);
    }
    sv_dyn_close(d);
    pthread_mutex_unlock(&q->a->h5);
    reply_json(r, o);
}

/* One step: per-unit statistics of the neurons tier and, when the factors tier
 * recorded it, each layer's batch gradient (1/b) sum_i d_i a_i^T (docs/dynamics.md). */
static void api_dyn_step(req *q, sv_reply *r, int binary) {
    const char *model;
    int64_t dummy, step;
    if (model_epoch(q, r, &model, &dummy, 0)) return;
    if (!sv_int_ok(arg(q, "step"), 0, INT64_MAX / 2, &step)) {
        sv_reply_error(r, 400, "bad or missing step", NULL);
        return;
    }
    nv_error err = {0};
    sv_dyn *d = NULL;
    pthread_mutex_lock(&q->a->h5);
    if (sv_dyn_open(q->run, model, &d, &err)) {
        pthread_mutex_unlock(&q->a->h5);
        sv_reply_error(r, 404, err.msg, SV_DYN_HINT);
        return;
    }
    char names[NV_MAX_LAYERS][16];
    int64_t widths[NV_MAX_LAYERS + 1], row0, n;
    int nl = sv_dyn_layers(d, names, NV_MAX_LAYERS, widths);
    if (binary) { /* the batch gradient of every weight matrix, mlp.h's order without biases */
        if (sv_dyn_rows_of_step(d, 3, step, &row0, &n, &err) || n == 0) {
            sv_reply_error(r, 404, "the factors tier did not record this step", "dynamics.factors.every");
            goto out;
        }
        int64_t total = 0;
        for (int k = 0; k < nl; k++) total += widths[k] * widths[k + 1];
        float *g = calloc((size_t)total, sizeof *g);
        int64_t off = 0;
        int ok = g != NULL;
        for (int k = 0; ok && k < nl; k++) {
            char pa[64], pd[64];
            snprintf(pa, sizeof pa, "factors/%s/a", names[k]);
            snprintf(pd, sizeof pd, "factors/%s/d", names[k]);
            int64_t in = widths[k], out = widths[k + 1];
            float *A = malloc(sizeof(float) * (size_t)(n * in)), *D = malloc(sizeof(float) * (size_t)(n * out));
            ok = A && D && !sv_dyn_read_f32(d, pa, row0, n, A, &err) && !sv_dyn_read_f32(d, pd, row0, n, D, &err);
            for (int64_t i = 0; ok && i < n; i++)
                for (int64_t o = 0; o < out; o++)
                    for (int64_t j = 0; j < in; j++) g[off + o * in + j] += D[i * out + o] * A[i * in + j] / (float)n;
            off += in * out;
            free(A);
            free(D);
        }
        if (ok) reply_bin(r, g, total, 1);
        else {
            free(g);
            sv_reply_error(r, 500, err.msg[0] ? err.msg : "cannot read the factors", NULL);
        }
        goto out;
    }
    json_t *o = json_pack("{s:s, s:I}", "model", model, "step", (json_int_t)step), *ls = json_array();
    if (!sv_dyn_rows_of_step(d, 1, step, &row0, &n, &err) && n == 1) {
        static const char *const stats[] = {"mean_act", "frac_active", "mean_abs_delta", "grad_norm", "update_norm",
                                            "influence"};
        for (int k = 0; k < nl; k++) {
            json_t *lj = json_pack("{s:s, s:I}", "name", names[k], "width", (json_int_t)widths[k + 1]);
            float *v = malloc(sizeof(float) * (size_t)widths[k + 1]);
            for (size_t i = 0; v && i < NV_ARRAY_LEN(stats); i++) {
                char p[96];
                snprintf(p, sizeof p, "neurons/%.16s/%.32s", names[k], stats[i]);
                if (!sv_dyn_read_f32(d, p, row0, 1, v, &err)) json_object_set_new(lj, stats[i], f32_array(v, widths[k + 1]));
            }
            free(v);
            json_array_append_new(ls, lj);
        }
    } else {
        json_object_set_new(o, "message", json_string("the neurons tier did not record this step (dynamics.neurons.every)"));
    }
    json_object_set_new(o, "layers", ls);
    reply_json(r, o);
out:
    sv_dyn_close(d);
    pthread_mutex_unlock(&q->a->h5);
}

/* --- the raw file route -------------------------------------------------------------------- */
void sv_api_file(sv_api *a, const char *rel, sv_reply *r) {
    if (!sv_rel_path_ok(rel, 0)) {
        sv_reply_error(r, 404, "not found", NULL);
        return;
    }
    /* the longest prefix of rel that is a run directory under the root */
    char runrel[600] = "", run[SV_PATH_LEN], p[SV_PATH_LEN];
    const char *inner = NULL;
    if (sv_is_run_dir(a->root)) {
        inner = rel;
        snprintf(run, sizeof run, "%s", a->root);
    } else {
        const char *s = rel;
        while ((s = strchr(s, '/'))) {
            size_t n = (size_t)(s - rel);
            if (n >= sizeof runrel) break;
            memcpy(runrel, rel, n);
            runrel[n] = '\0';
            if (sv_resolve_under(a->root, runrel, run) == 0 && sv_is_run_dir(run)) inner = s + 1;
            s++;
        }
        if (inner) {
            memcpy(runrel, rel, (size_t)(inner - rel - 1));
            runrel[inner - rel - 1] = '\0';
            if (sv_resolve_under(a->root, runrel, run)) inner = NULL;
        }
    }
    if (!inner || !sv_run_file_allowed(run, inner)) {
        sv_reply_error(r, 404, "not found (only files a manifest lists, or that nerve publishes whole, are served)", NULL);
        return;
    }
    int rc = sv_resolve_under(run, inner, p);
    if (rc) {
        sv_reply_error(r, rc == -2 ? 403 : 404, rc == -2 ? "forbidden" : "not found", NULL);
        return;
    }
    struct stat st;
    if (stat(p, &st) || !S_ISREG(st.st_mode) || st.st_size > ((off_t)1 << 30)) {
        sv_reply_error(r, 404, "not found", NULL);
        return;
    }
    size_t len;
    char *body = nv_read_file(p, &len);
    if (!body) {
        sv_reply_error(r, 404, "not found", NULL);
        return;
    }
    size_t n = strlen(p);
    r->status = 200;
    r->ctype = n > 5 && !strcmp(p + n - 5, ".json") ? "application/json"
               : n > 4 && !strcmp(p + n - 4, ".csv") ? "text/csv; charset=utf-8"
               : n > 4 && !strcmp(p + n - 4, ".png") ? "image/png"
               : n > 4 && !strcmp(p + n - 4, ".svg") ? "image/svg+xml"
               : n > 4 && (!strcmp(p + n - 4, ".cfg") || !strcmp(p + n - 4, ".txt")) ? "text/plain; charset=utf-8"
               : "application/octet-stream";
    r->body = body;
    r->len = len;
}

/* --- dispatch ----------------------------------------------------------------------------- */
sv_api *sv_api_new(const char *root_real) {
    sv_api *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    snprintf(a->root, sizeof a->root, "%s", root_real);
    pthread_mutex_init(&a->h5, NULL);
    pthread_mutex_init(&a->cmu, NULL);
    return a;
}

void sv_api_free(sv_api *a) {
    if (!a) return;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(a->cache[i].key);
        free(a->cache[i].r.body);
    }
    pthread_mutex_destroy(&a->h5);
    pthread_mutex_destroy(&a->cmu);
    free(a);
}

/* --- /api/queries, /api/query: nerve query's presets ---------------------------------- */
/* The presets, their one-line summaries and the arguments each takes (the form). */
static void api_queries(sv_reply *r) {
    static const char *const takes[] = {
        "model layer epoch weight k by",                 /* top-samples */
        "model layer groups limit",                      /* weight-groups */
        "model run2 step loss",                          /* compare-runs */
        "model fraction alarm k",                        /* pre-explosion */
        "model layer weight tolerance window k",         /* weight-to-zero */
    };
    json_t *ps = json_array();
    for (int i = 0; nv_query_preset_names[i]; i++)
        json_array_append_new(ps, json_pack("{s:s, s:s, s:s}", "name", nv_query_preset_names[i], "description",
                                            nv_query_preset_summaries[i], "args",
                                            i < (int)NV_ARRAY_LEN(takes) ? takes[i] : ""));
    reply_json(r, json_pack("{s:b, s:o, s:s}", "available", 1, "presets", ps, "docs", "docs/queries.md"));
}

#define QUERY_MAX_ROWS 1000 /* rows per table in one answer; the command gives them all */

/* A real number argument: NAN when absent; -1 when present but not a finite number. */
static int real_arg(const char *s, double *out) {
    if (!s) return 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v) || strlen(s) > 40) return -1;
    *out = v;
    return 0;
}

/* Runs one preset over the run (and run2 for compare-runs), as `nerve query RUN
 * --preset NAME ...` would, and answers {preset, command, note, tables: [{name,
 * columns, rows, nrows, truncated}]}; bad arguments and presets the run cannot
 * answer (a tier not recorded) are 400 with the engine's message. The session is
 * opened per request: the store is read in place, so this costs little beyond the
 * preset itself. */
static void api_query(req *q, sv_reply *r) {
    const char *preset = arg(q, "preset");
    nv_preset_args a;
    nv_preset_args_init(&a);
    int known = 0;
    for (int i = 0; preset && nv_query_preset_names[i]; i++) known |= !strcmp(preset, nv_query_preset_names[i]);
    if (!known) {
        sv_reply_error(r, 400, "preset: expected one of top-samples, weight-groups, compare-runs, pre-explosion, "
                               "weight-to-zero", "GET /api/queries lists them");
        return;
    }
    a.preset = preset;
    char cmd[3 * SV_PATH_LEN + 256];
    /* the run's real path: the command works from any directory */
    snprintf(cmd, sizeof cmd, "nerve query %.4000s --preset %s", q->run, preset);
#define ADD_CMD(...) snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), __VA_ARGS__)
    const char *s;
    if ((s = arg(q, "model")) && *s) {
        if (!sv_name_ok(s)) {
            sv_reply_error(r, 400, "model: expected a model name", NULL);
            return;
        }
        a.model = s;
        ADD_CMD(" --model %s", s);
    }
    if ((s = arg(q, "layer")) && *s) {
        if (!sv_name_ok(s)) {
            sv_reply_error(r, 400, "layer: expected a layer name", NULL);
            return;
        }
        a.layer = s;
        ADD_CMD(" --layer %s", s);
    }
    int64_t v;
    if ((s = arg(q, "epoch")) && *s) {
        if (!sv_int_ok(s, 1, INT32_MAX, &v)) {
            sv_reply_error(r, 400, "epoch: expected an integer >= 1", NULL);
            return;
        }
        a.epoch = v;
        ADD_CMD(" --epoch %lld", (long long)v);
    }
    if ((s = arg(q, "weight")) && *s) {
        char rs[24], cs[24];
        const char *comma = strchr(s, ',');
        int64_t rv, cv;
        if (!comma || comma - s >= (long)sizeof rs || strlen(comma + 1) >= sizeof cs)
            {
            sv_reply_error(r, 400, "weight: expected ROW,COL", NULL);
            return;
        }
        memcpy(rs, s, (size_t)(comma - s));
        rs[comma - s] = '\0';
        strcpy(cs, comma + 1);
        if (!sv_int_ok(rs, 0, INT32_MAX, &rv) || !sv_int_ok(cs, 0, INT32_MAX, &cv))
            {
            sv_reply_error(r, 400, "weight: expected ROW,COL, two integers >= 0", NULL);
            return;
        }
        a.row = rv;
        a.col = cv;
        ADD_CMD(" --weight %lld,%lld", (long long)rv, (long long)cv);
    }
    if ((s = arg(q, "k")) && *s) {
        if (!sv_int_ok(s, 1, 100000, &v)) {
            sv_reply_error(r, 400, "k: expected an integer 1..100000", NULL);
            return;
        }
        a.k = (int)v;
        ADD_CMD(" -k %lld", (long long)v);
    }
    if ((s = arg(q, "by")) && *s) {
        if (!strcmp(s, "abs")) a.by = NV_RANK_ABS;
        else if (!strcmp(s, "pos")) a.by = NV_RANK_POS;
        else if (!strcmp(s, "neg")) a.by = NV_RANK_NEG;
        else {
            sv_reply_error(r, 400, "by: expected abs, pos or neg", NULL);
            return;
        }
        ADD_CMD(" --by %s", s);
    }
    if ((s = arg(q, "alarm")) && *s) {
        if (!strcmp(s, "any")) a.alarm = NV_ALARM_ANY;
        else if (!strcmp(s, "abs")) a.alarm = NV_ALARM_ABS;
        else if (!strcmp(s, "rel")) a.alarm = NV_ALARM_REL;
        else {
            sv_reply_error(r, 400, "alarm: expected any, abs or rel", NULL);
            return;
        }
        ADD_CMD(" --alarm %s", s);
    }
    if ((s = arg(q, "step")) && *s) {
        if (!sv_int_ok(s, 0, INT64_MAX / 2, &v)) {
            sv_reply_error(r, 400, "step: expected an integer >= 0", NULL);
            return;
        }
        a.step = v;
        ADD_CMD(" --step %lld", (long long)v);
    }
    static const struct { const char *name; size_t off; } reals[] = {
        {"loss", offsetof(nv_preset_args, loss)},
        {"fraction", offsetof(nv_preset_args, fraction)},
        {"tolerance", offsetof(nv_preset_args, tolerance)},
    };
    for (size_t i = 0; i < NV_ARRAY_LEN(reals); i++) {
        double x = NAN;
        if (real_arg(arg(q, reals[i].name), &x)) {
            char m[64];
            snprintf(m, sizeof m, "%s: expected a number", reals[i].name);
            {
            sv_reply_error(r, 400, m, NULL);
            return;
        }
        }
        if (!isnan(x)) {
            *(double *)((char *)&a + reals[i].off) = x;
            ADD_CMD(" --%s %s", reals[i].name, arg(q, reals[i].name));
        }
    }
    static const struct { const char *name, *flag; int64_t lo, hi; } ints[] = {
        {"window", "--window", 1, INT64_MAX / 2}, {"groups", "--groups", 1, 1000}, {"limit", "--limit", -1, 1000000}};
    for (size_t i = 0; i < NV_ARRAY_LEN(ints); i++) {
        if (!(s = arg(q, ints[i].name)) || !*s) continue;
        if (!sv_int_ok(s, ints[i].lo, ints[i].hi, &v)) {
            char m[80];
            snprintf(m, sizeof m, "%s: expected an integer %lld..%lld", ints[i].name, (long long)ints[i].lo,
                     (long long)ints[i].hi);
            {
            sv_reply_error(r, 400, m, NULL);
            return;
        }
        }
        if (i == 0) a.window = v;
        else if (i == 1) a.groups = (int)v;
        else a.limit = v;
        ADD_CMD(" %s %lld", ints[i].flag, (long long)v);
    }
    const char *runs[2] = {q->run, NULL};
    char run2[SV_PATH_LEN];
    int nruns = 1;
    if ((s = arg(q, "run2")) && *s) {
        if (sv_api_run_dir(q->a, s, run2, r)) return;
        runs[nruns++] = run2;
        /* the command names the second run after the first */
        char rest[sizeof cmd];
        const char *tail = cmd + strlen("nerve query ") + strlen(q->run);
        snprintf(rest, sizeof rest, "%s", tail);
        snprintf(cmd, sizeof cmd, "nerve query %.4000s %.4000s%.4000s", q->run, run2, rest);
    }
#undef ADD_CMD
    nv_error err = {0};
    nv_query *qs = NULL;
    nv_qresult res;
    memset(&res, 0, sizeof res);
    nv_query_options opt = {.threads = 1, .device = NV_DEVICE_CPU};
    pthread_mutex_lock(&q->a->h5); /* the engine reads HDF5 */
    nv_status st = nv_query_open(runs, nruns, &opt, &qs, &err);
    if (!st) st = nv_query_preset(qs, &a, &res, &err);
    nv_query_close(qs);
    pthread_mutex_unlock(&q->a->h5);
    if (st) {
        nv_qresult_free(&res);
        if (st == NV_EINPUT) sv_reply_error(r, 400, err.msg, cmd);
        else sv_reply_error(r, 500, err.msg, NULL);
        return;
    }
    json_t *tables = json_array();
    for (int t = 0; t < res.ntables; t++) {
        const nv_qtable *tb = &res.table[t];
        json_t *cols = json_array(), *rows = json_array();
        for (int c = 0; c < tb->ncols; c++) json_array_append_new(cols, json_string(tb->cols[c]));
        for (int64_t i = 0; i < tb->nrows && i < QUERY_MAX_ROWS; i++) {
            json_t *row = json_array();
            for (int c = 0; c < tb->ncols; c++) {
                const nv_qvalue *x = &tb->cells[i * tb->ncols + c];
                if (x->type == NV_QINT) json_array_append_new(row, json_integer((json_int_t)x->i));
                else if (x->type == NV_QREAL) json_array_append_new(row, num(x->f));
                else if (x->type == NV_QTEXT) json_array_append_new(row, json_string(x->s ? x->s : ""));
                else json_array_append_new(row, json_null());
            }
            json_array_append_new(rows, row);
        }
        json_array_append_new(tables, json_pack("{s:s, s:o, s:o, s:I, s:b}", "name", tb->name, "columns", cols,
                                                "rows", rows, "nrows", (json_int_t)tb->nrows, "truncated",
                                                tb->nrows > QUERY_MAX_ROWS));
    }
    reply_json(r, json_pack("{s:s, s:s, s:s, s:o}", "preset", preset, "command", cmd, "note", res.note, "tables",
                            tables));
    nv_qresult_free(&res);
}

void sv_api_handle(sv_api *a, const char *path, sv_arg_fn argf, void *ctx, sv_reply *r) {
    req q = {.a = a, .arg = argf, .ctx = ctx};
    memset(r, 0, sizeof *r);
    if (!strcmp(path, "/api/runs")) {
        api_runs(&q, r);
        return;
    }
    if (!strcmp(path, "/api/queries")) {
        api_queries(r);
        return;
    }
    q.run_id = argf(ctx, "run");
    if (!q.run_id) q.run_id = "";
    if (sv_api_run_dir(a, q.run_id, q.run, r)) return;
    if (!strcmp(path, "/api/run")) api_run(&q, r);
    else if (!strcmp(path, "/api/metrics")) api_metrics(&q, r);
    else if (!strcmp(path, "/api/network")) api_network(&q, r);
    else if (!strcmp(path, "/api/params.bin")) api_params(&q, r);
    else if (!strcmp(path, "/api/features")) api_features(&q, r, 0);
    else if (!strcmp(path, "/api/features.bin")) api_features(&q, r, 1);
    else if (!strcmp(path, "/api/features/history.bin")) api_feature_history(&q, r);
    else if (!strcmp(path, "/api/ph/summary")) api_ph_summary(&q, r);
    else if (!strcmp(path, "/api/ph")) api_ph(&q, r);
    else if (!strcmp(path, "/api/pca")) api_pca(&q, r, 0);
    else if (!strcmp(path, "/api/pca.bin")) api_pca(&q, r, 1);
    else if (!strcmp(path, "/api/dyn")) api_dyn(&q, r);
    else if (!strcmp(path, "/api/dyn/step")) api_dyn_step(&q, r, 0);
    else if (!strcmp(path, "/api/dyn/grad.bin")) api_dyn_step(&q, r, 1);
    else if (!strcmp(path, "/api/query")) api_query(&q, r);
    else sv_reply_error(r, 404, "no such endpoint", "docs/serve.md lists the API");
}
