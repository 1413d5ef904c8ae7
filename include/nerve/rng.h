/* rng.h: the one random-number generator of nerve, counter-based (Philox4x32-10,
 * Salmon et al., SC'11), usable from C and from CUDA device code.
 *
 * Why counter-based: a draw is a pure function of (seed, stream, index), so the
 * CPU and the GPU produce the same numbers without sharing state, a resumed run
 * needs no saved generator state, and any thread can draw its own element.
 *
 * Streams: every consumer draws from its own stream id (NV_STREAM_*), with a
 * 64-bit index of its choosing (for example epoch * 2^32 + position). Adding a
 * consumer never shifts another consumer's numbers.
 */
#ifndef NERVE_RNG_H
#define NERVE_RNG_H

#include <stdint.h>

#if defined(__CUDACC__)
#define NV_HOSTDEV __host__ __device__ __forceinline__
#else
#define NV_HOSTDEV static inline
#endif

/* Stream ids: one per consumer, never reused for another purpose. */
enum {
    NV_STREAM_DATA = 1,        /* dataset generation (spheres points, rotations) */
    NV_STREAM_SPLIT = 2,       /* train/test split */
    NV_STREAM_INIT = 3,        /* weight initialisation: index = layer << 40 | element */
    NV_STREAM_SHUFFLE = 4,     /* minibatch order: index = epoch << 32 | position */
    NV_STREAM_LANDMARK = 5,    /* random landmark selection */
    NV_STREAM_FEATURES = 6,    /* feature-image start points and jitter */
    NV_STREAM_TEST = 100       /* tests only */
};

typedef struct {
    uint32_t v[4];
} nv_u32x4;

NV_HOSTDEV uint32_t nv_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* Philox4x32 with 10 rounds: the same constants as Random123 and cuRAND. */
NV_HOSTDEV nv_u32x4 nv_philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                  uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = nv_mulhilo32(0xD2511F53u, c0, &hi0);
        uint32_t lo1 = nv_mulhilo32(0xCD9E8D57u, c2, &hi1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    nv_u32x4 out = {{c0, c1, c2, c3}};
    return out;
}

/* Four 32-bit draws for block `index` of `stream` under `seed`. */
NV_HOSTDEV nv_u32x4 nv_rng_block(uint64_t seed, uint32_t stream, uint64_t index) {
    return nv_philox4x32((uint32_t)index, (uint32_t)(index >> 32), stream, 0x6e657276u /* "nerv" */,
                         (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* One 32-bit draw: element `i` of the stream (block i/4, word i%4). */
NV_HOSTDEV uint32_t nv_rng_u32(uint64_t seed, uint32_t stream, uint64_t i) {
    nv_u32x4 b = nv_rng_block(seed, stream, i >> 2);
    return b.v[i & 3];
}

/* Uniform in [0, 1) with 24 random bits: exactly representable as float, so the
 * CPU and GPU give identical values. */
NV_HOSTDEV float nv_u32_to_unit(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

/* Uniform in (0, 1] in double with 53 bits from two words (for logs). */
NV_HOSTDEV double nv_u64_to_open_unit(uint32_t a, uint32_t b) {
    uint64_t x = ((uint64_t)a << 21) ^ (uint64_t)(b >> 11);
    x &= ((uint64_t)1 << 53) - 1;
    return ((double)x + 1.0) * (1.0 / 9007199254740992.0);
}

NV_HOSTDEV float nv_rng_uniform(uint64_t seed, uint32_t stream, uint64_t i) {
    return nv_u32_to_unit(nv_rng_u32(seed, stream, i));
}

/* An integer uniform in [0, n) (n >= 1) by Lemire's multiply-shift; the tiny bias
 * (< n / 2^32) is irrelevant for shuffles of fewer than millions of items. */
NV_HOSTDEV uint32_t nv_rng_below(uint64_t seed, uint32_t stream, uint64_t i, uint32_t n) {
    return (uint32_t)(((uint64_t)nv_rng_u32(seed, stream, i) * (uint64_t)n) >> 32);
}

#ifndef __CUDACC__
#include <math.h>
#endif
/* A standard normal draw (Box-Muller in double precision, rounded to float once, so
 * the CPU and a GPU agree to the last bit whenever both libms round log, sqrt and
 * cos correctly to double, which glibc and CUDA do for these arguments within 1 ulp
 * of double: far below float's resolution). Uses block `i` of the stream. */
NV_HOSTDEV float nv_rng_normal(uint64_t seed, uint32_t stream, uint64_t i) {
    nv_u32x4 b = nv_rng_block(seed, stream, i);
    double u1 = nv_u64_to_open_unit(b.v[0], b.v[1]);
    double u2 = nv_u64_to_open_unit(b.v[2], b.v[3]);
    double r = sqrt(-2.0 * log(u1));
    return (float)(r * cos(6.283185307179586476925286766559 * u2));
}

/* A random permutation of 0..n-1 into perm (Fisher-Yates driven by the stream,
 * draws indexed base + k), identical on every platform. Host only. */
#ifndef __CUDACC__
static inline void nv_rng_permutation(uint64_t seed, uint32_t stream, uint64_t base,
                                      uint32_t *perm, uint32_t n) {
    for (uint32_t k = 0; k < n; k++) perm[k] = k;
    for (uint32_t k = n; k > 1; k--) {
        uint32_t j = nv_rng_below(seed, stream, base + (n - k), k);
        uint32_t t = perm[k - 1];
        perm[k - 1] = perm[j];
        perm[j] = t;
    }
}
#endif

#endif
