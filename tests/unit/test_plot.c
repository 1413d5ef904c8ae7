/* test_plot.c: analysis/plot/plot.c draws what it is asked to, where it should.
 *
 * Every figure kind is saved as PNG and SVG into a temporary directory; PNGs are
 * read back with cairo (size, a plotted point's colour at the pixel the layout
 * says, ink in a region) and SVGs are scanned for one filled path per marker. The
 * XML itself is checked by tests/integration/diagram_plot_svg.py. Set
 * NERVE_PLOT_KEEP=1 to keep the directory and look at the pictures.
 */
#include "testutil.h"

#include <cairo.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nerve/plot.h"

static char dir[256];

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "%s", nv_test_tmpdir("plot"));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    nv_plot_release_caches(); /* font caches, for the leak checker */
    if (getenv("NERVE_PLOT_KEEP")) {
        fprintf(stderr, "figures kept in %s\n", dir);
        return 0;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *out_path(const char *name) {
    static char buf[8][320];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* How many elements of the SVG are filled with colour c. cairo 1.16 writes
 * "fill:rgb(R%,G%,B%)" into a style attribute; later versions write a fill
 * attribute, so look for the percentages, which both spell the same way. */
static int count_fill(const char *svg, nv_plot_color c) {
    /* cairo prints each channel as a percentage with %f, trailing zeros trimmed */
    char ch[3][32], pat[112];
    double v[3] = {c.r * 100, c.g * 100, c.b * 100};
    for (int i = 0; i < 3; i++) {
        snprintf(ch[i], sizeof ch[i], "%f", v[i]);
        char *e = ch[i] + strlen(ch[i]) - 1;
        while (*e == '0') *e-- = '\0';
        if (*e == '.') *e = '\0';
    }
    snprintf(pat, sizeof pat, "rgb(%s%%,%s%%,%s%%)", ch[0], ch[1], ch[2]);
    size_t plen = strlen(pat);
    int n = 0;
    for (const char *p = svg; (p = strstr(p, "<path")); p++) {
        const char *end = strchr(p, '>');
        if (!end) break;
        for (const char *q = p; (q = strstr(q, "fill")) && q < end; q++) {
            const char *r = q + 4;
            if (*r == ':') r += 1;
            else if (r[0] == '=' && r[1] == '"') r += 2;
            else continue;
            if (r + plen <= end && strncmp(r, pat, plen) == 0) {
                n++;
                break;
            }
        }
    }
    return n;
}

typedef struct {
    cairo_surface_t *s;
    int w, h, stride;
    unsigned char *data;
} image;

static image load_png(const char *path) {
    image im;
    im.s = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(im.s), CAIRO_STATUS_SUCCESS);
    cairo_surface_flush(im.s);
    im.w = cairo_image_surface_get_width(im.s);
    im.h = cairo_image_surface_get_height(im.s);
    im.stride = cairo_image_surface_get_stride(im.s);
    im.data = cairo_image_surface_get_data(im.s);
    return im;
}

/* RGB at pixel (x, y) (ARGB32 in native endianness; our figures are opaque). */
static void pixel(const image *im, int x, int y, int rgb[3]) {
    uint32_t v = *(const uint32_t *)(im->data + (size_t)y * im->stride + (size_t)x * 4);
    rgb[0] = (v >> 16) & 255;
    rgb[1] = (v >> 8) & 255;
    rgb[2] = v & 255;
}

static int64_t ink_in(const image *im, int x0, int y0, int x1, int y1) {
    int64_t n = 0;
    for (int y = NV_MAX(0, y0); y < NV_MIN(im->h, y1); y++)
        for (int x = NV_MAX(0, x0); x < NV_MIN(im->w, x1); x++) {
            int c[3];
            pixel(im, x, y, c);
            n += c[0] < 240 || c[1] < 240 || c[2] < 240;
        }
    return n;
}

static void assert_color_at(const image *im, double px, double py, nv_plot_color want) {
    int c[3];
    pixel(im, (int)px, (int)py, c);
    int w[3] = {(int)lround(want.r * 255), (int)lround(want.g * 255), (int)lround(want.b * 255)};
    for (int i = 0; i < 3; i++)
        if (abs(c[i] - w[i]) > 3)
            fail_msg("pixel (%d, %d): rgb(%d, %d, %d), expected rgb(%d, %d, %d)", (int)px, (int)py,
                     c[0], c[1], c[2], w[0], w[1], w[2]);
}

static void test_line_chart(void **state) {
    (void)state;
    nv_plot_figure *f;
    nv_error err = {0};
    assert_int_equal(nv_plot_figure_new(1, 1, 400, 300, &f, &err), NV_OK);
    nv_plot_figure_set_title(f, "Betti numbers by layer");
    nv_plot_panel *p = nv_plot_figure_panel(f, 0, 0);
    assert_null(nv_plot_figure_panel(f, 1, 0));
    nv_plot_panel_set_xlabel(p, "layer");
    nv_plot_panel_set_ylabel(p, "\xce\xb2\xe2\x82\x80");
    nv_plot_panel_set_integer_y(p, 1);
    double x[5] = {0, 1, 2, 3, 4}, y1[5] = {12, 7, 3, 2, 2}, y2[5] = {12, 9, NAN, 4, 3};
    assert_int_equal(nv_plot_line(p, "epoch 0", x, y1, 5, NULL, &err), NV_OK);
    assert_int_equal(nv_plot_line(p, "epoch 10", x, y2, 5, NULL, &err), NV_OK);
    const char *names[5] = {"in", "h1", "h2", "h3", "out"};
    assert_int_equal(nv_plot_panel_set_xticks(p, x, names, 5, &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("line.png"), &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("line.svg"), &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("line.pdf"), &err), NV_OK);

    image im = load_png(out_path("line.png"));
    assert_int_equal(im.w, 800); /* 400 pt at the default 2 px/pt */
    assert_int_equal(im.h, 600);
    /* the second point of the first series: a palette-0 marker centred there */
    double dx, dy;
    assert_int_equal(nv_plot_data_to_device(f, p, 1, 7, &dx, &dy, &err), NV_OK);
    assert_color_at(&im, dx * 2, dy * 2, nv_plot_palette(0));
    assert_int_equal(nv_plot_data_to_device(f, p, 3, 4, &dx, &dy, &err), NV_OK);
    assert_color_at(&im, dx * 2, dy * 2, nv_plot_palette(1));
    /* ink: the title band has text, the corner of the margin has none */
    assert_true(ink_in(&im, 0, 0, 800, 30) > 100);
    assert_int_equal(ink_in(&im, 0, 560, 20, 600), 0);
    cairo_surface_destroy(im.s);

    /* SVG: one filled path per marker (5 + 4, the NaN point has none) and one per
     * legend entry. */
    char *svg = nv_test_read_file(out_path("line.svg"), NULL);
    assert_non_null(strstr(svg, "<svg"));
    assert_int_equal(count_fill(svg, nv_plot_palette(0)), 5 + 1);
    assert_int_equal(count_fill(svg, nv_plot_palette(1)), 4 + 1);
    free(svg);
    nv_plot_figure_free(f);
}

static void test_same_bytes_and_atomic(void **state) {
    (void)state;
    nv_plot_figure *f;
    nv_error err = {0};
    assert_int_equal(nv_plot_figure_new(1, 1, 200, 150, &f, &err), NV_OK);
    double x[3] = {0, 1, 2}, y[3] = {1, 0, 1};
    assert_int_equal(nv_plot_scatter(nv_plot_figure_panel(f, 0, 0), "s", x, y, 3, NULL, &err), NV_OK);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(nv_plot_save(f, out_path(k ? "b.svg" : "a.svg"), &err), NV_OK);
        assert_int_equal(nv_plot_save(f, out_path(k ? "b.png" : "a.png"), &err), NV_OK);
        assert_int_equal(nv_plot_save(f, out_path(k ? "b.pdf" : "a.pdf"), &err), NV_OK);
    }
    const char *ext[3] = {"svg", "png", "pdf"};
    for (int i = 0; i < 3; i++) {
        char a[32], b[32];
        snprintf(a, sizeof a, "a.%s", ext[i]);
        snprintf(b, sizeof b, "b.%s", ext[i]);
        char *sa = nv_test_read_file(out_path(a), NULL), *sb = nv_test_read_file(out_path(b), NULL);
        struct stat st;
        stat(out_path(a), &st);
        assert_true(st.st_size > 100);
        assert_memory_equal(sa, sb, (size_t)st.st_size);
        free(sa);
        free(sb);
    }
    /* permissions as for any new file (not mkstemp's 0600) */
    mode_t um = umask(0);
    umask(um);
    struct stat stp;
    assert_int_equal(stat(out_path("a.png"), &stp), 0);
    assert_int_equal(stp.st_mode & 0777, 0666 & ~um);
    /* unknown extension, unwritable directory: errors, nothing left behind */
    assert_int_equal(nv_plot_save(f, out_path("x.jpg"), &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, ".png"));
    nv_error_clear(&err);
    assert_int_equal(nv_plot_save(f, "/nonexistent-dir/x.png", &err), NV_EIO);
    nv_error_clear(&err);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp", dir);
    FILE *ls = popen(cmd, "r");
    int n_tmp = -1;
    assert_int_equal(fscanf(ls, "%d", &n_tmp), 1);
    pclose(ls);
    assert_int_equal(n_tmp, 0);
    nv_plot_figure_free(f);
}

