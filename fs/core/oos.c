/*
 * The mirror's out-of-sync map (layout.h): one bit per pool block, set
 * when a change of the block may not have reached the mirror, cleared
 * once a resync has made the mirror's copy durable.  Bits are set durably
 * (before a sync point that relies on them returns) and cleared lazily,
 * with no drain of their own (a cleared bit that a crash brings back
 * merely costs one block of resync).  Threads set and clear bits of the
 * same word at once: atomic read-modify-writes.
 */
#include <errno.h>
#include <stdio.h>

#include "fs.h"

static uint64_t *oos_map(const struct nvfs *fs)
{
	return pool_block(fs->pool, fs->sb.sync_start);
}

static uint64_t map_words(const struct nvfs *fs)
{
	return (fs->sb.block_count + 63) / 64;
}

void oos_init(struct nvfs *fs)
{
	const uint64_t *map = oos_map(fs);
	uint64_t n = 0;
	for (uint64_t w = 0; w < map_words(fs); w++)
		n += (uint64_t)__builtin_popcountll(map[w]);
	fs->oos_blocks = n;
}

/* Sets the bits of blocks [first, last]; returns how many were clear. */
static uint64_t set_bits(struct nvfs *fs, uint64_t first, uint64_t last,
			 uint64_t *lo_word, uint64_t *hi_word)
{
	uint64_t *map = oos_map(fs), newly = 0;
	for (uint64_t b = first; b <= last;) {
		uint64_t w = b / 64, bit = b % 64, n = 64 - bit;
		if (n > last - b + 1)
			n = last - b + 1;
		uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << bit;
		uint64_t old = __atomic_fetch_or(&map[w], mask, __ATOMIC_RELAXED);
		uint64_t set = mask & ~old;
		if (set) {
			newly += (uint64_t)__builtin_popcountll(set);
			if (w < *lo_word)
				*lo_word = w;
			if (w > *hi_word)
				*hi_word = w;
		}
		b += n;
	}
	return newly;
}

int nvfs_oos_mark(struct nvfs *fs, const struct pool_range *r, size_t n)
{
	uint64_t lo = UINT64_MAX, hi = 0, newly = 0;
	for (size_t i = 0; i < n; i++) {
		if (r[i].len == 0)
			continue;
		uint64_t first = r[i].off / NVMPFS_BLOCK_SIZE;
		uint64_t last = (r[i].off + r[i].len - 1) / NVMPFS_BLOCK_SIZE;
		if (last >= fs->sb.block_count)
			last = fs->sb.block_count - 1;
		newly += set_bits(fs, first, last, &lo, &hi);
	}
	if (!newly)
		return 0;
	__atomic_add_fetch(&fs->oos_blocks, newly, __ATOMIC_RELAXED);
	uint64_t base = fs->sb.sync_start * NVMPFS_BLOCK_SIZE;
	return pool_persist_quiet(fs->pool, base + lo * 8, (hi - lo + 1) * 8);
}

void nvfs_oos_clear(struct nvfs *fs, uint64_t blk, uint64_t count)
{
	uint64_t *map = oos_map(fs), cleared = 0;
	for (uint64_t b = blk; b < blk + count && b < fs->sb.block_count;) {
		uint64_t w = b / 64, bit = b % 64, n = 64 - bit;
		if (n > blk + count - b)
			n = blk + count - b;
		uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << bit;
		uint64_t old = __atomic_fetch_and(&map[w], ~mask, __ATOMIC_RELAXED);
		cleared += (uint64_t)__builtin_popcountll(old & mask);
		b += n;
	}
	if (cleared)
		__atomic_sub_fetch(&fs->oos_blocks, cleared, __ATOMIC_RELAXED);
}

int nvfs_oos_mark_all(struct nvfs *fs)
{
	struct pool_range all = { 0, fs->sb.block_count * NVMPFS_BLOCK_SIZE };
	return nvfs_oos_mark(fs, &all, 1);
}

bool nvfs_oos_next(struct nvfs *fs, uint64_t from, uint64_t *blk)
{
	const uint64_t *map = oos_map(fs);
	for (uint64_t w = from / 64; w < map_words(fs); w++) {
		uint64_t word = __atomic_load_n(&map[w], __ATOMIC_RELAXED);
		if (w == from / 64)
			word &= ~0ull << (from % 64);
		if (word) {
			uint64_t b = w * 64 + (uint64_t)__builtin_ctzll(word);
			if (b >= fs->sb.block_count)
				return false;
			*blk = b;
			return true;
		}
	}
	return false;
}

uint64_t nvfs_oos_count(struct nvfs *fs)
{
	return __atomic_load_n(&fs->oos_blocks, __ATOMIC_RELAXED);
}

bool nvfs_oos_test(struct nvfs *fs, uint64_t blk)
{
	if (blk >= fs->sb.block_count)
		return false;
	uint64_t word = __atomic_load_n(&oos_map(fs)[blk / 64], __ATOMIC_RELAXED);
	return word >> (blk % 64) & 1;
}

void nvfs_resync_marker(const char *pool_path, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s.resyncing", pool_path);
}
