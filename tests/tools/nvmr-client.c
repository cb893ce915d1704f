/*
 * nvmr-client: a hand-made primary for the tests of nvmpfs-mirror
 * (tests/nvmpfs/16x).  It connects, does the handshake as a primary whose
 * pool is described by a pool file's superblock, and runs commands in
 * order.  It prints deterministic lines only (the mirror's address is
 * written MIRROR).  Exit status: 0 when every command ran as asked (a
 * refusal the test expects is printed, not an error), 1 when a command's
 * exchange failed, 2 for usage errors.
 *
 *   nvmr-client --key KEYFILE --like POOL [--epoch N] [--size BYTES]
 *               [--blocks N] [--seal] [--timeout MS] HOST:PORT COMMAND...
 *
 * Commands (each one word and its arguments; the handshake comes first,
 * before the first command but "connect"):
 *   hello                     the handshake only: "attached: ..." or
 *                             "refused (ERRNO): TEXT"
 *   connect                   connect without a handshake (for forgeries)
 *   copy SRC                  replicate the whole file SRC: batches of 4
 *                             ranges of 1 MiB, each acknowledged
 *   batch SEQ SRC OFF:LEN,... one batch, bytes from SRC at those offsets
 *   fill SEQ BYTE OFF:LEN,... one batch of ranges filled with BYTE
 *   bench N RANGES BYTES      N batches of RANGES ranges of BYTES each,
 *                             each acknowledged; the rate goes to stderr
 *   hash FIRST COUNT SRC      HASH_REQ; how many match SRC's blocks
 *   verify SRC BLOCK,...      VERIFY with SRC's checksums; the bad blocks
 *   read BLOCK COUNT SRC      READ; whether the blocks equal SRC's
 *   ping                      PING/PONG
 *   badbatch KIND SEQ         a BATCH with a bad payload: outside,
 *                             overflow, empty, zero, toomany, short, long,
 *                             reserved
 *   msg TYPE NBYTES           a well-framed message of NBYTES zero bytes
 *   header F=V,...            a forged header (magic, version, type, len,
 *                             reserved, seq) and len zero bytes
 *   garbage N                 N pseudo-random bytes
 *   truncated LEN SENT        a BATCH header saying LEN bytes, SENT of
 *                             them, then the connection half-closed
 *   expect                    the mirror's next message: "refused (CODE):
 *                             TEXT", "closed", or its type
 *   sleep MS                  wait (attached), e.g. to hold the mirror
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "include/nvmpfs/layout.h"
#include "mirror/channel_internal.h"
#include "mirror/parse.h"

#define BS 4096u

static struct {
	struct nvmr_key key;
	struct nvmr_pool_id id;
	bool seal;
	int timeout_ms;
	char host[256], port[16];
	struct nvmr_channel *ch;
	bool attached;
} c = { .timeout_ms = 5000 };

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "nvmr-client: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* Prints err with the mirror's address replaced by MIRROR. */
static void print_filtered(const char *prefix, const char *err)
{
	const char *peer = c.ch ? nvmr_peer(c.ch) : NULL;
	size_t plen = peer ? strlen(peer) : 0;
	fputs(prefix, stdout);
	for (const char *p = err; *p;) {
		if (plen && strncmp(p, peer, plen) == 0) {
			fputs("MIRROR", stdout);
			p += plen;
		} else {
			putchar(*p++);
		}
	}
	putchar('\n');
}

static const char *errno_name(int e)
{
	switch (e) {
	case EACCES: return "EACCES";
	case EINVAL: return "EINVAL";
	case ESTALE: return "ESTALE";
	case EBUSY: return "EBUSY";
	case EPROTO: return "EPROTO";
	case EIO: return "EIO";
	case ECONNRESET: return "ECONNRESET";
	case ETIMEDOUT: return "ETIMEDOUT";
	}
	return strerror(e);
}

/* ---- files ---- */

static int open_file(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die("%s: %s", path, strerror(errno));
	*size = (uint64_t)st.st_size;
	return fd;
}

