/*
 * The write-intent map: arming extents before in-place writes, cooling
 * idle ones, and what the map tells recovery.
 *
 * A writer announces itself in inflight[e] before it looks at hot[e]; the
 * cooler marks hot[e] cold before it looks at inflight[e] (both with
 * sequentially consistent atomics).  So either the writer sees the extent
 * cold and arms it again (a durable set), or the cooler sees the writer
 * and keeps the extent hot: a bit is never cleared under a write.
 */
#include <errno.h>
#include <stdlib.h>

#include "fs.h"

#define SC __ATOMIC_SEQ_CST

static uint64_t *intent_map(const struct nvfs *fs)
{
	return pool_block(fs->pool, fs->sb.intent_start);
}

int intent_init(struct nvfs *fs)
{
	struct intent *in = &fs->intent;
	in->nextents = (fs->sb.block_count + NVMPFS_INTENT_BLOCKS - 1) /
		       NVMPFS_INTENT_BLOCKS;
	in->hot = calloc(in->nextents, sizeof(*in->hot));
	in->inflight = calloc(in->nextents, sizeof(*in->inflight));
	in->last_epoch = calloc(in->nextents, sizeof(*in->last_epoch));
	if (!in->hot || !in->inflight || !in->last_epoch) {
		intent_fini(fs);
		return -ENOMEM;
	}
	pthread_mutex_init(&in->mu, NULL);
	in->epoch = 2;
	return 0;
}

void intent_fini(struct nvfs *fs)
{
	struct intent *in = &fs->intent;
	if (in->hot && in->inflight && in->last_epoch)
		pthread_mutex_destroy(&in->mu);
	free(in->hot);
	free(in->inflight);
	free(in->last_epoch);
	in->hot = NULL;
	in->inflight = NULL;
	in->last_epoch = NULL;
}

/* Extents share map words: bits change with atomic read-modify-writes. */
static void change_bit(struct nvfs *fs, uint64_t e, bool on)
{
	uint64_t *w = &intent_map(fs)[e / 64];
	uint64_t mask = 1ull << (e % 64);
	if (on)
		__atomic_fetch_or(w, mask, SC);
	else
		__atomic_fetch_and(w, ~mask, SC);
	pool_flush_ptr(fs->pool, w, sizeof(*w));
}

/*
 * Sets the bits of cold extents among [e0, e1], drains once, and only
 * then calls them hot: a writer that finds an extent hot may rely on its
 * bit being durable.
 */
static int arm(struct nvfs *fs, uint64_t e0, uint64_t e1)
{
	struct intent *in = &fs->intent;
	/* Under the cooler's lock, so that no clear lands after this set. */
	pthread_mutex_lock(&in->mu);
	for (uint64_t e = e0; e <= e1; e++)
		if (!__atomic_load_n(&in->hot[e], SC))
			change_bit(fs, e, true);
	pthread_mutex_unlock(&in->mu);
	int rc = pool_drain(fs->pool);
	for (uint64_t e = e0; rc == 0 && e <= e1; e++)
		if (__atomic_exchange_n(&in->hot[e], 1, SC) == 0)
			__atomic_add_fetch(&in->nhot, 1, SC);
	return rc;
}

int intent_begin(struct nvfs *fs, uint64_t pblk, uint64_t n)
{
	struct intent *in = &fs->intent;
	if (n == 0)
		return 0;
	uint64_t e0 = pblk / NVMPFS_INTENT_BLOCKS;
	uint64_t e1 = (pblk + n - 1) / NVMPFS_INTENT_BLOCKS;
	uint32_t epoch = __atomic_load_n(&in->epoch, __ATOMIC_RELAXED);
	bool cold = false;
	for (uint64_t e = e0; e <= e1; e++) {
		__atomic_add_fetch(&in->inflight[e], 1, SC);
		__atomic_store_n(&in->last_epoch[e], epoch, __ATOMIC_RELAXED);
		if (!__atomic_load_n(&in->hot[e], SC))
			cold = true;
	}
	int rc = cold ? arm(fs, e0, e1) : 0;
	if (rc)
		intent_end(fs, pblk, n);
	return rc;
}

