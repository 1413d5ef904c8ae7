/* idx.c: the reader for MNIST-format IDX files (MNIST, Fashion-MNIST), the real
 * image data of the experiments, gzip-compressed or raw.
 *
 * Format (big-endian): magic 0x00 0x00 TYPE NDIMS, then NDIMS u32 sizes, then the
 * data. Images are TYPE 0x08 (unsigned byte), NDIMS 3 (n, rows, cols); labels TYPE
 * 0x08, NDIMS 1 (n). zlib's gzread reads gzip and raw files alike, so one reader
 * serves both; the gzip signature is only looked at to say which it was in error
 * messages. Every size is checked against the file: the whole file is read (also
 * beyond `limit`) so a truncated or overlong file is an error naming the byte
 * offset, never a silent short read. Offsets in messages are positions in the
 * decompressed IDX stream (for raw files, the file itself).
 *
 * Nothing is allocated on the header's word: a raw file's length is compared with
 * what the header claims before any data is read, and a gzip file (whose length
 * says nothing about its contents) is decompressed in bounded pieces into a
 * buffer that grows only as data arrives, so a header claiming 166 GB costs a few
 * kilobytes and ends as "data truncated", naming the header's sizes.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nerve/dataset.h"

#define IDX_UBYTE 0x08
#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u

typedef struct {
    gzFile f;
    const char *path;
    int gz;          /* 1: gzip-compressed file */
    uint64_t size;   /* the file's length in bytes (for a raw file, the stream's) */
    uint64_t off;    /* bytes of the IDX stream consumed so far */
    int cut;         /* 1: the gzip stream ended early ("unexpected end of file") */
} idx_reader;

