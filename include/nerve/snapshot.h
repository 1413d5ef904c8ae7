/* snapshot.h: the activation store. One HDF5 file per model and snapshot epoch,
 * written crash-safe (temporary name, flush, close, rename), and a JSON manifest
 * that lists the finished files; readers open only what the manifest lists.
 *
 * File layout (format "nerve-snapshot", version 1, HDF5 1.10 file format), every
 * path, dtype and attribute documented in docs/snapshots.md:
 *   /                       attrs: format, format_version, nerve_version, model,
 *                                  epoch, experiment, seed, n_train, n_test,
 *                                  layer_names (network order), config (text)
 *   /labels/train (n_train)  i32     /labels/test (n_test) i32
 *   /labels/all   (n_train+n_test)   virtual dataset: train rows, then test rows
 *   /ids/train, /ids/test, /ids/all  i64 sample ids (same arrangement)
 *   /layers/<name>/train (n_train, width) f32, chunked, shuffle + gzip
 *   /layers/<name>/test  (n_test, width)  f32
 *   /layers/<name>/all   (n_train+n_test, width) virtual dataset over the two above:
 *                        the combined set is first-class without storing data twice
 *   /layers/<name>/pre_train, pre_test, pre_all   pre-activations, when requested
 *   /model                 attrs: nlayers, widths, activation, leaky_slope, init
 *   /model/params (nparams) f32  the network's parameters at this epoch (mlp.h layout)
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
 * names, no HDF5 object times; two identical writes are byte-identical files.
 * Those live in the run directory's run.json.
 *
 * Threads: one writer is used by one thread at a time; writers of different
 * models may run in different threads or processes (the manifest update is
 * serialised by a mutex and by flock on the directory).
 */
#ifndef NERVE_SNAPSHOT_H
#define NERVE_SNAPSHOT_H

#include "nerve/common.h"
#include "nerve/netspec.h"

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
    int gzip_level;           /* 0: no compression; 1-9: byte shuffle + gzip at that level
                                 (nerve train: snapshots.compression, default 0: gzip
                                 writes at ~35 MB/s here, which would cost more than
                                 training the spheres nets; it saves ~1/3 of the bytes) */
} nv_snapshot_meta;

typedef struct nv_snapshot_writer nv_snapshot_writer;

/* Starts <dir>/<model>/epoch_<EEEE>.h5 (as a hidden temporary file next to it,
 * creating <dir>/<model>/ as needed) and writes labels and ids. The strings in
 * meta are copied and its arrays written at once: meta need not outlive the call.
 * *out is owned by the caller until nv_snapshot_commit or nv_snapshot_abort. */
nv_status nv_snapshot_begin(const char *dir, const nv_snapshot_meta *meta,
                            nv_snapshot_writer **out, nv_error *err);
/* Adds one layer: train (n_train, width) and test (n_test, width) activations,
 * row-major, copied into the file before returning; pre = 1 stores them as
 * pre-activations of that layer (pre_train, pre_test, pre_all). A layer's two
 * halves may come in either order but must agree on index and width. On failure
 * the caller still aborts w. */
nv_status nv_snapshot_add_layer(nv_snapshot_writer *w, int index, const char *name,
                                const char *kind, int pre, int64_t width,
                                const nv_real *train, const nv_real *test, nv_error *err);
/* Stores the network at this epoch: group /model with the spec as attributes
 * (nlayers, widths, activation, leaky_slope, init) and /model/params (nparams) f32
 * in mlp.h's flat layout, so feature images, probes or a re-evaluation of any
 * snapshot epoch need nothing but the file. */
nv_status nv_snapshot_add_params(nv_snapshot_writer *w, const nv_mlp_spec *spec,
                                 const nv_real *params, nv_error *err);
/* Reads them back; *params is malloc'd (nparams), caller frees. */
nv_status nv_snapshot_read_params(const char *path, nv_mlp_spec *spec, nv_real **params,
                                  nv_error *err);

/* Closes, fsyncs, renames into place and adds the file to <dir>/manifest.json
 * (replacing an entry for the same model and epoch). Frees w, also on failure
 * (then no file is left under the final name unless only the manifest update
 * failed, which the message says). */
nv_status nv_snapshot_commit(nv_snapshot_writer *w, nv_error *err);
/* nv_snapshot_commit, and in *hashes (malloc'd JSON text {"/path": "hex"}, or
 * NULL) the XXH3-128 of every dataset of the file as sweep.h's hashes.json
 * records them, taken from the buffers as they were written: NULL unless every
 * dataset of the file could be hashed so. */
nv_status nv_snapshot_commit_hashed(nv_snapshot_writer *w, char **hashes, nv_error *err);
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
 * continuing) and rewrites the manifest atomically; then deletes those files and
 * any temporary files a killed writer of `model` left. No manifest: nothing to do. */
nv_status nv_manifest_truncate(const char *dir, const char *model, int64_t max_epoch, nv_error *err);

/* Reads one matrix from a snapshot file: split is "train", "test" or "all"; pre
 * selects pre-activations. *out is malloc'd (rows, cols), caller frees. Checks the
 * file's format and version first. */
nv_status nv_snapshot_read(const char *path, const char *layer, const char *split, int pre,
                           nv_real **out, int64_t *rows, int64_t *cols, nv_error *err);
/* Labels or ids of a split ("labels" or "ids"); *out malloc'd (rows) as int64. */
nv_status nv_snapshot_read_index(const char *path, const char *what, const char *split,
                                 int64_t **out, int64_t *rows, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
