/*
 * Extended attributes: one block per inode holding packed records.  A
 * change writes a whole new block (copy-on-write) and swings the inode's
 * pointer inside a transaction, so a crash shows the old set or the new.
 */
#include <errno.h>
#include <string.h>
#include <sys/xattr.h>

#include "acl.h"
#include "fs.h"

#define XATTR_ROOM (NVMPFS_BLOCK_SIZE - sizeof(struct nvmpfs_xattr_head))
#define REC_HEADER 3u /* u8 name_len, u16 value_len */

struct xrec {
	const char *name;
	size_t name_len;
	const uint8_t *value;
	size_t value_len;
};

static bool known_namespace(const char *name)
{
	static const char *const prefixes[] = { "user.", "trusted.", "security." };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0 &&
		    name[strlen(prefixes[i])] != '\0')
			return true;
	return false;
}

/* The inode's record area, or NULL when it has none (or it is damaged). */
static const struct nvmpfs_xattr_head *xattr_head(struct nvfs *fs,
						  const struct nvmpfs_inode *inode)
{
	uint64_t blk = inode->xattr_block;
	if (!blk || blk < fs->sb.data_start || blk >= fs->sb.block_count)
		return NULL;
	const struct nvmpfs_xattr_head *h = pool_block(fs->pool, blk);
	if (h->magic != NVMPFS_XATTR_MAGIC || h->used > XATTR_ROOM)
		return NULL;
	return h;
}

/* Reads the record at *pos; false at the end or at a damaged record. */
static bool next_rec(const struct nvmpfs_xattr_head *h, size_t *pos,
		     struct xrec *rec)
{
	const uint8_t *p = (const uint8_t *)(h + 1);
	if (*pos + REC_HEADER > h->used)
		return false;
	size_t nl = p[*pos];
	size_t vl = (size_t)p[*pos + 1] | ((size_t)p[*pos + 2] << 8);
	if (nl == 0 || *pos + REC_HEADER + nl + vl > h->used)
		return false;
	rec->name = (const char *)p + *pos + REC_HEADER;
	rec->name_len = nl;
	rec->value = p + *pos + REC_HEADER + nl;
	rec->value_len = vl;
	*pos += REC_HEADER + nl + vl;
	return true;
}

static bool find_rec(const struct nvmpfs_xattr_head *h, const char *name,
		     struct xrec *out)
{
	size_t pos = 0, len = strlen(name);
	struct xrec rec;
	while (h && next_rec(h, &pos, &rec))
		if (rec.name_len == len && memcmp(rec.name, name, len) == 0) {
			*out = rec;
			return true;
		}
	return false;
}

static size_t put_rec(uint8_t *p, const char *name, size_t nl,
		      const void *value, size_t vl)
{
	p[0] = (uint8_t)nl;
	p[1] = (uint8_t)(vl & 0xff);
	p[2] = (uint8_t)(vl >> 8);
	memcpy(p + REC_HEADER, name, nl);
	if (vl)
		memcpy(p + REC_HEADER + nl, value, vl);
	return REC_HEADER + nl + vl;
}

/*
 * Builds in buf the inode's attribute set minus `skip`, plus (name, value)
 * when name is given.  *used gets the bytes of records.
 */
static int build_set(struct nvfs *fs, const struct nvmpfs_inode *inode,
		     const char *skip, const char *name, const void *value,
		     size_t size, uint8_t *buf, size_t *used_out)
{
	struct nvmpfs_xattr_head *nh = (void *)buf;
	uint8_t *p = (uint8_t *)(nh + 1);
	size_t used = 0, skip_len = skip ? strlen(skip) : 0;
	const struct nvmpfs_xattr_head *h = xattr_head(fs, inode);
	size_t pos = 0;
	struct xrec rec;
	while (h && next_rec(h, &pos, &rec)) {
		if (skip && rec.name_len == skip_len &&
		    memcmp(rec.name, skip, skip_len) == 0)
			continue;
		used += put_rec(p + used, rec.name, rec.name_len, rec.value,
				rec.value_len);
	}
	if (name) {
		size_t nl = strlen(name);
		if (used + REC_HEADER + nl + size > XATTR_ROOM)
			return -ENOSPC;
		used += put_rec(p + used, name, nl, value, size);
	}
	nh->magic = NVMPFS_XATTR_MAGIC;
	nh->used = (uint32_t)used;
	*used_out = used;
	return 0;
}

/* Puts a built set in a fresh block (nobody sees it yet); 0: empty set. */
static int fresh_set_block(struct tx *tx, const uint8_t *buf, size_t used,
			   uint64_t *blk)
{
	uint64_t got;
	*blk = 0;
	if (used == 0)
		return 0;
	int rc = tx_take_blocks(tx, tx->fs->alloc.hint, 1, blk, &got);
	if (rc == 0)
		pool_copy(tx->fs->pool, *blk * NVMPFS_BLOCK_SIZE, buf,
			  sizeof(struct nvmpfs_xattr_head) + used);
	return rc;
}

