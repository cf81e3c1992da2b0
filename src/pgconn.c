/*
 * pgconn.c: one PostgreSQL connection driven by the loop.  libpq's
 * non-blocking PQconnectStartParams/PQconnectPoll on a uv_poll (the socket
 * may change between polls: libpq tries each address in turn), then
 * queries with PQsendQueryParams.  libpq resolves host names blocking, so
 * a single host name is resolved first with uv_getaddrinfo and handed to
 * libpq as hostaddr.  A timer bounds the connect (libpq's connect_timeout
 * only applies to blocking use) and, when asked, each query.
 *
 * Used by the preflight check, the migration lock and create_database.
 * Failures are explained in plain words and sorted into "will not fix
 * itself" (a wrong password, a missing database) and "may pass" (refused,
 * no answer, too many connections), so a start can wait out the second
 * kind.  No message ever holds a password: libpq prints none, and ours are
 * built from host, port, user and database names.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendd.h"
#include "pgconn.h"

struct pgconn {
	struct tend	*t;
	PGconn		*conn;
	uv_poll_t	*poll;		/* allocated: one per socket */
	int		 fd;
	uv_timer_t	 timer;		/* connect / query time limit */
	uint64_t	 timeout_ms;
	PQconninfoOption *opts;		/* the URL, parsed */
	char		*dbname;	/* instead of the URL's */
	char		*appname;
	uv_getaddrinfo_t gai;
	int		 resolving;	/* its callback is still owed */
	int		 timer_closed;
	int		 closing;	/* the owner let go: no more callbacks */
	enum { PGC_CONNECTING, PGC_IDLE, PGC_QUERY, PGC_DEAD } st;
	char		*host;
	char		 bad[300];	/* a URL error found before any I/O */
	pgconn_cb	 cb;		/* connect, then the query in flight */
	void		*arg;
};

static void	pgc_poll_cb(uv_poll_t *, int, int);

static void
free_cb(uv_handle_t *h)
{
	free(h);
}

static void
pgc_free(struct pgconn *pc)
{
	if (pc->opts != NULL)
		PQconninfoFree(pc->opts);
	free(pc->host);
	free(pc->dbname);
	free(pc->appname);
	free(pc);
}

/* The resolver's callback may still be owed: the last one frees. */
static void
timer_closed_cb(uv_handle_t *h)
{
	struct pgconn	*pc = h->data;

	pc->timer_closed = 1;
	if (!pc->resolving)
		pgc_free(pc);
}

void
pgconn_close(struct pgconn *pc)
{
	if (pc == NULL || pc->closing)
		return;
	pc->closing = 1;
	pc->st = PGC_DEAD;
	if (pc->resolving)
		uv_cancel((uv_req_t *)&pc->gai);
	if (pc->poll != NULL) {
		uv_poll_stop(pc->poll);
		uv_close((uv_handle_t *)pc->poll, free_cb);
		pc->poll = NULL;
	}
	if (pc->conn != NULL)
		PQfinish(pc->conn);	/* also releases its advisory locks */
	pc->conn = NULL;
	uv_close((uv_handle_t *)&pc->timer, timer_closed_cb);
}

const char *
pgconn_host(const struct pgconn *pc)
{
	const char *h = pc->conn != NULL ? PQhost(pc->conn) : pc->host;

	return h != NULL && *h != '\0' ? h : "localhost";
}

const char *
pgconn_port(const struct pgconn *pc)
{
	const char *p = pc->conn != NULL ? PQport(pc->conn) : NULL;

	return p != NULL && *p != '\0' ? p : "5432";
}

PGconn *
pgconn_pq(struct pgconn *pc)
{
	return pc->conn;
}

