/*
 * libnvmpfs: the PM-aware calls (include/nvmpfs.h).  Each flush is one
 * sync_file_range over the span of its ranges (the kernel sends only the
 * dirty pages in it) and one ioctl carrying every range: one daemon round
 * trip for any number of ranges.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "direct_map.h"
#include "nvmpfs.h"

/* Mappings made by nvmpfs_map, to turn addresses into file offsets. */
struct mapping {
	const char *addr;
	size_t len;
	off_t off;
	int fd;
};

/* Ranges async-flushed on an fd, waiting for nvmpfs_drain. */
struct pending {
	int fd;
	size_t count;
	struct nvmpfs_range ranges[NVMPFS_MAX_RANGES];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapping *maps;
static size_t nmaps, cap_maps;
static struct pending **pendings;
static size_t npendings;

static int fail(int err)
{
	errno = err;
	return -1;
}

/* Pushes the page cache's dirty pages of the ranges to the daemon. */
static int push_pages(int fd, const struct nvmpfs_range *r, size_t count,
		      unsigned how)
{
	if (count == 0)
		return 0;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < count; i++) {
		if (r[i].off + r[i].len < r[i].off)
			return fail(EINVAL);
		if (r[i].off < lo)
			lo = r[i].off;
		if (r[i].off + r[i].len > hi)
			hi = r[i].off + r[i].len;
	}
	if (hi <= lo)
		return 0;
	return sync_file_range(fd, (off_t)lo, (off_t)(hi - lo), how);
}

static int flush_ioctl(int fd, const struct nvmpfs_range *ranges, size_t count,
		       uint32_t flags, struct nvmpfs_range *failed,
		       size_t max_failed, struct nvmpfs_verify_result *res)
{
	if (count > NVMPFS_MAX_RANGES)
		return fail(EINVAL);
	struct nvmpfs_ioc_flush *req = calloc(1, sizeof(*req));
	if (!req)
		return fail(ENOMEM);
	req->flags = flags;
	req->count = (uint32_t)count;
	if (count)
		memcpy(req->ranges, ranges, count * sizeof(*ranges));
	int rc = ioctl(fd, NVMPFS_IOC_FLUSH, req);
	if (rc == 0 && res) {
		res->nfailed = req->nfailed;
		res->nfailed_mirror = req->nfailed_mirror;
		res->mirror_checked = !!(req->flags & NVMPFS_FLUSH_MIRROR_CHECKED);
		for (size_t i = 0; i < req->nfailed && i < max_failed; i++)
			failed[i] = req->ranges[i];
	}
	int saved = errno;
	free(req);
	errno = saved;
	return rc < 0 ? -1 : 0;
}

static const unsigned PUSH_AND_WAIT = SYNC_FILE_RANGE_WAIT_BEFORE |
				      SYNC_FILE_RANGE_WRITE |
				      SYNC_FILE_RANGE_WAIT_AFTER;

int nvmpfs_optimized_flush(int fd, const struct nvmpfs_range *ranges,
			   size_t count)
{
	if (count > NVMPFS_MAX_RANGES)
		return fail(EINVAL);
	if (push_pages(fd, ranges, count, PUSH_AND_WAIT) < 0)
		return -1;
	return flush_ioctl(fd, ranges, count, 0, NULL, 0, NULL);
}

int nvmpfs_optimized_flush_and_verify(int fd, const struct nvmpfs_range *ranges,
				      size_t count, struct nvmpfs_range *failed,
				      size_t max_failed, size_t *nfailed)
{
	if (count > NVMPFS_MAX_RANGES)
		return fail(EINVAL);
	if (push_pages(fd, ranges, count, PUSH_AND_WAIT) < 0)
		return -1;
	struct nvmpfs_verify_result res;
	int rc = flush_ioctl(fd, ranges, count, NVMPFS_FLUSH_VERIFY, failed,
			     max_failed, &res);
	if (rc == 0 && nfailed)
		*nfailed = res.nfailed;
	return rc;
}

int nvmpfs_optimized_flush_and_verify_mirror(int fd,
					     const struct nvmpfs_range *ranges,
					     size_t count,
					     struct nvmpfs_range *failed,
					     size_t max_failed,
					     struct nvmpfs_verify_result *res)
{
	if (count > NVMPFS_MAX_RANGES || !res)
		return fail(EINVAL);
	if (push_pages(fd, ranges, count, PUSH_AND_WAIT) < 0)
		return -1;
	return flush_ioctl(fd, ranges, count, NVMPFS_FLUSH_VERIFY, failed,
			   max_failed, res);
}

