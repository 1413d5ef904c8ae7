/* runhash.c: the reproducibility record of a run (sweep.h): XXH3-128 of the
 * raw data of every dataset in every HDF5 file of a run, stored in hashes.json at
 * the end of training and re-checked by `nerve verify` (which also checks the
 * SHA-256 of records written before format_version 2).
 *
 * XXH3-128 comes from libxxhash, SHA-256 from OpenSSL's libcrypto; test vectors of
 * both are checked in tests/unit/test_sweep.c. Why hash datasets and not files: an
 * HDF5 file's bytes depend on the library's allocation choices, while docs/CONTRACTS.md
 * defines "the same" on the stored data (h5diff -d 0); the datasets are what must
 * not change.
 */
#include "nerve/runhash.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "store/h5util.h"
#include "nerve/snapshot.h"
#include "nerve/fsutil.h"
#include "nerve/hash.h"

/* What hashes.json says of its hashes, by format_version (index = version - 1). */
static const char *const ALGORITHM_TEXT[] = {"sha256 of each dataset's raw data as stored",
                                             "xxh3-128 of each dataset's raw data as stored"};
#define HASHES_VERSION 2

/* ---- one dataset ----------------------------------------------------------------- */
/* Bytes read at a time: snapshots of large data sets are hashed slab by slab. */
#define SLAB_BYTES ((size_t)16 << 20)

static nv_status hash_vlen_strings(hid_t ds, hid_t space, hssize_t npoints, nv_hash *s, const char *file,
                                   const char *name, nv_error *err) {
    char **v = calloc((size_t)NV_MAX(npoints, 1), sizeof *v);
    if (!v) return nv_fail(err, NV_ENOMEM, "%s: %s: out of memory", file, name);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    nv_status st = NV_OK;
    if (npoints > 0 && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        st = nv_h5_fail(err, NV_EINPUT, file, name, "cannot read the strings");
    for (hssize_t i = 0; i < npoints && !st; i++) nv_hash_update(s, v[i] ? v[i] : "", (v[i] ? strlen(v[i]) : 0) + 1);
    if (npoints > 0 && !st) H5Dvlen_reclaim(mt, space, H5P_DEFAULT, v);
    H5Tclose(mt);
    free(v);
    return st;
}

/* The raw data in the file's own type, so the hash does not depend on the
 * reading machine's native types. */
static nv_status hash_dataset(hid_t ds, nv_hash_alg alg, const char *file, const char *name,
                              char hex[NV_HASH_HEX], nv_error *err) {
    nv_status st = NV_OK;
    hid_t type = H5Dget_type(ds), space = H5Dget_space(ds), mspace = -1;
    void *buf = NULL;
    nv_hash s;
    if (nv_hash_init(&s, alg)) {
        st = nv_fail(err, NV_ENOMEM, "%s: %s: cannot start the hash (out of memory)", file, name);
        goto done;
    }
    if (type < 0 || space < 0) {
        st = nv_h5_fail(err, NV_EINPUT, file, name, "cannot read the type or shape");
        goto done;
    }
    int rank = H5Sget_simple_extent_ndims(space);
    hssize_t npoints = H5Sget_simple_extent_npoints(space);
    if (rank < 0 || npoints < 0) {
        st = nv_h5_fail(err, NV_EINPUT, file, name, "cannot read the shape");
        goto done;
    }
    size_t bytes = 0;
    if (H5Tis_variable_str(type) > 0) {
        /* a string takes at least a 16-byte heap reference in the file */
        if ((st = nv_h5_check_extent(ds, space, 16, 0, &bytes, file, name, err))) goto done;
        st = hash_vlen_strings(ds, space, npoints, &s, file, name, err);
        goto done;
    }
    if (H5Tget_class(type) == H5T_VLEN) {
        st = nv_fail(err, NV_EINPUT, "%s: %s: variable-length sequences are not hashed by this version", file, name);
        goto done;
    }
    size_t tsize = H5Tget_size(type);
    /* the buffers below are sized by the shape: checked against the file first */
    if ((st = nv_h5_check_extent(ds, space, tsize ? tsize : 1, 0, &bytes, file, name, err))) goto done;
    if (npoints == 0) goto done;
    if (rank == 0) {
        buf = malloc(tsize);
        if (!buf) { st = nv_fail(err, NV_ENOMEM, "%s: %s: out of memory", file, name); goto done; }
        if (H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            st = nv_h5_fail(err, NV_EINPUT, file, name, "cannot read");
            goto done;
        }
        nv_hash_update(&s, buf, tsize);
        goto done;
    }
    hsize_t dims[H5S_MAX_RANK];
    H5Sget_simple_extent_dims(space, dims, NULL);
    size_t row = tsize;
    for (int i = 1; i < rank; i++) row *= (size_t)dims[i];
    hsize_t rows = (hsize_t)NV_MAX((size_t)1, SLAB_BYTES / NV_MAX(row, (size_t)1));
    if (rows > dims[0]) rows = dims[0];
    buf = malloc(row * (size_t)rows);
    if (!buf) { st = nv_fail(err, NV_ENOMEM, "%s: %s: out of memory", file, name); goto done; }
    for (hsize_t r0 = 0; r0 < dims[0]; r0 += rows) {
        hsize_t start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
        memcpy(count, dims, sizeof(hsize_t) * (size_t)rank);
        start[0] = r0;
        count[0] = NV_MIN(rows, dims[0] - r0);
        if (mspace >= 0) H5Sclose(mspace);
        mspace = H5Screate_simple(rank, count, NULL);
        if (H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(ds, type, mspace, space, H5P_DEFAULT, buf) < 0) {
            st = nv_h5_fail(err, NV_EINPUT, file, name, "cannot read rows %llu..", (unsigned long long)r0);
            goto done;
        }
        nv_hash_update(&s, buf, row * (size_t)count[0]);
    }
done:
    free(buf);
    if (mspace >= 0) H5Sclose(mspace);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    nv_hash_final(&s, st ? NULL : hex); /* also frees the state on failure paths */
    return st;
}

/* ---- one file -------------------------------------------------------------------- */
typedef struct {
    const char *file;
    nv_hash_alg alg;
    json_t *out;
    nv_error *err;
    nv_status st;
} visit_ctx;

static int hash_one(hid_t ds, const char *path, void *data) {
    visit_ctx *v = data;
    char hex[NV_HASH_HEX];
    v->st = hash_dataset(ds, v->alg, v->file, path, hex, v->err);
    if (!v->st) json_object_set_new(v->out, path, json_string(hex));
    return v->st ? 1 : 0;
}

static nv_status file_hashes(const char *path, nv_hash_alg alg, json_t **out, nv_error *err) {
    nv_h5_quiet();
    *out = NULL;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return nv_h5_fail(err, NV_EINPUT, path, NULL, "cannot open as HDF5");
    visit_ctx v = {.file = path, .alg = alg, .out = json_object(), .err = err};
    int r = nv_h5_each_dataset(f, hash_one, &v);
    H5Fclose(f);
    if (!v.st && r) v.st = nv_h5_fail(err, NV_EINPUT, path, NULL, "cannot walk the file's groups and datasets");
    if (v.st) {
        json_decref(v.out);
        return v.st;
    }
    *out = v.out;
    return NV_OK;
}

nv_status nv_h5_file_hashes(const char *path, char **json, nv_error *err) {
    json_t *o;
    nv_status st = file_hashes(path, NV_HASH_XXH3_128, &o, err);
    if (st) return st;
    *json = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return *json ? NV_OK : nv_fail(err, NV_ENOMEM, "out of memory");
}

/* ---- the run's files ------------------------------------------------------------------ */
typedef struct {
    char **v;
    size_t n, cap;
} strlist;

static int push(strlist *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return -1;
        l->v = nv, l->cap = cap;
    }
    return (l->v[l->n] = strdup(s)) ? (int)(l->n++, 0) : -1;
}

