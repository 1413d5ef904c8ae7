/* sweep.c: expanding a sweep config into tasks, writing the sweep directory and
 * reading it back (sweep.h).
 *
 * The expansion works on libconfig's tree directly: every list where the schema
 * (nv_config_key_kind) expects one value, and every list of lists where it
 * expects a list, is an axis. Each task's config is the same tree with every axis
 * replaced by one of its values, validated and resolved by nv_config_load, so a
 * task config is exactly what `nerve train` stores in its run directory and a bad
 * value is caught before anything is written or submitted.
 */
#include "nerve/sweep.h"

#include <errno.h>
#include <jansson.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nerve/config.h"
#include "nerve/snapshot.h"
#include "nerve/strbuf.h"
#include "nerve/fsutil.h"

/* ---- values as text and JSON ------------------------------------------------------ */
static void label_of(const config_setting_t *s, char *buf, size_t len, int top) {
    size_t n = strlen(buf);
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: snprintf(buf + n, len - n, "%d", config_setting_get_int(s)); break;
    case CONFIG_TYPE_INT64: snprintf(buf + n, len - n, "%lld", (long long)config_setting_get_int64(s)); break;
    case CONFIG_TYPE_FLOAT: snprintf(buf + n, len - n, "%.9g", config_setting_get_float(s)); break;
    case CONFIG_TYPE_STRING: snprintf(buf + n, len - n, "%s", config_setting_get_string(s)); break;
    case CONFIG_TYPE_BOOL: snprintf(buf + n, len - n, "%s", config_setting_get_bool(s) ? "true" : "false"); break;
    default: {
        /* [64, 64, 64] reads as 64-64-64: short, and safe in file names and tables */
        int m = config_setting_length(s);
        if (!top) snprintf(buf + strlen(buf), len - strlen(buf), "[");
        for (int i = 0; i < m; i++) {
            if (i) snprintf(buf + strlen(buf), len - strlen(buf), "%s", top ? "-" : ",");
            label_of(config_setting_get_elem(s, (unsigned)i), buf, len, 0);
        }
        if (!top) snprintf(buf + strlen(buf), len - strlen(buf), "]");
    }
    }
}

static json_t *json_of(const config_setting_t *s) {
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT: return json_integer(config_setting_get_int(s));
    case CONFIG_TYPE_INT64: return json_integer((json_int_t)config_setting_get_int64(s));
    case CONFIG_TYPE_FLOAT: return json_real(config_setting_get_float(s));
    case CONFIG_TYPE_STRING: return json_string(config_setting_get_string(s));
    case CONFIG_TYPE_BOOL: return json_boolean(config_setting_get_bool(s));
    default: {
        json_t *a = json_array();
        int m = config_setting_length(s);
        for (int i = 0; a && i < m; i++) {
            json_t *e = json_of(config_setting_get_elem(s, (unsigned)i));
            if (!e || json_array_append_new(a, e)) { /* an element JSON cannot hold */
                json_decref(a);
                a = NULL;
            }
        }
        return a;
    }
    }
}

/* Copies src (a value, array, list or group) as child `name` of parent (name NULL
 * inside lists and arrays). */
static int copy_setting(config_setting_t *parent, const char *name, const config_setting_t *src) {
    int t = config_setting_type(src);
    config_setting_t *d = config_setting_add(parent, name, t);
    if (!d) return -1;
    switch (t) {
    case CONFIG_TYPE_INT: config_setting_set_int(d, config_setting_get_int(src)); break;
    case CONFIG_TYPE_INT64: config_setting_set_int64(d, config_setting_get_int64(src)); break;
    case CONFIG_TYPE_FLOAT: config_setting_set_float(d, config_setting_get_float(src)); break;
    case CONFIG_TYPE_STRING: config_setting_set_string(d, config_setting_get_string(src)); break;
    case CONFIG_TYPE_BOOL: config_setting_set_bool(d, config_setting_get_bool(src)); break;
    default: {
        int m = config_setting_length(src);
        for (int i = 0; i < m; i++) {
            const config_setting_t *e = config_setting_get_elem(src, (unsigned)i);
            if (copy_setting(d, t == CONFIG_TYPE_GROUP ? config_setting_name(e) : NULL, e)) return -1;
        }
    }
    }
    return 0;
}