/*
 * One transaction: the new set in a fresh block, the inode's pointer
 * swung to it, the old block freed, and the new mode bits when given.
 */
static int rewrite_set(struct nvfs *fs, struct nvmpfs_inode *inode,
		       const char *skip, const char *name, const void *value,
		       size_t size, const uint32_t *new_mode)
{
	uint8_t buf[NVMPFS_BLOCK_SIZE];
	size_t used;
	int rc = build_set(fs, inode, skip, name, value, size, buf, &used);
	if (rc)
		return rc;
	struct tx tx;
	tx_begin(fs, &tx);
	uint64_t old = inode->xattr_block, blk = 0;
	rc = inode_log(&tx, inode);
	if (rc == 0)
		rc = fresh_set_block(&tx, buf, used, &blk);
	if (rc == 0 && old)
		rc = tx_free_blocks(&tx, old, 1);
	if (rc == 0)
		rc = tx_ready(&tx);
	if (rc) {
		tx_abort(&tx);
		return rc;
	}
	inode->xattr_block = blk;
	inode->blocks = inode->blocks + (blk ? 1 : 0) - (old ? 1 : 0);
	inode_touch(inode, false, true);
	if (new_mode)
		inode->mode = (inode->mode & ~0777u) | (*new_mode & 0777u);
	return tx_commit(&tx);
}

int xattr_prepare_acls(struct tx *tx, const void *access, size_t access_size,
		       const void *dflt, size_t dflt_size, uint64_t *blk)
{
	uint8_t buf[NVMPFS_BLOCK_SIZE];
	struct nvmpfs_xattr_head *nh = (void *)buf;
	uint8_t *p = (uint8_t *)(nh + 1);
	size_t used = 0;
	if (access)
		used += put_rec(p + used, ACL_XATTR_ACCESS,
				strlen(ACL_XATTR_ACCESS), access, access_size);
	if (dflt)
		used += put_rec(p + used, ACL_XATTR_DEFAULT,
				strlen(ACL_XATTR_DEFAULT), dflt, dflt_size);
	nh->magic = NVMPFS_XATTR_MAGIC;
	nh->used = (uint32_t)used;
	return fresh_set_block(tx, buf, used, blk);
}

ssize_t xattr_find(struct nvfs *fs, const struct nvmpfs_inode *inode,
		   const char *name, void *value, size_t size)
{
	struct xrec rec;
	if (!find_rec(xattr_head(fs, inode), name, &rec))
		return -ENODATA;
	if (rec.value_len > size)
		return -ERANGE;
	memcpy(value, rec.value, rec.value_len);
	return (ssize_t)rec.value_len;
}

int xattr_acl_chmod(struct nvfs *fs, struct nvmpfs_inode *inode)
{
	uint8_t acl[ACL_MAX_SIZE];
	ssize_t n = xattr_find(fs, inode, ACL_XATTR_ACCESS, acl, sizeof(acl));
	if (n < 0 || !acl_valid(acl, (size_t)n))
		return 0;
	acl_chmod(acl, (size_t)n, inode->mode);
	return rewrite_set(fs, inode, ACL_XATTR_ACCESS, ACL_XATTR_ACCESS, acl,
			   (size_t)n, NULL);
}

static bool is_acl_name(const char *name)
{
	return strcmp(name, ACL_XATTR_ACCESS) == 0 ||
	       strcmp(name, ACL_XATTR_DEFAULT) == 0;
}

/*
 * Setting an ACL: validated; an access ACL also sets the group, owner and
 * other bits of the mode, and one that says no more than the mode is not
 * kept (as on Linux).
 */
static int set_acl(struct nvfs *fs, struct nvmpfs_inode *inode,
		   const char *name, const void *value, size_t size)
{
	if (!acl_valid(value, size))
		return -EINVAL;
	if (strcmp(name, ACL_XATTR_DEFAULT) == 0)
		return S_ISDIR(inode->mode)
			       ? rewrite_set(fs, inode, name, name, value, size, NULL)
			       : -EACCES;
	uint32_t mode = acl_mode_bits(value, size);
	if (acl_is_minimal(value, size))
		return rewrite_set(fs, inode, name, NULL, NULL, 0, &mode);
	return rewrite_set(fs, inode, name, name, value, size, &mode);
}

static int check_name(const struct nvfs *fs, const char *name,
		      const struct nvmpfs_inode *inode)
{
	size_t len = strlen(name);
	if (len == 0 || len > 255)
		return -ERANGE;
	if (is_acl_name(name))
		return fs->acl_on ? 0 : -EOPNOTSUPP;
	if (!known_namespace(name))
		return -EOPNOTSUPP;
	/* As on Linux: user attributes only on files and directories. */
	if (strncmp(name, "user.", 5) == 0 && !S_ISREG(inode->mode) &&
	    !S_ISDIR(inode->mode))
		return -EPERM;
	return 0;
}

