/*
 * Unit tests of the replication channel (mirror/): header and payload
 * checks, key files, addresses, the handshake both ways over a
 * socketpair (keys right and wrong, sealed and not, tampering), the
 * mirror's judge and its pool states, and the mirror's message handling
 * over a scratch pool.
 *
 *   tests/unit/test_mirror            run every test
 *   tests/unit/test_mirror handshake  the tests whose name has "handshake"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "csum.h"
#include "format.h"
#include "mirror/channel_internal.h"
#include "mirror/judge.h"
#include "mirror/parse.h"
#include "mirror/pool_view.h"
#include "mirror/replica.h"
#include "pool.h"
#include "role.h"
#include "super.h"

#include "unit.h"

#define BS NVMPFS_BLOCK_SIZE
#define MiB (1ull << 20)

/* ------------------------------------------------------------------ */
/* Scratch files of the current test, removed after each test.         */

static char paths[8][128];
static int npaths, serial;
static struct pool *pools[4];

static const char *tmp_path(const char *tag)
{
	if (npaths == 8)
		FAIL("too many scratch files");
	char *p = paths[npaths++];
	snprintf(p, sizeof(paths[0]), "/dev/shm/nvmpfs-unit-mirror-%d-%s-%d",
		 (int)getpid(), tag, ++serial);
	unlink(p);
	return p;
}

static void cleanup_test(void)
{
	for (int i = 0; i < 4; i++)
		if (pools[i]) {
			pool_close(pools[i]);
			pools[i] = NULL;
		}
	for (int i = 0; i < npaths; i++) {
		unlink(paths[i]);
		rmdir(paths[i]);
	}
	npaths = 0;
}

/* A freshly made (formatted) pool of size bytes. */
static struct pool *made_pool(uint64_t size)
{
	struct pool_open_opts o = { .create = true, .create_size = size };
	struct mkfs_params mp = { .root_mode = 0755 };
	char err[512];
	struct pool *p = pool_open(tmp_path("pool"), &o, err, sizeof(err));
	if (!p)
		FAIL("pool_open: %s", err);
	for (int i = 0; i < 4; i++)
		if (!pools[i]) {
			pools[i] = p;
			break;
		}
	if (format_pool(p, &mp, NULL, NULL, err, sizeof(err)) < 0)
		FAIL("format_pool: %s", err);
	return p;
}

static uint64_t pool_hash(const struct pool *p)
{
	return XXH3_64bits(p->base, p->size);
}

static void write_file(const char *path, const void *data, size_t len,
		       mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		FAIL("cannot write %s", path);
	fchmod(fd, mode);
	close(fd);
}

static const struct nvmr_key test_key = {
	.bytes = "0123456789abcdef0123456789abcdef", .len = 32
};
static const struct nvmr_key other_key = {
	.bytes = "fedcba9876543210fedcba9876543210", .len = 32
};

/* ------------------------------------------------------------------ */
/* Headers.                                                            */

static struct nvmr_header good_header(void)
{
	return (struct nvmr_header){ NVMR_MAGIC, NVMR_VERSION, NVMR_BATCH, 100,
				     0, 7 };
}

UNIT_TEST(header_checks)
{
	char err[256];
	struct nvmr_header h = good_header();
	CHECK_EQ(0, nvmr_check_header(&h, 7, false, err, sizeof(err)));

	h.magic = 0x12345678;
	CHECK_EQ(-EPROTO, nvmr_check_header(&h, 7, false, err, sizeof(err)));
	CHECK_CONTAINS(err, "not an nvmpfs mirror message");
	h = good_header();
	h.version = 2;
	CHECK_EQ(-EPROTO, nvmr_check_header(&h, 7, false, err, sizeof(err)));
	CHECK_CONTAINS(err, "protocol version 2");
	uint16_t bad_types[] = { 0, 6, 9, 21, 0xffff };
	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
		h = good_header();
		h.type = bad_types[i];
		CHECK_EQ(-EPROTO, nvmr_check_header(&h, 7, false, err,
						    sizeof(err)));
		CHECK_CONTAINS(err, "unknown message type");
	}
	h = good_header();
	h.len = NVMR_MAX_PAYLOAD;
	CHECK_EQ(0, nvmr_check_header(&h, 7, false, err, sizeof(err)));
	h.len = NVMR_MAX_PAYLOAD + 1;
	CHECK_EQ(-EPROTO, nvmr_check_header(&h, 7, false, err, sizeof(err)));
	CHECK_CONTAINS(err, "more than the 16777216 allowed");
	/* Sealed: the tag comes on top, and must be there. */
	h.len = NVMR_MAX_PAYLOAD + NVMR_TAG_SIZE;
	CHECK_EQ(0, nvmr_check_header(&h, 7, true, err, sizeof(err)));
	h.len = NVMR_MAX_PAYLOAD + NVMR_TAG_SIZE + 1;
	CHECK_EQ(-EPROTO, nvmr_check_header(&h, 7, true, err, sizeof(err)));
	h.len = NVMR_TAG_SIZE - 1;
	CHECK_EQ(-EPROTO, nvmr_check_header(&h, 7, true, err, sizeof(err)));
	CHECK_CONTAINS(err, "shorter than its 16-byte tag");
	h = good_header();
	h.reserved = 1;
	CHECK_EQ(-EPROTO, nvmr_check_header(&h, 7, false, err, sizeof(err)));
	CHECK_CONTAINS(err, "reserved");
	h = good_header();
	CHECK_EQ(-EPROTO, nvmr_check_header(&h, 8, false, err, sizeof(err)));
	CHECK_CONTAINS(err, "message number 7, expected 8");
	CHECK_EQ(-EPROTO, nvmr_check_header(&h, 6, false, err, sizeof(err)));
}

/* ------------------------------------------------------------------ */
/* BATCH parsing.                                                      */

/* A batch payload in an aligned buffer: head, ranges, then data bytes. */
struct built {
	uint64_t words[64];
	size_t len;
};

static struct built batch_of(uint64_t seq, uint32_t nranges,
			     const struct nvmr_range *r, size_t nr,
			     size_t data_bytes)
{
	struct built b;
	memset(&b, 0xdd, sizeof(b));
	struct nvmr_batch head = { .batch_seq = seq, .nranges = nranges };
	uint8_t *p = (uint8_t *)b.words;
	memcpy(p, &head, sizeof(head));
	if (nr)
		memcpy(p + sizeof(head), r, nr * sizeof(*r));
	b.len = sizeof(head) + nr * sizeof(*r) + data_bytes;
	if (b.len > sizeof(b.words))
		FAIL("test batch too big");
	return b;
}

#define POOL_SIZE_T (8 * MiB)

static int parse(const struct built *b, uint64_t last, char *err)
{
	struct nvmr_batch head;
	const struct nvmr_range *ranges;
	const uint8_t *data;
	return nvmr_parse_batch((const uint8_t *)b->words, b->len, POOL_SIZE_T,
				last, &head, &ranges, &data, err, 256);
}

UNIT_TEST(batch_valid)
{
	struct nvmr_range r[2] = { { 4096, 10 }, { POOL_SIZE_T - 6, 6 } };
	struct built b = batch_of(5, 2, r, 2, 16);
	struct nvmr_batch head;
	const struct nvmr_range *ranges;
	const uint8_t *data;
	char err[256] = "";
	REQUIRE_EQ(0, nvmr_parse_batch((const uint8_t *)b.words, b.len,
				       POOL_SIZE_T, 4, &head, &ranges, &data,
				       err, sizeof(err)));
	CHECK_UEQ(5, head.batch_seq);
	CHECK_UEQ(2, head.nranges);
	CHECK(ranges == (const void *)((uint8_t *)b.words + 16));
	CHECK_UEQ(POOL_SIZE_T - 6, ranges[1].off);
	CHECK(data == (uint8_t *)b.words + 16 + 32);
}

