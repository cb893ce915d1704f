/*
 * The walk of livewalk.h.  nftw(3) gives up when a folder it listed is
 * gone by the time it opens it; here every folder and file is opened
 * relative to the descriptor of the folder it was found in, so a folder
 * moved meanwhile is still walked, and one removed is skipped.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "livewalk.h"

struct walk {
	livewalk_fn fn;
	void *arg;
	int *errors;
	dev_t dev;               /* the walk stays on this file system */
};

static bool gone(int err)
{
	return err == ENOENT || err == ENOTDIR;
}

static void walk_error(struct walk *w, const char *path, int err)
{
	if (!w->errors)
		return;
	fprintf(stderr, "nvmpfsctl: %s: %s\n", path, strerror(err));
	(*w->errors)++;
}

static int walk_dir(struct walk *w, int fd, const char *path);

/* One entry of a folder: a file is visited, a folder walked. */
static int walk_entry(struct walk *w, int dirfd, const char *name,
		      const char *path)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (!gone(errno))
			walk_error(w, path, errno);
		return 0;
	}
	if (st.st_dev != w->dev)
		return 0;
	if (S_ISREG(st.st_mode))
		return w->fn(dirfd, name, path, &st, w->arg);
	if (!S_ISDIR(st.st_mode))
		return 0;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	if (fd < 0) {
		if (!gone(errno))
			walk_error(w, path, errno);
		return 0;
	}
	return walk_dir(w, fd, path);
}

/* Walks the folder open on fd (closed when done). */
static int walk_dir(struct walk *w, int fd, const char *path)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		walk_error(w, path, errno);
		close(fd);
		return 0;
	}
	struct dirent *e;
	int rc = 0;
	errno = 0;
	while (rc == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char child[PATH_MAX];
		if (snprintf(child, sizeof(child), "%s/%s", path, e->d_name) >=
		    (int)sizeof(child)) {
			walk_error(w, path, ENAMETOOLONG);
			continue;
		}
		rc = walk_entry(w, dirfd(d), e->d_name, child);
		errno = 0;
	}
	if (rc == 0 && errno && !gone(errno))
		walk_error(w, path, errno);
	closedir(d);
	return rc;
}

int livewalk(const char *path, livewalk_fn fn, void *arg, int *errors)
{
	struct walk w = { .fn = fn, .arg = arg, .errors = errors };
	struct stat st;
	if (lstat(path, &st) < 0) {
		walk_error(&w, path, errno);
		return 0;
	}
	w.dev = st.st_dev;
	return walk_entry(&w, AT_FDCWD, path, path);
}
