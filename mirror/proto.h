/*
 * The replication protocol between a primary (the nvmpfs daemon) and its
 * mirror (nvmpfs-mirror).  One TCP connection, opened by the primary.
 * Every message is a header and a payload; all integers little-endian.
 *
 * Handshake (nothing else moves before it succeeds; both sides prove they
 * hold the shared key):
 *   primary -> HELLO        its pool's identity and epoch, a fresh nonce
 *   mirror  -> HELLO_REPLY  its pool's identity and epoch, its nonce, and
 *                           mac = HMAC-SHA256(key, "nvmpfs-mirror" |
 *                           hello payload | reply payload without mac)
 *   primary -> AUTH         mac = HMAC-SHA256(key, "nvmpfs-primary" |
 *                           hello payload | reply payload)
 *   mirror  -> READY        or REFUSE (a code and a line of text)
 * A side that finds something wrong sends REFUSE and closes.  The mirror
 * refuses: another pool (uuid or size), a primary of an older epoch than
 * its pool's (split brain: its pool was promoted), a promoted pool, a
 * pool of the same lineage with an older epoch than the primary's or the
 * same epoch and another epoch tag (it may hold changes the primary
 * lacks: it must be demoted first), and bad MACs.
 *
 * Sealing (HELLO flag NVMR_F_SEAL, both sides agree in READY): every
 * message after READY has its payload encrypted with AES-256-GCM; the
 * header is the additional authenticated data; the 16-byte tag follows
 * the ciphertext (header.len counts it).  Keys: HKDF-SHA256 of the key
 * with salt nonce_primary | nonce_mirror, info "nvmpfs seal p2m" or
 * "nvmpfs seal m2p" and the key generation (seq >> 32, so a key seals at
 * most 2^32 messages); nonce: 4 zero bytes | the header's seq.
 *
 * Replication: BATCH carries one drain of the primary (ranges of the
 * pool and their bytes, as they were at the drain), numbered by the
 * primary's batch sequence; the mirror applies batches in order, makes
 * each durable, and answers ACK with the highest batch sequence durable.
 * HASH_REQ / HASHES compare blocks (resync), VERIFY / VERIFY_REPLY check
 * blocks against checksums, READ / READ_REPLY fetch blocks (self-heal).
 * SYNC_STATE tells the mirror that a resync begins (synced 0: until it
 * ends, its pool mixes old and new blocks and is no crash image of the
 * primary: the mirror keeps a durable marker beside its pool, which
 * `nvmpfsctl promote` refuses) or has ended (synced 1: marker removed).
 * Every request is handled in order, after the batches sent before it.
 */
#ifndef NVMPFS_MIRROR_PROTO_H
#define NVMPFS_MIRROR_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NVMR_MAGIC 0x524d564eu          /* "NVMR" */
#define NVMR_VERSION 1u
#define NVMR_HEADER_SIZE 24u
#define NVMR_TAG_SIZE 16u               /* AES-GCM tag of a sealed payload */
#define NVMR_MAX_PAYLOAD (16u << 20)    /* bytes after the header */
#define NVMR_MAX_RANGES 4096u           /* ranges of one BATCH */
#define NVMR_MAX_HASHES 65536u          /* blocks of one HASH_REQ */
#define NVMR_MAX_VERIFY 4096u           /* blocks of one VERIFY */
#define NVMR_MAX_READ 256u              /* blocks of one READ */
#define NVMR_NONCE_SIZE 32u
#define NVMR_MAC_SIZE 32u
#define NVMR_KEY_MIN 16u                /* bytes of a key file, at least */
#define NVMR_KEY_MAX 4096u

struct nvmr_header {
	uint32_t magic;          /* NVMR_MAGIC */
	uint16_t version;        /* NVMR_VERSION */
	uint16_t type;           /* enum nvmr_type */
	uint32_t len;            /* payload bytes that follow */
	uint32_t reserved;       /* 0 */
	uint64_t seq;            /* message number in this direction, from 1 */
};

enum nvmr_type {
	NVMR_HELLO = 1,
	NVMR_HELLO_REPLY = 2,
	NVMR_AUTH = 3,
	NVMR_READY = 4,
	NVMR_REFUSE = 5,
	NVMR_BATCH = 10,
	NVMR_ACK = 11,
	NVMR_HASH_REQ = 12,
	NVMR_HASHES = 13,
	NVMR_VERIFY = 14,
	NVMR_VERIFY_REPLY = 15,
	NVMR_READ = 16,
	NVMR_READ_REPLY = 17,
	NVMR_PING = 18,
	NVMR_PONG = 19,
	NVMR_SYNC_STATE = 20,
};

/* HELLO flags. */
#define NVMR_F_SEAL 0x1u

/* A pool as a side describes it (HELLO, HELLO_REPLY). */
struct nvmr_pool_id {
	uint8_t uuid[16];
	uint64_t block_count;
	uint64_t pool_size;      /* bytes */
	uint64_t epoch;          /* superblock mirror_epoch */
	uint64_t generation;     /* superblock generation */
	uint64_t epoch_tag;      /* superblock epoch_tag: drawn at mkfs and
				    at each promotion, so two promotions to
				    the same epoch still differ */
	uint64_t repl_token;     /* superblock repl_token (layout.h) */
};

