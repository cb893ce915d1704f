/*
 * The in-memory inode cache: for each inode the kernel knows (lookup
 * count) or that is open, and for directories whose name index is built.
 * An entry goes away when none of those holds it any more.
 */
#include <stdlib.h>

#include "fs.h"

void icache_init(struct icache *ic)
{
	ic->nbuckets = 1024;
	ic->buckets = calloc(ic->nbuckets, sizeof(*ic->buckets));
	ic->count = 0;
}

static size_t bucket_of(const struct icache *ic, uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ull) >> 20) & (ic->nbuckets - 1);
}

static void grow_buckets(struct icache *ic)
{
	size_t n = ic->nbuckets * 2;
	struct icache_ent **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* longer chains, still correct */
	struct icache old = *ic;
	ic->buckets = b;
	ic->nbuckets = n;
	for (size_t i = 0; i < old.nbuckets; i++) {
		struct icache_ent *e = old.buckets[i];
		while (e) {
			struct icache_ent *next = e->next;
			size_t k = bucket_of(ic, e->ino);
			e->next = ic->buckets[k];
			ic->buckets[k] = e;
			e = next;
		}
	}
	free(old.buckets);
}

struct icache_ent *icache_get(struct nvfs *fs, uint64_t ino, bool create)
{
	struct icache *ic = &fs->icache;
	for (struct icache_ent *e = ic->buckets[bucket_of(ic, ino)]; e; e = e->next)
		if (e->ino == ino)
			return e;
	if (!create)
		return NULL;
	struct icache_ent *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ino = ino;
	if (ic->count >= ic->nbuckets * 2)
		grow_buckets(ic);
	size_t k = bucket_of(ic, ino);
	e->next = ic->buckets[k];
	ic->buckets[k] = e;
	ic->count++;
	return e;
}

static void icache_remove(struct nvfs *fs, struct icache_ent *ent)
{
	struct icache *ic = &fs->icache;
	struct icache_ent **pp = &ic->buckets[bucket_of(ic, ent->ino)];
	while (*pp && *pp != ent)
		pp = &(*pp)->next;
	if (*pp)
		*pp = ent->next;
	dir_index_free(ent->dir);
	range_list_free(&ent->dirty);
	range_list_free(&ent->bad);
	free(ent);
	ic->count--;
}

void icache_put_if_idle(struct nvfs *fs, struct icache_ent *ent)
{
	/*
	 * A file nobody holds can get no fsync, and its checksums are
	 * stored already: its dirty ranges can go with the entry.
	 */
	if (ent->nlookup == 0 && ent->opens == 0)
		icache_remove(fs, ent);
}

int range_list_add(struct range_list *l, uint64_t off, uint64_t len)
{
	if (len == 0)
		return 0;
	/*
	 * Merge with a range it overlaps or touches: all of them in a short
	 * list, the most recent in a long one (writes tend to come back to
	 * where they were a moment ago).
	 */
	size_t look = l->n <= 64 ? l->n : 8;
	for (size_t i = l->n - look; i < l->n; i++) {
		struct pool_range *r = &l->r[i];
		if (off <= r->off + r->len && r->off <= off + len) {
			uint64_t end = off + len > r->off + r->len ? off + len
								   : r->off + r->len;
			r->off = off < r->off ? off : r->off;
			r->len = end - r->off;
			return 0;
		}
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct pool_range *r = realloc(l->r, cap * sizeof(*r));
		if (!r)
			return -1;
		l->r = r;
		l->cap = cap;
	}
	l->r[l->n++] = (struct pool_range){ off, len };
	return 0;
}

void range_list_subtract(struct range_list *l, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	for (size_t i = 0; i < l->n;) {
		struct pool_range *r = &l->r[i];
		uint64_t r_end = r->off + r->len;
		if (end <= r->off || off >= r_end) {
			i++;
			continue;
		}
		if (off > r->off && end < r_end) {
			/* A hole in the middle: keep the head, add the tail. */
			r->len = off - r->off;
			range_list_add(l, end, r_end - end);
			i++;
		} else if (off > r->off) {
			r->len = off - r->off;
			i++;
		} else if (end < r_end) {
			r->len = r_end - end;
			r->off = end;
			i++;
		} else {
			l->r[i] = l->r[--l->n]; /* wholly covered */
		}
	}
}

void range_list_free(struct range_list *l)
{
	free(l->r);
	l->r = NULL;
	l->n = l->cap = 0;
}

void icache_drop_dir_indexes(struct nvfs *fs)
{
	struct icache *ic = &fs->icache;
	for (size_t i = 0; i < ic->nbuckets; i++)
		for (struct icache_ent *e = ic->buckets[i]; e; e = e->next) {
			dir_index_free(e->dir);
			e->dir = NULL;
		}
}

void icache_clear_dirty(struct nvfs *fs)
{
	struct icache *ic = &fs->icache;
	for (size_t i = 0; i < ic->nbuckets; i++) {
		struct icache_ent **pp = &ic->buckets[i];
		while (*pp) {
			struct icache_ent *e = *pp;
			e->dirty.n = 0;
			if (e->nlookup == 0 && e->opens == 0 && !e->dir &&
			    e->bad.n == 0) {
				*pp = e->next;
				range_list_free(&e->dirty);
				range_list_free(&e->bad);
				free(e);
				ic->count--;
				continue;
			}
			pp = &e->next;
		}
	}
}

void icache_fini(struct nvfs *fs)
{
	struct icache *ic = &fs->icache;
	for (size_t i = 0; i < ic->nbuckets; i++) {
		struct icache_ent *e = ic->buckets[i];
		while (e) {
			struct icache_ent *next = e->next;
			dir_index_free(e->dir);
			range_list_free(&e->dirty);
			range_list_free(&e->bad);
			free(e);
			e = next;
		}
	}
	free(ic->buckets);
	ic->buckets = NULL;
	ic->count = 0;
}
