/*
 * Internal state of a mounted nvmpfs and the functions the core's files
 * share.  Everything here runs with fs->lock held.
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

/* A growable list of byte ranges; adjacent additions merge. */
struct range_list {
	struct pool_range *r;
	size_t n, cap;
};
int range_list_add(struct range_list *l, uint64_t off, uint64_t len);
void range_list_free(struct range_list *l);
/* Removes [off, off+len) from every range of the list. */
void range_list_subtract(struct range_list *l, uint64_t off, uint64_t len);

/* In-memory state of an inode that the kernel or an open file holds. */
struct icache_ent {
	uint64_t ino;
	uint64_t nlookup;        /* kernel references (lookup minus forget) */
	uint32_t opens;
	struct dir_index *dir;   /* directories: name index, built on use */
	/*
	 * File byte ranges written since the last sync point that covered
	 * them (already durable: every WRITE is persisted before its reply;
	 * the sync layer uses them for checksums, verify and the mirror).
	 */
	struct range_list dirty;
	struct range_list bad;   /* file ranges that failed verification */
	struct icache_ent *next; /* hash chain */
};

struct icache {
	struct icache_ent **buckets;
	size_t nbuckets, count;
};

/* Checksums computed at WRITE time, not yet stored in the pool's table. */
struct csum_entry {
	uint64_t pblk;           /* 0: empty */
	uint64_t sum;
};
struct csum_pending {
	struct csum_entry *tab;
	size_t cap, count;
};

struct nvfs {
	pthread_mutex_t lock;
	struct pool *pool;
	struct nvmpfs_super sb;
	struct journal j;
	bool read_only;
	int atime_mode;
	bool no_diratime;        /* mounted with nodiratime */
	uint64_t free_blocks;    /* in the data region */
	uint64_t alloc_hint;     /* where the next allocation search starts */
	uint64_t free_inodes;
	uint64_t inode_hint;
	struct icache icache;
	struct nvfs_stats stats;
	void (*log)(const char *msg); /* where problems are reported */
	bool acl_on;             /* POSIX ACLs: the kernel enforces, we keep */
	bool acl_disabled;       /* mounted with noacl */
	bool csum_on;            /* compute checksums of written blocks */
	bool verify_reads;       /* check them on read */
	struct csum_pending pending;
};

/* ---- alloc.c: the block bitmap ---- */
void alloc_init(struct nvfs *fs);
/* Allocates up to want blocks in one run, at goal if it is free. */
int alloc_run(struct nvfs *fs, uint64_t goal, uint64_t want,
	      uint64_t *start, uint64_t *got);
int alloc_free(struct nvfs *fs, uint64_t start, uint64_t count);
bool alloc_is_used(const struct nvfs *fs, uint64_t blk);
uint64_t *alloc_bitmap(const struct nvfs *fs);

/* ---- inode.c: the inode table and the in-memory inode cache ---- */
struct nvmpfs_inode *inode_get(const struct nvfs *fs, uint64_t ino);
/* An in-use inode, or NULL if ino is out of range or free. */
struct nvmpfs_inode *inode_live(const struct nvfs *fs, uint64_t ino);
void inode_count_free(struct nvfs *fs);
int inode_alloc(struct nvfs *fs, uint32_t mode, uint32_t uid, uint32_t gid,
		uint64_t *ino_out);
/* Logs the whole inode before a change. */
int inode_log(struct nvfs *fs, struct nvmpfs_inode *inode);
void inode_touch(struct nvmpfs_inode *inode, bool m, bool c);
void inode_now(struct nvmpfs_time *t);
void inode_to_stat(const struct nvfs *fs, uint64_t ino,
		   const struct nvmpfs_inode *inode, struct stat *st);
/* Frees an inode with nlink 0 and every block it holds (several commits). */
int inode_reclaim(struct nvfs *fs, uint64_t ino);
/* Frees the inode if nothing refers to it any more. */
void inode_maybe_reclaim(struct nvfs *fs, uint64_t ino);

struct icache_ent *icache_get(struct nvfs *fs, uint64_t ino, bool create);
void icache_put_if_idle(struct nvfs *fs, struct icache_ent *ent);
void icache_init(struct icache *ic);
void icache_fini(struct nvfs *fs);
void icache_drop_dir_indexes(struct nvfs *fs);
/* Forgets every file's dirty ranges (after a whole-pool sync point). */
void icache_clear_dirty(struct nvfs *fs);

/* ---- bmap.c: file block maps ---- */
/* Physical block of file block lblk, 0 for a hole; *run = contiguous run. */
uint64_t bmap_lookup(struct nvfs *fs, const struct nvmpfs_inode *inode,
		     uint64_t lblk, uint64_t *run);
/*
 * Maps file block lblk (and, for holes that follow, up to want blocks in
 * one run).  *pblk is the first physical block, *got how many blocks of the
 * run are mapped, *fresh whether they were just allocated (not zeroed).
 */
int bmap_map(struct nvfs *fs, struct nvmpfs_inode *inode, uint64_t lblk,
	     uint64_t want, uint64_t *pblk, uint64_t *got, bool *fresh);
