/*
 * The primary's side of the mirror, in the nvmpfs daemon: every drain of
 * the pool hands its ranges to the sender (the persist hook), which copies
 * their bytes at once (a later write must never leak into an earlier
 * batch) and streams them to nvmpfs-mirror in order; sync points wait for
 * the mirror's acknowledgement after every file-system lock is released.
 *
 * States: connecting (no mirror yet), syncing (attached, resync under
 * way), synced (every durable change is on the mirror or in flight to
 * it), degraded (the mirror was lost; changes are recorded in the pool's
 * out-of-sync map and resent after the next attach).
 *
 * Policies when the mirror is lost (mirror_policy): degrade (default): a
 * sync point returns once what it covers is on the mirror or durably
 * marked out of sync; block: a sync point waits until the mirror is back
 * and has everything.
 */
#ifndef NVMPFS_MIRROR_SENDER_H
#define NVMPFS_MIRROR_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"

struct nvfs;
struct mirror;

struct mirror_opts {
	char host[256];
	char port[32];
	struct nvmr_key key;
	int timeout_ms;          /* no acknowledgement for this long: lost */
	bool policy_block;       /* sync points wait for the mirror */
	bool sync_all;           /* every call waits, not only sync points */
	uint64_t resync_rate;    /* bytes per second, 0: no limit */
	bool seal;               /* AES-256-GCM on every message */
	uint32_t hold_us;        /* batches nobody waits for may wait this
				    long for company (0: each sent at once) */
	uint64_t window;         /* bytes queued or in flight, at most */
};

enum mirror_state {
	MIRROR_CONNECTING = 1,
	MIRROR_SYNCING = 2,
	MIRROR_SYNCED = 3,
	MIRROR_DEGRADED = 4,
};

const char *mirror_state_name(enum mirror_state s);

/* What nvmpfsctl status shows. */
struct mirror_status {
	enum mirror_state state;
	char peer[288];
	uint64_t epoch;
	uint64_t resync_done, resync_total;  /* blocks */
	uint64_t resync_bytes_per_s;         /* compared or resent */
	uint64_t resync_sent;                /* blocks resent */
	uint64_t out_of_sync;                /* blocks marked */
	uint64_t last_rtt_us;                /* last acknowledgement round trip */
	uint64_t batches_sent, batches_acked, bytes_sent;
	uint64_t sends;                      /* the queue emptied in one go */
	uint64_t attaches, losses;
	uint64_t acked_seq, last_seq;
	uint64_t heals_fetched;              /* blocks healed from the mirror */
	uint64_t remote_bad;                 /* blocks it failed to verify */
	bool sealed;
};

/*
 * Starts the sender (its threads connect and reconnect by themselves);
 * installs the persist hook.  Call after daemonizing, on a mount made
 * with nvfs_mount_opts.mirrored (so that nothing changed before this is
 * unaccounted for).  An attach compares every block when the mirror asks
 * (mirror/judge.h); otherwise only blocks marked out of sync are resent.
 */
int mirror_start(struct nvfs *fs, const struct mirror_opts *o,
		 struct mirror **out, char *err, size_t errlen);
/* Stops: sends what is queued if the mirror is there, then closes. */
void mirror_stop(struct mirror *m);

/*
 * A sync point: waits until every change up to seq is on the mirror (or,
 * under degrade, durably marked out of sync).  stop(arg) is asked now and
 * then (a FUSE interrupt): -EINTR.  Returns 0 or -errno.
 */
int mirror_wait(struct mirror *m, uint64_t seq, bool (*stop)(void *),
		void *arg);
/*
 * FlushAndVerify on the mirror: checks the mirror's copies of pool blocks
 * against their checksums (sums from nvfs_block_sums), after every batch
 * queued before.  *bad gets a malloc'd array of the *nbad pool blocks that
 * failed there (they are marked out of sync and resent).  Returns 0, or
 * -ENOTCONN (no mirror attached), -ETIMEDOUT, -EPROTO, -ENOMEM.
 */
struct nvfs_block_sum;
int mirror_verify(struct mirror *m, const struct nvfs_block_sum *sums,
		  size_t n, uint64_t **bad, size_t *nbad);
bool mirror_sync_all(const struct mirror *m);
bool mirror_attached(struct mirror *m);
void mirror_get_status(struct mirror *m, struct mirror_status *st);

#endif
