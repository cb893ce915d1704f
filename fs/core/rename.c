/*
 * rename and RENAME_EXCHANGE: one transaction over both directories and
 * both inodes, under fs->rename_lock (which also keeps every directory's
 * parent still while is_within walks them).
 */
#include <errno.h>
#include <string.h>

#include "fs.h"
#include "naming.h"
#include "reclaim.h"

struct rename_op {
	uint64_t sparent, dparent;
	const char *name, *newname;
	unsigned flags;
	struct icache_ent *sdent, *ddent;
	struct nvmpfs_inode *sdir, *ddir, *src, *dst;
	struct dir_hit shit, dhit;
	bool have_dst;
	struct dir_add add;
	struct lockset ls;
};

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

/* Looks a name up in an unlocked directory; -ENOENT is an answer too. */
static int peek(struct nvfs *fs, uint64_t parent, const char *name,
		struct dir_hit *hit)
{
	struct icache_ent *dent = ilock(fs, parent, false);
	if (!dent)
		return -ENOMEM;
	struct nvmpfs_inode *dir = inode_live(fs, parent);
	int rc = !dir ? -ENOENT : !S_ISDIR(dir->mode) ? -ENOTDIR
		 : dir_find(fs, dent, name, strlen(name), hit);
	iunlock(fs, dent);
	return rc;
}

/* Checks that need only the names and the flags. */
static int check_op(struct nvfs *fs, struct rename_op *op)
{
	if (strlen(op->newname) > NVMPFS_MAX_NAME ||
	    strlen(op->name) > NVMPFS_MAX_NAME)
		return -ENAMETOOLONG;
	if (fs->read_only)
		return -EROFS;
	op->sdir = inode_live(fs, op->sparent);
	op->ddir = inode_live(fs, op->dparent);
	if (!op->sdir || !op->ddir)
		return -ENOENT;
	if (!S_ISDIR(op->sdir->mode) || !S_ISDIR(op->ddir->mode))
		return -ENOTDIR;
	if (!dir_valid_name(op->newname, strlen(op->newname)))
		return -EINVAL;
	op->src = inode_live(fs, op->shit.ino);
	if (!op->src)
		return -EIO;
	if (op->have_dst && !(op->dst = inode_live(fs, op->dhit.ino)))
		return -EIO;
	if ((op->flags & NVFS_RENAME_NOREPLACE) && op->have_dst)
		return -EEXIST;
	if ((op->flags & NVFS_RENAME_EXCHANGE) && !op->have_dst)
		return -ENOENT;
	return 0;
}

/* Moves directory `child` from one parent to another (link counts, ".."). */
static void reparent(struct nvmpfs_inode *child, struct nvmpfs_inode *from,
		     struct nvmpfs_inode *to, uint64_t to_ino)
{
	if (!S_ISDIR(child->mode) || from == to)
		return;
	child->parent = to_ino;
	from->nlink--;
	to->nlink++;
}

static int prepare_exchange(struct nvfs *fs, struct tx *tx,
			    struct rename_op *op)
{
	if (S_ISDIR(op->src->mode) && is_within(fs, op->dparent, op->shit.ino))
		return -EINVAL;
	if (S_ISDIR(op->dst->mode) && is_within(fs, op->sparent, op->dhit.ino))
		return -EINVAL;
	int rc = dir_prepare_retarget(tx, op->sdent, op->shit.slot);
	return rc ? rc : dir_prepare_retarget(tx, op->ddent, op->dhit.slot);
}

static void apply_exchange(struct nvfs *fs, struct rename_op *op)
{
	dir_apply_retarget(fs, op->sdent, op->shit.slot, op->dhit.ino,
			   mode_to_dtype(op->dst->mode));
	dir_apply_retarget(fs, op->ddent, op->dhit.slot, op->shit.ino,
			   mode_to_dtype(op->src->mode));
	reparent(op->src, op->sdir, op->ddir, op->dparent);
	reparent(op->dst, op->ddir, op->sdir, op->sparent);
}

/* Plain rename: replaces the target's entry, if any, with the source. */
static int prepare_move(struct nvfs *fs, struct tx *tx, struct rename_op *op)
{
	bool src_dir = S_ISDIR(op->src->mode);
	if (src_dir && is_within(fs, op->dparent, op->shit.ino))
		return -EINVAL;
	int rc;
	if (op->have_dst) {
		bool dst_dir = S_ISDIR(op->dst->mode);
		if (src_dir && !dst_dir)
			return -ENOTDIR;
		if (!src_dir && dst_dir)
			return -EISDIR;
		if (dst_dir && !dir_is_empty(fs, lockset_get(&op->ls, op->dhit.ino)))
			return -ENOTEMPTY;
		rc = dir_prepare_retarget(tx, op->ddent, op->dhit.slot);
	} else {
		rc = dir_prepare_add(tx, op->ddent, strlen(op->newname),
				     &op->add);
	}
	return rc ? rc : dir_prepare_remove(tx, op->sdent, op->shit.slot);
}

