/*
 * The daemon's command line: our own options are taken out, the options
 * libfuse and the kernel know are passed through, anything else is an
 * error (a typo must not silently change how a pool is mounted).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "options.h"
#include "units.h"

/*
 * Options handed to libfuse as they are (name, or name= prefix).  The
 * generic flags among them are the ones libfuse 3.14 itself knows; the
 * other generic flags are in generic_flags below.
 */
static const char *const passthrough[] = {
	"allow_other", "allow_root", "default_permissions", "ro", "rw", "dev",
	"nodev", "suid", "nosuid", "exec", "noexec", "async", "sync",
	"dirsync", "auto_unmount", "fsname=", "subtype=", "max_read=",
	"blksize=", "context=", "fscontext=", "defcontext=", "rootcontext=",
	NULL
};

/*
 * Options mount(8), fstab and systemd may add that cannot apply to a FUSE
 * mount of nvmpfs: fstab and mount(8) bookkeeping, lazytime (every change
 * is durable when it is answered: nothing to put off), iversion (FUSE
 * keeps no i_version), mand (gone from the kernel), silent/loud (the
 * kernel prints nothing for FUSE mounts).
 */
static const char *const ignored[] = {
	"defaults", "_netdev", "nofail", "user", "users", "nouser", "owner",
	"group", "auto", "noauto", "x-", "comment=", "lazytime", "nolazytime",
	"iversion", "noiversion", "mand", "nomand", "silent", "loud", NULL
};

/* Set by libfuse and the kernel; mount(8) hands them back on a remount. */
static const char *const kernel_set[] = {
	"user_id=", "group_id=", "rootmode=", "fd=", NULL
};

/* Generic flags whose last mention decides: recorded for the remount. */
static const struct {
	const char *name;
	unsigned long flag;
	bool on;
} generic_flags[] = {
	{ "ro", MS_RDONLY, true }, { "rw", MS_RDONLY, false },
	{ "nosuid", MS_NOSUID, true }, { "suid", MS_NOSUID, false },
	{ "nodev", MS_NODEV, true }, { "dev", MS_NODEV, false },
	{ "noexec", MS_NOEXEC, true }, { "exec", MS_NOEXEC, false },
	{ "sync", MS_SYNCHRONOUS, true }, { "async", MS_SYNCHRONOUS, false },
	{ "nosymfollow", MS_NOSYMFOLLOW, true },
	{ "symfollow", MS_NOSYMFOLLOW, false },
	{ "noatime", MS_NOATIME, true }, { "atime", MS_NOATIME, false },
};

/* name matches a list entry: the whole name, or an entry ending in = or -. */
static bool in_list(const char *const *list, const char *opt)
{
	for (size_t i = 0; list[i]; i++) {
		size_t n = strlen(list[i]);
		char last = list[i][n - 1];
		if (last == '=' || last == '-' ? strncmp(opt, list[i], n) == 0
					       : strcmp(opt, list[i]) == 0)
			return true;
	}
	return false;
}

static int append_kernel_opt(struct daemon_opts *o, const char *opt)
{
	size_t old = o->kernel_opts ? strlen(o->kernel_opts) : 0;
	char *p = realloc(o->kernel_opts, old + strlen(opt) + 2);
	if (!p)
		return -1;
	if (old)
		p[old++] = ',';
	strcpy(p + old, opt);
	o->kernel_opts = p;
	return 0;
}

static void note_generic_flag(struct daemon_opts *o, const char *opt)
{
	for (size_t i = 0; i < sizeof(generic_flags) / sizeof(generic_flags[0]);
	     i++) {
		if (strcmp(opt, generic_flags[i].name) != 0)
			continue;
		unsigned long f = generic_flags[i].flag;
		o->flags_on = generic_flags[i].on ? o->flags_on | f
						  : o->flags_on & ~f;
		o->flags_off = generic_flags[i].on ? o->flags_off & ~f
						   : o->flags_off | f;
	}
}

/*
 * The access-time options: the last of noatime, relatime and strictatime
 * decides; atime, norelatime and nostrictatime undo the one they name,
 * which leaves the default, relatime (as the kernel does).  The kernel
 * hears of noatime only (libfuse passes no other), so that the mount
 * table shows what the daemon does.
 */
