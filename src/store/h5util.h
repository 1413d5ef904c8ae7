/* h5util.h: private HDF5 helpers shared by the file writers and readers of the
 * library (snapshots, checkpoints, and `nerve info`). Not a public header.
 *
 * Why they exist:
 *  - HDF5 prints its error stack to stderr by default; library code must not print,
 *    so every entry point silences it (nv_h5_quiet) and turns the innermost HDF5
 *    message into an nv_error naming the file and the object (nv_h5_fail).
 *  - Strings are stored as scalar variable-length UTF-8 so h5py reads them as str.
 *  - Files that must survive a crash are created under a temporary name beside the
 *    final one and renamed into place after flush + close + fsync (nv_h5_create_temp,
 *    nv_h5_commit_temp, nv_h5_discard_temp).
 *  - Same bytes between runs: object creation property lists switch off HDF5's
 *    object modification times (nv_h5_gcpl, nv_h5_dcpl), the only clock HDF5 writes.
 */
#ifndef NERVE_H5UTIL_H
#define NERVE_H5UTIL_H

#include <hdf5.h>

#include "nerve/common.h"
#include "nerve/fsutil.h" /* nv_temp_path, nv_publish_temp */

/* Turns off HDF5's automatic error printing for this thread's default stack.
 * Cheap; called at the top of every public function that touches HDF5. */
void nv_h5_quiet(void);

/* Records a failure "file F: object O: WHAT (HDF5: innermost message)" and
 * returns `status`. `object` may be NULL (then it is left out). */
