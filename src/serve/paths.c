/* paths.c: the viewer's security rules as pure functions (serve_internal.h):
 * which names and paths a request may carry, the realpath check under a root, the
 * Host check against DNS rebinding, and the manifest rule of docs/CONTRACTS.md
 * (a reader opens only files a manifest lists or that were published whole by
 * atomic rename). server.c and api.c apply them in order before any file is
 * opened; tests/unit/test_serve.c checks each on its own. */
#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nerve/snapshot.h"
#include "serve/serve_internal.h"

int sv_path(char *out, const char *dir, const char *fmt, ...) {
    size_t n = strlen(dir);
    if (n + 2 >= SV_PATH_LEN) {
        out[0] = '\0';
        return -1;
    }
    memcpy(out, dir, n);
    out[n] = '/';
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out + n + 1, SV_PATH_LEN - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= SV_PATH_LEN - n - 1) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

int sv_name_ok(const char *s) {
    if (!s || !*s) return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (!(isalnum(c) || c == '_' || c == '-') || n >= 63) return 0;
    }
    return 1;
}

int sv_int_ok(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s || !*s || strlen(s) > 19) return 0;
    const char *p = s;
    if (*p == '-') p++;
    if (!*p) return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    long long v = strtoll(s, NULL, 10);
    if (v < lo || v > hi) return 0;
    if (out) *out = v;
    return 1;
}

int sv_rel_path_ok(const char *rel, int allow_empty) {
    if (!rel) return 0;
    size_t n = strlen(rel);
    if (n == 0) return allow_empty;
    if (n > 512 || rel[0] == '/' || rel[n - 1] == '/') return 0;
    int seg_start = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)rel[i];
        if (c == '/') {
            if (seg_start) return 0; /* "//" */
            seg_start = 1;
            continue;
        }
        if (seg_start && c == '.') return 0; /* ".", "..", hidden files and temporaries */
        seg_start = 0;
        if (!(isalnum(c) || c == '_' || c == '-' || c == '.' || c == '+')) return 0;
    }
    return 1;
}

int sv_resolve_under(const char *root_real, const char *rel, char *out) {
    char joined[SV_PATH_LEN];
    if (snprintf(joined, sizeof joined, "%s%s%s", root_real, *rel ? "/" : "", rel) >= (int)sizeof joined)
        return -1;
    char *r = realpath(joined, NULL);
    if (!r) return -1;
    size_t n = strlen(root_real);
    int inside = strncmp(r, root_real, n) == 0 && (r[n] == '\0' || r[n] == '/' || (n == 1 && root_real[0] == '/'));
    if (inside && strlen(r) < SV_PATH_LEN) {
        strcpy(out, r);
        free(r);
        return 0;
    }
    free(r);
    return inside ? -1 : -2;
}

/* Splits "name:port" / "[v6]:port" / "name" into name (lower case, brackets
 * dropped) and port (-1 when absent). 0 on success. */
static int split_host(const char *host, char *name, size_t len, int *port) {
    const char *colon;
    size_t nl;
    *port = -1;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        if (!close) return -1;
        nl = (size_t)(close - host - 1);
        if (nl >= len) return -1;
        memcpy(name, host + 1, nl);
        colon = close[1] == ':' ? close + 1 : NULL;
        if (close[1] && !colon) return -1;
    } else {
        colon = strrchr(host, ':');
        if (colon && strchr(host, ':') != colon) return -1; /* a bare IPv6 address: not a Host */
        nl = colon ? (size_t)(colon - host) : strlen(host);
        if (nl >= len) return -1;
        memcpy(name, host, nl);
    }
    name[nl] = '\0';
    if (nl == 0) return -1;
    for (size_t i = 0; i < nl; i++) name[i] = (char)tolower((unsigned char)name[i]);
    if (colon) {
        int64_t p;
        if (!sv_int_ok(colon + 1, 1, 65535, &p)) return -1;
        *port = (int)p;
    }
    return 0;
}

