/* report.c: the run's HTML report (report.h).
 *
 * The page is assembled from files the pipeline already wrote (summary.json,
 * metrics/<model>.csv, analysis/figures/...), plus one figure drawn here (the training
 * curves), so `nerve report` is cheap and can be re-run whenever another stage
 * finishes. Every figure is embedded: SVG inline (its ids prefixed per figure,
 * because cairo names glyphs "glyph0-1" in every file and inline SVGs share one id
 * space), PNG as base64 data URIs. Each figure carries data attributes (its
 * source file, its kind) that the tests use to match what is drawn against the
 * HDF5 data.
 */
#include "nerve/report.h"

#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nerve/config.h"
#include "nerve/plot.h"
#include "nerve/snapshot.h"
#include "nerve/strbuf.h"
#include "nerve/fsutil.h"

/* HTML-escapes text. */
static void put_text(nv_strbuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': nv_sb_puts(b, "&lt;"); break;
        case '>': nv_sb_puts(b, "&gt;"); break;
        case '&': nv_sb_puts(b, "&amp;"); break;
        case '"': nv_sb_puts(b, "&quot;"); break;
        default: nv_sb_put(b, s, 1);
        }
    }
}

static void put_base64(nv_strbuf *b, const unsigned char *d, size_t n) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < n) v |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < n) v |= d[i + 2];
        out[0] = T[(v >> 18) & 63];
        out[1] = T[(v >> 12) & 63];
        out[2] = i + 1 < n ? T[(v >> 6) & 63] : '=';
        out[3] = i + 2 < n ? T[v & 63] : '=';
        nv_sb_put(b, out, 4);
    }
}

/* Inline SVG with every id and reference prefixed by `pfx`, and the XML
 * declaration dropped (not allowed inside HTML). */
static void put_svg(nv_strbuf *b, const char *svg, const char *pfx) {
    const char *p = strstr(svg, "<svg");
    if (!p) return;
    static const char *keys[] = {"id=\"", "href=\"#", "url(#"};
    while (*p) {
        const char *next = NULL;
        int which = -1;
        for (int k = 0; k < 3; k++) {
            const char *q = strstr(p, keys[k]);
            if (q && (!next || q < next)) {
                next = q;
                which = k;
            }
        }
        if (!next) {
            nv_sb_puts(b, p);
            break;
        }
        size_t kl = strlen(keys[which]);
        nv_sb_put(b, p, (size_t)(next - p) + kl);
        nv_sb_puts(b, pfx);
        p = next + kl;
    }
}

static int exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* --- the training-curve figure ----------------------------------------------------- */
/* Reads metrics/<model>.csv (header, then epoch,train_loss,train_acc,test_loss,test_acc). */
static int read_metrics(const char *path, double **rows, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int cap = 64, k = 0;
    double *r = malloc(sizeof(double) * 5 * (size_t)cap);
    if (!r || !fgets(line, sizeof line, f)) {
        free(r);
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof line, f)) {
        if (k == cap) {
            cap *= 2;
            double *nr = realloc(r, sizeof(double) * 5 * (size_t)cap);
            if (!nr) break;
            r = nr;
        }
        double *o = r + 5 * k;
        if (sscanf(line, "%lf,%lf,%lf,%lf,%lf", o, o + 1, o + 2, o + 3, o + 4) == 5) k++;
    }
    fclose(f);
    *rows = r;
    *n = k;
    return k > 0;
}

