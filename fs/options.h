/* Command line of the nvmpfs daemon. */
#ifndef NVMPFS_OPTIONS_H
#define NVMPFS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "mirror_options.h"
#include "nvfs.h"

struct daemon_opts {
	const char *pool;        /* NULL: the default pool */
	const char *mountpoint;
	uint64_t size;           /* for a new pool; 0: default */
	bool foreground, debug, single_thread, show_help, show_version;
	int atime_mode;
	bool no_diratime;
	bool read_only;
	bool no_csum, no_verify, no_acl;
	bool fsname_given;
	bool unsafe_pool_perms;  /* mount a pool others may read or write */
	bool remount;            /* -o remount: change the running mount */
	int persist_socket;      /* PERSIST_SOCKET_*: persist_socket= */
	/* Generic MS_* flags the options turned on and off (last one wins). */
	unsigned long flags_on, flags_off;
	const char *kernel_set_opt; /* first user_id= and the like, if any */
	char *kernel_opts;       /* comma-separated, passed to libfuse */
	struct mirror_cli mirror;
};

/* persist_socket=auto (with a mirror), on, off. */
#define PERSIST_SOCKET_AUTO 0
#define PERSIST_SOCKET_ON 1
#define PERSIST_SOCKET_OFF 2

/*
 * Parses argv.  Returns 0, or -1 after printing a message that names the
 * offending argument or option.
 */
int parse_daemon_args(int argc, char **argv, struct daemon_opts *o);
void free_daemon_opts(struct daemon_opts *o);

/*
 * The default pool path: $NVMPFS_DEFAULT_POOL, else for root
 * /var/lib/nvmpfs/default.pool, else
 * ${XDG_DATA_HOME:-$HOME/.local/share}/nvmpfs/default.pool.  Makes the
 * folder.  Returns a malloc'd path or NULL after printing why.
 */
char *default_pool_path(void);

#define NVMPFS_DEFAULT_POOL_SIZE (1ull << 30)

#endif
