/*
 * Opening, judging and sizing the file mkfs.nvmpfs overwrites.  The user
 * who runs mkfs.nvmpfs (often root) must not be tricked into destroying a
 * file they did not name: a symbolic link planted where the pool should be
 * is never followed, and a file holding anything but an nvmpfs pool or
 * zeros is overwritten only with -f.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "mkfs_target.h"
#include "sniff.h"
#include "super.h"

/*
 * A device counts as empty when this much of its start is zero: every
 * format keeps its header there, and scanning a device of hundreds of
 * GiB to the end would make mkfs.nvmpfs slow.
 */
#define DEVICE_ZERO_SCAN (16ull << 20)

#define ZERO_SCAN_STEP (1u << 20)

static int report_open_error(const char *path, int e)
{
	struct stat st;
	if ((e == ELOOP || e == EEXIST) && lstat(path, &st) == 0 &&
	    S_ISLNK(st.st_mode)) {
		char to[PATH_MAX];
		ssize_t n = readlink(path, to, sizeof(to) - 1);
		if (n < 0)
			strcpy(to, "?");
		else
			to[n] = '\0';
		fprintf(stderr, "mkfs.nvmpfs: %s is a symbolic link (to %s); "
			"mkfs.nvmpfs never follows one, even with -f: give the "
			"path of the pool itself\n", path, to);
		return -1;
	}
	fprintf(stderr, "mkfs.nvmpfs: %s: cannot open: %s\n", path, strerror(e));
	return -1;
}

static const char *type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFBLK: return "a block device";
	case S_IFIFO: return "a FIFO";
	case S_IFSOCK: return "a socket";
	case S_IFDIR: return "a directory";
	default: return "of an unknown type";
	}
}

