/*
 * flush_verify: the PM-aware calls of libnvmpfs in one small program.
 *
 *   1. open (or create) a file on an nvmpfs mount and give it a size;
 *   2. map it with nvmpfs_map (load/store access; the library records the
 *      mapping so that flushes can take addresses);
 *   3. store into two separate places of the mapping;
 *   4. make both stores durable with ONE call: nvmpfs_optimized_flush_addr
 *      of the two address ranges (many ranges, one drain: the NVM.PM.FILE
 *      OPTIMIZED_FLUSH action);
 *   5. flush and verify the same two ranges, named by file offset
 *      (OPTIMIZED_FLUSH_AND_VERIFY: the file system reads the ranges back
 *      from the media and compares their checksums);
 *   6. print the results and the volume's attributes.
 *
 * Build:  cc flush_verify.c $(pkg-config --cflags --libs nvmpfs) -o flush_verify
 * Run:    ./flush_verify /mnt/pm/example.dat
 *
 * Exit status: 0 when everything is durable and verified, 1 when a range
 * failed verification, 2 for errors of the calls themselves.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nvmpfs.h>

#define FILE_SIZE (1024 * 1024) /* 1 MiB */

/* Two places far apart in the file: two ranges, two different blocks. */
#define FIRST_OFF  4096
#define SECOND_OFF (512 * 1024 + 100)

static void print_attributes(const struct nvmpfs_attributes *a)
{
	printf("attributes of the volume:\n");
	printf("  optimized_flush_capable        %u\n", a->optimized_flush_capable);
	printf("  flush_and_verify_capable       %u\n", a->flush_and_verify_capable);
	printf("  async_flush_capable            %u\n", a->async_flush_capable);
	printf("  interrupted_store_atomicity    %u bytes\n",
	       a->interrupted_store_atomicity);
	printf("  fundamental_error_range        %u bytes\n",
	       a->fundamental_error_range);
	printf("  fundamental_error_range_offset %u\n",
	       a->fundamental_error_range_offset);
	printf("  max_ranges_per_flush           %u\n", a->max_ranges_per_flush);
	printf("  mirrored                       %u\n", a->mirrored);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE-ON-AN-NVMPFS-MOUNT\n", argv[0]);
		return 2;
	}
	const char *path = argv[1];
	int status = 2;
	char *map = NULL;

	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "%s: open: %s\n", path, strerror(errno));
		return 2;
	}
	if (ftruncate(fd, FILE_SIZE) < 0) {
		fprintf(stderr, "%s: ftruncate: %s\n", path, strerror(errno));
		goto out;
	}

	/* The attributes tell what this volume can do (ENOTTY: not nvmpfs). */
	struct nvmpfs_attributes attrs;
	if (nvmpfs_get_attributes(fd, &attrs) < 0) {
		if (errno == ENOTTY)
			fprintf(stderr, "%s: not on an nvmpfs mount\n", path);
		else
			fprintf(stderr, "%s: nvmpfs_get_attributes: %s\n", path,
				strerror(errno));
		goto out;
	}

	map = nvmpfs_map(fd, FILE_SIZE, 0);
	if (!map) {
		fprintf(stderr, "%s: nvmpfs_map: %s\n", path, strerror(errno));
		goto out;
	}

	/* Two stores, in two separate places. */
	static const char first[] = "first record: hello, persistent memory";
	static const char second[] = "second record: flushed with the first";
	memcpy(map + FIRST_OFF, first, sizeof(first));
	memcpy(map + SECOND_OFF, second, sizeof(second));

	/*
	 * One call makes both durable: the pages go to the daemon (each
	 * WRITE durable when answered) and one request covers every range.
	 */
	struct nvmpfs_addr_range addrs[2] = {
		{ map + FIRST_OFF, sizeof(first) },
		{ map + SECOND_OFF, sizeof(second) },
	};
	if (nvmpfs_optimized_flush_addr(addrs, 2) < 0) {
		fprintf(stderr, "%s: nvmpfs_optimized_flush_addr: %s\n", path,
			strerror(errno));
		goto out;
	}
	printf("optimized flush of 2 ranges: ok\n");

	/* The same ranges by file offset, flushed and read back. */
	struct nvmpfs_range ranges[2] = {
		{ FIRST_OFF, sizeof(first) },
		{ SECOND_OFF, sizeof(second) },
	};
	if (!attrs.flush_and_verify_capable) {
		printf("flush and verify: not available on this mount "
		       "(checksums are off)\n");
		status = 0;
	} else {
		struct nvmpfs_range failed[2];
		size_t nfailed = 0;
		if (nvmpfs_optimized_flush_and_verify(fd, ranges, 2, failed, 2,
						      &nfailed) < 0) {
			fprintf(stderr, "%s: nvmpfs_optimized_flush_and_verify: %s\n",
				path, strerror(errno));
			goto out;
		}
		if (nfailed == 0) {
			printf("flush and verify of 2 ranges: ok, 0 failed\n");
			status = 0;
		} else {
			/* A failed range is a whole fundamental error range
			 * (4 KiB block): its data did not reach the media
			 * intact.  Rewrite it, or restore it from elsewhere. */
			printf("flush and verify of 2 ranges: %zu failed\n", nfailed);
			for (size_t i = 0; i < nfailed && i < 2; i++)
				printf("  failed: offset %llu length %llu\n",
				       (unsigned long long)failed[i].off,
				       (unsigned long long)failed[i].len);
			status = 1;
		}
	}

	print_attributes(&attrs);

out:
	if (map && nvmpfs_unmap(map, FILE_SIZE) < 0) {
		fprintf(stderr, "%s: nvmpfs_unmap: %s\n", path, strerror(errno));
		status = 2;
	}
	if (close(fd) < 0) {
		fprintf(stderr, "%s: close: %s\n", path, strerror(errno));
		status = 2;
	}
	return status;
}
