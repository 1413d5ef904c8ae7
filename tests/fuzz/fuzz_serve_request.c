/* fuzz_serve_request.c: what `nerve serve` does with a request before and while it
 * opens a file (src/serve/paths.c and api.c): the Host check against DNS
 * rebinding, the path rules, the realpath check under the root, the manifest
 * rule, and every /api/ endpoint with its query arguments, over a real run.
 *
 * The input is text lines: the Host header, the URL path, then NAME=VALUE query
 * arguments. Once per process the target trains a tiny run with the dynamics
 * recorder on (so every endpoint has files to read) beside symlinks that point
 * out of the root and out of the run (into the scratch directory only). What must hold whatever the input:
 *   - an accepted Host is the bound loopback address or localhost, with the port;
 *   - an accepted relative path has no empty, "." or ".." segment and nothing
 *     hidden, and resolves inside the root (a symlink out is refused);
 *   - a file the manifest rule allows is a valid relative path;
 *   - an accepted integer is all digits (one leading '-') and inside its range;
 *   - the API answers with a status from its documented set (never 500: the run
 *     is healthy), and a JSON reply parses;
 *   - /files/ never serves what a link out of the root or the run points at.
 * ASan, UBSan and LSan watch the rest. */
#include <jansson.h>
#include <limits.h>

#include "fuzz_util.h"
#include "nerve/config.h"
#include "nerve/dynamics.h"
#include "nerve/run.h"
#include "serve/serve_internal.h"

#define PORT 8765

static const char *root_real(void) {
    static char root[PATH_MAX];
    if (root[0]) return root;
    char dir[600], cfg[700], run[700], link[1024];
    snprintf(dir, sizeof dir, "%s/root", nv_fuzz_dir());
    mkdir(dir, 0755);
    snprintf(cfg, sizeof cfg, "%s/tiny.cfg", nv_fuzz_dir());
    FILE *f = fopen(cfg, "w");
    if (!f) abort();
    fputs("experiment = \"tiny\";\nseed = 3;\n"
          "data: { spheres: { dim = 4; sphere_dim = 3; points_per_class = 40; }; };\n"
          "models: { hidden = [6, 6]; };\n"
          "train: { epochs = 3; batch_size = 16; };\n"
          "snapshots: { epochs = \"all\"; };\n"
          "dynamics: { enabled = true; };\n",
          f);
    if (fclose(f)) abort();
    snprintf(run, sizeof run, "%s/tiny", dir);
    nv_experiment ex;
    nv_error err = {0};
    if (nv_config_load(cfg, NULL, 0, &ex, &err)) {
        fprintf(stderr, "nerve fuzz: %s\n", err.msg);
        abort();
    }
    ex.threads = 1;
    nv_train_options opt = {.out_dir = run, .command_line = "fuzz", .recorder = nv_dyn_hooks()};
    if (nv_train_run(&ex, &opt, &err)) {
        fprintf(stderr, "nerve fuzz: training the tiny run: %s\n", err.msg);
        abort();
    }
    /* A link out of the root and one out of the run, both to a directory beside the
     * root in the scratch directory (never to a system file), whose one file begins
     * "root:": both must be refused. */
    char outside[700], secret[800];
    snprintf(outside, sizeof outside, "%s/outside", nv_fuzz_dir());
    mkdir(outside, 0755);
    snprintf(secret, sizeof secret, "%s/passwd", outside);
    f = fopen(secret, "w");
    if (!f || fputs("root:not to be served\n", f) < 0 || fclose(f)) abort();
    snprintf(link, sizeof link, "%s/out", dir);
    if (symlink(outside, link) != 0) abort();
    snprintf(link, sizeof link, "%s/analysis", run);
    mkdir(link, 0755);
    snprintf(link, sizeof link, "%s/analysis/passwd", run);
    if (symlink(secret, link) != 0) abort();
    if (!realpath(dir, root)) abort();
    return root;
}

typedef struct {
    char *names[16], *values[16];
    int n;
} args;

static const char *arg_of(void *ctx, const char *name) {
    args *a = ctx;
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->names[i], name)) return a->values[i];
    return NULL;
}

static void finding(const char *what, const char *s) {
    fprintf(stderr, "nerve fuzz: %s: '%s'\n", what, s);
    abort();
}

