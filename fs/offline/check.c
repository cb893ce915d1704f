/*
 * The checker.  Passes, as in e2fsck: superblocks and journal; inodes and
 * their block maps (every block in the data region, none claimed twice);
 * directory entries; link counts and ".." pointers; the block bitmap
 * against the blocks actually used.  Repairs are made in place, offline,
 * and each is reported.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "check_data.h"
#include "fs.h"
#include "naming.h"
#include "super.h"
#include "xattr.h"

struct checker {
	struct nvfs fs;
	const struct check_opts *opts;
	FILE *out;
	struct check_result *res;
	uint64_t *seen;          /* blocks claimed so far */
	uint32_t *refs;          /* directory entries naming each inode */
	uint32_t *subdirs;       /* directories inside each directory */
	uint64_t *found_parent;  /* the directory naming each directory */
	uint64_t *queue;         /* directories reached, to be read */
	uint64_t queue_len;
	bool changed;
	/*
	 * Not unmounted cleanly: the bitmap and block counts are not kept
	 * exact while mounted (layout.h), so their differences are expected
	 * and rebuilt, not reported; the next mount finishes the recovery.
	 */
	bool crashed;
};

/* A difference the crash itself explains: fixed quietly when repairing. */
static void expected_after_crash(struct checker *c, const void *p, size_t len)
{
	if (c->opts->repair) {
		pool_flush_ptr(c->fs.pool, p, len);
		c->changed = true;
	}
}

static void problem(struct checker *c, bool fixed, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(c->out, fmt, ap);
	va_end(ap);
	fprintf(c->out, fixed ? ": fixed\n" : "\n");
	c->res->found++;
	if (fixed) {
		c->res->fixed++;
		c->changed = true;
	}
}

static bool seen_test_and_set(struct checker *c, uint64_t blk)
{
	uint64_t bit = 1ull << (blk % 64);
	bool was = c->seen[blk / 64] & bit;
	c->seen[blk / 64] |= bit;
	return was;
}

static bool in_data(const struct checker *c, uint64_t blk)
{
	return blk >= c->fs.sb.data_start && blk < c->fs.sb.block_count;
}

/* A fix to pool bytes: in place, flushed at the end of the check. */
static void fixed_bytes(struct checker *c, const void *p, size_t len)
{
	pool_flush_ptr(c->fs.pool, p, len);
}

/* ---- pass 1: inodes and block maps ---- */

struct map_walk {
	struct checker *c;
	uint64_t ino;
	uint64_t blocks;
};

/* Claims a block for an inode; false when it may not be used. */
static bool claim(struct map_walk *w, uint64_t blk, const char *what)
{
	struct checker *c = w->c;
	if (!in_data(c, blk)) {
		problem(c, c->opts->repair, "inode %llu: %s points outside the "
			"data region (block %llu)", (unsigned long long)w->ino,
			what, (unsigned long long)blk);
		return false;
	}
	if (seen_test_and_set(c, blk)) {
		problem(c, c->opts->repair, "inode %llu: %s block %llu is "
			"claimed twice", (unsigned long long)w->ino, what,
			(unsigned long long)blk);
		return false;
	}
	w->blocks++;
	return true;
}

static void walk_map_node(struct map_walk *w, uint64_t *slot, unsigned level)
{
	struct checker *c = w->c;
	if (!claim(w, *slot, level ? "map node" : "map leaf")) {
		if (c->opts->repair) {
			*slot = 0;
			fixed_bytes(c, slot, sizeof(*slot));
		}
		return;
	}
	uint64_t *node = pool_block(c->fs.pool, *slot);
	for (unsigned i = 0; i < NVMPFS_MAP_FANOUT; i++) {
		if (!node[i])
			continue;
		if (level > 0) {
			walk_map_node(w, &node[i], level - 1);
		} else if (!claim(w, node[i], "data block pointer") &&
			   c->opts->repair) {
			node[i] = 0;
			fixed_bytes(c, &node[i], sizeof(node[i]));
		}
	}
}

static bool valid_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return true;
	}
	return false;
}

/* ---- the xattr tree (xattr_check.c knows its format) ---- */

static void unclaim(struct checker *c, uint64_t blk);

static bool xattr_claim(void *arg, uint64_t blk, const char *what)
{
	return claim(arg, blk, what);
}

