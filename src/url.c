/*
 * url.c: the service URLs of an app's environment, as pure code (fuzzed:
 * they come from a hand-edited .env).  REDIS_URL,
 * redis://[user][:password@]host[:port][/db], split into its parts; and
 * DATABASE_URL, postgres[ql]://[user[:password]@][host][:port][/db][?...],
 * split so pg_dump gets the password in its environment, never on its
 * command line, and so a pg_restore command can be written without it.
 */
#define _GNU_SOURCE
#include <string.h>

#include "tend.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Copy p[0..n) into out (len bytes), %XX decoded.  -1 if it does not fit
 * or a %-escape is broken. */
static int
decode(const char *p, size_t n, char *out, size_t len)
{
	size_t	i, o = 0;
	int	hi, lo;

	for (i = 0; i < n; i++) {
		if (o + 1 >= len)
			return -1;
		if (p[i] == '%') {
			if (i + 2 >= n)
				return -1;
			if ((hi = hexval(p[i + 1])) < 0 || (lo = hexval(p[i + 2])) < 0)
				return -1;
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else
			out[o++] = p[i];
	}
	out[o] = '\0';
	return 0;
}

static int
number(const char *p, size_t n, unsigned long max, unsigned long *v)
{
	size_t	i;

	*v = 0;
	if (n == 0 || n > 6)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*v = *v * 10 + (unsigned long)(p[i] - '0');
	}
	return *v > max ? -1 : 0;
}

/*
 * The authority of a URL, from a (after "scheme://"): where it ends (at
 * /, ? or #), its user and password decoded (up to the last '@'), and
 * where the host starts.  *colon is the ':' before the password, if any.
 */
static int
authority(const char *a, const char **endp, const char **hostp,
    const char **colon, char *user, size_t ulen, char *pass, size_t plen,
    const char **why)
{
	const char	*end = a + strcspn(a, "/?#"), *at = NULL, *h;

	for (h = a; h < end; h++)
		if (*h == '@')
			at = h;
	*endp = end;
	*hostp = a;
	*colon = NULL;
	if (at == NULL)
		return 0;
	*colon = memchr(a, ':', (size_t)(at - a));
	if (decode(a, (size_t)((*colon ? *colon : at) - a), user, ulen) != 0 ||
	    (*colon != NULL && decode(*colon + 1, (size_t)(at - *colon - 1),
	    pass, plen) != 0)) {
		*why = "bad user or password (too long, or a broken %-escape)";
		return -1;
	}
	*hostp = at + 1;
	return 0;
}

int
redis_url_parse(const char *url, struct redis_url *u, const char **why)
{
	const char	*end, *h, *hend, *colon, *path;
	unsigned long	 v;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (strncmp(url, "rediss://", 9) == 0) {
		*why = "rediss:// (TLS) is not supported by this check";
		return -1;
	}
	if (strncmp(url, "redis://", 8) != 0) {
		*why = "not a redis:// URL";
		return -1;
	}
	if (authority(url + 8, &end, &h, &colon, u->user, sizeof(u->user),
	    u->pass, sizeof(u->pass), why) != 0)
		return -1;
	if (h < end && *h == '[') {
		if ((hend = memchr(h, ']', (size_t)(end - h))) == NULL) {
			*why = "unclosed [ in the host";
			return -1;
		}
		h++;
		colon = hend + 1 < end && hend[1] == ':' ? hend + 1 : NULL;
		if (hend + 1 < end && colon == NULL) {
			*why = "bad host";
			return -1;
		}
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		hend = colon != NULL ? colon : end;
	}
	if (hend == h || (size_t)(hend - h) >= sizeof(u->host)) {
		*why = "no host";
		return -1;
	}
	memcpy(u->host, h, (size_t)(hend - h));
	u->host[hend - h] = '\0';
	if (strpbrk(u->host, " \t\r\n%@") != NULL) {
		*why = "bad host";
		return -1;
	}
	if (colon != NULL) {
		if (number(colon + 1, (size_t)(end - colon - 1), 65535, &v) != 0 ||
		    v == 0) {
			*why = "port must be a number from 1 to 65535";
			return -1;
		}
		u->port = (int)v;
	}
	path = end;
	if (*path == '/') {
		size_t n = strcspn(path + 1, "?#");

		if (n > 0) {
			if (number(path + 1, n, 65535, &v) != 0) {
				*why = "database must be a number "
				    "(redis://host:port/0)";
				return -1;
			}
			u->db = (int)v;
		}
	}
	return 0;
}

/*
 * DATABASE_URL without its password (same URL otherwise, escapes kept),
 * the password decoded, and the parts a pg_restore command names.
 */
int
pg_url_split(const char *url, struct pg_url *u, const char **why)
{
	const char	*a, *end, *rest, *colon, *h, *hend, *p;
	size_t		 n;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "postgres://", 11) == 0)
		a = url + 11;
	else if (strncmp(url, "postgresql://", 13) == 0)
		a = url + 13;
	else {
		*why = "not a postgres:// URL";
		return -1;
	}
	if (authority(a, &end, &h, &colon, u->user, sizeof(u->user), u->pass,
	    sizeof(u->pass), why) != 0)
		return -1;
	rest = colon != NULL ? h - 1 : h;	/* "@host..." or "host..." */
	/* A password in the query would reach a command line: refuse. */
	if (strstr(end, "password=") != NULL) {
		*why = "a password in the query string (put it in "
		    "user:password@)";
		return -1;
	}
	/* The URL again, "user:password@" becoming "user@". */
	n = (size_t)((colon != NULL ? colon : h) - url);
	if (n + strlen(rest) + 1 > sizeof(u->nopass)) {
		*why = "URL too long";
		return -1;
	}
	memcpy(u->nopass, url, n);
	strcpy(u->nopass + n, rest);
	/* host[:port], a [v6] host, or nothing (the local socket) */
	if (h < end && *h == '[') {
		if ((hend = memchr(h, ']', (size_t)(end - h))) == NULL) {
			*why = "unclosed [ in the host";
			return -1;
		}
		p = hend + 1 < end && hend[1] == ':' ? hend + 2 : NULL;
		h++;
	} else {
		hend = memchr(h, ':', (size_t)(end - h));
		p = hend != NULL ? hend + 1 : NULL;
		if (hend == NULL)
			hend = end;
	}
	if ((size_t)(hend - h) >= sizeof(u->host) ||
	    (p != NULL && (size_t)(end - p) >= sizeof(u->port))) {
		*why = "host or port too long";
		return -1;
	}
	memcpy(u->host, h, (size_t)(hend - h));
	if (p != NULL)
		memcpy(u->port, p, (size_t)(end - p));
	if (*end == '/' && decode(end + 1, strcspn(end + 1, "?#"), u->db,
	    sizeof(u->db)) != 0) {
		*why = "bad database name";
		return -1;
	}
	return 0;
}