static void check_rel_path(const char *root, const char *rel) {
    if (!sv_rel_path_ok(rel, 1)) return;
    if (rel[0] == '/' || strstr(rel, "//")) finding("accepted a path with an empty segment", rel);
    for (const char *p = rel; *p; p++)
        if ((p == rel || p[-1] == '/') && *p == '.') finding("accepted a path with a dot segment", rel);
    char out[SV_PATH_LEN];
    if (sv_resolve_under(root, rel, out) == 0) {
        size_t n = strlen(root);
        if (strncmp(out, root, n) || (out[n] && out[n] != '/')) finding("resolved outside the root", rel);
    }
    char run[SV_PATH_LEN];
    snprintf(run, sizeof run, "%s/tiny", root);
    if (sv_run_file_allowed(run, rel) && !sv_rel_path_ok(rel, 0))
        finding("the manifest rule allowed an invalid path", rel);
}

static void check_int(const char *s) {
    int64_t v = 0;
    if (!sv_int_ok(s, -1000, 1000000, &v)) return;
    const char *p = s + (s[0] == '-');
    if (!*p) finding("accepted an integer without digits", s);
    for (; *p; p++)
        if (*p < '0' || *p > '9') finding("accepted a non-digit in an integer", s);
    if (v < -1000 || v > 1000000) finding("accepted an integer out of range", s);
}

static void check_host(const char *host) {
    if (!sv_host_ok(host, "127.0.0.1", PORT, NULL)) return;
    char low[300];
    size_t n = strlen(host);
    if (n >= sizeof low) finding("accepted a long Host", host);
    for (size_t i = 0; i <= n; i++) low[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] + 32 : host[i]);
    char port[16];
    snprintf(port, sizeof port, ":%d", PORT);
    const char *ok[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < NV_ARRAY_LEN(ok); i++) {
        size_t l = strlen(ok[i]);
        /* the port may carry leading zeros ("localhost:08765" is the same port) */
        if (!strncmp(low, ok[i], l) && low[l] == ':') {
            int64_t p = 0;
            if (sv_int_ok(low + l + 1, 1, 65535, &p) && p == PORT) return;
        }
    }
    finding("accepted a Host that is not this server", host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *root = root_real();
    static sv_api *api;
    if (!api && !(api = sv_api_new(root))) abort();
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = '\0';
    char *save = NULL, *host = strtok_r(text, "\n", &save), *path = host ? strtok_r(NULL, "\n", &save) : NULL;
    args a = {.n = 0};
    for (char *l = path ? strtok_r(NULL, "\n", &save) : NULL; l && a.n < 16; l = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(l, '=');
        if (!eq) continue;
        *eq = '\0';
        a.names[a.n] = l;
        a.values[a.n++] = eq + 1;
        check_int(eq + 1);
        (void)sv_name_ok(eq + 1);
    }
    if (host) check_host(host);
    if (path) {
        check_rel_path(root, path[0] == '/' ? path + 1 : path);
        if (!strncmp(path, "/api/", 5)) {
            sv_reply r;
            sv_api_handle(api, path, arg_of, &a, &r);
            const int allowed[] = {200, 400, 403, 404, 409, 500};
            int known = 0;
            for (size_t i = 0; i < NV_ARRAY_LEN(allowed); i++) known |= r.status == allowed[i];
            if (!known) finding("an API status outside the documented set", path);
            if (r.status == 500) {
                /* 500 is for a file that exists but cannot be read; a tiny healthy run
                 * has none, so a 500 here is the server failing on a request */
                fprintf(stderr, "nerve fuzz: 500 for %s: %.*s\n", path, (int)(r.len < 300 ? r.len : 300),
                        r.body ? r.body : "");
                abort();
            }
            if (r.status == 200 && r.body && r.len && !r.shape[0]) {
                json_error_t je;
                json_t *j = json_loadb(r.body, r.len, 0, &je);
                if (!j) finding("a JSON reply that does not parse", path);
                json_decref(j);
            }
            sv_reply_free(&r);
        } else if (!strncmp(path, "/files/", 7)) {
            sv_reply r;
            memset(&r, 0, sizeof r);
            sv_api_file(api, path + 7, &r);
            /* the planted links lead to a file that begins "root:" */
            if (r.status == 200 && r.len >= 5 && !memcmp(r.body, "root:", 5))
                finding("served a file outside the root", path);
            sv_reply_free(&r);
        }
    }
    free(text);
    return 0;
}
