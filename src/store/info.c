/* info.c: what `nerve info` shows, as one JSON description (include/nerve/info.h).
 *
 * Reads, never writes: an HDF5 file becomes the tree of its groups and datasets
 * (shapes, types, storage, virtual sources, attributes); a run directory becomes
 * its experiment, models (summary.json, else the checkpoints), snapshot epochs and
 * layer shapes (through the manifest) and sizes on disk. The command-line layer
 * prints this description as JSON or renders it as text, so the two outputs cannot
 * drift apart; keeping the reading here puts it where unit tests reach it.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <libconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nerve/checkpoint.h"
#include "nerve/info.h"
#include "nerve/snapshot.h"
#include "store/h5util.h"

/* Formats nerve knows and the newest version of each this build reads. */
static const struct {
    const char *name;
    int version;
} KNOWN[] = {
    {NV_SNAPSHOT_FORMAT, NV_SNAPSHOT_VERSION},
    {NV_CHECKPOINT_FORMAT, NV_CHECKPOINT_VERSION},
    {"nerve-dynamics", 1},        /* docs/dynamics.md (src/dynamics/ reads it) */
    {"nerve-dynamics-chunk", 1},
};

/* ============================================================================ */
/* HDF5 file -> JSON                                                             */

static const char *type_name(hid_t t, char *buf, size_t len) {
    size_t sz = H5Tget_size(t);
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        snprintf(buf, len, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", 8 * sz);
        break;
    case H5T_FLOAT: snprintf(buf, len, "float%zu", 8 * sz); break;
    case H5T_STRING:
        if (H5Tis_variable_str(t) > 0) snprintf(buf, len, "string");
        else snprintf(buf, len, "string[%zu]", sz);
        break;
    case H5T_COMPOUND: snprintf(buf, len, "compound[%d]", H5Tget_nmembers(t)); break;
    case H5T_ENUM: snprintf(buf, len, "enum"); break;
    case H5T_ARRAY: snprintf(buf, len, "array"); break;
    case H5T_VLEN: snprintf(buf, len, "vlen"); break;
    case H5T_OPAQUE: snprintf(buf, len, "opaque[%zu]", sz); break;
    case H5T_BITFIELD: snprintf(buf, len, "bitfield%zu", 8 * sz); break;
    case H5T_REFERENCE: snprintf(buf, len, "reference"); break;
    default: snprintf(buf, len, "unknown"); break;
    }
    return buf;
}

/* JSON has no NaN or infinity (jansson refuses them): those become strings, so a
 * diverged run's metrics still show up. */
static json_t *number_json(double v) {
    if (isnan(v)) return json_string("nan");
    if (isinf(v)) return json_string(v > 0 ? "inf" : "-inf");
    return json_real(v);
}

static json_t *shape_json(hid_t space) {
    json_t *a = json_array();
    hsize_t d[H5S_MAX_RANK];
    int r = H5Sget_simple_extent_ndims(space);
    if (r > 0) {
        H5Sget_simple_extent_dims(space, d, NULL);
        for (int i = 0; i < r; i++) json_array_append_new(a, json_integer((json_int_t)d[i]));
    }
    return a;
}

/* Attribute values: numbers and strings as JSON values (arrays for 1-D and
 * larger, capped at 4096 values), other types by their type name. */
