/*
 * nvbench: the small workloads of bench/run that fio does not cover.
 *
 *   nvbench mmap DIR FILE_MIB OPS THREADS
 *       Each thread: a file of FILE_MIB MiB (written with pwrite, fsynced),
 *       mapped MAP_SHARED; OPS times: store 4 KiB at a random page, then
 *       msync(MS_SYNC) of that page.  Afterwards every page is read back
 *       with pread (after dropping the file's page cache) and checked.
 *   nvbench files DIR N [THREADS]
 *       N files of 4 KiB in subdirectories of 1000: create+write+close,
 *       then (caches dropped) stat, then a check of every 16th file's bytes,
 *       then unlink (and rmdir).  With THREADS (default 1), each thread
 *       does its share of the N files in its own subtree DIR/tT, every
 *       phase on all threads at once; times are wall-clock per file.
 *   nvbench dir DIR N LOOKUPS
 *       N empty files in one directory: create; (caches dropped) LOOKUPS
 *       stats of existing names in a scattered order; unlink of all.
 *
 * Each prints one line of key=value pairs (times in microseconds per
 * operation, or ops per second) and exits non-zero on any error or
 * mismatch.  Dropping caches (/proc/sys/vm/drop_caches) needs root; if it
 * fails the line says cold=0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "nvbench: %s %s: %s\n", what, path ? path : "",
		strerror(errno));
	exit(2);
}

static uint64_t rng(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void fill(unsigned char *p, size_t n, uint64_t tag)
{
	uint64_t s = tag;
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t v = rng(&s);
		memcpy(p + i, &v, 8);
	}
}

static int cold(void)
{
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0)
		return 0;
	int ok = write(fd, "2", 1) == 1;
	close(fd);
	usleep(200000);	/* let the FORGETs reach the daemons */
	return ok;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* ---- mmap ---------------------------------------------------------- */

struct mjob {
	char path[4096];
	size_t pages;
	long ops;
	int id;
	double *lat;
	double elapsed;
	int bad;
};