UNIT_TEST(batch_refusals)
{
	char err[256];
	struct nvmr_range in = { 4096, 8 };
	struct built b;

	/* Ranges outside the pool, or wrapping past 2^64. */
	struct nvmr_range outside = { POOL_SIZE_T - 4, 8 };
	b = batch_of(1, 1, &outside, 1, 8);
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	CHECK_CONTAINS(err, "outside the pool of 8388608 bytes");
	struct nvmr_range beyond = { POOL_SIZE_T, 1 };
	b = batch_of(1, 1, &beyond, 1, 1);
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	struct nvmr_range wrap = { UINT64_MAX - 3, 8 };
	b = batch_of(1, 1, &wrap, 1, 8);
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	CHECK_CONTAINS(err, "outside the pool");
	struct nvmr_range huge = { 0, UINT64_MAX };
	b = batch_of(1, 1, &huge, 1, 8);
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	/* A range that wraps the running byte count. */
	struct nvmr_range two[2] = { { 0, 8 }, { 8, POOL_SIZE_T - 8 } };
	b = batch_of(1, 2, two, 2, 8);
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	CHECK_CONTAINS(err, "add up to more than");

	/* Counts. */
	b = batch_of(1, 0, NULL, 0, 0);
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	CHECK_CONTAINS(err, "has no range");
	b = batch_of(1, NVMR_MAX_RANGES + 1, &in, 1, 8);
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	CHECK_CONTAINS(err, "more than the 4096 allowed");
	b = batch_of(1, 3, &in, 1, 8);   /* says 3, holds 1 and 8 bytes */
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	CHECK_CONTAINS(err, "too short for its 3 ranges");

	/* Bytes not adding up. */
	b = batch_of(1, 1, &in, 1, 7);
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	CHECK_CONTAINS(err, "add up to more than the 7 bytes");
	b = batch_of(1, 1, &in, 1, 9);
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	CHECK_CONTAINS(err, "add up to 8 bytes, it carries 9");
	struct nvmr_range empty = { 4096, 0 };
	b = batch_of(1, 1, &empty, 1, 0);
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	CHECK_CONTAINS(err, "is empty");

	/* Sequence numbers only go up. */
	b = batch_of(4, 1, &in, 1, 8);
	CHECK_EQ(-EPROTO, parse(&b, 4, err));
	CHECK_CONTAINS(err, "must increase");
	CHECK_EQ(-EPROTO, parse(&b, 9, err));
	CHECK_EQ(0, parse(&b, 3, err));

	/* Too short for its head; reserved field. */
	b = batch_of(1, 1, &in, 1, 8);
	b.len = 15;
	CHECK_EQ(-EPROTO, parse(&b, 0, err));
	CHECK_CONTAINS(err, "shorter than its 16-byte header");
	b = batch_of(1, 1, &in, 1, 8);
	((struct nvmr_batch *)b.words)->reserved = 1;
	CHECK_EQ(-EPROTO, parse(&b, 0, err));

	/* A payload not aligned in memory is a caller's bug. */
	struct nvmr_batch head;
	const struct nvmr_range *ranges;
	const uint8_t *data;
	b = batch_of(1, 1, &in, 1, 8);
	CHECK_EQ(-EINVAL, nvmr_parse_batch((const uint8_t *)b.words + 1, 30,
					   POOL_SIZE_T, 0, &head, &ranges,
					   &data, err, sizeof(err)));
}

/* ------------------------------------------------------------------ */
/* The other messages.                                                 */

UNIT_TEST(other_parsers)
{
	char err[256], text[64];
	uint64_t buf[1024];
	memset(buf, 0, sizeof(buf));
	uint8_t *p = (uint8_t *)buf;

	struct nvmr_hello hello = { .pool = { .block_count = 10,
					      .pool_size = 10 * BS } };
	struct nvmr_hello out;
	memcpy(p, &hello, sizeof(hello));
	CHECK_EQ(0, nvmr_parse_hello(p, sizeof(hello), &out, err, sizeof(err)));
	CHECK_EQ(-EPROTO, nvmr_parse_hello(p, sizeof(hello) - 1, &out, err,
					   sizeof(err)));
	hello.flags = 0x2;
	memcpy(p, &hello, sizeof(hello));
	CHECK_EQ(-EPROTO, nvmr_parse_hello(p, sizeof(hello), &out, err,
					   sizeof(err)));
	hello.flags = 0;
	hello.pool.pool_size = 9 * BS;
	memcpy(p, &hello, sizeof(hello));
	CHECK_EQ(-EPROTO, nvmr_parse_hello(p, sizeof(hello), &out, err,
					   sizeof(err)));
	CHECK_CONTAINS(err, "cannot hold 10 blocks");

	struct nvmr_hash_req hq = { .id = 1, .first_block = 5, .count = 5 };
	struct nvmr_hash_req hq_out;
	memcpy(p, &hq, sizeof(hq));
	CHECK_EQ(0, nvmr_parse_hash_req(p, sizeof(hq), 10, &hq_out, err,
					sizeof(err)));
	CHECK_EQ(-EPROTO, nvmr_parse_hash_req(p, sizeof(hq), 9, &hq_out, err,
					      sizeof(err)));
	CHECK_CONTAINS(err, "outside the pool of 9 blocks");
	hq.count = 0;
	memcpy(p, &hq, sizeof(hq));
	CHECK_EQ(-EPROTO, nvmr_parse_hash_req(p, sizeof(hq), 10, &hq_out, err,
					      sizeof(err)));
	hq = (struct nvmr_hash_req){ .first_block = UINT64_MAX, .count = 2 };
	memcpy(p, &hq, sizeof(hq));
	CHECK_EQ(-EPROTO, nvmr_parse_hash_req(p, sizeof(hq), 10, &hq_out, err,
					      sizeof(err)));

	struct nvmr_verify v = { .id = 2, .count = 2 };
	struct nvmr_block_sum s[2] = { { 1, 77 }, { 9, 88 } };
	struct nvmr_verify v_out;
	const struct nvmr_block_sum *sums;
	memcpy(p, &v, sizeof(v));
	memcpy(p + sizeof(v), s, sizeof(s));
	CHECK_EQ(0, nvmr_parse_verify(p, sizeof(v) + sizeof(s), 10, &v_out,
				      &sums, err, sizeof(err)));
	CHECK_UEQ(88, sums[1].sum);
	CHECK_EQ(-EPROTO, nvmr_parse_verify(p, sizeof(v) + sizeof(s) - 8, 10,
					    &v_out, &sums, err, sizeof(err)));
	CHECK_EQ(-EPROTO, nvmr_parse_verify(p, sizeof(v) + sizeof(s), 9,
					    &v_out, &sums, err, sizeof(err)));
	s[0].sum = 0;
	memcpy(p + sizeof(v), s, sizeof(s));
	CHECK_EQ(-EPROTO, nvmr_parse_verify(p, sizeof(v) + sizeof(s), 10,
					    &v_out, &sums, err, sizeof(err)));
	CHECK_CONTAINS(err, "checksum 0");

	struct nvmr_read rq = { .block = 8, .count = 2 };
	struct nvmr_read rq_out;
	memcpy(p, &rq, sizeof(rq));
	CHECK_EQ(0, nvmr_parse_read(p, sizeof(rq), 10, &rq_out, err,
				    sizeof(err)));
	rq.count = NVMR_MAX_READ + 1;
	memcpy(p, &rq, sizeof(rq));
	CHECK_EQ(-EPROTO, nvmr_parse_read(p, sizeof(rq), 1000, &rq_out, err,
					  sizeof(err)));

	CHECK_EQ(0, nvmr_parse_ping(p, NVMR_MAX_PING, err, sizeof(err)));
	CHECK_EQ(-EPROTO, nvmr_parse_ping(p, NVMR_MAX_PING + 1, err,
					  sizeof(err)));

	/* REFUSE: text length must match; the text comes out printable. */
	struct nvmr_refuse r = { .code = NVMR_REFUSE_POOL, .text_len = 5 };
	uint32_t code;
	memcpy(p, &r, sizeof(r));
	memcpy(p + sizeof(r), "ab\ncd", 5);
	CHECK_EQ(0, nvmr_parse_refuse(p, sizeof(r) + 5, &code, text,
				      sizeof(text), err, sizeof(err)));
	CHECK_STR("ab?cd", text);
	CHECK_UEQ(NVMR_REFUSE_POOL, code);
	CHECK_EQ(-EPROTO, nvmr_parse_refuse(p, sizeof(r) + 4, &code, text,
					    sizeof(text), err, sizeof(err)));
	r.text_len = NVMR_MAX_REFUSE_TEXT;
	memcpy(p, &r, sizeof(r));
	CHECK_EQ(-EPROTO, nvmr_parse_refuse(p, sizeof(r) + r.text_len, &code,
					    text, sizeof(text), err,
					    sizeof(err)));

	/* Replies the primary reads. */
	struct nvmr_hashes hs = { .id = 1, .first_block = 0, .count = 2 };
	const uint64_t *hv;
	uint64_t vals[2] = { 5, 0 };
	memcpy(p, &hs, sizeof(hs));
	memcpy(p + sizeof(hs), vals, sizeof(vals));
	CHECK_EQ(-EPROTO, nvmr_parse_hashes(p, sizeof(hs) + 16, &hs, &hv, err,
					    sizeof(err)));
	vals[1] = 6;
	memcpy(p + sizeof(hs), vals, sizeof(vals));
	CHECK_EQ(0, nvmr_parse_hashes(p, sizeof(hs) + 16, &hs, &hv, err,
				      sizeof(err)));
	CHECK_EQ(-EPROTO, nvmr_parse_hashes(p, sizeof(hs) + 24, &hs, &hv, err,
					    sizeof(err)));
	struct nvmr_read_reply rr = { .count = 1 };
	const uint8_t *blocks;
	memcpy(p, &rr, sizeof(rr));
	CHECK_EQ(0, nvmr_parse_read_reply(p, sizeof(rr) + BS, &rr, &blocks,
					  err, sizeof(err)));
	CHECK_EQ(-EPROTO, nvmr_parse_read_reply(p, sizeof(rr) + BS - 1, &rr,
						&blocks, err, sizeof(err)));
	struct nvmr_ack ack;
	CHECK_EQ(-EPROTO, nvmr_parse_ack(p, 7, &ack, err, sizeof(err)));
}