static void xattr_unclaim(void *arg, uint64_t blk)
{
	struct map_walk *w = arg;
	unclaim(w->c, blk);
	w->blocks--;
}

static void xattr_problem(void *arg, bool fixed, const char *msg)
{
	struct map_walk *w = arg;
	problem(w->c, fixed, "inode %llu: %s", (unsigned long long)w->ino, msg);
}

static void xattr_fixed(void *arg, const void *p, size_t len)
{
	struct map_walk *w = arg;
	fixed_bytes(w->c, p, len);
}

static void check_xattrs(struct checker *c, struct nvmpfs_inode *inode,
			 struct map_walk *w)
{
	struct xattr_checker xc = {
		.fs = &c->fs, .repair = c->opts->repair, .claim = xattr_claim,
		.unclaim = xattr_unclaim, .problem = xattr_problem,
		.fixed = xattr_fixed, .arg = w };
	xattr_check(&xc, inode);
}

static void clear_inode(struct checker *c, struct nvmpfs_inode *inode)
{
	uint64_t generation = inode->generation;
	memset(inode, 0, sizeof(*inode));
	inode->generation = generation;
	fixed_bytes(c, inode, sizeof(*inode));
}

/* The map word: root and height agree; then the tree below the root. */
static void check_map_word(struct checker *c, uint64_t ino,
			   struct nvmpfs_inode *inode, struct map_walk *w)
{
	bool repair = c->opts->repair;
	uint64_t root = nvmpfs_map_root(inode->map);
	unsigned height = nvmpfs_map_height(inode->map);
	if ((root && (height == 0 || height > NVMPFS_MAP_MAX_HEIGHT)) ||
	    (!root && height)) {
		problem(c, repair, "inode %llu: block map word %#llx is invalid "
			"(root %llu, height %u)", (unsigned long long)ino,
			(unsigned long long)inode->map, (unsigned long long)root,
			height);
		if (repair) {
			inode->map = 0;
			fixed_bytes(c, inode, sizeof(*inode));
		}
		return;
	}
	if (!root)
		return;
	uint64_t slot = root;
	walk_map_node(w, &slot, height - 1);
	if (slot != root && repair) {
		inode->map = 0; /* the root itself was unusable */
		fixed_bytes(c, inode, sizeof(*inode));
	}
}

static void check_inode(struct checker *c, uint64_t ino,
			struct nvmpfs_inode *inode)
{
	bool repair = c->opts->repair;
	if (!valid_type(inode->mode)) {
		problem(c, repair, "inode %llu: unknown file type (mode %o)",
			(unsigned long long)ino, inode->mode);
		if (repair)
			clear_inode(c, inode);
		return;
	}
	if (inode->nlink == 0 && ino != NVMPFS_ROOT_INO && repair) {
		/* An orphan of a crash: free it (its blocks go with it). */
		problem(c, true, "inode %llu: unlinked inode freed",
			(unsigned long long)ino);
		clear_inode(c, inode);
		return;
	}
	struct map_walk w = { c, ino, 0 };
	check_map_word(c, ino, inode, &w);
	check_xattrs(c, inode, &w);
	if (S_ISDIR(inode->mode) && inode->size % NVMPFS_BLOCK_SIZE) {
		problem(c, repair, "inode %llu: directory size %llu is not whole "
			"blocks", (unsigned long long)ino,
			(unsigned long long)inode->size);
		if (repair) {
			inode->size -= inode->size % NVMPFS_BLOCK_SIZE;
			fixed_bytes(c, inode, sizeof(*inode));
		}
	}
	if (w.blocks != inode->blocks && c->crashed) {
		if (repair)
			inode->blocks = w.blocks;
		expected_after_crash(c, inode, sizeof(*inode));
	} else if (w.blocks != inode->blocks) {
		problem(c, repair, "inode %llu: holds %llu blocks, says %llu",
			(unsigned long long)ino, (unsigned long long)w.blocks,
			(unsigned long long)inode->blocks);
		if (repair) {
			inode->blocks = w.blocks;
			fixed_bytes(c, inode, sizeof(*inode));
		}
	}
}

/* Reports progress every 64k inodes of a pass. */
static void tick(struct checker *c, int pass, const char *name, uint64_t ino)
{
	if (c->opts->progress && (ino % 65536 == 0 || ino + 1 == c->fs.sb.inode_count))
		c->opts->progress(pass, name, ino + 1, c->fs.sb.inode_count);
}