/* ---- finding the axes ------------------------------------------------------------- */
typedef struct {
    nv_sweep_plan *p;
    const char *path;
    nv_error *err;
    char seed_key[16];   /* "seeds" or "seed" when the seed is swept */
} walk_ctx;

static nv_status add_axis(walk_ctx *w, const config_setting_t *s, const char *key) {
    nv_sweep_plan *p = w->p;
    if (p->naxes == NV_SWEEP_MAX_AXES)
        return nv_fail(w->err, NV_EINPUT, "%s:%d: key '%s': more than %d sweep axes", w->path,
                       config_setting_source_line(s), key, NV_SWEEP_MAX_AXES);
    nv_sweep_axis *a = &p->axes[p->naxes++];
    snprintf(a->key, sizeof a->key, "%s", key);
    a->nvalues = config_setting_length(s);
    a->labels = calloc((size_t)NV_MAX(a->nvalues, 1), sizeof(char *));
    a->json = calloc((size_t)NV_MAX(a->nvalues, 1), sizeof(char *));
    if (!a->labels || !a->json) return nv_fail(w->err, NV_ENOMEM, "out of memory");
    for (int i = 0; i < a->nvalues; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char buf[512] = "";
        label_of(e, buf, sizeof buf, 1);
        json_t *j = json_of(e);
        /* jansson takes only valid UTF-8 text (and finite numbers): anything else in a
         * config is bad input, not a failed allocation (found by fuzzing) */
        if (!j)
            return nv_fail(w->err, NV_EINPUT, "%s:%d: key '%s': value %d is not valid UTF-8 text", w->path,
                           config_setting_source_line(s), key, i + 1);
        a->labels[i] = strdup(buf);
        a->json[i] = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
        json_decref(j);
        if (!a->labels[i] || !a->json[i]) return nv_fail(w->err, NV_ENOMEM, "out of memory");
    }
    return NV_OK;
}

static nv_status walk(walk_ctx *w, const config_setting_t *group, const char *prefix) {
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        char key[NV_SWEEP_KEY_LEN];
        int line = config_setting_source_line(s);
        /* No nerve key is this long; a cut one would name another setting (found by
         * fuzzing: the expansion then failed to find it) */
        if (snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", name) >= (int)sizeof key)
            return nv_fail(w->err, NV_EINPUT, "%s:%d: key '%.40s...' is longer than %d characters: not a key "
                           "of nerve's configs", w->path, line, key, NV_SWEEP_KEY_LEN - 1);
        if (config_setting_is_group(s)) {
            nv_status st = walk(w, s, key);
            if (st) return st;
            continue;
        }
        if (!config_setting_is_aggregate(s)) continue;
        int m = config_setting_length(s), lists = 0;
        for (int j = 0; j < m; j++) lists += config_setting_is_aggregate(config_setting_get_elem(s, (unsigned)j)) != 0;
        int is_seed = !*prefix && (!strcmp(name, "seeds") || !strcmp(name, "seed"));
        if (is_seed) {
            if (w->seed_key[0])
                return nv_fail(w->err, NV_EINPUT, "%s:%d: key '%s': the seeds are already swept by '%s'; give "
                               "`seeds = [1, 2, 3];` or `seed = [1, 2, 3];`, not both", w->path, line, key, w->seed_key);
            if (lists)
                return nv_fail(w->err, NV_EINPUT, "%s:%d: key '%s': expected a list of whole numbers like [1, 2, 3]",
                               w->path, line, key);
            snprintf(w->seed_key, sizeof w->seed_key, "%s", name);
            continue; /* added last, as the innermost axis */
        }
        int kind = nv_config_key_kind(key);
        if (kind == 2) {
            if (lists == 0) continue; /* one list value, e.g. hidden = [64, 64] */
            if (lists != m)
                return nv_fail(w->err, NV_EINPUT, "%s:%d: key '%s' takes a list: a sweep over it lists lists, "
                               "like ([64, 64], [32, 32, 32]); this one mixes lists and single values",
                               w->path, line, key);
        } else if (lists) {
            return nv_fail(w->err, NV_EINPUT, "%s:%d: key '%s' takes one value: a sweep over it is a list of "
                           "values like [\"relu\", \"tanh\"], not of lists", w->path, line, key);
        }
        nv_status st = add_axis(w, s, key);
        if (st) return st;
    }
    return NV_OK;
}

