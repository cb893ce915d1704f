/* Open files and directories, and directory listing. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "file.h"
#include "reclaim.h"

static int open_held(struct nvfs *fs, uint64_t ino, int flags)
{
	bool trunc = flags & O_TRUNC;
	struct icache_ent *e = ilock(fs, ino, trunc);
	if (!e)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = 0;
	if (!inode)
		rc = -ENOENT;
	else if (S_ISDIR(inode->mode) && (flags & O_ACCMODE) != O_RDONLY)
		rc = -EISDIR;
	else if (fs_is_read_only(fs) && (flags & O_ACCMODE) != O_RDONLY)
		rc = -EROFS;
	if (rc == 0 && trunc && S_ISREG(inode->mode) && inode->size)
		rc = file_truncate(fs, e, 0);
	if (rc == 0)
		icache_open(fs, e);
	iunlock(fs, e);
	return rc;
}

int nvfs_open(struct nvfs *fs, uint64_t ino, int flags)
{
	/* Only a truncating open changes the pool. */
	bool writes = (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY;
	if (writes) {
		int rc = change_begin(fs);
		if (rc)
			return rc;
	}
	int rc = open_held(fs, ino, flags);
	if (writes)
		change_end(fs);
	return rc;
}

int nvfs_release(struct nvfs *fs, uint64_t ino)
{
	if (icache_close(fs, ino) && !fs_is_read_only(fs))
		reclaim_if_dead(fs, ino);
	return 0;
}

int nvfs_opendir(struct nvfs *fs, uint64_t ino)
{
	struct icache_ent *e = ilock(fs, ino, false);
	if (!e)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = !inode ? -ENOENT : !S_ISDIR(inode->mode) ? -ENOTDIR : 0;
	iunlock(fs, e);
	return rc;
}

struct listing {
	nvfs_dirent_cb cb;
	void *arg;
};

static int list_one(void *arg, const struct nvmpfs_dirent *d, uint64_t slot)
{
	struct listing *l = arg;
	/* Cookies: 0 ".", 1 "..", slot + 2 for the entry at slot. */
	return l->cb(l->arg, d->name, d->name_len, d->ino, d->type,
		     slot + d->nslots + 2) ? 1 : 0;
}

static int list(struct nvfs *fs, uint64_t ino, uint64_t off,
		nvfs_dirent_cb cb, void *arg, bool *touch)
{
	struct nvmpfs_inode *dir = inode_live(fs, ino);
	if (!dir || !S_ISDIR(dir->mode))
		return dir ? -ENOTDIR : -ENOENT;
	*touch = file_atime_wanted(fs, dir);
	if (off == 0 && cb(arg, ".", 1, ino, DT_DIR, 1))
		return 0;
	if (off <= 1 && cb(arg, "..", 2, dir->parent ? dir->parent : ino,
			   DT_DIR, 2))
		return 0;
	struct listing l = { cb, arg };
	dir_walk(fs, dir, off >= 2 ? off - 2 : 0, list_one, &l);
	return 0;
}

int nvfs_readdir(struct nvfs *fs, uint64_t ino, uint64_t off,
		 nvfs_dirent_cb cb, void *arg)
{
	struct icache_ent *e = ilock(fs, ino, false);
	if (!e)
		return -ENOMEM;
	bool touch = false;
	int rc = list(fs, ino, off, cb, arg, &touch);
	iunlock(fs, e);
	if (rc == 0 && touch && !fs->no_diratime && change_begin(fs) == 0) {
		if ((e = ilock(fs, ino, true))) {
			struct nvmpfs_inode *dir = inode_live(fs, ino);
			if (dir && file_atime_wanted(fs, dir))
				file_touch_atime(fs, dir);
			iunlock(fs, e);
		}
		change_end(fs);
	}
	return rc;
}
