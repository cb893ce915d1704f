/* nvmpfs -o remount: changes a running mount instead of making one. */
#ifndef NVMPFS_REMOUNT_H
#define NVMPFS_REMOUNT_H

#include "options.h"

/*
 * Switches the nvmpfs mount on o->mountpoint read-only or read-write, in
 * the daemon and in the kernel.  Returns the exit status (0, or 1 after
 * printing why not).
 */
int remount_running(const struct daemon_opts *o);

#endif