static bool take_atime_option(struct daemon_opts *o, const char *opt)
{
	static const struct {
		const char *name;
		int mode;       /* the mode it sets */
		int undoes;     /* or the mode it undoes (-1: none) */
	} atime[] = {
		{ "noatime", NVFS_ATIME_NOATIME, -1 },
		{ "relatime", NVFS_ATIME_RELATIME, -1 },
		{ "strictatime", NVFS_ATIME_STRICT, -1 },
		{ "atime", -1, NVFS_ATIME_NOATIME },
		{ "norelatime", -1, NVFS_ATIME_RELATIME },
		{ "nostrictatime", -1, NVFS_ATIME_STRICT },
	};
	for (size_t i = 0; i < sizeof(atime) / sizeof(atime[0]); i++) {
		if (strcmp(opt, atime[i].name) != 0)
			continue;
		if (atime[i].mode >= 0)
			o->atime_mode = atime[i].mode;
		else if (o->atime_mode == atime[i].undoes)
			o->atime_mode = NVFS_ATIME_RELATIME;
		return true;
	}
	if (strcmp(opt, "nodiratime") == 0 || strcmp(opt, "diratime") == 0) {
		o->no_diratime = strcmp(opt, "nodiratime") == 0;
		return true;
	}
	return false;
}

static int take_persist_socket(struct daemon_opts *o, const char *v)
{
	if (strcmp(v, "auto") == 0)
		o->persist_socket = PERSIST_SOCKET_AUTO;
	else if (strcmp(v, "on") == 0)
		o->persist_socket = PERSIST_SOCKET_ON;
	else if (strcmp(v, "off") == 0)
		o->persist_socket = PERSIST_SOCKET_OFF;
	else {
		fprintf(stderr, "nvmpfs: option 'persist_socket=%s': use auto, "
			"on or off\n", v);
		return -1;
	}
	return 0;
}

/* nvmpfs's own options; false when opt is not one of them. */
static bool take_own_option(struct daemon_opts *o, const char *opt, int *rc)
{
	*rc = 0;
	if (strncmp(opt, "pool=", 5) == 0) {
		o->pool = opt + 5;
	} else if (strncmp(opt, "size=", 5) == 0) {
		if (parse_size(opt + 5, &o->size) < 0 || o->size == 0) {
			fprintf(stderr, "nvmpfs: option 'size=%s': not a size "
				"(use a number with K, M, G or T)\n", opt + 5);
			*rc = -1;
		}
	} else if (strcmp(opt, "csum=off") == 0 || strcmp(opt, "csum=on") == 0) {
		o->no_csum = strcmp(opt, "csum=off") == 0;
	} else if (strcmp(opt, "verify=off") == 0 ||
		   strcmp(opt, "verify=on") == 0) {
		o->no_verify = strcmp(opt, "verify=off") == 0;
	} else if (strcmp(opt, "acl") == 0 || strcmp(opt, "noacl") == 0) {
		o->no_acl = strcmp(opt, "noacl") == 0;
	} else if (strcmp(opt, "remount") == 0) {
		o->remount = true;
	} else if (strcmp(opt, "unsafe_pool_perms") == 0) {
		o->unsafe_pool_perms = true;
	} else if (strncmp(opt, "persist_socket=", 15) == 0) {
		*rc = take_persist_socket(o, opt + 15);
	} else {
		return false;
	}
	return true;
}

static int take_option(struct daemon_opts *o, const char *opt)
{
	int rc;
	if (take_own_option(o, opt, &rc) ||
	    take_mirror_option(&o->mirror, opt, &rc))
		return rc;
	note_generic_flag(o, opt);
	if (strcmp(opt, "ro") == 0)
		o->read_only = true;
	if (strcmp(opt, "rw") == 0)
		o->read_only = false;
	if (strncmp(opt, "fsname=", 7) == 0)
		o->fsname_given = true;
	if (take_atime_option(o, opt) || in_list(ignored, opt) ||
	    strcmp(opt, "nosymfollow") == 0 || strcmp(opt, "symfollow") == 0)
		return 0;
	if (in_list(kernel_set, opt)) {
		if (!o->kernel_set_opt)
			o->kernel_set_opt = opt;
		return 0;
	}
	if (in_list(passthrough, opt))
		return append_kernel_opt(o, opt);
	fprintf(stderr, "nvmpfs: unknown option '%s' (see nvmpfs(8))\n", opt);
	return -1;
}