nv_status nv_h5_fail(nv_error *err, nv_status status, const char *file, const char *object,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Property lists with object time tracking off (caller closes with H5Pclose).
 * nv_h5_fcpl: for the root group; nv_h5_gcpl: groups; nv_h5_dcpl: datasets. */
hid_t nv_h5_fcpl(void);
hid_t nv_h5_gcpl(void);
hid_t nv_h5_dcpl(void);

/* --- atomic files ---------------------------------------------------------------- */
/* Creates "<dirname(final)>/.<basename(final)>.tmp-<pid>-<n>" (n counts per process)
 * and returns its id; *tmp_path (malloc'd, caller frees) is its name. */
hid_t nv_h5_create_temp(const char *final_path, char **tmp_path, nv_error *err);
/* Flushes and closes fid, then publishes the file (nv_publish_temp: fsync, rename,
 * fsync of the directory). On failure the temporary file is removed. Always closes fid. */
nv_status nv_h5_commit_temp(hid_t fid, const char *tmp_path, const char *final_path,
                            nv_error *err);
/* Closes fid (if valid) and removes tmp_path (if not NULL). */
void nv_h5_discard_temp(hid_t fid, const char *tmp_path);
/* Ends a file begun with nv_h5_create_temp: commits it when st is NV_OK, discards it
 * otherwise, and frees tmp_path. Returns the final status (st, or the commit's). */
nv_status nv_h5_finish_temp(hid_t fid, char *tmp_path, const char *final_path, nv_status st,
                            nv_error *err);

/* Starts the write-back of what has been written to fid so far without waiting
 * for it (Linux sync_file_range; elsewhere nothing): a writer of large files then
 * has the disk busy while it goes on, and the fsync of the commit waits for less.
 * Only a hint: durability still comes from nv_h5_commit_temp's fsync. */
void nv_h5_start_writeback(hid_t fid);

/* --- attributes (write) ------------------------------------------------------ */
nv_status nv_h5_attr_str(hid_t loc, const char *name, const char *value, const char *file,
                         nv_error *err);
/* A 1-D attribute of n variable-length UTF-8 strings. */
nv_status nv_h5_attr_strs(hid_t loc, const char *name, const char *const *values, int64_t n,
                          const char *file, nv_error *err);
nv_status nv_h5_attr_i64(hid_t loc, const char *name, int64_t value, const char *file,
                         nv_error *err);
nv_status nv_h5_attr_u64(hid_t loc, const char *name, uint64_t value, const char *file,
                         nv_error *err);
nv_status nv_h5_attr_f64(hid_t loc, const char *name, double value, const char *file,
                         nv_error *err);
/* A 1-D int64 attribute of n values. */
nv_status nv_h5_attr_i64s(hid_t loc, const char *name, const int64_t *values, int64_t n,
                          const char *file, nv_error *err);

/* --- attributes (read) ------------------------------------------------------- */
/* Reads a string attribute (variable- or fixed-length) into a malloc'd string
 * (*out, caller frees). A missing attribute is NV_EINPUT naming file and object. */
nv_status nv_h5_read_attr_str(hid_t loc, const char *name, char **out, const char *file,
                              const char *object, nv_error *err);
/* Reads a scalar integer attribute (any integer type) converted to int64. */
nv_status nv_h5_read_attr_i64(hid_t loc, const char *name, int64_t *out, const char *file,
                              const char *object, nv_error *err);
nv_status nv_h5_read_attr_f64(hid_t loc, const char *name, double *out, const char *file,
                              const char *object, nv_error *err);
/* Reads a 1-D integer attribute of at most `cap` values; *n gets the count. */
nv_status nv_h5_read_attr_i64s(hid_t loc, const char *name, int64_t *out, int64_t cap,
                               int64_t *n, const char *file, const char *object, nv_error *err);
/* Reads a 1-D string attribute; *out is a malloc'd array of *n malloc'd strings
 * (free with nv_h5_free_strs). */
nv_status nv_h5_read_attr_strs(hid_t loc, const char *name, char ***out, int64_t *n,
                               const char *file, const char *object, nv_error *err);
void nv_h5_free_strs(char **s, int64_t n);

/* --- format check ------------------------------------------------------------- */
/* Checks the root attributes format == expected and format_version in
 * [1, max_version]; *version gets the version (may be NULL). Errors are NV_EINPUT:
 * "file X: format_version 9 is not supported (this nerve reads 1)". */
nv_status nv_h5_check_format(hid_t fid, const char *file, const char *expected, int64_t max_version,
                             int64_t *version, nv_error *err);

/* Opens an existing HDF5 file read-only, with a clear NV_EINPUT when it does not
 * exist or is not HDF5. */
hid_t nv_h5_open_read(const char *path, nv_error *err);

/* --- sizes claimed by a file ------------------------------------------------------ */
/* Bytes the data of `space` take in elements of elem_size bytes, into *bytes, checked
 * before anything is allocated for them: the product must not overflow, and must
 * not exceed what the file that holds `obj` can store. For a dataset that is its
 * length times NV_H5_MAX_RATIO (deflate's largest ratio is about 1032:1, so any
 * honest dataset passes, while a header claiming terabytes in a small file does
 * not); an attribute (`attribute` = 1) is stored uncompressed in the object header,
 * so its own length bounds it. NV_EINPUT naming the file and the object otherwise. */
#define NV_H5_MAX_RATIO 1100
nv_status nv_h5_check_extent(hid_t obj, hid_t space, size_t elem_size, int attribute, size_t *bytes,
                             const char *file, const char *object, nv_error *err);

/* --- datasets ---------------------------------------------------------------- */
/* Creates and writes a dataset of rank 1 to 4 (dims[0] rows) of `mem_type` data
 * stored as `file_type`. compress = 1..9: chunked by rows (a row is everything
 * under one first index; about 1 MiB, at most 4096 rows) with shuffle + gzip at
 * that level; 0: contiguous. Empty datasets are contiguous. */
nv_status nv_h5_write_dataset(hid_t loc, const char *name, hid_t file_type, hid_t mem_type,
                              int rank, const int64_t *dims, const void *data, int compress,
                              const char *file, nv_error *err);
/* Reads a whole dataset of rank `rank` converted to mem_type into a malloc'd buffer
 * (*out, caller frees); dims[0..rank) get its shape. A rank mismatch is NV_EINPUT. */
nv_status nv_h5_read_dataset(hid_t loc, const char *name, hid_t mem_type, size_t elem_size,
                             int rank, void **out, int64_t *dims, const char *file,
                             nv_error *err);

/* 1 when `path` names an existing link below loc (checking every component). */
int nv_h5_exists(hid_t loc, const char *path);

/* Calls fn(dataset, "/path", ctx) for every dataset reachable by hard links from
 * fid, in name order (what hashes.json records and `nerve verify` checks). Stops at
 * the first nonzero return of fn and returns it; -1 when an object cannot be
 * opened or the walk fails; 0 when every dataset was visited. */
int nv_h5_each_dataset(hid_t fid, int (*fn)(hid_t ds, const char *path, void *ctx), void *ctx);
/* The same datasets, in the same order, by path only (nothing opened: cheaper). */
int nv_h5_each_dataset_path(hid_t fid, int (*fn)(const char *path, void *ctx), void *ctx);

/* --- network specs (checkpoint.c) ----------------------------------------------
 * A group `group` whose attributes are nlayers, widths, activation, leaky_slope and
 * init: how checkpoints and snapshots record the network they hold. */
#include "nerve/mlp.h"
nv_status nv_h5_write_spec(hid_t loc, const char *group, const nv_mlp_spec *s, const char *file,
                           nv_error *err);
nv_status nv_h5_read_spec(hid_t loc, const char *group, nv_mlp_spec *s, const char *file,
                          nv_error *err);

#endif
