/* dataset.h: labelled point sets in memory, the generators and loaders that make
 * them (datasets/), and the dataset file that `nerve data` writes and `nerve train`
 * reads.
 *
 * Ownership: every nv_dataset owns its three arrays (malloc'd by the function that
 * filled it); nv_dataset_free releases them and accepts a zeroed or NULL struct.
 */
#ifndef NERVE_DATASET_H
#define NERVE_DATASET_H

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NV_DATASET_FORMAT "nerve-dataset"
#define NV_DATASET_VERSION 1
/* Labels are small non-negative integers; this bound keeps per-class tables and the
 * split's RNG index layout (class << 40) in range. */
#define NV_MAX_CLASSES 65536
/* Where Debian's dataset-fashion-mnist package puts the four IDX files. */
#define NV_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct {
    int64_t n;          /* rows (samples) */
    int64_t d;          /* features per sample */
    int32_t nclasses;   /* labels are 0 .. nclasses-1 */
    nv_real *x;         /* (n, d) row-major */
    int32_t *y;         /* (n) labels */
    int64_t *ids;       /* (n) sample id: the row's index in the source before any
                           split or shuffle, so later stages can trace a point back */
} nv_dataset;

void nv_dataset_free(nv_dataset *ds);

/* Allocates the three arrays for n rows of d features (n may be 0); the struct is
 * overwritten (free it first). nclasses is left 0 for the caller to set. */
nv_status nv_dataset_alloc(nv_dataset *ds, int64_t n, int64_t d, nv_error *err);

/* counts[c] = rows of class c, for c < ds->nclasses (caller's array). */
void nv_dataset_class_counts(const nv_dataset *ds, int64_t *counts);

/* Checks sizes, labels in range and every value finite; `what` names the source in
 * the message ("data/train.csv"). */
nv_status nv_dataset_validate(const nv_dataset *ds, const char *what, nv_error *err);

/* --- the intersecting-spheres generator (datasets/spheres.c) ------------------
 * Two classes. Class c is an m-sphere of radius radius[c] centred at
 * centre_c = (c == 0 ? -offset/2 : +offset/2) * e_0 in R^d. With m = d-1 points are
 * uniform on the full (d-1)-sphere; with m < d-1 a uniform point on the unit
 * m-sphere in R^(m+1) is embedded by a random rotation Q_c (one per class, from the
 * seed) into R^d, so circles (m=1) or 2-spheres show their topology in H1/H2.
 * Gaussian noise of std `noise` is added in R^d. `oversample` > 0 adds
 * round(oversample * points_per_class) extra points per class, drawn from the same
 * sphere and kept only when (before noise) they lie within `oversample_width` of the
 * other class's sphere, which densifies the region where the classes meet; when too
 * few candidates land there (spheres that barely meet) it is NV_EINPUT, not a
 * silently smaller set.
 * The split puts round(test_fraction * n) points of each class in the test set
 * (stratified), the order within each set shuffled by the seed. Same parameters,
 * same bytes. */
typedef struct {
    int64_t dim;              /* ambient dimension d >= 2 */
    int64_t sphere_dim;       /* m, 1 <= m <= d-1 */
    int64_t points_per_class; /* before the split */
    double radius[2];
    double offset;            /* distance between the two centres */
    double noise;             /* std of isotropic Gaussian noise, >= 0 */
    double oversample;        /* extra fraction near the intersection, >= 0 */
    double oversample_width;  /* band half-width for oversampling, > 0 */
    double test_fraction;     /* in [0, 1) */
    uint64_t seed;
} nv_spheres_params;

/* Defaults: dim 12, sphere_dim 11, 2000 points per class, radii 1.0 and 1.3, offset
 * 0.4, no noise, no oversampling (width 0.1), test fraction 0.2, seed 1. */
void nv_spheres_defaults(nv_spheres_params *p);
/* NV_EINPUT naming the field when a parameter is out of range (what the config
 * loader and the CLI call before generating). */