static void *mmap_job(void *arg)
{
	struct mjob *j = arg;
	size_t size = j->pages * PAGE;
	int fd = open(j->path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open", j->path);
	unsigned char *buf = calloc(1, 1 << 20);
	for (size_t off = 0; off < size; off += 1 << 20) {
		size_t n = size - off < (1 << 20) ? size - off : 1 << 20;
		if (pwrite(fd, buf, n, off) != (ssize_t)n)
			die("pwrite", j->path);
	}
	if (fsync(fd))
		die("fsync", j->path);
	/* last[i]: tag of the last store to page i (0: zeros) */
	uint64_t *last = calloc(j->pages, sizeof *last);
	unsigned char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		die("mmap", j->path);
	uint64_t s = 12345 + j->id;
	double t0 = now();
	for (long i = 0; i < j->ops; i++) {
		size_t pg = rng(&s) % j->pages;
		uint64_t tag = ((uint64_t)(j->id + 1) << 48) | (uint64_t)(i + 1);
		double a = now();
		fill(m + pg * PAGE, PAGE, tag);
		if (msync(m + pg * PAGE, PAGE, MS_SYNC))
			die("msync", j->path);
		j->lat[i] = (now() - a) * 1e6;
		last[pg] = tag;
	}
	j->elapsed = now() - t0;
	munmap(m, size);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	unsigned char *want = malloc(PAGE), *got = malloc(PAGE);
	for (size_t pg = 0; pg < j->pages; pg++) {
		if (pread(fd, got, PAGE, pg * PAGE) != PAGE)
			die("pread", j->path);
		if (last[pg])
			fill(want, PAGE, last[pg]);
		else
			memset(want, 0, PAGE);
		if (memcmp(want, got, PAGE)) {
			if (!j->bad)
				fprintf(stderr, "nvbench: %s: page %zu differs\n", j->path, pg);
			j->bad++;
		}
	}
	close(fd);
	unlink(j->path);
	free(buf); free(last); free(want); free(got);
	return NULL;
}

static int do_mmap(const char *dir, long mib, long ops, int threads)
{
	struct mjob *jobs = calloc(threads, sizeof *jobs);
	pthread_t *tid = calloc(threads, sizeof *tid);
	double *lat = calloc((size_t)ops * threads, sizeof *lat);
	for (int t = 0; t < threads; t++) {
		snprintf(jobs[t].path, sizeof jobs[t].path, "%s/mmap.%d", dir, t);
		jobs[t].pages = (size_t)mib * (1 << 20) / PAGE;
		jobs[t].ops = ops;
		jobs[t].id = t;
		jobs[t].lat = lat + (size_t)t * ops;
	}
	for (int t = 0; t < threads; t++)
		pthread_create(&tid[t], NULL, mmap_job, &jobs[t]);
	double el = 0;
	int bad = 0;
	for (int t = 0; t < threads; t++) {
		pthread_join(tid[t], NULL);
		if (jobs[t].elapsed > el)
			el = jobs[t].elapsed;
		bad += jobs[t].bad;
	}
	long n = ops * threads;
	qsort(lat, n, sizeof *lat, cmp_double);
	printf("ops=%ld threads=%d iops=%.1f median_us=%.2f p99_us=%.2f mean_us=%.2f bad_pages=%d\n",
	       n, threads, n / el, lat[n / 2], lat[(long)(n * 0.99)],
	       el * 1e6 * threads / n, bad);
	return bad ? 1 : 0;
}

/* ---- many small files --------------------------------------------- */

/* A thread's share of the files: its own subtree DIR/tT, so that threads
 * never share a directory (what "private files" means here). */
struct fjob {
	const char *dir;
	int id;
	long first, count;	/* global numbers first .. first+count-1 */
	int bad;
};

static void fpath(char *p, size_t sz, const struct fjob *j, long k)
{
	snprintf(p, sz, "%s/t%d/d%04ld/f%07ld", j->dir, j->id, k / 1000, j->first + k);
}

static void fsubdir(char *p, size_t sz, const struct fjob *j, long d)
{
	if (d < 0)
		snprintf(p, sz, "%s/t%d", j->dir, j->id);
	else
		snprintf(p, sz, "%s/t%d/d%04ld", j->dir, j->id, d);
}

static void *files_create(void *arg)
{
	struct fjob *j = arg;
	char p[4096];
	unsigned char *buf = malloc(PAGE);
	for (long d = -1; d < (j->count + 999) / 1000; d++) {
		fsubdir(p, sizeof p, j, d);
		if (mkdir(p, 0755))
			die("mkdir", p);
	}
	for (long k = 0; k < j->count; k++) {
		fpath(p, sizeof p, j, k);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			die("create", p);
		fill(buf, PAGE, j->first + k + 1);
		if (write(fd, buf, PAGE) != PAGE)
			die("write", p);
		if (close(fd))
			die("close", p);
	}
	free(buf);
	return NULL;
}

static void *files_stat(void *arg)
{
	struct fjob *j = arg;
	char p[4096];
	struct stat st;
	for (long n = 0; n < j->count; n++) {
		fpath(p, sizeof p, j, (n * 7919) % j->count);	/* scattered order */
		if (stat(p, &st))
			die("stat", p);
		if (st.st_size != PAGE) {
			fprintf(stderr, "nvbench: %s: size %lld\n", p, (long long)st.st_size);
			exit(1);
		}
	}
	return NULL;
}

static void *files_check(void *arg)
{
	struct fjob *j = arg;
	char p[4096];
	unsigned char *want = malloc(PAGE), *got = malloc(PAGE);
	for (long k = 0; k < j->count; k += 16) {
		fpath(p, sizeof p, j, k);
		int fd = open(p, O_RDONLY);
		if (fd < 0)
			die("open", p);
		if (read(fd, got, PAGE) != PAGE)
			die("read", p);
		close(fd);
		fill(want, PAGE, j->first + k + 1);
		if (memcmp(want, got, PAGE)) {
			if (!j->bad)
				fprintf(stderr, "nvbench: %s: contents differ\n", p);
			j->bad++;
		}
	}
	free(want);
	free(got);
	return NULL;
}

static void *files_unlink(void *arg)
{
	struct fjob *j = arg;
	char p[4096];
	for (long k = 0; k < j->count; k++) {
		fpath(p, sizeof p, j, k);
		if (unlink(p))
			die("unlink", p);
	}
	for (long d = (j->count + 999) / 1000 - 1; d >= -1; d--) {
		fsubdir(p, sizeof p, j, d);
		if (rmdir(p))
			die("rmdir", p);
	}
	return NULL;
}

/* one phase on every thread at once; wall-clock seconds until the last ends */
static double files_phase(void *(*fn)(void *), struct fjob *jobs, int threads)
{
	pthread_t *tid = calloc(threads, sizeof *tid);
	double t0 = now();
	for (int t = 0; t < threads; t++)
		if ((errno = pthread_create(&tid[t], NULL, fn, &jobs[t])))
			die("pthread_create", NULL);
	for (int t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);
	double el = now() - t0;
	free(tid);
	return el;
}

static int do_files(const char *dir, long n, int threads)
{
	if (threads < 1 || n < threads) {
		fprintf(stderr, "nvbench: files: need 1 <= THREADS <= N\n");
		return 2;
	}
	struct fjob *jobs = calloc(threads, sizeof *jobs);
	for (int t = 0; t < threads; t++) {
		jobs[t].dir = dir;
		jobs[t].id = t;
		jobs[t].first = n * t / threads;
		jobs[t].count = n * (t + 1) / threads - jobs[t].first;
	}
	double create = files_phase(files_create, jobs, threads) / n * 1e6;
	int c = cold();
	double statt = files_phase(files_stat, jobs, threads) / n * 1e6;
	files_phase(files_check, jobs, threads);
	double unl = files_phase(files_unlink, jobs, threads) / n * 1e6;
	int bad = 0;
	for (int t = 0; t < threads; t++)
		bad += jobs[t].bad;
	free(jobs);
	printf("files=%ld threads=%d create_us=%.2f stat_us=%.2f unlink_us=%.2f cold=%d bad=%d\n",
	       n, threads, create, statt, unl, c, bad);
	return bad ? 1 : 0;
}

/* ---- one big directory -------------------------------------------- */

static int do_dir(const char *dir, long n, long lookups)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/big", dir);
	if (mkdir(p, 0755))
		die("mkdir", p);
	double t0 = now();
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/big/entry-%09ld", dir, i);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			die("create", p);
		close(fd);
	}
	double create = (now() - t0) / n * 1e6;
	if (lookups > n)
		lookups = n;
	int c = cold();
	struct stat st;
	/* scattered order; a stride prime to n would be nicer, a large odd one does */
	long stride = 1000003;
	t0 = now();
	for (long k = 0; k < lookups; k++) {
		long i = (k * stride) % n;
		snprintf(p, sizeof p, "%s/big/entry-%09ld", dir, i);
		if (stat(p, &st))
			die("stat", p);
	}
	double look = (now() - t0) / lookups * 1e6;
	/* a miss must stay a miss */
	snprintf(p, sizeof p, "%s/big/entry-%09ld", dir, n);
	if (stat(p, &st) == 0 || errno != ENOENT) {
		fprintf(stderr, "nvbench: %s exists\n", p);
		return 1;
	}
	t0 = now();
	for (long i = 0; i < n; i++) {
		snprintf(p, sizeof p, "%s/big/entry-%09ld", dir, i);
		if (unlink(p))
			die("unlink", p);
	}
	double unl = (now() - t0) / n * 1e6;
	snprintf(p, sizeof p, "%s/big", dir);
	if (rmdir(p))
		die("rmdir", p);
	printf("entries=%ld create_us=%.2f lookup_us=%.2f unlink_us=%.2f lookups=%ld cold=%d\n",
	       n, create, look, unl, lookups, c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "mmap"))
		return do_mmap(argv[2], atol(argv[3]), atol(argv[4]), atoi(argv[5]));
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "files"))
		return do_files(argv[2], atol(argv[3]), argc == 5 ? atoi(argv[4]) : 1);
	if (argc == 5 && !strcmp(argv[1], "dir"))
		return do_dir(argv[2], atol(argv[3]), atol(argv[4]));
	fprintf(stderr,
		"usage: nvbench mmap DIR FILE_MIB OPS THREADS\n"
		"       nvbench files DIR N [THREADS]\n"
		"       nvbench dir DIR N LOOKUPS\n");
	return 2;
}