static nv_status training_figure(const char *run, nv_error *err) {
    static const char *models[] = {"expressive", "bottleneck", "linear"};
    nv_plot_figure *fig = NULL;
    nv_status st = nv_plot_figure_new(1, 2, 760, 300, &fig, err);
    if (st) return st;
    nv_plot_figure_set_title(fig, "Training: loss and accuracy per epoch (solid: train, dashed: test)");
    nv_plot_panel *pl = nv_plot_figure_panel(fig, 0, 0), *pa = nv_plot_figure_panel(fig, 0, 1);
    nv_plot_panel_set_xlabel(pl, "epoch");
    nv_plot_panel_set_ylabel(pl, "cross-entropy loss");
    nv_plot_panel_set_xlabel(pa, "epoch");
    nv_plot_panel_set_ylabel(pa, "accuracy");
    int drawn = 0;
    for (int m = 0; m < 3 && !st; m++) {
        char path[NV_PATH_LEN + 64];
        snprintf(path, sizeof path, "%s/metrics/%s.csv", run, models[m]);
        double *r = NULL;
        int n = 0;
        if (!read_metrics(path, &r, &n)) continue;
        double *x = malloc(sizeof(double) * (size_t)n * 5);
        if (!x) {
            free(r);
            st = nv_fail(err, NV_ENOMEM, "out of memory");
            break;
        }
        double *col[5];
        for (int c = 0; c < 5; c++) {
            col[c] = x + (size_t)c * (size_t)n;
            for (int i = 0; i < n; i++) col[c][i] = r[5 * i + c];
        }
        nv_plot_style train = {.has_color = 1, .color = nv_plot_palette(m), .marker = NV_MARKER_NONE};
        nv_plot_style test = train;
        test.dashed = 1;
        char lt[64], le[64];
        snprintf(lt, sizeof lt, "%s", models[m]);
        le[0] = '\0';
        st = nv_plot_line(pl, lt, col[0], col[1], n, &train, err);
        if (!st) st = nv_plot_line(pl, le, col[0], col[3], n, &test, err);
        if (!st) st = nv_plot_line(pa, lt, col[0], col[2], n, &train, err);
        if (!st) st = nv_plot_line(pa, le, col[0], col[4], n, &test, err);
        free(x);
        free(r);
        drawn++;
    }
    if (!st && drawn) {
        char dir[NV_PATH_LEN + 64], p[NV_PATH_LEN + 96];
        snprintf(dir, sizeof dir, "%s/analysis/figures", run);
        st = nv_mkdirs(dir, err);
        snprintf(p, sizeof p, "%s/training.svg", dir);
        if (!st) st = nv_plot_save(fig, p, err);
        snprintf(p, sizeof p, "%s/training.png", dir);
        if (!st) st = nv_plot_save(fig, p, err);
    }
    nv_plot_figure_free(fig);
    return st;
}

/* --- figures ------------------------------------------------------------------------- */
typedef struct {
    int count;      /* figures embedded so far, for unique id prefixes */
} page_state;

/* Embeds one figure file: SVG inline, PNG as a data URI. */
static void embed(nv_strbuf *b, page_state *ps, const char *run, const char *path, const char *kind,
                  const char *caption) {
    size_t n = 0;
    char *data = nv_read_file(path, &n);
    if (!data) return;
    const char *rel = strncmp(path, run, strlen(run)) == 0 ? path + strlen(run) + 1 : path;
    nv_sb_printf(b, "<figure class=\"fig\" data-kind=\"%s\" data-source=\"", kind);
    put_text(b, rel);
    nv_sb_puts(b, "\">\n");
    size_t pl = strlen(path);
    if (pl > 4 && !strcmp(path + pl - 4, ".svg")) {
        char pfx[32];
        snprintf(pfx, sizeof pfx, "f%d-", ps->count);
        put_svg(b, data, pfx);
    } else {
        nv_sb_puts(b, "<img alt=\"");
        put_text(b, rel);
        nv_sb_puts(b, "\" src=\"data:image/png;base64,");
        put_base64(b, (const unsigned char *)data, n);
        nv_sb_puts(b, "\">");
    }
    ps->count++;
    free(data);
    if (caption) {
        nv_sb_puts(b, "\n<figcaption>");
        put_text(b, caption);
        nv_sb_puts(b, "</figcaption>");
    }
    nv_sb_puts(b, "\n</figure>\n");
}

/* Embeds the files matching pattern (under the run), preferring the SVG of a
 * PNG/SVG pair; returns how many. */
