/* store.c: the dynamics store of include/nerve/dynamics.h (docs/dynamics.md):
 * immutable chunk files, the manifest that lists them, and the index file whose
 * virtual datasets concatenate them, plus --resume's truncation.
 *
 * Everything here runs on the run's background writer (one chunk job after
 * another, in step order), or on the training thread while that writer is drained
 * (resume), so nothing needs a lock but the block pool.
 *
 * Crash safety, by construction: a chunk file is written under a hidden temporary
 * name and published (fsync, rename, fsync of the folder); only then is it added to
 * the manifest, and then the index is rewritten the same way. A reader that follows
 * the manifest or the index never meets a file a writer still has open.
 *
 * Same bytes: nothing time- or host-dependent is stored, HDF5's object times are
 * off (store/h5util.h), chunk boundaries depend only on the config, and the JSON is
 * printed in a fixed key order.
 */
#include "dyn_store.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nerve/fsutil.h"
#include "nerve/runhash.h"
#include "store/h5util.h"

/* ---- the table of datasets ------------------------------------------------------- */
static const char *const UNIT_NAMES[NV_DU_COUNT] = {"mean_act", "frac_active", "mean_abs_delta",
                                                     "grad_norm", "update_norm", "influence"};

static void add(dyn_layout *l, int tier, int q, int layer, int type, int64_t cols, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void add(dyn_layout *l, int tier, int q, int layer, int type, int64_t cols, const char *fmt, ...) {
    dyn_dataset *d = &l->ds[l->ndatasets++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->path, sizeof d->path, fmt, ap);
    va_end(ap);
    d->tier = tier;
    d->q = q;
    d->layer = layer;
    d->type = type;
    d->cols = cols;
}

static int has_state1(const nv_optim_spec *o) { return o->kind == NV_OPT_ADAM || o->momentum != 0.0f; }
static int has_state2(const nv_optim_spec *o) { return o->kind == NV_OPT_ADAM; }

nv_status dyn_layout_new(const nv_experiment *ex, const nv_model_def *md, const char *config_text,
                         int64_t steps_per_epoch, int64_t n_train, dyn_layout **out, nv_error *err) {
    *out = NULL;
    dyn_layout *l = nv_calloc(1, sizeof *l, err);
    if (!l) return NV_ENOMEM;
    const int L = md->spec.nlayers;
    l->ds = nv_calloc((size_t)(40 + 10 * L), sizeof *l->ds, err);
    l->config_text = strdup(config_text ? config_text : "");
    if (!l->ds || !l->config_text) {
        dyn_layout_free(l);
        return err && err->status ? err->status : nv_fail(err, NV_ENOMEM, "out of memory");
    }
    snprintf(l->model, sizeof l->model, "%s", md->name);
    snprintf(l->experiment, sizeof l->experiment, "%s", ex->experiment);
    l->seed = ex->seed;
    l->spec = md->spec;
    l->opt = ex->optim;
    l->cfg = ex->dynamics;
    l->nparams = nv_mlp_param_count(&md->spec);
    l->batch_size = ex->batch_size;
    l->steps_per_epoch = steps_per_epoch;
    l->epochs = ex->epochs;
    l->n_train = n_train;
    l->nlayers = L;
    for (int k = 0; k < L; k++) nv_layer_name(k + 1, L, l->layer_names[k], sizeof l->layer_names[k]);

    add(l, NV_DYN_STEPS, Q_STEP, -1, DT_I64, 0, "steps/step");
    add(l, NV_DYN_STEPS, Q_EPOCH, -1, DT_I64, 0, "steps/epoch");
    add(l, NV_DYN_STEPS, Q_BATCH, -1, DT_I32, 0, "steps/batch_size");
    add(l, NV_DYN_STEPS, Q_LOSS, -1, DT_F32, 0, "steps/loss");
    add(l, NV_DYN_STEPS, Q_ACC, -1, DT_F32, 0, "steps/accuracy");
    add(l, NV_DYN_STEPS, Q_LR, -1, DT_F32, 0, "steps/lr");
    static const char *const per_layer[] = {"weight_norm", "grad_norm", "update_norm", "update_ratio",
                                            "init_distance", "alarm_abs", "alarm_rel", "alarm_rel_threshold",
                                            "dead_frac"};
    for (int i = 0; i < 9; i++) add(l, NV_DYN_STEPS, Q_WNORM + i, -1, DT_F32, L, "steps/%s", per_layer[i]);
    add(l, NV_DYN_STEPS, Q_NF_GRAD, -1, DT_I64, L, "steps/nonfinite_grad");
    add(l, NV_DYN_STEPS, Q_NF_WEIGHT, -1, DT_I64, L, "steps/nonfinite_weight");

    add(l, NV_DYN_NEURONS, Q_STEP, -1, DT_I64, 0, "neurons/step");
    for (int k = 0; k < L; k++) {
        const int64_t w = md->spec.widths[k + 1];
        for (int u = 0; u < NV_DU_COUNT; u++)
            add(l, NV_DYN_NEURONS, Q_UNIT0 + u, k, DT_F32, w, "neurons/%s/%s", l->layer_names[k], UNIT_NAMES[u]);
        add(l, NV_DYN_NEURONS, Q_TOPK, k, DT_I32, NV_MIN((int64_t)l->cfg.top_k, w), "neurons/%s/top_k",
            l->layer_names[k]);
    }

    add(l, NV_DYN_SAMPLES, Q_STEP, -1, DT_I64, 0, "samples/step");
    add(l, NV_DYN_SAMPLES, Q_SAMPLE_ID, -1, DT_I64, 0, "samples/sample_id");
    add(l, NV_DYN_SAMPLES, Q_POSITION, -1, DT_I32, 0, "samples/position");
    add(l, NV_DYN_SAMPLES, Q_LABEL, -1, DT_I32, 0, "samples/label");
    add(l, NV_DYN_SAMPLES, Q_SLOSS, -1, DT_F32, 0, "samples/loss");
    add(l, NV_DYN_SAMPLES, Q_CORRECT, -1, DT_U8, 0, "samples/correct");
    add(l, NV_DYN_SAMPLES, Q_SGNORM, -1, DT_F32, L, "samples/grad_norm");

    add(l, NV_DYN_FACTORS, Q_STEP, -1, DT_I64, 0, "factors/step");
    add(l, NV_DYN_FACTORS, Q_SAMPLE_ID, -1, DT_I64, 0, "factors/sample_id");
    for (int k = 0; k < L; k++) {
        add(l, NV_DYN_FACTORS, Q_FA, k, DT_FAC, md->spec.widths[k], "factors/%s/a", l->layer_names[k]);
        add(l, NV_DYN_FACTORS, Q_FD, k, DT_FAC, md->spec.widths[k + 1], "factors/%s/d", l->layer_names[k]);
        if (l->cfg.preactivations)
            add(l, NV_DYN_FACTORS, Q_FPRE, k, DT_FAC, md->spec.widths[k + 1], "factors/%s/pre", l->layer_names[k]);
    }

    add(l, NV_DYN_WEIGHTS, Q_STEP, -1, DT_I64, 0, "weights/step");
    add(l, NV_DYN_WEIGHTS, Q_PARAMS, -1, DT_F32, l->nparams, "weights/params");
    if (has_state1(&l->opt)) add(l, NV_DYN_WEIGHTS, Q_STATE1, -1, DT_F32, l->nparams, "weights/state1");
    if (has_state2(&l->opt)) add(l, NV_DYN_WEIGHTS, Q_STATE2, -1, DT_F32, l->nparams, "weights/state2");
    l->chunk_steps = l->cfg.chunk_steps > 0 ? l->cfg.chunk_steps : dyn_auto_chunk_steps(l);
    *out = l;
    return NV_OK;
}

/* dynamics.chunk_steps = 0: as many steps as take about DYN_CHUNK_BYTES in memory on
 * average under the schedules, between 64 and 1024. Every chunk costs its writer
 * three fsync'd files (chunk, manifest, index: ~15 ms each on the development
 * machine), which must stay small against the chunk's training time; and every
 * chunk's memory is new (page faults, zeroing: recorder.c has a helper thread map
 * it) unless a block comes back from the writer in time, which the upper bound
 * makes likely (a model's chunks then have one size). */
#define DYN_CHUNK_BYTES (32.0 * 1024 * 1024)
int64_t dyn_auto_chunk_steps(const dyn_layout *l) {
    nv_dyn_sizes z;
    nv_dyn_step_bytes(&l->cfg, &l->spec, &l->opt, l->batch_size, &z);
    const nv_dyn_span sp = {l->epochs, l->steps_per_epoch};
    const int64_t S = l->epochs * l->steps_per_epoch;
    double per_step = 0;
    for (int t = 0; t < NV_DYN_TIERS && S > 0; t++)
        if (l->cfg.on[t]) per_step += z.tier[t] * (double)nv_dyn_scheduled_count(&l->cfg.sched[t], &sp, 1, S) / (double)S;
    double steps = per_step > 0 ? DYN_CHUNK_BYTES / per_step : 1024;
    return steps < 64 ? 64 : steps > 1024 ? 1024 : (int64_t)steps;
}

void dyn_chunk_range(const dyn_layout *l, int64_t s, int64_t *first, int64_t *last, int64_t *e0, int64_t *e1) {
    const int64_t spe = l->steps_per_epoch, cs = l->chunk_steps, e = (s - 1) / spe + 1;
    if (spe <= cs) {
        const int64_t E = cs / spe, j = (e - 1) / E;
        *e0 = j * E + 1;
        *e1 = NV_MIN((j + 1) * E, l->epochs);
        *first = (*e0 - 1) * spe + 1;
        *last = *e1 * spe;
    } else {
        const int64_t b = (e - 1) * spe;
        *first = b + 1 + ((s - b - 1) / cs) * cs;
        *last = NV_MIN(*first + cs - 1, e * spe);
        *e0 = *e1 = e;
    }
}

int dyn_chunk_ends_at_epoch(const dyn_layout *l, int64_t e) {
    if (l->steps_per_epoch > l->chunk_steps || e >= l->epochs) return 1;
    return e % (l->chunk_steps / l->steps_per_epoch) == 0;
}

void dyn_layout_free(dyn_layout *l) {
    if (!l) return;
    free(l->ds);
    free(l->config_text);
    free(l);
}

static size_t elem_bytes(int type) {
    switch (type) {
    case DT_I64: return 8;
    case DT_I32: return 4;
    case DT_U8: return 1;
    default: return 4;
    }
}

size_t dyn_row_bytes(const dyn_dataset *d) { return elem_bytes(d->type) * (size_t)(d->cols ? d->cols : 1); }

hid_t dyn_h5_f16(void) {
    /* as h5py's float16: IEEE binary16, little-endian */
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
}

/* File and memory types of a dataset (f16: the same custom type for both, so the
 * halves are written as they are; the caller closes a type it got with *own). */
static hid_t file_type(const dyn_layout *l, const dyn_dataset *d, int *own) {
    *own = 0;
    switch (d->type) {
    case DT_I64: return H5T_STD_I64LE;
    case DT_I32: return H5T_STD_I32LE;
    case DT_U8: return H5T_STD_U8LE;
    case DT_FAC:
        if (l->cfg.f16) {
            *own = 1;
            return dyn_h5_f16();
        }
        return H5T_IEEE_F32LE;
    default: return H5T_IEEE_F32LE;
    }
}

static hid_t mem_type(const dyn_layout *l, const dyn_dataset *d, int *own) {
    *own = 0;
    switch (d->type) {
    case DT_I64: return H5T_NATIVE_INT64;
    case DT_I32: return H5T_NATIVE_INT32;
    case DT_U8: return H5T_NATIVE_UINT8;
    case DT_FAC:
        if (l->cfg.f16) {
            *own = 1;
            return dyn_h5_f16();
        }
        return H5T_NATIVE_FLOAT;
    default: return H5T_NATIVE_FLOAT;
    }
}

/* ---- the writer ------------------------------------------------------------------- */
nv_status dyn_writer_new(const dyn_layout *lay, const char *run_dir, nv_hash_memo *memo, nv_block_pool *pool,
                         dyn_writer **out, nv_error *err) {
    *out = NULL;
    dyn_writer *w = nv_calloc(1, sizeof *w, err);
    if (!w) return NV_ENOMEM;
    w->lay = lay;
    snprintf(w->run_dir, sizeof w->run_dir, "%s", run_dir);
    snprintf(w->dir, sizeof w->dir, "%s/dynamics/%s", run_dir, lay->model);
    w->memo = memo;
    w->pool = pool;
    w->refs = 1;
    pthread_mutex_init(&w->mu, NULL);
    w->running = nv_calloc((size_t)lay->ndatasets, sizeof *w->running, err);
    if (!w->running) {
        dyn_writer_free(w);
        return NV_ENOMEM;
    }
    w->running_ok = 1;
    for (int i = 0; i < lay->ndatasets; i++)
        if (nv_hash_init(&w->running[i], NV_HASH_XXH3_128)) w->running_ok = 0;
    *out = w;
    return NV_OK;
}

void dyn_writer_ref(dyn_writer *w) {
    pthread_mutex_lock(&w->mu);
    w->refs++;
    pthread_mutex_unlock(&w->mu);
}

void dyn_writer_unref(dyn_writer *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    int left = --w->refs;
    pthread_mutex_unlock(&w->mu);
    if (left == 0) dyn_writer_free(w);
}

void dyn_writer_free(dyn_writer *w) {
    if (!w) return;
    if (w->owns_layout) {
        const dyn_layout *l = w->lay;
        w->owns_layout = 0;
        if (w->running)
            for (int i = 0; i < l->ndatasets; i++) nv_hash_final(&w->running[i], NULL);
        free(w->running);
        w->running = NULL;
        dyn_layout_free((dyn_layout *)l);
    }
    if (w->running)
        for (int i = 0; i < w->lay->ndatasets; i++) nv_hash_final(&w->running[i], NULL);
    free(w->running);
    free(w->chunks);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* Parts of a chunk block start on 64-byte lines. */
#define LINE 64
static size_t part(size_t bytes) { return (bytes + LINE - 1) / LINE * LINE; }

void dyn_chunk_caps(const dyn_layout *l, int64_t first, int64_t last, int64_t cap[NV_DYN_TIERS]) {
    const nv_dyn_span span = {l->epochs, l->steps_per_epoch};
    for (int t = 0; t < NV_DYN_TIERS; t++) {
        cap[t] = 0;
        if (!l->cfg.on[t]) continue;
        if (t == NV_DYN_SAMPLES || t == NV_DYN_FACTORS) {
            /* a row per sample of each recorded step: the epoch's last batch may be short */
            for (int64_t s = NV_MAX(first, 1); s <= last; s++)
                if (nv_dyn_scheduled(&l->cfg.sched[t], &span, s))
                    cap[t] += NV_MIN(l->batch_size, l->n_train - (s - 1) % l->steps_per_epoch * l->batch_size);
        } else {
            cap[t] = nv_dyn_scheduled_count(&l->cfg.sched[t], &span, first, last);
        }
    }
}

size_t dyn_chunk_bytes(const dyn_layout *l, const int64_t cap[NV_DYN_TIERS]) {
    size_t total = part(sizeof(void *) * (size_t)l->ndatasets);
    for (int i = 0; i < l->ndatasets; i++) total += part(dyn_row_bytes(&l->ds[i]) * (size_t)cap[l->ds[i].tier]);
    return total;
}

nv_status dyn_chunk_alloc(dyn_writer *w, dyn_chunk *c, nv_error *err) {
    const dyn_layout *l = w->lay;
    const size_t total = dyn_chunk_bytes(l, c->cap);
    size_t got = total;
    c->fresh = 1;
    void *b = w->pool ? nv_pool_take(w->pool, total, &got, &c->fresh, NULL) : nv_malloc_huge(total, NULL);
    if (!b) return nv_fail(err, NV_ENOMEM, "dynamics: out of memory for a chunk of %zu bytes", total);
    c->block = b;
    c->block_size = got;
    c->bytes = total;
    c->buf = b;
    char *p = (char *)b + part(sizeof(void *) * (size_t)l->ndatasets);
    for (int i = 0; i < l->ndatasets; i++) {
        c->buf[i] = p;
        p += part(dyn_row_bytes(&l->ds[i]) * (size_t)c->cap[l->ds[i].tier]);
    }
    return NV_OK;
}

void dyn_chunk_release(dyn_writer *w, dyn_chunk *c) {
    if (!c->block) return;
    if (w->pool) nv_pool_give(w->pool, c->block, c->block_size);
    else free(c->block);
    c->block = NULL;
    c->buf = NULL;
}

/* ---- paths -------------------------------------------------------------------------- */
static void chunk_name(int64_t index, char *buf, size_t len) {
    snprintf(buf, len, "chunk_%06lld.h5", (long long)index);
}

static void index_path(const dyn_writer *w, char *buf, size_t len) {
    snprintf(buf, len, "%s/dynamics/%s.h5", w->run_dir, w->lay->model);
}

/* ---- the manifest ------------------------------------------------------------------ */
static nv_status manifest_write(dyn_writer *w, nv_error *err) {
    json_t *root = json_object(), *arr = json_array();
    json_object_set_new(root, "format", json_string(NV_DYN_MANIFEST_FORMAT));
    json_object_set_new(root, "format_version", json_integer(NV_DYN_VERSION));
    json_object_set_new(root, "model", json_string(w->lay->model));
    for (int64_t i = 0; i < w->nchunks; i++) {
        const dyn_chunk_rec *c = &w->chunks[i];
        char name[64];
        chunk_name(c->index, name, sizeof name);
        json_t *e = json_object(), *tiers = json_object();
        json_object_set_new(e, "path", json_string(name));
        json_object_set_new(e, "chunk", json_integer(c->index));
        json_object_set_new(e, "first_epoch", json_integer(c->epoch));
        json_object_set_new(e, "last_epoch", json_integer(c->last_epoch));
        json_object_set_new(e, "first_step", json_integer(c->first_step));
        json_object_set_new(e, "last_step", json_integer(c->last_step));
        for (int t = 0; t < NV_DYN_TIERS; t++) {
            if (c->rows[t] == 0) continue;
            json_t *o = json_object();
            json_object_set_new(o, "steps", json_integer(c->nsteps[t]));
            json_object_set_new(o, "rows", json_integer(c->rows[t]));
            json_object_set_new(o, "bytes", json_integer(c->bytes[t]));
            json_object_set_new(tiers, nv_dyn_tier_name(t), o);
        }
        json_object_set_new(e, "tiers", tiers);
        json_array_append_new(arr, e);
    }
    json_object_set_new(root, "chunks", arr);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) return nv_fail(err, NV_ENOMEM, "dynamics manifest: out of memory");
    size_t n = strlen(text);
    char *t2 = realloc(text, n + 2);
    if (t2) text = t2, strcpy(text + n, "\n");
    char path[NV_PATH_LEN + 128];
    snprintf(path, sizeof path, "%s/manifest.json", w->dir);
    nv_status st = nv_atomic_write_text(path, text, err);
    free(text);
    return st;
}

nv_status dyn_manifest_load(dyn_writer *w, nv_error *err) {
    char path[NV_PATH_LEN + 128];
    snprintf(path, sizeof path, "%s/manifest.json", w->dir);
    w->nchunks = 0;
    if (access(path, F_OK) != 0) return NV_OK;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return nv_fail(err, NV_EINPUT, "%s:%d: malformed JSON: %s", path, je.line, je.text);
    nv_status st = NV_OK;
    const char *fmt = json_string_value(json_object_get(root, "format"));
    json_t *arr = json_object_get(root, "chunks");
    if (!fmt || strcmp(fmt, NV_DYN_MANIFEST_FORMAT) || !json_is_array(arr) ||
        json_integer_value(json_object_get(root, "format_version")) != NV_DYN_VERSION) {
        st = nv_fail(err, NV_EINPUT, "%s: not a %s version %d file", path, NV_DYN_MANIFEST_FORMAT, NV_DYN_VERSION);
        goto done;
    }
    size_t n = json_array_size(arr);
    if ((int64_t)n > w->cap) {
        dyn_chunk_rec *g = realloc(w->chunks, sizeof *g * (n + 16));
        if (!g) {
            st = nv_fail(err, NV_ENOMEM, "out of memory");
            goto done;
        }
        w->chunks = g;
        w->cap = (int64_t)n + 16;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i), *tiers = json_object_get(e, "tiers");
        dyn_chunk_rec *c = &w->chunks[i];
        memset(c, 0, sizeof *c);
        c->index = json_integer_value(json_object_get(e, "chunk"));
        c->epoch = json_integer_value(json_object_get(e, "first_epoch"));
        c->last_epoch = json_integer_value(json_object_get(e, "last_epoch"));
        c->first_step = json_integer_value(json_object_get(e, "first_step"));
        c->last_step = json_integer_value(json_object_get(e, "last_step"));
        if (!json_is_integer(json_object_get(e, "last_step")) || !json_is_object(tiers) || c->index != (int64_t)i) {
            st = nv_fail(err, NV_EINPUT, "%s: chunks[%zu]: expected chunk %zu with first_step, last_step, tiers", path,
                         i, i);
            goto done;
        }
        for (int t = 0; t < NV_DYN_TIERS; t++) {
            json_t *o = json_object_get(tiers, nv_dyn_tier_name(t));
            if (!o) continue;
            c->rows[t] = json_integer_value(json_object_get(o, "rows"));
            c->nsteps[t] = json_integer_value(json_object_get(o, "steps"));
            c->bytes[t] = json_integer_value(json_object_get(o, "bytes"));
        }
    }
    w->nchunks = (int64_t)n;
done:
    json_decref(root);
    return st;
}

