/*
 * stress: many threads at once on a mounted nvmpfs directory, each one
 * checking what it reads against what it knows must be there.  It is
 * the proof that the core, which has no global lock, keeps files, names,
 * directories and xattrs right when everything happens at once.
 *
 *   stress [-t THREADS] [-d SECONDS] [-s SEED] [-v] DIR
 *   stress -c DIR
 *
 * DIR must not exist or be empty.  Every thread mixes, for SECONDS:
 *   - private files: writes at random offsets and sizes (unaligned,
 *     across blocks, extending), truncates up and down, fallocate (0,
 *     KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE), fsync; each read is compared
 *     with the thread's in-memory model of the file; now and then a big
 *     file, whose blocks the core frees in its background thread;
 *   - shared files: each thread writes only its own region of each file
 *     (regions share blocks), while all read whole files: every 8-byte
 *     word must belong to the region it is in and be no older than the
 *     last write the reader knew was done, nor newer than the last write
 *     begun (shared_check_words);
 *   - names: own files created, linked, renamed and unlinked in shared
 *     directories (modelled exactly), links, renames and creations of
 *     common names that threads fight over, readdir listing the thread's
 *     own names exactly once while others change the same directories;
 *   - directories moved between tree/A and tree/B and nested into each
 *     other's sub/ folders (cycles must fail with EINVAL), RENAME_EXCHANGE
 *     of a file and a directory, mkdir/rmdir;
 *   - user.* xattrs on the shared files, modelled per thread; values of
 *     other threads must always be whole.
 * Then the threads are joined and everything is checked against the
 * models and for consistency (each moved directory exactly once, link
 * counts of every file and directory).  Output: a fixed summary (no
 * counts that vary from run to run), or the first problems found with
 * details, and exit status 1.  -v adds how often each operation
 * succeeded, on stderr.
 *
 * -c checks only what needs no model, e.g. after a remount: the tree,
 * the link counts, the shape of the shared files.
 *
 * Build (tests/nvmpfs/082 does it):
 *   cc -Wall -Wextra -Werror -O2 -pthread stress.c -o stress
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* ---- sizes of the workload ---- */
#define MAX_THREADS 64
#define NPRIV 2                   /* private files per thread */
#define PRIV_MAX (2u << 20)       /* a private file never grows past this */
#define IO_MAX (320u << 10)       /* longest single read or write */
#define NSHARED 3                 /* shared files */
#define REGION_WORDS 701          /* 5608 bytes: regions share blocks */
#define NNAMEDIRS 4               /* names/n0..n3 */
#define NANCHORS 4                /* names/anchor0..3, linked to common names */
#define NCOMMON 8                 /* common names c0..c7 in each names dir */
#define MAX_OWN 24                /* own files a thread keeps at once */
#define MAX_LINKS 4               /* names of one own file */
#define NDIRS 8                   /* tree dirs d0..d7, moved and nested */
#define NITEMS 4                  /* tree items x0..x3, exchanged A <-> B */
#define MAX_NEST 3                /* nest no deeper than this (sub/ levels) */
#define MAX_OWN_DIRS 8
#define NXATTR 3                  /* user.tT.K names per thread and file */
#define XATTR_LEN_MAX 3000
#define HIST 8                    /* operations remembered per private file */
#define MAX_REPORTS 12
#ifndef STUCK_SECONDS
#define STUCK_SECONDS 120         /* after the end, threads still busy = hung */
#endif

/* ---- the run: options, failures, stop flag ---- */
static char top[PATH_MAX];
static int nthreads = 8;
static int seconds = 30;
static uint64_t seed = 1;
static bool verbose;
static bool direct_io;            /* O_DIRECT opens work on this mount */

static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;
static int nreports;              /* under report_mu */
static int failed;                /* atomic: a problem was found */
static int stopping;              /* atomic: the time is up or a problem */

static bool should_stop(void)
{
	return __atomic_load_n(&stopping, __ATOMIC_ACQUIRE);
}

static void request_stop(void)
{
	__atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
}

/*
 * A problem: printed (the first MAX_REPORTS of them) and the run stops,
 * so that the first report is the one that matters, not its echoes.
 */
__attribute__((format(printf, 1, 2)))
static void failf(const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&report_mu);
	if (nreports++ < MAX_REPORTS) {
		fputs("FAIL: ", stdout);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		fputc('\n', stdout);
		fflush(stdout);
	}
	pthread_mutex_unlock(&report_mu);
	__atomic_store_n(&failed, 1, __ATOMIC_RELEASE);
	request_stop();
}

static bool any_failure(void)
{
	return __atomic_load_n(&failed, __ATOMIC_ACQUIRE);
}

/* A usage or setup error (not a finding): message and exit status 2. */
__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("stress: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* DIR/<formatted>; the names are short, so overflow is a setup error. */
__attribute__((format(printf, 2, 3)))
static void pathf(char *out, const char *fmt, ...)
{
	char rel[PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rel) ||
	    snprintf(out, PATH_MAX, "%s/%s", top, rel) >= PATH_MAX)
		die("path too long under %s", top);
}

/* A path as reports show it: relative to DIR (no mount point in output). */
static const char *rel(const char *path)
{
	size_t n = strlen(top);
	if (strncmp(path, top, n) == 0 && path[n] == '/')
		return path + n + 1;
	return path;
}

/* ---- per thread ---- */
struct priv_file {
	char path[PATH_MAX];
	int fd;                   /* buffered reads and writes */
	int dfd;                  /* O_DIRECT reads: they reach the daemon */
	unsigned char *model;     /* PRIV_MAX bytes, zero past size */
	uint64_t size;
	char hist[HIST][96];      /* the last operations, for reports */
	unsigned nhist;
};

struct own_file {
	unsigned id;
	int nnames;
	char names[MAX_LINKS][64];   /* relative to DIR */
};

struct own_dir {
	char name[64];               /* relative to DIR */
	bool has_file;
};

struct xattr_model {
	bool present;
	uint32_t gen;
	uint32_t len;
};

enum op_kind {
	OP_PRIV_WRITE, OP_PRIV_TRUNCATE, OP_PRIV_FALLOCATE, OP_PRIV_READ,
	OP_PRIV_SYNC, OP_PRIV_REOPEN, OP_PRIV_BIG,
	OP_SHARED_WRITE, OP_SHARED_READ, OP_SHARED_SYNC,
	OP_NAME_CREATE, OP_NAME_LINK, OP_NAME_UNLINK, OP_NAME_RENAME,
	OP_NAME_VERIFY, OP_NAME_READDIR,
	OP_COMMON_LINK, OP_COMMON_UNLINK, OP_COMMON_RENAME, OP_COMMON_CREATE,
	OP_TREE_MOVE, OP_TREE_NEST, OP_TREE_CYCLE, OP_TREE_EXCHANGE,
	OP_TREE_SWAP_SUBS, OP_TREE_MKDIR, OP_TREE_RMDIR, OP_TREE_COMMON_DIR,
	OP_XATTR_SET, OP_XATTR_GET, OP_XATTR_REMOVE, OP_XATTR_LIST,
	OP_XATTR_PEEK,
	OP_COUNT
};

struct worker {
	int id;
	pthread_t thread;
	uint64_t rng;
	unsigned char *buf;          /* IO_MAX bytes */
	struct priv_file priv[NPRIV];
	int shared_fd[NSHARED], shared_dfd[NSHARED];
	struct own_file own[MAX_OWN];
	int nown;
	struct own_dir dirs[MAX_OWN_DIRS];
	int ndirs;
	unsigned seq;                /* makes own names unique */
	struct xattr_model xattr[NSHARED][NXATTR];
	uint64_t ok[OP_COUNT];       /* how often each op had its outcome */
	const char *doing;           /* atomic: the op running, for hangs */
	bool finished;               /* under done_mu */
};

static struct worker *workers;

