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

#include "pool.h"

static int create_pool_file(const char *path, uint64_t size, char *err,
			    size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot create pool: %s", path,
			 strerror(errno));
		return -1;
	}
	int rc = posix_fallocate(fd, 0, (off_t)size);
	if (rc == EOPNOTSUPP || rc == EINVAL)
		rc = ftruncate(fd, (off_t)size) ? errno : 0;
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
		errno = EBUSY; /* what nvfs_mount returns for it */
	} else {
		snprintf(err, errlen, "%s: cannot lock pool: %s", path,
			 strerror(errno));
	}
	return -1;
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
	if (S_ISCHR(st.st_mode)) {
		/* devdax: libpmem knows the mapping size. */
		size_t len;
		int is_pmem;
		void *p = pmem_map_file(pool->path, 0, 0, 0, &len, &is_pmem);
		if (!p) {
			snprintf(err, errlen, "%s: cannot map device: %s",
				 pool->path, pmem_errormsg());
			return -1;
		}
		pool->base = p;
		pool->size = len;
		pool->is_pmem = is_pmem;
		return 0;
	}
	if (pool->size < NVMPFS_BLOCK_SIZE * 2) {
		snprintf(err, errlen, "%s: too small to be a pool (%llu bytes)",
			 pool->path, (unsigned long long)pool->size);
		return -1;
	}
	bool writable = !pool->read_only || pool->private_map;
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	int flags = pool->private_map ? MAP_PRIVATE : MAP_SHARED;
	struct statfs sfs;
	pool->in_memory = fstatfs(pool->fd, &sfs) == 0 &&
			  sfs.f_type == TMPFS_MAGIC;
	void *p = mmap(NULL, pool->size, prot, flags, pool->fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "%s: cannot map pool: %s", pool->path,
			 strerror(errno));
		return -1;
	}
	pool->base = p;
	pool->is_pmem = pmem_is_pmem(p, pool->size) != 0;
	return 0;
}

struct pool *pool_open(const char *path, const struct pool_open_opts *opts,
		       char *err, size_t errlen)
{
	struct pool *pool = calloc(1, sizeof(*pool));
	if (!pool) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pool->path = strdup(path);
	pool->read_only = opts->read_only;
	pool->private_map = opts->read_only && opts->private_map;
	pool->fd = open_pool_file(pool, path, opts, err, errlen);
	if (pool->fd < 0)
		goto fail;
	if (lock_pool_file(pool->fd, path, opts->read_only, err, errlen) < 0)
		goto fail;
	if (map_pool(pool, err, errlen) < 0)
		goto fail;
	if (!opts->read_only && crash_sim_init(pool, err, errlen) < 0)
		goto fail;
	return pool;
fail:;
	int saved = errno; /* the caller tells EBUSY by it */
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

void pool_close(struct pool *pool)
{
	if (!pool)
		return;
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
	free(pool->pending);
	free(pool->path);
	free(pool);
}

static void remember_range(struct pool *pool, uint64_t off, uint64_t len)
{
	if (pool->npending > 0) {
		struct pool_range *last = &pool->pending[pool->npending - 1];
		if (off >= last->off && off <= last->off + last->len) {
			uint64_t end = off + len;
			if (end > last->off + last->len)
				last->len = end - last->off;
			return;
		}
	}
	if (pool->npending == pool->cap_pending) {
		size_t cap = pool->cap_pending ? pool->cap_pending * 2 : 64;
		struct pool_range *r = realloc(pool->pending, cap * sizeof(*r));
		if (!r) {
			/* Cannot remember it: make it durable right away. */
			pmem_msync(pool->base + off, len);
			return;
		}
		pool->pending = r;
		pool->cap_pending = cap;
	}
	pool->pending[pool->npending++] = (struct pool_range){ off, len };
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

void pool_drain(struct pool *pool)
{
	if (pool->sim)
		crash_sim_drain(pool);
	if (pool->is_pmem) {
		pmem_drain();
	} else {
		for (size_t i = 0; i < pool->npending; i++)
			pmem_msync(pool->base + pool->pending[i].off,
				   pool->pending[i].len);
	}
	if (pool->hook && pool->npending)
		pool->hook(pool->hook_arg, pool->pending, pool->npending);
	pool->npending = 0;
	pool->drains++;
}

void pool_persist(struct pool *pool, uint64_t off, uint64_t len)
{
	pool_flush(pool, off, len);
	pool_drain(pool);
}

void pool_set_hook(struct pool *pool, pool_persist_hook hook, void *arg)
{
	pool->hook = hook;
	pool->hook_arg = arg;
}
