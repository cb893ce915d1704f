/*
 * Writing zeros over a new pool file on a disk file system, once, so that
 * no later drain pays for the host file system's block allocation.
 *
 * posix_fallocate gives a file unwritten extents (ext4, xfs) and ftruncate
 * gives it holes: the first write-back of each block then changes the host
 * file system's own metadata, so an fdatasync drain that reaches a block
 * for the first time waits for a journal commit besides the data write and
 * the device flush.  On a fresh pool nearly every drain reaches new blocks
 * (new files, new directory blocks, new inodes).  Zeros written at mkfs
 * time leave every later drain a plain data write and a flush.
 *
 * Memory file systems (tmpfs, ramfs, hugetlbfs) need nothing: there is no
 * write-back, and writing zeros would only cost time.
 */
#ifndef NVMPFS_PREWRITE_H
#define NVMPFS_PREWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Writes all n bytes of buf at off of fd (pwrite, again after a short
 * write or EINTR).  Returns 0 or a negative errno.
 */
int prewrite_all(int fd, const void *buf, size_t n, uint64_t off);

/* Whether the pool file behind fd lies on a file system with write-back. */
bool prewrite_wanted(int fd);

/*
 * Writes zeros over [from, to) of fd and makes them durable.  progress,
 * if not NULL, is called as the work goes (done, total bytes).  Returns 0
 * or a negative errno (the caller names the file).
 */
int prewrite_zeros(int fd, uint64_t from, uint64_t to,
		   void (*progress)(void *arg, uint64_t done, uint64_t total),
		   void *arg);

#endif