/*
 * A root that is not a directory is remade empty before anything claims
 * its blocks (they go back to the free space with the bitmap pass).
 */
static void check_root(struct checker *c)
{
	struct nvmpfs_inode *root = inode_get(&c->fs, NVMPFS_ROOT_INO);
	if (S_ISDIR(root->mode))
		return;
	problem(c, c->opts->repair, "root directory is missing");
	if (c->opts->repair) {
		memset(root, 0, sizeof(*root));
		root->mode = S_IFDIR | 0755;
		root->nlink = 2;
		root->parent = NVMPFS_ROOT_INO;
		fixed_bytes(c, root, sizeof(*root));
	}
}

static void pass_inodes(struct checker *c)
{
	for (uint64_t b = 0; b < c->fs.sb.data_start; b++)
		seen_test_and_set(c, b);
	check_root(c);
	for (uint64_t ino = NVMPFS_ROOT_INO; ino < c->fs.sb.inode_count; ino++) {
		tick(c, 1, "inodes and block maps", ino);
		struct nvmpfs_inode *inode = inode_get(&c->fs, ino);
		if (inode->mode)
			check_inode(c, ino, inode);
	}
}

/* ---- pass 2: directory entries ---- */

static bool name_ok(const struct nvmpfs_dirent *d)
{
	return dir_valid_name(d->name, d->name_len);
}

static void drop_entry(struct checker *c, struct nvmpfs_dirent *d)
{
	size_t bytes = (size_t)d->nslots * NVMPFS_DIRENT_SLOT;
	memset(d, 0, bytes);
	fixed_bytes(c, d, bytes);
}

/* Checks one entry; returns slots it takes (1 for a bad slot). */
static unsigned check_entry(struct checker *c, uint64_t dino,
			    struct nvmpfs_dirent *d, unsigned idx)
{
	bool repair = c->opts->repair;
	if (!d->ino) {
		/*
		 * A free slot's other bytes mean nothing (layout.h): a create
		 * cut short by a crash may leave some.  -y tidies them away.
		 */
		static const uint8_t zero[NVMPFS_DIRENT_SLOT];
		if (repair && memcmp(d, zero, NVMPFS_DIRENT_SLOT) != 0) {
			memset(d, 0, NVMPFS_DIRENT_SLOT);
			fixed_bytes(c, d, NVMPFS_DIRENT_SLOT);
		}
		return 1;
	}
	bool shape_ok = d->nslots >= 1 && d->nslots <= 5 &&
			idx + d->nslots <= NVMPFS_SLOTS_PER_BLOCK &&
			d->name_len >= 1 && d->name_len <= NVMPFS_MAX_NAME &&
			NVMPFS_DIRENT_HEADER + d->name_len <=
				(unsigned)d->nslots * NVMPFS_DIRENT_SLOT;
	if (!shape_ok) {
		problem(c, repair, "directory %llu: malformed entry in slot %u",
			(unsigned long long)dino, idx);
		if (repair) {
			memset(d, 0, NVMPFS_DIRENT_SLOT);
			fixed_bytes(c, d, NVMPFS_DIRENT_SLOT);
		}
		return 1;
	}
	unsigned n = d->nslots;
	struct nvmpfs_inode *target = inode_live(&c->fs, d->ino);
	const char *why = !name_ok(d) ? "has an invalid name"
			: !target ? "names a free or invalid inode"
			: (S_ISDIR(target->mode) && c->found_parent[d->ino])
				? "is a second link to a directory"
			: d->ino == NVMPFS_ROOT_INO ? "names the root" : NULL;
	if (why) {
		problem(c, repair, "directory %llu: entry '%.*s' %s",
			(unsigned long long)dino, (int)d->name_len, d->name, why);
		if (repair)
			drop_entry(c, d);
		return n;
	}
	if (d->type != mode_to_dtype(target->mode)) {
		problem(c, repair, "directory %llu: entry '%.*s' has the wrong "
			"type", (unsigned long long)dino, (int)d->name_len,
			d->name);
		if (repair) {
			d->type = (uint8_t)mode_to_dtype(target->mode);
			fixed_bytes(c, d, NVMPFS_DIRENT_HEADER);
		}
	}
	c->refs[d->ino]++;
	if (S_ISDIR(target->mode)) {
		c->found_parent[d->ino] = dino;
		c->subdirs[dino]++;
		c->queue[c->queue_len++] = d->ino;
	}
	return n;
}

