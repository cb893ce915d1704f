/*
 * Extended attributes as the system calls see them: namespaces, the
 * XATTR_CREATE / XATTR_REPLACE flags, POSIX ACLs (kept in step with the
 * mode), security.capability.  They are stored in each inode's B+tree
 * (xattr_tree.h); every change is one transaction, so a crash shows the
 * old attribute or the new one.
 */
#include <errno.h>
#include <string.h>
#include <sys/xattr.h>

#include "acl.h"
#include "setid.h"
#include "xattr.h"
#include "xattr_tree.h"

static bool known_namespace(const char *name)
{
	static const char *const prefixes[] = { "user.", "trusted.", "security." };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0 &&
		    name[strlen(prefixes[i])] != '\0')
			return true;
	return false;
}

static bool is_acl_name(const char *name)
{
	return strcmp(name, ACL_XATTR_ACCESS) == 0 ||
	       strcmp(name, ACL_XATTR_DEFAULT) == 0;
}

static int check_name(const struct nvfs *fs, const char *name,
		      const struct nvmpfs_inode *inode)
{
	size_t len = strlen(name);
	if (len == 0 || len > NVMPFS_MAX_NAME)
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

/* One change of an inode's attributes (and mode), in one transaction. */
struct xchange {
	const char *remove;      /* taken away first when present, or NULL */
	const char *name;        /* then added, or NULL */
	const void *value;
	size_t size;
	const uint32_t *mode;    /* new mode bits (07777), or NULL */
};

static int change_in_tx(struct tx *tx, struct nvmpfs_inode *inode,
			const struct xchange *c)
{
	struct xop op;
	int rc = xop_init(&op, tx, inode);
	if (rc == 0 && c->remove) {
		/* A replace keeps the leaf the insert then fills again. */
		rc = xtree_remove(&op, c->remove, c->name == NULL);
		if (rc == -ENODATA)
			rc = 0;
	}
	if (rc == 0 && c->name)
		rc = xtree_insert(&op, c->name, c->value, c->size);
	if (rc == 0)
		rc = xop_finish(&op);
	if (rc)
		return rc;
	if (c->mode)
		inode->mode = (inode->mode & ~07777u) | (*c->mode & 07777u);
	inode_touch(inode, false, true);
	return 0;
}

static int change(struct nvfs *fs, struct nvmpfs_inode *inode,
		  const struct xchange *c)
{
	struct tx tx;
	tx_begin(fs, &tx);
	int rc = change_in_tx(&tx, inode, c);
	if (rc) {
		tx_abort(&tx);
		return rc;
	}
	return tx_commit(&tx);
}

int xattr_init_acls(struct tx *tx, struct nvmpfs_inode *inode,
		    const void *access, size_t access_size, const void *dflt,
		    size_t dflt_size)
{
	if (!access && !dflt)
		return 0;
	struct xop op;
	int rc = xop_init(&op, tx, inode);
	if (rc == 0 && access)
		rc = xtree_insert(&op, ACL_XATTR_ACCESS, access, access_size);
	if (rc == 0 && dflt)
		rc = xtree_insert(&op, ACL_XATTR_DEFAULT, dflt, dflt_size);
	return rc ? rc : xop_finish(&op);
}

ssize_t xattr_find(struct nvfs *fs, const struct nvmpfs_inode *inode,
		   const char *name, void *value, size_t size)
{
	struct nvmpfs_xattr_rec *rec;
	int rc = xtree_find(fs, inode, name, &rec, NULL, NULL);
	if (rc)
		return rc;
	if (rec->value_len > size)
		return -ERANGE;
	rc = xrec_read_value(fs, rec, value);
	return rc ? rc : (ssize_t)rec->value_len;
}

int xattr_acl_chmod(struct nvfs *fs, struct nvmpfs_inode *inode)
{
	uint8_t acl[ACL_MAX_SIZE];
	ssize_t n = xattr_find(fs, inode, ACL_XATTR_ACCESS, acl, sizeof(acl));
	if (n < 0 || !acl_valid(acl, (size_t)n))
		return 0;
	acl_chmod(acl, (size_t)n, inode->mode);
	struct xchange c = { .remove = ACL_XATTR_ACCESS,
			     .name = ACL_XATTR_ACCESS, .value = acl,
			     .size = (size_t)n };
	return change(fs, inode, &c);
}

/*
 * Setting an ACL: validated; an access ACL also sets the group, owner and
 * other bits of the mode (and may cost set-group-ID, see setid.c), and one
 * that says no more than the mode is not kept (as on Linux).
 */
/*
 * A minimal access ACL where none is kept changes the mode alone (and
 * ctime), as a chmod does: two single-word stores, one drain.  cp -a and
 * tar set one on every file they copy.
 */
static int set_mode_only(struct nvfs *fs, struct nvmpfs_inode *inode,
			 uint32_t mode)
{
	uint32_t m = (inode->mode & S_IFMT) | (mode & 07777u);
	inode_store64(fs, (uint64_t *)&inode->mode,
		      (uint64_t)m | (uint64_t)inode->nlink << 32);
	inode_touch_now(fs, inode, false, true);
	return pool_drain(fs->pool);
}

static int set_acl(struct nvfs *fs, const struct nvfs_ctx *ctx,
		   struct nvmpfs_inode *inode, const char *name,
		   const void *value, size_t size, bool exists)
{
	if (!acl_valid(value, size))
		return -EINVAL;
	struct xchange c = { .remove = name, .name = name, .value = value,
			     .size = size };
	if (strcmp(name, ACL_XATTR_DEFAULT) == 0)
		return S_ISDIR(inode->mode) ? change(fs, inode, &c) : -EACCES;
	uint32_t mode = (inode->mode & 07000u) | acl_mode_bits(value, size);
	mode &= ~setid_to_drop(inode, ctx, NVFS_CHANGE_ACL);
	c.mode = &mode;
	if (acl_is_minimal(value, size) && !exists)
		return set_mode_only(fs, inode, mode);
	if (acl_is_minimal(value, size))
		c.name = NULL;
	return change(fs, inode, &c);
}

int nvfs_setxattr(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t ino,
		  const char *name, const void *value, size_t size, int flags)
{
	if (size > NVMPFS_XATTR_VALUE_MAX)
		return -E2BIG;
	if (change_begin(fs))
		return -EROFS;
	struct icache_ent *e = ilock(fs, ino, true);
	if (!e) {
		change_end(fs);
		return -ENOMEM;
	}
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = inode ? check_name(fs, name, inode) : -ENOENT;
	if (rc == 0 && fs->read_only)
		rc = -EROFS;
	struct nvmpfs_xattr_rec *rec;
	int found = rc ? rc : xtree_find(fs, inode, name, &rec, NULL, NULL);
	if (rc == 0 && found != 0 && found != -ENODATA)
		rc = found;
	if (rc == 0) {
		bool exists = found == 0;
		struct xchange c = { .remove = exists ? name : NULL,
				     .name = name, .value = value,
				     .size = size };
		if ((flags & XATTR_CREATE) && exists)
			rc = -EEXIST;
		else if ((flags & XATTR_REPLACE) && !exists)
			rc = -ENODATA;
		else if (is_acl_name(name))
			rc = set_acl(fs, ctx, inode, name, value, size, exists);
		else
			rc = change(fs, inode, &c);
	}
	iunlock(fs, e);
	change_end(fs);
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
	struct nvmpfs_xattr_rec *rec;
	if (rc == -EPERM)
		rc = -ENODATA;
	if (rc == 0)
		rc = xtree_find(fs, inode, name, &rec, NULL, NULL);
	if (rc == 0) {
		if (size == 0)
			rc = (ssize_t)rec->value_len;
		else if (size < rec->value_len)
			rc = -ERANGE;
		else if ((rc = xrec_read_value(fs, rec, value)) == 0)
			rc = (ssize_t)rec->value_len;
	}
	iunlock(fs, e);
	return rc;
}

struct name_list {
	char *list;
	size_t size, total;
};

static int add_name(void *arg, const struct nvmpfs_xattr_rec *rec)
{
	struct name_list *l = arg;
	if (l->size && l->total + rec->name_len + 1 > l->size)
		return -ERANGE;
	if (l->size) {
		memcpy(l->list + l->total, rec->name, rec->name_len);
		l->list[l->total + rec->name_len] = '\0';
	}
	l->total += rec->name_len + 1;
	return 0;
}

ssize_t nvfs_listxattr(struct nvfs *fs, uint64_t ino, char *list, size_t size)
{
	struct icache_ent *e = ilock(fs, ino, false);
	if (!e)
		return -ENOMEM;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	struct name_list l = { list, size, 0 };
	ssize_t rc = inode ? xtree_each(fs, inode, add_name, &l) : -ENOENT;
	if (rc == 0)
		rc = (ssize_t)l.total;
	iunlock(fs, e);
	return rc;
}

int nvfs_removexattr(struct nvfs *fs, const struct nvfs_ctx *ctx, uint64_t ino,
		     const char *name)
{
	if (change_begin(fs))
		return -EROFS;
	struct icache_ent *e = ilock(fs, ino, true);
	if (!e) {
		change_end(fs);
		return -ENOMEM;
	}
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	int rc = inode ? check_name(fs, name, inode) : -ENOENT;
	struct nvmpfs_xattr_rec *rec;
	if (rc == -EPERM)
		rc = -ENODATA;
	if (rc == 0 && fs->read_only)
		rc = -EROFS;
	if (rc == 0)
		rc = xtree_find(fs, inode, name, &rec, NULL, NULL);
	if (rc == 0) {
		/* Removing the access ACL may cost set-group-ID (setid.c). */
		uint32_t mode = inode->mode & 07777u;
		if (strcmp(name, ACL_XATTR_ACCESS) == 0)
			mode &= ~setid_to_drop(inode, ctx, NVFS_CHANGE_ACL);
		struct xchange c = { .remove = name, .mode = &mode };
		rc = change(fs, inode, &c);
	}
	iunlock(fs, e);
	change_end(fs);
	return rc;
}

static const char capability_name[] = "security.capability";

bool xattr_has_capability(struct nvfs *fs, const struct nvmpfs_inode *inode)
{
	struct nvmpfs_xattr_rec *rec;
	return xtree_find(fs, inode, capability_name, &rec, NULL, NULL) == 0;
}

int xattr_remove_capability(struct tx *tx, struct nvmpfs_inode *inode)
{
	struct xop op;
	int rc = xop_init(&op, tx, inode);
	if (rc == 0)
		rc = xtree_remove(&op, capability_name, true);
	if (rc == -ENODATA)
		rc = 0;
	return rc ? rc : xop_finish(&op);
}
