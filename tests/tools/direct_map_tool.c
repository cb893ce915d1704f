/*
 * direct_map_tool: drives libnvmpfs's direct mappings (nvmpfs_map_direct,
 * nvmpfs_persist, nvmpfs_unmap) for the dax tests (tests/nvmpfs/180..189).
 * Prints deterministic lines only: errno names, never addresses, pool
 * offsets, pids or times.  Exit status: 0 when the commands ran (a call
 * that failed as a test expects is printed, not fatal), 2 for usage
 * errors and failures of the tool itself.
 *
 * Build (the tests do it):
 *   cc -Wall -Wextra -Werror -O2 -I$TOP/include direct_map_tool.c \
 *      -L$TOP/lib/.libs -lnvmpfs -Wl,-rpath,$TOP/lib/.libs -o dmtool
 *
 *   dmtool write FILE OFF LEN SEED     pwrite the pattern SEED at OFF
 *   dmtool verify FILE OFF LEN SEED    read() it back (a fresh open):
 *                                      "read ok" or where it differs
 *   dmtool mix FILE OFF LEN SEED1 SEED2
 *                                      read() it back: is every aligned
 *                                      8-byte word the pattern SEED1's or
 *                                      SEED2's (a store cut by a crash)?
 *   dmtool rawlease FILE rw|ro FLAGS OFF LEN
 *                                      NVMPFS_IOC_LEASE itself (FLAGS as
 *                                      the ioctl takes them), then
 *                                      NVMPFS_IOC_UNLEASE of a wrong id, of
 *                                      the right one through another open
 *                                      of FILE, then through the right one
 *   dmtool map FILE rw|ro|wo|pc OFF LEN STEP...
 *       opens FILE (O_RDWR, O_RDONLY or O_WRONLY; pc: O_RDWR and a
 *       page-cache mapping, nvmpfs_map), maps [OFF, OFF+LEN) directly,
 *       then runs the steps in order (offsets are file offsets).  With a
 *       step "map" the mapping is made there instead, after the steps
 *       before it (ready, waitfor and say only).  Steps:
 *         store:OFF:LEN:SEED     stores the pattern through the mapping
 *         persist:OFF:LEN        nvmpfs_persist of those bytes
 *         flushaddr:OFF/LEN,...  nvmpfs_optimized_flush_addr of ranges
 *         check:OFF:LEN:SEED     do the mapped bytes hold the pattern?
 *         zero:OFF:LEN           do the mapped bytes read zero?
 *         poke:OFF               stores one byte, catching SIGSEGV/SIGBUS
 *         isdirect               nvmpfs_is_direct of the mapping
 *         storeloop:OFF:LEN:SEED:N  N rounds of store + persist + check
 *         closefd                closes the descriptor FILE was opened as
 *         ready:PATH             makes PATH (tells the test where we are)
 *         waitfor:PATH           waits (up to 120 s) until PATH exists
 *         unmap                  nvmpfs_unmap
 *         unmaplen:LEN           nvmpfs_unmap of LEN bytes (a part)
 *         persistother           nvmpfs_persist of memory no mapping has
 *         fork:OFF:LEN           forks; the child tries nvmpfs_persist of
 *                                those bytes and nvmpfs_is_direct of the
 *                                mapping (it has no direct mapping) and
 *                                exits; the parent waits for it
 *         say:TEXT               prints TEXT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nvmpfs.h"

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case EBUSY: return "EBUSY";
	case EBADF: return "EBADF";
	case EROFS: return "EROFS";
	case ESTALE: return "ESTALE";
	case ENOSPC: return "ENOSPC";
	case EIO: return "EIO";
	case ENODEV: return "ENODEV";
	case ENOTCONN: return "ENOTCONN";
	default: return strerror(e);
	}
}

static void die(const char *what)
{
	fprintf(stderr, "dmtool: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void usage(void)
{
	fprintf(stderr, "usage: dmtool write|verify FILE OFF LEN SEED\n"
		"       dmtool map FILE rw|ro OFF LEN STEP...\n");
	exit(2);
}

static uint64_t number(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		usage();
	return v;
}

/* The pattern's byte at file offset off: depends on seed and place. */
static uint8_t pattern_byte(uint64_t seed, uint64_t off)
{
	uint64_t x = (seed << 40) ^ (off / 8) ^ 0x9e3779b97f4a7c15ull;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (uint8_t)(x >> (8 * (off % 8)));
}

