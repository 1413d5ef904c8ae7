/* server.c: `nerve serve`'s HTTP server on libmicrohttpd (include/nerve/serve.h).
 *
 * Each request passes the checks of docs/CONTRACTS.md section 4 in this order,
 * and the first that fails answers:
 *   1. method: GET and HEAD only                         405 (Allow: GET, HEAD)
 *   2. no request body (Content-Length > 0, chunked)     413
 *   3. the URL (path and query) at most 2 KB             414
 *      (request line and headers over max_request_bytes: libmicrohttpd answers 431;
 *       a malformed request line or header: 400)
 *   4. Host names the bound address and port             400 when missing, 403 otherwise
 *   5. the access token, when one is set                 401
 *   6. routing; paths are checked (paths.c) before any file is opened:
 *        /, /index.html                the page (web/index.html)
 *        /static/<path>                the page's own files under web/ (js, css, img)
 *        /vendor/<file>                d3 and uPlot from web/node_modules (three names)
 *        /api/...                      api.c (JSON and binary)
 *        /api/events?run=              server-sent events (live.c)
 *        /files/<path>                 a run file the manifest rule allows (api.c)
 *      anything else                                     404
 * Every answer carries the Content-Security-Policy and the other headers below.
 *
 * Threads: libmicrohttpd runs one thread per connection (an event stream may then
 * simply wait for its next event), at most max_connections at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nerve/strbuf.h"
#include "serve/serve_internal.h"

#define SSE_HEARTBEAT_S 10.0
/* How often a waiting event stream looks whether its page has gone. A stream's
 * thread waits inside the content callback, where libmicrohttpd does not watch the
 * socket: without the look, a closed page kept its connection (one of
 * --max-connections, and a thread) until the next heartbeat's write failed, 10 to
 * 20 s later, and 50 pages reopened at once found the server full (the long load
 * test's second round: connections closed unanswered). */
#define SSE_CLOSE_CHECK_S 0.5

static const char CSP[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct nv_server {
    struct MHD_Daemon *d;
    sv_api *api;
    sv_live *live;
    char root[SV_PATH_LEN];
    char web[SV_PATH_LEN];
    char bind[64];
    int port;
    int frontend;
    char token[256];
    char **allow_hosts; /* NULL-terminated copy */
    atomic_llong answered, refused;
};

/* --- responses ----------------------------------------------------------------------- */
static void common_headers(struct MHD_Response *resp, int cacheable) {
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header(resp, "Cache-Control", cacheable ? "private, max-age=300" : "no-store");
}

static enum MHD_Result send_reply(nv_server *s, struct MHD_Connection *c, sv_reply *r, int cacheable,
                                  const char *cookie) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"", r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        sv_reply_free(r);
        return MHD_NO;
    }
    r->body = NULL; /* the response owns it now */
    common_headers(resp, cacheable && r->status == 200);
    MHD_add_response_header(resp, "Content-Type", r->ctype ? r->ctype : "text/plain; charset=utf-8");
    if (r->shape[0]) {
        MHD_add_response_header(resp, "X-Nerve-Shape", r->shape);
        MHD_add_response_header(resp, "X-Nerve-Dtype", "float32-le");
    }
    if (r->extra_name[0]) MHD_add_response_header(resp, r->extra_name, r->extra_value);
    if (r->status == 405) MHD_add_response_header(resp, "Allow", "GET, HEAD");
    if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"nerve\"");
    if (cookie) MHD_add_response_header(resp, "Set-Cookie", cookie);
    if (r->status >= 400) atomic_fetch_add(&s->refused, 1);
    else atomic_fetch_add(&s->answered, 1);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result send_error(nv_server *s, struct MHD_Connection *c, int status, const char *msg) {
    sv_reply r = {0};
    sv_reply_error(&r, status, msg, NULL);
    return send_reply(s, c, &r, 0, NULL);
}

