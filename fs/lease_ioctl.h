/*
 * The ioctls of direct mappings (libnvmpfs nvmpfs_map_direct): lease,
 * unlease, persist; and adopt (nvmpfsctl scrub --adopt).  See
 * include/nvmpfs.h for the structures.
 */
#ifndef NVMPFS_LEASE_IOCTL_H
#define NVMPFS_LEASE_IOCTL_H

#include "ops.h"

struct nvfs;

void ioctl_lease(fuse_req_t req, struct nvfs *fs, fuse_ino_t ino,
		 const struct fuse_file_info *fi, const void *in,
		 size_t in_size);
void ioctl_unlease(fuse_req_t req, struct nvfs *fs,
		   const struct fuse_file_info *fi, const void *in,
		   size_t in_size);
void ioctl_persist(fuse_req_t req, struct nvfs *fs,
		   const struct fuse_file_info *fi, const void *in,
		   size_t in_size);
void ioctl_adopt(fuse_req_t req, struct nvfs *fs, fuse_ino_t ino,
		 const void *in, size_t in_size);

#endif
