/*
 * Extended attributes: one block per inode holding packed records.  A
 * change writes a whole new block (copy-on-write) and swings the inode's
 * pointer inside a transaction, so a crash shows the old set or the new.
 */
#include <errno.h>
#include <string.h>
#include <sys/xattr.h>

#include "acl.h"
#include "setid.h"
#include "xattr.h"

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

/* Puts a built set in a fresh block and swings the pointer (inside a tx). */
static int store_set(struct nvfs *fs, struct nvmpfs_inode *inode,
		     const uint8_t *buf, size_t used)
{
	int rc = inode_log(fs, inode);
	uint64_t old = inode->xattr_block, blk = 0, got;
	if (rc == 0 && used > 0) {
		rc = alloc_run(fs, fs->alloc_hint, 1, &blk, &got);
		if (rc == 0) {
			pool_copy(fs->pool, blk * NVMPFS_BLOCK_SIZE, buf,
				  sizeof(struct nvmpfs_xattr_head) + used);
			inode->blocks++;
		}
	}
	if (rc == 0 && old) {
		rc = alloc_free(fs, old, 1);
		inode->blocks--;
	}
	if (rc)
		return rc;
	inode->xattr_block = blk;
	inode_touch(inode, false, true);
	return 0;
}

/* One transaction: the new set, and the new mode bits when given. */
static int rewrite_set(struct nvfs *fs, struct nvmpfs_inode *inode,
		       const char *skip, const char *name, const void *value,
		       size_t size, const uint32_t *new_mode)
{
	uint8_t buf[NVMPFS_BLOCK_SIZE];
	size_t used;
	int rc = build_set(fs, inode, skip, name, value, size, buf, &used);
	if (rc)
		return rc;
	tx_begin(&fs->j);
	rc = store_set(fs, inode, buf, used);
	if (rc) {
		fs_abort(fs);
		return rc;
	}
	if (new_mode)
		inode->mode = (inode->mode & ~07777u) | (*new_mode & 07777u);
	tx_commit(&fs->j);
	return 0;
}

int xattr_init_acls(struct nvfs *fs, struct nvmpfs_inode *inode,
		    const void *access, size_t access_size, const void *dflt,
		    size_t dflt_size)
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
	if (used == 0)
		return 0;
	nh->magic = NVMPFS_XATTR_MAGIC;
	nh->used = (uint32_t)used;
	return store_set(fs, inode, buf, used);
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
 * other bits of the mode (and may cost set-group-ID, see setid.c), and one
 * that says no more than the mode is not kept (as on Linux).
 */
static int set_acl(struct nvfs *fs, const struct nvfs_ctx *ctx,
		   struct nvmpfs_inode *inode, const char *name,
		   const void *value, size_t size)
{
	if (!acl_valid(value, size))
		return -EINVAL;
	if (strcmp(name, ACL_XATTR_DEFAULT) == 0)
		return S_ISDIR(inode->mode)
			       ? rewrite_set(fs, inode, name, name, value, size, NULL)
			       : -EACCES;
	uint32_t mode = (inode->mode & 07000u) | acl_mode_bits(value, size);
	mode &= ~setid_to_drop(inode, ctx, NVFS_CHANGE_ACL);
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

int nvfs_setxattr(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t ino,
		  const char *name, const void *value, size_t size, int flags)
{
	if (size > XATTR_ROOM)
		return -E2BIG;
	pthread_mutex_lock(&fs->lock);
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
			rc = set_acl(fs, ctx, inode, name, value, size);
		else
			rc = rewrite_set(fs, inode, name, name, value, size,
					 NULL);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

ssize_t nvfs_getxattr(struct nvfs *fs, uint64_t ino, const char *name,
		      void *value, size_t size)
{
	pthread_mutex_lock(&fs->lock);
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
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

ssize_t nvfs_listxattr(struct nvfs *fs, uint64_t ino, char *list, size_t size)
{
	pthread_mutex_lock(&fs->lock);
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
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

int nvfs_removexattr(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t ino,
		     const char *name)
{
	pthread_mutex_lock(&fs->lock);
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = inode ? check_name(fs, name, inode) : -ENOENT;
	struct xrec rec;
	if (rc == -EPERM)
		rc = -ENODATA;
	if (rc == 0 && fs->read_only)
		rc = -EROFS;
	if (rc == 0) {
		/* Removing the access ACL may cost set-group-ID (setid.c). */
		uint32_t mode = inode->mode & 07777u;
		if (strcmp(name, ACL_XATTR_ACCESS) == 0)
			mode &= ~setid_to_drop(inode, ctx, NVFS_CHANGE_ACL);
		if (!find_rec(xattr_head(fs, inode), name, &rec))
			rc = -ENODATA;
		else
			rc = rewrite_set(fs, inode, name, NULL, NULL, 0, &mode);
	}
	pthread_mutex_unlock(&fs->lock);
	return rc;
}

static const char capability_name[] = "security.capability";

bool xattr_has_capability(struct nvfs *fs, const struct nvmpfs_inode *inode)
{
	struct xrec rec;
	return find_rec(xattr_head(fs, inode), capability_name, &rec);
}

int xattr_remove_capability(struct nvfs *fs, struct nvmpfs_inode *inode)
{
	uint8_t buf[NVMPFS_BLOCK_SIZE];
	size_t used;
	int rc = build_set(fs, inode, capability_name, NULL, NULL, 0, buf, &used);
	return rc ? rc : store_set(fs, inode, buf, used);
}
