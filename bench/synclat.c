/*
 * synclat: latency of one sync point with N dirty 4 KiB ranges.
 * usage: synclat MODE FILE N ITERATIONS
 *   msync   store into N separated pages of a shared mapping, msync(MS_SYNC)
 *   fsync   pwrite N separated 4 KiB blocks, then fsync (the fsync is timed)
 *   lib     store into N pages, nvmpfs_optimized_flush of the N ranges
 *   bare    fsync with nothing dirty (the FSYNC round trip)
 * Prints the median and 90th percentile in microseconds.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "nvmpfs.h"

#define PAGE 4096u
#define STRIDE 16u /* pages between dirty ranges: they never merge */

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: synclat msync|fsync|lib|bare FILE N ITERATIONS\n");
		return 2;
	}
	const char *mode = argv[1];
	unsigned n = (unsigned)atoi(argv[3]), iters = (unsigned)atoi(argv[4]);
	size_t len = (size_t)(n ? n : 1) * STRIDE * PAGE;
	int fd = open(argv[2], O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0) {
		perror(argv[2]);
		return 1;
	}
	char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	char buf[PAGE];
	memset(buf, 'x', sizeof(buf));
	struct nvmpfs_range ranges[NVMPFS_MAX_RANGES];
	double *t = calloc(iters, sizeof(*t));
	for (unsigned it = 0; it < iters; it++) {
		for (unsigned i = 0; i < n; i++) {
			size_t off = (size_t)i * STRIDE * PAGE;
			ranges[i] = (struct nvmpfs_range){ off, PAGE };
			if (strcmp(mode, "fsync") == 0) {
				buf[0] = (char)it;
				if (pwrite(fd, buf, PAGE, (off_t)off) != PAGE)
					return 1;
			} else if (strcmp(mode, "bare") != 0) {
				map[off] = (char)it;
				map[off + PAGE - 1] = (char)it;
			}
		}
		double t0 = now_us();
		int rc;
		if (strcmp(mode, "msync") == 0)
			rc = msync(map, len, MS_SYNC);
		else if (strcmp(mode, "lib") == 0)
			rc = nvmpfs_optimized_flush(fd, ranges, n);
		else
			rc = fsync(fd);
		t[it] = now_us() - t0;
		if (rc < 0) {
			perror(mode);
			return 1;
		}
	}
	qsort(t, iters, sizeof(*t), cmp);
	printf("%s n=%u median_us=%.2f p90_us=%.2f\n", mode, n, t[iters / 2],
	       t[iters * 9 / 10]);
	return 0;
}
