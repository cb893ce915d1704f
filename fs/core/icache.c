/*
 * The in-memory inode cache and the inode locks (see icache.h).  The
 * table and the reference counts are under icache.mu, held only for a
 * few instructions; the inode locks live in the entries.
 */
#include <errno.h>
#include <stdlib.h>

#include "fs.h"

int icache_init(struct nvfs *fs)
{
	struct icache *ic = &fs->icache;
	ic->nbuckets = 1024;
	ic->buckets = calloc(ic->nbuckets, sizeof(*ic->buckets));
	ic->count = 0;
	if (!ic->buckets)
		return -ENOMEM;
	pthread_mutex_init(&ic->mu, NULL);
	return 0;
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

static struct icache_ent *find(struct icache *ic, uint64_t ino)
{
	for (struct icache_ent *e = ic->buckets[bucket_of(ic, ino)]; e; e = e->next)
		if (e->ino == ino)
			return e;
	return NULL;
}

static struct icache_ent *make(struct icache *ic, uint64_t ino)
{
	struct icache_ent *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->ino = ino;
	pthread_rwlock_init(&e->lock, NULL);
	pthread_mutex_init(&e->index_mu, NULL);
	pthread_mutex_init(&e->list_mu, NULL);
	if (ic->count >= ic->nbuckets * 2)
		grow_buckets(ic);
	size_t k = bucket_of(ic, ino);
	e->next = ic->buckets[k];
	ic->buckets[k] = e;
	ic->count++;
	return e;
}

static void destroy(struct icache_ent *e)
{
	dir_index_free(e->dir);
	range_list_free(&e->bad);
	pthread_rwlock_destroy(&e->lock);
	pthread_mutex_destroy(&e->index_mu);
	pthread_mutex_destroy(&e->list_mu);
	free(e);
}

/* Unhooks an entry nothing holds; the caller holds icache.mu. */
static void drop_if_idle(struct icache *ic, struct icache_ent *ent)
{
	if (ent->nlookup || ent->opens || ent->pins)
		return;
	struct icache_ent **pp = &ic->buckets[bucket_of(ic, ent->ino)];
	while (*pp && *pp != ent)
		pp = &(*pp)->next;
	if (*pp)
		*pp = ent->next;
	ic->count--;
	destroy(ent);
}

struct icache_ent *icache_pin(struct nvfs *fs, uint64_t ino)
{
	struct icache *ic = &fs->icache;
	pthread_mutex_lock(&ic->mu);
	struct icache_ent *e = find(ic, ino);
	if (!e)
		e = make(ic, ino);
	if (e)
		e->pins++;
	pthread_mutex_unlock(&ic->mu);
	return e;
}

void icache_unpin(struct nvfs *fs, struct icache_ent *ent)
{
	struct icache *ic = &fs->icache;
	pthread_mutex_lock(&ic->mu);
	ent->pins--;
	drop_if_idle(ic, ent);
	pthread_mutex_unlock(&ic->mu);
}

void icache_add_lookup(struct nvfs *fs, struct icache_ent *ent)
{
	pthread_mutex_lock(&fs->icache.mu);
	ent->nlookup++;
	pthread_mutex_unlock(&fs->icache.mu);
}

bool icache_forget(struct nvfs *fs, uint64_t ino, uint64_t n)
{
	struct icache *ic = &fs->icache;
	pthread_mutex_lock(&ic->mu);
	struct icache_ent *e = find(ic, ino);
	bool idle = false;
	if (e) {
		e->nlookup = n > e->nlookup ? 0 : e->nlookup - n;
		idle = e->nlookup == 0 && e->opens == 0;
		drop_if_idle(ic, e);
	}
	pthread_mutex_unlock(&ic->mu);
	return idle;
}

void icache_open(struct nvfs *fs, struct icache_ent *ent)
{
	pthread_mutex_lock(&fs->icache.mu);
	ent->opens++;
	pthread_mutex_unlock(&fs->icache.mu);
}

bool icache_close(struct nvfs *fs, uint64_t ino)
{
	struct icache *ic = &fs->icache;
	pthread_mutex_lock(&ic->mu);
	struct icache_ent *e = find(ic, ino);
	bool idle = false;
	if (e && e->opens > 0) {
		e->opens--;
		idle = e->nlookup == 0 && e->opens == 0;
		drop_if_idle(ic, e);
	}
	pthread_mutex_unlock(&ic->mu);
	return idle;
}

bool icache_held(struct nvfs *fs, uint64_t ino)
{
	struct icache *ic = &fs->icache;
	pthread_mutex_lock(&ic->mu);
	struct icache_ent *e = find(ic, ino);
	bool held = e && (e->nlookup || e->opens);
	pthread_mutex_unlock(&ic->mu);
	return held;
}

void icache_fini(struct nvfs *fs)
{
	struct icache *ic = &fs->icache;
	if (!ic->buckets)
		return;
	for (size_t i = 0; i < ic->nbuckets; i++) {
		struct icache_ent *e = ic->buckets[i];
		while (e) {
			struct icache_ent *next = e->next;
			destroy(e);
			e = next;
		}
	}
	free(ic->buckets);
	ic->buckets = NULL;
	ic->count = 0;
	pthread_mutex_destroy(&ic->mu);
}

/* ---- inode locks ---- */

static void lock_ent(struct icache_ent *e, bool write)
{
	if (write)
		pthread_rwlock_wrlock(&e->lock);
	else
		pthread_rwlock_rdlock(&e->lock);
}

struct icache_ent *ilock(struct nvfs *fs, uint64_t ino, bool write)
{
	struct icache_ent *e = icache_pin(fs, ino);
	if (e)
		lock_ent(e, write);
	return e;
}

void iunlock(struct nvfs *fs, struct icache_ent *ent)
{
	pthread_rwlock_unlock(&ent->lock);
	icache_unpin(fs, ent);
}

void lockset_init(struct lockset *ls)
{
	ls->n = 0;
}

void lockset_add(struct lockset *ls, uint64_t ino, bool write)
{
	for (unsigned i = 0; i < ls->n; i++)
		if (ls->ino[i] == ino) {
			ls->write[i] |= write;
			return;
		}
	if (ls->n == LOCKSET_MAX)
		return; /* callers never need more; see LOCKSET_MAX */
	unsigned i = ls->n++;
	/* Keep the set sorted by inode number. */
	while (i > 0 && ls->ino[i - 1] > ino) {
		ls->ino[i] = ls->ino[i - 1];
		ls->write[i] = ls->write[i - 1];
		i--;
	}
	ls->ino[i] = ino;
	ls->write[i] = write;
	ls->ent[i] = NULL;
}

int lockset_lock(struct nvfs *fs, struct lockset *ls)
{
	for (unsigned i = 0; i < ls->n; i++) {
		ls->ent[i] = ilock(fs, ls->ino[i], ls->write[i]);
		if (!ls->ent[i]) {
			ls->n = i;
			lockset_unlock(fs, ls);
			return -ENOMEM;
		}
	}
	return 0;
}

void lockset_unlock(struct nvfs *fs, struct lockset *ls)
{
	for (unsigned i = ls->n; i-- > 0;) {
		if (ls->ent[i])
			iunlock(fs, ls->ent[i]);
		ls->ent[i] = NULL;
	}
	ls->n = 0;
}

struct icache_ent *lockset_get(const struct lockset *ls, uint64_t ino)
{
	for (unsigned i = 0; i < ls->n; i++)
		if (ls->ino[i] == ino)
			return ls->ent[i];
	return NULL;
}
