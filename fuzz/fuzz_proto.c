/*
 * libFuzzer target for the replication protocol as the mirror receives
 * it: header checks, framing, the handshake, sealing, every payload
 * parser and the mirror's handling of each message over a scratch pool.
 *
 * The oracle: nothing but an acknowledged batch changes the mirror's
 * pool.  The target keeps a shadow of each pool, applies to it exactly
 * the batches the mirror acknowledged, and aborts when the pool differs
 * from the shadow (a malformed message wrote something, or an
 * acknowledged one was not written).  Crashes, sanitizer findings and
 * hangs (a session that does not end when the input does) are findings
 * too.
 *
 * Byte 0 of an input picks the mode (its value modulo 3):
 *
 *   0 raw       the rest of the input, verbatim, is what a peer sends to
 *               a mirror session (nvmpfs-mirror's session code, the
 *               judge over a formatted 8 MiB pool); it cannot hold the
 *               key, so nothing may be acknowledged or written.
 *   1 session   the target plays the primary: byte 1 shapes its HELLO
 *               (bit 0 seal, 1 another size, 2 another block count,
 *               3 another uuid, 4 epoch from bytes 3..10, 5 wrong key),
 *               byte 2 the mirror's pool before the session (low 3 bits:
 *               0 blank, 1 replica of the primary, 2 demoted, 3 promoted,
 *               4 replica of another pool; high 4 bits: its epoch); then
 *               messages, each: u16 type, u8 flags, u16 length, the
 *               bytes (flags bit 0: the header's seq is wrong, bit 1:
 *               the message is cut short and the input ends there).
 *   2 direct    messages (u16 type, u16 length, the bytes) handed to the
 *               mirror's per-message handler over a 1 MiB pool, the pool
 *               compared with its shadow after each.
 *
 * Multi-byte numbers are little-endian.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "format.h"
#include "mirror/channel_internal.h"
#include "mirror/judge.h"
#include "mirror/mlog.h"
#include "mirror/parse.h"
#include "mirror/pool_view.h"
#include "mirror/replica.h"
#include "mirror/server.h"
#include "pool.h"
#include "super.h"

#define SESSION_POOL_SIZE (8ull << 20)
#define DIRECT_POOL_SIZE (1ull << 20)
#define MAX_BATCHES 256

static const struct nvmr_key key = {
	.bytes = "fuzzing-key-0123456789abcdef", .len = 28
};
static const struct nvmr_key wrong_key = {
	.bytes = "another-key-0123456789abcdefX", .len = 29
};

static struct pool *session_pool, *direct_pool;
static uint8_t *session_template;   /* the formatted, blank pool */
static uint8_t *shadow;             /* what the pool under test must be */
static char session_path[128], direct_path[128];

static struct pool *scratch_pool(char *path, size_t pathlen, const char *tag,
				 uint64_t size)
{
	struct pool_open_opts o = { .create = true, .create_size = size };
	char err[512];
	snprintf(path, pathlen, "/dev/shm/nvmpfs-fuzz-proto-%d-%s.pool",
		 (int)getpid(), tag);
	unlink(path);
	struct pool *p = pool_open(path, &o, err, sizeof(err));
	if (!p) {
		fprintf(stderr, "fuzz_proto: %s\n", err);
		abort();
	}
	/* Mapped and locked: the name is not needed, and a finding aborts. */
	unlink(path);
	return p;
}

/*
 * A resync an input began leaves its marker next to the (unlinked) pool:
 * the session's, or the handler's own in the direct mode.
 */
static void remove_resync_marker(void)
{
	char marker[sizeof(session_path) + 16];
	snprintf(marker, sizeof(marker), "%s.resyncing", session_path);
	unlink(marker);
	snprintf(marker, sizeof(marker), "%s.resyncing", direct_path);
	unlink(marker);
}

