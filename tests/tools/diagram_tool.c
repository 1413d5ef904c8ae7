/* diagram_tool.c: a driver that feeds diagrams to analysis/ph/diagram.c for the
 * oracle test tests/integration/diagram_gudhi.py (gudhi, POT, numpy).
 *
 * Reads from stdin:
 *     grid K g_1 ... g_K                  scales for the Betti curves
 *     case NA NB                          then NA lines "birth death", NB lines
 *     ...                                 ("inf" and "-inf" allowed)
 * and writes one line per case, every number with %.17g:
 *     d  bottleneck  W1  W2  W3.5
 *     a  tp(p=1) tp(p=2) entropy normalised_entropy entropy(essential_death=10)
 *        betti_at(g_1) ... betti_at(g_K) curve(g_1) ... curve(g_K)   (for diagram A)
 * Exits 2 with a message on bad input, 1 when the library fails.
 *
 * `diagram_tool plot DIR` instead writes figures with a known number of markers
 * per colour to DIR/figure.{png,svg,pdf} for tests/integration/diagram_plot_svg.py:
 *   panel (0,0): lines of 7, 5 and 4 points (palette colours 0, 1, 2), legend;
 *   panel (0,1): 30 points of class 0 and 20 of class 1 (palette 0 and 1), legend;
 *   panel (1,0): a diagram, H0 with 6 finite + 1 essential bars (palette 0), H1 with
 *                4 bars (palette 1), legend;
 *   panel (1,1): a 4 x 3 heat map.
 */
#include "nerve/diagram.h"
#include "nerve/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_diagram(int64_t n, nv_diagram *d, nv_error *err) {
    double *bd = malloc((size_t)(2 * n + 1) * sizeof *bd);
    if (!bd) return 1;
    for (int64_t i = 0; i < 2 * n; i++) {
        char tok[64];
        if (scanf("%63s", tok) != 1) {
            fprintf(stderr, "diagram_tool: stdin: expected %lld numbers, input ended\n",
                    (long long)(2 * n));
            free(bd);
            return 2;
        }
        bd[i] = strtod(tok, NULL);
    }
    nv_status st = nv_diagram_from_pairs(0, bd, n, d, err);
    free(bd);
    if (st != NV_OK) {
        fprintf(stderr, "diagram_tool: %s\n", err->msg);
        return 2;
    }
    return 0;
}

#define CHECK(call)                                                    \
    do {                                                               \
        if ((call) != NV_OK) {                                         \
            fprintf(stderr, "diagram_tool: %s\n", err.msg);            \
            return 1;                                                  \
        }                                                              \
    } while (0)