/* ------------------------------------------------------------------ */
/* Key files and addresses.                                            */

UNIT_TEST(key_file_checks)
{
	struct nvmr_key key;
	char err[512];
	const char *path = tmp_path("key");
	const char bytes[] = "0123456789abcdef0123456789abcdef";

	write_file(path, bytes, 32, 0600);
	REQUIRE_EQ(0, nvmr_key_load(path, &key, err, sizeof(err)));
	CHECK_UEQ(32, key.len);
	CHECK_MEM(bytes, key.bytes, 32);
	write_file(path, bytes, 32, 0400);
	CHECK_EQ(0, nvmr_key_load(path, &key, err, sizeof(err)));

	mode_t unsafe[] = { 0644, 0640, 0604, 0620, 0602, 0610, 0601 };
	for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
		write_file(path, bytes, 32, unsafe[i]);
		CHECK_EQ(-1, nvmr_key_load(path, &key, err, sizeof(err)));
		CHECK_CONTAINS(err, "group or others may read or write it");
		CHECK_CONTAINS(err, path);
		CHECK_UEQ(0, key.len);
	}
	write_file(path, bytes, NVMR_KEY_MIN - 1, 0600);
	CHECK_EQ(-1, nvmr_key_load(path, &key, err, sizeof(err)));
	CHECK_CONTAINS(err, "15 bytes, a key needs at least 16");
	write_file(path, bytes, NVMR_KEY_MIN, 0600);
	CHECK_EQ(0, nvmr_key_load(path, &key, err, sizeof(err)));
	static char big[NVMR_KEY_MAX + 1];
	write_file(path, big, sizeof(big), 0600);
	CHECK_EQ(-1, nvmr_key_load(path, &key, err, sizeof(err)));
	CHECK_CONTAINS(err, "at most 4096");

	const char *dir = tmp_path("keydir");
	mkdir(dir, 0700);
	CHECK_EQ(-1, nvmr_key_load(dir, &key, err, sizeof(err)));
	CHECK_CONTAINS(err, "not a regular file");
	const char *fifo = tmp_path("keyfifo");
	REQUIRE_EQ(0, mkfifo(fifo, 0600));
	CHECK_EQ(-1, nvmr_key_load(fifo, &key, err, sizeof(err)));
	CHECK_CONTAINS(err, "not a regular file");
	CHECK_EQ(-1, nvmr_key_load("/nonexistent/key", &key, err, sizeof(err)));
	CHECK_CONTAINS(err, "key file /nonexistent/key: No such file");
}

UNIT_TEST(address_split)
{
	char host[64], port[8], err[256];
	CHECK_EQ(0, nvmr_split_address("mirror.example:7000", host, sizeof(host),
				       port, sizeof(port), err, sizeof(err)));
	CHECK_STR("mirror.example", host);
	CHECK_STR("7000", port);
	CHECK_EQ(0, nvmr_split_address("[::1]:65535", host, sizeof(host), port,
				       sizeof(port), err, sizeof(err)));
	CHECK_STR("::1", host);
	CHECK_STR("65535", port);
	CHECK_EQ(0, nvmr_split_address("127.0.0.1:0", host, sizeof(host), port,
				       sizeof(port), err, sizeof(err)));
	const char *bad[] = { "host", "host:", ":80", "host:65536", "host:8x",
			      "::1:7000", "[::1]7000", "[::1", "[]:80",
			      "host:-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(-1, nvmr_split_address(bad[i], host, sizeof(host), port,
						sizeof(port), err, sizeof(err)));
		CHECK_CONTAINS(err, bad[i]);
	}
	CHECK_EQ(-1, nvmr_split_address("::1:7000", host, sizeof(host), port,
					sizeof(port), err, sizeof(err)));
	CHECK_CONTAINS(err, "brackets");
	CHECK_EQ(-1, nvmr_split_address("averyveryverylonghostnamethatdoesnotfit"
					"inside:1", host, 16, port,
					sizeof(port), err, sizeof(err)));
}

/* ------------------------------------------------------------------ */
/* Handshakes over a socketpair.                                       */

struct pair {
	struct nvmr_channel *primary, *mirror;
};

static struct pair socket_pair(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		FAIL("socketpair: %s", strerror(errno));
	struct pair p = {
		nvmr_channel_new(nvmr_tcp_from_fd(sv[0], "mirror-side"), 3000),
		nvmr_channel_new(nvmr_tcp_from_fd(sv[1], "primary-side"), 3000),
	};
	if (!p.primary || !p.mirror)
		FAIL("out of memory");
	return p;
}

/* The mirror's side runs in a thread. */
struct mirror_side {
	struct nvmr_channel *ch;
	const struct nvmr_key *key;
	struct nvmr_pool_id id;
	enum nvmr_pool_state state;
	bool allow_seal;
	nvmr_judge_fn judge;
	void *judge_arg;
	struct nvmr_hello hello;
	struct nvmr_ready ready;
	int rc;
	char err[1024];
	pthread_t thread;
};

static int judge_accept(void *arg, const struct nvmr_hello *hello,
			bool *full_resync, char *text, size_t textlen)
{
	(void)arg, (void)hello, (void)text, (void)textlen;
	*full_resync = true;
	return 0;
}