static int is_ip_literal(const char *name) {
    unsigned char buf[16];
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

int nv_serve_bind_is_loopback(const char *addr) {
    if (!addr) return 1;
    if (!strcmp(addr, "localhost") || !strcmp(addr, "::1")) return 1;
    struct in_addr a4;
    if (inet_pton(AF_INET, addr, &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    return 0;
}

int sv_host_ok(const char *host, const char *bind, int port, const char *const *extra) {
    char name[256], b[256];
    int hp;
    if (!host || !*host || strlen(host) > 255) return 0;
    if (split_host(host, name, sizeof name, &hp)) return 0;
    if (hp == -1) hp = 80;
    if (hp != port) return 0;
    if (!bind) bind = "127.0.0.1";
    snprintf(b, sizeof b, "%s", bind);
    for (char *p = b; *p; p++) *p = (char)tolower((unsigned char)*p);
    if (!strcmp(name, b)) return 1;
    if (nv_serve_bind_is_loopback(bind) &&
        (!strcmp(name, "localhost") || !strcmp(name, "127.0.0.1") || !strcmp(name, "::1")))
        return 1;
    if (!strcmp(b, "0.0.0.0") || !strcmp(b, "::")) {
        if (is_ip_literal(name)) return 1;
        char hn[256] = {0};
        if (gethostname(hn, sizeof hn - 1) == 0) {
            for (char *p = hn; *p; p++) *p = (char)tolower((unsigned char)*p);
            if (!strcmp(name, hn)) return 1;
            size_t l = strlen(hn); /* the short name of a fully qualified host name */
            if (!strncmp(name, hn, strlen(name)) && strlen(name) < l && hn[strlen(name)] == '.') return 1;
        }
        if (!strcmp(name, "localhost")) return 1;
    }
    for (int i = 0; extra && extra[i]; i++)
        if (!strcasecmp(name, extra[i])) return 1;
    return 0;
}

int sv_is_run_dir(const char *dir) {
    char p[SV_PATH_LEN];
    struct stat st;
    snprintf(p, sizeof p, "%s/snapshots/manifest.json", dir);
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) return 1;
    snprintf(p, sizeof p, "%s/config.cfg", dir);
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    snprintf(p, sizeof p, "%s/run.json", dir);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* 1 when the dynamics manifest of model m lists chunk `name`. */
static int dyn_chunk_listed(const char *run_real, const char *m, const char *name) {
    char p[SV_PATH_LEN];
    snprintf(p, sizeof p, "%s/dynamics/%s/manifest.json", run_real, m);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if (!j) return 0;
    int found = 0;
    json_t *chunks = json_object_get(j, "chunks"), *c;
    size_t i;
    json_array_foreach(chunks, i, c) {
        const char *path = json_string_value(json_object_get(c, "path"));
        if (path && !strcmp(path, name)) found = 1;
    }
    json_decref(j);
    return found;
}

int sv_run_file_allowed(const char *run_real, const char *rel) {
    static const char *const whole[] = {"config.cfg", "run.json", "summary.json", "hashes.json",
                                        "metrics.h5", "snapshots/manifest.json"};
    if (!sv_rel_path_ok(rel, 0)) return 0;
    for (size_t i = 0; i < NV_ARRAY_LEN(whole); i++)
        if (!strcmp(rel, whole[i])) return 1;
    if (!strncmp(rel, "metrics/", 8)) {
        const char *f = rel + 8;
        size_t n = strlen(f);
        return !strchr(f, '/') && n > 4 && !strcmp(f + n - 4, ".csv");
    }
    if (!strncmp(rel, "analysis/", 9)) return rel[9] != '\0';
    if (!strncmp(rel, "snapshots/", 10)) {
        char dir[SV_PATH_LEN];
        snprintf(dir, sizeof dir, "%s/snapshots", run_real);
        nv_manifest m = {0};
        nv_error err = {0};
        if (nv_manifest_read(dir, &m, &err)) return 0;
        int found = 0;
        for (int64_t i = 0; i < m.count && !found; i++) found = !strcmp(m.files[i].path, rel + 10);
        nv_manifest_free(&m);
        return found;
    }
    if (!strncmp(rel, "dynamics/", 9)) {
        const char *f = rel + 9;
        const char *slash = strchr(f, '/');
        char model[64];
        if (!slash) { /* dynamics/<m>.h5: the index, rewritten by atomic rename */
            size_t n = strlen(f);
            if (n < 4 || n - 3 >= sizeof model || strcmp(f + n - 3, ".h5")) return 0;
            memcpy(model, f, n - 3);
            model[n - 3] = '\0';
            return sv_name_ok(model);
        }
        size_t ml = (size_t)(slash - f);
        if (ml >= sizeof model) return 0;
        memcpy(model, f, ml);
        model[ml] = '\0';
        if (!sv_name_ok(model) || strchr(slash + 1, '/')) return 0;
        if (!strcmp(slash + 1, "manifest.json")) return 1;
        return dyn_chunk_listed(run_real, model, slash + 1);
    }
    return 0;
}

int sv_secret_eq(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++) d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}
