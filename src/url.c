/*
 * url.c: the service URLs of an app's environment, as pure code (fuzzed:
 * they come from a hand-edited .env that belongs to the app's user).
 *
 *   REDIS_URL     redis[s]://[[user]:password@]host[:port][/db]
 *   DATABASE_URL  postgres[ql]://[user[:password]@][host][:port][/db]
 *                     [?param=value&...]
 *
 * Split into the few parts tend understands, %XX-decoded (names of query
 * parameters too: "pass%77ord" is "password").  Everything else is
 * refused here, before anything connects: libpq never parses a conninfo
 * string of the user's (its passfile=, sslkey=, service=, options= would
 * let the user point a connection at files and settings of tend's
 * choosing), and the password stays in struct fields that callers hand
 * over only as a libpq keyword or PGPASSWORD, never on a command line or
 * in a message.  The only query parameters of DATABASE_URL are host,
 * port, user, dbname and sslmode; REDIS_URL takes none.
 *
 * A host that is an absolute path (postgres://%2Frun%2Fpostgresql/db, or
 * ?host=/run/postgresql) is a Unix socket directory.  It is allowed: the
 * probe and pg_dump that connect run as the app's user, so they reach
 * only the sockets that user could reach anyway.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tend.h"

/* A parameter's name is quoted back only when it looks like one. */
#define URL_PARAM_NAME_MAX	32
/* sun_path holds 108 bytes, "/.s.PGSQL.65535" takes 15 of them. */
#define URL_SOCKET_DIR_MAX	92

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

/* Copy p[0..n) into out (len bytes), %XX decoded.  -1 if it does not fit,
 * a %-escape is broken or it decodes to a NUL. */
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
			if (hi == 0 && lo == 0)
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

static int
fail(char *why, size_t len, const char *msg)
{
	snprintf(why, len, "%s", msg);
	return -1;
}

/*
 * A host name, an IP address (v6 without its brackets) or, when sockets
 * is set, an absolute path: a Unix socket directory.  Nothing that could
 * start a second host (libpq's "h1,h2"), an option or a line of output.
 */
static int
host_ok(const char *h, int sockets, char *why, size_t len)
{
	const char	*c;

	if (*h == '/') {
		if (!sockets)
			return fail(why, len, "a path is not a host");
		if (strlen(h) > URL_SOCKET_DIR_MAX)
			return fail(why, len, "the socket directory's path is too "
			    "long");
		for (c = h; *c != '\0'; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == ',')
				return fail(why, len, "bad socket directory");
		return 0;
	}
	if (*h == '\0' || *h == '-' || *h == '.')
		return fail(why, len, "bad host");
	for (c = h; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' ||
		    *c == '_' || *c == ':')) {
			if (*c == ',')
				return fail(why, len, "several hosts are not "
				    "supported (give one)");
			return fail(why, len, "bad host");
		}
	return 0;
}

static int
port_ok(const char *p, size_t n, char *out, size_t outlen, char *why,
    size_t len)
{
	unsigned long	v;

	if (number(p, n, 65535, &v) != 0 || v == 0)
		return fail(why, len, "port must be a number from 1 to 65535");
	snprintf(out, outlen, "%lu", v);
	return 0;
}

/*
 * The authority of a URL, from a (after "scheme://"): where it ends (at
 * /, ? or #), its user and password decoded (up to the last '@'), and
 * where the host starts.
 */
static int
authority(const char *a, const char **endp, const char **hostp, char *user,
    size_t ulen, char *pass, size_t plen, char *why, size_t len)
{
	const char	*end = a + strcspn(a, "/?#"), *at = NULL, *h, *colon;

	for (h = a; h < end; h++)
		if (*h == '@')
			at = h;
	*endp = end;
	*hostp = a;
	if (at == NULL)
		return 0;
	colon = memchr(a, ':', (size_t)(at - a));
	if (decode(a, (size_t)((colon ? colon : at) - a), user, ulen) != 0 ||
	    (colon != NULL && decode(colon + 1, (size_t)(at - colon - 1),
	    pass, plen) != 0))
		return fail(why, len, "bad user or password (too long, or a "
		    "broken %-escape)");
	*hostp = at + 1;
	return 0;
}

