/*
 * A pool holds every file's data and metadata in the clear: a user who can
 * read the pool file reads every file in it, whatever the files' own
 * permissions say, and one who can write it can change any of them.  The
 * daemon therefore refuses a pool its group or others may read or write,
 * unless the operator says (-o unsafe_pool_perms) that this is wanted.
 *
 * The mode is taken from the path just before the mount opens it: only the
 * pool's owner (or root) can change it in between, and they could read
 * the pool anyway.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "pool_perms.h"

#define OPEN_TO_OTHERS (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)

int pool_perms_check(const char *path, bool allow_open, char *err,
		     size_t errlen)
{
	struct stat st;
	if (allow_open || stat(path, &st) < 0)
		return 0; /* a missing pool is made 0600; open reports the rest */
	if (!(st.st_mode & OPEN_TO_OTHERS))
		return 0;
	bool readable = st.st_mode & (S_IRGRP | S_IROTH);
	bool writable = st.st_mode & (S_IWGRP | S_IWOTH);
	snprintf(err, errlen,
		 "%s: the pool's mode %04o lets users other than its owner %s "
		 "it: every local user who can %s the pool %s every file's "
		 "data in it, bypassing the file system's permissions. Fix it "
		 "with 'chmod 600 %s', or mount with -o unsafe_pool_perms if "
		 "that is what you want", path, (unsigned)(st.st_mode & 07777),
		 readable && writable ? "read and write" : readable ? "read" : "write",
		 readable && writable ? "read and write" : readable ? "read" : "write",
		 readable && writable ? "reads and can change"
			 : readable ? "reads" : "can change",
		 path);
	return -1;
}