/* xorshift64*: each thread its own stream (the interleaving varies anyway). */
static uint64_t rnd64(struct worker *w)
{
	uint64_t x = w->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t rnd(struct worker *w, uint64_t n)
{
	return n ? rnd64(w) % n : 0;
}

static void fill_random(struct worker *w, unsigned char *p, size_t len)
{
	while (len >= 8) {
		uint64_t v = rnd64(w);
		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	uint64_t v = rnd64(w);
	memcpy(p, &v, len);
}

/* ================= private files ================= */

__attribute__((format(printf, 2, 3)))
static void priv_note(struct priv_file *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->hist[f->nhist++ % HIST], sizeof(f->hist[0]), fmt, ap);
	va_end(ap);
}

/* The last operations on the file, oldest first, for a report. */
static const char *priv_history(struct priv_file *f, char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	unsigned first = f->nhist > HIST ? f->nhist - HIST : 0;
	for (unsigned i = first; i < f->nhist && used < len; i++) {
		int n = snprintf(out + used, len - used, "%s%s",
				 i == first ? "" : "; ", f->hist[i % HIST]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return out;
}

static bool priv_open(struct worker *w, struct priv_file *f, int flags)
{
	f->fd = open(f->path, O_RDWR | O_CREAT | flags, 0644);
	if (f->fd < 0) {
		failf("thread %d: open %s: %s", w->id, rel(f->path),
		      strerror(errno));
		return false;
	}
	f->dfd = direct_io ? open(f->path, O_RDONLY | O_DIRECT) : -1;
	if (direct_io && f->dfd < 0) {
		failf("thread %d: open %s O_DIRECT: %s", w->id, rel(f->path),
		      strerror(errno));
		return false;
	}
	return true;
}

static void priv_close(struct priv_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->dfd >= 0)
		close(f->dfd);
	f->fd = f->dfd = -1;
}

/* Offsets where the bugs are: inside, at EOF, block edges, anywhere. */
static uint64_t pick_offset(struct worker *w, uint64_t size)
{
	uint64_t off;
	switch (rnd(w, 4)) {
	case 0:
		off = rnd(w, size + 1);
		break;
	case 1:
		off = size - rnd(w, size < 4096 ? size + 1 : 4096);
		break;
	case 2:
		off = rnd(w, PRIV_MAX / 4096) * 4096 + rnd(w, 3) * 4095 / 2;
		break;
	default:
		off = rnd(w, PRIV_MAX);
		break;
	}
	return off < PRIV_MAX ? off : PRIV_MAX - 1;
}

static uint64_t pick_length(struct worker *w, uint64_t off)
{
	uint64_t len;
	switch (rnd(w, 4)) {
	case 0:
		len = 1 + rnd(w, 100);
		break;
	case 1:
		len = 4096 * (1 + rnd(w, 4));
		break;
	case 2:
		len = 1 + rnd(w, 65536);
		break;
	default:
		len = 1 + rnd(w, IO_MAX);
		break;
	}
	return off + len <= PRIV_MAX ? len : PRIV_MAX - off;
}

static struct priv_file *pick_priv(struct worker *w)
{
	return &w->priv[rnd(w, NPRIV)];
}

/*
 * What a read or write that did not do what was asked says: its errno,
 * or for a short transfer what a second try of the rest says (after a
 * lost connection, say, that errno).
 */
static const char *io_outcome(ssize_t n, int fd, bool writing, void *buf,
			      size_t len, uint64_t off, char *out, size_t outlen)
{
	if (n < 0) {
		snprintf(out, outlen, "%s", strerror(errno));
	} else if ((size_t)n < len) {
		char *rest = (char *)buf + n;
		ssize_t m = writing ? pwrite(fd, rest, len - (size_t)n,
					     (off_t)(off + (uint64_t)n)) :
			    pread(fd, rest, len - (size_t)n,
				  (off_t)(off + (uint64_t)n));
		if (m < 0)
			snprintf(out, outlen, "%zd bytes, then: %s", n,
				 strerror(errno));
		else
			snprintf(out, outlen, "%zd bytes, then %zd more", n, m);
	} else {
		snprintf(out, outlen, "%zd bytes", n);
	}
	return out;
}

static void priv_io_failed(struct worker *w, struct priv_file *f,
			   const char *what, uint64_t off, uint64_t len,
			   const char *outcome)
{
	char h[HIST * 100];
	failf("thread %d: %s %s at %" PRIu64 " len %" PRIu64 ": %s "
	      "(size %" PRIu64 "; before: %s)", w->id, what, rel(f->path), off,
	      len, outcome, f->size, priv_history(f, h, sizeof(h)));
}

static int op_priv_write(struct worker *w)
{
	struct priv_file *f = pick_priv(w);
	uint64_t off = pick_offset(w, f->size), len = pick_length(w, off);
	fill_random(w, w->buf, len);
	ssize_t n;
	bool plain = rnd(w, 4) == 0;   /* write() at the file position too */
	if (plain && lseek(f->fd, (off_t)off, SEEK_SET) == (off_t)off)
		n = write(f->fd, w->buf, len);
	else
		n = pwrite(f->fd, w->buf, len, (off_t)off);
	if (n != (ssize_t)len) {
		char why[128];
		priv_io_failed(w, f, "write", off, len,
			       io_outcome(n, f->fd, true, w->buf, len, off, why,
					  sizeof(why)));
		return 0;
	}
	memcpy(f->model + off, w->buf, len);
	if (off + len > f->size)
		f->size = off + len;
	priv_note(f, "write %" PRIu64 "+%" PRIu64, off, len);
	return 1;
}

static int op_priv_truncate(struct worker *w)
{
	struct priv_file *f = pick_priv(w);
	uint64_t size = rnd(w, 2) ? rnd(w, f->size + 1) : pick_offset(w, f->size);
	if (ftruncate(f->fd, (off_t)size) < 0) {
		priv_io_failed(w, f, "truncate", size, 0, strerror(errno));
		return 0;
	}
	/* The model keeps zeros past the size: growing again shows zeros. */
	if (size < f->size)
		memset(f->model + size, 0, f->size - size);
	f->size = size;
	priv_note(f, "truncate %" PRIu64, size);
	return 1;
}

static const struct {
	int mode;
	const char *name;
} falloc_modes[] = {
	{ 0, "fallocate" },
	{ FALLOC_FL_KEEP_SIZE, "fallocate-keep-size" },
	{ FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, "punch-hole" },
	{ FALLOC_FL_ZERO_RANGE, "zero-range" },
	{ FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, "zero-range-keep-size" },
};

/* What fallocate does to the bytes and the size. */
static void model_fallocate(struct priv_file *f, int mode, uint64_t off,
			    uint64_t len)
{
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	uint64_t end = off + len;
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		uint64_t zend = keep && end > f->size ? f->size : end;
		if (zend > off)
			memset(f->model + off, 0, zend - off);
	}
	if (!keep && end > f->size)
		f->size = end;
}

static int op_priv_fallocate(struct worker *w)
{
	struct priv_file *f = pick_priv(w);
	unsigned m = (unsigned)rnd(w, sizeof(falloc_modes) / sizeof(falloc_modes[0]));
	uint64_t off = pick_offset(w, f->size), len = pick_length(w, off);
	if (fallocate(f->fd, falloc_modes[m].mode, (off_t)off, (off_t)len) < 0) {
		priv_io_failed(w, f, falloc_modes[m].name, off, len,
			       strerror(errno));
		return 0;
	}
	model_fallocate(f, falloc_modes[m].mode, off, len);
	priv_note(f, "%s %" PRIu64 "+%" PRIu64, falloc_modes[m].name, off, len);
	return 1;
}

/* Compares got[0..n) with the model at off; reports the first difference. */
static bool priv_compare(struct worker *w, struct priv_file *f,
			 const char *how, uint64_t off, const unsigned char *got,
			 uint64_t n)
{
	if (memcmp(got, f->model + off, n) == 0)
		return true;
	uint64_t i = 0;
	while (got[i] == f->model[off + i])
		i++;
	uint64_t j = i;
	while (j < n && got[j] != f->model[off + j])
		j++;
	char h[HIST * 100];
	failf("thread %d: %s %s: byte %" PRIu64 " is 0x%02x, the model says "
	      "0x%02x (%" PRIu64 " bytes differ from there; size %" PRIu64
	      "; before: %s)", w->id, how, rel(f->path), off + i, got[i],
	      f->model[off + i], j - i, f->size, priv_history(f, h, sizeof(h)));
	return false;
}

static bool priv_check_size(struct worker *w, struct priv_file *f)
{
	struct stat st;
	if (fstat(f->fd, &st) < 0) {
		failf("thread %d: fstat %s: %s", w->id, rel(f->path),
		      strerror(errno));
		return false;
	}
	if ((uint64_t)st.st_size != f->size) {
		char h[HIST * 100];
		failf("thread %d: %s: size %jd, the model says %" PRIu64
		      " (before: %s)", w->id, rel(f->path), (intmax_t)st.st_size,
		      f->size, priv_history(f, h, sizeof(h)));
		return false;
	}
	return true;
}

/* Reads a range (buffered, or O_DIRECT straight from the daemon). */
static int op_priv_read(struct worker *w)
{
	struct priv_file *f = pick_priv(w);
	uint64_t off = pick_offset(w, f->size), len = pick_length(w, off);
	bool direct = f->dfd >= 0 && rnd(w, 2);
	ssize_t n = pread(direct ? f->dfd : f->fd, w->buf, len, (off_t)off);
	uint64_t want = off >= f->size ? 0 :
			f->size - off < len ? f->size - off : len;
	if (n < 0 || (uint64_t)n != want) {
		char why[128], what[160];
		snprintf(what, sizeof(what), "%sread (the model says %" PRIu64
			 " bytes)", direct ? "O_DIRECT " : "", want);
		priv_io_failed(w, f, what, off, len,
			       io_outcome(n, direct ? f->dfd : f->fd, false,
					  w->buf, want, off, why, sizeof(why)));
		return 0;
	}
	if (!priv_compare(w, f, direct ? "O_DIRECT read" : "read", off,
			  w->buf, want) || !priv_check_size(w, f))
		return 0;
	return 1;
}

static int op_priv_sync(struct worker *w)
{
	struct priv_file *f = pick_priv(w);
	bool data = rnd(w, 2);
	if ((data ? fdatasync(f->fd) : fsync(f->fd)) < 0) {
		priv_io_failed(w, f, data ? "fdatasync" : "fsync", 0, 0,
			       strerror(errno));
		return 0;
	}
	return 1;
}

/* Close and open again; sometimes with O_TRUNC. */
static int op_priv_reopen(struct worker *w)
{
	struct priv_file *f = pick_priv(w);
	bool trunc = rnd(w, 4) == 0;
	priv_close(f);
	if (!priv_open(w, f, trunc ? O_TRUNC : 0))
		return 0;
	if (trunc) {
		memset(f->model, 0, f->size);
		f->size = 0;
	}
	priv_note(f, "reopen%s", trunc ? " O_TRUNC" : "");
	return 1;
}

/*
 * A file too big to be freed by the call that lets go of it: its blocks
 * go back in the core's background thread while the other threads take
 * blocks.  About one a second, whichever thread comes first (each costs
 * the zeroing of its blocks).
 */
#define BIG_SIZE (17u << 20)
static int64_t big_next_ms;       /* atomic: when the next one may start */

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool big_turn(void)
{
	int64_t due = __atomic_load_n(&big_next_ms, __ATOMIC_RELAXED);
	int64_t now = now_ms();
	return now >= due && __atomic_compare_exchange_n(&big_next_ms, &due,
			now + 1000, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static int op_priv_big(struct worker *w)
{
	if (!big_turn())
		return 0;
	char p[PATH_MAX];
	pathf(p, "priv/t%d/big", w->id);
	uint64_t off = rnd(w, BIG_SIZE - 8);
	uint64_t mark = rnd64(w), got = 0;
	struct stat st;
	int fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0644);
	const char *what = "create";
	if (fd >= 0 && (what = "fallocate",
			fallocate(fd, 0, 0, BIG_SIZE) == 0) &&
	    (what = "write", pwrite(fd, &mark, 8, (off_t)off) == 8) &&
	    (what = "read", pread(fd, &got, 8, (off_t)off) == 8) &&
	    (what = "fstat", fstat(fd, &st) == 0) &&
	    (what = "close", close(fd) == 0) &&
	    (what = "unlink", unlink(p) == 0)) {
		if (got == mark && st.st_size == BIG_SIZE &&
		    (uint64_t)st.st_blocks * 512 >= BIG_SIZE)
			return 1;
		failf("thread %d: %s: read back %s, size %jd, %jd blocks of 512",
		      w->id, rel(p), got == mark ? "right" : "wrong",
		      (intmax_t)st.st_size, (intmax_t)st.st_blocks);
		return 0;
	}
	failf("thread %d: %s %s: %s", w->id, what, rel(p), strerror(errno));
	return 0;
}

static bool priv_setup(struct worker *w)
{
	for (int k = 0; k < NPRIV; k++) {
		struct priv_file *f = &w->priv[k];
		pathf(f->path, "priv/t%d/f%d", w->id, k);
		f->model = calloc(1, PRIV_MAX);
		if (!f->model)
			die("out of memory");
		f->fd = f->dfd = -1;
		if (!priv_open(w, f, O_EXCL))
			return false;
	}
	return true;
}

/* After the run: the whole file equals the model. */
static void priv_final_check(struct worker *w, unsigned char *buf)
{
	for (int k = 0; k < NPRIV; k++) {
		struct priv_file *f = &w->priv[k];
		if (!priv_check_size(w, f))
			continue;
		ssize_t n = pread(f->fd, buf, f->size, 0);
		char why[128];
		if (n != (ssize_t)f->size)
			priv_io_failed(w, f, "final read", 0, f->size,
				       io_outcome(n, f->fd, false, buf, f->size, 0,
						  why, sizeof(why)));
		else
			priv_compare(w, f, "final read", 0, buf, f->size);
	}
}

/* ================= shared files ================= */

/*
 * Shared file k: a header (words owned by nobody) at [0, base), then one
 * region of REGION_WORDS words per thread.  A word says who wrote it,
 * which of the writer's writes it came from (gen) and where it belongs:
 *   0xA5 (8 bits) | owner (8) | gen (24) | index in the region (24).
 * The writer bumps started[][] before its pwrite and done[] of each word
 * after it: a reader that saw done = g before its read must see g or
 * newer, and nothing newer than started after its read.
 */
#define WORD_MAGIC 0xA5ull
#define HEADER_OWNER 0xFFu
#define GEN_MAX 0xFFFFFFull

static uint64_t *shared_started;  /* [thread][file], atomic */
static uint64_t *shared_done;     /* [file][thread][word], atomic */
static int shared_threads;        /* regions per file (-c: from the size) */

static uint64_t shared_base(int k)
{
	return 8 * (37 + 301 * (uint64_t)k);   /* regions start unaligned */
}

static uint64_t shared_size(int k, int threads)
{
	return shared_base(k) + 8ull * REGION_WORDS * (uint64_t)threads;
}

static uint64_t word_of(unsigned owner, uint64_t gen, uint64_t index)
{
	return WORD_MAGIC << 56 | (uint64_t)owner << 48 |
	       (gen & GEN_MAX) << 24 | (index & 0xFFFFFF);
}

static uint64_t *started_of(int t, int k)
{
	return &shared_started[t * NSHARED + k];
}

static uint64_t *done_of(int k, int t, int word)
{
	return &shared_done[((size_t)k * (size_t)shared_threads + (size_t)t) *
			    REGION_WORDS + (size_t)word];
}

static void shared_path(char *out, int k)
{
	pathf(out, "shared/s%d", k);
}

/* Writes a random part of this thread's region with a new generation. */
static int op_shared_write(struct worker *w)
{
	int k = (int)rnd(w, NSHARED);
	uint64_t gen = __atomic_load_n(started_of(w->id, k), __ATOMIC_RELAXED) + 1;
	if (gen > GEN_MAX)
		return 0;
	uint64_t w0 = rnd(w, 4) == 0 ? 0 : rnd(w, REGION_WORDS);
	uint64_t w1 = w0 == 0 && rnd(w, 2) ? REGION_WORDS :
		      w0 + 1 + rnd(w, REGION_WORDS - w0);
	uint64_t *words = (uint64_t *)w->buf;
	for (uint64_t i = w0; i < w1; i++)
		words[i - w0] = word_of((unsigned)w->id, gen, i);
	__atomic_store_n(started_of(w->id, k), gen, __ATOMIC_RELEASE);
	uint64_t off = shared_base(k) + 8 * ((uint64_t)w->id * REGION_WORDS + w0);
	size_t len = (size_t)(w1 - w0) * 8;
	/*
	 * Buffered only: a direct write racing a buffered read may leave
	 * stale pages in the kernel's cache, which is no fault of ours.
	 */
	ssize_t n = pwrite(w->shared_fd[k], words, len, (off_t)off);
	if (n != (ssize_t)len) {
		char why[128];
		failf("thread %d: write of shared/s%d at %" PRIu64 " len %zu:"
		      " %s", w->id, k, off, len, io_outcome(n, w->shared_fd[k],
		      true, words, len, off, why, sizeof(why)));
		return 0;
	}
	for (uint64_t i = w0; i < w1; i++)
		__atomic_store_n(done_of(k, w->id, (int)i), gen, __ATOMIC_RELEASE);
	return 1;
}

static void describe_word(uint64_t v, char *out, size_t len)
{
	snprintf(out, len, "0x%016" PRIx64 " (magic 0x%02x owner %u gen %" PRIu64
		 " index %" PRIu64 ")", v, (unsigned)(v >> 56),
		 (unsigned)(v >> 48 & 0xFF), (uint64_t)(v >> 24 & GEN_MAX),
		 (uint64_t)(v & 0xFFFFFF));
}

/*
 * Checks words [first, first+n) of file k as read.  lo (may be NULL)
 * holds done[] of each region word before the read, hi[t] started[t]
 * after it (NULL: any generation is fine, as after a remount).
 */
static bool shared_check_words(const char *who, int k, const uint64_t *got,
			       uint64_t first, uint64_t n, const uint64_t *lo,
			       const uint64_t *hi)
{
	uint64_t header = shared_base(k) / 8;
	for (uint64_t i = first; i < first + n; i++) {
		uint64_t v = got[i - first], want_lo = 0, want_hi = GEN_MAX;
		unsigned owner;
		uint64_t index;
		if (i < header) {
			owner = HEADER_OWNER;
			index = i;
			want_hi = 0;
		} else {
			owner = (unsigned)((i - header) / REGION_WORDS);
			index = (i - header) % REGION_WORDS;
			if (lo)
				want_lo = lo[i - header];
			if (hi)
				want_hi = hi[owner];
		}
		uint64_t gen = v >> 24 & GEN_MAX;
		if ((v & ~(GEN_MAX << 24)) == word_of(owner, 0, index) &&
		    gen >= want_lo && gen <= want_hi)
			continue;
		char d[128];
		describe_word(v, d, sizeof(d));
		failf("%s: shared/s%d byte %" PRIu64 ": read %s; it belongs to "
		      "%s %u word %" PRIu64 " with a generation in [%" PRIu64
		      ", %" PRIu64 "]", who, k, i * 8, d,
		      owner == HEADER_OWNER ? "the header," : "thread", owner,
		      index, want_lo, want_hi);
		return false;
	}
	return true;
}

/* Reads a whole shared file, or a random word-aligned part of it. */
static int op_shared_read(struct worker *w)
{
	int k = (int)rnd(w, NSHARED);
	uint64_t words = shared_size(k, nthreads) / 8;
	uint64_t first = rnd(w, 2) ? 0 : rnd(w, words);
	uint64_t n = first == 0 ? words : 1 + rnd(w, words - first);
	size_t region_words = (size_t)nthreads * REGION_WORDS;
	uint64_t *lo = (uint64_t *)w->buf + words;   /* after the data */
	uint64_t hi[MAX_THREADS];
	for (size_t i = 0; i < region_words; i++)
		lo[i] = __atomic_load_n(&shared_done[(size_t)k * region_words + i],
					__ATOMIC_ACQUIRE);
	bool direct = w->shared_dfd[k] >= 0 && rnd(w, 2);
	ssize_t got = pread(direct ? w->shared_dfd[k] : w->shared_fd[k],
			    w->buf, n * 8, (off_t)(first * 8));
	for (int t = 0; t < nthreads; t++)
		hi[t] = __atomic_load_n(started_of(t, k), __ATOMIC_ACQUIRE);
	if (got != (ssize_t)(n * 8)) {
		char why[128];
		failf("thread %d: %sread of shared/s%d at %" PRIu64 " len %"
		      PRIu64 ": %s", w->id, direct ? "O_DIRECT " : "", k,
		      first * 8, n * 8, io_outcome(got, direct ?
		      w->shared_dfd[k] : w->shared_fd[k], false, w->buf, n * 8,
		      first * 8, why, sizeof(why)));
		return 0;
	}
	char who[64];
	snprintf(who, sizeof(who), "thread %d: %sread", w->id,
		 direct ? "O_DIRECT " : "");
	return shared_check_words(who, k, (uint64_t *)w->buf, first, n, lo, hi);
}

static int op_shared_sync(struct worker *w)
{
	int k = (int)rnd(w, NSHARED);
	if (fsync(w->shared_fd[k]) < 0) {
		failf("thread %d: fsync shared/s%d: %s", w->id, k, strerror(errno));
		return 0;
	}
	return 1;
}

/* The files, filled with generation 0 of every region. */
static void shared_create(void)
{
	size_t total = (size_t)nthreads * REGION_WORDS * NSHARED;
	shared_threads = nthreads;
	shared_started = calloc((size_t)nthreads * NSHARED, sizeof(uint64_t));
	shared_done = calloc(total, sizeof(uint64_t));
	if (!shared_started || !shared_done)
		die("out of memory");
	for (int k = 0; k < NSHARED; k++) {
		uint64_t words = shared_size(k, nthreads) / 8, header = shared_base(k) / 8;
		uint64_t *data = malloc(words * 8);
		if (!data)
			die("out of memory");
		for (uint64_t i = 0; i < words; i++)
			data[i] = i < header ? word_of(HEADER_OWNER, 0, i) :
				  word_of((unsigned)((i - header) / REGION_WORDS), 0,
					  (i - header) % REGION_WORDS);
		char p[PATH_MAX];
		shared_path(p, k);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || pwrite(fd, data, words * 8, 0) != (ssize_t)(words * 8) ||
		    close(fd) < 0)
			die("%s: %s", p, strerror(errno));
		free(data);
	}
}

static bool shared_open(struct worker *w)
{
	for (int k = 0; k < NSHARED; k++) {
		char p[PATH_MAX];
		shared_path(p, k);
		w->shared_fd[k] = open(p, O_RDWR);
		w->shared_dfd[k] = direct_io ? open(p, O_RDONLY | O_DIRECT) : -1;
		if (w->shared_fd[k] < 0 || (direct_io && w->shared_dfd[k] < 0)) {
			failf("thread %d: open %s: %s", w->id, rel(p),
			      strerror(errno));
			return false;
		}
	}
	return true;
}

/* After the run: every word is exactly from the last write of its word. */
static void shared_check_exact(int k, const uint64_t *data)
{
	uint64_t header = shared_base(k) / 8;
	if (!shared_check_words("after the run", k, data, 0, header, NULL, NULL))
		return;
	for (int t = 0; t < shared_threads; t++) {
		for (int i = 0; i < REGION_WORDS; i++) {
			uint64_t gen = shared_done[((size_t)k * (size_t)shared_threads +
						    (size_t)t) * REGION_WORDS + (size_t)i];
			uint64_t at = header + (uint64_t)t * REGION_WORDS + (uint64_t)i;
			if (data[at] == word_of((unsigned)t, gen, (uint64_t)i))
				continue;
			char d[128];
			describe_word(data[at], d, sizeof(d));
			failf("after the run: shared/s%d byte %" PRIu64 ": %s, but "
			      "the last write of thread %d there was generation %"
			      PRIu64, k, at * 8, d, t, gen);
			return;
		}
	}
}

/*
 * Reads shared file k whole and checks it: exact = the final state after
 * the run (every word from the last write of its word), else only its
 * shape (after a remount, where the run's state is gone).
 */
static void shared_check_file(int k, bool exact)
{
	char p[PATH_MAX];
	shared_path(p, k);
	struct stat st;
	if (stat(p, &st) < 0) {
		failf("%s: %s", rel(p), strerror(errno));
		return;
	}
	uint64_t want = shared_size(k, shared_threads);
	if ((uint64_t)st.st_size != want) {
		failf("%s: size %jd, want %" PRIu64, rel(p), (intmax_t)st.st_size,
		      want);
		return;
	}
	uint64_t words = want / 8;
	uint64_t *data = malloc(want);
	int fd = open(p, O_RDONLY);
	if (!data)
		die("out of memory");
	if (fd < 0 || pread(fd, data, want, 0) != (ssize_t)want) {
		failf("%s: cannot read it whole: %s", rel(p), strerror(errno));
	} else if (exact) {
		shared_check_exact(k, data);
	} else {
		shared_check_words("check", k, data, 0, words, NULL, NULL);
	}
	if (fd >= 0)
		close(fd);
	free(data);
}

/* ================= names ================= */

static void name_path(char *out, const char *relname)
{
	pathf(out, "%s", relname);
}

static void own_content(unsigned tid, unsigned id, char *out, size_t len)
{
	snprintf(out, len, "own file %u of thread %u\n", id, tid);
}

static void new_own_name(struct worker *w, char *out, size_t len)
{
	snprintf(out, len, "names/n%u/t%d_%u", (unsigned)rnd(w, NNAMEDIRS),
		 w->id, w->seq++);
}

static int op_name_create(struct worker *w)
{
	if (w->nown == MAX_OWN)
		return 0;
	struct own_file *o = &w->own[w->nown];
	o->id = w->seq;
	new_own_name(w, o->names[0], sizeof(o->names[0]));
	char p[PATH_MAX], c[64];
	name_path(p, o->names[0]);
	own_content((unsigned)w->id, o->id, c, sizeof(c));
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0 || write(fd, c, strlen(c)) != (ssize_t)strlen(c)) {
		failf("thread %d: create %s: %s", w->id, rel(p), strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	close(fd);
	o->nnames = 1;
	w->nown++;
	return 1;
}

static struct own_file *pick_own(struct worker *w)
{
	return w->nown ? &w->own[rnd(w, (uint64_t)w->nown)] : NULL;
}

static int op_name_link(struct worker *w)
{
	struct own_file *o = pick_own(w);
	if (!o || o->nnames == MAX_LINKS)
		return 0;
	char *name = o->names[o->nnames];
	new_own_name(w, name, sizeof(o->names[0]));
	char from[PATH_MAX], to[PATH_MAX];
	name_path(from, o->names[rnd(w, (uint64_t)o->nnames)]);
	name_path(to, name);
	/*
	 * The kernel's stale link count (see op_common_link) hits own files
	 * too: another thread's readdir of the folder (READDIRPLUS) brings
	 * the count as it was before our LINK, and the LINK's own reply is
	 * then dropped as older; our next unlink takes the cached count to 0
	 * while a name is left.  The stat after it fetches the true count.
	 */
	int rc = link(from, to);
	struct stat st;
	if (rc < 0 && errno == ENOENT && stat(from, &st) == 0)
		rc = link(from, to);
	if (rc < 0) {
		failf("thread %d: link %s %s: %s", w->id, rel(from), rel(to),
		      strerror(errno));
		return 0;
	}
	o->nnames++;
	return 1;
}

static void own_forget_name(struct worker *w, struct own_file *o, int i)
{
	memmove(o->names[i], o->names[o->nnames - 1], sizeof(o->names[0]));
	o->nnames--;
	if (o->nnames == 0)
		*o = w->own[--w->nown];
}

static int op_name_unlink(struct worker *w)
{
	struct own_file *o = pick_own(w);
	if (!o)
		return 0;
	int i = (int)rnd(w, (uint64_t)o->nnames);
	char p[PATH_MAX];
	name_path(p, o->names[i]);
	if (unlink(p) < 0) {
		failf("thread %d: unlink %s: %s", w->id, rel(p), strerror(errno));
		return 0;
	}
	own_forget_name(w, o, i);
	return 1;
}

static int op_name_rename(struct worker *w)
{
	struct own_file *o = pick_own(w);
	if (!o)
		return 0;
	int i = (int)rnd(w, (uint64_t)o->nnames);
	char newname[64], from[PATH_MAX], to[PATH_MAX];
	new_own_name(w, newname, sizeof(newname));
	name_path(from, o->names[i]);
	name_path(to, newname);
	unsigned flags = rnd(w, 2) ? RENAME_NOREPLACE : 0;
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, flags) < 0) {
		failf("thread %d: rename %s %s: %s", w->id, rel(from), rel(to),
		      strerror(errno));
		return 0;
	}
	memcpy(o->names[i], newname, sizeof(newname));
	return 1;
}

