/* hash.c: the two streaming hashes of hash.h, over libxxhash (XXH3-128) and
 * OpenSSL's libcrypto (SHA-256); test vectors of both in tests/unit/test_sweep.c. */
#include "nerve/hash.h"

#include <string.h>

#include <openssl/evp.h>
#include <xxhash.h>

int nv_hash_init(nv_hash *h, nv_hash_alg alg) {
    h->alg = alg;
    if (alg == NV_HASH_SHA256) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) EVP_MD_CTX_free(c), c = NULL;
        h->ctx = c;
    } else {
        XXH3_state_t *x = XXH3_createState();
        if (x && XXH3_128bits_reset(x) != XXH_OK) XXH3_freeState(x), x = NULL;
        h->ctx = x;
    }
    return h->ctx ? 0 : -1;
}

void nv_hash_update(nv_hash *h, const void *data, size_t n) {
    if (!h->ctx || !n) return;
    if (h->alg == NV_HASH_SHA256) EVP_DigestUpdate(h->ctx, data, n);
    else XXH3_128bits_update(h->ctx, data, n);
}

int nv_hash_copy(nv_hash *dst, const nv_hash *src) {
    dst->alg = src->alg;
    dst->ctx = NULL;
    if (!src->ctx) return -1;
    if (src->alg == NV_HASH_SHA256) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (c && EVP_MD_CTX_copy_ex(c, src->ctx) != 1) EVP_MD_CTX_free(c), c = NULL;
        dst->ctx = c;
    } else {
        XXH3_state_t *x = XXH3_createState();
        if (x) XXH3_copyState(x, src->ctx);
        dst->ctx = x;
    }
    return dst->ctx ? 0 : -1;
}

void nv_hash_final(nv_hash *h, char hex[NV_HASH_HEX]) {
    unsigned char d[32];
    unsigned len = 0;
    if (h->alg == NV_HASH_SHA256) {
        len = 32;
        if (h->ctx) EVP_DigestFinal_ex(h->ctx, d, &len);
        EVP_MD_CTX_free(h->ctx);
    } else if (h->ctx) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h->ctx));
        memcpy(d, c.digest, sizeof c.digest);
        len = sizeof c.digest;
        XXH3_freeState(h->ctx);
    }
    h->ctx = NULL;
    if (!hex) return;
    static const char digit[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; i++) hex[2 * i] = digit[d[i] >> 4], hex[2 * i + 1] = digit[d[i] & 15];
    hex[2 * len] = '\0';
}