static struct pending *pending_of(int fd, bool create)
{
	for (size_t i = 0; i < npendings; i++)
		if (pendings[i]->fd == fd)
			return pendings[i];
	if (!create)
		return NULL;
	struct pending **grown = realloc(pendings, (npendings + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	pendings = grown;
	struct pending *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->fd = fd;
	pendings[npendings++] = p;
	return p;
}

static void pending_remove(struct pending *p)
{
	for (size_t i = 0; i < npendings; i++)
		if (pendings[i] == p) {
			pendings[i] = pendings[--npendings];
			break;
		}
	free(p);
}

/* Completes the pending flush of one fd (lock held). */
static int drain_locked(int fd)
{
	struct pending *p = pending_of(fd, false);
	size_t count = p ? p->count : 0;
	int rc = push_pages(fd, p ? p->ranges : NULL, count, PUSH_AND_WAIT);
	if (rc == 0)
		rc = flush_ioctl(fd, p ? p->ranges : NULL, count, 0, NULL, 0, NULL);
	if (p)
		pending_remove(p);
	return rc;
}

int nvmpfs_async_flush(int fd, const struct nvmpfs_range *ranges, size_t count)
{
	if (count > NVMPFS_MAX_RANGES)
		return fail(EINVAL);
	/* Start the write-back of the dirty pages; do not wait for it. */
	if (push_pages(fd, ranges, count, SYNC_FILE_RANGE_WRITE) < 0)
		return -1;
	pthread_mutex_lock(&lock);
	int rc = 0;
	struct pending *p = pending_of(fd, true);
	if (!p)
		rc = fail(ENOMEM);
	else if (p->count + count > NVMPFS_MAX_RANGES) {
		/* No room to remember them: complete what is pending now. */
		rc = drain_locked(fd);
		p = rc == 0 ? pending_of(fd, true) : NULL;
		if (rc == 0 && !p)
			rc = fail(ENOMEM);
	}
	if (rc == 0) {
		memcpy(p->ranges + p->count, ranges, count * sizeof(*ranges));
		p->count += count;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

int nvmpfs_drain(int fd)
{
	pthread_mutex_lock(&lock);
	int rc = drain_locked(fd);
	int saved = errno;
	pthread_mutex_unlock(&lock);
	errno = saved;
	return rc;
}

void *nvmpfs_map(int fd, size_t len, off_t off)
{
	void *addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
	if (addr == MAP_FAILED)
		return NULL;
	pthread_mutex_lock(&lock);
	if (nmaps == cap_maps) {
		size_t cap = cap_maps ? cap_maps * 2 : 8;
		struct mapping *m = realloc(maps, cap * sizeof(*m));
		if (!m) {
			pthread_mutex_unlock(&lock);
			munmap(addr, len);
			errno = ENOMEM;
			return NULL;
		}
		maps = m;
		cap_maps = cap;
	}
	maps[nmaps++] = (struct mapping){ addr, len, off, fd };
	pthread_mutex_unlock(&lock);
	return addr;
}

int nvmpfs_unmap(void *addr, size_t len)
{
	int rc;
	if (direct_unmap(addr, len, &rc))
		return rc;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nmaps; i++)
		if (maps[i].addr == addr) {
			maps[i] = maps[--nmaps];
			break;
		}
	pthread_mutex_unlock(&lock);
	return munmap(addr, len);
}

static const struct mapping *mapping_of(const void *addr, size_t len)
{
	const char *a = addr;
	for (size_t i = 0; i < nmaps; i++)
		if (a >= maps[i].addr && a + len <= maps[i].addr + maps[i].len)
			return &maps[i];
	return NULL;
}

int nvmpfs_optimized_flush_addr(const struct nvmpfs_addr_range *ranges,
				size_t count)
{
	if (count > NVMPFS_MAX_RANGES)
		return fail(EINVAL);
	if (count == 0)
		return 0;
	bool direct[NVMPFS_MAX_RANGES];
	size_t ndirect = 0;
	for (size_t i = 0; i < count; i++)
		ndirect += direct[i] = direct_holds(ranges[i].addr, ranges[i].len);
	struct nvmpfs_range r[NVMPFS_MAX_RANGES];
	size_t n = 0;
	int fd = -1;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < count; i++) {
		if (direct[i])
			continue;
		const struct mapping *m = mapping_of(ranges[i].addr, ranges[i].len);
		if (!m || (fd >= 0 && m->fd != fd)) {
			/* Not mapped by nvmpfs_map, or ranges of several files. */
			pthread_mutex_unlock(&lock);
			return fail(EINVAL);
		}
		fd = m->fd;
		r[n].off = (uint64_t)m->off +
			   (uint64_t)((const char *)ranges[i].addr - m->addr);
		r[n++].len = ranges[i].len;
	}
	pthread_mutex_unlock(&lock);
	/* Every range checked first: nothing is flushed for a bad call. */
	if (ndirect && direct_flush(ranges, count, direct) < 0)
		return -1;
	return n ? nvmpfs_optimized_flush(fd, r, n) : 0;
}

/* A page-cache mapping: what msync does (each WRITE is durable when answered). */
int nvmpfs_persist(const void *addr, size_t len)
{
	int rc;
	if (direct_persist(addr, len, &rc))
		return rc;
	pthread_mutex_lock(&lock);
	bool known = mapping_of(addr, len) != NULL;
	pthread_mutex_unlock(&lock);
	if (!known)
		return fail(EINVAL);
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)addr & ~(page - 1);
	return msync((void *)start, (uintptr_t)addr + len - start, MS_SYNC);
}

int nvmpfs_get_attributes(int fd, struct nvmpfs_attributes *attrs)
{
	return ioctl(fd, NVMPFS_IOC_ATTRS, attrs) < 0 ? -1 : 0;
}

ssize_t nvmpfs_bad_ranges(int fd, struct nvmpfs_range *out, size_t max)
{
	struct nvmpfs_ioc_bad *b = calloc(1, sizeof(*b));
	if (!b)
		return fail(ENOMEM);
	if (ioctl(fd, NVMPFS_IOC_BAD, b) < 0) {
		int saved = errno;
		free(b);
		return fail(saved);
	}
	for (size_t i = 0; i < b->count && i < max; i++)
		out[i] = b->ranges[i];
	ssize_t total = b->total;
	free(b);
	return total;
}
