/*
 * direct_map: a tiny persistent log kept in a file on nvmpfs, written with
 * loads and stores through a direct mapping (DAX-like) of libnvmpfs.
 *
 *   1. open (or create) the file and give it a size;
 *   2. map it with nvmpfs_map_direct: the file's blocks in the pool are
 *      mapped straight into this program (no page cache, no daemon on the
 *      way); a user who may not open the pool file gets EPERM and falls
 *      back to nvmpfs_map (the page cache), which the same calls serve;
 *   3. append records: store 64 bytes, then nvmpfs_persist them -- on
 *      persistent memory a cache-line flush and a fence, no system call;
 *      the record's "valid" word is stored and persisted last, so a crash
 *      never shows a half-written record as valid;
 *   4. unmap (the daemon computes the blocks' checksums again) and read
 *      the log back with read().
 *
 * Build:  cc direct_map.c $(pkg-config --cflags --libs nvmpfs) -o direct_map
 * Run:    ./direct_map /mnt/pm/log.dat [RECORDS]
 *
 * Exit status: 0 when the records read back as written, 1 when they do
 * not, 2 for errors of the calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nvmpfs.h>

#define LOG_SIZE (64 * 1024)
#define RECORD 64

struct record {
	uint64_t valid;          /* stored (and persisted) last */
	uint64_t seq;
	char text[RECORD - 16];
};

static int append(struct record *slot, uint64_t seq)
{
	slot->seq = seq;
	snprintf(slot->text, sizeof(slot->text), "record %" PRIu64, seq);
	if (nvmpfs_persist(slot, sizeof(*slot)) < 0)
		return -1;
	slot->valid = 1;
	return nvmpfs_persist(&slot->valid, sizeof(slot->valid));
}

static int check_log(int fd, unsigned records)
{
	struct record r;
	for (unsigned i = 0; i < records; i++) {
		if (pread(fd, &r, sizeof(r), (off_t)i * RECORD) != sizeof(r) ||
		    !r.valid || r.seq != i + 1) {
			printf("record %u: not as written\n", i + 1);
			return 1;
		}
	}
	printf("read back %u records, last: %s\n", records,
	       records ? r.text : "none");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s FILE-ON-AN-NVMPFS-MOUNT [RECORDS]\n",
			argv[0]);
		return 2;
	}
	unsigned records = argc == 3 ? (unsigned)atoi(argv[2]) : 100;
	if (records > LOG_SIZE / RECORD)
		records = LOG_SIZE / RECORD;
	int fd = open(argv[1], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, LOG_SIZE) < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	struct record *log = nvmpfs_map_direct(fd, LOG_SIZE, 0);
	if (!log && errno == EPERM) {
		printf("no access to the pool: using the page cache\n");
		log = nvmpfs_map(fd, LOG_SIZE, 0);
	} else if (!log && errno == ENOTTY) {
		fprintf(stderr, "%s: not on an nvmpfs mount\n", argv[1]);
		return 2;
	}
	if (!log) {
		fprintf(stderr, "%s: cannot map: %s\n", argv[1], strerror(errno));
		return 2;
	}
	printf("mapped %s\n", nvmpfs_is_direct(log) ? "directly" :
	       "through the page cache");
	for (unsigned i = 0; i < records; i++)
		if (append(&log[i], i + 1) < 0) {
			fprintf(stderr, "nvmpfs_persist: %s\n", strerror(errno));
			return 2;
		}
	printf("appended %u records\n", records);
	if (nvmpfs_unmap(log, LOG_SIZE) < 0) {
		fprintf(stderr, "nvmpfs_unmap: %s\n", strerror(errno));
		return 2;
	}
	int rc = check_log(fd, records);
	close(fd);
	return rc;
}
