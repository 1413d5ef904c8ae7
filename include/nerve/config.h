/* config.h: experiment configs. A config file (libconfig syntax, read with
 * Debian's libconfig, never a parser of our own) describes one experiment: the
 * data, the pair of networks (an expressive one and one with a bottleneck layer,
 * same depth, same data, order and seed), training, and the snapshot schedule.
 *
 * nv_config_load validates every key (unknown keys, wrong types and out-of-range
 * values are NV_EINPUT with "file:line: key 'a.b': ..."), fills every default, and
 * produces the resolved config text that is stored with the run, so a run always
 * records exactly what it did. Lists are valid syntax wherever a value is (sweeps
 * expand them); a list where `nerve train` needs one value is an error that says so.
 */
#ifndef NERVE_CONFIG_H
#define NERVE_CONFIG_H

#include "nerve/common.h"
#include "nerve/dataset.h"
#include "nerve/dynamics_types.h"
#include "nerve/mlp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NV_NAME_LEN 64
#define NV_PATH_LEN 1024
#define NV_MAX_MODELS 4
#define NV_MAX_SNAP_EPOCHS 1024

typedef enum {
    NV_DATA_SPHERES = 0,
    NV_DATA_FASHION_MNIST,  /* Debian's dataset-fashion-mnist files */
    NV_DATA_IDX,            /* any MNIST-format IDX files */
    NV_DATA_CSV,
    NV_DATA_HDF5,           /* user HDF5 arrays */
    NV_DATA_FILE,           /* a dataset file written by `nerve data` */
    NV_DATA_DISKS,          /* nine disks in a square (Naitzat et al.'s D-I) */
    NV_DATA_TORI            /* nine pairs of linked solid tori (D-II-like) */
} nv_data_source;

typedef struct {
    nv_data_source source;
    nv_spheres_params spheres;      /* source = spheres (its seed is the experiment's) */
    nv_disks_params disks;          /* source = disks (its seed is the experiment's) */
    nv_tori_params tori;            /* source = tori */
    double test_fraction;           /* spheres, csv, hdf5, idx without test files */
    char images[NV_PATH_LEN], labels[NV_PATH_LEN];           /* idx */
    char test_images[NV_PATH_LEN], test_labels[NV_PATH_LEN]; /* idx, optional */
    int64_t limit, test_limit;      /* idx / fashion-mnist: keep the first N (0 = all) */
    char path[NV_PATH_LEN];         /* csv, hdf5, file */
    int label_col;                  /* csv */
    char x_path[256], y_path[256];  /* hdf5 */
} nv_data_spec;

typedef struct {
    char name[NV_NAME_LEN];         /* "expressive", "bottleneck", "linear" */
    nv_mlp_spec spec;               /* widths filled once the data's shape is known */
    int nhidden;
    int64_t hidden[NV_MAX_LAYERS];  /* hidden widths */
} nv_model_def;

typedef struct {
    char experiment[NV_NAME_LEN];
    uint64_t seed;
    nv_device_kind device;
    nv_data_spec data;

    /* the pair */
    int nhidden;
    int64_t hidden[NV_MAX_LAYERS];
    nv_activation activation;
    float leaky_slope;
    nv_init_kind init;
    int bottleneck_layer;           /* 1-based hidden layer made narrow */
    int64_t bottleneck_width;
    int linear_baseline;            /* also train a logistic-regression baseline */

    /* training */
    int64_t epochs;
    int64_t batch_size;
    nv_optim_spec optim;
    int threads;                    /* BLAS threads for training (0 = 1 per run) */
    double stop_train_acc;          /* train.stop_at_train_accuracy: a model stops at the end of
                                       the first epoch whose training accuracy reaches it (0 = off) */
    int64_t stop_check_every;       /* train.stop_check_every: ... of the epochs that are multiples
                                       of this (default 1) */
    uint64_t order_seed;            /* train.order_seed: the minibatch order's seed (default:
                                       seed); the data split and the initial weights keep seed */

    /* snapshots */
    int64_t nsnap;
    int64_t snap_epochs[NV_MAX_SNAP_EPOCHS]; /* sorted, unique, within [0, epochs] */
    int snap_all_layers;
    int nsnap_layers;
    char snap_layers[NV_MAX_LAYERS + 1][NV_NAME_LEN];
    int preactivations;
    int compression;                /* gzip level of snapshot data, 0 = none (default) */

    /* the training-dynamics recorder (docs/dynamics.md) */
    nv_dyn_config dynamics;

    char source_path[NV_PATH_LEN];  /* the file this was read from */
} nv_experiment;

/* Reads and validates `path`. `overrides` (noverrides documents of libconfig text,
 * may be NULL) are applied on top, later ones winning, e.g. "train: { epochs = 5; };"
 * (the CLI makes one per flag). */
#define NV_MAX_OVERRIDES 16
nv_status nv_config_load(const char *path, const char *const *overrides, int noverrides,
                         nv_experiment *ex, nv_error *err);

/* The resolved config as libconfig text (every key, defaults filled in). malloc'd;
 * NULL when out of memory. */
char *nv_config_resolved_text(const nv_experiment *ex);

/* Writes v as a libconfig string literal ("..." that reads back as the same bytes:
 * backslash and double quote escaped, control characters as \xNN) into out (len
 * bytes, cut short if it does not fit). */
void nv_config_quote(const char *v, char *out, size_t len);

/* The first setting in which two config texts differ (libconfig syntax; comments,
 * order of keys and number formatting aside): its dotted key, and its value in each
 * (libconfig syntax, "(not set)" where one lacks it). Returns 1 when one differs, 0
 * when both hold the same settings, -1 when a text does not parse. */
int nv_config_diff(const char *a, const char *b, char *key, size_t klen, char *va, char *vb, size_t vlen);

/* The override text that sets dotted `key` to `value` (libconfig syntax):
 * "train.lr", "0.01" -> "train: { lr = 0.01; };". */
void nv_config_set_text(const char *key, const char *value, char *out, size_t len);

/* Model definitions of the experiment (expressive, bottleneck, and the linear
 * baseline when enabled) for data with d inputs and c classes. Returns the count. */
int nv_experiment_models(const nv_experiment *ex, int64_t d, int32_t c, nv_model_def *out);

/* The default schedule: 0, then `count`-1 log-spaced epochs up to `epochs`
 * (rounded, duplicates removed). Returns how many were written to out. */
int64_t nv_log_schedule(int64_t epochs, int64_t count, int64_t *out);

/* Names of the snapshot layers of a net with L affine layers: 0 -> "input",
 * 1..L-1 -> "hidden<l>", L -> "logits". */
void nv_layer_name(int layer, int nlayers, char *buf, size_t len);

const char *nv_data_source_name(nv_data_source s);

/* For sweeps (sweep.c): what the schema expects at a dotted key: -1 not a key,
 * 0 a group, 1 one value, 2 a list of values (models.hidden, data.spheres.radius,
 * snapshots.epochs, snapshots.layers), so that a sweep over it is a list of lists. */
int nv_config_key_kind(const char *path);

#ifdef __cplusplus
}
#endif
#endif