#define ATTR_CAP 4096
static json_t *attr_value(hid_t a) {
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    int scalar = H5Sget_simple_extent_type(sp) == H5S_SCALAR;
    H5T_class_t c = H5Tget_class(t);
    json_t *out = NULL;
    size_t bytes = 0, esz = H5Tget_size(t);
    /* a shape or string size beyond what the file can hold is shown, not allocated */
    if (n < 0 || n > ATTR_CAP || nv_h5_check_extent(a, sp, esz ? esz : 1, 1, &bytes, "", NULL, NULL) != NV_OK) {
        char tb[64];
        char s[128];
        snprintf(s, sizeof s, "<%lld values of %s>", (long long)n, type_name(t, tb, sizeof tb));
        out = json_string(s);
    } else if (c == H5T_INTEGER || c == H5T_FLOAT) {
        int is_u = c == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_NONE;
        void *buf = malloc((size_t)(n ? n : 1) * 8);
        hid_t mt = c == H5T_FLOAT ? H5T_NATIVE_DOUBLE : is_u ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64;
        if (buf && H5Aread(a, mt, buf) >= 0) {
            json_t *arr = json_array();
            for (hssize_t i = 0; i < n; i++) {
                json_t *v = c == H5T_FLOAT ? number_json(((double *)buf)[i])
                            : is_u ? json_integer((json_int_t)((uint64_t *)buf)[i])
                                   : json_integer((json_int_t)((int64_t *)buf)[i]);
                json_array_append_new(arr, v);
            }
            if (scalar && n == 1) {
                out = json_incref(json_array_get(arr, 0));
                json_decref(arr);
            } else {
                out = arr;
            }
        }
        free(buf);
    } else if (c == H5T_STRING) {
        json_t *arr = json_array();
        if (H5Tis_variable_str(t) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            char **v = calloc((size_t)(n ? n : 1), sizeof *v);
            if (v && H5Aread(a, mt, v) >= 0) {
                for (hssize_t i = 0; i < n; i++) json_array_append_new(arr, json_string(v[i] ? v[i] : ""));
                H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
            }
            free(v);
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(t);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, sz + 1);
            char *v = calloc((size_t)(n ? n : 1), sz + 1);
            if (v && H5Aread(a, mt, v) >= 0)
                for (hssize_t i = 0; i < n; i++) json_array_append_new(arr, json_string(v + (size_t)i * (sz + 1)));
            free(v);
            H5Tclose(mt);
        }
        /* json_string rejects invalid UTF-8 (NULL); those values show as a marker. */
        for (size_t i = 0; i < json_array_size(arr); i++)
            if (!json_array_get(arr, i)) json_array_set_new(arr, i, json_string("<not UTF-8>"));
        if (scalar && json_array_size(arr) == 1) {
            out = json_incref(json_array_get(arr, 0));
            json_decref(arr);
        } else {
            out = arr;
        }
    }
    if (!out) {
        char tb[64], s[96];
        snprintf(s, sizeof s, "<%s>", type_name(t, tb, sizeof tb));
        out = json_string(s);
    }
    H5Tclose(t);
    H5Sclose(sp);
    return out;
}

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)info;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return 0;
    json_object_set_new(data, name, attr_value(a));
    H5Aclose(a);
    return 0;
}

static json_t *attrs_json(hid_t obj) {
    json_t *o = json_object();
    hsize_t idx = 0;
    H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, o);
    return o;
}

static void dataset_storage(hid_t ds, json_t *node) {
    hid_t dcpl = H5Dget_create_plist(ds);
    H5D_layout_t lay = H5Pget_layout(dcpl);
    const char *lname = lay == H5D_CHUNKED ? "chunked" : lay == H5D_CONTIGUOUS ? "contiguous"
                        : lay == H5D_COMPACT ? "compact" : lay == H5D_VIRTUAL ? "virtual" : "unknown";
    json_object_set_new(node, "layout", json_string(lname));
    if (lay == H5D_CHUNKED) {
        hsize_t c[H5S_MAX_RANK];
        int r = H5Pget_chunk(dcpl, H5S_MAX_RANK, c);
        json_t *a = json_array();
        for (int i = 0; i < r; i++) json_array_append_new(a, json_integer((json_int_t)c[i]));
        json_object_set_new(node, "chunks", a);
    }
    int nf = H5Pget_nfilters(dcpl);
    if (nf > 0) {
        json_t *fl = json_array();
        for (int i = 0; i < nf; i++) {
            unsigned flags, cd[8];
            size_t ncd = 8;
            char name[64] = "";
            H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, NULL);
            char s[96];
            if (id == H5Z_FILTER_DEFLATE) snprintf(s, sizeof s, "gzip(%u)", ncd > 0 ? cd[0] : 0);
            else if (id == H5Z_FILTER_SHUFFLE) snprintf(s, sizeof s, "shuffle");
            else if (id == H5Z_FILTER_FLETCHER32) snprintf(s, sizeof s, "fletcher32");
            else snprintf(s, sizeof s, "filter %d%s%s", (int)id, name[0] ? " " : "", name);
            json_array_append_new(fl, json_string(s));
        }
        json_object_set_new(node, "filters", fl);
    }
    if (lay == H5D_VIRTUAL) {
        size_t cnt = 0;
        H5Pget_virtual_count(dcpl, &cnt);
        json_t *src = json_array();
        for (size_t i = 0; i < cnt; i++) {
            char file[512] = "", dset[512] = "";
            H5Pget_virtual_filename(dcpl, i, file, sizeof file);
            H5Pget_virtual_dsetname(dcpl, i, dset, sizeof dset);
            json_t *s = json_object();
            json_object_set_new(s, "file", json_string(file));
            json_object_set_new(s, "dataset", json_string(dset));
            hid_t vs = H5Pget_virtual_vspace(dcpl, i);
            hsize_t start[H5S_MAX_RANK], end[H5S_MAX_RANK];
            if (vs >= 0 && H5Sget_select_bounds(vs, start, end) >= 0) {
                int r = H5Sget_simple_extent_ndims(vs);
                json_t *a = json_array(), *b = json_array();
                for (int k = 0; k < r; k++) {
                    json_array_append_new(a, json_integer((json_int_t)start[k]));
                    json_array_append_new(b, json_integer((json_int_t)(end[k] - start[k] + 1)));
                }
                json_object_set_new(s, "offset", a);
                json_object_set_new(s, "count", b);
            }
            if (vs >= 0) H5Sclose(vs);
            json_array_append_new(src, s);
        }
        json_object_set_new(node, "sources", src);
    }
    H5Pclose(dcpl);
}