nv_status nv_spheres_validate(const nv_spheres_params *p, nv_error *err);
/* All points before the split: class 0 (points_per_class regular points, then the
 * oversampled ones), then class 1; ids are 0..n-1 in that order. */
nv_status nv_spheres_sample(const nv_spheres_params *p, nv_dataset *all, nv_error *err);
/* nv_spheres_sample followed by nv_dataset_split(test_fraction, seed). */
nv_status nv_spheres_generate(const nv_spheres_params *p, nv_dataset *train, nv_dataset *test,
                              nv_error *err);
/* A one-line description of the parameters (the dataset file's `source`). */
void nv_spheres_describe(const nv_spheres_params *p, char *buf, size_t len);

/* --- the nine-disks generator (datasets/disks.c) -----------------------------
 * Data set D-I of Naitzat, Zhitnikov and Lim (JMLR 2020), in R^2: class 0 (a) is
 * nine disjoint disks (beta0 = 9), class 1 (b) the rest of a square with a ring
 * around each disk removed (beta0 = 1, beta1 = 9). Two layouts:
 *
 * NV_DISKS_NAITZAT (the default, the paper's own data): the grid
 * x, y in {-10 + i * step : i = 0, 1, ...} below 10 (step 0.19: 106 x 106 points);
 * nine disks of radius `radius` (1.3), eight centred on the circle of radius 7 at
 * 0, 45, ..., 315 degrees and one at the origin. A grid point at distance < radius
 * from a centre is class a; at distance in [radius, radius + gap) (gap 0.5) it is
 * removed; every other point is class b. Then each coordinate is divided by its
 * largest absolute value over the kept points (scikit-learn's MaxAbsScaler, as the
 * paper's code does), so the data lie in [-1, 1]^2. Deterministic: the seed only
 * shuffles the split. points_per_class is not used (the grid fixes the counts:
 * 1,344 points of class a and 8,706 of class b at the defaults, as the paper's
 * code gives).
 *
 * NV_DISKS_GRID (nerve's earlier reading, kept for comparison): nine disks of radius
 * `radius` (0.2) centred on the grid {-2/3, 0, 2/3}^2 inside [-1, 1]^2; class 0
 * uniform in the disks, class 1 uniform in the square minus the disks widened by
 * `gap` (0.05), points_per_class each, drawn by rejection from the square
 * (datasets/disks.c gives the RNG indices). Needs radius + gap < 1/3.
 *
 * The split is nv_dataset_split (stratified, shuffled by the seed). Same
 * parameters, same bytes. */
typedef enum { NV_DISKS_NAITZAT = 0, NV_DISKS_GRID } nv_disks_layout;

typedef struct {
    nv_disks_layout layout;
    int64_t points_per_class; /* grid layout only, before the split */
    double radius;            /* > 0 */
    double gap;               /* >= 0 */
    double step;              /* naitzat layout: the grid's spacing, > 0 */
    double test_fraction;     /* in [0, 1) */
    uint64_t seed;
} nv_disks_params;

/* The layout's name ("naitzat", "grid") and its inverse (-1 if unknown). */
const char *nv_disks_layout_name(nv_disks_layout l);
int nv_disks_layout_parse(const char *s);
/* Defaults of the naitzat layout: radius 1.3, gap 0.5, step 0.19, test fraction 0.2
 * (the paper's split, 0.22, is set by experiments/naitzat_di.cfg), seed 1;
 * points_per_class 2000 (unused by this layout). */
void nv_disks_defaults(nv_disks_params *p);
/* Defaults of a layout: the grid layout's are 2000 points per class, radius 0.2,
 * gap 0.05, test fraction 0.2. */
void nv_disks_layout_defaults(nv_disks_params *p, nv_disks_layout layout);
/* NV_EINPUT naming the field when a parameter is out of range (naitzat: the disks
 * and their rings must be disjoint, 2 (radius + gap) < 5.35, and inside the square,
 * 7 + radius + gap < 10; step in [0.01, 2]). */