static void setup(void)
{
	setenv("PMEM_IS_PMEM_FORCE", "1", 1);
	unsetenv("NVMPFS_CRASH_AT");
	signal(SIGPIPE, SIG_IGN);
	mlog_silence();
	session_pool = scratch_pool(session_path, sizeof(session_path),
				    "session", SESSION_POOL_SIZE);
	atexit(remove_resync_marker);
	direct_pool = scratch_pool(direct_path, sizeof(direct_path), "direct",
				   DIRECT_POOL_SIZE);
	struct mkfs_params mp = { .root_mode = 0755 };
	char err[512];
	if (format_pool(session_pool, &mp, NULL, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_proto: %s\n", err);
		abort();
	}
	session_template = malloc(SESSION_POOL_SIZE);
	shadow = malloc(SESSION_POOL_SIZE);
	memcpy(session_template, session_pool->base, SESSION_POOL_SIZE);
}

/* ---- reading the input ---- */

struct input {
	const uint8_t *p;
	size_t left;
};

static bool take(struct input *in, void *out, size_t n)
{
	if (in->left < n)
		return false;
	memcpy(out, in->p, n);
	in->p += n;
	in->left -= n;
	return true;
}

static uint8_t take8(struct input *in)
{
	uint8_t v = 0;
	take(in, &v, 1);
	return v;
}

/* ---- the oracle ---- */

static void must_equal_shadow(const struct pool *pool, const char *what)
{
	if (memcmp(pool->base, shadow, pool->size) == 0)
		return;
	size_t i = 0;
	while (((const uint8_t *)pool->base)[i] == shadow[i])
		i++;
	fprintf(stderr, "fuzz_proto: %s: the pool differs from what the "
		"acknowledged batches make of it, first at byte %zu\n", what, i);
	abort();
}

/* Applies a batch (already accepted by the mirror) to the shadow. */
static void shadow_apply(const uint8_t *payload, size_t len, uint64_t size)
{
	struct nvmr_batch b;
	const struct nvmr_range *r;
	const uint8_t *data;
	char err[256];
	if (nvmr_parse_batch(payload, len, size, 0, &b, &r, &data, err,
			     sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_proto: an acknowledged batch does not "
			"parse: %s\n", err);
		abort();
	}
	for (uint32_t i = 0; i < b.nranges; i++) {
		memcpy(shadow + r[i].off, data, r[i].len);
		data += r[i].len;
	}
}

/* ---- mode 2: the per-message handler ---- */

static void run_direct(struct input *in)
{
	static uint64_t aligned[(65536 + 8) / 8];
	struct replica r;
	replica_init(&r, direct_pool);
	memset(direct_pool->base, 0, DIRECT_POOL_SIZE);
	memset(shadow, 0, DIRECT_POOL_SIZE);
	uint16_t type, len;
	while (take(in, &type, 2) && take(in, &len, 2)) {
		if (len > in->left)
			len = (uint16_t)in->left;
		take(in, aligned, len);
		struct replica_reply reply;
		char err[512];
		int rc = replica_handle(&r, type, (const uint8_t *)aligned, len,
					&reply, err, sizeof(err));
		if (rc == 0 && type == NVMR_BATCH)
			shadow_apply((const uint8_t *)aligned, len,
				     DIRECT_POOL_SIZE);
		if (rc != 0 && rc != -EPROTO) {
			fprintf(stderr, "fuzz_proto: handler returned %d: %s\n",
				rc, err);
			abort();
		}
		must_equal_shadow(direct_pool, "direct");
		if (rc != 0)
			break;
	}
	replica_free(&r);
	remove_resync_marker();
}

/* ---- modes 0 and 1: whole sessions over a socketpair ---- */

struct mirror_run {
	struct mirror_server server;
	struct nvmr_channel *ch;
	pthread_t thread;
};

static void *mirror_thread(void *arg)
{
	struct mirror_run *m = arg;
	session_run(&m->server, m->ch);
	nvmr_close(m->ch);           /* the server's connection thread would */
	return NULL;
}

/* The primary's receiving side: ACKs collected, the rest dropped. */
struct reader {
	struct nvmr_channel *ch;    /* NULL: raw bytes, just drained */
	int fd;
	uint64_t acks[MAX_BATCHES * 2];
	int nacks;
	pthread_t thread;
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	if (!r->ch) {
		char buf[65536];
		while (read(r->fd, buf, sizeof(buf)) > 0)
			;
		return NULL;
	}
	for (;;) {
		uint16_t type;
		const uint8_t *p;
		size_t len;
		char err[512];
		struct nvmr_ack ack;
		if (nvmr_recv(r->ch, -1, &type, &p, &len, err, sizeof(err)) < 0)
			return NULL;
		if (type == NVMR_ACK &&
		    nvmr_parse_ack(p, len, &ack, err, sizeof(err)) == 0 &&
		    r->nacks < (int)(sizeof(r->acks) / sizeof(r->acks[0])))
			r->acks[r->nacks++] = ack.applied;
	}
}

/* The mirror's pool as byte 2 of a session input says. */
static void prepare_pool(uint8_t how, const struct nvmr_pool_id *primary)
{
	remove_resync_marker();
	memcpy(session_pool->base, session_template, SESSION_POOL_SIZE);
	struct nvmpfs_super sb;
	char err[512];
	if (super_load(session_pool, &sb, err, sizeof(err)) < 0)
		abort();
	sb.mirror_epoch = how >> 4;
	switch (how & 7) {
	case 1:
		memcpy(sb.uuid, primary->uuid, 16);
		sb.state = NVMPFS_STATE_MOUNTED;
		break;
	case 2: sb.role_flags = NVMPFS_ROLE_DEMOTED; break;
	case 3: sb.role_flags = NVMPFS_ROLE_PROMOTED; break;
	case 4: sb.state = NVMPFS_STATE_MOUNTED; break;
	}
	super_store(session_pool, &sb);
	memcpy(shadow, session_pool->base, SESSION_POOL_SIZE);
}

static void start_session(struct mirror_run *m, struct reader *r, int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	server_init(&m->server, session_pool, &key);
	m->ch = nvmr_channel_new(nvmr_tcp_from_fd(sv[1], "fuzz-primary"), 2000);
	memset(r, 0, sizeof(*r));
	r->fd = sv[0];
	if (!m->ch || pthread_create(&m->thread, NULL, mirror_thread, m) != 0)
		abort();
}

static void end_session(struct mirror_run *m)
{
	pthread_join(m->thread, NULL);
	replica_free(&m->server.replica);
	pthread_mutex_destroy(&m->server.mu);
	pthread_cond_destroy(&m->server.cv);
}

static void run_raw(struct input *in)
{
	struct mirror_run m;
	struct reader r;
	int sv[2];
	memcpy(session_pool->base, session_template, SESSION_POOL_SIZE);
	memcpy(shadow, session_template, SESSION_POOL_SIZE);
	start_session(&m, &r, sv);
	if (pthread_create(&r.thread, NULL, reader_thread, &r) != 0)
		abort();
	size_t off = 0;
	while (off < in->left) {
		ssize_t n = write(sv[0], in->p + off, in->left - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(sv[0], SHUT_WR);
	end_session(&m);
	shutdown(sv[0], SHUT_RDWR);
	pthread_join(r.thread, NULL);
	close(sv[0]);
	must_equal_shadow(session_pool, "raw stream");
}

/* The primary's HELLO as byte 1 (and bytes 3..10) of the input say. */
static bool shape_hello(struct input *in, uint8_t how,
			struct nvmr_pool_id *id)
{
	mirror_pool_id(session_pool, (const void *)session_template, id);
	memset(id->uuid, 0xa5, sizeof(id->uuid));
	id->epoch = 0;
	uint64_t epoch = 0;
	take(in, &epoch, sizeof(epoch));
	if (how & 0x02)
		id->pool_size += 4096;
	if (how & 0x04)
		id->block_count -= 1;
	if (how & 0x10)
		id->epoch = epoch;
	return (how & 0x01) != 0;
}

/* Sends one message of the input; false when the input is done. */
static bool send_one(struct nvmr_channel *ch, struct input *in,
		     uint8_t (*batches)[65536 + 8], size_t *batch_len,
		     int *nbatches)
{
	uint16_t type, len;
	uint8_t flags;
	if (!take(in, &type, 2) || !take(in, &flags, 1) || !take(in, &len, 2))
		return false;
	if (len > in->left)
		len = (uint16_t)in->left;
	const uint8_t *bytes = in->p;
	in->p += len;
	in->left -= len;
	struct nvmr_transport *t = nvmr_channel_transport(ch);
	if (flags & 0x03) {
		/* A forged header: a wrong seq, or a message cut short. */
		uint64_t seq = nvmr_channel_send_seq(ch) + 1;
		struct nvmr_header h = { NVMR_MAGIC, NVMR_VERSION, type,
					 len + ((flags & 0x02) ? 100 : 0), 0,
					 seq + ((flags & 0x01) ? 1 + (len & 0xff)
							       : 0) };
		struct iovec iov[2] = { { &h, sizeof(h) },
					{ (void *)bytes, len } };
		t->ops->send(t, iov, 2);
		return false;   /* nothing valid can follow */
	}
	if (type == NVMR_BATCH && *nbatches < MAX_BATCHES) {
		memcpy(batches[*nbatches], bytes, len);
		batch_len[(*nbatches)++] = len;
	} else if (type == NVMR_BATCH) {
		return false;
	}
	struct iovec iov = { (void *)bytes, len };
	return nvmr_send(ch, type, &iov, 1) == 0;
}

static void run_session(struct input *in)
{
	static uint8_t batches[MAX_BATCHES][65536 + 8] __attribute__((aligned(8)));
	static size_t batch_len[MAX_BATCHES];
	int nbatches = 0;
	uint8_t how = take8(in), pool_how = take8(in);
	struct nvmr_pool_id id;
	bool seal = shape_hello(in, how, &id);
	prepare_pool(pool_how, &id);
	if (how & 0x08)
		id.uuid[0] ^= 1;

	struct mirror_run m;
	struct reader r;
	int sv[2];
	start_session(&m, &r, sv);
	struct nvmr_channel *p = nvmr_channel_new(nvmr_tcp_from_fd(sv[0],
						  "fuzz-mirror"), 2000);
	if (!p)
		abort();
	struct nvmr_hello_reply reply;
	struct nvmr_ready ready;
	char err[1024];
	int rc = nvmr_handshake_primary(p, (how & 0x20) ? &wrong_key : &key,
					&id, seal, &reply, &ready, err,
					sizeof(err));
	if (rc == 0) {
		r.ch = p;
		if (pthread_create(&r.thread, NULL, reader_thread, &r) != 0)
			abort();
		while (send_one(p, in, batches, batch_len, &nbatches))
			;
	}
	/*
	 * Half-closed: the mirror sees the end of the stream and can still
	 * acknowledge everything it applied before it.
	 */
	shutdown(sv[0], SHUT_WR);
	end_session(&m);
	if (rc == 0)
		pthread_join(r.thread, NULL);
	nvmr_close(p);

	/*
	 * Exactly the acknowledged batches, in order, changed the pool.  An
	 * ACK covers every batch up to the one it names (the mirror makes
	 * batches that arrive back to back durable together): ACKs increase
	 * and each names a batch that was sent.
	 */
	int applied = 0;
	uint64_t last = 0;
	for (int i = 0; i < r.nacks; i++) {
		if (r.acks[i] <= last) {
			fprintf(stderr, "fuzz_proto: ACK %d of batch %llu after "
				"one of %llu\n", i, (unsigned long long)r.acks[i],
				(unsigned long long)last);
			abort();
		}
		last = r.acks[i];
		for (;;) {
			if (applied == nbatches) {
				fprintf(stderr, "fuzz_proto: ACK %d of batch %llu, "
					"which was not sent\n", i,
					(unsigned long long)last);
				abort();
			}
			uint64_t seq;
			memcpy(&seq, batches[applied], sizeof(seq));
			shadow_apply(batches[applied], batch_len[applied],
				     SESSION_POOL_SIZE);
			applied++;
			if (seq == last)
				break;
		}
	}
	must_equal_shadow(session_pool, "session");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		setup();
		ready = true;
	}
	struct input in = { data, size };
	switch (take8(&in) % 3) {
	case 0: run_raw(&in); break;
	case 1: run_session(&in); break;
	case 2: run_direct(&in); break;
	}
	return 0;
}
