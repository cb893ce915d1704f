/*
 * pmtool: a small test tool over libnvmpfs (include/nvmpfs.h) for the
 * sync/verify tests (tests/nvmpfs/120..139).  Every command prints
 * deterministic lines only: errno names, never inode numbers, pool
 * offsets or times.  Exit status: 0 when the command ran (even when the
 * call it tested failed as the test expected: the printed errno is what
 * is compared), 2 for usage errors and failures of the tool itself.
 *
 * Build (the tests do it):
 *   cc -Wall -Wextra -Werror -O2 -I$TOP/include pmtool.c \
 *      -L$TOP/lib/.libs -lnvmpfs -Wl,-rpath,$TOP/lib/.libs -o pmtool
 *
 * FILE arguments: a path, or "@badfd" (fd -1), or "@closed" (an fd that
 * was just closed).  Ranges are OFF:LEN (bytes).
 *
 *   pwrite FILE OFF LEN BYTE [MARK]   write LEN bytes of BYTE (a character)
 *                                     at OFF, MARK (a string) at its start
 *   pwrites FILE N STRIDE LEN SYNC    N pwrites of LEN bytes at i*STRIDE,
 *                                     then SYNC: none fsync fdatasync sfr
 *                                     syncfs; $PMTOOL_BEFORE_SYNC, if set,
 *                                     is run (sh -c) between the two, so
 *                                     that a test can read the counters
 *                                     of the sync alone
 *   flush FILE N STRIDE LEN           optimized flush of N ranges
 *                                     (i*STRIDE, LEN), one call
 *   flushr FILE OFF:LEN...            optimized flush of these ranges
 *   verify FILE OFF:LEN...            flush and verify; lists failed ranges
 *   async FILE N STRIDE LEN           async flush of N ranges, then drain
 *   asyncr FILE OFF:LEN...            async flush of these ranges, drain
 *   rawflush FILE COUNT               the flush ioctl itself with COUNT
 *                                     ranges (past the library's check)
 *   map FILE MODE BYTE OFF:LEN...     nvmpfs_map the whole file, store
 *                                     BYTE into the ranges, then MODE:
 *                                     flush (nvmpfs_optimized_flush_addr),
 *                                     async (async flush + drain), verify,
 *                                     msync (msync MS_SYNC of the mapping),
 *                                     sfr (sync_file_range), none
 *   attrs FILE                        nvmpfs_get_attributes
 *   bad FILE                          nvmpfs_bad_ranges
 *   read FILE                         pread every 4 KiB block (fresh open):
 *                                     prints the runs of blocks that fail
 *   readseq FILE                      read() to the end with a 1 MiB buffer:
 *                                     bytes read before the first error
 *   check FILE OFF LEN BYTE           do LEN bytes at OFF all hold BYTE?
 *                                     (BYTE '' is a zero byte; exit 1 if not)
 *   corrupt POOL MARK                 flip the first byte of MARK, which
 *                                     must occur once in POOL
 *   count POOL MARK                   how many times MARK occurs in POOL
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nvmpfs.h"

#define BS 4096

static const char *ename(int e)
{
	switch (e) {
	case 0: return "ok";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case ESPIPE: return "ESPIPE";
	case EROFS: return "EROFS";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOTCONN: return "ENOTCONN";
	default: {
		static char buf[32];
		snprintf(buf, sizeof(buf), "errno %d", e);
		return buf;
	}
	}
}

static void die(const char *what)
{
	fprintf(stderr, "pmtool: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void usage(void)
{
	fprintf(stderr, "usage: pmtool COMMAND ARGS (see the comment at the top "
			"of tests/tools/pmtool.c)\n");
	exit(2);
}

static uint64_t num(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		usage();
	return v;
}

/* A path, "@badfd" or "@closed". */
static int open_file(const char *spec, bool write)
{
	if (strcmp(spec, "@badfd") == 0)
		return -1;
	if (strcmp(spec, "@closed") == 0) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd < 0)
			die("/dev/null");
		close(fd);
		return fd;
	}
	struct stat st;
	if (stat(spec, &st) < 0)
		die(spec);
	int fd = open(spec, (S_ISDIR(st.st_mode) || !write ? O_RDONLY : O_RDWR) |
				    O_CLOEXEC);
	if (fd < 0)
		die(spec);
	return fd;
}

