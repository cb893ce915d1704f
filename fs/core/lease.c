/*
 * Direct-mapping leases (nvfs_direct.h for the calls, lease.h for the
 * hooks the rest of the core goes through).
 *
 * The table: a list of leases (few: one per direct mapping of a program)
 * and the held-blocks map (held.h) counting, per pool block, the leases
 * holding it, under one mutex -- a leaf lock (fs.h): nothing else is
 * taken while it is held.  A lease begins and ends with its file locked
 * exclusively, so no write, truncate or punch of that file runs
 * meanwhile; a file's blocks are freed, and their checksums stored, only
 * with the file locked too.  That is why a look at the table without the
 * mutex (nheld == 0: nothing held at all) is enough for the hooks' fast
 * path: no block of a file can become held while that file's own call is
 * running.
 *
 * Start of a writable lease, in this order: holes allocated; the blocks
 * checked against their checksums (a bad block is not laundered into an
 * unverified one); held -- from here on every checksum stored for them
 * is 0; their write-intent extents marked and held (the background
 * thread does not cool an extent in use); their checksum words cleared;
 * one drain.  A crash after it finds the blocks unverified in marked
 * extents: never a false mismatch, whatever the program stored.
 *
 * End: the blocks let go; checksums computed again for the blocks still
 * at their place in the file (the bytes past the end of file in its last
 * block zeroed first); every leased byte flushed and one drain, so that
 * the persist hook (and so a mirror) sees the program's stores; blocks
 * whose free waited for the lease given to the allocator; the extents let
 * go.  A crash before the drain leaves some blocks unverified, in marked
 * extents.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "file.h"
#include "held.h"
#include "lease.h"
#include "nvfs_direct.h"

struct lease_run {
	uint64_t lblk, pblk, n;  /* file blocks [lblk, lblk+n) at pblk... */
};

struct lease {
	uint64_t id, owner, ino;
	bool writable;
	/* Proof of holding the lease outside its open file (nvfs_lease_token). */
	uint8_t token[NVFS_LEASE_TOKEN_SIZE];
	bool bound;              /* token handed out, to holder_uid */
	uint32_t holder_uid;
	struct lease_run *runs;  /* in file order, contiguous */
	size_t nruns, cap;
	uint64_t nblocks;
	struct lease *next;
};

struct lease_table {
	pthread_mutex_t mu;
	struct lease *list;
	uint64_t nleases;
	uint64_t next_id;
	struct held_map held;
	uint64_t nheld;          /* held.used, read without mu (fast path) */
	uint64_t deferred;       /* held blocks the file system freed */
	char *pool_path;         /* absolute */
};

/* ---- the table ---- */

int lease_init(struct nvfs *fs, const char *pool_path)
{
	struct lease_table *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	/* Programs open the pool by this name: the daemon's folder may change. */
	t->pool_path = realpath(pool_path, NULL);
	if (!t->pool_path)
		t->pool_path = strdup(pool_path);
	if (!t->pool_path) {
		free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->mu, NULL);
	t->next_id = 1;
	fs->leases = t;
	return 0;
}

static void free_lease(struct lease *l)
{
	free(l->runs);
	free(l);
}

void lease_fini(struct nvfs *fs)
{
	struct lease_table *t = fs->leases;
	if (!t)
		return;
	while (t->list) {
		struct lease *l = t->list;
		t->list = l->next;
		free_lease(l);
	}
	held_free(&t->held);
	pthread_mutex_destroy(&t->mu);
	free(t->pool_path);
	free(t);
	fs->leases = NULL;
}

static void publish_count(struct lease_table *t)
{
	__atomic_store_n(&t->nheld, (uint64_t)t->held.used, __ATOMIC_RELEASE);
}

static bool nothing_held(const struct lease_table *t)
{
	return !t || __atomic_load_n(&t->nheld, __ATOMIC_ACQUIRE) == 0;
}

/* The lease id of owner (mu held), or NULL. */
static struct lease *find(struct lease_table *t, uint64_t owner, uint64_t id)
{
	for (struct lease *l = t->list; l; l = l->next)
		if (l->id == id && l->owner == owner)
			return l;
	return NULL;
}