static void fill(uint8_t *p, uint64_t off, uint64_t len, uint64_t seed)
{
	for (uint64_t i = 0; i < len; i++)
		p[i] = pattern_byte(seed, off + i);
}

/* First offset where p differs from the pattern, or UINT64_MAX. */
static uint64_t differs(const uint8_t *p, uint64_t off, uint64_t len,
			uint64_t seed)
{
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != (seed ? pattern_byte(seed, off + i) : 0))
			return off + i;
	return UINT64_MAX;
}

static int cmd_write(const char *path, uint64_t off, uint64_t len,
		     uint64_t seed)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	uint8_t *buf = malloc(len);
	if (fd < 0 || !buf)
		die(path);
	fill(buf, off, len, seed);
	if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		die("pwrite");
	close(fd);
	free(buf);
	return 0;
}

static int cmd_verify(const char *path, uint64_t off, uint64_t len,
		      uint64_t seed)
{
	int fd = open(path, O_RDONLY);
	uint8_t *buf = malloc(len);
	if (fd < 0 || !buf)
		die(path);
	ssize_t n = pread(fd, buf, len, (off_t)off);
	uint64_t at = n < 0 ? 0 : (uint64_t)n == len ? differs(buf, off, len, seed)
						  : off + (uint64_t)n;
	if (n < 0)
		printf("read: %s\n", errname(errno));
	else if (at == UINT64_MAX)
		printf("read ok\n");
	else
		printf("read differs at %llu\n", (unsigned long long)at);
	close(fd);
	free(buf);
	return 0;
}

static int cmd_mix(const char *path, uint64_t off, uint64_t len,
		   uint64_t seed1, uint64_t seed2)
{
	int fd = open(path, O_RDONLY);
	uint8_t *buf = malloc(len);
	if (fd < 0 || !buf || off % 8 || len % 8)
		die(path);
	ssize_t n = pread(fd, buf, len, (off_t)off);
	uint64_t w = 0;
	for (; n == (ssize_t)len && w < len; w += 8)
		if (differs(buf + w, off + w, 8, seed1) != UINT64_MAX &&
		    differs(buf + w, off + w, 8, seed2) != UINT64_MAX)
			break;
	if (n != (ssize_t)len)
		printf("read: %s\n", n < 0 ? errname(errno) : "short");
	else if (w < len)
		printf("word at %llu is neither\n", (unsigned long long)(off + w));
	else
		printf("words old or new\n");
	close(fd);
	free(buf);
	return 0;
}

/* ---- the mapping and its steps ---- */

struct mapped {
	int fd;
	uint8_t *base;
	uint64_t off, len;
};

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_sig;

static void on_fault(int sig)
{
	fault_sig = sig;
	siglongjmp(fault_jmp, 1);
}

static uint8_t *at(const struct mapped *m, uint64_t off, uint64_t len)
{
	if (off < m->off || off + len > m->off + m->len) {
		fprintf(stderr, "dmtool: %llu+%llu is outside the mapping\n",
			(unsigned long long)off, (unsigned long long)len);
		exit(2);
	}
	return m->base + (off - m->off);
}

