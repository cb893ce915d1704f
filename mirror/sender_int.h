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
	uint64_t queued_ns;      /* when the hook queued it */
	uint64_t sent_ns;
	/* The connection thread is handing it to the socket (sender.c
	 * send_run) while it sits in inflight: whoever takes it off the
	 * list then (ACK, loss) sets released and leaves the free to it. */
	bool in_send;
	bool released;
	/* A loss is marking its ranges out of sync: the sender leaves the
	 * free until that is done (sender.c drop_outstanding). */
	bool marking;
};

struct qlist {
	struct qitem *head, *tail;
};

struct mirror {
	struct nvfs *fs;
	struct mirror_opts o;
	pthread_t conn_thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* acknowledgements, state, replies */
	pthread_cond_t queue_cv; /* the connection thread: something to send */
	pthread_cond_t idle_cv;  /* the resync thread, synced: marks or loss */
	int bp_waiters;          /* persist hooks waiting for room */
	int ack_waiters;         /* sync points waiting for an ACK */
	bool sender_dozing;      /* idle a while: the next batch wakes it */
	enum mirror_state state;
	bool stop;
	bool ever_attached;
	bool full_compare;       /* this attach compares every block */
	uint64_t next_seq;       /* batch sequences handed out */
	uint64_t acked_seq;      /* every batch up to it is on the mirror */
	uint64_t covered_seq;    /* every change up to it is on the mirror */
	struct qlist queue;      /* to send */
	struct qlist inflight;   /* sent, not acknowledged (BATCH only) */
	uint64_t queued_bytes;
	/* A thread sends on ch: the connection thread, or a sync point
	 * emptying the queue itself (sender.c send_here).  One at a time. */
	bool send_busy;
	struct nvmr_channel *ch;
	bool conn_lost;          /* the connection failed: tear it down */
	uint64_t last_heard_ns;  /* the mirror's last message */
	uint64_t ping_sent_ns;   /* a PING waiting for its PONG, or 0 */
	/* resync */
	pthread_t resync_thread;
	bool resync_running;
	uint64_t resync_done, resync_total, resync_started_ns;
	uint64_t resync_sent;     /* blocks resent (of resync_done) */
	uint64_t resync_ended_ns; /* 0 while a resync runs */
	/* calls.c: one request at a time waits for its reply (call_mu) */
	pthread_mutex_t call_mu;
	uint64_t call_id;        /* the request in flight (0: none) */
	uint16_t call_reply;     /* the type of reply it waits for */
	uint8_t *reply;          /* the reply's payload, once it came */
	size_t reply_len;
	bool reply_ready;
	uint64_t heals_fetched, remote_bad;
	/* status */
	char peer[288];
	uint64_t epoch;
	bool sealed;
	uint64_t last_rtt_us, batches_sent, batches_acked, bytes_sent;
	uint64_t sends;          /* times the queue was emptied onto the wire */
	uint64_t attaches, losses;
	int logged_state;        /* the state last said in the log */
};

uint64_t mirror_now_ns(void);
/* Wakes every thread of the sender (a loss, a stop, an attach; mu held). */
void mirror_wake_all(struct mirror *m);
/*
 * Appends an item to the queue (mu held); wakes the sender unless the
 * item may wait for company (sender.c, "holding batches").
 */
void mirror_enqueue(struct mirror *m, struct qitem *it);
/*
 * A BATCH item of the given pool ranges with their bytes as they are now,
 * numbered (mu held).  NULL when out of memory.
 */
struct qitem *mirror_make_batch(struct mirror *m,
				const struct pool_range *ranges, size_t n);
void mirror_free_item(struct qitem *it);
/* The connection failed: tear it down, keep what was lost in the map. */
void mirror_lose(struct mirror *m, const char *why);
/* Logs a line (the daemon's log). */
void mirror_log(struct mirror *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * calls.c: a reply (HASHES, VERIFY_REPLY, READ_REPLY) from the receiver
 * thread; one that answers no waiting request is dropped (it came after
 * its request timed out).  -EPROTO for a reply too short to name one.
 */
int mirror_got_reply(struct mirror *m, uint16_t type, const uint8_t *p,
		     size_t len);
/* Forgets the request in flight: the connection is gone (mu held). */
void mirror_cancel_call(struct mirror *m);
/*
 * The XXH3 (0 -> 1) of the mirror's blocks [first, first+n), n at most
 * NVMR_MAX_HASHES: a malloc'd array, or NULL when the connection ended.
 */
uint64_t *mirror_remote_hashes(struct mirror *m, uint64_t first, uint32_t n);
/* Installs (or removes) the mirror as the file system's healer. */
void mirror_enable_heal(struct mirror *m, bool on);
/* Wakes the resync thread: blocks were marked out of sync. */
void mirror_kick(struct mirror *m);

/* resync.c: brings the mirror up to date after an attach (a thread). */
void *mirror_resync_main(void *arg);

#endif
