/*
 * Direct mappings through ioctls: a lease belongs to the open file (its
 * handle, fi->fh, unique per open: ops.c) the ioctl came through; the
 * release of that open file ends all of its leases (ops.c).  The kernel's
 * cache of the file's data is dropped when a lease starts and ends: while
 * a program stores into the pool directly, pages cached before would be
 * stale (new opens of the file bypass the cache meanwhile, ops.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lease_ioctl.h"
#include "nvfs.h"
#include "nvfs_direct.h"
#include "nvmpfs.h"
#include "persist_socket.h"

/* The kernel carries at most 16 KiB for an ioctl with its size in cmd. */
_Static_assert(sizeof(struct nvmpfs_ioc_lease) < (1u << 14),
	       "struct nvmpfs_ioc_lease must fit the ioctl's size field");
_Static_assert(NVMPFS_PERSIST_TOKEN_SIZE == NVFS_LEASE_TOKEN_SIZE,
	       "the lease token travels whole");
/* The persist-socket fields came at the end: the older size still works. */
_Static_assert(NVMPFS_IOC_LEASE_V1_SIZE == 13376 &&
	       NVMPFS_IOC_LEASE_V1_SIZE % 8 == 0,
	       "struct nvmpfs_ioc_lease's older part must not move");

static uint64_t owner_of(const struct fuse_file_info *fi)
{
	return fi->fh;
}

/*
 * Where the lease's holder may persist without the ioctl, and the proof
 * of holding it there (only for the uid asking now: persist_socket.c).
 * Nothing when the daemon does not listen, or for a caller of the older
 * size, or a uid the token was not handed to.
 */
static void offer_socket(struct nvfs *fs, fuse_req_t req,
			 const struct fuse_file_info *fi,
			 struct nvmpfs_ioc_lease *l, size_t size)
{
	const char *name = persist_socket_name();
	if (size < sizeof(*l))
		return;
	memset(l->persist_token, 0, sizeof(l->persist_token));
	memset(l->persist_socket, 0, sizeof(l->persist_socket));
	l->daemon_pid = l->daemon_uid = 0;
	if (!name || nvfs_lease_token(fs, owner_of(fi), l->lease_id,
				      fuse_req_ctx(req)->uid,
				      l->persist_token) != 0)
		return;
	strncpy(l->persist_socket, name, sizeof(l->persist_socket) - 1);
	l->daemon_pid = (uint32_t)getpid();
	l->daemon_uid = (uint32_t)getuid();
	l->persist_flags |= NVMPFS_LEASE_PERSIST_SOCKET;
}

static void fill_lease_reply(struct nvfs *fs, const struct fuse_file_info *fi,
			     struct nvmpfs_ioc_lease *l, size_t *n)
{
	const char *path = nvfs_pool_path(fs);
	memset(l->pool_path, 0, sizeof(l->pool_path));
	strncpy(l->pool_path, path, sizeof(l->pool_path) - 1);
	nvfs_pool_uuid(fs, l->pool_uuid);
	l->pool_mode = pool_mode_code(nvfs_pool_mode(fs));
	l->persist_flags = ops_mirror_configured() ?
			   NVMPFS_LEASE_PERSIST_VIA_DAEMON : 0;
	struct nvfs_lease_extent ext[NVMPFS_LEASE_EXTENTS];
	ssize_t total = nvfs_lease_extents(fs, owner_of(fi), l->lease_id,
					   l->first, ext, NVMPFS_LEASE_EXTENTS);
	*n = 0;
	l->total_extents = total > 0 ? (uint32_t)total : 0;
	for (size_t i = 0; total > 0 && i < NVMPFS_LEASE_EXTENTS &&
			   l->first + i < (size_t)total; i++) {
		l->extents[i] = (struct nvmpfs_lease_extent){
			ext[i].file_off, ext[i].pool_off, ext[i].len };
		(*n)++;
	}
	l->nextents = (uint32_t)*n;
}

