/* Per-block checksums: the table and the checks (see csum.h). */
#include <errno.h>
#include <xxhash.h>

#include "fs.h"

uint64_t csum_of_buffer(const void *block)
{
	uint64_t h = XXH3_64bits(block, NVMPFS_BLOCK_SIZE);
	return h ? h : 1; /* 0 is reserved for "none" */
}

uint64_t csum_of_block(const struct nvfs *fs, uint64_t pblk)
{
	return csum_of_buffer(pool_block(fs->pool, pblk));
}

uint64_t *csum_word(const struct nvfs *fs, uint64_t pblk)
{
	uint64_t *table = pool_block(fs->pool, fs->sb.csum_start);
	return &table[pblk];
}

void csum_store(struct nvfs *fs, uint64_t pblk, uint64_t sum)
{
	/* A program stores into it behind our back: no sum can stay true. */
	if (sum && lease_stores_direct(fs, pblk))
		sum = 0;
	pool_store64(fs->pool, csum_word(fs, pblk), sum);
}

void csum_clear(struct nvfs *fs, uint64_t pblk, uint64_t n)
{
	for (uint64_t b = pblk; b < pblk + n; b++)
		if (*csum_word(fs, b))
			csum_store(fs, b, 0);
}

int csum_check_block(const struct nvfs *fs, uint64_t pblk)
{
	uint64_t want = __atomic_load_n(csum_word(fs, pblk), __ATOMIC_RELAXED);
	if (!want)
		return 1; /* nothing recorded: unverified */
	return csum_of_block(fs, pblk) == want ? 0 : -EIO;
}

uint64_t nvfs_block_csum(struct nvfs *fs, uint64_t pblk)
{
	if (pblk >= fs->sb.block_count)
		return 0;
	return __atomic_load_n(csum_word(fs, pblk), __ATOMIC_RELAXED);
}
