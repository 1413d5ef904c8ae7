/* plot.h: figures for the reports (analysis/plot/plot.c), drawn with cairo.
 *
 * A small plotting kit, enough for a research report and no more: a figure is a
 * grid of panels; each panel gets axes with nice ticks, a title, axis labels and
 * a legend, and holds series added by function calls: lines, scatters (optionally
 * coloured by class), persistence diagrams, barcodes and heat maps. One drawing
 * routine serves every output: nv_plot_save picks a cairo surface from the file
 * name (.png image, .svg, .pdf), so the PNG and the SVG show the same picture.
 * Text uses cairo's toy API (fontconfig's "sans-serif"), nothing else.
 *
 * Units are points (1/72 inch). A PNG has png_scale pixels per point (default 2,
 * i.e. 144 dpi). The layout does not depend on the output format, so
 * nv_plot_data_to_device gives the position of a data point in every format.
 *
 * Colours: series without an explicit colour take the Okabe-Ito palette
 * (colour-blind safe) in order; ordered series (epochs) and heat maps use viridis
 * (perceptually uniform, colour-blind safe, readable in grey).
 *
 * Ownership: nv_plot_figure_new allocates the figure; it owns its panels and a
 * copy of every string and array handed to it (callers may free theirs right
 * after the call). nv_plot_figure_free releases everything (accepts NULL).
 * Output files are written to a temporary name in the same directory, synced
 * and renamed into place, so a reader never sees half a figure.
 */
#ifndef NERVE_PLOT_H
#define NERVE_PLOT_H

#include "nerve/common.h"
#include "nerve/diagram.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nv_plot_figure nv_plot_figure; /* opaque */
typedef struct nv_plot_panel nv_plot_panel;   /* opaque, owned by its figure */

typedef struct {
    double r, g, b; /* 0..1 */
} nv_plot_color;

/* Colour i of the Okabe-Ito palette (blue, vermillion, bluish green, reddish
 * purple, orange, sky blue, yellow, black), cycling. */
nv_plot_color nv_plot_palette(int i);
/* viridis at t in [0, 1] (clamped). */
nv_plot_color nv_plot_viridis(double t);

typedef enum {
    NV_MARKER_AUTO = 0,  /* by series index: circle, square, triangle, ... */
    NV_MARKER_NONE,
    NV_MARKER_CIRCLE,
    NV_MARKER_SQUARE,
    NV_MARKER_TRIANGLE,
    NV_MARKER_DIAMOND,
    NV_MARKER_TRIANGLE_DOWN,
    NV_MARKER_HEXAGON,
} nv_plot_marker;

/* How a series looks. A zeroed struct (or NULL) means: palette colour and marker
 * by series index, solid line 1.5 pt, markers 3.5 pt radius. */
typedef struct {
    int has_color;          /* use `color` instead of the palette */
    nv_plot_color color;
    nv_plot_marker marker;
    double line_width;      /* pt; 0 = default; < 0 = no line (markers only) */
    double marker_size;     /* radius in pt; 0 = default */
    int dashed;
} nv_plot_style;

typedef enum {
    NV_LEGEND_AUTO = 0,     /* inside, in the corner that hides the fewest points */
    NV_LEGEND_NONE,
    NV_LEGEND_UPPER_LEFT,
    NV_LEGEND_UPPER_RIGHT,
    NV_LEGEND_LOWER_LEFT,
    NV_LEGEND_LOWER_RIGHT,
} nv_plot_legend;

/* ---- figures and panels ------------------------------------------------------ */

/* A figure of rows x cols panels, width x height points. */
nv_status nv_plot_figure_new(int rows, int cols, double width, double height,
                             nv_plot_figure **out, nv_error *err);
void nv_plot_figure_free(nv_plot_figure *f);

/* Strings are copied (truncated at 200 bytes); NULL clears. UTF-8 (Greek letters,
 * the infinity sign) renders where the font has the glyph (DejaVu Sans does). */
