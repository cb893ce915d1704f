/* mkfs.nvmpfs: makes an empty nvmpfs pool. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "mkfs_target.h"
#include "prewrite.h"
#include "units.h"

#define DEFAULT_NEW_SIZE (1ull << 30) /* of a new file without -s */

struct mkfs_args {
	const char *pool;
	uint64_t size;           /* 0: keep the file's size (or 1 GiB if new) */
	uint64_t inodes;
	bool force, quiet;
	bool keep_unwritten;     /* -Z: no zeros over a file on a disk */
};

static void usage(FILE *to)
{
	fprintf(to, "usage: mkfs.nvmpfs [-s SIZE] [-N INODES] [-f] [-Z] [-q] POOL\n"
		    "  -s SIZE    pool size for a new file (K, M, G, T; default 1G)\n"
		    "  -N INODES  number of inodes (default: one per 16 KiB)\n"
		    "  -f         overwrite a file that holds data (a pool or\n"
		    "             anything else); a symbolic link is never followed\n"
		    "  -Z         do not write zeros over a pool file on a disk\n"
		    "             (a faster mkfs, slower first writes)\n"
		    "  -q         quiet\n");
}

static int parse_args(int argc, char **argv, struct mkfs_args *a)
{
	int c;
	memset(a, 0, sizeof(*a));
	while ((c = getopt(argc, argv, "s:N:fqZh")) != -1) {
		switch (c) {
		case 's':
			if (parse_size(optarg, &a->size) < 0) {
				fprintf(stderr, "mkfs.nvmpfs: -s %s: not a size\n",
					optarg);
				return -1;
			}
			break;
		case 'N':
			if (parse_size(optarg, &a->inodes) < 0 || a->inodes < 2) {
				fprintf(stderr, "mkfs.nvmpfs: -N %s: not an inode "
					"count\n", optarg);
				return -1;
			}
			break;
		case 'f': a->force = true; break;
		case 'q': a->quiet = true; break;
		case 'Z': a->keep_unwritten = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return -1;
	}
	a->pool = argv[optind];
	return 0;
}

static void show_progress(void *arg, uint64_t done, uint64_t total)
{
	(void)arg;
	if (total < (64ull << 20))
		return; /* small pools are made faster than a bar can show */
	fprintf(stderr, "\rmkfs.nvmpfs: writing metadata %3llu%%",
		(unsigned long long)(done * 100 / total));
	if (done == total)
		fputc('\n', stderr);
}

static void show_zeroing(void *arg, uint64_t done, uint64_t total)
{
	(void)arg;
	if (total < (256ull << 20))
		return;
	fprintf(stderr, "\rmkfs.nvmpfs: writing zeros over the pool file %3llu%%",
		(unsigned long long)(done * 100 / total));
	if (done == total)
		fputc('\n', stderr);
}

/*
 * A pool file on a disk gets zeros written over it once (prewrite.h): its
 * drains then never wait for the host file system to allocate a block.
 */
static int zero_pool_file(const struct mkfs_args *a, struct mkfs_target *t)
{
	struct stat st;
	if (a->keep_unwritten || target_is_device(t) || !prewrite_wanted(t->fd) ||
	    fstat(t->fd, &st) < 0)
		return 0;
	int rc = prewrite_zeros(t->fd, 0, (uint64_t)st.st_size,
				a->quiet ? NULL : show_zeroing, NULL);
	if (rc)
		fprintf(stderr, "mkfs.nvmpfs: %s: cannot write zeros over the "
			"pool file: %s (-Z skips this)\n", a->pool, strerror(-rc));
	return rc ? -1 : 0;
}

/*
 * Opens, judges and sizes the pool, then maps it.  The size is set on the
 * open file before the map, so a small or empty file can be given a size
 * with -s.
 */
static struct pool *open_pool(const struct mkfs_args *a, struct mkfs_target *t)
{
	if (target_open(t, a->pool) < 0)
		return NULL;
	if (target_judge_file(t, a->force) < 0 ||
	    target_prepare(t, a->size, DEFAULT_NEW_SIZE) < 0 ||
	    zero_pool_file(a, t) < 0)
		return NULL;
	target_unlock(t);
	char err[512];
	struct pool_open_opts po = { .create = false };
	struct pool *pool = pool_open(a->pool, &po, err, sizeof(err));
	if (!pool) {
		fprintf(stderr, "mkfs.nvmpfs: %s\n", err);
		return NULL;
	}
	if (!target_same_file(t, pool->fd)) {
		fprintf(stderr, "mkfs.nvmpfs: %s was replaced by another file "
			"while mkfs.nvmpfs prepared it; nothing was written to "
			"it\n", a->pool);
		pool_close(pool);
		return NULL;
	}
	if (target_is_device(t) &&
	    target_judge_mapped(t, pool->base, pool->size, a->force) < 0) {
		pool_close(pool);
		return NULL;
	}
	return pool;
}

int main(int argc, char **argv)
{
	struct mkfs_args a;
	if (parse_args(argc, argv, &a) < 0)
		return 1;
	struct mkfs_target target;
	struct pool *pool = open_pool(&a, &target);
	if (!pool) {
		target_close(&target, true);
		return 1;
	}
	char err[512];
	struct mkfs_params params = { .inode_count = a.inodes,
				      .root_uid = getuid(),
				      .root_gid = getgid() };
	int rc = format_pool(pool, &params, a.quiet ? NULL : show_progress, NULL,
			     err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "mkfs.nvmpfs: %s\n", err);
		pool_close(pool);
		target_close(&target, true);
		return 1;
	}
	if (!a.quiet) {
		const struct nvmpfs_super *sb = pool_block(pool, 0);
		printf("mkfs.nvmpfs: %s: %llu MiB, %llu blocks of 4 KiB, %llu "
		       "inodes, %llu data blocks\n", a.pool,
		       (unsigned long long)(pool->size >> 20),
		       (unsigned long long)sb->block_count,
		       (unsigned long long)sb->inode_count - 1,
		       (unsigned long long)(sb->block_count - sb->data_start));
	}
	pool_close(pool);
	target_close(&target, false);
	return 0;
}
