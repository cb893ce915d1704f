/*
 * Names: lookup, create (mknod, mkdir, symlink), link, unlink, rmdir,
 * rename.  Each change is one transaction that logs everything it will
 * change before changing anything: three drains, whatever the call.  The
 * directories and inodes a call changes are locked exclusively, in
 * ascending inode number (icache.h); a victim found by name is looked up,
 * locked with the rest, and looked up again.  An inode whose last name
 * goes away is freed once the kernel forgets it and no open file holds it.
 */
#include <errno.h>
#include <string.h>

#include "acl.h"
#include "fs.h"
#include "naming.h"
#include "reclaim.h"

/* ---- lookups ---- */

/* The kernel gets a reference to ino (taken before the parent is let go,
 * so that the inode cannot be freed in between). */
static int take_lookup(struct nvfs *fs, uint64_t ino)
{
	struct icache_ent *e = icache_pin(fs, ino);
	if (!e)
		return -ENOMEM;
	icache_add_lookup(fs, e);
	icache_unpin(fs, e);
	return 0;
}

/* The attributes of an inode the caller holds a reference to. */
static int stat_of(struct nvfs *fs, uint64_t ino, struct stat *st)
{
	struct icache_ent *e = ilock(fs, ino, false);
	if (!e)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (inode)
		inode_to_stat(ino, inode, st);
	iunlock(fs, e);
	return inode ? 0 : -EIO;
}

static int find_in(struct nvfs *fs, struct icache_ent *dent,
		   const struct nvmpfs_inode *dir, const char *name,
		   uint64_t *ino)
{
	struct dir_hit hit;
	size_t len = strlen(name);
	if (strcmp(name, ".") == 0) {
		*ino = dent->ino;
		return 0;
	}
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (strcmp(name, "..") == 0) {
		*ino = dir->parent ? dir->parent : NVMPFS_ROOT_INO;
		return 0;
	}
	int rc = dir_find(fs, dent, name, len, &hit);
	if (rc == 0)
		*ino = hit.ino;
	return rc;
}

int nvfs_lookup(struct nvfs *fs, uint64_t parent, const char *name,
		struct stat *st)
{
	if (strlen(name) > NVMPFS_MAX_NAME)
		return -ENAMETOOLONG;
	struct icache_ent *dent = ilock(fs, parent, false);
	if (!dent)
		return -ENOMEM;
	struct nvmpfs_inode *dir = inode_live(fs, parent);
	uint64_t ino = 0;
	/* "." of any inode: how the kernel finds an inode from a file handle. */
	int rc = dir ? find_in(fs, dent, dir, name, &ino) : -ENOENT;
	if (rc == 0)
		rc = take_lookup(fs, ino);
	iunlock(fs, dent);
	if (rc == 0 && (rc = stat_of(fs, ino, st)))
		nvfs_forget(fs, ino, 1);
	return rc;
}

void nvfs_forget(struct nvfs *fs, uint64_t ino, uint64_t nlookup)
{
	if (icache_forget(fs, ino, nlookup) && !fs_is_read_only(fs))
		reclaim_if_dead(fs, ino);
}

/* ---- creating ---- */

/* Checks that the locked dent is a directory that can take `name`. */
static int check_new_name(struct nvfs *fs, struct icache_ent *dent,
			  const char *name, struct nvmpfs_inode **dir_out)
{
	size_t len = strlen(name);
	if (len > NVMPFS_MAX_NAME)
		return -ENAMETOOLONG;
	if (!dir_valid_name(name, len))
		return -EINVAL;
	if (fs->read_only)
		return -EROFS;
	struct nvmpfs_inode *dir = inode_live(fs, dent->ino);
	if (!dir)
		return -ENOENT;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (dir->nlink == 0)
		return -ENOENT; /* removed while someone was inside */
	struct dir_hit hit;
	int rc = dir_find(fs, dent, name, len, &hit);
	if (rc == 0)
		return -EEXIST;
	if (rc != -ENOENT)
		return rc;
	*dir_out = dir;
	return 0;
}

/* What a new inode is: type, permissions, owner, and what it inherits. */
struct new_inode {
	mode_t mode;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	const char *target;      /* symlinks */
	uint64_t ino;
	struct nvmpfs_inode *inode;
	uint64_t link_leaf, link_block; /* symlinks: map leaf and target */
	uint8_t access[ACL_MAX_SIZE], dflt[ACL_MAX_SIZE];
	size_t access_size, dflt_size;
};