static void *mirror_thread(void *arg)
{
	struct mirror_side *m = arg;
	m->rc = nvmr_handshake_mirror(m->ch, m->key, &m->id, m->state,
				      m->allow_seal, 0, m->judge, m->judge_arg,
				      &m->hello, &m->ready, m->err,
				      sizeof(m->err));
	return NULL;
}

static struct nvmr_pool_id an_id(uint8_t tag)
{
	struct nvmr_pool_id id = { .block_count = 2048,
				   .pool_size = 2048ull * BS, .epoch = 1,
				   .generation = 9 };
	memset(id.uuid, tag, sizeof(id.uuid));
	return id;
}

static void start_mirror(struct mirror_side *m, struct nvmr_channel *ch,
			 const struct nvmr_key *key, bool allow_seal)
{
	memset(m, 0, sizeof(*m));
	m->ch = ch;
	m->key = key;
	m->id = an_id(0xbb);
	m->state = NVMR_POOL_REPLICA;
	m->allow_seal = allow_seal;
	m->judge = judge_accept;
	if (pthread_create(&m->thread, NULL, mirror_thread, m) != 0)
		FAIL("pthread_create");
}

static int primary_handshake(struct nvmr_channel *ch,
			     const struct nvmr_key *key, bool seal,
			     struct nvmr_hello_reply *reply,
			     struct nvmr_ready *ready, char *err)
{
	struct nvmr_pool_id id = an_id(0xaa);
	return nvmr_handshake_primary(ch, key, &id, seal, reply, ready, err,
				      1024);
}

UNIT_TEST(handshake_right_key)
{
	struct pair p = socket_pair();
	struct mirror_side m;
	struct nvmr_hello_reply reply;
	struct nvmr_ready ready;
	char err[1024] = "";
	start_mirror(&m, p.mirror, &test_key, true);
	int rc = primary_handshake(p.primary, &test_key, false, &reply, &ready,
				   err);
	pthread_join(m.thread, NULL);
	CHECK_EQ(0, rc);
	CHECK_EQ(0, m.rc);
	CHECK_UEQ(NVMR_POOL_REPLICA, reply.state);
	CHECK_UEQ(0xbb, reply.pool.uuid[0]);
	CHECK_UEQ(0xaa, m.hello.pool.uuid[15]);
	CHECK_UEQ(1, ready.full_resync);
	CHECK_UEQ(0, ready.flags);
	CHECK(!nvmr_channel_sealed(p.primary));
	nvmr_close(p.primary);
	nvmr_close(p.mirror);
}

UNIT_TEST(handshake_wrong_key)
{
	struct pair p = socket_pair();
	struct mirror_side m;
	struct nvmr_hello_reply reply;
	struct nvmr_ready ready;
	char err[1024] = "";
	start_mirror(&m, p.mirror, &test_key, true);
	int rc = primary_handshake(p.primary, &other_key, true, &reply, &ready,
				   err);
	pthread_join(m.thread, NULL);
	CHECK_EQ(-EACCES, rc);
	CHECK_CONTAINS(err, "wrong key");
	CHECK_EQ(-EACCES, m.rc);
	CHECK_CONTAINS(m.err, "wrong key");
	nvmr_close(p.primary);
	nvmr_close(p.mirror);

	/* A key that differs only in length is another key too. */
	struct nvmr_key shorter = test_key;
	shorter.len = 31;
	p = socket_pair();
	start_mirror(&m, p.mirror, &test_key, true);
	rc = primary_handshake(p.primary, &shorter, false, &reply, &ready, err);
	pthread_join(m.thread, NULL);
	CHECK_EQ(-EACCES, rc);
	CHECK_EQ(-EACCES, m.rc);
	nvmr_close(p.primary);
	nvmr_close(p.mirror);
}

/*
 * A forged AUTH (a peer without the key replaying bytes of its own) is
 * refused by the mirror, whatever the primary side says.
 */
UNIT_TEST(handshake_forged_auth)
{
	struct pair p = socket_pair();
	struct mirror_side m;
	char err[1024];
	start_mirror(&m, p.mirror, &test_key, true);
	struct nvmr_hello hello = { .pool = an_id(0xaa) };
	struct iovec iov = { &hello, sizeof(hello) };
	REQUIRE_EQ(0, nvmr_send(p.primary, NVMR_HELLO, &iov, 1));
	uint16_t type;
	const uint8_t *pl;
	size_t len;
	REQUIRE_EQ(0, nvmr_recv(p.primary, 3000, &type, &pl, &len, err,
				sizeof(err)));
	CHECK_EQ(NVMR_HELLO_REPLY, type);
	struct nvmr_auth auth;
	memset(&auth, 0x42, sizeof(auth));
	iov = (struct iovec){ &auth, sizeof(auth) };
	REQUIRE_EQ(0, nvmr_send(p.primary, NVMR_AUTH, &iov, 1));
	REQUIRE_EQ(0, nvmr_recv(p.primary, 3000, &type, &pl, &len, err,
				sizeof(err)));
	CHECK_EQ(NVMR_REFUSE, type);
	pthread_join(m.thread, NULL);
	CHECK_EQ(-EACCES, m.rc);
	nvmr_close(p.primary);
	nvmr_close(p.mirror);
}

/* A sender thread, for messages bigger than the socket's buffer. */
struct sender {
	struct nvmr_channel *ch;
	uint16_t type;
	const struct iovec *iov;
	int iovcnt;
	int rc;
	pthread_t thread;
};

static void *sender_thread(void *arg)
{
	struct sender *s = arg;
	s->rc = nvmr_send(s->ch, s->type, s->iov, s->iovcnt);
	return NULL;
}

/* Sends n pattern bytes in three pieces from one side; checks the other. */
static void round_trip(struct nvmr_channel *from, struct nvmr_channel *to,
		       uint16_t type, size_t n)
{
	static uint8_t buf[3 * MiB];
	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 7 + n);
	size_t a = n / 3, b = n / 2;
	struct iovec iov[3] = { { buf, a }, { buf + a, b - a },
				{ buf + b, n - b } };
	struct sender s = { from, type, iov, 3, -1, 0 };
	REQUIRE_EQ(0, pthread_create(&s.thread, NULL, sender_thread, &s));
	uint16_t got_type = 0;
	const uint8_t *pl = NULL;
	size_t len = 0;
	char err[1024] = "";
	int rc = nvmr_recv(to, 5000, &got_type, &pl, &len, err, sizeof(err));
	pthread_join(s.thread, NULL);
	CHECK_EQ(0, s.rc);
	REQUIRE_EQ(0, rc);
	CHECK_EQ(type, got_type);
	REQUIRE_EQ(n, len);
	CHECK_MEM(buf, pl, n);
}

static void attach_pair(struct pair *p, bool seal)
{
	struct mirror_side m;
	struct nvmr_hello_reply reply;
	struct nvmr_ready ready;
	char err[1024] = "";
	*p = socket_pair();
	start_mirror(&m, p->mirror, &test_key, true);
	int rc = primary_handshake(p->primary, &test_key, seal, &reply, &ready,
				   err);
	pthread_join(m.thread, NULL);
	if (rc < 0 || m.rc < 0)
		FAIL("handshake: %s / %s", err, m.err);
	CHECK_EQ(seal, nvmr_channel_sealed(p->primary));
	CHECK_EQ(seal, nvmr_channel_sealed(p->mirror));
	CHECK_UEQ(seal ? NVMR_F_SEAL : 0, ready.flags);
}

UNIT_TEST(round_trips_unsealed)
{
	struct pair p;
	attach_pair(&p, false);
	round_trip(p.primary, p.mirror, NVMR_BATCH, 1000);
	round_trip(p.mirror, p.primary, NVMR_ACK, 8);
	round_trip(p.primary, p.mirror, NVMR_PING, 0);
	round_trip(p.primary, p.mirror, NVMR_BATCH, 3 * MiB);
	round_trip(p.mirror, p.primary, NVMR_READ_REPLY, 1 * MiB + 24);
	nvmr_close(p.primary);
	nvmr_close(p.mirror);
}