int nvfs_setxattr(struct nvfs *fs, uint64_t ino, const char *name,
		  const void *value, size_t size, int flags)
{
	if (size > XATTR_ROOM)
		return -E2BIG;
	struct icache_ent *e = ilock(fs, ino, true);
	if (!e)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = inode ? check_name(fs, name, inode) : -ENOENT;
	struct xrec rec;
	if (rc == 0 && fs->read_only)
		rc = -EROFS;
	if (rc == 0) {
		bool exists = find_rec(xattr_head(fs, inode), name, &rec);
		if ((flags & XATTR_CREATE) && exists)
			rc = -EEXIST;
		else if ((flags & XATTR_REPLACE) && !exists)
			rc = -ENODATA;
		else if (is_acl_name(name))
			rc = set_acl(fs, inode, name, value, size);
		else
			rc = rewrite_set(fs, inode, name, name, value, size,
					 NULL);
	}
	iunlock(fs, e);
	return rc;
}

ssize_t nvfs_getxattr(struct nvfs *fs, uint64_t ino, const char *name,
		      void *value, size_t size)
{
	struct icache_ent *e = ilock(fs, ino, false);
	if (!e)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	ssize_t rc = inode ? check_name(fs, name, inode) : -ENOENT;
	struct xrec rec;
	if (rc == -EPERM)
		rc = -ENODATA;
	if (rc == 0) {
		if (!find_rec(xattr_head(fs, inode), name, &rec))
			rc = -ENODATA;
		else if (size == 0)
			rc = (ssize_t)rec.value_len;
		else if (size < rec.value_len)
			rc = -ERANGE;
		else {
			memcpy(value, rec.value, rec.value_len);
			rc = (ssize_t)rec.value_len;
		}
	}
	iunlock(fs, e);
	return rc;
}

ssize_t nvfs_listxattr(struct nvfs *fs, uint64_t ino, char *list, size_t size)
{
	struct icache_ent *e = ilock(fs, ino, false);
	if (!e)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	ssize_t rc = inode ? 0 : -ENOENT;
	const struct nvmpfs_xattr_head *h = inode ? xattr_head(fs, inode) : NULL;
	size_t pos = 0, total = 0;
	struct xrec rec;
	while (h && next_rec(h, &pos, &rec)) {
		if (size && total + rec.name_len + 1 > size) {
			rc = -ERANGE;
			break;
		}
		if (size) {
			memcpy(list + total, rec.name, rec.name_len);
			list[total + rec.name_len] = '\0';
		}
		total += rec.name_len + 1;
	}
	if (rc == 0)
		rc = (ssize_t)total;
	iunlock(fs, e);
	return rc;
}

int nvfs_removexattr(struct nvfs *fs, uint64_t ino, const char *name)
{
	struct icache_ent *e = ilock(fs, ino, true);
	if (!e)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = inode ? check_name(fs, name, inode) : -ENOENT;
	struct xrec rec;
	if (rc == -EPERM)
		rc = -ENODATA;
	if (rc == 0 && fs->read_only)
		rc = -EROFS;
	if (rc == 0) {
		if (!find_rec(xattr_head(fs, inode), name, &rec))
			rc = -ENODATA;
		else
			rc = rewrite_set(fs, inode, name, NULL, NULL, 0, NULL);
	}
	iunlock(fs, e);
	return rc;
}

/* Privilege bits a change of content or owner must drop. */
static uint32_t priv_bits(uint32_t mode)
{
	uint32_t bits = mode & S_ISUID;
	if ((mode & S_ISGID) && (mode & S_IXGRP))
		bits |= S_ISGID;
	return bits;
}

int nvfs_kill_priv(struct nvfs *fs, uint64_t ino)
{
	static const char cap[] = "security.capability";
	struct icache_ent *e = ilock(fs, ino, true);
	if (!e)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = inode ? 0 : -ENOENT;
	struct xrec rec;
	if (rc == 0 && !fs->read_only && S_ISREG(inode->mode) &&
	    priv_bits(inode->mode)) {
		/* mode shares an aligned word with nlink: one store. */
		uint32_t mode = inode->mode & ~priv_bits(inode->mode);
		inode_store64(fs, (uint64_t *)&inode->mode,
			      (uint64_t)mode | ((uint64_t)inode->nlink << 32));
		inode_touch_now(fs, inode, false, true);
		rc = pool_drain(fs->pool);
	}
	if (rc == 0 && !fs->read_only &&
	    find_rec(xattr_head(fs, inode), cap, &rec))
		rc = rewrite_set(fs, inode, cap, NULL, NULL, 0, NULL);
	iunlock(fs, e);
	return rc;
}
