/* dynamics_figures.c: the report's figures of a run's training-dynamics record
 * (include/nerve/dynamics_figures.h), read through the dynamics reader
 * (include/nerve/dynamics.h) and drawn with the figure kit (cairo, PNG and SVG):
 *
 *   dynamics_norms      per-layer gradient and update norms over steps (log scale)
 *   dynamics_influence  every unit's influence over training: a heat map of layer
 *                       blocks (rows) by step (columns), log scale
 *   dynamics_dead       the fraction of dead units per layer over steps
 *   dynamics_samples    the per-sample gradient norm's distribution per epoch
 *                       (5/25/50/75/95th percentiles, log scale)
 *
 * Models side by side in columns (expressive, then bottleneck, then the others
 * recorded). Long runs are binned along the steps (means of log10 over at most
 * NORM_BINS / HEAT_BINS bins), so a figure's size does not grow with the run.
 */
#include "nerve/dynamics_figures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/dynamics.h"
#include "nerve/fsutil.h"
#include "nerve/plot.h"

#define NORM_BINS 600
#define HEAT_BINS 120
#define MAX_MODELS 3

typedef struct {
    char name[64];
    nv_dyn_run *r;
    const nv_dyn_info *in;
} model_rec;

static nv_status save_both(nv_plot_figure *fig, const char *run, const char *stem, int *count, nv_error *err) {
    char dir[NV_PATH_LEN + 64], p[NV_PATH_LEN + 160];
    snprintf(dir, sizeof dir, "%s/analysis/figures", run);
    nv_status st = nv_mkdirs(dir, err);
    snprintf(p, sizeof p, "%s/%s.svg", dir, stem);
    if (!st) st = nv_plot_save(fig, p, err);
    snprintf(p, sizeof p, "%s/%s.png", dir, stem);
    if (!st) st = nv_plot_save(fig, p, err);
    if (!st) (*count)++;
    return st;
}

/* log10 ticks at the integer powers inside [lo, hi] (at most 8, thinned). */
static nv_status log_ticks(nv_plot_panel *p, double lo, double hi, nv_error *err) {
    if (!(hi >= lo) || !isfinite(lo) || !isfinite(hi)) return NV_OK;
    int a = (int)ceil(lo), b = (int)floor(hi);
    if (b < a) {
        a = (int)floor(lo);
        b = a + 1;
    }
    int step = 1;
    while ((b - a) / step + 1 > 8) step++;
    double at[16];
    char buf[16][16];
    const char *lab[16];
    int n = 0;
    for (int e = a; e <= b && n < 16; e += step) {
        at[n] = e;
        snprintf(buf[n], sizeof buf[n], "1e%d", e);
        lab[n] = buf[n];
        n++;
    }
    return nv_plot_panel_set_yticks(p, at, lab, n, err);
}

/* Mean of log10(v) over each of nb bins of x (NaN where a bin has no finite
 * positive value); *nout bins, bin centres into bx. */
static int64_t bin_log(const double *x, const float *v, int64_t n, int64_t stride, int64_t nb, double *bx, double *by) {
    if (n <= nb) {
        for (int64_t i = 0; i < n; i++) {
            bx[i] = x[i];
            by[i] = v[i * stride] > 0 && isfinite(v[i * stride]) ? log10((double)v[i * stride]) : NAN;
        }
        return n;
    }
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = b * n / nb, i1 = (b + 1) * n / nb;
        double s = 0, sx = 0;
        int64_t k = 0;
        for (int64_t i = i0; i < i1; i++) {
            double y = v[i * stride];
            if (y > 0 && isfinite(y)) s += log10(y), k++;
            sx += x[i];
        }
        bx[b] = sx / (double)(i1 - i0);
        by[b] = k ? s / (double)k : NAN;
    }
    return nb;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void range_of(const double *v, int64_t n, double *lo, double *hi) {
    for (int64_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            if (v[i] < *lo) *lo = v[i];
            if (v[i] > *hi) *hi = v[i];
        }
}

/* ---- gradient and update norms --------------------------------------------------- */
/* The binned log10 series of every layer of model j for one quantity: (L, nb) into
 * *by (malloc'd), the bin centres into *bx. */
