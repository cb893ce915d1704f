/*
 * mirror_load: the loads of bench/mirror, on any file system.
 *
 *   mirror_load sync MODE FILE N ITERATIONS
 *     N dirty 4 KiB ranges (16 pages apart: they never merge), then one
 *     sync point; both the sync call alone and the whole cycle (making
 *     the ranges dirty + the sync) are timed.  MODE:
 *       fdatasync  pwrite the N blocks, fdatasync
 *       lib        pwrite the N blocks, nvmpfs_optimized_flush of them
 *       libmap     store into N pages of a shared mapping,
 *                  nvmpfs_optimized_flush of them
 *       bare       fdatasync with nothing dirty (the sync round trip)
 *     Prints "sync_us=MEDIAN sync_p90_us=P90 cycle_us=MEDIAN
 *     cycle_p90_us=P90".  The last bytes written are read back and
 *     checked (a fresh open) before it exits.
 *
 *   mirror_load randwrite FILE SIZE_MIB MILLISECONDS SEED
 *     Fills FILE (SIZE_MIB, untimed, then fsync), then for MILLISECONDS
 *     writes a 4 KiB block at a random place and fdatasyncs it; prints
 *     "ops=N seconds=S iops=I".  Then drops the file's cached pages,
 *     opens it again and checks that every block holds the bytes last
 *     written to it: "verified=BLOCKS".  Exit status 1 on any error or
 *     mismatch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "nvmpfs.h"

#define BLOCK 4096u
#define STRIDE 16u

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, unsigned n, unsigned p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(size_t)n * p / 100 < n ? (size_t)n * p / 100 : n - 1];
}

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "mirror_load: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

/* The bytes of block BLOCK at generation GEN: a pseudo-random stream. */
static void pattern(uint8_t *buf, uint64_t seed, uint64_t block, uint64_t gen)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ block * 0xC2B2AE3D27D4EB4Full ^
		     (gen + 1) * 0x165667B19E3779F9ull;
	for (unsigned i = 0; i < BLOCK; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
}

/* ---- sync ---- */

struct sync_run {
	const char *mode, *path;
	unsigned n, iters;
	int fd;
	char *map;
	size_t len;
	struct nvmpfs_range ranges[NVMPFS_MAX_RANGES];
	uint8_t *blocks;	/* each range's bytes, made before the timing */
};

/* Range I's bytes at iteration IT: its pattern, stamped with IT. */
static uint8_t *range_bytes(struct sync_run *r, unsigned i, unsigned it)
{
	uint8_t *b = r->blocks + (size_t)i * BLOCK;
	memcpy(b, &it, sizeof(it));
	return b;
}

static int make_dirty(struct sync_run *r, unsigned it)
{
	for (unsigned i = 0; i < r->n; i++) {
		size_t off = (size_t)i * STRIDE * BLOCK;
		uint8_t *bytes = range_bytes(r, i, it);
		r->ranges[i] = (struct nvmpfs_range){ off, BLOCK };
		if (!strcmp(r->mode, "libmap")) {
			memcpy(r->map + off, bytes, BLOCK);
		} else if (strcmp(r->mode, "bare") &&
			   pwrite(r->fd, bytes, BLOCK, (off_t)off) != BLOCK) {
			return fail("pwrite", r->path);
		}
	}
	return 0;
}

static int sync_point(struct sync_run *r)
{
	if (!strcmp(r->mode, "lib") || !strcmp(r->mode, "libmap"))
		return nvmpfs_optimized_flush(r->fd, r->ranges, r->n);
	return fdatasync(r->fd);
}

/* The last iteration's bytes, through a fresh open. */
static int check_last(struct sync_run *r)
{
	if (!strcmp(r->mode, "bare"))
		return 0;
	int fd = open(r->path, O_RDONLY);
	if (fd < 0)
		return fail("open", r->path);
	uint8_t got[BLOCK];
	for (unsigned i = 0; i < r->n; i++) {
		uint8_t *want = range_bytes(r, i, r->iters - 1);
		if (pread(fd, got, BLOCK, (off_t)i * STRIDE * BLOCK) != BLOCK ||
		    memcmp(got, want, BLOCK)) {
			fprintf(stderr, "mirror_load: %s: range %u does not hold "
				"what was written\n", r->path, i);
			close(fd);
			return 1;
		}
	}
	close(fd);
	return 0;
}

static int run_sync(struct sync_run *r)
{
	r->len = (size_t)r->n * STRIDE * BLOCK;
	r->blocks = malloc((size_t)r->n * BLOCK);
	if (!r->blocks)
		return fail("malloc", r->path);
	for (unsigned i = 0; i < r->n; i++)
		pattern(r->blocks + (size_t)i * BLOCK, 1, i, 0);
	r->fd = open(r->path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (r->fd < 0 || ftruncate(r->fd, (off_t)r->len) < 0)
		return fail("create", r->path);
	if (!strcmp(r->mode, "libmap")) {
		r->map = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			      r->fd, 0);
		if (r->map == MAP_FAILED)
			return fail("mmap", r->path);
	}
	double *sync_t = calloc(r->iters, sizeof(double));
	double *cycle_t = calloc(r->iters, sizeof(double));
	for (unsigned it = 0; it < r->iters; it++) {
		double t0 = now_us();
		if (make_dirty(r, it))
			return 1;
		double t1 = now_us();
		if (sync_point(r) < 0)
			return fail(r->mode, r->path);
		double t2 = now_us();
		sync_t[it] = t2 - t1;
		cycle_t[it] = t2 - t0;
	}
	if (r->map)
		munmap(r->map, r->len);
	close(r->fd);
	if (check_last(r))
		return 1;
	printf("sync_us=%.2f sync_p90_us=%.2f ", pct(sync_t, r->iters, 50),
	       pct(sync_t, r->iters, 90));
	printf("cycle_us=%.2f cycle_p90_us=%.2f\n", pct(cycle_t, r->iters, 50),
	       pct(cycle_t, r->iters, 90));
	free(sync_t);
	free(cycle_t);
	return 0;
}