nv_status nv_disks_validate(const nv_disks_params *p, nv_error *err);
/* Distance from (x, y) to the nearest of the grid layout's nine centres. */
double nv_disks_distance(double x, double y);
/* Distance from (x, y) (the naitzat layout's unscaled coordinates, [-10, 10]^2) to
 * the nearest of its nine centres. */
double nv_disks_naitzat_distance(double x, double y);
/* All points before the split: class 0 then class 1 (grid order within a class for
 * the naitzat layout); ids are 0..n-1 in that order. */
nv_status nv_disks_sample(const nv_disks_params *p, nv_dataset *all, nv_error *err);
/* nv_disks_sample followed by nv_dataset_split(test_fraction, seed). */
nv_status nv_disks_generate(const nv_disks_params *p, nv_dataset *train, nv_dataset *test,
                            nv_error *err);
/* A one-line description of the parameters (the dataset file's `source`). */
void nv_disks_describe(const nv_disks_params *p, char *buf, size_t len);

/* --- the linked-tori generator (datasets/tori.c) -----------------------------
 * A data set in the spirit of D-II of Naitzat, Zhitnikov and Lim (JMLR 2020), in
 * R^3: nine pairs of interlocked solid tori; one torus of each pair is class 0 (a),
 * the other class 1 (b), so each class is nine disjoint solid tori:
 * beta(M_a) = beta(M_b) = (9, 9, 0). A pair is two solid tori of major radius R
 * (`major_radius`, 2.2) and tube radius r (`minor_radius`, 0.7): one in the xy-plane
 * centred at (R/2, 0, 0), the other in the xz-plane centred at (-R/2, 0, 0), so each
 * core circle passes through the other's centre and the two cores stay R apart
 * everywhere (the tubes are 2r < R apart: disjoint). The pairs are centred at the
 * origin and at the eight points (+-s, +-s, +-s) (`spacing` s, 7), the paper's
 * centres and label flips with its spacing 3 widened so that pairs do not touch
 * (s > 2 (R + r)); then each coordinate is divided by its largest absolute value
 * (MaxAbs, as the paper's code). Each torus holds points_per_torus points (400),
 * uniform in the solid torus, drawn by rejection from its bounding box: candidate
 * j of torus t (t = 2 * pair + 0 for the xy torus, + 1 for the xz one) uses the
 * uniforms 3 * idx + 0, 1, 2 of NV_STREAM_DATA, idx = (t << 40) | j. Rows: class 0
 * then class 1, pair by pair; ids 0..n-1 in that order. The split is
 * nv_dataset_split. Same parameters, same bytes. */
typedef struct {
    int64_t points_per_torus; /* >= 1 */
    double major_radius;      /* R > 0 */
    double minor_radius;      /* r, 0 < 2r < R */
    double spacing;           /* s > 2 (R + r) */
    double test_fraction;     /* in [0, 1) */
    uint64_t seed;
} nv_tori_params;

/* Defaults: 400 points per torus, R 2.2, r 0.7, spacing 7, test fraction 0.2, seed 1. */
void nv_tori_defaults(nv_tori_params *p);
nv_status nv_tori_validate(const nv_tori_params *p, nv_error *err);
/* All points before the split (see above). */
nv_status nv_tori_sample(const nv_tori_params *p, nv_dataset *all, nv_error *err);
/* nv_tori_sample followed by nv_dataset_split(test_fraction, seed). */
nv_status nv_tori_generate(const nv_tori_params *p, nv_dataset *train, nv_dataset *test,
                           nv_error *err);
void nv_tori_describe(const nv_tori_params *p, char *buf, size_t len);

/* --- loaders ------------------------------------------------------------------ */

/* MNIST-format IDX files, gzip-compressed or raw (detected from the magic bytes).
 * Images (magic 0x00000803, u8, n x rows x cols) become floats in [0,1]; labels
 * (0x00000801). Header, sizes and label range are validated against each other.
 * `limit` > 0 keeps only the first `limit` samples. */
