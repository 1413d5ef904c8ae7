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

/* Checks sizes, labels in range and every value finite; `what` names the source in
 * the message ("data/train.csv"). */
nv_status nv_dataset_validate(const nv_dataset *ds, const char *what, nv_error *err);

/* --- the intersecting-spheres generator (datasets/spheres.c) ------------------
 * Two classes. Class c is an m-sphere of radius radius[c] centred at
 * centre_c = (c == 0 ? -offset/2 : +offset/2) * e_0 in R^d. With m = d-1 points are
 * uniform on the full (d-1)-sphere; with m < d-1 a uniform point on the unit
 * m-sphere in R^(m+1) is embedded by a random rotation Q_c (one per class, from the
 * seed) into R^d, so circles (m=1) or 2-spheres show their topology in H1/H2.
 * Gaussian noise of std `noise` is added in R^d. `oversample` > 0 draws that
 * fraction of extra candidate points per class and keeps those closest to the other
 * class's surface (within `oversample_width`), which densifies the intersection.
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

void nv_spheres_defaults(nv_spheres_params *p);
nv_status nv_spheres_generate(const nv_spheres_params *p, nv_dataset *train, nv_dataset *test,
                              nv_error *err);

/* --- loaders ------------------------------------------------------------------ */

/* MNIST-format IDX files, gzip-compressed or raw (detected from the magic bytes).
 * Images (magic 0x00000803, u8, n x rows x cols) become floats in [0,1]; labels
 * (0x00000801). Header, sizes and label range are validated against each other.
 * `limit` > 0 keeps only the first `limit` samples. */
nv_status nv_idx_load(const char *images_path, const char *labels_path, int64_t limit,
                      nv_dataset *out, nv_error *err);

/* CSV: one sample per line, numeric features; the label column is `label_col`
 * (0-based; -1 means the last column). A header line is skipped when its fields
 * are not numeric. Ragged rows, non-numeric fields and non-finite values are
 * errors naming the line and column. Labels must be integers >= 0. */
nv_status nv_csv_load(const char *path, int label_col, nv_dataset *out, nv_error *err);

/* HDF5 import: a 2-D float dataset `x_path` and a 1-D integer dataset `y_path`. */
nv_status nv_h5_import(const char *path, const char *x_path, const char *y_path,
                       nv_dataset *out, nv_error *err);

/* Splits `all` into train/test, stratified by class, shuffled by `seed`.
 * Sample ids are kept. */
nv_status nv_dataset_split(const nv_dataset *all, double test_fraction, uint64_t seed,
                           nv_dataset *train, nv_dataset *test, nv_error *err);

/* --- the dataset file (HDF5, format "nerve-dataset" version 1) ----------------
 * /train/x (n,d) f32, /train/y (n) i32, /train/ids (n) i64, the same under /test,
 * attributes format, format_version, nclasses and source (a one-line description
 * of how it was made). Written to a temporary name and
 * renamed, so a crash never leaves a partial file. `nv_dataset_load` refuses an
 * unknown format or version with a clear message. */
nv_status nv_dataset_save(const char *path, const nv_dataset *train, const nv_dataset *test,
                          const char *source, nv_error *err);
nv_status nv_dataset_load(const char *path, nv_dataset *train, nv_dataset *test, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
