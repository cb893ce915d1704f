/*
 * Block allocator: a persistent bitmap, one bit per pool block, searched
 * from a moving hint so that consecutive allocations land next to each
 * other and files stay contiguous.
 */
#include <errno.h>

#include "fs.h"

uint64_t *alloc_bitmap(const struct nvfs *fs)
{
	return pool_block(fs->pool, fs->sb.bitmap_start);
}

bool alloc_is_used(const struct nvfs *fs, uint64_t blk)
{
	return (alloc_bitmap(fs)[blk / 64] >> (blk % 64)) & 1;
}

void alloc_init(struct nvfs *fs)
{
	uint64_t used = 0;
	for (uint64_t b = fs->sb.data_start; b < fs->sb.block_count; b++)
		used += alloc_is_used(fs, b);
	fs->free_blocks = fs->sb.block_count - fs->sb.data_start - used;
	fs->alloc_hint = fs->sb.data_start;
}

/* First free block at or after from (wrapping once), or 0 if none. */
static uint64_t find_free(const struct nvfs *fs, uint64_t from)
{
	const uint64_t *map = alloc_bitmap(fs);
	uint64_t n = fs->sb.block_count, start = fs->sb.data_start;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t b = pass ? start : from;
		uint64_t end = pass ? from : n;
		while (b < end) {
			uint64_t word = map[b / 64] >> (b % 64);
			if (word == ~0ull >> (b % 64)) {
				b = (b / 64 + 1) * 64; /* the rest of the word is full */
				continue;
			}
			if (!(word & 1))
				return b < end ? b : 0;
			b++;
		}
	}
	return 0;
}

static int mark(struct nvfs *fs, uint64_t start, uint64_t count, bool used)
{
	uint64_t *map = alloc_bitmap(fs);
	for (uint64_t b = start; b < start + count;) {
		uint64_t w = b / 64, bit = b % 64;
		uint64_t n = 64 - bit;
		if (n > start + count - b)
			n = start + count - b;
		uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << bit;
		int rc = tx_log(&fs->j, &map[w], sizeof(map[w]));
		if (rc)
			return rc;
		map[w] = used ? (map[w] | mask) : (map[w] & ~mask);
		b += n;
	}
	return 0;
}

int alloc_run(struct nvfs *fs, uint64_t goal, uint64_t want, uint64_t *start,
	      uint64_t *got)
{
	if (fs->free_blocks == 0 || want == 0)
		return -ENOSPC;
	uint64_t b = 0;
	if (goal >= fs->sb.data_start && goal < fs->sb.block_count &&
	    !alloc_is_used(fs, goal))
		b = goal;
	else
		b = find_free(fs, fs->alloc_hint);
	if (b == 0)
		return -ENOSPC;
	uint64_t n = 1;
	while (n < want && b + n < fs->sb.block_count && !alloc_is_used(fs, b + n))
		n++;
	int rc = mark(fs, b, n, true);
	if (rc)
		return rc;
	csum_forget_blocks(fs, b, n);
	fs->free_blocks -= n;
	fs->alloc_hint = b + n < fs->sb.block_count ? b + n : fs->sb.data_start;
	*start = b;
	*got = n;
	return 0;
}

int alloc_free(struct nvfs *fs, uint64_t start, uint64_t count)
{
	if (start < fs->sb.data_start || start + count > fs->sb.block_count)
		return -EIO;
	int rc = mark(fs, start, count, false);
	if (rc)
		return rc;
	csum_forget_blocks(fs, start, count);
	fs->free_blocks += count;
	return 0;
}