static json_t *object_json(hid_t loc, const char *name, int depth);

typedef struct {
    json_t *members;
    int depth;
} iter_ctx;

static herr_t link_cb(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    iter_ctx *ctx = data;
    json_t *node;
    if (info->type == H5L_TYPE_SOFT || info->type == H5L_TYPE_EXTERNAL) {
        char target[1024] = "";
        H5Lget_val(g, name, target, sizeof target, H5P_DEFAULT);
        node = json_object();
        json_object_set_new(node, "kind", json_string(info->type == H5L_TYPE_SOFT ? "soft link" : "external link"));
        if (info->type == H5L_TYPE_SOFT) json_object_set_new(node, "target", json_string(target));
        else {
            const char *file = NULL, *obj = NULL;
            unsigned flags = 0;
            if (H5Lunpack_elink_val(target, sizeof target, &flags, &file, &obj) >= 0) {
                json_object_set_new(node, "file", json_string(file ? file : ""));
                json_object_set_new(node, "target", json_string(obj ? obj : ""));
            }
        }
    } else {
        node = object_json(g, name, ctx->depth + 1);
    }
    json_object_set_new(ctx->members, name, node);
    return 0;
}

/* Groups nest at most this deep here: the files nerve writes have 3 levels, and a
 * cycle of hard links in a foreign file must not recurse forever. */
#define MAX_DEPTH 32

static json_t *object_json(hid_t loc, const char *name, int depth) {
    json_t *node = json_object();
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o < 0) {
        json_object_set_new(node, "kind", json_string("unreadable"));
        return node;
    }
    H5I_type_t it = H5Iget_type(o);
    if (it == H5I_GROUP) {
        json_object_set_new(node, "kind", json_string("group"));
        json_object_set_new(node, "attrs", attrs_json(o));
        json_t *members = json_object();
        if (depth < MAX_DEPTH) {
            iter_ctx ctx = {members, depth};
            hsize_t idx = 0;
            H5Literate(o, H5_INDEX_NAME, H5_ITER_INC, &idx, link_cb, &ctx);
        }
        json_object_set_new(node, "members", members);
    } else if (it == H5I_DATASET) {
        json_object_set_new(node, "kind", json_string("dataset"));
        hid_t sp = H5Dget_space(o), t = H5Dget_type(o);
        char tb[64];
        json_object_set_new(node, "shape", shape_json(sp));
        json_object_set_new(node, "dtype", json_string(type_name(t, tb, sizeof tb)));
        dataset_storage(o, node);
        json_object_set_new(node, "storage_bytes", json_integer((json_int_t)H5Dget_storage_size(o)));
        json_object_set_new(node, "attrs", attrs_json(o));
        H5Sclose(sp);
        H5Tclose(t);
    } else if (it == H5I_DATATYPE) {
        json_object_set_new(node, "kind", json_string("datatype"));
    } else {
        json_object_set_new(node, "kind", json_string("unknown"));
    }
    H5Oclose(o);
    return node;
}

