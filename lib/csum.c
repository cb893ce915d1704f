/*
 * Per-block checksums (XXH3-64) of file data.
 *
 * The pool's checksum table holds one word per block; 0 means "no checksum
 * recorded" (the block is unverified).  The lifecycle of a block's word:
 *
 *   - allocation sets it to 0 (in the allocating transaction);
 *   - before a block that has a checksum is changed in place, its word is
 *     set to 0 and made durable (the persistent "dirty" marker), so a crash
 *     in the middle of the change leaves an unverified block, never a
 *     false mismatch;
 *   - each WRITE computes the new checksum from the pool right after the
 *     copy and keeps it in memory (pending) until its data is durable;
 *   - then (csum_settle, at the end of the call, after its last drain) the
 *     checksum is stored in the table and flushed, but not drained: the
 *     next drain -- at the latest the sync point's one drain -- makes it
 *     durable.  A crash before that leaves the word 0 or the right value,
 *     never a checksum of data that did not reach the media.
 *
 * Reads compare a block against its pending or stored checksum.
 */
#include <errno.h>
#include <stdlib.h>
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

static uint64_t *table_word(const struct nvfs *fs, uint64_t pblk)
{
	uint64_t *table = pool_block(fs->pool, fs->sb.csum_start);
	return &table[pblk];
}

/* ---- the pending map: pool block -> checksum, open addressing ---- */

static size_t slot_of(const struct csum_pending *p, uint64_t pblk)
{
	return (size_t)((pblk * 0x9e3779b97f4a7c15ull) >> 17) & (p->cap - 1);
}

static int pending_grow(struct csum_pending *p)
{
	size_t cap = p->cap ? p->cap * 2 : 1024;
	struct csum_entry *tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	struct csum_pending old = *p;
	p->tab = tab;
	p->cap = cap;
	p->count = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.tab[i].pblk) {
			size_t k = slot_of(p, old.tab[i].pblk);
			while (p->tab[k].pblk)
				k = (k + 1) & (p->cap - 1);
			p->tab[k] = old.tab[i];
			p->count++;
		}
	free(old.tab);
	return 0;
}

static struct csum_entry *pending_find(const struct csum_pending *p,
				       uint64_t pblk)
{
	if (!p->cap)
		return NULL;
	for (size_t k = slot_of(p, pblk); p->tab[k].pblk; k = (k + 1) & (p->cap - 1))
		if (p->tab[k].pblk == pblk)
			return &p->tab[k];
	return NULL;
}

static int pending_put(struct csum_pending *p, uint64_t pblk, uint64_t sum)
{
	struct csum_entry *e = pending_find(p, pblk);
	if (e) {
		e->sum = sum;
		return 0;
	}
	if ((p->count + 1) * 4 > p->cap * 3 && pending_grow(p))
		return -ENOMEM;
	size_t k = slot_of(p, pblk);
	while (p->tab[k].pblk)
		k = (k + 1) & (p->cap - 1);
	p->tab[k] = (struct csum_entry){ pblk, sum };
	p->count++;
	return 0;
}

/* Removal with backward shift, so lookups never need tombstones. */
static void pending_del(struct csum_pending *p, struct csum_entry *e)
{
	size_t hole = (size_t)(e - p->tab);
	size_t k = hole;
	p->tab[hole].pblk = 0;
	p->count--;
	for (;;) {
		k = (k + 1) & (p->cap - 1);
		if (!p->tab[k].pblk)
			return;
		size_t home = slot_of(p, p->tab[k].pblk);
		/* Move k into the hole when its home is not in (hole, k]. */
		bool in_between = hole <= k ? (home > hole && home <= k)
					    : (home > hole || home <= k);
		if (!in_between) {
			p->tab[hole] = p->tab[k];
			p->tab[k].pblk = 0;
			hole = k;
		}
	}
}

void csum_fini(struct nvfs *fs)
{
	free(fs->pending.tab);
	fs->pending.tab = NULL;
	fs->pending.cap = fs->pending.count = 0;
}

/* ---- the lifecycle ---- */

void csum_forget_blocks(struct nvfs *fs, uint64_t pblk, uint64_t n)
{
	for (uint64_t b = pblk; b < pblk + n; b++) {
		struct csum_entry *e = pending_find(&fs->pending, b);
		if (e)
			pending_del(&fs->pending, e);
		uint64_t *w = table_word(fs, b);
		if (*w) {
			*w = 0;
			pool_flush_ptr(fs->pool, w, sizeof(*w));
		}
	}
}

bool csum_begin_change(struct nvfs *fs, uint64_t pblk, uint64_t n)
{
	bool marked = false;
	for (uint64_t b = pblk; b < pblk + n; b++) {
		uint64_t *w = table_word(fs, b);
		if (*w) {
			*w = 0;
			pool_flush_ptr(fs->pool, w, sizeof(*w));
			marked = true;
		}
	}
	return marked;
}

void csum_note_sum(struct nvfs *fs, uint64_t pblk, uint64_t sum)
{
	if (fs->csum_on)
		pending_put(&fs->pending, pblk, sum);
}

void csum_note_changed(struct nvfs *fs, uint64_t pblk, uint64_t n)
{
	if (!fs->csum_on)
		return;
	for (uint64_t b = pblk; b < pblk + n; b++)
		if (pending_put(&fs->pending, b, csum_of_block(fs, b)))
			return; /* out of memory: those blocks stay unverified */
}

uint64_t csum_expected(const struct nvfs *fs, uint64_t pblk)
{
	const struct csum_entry *e = pending_find(&fs->pending, pblk);
	return e ? e->sum : *table_word(fs, pblk);
}

int csum_check_block(const struct nvfs *fs, uint64_t pblk)
{
	uint64_t want = csum_expected(fs, pblk);
	if (!want)
		return 1; /* nothing recorded: unverified */
	return csum_of_block(fs, pblk) == want ? 0 : -EIO;
}

bool csum_persist_block(struct nvfs *fs, uint64_t pblk)
{
	struct csum_entry *e = pending_find(&fs->pending, pblk);
	if (!e)
		return false;
	uint64_t *w = table_word(fs, pblk);
	*w = e->sum;
	pool_flush_ptr(fs->pool, w, sizeof(*w));
	pending_del(&fs->pending, e);
	return true;
}

void csum_persist_all(struct nvfs *fs)
{
	struct csum_pending *p = &fs->pending;
	if (p->count == 0)
		return;
	for (size_t i = 0; i < p->cap; i++) {
		if (!p->tab[i].pblk)
			continue;
		uint64_t *w = table_word(fs, p->tab[i].pblk);
		*w = p->tab[i].sum;
		pool_flush_ptr(fs->pool, w, sizeof(*w));
		p->tab[i].pblk = 0;
	}
	p->count = 0;
	if (p->cap > (1u << 16)) {
		/* A big write grew the map; do not keep that memory. */
		free(p->tab);
		p->tab = NULL;
		p->cap = 0;
	}
}