static size_t parse_ranges(int argc, char **argv, struct nvmpfs_range *r,
			   size_t max)
{
	if ((size_t)argc > max)
		usage();
	for (int i = 0; i < argc; i++) {
		unsigned long long off, len;
		char extra;
		if (sscanf(argv[i], "%llu:%llu%c", &off, &len, &extra) != 2)
			usage();
		r[i] = (struct nvmpfs_range){ off, len };
	}
	return (size_t)argc;
}

static struct nvmpfs_range *strided(size_t n, uint64_t stride, uint64_t len)
{
	struct nvmpfs_range *r = calloc(n ? n : 1, sizeof(*r));
	if (!r)
		die("calloc");
	for (size_t i = 0; i < n; i++)
		r[i] = (struct nvmpfs_range){ i * stride, len };
	return r;
}

static void print_ranges(const char *label, const struct nvmpfs_range *r,
			 size_t n)
{
	printf("%s:", label);
	if (n == 0)
		printf(" none");
	for (size_t i = 0; i < n; i++)
		printf(" %llu:%llu", (unsigned long long)r[i].off,
		       (unsigned long long)r[i].len);
	printf("\n");
}

/* ---- writes ---- */

static void fill(char *buf, size_t len, int byte, const char *mark)
{
	memset(buf, byte, len);
	if (mark) {
		size_t m = strlen(mark);
		memcpy(buf, mark, m < len ? m : len);
	}
}

static int cmd_pwrite(int argc, char **argv)
{
	if (argc < 5 || argc > 6)
		usage();
	int fd = open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die(argv[1]);
	uint64_t off = num(argv[2]), len = num(argv[3]);
	char *buf = malloc(len ? len : 1);
	if (!buf)
		die("malloc");
	fill(buf, len, argv[4][0], argc == 6 ? argv[5] : NULL);
	ssize_t n = pwrite(fd, buf, len, (off_t)off);
	if (n != (ssize_t)len) {
		printf("pwrite %llu:%llu: %s\n", (unsigned long long)off,
		       (unsigned long long)len, n < 0 ? ename(errno) : "short");
		free(buf);
		close(fd);
		return 1;
	}
	free(buf);
	if (close(fd) < 0)
		die("close");
	return 0;
}

static int do_sync(int fd, const char *how)
{
	if (strcmp(how, "none") == 0)
		return 0;
	if (strcmp(how, "fsync") == 0)
		return fsync(fd);
	if (strcmp(how, "fdatasync") == 0)
		return fdatasync(fd);
	if (strcmp(how, "sfr") == 0)
		return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE |
						 SYNC_FILE_RANGE_WRITE |
						 SYNC_FILE_RANGE_WAIT_AFTER);
	if (strcmp(how, "syncfs") == 0)
		return syncfs(fd);
	usage();
	return -1;
}

static int cmd_pwrites(int argc, char **argv)
{
	if (argc != 6)
		usage();
	int fd = open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die(argv[1]);
	size_t n = num(argv[2]);
	uint64_t stride = num(argv[3]), len = num(argv[4]);
	char *buf = malloc(len ? len : 1);
	if (!buf)
		die("malloc");
	for (size_t i = 0; i < n; i++) {
		memset(buf, 'a' + (int)(i % 26), len);
		if (pwrite(fd, buf, len, (off_t)(i * stride)) != (ssize_t)len)
			die("pwrite");
	}
	const char *hook = getenv("PMTOOL_BEFORE_SYNC");
	if (hook && *hook && system(hook) != 0) {
		fprintf(stderr, "pmtool: PMTOOL_BEFORE_SYNC failed: %s\n", hook);
		exit(2);
	}
	int rc = do_sync(fd, argv[5]);
	printf("%zu writes, %s: %s\n", n, argv[5], ename(rc < 0 ? errno : 0));
	free(buf);
	close(fd);
	return 0;
}

/* ---- the library's flush calls ---- */

static void report(const char *what, size_t n, int rc)
{
	printf("%s %zu range%s: %s\n", what, n, n == 1 ? "" : "s",
	       ename(rc < 0 ? errno : 0));
}

static int cmd_flush(int argc, char **argv)
{
	if (argc != 5)
		usage();
	int fd = open_file(argv[1], true);
	size_t n = num(argv[2]);
	struct nvmpfs_range *r = strided(n, num(argv[3]), num(argv[4]));
	int rc = nvmpfs_optimized_flush(fd, r, n);
	report("optimized flush of", n, rc);
	free(r);
	return 0;
}

