/*
 * What the channel's own parts (handshake.c, tests, the fuzz target) see
 * of a channel beyond channel.h.
 */
#ifndef NVMPFS_MIRROR_CHANNEL_INTERNAL_H
#define NVMPFS_MIRROR_CHANNEL_INTERNAL_H

#include <stdbool.h>

#include "channel.h"
#include "seal.h"
#include "transport.h"

/* How long a handshake step may wait for the peer, unless set. */
#define NVMR_HANDSHAKE_TIMEOUT_MS 10000

/* A channel over a connected transport (taken: nvmr_close closes it). */
struct nvmr_channel *nvmr_channel_new(struct nvmr_transport *t,
				      int handshake_timeout_ms);
int nvmr_channel_handshake_timeout(const struct nvmr_channel *ch);
/*
 * Seals both directions from now on (the handshake calls it after
 * READY); the channel takes the two seals.
 */
void nvmr_channel_seal(struct nvmr_channel *ch, struct nvmr_seal *tx,
		       struct nvmr_seal *rx);
bool nvmr_channel_sealed(const struct nvmr_channel *ch);
/* Whether another message (or part of one) has arrived already. */
bool nvmr_more_waiting(struct nvmr_channel *ch);
/* Whether part of a message has arrived (a recv timed out inside one). */
bool nvmr_recv_started(const struct nvmr_channel *ch);

/*
 * A message of the channel without the peer's address it starts with
 * (for a REFUSE to that peer, or a log line that names it already).
 */
const char *nvmr_strip_peer(const struct nvmr_channel *ch, const char *msg);

/*
 * For test clients that forge what a broken or hostile primary would
 * send: the transport under the channel, and the number of the last
 * message sent (a forged message takes the next, or not).
 */
struct nvmr_transport *nvmr_channel_transport(struct nvmr_channel *ch);
uint64_t nvmr_channel_send_seq(const struct nvmr_channel *ch);
void nvmr_channel_set_send_seq(struct nvmr_channel *ch, uint64_t seq);

#endif