/* ---- the plan -------------------------------------------------------------------------- */
void nv_sweep_plan_free(nv_sweep_plan *p) {
    if (!p) return;
    for (int a = 0; a < p->naxes; a++) {
        for (int i = 0; i < p->axes[a].nvalues; i++) {
            if (p->axes[a].labels) free(p->axes[a].labels[i]);
            if (p->axes[a].json) free(p->axes[a].json[i]);
        }
        free(p->axes[a].labels);
        free(p->axes[a].json);
    }
    if (p->task_configs)
        for (int64_t t = 0; t < p->ntasks; t++) free(p->task_configs[t]);
    free(p->task_configs);
    free(p->task_seeds);
    free(p);
}

void nv_sweep_task_index(const nv_sweep_plan *p, int64_t t, int *idx) {
    for (int a = p->naxes - 1; a >= 0; a--) {
        idx[a] = (int)(t % p->axes[a].nvalues);
        t /= p->axes[a].nvalues;
    }
}

void nv_sweep_task_name(const nv_sweep_plan *p, int64_t t, char *buf, size_t len) {
    snprintf(buf, len, "%0*lld", p->digits, (long long)t);
}

/* "models.activation = relu, seed = 2": a task's values, for messages. */
static void describe_task(const nv_sweep_plan *p, const int *idx, char *buf, size_t len) {
    buf[0] = '\0';
    for (int a = 0; a < p->naxes; a++)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s = %s", a ? ", " : "", p->axes[a].key,
                 p->axes[a].labels[idx[a]]);
}

/* Replaces every axis of a fresh copy of the tree by the task's value. */
static int apply_task(config_t *c, const nv_sweep_plan *p, const char *seed_key, const int *idx) {
    for (int a = 0; a < p->naxes; a++) {
        const char *key = a == p->seed_axis ? seed_key : p->axes[a].key;
        config_setting_t *list = config_lookup(c, key);
        if (!list) return -1;
        config_setting_t *parent = config_setting_parent(list);
        const config_setting_t *val = config_setting_get_elem(list, (unsigned)idx[a]);
        /* copy the value out first: removing the list frees it */
        config_t tmp;
        config_init(&tmp);
        int rc = copy_setting(config_root_setting(&tmp), "v", val);
        if (!rc) rc = config_setting_remove(parent, config_setting_name(list)) == CONFIG_TRUE ? 0 : -1;
        /* the setting's own name: the last part of its dotted key ("seeds" becomes "seed") */
        const char *dot = strrchr(p->axes[a].key, '.');
        const char *name = a == p->seed_axis ? "seed" : dot ? dot + 1 : p->axes[a].key;
        if (!rc) rc = copy_setting(parent, name, config_lookup(&tmp, "v"));
        config_destroy(&tmp);
        if (rc) return -1;
    }
    return 0;
}

/* Drops "<tmp path>:<line>: " from a message about the expanded temporary file:
 * its lines are not the user's. */
static const char *strip_tmp(const char *msg, const char *tmp) {
    size_t n = strlen(tmp);
    if (strncmp(msg, tmp, n)) return msg;
    msg += n;
    if (*msg == ':') msg++;
    while (*msg >= '0' && *msg <= '9') msg++;
    if (*msg == ':') msg++;
    while (*msg == ' ') msg++;
    return msg;
}