/* Every name of an own file: the same inode, nlink = names, content. */
static bool own_verify(struct worker *w, struct own_file *o)
{
	struct stat first, st;
	char p[PATH_MAX];
	for (int i = 0; i < o->nnames; i++) {
		name_path(p, o->names[i]);
		if (stat(p, &st) < 0) {
			failf("thread %d: stat %s (own file %u, %d names): %s",
			      w->id, rel(p), o->id, o->nnames, strerror(errno));
			return false;
		}
		if (i == 0)
			first = st;
		if (st.st_ino != first.st_ino || st.st_nlink != (nlink_t)o->nnames) {
			failf("thread %d: %s: %s (own file %u has %d names, "
			      "nlink %ju)", w->id, rel(p),
			      st.st_ino != first.st_ino ? "another inode than its "
			      "first name" : "wrong link count", o->id, o->nnames,
			      (uintmax_t)st.st_nlink);
			return false;
		}
	}
	char want[64], got[64] = "";
	own_content((unsigned)w->id, o->id, want, sizeof(want));
	int fd = open(p, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, got, sizeof(got) - 1);
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)strlen(want) || memcmp(got, want, strlen(want))) {
		failf("thread %d: %s: content is not own file %u's (%s)", w->id,
		      rel(p), o->id, n < 0 ? strerror(errno) : "other bytes");
		return false;
	}
	return true;
}

