/*
 * The daemon's reads and writes of /dev/fuse, through libfuse's custom
 * I/O hooks: the same system calls, plus one INIT flag that libfuse 3.14
 * cannot ask for (FUSE_HANDLE_KILLPRIV_V2, see device_io.c).
 */
#ifndef NVMPFS_DEVICE_IO_H
#define NVMPFS_DEVICE_IO_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

/*
 * After fuse_session_mount: the session's device goes through the hooks.
 * 0, or -errno (then libfuse's own I/O stays, and nothing changes).
 */
int device_io_attach(struct fuse_session *se);

#endif
