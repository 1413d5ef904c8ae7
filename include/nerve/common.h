/* common.h: status codes, error reports and numeric types shared by every module.
 *
 * Library code never prints and never exits: it returns an nv_status and, on
 * failure, fills an nv_error with one sentence that names the file and the key,
 * line or offset, what was found and what was expected. Only the command-line
 * layer (src/cli/) prints that sentence and maps the status to an exit code
 * (NV_EINPUT -> 2, as docs/CONTRACTS.md asks for bad input).
 */
#ifndef NERVE_COMMON_H
#define NERVE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef float nv_real;     /* activations, weights, coordinates */
typedef double nv_acc;     /* accumulators for metrics and statistics */

typedef enum {
    NV_OK = 0,
    NV_EINPUT = 2,     /* bad input: config, data file, HDF5, flag (exit 2) */
    NV_EIO = 3,        /* the system failed us: disk full, permission, ... */
    NV_ENOMEM = 4,     /* allocation failed, or a memory estimate was refused */
    NV_ENUMERIC = 5,   /* a NaN/Inf appeared during computation (e.g. diverging loss) */
    NV_EDEVICE = 6,    /* the GPU failed, or is there and cannot be used (device.h) */
    NV_EINTERNAL = 7,  /* a bug: an invariant did not hold */
    NV_EINTERRUPTED = 8, /* stopped on request (SIGINT/SIGTERM); earlier results are intact */
    NV_ENODEVICE = 9   /* a GPU was required and this machine or build has none (device.h) */
} nv_status;

#define NV_ERROR_LEN 1024
typedef struct {
    nv_status status;
    char msg[NV_ERROR_LEN];
} nv_error;

/* Records a failure and returns `status`, so library code can write
 *     return nv_fail(err, NV_EINPUT, "%s:%d: key 'lr': expected a number > 0, found %g", ...);
 * `err` may be NULL (the message is dropped). Never overwrites an earlier message
 * with status != NV_OK unless `err->status` is NV_OK, so the innermost cause wins. */
nv_status nv_fail(nv_error *err, nv_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes context ("while reading runs/x/config.cfg: ") to an existing message. */
void nv_error_prefix(nv_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void nv_error_clear(nv_error *err);

/* Allocation that reports through nv_error; returns NULL with NV_ENOMEM set. */
void *nv_malloc(size_t bytes, nv_error *err);
void *nv_calloc(size_t count, size_t size, nv_error *err);
/* A large block written soon after (a recorder chunk, a result table): from 2 MiB
 * up, on 2 MiB boundaries and in transparent huge pages where the kernel has them
 * on request, so that its first touch faults once per 2 MiB instead of once per
 * 4 KiB (on these virtual machines a fault costs microseconds). Blocks under 1 MiB
 * come from malloc. Either way free() releases it; realloc() may move it to small pages. */
void *nv_malloc_huge(size_t bytes, nv_error *err);

/* Has the kernel map p[0..bytes) now (each page zero-filled if new), without
 * changing what the memory holds: MADV_POPULATE_WRITE, nothing where the kernel
 * lacks it (before Linux 5.14). Called by another thread than the one about to fill
 * fresh memory, it takes the page faults (and the kernel's zeroing) off that thread;
 * safe while that thread writes, and on memory freed meanwhile (only faults in). */
void nv_prefault(void *p, size_t bytes);
/* nv_prefault on a short-lived thread of its own, so that the caller and its
 * queues wait for nothing; does nothing where no thread can be started. */
void nv_prefault_async(void *p, size_t bytes);

/* v as the shortest "%.{p}g" text, p from min_digits up to 17, that reads back
 * (strtod) to the same double, or with single = 1 to the same float: 0.001, not
 * 0.00100000005. NaN is "nan", the infinities "inf" and "-inf". Into out (len bytes). */
void nv_fmt_shortest(char *out, size_t len, double v, int min_digits, int single);

/* Wall clock in seconds (monotonic), for progress lines and benchmarks only:
 * never stored in a dataset that must be the same bytes. */
double nv_now(void);

/* Number of worker threads to use: NERVE_THREADS if set, else the online cores. */
int nv_default_threads(void);

#define NV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define NV_MAX(a, b) ((a) > (b) ? (a) : (b))

/* The project version, recorded in every file and run. */
#define NERVE_VERSION "0.1.0"

#ifdef __cplusplus
}
#endif
#endif