static nv_status binned_layers(model_rec *m, const char *path, double **bx, double **by, int64_t *nb,
                               nv_error *err) {
    const nv_dyn_info *in = m->in;
    const int64_t n = in->rows[NV_DYN_STEPS];
    const int L = in->spec.nlayers;
    double *x = malloc(sizeof(double) * (size_t)(n + 1));
    float *v = malloc(sizeof(float) * (size_t)(n * L + 1));
    int64_t *steps = malloc(sizeof(int64_t) * (size_t)(n + 1));
    *bx = malloc(sizeof(double) * NORM_BINS);
    *by = malloc(sizeof(double) * NORM_BINS * (size_t)L);
    nv_status st = NV_OK;
    if (!x || !v || !steps || !*bx || !*by) st = nv_fail(err, NV_ENOMEM, "out of memory");
    if (!st) st = nv_dyn_read_i64(m->r, "steps/step", 0, n, steps, err);
    if (!st) st = nv_dyn_read_f32(m->r, path, 0, n, v, err);
    for (int64_t i = 0; !st && i < n; i++) x[i] = (double)steps[i];
    for (int k = 0; k < L && !st; k++) *nb = bin_log(x, v + k, n, L, NORM_BINS, *bx, *by + (size_t)k * NORM_BINS);
    free(x);
    free(v);
    free(steps);
    return st;
}

static nv_status norms_figure(const char *run, model_rec *m, int nm, int *count, nv_error *err) {
    nv_plot_figure *fig = NULL;
    nv_status st = nv_plot_figure_new(2, nm, 330.0 * nm, 480, &fig, err);
    if (st) return st;
    nv_plot_figure_set_title(fig, "Per-layer gradient norm ||dL/dW|| and update norm ||W_after - W_before|| per step (log scale)");
    double *bx[MAX_MODELS][2] = {{0}}, *by[MAX_MODELS][2] = {{0}};
    int64_t nb[MAX_MODELS][2] = {{0}};
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int j = 0; j < nm && !st; j++)
        for (int row = 0; row < 2 && !st; row++) {
            st = binned_layers(&m[j], row ? "steps/update_norm" : "steps/grad_norm", &bx[j][row], &by[j][row],
                               &nb[j][row], err);
            if (!st) range_of(by[j][row], (int64_t)m[j].in->spec.nlayers * NORM_BINS, &lo[row], &hi[row]);
        }
    for (int j = 0; j < nm && !st; j++) {
        const nv_dyn_info *in = m[j].in;
        for (int row = 0; row < 2 && !st; row++) {
            nv_plot_panel *p = nv_plot_figure_panel(fig, row, j);
            char t[128];
            snprintf(t, sizeof t, "%.63s: %s", m[j].name, row ? "update norm" : "gradient norm");
            nv_plot_panel_set_title(p, t);
            nv_plot_panel_set_xlabel(p, "step");
            nv_plot_panel_set_ylabel(p, row ? "||update||" : "||gradient||");
            nv_plot_panel_share_y(p, row + 1);
            for (int k = 0; k < in->spec.nlayers && !st; k++) {
                nv_plot_style s = {.marker = NV_MARKER_NONE, .line_width = 1.2, .has_color = 1,
                                   .color = nv_plot_palette(k)};
                st = nv_plot_line(p, in->layer_names[k], bx[j][row], by[j][row] + (size_t)k * NORM_BINS, nb[j][row], &s,
                                  err);
            }
            if (!st) st = log_ticks(p, lo[row], hi[row], err);
            nv_plot_panel_set_legend(p, row == 0 ? NV_LEGEND_AUTO : NV_LEGEND_NONE);
        }
    }
    if (!st) st = save_both(fig, run, "dynamics_norms", count, err);
    for (int j = 0; j < MAX_MODELS; j++)
        for (int row = 0; row < 2; row++) {
            free(bx[j][row]);
            free(by[j][row]);
        }
    nv_plot_figure_free(fig);
    return st;
}

