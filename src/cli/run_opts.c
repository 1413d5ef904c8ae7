/* run_opts.c: the one parser of the options every RUN verb shares (run_opts.h):
 * names and aliases, value syntax, which verb honours which option (and why not),
 * the check of the selection against the run index, and the warning for a run whose
 * training has not finished. */
#include "run_opts.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The options: canonical name, alias, bit, whether it takes a value. */
typedef struct {
    const char *name, *alias;
    unsigned bit;
    int value;
} opt_def;

static const opt_def OPTS[] = {
    {"--model", "--models", NV_RO_MODELS, 1},   {"--layer", "--layers", NV_RO_LAYERS, 1},
    {"--split", "--splits", NV_RO_SPLITS, 1},   {"--epoch", "--epochs", NV_RO_EPOCHS, 1},
    {"--task", NULL, NV_RO_TASKS, 1},           {"--tasks", NULL, NV_RO_TASKS, 1},
    {"--force", NULL, NV_RO_FORCE, 0},          {"--threads", NULL, NV_RO_THREADS, 1},
    {"--device", NULL, NV_RO_DEVICE, 1},
};

/* Which verb honours which option, and why it does not honour the others. The
 * reasons are indexed by bit position. */
typedef struct {
    const char *verb;
    unsigned honours;
    int cpu_only;                    /* --device cuda refused: no GPU path */
    const char *why[NV_RO_NOPTS];
} verb_def;

#define RO_ALL ((1u << NV_RO_NOPTS) - 1)
static const verb_def VERBS[] = {
    {"ph", RO_ALL, 0, {0}},
    {"pca", RO_ALL & ~NV_RO_SPLITS, 0,
     {[2] = "PCA is fitted on the `all` split and every output holds the train, test and "
            "all projections"}},
    {"stats", RO_ALL & ~NV_RO_SPLITS, 1,
     {[2] = "stats uses every split by design: intrinsic dimension per split, the probe "
            "fitted on train and scored on test, CKA on all"}},
    {"features", RO_ALL & ~NV_RO_SPLITS, 0,
     {[2] = "feature images depend on the weights, not on a split (the train split only "
            "sets the input box)"}},
    {"analyze", RO_ALL, 0, {0}},
};

static const verb_def *find_verb(const char *verb) {
    for (size_t i = 0; i < NV_ARRAY_LEN(VERBS); i++)
        if (!strcmp(VERBS[i].verb, verb)) return &VERBS[i];
    return &VERBS[NV_ARRAY_LEN(VERBS) - 1];
}

static int bit_index(unsigned bit) {
    int k = 0;
    while (bit > 1) bit >>= 1, k++;
    return k;
}

unsigned nv_run_opts_honoured(const char *verb) { return find_verb(verb)->honours; }

void nv_run_opts_init(nv_run_opts *o, const char *verb) {
    memset(o, 0, sizeof *o);
    o->verb = verb;
    o->tasks = 1;
    o->device = NV_DEVICE_AUTO;
    o->device_name = "auto";
}

void nv_run_opts_free(nv_run_opts *o) {
    for (int i = 0; i < o->n_owned; i++) free(o->owned[i]);
    o->n_owned = 0;
}

/* Splits a comma list into list[] (pointers into a copy o keeps). Empty items are
 * refused; so is an item given twice. */
static int add_list(nv_run_opts *o, const char *opt, const char *val, const char **list, int *n, int cap) {
    if (o->n_owned == NV_RO_MAX_PASS) return nv_cli_usage(o->verb, "option %s: too many values", opt);
    char *copy = strdup(val);
    if (!copy) return nv_cli_usage(o->verb, "out of memory");
    o->owned[o->n_owned++] = copy;
    if (!*copy) return nv_cli_usage(o->verb, "option %s: expected a comma-separated list, found ''", opt);
    for (char *p = copy, *q; p; p = q) {
        q = strchr(p, ',');
        if (q) *q++ = '\0';
        if (!*p) return nv_cli_usage(o->verb, "option %s: empty item in '%s'", opt, val);
        for (int k = 0; k < *n; k++)
            if (!strcmp(list[k], p)) return nv_cli_usage(o->verb, "option %s: '%s' given twice", opt, p);
        if (*n == cap) return nv_cli_usage(o->verb, "option %s: more than %d values", opt, cap);
        list[(*n)++] = p;
    }
    return 0;
}

