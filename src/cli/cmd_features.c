/* cmd_features.c: `nerve features RUN`, feature images (activation maximisation,
 * include/nerve/features.h) of every unit of every snapshotted layer at every
 * snapshot epoch of a run. One work item per snapshot file (model x epoch), listed
 * by the run's manifest; each writes analysis/features/<model>/epoch_EEEE.h5
 * atomically and its figures, skips outputs made with the same parameters, and
 * splits over --task/--tasks and --threads. When every epoch of a model is done,
 * the history figures of --history-units are drawn.
 */
#include "cli.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nerve/features.h"
#include "nerve/parallel.h"
#include "nerve/plot.h"
#include "nerve/snapshot.h"
#include "nerve/fsutil.h"

static const char *const usage =
    "usage: nerve features RUN_DIR [options]\n"
    "\n"
    "Gradient-ascent feature images (activation maximisation) of every unit of every\n"
    "snapshotted layer at every snapshot epoch, with the regularisers of Yosinski et\n"
    "al. 2015. Writes RUN_DIR/analysis/features/<model>/epoch_EEEE.h5 and\n"
    "RUN_DIR/analysis/figures/features/*.png (docs/features.md).\n"
    "\n"
    "  --preset K          Yosinski et al.'s setting K = 1..4 (Table 1); options below\n"
    "                      given after it override single values\n"
    "  --steps N           gradient steps (default 500)\n"
    "  --lr F              step as a fraction of the box width, decaying linearly to 0\n"
    "                      (default 0.05)\n"
    "  --decay F           L2 decay towards the data mean per step (default 0)\n"
    "  --blur-every K      Gaussian blur every K steps (images only; default 0: off)\n"
    "  --blur-width S      blur sigma in pixels (default 0)\n"
    "  --norm-pct P        clip pixels whose |x - mean| is below the P-th percentile\n"
    "  --contrib-pct P     clip pixels whose |(x - mean) * grad| is below the P-th percentile\n"
    "  --jitter J          shift images by up to J pixels before each gradient (default 0)\n"
    "  --init I            mean (data mean + 1% noise, default), zeros, or top (the\n"
    "                      unit's most exciting train input)\n"
    "  --pre               maximise and report pre-activations of hidden layers\n"
    "  --box B             feature (per-input [min, max] of the train split) or global\n"
    "                      (one [min, max]); default: global for images, feature otherwise\n"
    "  --seed S            seed of start points and jitter (default 0)\n"
    "  --batch N           units per batched pass (default 0: a whole layer at once)\n"
    "  --device D          auto (default), cpu or cuda\n"
    "  --models A,B        only these models (default: all in the manifest)\n"
    "  --history-units L   units whose image across epochs is drawn (default 0,1,2)\n"
    "  --no-figures        write the HDF5 files only\n"
    "  --threads N         snapshots in parallel (default NERVE_THREADS or all cores)\n"
    "  --task I --tasks N  this task's share of the snapshots (job arrays)\n";

typedef struct {
    const char *run;
    nv_manifest man;
    nv_features_job job;
    int *mine;              /* (man.count) 1 when this task owns the entry */
    char **outs, **figs;    /* (man.count) */
    int done, skipped;
    pthread_mutex_t lock;
    nv_progress prog;
} ctx_t;

static nv_status work(int64_t i, void *vctx, nv_error *err) {
    ctx_t *c = vctx;
    if (!c->mine[i]) return NV_OK;
    const nv_manifest_entry *e = &c->man.files[i];
    char snap[1200], dir[1200];
    snprintf(snap, sizeof snap, "%s/snapshots/%s", c->run, e->path);
    snprintf(dir, sizeof dir, "%s/analysis/features/%s", c->run, e->model);
    nv_status st = nv_mkdirs(dir, err);
    if (st != NV_OK) return st;
    int skipped = 0;
    char dev[16];
    st = nv_features_snapshot(snap, e->model, e->epoch, &c->job, c->outs[i], c->figs[i],
                              &skipped, dev, sizeof dev, err);
    if (st != NV_OK) {
        nv_error_prefix(err, "%s: ", snap);
        return st;
    }
    pthread_mutex_lock(&c->lock);
    c->done++;
    c->skipped += skipped;
    char extra[128];
    snprintf(extra, sizeof extra, "%s e%lld %s", e->model, (long long)e->epoch,
             skipped ? "(up to date)" : dev);
    nv_progress_update(&c->prog, c->done, extra);
    pthread_mutex_unlock(&c->lock);
    return NV_OK;
}