static void unlink_lease(struct lease_table *t, struct lease *l)
{
	for (struct lease **p = &t->list; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			t->nleases--;
			return;
		}
}

/* ---- holding blocks (mu held) ---- */

/*
 * Drops the first nblocks blocks of the lease from the map.  resum[k]
 * (when given) tells whether block k has no writable lease left.  Blocks
 * freed meanwhile whose last lease this was stay in the map (refs 0) for
 * release_freed; returns how many.
 */
static uint64_t unhold(struct lease_table *t, const struct lease *l,
		       uint64_t nblocks, bool *resum)
{
	uint64_t k = 0, freed = 0;
	for (size_t i = 0; i < l->nruns && k < nblocks; i++)
		for (uint64_t b = 0; b < l->runs[i].n && k < nblocks; b++, k++) {
			struct held *h = held_find(&t->held, l->runs[i].pblk + b);
			if (!h || !h->refs)
				continue; /* cannot happen: counted by hold */
			h->refs--;
			if (l->writable)
				h->writers--;
			if (resum)
				resum[k] = h->writers == 0;
			if (h->refs)
				continue;
			if (h->freed)
				freed++;
			else
				held_remove(&t->held, h);
		}
	publish_count(t);
	return freed;
}

static int hold(struct lease_table *t, const struct lease *l)
{
	uint64_t k = 0;
	for (size_t i = 0; i < l->nruns; i++)
		for (uint64_t b = 0; b < l->runs[i].n; b++, k++) {
			struct held *h = held_get(&t->held, l->runs[i].pblk + b);
			if (!h) {
				unhold(t, l, k, NULL);
				return -ENOMEM;
			}
			h->refs++;
			if (l->writable)
				h->writers++;
		}
	publish_count(t);
	return 0;
}

/*
 * Gives the allocator the lease's blocks that were freed while held and
 * that no lease holds any more, a run at a time (the allocator's lock is
 * a leaf lock too: never taken under mu).
 */
static void release_freed(struct nvfs *fs, const struct lease *l)
{
	struct lease_table *t = fs->leases;
	uint64_t start = 0, count = 0;
	for (size_t i = 0; i < l->nruns; i++)
		for (uint64_t b = 0; b < l->runs[i].n; b++) {
			uint64_t pblk = l->runs[i].pblk + b;
			pthread_mutex_lock(&t->mu);
			struct held *h = held_find(&t->held, pblk);
			bool go = h && h->refs == 0 && h->freed;
			if (go) {
				held_remove(&t->held, h);
				t->deferred--;
				publish_count(t);
			}
			pthread_mutex_unlock(&t->mu);
			if (!go)
				continue;
			if (count && pblk == start + count) {
				count++;
				continue;
			}
			if (count)
				alloc_release(fs, start, count);
			start = pblk;
			count = 1;
		}
	if (count)
		alloc_release(fs, start, count);
}

/* ---- the hooks (lease.h) ---- */

void lease_release_blocks(struct nvfs *fs, uint64_t start, uint64_t count)
{
	struct lease_table *t = fs->leases;
	if (nothing_held(t)) {
		alloc_release(fs, start, count);
		return;
	}
	uint64_t b = start, end = start + count;
	while (b < end) {
		uint64_t from = b;
		pthread_mutex_lock(&t->mu);
		bool held = held_find(&t->held, b) != NULL;
		for (; b < end; b++) {
			struct held *h = held_find(&t->held, b);
			if ((h != NULL) != held)
				break;
			if (h && !h->freed) {
				h->freed = true;
				t->deferred++;
			}
		}
		pthread_mutex_unlock(&t->mu);
		if (!held)
			alloc_release(fs, from, b - from);
	}
}

bool lease_stores_direct(struct nvfs *fs, uint64_t pblk)
{
	struct lease_table *t = fs->leases;
	if (nothing_held(t))
		return false;
	pthread_mutex_lock(&t->mu);
	const struct held *h = held_find(&t->held, pblk);
	bool writers = h && h->writers;
	pthread_mutex_unlock(&t->mu);
	return writers;
}