/* host[:port] or [v6][:port] in h..end: host decoded into host. */
static int
host_port(const char *h, const char *end, int sockets, char *host,
    size_t hostlen, char *port, size_t portlen, char *why, size_t len)
{
	const char	*hend, *p = NULL, *c;

	if (h < end && *h == '[') {
		if ((hend = memchr(h, ']', (size_t)(end - h))) == NULL)
			return fail(why, len, "unclosed [ in the host");
		if (hend + 1 < end) {
			if (hend[1] != ':')
				return fail(why, len, "bad host");
			p = hend + 2;
		}
		h++;
		if (hend == h)
			return fail(why, len, "bad host");
		for (c = h; c < hend; c++)
			if (hexval(*c) < 0 && *c != ':' && *c != '.')
				return fail(why, len, "bad IPv6 address");
	} else {
		hend = memchr(h, ':', (size_t)(end - h));
		if (hend != NULL)
			p = hend + 1;
		else
			hend = end;
	}
	if (decode(h, (size_t)(hend - h), host, hostlen) != 0)
		return fail(why, len, "bad host (too long, or a broken "
		    "%-escape)");
	if (*host != '\0' && host_ok(host, sockets, why, len) != 0)
		return -1;
	if (p != NULL && memchr(p, ',', (size_t)(end - p)) != NULL)
		return fail(why, len, "several hosts are not supported (give "
		    "one)");
	if (p != NULL && port_ok(p, (size_t)(end - p), port, portlen, why,
	    len) != 0)
		return -1;
	return 0;
}

/* One query parameter's name, decoded into name (NAME_MAX + 1 bytes);
 * -1 if it is not a plain name. */
static int
param_name(const char *p, size_t n, char *name, size_t len)
{
	const char	*c;

	if (decode(p, n, name, len) != 0)
		return -1;
	for (c = name; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' ||
		    *c == '.'))
			return -1;
	return *name == '\0' ? -1 : 0;
}

static int
param_refused(const char *name, const char *hint, char *why, size_t len)
{
	if (name == NULL)
		snprintf(why, len, "a query parameter with an unusual name is "
		    "not supported");
	else
		snprintf(why, len, "parameter \"%s\" is not supported%s", name,
		    hint);
	return -1;
}

int
redis_url_parse(const char *url, struct redis_url *u, char *why,
    size_t whylen)
{
	const char	*a, *end, *h, *path, *q;
	char		 port[8] = "", name[URL_PARAM_NAME_MAX + 1];
	unsigned long	 v;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (strncmp(url, "rediss://", 9) == 0) {
		u->tls = 1;
		a = url + 9;
	} else if (strncmp(url, "redis://", 8) == 0)
		a = url + 8;
	else
		return fail(why, whylen, "not a redis:// URL");
	if (authority(a, &end, &h, u->user, sizeof(u->user), u->pass,
	    sizeof(u->pass), why, whylen) != 0)
		return -1;
	if (host_port(h, end, 0, u->host, sizeof(u->host), port, sizeof(port),
	    why, whylen) != 0)
		return -1;
	if (u->host[0] == '\0')
		return fail(why, whylen, "no host");
	if (port[0] != '\0')
		u->port = atoi(port);
	path = end;
	if (*path == '/') {
		size_t n = strcspn(path + 1, "?#");

		if (n > 0) {
			if (number(path + 1, n, 65535, &v) != 0)
				return fail(why, whylen, "database must be a "
				    "number (redis://host:port/0)");
			u->db = (int)v;
		}
		path += 1 + n;
	}
	if (*path == '#')
		return fail(why, whylen, "a '#' must be written %23");
	if (*path == '?') {
		q = path + 1;
		if (*q == '\0')
			return 0;
		return param_refused(param_name(q, strcspn(q, "=&"), name,
		    sizeof(name)) == 0 ? name : NULL, "", why, whylen);
	}
	return 0;
}

static int
sslmode_ok(const char *v)
{
	static const char *const modes[] = { "disable", "allow", "prefer",
	    "require", "verify-ca", "verify-full" };
	size_t	i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(v, modes[i]) == 0)
			return 1;
	return 0;
}

