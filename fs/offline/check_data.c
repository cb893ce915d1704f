/*
 * fsck pass 5: data checksums.  First a sequential sweep of the data
 * region compares every block in use that has a stored checksum (a word of
 * 0 means none was recorded: the block is unverified, not bad).  Only if
 * some block fails are the files walked, from the root as the metadata
 * passes do, to name the file and offset of each; a clean pool costs one
 * read of its data and no walk.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check_data.h"

#define PASS 5
#define PASS_NAME "data checksums"

/* A directory reached from the root; its path is built from these. */
struct dir_ref {
	uint64_t ino;
	size_t parent;                       /* index of the parent's ref */
	const struct nvmpfs_dirent *entry;   /* its name; NULL for the root */
};

struct data_check {
	struct nvfs *fs;
	const struct check_opts *opts;
	FILE *out;
	struct check_result *res;
	struct data_scope *scope;
	uint64_t *bad;           /* blocks that failed and are not reported yet */
	uint64_t bad_left;
	uint64_t *walked;        /* blocks met while naming the bad ones */
	uint64_t *reached;       /* inodes whose blocks were walked */
	struct dir_ref *dirs;
	size_t ndirs, cap_dirs;
};

/* Who holds the blocks being walked: a named file, or a bare inode. */
struct holder {
	struct data_check *d;
	size_t dir;                          /* the ref of its directory */
	const struct nvmpfs_dirent *entry;   /* NULL: unnamed, use ino */
	uint64_t ino;
};

static bool bit_test(const uint64_t *map, uint64_t n)
{
	return (map[n / 64] >> (n % 64)) & 1;
}

static void bit_set(uint64_t *map, uint64_t n)
{
	map[n / 64] |= 1ull << (n % 64);
}

static void bit_clear(uint64_t *map, uint64_t n)
{
	map[n / 64] &= ~(1ull << (n % 64));
}

static uint64_t *new_bitmap(uint64_t bits)
{
	return calloc(bits / 64 + 1, sizeof(uint64_t));
}

static void progress(const struct data_check *d, uint64_t done, uint64_t total)
{
	if (d->opts->progress && (done % 65536 == 0 || done == total))
		d->opts->progress(PASS, PASS_NAME, done, total);
}

/* A block in an extent marked in the write-intent map. */
static bool marked_for_write(const struct data_check *d, uint64_t b)
{
	const uint64_t *map = pool_block(d->fs->pool, d->fs->sb.intent_start);
	return bit_test(map, b / NVMPFS_INTENT_BLOCKS);
}

static void sweep(struct data_check *d)
{
	const struct nvmpfs_super *sb = &d->fs->sb;
	const uint64_t *table = pool_block(d->fs->pool, sb->csum_start);
	const uint64_t *used = d->scope->used;
	uint64_t total = sb->block_count - sb->data_start;
	for (uint64_t b = sb->data_start; b < sb->block_count; b++) {
		progress(d, b - sb->data_start + 1, total);
		if (!table[b] || !bit_test(used, b))
			continue;
		if (csum_of_buffer(pool_block(d->fs->pool, b)) == table[b])
			continue;
		if (d->scope->crashed && marked_for_write(d, b)) {
			d->scope->torn++;
			continue;
		}
		bit_set(d->bad, b);
		d->bad_left++;
	}
}

/* Names are printed as they are, but for bytes that could fake a line. */
static void print_name(FILE *out, const char *name, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			fprintf(out, "\\%03o", c);
		else
			fputc(c, out);
	}
}

static void print_path(const struct data_check *d, size_t dir,
		       const struct nvmpfs_dirent *entry)
{
	size_t depth = 0;
	for (size_t i = dir; d->dirs[i].entry; i = d->dirs[i].parent)
		depth++;
	size_t *chain = malloc((depth + 1) * sizeof(*chain));
	if (chain) {
		size_t n = 0;
		for (size_t i = dir; d->dirs[i].entry; i = d->dirs[i].parent)
			chain[n++] = i;
		while (n--) {
			const struct nvmpfs_dirent *e = d->dirs[chain[n]].entry;
			fputc('/', d->out);
			print_name(d->out, e->name, e->name_len);
		}
		free(chain);
	} else {
		fprintf(d->out, "/...");
	}
	fputc('/', d->out);
	print_name(d->out, entry->name, entry->name_len);
}

static void report(const struct holder *h, uint64_t lblk)
{
	struct data_check *d = h->d;
	if (h->entry)
		print_path(d, h->dir, h->entry);
	else
		fprintf(d->out, "inode %llu (in no directory)",
			(unsigned long long)h->ino);
	fprintf(d->out, ": data block at offset %llu fails its checksum\n",
		(unsigned long long)lblk * NVMPFS_BLOCK_SIZE);
	d->res->found++;
	d->res->data_bad++;
}

static int visit_block(void *arg, uint64_t lblk, uint64_t pblk, bool is_node)
{
	const struct holder *h = arg;
	struct data_check *d = h->d;
	if (pblk < d->fs->sb.data_start || pblk >= d->fs->sb.block_count)
		return 0; /* pass 1 reports it */
	if (bit_test(d->walked, pblk))
		return 1; /* claimed twice (pass 1 says so): stop this map */
	bit_set(d->walked, pblk);
	if (!is_node && bit_test(d->bad, pblk)) {
		bit_clear(d->bad, pblk);
		d->bad_left--;
		report(h, lblk);
	}
	return 0;
}

