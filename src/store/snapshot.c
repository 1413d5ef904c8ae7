/* snapshot.c: the activation store of include/nerve/snapshot.h. The training loop
 * hands each snapshot epoch's activations to a writer that builds one HDF5 file
 * under a temporary name, renames it into place and lists it in manifest.json;
 * later stages (ph, the viewer, h5py notebooks) read only what the manifest lists,
 * so they never open a file a writer still holds.
 *
 * Same bytes: nothing time- or host-dependent is written, and HDF5's object
 * modification times are switched off, so two identical runs give identical files.
 */
#include "nerve/snapshot.h"
#include "nerve/fsutil.h"
#include "nerve/hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/h5util.h"
#include "nerve/sweep.h" /* nv_hash: the dataset hashes of hashes.json */

/* ---------------------------------------------------------------------------- */
/* Small file-system helpers (public: other writers use them for JSON and CSV). */

/* Model and layer names become path components and HDF5 link names. */
static int valid_name(const char *s, size_t max) {
    if (!s || !*s || strlen(s) >= max) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static char *path_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", a, b);
    return s;
}

/* ---------------------------------------------------------------------------- */
/* The manifest. */

void nv_manifest_free(nv_manifest *m) {
    if (!m) return;
    free(m->files);
    m->files = NULL;
    m->count = 0;
}

/* A path in the manifest is joined to its directory by readers (and, later, served
 * by the viewer): it must stay below that directory. */
static int safe_relpath(const char *p) {
    if (!*p || p[0] == '/') return 0;
    for (const char *s = p; *s; s++)
        if (s[0] == '.' && s[1] == '.' && (s == p || s[-1] == '/') && (s[2] == '/' || !s[2]))
            return 0;
    return 1;
}

nv_status nv_manifest_read(const char *dir, nv_manifest *out, nv_error *err) {
    out->count = 0;
    out->files = NULL;
    char *path = path_join(dir, "manifest.json");
    if (!path) return nv_fail(err, NV_ENOMEM, "out of memory");
    nv_status st = NV_OK;
    json_t *root = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT) goto done; /* none yet: empty */
    json_error_t je;
    root = json_load_file(path, 0, &je);
    if (!root) {
        st = nv_fail(err, NV_EINPUT, "%s:%d:%d: malformed JSON: %s", path, je.line, je.column,
                     je.text);
        goto done;
    }
    json_t *fmt = json_object_get(root, "format");
    json_t *ver = json_object_get(root, "format_version");
    json_t *files = json_object_get(root, "files");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), NV_MANIFEST_FORMAT) != 0) {
        st = nv_fail(err, NV_EINPUT, "%s: key 'format': expected \"%s\", found %s", path,
                     NV_MANIFEST_FORMAT,
                     json_is_string(fmt) ? json_string_value(fmt) : "no string");
        goto done;
    }
    if (!json_is_integer(ver)) {
        st = nv_fail(err, NV_EINPUT, "%s: key 'format_version': expected an integer", path);
        goto done;
    }
    if (json_integer_value(ver) < 1 || json_integer_value(ver) > NV_MANIFEST_VERSION) {
        st = nv_fail(err, NV_EINPUT, "%s: format_version %lld is not supported (this nerve reads %d)",
                     path, (long long)json_integer_value(ver), NV_MANIFEST_VERSION);
        goto done;
    }
    if (!json_is_array(files)) {
        st = nv_fail(err, NV_EINPUT, "%s: key 'files': expected an array", path);
        goto done;
    }
    size_t n = json_array_size(files);
    out->files = nv_calloc(n ? n : 1, sizeof *out->files, err);
    if (!out->files) {
        st = NV_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(files, i);
        json_t *m = json_object_get(e, "model"), *ep = json_object_get(e, "epoch"),
               *p = json_object_get(e, "path");
        nv_manifest_entry *d = &out->files[i];
        if (!json_is_string(m) || !valid_name(json_string_value(m), sizeof d->model)) {
            st = nv_fail(err, NV_EINPUT, "%s: files[%zu]: key 'model': expected a name of "
                         "[A-Za-z0-9_-] under %zu characters", path, i, sizeof d->model);
            goto done;
        }
        if (!json_is_integer(ep) || json_integer_value(ep) < 0) {
            st = nv_fail(err, NV_EINPUT, "%s: files[%zu]: key 'epoch': expected an integer >= 0",
                         path, i);
            goto done;
        }
        if (!json_is_string(p) || strlen(json_string_value(p)) >= sizeof d->path ||
            !safe_relpath(json_string_value(p))) {
            st = nv_fail(err, NV_EINPUT, "%s: files[%zu]: key 'path': expected a relative path "
                         "inside the directory, under %zu characters", path, i, sizeof d->path);
            goto done;
        }
        snprintf(d->model, sizeof d->model, "%s", json_string_value(m));
        d->epoch = json_integer_value(ep);
        snprintf(d->path, sizeof d->path, "%s", json_string_value(p));
        out->count = (int64_t)i + 1;
    }
