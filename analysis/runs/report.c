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
#include "nerve/dynamics_figures.h"
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

/* --- the feature section ------------------------------------------------------------
 * What `nerve features` drew (analysis/figures/features/, docs/features.md): per model,
 * at its last snapshot epoch, each layer's few units drawn large (feature image, top
 * inputs, their deconvnet / guided / gradient projections) embedded; the same units
 * across epochs embedded in a closed <details>; every unit of every layer and epoch
 * (the full grids, megabytes for image data) only linked, so the report stays small. */

/* One figure file name of the feature directory: <model>_e<EEEE>_<layer>[_focus].png. */
typedef struct {
    char model[64], layer[32];
    long epoch;
    int focus;
} feature_fig;

static int parse_feature_fig(const char *name, feature_fig *f) {
    const char *e = strstr(name, "_e");
    while (e && !(e[2] >= '0' && e[2] <= '9')) e = strstr(e + 1, "_e");
    if (!e || (size_t)(e - name) >= sizeof f->model) return 0;
    memset(f, 0, sizeof *f);
    memcpy(f->model, name, (size_t)(e - name));
    char *end = NULL;
    f->epoch = strtol(e + 2, &end, 10);
    if (!end || *end != '_') return 0;
    const char *layer = end + 1;
    size_t n = strlen(layer);
    if (n < 5 || strcmp(layer + n - 4, ".png") != 0) return 0;
    n -= 4;
    if (n > 6 && strncmp(layer + n - 6, "_focus", 6) == 0) {
        f->focus = 1;
        n -= 6;
    }
    if (n == 0 || n >= sizeof f->layer) return 0;
    memcpy(f->layer, layer, n);
    return 1;
}

/* Network order: hidden1, hidden2, ..., logits. */
static int layer_rank(const char *layer) {
    if (strcmp(layer, "logits") == 0) return 1 << 20;
    if (strncmp(layer, "hidden", 6) == 0) return atoi(layer + 6);
    return (1 << 20) - 1;
}

/* The pair's order (expressive, bottleneck, linear), then other models by name. */
static int model_rank(const char *model) {
    static const char *order[] = {"expressive", "bottleneck", "linear"};
    for (int i = 0; i < 3; i++)
        if (strcmp(model, order[i]) == 0) return i;
    return 3;
}

static int cmp_feature_fig(const void *a, const void *b) {
    const feature_fig *x = a, *y = b;
    int rx = model_rank(x->model), ry = model_rank(y->model);
    if (rx != ry) return rx < ry ? -1 : 1;
    int c = strcmp(x->model, y->model);
    if (c) return c;
    if (x->epoch != y->epoch) return x->epoch < y->epoch ? -1 : 1;
    int lx = layer_rank(x->layer), ly = layer_rank(y->layer);
    if (lx != ly) return lx < ly ? -1 : 1;
    return x->focus - y->focus;
}

