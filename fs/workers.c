/* Worker threads that read and process FUSE requests (see workers.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "workers.h"

/*
 * Workers reading while requests come one at a time: two, so that the
 * kernel's pairs (a read and its read-ahead) are served at once, and the
 * next request finds a reader while the last is still being answered.
 */
#define MIN_READERS 2u

/*
 * A worker parks only when no request has found every other worker busy
 * for this long: under a steady load of several callers, parking and
 * waking at each request would cost more than the rotation it avoids.
 */
#define PARK_AFTER_NS 100000000ull   /* 100 ms */

/*
 * Every worker is in one of three states, counted under mu (readers also
 * read without it, as a hint): reading (or woken to read: readers),
 * processing a request, or parked.  A parked
 * worker asked to read moves from parked to readers at once, and takes
 * one of the wakeups when it runs.
 */
struct workers {
	struct fuse_session *se;
	pthread_mutex_t mu;
	pthread_cond_t unpark;     /* a parked worker is wanted, or the end */
	sem_t finish;              /* a worker has ended */
	unsigned readers, parked, wakeups;
	uint64_t last_exhausted;   /* when a request last took the last reader */
	unsigned started, max;
	pthread_t *threads;
	bool ending;
	int error;
};

static void *work(void *arg);

/* readers changes under mu, and is read without it as a hint. */
static void readers_add(struct workers *w, int n)
{
	__atomic_store_n(&w->readers, w->readers + (unsigned)n, __ATOMIC_RELAXED);
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* A new worker, counted as a reader (mu held). */
static bool start_worker(struct workers *w)
{
	if (w->started == w->max)
		return false;
	/* Signals go to the main thread, which ends the loop. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&w->threads[w->started], NULL, work, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return false;
	w->started++;
	readers_add(w, 1);
	return true;
}

/* A reader more: a parked worker, or a new one (mu held). */
static void add_reader(struct workers *w)
{
	w->last_exhausted = now_ns();
	if (w->parked > 0) {
		w->parked--;
		readers_add(w, 1);
		w->wakeups++;
		pthread_cond_signal(&w->unpark);
	} else {
		start_worker(w);
	}
}

/* Whether the kernel holds requests that no worker has taken yet. */
static bool requests_waiting(struct workers *w)
{
	struct pollfd p = { .fd = fuse_session_fd(w->se), .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* The workers the calling thread belongs to (NULL outside them). */
static __thread struct workers *own_workers;

void workers_may_block(void)
{
	struct workers *w = own_workers;
	if (!w || __atomic_load_n(&w->readers, __ATOMIC_RELAXED) > 0)
		return;
	pthread_mutex_lock(&w->mu);
	if (w->readers == 0 && !w->ending)
		add_reader(w);
	pthread_mutex_unlock(&w->mu);
}

/*
 * A worker answered its request: it reads again, or parks when enough
 * others read and no request found them all busy lately.  Returns false
 * when the loop ends.
 */
static bool back_to_reading(struct workers *w)
{
	if (w->ending)
		return false;
	if (w->readers < MIN_READERS ||
	    now_ns() - w->last_exhausted < PARK_AFTER_NS) {
		readers_add(w, 1);
		return true;
	}
	w->parked++;
	while (!w->ending && w->wakeups == 0)
		pthread_cond_wait(&w->unpark, &w->mu);
	if (w->ending)
		return false;
	w->wakeups--;
	return true;
}

static void free_buffer(void *buf)
{
	free(((struct fuse_buf *)buf)->mem);
}

/* The session ended or failed: every worker is to stop (mu held). */
static void end_loop(struct workers *w, int error)
{
	if (error && !w->error)
		w->error = error;
	fuse_session_exit(w->se);
	w->ending = true;
	pthread_cond_broadcast(&w->unpark);
}

/*
 * A worker.  It can be cancelled only while it waits for a request (the
 * loop's end cancels the readers): never in the middle of one.
 */
static void *work(void *arg)
{
	struct workers *w = arg;
	struct fuse_buf buf = { .mem = NULL };
	own_workers = w;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	pthread_cleanup_push(free_buffer, &buf);
	pthread_mutex_lock(&w->mu);
	while (!w->ending) {
		pthread_mutex_unlock(&w->mu);
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		int rc = fuse_session_receive_buf(w->se, &buf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		pthread_mutex_lock(&w->mu);
		if (rc == -EINTR || rc == -EAGAIN)
			continue;
		if (rc <= 0 || fuse_session_exited(w->se)) {
			end_loop(w, rc < 0 ? rc : 0);
			break;
		}
		readers_add(w, -1);
		bool last = w->readers == 0;
		pthread_mutex_unlock(&w->mu);
		if (last && requests_waiting(w))
			workers_may_block();
		fuse_session_process_buf(w->se, &buf);
		pthread_mutex_lock(&w->mu);
		if (!back_to_reading(w))
			break;
	}
	pthread_mutex_unlock(&w->mu);
	pthread_cleanup_pop(1);
	sem_post(&w->finish);
	return NULL;
}

/* Ends every worker: readers are cancelled, the others see `ending`. */
static void stop_workers(struct workers *w)
{
	pthread_mutex_lock(&w->mu);
	end_loop(w, 0);
	unsigned n = w->started;
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < n; i++)
		pthread_cancel(w->threads[i]);
	for (unsigned i = 0; i < n; i++)
		pthread_join(w->threads[i], NULL);
}

int workers_serve(struct fuse_session *se, unsigned max_threads)
{
	struct workers w = { .se = se, .max = max_threads ? max_threads : 1 };
	w.threads = calloc(w.max, sizeof(*w.threads));
	if (!w.threads)
		return -ENOMEM;
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.unpark, NULL);
	sem_init(&w.finish, 0, 0);
	pthread_mutex_lock(&w.mu);
	bool started = start_worker(&w);
	for (unsigned i = 1; started && i < MIN_READERS; i++)
		start_worker(&w);
	pthread_mutex_unlock(&w.mu);
	/*
	 * A signal handler's fuse_session_exit interrupts the wait when the
	 * signal reaches this thread; the timeout notices it otherwise.
	 */
	while (started && !fuse_session_exited(se)) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_sec++;
		sem_timedwait(&w.finish, &t);
	}
	stop_workers(&w);
	int rc = started ? w.error : -EAGAIN;
	sem_destroy(&w.finish);
	pthread_cond_destroy(&w.unpark);
	pthread_mutex_destroy(&w.mu);
	free(w.threads);
	return rc == -ENODEV ? 0 : rc;
}