/* One "name=value" of DATABASE_URL's query, into u. */
static int
pg_param(const char *p, size_t n, struct pg_url *u, char *why, size_t len)
{
	const char	*eq = memchr(p, '=', n), *v;
	char		 name[URL_PARAM_NAME_MAX + 1], val[256];
	size_t		 vn;

	if (param_name(p, (size_t)((eq != NULL ? eq : p + n) - p), name,
	    sizeof(name)) != 0)
		return param_refused(NULL, "", why, len);
	if (strcmp(name, "password") == 0)
		return param_refused(name, " (put the password in "
		    "user:password@)", why, len);
	if (strcmp(name, "host") != 0 && strcmp(name, "port") != 0 &&
	    strcmp(name, "user") != 0 && strcmp(name, "dbname") != 0 &&
	    strcmp(name, "sslmode") != 0)
		return param_refused(name, " (only host, port, user, dbname "
		    "and sslmode are)", why, len);
	if (eq == NULL || eq + 1 == p + n) {
		snprintf(why, len, "parameter \"%s\" has no value", name);
		return -1;
	}
	v = eq + 1;
	vn = (size_t)(p + n - v);
	if (strcmp(name, "port") == 0)
		return port_ok(v, vn, u->port, sizeof(u->port), why, len);
	if (decode(v, vn, val, sizeof(val)) != 0) {
		snprintf(why, len, "parameter \"%s\": bad value (too long, or a "
		    "broken %%-escape)", name);
		return -1;
	}
	if (strcmp(name, "host") == 0) {
		if (host_ok(val, 1, why, len) != 0)
			return -1;
		snprintf(u->host, sizeof(u->host), "%s", val);
	} else if (strcmp(name, "user") == 0) {
		if (strlen(val) >= sizeof(u->user))
			return fail(why, len, "user name too long");
		snprintf(u->user, sizeof(u->user), "%s", val);
	} else if (strcmp(name, "dbname") == 0) {
		if (strlen(val) >= sizeof(u->db))
			return fail(why, len, "database name too long");
		snprintf(u->db, sizeof(u->db), "%s", val);
	} else {
		if (!sslmode_ok(val))
			return fail(why, len, "sslmode must be one of disable, "
			    "allow, prefer, require, verify-ca, verify-full");
		snprintf(u->sslmode, sizeof(u->sslmode), "%.15s", val);
	}
	return 0;
}

int
pg_url_parse(const char *url, struct pg_url *u, char *why, size_t whylen)
{
	const char	*a, *end, *h, *q;
	size_t		 n;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "postgres://", 11) == 0)
		a = url + 11;
	else if (strncmp(url, "postgresql://", 13) == 0)
		a = url + 13;
	else
		return fail(why, whylen, "not a postgres:// URL");
	if (authority(a, &end, &h, u->user, sizeof(u->user), u->pass,
	    sizeof(u->pass), why, whylen) != 0)
		return -1;
	/* host[:port], a [v6] host, a %2F-encoded socket directory, or
	 * nothing (libpq's default socket) */
	if (host_port(h, end, 1, u->host, sizeof(u->host), u->port,
	    sizeof(u->port), why, whylen) != 0)
		return -1;
	q = end;
	if (*q == '/') {
		n = strcspn(q + 1, "?#");
		if (decode(q + 1, n, u->db, sizeof(u->db)) != 0)
			return fail(why, whylen, "bad database name (too long, "
			    "or a broken %-escape)");
		q += 1 + n;
	}
	if (*q == '#')
		return fail(why, whylen, "a '#' must be written %23");
	if (*q != '?')
		return 0;
	for (q++; *q != '\0'; q += n + (q[n] == '&')) {
		n = strcspn(q, "&#");
		if (q[n] == '#')
			return fail(why, whylen, "a '#' must be written %23");
		if (n > 0 && pg_param(q, n, u, why, whylen) != 0)
			return -1;
	}
	return 0;
}

/* Append value to a conninfo string, quoted: '...' with \ and ' escaped. */
static int
conninfo_add(char *buf, size_t len, size_t *off, const char *kw,
    const char *val)
{
	const char	*c;

	if (*val == '\0')
		return 0;
	if (*off + strlen(kw) + 3 >= len)
		return -1;
	*off += (size_t)snprintf(buf + *off, len - *off, "%s%s='", *off ? " " :
	    "", kw);
	for (c = val; *c != '\0'; c++) {
		if (*off + 3 >= len)
			return -1;
		if (*c == '\'' || *c == '\\')
			buf[(*off)++] = '\\';
		buf[(*off)++] = *c;
	}
	if (*off + 2 > len)
		return -1;
	buf[(*off)++] = '\'';
	buf[*off] = '\0';
	return 0;
}

/*
 * The parts of u as a libpq conninfo string for pg_dump's --dbname:
 * host, port, user, dbname and sslmode, each quoted; never the password.
 */
int
pg_url_conninfo(const struct pg_url *u, char *buf, size_t len)
{
	size_t	off = 0;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	if (conninfo_add(buf, len, &off, "host", u->host) != 0 ||
	    conninfo_add(buf, len, &off, "port", u->port) != 0 ||
	    conninfo_add(buf, len, &off, "user", u->user) != 0 ||
	    conninfo_add(buf, len, &off, "dbname", u->db) != 0 ||
	    conninfo_add(buf, len, &off, "sslmode", u->sslmode) != 0)
		return -1;
	return 0;
}
