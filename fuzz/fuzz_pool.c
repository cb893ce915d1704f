/*
 * libFuzzer target for the pool loader (nvfs_mount and everything it
 * reads), the core's handling of a damaged pool, and the checker.
 *
 * At the first call a small template pool (8 MiB) is made in /dev/shm and
 * populated through the core API (phases_populate in pool_phases.c):
 * directories, files with data (one sparse, with a two-level block map), a
 * directory of many entries, a symlink, a hard link, a fifo, extended
 * attributes (one file with a tree of several leaves and two values in
 * blocks of their own).  Each input is a list of patches applied to a copy
 * of that template:
 *
 *   byte 0            flags: bit 0 recompute both superblock checksums,
 *                     bit 1 recompute the checksums of the journal records
 *                     of the active transaction (so that the fuzzer can
 *                     forge superblocks and undo records), bit 2 skip the
 *                     mount phase (check only)
 *   then, repeated:   u32 offset (LE), u8 len, len bytes
 *
 * An offset with the top bit clear lands in the metadata that matters --
 * the superblocks, the journal head and first records, the inode table,
 * bitmap and other tables, and the first data blocks (where the template's
 * directories, map nodes and xattr blocks are); with the top bit set it
 * lands anywhere in the pool.
 *
 * With FUZZ_POOL_IMAGE=1 each input is a whole pool image instead (no
 * template, no patches): the way the reproducers of fuzz/crashes, made by
 * fuzz/crashes/make-reproducers, are replayed through this target.
 *
 * The patched pool is written to a scratch file and then goes through the
 * phases of pool_phases.c:
 *   (a) mounted (may fail, with a message; must not crash); if mounted,
 *       the whole tree is walked (readdir, lookup, getattr, read, readlink,
 *       listxattr/getxattr), a few mutations are tried (the attribute tree
 *       grown, changed, shrunk and freed with its file among them), and
 *       it is unmounted; a superblock copy that was whole before must
 *       still be (a write through a damaged map must not land on it);
 *   (b) checked with -n;
 *   (c) checked with repair;
 *   (d) checked with -n again: it must find nothing.  If it does, fsck
 *       left (or made) a problem that it reports: abort(), so the fuzzer
 *       keeps the input as a crash.
 *   (e) unless FUZZ_POOL_STRICT=0: a pool that fsck passes must mount,
 *       and must still pass after a mount and a tidy unmount.
 *
 * FUZZ_POOL_ALLOW="text|text...": findings of (d) and (e) whose every
 * reported line contains one of these texts are tolerated -- a way to keep
 * fuzzing past a known, reported fsck bug.  Off by default.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "format.h"
#include "fs.h"
#include "nvfs.h"
#include "pool.h"
#include "pool_phases.h"
#include "super.h"

#define POOL_SIZE (8ull << 20)
#define BS NVMPFS_BLOCK_SIZE

enum {
	FLAG_FIX_SUPER = 1 << 0,
	FLAG_FIX_JOURNAL = 1 << 1,
	FLAG_NO_MOUNT = 1 << 2,
};

static uint8_t *tmpl;          /* the template pool's bytes */
static uint8_t *work;          /* the patched copy */
static struct nvmpfs_super tsb;
static char tmpl_path[128], scratch_path[128];
static int scratch_fd = -1;
static bool whole_images;      /* FUZZ_POOL_IMAGE=1: inputs are pools */

/* Byte ranges of the template where the offsets with the top bit clear go. */
struct region {
	uint64_t off, len;
};
static struct region regions[4];
static uint64_t regions_total;

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "fuzz_pool: %s: %s\n", what, msg);
	exit(2); /* a setup failure, not a finding */
}

static void remove_files(void)
{
	if (tmpl_path[0])
		unlink(tmpl_path);
}

/* ---- the template ---- */

static void make_template(void)
{
	char err[512];
	snprintf(tmpl_path, sizeof(tmpl_path), "/dev/shm/fuzz-template-%d.pool",
		 (int)getpid());
	atexit(remove_files);
	unlink(tmpl_path);
	struct pool_open_opts po = { .create = true, .create_size = POOL_SIZE };
	struct pool *pool = pool_open(tmpl_path, &po, err, sizeof(err));
	if (!pool)
		die("pool_open", err);
	struct mkfs_params params = { .root_uid = getuid(),
				      .root_gid = getgid() };
	if (format_pool(pool, &params, NULL, NULL, err, sizeof(err)))
		die("format_pool", err);
	pool_close(pool);

	struct nvfs_mount_opts mo = { 0 };
	struct nvfs *fs;
	if (nvfs_mount(tmpl_path, &mo, &fs, NULL, err, sizeof(err)))
		die("nvfs_mount of the template", err);
	phases_populate(fs);
	nvfs_unmount(fs);

	tmpl = malloc(POOL_SIZE);
	work = malloc(POOL_SIZE);
	int fd = open(tmpl_path, O_RDONLY);
	if (!tmpl || !work || fd < 0 ||
	    pread(fd, tmpl, POOL_SIZE, 0) != (ssize_t)POOL_SIZE)
		die("template", "cannot read it back");
	close(fd);
	/* Only its bytes are needed from now on. */
	remove_files();
	tmpl_path[0] = '\0';
	memcpy(&tsb, tmpl, sizeof(tsb));

	regions[0] = (struct region){ 0, 2 * BS };
	regions[1] = (struct region){ tsb.journal_start * BS, 2 * BS };
	regions[2] = (struct region){ tsb.inode_start * BS,
				      (tsb.data_start - tsb.inode_start) * BS };
	regions[3] = (struct region){ tsb.data_start * BS, 64 * BS };
	for (int i = 0; i < 4; i++)
		regions_total += regions[i].len;
}