static int parse_units(const char *s, int64_t *out, int cap, int *n) {
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || *n >= cap) return 0;
        out[(*n)++] = v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return 0;
    }
    return 1;
}

/* History figures for models whose every epoch has its features file. */
static nv_status histories(ctx_t *c, const char *figdir, nv_error *err) {
    for (int64_t i = 0; i < c->man.count; i++) {
        if (i > 0 && strcmp(c->man.files[i].model, c->man.files[i - 1].model) == 0) continue;
        if (c->outs[i] == NULL) continue;
        int64_t j = i, n = 0;
        int complete = 1;
        while (j < c->man.count && strcmp(c->man.files[j].model, c->man.files[i].model) == 0) {
            if (!c->outs[j] || access(c->outs[j], R_OK) != 0) complete = 0;
            j++, n++;
        }
        if (!complete) continue;
        const char **paths = malloc((size_t)n * sizeof *paths);
        int64_t *epochs = malloc((size_t)n * sizeof *epochs);
        if (!paths || !epochs) { free(paths); free(epochs); return nv_fail(err, NV_ENOMEM, "out of memory"); }
        for (int64_t k = 0; k < n; k++) {
            paths[k] = c->outs[i + k];
            epochs[k] = c->man.files[i + k].epoch;
        }
        nv_mlp_spec spec;
        nv_real *P = NULL;
        char snap[1200];
        snprintf(snap, sizeof snap, "%s/snapshots/%s", c->run, c->man.files[i].path);
        nv_status st = nv_snapshot_read_params(snap, &spec, &P, err);
        free(P);
        for (int l = 1; st == NV_OK && l <= spec.nlayers; l++) {
            char layer[32];
            if (l == spec.nlayers) snprintf(layer, sizeof layer, "logits");
            else snprintf(layer, sizeof layer, "hidden%d", l);
            for (int h = 0; st == NV_OK && h < c->job.n_history; h++) {
                int64_t u = c->job.history_units[h];
                if (u >= spec.widths[l]) continue;
                char png[1400];
                snprintf(png, sizeof png, "%s/%s_%s_unit%lld_history.png", figdir,
                         c->man.files[i].model, layer, (long long)u);
                st = nv_features_history(paths, epochs, (int)n, layer, u, png, err);
            }
        }
        free(paths);
        free(epochs);
        if (st != NV_OK) return st;
    }
    return NV_OK;
}

