/* serve.h: the web viewer's server (`nerve serve RUN|SWEEP_DIR`, src/serve/).
 *
 * Where it fits: the last reader of the pipeline. `nerve train` writes a run
 * directory (snapshots listed in snapshots/manifest.json, metrics/<model>.csv,
 * metrics.h5), the analysis verbs write under RUN/analysis/, and the dynamics
 * recorder (when present) under RUN/dynamics/. The server answers a read-only
 * JSON and binary API over those files and serves the page in web/, which draws
 * the network, feature images, training curves, topology and PCA, and follows a
 * training live through server-sent events (docs/serve.md has every endpoint).
 *
 * What it promises (docs/CONTRACTS.md, section 4 "Servers"):
 *  - it binds 127.0.0.1 unless opts.bind names another address (the command line
 *    prints a warning then: nv_serve_bind_is_loopback);
 *  - it answers GET and HEAD only (405 otherwise), refuses request bodies, URLs
 *    over 2 KB (414) and request headers over opts.max_request_bytes (431);
 *  - every path is resolved with realpath under the served root (or under the
 *    web folder for the page's assets), so "..", encoded traversal and symlinks
 *    out are refused (403/404) without the file being opened;
 *  - of a run it opens only what the manifest rule lets a reader open: snapshot
 *    and dynamics chunk files listed in their manifests, and the files nerve
 *    writes whole by atomic rename (metrics, summaries, analysis outputs);
 *  - the Host header must name the bound address and port (DNS rebinding);
 *  - every answer carries a Content-Security-Policy that lets the page run only
 *    its own scripts; connections are limited (opts.max_connections);
 *  - with opts.token set, every request must carry it (?token=, a cookie set by
 *    the first page load, or "Authorization: Bearer").
 *
 * It never blocks a training: it is its own process (`nerve serve`, or launched
 * by `nerve train --serve`), it only reads, and it reads a file only once a
 * manifest lists it or its atomic rename has happened.
 *
 * Library code: never prints. The server runs in its own threads (one per
 * connection, libmicrohttpd) until nv_serve_stop.
 */
#ifndef NERVE_SERVE_H
#define NERVE_SERVE_H

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NV_SERVE_DEFAULT_PORT 8050

typedef struct {
    const char *root;          /* a run directory or a sweep directory (runs below it) */
    const char *bind;          /* address to listen on; NULL: "127.0.0.1" */
    int port;                  /* 0: any free port (nv_serve_port says which) */
    const char *web_dir;       /* the page's folder (index.html, js/, vendor files under
                                  node_modules/); NULL: nv_serve_find_web_dir */
    const char *token;         /* NULL or "": no token; else required on every request */
    const char *const *allow_hosts; /* extra Host names accepted (NULL-terminated; may be NULL) */
    int max_connections;       /* 0: 128 */
    int max_request_bytes;     /* request line + headers; 0: 16384 */
    double poll_seconds;       /* how often live.c looks for new files; 0: 0.25 */
} nv_serve_opts;

typedef struct nv_server nv_server;

/* Starts listening and returns at once; the server runs in its own threads.
 * NV_EINPUT: root is not a run or sweep directory, an address that does not parse;
 * NV_EIO: the port cannot be bound (the message names address and port). */
nv_status nv_serve_start(const nv_serve_opts *opts, nv_server **out, nv_error *err);
/* The port actually bound (useful with port 0). */
int nv_serve_port(const nv_server *s);
/* 1 when the page's front end (d3, uPlot under web/node_modules) was found; 0: the
 * server answers a page saying how to install it (make web). */
int nv_serve_has_frontend(const nv_server *s);
/* The web folder in use (never NULL after a successful start). */
const char *nv_serve_web_dir(const nv_server *s);
/* Requests answered so far and refused so far (any 4xx), for the closing line. */
void nv_serve_counts(const nv_server *s, int64_t *answered, int64_t *refused);
/* Stops listening, ends live streams, frees s. Accepts NULL. */
void nv_serve_stop(nv_server *s);

/* 1 for 127.0.0.0/8, ::1 and "localhost". */
int nv_serve_bind_is_loopback(const char *addr);

/* The page's folder: $NERVE_WEB if set, else <dir of exe>/../web (the build tree),
 * <dir of exe>/../../web (build/x/), <dir of exe>/../share/nerve/web (installed);
 * the first holding index.html, into buf. 0 on success, -1 if none. */
int nv_serve_find_web_dir(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
