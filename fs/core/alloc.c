/*
 * Block allocator: a bitmap in memory, one bit per pool block, searched
 * from a moving hint so that consecutive allocations land next to each
 * other and files stay contiguous.  See alloc.h for how it relates to the
 * pool's bitmap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

uint64_t *alloc_bitmap(const struct nvfs *fs)
{
	return pool_block(fs->pool, fs->sb.bitmap_start);
}

static uint64_t map_words(const struct nvfs *fs)
{
	return fs->sb.bitmap_blocks * NVMPFS_BLOCK_SIZE / 8;
}

static bool bit(const uint64_t *map, uint64_t blk)
{
	return (map[blk / 64] >> (blk % 64)) & 1;
}

static void set_bits(uint64_t *map, uint64_t start, uint64_t count, bool used)
{
	for (uint64_t b = start; b < start + count;) {
		uint64_t w = b / 64, first = b % 64, n = 64 - first;
		if (n > start + count - b)
			n = start + count - b;
		uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << first;
		map[w] = used ? (map[w] | mask) : (map[w] & ~mask);
		b += n;
	}
}

static int alloc_map(struct nvfs *fs)
{
	struct allocator *a = &fs->alloc;
	a->words = map_words(fs);
	a->map = malloc(a->words * sizeof(*a->map));
	if (!a->map)
		return -ENOMEM;
	pthread_mutex_init(&a->mu, NULL);
	a->hint = fs->sb.data_start;
	return 0;
}

static void count_free(struct nvfs *fs)
{
	struct allocator *a = &fs->alloc;
	uint64_t used = 0;
	for (uint64_t b = fs->sb.data_start; b < fs->sb.block_count; b++)
		used += bit(a->map, b);
	a->free_blocks = fs->sb.block_count - fs->sb.data_start - used;
}

int alloc_load(struct nvfs *fs)
{
	if (alloc_map(fs))
		return -ENOMEM;
	memcpy(fs->alloc.map, alloc_bitmap(fs), fs->alloc.words * 8);
	/* Metadata and bits past the end are never free, whatever it says. */
	set_bits(fs->alloc.map, 0, fs->sb.data_start, true);
	set_bits(fs->alloc.map, fs->sb.block_count,
		 fs->alloc.words * 64 - fs->sb.block_count, true);
	count_free(fs);
	return 0;
}

int alloc_start_rebuild(struct nvfs *fs)
{
	if (!fs->alloc.map && alloc_map(fs))
		return -ENOMEM;
	memset(fs->alloc.map, 0, fs->alloc.words * 8);
	set_bits(fs->alloc.map, 0, fs->sb.data_start, true);
	set_bits(fs->alloc.map, fs->sb.block_count,
		 fs->alloc.words * 64 - fs->sb.block_count, true);
	return 0;
}

bool alloc_mark(struct nvfs *fs, uint64_t start, uint64_t count)
{
	bool fresh = true;
	for (uint64_t b = start; b < start + count; b++)
		if (bit(fs->alloc.map, b))
			fresh = false;
	set_bits(fs->alloc.map, start, count, true);
	return fresh;
}

void alloc_finish_rebuild(struct nvfs *fs)
{
	count_free(fs);
	fs->alloc.hint = fs->sb.data_start;
}

void alloc_fini(struct nvfs *fs)
{
	if (!fs->alloc.map)
		return;
	free(fs->alloc.map);
	fs->alloc.map = NULL;
	pthread_mutex_destroy(&fs->alloc.mu);
}

bool alloc_is_used(struct nvfs *fs, uint64_t blk)
{
	pthread_mutex_lock(&fs->alloc.mu);
	bool used = bit(fs->alloc.map, blk);
	pthread_mutex_unlock(&fs->alloc.mu);
	return used;
}

uint64_t alloc_free_blocks(struct nvfs *fs)
{
	pthread_mutex_lock(&fs->alloc.mu);
	uint64_t n = fs->alloc.free_blocks;
	pthread_mutex_unlock(&fs->alloc.mu);
	return n;
}

/* First free block at or after from (wrapping once), or 0 if none. */
static uint64_t find_free(const struct nvfs *fs, uint64_t from)
{
	const uint64_t *map = fs->alloc.map;
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
			b += (uint64_t)__builtin_ctzll(~word);
			if (b < end)
				return b;
		}
	}
	return 0;
}

/* A free block that strays in may hold a stale checksum: clear it. */
static void clear_stale_sums(struct nvfs *fs, uint64_t start, uint64_t n)
{
	for (uint64_t b = start; b < start + n; b++)
		if (*csum_word(fs, b))
			csum_store(fs, b, 0);
}

int alloc_run(struct nvfs *fs, uint64_t goal, uint64_t want, uint64_t *start,
	      uint64_t *got)
{
	struct allocator *a = &fs->alloc;
	if (want == 0)
		return -ENOSPC;
	pthread_mutex_lock(&a->mu);
	uint64_t b = 0;
	if (a->free_blocks == 0)
		b = 0;
	else if (goal >= fs->sb.data_start && goal < fs->sb.block_count &&
		 !bit(a->map, goal))
		b = goal;
	else
		b = find_free(fs, a->hint);
	if (b == 0) {
		pthread_mutex_unlock(&a->mu);
		return -ENOSPC;
	}
	uint64_t n = 1;
	while (n < want && b + n < fs->sb.block_count && !bit(a->map, b + n))
		n++;
	set_bits(a->map, b, n, true);
	a->free_blocks -= n;
	a->hint = b + n < fs->sb.block_count ? b + n : fs->sb.data_start;
	pthread_mutex_unlock(&a->mu);
	clear_stale_sums(fs, b, n);
	*start = b;
	*got = n;
	return 0;
}

void alloc_release(struct nvfs *fs, uint64_t start, uint64_t count)
{
	struct allocator *a = &fs->alloc;
	if (start < fs->sb.data_start || start + count > fs->sb.block_count)
		return;
	pthread_mutex_lock(&a->mu);
	for (uint64_t b = start; b < start + count; b++)
		if (bit(a->map, b))
			a->free_blocks++;
	set_bits(a->map, start, count, false);
	pthread_mutex_unlock(&a->mu);
}

void alloc_store(struct nvfs *fs)
{
	pthread_mutex_lock(&fs->alloc.mu);
	uint64_t *dst = alloc_bitmap(fs);
	for (uint64_t w = 0; w < fs->alloc.words; w++)
		if (dst[w] != fs->alloc.map[w])
			pool_store64(fs->pool, &dst[w], fs->alloc.map[w]);
	pthread_mutex_unlock(&fs->alloc.mu);
}
