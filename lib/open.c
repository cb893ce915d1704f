/* Open files and directories, directory listing, fsync. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "fs.h"

int nvfs_open(struct nvfs *fs, uint64_t ino, int flags)
{
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = 0;
	if (!inode)
		rc = -ENOENT;
	else if (S_ISDIR(inode->mode) && (flags & O_ACCMODE) != O_RDONLY)
		rc = -EISDIR;
	else if (fs->read_only && (flags & O_ACCMODE) != O_RDONLY)
		rc = -EROFS;
	struct icache_ent *ent = rc ? NULL : icache_get(fs, ino, true);
	if (rc == 0 && !ent)
		rc = -ENOMEM;
	if (rc == 0) {
		ent->opens++;
		if ((flags & O_TRUNC) && S_ISREG(inode->mode) && inode->size)
			rc = file_truncate(fs, ino, 0);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int nvfs_release(struct nvfs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->lock);
	struct icache_ent *ent = icache_get(fs, ino, false);
	if (ent && ent->opens > 0) {
		ent->opens--;
		if (ent->nlookup == 0 && ent->opens == 0) {
			icache_put_if_idle(fs, ent);
			if (!fs->read_only)
				inode_maybe_reclaim(fs, ino);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

int nvfs_opendir(struct nvfs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = !inode ? -ENOENT : !S_ISDIR(inode->mode) ? -ENOTDIR : 0;
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

struct listing {
	nvfs_dirent_cb cb;
	void *arg;
	bool stopped;
};

static int list_one(void *arg, const struct nvmpfs_dirent *d, uint64_t slot)
{
	struct listing *l = arg;
	/* Cookies: 0 ".", 1 "..", slot + 2 for the entry at slot. */
	if (l->cb(l->arg, d->name, d->name_len, d->ino, d->type,
		  slot + d->nslots + 2)) {
		l->stopped = true;
		return 1;
	}
	return 0;
}

int nvfs_readdir(struct nvfs *fs, uint64_t ino, uint64_t off,
		 nvfs_dirent_cb cb, void *arg)
{
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *dir = inode_live(fs, ino);
	int rc = 0;
	if (!dir || !S_ISDIR(dir->mode)) {
		rc = dir ? -ENOTDIR : -ENOENT;
		goto out;
	}
	if (off == 0 && cb(arg, ".", 1, ino, DT_DIR, 1))
		goto out;
	if (off <= 1 && cb(arg, "..", 2, dir->parent ? dir->parent : ino,
			   DT_DIR, 2))
		goto out;
	struct listing l = { cb, arg, false };
	dir_walk(fs, dir, off >= 2 ? off - 2 : 0, list_one, &l);
	file_update_atime(fs, dir);
out:
	pthread_mutex_unlock(&fs->lock);
	return rc;
}