/* ---- randwrite ---- */

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* 1 MiB writes: on a pool on disk, each write is an fdatasync. */
static int fill(int fd, const char *path, uint64_t seed, uint64_t blocks)
{
	const uint64_t chunk = 256;
	uint8_t *buf = malloc(chunk * BLOCK);
	if (!buf)
		return fail("malloc", path);
	for (uint64_t b = 0; b < blocks; b += chunk) {
		uint64_t n = blocks - b < chunk ? blocks - b : chunk;
		for (uint64_t i = 0; i < n; i++)
			pattern(buf + i * BLOCK, seed, b + i, 0);
		if (pwrite(fd, buf, n * BLOCK, (off_t)(b * BLOCK)) !=
		    (ssize_t)(n * BLOCK)) {
			free(buf);
			return fail("fill", path);
		}
	}
	free(buf);
	return fsync(fd) < 0 ? fail("fsync", path) : 0;
}

static int verify_all(const char *path, uint64_t seed, const uint32_t *gen,
		      uint64_t blocks)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return fail("open", path);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return fail("open", path);
	uint8_t want[BLOCK], got[BLOCK];
	for (uint64_t b = 0; b < blocks; b++) {
		pattern(want, seed, b, gen[b]);
		if (pread(fd, got, BLOCK, (off_t)(b * BLOCK)) != BLOCK ||
		    memcmp(want, got, BLOCK)) {
			fprintf(stderr, "mirror_load: %s: block %" PRIu64
				" does not hold its last write\n", path, b);
			close(fd);
			return 1;
		}
	}
	close(fd);
	printf("verified=%" PRIu64 "\n", blocks);
	return 0;
}

static int run_randwrite(const char *path, uint64_t mib, double ms,
			 uint64_t seed)
{
	uint64_t blocks = mib * (1u << 20) / BLOCK;
	uint32_t *gen = calloc(blocks, sizeof(*gen));
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (!gen || fd < 0)
		return fail("create", path);
	if (fill(fd, path, seed, blocks))
		return 1;
	uint8_t buf[BLOCK];
	uint64_t rnd = seed | 1, ops = 0;
	double t0 = now_us(), t = t0;
	while (t - t0 < ms * 1000) {
		uint64_t b = next_random(&rnd) % blocks;
		pattern(buf, seed, b, ++gen[b]);
		if (pwrite(fd, buf, BLOCK, (off_t)(b * BLOCK)) != BLOCK)
			return fail("pwrite", path);
		if (fdatasync(fd) < 0)
			return fail("fdatasync", path);
		ops++;
		t = now_us();
	}
	close(fd);
	double s = (t - t0) / 1e6;
	printf("ops=%" PRIu64 " seconds=%.3f iops=%.1f\n", ops, s, ops / s);
	int rc = verify_all(path, seed, gen, blocks);
	free(gen);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "sync")) {
		static struct sync_run r;
		r.mode = argv[2];
		r.path = argv[3];
		r.n = (unsigned)atoi(argv[4]);
		r.iters = (unsigned)atoi(argv[5]);
		if (strcmp(r.mode, "fdatasync") && strcmp(r.mode, "lib") &&
		    strcmp(r.mode, "libmap") && strcmp(r.mode, "bare")) {
			fprintf(stderr, "mirror_load: unknown mode %s\n", r.mode);
			return 2;
		}
		if (r.n < 1 || r.n > NVMPFS_MAX_RANGES || r.iters < 1) {
			fprintf(stderr, "mirror_load: N must be 1..%u, "
				"ITERATIONS at least 1\n", NVMPFS_MAX_RANGES);
			return 2;
		}
		return run_sync(&r);
	}
	if (argc == 6 && !strcmp(argv[1], "randwrite")) {
		uint64_t mib = strtoull(argv[3], NULL, 0);
		double ms = atof(argv[4]);
		if (mib < 1 || ms <= 0) {
			fprintf(stderr, "mirror_load: SIZE_MIB and MILLISECONDS "
				"must be positive\n");
			return 2;
		}
		return run_randwrite(argv[2], mib, ms, strtoull(argv[5], NULL, 0));
	}
	fprintf(stderr, "usage: mirror_load sync fdatasync|lib|libmap|bare FILE "
		"N ITERATIONS\n       mirror_load randwrite FILE SIZE_MIB "
		"MILLISECONDS SEED\n");
	return 2;
}
