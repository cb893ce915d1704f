/*
 * Unit tests of the nvmpfs core, without a mount: the public API of
 * fs/core/nvfs.h, plus the journal, fsck, mkfs and superblock internals.
 * Pools are files in /dev/shm (PM emulated with PMEM_IS_PMEM_FORCE=1),
 * named per process and per test, and removed after each test.
 *
 *   tests/unit/test_core            run every test
 *   tests/unit/test_core rename     run the tests whose name contains "rename"
 *   tests/unit/test_core --list     list the tests
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "check.h"
#include "format.h"
#include "fs.h"
#include "held.h"
#include "inode.h"
#include "journal.h"
#include "nvfs.h"
#include "nvfs_direct.h"
#include "pool.h"
#include "super.h"
#include "xattr.h"
#include "xattr_tree.h"

#include "unit.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define BS NVMPFS_BLOCK_SIZE
#define ROOT NVMPFS_ROOT_INO

/* ------------------------------------------------------------------ */
/* Pools and mounts of the current test, cleaned up after each test.   */

#define MAX_POOLS 16
#define MAX_MOUNTS 8

static char pool_paths[MAX_POOLS][128];
static int npools;
static int pool_serial;
static struct nvfs *mounts[MAX_MOUNTS];

/* A fresh pool file name for this test (the file is not made here). */
static const char *tmp_pool(const char *tag)
{
	if (npools == MAX_POOLS)
		FAIL("too many pools in one test");
	char *p = pool_paths[npools++];
	snprintf(p, sizeof(pool_paths[0]), "/dev/shm/nvmpfs-unit-%d-%s-%d.pool",
		 (int)getpid(), tag, ++pool_serial);
	unlink(p);
	return p;
}

static void track(struct nvfs *fs)
{
	for (int i = 0; i < MAX_MOUNTS; i++)
		if (!mounts[i]) {
			mounts[i] = fs;
			return;
		}
	FAIL("too many mounts in one test");
}

static void untrack(struct nvfs *fs)
{
	for (int i = 0; i < MAX_MOUNTS; i++)
		if (mounts[i] == fs)
			mounts[i] = NULL;
}

static void cleanup_test(void)
{
	/* A test that stopped half way: drop its mounts without a word. */
	for (int i = 0; i < MAX_MOUNTS; i++)
		if (mounts[i]) {
			nvfs_abandon(mounts[i]);
			mounts[i] = NULL;
		}
	for (int i = 0; i < npools; i++)
		unlink(pool_paths[i]);
	npools = 0;
}

static int try_mount(const char *path, uint64_t create_size, struct nvfs **fs,
		     struct nvfs_mount_report *rep, char *err, size_t errlen)
{
	struct nvfs_mount_opts o = { .create = create_size != 0,
				     .create_size = create_size };
	err[0] = '\0';
	int rc = nvfs_mount(path, &o, fs, rep, err, errlen);
	if (rc == 0)
		track(*fs);
	return rc;
}

/* Mounts (creating the pool with create_size bytes if that is not 0). */
static struct nvfs *mount_pool(const char *path, uint64_t create_size,
			       struct nvfs_mount_report *rep)
{
	struct nvfs *fs = NULL;
	struct nvfs_mount_report scratch;
	char err[512];
	int rc = try_mount(path, create_size, &fs, rep ? rep : &scratch, err,
			   sizeof(err));
	if (rc)
		FAIL("mount of %s failed (%d): %s", path, rc, err);
	return fs;
}

static void umount_fs(struct nvfs *fs)
{
	untrack(fs);
	nvfs_unmount(fs);
}

static void abandon_fs(struct nvfs *fs)
{
	untrack(fs);
	nvfs_abandon(fs);
}

/* ------------------------------------------------------------------ */
/* Small helpers over the API.                                         */

static struct nvfs_ctx ctx(void)
{
	return (struct nvfs_ctx){ .uid = getuid(), .gid = getgid(),
				  .umask = 022 };
}

/* The test process as a caller (for the calls that take a pointer). */
static const struct nvfs_ctx *self(void)
{
	static struct nvfs_ctx c;
	c = ctx();
	return &c;
}

static uint64_t mkfile(struct nvfs *fs, uint64_t parent, const char *name)
{
	struct nvfs_ctx c = ctx();
	struct stat st;
	int rc = nvfs_mknod(fs, &c, parent, name, S_IFREG | 0644, 0, &st);
	if (rc)
		FAIL("mknod %s: %s", name, strerror(-rc));
	return st.st_ino;
}

static uint64_t mkdir_(struct nvfs *fs, uint64_t parent, const char *name)
{
	struct nvfs_ctx c = ctx();
	struct stat st;
	int rc = nvfs_mkdir(fs, &c, parent, name, 0755, &st);
	if (rc)
		FAIL("mkdir %s: %s", name, strerror(-rc));
	return st.st_ino;
}

/* Inode number of parent/name, or a negative errno; drops the reference. */
static int64_t lookup_ino(struct nvfs *fs, uint64_t parent, const char *name)
{
	struct stat st;
	int rc = nvfs_lookup(fs, parent, name, &st);
	if (rc)
		return rc;
	nvfs_forget(fs, st.st_ino, 1);
	return (int64_t)st.st_ino;
}

static struct stat getattr_(struct nvfs *fs, uint64_t ino)
{
	struct stat st;
	int rc = nvfs_getattr(fs, ino, &st);
	if (rc)
		FAIL("getattr %llu: %s", (unsigned long long)ino, strerror(-rc));
	return st;
}

static uint64_t free_blocks(struct nvfs *fs)
{
	struct statvfs sv;
	nvfs_statfs(fs, &sv);
	return sv.f_bfree;
}

/* The byte a pattern holds at file offset off (seeded per test). */
static uint8_t pat(uint64_t off, unsigned seed)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 17));
}

static uint8_t *pattern(uint64_t off, size_t len, unsigned seed)
{
	uint8_t *b = malloc(len ? len : 1);
	if (!b)
		FAIL("out of memory");
	for (size_t i = 0; i < len; i++)
		b[i] = pat(off + i, seed);
	return b;
}

static void write_pattern(struct nvfs *fs, uint64_t ino, uint64_t off,
			  size_t len, unsigned seed)
{
	uint8_t *b = pattern(off, len, seed);
	ssize_t n = nvfs_write(fs, ino, b, len, off);
	free(b);
	if (n != (ssize_t)len)
		FAIL("write of %zu bytes at %llu returned %zd", len,
		     (unsigned long long)off, n);
}

/* Checks that [off, off+len) of the file holds the pattern. */
static bool read_matches(struct nvfs *fs, uint64_t ino, uint64_t off,
			 size_t len, unsigned seed)
{
	uint8_t *want = pattern(off, len, seed);
	uint8_t *got = malloc(len ? len : 1);
	ssize_t n = nvfs_read(fs, ino, got, len, off);
	bool ok = n == (ssize_t)len && memcmp(want, got, len) == 0;
	if (!ok) {
		size_t d = n > 0 ? unit_first_diff(want, got, (size_t)n) : 0;
		fprintf(stderr, "    read at %llu len %zu: got %zd bytes, first "
			"difference at +%zu\n", (unsigned long long)off, len, n, d);
	}
	free(want);
	free(got);
	return ok;
}

static bool read_zeros(struct nvfs *fs, uint64_t ino, uint64_t off, size_t len)
{
	uint8_t *got = malloc(len ? len : 1);
	memset(got, 0xEE, len);
	ssize_t n = nvfs_read(fs, ino, got, len, off);
	bool ok = n == (ssize_t)len;
	for (size_t i = 0; ok && i < len; i++)
		if (got[i]) {
			fprintf(stderr, "    byte at %llu is 0x%02x, not 0\n",
				(unsigned long long)(off + i), got[i]);
			ok = false;
		}
	if (n != (ssize_t)len)
		fprintf(stderr, "    read at %llu len %zu returned %zd\n",
			(unsigned long long)off, len, n);
	free(got);
	return ok;
}

/* Readdir into an array (names and next cookies). */
struct listing {
	char (*names)[NVMPFS_MAX_NAME + 1];
	uint64_t *inos;
	uint64_t *next;
	size_t n, cap;
	size_t stop_after;  /* stop (without consuming) after this many; 0 = never */
};

static int listing_cb(void *arg, const char *name, size_t len, uint64_t ino,
		      unsigned type, uint64_t next_off)
{
	(void)type;
	struct listing *l = arg;
	if (l->stop_after && l->n == l->stop_after)
		return 1;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		l->names = realloc(l->names, cap * sizeof(*l->names));
		l->inos = realloc(l->inos, cap * sizeof(*l->inos));
		l->next = realloc(l->next, cap * sizeof(*l->next));
		l->cap = cap;
	}
	memcpy(l->names[l->n], name, len);
	l->names[l->n][len] = '\0';
	l->inos[l->n] = ino;
	l->next[l->n] = next_off;
	l->n++;
	return 0;
}

static void listing_free(struct listing *l)
{
	free(l->names);
	free(l->inos);
	free(l->next);
	memset(l, 0, sizeof(*l));
}

/* Full listing from cookie off, in as many readdir calls as it takes. */
static int list_dir(struct nvfs *fs, uint64_t dir, uint64_t off,
		    struct listing *l, size_t batch)
{
	for (;;) {
		size_t before = l->n;
		l->stop_after = batch ? before + batch : 0;
		int rc = nvfs_readdir(fs, dir, off, listing_cb, l);
		if (rc)
			return rc;
		if (l->n == before)
			return 0;
		off = l->next[l->n - 1];
		if (!batch)
			return 0;
	}
}

static char *read_text_file(FILE *f)
{
	static char buf[16384];
	fflush(f);
	rewind(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	return buf;
}

/* Pool file I/O, for a pool that is not mounted. */
static void pool_file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, buf, len, (off_t)off) != (ssize_t)len)
		FAIL("read of %s failed: %s", path, strerror(errno));
	close(fd);
}

static void pool_file_write(const char *path, uint64_t off, const void *buf,
			    size_t len)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0 || pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		FAIL("write of %s failed: %s", path, strerror(errno));
	close(fd);
}

static void pool_file_super(const char *path, struct nvmpfs_super *sb)
{
	pool_file_read(path, 0, sb, sizeof(*sb));
}

/* Runs check_pool; returns problems found, output in *text. */
static int64_t run_check(const char *path, bool repair, char **text,
			 struct check_result *res_out)
{
	FILE *out = tmpfile();
	struct check_opts o = { .repair = repair };
	struct check_result res;
	char err[512] = "";
	int rc = check_pool(path, &o, out, &res, err, sizeof(err));
	char *t = read_text_file(out);
	fclose(out);
	if (text)
		*text = t;
	/* Callers that look at the output themselves get no echo of it. */
	bool echo = !text && !res_out;
	if (rc != 0) {
		if (echo)
			fprintf(stderr, "    check_pool(%s, repair=%d) failed: "
				"%s\n", path, repair, err);
		return -1;
	}
	if (res_out)
		*res_out = res;
	if (res.found && echo)
		fprintf(stderr, "    check_pool(repair=%d) found %llu:\n%s", repair,
			(unsigned long long)res.found, t);
	return (int64_t)res.found;
}

/* ------------------------------------------------------------------ */
/* Mount                                                               */

UNIT_TEST(mount_creates_and_locks)
{
	const char *path = tmp_pool("mount");
	struct nvfs_mount_report rep;
	struct nvfs *fs = mount_pool(path, 32 * MiB, &rep);
	CHECK(rep.created);
	CHECK(rep.was_clean);
	CHECK_EQ(0, rep.undone_records);
	struct stat st;
	REQUIRE_EQ(0, nvfs_getattr(fs, ROOT, &st));
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(2, st.st_nlink);
	CHECK_EQ(ROOT, lookup_ino(fs, ROOT, ".."));
	struct stat fst;
	REQUIRE_EQ(0, stat(path, &fst));
	CHECK_EQ(32 * MiB, fst.st_size);
	struct statvfs sv;
	nvfs_statfs(fs, &sv);
	CHECK_EQ(BS, sv.f_bsize);
	CHECK_GT(sv.f_blocks, 0);
	CHECK_GT(sv.f_bfree, 0);
	/* Available: free blocks less the map nodes mapping them needs. */
	CHECK_UEQ(sv.f_bfree - nvfs_map_overhead(sv.f_bfree), sv.f_bavail);
	CHECK_EQ(NVMPFS_MAX_NAME, sv.f_namemax);

	/* A second mount of the same pool is refused, with a clear message. */
	struct nvfs *fs2 = NULL;
	struct nvfs_mount_report rep2;
	char err[512];
	int rc = try_mount(path, 0, &fs2, &rep2, err, sizeof(err));
	CHECK_NE(0, rc);
	CHECK_CONTAINS(err, "in use");
	CHECK_CONTAINS(err, path);
	/* Even when asked to create: the pool exists and is in use. */
	rc = try_mount(path, 32 * MiB, &fs2, &rep2, err, sizeof(err));
	CHECK_NE(0, rc);
	CHECK_CONTAINS(err, "in use");

	umount_fs(fs);
	/* Released: it mounts again, and was not created this time. */
	fs = mount_pool(path, 0, &rep);
	CHECK(!rep.created);
	CHECK(rep.was_clean);
	umount_fs(fs);

	/* No pool and no create: a failure naming the file. */
	const char *missing = tmp_pool("missing");
	rc = try_mount(missing, 0, &fs2, &rep2, err, sizeof(err));
	CHECK_NE(0, rc);
	CHECK_CONTAINS(err, missing);
	CHECK(access(missing, F_OK) != 0);
}

/* ------------------------------------------------------------------ */
/* Files                                                               */

UNIT_TEST(file_write_read_unaligned)
{
	struct nvfs *fs = mount_pool(tmp_pool("rw"), 32 * MiB, NULL);
	uint64_t ino = mkfile(fs, ROOT, "f");
	struct stat st = getattr_(fs, ino);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ(0, st.st_size);
	CHECK_EQ(1, st.st_nlink);
	CHECK_EQ((long long)ino, lookup_ino(fs, ROOT, "f"));
	REQUIRE_EQ(0, nvfs_open(fs, ino, O_RDWR));

	/* Pieces at odd offsets and lengths, crossing block boundaries. */
	static const struct { uint64_t off; size_t len; } w[] = {
		{ 4093, 7 }, { 1, 4094 }, { 4100, 10000 }, { 14100, 5900 },
		{ 8191, 2 }, { 20000, 70001 }, { 0, 1 },
	};
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		write_pattern(fs, ino, w[i].off, w[i].len, 1);
	st = getattr_(fs, ino);
	CHECK_EQ(90001, st.st_size);
	CHECK(read_matches(fs, ino, 0, 90001, 1));
	/* Reads at unaligned offsets crossing blocks. */
	CHECK(read_matches(fs, ino, 4095, 2, 1));
	CHECK(read_matches(fs, ino, 12287, 8193, 1));
	CHECK(read_matches(fs, ino, 77, 33333, 1));
	/* A read past EOF is short; one at EOF returns 0. */
	uint8_t buf[8192];
	CHECK_EQ(1, nvfs_read(fs, ino, buf, sizeof(buf), 90000));
	CHECK_EQ(pat(90000, 1), buf[0]);
	CHECK_EQ(0, nvfs_read(fs, ino, buf, sizeof(buf), 90001));
	CHECK_EQ(0, nvfs_read(fs, ino, buf, sizeof(buf), 1ull << 40));
	/* Overwrite in the middle with another pattern. */
	write_pattern(fs, ino, 5000, 6000, 2);
	CHECK(read_matches(fs, ino, 0, 5000, 1));
	CHECK(read_matches(fs, ino, 5000, 6000, 2));
	CHECK(read_matches(fs, ino, 11000, 90001 - 11000, 1));
	CHECK_EQ(90001, getattr_(fs, ino).st_size);
	CHECK_GE(getattr_(fs, ino).st_blocks, 90001 / 512);
	CHECK_EQ(0, nvfs_fsync(fs, ino, false));
	CHECK_EQ(0, nvfs_fsync(fs, ino, true));

	/* Not a file. */
	CHECK_EQ(-EISDIR, nvfs_write(fs, ROOT, buf, 10, 0));
	CHECK_EQ(-EISDIR, nvfs_read(fs, ROOT, buf, 10, 0));
	CHECK_EQ(-EISDIR, nvfs_open(fs, ROOT, O_RDWR));
	nvfs_release(fs, ino);
	umount_fs(fs);
}

UNIT_TEST(file_sparse_and_seek)
{
	struct nvfs *fs = mount_pool(tmp_pool("sparse"), 32 * MiB, NULL);
	uint64_t ino = mkfile(fs, ROOT, "sparse");
	uint64_t before = free_blocks(fs);
	const uint64_t far = 10 * GiB + 100;
	write_pattern(fs, ino, 5000, 100, 3);    /* in block 1 */
	write_pattern(fs, ino, far, 5000, 3);    /* blocks of 10 GiB */
	struct stat st = getattr_(fs, ino);
	CHECK_EQ(far + 5000, st.st_size);
	/* Few blocks: 3 data blocks and the map nodes, not 10 GiB. */
	uint64_t used = before - free_blocks(fs);
	CHECK_GE(used, 3);
	CHECK_LE(used, 3 + 8);
	CHECK_LE(st.st_blocks, (3 + 8) * (BS / 512));
	/* The holes read as zeros, the data as written. */
	CHECK(read_zeros(fs, ino, 0, 5000));
	CHECK(read_matches(fs, ino, 5000, 100, 3));
	CHECK(read_zeros(fs, ino, 5100, 3 * BS));
	CHECK(read_zeros(fs, ino, GiB + 123, 2 * BS));
	CHECK(read_zeros(fs, ino, far - 3000, 3000));
	CHECK(read_matches(fs, ino, far, 5000, 3));
	/* A read spanning the end of the hole and the data. */
	uint8_t buf[300];
	CHECK_EQ(300, nvfs_read(fs, ino, buf, 300, far - 150));
	for (int i = 0; i < 150; i++)
		if (buf[i])
			FAIL("hole byte %d is %u", i, buf[i]);
	CHECK_EQ(pat(far, 3), buf[150]);

	/* SEEK_DATA / SEEK_HOLE (block granularity). */
	CHECK_EQ(BS, nvfs_lseek(fs, ino, 0, SEEK_DATA));
	CHECK_EQ(5000, nvfs_lseek(fs, ino, 5000, SEEK_DATA));
	CHECK_EQ(0, nvfs_lseek(fs, ino, 0, SEEK_HOLE));
	CHECK_EQ(2 * BS, nvfs_lseek(fs, ino, BS, SEEK_HOLE));
	CHECK_EQ(2 * BS, nvfs_lseek(fs, ino, 5000, SEEK_HOLE));
	CHECK_EQ(far - 100, nvfs_lseek(fs, ino, 2 * BS, SEEK_DATA));
	CHECK_EQ(far, nvfs_lseek(fs, ino, far, SEEK_DATA));
	CHECK_EQ(far + 5000, nvfs_lseek(fs, ino, far, SEEK_HOLE));
	CHECK_EQ(-ENXIO, nvfs_lseek(fs, ino, far + 5000, SEEK_DATA));
	CHECK_EQ(-ENXIO, nvfs_lseek(fs, ino, far + 5000, SEEK_HOLE));
	CHECK_EQ(-ENXIO, nvfs_lseek(fs, ino, -1, SEEK_DATA));
	CHECK_EQ(-EINVAL, nvfs_lseek(fs, ino, 0, SEEK_SET));

	/* A file that is all hole. */
	uint64_t h = mkfile(fs, ROOT, "hole");
	struct stat a = { .st_size = 3 * MiB };
	REQUIRE_EQ(0, nvfs_setattr(fs, h, &a, NVFS_SET_SIZE, &st));
	CHECK_EQ(3 * MiB, st.st_size);
	CHECK_EQ(-ENXIO, nvfs_lseek(fs, h, 0, SEEK_DATA));
	CHECK_EQ(0, nvfs_lseek(fs, h, 0, SEEK_HOLE));
	CHECK_EQ(MiB + 1, nvfs_lseek(fs, h, MiB + 1, SEEK_HOLE));
	CHECK(read_zeros(fs, h, MiB - 10, 20));

	/* Freed again when the file goes. */
	CHECK_EQ(0, nvfs_unlink(fs, ROOT, "sparse"));
	nvfs_forget(fs, ino, 1);
	CHECK_UEQ(before, free_blocks(fs));
	umount_fs(fs);
}

UNIT_TEST(file_truncate_down_up)
{
	struct nvfs *fs = mount_pool(tmp_pool("trunc"), 32 * MiB, NULL);
	uint64_t ino = mkfile(fs, ROOT, "t");
	uint64_t start = free_blocks(fs);
	write_pattern(fs, ino, 0, 5 * BS + 123, 4);
	uint64_t full = free_blocks(fs);
	CHECK_UGE(start - 6, full); /* 6 data blocks, and map nodes */
	struct stat a = { 0 }, st;
	a.st_size = 5000;
	REQUIRE_EQ(0, nvfs_setattr(fs, ino, &a, NVFS_SET_SIZE, &st));
	CHECK_EQ(5000, st.st_size);
	CHECK_EQ(5000, getattr_(fs, ino).st_size);
	/* The 4 blocks wholly past the new size are freed, 2 are kept. */
	CHECK_UEQ(full + 4, free_blocks(fs));
	a.st_size = 6 * BS + 7;
	REQUIRE_EQ(0, nvfs_setattr(fs, ino, &a, NVFS_SET_SIZE, &st));
	CHECK_EQ(6 * BS + 7, st.st_size);
	CHECK(read_matches(fs, ino, 0, 5000, 4));
	/* The tail of the block that stayed, and everything after: zeros. */
	CHECK(read_zeros(fs, ino, 5000, 6 * BS + 7 - 5000));
	/* Down to a block boundary and to zero. */
	a.st_size = BS;
	REQUIRE_EQ(0, nvfs_setattr(fs, ino, &a, NVFS_SET_SIZE, &st));
	a.st_size = 2 * BS;
	REQUIRE_EQ(0, nvfs_setattr(fs, ino, &a, NVFS_SET_SIZE, &st));
	CHECK(read_matches(fs, ino, 0, BS, 4));
	CHECK(read_zeros(fs, ino, BS, BS));
	a.st_size = 0;
	REQUIRE_EQ(0, nvfs_setattr(fs, ino, &a, NVFS_SET_SIZE, &st));
	CHECK_EQ(0, st.st_size);
	CHECK_UEQ(start, free_blocks(fs));
	a.st_size = 100;
	REQUIRE_EQ(0, nvfs_setattr(fs, ino, &a, NVFS_SET_SIZE, &st));
	CHECK(read_zeros(fs, ino, 0, 100));
	/* Truncating a directory is refused. */
	CHECK_NE(0, nvfs_setattr(fs, ROOT, &a, NVFS_SET_SIZE, &st));
	umount_fs(fs);
}