/* The group and mode a new inode gets in dir (setgid directories). */
static void inherit_group(const struct nvmpfs_inode *dir,
			  const struct nvfs_ctx *ctx, struct new_inode *ni)
{
	ni->gid = ctx->gid;
	if (dir->mode & S_ISGID) {
		ni->gid = dir->gid;
		if (S_ISDIR(ni->mode))
			ni->mode |= S_ISGID;
	}
}

/*
 * With ACLs on, the kernel leaves the umask to us: a directory's default
 * ACL replaces it (POSIX.1e), otherwise it applies.  Symlinks get neither.
 */
static void inherit_acls(struct nvfs *fs, const struct nvmpfs_inode *dir,
			 const struct nvfs_ctx *ctx, struct new_inode *ni)
{
	ni->access_size = ni->dflt_size = 0;
	if (!fs->acl_on || S_ISLNK(ni->mode))
		return;
	ssize_t n = xattr_find(fs, dir, ACL_XATTR_DEFAULT, ni->dflt,
			       sizeof(ni->dflt));
	if (n < 0 || !acl_valid(ni->dflt, (size_t)n)) {
		ni->mode &= ~(mode_t)(ctx->umask & 0777);
		return;
	}
	uint32_t m = ni->mode;
	if (acl_inherit(ni->dflt, (size_t)n, &m, ni->access))
		ni->access_size = (size_t)n;
	ni->mode = m;
	if (S_ISDIR(ni->mode))
		ni->dflt_size = (size_t)n;
}

/* A symlink's target in a block of its own, mapped by a leaf of its own. */
static int prepare_symlink(struct tx *tx, struct new_inode *ni)
{
	struct nvfs *fs = tx->fs;
	uint64_t blocks, got;
	int rc = tx_take_blocks(tx, ALLOC_AT_HINT, 2, &blocks, &got);
	if (rc == 0 && got < 2) {
		ni->link_leaf = blocks;
		rc = tx_take_blocks(tx, ALLOC_AT_HINT, 1, &ni->link_block, &got);
	} else if (rc == 0) {
		ni->link_leaf = blocks;
		ni->link_block = blocks + 1;
	}
	if (rc)
		return rc;
	pool_fill_fresh(fs->pool, ni->link_leaf * NVMPFS_BLOCK_SIZE, NULL,
			NVMPFS_BLOCK_SIZE);
	pool_fill_fresh(fs->pool, ni->link_block * NVMPFS_BLOCK_SIZE, NULL,
			NVMPFS_BLOCK_SIZE);
	pool_copy(fs->pool, ni->link_block * NVMPFS_BLOCK_SIZE, ni->target,
		  strlen(ni->target));
	uint64_t *leaf = pool_block(fs->pool, ni->link_leaf);
	leaf[0] = ni->link_block;
	pool_flush_ptr(fs->pool, leaf, sizeof(*leaf));
	return 0;
}

/* Everything a create changes, logged (or made, where nobody sees it). */
static int prepare_create(struct tx *tx, struct icache_ent *dent,
			  const char *name, struct new_inode *ni,
			  struct dir_add *add)
{
	int rc = inode_take(tx, &ni->ino);
	if (rc)
		return rc;
	ni->inode = inode_get(tx->fs, ni->ino);
	if (S_ISLNK(ni->mode))
		rc = prepare_symlink(tx, ni);
	if (rc == 0)
		rc = dir_prepare_add(tx, dent, strlen(name), add);
	return rc;
}

/* The new inode, filled once the records are durable. */
static int init_inode(struct tx *tx, struct new_inode *ni)
{
	struct nvmpfs_inode *inode = ni->inode;
	inode_init(inode, ni->mode, ni->uid, ni->gid);
	if (S_ISCHR(ni->mode) || S_ISBLK(ni->mode))
		inode->rdev = ni->rdev;
	/* Only new blocks: an empty tree logs nothing more. */
	return xattr_init_acls(tx, inode, ni->access_size ? ni->access : NULL,
			       ni->access_size, ni->dflt_size ? ni->dflt : NULL,
			       ni->dflt_size);
}

