/*
 * FUSE low-level glue: every request becomes one call of the core
 * (fs/core/nvfs.h) and one reply.  Nothing here touches the pool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "caller.h"
#include "sender.h"
#include "nvfs.h"
#include "nvfs_direct.h"
#include "ops.h"

/*
 * The kernel may cache names and attributes this long: every change to
 * the file system comes through this mount's kernel, which updates or
 * drops its cached copies itself.
 */
#define CACHE_SECONDS 3600.0

static struct fuse_session *session;


void ops_set_session(struct fuse_session *se)
{
	session = se;
}


void ops_invalidate_data(fuse_ino_t ino)
{
	/* The kernel may wait for pages that a READ in flight has locked. */
	nvfs_about_to_wait();
	if (session)
		fuse_lowlevel_notify_inval_inode(session, ino, 0, 0);
}

static struct nvfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct mirror *mirror;

void ops_set_mirror(struct mirror *m)
{
	mirror = m;
}

struct mirror *ops_mirror(void)
{
	return mirror;
}

/*
 * With a mirror, a direct mapping's persist goes through the daemon, which
 * replicates the ranges and waits for the mirror; without, it never leaves
 * the program.
 */
bool ops_mirror_configured(void)
{
	return mirror != NULL;
}

static bool interrupted(void *req)
{
	return fuse_req_interrupted(req);
}

/*
 * A sync point is answered once the mirror has everything made durable
 * before it (waited for here, after every lock of the core is released).
 */
int ops_sync_point(fuse_req_t req, int rc)
{
	return ops_sync_wait(fs_of(req), rc, interrupted, req);
}

int ops_sync_wait(struct nvfs *fs, int rc, bool (*stop)(void *), void *arg)
{
	if (rc || !mirror)
		return rc;
	return mirror_wait(mirror, nvfs_last_seq(fs), stop, arg);
}

/*
 * The blocks of big unlinked files are freed by the core's background
 * thread: a call that ran out of space waits for that once, and is tried
 * again when it freed something.
 */
static bool space_coming(fuse_req_t req, int64_t rc)
{
	return rc == -ENOSPC && nvfs_wait_reclaim(fs_of(req));
}

/* With mirror_sync=all, every change waits for the mirror too. */
static int changed(fuse_req_t req, int rc)
{
	if (rc || !mirror_sync_all(mirror))
		return rc;
	return mirror_wait(mirror, nvfs_thread_seq(), interrupted, req);
}

/*
 * Before a change of data: the set-ID bits (and security.capability) the
 * core takes away for it.  The kernel does not look for that change in a
 * WRITE, FALLOCATE or OPEN reply: its cached mode is dropped so that the
 * next stat asks us.
 */
static int kill_priv_for_data(fuse_req_t req, fuse_ino_t ino)
{
	struct nvfs_ctx ctx = caller_ctx(req);
	uint32_t dropped;
	int rc = nvfs_kill_priv(fs_of(req), ino, &ctx, NVFS_CHANGE_DATA,
				&dropped);
	if (rc == 0 && dropped && session)
		fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
	return rc;
}

static struct fuse_entry_param entry_of(struct nvfs *fs, const struct stat *st)
{
	return (struct fuse_entry_param){
		.ino = st->st_ino,
		.generation = nvfs_generation(fs, st->st_ino),
		.attr = *st,
		.attr_timeout = CACHE_SECONDS,
		.entry_timeout = CACHE_SECONDS,
	};
}

static void reply_entry(fuse_req_t req, int rc, const struct stat *st)
{
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	struct fuse_entry_param e = entry_of(fs_of(req), st);
	fuse_reply_entry(req, &e);
}

/* Replies with iov as it is (libfuse writes it to the kernel in one go). */
static void reply_iov(fuse_req_t req, const struct iovec *iov, size_t n)
{
	if (n == 0)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_iov(req, iov, (int)n);
}