static int cmd_flushr(int argc, char **argv)
{
	if (argc < 2)
		usage();
	int fd = open_file(argv[1], true);
	struct nvmpfs_range r[NVMPFS_MAX_RANGES];
	size_t n = parse_ranges(argc - 2, argv + 2, r, NVMPFS_MAX_RANGES);
	int rc = nvmpfs_optimized_flush(fd, r, n);
	report("optimized flush of", n, rc);
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	if (argc < 2)
		usage();
	int fd = open_file(argv[1], true);
	struct nvmpfs_range r[NVMPFS_MAX_RANGES], failed[NVMPFS_MAX_RANGES];
	size_t n = parse_ranges(argc - 2, argv + 2, r, NVMPFS_MAX_RANGES);
	size_t nfailed = 0;
	int rc = nvmpfs_optimized_flush_and_verify(fd, r, n, failed,
						   NVMPFS_MAX_RANGES, &nfailed);
	report("flush and verify of", n, rc);
	if (rc == 0)
		print_ranges("failed", failed,
			     nfailed < NVMPFS_MAX_RANGES ? nfailed
							 : NVMPFS_MAX_RANGES);
	return 0;
}

static int cmd_async(int argc, char **argv)
{
	if (argc != 5)
		usage();
	int fd = open_file(argv[1], true);
	size_t n = num(argv[2]);
	struct nvmpfs_range *r = strided(n, num(argv[3]), num(argv[4]));
	int rc = nvmpfs_async_flush(fd, r, n);
	report("async flush of", n, rc);
	rc = nvmpfs_drain(fd);
	printf("drain: %s\n", ename(rc < 0 ? errno : 0));
	free(r);
	return 0;
}

static int cmd_asyncr(int argc, char **argv)
{
	if (argc < 2)
		usage();
	int fd = open_file(argv[1], true);
	struct nvmpfs_range r[NVMPFS_MAX_RANGES];
	size_t n = parse_ranges(argc - 2, argv + 2, r, NVMPFS_MAX_RANGES);
	int rc = nvmpfs_async_flush(fd, r, n);
	report("async flush of", n, rc);
	rc = nvmpfs_drain(fd);
	printf("drain: %s\n", ename(rc < 0 ? errno : 0));
	return 0;
}

static int cmd_rawflush(int argc, char **argv)
{
	if (argc != 3)
		usage();
	int fd = open_file(argv[1], true);
	uint32_t count = (uint32_t)num(argv[2]);
	struct nvmpfs_ioc_flush *f = calloc(1, sizeof(*f));
	if (!f)
		die("calloc");
	f->count = count;
	for (uint32_t i = 0; i < count && i < NVMPFS_MAX_RANGES; i++)
		f->ranges[i] = (struct nvmpfs_range){ 0, 1 };
	int rc = ioctl(fd, NVMPFS_IOC_FLUSH, f);
	printf("flush ioctl with count %u: %s\n", count,
	       ename(rc < 0 ? errno : 0));
	free(f);
	return 0;
}

static int cmd_map(int argc, char **argv)
{
	if (argc < 5)
		usage();
	int fd = open_file(argv[1], true);
	const char *mode = argv[2];
	int byte = argv[3][0];
	struct nvmpfs_range r[NVMPFS_MAX_RANGES];
	size_t n = parse_ranges(argc - 4, argv + 4, r, NVMPFS_MAX_RANGES);
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat");
	size_t size = (size_t)st.st_size;
	char *map = nvmpfs_map(fd, size, 0);
	if (!map)
		die("nvmpfs_map");
	for (size_t i = 0; i < n; i++) {
		if (r[i].off + r[i].len > size) {
			fprintf(stderr, "pmtool: range past the mapping\n");
			return 2;
		}
		memset(map + r[i].off, byte, r[i].len);
	}
	int rc = 0;
	if (strcmp(mode, "flush") == 0) {
		struct nvmpfs_addr_range a[NVMPFS_MAX_RANGES];
		for (size_t i = 0; i < n; i++)
			a[i] = (struct nvmpfs_addr_range){ map + r[i].off, r[i].len };
		rc = nvmpfs_optimized_flush_addr(a, n);
		report("optimized flush (addresses) of", n, rc);
	} else if (strcmp(mode, "async") == 0) {
		rc = nvmpfs_async_flush(fd, r, n);
		report("async flush of", n, rc);
		rc = nvmpfs_drain(fd);
		printf("drain: %s\n", ename(rc < 0 ? errno : 0));
	} else if (strcmp(mode, "verify") == 0) {
		struct nvmpfs_range failed[NVMPFS_MAX_RANGES];
		size_t nfailed = 0;
		rc = nvmpfs_optimized_flush_and_verify(fd, r, n, failed,
						       NVMPFS_MAX_RANGES, &nfailed);
		report("flush and verify of", n, rc);
		if (rc == 0)
			print_ranges("failed", failed, nfailed);
	} else if (strcmp(mode, "msync") == 0) {
		rc = msync(map, size, MS_SYNC);
		printf("msync MS_SYNC: %s\n", ename(rc < 0 ? errno : 0));
	} else if (strcmp(mode, "sfr") == 0) {
		rc = do_sync(fd, "sfr");
		printf("sync_file_range: %s\n", ename(rc < 0 ? errno : 0));
	} else if (strcmp(mode, "none") != 0) {
		usage();
	}
	/* A daemon killed with SIGKILL next must not get these pages from the
	 * munmap: "none" leaves them to the test (it kills the daemon before
	 * write-back); the others have synced them already. */
	if (nvmpfs_unmap(map, size) < 0)
		die("nvmpfs_unmap");
	close(fd);
	return 0;
}

