/* config.c: reading, validating and resolving experiment configs (config.h).
 *
 * libconfig parses; this file only walks the tree. Validation is table-driven:
 * KEYS lists every accepted key with its kind, so an unknown key anywhere is
 * reported with the keys that are allowed at that place. Overrides (from CLI
 * flags) are a second libconfig document consulted before the file.
 */
#include "nerve/config.h"

#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/strbuf.h"

typedef enum { K_GROUP, K_INT, K_NUM, K_STR, K_BOOL, K_INTLIST_OR_STR, K_STRLIST_OR_STR, K_NUMLIST } key_kind;

typedef struct {
    const char *path;
    key_kind kind;
} key_def;

/* Every key a config may hold. Groups end in no value; their members follow. */
static const key_def KEYS[] = {
    {"experiment", K_STR}, {"seed", K_INT}, {"device", K_STR},
    {"data", K_GROUP}, {"data.source", K_STR}, {"data.test_fraction", K_NUM},
    {"data.spheres", K_GROUP}, {"data.spheres.dim", K_INT}, {"data.spheres.sphere_dim", K_INT},
    {"data.spheres.points_per_class", K_INT}, {"data.spheres.radius", K_NUMLIST},
    {"data.spheres.offset", K_NUM}, {"data.spheres.noise", K_NUM},
    {"data.spheres.oversample", K_NUM}, {"data.spheres.oversample_width", K_NUM},
    {"data.disks", K_GROUP}, {"data.disks.points_per_class", K_INT}, {"data.disks.radius", K_NUM},
    {"data.disks.gap", K_NUM}, {"data.disks.layout", K_STR}, {"data.disks.step", K_NUM},
    {"data.tori", K_GROUP}, {"data.tori.points_per_torus", K_INT}, {"data.tori.major_radius", K_NUM},
    {"data.tori.minor_radius", K_NUM}, {"data.tori.spacing", K_NUM},
    {"data.idx", K_GROUP}, {"data.idx.images", K_STR}, {"data.idx.labels", K_STR},
    {"data.idx.test_images", K_STR}, {"data.idx.test_labels", K_STR},
    {"data.idx.limit", K_INT}, {"data.idx.test_limit", K_INT},
    {"data.fashion_mnist", K_GROUP}, {"data.fashion_mnist.limit", K_INT},
    {"data.fashion_mnist.test_limit", K_INT},
    {"data.csv", K_GROUP}, {"data.csv.path", K_STR}, {"data.csv.label_col", K_INT},
    {"data.hdf5", K_GROUP}, {"data.hdf5.path", K_STR}, {"data.hdf5.x", K_STR}, {"data.hdf5.y", K_STR},
    {"data.file", K_GROUP}, {"data.file.path", K_STR},
    {"models", K_GROUP}, {"models.hidden", K_NUMLIST}, {"models.activation", K_STR},
    {"models.leaky_slope", K_NUM}, {"models.init", K_STR}, {"models.bottleneck_layer", K_INT},
    {"models.bottleneck_width", K_INT}, {"models.linear_baseline", K_BOOL},
    {"train", K_GROUP}, {"train.epochs", K_INT}, {"train.batch_size", K_INT},
    {"train.optimizer", K_STR}, {"train.lr", K_NUM}, {"train.momentum", K_NUM},
    {"train.weight_decay", K_NUM}, {"train.beta1", K_NUM}, {"train.beta2", K_NUM},
    {"train.eps", K_NUM}, {"train.threads", K_INT}, {"train.order_seed", K_INT},
    {"train.lr_half_life", K_INT}, {"train.stop_at_train_accuracy", K_NUM}, {"train.stop_check_every", K_INT},
    {"snapshots", K_GROUP}, {"snapshots.epochs", K_INTLIST_OR_STR}, {"snapshots.count", K_INT},
    {"snapshots.layers", K_STRLIST_OR_STR}, {"snapshots.preactivations", K_BOOL},
    {"snapshots.compression", K_INT},
    {"dynamics", K_GROUP}, {"dynamics.enabled", K_BOOL}, {"dynamics.models", K_STRLIST_OR_STR},
    {"dynamics.chunk_steps", K_INT}, {"dynamics.compression", K_INT},
    {"dynamics.steps", K_GROUP}, {"dynamics.steps.enabled", K_BOOL}, {"dynamics.steps.every", K_INT},
    {"dynamics.steps.log", K_INT}, {"dynamics.steps.epochs", K_NUMLIST},
    {"dynamics.neurons", K_GROUP}, {"dynamics.neurons.enabled", K_BOOL}, {"dynamics.neurons.every", K_INT},
    {"dynamics.neurons.log", K_INT}, {"dynamics.neurons.epochs", K_NUMLIST}, {"dynamics.neurons.top_k", K_INT},
    {"dynamics.samples", K_GROUP}, {"dynamics.samples.enabled", K_BOOL}, {"dynamics.samples.every", K_INT},
    {"dynamics.samples.log", K_INT}, {"dynamics.samples.epochs", K_NUMLIST},
    {"dynamics.factors", K_GROUP}, {"dynamics.factors.enabled", K_BOOL}, {"dynamics.factors.every", K_INT},
    {"dynamics.factors.log", K_INT}, {"dynamics.factors.epochs", K_NUMLIST},
    {"dynamics.factors.precision", K_STR}, {"dynamics.factors.preactivations", K_BOOL},
    {"dynamics.weights", K_GROUP}, {"dynamics.weights.enabled", K_BOOL}, {"dynamics.weights.every", K_INT},
    {"dynamics.weights.log", K_INT}, {"dynamics.weights.epochs", K_NUMLIST},
    {"dynamics.alarm", K_GROUP}, {"dynamics.alarm.absolute", K_NUM}, {"dynamics.alarm.relative", K_NUM},
    {"dynamics.alarm.window", K_INT},
};

typedef struct {
    config_t file;
    config_t over[NV_MAX_OVERRIDES];
    int nover;
    const char *const *over_text; /* (nover) the override texts, to blame them by name */
    const char *path;
    nv_error *err;
} reader;

static const char *where_file(const config_setting_t *s, const reader *r) {
    const char *f = config_setting_source_file(s);
    return f ? f : (r->path ? r->path : "<overrides>");
}

static nv_status bad(const reader *r, const config_setting_t *s, const char *key, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
static nv_status bad(const reader *r, const config_setting_t *s, const char *key, const char *fmt,
                     ...) {
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* A key set by a command-line override is blamed on that text, not on the file. */
    for (int i = 0; s && i < r->nover; i++)
        if (s->config == &r->over[i])
            return nv_fail(r->err, NV_EINPUT, "command-line override '%s': key '%s': %s", r->over_text[i],
                           key, what);
    if (s)
        return nv_fail(r->err, NV_EINPUT, "%s:%d: key '%s': %s", where_file(s, r),
                       config_setting_source_line(s), key, what);
    return nv_fail(r->err, NV_EINPUT, "%s: key '%s': %s", r->path, key, what);
}

static const key_def *find_key(const char *path) {
    for (size_t i = 0; i < NV_ARRAY_LEN(KEYS); i++)
        if (!strcmp(KEYS[i].path, path)) return &KEYS[i];
    return NULL;
}

/* Rejects keys that are not in KEYS, listing the allowed siblings. */
static nv_status check_unknown(const reader *r, const config_setting_t *group, const char *prefix) {
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        if (!name) continue;
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
        const key_def *k = find_key(path);
        if (!k && !strcmp(path, "seeds"))
            return bad(r, s, path, "is the seed axis of a sweep: this is a sweep config, and `nerve train` runs "
                       "one experiment; run it with `nerve sweep %s --run` (or give one `seed`)",
                       r->path ? r->path : "CONFIG");
        if (!k) {
            char allowed[512] = "";
            size_t plen = strlen(prefix);
            for (size_t j = 0; j < NV_ARRAY_LEN(KEYS); j++) {
                const char *kp = KEYS[j].path;
                if (plen && (strncmp(kp, prefix, plen) || kp[plen] != '.')) continue;
                const char *rest = plen ? kp + plen + 1 : kp;
                if (strchr(rest, '.')) continue;
                if (strlen(allowed) + strlen(rest) + 3 < sizeof allowed) {
                    if (*allowed) strcat(allowed, ", ");
                    strcat(allowed, rest);
                }
            }
            return bad(r, s, path, "unknown key (allowed here: %s)", allowed);
        }
        if (k->kind == K_GROUP) {
            if (!config_setting_is_group(s)) return bad(r, s, path, "expected a group { ... }");
            nv_status st = check_unknown(r, s, path);
            if (st) return st;
        }
    }
    return NV_OK;
}