static void read_at(int fd, void *buf, uint64_t len, uint64_t off)
{
	if (pread(fd, buf, len, (off_t)off) != (ssize_t)len)
		die("short read at %" PRIu64, off);
}

/* The pool's identity, from the newer superblock copy. */
static void describe_like(const char *path)
{
	uint64_t size;
	int fd = open_file(path, &size);
	struct nvmpfs_super a, b;
	read_at(fd, &a, sizeof(a), 0);
	read_at(fd, &b, sizeof(b), BS);
	close(fd);
	const struct nvmpfs_super *sb = b.magic == NVMPFS_MAGIC &&
		(a.magic != NVMPFS_MAGIC || b.generation > a.generation) ? &b : &a;
	if (sb->magic != NVMPFS_MAGIC)
		die("%s: not an nvmpfs pool", path);
	memcpy(c.id.uuid, sb->uuid, 16);
	c.id.block_count = sb->block_count;
	c.id.pool_size = size;
	c.id.epoch = sb->mirror_epoch;
	c.id.epoch_tag = sb->epoch_tag;
	c.id.generation = sb->generation;
}

/* ---- the connection ---- */

static void connect_only(void)
{
	char err[1024];
	if (c.ch)
		return;
	int rc = nvmr_connect(c.host, c.port, c.timeout_ms, c.timeout_ms,
			      &c.ch, err, sizeof(err));
	if (rc < 0) {
		printf("cannot connect (%s)\n", errno_name(-rc));
		exit(1);
	}
}

static const char *state_name(uint32_t s)
{
	return s == NVMR_POOL_BLANK ? "blank" : s == NVMR_POOL_DEMOTED
		? "demoted" : s == NVMR_POOL_REPLICA ? "replica" : "?";
}

/* The handshake; false (printed) when refused. */
static bool attach(bool verbose)
{
	if (c.attached)
		return true;
	connect_only();
	struct nvmr_hello_reply reply;
	struct nvmr_ready ready;
	char err[1024];
	int rc = nvmr_handshake_primary(c.ch, &c.key, &c.id, c.seal, &reply,
					&ready, err, sizeof(err));
	if (rc < 0) {
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "refused (%s): ",
			 errno_name(-rc));
		print_filtered(prefix, err);
		return false;
	}
	c.attached = true;
	if (verbose)
		printf("attached: mirror pool %s, full_resync=%u, sealed=%s\n",
		       state_name(reply.state), ready.full_resync,
		       (ready.flags & NVMR_F_SEAL) ? "yes" : "no");
	return true;
}

/* Receives one message; prints refusals and closes as "expect" does. */
static int receive(uint16_t *type, const uint8_t **p, size_t *len,
		   bool quiet_ok)
{
	char err[1024];
	int rc = nvmr_recv(c.ch, c.timeout_ms, type, p, len, err, sizeof(err));
	if (rc == -ECONNRESET) {
		printf("closed\n");
		return rc;
	}
	if (rc < 0) {
		print_filtered("receive failed: ", err);
		return rc;
	}
	if (*type == NVMR_REFUSE) {
		char text[NVMR_MAX_REFUSE_TEXT];
		uint32_t code;
		if (nvmr_parse_refuse(*p, *len, &code, text, sizeof(text), err,
				      sizeof(err)) < 0)
			print_filtered("bad REFUSE: ", err);
		else
			printf("refused (code %u): %s\n", code, text);
		return -EPROTO;
	}
	if (!quiet_ok) {
		char name[16];
		printf("got %s\n", nvmr_type_name(*type, name, sizeof(name)));
	}
	return 0;
}

static int expect_type(uint16_t want, const uint8_t **p, size_t *len)
{
	uint16_t type;
	int rc = receive(&type, p, len, true);
	if (rc < 0)
		return rc;
	if (type != want) {
		char a[16], b[16];
		printf("expected %s, got %s\n", nvmr_type_name(want, a, 16),
		       nvmr_type_name(type, b, 16));
		return -EPROTO;
	}
	return 0;
}