static void apply_create(struct nvfs *fs, struct icache_ent *dent,
			 struct nvmpfs_inode *dir, const char *name,
			 struct new_inode *ni, struct dir_add *add)
{
	struct nvmpfs_inode *inode = ni->inode;
	if (S_ISLNK(ni->mode)) {
		inode->map = nvmpfs_map_word(ni->link_leaf, 1);
		inode->blocks += 2;
		inode->size = strlen(ni->target);
	}
	if (S_ISDIR(ni->mode)) {
		inode->nlink = 2;
		inode->parent = dent->ino;
		dir->nlink++;
	}
	dir_apply_add(fs, dent, add, name, strlen(name), ni->ino,
		      mode_to_dtype(ni->mode));
}

/* The transaction of a create (dent locked); fills ni->ino. */
static int create_by_tx(struct nvfs *fs, struct icache_ent *dent,
			struct nvmpfs_inode *dir, const char *name,
			struct new_inode *ni)
{
	struct tx tx;
	struct dir_add add = { 0 };
	tx_begin(fs, &tx);
	int rc = prepare_create(&tx, dent, name, ni, &add);
	if (rc == 0)
		rc = tx_ready(&tx);
	if (rc == 0)
		rc = init_inode(&tx, ni);
	if (rc) {
		dir_cancel_add(&add);
		tx_abort(&tx);
		return rc;
	}
	apply_create(fs, dent, dir, name, ni, &add);
	return tx_commit(&tx);
}

/*
 * Whether a create can publish its name with one store (naming.h): an
 * inode with nothing besides itself (no directory: the parent's link
 * count would change too; no symlink target, no ACLs to write).
 */
static bool by_store_fits(const struct new_inode *ni)
{
	return !S_ISDIR(ni->mode) && !S_ISLNK(ni->mode) && !ni->access_size &&
	       !ni->dflt_size;
}

/*
 * A create in two drains and no journal (naming.h), when the directory
 * has room for the name; -EAGAIN when it has not (it must grow: the
 * caller uses a transaction).  Fills ni->ino.
 */
static int create_by_store(struct nvfs *fs, struct icache_ent *dent,
			   const char *name, struct new_inode *ni)
{
	uint64_t slot;
	size_t len = strlen(name);
	int rc = dir_find_room(fs, dent, len, &slot);
	if (rc)
		return rc == -ENOENT ? -EAGAIN : rc;
	uint64_t ino = inode_take_slot(fs);
	if (!ino)
		return -ENOSPC;
	struct nvmpfs_inode *inode = inode_get(fs, ino);
	inode_init(inode, ni->mode, ni->uid, ni->gid);
	if (S_ISCHR(ni->mode) || S_ISBLK(ni->mode))
		inode->rdev = ni->rdev;
	/*
	 * The slot stays free (mode 0) until the second drain: a free slot
	 * keeps the map word of the inode it last held, and a torn first
	 * drain must not make that map live again.
	 */
	inode->mode = 0;
	inode->nlink = 0;
	naming_hint(inode, dent->ino, slot);
	pool_flush_ptr(fs->pool, inode, sizeof(*inode));
	dir_write_body(fs, dent, slot, name, len, mode_to_dtype(ni->mode));
	rc = pool_drain(fs->pool);
	if (rc == 0) {
		dir_publish(fs, dent, slot, name, len, ino);
		inode_store64(fs, (uint64_t *)&inode->mode,
			      (uint64_t)ni->mode | (uint64_t)1 << 32);
		rc = pool_drain(fs->pool);
	}
	if (rc) {
		/* The next mount settles whatever reached the media. */
		fs_fail_read_only(fs, rc);
		return rc;
	}
	ni->ino = ino;
	ni->inode = inode;
	return 0;
}

/* mknod, mkdir and symlink in the locked parent. */
static int create_held(struct nvfs *fs, const struct nvfs_ctx *ctx,
		       uint64_t parent, const char *name, struct new_inode *ni,
		       struct stat *st)
{
	struct icache_ent *dent = ilock(fs, parent, true);
	if (!dent)
		return -ENOMEM;
	struct nvmpfs_inode *dir;
	int rc = check_new_name(fs, dent, name, &dir);
	if (rc == 0 && S_ISDIR(ni->mode) && dir->nlink >= UINT32_MAX - 1)
		rc = -EMLINK;
	if (rc) {
		iunlock(fs, dent);
		return rc;
	}
	ni->uid = ctx->uid;
	inherit_group(dir, ctx, ni);
	inherit_acls(fs, dir, ctx, ni);
	rc = by_store_fits(ni) ? create_by_store(fs, dent, name, ni) : -EAGAIN;
	if (rc == -EAGAIN)
		rc = create_by_tx(fs, dent, dir, name, ni);
	if (rc == 0)
		rc = take_lookup(fs, ni->ino);
	if (rc == 0)
		inode_to_stat(ni->ino, ni->inode, st);
	iunlock(fs, dent);
	return rc;
}

