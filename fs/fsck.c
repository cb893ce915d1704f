/* fsck.nvmpfs: checks a pool and repairs it with -y. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

/* Exit codes as e2fsck's, which fsck(8) and scripts know. */
enum { EXIT_CLEAN = 0, EXIT_FIXED = 1, EXIT_LEFT = 4, EXIT_OPERATIONAL = 8 };

/* Passes 1-4 check the metadata, pass 5 the data (unless -D). */
static int pass_count = 5;

/* A progress line on a terminal, for pools big enough to wait for. */
static void show_progress(int pass, const char *name, uint64_t done,
			  uint64_t total)
{
	if (total < 262144)
		return;
	fprintf(stderr, "\rfsck.nvmpfs: pass %d/%d (%s): %3llu%%", pass,
		pass_count, name, (unsigned long long)(done * 100 / total));
	if (done == total)
		fputc('\n', stderr);
}

static void usage(FILE *to)
{
	fprintf(to, "usage: fsck.nvmpfs [-n|-y|-p] [-v] [-D] POOL\n"
		    "  -n  check only; never write the pool (default)\n"
		    "  -y  repair every problem found\n"
		    "  -p  preen: repair automatically (same as -y)\n"
		    "  -v  verbose\n"
		    "  -D, --skip-data  do not check file data against its\n"
		    "      checksums (pass 5): only the metadata, faster\n");
}

int main(int argc, char **argv)
{
	struct check_opts opts = { 0 };
	static const struct option longopts[] = {
		{ "skip-data", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;
	while ((c = getopt_long(argc, argv, "nypafvDh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': opts.repair = false; break;
		case 'y': case 'p': case 'a': opts.repair = true; break;
		case 'f': break; /* always a full check; accepted for fsck(8) */
		case 'v': opts.verbose = true; break;
		case 'D': opts.skip_data = true; pass_count = 4; break;
		case 'h': usage(stdout); return EXIT_CLEAN;
		default: usage(stderr); return EXIT_OPERATIONAL;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_OPERATIONAL;
	}
	const char *path = argv[optind];
	if (isatty(STDERR_FILENO))
		opts.progress = show_progress;
	struct check_result res;
	char err[512];
	if (check_pool(path, &opts, stdout, &res, err, sizeof(err)) < 0) {
		fprintf(stderr, "fsck.nvmpfs: %s\n", err);
		return EXIT_OPERATIONAL;
	}
	if (res.found == 0) {
		printf("clean: %llu inodes used of %llu, %llu blocks used of "
		       "%llu\n", (unsigned long long)res.inodes_used,
		       (unsigned long long)res.inode_count,
		       (unsigned long long)res.blocks_used,
		       (unsigned long long)res.block_count);
		return EXIT_CLEAN;
	}
	printf("%s: %llu problems found, %llu fixed\n", path,
	       (unsigned long long)res.found, (unsigned long long)res.fixed);
	return res.found == res.fixed && opts.repair ? EXIT_FIXED : EXIT_LEFT;
}
