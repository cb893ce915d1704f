/*
 * The inode table: slots, their allocation (a bitmap in memory, built at
 * mount, like the block allocator's), times, and freeing a dead inode.
 */
#ifndef NVMPFS_INODE_H
#define NVMPFS_INODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "nvmpfs/layout.h"

struct nvfs;
struct tx;

struct nvmpfs_inode *inode_get(const struct nvfs *fs, uint64_t ino);
/* An in-use inode, or NULL if ino is out of range or free. */
struct nvmpfs_inode *inode_live(const struct nvfs *fs, uint64_t ino);

int ialloc_init(struct nvfs *fs);
void ialloc_fini(struct nvfs *fs);
uint64_t ialloc_free_count(struct nvfs *fs);
/* Gives a slot back (its free must be durable already). */
void ialloc_release(struct nvfs *fs, uint64_t ino);

/* Takes a free slot, outside a transaction (naming.h); 0 when none. */
uint64_t inode_take_slot(struct nvfs *fs);
/*
 * Takes a free slot for a new inode and logs it; after tx_ready the
 * caller fills it with inode_init.
 */
int inode_take(struct tx *tx, uint64_t *ino_out);
void inode_init(struct nvmpfs_inode *inode, uint32_t mode, uint32_t uid,
		uint32_t gid);
/* Logs the whole inode before a change. */
int inode_log(struct tx *tx, struct nvmpfs_inode *inode);

void inode_now(struct nvmpfs_time *t);
/* Sets times in place inside a transaction. */
void inode_touch(struct nvmpfs_inode *inode, bool m, bool c);
/*
 * Sets a time outside a transaction: two 8-byte stores (seconds, then
 * nanoseconds), flushed; durable at the caller's next drain.
 */
void inode_store_time(struct nvfs *fs, struct nvmpfs_time *t,
		      const struct nvmpfs_time *value);
void inode_touch_now(struct nvfs *fs, struct nvmpfs_inode *inode, bool m,
		     bool c);
/*
 * The times a change of data or entries sets (ctime, and mtime when m),
 * outside a transaction -- unless both were set less than a tick of the
 * kernel's coarse clock ago (1-10 ms), the granularity the kernel itself
 * gives file times.  A run of small writes then stores the inode once a
 * tick, not once a write: on a pool in a disk's page cache that is one
 * page fewer for most drains to write back.  Returns whether it stored.
 */
bool inode_touch_data_change(struct nvfs *fs, struct nvmpfs_inode *inode,
			     bool m);
/* One 8-byte field of an inode, stored outside a transaction. */
void inode_store64(struct nvfs *fs, uint64_t *field, uint64_t value);
void inode_to_stat(uint64_t ino, const struct nvmpfs_inode *inode,
		   struct stat *st);

/*
 * Frees an inode with nlink 0 and every block it holds, in steps (the
 * caller holds its lock exclusively).  A crash in between leaves an orphan
 * that the next mount frees.
 */
int inode_reclaim(struct nvfs *fs, uint64_t ino);

#endif