/* Held while the file is judged and sized, so no mount can start then. */
static int lock_target(const struct mkfs_target *t)
{
	if (flock(t->fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		fprintf(stderr, "mkfs.nvmpfs: %s: pool is in use (mounted or "
			"being checked by another process)\n", t->path);
	else
		fprintf(stderr, "mkfs.nvmpfs: %s: cannot lock: %s\n", t->path,
			strerror(errno));
	return -1;
}

int target_open(struct mkfs_target *t, const char *path)
{
	const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
	memset(t, 0, sizeof(*t));
	t->path = path;
	t->fd = open(path, flags);
	if (t->fd < 0 && errno == ENOENT) {
		t->fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		t->created = t->fd >= 0;
	}
	if (t->fd < 0)
		return report_open_error(path, errno);
	if (fstat(t->fd, &t->st) < 0) {
		fprintf(stderr, "mkfs.nvmpfs: %s: %s\n", path, strerror(errno));
		target_close(t, true);
		return -1;
	}
	if (!S_ISREG(t->st.st_mode) && !S_ISCHR(t->st.st_mode)) {
		fprintf(stderr, "mkfs.nvmpfs: %s is %s, not a regular file or a "
			"devdax device\n", path, type_name(t->st.st_mode));
		target_close(t, true);
		return -1;
	}
	if (lock_target(t) < 0) {
		target_close(t, true);
		return -1;
	}
	return 0;
}

static bool is_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/*
 * Refuses an nvmpfs pool (valid, damaged or of another layout version)
 * found in the first bytes; true when it did.
 */
static bool refused_as_pool(const char *path, const uint8_t *head, size_t len)
{
	bool magic = false, valid = false;
	uint32_t version = NVMPFS_LAYOUT_VERSION;
	for (size_t i = 0; i < 2; i++) {
		struct nvmpfs_super sb;
		size_t off = i * NVMPFS_BLOCK_SIZE;
		if (off + sizeof(sb) > len)
			break;
		memcpy(&sb, head + off, sizeof(sb));
		if (sb.magic != NVMPFS_MAGIC)
			continue;
		magic = true;
		if (sb.version != NVMPFS_LAYOUT_VERSION)
			version = sb.version;
		else if (sb.checksum == super_checksum(&sb))
			valid = true;
	}
	if (valid)
		fprintf(stderr, "mkfs.nvmpfs: %s already holds an nvmpfs pool; "
			"use -f to overwrite it\n", path);
	else if (magic && version != NVMPFS_LAYOUT_VERSION)
		fprintf(stderr, "mkfs.nvmpfs: %s holds an nvmpfs pool of layout "
			"version %u; use -f to overwrite it\n", path, version);
	else if (magic)
		fprintf(stderr, "mkfs.nvmpfs: %s holds a damaged nvmpfs pool "
			"(neither superblock copy is valid); use -f to overwrite "
			"it\n", path);
	return magic;
}

static void refuse_contents(const char *path, const uint8_t *head, size_t len)
{
	fprintf(stderr, "mkfs.nvmpfs: %s is not empty and not an nvmpfs pool: "
		"it seems to hold %s; use -f to overwrite it (everything in it "
		"is lost)\n", path, sniff_contents(head, len));
}

static ssize_t read_at(int fd, uint8_t *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Whether [pos, size) holds only zeros; holes are skipped unread. */
static int zero_from(int fd, off_t pos, off_t size, uint8_t *buf, bool *zero)
{
	*zero = true;
	while (pos < size) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			return 0; /* only holes up to the end */
		if (data < 0)
			data = pos; /* no SEEK_DATA here: read it all */
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > size)
			hole = size;
		for (off_t p = data; p < hole;) {
			size_t want = hole - p < ZERO_SCAN_STEP ? (size_t)(hole - p)
								: ZERO_SCAN_STEP;
			ssize_t n = read_at(fd, buf, want, p);
			if (n < 0)
				return -1;
			if (n == 0)
				return 0; /* the file shrank: nothing more */
			if (!is_zero(buf, (size_t)n)) {
				*zero = false;
				return 0;
			}
			p += n;
		}
		pos = hole;
	}
	return 0;
}

int target_judge_file(const struct mkfs_target *t, bool force)
{
	off_t size = t->st.st_size;
	if (force || t->created || size == 0 || target_is_device(t))
		return 0;
	uint8_t *buf = malloc(SNIFF_HEAD_SIZE + ZERO_SCAN_STEP);
	if (!buf) {
		fprintf(stderr, "mkfs.nvmpfs: out of memory\n");
		return -1;
	}
	int rc = -1;
	size_t want = (uint64_t)size < SNIFF_HEAD_SIZE ? (size_t)size
						       : SNIFF_HEAD_SIZE;
	ssize_t n = read_at(t->fd, buf, want, 0);
	bool zero = false;
	if (n < 0 || (is_zero(buf, (size_t)n) &&
		      zero_from(t->fd, n, size, buf + SNIFF_HEAD_SIZE, &zero) < 0)) {
		fprintf(stderr, "mkfs.nvmpfs: %s: cannot read it: %s\n", t->path,
			strerror(errno));
	} else if (zero) {
		rc = 0;
	} else if (!refused_as_pool(t->path, buf, (size_t)n)) {
		refuse_contents(t->path, buf, (size_t)n);
	}
	free(buf);
	return rc;
}

int target_judge_mapped(const struct mkfs_target *t, const uint8_t *base,
			uint64_t size, bool force)
{
	if (force)
		return 0;
	size_t head = size < SNIFF_HEAD_SIZE ? (size_t)size : SNIFF_HEAD_SIZE;
	size_t scan = size < DEVICE_ZERO_SCAN ? (size_t)size : DEVICE_ZERO_SCAN;
	if (is_zero(base, scan))
		return 0;
	if (!refused_as_pool(t->path, base, head))
		refuse_contents(t->path, base, head);
	return -1;
}

static int size_new_file(const struct mkfs_target *t, uint64_t size)
{
	int rc = posix_fallocate(t->fd, 0, (off_t)size);
	if (rc == EOPNOTSUPP || rc == EINVAL)
		rc = ftruncate(t->fd, (off_t)size) ? errno : 0;
	if (rc)
		fprintf(stderr, "mkfs.nvmpfs: %s: cannot size the pool to %llu "
			"bytes: %s\n", t->path, (unsigned long long)size,
			strerror(rc));
	return rc ? -1 : 0;
}

int target_prepare(struct mkfs_target *t, uint64_t size, uint64_t new_size)
{
	if (target_is_device(t))
		return 0;
	if ((t->st.st_mode & 07777) != 0600 && fchmod(t->fd, 0600) < 0) {
		fprintf(stderr, "mkfs.nvmpfs: %s: cannot set its mode to 0600: %s "
			"(other users must not read a pool: it holds every "
			"file's data)\n", t->path, strerror(errno));
		return -1;
	}
	if (t->created)
		return size_new_file(t, size ? size : new_size);
	uint64_t have = (uint64_t)t->st.st_size;
	if (!size && have < NVMPFS_MIN_POOL_SIZE) {
		fprintf(stderr, "mkfs.nvmpfs: %s: %llu bytes is too small for a "
			"pool (at least %llu MiB); give a size with -s\n",
			t->path, (unsigned long long)have,
			(unsigned long long)(NVMPFS_MIN_POOL_SIZE >> 20));
		return -1;
	}
	if (size && size != have && ftruncate(t->fd, (off_t)size) < 0) {
		fprintf(stderr, "mkfs.nvmpfs: %s: cannot resize to %llu bytes: "
			"%s\n", t->path, (unsigned long long)size,
			strerror(errno));
		return -1;
	}
	return 0;
}

bool target_same_file(const struct mkfs_target *t, int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_dev == t->st.st_dev &&
	       st.st_ino == t->st.st_ino;
}

void target_unlock(const struct mkfs_target *t)
{
	flock(t->fd, LOCK_UN);
}

void target_close(struct mkfs_target *t, bool failed)
{
	struct stat st;
	if (failed && t->created && lstat(t->path, &st) == 0 &&
	    st.st_dev == t->st.st_dev && st.st_ino == t->st.st_ino)
		unlink(t->path);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}
