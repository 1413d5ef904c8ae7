/* cmd_features.c: `nerve features RUN`, feature images (activation maximisation,
 * include/nerve/features.h) of every unit of every snapshotted layer at every
 * snapshot epoch of a run. The run loop is the library's (nv_features_run,
 * include/nerve/features_run.h: one work item per snapshot file, each writing
 * analysis/features/<model>/epoch_EEEE.h5 atomically and its figures, skipping
 * outputs made with the same parameters, split over --task/--tasks and --threads,
 * then the history figures of --history-units); this file parses the options,
 * calls it, and prints the table, the progress and the closing line.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nerve/features.h"
#include "nerve/features_run.h"
#include "nerve/plot.h"

static const char *const usage =
    "usage: nerve features RUN_DIR [options]\n"
    "\n"
    "Feature views of every unit of the chosen layers at every snapshot epoch: the\n"
    "regularised gradient-ascent image of what the unit wants (Yosinski et al. 2015),\n"
    "its k most exciting training inputs, and their projections to input space by the\n"
    "deconvnet (Zeiler & Fergus 2014), guided backpropagation (Springenberg et al.\n"
    "2015) and gradient rules. Writes RUN_DIR/analysis/features/<model>/epoch_EEEE.h5\n"
    "and RUN_DIR/analysis/figures/features/*.png (docs/features.md).\n"
    "\n"
    "  --preset K          0: the default; 1..4: Yosinski et al.'s regularisers (Table 1),\n"
    "                      re-tuned for 28x28 images and for short vectors; the options\n"
    "                      below override single values\n"
    "  --steps N           gradient steps (default: the preset's)\n"
    "  --lr F              step as a fraction of the box width, decaying linearly to 0\n"
    "  --decay F           L2 decay towards the data mean per step\n"
    "  --blur-every K      Gaussian blur every K steps (images only; 0: off)\n"
    "  --blur-width S      blur sigma in pixels\n"
    "  --norm-pct P        clip pixels whose |x - mean| is below the P-th percentile\n"
    "  --contrib-pct P     clip pixels whose |(x - mean) * grad| is below the P-th percentile\n"
    "  --jitter J          shift images by up to J pixels before each gradient\n"
    "  --init I            mean (data mean + 1% noise, default), zeros, or top (the\n"
    "                      unit's most exciting train input)\n"
    "  --pre               maximise and report pre-activations of hidden layers\n"
    "  --box B             feature (per-input [min, max] of the train split) or global\n"
    "                      (one [min, max]); default: global for images, feature otherwise\n"
    "  --seed S            seed of start points and jitter (default 0)\n"
    "  --batch N           units per batched pass (default 0: a whole layer at once)\n"
    "  --top-k K           training inputs kept (and projected) per unit, 1..64 (default 9)\n"
    "  --no-projections    leave the projections out\n"
    "  --device D          auto (default), cpu or cuda\n"
    "  --models A,B        only these models (default: all in the manifest)\n"
    "  --layers A,B        only these layers (default: every hidden layer and the logits)\n"
    "  --epochs E,F        only these snapshot epochs (default: all)\n"
    "  --history-units L   units drawn large and across epochs (default 0,1,2)\n"
    "  --no-figures        write the HDF5 files only\n"
    "  --threads N         snapshots in parallel (default NERVE_THREADS or all cores)\n"
    "  --task I --tasks N  this task's share of the snapshots (job arrays)\n";

/* What the progress callback needs to print the table and the bar. */
typedef struct {
    const char *run;
    const nv_features_job *job;
    int task, tasks;
    nv_progress prog;
    int started;
} features_ui;

/* Called by nv_features_run, one call at a time: the table once the plan is known,
 * then the progress of each snapshot file. */
