/* cli.c: error reporting, option parsing helpers, the configuration table and the
 * progress display shared by every verb. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int nv_cli_report(const char *verb, const nv_error *err) {
    const char *msg = (err && err->msg[0]) ? err->msg : "failed (no message)";
    fprintf(stderr, "nerve %s: %s\n", verb, msg);
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

void nv_cli_table(FILE *f, const char *title, const char *const *keys, const char *const *vals,
                  int n) {
    int kw = 0, vw = 0;
    for (int i = 0; i < n; i++) {
        kw = NV_MAX(kw, (int)strlen(keys[i]));
        vw = NV_MAX(vw, (int)strlen(vals[i]));
    }
    vw = NV_MIN(vw, 90);
    fprintf(f, "%s\n", title);
    fprintf(f, "  %-*s  %s\n", kw, "", "");
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
