/*
 * Field-by-field checks of every message's payload but BATCH (proto.c
 * has nvmr_parse_batch).  Each parser takes the payload as nvmr_recv
 * returned it (8-byte aligned: arrays are handed out in place), copies
 * the fixed part into *out, and returns 0 or -EPROTO with a message
 * naming the message and the field.  Nothing is to be acted on before
 * its parser has passed.
 *
 * Requests (the mirror reads them) are checked against the pool's block
 * count; replies (the primary reads them) only for their own
 * consistency: matching them with the request is the primary's job.
 */
#ifndef NVMPFS_MIRROR_PARSE_H
#define NVMPFS_MIRROR_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* PING carries 0..NVMR_MAX_PING bytes of the sender's; PONG echoes them. */
#define NVMR_MAX_PING 64u
/* REFUSE text: fewer bytes than this. */
#define NVMR_MAX_REFUSE_TEXT 512u

/* ---- handshake ---- */
int nvmr_parse_hello(const uint8_t *p, size_t len, struct nvmr_hello *out,
		     char *err, size_t errlen);
int nvmr_parse_hello_reply(const uint8_t *p, size_t len,
			   struct nvmr_hello_reply *out, char *err,
			   size_t errlen);
int nvmr_parse_auth(const uint8_t *p, size_t len, struct nvmr_auth *out,
		    char *err, size_t errlen);
int nvmr_parse_ready(const uint8_t *p, size_t len, struct nvmr_ready *out,
		     char *err, size_t errlen);
/*
 * REFUSE: the code (unknown codes are kept: a newer peer may have more)
 * and the text, made printable (control bytes and non-ASCII become '?')
 * and NUL-terminated into text[textlen].
 */
int nvmr_parse_refuse(const uint8_t *p, size_t len, uint32_t *code,
		      char *text, size_t textlen, char *err, size_t errlen);

/* ---- requests (primary -> mirror) ---- */
int nvmr_parse_hash_req(const uint8_t *p, size_t len, uint64_t block_count,
			struct nvmr_hash_req *out, char *err, size_t errlen);
/* Every block named must be in the pool and its sum non-zero (0 = none). */
int nvmr_parse_verify(const uint8_t *p, size_t len, uint64_t block_count,
		      struct nvmr_verify *out,
		      const struct nvmr_block_sum **sums, char *err,
		      size_t errlen);
int nvmr_parse_read(const uint8_t *p, size_t len, uint64_t block_count,
		    struct nvmr_read *out, char *err, size_t errlen);
int nvmr_parse_ping(const uint8_t *p, size_t len, char *err, size_t errlen);
int nvmr_parse_sync_state(const uint8_t *p, size_t len,
			  struct nvmr_sync_state *out, char *err, size_t errlen);

/* ---- replies (mirror -> primary) ---- */
int nvmr_parse_ack(const uint8_t *p, size_t len, struct nvmr_ack *out,
		   char *err, size_t errlen);
int nvmr_parse_hashes(const uint8_t *p, size_t len, struct nvmr_hashes *out,
		      const uint64_t **sums, char *err, size_t errlen);
int nvmr_parse_verify_reply(const uint8_t *p, size_t len,
			    struct nvmr_verify_reply *out,
			    const uint64_t **bad, char *err, size_t errlen);
int nvmr_parse_read_reply(const uint8_t *p, size_t len,
			  struct nvmr_read_reply *out, const uint8_t **blocks,
			  char *err, size_t errlen);

/* "HELLO", "BATCH", ... or "type N". */
const char *nvmr_type_name(uint16_t type, char *buf, size_t buflen);

#endif
