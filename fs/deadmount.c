/*
 * After a daemon is killed, its mount stays: every access to the mount
 * point fails with ENOTCONN until it is unmounted.  A new mount would go
 * on top of it, and the first unmount would remove only the new one.  A
 * dead nvmpfs mount of the same pool is ours to clear (remounting is how
 * the pool is recovered); any other dead mount is left to its owner.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "deadmount.h"
#include "mounttab.h"

extern char **environ;

/*
 * statfs always asks the daemon; stat(2) may be answered from attributes
 * the kernel still caches for the dead mount's root (which is how a new
 * mount came to be stacked on a dead one).
 */
static bool is_dead(const char *mnt)
{
	struct statfs st;
	return statfs(mnt, &st) < 0 && errno == ENOTCONN;
}

/* A user may not umount2 a FUSE mount; fusermount3 may do it for them. */
static int detach_with_fusermount(const char *target)
{
	char *argv[] = { "fusermount3", "-u", "-z", "--", (char *)target,
			 NULL };
	pid_t pid;
	int status;
	if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ))
		return -1;
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int detach(const char *target)
{
	if (umount2(target, MNT_DETACH) == 0)
		return 0;
	int err = errno;
	if (err == EPERM && detach_with_fusermount(target) == 0)
		return 0;
	fprintf(stderr, "nvmpfs: %s: cannot detach the dead mount: %s; run "
		"'fusermount3 -u %s'\n", target, strerror(err), target);
	return -1;
}

static bool is_fuse(const char *fstype)
{
	return strcmp(fstype, "fuse") == 0 || strcmp(fstype, "fuseblk") == 0 ||
	       strncmp(fstype, "fuse.", 5) == 0 ||
	       strncmp(fstype, "fuseblk.", 8) == 0;
}

/* Handles the topmost dead mount: 1 cleared, 0 none found, -1 refused. */
static int clear_one(const char *target, const char *pool)
{
	struct mount_entry e;
	if (!mounttab_find_target(target, &e))
		return 0;
	int rc;
	if (!is_fuse(e.fstype)) {
		rc = 0; /* not FUSE: let the mount report what it finds */
	} else if (strcmp(e.fstype, "fuse.nvmpfs") == 0 &&
		   source_is_pool(e.source, pool)) {
		rc = detach(target) == 0 ? 1 : -1;
		if (rc == 1)
			fprintf(stderr, "nvmpfs: %s: the nvmpfs of %s mounted "
				"here had died; detached its dead mount\n",
				target, pool);
	} else {
		fprintf(stderr, "nvmpfs: %s: a dead FUSE mount is in the way "
			"(%s of %s: its daemon is gone); run 'fusermount3 -u "
			"%s' first\n", target, e.fstype, e.source, target);
		rc = -1;
	}
	mount_entry_free(&e);
	return rc;
}

int clear_dead_mount(const char *mnt, const char *pool)
{
	if (!is_dead(mnt))
		return 0;
	char *target = mountpoint_path(mnt);
	if (!target) {
		fprintf(stderr, "nvmpfs: %s: %s\n", mnt, strerror(errno));
		return -1;
	}
	int rc = 0;
	/* Crashes may have stacked several. */
	for (int i = 0; i < 16 && rc == 0 && is_dead(target); i++) {
		int one = clear_one(target, pool);
		rc = one < 0 ? -1 : 0;
		if (one == 0)
			break;
	}
	free(target);
	return rc;
}