done:
    if (st != NV_OK) nv_manifest_free(out);
    json_decref(root);
    free(path);
    return st;
}

static int entry_cmp(const void *a, const void *b) {
    const nv_manifest_entry *x = a, *y = b;
    int c = strcmp(x->model, y->model);
    if (c) return c;
    return (x->epoch > y->epoch) - (x->epoch < y->epoch);
}

static nv_status manifest_write(const char *dir, nv_manifest *m, nv_error *err) {
    qsort(m->files, (size_t)m->count, sizeof *m->files, entry_cmp);
    json_t *root = json_object(), *files = json_array();
    json_object_set_new(root, "format", json_string(NV_MANIFEST_FORMAT));
    json_object_set_new(root, "format_version", json_integer(NV_MANIFEST_VERSION));
    for (int64_t i = 0; i < m->count; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "model", json_string(m->files[i].model));
        json_object_set_new(e, "epoch", json_integer(m->files[i].epoch));
        json_object_set_new(e, "path", json_string(m->files[i].path));
        json_array_append_new(files, e);
    }
    json_object_set_new(root, "files", files);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    char *path = path_join(dir, "manifest.json");
    nv_status st;
    if (!text || !path) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
    } else {
        size_t n = strlen(text);
        char *withnl = malloc(n + 2);
        if (!withnl) {
            st = nv_fail(err, NV_ENOMEM, "out of memory");
        } else {
            memcpy(withnl, text, n);
            memcpy(withnl + n, "\n", 2);
            st = nv_atomic_write_text(path, withnl, err);
            free(withnl);
        }
    }
    free(text);
    free(path);
    return st;
}

/* The manifest is read, changed and rewritten: writers of several models (threads
 * of one process, or processes of a job array sharing a run directory) must take
 * turns. A mutex orders the threads; flock on the directory itself orders processes
 * without leaving a lock file behind. */
static pthread_mutex_t manifest_mutex = PTHREAD_MUTEX_INITIALIZER;

static int manifest_lock(const char *dir) {
    pthread_mutex_lock(&manifest_mutex);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
    return fd;
}

static void manifest_unlock(int fd) {
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
    pthread_mutex_unlock(&manifest_mutex);
}

static nv_status manifest_add(const char *dir, const char *model, int64_t epoch,
                              const char *relpath, nv_error *err) {
    int fd = manifest_lock(dir);
    nv_manifest m;
    nv_status st = nv_manifest_read(dir, &m, err);
    if (st != NV_OK) goto done;
    int64_t i;
    for (i = 0; i < m.count; i++)
        if (strcmp(m.files[i].model, model) == 0 && m.files[i].epoch == epoch) break;
    if (i == m.count) {
        nv_manifest_entry *grown = realloc(m.files, (size_t)(m.count + 1) * sizeof *grown);
        if (!grown) {
            st = nv_fail(err, NV_ENOMEM, "out of memory");
            goto done;
        }
        m.files = grown;
        m.count++;
    }
    snprintf(m.files[i].model, sizeof m.files[i].model, "%s", model);
    m.files[i].epoch = epoch;
    snprintf(m.files[i].path, sizeof m.files[i].path, "%s", relpath);
    st = manifest_write(dir, &m, err);
done:
    nv_manifest_free(&m);
    manifest_unlock(fd);
    return st;
}

/* Removes leftovers of a writer that was killed mid-file: hidden temporary files
 * ".epoch_*.h5.tmp-*" in <dir>/<model>/. Only --resume calls this (through
 * nv_manifest_truncate), when no other writer of that model runs. */