void nv_plot_figure_set_title(nv_plot_figure *f, const char *title);
void nv_plot_figure_set_png_scale(nv_plot_figure *f, double pixels_per_point);
/* One legend for the whole figure, in a strip under the panels, listing the
 * labelled series of `from` (whose own legend is then not drawn). NULL: none. */
void nv_plot_figure_set_legend_from(nv_plot_figure *f, nv_plot_panel *from);

/* The panel at (row, col), 0-based from the top left; NULL if out of range. */
nv_plot_panel *nv_plot_figure_panel(nv_plot_figure *f, int row, int col);

void nv_plot_panel_set_title(nv_plot_panel *p, const char *title);
void nv_plot_panel_set_xlabel(nv_plot_panel *p, const char *label);
void nv_plot_panel_set_ylabel(nv_plot_panel *p, const char *label);
void nv_plot_panel_set_legend(nv_plot_panel *p, nv_plot_legend where);
/* Fixed axis limits (lo < hi); otherwise the data's range plus a margin. */
void nv_plot_panel_set_xrange(nv_plot_panel *p, double lo, double hi);
void nv_plot_panel_set_yrange(nv_plot_panel *p, double lo, double hi);
/* Ticks only at integers and the y axis from 0 up (counts: Betti numbers). */
void nv_plot_panel_set_integer_y(nv_plot_panel *p, int on);
/* Panels with the same group > 0 get the same y limits (the union of their data),
 * so counts can be compared across panels at a glance. 0: own limits. */
void nv_plot_panel_share_y(nv_plot_panel *p, int group);
/* Ticks at given positions with given labels (layer names, epochs) instead of
 * numeric ones. n = 0 restores numeric ticks. Labels are copied. */
nv_status nv_plot_panel_set_xticks(nv_plot_panel *p, const double *at, const char *const *labels,
                                   int n, nv_error *err);
nv_status nv_plot_panel_set_yticks(nv_plot_panel *p, const double *at, const char *const *labels,
                                   int n, nv_error *err);

/* ---- series ---------------------------------------------------------------------- */

/* A line through (x[i], y[i]) with markers; a NaN y leaves a gap. label NULL or
 * "" keeps the series out of the legend. style may be NULL. */
nv_status nv_plot_line(nv_plot_panel *p, const char *label, const double *x, const double *y,
                       int64_t n, const nv_plot_style *style, nv_error *err);
/* A line as nv_plot_line, with an error bar at each point: y[i] +- yerr[i] (NaN:
 * no bar), drawn under the line with short caps; the y range takes the bars in. */
nv_status nv_plot_line_errors(nv_plot_panel *p, const char *label, const double *x, const double *y,
                              const double *yerr, int64_t n, const nv_plot_style *style, nv_error *err);
/* Markers only. */
nv_status nv_plot_scatter(nv_plot_panel *p, const char *label, const double *x, const double *y,
                          int64_t n, const nv_plot_style *style, nv_error *err);
/* Points coloured by class: cls[i] in 0 .. n_classes-1 takes palette colour
 * cls[i]; the legend lists class_names (NULL: "class k"). */
nv_status nv_plot_scatter_classes(nv_plot_panel *p, const double *x, const double *y,
                                  const int32_t *cls, int64_t n, const char *const *class_names,
                                  int n_classes, nv_error *err);
/* A horizontal (vertical = 0) or vertical reference line at `at`, dashed grey
 * unless styled, e.g. the calibrated scale on a diagram or a Betti curve. */
nv_status nv_plot_refline(nv_plot_panel *p, const char *label, int vertical, double at,
                          const nv_plot_style *style, nv_error *err);

/* A persistence diagram: birth (x) against death (y), the diagonal, and the
 * essential bars on a dashed line marked with the infinity sign above the finite
 * points. One palette colour and marker per diagram (d[k].dim picks both, so H0 and
 * H1 look the same in every figure), legend "H<dim>". */