static int op_name_verify(struct worker *w)
{
	struct own_file *o = pick_own(w);
	return o && own_verify(w, o);
}

/*
 * readdir of a names directory while other threads change it: each name
 * of this thread there (which only this thread changes) is listed
 * exactly once, and no name of this thread that is not there.
 */
static int op_name_readdir(struct worker *w)
{
	unsigned d = (unsigned)rnd(w, NNAMEDIRS);
	char dir[PATH_MAX], prefix[32], mine[MAX_OWN * MAX_LINKS][64];
	int nmine = 0, seen[MAX_OWN * MAX_LINKS] = { 0 };
	pathf(dir, "names/n%u", d);
	snprintf(prefix, sizeof(prefix), "names/n%u/", d);
	for (int i = 0; i < w->nown; i++)
		for (int j = 0; j < w->own[i].nnames; j++)
			if (strncmp(w->own[i].names[j], prefix, strlen(prefix)) == 0)
				strcpy(mine[nmine++], w->own[i].names[j] + strlen(prefix));
	DIR *dh = opendir(dir);
	if (!dh) {
		failf("thread %d: opendir %s: %s", w->id, rel(dir), strerror(errno));
		return 0;
	}
	char tag[16];
	int taglen = snprintf(tag, sizeof(tag), "t%d_", w->id);
	struct dirent *e;
	bool ok = true;
	errno = 0;
	while (ok && (e = readdir(dh))) {
		if (strncmp(e->d_name, tag, (size_t)taglen) != 0)
			continue;
		int i = 0;
		while (i < nmine && strcmp(mine[i], e->d_name) != 0)
			i++;
		if (i == nmine || seen[i]++) {
			failf("thread %d: readdir %s lists %s %s", w->id, rel(dir),
			      e->d_name, i == nmine ? "which is not there" :
			      "twice");
			ok = false;
		}
	}
	if (ok && errno) {
		failf("thread %d: readdir %s: %s", w->id, rel(dir), strerror(errno));
		ok = false;
	}
	closedir(dh);
	for (int i = 0; ok && i < nmine; i++) {
		if (!seen[i]) {
			failf("thread %d: readdir %s misses %s", w->id, rel(dir),
			      mine[i]);
			ok = false;
		}
	}
	return ok;
}