static void poke(const struct mapped *m, uint64_t off)
{
	struct sigaction sa = { .sa_handler = on_fault }, old_segv, old_bus;
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	volatile uint8_t *p = at(m, off, 1);
	if (sigsetjmp(fault_jmp, 1) == 0) {
		*p = 0x5a;
		printf("poke: stored\n");
	} else {
		printf("poke: %s\n", fault_sig == SIGSEGV ? "SIGSEGV" : "SIGBUS");
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
}

static void wait_for(const char *path)
{
	for (int i = 0; i < 120 * 100; i++) {
		if (access(path, F_OK) == 0)
			return;
		usleep(10 * 1000);
	}
	fprintf(stderr, "dmtool: %s did not appear\n", path);
	exit(2);
}

static void report(const char *what, int rc)
{
	if (rc == 0)
		printf("%s: ok\n", what);
	else
		printf("%s: %s\n", what, errname(errno));
}

static void check(const struct mapped *m, uint64_t off, uint64_t len,
		  uint64_t seed, const char *what)
{
	uint64_t d = differs(at(m, off, len), off, len, seed);
	if (d == UINT64_MAX)
		printf("%s: ok\n", what);
	else
		printf("%s: differs at %llu\n", what, (unsigned long long)d);
}

static void flushaddr(const struct mapped *m, char *list)
{
	struct nvmpfs_addr_range r[NVMPFS_MAX_RANGES];
	size_t n = 0;
	for (char *tok = strtok(list, ","); tok && n < NVMPFS_MAX_RANGES;
	     tok = strtok(NULL, ",")) {
		unsigned long long off, len;
		if (sscanf(tok, "%llu/%llu", &off, &len) != 2)
			usage();
		r[n++] = (struct nvmpfs_addr_range){ at(m, off, len), len };
	}
	report("flushaddr", nvmpfs_optimized_flush_addr(r, n));
}

static void storeloop(const struct mapped *m, uint64_t off, uint64_t len,
		      uint64_t seed, uint64_t rounds)
{
	uint64_t bad = 0;
	for (uint64_t r = 0; r < rounds; r++) {
		uint8_t *p = at(m, off, len);
		fill(p, off, len, seed + r);
		if (nvmpfs_persist(p, len) < 0)
			die("nvmpfs_persist");
		bad += differs(p, off, len, seed + r) != UINT64_MAX;
	}
	printf("storeloop: %llu rounds, %llu bad\n", (unsigned long long)rounds,
	       (unsigned long long)bad);
}

/*
 * What a child of fork sees of the parent's direct mapping: none (the
 * pages are not inherited), so a persist of its addresses must fail and
 * touch nothing; the parent's own persists go on (its connections to the
 * daemon are its own: the child closed its copies).
 */
static void fork_step(const struct mapped *m, uint64_t off, uint64_t len)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		report("child persist", nvmpfs_persist(at(m, off, len), len));
		printf("child isdirect: %d\n", nvmpfs_is_direct(m->base));
		fflush(stdout);
		_exit(0);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	printf("child exit: %d\n", WIFEXITED(status) ? WEXITSTATUS(status)
						    : 128 + WTERMSIG(status));
}

/* Splits "name:a:b:c" into name and up to 4 numbers (or a text). */
static int split(char *step, char **name, char **args, int max)
{
	int n = 0;
	*name = step;
	char *c = strchr(step, ':');
	while (c && n < max) {
		*c = '\0';
		args[n++] = c + 1;
		c = strchr(c + 1, ':');
	}
	return n;
}

static void run_step(struct mapped *m, char *step)
{
	char *name, *a[4];
	int n = split(step, &name, a, 4);
#define ARGS(k) do { if (n != (k)) usage(); } while (0)
	if (strcmp(name, "store") == 0) {
		ARGS(3);
		uint64_t off = number(a[0]), len = number(a[1]);
		fill(at(m, off, len), off, len, number(a[2]));
	} else if (strcmp(name, "persist") == 0) {
		ARGS(2);
		uint64_t off = number(a[0]), len = number(a[1]);
		report("persist", nvmpfs_persist(at(m, off, len), len));
	} else if (strcmp(name, "flushaddr") == 0) {
		ARGS(1);
		flushaddr(m, a[0]);
	} else if (strcmp(name, "check") == 0) {
		ARGS(3);
		check(m, number(a[0]), number(a[1]), number(a[2]), "check");
	} else if (strcmp(name, "zero") == 0) {
		ARGS(2);
		check(m, number(a[0]), number(a[1]), 0, "zero");
	} else if (strcmp(name, "poke") == 0) {
		ARGS(1);
		poke(m, number(a[0]));
	} else if (strcmp(name, "isdirect") == 0) {
		printf("isdirect: %d\n", nvmpfs_is_direct(m->base));
	} else if (strcmp(name, "storeloop") == 0) {
		ARGS(4);
		storeloop(m, number(a[0]), number(a[1]), number(a[2]),
			  number(a[3]));
	} else if (strcmp(name, "closefd") == 0) {
		close(m->fd);
	} else if (strcmp(name, "ready") == 0) {
		ARGS(1);
		int fd = open(a[0], O_WRONLY | O_CREAT, 0644);
		if (fd < 0)
			die(a[0]);
		close(fd);
	} else if (strcmp(name, "waitfor") == 0) {
		ARGS(1);
		wait_for(a[0]);
	} else if (strcmp(name, "unmap") == 0) {
		report("unmap", nvmpfs_unmap(m->base, m->len));
	} else if (strcmp(name, "unmaplen") == 0) {
		ARGS(1);
		report("unmap", nvmpfs_unmap(m->base, number(a[0])));
	} else if (strcmp(name, "fork") == 0) {
		ARGS(2);
		fork_step(m, number(a[0]), number(a[1]));
	} else if (strcmp(name, "persistother") == 0) {
		static char other[64];
		report("persist", nvmpfs_persist(other, sizeof(other)));
	} else if (strcmp(name, "say") == 0) {
		ARGS(1);
		printf("%s\n", a[0]);
	} else {
		usage();
	}
	fflush(stdout);
}