nv_status nv_sweep_plan_load(const char *path, int64_t max_tasks, nv_sweep_plan **out, nv_error *err) {
    return nv_sweep_plan_load_with(path, max_tasks, NULL, 0, out, err);
}

nv_status nv_sweep_plan_load_with(const char *path, int64_t max_tasks, const char *const *overrides,
                                  int noverrides, nv_sweep_plan **out, nv_error *err) {
    *out = NULL;
    nv_sweep_plan *p = calloc(1, sizeof *p);
    if (!p) return nv_fail(err, NV_ENOMEM, "out of memory");
    p->seed_axis = -1;
    snprintf(p->source, sizeof p->source, "%s", path);
    config_t c;
    config_init(&c);
    char tmp[] = "/tmp/nerve-sweep-task-XXXXXX";
    int tmpfd = -1;
    nv_status st = NV_OK;
    walk_ctx w = {.p = p, .path = path, .err = err};

    if (access(path, R_OK) != 0) {
        st = nv_fail(err, NV_EINPUT, "%s: cannot open the sweep config (%s)", path, strerror(errno));
        goto done;
    }
    if (config_read_file(&c, path) != CONFIG_TRUE) {
        st = nv_fail(err, NV_EINPUT, "%s:%d: %s (libconfig syntax; a sweep over a key that takes a list is a "
                     "list of lists in parentheses: hidden = ([64, 64], [32, 32, 32]);)",
                     config_error_file(&c) ? config_error_file(&c) : path, config_error_line(&c), config_error_text(&c));
        goto done;
    }
    if ((st = walk(&w, config_root_setting(&c), ""))) goto done;
    if (w.seed_key[0]) {
        if (!strcmp(w.seed_key, "seeds") && config_lookup(&c, "seed")) {
            st = nv_fail(err, NV_EINPUT, "%s: key 'seeds' sweeps the seed, so 'seed' must not be given too", path);
            goto done;
        }
        config_setting_t *s = config_lookup(&c, w.seed_key);
        int m = config_setting_length(s);
        for (int j = 0; j < m; j++) {
            int t = config_setting_type(config_setting_get_elem(s, (unsigned)j));
            if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
                st = nv_fail(err, NV_EINPUT, "%s:%d: key '%s': entry %d: expected a whole number", path,
                             config_setting_source_line(s), w.seed_key, j);
                goto done;
            }
        }
        if ((st = add_axis(&w, s, "seed"))) goto done;
        p->seed_axis = p->naxes - 1;
    }
    /* the size, refused before anything is expanded (a double cannot overflow here) */
    double total = 1;
    for (int a = 0; a < p->naxes; a++) {
        if (p->axes[a].nvalues == 0) {
            st = nv_fail(err, NV_EINPUT, "%s: the sweep is empty: axis '%s' has no values", path, p->axes[a].key);
            goto done;
        }
        total *= p->axes[a].nvalues;
    }
    if (total > (double)max_tasks) {
        st = nv_fail(err, NV_EINPUT, "%s: the sweep has %.0f tasks, more than the limit of %lld; raise it with "
                     "--max-tasks N if you mean it", path, total, (long long)max_tasks);
        goto done;
    }
    p->ntasks = (int64_t)total;
    p->nconfigs = p->ntasks / (p->seed_axis >= 0 ? p->axes[p->seed_axis].nvalues : 1);
    p->digits = 4;
    for (int64_t t = 10000; t < p->ntasks; t *= 10) p->digits++;
    p->task_configs = calloc((size_t)p->ntasks, sizeof(char *));
    p->task_seeds = calloc((size_t)p->ntasks, sizeof(int64_t));
    if (!p->task_configs || !p->task_seeds) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
        goto done;
    }
    tmpfd = mkstemp(tmp);
    if (tmpfd < 0) {
        st = nv_fail(err, NV_EIO, "%s: cannot create a temporary file (%s)", tmp, strerror(errno));
        goto done;
    }
    close(tmpfd);
    int idx[NV_SWEEP_MAX_AXES];
    for (int64_t t = 0; t < p->ntasks && !st; t++) {
        nv_sweep_task_index(p, t, idx);
        char what[2048], name[32];
        describe_task(p, idx, what, sizeof what);
        nv_sweep_task_name(p, t, name, sizeof name);
        config_t tc;
        config_init(&tc);
        if (config_read_file(&tc, path) != CONFIG_TRUE || apply_task(&tc, p, w.seed_key, idx) ||
            config_write_file(&tc, tmp) != CONFIG_TRUE) {
            config_destroy(&tc);
            st = nv_fail(err, NV_EIO, "%s: task %s (%s): expanding the config failed", path, name, what);
            break;
        }
        config_destroy(&tc);
        nv_experiment ex;
        nv_error e2 = {0};
        if (nv_config_load(tmp, overrides, noverrides, &ex, &e2)) {
            st = nv_fail(err, NV_EINPUT, "%s: task %s (%s): %s", path, name, *what ? what : "no axes",
                         strip_tmp(e2.msg, tmp));
            break;
        }
        p->task_seeds[t] = (int64_t)ex.seed;
        p->task_configs[t] = nv_config_resolved_text(&ex);
        if (!p->task_configs[t]) st = nv_fail(err, NV_ENOMEM, "out of memory");
    }
