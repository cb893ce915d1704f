/*
 * cache_coherence FILE SECONDS: a read must never return bytes older than
 * a write that completed before the read began, while other threads make
 * the kernel look at the file's attributes and open it again.
 *
 * Writer threads each store a rising generation into their own words of
 * the file's first pages (pwrite of 8 bytes) and publish the generation
 * once the call returned.  Reader threads note the published generations,
 * read the pages (pread, through the page cache) and check that no word is
 * older.  Meanwhile one thread stats the file (the kernel asks the daemon
 * for attributes changed by the writes) and one opens and closes it.
 *
 * That is the case FUSE gets wrong when the page cache is dropped while a
 * write-through WRITE is in flight: the dropped page is read back from the
 * daemon before the WRITE lands, and stays cached with the old bytes.
 *
 * Prints the counts; exits 1 at the first stale read (after 5 reports).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITERS 4
#define READERS 2
#define PAGES 2
#define WORD_STRIDE 64      /* words between two writers' words in a page */

static const char *path;
static int fd;
static uint64_t published[PAGES][WRITERS];
static int stop;
static uint64_t reads, stale, writes, stats, opens;

static void die(const char *what)
{
	fprintf(stderr, "cache_coherence: %s: %s: %s\n", path, what,
		strerror(errno));
	exit(2);
}

static off_t word_offset(int page, int writer)
{
	return (off_t)page * 4096 + (off_t)writer * WORD_STRIDE * 8;
}

static void *writer(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (uint64_t gen = 1; !__atomic_load_n(&stop, __ATOMIC_RELAXED); gen++) {
		int page = (int)(gen % PAGES);
		if (pwrite(fd, &gen, 8, word_offset(page, id)) != 8)
			die("pwrite");
		__atomic_store_n(&published[page][id], gen, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&writes, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void check_page(int page, const uint64_t *words, const uint64_t *floor)
{
	for (int w = 0; w < WRITERS; w++) {
		uint64_t got = words[w * WORD_STRIDE];
		if (got >= floor[w])
			continue;
		if (__atomic_add_fetch(&stale, 1, __ATOMIC_SEQ_CST) <= 5)
			fprintf(stderr, "stale read: page %d writer %d: generation"
				" %" PRIu64 ", but %" PRIu64 " was written before"
				" the read began\n", page, w, got, floor[w]);
	}
}

static void *reader(void *arg)
{
	(void)arg;
	uint64_t words[512];
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		for (int page = 0; page < PAGES; page++) {
			uint64_t floor[WRITERS];
			for (int w = 0; w < WRITERS; w++)
				floor[w] = __atomic_load_n(&published[page][w],
							   __ATOMIC_SEQ_CST);
			if (pread(fd, words, 4096, (off_t)page * 4096) != 4096)
				die("pread");
			check_page(page, words, floor);
			__atomic_add_fetch(&reads, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static void *statter(void *arg)
{
	(void)arg;
	struct stat st;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		if (fstat(fd, &st) < 0 || stat(path, &st) < 0)
			die("stat");
		__atomic_add_fetch(&stats, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *opener(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		int f = open(path, O_RDONLY);
		if (f < 0)
			die("open");
		close(f);
		__atomic_add_fetch(&opens, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: cache_coherence FILE SECONDS\n");
		return 2;
	}
	path = argv[1];
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("open");
	static char zeros[PAGES * 4096];
	if (pwrite(fd, zeros, sizeof(zeros), 0) != (ssize_t)sizeof(zeros))
		die("pwrite");
	pthread_t t[WRITERS + READERS + 2];
	int n = 0;
	for (int i = 0; i < WRITERS; i++)
		pthread_create(&t[n++], NULL, writer, (void *)(intptr_t)i);
	for (int i = 0; i < READERS; i++)
		pthread_create(&t[n++], NULL, reader, NULL);
	pthread_create(&t[n++], NULL, statter, NULL);
	pthread_create(&t[n++], NULL, opener, NULL);
	sleep((unsigned)atoi(argv[2]));
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("writes %" PRIu64 " reads %" PRIu64 " stats %" PRIu64
	       " opens %" PRIu64 " stale %" PRIu64 "\n",
	       writes, reads, stats, opens, stale);
	return stale ? 1 : 0;
}