/* --- static files -------------------------------------------------------------------- */
static const char *ctype_of(const char *path) {
    static const struct {
        const char *ext, *type;
    } T[] = {{".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
             {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
             {".svg", "image/svg+xml"}, {".png", "image/png"}, {".json", "application/json"}};
    size_t n = strlen(path);
    for (size_t i = 0; i < NV_ARRAY_LEN(T); i++) {
        size_t e = strlen(T[i].ext);
        if (n > e && !strcmp(path + n - e, T[i].ext)) return T[i].type;
    }
    return NULL;
}

/* A file of the web folder: rel must be a clean path under one of its asset folders
 * (or one of the vendor files), with a known type, and realpath under the folder. */
static void static_file(nv_server *s, const char *rel, sv_reply *r) {
    char p[SV_PATH_LEN];
    const char *type = ctype_of(rel);
    if (!sv_rel_path_ok(rel, 0) || !type) {
        sv_reply_error(r, 404, "not found", NULL);
        return;
    }
    int rc = sv_resolve_under(s->web, rel, p);
    struct stat st;
    if (rc || stat(p, &st) || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) {
        sv_reply_error(r, rc == -2 ? 403 : 404, rc == -2 ? "forbidden" : "not found", NULL);
        return;
    }
    size_t len;
    char *b = nv_read_file(p, &len);
    if (!b) {
        sv_reply_error(r, 404, "not found", NULL);
        return;
    }
    r->status = 200;
    r->ctype = type;
    r->body = b;
    r->len = len;
}

static const char NO_FRONTEND[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>nerve serve</title></head><body>"
    "<h1>nerve serve: the viewer's front end is not installed</h1>"
    "<p>The page needs d3 and uPlot, which <code>make</code> installs into <code>web/node_modules</code> "
    "from <code>web/package-lock.json</code> with npm. Install npm (Debian: <code>apt-get install npm</code>), "
    "then run <code>make web</code> in the nerve source tree (or point <code>NERVE_WEB</code> at a web folder "
    "that has them) and reload.</p><p>The JSON API works without it: <a href=\"/api/runs\">/api/runs</a> "
    "(docs/serve.md).</p></body></html>";

/* --- server-sent events ------------------------------------------------------------------ */
typedef struct {
    sv_sub *sub;
    char *pending;
    size_t off, len;
    int fd; /* the connection's socket (-1: unknown) */
} sse_stream;

/* 1 when the client has closed its end of fd: a peek reads end-of-file or an error.
 * Bytes waiting (a client may send more) and nothing yet both mean open. */
static int peer_closed(int fd) {
    if (fd < 0) return 0;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse_stream *st = cls;
    const int fresh = !st->pending;
    for (double waited = 0; !st->pending; waited += SSE_CLOSE_CHECK_S) {
        int closed = 0;
        st->pending = sv_sub_next(st->sub, SSE_CLOSE_CHECK_S, &closed);
        if (closed) return MHD_CONTENT_READER_END_OF_STREAM;
        if (st->pending) break;
        if (peer_closed(st->fd)) return MHD_CONTENT_READER_END_WITH_ERROR; /* frees the connection */
        if (waited + SSE_CLOSE_CHECK_S >= SSE_HEARTBEAT_S) {
            st->pending = strdup(": keep-alive\n\n"); /* keeps proxies from timing the stream out */
            if (!st->pending) return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    if (fresh) {
        st->off = 0;
        st->len = strlen(st->pending);
    }
    size_t n = st->len - st->off < max ? st->len - st->off : max;
    memcpy(buf, st->pending + st->off, n);
    st->off += n;
    if (st->off == st->len) {
        free(st->pending);
        st->pending = NULL;
    }
    return (ssize_t)n;
}

static void sse_free(void *cls) {
    sse_stream *st = cls;
    sv_sub_close(st->sub);
    free(st->pending);
    free(st);
}

static enum MHD_Result events(nv_server *s, struct MHD_Connection *c) {
    sv_reply r = {0};
    char run[SV_PATH_LEN];
    const char *id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "run");
    if (!id) id = "";
    if (sv_api_run_dir(s->api, id, run, &r)) return send_reply(s, c, &r, 0, NULL);
    sse_stream *st = calloc(1, sizeof *st);
    if (!st || !(st->sub = sv_live_subscribe(s->live, run, id))) {
        free(st);
        return send_error(s, c, 503, "the server is stopping");
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    st->fd = ci ? ci->connect_fd : -1;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, st, sse_free);
    if (!resp) {
        sse_free(st);
        return MHD_NO;
    }
    common_headers(resp, 0);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    atomic_fetch_add(&s->answered, 1);
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* --- the request ------------------------------------------------------------------------ */
static const char *arg_of(void *ctx, const char *name) {
    return MHD_lookup_connection_value((struct MHD_Connection *)ctx, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result sum_len(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 2;
    return MHD_YES;
}

static int token_ok(nv_server *s, struct MHD_Connection *c, int *from_query) {
    *from_query = 0;
    if (!s->token[0]) return 1;
    const char *t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    if (t && sv_secret_eq(t, s->token)) return (*from_query = 1);
    t = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "nerve_token");
    if (t && sv_secret_eq(t, s->token)) return 1;
    t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (t && !strncmp(t, "Bearer ", 7) && sv_secret_eq(t + 7, s->token)) return 1;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version, (void)upload_data;
    nv_server *s = cls;
    static int first_call_marker;
    if (*con_cls != &first_call_marker) {
        /* the first call: the headers are in. A wrong method or a body is answered
         * at once (the connection then closes); the rest on the next call, when
         * libmicrohttpd keeps the connection alive */
        *con_cls = &first_call_marker;
        if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
            sv_reply r = {0};
            sv_reply_error(&r, 405, "only GET and HEAD are answered", NULL);
            return send_reply(s, c, &r, 0, NULL);
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        if ((cl && strcmp(cl, "0")) || te) return send_error(s, c, 413, "requests carry no body here");
        return MHD_YES;
    }
    if (*upload_data_size) { /* a body after all: dropped, the reply below still comes */
        *upload_data_size = 0;
        return MHD_YES;
    }
    size_t ulen = strlen(url);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, sum_len, &ulen);
    if (ulen > SV_MAX_URL) return send_error(s, c, 414, "URL too long");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!host) return send_error(s, c, 400, "no Host header");
    if (!sv_host_ok(host, s->bind, s->port, (const char *const *)s->allow_hosts))
        return send_error(s, c, 403, "this Host is not the server's address (DNS rebinding is refused)");
    int from_query;
    if (!token_ok(s, c, &from_query)) return send_error(s, c, 401, "an access token is required (the URL nerve serve printed carries it)");

    sv_reply r = {0};
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
        if (s->frontend) static_file(s, "index.html", &r);
        else {
            r.status = 200;
            r.ctype = "text/html; charset=utf-8";
            r.body = strdup(NO_FRONTEND);
            r.len = r.body ? strlen(r.body) : 0;
        }
        char cookie[400];
        snprintf(cookie, sizeof cookie, "nerve_token=%s; Path=/; HttpOnly; SameSite=Strict", s->token);
        return send_reply(s, c, &r, 0, from_query ? cookie : NULL);
    }
    if (!strncmp(url, "/static/", 8)) {
        const char *rel = url + 8;
        if (strncmp(rel, "js/", 3) && strncmp(rel, "css/", 4) && strncmp(rel, "img/", 4)) sv_reply_error(&r, 404, "not found", NULL);
        else static_file(s, rel, &r);
        return send_reply(s, c, &r, 0, NULL);
    }
    if (!strncmp(url, "/vendor/", 8)) {
        static const struct {
            const char *name, *path;
        } V[] = {{"d3.min.js", "node_modules/d3/dist/d3.min.js"},
                 {"uPlot.iife.min.js", "node_modules/uplot/dist/uPlot.iife.min.js"},
                 {"uPlot.min.css", "node_modules/uplot/dist/uPlot.min.css"}};
        size_t i = 0;
        while (i < NV_ARRAY_LEN(V) && strcmp(url + 8, V[i].name)) i++;
        if (i == NV_ARRAY_LEN(V)) sv_reply_error(&r, 404, "not found", NULL);
        else static_file(s, V[i].path, &r);
        return send_reply(s, c, &r, 1, NULL);
    }
    if (!strcmp(url, "/api/events")) return events(s, c);
    if (!strncmp(url, "/api/", 5)) {
        sv_api_handle(s->api, url, arg_of, c, &r);
        return send_reply(s, c, &r, 0, NULL);
    }
    if (!strncmp(url, "/files/", 7)) {
        sv_api_file(s->api, url + 7, &r);
        return send_reply(s, c, &r, 0, NULL);
    }
    return send_error(s, c, 404, "not found");
}

/* --- start and stop ------------------------------------------------------------------------ */
int nv_serve_find_web_dir(char *buf, size_t len) {
    const char *env = getenv("NERVE_WEB");
    char exe[PATH_MAX], p[PATH_MAX + 64];
    struct stat st;
    if (env && *env) {
        snprintf(p, sizeof p, "%s/index.html", env);
        if (stat(p, &st) == 0 && realpath(env, exe)) {
            snprintf(buf, len, "%s", exe);
            return 0;
        }
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = '\0';
    static const char *const rel[] = {"../web", "../../web", "../../../web", "../share/nerve/web"};
    for (size_t i = 0; i < NV_ARRAY_LEN(rel); i++) {
        snprintf(p, sizeof p, "%s/%s/index.html", exe, rel[i]);
        if (stat(p, &st) == 0) {
            snprintf(p, sizeof p, "%s/%s", exe, rel[i]);
            char real[PATH_MAX];
            if (!realpath(p, real)) continue;
            snprintf(buf, len, "%s", real);
            return 0;
        }
    }
    return -1;
}

nv_status nv_serve_start(const nv_serve_opts *o, nv_server **out, nv_error *err) {
    *out = NULL;
    nv_server *s = calloc(1, sizeof *s);
    if (!s) return nv_fail(err, NV_ENOMEM, "out of memory");
    nv_status st = NV_OK;
    char real[PATH_MAX];
    if (!o->root || !realpath(o->root, real)) {
        st = nv_fail(err, NV_EINPUT, "%s: no such directory", o->root ? o->root : "(none)");
        goto fail;
    }
    snprintf(s->root, sizeof s->root, "%s", real);
    struct stat sst;
    if (stat(s->root, &sst) || !S_ISDIR(sst.st_mode)) {
        st = nv_fail(err, NV_EINPUT, "%s: not a directory", o->root);
        goto fail;
    }
    snprintf(s->bind, sizeof s->bind, "%s", o->bind && *o->bind ? o->bind : "127.0.0.1");
    if (o->web_dir && *o->web_dir) {
        if (!realpath(o->web_dir, real)) {
            st = nv_fail(err, NV_EINPUT, "%s: the web folder does not exist", o->web_dir);
            goto fail;
        }
        snprintf(s->web, sizeof s->web, "%s", real);
    } else if (nv_serve_find_web_dir(s->web, sizeof s->web)) {
        s->web[0] = '\0';
    }
    char probe[SV_PATH_LEN + 64];
    snprintf(probe, sizeof probe, "%s/node_modules/d3/dist/d3.min.js", s->web);
    s->frontend = s->web[0] && stat(probe, &sst) == 0;
    snprintf(probe, sizeof probe, "%s/node_modules/uplot/dist/uPlot.iife.min.js", s->web);
    s->frontend = s->frontend && stat(probe, &sst) == 0;
    if (o->token && *o->token) {
        if (strlen(o->token) >= sizeof s->token || strspn(o->token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != strlen(o->token)) {
            st = nv_fail(err, NV_EINPUT, "--token: at most 255 characters of [A-Za-z0-9._-]");
            goto fail;
        }
        snprintf(s->token, sizeof s->token, "%s", o->token);
    }
    int nh = 0;
    while (o->allow_hosts && o->allow_hosts[nh]) nh++;
    s->allow_hosts = calloc((size_t)nh + 1, sizeof *s->allow_hosts);
    for (int i = 0; s->allow_hosts && i < nh; i++) s->allow_hosts[i] = strdup(o->allow_hosts[i]);

    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    struct sockaddr *sa;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    const char *addr = !strcmp(s->bind, "localhost") ? "127.0.0.1" : s->bind;
    if (o->port < 0 || o->port > 65535) {
        st = nv_fail(err, NV_EINPUT, "--port: expected 0..65535, found %d", o->port);
        goto fail;
    }
    if (inet_pton(AF_INET, addr, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)o->port);
        sa = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, addr, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)o->port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        st = nv_fail(err, NV_EINPUT, "--bind: '%s' is not an IPv4 or IPv6 address", s->bind);
        goto fail;
    }
    if (!(s->api = sv_api_new(s->root)) || !(s->live = sv_live_new(o->poll_seconds))) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
        goto fail;
    }
    int maxc = o->max_connections > 0 ? o->max_connections : 128;
    int maxreq = o->max_request_bytes > 0 ? o->max_request_bytes : 16384;
    s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)maxc, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                            (size_t)maxreq, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (!s->d) {
        st = nv_fail(err, NV_EIO, "cannot listen on %s port %d (%s)", s->bind, o->port,
                     errno ? strerror(errno) : "in use, or not an address of this machine");
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di && di->port ? di->port : o->port;
    *out = s;
    return NV_OK;
fail:
    nv_serve_stop(s);
    return st;
}

int nv_serve_port(const nv_server *s) { return s->port; }
int nv_serve_has_frontend(const nv_server *s) { return s->frontend; }
const char *nv_serve_web_dir(const nv_server *s) { return s->web; }
void nv_serve_counts(const nv_server *s, int64_t *answered, int64_t *refused) {
    *answered = atomic_load(&s->answered);
    *refused = atomic_load(&s->refused);
}

void nv_serve_stop(nv_server *s) {
    if (!s) return;
    sv_live_stop(s->live);  /* event streams end, so their threads can be joined */
    if (s->d) MHD_stop_daemon(s->d);
    sv_live_free(s->live);
    sv_api_free(s->api);
    for (int i = 0; s->allow_hosts && s->allow_hosts[i]; i++) free(s->allow_hosts[i]);
    free(s->allow_hosts);
    free(s);
}