done:
    if (tmpfd >= 0) unlink(tmp);
    config_destroy(&c);
    if (st) nv_sweep_plan_free(p);
    else *out = p;
    return st;
}

/* ---- the sweep directory ----------------------------------------------------------------- */
static json_t *sweep_json(const nv_sweep_plan *p) {
    json_t *root = json_object(), *axes = json_array(), *tasks = json_array();
    json_object_set_new(root, "format", json_string(NV_SWEEP_FORMAT));
    json_object_set_new(root, "format_version", json_integer(NV_SWEEP_VERSION));
    json_object_set_new(root, "source", json_string(p->source));
    for (int a = 0; a < p->naxes; a++) {
        json_t *o = json_object(), *vals = json_array(), *labels = json_array();
        for (int i = 0; i < p->axes[a].nvalues; i++) {
            json_array_append_new(vals, json_loads(p->axes[a].json[i], JSON_DECODE_ANY, NULL));
            json_array_append_new(labels, json_string(p->axes[a].labels[i]));
        }
        json_object_set_new(o, "key", json_string(p->axes[a].key));
        json_object_set_new(o, "values", vals);
        json_object_set_new(o, "labels", labels);
        json_array_append_new(axes, o);
    }
    json_object_set_new(root, "axes", axes);
    json_object_set_new(root, "seed_axis", p->seed_axis >= 0 ? json_string("seed") : json_null());
    json_object_set_new(root, "ntasks", json_integer(p->ntasks));
    json_object_set_new(root, "nconfigs", json_integer(p->nconfigs));
    int idx[NV_SWEEP_MAX_AXES];
    int64_t per_config = p->ntasks / p->nconfigs;
    for (int64_t t = 0; t < p->ntasks; t++) {
        nv_sweep_task_index(p, t, idx);
        char name[32];
        nv_sweep_task_name(p, t, name, sizeof name);
        json_t *o = json_object(), *vals = json_object(), *labels = json_array();
        for (int a = 0; a < p->naxes; a++) {
            json_object_set_new(vals, p->axes[a].key, json_loads(p->axes[a].json[idx[a]], JSON_DECODE_ANY, NULL));
            json_array_append_new(labels, json_string(p->axes[a].labels[idx[a]]));
        }
        json_object_set_new(o, "name", json_string(name));
        json_object_set_new(o, "config", json_integer(t / per_config));
        json_object_set_new(o, "seed", json_integer(p->task_seeds[t]));
        json_object_set_new(o, "values", vals);
        json_object_set_new(o, "labels", labels);
        json_array_append_new(tasks, o);
    }
    json_object_set_new(root, "tasks", tasks);
    return root;
}

