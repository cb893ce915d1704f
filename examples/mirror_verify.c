/*
 * mirror_verify: FlushAndVerify on a mirrored nvmpfs mount, saying which
 * copy failed.
 *
 *   1. open a file on an nvmpfs mount and ask whether the volume is
 *      mirrored now (nvmpfs_get_attributes: mirrored is 1 while a mirror
 *      is attached and synced);
 *   2. flush and verify the whole file, or the OFF:LEN ranges given, with
 *      nvmpfs_optimized_flush_and_verify_mirror: the daemon checks its own
 *      blocks (healing a bad one from the mirror when the mirror's copy is
 *      good) and asks the mirror to check its copies of the same blocks;
 *   3. print each failed range with the side it failed on.
 *
 * Build:  cc mirror_verify.c $(pkg-config --cflags --libs nvmpfs) -o mirror_verify
 * Run:    ./mirror_verify /mnt/pm/db/wal [OFF:LEN...]
 *
 * Exit status: 0 when every block checked is good on every copy checked,
 * 1 when a range failed (here or on the mirror), 2 for errors of the
 * calls themselves.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nvmpfs.h>

/* OFF:LEN arguments, or the whole file when there are none. */
static int ranges_of(int fd, int argc, char **argv, struct nvmpfs_range *r,
		     size_t *n)
{
	*n = 0;
	if (argc == 0) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			return -1;
		r[(*n)++] = (struct nvmpfs_range){ 0, (uint64_t)st.st_size };
		return 0;
	}
	if (argc > NVMPFS_MAX_RANGES) {
		fprintf(stderr, "at most %d ranges\n", NVMPFS_MAX_RANGES);
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < argc; i++) {
		unsigned long long off, len;
		char extra;
		if (sscanf(argv[i], "%llu:%llu%c", &off, &len, &extra) != 2) {
			fprintf(stderr, "'%s': a range is OFFSET:LENGTH\n", argv[i]);
			errno = EINVAL;
			return -1;
		}
		r[(*n)++] = (struct nvmpfs_range){ off, len };
	}
	return 0;
}

static void print_result(const struct nvmpfs_range *failed,
			 const struct nvmpfs_verify_result *res)
{
	/* failed[] lists this host's bad ranges first, the mirror's last. */
	size_t listed = res->nfailed < NVMPFS_MAX_RANGES ? res->nfailed
							 : NVMPFS_MAX_RANGES;
	size_t mirror_from = listed - (res->nfailed_mirror < listed
				       ? res->nfailed_mirror : listed);
	printf("mirror checked its copy: %s\n",
	       res->mirror_checked ? "yes" : "no (no mirror synced now)");
	printf("failed: %zu here, %zu on the mirror\n",
	       res->nfailed - res->nfailed_mirror, res->nfailed_mirror);
	for (size_t i = 0; i < listed; i++)
		printf("  offset %llu length %llu: %s\n",
		       (unsigned long long)failed[i].off,
		       (unsigned long long)failed[i].len,
		       i >= mirror_from ? "bad on the mirror (being resent)"
		       : res->mirror_checked ? "bad here, no good copy on the mirror"
					     : "bad here");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE [OFF:LEN...]\n", argv[0]);
		return 2;
	}
	/* Flush and verify act on the file's data: open it for writing. */
	int fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	struct nvmpfs_attributes a;
	if (nvmpfs_get_attributes(fd, &a) < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], errno == ENOTTY
			? "not on an nvmpfs mount" : strerror(errno));
		close(fd);
		return 2;
	}
	printf("mirrored: %s\n", a.mirrored ? "yes" : "no");
	struct nvmpfs_range r[NVMPFS_MAX_RANGES], failed[NVMPFS_MAX_RANGES];
	size_t n;
	struct nvmpfs_verify_result res;
	if (ranges_of(fd, argc - 2, argv + 2, r, &n) < 0 ||
	    nvmpfs_optimized_flush_and_verify_mirror(fd, r, n, failed,
						     NVMPFS_MAX_RANGES,
						     &res) < 0) {
		fprintf(stderr, "%s: flush and verify: %s\n", argv[1],
			strerror(errno));
		close(fd);
		return 2;
	}
	close(fd);
	print_result(failed, &res);
	return res.nfailed ? 1 : 0;
}
