/*
 * Directories: entries in 64-byte slots of the directory's blocks, and an
 * in-memory hash index (name -> slot) built the first time a directory is
 * used, so lookups, inserts and removals cost the same in a directory of a
 * million entries as in one of ten.
 *
 * A slot number is lblk * 64 + index in block.  Readdir cookies are slot
 * numbers plus 2 (0 and 1 are "." and "..").  The index lives in the
 * directory's icache entry and changes only under its exclusive lock; a
 * lookup under a shared lock may build it (under the entry's index_mu).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "fs.h"

#define EMPTY_SLOT UINT64_MAX
#define DEAD_SLOT (UINT64_MAX - 1)
/* How many "may have room" blocks an insert tries before appending one. */
#define HOLE_TRIES 4

struct index_ent {
	uint64_t hash;
	uint64_t slot;           /* EMPTY_SLOT or DEAD_SLOT when unused */
};

struct dir_index {
	struct index_ent *tab;
	size_t cap, live, dead;  /* cap is a power of two */
	uint64_t *occupied;      /* per block: bit i = slot i in use */
	uint64_t nblocks;
	uint64_t *holes;         /* blocks that may have free slots */
	size_t nholes, cap_holes;
};

static uint64_t name_hash(const char *name, size_t len)
{
	return XXH3_64bits(name, len);
}

static unsigned slots_for(size_t name_len)
{
	return (unsigned)((NVMPFS_DIRENT_HEADER + name_len + NVMPFS_DIRENT_SLOT - 1) /
			  NVMPFS_DIRENT_SLOT);
}

/* The pool address of a slot, or NULL if the directory has no such block. */
static struct nvmpfs_dirent *slot_ptr(struct nvfs *fs,
				      const struct nvmpfs_inode *dir,
				      uint64_t slot)
{
	uint64_t pblk = bmap_lookup(fs, dir, slot / NVMPFS_SLOTS_PER_BLOCK, NULL);
	if (!pblk)
		return NULL;
	uint8_t *block = pool_block(fs->pool, pblk);
	return (struct nvmpfs_dirent *)(block + (slot % NVMPFS_SLOTS_PER_BLOCK) *
						NVMPFS_DIRENT_SLOT);
}

/* An entry is usable when it fits its block and its name is sane. */
static bool dirent_valid(const struct nvmpfs_dirent *d, unsigned idx_in_block)
{
	return d->ino && d->nslots >= 1 && d->nslots <= 5 &&
	       idx_in_block + d->nslots <= NVMPFS_SLOTS_PER_BLOCK &&
	       d->name_len >= 1 && d->name_len <= NVMPFS_MAX_NAME &&
	       slots_for(d->name_len) <= d->nslots;
}

void dir_index_free(struct dir_index *idx)
{
	if (!idx)
		return;
	free(idx->tab);
	free(idx->occupied);
	free(idx->holes);
	free(idx);
}