UNIT_TEST(file_fallocate_modes)
{
	struct nvfs *fs = mount_pool(tmp_pool("falloc"), 32 * MiB, NULL);
	uint64_t ino = mkfile(fs, ROOT, "fa");
	uint64_t f0 = free_blocks(fs);
	struct stat st;

	/* KEEP_SIZE: blocks reserved, size unchanged, reads zero. */
	REQUIRE_EQ(0, nvfs_fallocate(fs, ino, FALLOC_FL_KEEP_SIZE, 0, MiB));
	st = getattr_(fs, ino);
	CHECK_EQ(0, st.st_size);
	uint64_t f1 = free_blocks(fs);
	CHECK_UGE(f0 - 256, f1);            /* 256 data blocks at least */
	CHECK_ULE(f0 - 256 - 4, f1);        /* and a few map nodes at most */
	CHECK_GE(st.st_blocks, 256 * (BS / 512));
	/* Again over the same range: nothing more is used. */
	REQUIRE_EQ(0, nvfs_fallocate(fs, ino, FALLOC_FL_KEEP_SIZE, 0, MiB));
	CHECK_UEQ(f1, free_blocks(fs));

	/* Plain mode: extends the size, the new range reads as zeros. */
	REQUIRE_EQ(0, nvfs_fallocate(fs, ino, 0, 0, MiB + 10));
	CHECK_EQ(MiB + 10, getattr_(fs, ino).st_size);
	CHECK(read_zeros(fs, ino, 0, MiB + 10));
	CHECK_UEQ(f1 - 1, free_blocks(fs)); /* the one block past 1 MiB */

	/* PUNCH_HOLE needs KEEP_SIZE; it frees whole blocks, zeroes parts. */
	CHECK_EQ(-EINVAL, nvfs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE, 0, BS));
	write_pattern(fs, ino, 0, MiB + 10, 5);
	uint64_t f2 = free_blocks(fs);
	REQUIRE_EQ(0, nvfs_fallocate(fs, ino,
				     FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     100, 64 * BS));
	CHECK_EQ(MiB + 10, getattr_(fs, ino).st_size);
	/* Blocks 1..63 are wholly inside [100, 100 + 64 * BS): freed. */
	CHECK_UEQ(f2 + 63, free_blocks(fs));
	CHECK(read_matches(fs, ino, 0, 100, 5));
	CHECK(read_zeros(fs, ino, 100, 64 * BS));
	CHECK(read_matches(fs, ino, 100 + 64 * BS, MiB + 10 - 100 - 64 * BS, 5));
	CHECK_EQ(BS, nvfs_lseek(fs, ino, 0, SEEK_HOLE));
	CHECK_EQ(64 * BS, nvfs_lseek(fs, ino, BS, SEEK_DATA));

	/* ZERO_RANGE: zeros, the holes in it filled, no size change with
	 * KEEP_SIZE. */
	REQUIRE_EQ(0, nvfs_fallocate(fs, ino, FALLOC_FL_ZERO_RANGE, 50,
				     70 * BS));
	CHECK(read_matches(fs, ino, 0, 50, 5));
	CHECK(read_zeros(fs, ino, 50, 70 * BS));
	CHECK(read_matches(fs, ino, 50 + 70 * BS, MiB + 10 - 50 - 70 * BS, 5));
	CHECK_EQ(MiB + 10, getattr_(fs, ino).st_size);
	CHECK_UEQ(f2, free_blocks(fs)); /* the punched blocks came back */
	CHECK_EQ(MiB + 10, nvfs_lseek(fs, ino, 0, SEEK_HOLE)); /* no hole left */
	/* ZERO_RANGE past EOF extends the size unless KEEP_SIZE. */
	REQUIRE_EQ(0, nvfs_fallocate(fs, ino,
				     FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
				     2 * MiB, BS));
	CHECK_EQ(MiB + 10, getattr_(fs, ino).st_size);
	REQUIRE_EQ(0, nvfs_fallocate(fs, ino, FALLOC_FL_ZERO_RANGE, 2 * MiB,
				     BS + 1));
	CHECK_EQ(2 * MiB + BS + 1, getattr_(fs, ino).st_size);
	CHECK(read_zeros(fs, ino, MiB + 10, MiB + BS + 1 - 10));

	/* Errors. */
	CHECK_EQ(-EINVAL, nvfs_fallocate(fs, ino, 0, 0, 0));
	CHECK_EQ(-EOPNOTSUPP, nvfs_fallocate(fs, ino, 0x100, 0, BS));
	CHECK_EQ(-EINVAL, nvfs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE |
					 FALLOC_FL_KEEP_SIZE |
					 FALLOC_FL_ZERO_RANGE, 0, BS));
	CHECK_NE(0, nvfs_fallocate(fs, ROOT, 0, 0, BS));

	/* Everything back when the file goes. */
	CHECK_EQ(0, nvfs_unlink(fs, ROOT, "fa"));
	nvfs_forget(fs, ino, 1);
	CHECK_UEQ(f0, free_blocks(fs));
	umount_fs(fs);
}

/* ------------------------------------------------------------------ */
/* Directories                                                         */

UNIT_TEST(dir_basic_errors)
{
	struct nvfs *fs = mount_pool(tmp_pool("dir"), 32 * MiB, NULL);
	struct nvfs_ctx c = ctx();
	struct stat st;
	uint64_t d = mkdir_(fs, ROOT, "d");
	st = getattr_(fs, d);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_EQ(2, st.st_nlink);
	CHECK_EQ(3, getattr_(fs, ROOT).st_nlink);
	CHECK_EQ((long long)ROOT, lookup_ino(fs, d, ".."));
	CHECK_EQ((long long)d, lookup_ino(fs, d, "."));
	uint64_t f = mkfile(fs, d, "f");
	CHECK_EQ(-EEXIST, nvfs_mkdir(fs, &c, ROOT, "d", 0755, &st));
	CHECK_EQ(-EEXIST, nvfs_mknod(fs, &c, d, "f", S_IFREG | 0644, 0, &st));
	CHECK_EQ(-ENOTEMPTY, nvfs_rmdir(fs, ROOT, "d"));
	CHECK_EQ(-ENOTDIR, nvfs_rmdir(fs, d, "f"));
	CHECK_EQ(-EISDIR, nvfs_unlink(fs, ROOT, "d"));
	CHECK_EQ(-ENOENT, nvfs_rmdir(fs, ROOT, "nope"));
	CHECK_EQ(-ENOENT, nvfs_unlink(fs, ROOT, "nope"));
	CHECK_EQ(-ENOENT, lookup_ino(fs, ROOT, "nope"));
	/* A file is no directory. */
	CHECK_EQ(-ENOTDIR, lookup_ino(fs, f, "x"));
	CHECK_EQ(-ENOTDIR, nvfs_mknod(fs, &c, f, "x", S_IFREG | 0644, 0, &st));
	CHECK_EQ(-ENOTDIR, nvfs_mkdir(fs, &c, f, "x", 0755, &st));
	CHECK_EQ(-ENOTDIR, nvfs_opendir(fs, f));
	/* Names that are never entries. */
	CHECK_EQ(-EINVAL, nvfs_rmdir(fs, d, "."));
	CHECK_EQ(-ENOTEMPTY, nvfs_rmdir(fs, d, ".."));
	CHECK_NE(0, nvfs_mknod(fs, &c, ROOT, "a/b", S_IFREG | 0644, 0, &st));
	CHECK_NE(0, nvfs_mknod(fs, &c, ROOT, "", S_IFREG | 0644, 0, &st));
	CHECK_NE(0, nvfs_mkdir(fs, &c, ROOT, "..", 0755, &st));
	/* Other node types. */
	CHECK_EQ(0, nvfs_mknod(fs, &c, d, "fifo", S_IFIFO | 0600, 0, &st));
	CHECK(S_ISFIFO(st.st_mode));
	CHECK_EQ(0, nvfs_symlink(fs, &c, d, "ln", "f/../target", &st));
	char buf[64];
	CHECK_EQ(11, nvfs_readlink(fs, st.st_ino, buf, sizeof(buf)));
	CHECK_STR("f/../target", buf);
	CHECK_EQ(-EINVAL, nvfs_readlink(fs, f, buf, sizeof(buf)));
	CHECK_EQ(0, nvfs_unlink(fs, d, "fifo"));
	CHECK_EQ(0, nvfs_unlink(fs, d, "ln"));
	/* Empty now: rmdir works, link counts follow. */
	CHECK_EQ(0, nvfs_unlink(fs, d, "f"));
	CHECK_EQ(0, nvfs_rmdir(fs, ROOT, "d"));
	CHECK_EQ(2, getattr_(fs, ROOT).st_nlink);
	CHECK_EQ(-ENOENT, lookup_ino(fs, ROOT, "d"));
	umount_fs(fs);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

UNIT_TEST(dir_many_entries)
{
	enum { N = 5000 };
	/* 5000 inodes need a pool of at least 80 MiB (one inode per 16 KiB). */
	struct nvfs *fs = mount_pool(tmp_pool("many"), 96 * MiB, NULL);
	uint64_t d = mkdir_(fs, ROOT, "big");
	static uint64_t inos[N];
	char name[64];
	for (int i = 0; i < N; i++) {
		/* Names of varied lengths: entries of 1 to 3 slots. */
		snprintf(name, sizeof(name), "entry-%05d%.*s", i, i % 40,
			 "----------------------------------------");
		inos[i] = mkfile(fs, d, name);
		nvfs_forget(fs, inos[i], 1);
	}
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "entry-%05d%.*s", i, i % 40,
			 "----------------------------------------");
		int64_t got = lookup_ino(fs, d, name);
		if (got != (int64_t)inos[i])
			FAIL("lookup of %s gave %lld, want %llu", name,
			     (long long)got, (unsigned long long)inos[i]);
	}
	CHECK_EQ(-ENOENT, lookup_ino(fs, d, "entry-05000"));

	/* A full listing: ".", "..", and every name once. */
	struct listing all = { 0 };
	REQUIRE_EQ(0, list_dir(fs, d, 0, &all, 0));
	REQUIRE_EQ(N + 2, all.n);
	CHECK_STR(".", all.names[0]);
	CHECK_STR("..", all.names[1]);
	CHECK_EQ((long long)ROOT, all.inos[1]);
	{
		char (*sorted)[NVMPFS_MAX_NAME + 1] =
			malloc((size_t)N * sizeof(*sorted));
		memcpy(sorted, all.names + 2, (size_t)N * sizeof(*sorted));
		qsort(sorted, N, sizeof(*sorted), name_cmp);
		int dup = 0, bad = 0;
		for (int i = 0; i < N; i++) {
			snprintf(name, sizeof(name), "entry-%05d%.*s", i, i % 40,
				 "----------------------------------------");
			bad += strcmp(sorted[i], name) != 0;
			dup += i && strcmp(sorted[i], sorted[i - 1]) == 0;
		}
		CHECK_EQ(0, bad);
		CHECK_EQ(0, dup);
		free(sorted);
	}
	/* In small batches (the callback stops it): the same sequence. */
	struct listing batched = { 0 };
	REQUIRE_EQ(0, list_dir(fs, d, 0, &batched, 37));
	REQUIRE_EQ(all.n, batched.n);
	int differ = 0;
	for (size_t i = 0; i < all.n; i++)
		differ += strcmp(all.names[i], batched.names[i]) != 0;
	CHECK_EQ(0, differ);
	listing_free(&batched);
	/* Restarting at the cookie of any entry gives exactly the rest. */
	static const size_t at[] = { 0, 1, 2, 3, 777, 2500, 4999, N, N + 1 };
	for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
		size_t i = at[k]; /* entries [i+1, n) follow the cookie of i */
		struct listing rest = { 0 };
		REQUIRE_EQ(0, list_dir(fs, d, all.next[i], &rest, 0));
		CHECK_UEQ(all.n - i - 1, rest.n);
		int bad = 0;
		for (size_t j = 0; j < rest.n && i + 1 + j < all.n; j++)
			bad += strcmp(rest.names[j], all.names[i + 1 + j]) != 0;
		if (bad)
			fprintf(stderr, "    restart after entry %zu: %d "
				"mismatches\n", i, bad);
		CHECK_EQ(0, bad);
		listing_free(&rest);
	}

	/* Remove in a scattered order, checking lookups go away. */
	for (int step = 0; step < 2; step++)
		for (int i = step; i < N; i += 2) {
			snprintf(name, sizeof(name), "entry-%05d%.*s", i, i % 40,
				 "----------------------------------------");
			int rc = nvfs_unlink(fs, d, name);
			if (rc)
				FAIL("unlink %s: %s", name, strerror(-rc));
			if (i % 97 == 0)
				CHECK_EQ(-ENOENT, lookup_ino(fs, d, name));
		}
	listing_free(&all);
	REQUIRE_EQ(0, list_dir(fs, d, 0, &all, 0));
	CHECK_EQ(2, all.n);
	listing_free(&all);
	CHECK_EQ(0, nvfs_rmdir(fs, ROOT, "big"));
	umount_fs(fs);
}

UNIT_TEST(dir_name_lengths)
{
	struct nvfs *fs = mount_pool(tmp_pool("names"), 32 * MiB, NULL);
	struct nvfs_ctx c = ctx();
	struct stat st;
	char n255[256], n256[257];
	memset(n255, 'x', 255);
	n255[255] = '\0';
	memset(n256, 'y', 256);
	n256[256] = '\0';
	CHECK_EQ(0, nvfs_mknod(fs, &c, ROOT, n255, S_IFREG | 0644, 0, &st));
	CHECK_EQ((long long)st.st_ino, lookup_ino(fs, ROOT, n255));
	struct listing l = { 0 };
	REQUIRE_EQ(0, list_dir(fs, ROOT, 0, &l, 0));
	REQUIRE_EQ(3, l.n);
	CHECK_STR(n255, l.names[2]);
	listing_free(&l);
	n255[0] = 'z';
	CHECK_EQ(0, nvfs_mkdir(fs, &c, ROOT, n255, 0755, &st));
	CHECK_EQ(-ENAMETOOLONG, nvfs_mknod(fs, &c, ROOT, n256, S_IFREG | 0644,
					   0, &st));
	CHECK_EQ(-ENAMETOOLONG, nvfs_mkdir(fs, &c, ROOT, n256, 0755, &st));
	CHECK_EQ(-ENAMETOOLONG, nvfs_symlink(fs, &c, ROOT, n256, "t", &st));
	CHECK_EQ(-ENAMETOOLONG, lookup_ino(fs, ROOT, n256));
	CHECK_EQ(-ENAMETOOLONG, nvfs_rename(fs, ROOT, n255, ROOT, n256, 0));
	CHECK_EQ(-ENAMETOOLONG, nvfs_link(fs, st.st_ino, ROOT, n256, &st));
	CHECK_EQ(0, nvfs_rename(fs, ROOT, n255, ROOT, "short", 0));
	n255[0] = 'x';
	CHECK_EQ(0, nvfs_unlink(fs, ROOT, n255));
	umount_fs(fs);
}

/* ------------------------------------------------------------------ */
/* Rename and links                                                    */

static void put_text(struct nvfs *fs, uint64_t ino, const char *s)
{
	REQUIRE_EQ((long long)strlen(s), nvfs_write(fs, ino, s, strlen(s), 0));
}

