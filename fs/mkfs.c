/* mkfs.nvmpfs: makes an empty nvmpfs pool. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "units.h"

struct mkfs_args {
	const char *pool;
	uint64_t size;           /* 0: keep the file's size (or 1 GiB if new) */
	uint64_t inodes;
	bool force, quiet;
};

static void usage(FILE *to)
{
	fprintf(to, "usage: mkfs.nvmpfs [-s SIZE] [-N INODES] [-f] [-q] POOL\n"
		    "  -s SIZE    pool size for a new file (K, M, G, T; default 1G)\n"
		    "  -N INODES  number of inodes (default: one per 16 KiB)\n"
		    "  -f         overwrite an existing nvmpfs pool\n"
		    "  -q         quiet\n");
}

static int parse_args(int argc, char **argv, struct mkfs_args *a)
{
	int c;
	memset(a, 0, sizeof(*a));
	while ((c = getopt(argc, argv, "s:N:fqh")) != -1) {
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

/* Sizes an existing regular file to the size asked for. */
static int resize_file(const char *path, uint64_t size)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size == size)
		return 0;
	if (truncate(path, (off_t)size) < 0) {
		fprintf(stderr, "mkfs.nvmpfs: %s: cannot resize to %llu bytes: "
			"%s\n", path, (unsigned long long)size, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct mkfs_args a;
	if (parse_args(argc, argv, &a) < 0)
		return 1;
	char err[512];
	struct pool_open_opts po = { .create = true,
				     .create_size = a.size ? a.size : (1ull << 30) };
	struct pool *pool = pool_open(a.pool, &po, err, sizeof(err));
	if (!pool) {
		fprintf(stderr, "mkfs.nvmpfs: %s\n", err);
		return 1;
	}
	struct nvmpfs_super old;
	if (!pool->created && super_load(pool, &old, err, sizeof(err)) == 0 &&
	    !a.force) {
		fprintf(stderr, "mkfs.nvmpfs: %s already holds an nvmpfs pool; "
			"use -f to overwrite it\n", a.pool);
		pool_close(pool);
		return 1;
	}
	if (!pool->created && a.size && (uint64_t)pool->size != a.size) {
		pool_close(pool);
		if (resize_file(a.pool, a.size) < 0 ||
		    !(pool = pool_open(a.pool, &po, err, sizeof(err)))) {
			if (!pool)
				fprintf(stderr, "mkfs.nvmpfs: %s\n", err);
			return 1;
		}
	}
	struct mkfs_params params = { .inode_count = a.inodes,
				      .root_uid = getuid(),
				      .root_gid = getgid() };
	int rc = format_pool(pool, &params, a.quiet ? NULL : show_progress, NULL,
			     err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "mkfs.nvmpfs: %s\n", err);
		bool made = pool->created;
		pool_close(pool);
		if (made)
			unlink(a.pool);
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
	return 0;
}