/* ---- attributes, bad ranges ---- */

static int cmd_attrs(int argc, char **argv)
{
	if (argc != 2)
		usage();
	int fd = open_file(argv[1], false);
	struct nvmpfs_attributes a;
	if (nvmpfs_get_attributes(fd, &a) < 0) {
		printf("attributes: %s\n", ename(errno));
		return 0;
	}
	printf("optimized_flush_capable %u\n", a.optimized_flush_capable);
	printf("flush_and_verify_capable %u\n", a.flush_and_verify_capable);
	printf("async_flush_capable %u\n", a.async_flush_capable);
	printf("interrupted_store_atomicity %u\n", a.interrupted_store_atomicity);
	printf("fundamental_error_range %u\n", a.fundamental_error_range);
	printf("fundamental_error_range_offset %u\n",
	       a.fundamental_error_range_offset);
	printf("max_ranges_per_flush %u\n", a.max_ranges_per_flush);
	printf("mirrored %u\n", a.mirrored);
	return 0;
}

static int cmd_bad(int argc, char **argv)
{
	if (argc != 2)
		usage();
	int fd = open_file(argv[1], false);
	struct nvmpfs_range r[NVMPFS_MAX_RANGES];
	ssize_t n = nvmpfs_bad_ranges(fd, r, NVMPFS_MAX_RANGES);
	if (n < 0) {
		printf("bad ranges: %s\n", ename(errno));
		return 0;
	}
	print_ranges("bad ranges", r, n < NVMPFS_MAX_RANGES ? (size_t)n
							    : NVMPFS_MAX_RANGES);
	return 0;
}

/* ---- reads ---- */

/* Prints the runs of blocks that do not read back whole. */
static void read_run(uint64_t first, uint64_t n, const char *what)
{
	if (n == 1)
		printf("read of block at %llu: %s\n", (unsigned long long)first,
		       what);
	else if (n > 1)
		printf("read of %llu blocks from %llu: %s\n", (unsigned long long)n,
		       (unsigned long long)first, what);
}

static int cmd_read(int argc, char **argv)
{
	if (argc != 2)
		usage();
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(argv[1]);
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat");
	char buf[BS], what[64], run_what[64] = "";
	uint64_t size = (uint64_t)st.st_size;
	uint64_t nblocks = (size + BS - 1) / BS, ok = 0, run_first = 0, run_n = 0;
	for (uint64_t b = 0; b < nblocks; b++) {
		uint64_t want = size - b * BS < BS ? size - b * BS : BS;
		ssize_t n = pread(fd, buf, BS, (off_t)(b * BS));
		if (n < 0)
			snprintf(what, sizeof(what), "%s", ename(errno));
		else if ((uint64_t)n != want)
			snprintf(what, sizeof(what), "short (%zd bytes)", n);
		else
			what[0] = 0;
		if (!what[0])
			ok++;
		if (run_n && strcmp(what, run_what) == 0 &&
		    run_first + run_n == b) {
			run_n++;
			continue;
		}
		if (run_n)
			read_run(run_first * BS, run_n, run_what);
		run_n = what[0] ? 1 : 0;
		run_first = b;
		snprintf(run_what, sizeof(run_what), "%s", what);
	}
	if (run_n)
		read_run(run_first * BS, run_n, run_what);
	printf("read %llu blocks: %llu ok\n", (unsigned long long)nblocks,
	       (unsigned long long)ok);
	close(fd);
	return 0;
}