/* ---- the index ---------------------------------------------------------------------- */
static nv_status make_group(hid_t loc, const char *name, const char *file, nv_error *err) {
    if (nv_h5_exists(loc, name)) return NV_OK;
    hid_t gcpl = nv_h5_gcpl();
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (g < 0) return nv_h5_fail(err, NV_EIO, file, name, "cannot create group");
    H5Gclose(g);
    return NV_OK;
}

/* The groups of every dataset (tiers, and per-layer groups). */
static nv_status make_groups(const dyn_layout *l, hid_t fid, const int *tier_used, const char *file,
                             nv_error *err) {
    nv_status st = NV_OK;
    for (int i = 0; i < l->ndatasets && !st; i++) {
        const dyn_dataset *d = &l->ds[i];
        if (tier_used && !tier_used[d->tier]) continue;
        char g[96];
        snprintf(g, sizeof g, "%s", d->path);
        for (char *p = strchr(g, '/'); p && !st; p = strchr(p + 1, '/')) {
            *p = '\0';
            st = make_group(fid, g, file, err);
            *p = '/';
        }
    }
    return st;
}

static nv_status index_attrs(const dyn_writer *w, hid_t f, const char *file, nv_error *err) {
    const dyn_layout *l = w->lay;
    const char *names[NV_MAX_LAYERS];
    for (int k = 0; k < l->nlayers; k++) names[k] = l->layer_names[k];
    int64_t widths[NV_MAX_LAYERS + 1];
    for (int k = 0; k <= l->nlayers; k++) widths[k] = l->spec.widths[k];
    int64_t last = w->nchunks ? w->chunks[w->nchunks - 1].last_step : 0;
    nv_status st;
    if ((st = nv_h5_attr_str(f, "format", NV_DYN_FORMAT, file, err)) ||
        (st = nv_h5_attr_i64(f, "format_version", NV_DYN_VERSION, file, err)) ||
        (st = nv_h5_attr_str(f, "nerve_version", NERVE_VERSION, file, err)) ||
        (st = nv_h5_attr_str(f, "model", l->model, file, err)) ||
        (st = nv_h5_attr_str(f, "experiment", l->experiment, file, err)) ||
        (st = nv_h5_attr_u64(f, "seed", l->seed, file, err)) ||
        (st = nv_h5_attr_str(f, "config", l->config_text, file, err)) ||
        (st = nv_h5_attr_i64(f, "n_train", l->n_train, file, err)) ||
        (st = nv_h5_attr_i64(f, "batch_size", l->batch_size, file, err)) ||
        (st = nv_h5_attr_i64(f, "steps_per_epoch", l->steps_per_epoch, file, err)) ||
        (st = nv_h5_attr_i64(f, "chunk_steps", l->chunk_steps, file, err)) ||
        (st = nv_h5_attr_i64(f, "epochs", l->epochs, file, err)) ||
        (st = nv_h5_attr_i64(f, "nparams", l->nparams, file, err)) ||
        (st = nv_h5_attr_i64(f, "last_step", last, file, err)) ||
        (st = nv_h5_attr_i64(f, "chunks", w->nchunks, file, err)) ||
        (st = nv_h5_attr_strs(f, "layer_names", names, l->nlayers, file, err)) ||
        (st = nv_h5_attr_i64s(f, "widths", widths, l->nlayers + 1, file, err)) ||
        (st = nv_h5_attr_str(f, "optimizer", l->opt.kind == NV_OPT_ADAM ? "adam" : "sgd", file, err)) ||
        (st = nv_h5_attr_f64(f, "lr", (double)l->opt.lr, file, err)) ||
        (st = nv_h5_attr_f64(f, "momentum", (double)l->opt.momentum, file, err)) ||
        (st = nv_h5_attr_f64(f, "weight_decay", (double)l->opt.weight_decay, file, err)) ||
        (st = nv_h5_attr_f64(f, "beta1", (double)l->opt.beta1, file, err)) ||
        (st = nv_h5_attr_f64(f, "beta2", (double)l->opt.beta2, file, err)) ||
        (st = nv_h5_attr_f64(f, "eps", (double)l->opt.eps, file, err)) ||
        (st = nv_h5_attr_i64(f, "top_k", l->cfg.top_k, file, err)) ||
        (st = nv_h5_attr_str(f, "factors_precision", l->cfg.f16 ? "f16" : "f32", file, err)) ||
        (st = nv_h5_attr_i64(f, "preactivations", l->cfg.preactivations, file, err)))
        return st;
    /* only when the rate decays: a store of a constant rate keeps the bytes it had
     * before the key existed (the reader takes a missing one as constant) */
    if (l->opt.lr_half_life > 0 && (st = nv_h5_attr_i64(f, "lr_half_life", l->opt.lr_half_life, file, err)))
        return st;
    return nv_h5_write_spec(f, "model", &l->spec, file, err);
}

