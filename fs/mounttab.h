/*
 * The mount table as this process sees it (/proc/self/mountinfo): who is
 * mounted where, for the checks before a mount and for the remount.
 */
#ifndef NVMPFS_MOUNTTAB_H
#define NVMPFS_MOUNTTAB_H

#include <stdbool.h>

struct mount_entry {
	char *target;            /* the mount point */
	char *fstype;            /* e.g. fuse.nvmpfs */
	char *source;            /* for nvmpfs: the pool */
};

/*
 * The absolute path of a mount point without resolving its last part, so
 * that it works on a mount point whose FUSE daemon is gone (any stat of it
 * fails).  Returns a malloc'd path or NULL (errno set).
 */
char *mountpoint_path(const char *mnt);

/* The topmost mount on the absolute path target; false if none. */
bool mounttab_find_target(const char *target, struct mount_entry *out);

/* A fuse.nvmpfs mount whose source is the pool file pool; false if none. */
bool mounttab_find_pool(const char *pool, struct mount_entry *out);

/* Whether a mount's source names the pool file pool (the same file). */
bool source_is_pool(const char *source, const char *pool);

void mount_entry_free(struct mount_entry *e);

#endif