static void check_dir(struct checker *c, uint64_t dino,
		      const struct nvmpfs_inode *dir)
{
	uint64_t nblocks = dir_blocks(&c->fs, dir);
	for (uint64_t b = 0; b < nblocks; b++) {
		uint64_t pblk = bmap_lookup(&c->fs, dir, b, NULL);
		if (!pblk)
			continue;
		uint8_t *block = pool_block(c->fs.pool, pblk);
		for (unsigned i = 0; i < NVMPFS_SLOTS_PER_BLOCK;)
			i += check_entry(c, dino,
					 (void *)(block + i * NVMPFS_DIRENT_SLOT), i);
	}
}

/*
 * Directories are read from the root down, so only what is reachable is
 * counted as named: a lost subtree (or a cycle of directories no path
 * reaches) leaves its inodes unnamed, for pass 3.
 */
static void pass_dirs(struct checker *c)
{
	c->queue_len = 0;
	c->queue[c->queue_len++] = NVMPFS_ROOT_INO;
	for (uint64_t i = 0; i < c->queue_len; i++) {
		tick(c, 2, "directories", i);
		uint64_t ino = c->queue[i];
		struct nvmpfs_inode *inode = inode_get(&c->fs, ino);
		if (S_ISDIR(inode->mode))
			check_dir(c, ino, inode);
	}
}

/* ---- pass 3: link counts and parents ---- */

static void unclaim(struct checker *c, uint64_t blk)
{
	if (in_data(c, blk))
		c->seen[blk / 64] &= ~(1ull << (blk % 64));
}

static void unclaim_map(struct checker *c, uint64_t blk, unsigned level)
{
	if (!in_data(c, blk))
		return;
	const uint64_t *node = pool_block(c->fs.pool, blk);
	for (unsigned i = 0; i < NVMPFS_MAP_FANOUT; i++) {
		if (!node[i])
			continue;
		if (level > 0)
			unclaim_map(c, node[i], level - 1);
		else
			unclaim(c, node[i]);
	}
	unclaim(c, blk);
}

/* A block of a released xattr tree; what a node holds goes once. */
static bool unclaim_xattr_block(void *arg, uint64_t blk)
{
	struct checker *c = arg;
	if (!in_data(c, blk) || !(c->seen[blk / 64] & (1ull << (blk % 64))))
		return false;
	unclaim(c, blk);
	return true;
}

/*
 * Frees an inode nothing names: its blocks (all claimed by it alone after
 * pass 1) go back to the free space at the bitmap pass.
 */
static void release_inode(struct checker *c, struct nvmpfs_inode *inode)
{
	uint64_t root = nvmpfs_map_root(inode->map);
	unsigned height = nvmpfs_map_height(inode->map);
	if (root && height >= 1 && height <= NVMPFS_MAP_MAX_HEIGHT)
		unclaim_map(c, root, height - 1);
	xattr_walk_blocks(&c->fs, inode, unclaim_xattr_block, c);
	clear_inode(c, inode);
}

static void check_links(struct checker *c, uint64_t ino,
			struct nvmpfs_inode *inode)
{
	bool repair = c->opts->repair;
	bool is_dir = S_ISDIR(inode->mode);
	bool is_root = ino == NVMPFS_ROOT_INO;
	/* The root is never an orphan (no mount frees it): a count of 0
	 * there is damage, repaired below like any other wrong count. */
	if (inode->nlink == 0 && !is_root) {
		problem(c, false, "inode %llu: unlinked inode still allocated "
			"(the next mount frees it)", (unsigned long long)ino);
		c->res->recoverable++;
		return;
	}
	if (!is_root && c->refs[ino] == 0) {
		problem(c, repair, "inode %llu: allocated but in no directory "
			"reachable from the root%s", (unsigned long long)ino,
			repair ? "; freed with its blocks" : "");
		if (repair)
			release_inode(c, inode);
		return;
	}
	uint32_t want = is_dir ? 2 + c->subdirs[ino] : c->refs[ino];
	if (inode->nlink != want) {
		problem(c, repair, "inode %llu: link count %u, should be %u",
			(unsigned long long)ino, inode->nlink, want);
		if (repair) {
			inode->nlink = want;
			fixed_bytes(c, inode, sizeof(*inode));
		}
	}
	uint64_t parent = is_root ? NVMPFS_ROOT_INO : c->found_parent[ino];
	if (is_dir && inode->parent != parent) {
		problem(c, repair, "directory %llu: '..' is %llu, should be %llu",
			(unsigned long long)ino, (unsigned long long)inode->parent,
			(unsigned long long)parent);
		if (repair) {
			inode->parent = parent;
			fixed_bytes(c, inode, sizeof(*inode));
		}
	}
}

