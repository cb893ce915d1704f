/* The inode table: allocation, attributes, and reclaiming dead inodes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "xattr.h"

struct nvmpfs_inode *inode_get(const struct nvfs *fs, uint64_t ino)
{
	if (ino == 0 || ino >= fs->sb.inode_count)
		return NULL;
	uint8_t *table = pool_block(fs->pool, fs->sb.inode_start);
	return (struct nvmpfs_inode *)(table + ino * NVMPFS_INODE_SIZE);
}

struct nvmpfs_inode *inode_live(const struct nvfs *fs, uint64_t ino)
{
	struct nvmpfs_inode *inode = inode_get(fs, ino);
	return inode && inode->mode ? inode : NULL;
}

/* ---- slot allocation ---- */

static bool slot_used(const uint64_t *map, uint64_t ino)
{
	return (map[ino / 64] >> (ino % 64)) & 1;
}

static void set_slot(uint64_t *map, uint64_t ino, bool used)
{
	if (used)
		map[ino / 64] |= 1ull << (ino % 64);
	else
		map[ino / 64] &= ~(1ull << (ino % 64));
}

int ialloc_init(struct nvfs *fs)
{
	struct ialloc *ia = &fs->ialloc;
	uint64_t n = fs->sb.inode_count;
	ia->map = calloc((n + 63) / 64, sizeof(*ia->map));
	if (!ia->map)
		return -ENOMEM;
	pthread_mutex_init(&ia->mu, NULL);
	set_slot(ia->map, 0, true);
	ia->free_inodes = 0;
	for (uint64_t ino = NVMPFS_ROOT_INO; ino < n; ino++) {
		if (inode_get(fs, ino)->mode)
			set_slot(ia->map, ino, true);
		else
			ia->free_inodes++;
	}
	ia->hint = NVMPFS_ROOT_INO + 1;
	return 0;
}

void ialloc_fini(struct nvfs *fs)
{
	if (!fs->ialloc.map)
		return;
	free(fs->ialloc.map);
	fs->ialloc.map = NULL;
	pthread_mutex_destroy(&fs->ialloc.mu);
}

uint64_t ialloc_free_count(struct nvfs *fs)
{
	pthread_mutex_lock(&fs->ialloc.mu);
	uint64_t n = fs->ialloc.free_inodes;
	pthread_mutex_unlock(&fs->ialloc.mu);
	return n;
}

uint64_t inode_take_slot(struct nvfs *fs)
{
	struct ialloc *ia = &fs->ialloc;
	uint64_t n = fs->sb.inode_count, found = 0;
	pthread_mutex_lock(&ia->mu);
	for (uint64_t i = 0; ia->free_inodes && i < n && !found; i++) {
		uint64_t ino = ia->hint + i;
		if (ino >= n)
			ino = ino - n + NVMPFS_ROOT_INO + 1;
		if (ino < n && !slot_used(ia->map, ino))
			found = ino;
	}
	if (found) {
		set_slot(ia->map, found, true);
		ia->free_inodes--;
		ia->hint = found + 1;
	}
	pthread_mutex_unlock(&ia->mu);
	return found;
}

void ialloc_release(struct nvfs *fs, uint64_t ino)
{
	struct ialloc *ia = &fs->ialloc;
	pthread_mutex_lock(&ia->mu);
	if (slot_used(ia->map, ino)) {
		set_slot(ia->map, ino, false);
		ia->free_inodes++;
	}
	pthread_mutex_unlock(&ia->mu);
}

int inode_take(struct tx *tx, uint64_t *ino_out)
{
	uint64_t ino = inode_take_slot(tx->fs);
	if (!ino)
		return -ENOSPC;
	tx->inode_taken[tx->ninodes_taken++] = ino;
	*ino_out = ino;
	return inode_log(tx, inode_get(tx->fs, ino));
}

void inode_init(struct nvmpfs_inode *inode, uint32_t mode, uint32_t uid,
		uint32_t gid)
{
	uint64_t generation = inode->generation + 1;
	memset(inode, 0, sizeof(*inode));
	inode->mode = mode;
	inode->nlink = 1;
	inode->uid = uid;
	inode->gid = gid;
	inode->generation = generation;
	inode_now(&inode->btime);
	inode->atime = inode->mtime = inode->ctime = inode->btime;
}

int inode_log(struct tx *tx, struct nvmpfs_inode *inode)
{
	return tx_log(tx, inode, sizeof(*inode));
}

/* ---- times and attributes ---- */

void inode_now(struct nvmpfs_time *t)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	t->sec = ts.tv_sec;
	t->nsec = (uint32_t)ts.tv_nsec;
	t->pad = 0;
}

void inode_touch(struct nvmpfs_inode *inode, bool m, bool c)
{
	struct nvmpfs_time now;
	inode_now(&now);
	if (m)
		inode->mtime = now;
	if (c)
		inode->ctime = now;
}

void inode_store64(struct nvfs *fs, uint64_t *field, uint64_t value)
{
	pool_store64(fs->pool, field, value);
}

void inode_store_time(struct nvfs *fs, struct nvmpfs_time *t,
		      const struct nvmpfs_time *value)
{
	uint64_t nsec_word = value->nsec; /* nsec and pad share a word */
	pool_store64(fs->pool, (uint64_t *)&t->sec, (uint64_t)value->sec);
	pool_store64(fs->pool, (uint64_t *)&t->nsec, nsec_word);
}