UNIT_TEST(round_trips_sealed)
{
	struct pair p;
	attach_pair(&p, true);
	round_trip(p.primary, p.mirror, NVMR_BATCH, 1000);
	round_trip(p.mirror, p.primary, NVMR_ACK, 8);
	round_trip(p.primary, p.mirror, NVMR_PING, 0);
	round_trip(p.primary, p.mirror, NVMR_BATCH, 3 * MiB);
	round_trip(p.mirror, p.primary, NVMR_READ_REPLY, 1 * MiB + 24);
	round_trip(p.primary, p.mirror, NVMR_BATCH, 17);
	nvmr_close(p.primary);
	nvmr_close(p.mirror);
}

/* A sender thread for nvmr_send_many. */
struct run_sender {
	struct nvmr_channel *ch;
	const struct nvmr_out *msgs;
	int n, rc;
	pthread_t thread;
};

static void *run_sender_thread(void *arg)
{
	struct run_sender *s = arg;
	s->rc = nvmr_send_many(s->ch, s->msgs, s->n);
	return NULL;
}

/*
 * A run of n messages of assorted sizes (some empty, each in two pieces:
 * more iovecs in all than one sendmsg takes when n is large) arrives
 * as n messages, in order, each whole; then a lone nvmr_send follows
 * them (the sequence numbers of the run were the channel's own).
 */
static void run_trip(struct nvmr_channel *from, struct nvmr_channel *to,
		     int n)
{
	enum { MAXN = 700 };
	static uint8_t buf[MAXN][6000];
	static struct iovec iov[MAXN][2];
	static struct nvmr_out out[MAXN];
	for (int i = 0; i < n; i++) {
		size_t len = (size_t)(i * 37) % 6000;
		for (size_t j = 0; j < len; j++)
			buf[i][j] = (uint8_t)(i + j * 3);
		iov[i][0] = (struct iovec){ buf[i], len / 3 };
		iov[i][1] = (struct iovec){ buf[i] + len / 3, len - len / 3 };
		out[i] = (struct nvmr_out){ i % 2 ? NVMR_BATCH : NVMR_PING,
					    iov[i], 2 };
	}
	struct run_sender s = { from, out, n, -1, 0 };
	REQUIRE_EQ(0, pthread_create(&s.thread, NULL, run_sender_thread, &s));
	int bad = 0;
	for (int i = 0; i < n; i++) {
		uint16_t type = 0;
		const uint8_t *pl = NULL;
		size_t len = 0;
		char err[1024] = "";
		int rc = nvmr_recv(to, 5000, &type, &pl, &len, err, sizeof(err));
		if (rc) {
			FAIL("message %d of %d: %s", i, n, err);
			break;
		}
		size_t want = (size_t)(i * 37) % 6000;
		if (type != out[i].type || len != want ||
		    (want && memcmp(pl, buf[i], want)))
			bad++;
	}
	pthread_join(s.thread, NULL);
	CHECK_EQ(0, s.rc);
	CHECK_EQ(0, bad);
	round_trip(from, to, NVMR_BATCH, 100);
}

UNIT_TEST(runs_of_messages)
{
	for (int seal = 0; seal < 2; seal++) {
		struct pair p;
		attach_pair(&p, seal);
		run_trip(p.primary, p.mirror, 1);
		run_trip(p.primary, p.mirror, 64);
		run_trip(p.primary, p.mirror, 700);  /* 2100 iovecs */
		CHECK_EQ(0, nvmr_send_many(p.primary, NULL, 0));
		/* One message too big: refused before anything is sent. */
		static uint8_t big[NVMR_MAX_PAYLOAD + 1];
		struct iovec iv[2] = { { big, 10 }, { big, sizeof(big) } };
		struct nvmr_out two[2] = { { NVMR_PING, iv, 1 },
					   { NVMR_BATCH, iv + 1, 1 } };
		CHECK_EQ(-EMSGSIZE, nvmr_send_many(p.primary, two, 2));
		round_trip(p.primary, p.mirror, NVMR_BATCH, 100);
		nvmr_close(p.primary);
		nvmr_close(p.mirror);
	}
}

/* The mirror does not grant sealing it does not allow. */
UNIT_TEST(handshake_seal_not_granted)
{
	struct pair p = socket_pair();
	struct mirror_side m;
	struct nvmr_hello_reply reply;
	struct nvmr_ready ready;
	char err[1024] = "";
	start_mirror(&m, p.mirror, &test_key, false);
	int rc = primary_handshake(p.primary, &test_key, true, &reply, &ready,
				   err);
	pthread_join(m.thread, NULL);
	CHECK_EQ(0, rc);
	CHECK_EQ(0, m.rc);
	CHECK_UEQ(0, ready.flags);
	CHECK(!nvmr_channel_sealed(p.primary));
	round_trip(p.primary, p.mirror, NVMR_PING, 10);
	nvmr_close(p.primary);
	nvmr_close(p.mirror);
}

/*
 * Reads the next whole message off the mirror's socket, bypassing its
 * channel (the bytes the primary sent), into buf; returns its size.
 */
static size_t take_raw(struct nvmr_channel *ch, uint8_t *buf)
{
	struct nvmr_transport *t = nvmr_channel_transport(ch);
	size_t have = 0, want = sizeof(struct nvmr_header);
	while (have < want) {
		ssize_t n = t->ops->recv(t, buf + have, want - have,
					 nvmr_deadline_ns(3000));
		if (n <= 0)
			FAIL("raw read: %zd", n);
		have += (size_t)n;
		if (have == sizeof(struct nvmr_header))
			want += ((struct nvmr_header *)buf)->len;
	}
	return have;
}

static void put_raw(struct nvmr_channel *ch, const uint8_t *buf, size_t n)
{
	struct nvmr_transport *t = nvmr_channel_transport(ch);
	struct iovec iov = { (void *)buf, n };
	if (t->ops->send(t, &iov, 1) < 0)
		FAIL("raw send");
}

/*
 * A sealed message whose ciphertext, tag or header (the authenticated
 * data) was changed on the way is refused with -EPROTO, and the
 * connection is dead from then on.
 */
UNIT_TEST(sealed_tampering)
{
	static uint8_t raw[4096];
	int where[] = { 24 + 3, -1, 6 };  /* ciphertext, tag, header type */
	for (size_t k = 0; k < sizeof(where) / sizeof(where[0]); k++) {
		struct pair p;
		attach_pair(&p, true);
		uint8_t msg[100];
		memset(msg, 0x33, sizeof(msg));
		struct iovec iov = { msg, sizeof(msg) };
		REQUIRE_EQ(0, nvmr_send(p.primary, NVMR_BATCH, &iov, 1));
		size_t n = take_raw(p.mirror, raw);
		CHECK_UEQ(24 + 100 + 16, n);
		if (where[k] == 6)
			raw[6] = NVMR_PING;   /* still a valid header */
		else if (where[k] < 0)
			raw[n - 1] ^= 1;
		else
			raw[where[k]] ^= 0x80;
		put_raw(p.primary, raw, n);
		uint16_t type;
		const uint8_t *pl;
		size_t len;
		char err[1024] = "";
		CHECK_EQ(-EPROTO, nvmr_recv(p.mirror, 3000, &type, &pl, &len, err,
					    sizeof(err)));
		CHECK_CONTAINS(err, "failed its seal check");
		CHECK_EQ(-EPROTO, nvmr_recv(p.mirror, 100, &type, &pl, &len, err,
					    sizeof(err)));
		nvmr_close(p.primary);
		nvmr_close(p.mirror);
	}

	/* Untouched, the same bytes open fine. */
	struct pair p;
	attach_pair(&p, true);
	uint8_t msg[100] = { 1, 2, 3 };
	struct iovec iov = { msg, sizeof(msg) };
	REQUIRE_EQ(0, nvmr_send(p.primary, NVMR_BATCH, &iov, 1));
	size_t n = take_raw(p.mirror, raw);
	CHECK(memcmp(raw + 24, msg, sizeof(msg)) != 0); /* not in the clear */
	put_raw(p.primary, raw, n);
	uint16_t type;
	const uint8_t *pl;
	size_t len;
	char err[1024] = "";
	CHECK_EQ(0, nvmr_recv(p.mirror, 3000, &type, &pl, &len, err,
			      sizeof(err)));
	CHECK_EQ(sizeof(msg), len);
	CHECK_MEM(msg, pl, sizeof(msg));
	nvmr_close(p.primary);
	nvmr_close(p.mirror);
}