static long long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* The whole description of one HDF5 file; NULL with err set when it is not one. */
static json_t *describe_h5(const char *path, nv_error *err) {
    hid_t fid = nv_h5_open_read(path, err);
    if (fid < 0) return NULL;
    json_t *j = json_object();
    json_object_set_new(j, "path", json_string(path));
    json_object_set_new(j, "kind", json_string("hdf5"));
    json_object_set_new(j, "bytes", json_integer(file_size(path)));
    json_t *root = object_json(fid, "/", 0);
    json_t *attrs = json_object_get(root, "attrs");
    json_t *fmt = json_object_get(attrs, "format"), *ver = json_object_get(attrs, "format_version");
    json_object_set(j, "format", json_is_string(fmt) ? fmt : json_null());
    json_object_set(j, "format_version", json_is_integer(ver) ? ver : json_null());
    if (json_is_string(fmt) && json_is_integer(ver)) {
        for (size_t i = 0; i < NV_ARRAY_LEN(KNOWN); i++)
            if (!strcmp(json_string_value(fmt), KNOWN[i].name))
                json_object_set_new(j, "supported",
                                    json_boolean(json_integer_value(ver) >= 1 &&
                                                 json_integer_value(ver) <= KNOWN[i].version));
    }
    json_object_set_new(j, "root", root);
    H5Fclose(fid);
    return j;
}

/* ============================================================================ */
/* Run directory -> JSON                                                         */

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", a, b);
    return s;
}

static int is_file(const char *dir, const char *name) {
    char *p = join(dir, name);
    struct stat sb;
    int r = p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
    free(p);
    return r;
}
/* dir/sub/name is a regular file */
static int is_file_in(const char *dir, const char *sub, const char *name) {
    char *p = join(dir, sub);
    int r = p && is_file(p, name);
    free(p);
    return r;
}
static int is_dir(const char *dir, const char *name) {
    char *p = join(dir, name);
    struct stat sb;
    int r = p && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
    free(p);
    return r;
}

/* Bytes of the regular files below a path (apparent sizes, like du -b). nftw has
 * no user pointer, hence the accumulator; thread-local, so two threads describing
 * runs at once do not add into each other's sums. */
static _Thread_local long long tree_bytes_acc;
static int tree_cb(const char *p, const struct stat *sb, int flag, struct FTW *f) {
    (void)p;
    (void)f;
    if (flag == FTW_F) tree_bytes_acc += (long long)sb->st_size;
    return 0;
}
static long long tree_bytes(const char *path) {
    tree_bytes_acc = 0;
    if (nftw(path, tree_cb, 16, FTW_PHYS) != 0) return -1;
    return tree_bytes_acc;
}

static json_t *load_json(const char *dir, const char *name) {
    char *p = join(dir, name);
    json_t *j = p ? json_load_file(p, 0, NULL) : NULL;
    free(p);
    return j;
}

/* The experiment name from config.cfg (libconfig), NULL when absent. */
static json_t *config_experiment(const char *dir) {
    char *p = join(dir, "config.cfg");
    config_t cfg;
    config_init(&cfg);
    json_t *out = NULL;
    const char *s = NULL;
    if (p && config_read_file(&cfg, p) == CONFIG_TRUE && config_lookup_string(&cfg, "experiment", &s))
        out = json_string(s);
    config_destroy(&cfg);
    free(p);
    return out;
}