/* libpq's words, made plain.  Returns PG_FATAL or PG_TRANSIENT. */
int
pgconn_explain(PGconn *conn, const char *msg, char *out, size_t len)
{
	const char	*host = PQhost(conn), *port = PQport(conn),
			*db = PQdb(conn), *user = PQuser(conn);
	char		 first[400];
	size_t		 n;

	host = host && *host ? host : "localhost";
	port = port && *port ? port : "5432";
	/* The first line is the one that says what happened. */
	n = strcspn(msg, "\n");
	snprintf(first, sizeof(first), "%.*s", (int)(n < 399 ? n : 399), msg);
	if (strstr(msg, "does not exist") != NULL && strstr(msg, "database") != NULL) {
		snprintf(out, len, "database \"%s\" does not exist on %s:%s; create "
		    "it with: createdb -h %s -p %s -U %s %s  (or: CREATE DATABASE "
		    "\"%s\";, or set create_database = yes)", db, host, port,
		    host, port, user, db, db);
		return PG_FATAL;
	}
	if (strstr(msg, "password authentication failed") != NULL ||
	    strstr(msg, "authentication failed") != NULL) {
		snprintf(out, len, "authentication failed for user \"%s\" on "
		    "%s:%s: check the password in DATABASE_URL", user, host, port);
		return PG_FATAL;
	}
	if (strstr(msg, "no password supplied") != NULL) {
		snprintf(out, len, "PostgreSQL on %s:%s wants a password for "
		    "user \"%s\" and DATABASE_URL has none", host, port, user);
		return PG_FATAL;
	}
	if (strstr(msg, "too many connections for role") != NULL) {
		snprintf(out, len, "too many connections: user \"%s\" has reached "
		    "its own connection limit on %s:%s (ALTER ROLE ... CONNECTION "
		    "LIMIT)", user, host, port);
		return PG_TRANSIENT;
	}
	if (strstr(msg, "too many clients") != NULL ||
	    strstr(msg, "connection slots are reserved") != NULL) {
		snprintf(out, len, "too many connections: PostgreSQL on %s:%s "
		    "has reached max_connections (%s)", host, port, first);
		return PG_TRANSIENT;
	}
	if (strstr(msg, "SSL") != NULL || strstr(msg, "encryption") != NULL) {
		snprintf(out, len, "SSL mismatch with PostgreSQL on %s:%s: %s "
		    "(see sslmode in DATABASE_URL)", host, port, first);
		return PG_FATAL;
	}
	if (strstr(msg, "Connection refused") != NULL) {
		snprintf(out, len, "PostgreSQL unreachable at %s:%s: connection "
		    "refused (is it running, and on that port?)", host, port);
		return PG_TRANSIENT;
	}
	snprintf(out, len, "PostgreSQL at %s:%s: %s", host, port, first);
	/* Starting up, shutting down, a reset: worth another try. */
	return strstr(msg, "starting up") != NULL ||
	    strstr(msg, "shutting down") != NULL ||
	    strstr(msg, "recovery") != NULL ||
	    strstr(msg, "timeout") != NULL ||
	    strstr(msg, "server closed") != NULL ? PG_TRANSIENT : PG_FATAL;
}

/* Tell the owner; a failed connect also ends the connection. */
static void
pgc_report(struct pgconn *pc, int ok, const char *detail, PGresult *res)
{
	pgconn_cb	cb = pc->cb;
	int		was_connect = pc->st == PGC_CONNECTING;

	uv_timer_stop(&pc->timer);
	pc->cb = NULL;
	if (ok == PG_OK)
		pc->st = PGC_IDLE;
	else
		pc->st = PGC_DEAD;
	if (cb != NULL)
		cb(pc, pc->arg, ok, detail, res);
	if (was_connect && ok != PG_OK)
		pgconn_close(pc);
}

static void
pgc_fail(struct pgconn *pc)
{
	char	out[700];
	int	cls;

	cls = pgconn_explain(pc->conn, PQerrorMessage(pc->conn), out,
	    sizeof(out));
	pgc_report(pc, cls, out, NULL);
}

static int
pgc_watch(struct pgconn *pc, int events)
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
	return uv_poll_start(pc->poll, events, pgc_poll_cb) == 0 ? 0 : -1;
}

/* A query's answer: the last result is the one reported. */
static void
pgc_result(struct pgconn *pc)
{
	PGresult	*res, *last = NULL;
	char		 detail[600] = "";
	int		 ok = PG_OK;

	while ((res = PQgetResult(pc->conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);

		if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
			const char *m = PQresultErrorMessage(res);

			snprintf(detail, sizeof(detail), "%.*s",
			    (int)strcspn(m, "\n"), m);
			ok = PG_FATAL;
		}
		PQclear(last);
		last = res;
	}
	if (pc->st == PGC_QUERY)
		pgc_report(pc, ok, detail, ok == PG_OK ? last : NULL);
	PQclear(last);
}

