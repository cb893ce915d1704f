/* Settling creates that a crash cut short (see naming.h). */
#include <sys/stat.h>

#include "fs.h"
#include "naming.h"

/* Whether the hint's directory is a live directory that holds the slot. */
static bool hint_sane(struct nvfs *fs, const struct nvmpfs_inode *inode)
{
	if (inode->naming_dir < NVMPFS_ROOT_INO ||
	    inode->naming_dir >= fs->sb.inode_count)
		return false;
	const struct nvmpfs_inode *dir = inode_get(fs, inode->naming_dir);
	uint64_t slot = inode->naming_slot - 1;
	return S_ISDIR(dir->mode) &&
	       slot / NVMPFS_SLOTS_PER_BLOCK < dir_blocks(fs, dir);
}

/*
 * One inode with a hint; true when its entry or link count changed.
 * Its first word (mode and nlink) is the create's second store, with the
 * entry's ino: a live inode that the entry names is whole; anything else
 * is a create cut short, undone (the entry or its stray bytes zeroed, a
 * live inode left an orphan with no blocks).  A hint on a directory, or
 * one whose slot holds another ino, is damage: only forgotten.
 */
static bool settle(struct nvfs *fs, uint64_t ino, struct nvmpfs_inode *inode)
{
	bool changed = false;
	if (hint_sane(fs, inode) && !S_ISDIR(inode->mode)) {
		uint64_t dir = inode->naming_dir, slot = inode->naming_slot - 1;
		enum slot_verdict v = dir_slot_verdict(fs, dir, slot, ino);
		if (v == SLOT_NAMES && inode->mode) {
			if (inode->nlink == 0) {
				inode->nlink = 1;
				changed = true;
			}
		} else if (v != SLOT_FOREIGN) {
			changed = dir_clear_slot(fs, dir, slot);
			if (inode->mode && inode->nlink) {
				inode->nlink = 0; /* recover_orphans frees it */
				changed = true;
			}
		}
	}
	naming_forget(inode);
	pool_flush_ptr(fs->pool, inode, sizeof(*inode));
	return changed;
}

int naming_recover(struct nvfs *fs, uint64_t *settled)
{
	bool any = false;
	*settled = 0;
	for (uint64_t ino = NVMPFS_ROOT_INO + 1; ino < fs->sb.inode_count;
	     ino++) {
		struct nvmpfs_inode *inode = inode_get(fs, ino);
		if (!inode->naming_slot && !inode->naming_dir)
			continue;
		any = true;
		if (settle(fs, ino, inode))
			(*settled)++;
	}
	return any ? pool_drain(fs->pool) : 0;
}
