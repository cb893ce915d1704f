/*
 * Directories: entries in 64-byte slots of the directory's blocks, and an
 * in-memory hash index (name -> slot) built the first time a directory is
 * used, so lookups, inserts and removals cost the same in a directory of a
 * million entries as in one of ten.
 *
 * A slot number is lblk * 64 + index in block.  Readdir cookies are slot
 * numbers plus 2 (0 and 1 are "." and "..").
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

static int index_of(struct nvfs *fs, uint64_t dino,
		    const struct nvmpfs_inode *dir, struct dir_index **out)
{
	struct icache_ent *ent = icache_get(fs, dino, true);
	if (!ent)
		return -ENOMEM;
	if (!ent->dir) {
		int rc = index_build(fs, dir, &ent->dir);
		if (rc)
			return rc;
	}
	*out = ent->dir;
	return 0;
}

static struct nvmpfs_inode *live_dir(struct nvfs *fs, uint64_t dino)
{
	struct nvmpfs_inode *dir = inode_live(fs, dino);
	return dir && S_ISDIR(dir->mode) ? dir : NULL;
}

int dir_find(struct nvfs *fs, uint64_t dino, const char *name, size_t len,
	     struct dir_hit *hit)
{
	struct nvmpfs_inode *dir = live_dir(fs, dino);
	if (!dir)
		return -ENOTDIR;
	struct dir_index *idx;
	int rc = index_of(fs, dino, dir, &idx);
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

/* Adds a zeroed block at the end of the directory. */
static int append_block(struct nvfs *fs, struct nvmpfs_inode *dir,
			struct dir_index *idx, uint64_t *lblk_out)
{
	uint64_t lblk = dir->size / NVMPFS_BLOCK_SIZE;
	uint64_t pblk, got;
	bool fresh;
	int rc = grow_blocks(idx, lblk + 1);
	if (rc)
		return rc;
	rc = bmap_map(fs, dir, lblk, 1, &pblk, &got, &fresh);
	if (rc)
		return rc;
	if (fresh) {
		pool_zero(fs->pool, pblk * NVMPFS_BLOCK_SIZE, NVMPFS_BLOCK_SIZE);
		tx_fresh(&fs->j, pool_block(fs->pool, pblk), NVMPFS_BLOCK_SIZE);
	}
	dir->size += NVMPFS_BLOCK_SIZE;
	idx->occupied[lblk] = 0;
	*lblk_out = lblk;
	return 0;
}

/* Finds (or makes) room for n slots; returns the first slot. */
static int find_room(struct nvfs *fs, struct nvmpfs_inode *dir,
		     struct dir_index *idx, unsigned n, uint64_t *slot)
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
	uint64_t lblk;
	int rc = append_block(fs, dir, idx, &lblk);
	if (rc)
		return rc;
	rc = note_hole(idx, lblk);
	if (rc)
		return rc;
	*slot = lblk * NVMPFS_SLOTS_PER_BLOCK;
	return 0;
}

int dir_add(struct nvfs *fs, uint64_t dino, const char *name, size_t len,
	    uint64_t ino, unsigned type)
{
	struct nvmpfs_inode *dir = live_dir(fs, dino);
	if (!dir)
		return -ENOTDIR;
	struct dir_index *idx;
	int rc = index_of(fs, dino, dir, &idx);
	if (rc)
		return rc;
	unsigned n = slots_for(len);
	uint64_t slot;
	rc = find_room(fs, dir, idx, n, &slot);
	if (rc)
		return rc;
	struct nvmpfs_dirent *d = slot_ptr(fs, dir, slot);
	if (!d)
		return -EIO;
	size_t bytes = (size_t)n * NVMPFS_DIRENT_SLOT;
	rc = tx_log(&fs->j, d, bytes);
	if (rc)
		return rc;
	d->nslots = (uint8_t)n;
	d->type = (uint8_t)type;
	d->name_len = (uint16_t)len;
	d->reserved = 0;
	memcpy(d->name, name, len);
	d->ino = ino;
	rc = table_insert(idx, name_hash(name, len), slot);
	if (rc)
		return rc;
	idx->occupied[slot / NVMPFS_SLOTS_PER_BLOCK] |=
		run_mask(slot % NVMPFS_SLOTS_PER_BLOCK, n);
	inode_touch(dir, true, true);
	return 0;
}

int dir_remove(struct nvfs *fs, uint64_t dino, uint64_t slot)
{
	struct nvmpfs_inode *dir = live_dir(fs, dino);
	if (!dir)
		return -ENOTDIR;
	struct dir_index *idx;
	int rc = index_of(fs, dino, dir, &idx);
	if (rc)
		return rc;
	struct nvmpfs_dirent *d = slot_ptr(fs, dir, slot);
	if (!d || !dirent_valid(d, slot % NVMPFS_SLOTS_PER_BLOCK))
		return -EIO;
	unsigned n = d->nslots;
	size_t bytes = (size_t)n * NVMPFS_DIRENT_SLOT;
	rc = tx_log(&fs->j, d, bytes);
	if (rc)
		return rc;
	uint64_t hash = name_hash(d->name, d->name_len);
	memset(d, 0, bytes);
	table_remove(idx, hash, slot);
	uint64_t lblk = slot / NVMPFS_SLOTS_PER_BLOCK;
	bool was_full = idx->occupied[lblk] == ~0ull;
	idx->occupied[lblk] &= ~run_mask(slot % NVMPFS_SLOTS_PER_BLOCK, n);
	if (was_full)
		note_hole(idx, lblk); /* best effort: a lost hint wastes a slot */
	inode_touch(dir, true, true);
	return 0;
}

int dir_retarget(struct nvfs *fs, uint64_t dino, uint64_t slot, uint64_t ino,
		 unsigned type)
{
	struct nvmpfs_inode *dir = live_dir(fs, dino);
	if (!dir)
		return -ENOTDIR;
	struct nvmpfs_dirent *d = slot_ptr(fs, dir, slot);
	if (!d || !d->ino)
		return -EIO;
	int rc = tx_log(&fs->j, d, NVMPFS_DIRENT_HEADER);
	if (rc)
		return rc;
	d->ino = ino;
	d->type = (uint8_t)type;
	inode_touch(dir, true, true);
	return 0;
}

bool dir_is_empty(struct nvfs *fs, uint64_t dino)
{
	struct nvmpfs_inode *dir = live_dir(fs, dino);
	struct dir_index *idx;
	if (!dir || index_of(fs, dino, dir, &idx))
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
