/*
 * libnvmpfs: the client of the daemon's persist socket (the daemon's
 * side: fs/persist_socket.c; the wire format: include/nvmpfs.h).
 */
#ifndef NVMPFS_LIB_PERSIST_SOCKET_H
#define NVMPFS_LIB_PERSIST_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvmpfs.h"

/*
 * One daemon's socket, shared by every mapping of this process from that
 * daemon (counted: psock_get / psock_put).  It keeps its connections
 * (opened lazily, one per thread persisting at the same moment, up to a
 * few); they are closed when the last mapping goes.
 */
struct psock_endpoint;

/*
 * The endpoint a lease reply names (NVMPFS_LEASE_PERSIST_SOCKET set), or
 * NULL when there is no memory for it (the ioctl is used then).
 */
struct psock_endpoint *psock_get(const struct nvmpfs_ioc_lease *l);
void psock_put(struct psock_endpoint *e);

/*
 * Persists file ranges of lease lease_id through the socket.  true: the
 * daemon answered, *rc is its answer (0 or -errno).  false: the socket
 * could not carry the request (no connection, the daemon gone or not the
 * one the lease named, every connection busy, the token refused, the
 * daemon stopping): the caller persists through the ioctl instead.
 */
bool psock_persist(struct psock_endpoint *e, uint64_t lease_id,
		   const uint8_t token[NVMPFS_PERSIST_TOKEN_SIZE],
		   const struct nvmpfs_range *r, size_t count, int *rc);

#endif