static void strlist_free(strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* *.h5 under root/rel, skipping hidden names (temporary files being written) and
 * analysis/ (written after training by other verbs, with their own idempotence). */
static nv_status find_h5(const char *root, const char *rel, strlist *out, nv_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return nv_fail(err, NV_EINPUT, "%s: cannot open the directory (%s)", path, strerror(errno));
    nv_status st = NV_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (!*rel && !strcmp(e->d_name, "analysis")) continue;
        char sub[4096], full[8192];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat sb;
        if (stat(full, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) st = find_h5(root, sub, out, err);
        else {
            size_t n = strlen(sub);
            if (n > 3 && !strcmp(sub + n - 3, ".h5") && push(out, sub))
                st = nv_fail(err, NV_ENOMEM, "out of memory");
        }
    }
    closedir(d);
    return st;
}

/* ---- memoised hashes ------------------------------------------------------------ */
struct nv_hash_memo {
    json_t *files; /* rel -> {"stat": [dev, ino, size, mtime_s, mtime_ns], "hashes": {...}} */
};

nv_hash_memo *nv_hash_memo_new(void) {
    nv_hash_memo *m = calloc(1, sizeof *m);
    if (m && !(m->files = json_object())) free(m), m = NULL;
    return m;
}

void nv_hash_memo_free(nv_hash_memo *m) {
    if (!m) return;
    json_decref(m->files);
    free(m);
}

/* The identity of a file's current contents, as far as stat can tell: a file
 * replaced by rename gets a new inode, one rewritten in place a new mtime. */
static json_t *stat_key(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return NULL;
    return json_pack("[IIIII]", (json_int_t)sb.st_dev, (json_int_t)sb.st_ino, (json_int_t)sb.st_size,
                     (json_int_t)sb.st_mtim.tv_sec, (json_int_t)sb.st_mtim.tv_nsec);
}

/* Records hashes h (taken) for run_dir/rel against the file as it is now. */
static nv_status memo_store(nv_hash_memo *m, const char *full, const char *rel, json_t *h, nv_error *err) {
    json_t *key = stat_key(full);
    if (!key) {
        json_decref(h);
        return nv_fail(err, NV_EIO, "%s: cannot stat (%s)", full, strerror(errno));
    }
    json_t *e = json_pack("{s:o,s:o}", "stat", key, "hashes", h);
    if (!e || json_object_set_new(m->files, rel, e)) return nv_fail(err, NV_ENOMEM, "out of memory");
    return NV_OK;
}

nv_status nv_hash_memo_add(nv_hash_memo *m, const char *run_dir, const char *rel, nv_error *err) {
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", run_dir, rel);
    json_t *h = NULL;
    nv_status st = file_hashes(full, NV_HASH_XXH3_128, &h, err);
    return st ? st : memo_store(m, full, rel, h, err);
}

nv_status nv_hash_memo_put(nv_hash_memo *m, const char *run_dir, const char *rel, const char *json,
                           nv_error *err) {
    char full[8192];
    snprintf(full, sizeof full, "%s/%s", run_dir, rel);
    json_error_t je;
    json_t *h = json_loads(json, 0, &je);
    if (!json_is_object(h)) {
        json_decref(h);
        return nv_fail(err, NV_EINTERNAL, "%s: memoised hashes are not a JSON object (%s)", full, je.text);
    }
    return memo_store(m, full, rel, h, err);
}

/* The memoised hashes of run_dir/rel if the file is unchanged, else NULL. */
static json_t *memo_get(const nv_hash_memo *m, const char *full, const char *rel) {
    json_t *e = m ? json_object_get(m->files, rel) : NULL;
    if (!e) return NULL;
    json_t *now = stat_key(full);
    int same = now && json_equal(now, json_object_get(e, "stat"));
    json_decref(now);
    return same ? json_object_get(e, "hashes") : NULL;
}

nv_status nv_run_hashes_write(const char *run_dir, nv_error *err) {
    return nv_run_hashes_write_memo(run_dir, NULL, err);
}

nv_status nv_run_hashes_write_memo(const char *run_dir, const nv_hash_memo *memo, nv_error *err) {
    strlist files = {0};
    json_t *root = json_object(), *fo = json_object();
    nv_status st = find_h5(run_dir, "", &files, err);
    if (!st) qsort(files.v, files.n, sizeof *files.v, cmp_str);
    for (size_t i = 0; i < files.n && !st; i++) {
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", run_dir, files.v[i]);
        json_t *h = memo_get(memo, full, files.v[i]);
        if (h) json_object_set(fo, files.v[i], h);
        else if (!(st = file_hashes(full, NV_HASH_XXH3_128, &h, err))) json_object_set_new(fo, files.v[i], h);
    }
    char *text = NULL;
    if (!st) {
        json_object_set_new(root, "format", json_string("nerve-hashes"));
        json_object_set_new(root, "format_version", json_integer(HASHES_VERSION));
        json_object_set_new(root, "algorithm", json_string(ALGORITHM_TEXT[HASHES_VERSION - 1]));
        json_object_set_new(root, "files", fo);
        fo = NULL;
        /* keys sorted: the same bytes whether a file's hashes came from the
         * writer's memory or from reading the file (whose visit order differs) */
        text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!text) st = nv_fail(err, NV_ENOMEM, "out of memory");
    }
    if (!st) {
        char path[4096];
        snprintf(path, sizeof path, "%s/hashes.json", run_dir);
        size_t n = strlen(text);
        char *t2 = realloc(text, n + 2);
        if (t2) text = t2, strcpy(text + n, "\n");
        st = nv_atomic_write_text(path, text, err);
    }
    free(text);
    json_decref(fo);
    json_decref(root);
    strlist_free(&files);
    return st;
}