/* The setting for `path`, from the overrides first. NULL when absent. */
static config_setting_t *lookup(const reader *r, const char *path) {
    for (int i = r->nover - 1; i >= 0; i--) {
        config_setting_t *s = config_lookup((config_t *)&r->over[i], path);
        if (s) return s;
    }
    return config_lookup((config_t *)&r->file, path);
}

int nv_config_key_kind(const char *path) {
    const key_def *k = find_key(path);
    if (!k) return -1;
    if (k->kind == K_GROUP) return 0;
    return k->kind == K_NUMLIST || k->kind == K_INTLIST_OR_STR || k->kind == K_STRLIST_OR_STR ? 2 : 1;
}

static nv_status not_sweep(const reader *r, const config_setting_t *s, const char *path) {
    if (config_setting_is_aggregate(s))
        return bad(r, s, path,
                   "is a list (a sweep axis): this is a sweep config, and `nerve train` takes one value "
                   "here; run the sweep with `nerve sweep %s --run`, or give a single value",
                   r->path ? r->path : "CONFIG");
    return NV_OK;
}

static nv_status get_int(const reader *r, const char *path, long long def, long long lo,
                         long long hi, long long *out) {
    config_setting_t *s = lookup(r, path);
    *out = def;
    if (!s) return NV_OK;
    nv_status st = not_sweep(r, s, path);
    if (st) return st;
    int t = config_setting_type(s);
    long long v;
    if (t == CONFIG_TYPE_INT) v = config_setting_get_int(s);
    else if (t == CONFIG_TYPE_INT64) v = config_setting_get_int64(s);
    else return bad(r, s, path, "expected an integer");
    if (v < lo || v > hi) return bad(r, s, path, "%lld is out of range [%lld, %lld]", v, lo, hi);
    *out = v;
    return NV_OK;
}

static nv_status get_num(const reader *r, const char *path, double def, double lo, double hi,
                         double *out) {
    config_setting_t *s = lookup(r, path);
    *out = def;
    if (!s) return NV_OK;
    nv_status st = not_sweep(r, s, path);
    if (st) return st;
    int t = config_setting_type(s);
    double v;
    if (t == CONFIG_TYPE_FLOAT) v = config_setting_get_float(s);
    else if (t == CONFIG_TYPE_INT) v = config_setting_get_int(s);
    else if (t == CONFIG_TYPE_INT64) v = (double)config_setting_get_int64(s);
    else return bad(r, s, path, "expected a number");
    if (!isfinite(v) || v < lo || v > hi) return bad(r, s, path, "%g is out of range [%g, %g]", v, lo, hi);
    *out = v;
    return NV_OK;
}

static nv_status get_str(const reader *r, const char *path, const char *def, char *out, size_t len) {
    config_setting_t *s = lookup(r, path);
    snprintf(out, len, "%s", def);
    if (!s) return NV_OK;
    nv_status st = not_sweep(r, s, path);
    if (st) return st;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) return bad(r, s, path, "expected a string in quotes");
    const char *v = config_setting_get_string(s);
    if (strlen(v) >= len) return bad(r, s, path, "string longer than %zu characters", len - 1);
    snprintf(out, len, "%s", v);
    return NV_OK;
}

static nv_status get_bool(const reader *r, const char *path, int def, int *out) {
    config_setting_t *s = lookup(r, path);
    *out = def;
    if (!s) return NV_OK;
    nv_status st = not_sweep(r, s, path);
    if (st) return st;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) return bad(r, s, path, "expected true or false");
    *out = config_setting_get_bool(s);
    return NV_OK;
}

/* A list of numbers [a, b, ...] (an array of numbers in libconfig); a nested list
 * would be a sweep over lists. */
static nv_status get_numlist(const reader *r, const char *path, double *out, int max, int *count,
                             int *present) {
    config_setting_t *s = lookup(r, path);
    *present = s != NULL;
    if (!s) return NV_OK;
    if (!config_setting_is_array(s) && !config_setting_is_list(s))
        return bad(r, s, path, "expected a list of numbers like [64, 64]");
    int n = config_setting_length(s);
    if (n > max) return bad(r, s, path, "at most %d entries, found %d", max, n);
    for (int i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        int t = config_setting_type(e);
        if (t == CONFIG_TYPE_INT) out[i] = config_setting_get_int(e);
        else if (t == CONFIG_TYPE_INT64) out[i] = (double)config_setting_get_int64(e);
        else if (t == CONFIG_TYPE_FLOAT) out[i] = config_setting_get_float(e);
        else if (config_setting_is_aggregate(e))
            return bad(r, s, path, "entry %d is a list (a sweep axis); `nerve train` takes one list: use `nerve sweep`", i);
        else return bad(r, s, path, "entry %d: expected a number", i);
    }
    *count = n;
    return NV_OK;
}

static int parse_device(const char *s) {
    if (!strcmp(s, "auto")) return NV_DEVICE_AUTO;
    if (!strcmp(s, "cpu")) return NV_DEVICE_CPU;
    if (!strcmp(s, "cuda")) return NV_DEVICE_CUDA;
    return -1;
}

static const char *device_name(nv_device_kind k) {
    return k == NV_DEVICE_CPU ? "cpu" : k == NV_DEVICE_CUDA ? "cuda" : "auto";
}

const char *nv_data_source_name(nv_data_source s) {
    static const char *names[] = {"spheres", "fashion-mnist", "idx", "csv", "hdf5", "file", "disks", "tori"};
    return (unsigned)s < NV_ARRAY_LEN(names) ? names[s] : "?";
}

static int parse_source(const char *s) {
    for (int i = 0; i <= NV_DATA_TORI; i++)
        if (!strcmp(s, nv_data_source_name((nv_data_source)i))) return i;
    return -1;
}

int64_t nv_log_schedule(int64_t epochs, int64_t count, int64_t *out) {
    int64_t n = 0;
    out[n++] = 0;
    if (epochs <= 0) return n;
    int64_t k = count - 1;
    if (k < 1) k = 1;
    for (int64_t i = 0; i < k; i++) {
        /* epochs^(i/(k-1)): 1 .. epochs, geometric; computed in double, rounded */
        double t = k == 1 ? 1.0 : (double)i / (double)(k - 1);
        int64_t e = (int64_t)llround(pow((double)epochs, t));
        if (e < 1) e = 1;
        if (e > epochs) e = epochs;
        if (e > out[n - 1]) out[n++] = e;
    }
    if (out[n - 1] != epochs) out[n++] = epochs;
    return n;
}

