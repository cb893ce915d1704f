/*
 * The set-user-ID and set-group-ID bits a change takes away, by the rules
 * of Linux 6.x (fs/attr.c setattr_should_drop_suidgid and
 * setattr_should_drop_sgid, fs/open.c chown_common, fs/posix_acl.c
 * posix_acl_update_mode):
 *
 *  - a change of data (write, truncate, fallocate, open with O_TRUNC) of a
 *    regular file by a caller without CAP_FSETID drops set-user-ID, and
 *    set-group-ID when the file is group-executable or when the caller is
 *    not in the file's group;
 *  - a change of owner or group (of anything but a directory) drops
 *    set-user-ID whoever asks, and set-group-ID when the file is
 *    group-executable or when the caller is neither in the file's group
 *    (before the change) nor holds CAP_FSETID;
 *  - setting or removing an access ACL drops set-group-ID when the caller
 *    is neither in the file's group nor holds CAP_FSETID.
 *
 * The kernel leaves part of this to us: FUSE applies only "set-group-ID
 * with group-execute" itself, and never tells us about its other
 * reasons, so the core applies the whole rule.  A change of data or owner
 * also removes security.capability (whoever asks), as the kernel's
 * killpriv does.
 */
#include <errno.h>

#include "setid.h"
#include "xattr.h"

static bool caller_in_group(const struct nvfs_ctx *ctx, gid_t gid)
{
	if (gid == ctx->gid)
		return true;
	return ctx->in_group && ctx->in_group(ctx, gid);
}

static bool caller_has_fsetid(const struct nvfs_ctx *ctx)
{
	return ctx->has_fsetid ? ctx->has_fsetid(ctx) : ctx->uid == 0;
}

static bool in_group_or_fsetid(const struct nvfs_ctx *ctx, gid_t gid)
{
	return caller_in_group(ctx, gid) || caller_has_fsetid(ctx);
}

/* Set-group-ID goes when group-executable, or for an outsider. */
static bool sgid_must_go(uint32_t mode, uint32_t gid,
			 const struct nvfs_ctx *ctx)
{
	if (!(mode & S_ISGID))
		return false;
	return (mode & S_IXGRP) || !in_group_or_fsetid(ctx, gid);
}

uint32_t setid_to_drop(const struct nvmpfs_inode *inode,
		       const struct nvfs_ctx *ctx, enum nvfs_change why)
{
	uint32_t mode = inode->mode, drop = 0;
	if (!(mode & (S_ISUID | S_ISGID)))
		return 0;
	switch (why) {
	case NVFS_CHANGE_DATA:
		if (!S_ISREG(mode) || caller_has_fsetid(ctx))
			return 0;
		drop = mode & S_ISUID;
		if (sgid_must_go(mode, inode->gid, ctx))
			drop |= S_ISGID;
		return drop;
	case NVFS_CHANGE_OWNER:
		if (S_ISDIR(mode))
			return 0;
		drop = mode & S_ISUID;
		if (sgid_must_go(mode, inode->gid, ctx))
			drop |= S_ISGID;
		return drop;
	case NVFS_CHANGE_ACL:
		return (mode & S_ISGID) && !in_group_or_fsetid(ctx, inode->gid)
			       ? S_ISGID : 0;
	}
	return 0;
}

/* Whether the change must also take security.capability away. */
static bool drops_capability(const struct nvmpfs_inode *inode,
			     enum nvfs_change why)
{
	if (why == NVFS_CHANGE_DATA)
		return S_ISREG(inode->mode);
	return why == NVFS_CHANGE_OWNER && !S_ISDIR(inode->mode);
}

/* What a change by ctx must take away: mode bits, and the capability. */
static bool to_kill(struct nvfs *fs, struct nvmpfs_inode *inode,
		    const struct nvfs_ctx *ctx, enum nvfs_change why,
		    uint32_t *drop, bool *cap)
{
	*drop = setid_to_drop(inode, ctx, why);
	*cap = drops_capability(inode, why) && inode->xattr_block &&
	       xattr_has_capability(fs, inode);
	return *drop || *cap;
}

static int kill_in_tx(struct nvfs *fs, struct nvmpfs_inode *inode,
		      uint32_t drop, bool cap)
{
	struct tx tx;
	tx_begin(fs, &tx);
	int rc = inode_log(&tx, inode);
	if (rc == 0)
		rc = cap ? xattr_remove_capability(&tx, inode) : tx_ready(&tx);
	if (rc) {
		tx_abort(&tx);
		return rc;
	}
	if (drop) {
		inode->mode &= ~drop;
		inode_touch(inode, false, true);
	}
	return tx_commit(&tx);
}

/*
 * Most calls have nothing to drop: they look under a shared lock and
 * take the inode exclusively only when there is.
 */
int nvfs_kill_priv(struct nvfs *fs, uint64_t ino, const struct nvfs_ctx *ctx,
		   enum nvfs_change why, uint32_t *dropped)
{
	if (dropped)
		*dropped = 0;
	if (why == NVFS_CHANGE_ACL)
		return -EINVAL; /* applied by the ACL update itself */
	if (fs->read_only)
		return 0;
	uint32_t drop;
	bool cap;
	struct icache_ent *e = ilock(fs, ino, false);
	if (!e)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	bool any = inode && to_kill(fs, inode, ctx, why, &drop, &cap);
	iunlock(fs, e);
	if (!inode)
		return -ENOENT;
	if (!any)
		return 0;
	int rc = change_begin(fs);
	if (rc)
		return 0; /* read-only: nothing will change the file */
	if (!(e = ilock(fs, ino, true))) {
		change_end(fs);
		return -ENOMEM;
	}
	inode = inode_live(fs, ino);
	if (inode && to_kill(fs, inode, ctx, why, &drop, &cap)) {
		rc = kill_in_tx(fs, inode, drop, cap);
		if (rc == 0 && dropped)
			*dropped = drop;
	}
	iunlock(fs, e);
	change_end(fs);
	return rc;
}
