/* blockpool.c: see blockpool.h. */
#include "core/blockpool.h"

#include <stdlib.h>
#include <string.h>

void nv_pool_init(nv_block_pool *p, size_t max_bytes) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->max_bytes = max_bytes;
}

/* Removes entry i (the caller holds the lock) and returns its block. */
static void *remove_at(nv_block_pool *p, int i) {
    void *b = p->block[i];
    p->bytes -= p->size[i];
    memmove(p->block + i, p->block + i + 1, sizeof *p->block * (size_t)(p->n - i - 1));
    memmove(p->size + i, p->size + i + 1, sizeof *p->size * (size_t)(p->n - i - 1));
    p->n--;
    return b;
}

void *nv_pool_take(nv_block_pool *p, size_t size, size_t *got, int *fresh, nv_error *err) {
    pthread_mutex_lock(&p->mu);
    int best = -1;
    for (int i = p->n - 1; i >= 0; i--) /* the newest of the smallest that fit */
        if (p->size[i] >= size && p->size[i] / 2 <= size && (best < 0 || p->size[i] < p->size[best])) best = i;
    if (fresh) *fresh = best < 0;
    if (best >= 0) {
        *got = p->size[best];
        void *b = remove_at(p, best);
        pthread_mutex_unlock(&p->mu);
        return b;
    }
    pthread_mutex_unlock(&p->mu);
    /* a new block, in huge pages where the kernel has them: its first touch is the
     * training thread filling it */
    *got = size;
    return nv_malloc_huge(size, err);
}

void nv_pool_give(nv_block_pool *p, void *b, size_t size) {
    if (!b) return;
    if (size > p->max_bytes) {
        free(b);
        return;
    }
    void *drop[NV_POOL_BLOCKS];
    int ndrop = 0;
    pthread_mutex_lock(&p->mu);
    while (p->n == NV_POOL_BLOCKS || p->bytes + size > p->max_bytes) drop[ndrop++] = remove_at(p, 0);
    p->block[p->n] = b;
    p->size[p->n++] = size;
    p->bytes += size;
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < ndrop; i++) free(drop[i]); /* outside the lock: munmap is slow */
}

void nv_pool_prepare(nv_block_pool *p, size_t size) {
    if (size < ((size_t)1 << 20) || size > p->max_bytes) return;
    pthread_mutex_lock(&p->mu);
    int fits = 0;
    for (int i = 0; i < p->n && !fits; i++) fits = p->size[i] >= size && p->size[i] / 2 <= size;
    pthread_mutex_unlock(&p->mu);
    if (fits) return;
    void *b = nv_malloc_huge(size, NULL);
    if (!b) return; /* only advice: the take will try again and report */
    nv_prefault_async(b, size);
    nv_pool_give(p, b, size);
}

void nv_pool_free(nv_block_pool *p) {
    while (p->n) free(remove_at(p, 0));
    pthread_mutex_destroy(&p->mu);
}
