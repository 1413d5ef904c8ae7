/* info.h: a description of what the pipeline wrote, for `nerve info`.
 *
 * One call turns a path into one JSON object: `nerve info --json` prints it as is
 * and the text form renders it (src/cli/cmd_info.c), so the two cannot drift apart.
 * It only reads. Three kinds of path, told apart by the object's "kind":
 *
 *  "hdf5"  any HDF5 file (snapshot, checkpoint, dataset, metrics, diagrams, ...):
 *      path, bytes (file size), format and format_version (the root attributes,
 *      null when absent), supported (only for formats whose reader is in this
 *      build, snapshots and checkpoints: whether their version is readable), and
 *      root, the tree. Each node has "kind":
 *        "group":    attrs {name: value}, members {name: node} (in name order,
 *                    at most 32 levels deep: a hard-link cycle must not recurse forever)
 *        "dataset":  shape [..], dtype ("float32", "int64", "string", ...), layout
 *                    ("contiguous", "chunked", "compact", "virtual"), chunks [..]
 *                    when chunked, filters ["shuffle", "gzip(4)", ...] when any,
 *                    sources [{file, dataset, offset, count}] when virtual,
 *                    storage_bytes, attrs
 *        "soft link": target;  "external link": file, target
 *        "datatype", "unreadable", "unknown": nothing more
 *      Attribute values: numbers and strings as JSON values (arrays when not
 *      scalar), NaN and infinities as the strings "nan", "inf", "-inf" (JSON has
 *      none), more than 4096 values or other types as a "<...>" string.
 *
 *  "run"   a run directory (runs/<experiment>/: one with config.cfg, checkpoints/,
 *      summary.json or snapshots/manifest.json): path, experiment; status, device,
 *      seconds (run.json); seed, epochs, n_train, n_test (summary.json); models
 *      {name: {widths, activation, epochs_completed, steps, parameters,
 *      checkpoint_bytes, and the final metrics (summary.json's, else the last row
 *      of the checkpoint's table)}}; snapshots (as below); dynamics (when the run
 *      recorded any: {model: {chunks, last_step, bytes, index (path), tiers {tier:
 *      {steps, rows, bytes}}}}, from RUN/dynamics/<model>/manifest.json, see
 *      docs/dynamics.md); sizes {snapshots, checkpoints, metrics, dynamics,
 *      data.h5, metrics.h5 (those present), total} in bytes.
 *
 *  "snapshots"  a snapshots directory (one holding manifest.json): path, sizes
 *      {total}, and snapshots {model: {epochs [..], bytes, first_file, layers
 *      [{name, index, kind, width, train, test, all (shapes), pre (bool)}] of the
 *      first file, n_train, n_test, missing [paths listed but absent] when any}}.
 *      Only files the manifest lists are opened.
 *
 * Errors are NV_EINPUT naming the path: it does not exist, is neither a directory
 * nor an HDF5 file, is a directory that is neither a run nor a snapshots
 * directory, or what it holds cannot be read (a malformed manifest, a checkpoint
 * or a listed snapshot that does not open).
 */
#ifndef NERVE_INFO_H
#define NERVE_INFO_H

#include <jansson.h>

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Describes `path` (a run directory, a snapshots directory or an HDF5 file) as
 * above. On success *out is a new JSON object whose one reference the caller owns
 * (json_decref it); on failure *out is NULL and err says why. Silences HDF5's own
 * error printing: nothing is printed. */
nv_status nv_info_describe(const char *path, json_t **out, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
