/* The pool file: open, lock, map, and the persist path. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libpmem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "nvfs.h"
#include "pool.h"
#include "prewrite.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

/* ---- opening and mapping ---- */

static int create_pool_file(const char *path, uint64_t size, char *err,
			    size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		      0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot create pool: %s", path,
			 strerror(errno));
		return -1;
	}
	int rc = posix_fallocate(fd, 0, (off_t)size);
	if (rc == EOPNOTSUPP || rc == EINVAL)
		rc = ftruncate(fd, (off_t)size) ? errno : 0;
	/* A pool on a disk: no drain is to wait for block allocation. */
	if (rc == 0 && prewrite_wanted(fd))
		rc = -prewrite_zeros(fd, 0, size, NULL, NULL);
	if (rc) {
		snprintf(err, errlen, "%s: cannot size pool to %llu bytes: %s",
			 path, (unsigned long long)size, strerror(rc));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

static int open_pool_file(struct pool *pool, const char *path,
			  const struct pool_open_opts *opts, char *err,
			  size_t errlen)
{
	int fd = open(path, (opts->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT || !opts->create) {
		if (fd < 0)
			snprintf(err, errlen, "%s: cannot open pool: %s", path,
				 strerror(errno));
		return fd;
	}
	pool->created = true;
	return create_pool_file(path, opts->create_size, err, errlen);
}

static int lock_pool_file(int fd, const char *path, bool shared, char *err,
			  size_t errlen)
{
	if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK) {
		snprintf(err, errlen,
			 "%s: pool is in use (mounted or being checked by "
			 "another process)", path);
		errno = EBUSY;
	} else {
		snprintf(err, errlen, "%s: cannot lock pool: %s", path,
			 strerror(errno));
	}
	return -1;
}

/*
 * A program that maps pool blocks directly (libnvmpfs nvmpfs_map_direct)
 * holds a shared OFD lock on the pool's first byte for as long as its
 * mapping lives -- also after the daemon that leased the blocks died.  A
 * mount now could give those blocks to other files while the program
 * still stores into them: refused, saying who to look for.  (The flock
 * the daemon takes is independent of fcntl locks.)
 */
static int refuse_direct_mappers(int fd, const char *path, char *err,
				 size_t errlen)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 1 };
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0 || fl.l_type == F_UNLCK)
		return 0;
	snprintf(err, errlen, "%s: a program still maps this pool directly "
		 "(nvmpfs_map_direct, under an nvmpfs that is gone): using the "
		 "pool now could give its blocks to other files; end that "
		 "program ('fuser -v %s' lists it) and try again", path, path);
	errno = EBUSY;
	return -1;
}

static int map_device(struct pool *pool, char *err, size_t errlen)
{
	size_t len;
	int is_pmem;
	void *p = pmem_map_file(pool->path, 0, 0, 0, &len, &is_pmem);
	if (!p) {
		snprintf(err, errlen, "%s: cannot map device: %s", pool->path,
			 pmem_errormsg());
		return -1;
	}
	pool->base = p;
	pool->size = len;
	pool->is_pmem = is_pmem;
	pool->map_sync = is_pmem;
	return 0;
}

/*
 * A file on a DAX file system is persistent memory to the CPU only when
 * mapped with MAP_SYNC (the kernel then keeps the file's metadata durable
 * on every page fault); without it every drain must be an fdatasync.  The
 * kernel refuses MAP_SYNC where there is no DAX: then a plain mapping.
 */
static void *map_file(struct pool *pool, bool *synced)
{
	bool writable = !pool->read_only || pool->private_map;
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	*synced = false;
	if (!pool->private_map && !pool->read_only) {
		void *p = mmap(NULL, pool->size, prot,
			       MAP_SHARED_VALIDATE | MAP_SYNC, pool->fd, 0);
		if (p != MAP_FAILED) {
			*synced = true;
			return p;
		}
	}
	return mmap(NULL, pool->size, prot,
		    pool->private_map ? MAP_PRIVATE : MAP_SHARED, pool->fd, 0);
}

