/* Recovery after an unclean shutdown (see recover.h). */
#include <errno.h>

#include "file.h"
#include "naming.h"
#include "recover.h"

struct counting {
	struct nvfs *fs;
	uint64_t blocks;
	uint64_t doubles;        /* blocks another inode holds too */
};

static int count_block(void *arg, uint64_t lblk, uint64_t pblk, bool is_node)
{
	(void)lblk;
	(void)is_node;
	struct counting *c = arg;
	if (!valid_data_block(c->fs, pblk))
		return 0;
	if (!alloc_mark(c->fs, pblk, 1))
		c->doubles++;
	c->blocks++;
	return 0;
}

static bool count_xattr_block(void *arg, uint64_t blk)
{
	count_block(arg, 0, blk, false);
	return true;
}

/* Marks what one inode holds; fixes its block count if it is off. */
static void rebuild_inode(struct nvfs *fs, uint64_t ino,
			  struct nvmpfs_inode *inode, bool fix,
			  struct nvfs_mount_report *report)
{
	struct counting c = { fs, 0, 0 };
	bmap_walk(fs, inode, count_block, &c);
	xattr_walk_blocks(fs, inode, count_xattr_block, &c);
	if (c.doubles)
		nvfs_log(fs, "inode %llu holds %llu blocks another inode holds "
			 "too; run fsck.nvmpfs", (unsigned long long)ino,
			 (unsigned long long)c.doubles);
	if (c.blocks != inode->blocks && fix) {
		inode_store64(fs, &inode->blocks, c.blocks);
		report->blocks_recounted++;
	}
}

int recover_allocator(struct nvfs *fs, struct nvfs_mount_report *report)
{
	if (alloc_start_rebuild(fs))
		return -ENOMEM;
	bool fix = !fs->read_only;
	for (uint64_t ino = NVMPFS_ROOT_INO; ino < fs->sb.inode_count; ino++) {
		struct nvmpfs_inode *inode = inode_get(fs, ino);
		if (inode->mode)
			rebuild_inode(fs, ino, inode, fix, report);
	}
	alloc_finish_rebuild(fs);
	if (!fix)
		return 0;
	/* A free block's checksum word is 0 (a write cut short may not). */
	for (uint64_t b = fs->sb.data_start; b < fs->sb.block_count; b++)
		if (*csum_word(fs, b) && !alloc_is_used(fs, b))
			csum_store(fs, b, 0);
	return pool_drain(fs->pool);
}

int recover_orphans(struct nvfs *fs, struct nvfs_mount_report *report)
{
	int first_rc = 0;
	for (uint64_t ino = NVMPFS_ROOT_INO + 1; ino < fs->sb.inode_count; ino++) {
		struct nvmpfs_inode *inode = inode_get(fs, ino);
		if (!inode->mode || inode->nlink != 0)
			continue;
		int rc = inode_reclaim(fs, ino);
		if (rc == 0)
			report->orphans_freed++;
		else if (!first_rc)
			first_rc = rc;
	}
	return first_rc;
}

/*
 * A first write cut in its last drain may have kept the size and lost the
 * map word: the size goes too (layout.h, NVMPFS_IFLAG_FIRST_MAP).
 */
static bool settle_first_map(struct nvfs *fs, struct nvmpfs_inode *inode)
{
	/* With a map word the flag says nothing: left for a truncate. */
	if (!(inode->flags & NVMPFS_IFLAG_FIRST_MAP) || inode->map)
		return false;
	inode->size = 0;
	inode->flags &= ~NVMPFS_IFLAG_FIRST_MAP;
	pool_flush_ptr(fs->pool, inode, sizeof(*inode));
	return true;
}

int recover_view_after_crash(struct nvfs *fs, struct nvfs_mount_report *report)
{
	uint64_t settled = 0;
	int rc = naming_recover(fs, &settled);
	report->creates_settled = settled;
	if (rc == 0)
		rc = intent_recover(fs, &report->torn_blocks);
	for (uint64_t ino = NVMPFS_ROOT_INO; rc == 0 && ino < fs->sb.inode_count;
	     ino++) {
		struct nvmpfs_inode *inode = inode_get(fs, ino);
		if (S_ISREG(inode->mode))
			settle_first_map(fs, inode);
	}
	/* Nothing reaches the pool file: the drain only ends the batch. */
	return rc ? rc : pool_drain(fs->pool);
}

int recover_after_crash(struct nvfs *fs, struct nvfs_mount_report *report)
{
	uint64_t unverified = 0, settled = 0;
	/* First: a create cut short must not leave an orphan that is named. */
	int rc = naming_recover(fs, &settled);
	report->creates_settled = settled;
	if (rc == 0)
		rc = intent_recover(fs, &unverified);
	report->torn_blocks = unverified;
	for (uint64_t ino = NVMPFS_ROOT_INO; rc == 0 && ino < fs->sb.inode_count;
	     ino++) {
		struct nvmpfs_inode *inode = inode_get(fs, ino);
		if (!S_ISREG(inode->mode))
			continue;
		if (settle_first_map(fs, inode))
			rc = pool_drain(fs->pool);
		/* A write cut short may have left bytes past EOF. */
		if (rc == 0 && inode->nlink)
			rc = file_zero_past_eof(fs, ino);
		if (rc == 0 && (inode->flags & NVMPFS_IFLAG_TRUNCATING) &&
		    file_finish_truncate(fs, ino) == 0)
			report->truncates_finished++;
	}
	if (rc == 0)
		rc = recover_orphans(fs, report);
	return rc;
}