/* Keys per direction and per generation (seq >> 32) open what they seal. */
UNIT_TEST(seal_generations)
{
	uint8_t np[NVMR_NONCE_SIZE] = { 1 }, nm[NVMR_NONCE_SIZE] = { 2 };
	struct nvmr_seal *tx, *rx, *other;
	char err[256];
	REQUIRE_EQ(0, nvmr_seal_new(&tx, &test_key, np, nm, NVMR_SEAL_INFO_P2M,
				    true, err, sizeof(err)));
	REQUIRE_EQ(0, nvmr_seal_new(&rx, &test_key, np, nm, NVMR_SEAL_INFO_P2M,
				    false, err, sizeof(err)));
	REQUIRE_EQ(0, nvmr_seal_new(&other, &test_key, np, nm,
				    NVMR_SEAL_INFO_M2P, false, err,
				    sizeof(err)));
	uint64_t seqs[] = { 1, (1ull << 32) - 1, 1ull << 32, (1ull << 32) + 1,
			    3, 5ull << 32 };
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		uint8_t plain[40], box[40 + NVMR_TAG_SIZE], copy[sizeof(box)];
		memset(plain, (int)i, sizeof(plain));
		struct nvmr_header h = { NVMR_MAGIC, NVMR_VERSION, NVMR_BATCH,
					 sizeof(box), 0, seqs[i] };
		struct iovec iov = { plain, sizeof(plain) };
		REQUIRE_EQ(0, nvmr_seal_message(tx, &h, &iov, 1, sizeof(plain),
						box));
		memcpy(copy, box, sizeof(box));
		CHECK_EQ(0, nvmr_open_message(rx, &h, box));
		CHECK_MEM(plain, box, sizeof(plain));
		/* The other direction's key does not open it. */
		CHECK_EQ(-EPROTO, nvmr_open_message(other, &h, copy));
	}
	nvmr_seal_free(tx);
	nvmr_seal_free(rx);
	nvmr_seal_free(other);
}

/* ------------------------------------------------------------------ */
/* The mirror's pool states and judge.                                 */

UNIT_TEST(pool_states)
{
	struct pool *pool = made_pool(16 * MiB);
	struct mirror_pool_view v;
	char err[512];
	REQUIRE_EQ(0, mirror_pool_view(pool, &v, err, sizeof(err)));
	CHECK_EQ(NVMR_POOL_BLANK, v.state);
	CHECK_STR("blank", mirror_state_name(&v));

	/* A file in use (any inode slot but the root's) is not blank. */
	uint8_t *slot = (uint8_t *)pool_block(pool, v.sb.inode_start) +
			5 * NVMPFS_INODE_SIZE;
	*(uint32_t *)slot = 0100644;
	REQUIRE_EQ(0, mirror_pool_view(pool, &v, err, sizeof(err)));
	CHECK_EQ(NVMR_POOL_REPLICA, v.state);
	*(uint32_t *)slot = 0;
	/* Nor is a root directory with entries, */
	struct nvmpfs_inode *root = (void *)((uint8_t *)pool_block(
		pool, v.sb.inode_start) + NVMPFS_ROOT_INO * NVMPFS_INODE_SIZE);
	root->size = BS;
	REQUIRE_EQ(0, mirror_pool_view(pool, &v, err, sizeof(err)));
	CHECK_EQ(NVMR_POOL_REPLICA, v.state);
	root->size = 0;
	/* a data block in use, */
	uint64_t *map = pool_block(pool, v.sb.bitmap_start);
	uint64_t last = v.sb.block_count - 1;
	map[last / 64] |= 1ull << (last % 64);
	REQUIRE_EQ(0, mirror_pool_view(pool, &v, err, sizeof(err)));
	CHECK_EQ(NVMR_POOL_REPLICA, v.state);
	map[last / 64] &= ~(1ull << (last % 64));
	REQUIRE_EQ(0, mirror_pool_view(pool, &v, err, sizeof(err)));
	CHECK_EQ(NVMR_POOL_BLANK, v.state);

	/* or a pool not unmounted cleanly. */
	struct nvmpfs_super sb = v.sb;
	sb.state = NVMPFS_STATE_MOUNTED;
	super_store(pool, &sb);
	REQUIRE_EQ(0, mirror_pool_view(pool, &v, err, sizeof(err)));
	CHECK_EQ(NVMR_POOL_REPLICA, v.state);
	CHECK(!v.promoted);

	sb.state = NVMPFS_STATE_CLEAN;
	sb.role_flags = NVMPFS_ROLE_PROMOTED;
	sb.mirror_epoch = 3;
	super_store(pool, &sb);
	REQUIRE_EQ(0, mirror_pool_view(pool, &v, err, sizeof(err)));
	CHECK_EQ(NVMR_POOL_REPLICA, v.state);
	CHECK(v.promoted);
	CHECK_STR("promoted", mirror_state_name(&v));

	sb.role_flags = NVMPFS_ROLE_PROMOTED | NVMPFS_ROLE_DEMOTED;
	super_store(pool, &sb);
	REQUIRE_EQ(0, mirror_pool_view(pool, &v, err, sizeof(err)));
	CHECK_EQ(NVMR_POOL_DEMOTED, v.state);
	CHECK(!v.promoted);

	/* Not a pool at all: said, with the file's name. */
	memset(pool->base, 0, 2 * BS);
	CHECK_EQ(-1, mirror_pool_view(pool, &v, err, sizeof(err)));
	CHECK_CONTAINS(err, "not an nvmpfs pool");
}

static struct nvmr_hello hello_like(const struct pool *pool,
				    const struct nvmpfs_super *sb)
{
	struct nvmr_hello h = { 0 };
	mirror_pool_id(pool, sb, &h.pool);
	return h;
}

static int judge(const struct pool *pool, const struct mirror_pool_view *v,
		 const struct nvmr_hello *h, bool *full, char *text)
{
	struct mirror_judge_ctx c = { .pool = pool, .view = v };
	*full = false;
	text[0] = '\0';
	return mirror_judge(&c, h, full, text, 512);
}

