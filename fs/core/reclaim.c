/* Freeing dead inodes, now or in the background (see reclaim.h). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "fs.h"
#include "reclaim.h"

/* Files holding more blocks than this are freed in the background. */
#define BACKGROUND_BLOCKS 4096u
/* The background thread wakes this often to cool the write-intent map. */
#define COOL_SECONDS 1

/* Frees ino if it is still dead; the caller holds nothing. */
static void free_if_dead(struct nvfs *fs, uint64_t ino)
{
	if (change_begin(fs))
		return; /* read-only: freed back in read-write, or at a mount */
	struct icache_ent *e = ilock(fs, ino, true);
	if (!e) {
		change_end(fs);
		return;
	}
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	if (inode && inode->nlink == 0 && ino != NVMPFS_ROOT_INO &&
	    !icache_held(fs, ino) && !fs->read_only) {
		int rc = inode_reclaim(fs, ino);
		if (rc)
			nvfs_log(fs, "inode %llu: cannot free it (%d); the next "
				 "mount will", (unsigned long long)ino, rc);
	}
	iunlock(fs, e);
	change_end(fs);
}

static bool queue_push(struct reclaimer *r, uint64_t ino)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		uint64_t *q = realloc(r->queue, cap * sizeof(*q));
		if (!q)
			return false;
		r->queue = q;
		r->cap = cap;
	}
	r->queue[r->n++] = ino;
	return true;
}

void reclaim_if_dead(struct nvfs *fs, uint64_t ino)
{
	if (fs_is_read_only(fs))
		return;  /* a hint: free_if_dead checks under the freeze lock */
	struct icache_ent *e = ilock(fs, ino, false);
	if (!e)
		return;
	struct nvmpfs_inode *inode = inode_live(fs, ino);
	bool dead = inode && inode->nlink == 0;
	uint64_t blocks = inode ? inode->blocks : 0;
	iunlock(fs, e);
	if (!dead)
		return;
	struct reclaimer *r = &fs->reclaim;
	bool queued = false;
	if (r->running && blocks > BACKGROUND_BLOCKS) {
		pthread_mutex_lock(&r->mu);
		queued = queue_push(r, ino);
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
	}
	if (!queued)
		free_if_dead(fs, ino);
}

/* Pops and frees queued inodes until the queue is empty. */
static void drain_queue(struct nvfs *fs)
{
	struct reclaimer *r = &fs->reclaim;
	pthread_mutex_lock(&r->mu);
	while (r->n) {
		uint64_t ino = r->queue[0];
		pthread_mutex_unlock(&r->mu);
		uint64_t before = __atomic_load_n(&fs->pool->drains,
						  __ATOMIC_RELAXED);
		free_if_dead(fs, ino);
		/* This thread's drains (others' may count in: an estimate). */
		STAT_ADD(fs, background_drains,
			 __atomic_load_n(&fs->pool->drains, __ATOMIC_RELAXED) -
			 before);
		pthread_mutex_lock(&r->mu);
		r->queue[0] = r->queue[--r->n];
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void *reclaim_main(void *arg)
{
	struct nvfs *fs = arg;
	struct reclaimer *r = &fs->reclaim;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		if (!r->n && !r->stop) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += COOL_SECONDS;
			pthread_cond_timedwait(&r->cv, &r->mu, &until);
		}
		bool stop = r->stop && !r->n;
		r->ticks++;
		pthread_mutex_unlock(&r->mu);
		drain_queue(fs);
		if (stop)
			return NULL;
		intent_cool(fs);
	}
}

int reclaim_start(struct nvfs *fs)
{
	struct reclaimer *r = &fs->reclaim;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->stop = false;
	if (pthread_create(&r->thread, NULL, reclaim_main, fs))
		return -EAGAIN;
	r->running = true;
	return 0;
}

void reclaim_stop(struct nvfs *fs)
{
	struct reclaimer *r = &fs->reclaim;
	if (!r->running)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	r->running = false;
	free(r->queue);
	r->queue = NULL;
	r->n = r->cap = 0;
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
}

bool reclaim_wait(struct nvfs *fs)
{
	struct reclaimer *r = &fs->reclaim;
	if (!r->running)
		return false;
	nvfs_about_to_wait();
	pthread_mutex_lock(&r->mu);
	bool waited = r->n > 0;
	while (r->n)
		pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	return waited;
}

bool nvfs_wait_reclaim(struct nvfs *fs)
{
	return reclaim_wait(fs);
}