static void apply_move(struct nvfs *fs, struct rename_op *op)
{
	if (op->have_dst) {
		dir_apply_retarget(fs, op->ddent, op->dhit.slot, op->shit.ino,
				   mode_to_dtype(op->src->mode));
		if (S_ISDIR(op->dst->mode)) {
			op->dst->nlink = 0;
			op->ddir->nlink--;
		} else if (op->dst->nlink > 0) {
			op->dst->nlink--;
		}
	} else {
		dir_apply_add(fs, op->ddent, &op->add, op->newname,
			      strlen(op->newname), op->shit.ino,
			      mode_to_dtype(op->src->mode));
	}
	dir_apply_remove(fs, op->sdent, op->shit.slot);
	reparent(op->src, op->sdir, op->ddir, op->dparent);
}

static int log_inodes(struct tx *tx, struct rename_op *op)
{
	int rc = inode_log(tx, op->sdir);
	if (rc == 0)
		rc = inode_log(tx, op->ddir);
	if (rc == 0)
		rc = inode_log(tx, op->src);
	if (rc == 0 && op->have_dst)
		rc = inode_log(tx, op->dst);
	return rc;
}

/* The transaction, everything locked and looked up. */
static int rename_locked(struct nvfs *fs, struct rename_op *op)
{
	int rc = check_op(fs, op);
	if (rc)
		return rc;
	if (op->have_dst && op->dhit.ino == op->shit.ino)
		return 0; /* two names of one inode: POSIX says do nothing */
	bool exchange = op->flags & NVFS_RENAME_EXCHANGE;
	struct tx tx;
	tx_begin(fs, &tx);
	rc = log_inodes(&tx, op);
	if (rc == 0)
		rc = exchange ? prepare_exchange(fs, &tx, op)
			      : prepare_move(fs, &tx, op);
	if (rc == 0)
		rc = tx_ready(&tx);
	if (rc) {
		dir_cancel_add(&op->add);
		tx_abort(&tx);
		return rc;
	}
	if (exchange)
		apply_exchange(fs, op);
	else
		apply_move(fs, op);
	inode_touch(op->src, false, true);
	naming_forget(op->src);
	if (op->have_dst) {
		inode_touch(op->dst, false, true);
		naming_forget(op->dst);
	}
	return tx_commit(&tx);
}

/*
 * Looks both names up, locks all four inodes, and looks again: 1 when a
 * name changed meanwhile (the caller tries again), else the outcome.
 */
static int lock_and_rename(struct nvfs *fs, struct rename_op *op)
{
	struct dir_hit shit, dhit;
	int rc = peek(fs, op->sparent, op->name, &shit);
	if (rc)
		return rc;
	int drc = peek(fs, op->dparent, op->newname, &dhit);
	if (drc && drc != -ENOENT)
		return drc;
	lockset_init(&op->ls);
	lockset_add(&op->ls, op->sparent, true);
	lockset_add(&op->ls, op->dparent, true);
	lockset_add(&op->ls, shit.ino, true);
	if (drc == 0)
		lockset_add(&op->ls, dhit.ino, true);
	if ((rc = lockset_lock(fs, &op->ls)))
		return rc;
	op->sdent = lockset_get(&op->ls, op->sparent);
	op->ddent = lockset_get(&op->ls, op->dparent);
	rc = dir_find(fs, op->sdent, op->name, strlen(op->name), &op->shit);
	int drc2 = dir_find(fs, op->ddent, op->newname, strlen(op->newname),
			    &op->dhit);
	if (rc == 0 && (op->shit.ino != shit.ino ||
			(drc2 == 0) != (drc == 0) ||
			(drc2 == 0 && op->dhit.ino != dhit.ino)))
		rc = 1;
	else if (rc == 0 && drc2 && drc2 != -ENOENT)
		rc = drc2;
	if (rc == 0) {
		op->have_dst = drc2 == 0;
		rc = rename_locked(fs, op);
	}
	lockset_unlock(fs, &op->ls);
	return rc;
}

int nvfs_rename(struct nvfs *fs, uint64_t parent, const char *name,
		uint64_t newparent, const char *newname, unsigned flags)
{
	if ((flags & NVFS_RENAME_NOREPLACE) && (flags & NVFS_RENAME_EXCHANGE))
		return -EINVAL;
	if (flags & ~(unsigned)(NVFS_RENAME_NOREPLACE | NVFS_RENAME_EXCHANGE))
		return -EINVAL;
	struct rename_op op = { .sparent = parent, .dparent = newparent,
				.name = name, .newname = newname,
				.flags = flags };
	int rc = change_begin(fs);
	if (rc)
		return rc;
	pthread_mutex_lock(&fs->rename_lock);
	while ((rc = lock_and_rename(fs, &op)) == 1)
		memset(&op.add, 0, sizeof(op.add));
	pthread_mutex_unlock(&fs->rename_lock);
	change_end(fs);
	if (rc == 0 && op.have_dst && !(flags & NVFS_RENAME_EXCHANGE) &&
	    op.dhit.ino != op.shit.ino)
		reclaim_if_dead(fs, op.dhit.ino);
	return rc;
}
