/*
 * The shared key: every byte of a key file.  Like ssh with a private key,
 * a key file that group or others may read or write is refused: a key
 * others can read proves nothing, and one they can write is theirs.  The
 * checks are made on the open file (fstat), so the file checked is the
 * file read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"

static int check_file(const char *path, const struct stat *st, char *err,
		      size_t errlen)
{
	if (!S_ISREG(st->st_mode))
		snprintf(err, errlen, "key file %s: not a regular file", path);
	else if (st->st_mode & (S_IRWXG | S_IRWXO))
		snprintf(err, errlen, "key file %s: group or others may read or "
			 "write it (mode %04o): the key is no secret; make it "
			 "private with chmod 600 %s", path,
			 (unsigned)(st->st_mode & 07777), path);
	else if (st->st_size < NVMR_KEY_MIN)
		snprintf(err, errlen, "key file %s: %lld bytes, a key needs at "
			 "least %u (make one with: head -c 32 /dev/urandom > %s)",
			 path, (long long)st->st_size, NVMR_KEY_MIN, path);
	else if (st->st_size > NVMR_KEY_MAX)
		snprintf(err, errlen, "key file %s: %lld bytes, a key has at "
			 "most %u", path, (long long)st->st_size, NVMR_KEY_MAX);
	else
		return 0;
	return -1;
}

static int read_all(int fd, const char *path, struct nvmr_key *key,
		    size_t size, char *err, size_t errlen)
{
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, key->bytes + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "key file %s: %s", path,
				 n < 0 ? strerror(errno)
				       : "shorter than its size said");
			return -1;
		}
		got += (size_t)n;
	}
	key->len = size;
	return 0;
}

int nvmr_key_load(const char *path, struct nvmr_key *key, char *err,
		  size_t errlen)
{
	memset(key, 0, sizeof(*key));
	/* O_NONBLOCK: a FIFO must not hang the open; it is refused below. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) < 0)
		snprintf(err, errlen, "key file %s: %s", path, strerror(errno));
	else if (check_file(path, &st, err, errlen) == 0)
		rc = read_all(fd, path, key, (size_t)st.st_size, err, errlen);
	close(fd);
	if (rc < 0)
		memset(key, 0, sizeof(*key));
	return rc;
}
