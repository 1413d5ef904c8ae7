/* strbuf.c: the growable text buffer and whole-file reader of strbuf.h, shared by
 * every module that builds text (config, report, sweeps, analysis tables). */
#include "nerve/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for n more bytes plus the '\0'. Doubling keeps appends amortised O(1)
 * for the long tables (a report embeds megabytes of base64 a few bytes at a time). */
static int reserve(nv_strbuf *b, size_t n) {
    if (b->oom) return 0;
    if (n > (size_t)-1 / 2 - b->len) {
        b->oom = 1;
        return 0;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return 0;
    }
    b->s = s;
    b->cap = cap;
    return 1;
}

void nv_sb_put(nv_strbuf *b, const char *data, size_t n) {
    if (!reserve(b, n)) return;
    if (n) memcpy(b->s + b->len, data, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void nv_sb_puts(nv_strbuf *b, const char *s) { nv_sb_put(b, s, strlen(s)); }

void nv_sb_vprintf(nv_strbuf *b, const char *fmt, va_list ap) {
    if (b->oom) return;
    /* Try the room left first; format again only when it did not fit. */
    va_list again;
    va_copy(again, ap);
    size_t room = b->s ? b->cap - b->len : 0;
    int n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
    if (n < 0) {
        /* an encoding error or a result over INT_MAX: the text would be wrong */
        b->oom = 1;
    } else if ((size_t)n < room) {
        b->len += (size_t)n;
    } else if (reserve(b, (size_t)n)) {
        vsnprintf(b->s + b->len, b->cap - b->len, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void nv_sb_printf(nv_strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    nv_sb_vprintf(b, fmt, ap);
    va_end(ap);
}

const char *nv_sb_str(const nv_strbuf *b) { return b->s && !b->oom ? b->s : ""; }

char *nv_sb_take(nv_strbuf *b) {
    if (b->oom) {
        nv_sb_free(b);
        return NULL;
    }
    char *s = b->s ? b->s : strdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

void nv_sb_free(nv_strbuf *b) {
    if (!b) return;
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

char *nv_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *data = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) data = malloc((size_t)n + 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (!data) return NULL;
    data[n] = '\0';
    if (len) *len = (size_t)n;
    return data;
}

void nv_sb_clear(nv_strbuf *b) {
    b->len = 0;
    b->oom = 0;
    if (b->s) b->s[0] = '\0';
}