bool lease_any(struct nvfs *fs)
{
	return !nothing_held(fs->leases);
}

/* ---- starting a lease ---- */

static int add_run(struct lease *l, uint64_t lblk, uint64_t pblk, uint64_t n)
{
	struct lease_run *last = l->nruns ? &l->runs[l->nruns - 1] : NULL;
	l->nblocks += n;
	if (last && last->lblk + last->n == lblk && last->pblk + last->n == pblk) {
		last->n += n;
		return 0;
	}
	if (l->nruns == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct lease_run *r = realloc(l->runs, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		l->runs = r;
		l->cap = cap;
	}
	l->runs[l->nruns++] = (struct lease_run){ lblk, pblk, n };
	return 0;
}

/* Holes of file blocks [first, end) get zeroed blocks. */
static int allocate_holes(struct nvfs *fs, struct icache_ent *ent,
			  struct nvmpfs_inode *inode, uint64_t first,
			  uint64_t end)
{
	uint64_t hole = bmap_next(fs, inode, first, false);
	if (hole == UINT64_MAX || hole >= end)
		return 0;
	uint64_t len = (end - first) * BS;
	int64_t n = file_fill(fs, ent, inode, NULL, first * BS, len,
			      FILL_ALLOCATE_ONLY, false);
	if (n < 0)
		return (int)n;
	return (uint64_t)n < len ? -ENOSPC : 0;
}

static int collect_runs(struct nvfs *fs, const struct nvmpfs_inode *inode,
			struct lease *l, uint64_t first, uint64_t end)
{
	for (uint64_t lblk = first; lblk < end;) {
		uint64_t run = 0;
		uint64_t pblk = bmap_lookup(fs, inode, lblk, &run);
		if (!pblk || !run)
			return -EIO; /* a hole right after allocating: damage */
		if (run > end - lblk)
			run = end - lblk;
		if (add_run(l, lblk, pblk, run))
			return -ENOMEM;
		lblk += run;
	}
	return 0;
}

/* A block that fails its checksum must not become merely unverified. */
static int check_blocks(struct nvfs *fs, struct icache_ent *ent,
			const struct lease *l)
{
	if (!fs->verify_reads)
		return 0;
	for (size_t i = 0; i < l->nruns; i++)
		for (uint64_t b = 0; b < l->runs[i].n; b++)
			if (csum_check_block(fs, l->runs[i].pblk + b) < 0) {
				file_note_bad_block(fs, ent, l->runs[i].lblk + b,
						    l->runs[i].pblk + b,
						    "direct map");
				return -EIO;
			}
	return 0;
}

static void end_intents(struct nvfs *fs, const struct lease *l, size_t upto)
{
	for (size_t i = 0; i < upto; i++)
		intent_end(fs, l->runs[i].pblk, l->runs[i].n);
}

/* Extents marked and held, checksum words cleared, one drain. */
static int arm(struct nvfs *fs, const struct lease *l)
{
	for (size_t i = 0; i < l->nruns; i++) {
		int rc = intent_begin(fs, l->runs[i].pblk, l->runs[i].n);
		if (rc) {
			end_intents(fs, l, i);
			return rc;
		}
	}
	for (size_t i = 0; i < l->nruns; i++)
		csum_clear(fs, l->runs[i].pblk, l->runs[i].n);
	int rc = pool_drain(fs->pool);
	if (rc)
		end_intents(fs, l, l->nruns);
	return rc;
}

static int start(struct nvfs *fs, struct icache_ent *ent,
		 struct nvmpfs_inode *inode, struct lease *l, uint64_t off,
		 uint64_t len)
{
	struct lease_table *t = fs->leases;
	if (off + len > inode->size)
		return -EINVAL;
	uint64_t first = block_of(off), end = blocks_to_cover(off + len);
	int rc = allocate_holes(fs, ent, inode, first, end);
	if (rc == 0)
		rc = collect_runs(fs, inode, l, first, end);
	if (rc == 0 && l->writable)
		rc = check_blocks(fs, ent, l);
	if (rc)
		return rc;
	pthread_mutex_lock(&t->mu);
	rc = hold(t, l);
	pthread_mutex_unlock(&t->mu);
	if (rc == 0 && l->writable && (rc = arm(fs, l)) != 0) {
		pthread_mutex_lock(&t->mu);
		unhold(t, l, l->nblocks, NULL);
		pthread_mutex_unlock(&t->mu);
	}
	if (rc)
		return rc;
	pthread_mutex_lock(&t->mu);
	l->id = t->next_id++;
	l->next = t->list;
	t->list = l;
	t->nleases++;
	pthread_mutex_unlock(&t->mu);
	return 0;
}

int nvfs_lease_begin(struct nvfs *fs, uint64_t ino, uint64_t owner,
		     uint64_t off, uint64_t len, bool writable, uint64_t *id)
{
	if (!fs->leases)
		return -EOPNOTSUPP;
	if (len == 0 || off % BS || off > UINT64_MAX - len)
		return -EINVAL;
	if (fs->pool->private_map)
		return -EROFS; /* the daemon's view is not the pool file's */
	struct lease *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	*l = (struct lease){ .owner = owner, .ino = ino, .writable = writable };
	if (getrandom(l->token, sizeof(l->token), 0) != sizeof(l->token)) {
		free_lease(l);
		return -EAGAIN; /* no entropy yet: never a guessable token */
	}
	int rc = change_begin(fs);
	if (rc) {
		free_lease(l);
		return rc;
	}
	struct icache_ent *ent = ilock(fs, ino, true);
	struct nvmpfs_inode *inode = ent ? file_live(fs, ino, &rc) : NULL;
	if (!ent)
		rc = -ENOMEM;
	else if (inode)
		rc = start(fs, ent, inode, l, off, len);
	if (ent)
		iunlock(fs, ent);
	change_end(fs);
	if (rc) {
		free_lease(l);
		return rc;
	}
	*id = l->id;
	return 0;
}

/* ---- ending a lease ---- */

/* Bytes past the end of file in its last block read as zero again. */
static void zero_past_eof(struct nvfs *fs, const struct nvmpfs_inode *inode,
			  uint64_t lblk, uint64_t pblk)
{
	uint64_t size = inode->size;
	if (size <= lblk * BS || size >= (lblk + 1) * BS)
		return;
	const uint8_t *p = pool_block(fs->pool, pblk);
	for (uint64_t i = size % BS; i < BS; i++)
		if (p[i]) {
			pool_zero(fs->pool, pblk * BS + size % BS, BS - size % BS);
			return;
		}
}

/* Checksums again for the blocks still at their place in the file. */
static void store_sums(struct nvfs *fs, const struct lease *l,
		       const bool *resum)
{
	const struct nvmpfs_inode *inode = inode_live(fs, l->ino);
	if (!inode || !S_ISREG(inode->mode))
		return;
	uint64_t k = 0;
	for (size_t i = 0; i < l->nruns; i++)
		for (uint64_t b = 0; b < l->runs[i].n; b++, k++) {
			uint64_t lblk = l->runs[i].lblk + b;
			uint64_t pblk = l->runs[i].pblk + b;
			if (!resum[k] || bmap_lookup(fs, inode, lblk, NULL) != pblk)
				continue;
			zero_past_eof(fs, inode, lblk, pblk);
			if (fs->csum_on)
				csum_store(fs, pblk, csum_of_block(fs, pblk));
		}
}

static int end_lease(struct nvfs *fs, struct lease *l)
{
	struct lease_table *t = fs->leases;
	/* Without memory for this, the blocks merely stay unverified. */
	bool *resum = l->writable ? calloc(l->nblocks, sizeof(*resum)) : NULL;
	bool may_write = change_begin(fs) == 0;
	struct icache_ent *ent = ilock(fs, l->ino, true);
	pthread_mutex_lock(&t->mu);
	uint64_t freed = unhold(t, l, l->nblocks, resum);
	pthread_mutex_unlock(&t->mu);
	int rc = 0;
	if (may_write && ent && l->writable) {
		if (resum)
			store_sums(fs, l, resum);
		for (size_t i = 0; i < l->nruns; i++)
			pool_flush(fs->pool, l->runs[i].pblk * BS,
				   l->runs[i].n * BS);
		rc = pool_drain(fs->pool);
	}
	if (freed)
		release_freed(fs, l);
	if (l->writable)
		end_intents(fs, l, l->nruns);
	if (ent)
		iunlock(fs, ent);
	if (may_write)
		change_end(fs);
	free(resum);
	free_lease(l);
	return rc;
}

int nvfs_lease_end(struct nvfs *fs, uint64_t owner, uint64_t id,
		   uint64_t *ino)
{
	struct lease_table *t = fs->leases;
	if (!t)
		return -EINVAL;
	pthread_mutex_lock(&t->mu);
	struct lease *l = find(t, owner, id);
	if (l)
		unlink_lease(t, l);
	pthread_mutex_unlock(&t->mu);
	if (!l)
		return -EINVAL;
	if (ino)
		*ino = l->ino;
	return end_lease(fs, l);
}

int nvfs_lease_end_owner(struct nvfs *fs, uint64_t owner)
{
	struct lease_table *t = fs->leases;
	if (!t)
		return 0;
	struct lease *mine = NULL;
	pthread_mutex_lock(&t->mu);
	for (struct lease **p = &t->list; *p;) {
		struct lease *l = *p;
		if (l->owner != owner) {
			p = &l->next;
			continue;
		}
		*p = l->next;
		t->nleases--;
		l->next = mine;
		mine = l;
	}
	pthread_mutex_unlock(&t->mu);
	int n = 0;
	while (mine) {
		struct lease *l = mine;
		mine = l->next;
		end_lease(fs, l);
		n++;
	}
	return n;
}

void lease_shutdown(struct nvfs *fs)
{
	struct lease_table *t = fs->leases;
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	struct lease *all = t->list;
	t->list = NULL;
	t->nleases = 0;
	pthread_mutex_unlock(&t->mu);
	while (all) {
		struct lease *l = all;
		all = l->next;
		pthread_mutex_lock(&t->mu);
		uint64_t freed = unhold(t, l, l->nblocks, NULL);
		pthread_mutex_unlock(&t->mu);
		if (freed)
			release_freed(fs, l);
		if (l->writable)
			end_intents(fs, l, l->nruns);
		free_lease(l);
	}
}

/* ---- using a lease ---- */

ssize_t nvfs_lease_extents(struct nvfs *fs, uint64_t owner, uint64_t id,
			   size_t first, struct nvfs_lease_extent *out,
			   size_t max)
{
	struct lease_table *t = fs->leases;
	if (!t)
		return -EINVAL;
	pthread_mutex_lock(&t->mu);
	const struct lease *l = find(t, owner, id);
	ssize_t total = l ? (ssize_t)l->nruns : -EINVAL;
	for (size_t i = 0; l && i < max && first + i < l->nruns; i++) {
		const struct lease_run *r = &l->runs[first + i];
		out[i] = (struct nvfs_lease_extent){ r->lblk * BS, r->pblk * BS,
						     r->n * BS };
	}
	pthread_mutex_unlock(&t->mu);
	return total;
}

/* Whether file bytes [off, off+len) lie inside the lease. */
static bool inside(const struct lease *l, uint64_t off, uint64_t len)
{
	uint64_t lo = l->runs[0].lblk * BS;
	uint64_t hi = (l->runs[0].lblk + l->nblocks) * BS;
	return off <= UINT64_MAX - len && off >= lo && off + len <= hi;
}

static void flush_part(struct nvfs *fs, const struct lease *l, uint64_t off,
		       uint64_t len)
{
	for (size_t i = 0; i < l->nruns && len; i++) {
		const struct lease_run *r = &l->runs[i];
		uint64_t lo = r->lblk * BS, hi = (r->lblk + r->n) * BS;
		uint64_t from = off > lo ? off : lo;
		uint64_t to = off + len < hi ? off + len : hi;
		if (from < to)
			pool_flush(fs->pool, r->pblk * BS + (from - lo), to - from);
	}
}

/* Flushes ranges of l, each inside it (mu held), else -EINVAL. */
static int flush_ranges(struct nvfs *fs, const struct lease *l,
			const struct nvfs_range *ranges, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!inside(l, ranges[i].off, ranges[i].len))
			return -EINVAL;
	for (size_t i = 0; i < count; i++)
		flush_part(fs, l, ranges[i].off, ranges[i].len);
	return 0;
}

