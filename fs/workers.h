/*
 * The daemon's worker threads: they read requests from the FUSE session
 * and process them (in place of libfuse's fuse_session_loop_mt).
 *
 * The kernel hands each request to the reader that has waited longest,
 * so every reading thread takes its turn, and each turn is a wake-up of
 * another thread.  libfuse's loop never lets a thread go once made
 * (letting one go races with the core's exit handlers, pool.c), so one
 * burst of concurrency leaves all of them reading for good.  Here two
 * workers read while requests come one at a time; another is woken when
 * a worker takes the last reader's place and finds more requests waiting
 * (poll), or when one is
 * about to wait for something else (workers_may_block: an fdatasync
 * shared with others, the mirror, a freeze), so that no request waits
 * behind a blocked worker.  Workers with nothing to do park.
 * bench/README.md has the figures.
 */
#ifndef NVMPFS_WORKERS_H
#define NVMPFS_WORKERS_H

struct fuse_session;

/*
 * Serves the session with up to max_threads workers until it ends (an
 * unmount, or fuse_session_exit from a signal handler).  Every worker
 * has ended when it returns.  Returns 0, or a negative errno when
 * reading the session failed (or no worker could be started).
 */
int workers_serve(struct fuse_session *se, unsigned max_threads);

/*
 * Called by a worker about to wait for something other than its own
 * work: when no other worker reads, one is woken (or made) to read.
 * Does nothing in other threads.
 */
void workers_may_block(void);

#endif