static void reply_status(fuse_req_t req, int rc)
{
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	/*
	 * POSIX ACLs: the kernel enforces them; we store them, keep them in
	 * step with the mode, and apply default ACLs or the umask ourselves.
	 */
	struct nvfs *fs = userdata;
	unsigned acl_caps = FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
	if ((conn->capable & acl_caps) == acl_caps && !nvfs_acls_disabled(fs)) {
		conn->want |= acl_caps;
		nvfs_enable_acls(fs);
	}
	/* nvmpfsctl asks for statistics on the mount's root directory. */
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
	/*
	 * The core drops set-ID bits and security.capability itself, by the
	 * whole rule of Linux (fs/core/setid.c); FUSE's own killpriv knows only
	 * part of it.  Asking for FUSE_CAP_HANDLE_KILLPRIV spares the kernel
	 * a GETXATTR of security.capability before every WRITE where libfuse
	 * passes it on (3.14 does not, and the kernel then does its part
	 * too, which is a subset of ours).
	 */
	if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV)
		conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/*
	 * Only this mount's kernel changes file data (a direct mapping's
	 * lease invalidates explicitly: lease_ioctl.c).  The kernel's own
	 * invalidation on a changed mtime or size races with its
	 * write-through: a page dropped while a WRITE is in flight is read
	 * back from us before that WRITE lands, and then stays cached stale.
	 */
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA)
		conn->want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct stat st;
	int rc = nvfs_lookup(fs_of(req), parent, name, &st);
	if (rc == -ENOENT) {
		/* A negative entry lets the kernel cache the miss. */
		struct fuse_entry_param e = { .ino = 0,
					      .entry_timeout = CACHE_SECONDS };
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, rc, &st);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	nvfs_forget(fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		nvfs_forget(fs_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)fi;
	struct stat st;
	int rc = nvfs_getattr(fs_of(req), ino, &st);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, CACHE_SECONDS);
}

static int to_nvfs_setattr(int to_set)
{
	static const struct { int fuse, nvfs; } map[] = {
		{ FUSE_SET_ATTR_MODE, NVFS_SET_MODE },
		{ FUSE_SET_ATTR_UID, NVFS_SET_UID },
		{ FUSE_SET_ATTR_GID, NVFS_SET_GID },
		{ FUSE_SET_ATTR_SIZE, NVFS_SET_SIZE },
		{ FUSE_SET_ATTR_ATIME, NVFS_SET_ATIME },
		{ FUSE_SET_ATTR_MTIME, NVFS_SET_MTIME },
		{ FUSE_SET_ATTR_ATIME_NOW, NVFS_SET_ATIME_NOW },
		{ FUSE_SET_ATTR_MTIME_NOW, NVFS_SET_MTIME_NOW },
		{ FUSE_SET_ATTR_CTIME, NVFS_SET_CTIME },
	};
	int out = 0;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (to_set & map[i].fuse)
			out |= map[i].nvfs;
	return out;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	(void)fi;
	struct stat st;
	struct nvfs_ctx ctx = caller_ctx(req);
	int rc = 0;
	uint32_t dropped = 0;
	/* Decided on the file as it is before the change (its old group). */
	if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))
		rc = nvfs_kill_priv(fs_of(req), ino, &ctx, NVFS_CHANGE_OWNER,
				    &dropped);
	else if (to_set & FUSE_SET_ATTR_SIZE)
		rc = nvfs_kill_priv(fs_of(req), ino, &ctx, NVFS_CHANGE_DATA,
				    &dropped);
	/* A mode the kernel sends along must not bring the bits back. */
	attr->st_mode &= ~(mode_t)dropped;
	if (rc == 0)
		rc = changed(req, nvfs_setattr(fs_of(req), ino, attr,
					       to_nvfs_setattr(to_set), &st));
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, CACHE_SECONDS);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[4096];
	int rc = nvfs_readlink(fs_of(req), ino, buf, sizeof(buf));
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, buf);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct nvfs_ctx ctx = caller_ctx(req);
	struct stat st;
	reply_entry(req, changed(req, nvfs_mknod(fs_of(req), &ctx, parent, name,
						 mode, rdev, &st)), &st);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct nvfs_ctx ctx = caller_ctx(req);
	struct stat st;
	reply_entry(req, changed(req, nvfs_mkdir(fs_of(req), &ctx, parent, name,
						 mode, &st)), &st);
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		       const char *name)
{
	struct nvfs_ctx ctx = caller_ctx(req);
	struct stat st;
	reply_entry(req, changed(req, nvfs_symlink(fs_of(req), &ctx, parent,
						   name, target, &st)), &st);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct stat st;
	reply_entry(req, changed(req, nvfs_link(fs_of(req), ino, newparent,
						newname, &st)), &st);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_status(req, changed(req, nvfs_unlink(fs_of(req), parent, name)));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_status(req, changed(req, nvfs_rmdir(fs_of(req), parent, name)));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	unsigned nflags = 0;
	if (flags & RENAME_NOREPLACE)
		nflags |= NVFS_RENAME_NOREPLACE;
	if (flags & RENAME_EXCHANGE)
		nflags |= NVFS_RENAME_EXCHANGE;
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	reply_status(req, changed(req, nvfs_rename(fs_of(req), parent, name,
						   newparent, newname, nflags)));
}

