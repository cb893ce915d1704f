/*
 * fsck of an inode's xattr tree (format in nvmpfs/layout.h).  The walk
 * claims every node and value block for the inode (the checker finds
 * blocks outside the data region or claimed twice), checks each node's
 * header and range of hashes and each record, and with repair drops what
 * is wrong: a damaged record (and, when its length cannot be trusted, the
 * rest of its leaf), a damaged node or an entry out of order (with what
 * is below), a node left empty.  What is dropped goes back to the free
 * space; everything else keeps its place.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "xattr.h"
#include "xattr_tree.h"

static void report(const struct xattr_checker *xc, bool fixed,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void report(const struct xattr_checker *xc, bool fixed,
		   const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	xc->problem(xc->arg, fixed, msg);
}

/* Claims the blocks of an external value; all or none. */
static bool claim_value(const struct xattr_checker *xc,
			const struct nvmpfs_xattr_rec *rec)
{
	if (!(rec->flags & NVMPFS_XATTR_REC_EXTERNAL))
		return true;
	const uint8_t *payload = xrec_payload(rec);
	size_t n = xvalue_blocks(rec->value_len);
	for (size_t i = 0; i < n; i++) {
		uint64_t blk;
		memcpy(&blk, payload + i * sizeof(blk), sizeof(blk));
		if (xc->claim(xc->arg, blk, "xattr value"))
			continue;
		while (i-- > 0) {
			memcpy(&blk, payload + i * sizeof(blk), sizeof(blk));
			xc->unclaim(xc->arg, blk);
		}
		return false;
	}
	return true;
}

/* Whether kept[0..used) already holds a record of this name. */
static bool name_taken(const uint8_t *kept, size_t used,
		       const struct nvmpfs_xattr_rec *rec)
{
	for (size_t pos = 0; pos < used;) {
		const struct nvmpfs_xattr_rec *k = (const void *)(kept + pos);
		if (xrec_is(k, rec->hash, rec->name, rec->name_len))
			return true;
		pos += k->rec_len;
	}
	return false;
}

/* What is wrong with a well-shaped record, or NULL. */
static const char *record_problem(const struct nvmpfs_xattr_rec *rec,
				  uint64_t lo, uint64_t hi,
				  const uint8_t *kept, size_t kept_used)
{
	if (memchr(rec->name, '\0', rec->name_len))
		return "has a name with a NUL byte";
	if (rec->hash != xattr_hash(rec->name, rec->name_len))
		return "has a hash that does not match its name";
	if (rec->hash < lo || rec->hash > hi)
		return "is outside the hashes of its leaf";
	if (name_taken(kept, kept_used, rec))
		return "is there twice";
	return NULL;
}

/*
 * Checks a leaf's records (hashes lo..hi).  The good ones are gathered in
 * a copy that replaces the records when something was dropped.  Returns
 * the number kept.
 */
static size_t check_leaf(const struct xattr_checker *xc, uint64_t blk,
			 struct nvmpfs_xattr_node *leaf, uint64_t lo,
			 uint64_t hi)
{
	_Alignas(8) uint8_t kept[NVMPFS_XATTR_ROOM];
	size_t kept_used = 0, nkept = 0, pos = 0;
	bool changed = false, repair = xc->repair;
	const uint8_t *bytes = xleaf_bytes(leaf);
	while (pos < leaf->used) {
		const struct nvmpfs_xattr_rec *rec = (const void *)(bytes + pos);
		if (pos % 8 || !xrec_shape_ok(rec, leaf->used - pos)) {
			report(xc, repair, "xattr leaf %llu: record at byte %zu "
			       "is damaged; it and the rest of the leaf dropped",
			       (unsigned long long)blk, pos);
			changed = true;
			break;
		}
		pos += rec->rec_len;
		const char *why = record_problem(rec, lo, hi, kept, kept_used);
		if (why)
			report(xc, repair, "xattr leaf %llu: record '%.*s' %s; "
			       "dropped", (unsigned long long)blk,
			       (int)rec->name_len, rec->name, why);
		if (why || !claim_value(xc, rec)) {
			changed = true;
			continue;
		}
		memcpy(kept + kept_used, rec, rec->rec_len);
		kept_used += rec->rec_len;
		nkept++;
	}
	if (!changed && nkept != leaf->count) {
		report(xc, repair, "xattr leaf %llu: says %u records, holds %zu",
		       (unsigned long long)blk, leaf->count, nkept);
		changed = true;
	}
	if (changed && repair) {
		memcpy(xleaf_bytes(leaf), kept, kept_used);
		leaf->used = (uint32_t)kept_used;
		leaf->count = (uint16_t)nkept;
		xc->fixed(xc->arg, leaf, sizeof(*leaf) + kept_used);
	}
	return repair ? nkept : leaf->count;
}

static bool check_node(const struct xattr_checker *xc, uint64_t blk,
		       int level, uint64_t lo, uint64_t hi);

/*
 * Entry i's lower bound must be above the one before (entry 0 starts at
 * the node's own); marks the entries that are not.
 */
