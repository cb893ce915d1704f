/*
 * poolreplay: the reproducers of fuzz/crashes (see fuzz/crashes/INDEX),
 * for make check in any build, with or without --enable-fuzz.
 *
 *   poolreplay populate POOL    POOL was just made by mkfs.nvmpfs: makes
 *                               the fuzz template's tree in it (through
 *                               the core, as fuzz/fuzz_pool.c does) and
 *                               prints a JSON manifest for
 *                               fuzz/crashes/make-reproducers: the inode
 *                               numbers of its paths and the offsets of
 *                               the on-media fields it damages (from
 *                               include/nvmpfs/layout.h, so that the
 *                               script follows the layout)
 *   poolreplay reseal POOL      recomputes both superblock checksums
 *   poolreplay check POOL...    runs each pool through the fuzz target's
 *                               phases (fuzz/pool_phases.c: mount, walk
 *                               and change it; fsck -n, repair, -n again,
 *                               mount the repaired pool); prints
 *                               "NAME: survived" for each.  A bug the
 *                               phases catch aborts; a crash of the core
 *                               kills the program: either is a failure.
 *
 * Exit status: 0, or 2 for usage and setup errors (and the signal of a
 * finding).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "nvfs.h"
#include "pool_phases.h"
#include "super.h"

static void usage(void)
{
	fprintf(stderr, "usage: poolreplay populate POOL | reseal POOL | "
		"check POOL...\n");
	exit(2);
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "poolreplay: %s: %s\n", what, msg);
	exit(2);
}

/* The paths of the template whose inodes the reproducers damage. */
static const char *const paths[] = {
	"a", "a/b", "a/f1", "a/b/f2", "big", "xa", "many", "lnk", "fifo",
};

static int64_t lookup_path(struct nvfs *fs, const char *path)
{
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", path);
	uint64_t ino = NVMPFS_ROOT_INO;
	char *save = NULL;
	for (char *name = strtok_r(copy, "/", &save); name;
	     name = strtok_r(NULL, "/", &save)) {
		struct stat st;
		int rc = nvfs_lookup(fs, ino, name, &st);
		if (rc)
			return rc;
		nvfs_forget(fs, st.st_ino, 1);
		ino = st.st_ino;
	}
	return (int64_t)ino;
}

#define FIELD(type, name) printf("%s\"%s\": %zu", sep, #name, \
				 offsetof(type, name)), sep = ", "

static void print_manifest(struct nvfs *fs)
{
	const char *sep = "";
	printf("{\"block_size\": %u, \"inode_size\": %u, "
	       "\"map_height_shift\": %u, \"super\": {",
	       NVMPFS_BLOCK_SIZE, NVMPFS_INODE_SIZE, NVMPFS_MAP_HEIGHT_SHIFT);
	FIELD(struct nvmpfs_super, block_count);
	FIELD(struct nvmpfs_super, journal_start);
	FIELD(struct nvmpfs_super, inode_start);
	FIELD(struct nvmpfs_super, inode_count);
	FIELD(struct nvmpfs_super, bitmap_blocks);
	FIELD(struct nvmpfs_super, data_start);
	FIELD(struct nvmpfs_super, checksum);
	printf("}, \"inode\": {");
	sep = "";
	FIELD(struct nvmpfs_inode, mode);
	FIELD(struct nvmpfs_inode, nlink);
	FIELD(struct nvmpfs_inode, size);
	FIELD(struct nvmpfs_inode, map);
	FIELD(struct nvmpfs_inode, generation);
	FIELD(struct nvmpfs_inode, xattr_block);
	printf("}, \"ino\": {");
	sep = "";
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int64_t ino = lookup_path(fs, paths[i]);
		if (ino < 0)
			die(paths[i], "not in the template");
		printf("%s\"%s\": %lld", sep, paths[i], (long long)ino);
		sep = ", ";
	}
	printf("}}\n");
}

static int cmd_populate(const char *path)
{
	struct nvfs_mount_opts mo = { 0 };
	struct nvfs *fs;
	char err[512];
	if (nvfs_mount(path, &mo, &fs, NULL, err, sizeof(err)))
		die("mount", err);
	phases_populate(fs);
	print_manifest(fs);
	nvfs_unmount(fs);
	return 0;
}

static int cmd_reseal(const char *path)
{
	int fd = open(path, O_RDWR);
	if (fd < 0)
		die(path, strerror(errno));
	for (int i = 0; i < 2; i++) {
		struct nvmpfs_super sb;
		off_t at = (off_t)i * NVMPFS_BLOCK_SIZE;
		if (pread(fd, &sb, sizeof(sb), at) != (ssize_t)sizeof(sb))
			die(path, "cannot read a superblock");
		sb.checksum = super_checksum(&sb);
		if (pwrite(fd, &sb, sizeof(sb), at) != (ssize_t)sizeof(sb))
			die(path, "cannot write a superblock");
	}
	if (close(fd))
		die(path, strerror(errno));
	return 0;
}

static int cmd_check(int n, char **pools)
{
	phases_setup();
	for (int i = 0; i < n; i++) {
		phases_mount(pools[i]);
		phases_check(pools[i]);
		const char *name = strrchr(pools[i], '/');
		printf("%s: survived\n", name ? name + 1 : pools[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Pools in /dev/shm or /tmp: PM emulated (read before any mapping). */
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	unsetenv("NVMPFS_CRASH_AT");
	if (argc == 3 && strcmp(argv[1], "populate") == 0)
		return cmd_populate(argv[2]);
	if (argc == 3 && strcmp(argv[1], "reseal") == 0)
		return cmd_reseal(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 2, argv + 2);
	usage();
	return 2;
}