/* 1 when dataset `name` of file `path` is an HDF5 virtual dataset. */
static int is_virtual(const char *path, const char *name) {
    nv_h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return 0;
    int v = 0;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d >= 0) {
        hid_t pl = H5Dget_create_plist(d);
        v = pl >= 0 && H5Pget_layout(pl) == H5D_VIRTUAL;
        if (pl >= 0) H5Pclose(pl);
        H5Dclose(d);
    }
    H5Fclose(f);
    return v;
}

/* A path the record names is joined to the run directory: it must stay inside
 * (relative, no ".." component), or verify would read any file of the system. */
static int inside(const char *rel) {
    if (!*rel || rel[0] == '/') return 0;
    for (const char *s = rel; *s; s++)
        if (s[0] == '.' && s[1] == '.' && (s == rel || s[-1] == '/') && (s[2] == '/' || !s[2])) return 0;
    return 1;
}

nv_status nv_run_hashes_verify(const char *run_dir, int64_t *nfiles, int64_t *ndatasets, nv_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/hashes.json", run_dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (nfiles) *nfiles = 0;
    if (ndatasets) *ndatasets = 0;
    if (!root)
        return nv_fail(err, NV_EINPUT, "%s: %s (a run writes hashes.json when its training finishes)", path,
                       access(path, F_OK) ? "no such file" : je.text);
    nv_status st = NV_OK;
    json_t *files = json_object_get(root, "files");
    const char *fmt = json_string_value(json_object_get(root, "format"));
    if (!fmt || strcmp(fmt, "nerve-hashes") || !json_is_object(files)) {
        st = nv_fail(err, NV_EINPUT, "%s: not a nerve-hashes file (format \"%s\")", path, fmt ? fmt : "");
        goto done;
    }
    /* The version names the hash; the algorithm text must agree with it. */
    json_int_t version = json_integer_value(json_object_get(root, "format_version"));
    const char *algo = json_string_value(json_object_get(root, "algorithm"));
    if (version < 1 || version > HASHES_VERSION || !algo || strcmp(algo, ALGORITHM_TEXT[version - 1])) {
        st = nv_fail(err, NV_EINPUT, "%s: format_version %lld, algorithm \"%s\": expected version 1 (%s) or %d (%s); "
                     "a newer nerve wrote it?", path, (long long)version, algo ? algo : "", ALGORITHM_TEXT[0],
                     HASHES_VERSION, ALGORITHM_TEXT[HASHES_VERSION - 1]);
        goto done;
    }
    const nv_hash_alg alg = version == 1 ? NV_HASH_SHA256 : NV_HASH_XXH3_128;
    const char *alg_name = version == 1 ? "sha256" : "xxh3-128";
    const char *rel;
    json_t *want;
    json_object_foreach(files, rel, want) {
        char full[8192];
        if (!inside(rel) || !json_is_object(want)) {
            st = nv_fail(err, NV_EINPUT, "%s: files: \"%s\": expected a path inside the run directory "
                         "holding an object of dataset hashes", path, rel);
            goto done;
        }
        snprintf(full, sizeof full, "%s/%s", run_dir, rel);
        if (access(full, F_OK) != 0) {
            st = nv_fail(err, NV_EINPUT, "%s: the file is missing (recorded in hashes.json)", full);
            goto done;
        }
        json_t *got;
        if ((st = file_hashes(full, alg, &got, err))) goto done;
        const char *ds;
        json_t *h;
        /* A changed stored dataset also changes every virtual dataset that maps it
         * (/layers/<name>/all reads train and test): name the stored one, which is
         * what changed, and the virtual one only when nothing stored differs. */
        const char *virt = NULL, *virt_got = NULL, *virt_want = NULL;
        json_object_foreach(want, ds, h) {
            json_t *g = json_object_get(got, ds);
            const char *hw = json_string_value(h) ? json_string_value(h) : "";
            if (!g) st = nv_fail(err, NV_EINPUT, "%s: dataset %s is missing (recorded in hashes.json)", full, ds);
            else if (strcmp(json_string_value(g), hw)) {
                if (is_virtual(full, ds)) {
                    if (!virt) virt = ds, virt_got = json_string_value(g), virt_want = hw;
                    continue;
                }
                st = nv_fail(err, NV_EINPUT, "%s: dataset %s differs: %s %s, recorded %s%s%s%s", full, ds,
                             alg_name, json_string_value(g), hw, virt ? " (so does the virtual dataset " : "",
                             virt ? virt : "", virt ? " that maps it)" : "");
            }
            if (st) break;
            if (ndatasets) (*ndatasets)++;
        }
        if (!st && virt)
            st = nv_fail(err, NV_EINPUT, "%s: virtual dataset %s differs (%s %s, recorded %s) although the "
                         "datasets it maps do not: its mapping changed", full, virt, alg_name, virt_got, virt_want);
        if (!st) {
            json_object_foreach(got, ds, h) {
                if (!json_object_get(want, ds)) {
                    st = nv_fail(err, NV_EINPUT, "%s: dataset %s is not recorded in hashes.json (added later?)", full, ds);
                    break;
                }
            }
        }
        json_decref(got);
        if (st) goto done;
        if (nfiles) (*nfiles)++;
    }
done:
    json_decref(root);
    return st;
}
