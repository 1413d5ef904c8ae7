/* cmd_ph_run.c: `nerve ph RUN`, persistent homology of every snapshot of a run
 * (include/nerve/phrun.h, docs/ph-runs.md). `nerve ph` hands run directories here
 * with argv[0] = "ph" and the run directory as the first positional argument.
 *
 * This file only parses flags, prints the resolved settings and progress, and maps
 * statuses to exit codes (bad input: 2); the work is in analysis/ph_run*.c.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/phrun.h"
#include "nerve/plot.h"

static const char *const phrun_usage =
    "usage: nerve ph RUN [options]\n"
    "\n"
    "Persistent homology of every snapshot of a training run: for each model x epoch x\n"
    "layer x split, each class and all classes together, the barcode of at most N\n"
    "max-min landmarks, stored in RUN/analysis/ph/<model>/epoch_EEEE.h5; then\n"
    "summary.csv, distances.csv and the figures in RUN/analysis/figures/.\n"
    "Outputs made with the same parameters are skipped, so a rerun resumes.\n"
    "\n"
    "  --metric M          knn-hops (default), knn-weighted, euclidean, cosine\n"
    "  --k K               neighbours of the kNN graph (default: calibrated)\n"
    "  --scale S           scale at which Betti numbers are read (default: calibrated)\n"
    "  --k-range A,B       calibration range of k (default 14,40)\n"
    "  --target-betti B    each class's Betti numbers on the input layer, e.g. 1,0,\n"
    "                      or per class (ascending labels) 9,0/1,9 (default: from\n"
    "                      the data: spheres, disks, tori; otherwise 1)\n"
    "  --max-dim D         homology dimensions 0..D (default 1)\n"
    "  --threshold T       Rips threshold, or inf (default: the scale for knn-hops,\n"
    "                      none otherwise; Betti numbers at the scale are exact)\n"
    "  --landmarks N       max-min landmarks per snapshot and class (default 200),\n"
    "                      or all (every point)\n"
    "  --dedup             remove exact duplicate rows of each class set first\n"
    "  --models LIST       only these models (e.g. expressive,bottleneck)\n"
    "  --label-k K         the labelled kNN filtration, k = 1..K (default 20; 0: off)\n"
    "  --label-split S     its split (default test)\n"
    "  --splits LIST       train,test,all (default all)\n"
    "  --layer NAME        only this layer (input, hidden1, ..., logits)\n"
    "  --threads N         worker threads (default NERVE_THREADS or all cores)\n"
    "  --device D          auto (default), cpu or cuda: where the column assembly of\n"
    "                      persistent homology runs (docs/ph.md); same diagrams\n"
    "  --task I --tasks N  compute only slice I of N (job arrays); every task writes\n"
    "                      the summary of what exists\n"
    "  --summarize-only    only rewrite summary.csv, distances.csv and the figures\n"
    "  --no-figures        skip the figures\n"
    "  --no-distances      skip distances.csv (bottleneck and Wasserstein distances;\n"
    "                      slow for diagrams of thousands of points)\n"
    "  --force             recompute everything\n";

typedef struct {
    nv_progress bar;
    int started;
    int quiet;
} phrun_ui;

static void phrun_event(void *vctx, const nv_phrun_event *ev) {
    phrun_ui *ui = vctx;
    switch (ev->kind) {
    case NV_PHRUN_EV_START:
        if (ev->total > 0) {
            nv_progress_start(&ui->bar, stderr, "diagram files", ev->total);
            ui->started = 1;
        }
        break;
    case NV_PHRUN_EV_FILE_DONE:
        if (ui->started) nv_progress_update(&ui->bar, ev->done, NULL);
        break;
    case NV_PHRUN_EV_SUMMARY:
        if (ui->started) {
            nv_progress_finish(&ui->bar, NULL);
            ui->started = 0;
        }
        fprintf(stderr, "summary: %s\n", ev->text ? ev->text : "");
        break;
    case NV_PHRUN_EV_NOTE:
        fprintf(stderr, "%s\n", ev->text ? ev->text : "");
        break;
    }
}

/* "1,0,2" -> values; returns the count or -1. */
static int parse_list(const char *s, long long *out, int cap, long long lo, long long hi) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < lo || v > hi || n == cap) return -1;
        out[n++] = v;
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return n;
}

