/* Who sent a FUSE request, as the core wants it (struct nvfs_ctx). */
#ifndef NVMPFS_CALLER_H
#define NVMPFS_CALLER_H

#include "nvfs.h"
#include "ops.h"

/*
 * The caller's ids and umask, with callbacks that look up its
 * supplementary groups and its CAP_FSETID when the core needs them.
 */
struct nvfs_ctx caller_ctx(fuse_req_t req);

#endif
