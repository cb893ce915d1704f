/*
 * umount(8) returns once the kernel has detached the mount; the daemon
 * then learns of it, makes the pool clean and lets go of its lock.  A
 * mount right after the unmount may find the pool still locked by that
 * daemon: it is told apart from a pool that is in use (mounted, or being
 * checked by fsck.nvmpfs) by who holds the pool open and by the mount
 * table, and then waited for.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mounttab.h"
#include "poolwait.h"

static bool is_nvmpfs_process(int pid_dir)
{
	char comm[32] = "";
	int fd = openat(pid_dir, "comm", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	return n > 0 && strcmp(comm, "nvmpfs\n") == 0;
}

/* Whether one of the process's descriptors is the file st. */
static bool has_open(int pid_dir, const struct stat *file)
{
	int fd_dir = openat(pid_dir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd_dir >= 0 ? fdopendir(fd_dir) : NULL;
	if (!d) {
		if (fd_dir >= 0)
			close(fd_dir);
		return false;
	}
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(d)) != NULL) {
		struct stat st;
		found = de->d_name[0] != '.' &&
			fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
			st.st_dev == file->st_dev && st.st_ino == file->st_ino;
	}
	closedir(d);
	return found;
}

static bool nvmpfs_holds(const char *pool)
{
	struct stat file;
	DIR *proc = opendir("/proc");
	if (stat(pool, &file) < 0 || !proc) {
		if (proc)
			closedir(proc);
		return false;
	}
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(proc)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]) ||
		    atoi(de->d_name) == getpid())
			continue;
		int pid_dir = openat(dirfd(proc), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pid_dir < 0)
			continue;
		found = is_nvmpfs_process(pid_dir) && has_open(pid_dir, &file);
		close(pid_dir);
	}
	closedir(proc);
	return found;
}

bool pool_held_by_exiting_daemon(const char *pool)
{
	struct mount_entry e;
	if (mounttab_find_pool(pool, &e)) {
		mount_entry_free(&e);
		return false;
	}
	return nvmpfs_holds(pool);
}
