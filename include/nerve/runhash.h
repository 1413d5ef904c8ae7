/* runhash.h: the reproducibility record of a run, RUN/hashes.json: the hash
 * (include/nerve/hash.h) of the raw data of every dataset in every HDF5 file that
 * training wrote, computed at the end of training (mostly from memory, while the
 * snapshots are written) and re-checked by `nerve verify`. hashes.json is written
 * last, so it is also the run's completion marker (sweeps and Slurm arrays test
 * for it).
 */
#ifndef NERVE_RUNHASH_H
#define NERVE_RUNHASH_H

#include <stdint.h>

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* XXH3-128 of every dataset in one HDF5 file: its raw data as stored (the file's
 * own datatype, row-major, read in slabs so large snapshots need little memory;
 * variable-length strings hash their bytes each followed by a NUL). The result
 * is a JSON object text {"/path/of/dataset": "hex", ...} in name order; malloc'd
 * into *json, caller frees. */
nv_status nv_h5_file_hashes(const char *path, char **json, nv_error *err);

/* Writes RUN/hashes.json: every *.h5 file of the run directory except analysis/
 * (data.h5, metrics.h5, checkpoints/, snapshots/), in path order. Atomic. The
 * file holds no time and no host, so two runs of the same task give the same
 * bytes. */
nv_status nv_run_hashes_write(const char *run_dir, nv_error *err);

/* Hashes memoised while a run is being written. Training hashes each snapshot
 * file on its writer thread right after the file is committed (while training
 * goes on, and while the file is still in the page cache), so that hashes.json
 * costs almost nothing at the end. An entry is used only while the file's device,
 * inode, size and modification time are those seen when it was hashed; anything
 * else is hashed again. Not thread-safe: one thread at a time (the run's writer
 * thread during training, the training thread after it has stopped the writer). */
typedef struct nv_hash_memo nv_hash_memo;
nv_hash_memo *nv_hash_memo_new(void);
void nv_hash_memo_free(nv_hash_memo *m);
/* Hashes run_dir/rel (a path relative to the run directory) now. */
nv_status nv_hash_memo_add(nv_hash_memo *m, const char *run_dir, const char *rel, nv_error *err);
/* Records hashes already known for run_dir/rel (JSON text {"/dataset": "hex"}, as
 * nv_snapshot_commit_hashed gives), against the file as it is now. */
nv_status nv_hash_memo_put(nv_hash_memo *m, const char *run_dir, const char *rel, const char *json,
                           nv_error *err);
/* nv_run_hashes_write, taking what memo holds (may be NULL) for unchanged files. */
nv_status nv_run_hashes_write_memo(const char *run_dir, const nv_hash_memo *memo, nv_error *err);

/* Recomputes the hashes listed in RUN/hashes.json. NV_OK when all match; the
 * first mismatch (a changed, missing or unrecorded dataset, a missing file) is
 * NV_EINPUT naming the file and the dataset. *nfiles and *ndatasets (may be NULL)
 * count what was checked. */
nv_status nv_run_hashes_verify(const char *run_dir, int64_t *nfiles, int64_t *ndatasets,
                               nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
