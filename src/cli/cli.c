/* cli.c: error reporting, option parsing helpers, the configuration table and the
 * progress display shared by every verb. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The length of a leading "<word>: " of msg when word is the verb or its last word
 * ("data spheres" -> "spheres"), else 0: library messages often start with their
 * module's name, which the "nerve VERB: " prefix already says. */
static size_t verb_prefix(const char *verb, const char *msg) {
    const char *last = strrchr(verb, ' ');
    const char *words[2] = {verb, last ? last + 1 : NULL};
    for (int i = 0; i < 2; i++) {
        if (!words[i]) continue;
        size_t n = strlen(words[i]);
        if (n && !strncmp(msg, words[i], n) && msg[n] == ':' && msg[n + 1] == ' ') return n + 2;
    }
    return 0;
}

void nv_cli_strip_prefix(nv_error *err, const char *word) {
    if (!err) return;
    size_t n = verb_prefix(word, err->msg);
    if (n) memmove(err->msg, err->msg + n, strlen(err->msg + n) + 1);
}

int nv_cli_report(const char *verb, const nv_error *err) {
    const char *msg = (err && err->msg[0]) ? err->msg : "failed (no message)";
    /* "nerve pca: pca: ..." and "nerve pca: file F: layer L: pca: ...": the module's
     * name after a prefix says again what "nerve pca: " said */
    char clean[sizeof err->msg + 1];
    snprintf(clean, sizeof clean, "%s", msg + verb_prefix(verb, msg));
    const char *last = strrchr(verb, ' ');
    char pat[80];
    snprintf(pat, sizeof pat, ": %s: ", last ? last + 1 : verb);
    for (char *at; (at = strstr(clean, pat)) != NULL;)
        memmove(at + 2, at + strlen(pat), strlen(at + strlen(pat)) + 1);
    fprintf(stderr, "nerve %s: %s\n", verb, clean);
    if (!err) return 1;
    /* Exit status (README "Exit status"): 2 when a file could not be used, whether
     * read (bad input) or written (a full disk, an I/O error, no permission): the
     * message names the file, nothing is left half-written, and rerunning once the
     * file or the disk is fixed continues where the run stopped. */
    switch (err->status) {
    case NV_OK: return 0;
    case NV_EINPUT: return 2;
    case NV_EIO: return 2;
    case NV_ENOMEM: return 1;
    case NV_EINTERRUPTED: return 130;
    case NV_ENODEVICE: return 69; /* sysexits' EX_UNAVAILABLE: scripts can tell "no GPU here" */
    default: return 1;
    }
}

int nv_cli_usage(const char *verb, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "nerve %s: ", verb);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry 'nerve %s --help'\n", verb);
    return 2;
}

/* The usage text's first paragraph (its "usage:" lines). */
static void usage_lines(FILE *f, const char *usage) {
    /* the first line, and the lines that continue it (indented by 6 or more) */
    const char *p = usage;
    do {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        fprintf(f, "%.*s\n", (int)n, p);
        p = e ? e + 1 : p + n;
    } while (*p && !strncmp(p, "      ", 6));
}

int nv_cli_unknown(const char *verb, const char *opt, const char *usage) {
    fprintf(stderr, "nerve %s: unknown option '%s'\n", verb, opt);
    if (usage) usage_lines(stderr, usage);
    fprintf(stderr, "try 'nerve %s --help'\n", verb);
    return 2;
}

int nv_cli_getopt_fail(const char *verb, int c, int optind_now, char **argv, const char *usage) {
    const char *arg = optind_now > 0 ? argv[optind_now - 1] : "?";
    if (c == ':') {
        fprintf(stderr, "nerve %s: option '%s' needs a value\n", verb, arg);
        if (usage) usage_lines(stderr, usage);
        fprintf(stderr, "try 'nerve %s --help'\n", verb);
        return 2;
    }
    return nv_cli_unknown(verb, arg, usage);
}

int nv_cli_opt(const char *verb, int argc, char **argv, int *i, const char *name, const char **val,
               int *rc) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    *rc = 0;
    if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '=')) return 0;
    if (a[n] == '=') *val = a + n + 1;
    else if (*i + 1 < argc) *val = argv[++*i];
    else *rc = nv_cli_usage(verb, "option %s needs a value", name);
    return 1;
}

int nv_cli_int(const char *verb, const char *opt, const char *val, long long lo, long long hi,
               long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end != '\0')
        return nv_cli_usage(verb, "option %s: expected an integer, found '%s'", opt, val);
    if (v < lo || v > hi)
        return nv_cli_usage(verb, "option %s: %lld is out of range [%lld, %lld]", opt, v, lo, hi);
    *out = v;
    return 0;
}

int nv_cli_double(const char *verb, const char *opt, const char *val, double lo, double hi,
                  double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end != '\0' || isnan(v))
        return nv_cli_usage(verb, "option %s: expected a number, found '%s'", opt, val);
    if (v < lo || v > hi)
        return nv_cli_usage(verb, "option %s: %g is out of range [%g, %g]", opt, v, lo, hi);
    *out = v;
    return 0;
}

const char *nv_cli_float(char out[40], float v) {
    for (int p = 1; p <= 9; p++) {
        snprintf(out, 40, "%.*g", p, (double)v);
        if ((float)strtod(out, NULL) == v) break;
    }
    return out;
}

void nv_cli_table(FILE *f, const char *title, const char *const *keys, const char *const *vals,
                  int n) {
    int kw = 0;
    for (int i = 0; i < n; i++) kw = NV_MAX(kw, (int)strlen(keys[i]));
    fprintf(f, "%s\n", title);
    for (int i = 0; i < n; i++) fprintf(f, "  %-*s  %s\n", kw, keys[i], vals[i]);
}

void nv_progress_start(nv_progress *p, FILE *f, const char *label, int64_t total) {
    memset(p, 0, sizeof *p);
    p->f = f;
    p->tty = isatty(fileno(f)) && !getenv("CI");
    p->label = label;
    p->total = total > 0 ? total : 1;
    p->t0 = p->last = nv_now();
    p->every = 10.0;
    p->width = 30;
}

void nv_progress_update(nv_progress *p, int64_t done, const char *extra) {
    double now = nv_now();
    if (p->tty) {
        if (now - p->last < 0.1 && done < p->total) return;
        int fill = (int)((double)p->width * (double)done / (double)p->total);
        char bar[128];
        for (int i = 0; i < p->width; i++) bar[i] = i < fill ? '#' : '.';
        bar[p->width] = '\0';
        fprintf(p->f, "\r%s [%s] %3d%% %s\033[K", p->label, bar,
                (int)(100.0 * (double)done / (double)p->total), extra ? extra : "");
        fflush(p->f);
    } else {
        if (now - p->last < p->every) return;
        fprintf(p->f, "%s: %lld/%lld (%.0f%%) %.1fs %s\n", p->label, (long long)done,
                (long long)p->total, 100.0 * (double)done / (double)p->total, now - p->t0,
                extra ? extra : "");
        fflush(p->f);
    }
    p->last = now;
}

void nv_progress_finish(nv_progress *p, const char *extra) {
    if (p->tty) fprintf(p->f, "\r\033[K");
    fprintf(p->f, "%s: done in %.1fs %s\n", p->label, nv_now() - p->t0, extra ? extra : "");
    fflush(p->f);
}