nv_status nv_sweep_write(const nv_sweep_plan *p, const char *dir, nv_error *err) {
    char path[4096];
    nv_status st = nv_mkdirs(dir, err);
    if (st) {
        err->status = NV_EINPUT; /* the --out directory is the user's input */
        return NV_EINPUT;
    }
    /* Refuse before writing anything when DIR holds another sweep. */
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    json_t *old = json_load_file(path, 0, NULL);
    if (old) {
        json_int_t n = json_integer_value(json_object_get(old, "ntasks"));
        json_decref(old);
        if (n > p->ntasks)
            return nv_fail(err, NV_EINPUT, "%s holds another sweep (%lld tasks, this one has %lld); choose another --out",
                           dir, (long long)n, (long long)p->ntasks);
    }
    for (int64_t t = 0; t < p->ntasks; t++) {
        char name[32];
        nv_sweep_task_name(p, t, name, sizeof name);
        snprintf(path, sizeof path, "%s/tasks/%s/config.cfg", dir, name);
        char *cur = nv_read_file(path, NULL);
        int differs = cur && strcmp(cur, p->task_configs[t]);
        free(cur);
        if (differs)
            return nv_fail(err, NV_EINPUT, "%s holds another sweep: %s differs from this sweep's task %s; choose "
                           "another --out (or remove that directory)", dir, path, name);
    }
    for (int64_t t = 0; t < p->ntasks && !st; t++) {
        char name[32];
        nv_sweep_task_name(p, t, name, sizeof name);
        snprintf(path, sizeof path, "%s/tasks/%s", dir, name);
        if ((st = nv_mkdirs(path, err))) break;
        snprintf(path, sizeof path, "%s/tasks/%s/config.cfg", dir, name);
        char *cur = nv_read_file(path, NULL);
        if (!cur) st = nv_atomic_write_text(path, p->task_configs[t], err);
        free(cur);
    }
    if (st) return st;
    json_t *j = sweep_json(p);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(j);
    if (!text) return nv_fail(err, NV_ENOMEM, "out of memory");
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    st = nv_atomic_write_text(path, text, err);
    free(text);
    return st;
}

/* ---- reading a sweep directory back ---------------------------------------------------- */
void nv_sweep_index_free(nv_sweep_index *ix) {
    if (!ix) return;
    for (int64_t t = 0; ix->tasks && t < ix->ntasks; t++) {
        for (int a = 0; ix->tasks[t].labels && a < ix->naxes; a++) free(ix->tasks[t].labels[a]);
        free(ix->tasks[t].labels);
    }
    free(ix->tasks);
    free(ix);
}