static void pass_links(struct checker *c)
{
	for (uint64_t ino = NVMPFS_ROOT_INO; ino < c->fs.sb.inode_count; ino++) {
		tick(c, 3, "link counts", ino);
		struct nvmpfs_inode *inode = inode_get(&c->fs, ino);
		if (inode->mode)
			check_links(c, ino, inode);
		if (inode->mode)
			c->res->inodes_used++;
	}
}

/* ---- pass 4: the block bitmap ---- */

static bool bit_at(const uint64_t *map, uint64_t b)
{
	return (map[b / 64] >> (b % 64)) & 1;
}

/* With -v: the runs of blocks whose bits are wrong (the first 32). */
static void list_wrong_bits(struct checker *c, const uint64_t *map,
			    uint64_t words)
{
	unsigned runs = 0;
	uint64_t b = 0, end = words * 64;
	while (b < end && runs < 32) {
		bool marked = bit_at(map, b);
		if (marked == bit_at(c->seen, b)) {
			b++;
			continue;
		}
		uint64_t first = b;
		while (b < end && bit_at(map, b) == marked &&
		       bit_at(c->seen, b) != marked)
			b++;
		const char *what = marked ? "marked in use, held by nothing"
					  : "held, marked free";
		if (b - first == 1)
			fprintf(c->out, "  block %llu: %s\n",
				(unsigned long long)first, what);
		else
			fprintf(c->out, "  blocks %llu-%llu: %s\n",
				(unsigned long long)first,
				(unsigned long long)(b - 1), what);
		runs++;
	}
}

static void pass_bitmap(struct checker *c)
{
	uint64_t *map = alloc_bitmap(&c->fs);
	uint64_t leaked = 0, unmarked = 0;
	uint64_t words = c->fs.sb.bitmap_blocks * NVMPFS_BLOCK_SIZE / 8;
	for (uint64_t b = c->fs.sb.block_count; b < words * 64; b++)
		seen_test_and_set(c, b); /* bits past the end count as used */
	if (c->opts->verbose && !c->crashed)
		list_wrong_bits(c, map, words);
	for (uint64_t w = 0; w < words; w++) {
		uint64_t want = c->seen[w];
		if (map[w] == want)
			continue;
		if (c->crashed) {
			if (c->opts->repair)
				map[w] = want;
			expected_after_crash(c, &map[w], sizeof(map[w]));
			continue;
		}
		leaked += (uint64_t)__builtin_popcountll(map[w] & ~want);
		unmarked += (uint64_t)__builtin_popcountll(want & ~map[w]);
		if (c->opts->repair) {
			map[w] = want;
			fixed_bytes(c, &map[w], sizeof(map[w]));
		}
	}
	if (leaked)
		problem(c, c->opts->repair, "block bitmap: %llu blocks marked "
			"in use that nothing holds", (unsigned long long)leaked);
	if (unmarked)
		problem(c, c->opts->repair, "block bitmap: %llu blocks in use "
			"marked free", (unsigned long long)unmarked);
	for (uint64_t b = c->fs.sb.data_start; b < c->fs.sb.block_count; b++)
		c->res->blocks_used += (c->seen[b / 64] >> (b % 64)) & 1;
}

/* Creates cut short by the crash, settled as the mount does (naming.h). */
static int settle_creates(struct checker *c)
{
	uint64_t settled;
	if (naming_recover(&c->fs, &settled) < 0)
		return -1;
	if (settled) {
		problem(c, true, "%llu creates cut short by the crash settled%s",
			(unsigned long long)settled,
			c->opts->repair ? "" : " in memory only (-n)");
		c->res->recoverable++; /* as every mount does */
	}
	return 0;
}

/* ---- superblocks and journal ---- */

