/*
 * dax_bench: what a store costs to make durable through a direct mapping
 * of libnvmpfs, beside the other ways (bench/run --only dax runs it; see
 * bench/README.md).
 *
 * usage: dax_bench NVMPFS_DIR SHM_DIR REPS
 *
 * Cases, each a store of SIZE bytes at a random aligned place of a 64 MiB
 * file, then the call that makes it durable (latency of the pair, per
 * operation: median and 99th percentile):
 *   direct     nvmpfs_map_direct + nvmpfs_persist (flushes and a fence in
 *              user space)
 *   socket     the same with NVMPFS_DIRECT_PERSIST=socket: one round trip
 *              to the daemon a persist through its persist socket (what a
 *              pool with a mirror pays, before the mirror's own round
 *              trip); the mount needs persist_socket=on (checked)
 *   ioctl      the same with NVMPFS_DIRECT_PERSIST=ioctl: the round trip
 *              through NVMPFS_IOC_PERSIST (the kernel's FUSE queue)
 *   msync      nvmpfs_map (the page cache) + msync(MS_SYNC) of the page
 *              (the kernel sends a WRITE and an FSYNC to the daemon)
 *   pmem       libpmem alone: pmem_map_file of a file in SHM_DIR and
 *              pmem_persist (needs PMEM_IS_PMEM_FORCE=1 there): the
 *              physical limit of the machine
 * for SIZE 64 B, 4 KiB and 64 KiB (msync, socket, ioctl: 64 B and 4 KiB); and
 * a random 4 KiB update workload (store 4 KiB + persist, back to back) as
 * throughput.  Within each repetition the cases of one size take turns
 * operation by operation, and the throughput cases run one after another.
 *
 * Output: one line per case, "case=NAME size=BYTES median_ns=.. p99_ns=..
 * ops_per_s=..", then the ratios.  Timing uses clock_gettime around each
 * operation (about 20 ns of it is in every figure alike).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libpmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "nvmpfs.h"

#define FILE_SIZE (64u << 20)
#define OPS_PER_REP 2000u        /* latency samples per case and repetition */
#define THROUGHPUT_NS 300000000ull /* random 4 KiB updates: per case and rep */

enum kind { DIRECT, SOCKET, IOCTL, MSYNC, PMEM, NKINDS };
static const char *kind_name[NKINDS] = { "direct", "socket", "ioctl", "msync",
					 "pmem" };

struct target {
	char *base;
	enum kind kind;
};

struct samples {
	double *ns;
	size_t n, cap;
	uint64_t ops;            /* throughput case */
	double seconds;
};

struct lat_case {
	enum kind kind;
	size_t size;
	struct samples s;
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "dax_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int persist(const struct target *t, void *addr, size_t len)
{
	if (t->kind == PMEM) {
		pmem_persist(addr, len);
		return 0;
	}
	return nvmpfs_persist(addr, len);
}

static void add(struct samples *s, double ns)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->ns = realloc(s->ns, s->cap * sizeof(*s->ns));
		if (!s->ns)
			die("realloc");
	}
	s->ns[s->n++] = ns;
}

static const char *src_block(size_t size)
{
	static char *buf;
	if (!buf) {
		buf = malloc(64 << 10);
		if (!buf)
			die("malloc");
		for (size_t i = 0; i < (64 << 10); i++)
			buf[i] = (char)(i * 7 + 1);
	}
	buf[next_random() % size]++;  /* every store changes something */
	return buf;
}

static void one_op(const struct target *t, size_t size, struct samples *s)
{
	char *at = t->base + next_random() % (FILE_SIZE / size) * size;
	const char *src = src_block(size);
	double t0 = now_ns();
	memcpy(at, src, size);
	if (persist(t, at, size) < 0)
		die("persist");
	add(s, now_ns() - t0);
}

/*
 * The cases of one size take turns operation by operation (in one order,
 * then the other), so that a passing disturbance of the machine (it is
 * shared) and the effects of going first hit them alike.
 */
static void latency(const struct target *t, struct lat_case *cases,
		    size_t ncases, size_t size)
{
	for (unsigned i = 0; i < OPS_PER_REP; i++)
		for (size_t k = 0; k < ncases; k++) {
			/* Forward, then backward: no case always comes first. */
			size_t c = i % 2 ? ncases - 1 - k : k;
			if (cases[c].size == size)
				one_op(&t[cases[c].kind], size, &cases[c].s);
		}
}