void intent_end(struct nvfs *fs, uint64_t pblk, uint64_t n)
{
	struct intent *in = &fs->intent;
	if (n == 0)
		return;
	uint64_t e0 = pblk / NVMPFS_INTENT_BLOCKS;
	uint64_t e1 = (pblk + n - 1) / NVMPFS_INTENT_BLOCKS;
	for (uint64_t e = e0; e <= e1; e++)
		__atomic_sub_fetch(&in->inflight[e], 1, SC);
}

/*
 * A cleared bit needs no drain before anything: should it be lost, the
 * mount after a crash merely checks one extent more.  It is drained here
 * all the same, so that this thread's batch does not grow forever.
 */
void intent_cool(struct nvfs *fs)
{
	struct intent *in = &fs->intent;
	if (change_begin(fs))
		return; /* read-only: the pool is clean, the marks cleared */
	pthread_mutex_lock(&in->mu);
	uint32_t epoch = __atomic_add_fetch(&in->epoch, 1, __ATOMIC_RELAXED);
	bool cleared = false;
	for (uint64_t e = 0; __atomic_load_n(&in->nhot, SC) && e < in->nextents;
	     e++) {
		if (!__atomic_load_n(&in->hot[e], SC))
			continue;
		uint32_t last = __atomic_load_n(&in->last_epoch[e], __ATOMIC_RELAXED);
		if (epoch - last < 2 || __atomic_load_n(&in->inflight[e], SC))
			continue;
		__atomic_store_n(&in->hot[e], 0, SC);
		if (__atomic_load_n(&in->inflight[e], SC)) {
			__atomic_store_n(&in->hot[e], 1, SC);
			continue;
		}
		change_bit(fs, e, false);
		__atomic_sub_fetch(&in->nhot, 1, SC);
		cleared = true;
	}
	pthread_mutex_unlock(&in->mu);
	if (cleared && pool_drain(fs->pool) == 0)
		STAT_ADD(fs, background_drains, 1);
	change_end(fs);
}

uint64_t intent_hot_extents(struct nvfs *fs)
{
	return __atomic_load_n(&fs->intent.nhot, SC);
}

static uint64_t recover_extent(struct nvfs *fs, uint64_t e)
{
	uint64_t n = 0;
	uint64_t first = e * NVMPFS_INTENT_BLOCKS;
	for (uint64_t b = first; b < first + NVMPFS_INTENT_BLOCKS; b++) {
		if (!valid_data_block(fs, b))
			continue;
		if (csum_check_block(fs, b) < 0) {
			csum_store(fs, b, 0);
			n++;
		}
	}
	return n;
}

int intent_recover(struct nvfs *fs, uint64_t *unverified)
{
	uint64_t *map = intent_map(fs);
	uint64_t words = fs->sb.intent_blocks * NVMPFS_BLOCK_SIZE / 8;
	*unverified = 0;
	for (uint64_t w = 0; w < words; w++) {
		if (!map[w])
			continue;
		for (unsigned i = 0; i < 64; i++)
			if ((map[w] >> i) & 1 && w * 64 + i < fs->intent.nextents)
				*unverified += recover_extent(fs, w * 64 + i);
		pool_store64(fs->pool, &map[w], 0);
	}
	return pool_drain(fs->pool);
}

void intent_clear_all(struct nvfs *fs)
{
	uint64_t *map = intent_map(fs);
	uint64_t words = fs->sb.intent_blocks * NVMPFS_BLOCK_SIZE / 8;
	for (uint64_t w = 0; w < words; w++)
		if (map[w])
			pool_store64(fs->pool, &map[w], 0);
	for (uint64_t e = 0; e < fs->intent.nextents; e++)
		fs->intent.hot[e] = 0;
	fs->intent.nhot = 0;
}
