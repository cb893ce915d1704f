/* The FUSE low-level operations of nvmpfs: a thin translation to the core. */
#ifndef NVMPFS_OPS_H
#define NVMPFS_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops nvmpfs_ops;

#endif
