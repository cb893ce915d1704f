/* Writing zeros over a new pool file once (see prewrite.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "prewrite.h"

#define CHUNK (1u << 20)
/* Calls to progress: about one per this many bytes. */
#define PROGRESS_EVERY (16ull << 20)

bool prewrite_wanted(int fd)
{
	struct stat st;
	struct statfs sfs;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fstatfs(fd, &sfs) < 0)
		return false;
	switch ((unsigned long)sfs.f_type) {
	case TMPFS_MAGIC:
	case RAMFS_MAGIC:
	case HUGETLBFS_MAGIC:
		return false;
	default:
		return true;
	}
}

int prewrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, buf, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

int prewrite_zeros(int fd, uint64_t from, uint64_t to,
		   void (*progress)(void *arg, uint64_t done, uint64_t total),
		   void *arg)
{
	if (from >= to)
		return 0;
	void *zeros = calloc(1, CHUNK);
	if (!zeros)
		return -ENOMEM;
	int rc = 0;
	uint64_t total = to - from, next_report = 0;
	for (uint64_t off = from; off < to && rc == 0;) {
		size_t n = to - off < CHUNK ? (size_t)(to - off) : CHUNK;
		rc = prewrite_all(fd, zeros, n, off);
		off += n;
		if (progress && (off - from >= next_report || off == to)) {
			progress(arg, off - from, total);
			next_report = off - from + PROGRESS_EVERY;
		}
	}
	free(zeros);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	return rc;
}
