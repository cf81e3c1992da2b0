/*
 * check-pg.c: is the app's PostgreSQL there and usable?  Connects with
 * libpq's non-blocking PQconnectStart/PQconnectPoll on a uv_poll (the
 * socket may change between polls: libpq tries each address in turn),
 * runs one query for the server version and the connection budget, and
 * turns libpq's failures into what a sysadmin can act on.  A timer bounds
 * the whole check: libpq's connect_timeout only applies to blocking use.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "tendd.h"

struct pgcheck {
	struct tend	*t;
	PGconn		*conn;
	uv_poll_t	*poll;		/* allocated: one per socket */
	int		 fd;
	uv_timer_t	 timer;
	int		 querying;
	uint64_t	 timeout_ms;
	PQconninfoOption *opts;		/* the URL, parsed */
	uv_getaddrinfo_t gai;
	int		 resolving;	/* its callback is still owed */
	int		 closed;
	char		*host;
	char		 bad[300];	/* a URL error found before any I/O */
	int		 done;
	void		(*cb)(void *, int ok, const char *detail, json_t *info);
	void		*arg;
};

static void	pg_poll_cb(uv_poll_t *, int, int);
static void	pg_fail_cb(uv_timer_t *);
static void	pg_finish(struct pgcheck *, int, const char *, json_t *);
static void	pg_free(struct pgcheck *);

static void
free_cb(uv_handle_t *h)
{
	free(h);
}

static void
pg_free(struct pgcheck *pc)
{
	if (pc->opts != NULL)
		PQconninfoFree(pc->opts);
	free(pc->host);
	free(pc);
}

/* The resolver's callback may still be owed: the last one frees. */
static void
timer_closed_cb(uv_handle_t *h)
{
	struct pgcheck	*pc = h->data;

	pc->closed = 1;
	if (!pc->resolving)
		pg_free(pc);
}

static void
pg_release(struct pgcheck *pc)
{
	if (pc->poll != NULL) {
		uv_poll_stop(pc->poll);
		uv_close((uv_handle_t *)pc->poll, free_cb);
		pc->poll = NULL;
	}
	if (pc->conn != NULL)
		PQfinish(pc->conn);
	pc->conn = NULL;
	uv_close((uv_handle_t *)&pc->timer, timer_closed_cb);
}

/* libpq's words, made plain; never with a password (libpq prints none). */
static void
pg_explain(struct pgcheck *pc, const char *msg, char *out, size_t len)
{
	const char	*host = PQhost(pc->conn), *port = PQport(pc->conn),
			*db = PQdb(pc->conn), *user = PQuser(pc->conn);
	char		 first[400];
	size_t		 n;

	host = host && *host ? host : "localhost";
	port = port && *port ? port : "5432";
	/* The first line is the one that says what happened. */
	n = strcspn(msg, "\n");
	snprintf(first, sizeof(first), "%.*s", (int)(n < 399 ? n : 399), msg);
	if (strstr(msg, "does not exist") != NULL && strstr(msg, "database") != NULL)
		snprintf(out, len, "database \"%s\" does not exist on %s:%s; create "
		    "it with: createdb -h %s -p %s -U %s %s  (or: CREATE DATABASE "
		    "\"%s\";)", db, host, port, host, port, user, db, db);
	else if (strstr(msg, "password authentication failed") != NULL ||
	    strstr(msg, "authentication failed") != NULL)
		snprintf(out, len, "authentication failed for user \"%s\" on "
		    "%s:%s: check the password in DATABASE_URL", user, host, port);
	else if (strstr(msg, "no password supplied") != NULL)
		snprintf(out, len, "PostgreSQL on %s:%s wants a password for "
		    "user \"%s\" and DATABASE_URL has none", host, port, user);
	else if (strstr(msg, "too many connections for role") != NULL)
		snprintf(out, len, "too many connections: user \"%s\" has reached "
		    "its own connection limit on %s:%s (ALTER ROLE ... CONNECTION "
		    "LIMIT)", user, host, port);
	else if (strstr(msg, "too many clients") != NULL ||
	    strstr(msg, "connection slots are reserved") != NULL)
		snprintf(out, len, "too many connections: PostgreSQL on %s:%s "
		    "has reached max_connections (%s)", host, port, first);
	else if (strstr(msg, "SSL") != NULL || strstr(msg, "encryption") != NULL)
		snprintf(out, len, "SSL mismatch with PostgreSQL on %s:%s: %s "
		    "(see sslmode in DATABASE_URL)", host, port, first);
	else if (strstr(msg, "Connection refused") != NULL)
		snprintf(out, len, "PostgreSQL unreachable at %s:%s: connection "
		    "refused (is it running, and on that port?)", host, port);
	else
		snprintf(out, len, "PostgreSQL at %s:%s: %s", host, port, first);
}

