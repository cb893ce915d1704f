/*
 * The credentials of a request's caller.  FUSE passes only the uid, gid
 * and pid; the set-ID rules (fs/core/setid.c) also need the supplementary
 * groups and whether the caller holds CAP_FSETID.  Both are read from
 * /proc/PID/task/PID/status of the calling thread, and only when a rule
 * needs them -- for files that have a set-ID bit --, since that costs a
 * few system calls.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caller.h"

#define CAPABILITY_FSETID 4 /* CAP_FSETID of linux/capability.h */

static bool caller_in_group(const struct nvfs_ctx *ctx, gid_t gid)
{
	fuse_req_t req = ctx->caller;
	gid_t small[64], *list = small;
	int n = fuse_req_getgroups(req, 64, small);
	if (n > 64) {
		list = malloc((size_t)n * sizeof(*list));
		if (!list)
			return false;
		int again = fuse_req_getgroups(req, n, list);
		n = again < n ? again : n;
	}
	bool found = false;
	for (int i = 0; i < n && !found; i++)
		found = list[i] == gid;
	if (list != small)
		free(list);
	return found;
}

/* The effective capability set of a thread, or false when unreadable. */
static bool read_cap_eff(pid_t pid, unsigned long long *caps)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid,
		 (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "CapEff: %llx", caps) == 1;
	fclose(f);
	return found;
}

/*
 * CAP_FSETID in the caller's effective set.  When the caller cannot be
 * looked at (gone, or not in our pid namespace: pid 0), root is taken to
 * hold it and no one else.
 */
static bool caller_has_fsetid(const struct nvfs_ctx *ctx)
{
	const struct fuse_ctx *c = fuse_req_ctx(ctx->caller);
	unsigned long long caps;
	if (c->pid > 0 && read_cap_eff(c->pid, &caps))
		return (caps >> CAPABILITY_FSETID) & 1;
	return c->uid == 0;
}

struct nvfs_ctx caller_ctx(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	return (struct nvfs_ctx){ .uid = c->uid, .gid = c->gid,
				  .umask = c->umask,
				  .in_group = caller_in_group,
				  .has_fsetid = caller_has_fsetid,
				  .caller = req };
}