nv_status nv_idx_load(const char *images_path, const char *labels_path, int64_t limit,
                      nv_dataset *out, nv_error *err);

/* Train and test sets from IDX files: from the test files when test_images is set
 * (test ids are offset by the number of images in the train file, so ids stay
 * unique across both sets), otherwise a stratified split of the train files by
 * test_fraction and seed. Both sets get the same nclasses (the larger). The
 * strings are borrowed, not copied. */
typedef struct {
    const char *images, *labels;            /* required */
    const char *test_images, *test_labels;  /* both or neither */
    int64_t limit, test_limit;              /* keep the first N of each file; 0 = all */
    double test_fraction;                   /* used without test files; in [0, 1) */
    uint64_t seed;                          /* used without test files */
} nv_idx_params;

/* Fills p with Fashion-MNIST's four files under `dir` (NULL: NV_FASHION_MNIST_DIR),
 * no limits, test_fraction 0.2, seed 1. The paths live in `store` (caller's, at
 * least 4 * 1024 bytes), which must outlive p. */
void nv_idx_fashion_mnist(nv_idx_params *p, const char *dir, char *store, size_t store_len);
nv_status nv_idx_build(const nv_idx_params *p, nv_dataset *train, nv_dataset *test,
                       nv_error *err);
/* A one-line description of p (the dataset file's `source`). */
void nv_idx_describe(const nv_idx_params *p, char *buf, size_t len);

/* CSV: one sample per line, numeric features; the label column is `label_col`
 * (0-based; -1 means the last column). A header line is skipped when its fields
 * are not numeric. Ragged rows, non-numeric fields and non-finite values are
 * errors naming the line and column. Labels must be integers >= 0. */
/* Fields are separated by commas (spaces around them are ignored); blank lines are
 * skipped; the first non-blank line is a header when none of its fields is a
 * number. Sample ids are the data rows' order (0-based). */
nv_status nv_csv_load(const char *path, int label_col, nv_dataset *out, nv_error *err);

/* HDF5 import: a 2-D dataset `x_path` (any float or integer type, converted to
 * float) and a 1-D integer dataset `y_path` of the same length. Errors name the
 * file and the dataset path. Sample ids are the row numbers. */
nv_status nv_h5_import(const char *path, const char *x_path, const char *y_path,
                       nv_dataset *out, nv_error *err);

/* Splits `all` into train/test, stratified by class, shuffled by `seed`.
 * Sample ids are kept. Class c's rows (in their order in `all`) are permuted with
 * nv_rng_permutation(seed, NV_STREAM_SPLIT, c << 40); the first
 * round(test_fraction * n_c) of them go to test. Train and test are then each
 * permuted once more (bases 1 << 60 and 2 << 60) so the classes interleave. */
nv_status nv_dataset_split(const nv_dataset *all, double test_fraction, uint64_t seed,
                           nv_dataset *train, nv_dataset *test, nv_error *err);

/* --- the dataset file (HDF5, format "nerve-dataset" version 1) ----------------
 * /train/x (n,d) f32, /train/y (n) i32, /train/ids (n) i64, the same under /test,
 * attributes format, format_version, nclasses and source (a one-line description
 * of how it was made), and nerve_version. Strings are variable-length UTF-8 (h5py
 * reads str); the x, y and ids datasets are chunked by rows with shuffle + gzip
 * (empty ones contiguous); object times are off, so the same data gives the same
 * bytes. Written to a temporary name and
 * renamed, so a crash never leaves a partial file. `nv_dataset_load` refuses an
 * unknown format or version with a clear message, and validates the shapes, the
 * label range and that every value is finite. An output directory that does not
 * exist or cannot be written is NV_EINPUT naming it. */
nv_status nv_dataset_save(const char *path, const nv_dataset *train, const nv_dataset *test,
                          const char *source, nv_error *err);
nv_status nv_dataset_load(const char *path, nv_dataset *train, nv_dataset *test, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