static json_t *model_entry(json_t *models, const char *name) {
    json_t *m = json_object_get(models, name);
    if (!m) {
        m = json_object();
        json_object_set_new(models, name, m);
    }
    return m;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Models from checkpoints/<model>.h5: widths, epochs trained, and the last row
 * of the metrics table where summary.json has not said it already. */
static nv_status checkpoints_json(const char *dir, json_t *models, nv_error *err) {
    char *cdir = join(dir, "checkpoints");
    DIR *d = cdir ? opendir(cdir) : NULL;
    if (!d) {
        free(cdir);
        return NV_OK;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] != '.' && len > 3 && !strcmp(e->d_name + len - 3, ".h5")) {
            char *name = strdup(e->d_name);
            if (name) names[n++] = name;
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    nv_status st = NV_OK;
    for (int i = 0; i < n; i++) {
        char *p = join(cdir, names[i]);
        nv_checkpoint ck;
        nv_error e2 = {0};
        names[i][strlen(names[i]) - 3] = '\0';
        json_t *m = model_entry(models, names[i]);
        if (nv_checkpoint_read(p, &ck, &e2) != NV_OK) {
            json_object_set_new(m, "checkpoint_error", json_string(e2.msg));
            if (st == NV_OK) st = nv_fail(err, e2.status, "%s", e2.msg);
        } else {
            json_t *w = json_array();
            for (int l = 0; l <= ck.spec.nlayers; l++) json_array_append_new(w, json_integer(ck.spec.widths[l]));
            if (!json_object_get(m, "widths")) json_object_set_new(m, "widths", w);
            else json_decref(w);
            json_object_set_new(m, "activation", json_string(nv_activation_name(ck.spec.act)));
            json_object_set_new(m, "epochs_completed", json_integer(ck.epochs_completed));
            json_object_set_new(m, "steps", json_integer(ck.step));
            json_object_set_new(m, "parameters", json_integer(ck.nparams));
            if (ck.metric_rows > 0)
                for (int64_t c = 0; c < ck.metric_cols; c++) {
                    const char *cn = ck.metric_names[c];
                    if (!strcmp(cn, "epoch") || json_object_get(m, cn)) continue;
                    json_object_set_new(m, cn, number_json(ck.metrics[(ck.metric_rows - 1) * ck.metric_cols + c]));
                }
            json_object_set_new(m, "checkpoint_bytes", json_integer(file_size(p)));
            nv_checkpoint_free(&ck);
        }
        free(p);
        free(names[i]);
    }
    free(cdir);
    return st;
}

/* Layers of one snapshot file: name, index, kind, width, rows per split, and
 * whether pre-activations are stored. */
static json_t *layers_from_snapshot(json_t *desc) {
    json_t *out = json_array();
    json_t *root = json_object_get(desc, "root");
    json_t *names = json_object_get(json_object_get(root, "attrs"), "layer_names");
    json_t *layers = json_object_get(json_object_get(json_object_get(root, "members"), "layers"), "members");
    size_t i;
    json_t *nm;
    json_array_foreach(names, i, nm) {
        json_t *g = json_object_get(layers, json_string_value(nm));
        if (!g) continue;
        json_t *ga = json_object_get(g, "attrs"), *mem = json_object_get(g, "members");
        json_t *l = json_object();
        json_object_set(l, "name", nm);
        json_object_set(l, "index", json_object_get(ga, "index"));
        json_object_set(l, "kind", json_object_get(ga, "kind"));
        json_object_set(l, "width", json_object_get(ga, "width"));
        const char *splits[] = {"train", "test", "all"};
        for (int s = 0; s < 3; s++) {
            json_t *ds = json_object_get(mem, splits[s]);
            if (ds) json_object_set(l, splits[s], json_object_get(ds, "shape"));
        }
        json_object_set_new(l, "pre", json_boolean(json_object_get(mem, "pre_train") != NULL));
        json_array_append_new(out, l);
    }
    return out;
}

/* Snapshots per model from the manifest, with the layers of each model's first
 * file; only files the manifest lists are opened (docs/CONTRACTS.md). */
static nv_status snapshots_json(const char *sdir, json_t *snaps, nv_error *err) {
    nv_manifest man;
    nv_status st = nv_manifest_read(sdir, &man, err);
    if (st != NV_OK) return st;
    for (int64_t i = 0; i < man.count && st == NV_OK; i++) {
        nv_manifest_entry *e = &man.files[i];
        json_t *m = json_object_get(snaps, e->model);
        char *p = join(sdir, e->path);
        if (!p) {
            st = nv_fail(err, NV_ENOMEM, "out of memory");
            break;
        }
        if (!m) {
            m = json_object();
            json_object_set_new(m, "epochs", json_array());
            json_object_set_new(m, "bytes", json_integer(0));
            json_object_set_new(m, "first_file", json_string(p));
            json_t *desc = describe_h5(p, err);
            if (!desc) {
                nv_error_prefix(err, "%s/manifest.json lists %s, but: ", sdir, e->path);
                st = err ? err->status : NV_EINPUT;
                json_decref(m);
                free(p);
                break;
            }
            json_object_set_new(m, "layers", layers_from_snapshot(desc));
            json_t *root_attrs = json_object_get(json_object_get(desc, "root"), "attrs");
            json_object_set(m, "n_train", json_object_get(root_attrs, "n_train"));
            json_object_set(m, "n_test", json_object_get(root_attrs, "n_test"));
            json_decref(desc);
            json_object_set_new(snaps, e->model, m);
        }
        json_array_append_new(json_object_get(m, "epochs"), json_integer(e->epoch));
        long long sz = file_size(p);
        json_t *missing = json_object_get(m, "missing");
        if (sz < 0) {
            if (!missing) {
                missing = json_array();
                json_object_set_new(m, "missing", missing);
            }
            json_array_append_new(missing, json_string(e->path));
        } else {
            json_integer_set(json_object_get(m, "bytes"), json_integer_value(json_object_get(m, "bytes")) + sz);
        }
        free(p);
    }
    nv_manifest_free(&man);
    return st;
}

/* The dynamics record of each model (RUN/dynamics/<model>/manifest.json, format
 * nerve-dynamics-manifest; docs/dynamics.md): chunks, the last step, and per tier
 * the steps, rows and bytes its chunks hold. Only the manifests are read. */
static nv_status dynamics_json(const char *dir, json_t *out, nv_error *err) {
    char *ddir = join(dir, "dynamics");
    DIR *d = ddir ? opendir(ddir) : NULL;
    if (!d) {
        free(ddir);
        return NV_OK;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.' && is_file_in(ddir, e->d_name, "manifest.json") && (names[n] = strdup(e->d_name))) n++;
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    static const char *const tiers[] = {"steps", "neurons", "samples", "factors", "weights"};
    nv_status st = NV_OK;
    for (int i = 0; i < n; i++) {
        char path[4096 + 600];
        snprintf(path, sizeof path, "%s/%s/manifest.json", ddir, names[i]);
        json_error_t je;
        json_t *man = json_load_file(path, 0, &je);
        const char *fmt = man ? json_string_value(json_object_get(man, "format")) : NULL;
        if (!fmt || strcmp(fmt, "nerve-dynamics-manifest")) {
            if (st == NV_OK)
                st = nv_fail(err, NV_EINPUT, "%s: %s", path, man ? "not a nerve-dynamics-manifest file" : je.text);
            json_decref(man);
            continue;
        }
        json_t *m = json_object(), *tj = json_object();
        json_t *chunks = json_object_get(man, "chunks");
        long long last = 0, total = 0;
        for (int t = 0; t < 5; t++) {
            long long steps = 0, rows = 0, bytes = 0;
            size_t k;
            json_t *c;
            json_array_foreach(chunks, k, c) {
                json_t *o = json_object_get(json_object_get(c, "tiers"), tiers[t]);
                steps += json_integer_value(json_object_get(o, "steps"));
                rows += json_integer_value(json_object_get(o, "rows"));
                bytes += json_integer_value(json_object_get(o, "bytes"));
                if (t == 0) last = json_integer_value(json_object_get(c, "last_step"));
            }
            if (!rows) continue;
            json_object_set_new(tj, tiers[t], json_pack("{s:I,s:I,s:I}", "steps", (json_int_t)steps, "rows",
                                                        (json_int_t)rows, "bytes", (json_int_t)bytes));
            total += bytes;
        }
        json_object_set_new(m, "chunks", json_integer((json_int_t)json_array_size(chunks)));
        json_object_set_new(m, "last_step", json_integer(last));
        json_object_set_new(m, "tiers", tj);
        json_object_set_new(m, "bytes", json_integer(total));
        snprintf(path, sizeof path, "%s/%s.h5", ddir, names[i]);
        json_object_set_new(m, "index", json_string(path));
        json_object_set_new(out, names[i], m);
        json_decref(man);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(ddir);
    return st;
}

static json_t *describe_dir(const char *dir, nv_error *err) {
    int run = is_file(dir, "config.cfg") || is_dir(dir, "checkpoints") || is_file(dir, "summary.json") ||
              is_file(dir, "snapshots/manifest.json");
    int snaps_only = !run && is_file(dir, "manifest.json");
    if (!run && !snaps_only) {
        nv_fail(err, NV_EINPUT, "%s: not a run directory (no config.cfg, checkpoints/, summary.json or "
                "snapshots/manifest.json) and not a snapshots directory (no manifest.json)", dir);
        return NULL;
    }
    json_t *j = json_object();
    json_object_set_new(j, "path", json_string(dir));
    json_object_set_new(j, "kind", json_string(run ? "run" : "snapshots"));
    nv_status st = NV_OK;
    json_t *snaps = json_object();
    if (run) {
        json_t *runj = load_json(dir, "run.json"), *sum = load_json(dir, "summary.json");
        json_t *exp = config_experiment(dir);
        if (!exp && sum) exp = json_incref(json_object_get(sum, "experiment"));
        if (!exp && runj) exp = json_incref(json_object_get(runj, "experiment"));
        json_object_set_new(j, "experiment", exp ? exp : json_null());
        if (runj) {
            json_object_set(j, "status", json_object_get(runj, "status"));
            json_object_set(j, "device", json_object_get(runj, "device"));
            json_object_set(j, "seconds", json_object_get(runj, "seconds"));
        }
        json_t *models = json_object();
        if (sum) {
            json_object_set(j, "seed", json_object_get(sum, "seed"));
            json_object_set(j, "epochs", json_object_get(sum, "epochs"));
            json_object_set(j, "n_train", json_object_get(sum, "n_train"));
            json_object_set(j, "n_test", json_object_get(sum, "n_test"));
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(sum, "models"), k, v) json_object_set(models, k, v);
            /* copies, so checkpoint details added below do not touch summary's */
            json_object_foreach(models, k, v) json_object_set_new(models, k, json_deep_copy(v));
        }
        st = checkpoints_json(dir, models, err);
        json_object_set_new(j, "models", models);
        json_decref(runj);
        json_decref(sum);
        if (st == NV_OK && is_dir(dir, "snapshots")) {
            char *sdir = join(dir, "snapshots");
            st = snapshots_json(sdir, snaps, err);
            free(sdir);
        }
        json_t *dyn = json_object();
        if (st == NV_OK) st = dynamics_json(dir, dyn, err);
        if (json_object_size(dyn)) json_object_set_new(j, "dynamics", dyn);
        else json_decref(dyn);
        json_t *sizes = json_object();
        const char *parts[] = {"snapshots", "checkpoints", "metrics", "dynamics", "data.h5", "metrics.h5"};
        for (size_t i = 0; i < NV_ARRAY_LEN(parts); i++) {
            char *p = join(dir, parts[i]);
            long long b = p ? tree_bytes(p) : -1;
            if (b >= 0) json_object_set_new(sizes, parts[i], json_integer(b));
            free(p);
        }
        json_object_set_new(sizes, "total", json_integer(tree_bytes(dir)));
        json_object_set_new(j, "sizes", sizes);
    } else {
        st = snapshots_json(dir, snaps, err);
        json_t *sizes = json_object();
        json_object_set_new(sizes, "total", json_integer(tree_bytes(dir)));
        json_object_set_new(j, "sizes", sizes);
    }
    json_object_set_new(j, "snapshots", snaps);
    if (st != NV_OK) {
        json_decref(j);
        return NULL;
    }
    return j;
}

nv_status nv_info_describe(const char *path, json_t **out, nv_error *err) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return nv_fail(err, NV_EINPUT, "%s: %s", path, strerror(errno));
    nv_h5_quiet();
    json_t *j = S_ISDIR(sb.st_mode) ? describe_dir(path, err) : describe_h5(path, err);
    if (!j) {
        /* the describers fill err for every refusal; an unfilled one is jansson's OOM */
        if (err && err->status != NV_OK) return err->status;
        return nv_fail(err, NV_ENOMEM, "%s: out of memory while describing it", path);
    }
    *out = j;
    return NV_OK;
}