/* The options are our own strings, so the pool= pointer stays valid. */
static int take_option_list(struct daemon_opts *o, char *list)
{
	char *save = NULL;
	for (char *opt = strtok_r(list, ",", &save); opt;
	     opt = strtok_r(NULL, ",", &save))
		if (*opt && take_option(o, opt) < 0)
			return -1;
	return 0;
}

static int take_positional(struct daemon_opts *o, const char *arg,
			   const char **first)
{
	if (!*first) {
		*first = arg;
		return 0;
	}
	if (!o->mountpoint) {
		o->pool = *first;
		o->mountpoint = arg;
		return 0;
	}
	fprintf(stderr, "nvmpfs: too many arguments at '%s' (usage: nvmpfs "
		"[-f] [-d] [-o OPTIONS] [POOL] MOUNTPOINT)\n", arg);
	return -1;
}

int parse_daemon_args(int argc, char **argv, struct daemon_opts *o)
{
	memset(o, 0, sizeof(*o));
	const char *first = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int rc = 0;
		if (strcmp(a, "-f") == 0)
			o->foreground = true;
		else if (strcmp(a, "-d") == 0 || strcmp(a, "--debug") == 0)
			o->debug = o->foreground = true;
		else if (strcmp(a, "-s") == 0)
			o->single_thread = true;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			o->show_help = true;
		else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0)
			o->show_version = true;
		else if (strcmp(a, "-o") == 0) {
			if (++i == argc) {
				fprintf(stderr, "nvmpfs: option '-o' needs a list "
					"of options\n");
				return -1;
			}
			rc = take_option_list(o, argv[i]);
		} else if (strncmp(a, "-o", 2) == 0)
			rc = take_option_list(o, argv[i] + 2);
		else if (a[0] == '-') {
			fprintf(stderr, "nvmpfs: unknown option '%s' (see "
				"nvmpfs(8))\n", a);
			return -1;
		} else
			rc = take_positional(o, a, &first);
		if (rc < 0)
			return -1;
	}
	if (o->show_help || o->show_version)
		return 0;
	if (o->kernel_set_opt && !o->remount) {
		fprintf(stderr, "nvmpfs: option '%s' is set by libfuse itself; "
			"leave it out\n", o->kernel_set_opt);
		return -1;
	}
	if (o->atime_mode == NVFS_ATIME_NOATIME &&
	    append_kernel_opt(o, "noatime") < 0)
		return -1;
	if (first && !o->mountpoint)
		o->mountpoint = first;
	if (!o->mountpoint) {
		fprintf(stderr, "nvmpfs: no mount point given (usage: nvmpfs "
			"[-f] [-d] [-o OPTIONS] [POOL] MOUNTPOINT)\n");
		return -1;
	}
	return 0;
}

void free_daemon_opts(struct daemon_opts *o)
{
	free(o->kernel_opts);
	o->kernel_opts = NULL;
}

/* mkdir -p of the folder holding path. */
static int make_parent_dirs(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -1;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "nvmpfs: cannot make folder %s for the "
				"default pool: %s\n", copy, strerror(errno));
			free(copy);
			return -1;
		}
		*p = '/';
	}
	free(copy);
	return 0;
}

char *default_pool_path(void)
{
	char *path = NULL;
	const char *env = getenv("NVMPFS_DEFAULT_POOL");
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	int n;
	if (env && *env)
		n = asprintf(&path, "%s", env);
	else if (geteuid() == 0)
		n = asprintf(&path, "/var/lib/nvmpfs/default.pool");
	else if (xdg && *xdg)
		n = asprintf(&path, "%s/nvmpfs/default.pool", xdg);
	else if (home && *home)
		n = asprintf(&path, "%s/.local/share/nvmpfs/default.pool", home);
	else {
		fprintf(stderr, "nvmpfs: no pool given and neither HOME nor "
			"NVMPFS_DEFAULT_POOL is set\n");
		return NULL;
	}
	if (n < 0)
		return NULL;
	if (make_parent_dirs(path) < 0) {
		free(path);
		return NULL;
	}
	return path;
}
