/*
 * The persist socket: a second way for libnvmpfs to persist the stores of
 * a direct mapping through the daemon (the first is NVMPFS_IOC_PERSIST),
 * without a trip through the kernel's FUSE queue.  The daemon listens on
 * an abstract Unix socket (SOCK_SEQPACKET) whose name it draws at random,
 * and tells it only in lease replies; requests prove their lease with the
 * lease's token (nvfs_lease_token), from the uid it was handed to.  The
 * wire format is in include/nvmpfs.h (struct nvmpfs_persist_request).
 */
#ifndef NVMPFS_PERSIST_SOCKET_H
#define NVMPFS_PERSIST_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nvfs;

/*
 * Starts listening (a thread accepts; a thread serves each connection).
 * Returns 0, or -errno after writing why into err.
 */
int persist_socket_start(struct nvfs *fs, char *err, size_t errlen);
/*
 * Stops: no new connection, the requests waiting for the mirror give up
 * (-EINTR to their programs), every thread joined, every descriptor
 * closed.  Call before the mirror stops and the pool is unmounted.
 */
void persist_socket_stop(void);

/*
 * Where programs connect (NULL when not listening) and the daemon's own
 * pid and uid, for lease replies.
 */
const char *persist_socket_name(void);
/* Connections open now (nvmpfsctl stats: persist_clients). */
uint32_t persist_socket_clients(void);

#endif