static void
pgc_poll_cb(uv_poll_t *h, int status, int events)
{
	struct pgconn		*pc = h->data;
	PostgresPollingStatusType r;

	(void)status;
	if (pc->st == PGC_QUERY && (events & UV_WRITABLE)) {
		int f = PQflush(pc->conn);

		if (f < 0) {
			pgc_fail(pc);
			return;
		}
		if (f == 0 && pgc_watch(pc, UV_READABLE) != 0) {
			pgc_fail(pc);
			return;
		}
	}
	if (pc->st == PGC_QUERY || pc->st == PGC_IDLE) {
		if (!PQconsumeInput(pc->conn)) {
			if (pc->st == PGC_QUERY)
				pgc_fail(pc);
			else {
				/* Lost while idle: stop watching a dead fd;
				 * the next query reports it. */
				uv_poll_stop(pc->poll);
			}
			return;
		}
		if (pc->st == PGC_QUERY && !PQisBusy(pc->conn))
			pgc_result(pc);
		return;
	}
	if (pc->st != PGC_CONNECTING)
		return;
	r = PQconnectPoll(pc->conn);
	switch (r) {
	case PGRES_POLLING_FAILED:
		pgc_fail(pc);
		return;
	case PGRES_POLLING_OK:
		if (pgc_watch(pc, UV_READABLE) != 0) {
			pgc_fail(pc);
			return;
		}
		pgc_report(pc, PG_OK, "connected", NULL);
		return;
	case PGRES_POLLING_READING:
		if (pgc_watch(pc, UV_READABLE) != 0)
			pgc_fail(pc);
		return;
	default:
		if (pgc_watch(pc, UV_WRITABLE) != 0)
			pgc_fail(pc);
		return;
	}
}

static void
pgc_fail_cb(uv_timer_t *h)
{
	struct pgconn	*pc = h->data;

	if (pc->bad[0] != '\0')
		pgc_report(pc, PG_FATAL, pc->bad, NULL);
	else if (pc->conn == NULL)
		pgc_report(pc, PG_FATAL, "out of memory", NULL);
	else
		pgc_fail(pc);
}

static void
pgc_timeout_cb(uv_timer_t *h)
{
	struct pgconn	*pc = h->data;
	char		 out[300];

	if (pc->st == PGC_QUERY) {
		snprintf(out, sizeof(out), "PostgreSQL at %s:%s did not answer a "
		    "query within %u ms", pgconn_host(pc), pgconn_port(pc),
		    (unsigned)pc->timeout_ms);
		pgc_report(pc, PG_TRANSIENT, out, NULL);
		return;
	}
	snprintf(out, sizeof(out), "PostgreSQL unreachable at %s:%s: no answer "
	    "within %u ms (a firewall dropping packets, or a server that does "
	    "not accept)", pgconn_host(pc), pgconn_port(pc),
	    (unsigned)pc->timeout_ms);
	pgc_report(pc, PG_TRANSIENT, out, NULL);
}

/*
 * Connect with the parsed options of the URL; with hostaddr (a list of
 * addresses for the one host name), the host is repeated to match, so
 * libpq still tries every address, as it would have resolving itself.
 */
