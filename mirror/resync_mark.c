/*
 * The mirror's resync marker: a file beside its pool (role.h names it)
 * that exists, durably, from the moment a resync begins until the primary
 * says it has ended.  While it exists the pool mixes blocks of before the
 * resync with newer ones and may not be a state the primary could have
 * crashed into; `nvmpfsctl promote` refuses such a pool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replica.h"
#include "role.h"

/* Makes a change of the directory holding path durable. */
static int sync_dir_of(const char *path)
{
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int create_marker(const char *marker)
{
	int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	char line[128];
	int n = snprintf(line, sizeof(line), "resync under way since %lld: "
			 "this replica is not consistent until it ends\n",
			 (long long)time(NULL));
	int rc = write(fd, line, (size_t)n) == n && fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc ? rc : sync_dir_of(marker);
}

int replica_mark_resync(const char *pool_path, bool on, char *err,
			size_t errlen)
{
	char marker[4200];
	role_resync_marker(pool_path, marker, sizeof(marker));
	int rc;
	if (on)
		rc = create_marker(marker);
	else
		rc = unlink(marker) == 0 || errno == ENOENT ? sync_dir_of(marker)
							     : -errno;
	if (rc < 0)
		snprintf(err, errlen, "%s: cannot %s the resync marker: %s",
			 marker, on ? "create" : "remove", strerror(-rc));
	return rc;
}