nv_status nv_plot_diagram(nv_plot_panel *p, const nv_diagram *d, int n_diagrams, nv_error *err);
/* A barcode: one horizontal bar per interval, stacked by dimension then birth;
 * essential bars run to the right edge and end in an arrow. */
nv_status nv_plot_barcode(nv_plot_panel *p, const nv_diagram *d, int n_diagrams, nv_error *err);
/* Betti curves: for each diagram, the number of bars alive (birth <= s < death)
 * as an exact step function of the scale s over [lo, hi] (NaN for either: from 0,
 * or the smallest birth if negative, to a little past the largest finite death),
 * in the diagram's dimension colour, legend "beta_<dim>" (Greek). Integer y ticks. */
nv_status nv_plot_betti_curve(nv_plot_panel *p, const nv_diagram *d, int n_diagrams, double lo,
                              double hi, nv_error *err);
/* A heat map of values (rows, cols), row-major, row 0 at the top, cell (i, j)
 * centred at x = j, y = i (label the axes with set_x/yticks); viridis from vmin
 * to vmax (NaN for either: the data's range), a colour bar on the right labelled
 * cbar_label. NaN cells are left light grey. */
nv_status nv_plot_heatmap(nv_plot_panel *p, const double *values, int rows, int cols,
                          double vmin, double vmax, const char *cbar_label, nv_error *err);

/* ---- output ---------------------------------------------------------------------- */

/* Draws the figure into `path`; the format follows the extension (.png, .svg,
 * .pdf; anything else is NV_EINPUT). Written to a temporary file in the same
 * directory, fsync'd and renamed, so `path` is either the old file or the new. */
nv_status nv_plot_save(const nv_plot_figure *f, const char *path, nv_error *err);

/* Where the data point (x, y) of panel p lands, in points from the figure's top
 * left (multiply by png_scale for PNG pixels). For tests and annotations. */
nv_status nv_plot_data_to_device(const nv_plot_figure *f, const nv_plot_panel *p, double x,
                                 double y, double *dev_x, double *dev_y, nv_error *err);

/* A smaller copy of a PNG file, at most max_width pixels wide (the same size when it
 * is narrower), as PNG bytes in *out (malloc'd, caller frees) of *len bytes; its
 * size in *width x *height (either may be NULL). For pages that show a large
 * figure as a preview linked to the file. */
nv_status nv_plot_png_preview(const char *path, int max_width, unsigned char **out, size_t *len, int *width,
                              int *height, nv_error *err);

/* Frees the process-wide font caches of cairo and fontconfig, which otherwise
 * live until exit and show up as leaks under AddressSanitizer (make SANITIZE=1).
 * Call once at the end of a program, after every figure is freed; never needed
 * for correctness. */
void nv_plot_release_caches(void);

/* ---- the study's chart ----------------------------------------------------------- */

/* Betti numbers at the calibrated scale by layer (x), one line per epoch (viridis,
 * early dark to late light), in a grid: a row per group (each class, then the
 * combined set) and a column per (dimension, model), models side by side within a
 * dimension. Panels of one dimension share their y scale; one legend of epochs
 * under the grid. */
typedef struct {
    int n_models;
    const char *const *model_names;   /* (n_models) e.g. "expressive", "bottleneck" */
    int n_groups;
    const char *const *group_names;   /* (n_groups) e.g. "class 0", "class 1", "all" */
    int n_dims;                       /* Betti numbers shown: beta_0 .. beta_{n_dims-1} */
    int n_epochs;
    const int *epochs;                /* (n_epochs) epoch numbers, for the legend */
    int n_layers;
    const char *const *layer_names;   /* (n_layers) x tick labels, e.g. "input", "h1" */
    const double *betti;              /* (n_models, n_groups, n_dims, n_epochs, n_layers);
                                         NaN where missing */
    const char *title;                /* may be NULL */
} nv_plot_betti_grid;

/* Builds the figure (size from the grid: about 190 x 150 pt per panel); the caller
 * saves it and frees it. */
nv_status nv_plot_betti_figure(const nv_plot_betti_grid *g, nv_plot_figure **out, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