static int check_super(struct checker *c, char *err, size_t errlen)
{
	struct pool *pool = c->fs.pool;
	if (super_load(pool, &c->fs.sb, err, errlen) < 0)
		return -1;
	int valid = super_valid_copies(pool);
	if (valid != 3) {
		problem(c, c->opts->repair, "superblock copy %c is damaged",
			valid == 1 ? 'B' : 'A');
		if (c->opts->repair)
			super_store(pool, &c->fs.sb);
	}
	c->crashed = c->fs.sb.state != NVMPFS_STATE_CLEAN;
	if (!journal_heads_valid(pool, &c->fs.sb)) {
		problem(c, c->opts->repair, "journal head is damaged");
		if (c->opts->repair)
			journal_format(pool, &c->fs.sb);
		else
			return 0; /* cannot roll back; check what is there */
	}
	int undone = journal_recover(pool, &c->fs.sb, err, errlen);
	if (undone < 0)
		return -1;
	if (undone > 0) {
		problem(c, true, "journal: interrupted transaction rolled back "
			"(%d records)%s", undone,
			c->opts->repair ? "" : " in memory only (-n)");
		c->res->recoverable++; /* as every mount does */
	}
	return c->crashed ? settle_creates(c) : 0;
}

static int alloc_tables(struct checker *c)
{
	uint64_t words = c->fs.sb.bitmap_blocks * NVMPFS_BLOCK_SIZE / 8;
	uint64_t n = c->fs.sb.inode_count;
	c->seen = calloc(words, sizeof(*c->seen));
	c->refs = calloc(n, sizeof(*c->refs));
	c->subdirs = calloc(n, sizeof(*c->subdirs));
	c->found_parent = calloc(n, sizeof(*c->found_parent));
	c->queue = calloc(n, sizeof(*c->queue));
	return c->seen && c->refs && c->subdirs && c->found_parent && c->queue
		       ? 0 : -1;
}

static void free_tables(struct checker *c)
{
	free(c->seen);
	free(c->refs);
	free(c->subdirs);
	free(c->found_parent);
	free(c->queue);
}

int check_pool(const char *path, const struct check_opts *opts, FILE *out,
	       struct check_result *res, char *err, size_t errlen)
{
	struct checker c = { .opts = opts, .out = out, .res = res };
	memset(res, 0, sizeof(*res));
	struct pool_open_opts po = { .read_only = !opts->repair,
				     .private_map = !opts->repair };
	c.fs.pool = pool_open(path, &po, err, errlen);
	if (!c.fs.pool)
		return -1;
	int rc = check_super(&c, err, errlen);
	if (rc == 0 && alloc_tables(&c) < 0) {
		snprintf(err, errlen, "out of memory for the check tables");
		rc = -1;
	}
	if (rc == 0) {
		res->inode_count = c.fs.sb.inode_count - 1;
		res->block_count = c.fs.sb.block_count - c.fs.sb.data_start;
		static const char *const names[] = {
			"inodes and block maps", "directory entries",
			"link counts and parents", "block bitmap" };
		void (*const passes[])(struct checker *) = {
			pass_inodes, pass_dirs, pass_links, pass_bitmap };
		for (int i = 0; i < 4; i++) {
			uint64_t before = res->found;
			passes[i](&c);
			if (opts->verbose)
				fprintf(out, "pass %d (%s): %llu problems\n", i + 1,
					names[i],
					(unsigned long long)(res->found - before));
		}
		struct data_scope scope = { c.seen, c.crashed, 0 };
		if (!opts->skip_data)
			check_data(&c.fs, opts, out, res, &scope);
		/*
		 * Bad data leaves the metadata consistent: the pool may be
		 * clean.  A pool that crashed stays "mounted": the mount
		 * finishes what only it does (bytes past EOF, writes cut
		 * short).
		 */
		if (opts->repair && c.changed && !c.crashed &&
		    res->found - res->data_bad == res->fixed) {
			pool_drain(c.fs.pool);
			c.fs.sb.state = NVMPFS_STATE_CLEAN;
			/* Repairs reach no mirror: its next attach compares all. */
			super_new_repl_token(&c.fs.sb);
			super_store(c.fs.pool, &c.fs.sb);
		} else if (c.changed) {
			pool_drain(c.fs.pool);
			super_new_repl_token(&c.fs.sb);
			super_store(c.fs.pool, &c.fs.sb);
		}
		if (opts->verbose && c.crashed)
			fprintf(out, "the pool was not unmounted cleanly: its "
				"block bitmap and block counts were rebuilt; the "
				"next mount finishes the recovery\n");
	}
	free_tables(&c);
	pool_close(c.fs.pool);
	return rc;
}