/* `typed`: the option as the user wrote it (an alias too), for the messages. */
static int set(nv_run_opts *o, const opt_def *d, const char *typed, const char *val) {
    long long v;
    int rc = 0;
    switch (d->bit) {
    case NV_RO_MODELS: rc = add_list(o, typed, val, o->models, &o->n_models, NV_RO_CAP); break;
    case NV_RO_LAYERS: rc = add_list(o, typed, val, o->layers, &o->n_layers, NV_RO_CAP); break;
    case NV_RO_SPLITS: {
        int before = o->n_splits;
        rc = add_list(o, typed, val, o->splits, &o->n_splits, 3);
        for (int s = before; !rc && s < o->n_splits; s++)
            if (strcmp(o->splits[s], "train") && strcmp(o->splits[s], "test") && strcmp(o->splits[s], "all"))
                rc = nv_cli_usage(o->verb, "option %s: found '%s': a run's splits are train, test and all",
                                  typed, o->splits[s]);
        break;
    }
    case NV_RO_EPOCHS: {
        const char *strs[NV_RO_CAP];
        int n = 0;
        rc = add_list(o, typed, val, strs, &n, NV_RO_CAP - o->n_epochs);
        for (int k = 0; !rc && k < n; k++) {
            rc = nv_cli_int(o->verb, typed, strs[k], 0, 1LL << 40, &v);
            for (int j = 0; !rc && j < o->n_epochs; j++)
                if (o->epochs[j] == v) rc = nv_cli_usage(o->verb, "option %s: %lld given twice", typed, v);
            if (!rc) o->epochs[o->n_epochs++] = v;
        }
        break;
    }
    case NV_RO_TASKS:
        if (!strcmp(d->name, "--task")) {
            if (!(rc = nv_cli_int(o->verb, "--task", val, 0, 1 << 30, &v))) o->task = (int)v;
        } else if (!(rc = nv_cli_int(o->verb, "--tasks", val, 1, 1 << 30, &v))) {
            o->tasks = (int)v;
        }
        break;
    case NV_RO_FORCE: o->force = 1; break;
    case NV_RO_THREADS:
        if (!(rc = nv_cli_int(o->verb, "--threads", val, 1, 4096, &v))) o->threads = (int)v;
        break;
    case NV_RO_DEVICE:
        if (!strcmp(val, "auto")) o->device = NV_DEVICE_AUTO;
        else if (!strcmp(val, "cpu")) o->device = NV_DEVICE_CPU;
        else if (!strcmp(val, "cuda")) o->device = NV_DEVICE_CUDA;
        else rc = nv_cli_usage(o->verb, "option --device: found '%s': expected auto, cpu or cuda", val);
        o->device_name = val;
        break;
    }
    if (rc) return rc;
    o->given |= d->bit;
    if (o->n_pass < NV_RO_MAX_PASS) {
        o->pass_name[o->n_pass] = d->name;
        o->pass_val[o->n_pass] = d->value ? val : NULL;
        o->pass_bit[o->n_pass] = d->bit;
        o->n_pass++;
    }
    return 0;
}

int nv_run_opts_take(nv_run_opts *o, int argc, char **argv, int *i, int *rc) {
    const char *a = argv[*i];
    *rc = 0;
    if (strncmp(a, "--", 2) != 0) return 0;
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    for (size_t k = 0; k < NV_ARRAY_LEN(OPTS); k++) {
        const opt_def *d = &OPTS[k];
        int hit = (strlen(d->name) == len && !strncmp(a, d->name, len)) ||
                  (d->alias && strlen(d->alias) == len && !strncmp(a, d->alias, len));
        if (!hit) continue;
        const char *val = NULL;
        if (d->value) {
            if (eq) val = eq + 1;
            else if (*i + 1 < argc) val = argv[++*i];
            else {
                *rc = nv_cli_usage(o->verb, "option %s needs a value", d->name);
                return 1;
            }
        } else if (eq) {
            *rc = nv_cli_usage(o->verb, "option %s takes no value, found '%s'", d->name, a);
            return 1;
        }
        char typed[32];
        snprintf(typed, sizeof typed, "%.*s", (int)len, a);
        *rc = set(o, d, typed, val);
        return 1;
    }
    return 0;
}

nv_run_select nv_run_opts_select(const nv_run_opts *o) {
    nv_run_select s = {o->models, o->n_models, o->layers, o->n_layers, o->epochs, o->n_epochs};
    return s;
}