static void features_event(void *vctx, const nv_features_run_event *ev) {
    features_ui *ui = vctx;
    if (ev->kind == NV_FEATURES_RUN_EV_START) {
        const nv_features_job *job = ui->job;
        char steps[32], reg[200], box[64];
        /* The settings for this run's input (images and vectors have their own). */
        nv_features_params p = nv_features_job_params(job, ev->report->input_width);
        snprintf(steps, sizeof steps, "%lld (lr %g)", (long long)p.steps, (double)p.lr);
        snprintf(reg, sizeof reg, "preset %d (%s): decay %g, blur %g px every %d, norm pct %g, contrib pct %g, jitter %d",
                 job->preset, p.img_h ? "28x28 images" : "vectors", (double)p.decay,
                 (double)p.blur_width, p.blur_every, (double)p.norm_pct, (double)p.contrib_pct, p.jitter);
        snprintf(box, sizeof box, "%s", ev->report->box_global ? "global [min, max]" : "per-feature [min, max] (train split)");
        char views[96];
        snprintf(views, sizeof views, "top %d inputs%s", job->top_k > 0 ? job->top_k : NV_FEATURES_TOPK,
                 job->no_projections ? "" : " + deconvnet, guided, gradient projections");
        const char *keys[] = {"run", "snapshots", "steps", "regularisers", "box", "real inputs", "device"};
        char snaps[64];
        snprintf(snaps, sizeof snaps, "%lld of %lld (task %d of %d)", (long long)ev->report->files_owned,
                 (long long)ev->report->files_total, ui->task, ui->tasks);
        const char *dev = job->device == NV_DEVICE_CPU ? "cpu" : job->device == NV_DEVICE_CUDA ? "cuda" : "auto";
        const char *vals[] = {ui->run, snaps, steps, reg, box, views, dev};
        nv_cli_table(stdout, "nerve features", keys, vals, 7);
        fflush(stdout);
        nv_progress_start(&ui->prog, stdout, "features", ev->total);
        ui->started = 1;
    } else if (ev->kind == NV_FEATURES_RUN_EV_FILE_DONE) {
        char extra[128];
        snprintf(extra, sizeof extra, "%s e%lld %s", ev->model, (long long)ev->epoch,
                 ev->skipped ? "(up to date)" : ev->device);
        nv_progress_update(&ui->prog, ev->done, extra);
    }
}

/* "a,b" -> names (pointers into the modified copy *buf); empty names are skipped.
 * Returns the count, or -1 when there is none. */