/* ---- batches ---- */

struct range_list {
	struct nvmr_range r[NVMR_MAX_RANGES];
	uint32_t n;
};

static void parse_ranges(const char *spec, struct range_list *l)
{
	char *copy = strdup(spec), *save = NULL;
	l->n = 0;
	for (char *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		unsigned long long off, len;
		if (sscanf(t, "%lli:%lli", &off, &len) != 2 ||
		    l->n == NVMR_MAX_RANGES)
			die("bad range %s (OFF:LEN)", t);
		l->r[l->n++] = (struct nvmr_range){ off, len };
	}
	free(copy);
}

/* Sends one batch whose bytes come from data (in range order). */
static int send_batch(uint64_t seq, const struct range_list *l,
		      const uint8_t *data, size_t bytes)
{
	struct nvmr_batch b = { .batch_seq = seq, .nranges = l->n };
	struct iovec iov[3] = { { &b, sizeof(b) },
				{ (void *)l->r, l->n * sizeof(l->r[0]) },
				{ (void *)data, bytes } };
	int rc = nvmr_send(c.ch, NVMR_BATCH, iov, 3);
	if (rc < 0)
		printf("send failed (%s)\n", errno_name(-rc));
	return rc;
}

static int wait_ack(uint64_t seq, bool print)
{
	const uint8_t *p;
	size_t len;
	struct nvmr_ack ack;
	char err[256];
	int rc = expect_type(NVMR_ACK, &p, &len);
	if (rc < 0)
		return rc;
	if (nvmr_parse_ack(p, len, &ack, err, sizeof(err)) < 0) {
		printf("bad ACK: %s\n", err);
		return -EPROTO;
	}
	if (ack.applied != seq) {
		printf("ACK of %" PRIu64 ", expected %" PRIu64 "\n", ack.applied,
		       seq);
		return -EPROTO;
	}
	if (print)
		printf("ack %" PRIu64 "\n", ack.applied);
	return 0;
}

static uint8_t *gather_ranges(int fd, const struct range_list *l, size_t *bytes)
{
	size_t total = 0;
	for (uint32_t i = 0; i < l->n; i++)
		total += l->r[i].len;
	uint8_t *buf = malloc(total ? total : 1), *p = buf;
	for (uint32_t i = 0; i < l->n; i++) {
		read_at(fd, p, l->r[i].len, l->r[i].off);
		p += l->r[i].len;
	}
	*bytes = total;
	return buf;
}

static int cmd_batch(uint64_t seq, const char *src, const char *spec)
{
	static struct range_list l;
	uint64_t size;
	size_t bytes;
	parse_ranges(spec, &l);
	int fd = open_file(src, &size);
	uint8_t *data = gather_ranges(fd, &l, &bytes);
	close(fd);
	int rc = send_batch(seq, &l, data, bytes);
	free(data);
	return rc < 0 ? rc : wait_ack(seq, true);
}

static int cmd_fill(uint64_t seq, int byte, const char *spec)
{
	static struct range_list l;
	size_t bytes = 0;
	parse_ranges(spec, &l);
	for (uint32_t i = 0; i < l.n; i++)
		bytes += l.r[i].len;
	uint8_t *data = malloc(bytes ? bytes : 1);
	memset(data, byte, bytes);
	int rc = send_batch(seq, &l, data, bytes);
	free(data);
	return rc < 0 ? rc : wait_ack(seq, true);
}

static uint64_t next_seq = 1;

