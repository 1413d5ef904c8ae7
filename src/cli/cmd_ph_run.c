/* cmd_ph_run.c: `nerve ph RUN`, persistent homology of every snapshot of a run
 * (include/nerve/phrun.h, docs/ph-runs.md). `nerve ph` hands run directories here
 * with argv[0] = "ph" and the run directory as the first positional argument.
 *
 * This file only parses flags, prints the resolved settings and progress, and maps
 * statuses to exit codes (bad input: 2); the work is in analysis/ph_run*.c.
 */
#include "cli.h"
#include "run_opts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/phrun.h"
#include "nerve/plot.h"

static const char *const PHRUN_USAGE = "usage: nerve ph RUN [options]\n";

static void phrun_usage(FILE *f) {
    fputs(PHRUN_USAGE, f);
    fputs("\n"
    "Persistent homology of every snapshot of a training run: for each model x epoch x\n"
    "layer x split, each class and all classes together, the barcode of at most N\n"
    "max-min landmarks, stored in RUN/analysis/ph/<model>/epoch_EEEE.h5; then\n"
    "summary.csv, distances.csv and the figures in RUN/analysis/figures/.\n"
    "Outputs made with the same parameters are skipped, so a rerun resumes.\n"
    "(`nerve ph --help` describes `nerve ph FILE`, the Ripser-compatible mode.)\n"
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
    "  --label-k K         the labelled kNN filtration, k = 1..K (default 20; 0: off;\n"
    "                      docs/topology.md)\n"
    "  --label-split S     its split (default test)\n"
    "  --summarize-only    only rewrite summary.csv, distances.csv and the figures\n"
    "  --no-figures        skip the figures\n"
    "  --no-distances      skip distances.csv (bottleneck and Wasserstein distances;\n"
    "                      slow for diagrams of thousands of points)\n"
    "  (--split: default all; --model, --layer, --epoch choose what is computed, and\n"
    "  the summary reads every diagram file; with --task/--tasks every task writes the\n"
    "  summary of what exists; --device: where the column assembly runs, same diagrams)\n", f);
    nv_run_opts_help(f, "ph");
}

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

/* Runs the stage with the parsed options and prints the table, progress and result. */
static int run_ph(const char *run, nv_phrun_options *o, int summarize_only) {
    phrun_ui ui = {0};
    o->on_event = phrun_event;
    o->ctx = &ui;
    nv_phrun_report rep;
    nv_error err = {0};
    double t0 = nv_now();
    nv_status st;
    if (summarize_only) {
        st = nv_phrun_summarize(run, o, &rep, &err);
    } else {
        char threads[32], lm[64], splits[32] = "", slice[48];
        snprintf(threads, sizeof threads, "%d", o->threads > 0 ? o->threads : nv_default_threads());
        if (o->landmarks > 0) snprintf(lm, sizeof lm, "%lld (max-min)%s", (long long)o->landmarks, o->dedup ? ", dedup" : "");
        else snprintf(lm, sizeof lm, "all points%s", o->dedup ? ", dedup" : "");
        for (int s = 0; s < o->nsplits; s++)
            snprintf(splits + strlen(splits), sizeof splits - strlen(splits), "%s%s", s ? "," : "", o->splits[s]);
        snprintf(slice, sizeof slice, "%d of %d", o->task, o->tasks);
        const char *keys[] = {"run", "metric", "landmarks", "splits", "threads", "task"};
        const char *vals[] = {run, nv_metric_name(o->metric), lm, splits, threads, slice};
        nv_cli_table(stderr, "nerve ph RUN", keys, vals, 6);
        st = nv_phrun_run(run, o, &rep, &err);
    }
    if (ui.started) nv_progress_finish(&ui.bar, NULL);
    /* cairo's and fontconfig's font caches otherwise outlive us (leak checkers) */
    if (o->figures) nv_plot_release_caches();
    if (st) return nv_cli_report("ph", &err);
    double dt = nv_now() - t0;
    if (summarize_only) {
        printf("summarised %lld of %lld diagram files in %.1fs (summary.csv, distances.csv%s)\n",
               (long long)rep.summary_files, (long long)rep.files_total, dt,
               o->figures ? ", figures" : "");
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
               o->distances ? ", distances.csv" : "", o->label_k > 0 ? ", labelled.csv (how the classes sit)" : "",
               o->figures ? ", analysis/figures/" : "");
    if (rep.summary_files < rep.files_total)
        fprintf(stderr, "nerve ph: note: %lld of the run's %lld snapshot files have no diagram file yet "
                "(other tasks of a job array, or left out by --model/--layer/--epoch); the summary "
                "covers the %lld that do\n", (long long)(rep.files_total - rep.summary_files),
                (long long)rep.files_total, (long long)rep.summary_files);
    else
        printf("summary up to date (%lld files)\n", (long long)rep.summary_files);
    return 0;
}

