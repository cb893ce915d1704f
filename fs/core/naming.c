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
 * One inode with a hint; true when its link count or entry changed.  Only
 * a live inode that a create made (not a directory) is settled: any other
 * hint is damage, forgotten without touching a directory.
 */
static bool settle(struct nvfs *fs, uint64_t ino, struct nvmpfs_inode *inode)
{
	bool changed = false;
	if (inode->mode && !S_ISDIR(inode->mode) && hint_sane(fs, inode)) {
		enum slot_verdict v = dir_settle_slot(fs, inode->naming_dir,
						      inode->naming_slot - 1,
						      ino, &changed);
		uint32_t want = v == SLOT_NAMES ? 1 : v == SLOT_FREE ? 0
			      : inode->nlink;
		if (v == SLOT_NAMES && inode->nlink)
			want = inode->nlink;
		if (inode->nlink != want) {
			inode->nlink = want; /* 0: recover_orphans frees it */
			changed = true;
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