static int drain_persisted(struct nvfs *fs)
{
	STAT_ADD(fs, sync_points, 1);
	return pool_drain(fs->pool);
}

int nvfs_lease_persist(struct nvfs *fs, uint64_t owner, uint64_t id,
		       const struct nvfs_range *ranges, size_t count)
{
	struct lease_table *t = fs->leases;
	if (!t)
		return -EINVAL;
	pthread_mutex_lock(&t->mu);
	const struct lease *l = find(t, owner, id);
	int rc = l ? flush_ranges(fs, l, ranges, count) : -EINVAL;
	pthread_mutex_unlock(&t->mu);
	return rc ? rc : drain_persisted(fs);
}

int nvfs_lease_token(struct nvfs *fs, uint64_t owner, uint64_t id,
		     uint32_t uid, uint8_t token[NVFS_LEASE_TOKEN_SIZE])
{
	struct lease_table *t = fs->leases;
	if (!t)
		return -EINVAL;
	pthread_mutex_lock(&t->mu);
	struct lease *l = find(t, owner, id);
	int rc = l ? 0 : -EINVAL;
	if (l && !l->bound) {
		l->bound = true;
		l->holder_uid = uid;
	}
	if (l && l->holder_uid != uid)
		rc = -EPERM;
	if (rc == 0)
		memcpy(token, l->token, NVFS_LEASE_TOKEN_SIZE);
	pthread_mutex_unlock(&t->mu);
	return rc;
}

