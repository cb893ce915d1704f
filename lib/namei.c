/*
 * Names: lookup, create (mknod, mkdir, symlink), link, unlink, rmdir,
 * rename.  Each call is one transaction; an inode whose last name goes
 * away is freed once the kernel forgets it and no open file holds it.
 */
#include <errno.h>
#include <string.h>

#include "acl.h"
#include "fs.h"

/* Counts a kernel reference taken by a reply that returns an entry. */
static void take_lookup(struct nvfs *fs, uint64_t ino)
{
	struct icache_ent *ent = icache_get(fs, ino, true);
	if (ent)
		ent->nlookup++;
}

static int entry_reply(struct nvfs *fs, uint64_t ino, struct stat *st)
{
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (!inode)
		return -EIO;
	inode_to_stat(fs, ino, inode, st);
	take_lookup(fs, ino);
	return 0;
}

int nvfs_lookup(struct nvfs *fs, uint64_t parent, const char *name,
		struct stat *st)
{
	size_t len = strlen(name);
	if (len > NVMPFS_MAX_NAME)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *dir = inode_live(fs, parent);
	int rc = 0;
	uint64_t ino = 0;
	struct dir_hit hit;
	/* "." of any inode: how the kernel finds an inode from a file handle. */
	if (!dir)
		rc = -ENOENT;
	else if (strcmp(name, ".") == 0)
		ino = parent;
	else if (!S_ISDIR(dir->mode))
		rc = -ENOTDIR;
	else if (strcmp(name, "..") == 0)
		ino = dir->parent ? dir->parent : NVMPFS_ROOT_INO;
	else if ((rc = dir_find(fs, parent, name, len, &hit)) == 0)
		ino = hit.ino;
	if (rc == 0)
		rc = entry_reply(fs, ino, st);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

void nvfs_forget(struct nvfs *fs, uint64_t ino, uint64_t nlookup)
{
	pthread_mutex_lock(&fs->lock);
	struct icache_ent *ent = icache_get(fs, ino, false);
	if (ent) {
		ent->nlookup = nlookup > ent->nlookup ? 0 : ent->nlookup - nlookup;
		if (ent->nlookup == 0 && ent->opens == 0) {
			icache_put_if_idle(fs, ent);
			if (!fs->read_only)
				inode_maybe_reclaim(fs, ino);
		}
	}
	pthread_mutex_unlock(&fs->lock);
}

/* Checks that parent is a directory that can take a new entry `name`. */
static int check_new_name(struct nvfs *fs, uint64_t parent, const char *name,
			  struct nvmpfs_inode **dir_out)
{
	size_t len = strlen(name);
	if (len > NVMPFS_MAX_NAME)
		return -ENAMETOOLONG;
	if (!fs_valid_name(name, len))
		return -EINVAL;
	if (fs->read_only)
		return -EROFS;
	struct nvmpfs_inode *dir = inode_live(fs, parent);
	if (!dir)
		return -ENOENT;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (dir->nlink == 0)
		return -ENOENT; /* removed while someone was inside */
	struct dir_hit hit;
	int rc = dir_find(fs, parent, name, len, &hit);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	*dir_out = dir;
	return 0;
}

/* The group and mode a new inode gets in dir (setgid directories). */
static void inherit(const struct nvmpfs_inode *dir, const struct nvfs_ctx *ctx,
		    mode_t *mode, gid_t *gid)
{
	*gid = ctx->gid;
	if (dir->mode & S_ISGID) {
		*gid = dir->gid;
		if (S_ISDIR(*mode))
			*mode |= S_ISGID;
	}
}

/* The ACLs a new inode gets from its directory's default ACL. */
struct inherited {
	uint8_t access[ACL_MAX_SIZE], dflt[ACL_MAX_SIZE];
	size_t access_size, dflt_size;
};

/*
 * With ACLs on, the kernel leaves the umask to us: a directory's default
 * ACL replaces it (POSIX.1e), otherwise it applies.  Symlinks get neither.
 */
static void inherit_acls(struct nvfs *fs, const struct nvmpfs_inode *dir,
			 const struct nvfs_ctx *ctx, mode_t *mode,
			 struct inherited *acl)
{
	acl->access_size = acl->dflt_size = 0;
	if (!fs->acl_on || S_ISLNK(*mode))
		return;
	ssize_t n = xattr_find(fs, dir, ACL_XATTR_DEFAULT, acl->dflt,
			       sizeof(acl->dflt));
	if (n < 0 || !acl_valid(acl->dflt, (size_t)n)) {
		*mode &= ~(mode_t)(ctx->umask & 0777);
		return;
	}
	uint32_t m = *mode;
	if (acl_inherit(acl->dflt, (size_t)n, &m, acl->access))
		acl->access_size = (size_t)n;
	*mode = m;
	if (S_ISDIR(*mode))
		acl->dflt_size = (size_t)n;
}

/*
 * Makes an inode of `mode` named `name` in parent, inside the caller's
 * transaction.  *inode_out points at the new inode.
 */
static int create_inode(struct nvfs *fs, const struct nvfs_ctx *ctx,
			uint64_t parent, struct nvmpfs_inode *dir,
			const char *name, mode_t mode, uint64_t *ino_out,
			struct nvmpfs_inode **inode_out)
{
	gid_t gid;
	struct inherited acl;
	inherit(dir, ctx, &mode, &gid);
	inherit_acls(fs, dir, ctx, &mode, &acl);
	uint64_t ino;
	int rc = inode_alloc(fs, mode, ctx->uid, gid, &ino);
	if (rc)
		return rc;
	struct nvmpfs_inode *inode = inode_get(fs, ino);
	rc = xattr_init_acls(fs, inode, acl.access_size ? acl.access : NULL,
			     acl.access_size, acl.dflt_size ? acl.dflt : NULL,
			     acl.dflt_size);
	if (rc)
		return rc;
	if ((rc = inode_log(fs, dir)))
		return rc;
	rc = dir_add(fs, parent, name, strlen(name), ino, mode_to_dtype(mode));
	if (rc)
		return rc;
	*ino_out = ino;
	*inode_out = inode;
	return 0;
}

static int finish_create(struct nvfs *fs, int rc, uint64_t ino, struct stat *st)
{
	if (rc) {
		fs_abort(fs);
		return rc;
	}
	tx_commit(&fs->j);
	return entry_reply(fs, ino, st);
}

int nvfs_mknod(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t parent,
	       const char *name, mode_t mode, dev_t rdev, struct stat *st)
{
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) &&
	    !S_ISCHR(mode) && !S_ISBLK(mode))
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *dir, *inode;
	uint64_t ino = 0;
	int rc = check_new_name(fs, parent, name, &dir);
	if (rc == 0) {
		tx_begin(&fs->j);
		rc = create_inode(fs, ctx, parent, dir, name, mode, &ino, &inode);
		if (rc == 0 && (S_ISCHR(mode) || S_ISBLK(mode)))
			inode->rdev = rdev;
		rc = finish_create(fs, rc, ino, st);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int nvfs_mkdir(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t parent,
	       const char *name, mode_t mode, struct stat *st)
{
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *dir, *inode;
	uint64_t ino = 0;
	int rc = check_new_name(fs, parent, name, &dir);
	if (rc == 0 && dir->nlink >= UINT32_MAX - 1)
		rc = -EMLINK;
	if (rc == 0) {
		tx_begin(&fs->j);
		rc = create_inode(fs, ctx, parent, dir, name,
				  S_IFDIR | (mode & 07777), &ino, &inode);
		if (rc == 0) {
			inode->nlink = 2;
			inode->parent = parent;
			dir->nlink++;
		}
		rc = finish_create(fs, rc, ino, st);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int nvfs_symlink(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t parent,
		 const char *name, const char *target, struct stat *st)
{
	size_t len = strlen(target);
	if (len == 0)
		return -ENOENT;
	if (len > NVMPFS_MAX_SYMLINK)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *dir, *inode;
	uint64_t ino = 0;
	int rc = check_new_name(fs, parent, name, &dir);
	if (rc == 0) {
		tx_begin(&fs->j);
		rc = create_inode(fs, ctx, parent, dir, name, S_IFLNK | 0777, &ino,
				  &inode);
		uint64_t pblk, got;
		bool fresh;
		if (rc == 0)
			rc = bmap_map(fs, inode, 0, 1, &pblk, &got, &fresh);
		if (rc == 0) {
			pool_zero(fs->pool, pblk * NVMPFS_BLOCK_SIZE,
				  NVMPFS_BLOCK_SIZE);
			pool_copy(fs->pool, pblk * NVMPFS_BLOCK_SIZE, target, len);
			inode->size = len;
		}
		rc = finish_create(fs, rc, ino, st);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int nvfs_readlink(struct nvfs *fs, uint64_t ino, char *buf, size_t size)
{
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc;
	uint64_t pblk = 0;
	if (!inode)
		rc = -ENOENT;
	else if (!S_ISLNK(inode->mode))
		rc = -EINVAL;
	else if (inode->size > NVMPFS_MAX_SYMLINK ||
		 !(pblk = bmap_lookup(fs, inode, 0, NULL)))
		rc = -EIO;
	else {
		size_t n = inode->size < size - 1 ? inode->size : size - 1;
		memcpy(buf, pool_block(fs->pool, pblk), n);
		buf[n] = '\0';
		rc = (int)n;
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int nvfs_link(struct nvfs *fs, uint64_t ino, uint64_t newparent,
	      const char *newname, struct stat *st)
{
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *dir, *inode = inode_live(fs, ino);
	int rc = check_new_name(fs, newparent, newname, &dir);
	if (rc == 0 && !inode)
		rc = -ENOENT;
	else if (rc == 0 && S_ISDIR(inode->mode))
		rc = -EPERM;
	else if (rc == 0 && inode->nlink >= UINT32_MAX - 1)
		rc = -EMLINK;
	else if (rc == 0 && inode->nlink == 0)
		rc = -ENOENT; /* linkat of an unlinked open file */
	if (rc == 0) {
		tx_begin(&fs->j);
		rc = inode_log(fs, inode);
		if (rc == 0)
			rc = inode_log(fs, dir);
		if (rc == 0)
			rc = dir_add(fs, newparent, newname, strlen(newname), ino,
				     mode_to_dtype(inode->mode));
		if (rc == 0) {
			inode->nlink++;
			inode_touch(inode, false, true);
		}
		rc = finish_create(fs, rc, ino, st);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

/* Finds name in parent for a removal; fills hit and the target inode. */
static int find_victim(struct nvfs *fs, uint64_t parent, const char *name,
		       struct dir_hit *hit, struct nvmpfs_inode **dir_out,
		       struct nvmpfs_inode **victim)
{
	size_t len = strlen(name);
	if (len > NVMPFS_MAX_NAME)
		return -ENAMETOOLONG;
	if (fs->read_only)
		return -EROFS;
	struct nvmpfs_inode *dir = inode_live(fs, parent);
	if (!dir)
		return -ENOENT;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	int rc = dir_find(fs, parent, name, len, hit);
	if (rc)
		return rc;
	*victim = inode_live(fs, hit->ino);
	if (!*victim)
		return -EIO;
	*dir_out = dir;
	return 0;
}

/* Drops one name of inode (inside a transaction). */
static int drop_link(struct nvfs *fs, struct nvmpfs_inode *inode)
{
	int rc = inode_log(fs, inode);
	if (rc)
		return rc;
	if (S_ISDIR(inode->mode))
		inode->nlink = 0;
	else if (inode->nlink > 0)
		inode->nlink--;
	inode_touch(inode, false, true);
	return 0;
}

static int remove_name(struct nvfs *fs, uint64_t parent, const char *name,
		       bool want_dir)
{
	struct dir_hit hit;
	struct nvmpfs_inode *dir, *victim;
	int rc = find_victim(fs, parent, name, &hit, &dir, &victim);
	if (rc)
		return rc;
	if (want_dir && !S_ISDIR(victim->mode))
		return -ENOTDIR;
	if (!want_dir && S_ISDIR(victim->mode))
		return -EISDIR;
	if (want_dir && !dir_is_empty(fs, hit.ino))
		return -ENOTEMPTY;
	tx_begin(&fs->j);
	rc = inode_log(fs, dir);
	if (rc == 0)
		rc = dir_remove(fs, parent, hit.slot);
	if (rc == 0)
		rc = drop_link(fs, victim);
	if (rc == 0 && want_dir)
		dir->nlink--;
	if (rc) {
		fs_abort(fs);
		return rc;
	}
	tx_commit(&fs->j);
	inode_maybe_reclaim(fs, hit.ino);
	return 0;
}

int nvfs_unlink(struct nvfs *fs, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&fs->lock);
	int rc = remove_name(fs, parent, name, false);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int nvfs_rmdir(struct nvfs *fs, uint64_t parent, const char *name)
{
	if (strcmp(name, ".") == 0)
		return -EINVAL;
	if (strcmp(name, "..") == 0)
		return -ENOTEMPTY;
	pthread_mutex_lock(&fs->lock);
	int rc = remove_name(fs, parent, name, true);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

/* True when dir `ino` is `ancestor` or lies below it. */
static bool is_within(struct nvfs *fs, uint64_t ino, uint64_t ancestor)
{
	for (uint64_t depth = 0; depth < fs->sb.inode_count; depth++) {
		if (ino == ancestor)
			return true;
		if (ino == NVMPFS_ROOT_INO)
			return false;
		struct nvmpfs_inode *inode = inode_live(fs, ino);
		if (!inode || !inode->parent)
			return false;
		ino = inode->parent;
	}
	return false;
}

struct rename_op {
	uint64_t sparent, dparent;
	struct nvmpfs_inode *sdir, *ddir, *src, *dst;
	struct dir_hit shit, dhit;
	bool have_dst;
};

/* Moves directory `child` from one parent to another (link counts, ".."). */
static int reparent(struct nvfs *fs, struct nvmpfs_inode *child,
		    struct nvmpfs_inode *from, struct nvmpfs_inode *to,
		    uint64_t to_ino)
{
	if (!S_ISDIR(child->mode) || from == to)
		return 0;
	int rc = inode_log(fs, child);
	if (rc)
		return rc;
	child->parent = to_ino;
	from->nlink--;
	to->nlink++;
	return 0;
}

static int rename_exchange(struct nvfs *fs, struct rename_op *op)
{
	if (S_ISDIR(op->src->mode) && is_within(fs, op->dparent, op->shit.ino))
		return -EINVAL;
	if (S_ISDIR(op->dst->mode) && is_within(fs, op->sparent, op->dhit.ino))
		return -EINVAL;
	int rc = dir_retarget(fs, op->sparent, op->shit.slot, op->dhit.ino,
			      mode_to_dtype(op->dst->mode));
	if (rc == 0)
		rc = dir_retarget(fs, op->dparent, op->dhit.slot, op->shit.ino,
				  mode_to_dtype(op->src->mode));
	if (rc == 0)
		rc = reparent(fs, op->src, op->sdir, op->ddir, op->dparent);
	if (rc == 0)
		rc = reparent(fs, op->dst, op->ddir, op->sdir, op->sparent);
	return rc;
}

/* Plain rename: replaces the target's entry, if any, with the source. */
static int rename_move(struct nvfs *fs, struct rename_op *op)
{
	bool src_dir = S_ISDIR(op->src->mode);
	if (src_dir && is_within(fs, op->dparent, op->shit.ino))
		return -EINVAL;
	int rc = 0;
	if (op->have_dst) {
		bool dst_dir = S_ISDIR(op->dst->mode);
		if (src_dir && !dst_dir)
			return -ENOTDIR;
		if (!src_dir && dst_dir)
			return -EISDIR;
		if (dst_dir && !dir_is_empty(fs, op->dhit.ino))
			return -ENOTEMPTY;
		rc = dir_retarget(fs, op->dparent, op->dhit.slot, op->shit.ino,
				  mode_to_dtype(op->src->mode));
		if (rc == 0)
			rc = drop_link(fs, op->dst);
		if (rc == 0 && dst_dir)
			op->ddir->nlink--;
	}
	return rc;
}

static int rename_locked(struct nvfs *fs, uint64_t parent, const char *name,
			 uint64_t newparent, const char *newname, unsigned flags)
{
	struct rename_op op = { .sparent = parent, .dparent = newparent };
	if (strlen(newname) > NVMPFS_MAX_NAME)
		return -ENAMETOOLONG;
	int rc = find_victim(fs, parent, name, &op.shit, &op.sdir, &op.src);
	if (rc)
		return rc;
	op.ddir = inode_live(fs, newparent);
	if (!op.ddir)
		return -ENOENT;
	if (!S_ISDIR(op.ddir->mode))
		return -ENOTDIR;
	if (!fs_valid_name(newname, strlen(newname)))
		return -EINVAL;
	rc = dir_find(fs, newparent, newname, strlen(newname), &op.dhit);
	if (rc && rc != -ENOENT)
		return rc;
	op.have_dst = rc == 0;
	if (op.have_dst && !(op.dst = inode_live(fs, op.dhit.ino)))
		return -EIO;
	if ((flags & NVFS_RENAME_NOREPLACE) && op.have_dst)
		return -EEXIST;
	if ((flags & NVFS_RENAME_EXCHANGE) && !op.have_dst)
		return -ENOENT;
	if (op.have_dst && op.dhit.ino == op.shit.ino)
		return 0; /* two names of one inode: POSIX says do nothing */

	tx_begin(&fs->j);
	rc = inode_log(fs, op.sdir);
	if (rc == 0)
		rc = inode_log(fs, op.ddir);
	if (rc == 0)
		rc = inode_log(fs, op.src);
	if (rc == 0 && op.have_dst)
		rc = inode_log(fs, op.dst);
	if (rc == 0 && (flags & NVFS_RENAME_EXCHANGE)) {
		rc = rename_exchange(fs, &op);
	} else if (rc == 0) {
		rc = rename_move(fs, &op);
		if (rc == 0 && !op.have_dst)
			rc = dir_add(fs, newparent, newname, strlen(newname),
				     op.shit.ino, mode_to_dtype(op.src->mode));
		if (rc == 0)
			rc = dir_remove(fs, parent, op.shit.slot);
		if (rc == 0)
			rc = reparent(fs, op.src, op.sdir, op.ddir, newparent);
	}
	if (rc) {
		fs_abort(fs);
		return rc;
	}
	inode_touch(op.src, false, true);
	if (op.have_dst)
		inode_touch(op.dst, false, true);
	tx_commit(&fs->j);
	if (op.have_dst && !(flags & NVFS_RENAME_EXCHANGE))
		inode_maybe_reclaim(fs, op.dhit.ino);
	return 0;
}

int nvfs_rename(struct nvfs *fs, uint64_t parent, const char *name,
		uint64_t newparent, const char *newname, unsigned flags)
{
	if ((flags & NVFS_RENAME_NOREPLACE) && (flags & NVFS_RENAME_EXCHANGE))
		return -EINVAL;
	if (flags & ~(unsigned)(NVFS_RENAME_NOREPLACE | NVFS_RENAME_EXCHANGE))
		return -EINVAL;
	pthread_mutex_lock(&fs->lock);
	int rc = rename_locked(fs, parent, name, newparent, newname, flags);
	pthread_mutex_unlock(&fs->lock);
	return rc;
}
