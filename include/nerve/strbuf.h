/* strbuf.h: a growable text buffer with printf-append, and a whole-file reader.
 *
 * Every stage that writes text (the resolved config, CSV tables, the HTML report,
 * the sbatch scripts, the sweep tables) builds it here and hands the finished string
 * to nv_atomic_write_text (fsutil.h), so there is one buffer to get right instead
 * of one per file.
 *
 * Appends never fail loudly: the first failed allocation sets `oom` and every later
 * append is a no-op, so a builder appends freely and checks once at the end
 * (nv_sb_take returns NULL, or test b.oom). A zeroed struct is an empty buffer:
 *     nv_strbuf b = {0};
 *     nv_sb_printf(&b, "%d,%d\n", x, y);
 *     char *s = nv_sb_take(&b);          // malloc'd; the caller frees; NULL if oom
 */
#ifndef NERVE_STRBUF_H
#define NERVE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *s;         /* the text, '\0'-terminated once anything was appended; owned */
    size_t len, cap; /* bytes used (without the '\0'), bytes allocated */
    int oom;         /* set by the first failed allocation or format; appends then stop */
} nv_strbuf;

/* Appends n bytes of data (which may hold '\0'). */
void nv_sb_put(nv_strbuf *b, const char *data, size_t n);
/* Appends a '\0'-terminated string. */
void nv_sb_puts(nv_strbuf *b, const char *s);
/* Appends printf-formatted text, of any length. */
void nv_sb_printf(nv_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nv_sb_vprintf(nv_strbuf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* The text so far, "" while empty; owned by b and valid until the next append. */
const char *nv_sb_str(const nv_strbuf *b);
/* Hands the text to the caller (malloc'd, "" when nothing was appended) and leaves b
 * empty; returns NULL (and frees) if an append failed, so a caller cannot write a
 * silently truncated file. */
char *nv_sb_take(nv_strbuf *b);
/* Empties b but keeps its allocation (a buffer reused line after line). */
void nv_sb_clear(nv_strbuf *b);
/* Frees the text and leaves b empty; accepts NULL. */
void nv_sb_free(nv_strbuf *b);

/* Reads a whole file into a malloc'd buffer with a '\0' appended (so text files are
 * strings; binary files keep their bytes, *len says how many). NULL if the file
 * cannot be opened or read, or memory runs out; the caller frees. len may be NULL. */
char *nv_read_file(const char *path, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