/* ---- influence heat map ------------------------------------------------------------ */
static nv_status influence_figure(const char *run, model_rec *m, int nm, int *count, nv_error *err) {
    nv_plot_figure *fig = NULL;
    nv_status st = nv_plot_figure_new(1, nm, 360.0 * nm, 420, &fig, err);
    if (st) return st;
    nv_plot_figure_set_title(fig, "Unit influence |sum_i a_i dL/da_i| over training (log10; rows: units by layer, top = first; grey: 0, a dead unit)");
    for (int j = 0; j < nm && !st; j++) {
        const nv_dyn_info *in = m[j].in;
        const int64_t n = in->rows[NV_DYN_NEURONS];
        const int L = in->spec.nlayers;
        int64_t units = 0;
        for (int k = 0; k < L; k++) units += in->spec.widths[k + 1];
        const int64_t cols = n < HEAT_BINS ? n : HEAT_BINS;
        nv_plot_panel *p = nv_plot_figure_panel(fig, 0, j);
        char t[128];
        snprintf(t, sizeof t, "%.63s (%lld recorded steps)", m[j].name, (long long)n);
        nv_plot_panel_set_title(p, t);
        nv_plot_panel_set_xlabel(p, "step");
        if (n == 0) continue;
        double *heat = malloc(sizeof(double) * (size_t)(units * cols));
        int64_t *steps = malloc(sizeof(int64_t) * (size_t)n);
        float *v = NULL;
        if (!heat || !steps) {
            free(heat);
            free(steps);
            st = nv_fail(err, NV_ENOMEM, "out of memory");
            break;
        }
        st = nv_dyn_read_i64(m[j].r, "neurons/step", 0, n, steps, err);
        double at[NV_MAX_LAYERS];
        const char *lab[NV_MAX_LAYERS];
        int64_t row0 = 0;
        for (int k = 0; k < L && !st; k++) {
            const int64_t w = in->spec.widths[k + 1];
            char path[96];
            snprintf(path, sizeof path, "neurons/%s/influence", in->layer_names[k]);
            free(v);
            if (!(v = malloc(sizeof(float) * (size_t)(n * w)))) {
                st = nv_fail(err, NV_ENOMEM, "out of memory");
                break;
            }
            if ((st = nv_dyn_read_f32(m[j].r, path, 0, n, v, err))) break;
            for (int64_t u = 0; u < w; u++)
                for (int64_t c = 0; c < cols; c++) {
                    int64_t i0 = c * n / cols, i1 = (c + 1) * n / cols, k2 = 0;
                    double s = 0;
                    for (int64_t i = i0; i < i1; i++) {
                        double y = v[i * w + u];
                        if (y > 0 && isfinite(y)) s += log10(y), k2++;
                    }
                    heat[(row0 + u) * cols + c] = k2 ? s / (double)k2 : NAN;
                }
            at[k] = (double)row0 + (double)(w - 1) / 2.0;
            lab[k] = in->layer_names[k];
            row0 += w;
        }
        free(v);
        if (!st) {
            /* the colour range over the 1st..99th percentile of the finite cells */
            int64_t nf = 0;
            double *sorted = malloc(sizeof(double) * (size_t)(units * cols));
            if (sorted)
                for (int64_t i = 0; i < units * cols; i++)
                    if (isfinite(heat[i])) sorted[nf++] = heat[i];
            double lo = NAN, hi = NAN;
            if (sorted && nf > 0) {
                qsort(sorted, (size_t)nf, sizeof(double), cmp_double);
                lo = sorted[(int64_t)(0.01 * (double)(nf - 1))];
                hi = sorted[(int64_t)(0.99 * (double)(nf - 1))];
            }
            free(sorted);
            st = nv_plot_heatmap(p, heat, (int)units, (int)cols, lo, hi, "log10 influence", err);
            if (!st) st = nv_plot_panel_set_yticks(p, at, lab, L, err);
            /* x ticks: the steps at a few columns */
            double xa[5];
            char xb[5][24];
            const char *xl[5];
            for (int i = 0; i < 5 && !st; i++) {
                int64_t c = (cols - 1) * i / 4;
                xa[i] = (double)c;
                snprintf(xb[i], sizeof xb[i], "%lld", (long long)steps[(c * n / cols + (c + 1) * n / cols - 1) / 2]);
                xl[i] = xb[i];
            }
            if (!st) st = nv_plot_panel_set_xticks(p, xa, xl, 5, err);
        }
        free(heat);
        free(steps);
    }
    if (!st) st = save_both(fig, run, "dynamics_influence", count, err);
    nv_plot_figure_free(fig);
    return st;
}


