/*
 * Creates that publish their name with one store.
 *
 * A create in a directory that has room for the name in a block it
 * already holds (the common case) needs no journal and two drains:
 *
 *   1. the new inode, its first word (mode and nlink) still 0 -- the
 *      slot is free until drain 2 --, with its name hint (layout.h:
 *      naming_dir, naming_slot) and a map word of 0, and the entry's
 *      body (type, name) in the free slots, its ino still 0: nobody sees
 *      either.  Drain.
 *   2. the entry's ino (one 8-byte store: the entry now exists), the
 *      inode's first word (mode, nlink 1: one 8-byte store: the inode now
 *      lives), the directory's times.  Drain.
 *
 * Why the mode waits for drain 2: a free slot keeps the map word and the
 * xattr root of the inode it held last, whose blocks others may own now;
 * a mode made durable by a torn drain 1 without the new map word would
 * make that map live again.  A crash in drain 1 leaves the slot free
 * (stray bytes in the directory's free slots at most).  A crash in drain
 * 2 may keep one store and not the other: recovery reads the hint and
 * settles it -- an entry naming a live inode: whole; anything else:
 * undone (the entry zeroed; a live inode nobody names freed as an
 * orphan, with the map word 0 that drain 1 made durable).  So after any
 * crash the create happened wholly or not at all.
 *
 * The hint goes stale once the inode's names change, so link, unlink and
 * rename clear it (naming_forget) in the transaction that changes them,
 * which logs the inode anyway.  Until then it names the create's entry.
 */
#ifndef NVMPFS_NAMING_H
#define NVMPFS_NAMING_H

#include <stdint.h>

#include "nvmpfs/layout.h"

struct nvfs;

static inline void naming_hint(struct nvmpfs_inode *inode, uint64_t dir,
			       uint64_t slot)
{
	inode->naming_dir = dir;
	inode->naming_slot = slot + 1;
}

/* Inside a transaction that logged inode and changes its names. */
static inline void naming_forget(struct nvmpfs_inode *inode)
{
	inode->naming_dir = 0;
	inode->naming_slot = 0;
}

/*
 * After a crash, once the journal is rolled back: settles every create
 * that a crash cut between its two drains (see above) and clears every
 * hint.  *settled counts the inodes whose link count or entry changed.
 * Returns 0 or the drain's error.
 */
int naming_recover(struct nvfs *fs, uint64_t *settled);

#endif
