/* source.c: one recorded model of a run as the query engine reads it
 * (query_internal.h), and the run's data (sample id -> label).
 *
 * Why not through the index's virtual datasets (src/dynamics/reader.c): HDF5 reads a
 * virtual dataset's rows by opening and selecting in every source file on each
 * call, so one column of the factors over a training (what a one-weight question
 * needs) costs about a second through the index and a few milliseconds from the
 * chunk files themselves. Here the chunk files the manifest lists (the first
 * `chunks` of them: those the index covers) are opened read-only and mapped
 * (PROT_READ); a dataset stored contiguously as little-endian float32 / int64 /
 * int32 / uint8 (every dataset the recorder writes with compression 0) is used in
 * place, and anything else (gzip, IEEE half) is read through HDF5 into memory once,
 * converted. Chunk files are immutable once published and listed
 * (docs/CONTRACTS.md, "Per-step records"), so the mappings stay valid; the index is
 * still opened (nv_dyn_open: format, version, every listed chunk present) and its
 * row counts must equal the manifest's.
 */
#include "query_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/h5util.h"

/* --- the run's data --------------------------------------------------------------------- */
static int cmp_sample(const void *a, const void *b) {
    const qsample *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

nv_status qrun_data(qrun *r, nv_error *err) {
    if (r->data_state == 1) return NV_OK;
    char path[NV_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/data.h5", r->path);
    if (r->data_state == -1) return nv_fail(err, NV_EINPUT, "%s: missing or unreadable (the run's data set)", path);
    nv_h5_quiet();
    hid_t f = nv_h5_open_read(path, err);
    if (f < 0) {
        r->data_state = -1;
        return NV_EINPUT;
    }
    nv_status st = NV_OK;
    int64_t *ids[2] = {NULL, NULL};
    int32_t *ys[2] = {NULL, NULL};
    int64_t n[2] = {0, 0}, dims[2];
    static const char *const split[2] = {"train", "test"};
    for (int s = 0; s < 2 && !st; s++) {
        char p[32];
        snprintf(p, sizeof p, "%s/ids", split[s]);
        if (!nv_h5_exists(f, p)) continue;
        if ((st = nv_h5_read_dataset(f, p, H5T_NATIVE_INT64, 8, 1, (void **)&ids[s], dims, path, err))) break;
        n[s] = dims[0];
        snprintf(p, sizeof p, "%s/y", split[s]);
        if ((st = nv_h5_read_dataset(f, p, H5T_NATIVE_INT32, 4, 1, (void **)&ys[s], dims, path, err))) break;
        if (dims[0] != n[s]) st = nv_fail(err, NV_EINPUT, "%s: %s/ids and %s/y differ in length", path, split[s], split[s]);
    }
    H5Fclose(f);
    if (!st) {
        r->samples = nv_malloc(sizeof(qsample) * (size_t)(n[0] + n[1] + 1), err);
        if (!r->samples) st = NV_ENOMEM;
    }
    if (!st) {
        int64_t k = 0;
        int32_t maxl = -1;
        for (int s = 0; s < 2; s++)
            for (int64_t i = 0; i < n[s]; i++) {
                r->samples[k++] = (qsample){ids[s][i], ys[s][i], (int8_t)s, i};
                if (ys[s][i] > maxl) maxl = ys[s][i];
            }
        qsort(r->samples, (size_t)k, sizeof(qsample), cmp_sample);
        r->nsamples = k;
        r->nclasses = maxl + 1;
        r->data_state = 1;
    } else {
        r->data_state = -1;
    }
    for (int s = 0; s < 2; s++) {
        free(ids[s]);
        free(ys[s]);
    }
    return st;
}

static const qsample *find_sample(const qrun *r, int64_t id) {
    int64_t lo = 0, hi = r->nsamples;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (r->samples[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < r->nsamples && r->samples[lo].id == id ? &r->samples[lo] : NULL;
}

int32_t qrun_label(qrun *r, int64_t id) {
    if (r->data_state == 0) {
        nv_error ignore = {0};
        qrun_data(r, &ignore);
    }
    if (r->data_state != 1) return -1;
    const qsample *s = find_sample(r, id);
    return s ? s->label : -1;
}

nv_status qrun_split(const qrun *r, int split, float **x, int32_t **y, int64_t **ids, int64_t *n, int64_t *d,
                     nv_error *err) {
    *x = NULL;
    *y = NULL;
    *ids = NULL;
    char path[NV_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/data.h5", r->path);
    nv_h5_quiet();
    hid_t f = nv_h5_open_read(path, err);
    if (f < 0) return NV_EINPUT;
    const char *s = split ? "test" : "train";
    char p[32];
    int64_t dims[2];
    nv_status st;
    snprintf(p, sizeof p, "%s/x", s);
    st = nv_h5_read_dataset(f, p, H5T_NATIVE_FLOAT, 4, 2, (void **)x, dims, path, err);
    if (!st) {
        *n = dims[0];
        *d = dims[1];
        snprintf(p, sizeof p, "%s/y", s);
        st = nv_h5_read_dataset(f, p, H5T_NATIVE_INT32, 4, 1, (void **)y, dims, path, err);
    }
    if (!st) {
        snprintf(p, sizeof p, "%s/ids", s);
        st = nv_h5_read_dataset(f, p, H5T_NATIVE_INT64, 8, 1, (void **)ids, dims, path, err);
    }
    H5Fclose(f);
    if (st) {
        free(*x);
        free(*y);
        free(*ids);
        *x = NULL;
        *y = NULL;
        *ids = NULL;
    }
    return st;
}

/* --- a recorded model ------------------------------------------------------------------- */
static const char *const TIER_KEY[NV_DYN_TIERS] = {
    "steps: { every = 1; }", "neurons: { every = 1; }", "samples: { every = 1; }", "factors: { every = 1; }",
    "weights: { every = 1000; }"};

nv_status qsrc_need(const qsrc *s, int tier, const char *what, nv_error *err) {
    if (s->info->rows[tier] > 0) return NV_OK;
    return nv_fail(err, NV_EINPUT,
                   "run %s, model '%s': the dynamics record has no %s tier, which %s reads: record it with "
                   "dynamics: { enabled = true; %s }; in the experiment config and train again (docs/dynamics.md)",
                   s->run->name, s->model, nv_dyn_tier_name(tier), what, TIER_KEY[tier]);
}

/* The chunks of the manifest that the index covers (its attribute `chunks`). */
static nv_status read_manifest(qsrc *s, nv_error *err) {
    char path[NV_PATH_LEN + 160];
    snprintf(path, sizeof path, "%s/dynamics/%s/manifest.json", s->run->path, s->model);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return nv_fail(err, NV_EINPUT, "%s: %s", path, je.text);
    nv_status st = NV_OK;
    json_t *chunks = json_object_get(root, "chunks");
    int64_t n = s->info->nchunks;
    if (!json_is_array(chunks) || (int64_t)json_array_size(chunks) < n) {
        st = nv_fail(err, NV_EINPUT, "%s: lists %zu chunks, the index %lld", path, json_array_size(chunks),
                     (long long)n);
        goto done;
    }
    s->chunk = nv_calloc((size_t)(n ? n : 1), sizeof(qchunk), err);
    if (!s->chunk) {
        st = NV_ENOMEM;
        goto done;
    }
    int64_t row[NV_DYN_TIERS] = {0};
    for (int64_t i = 0; i < n; i++) {
        json_t *c = json_array_get(chunks, (size_t)i);
        qchunk *q = &s->chunk[i];
        const char *p = json_string_value(json_object_get(c, "path"));
        if (!p || strchr(p, '/')) {
            st = nv_fail(err, NV_EINPUT, "%s: chunk %lld has no plain path", path, (long long)i);
            goto done;
        }
        snprintf(q->path, sizeof q->path, "%s/dynamics/%s/%s", s->run->path, s->model, p);
        q->index = json_integer_value(json_object_get(c, "chunk"));
        q->first_step = json_integer_value(json_object_get(c, "first_step"));
        q->last_step = json_integer_value(json_object_get(c, "last_step"));
        q->fid = H5I_INVALID_HID;
        json_t *tiers = json_object_get(c, "tiers");
        for (int t = 0; t < NV_DYN_TIERS; t++) {
            json_t *o = json_object_get(tiers, nv_dyn_tier_name(t));
            q->row0[t] = row[t];
            q->rows[t] = json_integer_value(json_object_get(o, "rows"));
            row[t] += q->rows[t];
        }
    }
    s->nchunks = (int)n;
    for (int t = 0; t < NV_DYN_TIERS; t++)
        if (row[t] != s->info->rows[t]) {
            st = nv_fail(err, NV_EINPUT, "%s: its chunks hold %lld rows of the %s tier, the index %lld (a store being "
                         "written? query again when its index is rewritten)", path, (long long)row[t],
                         nv_dyn_tier_name(t), (long long)s->info->rows[t]);
            goto done;
        }
done:
    json_decref(root);
    return st;
}

nv_status qsrc_open(qrun *run, const char *model, qsrc **out, nv_error *err) {
    *out = NULL;
    qsrc *s = nv_calloc(1, sizeof *s, err);
    if (!s) return NV_ENOMEM;
    s->run = run;
    snprintf(s->model, sizeof s->model, "%s", model);
    nv_status st = nv_dyn_open(run->path, model, &s->dyn, err);
    if (st) goto fail;
    s->info = nv_dyn_run_info(s->dyn);
    s->L = s->info->spec.nlayers;
    s->S = s->info->epochs * s->info->steps_per_epoch;
    if ((st = read_manifest(s, err))) goto fail;
    *out = s;
    return NV_OK;
fail:
    qsrc_close(s);
    return st;
}

void qsrc_close(qsrc *s) {
    if (!s) return;
    for (int i = 0; i < s->nviews; i++) {
        qview *v = s->views[i];
        for (int c = 0; c < s->nchunks; c++) free(v->owned[c]);
        free(v->owned);
        free(v->part);
        free(v);
    }
    free(s->views);
    for (int c = 0; c < s->nchunks; c++) {
        if (s->chunk[c].map) munmap((void *)s->chunk[c].map, s->chunk[c].maplen);
        if (s->chunk[c].fid >= 0) H5Fclose(s->chunk[c].fid);
    }
    free(s->chunk);
    for (int t = 0; t < NV_DYN_TIERS; t++) {
        free(s->sidx_start[t]);
        free(s->sidx_rows[t]);
    }
    free(s->stored_steps);
    free(s->valid);
    nv_dyn_close(s->dyn);
    free(s);
}

int qsrc_layer(const qsrc *s, const char *name) {
    if (!name) return -1;
    for (int k = 0; k < s->L; k++)
        if (!strcmp(s->info->layer_names[k], name)) return k;
    return -1;
}

int64_t qsrc_batch(const qsrc *s, int64_t step) {
    const nv_dyn_info *in = s->info;
    const int64_t pos = (step - 1) % in->steps_per_epoch;
    return NV_MIN(in->batch_size, in->n_train - pos * in->batch_size);
}

/* A chunk's HDF5 handle is needed only to find where its datasets lie (or to read the
 * ones that cannot be used in place); the mapping stays. Each H5Fopen builds a
 * metadata cache of about a megabyte, so at most QSRC_OPEN handles per model stay
 * open (the least recently used is closed): a scan over 20 chunks then costs 20
 * opens whose memory HDF5's free lists recycle, not 20 caches alive at once. */
#define QSRC_OPEN 3

static nv_status chunk_open(qsrc *s, qchunk *c, nv_error *err) {
    if (c->state == -1) return nv_fail(err, NV_EINPUT, "%s: unreadable (see the first error)", c->path);
    if (c->fid >= 0) {
        c->used = ++s->clock;
        return NV_OK;
    }
    /* make room */
    int nopen = 0, lru = -1;
    for (int i = 0; i < s->nchunks; i++)
        if (s->chunk[i].fid >= 0) {
            nopen++;
            if (lru < 0 || s->chunk[i].used < s->chunk[lru].used) lru = i;
        }
    if (nopen >= QSRC_OPEN && lru >= 0) {
        H5Fclose(s->chunk[lru].fid);
        s->chunk[lru].fid = H5I_INVALID_HID;
    }
    nv_h5_quiet();
    c->fid = nv_h5_open_read(c->path, err);
    if (c->fid < 0) {
        c->state = -1;
        return NV_EINPUT;
    }
    c->used = ++s->clock;
    if (c->state == 1) return NV_OK; /* checked and mapped before */
    nv_status st = nv_h5_check_format(c->fid, c->path, NV_DYN_CHUNK_FORMAT, NV_DYN_VERSION, NULL, err);
    if (st) {
        c->state = -1;
        return st;
    }
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        c->state = -1;
        return nv_fail(err, NV_EINPUT, "%s: cannot open (%s)", c->path, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            c->map = m;
            c->maplen = (size_t)sb.st_size;
        }
    }
    close(fd);
    c->state = 1;
    return NV_OK;
}

static size_t type_size(int t) { return t == QT_F32 ? 4 : t == QT_I64 ? 8 : t == QT_I32 ? 4 : 1; }
static hid_t mem_type(int t) {
    return t == QT_F32 ? H5T_NATIVE_FLOAT : t == QT_I64 ? H5T_NATIVE_INT64 : t == QT_I32 ? H5T_NATIVE_INT32 : H5T_NATIVE_UINT8;
}
/* The little-endian file type a dataset must have to be used in place as type t. */
static hid_t le_type(int t) {
    return t == QT_F32 ? H5T_IEEE_F32LE : t == QT_I64 ? H5T_STD_I64LE : t == QT_I32 ? H5T_STD_I32LE : H5T_STD_U8LE;
}

nv_status qsrc_view(qsrc *s, const char *path, qview **out, nv_error *err) {
    for (int i = 0; i < s->nviews; i++)
        if (!strcmp(s->views[i]->path, path)) {
            *out = s->views[i];
            return NV_OK;
        }
    int64_t rows, cols;
    nv_status st = nv_dyn_shape(s->dyn, path, &rows, &cols, err);
    if (st) return st;
    int tier = -1;
    for (int t = 0; t < NV_DYN_TIERS; t++) {
        size_t l = strlen(nv_dyn_tier_name(t));
        if (!strncmp(path, nv_dyn_tier_name(t), l) && path[l] == '/') tier = t;
    }
    if (tier < 0) return nv_fail(err, NV_EINTERNAL, "query: dataset %s of no tier", path);
    /* the element type: that of the dataset in the first chunk that has rows of the
     * tier (every chunk has the same; without rows it does not matter) */
    int type = QT_F32;
    for (int c = 0; c < s->nchunks; c++) {
        if (s->chunk[c].rows[tier] == 0) continue;
        if ((st = chunk_open(s, &s->chunk[c], err))) return st;
        hid_t ds = H5Dopen2(s->chunk[c].fid, path, H5P_DEFAULT);
        if (ds < 0) return nv_fail(err, NV_EINPUT, "%s: no dataset %s", s->chunk[c].path, path);
        hid_t ft = H5Dget_type(ds);
        H5T_class_t cl = H5Tget_class(ft);
        size_t sz = H5Tget_size(ft);
        type = cl == H5T_FLOAT ? QT_F32 : sz == 8 ? QT_I64 : sz == 4 ? QT_I32 : QT_U8;
        H5Tclose(ft);
        H5Dclose(ds);
        break;
    }
    qview *v = nv_calloc(1, sizeof *v, err);
    if (!v) return NV_ENOMEM;
    snprintf(v->path, sizeof v->path, "%s", path);
    v->tier = tier;
    v->type = type;
    v->cols = cols;
    v->esize = type_size(type);
    v->part = nv_calloc((size_t)(s->nchunks ? s->nchunks : 1), sizeof(void *), err);
    v->owned = nv_calloc((size_t)(s->nchunks ? s->nchunks : 1), sizeof(void *), err);
    if (!v->part || !v->owned) {
        free(v->part);
        free(v->owned);
        free(v);
        return NV_ENOMEM;
    }
    if (s->nviews == s->capviews) {
        int cap = s->capviews ? 2 * s->capviews : 32;
        qview **nv = realloc(s->views, sizeof(qview *) * (size_t)cap);
        if (!nv) {
            free(v->part);
            free(v->owned);
            free(v);
            return nv_fail(err, NV_ENOMEM, "out of memory");
        }
        s->views = nv;
        s->capviews = cap;
    }
    s->views[s->nviews++] = v;
    *out = v;
    return NV_OK;
}

/* Makes chunk c's part of view v available (in place or copied). */
static nv_status resolve(qsrc *s, qview *v, int c, nv_error *err) {
    qchunk *ch = &s->chunk[c];
    const int64_t rows = ch->rows[v->tier];
    static const char one = 0;
    if (rows == 0) {
        v->part[c] = &one;
        return NV_OK;
    }
    nv_status st = chunk_open(s, ch, err);
    if (st) return st;
    hid_t ds = H5Dopen2(ch->fid, v->path, H5P_DEFAULT);
    if (ds < 0) return nv_fail(err, NV_EINPUT, "%s: no dataset %s", ch->path, v->path);
    hid_t sp = H5Dget_space(ds), ft = H5Dget_type(ds), dcpl = H5Dget_create_plist(ds);
    hsize_t d[2] = {0, 1};
    int rank = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, d, NULL);
    const int64_t cols = rank > 1 ? (int64_t)d[1] : 1;
    const size_t bytes = (size_t)rows * (size_t)cols * v->esize;
    if ((int64_t)d[0] != rows || cols != v->cols) {
        st = nv_fail(err, NV_EINPUT, "%s: %s has shape (%lld, %lld); the manifest and the index say (%lld, %lld)", ch->path,
                     v->path, (long long)d[0], (long long)cols, (long long)rows, (long long)v->cols);
    } else {
        haddr_t off = H5Dget_offset(ds);
        int in_place = ch->map && H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Pget_nfilters(dcpl) == 0 &&
                       H5Tequal(ft, le_type(v->type)) > 0 && H5Tequal(mem_type(v->type), le_type(v->type)) > 0 &&
                       off != HADDR_UNDEF && (size_t)off + bytes <= ch->maplen && (off % v->esize) == 0;
        if (in_place) {
            v->part[c] = ch->map + off;
            s->mapped_bytes += (int64_t)bytes;
        } else {
            void *buf = nv_malloc(bytes, err);
            if (!buf) st = NV_ENOMEM;
            else if (H5Dread(ds, mem_type(v->type), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
                free(buf);
                st = nv_h5_fail(err, NV_EINPUT, ch->path, v->path, "cannot read");
            } else {
                v->owned[c] = buf;
                v->part[c] = buf;
                s->copied_bytes += (int64_t)bytes;
            }
        }
    }
    H5Pclose(dcpl);
    H5Tclose(ft);
    H5Sclose(sp);
    H5Dclose(ds);
    return st;
}

/* The chunk holding global row `row` of tier t (the last chunk with row0 <= row). */
static int chunk_of_row(const qsrc *s, int t, int64_t row) {
    int lo = 0, hi = s->nchunks - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (s->chunk[mid].row0[t] <= row) lo = mid;
        else hi = mid - 1;
    }
    /* skip chunks without rows of this tier that share the start */
    while (lo + 1 < s->nchunks && s->chunk[lo].rows[t] == 0 && s->chunk[lo + 1].row0[t] <= row) lo++;
    while (lo < s->nchunks && s->chunk[lo].row0[t] + s->chunk[lo].rows[t] <= row) lo++;
    return lo;
}

nv_status qsrc_rows(qsrc *s, qview *v, int64_t row, const void **ptr, int64_t *avail, nv_error *err) {
    if (row < 0 || row >= s->info->rows[v->tier])
        return nv_fail(err, NV_EINTERNAL, "query: row %lld of %s (%lld rows)", (long long)row, v->path,
                       (long long)s->info->rows[v->tier]);
    int c = chunk_of_row(s, v->tier, row);
    if (c >= s->nchunks) return nv_fail(err, NV_EINTERNAL, "query: row %lld of %s in no chunk", (long long)row, v->path);
    if (!v->part[c]) {
        nv_status st = resolve(s, v, c, err);
        if (st) return st;
    }
    const int64_t i = row - s->chunk[c].row0[v->tier];
    *ptr = (const unsigned char *)v->part[c] + (size_t)i * (size_t)v->cols * v->esize;
    if (avail) *avail = s->chunk[c].rows[v->tier] - i;
    return NV_OK;
}

nv_status qsrc_f32(qsrc *s, qview *v, int64_t row, int64_t col, float *out, nv_error *err) {
    const void *p;
    nv_status st = qsrc_rows(s, v, row, &p, NULL, err);
    if (st) return st;
    switch (v->type) {
    case QT_F32: *out = ((const float *)p)[col]; break;
    case QT_I64: *out = (float)((const int64_t *)p)[col]; break;
    case QT_I32: *out = (float)((const int32_t *)p)[col]; break;
    default: *out = (float)((const uint8_t *)p)[col]; break;
    }
    return NV_OK;
}

nv_status qsrc_i64(qsrc *s, qview *v, int64_t row, int64_t col, int64_t *out, nv_error *err) {
    const void *p;
    nv_status st = qsrc_rows(s, v, row, &p, NULL, err);
    if (st) return st;
    switch (v->type) {
    case QT_F32: *out = (int64_t)((const float *)p)[col]; break;
    case QT_I64: *out = ((const int64_t *)p)[col]; break;
    case QT_I32: *out = ((const int32_t *)p)[col]; break;
    default: *out = ((const uint8_t *)p)[col]; break;
    }
    return NV_OK;
}

static nv_status step_view(qsrc *s, int tier, qview **v, nv_error *err) {
    if (s->stepv[tier]) { /* asked for once per row of every table: kept */
        *v = s->stepv[tier];
        return NV_OK;
    }
    char p[32];
    snprintf(p, sizeof p, "%s/step", nv_dyn_tier_name(tier));
    nv_status st = qsrc_view(s, p, v, err);
    if (!st) s->stepv[tier] = *v;
    return st;
}

nv_status qsrc_row_step(qsrc *s, int tier, int64_t row, int64_t *step, nv_error *err) {
    qview *v;
    nv_status st = step_view(s, tier, &v, err);
    if (st) return st;
    return qsrc_i64(s, v, row, 0, step, err);
}

/* The first row of tier t whose step is >= x. */
static nv_status lower_bound(qsrc *s, int t, qview *v, int64_t x, int64_t *out, nv_error *err) {
    int c = 0;
    while (c < s->nchunks && (s->chunk[c].last_step < x || s->chunk[c].rows[t] == 0)) c++;
    if (c == s->nchunks) {
        *out = s->info->rows[t];
        return NV_OK;
    }
    const void *p;
    nv_status st = qsrc_rows(s, v, s->chunk[c].row0[t], &p, NULL, err);
    if (st) return st;
    const int64_t *steps = p;
    int64_t lo = 0, hi = s->chunk[c].rows[t];
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (steps[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    *out = s->chunk[c].row0[t] + lo;
    return NV_OK;
}

nv_status qsrc_step_rows(qsrc *s, int tier, int64_t lo, int64_t hi, int64_t *r0, int64_t *r1, nv_error *err) {
    *r0 = *r1 = 0;
    if (s->info->rows[tier] == 0 || lo > hi) return NV_OK;
    qview *v;
    nv_status st = step_view(s, tier, &v, err);
    if (st) return st;
    if (v->type != QT_I64) return nv_fail(err, NV_EINTERNAL, "query: %s is not int64", v->path);
    if ((st = lower_bound(s, tier, v, lo, r0, err))) return st;
    if (hi == INT64_MAX) {
        *r1 = s->info->rows[tier];
        return NV_OK;
    }
    if ((st = lower_bound(s, tier, v, hi + 1, r1, err))) return st;
    if (*r1 < *r0) *r1 = *r0;
    return NV_OK;
}

/* sample id -> rows (counting sort: ids are the data set's row ids, small integers). */
nv_status qsrc_sample_rows(qsrc *s, int tier, int64_t id, const int64_t **rows, int64_t *n, nv_error *err) {
    *rows = NULL;
    *n = 0;
    if (!s->sidx_start[tier]) {
        const int64_t m = s->info->rows[tier];
        char p[48];
        snprintf(p, sizeof p, "%s/sample_id", nv_dyn_tier_name(tier));
        qview *v;
        nv_status st = qsrc_view(s, p, &v, err);
        if (st) return st;
        int64_t maxid = -1;
        for (int64_t r = 0; r < m;) {
            const void *ptr;
            int64_t avail;
            if ((st = qsrc_rows(s, v, r, &ptr, &avail, err))) return st;
            const int64_t *ids = ptr;
            for (int64_t i = 0; i < avail; i++) {
                if (ids[i] < 0) return nv_fail(err, NV_EINPUT, "%s: negative sample id %lld", v->path, (long long)ids[i]);
                if (ids[i] > maxid) maxid = ids[i];
            }
            r += avail;
        }
        if (maxid >= ((int64_t)1 << 31)) return nv_fail(err, NV_EINPUT, "%s: sample ids up to %lld (the query engine "
                                                        "indexes ids below 2^31)", v->path, (long long)maxid);
        int64_t *start = nv_calloc((size_t)(maxid + 2), sizeof(int64_t), err);
        int64_t *list = nv_malloc(sizeof(int64_t) * (size_t)(m ? m : 1), err);
        if (!start || !list) {
            free(start);
            free(list);
            return NV_ENOMEM;
        }
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t r = 0; r < m;) {
                const void *ptr;
                int64_t avail;
                if ((st = qsrc_rows(s, v, r, &ptr, &avail, err))) {
                    free(start);
                    free(list);
                    return st;
                }
                const int64_t *ids = ptr;
                for (int64_t i = 0; i < avail; i++) {
                    if (pass == 0) start[ids[i] + 1]++;
                    else list[start[ids[i]]++] = r + i;
                }
                r += avail;
            }
            if (pass == 0)
                for (int64_t i = 0; i <= maxid; i++) start[i + 1] += start[i];
            else {
                /* start[i] now holds the end of id i's rows: shift back */
                for (int64_t i = maxid + 1; i > 0; i--) start[i] = start[i - 1];
                start[0] = 0;
            }
        }
        s->sidx_start[tier] = start;
        s->sidx_rows[tier] = list;
        s->sidx_n[tier] = maxid + 1;
    }
    if (id < 0 || id >= s->sidx_n[tier]) return NV_OK;
    *rows = s->sidx_rows[tier] + s->sidx_start[tier][id];
    *n = s->sidx_start[tier][id + 1] - s->sidx_start[tier][id];
    return NV_OK;
}

nv_status qsrc_weights_plan(qsrc *s, nv_error *err) {
    if (s->valid) return NV_OK;
    const int64_t last = s->info->last_step;
    nv_status st;
    qview *v;
    s->nstored = s->info->rows[NV_DYN_WEIGHTS];
    s->stored_steps = nv_malloc(sizeof(int64_t) * (size_t)(s->nstored + 1), err);
    unsigned char *fac = nv_calloc((size_t)(last + 2), 1, err);
    s->valid = nv_calloc((size_t)(last + 2), 1, err);
    if (!s->stored_steps || !fac || !s->valid) {
        free(fac);
        return NV_ENOMEM;
    }
    if (s->nstored > 0) {
        if ((st = step_view(s, NV_DYN_WEIGHTS, &v, err))) goto done;
        for (int64_t i = 0; i < s->nstored; i++)
            if ((st = qsrc_i64(s, v, i, 0, &s->stored_steps[i], err))) goto done;
    }
    if (s->info->rows[NV_DYN_FACTORS] > 0) {
        if ((st = step_view(s, NV_DYN_FACTORS, &v, err))) goto done;
        for (int64_t r = 0; r < s->info->rows[NV_DYN_FACTORS];) {
            const void *p;
            int64_t avail;
            if ((st = qsrc_rows(s, v, r, &p, &avail, err))) goto done;
            const int64_t *steps = p;
            for (int64_t i = 0; i < avail; i++)
                if (steps[i] >= 0 && steps[i] <= last) fac[steps[i]] = 1;
            r += avail;
        }
    }
    {
        int64_t j = 0;
        for (int64_t t = 0; t <= last; t++) {
            while (j < s->nstored && s->stored_steps[j] < t) j++;
            int stored = j < s->nstored && s->stored_steps[j] == t;
            s->valid[t] = stored || (t > 0 && s->valid[t - 1] && fac[t]);
        }
    }
    st = NV_OK;
done:
    free(fac);
    if (st) {
        free(s->valid);
        s->valid = NULL;
    }
    return st;
}
