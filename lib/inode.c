/* The inode table: allocation, attributes, and reclaiming dead inodes. */
#include <errno.h>
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

void inode_count_free(struct nvfs *fs)
{
	uint64_t free_inodes = 0;
	for (uint64_t ino = NVMPFS_ROOT_INO; ino < fs->sb.inode_count; ino++)
		free_inodes += inode_get(fs, ino)->mode == 0;
	fs->free_inodes = free_inodes;
	fs->inode_hint = NVMPFS_ROOT_INO + 1;
}

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

int inode_log(struct nvfs *fs, struct nvmpfs_inode *inode)
{
	return tx_log(&fs->j, inode, sizeof(*inode));
}

static uint64_t find_free_inode(struct nvfs *fs)
{
	uint64_t n = fs->sb.inode_count;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t ino = fs->inode_hint + i;
		if (ino >= n)
			ino = ino - n + NVMPFS_ROOT_INO + 1;
		if (ino >= n)
			continue;
		if (inode_get(fs, ino)->mode == 0)
			return ino;
	}
	return 0;
}

int inode_alloc(struct nvfs *fs, uint32_t mode, uint32_t uid, uint32_t gid,
		uint64_t *ino_out)
{
	if (fs->free_inodes == 0)
		return -ENOSPC;
	uint64_t ino = find_free_inode(fs);
	if (!ino)
		return -ENOSPC;
	struct nvmpfs_inode *inode = inode_get(fs, ino);
	int rc = inode_log(fs, inode);
	if (rc)
		return rc;
	uint64_t generation = inode->generation + 1;
	memset(inode, 0, sizeof(*inode));
	inode->mode = mode;
	inode->nlink = 1;
	inode->uid = uid;
	inode->gid = gid;
	inode->generation = generation;
	inode_now(&inode->btime);
	inode->atime = inode->mtime = inode->ctime = inode->btime;
	fs->free_inodes--;
	fs->inode_hint = ino + 1;
	*ino_out = ino;
	return 0;
}

void inode_to_stat(const struct nvfs *fs, uint64_t ino,
		   const struct nvmpfs_inode *inode, struct stat *st)
{
	(void)fs;
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

/* Frees the inode slot itself (the last step; the xattrs are gone). */
static int free_inode_slot(struct nvfs *fs, struct nvmpfs_inode *inode)
{
	int rc = inode_log(fs, inode);
	if (rc)
		return rc;
	uint64_t generation = inode->generation;
	memset(inode, 0, sizeof(*inode));
	inode->generation = generation;
	fs->free_inodes++;
	return 0;
}

int inode_reclaim(struct nvfs *fs, uint64_t ino)
{
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (!inode || inode->nlink != 0)
		return -EINVAL;
	int rc;
	do {
		tx_begin(&fs->j);
		rc = bmap_punch(fs, inode, 0, UINT64_MAX);
		if (rc == 0 || rc == -EAGAIN) {
			tx_commit(&fs->j);
		} else {
			fs_abort(fs);
			return rc;
		}
	} while (rc == -EAGAIN);
	do {
		tx_begin(&fs->j);
		rc = xattr_release_some(fs, inode);
		if (rc == 0 || rc == -EAGAIN) {
			tx_commit(&fs->j);
		} else {
			fs_abort(fs);
			return rc;
		}
	} while (rc == -EAGAIN);
	tx_begin(&fs->j);
	rc = free_inode_slot(fs, inode);
	if (rc) {
		fs_abort(fs);
		return rc;
	}
	tx_commit(&fs->j);
	return 0;
}

void inode_maybe_reclaim(struct nvfs *fs, uint64_t ino)
{
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (!inode || inode->nlink != 0)
		return;
	struct icache_ent *ent = icache_get(fs, ino, false);
	if (ent && (ent->nlookup || ent->opens))
		return;
	if (ent) {
		ent->dirty.n = 0; /* nothing left to sync of a dead file */
		icache_put_if_idle(fs, ent);
	}
	inode_reclaim(fs, ino);
}