static void test_diagram_and_barcode(void **state) {
    (void)state;
    nv_error err = {0};
    double h0[] = {0, 0.5, 0, 1.0, 0, 2.0, 0, INFINITY};
    double h1[] = {1.0, 2.5, 1.5, 1.75, 2.0, 2.0};
    nv_diagram d[2];
    assert_int_equal(nv_diagram_from_pairs(0, h0, 4, &d[0], &err), NV_OK);
    assert_int_equal(nv_diagram_from_pairs(1, h1, 3, &d[1], &err), NV_OK);
    nv_plot_figure *f;
    assert_int_equal(nv_plot_figure_new(1, 2, 640, 300, &f, &err), NV_OK);
    nv_plot_panel *pd = nv_plot_figure_panel(f, 0, 0), *pb = nv_plot_figure_panel(f, 0, 1);
    nv_plot_panel_set_title(pd, "persistence diagram");
    nv_plot_panel_set_xlabel(pd, "birth");
    nv_plot_panel_set_ylabel(pd, "death");
    assert_int_equal(nv_plot_diagram(pd, d, 2, &err), NV_OK);
    assert_int_equal(nv_plot_refline(pd, "scale", 1, 1.25, NULL, &err), NV_OK);
    nv_plot_panel_set_title(pb, "barcode");
    nv_plot_panel_set_xlabel(pb, "scale");
    assert_int_equal(nv_plot_barcode(pb, d, 2, &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("diagram.png"), &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("diagram.svg"), &err), NV_OK);

    image im = load_png(out_path("diagram.png"));
    double dx, dy;
    /* the H1 point (1.0, 2.5) in colour 1 */
    assert_int_equal(nv_plot_data_to_device(f, pd, 1.0, 2.5, &dx, &dy, &err), NV_OK);
    assert_color_at(&im, dx * 2, dy * 2, nv_plot_palette(1));
    /* the H0 point (0, 2.0) in colour 0 */
    assert_int_equal(nv_plot_data_to_device(f, pd, 0, 2.0, &dx, &dy, &err), NV_OK);
    assert_color_at(&im, dx * 2, dy * 2, nv_plot_palette(0));
    /* the essential bar sits above every finite death: some palette-0 pixel lies
     * in the row band above (0, 2.5) */
    double ex, ey;
    assert_int_equal(nv_plot_data_to_device(f, pd, 0, 2.5, &ex, &ey, &err), NV_OK);
    int found = 0;
    for (int y = 0; y < (int)(ey * 2) - 4 && !found; y++) {
        int c[3];
        pixel(&im, (int)(ex * 2), y, c);
        found = abs(c[0] - 0) < 4 && abs(c[1] - 114) < 4 && abs(c[2] - 178) < 4;
    }
    assert_true(found);
    cairo_surface_destroy(im.s);
    char *svg = nv_test_read_file(out_path("diagram.svg"), NULL);
    /* diagram: 4 H0 markers + 1 legend; barcode draws H0 as strokes, its legend as a line */
    assert_int_equal(count_fill(svg, nv_plot_palette(0)), 4 + 1 + 1 /* essential arrowhead */);
    free(svg);
    nv_plot_figure_free(f);
    nv_diagram_free(&d[0]);
    nv_diagram_free(&d[1]);
}