static int create(struct nvfs *fs, const struct nvfs_ctx *ctx,
		  uint64_t parent, const char *name, struct new_inode *ni,
		  struct stat *st)
{
	int rc = change_begin(fs);
	if (rc)
		return rc;
	rc = create_held(fs, ctx, parent, name, ni, st);
	change_end(fs);
	return rc;
}

int nvfs_mknod(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t parent,
	       const char *name, mode_t mode, dev_t rdev, struct stat *st)
{
	if (!S_ISREG(mode) && !S_ISFIFO(mode) && !S_ISSOCK(mode) &&
	    !S_ISCHR(mode) && !S_ISBLK(mode))
		return -EINVAL;
	struct new_inode ni = { .mode = mode, .rdev = rdev };
	return create(fs, ctx, parent, name, &ni, st);
}

int nvfs_mkdir(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t parent,
	       const char *name, mode_t mode, struct stat *st)
{
	struct new_inode ni = { .mode = S_IFDIR | (mode & 07777) };
	return create(fs, ctx, parent, name, &ni, st);
}

int nvfs_symlink(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t parent,
		 const char *name, const char *target, struct stat *st)
{
	size_t len = strlen(target);
	if (len == 0)
		return -ENOENT;
	if (len > NVMPFS_MAX_SYMLINK)
		return -ENAMETOOLONG;
	struct new_inode ni = { .mode = S_IFLNK | 0777, .target = target };
	return create(fs, ctx, parent, name, &ni, st);
}

int nvfs_readlink(struct nvfs *fs, uint64_t ino, char *buf, size_t size)
{
	struct icache_ent *e = ilock(fs, ino, false);
	if (!e)
		return -ENOMEM;
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
	iunlock(fs, e);
	return rc;
}

/* ---- links ---- */

static int link_checks(struct nvmpfs_inode *inode)
{
	if (!inode)
		return -ENOENT;
	if (S_ISDIR(inode->mode))
		return -EPERM;
	if (inode->nlink >= UINT32_MAX - 1)
		return -EMLINK;
	if (inode->nlink == 0)
		return -ENOENT; /* linkat of an unlinked open file */
	return 0;
}

static int link_held(struct nvfs *fs, uint64_t ino, uint64_t newparent,
		     const char *newname, struct stat *st)
{
	struct lockset ls;
	lockset_init(&ls);
	lockset_add(&ls, newparent, true);
	lockset_add(&ls, ino, true);
	int rc = lockset_lock(fs, &ls);
	if (rc)
		return rc;
	struct icache_ent *dent = lockset_get(&ls, newparent);
	struct nvmpfs_inode *dir, *inode = inode_live(fs, ino);
	rc = check_new_name(fs, dent, newname, &dir);
	if (rc == 0)
		rc = link_checks(inode);
	struct tx tx;
	struct dir_add add = { 0 };
	if (rc == 0) {
		tx_begin(fs, &tx);
		rc = inode_log(&tx, inode);
		if (rc == 0)
			rc = dir_prepare_add(&tx, dent, strlen(newname), &add);
		if (rc == 0)
			rc = tx_ready(&tx);
		if (rc) {
			dir_cancel_add(&add);
			tx_abort(&tx);
		}
	}
	if (rc == 0) {
		inode->nlink++;
		naming_forget(inode);
		inode_touch(inode, false, true);
		dir_apply_add(fs, dent, &add, newname, strlen(newname), ino,
			      mode_to_dtype(inode->mode));
		rc = tx_commit(&tx);
	}
	if (rc == 0)
		rc = take_lookup(fs, ino);
	if (rc == 0)
		inode_to_stat(ino, inode, st);
	lockset_unlock(fs, &ls);
	return rc;
}

int nvfs_link(struct nvfs *fs, uint64_t ino, uint64_t newparent,
	      const char *newname, struct stat *st)
{
	int rc = change_begin(fs);
	if (rc)
		return rc;
	rc = link_held(fs, ino, newparent, newname, st);
	change_end(fs);
	return rc;
}

