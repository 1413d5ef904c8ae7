/* hash.h: the streaming hashes of nerve's reproducibility record (hashes.json,
 * include/nerve/runhash.h): XXH3-128 (libxxhash) for new records, SHA-256 (OpenSSL's
 * libcrypto) to verify records written before hashes.json format_version 2. The
 * snapshot writer hashes its buffers while writing, and `nerve verify` hashes what
 * it reads back; both go through this one interface.
 */
#ifndef NERVE_HASH_H
#define NERVE_HASH_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* hashes.json (format_version 2) records XXH3-128 (libxxhash): 7 GB/s on one core
 * here with Debian's build, 5x less CPU than SHA-256 with SHA-NI (1.4 GB/s). The
 * writer thread hashes every snapshot while training runs on the other core, and at
 * SHA-256's cost that work alone slowed training by several percent
 * (docs/benchmarks.md, snapshot overhead). The record guards against corruption and
 * accidental change, not against tampering (whoever can rewrite a dataset can
 * rewrite hashes.json), so a 128-bit non-cryptographic hash is enough.
 * format_version 1 records (SHA-256, OpenSSL's libcrypto) are still verified. */
typedef enum { NV_HASH_XXH3_128 = 0, NV_HASH_SHA256 = 1 } nv_hash_alg;
#define NV_HASH_HEX 65   /* room for the longest hex digest (SHA-256) and its NUL */
typedef struct {
    nv_hash_alg alg;
    void *ctx;           /* XXH3_state_t * or EVP_MD_CTX *, owned; NULL after final */
} nv_hash;
/* Returns 0, or -1 when out of memory (h is then unusable, and final frees nothing). */
int nv_hash_init(nv_hash *h, nv_hash_alg alg);
void nv_hash_update(nv_hash *h, const void *data, size_t n);
/* dst = a new state equal to src's (a hash of a prefix, continued two ways).
 * Returns 0, or -1 (dst unusable) when out of memory. */
int nv_hash_copy(nv_hash *dst, const nv_hash *src);
/* The digest as lower-case hex (32 digits for XXH3-128, in xxhash's canonical
 * big-endian order, as `xxh128sum` and Python's xxh3_128_hexdigest print it; 64 for
 * SHA-256) into hex (may be NULL), and frees the state. */
void nv_hash_final(nv_hash *h, char hex[NV_HASH_HEX]);

#ifdef __cplusplus
}
#endif
#endif