/* Once per run and process (analyze calls every stage in one process). */
static void warn_unfinished(const char *verb, const char *run, int64_t files) {
    static char warned[4096];
    char path[4200];
    snprintf(path, sizeof path, "%s/hashes.json", run);
    if (access(path, F_OK) == 0 || !strcmp(warned, run)) return;
    snprintf(warned, sizeof warned, "%s", run);
    snprintf(path, sizeof path, "%s/run.json", run);
    json_t *j = json_load_file(path, 0, NULL);
    const char *status = j ? json_string_value(json_object_get(j, "status")) : NULL;
    char why[96];
    if (status) snprintf(why, sizeof why, "run.json says \"%s\"", status);
    else snprintf(why, sizeof why, "it has no hashes.json");
    fprintf(stderr,
            "nerve %s: warning: the training of %s has not finished (%s): only the %lld snapshot "
            "files written so far are analysed; finish it with `nerve train %s/config.cfg --out %s "
            "--resume`, then run this again\n",
            verb, run, why, (long long)files, run, run);
    if (j) json_decref(j);
}

int nv_run_opts_check(nv_run_opts *o, const char *run) {
    const verb_def *v = find_verb(o->verb);
    for (size_t k = 0; k < NV_ARRAY_LEN(OPTS); k++) {
        const opt_def *d = &OPTS[k];
        if (!(o->given & d->bit) || (v->honours & d->bit)) continue;
        const char *why = v->why[bit_index(d->bit)];
        return nv_cli_usage(o->verb, "option %s does not apply to nerve %s: %s", d->name, o->verb,
                            why ? why : "not supported");
    }
    if (v->cpu_only && o->device == NV_DEVICE_CUDA)
        return nv_cli_usage(o->verb, "option --device cuda: nerve %s has no GPU path (it runs on the "
                            "CPU); use --device auto or cpu", o->verb);
    if (o->task >= o->tasks)
        return nv_cli_usage(o->verb, "option --task %d: expected 0 <= task < --tasks (%d)", o->task, o->tasks);
    nv_run_index_opts io = {.select = nv_run_opts_select(o), .task = o->task, .tasks = o->tasks,
                            .keep_layerless = 1};
    nv_run_index ix;
    nv_error err = {0};
    if (nv_run_index_read(run, &io, &ix, &err) != NV_OK) return nv_cli_report(o->verb, &err);
    int64_t files = ix.n_manifest;
    nv_run_index_free(&ix);
    warn_unfinished(o->verb, run, files);
    return 0;
}

void nv_run_opts_help(FILE *f, const char *verb) {
    static const char *const lines[NV_RO_NOPTS] = {
        "  --model M,..       only these models (expressive, bottleneck, linear); alias --models\n",
        "  --layer L,..       only these layers (input, hidden1, ..., logits); alias --layers\n",
        "  --split S,..       only these splits (train, test, all); alias --splits\n",
        "  --epoch E,..       only these snapshot epochs; alias --epochs\n",
        "  --task I --tasks N job-array slice: this task's share of the snapshot files\n",
        "  --force            recompute outputs that exist with the same parameters\n",
        "  --threads T        worker threads (default NERVE_THREADS or all cores)\n",
        "  --device D         auto (default), cpu or cuda\n",
    };
    const verb_def *v = find_verb(verb);
    fprintf(f, "\nOptions every RUN verb shares (lists are comma-separated and repeatable; each\n"
               "value is checked against what the run holds):\n");
    for (int k = 0; k < NV_RO_NOPTS; k++)
        if (v->honours & (1u << k)) fputs(lines[k], f);
    for (int k = 0; k < NV_RO_NOPTS; k++)
        if (!(v->honours & (1u << k))) {
            char name[32], text[512];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(lines[k] + 2, " "), lines[k] + 2);
            snprintf(text, sizeof text, "(%s is refused here: %s)", name, v->why[k] ? v->why[k] : "not supported");
            /* wrapped at 86 columns, continuation lines indented */
            const char *p = text;
            int first = 1;
            while (*p) {
                int width = first ? 84 : 82, n = (int)strlen(p);
                if (n > width) {
                    n = width;
                    while (n > 0 && p[n] != ' ') n--;
                    if (n == 0) n = width;
                }
                fprintf(f, "%s%.*s\n", first ? "  " : "    ", n, p);
                p += n;
                while (*p == ' ') p++;
                first = 0;
            }
        }
    if (v->cpu_only) fprintf(f, "  (--device: CPU only; auto and cpu are accepted)\n");
}

int nv_run_opts_argv(const nv_run_opts *o, unsigned which, char **av, int ac, int cap) {
    for (int k = 0; k < o->n_pass && ac + 2 < cap; k++) {
        if (!(o->pass_bit[k] & which)) continue;
        av[ac++] = (char *)o->pass_name[k];
        if (o->pass_val[k]) av[ac++] = (char *)o->pass_val[k];
    }
    return ac;
}