/* Common names: threads fight over them; only errno outcomes are known. */
static void common_path(struct worker *w, char *out)
{
	pathf(out, "names/n%u/c%u", (unsigned)rnd(w, NNAMEDIRS),
	      (unsigned)rnd(w, NCOMMON));
}

static int expect_errno(struct worker *w, const char *what, const char *a,
			const char *b, int rc, int allowed1, int allowed2)
{
	if (rc == 0)
		return 1;
	if (errno == allowed1 || errno == allowed2)
		return 0;
	failf("thread %d: %s %s%s%s: %s", w->id, what, rel(a), b ? " " : "",
	      b ? rel(b) : "", strerror(errno));
	return 0;
}

/*
 * A link to an anchor (which always has its own name).  ENOENT may come
 * from the kernel, not from us: link(2) refuses an inode whose cached
 * link count is 0, and FUSE's cache of it drifts low when links and
 * unlinks of one inode race (the reply of a LINK that raced an unlink is
 * dropped as stale, the unlink's decrement is not).  A stat fetches the
 * count afresh (the unlink marked it stale): the second try must work.
 */
static int op_common_link(struct worker *w)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct stat st;
	pathf(from, "names/anchor%u", (unsigned)rnd(w, NANCHORS));
	common_path(w, to);
	int rc = link(from, to);
	if (rc < 0 && errno == ENOENT && stat(from, &st) == 0)
		rc = link(from, to);
	return expect_errno(w, "link", from, to, rc, EEXIST, 0);
}

static int op_common_unlink(struct worker *w)
{
	char p[PATH_MAX];
	common_path(w, p);
	return expect_errno(w, "unlink", p, NULL, unlink(p), ENOENT, 0);
}

static int op_common_rename(struct worker *w)
{
	char from[PATH_MAX], to[PATH_MAX];
	common_path(w, from);
	common_path(w, to);
	return expect_errno(w, "rename", from, to, rename(from, to), ENOENT, 0);
}

static int op_common_create(struct worker *w)
{
	char p[PATH_MAX];
	common_path(w, p);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd >= 0)
		close(fd);
	return expect_errno(w, "create", p, NULL, fd < 0 ? -1 : 0, EEXIST, 0);
}

/* ================= the tree: moved, nested, exchanged directories ================= */

static bool is_tree_dir_name(const char *name)
{
	return name[0] == 'd' && name[1] >= '0' && name[1] <= '9';
}

/* Looks for dN below dir (at depth levels of nesting); out = its path. */
static bool search_dir(const char *dir, const char *name, int depth,
		       char *out)
{
	DIR *dh = opendir(dir);
	if (!dh)
		return false;   /* moved away meanwhile */
	struct dirent *e;
	bool found = false;
	while (!found && (e = readdir(dh))) {
		if (!is_tree_dir_name(e->d_name))
			continue;
		char p[PATH_MAX];
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= PATH_MAX)
			continue;
		if (strcmp(e->d_name, name) == 0) {
			strcpy(out, p);
			found = true;
		} else if (depth < NDIRS && strlen(p) + 5 < PATH_MAX) {
			strcat(p, "/sub");
			found = search_dir(p, name, depth + 1, out);
		}
	}
	closedir(dh);
	return found;
}

/* Where dN is now; false if it moved while we looked. */
static bool locate(struct worker *w, int n, char *out)
{
	char name[16], dir[PATH_MAX];
	snprintf(name, sizeof(name), "d%d", n);
	int first = (int)rnd(w, 2);
	for (int i = 0; i < 2; i++) {
		pathf(dir, "tree/%c", "AB"[(first + i) % 2]);
		if (search_dir(dir, name, 0, out))
			return true;
	}
	return false;
}

static int nest_depth(const char *path)
{
	int n = 0;
	for (const char *p = path; (p = strstr(p, "/sub/")); p++)
		n++;
	return n;
}

/* dN to the top of A or B. */
static int op_tree_move(struct worker *w)
{
	int n = (int)rnd(w, NDIRS);
	char from[PATH_MAX], to[PATH_MAX];
	if (!locate(w, n, from))
		return 0;
	pathf(to, "tree/%c/d%d", "AB"[rnd(w, 2)], n);
	if (strcmp(from, to) == 0)
		return 0;
	/* dN exists once: NOREPLACE must never find the target there */
	unsigned flags = rnd(w, 2) ? RENAME_NOREPLACE : 0;
	return expect_errno(w, "rename", from, to,
			    renameat2(AT_FDCWD, from, AT_FDCWD, to, flags), ENOENT, 0);
}

/* dN into dM/sub; EINVAL when dM is inside dN (a cycle). */
static int op_tree_nest(struct worker *w)
{
	int n = (int)rnd(w, NDIRS), m = (int)rnd(w, NDIRS);
	char from[PATH_MAX], into[PATH_MAX], to[PATH_MAX];
	if (n == m || !locate(w, n, from) || !locate(w, m, into) ||
	    nest_depth(into) >= MAX_NEST)
		return 0;
	if (snprintf(to, sizeof(to), "%s/sub/d%d", into, n) >= PATH_MAX ||
	    strcmp(from, to) == 0)
		return 0;
	int rc = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
	/*
	 * EEXIST: the kernel resolves both parents before it locks, and
	 * meanwhile dN's parent sub/ may have been exchanged with dM/sub
	 * (op_tree_swap_subs): both paths then name dN itself, which
	 * NOREPLACE refuses.  The walk after the run still checks that dN
	 * exists once.
	 */
	if (rc < 0 && errno == EEXIST)
		return 0;
	return expect_errno(w, "rename", from, to, rc, ENOENT, EINVAL);
}

/*
 * dN into its own sub/: EINVAL, or ENOENT if dN moved.  It may also
 * succeed: the kernel resolves the paths before it locks, and by then
 * that sub/ may have been exchanged into another dN (op_tree_swap_subs)
 * -- a legal move.  A real cycle would cut dN off from the tree, which
 * the walk after the run finds (check_tree_dirs).
 */
static int op_tree_cycle(struct worker *w)
{
	int n = (int)rnd(w, NDIRS);
	char from[PATH_MAX], to[PATH_MAX];
	if (!locate(w, n, from) ||
	    snprintf(to, sizeof(to), "%s/sub/d%d", from, n) >= PATH_MAX)
		return 0;
	int rc = rename(from, to);
	if (rc < 0 && errno == EINVAL)
		return 1;
	expect_errno(w, "rename", from, to, rc, ENOENT, 0);
	return 0;
}

/* RENAME_EXCHANGE of A/xK (a directory at first) and B/xK (a file). */
static int op_tree_exchange(struct worker *w)
{
	unsigned k = (unsigned)rnd(w, NITEMS);
	char a[PATH_MAX], b[PATH_MAX];
	pathf(a, "tree/A/x%u", k);
	pathf(b, "tree/B/x%u", k);
	return expect_errno(w, "exchange", a, b,
			    renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE),
			    0, 0);
}

/* RENAME_EXCHANGE of dN/sub and dM/sub: subtrees change places. */
static int op_tree_swap_subs(struct worker *w)
{
	int n = (int)rnd(w, NDIRS), m = (int)rnd(w, NDIRS);
	char a[PATH_MAX], b[PATH_MAX];
	if (n == m || !locate(w, n, a) || !locate(w, m, b) ||
	    strlen(a) + 5 >= PATH_MAX || strlen(b) + 5 >= PATH_MAX)
		return 0;
	strcat(a, "/sub");
	strcat(b, "/sub");
	/* EINVAL: one is inside the other */
	return expect_errno(w, "exchange", a, b,
			    renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE),
			    ENOENT, EINVAL);
}