static int parse_names(const char *s, char **buf, const char **out, int cap) {
    *buf = strdup(s);
    if (!*buf) return -1;
    int n = 0;
    for (char *p = *buf, *q; p; p = q) {
        q = strchr(p, ',');
        if (q) *q++ = '\0';
        if (*p && n < cap) out[n++] = p;
    }
    return n > 0 ? n : -1;
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

int nv_cmd_features(int argc, char **argv) {
    const char *verb = "features";
    const char *run = NULL;
    nv_features_run_options o;
    memset(&o, 0, sizeof o);
    nv_features_defaults(&o.job.p);
    o.job.device = NV_DEVICE_AUTO;
    o.job.figures = 1;
    o.job.tuned = 1; /* the preset for the run's kind of input, then the options given */
    int box_set = 0;
    long long task = 0, tasks = 1;
    int64_t hist[64] = {0, 1, 2};
    int nhist = 3;
    const char *models = NULL, *layers = NULL, *epochs = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(usage, stdout); return 0; }
        if (strncmp(a, "--", 2) != 0) {
            if (run) return nv_cli_usage(verb, "found a second run directory '%s': expected one", a);
            run = a;
            continue;
        }
        if (!strcmp(a, "--pre")) { o.job.p.pre = 1; continue; }
        if (!strcmp(a, "--no-figures")) { o.job.figures = 0; continue; }
        if (!strcmp(a, "--no-projections")) { o.job.no_projections = 1; continue; }
        if (i + 1 >= argc) return nv_cli_usage(verb, "option %s needs a value", a);
        const char *v = argv[++i];
        long long iv;
        double dv;
        if (!strcmp(a, "--preset")) { if (nv_cli_int(verb, a, v, 0, NV_FEATURES_PRESETS, &iv)) return 2; o.job.preset = (int)iv; }
        else if (!strcmp(a, "--steps")) { if (nv_cli_int(verb, a, v, 0, 100000000, &iv)) return 2; o.job.p.steps = iv; o.job.set |= NV_FEAT_SET_STEPS; }
        else if (!strcmp(a, "--lr")) { if (nv_cli_double(verb, a, v, 1e-9, 10, &dv)) return 2; o.job.p.lr = (float)dv; o.job.set |= NV_FEAT_SET_LR; }
        else if (!strcmp(a, "--decay")) { if (nv_cli_double(verb, a, v, 0, 0.999999, &dv)) return 2; o.job.p.decay = (float)dv; o.job.set |= NV_FEAT_SET_DECAY; }
        else if (!strcmp(a, "--blur-every")) { if (nv_cli_int(verb, a, v, 0, 1000000, &iv)) return 2; o.job.p.blur_every = (int)iv; o.job.set |= NV_FEAT_SET_BLUR_EVERY; }
        else if (!strcmp(a, "--blur-width")) { if (nv_cli_double(verb, a, v, 0, 10, &dv)) return 2; o.job.p.blur_width = (float)dv; o.job.set |= NV_FEAT_SET_BLUR_WIDTH; }
        else if (!strcmp(a, "--norm-pct")) { if (nv_cli_double(verb, a, v, 0, 100, &dv)) return 2; o.job.p.norm_pct = (float)dv; o.job.set |= NV_FEAT_SET_NORM_PCT; }
        else if (!strcmp(a, "--contrib-pct")) { if (nv_cli_double(verb, a, v, 0, 100, &dv)) return 2; o.job.p.contrib_pct = (float)dv; o.job.set |= NV_FEAT_SET_CONTRIB_PCT; }
        else if (!strcmp(a, "--jitter")) { if (nv_cli_int(verb, a, v, 0, 64, &iv)) return 2; o.job.p.jitter = (int)iv; o.job.set |= NV_FEAT_SET_JITTER; }
        else if (!strcmp(a, "--top-k")) { if (nv_cli_int(verb, a, v, 1, NV_FEATURES_MAX_TOPK, &iv)) return 2; o.job.top_k = (int)iv; }
        else if (!strcmp(a, "--layers") || !strcmp(a, "--layer")) layers = v;
        else if (!strcmp(a, "--epochs")) epochs = v;
        else if (!strcmp(a, "--seed")) { if (nv_cli_int(verb, a, v, 0, (long long)1 << 62, &iv)) return 2; o.job.p.seed = (uint64_t)iv; }
        else if (!strcmp(a, "--batch")) { if (nv_cli_int(verb, a, v, 0, 1 << 30, &iv)) return 2; o.job.p.batch = iv; }
        else if (!strcmp(a, "--threads")) { if (nv_cli_int(verb, a, v, 1, 1024, &iv)) return 2; o.threads = (int)iv; }
        else if (!strcmp(a, "--task")) { if (nv_cli_int(verb, a, v, 0, 1 << 30, &task)) return 2; }
        else if (!strcmp(a, "--tasks")) { if (nv_cli_int(verb, a, v, 1, 1 << 30, &tasks)) return 2; }
        else if (!strcmp(a, "--models")) models = v;
        else if (!strcmp(a, "--init")) {
            if (!strcmp(v, "mean")) o.job.p.init = NV_FEAT_INIT_MEAN;
            else if (!strcmp(v, "zeros")) o.job.p.init = NV_FEAT_INIT_ZEROS;
            else if (!strcmp(v, "top")) o.job.p.init = NV_FEAT_INIT_TOP;
            else return nv_cli_usage(verb, "option --init: expected mean, zeros or top, found '%s'", v);
        } else if (!strcmp(a, "--box")) {
            if (!strcmp(v, "global")) o.job.box_global = 1;
            else if (!strcmp(v, "feature")) o.job.box_global = 0;
            else return nv_cli_usage(verb, "option --box: expected feature or global, found '%s'", v);
            box_set = 1;
        } else if (!strcmp(a, "--device")) {
            if (!strcmp(v, "auto")) o.job.device = NV_DEVICE_AUTO;
            else if (!strcmp(v, "cpu")) o.job.device = NV_DEVICE_CPU;
            else if (!strcmp(v, "cuda")) o.job.device = NV_DEVICE_CUDA;
            else return nv_cli_usage(verb, "option --device: expected auto, cpu or cuda, found '%s'", v);
        } else if (!strcmp(a, "--history-units")) {
            if (!parse_units(v, hist, 64, &nhist))
                return nv_cli_usage(verb, "option --history-units: expected unit numbers like 0,1,2 (at most 64), found '%s'", v);
        } else return nv_cli_usage(verb, "unknown option '%s'", a);
    }
    if (!run) return nv_cli_usage(verb, "expected a run directory");
    if (task >= tasks) return nv_cli_usage(verb, "option --task: %lld is not below --tasks %lld", task, tasks);
    o.job.history_units = hist;
    o.job.n_history = nhist;
    o.box_auto = !box_set;
    o.task = (int)task;
    o.tasks = (int)tasks;
    char *model_buf = NULL;
    const char *model_names[64];
    if (models) {
        int n = parse_names(models, &model_buf, model_names, 64);
        if (n < 0) {
            free(model_buf);
            return nv_cli_usage(verb, "option --models: expected model names like expressive,bottleneck, found '%s'", models);
        }
        o.select.models = model_names;
        o.select.n_models = n;
    }
    char *layer_buf = NULL;
    const char *layer_names[64];
    if (layers) {
        int n = parse_names(layers, &layer_buf, layer_names, 64);
        if (n < 0) {
            free(model_buf);
            free(layer_buf);
            return nv_cli_usage(verb, "option --layers: expected layer names like hidden1,logits, found '%s'", layers);
        }
        o.select.layers = layer_names;
        o.select.n_layers = n;
    }
    int64_t epoch_list[64];
    if (epochs) {
        int n = 0;
        if (!parse_units(epochs, epoch_list, 64, &n) || n == 0) {
            free(model_buf);
            free(layer_buf);
            return nv_cli_usage(verb, "option --epochs: expected epochs like 0,8 (at most 64), found '%s'", epochs);
        }
        o.select.epochs = epoch_list;
        o.select.n_epochs = n;
    }
    /* A missing path is not a run (a directory without a manifest is refused by the
     * run index). */
    if (access(run, F_OK) != 0) {
        fprintf(stderr, "nerve features: %s: no such run directory\n", run);
        free(model_buf);
        free(layer_buf);
        return 2;
    }
    features_ui ui = {.run = run, .job = &o.job, .task = o.task, .tasks = o.tasks};
    o.on_event = features_event;
    o.ctx = &ui;
    nv_features_run_report rep;
    nv_error err = {0};
    nv_status st = nv_features_run(run, &o, &rep, &err);
    free(model_buf);
    free(layer_buf);
    int rc = 0;
    if (st != NV_OK) rc = nv_cli_report(verb, &err);
    else if (ui.started) {
        char extra[96];
        snprintf(extra, sizeof extra, "(%lld written, %lld up to date)", (long long)rep.files_written,
                 (long long)rep.files_skipped);
        nv_progress_finish(&ui.prog, extra);
    }
    /* cairo's font caches otherwise show up as leaks under make SANITIZE=1. */
    if (o.job.figures) nv_plot_release_caches();
    return rc;
}