static int plot_mode(const char *dir) {
    nv_error err = {0};
    nv_plot_figure *f = NULL;
    nv_diagram d[2] = {{0}, {0}};
    nv_status st = nv_plot_figure_new(2, 2, 720, 560, &f, &err);
    if (st == NV_OK) {
        nv_plot_figure_set_title(f, "diagram_tool plot");
        nv_plot_panel *p = nv_plot_figure_panel(f, 0, 0);
        double x[7], y[3][7];
        for (int i = 0; i < 7; i++) {
            x[i] = i;
            for (int k = 0; k < 3; k++) y[k][i] = (k + 1) * sin(0.7 * i + k);
        }
        int n[3] = {7, 5, 4};
        const char *labels[3] = {"seven", "five", "four"};
        for (int k = 0; k < 3 && st == NV_OK; k++) st = nv_plot_line(p, labels[k], x, y[k], n[k], NULL, &err);
        p = nv_plot_figure_panel(f, 0, 1);
        double sx[50], sy[50];
        int32_t cls[50];
        for (int i = 0; i < 50; i++) {
            cls[i] = i < 30 ? 0 : 1;
            sx[i] = cos(i * 0.5) + 3 * cls[i];
            sy[i] = sin(i * 0.5);
        }
        const char *names[2] = {"zero", "one"};
        if (st == NV_OK) st = nv_plot_scatter_classes(p, sx, sy, cls, 50, names, 2, &err);
        double h0[] = {0, .1, 0, .2, 0, .3, 0, .4, 0, .5, 0, .6, 0, INFINITY};
        double h1[] = {.2, .5, .25, .3, .3, .9, .4, .45};
        if (st == NV_OK) st = nv_diagram_from_pairs(0, h0, 7, &d[0], &err);
        if (st == NV_OK) st = nv_diagram_from_pairs(1, h1, 4, &d[1], &err);
        if (st == NV_OK) st = nv_plot_diagram(nv_plot_figure_panel(f, 1, 0), d, 2, &err);
        double hv[12];
        for (int i = 0; i < 12; i++) hv[i] = i / 11.0;
        if (st == NV_OK) st = nv_plot_heatmap(nv_plot_figure_panel(f, 1, 1), hv, 4, 3, NAN, NAN, "v", &err);
    }
    const char *ext[3] = {"png", "svg", "pdf"};
    for (int i = 0; i < 3 && st == NV_OK; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/figure.%s", dir, ext[i]);
        st = nv_plot_save(f, path, &err);
    }
    nv_plot_figure_free(f);
    nv_diagram_free(&d[0]);
    nv_diagram_free(&d[1]);
    nv_plot_release_caches();
    if (st != NV_OK) {
        fprintf(stderr, "diagram_tool plot: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "plot") == 0) return plot_mode(argv[2]);
    nv_error err = {0};
    char word[16];
    long long k = 0;
    if (scanf("%15s %lld", word, &k) != 2 || strcmp(word, "grid") || k < 1) {
        fprintf(stderr, "diagram_tool: stdin line 1: expected 'grid K ...'\n");
        return 2;
    }
    double *grid = malloc((size_t)k * sizeof *grid);
    int64_t *curve = malloc((size_t)k * sizeof *curve);
    if (!grid || !curve) return 1;
    for (long long i = 0; i < k; i++)
        if (scanf("%lf", &grid[i]) != 1) {
            fprintf(stderr, "diagram_tool: grid: expected %lld numbers\n", k);
            return 2;
        }
    long long na, nb;
    while (scanf("%15s %lld %lld", word, &na, &nb) == 3) {
        if (strcmp(word, "case") || na < 0 || nb < 0) {
            fprintf(stderr, "diagram_tool: expected 'case NA NB', found '%s'\n", word);
            return 2;
        }
        nv_diagram a = {0}, b = {0};
        int rc = read_diagram(na, &a, &err);
        if (!rc) rc = read_diagram(nb, &b, &err);
        if (rc) return rc;
        double bn, w1, w2, w35, tp1, tp2, ent, entn, entt;
        CHECK(nv_diagram_bottleneck(&a, &b, &bn, &err));
        CHECK(nv_diagram_wasserstein(&a, &b, 1.0, &w1, &err));
        CHECK(nv_diagram_wasserstein(&a, &b, 2.0, &w2, &err));
        CHECK(nv_diagram_wasserstein(&a, &b, 3.5, &w35, &err));
        printf("d %.17g %.17g %.17g %.17g\n", bn, w1, w2, w35);
        CHECK(nv_diagram_total_persistence(&a, 1.0, INFINITY, &tp1, &err));
        CHECK(nv_diagram_total_persistence(&a, 2.0, INFINITY, &tp2, &err));
        CHECK(nv_diagram_entropy(&a, INFINITY, 0, &ent, &err));
        CHECK(nv_diagram_entropy(&a, INFINITY, 1, &entn, &err));
        CHECK(nv_diagram_entropy(&a, 10.0, 0, &entt, &err));
        CHECK(nv_diagram_betti_curve(&a, grid, k, curve, &err));
        printf("a %.17g %.17g %.17g %.17g %.17g", tp1, tp2, ent, entn, entt);
        for (long long i = 0; i < k; i++) printf(" %lld", (long long)nv_diagram_betti_at(&a, grid[i]));
        for (long long i = 0; i < k; i++) printf(" %lld", (long long)curve[i]);
        printf("\n");
        nv_diagram_free(&a);
        nv_diagram_free(&b);
    }
    free(grid);
    free(curve);
    return 0;
}