static void walk_holder(struct holder *h, const struct nvmpfs_inode *inode)
{
	bit_set(h->d->reached, h->ino);
	bmap_walk(h->d->fs, inode, visit_block, h);
}

static int add_dir(struct data_check *d, uint64_t ino, size_t parent,
		   const struct nvmpfs_dirent *entry)
{
	if (d->ndirs == d->cap_dirs) {
		size_t cap = d->cap_dirs ? d->cap_dirs * 2 : 256;
		struct dir_ref *r = realloc(d->dirs, cap * sizeof(*r));
		if (!r)
			return -1;
		d->dirs = r;
		d->cap_dirs = cap;
	}
	d->dirs[d->ndirs++] = (struct dir_ref){ ino, parent, entry };
	return 0;
}

static int visit_entry(void *arg, const struct nvmpfs_dirent *e, uint64_t slot)
{
	(void)slot;
	struct holder *in_dir = arg;
	struct data_check *d = in_dir->d;
	const struct nvmpfs_inode *inode = inode_live(d->fs, e->ino);
	if (!inode || bit_test(d->reached, e->ino))
		return 0; /* a bad entry (pass 2), or a second name */
	struct holder h = { d, in_dir->dir, e, e->ino };
	walk_holder(&h, inode);
	if (S_ISDIR(inode->mode) && add_dir(d, e->ino, in_dir->dir, e) < 0)
		return -1;
	return d->bad_left ? 0 : 1;
}

/* Names the file and offset of each bad block, from the root down. */
static int walk_from_root(struct data_check *d)
{
	struct nvmpfs_inode *root = inode_live(d->fs, NVMPFS_ROOT_INO);
	if (!root || add_dir(d, NVMPFS_ROOT_INO, 0, NULL) < 0)
		return root ? -1 : 0;
	struct holder h = { d, 0, NULL, NVMPFS_ROOT_INO };
	walk_holder(&h, root);
	for (size_t i = 0; i < d->ndirs && d->bad_left; i++) {
		const struct nvmpfs_inode *dir = inode_live(d->fs, d->dirs[i].ino);
		if (!dir || !S_ISDIR(dir->mode))
			continue;
		struct holder in_dir = { d, i, NULL, d->dirs[i].ino };
		if (dir_walk(d->fs, dir, 0, visit_entry, &in_dir) < 0)
			return -1;
	}
	return 0;
}

/* Files no directory reaches, then blocks no file holds. */
static void report_the_rest(struct data_check *d)
{
	for (uint64_t ino = NVMPFS_ROOT_INO;
	     ino < d->fs->sb.inode_count && d->bad_left; ino++) {
		const struct nvmpfs_inode *inode = inode_live(d->fs, ino);
		if (!inode || bit_test(d->reached, ino))
			continue;
		struct holder h = { d, 0, NULL, ino };
		walk_holder(&h, inode);
	}
	for (uint64_t b = d->fs->sb.data_start;
	     b < d->fs->sb.block_count && d->bad_left; b++) {
		if (!bit_test(d->bad, b))
			continue;
		fprintf(d->out, "block %llu (in no file): fails its checksum\n",
			(unsigned long long)b);
		d->bad_left--;
		d->res->found++;
		d->res->data_bad++;
	}
}

static void explain(const struct data_check *d)
{
	if (!d->res->data_bad)
		return;
	fprintf(d->out, "data: %llu blocks fail their checksums; fsck.nvmpfs "
		"cannot know their data and leaves them as they are: reads of "
		"them fail with EIO until they are rewritten (restore those "
		"files from a backup)\n",
		(unsigned long long)d->res->data_bad);
}

static void free_check(struct data_check *d)
{
	free(d->bad);
	free(d->walked);
	free(d->reached);
	free(d->dirs);
}

void check_data(struct nvfs *fs, const struct check_opts *opts, FILE *out,
		struct check_result *res, struct data_scope *scope)
{
	struct data_check d = { .fs = fs, .opts = opts, .out = out, .res = res,
				.scope = scope };
	uint64_t before = res->found;
	d.bad = new_bitmap(fs->sb.block_count);
	int rc = d.bad ? 0 : -1;
	if (rc == 0)
		sweep(&d);
	if (rc == 0 && d.bad_left) {
		d.walked = new_bitmap(fs->sb.block_count);
		d.reached = new_bitmap(fs->sb.inode_count);
		rc = d.walked && d.reached ? walk_from_root(&d) : -1;
	}
	if (rc == 0 && d.bad_left)
		report_the_rest(&d);
	if (rc < 0) {
		fprintf(out, "pass %d (%s): out of memory; data left unchecked\n",
			PASS, PASS_NAME);
		res->found++;
	}
	explain(&d);
	if (opts->verbose && scope->torn)
		fprintf(out, "pass %d (%s): %llu blocks were being written at "
			"the crash (extents marked for writing): the next mount "
			"keeps their data, unverified\n", PASS, PASS_NAME,
			(unsigned long long)scope->torn);
	if (opts->verbose)
		fprintf(out, "pass %d (%s): %llu problems\n", PASS, PASS_NAME,
			(unsigned long long)(res->found - before));
	free_check(&d);
}
