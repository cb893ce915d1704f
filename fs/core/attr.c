/*
 * Attributes: getattr and setattr (mode, owner, size, times).  A change
 * of mode, owner or times needs no journal: each is one aligned 8-byte
 * word of the inode (mode shares its word with nlink, uid with gid, each
 * time is two words), so the change is one drain.
 */
#include <errno.h>
#include <string.h>

#include "file.h"

int nvfs_getattr(struct nvfs *fs, uint64_t ino, struct stat *st)
{
	struct icache_ent *e = ilock(fs, ino, false);
	if (!e)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (inode)
		inode_to_stat(ino, inode, st);
	iunlock(fs, e);
	return inode ? 0 : -ENOENT;
}

uint64_t nvfs_generation(struct nvfs *fs, uint64_t ino)
{
	struct icache_ent *e = ilock(fs, ino, false);
	if (!e)
		return 0;
	struct nvmpfs_inode *inode = inode_get(fs, ino);
	uint64_t generation = inode ? inode->generation : 0;
	iunlock(fs, e);
	return generation;
}

static void to_time(struct nvmpfs_time *t, const struct timespec *ts,
		    bool now)
{
	if (now) {
		inode_now(t);
		return;
	}
	t->sec = ts->tv_sec;
	t->nsec = (uint32_t)ts->tv_nsec;
	t->pad = 0;
}

/* The words of an inode that hold two 32-bit fields each. */
static uint64_t *word_at(struct nvmpfs_inode *inode, void *field)
{
	(void)inode;
	return (uint64_t *)field;
}

static uint64_t pair(uint32_t lo, uint32_t hi)
{
	return (uint64_t)lo | ((uint64_t)hi << 32);
}

/* Everything but the size, as single-word stores (flushed). */
static void store_attrs(struct nvfs *fs, struct nvmpfs_inode *inode,
			const struct stat *attr, int to_set)
{
	if (to_set & NVFS_SET_MODE) {
		uint32_t mode = (inode->mode & S_IFMT) | (attr->st_mode & 07777);
		inode_store64(fs, word_at(inode, &inode->mode),
			      pair(mode, inode->nlink));
	}
	if (to_set & (NVFS_SET_UID | NVFS_SET_GID)) {
		uint32_t uid = to_set & NVFS_SET_UID ? attr->st_uid : inode->uid;
		uint32_t gid = to_set & NVFS_SET_GID ? attr->st_gid : inode->gid;
		inode_store64(fs, word_at(inode, &inode->uid), pair(uid, gid));
	}
	struct nvmpfs_time t;
	if (to_set & (NVFS_SET_ATIME | NVFS_SET_ATIME_NOW)) {
		to_time(&t, &attr->st_atim, to_set & NVFS_SET_ATIME_NOW);
		inode_store_time(fs, &inode->atime, &t);
	}
	if (to_set & (NVFS_SET_MTIME | NVFS_SET_MTIME_NOW)) {
		to_time(&t, &attr->st_mtim, to_set & NVFS_SET_MTIME_NOW);
		inode_store_time(fs, &inode->mtime, &t);
	}
	if (to_set & NVFS_SET_CTIME) {
		to_time(&t, &attr->st_ctim, false);
		inode_store_time(fs, &inode->ctime, &t);
	} else {
		inode_touch_now(fs, inode, false, true);
	}
}

static int check_setattr(struct nvfs *fs, const struct nvmpfs_inode *inode,
			 const struct stat *attr, int to_set)
{
	if (!inode)
		return -ENOENT;
	if (fs->read_only)
		return -EROFS;
	if ((to_set & NVFS_SET_SIZE) && S_ISDIR(inode->mode))
		return -EISDIR;
	if ((to_set & NVFS_SET_SIZE) && !S_ISREG(inode->mode))
		return -EINVAL;
	if (attr->st_size < 0)
		return -EINVAL;
	return 0;
}

int nvfs_setattr(struct nvfs *fs, uint64_t ino, const struct stat *attr,
		 int to_set, struct stat *st)
{
	int rc = change_begin(fs);
	if (rc)
		return rc;
	struct icache_ent *e = ilock(fs, ino, true);
	if (!e) {
		change_end(fs);
		return -ENOMEM;
	}
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	rc = check_setattr(fs, inode, attr, to_set);
	if (rc == 0 && (to_set & NVFS_SET_SIZE) &&
	    (uint64_t)attr->st_size != inode->size)
		rc = file_truncate(fs, e, (uint64_t)attr->st_size);
	if (rc == 0 && (to_set & ~NVFS_SET_SIZE)) {
		store_attrs(fs, inode, attr, to_set);
		rc = pool_drain(fs->pool);
		if (rc == 0 && (to_set & NVFS_SET_MODE) && fs->acl_on)
			rc = xattr_acl_chmod(fs, inode);
	}
	if (rc == 0)
		inode_to_stat(ino, inode, st);
	iunlock(fs, e);
	change_end(fs);
	return rc;
}