static int cmd_copy(const char *src)
{
	static struct range_list l;
	const uint64_t piece = 1u << 20;
	uint64_t size, batches = 0, off = 0;
	int fd = open_file(src, &size);
	uint8_t *buf = malloc(4 * piece);
	while (off < size) {
		l.n = 0;
		size_t bytes = 0;
		while (l.n < 4 && off < size) {
			uint64_t n = size - off < piece ? size - off : piece;
			l.r[l.n++] = (struct nvmr_range){ off, n };
			read_at(fd, buf + bytes, n, off);
			bytes += n;
			off += n;
		}
		uint64_t seq = next_seq++;
		if (send_batch(seq, &l, buf, bytes) < 0 || wait_ack(seq, false) < 0) {
			free(buf);
			return -1;
		}
		batches++;
	}
	close(fd);
	free(buf);
	printf("copied %" PRIu64 " bytes in %" PRIu64 " batches, all "
	       "acknowledged\n", size, batches);
	return 0;
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_bench(uint64_t n, uint32_t ranges, uint64_t bytes)
{
	static struct range_list l;
	if (ranges == 0 || ranges > NVMR_MAX_RANGES ||
	    (uint64_t)ranges * bytes > NVMR_MAX_PAYLOAD / 2)
		die("bench: too much in one batch");
	uint8_t *data = malloc(ranges * bytes);
	memset(data, 0x5a, ranges * bytes);
	l.n = ranges;
	/* Ranges spread over the data half of the pool, 8 KiB apart. */
	for (uint32_t i = 0; i < ranges; i++)
		l.r[i] = (struct nvmr_range){ c.id.pool_size / 2 +
					      (uint64_t)i * 8192, bytes };
	double t0 = seconds();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t seq = next_seq++;
		if (send_batch(seq, &l, data, ranges * bytes) < 0 ||
		    wait_ack(seq, false) < 0) {
			free(data);
			return -1;
		}
	}
	double dt = seconds() - t0;
	free(data);
	fprintf(stderr, "bench: %" PRIu64 " batches of %u x %" PRIu64
		" bytes in %.3f s: %.0f batches/s, %.1f us per round trip\n",
		n, ranges, bytes, dt, n / dt, dt / n * 1e6);
	printf("bench: %" PRIu64 " batches acknowledged\n", n);
	return 0;
}

/* ---- hashes, verify, read, ping ---- */

static uint64_t block_sum(const uint8_t *block)
{
	uint64_t h = XXH3_64bits(block, BS);
	return h ? h : 1;
}

static int cmd_hash(uint64_t first, uint32_t count, const char *src)
{
	struct nvmr_hash_req q = { .id = 7, .first_block = first, .count = count };
	struct iovec iov = { &q, sizeof(q) };
	const uint8_t *p;
	size_t len;
	struct nvmr_hashes h;
	const uint64_t *sums;
	char err[256];
	if (nvmr_send(c.ch, NVMR_HASH_REQ, &iov, 1) < 0 ||
	    expect_type(NVMR_HASHES, &p, &len) < 0)
		return -1;
	if (nvmr_parse_hashes(p, len, &h, &sums, err, sizeof(err)) < 0) {
		printf("bad HASHES: %s\n", err);
		return -1;
	}
	uint64_t size, same = 0;
	int fd = open_file(src, &size);
	uint8_t block[BS];
	for (uint32_t i = 0; i < h.count; i++) {
		read_at(fd, block, BS, (first + i) * BS);
		same += block_sum(block) == sums[i];
	}
	close(fd);
	printf("hashes of %u blocks: %" PRIu64 " match, %" PRIu64 " differ\n",
	       h.count, same, h.count - same);
	return 0;
}

static int cmd_verify(const char *src, const char *spec)
{
	static struct nvmr_block_sum s[NVMR_MAX_VERIFY];
	struct nvmr_verify v = { .id = 9 };
	uint64_t size;
	int fd = open_file(src, &size);
	char *copy = strdup(spec), *save = NULL;
	uint8_t block[BS];
	for (char *t = strtok_r(copy, ",", &save); t && v.count < NVMR_MAX_VERIFY;
	     t = strtok_r(NULL, ",", &save)) {
		uint64_t b = strtoull(t, NULL, 0);
		read_at(fd, block, BS, b * BS);
		s[v.count++] = (struct nvmr_block_sum){ b, block_sum(block) };
	}
	free(copy);
	close(fd);
	struct iovec iov[2] = { { &v, sizeof(v) }, { s, v.count * sizeof(s[0]) } };
	const uint8_t *p;
	size_t len;
	struct nvmr_verify_reply r;
	const uint64_t *bad;
	char err[256];
	if (nvmr_send(c.ch, NVMR_VERIFY, iov, 2) < 0 ||
	    expect_type(NVMR_VERIFY_REPLY, &p, &len) < 0)
		return -1;
	if (nvmr_parse_verify_reply(p, len, &r, &bad, err, sizeof(err)) < 0) {
		printf("bad VERIFY_REPLY: %s\n", err);
		return -1;
	}
	printf("verify: %u bad", r.nbad);
	for (uint32_t i = 0; i < r.nbad; i++)
		printf(" %" PRIu64, bad[i]);
	printf("\n");
	return 0;
}