/*
 * Unmaps and frees file blocks [first, last] in steps; returns 0 when all
 * are done, or -EAGAIN after using up the transaction's room (commit and
 * call again), or another negative errno.
 */
int bmap_punch(struct nvfs *fs, struct nvmpfs_inode *inode, uint64_t first,
	       uint64_t last);
/* First mapped block >= lblk (data), or first hole >= lblk. */
uint64_t bmap_next(struct nvfs *fs, const struct nvmpfs_inode *inode,
		   uint64_t lblk, bool want_data);
/* Visits every block the map holds (nodes too); for fsck. */
typedef int (*bmap_visit_cb)(void *arg, uint64_t lblk, uint64_t pblk,
			     bool is_node);
int bmap_walk(struct nvfs *fs, const struct nvmpfs_inode *inode,
	      bmap_visit_cb cb, void *arg);

/* ---- dir.c: directory entries and their name index ---- */
struct dir_hit {
	uint64_t ino;
	unsigned type;
	uint64_t slot;
};
int dir_find(struct nvfs *fs, uint64_t dino, const char *name, size_t len,
	     struct dir_hit *hit);
int dir_add(struct nvfs *fs, uint64_t dino, const char *name, size_t len,
	    uint64_t ino, unsigned type);
int dir_remove(struct nvfs *fs, uint64_t dino, uint64_t slot);
int dir_retarget(struct nvfs *fs, uint64_t dino, uint64_t slot, uint64_t ino,
		 unsigned type);
bool dir_is_empty(struct nvfs *fs, uint64_t dino);
void dir_index_free(struct dir_index *idx);
typedef int (*dir_visit_cb)(void *arg, const struct nvmpfs_dirent *d,
			    uint64_t slot);
int dir_walk(struct nvfs *fs, const struct nvmpfs_inode *dir,
	     uint64_t from_slot, dir_visit_cb cb, void *arg);

/* ---- csum.c: per-block checksums (see csum.c for the lifecycle) ---- */
uint64_t csum_of_block(const struct nvfs *fs, uint64_t pblk);
/* The checksum of 4 KiB of memory (never 0). */
uint64_t csum_of_buffer(const void *block);
/* A block's new checksum, computed by the caller from the data it wrote. */
void csum_note_sum(struct nvfs *fs, uint64_t pblk, uint64_t sum);
/* Blocks just allocated or freed: no checksum (flushed, not drained). */
void csum_forget_blocks(struct nvfs *fs, uint64_t pblk, uint64_t n);
/*
 * Before changing blocks in place: clears their stored checksums.
 * Returns true when something was cleared; the caller must drain before
 * it stores into the blocks.
 */
bool csum_begin_change(struct nvfs *fs, uint64_t pblk, uint64_t n);
/* After changing blocks: computes their pending checksums. */
void csum_note_changed(struct nvfs *fs, uint64_t pblk, uint64_t n);
uint64_t csum_expected(const struct nvfs *fs, uint64_t pblk);
/* 0 when the block matches, 1 when it has no checksum, -EIO on mismatch. */
int csum_check_block(const struct nvfs *fs, uint64_t pblk);
/* Stores a pending checksum in the table (flushed); false if none. */
bool csum_persist_block(struct nvfs *fs, uint64_t pblk);
/*
 * Stores every pending checksum (flushed, durable at the next drain).
 * Call only once the data they cover is durable: at the end of a call.
 */
void csum_persist_all(struct nvfs *fs);
void csum_fini(struct nvfs *fs);

/* ---- file.c: data ---- */
/* Updates atime per the mount's atime mode (relatime by default). */
void file_update_atime(struct nvfs *fs, struct nvmpfs_inode *inode);
/* Records a block that failed its checksum: counted, logged, listed. */
void file_note_bad_block(struct nvfs *fs, uint64_t ino, uint64_t lblk,
			 uint64_t pblk, const char *found_by);
void file_note_dirty(struct nvfs *fs, uint64_t ino, uint64_t off, uint64_t len);
int file_truncate(struct nvfs *fs, uint64_t ino, uint64_t size);
/* Zeroes mapped bytes at or past EOF (after a rollback). */
void file_zero_past_eof(struct nvfs *fs, uint64_t ino);
/* Finishes an interrupted truncate (mount). */
int file_finish_truncate(struct nvfs *fs, uint64_t ino);

/* ---- xattr.c: for ACLs (acl.c holds the ACL logic) ---- */
/* Copies an attribute's value; -ENODATA, -ERANGE. */
ssize_t xattr_find(struct nvfs *fs, const struct nvmpfs_inode *inode,
		   const char *name, void *value, size_t size);
/* The inherited ACLs of a new inode, inside the caller's transaction. */
int xattr_init_acls(struct nvfs *fs, struct nvmpfs_inode *inode,
		    const void *access, size_t access_size, const void *dflt,
		    size_t dflt_size);
/* After a chmod: the access ACL follows the mode (its own transaction). */
int xattr_acl_chmod(struct nvfs *fs, struct nvmpfs_inode *inode);

/* ---- fs.c ---- */
void nvfs_log(struct nvfs *fs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Rolls back the open transaction and the in-memory state it touched. */
void fs_abort(struct nvfs *fs);
bool fs_valid_name(const char *name, size_t len);

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

#endif