/* Compares every byte whatever the first difference: no timing hint. */
static bool same_token(const uint8_t *a, const uint8_t *b)
{
	uint8_t diff = 0;
	for (size_t i = 0; i < NVFS_LEASE_TOKEN_SIZE; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

int nvfs_lease_persist_proven(struct nvfs *fs, uint64_t id,
			      const uint8_t token[NVFS_LEASE_TOKEN_SIZE],
			      uint32_t uid, const struct nvfs_range *ranges,
			      size_t count)
{
	struct lease_table *t = fs->leases;
	if (!t)
		return -EINVAL;
	pthread_mutex_lock(&t->mu);
	const struct lease *l = NULL;
	for (const struct lease *c = t->list; c && !l; c = c->next)
		if (c->id == id)
			l = c;
	int rc = -EPERM;
	/* One answer for an unknown id, a wrong token and a wrong uid. */
	if (l && l->bound && same_token(l->token, token) &&
	    l->holder_uid == uid)
		rc = flush_ranges(fs, l, ranges, count);
	pthread_mutex_unlock(&t->mu);
	return rc ? rc : drain_persisted(fs);
}

bool nvfs_file_leased(struct nvfs *fs, uint64_t ino)
{
	struct lease_table *t = fs->leases;
	if (!t)
		return false;
	pthread_mutex_lock(&t->mu);
	bool found = false;
	for (const struct lease *l = t->list; l && !found; l = l->next)
		found = l->ino == ino;
	pthread_mutex_unlock(&t->mu);
	return found;
}

void nvfs_lease_counts(struct nvfs *fs, uint64_t *leases,
		       uint64_t *deferred_blocks)
{
	struct lease_table *t = fs->leases;
	*leases = *deferred_blocks = 0;
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	*leases = t->nleases;
	*deferred_blocks = t->deferred;
	pthread_mutex_unlock(&t->mu);
}

const char *nvfs_pool_path(struct nvfs *fs)
{
	return fs->leases ? fs->leases->pool_path : fs->pool->path;
}

void nvfs_pool_uuid(struct nvfs *fs, uint8_t uuid[16])
{
	memcpy(uuid, fs->sb.uuid, 16);
}