nv_status nv_sweep_index_load(const char *dir, nv_sweep_index **out, nv_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    *out = NULL;
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return nv_fail(err, NV_EINPUT, "%s: %s (is %s a sweep directory written by `nerve sweep`?)", path,
                       access(path, F_OK) ? "no such file" : je.text, dir);
    nv_status st = NV_OK;
    nv_sweep_index *ix = calloc(1, sizeof *ix);
    const char *fmt = json_string_value(json_object_get(root, "format"));
    json_t *axes = json_object_get(root, "axes"), *tasks = json_object_get(root, "tasks");
    if (!ix) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
        goto done;
    }
    if (!fmt || strcmp(fmt, NV_SWEEP_FORMAT) || !json_is_array(axes) || !json_is_array(tasks) ||
        json_array_size(axes) > NV_SWEEP_MAX_AXES) {
        st = nv_fail(err, NV_EINPUT, "%s: not a nerve-sweep file", path);
        goto done;
    }
    if (json_integer_value(json_object_get(root, "format_version")) != NV_SWEEP_VERSION) {
        st = nv_fail(err, NV_EINPUT, "%s: format_version %lld; this nerve reads version %d", path,
                     (long long)json_integer_value(json_object_get(root, "format_version")), NV_SWEEP_VERSION);
        goto done;
    }
    ix->naxes = (int)json_array_size(axes);
    ix->seed_axis = -1;
    for (int a = 0; a < ix->naxes; a++) {
        const char *k = json_string_value(json_object_get(json_array_get(axes, (size_t)a), "key"));
        snprintf(ix->keys[a], NV_SWEEP_KEY_LEN, "%s", k ? k : "?");
        if (k && !strcmp(k, "seed") && json_is_string(json_object_get(root, "seed_axis"))) ix->seed_axis = a;
    }
    ix->ntasks = (int64_t)json_array_size(tasks);
    ix->nconfigs = json_integer_value(json_object_get(root, "nconfigs"));
    /* collect sizes its tables by nconfigs: every configuration has a task, so
     * there are at most as many as tasks (a claim of 10^15 is refused here) */
    if (ix->nconfigs < 1 || ix->nconfigs > NV_MAX(ix->ntasks, 1)) {
        st = nv_fail(err, NV_EINPUT, "%s: nconfigs %lld: expected 1 .. %lld (the number of tasks)", path,
                     (long long)ix->nconfigs, (long long)NV_MAX(ix->ntasks, 1));
        goto done;
    }
    ix->tasks = calloc((size_t)NV_MAX(ix->ntasks, 1), sizeof *ix->tasks);
    if (!ix->tasks) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
        goto done;
    }
    for (int64_t t = 0; t < ix->ntasks; t++) {
        json_t *o = json_array_get(tasks, (size_t)t), *labels = json_object_get(o, "labels");
        nv_sweep_task *k = &ix->tasks[t];
        const char *name = json_string_value(json_object_get(o, "name"));
        /* Task names become directory names (DIR/tasks/<name>): digits only, as
         * nv_sweep_task_name makes them, so none can be "..", "." or a path. */
        int digits = name && *name && strspn(name, "0123456789") == strlen(name);
        if (!digits || strlen(name) >= sizeof k->name || !json_is_array(labels) ||
            (int)json_array_size(labels) != ix->naxes) {
            st = nv_fail(err, NV_EINPUT, "%s: tasks[%lld]: expected a \"name\" of digits (like \"0007\") and "
                         "\"labels\", a list of %d strings", path, (long long)t, ix->naxes);
            goto done;
        }
        snprintf(k->name, sizeof k->name, "%s", name);
        k->config = json_integer_value(json_object_get(o, "config"));
        k->seed = json_integer_value(json_object_get(o, "seed"));
        k->labels = calloc((size_t)NV_MAX(ix->naxes, 1), sizeof(char *));
        if (!k->labels) {
            st = nv_fail(err, NV_ENOMEM, "out of memory");
            goto done;
        }
        for (int a = 0; a < ix->naxes; a++) {
            const char *l = json_string_value(json_array_get(labels, (size_t)a));
            k->labels[a] = strdup(l ? l : "");
        }
        if (k->config < 0 || k->config >= ix->nconfigs) {
            st = nv_fail(err, NV_EINPUT, "%s: task %s: configuration %lld out of range", path, name, (long long)k->config);
            goto done;
        }
    }
done:
    json_decref(root);
    if (st) nv_sweep_index_free(ix);
    else *out = ix;
    return st;
}

int nv_sweep_task_finished(const char *dir, const char *task_name) {
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/tasks/%s/run/hashes.json", dir, task_name);
    if (access(a, F_OK) != 0) return 0;
    snprintf(a, sizeof a, "%s/tasks/%s/config.cfg", dir, task_name);
    snprintf(b, sizeof b, "%s/tasks/%s/run/config.cfg", dir, task_name);
    char *x = nv_read_file(a, NULL), *y = nv_read_file(b, NULL);
    int same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}