/*
 * Only this mount's kernel changes file data, so its page cache stays
 * valid across opens.  Dropping it at every open (FUSE's default) would
 * race with the kernel's own write-through: a page dropped while another
 * caller's WRITE is in flight is read back from us before that WRITE
 * lands, and then stays cached stale.  Reads served from the cache never
 * reach us, so an open for reading only is what moves the access time.
 */
static void keep_cache_and_access(fuse_req_t req, fuse_ino_t ino,
				  struct fuse_file_info *fi)
{
	fi->keep_cache = 1;
	/* The kernel learns of an access time moved here only if told. */
	if ((fi->flags & O_ACCMODE) == O_RDONLY &&
	    nvfs_touch_atime(fs_of(req), ino) && session)
		fuse_lowlevel_notify_inval_inode(session, ino, -1, 0);
}

/*
 * The file handle keeps the open mode in its low bits: the ioctl request
 * does not carry it, and ioctls that change state need a writable
 * descriptor (ioctl.c).  The rest numbers the open file, so that a
 * direct-mapping lease can belong to it (lease_ioctl.c).
 */
static void remember_open_mode(struct fuse_file_info *fi)
{
	static uint64_t opens;
	uint64_t serial = __atomic_add_fetch(&opens, 1, __ATOMIC_RELAXED);
	fi->fh = serial << 2 | (uint64_t)(fi->flags & O_ACCMODE);
}

/*
 * While a program maps part of the file directly, its stores bypass the
 * kernel: opens made meanwhile read and write through the daemon, never
 * a cache that could be stale (see libnvmpfs(3) for opens made before).
 */
static void bypass_cache_if_leased(struct nvfs *fs, fuse_ino_t ino,
				   struct fuse_file_info *fi)
{
	if (nvfs_file_leased(fs, ino)) {
		fi->direct_io = 1;
		fi->keep_cache = 0;
	}
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int rc = 0;
	/* The kernel truncates (and so drops privileges) even at size 0. */
	if (fi->flags & O_TRUNC)
		rc = kill_priv_for_data(req, ino);
	if (rc == 0)
		rc = changed(req, nvfs_open(fs_of(req), ino, fi->flags));
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	remember_open_mode(fi);
	keep_cache_and_access(req, ino, fi);
	bypass_cache_if_leased(fs_of(req), ino, fi);
	fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct nvfs_ctx ctx = caller_ctx(req);
	struct stat st;
	struct nvfs *fs = fs_of(req);
	int rc = nvfs_mknod(fs, &ctx, parent, name, S_IFREG | (mode & 07777), 0,
			    &st);
	if (rc == 0 && (rc = nvfs_open(fs, st.st_ino, fi->flags & ~O_TRUNC))) {
		nvfs_forget(fs, st.st_ino, 1);
	}
	rc = changed(req, rc);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	struct fuse_entry_param e = entry_of(fs, &st);
	remember_open_mode(fi);
	fi->keep_cache = 1;
	bypass_cache_if_leased(fs, st.st_ino, fi);
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		/* The caller went away: drop what the reply would have held. */
		nvfs_release(fs, st.st_ino);
		nvfs_forget(fs, st.st_ino, 1);
	}
}

/*
 * A read replies straight from pool memory: the core hands out pointers
 * into the pool (checked against their checksums) and keeps the file
 * held until the reply has been copied into the kernel.
 */