static void check_order(const struct xattr_checker *xc, uint64_t blk,
			const struct nvmpfs_xattr_node *node, uint64_t lo,
			uint64_t hi, bool *keep)
{
	const struct nvmpfs_xattr_entry *e = xnode_entries(node);
	uint64_t prev = lo;
	for (unsigned i = 0; i < node->count; i++) {
		keep[i] = i == 0 || (e[i].low > prev && e[i].low <= hi);
		if (!keep[i])
			report(xc, xc->repair, "xattr node %llu: entry %u is out "
			       "of order; dropped with what it holds",
			       (unsigned long long)blk, i);
		else if (i > 0)
			prev = e[i].low;
	}
}

/* Checks an index node's children; returns the entries kept. */
static unsigned check_index(const struct xattr_checker *xc, uint64_t blk,
			    struct nvmpfs_xattr_node *node, uint64_t lo,
			    uint64_t hi)
{
	struct nvmpfs_xattr_entry *e = xnode_entries(node);
	bool keep[NVMPFS_XATTR_INDEX_MAX];
	check_order(xc, blk, node, lo, hi, keep);
	unsigned n = node->count;
	for (unsigned i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		unsigned next = i + 1;
		while (next < n && !keep[next])
			next++;
		uint64_t from = i == 0 ? lo : e[i].low;
		uint64_t to = next < n ? e[next].low - 1 : hi;
		keep[i] = check_node(xc, e[i].child, (int)node->level - 1, from,
				     to);
	}
	if (!xc->repair)
		return n;
	unsigned kept = 0;
	for (unsigned i = 0; i < n; i++)
		if (keep[i])
			e[kept++] = e[i];
	if (kept != n) {
		node->count = (uint16_t)kept;
		xc->fixed(xc->arg, node, sizeof(*node) + n * sizeof(*e));
	}
	return kept;
}

/*
 * Checks the node in blk (at `level`, any for the root) and what it holds
 * (hashes lo..hi).  Returns whether the reference to it stays (with
 * repair; a check that only looks keeps everything).
 */
static bool check_node(const struct xattr_checker *xc, uint64_t blk,
		       int level, uint64_t lo, uint64_t hi)
{
	if (!xc->claim(xc->arg, blk, "xattr node"))
		return false;
	struct nvmpfs_xattr_node *node = xnode_get(xc->fs, blk, level);
	if (!node) {
		report(xc, xc->repair, "xattr node %llu is damaged",
		       (unsigned long long)blk);
		/* Looking only: it stays counted, so nothing else cascades. */
		if (xc->repair)
			xc->unclaim(xc->arg, blk);
		return false;
	}
	size_t kept = node->level == 0 ? check_leaf(xc, blk, node, lo, hi)
				       : check_index(xc, blk, node, lo, hi);
	if (kept > 0)
		return true;
	report(xc, xc->repair, "xattr node %llu holds nothing; dropped",
	       (unsigned long long)blk);
	if (xc->repair)
		xc->unclaim(xc->arg, blk);
	return false;
}

void xattr_check(const struct xattr_checker *xc, struct nvmpfs_inode *inode)
{
	if (!inode->xattr_block)
		return;
	if (!check_node(xc, inode->xattr_block, -1, 0, UINT64_MAX) &&
	    xc->repair) {
		inode->xattr_block = 0;
		xc->fixed(xc->arg, inode, sizeof(*inode));
	}
}

/* The value blocks of a leaf's external values. */
static void visit_values(const struct nvmpfs_xattr_node *leaf,
			 bool (*visit)(void *arg, uint64_t blk), void *arg)
{
	size_t pos = 0;
	bool damaged;
	const struct nvmpfs_xattr_rec *rec;
	while ((rec = xleaf_next(leaf, &pos, &damaged))) {
		if (!(rec->flags & NVMPFS_XATTR_REC_EXTERNAL))
			continue;
		for (size_t i = 0; i < xvalue_blocks(rec->value_len); i++) {
			uint64_t b;
			memcpy(&b, xrec_payload(rec) + i * sizeof(b), sizeof(b));
			visit(arg, b);
		}
	}
}

/* A node, then what it holds; or, nodes_last, the other way round. */
static void walk_blocks(struct nvfs *fs, uint64_t blk, int level,
			bool (*visit)(void *arg, uint64_t blk), void *arg,
			bool nodes_last)
{
	if (!nodes_last && !visit(arg, blk))
		return;
	const struct nvmpfs_xattr_node *node = xnode_get(fs, blk, level);
	if (node && node->level > 0) {
		for (unsigned i = 0; i < node->count; i++)
			walk_blocks(fs, xnode_entries(node)[i].child,
				    (int)node->level - 1, visit, arg,
				    nodes_last);
	} else if (node) {
		visit_values(node, visit, arg);
	}
	if (nodes_last)
		visit(arg, blk);
}

void xattr_walk_blocks(struct nvfs *fs, const struct nvmpfs_inode *inode,
		       bool (*visit)(void *arg, uint64_t blk), void *arg)
{
	if (inode->xattr_block)
		walk_blocks(fs, inode->xattr_block, -1, visit, arg, false);
}

void xattr_walk_blocks_nodes_last(struct nvfs *fs,
				  const struct nvmpfs_inode *inode,
				  bool (*visit)(void *arg, uint64_t blk),
				  void *arg)
{
	if (inode->xattr_block)
		walk_blocks(fs, inode->xattr_block, -1, visit, arg, true);
}