int nv_cmd_features(int argc, char **argv) {
    const char *verb = "features";
    ctx_t c;
    memset(&c, 0, sizeof c);
    nv_features_defaults(&c.job.p);
    c.job.device = NV_DEVICE_AUTO;
    c.job.figures = 1;
    int box_set = 0, threads = 0;
    long long task = 0, tasks = 1;
    int64_t hist[64] = {0, 1, 2};
    int nhist = 3;
    const char *models = NULL;
    /* Presets first, so single options override them whatever their order. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) {
            long long k;
            if (nv_cli_int(verb, "--preset", argv[i + 1], 1, 4, &k)) return 2;
            c.job.preset = (int)k;
            nv_error e = {0};
            nv_features_preset((int)k, &c.job.p, &e);
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(usage, stdout); return 0; }
        if (strncmp(a, "--", 2) != 0) {
            if (c.run) return nv_cli_usage(verb, "found a second run directory '%s': expected one", a);
            c.run = a;
            continue;
        }
        if (!strcmp(a, "--pre")) { c.job.p.pre = 1; continue; }
        if (!strcmp(a, "--no-figures")) { c.job.figures = 0; continue; }
        if (i + 1 >= argc) return nv_cli_usage(verb, "option %s needs a value", a);
        const char *v = argv[++i];
        long long iv;
        double dv;
        if (!strcmp(a, "--preset")) continue;
        else if (!strcmp(a, "--steps")) { if (nv_cli_int(verb, a, v, 0, 100000000, &iv)) return 2; c.job.p.steps = iv; }
        else if (!strcmp(a, "--lr")) { if (nv_cli_double(verb, a, v, 1e-9, 10, &dv)) return 2; c.job.p.lr = (float)dv; }
        else if (!strcmp(a, "--decay")) { if (nv_cli_double(verb, a, v, 0, 0.999999, &dv)) return 2; c.job.p.decay = (float)dv; }
        else if (!strcmp(a, "--blur-every")) { if (nv_cli_int(verb, a, v, 0, 1000000, &iv)) return 2; c.job.p.blur_every = (int)iv; }
        else if (!strcmp(a, "--blur-width")) { if (nv_cli_double(verb, a, v, 0, 10, &dv)) return 2; c.job.p.blur_width = (float)dv; }
        else if (!strcmp(a, "--norm-pct")) { if (nv_cli_double(verb, a, v, 0, 100, &dv)) return 2; c.job.p.norm_pct = (float)dv; }
        else if (!strcmp(a, "--contrib-pct")) { if (nv_cli_double(verb, a, v, 0, 100, &dv)) return 2; c.job.p.contrib_pct = (float)dv; }
        else if (!strcmp(a, "--jitter")) { if (nv_cli_int(verb, a, v, 0, 64, &iv)) return 2; c.job.p.jitter = (int)iv; }
        else if (!strcmp(a, "--seed")) { if (nv_cli_int(verb, a, v, 0, (long long)1 << 62, &iv)) return 2; c.job.p.seed = (uint64_t)iv; }
        else if (!strcmp(a, "--batch")) { if (nv_cli_int(verb, a, v, 0, 1 << 30, &iv)) return 2; c.job.p.batch = iv; }
        else if (!strcmp(a, "--threads")) { if (nv_cli_int(verb, a, v, 1, 1024, &iv)) return 2; threads = (int)iv; }
        else if (!strcmp(a, "--task")) { if (nv_cli_int(verb, a, v, 0, 1 << 30, &task)) return 2; }
        else if (!strcmp(a, "--tasks")) { if (nv_cli_int(verb, a, v, 1, 1 << 30, &tasks)) return 2; }
        else if (!strcmp(a, "--models")) models = v;
        else if (!strcmp(a, "--init")) {
            if (!strcmp(v, "mean")) c.job.p.init = NV_FEAT_INIT_MEAN;
            else if (!strcmp(v, "zeros")) c.job.p.init = NV_FEAT_INIT_ZEROS;
            else if (!strcmp(v, "top")) c.job.p.init = NV_FEAT_INIT_TOP;
            else return nv_cli_usage(verb, "option --init: expected mean, zeros or top, found '%s'", v);
        } else if (!strcmp(a, "--box")) {
            if (!strcmp(v, "global")) c.job.box_global = 1;
            else if (!strcmp(v, "feature")) c.job.box_global = 0;
            else return nv_cli_usage(verb, "option --box: expected feature or global, found '%s'", v);
            box_set = 1;
        } else if (!strcmp(a, "--device")) {
            if (!strcmp(v, "auto")) c.job.device = NV_DEVICE_AUTO;
            else if (!strcmp(v, "cpu")) c.job.device = NV_DEVICE_CPU;
            else if (!strcmp(v, "cuda")) c.job.device = NV_DEVICE_CUDA;
            else return nv_cli_usage(verb, "option --device: expected auto, cpu or cuda, found '%s'", v);
        } else if (!strcmp(a, "--history-units")) {
            if (!parse_units(v, hist, 64, &nhist))
                return nv_cli_usage(verb, "option --history-units: expected unit numbers like 0,1,2 (at most 64), found '%s'", v);
        } else return nv_cli_usage(verb, "unknown option '%s'", a);
    }
    if (!c.run) return nv_cli_usage(verb, "expected a run directory");
    if (task >= tasks) return nv_cli_usage(verb, "option --task: %lld is not below --tasks %lld", task, tasks);
    c.job.history_units = hist;
    c.job.n_history = nhist;

    nv_error err = {0};
    char snapdir[1100], figdir[1100];
    snprintf(snapdir, sizeof snapdir, "%s/snapshots", c.run);
    snprintf(figdir, sizeof figdir, "%s/analysis/figures/features", c.run);
    if (access(c.run, F_OK) != 0) {
        fprintf(stderr, "nerve features: %s: no such run directory\n", c.run);
        return 2;
    }
    if (nv_manifest_read(snapdir, &c.man, &err) != NV_OK) return nv_cli_report(verb, &err);
    if (c.man.count == 0) {
        fprintf(stderr, "nerve features: %s/manifest.json lists no snapshots: train first (nerve train)\n", snapdir);
        nv_manifest_free(&c.man);
        return 2;
    }
    int rc = 0;
    c.mine = calloc((size_t)c.man.count, sizeof *c.mine);
    c.outs = calloc((size_t)c.man.count, sizeof *c.outs);
    c.figs = calloc((size_t)c.man.count, sizeof *c.figs);
    if (!c.mine || !c.outs || !c.figs) { fprintf(stderr, "nerve features: out of memory\n"); rc = 1; goto out; }
    /* The box default depends on the input: images (a square of >= 64 inputs) take a
     * global box; read it from the first snapshot's network. */
    if (!box_set) {
        nv_mlp_spec spec;
        nv_real *P = NULL;
        char snap[2048];
        snprintf(snap, sizeof snap, "%s/%s", snapdir, c.man.files[0].path);
        if (nv_snapshot_read_params(snap, &spec, &P, &err) != NV_OK) { rc = nv_cli_report(verb, &err); goto out; }
        free(P);
        int64_t d = spec.widths[0], s = 1;
        while ((s + 1) * (s + 1) <= d) s++;
        c.job.box_global = d >= 64 && s * s == d;
    }
    int64_t mine = 0;
    for (int64_t i = 0; i < c.man.count; i++) {
        const nv_manifest_entry *e = &c.man.files[i];
        if (models) {
            size_t ml = strlen(e->model);
            const char *p = models;
            int found = 0;
            while (*p) {
                const char *q = strchr(p, ',');
                size_t len = q ? (size_t)(q - p) : strlen(p);
                if (len == ml && !strncmp(p, e->model, len)) found = 1;
                p += len + (q ? 1 : 0);
            }
            if (!found) continue;
        }
        char buf[1300];
        snprintf(buf, sizeof buf, "%s/analysis/features/%s/epoch_%04lld.h5", c.run, e->model, (long long)e->epoch);
        c.outs[i] = strdup(buf);
        if (c.job.figures) {
            snprintf(buf, sizeof buf, "%s/%s_e%04lld", figdir, e->model, (long long)e->epoch);
            c.figs[i] = strdup(buf);
        }
        c.mine[i] = nv_task_owns(i, (int)task, (int)tasks);
        mine += c.mine[i];
    }
    if (c.job.figures && nv_mkdirs(figdir, &err) != NV_OK) { rc = nv_cli_report(verb, &err); goto out; }
    {
        char steps[32], reg[160], box[64];
        snprintf(steps, sizeof steps, "%lld (lr %g)", (long long)c.job.p.steps, (double)c.job.p.lr);
        snprintf(reg, sizeof reg, "preset %d: decay %g, blur %g px every %d, norm pct %g, contrib pct %g, jitter %d",
                 c.job.preset, (double)c.job.p.decay, (double)c.job.p.blur_width, c.job.p.blur_every,
                 (double)c.job.p.norm_pct, (double)c.job.p.contrib_pct, c.job.p.jitter);
        snprintf(box, sizeof box, "%s", c.job.box_global ? "global [min, max]" : "per-feature [min, max] (train split)");
        const char *keys[] = {"run", "snapshots", "steps", "regularisers", "box", "device"};
        char snaps[64];
        snprintf(snaps, sizeof snaps, "%lld of %lld (task %lld of %lld)", (long long)mine,
                 (long long)c.man.count, task, tasks);
        const char *dev = c.job.device == NV_DEVICE_CPU ? "cpu" : c.job.device == NV_DEVICE_CUDA ? "cuda" : "auto";
        const char *vals[] = {c.run, snaps, steps, reg, box, dev};
        nv_cli_table(stdout, "nerve features", keys, vals, 6);
        fflush(stdout);
    }
    pthread_mutex_init(&c.lock, NULL);
    nv_progress_start(&c.prog, stdout, "features", mine);
    nv_status st = nv_parallel_for(c.man.count, threads, work, &c, &err);
    if (st == NV_OK && c.job.figures && c.job.n_history > 0) st = histories(&c, figdir, &err);
    pthread_mutex_destroy(&c.lock);
    if (st != NV_OK) { rc = nv_cli_report(verb, &err); goto out; }
    char extra[96];
    snprintf(extra, sizeof extra, "(%d written, %d up to date)", c.done - c.skipped, c.skipped);
    nv_progress_finish(&c.prog, extra);
out:
    for (int64_t i = 0; c.outs && i < c.man.count; i++) { free(c.outs[i]); free(c.figs[i]); }
    free(c.outs); free(c.figs); free(c.mine);
    nv_manifest_free(&c.man);
    /* cairo's font caches otherwise show up as leaks under make SANITIZE=1. */
    if (c.job.figures) nv_plot_release_caches();
    return rc;
}