static void make_scratch(void)
{
	/*
	 * The scratch pool is unlinked at once and reached through
	 * /proc/self/fd, so that a crash (which skips atexit) leaves no 8 MiB
	 * file behind in /dev/shm for each crashing process.
	 */
	char name[128];
	snprintf(name, sizeof(name), "/dev/shm/fuzz-scratch-%d.pool",
		 (int)getpid());
	scratch_fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (scratch_fd < 0 || ftruncate(scratch_fd, (off_t)POOL_SIZE))
		die("scratch pool", name);
	unlink(name);
	snprintf(scratch_path, sizeof(scratch_path), "/proc/self/fd/%d",
		 scratch_fd);
}

/* ---- applying an input ---- */

static uint64_t map_offset(uint32_t off)
{
	if (off & 0x80000000u)
		return (off & 0x7fffffffu) % POOL_SIZE;
	uint64_t o = off % regions_total;
	for (int i = 0; i < 4; i++) {
		if (o < regions[i].len)
			return regions[i].off + o;
		o -= regions[i].len;
	}
	return 0;
}

static void fix_super_checksums(uint8_t *img)
{
	for (int i = 0; i < 2; i++) {
		struct nvmpfs_super *sb = (void *)(img + (size_t)i * BS);
		sb->checksum = super_checksum(sb);
	}
}

/* Re-seals the records journal_recover would read (template geometry). */
static void fix_journal_checksums(uint8_t *img)
{
	uint64_t head_off = tsb.journal_start * BS;
	uint64_t end = head_off + tsb.journal_blocks * BS;
	struct nvmpfs_journal_head *head = (void *)(img + head_off);
	if (head->active_seq == 0)
		return;
	uint64_t at = head_off + sizeof(*head);
	while (at + sizeof(struct nvmpfs_undo_rec) <= end) {
		struct nvmpfs_undo_rec *rec = (void *)(img + at);
		if (rec->seq != head->active_seq || rec->len == 0 ||
		    rec->len > end - at - sizeof(*rec))
			break;
		uint64_t h = XXH3_64bits(rec, offsetof(struct nvmpfs_undo_rec,
						       checksum));
		rec->checksum = XXH3_64bits_withSeed(rec + 1, rec->len, h);
		at += (sizeof(*rec) + rec->len + 7) & ~7ull;
	}
}

static unsigned apply_input(const uint8_t *data, size_t size)
{
	memcpy(work, tmpl, POOL_SIZE);
	if (size == 0)
		return 0;
	unsigned flags = data[0];
	size_t i = 1;
	while (i + 5 <= size) {
		uint32_t off;
		memcpy(&off, data + i, 4);
		size_t len = data[i + 4];
		i += 5;
		if (len > size - i)
			len = size - i;
		uint64_t at = map_offset(off);
		if (len > POOL_SIZE - at)
			len = POOL_SIZE - at;
		memcpy(work + at, data + i, len);
		i += len;
	}
	if (flags & FLAG_FIX_JOURNAL)
		fix_journal_checksums(work);
	if (flags & FLAG_FIX_SUPER)
		fix_super_checksums(work);
	return flags;
}

static void write_scratch(const uint8_t *img, size_t size)
{
	if (ftruncate(scratch_fd, (off_t)size))
		die("scratch pool", "cannot size it");
	size_t done = 0;
	while (done < size) {
		ssize_t n = pwrite(scratch_fd, img + done, size - done,
				   (off_t)done);
		if (n <= 0)
			die("scratch pool", "write failed");
		done += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		setenv("PMEM_IS_PMEM_FORCE", "1", 1);
		unsetenv("NVMPFS_CRASH_AT");
		const char *img = getenv("FUZZ_POOL_IMAGE");
		whole_images = img && strcmp(img, "1") == 0;
		if (!whole_images)
			make_template();
		make_scratch();
		phases_setup();
		ready = true;
	}
	unsigned flags = 0;
	if (whole_images) {
		write_scratch(data, size);
	} else {
		flags = apply_input(data, size);
		write_scratch(work, POOL_SIZE);
	}
	if (!(flags & FLAG_NO_MOUNT))
		phases_mount(scratch_path);
	phases_check(scratch_path);
	return 0;
}