static bool has_text(struct nvfs *fs, uint64_t ino, const char *s)
{
	char buf[256];
	ssize_t n = nvfs_read(fs, ino, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return strcmp(buf, s) == 0;
}

UNIT_TEST(rename_cases)
{
	struct nvfs *fs = mount_pool(tmp_pool("rename"), 32 * MiB, NULL);
	uint64_t a = mkfile(fs, ROOT, "a"), b = mkfile(fs, ROOT, "b");
	put_text(fs, a, "AAA");
	put_text(fs, b, "B");
	uint64_t free0 = free_blocks(fs);
	uint64_t b_blocks = (uint64_t)getattr_(fs, b).st_blocks / (BS / 512);
	CHECK_UGE(b_blocks, 1); /* its data block, and a map node */

	/* NOREPLACE refuses an existing target, changes nothing. */
	CHECK_EQ(-EEXIST, nvfs_rename(fs, ROOT, "a", ROOT, "b",
				      NVFS_RENAME_NOREPLACE));
	CHECK_EQ((long long)a, lookup_ino(fs, ROOT, "a"));
	CHECK_EQ((long long)b, lookup_ino(fs, ROOT, "b"));
	CHECK_EQ(-EINVAL, nvfs_rename(fs, ROOT, "a", ROOT, "b",
				      NVFS_RENAME_NOREPLACE |
				      NVFS_RENAME_EXCHANGE));
	CHECK_EQ(-ENOENT, nvfs_rename(fs, ROOT, "a", ROOT, "zz",
				      NVFS_RENAME_EXCHANGE));
	CHECK_EQ(-ENOENT, nvfs_rename(fs, ROOT, "nope", ROOT, "zz", 0));

	/* Replace: a takes b's name; the old b dies once forgotten. */
	CHECK_EQ(0, nvfs_rename(fs, ROOT, "a", ROOT, "b", 0));
	CHECK_EQ(-ENOENT, lookup_ino(fs, ROOT, "a"));
	CHECK_EQ((long long)a, lookup_ino(fs, ROOT, "b"));
	CHECK(has_text(fs, a, "AAA"));
	CHECK_EQ(0, getattr_(fs, b).st_nlink); /* still referenced by lookup */
	nvfs_forget(fs, b, 1);
	CHECK_UEQ(free0 + b_blocks, free_blocks(fs)); /* b's blocks */
	CHECK_EQ(-ENOENT, nvfs_getattr(fs, b, &(struct stat){ 0 }));
	CHECK_EQ(1, getattr_(fs, a).st_nlink);

	/* EXCHANGE of a file and a directory in different parents. */
	uint64_t p1 = mkdir_(fs, ROOT, "p1"), p2 = mkdir_(fs, ROOT, "p2");
	uint64_t x = mkfile(fs, p1, "x");
	uint64_t y = mkdir_(fs, p2, "y");
	CHECK_EQ(2, getattr_(fs, p1).st_nlink);
	CHECK_EQ(3, getattr_(fs, p2).st_nlink);
	CHECK_EQ((long long)p2, lookup_ino(fs, y, ".."));
	CHECK_EQ(0, nvfs_rename(fs, p1, "x", p2, "y", NVFS_RENAME_EXCHANGE));
	CHECK_EQ((long long)y, lookup_ino(fs, p1, "x"));
	CHECK_EQ((long long)x, lookup_ino(fs, p2, "y"));
	CHECK_EQ((long long)p1, lookup_ino(fs, y, ".."));
	CHECK_EQ(3, getattr_(fs, p1).st_nlink);
	CHECK_EQ(2, getattr_(fs, p2).st_nlink);
	struct listing l = { 0 };
	REQUIRE_EQ(0, list_dir(fs, y, 0, &l, 0));
	REQUIRE_GE(l.n, 2);
	CHECK_EQ((long long)p1, l.inos[1]);   /* readdir's ".." follows */
	listing_free(&l);

	/* A directory into its own subdirectory (or itself): EINVAL. */
	uint64_t s1 = mkdir_(fs, y, "s1");
	uint64_t s2 = mkdir_(fs, s1, "s2");
	CHECK_EQ(-EINVAL, nvfs_rename(fs, p1, "x", s2, "loop", 0));
	CHECK_EQ(-EINVAL, nvfs_rename(fs, p1, "x", y, "self", 0));
	CHECK_EQ(-EINVAL, nvfs_rename(fs, y, "s1", s1, "again", 0));
	CHECK_EQ(-EINVAL, nvfs_rename(fs, ROOT, "p1", s2, "p1",
				      NVFS_RENAME_NOREPLACE));
	CHECK_EQ((long long)s2, lookup_ino(fs, s1, "s2"));

	/* Moving a directory up: link counts of both parents and "..". */
	CHECK_EQ(3, getattr_(fs, s1).st_nlink);
	CHECK_EQ(0, nvfs_rename(fs, s1, "s2", ROOT, "top", 0));
	CHECK_EQ(2, getattr_(fs, s1).st_nlink);
	CHECK_EQ(5, getattr_(fs, ROOT).st_nlink); /* p1 p2 top + 2 */
	CHECK_EQ((long long)ROOT, lookup_ino(fs, s2, ".."));
	/* Renaming in the same directory leaves link counts alone. */
	CHECK_EQ(0, nvfs_rename(fs, ROOT, "top", ROOT, "top2", 0));
	CHECK_EQ(5, getattr_(fs, ROOT).st_nlink);
	/* Replacing an empty directory with a directory. */
	mkdir_(fs, ROOT, "empty");
	CHECK_EQ(6, getattr_(fs, ROOT).st_nlink);
	CHECK_EQ(0, nvfs_rename(fs, ROOT, "top2", ROOT, "empty", 0));
	CHECK_EQ(5, getattr_(fs, ROOT).st_nlink);
	CHECK_EQ((long long)s2, lookup_ino(fs, ROOT, "empty"));
	/* Type mismatches and non-empty targets. */
	CHECK_EQ(-EISDIR, nvfs_rename(fs, ROOT, "b", ROOT, "p1", 0));
	CHECK_EQ(-ENOTDIR, nvfs_rename(fs, ROOT, "p1", ROOT, "b", 0));
	CHECK_EQ(-ENOTEMPTY, nvfs_rename(fs, ROOT, "p2", ROOT, "p1", 0));
	/* Two names of one inode: nothing happens. */
	struct stat st;
	REQUIRE_EQ(0, nvfs_link(fs, a, ROOT, "a2", &st));
	CHECK_EQ(0, nvfs_rename(fs, ROOT, "a2", ROOT, "b", 0));
	CHECK_EQ((long long)a, lookup_ino(fs, ROOT, "a2"));
	CHECK_EQ(2, getattr_(fs, a).st_nlink);
	umount_fs(fs);
	CHECK_EQ(0, run_check(pool_paths[0], false, NULL, NULL));
}

UNIT_TEST(hard_links)
{
	struct nvfs *fs = mount_pool(tmp_pool("links"), 32 * MiB, NULL);
	uint64_t d = mkdir_(fs, ROOT, "d");
	uint64_t f = mkfile(fs, ROOT, "f");
	put_text(fs, f, "linked");
	struct stat st;
	CHECK_EQ(0, nvfs_link(fs, f, d, "g", &st));
	CHECK_EQ((long long)f, st.st_ino);
	CHECK_EQ(2, st.st_nlink);
	CHECK_EQ(0, nvfs_link(fs, f, ROOT, "h", &st));
	CHECK_EQ(3, getattr_(fs, f).st_nlink);
	CHECK_EQ(-EEXIST, nvfs_link(fs, f, ROOT, "h", &st));
	CHECK_EQ(-EPERM, nvfs_link(fs, d, ROOT, "dl", &st));
	CHECK_EQ(2, getattr_(fs, d).st_nlink);  /* unchanged by the link */
	CHECK_EQ(0, nvfs_unlink(fs, ROOT, "f"));
	CHECK_EQ(2, getattr_(fs, f).st_nlink);
	CHECK_EQ((long long)f, lookup_ino(fs, d, "g"));
	CHECK(has_text(fs, f, "linked"));
	CHECK_EQ(0, nvfs_unlink(fs, d, "g"));
	CHECK_EQ(1, getattr_(fs, f).st_nlink);
	CHECK(has_text(fs, f, "linked"));
	CHECK_EQ((long long)f, lookup_ino(fs, ROOT, "h"));
	umount_fs(fs);
	CHECK_EQ(0, run_check(pool_paths[0], false, NULL, NULL));
}

UNIT_TEST(unlink_open_file)
{
	struct nvfs *fs = mount_pool(tmp_pool("orphan"), 32 * MiB, NULL);
	uint64_t start = free_blocks(fs);
	uint64_t f = mkfile(fs, ROOT, "victim"); /* one lookup reference */
	uint64_t after_create = free_blocks(fs); /* root's entry block */
	REQUIRE_EQ(0, nvfs_open(fs, f, O_RDWR));
	write_pattern(fs, f, 0, 40 * BS, 6);
	uint64_t with_data = free_blocks(fs);
	CHECK_UGE(after_create - 40, with_data);
	CHECK_EQ(0, nvfs_unlink(fs, ROOT, "victim"));
	CHECK_EQ(-ENOENT, lookup_ino(fs, ROOT, "victim"));
	/* Still there for the open file. */
	CHECK_EQ(0, getattr_(fs, f).st_nlink);
	CHECK(read_matches(fs, f, 0, 40 * BS, 6));
	write_pattern(fs, f, 40 * BS, 100, 6);
	CHECK(read_matches(fs, f, 40 * BS - 50, 150, 6));
	CHECK_UGE(with_data, free_blocks(fs));
	/* Closed but the kernel still has a lookup reference: kept. */
	CHECK_EQ(0, nvfs_release(fs, f));
	CHECK_EQ(0, getattr_(fs, f).st_nlink);
	CHECK_UGE(with_data, free_blocks(fs));
	/* Forgotten: freed, every block back. */
	nvfs_forget(fs, f, 1);
	CHECK_EQ(-ENOENT, nvfs_getattr(fs, f, &(struct stat){ 0 }));
	CHECK_UEQ(after_create, free_blocks(fs));
	CHECK_ULE(after_create, start);
	umount_fs(fs);
	CHECK_EQ(0, run_check(pool_paths[0], false, NULL, NULL));
}

/* ------------------------------------------------------------------ */
/* Extended attributes                                                 */

UNIT_TEST(xattrs)
{
	struct nvfs *fs = mount_pool(tmp_pool("xattr"), 32 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "x");
	char buf[4096];
	CHECK_EQ(0, nvfs_listxattr(fs, f, buf, sizeof(buf)));
	CHECK_EQ(-ENODATA, nvfs_getxattr(fs, f, "user.a", buf, sizeof(buf)));
	CHECK_EQ(0, nvfs_setxattr(fs, self(), f, "user.a", "hello", 5, 0));
	CHECK_EQ(0, nvfs_setxattr(fs, self(), f, "user.b", "", 0, 0));
	CHECK_EQ(0, nvfs_setxattr(fs, self(), f, "trusted.t", "T", 1, 0));
	CHECK_EQ(5, nvfs_getxattr(fs, f, "user.a", buf, sizeof(buf)));
	CHECK_MEM("hello", buf, 5);
	CHECK_EQ(5, nvfs_getxattr(fs, f, "user.a", NULL, 0));  /* size query */
	CHECK_EQ(-ERANGE, nvfs_getxattr(fs, f, "user.a", buf, 4));
	CHECK_EQ(0, nvfs_getxattr(fs, f, "user.b", buf, sizeof(buf)));
	/* The list: every name, NUL-terminated. */
	const char want[] = "user.a\0user.b\0trusted.t";
	ssize_t n = nvfs_listxattr(fs, f, buf, sizeof(buf));
	CHECK_EQ(sizeof(want), n);
	CHECK_EQ(n, nvfs_listxattr(fs, f, NULL, 0));
	CHECK_EQ(-ERANGE, nvfs_listxattr(fs, f, buf, (size_t)n - 1));
	if (n == (ssize_t)sizeof(want)) {
		/* Order is not promised: look for each name. */
		int seen = 0;
		for (char *p = buf; p < buf + n; p += strlen(p) + 1)
			seen += !strcmp(p, "user.a") + !strcmp(p, "user.b") +
				!strcmp(p, "trusted.t");
		CHECK_EQ(3, seen);
	}
	/* CREATE / REPLACE. */
	CHECK_EQ(-EEXIST, nvfs_setxattr(fs, self(), f, "user.a", "x", 1, XATTR_CREATE));
	CHECK_EQ(-ENODATA, nvfs_setxattr(fs, self(), f, "user.zz", "x", 1,
					 XATTR_REPLACE));
	CHECK_EQ(0, nvfs_setxattr(fs, self(), f, "user.a", "bye", 3, XATTR_REPLACE));
	CHECK_EQ(3, nvfs_getxattr(fs, f, "user.a", buf, sizeof(buf)));
	CHECK_MEM("bye", buf, 3);
	CHECK_EQ(0, nvfs_setxattr(fs, self(), f, "user.c", "c", 1, XATTR_CREATE));
	/* Unknown namespaces, and remove. */
	CHECK_EQ(-EOPNOTSUPP, nvfs_setxattr(fs, self(), f, "bogus.a", "x", 1, 0));
	CHECK_EQ(0, nvfs_removexattr(fs, self(), f, "user.a"));
	CHECK_EQ(-ENODATA, nvfs_getxattr(fs, f, "user.a", buf, sizeof(buf)));
	CHECK_EQ(-ENODATA, nvfs_removexattr(fs, self(), f, "user.a"));
	CHECK_EQ(1, nvfs_getxattr(fs, f, "user.c", buf, sizeof(buf)));

	/* Many values of 1000 bytes: no longer one block's worth. */
	static uint8_t big[1000];
	memset(big, 0x5A, sizeof(big));
	char name[32];
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "user.big%d", i);
		CHECK_EQ(0, nvfs_setxattr(fs, self(), f, name, big, sizeof(big), 0));
	}
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "user.big%d", i);
		CHECK_EQ(sizeof(big), nvfs_getxattr(fs, f, name, buf, sizeof(buf)));
		CHECK_MEM(big, buf, sizeof(big));
	}
	CHECK_EQ(1, nvfs_getxattr(fs, f, "user.c", buf, sizeof(buf)));
	/* Values up to 64 KiB (XATTR_SIZE_MAX); E2BIG past it. */
	static uint8_t huge[NVFS_XATTR_SIZE_MAX + 1];
	CHECK_EQ(-E2BIG, nvfs_setxattr(fs, self(), f, "user.huge", huge,
				       sizeof(huge), 0));
	CHECK_EQ(-ENODATA, nvfs_getxattr(fs, f, "user.huge", buf, sizeof(buf)));
	CHECK_EQ(0, nvfs_removexattr(fs, self(), f, "user.big0"));
	CHECK_EQ(-ENODATA, nvfs_getxattr(fs, f, "user.big0", buf, sizeof(buf)));
	CHECK_EQ(0, nvfs_setxattr(fs, self(), f, "user.big0", big, sizeof(big), 0));
	/* Xattrs of a directory. */
	CHECK_EQ(0, nvfs_setxattr(fs, self(), ROOT, "user.dir", "d", 1, 0));
	CHECK_EQ(1, nvfs_getxattr(fs, ROOT, "user.dir", buf, sizeof(buf)));
	umount_fs(fs);
	CHECK_EQ(0, run_check(pool_paths[0], false, NULL, NULL));
}

/* ------------------------------------------------------------------ */
/* The xattr store (fs/core/xattr_tree.h)                                  */

static int set_xpattern(struct nvfs *fs, uint64_t ino, const char *name,
			size_t len, unsigned seed, int flags)
{
	uint8_t *v = pattern(0, len, seed);
	int rc = nvfs_setxattr(fs, self(), ino, name, v, len, flags);
	free(v);
	return rc;
}

/* Whether an attribute holds len bytes of pattern seed. */
static bool xattr_is(struct nvfs *fs, uint64_t ino, const char *name,
		     size_t len, unsigned seed)
{
	uint8_t *want = pattern(0, len, seed);
	uint8_t *got = malloc(len + 1);
	ssize_t n = nvfs_getxattr(fs, ino, name, got, len + 1);
	bool ok = n == (ssize_t)len && memcmp(want, got, len) == 0;
	if (!ok)
		fprintf(stderr, "    %s: got %zd bytes%s, want %zu\n", name, n,
			n == (ssize_t)len ? " that differ" : "", len);
	free(want);
	free(got);
	return ok;
}

/* Blocks an inode holds (data, map nodes, xattr nodes and values). */
static uint64_t held_blocks(struct nvfs *fs, uint64_t ino)
{
	return (uint64_t)getattr_(fs, ino).st_blocks / (BS / 512);
}

/* The root node of an inode's xattr tree, or NULL. */
static const struct nvmpfs_xattr_node *xattr_root(struct nvfs *fs,
						  uint64_t ino)
{
	uint64_t blk = inode_get(fs, ino)->xattr_block;
	return blk ? pool_block(fs->pool, blk) : NULL;
}

/* Names in a listxattr answer. */
static size_t count_names(struct nvfs *fs, uint64_t ino)
{
	ssize_t n = nvfs_listxattr(fs, ino, NULL, 0);
	if (n <= 0)
		return 0;
	char *buf = malloc((size_t)n);
	ssize_t got = nvfs_listxattr(fs, ino, buf, (size_t)n);
	size_t names = 0;
	for (ssize_t i = 0; i < got; i++)
		names += buf[i] == '\0';
	free(buf);
	return got == n ? names : 0;
}

UNIT_TEST(xattr_store_values)
{
	struct nvfs *fs = mount_pool(tmp_pool("xvalues"), 32 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	uint64_t start = free_blocks(fs);
	static const size_t sizes[] = { 0, 1, 1023, 1024, 1025, 4095, 4096,
					4097, 20000, 65535, 65536 };
	const size_t n = sizeof(sizes) / sizeof(sizes[0]);
	char name[32];
	uint64_t value_blocks = 0;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "user.v%zu", sizes[i]);
		CHECK_EQ(0, set_xpattern(fs, f, name, sizes[i], (unsigned)i, 0));
		if (sizes[i] > NVMPFS_XATTR_INLINE_MAX)
			value_blocks += (sizes[i] + BS - 1) / BS;
	}
	static uint8_t buf[NVFS_XATTR_SIZE_MAX];
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "user.v%zu", sizes[i]);
		CHECK(xattr_is(fs, f, name, sizes[i], (unsigned)i));
		CHECK_EQ((ssize_t)sizes[i], nvfs_getxattr(fs, f, name, NULL, 0));
		if (sizes[i] > 1) /* (a size of 0 asks for the size) */
			CHECK_EQ(-ERANGE, nvfs_getxattr(fs, f, name, buf,
							sizes[i] - 1));
	}
	/* Every value block and node is the file's, and counted. */
	CHECK_UGE(held_blocks(fs, f), value_blocks + 1);
	CHECK_UEQ(start - held_blocks(fs, f), free_blocks(fs));
	/* Replaces across the inline/external line; the rest unharmed. */
	CHECK_EQ(0, set_xpattern(fs, f, "user.v1", 50000, 77, XATTR_REPLACE));
	CHECK(xattr_is(fs, f, "user.v1", 50000, 77));
	CHECK_EQ(0, set_xpattern(fs, f, "user.v65536", 3, 78, XATTR_REPLACE));
	CHECK(xattr_is(fs, f, "user.v65536", 3, 78));
	CHECK_EQ(0, set_xpattern(fs, f, "user.v1", 10, 79, 0));
	CHECK(xattr_is(fs, f, "user.v1", 10, 79));
	for (size_t i = 0; i < n; i++) {
		if (sizes[i] == 1 || sizes[i] == 65536)
			continue;
		snprintf(name, sizeof(name), "user.v%zu", sizes[i]);
		CHECK(xattr_is(fs, f, name, sizes[i], (unsigned)i));
	}
	CHECK_UEQ(start - held_blocks(fs, f), free_blocks(fs));
	CHECK_EQ(n, count_names(fs, f));
	/* Past XATTR_SIZE_MAX: E2BIG, nothing changed. */
	CHECK_EQ(-E2BIG, set_xpattern(fs, f, "user.v1", 65537, 80, 0));
	CHECK(xattr_is(fs, f, "user.v1", 10, 79));
	/* All removed: nothing held any more. */
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "user.v%zu", sizes[i]);
		CHECK_EQ(0, nvfs_removexattr(fs, self(), f, name));
	}
	CHECK(xattr_root(fs, f) == NULL);
	CHECK_UEQ(0, held_blocks(fs, f));
	CHECK_UEQ(start, free_blocks(fs));
	CHECK_EQ(0, nvfs_listxattr(fs, f, NULL, 0));
	umount_fs(fs);
	CHECK_EQ(0, run_check(pool_paths[0], false, NULL, NULL));
}

/* Attribute i of the many-attributes tests: length and pattern seed. */
static size_t many_len(unsigned i)
{
	return i % 250 == 0 ? 5000 + i : i % 97;
}

UNIT_TEST(xattr_store_many)
{
	const char *path = tmp_pool("xmany");
	struct nvfs *fs = mount_pool(path, 64 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	uint64_t start = free_blocks(fs);
	enum { N = 5000 };
	char name[32];
	unsigned failed = 0;
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user.x%04u", i);
		failed += set_xpattern(fs, f, name, many_len(i), i, 0) != 0;
	}
	CHECK_EQ(0, failed);
	const struct nvmpfs_xattr_node *root = xattr_root(fs, f);
	REQUIRE(root != NULL);
	CHECK_GE(root->level, 1); /* a tree, not one block */
	failed = 0;
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user.x%04u", i);
		failed += !xattr_is(fs, f, name, many_len(i), i);
	}
	CHECK_EQ(0, failed);
	CHECK_EQ(N, count_names(fs, f));
	/* Every name once in the list. */
	ssize_t len = nvfs_listxattr(fs, f, NULL, 0);
	char *list = malloc((size_t)len);
	REQUIRE_EQ(len, nvfs_listxattr(fs, f, list, (size_t)len));
	static bool seen[N];
	unsigned dups = 0, strangers = 0;
	for (char *p = list; p < list + len; p += strlen(p) + 1) {
		unsigned i;
		if (sscanf(p, "user.x%4u", &i) != 1 || i >= N)
			strangers++;
		else if (seen[i])
			dups++;
		else
			seen[i] = true;
	}
	free(list);
	CHECK_EQ(0, dups);
	CHECK_EQ(0, strangers);
	/* Half removed. */
	for (unsigned i = 0; i < N; i += 2) {
		snprintf(name, sizeof(name), "user.x%04u", i);
		failed += nvfs_removexattr(fs, self(), f, name) != 0;
	}
	CHECK_EQ(0, failed);
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
	fs = mount_pool(path, 0, NULL);
	uint8_t scratch[8];
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user.x%04u", i);
		if (i % 2)
			failed += !xattr_is(fs, f, name, many_len(i), i);
		else
			failed += nvfs_getxattr(fs, f, name, scratch,
						sizeof(scratch)) != -ENODATA;
	}
	CHECK_EQ(0, failed);
	CHECK_EQ(N / 2, count_names(fs, f));
	/* And the rest: the tree and every block are gone. */
	for (unsigned i = 1; i < N; i += 2) {
		snprintf(name, sizeof(name), "user.x%04u", i);
		failed += nvfs_removexattr(fs, self(), f, name) != 0;
	}
	CHECK_EQ(0, failed);
	CHECK(xattr_root(fs, f) == NULL);
	CHECK_UEQ(0, held_blocks(fs, f));
	CHECK_UEQ(start, free_blocks(fs));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

UNIT_TEST(xattr_store_deep)
{
	const char *path = tmp_pool("xdeep");
	struct nvfs *fs = mount_pool(path, 64 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	uint64_t start = free_blocks(fs);
	/* Long names: few records a leaf, more leaves than an index holds. */
	enum { N = 12000 };
	char name[128];
	unsigned failed = 0;
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user.%05u.%.*s", i, 90,
			 "................................................"
			 "..........................................");
		failed += set_xpattern(fs, f, name, 16, i, 0) != 0;
	}
	CHECK_EQ(0, failed);
	const struct nvmpfs_xattr_node *root = xattr_root(fs, f);
	REQUIRE(root != NULL);
	CHECK_EQ(2, root->level);
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
	fs = mount_pool(path, 0, NULL);
	CHECK_EQ(N, count_names(fs, f));
	/* Removed in a scattered order: leaves, then index nodes, go. */
	for (unsigned k = 0; k < N; k++) {
		unsigned i = (unsigned)((k * 7919ull) % N);
		snprintf(name, sizeof(name), "user.%05u.%.*s", i, 90,
			 "................................................"
			 "..........................................");
		failed += !xattr_is(fs, f, name, 16, i);
		failed += nvfs_removexattr(fs, self(), f, name) != 0;
		if (k == N / 2) {
			umount_fs(fs);
			failed += run_check(path, false, NULL, NULL) != 0;
			fs = mount_pool(path, 0, NULL);
		}
	}
	CHECK_EQ(0, failed);
	CHECK(xattr_root(fs, f) == NULL);
	CHECK_UEQ(0, held_blocks(fs, f));
	CHECK_UEQ(start, free_blocks(fs));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/* A file with many attributes, some large. */
static uint64_t file_with_xattrs(struct nvfs *fs, const char *fname,
				 unsigned small, unsigned large)
{
	uint64_t f = mkfile(fs, ROOT, fname);
	char name[32];
	for (unsigned i = 0; i < small; i++) {
		snprintf(name, sizeof(name), "user.s%05u", i);
		if (set_xpattern(fs, f, name, i % 64, i, 0))
			FAIL("setxattr %s", name);
	}
	for (unsigned i = 0; i < large; i++) {
		snprintf(name, sizeof(name), "trusted.l%03u", i);
		if (set_xpattern(fs, f, name, NVFS_XATTR_SIZE_MAX - i, i, 0))
			FAIL("setxattr %s", name);
	}
	return f;
}

/* The entry that names ino in its create's hinted slot. */
static struct nvmpfs_dirent *hinted_entry(struct nvfs *fs, uint64_t ino)
{
	const struct nvmpfs_inode *inode = inode_get(fs, ino);
	uint64_t slot = inode->naming_slot - 1;
	uint64_t pblk = bmap_lookup(fs, inode_get(fs, inode->naming_dir),
				    slot / NVMPFS_SLOTS_PER_BLOCK, NULL);
	if (!inode->naming_slot || !pblk)
		FAIL("inode %llu has no name hint", (unsigned long long)ino);
	return (struct nvmpfs_dirent *)((uint8_t *)pool_block(fs->pool, pblk) +
		(slot % NVMPFS_SLOTS_PER_BLOCK) * NVMPFS_DIRENT_SLOT);
}

/*
 * A create by one store (naming.h) cut between its two stores: the next
 * mount undoes it by the inode's name hint, whichever store was lost; a
 * create whose two stores both stayed is kept.
 */