/* Own directories next to the moving ones, sometimes with a file. */
static int op_tree_mkdir(struct worker *w)
{
	if (w->ndirs == MAX_OWN_DIRS)
		return 0;
	struct own_dir *d = &w->dirs[w->ndirs];
	snprintf(d->name, sizeof(d->name), "tree/%c/m%d_%u", "AB"[rnd(w, 2)],
		 w->id, w->seq++);
	char p[PATH_MAX];
	name_path(p, d->name);
	if (mkdir(p, 0755) < 0) {
		failf("thread %d: mkdir %s: %s", w->id, rel(p), strerror(errno));
		return 0;
	}
	d->has_file = rnd(w, 2);
	if (d->has_file) {
		char f[PATH_MAX];
		pathf(f, "%s/f", d->name);
		int fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0) {
			failf("thread %d: create %s: %s", w->id, rel(f),
			      strerror(errno));
			return 0;
		}
		close(fd);
	}
	w->ndirs++;
	return 1;
}

/* rmdir of a non-empty own directory is ENOTEMPTY; emptied, it goes. */
static int op_tree_rmdir(struct worker *w)
{
	if (w->ndirs == 0)
		return 0;
	int i = (int)rnd(w, (uint64_t)w->ndirs);
	struct own_dir *d = &w->dirs[i];
	char p[PATH_MAX], f[PATH_MAX];
	name_path(p, d->name);
	if (d->has_file) {
		if (rmdir(p) == 0 || errno != ENOTEMPTY) {
			failf("thread %d: rmdir %s (not empty): %s", w->id, rel(p),
			      errno == ENOTEMPTY ? "succeeded" : strerror(errno));
			return 0;
		}
		pathf(f, "%s/f", d->name);
		if (unlink(f) < 0) {
			failf("thread %d: unlink %s: %s", w->id, rel(f),
			      strerror(errno));
			return 0;
		}
	}
	if (rmdir(p) < 0) {
		failf("thread %d: rmdir %s: %s", w->id, rel(p), strerror(errno));
		return 0;
	}
	w->dirs[i] = w->dirs[--w->ndirs];
	return 1;
}

/* Empty directories c0..c3 in A and B, made, moved and removed by all. */
static int op_tree_common_dir(struct worker *w)
{
	char a[PATH_MAX], b[PATH_MAX];
	pathf(a, "tree/%c/c%u", "AB"[rnd(w, 2)], (unsigned)rnd(w, 4));
	pathf(b, "tree/%c/c%u", "AB"[rnd(w, 2)], (unsigned)rnd(w, 4));
	switch (rnd(w, 3)) {
	case 0:
		return expect_errno(w, "mkdir", a, NULL, mkdir(a, 0755), EEXIST, 0);
	case 1:
		return expect_errno(w, "rmdir", a, NULL, rmdir(a), ENOENT, 0);
	default:
		/* onto an existing empty directory: it is replaced */
		return expect_errno(w, "rename", a, b, rename(a, b), ENOENT, 0);
	}
}

static void make_dir(const char *p)
{
	if (mkdir(p, 0755) < 0)
		die("mkdir %s: %s", p, strerror(errno));
}

static void make_file(const char *p, const char *content)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content) ||
	    close(fd) < 0)
		die("%s: %s", p, strerror(errno));
}

static void tree_create(void)
{
	char p[PATH_MAX], c[64];
	pathf(p, "tree");
	make_dir(p);
	pathf(p, "tree/A");
	make_dir(p);
	pathf(p, "tree/B");
	make_dir(p);
	for (int n = 0; n < NDIRS; n++) {
		pathf(p, "tree/A/d%d", n);
		make_dir(p);
		pathf(p, "tree/A/d%d/sub", n);
		make_dir(p);
	}
	for (int k = 0; k < NITEMS; k++) {
		pathf(p, "tree/A/x%d", k);
		make_dir(p);
		pathf(p, "tree/A/x%d/id", k);
		snprintf(c, sizeof(c), "x%d dir\n", k);
		make_file(p, c);
		pathf(p, "tree/B/x%d", k);
		snprintf(c, sizeof(c), "x%d file\n", k);
		make_file(p, c);
	}
}

/* ================= xattrs ================= */

static void xattr_name(int tid, int k, char *out, size_t len)
{
	snprintf(out, len, "user.t%d.%d", tid, k);
}

/*
 * A value says whose it is and how long it is, then bytes derived from
 * that: a reader who knows nothing else can still tell a whole value
 * from a torn or misplaced one.
 */
static size_t xattr_value(int tid, int k, uint32_t gen, uint32_t len,
			  char *out)
{
	int n = sprintf(out, "t%d.%d.g%u.l%u:", tid, k, gen, len);
	uint64_t x = (uint64_t)tid << 40 ^ (uint64_t)k << 32 ^ gen ^ 0x9E3779B97F4A7C15ull;
	for (uint32_t i = 0; i < len; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		out[n + (int)i] = (char)('a' + (x >> 59));
	}
	return (size_t)n + len;
}

static void file_of(int k, char *out)
{
	shared_path(out, k);
}

static int op_xattr_set(struct worker *w)
{
	int f = (int)rnd(w, NSHARED), k = (int)rnd(w, NXATTR);
	struct xattr_model *m = &w->xattr[f][k];
	char p[PATH_MAX], name[32], value[XATTR_LEN_MAX + 64];
	file_of(f, p);
	xattr_name(w->id, k, name, sizeof(name));
	uint32_t len = rnd(w, 8) ? (uint32_t)rnd(w, 300) :
				   (uint32_t)rnd(w, XATTR_LEN_MAX);
	size_t vlen = xattr_value(w->id, k, m->gen + 1, len, value);
	/* sometimes the wrong flag first: it must fail and change nothing */
	if (rnd(w, 4) == 0) {
		int wrong = m->present ? XATTR_CREATE : XATTR_REPLACE;
		int want = m->present ? EEXIST : ENODATA;
		if (lsetxattr(p, name, value, vlen, wrong) == 0 || errno != want) {
			failf("thread %d: setxattr %s %s with %s: %s", w->id,
			      rel(p), name, m->present ? "XATTR_CREATE of an "
			      "existing name" : "XATTR_REPLACE of a missing name",
			      errno == want ? "succeeded" : strerror(errno));
			return 0;
		}
	}
	int flags = rnd(w, 2) ? 0 : m->present ? XATTR_REPLACE : XATTR_CREATE;
	int rc = rnd(w, 2) ? lsetxattr(p, name, value, vlen, flags) :
		 fsetxattr(w->shared_fd[f], name, value, vlen, flags);
	if (rc < 0) {
		failf("thread %d: setxattr %s %s (%zu bytes): %s", w->id, rel(p),
		      name, vlen, strerror(errno));
		return 0;
	}
	m->present = true;
	m->gen++;
	m->len = len;
	return 1;
}

/* A value read: it must be a whole value of thread tid's name k. */
static bool xattr_value_ok(int tid, int k, const char *got, ssize_t n,
			   uint32_t *gen_out)
{
	char want[XATTR_LEN_MAX + 64];
	unsigned t, kk, gen, len;
	int hdr = 0;
	if (n <= 0 || n > XATTR_LEN_MAX + 63)
		return false;
	char copy[64] = "";
	memcpy(copy, got, n < 63 ? (size_t)n : 63);
	if (sscanf(copy, "t%u.%u.g%u.l%u:%n", &t, &kk, &gen, &len, &hdr) != 4 ||
	    hdr == 0 || (int)t != tid || (int)kk != k)
		return false;
	size_t wlen = xattr_value(tid, k, gen, len, want);
	if (gen_out)
		*gen_out = gen;
	return wlen == (size_t)n && memcmp(want, got, wlen) == 0;
}

static int op_xattr_get(struct worker *w)
{
	int f = (int)rnd(w, NSHARED), k = (int)rnd(w, NXATTR);
	struct xattr_model *m = &w->xattr[f][k];
	char p[PATH_MAX], name[32], got[XATTR_LEN_MAX + 64];
	file_of(f, p);
	xattr_name(w->id, k, name, sizeof(name));
	ssize_t n = rnd(w, 2) ? lgetxattr(p, name, got, sizeof(got)) :
		    fgetxattr(w->shared_fd[f], name, got, sizeof(got));
	uint32_t gen = 0;
	if (!m->present && n < 0 && errno == ENODATA)
		return 1;
	if (m->present && xattr_value_ok(w->id, k, got, n, &gen) && gen == m->gen)
		return 1;
	failf("thread %d: getxattr %s %s: %s; the model says %s (generation "
	      "%u, %u bytes)", w->id, rel(p), name,
	      n < 0 ? strerror(errno) : "a value", m->present ? "present" :
	      "absent", m->gen, m->len);
	return 0;
}

static int op_xattr_remove(struct worker *w)
{
	int f = (int)rnd(w, NSHARED), k = (int)rnd(w, NXATTR);
	struct xattr_model *m = &w->xattr[f][k];
	char p[PATH_MAX], name[32];
	file_of(f, p);
	xattr_name(w->id, k, name, sizeof(name));
	int rc = lremovexattr(p, name);
	if ((rc == 0) == m->present && (rc == 0 || errno == ENODATA)) {
		m->present = false;
		return 1;
	}
	failf("thread %d: removexattr %s %s: %s; the model says %s", w->id,
	      rel(p), name, rc == 0 ? "removed" : strerror(errno),
	      m->present ? "present" : "absent");
	return 0;
}