static int cmd_read(uint64_t block, uint32_t count, const char *src)
{
	struct nvmr_read q = { .id = 11, .block = block, .count = count };
	struct iovec iov = { &q, sizeof(q) };
	const uint8_t *p, *blocks;
	size_t len;
	struct nvmr_read_reply r;
	char err[256];
	if (nvmr_send(c.ch, NVMR_READ, &iov, 1) < 0 ||
	    expect_type(NVMR_READ_REPLY, &p, &len) < 0)
		return -1;
	if (nvmr_parse_read_reply(p, len, &r, &blocks, err, sizeof(err)) < 0) {
		printf("bad READ_REPLY: %s\n", err);
		return -1;
	}
	uint64_t size;
	int fd = open_file(src, &size);
	uint8_t *want = malloc((size_t)count * BS);
	read_at(fd, want, (uint64_t)count * BS, block * BS);
	close(fd);
	printf("read %u blocks: %s\n", r.count,
	       memcmp(want, blocks, (size_t)count * BS) == 0 ? "same as the source"
							     : "differ from the source");
	free(want);
	return 0;
}

static int cmd_ping(void)
{
	static const char token[] = "ping-token";
	struct iovec iov = { (void *)token, sizeof(token) };
	const uint8_t *p;
	size_t len;
	if (nvmr_send(c.ch, NVMR_PING, &iov, 1) < 0 ||
	    expect_type(NVMR_PONG, &p, &len) < 0)
		return -1;
	printf("pong %s\n", len == sizeof(token) && !memcmp(p, token, len)
	       ? "echoes the ping" : "differs");
	return 0;
}

/* ---- forgeries ---- */

static int send_raw(const void *buf, size_t len)
{
	struct nvmr_transport *t = nvmr_channel_transport(c.ch);
	struct iovec iov = { (void *)buf, len };
	return t->ops->send(t, &iov, 1);
}

static int cmd_badbatch(const char *kind, uint64_t seq)
{
	uint8_t buf[64 + 2 * sizeof(struct nvmr_range)] = { 0 };
	struct nvmr_batch b = { .batch_seq = seq, .nranges = 1 };
	struct nvmr_range r = { .off = 8192, .len = 8 };
	size_t len = sizeof(b) + sizeof(r) + 8;
	if (!strcmp(kind, "outside"))
		r.off = c.id.pool_size - 4;
	else if (!strcmp(kind, "overflow"))
		r = (struct nvmr_range){ UINT64_MAX - 3, 8 };
	else if (!strcmp(kind, "empty"))
		r.len = 0, len -= 8;
	else if (!strcmp(kind, "zero"))
		b.nranges = 0, len = sizeof(b);
	else if (!strcmp(kind, "toomany"))
		b.nranges = NVMR_MAX_RANGES + 1;
	else if (!strcmp(kind, "short"))
		len -= 1;
	else if (!strcmp(kind, "long"))
		len += 1;
	else if (!strcmp(kind, "reserved"))
		b.reserved = 1;
	else
		die("badbatch: unknown kind %s", kind);
	memcpy(buf, &b, sizeof(b));
	memcpy(buf + sizeof(b), &r, sizeof(r));
	memset(buf + sizeof(b) + sizeof(r), 0xee, 8);
	struct iovec iov = { buf, len };
	return nvmr_send(c.ch, NVMR_BATCH, &iov, 1);
}