static void test_betti_curve(void **state) {
    (void)state;
    nv_error err = {0};
    double h0[] = {0, 1, 0, 2, 0, 3, 0, INFINITY};
    double h1[] = {1.5, 2.5};
    nv_diagram d[2];
    assert_int_equal(nv_diagram_from_pairs(0, h0, 4, &d[0], &err), NV_OK);
    assert_int_equal(nv_diagram_from_pairs(1, h1, 1, &d[1], &err), NV_OK);
    nv_plot_figure *f;
    assert_int_equal(nv_plot_figure_new(1, 1, 360, 260, &f, &err), NV_OK);
    nv_plot_panel *p = nv_plot_figure_panel(f, 0, 0);
    nv_plot_panel_set_xlabel(p, "scale");
    assert_int_equal(nv_plot_betti_curve(p, d, 2, NAN, NAN, &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("betti_curve.png"), &err), NV_OK);
    image im = load_png(out_path("betti_curve.png"));
    double dx, dy;
    /* beta_0 is 3 on [1, 2): the middle of that step is colour 0 */
    assert_int_equal(nv_plot_data_to_device(f, p, 1.5, 3, &dx, &dy, &err), NV_OK);
    assert_color_at(&im, dx * 2, dy * 2, nv_plot_palette(0));
    /* beta_1 is 1 on [1.5, 2.5): at 2.25 it is colour 1 (beta_0 is 2 there) */
    assert_int_equal(nv_plot_data_to_device(f, p, 2.25, 1, &dx, &dy, &err), NV_OK);
    assert_color_at(&im, dx * 2, dy * 2, nv_plot_palette(1));
    cairo_surface_destroy(im.s);
    nv_plot_figure_free(f);
    nv_diagram_free(&d[0]);
    nv_diagram_free(&d[1]);
}