static void features_section(nv_strbuf *b, page_state *ps, const char *run) {
    nv_sb_puts(b, "<h2 id=\"features\">Feature images and projections</h2>\n");
    char pat[NV_PATH_LEN + 96];
    snprintf(pat, sizeof pat, "%s/analysis/figures/features/*_e[0-9]*.png", run);
    glob_t g;
    feature_fig *figs = NULL;
    size_t n = 0;
    if (glob(pat, 0, NULL, &g) == 0) {
        figs = calloc(g.gl_pathc, sizeof *figs);
        for (size_t i = 0; figs && i < g.gl_pathc; i++) {
            const char *base = strrchr(g.gl_pathv[i], '/');
            if (parse_feature_fig(base ? base + 1 : g.gl_pathv[i], &figs[n])) n++;
        }
        globfree(&g);
    }
    if (n == 0) {
        free(figs);
        missing(b, "feature images", "nerve features RUN");
        return;
    }
    qsort(figs, n, sizeof *figs, cmp_feature_fig);
    nv_sb_puts(b, "<p>For each unit: its <b>feature image</b> (regularised gradient ascent from "
                  "the data mean: what the unit wants; framed red where the ascent ended below "
                  "the unit's best training input, still the ascent's own result), its <b>top "
                  "training inputs</b>, and their <b>projections</b> back to input space by the "
                  "deconvnet rule (Zeiler &amp; Fergus), guided backpropagation and the plain "
                  "gradient (blue negative, white zero, red positive). A few units are drawn "
                  "large; every unit of every layer and epoch is in the linked grids "
                  "(docs/features.md).</p>\n");
    char path[NV_PATH_LEN + 256], rel[512];
    for (size_t i = 0; i < n;) {
        size_t j = i;
        long last = figs[i].epoch;
        while (j < n && strcmp(figs[j].model, figs[i].model) == 0) {
            if (figs[j].epoch > last) last = figs[j].epoch;
            j++;
        }
        nv_sb_puts(b, "<h3>");
        put_text(b, figs[i].model);
        nv_sb_printf(b, ", epoch %ld</h3>\n", last);
        for (size_t k = i; k < j; k++) {
            if (!figs[k].focus || figs[k].epoch != last) continue;
            snprintf(path, sizeof path, "%s/analysis/figures/features/%s_e%04ld_%s_focus.png", run,
                     figs[k].model, figs[k].epoch, figs[k].layer);
            embed(b, ps, run, path, "features", NULL); /* the figure carries its title */
        }
        /* The same units across epochs (small: one image or glyph per epoch). */
        char hpat[NV_PATH_LEN + 160];
        snprintf(hpat, sizeof hpat, "analysis/figures/features/%s_*_unit*_history.png", figs[i].model);
        nv_sb_puts(b, "<details><summary>");
        put_text(b, figs[i].model);
        nv_sb_puts(b, ": these units across epochs</summary>\n");
        embed_glob(b, ps, run, hpat, "features-history", 0);
        nv_sb_puts(b, "</details>\n<details><summary>");
        put_text(b, figs[i].model);
        nv_sb_puts(b, ": every unit, every epoch (grids, opened on demand)</summary>\n<ul>\n");
        for (size_t k = i; k < j;) {
            nv_sb_printf(b, "<li>epoch %ld:", figs[k].epoch);
            long e = figs[k].epoch;
            for (; k < j && figs[k].epoch == e; k++) {
                if (figs[k].focus) continue;
                snprintf(rel, sizeof rel, "figures/features/%s_e%04ld_%s.png", figs[k].model,
                         figs[k].epoch, figs[k].layer);
                nv_sb_puts(b, " <a data-kind=\"features-grid\" href=\"");
                put_text(b, rel);
                nv_sb_puts(b, "\">");
                put_text(b, figs[k].layer);
                nv_sb_puts(b, "</a>");
            }
            nv_sb_puts(b, "</li>\n");
        }
        nv_sb_puts(b, "</ul></details>\n");
        i = j;
    }
    free(figs);
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

/* --- the presets of nerve query (docs/queries.md, "In the report") ----------------------- */
/* The tables `nerve report` had src/query write under analysis/queries/ (index.json
 * lists them with the command that reproduces each and its note): each as an HTML
 * table, the first rows shown and the rest named. This stage computes nothing of the
 * query engine's, which comes after it in docs/DESIGN.md's map. */
static void queries_section(nv_strbuf *b, const char *run, int have_dyn) {
    nv_sb_puts(b, "<h2 id=\"queries\">Queries over the training dynamics</h2>\n");
    char path[NV_PATH_LEN + 96];
    snprintf(path, sizeof path, "%s/analysis/queries/index.json", run);
    json_t *idx = have_dyn ? json_load_file(path, 0, NULL) : NULL;
    if (!idx) {
        if (have_dyn) missing(b, "query answers", "nerve report RUN");
        else nv_sb_puts(b, "<p class=\"missing\">No training-dynamics record to query (see above).</p>\n");
        return;
    }
    nv_sb_puts(b, "<p>The answers of <code>nerve query</code>'s presets (docs/queries.md) for model <code>");
    put_text(b, json_string_value(json_object_get(idx, "model")) ? json_string_value(json_object_get(idx, "model")) : "?");
    nv_sb_puts(b, "</code>, each with the command that gives it.</p>\n");
    int compared = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(idx, "tables"), i, e) {
        const char *preset = json_string_value(json_object_get(e, "preset")), *table = json_string_value(json_object_get(e, "table")),
                   *file = json_string_value(json_object_get(e, "file")), *cmd = json_string_value(json_object_get(e, "command")),
                   *note = json_string_value(json_object_get(e, "note"));
        if (!preset || !file || !cmd || !note || !table) continue;
        compared |= !strcmp(preset, "compare-runs");
        nv_sb_puts(b, "<h3>");
        put_text(b, preset);
        if (table[0]) {
            nv_sb_puts(b, ": ");
            put_text(b, table);
        }
        nv_sb_puts(b, "</h3>\n<p><code>");
        put_text(b, cmd);
        nv_sb_puts(b, "</code></p>\n");
        if (note[0]) {
            nv_sb_puts(b, file[0] ? "<p class=\"meta\">" : "<p class=\"missing\">");
            put_text(b, note);
            nv_sb_puts(b, "</p>\n");
        }
        if (!file[0]) continue;
        char csv[NV_PATH_LEN + 256];
        snprintf(csv, sizeof csv, "%s/analysis/queries/%s", run, file);
        char *text = nv_read_file(csv, NULL);
        if (!text) continue;
        nv_sb_printf(b, "<table class=\"data\" data-kind=\"query-%s\" data-source=\"analysis/queries/", preset);
        put_text(b, file);
        nv_sb_puts(b, "\">\n");
        const int max_rows = 25;
        int row = 0, total = 0;
        for (char *line = text; *line; total++) {
            char *end = strchr(line, '\n');
            if (end) *end = '\0';
            if (row <= max_rows) {
                nv_sb_puts(b, "<tr>");
                /* CSV fields: quoted ones may hold commas ("" is a quote) */
                for (char *p = line;;) {
                    nv_sb_puts(b, row == 0 ? "<th>" : "<td>");
                    if (*p == '"') {
                        for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                            if (*p == '"') p++;
                            char c1[2] = {*p, 0};
                            put_text(b, c1);
                        }
                        if (*p == '"') p++;
                    } else {
                        size_t n = strcspn(p, ",");
                        char save = p[n];
                        p[n] = '\0';
                        put_text(b, p);
                        p[n] = save;
                        p += n;
                    }
                    nv_sb_puts(b, row == 0 ? "</th>" : "</td>");
                    if (*p != ',') break;
                    p++;
                }
                nv_sb_puts(b, "</tr>\n");
                row++;
            }
            if (!end) break;
            line = end + 1;
        }
        nv_sb_puts(b, "</table>\n");
        if (total - 1 > max_rows) {
            nv_sb_printf(b, "<p class=\"meta\">%d of %d rows; all of them in <code>analysis/queries/", max_rows, total - 1);
            put_text(b, file);
            nv_sb_puts(b, "</code>.</p>\n");
        }
        free(text);
    }
    if (!compared)
        nv_sb_puts(b, "<p class=\"meta\">compare-runs needs a second run trained with another <code>train.order_seed</code>: "
                      "<code>nerve report RUN --compare RUN2</code>.</p>\n");
    json_decref(idx);
}

