/*
 * Per-block checksums (XXH3-64) of file data, one word per pool block in
 * the pool's checksum table; 0 means "no checksum recorded" (unverified).
 *
 * A block's word is stored in the same drain as the block's data.  That
 * is safe because data is changed in place only inside an extent whose
 * write-intent bit is durable (intent.h): if power fails in that drain,
 * the mount finds the extent marked, and a block whose data and word
 * disagree there is marked unverified instead of bad.  A free block's word
 * is 0 (tx_free_blocks clears it).
 */
#ifndef NVMPFS_CSUM_H
#define NVMPFS_CSUM_H

#include <stdint.h>

struct nvfs;

/* The checksum of 4 KiB of memory (never 0). */
uint64_t csum_of_buffer(const void *block);
uint64_t csum_of_block(const struct nvfs *fs, uint64_t pblk);
uint64_t *csum_word(const struct nvfs *fs, uint64_t pblk);
/* Stores a block's word (one 8-byte store, flushed; durable at the drain). */
void csum_store(struct nvfs *fs, uint64_t pblk, uint64_t sum);
/* Clears the words of n blocks (flushed). */
void csum_clear(struct nvfs *fs, uint64_t pblk, uint64_t n);
/* 0 when the block matches, 1 when it has no checksum, -EIO on mismatch. */
int csum_check_block(const struct nvfs *fs, uint64_t pblk);

#endif