static void test_scatter_classes_and_heatmap(void **state) {
    (void)state;
    nv_error err = {0};
    nv_plot_figure *f;
    assert_int_equal(nv_plot_figure_new(1, 2, 700, 320, &f, &err), NV_OK);
    nv_plot_panel *ps = nv_plot_figure_panel(f, 0, 0), *ph = nv_plot_figure_panel(f, 0, 1);
    enum { N = 300 };
    double x[N], y[N];
    int32_t cls[N];
    for (int i = 0; i < N; i++) {
        cls[i] = i % 3;
        double t = i * 0.37;
        x[i] = cls[i] * 3 + cos(t) * (1 + 0.1 * (i % 7));
        y[i] = cls[i] * 1.5 + sin(t) * (1 + 0.1 * (i % 5));
    }
    const char *names[3] = {"sphere A", "sphere B", "sphere C"};
    assert_int_equal(nv_plot_scatter_classes(ps, x, y, cls, N, names, 3, &err), NV_OK);
    nv_plot_panel_set_title(ps, "PCA of layer h2");
    nv_plot_panel_set_xlabel(ps, "PC 1");
    nv_plot_panel_set_ylabel(ps, "PC 2");
    int32_t bad = 3;
    assert_int_equal(nv_plot_scatter_classes(ps, x, y, &bad, 1, names, 3, &err), NV_EINPUT);
    nv_error_clear(&err);

    enum { L = 6 };
    double cka[L * L];
    for (int i = 0; i < L; i++)
        for (int j = 0; j < L; j++) cka[i * L + j] = exp(-0.4 * abs(i - j));
    cka[0 * L + 5] = NAN;
    assert_int_equal(nv_plot_heatmap(ph, cka, L, L, 0.0, 1.0, "CKA", &err), NV_OK);
    assert_int_equal(nv_plot_heatmap(ph, cka, L, L, 0.0, 1.0, "CKA", &err), NV_EINPUT);
    nv_error_clear(&err);
    const char *layers[L] = {"in", "h1", "h2", "h3", "h4", "out"};
    double at[L] = {0, 1, 2, 3, 4, 5};
    assert_int_equal(nv_plot_panel_set_xticks(ph, at, layers, L, &err), NV_OK);
    assert_int_equal(nv_plot_panel_set_yticks(ph, at, layers, L, &err), NV_OK);
    nv_plot_panel_set_title(ph, "linear CKA between layers");
    assert_int_equal(nv_plot_save(f, out_path("scatter_heat.png"), &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("scatter_heat.svg"), &err), NV_OK);

    image im = load_png(out_path("scatter_heat.png"));
    double dx, dy;
    /* the diagonal cell (2, 2) is viridis(1), the far cell (4, 0) viridis(exp(-1.6)) */
    assert_int_equal(nv_plot_data_to_device(f, ph, 2, 2, &dx, &dy, &err), NV_OK);
    assert_color_at(&im, dx * 2, dy * 2, nv_plot_viridis(1.0));
    assert_int_equal(nv_plot_data_to_device(f, ph, 0, 4, &dx, &dy, &err), NV_OK);
    assert_color_at(&im, dx * 2, dy * 2, nv_plot_viridis(exp(-1.6)));
    /* row 0 is at the top: cell (row 0, col 5) is the NaN one, light grey */
    assert_int_equal(nv_plot_data_to_device(f, ph, 5, 0, &dx, &dy, &err), NV_OK);
    nv_plot_color grey = {0.85, 0.85, 0.85};
    assert_color_at(&im, dx * 2, dy * 2, grey);
    cairo_surface_destroy(im.s);
    char *svg = nv_test_read_file(out_path("scatter_heat.svg"), NULL);
    /* 100 points per class plus the legend's marker */
    for (int k = 0; k < 3; k++) assert_int_equal(count_fill(svg, nv_plot_palette(k)), 100 + 1);
    free(svg);
    nv_plot_figure_free(f);
}

