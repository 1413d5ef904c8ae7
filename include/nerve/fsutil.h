/* fsutil.h: the one way nerve puts a file on disk so that a crash never leaves a
 * half-written result under a final name (docs/CONTRACTS.md, "Crash-safe files"),
 * plus the small file-system helpers every stage needs.
 *
 * The rule: write under a temporary name in the same directory (hidden, so globs
 * of *.h5 or *.png skip it), flush, fsync, close, rename over the final name, and
 * fsync the directory so the rename survives a power cut. A reader therefore sees
 * either the old file, the new file, or no file, never a prefix.
 *
 * Three entry points, for three kinds of writer:
 *   - nv_atomic_write / nv_atomic_write_text: the bytes are in memory;
 *   - nv_outfile_open + nv_outfile_commit: the writer streams through a FILE *
 *     (cairo's PNG and SVG streams, CSV tables);
 *   - nv_temp_path + nv_publish_temp: a library creates the file by name itself
 *     (HDF5), and the finished temporary is handed over to be published.
 */
#ifndef NERVE_FSUTIL_H
#define NERVE_FSUTIL_H

#include <stdio.h>

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "<dirname(final)>/.<basename(final)>.tmp-<pid>-<n>", n counting per process, so
 * no two writers (processes or threads) share a temporary name even for the same
 * final file. malloc'd, the caller frees; NULL (err filled) on OOM. */
char *nv_temp_path(const char *final_path, nv_error *err);

/* Publishes a finished temporary file: fsync it, rename it to final_path, fsync the
 * directory. On failure the temporary is removed and err names the file. */
nv_status nv_publish_temp(const char *tmp_path, const char *final_path, nv_error *err);

/* Writes n bytes (or a NUL-terminated text) to path atomically. */
nv_status nv_atomic_write(const char *path, const void *data, size_t n, nv_error *err);
nv_status nv_atomic_write_text(const char *path, const char *text, nv_error *err);

/* A file being streamed: fp writes to the temporary; commit publishes it (any
 * earlier write error on fp is reported then, naming the final path); abort removes
 * it. Both accept an outfile that failed to open or was already ended. */
typedef struct {
    FILE *fp;       /* owned until commit/abort */
    char *tmp;      /* the temporary's name, owned */
    char *path;     /* the final name, owned */
} nv_outfile;
nv_status nv_outfile_open(nv_outfile *o, const char *path, nv_error *err);
nv_status nv_outfile_commit(nv_outfile *o, nv_error *err);
void nv_outfile_abort(nv_outfile *o);

/* fsync of a directory (so a rename in it is durable), and of the directory that
 * holds path ("." for a bare name). File systems that refuse fsync on directories
 * (EINVAL, EROFS) count as success: the rename is as durable as they allow. */
nv_status nv_fsync_dir(const char *dir, nv_error *err);
nv_status nv_fsync_parent(const char *path, nv_error *err);

/* mkdir -p; an error names the directory. */
nv_status nv_mkdirs(const char *path, nv_error *err);

/* The modification time of path in nanoseconds, or 0 when it does not exist (a
 * cheap "is it there, and did it change" for idempotent stages). */
int64_t nv_file_mtime_ns(const char *path);

#ifdef __cplusplus
}
#endif
#endif
