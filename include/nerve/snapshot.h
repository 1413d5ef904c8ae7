/* snapshot.h: the activation store. One HDF5 file per model and snapshot epoch,
 * written crash-safe (temporary name, flush, close, rename), and a JSON manifest
 * that lists the finished files; readers open only what the manifest lists.
 *
 * File layout (format "nerve-snapshot", version 1), documented in README.md:
 *   /                       attrs: format, format_version, nerve_version, model,
 *                                  epoch, experiment, seed, layer_names, config (text)
 *   /labels/train (n_train)  i32     /labels/test (n_test) i32
 *   /labels/all   (n_train+n_test)   virtual dataset: train rows, then test rows
 *   /ids/train, /ids/test, /ids/all  i64 sample ids (same arrangement)
 *   /layers/<name>/train (n_train, width) f32, chunked, shuffle + gzip
 *   /layers/<name>/test  (n_test, width)  f32
 *   /layers/<name>/all   (n_train+n_test, width) virtual dataset over the two above:
 *                        the combined set is first-class without storing data twice
 *   /layers/<name>/pre_train, pre_test, pre_all   pre-activations, when requested
 *     attrs on /layers/<name>: index (0 = input .. L = logits), width, kind
 *     ("input", "hidden", "logits")
 * Layer names: "input", "hidden1" .. "hidden<L-1>", "logits".
 *
 * The manifest, <dir>/manifest.json:
 *   {"format": "nerve-manifest", "format_version": 1,
 *    "files": [{"model": "expressive", "epoch": 0, "path": "expressive/epoch_0000.h5"}, ...]}
 * sorted by model then epoch, rewritten (temporary name + rename) after each file.
 *
 * Nothing here varies between two runs of the same config: no timestamps, no host
 * names. Those live in the run directory's run.json.
 */
#ifndef NERVE_SNAPSHOT_H
#define NERVE_SNAPSHOT_H

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NV_SNAPSHOT_FORMAT "nerve-snapshot"
#define NV_SNAPSHOT_VERSION 1
#define NV_MANIFEST_FORMAT "nerve-manifest"
#define NV_MANIFEST_VERSION 1

typedef struct {
    const char *experiment;   /* run name */
    const char *model;        /* "expressive", "bottleneck", ... ([A-Za-z0-9_-]+) */
    int64_t epoch;
    uint64_t seed;
    const char *config_text;  /* the resolved config, stored as an attribute */
    int64_t n_train, n_test;
    const int32_t *y_train, *y_test;      /* (n_train), (n_test) */
    const int64_t *ids_train, *ids_test;  /* (n_train), (n_test) */
} nv_snapshot_meta;

typedef struct nv_snapshot_writer nv_snapshot_writer;

/* Starts <dir>/<model>/epoch_<EEEE>.h5 (as a temporary file next to it). The
 * strings in meta are copied. */
nv_status nv_snapshot_begin(const char *dir, const nv_snapshot_meta *meta,
                            nv_snapshot_writer **out, nv_error *err);
/* Adds one layer: train (n_train, width) and test (n_test, width) activations;
 * pre = 1 stores them as pre-activations of that layer. */
nv_status nv_snapshot_add_layer(nv_snapshot_writer *w, int index, const char *name,
                                const char *kind, int pre, int64_t width,
                                const nv_real *train, const nv_real *test, nv_error *err);
/* Closes, renames into place and adds the file to the manifest. Frees w. */
nv_status nv_snapshot_commit(nv_snapshot_writer *w, nv_error *err);
/* Drops the temporary file. Frees w; accepts NULL. */
void nv_snapshot_abort(nv_snapshot_writer *w);

/* --- reading ------------------------------------------------------------------ */
typedef struct {
    char model[64];
    int64_t epoch;
    char path[512];   /* relative to the manifest's directory */
} nv_manifest_entry;

typedef struct {
    int64_t count;
    nv_manifest_entry *files;   /* owned; nv_manifest_free */
} nv_manifest;

/* Reads <dir>/manifest.json; a missing manifest is an empty list (not an error);
 * a malformed one or an unknown format version is NV_EINPUT. */
nv_status nv_manifest_read(const char *dir, nv_manifest *out, nv_error *err);
void nv_manifest_free(nv_manifest *m);
/* Removes entries for `model` with epoch > max_epoch (used by --resume before
 * continuing) and rewrites the manifest atomically. */
nv_status nv_manifest_truncate(const char *dir, const char *model, int64_t max_epoch, nv_error *err);

/* Reads one matrix from a snapshot file: split is "train", "test" or "all"; pre
 * selects pre-activations. *out is malloc'd (rows, cols), caller frees. Checks the
 * file's format and version first. */
nv_status nv_snapshot_read(const char *path, const char *layer, const char *split, int pre,
                           nv_real **out, int64_t *rows, int64_t *cols, nv_error *err);
/* Labels or ids of a split ("labels" or "ids"); *out malloc'd (rows) as int64. */
nv_status nv_snapshot_read_index(const char *path, const char *what, const char *split,
                                 int64_t **out, int64_t *rows, nv_error *err);

/* --- small HDF5 helpers shared by every writer ---------------------------------- */
/* Writes `text` to `path` atomically: a temporary file beside it, fsync, rename. */
nv_status nv_atomic_write_text(const char *path, const char *text, nv_error *err);
/* mkdir -p; error names the directory. */
nv_status nv_mkdirs(const char *path, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