void ioctl_lease(fuse_req_t req, struct nvfs *fs, fuse_ino_t ino,
		 const struct fuse_file_info *fi, const void *in,
		 size_t in_size)
{
	struct nvmpfs_ioc_lease *l = malloc(sizeof(*l));
	if (!l) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int rc = 0;
	/* The size says which: with the persist-socket fields, or the older. */
	size_t size = in_size >= sizeof(*l) ? sizeof(*l) : NVMPFS_IOC_LEASE_V1_SIZE;
	if (in_size < NVMPFS_IOC_LEASE_V1_SIZE || !fi)
		rc = -EINVAL;
	else
		memcpy(l, in, size);
	if (rc == 0 && (l->flags & ~NVMPFS_LEASE_WRITABLE))
		rc = -EINVAL;
	/* As mmap: stores need a descriptor open for writing, root's too. */
	if (rc == 0 && (l->flags & NVMPFS_LEASE_WRITABLE) &&
	    (fi->fh & O_ACCMODE) == O_RDONLY)
		rc = -EBADF;
	bool started = false;
	if (rc == 0 && l->lease_id == 0) {
		rc = nvfs_lease_begin(fs, ino, owner_of(fi), l->off, l->len,
				      l->flags & NVMPFS_LEASE_WRITABLE,
				      &l->lease_id);
		started = rc == 0;
		l->first = 0;
	}
	size_t n = 0;
	if (rc == 0) {
		fill_lease_reply(fs, fi, l, &n);
		if (l->total_extents == 0)
			rc = -EINVAL; /* not a lease of this open file */
	}
	if (rc == 0)
		offer_socket(fs, req, fi, l, size);
	if (started)
		ops_invalidate_data(ino);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_ioctl(req, 0, l, size);
	free(l);
}

void ioctl_unlease(fuse_req_t req, struct nvfs *fs,
		   const struct fuse_file_info *fi, const void *in,
		   size_t in_size)
{
	struct nvmpfs_ioc_unlease u;
	if (in_size < sizeof(u) || !fi) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(&u, in, sizeof(u));
	uint64_t ino = 0;
	int rc = u.reserved ? -EINVAL
			    : nvfs_lease_end(fs, owner_of(fi), u.lease_id, &ino);
	if (ino)
		ops_invalidate_data(ino);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

/*
 * Where a persist is answered: the place a sync point waits for the
 * mirror before the program's nvmpfs_persist returns.
 */
/* Once the mirror has the ranges too (a sync point). */
static void persist_reply(fuse_req_t req, int rc)
{
	rc = ops_sync_point(req, rc);
	if (rc)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_ioctl(req, 0, NULL, 0);
}

void ioctl_persist(fuse_req_t req, struct nvfs *fs,
		   const struct fuse_file_info *fi, const void *in,
		   size_t in_size)
{
	struct nvmpfs_ioc_persist *p = malloc(sizeof(*p));
	if (!p) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	int rc = 0;
	if (in_size < sizeof(*p) || !fi)
		rc = -EINVAL;
	else
		memcpy(p, in, sizeof(*p));
	if (rc == 0 && (p->count > NVMPFS_MAX_RANGES || p->reserved))
		rc = -EINVAL;
	struct nvfs_range r[NVMPFS_MAX_RANGES];
	for (uint32_t i = 0; rc == 0 && i < p->count; i++)
		r[i] = (struct nvfs_range){ p->ranges[i].off, p->ranges[i].len };
	if (rc == 0)
		rc = nvfs_lease_persist(fs, owner_of(fi), p->lease_id, r,
					p->count);
	free(p);
	persist_reply(req, rc);
}

void ioctl_adopt(fuse_req_t req, struct nvfs *fs, fuse_ino_t ino,
		 const void *in, size_t in_size)
{
	struct nvmpfs_ioc_adopt a;
	if (in_size < sizeof(a)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memcpy(&a, in, sizeof(a));
	uint64_t next = a.start_block;
	struct nvfs_adopt_result res;
	int rc = nvfs_adopt(fs, ino, &next, a.max_blocks ? a.max_blocks : 1024,
			    &res);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	a.next_block = next;
	a.blocks_adopted = res.adopted;
	a.blocks_leased = res.leased;
	a.done = res.done;
	fuse_reply_ioctl(req, 0, &a, sizeof(a));
}
