/*
 * A walk over the regular files below a folder of a mount in use, where
 * files and folders are removed and moved while it runs.
 */
#ifndef NVMPFS_LIVEWALK_H
#define NVMPFS_LIVEWALK_H

#include <sys/stat.h>

/*
 * Called for each regular file: dirfd and name open it (openat), path
 * names it in messages.  A non-zero return stops the walk.
 */
typedef int (*livewalk_fn)(int dirfd, const char *name, const char *path,
			   const struct stat *st, void *arg);

/*
 * Walks the files below path (or path itself, a regular file) on path's
 * file system, without following symbolic links.  What is gone by the
 * time the walk gets to it (ENOENT, ENOTDIR) is skipped: it is not there
 * to visit.  Other errors are said on stderr and counted in *errors (with
 * errors NULL, neither); the walk goes on.  Returns what fn returned to
 * stop it, else 0.
 */
int livewalk(const char *path, livewalk_fn fn, void *arg, int *errors);

#endif