nv_status nv_report_write(const char *run, const nv_report_options *opt, char *out_path, size_t out_len,
                          nv_error *err) {
    char path[NV_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/config.cfg", run);
    if (!exists(path))
        return nv_fail(err, NV_EINPUT, "%s: not a run directory (no config.cfg); give the --out directory of nerve train", run);
    nv_status st = training_figure(run, err);
    if (st) return st;
    /* the dynamics record's figures, when the run has one (docs/dynamics.md) */
    snprintf(path, sizeof path, "%s/dynamics", run);
    int ndyn = 0, have_dyn = exists(path);
    if (have_dyn && (st = nv_dynamics_figures(run, &ndyn, err))) return st;
    snprintf(path, sizeof path, "%s/config.cfg", run);
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

    nv_sb_puts(&b, "<h2 id=\"dynamics\">Training dynamics</h2>\n");
    if (have_dyn && ndyn > 0) {
        nv_sb_puts(&b, "<p>From the per-step record in <code>dynamics/</code> (docs/dynamics.md): every step's "
                       "gradients and updates per layer, every unit's influence, dead units, and the exact per-sample "
                       "gradient norms from the stored factors.</p>\n");
        static const char *const stems[] = {"dynamics_norms", "dynamics_influence", "dynamics_dead", "dynamics_samples"};
        for (int i = 0; i < 4; i++) {
            /* the heat map as PNG: its SVG has a rectangle per cell (megabytes) */
            char p2[NV_PATH_LEN + 96];
            snprintf(p2, sizeof p2, "%s/analysis/figures/%s.%s", run, stems[i], i == 1 ? "png" : "svg");
            if (exists(p2)) embed(&b, &ps, run, p2, stems[i], NULL);
        }
    } else {
        nv_sb_puts(&b, "<p class=\"missing\">No training-dynamics record: set <code>dynamics.enabled = true</code> "
                       "in the experiment config (see experiments/spheres_dynamics.cfg and docs/dynamics.md) and train "
                       "again.</p>\n");
    }

    queries_section(&b, run, have_dyn && ndyn > 0);

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

    features_section(&b, &ps, run);

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