UNIT_TEST(judge_decisions)
{
	struct pool *pool = made_pool(16 * MiB);
	struct mirror_pool_view v;
	char err[512], text[512];
	bool full;
	REQUIRE_EQ(0, mirror_pool_view(pool, &v, err, sizeof(err)));
	struct nvmr_hello h = hello_like(pool, &v.sb);

	/* A blank pool takes any primary of its size: full resync. */
	memset(h.pool.uuid, 0x5a, 16);
	h.pool.epoch = 7;
	CHECK_EQ(0, judge(pool, &v, &h, &full, text));
	CHECK(full);

	/* Another size: both sizes said. */
	struct nvmr_hello big = h;
	big.pool.pool_size = 32 * MiB;
	big.pool.block_count = 8192;
	CHECK_EQ(NVMR_REFUSE_POOL, judge(pool, &v, &big, &full, text));
	CHECK_CONTAINS(text, "the primary's is 33554432 bytes (8192 blocks)");
	CHECK_CONTAINS(text, "is 16777216 bytes (4096 blocks)");
	struct nvmr_hello fewer = h;
	fewer.pool.block_count = 4000;
	CHECK_EQ(NVMR_REFUSE_POOL, judge(pool, &v, &fewer, &full, text));

	/* A replica refuses another pool: both uuids said. */
	v.state = NVMR_POOL_REPLICA;
	memset(v.sb.uuid, 0x11, 16);
	CHECK_EQ(NVMR_REFUSE_POOL, judge(pool, &v, &h, &full, text));
	CHECK_CONTAINS(text, "5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a5a");
	CHECK_CONTAINS(text, "11111111-1111-1111-1111-111111111111");
	/* ... but a demoted one takes it. */
	v.state = NVMR_POOL_DEMOTED;
	CHECK_EQ(0, judge(pool, &v, &h, &full, text));
	CHECK(full);

	/* Its own primary: epochs decide. */
	v.state = NVMR_POOL_REPLICA;
	memcpy(v.sb.uuid, h.pool.uuid, 16);
	v.sb.mirror_epoch = 7;
	CHECK_EQ(0, judge(pool, &v, &h, &full, text));
	CHECK(full);
	/* A newer primary: this replica was on the other side of a
	 * failover and may hold changes the primary lacks: demote first. */
	h.pool.epoch = 8;
	CHECK_EQ(NVMR_REFUSE_SPLIT_BRAIN, judge(pool, &v, &h, &full, text));
	CHECK_CONTAINS(text, "this pool has epoch 7, older than the primary's 8");
	CHECK_CONTAINS(text, "demote it");
	v.state = NVMR_POOL_DEMOTED;
	CHECK_EQ(0, judge(pool, &v, &h, &full, text));
	v.state = NVMR_POOL_REPLICA;
	/* The same epoch from another promotion (the tags differ). */
	h.pool.epoch = 7;
	h.pool.epoch_tag = 0x1234;
	v.sb.epoch_tag = 0x5678;
	CHECK_EQ(NVMR_REFUSE_SPLIT_BRAIN, judge(pool, &v, &h, &full, text));
	CHECK_CONTAINS(text, "promoted to epoch 7 apart");
	v.sb.epoch_tag = 0x1234;
	CHECK_EQ(0, judge(pool, &v, &h, &full, text));
	CHECK(full);
	/* The primary's replication token: only the marked blocks go. */
	h.pool.repl_token = v.sb.repl_token = 0xabcdef;
	CHECK_EQ(0, judge(pool, &v, &h, &full, text));
	CHECK(!full);
	v.sb.repl_token = 0xabcdee;
	CHECK_EQ(0, judge(pool, &v, &h, &full, text));
	CHECK(full);
	h.pool.repl_token = v.sb.repl_token = 0;   /* 0: never trusted */
	CHECK_EQ(0, judge(pool, &v, &h, &full, text));
	CHECK(full);
	h.pool.epoch = 6;
	CHECK_EQ(NVMR_REFUSE_SPLIT_BRAIN, judge(pool, &v, &h, &full, text));
	CHECK_CONTAINS(text, "this pool has epoch 7");
	CHECK_CONTAINS(text, "the primary's epoch is 6");
	/* A demoted pool of the same lineage still refuses an older epoch. */
	v.state = NVMR_POOL_DEMOTED;
	CHECK_EQ(NVMR_REFUSE_SPLIT_BRAIN, judge(pool, &v, &h, &full, text));

	/* A promoted pool is a primary: refused whatever the epochs. */
	v.state = NVMR_POOL_REPLICA;
	v.promoted = true;
	h.pool.epoch = 9;
	CHECK_EQ(NVMR_REFUSE_SPLIT_BRAIN, judge(pool, &v, &h, &full, text));
	CHECK_CONTAINS(text, "this pool was promoted (epoch 7); the primary's "
		       "epoch is 9");
	CHECK(!full);

	/* A pool that failed refuses everyone. */
	v.promoted = false;
	struct mirror_judge_ctx c = { .pool = pool, .view = &v,
				      .unusable = "drain failed" };
	CHECK_EQ(NVMR_REFUSE_IO, mirror_judge(&c, &h, &full, text, 512));
	CHECK_CONTAINS(text, "drain failed");
}

/* The judge's refusal reaches the primary as its errno and text. */
UNIT_TEST(handshake_judge_refusal)
{
	struct pool *pool = made_pool(16 * MiB);
	struct mirror_pool_view v;
	char err[1024] = "";
	REQUIRE_EQ(0, mirror_pool_view(pool, &v, err, sizeof(err)));
	struct nvmpfs_super sb = v.sb;
	sb.role_flags = NVMPFS_ROLE_PROMOTED;
	sb.mirror_epoch = 4;
	super_store(pool, &sb);
	REQUIRE_EQ(0, mirror_pool_view(pool, &v, err, sizeof(err)));
	struct mirror_judge_ctx jc = { .pool = pool, .view = &v };

	struct pair p = socket_pair();
	struct mirror_side m;
	memset(&m, 0, sizeof(m));
	m.ch = p.mirror;
	m.key = &test_key;
	mirror_pool_id(pool, &v.sb, &m.id);
	m.state = v.state;
	m.allow_seal = true;
	m.judge = mirror_judge;
	m.judge_arg = &jc;
	REQUIRE_EQ(0, pthread_create(&m.thread, NULL, mirror_thread, &m));
	struct nvmr_pool_id id;
	mirror_pool_id(pool, &v.sb, &id);
	id.epoch = 3;
	struct nvmr_hello_reply reply;
	struct nvmr_ready ready;
	int rc = nvmr_handshake_primary(p.primary, &test_key, &id, false,
					&reply, &ready, err, sizeof(err));
	pthread_join(m.thread, NULL);
	CHECK_EQ(-ESTALE, rc);
	CHECK_CONTAINS(err, "this pool was promoted (epoch 4); the primary's "
		       "epoch is 3");
	CHECK_EQ(-ESTALE, m.rc);
	nvmr_close(p.primary);
	nvmr_close(p.mirror);
}

/* ------------------------------------------------------------------ */
/* The mirror's message handling over a pool.                          */

static int handle(struct replica *r, uint16_t type, const void *payload,
		  size_t len, struct replica_reply *reply, char *err)
{
	static uint64_t buf[(64 << 10) / 8];
	if (len > sizeof(buf))
		FAIL("payload too big for the test");
	memcpy(buf, payload, len);
	return replica_handle(r, type, (const uint8_t *)buf, len, reply, err,
			      512);
}

