/* serve_internal.h: what the viewer's server files share (src/serve/, private).
 *
 *   paths.c       the security rules as pure functions: names, URL paths, realpath
 *                 under a root, the Host check, which run files a reader may open
 *                 (the manifest rule); unit-tested in tests/unit/test_serve.c
 *   server.c      libmicrohttpd: the request checks in order, routing, static files,
 *                 headers, the token, server-sent events
 *   api.c         the JSON and binary endpoints over a run's files
 *   live.c        the watcher: new manifest entries, metrics, analysis files and
 *                 dynamics chunks become events for the open pages
 *   dyn_source.c  the per-step record behind one small interface (sv_dyn_*), so the
 *                 views that need it work as soon as the dynamics store lands
 */
#ifndef NERVE_SERVE_INTERNAL_H
#define NERVE_SERVE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "nerve/common.h"
#include "nerve/serve.h"

#define SV_PATH_LEN 4096
#define SV_MAX_URL 2048

/* --- paths.c ----------------------------------------------------------------------- */
/* out (SV_PATH_LEN bytes) = dir + "/" + the formatted rest. 0 when it fits, -1
 * when it would not (out is then "", which names no file). */
int sv_path(char *out, const char *dir, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* 1 when s is 1..63 characters of [A-Za-z0-9_-] (models, layers, splits). */
int sv_name_ok(const char *s);
/* 1 when s is a decimal integer in [lo, hi]; *out gets it. */
int sv_int_ok(const char *s, int64_t lo, int64_t hi, int64_t *out);
/* 1 when rel is a clean relative path: segments of [A-Za-z0-9_.+-] separated by
 * single '/', none empty, none starting with '.', at most 512 bytes. This refuses
 * "..", ".", hidden files (a writer's temporaries), backslashes, '%' (a second
 * decoding) and control bytes before anything touches the disk. "" is allowed
 * (the root itself) when allow_empty. */
int sv_rel_path_ok(const char *rel, int allow_empty);
/* Resolves root_real + "/" + rel with realpath into out (SV_PATH_LEN). Returns 0
 * when it exists and lies at or under root_real, -1 when it does not exist
 * (404), -2 when it resolves outside root_real (a symlink out: 403). root_real
 * must itself be a real path. */
int sv_resolve_under(const char *root_real, const char *rel, char *out);
/* The Host check (DNS rebinding): host is the request's Host header. Accepted:
 * "<name>:<port>" (or "<name>" when port is 80) where name is the bound address;
 * for a loopback bind also localhost, 127.0.0.1 and [::1]; for a wildcard bind
 * (0.0.0.0, ::) any IP literal and this machine's host name; any name in extra
 * (NULL-terminated, may be NULL). A DNS name an attacker controls is never one
 * of these. */
int sv_host_ok(const char *host, const char *bind, int port, const char *const *extra);
/* The manifest rule of docs/CONTRACTS.md for one run: 1 when rel (relative to
 * the run directory, already sv_rel_path_ok) may be opened by a reader now:
 *   config.cfg, run.json, summary.json, hashes.json, metrics.h5, metrics/<m>.csv,
 *   snapshots/manifest.json and the snapshot files it lists,
 *   analysis/... (every analysis output is published by atomic rename),
 *   dynamics/<m>.h5, dynamics/<m>/manifest.json and the chunks it lists.
 * Anything else (log.txt, which is appended; checkpoints; temporaries; files a
 * manifest does not list yet) is 0. */
int sv_run_file_allowed(const char *run_real, const char *rel);
/* 1 when dir is a run directory (snapshots/manifest.json, or config.cfg with
 * run.json). */
int sv_is_run_dir(const char *dir);
/* Constant-time string comparison (the token). */
int sv_secret_eq(const char *a, const char *b);

/* --- replies (api.c fills them, server.c sends them) ---------------------------------- */
typedef struct {
    int status;             /* HTTP status */
    const char *ctype;      /* static string */
    char *body;             /* malloc'd, owned (may be NULL with len 0) */
    size_t len;
    char shape[96];         /* binary: "rows,cols" (X-Nerve-Shape) */
    char extra_name[32];    /* one more header (e.g. X-Nerve-Epochs), "" for none */
    char extra_value[1024];
} sv_reply;

/* A JSON error body {"error": msg, "hint": hint} with status. */
void sv_reply_error(sv_reply *r, int status, const char *msg, const char *hint);
void sv_reply_free(sv_reply *r);

/* --- api.c ------------------------------------------------------------------------- */
typedef struct sv_api sv_api;
typedef const char *(*sv_arg_fn)(void *ctx, const char *name); /* query argument or NULL */

sv_api *sv_api_new(const char *root_real);
void sv_api_free(sv_api *a);
/* Answers GET path (beginning "/api/") with its query arguments. */
void sv_api_handle(sv_api *a, const char *path, sv_arg_fn arg, void *ctx, sv_reply *r);
/* Resolves the run argument ("" = the root) to a real run directory (out,
 * SV_PATH_LEN). Returns 0, or fills r with 400/403/404 and returns -1. */
int sv_api_run_dir(sv_api *a, const char *run, char *out, sv_reply *r);
/* The raw file route /files/<rel>: rel under the root, inside one of its runs, and
 * allowed by sv_run_file_allowed. */
void sv_api_file(sv_api *a, const char *rel, sv_reply *r);

/* --- live.c ------------------------------------------------------------------------ */
typedef struct sv_live sv_live;
typedef struct sv_sub sv_sub;

sv_live *sv_live_new(double poll_seconds);
/* Wakes and ends every subscriber (sv_sub_next reports closed) and joins the
 * watcher; sv_live_free after every subscriber was closed. */
void sv_live_stop(sv_live *l);
void sv_live_free(sv_live *l);
/* Starts watching run_real (baseline: what is there now) and returns a subscriber
 * whose first event is "hello". NULL on failure (out of memory, or stopping). */
sv_sub *sv_live_subscribe(sv_live *l, const char *run_real, const char *run_id);
/* Waits at most timeout seconds for the subscriber's next event; returns the SSE
 * text (malloc'd) or NULL on timeout; *closed = 1 when the server is stopping. */
char *sv_sub_next(sv_sub *s, double timeout, int *closed);
void sv_sub_close(sv_sub *s);
/* Wall clock in milliseconds since the epoch (event time stamps, latency). */
double sv_wall_ms(void);

/* --- dyn_source.c: the per-step record -------------------------------------------------
 * One small interface over the dynamics store (include/nerve/dynamics.h, docs/
 * dynamics.md) for the views: which models are recorded, the steps tier's series,
 * one step's per-unit statistics and batch gradient. Built against nv_dyn_* when
 * the store is part of this build; otherwise every call says how to record. */
typedef struct sv_dyn sv_dyn;
/* 1 when this build has the dynamics reader. */
int sv_dyn_built(void);
/* The message shown where a view needs the record and there is none. */
#define SV_DYN_HINT "record dynamics with dynamics.enabled = true in the experiment config (docs/dynamics.md)"
/* Opens model's record of run_real; NV_EINPUT with a message when there is none. */
nv_status sv_dyn_open(const char *run_real, const char *model, sv_dyn **out, nv_error *err);
void sv_dyn_close(sv_dyn *d);
/* Layers (names, network order) and the last recorded step. */
int sv_dyn_layers(const sv_dyn *d, char names[][16], int cap, int64_t *widths);
int64_t sv_dyn_last_step(const sv_dyn *d);
/* Rows and columns of a dataset of the record ("steps/grad_norm"); -1 rows when absent. */
nv_status sv_dyn_shape(sv_dyn *d, const char *path, int64_t *rows, int64_t *cols, nv_error *err);
nv_status sv_dyn_read_f32(sv_dyn *d, const char *path, int64_t row0, int64_t n, float *out,
                          nv_error *err);
nv_status sv_dyn_read_i64(sv_dyn *d, const char *path, int64_t row0, int64_t n, int64_t *out,
                          nv_error *err);
/* Rows of tier (0 steps, 1 neurons, 2 samples, 3 factors, 4 weights) at step s. */
nv_status sv_dyn_rows_of_step(sv_dyn *d, int tier, int64_t s, int64_t *row0, int64_t *n,
                              nv_error *err);

#endif