static void test_betti_study_figure(void **state) {
    (void)state;
    nv_error err = {0};
    const char *models[2] = {"expressive", "bottleneck"};
    const char *groups[3] = {"class 0", "class 1", "all"};
    const char *layers[5] = {"input", "h1", "h2", "h3", "h4"};
    int epochs[4] = {0, 5, 10, 20};
    enum { M = 2, G = 3, D = 2, E = 4, L = 5 };
    double betti[M * G * D * E * L];
    for (int m = 0; m < M; m++)
        for (int g = 0; g < G; g++)
            for (int d = 0; d < D; d++)
                for (int e = 0; e < E; e++)
                    for (int l = 0; l < L; l++) {
                        double base = d == 0 ? (g == 2 ? 2 : 1) : (g == 2 ? 2 : 1);
                        double tangle = d == 0 ? 12 : 5;
                        /* the expressive net untangles over depth and epochs; the
                         * bottleneck one less so */
                        double rate = m == 0 ? 0.35 : 0.12;
                        double v = base + tangle * exp(-rate * l * (1 + e));
                        betti[((((m * G + g) * D + d) * E + e) * L) + l] = round(v);
                    }
    betti[0 * L + 3] = NAN; /* a missing value leaves a gap */
    nv_plot_betti_grid grid = {M, models, G, groups, D, E, epochs, L, layers, betti,
                               "Betti numbers at the calibrated scale"};
    nv_plot_figure *f;
    assert_int_equal(nv_plot_betti_figure(&grid, &f, &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("study.png"), &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("study.svg"), &err), NV_OK);
    /* panels of one dimension share their y scale: the same value lands at the
     * same height in the expressive and the bottleneck panel of a row */
    nv_plot_panel *a = nv_plot_figure_panel(f, 1, 0), *b = nv_plot_figure_panel(f, 1, 1);
    nv_plot_panel *c = nv_plot_figure_panel(f, 2, 0);
    double ax, ay, bx, by, cx, cy;
    assert_int_equal(nv_plot_data_to_device(f, a, 0, 5, &ax, &ay, &err), NV_OK);
    assert_int_equal(nv_plot_data_to_device(f, b, 0, 5, &bx, &by, &err), NV_OK);
    assert_int_equal(nv_plot_data_to_device(f, c, 0, 5, &cx, &cy, &err), NV_OK);
    assert_true(fabs(ay - by) < 1e-9);
    assert_true(bx > ax);
    assert_true(fabs(cx - ax) < 1e-9 && cy > ay);
    nv_plot_figure_free(f);
    grid.n_layers = 0;
    assert_int_equal(nv_plot_betti_figure(&grid, &f, &err), NV_EINPUT);
    assert_null(f);
}