static void
pg_finish(struct pgcheck *pc, int ok, const char *detail, json_t *info)
{
	if (pc->done)
		return;
	pc->done = 1;
	pc->cb(pc->arg, ok, detail, info);
	if (pc->resolving)
		uv_cancel((uv_req_t *)&pc->gai);
	pg_release(pc);
}

static void
pg_fail(struct pgcheck *pc)
{
	char	out[700];

	pg_explain(pc, PQerrorMessage(pc->conn), out, sizeof(out));
	pg_finish(pc, 0, out, NULL);
}

static int
pg_watch(struct pgcheck *pc, int events)
{
	int	fd = PQsocket(pc->conn);

	if (fd < 0)
		return -1;
	if (pc->poll != NULL && fd != pc->fd) {
		/* libpq moved to another address: a new socket. */
		uv_poll_stop(pc->poll);
		uv_close((uv_handle_t *)pc->poll, free_cb);
		pc->poll = NULL;
	}
	if (pc->poll == NULL) {
		if ((pc->poll = calloc(1, sizeof(*pc->poll))) == NULL)
			return -1;
		if (uv_poll_init_socket(pc->t->loop, pc->poll, fd) != 0) {
			free(pc->poll);
			pc->poll = NULL;
			return -1;
		}
		pc->poll->data = pc;
		pc->fd = fd;
	}
	return uv_poll_start(pc->poll, events, pg_poll_cb) == 0 ? 0 : -1;
}

static void
pg_result(struct pgcheck *pc)
{
	PGresult	*res;
	json_t		*info = NULL;
	char		 detail[300];
	int		 ok = 0;

	while ((res = PQgetResult(pc->conn)) != NULL) {
		if (info == NULL && PQresultStatus(res) == PGRES_TUPLES_OK &&
		    PQntuples(res) == 1) {
			const char *ver = PQgetvalue(res, 0, 0);

			info = json_pack("{s:s,s:i,s:i,s:s}",
			    "version", ver,
			    "max_connections", atoi(PQgetvalue(res, 0, 1)),
			    "connections", atoi(PQgetvalue(res, 0, 2)),
			    "database", PQgetvalue(res, 0, 3));
			snprintf(detail, sizeof(detail), "PostgreSQL %s at %s:%s, "
			    "database %s, %s of %s connections in use", ver,
			    PQhost(pc->conn), PQport(pc->conn), PQgetvalue(res, 0, 3),
			    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1));
			ok = 1;
		} else if (!ok)
			snprintf(detail, sizeof(detail), "query failed: %s",
			    PQresultErrorMessage(res));
		PQclear(res);
	}
	pg_finish(pc, ok, detail, info);
}

static void
pg_poll_cb(uv_poll_t *h, int status, int events)
{
	struct pgcheck		*pc = h->data;
	PostgresPollingStatusType r;

	if (pc->querying) {
		if (!PQconsumeInput(pc->conn)) {
			pg_fail(pc);
			return;
		}
		if (!PQisBusy(pc->conn))
			pg_result(pc);
		return;
	}
	r = PQconnectPoll(pc->conn);
	switch (r) {
	case PGRES_POLLING_FAILED:
		pg_fail(pc);
		return;
	case PGRES_POLLING_OK:
		/* server_version_num style: the short version string. */
		if (!PQsendQuery(pc->conn, "SELECT current_setting('server_version'),"
		    " current_setting('max_connections'),"
		    " (SELECT count(*) FROM pg_stat_activity"
		    "  WHERE backend_type = 'client backend')::text,"
		    " current_database()")) {
			pg_fail(pc);
			return;
		}
		pc->querying = 1;
		if (pg_watch(pc, UV_READABLE) != 0)
			pg_fail(pc);
		return;
	case PGRES_POLLING_READING:
		if (pg_watch(pc, UV_READABLE) != 0)
			pg_fail(pc);
		return;
	default:
		if (pg_watch(pc, UV_WRITABLE) != 0)
			pg_fail(pc);
		return;
	}
}

static void
pg_fail_cb(uv_timer_t *h)
{
	struct pgcheck	*pc = h->data;

	if (pc->bad[0] != '\0')
		pg_finish(pc, 0, pc->bad, NULL);
	else if (pc->conn == NULL)
		pg_finish(pc, 0, "out of memory", NULL);
	else
		pg_fail(pc);
}

static void
pg_timeout_cb(uv_timer_t *h)
{
	struct pgcheck	*pc = h->data;
	char		 out[300];
	const char	*host = pc->conn ? PQhost(pc->conn) : pc->host,
			*port = pc->conn ? PQport(pc->conn) : NULL;

	snprintf(out, sizeof(out), "PostgreSQL unreachable at %s:%s: no answer "
	    "within %u ms (a firewall dropping packets, or a server that does "
	    "not accept)", host && *host ? host : "localhost",
	    port && *port ? port : "5432", (unsigned)pc->timeout_ms);
	pg_finish(pc, 0, out, NULL);
}