/* listxattr: every name well formed; this thread's exactly the model's. */
static int op_xattr_list(struct worker *w)
{
	int f = (int)rnd(w, NSHARED);
	char p[PATH_MAX], list[MAX_THREADS * NXATTR * 24 + 256];
	file_of(f, p);
	ssize_t n = llistxattr(p, list, sizeof(list));
	if (n < 0) {
		failf("thread %d: listxattr %s: %s", w->id, rel(p), strerror(errno));
		return 0;
	}
	bool listed[NXATTR] = { false };
	for (char *s = list; s < list + n; s += strlen(s) + 1) {
		int t, k, end = 0;
		if (sscanf(s, "user.t%d.%d%n", &t, &k, &end) != 2 ||
		    s[end] != '\0' || t < 0 || t >= nthreads || k < 0 ||
		    k >= NXATTR) {
			failf("thread %d: listxattr %s lists \"%s\"", w->id,
			      rel(p), s);
			return 0;
		}
		if (t == w->id)
			listed[k] = true;
	}
	for (int k = 0; k < NXATTR; k++) {
		if (listed[k] != w->xattr[f][k].present) {
			failf("thread %d: listxattr %s %s user.t%d.%d, which "
			      "is %s", w->id, rel(p), listed[k] ? "lists" :
			      "misses", w->id, k, listed[k] ? "removed" : "set");
			return 0;
		}
	}
	return 1;
}

/* Another thread's name: absent, or a whole value of that name. */
static int op_xattr_peek(struct worker *w)
{
	int f = (int)rnd(w, NSHARED), k = (int)rnd(w, NXATTR);
	int t = (int)rnd(w, (uint64_t)nthreads);
	char p[PATH_MAX], name[32], got[XATTR_LEN_MAX + 64];
	file_of(f, p);
	xattr_name(t, k, name, sizeof(name));
	ssize_t n = fgetxattr(w->shared_fd[f], name, got, sizeof(got));
	if (n < 0 && errno == ENODATA)
		return 0;
	if (xattr_value_ok(t, k, got, n, NULL))
		return 1;
	failf("thread %d: getxattr %s %s: %s", w->id, rel(p), name,
	      n < 0 ? strerror(errno) : "not a whole value of that name");
	return 0;
}

static void xattr_final_check(struct worker *w)
{
	for (int f = 0; f < NSHARED && !any_failure(); f++) {
		for (int k = 0; k < NXATTR; k++) {
			char p[PATH_MAX], name[32], got[XATTR_LEN_MAX + 64];
			struct xattr_model *m = &w->xattr[f][k];
			file_of(f, p);
			xattr_name(w->id, k, name, sizeof(name));
			ssize_t n = lgetxattr(p, name, got, sizeof(got));
			uint32_t gen = 0;
			bool ok = m->present ? xattr_value_ok(w->id, k, got, n, &gen) &&
					       gen == m->gen :
					       n < 0 && errno == ENODATA;
			if (!ok)
				failf("after the run: %s %s: %s, the model says %s",
				      rel(p), name, n < 0 ? strerror(errno) :
				      "a value", m->present ? "present" : "absent");
		}
	}
}

/* ================= the operations and the threads ================= */

static const struct op {
	const char *name;
	int weight;
	int (*run)(struct worker *);
} ops[OP_COUNT] = {
	[OP_PRIV_WRITE] = { "private write", 12, op_priv_write },
	[OP_PRIV_TRUNCATE] = { "private truncate", 3, op_priv_truncate },
	[OP_PRIV_FALLOCATE] = { "private fallocate", 4, op_priv_fallocate },
	[OP_PRIV_READ] = { "private read", 8, op_priv_read },
	[OP_PRIV_SYNC] = { "private fsync", 1, op_priv_sync },
	[OP_PRIV_REOPEN] = { "private reopen", 1, op_priv_reopen },
	[OP_PRIV_BIG] = { "big file freed later", 1, op_priv_big },
	[OP_SHARED_WRITE] = { "shared write", 8, op_shared_write },
	[OP_SHARED_READ] = { "shared read", 6, op_shared_read },
	[OP_SHARED_SYNC] = { "shared fsync", 1, op_shared_sync },
	[OP_NAME_CREATE] = { "own create", 4, op_name_create },
	[OP_NAME_LINK] = { "own link", 3, op_name_link },
	[OP_NAME_UNLINK] = { "own unlink", 3, op_name_unlink },
	[OP_NAME_RENAME] = { "own rename", 3, op_name_rename },
	[OP_NAME_VERIFY] = { "own verify", 2, op_name_verify },
	[OP_NAME_READDIR] = { "own readdir", 2, op_name_readdir },
	[OP_COMMON_LINK] = { "common link", 2, op_common_link },
	[OP_COMMON_UNLINK] = { "common unlink", 2, op_common_unlink },
	[OP_COMMON_RENAME] = { "common rename", 2, op_common_rename },
	[OP_COMMON_CREATE] = { "common create", 1, op_common_create },
	[OP_TREE_MOVE] = { "tree move", 4, op_tree_move },
	[OP_TREE_NEST] = { "tree nest", 3, op_tree_nest },
	[OP_TREE_CYCLE] = { "tree cycle refused", 1, op_tree_cycle },
	[OP_TREE_EXCHANGE] = { "tree exchange", 3, op_tree_exchange },
	[OP_TREE_SWAP_SUBS] = { "tree swap subs", 2, op_tree_swap_subs },
	[OP_TREE_MKDIR] = { "tree mkdir", 2, op_tree_mkdir },
	[OP_TREE_RMDIR] = { "tree rmdir", 2, op_tree_rmdir },
	[OP_TREE_COMMON_DIR] = { "tree common dir", 2, op_tree_common_dir },
	[OP_XATTR_SET] = { "xattr set", 3, op_xattr_set },
	[OP_XATTR_GET] = { "xattr get", 2, op_xattr_get },
	[OP_XATTR_REMOVE] = { "xattr remove", 1, op_xattr_remove },
	[OP_XATTR_LIST] = { "xattr list", 1, op_xattr_list },
	[OP_XATTR_PEEK] = { "xattr peek", 2, op_xattr_peek },
};

static int total_weight(void)
{
	int sum = 0;
	for (int i = 0; i < OP_COUNT; i++)
		sum += ops[i].weight;
	return sum;
}

static enum op_kind pick_op(struct worker *w, int total)
{
	int x = (int)rnd(w, (uint64_t)total), i = 0;
	while (x >= ops[i].weight)
		x -= ops[i++].weight;
	return (enum op_kind)i;
}

static pthread_mutex_t done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int nfinished;             /* under done_mu */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int total = total_weight();
	if (priv_setup(w) && shared_open(w)) {
		while (!should_stop()) {
			enum op_kind k = pick_op(w, total);
			__atomic_store_n(&w->doing, ops[k].name, __ATOMIC_RELAXED);
			w->ok[k] += (uint64_t)ops[k].run(w);
		}
	}
	__atomic_store_n(&w->doing, "nothing", __ATOMIC_RELAXED);
	pthread_mutex_lock(&done_mu);
	w->finished = true;
	nfinished++;
	pthread_cond_signal(&done_cv);
	pthread_mutex_unlock(&done_mu);
	return NULL;
}

/* ================= checks after the run ================= */

/* One name of a regular file, for the link count check. */
struct name_ref {
	ino_t ino;
	nlink_t nlink;
	char path[96];
};

struct walk {
	struct name_ref *refs;
	size_t n, cap;
	int found[NDIRS];         /* how often each dN was seen */
	char where[NDIRS][160];
};

/* A path relative to DIR into a short buffer (cut if it must be). */
static void copy_rel(char *dst, size_t size, const char *p)
{
	size_t n = strlen(rel(p));
	if (n >= size)
		n = size - 1;
	memcpy(dst, rel(p), n);
	dst[n] = '\0';
}

static void walk_add_file(struct walk *wk, const char *p, const struct stat *st)
{
	if (wk->n == wk->cap) {
		wk->cap = wk->cap ? 2 * wk->cap : 1024;
		wk->refs = realloc(wk->refs, wk->cap * sizeof(*wk->refs));
		if (!wk->refs)
			die("out of memory");
	}
	struct name_ref *r = &wk->refs[wk->n++];
	r->ino = st->st_ino;
	r->nlink = st->st_nlink;
	copy_rel(r->path, sizeof(r->path), p);
}

static void walk_note_tree_dir(struct walk *wk, const char *p, const char *name)
{
	bool in_tree = strncmp(rel(p), "tree/", 5) == 0;
	int n = atoi(name + 1);
	if (!in_tree || !is_tree_dir_name(name) || n >= NDIRS)
		return;
	if (wk->found[n]++ == 0)
		copy_rel(wk->where[n], sizeof(wk->where[n]), p);
	else
		failf("tree: d%d is both at %s and at %s", n, wk->where[n], rel(p));
}

/*
 * Walks the tree below dir: regular files are collected for the link
 * counts, each directory's nlink must be 2 + its subdirectories.
 */
