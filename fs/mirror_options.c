/* The mirror's mount options (see mirror_options.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror_options.h"
#include "sender.h"

#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_HOLD_MS 5

static int bad(const char *opt, const char *why)
{
	fprintf(stderr, "nvmpfs: option '%s': %s (see nvmpfs(8))\n", opt, why);
	return -1;
}

static bool number(const char *text, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* opt is NAME=VALUE with VALUE one of two words: *out is whether the second. */
static int one_of(const char *opt, size_t name_len, const char *no,
		  const char *yes, bool *out)
{
	const char *v = opt + name_len;
	if (strcmp(v, no) == 0 || strcmp(v, yes) == 0) {
		*out = strcmp(v, yes) == 0;
		return 0;
	}
	char why[96];
	snprintf(why, sizeof(why), "the value must be %s or %s", no, yes);
	return bad(opt, why);
}

bool take_mirror_option(struct mirror_cli *mc, const char *opt, int *rc)
{
	long v;
	*rc = 0;
	if (strncmp(opt, "mirror=", 7) == 0) {
		mc->addr = opt + 7;
		return true;
	}
	if (strncmp(opt, "mirror_", 7) != 0 && strncmp(opt, "resync_rate=", 12))
		return false;
	if (!mc->first_given)
		mc->first_given = opt;
	if (strcmp(opt, "mirror_key=") == 0)
		*rc = bad(opt, "no key file named");
	else if (strncmp(opt, "mirror_key=", 11) == 0)
		mc->key_path = opt + 11;
	else if (strncmp(opt, "mirror_timeout=", 15) == 0)
		*rc = number(opt + 15, 100, 600000, &mc->timeout_ms) ? 0
			: bad(opt, "not a time in milliseconds (100 to 600000)");
	else if (strncmp(opt, "mirror_policy=", 14) == 0)
		*rc = one_of(opt, 14, "degrade", "block", &mc->policy_block);
	else if (strncmp(opt, "mirror_sync=", 12) == 0)
		*rc = one_of(opt, 12, "points", "all", &mc->sync_all);
	else if (strncmp(opt, "resync_rate=", 12) == 0) {
		*rc = number(opt + 12, 1, 1000000, &v) ? 0
			: bad(opt, "not a rate in MB/s (1 to 1000000)");
		mc->resync_mb = *rc ? 0 : (uint64_t)v;
	} else if (strncmp(opt, "mirror_seal=", 12) == 0)
		*rc = one_of(opt, 12, "off", "on", &mc->seal);
	else if (strncmp(opt, "mirror_hold=", 12) == 0) {
		*rc = number(opt + 12, 0, 100, &v) ? 0
			: bad(opt, "not a time in milliseconds (0 to 100)");
		mc->hold_given = *rc == 0;
		mc->hold_ms = *rc ? 0 : v;
	} else
		*rc = bad(opt, "unknown mirror option (mirror=, mirror_key=, "
			  "mirror_timeout=, mirror_policy=, mirror_sync=, "
			  "resync_rate=, mirror_seal=, mirror_hold=)");
	return true;
}

int mirror_opts_build(const struct mirror_cli *mc, struct mirror_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (!mc->addr) {
		if (mc->first_given)
			return bad(mc->first_given, "a mirror option without "
				   "mirror=HOST:PORT (the mirror's address)");
		return 0;
	}
	char err[512];
	if (nvmr_split_address(mc->addr, o->host, sizeof(o->host), o->port,
			       sizeof(o->port), err, sizeof(err)) < 0) {
		fprintf(stderr, "nvmpfs: option 'mirror=%s': %s\n", mc->addr, err);
		return -1;
	}
	if (!mc->key_path)
		return bad("mirror", "needs mirror_key=KEYFILE (a file of at "
			   "least 16 random bytes, readable by its owner only)");
	if (nvmr_key_load(mc->key_path, &o->key, err, sizeof(err)) < 0) {
		fprintf(stderr, "nvmpfs: option 'mirror_key': %s\n", err);
		return -1;
	}
	o->timeout_ms = mc->timeout_ms ? (int)mc->timeout_ms : DEFAULT_TIMEOUT_MS;
	o->policy_block = mc->policy_block;
	o->sync_all = mc->sync_all;
	o->resync_rate = mc->resync_mb * 1000000u;
	o->seal = mc->seal;
	o->hold_us = (uint32_t)(mc->hold_given ? mc->hold_ms
					       : DEFAULT_HOLD_MS) * 1000u;
	return 0;
}
