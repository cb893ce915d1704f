/*
 * The in-memory inode cache: an entry for each inode the kernel knows
 * (lookup count), that is open, or that a call is working on (pins).  The
 * entry carries the inode's lock and what the core keeps in memory for
 * it: a directory's name index and a file's bad ranges.  It goes away when
 * nothing holds it.
 */
#ifndef NVMPFS_ICACHE_H
#define NVMPFS_ICACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct nvfs;
struct dir_index;

struct icache_ent {
	uint64_t ino;
	uint64_t nlookup;        /* kernel references (icache.mu) */
	uint32_t opens;          /* open files (icache.mu) */
	uint32_t pins;           /* calls working on it (icache.mu) */
	pthread_rwlock_t lock;   /* the inode and all it owns (see fs.h) */
	pthread_mutex_t index_mu;/* builds `dir` under a read lock */
	struct dir_index *dir;   /* directories: name index, built on use */
	pthread_mutex_t list_mu; /* bad */
	struct range_list bad;   /* file ranges that failed verification */
	struct icache_ent *next; /* hash chain */
};

int icache_init(struct nvfs *fs);
void icache_fini(struct nvfs *fs);

/* The entry of ino, made if needed, pinned; NULL when out of memory. */
struct icache_ent *icache_pin(struct nvfs *fs, uint64_t ino);
void icache_unpin(struct nvfs *fs, struct icache_ent *ent);

/* Kernel lookup references and open counts. */
void icache_add_lookup(struct nvfs *fs, struct icache_ent *ent);
/* Drops n references; true when nothing but pins holds the inode now. */
bool icache_forget(struct nvfs *fs, uint64_t ino, uint64_t n);
void icache_open(struct nvfs *fs, struct icache_ent *ent);
bool icache_close(struct nvfs *fs, uint64_t ino);
/* Whether the kernel or an open file still holds ino. */
bool icache_held(struct nvfs *fs, uint64_t ino);

/* Pins and locks one inode (shared or exclusive); NULL: out of memory. */
struct icache_ent *ilock(struct nvfs *fs, uint64_t ino, bool write);
void iunlock(struct nvfs *fs, struct icache_ent *ent);

/*
 * Several inodes locked at once, always in ascending inode number, so two
 * calls never wait for each other in a circle.  A call that learns which
 * inodes it needs only by looking (the victim of an unlink) locks the
 * parents, looks, unlocks, locks the whole set, and looks again.
 */
#define LOCKSET_MAX 6
struct lockset {
	unsigned n;
	uint64_t ino[LOCKSET_MAX];
	bool write[LOCKSET_MAX];
	struct icache_ent *ent[LOCKSET_MAX];
};
void lockset_init(struct lockset *ls);
/* Adds an inode (once; exclusive wins over shared). */
void lockset_add(struct lockset *ls, uint64_t ino, bool write);
int lockset_lock(struct nvfs *fs, struct lockset *ls);
void lockset_unlock(struct nvfs *fs, struct lockset *ls);
/* The locked entry of ino in the set, or NULL. */
struct icache_ent *lockset_get(const struct lockset *ls, uint64_t ino);

#endif