static int cmd_msg(uint16_t type, size_t n)
{
	uint8_t *buf = calloc(1, n ? n : 1);
	struct iovec iov = { buf, n };
	int rc = nvmr_send(c.ch, type, &iov, 1);
	free(buf);
	return rc;
}

static int cmd_header(const char *spec)
{
	uint64_t seq = nvmr_channel_send_seq(c.ch) + 1;
	struct nvmr_header h = { NVMR_MAGIC, NVMR_VERSION, NVMR_PING, 0, 0, seq };
	char *copy = strdup(spec), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		if (!eq)
			die("header: %s is not FIELD=VALUE", t);
		*eq = '\0';
		uint64_t v = strtoull(eq + 1, NULL, 0);
		if (!strcmp(t, "magic")) h.magic = (uint32_t)v;
		else if (!strcmp(t, "version")) h.version = (uint16_t)v;
		else if (!strcmp(t, "type")) h.type = (uint16_t)v;
		else if (!strcmp(t, "len")) h.len = (uint32_t)v;
		else if (!strcmp(t, "reserved")) h.reserved = (uint32_t)v;
		else if (!strcmp(t, "seq")) h.seq = v;
		else die("header: unknown field %s", t);
	}
	free(copy);
	nvmr_channel_set_send_seq(c.ch, seq);
	/* The payload it announces, as far as it is reasonable to send. */
	size_t n = h.len <= (1u << 20) ? h.len : 0;
	uint8_t *buf = calloc(1, sizeof(h) + n);
	memcpy(buf, &h, sizeof(h));
	int rc = send_raw(buf, sizeof(h) + n);
	free(buf);
	return rc;
}

static int cmd_garbage(size_t n)
{
	uint8_t *buf = malloc(n ? n : 1);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	int rc = send_raw(buf, n);
	free(buf);
	return rc;
}

static int cmd_truncated(uint32_t len, uint32_t sent)
{
	uint64_t seq = nvmr_channel_send_seq(c.ch) + 1;
	struct nvmr_header h = { NVMR_MAGIC, NVMR_VERSION, NVMR_BATCH, len, 0,
				 seq };
	nvmr_channel_set_send_seq(c.ch, seq);
	uint8_t *buf = calloc(1, sizeof(h) + sent);
	memcpy(buf, &h, sizeof(h));
	int rc = send_raw(buf, sizeof(h) + sent);
	free(buf);
	/* Half-close: the mirror sees the end of the stream mid-message. */
	if (rc == 0)
		nvmr_channel_transport(c.ch)->ops->shutdown(
			nvmr_channel_transport(c.ch));
	return rc;
}

static int cmd_expect(void)
{
	uint16_t type;
	const uint8_t *p;
	size_t len;
	int rc = receive(&type, &p, &len, false);
	/* What came is the result: a refusal or a close is expected here. */
	return rc == 0 || rc == -EPROTO || rc == -ECONNRESET ? 0 : rc;
}

/* ---- main ---- */

static uint64_t num(const char *s)
{
	char *end;
	errno = 0;
	uint64_t v = strtoull(s, &end, 0);
	if (errno || *end || end == s)
		die("not a number: %s", s);
	return v;
}

static int need(int argc, int i, int n, const char *cmd)
{
	if (i + n >= argc)
		die("%s needs %d argument(s)", cmd, n);
	return n;
}