/* One dataset of the index: a virtual dataset over the chunks that hold rows of
 * its tier, or an empty one when none do. */
static nv_status index_dataset(const dyn_writer *w, hid_t fid, const dyn_dataset *d, const char *file,
                               nv_error *err) {
    const dyn_layout *l = w->lay;
    const int rank = d->cols ? 2 : 1;
    int64_t total = 0;
    for (int64_t c = 0; c < w->nchunks; c++) total += w->chunks[c].rows[d->tier];
    int own_f;
    hid_t ft = file_type(l, d, &own_f);
    nv_status st = NV_OK;
    if (total == 0) {
        int64_t dims[2] = {0, d->cols};
        st = nv_h5_write_dataset(fid, d->path, ft, ft, rank, dims, NULL, 0, file, err);
        if (own_f) H5Tclose(ft);
        return st;
    }
    hsize_t vd[2] = {(hsize_t)total, (hsize_t)d->cols};
    hid_t dcpl = nv_h5_dcpl(), vspace = H5Screate_simple(rank, vd, NULL);
    int64_t off = 0;
    for (int64_t c = 0; c < w->nchunks && !st; c++) {
        const int64_t rows = w->chunks[c].rows[d->tier];
        if (rows == 0) continue;
        char src[128], name[64];
        chunk_name(w->chunks[c].index, name, sizeof name);
        snprintf(src, sizeof src, "%s/%s", l->model, name);
        hsize_t sd[2] = {(hsize_t)rows, (hsize_t)d->cols}, start[2] = {(hsize_t)off, 0};
        hid_t sspace = H5Screate_simple(rank, sd, NULL);
        if (H5Sselect_hyperslab(vspace, H5S_SELECT_SET, start, NULL, sd, NULL) < 0 ||
            H5Pset_virtual(dcpl, vspace, src, d->path, sspace) < 0)
            st = nv_h5_fail(err, NV_EIO, file, d->path, "cannot map %s into the virtual dataset", src);
        H5Sclose(sspace);
        off += rows;
    }
    if (!st) {
        H5Sselect_all(vspace);
        hid_t ds = H5Dcreate2(fid, d->path, ft, vspace, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (ds < 0) st = nv_h5_fail(err, NV_EIO, file, d->path, "cannot create the virtual dataset");
        else H5Dclose(ds);
    }
    H5Sclose(vspace);
    H5Pclose(dcpl);
    if (own_f) H5Tclose(ft);
    return st;
}

#define DYN_INDEX_SECONDS 2.0

/* Rewrites RUN/dynamics/<model>.h5 from the chunk list, and memoises its hashes
 * (the running hash of each dataset) when they are known. */
static nv_status index_write(dyn_writer *w, nv_error *err) {
    const dyn_layout *l = w->lay;
    w->index_time = nv_now();
    w->index_chunks = w->nchunks;
    char path[NV_PATH_LEN + 128];
    index_path(w, path, sizeof path);
    char *tmp = NULL;
    hid_t fid = nv_h5_create_temp(path, &tmp, err);
    if (fid < 0) return err ? err->status : NV_EIO;
    nv_status st = index_attrs(w, fid, tmp, err);
    if (!st) st = make_groups(l, fid, NULL, tmp, err);
    for (int i = 0; i < l->ndatasets && !st; i++) st = index_dataset(w, fid, &l->ds[i], tmp, err);
    st = nv_h5_finish_temp(fid, tmp, path, st, err);
    if (st || !w->memo || !w->running_ok) return st;
    json_t *h = json_object();
    for (int i = 0; i < l->ndatasets && h; i++) {
        nv_hash copy;
        char hex[NV_HASH_HEX], key[128];
        if (nv_hash_copy(&copy, &w->running[i])) {
            json_decref(h);
            h = NULL;
            break;
        }
        nv_hash_final(&copy, hex);
        snprintf(key, sizeof key, "/%s", l->ds[i].path);
        json_object_set_new(h, key, json_string(hex));
    }
    if (h) {
        char *text = json_dumps(h, JSON_SORT_KEYS | JSON_COMPACT), rel[256];
        snprintf(rel, sizeof rel, "dynamics/%s.h5", l->model);
        nv_error ignore = {0};
        /* a memo that fails only costs a re-read at the end (runhash.c) */
        if (text) nv_hash_memo_put(w->memo, w->run_dir, rel, text, &ignore);
        free(text);
        json_decref(h);
    }
    return NV_OK;
}

nv_status dyn_index_sync(dyn_writer *w, nv_error *err) {
    return w->index_chunks == w->nchunks ? NV_OK : index_write(w, err);
}

/* ---- one chunk ------------------------------------------------------------------------ */
/* IEEE binary32 -> binary16, rounding to nearest even, with overflow to infinity,
 * subnormals and NaN as the hardware conversion does (F. Giesen's
 * float_to_half_fast3_rtne). Integer operations only: the compiler's _Float16
 * conversion is a library call per value on x86-64 without F16C (the baseline the
 * build targets), which made f16 factors cost 5x the CPU of writing f32.
 * tests/unit/test_dynamics.c checks it against _Float16 bit for bit. */
uint16_t dyn_f32_to_f16(float v) {
    const uint32_t f32infty = 255u << 23, f16max = (127u + 16u) << 23;
    const uint32_t denorm_magic_u = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    uint32_t f;
    memcpy(&f, &v, 4);
    const uint32_t sign = f & 0x80000000u;
    f ^= sign;
    uint16_t o;
    if (f >= f16max) {
        o = f > f32infty ? 0x7e00 : 0x7c00; /* NaN (quiet) or infinity */
    } else if (f < (113u << 23)) {
        /* a subnormal half or zero: adding the magic number lets the float unit do
         * the rounding (round to nearest even, the default mode) */
        float x, magic;
        memcpy(&x, &f, 4);
        memcpy(&magic, &denorm_magic_u, 4);
        x += magic;
        uint32_t r;
        memcpy(&r, &x, 4);
        o = (uint16_t)(r - denorm_magic_u);
    } else {
        const uint32_t mant_odd = (f >> 13) & 1u;
        f += ((uint32_t)(15 - 127) << 23) + 0xfffu; /* rebias; round the dropped bits */
        f += mant_odd;                               /* ties to even */
        o = (uint16_t)(f >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

static void to_f16(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = dyn_f32_to_f16(src[i]);
}

/* A failure to write the store is reported as bad input: the run directory (its
 * disk) is what the user gave; message, exit status 2 (docs/dynamics.md). */
static nv_status write_failed(dyn_writer *w, nv_error *err, const char *path) {
    /* the listed chunks stay readable through the index too, if it can be written */
    nv_error ignore = {0};
    (void)dyn_index_sync(w, &ignore);
    if (err && err->status != NV_EINPUT) {
        char msg[NV_ERROR_LEN];
        snprintf(msg, sizeof msg, "%s", err->msg);
        nv_error_clear(err);
        nv_fail(err, NV_EINPUT,
                "dynamics: %s could not be written (%s); training stopped. Every earlier chunk is listed in "
                "its manifest.json and readable; free space (or fix the folder) and continue with --resume",
                path, msg);
    }
    return NV_EINPUT;
}

nv_status dyn_chunk_write(dyn_writer *w, const dyn_chunk *c, nv_error *err) {
    const dyn_layout *l = w->lay;
    char name[64], path[NV_PATH_LEN + 160], rel[NV_PATH_LEN + 128];
    chunk_name(c->index, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    snprintf(rel, sizeof rel, "dynamics/%s/%s", l->model, name);
    nv_status st = nv_mkdirs(w->dir, err);
    if (st) return write_failed(w, err, path);
    char *tmp = NULL;
    hid_t fid = nv_h5_create_temp(path, &tmp, err);
    if (fid < 0) return write_failed(w, err, path);
    dyn_chunk_rec rec = {.index = c->index, .epoch = c->epoch, .last_epoch = c->last_epoch, .first_step = c->first_step,
                         .last_step = c->last_step};
    for (int t = 0; t < NV_DYN_TIERS; t++) {
        rec.rows[t] = c->rows[t];
        rec.nsteps[t] = c->nsteps[t];
    }
    json_t *hashes = w->memo ? json_object() : NULL;
    uint16_t *half = NULL;
    int used[NV_DYN_TIERS];
    for (int t = 0; t < NV_DYN_TIERS; t++) used[t] = c->rows[t] > 0;
    if ((st = nv_h5_attr_str(fid, "format", NV_DYN_CHUNK_FORMAT, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "format_version", NV_DYN_VERSION, tmp, err)) ||
        (st = nv_h5_attr_str(fid, "model", l->model, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "chunk", c->index, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "first_epoch", c->epoch, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "last_epoch", c->last_epoch, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "first_step", c->first_step, tmp, err)) ||
        (st = nv_h5_attr_i64(fid, "last_step", c->last_step, tmp, err)) ||
        (st = make_groups(l, fid, used, tmp, err)))
        goto done;
    for (int i = 0; i < l->ndatasets && !st; i++) {
        const dyn_dataset *d = &l->ds[i];
        const int64_t rows = c->rows[d->tier];
        if (rows == 0) continue;
        const int64_t n = rows * (d->cols ? d->cols : 1);
        const void *data = c->buf[i];
        size_t bytes = dyn_row_bytes(d) * (size_t)rows;
        if (d->type == DT_FAC && l->cfg.f16) {
            uint16_t *h = realloc(half, (size_t)n * 2);
            if (!h) {
                st = nv_fail(err, NV_ENOMEM, "out of memory");
                break;
            }
            half = h;
            to_f16(data, half, n);
            data = half;
            bytes = (size_t)n * 2;
        }
        int own_f, own_m;
        hid_t ft = file_type(l, d, &own_f), mt = mem_type(l, d, &own_m);
        int64_t dims[2] = {rows, d->cols};
        st = nv_h5_write_dataset(fid, d->path, ft, mt, d->cols ? 2 : 1, dims, data, l->cfg.compression, tmp, err);
        if (own_f) H5Tclose(ft);
        if (own_m) H5Tclose(mt);
        if (st) break;
        /* the disk starts on the large datasets while the rest is written (the
         * commit's fsync then waits for less: ~2x the rate here) */
        if (bytes >= ((size_t)1 << 20)) nv_h5_start_writeback(fid);
        hid_t ds = H5Dopen2(fid, d->path, H5P_DEFAULT);
        if (ds >= 0) {
            rec.bytes[d->tier] += (int64_t)H5Dget_storage_size(ds);
            H5Dclose(ds);
        }
        /* the dataset's hash from the buffer just written (its bytes are the file's) */
        if (hashes || w->running_ok) {
            nv_hash s;
            if (!nv_hash_init(&s, NV_HASH_XXH3_128)) {
                char hex[NV_HASH_HEX], key[128];
                nv_hash_update(&s, data, bytes);
                nv_hash_final(&s, hex);
                snprintf(key, sizeof key, "/%s", d->path);
                if (hashes) json_object_set_new(hashes, key, json_string(hex));
            } else if (hashes) {
                json_decref(hashes);
                hashes = NULL;
            }
            if (w->running_ok) nv_hash_update(&w->running[i], data, bytes);
        }
    }
done:
    free(half);
    st = nv_h5_finish_temp(fid, tmp, path, st, err);
    if (st) {
        json_decref(hashes);
        return write_failed(w, err, path);
    }
    /* listed only now that the file is in place; then the index */
    if (w->nchunks == w->cap) {
        int64_t cap = w->cap ? 2 * w->cap : 64;
        dyn_chunk_rec *g = realloc(w->chunks, sizeof *g * (size_t)cap);
        if (!g) {
            json_decref(hashes);
            return nv_fail(err, NV_ENOMEM, "out of memory");
        }
        w->chunks = g;
        w->cap = cap;
    }
    w->chunks[w->nchunks++] = rec;
    /* The index (all its virtual datasets, fsync'd: ~0.1 s with a few dozen
     * chunks) at most every DYN_INDEX_SECONDS, and after the model's last chunk;
     * the manifest after every chunk. A reader of the index meanwhile sees a
     * prefix of the listed steps; a resumed run rebuilds it from the manifest. */
    const int last = c->last_step >= l->epochs * l->steps_per_epoch;
    if ((st = manifest_write(w, err)) ||
        ((last || nv_now() - w->index_time >= DYN_INDEX_SECONDS) && (st = index_write(w, err)))) {
        json_decref(hashes);
        return write_failed(w, err, path);
    }
    if (hashes) {
        char *text = json_dumps(hashes, JSON_SORT_KEYS | JSON_COMPACT);
        nv_error ignore = {0};
        if (text) nv_hash_memo_put(w->memo, w->run_dir, rel, text, &ignore);
        free(text);
        json_decref(hashes);
    }
    return NV_OK;
}

/* ---- starting over, truncating, reading back -------------------------------------- */
/* Removes chunk files of w->dir that the chunk list does not hold, and temporaries. */
static void remove_unlisted(dyn_writer *w) {
    DIR *d = opendir(w->dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        int temp = n[0] == '.' && strstr(n, ".tmp-") != NULL;
        long long idx = -1;
        int chunk = !temp && sscanf(n, "chunk_%lld.h5", &idx) == 1 && strlen(n) == 15;
        if (chunk) {
            int listed = 0;
            for (int64_t i = 0; i < w->nchunks && !listed; i++) listed = w->chunks[i].index == idx;
            if (listed) continue;
        }
        if (!temp && !chunk) continue;
        char p[NV_PATH_LEN + 400];
        snprintf(p, sizeof p, "%s/%s", w->dir, n);
        unlink(p);
    }
    closedir(d);
}

/* The store's folder is under the run directory the user gave: a folder that
 * cannot be made there is bad input (exit status 2), as in run.c. */
static nv_status make_dir(dyn_writer *w, nv_error *err) {
    nv_status st = nv_mkdirs(w->dir, err);
    if (st && err && err->status != NV_ENOMEM) {
        err->status = NV_EINPUT;
        return NV_EINPUT;
    }
    return st;
}

nv_status dyn_store_reset(dyn_writer *w, nv_error *err) {
    nv_status st = make_dir(w, err);
    if (st) return st;
    char p[NV_PATH_LEN + 160];
    /* the index first (a reader then finds nothing), the manifest, then the files */
    index_path(w, p, sizeof p);
    if (unlink(p) != 0 && errno != ENOENT) return nv_fail(err, NV_EIO, "%s: cannot remove (%s)", p, strerror(errno));
    snprintf(p, sizeof p, "%s/manifest.json", w->dir);
    if (unlink(p) != 0 && errno != ENOENT) return nv_fail(err, NV_EIO, "%s: cannot remove (%s)", p, strerror(errno));
    w->nchunks = 0;
    remove_unlisted(w);
    return NV_OK;
}

nv_status dyn_store_truncate(dyn_writer *w, int64_t max_step, nv_error *err) {
    nv_status st = make_dir(w, err);
    if (!st) st = dyn_manifest_load(w, err);
    if (st) return st;
    int64_t kept = 0;
    while (kept < w->nchunks && w->chunks[kept].last_step <= max_step) kept++;
    w->nchunks = kept;
    /* kept chunks were written by an earlier process: the index's hashes are taken
     * by reading it at the end of training */
    w->running_ok = 0;
    if ((st = manifest_write(w, err)) || (st = index_write(w, err))) return st;
    remove_unlisted(w);
    return NV_OK;
}

nv_status dyn_store_tail_grad_norm(dyn_writer *w, int64_t n, float *out, int64_t *got, nv_error *err) {
    const int L = w->lay->nlayers;
    *got = 0;
    int64_t need = n;
    /* from the last chunk backwards, filling out from its end */
    for (int64_t c = w->nchunks - 1; c >= 0 && need > 0; c--) {
        const int64_t rows = w->chunks[c].rows[NV_DYN_STEPS];
        if (rows == 0) continue;
        char name[64], path[NV_PATH_LEN + 160];
        chunk_name(w->chunks[c].index, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", w->dir, name);
        hid_t fid = nv_h5_open_read(path, err);
        if (fid < 0) return err ? err->status : NV_EINPUT;
        void *buf = NULL;
        int64_t dims[2];
        nv_status st = nv_h5_read_dataset(fid, "steps/grad_norm", H5T_NATIVE_FLOAT, sizeof(float), 2, &buf, dims,
                                          path, err);
        H5Fclose(fid);
        if (st) return st;
        if (dims[0] != rows || dims[1] != L) {
            free(buf);
            return nv_fail(err, NV_EINPUT, "%s: steps/grad_norm is (%lld, %lld), the manifest says (%lld, %d)", path,
                           (long long)dims[0], (long long)dims[1], (long long)rows, L);
        }
        const int64_t take = NV_MIN(need, rows);
        /* the rows' final place: after the `need - take` rows still to come */
        memcpy(out + (size_t)(need - take) * L, (float *)buf + (size_t)(rows - take) * L, sizeof(float) * (size_t)(take * L));
        free(buf);
        need -= take;
    }
    /* shift to the front when fewer than n were found */
    if (need > 0) memmove(out, out + (size_t)need * L, sizeof(float) * (size_t)((n - need) * L));
    *got = n - need;
    return NV_OK;
}