/*
 * A pool in the page cache of a disk file system (mode msync): each drain
 * writes back the dirty pages of the file, and the kernel writes back a
 * whole folio for one dirty byte -- up to 2 MiB where readahead (or the
 * writes of mkfs) made large folios, which turned a 4 KiB write into a
 * megabyte written.  Cached pages are dropped (they are clean: the pool
 * was made durable when let go of) and faults read single pages from now
 * on, so a drain writes back about what it changed.  Dirty pages cannot
 * be dropped (a pool made by a program that left them to write-back, such
 * as mkfs.nvmpfs with PMEM_IS_PMEM_FORCE): they are written first.
 */
static void small_pages(struct pool *pool)
{
	if (pool->read_only)
		return;
	fdatasync(pool->fd);
	posix_fadvise(pool->fd, 0, 0, POSIX_FADV_DONTNEED);
	madvise(pool->base, pool->size, MADV_RANDOM);
}

static int map_pool(struct pool *pool, char *err, size_t errlen)
{
	struct stat st;
	if (fstat(pool->fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", pool->path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file or device",
			 pool->path);
		return -1;
	}
	pool->size = (uint64_t)st.st_size;
	if (S_ISCHR(st.st_mode))
		return map_device(pool, err, errlen);
	if (pool->size < NVMPFS_BLOCK_SIZE * 2) {
		snprintf(err, errlen, "%s: too small to be a pool (%llu bytes)",
			 pool->path, (unsigned long long)pool->size);
		return -1;
	}
	struct statfs sfs;
	pool->in_memory = fstatfs(pool->fd, &sfs) == 0 &&
			  sfs.f_type == TMPFS_MAGIC;
	void *p = map_file(pool, &pool->map_sync);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "%s: cannot map pool: %s", pool->path,
			 strerror(errno));
		return -1;
	}
	pool->base = p;
	pool->is_pmem = pool->map_sync || pmem_is_pmem(p, pool->size) != 0;
	if (!pool->is_pmem && !pool->in_memory)
		small_pages(pool);
	return 0;
}

static void pick_mode(struct pool *pool)
{
	if (!pool->is_pmem)
		pool->mode = POOL_MSYNC;
	else if (pool->map_sync)
		pool->mode = POOL_PMEM;
	else
		pool->mode = POOL_PMEM_FORCED;
}

const char *pool_mode_name(const struct pool *pool)
{
	switch (pool->mode) {
	case POOL_PMEM: return "pmem";
	case POOL_PMEM_FORCED: return "pmem-forced";
	case POOL_MSYNC: break;
	}
	return "msync";
}

struct pool *pool_open(const char *path, const struct pool_open_opts *opts,
		       char *err, size_t errlen)
{
	struct pool *pool = calloc(1, sizeof(*pool));
	if (!pool) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&pool->sync_mu, NULL);
	pthread_cond_init(&pool->sync_cv, NULL);
	pthread_mutex_init(&pool->sim_mu, NULL);
	pool->path = strdup(path);
	pool->read_only = opts->read_only;
	pool->private_map = opts->read_only && opts->private_map;
	pool->fd = open_pool_file(pool, path, opts, err, errlen);
	if (pool->fd < 0)
		goto fail;
	if (lock_pool_file(pool->fd, path, opts->read_only, err, errlen) < 0)
		goto fail;
	if (!opts->read_only &&
	    refuse_direct_mappers(pool->fd, path, err, errlen) < 0)
		goto fail;
	if (map_pool(pool, err, errlen) < 0)
		goto fail;
	pick_mode(pool);
	if (!opts->read_only && crash_sim_init(pool, err, errlen) < 0)
		goto fail;
	return pool;
fail:;
	int saved = errno;
	pool_close(pool);
	errno = saved;
	return NULL;
}