/* The state of a mirror's pool (HELLO_REPLY state). */
enum nvmr_pool_state {
	NVMR_POOL_REPLICA = 1,   /* a replica of the pool named (same uuid) */
	NVMR_POOL_BLANK = 2,     /* freshly made and empty: any primary of its
				    size may take it (full resync) */
	NVMR_POOL_DEMOTED = 3,   /* an old primary, demoted: full resync */
};

struct nvmr_hello {
	struct nvmr_pool_id pool;
	uint32_t flags;          /* NVMR_F_* asked for */
	uint32_t reserved;       /* 0 */
	uint8_t nonce[NVMR_NONCE_SIZE];
};

struct nvmr_hello_reply {
	struct nvmr_pool_id pool;
	uint32_t state;          /* enum nvmr_pool_state */
	uint32_t flags;          /* NVMR_F_* granted */
	uint8_t nonce[NVMR_NONCE_SIZE];
	uint8_t mac[NVMR_MAC_SIZE];
};

struct nvmr_auth {
	uint8_t mac[NVMR_MAC_SIZE];
};

struct nvmr_ready {
	uint32_t flags;          /* NVMR_F_* in force */
	uint32_t full_resync;    /* 1: the primary must compare every block */
	uint64_t applied;        /* highest batch sequence durable here, 0 */
};

/* REFUSE codes. */
enum nvmr_refusal {
	NVMR_REFUSE_PROTOCOL = 1,   /* malformed or unexpected message */
	NVMR_REFUSE_AUTH = 2,       /* wrong key */
	NVMR_REFUSE_POOL = 3,       /* another pool (uuid, size) */
	NVMR_REFUSE_SPLIT_BRAIN = 4,/* epochs say the pools diverged */
	NVMR_REFUSE_BUSY = 5,       /* the mirror serves another primary */
	NVMR_REFUSE_IO = 6,         /* the mirror's pool failed */
};

struct nvmr_refuse {
	uint32_t code;           /* enum nvmr_refusal */
	uint32_t text_len;       /* bytes of text that follow, < 512 */
};

/* BATCH: this header, nranges nvmr_range, then the bytes in order. */
struct nvmr_batch {
	uint64_t batch_seq;      /* the primary's drain number, increasing */
	uint32_t nranges;        /* 1 .. NVMR_MAX_RANGES */
	uint32_t reserved;       /* 0 */
};

struct nvmr_range {
	uint64_t off;            /* pool byte offset */
	uint64_t len;            /* bytes; off + len <= pool size */
};

struct nvmr_ack {
	uint64_t applied;        /* every batch up to this one is durable */
};

struct nvmr_hash_req {
	uint64_t id;
	uint64_t first_block;
	uint32_t count;          /* 1 .. NVMR_MAX_HASHES */
	uint32_t reserved;
};

/* HASHES: this header then count XXH3-64 of the blocks (never 0: 0 -> 1). */
struct nvmr_hashes {
	uint64_t id;
	uint64_t first_block;
	uint32_t count;
	uint32_t reserved;
};

/* VERIFY: this header then count nvmr_block_sum. */
struct nvmr_verify {
	uint64_t id;
	uint32_t count;          /* 1 .. NVMR_MAX_VERIFY */
	uint32_t reserved;
};

struct nvmr_block_sum {
	uint64_t block;
	uint64_t sum;            /* the checksum the block must have */
};

/* VERIFY_REPLY: this header then nbad block numbers that did not match. */
struct nvmr_verify_reply {
	uint64_t id;
	uint32_t nbad;
	uint32_t reserved;
};

/* SYNC_STATE (no answer). */
struct nvmr_sync_state {
	uint32_t synced;         /* 0: a resync begins, 1: it is over */
	uint32_t reserved;       /* 0 */
};

struct nvmr_read {
	uint64_t id;
	uint64_t block;
	uint32_t count;          /* 1 .. NVMR_MAX_READ */
	uint32_t reserved;
};

/* READ_REPLY: this header then count * 4096 bytes. */
struct nvmr_read_reply {
	uint64_t id;
	uint64_t block;
	uint32_t count;
	uint32_t reserved;
};

/*
 * Checks a header as received (magic, version, type, length within
 * NVMR_MAX_PAYLOAD (+ tag when sealed), reserved 0, seq = expected).
 * Returns 0 or -EPROTO with a message.
 */
int nvmr_check_header(const struct nvmr_header *h, uint64_t expected_seq,
		      bool sealed, char *err, size_t errlen);

/*
 * Checks a BATCH payload field by field against a pool of pool_size
 * bytes: range count, every range inside the pool and non-empty, the
 * bytes adding up to the payload exactly, the batch sequence greater than
 * last_applied.  Returns 0 (and *ranges, *data pointing into payload) or
 * -EPROTO with a message.  Nothing may be applied before this passes.
 */
int nvmr_parse_batch(const uint8_t *payload, size_t len, uint64_t pool_size,
		     uint64_t last_applied, struct nvmr_batch *batch,
		     const struct nvmr_range **ranges, const uint8_t **data,
		     char *err, size_t errlen);

#endif