int nv_cmd_ph_run(int argc, char **argv) {
    const char *verb = "ph";
    nv_phrun_options o;
    nv_phrun_options_defaults(&o);
    const char *run = NULL;
    int summarize_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(phrun_usage, stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (run) return nv_cli_usage(verb, "found a second run directory '%s': expected one", a);
            run = a;
            continue;
        }
        char name[64];
        const char *val = NULL, *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        int flag = !strcmp(name, "--summarize-only") || !strcmp(name, "--no-figures") || !strcmp(name, "--force") ||
                   !strcmp(name, "--dedup") || !strcmp(name, "--no-distances");
        if (!flag && !val) {
            if (i + 1 >= argc) return nv_cli_usage(verb, "option %s needs a value", name);
            val = argv[++i];
        }
        long long iv, list[NV_PHRUN_MAX_DIMS];
        double dv;
        if (!strcmp(name, "--metric")) {
            int m = nv_metric_parse(val);
            if (m < 0)
                return nv_cli_usage(verb, "option --metric: found '%s': expected knn-hops, knn-weighted, "
                                    "euclidean or cosine", val);
            o.metric = (nv_metric_kind)m;
        } else if (!strcmp(name, "--k")) {
            if (nv_cli_int(verb, name, val, 1, 100000, &iv)) return 2;
            o.k = (int)iv;
        } else if (!strcmp(name, "--scale")) {
            if (nv_cli_double(verb, name, val, 0, 1e30, &dv)) return 2;
            o.scale = dv;
        } else if (!strcmp(name, "--k-range")) {
            if (parse_list(val, list, 2, 1, 100000) != 2 || list[0] > list[1])
                return nv_cli_usage(verb, "option --k-range: found '%s': expected A,B with 1 <= A <= B", val);
            o.k_min = (int)list[0];
            o.k_max = (int)list[1];
        } else if (!strcmp(name, "--target-betti")) {
            /* "1,0" for every class, or "9,0/1,9": one list per class, same length */
            char buf[512];
            snprintf(buf, sizeof buf, "%s", val);
            int nc = 0, n = 0;
            for (char *save = NULL, *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                int m = parse_list(t, list, NV_PHRUN_MAX_DIMS, 0, 1000000);
                if (m < 1 || (nc > 0 && m != n) || nc == NV_PHRUN_MAX_TCLASSES)
                    return nv_cli_usage(verb, "option --target-betti: found '%s': expected counts like 1,0, "
                                        "or one list per class of the same length like 9,0/1,9", val);
                n = m;
                for (int d = 0; d < m; d++) o.class_target[nc][d] = o.target[d] = list[d];
                nc++;
            }
            if (nc == 0)
                return nv_cli_usage(verb, "option --target-betti: found '%s': expected counts like 1,0", val);
            o.ntarget = n;
            o.ntarget_classes = nc > 1 ? nc : 0;
            if (nc == 1) memcpy(o.target, o.class_target[0], sizeof o.target);
        } else if (!strcmp(name, "--threshold")) {
            if (!strcmp(val, "inf") || !strcmp(val, "none")) {
                o.threshold = INFINITY;
            } else {
                if (nv_cli_double(verb, name, val, 0, 1e30, &dv)) return 2;
                o.threshold = dv;
            }
        } else if (!strcmp(name, "--max-dim")) {
            if (nv_cli_int(verb, name, val, 0, 3, &iv)) return 2;
            o.max_dim = (int)iv;
        } else if (!strcmp(name, "--landmarks")) {
            if (!strcmp(val, "all")) {
                o.landmarks = 0;
            } else {
                if (nv_cli_int(verb, name, val, 2, 20000, &iv)) return 2;
                o.landmarks = iv;
            }
        } else if (!strcmp(name, "--dedup")) {
            o.dedup = 1;
        } else if (!strcmp(name, "--models")) {
            o.nmodels = 0;
            char buf[512];
            snprintf(buf, sizeof buf, "%s", val);
            for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (o.nmodels == NV_PHRUN_MAX_MODELS)
                    return nv_cli_usage(verb, "option --models: at most %d models", NV_PHRUN_MAX_MODELS);
                snprintf(o.models[o.nmodels++], sizeof o.models[0], "%s", t);
            }
            if (o.nmodels == 0) return nv_cli_usage(verb, "option --models: expected model names");
        } else if (!strcmp(name, "--label-k")) {
            if (nv_cli_int(verb, name, val, 0, 200, &iv)) return 2;
            o.label_k = (int)iv;
        } else if (!strcmp(name, "--label-split")) {
            if (strcmp(val, "train") && strcmp(val, "test") && strcmp(val, "all"))
                return nv_cli_usage(verb, "option --label-split: found '%s': expected train, test, all", val);
            snprintf(o.label_split, sizeof o.label_split, "%s", val);
        } else if (!strcmp(name, "--splits")) {
            o.nsplits = 0;
            char buf[64];
            snprintf(buf, sizeof buf, "%s", val);
            for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (strcmp(t, "train") && strcmp(t, "test") && strcmp(t, "all"))
                    return nv_cli_usage(verb, "option --splits: found '%s': expected train, test, all", t);
                for (int s = 0; s < o.nsplits; s++)
                    if (!strcmp(o.splits[s], t))
                        return nv_cli_usage(verb, "option --splits: '%s' given twice", t);
                if (o.nsplits == NV_PHRUN_MAX_SPLITS)
                    return nv_cli_usage(verb, "option --splits: at most 3 splits");
                snprintf(o.splits[o.nsplits++], sizeof o.splits[0], "%s", t);
            }
            if (o.nsplits == 0) return nv_cli_usage(verb, "option --splits: expected train, test, all");
        } else if (!strcmp(name, "--layer")) {
            snprintf(o.only_layer, sizeof o.only_layer, "%s", val);
        } else if (!strcmp(name, "--threads")) {
            if (nv_cli_int(verb, name, val, 1, 1024, &iv)) return 2;
            o.threads = (int)iv;
        } else if (!strcmp(name, "--device")) {
            if (!strcmp(val, "auto")) o.device = NV_DEVICE_AUTO;
            else if (!strcmp(val, "cpu")) o.device = NV_DEVICE_CPU;
            else if (!strcmp(val, "cuda")) o.device = NV_DEVICE_CUDA;
            else return nv_cli_usage(verb, "option --device: found '%s': expected auto, cpu or cuda", val);
        } else if (!strcmp(name, "--task")) {
            if (nv_cli_int(verb, name, val, 0, 1000000, &iv)) return 2;
            o.task = (int)iv;
        } else if (!strcmp(name, "--tasks")) {
            if (nv_cli_int(verb, name, val, 1, 1000000, &iv)) return 2;
            o.tasks = (int)iv;
        } else if (!strcmp(name, "--summarize-only")) {
            summarize_only = 1;
        } else if (!strcmp(name, "--no-figures")) {
            o.figures = 0;
        } else if (!strcmp(name, "--no-distances")) {
            o.distances = 0;
        } else if (!strcmp(name, "--force")) {
            o.force = 1;
        } else {
            return nv_cli_usage(verb, "unknown option '%s' for a run directory", name);
        }
    }
    if (!run) return nv_cli_usage(verb, "expected a run directory");
    if (o.task >= o.tasks)
        return nv_cli_usage(verb, "option --task %d: expected 0 <= task < tasks (%d)", o.task, o.tasks);

    phrun_ui ui = {0};
    o.on_event = phrun_event;
    o.ctx = &ui;
    nv_phrun_report rep;
    nv_error err = {0};
    double t0 = nv_now();
    nv_status st;
    if (summarize_only) {
        st = nv_phrun_summarize(run, &o, &rep, &err);
    } else {
        char threads[32], lm[64], splits[32] = "", slice[48];
        snprintf(threads, sizeof threads, "%d", o.threads > 0 ? o.threads : nv_default_threads());
        if (o.landmarks > 0) snprintf(lm, sizeof lm, "%lld (max-min)%s", (long long)o.landmarks, o.dedup ? ", dedup" : "");
        else snprintf(lm, sizeof lm, "all points%s", o.dedup ? ", dedup" : "");
        for (int s = 0; s < o.nsplits; s++)
            snprintf(splits + strlen(splits), sizeof splits - strlen(splits), "%s%s", s ? "," : "", o.splits[s]);
        snprintf(slice, sizeof slice, "%d of %d", o.task, o.tasks);
        const char *keys[] = {"run", "metric", "landmarks", "splits", "threads", "task"};
        const char *vals[] = {run, nv_metric_name(o.metric), lm, splits, threads, slice};
        nv_cli_table(stderr, "nerve ph RUN", keys, vals, 6);
        st = nv_phrun_run(run, &o, &rep, &err);
    }
    if (ui.started) nv_progress_finish(&ui.bar, NULL);
    /* cairo's and fontconfig's font caches otherwise outlive us (leak checkers) */
    if (o.figures) nv_plot_release_caches();
    if (st) return nv_cli_report(verb, &err);
    double dt = nv_now() - t0;
    if (summarize_only) {
        printf("summarised %lld of %lld diagram files in %.1fs (summary.csv, distances.csv%s)\n",
               (long long)rep.summary_files, (long long)rep.files_total, dt,
               o.figures ? ", figures" : "");
        return 0;
    }
    printf("calibration: k = %d, scale = %g (%s)\n", rep.k, rep.scale,
           rep.calibrated ? "calibrated now" : "reused calibration.json or given");
    if (rep.files_computed == 0)
        printf("nothing to do: all %lld diagram files of this task exist with the same parameters\n",
               (long long)rep.files_owned);
    else
        printf("computed %lld diagram files (%lld diagrams), skipped %lld up to date, in %.1fs\n",
               (long long)rep.files_computed, (long long)rep.diagrams, (long long)rep.files_skipped, dt);
    if (rep.summary_written)
        printf("summary of %lld of %lld files: %s/analysis/ph/summary.csv%s%s%s\n",
               (long long)rep.summary_files, (long long)rep.files_total, run,
               o.distances ? ", distances.csv" : "", o.label_k > 0 ? ", labelled.csv (how the classes sit)" : "",
               o.figures ? ", analysis/figures/" : "");
    else
        printf("summary up to date (%lld files)\n", (long long)rep.summary_files);
    return 0;
}