static void
pgc_connect(struct pgconn *pc, const char *hostaddr, const char *hosts)
{
	const char	*kw[64], *val[64];
	PQconninfoOption *o;
	int		 n = 0;

	for (o = pc->opts; o != NULL && o->keyword != NULL && n < 59; o++) {
		if (o->val == NULL || *o->val == '\0')
			continue;
		if (hostaddr != NULL && strcmp(o->keyword, "host") == 0)
			continue;
		if (pc->dbname != NULL && strcmp(o->keyword, "dbname") == 0)
			continue;
		if (pc->appname != NULL &&
		    strcmp(o->keyword, "application_name") == 0)
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
	if (pc->dbname != NULL) {
		kw[n] = "dbname";
		val[n++] = pc->dbname;
	}
	if (pc->appname != NULL) {
		kw[n] = "application_name";
		val[n++] = pc->appname;
	}
	kw[n] = val[n] = NULL;
	pc->conn = PQconnectStartParams(kw, val, 0);
	if (pc->conn == NULL || PQstatus(pc->conn) == CONNECTION_BAD ||
	    PQsetnonblocking(pc->conn, 1) != 0 ||
	    pgc_watch(pc, UV_WRITABLE) != 0)
		uv_timer_start(&pc->timer, pgc_fail_cb, 0, 0);	/* from the loop */
}

static void
pgc_resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct pgconn	*pc = req->data;
	struct addrinfo	*ai;
	char		 ip[64], addrs[8 * 66] = "", hosts[8 * 256] = "", out[400];
	int		 n = 0;

	pc->resolving = 0;
	if (pc->closing || status == UV_ECANCELED) {
		uv_freeaddrinfo(res);
		if (pc->timer_closed)
			pgc_free(pc);
		return;
	}
	if (status != 0 || res == NULL) {
		snprintf(out, sizeof(out), "PostgreSQL host %s does not resolve: %s",
		    pc->host, uv_strerror(status));
		uv_freeaddrinfo(res);
		pgc_report(pc, PG_TRANSIENT, out, NULL);
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
	pgc_connect(pc, n ? addrs : NULL, hosts);
}

/*
 * Connect to the database of url (or dbname instead, when not NULL) within
 * timeout_ms.  cb(pc, arg, PG_OK, ...) once connected, or a failure class
 * and a plain sentence, then the connection is gone.  Called from the
 * loop, never from inside this call.  NULL only when out of memory.
 */
struct pgconn *
pgconn_open(struct tend *t, const char *url, const char *dbname,
    const char *appname, uint64_t timeout_ms, pgconn_cb cb, void *arg)
{
	struct pgconn		*pc;
	PQconninfoOption	*o;
	struct addrinfo		 hints;
	unsigned char		 buf[sizeof(struct in6_addr)];
	char			*err = NULL;
	const char		*host = NULL, *hostaddr = NULL;

	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return NULL;
	if ((dbname != NULL && (pc->dbname = strdup(dbname)) == NULL) ||
	    (appname != NULL && (pc->appname = strdup(appname)) == NULL)) {
		pgc_free(pc);
		return NULL;
	}
	pc->t = t;
	pc->cb = cb;
	pc->arg = arg;
	pc->timeout_ms = timeout_ms;
	pc->st = PGC_CONNECTING;
	uv_timer_init(t->loop, &pc->timer);
	pc->timer.data = pc;
	uv_timer_start(&pc->timer, pgc_timeout_cb, timeout_ms, 0);
	if ((pc->opts = PQconninfoParse(url, &err)) == NULL) {
		snprintf(pc->bad, sizeof(pc->bad), "DATABASE_URL is not a valid "
		    "PostgreSQL URL: %s", err != NULL ? err : "out of memory");
		pc->bad[strcspn(pc->bad, "\n")] = '\0';
		PQfreemem(err);
		uv_timer_start(&pc->timer, pgc_fail_cb, 0, 0);
		return pc;
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
		if (uv_getaddrinfo(t->loop, &pc->gai, pgc_resolved_cb, pc->host,
		    NULL, &hints) == 0)
			return pc;
		pc->resolving = 0;
	}
	pgc_connect(pc, NULL, NULL);
	return pc;
}

/*
 * Send one query (with up to 4 text parameters, NULL-terminated) on an
 * idle connection; cb gets the last result, valid only during the call.
 * timeout_ms 0: wait as long as it takes (a lock).  -1 if it could not be
 * sent (the connection is not idle or is broken).
 */
int
pgconn_query(struct pgconn *pc, const char *sql, const char *const *params,
    uint64_t timeout_ms, pgconn_cb cb, void *arg)
{
	int	n = 0;

	if (pc->st != PGC_IDLE || pc->conn == NULL)
		return -1;
	while (params != NULL && params[n] != NULL && n < 4)
		n++;
	if (!PQsendQueryParams(pc->conn, sql, n, NULL, params, NULL, NULL, 0))
		return -1;
	pc->st = PGC_QUERY;
	pc->cb = cb;
	pc->arg = arg;
	pc->timeout_ms = timeout_ms;
	if (timeout_ms > 0)
		uv_timer_start(&pc->timer, pgc_timeout_cb, timeout_ms, 0);
	switch (PQflush(pc->conn)) {
	case 0:
		if (pgc_watch(pc, UV_READABLE) == 0)
			return 0;
		break;
	case 1:		/* the rest goes when the socket takes it */
		if (pgc_watch(pc, UV_READABLE | UV_WRITABLE) == 0)
			return 0;
		break;
	}
	uv_timer_start(&pc->timer, pgc_fail_cb, 0, 0);
	return 0;
}