static void remove_stale_temps(const char *dir, const char *model) {
    char *mdir = path_join(dir, model);
    if (!mdir) return;
    DIR *d = opendir(mdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, ".epoch_", 7) == 0 && strstr(e->d_name, ".h5.tmp-")) {
                char *p = path_join(mdir, e->d_name);
                if (p) unlink(p);
                free(p);
            }
        }
        closedir(d);
    }
    free(mdir);
}

nv_status nv_manifest_truncate(const char *dir, const char *model, int64_t max_epoch,
                               nv_error *err) {
    int fd = manifest_lock(dir);
    nv_manifest m;
    nv_status st = nv_manifest_read(dir, &m, err);
    if (st != NV_OK) goto done;
    int64_t kept = 0, dropped = 0;
    nv_manifest_entry *gone = calloc((size_t)(m.count ? m.count : 1), sizeof *gone);
    if (!gone) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < m.count; i++) {
        if (strcmp(m.files[i].model, model) == 0 && m.files[i].epoch > max_epoch)
            gone[dropped++] = m.files[i];
        else
            m.files[kept++] = m.files[i];
    }
    m.count = kept;
    if (dropped > 0) st = manifest_write(dir, &m, err);
    /* Files first leave the manifest, then the disk: a reader following the
     * manifest never meets a listed file that is gone. The resumed run writes
     * those epochs again. */
    if (st == NV_OK)
        for (int64_t i = 0; i < dropped; i++) {
            char *p = path_join(dir, gone[i].path);
            if (p) unlink(p);
            free(p);
        }
    free(gone);
    if (st == NV_OK) remove_stale_temps(dir, model);
done:
    nv_manifest_free(&m);
    manifest_unlock(fd);
    return st;
}

/* ---------------------------------------------------------------------------- */
/* The writer. */

typedef struct {
    char name[64];
    int index;
} layer_rec;

struct nv_snapshot_writer {
    char *dir;           /* the snapshots directory (holds manifest.json) */
    char *relpath;       /* "<model>/epoch_EEEE.h5", as listed in the manifest */
    char *final_path;    /* dir/relpath */
    char *tmp_path;      /* the hidden temporary name beside final_path */
    char model[64];
    int64_t epoch;
    int64_t n_train, n_test;
    int gzip;            /* gzip level of the data sets, 0 = none */
    hid_t fid;
    layer_rec *layers;   /* (nlayers) in order of first appearance */
    int nlayers, cap;
    /* XXH3-128 of every dataset, taken from memory as it is written (sweep.h's
     * hashes, without reading the file back): "/path" -> hex. hashes_ok drops to 0
     * when a dataset could not be hashed so (memory type not the file's bytes). */
    json_t *hashes;
    int hashes_ok;
};

/* The hash of a dataset's raw data as stored, from the buffer written: valid when
 * the memory type's bytes are the file type's (H5Tequal: same class, size, order),
 * as for our native little-endian floats and integers on x86-64. `all` (may be
 * NULL) also gets a copy of the state after this buffer, for a virtual dataset that
 * concatenates it with the next. */
static void hash_mem(nv_snapshot_writer *w, hid_t file_type, hid_t mem_type, const char *path,
                     const void *data, size_t bytes, nv_hash *all) {
    if (!w || !w->hashes_ok) return;
    nv_hash s;
    if (H5Tequal(file_type, mem_type) <= 0 || nv_hash_init(&s, NV_HASH_XXH3_128)) {
        w->hashes_ok = 0;
        return;
    }
    nv_hash_update(&s, data, bytes);
    if (all && nv_hash_copy(all, &s)) w->hashes_ok = 0;
    char hex[NV_HASH_HEX];
    nv_hash_final(&s, hex);
    if (json_object_set_new(w->hashes, path, json_string(hex))) w->hashes_ok = 0;
}

/* /<group>/all as a virtual dataset: rows [0, n_train) are <group>/train, rows
 * [n_train, n_train + n_test) are <group>/test ("." = this same file), so the
 * combined set reads like any dataset but stores nothing twice. */