static int embed_glob(nv_strbuf *b, page_state *ps, const char *run, const char *pattern, const char *kind,
                      int max) {
    char pat[NV_PATH_LEN + 128];
    snprintf(pat, sizeof pat, "%s/%s", run, pattern);
    glob_t g;
    if (glob(pat, 0, NULL, &g) != 0) return 0;
    int k = 0;
    for (size_t i = 0; i < g.gl_pathc && (max <= 0 || k < max); i++) {
        const char *p = g.gl_pathv[i];
        size_t l = strlen(p);
        if (l > 4 && !strcmp(p + l - 4, ".png")) {
            char svg[NV_PATH_LEN + 160];
            snprintf(svg, sizeof svg, "%.*s.svg", (int)(l - 4), p);
            if (exists(svg)) continue; /* its SVG twin is (or will be) embedded instead */
        }
        embed(b, ps, run, p, kind, NULL);
        k++;
    }
    globfree(&g);
    return k;
}

/* A CSV file as an HTML table (small files only), with a data-source attribute. */
static void embed_csv_table(nv_strbuf *b, const char *run, const char *rel, const char *kind, int max_rows) {
    char path[NV_PATH_LEN + 128];
    snprintf(path, sizeof path, "%s/%s", run, rel);
    FILE *f = fopen(path, "r");
    if (!f) return;
    nv_sb_printf(b, "<details><summary>%s (table)</summary>\n<table class=\"data\" data-kind=\"%s\" data-source=\"", rel, kind);
    put_text(b, rel);
    nv_sb_puts(b, "\">\n");
    char line[4096];
    int row = 0;
    while (fgets(line, sizeof line, f) && (max_rows <= 0 || row <= max_rows)) {
        line[strcspn(line, "\r\n")] = '\0';
        nv_sb_puts(b, "<tr>");
        char *save = NULL;
        for (char *c = strtok_r(line, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
            nv_sb_puts(b, row == 0 ? "<th>" : "<td>");
            put_text(b, c);
            nv_sb_puts(b, row == 0 ? "</th>" : "</td>");
        }
        nv_sb_puts(b, "</tr>\n");
        row++;
    }
    fclose(f);
    nv_sb_puts(b, "</table></details>\n");
}

static void missing(nv_strbuf *b, const char *what, const char *cmd) {
    nv_sb_puts(b, "<p class=\"missing\">No ");
    put_text(b, what);
    nv_sb_puts(b, " yet: run <code>");
    put_text(b, cmd);
    nv_sb_puts(b, "</code>, then <code>nerve report</code> again.</p>\n");
}

static void summary_table(nv_strbuf *b, const char *run) {
    char path[NV_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/summary.json", run);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        missing(b, "finished training", "nerve train CONFIG --resume");
        return;
    }
    json_t *models = json_object_get(j, "models");
    nv_sb_puts(b, "<table class=\"summary\" data-kind=\"summary\"><tr><th>model</th><th>widths</th>"
                "<th>train accuracy</th><th>test accuracy</th><th>train loss</th><th>test loss</th></tr>\n");
    const char *name;
    json_t *m;
    json_object_foreach(models, name, m) {
        nv_sb_puts(b, "<tr><td>");
        put_text(b, name);
        nv_sb_puts(b, "</td><td>");
        json_t *w = json_object_get(m, "widths");
        for (size_t i = 0; i < json_array_size(w); i++)
            nv_sb_printf(b, "%s%lld", i ? "-" : "", (long long)json_integer_value(json_array_get(w, i)));
        nv_sb_printf(b, "</td><td>%.2f%%</td><td>%.2f%%</td><td>%.4f</td><td>%.4f</td></tr>\n",
                     100 * json_number_value(json_object_get(m, "train_acc")),
                     100 * json_number_value(json_object_get(m, "test_acc")),
                     json_number_value(json_object_get(m, "train_loss")),
                     json_number_value(json_object_get(m, "test_loss")));
    }
    nv_sb_puts(b, "</table>\n");
    json_decref(j);
}

/* --- the labelled kNN filtration (docs/topology.md) ----------------------------------- */
/* The report's first section: how the classes sit against each other, the chart of
 * `nerve ph RUN` (analysis/figures/labelled_chart.svg) and sentences generated from
 * analysis/ph/labelled.csv: the last hidden layer of each net at the last and the
 * first epoch, the topological reading (mixing) with its two geometric baselines
 * beside it (the cross-class share of the kNN edges at k = k_max and the
 * Friedman-Rafsky share of the spanning tree), so a reader can see that the
 * topology and the geometry agree. Nothing when the run has no labelled reading. */
typedef struct {
    char model[64];
    long long epoch;
    int hidden;       /* N of hiddenN; -1 for other layers */
    double mixing, cross, mst;
} lab_pt;

enum { LAB_MODELS = 2 };

static void labelled_section(nv_strbuf *b, page_state *ps, const char *run) {
    char path[NV_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/analysis/ph/labelled.csv", run);
    FILE *f = fopen(path, "r");
    if (!f) return;
    int cap = 4096, n = 0;
    lab_pt *pts = malloc((size_t)cap * sizeof *pts);
    if (!pts) {
        fclose(f);
        return;
    }
    double input[3] = {NAN, NAN, NAN}; /* the data's own reading: the input layer */
    char line[1024];
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    /* model,epoch,layer,split,n_points,classes,k_max,mixing,labelled_persistence,
     * unlabelled_persistence,cross_share,mst_cross (ph_run_labelled.c) */
    while (fgets(line, sizeof line, f)) {
        char *save = NULL, *c[12];
        int k = 0;
        for (char *t = strtok_r(line, ",\n", &save); t && k < 12; t = strtok_r(NULL, ",\n", &save)) c[k++] = t;
        if (k < 12) continue;
        if (n == cap) { /* one row per model, epoch and layer: grow for long runs */
            lab_pt *more = realloc(pts, (size_t)cap * 2 * sizeof *pts);
            if (!more) break;
            pts = more;
            cap *= 2;
        }
        lab_pt *p = &pts[n++];
        snprintf(p->model, sizeof p->model, "%s", c[0]);
        p->epoch = atoll(c[1]);
        p->hidden = strncmp(c[2], "hidden", 6) == 0 ? atoi(c[2] + 6) : -1;
        p->mixing = strtod(c[7], NULL);
        p->cross = strtod(c[10], NULL);
        p->mst = strtod(c[11], NULL);
        if (!strcmp(c[2], "input")) {
            input[0] = p->mixing;
            input[1] = p->cross;
            input[2] = p->mst;
        }
    }
    fclose(f);
    nv_sb_puts(b, "<h2 id=\"classes\">How the classes sit against each other</h2>\n");
    /* the last hidden layer of each net, at the first and the last epoch */
    static const char *models[LAB_MODELS] = {"expressive", "bottleneck"};
    const lab_pt *last[LAB_MODELS] = {0}, *first[LAB_MODELS] = {0};
    long long e_last = -1, e_first = -1;
    int deepest[LAB_MODELS] = {-1, -1};
    for (int i = 0; i < n; i++) {
        if (pts[i].epoch > e_last) e_last = pts[i].epoch;
        if (e_first < 0 || pts[i].epoch < e_first) e_first = pts[i].epoch;
        for (int m = 0; m < LAB_MODELS; m++)
            if (!strcmp(pts[i].model, models[m]) && pts[i].hidden > deepest[m]) deepest[m] = pts[i].hidden;
    }
    for (int i = 0; i < n; i++)
        for (int m = 0; m < LAB_MODELS; m++)
            if (!strcmp(pts[i].model, models[m]) && pts[i].hidden == deepest[m] && deepest[m] > 0) {
                if (pts[i].epoch == e_last) last[m] = &pts[i];
                if (pts[i].epoch == e_first) first[m] = &pts[i];
            }
    nv_sb_puts(b, "<p class=\"lead\" data-kind=\"labelled-summary\">");
    if (last[0] && last[1]) {
        /* "apart" when the bottlenecked net's reading is at least twice the
         * expressive one's: the default run gives ~15x, seeds differ by ~10% */
        int apart = last[1]->mixing > 2.0 * last[0]->mixing;
        nv_sb_printf(b,
                     "At epoch %lld the last hidden layer of the expressive net (hidden%d) reads a mixing of "
                     "<b>%.3f</b> and the bottlenecked net's (hidden%d) <b>%.3f</b>",
                     e_last, deepest[0], last[0]->mixing, deepest[1], last[1]->mixing);
        if (first[0] && first[1] && e_first != e_last)
            nv_sb_printf(b, " (epoch %lld: %.3f and %.3f)", e_first, first[0]->mixing, first[1]->mixing);
        nv_sb_printf(b, ": %s. ",
                     apart ? "the expressive net has pulled the classes into regions of their own, while in "
                             "the bottlenecked net they stay interleaved"
                           : "the two nets arrange the classes alike");
        nv_sb_printf(b,
                     "Beside it, the geometry: of the kNN edges, %.1f%% and %.1f%% join the two classes; of the "
                     "minimum spanning tree's, %.1f%% and %.1f%% (Friedman&ndash;Rafsky). ",
                     100.0 * last[0]->cross, 100.0 * last[1]->cross, 100.0 * last[0]->mst, 100.0 * last[1]->mst);
    }
    nv_sb_puts(b, "Mixing is the H0 persistence the class labels add to the kNN filtration of a layer "
                  "(k = 1, 2, ...; neighbour ranks only, so a rescaled layer reads the same): 0 when every "
                  "class's points connect among themselves as fast as the points do, higher the more the "
                  "classes interleave");
    if (isfinite(input[0]))
        nv_sb_printf(b, " (the input layer reads %.3f; %.1f%% cross-class kNN edges, %.1f%% of the tree)", input[0],
                     100.0 * input[1], 100.0 * input[2]);
    nv_sb_puts(b, "; docs/topology.md explains it.</p>\n");
    free(pts);
    if (!embed_glob(b, ps, run, "analysis/figures/labelled_chart.svg", "labelled-chart", 0))
        embed_glob(b, ps, run, "analysis/figures/labelled_chart.png", "labelled-chart", 0);
}

static const char *CSS =
    "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;"
    "padding:0 1em;color:#222}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;"
    "margin-top:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
    "padding:.25em .6em;text-align:right}th{background:#f3f3f3}figure{margin:1em 0;overflow-x:auto}"
    "figure svg,figure img{max-width:100%;height:auto}.missing{color:#a33}pre{background:#f6f6f6;"
    "padding:1em;overflow-x:auto}.meta{color:#555}";

/* Marks each image once it has decoded, so a headless browser's DOM dump can show
 * that every figure loaded. */
static const char *SCRIPT =
    "<script>window.addEventListener('load',function(){var n=0,bad=0;"
    "document.querySelectorAll('figure img').forEach(function(i){var ok=i.complete&&i.naturalWidth>0;"
    "i.setAttribute('data-loaded',ok?'yes':'no');if(!ok)bad++;n++;});"
    "document.querySelectorAll('figure svg').forEach(function(s){var r=s.getBoundingClientRect();"
    "var ok=r.width>0&&r.height>0;s.setAttribute('data-loaded',ok?'yes':'no');if(!ok)bad++;n++;});"
    "document.body.setAttribute('data-figures',n);document.body.setAttribute('data-figures-bad',bad);});"
    "</script>\n";

nv_status nv_report_write(const char *run, const nv_report_options *opt, char *out_path, size_t out_len,
                          nv_error *err) {
    char path[NV_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/config.cfg", run);
    if (!exists(path))
        return nv_fail(err, NV_EINPUT, "%s: not a run directory (no config.cfg); give the --out directory of nerve train", run);
    nv_status st = training_figure(run, err);
    if (st) return st;
    int max_diagrams = opt && opt->max_diagram_figures > 0 ? opt->max_diagram_figures : 60;

    nv_strbuf b = {0};
    page_state ps = {0};
    char *cfg = nv_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/run.json", run);
    json_t *rj = json_load_file(path, 0, NULL);
    const char *exp = rj ? json_string_value(json_object_get(rj, "experiment")) : NULL;
    nv_sb_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>nerve report: ");
    put_text(&b, exp ? exp : run);
    nv_sb_printf(&b, "</title>\n<style>%s</style>\n%s</head>\n<body>\n<h1>nerve report: ", CSS, SCRIPT);
    put_text(&b, exp ? exp : run);
    nv_sb_puts(&b, "</h1>\n<p class=\"meta\">");
    if (rj) {
        const char *keys[] = {"nerve_version", "git_commit", "device", "updated", "host"};
        const char *labels[] = {"nerve", "commit", "device", "run updated", "host"};
        for (int i = 0; i < 5; i++) {
            const char *v = json_string_value(json_object_get(rj, keys[i]));
            if (!v) continue;
            nv_sb_printf(&b, "%s%s: ", i ? " &middot; " : "", labels[i]);
            put_text(&b, v);
        }
    }
    nv_sb_puts(&b, "</p>\n");
    labelled_section(&b, &ps, run);

    nv_sb_puts(&b, "<h2 id=\"summary\">Summary</h2>\n");
    summary_table(&b, run);
    if (cfg) {
        nv_sb_puts(&b, "<details><summary>resolved configuration</summary><pre>");
        put_text(&b, cfg);
        nv_sb_puts(&b, "</pre></details>\n");
    }

    nv_sb_puts(&b, "<h2 id=\"training\">Training</h2>\n");
    if (!embed_glob(&b, &ps, run, "analysis/figures/training.svg", "training", 0))
        missing(&b, "training curves", "nerve train");

    nv_sb_puts(&b, "<h2 id=\"topology\">Topology: Betti numbers by layer and epoch</h2>\n");
    if (embed_glob(&b, &ps, run, "analysis/figures/betti_chart.svg", "betti-chart", 0)) {
        embed_csv_table(&b, run, "analysis/ph/summary.csv", "ph-summary", 0);
        embed_csv_table(&b, run, "analysis/ph/distances.csv", "ph-distances", 400);
    } else {
        missing(&b, "persistent homology", "nerve ph RUN");
    }
    char pat[128];
    snprintf(pat, sizeof pat, "analysis/figures/diagrams/*.png");
    nv_sb_puts(&b, "<details><summary>persistence diagrams and barcodes</summary>\n");
    embed_glob(&b, &ps, run, pat, "diagram", max_diagrams);
    nv_sb_puts(&b, "</details>\n");

    nv_sb_puts(&b, "<h2 id=\"pca\">PCA projections</h2>\n");
    if (!embed_glob(&b, &ps, run, "analysis/figures/pca_grid_*.svg", "pca", 0) &&
        !embed_glob(&b, &ps, run, "analysis/figures/pca_grid_*.png", "pca", 0))
        missing(&b, "PCA", "nerve pca RUN");

    nv_sb_puts(&b, "<h2 id=\"geometry\">Intrinsic dimension and linear probes</h2>\n");
    if (embed_glob(&b, &ps, run, "analysis/figures/id_probe.svg", "id-probe", 0) ||
        embed_glob(&b, &ps, run, "analysis/figures/id_probe.png", "id-probe", 0)) {
        embed_csv_table(&b, run, "analysis/stats/intrinsic_dimension.csv", "intrinsic-dimension", 600);
        embed_csv_table(&b, run, "analysis/stats/probes.csv", "probes", 600);
    } else {
        missing(&b, "intrinsic dimension or probes", "nerve stats RUN");
    }

    nv_sb_puts(&b, "<h2 id=\"cka\">Representation similarity (linear CKA)</h2>\n");
    if (!embed_glob(&b, &ps, run, "analysis/figures/cka_*.svg", "cka", 0) &&
        !embed_glob(&b, &ps, run, "analysis/figures/cka_*.png", "cka", 0))
        missing(&b, "CKA maps", "nerve stats RUN");

    nv_sb_puts(&b, "<h2 id=\"features\">Feature images</h2>\n");
    if (!embed_glob(&b, &ps, run, "analysis/figures/features/*.png", "features", 40))
        missing(&b, "feature images", "nerve features RUN");

    nv_sb_printf(&b, "<p class=\"meta\">Written by nerve %s (nerve report). %d figures.</p>\n</body></html>\n",
                 NERVE_VERSION, ps.count);
    free(cfg);
    if (rj) json_decref(rj);
    if (b.oom) {
        nv_sb_free(&b);
        return nv_fail(err, NV_ENOMEM, "out of memory assembling the report");
    }
    snprintf(path, sizeof path, "%s/analysis", run);
    st = nv_mkdirs(path, err);
    snprintf(path, sizeof path, "%s/analysis/report.html", run);
    if (!st) st = nv_atomic_write_text(path, nv_sb_str(&b), err);
    nv_sb_free(&b);
    if (!st && out_path) snprintf(out_path, out_len, "%s", path);
    return st;
}