static void walk_dir(struct walk *wk, const char *dir, int depth)
{
	DIR *dh = opendir(dir);
	if (!dh) {
		failf("walk: opendir %s: %s", rel(dir), strerror(errno));
		return;
	}
	struct dirent *e;
	nlink_t subdirs = 0;
	while ((e = readdir(dh))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[PATH_MAX];
		struct stat st;
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= PATH_MAX ||
		    lstat(p, &st) < 0) {
			failf("walk: lstat %s: %s", rel(p), strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			subdirs++;
			walk_note_tree_dir(wk, p, e->d_name);
			if (depth < 64)
				walk_dir(wk, p, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			walk_add_file(wk, p, &st);
		}
	}
	closedir(dh);
	struct stat st;
	if (stat(dir, &st) < 0)
		failf("walk: stat %s: %s", rel(dir), strerror(errno));
	else if (st.st_nlink != 2 + subdirs)
		failf("directory %s: nlink %ju, but it has %ju subdirectories",
		      rel(dir), (uintmax_t)st.st_nlink, (uintmax_t)subdirs);
}

static int by_ino(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Each file's nlink = the names found for it. */
static void check_link_counts(struct walk *wk)
{
	qsort(wk->refs, wk->n, sizeof(*wk->refs), by_ino);
	for (size_t i = 0, j; i < wk->n; i = j) {
		for (j = i; j < wk->n && wk->refs[j].ino == wk->refs[i].ino; j++)
			;
		if (wk->refs[i].nlink != (nlink_t)(j - i))
			failf("%s: nlink %ju, but %zu names lead to it",
			      wk->refs[i].path, (uintmax_t)wk->refs[i].nlink, j - i);
	}
}

static void check_file_content(const char *p, const char *want)
{
	char got[64] = "";
	int fd = open(p, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, got, sizeof(got) - 1);
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)strlen(want) || memcmp(got, want, strlen(want)) != 0)
		failf("%s: not \"%.*s\" (%s)", rel(p), (int)strlen(want) - 1, want,
		      n < 0 ? strerror(errno) : "other bytes");
}

/* A/xK and B/xK: one the directory xK with its id, one the file xK. */
static void check_items(void)
{
	for (int k = 0; k < NITEMS; k++) {
		char a[PATH_MAX], b[PATH_MAX], id[PATH_MAX], want[32];
		struct stat sa, sb;
		pathf(a, "tree/A/x%d", k);
		pathf(b, "tree/B/x%d", k);
		if (lstat(a, &sa) < 0 || lstat(b, &sb) < 0) {
			failf("tree: x%d is missing in A or B: %s", k, strerror(errno));
			continue;
		}
		if (S_ISDIR(sa.st_mode) == S_ISDIR(sb.st_mode)) {
			failf("tree: A/x%d and B/x%d are both %s", k, k,
			      S_ISDIR(sa.st_mode) ? "directories" : "files");
			continue;
		}
		const char *dir = S_ISDIR(sa.st_mode) ? a : b;
		const char *file = S_ISDIR(sa.st_mode) ? b : a;
		if (snprintf(id, sizeof(id), "%s/id", dir) >= (int)sizeof(id))
			die("path too long: %s", dir);
		snprintf(want, sizeof(want), "x%d dir\n", k);
		check_file_content(id, want);
		snprintf(want, sizeof(want), "x%d file\n", k);
		check_file_content(file, want);
	}
}

/* Each dN exactly once, with its sub/ (the walk found where). */
static void check_tree_dirs(struct walk *wk)
{
	for (int n = 0; n < NDIRS; n++) {
		char sub[PATH_MAX];
		if (wk->found[n] == 0) {
			failf("tree: d%d is nowhere", n);
			continue;
		}
		pathf(sub, "%s/sub", wk->where[n]);
		struct stat st;
		if (stat(sub, &st) < 0 || !S_ISDIR(st.st_mode))
			failf("tree: %s/sub is missing", wk->where[n]);
	}
}

/* Checks that need no model: tree, items, link counts, shared shapes. */
static void check_structure(bool exact_shared)
{
	struct walk wk = { 0 };
	walk_dir(&wk, top, 0);
	check_link_counts(&wk);
	check_tree_dirs(&wk);
	check_items();
	for (int k = 0; k < NSHARED; k++)
		shared_check_file(k, exact_shared);
	free(wk.refs);
}

static void check_own(struct worker *w)
{
	for (int i = 0; i < w->nown && !any_failure(); i++)
		own_verify(w, &w->own[i]);
	for (int i = 0; i < w->ndirs; i++) {
		char p[PATH_MAX];
		struct stat st;
		name_path(p, w->dirs[i].name);
		if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			failf("thread %d: own directory %s is gone", w->id, rel(p));
	}
}

static void check_models(void)
{
	unsigned char *buf = malloc(PRIV_MAX);
	if (!buf)
		die("out of memory");
	for (int t = 0; t < nthreads; t++) {
		priv_final_check(&workers[t], buf);
		check_own(&workers[t]);
		xattr_final_check(&workers[t]);
	}
	free(buf);
}

/* Every kind of operation must have had its outcome, or it proved nothing. */
static void check_op_counts(void)
{
	for (int k = 0; k < OP_COUNT; k++) {
		uint64_t sum = 0;
		for (int t = 0; t < nthreads; t++)
			sum += workers[t].ok[k];
		if (verbose)
			fprintf(stderr, "%-20s %" PRIu64 "\n", ops[k].name, sum);
		if (sum == 0)
			failf("operation \"%s\" never had its outcome", ops[k].name);
	}
}

/* ================= setup and main ================= */

static void setup_tree(void)
{
	char p[PATH_MAX];
	if (mkdir(top, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", top, strerror(errno));
	DIR *dh = opendir(top);
	struct dirent *e;
	if (!dh)
		die("%s: %s", top, strerror(errno));
	while ((e = readdir(dh)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			die("%s is not empty", top);
	closedir(dh);
	pathf(p, "priv");
	make_dir(p);
	for (int t = 0; t < nthreads; t++) {
		pathf(p, "priv/t%d", t);
		make_dir(p);
	}
	pathf(p, "shared");
	make_dir(p);
	shared_create();
	pathf(p, "names");
	make_dir(p);
	for (int d = 0; d < NNAMEDIRS; d++) {
		pathf(p, "names/n%d", d);
		make_dir(p);
	}
	for (int a = 0; a < NANCHORS; a++) {
		pathf(p, "names/anchor%d", a);
		make_file(p, "anchor\n");
	}
	tree_create();
	/* O_DIRECT reads and writes reach the daemon past the page cache */
	pathf(p, "shared/s0");
	int fd = open(p, O_RDONLY | O_DIRECT);
	direct_io = fd >= 0;
	if (fd >= 0)
		close(fd);
}

/*
 * Waits until the threads are done; false if some are still busy long
 * after the end (a hang: the report says in what).
 */
static bool wait_for_workers(void)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += STUCK_SECONDS;
	pthread_mutex_lock(&done_mu);
	while (nfinished < nthreads &&
	       pthread_cond_timedwait(&done_cv, &done_mu, &deadline) != ETIMEDOUT)
		;
	bool all = nfinished == nthreads;
	for (int t = 0; t < nthreads && !all; t++)
		if (!workers[t].finished)
			failf("thread %d still busy %d s after the end, in %s", t,
			      STUCK_SECONDS,
			      __atomic_load_n(&workers[t].doing, __ATOMIC_RELAXED));
	pthread_mutex_unlock(&done_mu);
	return all;
}

static double elapsed_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void run_for(int secs)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!should_stop() && elapsed_since(&start) < secs)
		usleep(100 * 1000);
	request_stop();
}

static int run(void)
{
	setup_tree();
	workers = calloc((size_t)nthreads, sizeof(*workers));
	if (!workers)
		die("out of memory");
	for (int t = 0; t < nthreads; t++) {
		struct worker *w = &workers[t];
		w->id = t;
		w->rng = seed * 0x9E3779B97F4A7C15ull + (uint64_t)t + 1;
		void *buf;
		/* aligned for O_DIRECT; room for a shared file and its lo[] */
		if (posix_memalign(&buf, 4096, IO_MAX + 2 * shared_size(NSHARED,
								  MAX_THREADS)))
			die("out of memory");
		w->buf = buf;
		w->doing = "setup";
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
			die("cannot start thread %d", t);
	}
	run_for(seconds);
	if (!wait_for_workers()) {
		fflush(stdout);
		_exit(1);   /* the hung threads cannot be joined */
	}
	for (int t = 0; t < nthreads; t++)
		pthread_join(workers[t].thread, NULL);
	if (!any_failure()) {
		check_op_counts();
		check_models();
		check_structure(true);
	}
	if (any_failure())
		return 1;
	printf("stress: private files as modelled, shared files consistent, "
	       "own names and xattrs as modelled, tree and link counts "
	       "consistent\n");
	return 0;
}

/* -c: the run's models are gone; the shared files tell the thread count. */
static int check_only(void)
{
	char p[PATH_MAX];
	struct stat st;
	shared_path(p, 0);
	if (stat(p, &st) < 0)
		die("%s: %s", p, strerror(errno));
	uint64_t regions = ((uint64_t)st.st_size - shared_base(0)) / 8;
	if ((uint64_t)st.st_size < shared_base(0) || regions % REGION_WORDS ||
	    regions / REGION_WORDS > MAX_THREADS)
		die("%s: size %jd is not that of a stress run", p,
		    (intmax_t)st.st_size);
	shared_threads = nthreads = (int)(regions / REGION_WORDS);
	check_structure(false);
	if (any_failure())
		return 1;
	printf("check: tree, link counts and shared files consistent\n");
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: stress [-t THREADS] [-d SECONDS] [-s SEED] [-v] DIR\n"
		"       stress -c DIR\n");
	exit(2);
}

static long number_arg(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		die("%s %s: want a number from %ld to %ld", opt, s, lo, hi);
	return v;
}

int main(int argc, char **argv)
{
	bool only_check = false;
	int c;
	while ((c = getopt(argc, argv, "t:d:s:vc")) != -1) {
		switch (c) {
		case 't':
			nthreads = (int)number_arg("-t", optarg, 1, MAX_THREADS);
			break;
		case 'd':
			seconds = (int)number_arg("-d", optarg, 1, 3600);
			break;
		case 's':
			seed = (uint64_t)number_arg("-s", optarg, 0, LONG_MAX);
			break;
		case 'v':
			verbose = true;
			break;
		case 'c':
			only_check = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	if (snprintf(top, sizeof(top), "%s", argv[optind]) >= (int)sizeof(top) - 64)
		die("%s: path too long", argv[optind]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return only_check ? check_only() : run();
}