static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	struct nvfs *fs = fs_of(req);
	struct nvfs_read r;
	int rc = nvfs_read_begin(fs, ino, size, (uint64_t)off, &r);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	reply_iov(req, r.iov, r.niov);
	nvfs_read_end(fs, &r);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	int rc = kill_priv_for_data(req, ino);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	ssize_t n = nvfs_write(fs_of(req), ino, buf, size, (uint64_t)off);
	if (space_coming(req, n))
		n = nvfs_write(fs_of(req), ino, buf, size, (uint64_t)off);
	if (n >= 0 && (rc = changed(req, 0)))
		n = rc;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	/* The last close, or the death of the process: its leases end. */
	if (nvfs_lease_end_owner(fs_of(req), fi->fh) > 0)
		ops_invalidate_data(ino);
	/* It may free a file unlinked while open: a change. */
	reply_status(req, changed(req, nvfs_release(fs_of(req), ino)));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)fi;
	reply_status(req, ops_sync_point(req, nvfs_fsync(fs_of(req), ino,
							  datasync != 0)));
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	int rc = nvfs_opendir(fs_of(req), ino);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	remember_open_mode(fi);
	fuse_reply_open(req, fi);
}

struct dirbuf {
	fuse_req_t req;
	char *buf;
	size_t size, used;
};

static int add_dirent(void *arg, const char *name, size_t name_len,
		      uint64_t ino, unsigned type, uint64_t next_off)
{
	struct dirbuf *db = arg;
	char cname[256]; /* names are at most 255 bytes */
	memcpy(cname, name, name_len);
	cname[name_len] = '\0';
	struct stat st = { .st_ino = ino, .st_mode = type << 12 };
	size_t need = fuse_add_direntry(db->req, db->buf + db->used,
					db->size - db->used, cname, &st,
					(off_t)next_off);
	if (need > db->size - db->used)
		return 1; /* full: this entry goes in the next call */
	db->used += need;
	return 0;
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	struct dirbuf db = { .req = req, .size = size, .buf = malloc(size) };
	if (!db.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int rc = nvfs_readdir(fs_of(req), ino, (uint64_t)off, add_dirent, &db);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, db.buf, db.used);
	free(db.buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	(void)fi;
	(void)datasync;
	(void)ino;
	reply_status(req, ops_sync_point(req, nvfs_syncfs(fs_of(req))));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct statvfs st;
	nvfs_statfs(fs_of(req), &st);
	fuse_reply_statfs(req, &st);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct nvfs_ctx ctx = caller_ctx(req);
	reply_status(req, changed(req, nvfs_setxattr(fs_of(req), &ctx, ino, name,
						     value, size, flags)));
}

/*
 * getxattr and listxattr answer alike: size 0 asks for the size only,
 * otherwise the bytes; name is NULL for a listing.
 */
static void reply_xattr_query(fuse_req_t req, fuse_ino_t ino, const char *name,
			      size_t size)
{
	char *buf = size ? malloc(size) : NULL;
	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ssize_t n = name ? nvfs_getxattr(fs_of(req), ino, name, buf, size)
			 : nvfs_listxattr(fs_of(req), ino, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	reply_xattr_query(req, ino, name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	reply_xattr_query(req, ino, NULL, size);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct nvfs_ctx ctx = caller_ctx(req);
	reply_status(req, changed(req, nvfs_removexattr(fs_of(req), &ctx, ino,
							name)));
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t offset, off_t length, struct fuse_file_info *fi)
{
	(void)fi;
	if (offset < 0 || length <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int rc = kill_priv_for_data(req, ino);
	if (rc == 0)
		rc = nvfs_fallocate(fs_of(req), ino, mode, (uint64_t)offset,
				    (uint64_t)length);
	if (space_coming(req, rc))
		rc = nvfs_fallocate(fs_of(req), ino, mode, (uint64_t)offset,
				    (uint64_t)length);
	reply_status(req, changed(req, rc));
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	(void)fi;
	int64_t pos = nvfs_lseek(fs_of(req), ino, off, whence);
	if (pos < 0)
		fuse_reply_err(req, (int)-pos);
	else
		fuse_reply_lseek(req, pos);
}

const struct fuse_lowlevel_ops nvmpfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	/*
	 * No flush: every WRITE is durable when answered, so close() has
	 * nothing to wait for; ENOSYS tells the kernel to stop sending it.
	 */
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
	.ioctl = op_ioctl,
};