/* Connect with the parsed options of the URL, plus hostaddr if given. */
/*
 * Connect with the parsed options of the URL; with hostaddr (a list of
 * addresses for the one host name), the host is repeated to match, so
 * libpq still tries every address, as it would have resolving itself.
 */
static void
pg_connect(struct pgcheck *pc, const char *hostaddr, const char *hosts)
{
	const char	*kw[64], *val[64];
	PQconninfoOption *o;
	int		 n = 0;

	for (o = pc->opts; o != NULL && o->keyword != NULL && n < 61; o++) {
		if (o->val == NULL || *o->val == '\0')
			continue;
		if (hostaddr != NULL && strcmp(o->keyword, "host") == 0)
			continue;
		kw[n] = o->keyword;
		val[n++] = o->val;
	}
	if (hostaddr != NULL) {
		kw[n] = "host";
		val[n++] = hosts;
		kw[n] = "hostaddr";
		val[n++] = hostaddr;
	}
	kw[n] = val[n] = NULL;
	pc->conn = PQconnectStartParams(kw, val, 0);
	if (pc->conn == NULL || PQstatus(pc->conn) == CONNECTION_BAD ||
	    PQsetnonblocking(pc->conn, 1) != 0 ||
	    pg_watch(pc, UV_WRITABLE) != 0)
		uv_timer_start(&pc->timer, pg_fail_cb, 0, 0);	/* from the loop */
}

static void
pg_resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct pgcheck	*pc = req->data;
	struct addrinfo	*ai;
	char		 ip[64], addrs[8 * 66] = "", hosts[8 * 256] = "", out[400];
	int		 n = 0;

	pc->resolving = 0;
	if (pc->done || status == UV_ECANCELED) {
		uv_freeaddrinfo(res);
		if (pc->closed)
			pg_free(pc);
		return;
	}
	if (status != 0 || res == NULL) {
		snprintf(out, sizeof(out), "PostgreSQL host %s does not resolve: %s",
		    pc->host, uv_strerror(status));
		uv_freeaddrinfo(res);
		pg_finish(pc, 0, out, NULL);
		return;
	}
	for (ai = res; ai != NULL && n < 8; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET6)
			uv_ip6_name((struct sockaddr_in6 *)ai->ai_addr, ip, sizeof(ip));
		else if (ai->ai_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)ai->ai_addr, ip, sizeof(ip));
		else
			continue;
		snprintf(addrs + strlen(addrs), sizeof(addrs) - strlen(addrs),
		    "%s%s", n ? "," : "", ip);
		snprintf(hosts + strlen(hosts), sizeof(hosts) - strlen(hosts),
		    "%s%.250s", n ? "," : "", pc->host);
		n++;
	}
	uv_freeaddrinfo(res);
	pg_connect(pc, n ? addrs : NULL, hosts);
}

/*
 * Check the database at url within timeout_ms; cb(arg, ok, detail, info)
 * is called exactly once, from the loop (never from inside this call).
 * libpq resolves host names blocking, so a single host name is resolved
 * here first with uv_getaddrinfo and handed to libpq as hostaddr.
 */
int
check_pg_start(struct tend *t, const char *url, uint64_t timeout_ms,
    void (*cb)(void *, int, const char *, json_t *), void *arg)
{
	struct pgcheck		*pc;
	PQconninfoOption	*o;
	struct addrinfo		 hints;
	unsigned char		 buf[sizeof(struct in6_addr)];
	char			*err = NULL;
	const char		*host = NULL, *hostaddr = NULL;

	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return -1;
	pc->t = t;
	pc->cb = cb;
	pc->arg = arg;
	pc->timeout_ms = timeout_ms;
	uv_timer_init(t->loop, &pc->timer);
	pc->timer.data = pc;
	uv_timer_start(&pc->timer, pg_timeout_cb, timeout_ms, 0);
	if ((pc->opts = PQconninfoParse(url, &err)) == NULL) {
		snprintf(pc->bad, sizeof(pc->bad), "DATABASE_URL is not a valid "
		    "PostgreSQL URL: %s", err != NULL ? err : "out of memory");
		pc->bad[strcspn(pc->bad, "\n")] = '\0';
		PQfreemem(err);
		uv_timer_start(&pc->timer, pg_fail_cb, 0, 0);
		return 0;
	}
	for (o = pc->opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
	}
	if (host != NULL && *host != '\0' && *host != '/' &&
	    (hostaddr == NULL || *hostaddr == '\0') && strchr(host, ',') == NULL &&
	    inet_pton(AF_INET, host, buf) != 1 &&
	    inet_pton(AF_INET6, host, buf) != 1 &&
	    (pc->host = strdup(host)) != NULL) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		pc->gai.data = pc;
		pc->resolving = 1;
		if (uv_getaddrinfo(t->loop, &pc->gai, pg_resolved_cb, pc->host,
		    NULL, &hints) == 0)
			return 0;
		pc->resolving = 0;
	}
	pg_connect(pc, NULL, NULL);
	return 0;
}
