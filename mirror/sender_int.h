/*
 * The sender's state, shared by sender.c (queue, hook, connection, waits)
 * and resync.c (bringing an attached mirror up to date).  Everything in
 * struct mirror below `mu` is under it.
 */
#ifndef NVMPFS_MIRROR_SENDER_INT_H
#define NVMPFS_MIRROR_SENDER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "nvfs.h"
#include "pool.h"
#include "sender.h"

/* A message waiting to be sent, or sent and waiting for its ACK. */
struct qitem {
	struct qitem *next;
	uint16_t type;           /* NVMR_BATCH, NVMR_HASH_REQ, NVMR_PING */
	uint64_t seq;            /* BATCH: its batch sequence */
	uint8_t *payload;
	size_t len;
	/* BATCH: what to mark out of sync if it is lost */
	struct pool_range *ranges;
	size_t nranges;
	/* resync BATCH: blocks whose out-of-sync bits go once acked */
	uint64_t clear_blk, clear_count;
	uint64_t sent_ns;
};

struct qlist {
	struct qitem *head, *tail;
};

struct mirror {
	struct nvfs *fs;
	struct mirror_opts o;
	pthread_t conn_thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* any change below */
	enum mirror_state state;
	bool stop;
	bool ever_attached;
	bool full_compare;       /* the next attach compares every block */
	uint64_t next_seq;       /* batch sequences handed out */
	uint64_t acked_seq;      /* every batch up to it is on the mirror */
	uint64_t covered_seq;    /* every change up to it is on the mirror */
	struct qlist queue;      /* to send */
	struct qlist inflight;   /* sent, not acknowledged (BATCH only) */
	uint64_t queued_bytes;
	struct nvmr_channel *ch;
	bool conn_lost;          /* the connection failed: tear it down */
	/* resync */
	pthread_t resync_thread;
	bool resync_running;
	uint64_t resync_done, resync_total, resync_started_ns;
	uint64_t hash_id;        /* HASH_REQ in flight: its id; answer below */
	uint64_t *hashes;
	uint32_t nhashes;
	bool hashes_ready;
	/* status */
	char peer[288];
	uint64_t epoch;
	bool sealed;
	uint64_t last_rtt_us, batches_sent, batches_acked, bytes_sent;
	uint64_t attaches, losses;
	int logged_state;        /* the state last said in the log */
};

uint64_t mirror_now_ns(void);
/* Appends an item to the queue (mu held) and wakes the sender. */
void mirror_enqueue(struct mirror *m, struct qitem *it);
/*
 * A BATCH item of the given pool ranges with their bytes as they are now,
 * numbered (mu held).  NULL when out of memory.
 */
struct qitem *mirror_make_batch(struct mirror *m,
				const struct pool_range *ranges, size_t n);
void mirror_free_item(struct qitem *it);
/* Logs a line (the daemon's log). */
void mirror_log(struct mirror *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* resync.c: brings the mirror up to date after an attach (a thread). */
void *mirror_resync_main(void *arg);

#endif