static int cmd_map(int argc, char **argv)
{
	if (argc < 4)
		usage();
	const char *mode = argv[1];
	bool pc = strcmp(mode, "pc") == 0;
	int flags = strcmp(mode, "rw") == 0 || pc ? O_RDWR :
		    strcmp(mode, "ro") == 0 ? O_RDONLY :
		    strcmp(mode, "wo") == 0 ? O_WRONLY : -1;
	if (flags < 0)
		usage();
	struct mapped m = { .off = number(argv[2]), .len = number(argv[3]) };
	m.fd = open(argv[0], flags);
	if (m.fd < 0)
		die(argv[0]);
	int first = 4;
	for (int i = 4; i < argc; i++)
		if (strcmp(argv[i], "map") == 0)
			first = i + 1;
	for (int i = 4; i < first - 1; i++) {
		if (strncmp(argv[i], "ready:", 6) && strncmp(argv[i], "waitfor:", 8) &&
		    strncmp(argv[i], "say:", 4))
			usage();  /* nothing is mapped yet */
		run_step(&m, argv[i]);
	}
	m.base = pc ? nvmpfs_map(m.fd, m.len, (off_t)m.off)
		    : nvmpfs_map_direct(m.fd, m.len, (off_t)m.off);
	if (!m.base) {
		printf("map: %s\n", errname(errno));
		return 0;
	}
	printf("map: ok\n");
	fflush(stdout);
	for (int i = first; i < argc; i++)
		run_step(&m, argv[i]);
	return 0;
}

static int cmd_rawlease(int argc, char **argv)
{
	if (argc != 5)
		usage();
	int fd = open(argv[0], strcmp(argv[1], "rw") == 0 ? O_RDWR : O_RDONLY);
	if (fd < 0)
		die(argv[0]);
	struct nvmpfs_ioc_lease *l = calloc(1, sizeof(*l));
	if (!l)
		die("calloc");
	l->flags = (uint32_t)number(argv[2]);
	l->off = number(argv[3]);
	l->len = number(argv[4]);
	if (ioctl(fd, NVMPFS_IOC_LEASE, l) < 0) {
		printf("lease: %s\n", errname(errno));
		free(l);
		close(fd);
		return 0;
	}
	printf("lease: ok, %u extents, path %s\n", l->total_extents,
	       l->pool_path[0] == '/' ? "absolute" : "relative");
	struct nvmpfs_ioc_unlease u = { .lease_id = l->lease_id + 1 };
	report("unlease of another id", ioctl(fd, NVMPFS_IOC_UNLEASE, &u));
	u.lease_id = l->lease_id;
	int other = open(argv[0], O_RDONLY);
	if (other < 0)
		die(argv[0]);
	report("unlease through another open file",
	       ioctl(other, NVMPFS_IOC_UNLEASE, &u));
	close(other);
	report("unlease", ioctl(fd, NVMPFS_IOC_UNLEASE, &u));
	free(l);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "map") == 0)
		return cmd_map(argc - 2, argv + 2);
	if (strcmp(argv[1], "rawlease") == 0)
		return cmd_rawlease(argc - 2, argv + 2);
	if (strcmp(argv[1], "mix") == 0 && argc == 7)
		return cmd_mix(argv[2], number(argv[3]), number(argv[4]),
			       number(argv[5]), number(argv[6]));
	if (argc != 6)
		usage();
	uint64_t off = number(argv[3]), len = number(argv[4]);
	uint64_t seed = number(argv[5]);
	if (strcmp(argv[1], "write") == 0)
		return cmd_write(argv[2], off, len, seed);
	if (strcmp(argv[1], "verify") == 0)
		return cmd_verify(argv[2], off, len, seed);
	usage();
}