static int table_resize(struct dir_index *idx, size_t cap)
{
	struct index_ent *tab = malloc(cap * sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		tab[i].slot = EMPTY_SLOT;
	for (size_t i = 0; i < idx->cap; i++) {
		struct index_ent *e = &idx->tab[i];
		if (e->slot >= DEAD_SLOT)
			continue;
		size_t k = e->hash & (cap - 1);
		while (tab[k].slot != EMPTY_SLOT)
			k = (k + 1) & (cap - 1);
		tab[k] = *e;
	}
	free(idx->tab);
	idx->tab = tab;
	idx->cap = cap;
	idx->dead = 0;
	return 0;
}

static int table_insert(struct dir_index *idx, uint64_t hash, uint64_t slot)
{
	if ((idx->live + idx->dead + 1) * 10 > idx->cap * 7) {
		size_t cap = idx->cap;
		while ((idx->live + 1) * 10 > cap * 5)
			cap *= 2;
		int rc = table_resize(idx, cap);
		if (rc)
			return rc;
	}
	size_t k = hash & (idx->cap - 1);
	while (idx->tab[k].slot < DEAD_SLOT)
		k = (k + 1) & (idx->cap - 1);
	if (idx->tab[k].slot == DEAD_SLOT)
		idx->dead--;
	idx->tab[k] = (struct index_ent){ hash, slot };
	idx->live++;
	return 0;
}

static void table_remove(struct dir_index *idx, uint64_t hash, uint64_t slot)
{
	size_t k = hash & (idx->cap - 1);
	while (idx->tab[k].slot != EMPTY_SLOT) {
		if (idx->tab[k].slot == slot) {
			idx->tab[k].slot = DEAD_SLOT;
			idx->live--;
			idx->dead++;
			return;
		}
		k = (k + 1) & (idx->cap - 1);
	}
}

static int note_hole(struct dir_index *idx, uint64_t lblk)
{
	if (idx->nholes == idx->cap_holes) {
		size_t cap = idx->cap_holes ? idx->cap_holes * 2 : 16;
		uint64_t *h = realloc(idx->holes, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		idx->holes = h;
		idx->cap_holes = cap;
	}
	idx->holes[idx->nholes++] = lblk;
	return 0;
}

static int grow_blocks(struct dir_index *idx, uint64_t nblocks)
{
	if (nblocks <= idx->nblocks)
		return 0;
	uint64_t *occ = realloc(idx->occupied, nblocks * sizeof(*occ));
	if (!occ)
		return -ENOMEM;
	memset(occ + idx->nblocks, 0, (nblocks - idx->nblocks) * sizeof(*occ));
	idx->occupied = occ;
	idx->nblocks = nblocks;
	return 0;
}

static uint64_t run_mask(unsigned first, unsigned n)
{
	return (n == 64 ? ~0ull : ((1ull << n) - 1)) << first;
}

/* Reads every entry of a directory into a new index. */
static int index_build(struct nvfs *fs, const struct nvmpfs_inode *dir,
		       struct dir_index **out)
{
	struct dir_index *idx = calloc(1, sizeof(*idx));
	if (!idx || table_resize(idx, 64)) {
		dir_index_free(idx);
		return -ENOMEM;
	}
	uint64_t nblocks = dir_blocks(fs, dir);
	int rc = grow_blocks(idx, nblocks);
	for (uint64_t b = 0; rc == 0 && b < nblocks; b++) {
		uint64_t pblk = bmap_lookup(fs, dir, b, NULL);
		if (!pblk) {
			idx->occupied[b] = ~0ull; /* unusable: never allocate here */
			continue;
		}
		const uint8_t *block = pool_block(fs->pool, pblk);
		for (unsigned i = 0; i < NVMPFS_SLOTS_PER_BLOCK;) {
			const struct nvmpfs_dirent *d =
				(const void *)(block + i * NVMPFS_DIRENT_SLOT);
			if (!dirent_valid(d, i)) {
				i++;
				continue;
			}
			rc = table_insert(idx, name_hash(d->name, d->name_len),
					  b * NVMPFS_SLOTS_PER_BLOCK + i);
			if (rc)
				break;
			idx->occupied[b] |= run_mask(i, d->nslots);
			i += d->nslots;
		}
		if (rc == 0 && idx->occupied[b] != ~0ull)
			rc = note_hole(idx, b);
	}
	if (rc) {
		dir_index_free(idx);
		return rc;
	}
	*out = idx;
	return 0;
}

bool dir_valid_name(const char *name, size_t len)
{
	if (len == 0 || len > NVMPFS_MAX_NAME)
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL;
}

static struct nvmpfs_inode *live_dir(struct nvfs *fs, uint64_t dino)
{
	struct nvmpfs_inode *dir = inode_live(fs, dino);
	return dir && S_ISDIR(dir->mode) ? dir : NULL;
}

static int index_of(struct nvfs *fs, struct icache_ent *dent,
		    const struct nvmpfs_inode *dir, struct dir_index **out)
{
	struct dir_index *idx = __atomic_load_n(&dent->dir, __ATOMIC_ACQUIRE);
	int rc = 0;
	if (!idx) {
		pthread_mutex_lock(&dent->index_mu);
		idx = dent->dir;
		if (!idx && (rc = index_build(fs, dir, &idx)) == 0)
			__atomic_store_n(&dent->dir, idx, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&dent->index_mu);
	}
	*out = idx;
	return rc;
}

/* Forgets the index (rebuilt from the pool on next use). */
static void drop_index(struct icache_ent *dent)
{
	pthread_mutex_lock(&dent->index_mu);
	dir_index_free(dent->dir);
	dent->dir = NULL;
	pthread_mutex_unlock(&dent->index_mu);
}

int dir_find(struct nvfs *fs, struct icache_ent *dent, const char *name,
	     size_t len, struct dir_hit *hit)
{
	struct nvmpfs_inode *dir = live_dir(fs, dent->ino);
	if (!dir)
		return -ENOTDIR;
	struct dir_index *idx;
	int rc = index_of(fs, dent, dir, &idx);
	if (rc)
		return rc;
	uint64_t hash = name_hash(name, len);
	for (size_t k = hash & (idx->cap - 1); idx->tab[k].slot != EMPTY_SLOT;
	     k = (k + 1) & (idx->cap - 1)) {
		const struct index_ent *e = &idx->tab[k];
		if (e->slot == DEAD_SLOT || e->hash != hash)
			continue;
		const struct nvmpfs_dirent *d = slot_ptr(fs, dir, e->slot);
		if (d && d->name_len == len && memcmp(d->name, name, len) == 0) {
			hit->ino = d->ino;
			hit->type = d->type;
			hit->slot = e->slot;
			return 0;
		}
	}
	return -ENOENT;
}

/* First run of n free slots in a block's occupancy word, or -1. */
static int free_run(uint64_t occupied, unsigned n)
{
	uint64_t want = run_mask(0, n);
	for (unsigned i = 0; i + n <= NVMPFS_SLOTS_PER_BLOCK; i++)
		if (!(occupied & (want << i)))
			return (int)i;
	return -1;
}

/* Room for n slots in a block the directory has, or -ENOENT. */
static int find_hole(struct dir_index *idx, unsigned n, uint64_t *slot)
{
	for (int tries = 0; tries < HOLE_TRIES && idx->nholes > 0; tries++) {
		uint64_t lblk = idx->holes[idx->nholes - 1];
		int at = lblk < idx->nblocks ? free_run(idx->occupied[lblk], n) : -1;
		if (at >= 0) {
			*slot = lblk * NVMPFS_SLOTS_PER_BLOCK + (unsigned)at;
			return 0;
		}
		idx->nholes--; /* too full for this name; forget it */
	}
	return -ENOENT;
}

/* Plans a zeroed block at the end of the directory. */
static int plan_new_block(struct nvfs *fs, struct nvmpfs_inode *dir,
			  struct dir_index *idx, struct dir_add *a)
{
	a->lblk = dir->size / NVMPFS_BLOCK_SIZE;
	int rc = grow_blocks(idx, a->lblk + 1);
	uint64_t pblk, got;
	bool fresh;
	if (rc == 0)
		rc = map_plan_map(&a->plan, a->lblk, 1, &pblk, &got, &fresh);
	if (rc)
		return rc;
	/* Past the directory's size nobody reads it: zeroed, not logged. */
	pool_fill_fresh(fs->pool, pblk * NVMPFS_BLOCK_SIZE, NULL,
			NVMPFS_BLOCK_SIZE);
	a->new_block = true;
	a->slot = a->lblk * NVMPFS_SLOTS_PER_BLOCK;
	return 0;
}

int dir_prepare_add(struct tx *tx, struct icache_ent *dent, size_t name_len,
		    struct dir_add *a)
{
	struct nvfs *fs = tx->fs;
	memset(a, 0, sizeof(*a));
	struct nvmpfs_inode *dir = live_dir(fs, dent->ino);
	if (!dir)
		return -ENOTDIR;
	map_plan_init(&a->plan, fs, dir);
	struct dir_index *idx;
	int rc = index_of(fs, dent, dir, &idx);
	if (rc)
		return rc;
	a->nslots = slots_for(name_len);
	if (find_hole(idx, a->nslots, &a->slot) == 0) {
		struct nvmpfs_dirent *d = slot_ptr(fs, dir, a->slot);
		if (!d)
			return -EIO;
		rc = tx_log(tx, d, (size_t)a->nslots * NVMPFS_DIRENT_SLOT);
	} else {
		rc = plan_new_block(fs, dir, idx, a);
		if (rc == 0)
			rc = map_plan_log(&a->plan, tx);
	}
	if (rc == 0)
		rc = inode_log(tx, dir);
	return rc;
}

void dir_cancel_add(struct dir_add *a)
{
	map_plan_cancel(&a->plan);
	map_plan_fini(&a->plan);
}

static void index_insert(struct icache_ent *dent, uint64_t hash,
			 uint64_t slot, unsigned n)
{
	struct dir_index *idx = dent->dir;
	if (!idx)
		return;
	if (table_insert(idx, hash, slot)) {
		drop_index(dent); /* out of memory: rebuilt from the pool */
		return;
	}
	idx->occupied[slot / NVMPFS_SLOTS_PER_BLOCK] |=
		run_mask(slot % NVMPFS_SLOTS_PER_BLOCK, n);
}

void dir_apply_add(struct nvfs *fs, struct icache_ent *dent,
		   struct dir_add *a, const char *name, size_t len,
		   uint64_t ino, unsigned type)
{
	struct nvmpfs_inode *dir = inode_live(fs, dent->ino);
	if (a->new_block) {
		map_plan_apply(&a->plan);
		dir->size += NVMPFS_BLOCK_SIZE;
		if (dent->dir) {
			dent->dir->occupied[a->lblk] = 0;
			if (note_hole(dent->dir, a->lblk))
				drop_index(dent);
		}
	}
	map_plan_fini(&a->plan);
	struct nvmpfs_dirent *d = slot_ptr(fs, dir, a->slot);
	d->nslots = (uint8_t)a->nslots;
	d->type = (uint8_t)type;
	d->name_len = (uint16_t)len;
	d->reserved = 0;
	memcpy(d->name, name, len);
	d->ino = ino;
	pool_flush_ptr(fs->pool, d, (size_t)a->nslots * NVMPFS_DIRENT_SLOT);
	index_insert(dent, name_hash(name, len), a->slot, a->nslots);
	inode_touch(dir, true, true);
}

/* ---- an entry published by one store (naming.h) ---- */

int dir_find_room(struct nvfs *fs, struct icache_ent *dent, size_t name_len,
		  uint64_t *slot)
{
	struct nvmpfs_inode *dir = live_dir(fs, dent->ino);
	if (!dir)
		return -ENOTDIR;
	struct dir_index *idx;
	int rc = index_of(fs, dent, dir, &idx);
	if (rc == 0)
		rc = find_hole(idx, slots_for(name_len), slot);
	if (rc == 0 && !slot_ptr(fs, dir, *slot))
		rc = -EIO;
	return rc;
}

void dir_write_body(struct nvfs *fs, struct icache_ent *dent, uint64_t slot,
		    const char *name, size_t len, unsigned type)
{
	struct nvmpfs_dirent *d = slot_ptr(fs, inode_live(fs, dent->ino), slot);
	unsigned n = slots_for(len);
	size_t bytes = (size_t)n * NVMPFS_DIRENT_SLOT;
	/* The ino stays 0 until dir_publish (a free slot's is 0 already). */
	memset(d, 0, bytes);
	d->nslots = (uint8_t)n;
	d->type = (uint8_t)type;
	d->name_len = (uint16_t)len;
	memcpy(d->name, name, len);
	pool_flush_ptr(fs->pool, d, bytes);
}

void dir_publish(struct nvfs *fs, struct icache_ent *dent, uint64_t slot,
		 const char *name, size_t len, uint64_t ino)
{
	struct nvmpfs_inode *dir = inode_live(fs, dent->ino);
	struct nvmpfs_dirent *d = slot_ptr(fs, dir, slot);
	pool_store64(fs->pool, &d->ino, ino);
	index_insert(dent, name_hash(name, len), slot, d->nslots);
	inode_touch_data_change(fs, dir, true);
}

/*
 * Zeroes what a create cut short left in a block: every slot that is
 * neither part of a well-formed entry nor all zero.
 */
static bool zero_strays(struct nvfs *fs, uint8_t *block)
{
	static const uint8_t zero[NVMPFS_DIRENT_SLOT];
	bool any = false;
	for (unsigned i = 0; i < NVMPFS_SLOTS_PER_BLOCK;) {
		struct nvmpfs_dirent *d =
			(struct nvmpfs_dirent *)(block + i * NVMPFS_DIRENT_SLOT);
		if (d->ino && dirent_valid(d, i)) {
			i += d->nslots;
			continue;
		}
		if (memcmp(d, zero, NVMPFS_DIRENT_SLOT) != 0) {
			memset(d, 0, NVMPFS_DIRENT_SLOT);
			pool_flush_ptr(fs->pool, d, NVMPFS_DIRENT_SLOT);
			any = true;
		}
		i++;
	}
	return any;
}

/* The slot's entry and its block, or NULL when dino has no such block. */
static struct nvmpfs_dirent *hinted_slot(struct nvfs *fs, uint64_t dino,
					 uint64_t slot, uint8_t **block)
{
	struct nvmpfs_dirent *d = slot_ptr(fs, inode_get(fs, dino), slot);
	if (d)
		*block = (uint8_t *)d - (slot % NVMPFS_SLOTS_PER_BLOCK) *
					NVMPFS_DIRENT_SLOT;
	return d;
}

enum slot_verdict dir_slot_verdict(struct nvfs *fs, uint64_t dino,
				   uint64_t slot, uint64_t ino)
{
	uint8_t *block;
	const struct nvmpfs_dirent *d = hinted_slot(fs, dino, slot, &block);
	if (!d)
		return SLOT_FOREIGN;
	if (d->ino == ino && dirent_valid(d, slot % NVMPFS_SLOTS_PER_BLOCK))
		return SLOT_NAMES;
	/*
	 * The ino is one 8-byte store: 0 or the create's.  Anything else is
	 * no create's doing (a damaged hint): left for fsck.
	 */
	return d->ino ? SLOT_FOREIGN : SLOT_FREE;
}

bool dir_clear_slot(struct nvfs *fs, uint64_t dino, uint64_t slot)
{
	uint8_t *block;
	struct nvmpfs_dirent *d = hinted_slot(fs, dino, slot, &block);
	if (!d)
		return false;
	/*
	 * The slot was free when the create began, and nobody else writes it
	 * while the hint stands, so its bytes are the create's.
	 */
	unsigned i = slot % NVMPFS_SLOTS_PER_BLOCK;
	unsigned n = d->nslots >= 1 && d->nslots <= 5 &&
		     i + d->nslots <= NVMPFS_SLOTS_PER_BLOCK ? d->nslots : 1;
	static const uint8_t zero[5 * NVMPFS_DIRENT_SLOT];
	size_t bytes = (size_t)n * NVMPFS_DIRENT_SLOT;
	bool changed = memcmp(d, zero, bytes) != 0;
	memset(d, 0, bytes);
	pool_flush_ptr(fs->pool, d, bytes);
	return zero_strays(fs, block) || changed;
}

int dir_prepare_remove(struct tx *tx, struct icache_ent *dent, uint64_t slot)
{
	struct nvmpfs_inode *dir = live_dir(tx->fs, dent->ino);
	if (!dir)
		return -ENOTDIR;
	struct nvmpfs_dirent *d = slot_ptr(tx->fs, dir, slot);
	if (!d || !dirent_valid(d, slot % NVMPFS_SLOTS_PER_BLOCK))
		return -EIO;
	int rc = tx_log(tx, d, (size_t)d->nslots * NVMPFS_DIRENT_SLOT);
	return rc ? rc : inode_log(tx, dir);
}

void dir_apply_remove(struct nvfs *fs, struct icache_ent *dent, uint64_t slot)
{
	struct nvmpfs_inode *dir = inode_live(fs, dent->ino);
	struct nvmpfs_dirent *d = slot_ptr(fs, dir, slot);
	unsigned n = d->nslots;
	size_t bytes = (size_t)n * NVMPFS_DIRENT_SLOT;
	uint64_t hash = name_hash(d->name, d->name_len);
	memset(d, 0, bytes);
	pool_flush_ptr(fs->pool, d, bytes);
	struct dir_index *idx = dent->dir;
	if (idx) {
		table_remove(idx, hash, slot);
		uint64_t lblk = slot / NVMPFS_SLOTS_PER_BLOCK;
		bool was_full = idx->occupied[lblk] == ~0ull;
		idx->occupied[lblk] &= ~run_mask(slot % NVMPFS_SLOTS_PER_BLOCK, n);
		if (was_full)
			note_hole(idx, lblk); /* best effort: a lost hint wastes a slot */
	}
	inode_touch(dir, true, true);
}

int dir_prepare_retarget(struct tx *tx, struct icache_ent *dent,
			 uint64_t slot)
{
	struct nvmpfs_inode *dir = live_dir(tx->fs, dent->ino);
	if (!dir)
		return -ENOTDIR;
	struct nvmpfs_dirent *d = slot_ptr(tx->fs, dir, slot);
	if (!d || !d->ino)
		return -EIO;
	int rc = tx_log(tx, d, NVMPFS_DIRENT_HEADER);
	return rc ? rc : inode_log(tx, dir);
}

void dir_apply_retarget(struct nvfs *fs, struct icache_ent *dent,
			uint64_t slot, uint64_t ino, unsigned type)
{
	struct nvmpfs_inode *dir = inode_live(fs, dent->ino);
	struct nvmpfs_dirent *d = slot_ptr(fs, dir, slot);
	d->ino = ino;
	d->type = (uint8_t)type;
	pool_flush_ptr(fs->pool, d, NVMPFS_DIRENT_HEADER);
	inode_touch(dir, true, true);
}

bool dir_is_empty(struct nvfs *fs, struct icache_ent *dent)
{
	struct nvmpfs_inode *dir = live_dir(fs, dent->ino);
	struct dir_index *idx;
	if (!dir || index_of(fs, dent, dir, &idx))
		return false;
	return idx->live == 0;
}

int dir_walk(struct nvfs *fs, const struct nvmpfs_inode *dir,
	     uint64_t from_slot, dir_visit_cb cb, void *arg)
{
	uint64_t nblocks = dir_blocks(fs, dir);
	for (uint64_t b = from_slot / NVMPFS_SLOTS_PER_BLOCK; b < nblocks; b++) {
		uint64_t pblk = bmap_lookup(fs, dir, b, NULL);
		if (!pblk)
			continue;
		const uint8_t *block = pool_block(fs->pool, pblk);
		unsigned i = b == from_slot / NVMPFS_SLOTS_PER_BLOCK
				     ? from_slot % NVMPFS_SLOTS_PER_BLOCK
				     : 0;
		while (i < NVMPFS_SLOTS_PER_BLOCK) {
			const struct nvmpfs_dirent *d =
				(const void *)(block + i * NVMPFS_DIRENT_SLOT);
			if (!dirent_valid(d, i)) {
				i++;
				continue;
			}
			int rc = cb(arg, d, b * NVMPFS_SLOTS_PER_BLOCK + i);
			if (rc)
				return rc;
			i += d->nslots;
		}
	}
	return 0;
}
