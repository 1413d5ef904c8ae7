/* fuzz_idx.c: the IDX reader (nv_idx_load: MNIST-format images and labels, raw or
 * gzip). The input holds both files:
 *   byte 0     flags: bit 0 gzip the images here, bit 1 gzip the labels here (the
 *              bytes may also be gzip already: the corpus has both kinds)
 *   byte 1     limit (0: all samples)
 *   bytes 2-3  length of the images file (little-endian), then its bytes, then the
 *              labels file (the rest)
 * Whatever the header claims, the reader must never allocate more than the files
 * can hold, and an accepted pair must be what it says.
 */
#include <math.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "nerve/dataset.h"

/* gzip of src into a malloc'd buffer. */
static uint8_t *gzip_bytes(const uint8_t *src, size_t n, size_t *out_n) {
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&z, n) + 32;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static const char *put(const char *name, const uint8_t *p, size_t n, int gz) {
    if (!gz) return nv_fuzz_file(name, p, n);
    size_t m;
    uint8_t *g = gzip_bytes(p, n, &m);
    const char *path = nv_fuzz_file(name, g, m);
    free(g);
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    const int flags = data[0], limit = data[1];
    size_t ilen = (size_t)data[2] | (size_t)data[3] << 8;
    data += 4;
    size -= 4;
    if (ilen > size) ilen = size;
    const char *images = put("images-idx3", data, ilen, flags & 1);
    const char *labels = put("labels-idx1", data + ilen, size - ilen, flags & 2);
    nv_dataset ds;
    nv_error err = {0};
    nv_status st = nv_idx_load(images, labels, limit, &ds, &err);
    nv_fuzz_check(st, &err, "-idx");
    if (st == NV_OK) {
        if (ds.n < 1 || ds.d < 1 || (limit && ds.n > limit) || ds.nclasses < 1 || ds.nclasses > 256) abort();
        for (int64_t i = 0; i < ds.n; i++) {
            if (ds.y[i] < 0 || ds.y[i] >= ds.nclasses || ds.ids[i] != i) abort();
            for (int64_t j = 0; j < ds.d; j++)
                if (!(ds.x[i * ds.d + j] >= 0.0f && ds.x[i * ds.d + j] <= 1.0f)) abort();
        }
    }
    nv_dataset_free(&ds);
    return 0;
}