/* ---- dead units ------------------------------------------------------------------------- */
static nv_status dead_figure(const char *run, model_rec *all, int nall, int *count, nv_error *err) {
    /* the models with hidden layers (units that can die) */
    model_rec m[MAX_MODELS];
    int nm = 0;
    for (int j = 0; j < nall; j++)
        if (all[j].in->spec.nlayers > 1) m[nm++] = all[j];
    if (nm == 0) return NV_OK;
    nv_plot_figure *fig = NULL;
    nv_status st = nv_plot_figure_new(1, nm, 330.0 * nm, 280, &fig, err);
    if (st) return st;
    nv_plot_figure_set_title(fig, "Dead units: fraction of a layer's units with pre-activation <= 0 for the whole batch");
    for (int j = 0; j < nm && !st; j++) {
        const nv_dyn_info *in = m[j].in;
        const int64_t n = in->rows[NV_DYN_STEPS];
        const int L = in->spec.nlayers;
        nv_plot_panel *p = nv_plot_figure_panel(fig, 0, j);
        nv_plot_panel_set_title(p, m[j].name);
        nv_plot_panel_set_xlabel(p, "step");
        nv_plot_panel_set_ylabel(p, "dead fraction");
        nv_plot_panel_share_y(p, 1);
        nv_plot_panel_set_yrange(p, -0.02, 1.02);
        double *x = malloc(sizeof(double) * (size_t)(n + 1)), *bx = malloc(sizeof(double) * NORM_BINS),
               *by = malloc(sizeof(double) * NORM_BINS);
        float *v = malloc(sizeof(float) * (size_t)(n * L + 1));
        int64_t *steps = malloc(sizeof(int64_t) * (size_t)(n + 1));
        if (!x || !bx || !by || !v || !steps) st = nv_fail(err, NV_ENOMEM, "out of memory");
        if (!st) st = nv_dyn_read_i64(m[j].r, "steps/step", 0, n, steps, err);
        if (!st) st = nv_dyn_read_f32(m[j].r, "steps/dead_frac", 0, n, v, err);
        for (int64_t i = 0; !st && i < n; i++) x[i] = (double)steps[i];
        for (int k = 0; k < L - 1 && !st; k++) { /* hidden layers (the logits have no activation) */
            int64_t nb = n <= NORM_BINS ? n : NORM_BINS;
            for (int64_t b = 0; b < nb; b++) {
                int64_t i0 = b * n / nb, i1 = (b + 1) * n / nb;
                double s = 0, sx = 0;
                for (int64_t i = i0; i < i1; i++) s += v[i * L + k], sx += x[i];
                bx[b] = sx / (double)(i1 - i0);
                by[b] = s / (double)(i1 - i0);
            }
            nv_plot_style s = {.marker = NV_MARKER_NONE, .line_width = 1.2, .has_color = 1, .color = nv_plot_palette(k)};
            st = nv_plot_line(p, in->layer_names[k], bx, by, nb, &s, err);
        }
        nv_plot_panel_set_legend(p, j == 0 ? NV_LEGEND_UPPER_RIGHT : NV_LEGEND_NONE);
        free(x); free(bx); free(by); free(v); free(steps);
    }
    if (!st) st = save_both(fig, run, "dynamics_dead", count, err);
    nv_plot_figure_free(fig);
    return st;
}

