/* The FUSE low-level operations of nvmpfs: a thin translation to the core. */
#ifndef NVMPFS_OPS_H
#define NVMPFS_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

extern const struct fuse_lowlevel_ops nvmpfs_ops;

/* The session the operations answer in (for notifications to the kernel). */
void ops_set_session(struct fuse_session *se);
struct mirror;
/* The mirror, once started (NULL: none). */
void ops_set_mirror(struct mirror *m);
struct mirror *ops_mirror(void);
/* After a sync point's core call: waits for the mirror (rc passes). */
int ops_sync_point(fuse_req_t req, int rc);
/*
 * The same for a sync point that did not come through FUSE (the persist
 * socket): stop(arg) is asked now and then (the caller gone: -EINTR).
 */
struct nvfs;
int ops_sync_wait(struct nvfs *fs, int rc, bool (*stop)(void *), void *arg);

/* ioctl.c: the requests of libnvmpfs and nvmpfsctl. */
void op_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
	      struct fuse_file_info *fi, unsigned flags, const void *in_buf,
	      size_t in_bufsz, size_t out_bufsz);
/* NVMPFS_POOL_MODE_* of nvfs_pool_mode's name. */
uint32_t pool_mode_code(const char *mode);

/*
 * Direct mappings (lease_ioctl.c): whether direct stores must be
 * persisted through the daemon (a mirror is attached), and dropping the
 * kernel's cached data of a file when a lease starts or ends.
 */
bool ops_mirror_configured(void);
void ops_invalidate_data(fuse_ino_t ino);

#endif