int nv_cmd_ph_run(int argc, char **argv) {
    const char *verb = "ph";
    nv_phrun_options o;
    nv_phrun_options_defaults(&o);
    nv_run_opts ro;
    nv_run_opts_init(&ro, verb);
    const char *run = NULL;
    int summarize_only = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (nv_run_opts_take(&ro, argc, argv, &i, &rc)) {
            if (rc) goto out;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            phrun_usage(stdout);
            goto out;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (run) {
                rc = nv_cli_usage(verb, "found a second run directory '%s': expected one", a);
                goto out;
            }
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
        static const char *const known[] = {"--metric", "--k", "--scale", "--k-range", "--target-betti",
                                            "--threshold", "--max-dim", "--landmarks", "--summarize-only",
                                            "--no-figures", "--dedup", "--label-k", "--label-split",
                                            "--no-distances"};
        int is_known = 0;
        for (size_t k = 0; k < NV_ARRAY_LEN(known); k++) is_known |= !strcmp(name, known[k]);
        if (!is_known) {
            rc = nv_cli_unknown(verb, name, PHRUN_USAGE);
            goto out;
        }
        int flag = !strcmp(name, "--summarize-only") || !strcmp(name, "--no-figures") || !strcmp(name, "--dedup") ||
                   !strcmp(name, "--no-distances");
        if (!flag && !val) {
            if (i + 1 >= argc) {
                rc = nv_cli_usage(verb, "option %s needs a value", name);
                goto out;
            }
            val = argv[++i];
        }
        long long iv, list[NV_PHRUN_MAX_DIMS];
        double dv;
        rc = 0;
        if (!strcmp(name, "--metric")) {
            int m = nv_metric_parse(val);
            if (m < 0)
                rc = nv_cli_usage(verb, "option --metric: found '%s': expected knn-hops, knn-weighted, "
                                  "euclidean or cosine", val);
            else
                o.metric = (nv_metric_kind)m;
        } else if (!strcmp(name, "--k")) {
            if (!(rc = nv_cli_int(verb, name, val, 1, 100000, &iv))) o.k = (int)iv;
        } else if (!strcmp(name, "--scale")) {
            if (!(rc = nv_cli_double(verb, name, val, 0, 1e30, &dv))) o.scale = dv;
        } else if (!strcmp(name, "--k-range")) {
            if (parse_list(val, list, 2, 1, 100000) != 2 || list[0] > list[1]) {
                rc = nv_cli_usage(verb, "option --k-range: found '%s': expected A,B with 1 <= A <= B", val);
            } else {
                o.k_min = (int)list[0];
                o.k_max = (int)list[1];
            }
        } else if (!strcmp(name, "--target-betti")) {
            /* "1,0" for every class, or "9,0/1,9": one list per class, same length */
            char buf[512];
            snprintf(buf, sizeof buf, "%s", val);
            int nc = 0, n = 0;
            for (char *save = NULL, *t = strtok_r(buf, "/", &save); t && !rc; t = strtok_r(NULL, "/", &save)) {
                int m = parse_list(t, list, NV_PHRUN_MAX_DIMS, 0, 1000000);
                if (m < 1 || (nc > 0 && m != n) || nc == NV_PHRUN_MAX_TCLASSES) {
                    rc = nv_cli_usage(verb, "option --target-betti: found '%s': expected counts like 1,0, "
                                      "or one list per class of the same length like 9,0/1,9", val);
                    break;
                }
                n = m;
                for (int d = 0; d < m; d++) o.class_target[nc][d] = o.target[d] = list[d];
                nc++;
            }
            if (!rc && nc == 0)
                rc = nv_cli_usage(verb, "option --target-betti: found '%s': expected counts like 1,0", val);
            if (!rc) {
                o.ntarget = n;
                o.ntarget_classes = nc > 1 ? nc : 0;
                if (nc == 1) memcpy(o.target, o.class_target[0], sizeof o.target);
            }
        } else if (!strcmp(name, "--threshold")) {
            if (!strcmp(val, "inf") || !strcmp(val, "none")) o.threshold = INFINITY;
            else if (!(rc = nv_cli_double(verb, name, val, 0, 1e30, &dv))) o.threshold = dv;
        } else if (!strcmp(name, "--max-dim")) {
            if (!(rc = nv_cli_int(verb, name, val, 0, 3, &iv))) o.max_dim = (int)iv;
        } else if (!strcmp(name, "--landmarks")) {
            if (!strcmp(val, "all")) o.landmarks = 0; /* every point */
            else if (!(rc = nv_cli_int(verb, name, val, 2, 20000, &iv))) o.landmarks = iv;
        } else if (!strcmp(name, "--dedup")) {
            o.dedup = 1;
        } else if (!strcmp(name, "--label-k")) {
            if (!(rc = nv_cli_int(verb, name, val, 0, 200, &iv))) o.label_k = (int)iv;
        } else if (!strcmp(name, "--label-split")) {
            if (strcmp(val, "train") && strcmp(val, "test") && strcmp(val, "all"))
                rc = nv_cli_usage(verb, "option --label-split: found '%s': expected train, test or all", val);
            else
                snprintf(o.label_split, sizeof o.label_split, "%s", val);
        } else if (!strcmp(name, "--no-distances")) {
            o.distances = 0;
        } else if (!strcmp(name, "--summarize-only")) {
            summarize_only = 1;
        } else if (!strcmp(name, "--no-figures")) {
            o.figures = 0;
        }
        if (rc) goto out;
    }
    if (!run) {
        rc = nv_cli_usage(verb, "expected a run directory");
        goto out;
    }
    if ((rc = nv_run_opts_check(&ro, run))) goto out;
    if (ro.n_splits) {
        o.nsplits = ro.n_splits;
        for (int s = 0; s < ro.n_splits; s++) snprintf(o.splits[s], sizeof o.splits[s], "%s", ro.splits[s]);
    }
    o.select = nv_run_opts_select(&ro);
    o.threads = ro.threads;
    o.device = ro.device;
    o.task = ro.task;
    o.tasks = ro.tasks;
    o.force = ro.force;
    rc = run_ph(run, &o, summarize_only);
out:
    nv_run_opts_free(&ro);
    return rc;
}