UNIT_TEST(replica_batches)
{
	struct pool *pool = made_pool(8 * MiB);
	struct replica r;
	struct replica_reply reply;
	char err[512] = "";
	replica_init(&r, pool);

	uint64_t msg[64] = { 0 };
	struct nvmr_batch b = { .batch_seq = 3, .nranges = 2 };
	struct nvmr_range rg[2] = { { 100 * BS + 5, 11 }, { 8 * MiB - 4, 4 } };
	uint8_t *m = (uint8_t *)msg;
	memcpy(m, &b, sizeof(b));
	memcpy(m + 16, rg, sizeof(rg));
	memcpy(m + 48, "hello worldWXYZ", 15);
	REQUIRE_EQ(0, handle(&r, NVMR_BATCH, m, 48 + 15, &reply, err));
	CHECK_EQ(NVMR_ACK, reply.type);
	REQUIRE_EQ(1, reply.iovcnt);
	CHECK_UEQ(3, ((struct nvmr_ack *)reply.iov[0].iov_base)->applied);
	CHECK_MEM("hello world", (uint8_t *)pool->base + 100 * BS + 5, 11);
	CHECK_MEM("WXYZ", (uint8_t *)pool->base + 8 * MiB - 4, 4);
	CHECK_UEQ(3, r.applied);
	CHECK_UEQ(15, r.bytes);

	/* Malformed messages change nothing, and say why. */
	uint64_t before = pool_hash(pool);
	b.batch_seq = 3;            /* not after 3 */
	memcpy(m, &b, sizeof(b));
	CHECK_EQ(-EPROTO, handle(&r, NVMR_BATCH, m, 48 + 15, &reply, err));
	CHECK_CONTAINS(err, "must increase");
	b.batch_seq = 4;
	memcpy(m, &b, sizeof(b));
	rg[1].off = 8 * MiB - 3;    /* one byte past the end */
	memcpy(m + 16, rg, sizeof(rg));
	CHECK_EQ(-EPROTO, handle(&r, NVMR_BATCH, m, 48 + 15, &reply, err));
	CHECK_CONTAINS(err, "outside the pool");
	CHECK_UEQ(before, pool_hash(pool));
	/* The first range was fine: still not written. */
	memset(m + 48, 'Q', 15);
	CHECK_EQ(-EPROTO, handle(&r, NVMR_BATCH, m, 48 + 15, &reply, err));
	CHECK_MEM("hello world", (uint8_t *)pool->base + 100 * BS + 5, 11);
	CHECK_UEQ(before, pool_hash(pool));
	CHECK_EQ(-EPROTO, handle(&r, NVMR_ACK, m, 8, &reply, err));
	CHECK_CONTAINS(err, "unexpected ACK");
	CHECK_EQ(-EPROTO, handle(&r, NVMR_HELLO, m, 88, &reply, err));
	CHECK_UEQ(before, pool_hash(pool));
	CHECK_UEQ(3, r.applied);

	/* A new session numbers batches afresh. */
	replica_new_session(&r);
	b.batch_seq = 1;
	rg[1].off = 8 * MiB - 4;
	memcpy(m, &b, sizeof(b));
	memcpy(m + 16, rg, sizeof(rg));
	CHECK_EQ(0, handle(&r, NVMR_BATCH, m, 48 + 15, &reply, err));
	replica_free(&r);
}

UNIT_TEST(replica_resync_marker)
{
	struct pool *pool = made_pool(8 * MiB);
	struct replica r;
	struct replica_reply reply;
	char err[512] = "", marker[4200];
	replica_init(&r, pool);
	role_resync_marker(pool->path, marker, sizeof(marker));
	unlink(marker);
	uint64_t before = pool_hash(pool);

	struct nvmr_sync_state st = { .synced = 0 };
	REQUIRE_EQ(0, handle(&r, NVMR_SYNC_STATE, &st, sizeof(st), &reply, err));
	CHECK_EQ(0, reply.type);                 /* no answer */
	CHECK_EQ(0, access(marker, F_OK));       /* a resync begins */
	/* promote refuses such a replica, and says why. */
	uint64_t e0, e1;
	uint64_t data_bad;
	CHECK_EQ(-1, role_promote(pool->path, false, &e0, &e1, &data_bad, err,
				  sizeof(err)));
	CHECK_CONTAINS(err, "a resync was under way");
	st.synced = 1;
	REQUIRE_EQ(0, handle(&r, NVMR_SYNC_STATE, &st, sizeof(st), &reply, err));
	CHECK(access(marker, F_OK) != 0);        /* it ended */
	/* Again: removing what is gone is fine. */
	CHECK_EQ(0, handle(&r, NVMR_SYNC_STATE, &st, sizeof(st), &reply, err));

	/* Malformed: refused, nothing made. */
	st.synced = 2;
	CHECK_EQ(-EPROTO, handle(&r, NVMR_SYNC_STATE, &st, sizeof(st), &reply, err));
	st = (struct nvmr_sync_state){ .synced = 0, .reserved = 1 };
	CHECK_EQ(-EPROTO, handle(&r, NVMR_SYNC_STATE, &st, sizeof(st), &reply, err));
	CHECK_EQ(-EPROTO, handle(&r, NVMR_SYNC_STATE, &st, 4, &reply, err));
	CHECK(access(marker, F_OK) != 0);
	CHECK_UEQ(before, pool_hash(pool));
	replica_free(&r);
}

UNIT_TEST(replica_queries)
{
	struct pool *pool = made_pool(8 * MiB);
	struct replica r;
	struct replica_reply reply;
	char err[512] = "";
	replica_init(&r, pool);
	memset((uint8_t *)pool->base + 1000 * BS, 0x77, BS);

	struct nvmr_hash_req hq = { .id = 5, .first_block = 999, .count = 3 };
	REQUIRE_EQ(0, handle(&r, NVMR_HASH_REQ, &hq, sizeof(hq), &reply, err));
	CHECK_EQ(NVMR_HASHES, reply.type);
	REQUIRE_EQ(sizeof(struct nvmr_hashes) + 24, reply.iov[0].iov_len);
	const struct nvmr_hashes *hs = reply.iov[0].iov_base;
	CHECK_UEQ(5, hs->id);
	CHECK_UEQ(3, hs->count);
	const uint64_t *sums = (const uint64_t *)(hs + 1);
	for (int i = 0; i < 3; i++)
		CHECK_UEQ(csum_of_buffer(pool_block(pool, 999 + i)), sums[i]);
	CHECK(sums[0] != sums[1]);
	hq.count = 2048 - 999 + 1;       /* one past the pool's 2048 blocks */
	CHECK_EQ(-EPROTO, handle(&r, NVMR_HASH_REQ, &hq, sizeof(hq), &reply,
				 err));

	uint64_t vbuf[16] = { 0 };
	struct nvmr_verify v = { .id = 6, .count = 2 };
	struct nvmr_block_sum s[2] = {
		{ 1000, csum_of_buffer(pool_block(pool, 1000)) },
		{ 1001, 12345 },
	};
	memcpy(vbuf, &v, sizeof(v));
	memcpy((uint8_t *)vbuf + sizeof(v), s, sizeof(s));
	REQUIRE_EQ(0, handle(&r, NVMR_VERIFY, vbuf, sizeof(v) + sizeof(s),
			     &reply, err));
	CHECK_EQ(NVMR_VERIFY_REPLY, reply.type);
	const struct nvmr_verify_reply *vr = reply.iov[0].iov_base;
	REQUIRE_EQ(1, vr->nbad);
	CHECK_UEQ(1001, ((const uint64_t *)(vr + 1))[0]);
	CHECK_EQ(sizeof(*vr) + 8, reply.iov[0].iov_len);

	struct nvmr_read rq = { .id = 8, .block = 1000, .count = 2 };
	REQUIRE_EQ(0, handle(&r, NVMR_READ, &rq, sizeof(rq), &reply, err));
	CHECK_EQ(NVMR_READ_REPLY, reply.type);
	REQUIRE_EQ(2, reply.iovcnt);
	CHECK(reply.iov[1].iov_base == pool_block(pool, 1000));
	CHECK_EQ(2 * BS, reply.iov[1].iov_len);
	rq.block = 2047;
	CHECK_EQ(-EPROTO, handle(&r, NVMR_READ, &rq, sizeof(rq), &reply, err));

	REQUIRE_EQ(0, handle(&r, NVMR_PING, "abc", 3, &reply, err));
	CHECK_EQ(NVMR_PONG, reply.type);
	CHECK_EQ(3, reply.iov[0].iov_len);
	CHECK_MEM("abc", reply.iov[0].iov_base, 3);
	replica_free(&r);
}

int main(int argc, char **argv)
{
	/* Before any pool opens: libpmem reads it at the first mapping. */
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	unsetenv("NVMPFS_CRASH_AT");
	signal(SIGPIPE, SIG_IGN);
	unit_after_each = cleanup_test;
	return unit_main(argc, argv);
}