static nv_status reader_open(idx_reader *r, const char *path, nv_error *err) {
    memset(r, 0, sizeof *r);
    r->path = path;
    FILE *fp = fopen(path, "rb");
    if (!fp) return nv_fail(err, NV_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    unsigned char sig[2] = {0, 0};
    size_t got = fread(sig, 1, 2, fp);
    struct stat sb;
    r->size = fstat(fileno(fp), &sb) == 0 ? (uint64_t)sb.st_size : 0;
    fclose(fp);
    r->gz = got == 2 && sig[0] == 0x1f && sig[1] == 0x8b;
    r->f = gzopen(path, "rb");
    if (!r->f) return nv_fail(err, NV_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    return NV_OK;
}

static void reader_close(idx_reader *r) {
    if (r->f) gzclose(r->f);
    r->f = NULL;
}

/* Reads up to n bytes; *got gets how many arrived. A gzip stream error (corrupt or
 * truncated compressed data) is NV_EINPUT naming the offset. */
static nv_status reader_read(idx_reader *r, void *buf, size_t n, size_t *got, nv_error *err) {
    unsigned char *p = buf;
    *got = 0;
    while (*got < n) {
        size_t want = n - *got;
        if (want > (1u << 30)) want = 1u << 30; /* gzread counts in unsigned int */
        int k = gzread(r->f, p + *got, (unsigned)want);
        if (k < 0) {
            int zerr = 0;
            const char *msg = gzerror(r->f, &zerr);
            /* A gzip stream cut short is a truncated file: report it as such (the
             * caller names the offset where data ran out). */
            if (zerr == Z_BUF_ERROR) {
                r->cut = 1;
                break;
            }
            return nv_fail(err, NV_EINPUT, "%s: offset %llu: %s data is corrupt: %s", r->path,
                           (unsigned long long)(r->off + *got), r->gz ? "gzip" : "file",
                           msg ? msg : "read error");
        }
        if (k == 0) {
            int zerr = 0;
            gzerror(r->f, &zerr);
            r->cut = zerr == Z_BUF_ERROR;
            break;
        }
        *got += (size_t)k;
    }
    r->off += *got;
    return NV_OK;
}

static uint32_t be32(const unsigned char *b) {
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | (uint32_t)b[3];
}

/* The header: magic (checked against `magic`) and ndims sizes into dims. */
static nv_status read_header(idx_reader *r, uint32_t magic, const char *kind, uint32_t *dims,
                             nv_error *err) {
    const int ndims = (int)(magic & 0xff);
    const uint64_t hdr = 4 + 4 * (uint64_t)ndims;
    unsigned char b[4 + 4 * 3];
    size_t got;
    nv_status st = reader_read(r, b, 4, &got, err);
    if (st) return st;
    if (got < 4)
        return nv_fail(err, NV_EINPUT,
                       "%s: offset %llu: header truncated: the file ends after %zu bytes, expected "
                       "a %llu-byte IDX %s header (magic 0x%08x)",
                       r->path, (unsigned long long)r->off, got, (unsigned long long)hdr, kind, magic);
    const uint32_t m = be32(b);
    if (b[0] != 0 || b[1] != 0)
        return nv_fail(err, NV_EINPUT,
                       "%s: offset 0: magic 0x%08x is not an IDX magic number: expected 0x%08x (%s)%s",
                       r->path, m, magic, kind,
                       r->gz ? "" : " (the file is neither gzip nor raw IDX)");
    if (b[2] != IDX_UBYTE)
        return nv_fail(err, NV_EINPUT,
                       "%s: offset 2: data type 0x%02x: expected 0x08 (unsigned byte), as in MNIST",
                       r->path, b[2]);
    if (b[3] != ndims) {
        const char *hint = b[3] == 1 ? " (this looks like a labels file)"
                           : b[3] == 3 ? " (this looks like an images file)" : "";
        return nv_fail(err, NV_EINPUT,
                       "%s: offset 3: %d dimensions (magic 0x%08x): expected %d for %s (magic 0x%08x)%s",
                       r->path, b[3], m, ndims, kind, magic, hint);
    }
    if ((st = reader_read(r, b + 4, 4 * (size_t)ndims, &got, err))) return st;
    if (got < 4 * (size_t)ndims)
        return nv_fail(err, NV_EINPUT,
                       "%s: offset %llu: header truncated: expected %llu header bytes, the file ends "
                       "at byte %llu",
                       r->path, (unsigned long long)r->off, (unsigned long long)hdr,
                       (unsigned long long)r->off);
    for (int i = 0; i < ndims; i++) {
        dims[i] = be32(b + 4 + 4 * i);
        if (dims[i] == 0)
            return nv_fail(err, NV_EINPUT, "%s: offset %d: size %d of the header is 0: expected >= 1",
                           r->path, 4 + 4 * i, i);
    }
    return NV_OK;
}

/* The data bytes grow the destination buffer by at most this much at a time. */
#define IDX_PIECE ((size_t)1 << 20)

static nv_status truncated(const idx_reader *r, uint64_t at, uint64_t end, const char *desc,
                           nv_error *err) {
    return nv_fail(err, NV_EINPUT,
                   "%s: offset %llu: data truncated: the header says %s, so the %s "
                   "should end at byte %llu, but it ends at byte %llu%s",
                   r->path, (unsigned long long)at, desc, r->gz ? "decompressed data" : "file",
                   (unsigned long long)end, (unsigned long long)at,
                   r->cut ? " (the gzip stream is cut short)" : "");
}

static nv_status overlong(const idx_reader *r, uint64_t end, const char *desc, nv_error *err) {
    return nv_fail(err, NV_EINPUT,
                   "%s: offset %llu: unexpected data after the end: the header says %s, which "
                   "ends at byte %llu",
                   r->path, (unsigned long long)end, desc, (unsigned long long)end);
}

/* A raw file's length must be exactly what the header claims: checked before any
 * data is read or any memory is sized by the claim. */
static nv_status check_raw_length(const idx_reader *r, uint64_t total, const char *desc, nv_error *err) {
    if (r->gz) return NV_OK;
    const uint64_t end = r->off + total;
    if (r->size < end) return truncated(r, r->size, end, desc, err);
    if (r->size > end) return overlong(r, end, desc, err);
    return NV_OK;
}

/* Reads `total` data bytes: the first `keep` into *dst (malloc'd here, grown in
 * pieces of at most IDX_PIECE as the bytes arrive, so its size follows the data,
 * never the claim), the rest only checked for presence; then insists the file
 * ends exactly there. `desc` says what the header promised, for the message. */
static nv_status read_body(idx_reader *r, unsigned char **dst, uint64_t keep, uint64_t total,
                           const char *desc, nv_error *err) {
    const uint64_t start = r->off, end = start + total;
    size_t got, cap = 0;
    unsigned char *buf = NULL;
    nv_status st = NV_OK;
    *dst = NULL;
    while (r->off - start < keep) {
        const uint64_t have = r->off - start;
        if (have == cap) {
            uint64_t ncap = NV_MIN(keep, NV_MAX((uint64_t)cap * 2, (uint64_t)IDX_PIECE));
            if (ncap > SIZE_MAX) ncap = SIZE_MAX;
            unsigned char *nb = realloc(buf, (size_t)ncap);
            if (!nb) {
                st = nv_fail(err, NV_ENOMEM, "%s: out of memory after %llu bytes of data", r->path,
                             (unsigned long long)have);
                goto done;
            }
            buf = nb;
            cap = (size_t)ncap;
        }
        size_t want = (size_t)NV_MIN((uint64_t)(cap - have), (uint64_t)IDX_PIECE);
        if ((st = reader_read(r, buf + have, want, &got, err))) goto done;
        if (got < want) {
            st = truncated(r, r->off, end, desc, err);
            goto done;
        }
    }
    unsigned char scratch[1 << 16];
    while (r->off < end) {
        uint64_t want = end - r->off;
        if (want > sizeof scratch) want = sizeof scratch;
        if ((st = reader_read(r, scratch, (size_t)want, &got, err))) goto done;
        if (got < want) {
            st = truncated(r, r->off, end, desc, err);
            goto done;
        }
    }
    if ((st = reader_read(r, scratch, 1, &got, err))) goto done;
    if (got > 0) st = overlong(r, end, desc, err);
done:
    if (st) free(buf);
    else *dst = buf;
    return st;
}

/* nv_idx_load, also reporting the number of samples in the files (before limit). */
static nv_status idx_load(const char *images_path, const char *labels_path, int64_t limit,
                          nv_dataset *out, int64_t *total, nv_error *err) {
    idx_reader ri, rl;
    nv_status st;
    unsigned char *pix = NULL, *lab = NULL;
    uint32_t idims[3], ldims[1];
    char desc[160], ldesc[80];
    memset(out, 0, sizeof *out);
    memset(&rl, 0, sizeof rl);
    if ((st = reader_open(&ri, images_path, err))) goto done;
    if ((st = reader_open(&rl, labels_path, err))) goto done;
    if ((st = read_header(&ri, IDX_MAGIC_IMAGES, "images", idims, err))) goto done;
    if ((st = read_header(&rl, IDX_MAGIC_LABELS, "labels", ldims, err))) goto done;
    if (idims[0] != ldims[0]) {
        st = nv_fail(err, NV_EINPUT,
                     "%s: offset 4: %u labels, but %s (offset 4) has %u images: expected the same count",
                     labels_path, ldims[0], images_path, idims[0]);
        goto done;
    }
    const uint64_t n = idims[0], pixels = (uint64_t)idims[1] * idims[2];
    if (pixels > ((uint64_t)1 << 40) / n) { /* 1 TiB of pixels: a corrupt header, not data */
        st = nv_fail(err, NV_EINPUT, "%s: offset 4: %llu images of %u x %u pixels: implausibly large",
                     images_path, (unsigned long long)n, idims[1], idims[2]);
        goto done;
    }
    const uint64_t keep = (limit > 0 && (uint64_t)limit < n) ? (uint64_t)limit : n;
    snprintf(desc, sizeof desc, "%llu images of %u x %u bytes (sizes at offsets 4..15)",
             (unsigned long long)n, idims[1], idims[2]);
    if ((st = check_raw_length(&ri, n * pixels, desc, err))) goto done;
    snprintf(ldesc, sizeof ldesc, "%llu one-byte labels (count at offset 4)", (unsigned long long)n);
    if ((st = check_raw_length(&rl, n, ldesc, err))) goto done;
    if ((st = read_body(&ri, &pix, keep * pixels, n * pixels, desc, err))) goto done;
    if ((st = read_body(&rl, &lab, n, n, ldesc, err))) goto done;

    if ((st = nv_dataset_alloc(out, (int64_t)keep, (int64_t)pixels, err))) goto done;
    /* The label space is the whole file's, so a limited load keeps the same number of
     * classes (and the same network output width) as a full one. */
    int maxlab = 0;
    for (uint64_t i = 0; i < n; i++) maxlab = lab[i] > maxlab ? lab[i] : maxlab;
    out->nclasses = maxlab + 1;
    for (uint64_t i = 0; i < keep; i++) {
        out->y[i] = lab[i];
        out->ids[i] = (int64_t)i;
    }
    for (uint64_t i = 0; i < keep * pixels; i++) out->x[i] = (nv_real)pix[i] / 255.0f;
    if (total) *total = (int64_t)n;
done:
    reader_close(&ri);
    reader_close(&rl);
    free(pix);
    free(lab);
    if (st) nv_dataset_free(out);
    return st;
}

nv_status nv_idx_load(const char *images_path, const char *labels_path, int64_t limit,
                      nv_dataset *out, nv_error *err) {
    return idx_load(images_path, labels_path, limit, out, NULL, err);
}

void nv_idx_fashion_mnist(nv_idx_params *p, const char *dir, char *store, size_t store_len) {
    static const char *names[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                   "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    const char **slots[4] = {&p->images, &p->labels, &p->test_images, &p->test_labels};
    memset(p, 0, sizeof *p);
    if (!dir) dir = NV_FASHION_MNIST_DIR;
    const size_t each = store_len / 4;
    for (int i = 0; i < 4; i++) {
        char *s = store + (size_t)i * each;
        snprintf(s, each, "%s/%s", dir, names[i]);
        *slots[i] = s;
    }
    p->test_fraction = 0.2;
    p->seed = 1;
}

nv_status nv_idx_build(const nv_idx_params *p, nv_dataset *train, nv_dataset *test,
                       nv_error *err) {
    nv_status st;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!p->images || !p->labels)
        return nv_fail(err, NV_EINPUT, "idx: both an images and a labels file are needed");
    if (!p->test_images != !p->test_labels)
        return nv_fail(err, NV_EINPUT, "idx: give both test images and test labels, or neither");
    if (!p->test_images) {
        nv_dataset all;
        if ((st = idx_load(p->images, p->labels, p->limit, &all, NULL, err))) return st;
        st = nv_dataset_split(&all, p->test_fraction, p->seed, train, test, err);
        nv_dataset_free(&all);
        return st;
    }
    int64_t ntrain_file = 0;
    if ((st = idx_load(p->images, p->labels, p->limit, train, &ntrain_file, err))) return st;
    if ((st = idx_load(p->test_images, p->test_labels, p->test_limit, test, NULL, err))) {
        nv_dataset_free(train);
        return st;
    }
    if (test->d != train->d) {
        st = nv_fail(err, NV_EINPUT, "%s: images of %lld pixels, but %s has %lld: expected the same size",
                     p->test_images, (long long)test->d, p->images, (long long)train->d);
        nv_dataset_free(train);
        nv_dataset_free(test);
        return st;
    }
    /* Ids trace rows back to the source: test rows come after all the train file's. */
    for (int64_t i = 0; i < test->n; i++) test->ids[i] += ntrain_file;
    const int32_t nc = NV_MAX(train->nclasses, test->nclasses);
    train->nclasses = test->nclasses = nc;
    return NV_OK;
}

void nv_idx_describe(const nv_idx_params *p, char *buf, size_t len) {
    int k = snprintf(buf, len, "idx: images %s, labels %s", p->images ? p->images : "?",
                     p->labels ? p->labels : "?");
    if (k < 0 || (size_t)k >= len) return;
    if (p->limit > 0) k += snprintf(buf + k, len - (size_t)k, ", limit %lld", (long long)p->limit);
    if (k < 0 || (size_t)k >= len) return;
    if (p->test_images) {
        k += snprintf(buf + k, len - (size_t)k, ", test images %s, test labels %s", p->test_images,
                      p->test_labels ? p->test_labels : "?");
        if (k >= 0 && (size_t)k < len && p->test_limit > 0)
            snprintf(buf + k, len - (size_t)k, ", test limit %lld", (long long)p->test_limit);
    } else {
        snprintf(buf + k, len - (size_t)k, ", test_fraction %g, seed %llu", p->test_fraction,
                 (unsigned long long)p->seed);
    }
}