/* Degenerate input still gives a figure: empty panels, an empty diagram, only
 * essential bars, all-NaN data, a single point; bad input gives NV_EINPUT. */
static void test_edge_cases(void **state) {
    (void)state;
    nv_error err = {0};
    nv_plot_figure *f;
    assert_int_equal(nv_plot_figure_new(2, 3, 600, 400, &f, &err), NV_OK);
    nv_diagram empty = {0};
    double ess[] = {0, INFINITY, 0.5, INFINITY};
    nv_diagram only_ess;
    assert_int_equal(nv_diagram_from_pairs(0, ess, 2, &only_ess, &err), NV_OK);
    assert_int_equal(nv_plot_diagram(nv_plot_figure_panel(f, 0, 1), &empty, 1, &err), NV_OK);
    assert_int_equal(nv_plot_diagram(nv_plot_figure_panel(f, 0, 2), &only_ess, 1, &err), NV_OK);
    assert_int_equal(nv_plot_barcode(nv_plot_figure_panel(f, 1, 0), &only_ess, 1, &err), NV_OK);
    double nan2[2] = {NAN, NAN}, one = 3.0;
    assert_int_equal(nv_plot_line(nv_plot_figure_panel(f, 1, 1), "nan", nan2, nan2, 2, NULL, &err), NV_OK);
    assert_int_equal(nv_plot_scatter(nv_plot_figure_panel(f, 1, 2), "one", &one, &one, 1, NULL, &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("edge.png"), &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("edge.svg"), &err), NV_OK);
    assert_int_equal(nv_plot_line(NULL, "x", &one, &one, 1, NULL, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_plot_line(nv_plot_figure_panel(f, 0, 0), "x", NULL, &one, 1, NULL, &err), NV_EINPUT);
    nv_error_clear(&err);
    nv_plot_figure_free(f);
    nv_diagram_free(&only_ess);
    /* a grid too dense for its size is refused with a message that says what to do */
    assert_int_equal(nv_plot_figure_new(20, 20, 200, 200, &f, &err), NV_OK);
    assert_int_equal(nv_plot_save(f, out_path("dense.png"), &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "larger"));
    nv_error_clear(&err);
    nv_plot_figure_free(f);
    assert_int_equal(nv_plot_figure_new(0, 1, 200, 200, &f, &err), NV_EINPUT);
    nv_plot_figure_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_chart),
        cmocka_unit_test(test_same_bytes_and_atomic),
        cmocka_unit_test(test_diagram_and_barcode),
        cmocka_unit_test(test_betti_curve),
        cmocka_unit_test(test_scatter_classes_and_heatmap),
        cmocka_unit_test(test_betti_study_figure),
        cmocka_unit_test(test_edge_cases),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