void nv_layer_name(int layer, int nlayers, char *buf, size_t len) {
    if (layer == 0) snprintf(buf, len, "input");
    else if (layer == nlayers) snprintf(buf, len, "logits");
    else snprintf(buf, len, "hidden%d", layer);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Unknown keys anywhere, in the file and in every override, before any value is
 * read: a misspelt key must not pass silently as its default. */
static nv_status check_all_keys(const reader *r) {
    nv_status st;
    if ((st = check_unknown(r, config_root_setting(&r->file), ""))) return st;
    for (int i = 0; i < r->nover; i++)
        if ((st = check_unknown(r, config_root_setting(&r->over[i]), ""))) return st;
    return NV_OK;
}

/* experiment (it names the run directory, hence the character check), seed, device. */
static nv_status read_top_level(const reader *r, nv_experiment *ex) {
    nv_status st;
    long long iv;
    char sv[NV_PATH_LEN];
    if ((st = get_str(r, "experiment", "spheres", ex->experiment, sizeof ex->experiment))) return st;
    for (const char *c = ex->experiment; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.'))
            return bad(r, lookup(r, "experiment"), "experiment",
                       "'%s' has a character other than letters, digits, '_', '-', '.' (it names a directory)",
                       ex->experiment);
    if (!ex->experiment[0]) return bad(r, lookup(r, "experiment"), "experiment", "must not be empty");
    if ((st = get_int(r, "seed", 1, 0, INT64_MAX, &iv))) return st;
    ex->seed = (uint64_t)iv;
    if ((st = get_str(r, "device", "auto", sv, sizeof sv))) return st;
    int dk = parse_device(sv);
    if (dk < 0) return bad(r, lookup(r, "device"), "device", "expected \"auto\", \"cpu\" or \"cuda\", found \"%s\"", sv);
    ex->device = (nv_device_kind)dk;
    return NV_OK;
}

/* data.spheres: read and checked whatever the source is; the generator's split
 * and seed are data.test_fraction and the top-level seed, read before. */
static nv_status read_data_spheres(const reader *r, nv_experiment *ex) {
    nv_status st;
    long long iv;
    nv_spheres_params *sp = &ex->data.spheres;
    nv_spheres_defaults(sp);
    if ((st = get_int(r, "data.spheres.dim", sp->dim, 2, 1 << 20, &iv))) return st;
    sp->dim = iv;
    if ((st = get_int(r, "data.spheres.sphere_dim", sp->dim - 1, 1, sp->dim - 1, &iv))) return st;
    sp->sphere_dim = iv;
    if ((st = get_int(r, "data.spheres.points_per_class", sp->points_per_class, 2, 100000000, &iv))) return st;
    sp->points_per_class = iv;
    double radius[8];
    int nr = 0, present = 0;
    if ((st = get_numlist(r, "data.spheres.radius", radius, 8, &nr, &present))) return st;
    if (present) {
        config_setting_t *s = lookup(r, "data.spheres.radius");
        if (nr != 2) return bad(r, s, "data.spheres.radius", "expected two radii [r0, r1], found %d", nr);
        for (int i = 0; i < 2; i++)
            if (!(radius[i] > 0) || !isfinite(radius[i]))
                return bad(r, s, "data.spheres.radius", "radius %d must be > 0, found %g", i, radius[i]);
        sp->radius[0] = radius[0];
        sp->radius[1] = radius[1];
    }
    if ((st = get_num(r, "data.spheres.offset", sp->offset, 0.0, 1e6, &sp->offset))) return st;
    if ((st = get_num(r, "data.spheres.noise", sp->noise, 0.0, 1e6, &sp->noise))) return st;
    if ((st = get_num(r, "data.spheres.oversample", sp->oversample, 0.0, 100.0, &sp->oversample))) return st;
    if ((st = get_num(r, "data.spheres.oversample_width", sp->oversample_width, 1e-9, 1e6, &sp->oversample_width))) return st;
    sp->test_fraction = ex->data.test_fraction;
    sp->seed = ex->seed;
    return NV_OK;
}

/* data.disks: like data.spheres, read and checked whatever the source is. The
 * layout comes first: the other keys' defaults are the layout's. */
static nv_status read_data_disks(const reader *r, nv_experiment *ex) {
    nv_status st;
    long long iv;
    char sv[NV_PATH_LEN];
    nv_disks_params *dp = &ex->data.disks;
    if ((st = get_str(r, "data.disks.layout", "naitzat", sv, sizeof sv))) return st;
    int layout = nv_disks_layout_parse(sv);
    if (layout < 0)
        return bad(r, lookup(r, "data.disks.layout"), "data.disks.layout",
                   "expected \"naitzat\" (the paper's data) or \"grid\", found \"%s\"", sv);
    nv_disks_layout_defaults(dp, (nv_disks_layout)layout);
    if ((st = get_int(r, "data.disks.points_per_class", dp->points_per_class, 2, 10000000, &iv))) return st;
    dp->points_per_class = iv;
    if ((st = get_num(r, "data.disks.radius", dp->radius, 1e-6, 3.0, &dp->radius))) return st;
    if ((st = get_num(r, "data.disks.gap", dp->gap, 0.0, 3.0, &dp->gap))) return st;
    if ((st = get_num(r, "data.disks.step", dp->step, 0.01, 2.0, &dp->step))) return st;
    dp->test_fraction = ex->data.test_fraction;
    dp->seed = ex->seed;
    nv_error e2 = {0};
    if (nv_disks_validate(dp, &e2)) {
        const char *key = lookup(r, "data.disks.gap") ? "data.disks.gap" : "data.disks.radius";
        config_setting_t *s = lookup(r, key) ? lookup(r, key) : lookup(r, "data.disks");
        return bad(r, s, "data.disks", "%s", e2.msg + (strncmp(e2.msg, "disks: ", 7) ? 0 : 7));
    }
    return NV_OK;
}

/* data.tori: likewise. */
static nv_status read_data_tori(const reader *r, nv_experiment *ex) {
    nv_status st;
    long long iv;
    nv_tori_params *tp = &ex->data.tori;
    nv_tori_defaults(tp);
    if ((st = get_int(r, "data.tori.points_per_torus", tp->points_per_torus, 1, 10000000, &iv))) return st;
    tp->points_per_torus = iv;
    if ((st = get_num(r, "data.tori.major_radius", tp->major_radius, 1e-6, 1e6, &tp->major_radius))) return st;
    if ((st = get_num(r, "data.tori.minor_radius", tp->minor_radius, 1e-6, 1e6, &tp->minor_radius))) return st;
    if ((st = get_num(r, "data.tori.spacing", tp->spacing, 1e-6, 1e6, &tp->spacing))) return st;
    tp->test_fraction = ex->data.test_fraction;
    tp->seed = ex->seed;
    nv_error e2 = {0};
    if (nv_tori_validate(tp, &e2)) {
        config_setting_t *s = lookup(r, "data.tori.spacing") ? lookup(r, "data.tori.spacing")
                              : lookup(r, "data.tori.minor_radius") ? lookup(r, "data.tori.minor_radius")
                                                                     : lookup(r, "data.tori");
        return bad(r, s, "data.tori", "%s", e2.msg + (strncmp(e2.msg, "tori: ", 6) ? 0 : 6));
    }
    return NV_OK;
}

/* The file-backed sources (idx, fashion-mnist, csv, hdf5, file): their paths, limits
 * and columns, and the paths the chosen source cannot do without. */
static nv_status read_data_files(const reader *r, nv_data_spec *d) {
    nv_status st;
    long long iv;
    nv_data_source src = d->source;
    if ((st = get_str(r, "data.idx.images", "", d->images, sizeof d->images))) return st;
    if ((st = get_str(r, "data.idx.labels", "", d->labels, sizeof d->labels))) return st;
    if ((st = get_str(r, "data.idx.test_images", "", d->test_images, sizeof d->test_images))) return st;
    if ((st = get_str(r, "data.idx.test_labels", "", d->test_labels, sizeof d->test_labels))) return st;
    const char *lim_key = src == NV_DATA_FASHION_MNIST ? "data.fashion_mnist.limit" : "data.idx.limit";
    const char *tlim_key = src == NV_DATA_FASHION_MNIST ? "data.fashion_mnist.test_limit" : "data.idx.test_limit";
    if ((st = get_int(r, lim_key, 0, 0, INT64_MAX, &iv))) return st;
    d->limit = iv;
    if ((st = get_int(r, tlim_key, 0, 0, INT64_MAX, &iv))) return st;
    d->test_limit = iv;
    if (src == NV_DATA_FASHION_MNIST) {
        const char *dir = "/usr/share/datasets/fashion-mnist";
        snprintf(d->images, sizeof d->images, "%s/train-images-idx3-ubyte.gz", dir);
        snprintf(d->labels, sizeof d->labels, "%s/train-labels-idx1-ubyte.gz", dir);
        snprintf(d->test_images, sizeof d->test_images, "%s/t10k-images-idx3-ubyte.gz", dir);
        snprintf(d->test_labels, sizeof d->test_labels, "%s/t10k-labels-idx1-ubyte.gz", dir);
    }
    if (src == NV_DATA_IDX && (!d->images[0] || !d->labels[0]))
        return bad(r, lookup(r, "data"), "data.idx", "source \"idx\" needs data.idx.images and data.idx.labels");
    if (src == NV_DATA_IDX && (!d->test_images[0]) != (!d->test_labels[0]))
        return bad(r, lookup(r, "data"), "data.idx", "give both test_images and test_labels, or neither");
    const char *path_key = src == NV_DATA_CSV ? "data.csv.path" : src == NV_DATA_HDF5 ? "data.hdf5.path" : "data.file.path";
    if ((st = get_str(r, path_key, "", d->path, sizeof d->path))) return st;
    if ((src == NV_DATA_CSV || src == NV_DATA_HDF5 || src == NV_DATA_FILE) && !d->path[0])
        return bad(r, lookup(r, "data"), path_key, "source \"%s\" needs a path", nv_data_source_name(d->source));
    if ((st = get_int(r, "data.csv.label_col", -1, -1, 1 << 20, &iv))) return st;
    d->label_col = (int)iv;
    if ((st = get_str(r, "data.hdf5.x", "/x", d->x_path, sizeof d->x_path))) return st;
    if ((st = get_str(r, "data.hdf5.y", "/y", d->y_path, sizeof d->y_path))) return st;
    return NV_OK;
}

/* data: the source and test fraction, then each source's group. */
static nv_status read_data(const reader *r, nv_experiment *ex) {
    nv_status st;
    char sv[NV_PATH_LEN];
    nv_data_spec *d = &ex->data;
    if ((st = get_str(r, "data.source", "spheres", sv, sizeof sv))) return st;
    int src = parse_source(sv);
    if (src < 0)
        return bad(r, lookup(r, "data.source"), "data.source",
                   "expected one of spheres, fashion-mnist, idx, csv, hdf5, file, disks, tori; found \"%s\"", sv);
    d->source = (nv_data_source)src;
    if ((st = get_num(r, "data.test_fraction", src == NV_DATA_SPHERES ? 0.2 : 0.2, 0.0, 0.95, &d->test_fraction))) return st;
    if ((st = read_data_spheres(r, ex))) return st;
    if ((st = read_data_disks(r, ex))) return st;
    if ((st = read_data_tori(r, ex))) return st;
    return read_data_files(r, d);
}

/* models: hidden widths, activation and init, the bottleneck, the linear baseline. */
static nv_status read_models(const reader *r, nv_experiment *ex) {
    nv_status st;
    long long iv;
    double dv;
    char sv[NV_PATH_LEN];
    double hid[NV_MAX_LAYERS];
    int nh = 0, present = 0;
    if ((st = get_numlist(r, "models.hidden", hid, NV_MAX_LAYERS - 1, &nh, &present))) return st;
    if (!present) {
        nh = 3;
        hid[0] = hid[1] = hid[2] = 64;
    }
    config_setting_t *s = lookup(r, "models.hidden");
    if (nh < 1) return bad(r, s, "models.hidden", "needs at least one hidden width");
    for (int i = 0; i < nh; i++) {
        if (hid[i] != floor(hid[i]) || hid[i] < 1 || hid[i] > 1e6)
            return bad(r, s, "models.hidden", "entry %d: expected a whole number of units >= 1, found %g", i, hid[i]);
        ex->hidden[i] = (int64_t)hid[i];
    }
    ex->nhidden = nh;
    if ((st = get_str(r, "models.activation", "relu", sv, sizeof sv))) return st;
    int act = nv_activation_parse(sv);
    if (act < 0 || act == NV_ACT_IDENTITY)
        return bad(r, lookup(r, "models.activation"), "models.activation",
                   "expected relu, leaky_relu, tanh or sigmoid, found \"%s\"", sv);
    ex->activation = (nv_activation)act;
    if ((st = get_num(r, "models.leaky_slope", 0.01, 0.0, 1.0, &dv))) return st;
    ex->leaky_slope = (float)dv;
    if ((st = get_str(r, "models.init", act == NV_ACT_TANH || act == NV_ACT_SIGMOID ? "xavier" : "he", sv, sizeof sv))) return st;
    if (!strcmp(sv, "he")) ex->init = NV_INIT_HE;
    else if (!strcmp(sv, "xavier")) ex->init = NV_INIT_XAVIER;
    else return bad(r, lookup(r, "models.init"), "models.init", "expected \"he\" or \"xavier\", found \"%s\"", sv);
    if ((st = get_int(r, "models.bottleneck_layer", 1, 1, nh, &iv))) return st;
    ex->bottleneck_layer = (int)iv;
    if ((st = get_int(r, "models.bottleneck_width", 3, 1, 1 << 20, &iv))) return st;
    ex->bottleneck_width = iv;
    if ((st = get_bool(r, "models.linear_baseline", 1, &ex->linear_baseline))) return st;
    return NV_OK;
}

/* train: epochs, batch size, the optimiser (its defaults depend on its kind), threads. */
static nv_status read_training(const reader *r, nv_experiment *ex) {
    nv_status st;
    long long iv;
    double dv;
    char sv[NV_PATH_LEN];
    if ((st = get_int(r, "train.epochs", 60, 0, 1000000, &iv))) return st;
    ex->epochs = iv;
    if ((st = get_int(r, "train.batch_size", 64, 1, 1 << 24, &iv))) return st;
    ex->batch_size = iv;
    if ((st = get_str(r, "train.optimizer", "adam", sv, sizeof sv))) return st;
    if (!strcmp(sv, "adam")) ex->optim.kind = NV_OPT_ADAM;
    else if (!strcmp(sv, "sgd")) ex->optim.kind = NV_OPT_SGD;
    else return bad(r, lookup(r, "train.optimizer"), "train.optimizer", "expected \"adam\" or \"sgd\", found \"%s\"", sv);
    if ((st = get_num(r, "train.lr", ex->optim.kind == NV_OPT_ADAM ? 1e-3 : 0.05, 1e-12, 1e3, &dv))) return st;
    ex->optim.lr = (float)dv;
    if ((st = get_num(r, "train.momentum", ex->optim.kind == NV_OPT_SGD ? 0.9 : 0.0, 0.0, 0.9999, &dv))) return st;
    ex->optim.momentum = (float)dv;
    if ((st = get_num(r, "train.weight_decay", 0.0, 0.0, 10.0, &dv))) return st;
    ex->optim.weight_decay = (float)dv;
    if ((st = get_num(r, "train.beta1", 0.9, 0.0, 0.999999, &dv))) return st;
    ex->optim.beta1 = (float)dv;
    if ((st = get_num(r, "train.beta2", 0.999, 0.0, 0.9999999, &dv))) return st;
    ex->optim.beta2 = (float)dv;
    if ((st = get_num(r, "train.eps", 1e-8, 1e-30, 1.0, &dv))) return st;
    ex->optim.eps = (float)dv;
    /* the rate halves every lr_half_life optimiser steps, continuously (nv_optim_lr) */
    if ((st = get_int(r, "train.lr_half_life", 0, 0, 1LL << 40, &iv))) return st;
    ex->optim.lr_half_life = iv;
    /* a model stops at the end of the first epoch whose training accuracy reaches
     * this fraction (Naitzat et al.'s rule, docs/training.md); 0: trains every epoch */
    if ((st = get_num(r, "train.stop_at_train_accuracy", 0.0, 0.0, 1.0, &dv))) return st;
    ex->stop_train_acc = dv;
    /* ... checked only at epochs that are multiples of this (Naitzat et al.'s code
     * checks every summary_freq steps) */
    if ((st = get_int(r, "train.stop_check_every", 1, 1, 1 << 30, &iv))) return st;
    ex->stop_check_every = iv;
    if ((st = get_int(r, "train.threads", 1, 0, 4096, &iv))) return st;
    ex->threads = (int)iv;
    /* the minibatch order's own seed (docs/training.md): two runs that differ only
     * in it see the same data and initial weights in different orders */
    if ((st = get_int(r, "train.order_seed", (long long)ex->seed, 0, INT64_MAX, &iv))) return st;
    ex->order_seed = (uint64_t)iv;
    return NV_OK;
}

/* snapshots.epochs: "log" (snapshots.count of them), "all", or a list (sorted,
 * duplicates dropped). Needs train.epochs, so it is read after the training group. */
static nv_status read_snapshot_epochs(const reader *r, nv_experiment *ex) {
    nv_status st;
    long long iv;
    if ((st = get_int(r, "snapshots.count", 10, 1, NV_MAX_SNAP_EPOCHS - 1, &iv))) return st;
    int64_t count = iv;
    config_setting_t *s = lookup(r, "snapshots.epochs");
    if (!s || config_setting_type(s) == CONFIG_TYPE_STRING) {
        const char *mode = s ? config_setting_get_string(s) : "log";
        if (strcmp(mode, "log") && strcmp(mode, "all"))
            return bad(r, s, "snapshots.epochs", "expected \"log\", \"all\" or a list of epochs, found \"%s\"", mode);
        if (!strcmp(mode, "all")) {
            if (ex->epochs + 1 > NV_MAX_SNAP_EPOCHS)
                return bad(r, s, "snapshots.epochs", "\"all\" would be %lld snapshots (at most %d)",
                           (long long)ex->epochs + 1, NV_MAX_SNAP_EPOCHS);
            for (int64_t e = 0; e <= ex->epochs; e++) ex->snap_epochs[e] = e;
            ex->nsnap = ex->epochs + 1;
        } else {
            ex->nsnap = nv_log_schedule(ex->epochs, count, ex->snap_epochs);
        }
    } else {
        double ev[NV_MAX_SNAP_EPOCHS];
        int ne = 0, present = 0;
        if ((st = get_numlist(r, "snapshots.epochs", ev, NV_MAX_SNAP_EPOCHS, &ne, &present))) return st;
        for (int i = 0; i < ne; i++) {
            if (ev[i] != floor(ev[i]) || ev[i] < 0 || ev[i] > (double)ex->epochs)
                return bad(r, s, "snapshots.epochs", "entry %d (%g) is not an epoch in [0, %lld]", i, ev[i],
                           (long long)ex->epochs);
            ex->snap_epochs[i] = (int64_t)ev[i];
        }
        qsort(ex->snap_epochs, (size_t)ne, sizeof(int64_t), cmp_i64);
        int64_t u = 0;
        for (int i = 0; i < ne; i++)
            if (u == 0 || ex->snap_epochs[i] != ex->snap_epochs[u - 1]) ex->snap_epochs[u++] = ex->snap_epochs[i];
        ex->nsnap = u;
    }
    return NV_OK;
}

/* snapshots.layers: "all" or a list of layer names that the models have (so it is
 * read after the models group, which says how many hidden layers there are). */
static nv_status read_snapshot_layers(const reader *r, nv_experiment *ex) {
    int nh = ex->nhidden;
    config_setting_t *s = lookup(r, "snapshots.layers");
    ex->snap_all_layers = 1;
    ex->nsnap_layers = 0;
    if (s && config_setting_type(s) == CONFIG_TYPE_STRING) {
        if (strcmp(config_setting_get_string(s), "all"))
            return bad(r, s, "snapshots.layers", "expected \"all\" or a list of layer names like [\"input\", \"hidden1\", \"logits\"]");
    } else if (s) {
        if (!config_setting_is_aggregate(s)) return bad(r, s, "snapshots.layers", "expected \"all\" or a list of layer names");
        int n = config_setting_length(s);
        if (n < 1 || n > NV_MAX_LAYERS + 1) return bad(r, s, "snapshots.layers", "expected 1 to %d names, found %d", NV_MAX_LAYERS + 1, n);
        for (int i = 0; i < n; i++) {
            config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            if (config_setting_type(e) != CONFIG_TYPE_STRING)
                return bad(r, s, "snapshots.layers", "entry %d: expected a layer name in quotes", i);
            const char *name = config_setting_get_string(e);
            int ok = !strcmp(name, "input") || !strcmp(name, "logits");
            if (!strncmp(name, "hidden", 6)) {
                char *end;
                long l = strtol(name + 6, &end, 10);
                ok = *end == '\0' && l >= 1 && l <= nh;
            }
            if (!ok)
                return bad(r, s, "snapshots.layers", "entry %d: no layer \"%s\" (layers are input, hidden1..hidden%d, logits)",
                           i, name, nh);
            snprintf(ex->snap_layers[i], NV_NAME_LEN, "%s", name);
        }
        ex->nsnap_layers = n;
        ex->snap_all_layers = 0;
    }
    return NV_OK;
}

/* snapshots: which epochs and layers, pre-activations, compression. */
static nv_status read_snapshots(const reader *r, nv_experiment *ex) {
    nv_status st;
    long long iv;
    if ((st = read_snapshot_epochs(r, ex))) return st;
    if ((st = read_snapshot_layers(r, ex))) return st;
    if ((st = get_bool(r, "snapshots.preactivations", 0, &ex->preactivations))) return st;
    if ((st = get_int(r, "snapshots.compression", 0, 0, 9, &iv))) return st;
    ex->compression = (int)iv;
    return NV_OK;
}

/* --- dynamics ---------------------------------------------------------------------- */
int nv_dyn_records_model(const nv_dyn_config *cfg, const char *name) {
    if (!cfg->enabled) return 0;
    if (cfg->all_models) return 1;
    for (int i = 0; i < cfg->nmodels; i++)
        if (!strcmp(cfg->models[i], name)) return 1;
    return 0;
}

static const char *const TIER_KEYS[NV_DYN_TIERS] = {"steps", "neurons", "samples", "factors", "weights"};

/* The layer (an override, last first, or the file) that holds any of a tier's
 * schedule keys, so that an override's schedule replaces the file's whole: -1 none,
 * r->nover the file, otherwise the override's index. */
static int schedule_layer(const reader *r, const char *tier) {
    static const char *const keys[] = {"every", "log", "epochs"};
    for (int i = r->nover - 1; i >= -1; i--) {
        const config_t *c = i >= 0 ? &r->over[i] : &r->file;
        for (int k = 0; k < 3; k++) {
            char path[96];
            snprintf(path, sizeof path, "dynamics.%s.%s", tier, keys[k]);
            if (config_lookup((config_t *)c, path)) return i >= 0 ? i : r->nover;
        }
    }
    return -1;
}

/* dynamics.<tier>: its schedule (one of every, log, epochs; from one layer) and
 * whether it records. */
static nv_status read_dyn_tier(const reader *r, nv_experiment *ex, int t, int64_t def_every, int def_on) {
    nv_dyn_config *c = &ex->dynamics;
    nv_dyn_schedule *sc = &c->sched[t];
    const char *tier = TIER_KEYS[t];
    char path[96];
    nv_status st;
    memset(sc, 0, sizeof *sc);
    sc->kind = NV_SCHED_EVERY;
    sc->every = def_every;
    int layer = schedule_layer(r, tier);
    if (layer >= 0) {
        const config_t *cf = layer == r->nover ? &r->file : &r->over[layer];
        config_setting_t *s[3];
        static const char *const keys[] = {"every", "log", "epochs"};
        int nset = 0, which = -1;
        for (int k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "dynamics.%s.%s", tier, keys[k]);
            s[k] = config_lookup((config_t *)cf, path);
            if (s[k]) nset++, which = k;
        }
        if (nset > 1) {
            snprintf(path, sizeof path, "dynamics.%s", tier);
            return bad(r, s[which], path, "give one schedule: every = n, log = count or epochs = [...], not %d of them",
                       nset);
        }
        snprintf(path, sizeof path, "dynamics.%s.%s", tier, keys[which]);
        config_setting_t *e = s[which];
        if (which < 2 && (st = not_sweep(r, e, path))) return st;
        if (which < 2) {
            int ty = config_setting_type(e);
            long long v;
            if (ty == CONFIG_TYPE_INT) v = config_setting_get_int(e);
            else if (ty == CONFIG_TYPE_INT64) v = config_setting_get_int64(e);
            else return bad(r, e, path, "expected an integer");
            if (which == 0) {
                if (v < 1) return bad(r, e, path, "a stride of %lld steps: expected every >= 1 (every = 1 records each step)", v);
                sc->kind = NV_SCHED_EVERY;
                sc->every = v;
            } else {
                if (v < 1 || v > 100000000) return bad(r, e, path, "%lld log-spaced steps: expected 1 to 10^8", v);
                sc->kind = NV_SCHED_LOG;
                sc->count = v;
            }
        } else {
            double ev[NV_DYN_MAX_EPOCHS];
            int ne = 0;
            /* this layer's own list (get_numlist would read through the overrides) */
            if (!config_setting_is_array(e) && !config_setting_is_list(e))
                return bad(r, e, path, "expected a list of epochs like [1, 10]");
            ne = config_setting_length(e);
            if (ne < 1 || ne > NV_DYN_MAX_EPOCHS) return bad(r, e, path, "expected 1 to %d epochs, found %d", NV_DYN_MAX_EPOCHS, ne);
            for (int i = 0; i < ne; i++) {
                config_setting_t *x = config_setting_get_elem(e, (unsigned)i);
                int ty = config_setting_type(x);
                if (ty == CONFIG_TYPE_INT) ev[i] = config_setting_get_int(x);
                else if (ty == CONFIG_TYPE_INT64) ev[i] = (double)config_setting_get_int64(x);
                else if (ty == CONFIG_TYPE_FLOAT) ev[i] = config_setting_get_float(x);
                else return bad(r, e, path, "entry %d: expected an epoch number", i);
                if (ev[i] != floor(ev[i]) || ev[i] < 1 || ev[i] > (double)ex->epochs)
                    return bad(r, e, path, "entry %d (%g) is not an epoch with steps: expected 1 to train.epochs = %lld",
                               i, ev[i], (long long)ex->epochs);
                sc->epochs[i] = (int64_t)ev[i];
            }
            qsort(sc->epochs, (size_t)ne, sizeof(int64_t), cmp_i64);
            int64_t u = 0;
            for (int i = 0; i < ne; i++)
                if (u == 0 || sc->epochs[i] != sc->epochs[u - 1]) sc->epochs[u++] = sc->epochs[i];
            for (int64_t i = u; i < ne; i++) sc->epochs[i] = 0; /* the config's bytes: no stale tail */
            sc->kind = NV_SCHED_EPOCHS;
            sc->nepochs = u;
        }
    }
    snprintf(path, sizeof path, "dynamics.%s.enabled", tier);
    if ((st = get_bool(r, path, def_on || layer >= 0, &c->on[t]))) return st;
    return NV_OK;
}

/* dynamics: the recorder's group (docs/dynamics.md). Read after the training and
 * models groups: epoch lists need train.epochs, model names the baseline flag. */
static nv_status read_dynamics(const reader *r, nv_experiment *ex) {
    nv_dyn_config *c = &ex->dynamics;
    nv_status st;
    long long iv;
    double dv;
    char sv[64];
    memset(c, 0, sizeof *c);
    if ((st = get_bool(r, "dynamics.enabled", 0, &c->enabled))) return st;
    c->all_models = 1;
    config_setting_t *s = lookup(r, "dynamics.models");
    if (s && config_setting_type(s) == CONFIG_TYPE_STRING) {
        if (strcmp(config_setting_get_string(s), "all"))
            return bad(r, s, "dynamics.models", "expected \"all\" or a list of model names like [\"expressive\"]");
    } else if (s) {
        int n = config_setting_is_aggregate(s) ? config_setting_length(s) : -1;
        if (n < 1 || n > 4) return bad(r, s, "dynamics.models", "expected \"all\" or a list of 1 to 4 model names");
        for (int i = 0; i < n; i++) {
            config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            const char *name = config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
            if (!name || !(!strcmp(name, "expressive") || !strcmp(name, "bottleneck") ||
                           (!strcmp(name, "linear") && ex->linear_baseline)))
                return bad(r, s, "dynamics.models", "entry %d: expected a model of this experiment: expressive, bottleneck%s",
                           i, ex->linear_baseline ? ", linear" : "");
            snprintf(c->models[i], sizeof c->models[i], "%s", name);
        }
        c->nmodels = n;
        c->all_models = 0;
    }
    if ((st = get_int(r, "dynamics.chunk_steps", 0, 0, 1 << 20, &iv))) return st;
    c->chunk_steps = iv;
    if ((st = get_int(r, "dynamics.compression", 0, 0, 9, &iv))) return st;
    c->compression = (int)iv;
    if ((st = read_dyn_tier(r, ex, NV_DYN_STEPS, 1, 1)) || (st = read_dyn_tier(r, ex, NV_DYN_NEURONS, 1, 1)) ||
        (st = read_dyn_tier(r, ex, NV_DYN_SAMPLES, 1, 0)) || (st = read_dyn_tier(r, ex, NV_DYN_FACTORS, 1, 0)) ||
        (st = read_dyn_tier(r, ex, NV_DYN_WEIGHTS, 1000, 1)))
        return st;
    if ((st = get_int(r, "dynamics.neurons.top_k", 8, 1, 1 << 20, &iv))) return st;
    c->top_k = (int)iv;
    if ((st = get_str(r, "dynamics.factors.precision", "f32", sv, sizeof sv))) return st;
    if (!strcmp(sv, "f16")) c->f16 = 1;
    else if (strcmp(sv, "f32"))
        return bad(r, lookup(r, "dynamics.factors.precision"), "dynamics.factors.precision",
                   "expected \"f32\" or \"f16\", found \"%s\"", sv);
    if ((st = get_bool(r, "dynamics.factors.preactivations", 0, &c->preactivations))) return st;
    /* The store's layout (its chunks, its index, the steps it expects) is fixed
     * from train.epochs when the run starts; a model that stops early would leave it
     * describing steps that never ran. */
    if (c->enabled && ex->stop_train_acc > 0.0)
        return bad(r, lookup(r, "train.stop_at_train_accuracy"), "train.stop_at_train_accuracy",
                   "cannot be combined with the dynamics recorder (dynamics.enabled = true): the "
                   "dynamics store is laid out for all train.epochs epochs");
    if ((st = get_num(r, "dynamics.alarm.absolute", 1.0, 0.0, 3.0e38, &dv))) return st;
    c->alarm_abs = dv;
    if ((st = get_num(r, "dynamics.alarm.relative", 10.0, 0.0, 3.0e38, &dv))) return st;
    c->alarm_rel = dv;
    if ((st = get_int(r, "dynamics.alarm.window", 100, 1, 1000000, &iv))) return st;
    c->alarm_window = iv;
    return NV_OK;
}

/* The whole experiment, one group at a time. The order matters: later groups use
 * what earlier ones set (the seed and test fraction for the generators,
 * train.epochs for the snapshot epochs, the hidden layers for snapshots.layers),
 * and the first error found is the one reported. */
static nv_status read_all(const reader *r, nv_experiment *ex) {
    nv_status st;
    if ((st = check_all_keys(r))) return st;
    if ((st = read_top_level(r, ex))) return st;
    if ((st = read_data(r, ex))) return st;
    if ((st = read_models(r, ex))) return st;
    if ((st = read_training(r, ex))) return st;
    if ((st = read_snapshots(r, ex))) return st;
    return read_dynamics(r, ex);
}

nv_status nv_config_load(const char *path, const char *const *overrides, int noverrides,
                         nv_experiment *ex, nv_error *err) {
    memset(ex, 0, sizeof *ex);
    reader r = {.path = path, .err = err, .over_text = overrides};
    config_init(&r.file);
    if (noverrides > NV_MAX_OVERRIDES)
        return nv_fail(err, NV_EINPUT, "at most %d overrides, found %d", NV_MAX_OVERRIDES, noverrides);
    nv_status st = NV_OK;
    FILE *f = fopen(path, "r");
    if (!f) {
        st = nv_fail(err, NV_EINPUT, "%s: cannot open the config file (%m)", path);
        goto done;
    }
    fclose(f);
    if (config_read_file(&r.file, path) != CONFIG_TRUE) {
        st = nv_fail(err, NV_EINPUT, "%s:%d: %s (libconfig syntax: key = value; groups { ... }; lists [ ... ])",
                     config_error_file(&r.file) ? config_error_file(&r.file) : path,
                     config_error_line(&r.file), config_error_text(&r.file));
        goto done;
    }
    for (int i = 0; i < noverrides; i++) {
        config_init(&r.over[i]);
        r.nover = i + 1;
        if (config_read_string(&r.over[i], overrides[i]) != CONFIG_TRUE) {
            st = nv_fail(err, NV_EINPUT, "command-line override \"%s\": %s (libconfig syntax, e.g. "
                         "'train: { lr = 0.01; };')", overrides[i], config_error_text(&r.over[i]));
            goto done;
        }
    }
    st = read_all(&r, ex);
    snprintf(ex->source_path, sizeof ex->source_path, "%s", path);
done:
    config_destroy(&r.file);
    for (int i = 0; i < r.nover; i++) config_destroy(&r.over[i]);
    return st;
}

int nv_experiment_models(const nv_experiment *ex, int64_t d, int32_t c, nv_model_def *out) {
    int n = 0;
    for (int which = 0; which < 3; which++) {
        if (which == 2 && !ex->linear_baseline) continue;
        nv_model_def *m = &out[n++];
        memset(m, 0, sizeof *m);
        snprintf(m->name, sizeof m->name, "%s", which == 0 ? "expressive" : which == 1 ? "bottleneck" : "linear");
        m->nhidden = which == 2 ? 0 : ex->nhidden;
        for (int i = 0; i < m->nhidden; i++) m->hidden[i] = ex->hidden[i];
        if (which == 1) m->hidden[ex->bottleneck_layer - 1] = ex->bottleneck_width;
        m->spec.nlayers = m->nhidden + 1;
        m->spec.widths[0] = d;
        for (int i = 0; i < m->nhidden; i++) m->spec.widths[i + 1] = m->hidden[i];
        m->spec.widths[m->nhidden + 1] = c;
        m->spec.act = ex->activation;
        m->spec.leaky_slope = ex->leaky_slope;
        m->spec.init = ex->init;
    }
    return n;
}

/* --- the resolved config ------------------------------------------------------- */
/* Numbers as written: the shortest text that reads back to the same float (F) or
 * double (D) -- 0.001, not %.9g's 0.00100000005 -- so the text reloads to the same
 * bits and reads as the config did. P keeps a decimal point (a libconfig array must
 * not mix 1 and 1.3). Each call uses the next of a few static buffers. */
static const char *num_text(double v, int is_float, int point) {
    static _Thread_local char bufs[16][40];
    static _Thread_local int next;
    char *out = bufs[next++ % 16];
    /* -0.0 is 0 for every key; written "-0" it would read back as the integer 0 and
     * the resolved text would change on reloading (found by fuzzing) */
    if (v == 0) v = 0.0;
    nv_fmt_shortest(out, 40, v, 1, is_float);
    if (point && isfinite(v) && !strpbrk(out, ".eE")) strcat(out, ".0");
    return out;
}
#define F(v) num_text((double)(v), 1, 0)
#define D(v) num_text((v), 0, 0)
#define DP(v) num_text((v), 0, 1)

/* `KEY = "value";` and a newline, the value a literal that libconfig reads back as
 * the same bytes (paths are the user's text: any byte but NUL may be in them). */
static void put_str(nv_strbuf *b, const char *key, const char *v) {
    char q[4 * NV_PATH_LEN + 8];
    nv_config_quote(v, q, sizeof q);
    nv_sb_printf(b, "%s = %s;\n", key, q);
}

char *nv_config_resolved_text(const nv_experiment *ex) {
    nv_strbuf b = {0};
    const nv_data_spec *d = &ex->data;
    nv_sb_printf(&b, "# resolved by nerve %s: every key, defaults filled in\n", NERVE_VERSION);
    nv_sb_printf(&b, "experiment = \"%s\";\nseed = %llu;\ndevice = \"%s\";\n", ex->experiment,
                 (unsigned long long)ex->seed, device_name(ex->device));
    nv_sb_printf(&b, "data: {\n  source = \"%s\";\n  test_fraction = %s;\n", nv_data_source_name(d->source),
                 D(d->test_fraction));
    switch (d->source) {
    case NV_DATA_SPHERES:
        nv_sb_printf(&b,
                     "  spheres: {\n    dim = %lld;\n    sphere_dim = %lld;\n    points_per_class = %lld;\n"
                     "    radius = [%s, %s];\n    offset = %s;\n    noise = %s;\n"
                     "    oversample = %s;\n    oversample_width = %s;\n  };\n",
                     (long long)d->spheres.dim, (long long)d->spheres.sphere_dim,
                     (long long)d->spheres.points_per_class, DP(d->spheres.radius[0]), DP(d->spheres.radius[1]),
                     D(d->spheres.offset), D(d->spheres.noise), D(d->spheres.oversample), D(d->spheres.oversample_width));
        break;
    case NV_DATA_FASHION_MNIST:
        nv_sb_printf(&b, "  fashion_mnist: {\n    limit = %lld;\n    test_limit = %lld;\n  };\n", (long long)d->limit,
                     (long long)d->test_limit);
        break;
    case NV_DATA_IDX:
        nv_sb_printf(&b, "  idx: {\n");
        put_str(&b, "    images", d->images);
        put_str(&b, "    labels", d->labels);
        if (d->test_images[0]) {
            put_str(&b, "    test_images", d->test_images);
            put_str(&b, "    test_labels", d->test_labels);
        }
        nv_sb_printf(&b, "    limit = %lld;\n    test_limit = %lld;\n  };\n", (long long)d->limit, (long long)d->test_limit);
        break;
    case NV_DATA_CSV:
        nv_sb_printf(&b, "  csv: {\n");
        put_str(&b, "    path", d->path);
        nv_sb_printf(&b, "    label_col = %d;\n  };\n", d->label_col);
        break;
    case NV_DATA_HDF5:
        nv_sb_printf(&b, "  hdf5: {\n");
        put_str(&b, "    path", d->path);
        put_str(&b, "    x", d->x_path);
        put_str(&b, "    y", d->y_path);
        nv_sb_printf(&b, "  };\n");
        break;
    case NV_DATA_FILE:
        nv_sb_printf(&b, "  file: {\n");
        put_str(&b, "    path", d->path);
        nv_sb_printf(&b, "  };\n");
        break;
    case NV_DATA_DISKS:
        nv_sb_printf(&b,
                     "  disks: {\n    layout = \"%s\";\n    points_per_class = %lld;\n    radius = %s;\n"
                     "    gap = %s;\n    step = %s;\n  };\n",
                     nv_disks_layout_name(d->disks.layout), (long long)d->disks.points_per_class,
                     D(d->disks.radius), D(d->disks.gap), D(d->disks.step));
        break;
    case NV_DATA_TORI:
        nv_sb_printf(&b,
                     "  tori: {\n    points_per_torus = %lld;\n    major_radius = %s;\n"
                     "    minor_radius = %s;\n    spacing = %s;\n  };\n",
                     (long long)d->tori.points_per_torus, D(d->tori.major_radius), D(d->tori.minor_radius),
                     D(d->tori.spacing));
        break;
    }
    nv_sb_printf(&b, "};\nmodels: {\n  hidden = [");
    for (int i = 0; i < ex->nhidden; i++) nv_sb_printf(&b, "%s%lld", i ? ", " : "", (long long)ex->hidden[i]);
    nv_sb_printf(&b,
                 "];\n  activation = \"%s\";\n  leaky_slope = %s;\n  init = \"%s\";\n  bottleneck_layer = %d;\n"
                 "  bottleneck_width = %lld;\n  linear_baseline = %s;\n};\n",
                 nv_activation_name(ex->activation), F(ex->leaky_slope), ex->init == NV_INIT_HE ? "he" : "xavier",
                 ex->bottleneck_layer, (long long)ex->bottleneck_width, ex->linear_baseline ? "true" : "false");
    nv_sb_printf(&b,
                 "train: {\n  epochs = %lld;\n  batch_size = %lld;\n  optimizer = \"%s\";\n  lr = %s;\n"
                 "  momentum = %s;\n  weight_decay = %s;\n  beta1 = %s;\n  beta2 = %s;\n  eps = %s;\n"
                 "  threads = %d;\n",
                 (long long)ex->epochs, (long long)ex->batch_size, ex->optim.kind == NV_OPT_ADAM ? "adam" : "sgd",
                 F(ex->optim.lr), F(ex->optim.momentum), F(ex->optim.weight_decay),
                 F(ex->optim.beta1), F(ex->optim.beta2), F(ex->optim.eps), ex->threads);
    /* Only when it is not the seed: runs that leave it alone keep the config text
     * (and the bytes of every file that stores it) they had before the key existed;
     * absent means order_seed = seed. */
    if (ex->order_seed != ex->seed) nv_sb_printf(&b, "  order_seed = %llu;\n", (unsigned long long)ex->order_seed);
    /* the same for the two keys that came later: printed only when set */
    if (ex->optim.lr_half_life > 0) nv_sb_printf(&b, "  lr_half_life = %lld;\n", (long long)ex->optim.lr_half_life);
    if (ex->stop_train_acc > 0.0) nv_sb_printf(&b, "  stop_at_train_accuracy = %s;\n", D(ex->stop_train_acc));
    if (ex->stop_check_every > 1) nv_sb_printf(&b, "  stop_check_every = %lld;\n", (long long)ex->stop_check_every);
    nv_sb_puts(&b, "};\n");
    nv_sb_printf(&b, "snapshots: {\n  epochs = [");
    for (int64_t i = 0; i < ex->nsnap; i++) nv_sb_printf(&b, "%s%lld", i ? ", " : "", (long long)ex->snap_epochs[i]);
    nv_sb_printf(&b, "];\n  layers = ");
    if (ex->snap_all_layers) nv_sb_printf(&b, "\"all\"");
    else {
        nv_sb_printf(&b, "[");
        for (int i = 0; i < ex->nsnap_layers; i++) nv_sb_printf(&b, "%s\"%s\"", i ? ", " : "", ex->snap_layers[i]);
        nv_sb_printf(&b, "]");
    }
    nv_sb_printf(&b, ";\n  preactivations = %s;\n  compression = %d;\n};\n", ex->preactivations ? "true" : "false",
                 ex->compression);
    /* Only when on: a run without the recorder keeps the text (and the bytes of
     * every file that stores it) it had before the recorder existed. */
    const nv_dyn_config *c = &ex->dynamics;
    if (c->enabled) {
        nv_sb_printf(&b, "dynamics: {\n  enabled = true;\n  models = ");
        if (c->all_models) nv_sb_printf(&b, "\"all\"");
        else {
            nv_sb_printf(&b, "[");
            for (int i = 0; i < c->nmodels; i++) nv_sb_printf(&b, "%s\"%s\"", i ? ", " : "", c->models[i]);
            nv_sb_printf(&b, "]");
        }
        nv_sb_printf(&b, ";\n  chunk_steps = %lld;\n  compression = %d;\n", (long long)c->chunk_steps, c->compression);
        for (int t = 0; t < NV_DYN_TIERS; t++) {
            const nv_dyn_schedule *sc = &c->sched[t];
            nv_sb_printf(&b, "  %s: {\n    enabled = %s;\n", TIER_KEYS[t], c->on[t] ? "true" : "false");
            if (sc->kind == NV_SCHED_LOG) nv_sb_printf(&b, "    log = %lld;\n", (long long)sc->count);
            else if (sc->kind == NV_SCHED_EPOCHS) {
                nv_sb_printf(&b, "    epochs = [");
                for (int64_t i = 0; i < sc->nepochs; i++) nv_sb_printf(&b, "%s%lld", i ? ", " : "", (long long)sc->epochs[i]);
                nv_sb_printf(&b, "];\n");
            } else nv_sb_printf(&b, "    every = %lld;\n", (long long)sc->every);
            if (t == NV_DYN_NEURONS) nv_sb_printf(&b, "    top_k = %d;\n", c->top_k);
            if (t == NV_DYN_FACTORS)
                nv_sb_printf(&b, "    precision = \"%s\";\n    preactivations = %s;\n", c->f16 ? "f16" : "f32",
                             c->preactivations ? "true" : "false");
            nv_sb_printf(&b, "  };\n");
        }
        nv_sb_printf(&b, "  alarm: {\n    absolute = %.17g;\n    relative = %.17g;\n    window = %lld;\n  };\n};\n",
                     c->alarm_abs, c->alarm_rel, (long long)c->alarm_window);
    }
    return nv_sb_take(&b);
}