/* Drops one name of inode (logged already). */
static void drop_link(struct nvmpfs_inode *inode)
{
	naming_forget(inode);
	if (S_ISDIR(inode->mode))
		inode->nlink = 0;
	else if (inode->nlink > 0)
		inode->nlink--;
	inode_touch(inode, false, true);
}

/* Looks name up in the (unlocked) parent: the inode it names now. */
static int peek(struct nvfs *fs, uint64_t parent, const char *name,
		uint64_t *ino)
{
	struct icache_ent *dent = ilock(fs, parent, false);
	if (!dent)
		return -ENOMEM;
	struct nvmpfs_inode *dir = inode_live(fs, parent);
	struct dir_hit hit;
	int rc = !dir ? -ENOENT : !S_ISDIR(dir->mode) ? -ENOTDIR
		 : dir_find(fs, dent, name, strlen(name), &hit);
	if (rc == 0)
		*ino = hit.ino;
	iunlock(fs, dent);
	return rc;
}

static int remove_checks(struct nvfs *fs, struct icache_ent *vent,
			 struct nvmpfs_inode *victim, bool want_dir)
{
	if (!victim)
		return -EIO;
	if (want_dir && !S_ISDIR(victim->mode))
		return -ENOTDIR;
	if (!want_dir && S_ISDIR(victim->mode))
		return -EISDIR;
	if (want_dir && !dir_is_empty(fs, vent))
		return -ENOTEMPTY;
	return 0;
}

/* The transaction of an unlink or rmdir, parent and victim locked. */
static int remove_locked(struct nvfs *fs, struct lockset *ls, uint64_t parent,
			 const struct dir_hit *hit, bool want_dir)
{
	struct icache_ent *dent = lockset_get(ls, parent);
	struct icache_ent *vent = lockset_get(ls, hit->ino);
	struct nvmpfs_inode *dir = inode_live(fs, parent);
	struct nvmpfs_inode *victim = inode_live(fs, hit->ino);
	int rc = remove_checks(fs, vent, victim, want_dir);
	if (rc)
		return rc;
	struct tx tx;
	tx_begin(fs, &tx);
	rc = dir_prepare_remove(&tx, dent, hit->slot);
	if (rc == 0)
		rc = inode_log(&tx, victim);
	if (rc == 0)
		rc = tx_ready(&tx);
	if (rc) {
		tx_abort(&tx);
		return rc;
	}
	dir_apply_remove(fs, dent, hit->slot);
	drop_link(victim);
	if (want_dir)
		dir->nlink--;
	return tx_commit(&tx);
}

static int remove_name(struct nvfs *fs, uint64_t parent, const char *name,
		       bool want_dir, uint64_t *freed)
{
	if (strlen(name) > NVMPFS_MAX_NAME)
		return -ENAMETOOLONG;
	if (fs->read_only)
		return -EROFS;
	for (;;) {
		uint64_t victim;
		int rc = peek(fs, parent, name, &victim);
		if (rc)
			return rc;
		struct lockset ls;
		lockset_init(&ls);
		lockset_add(&ls, parent, true);
		lockset_add(&ls, victim, true);
		if ((rc = lockset_lock(fs, &ls)))
			return rc;
		struct dir_hit hit;
		rc = dir_find(fs, lockset_get(&ls, parent), name, strlen(name),
			      &hit);
		if (rc == 0 && hit.ino != victim) {
			lockset_unlock(fs, &ls);
			continue; /* renamed over meanwhile: again */
		}
		if (rc == 0)
			rc = remove_locked(fs, &ls, parent, &hit, want_dir);
		lockset_unlock(fs, &ls);
		if (rc == 0)
			*freed = victim;
		return rc;
	}
}

static int remove_held(struct nvfs *fs, uint64_t parent, const char *name,
		       bool want_dir)
{
	int rc = change_begin(fs);
	if (rc)
		return rc;
	uint64_t victim = 0;
	rc = remove_name(fs, parent, name, want_dir, &victim);
	change_end(fs);
	if (victim)
		reclaim_if_dead(fs, victim);
	return rc;
}

int nvfs_unlink(struct nvfs *fs, uint64_t parent, const char *name)
{
	return remove_held(fs, parent, name, false);
}

int nvfs_rmdir(struct nvfs *fs, uint64_t parent, const char *name)
{
	if (strcmp(name, ".") == 0)
		return -EINVAL;
	if (strcmp(name, "..") == 0)
		return -ENOTEMPTY;
	return remove_held(fs, parent, name, true);
}
