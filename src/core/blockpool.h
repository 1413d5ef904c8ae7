/* blockpool.h: recycled memory for the jobs the run's writer thread stores.
 *
 * Why: a snapshot job holds a model's activations for an epoch, a dynamics chunk a
 * few epochs of the record, until the writer (bgqueue.h) has stored them. Fresh
 * memory for every job cost the training thread a page fault per page it first
 * touched (the kernel zeroes each one: on these virtual machines about 1 GB/s, a
 * few percent of training the spheres nets), and the writer an munmap whose TLB
 * shootdowns interrupt training on the other core. So the writer gives each block
 * back here and a later job takes it: the same model's next one, or the next
 * model's (the models of a run train one after another, their blocks of similar
 * sizes).
 *
 * A request takes the smallest kept block of at least its size and at most twice
 * it (a larger one would tie up memory the request does not use), else a new one.
 * At most NV_POOL_BLOCKS blocks and the pool's byte limit are kept, the oldest
 * given back first out; a block larger than the limit is freed at once, so the
 * pool never holds more memory than that. Thread-safe (one mutex).
 */
#ifndef NERVE_BLOCKPOOL_H
#define NERVE_BLOCKPOOL_H

#include <pthread.h>
#include <stddef.h>

#include "nerve/common.h"

#define NV_POOL_BLOCKS 8

typedef struct nv_block_pool {
    pthread_mutex_t mu;
    size_t max_bytes;
    int n;
    size_t bytes;
    void *block[NV_POOL_BLOCKS];
    size_t size[NV_POOL_BLOCKS];
} nv_block_pool;

/* An empty pool that keeps at most max_bytes. */
void nv_pool_init(nv_block_pool *p, size_t max_bytes);

/* A block of at least `size` bytes (its contents undefined): a kept one, or a new
 * one from nv_malloc_huge (then *fresh = 1, when fresh is not NULL: its pages are
 * not mapped yet, see nv_prefault). *got is the block's size, to pass back to
 * nv_pool_give. NULL (and err set) when out of memory. */
void *nv_pool_take(nv_block_pool *p, size_t size, size_t *got, int *fresh, nv_error *err);

/* Keeps block b of `size` bytes (as *got said) for a later take, or frees it.
 * Accepts NULL. */
void nv_pool_give(nv_block_pool *p, void *b, size_t size);

/* Makes sure a later take of `size` bytes finds a block with its pages mapped: when
 * no kept block fits, a new one is made, its pages mapped by a helper thread
 * (nv_prefault_async), and kept. For what a caller knows it will ask for next
 * (a model's second chunk while it fills its first): the first fill of a new block
 * on the taking thread cannot be handed off, as it writes the first row of every
 * dataset at once, touching every huge page of the block. Blocks under 1 MB (plain
 * malloc) and over the pool's limit are left alone. */
void nv_pool_prepare(nv_block_pool *p, size_t size);

/* Frees every kept block and the mutex; the pool is empty afterwards. */
void nv_pool_free(nv_block_pool *p);

#endif
