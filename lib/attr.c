/* Attributes: getattr and setattr (mode, owner, size, times). */
#include <errno.h>
#include <string.h>

#include "fs.h"

int nvfs_getattr(struct nvfs *fs, uint64_t ino, struct stat *st)
{
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (inode)
		inode_to_stat(fs, ino, inode, st);
	pthread_mutex_unlock(&fs->lock);
	return inode ? 0 : -ENOENT;
}

uint64_t nvfs_generation(struct nvfs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = inode_get(fs, ino);
	uint64_t generation = inode ? inode->generation : 0;
	pthread_mutex_unlock(&fs->lock);
	return generation;
}

static void set_time(struct nvmpfs_time *t, const struct timespec *ts, bool now)
{
	if (now) {
		inode_now(t);
		return;
	}
	t->sec = ts->tv_sec;
	t->nsec = (uint32_t)ts->tv_nsec;
	t->pad = 0;
}

/* Everything but the size, inside the caller's transaction. */
static void apply_attrs(struct nvmpfs_inode *inode, const struct stat *attr,
			int to_set)
{
	if (to_set & NVFS_SET_MODE)
		inode->mode = (inode->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & NVFS_SET_UID)
		inode->uid = attr->st_uid;
	if (to_set & NVFS_SET_GID)
		inode->gid = attr->st_gid;
	if (to_set & (NVFS_SET_ATIME | NVFS_SET_ATIME_NOW))
		set_time(&inode->atime, &attr->st_atim,
			 to_set & NVFS_SET_ATIME_NOW);
	if (to_set & (NVFS_SET_MTIME | NVFS_SET_MTIME_NOW))
		set_time(&inode->mtime, &attr->st_mtim,
			 to_set & NVFS_SET_MTIME_NOW);
	if (to_set & NVFS_SET_CTIME)
		set_time(&inode->ctime, &attr->st_ctim, false);
	else
		inode_touch(inode, false, true);
}

int nvfs_setattr(struct nvfs *fs, uint64_t ino, const struct stat *attr,
		 int to_set, struct stat *st)
{
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = 0;
	if (!inode)
		rc = -ENOENT;
	else if (fs->read_only)
		rc = -EROFS;
	else if ((to_set & NVFS_SET_SIZE) && S_ISDIR(inode->mode))
		rc = -EISDIR;
	else if ((to_set & NVFS_SET_SIZE) && !S_ISREG(inode->mode))
		rc = -EINVAL;
	else if (attr->st_size < 0)
		rc = -EINVAL;
	if (rc == 0 && (to_set & NVFS_SET_SIZE) &&
	    (uint64_t)attr->st_size != inode->size)
		rc = file_truncate(fs, ino, (uint64_t)attr->st_size);
	if (rc == 0 && (to_set & ~NVFS_SET_SIZE)) {
		tx_begin(&fs->j);
		rc = inode_log(fs, inode);
		if (rc) {
			fs_abort(fs);
		} else {
			apply_attrs(inode, attr, to_set);
			tx_commit(&fs->j);
			if ((to_set & NVFS_SET_MODE) && fs->acl_on)
				rc = xattr_acl_chmod(fs, inode);
		}
	}
	if (rc == 0)
		inode_to_stat(fs, ino, inode, st);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}