static int run(int argc, char **argv, int i, int *used)
{
	const char *cmd = argv[i];
	char **a = argv + i + 1;
	*used = 0;
	if (!strcmp(cmd, "connect")) {
		connect_only();
		return 0;
	}
	if (!strcmp(cmd, "hello"))
		return attach(true) ? 0 : 1;
	if (!strcmp(cmd, "sleep")) {
		*used = need(argc, i, 1, cmd);
		usleep((useconds_t)num(a[0]) * 1000);
		return 0;
	}
	bool forging = !strcmp(cmd, "header") || !strcmp(cmd, "garbage") ||
		       !strcmp(cmd, "truncated") || !strcmp(cmd, "expect");
	if (!(forging && c.ch) && !attach(false))
		return 1;
	if (!strcmp(cmd, "copy"))
		return *used = need(argc, i, 1, cmd), cmd_copy(a[0]);
	if (!strcmp(cmd, "batch"))
		return *used = need(argc, i, 3, cmd),
		       cmd_batch(num(a[0]), a[1], a[2]);
	if (!strcmp(cmd, "fill"))
		return *used = need(argc, i, 3, cmd),
		       cmd_fill(num(a[0]), (int)num(a[1]), a[2]);
	if (!strcmp(cmd, "bench"))
		return *used = need(argc, i, 3, cmd),
		       cmd_bench(num(a[0]), (uint32_t)num(a[1]), num(a[2]));
	if (!strcmp(cmd, "hash"))
		return *used = need(argc, i, 3, cmd),
		       cmd_hash(num(a[0]), (uint32_t)num(a[1]), a[2]);
	if (!strcmp(cmd, "verify"))
		return *used = need(argc, i, 2, cmd), cmd_verify(a[0], a[1]);
	if (!strcmp(cmd, "read"))
		return *used = need(argc, i, 3, cmd),
		       cmd_read(num(a[0]), (uint32_t)num(a[1]), a[2]);
	if (!strcmp(cmd, "ping"))
		return cmd_ping();
	if (!strcmp(cmd, "badbatch"))
		return *used = need(argc, i, 2, cmd),
		       cmd_badbatch(a[0], num(a[1]));
	if (!strcmp(cmd, "msg"))
		return *used = need(argc, i, 2, cmd),
		       cmd_msg((uint16_t)num(a[0]), num(a[1]));
	if (!strcmp(cmd, "header"))
		return *used = need(argc, i, 1, cmd), cmd_header(a[0]);
	if (!strcmp(cmd, "garbage"))
		return *used = need(argc, i, 1, cmd), cmd_garbage(num(a[0]));
	if (!strcmp(cmd, "truncated"))
		return *used = need(argc, i, 2, cmd),
		       cmd_truncated((uint32_t)num(a[0]), (uint32_t)num(a[1]));
	if (!strcmp(cmd, "expect"))
		return cmd_expect();
	die("unknown command %s", cmd);
}

int main(int argc, char **argv)
{
	const char *key = NULL, *like = NULL;
	int64_t epoch = -1, size = -1, blocks = -1;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "--seal")) {
			c.seal = true;
			continue;
		}
		if (i + 1 >= argc)
			die("%s needs a value", o);
		const char *v = argv[++i];
		if (!strcmp(o, "--key")) key = v;
		else if (!strcmp(o, "--like")) like = v;
		else if (!strcmp(o, "--epoch")) epoch = (int64_t)num(v);
		else if (!strcmp(o, "--size")) size = (int64_t)num(v);
		else if (!strcmp(o, "--blocks")) blocks = (int64_t)num(v);
		else if (!strcmp(o, "--timeout")) c.timeout_ms = (int)num(v);
		else die("unknown option %s", o);
	}
	if (!key || !like || i >= argc)
		die("usage: nvmr-client --key KEYFILE --like POOL [options] "
		    "HOST:PORT COMMAND...");
	char err[1024];
	if (nvmr_key_load(key, &c.key, err, sizeof(err)) < 0)
		die("%s", err);
	describe_like(like);
	if (epoch >= 0) c.id.epoch = (uint64_t)epoch;
	if (size >= 0) c.id.pool_size = (uint64_t)size;
	if (blocks >= 0) c.id.block_count = (uint64_t)blocks;
	if (nvmr_split_address(argv[i], c.host, sizeof(c.host), c.port,
			       sizeof(c.port), err, sizeof(err)) < 0)
		die("%s", err);
	for (i++; i < argc; i++) {
		int used;
		if (run(argc, argv, i, &used) != 0) {
			nvmr_close(c.ch);
			return 1;
		}
		i += used;
	}
	nvmr_close(c.ch);
	return 0;
}