static void store_times(struct nvfs *fs, struct nvmpfs_inode *inode, bool m,
			bool c, const struct nvmpfs_time *now)
{
	if (m)
		inode_store_time(fs, &inode->mtime, now);
	if (c)
		inode_store_time(fs, &inode->ctime, now);
}

void inode_touch_now(struct nvfs *fs, struct nvmpfs_inode *inode, bool m,
		     bool c)
{
	struct nvmpfs_time now;
	inode_now(&now);
	store_times(fs, inode, m, c, &now);
}

/* Nanoseconds of the coarse clock's tick (clock_getres): 1-10 ms. */
static int64_t coarse_tick_ns(void)
{
	static int64_t tick; /* racing first callers store the same value */
	int64_t t = __atomic_load_n(&tick, __ATOMIC_RELAXED);
	if (t == 0) {
		struct timespec res;
		if (clock_getres(CLOCK_REALTIME_COARSE, &res) < 0 ||
		    (res.tv_sec == 0 && res.tv_nsec == 0))
			res = (struct timespec){ 0, 1000 }; /* hardly skips */
		t = (int64_t)res.tv_sec * 1000000000 + res.tv_nsec;
		if (t > 10000000) /* no kernel ticks slower than HZ=100 */
			t = 10000000;
		__atomic_store_n(&tick, t, __ATOMIC_RELAXED);
	}
	return t;
}

/*
 * Whether t was set less than a tick before now (a time from the media is
 * any 64-bit value: seconds are compared first).
 */
static bool set_within_tick(const struct nvmpfs_time *t,
			    const struct nvmpfs_time *now, int64_t tick)
{
	if (t->sec > now->sec || t->sec < now->sec - 1 - tick / 1000000000)
		return false;
	int64_t ns = (now->sec - t->sec) * 1000000000 + (int64_t)now->nsec -
		     (int64_t)t->nsec;
	return ns >= 0 && ns < tick;
}

bool inode_touch_data_change(struct nvfs *fs, struct nvmpfs_inode *inode,
			     bool m)
{
	struct nvmpfs_time now;
	inode_now(&now);
	int64_t tick = coarse_tick_ns();
	if (set_within_tick(&inode->ctime, &now, tick) &&
	    (!m || set_within_tick(&inode->mtime, &now, tick)))
		return false;
	store_times(fs, inode, m, true, &now);
	return true;
}

void inode_to_stat(uint64_t ino, const struct nvmpfs_inode *inode,
		   struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = inode->mode;
	st->st_nlink = inode->nlink;
	st->st_uid = inode->uid;
	st->st_gid = inode->gid;
	st->st_rdev = inode->rdev;
	st->st_size = (off_t)inode->size;
	st->st_blksize = NVMPFS_BLOCK_SIZE;
	st->st_blocks = (blkcnt_t)(inode->blocks * (NVMPFS_BLOCK_SIZE / 512));
	st->st_atim.tv_sec = inode->atime.sec;
	st->st_atim.tv_nsec = inode->atime.nsec;
	st->st_mtim.tv_sec = inode->mtime.sec;
	st->st_mtim.tv_nsec = inode->mtime.nsec;
	st->st_ctim.tv_sec = inode->ctime.sec;
	st->st_ctim.tv_nsec = inode->ctime.nsec;
}

/* ---- freeing a dead inode ---- */

struct releasing {
	struct nvfs *fs;
	uint64_t start, count;   /* the run gathered so far */
};

static void release_run(struct releasing *r)
{
	if (r->count)
		lease_release_blocks(r->fs, r->start, r->count);
	r->count = 0;
}

/* Gathers contiguous blocks into runs: one allocator call a run. */
static void release_block(struct releasing *r, uint64_t blk)
{
	if (!valid_data_block(r->fs, blk))
		return;
	if (r->count && blk == r->start + r->count) {
		r->count++;
		return;
	}
	release_run(r);
	r->start = blk;
	r->count = 1;
}

static int release_mapped(void *arg, uint64_t lblk, uint64_t pblk,
			  bool is_node)
{
	(void)lblk;
	(void)is_node;
	release_block(arg, pblk);
	return 0;
}

static bool release_xattr_block(void *arg, uint64_t blk)
{
	release_block(arg, blk);
	return true;
}

/*
 * One drain frees a dead inode of any size: once its slot's first word
 * (mode and nlink) is 0 on the media, nothing refers to its blocks any
 * more -- the allocator lives in memory and is rebuilt from the inodes
 * after a crash -- so they go back to the allocator with no journal and
 * no change to the map.  A crash before the drain leaves an orphan, which
 * the next mount frees.
 */
int inode_reclaim(struct nvfs *fs, uint64_t ino)
{
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (!inode || inode->nlink != 0)
		return -EINVAL;
	pool_store64(fs->pool, (uint64_t *)inode, 0);
	int rc = pool_drain(fs->pool);
	if (rc)
		return rc;
	struct releasing r = { fs, 0, 0 };
	/* Nodes last: a node freed is never read again (bmap.h). */
	bmap_walk_nodes_last(fs, inode, release_mapped, &r);
	xattr_walk_blocks_nodes_last(fs, inode, release_xattr_block, &r);
	release_run(&r);
	ialloc_release(fs, ino);
	return 0;
}