static void throughput(const struct target *t, struct samples *s)
{
	double t0 = now_ns(), t1;
	uint64_t ops = 0;
	do {
		for (int k = 0; k < 64; k++, ops++) {
			char *at = t->base + next_random() % (FILE_SIZE / 4096) * 4096;
			memcpy(at, src_block(4096), 4096);
			if (persist(t, at, 4096) < 0)
				die("persist");
		}
		t1 = now_ns();
	} while (t1 - t0 < THROUGHPUT_NS);
	s->ops += ops;
	s->seconds += (t1 - t0) / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(struct samples *s, double p)
{
	qsort(s->ns, s->n, sizeof(*s->ns), cmp);
	size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
	return s->ns[i];
}

/* An nvmpfs file of FILE_SIZE bytes, mapped as kind says. */
static struct target map_nvmpfs(const char *dir, const char *name,
				enum kind kind)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || ftruncate(fd, FILE_SIZE) < 0)
		die(path);
	if (kind == SOCKET || kind == IOCTL)
		setenv("NVMPFS_DIRECT_PERSIST", kind_name[kind], 1);
	void *p = kind == MSYNC ? nvmpfs_map(fd, FILE_SIZE, 0)
				: nvmpfs_map_direct(fd, FILE_SIZE, 0);
	unsetenv("NVMPFS_DIRECT_PERSIST");
	if (!p)
		die(kind == MSYNC ? "nvmpfs_map" : "nvmpfs_map_direct");
	if (kind != MSYNC && !nvmpfs_is_direct(p)) {
		fprintf(stderr, "dax_bench: not a direct mapping\n");
		exit(1);
	}
	memset(p, 1, FILE_SIZE); /* every page present: no fault is timed */
	if (persist(&(struct target){ p, kind }, p, FILE_SIZE) < 0)
		die("persist");
	struct nvmpfs_ioc_stats st;
	if (kind == SOCKET && (ioctl(fd, NVMPFS_IOC_STATS, &st) < 0 ||
			       st.persist_clients == 0)) {
		fprintf(stderr, "dax_bench: the socket case persists through the "
			"ioctl: mount with -o persist_socket=on\n");
		exit(1);
	}
	close(fd);
	return (struct target){ p, kind };
}

static struct target map_pmem(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/dax_bench.%d.pmem", dir, (int)getpid());
	size_t len;
	int is_pmem;
	void *p = pmem_map_file(path, FILE_SIZE, PMEM_FILE_CREATE, 0600, &len,
				&is_pmem);
	if (!p)
		die(path);
	unlink(path);
	if (!is_pmem) {
		fprintf(stderr, "dax_bench: %s is not pmem to libpmem: set "
			"PMEM_IS_PMEM_FORCE=1\n", path);
		exit(1);
	}
	memset(p, 1, FILE_SIZE);
	pmem_persist(p, FILE_SIZE);
	return (struct target){ p, PMEM };
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: dax_bench NVMPFS_DIR SHM_DIR REPS\n");
		return 2;
	}
	int reps = atoi(argv[3]);
	struct target t[NKINDS] = {
		[DIRECT] = map_nvmpfs(argv[1], "dax_bench.direct", DIRECT),
		[SOCKET] = map_nvmpfs(argv[1], "dax_bench.socket", SOCKET),
		[IOCTL] = map_nvmpfs(argv[1], "dax_bench.ioctl", IOCTL),
		[MSYNC] = map_nvmpfs(argv[1], "dax_bench.msync", MSYNC),
		[PMEM] = map_pmem(argv[2]),
	};
	struct lat_case cases[] = {
		{ .kind = DIRECT, .size = 64 }, { .kind = PMEM, .size = 64 },
		{ .kind = MSYNC, .size = 64 }, { .kind = SOCKET, .size = 64 },
		{ .kind = IOCTL, .size = 64 },
		{ .kind = DIRECT, .size = 4096 }, { .kind = PMEM, .size = 4096 },
		{ .kind = MSYNC, .size = 4096 }, { .kind = SOCKET, .size = 4096 },
		{ .kind = IOCTL, .size = 4096 },
		{ .kind = DIRECT, .size = 65536 }, { .kind = PMEM, .size = 65536 },
	};
	const size_t ncases = sizeof(cases) / sizeof(cases[0]);
	const size_t sizes[3] = { 64, 4096, 65536 };
	struct samples rand4k[NKINDS] = { { 0 } };
	for (int r = 0; r < reps; r++) {
		for (size_t i = 0; i < 3; i++)
			latency(t, cases, ncases, sizes[i]);
		for (int k = 0; k < NKINDS; k++)
			throughput(&t[k], &rand4k[k]);
	}
	double med[NKINDS][3] = { { 0 } };
	for (size_t c = 0; c < ncases; c++) {
		struct lat_case *lc = &cases[c];
		double m = pct(&lc->s, 0.5), p99 = pct(&lc->s, 0.99);
		int col = lc->size == 64 ? 0 : lc->size == 4096 ? 1 : 2;
		med[lc->kind][col] = m;
		printf("case=%s size=%zu median_ns=%.0f p99_ns=%.0f\n",
		       kind_name[lc->kind], lc->size, m, p99);
	}
	for (int k = 0; k < NKINDS; k++)
		printf("case=%s_rand4k size=4096 ops_per_s=%.0f\n", kind_name[k],
		       (double)rand4k[k].ops / rand4k[k].seconds);
	printf("ratio msync64/direct64=%.1f direct64/pmem64=%.2f "
	       "direct4k/pmem4k=%.2f direct64k/pmem64k=%.2f socket64/direct64=%.1f "
	       "ioctl64/socket64=%.2f\n",
	       med[MSYNC][0] / med[DIRECT][0], med[DIRECT][0] / med[PMEM][0],
	       med[DIRECT][1] / med[PMEM][1], med[DIRECT][2] / med[PMEM][2],
	       med[SOCKET][0] / med[DIRECT][0], med[IOCTL][0] / med[SOCKET][0]);
	nvmpfs_unmap(t[DIRECT].base, FILE_SIZE);
	nvmpfs_unmap(t[SOCKET].base, FILE_SIZE);
	nvmpfs_unmap(t[IOCTL].base, FILE_SIZE);
	nvmpfs_unmap(t[MSYNC].base, FILE_SIZE);
	pmem_unmap(t[PMEM].base, FILE_SIZE);
	return 0;
}