static nv_status write_concat_vds(hid_t gid, const char *group, const char *prefix,
                                  hid_t file_type, int rank, int64_t width, int64_t n_train,
                                  int64_t n_test, const char *file, nv_error *err) {
    char name[32], src[256];
    snprintf(name, sizeof name, "%sall", prefix);
    hsize_t vd[2] = {(hsize_t)(n_train + n_test), (hsize_t)width};
    if (n_train + n_test == 0) { /* nothing to map: an ordinary empty dataset */
        int64_t d[2] = {0, width};
        return nv_h5_write_dataset(gid, name, file_type, file_type, rank, d, NULL, 0, file, err);
    }
    hid_t dcpl = nv_h5_dcpl();
    hid_t vspace = H5Screate_simple(rank, vd, NULL);
    const char *split[2] = {"train", "test"};
    int64_t rows[2] = {n_train, n_test}, off = 0;
    nv_status st = NV_OK;
    for (int s = 0; s < 2 && st == NV_OK; s++) {
        if (rows[s] == 0) continue;
        hsize_t sd[2] = {(hsize_t)rows[s], (hsize_t)width};
        hsize_t start[2] = {(hsize_t)off, 0}, count[2] = {1, 1};
        hid_t sspace = H5Screate_simple(rank, sd, NULL);
        snprintf(src, sizeof src, "%s/%s%s", group, prefix, split[s]);
        if (H5Sselect_hyperslab(vspace, H5S_SELECT_SET, start, NULL, count, sd) < 0 ||
            H5Pset_virtual(dcpl, vspace, ".", src, sspace) < 0)
            st = nv_h5_fail(err, NV_EIO, file, src, "cannot map into the virtual dataset %s/%s",
                            group, name);
        H5Sclose(sspace);
        off += rows[s];
    }
    if (st == NV_OK) {
        H5Sselect_all(vspace);
        hid_t ds = H5Dcreate2(gid, name, file_type, vspace, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (ds < 0)
            st = nv_h5_fail(err, NV_EIO, file, name, "cannot create virtual dataset in %s",
                            group);
        else
            H5Dclose(ds);
    }
    H5Sclose(vspace);
    H5Pclose(dcpl);
    return st;
}

/* Writes <group>/{prefix}train, {prefix}test and the virtual {prefix}all. */
static nv_status write_splits(nv_snapshot_writer *w, hid_t fid, const char *group, const char *prefix,
                              hid_t file_type, hid_t mem_type, int rank, int64_t width, int64_t n_train,
                              const void *train, int64_t n_test, const void *test, int gzip,
                              const char *file, nv_error *err) {
    hid_t gid = H5Gopen2(fid, group, H5P_DEFAULT);
    if (gid < 0) return nv_h5_fail(err, NV_EIO, file, group, "cannot open group");
    /* The hashes of train, test, and all = train then test: all continues from
     * train's state, so train's bytes (the larger part) are hashed once for both.
     * Each split is hashed right after it is written, while the write has left it
     * in this core's cache. */
    const size_t row = H5Tget_size(mem_type) * (size_t)width;
    const int hashing = w && w->hashes_ok;
    nv_hash all = {0};
    char name[32], path[128];
    int64_t d[2] = {n_train, width};
    snprintf(name, sizeof name, "%strain", prefix);
    nv_status st = nv_h5_write_dataset(gid, name, file_type, mem_type, rank, d, train, gzip, file, err);
    if (st == NV_OK && hashing) {
        snprintf(path, sizeof path, "%s/%s", group, name);
        hash_mem(w, file_type, mem_type, path, train, row * (size_t)n_train, &all);
    }
    if (st == NV_OK) {
        d[0] = n_test;
        snprintf(name, sizeof name, "%stest", prefix);
        st = nv_h5_write_dataset(gid, name, file_type, mem_type, rank, d, test, gzip, file, err);
    }
    if (st == NV_OK && hashing) {
        snprintf(path, sizeof path, "%s/%s", group, name);
        hash_mem(w, file_type, mem_type, path, test, row * (size_t)n_test, NULL);
        if (w->hashes_ok) {
            char hex[NV_HASH_HEX];
            nv_hash_update(&all, test, row * (size_t)n_test);
            nv_hash_final(&all, hex);
            snprintf(path, sizeof path, "%s/%sall", group, prefix);
            if (json_object_set_new(w->hashes, path, json_string(hex))) w->hashes_ok = 0;
        }
    }
    nv_hash_final(&all, NULL); /* frees the copy where it was not finished above */
    if (st == NV_OK)
        st = write_concat_vds(gid, group, prefix, file_type, rank, width, n_train, n_test, file, err);
    H5Gclose(gid);
    if (st != NV_OK) nv_error_prefix(err, "group %s: ", group);
    return st;
}

static nv_status make_group(hid_t loc, const char *name, const char *file, nv_error *err) {
    hid_t gcpl = nv_h5_gcpl();
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (g < 0) return nv_h5_fail(err, NV_EIO, file, name, "cannot create group");
    H5Gclose(g);
    return NV_OK;
}

void nv_snapshot_abort(nv_snapshot_writer *w) {
    if (!w) return;
    nv_h5_discard_temp(w->fid, w->tmp_path);
    free(w->dir);
    free(w->relpath);
    free(w->final_path);
    free(w->tmp_path);
    free(w->layers);
    json_decref(w->hashes);
    free(w);
}

nv_status nv_snapshot_begin(const char *dir, const nv_snapshot_meta *meta,
                            nv_snapshot_writer **out, nv_error *err) {
    *out = NULL;
    nv_h5_quiet();
    if (!valid_name(meta->model, 64))
        return nv_fail(err, NV_EINPUT, "snapshot: model name '%s': expected 1-63 characters of "
                       "[A-Za-z0-9_-]", meta->model ? meta->model : "(null)");
    if (meta->epoch < 0 || meta->n_train < 0 || meta->n_test < 0)
        return nv_fail(err, NV_EINTERNAL, "snapshot %s: epoch %lld, n_train %lld, n_test %lld: "
                       "expected all >= 0", meta->model, (long long)meta->epoch,
                       (long long)meta->n_train, (long long)meta->n_test);
    if ((meta->n_train > 0 && (!meta->y_train || !meta->ids_train)) ||
        (meta->n_test > 0 && (!meta->y_test || !meta->ids_test)))
        return nv_fail(err, NV_EINTERNAL, "snapshot %s: labels or ids missing", meta->model);

    nv_snapshot_writer *w = nv_calloc(1, sizeof *w, err);
    if (!w) return NV_ENOMEM;
    w->fid = H5I_INVALID_HID;
    w->hashes = json_object();
    w->hashes_ok = w->hashes != NULL;
    snprintf(w->model, sizeof w->model, "%s", meta->model);
    w->epoch = meta->epoch;
    w->n_train = meta->n_train;
    w->n_test = meta->n_test;
    w->gzip = meta->gzip_level < 0 ? 0 : meta->gzip_level > 9 ? 9 : meta->gzip_level;
    nv_status st = NV_OK;
    char rel[128];
    snprintf(rel, sizeof rel, "%s/epoch_%04lld.h5", meta->model, (long long)meta->epoch);
    char *mdir = path_join(dir, meta->model);
    w->dir = strdup(dir);
    w->relpath = strdup(rel);
    w->final_path = path_join(dir, rel);
    if (!mdir || !w->dir || !w->relpath || !w->final_path) {
        free(mdir);
        nv_snapshot_abort(w);
        return nv_fail(err, NV_ENOMEM, "out of memory");
    }
    st = nv_mkdirs(mdir, err);
    free(mdir);
    if (st != NV_OK) goto fail;
    w->fid = nv_h5_create_temp(w->final_path, &w->tmp_path, err);
    if (w->fid < 0) {
        st = err ? err->status : NV_EIO;
        goto fail;
    }
    const char *f = w->tmp_path;
    hid_t r = w->fid;
    if ((st = nv_h5_attr_str(r, "format", NV_SNAPSHOT_FORMAT, f, err)) ||
        (st = nv_h5_attr_i64(r, "format_version", NV_SNAPSHOT_VERSION, f, err)) ||
        (st = nv_h5_attr_str(r, "nerve_version", NERVE_VERSION, f, err)) ||
        (st = nv_h5_attr_str(r, "model", meta->model, f, err)) ||
        (st = nv_h5_attr_i64(r, "epoch", meta->epoch, f, err)) ||
        (st = nv_h5_attr_str(r, "experiment", meta->experiment ? meta->experiment : "", f, err)) ||
        (st = nv_h5_attr_u64(r, "seed", meta->seed, f, err)) ||
        (st = nv_h5_attr_i64(r, "n_train", meta->n_train, f, err)) ||
        (st = nv_h5_attr_i64(r, "n_test", meta->n_test, f, err)) ||
        (st = nv_h5_attr_str(r, "config", meta->config_text ? meta->config_text : "", f, err)))
        goto fail;
    if ((st = make_group(r, "labels", f, err)) || (st = make_group(r, "ids", f, err)) ||
        (st = make_group(r, "layers", f, err)))
        goto fail;
    if ((st = write_splits(w, r, "/labels", "", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, 1, meta->n_train,
                           meta->y_train, meta->n_test, meta->y_test, w->gzip, f, err)) ||
        (st = write_splits(w, r, "/ids", "", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, 1, meta->n_train,
                           meta->ids_train, meta->n_test, meta->ids_test, w->gzip, f, err)))
        goto fail;
    *out = w;
    return NV_OK;
fail:
    nv_snapshot_abort(w);
    return st;
}

nv_status nv_snapshot_add_layer(nv_snapshot_writer *w, int index, const char *name,
                                const char *kind, int pre, int64_t width,
                                const nv_real *train, const nv_real *test, nv_error *err) {
    nv_h5_quiet();
    const char *f = w->tmp_path;
    if (!valid_name(name, sizeof w->layers[0].name))
        return nv_fail(err, NV_EINTERNAL, "file %s: layer name '%s': expected 1-63 characters "
                       "of [A-Za-z0-9_-]", f, name ? name : "(null)");
    if (width < 1 || index < 0 || !kind)
        return nv_fail(err, NV_EINTERNAL, "file %s: layer %s: width %lld, index %d: expected "
                       "width >= 1, index >= 0 and a kind", f, name, (long long)width, index);
    if ((w->n_train > 0 && !train) || (w->n_test > 0 && !test))
        return nv_fail(err, NV_EINTERNAL, "file %s: layer %s: activations missing", f, name);
    char group[96];
    snprintf(group, sizeof group, "/layers/%s", name);
    nv_status st = NV_OK;
    int have = nv_h5_exists(w->fid, group);
    if (!have) {
        if ((st = make_group(w->fid, group, f, err))) return st;
        hid_t g = H5Gopen2(w->fid, group, H5P_DEFAULT);
        if (g < 0) return nv_h5_fail(err, NV_EIO, f, group, "cannot open group");
        if ((st = nv_h5_attr_i64(g, "index", index, f, err)) == NV_OK &&
            (st = nv_h5_attr_i64(g, "width", width, f, err)) == NV_OK)
            st = nv_h5_attr_str(g, "kind", kind, f, err);
        H5Gclose(g);
        if (st != NV_OK) return st;
        if (w->nlayers == w->cap) {
            int cap = w->cap ? 2 * w->cap : 8;
            layer_rec *grown = realloc(w->layers, (size_t)cap * sizeof *grown);
            if (!grown) return nv_fail(err, NV_ENOMEM, "out of memory");
            w->layers = grown;
            w->cap = cap;
        }
        snprintf(w->layers[w->nlayers].name, sizeof w->layers[0].name, "%s", name);
        w->layers[w->nlayers].index = index;
        w->nlayers++;
    } else {
        /* The second half of a layer (pre-activations after activations, or the
         * other way round) must describe the same layer. */
        hid_t g = H5Gopen2(w->fid, group, H5P_DEFAULT);
        int64_t have_w = -1, have_i = -1;
        nv_h5_read_attr_i64(g, "width", &have_w, f, group, err);
        nv_h5_read_attr_i64(g, "index", &have_i, f, group, err);
        H5Gclose(g);
        if (have_w != width || have_i != index)
            return nv_fail(err, NV_EINTERNAL, "file %s: layer %s: added as index %lld width %lld, "
                           "now index %d width %lld", f, name, (long long)have_i,
                           (long long)have_w, index, (long long)width);
        char probe[128];
        snprintf(probe, sizeof probe, "%s/%strain", group, pre ? "pre_" : "");
        if (nv_h5_exists(w->fid, probe))
            return nv_fail(err, NV_EINTERNAL, "file %s: layer %s: %sactivations added twice", f,
                           name, pre ? "pre-" : "");
    }
    return write_splits(w, w->fid, group, pre ? "pre_" : "", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2,
                        width, w->n_train, train, w->n_test, test, w->gzip, f, err);
}

static int layer_cmp(const void *a, const void *b) {
    const layer_rec *x = a, *y = b;
    if (x->index != y->index) return (x->index > y->index) - (x->index < y->index);
    return strcmp(x->name, y->name);
}

/* Every dataset of the file must have a memory hash, under its own path: the walk
 * is the one runhash.c's file hashing does. */
typedef struct {
    json_t *hashes;
    size_t seen;
} hash_check;

static int check_dataset(const char *path, void *data) {
    hash_check *c = data;
    c->seen++;
    return json_object_get(c->hashes, path) ? 0 : 1;
}

nv_status nv_snapshot_commit(nv_snapshot_writer *w, nv_error *err) {
    return nv_snapshot_commit_hashed(w, NULL, err);
}

nv_status nv_snapshot_commit_hashed(nv_snapshot_writer *w, char **hashes, nv_error *err) {
    nv_h5_quiet();
    nv_status st = NV_OK;
    if (hashes) {
        /* Only if every dataset of the file was hashed from memory: a dataset added
         * by another path would otherwise be missing from the record. */
        *hashes = NULL;
        hash_check c = {w->hashes, 0};
        if (w->hashes_ok && nv_h5_each_dataset_path(w->fid, check_dataset, &c) == 0 &&
            c.seen == json_object_size(w->hashes))
            *hashes = json_dumps(w->hashes, JSON_SORT_KEYS | JSON_COMPACT);
    }
    /* layer_names in network order (input .. logits), whatever order they came in. */
    qsort(w->layers, (size_t)w->nlayers, sizeof *w->layers, layer_cmp);
    const char **names = calloc((size_t)w->nlayers + 1, sizeof *names);
    if (!names) {
        nv_snapshot_abort(w);
        return nv_fail(err, NV_ENOMEM, "out of memory");
    }
    for (int i = 0; i < w->nlayers; i++) names[i] = w->layers[i].name;
    st = nv_h5_attr_strs(w->fid, "layer_names", names, w->nlayers, w->tmp_path, err);
    free(names);
    if (st != NV_OK) {
        nv_snapshot_abort(w);
        return st;
    }
    hid_t fid = w->fid;
    w->fid = H5I_INVALID_HID; /* commit_temp closes it, whatever happens */
    st = nv_h5_commit_temp(fid, w->tmp_path, w->final_path, err);
    if (st == NV_OK) {
        free(w->tmp_path);
        w->tmp_path = NULL; /* renamed: nothing left to remove */
        st = manifest_add(w->dir, w->model, w->epoch, w->relpath, err);
        if (st != NV_OK) nv_error_prefix(err, "snapshot %s was written but not listed: ",
                                         w->final_path);
    }
    nv_snapshot_abort(w);
    if (st && hashes) {
        free(*hashes);
        *hashes = NULL;
    }
    return st;
}

/* ---------------------------------------------------------------------------- */
/* Reading. */

static int valid_split(const char *s) {
    return s && (!strcmp(s, "train") || !strcmp(s, "test") || !strcmp(s, "all"));
}

static hid_t open_snapshot(const char *path, nv_error *err) {
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return fid;
    if (nv_h5_check_format(fid, path, NV_SNAPSHOT_FORMAT, NV_SNAPSHOT_VERSION, NULL, err) !=
        NV_OK) {
        H5Fclose(fid);
        return H5I_INVALID_HID;
    }
    return fid;
}

nv_status nv_snapshot_read(const char *path, const char *layer, const char *split, int pre,
                           nv_real **out, int64_t *rows, int64_t *cols, nv_error *err) {
    *out = NULL;
    if (!valid_split(split))
        return nv_fail(err, NV_EINPUT, "file %s: split '%s': expected train, test or all", path,
                       split ? split : "(null)");
    if (!valid_name(layer, 64))
        return nv_fail(err, NV_EINPUT, "file %s: layer name '%s' is not valid", path,
                       layer ? layer : "(null)");
    hid_t fid = open_snapshot(path, err);
    if (fid < 0) return err ? err->status : NV_EINPUT;
    char group[96], ds[128];
    snprintf(group, sizeof group, "/layers/%s", layer);
    snprintf(ds, sizeof ds, "%s/%s%s", group, pre ? "pre_" : "", split);
    nv_status st;
    if (!nv_h5_exists(fid, group)) {
        char **names = NULL;
        int64_t n = 0;
        char list[512] = "";
        if (nv_h5_read_attr_strs(fid, "layer_names", &names, &n, path, "/", NULL) == NV_OK)
            for (int64_t i = 0; i < n; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                         names[i]);
        nv_h5_free_strs(names, n);
        st = nv_fail(err, NV_EINPUT, "file %s: no layer '%s' (it has: %s)", path, layer, list);
    } else if (!nv_h5_exists(fid, ds)) {
        st = nv_fail(err, NV_EINPUT, "file %s: layer '%s' has no %s (pre-activations are stored "
                     "only when requested)", path, layer, ds);
    } else {
        int64_t d[2];
        void *buf = NULL;
        st = nv_h5_read_dataset(fid, ds, H5T_NATIVE_FLOAT, sizeof(nv_real), 2, &buf, d, path, err);
        if (st == NV_OK) {
            *out = buf;
            *rows = d[0];
            *cols = d[1];
        }
    }
    H5Fclose(fid);
    return st;
}

nv_status nv_snapshot_read_index(const char *path, const char *what, const char *split,
                                 int64_t **out, int64_t *rows, nv_error *err) {
    *out = NULL;
    if (!what || (strcmp(what, "labels") != 0 && strcmp(what, "ids") != 0))
        return nv_fail(err, NV_EINPUT, "file %s: '%s': expected labels or ids", path,
                       what ? what : "(null)");
    if (!valid_split(split))
        return nv_fail(err, NV_EINPUT, "file %s: split '%s': expected train, test or all", path,
                       split ? split : "(null)");
    hid_t fid = open_snapshot(path, err);
    if (fid < 0) return err ? err->status : NV_EINPUT;
    char ds[64];
    snprintf(ds, sizeof ds, "/%s/%s", what, split);
    int64_t d[1];
    void *buf = NULL;
    nv_status st = nv_h5_read_dataset(fid, ds, H5T_NATIVE_INT64, sizeof(int64_t), 1, &buf, d, path, err);
    if (st == NV_OK) {
        *out = buf;
        *rows = d[0];
    }
    H5Fclose(fid);
    return st;
}

/* --- the network itself ------------------------------------------------------------ */
nv_status nv_snapshot_add_params(nv_snapshot_writer *w, const nv_mlp_spec *spec,
                                 const nv_real *params, nv_error *err) {
    const char *f = w->tmp_path;
    if (nv_h5_exists(w->fid, "/model"))
        return nv_fail(err, NV_EINTERNAL, "file %s: parameters added twice", f);
    nv_status st = nv_h5_write_spec(w->fid, "model", spec, f, err);
    if (st) return st;
    hid_t g = H5Gopen2(w->fid, "/model", H5P_DEFAULT);
    if (g < 0) return nv_h5_fail(err, NV_EIO, f, "/model", "cannot open group");
    int64_t n = nv_mlp_param_count(spec);
    st = nv_h5_write_dataset(g, "params", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &n, params, 0, f, err);
    H5Gclose(g);
    if (!st) hash_mem(w, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, "/model/params", params, sizeof(nv_real) * (size_t)n, NULL);
    return st;
}

nv_status nv_snapshot_read_params(const char *path, nv_mlp_spec *spec, nv_real **params,
                                  nv_error *err) {
    *params = NULL;
    hid_t fid = open_snapshot(path, err);
    if (fid < 0) return err ? err->status : NV_EINPUT;
    nv_status st;
    if (!nv_h5_exists(fid, "/model")) {
        st = nv_fail(err, NV_EINPUT, "file %s: no /model (the network's parameters are stored by "
                     "nerve train from version 0.1.0 on)", path);
    } else if ((st = nv_h5_read_spec(fid, "/model", spec, path, err)) == NV_OK) {
        int64_t d[1];
        void *buf = NULL;
        st = nv_h5_read_dataset(fid, "/model/params", H5T_NATIVE_FLOAT, sizeof(nv_real), 1, &buf, d,
                                path, err);
        if (st == NV_OK && d[0] != nv_mlp_param_count(spec)) {
            st = nv_fail(err, NV_EINPUT, "file %s: /model/params has %lld values, the spec needs %lld",
                         path, (long long)d[0], (long long)nv_mlp_param_count(spec));
            free(buf);
            buf = NULL;
        }
        *params = buf;
    }
    H5Fclose(fid);
    return st;
}