UNIT_TEST(create_cut_short_is_settled)
{
	const char *path = tmp_pool("naming");
	struct nvfs *fs = mount_pool(path, 64 * MiB, NULL);
	mkfile(fs, ROOT, "first"); /* the root's first block: room for more */
	uint64_t a = mkfile(fs, ROOT, "a");
	uint64_t b = mkfile(fs, ROOT, "b");
	uint64_t c = mkfile(fs, ROOT, "c");
	CHECK_UEQ(ROOT, inode_get(fs, a)->naming_dir);
	CHECK_UEQ(a, hinted_entry(fs, a)->ino);
	/*
	 * a kept its entry and lost its first word (mode, nlink); b kept its
	 * first word and lost its entry's ino.  And a free slot's stale map
	 * word (the last inode's) is never made live by a cut create: a's
	 * slot is given a bogus one, which recovery must not walk.
	 */
	pool_store64(fs->pool, (uint64_t *)&inode_get(fs, a)->mode, 0);
	inode_get(fs, a)->map = nvmpfs_map_word(fs->sb.block_count - 1, 1);
	hinted_entry(fs, b)->ino = 0;
	abandon_fs(fs);
	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK_UEQ(2, rep.creates_settled);
	struct stat st;
	CHECK_EQ(-ENOENT, lookup_ino(fs, ROOT, "a"));
	CHECK_EQ(-ENOENT, lookup_ino(fs, ROOT, "b"));
	CHECK_EQ(-ENOENT, nvfs_getattr(fs, a, &st));
	CHECK_EQ(-ENOENT, nvfs_getattr(fs, b, &st));
	CHECK_EQ((int64_t)c, lookup_ino(fs, ROOT, "c"));
	REQUIRE_EQ(0, nvfs_getattr(fs, c, &st));
	CHECK_UEQ(1, st.st_nlink);
	CHECK_UEQ(0, inode_get(fs, c)->naming_slot); /* hints are cleared */
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/* Link and rename clear a hint: it never outlives the name it points at. */
UNIT_TEST(name_changes_clear_the_hint)
{
	const char *path = tmp_pool("hint");
	struct nvfs *fs = mount_pool(path, 64 * MiB, NULL);
	mkfile(fs, ROOT, "first");
	uint64_t a = mkfile(fs, ROOT, "a"), b = mkfile(fs, ROOT, "b");
	CHECK(inode_get(fs, a)->naming_slot != 0);
	struct stat st;
	REQUIRE_EQ(0, nvfs_link(fs, a, ROOT, "a2", &st));
	CHECK_UEQ(0, inode_get(fs, a)->naming_slot);
	REQUIRE_EQ(0, nvfs_rename(fs, ROOT, "b", ROOT, "b2", 0));
	CHECK_UEQ(0, inode_get(fs, b)->naming_slot);
	/* A crash now settles nothing: the names stand as they are. */
	abandon_fs(fs);
	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK_UEQ(0, rep.creates_settled);
	CHECK_EQ((int64_t)b, lookup_ino(fs, ROOT, "b2"));
	REQUIRE_EQ(0, nvfs_getattr(fs, a, &st));
	CHECK_UEQ(2, st.st_nlink);
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/*
 * The first write of an empty file publishes map word and size in one
 * drain: a crash that kept the size and lost the map word leaves size 0.
 */
UNIT_TEST(first_write_cut_short_drops_the_size)
{
	const char *path = tmp_pool("firstmap");
	struct nvfs *fs = mount_pool(path, 64 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	write_pattern(fs, f, 0, 3 * BS, 7);
	CHECK(inode_get(fs, f)->flags & NVMPFS_IFLAG_FIRST_MAP);
	inode_get(fs, f)->map = 0; /* the map word did not reach the media */
	uint64_t g = mkfile(fs, ROOT, "g");
	write_pattern(fs, g, 0, 5000, 8); /* this one's did */
	abandon_fs(fs);
	fs = mount_pool(path, 0, NULL);
	struct stat st;
	REQUIRE_EQ(0, nvfs_getattr(fs, f, &st));
	CHECK_EQ(0, st.st_size);
	REQUIRE_EQ(0, nvfs_getattr(fs, g, &st));
	CHECK_EQ(5000, st.st_size);
	CHECK_UEQ(0, inode_get(fs, f)->flags & NVMPFS_IFLAG_FIRST_MAP);
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/*
 * FIRST_MAP is only for a file of size 0: the first write into a file a
 * truncate made longer, or one emptied by a truncate to 0 after a write,
 * can never have its size dropped by a crash.
 */
UNIT_TEST(first_map_flag_only_from_size_zero)
{
	const char *path = tmp_pool("firstmap0");
	struct nvfs *fs = mount_pool(path, 64 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	struct stat a = { .st_size = MiB }, st;
	REQUIRE_EQ(0, nvfs_setattr(fs, f, &a, NVFS_SET_SIZE, &st));
	write_pattern(fs, f, 2 * MiB, BS, 3);
	CHECK_UEQ(0, inode_get(fs, f)->flags & NVMPFS_IFLAG_FIRST_MAP);
	uint64_t g = mkfile(fs, ROOT, "g");
	write_pattern(fs, g, 0, BS, 4);
	CHECK(inode_get(fs, g)->flags & NVMPFS_IFLAG_FIRST_MAP);
	a.st_size = 0;
	REQUIRE_EQ(0, nvfs_setattr(fs, g, &a, NVFS_SET_SIZE, &st));
	CHECK_UEQ(0, inode_get(fs, g)->map);
	CHECK_UEQ(0, inode_get(fs, g)->flags & NVMPFS_IFLAG_FIRST_MAP);
	a.st_size = 3 * BS; /* sparse now: a crash must keep this size */
	REQUIRE_EQ(0, nvfs_setattr(fs, g, &a, NVFS_SET_SIZE, &st));
	abandon_fs(fs);
	fs = mount_pool(path, 0, NULL);
	REQUIRE_EQ(0, nvfs_getattr(fs, f, &st));
	CHECK_EQ(2 * MiB + BS, st.st_size);
	REQUIRE_EQ(0, nvfs_getattr(fs, g, &st));
	CHECK_EQ(3 * BS, st.st_size);
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/*
 * A data change sets the times once a tick of the coarse clock: not when
 * mtime and ctime were both set inside the current tick, always when
 * either is older (or any value a corrupt pool may hold).
 */
UNIT_TEST(data_change_times_once_a_tick)
{
	const char *path = tmp_pool("ticktimes");
	struct nvfs *fs = mount_pool(path, 64 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	struct nvmpfs_inode *inode = inode_get(fs, f);
	struct nvmpfs_time now;
	inode->mtime.sec = 1;
	CHECK(inode_touch_data_change(fs, inode, true));
	inode_now(&now);
	CHECK(now.sec - inode->mtime.sec <= 1);
	bool skipped = false; /* unless every try straddles a tick */
	for (int i = 0; i < 100 && !skipped; i++) {
		inode_touch_now(fs, inode, true, true);
		skipped = !inode_touch_data_change(fs, inode, true);
	}
	CHECK(skipped);
	inode_touch_now(fs, inode, false, true);
	inode->mtime.sec = 1; /* ctime fresh, mtime old */
	CHECK(inode_touch_data_change(fs, inode, true));
	CHECK(now.sec - inode->mtime.sec <= 1);
	inode->mtime.sec = INT64_MAX; /* ctime alone is asked for */
	inode_touch_now(fs, inode, false, true);
	CHECK(!inode_touch_data_change(fs, inode, false) ||
	      !inode_touch_data_change(fs, inode, false));
	inode->ctime.sec = INT64_MAX;
	inode->ctime.nsec = UINT32_MAX;
	CHECK(inode_touch_data_change(fs, inode, false));
	inode->ctime.sec = INT64_MIN;
	CHECK(inode_touch_data_change(fs, inode, true));
	CHECK(now.sec - inode->mtime.sec <= 1);
	umount_fs(fs);
}

UNIT_TEST(xattr_store_freed_with_inode)
{
	const char *path = tmp_pool("xfree");
	struct nvfs *fs = mount_pool(path, 64 * MiB, NULL);
	mkfile(fs, ROOT, "first"); /* the root's first block and map node */
	uint64_t start = free_blocks(fs);
	uint64_t f = file_with_xattrs(fs, "f", 3000, 30);
	CHECK_UGE(start - free_blocks(fs), 30 * 16);
	REQUIRE_EQ(0, nvfs_unlink(fs, ROOT, "f"));
	nvfs_forget(fs, f, 1);
	CHECK_EQ(-ENOENT, nvfs_getattr(fs, f, &(struct stat){ 0 }));
	CHECK_UEQ(start, free_blocks(fs));
	/* An orphan at a crash: the next mount frees its attributes too. */
	uint64_t g = file_with_xattrs(fs, "g", 2000, 20);
	REQUIRE_EQ(0, nvfs_open(fs, g, O_RDWR));
	REQUIRE_EQ(0, nvfs_unlink(fs, ROOT, "g"));
	abandon_fs(fs);
	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK_UGE(rep.orphans_freed, 1);
	CHECK_UEQ(start, free_blocks(fs));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/* Uses blocks of a file until exactly `left` blocks are free (or fewer). */
static void leave_free(struct nvfs *fs, uint64_t fill, uint64_t left)
{
	static uint8_t block[BS];
	uint64_t size = (uint64_t)getattr_(fs, fill).st_size;
	while (free_blocks(fs) > left) {
		if (nvfs_write(fs, fill, block, BS, size) != BS)
			FAIL("cannot use the free space");
		size += BS;
	}
}

UNIT_TEST(xattr_store_enospc)
{
	const char *path = tmp_pool("xenospc");
	struct nvfs *fs = mount_pool(path, 8 * MiB, NULL);
	uint64_t f = file_with_xattrs(fs, "f", 300, 0);
	uint64_t fill = mkfile(fs, ROOT, "fill");
	leave_free(fs, fill, 15);
	REQUIRE_EQ(15, free_blocks(fs));
	/* 16 blocks of value do not fit in 15: ENOSPC, nothing changed. */
	CHECK_EQ(-ENOSPC, set_xpattern(fs, f, "user.big", 65536, 1, 0));
	CHECK_UEQ(15, free_blocks(fs));
	CHECK_EQ(-ENODATA, nvfs_getxattr(fs, f, "user.big", NULL, 0));
	CHECK_EQ(300, count_names(fs, f));
	/* 8 blocks do, whatever splits come with them. */
	CHECK_EQ(0, set_xpattern(fs, f, "user.half", 32768, 2, 0));
	CHECK(xattr_is(fs, f, "user.half", 32768, 2));
	/* Small ones until the pool is really full. */
	char name[32];
	int rc = 0;
	unsigned added = 0;
	for (unsigned i = 0; rc == 0 && i < 100000; i++) {
		snprintf(name, sizeof(name), "user.more%05u", i);
		rc = set_xpattern(fs, f, name, 200, i, 0);
		added += rc == 0;
	}
	CHECK_EQ(-ENOSPC, rc);
	CHECK_GT(added, 20);
	/* A split needs at most two blocks a level and a new root. */
	CHECK_ULE(free_blocks(fs), 2 * (NVMPFS_XATTR_MAX_LEVEL + 1) + 1);
	unsigned failed = 0;
	for (unsigned i = 0; i < added; i++) {
		snprintf(name, sizeof(name), "user.more%05u", i);
		failed += !xattr_is(fs, f, name, 200, i);
	}
	CHECK_EQ(0, failed);
	CHECK_EQ(300 + 1 + added, count_names(fs, f));
	/* Space back: it works again. */
	struct stat a = { .st_size = 0 }, st;
	REQUIRE_EQ(0, nvfs_setattr(fs, fill, &a, NVFS_SET_SIZE, &st));
	CHECK_EQ(0, set_xpattern(fs, f, "user.big", 65536, 1, 0));
	CHECK(xattr_is(fs, f, "user.big", 65536, 1));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/* Names held by the leaf in block blk. */
static unsigned leaf_names(struct nvfs *fs, uint64_t blk, char names[][64],
			   unsigned max)
{
	const struct nvmpfs_xattr_node *leaf = pool_block(fs->pool, blk);
	size_t pos = 0;
	bool damaged;
	const struct nvmpfs_xattr_rec *rec;
	unsigned n = 0;
	while (n < max && (rec = xleaf_next(leaf, &pos, &damaged)))
		snprintf(names[n++], 64, "%.*s", (int)rec->name_len, rec->name);
	return n;
}

UNIT_TEST(xattr_store_fsck_repair)
{
	const char *path = tmp_pool("xfsck");
	struct nvfs *fs = mount_pool(path, 32 * MiB, NULL);
	/* g comes first: its data block is claimed before f's attributes. */
	uint64_t g = mkfile(fs, ROOT, "g");
	write_pattern(fs, g, 0, BS, 5);
	uint64_t f = file_with_xattrs(fs, "f", 600, 0);
	REQUIRE_EQ(0, set_xpattern(fs, f, "user.ext", 10000, 9, 0));
	const struct nvmpfs_xattr_node *root = xattr_root(fs, f);
	REQUIRE(root != NULL);
	REQUIRE_EQ(1, root->level);
	REQUIRE_GE(root->count, 3);
	const struct nvmpfs_xattr_entry *e = xnode_entries(root);
	/* Damage 3 (below) is in user.ext's leaf; 1 and 2 in others. */
	struct nvmpfs_xattr_rec *ext;
	struct xpath xp;
	size_t ext_off;
	REQUIRE_EQ(0, xtree_find(fs, inode_get(fs, f), "user.ext", &ext, &xp,
				 &ext_off));
	uint64_t ext_ptr_off = pool_off(fs->pool, xrec_payload(ext));
	uint64_t g_block = bmap_lookup(fs, inode_get(fs, g), 0, NULL);
	unsigned first = 0, last = root->count - 1;
	if (e[first].child == xp.step[0].blk)
		first++;
	if (e[last].child == xp.step[0].blk)
		last--;
	REQUIRE(first < last);
	/* Damage 1: the hash of the first record of a leaf. */
	uint64_t leaf1 = e[first].child;
	char lost1[1][64];
	REQUIRE_EQ(1, leaf_names(fs, leaf1, lost1, 1));
	uint64_t hash_off = leaf1 * BS + sizeof(struct nvmpfs_xattr_node);
	/* Damage 2: another leaf loses its magic. */
	uint64_t leaf2 = e[last].child;
	static char lost2[NVMPFS_XATTR_ROOM / XREC_HEADER][64];
	unsigned nlost2 = leaf_names(fs, leaf2, lost2,
				     NVMPFS_XATTR_ROOM / XREC_HEADER);
	/* Damage 3: user.ext's first value block is g's data block. */
	umount_fs(fs);

	uint64_t hash;
	pool_file_read(path, hash_off, &hash, 8);
	hash ^= 1;
	pool_file_write(path, hash_off, &hash, 8);
	uint32_t zero = 0;
	pool_file_write(path, leaf2 * BS, &zero, 4);
	pool_file_write(path, ext_ptr_off, &g_block, 8);

	char *text;
	CHECK_GE(run_check(path, false, &text, NULL), 3);
	CHECK_CONTAINS(text, "does not match its name");
	CHECK_CONTAINS(text, "is damaged");
	CHECK_CONTAINS(text, "claimed twice");
	CHECK_GE(run_check(path, true, &text, NULL), 3);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));

	fs = mount_pool(path, 0, NULL);
	uint8_t scratch[8];
	CHECK_EQ(-ENODATA, nvfs_getxattr(fs, f, lost1[0], scratch, sizeof(scratch)));
	CHECK_EQ(-ENODATA, nvfs_getxattr(fs, f, "user.ext", NULL, 0));
	for (unsigned i = 0; i < nlost2; i++)
		CHECK_EQ(-ENODATA, nvfs_getxattr(fs, f, lost2[i], NULL, 0));
	CHECK(read_matches(fs, g, 0, BS, 5));
	/* Everything the damage did not reach is there. */
	char name[32];
	unsigned intact = 0;
	for (unsigned i = 0; i < 600; i++) {
		snprintf(name, sizeof(name), "user.s%05u", i);
		intact += nvfs_getxattr(fs, f, name, NULL, 0) >= 0 &&
			  xattr_is(fs, f, name, i % 64, i);
	}
	CHECK_EQ(600 - 1 - nlost2, intact);
	CHECK_EQ(intact, count_names(fs, f));
	/* The tree takes changes again. */
	CHECK_EQ(0, set_xpattern(fs, f, "user.ext", 10000, 10, 0));
	CHECK(xattr_is(fs, f, "user.ext", 10000, 10));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/* Copies a pool file (to start each round from the same state). */
static void copy_file(const char *from, const char *to)
{
	static uint8_t buf[1 << 20];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT |
						  O_TRUNC, 0600);
	ssize_t n;
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			break;
	if (in < 0 || out < 0)
		FAIL("copy of %s to %s failed", from, to);
	close(in);
	close(out);
}

/* ---- crash points (need the power-failure simulation) ---- */
#ifdef NVMPFS_CRASH_SIM

enum { CP_OLD = 150, CP_OPS = 60, CP_NAMES = CP_OLD + CP_OPS };

/* What the attributes are: length (-1: absent) and seed per name. */
struct xstate {
	int len[CP_NAMES];
	unsigned seed[CP_NAMES];
};

static void cp_name(unsigned idx, char *buf, size_t size)
{
	if (idx < CP_OLD)
		snprintf(buf, size, "user.k%03u", idx);
	else
		snprintf(buf, size, "user.n%03u", idx - CP_OLD);
}

static void cp_initial(struct xstate *s)
{
	for (unsigned i = 0; i < CP_NAMES; i++)
		s->len[i] = -1;
	for (unsigned i = 0; i < CP_OLD; i++) {
		s->len[i] = i % 20 == 0 ? 6000 + (int)i : (int)(i * 13 % 300);
		s->seed[i] = i;
	}
}

/*
 * Operation j of the workload: inserts (small and large), replaces across
 * the inline/external line, removes.  Applied to the state s.
 */
static void cp_op(unsigned j, struct xstate *s, unsigned *idx)
{
	switch (j % 4) {
	case 0:
		*idx = CP_OLD + j;
		s->len[*idx] = (int)(j * 37 % 900);
		break;
	case 1:
		*idx = j * 7 % 75;
		s->len[*idx] = j % 8 == 1 ? 9000 : 40 + (int)j;
		break;
	case 2:
		*idx = 75 + j * 5 % 75;
		s->len[*idx] = -1;
		break;
	default:
		*idx = CP_OLD + j;
		s->len[*idx] = 20000 + (int)j;
	}
	s->seed[*idx] = 1000 + j;
}

static int cp_apply(struct nvfs *fs, uint64_t f, const struct xstate *s,
		    unsigned idx)
{
	char name[32];
	cp_name(idx, name, sizeof(name));
	if (s->len[idx] < 0)
		return nvfs_removexattr(fs, self(), f, name);
	return set_xpattern(fs, f, name, (size_t)s->len[idx], s->seed[idx], 0);
}

/* The workload, from the initial state; returns the drains it ended at. */
static uint64_t cp_workload(struct nvfs *fs, uint64_t f)
{
	struct xstate s;
	cp_initial(&s);
	for (unsigned j = 0; j < CP_OPS; j++) {
		unsigned idx;
		cp_op(j, &s, &idx);
		if (cp_apply(fs, f, &s, idx))
			return 0;
	}
	return fs->pool->drains;
}

/* Whether the file's attributes are those of state s. */
static bool cp_matches(struct nvfs *fs, uint64_t f, const struct xstate *s)
{
	char name[32];
	static uint8_t buf[NVFS_XATTR_SIZE_MAX];
	size_t present = 0;
	for (unsigned i = 0; i < CP_NAMES; i++) {
		cp_name(i, name, sizeof(name));
		ssize_t n = nvfs_getxattr(fs, f, name, buf, sizeof(buf));
		if (s->len[i] < 0) {
			if (n != -ENODATA)
				return false;
			continue;
		}
		present++;
		uint8_t *want = pattern(0, (size_t)s->len[i], s->seed[i]);
		bool same = n == s->len[i] && memcmp(want, buf, (size_t)n) == 0;
		free(want);
		if (!same)
			return false;
	}
	return count_names(fs, f) == present;
}


/*
 * Mounts path in a child with the power-failure simulation set to fail at
 * drain `at` (tear seed `seed`) and runs work on it; the simulation kills
 * the child there, or work ends and the child exits.
 */
static void crash_in_child(const char *path, uint64_t at, uint64_t seed,
			   void (*work)(struct nvfs *fs, uint64_t ino),
			   uint64_t ino)
{
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		/* The simulation says where it crashed: not needed here. */
		if (!freopen("/dev/null", "w", stderr))
			_exit(4);
		char v[32];
		snprintf(v, sizeof(v), "%llu", (unsigned long long)at);
		setenv("NVMPFS_CRASH_AT", v, 1);
		snprintf(v, sizeof(v), "%llu", (unsigned long long)seed);
		setenv("NVMPFS_CRASH_SEED", v, 1);
		struct nvfs *fs;
		struct nvfs_mount_opts o = { 0 };
		char err[256];
		if (nvfs_mount(path, &o, &fs, NULL, err, sizeof(err)))
			_exit(3);
		fs->log = NULL;
		work(fs, ino);
		_exit(0); /* past the last drain: no crash */
	}
	int status;
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
		FAIL("the child could not mount %s", path);
}

static void cp_workload_of(struct nvfs *fs, uint64_t f)
{
	cp_workload(fs, f);
}

UNIT_TEST(xattr_store_crash_points)
{
	const char *base = tmp_pool("xcpbase"), *work = tmp_pool("xcpwork");
	struct nvfs *fs = mount_pool(base, 8 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	struct xstate states[CP_OPS + 1];
	cp_initial(&states[0]);
	for (unsigned i = 0; i < CP_OLD; i++)
		REQUIRE_EQ(0, cp_apply(fs, f, &states[0], i));
	umount_fs(fs);
	for (unsigned j = 0; j < CP_OPS; j++) {
		unsigned idx;
		states[j + 1] = states[j];
		cp_op(j, &states[j + 1], &idx);
	}
	/* A run without a crash: the drains it takes, and the end state. */
	copy_file(base, work);
	fs = mount_pool(work, 0, NULL);
	uint64_t first = fs->pool->drains + 1, last = cp_workload(fs, f);
	REQUIRE_GT(last, first);
	CHECK(cp_matches(fs, f, &states[CP_OPS]));
	umount_fs(fs);
	/* About 120 crash points spread over the whole run. */
	uint64_t step = (last - first) / 120 + 1;
	unsigned bad_state = 0, bad_check = 0, points = 0;
	for (uint64_t at = first; at <= last; at += step) {
		copy_file(base, work);
		crash_in_child(work, at, at, cp_workload_of, f);
		fs = mount_pool(work, 0, NULL);
		bool found = false;
		for (int j = CP_OPS; j >= 0 && !found; j--)
			found = cp_matches(fs, f, &states[j]);
		if (!found)
			fprintf(stderr, "    crash at drain %llu: the attributes "
				"are no state of the workload\n",
				(unsigned long long)at);
		bad_state += !found;
		umount_fs(fs);
		bad_check += run_check(work, false, NULL, NULL) != 0;
		points++;
	}
	/* Every drain of a short run; at least 60 points of a long one. */
	CHECK_GE(points, last - first + 1 < 60 ? last - first + 1 : 60);
	CHECK_EQ(0, bad_state);
	CHECK_EQ(0, bad_check);
}

/*
 * A write past the end of file into the block that holds it, when that
 * block is a hole (a file grown by truncate): after a crash at any drain,
 * the size is the old one or the new one, the new one only with every
 * written byte there, and the hole's bytes below the old size read zero.
 * The block's map entry once shared the size's drain, so a torn crash
 * could keep the size and lose the entry (the written bytes read zero);
 * and published with the block's contents instead, a torn crash could
 * keep the entry and lose the zeros (the free blocks are made dirty first,
 * so the new block shows its old bytes).
 */
static void eof_hole_write(struct nvfs *fs, uint64_t ino)
{
	uint8_t *b = pattern(3 * BS + 1000, 2 * BS, 7);
	nvfs_write(fs, ino, b, 2 * BS, 3 * BS + 1000);
	free(b);
}

UNIT_TEST(write_into_hole_at_eof_crash_points)
{
	const char *base = tmp_pool("eofbase"), *work = tmp_pool("eofwork");
	const uint64_t old_size = 3 * BS + 1000, new_size = old_size + 2 * BS;
	struct nvfs *fs = mount_pool(base, 8 * MiB, NULL);
	/* The free blocks the write may take hold old bytes. */
	uint64_t junk = mkfile(fs, ROOT, "junk");
	write_pattern(fs, junk, 0, 6 * MiB, 9);
	REQUIRE_EQ(0, nvfs_unlink(fs, ROOT, "junk"));
	nvfs_wait_reclaim(fs);
	uint64_t f = mkfile(fs, ROOT, "f");
	write_pattern(fs, f, 0, 100, 1);
	struct stat a = { .st_size = (off_t)old_size }, st;
	REQUIRE_EQ(0, nvfs_setattr(fs, f, &a, NVFS_SET_SIZE, &st));
	umount_fs(fs);
	copy_file(base, work);
	fs = mount_pool(work, 0, NULL);
	uint64_t first = fs->pool->drains + 1;
	write_pattern(fs, f, old_size, 2 * BS, 7);
	uint64_t last = fs->pool->drains;
	umount_fs(fs);
	REQUIRE_GE(last, first);
	unsigned bad = 0, new_seen = 0;
	for (uint64_t at = first; at <= last; at++) {
		for (unsigned seed = 1; seed <= 16; seed++) {
			copy_file(base, work);
			crash_in_child(work, at, seed, eof_hole_write, f);
			fs = mount_pool(work, 0, NULL);
			REQUIRE_EQ(0, nvfs_getattr(fs, f, &st));
			static const uint8_t zeros[1000];
			uint8_t below[1000];
			bool hole_zero = nvfs_read(fs, f, below, 1000, 3 * BS) ==
					 1000 && !memcmp(below, zeros, 1000);
			bool ok = hole_zero &&
				  ((uint64_t)st.st_size == old_size ||
				   ((uint64_t)st.st_size == new_size &&
				    read_matches(fs, f, old_size, 2 * BS, 7)));
			new_seen += (uint64_t)st.st_size == new_size;
			if (!ok)
				fprintf(stderr, "    crash at drain %llu, seed "
					"%u: size %lld%s\n",
					(unsigned long long)at, seed,
					(long long)st.st_size, hole_zero ? "" :
					", old bytes below the old size");
			bad += !ok;
			CHECK(read_matches(fs, f, 0, 100, 1));
			umount_fs(fs);
			CHECK_EQ(0, run_check(work, false, NULL, NULL));
		}
	}
	CHECK_EQ(0, bad);
	/* The last drain's tears keep the new size in some runs. */
	CHECK_GT(new_seen, 0);
}
#endif /* NVMPFS_CRASH_SIM */

/* Messages about damage the test made on purpose. */
static void quiet_log(const char *msg)
{
	(void)msg;
}

/* Blocks of an inode's xattr tree (for the damage test). */
struct block_list {
	uint64_t blk[512];
	unsigned n;
};

static bool note_block(void *arg, uint64_t blk)
{
	struct block_list *l = arg;
	if (l->n < sizeof(l->blk) / sizeof(l->blk[0]))
		l->blk[l->n++] = blk;
	return true;
}

/* Uses a damaged tree: must not crash; what fails, fails cleanly. */
static void exercise_damaged(struct nvfs *fs, uint64_t f)
{
	static char list[1 << 16];
	static uint8_t buf[NVFS_XATTR_SIZE_MAX];
	ssize_t n = nvfs_listxattr(fs, f, list, sizeof(list));
	for (ssize_t i = 0; i > -1 && i < n; i += (ssize_t)strlen(list + i) + 1)
		nvfs_getxattr(fs, f, list + i, buf, sizeof(buf));
	char name[32];
	for (unsigned i = 0; i < 30; i++) {
		snprintf(name, sizeof(name), "user.s%05u", i * 7);
		set_xpattern(fs, f, name, i * 300 % 5000, i, 0);
		snprintf(name, sizeof(name), "user.new%02u", i);
		set_xpattern(fs, f, name, i * 41 % 700, i, 0);
		snprintf(name, sizeof(name), "user.s%05u", i * 5 + 1);
		nvfs_removexattr(fs, self(), f, name);
	}
	nvfs_unlink(fs, ROOT, "f");
	nvfs_forget(fs, f, 1);
}

UNIT_TEST(xattr_store_damage_survived)
{
	const char *base = tmp_pool("xdmgbase"), *work = tmp_pool("xdmgwork");
	struct nvfs *fs = mount_pool(base, 8 * MiB, NULL);
	uint64_t g = mkfile(fs, ROOT, "g");
	write_pattern(fs, g, 0, 3 * BS, 6);
	uint64_t f = file_with_xattrs(fs, "f", 300, 2);
	REQUIRE_EQ(0, set_xpattern(fs, f, "user.mid", 3000, 3, 0));
	struct block_list blocks = { .n = 0 };
	xattr_walk_blocks(fs, inode_get(fs, f), note_block, &blocks);
	REQUIRE_GT(blocks.n, 35);
	umount_fs(fs);
	unsigned bad = 0;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	for (unsigned round = 0; round < 150; round++) {
		copy_file(base, work);
		/* A few bytes of the tree: headers and records mostly. */
		for (unsigned k = 0; k <= round % 4; k++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t blk = blocks.blk[(rng >> 33) % blocks.n];
			uint64_t off = (rng >> 20) % (round % 3 ? 256 : BS);
			uint8_t byte = (uint8_t)(rng >> 56);
			pool_file_write(work, blk * BS + off, &byte, 1);
		}
		fs = mount_pool(work, 0, NULL);
		fs->log = quiet_log;
		exercise_damaged(fs, f);
		umount_fs(fs);
		char *text;
		run_check(work, true, &text, NULL);
		int64_t left = run_check(work, false, NULL, NULL);
		fs = mount_pool(work, 0, NULL);
		umount_fs(fs);
		int64_t after_mount = run_check(work, false, NULL, NULL);
		if (left || after_mount)
			fprintf(stderr, "    round %u: %lld problems after the "
				"repair, %lld after a mount\n", round,
				(long long)left, (long long)after_mount);
		bad += left != 0 || after_mount != 0;
	}
	CHECK_EQ(0, bad);
}

/* ------------------------------------------------------------------ */
/* Set-ID bits (fs/core/setid.c)                                           */

/* A made-up caller for the set-ID rules: its groups and CAP_FSETID. */
struct fake_caller {
	gid_t groups[4];
	int ngroups;
	bool fsetid;
};

static bool fake_in_group(const struct nvfs_ctx *c, gid_t gid)
{
	const struct fake_caller *fc = c->caller;
	for (int i = 0; i < fc->ngroups; i++)
		if (fc->groups[i] == gid)
			return true;
	return false;
}

static bool fake_has_fsetid(const struct nvfs_ctx *c)
{
	return ((const struct fake_caller *)c->caller)->fsetid;
}

/* uid and gid 1000, in group 4321 when member, CAP_FSETID when fsetid. */
static struct nvfs_ctx fake_ctx(bool member, bool fsetid)
{
	static struct fake_caller callers[2][2];
	struct fake_caller *fc = &callers[member][fsetid];
	*fc = (struct fake_caller){ .groups = { 4321 }, .ngroups = member,
				    .fsetid = fsetid };
	return (struct nvfs_ctx){ .uid = 1000, .gid = 1000, .umask = 022,
				  .in_group = fake_in_group,
				  .has_fsetid = fake_has_fsetid, .caller = fc };
}

/* Mode of a fresh file of mode `mode`, group 4321, after a kill_priv. */
static uint32_t mode_after(struct nvfs *fs, uint64_t f, uint32_t mode,
			   const struct nvfs_ctx *c, enum nvfs_change why)
{
	struct stat a = { .st_mode = mode, .st_gid = 4321 }, st;
	REQUIRE_EQ(0, nvfs_setattr(fs, f, &a, NVFS_SET_MODE | NVFS_SET_GID, &st));
	uint32_t dropped = 0;
	REQUIRE_EQ(0, nvfs_kill_priv(fs, f, c, why, &dropped));
	uint32_t now = getattr_(fs, f).st_mode & 07777;
	CHECK_EQ(mode & ~dropped, now);
	return now;
}

UNIT_TEST(setid_rules)
{
	struct nvfs *fs = mount_pool(tmp_pool("setid"), 16 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	struct nvfs_ctx outsider = fake_ctx(false, false);
	/* Data: set-user-ID always, set-group-ID for an outsider. */
	CHECK_EQ(0666, mode_after(fs, f, 06666, &outsider, NVFS_CHANGE_DATA));
	CHECK_EQ(0676, mode_after(fs, f, 02676, &outsider, NVFS_CHANGE_DATA));
	struct nvfs_ctx member = fake_ctx(true, false);
	CHECK_EQ(02666, mode_after(fs, f, 06666, &member, NVFS_CHANGE_DATA));
	CHECK_EQ(0676, mode_after(fs, f, 02676, &member, NVFS_CHANGE_DATA));
	/* CAP_FSETID keeps both, even for an outsider. */
	struct nvfs_ctx capable = fake_ctx(false, true);
	CHECK_EQ(06676, mode_after(fs, f, 06676, &capable, NVFS_CHANGE_DATA));
	/* Owner: set-user-ID whoever asks; set-group-ID by the same rule. */
	CHECK_EQ(02745, mode_after(fs, f, 06745, &capable, NVFS_CHANGE_OWNER));
	CHECK_EQ(0755, mode_after(fs, f, 06755, &capable, NVFS_CHANGE_OWNER));
	CHECK_EQ(0644, mode_after(fs, f, 02644, &outsider, NVFS_CHANGE_OWNER));
	CHECK_EQ(02644, mode_after(fs, f, 02644, &member, NVFS_CHANGE_OWNER));
	/* The primary group counts as membership. */
	struct nvfs_ctx primary = fake_ctx(false, false);
	primary.gid = 4321;
	CHECK_EQ(02666, mode_after(fs, f, 02666, &primary, NVFS_CHANGE_DATA));
	/* No callbacks: only uid 0 holds CAP_FSETID. */
	struct nvfs_ctx plain = { .uid = 1000, .gid = 1000 };
	CHECK_EQ(0666, mode_after(fs, f, 02666, &plain, NVFS_CHANGE_DATA));
	struct nvfs_ctx root = { .uid = 0, .gid = 0 };
	CHECK_EQ(02666, mode_after(fs, f, 02666, &root, NVFS_CHANGE_DATA));
	/* Directories keep theirs on a chown. */
	uint64_t d = mkdir_(fs, ROOT, "d");
	CHECK_EQ(02775, mode_after(fs, d, 02775, &outsider, NVFS_CHANGE_OWNER));

	/* An access ACL set or removed by an outsider costs set-group-ID. */
	nvfs_enable_acls(fs);
	static const uint8_t acl[] = {
		2, 0, 0, 0,
		0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff,  /* user:: rw- */
		0x02, 0, 4, 0, 0xd0, 0x07, 0, 0,        /* user:2000 r-- */
		0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,  /* group:: r-- */
		0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,  /* mask r-- */
		0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,  /* other r-- */
	};
	struct stat a = { .st_mode = 02664, .st_gid = 4321 }, st;
	REQUIRE_EQ(0, nvfs_setattr(fs, f, &a, NVFS_SET_MODE | NVFS_SET_GID, &st));
	CHECK_EQ(0, nvfs_setxattr(fs, &member, f, "system.posix_acl_access",
				  acl, sizeof(acl), 0));
	CHECK_EQ(02644, getattr_(fs, f).st_mode & 07777);
	CHECK_EQ(0, nvfs_setxattr(fs, &outsider, f, "system.posix_acl_access",
				  acl, sizeof(acl), 0));
	CHECK_EQ(0644, getattr_(fs, f).st_mode & 07777);
	REQUIRE_EQ(0, nvfs_setattr(fs, f, &a, NVFS_SET_MODE, &st));
	CHECK_EQ(0, nvfs_removexattr(fs, &outsider, f, "system.posix_acl_access"));
	CHECK_EQ(0664, getattr_(fs, f).st_mode & 07777);

	/* security.capability goes with a change of data, even by root. */
	uint64_t g = mkfile(fs, ROOT, "g");
	REQUIRE_EQ(0, nvfs_setxattr(fs, &root, g, "security.capability",
				    "\1\0\0\2", 4, 0));
	REQUIRE_EQ(0, nvfs_setxattr(fs, &root, g, "user.keep", "k", 1, 0));
	CHECK_EQ(0, nvfs_kill_priv(fs, g, &root, NVFS_CHANGE_DATA, NULL));
	char buf[16];
	CHECK_EQ(-ENODATA, nvfs_getxattr(fs, g, "security.capability", buf,
					 sizeof(buf)));
	CHECK_EQ(1, nvfs_getxattr(fs, g, "user.keep", buf, sizeof(buf)));
	umount_fs(fs);
	CHECK_EQ(0, run_check(pool_paths[0], false, NULL, NULL));
}

/* ------------------------------------------------------------------ */
/* Space                                                               */

UNIT_TEST(enospc_small_pool)
{
	struct nvfs *fs = mount_pool(tmp_pool("enospc"), 8 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "fill");
	uint64_t start = free_blocks(fs);
	CHECK_GT(start, 64);
	static uint8_t chunk[64 * 1024];
	memset(chunk, 0xC3, sizeof(chunk));
	uint64_t off = 0;
	ssize_t n = 0;
	for (int i = 0; i < 10000; i++) {
		n = nvfs_write(fs, f, chunk, sizeof(chunk), off);
		if (n <= 0)
			break;
		off += (uint64_t)n;
	}
	CHECK_EQ(-ENOSPC, n);
	CHECK_LE(free_blocks(fs), 2); /* as good as full */
	CHECK_GE(off, (start - 8) * BS);
	CHECK_EQ(off, getattr_(fs, f).st_size);
	/* Other allocations fail cleanly too. */
	uint64_t g = mkfile(fs, ROOT, "g"); /* no block needed? then fine */
	ssize_t gn = nvfs_write(fs, g, chunk, sizeof(chunk), 0);
	CHECK(gn == -ENOSPC || (gn > 0 && gn < (ssize_t)sizeof(chunk)));
	/* What was written reads back. */
	uint8_t buf[4096];
	CHECK_EQ(sizeof(buf), nvfs_read(fs, f, buf, sizeof(buf), off - 4096));
	CHECK_MEM(chunk, buf, sizeof(buf));
	CHECK_EQ(0, nvfs_unlink(fs, ROOT, "g"));
	nvfs_forget(fs, g, 1);
	/* Delete: the free count is back to where it started. */
	CHECK_EQ(0, nvfs_unlink(fs, ROOT, "fill"));
	nvfs_forget(fs, f, 1);
	CHECK_UEQ(start, free_blocks(fs));
	/* And the space can be used again. */
	uint64_t h = mkfile(fs, ROOT, "again");
	write_pattern(fs, h, 0, 1 * MiB, 7);
	CHECK(read_matches(fs, h, 0, 1 * MiB, 7));
	umount_fs(fs);
	CHECK_EQ(0, run_check(pool_paths[0], false, NULL, NULL));
}

/* ------------------------------------------------------------------ */
/* Persistence and crashes                                             */

/* A big dead file is freed in the background; a call out of space waits. */
UNIT_TEST(enospc_waits_for_reclaim)
{
	struct nvfs *fs = mount_pool(tmp_pool("reclaimwait"), 64 * MiB, NULL);
	nvfs_start(fs);
	CHECK(!nvfs_wait_reclaim(fs));           /* nothing queued */
	uint64_t start = free_blocks(fs);
	uint64_t big = mkfile(fs, ROOT, "big");
	uint64_t size = (start - 512) * BS;      /* > 4096 blocks: background */
	write_pattern(fs, big, 0, size, 1);
	CHECK_EQ(0, nvfs_unlink(fs, ROOT, "big"));
	nvfs_forget(fs, big, 1);                 /* queued to the thread */
	uint64_t again = mkfile(fs, ROOT, "again");
	REQUIRE_EQ(0, nvfs_open(fs, again, O_RDWR));
	/* Whether the thread is done yet or not, after the wait it is. */
	nvfs_wait_reclaim(fs);
	CHECK_GE(free_blocks(fs), start - 64);
	write_pattern(fs, again, 0, size, 2);
	CHECK(read_matches(fs, again, 0, size, 2));
	nvfs_release(fs, again);
	umount_fs(fs);
}

UNIT_TEST(persistence_remount)
{
	const char *path = tmp_pool("persist");
	struct nvfs *fs = mount_pool(path, 32 * MiB, NULL);
	struct nvfs_ctx c = ctx();
	struct stat st;
	uint64_t d = mkdir_(fs, ROOT, "dir");
	uint64_t f = mkfile(fs, d, "data");
	write_pattern(fs, f, 0, 300000, 8);
	write_pattern(fs, f, 5 * MiB, 10, 8);
	REQUIRE_EQ(0, nvfs_symlink(fs, &c, ROOT, "sym", "dir/data", &st));
	uint64_t s = st.st_ino;
	REQUIRE_EQ(0, nvfs_setxattr(fs, self(), f, "user.k", "v1", 2, 0));
	REQUIRE_EQ(0, nvfs_link(fs, f, ROOT, "hard", &st));
	struct stat a = { .st_mode = 0600 };
	REQUIRE_EQ(0, nvfs_setattr(fs, f, &a, NVFS_SET_MODE, &st));
	struct stat before = getattr_(fs, f);
	uint64_t free_before = free_blocks(fs);
	uint64_t gen = nvfs_generation(fs, f);
	umount_fs(fs);

	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK(!rep.created);
	CHECK(rep.was_clean);
	CHECK_EQ(0, rep.undone_records);
	CHECK_UEQ(0, rep.orphans_freed);
	CHECK_EQ((long long)d, lookup_ino(fs, ROOT, "dir"));
	CHECK_EQ((long long)f, lookup_ino(fs, d, "data"));
	CHECK_EQ((long long)f, lookup_ino(fs, ROOT, "hard"));
	struct stat after = getattr_(fs, f);
	CHECK_EQ(before.st_size, after.st_size);
	CHECK_EQ(before.st_mode, after.st_mode);
	CHECK_EQ(S_IFREG | 0600, after.st_mode);
	CHECK_EQ(2, after.st_nlink);
	CHECK_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	CHECK_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	CHECK_UEQ(gen, nvfs_generation(fs, f));
	CHECK(read_matches(fs, f, 0, 300000, 8));
	CHECK(read_zeros(fs, f, 300000, 5 * MiB - 300000));
	CHECK(read_matches(fs, f, 5 * MiB, 10, 8));
	char buf[64];
	CHECK_EQ(8, nvfs_readlink(fs, s, buf, sizeof(buf)));
	CHECK_STR("dir/data", buf);
	CHECK_EQ(2, nvfs_getxattr(fs, f, "user.k", buf, sizeof(buf)));
	CHECK_MEM("v1", buf, 2);
	CHECK_UEQ(free_before, free_blocks(fs));
	umount_fs(fs);
}

UNIT_TEST(crash_recovery)
{
	const char *path = tmp_pool("crash");
	struct nvfs *fs = mount_pool(path, 32 * MiB, NULL);
	uint64_t keep = mkfile(fs, ROOT, "keep");
	write_pattern(fs, keep, 0, 200000, 9);
	uint64_t base = free_blocks(fs);
	uint64_t orphan = mkfile(fs, ROOT, "orphan");
	REQUIRE_EQ(0, nvfs_open(fs, orphan, O_RDWR));
	write_pattern(fs, orphan, 0, 50 * BS, 10);
	REQUIRE_EQ(0, nvfs_unlink(fs, ROOT, "orphan"));
	CHECK_EQ(0, getattr_(fs, orphan).st_nlink);
	CHECK_UGE(base - 50, free_blocks(fs));
	/* The process dies: no release, no forget, no clean unmount. */
	abandon_fs(fs);

	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK(!rep.was_clean);
	CHECK(!rep.created);
	CHECK_UGE(rep.orphans_freed, 1);
	CHECK_EQ(-ENOENT, nvfs_getattr(fs, orphan, &(struct stat){ 0 }));
	CHECK_EQ(-ENOENT, lookup_ino(fs, ROOT, "orphan"));
	CHECK_EQ((long long)keep, lookup_ino(fs, ROOT, "keep"));
	CHECK_EQ(200000, getattr_(fs, keep).st_size);
	CHECK(read_matches(fs, keep, 0, 200000, 9));
	CHECK_UEQ(base, free_blocks(fs));
	umount_fs(fs);
	/* And a tidy unmount after it is clean again. */
	fs = mount_pool(path, 0, &rep);
	CHECK(rep.was_clean);
	CHECK_UEQ(0, rep.orphans_freed);
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/* ------------------------------------------------------------------ */
/* Journal (internal API)                                              */

/* A free inode slot: bytes nothing reads, safe to scribble on. */
static struct nvmpfs_inode *spare_inode(struct nvfs *fs, uint64_t *ino_out)
{
	for (uint64_t ino = fs->sb.inode_count - 1; ino > ROOT; ino--) {
		struct nvmpfs_inode *inode = inode_get(fs, ino);
		if (!inode->mode) {
			*ino_out = ino;
			return inode;
		}
	}
	FAIL("no free inode");
	return NULL;
}

UNIT_TEST(journal_abort_restores)
{
	struct nvfs *fs = mount_pool(tmp_pool("txabort"), 32 * MiB, NULL);
	uint64_t ino;
	struct nvmpfs_inode *spare = spare_inode(fs, &ino);
	struct nvmpfs_inode *root = inode_get(fs, ROOT);
	struct nvmpfs_inode spare_old = *spare, root_old = *root;
	uint64_t *bitmap = alloc_bitmap(fs);
	uint64_t word_idx = (fs->sb.block_count - 1) / 64;
	uint64_t word_old = bitmap[word_idx];

	/* Every range logged first, one drain, then the changes. */
	struct tx tx;
	tx_begin(fs, &tx);
	CHECK_EQ(0, tx_log(&tx, spare->reserved, sizeof(spare->reserved)));
	CHECK_EQ(0, tx_log(&tx, root, sizeof(*root)));
	/* A range inside one logged already: no second record needed. */
	size_t records = tx.lane->nrecords;
	CHECK_EQ(0, tx_log(&tx, &root->nlink, sizeof(root->nlink)));
	CHECK_UEQ(records, tx.lane->nrecords);
	CHECK_EQ(0, tx_log(&tx, &bitmap[word_idx], 8));
	uint64_t drains = fs->pool->drains;
	CHECK_EQ(0, tx_ready(&tx));
	CHECK_UEQ(drains + 1, fs->pool->drains);
	memset(spare->reserved, 0xAB, sizeof(spare->reserved));
	root->size += 12345;
	root->uid ^= 0x5555;
	root->nlink = 77;
	bitmap[word_idx] = ~word_old;
	CHECK_GT(tx.lane->nrecords, 0);
	CHECK_LT(tx_room(&tx), (fs->sb.journal_blocks) * BS);
	/* Not yet undone: the changes are in place. */
	CHECK_EQ(77, root->nlink);
	unsigned lane = tx.lane->idx;
	tx_abort(&tx);
	CHECK_MEM(&spare_old, spare, sizeof(*spare));
	CHECK_MEM(&root_old, root, sizeof(*root));
	CHECK_UEQ(word_old, bitmap[word_idx]);
	const struct nvmpfs_journal_head *head =
		pool_block(fs->pool, fs->sb.journal_start +
			   lane * (fs->sb.journal_blocks / fs->sb.journal_lanes));
	CHECK_UEQ(0, head->active_seq);

	/* A committed transaction stays: three drains in all. */
	tx_begin(fs, &tx);
	CHECK_EQ(0, tx_log(&tx, spare->reserved, 8));
	CHECK_EQ(0, tx_ready(&tx));
	spare->reserved[0] = 42;
	drains = fs->pool->drains;
	CHECK_EQ(0, tx_commit(&tx));
	CHECK_UEQ(drains + 2, fs->pool->drains);
	CHECK_UEQ(42, spare->reserved[0]);
	CHECK_UEQ(0, head->active_seq);
	/* Undo it by hand for the fsck at the end. */
	tx_begin(fs, &tx);
	CHECK_EQ(0, tx_log(&tx, spare->reserved, 8));
	CHECK_EQ(0, tx_ready(&tx));
	spare->reserved[0] = spare_old.reserved[0];
	CHECK_EQ(0, tx_commit(&tx));

	/* A lane that fills refuses with ENOSPC; abort still works. */
	tx_begin(fs, &tx);
	int rc = 0;
	uint64_t logged = 0;
	for (uint64_t i = 0; rc == 0 && i < fs->sb.journal_blocks * 2; i++) {
		/* distinct ranges: inode table blocks, one block each */
		uint8_t *p = pool_block(fs->pool, fs->sb.inode_start +
					(i % (fs->sb.bitmap_start -
					      fs->sb.inode_start)));
		p += (i / (fs->sb.bitmap_start - fs->sb.inode_start)) * 8;
		rc = tx_log(&tx, p, BS / 2);
		logged += rc == 0;
	}
	CHECK_EQ(-ENOSPC, rc);
	CHECK_GT(logged, 1);
	tx_abort(&tx);
	CHECK_MEM(&root_old, root, sizeof(*root));
	umount_fs(fs);
	CHECK_EQ(0, run_check(pool_paths[0], false, NULL, NULL));
}

UNIT_TEST(journal_interrupted_rolled_back)
{
	const char *path = tmp_pool("txcrash");
	struct nvfs *fs = mount_pool(path, 32 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	put_text(fs, f, "before");
	uint64_t ino;
	struct nvmpfs_inode *spare = spare_inode(fs, &ino);
	struct nvmpfs_inode *fi = inode_get(fs, f);
	struct nvmpfs_inode spare_old = *spare, f_old = *fi;
	struct tx tx;
	tx_begin(fs, &tx);
	REQUIRE_EQ(0, tx_log(&tx, spare->reserved, sizeof(spare->reserved)));
	REQUIRE_EQ(0, tx_log(&tx, fi, sizeof(*fi)));
	REQUIRE_EQ(0, tx_ready(&tx));
	memset(spare->reserved, 0xCD, sizeof(spare->reserved));
	fi->size = 3;               /* as if a truncate were under way */
	fi->mode = S_IFREG | 0777;
	pool_flush_ptr(fs->pool, spare, sizeof(*spare));
	pool_flush_ptr(fs->pool, fi, sizeof(*fi));
	pool_drain(fs->pool);       /* the changes reached the media */
	unsigned lane = tx.lane->idx;
	REQUIRE_EQ(0u, lane);
	abandon_fs(fs);             /* killed before the commit */

	/* What the media holds now: the changes, and an open transaction. */
	struct nvmpfs_super sb;
	pool_file_super(path, &sb);
	struct nvmpfs_journal_head head;
	pool_file_read(path, sb.journal_start * BS, &head, sizeof(head));
	CHECK_NE(0, head.active_seq);
	struct nvmpfs_inode on_media;
	pool_file_read(path, sb.inode_start * BS + f * NVMPFS_INODE_SIZE,
		       &on_media, sizeof(on_media));
	CHECK_EQ(3, on_media.size);

	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK(!rep.was_clean);
	CHECK_GE(rep.undone_records, 2);
	struct stat st = getattr_(fs, f);
	CHECK_EQ(6, st.st_size);
	CHECK_EQ(S_IFREG | 0644, st.st_mode);
	/* Byte for byte as before the transaction (before a read moves
	 * atime). */
	CHECK_MEM(&spare_old, inode_get(fs, ino), sizeof(spare_old));
	CHECK_MEM(&f_old, inode_get(fs, f), sizeof(f_old));
	CHECK(has_text(fs, f, "before"));
	const struct nvmpfs_journal_head *h =
		pool_block(fs->pool, fs->sb.journal_start);
	CHECK_UEQ(0, h->active_seq);
	umount_fs(fs);
	/* Recovery ran once: the next mount has nothing to undo. */
	fs = mount_pool(path, 0, &rep);
	CHECK(rep.was_clean);
	CHECK_EQ(0, rep.undone_records);
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/* ------------------------------------------------------------------ */
/* fsck                                                                */

static void populate_for_check(struct nvfs *fs)
{
	struct nvfs_ctx c = ctx();
	struct stat st;
	uint64_t d = mkdir_(fs, ROOT, "d");
	uint64_t e = mkdir_(fs, d, "e");
	uint64_t f = mkfile(fs, d, "f");
	write_pattern(fs, f, 0, 100000, 11);
	uint64_t g = mkfile(fs, e, "g");
	write_pattern(fs, g, 3 * MiB, 5000, 11);
	REQUIRE_EQ(0, nvfs_symlink(fs, &c, e, "s", "../f", &st));
	REQUIRE_EQ(0, nvfs_link(fs, f, ROOT, "f2", &st));
	REQUIRE_EQ(0, nvfs_setxattr(fs, self(), g, "user.x", "y", 1, 0));
	REQUIRE_EQ(0, nvfs_mknod(fs, &c, ROOT, "fifo", S_IFIFO | 0600, 0, &st));
}

UNIT_TEST(fsck_bitmap_corruption)
{
	const char *path = tmp_pool("fsck");
	struct nvfs *fs = mount_pool(path, 32 * MiB, NULL);
	populate_for_check(fs);
	umount_fs(fs);

	char *text;
	struct check_result res;
	CHECK_EQ(0, run_check(path, false, &text, &res));
	CHECK_GT(res.inodes_used, 5);
	CHECK_GT(res.blocks_used, 25);
	CHECK_EQ(0, run_check(path, true, &text, &res));
	CHECK_UEQ(0, res.fixed);

	/* A bitmap word with blocks marked in use that nothing holds, and
	 * one used block marked free. */
	struct nvmpfs_super sb;
	pool_file_super(path, &sb);
	uint64_t word = (sb.block_count - 200) / 64;
	uint64_t off = sb.bitmap_start * BS + word * 8;
	uint64_t v;
	pool_file_read(path, off, &v, 8);
	CHECK_UEQ(0, v);
	v = 0xF0F0F0F0F0F0F0F0ull;
	pool_file_write(path, off, &v, 8);
	uint64_t used_word = sb.data_start / 64;
	uint64_t uoff = sb.bitmap_start * BS + used_word * 8;
	uint64_t u;
	pool_file_read(path, uoff, &u, 8);
	CHECK_NE(0, u);
	uint64_t uclear = u & (u - 1); /* its lowest set bit cleared */
	/* The lowest set bit of that word may be metadata, which is fine:
	 * a used block marked free is a problem either way. */
	pool_file_write(path, uoff, &uclear, 8);

	int64_t found = run_check(path, false, &text, &res);
	CHECK_GE(found, 2);
	CHECK_CONTAINS(text, "bitmap");
	CHECK_UEQ(0, res.fixed);
	/* -n changed nothing. */
	uint64_t again;
	pool_file_read(path, off, &again, 8);
	CHECK_UEQ(v, again);
	CHECK_GE(run_check(path, false, NULL, NULL), 2);

	/* Repair, then a check finds nothing. */
	found = run_check(path, true, &text, &res);
	CHECK_GE(found, 2);
	CHECK_UEQ(res.found, res.fixed);
	CHECK_CONTAINS(text, "fixed");
	pool_file_read(path, off, &again, 8);
	CHECK_UEQ(0, again);
	pool_file_read(path, uoff, &again, 8);
	CHECK_UEQ(u, again);
	CHECK_EQ(0, run_check(path, false, &text, &res));

	/* The repaired pool mounts clean and its data is whole. */
	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK(rep.was_clean);
	int64_t d = lookup_ino(fs, ROOT, "d");
	REQUIRE_GT(d, 0);
	int64_t f = lookup_ino(fs, (uint64_t)d, "f");
	REQUIRE_GT(f, 0);
	CHECK(read_matches(fs, (uint64_t)f, 0, 100000, 11));
	umount_fs(fs);
}

UNIT_TEST(fsck_holds_lock)
{
	const char *path = tmp_pool("fscklock");
	struct nvfs *fs = mount_pool(path, 8 * MiB, NULL);
	FILE *out = tmpfile();
	struct check_opts o = { .repair = false };
	struct check_result res;
	char err[512] = "";
	/* A mounted pool cannot be checked: refused, not misread. */
	CHECK_EQ(-1, check_pool(path, &o, out, &res, err, sizeof(err)));
	CHECK_CONTAINS(err, "in use");
	o.repair = true;
	CHECK_EQ(-1, check_pool(path, &o, out, &res, err, sizeof(err)));
	fclose(out);
	umount_fs(fs);
}

/* ------------------------------------------------------------------ */
/* mkfs and superblock                                                 */

UNIT_TEST(format_refuses_small_pool)
{
	const char *path = tmp_pool("small");
	struct pool_open_opts po = { .create = true,
				     .create_size = NVMPFS_MIN_POOL_SIZE - BS };
	char err[512] = "";
	struct pool *pool = pool_open(path, &po, err, sizeof(err));
	if (!pool)
		FAIL("pool_open: %s", err);
	struct mkfs_params params = { 0 };
	CHECK_EQ(-1, format_pool(pool, &params, NULL, NULL, err, sizeof(err)));
	CHECK_CONTAINS(err, "too small");
	CHECK_CONTAINS(err, "8 MiB");
	CHECK_CONTAINS(err, path);
	/* Nothing that looks like a pool was left. */
	struct nvmpfs_super sb;
	CHECK_EQ(-1, super_load(pool, &sb, err, sizeof(err)));
	pool_close(pool);

	/* Exactly the minimum works. */
	const char *ok = tmp_pool("min");
	po.create_size = NVMPFS_MIN_POOL_SIZE;
	pool = pool_open(ok, &po, err, sizeof(err));
	if (!pool)
		FAIL("pool_open: %s", err);
	CHECK_EQ(0, format_pool(pool, &params, NULL, NULL, err, sizeof(err)));
	CHECK_EQ(0, super_load(pool, &sb, err, sizeof(err)));
	CHECK_UEQ(NVMPFS_MIN_POOL_SIZE / BS, sb.block_count);
	CHECK_EQ(3, super_valid_copies(pool));
	pool_close(pool);
	CHECK_EQ(0, run_check(ok, false, NULL, NULL));

	/* Through nvfs_mount: refused, and no file is left behind. */
	const char *tiny = tmp_pool("tiny");
	struct nvfs *fs;
	struct nvfs_mount_report rep;
	CHECK_NE(0, try_mount(tiny, 4 * MiB, &fs, &rep, err, sizeof(err)));
	CHECK_CONTAINS(err, "too small");
	CHECK(access(tiny, F_OK) != 0);
}

UNIT_TEST(super_load_refuses_foreign)
{
	/* A file of random bytes. */
	const char *path = tmp_pool("random");
	int fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	REQUIRE(fd >= 0);
	uint8_t *junk = malloc(8 * MiB);
	srandom(1234);
	for (size_t i = 0; i < 8 * MiB; i++)
		junk[i] = (uint8_t)random();
	REQUIRE_EQ(8 * MiB, write(fd, junk, 8 * MiB));
	close(fd);
	free(junk);
	char err[512] = "";
	struct pool_open_opts po = { 0 };
	struct pool *pool = pool_open(path, &po, err, sizeof(err));
	if (!pool)
		FAIL("pool_open: %s", err);
	struct nvmpfs_super sb;
	CHECK_EQ(-1, super_load(pool, &sb, err, sizeof(err)));
	CHECK_CONTAINS(err, "not an nvmpfs pool");
	CHECK_CONTAINS(err, path);
	pool_close(pool);
	/* nvfs_mount and fsck say the same. */
	struct nvfs *fs;
	struct nvfs_mount_report rep;
	CHECK_NE(0, try_mount(path, 0, &fs, &rep, err, sizeof(err)));
	CHECK_CONTAINS(err, "not an nvmpfs pool");
	CHECK_EQ(-1, run_check(path, false, NULL, NULL));

	/* A valid pool whose version field says 2 (both copies). */
	const char *vpath = tmp_pool("version");
	fs = mount_pool(vpath, 8 * MiB, NULL);
	umount_fs(fs);
	for (int copy = 0; copy < 2; copy++) {
		uint32_t v = NVMPFS_LAYOUT_VERSION + 1;
		pool_file_write(vpath, (uint64_t)copy * BS +
				offsetof(struct nvmpfs_super, version), &v,
				sizeof(v));
	}
	pool = pool_open(vpath, &po, err, sizeof(err));
	if (!pool)
		FAIL("pool_open: %s", err);
	CHECK_EQ(-1, super_load(pool, &sb, err, sizeof(err)));
	CHECK_CONTAINS(err, "version");
	CHECK_CONTAINS(err, "2");
	pool_close(pool);
	CHECK_NE(0, try_mount(vpath, 0, &fs, &rep, err, sizeof(err)));
	CHECK_CONTAINS(err, "version");

	/* One damaged copy: the other one is used. */
	const char *hpath = tmp_pool("halfsb");
	fs = mount_pool(hpath, 8 * MiB, NULL);
	umount_fs(fs);
	uint64_t bad = 0xdeadbeef;
	pool_file_write(hpath, offsetof(struct nvmpfs_super, block_count), &bad,
			sizeof(bad));
	pool = pool_open(hpath, &po, err, sizeof(err));
	if (!pool)
		FAIL("pool_open: %s", err);
	CHECK_EQ(2, super_valid_copies(pool));
	CHECK_EQ(0, super_load(pool, &sb, err, sizeof(err)));
	CHECK_UEQ(8 * MiB / BS, sb.block_count);
	pool_close(pool);
	/* fsck reports it and the repair rewrites copy A. */
	CHECK_GE(run_check(hpath, false, NULL, NULL), 1);
	CHECK_GE(run_check(hpath, true, NULL, NULL), 1);
	CHECK_EQ(0, run_check(hpath, false, NULL, NULL));
}

/* ------------------------------------------------------------------ */
/* Checksums, verify, scrub, the write-intent map, recovery (issue 9)  */

/* The pool block holding file block lblk (0 for a hole). */
static uint64_t file_pblk(struct nvfs *fs, uint64_t ino, uint64_t lblk)
{
	return bmap_lookup(fs, inode_get(fs, ino), lblk, NULL);
}

/* Changes bytes of a pool block behind the file system's back (durable):
 * as bit rot would, or a write whose data reached the media without its
 * checksum word. */
static void scribble(struct nvfs *fs, uint64_t pblk, unsigned off,
		     unsigned len, uint8_t byte)
{
	uint8_t *p = (uint8_t *)pool_block(fs->pool, pblk) + off;
	memset(p, byte, len);
	pool_flush_ptr(fs->pool, p, len);
	pool_drain(fs->pool);
}

/* Whether every block of file blocks [first, last) carries the checksum of
 * its data, and that checksum is durable (nothing left for a sync point). */
static bool blocks_summed(struct nvfs *fs, uint64_t ino, uint64_t first,
			  uint64_t last)
{
	bool ok = !pool_pending(fs->pool);
	if (!ok)
		fprintf(stderr, "    stores still pending after the write\n");
	for (uint64_t b = first; b < last; b++) {
		uint64_t pblk = file_pblk(fs, ino, b);
		uint64_t word = pblk ? *csum_word(fs, pblk) : 0;
		if (!pblk || word == 0 || word != csum_of_block(fs, pblk)) {
			fprintf(stderr, "    file block %llu (pool block %llu): "
				"checksum word %#llx, data's %#llx\n",
				(unsigned long long)b, (unsigned long long)pblk,
				(unsigned long long)word, (unsigned long long)
				(pblk ? csum_of_block(fs, pblk) : 0));
			ok = false;
		}
	}
	return ok;
}

UNIT_TEST(csum_stored_with_writes)
{
	struct nvfs *fs = mount_pool(tmp_pool("csum"), 32 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	/* Extending writes: whole blocks, then a partial last block. */
	write_pattern(fs, f, 0, 3 * BS, 1);
	CHECK(blocks_summed(fs, f, 0, 3));
	write_pattern(fs, f, 3 * BS, 5000, 1);
	CHECK_EQ(3 * BS + 5000, getattr_(fs, f).st_size);
	CHECK(blocks_summed(fs, f, 0, 5));
	/* Overwrite of a whole block: a new word, still matching. */
	uint64_t before = *csum_word(fs, file_pblk(fs, f, 1));
	write_pattern(fs, f, BS, BS, 2);
	CHECK(blocks_summed(fs, f, 1, 2));
	CHECK(before != *csum_word(fs, file_pblk(fs, f, 1)));
	/* Partial writes: inside a block, across a block boundary, into the
	 * partial last block. */
	before = *csum_word(fs, file_pblk(fs, f, 2));
	write_pattern(fs, f, 2 * BS + 1000, 100, 3);
	CHECK(blocks_summed(fs, f, 2, 3));
	CHECK(before != *csum_word(fs, file_pblk(fs, f, 2)));
	write_pattern(fs, f, 2 * BS - 100, 200, 4);
	CHECK(blocks_summed(fs, f, 1, 3));
	write_pattern(fs, f, 4 * BS + 10, 20, 5);
	CHECK(blocks_summed(fs, f, 4, 5));
	/* Each block's word is the checksum of what a read returns. */
	for (uint64_t b = 0; b < 5; b++)
		CHECK_EQ(0, csum_check_block(fs, file_pblk(fs, f, b)));
	umount_fs(fs);
}

UNIT_TEST(flush_verify_finds_bad_blocks)
{
	struct nvfs *fs = mount_pool(tmp_pool("verify"), 32 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	write_pattern(fs, f, 0, 4 * BS, 6);
	scribble(fs, file_pblk(fs, f, 2), 100, 1, 0x5A);
	struct nvfs_range failed[8];
	size_t nfailed = 99;
	struct nvfs_range all = { 0, 4 * BS };
	CHECK_EQ(0, nvfs_flush(fs, f, &all, 1, NVFS_FLUSH_VERIFY, failed, 8,
			       &nfailed, NULL));
	REQUIRE_EQ(1, nfailed);
	CHECK_UEQ(2 * BS, failed[0].off);
	CHECK_UEQ(BS, failed[0].len);
	/* Clean blocks only: nothing found. */
	struct nvfs_range clean[2] = { { 0, 2 * BS }, { 3 * BS, BS } };
	CHECK_EQ(0, nvfs_flush(fs, f, clean, 2, NVFS_FLUSH_VERIFY, failed, 8,
			       &nfailed, NULL));
	CHECK_EQ(0, nfailed);
	/* A few bytes touching the bad block report the whole block. */
	struct nvfs_range edge = { 2 * BS - 10, 11 };
	CHECK_EQ(0, nvfs_flush(fs, f, &edge, 1, NVFS_FLUSH_VERIFY, failed, 8,
			       &nfailed, NULL));
	REQUIRE_EQ(1, nfailed);
	CHECK_UEQ(2 * BS, failed[0].off);
	/* Without the verify flag nothing is read back. */
	CHECK_EQ(0, nvfs_flush(fs, f, &all, 1, 0, failed, 8, &nfailed, NULL));
	CHECK_EQ(0, nfailed);
	/* The bad block is known, and reads of it fail. */
	struct nvfs_range bad[4];
	CHECK_EQ(1, nvfs_bad_ranges(fs, f, bad, 4));
	CHECK_UEQ(2 * BS, bad[0].off);
	uint8_t buf[BS];
	CHECK_EQ(-EIO, nvfs_read(fs, f, buf, BS, 2 * BS));
	CHECK_EQ(BS, nvfs_read(fs, f, buf, BS, 3 * BS));
	umount_fs(fs);
}

struct verify_watch {
	struct nvfs *fs;
	struct icache_ent *ent;
	unsigned calls, stop_after, held;
	uint64_t verified_at_call[8];
};

/* The verify's cancel callback: is the file let go of between steps? */
static bool watch_verify(void *arg)
{
	struct verify_watch *w = arg;
	if (pthread_rwlock_trywrlock(&w->ent->lock) == 0)
		pthread_rwlock_unlock(&w->ent->lock);
	else
		w->held++;
	struct nvfs_stats st;
	nvfs_get_stats(w->fs, &st);
	if (w->calls < 8)
		w->verified_at_call[w->calls] = st.blocks_verified;
	return ++w->calls > w->stop_after;
}

UNIT_TEST(flush_verify_lets_go_and_stops)
{
	struct nvfs *fs = mount_pool(tmp_pool("vstep"), 128 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	const uint64_t nblocks = 3 * 4096 + 10;
	uint8_t *chunk = pattern(0, MiB, 7);
	for (uint64_t off = 0; off < nblocks * BS; off += MiB) {
		size_t len = nblocks * BS - off < MiB ? nblocks * BS - off : MiB;
		REQUIRE_EQ((long long)len, nvfs_write(fs, f, chunk, len, off));
	}
	free(chunk);
	struct icache_ent *ent = icache_pin(fs, f);
	REQUIRE(ent != NULL);
	struct nvfs_range all = { 0, nblocks * BS };
	struct nvfs_range failed[4];
	size_t nfailed = 0;
	struct nvfs_stats st0, st1;

	/* A whole verify: one look per 4096 blocks, the file free each time. */
	struct verify_watch w = { fs, ent, 0, 1000, 0, { 0 } };
	struct nvfs_cancel cancel = { watch_verify, &w };
	nvfs_get_stats(fs, &st0);
	CHECK_EQ(0, nvfs_flush(fs, f, &all, 1, NVFS_FLUSH_VERIFY, failed, 4,
			       &nfailed, &cancel));
	nvfs_get_stats(fs, &st1);
	CHECK_EQ(0, nfailed);
	CHECK_UEQ(nblocks, st1.blocks_verified - st0.blocks_verified);
	CHECK_EQ(4, w.calls);
	CHECK_EQ(0, w.held);
	for (unsigned i = 1; i < 4; i++)
		CHECK_UEQ(4096, w.verified_at_call[i] - w.verified_at_call[i - 1]);

	/* Cancelled at the third look: two steps done, then EINTR. */
	struct verify_watch w2 = { fs, ent, 0, 2, 0, { 0 } };
	cancel.arg = &w2;
	nvfs_get_stats(fs, &st0);
	CHECK_EQ(-EINTR, nvfs_flush(fs, f, &all, 1, NVFS_FLUSH_VERIFY, failed,
				    4, &nfailed, &cancel));
	nvfs_get_stats(fs, &st1);
	CHECK_EQ(3, w2.calls);
	CHECK_UEQ(2 * 4096, st1.blocks_verified - st0.blocks_verified);
	/* The file is free afterwards: a write goes through. */
	write_pattern(fs, f, 0, BS, 8);
	icache_unpin(fs, ent);
	umount_fs(fs);
}

UNIT_TEST(scrub_skips_holes)
{
	struct nvfs *fs = mount_pool(tmp_pool("scrub"), 32 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	const uint64_t size = 1ull << 40;
	struct stat a = { .st_size = (off_t)size }, st;
	REQUIRE_EQ(0, nvfs_setattr(fs, f, &a, NVFS_SET_SIZE, &st));
	write_pattern(fs, f, 0, BS, 9);
	write_pattern(fs, f, size / 2, BS, 9);
	write_pattern(fs, f, size - BS, BS, 9);
	scribble(fs, file_pblk(fs, f, size / 2 / BS), 7, 3, 0);
	struct nvfs_scrub_result res, sum = { 0 };
	uint64_t lblk = 0;
	unsigned calls = 0;
	double t0 = unit_now();
	do {
		REQUIRE_EQ(0, nvfs_scrub(fs, f, &lblk, 4096, &res));
		sum.blocks_checked += res.blocks_checked;
		sum.blocks_unverified += res.blocks_unverified;
		sum.mismatches += res.mismatches;
		calls++;
	} while (!res.done && calls < 1000);
	double took = unit_now() - t0;
	CHECK(res.done);
	CHECK_EQ(1, calls);
	CHECK_UEQ(size / BS, lblk);
	CHECK_UEQ(3, sum.blocks_checked);
	CHECK_UEQ(0, sum.blocks_unverified);
	CHECK_UEQ(1, sum.mismatches);
	/* Milliseconds; a walk over the holes would take minutes. */
	if (took > 0.5)
		FAIL("scrub of a 2^40-byte file with 3 blocks took %.3f s", took);
	struct nvfs_range bad[4];
	REQUIRE_EQ(1, nvfs_bad_ranges(fs, f, bad, 4));
	CHECK_UEQ(size / 2, bad[0].off);
	/* A scrub that starts past the data is done at once. */
	lblk = size / 2 / BS + 1;
	CHECK_EQ(0, nvfs_scrub(fs, f, &lblk, 4096, &res));
	CHECK_UEQ(1, res.blocks_checked);
	CHECK(res.done);
	umount_fs(fs);
}

static bool intent_bit(struct nvfs *fs, uint64_t pblk)
{
	const uint64_t *map = pool_block(fs->pool, fs->sb.intent_start);
	uint64_t e = pblk / NVMPFS_INTENT_BLOCKS;
	return (map[e / 64] >> (e % 64)) & 1;
}

UNIT_TEST(intent_map_after_crash)
{
	const char *path = tmp_pool("intent");
	struct nvfs *fs = mount_pool(path, 64 * MiB, NULL);
	/* b's blocks, then 2 MiB of another file, then a's: other extents. */
	uint64_t b = mkfile(fs, ROOT, "b");
	write_pattern(fs, b, 0, 2 * BS, 10);
	uint64_t filler = mkfile(fs, ROOT, "filler");
	write_pattern(fs, filler, 0, 2 * MiB, 11);
	uint64_t a = mkfile(fs, ROOT, "a");
	write_pattern(fs, a, 0, 2 * BS, 12);
	uint64_t pa = file_pblk(fs, a, 0), pb = file_pblk(fs, b, 0);
	REQUIRE(pa / NVMPFS_INTENT_BLOCKS != pb / NVMPFS_INTENT_BLOCKS);
	/* An overwrite of a marks its extent, durably, before its data. */
	CHECK(!intent_bit(fs, pa));
	write_pattern(fs, a, 0, BS, 13);
	CHECK(intent_bit(fs, pa));
	REQUIRE(!intent_bit(fs, pb));
	/* The crash: a's block has new data and the old checksum (a write
	 * cut short), b's block rotted where no write was going on. */
	scribble(fs, pa, 0, 100, 'T');
	scribble(fs, pb, 0, 100, 'R');
	abandon_fs(fs);

	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK(!rep.was_clean);
	CHECK_UEQ(1, rep.torn_blocks);
	CHECK_UEQ(0, *csum_word(fs, pa));
	CHECK_EQ(1, csum_check_block(fs, pa));
	CHECK_EQ(-EIO, csum_check_block(fs, pb));
	CHECK(!intent_bit(fs, pa));
	/* a reads back what the crash left; b fails. */
	uint8_t buf[BS], want[100];
	memset(want, 'T', sizeof(want));
	CHECK_EQ(BS, nvfs_read(fs, a, buf, BS, 0));
	CHECK_MEM(want, buf, sizeof(want));
	CHECK_EQ(-EIO, nvfs_read(fs, b, buf, BS, 0));
	struct nvfs_scrub_result res;
	uint64_t lblk = 0;
	CHECK_EQ(0, nvfs_scrub(fs, b, &lblk, 4096, &res));
	CHECK_UEQ(1, res.mismatches);
	lblk = 0;
	CHECK_EQ(0, nvfs_scrub(fs, a, &lblk, 4096, &res));
	CHECK_UEQ(0, res.mismatches);
	CHECK_UEQ(1, res.blocks_unverified);
	umount_fs(fs);
	/* fsck names b's block only. */
	char *text = NULL;
	CHECK_EQ(1, run_check(path, false, &text, NULL));
	CHECK_CONTAINS(text, "/b: data block at offset 0 fails its checksum");
	CHECK(!strstr(text, "/a:"));
}

UNIT_TEST(allocator_rebuilt_after_crash)
{
	const char *path = tmp_pool("alloc");
	struct nvfs *fs = mount_pool(path, 32 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	write_pattern(fs, f, 0, 20 * BS, 14);
	uint64_t free0 = free_blocks(fs);
	uint64_t blocks0 = inode_get(fs, f)->blocks;
	/* A write's first drain: blocks taken, data and checksums stored,
	 * nothing points at them yet.  The pool's bitmap even says they are
	 * in use (a bitmap is only trusted after a clean unmount). */
	uint64_t start, got;
	REQUIRE_EQ(0, alloc_run(fs, 0, 16, &start, &got));
	REQUIRE_EQ(16, got);
	for (uint64_t i = 0; i < got; i++) {
		memset(pool_block(fs->pool, start + i), 'L', BS);
		pool_flush_ptr(fs->pool, pool_block(fs->pool, start + i), BS);
		csum_store(fs, start + i, csum_of_block(fs, start + i));
	}
	alloc_store(fs);
	/* And f's block count is off. */
	inode_store64(fs, &inode_get(fs, f)->blocks, blocks0 + 7);
	REQUIRE_EQ(0, pool_drain(fs->pool));
	CHECK_UEQ(free0 - 16, free_blocks(fs));
	abandon_fs(fs);

	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK(!rep.was_clean);
	CHECK(rep.allocator_rebuilt);
	CHECK_UEQ(1, rep.blocks_recounted);
	CHECK_UEQ(blocks0, inode_get(fs, f)->blocks);
	CHECK_UEQ(free0, free_blocks(fs));
	for (uint64_t i = 0; i < got; i++) {
		CHECK(!alloc_is_used(fs, start + i));
		CHECK_UEQ(0, *csum_word(fs, start + i));
	}
	CHECK(read_matches(fs, f, 0, 20 * BS, 14));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
	/* A clean mount loads the bitmap the unmount wrote: the same count. */
	fs = mount_pool(path, 0, &rep);
	CHECK(rep.was_clean);
	CHECK(!rep.allocator_rebuilt);
	CHECK_UEQ(free0, free_blocks(fs));
	umount_fs(fs);
}

/* The visits of a map walk, in order. */
struct visits {
	uint64_t lblk[2048], pblk[2048];
	bool node[2048];
	size_t n;
};

static int record_visit(void *arg, uint64_t lblk, uint64_t pblk, bool is_node)
{
	struct visits *v = arg;
	if (v->n < 2048) {
		v->lblk[v->n] = lblk;
		v->pblk[v->n] = pblk;
		v->node[v->n] = is_node;
		v->n++;
	}
	return 0;
}

/*
 * Freeing a dead file walks its map and hands each block to the allocator
 * as it goes.  A node handed over before its entries were read could be
 * taken by another thread's write and zeroed meanwhile: the entries not
 * yet read were lost, and their blocks stayed in use with nothing holding
 * them (test 146 found 6 to 14 such blocks about once in 90 runs).  The
 * freeing walk visits each node after everything it maps; the same blocks
 * as the ordinary walk, each once.
 */
UNIT_TEST(reclaim_walk_visits_nodes_last)
{
	const char *path = tmp_pool("walk");
	struct nvfs *fs = mount_pool(path, 32 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	/* Past one leaf (512 blocks): a tree of height 2, three nodes. */
	write_pattern(fs, f, 0, 600 * BS, 15);
	const struct nvmpfs_inode *inode = inode_get(fs, f);
	REQUIRE_EQ(2, (int)nvmpfs_map_height(inode->map));
	static struct visits pre, post;
	memset(&pre, 0, sizeof(pre));
	memset(&post, 0, sizeof(post));
	bmap_walk(fs, inode, record_visit, &pre);
	bmap_walk_nodes_last(fs, inode, record_visit, &post);
	CHECK_UEQ(603, pre.n);
	CHECK_UEQ(pre.n, post.n);
	/* The root comes last; every leaf after the data it maps. */
	CHECK(post.node[post.n - 1]);
	CHECK_UEQ(nvmpfs_map_root(inode->map), post.pblk[post.n - 1]);
	size_t nodes = 0;
	for (size_t i = 0; i < post.n; i++) {
		if (!post.node[i])
			continue;
		nodes++;
		for (size_t j = i + 1; j < post.n; j++)
			if (!post.node[j] && post.lblk[j] >= post.lblk[i] &&
			    post.lblk[j] < post.lblk[i] + NVMPFS_MAP_FANOUT &&
			    i != post.n - 1) {
				CHECK(!"a data block visited after its leaf");
				break;
			}
	}
	CHECK_UEQ(3, nodes);
	/* The same blocks in both orders. */
	uint64_t sum_pre = 0, sum_post = 0;
	for (size_t i = 0; i < pre.n; i++) {
		sum_pre += pre.pblk[i] * 2654435761u;
		sum_post += post.pblk[i] * 2654435761u;
	}
	CHECK_UEQ(sum_pre, sum_post);
	/* The ordinary walk visits a node first (fsck stops at a node seen
	 * twice before descending into it). */
	CHECK(pre.node[0]);
	/* Freed, the file gives every block back. */
	uint64_t before = free_blocks(fs);
	CHECK_EQ(0, nvfs_unlink(fs, ROOT, "f"));
	nvfs_forget(fs, f, 1);  /* the lookup mknod gave the "kernel" */
	CHECK_UEQ(before + 603, free_blocks(fs));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

UNIT_TEST(journal_lanes_undone_after_crash)
{
	const char *path = tmp_pool("lanes");
	struct nvfs *fs = mount_pool(path, 32 * MiB, NULL);
	REQUIRE_GE(fs->sb.journal_lanes, 2);
	uint64_t ia, ib = 0;
	struct nvmpfs_inode *a = spare_inode(fs, &ia);
	/* b: another free slot */
	struct nvmpfs_inode *b = NULL;
	for (uint64_t ino = ia - 1; ino > ROOT && !b; ino--)
		if (!inode_get(fs, ino)->mode) {
			b = inode_get(fs, ino);
			ib = ino;
		}
	REQUIRE(b != NULL);
	struct nvmpfs_inode a_old = *a, b_old = *b;
	/* Two transactions open at once, each on its lane: the older one
	 * changes a and b's first word, the newer one b (again) after it. */
	struct tx t1, t2;
	tx_begin(fs, &t1);
	tx_begin(fs, &t2);
	CHECK(t1.lane->idx != t2.lane->idx);
	REQUIRE_EQ(0, tx_log(&t1, a->reserved, sizeof(a->reserved)));
	REQUIRE_EQ(0, tx_log(&t1, &b->reserved[0], 8));
	REQUIRE_EQ(0, tx_ready(&t1));
	memset(a->reserved, 0x11, sizeof(a->reserved));
	b->reserved[0] = 0x1111;
	pool_flush_ptr(fs->pool, a, sizeof(*a));
	pool_flush_ptr(fs->pool, b, sizeof(*b));
	REQUIRE_EQ(0, tx_log(&t2, b->reserved, sizeof(b->reserved)));
	REQUIRE_EQ(0, tx_ready(&t2));
	memset(b->reserved, 0x22, sizeof(b->reserved));
	pool_flush_ptr(fs->pool, b, sizeof(*b));
	REQUIRE_EQ(0, pool_drain(fs->pool));
	/* Both open on the media at the crash. */
	abandon_fs(fs);

	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK(!rep.was_clean);
	CHECK_GE(rep.undone_records, 3);
	/* Undone newest first: b's first word goes back through 0x1111 to
	 * what it was before either. */
	CHECK_MEM(&a_old, inode_get(fs, ia), sizeof(a_old));
	CHECK_MEM(&b_old, b = inode_get(fs, ib), sizeof(b_old));
	for (unsigned l = 0; l < fs->sb.journal_lanes; l++) {
		const struct nvmpfs_journal_head *head =
			pool_block(fs->pool, fs->sb.journal_start +
				   l * (fs->sb.journal_blocks / fs->sb.journal_lanes));
		CHECK_UEQ(0, head->active_seq);
	}
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/* ------------------------------------------------------------------ */
/* Self-heal                                                           */

/* The "mirror" of the heal test: good copies of some pool blocks. */
struct heal_source {
	uint64_t pblk[4];
	uint8_t data[4][BS];
	int n;
	int calls;
	bool lie;               /* hand out a damaged copy */
};

static int heal_fetch(void *arg, uint64_t pblk, void *buf)
{
	struct heal_source *src = arg;
	src->calls++;
	for (int i = 0; i < src->n; i++)
		if (src->pblk[i] == pblk) {
			memcpy(buf, src->data[i], BS);
			if (src->lie)
				((uint8_t *)buf)[100] ^= 0x40;
			return 0;
		}
	return -EIO;
}

/* Flips a byte of file block lblk in the pool; returns its pool block. */
static uint64_t damage_block(struct nvfs *fs, uint64_t ino, uint64_t lblk,
			     struct heal_source *src)
{
	struct nvfs_range r = { lblk * BS, BS };
	struct nvfs_block_sum *sums;
	size_t n;
	if (nvfs_block_sums(fs, ino, &r, 1, &sums, &n) != 0 || n != 1)
		FAIL("nvfs_block_sums found %zu blocks", n);
	uint64_t pblk = sums[0].pblk;
	free(sums);
	uint8_t *p = (uint8_t *)nvfs_pool_bytes(fs) + pblk * BS;
	if (src) {
		src->pblk[src->n] = pblk;
		memcpy(src->data[src->n++], p, BS);
	}
	p[100] ^= 0x40;
	return pblk;
}

UNIT_TEST(self_heal)
{
	struct nvfs *fs = mount_pool(tmp_pool("heal"), 32 * MiB, NULL);
	uint64_t ino = mkfile(fs, ROOT, "f");
	write_pattern(fs, ino, 0, 8 * BS, 3);
	struct nvfs_range all = { 0, 8 * BS };
	struct nvfs_block_sum *sums;
	size_t nsums;
	REQUIRE_EQ(0, nvfs_block_sums(fs, ino, &all, 1, &sums, &nsums));
	CHECK_EQ(8, nsums);
	for (size_t i = 0; i < nsums; i++)
		CHECK_UEQ(sums[i].sum, csum_of_buffer((uint8_t *)nvfs_pool_bytes(fs) +
						       sums[i].pblk * BS));
	free(sums);

	/* No healer: the damaged block fails with EIO. */
	struct heal_source src = { 0 };
	damage_block(fs, ino, 1, &src);
	uint8_t buf[BS];
	CHECK_EQ(-EIO, nvfs_read(fs, ino, buf, BS, BS));

	/* A healer whose copy is damaged too: still EIO, nothing written. */
	nvfs_set_healer(fs, heal_fetch, &src);
	src.lie = true;
	CHECK_EQ(-EIO, nvfs_read(fs, ino, buf, BS, BS));
	CHECK_GE(src.calls, 1);
	struct nvfs_stats st;
	nvfs_get_stats(fs, &st);
	CHECK_EQ(0, st.blocks_healed);

	/* A good copy: the read heals the block and returns the right bytes. */
	src.lie = false;
	CHECK(read_matches(fs, ino, 0, 8 * BS, 3));
	nvfs_get_stats(fs, &st);
	CHECK_EQ(1, st.blocks_healed);
	struct nvfs_range bad[4];
	CHECK_EQ(0, nvfs_bad_ranges(fs, ino, bad, 4));

	/* Scrub heals what it finds. */
	damage_block(fs, ino, 5, &src);
	uint64_t lblk = 0;
	struct nvfs_scrub_result res;
	REQUIRE_EQ(0, nvfs_scrub(fs, ino, &lblk, 1000, &res));
	CHECK_EQ(1, res.mismatches);
	CHECK_EQ(1, res.healed);
	CHECK(read_matches(fs, ino, 0, 8 * BS, 3));

	/* FlushAndVerify heals too, and reports only what stays bad. */
	damage_block(fs, ino, 6, &src);
	damage_block(fs, ino, 7, NULL);        /* no good copy of this one */
	struct nvfs_range failed[4];
	size_t nfailed = 99;
	CHECK_EQ(0, nvfs_flush(fs, ino, &all, 1, NVFS_FLUSH_VERIFY, failed, 4,
			       &nfailed, NULL));
	CHECK_EQ(1, nfailed);
	CHECK_UEQ(7 * BS, failed[0].off);
	CHECK(read_matches(fs, ino, 0, 7 * BS, 3));
	CHECK_EQ(-EIO, nvfs_read(fs, ino, buf, BS, 7 * BS));
	nvfs_get_stats(fs, &st);
	CHECK_EQ(3, st.blocks_healed);

	/* A rewrite of the block makes it good without the healer. */
	nvfs_set_healer(fs, NULL, NULL);
	write_pattern(fs, ino, 7 * BS, BS, 3);
	CHECK(read_matches(fs, ino, 0, 8 * BS, 3));
	umount_fs(fs);
}

/* ------------------------------------------------------------------ */
/* Direct-mapping leases (fs/core/lease.c, nvfs_direct.h)                  */

/* The pool bytes of file offset off under a lease's extents. */
static uint8_t *leased_at(struct nvfs *fs, const struct nvfs_lease_extent *e,
			  size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		if (off >= e[i].file_off && off < e[i].file_off + e[i].len)
			return pool_at(fs->pool, e[i].pool_off + off - e[i].file_off);
	FAIL("offset %llu is not leased", (unsigned long long)off);
	return NULL;
}

/* A program's stores through its mapping: straight into the pool. */
static void store_direct(struct nvfs *fs, const struct nvfs_lease_extent *e,
			 size_t n, uint64_t off, size_t len, unsigned seed)
{
	uint8_t *b = pattern(off, len, seed);
	for (size_t i = 0; i < len; i++)
		*leased_at(fs, e, n, off + i) = b[i];
	free(b);
}

/* Pool block of file block lblk (0 for a hole). */
static uint64_t pblk_of(struct nvfs *fs, uint64_t ino, uint64_t lblk)
{
	return bmap_lookup(fs, inode_get(fs, ino), lblk, NULL);
}

static uint64_t leases_now(struct nvfs *fs, uint64_t *deferred)
{
	uint64_t n, d;
	nvfs_lease_counts(fs, &n, &d);
	if (deferred)
		*deferred = d;
	return n;
}

/* The held-blocks table against a plain array, under random use. */
UNIT_TEST(lease_held_map)
{
	enum { RANGE = 5000, STEPS = 200000 };
	static uint32_t want[RANGE];
	memset(want, 0, sizeof(want));
	struct held_map m = { 0 };
	uint64_t x = 88172645463325252ull, live = 0;
	for (int i = 0; i < STEPS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* A small range: long probe runs, many removals inside them. */
		uint64_t b = 1 + (x >> 8) % (RANGE - 1);
		if ((x & 3) != 0) {
			struct held *h = held_get(&m, b);
			REQUIRE(h != NULL);
			live += want[b] == 0;
			h->refs++;
			want[b]++;
		} else if (want[b]) {
			struct held *h = held_find(&m, b);
			REQUIRE(h != NULL);
			CHECK_UEQ(want[b], h->refs);
			if (--h->refs == 0) {
				held_remove(&m, h);
				live--;
			}
			want[b]--;
		} else {
			CHECK(held_find(&m, b) == NULL);
		}
	}
	CHECK_UEQ(live, m.used);
	for (uint64_t b = 1; b < RANGE; b++) {
		struct held *h = held_find(&m, b);
		CHECK_UEQ(want[b], h ? h->refs : 0);
	}
	held_free(&m);
}

UNIT_TEST(lease_checksums_and_coherence)
{
	const char *path = tmp_pool("lease");
	struct nvfs *fs = mount_pool(path, 32 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	write_pattern(fs, f, 0, 16 * BS, 1);
	uint64_t p0 = pblk_of(fs, f, 0);
	REQUIRE(*csum_word(fs, p0) != 0);
	uint64_t id = 0;
	REQUIRE_EQ(0, nvfs_lease_begin(fs, f, 7, 0, 16 * BS, true, &id));
	CHECK(id != 0);
	CHECK(nvfs_file_leased(fs, f));
	struct nvfs_lease_extent e[8];
	ssize_t n = nvfs_lease_extents(fs, 7, id, 0, e, 8);
	REQUIRE_EQ(1, n);
	CHECK_UEQ(0, e[0].file_off);
	CHECK_UEQ(p0 * BS, e[0].pool_off);
	CHECK_UEQ(16 * BS, e[0].len);
	/* Unverified while a program may store behind our back. */
	for (uint64_t b = 0; b < 16; b++)
		CHECK_UEQ(0, *csum_word(fs, p0 + b));
	CHECK_UGE(intent_hot_extents(fs), 1);
	/* Its stores are what read() returns, never an EIO. */
	store_direct(fs, e, 1, 100, 3 * BS, 2);
	CHECK(read_matches(fs, f, 100, 3 * BS, 2));
	/* A write(2) into the range stores no checksum either. */
	write_pattern(fs, f, 8 * BS, BS, 3);
	CHECK_UEQ(0, *csum_word(fs, p0 + 8));
	CHECK(*leased_at(fs, e, 1, 8 * BS) == pat(8 * BS, 3));
	/* The background thread's cooling leaves a leased extent marked. */
	for (int i = 0; i < 4; i++)
		intent_cool(fs);
	CHECK_UGE(intent_hot_extents(fs), 1);
	/* A persist flushes inside the lease only. */
	struct nvfs_range in = { BS, 2 * BS }, out = { 15 * BS, 2 * BS };
	CHECK_EQ(0, nvfs_lease_persist(fs, 7, id, &in, 1));
	CHECK_EQ(-EINVAL, nvfs_lease_persist(fs, 7, id, &out, 1));
	CHECK_EQ(-EINVAL, nvfs_lease_persist(fs, 8, id, &in, 1));
	/* At the end: checksums again, of what the program left. */
	uint64_t ino = 0;
	CHECK_EQ(0, nvfs_lease_end(fs, 7, id, &ino));
	CHECK_UEQ(f, ino);
	CHECK(!nvfs_file_leased(fs, f));
	for (uint64_t b = 0; b < 16; b++)
		CHECK_UEQ(csum_of_block(fs, p0 + b), *csum_word(fs, p0 + b));
	for (int i = 0; i < 4; i++)
		intent_cool(fs);
	CHECK_UEQ(0, intent_hot_extents(fs));
	CHECK_EQ(-EINVAL, nvfs_lease_end(fs, 7, id, NULL));
	uint64_t lblk = 0;
	struct nvfs_scrub_result sr;
	CHECK_EQ(0, nvfs_scrub(fs, f, &lblk, 1024, &sr));
	CHECK_UEQ(16, sr.blocks_checked);
	CHECK_UEQ(0, sr.blocks_unverified);
	CHECK_UEQ(0, sr.mismatches);
	/* A read-only lease keeps the checksums (nobody stores). */
	REQUIRE_EQ(0, nvfs_lease_begin(fs, f, 7, 0, BS, false, &id));
	CHECK(*csum_word(fs, p0) != 0);
	write_pattern(fs, f, 0, BS, 4);
	CHECK_UEQ(csum_of_block(fs, p0), *csum_word(fs, p0));
	CHECK_EQ(1, nvfs_lease_end_owner(fs, 7));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

UNIT_TEST(lease_refusals)
{
	const char *path = tmp_pool("leaserr");
	struct nvfs *fs = mount_pool(path, 32 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	uint64_t d = mkdir_(fs, ROOT, "d");
	write_pattern(fs, f, 0, 3 * BS + 10, 1);
	uint64_t id;
	CHECK_EQ(-EINVAL, nvfs_lease_begin(fs, f, 1, 1, BS, true, &id));
	CHECK_EQ(-EINVAL, nvfs_lease_begin(fs, f, 1, 0, 0, true, &id));
	CHECK_EQ(-EINVAL, nvfs_lease_begin(fs, f, 1, 0, 3 * BS + 11, true, &id));
	CHECK_EQ(-EINVAL, nvfs_lease_begin(fs, f, 1, 4 * BS, 1, true, &id));
	CHECK_EQ(-EINVAL, nvfs_lease_begin(fs, f, 1, BS, UINT64_MAX, true, &id));
	CHECK_EQ(-EISDIR, nvfs_lease_begin(fs, d, 1, 0, BS, true, &id));
	CHECK_EQ(-ENOENT, nvfs_lease_begin(fs, 4000, 1, 0, BS, true, &id));
	CHECK_UEQ(0, leases_now(fs, NULL));
	/* The last block is leased whole, its tail past EOF zero again after. */
	REQUIRE_EQ(0, nvfs_lease_begin(fs, f, 1, 0, 3 * BS + 10, true, &id));
	struct nvfs_lease_extent e[4];
	REQUIRE_EQ(1, nvfs_lease_extents(fs, 1, id, 0, e, 4));
	CHECK_UEQ(4 * BS, e[0].len);
	CHECK_EQ(-EINVAL, nvfs_lease_extents(fs, 2, id, 0, e, 4));
	*leased_at(fs, e, 1, 3 * BS + 100) = 0x77;  /* past EOF */
	/* A read-only remount must wait: programs store into the pool. */
	CHECK_EQ(-EBUSY, nvfs_set_read_only(fs, true));
	CHECK_EQ(-EINVAL, nvfs_lease_end(fs, 2, id, NULL));
	CHECK_EQ(0, nvfs_lease_end(fs, 1, id, NULL));
	CHECK(*leased_at(fs, e, 1, 3 * BS + 100) == 0);
	CHECK_EQ(0, nvfs_set_read_only(fs, true));
	CHECK_EQ(-EROFS, nvfs_lease_begin(fs, f, 1, 0, BS, false, &id));
	CHECK_EQ(0, nvfs_set_read_only(fs, false));
	/* A block that fails its checksum is not laundered into "unverified". */
	uint64_t p1 = pblk_of(fs, f, 1);
	((uint8_t *)pool_block(fs->pool, p1))[5] ^= 1;
	CHECK_EQ(-EIO, nvfs_lease_begin(fs, f, 1, 0, 2 * BS, true, &id));
	CHECK(*csum_word(fs, p1) != 0);
	CHECK_UEQ(0, leases_now(fs, NULL));
	((uint8_t *)pool_block(fs->pool, p1))[5] ^= 1;
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

UNIT_TEST(lease_allocates_holes)
{
	const char *path = tmp_pool("leasehole");
	struct nvfs *fs = mount_pool(path, 32 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "sparse");
	struct stat st = { .st_size = 64 * BS };
	struct stat out;
	REQUIRE_EQ(0, nvfs_setattr(fs, f, &st, NVFS_SET_SIZE, &out));
	write_pattern(fs, f, 10 * BS, 2 * BS, 5);
	uint64_t before = free_blocks(fs);
	uint64_t id;
	REQUIRE_EQ(0, nvfs_lease_begin(fs, f, 3, 8 * BS, 8 * BS, true, &id));
	CHECK_UEQ(before - 6, free_blocks(fs));
	for (uint64_t b = 8; b < 16; b++)
		CHECK(pblk_of(fs, f, b) != 0);
	CHECK_UEQ(0, pblk_of(fs, f, 16));
	CHECK(read_zeros(fs, f, 8 * BS, 2 * BS));
	CHECK(read_matches(fs, f, 10 * BS, 2 * BS, 5));
	CHECK_EQ(64 * BS, getattr_(fs, f).st_size);
	CHECK_EQ(0, nvfs_lease_end(fs, 3, id, NULL));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/*
 * Truncate, punch and unlink free a leased file's blocks only when the
 * last lease holding them ends: no other file gets them meanwhile.
 */
UNIT_TEST(lease_defers_frees)
{
	const char *path = tmp_pool("leasefree");
	struct nvfs *fs = mount_pool(path, 16 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	write_pattern(fs, f, 0, 32 * BS, 1);
	uint64_t id1, id2, deferred;
	REQUIRE_EQ(0, nvfs_lease_begin(fs, f, 1, 0, 32 * BS, true, &id1));
	REQUIRE_EQ(0, nvfs_lease_begin(fs, f, 2, 16 * BS, 16 * BS, false, &id2));
	struct nvfs_lease_extent e[4];
	REQUIRE_EQ(1, nvfs_lease_extents(fs, 1, id1, 0, e, 4));
	uint64_t p0 = e[0].pool_off / BS;
	uint64_t base = free_blocks(fs);
	struct stat st = { .st_size = 0 }, out;
	REQUIRE_EQ(0, nvfs_setattr(fs, f, &st, NVFS_SET_SIZE, &out));
	CHECK_UEQ(2, leases_now(fs, &deferred));
	CHECK_UEQ(32, deferred);
	CHECK_ULE(free_blocks(fs), base + 1); /* a map node at most */
	/* Fill the pool: no new file gets a leased block. */
	uint64_t g = mkfile(fs, ROOT, "g");
	uint8_t *buf = pattern(0, 256 * BS, 9);
	uint64_t written = 0;
	for (;;) {
		ssize_t n = nvfs_write(fs, g, buf, 256 * BS, written);
		if (n <= 0)
			break;
		written += (uint64_t)n;
	}
	free(buf);
	CHECK_UGE(written, 256 * BS);
	for (uint64_t b = 0; b < written / BS; b++) {
		uint64_t p = pblk_of(fs, g, b);
		if (p >= p0 && p < p0 + 32) {
			CHECK(!"a leased block was given to another file");
			break;
		}
	}
	store_direct(fs, e, 1, 0, 32 * BS, 4);  /* the program goes on */
	CHECK(read_matches(fs, g, 0, 1024 * 1024 > written ? written : 1024 * 1024, 9));
	/* The writable lease ends: the read-only one still holds half. */
	uint64_t low = free_blocks(fs);
	CHECK_EQ(0, nvfs_lease_end(fs, 1, id1, NULL));
	CHECK_UEQ(low + 16, free_blocks(fs));
	CHECK_UEQ(1, leases_now(fs, &deferred));
	CHECK_UEQ(16, deferred);
	CHECK_EQ(1, nvfs_lease_end_owner(fs, 2));
	CHECK_UEQ(low + 32, free_blocks(fs));
	CHECK_UEQ(0, leases_now(fs, &deferred));
	CHECK_UEQ(0, deferred);
	REQUIRE_EQ(0, nvfs_unlink(fs, ROOT, "g"));

	/* Punch and unlink of a file still open (freed at its release). */
	uint64_t h = mkfile(fs, ROOT, "h");
	write_pattern(fs, h, 0, 8 * BS, 2);
	REQUIRE_EQ(0, nvfs_open(fs, h, O_RDWR));
	REQUIRE_EQ(0, nvfs_lease_begin(fs, h, 5, 0, 8 * BS, true, &id1));
	base = free_blocks(fs);
	CHECK_EQ(0, nvfs_fallocate(fs, h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				   2 * BS, 4 * BS));
	CHECK_UEQ(base, free_blocks(fs));
	REQUIRE_EQ(0, nvfs_unlink(fs, ROOT, "h"));
	nvfs_forget(fs, h, 1);
	CHECK_EQ(0, nvfs_release(fs, h));       /* the file is freed ... */
	CHECK_EQ(-ENOENT, nvfs_getattr(fs, h, &st));
	CHECK_UEQ(8, (leases_now(fs, &deferred), deferred));
	low = free_blocks(fs);                  /* (its map node is free) */
	CHECK_EQ(1, nvfs_lease_end_owner(fs, 5)); /* ... its blocks now */
	CHECK_UEQ(low + 8, free_blocks(fs));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/*
 * A crash while a program maps blocks: the next mount frees what waited
 * for the lease, the blocks are unverified (never a false mismatch), and
 * adopting gives them checksums again.
 */
UNIT_TEST(lease_crash_and_adopt)
{
	const char *path = tmp_pool("leasecrash");
	struct nvfs *fs = mount_pool(path, 16 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	uint64_t t = mkfile(fs, ROOT, "t");
	write_pattern(fs, f, 0, 16 * BS, 1);
	write_pattern(fs, t, 0, 16 * BS, 2);
	uint64_t base = free_blocks(fs);
	uint64_t id;
	REQUIRE_EQ(0, nvfs_lease_begin(fs, f, 1, 0, 16 * BS, true, &id));
	REQUIRE_EQ(0, nvfs_lease_begin(fs, t, 1, 0, 16 * BS, true, &id));
	struct nvfs_lease_extent e[4];
	REQUIRE_EQ(1, nvfs_lease_extents(fs, 1, id, 0, e, 4));
	REQUIRE_EQ(1, nvfs_lease_extents(fs, 1, id - 1, 0, e + 1, 3));
	store_direct(fs, e + 1, 1, 0, 16 * BS, 3);  /* f, persisted: */
	pool_persist(fs->pool, e[1].pool_off, e[1].len);
	struct stat st = { .st_size = 0 }, out;
	REQUIRE_EQ(0, nvfs_setattr(fs, t, &st, NVFS_SET_SIZE, &out));
	base = free_blocks(fs);  /* t's map node is free already */
	abandon_fs(fs);

	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK(!rep.was_clean);
	CHECK_UEQ(0, leases_now(fs, NULL));
	CHECK_UEQ(base + 16, free_blocks(fs));  /* t's blocks: free at last */
	CHECK(read_matches(fs, f, 0, 16 * BS, 3));
	uint64_t lblk = 0;
	struct nvfs_scrub_result sr;
	CHECK_EQ(0, nvfs_scrub(fs, f, &lblk, 1024, &sr));
	CHECK_UEQ(16, sr.blocks_unverified);
	CHECK_UEQ(0, sr.mismatches);
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));

	fs = mount_pool(path, 0, NULL);
	/* Blocks a program may still store into are not adopted. */
	REQUIRE_EQ(0, nvfs_lease_begin(fs, f, 1, 0, 4 * BS, true, &id));
	struct nvfs_adopt_result ar;
	lblk = 0;
	CHECK_EQ(0, nvfs_adopt(fs, f, &lblk, 1024, &ar));
	CHECK(ar.done);
	CHECK_UEQ(12, ar.adopted);
	CHECK_UEQ(4, ar.leased);
	CHECK_EQ(0, nvfs_lease_end(fs, 1, id, NULL));
	lblk = 0;
	CHECK_EQ(0, nvfs_adopt(fs, f, &lblk, 1024, &ar));
	CHECK_UEQ(0, ar.adopted);
	lblk = 0;
	CHECK_EQ(0, nvfs_scrub(fs, f, &lblk, 1024, &sr));
	CHECK_UEQ(16, sr.blocks_checked);
	CHECK_UEQ(0, sr.blocks_unverified);
	CHECK(read_matches(fs, f, 0, 16 * BS, 3));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
}

/*
 * A clean unmount while a program still maps blocks (the daemon told to
 * go): what waited for the lease is freed, the checksums stay 0.
 */
UNIT_TEST(lease_unmount_with_leases)
{
	const char *path = tmp_pool("leaseumount");
	struct nvfs *fs = mount_pool(path, 16 * MiB, NULL);
	uint64_t f = mkfile(fs, ROOT, "f");
	write_pattern(fs, f, 0, 8 * BS, 1);
	uint64_t base = free_blocks(fs);
	uint64_t id;
	REQUIRE_EQ(0, nvfs_lease_begin(fs, f, 1, 0, 8 * BS, true, &id));
	REQUIRE_EQ(0, nvfs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE |
				     FALLOC_FL_KEEP_SIZE, 0, 4 * BS));
	umount_fs(fs);
	CHECK_EQ(0, run_check(path, false, NULL, NULL));
	struct nvfs_mount_report rep;
	fs = mount_pool(path, 0, &rep);
	CHECK(rep.was_clean);
	CHECK_UEQ(base + 4, free_blocks(fs));
	uint64_t lblk = 0;
	struct nvfs_scrub_result sr;
	CHECK_EQ(0, nvfs_scrub(fs, f, &lblk, 1024, &sr));
	CHECK_UEQ(4, sr.blocks_unverified);
	umount_fs(fs);
}

/* ------------------------------------------------------------------ */

/* A test that crashes must not leave its pools in /dev/shm. */
static void on_fatal_signal(int sig)
{
	for (int i = 0; i < npools; i++)
		unlink(pool_paths[i]);
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL,
				     SIGINT, SIGTERM };
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], on_fatal_signal);
	/* Before any pool opens: libpmem reads it at the first mapping. */
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	unsetenv("NVMPFS_CRASH_AT");
	unit_after_each = cleanup_test;
	return unit_main(argc, argv);
}