int pool_populate(struct pool *pool)
{
	if (!pool->in_memory || pool->private_map)
		return 0;
#ifdef MADV_POPULATE_WRITE
	return madvise(pool->base, pool->size, MADV_POPULATE_WRITE);
#else
	return 0;
#endif
}

/* ---- the calling thread's batch of flushed ranges ---- */

struct batch {
	const struct pool *pool;  /* the pool the ranges belong to */
	struct pool_range *r;
	size_t n, cap;
	uint64_t last_seq;
};

static __thread struct batch tls_batch;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

/*
 * A thread that ends with ranges flushed but not drained (only lazy
 * stores such as access times leave any) drains them on its way out.
 */
static void drain_at_exit(void *pool)
{
	if (tls_batch.pool == pool && tls_batch.n)
		pool_drain(pool);
	free(tls_batch.r);
	memset(&tls_batch, 0, sizeof(tls_batch));
}

static void make_exit_key(void)
{
	pthread_key_create(&exit_key, drain_at_exit);
}

static struct batch *batch_of(struct pool *pool)
{
	struct batch *b = &tls_batch;
	if (b->pool != pool) {
		/* Ranges of another (closed) pool: nothing to do with them. */
		b->pool = pool;
		b->n = 0;
		pthread_once(&exit_once, make_exit_key);
		pthread_setspecific(exit_key, pool);
	}
	return b;
}

static void remember_range(struct pool *pool, uint64_t off, uint64_t len)
{
	struct batch *b = batch_of(pool);
	if (b->n > 0) {
		struct pool_range *last = &b->r[b->n - 1];
		if (off >= last->off && off <= last->off + last->len) {
			uint64_t end = off + len;
			if (end > last->off + last->len)
				last->len = end - last->off;
			return;
		}
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct pool_range *r = realloc(b->r, cap * sizeof(*r));
		if (!r) {
			/* Cannot remember it: make it durable right away. */
			if (!pool->is_pmem)
				pmem_msync(pool->base + off, len);
			return;
		}
		b->r = r;
		b->cap = cap;
	}
	b->r[b->n++] = (struct pool_range){ off, len };
}

bool pool_pending(struct pool *pool)
{
	return tls_batch.pool == pool && tls_batch.n > 0;
}

uint64_t pool_thread_seq(void)
{
	return tls_batch.last_seq;
}

void pool_flush(struct pool *pool, uint64_t off, uint64_t len)
{
	if (len == 0)
		return;
	if (pool->is_pmem)
		pmem_flush(pool->base + off, len);
	remember_range(pool, off, len);
}

void pool_flush_ptr(struct pool *pool, const void *p, uint64_t len)
{
	pool_flush(pool, pool_off(pool, p), len);
}

/*
 * Copies so that every aligned 8-byte word of the destination is written
 * by one 8-byte store: a crash leaves each such word old or new, never
 * torn (the interrupted-store atomicity nvmpfs promises).  libpmem's
 * copies keep it for real PM; this is the copy of the msync path.
 */
static void copy_keeping_words(uint8_t *dst, const uint8_t *src, uint64_t len)
{
	while (len && ((uintptr_t)dst & 7)) {
		*dst++ = *src++;
		len--;
	}
	for (; len >= 8; len -= 8, dst += 8, src += 8) {
		uint64_t word;
		memcpy(&word, src, 8);
		*(volatile uint64_t *)dst = word;
	}
	while (len--)
		*dst++ = *src++;
}

void pool_copy(struct pool *pool, uint64_t off, const void *src, uint64_t len)
{
	if (len == 0)
		return;
	if (pool->is_pmem)
		pmem_memcpy_nodrain(pool->base + off, src, len);
	else
		copy_keeping_words(pool->base + off, src, len);
	remember_range(pool, off, len);
}

void pool_zero(struct pool *pool, uint64_t off, uint64_t len)
{
	if (len == 0)
		return;
	if (pool->is_pmem)
		pmem_memset_nodrain(pool->base + off, 0, len);
	else
		memset(pool->base + off, 0, len);
	remember_range(pool, off, len);
}

