/* A FUSE mount whose daemon died, left on the mount point (see deadmount.c). */
#ifndef NVMPFS_DEADMOUNT_H
#define NVMPFS_DEADMOUNT_H

/*
 * Before mounting pool on mnt: if a dead FUSE mount is on mnt, detaches it
 * when it is an nvmpfs mount of the same pool (saying so on stderr), and
 * otherwise refuses.  Returns 0 to go on, -1 after printing why not.
 */
int clear_dead_mount(const char *mnt, const char *pool);

#endif
