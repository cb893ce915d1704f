/* "HOST:PORT" and "[IPV6]:PORT" split into host and port. */
#include <stdio.h>
#include <string.h>

#include "channel.h"

static int bad(const char *spec, const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen, "address \"%s\": %s", spec, why);
	return -1;
}

/* A port: decimal, 0..65535 (0 only makes sense to listen: any port). */
static int port_ok(const char *port)
{
	size_t n = strlen(port);
	if (n == 0 || n > 5 || strspn(port, "0123456789") != n)
		return 0;
	long v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (port[i] - '0');
	return v <= 65535;
}

static int copy_part(const char *from, size_t n, char *to, size_t tolen)
{
	if (n + 1 > tolen)
		return -1;
	memcpy(to, from, n);
	to[n] = '\0';
	return 0;
}

int nvmr_split_address(const char *spec, char *host, size_t hostlen,
		       char *port, size_t portlen, char *err, size_t errlen)
{
	const char *h = spec, *hend, *colon;
	if (spec[0] == '[') {
		h = spec + 1;
		hend = strchr(h, ']');
		if (!hend)
			return bad(spec, "no ']' after the IPv6 address", err,
				   errlen);
		if (hend[1] != ':')
			return bad(spec, "expected [IPV6]:PORT", err, errlen);
		colon = hend + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			return bad(spec, "expected HOST:PORT", err, errlen);
		if (memchr(spec, ':', (size_t)(colon - spec)))
			return bad(spec, "an IPv6 address goes in brackets: "
				   "[ADDRESS]:PORT", err, errlen);
		hend = colon;
	}
	if (hend == h)
		return bad(spec, "no host (use 0.0.0.0 or [::] for every "
			   "address of this host)", err, errlen);
	if (!port_ok(colon + 1))
		return bad(spec, "the port must be a number from 0 to 65535",
			   err, errlen);
	if (copy_part(h, (size_t)(hend - h), host, hostlen) < 0 ||
	    copy_part(colon + 1, strlen(colon + 1), port, portlen) < 0)
		return bad(spec, "too long", err, errlen);
	return 0;
}