/*
 * Fresh bytes in mode msync: a store into a page of the mapping that is
 * not in the page cache makes the kernel read the page from disk first
 * (faults read single pages here: small_pages), only for the page to be
 * overwritten.  pwrite of whole pages needs no read, and the mapping sees
 * the same page cache.  Only for fresh bytes: pwrite's copy does not keep
 * 8-byte words whole.  Not for a private (copy-on-write) mapping, which
 * must not change the file.
 */
static bool fills_around_mapping(const struct pool *pool)
{
	return pool->mode == POOL_MSYNC && !pool->in_memory &&
	       !pool->read_only && !pool->private_map && pool->fd >= 0;
}

/*
 * Whole pages (src NULL: zeros), one pwrite a page.  A bigger pwrite
 * makes the disk file system cache the range in large folios, and the
 * kernel writes a whole folio back for one dirty byte: a later 4 KiB
 * overwrite of a block written here then cost its drain 16-64 KiB of
 * writes instead of 4.
 */
static bool pwrite_pages(int fd, const uint8_t *src, uint64_t len,
			 uint64_t off)
{
	static const uint8_t zeros[NVMPFS_BLOCK_SIZE];
	for (uint64_t done = 0; done < len; done += NVMPFS_BLOCK_SIZE)
		if (prewrite_all(fd, src ? src + done : zeros,
				 NVMPFS_BLOCK_SIZE, off + done))
			return false;
	return true;
}

/* Through the mapping, not remembered (the caller remembers it all). */
static void fill_mapped(struct pool *pool, uint64_t off, const uint8_t *src,
			uint64_t len)
{
	if (src)
		copy_keeping_words(pool->base + off, src, len);
	else
		memset(pool->base + off, 0, len);
}

void pool_fill_fresh(struct pool *pool, uint64_t off, const void *src,
		     uint64_t len)
{
	const uint64_t page = NVMPFS_BLOCK_SIZE;
	uint64_t start = (off + page - 1) / page * page;
	uint64_t end = (off + len) / page * page;
	if (!fills_around_mapping(pool) || start >= end) {
		if (src)
			pool_copy(pool, off, src, len);
		else
			pool_zero(pool, off, len);
		return;
	}
	const uint8_t *s = src;
	fill_mapped(pool, off, s, start - off);
	const uint8_t *mid = s ? s + (start - off) : NULL;
	bool written = pwrite_pages(pool->fd, mid, end - start, start);
	if (!written) /* a write error shows at the drain's fdatasync too */
		fill_mapped(pool, start, mid, end - start);
	fill_mapped(pool, end, s ? s + (end - off) : NULL, off + len - end);
	remember_range(pool, off, len);
}

void pool_store64(struct pool *pool, uint64_t *word, uint64_t value)
{
	__atomic_store_n(word, value, __ATOMIC_RELAXED);
	pool_flush_ptr(pool, word, sizeof(*word));
}

/* ---- drains ---- */

/*
 * Group commit: a drain registers, and whoever finds no sync running
 * becomes the leader and syncs the file for everyone registered so far;
 * the others wait for a sync that started after they registered.  Every
 * waiter's stores were made before it registered, so the leader's
 * fdatasync, which starts after, covers them.
 */
static int group_sync(struct pool *pool)
{
	nvfs_about_to_wait();
	pthread_mutex_lock(&pool->sync_mu);
	uint64_t ticket = ++pool->sync_requested;
	while (pool->sync_done < ticket && !pool->sync_error) {
		if (pool->sync_running) {
			pthread_cond_wait(&pool->sync_cv, &pool->sync_mu);
			continue;
		}
		pool->sync_running = true;
		uint64_t covers = pool->sync_requested;
		pthread_mutex_unlock(&pool->sync_mu);
		int rc = fdatasync(pool->fd) ? errno : 0;
		pthread_mutex_lock(&pool->sync_mu);
		pool->syncs++;
		if (rc && !pool->sync_error) {
			pool->sync_error = rc;
			fprintf(stderr, "nvmpfs: %s: fdatasync of the pool failed "
				"(%s): nothing written since can be trusted to "
				"be durable; every change now fails\n",
				pool->path, strerror(rc));
		}
		pool->sync_done = covers;
		pool->sync_running = false;
		pthread_cond_broadcast(&pool->sync_cv);
	}
	int rc = pool->sync_error ? -EIO : 0;
	pthread_mutex_unlock(&pool->sync_mu);
	return rc;
}

