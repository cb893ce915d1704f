/*
 * Internal state of a mounted nvmpfs and the functions the core's files
 * share.
 *
 * Locking (take in this order; never the other way round):
 *   0. fs->freeze             shared by every call that changes the pool,
 *                             exclusive for a remount (remount.c)
 *   1. fs->rename_lock        every rename (parents of directories change
 *                             only under it, so is_within may walk them)
 *   2. inode locks            icache_ent.lock, a readers-writer lock over
 *                             the inode, its block map, its directory
 *                             entries and index and its xattrs; several
 *                             are taken in ascending inode number (see
 *                             lockset in icache.h)
 *   3. a journal lane         lane_get (waits for a free lane)
 *   4. leaf locks, held for a few instructions and never across a call
 *      that takes another: alloc.mu (block allocator), ialloc.mu (inode
 *      slots), intent.mu (write-intent map), icache.mu (the inode cache's
 *      table and reference counts), icache_ent.index_mu and .list_mu,
 *      the journal's mutex, the pool's group-commit mutex.
 * Data copies, drains and fdatasyncs happen under inode locks only, never
 * under a leaf lock; no call holds a lock that a call on another file
 * needs, except the short leaf locks and rename_lock.
 */
#ifndef NVMPFS_FS_H
#define NVMPFS_FS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "journal.h"
#include "nvfs.h"
#include "nvmpfs/layout.h"
#include "pool.h"

struct dir_index;
struct icache_ent;
struct lease_table;
struct tx;

/* Counters (struct nvfs_stats) are bumped with relaxed atomics. */
#define STAT_ADD(fs, field, n) \
	__atomic_add_fetch(&(fs)->stats.field, (n), __ATOMIC_RELAXED)

/* ---- range.c: a growable list of byte ranges ---- */
struct range_list {
	struct pool_range *r;
	size_t n, cap;
};
int range_list_add(struct range_list *l, uint64_t off, uint64_t len);
void range_list_free(struct range_list *l);
/* Removes [off, off+len) from every range of the list. */
void range_list_subtract(struct range_list *l, uint64_t off, uint64_t len);

/* ---- the block allocator's in-memory state (alloc.c) ---- */
struct allocator {
	pthread_mutex_t mu;
	uint64_t *map;           /* one bit per pool block, 1 = in use */
	uint64_t words;
	uint64_t free_blocks;    /* in the data region */
	uint64_t hint;           /* where the next search starts */
};

/* ---- inode slots in use (inode.c) ---- */
struct ialloc {
	pthread_mutex_t mu;
	uint64_t *map;           /* one bit per inode, 1 = in use */
	uint64_t free_inodes;
	uint64_t hint;
};

/* ---- the inode cache (icache.c) ---- */
struct icache {
	pthread_mutex_t mu;
	struct icache_ent **buckets;
	size_t nbuckets, count;
};

/* ---- the write-intent map (intent.c) ---- */
struct intent {
	pthread_mutex_t mu;      /* arming and cooling */
	uint64_t nextents;
	uint8_t *hot;            /* per extent: 1 = bit set and durable */
	uint32_t *inflight;      /* writers inside the extent */
	uint32_t *last_epoch;    /* epoch of the last write there */
	uint32_t epoch;
	uint64_t nhot;
};

/* ---- background work (reclaim.c) ---- */
struct reclaimer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool running, stop;
	uint64_t *queue;         /* orphans waiting to be freed */
	size_t n, cap;
	uint64_t ticks;          /* wake-ups, for the write-intent cooling */
};

struct nvfs {
	struct pool *pool;
	struct nvmpfs_super sb;
	struct journal j;
	bool read_only;
	int atime_mode;
	struct allocator alloc;
	struct ialloc ialloc;
	bool no_diratime;        /* mounted with nodiratime */
	uint64_t oos_blocks;     /* bits set in the out-of-sync map (oos.c) */
	struct icache icache;
	struct intent intent;
	struct reclaimer reclaim;
	pthread_rwlock_t freeze;
	pthread_mutex_t rename_lock;
	pthread_mutex_t super_lock;   /* superblock writes */
	struct nvfs_stats stats;
	void (*log)(const char *msg); /* where problems are reported */
	bool acl_on;             /* POSIX ACLs: the kernel enforces, we keep */
	bool acl_disabled;       /* mounted with noacl */
	bool csum_on;            /* compute checksums of written blocks */
	bool verify_reads;       /* check them on read */
	bool offline;            /* fsck's private view: no threads, no locks */
	bool made_clean;         /* nvfs_make_clean ran: nothing changes now */
	/* track.c: a mirrored mount's persist hook and what it calls */
	bool tracking;
	pthread_rwlock_t track_lock;
	int (*track_hook)(void *arg, struct pool *pool,
			  const struct pool_range *ranges, size_t count,
			  uint64_t *seq);
	void *track_arg;
	/* self-heal: fetches a pool block's other copy (heal.c) */
	int (*heal_fetch)(void *arg, uint64_t pblk, void *buf);
	void *heal_arg;
	struct lease_table *leases; /* direct-mapping leases (lease.c) */
};

/*
 * Whether the mount is read-only, for callers outside the freeze lock: a
 * hint only (remount may change it at once), so every change that acts on
 * it checks again under change_begin.
 */
static inline bool fs_is_read_only(const struct nvfs *fs)
{
	return __atomic_load_n(&fs->read_only, __ATOMIC_RELAXED);
}

/* ---- fsinfo.c ---- */
/* Map nodes that mapping n more data blocks may need. */
uint64_t nvfs_map_overhead(uint64_t n);

/* ---- tx.c ---- */
/* A change could not be made durable: the mount turns read-only. */
void fs_fail_read_only(struct nvfs *fs, int rc);

/* ---- track.c ---- */
/* Marks every drain out of sync until a sender hooks in (mirrored mounts). */
void track_start(struct nvfs *fs);

/* ---- heal.c ---- */
/* Whether a bad block can be healed (a healer, checksums, read-write). */
bool heal_possible(const struct nvfs *fs);
/*
 * Heals block lblk of a file (not held by the caller) from the healer:
 * 0 when it is good now (healed, or rewritten meanwhile), -EIO when no
 * good copy was found.
 */
int heal_block(struct nvfs *fs, uint64_t ino, uint64_t lblk);

/* ---- oos.c ---- */
void oos_init(struct nvfs *fs);

/* ---- remount.c: around every change of the pool ---- */
/* -EROFS when read-only; otherwise holds the freeze until change_end. */
int change_begin(struct nvfs *fs);
void change_end(struct nvfs *fs);

/* ---- log.c ---- */
void nvfs_log(struct nvfs *fs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Blocks of a directory, bounded so a damaged size cannot run away. */
static inline uint64_t dir_blocks(const struct nvfs *fs,
				  const struct nvmpfs_inode *dir)
{
	uint64_t n = dir->size / NVMPFS_BLOCK_SIZE;
	return n < fs->sb.block_count ? n : fs->sb.block_count;
}

static inline unsigned mode_to_dtype(uint32_t mode)
{
	return (mode >> 12) & 15;
}

static inline bool valid_data_block(const struct nvfs *fs, uint64_t blk)
{
	return blk >= fs->sb.data_start && blk < fs->sb.block_count;
}

#include "alloc.h"
#include "bmap.h"
#include "csum.h"
#include "dir.h"
#include "icache.h"
#include "inode.h"
#include "intent.h"
#include "lease.h"
#include "tx.h"
#include "xattr.h"

#endif