/* ---- per-sample gradient norms per epoch ----------------------------------------- */
static nv_status samples_figure(const char *run, model_rec *m, int nm, int *count, nv_error *err) {
    nv_plot_figure *fig = NULL;
    nv_status st = nv_plot_figure_new(1, nm, 330.0 * nm, 300, &fig, err);
    if (st) return st;
    nv_plot_figure_set_title(fig, "Per-sample gradient norm (all layers, exact from the factors) per epoch: percentiles");
    static const double Q[5] = {0.05, 0.25, 0.5, 0.75, 0.95};
    static const char *QN[5] = {"5%", "25%", "median", "75%", "95%"};
    double lo[1] = {INFINITY}, hi[1] = {-INFINITY};
    nv_plot_panel *panels[MAX_MODELS] = {0};
    for (int j = 0; j < nm && !st; j++) {
        const nv_dyn_info *in = m[j].in;
        const int64_t n = in->rows[NV_DYN_SAMPLES];
        const int L = in->spec.nlayers;
        nv_plot_panel *p = nv_plot_figure_panel(fig, 0, j);
        nv_plot_panel_set_title(p, m[j].name);
        nv_plot_panel_set_xlabel(p, "epoch");
        nv_plot_panel_set_ylabel(p, "||per-sample gradient||");
        nv_plot_panel_share_y(p, 1);
        if (n == 0) continue;
        float *g = malloc(sizeof(float) * (size_t)(n * L));
        int64_t *steps = malloc(sizeof(int64_t) * (size_t)n);
        double *tot = malloc(sizeof(double) * (size_t)n);
        const int64_t E = in->epochs;
        double *q = calloc((size_t)(5 * E + 5), sizeof(double)), *ex = calloc((size_t)E + 1, sizeof(double));
        if (!g || !steps || !tot || !q || !ex) st = nv_fail(err, NV_ENOMEM, "out of memory");
        if (!st) st = nv_dyn_read_f32(m[j].r, "samples/grad_norm", 0, n, g, err);
        if (!st) st = nv_dyn_read_i64(m[j].r, "samples/step", 0, n, steps, err);
        int64_t ne = 0;
        for (int64_t i0 = 0; !st && i0 < n;) {
            const int64_t e = (steps[i0] - 1) / in->steps_per_epoch + 1;
            int64_t i1 = i0;
            while (i1 < n && (steps[i1] - 1) / in->steps_per_epoch + 1 == e) i1++;
            for (int64_t i = i0; i < i1; i++) {
                double s = 0;
                for (int k = 0; k < L; k++) s += (double)g[i * L + k] * g[i * L + k];
                tot[i - i0] = s;
            }
            qsort(tot, (size_t)(i1 - i0), sizeof(double), cmp_double);
            for (int k = 0; k < 5; k++) {
                double v = tot[(int64_t)(Q[k] * (double)(i1 - i0 - 1))];
                q[k * E + ne] = v > 0 ? 0.5 * log10(v) : NAN;
            }
            ex[ne++] = (double)e;
            i0 = i1;
        }
        for (int k = 0; k < 5 && !st; k++) {
            nv_plot_style s = {.has_color = 1, .color = nv_plot_viridis(k == 2 ? 0.45 : k == 1 || k == 3 ? 0.2 : 0.8),
                               .marker = k == 2 ? NV_MARKER_CIRCLE : NV_MARKER_NONE, .marker_size = 2,
                               .line_width = k == 2 ? 1.8 : 1.0, .dashed = k == 0 || k == 4};
            range_of(q + k * E, ne, lo, hi);
            st = nv_plot_line(p, QN[k], ex, q + k * E, ne, &s, err);
        }
        panels[j] = p;
        nv_plot_panel_set_legend(p, j == 0 ? NV_LEGEND_AUTO : NV_LEGEND_NONE);
        free(g); free(steps); free(tot); free(q); free(ex);
    }
    for (int j = 0; j < nm && !st; j++)
        if (panels[j]) st = log_ticks(panels[j], lo[0], hi[0], err);
    if (!st) st = save_both(fig, run, "dynamics_samples", count, err);
    nv_plot_figure_free(fig);
    return st;
}

nv_status nv_dynamics_figures(const char *run, int *nfigures, nv_error *err) {
    *nfigures = 0;
    char names[8][64];
    int n = 0;
    nv_status st = nv_dyn_models(run, names, 8, &n, err);
    if (st || n == 0) return st;
    /* expressive, bottleneck, then the rest in name order */
    model_rec m[MAX_MODELS];
    int nm = 0;
    static const char *const pref[] = {"expressive", "bottleneck"};
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < n && nm < MAX_MODELS; i++) {
            int is0 = !strcmp(names[i], pref[0]), is1 = !strcmp(names[i], pref[1]);
            if ((pass == 0 && is0) || (pass == 1 && is1) || (pass == 2 && !is0 && !is1)) {
                snprintf(m[nm].name, sizeof m[nm].name, "%.63s", names[i]);
                m[nm].r = NULL;
                nm++;
            }
        }
    for (int j = 0; j < nm && !st; j++) {
        st = nv_dyn_open(run, m[j].name, &m[j].r, err);
        if (!st) m[j].in = nv_dyn_run_info(m[j].r);
    }
    int have_steps = 1, have_neurons = 1, have_samples = 1;
    for (int j = 0; j < nm && !st; j++) {
        have_steps &= m[j].in->rows[NV_DYN_STEPS] > 0;
        have_neurons &= m[j].in->rows[NV_DYN_NEURONS] > 0;
        have_samples &= m[j].in->rows[NV_DYN_SAMPLES] > 0;
    }
    if (!st && have_steps) st = norms_figure(run, m, nm, nfigures, err);
    if (!st && have_neurons) st = influence_figure(run, m, nm, nfigures, err);
    if (!st && have_steps) st = dead_figure(run, m, nm, nfigures, err);
    if (!st && have_samples) st = samples_figure(run, m, nm, nfigures, err);
    for (int j = 0; j < nm; j++) nv_dyn_close(m[j].r);
    return st;
}