/* Makes this thread's batch durable (no hook, no counting). */
static int persist_batch(struct pool *pool, struct batch *b)
{
	if (pool->sim)
		crash_sim_drain(pool, b->r, b->n);
	if (pool->is_pmem) {
		pmem_drain();
		return 0;
	}
	return group_sync(pool);
}

int pool_drain(struct pool *pool)
{
	struct batch *b = batch_of(pool);
	if (b->n == 0)
		return pool->sync_error ? -EIO : 0;
	uint64_t seq = 0;
	int rc = 0;
	/*
	 * The hook makes its own stores durable with pool_persist_quiet,
	 * never through this batch.  Where a drain is an fdatasync, the hook
	 * goes first (the bytes it copies are the same before and after):
	 * the mirror's flush then overlaps ours instead of following it.
	 */
	pool_persist_hook hook = pool->hook;
	void *arg = pool->hook_arg;
	bool hook_first = hook && !pool->is_pmem;
	if (hook_first)
		rc = hook(arg, pool, b->r, b->n, &seq);
	int prc = persist_batch(pool, b);
	rc = prc ? prc : rc;
	__atomic_add_fetch(&pool->drains, 1, __ATOMIC_RELAXED);
	if (hook && !hook_first && rc == 0)
		rc = hook(arg, pool, b->r, b->n, &seq);
	else if (!hook)
		seq = __atomic_add_fetch(&pool->seq, 1, __ATOMIC_RELAXED);
	b->last_seq = seq;
	b->n = 0;
	return rc;
}

int pool_persist_quiet(struct pool *pool, uint64_t off, uint64_t len)
{
	/* A batch of its own, on the side of this thread's. */
	struct batch *b = batch_of(pool);
	struct batch saved = *b;
	struct pool_range r = { off, len };
	b->r = &r;
	b->n = 1;
	b->cap = 1;
	if (pool->is_pmem)
		pmem_flush(pool->base + off, len);
	int rc = persist_batch(pool, b);
	*b = saved;
	return rc;
}

uint64_t pool_last_seq(struct pool *pool)
{
	return __atomic_load_n(&pool->seq, __ATOMIC_ACQUIRE);
}

int pool_persist(struct pool *pool, uint64_t off, uint64_t len)
{
	pool_flush(pool, off, len);
	return pool_drain(pool);
}

void pool_set_hook(struct pool *pool, pool_persist_hook hook, void *arg)
{
	pool->hook = hook;
	pool->hook_arg = arg;
}

void pool_close(struct pool *pool)
{
	if (!pool)
		return;
	if (tls_batch.pool == pool) {
		tls_batch.pool = NULL;
		tls_batch.n = 0;
	}
	/*
	 * The lock goes first, explicitly (the mapping holds the file, and
	 * with it the lock, until munmap): the next mount need not wait for
	 * the unmapping of a big pool, most of the teardown.  Nothing is
	 * stored into the pool after this.
	 */
	if (pool->fd >= 0) {
		flock(pool->fd, LOCK_UN);
		close(pool->fd);
	}
	if (pool->base)
		munmap(pool->base, pool->size);
	crash_sim_free(pool);
	pthread_mutex_destroy(&pool->sync_mu);
	pthread_cond_destroy(&pool->sync_cv);
	pthread_mutex_destroy(&pool->sim_mu);
	free(pool->path);
	free(pool);
}