static int cmd_readseq(int argc, char **argv)
{
	if (argc != 2)
		usage();
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(argv[1]);
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	if (!buf)
		die("malloc");
	uint64_t total = 0;
	int err = 0;
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n < 0) {
			err = errno;
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
	}
	printf("sequential read: %llu bytes, then %s\n", (unsigned long long)total,
	       err ? ename(err) : "end of file");
	free(buf);
	close(fd);
	return 0;
}

static const char *show_byte(int byte)
{
	static char buf[8];
	if (byte > ' ' && byte < 127)
		snprintf(buf, sizeof(buf), "'%c'", byte);
	else
		snprintf(buf, sizeof(buf), "\\x%02x", byte & 0xff);
	return buf;
}

static int cmd_check(int argc, char **argv)
{
	if (argc != 5)
		usage();
	int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(argv[1]);
	uint64_t off = num(argv[2]), len = num(argv[3]);
	int byte = argv[4][0];
	char *buf = malloc(len ? len : 1);
	if (!buf)
		die("malloc");
	ssize_t n = pread(fd, buf, len, (off_t)off);
	if (n < 0) {
		printf("check %llu:%llu: %s\n", (unsigned long long)off,
		       (unsigned long long)len, ename(errno));
		free(buf);
		close(fd);
		return 1;
	}
	uint64_t good = 0;
	for (ssize_t i = 0; i < n; i++)
		good += buf[i] == (char)byte;
	printf("check %llu:%llu %s: %s\n", (unsigned long long)off,
	       (unsigned long long)len, show_byte(byte),
	       (uint64_t)n == len && good == len ? "ok" : "MISMATCH");
	free(buf);
	close(fd);
	return (uint64_t)n == len && good == len ? 0 : 1;
}

/* ---- the pool behind the file system's back ---- */

static char *map_pool(const char *path, size_t *size, int *fdp)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat");
	*size = (size_t)st.st_size;
	char *p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap of the pool");
	*fdp = fd;
	return p;
}

static size_t occurrences(const char *p, size_t size, const char *mark,
			  char **first)
{
	size_t m = strlen(mark), count = 0;
	*first = NULL;
	const char *at = p, *end = p + size;
	while (at < end) {
		char *hit = memmem(at, (size_t)(end - at), mark, m);
		if (!hit)
			break;
		if (!*first)
			*first = hit;
		count++;
		at = hit + 1;
	}
	return count;
}

static int cmd_count(int argc, char **argv)
{
	if (argc != 3 || !argv[2][0])
		usage();
	size_t size;
	int fd;
	char *p = map_pool(argv[1], &size, &fd), *first;
	printf("%zu\n", occurrences(p, size, argv[2], &first));
	munmap(p, size);
	close(fd);
	return 0;
}

/*
 * The kernel's page cache of a file on the mount holds what was written,
 * not the flipped byte (the daemon keeps it across opens): the damage
 * shows to reads that reach the daemon, as once the pages are evicted.
 */
static void evict_page_cache(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1)
		die("/proc/sys/vm/drop_caches");
	close(fd);
}

static int cmd_corrupt(int argc, char **argv)
{
	if (argc != 3 || !argv[2][0])
		usage();
	size_t size;
	int fd;
	char *p = map_pool(argv[1], &size, &fd), *first;
	size_t n = occurrences(p, size, argv[2], &first);
	if (n != 1) {
		printf("corrupt: the mark occurs %zu times in the pool\n", n);
		return 1;
	}
	*first ^= 0x20;
	if (msync(p, size, MS_SYNC) < 0)
		die("msync of the pool");
	printf("corrupted one byte of the mark\n");
	munmap(p, size);
	close(fd);
	evict_page_cache();
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *cmd = argv[1];
	argc--;
	argv++;
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "pwrite", cmd_pwrite }, { "pwrites", cmd_pwrites },
		{ "flush", cmd_flush }, { "flushr", cmd_flushr },
		{ "verify", cmd_verify }, { "async", cmd_async }, { "asyncr", cmd_asyncr },
		{ "rawflush", cmd_rawflush }, { "map", cmd_map },
		{ "attrs", cmd_attrs }, { "bad", cmd_bad },
		{ "read", cmd_read }, { "readseq", cmd_readseq },
		{ "check", cmd_check }, { "corrupt", cmd_corrupt },
		{ "count", cmd_count },
	};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i].name) == 0)
			return cmds[i].fn(argc, argv);
	usage();
	return 2;
}
