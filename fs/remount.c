/*
 * mount -o remount,ro MNT runs (through mount.fuse3) "nvmpfs POOL MNT -o
 * remount,ro,...": no new daemon is started.  The running daemon is asked
 * to switch with NVMPFS_IOC_REMOUNT on the mount's root directory, and the
 * kernel's view of the mount follows with mount(2) MS_REMOUNT (FUSE takes
 * the read-only flag on a remount and ignores the rest of the options).
 *
 * To read-only, the kernel goes first: it refuses while files are open
 * for writing, and once it has switched no new write can start.  To
 * read-write, the daemon goes first, so that the kernel lets writes
 * through only to a daemon that takes them.  If the second step fails,
 * the first is undone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mounttab.h"
#include "nvmpfs.h"
#include "remount.h"

#ifndef ST_NOSYMFOLLOW
#define ST_NOSYMFOLLOW 0x2000
#endif

/* Flags of the mount a remount must repeat, or the kernel clears them. */
static const struct {
	unsigned long st, ms;
} kept_flags[] = {
	{ ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV },
	{ ST_NOEXEC, MS_NOEXEC }, { ST_SYNCHRONOUS, MS_SYNCHRONOUS },
	{ ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
	{ ST_RELATIME, MS_RELATIME }, { ST_NOSYMFOLLOW, MS_NOSYMFOLLOW },
};

/*
 * The flags a remount may set or clear besides ro/rw.  nosuid and nodev
 * are never cleared: mount.fuse3 adds "dev,suid" to every command line
 * without them, so they do not tell what the user asked for.
 */
#define MAY_SET (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | \
		 MS_NOSYMFOLLOW)
#define MAY_CLEAR (MS_NOEXEC | MS_SYNCHRONOUS | MS_NOSYMFOLLOW)

static unsigned long kernel_flags(const struct statvfs *st,
				  const struct daemon_opts *o, bool ro)
{
	unsigned long flags = MS_REMOUNT | (ro ? MS_RDONLY : 0);
	for (size_t i = 0; i < sizeof(kept_flags) / sizeof(kept_flags[0]); i++)
		if (st->f_flag & kept_flags[i].st)
			flags |= kept_flags[i].ms;
	if (!(flags & (MS_NOATIME | MS_RELATIME)))
		flags |= MS_STRICTATIME;
	flags |= o->flags_on & MAY_SET;
	flags &= ~(o->flags_off & MAY_CLEAR);
	return flags;
}

/* The daemon keeps its access-time mode: say so if another is asked for. */
static void warn_atime(const char *mnt, const struct statvfs *st,
		       const struct daemon_opts *o)
{
	bool noatime = st->f_flag & ST_NOATIME;
	if (((o->flags_on & MS_NOATIME) && !noatime) ||
	    ((o->flags_off & MS_NOATIME) && noatime))
		fprintf(stderr, "nvmpfs: %s: access-time options do not change "
			"on a remount (unmount and mount again); kept as "
			"mounted\n", mnt);
}

static int kernel_remount(const char *mnt, unsigned long flags)
{
	if (mount(NULL, mnt, NULL, flags, NULL) == 0)
		return 0;
	int err = errno;
	fprintf(stderr, "nvmpfs: %s: the kernel refused to remount it %s: %s%s\n",
		mnt, flags & MS_RDONLY ? "read-only" : "read-write",
		strerror(err), err == EBUSY && (flags & MS_RDONLY)
				       ? " (files are open for writing)" : "");
	return -1;
}

static int daemon_remount(int dirfd, const char *mnt, const char *pool,
			  bool ro)
{
	struct nvmpfs_ioc_remount r = { .read_only = ro };
	if (ioctl(dirfd, NVMPFS_IOC_REMOUNT, &r) == 0)
		return 0;
	if (errno == EROFS)
		fprintf(stderr, "nvmpfs: %s: %s was mounted read-only (-o ro), "
			"so it is open read-only; unmount it and mount it "
			"read-write\n", mnt, pool);
	else if (errno == ENOTTY)
		fprintf(stderr, "nvmpfs: %s: the daemon serving it cannot "
			"remount (an older nvmpfs?); unmount and mount again\n",
			mnt);
	else if (errno == EPERM)
		fprintf(stderr, "nvmpfs: %s: only root may remount\n", mnt);
	else if (errno == EBUSY && ro)
		fprintf(stderr, "nvmpfs: %s: programs map files of it directly "
			"(nvmpfs_map_direct): it cannot go read-only until "
			"their mappings end\n", mnt);
	else
		fprintf(stderr, "nvmpfs: %s: the daemon refused to remount it "
			"%s: %s\n", mnt, ro ? "read-only" : "read-write",
			strerror(errno));
	return -1;
}

static int switch_mount(int dirfd, const char *mnt, const char *pool,
			const struct statvfs *st, const struct daemon_opts *o,
			bool ro)
{
	unsigned long want = kernel_flags(st, o, ro);
	unsigned long undo = kernel_flags(st, o, !ro);
	if (ro) {
		if (kernel_remount(mnt, want) < 0)
			return -1;
		if (daemon_remount(dirfd, mnt, pool, true) == 0)
			return 0;
		kernel_remount(mnt, undo);
		return -1;
	}
	if (daemon_remount(dirfd, mnt, pool, false) < 0)
		return -1;
	if (kernel_remount(mnt, want) == 0)
		return 0;
	daemon_remount(dirfd, mnt, pool, true);
	return -1;
}

/* Finds the nvmpfs mount on mnt (of o->pool, when one is named). */
static bool find_nvmpfs_mount(const char *mnt, const struct daemon_opts *o,
			      struct mount_entry *e)
{
	if (!mounttab_find_target(mnt, e)) {
		fprintf(stderr, "nvmpfs: %s: not mounted, nothing to remount\n",
			mnt);
		return false;
	}
	if (strcmp(e->fstype, "fuse.nvmpfs") != 0) {
		fprintf(stderr, "nvmpfs: %s: not an nvmpfs mount (%s)\n", mnt,
			e->fstype);
	} else if (o->pool && !source_is_pool(e->source, o->pool)) {
		fprintf(stderr, "nvmpfs: %s: it is a mount of %s, not of %s\n",
			mnt, e->source, o->pool);
	} else {
		return true;
	}
	mount_entry_free(e);
	return false;
}

int remount_running(const struct daemon_opts *o)
{
	char *mnt = realpath(o->mountpoint, NULL);
	if (!mnt) {
		fprintf(stderr, "nvmpfs: %s: %s\n", o->mountpoint,
			strerror(errno));
		return 1;
	}
	struct mount_entry e;
	struct statvfs st;
	int rc = 1, dirfd = -1;
	if (!find_nvmpfs_mount(mnt, o, &e))
		goto out;
	dirfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || fstatvfs(dirfd, &st) < 0) {
		fprintf(stderr, "nvmpfs: %s: %s\n", mnt, strerror(errno));
		goto out_entry;
	}
	/* Neither ro nor rw given: the mount stays as it is. */
	bool ro = (o->flags_on & MS_RDONLY) ||
		  (!(o->flags_off & MS_RDONLY) && (st.f_flag & ST_RDONLY));
	warn_atime(mnt, &st, o);
	rc = switch_mount(dirfd, mnt, e.source, &st, o, ro) == 0 ? 0 : 1;
out_entry:
	if (dirfd >= 0)
		close(dirfd);
	mount_entry_free(&e);
out:
	free(mnt);
	return rc;
}
