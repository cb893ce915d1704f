#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fs.h"
#include "super.h"
int main(void)
{
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	const char *p = "/dev/shm/repro-leaf.pool";
	unlink(p);
	char err[256]; struct nvfs *fs; struct nvfs_mount_report rep;
	struct nvfs_mount_opts o = { .create = true, .create_size = 8 << 20 };
	struct nvfs_ctx c = { getuid(), getgid(), 022 };
	struct stat st;
	if (nvfs_mount(p, &o, &fs, &rep, err, sizeof err)) { puts(err); return 1; }
	nvfs_mknod(fs, &c, 1, "f", S_IFREG | 0644, 0, &st);
	char buf[4096]; memset(buf, 'A', sizeof buf);
	nvfs_write(fs, st.st_ino, buf, 4096, 0);
	struct nvmpfs_inode *ino = inode_get(fs, st.st_ino);
	uint64_t leaf_blk = ino->map_root; /* height 1: the root is the leaf */
	printf("height %u, leaf block %llu, data block %llu\n", ino->map_height,
	       (unsigned long long)leaf_blk,
	       (unsigned long long)((uint64_t *)pool_block(fs->pool, leaf_blk))[0]);
	nvfs_unmount(fs);
	/* Damage: the file's block 0 now "is" pool block 1 (superblock B). */
	int fd = open(p, O_RDWR); uint64_t one = 1;
	pwrite(fd, &one, 8, (off_t)leaf_blk * 4096); close(fd);
	o.create = false;
	if (nvfs_mount(p, &o, &fs, &rep, err, sizeof err)) { puts(err); return 1; }
	printf("valid superblock copies before the write: %d\n", super_valid_copies(fs->pool));
	memset(buf, 'X', sizeof buf);
	ssize_t n = nvfs_write(fs, st.st_ino, buf, 4096, 0);
	printf("write returned %zd; valid superblock copies after: %d\n", n, super_valid_copies(fs->pool));
	nvfs_unmount(fs);
	/* Same with a block past the end of the pool. */
	fd = open(p, O_RDWR); uint64_t far = 1ull << 40;
	pwrite(fd, &far, 8, (off_t)leaf_blk * 4096); close(fd);
	if (nvfs_mount(p, &o, &fs, &rep, err, sizeof err)) { puts(err); return 1; }
	fflush(stdout);
	n = nvfs_write(fs, st.st_ino, buf, 100, 0);
	printf("write past the pool returned %zd\n", n);
	nvfs_unmount(fs);
	unlink(p);
	return 0;
}
