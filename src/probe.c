/*
 * probe.c: tend-probe, the one program of tend that speaks PostgreSQL and
 * Redis.  tendd runs it for a preflight check, a CREATE DATABASE and the
 * migration lock, and reads one JSON object per line from it.  Keeping
 * libpq and hiredis (and the TLS, Kerberos and LDAP libraries they bring)
 * out of tendd keeps the daemon a few MiB small; a probe lives only as
 * long as its question, and never longer than tendd (PR_SET_PDEATHSIG).
 *
 *   tend-probe pg TIMEOUT_MS              {"ok":1,"detail":..,"info":{..}}
 *   tend-probe redis TIMEOUT_MS           the same
 *   tend-probe createdb TIMEOUT_MS NAME   {"ok":..,"detail":..}
 *   tend-probe lock TIMEOUT_MS APPNAME    {"event":"waiting","detail":..}
 *                                         {"event":"locked","key":..}
 *                                         then holds the lock until its
 *                                         stdin closes
 *
 * The URL comes in the environment (TEND_PROBE_URL), never on the command
 * line, where every user could read its password.  "ok" is 1 (fine), 0
 * (will not fix itself: a wrong password) or -1 (may pass by itself:
 * refused, no answer, too many connections).  Sentences are built from
 * host, port, user and database names: never a password.
 */
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "tend.h"

#define P_OK		1
#define P_FATAL		0
#define P_TRANSIENT	(-1)

static uint64_t	timeout_ms;

static json_t	*pg_missing_db(PGconn *);
static uint64_t	t0;

static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
left_ms(void)
{
	uint64_t	used = now_ms() - t0;

	return used >= timeout_ms ? 0 : (int)(timeout_ms - used);
}

static void
emit(json_t *o)
{
	char	*s;

	if (o == NULL)
		exit(2);
	if ((s = json_dumps(o, JSON_COMPACT)) == NULL)
		exit(2);
	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static void __attribute__((noreturn))
answer(int ok, const char *detail, json_t *info)
{
	json_t	*o = json_pack("{s:i,s:s}", "ok", ok, "detail", detail);

	if (o != NULL && info != NULL)
		json_object_set_new(o, "info", info);
	emit(o);
	exit(0);
}

/* --- PostgreSQL -------------------------------------------------------- */

/* libpq's words, made plain; the class of the failure. */
static int
pg_explain(PGconn *conn, char *out, size_t len)
{
	const char	*msg = PQerrorMessage(conn), *host = PQhost(conn),
			*port = PQport(conn), *db = PQdb(conn), *user = PQuser(conn);
	char		 first[400];
	size_t		 n;

	host = host && *host ? host : "localhost";
	port = port && *port ? port : "5432";
	n = strcspn(msg, "\n");
	snprintf(first, sizeof(first), "%.*s", (int)(n < 399 ? n : 399), msg);
	if (strstr(msg, "does not exist") != NULL && strstr(msg, "database") != NULL) {
		snprintf(out, len, "database \"%s\" does not exist on %s:%s; create "
		    "it with: createdb -h %s -p %s -U %s %s  (or: CREATE DATABASE "
		    "\"%s\";, or set create_database = yes)", db, host, port,
		    host, port, user, db, db);
		return P_FATAL;
	}
	if (strstr(msg, "authentication failed") != NULL) {
		snprintf(out, len, "authentication failed for user \"%s\" on "
		    "%s:%s: check the password in DATABASE_URL", user, host, port);
		return P_FATAL;
	}
	if (strstr(msg, "no password supplied") != NULL) {
		snprintf(out, len, "PostgreSQL on %s:%s wants a password for "
		    "user \"%s\" and DATABASE_URL has none", host, port, user);
		return P_FATAL;
	}
	if (strstr(msg, "too many connections for role") != NULL) {
		snprintf(out, len, "too many connections: user \"%s\" has reached "
		    "its own connection limit on %s:%s (ALTER ROLE ... CONNECTION "
		    "LIMIT)", user, host, port);
		return P_TRANSIENT;
	}
	if (strstr(msg, "too many clients") != NULL ||
	    strstr(msg, "connection slots are reserved") != NULL) {
		snprintf(out, len, "too many connections: PostgreSQL on %s:%s "
		    "has reached max_connections (%s)", host, port, first);
		return P_TRANSIENT;
	}
	if (strstr(msg, "SSL") != NULL || strstr(msg, "encryption") != NULL) {
		snprintf(out, len, "SSL mismatch with PostgreSQL on %s:%s: %s "
		    "(see sslmode in DATABASE_URL)", host, port, first);
		return P_FATAL;
	}
	if (strstr(msg, "Connection refused") != NULL) {
		snprintf(out, len, "PostgreSQL unreachable at %s:%s: connection "
		    "refused (is it running, and on that port?)", host, port);
		return P_TRANSIENT;
	}
	if (strstr(msg, "could not translate host name") != NULL) {
		snprintf(out, len, "PostgreSQL host %s does not resolve", host);
		return P_TRANSIENT;
	}
	snprintf(out, len, "PostgreSQL at %s:%s: %s", host, port, first);
	return strstr(msg, "starting up") != NULL ||
	    strstr(msg, "shutting down") != NULL ||
	    strstr(msg, "recovery") != NULL || strstr(msg, "timeout") != NULL ||
	    strstr(msg, "server closed") != NULL ? P_TRANSIENT : P_FATAL;
}

/*
 * Connect without blocking past the deadline: PQconnectStartParams and
 * PQconnectPoll under poll(2).  Exits with the answer on failure.
 */
static PGconn *
pg_connect(const char *url, const char *dbname, const char *appname)
{
	PQconninfoOption	*opts, *o;
	const char		*kw[64], *val[64];
	char			*err = NULL, out[700];
	PGconn			*conn;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	struct pollfd		 pfd;
	int			 n = 0, r;

	if ((opts = PQconninfoParse(url, &err)) == NULL) {
		snprintf(out, sizeof(out), "DATABASE_URL is not a valid PostgreSQL "
		    "URL: %s", err != NULL ? err : "out of memory");
		out[strcspn(out, "\n")] = '\0';
		answer(P_FATAL, out, NULL);
	}
	for (o = opts; o->keyword != NULL && n < 60; o++) {
		if (o->val == NULL || *o->val == '\0')
			continue;
		if ((dbname != NULL && strcmp(o->keyword, "dbname") == 0) ||
		    (appname != NULL && strcmp(o->keyword, "application_name") == 0))
			continue;
		kw[n] = o->keyword;
		val[n++] = o->val;
	}
	if (dbname != NULL) {
		kw[n] = "dbname";
		val[n++] = dbname;
	}
	if (appname != NULL) {
		kw[n] = "application_name";
		val[n++] = appname;
	}
	kw[n] = val[n] = NULL;
	conn = PQconnectStartParams(kw, val, 0);
	PQconninfoFree(opts);
	if (conn == NULL)
		answer(P_TRANSIENT, "out of memory", NULL);
	if (PQstatus(conn) == CONNECTION_BAD) {
		r = pg_explain(conn, out, sizeof(out));
		answer(r, out, NULL);
	}
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			r = pg_explain(conn, out, sizeof(out));
			answer(r, out, pg_missing_db(conn));
		}
		pfd.fd = PQsocket(conn);
		pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		if ((r = poll(&pfd, 1, left_ms())) == 0 || left_ms() == 0) {
			const char *h = PQhost(conn), *p = PQport(conn);

			snprintf(out, sizeof(out), "PostgreSQL unreachable at %s:%s: "
			    "no answer within %u ms (a firewall dropping packets, "
			    "or a server that does not accept)",
			    h && *h ? h : "localhost", p && *p ? p : "5432",
			    (unsigned)timeout_ms);
			answer(P_TRANSIENT, out, NULL);
		}
		if (r < 0 && errno != EINTR)
			answer(P_TRANSIENT, "poll failed", NULL);
		st = PQconnectPoll(conn);
	}
	return conn;
}

/* create_database needs the name of a missing database, unparsed. */
static json_t *
pg_missing_db(PGconn *conn)
{
	const char	*msg = PQerrorMessage(conn);

	if (strstr(msg, "database") != NULL &&
	    strstr(msg, "does not exist") != NULL && PQdb(conn) != NULL)
		return json_pack("{s:s}", "missing_database", PQdb(conn));
	return NULL;
}

/* One query, its first row's first fields; exits on error. */
static PGresult *
pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	PGresult	*res;
	char		 out[700];
	ExecStatusType	 st;

	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		const char *m = res != NULL ? PQresultErrorMessage(res) :
		    PQerrorMessage(conn);

		snprintf(out, sizeof(out), "PostgreSQL at %s:%s: %.*s",
		    PQhost(conn), PQport(conn), (int)strcspn(m, "\n"), m);
		answer(P_FATAL, out, NULL);
	}
	return res;
}

static void __attribute__((noreturn))
do_pg(const char *url)
{
	PGconn		*conn = pg_connect(url, NULL, "tend check");
	PGresult	*res;
	char		 out[500];
	int		 max, reserved;

	res = pg_query(conn, "SELECT current_setting('server_version'),"
	    " current_setting('max_connections'),"
	    " current_setting('superuser_reserved_connections'),"
	    " (SELECT count(*) FROM pg_stat_activity"
	    "  WHERE backend_type = 'client backend'),"
	    " current_database(), current_user", 0, NULL);
	if (PQntuples(res) != 1 || PQnfields(res) != 6)
		answer(P_FATAL, "PostgreSQL: unexpected answer", NULL);
	max = atoi(PQgetvalue(res, 0, 1));
	reserved = atoi(PQgetvalue(res, 0, 2));
	/* Slots kept for superusers are not the app's to use. */
	snprintf(out, sizeof(out), "PostgreSQL %s at %s:%s, database %s, %s of "
	    "%d connections in use (max_connections %d, %d kept for "
	    "superusers)", PQgetvalue(res, 0, 0), PQhost(conn), PQport(conn),
	    PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 3), max - reserved, max,
	    reserved);
	answer(P_OK, out, json_pack("{s:s,s:i,s:i,s:i,s:s,s:s}",
	    "version", PQgetvalue(res, 0, 0), "max_connections", max,
	    "available", max - reserved,
	    "connections", atoi(PQgetvalue(res, 0, 3)),
	    "database", PQgetvalue(res, 0, 4), "user", PQgetvalue(res, 0, 5)));
}

static void __attribute__((noreturn))
do_createdb(const char *url, const char *name)
{
	PGconn	*conn = pg_connect(url, "postgres", "tend create_database");
	char	*id, sql[600];

	if ((id = PQescapeIdentifier(conn, name, strlen(name))) == NULL)
		answer(P_FATAL, "bad database name", NULL);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", id);
	PQfreemem(id);
	PQclear(pg_query(conn, sql, 0, NULL));
	answer(P_OK, "created", NULL);
}

/*
 * The migration lock: a session advisory lock keyed on the database,
 * held on this connection until tendd closes our stdin (or dies: the
 * kernel closes the connection, PostgreSQL drops the lock).
 */
static void __attribute__((noreturn))
do_lock(const char *url, const char *app)
{
	char		 host[128], name[64], key[32], who[300], buf[256];
	const char	*params[2] = { key, NULL };
	PGconn		*conn;
	PGresult	*res;
	int		 tpid;
	char		 thost[128];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	/* PostgreSQL keeps 63 bytes of it; tendd's pid, not ours. */
	snprintf(name, sizeof(name), "tend migrate %.20s pid %d on %.20s",
	    app, (int)getppid(), host);
	conn = pg_connect(url, NULL, name);
	res = pg_query(conn, "SELECT hashtextextended('tend migrate ' || "
	    "current_database(), 0)::text", 0, NULL);
	snprintf(key, sizeof(key), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	res = pg_query(conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, params);
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		PQclear(res);
		res = pg_query(conn, "SELECT a.pid, coalesce(a.application_name, "
		    "''), coalesce(host(a.client_addr), 'local socket'), "
		    "coalesce(extract(epoch FROM now() - a.state_change)::int, 0) "
		    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
		    "WHERE l.locktype = 'advisory' AND l.granted AND "
		    "l.database = (SELECT oid FROM pg_database WHERE datname = "
		    "current_database()) AND "
		    "((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint",
		    1, params);
		snprintf(who, sizeof(who), "another session");
		if (PQntuples(res) > 0) {
			const char *an = PQgetvalue(res, 0, 1);

			/* Ours: "tend migrate APP pid N on HOST". */
			if (sscanf(an, "tend migrate %*s pid %d on %127s", &tpid,
			    thost) == 2)
				snprintf(who, sizeof(who), "pid %d on host %s "
				    "(tendd, for %s s)", tpid, thost,
				    PQgetvalue(res, 0, 3));
			else
				snprintf(who, sizeof(who), "PostgreSQL backend pid "
				    "%s from %s (%s, for %s s)", PQgetvalue(res, 0, 0),
				    PQgetvalue(res, 0, 2), *an ? an :
				    "no application_name", PQgetvalue(res, 0, 3));
		}
		PQclear(res);
		snprintf(buf, sizeof(buf), "waiting for migration lock held by "
		    "%.200s", who);
		emit(json_pack("{s:s,s:s}", "event", "waiting", "detail", buf));
		res = pg_query(conn, "SELECT pg_advisory_lock($1::bigint)", 1,
		    params);
	}
	PQclear(res);
	emit(json_pack("{s:s,s:s}", "event", "locked", "key", key));
	/* Hold it until tendd lets go. */
	for (;;) {
		ssize_t r = read(0, buf, sizeof(buf));

		if (r == 0 || (r < 0 && errno != EINTR))
			break;
	}
	PQfinish(conn);
	exit(0);
}

/* --- Redis ------------------------------------------------------------ */

/* No reply: the time ran out, or the server went away. */
static void __attribute__((noreturn))
redis_lost(redisContext *c, const char *where)
{
	char	out[500];

	if (c->err == REDIS_ERR_EOF)
		snprintf(out, sizeof(out), "Redis at %s closed the connection",
		    where);
	else
		snprintf(out, sizeof(out), "Redis unreachable at %s: no answer "
		    "within %u ms", where, (unsigned)timeout_ms);
	answer(P_TRANSIENT, out, NULL);
}

static void __attribute__((noreturn))
do_redis(const char *url)
{
	struct redis_url	 u;
	const char		*why = NULL, *p;
	char			 where[300], out[700], ver[64] = "?";
	struct timeval		 tv;
	redisContext		*c;
	redisReply		*r;
	int			 ms;

	if (redis_url_parse(url, &u, &why) != 0) {
		snprintf(out, sizeof(out), "REDIS_URL: %s", why);
		answer(P_FATAL, out, NULL);
	}
	snprintf(where, sizeof(where), "%s:%d", u.host, u.port);
	ms = left_ms();
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	c = redisConnectWithTimeout(u.host, u.port, tv);
	if (c == NULL)
		answer(P_TRANSIENT, "out of memory", NULL);
	if (c->err) {
		snprintf(out, sizeof(out), "Redis unreachable at %s: %s%s", where,
		    c->err == REDIS_ERR_IO && errno == EINPROGRESS ? "no answer" :
		    c->errstr, strstr(c->errstr, "refused") ?
		    " (is it running, and on that port?)" : "");
		if (strstr(c->errstr, "Name or service") != NULL ||
		    strstr(c->errstr, "resolve") != NULL)
			snprintf(out, sizeof(out), "Redis host %s does not resolve",
			    u.host);
		answer(P_TRANSIENT, out, NULL);
	}
	ms = left_ms();
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	redisSetTimeout(c, tv);
	if (u.pass[0] != '\0') {
		r = u.user[0] != '\0' ?
		    redisCommand(c, "AUTH %s %s", u.user, u.pass) :
		    redisCommand(c, "AUTH %s", u.pass);
		if (r == NULL)
			redis_lost(c, where);
		if (r->type == REDIS_REPLY_ERROR) {
			snprintf(out, sizeof(out), "Redis at %s refused the password: "
			    "%s (check REDIS_URL)", where, r->str);
			answer(P_FATAL, out, NULL);
		}
		freeReplyObject(r);
	}
	if (u.db != 0) {
		r = redisCommand(c, "SELECT %d", u.db);
		if (r == NULL)
			redis_lost(c, where);
		if (r->type == REDIS_REPLY_ERROR) {
			snprintf(out, sizeof(out), "Redis at %s: SELECT %d failed: %s",
			    where, u.db, r->str);
			answer(strncmp(r->str, "LOADING", 7) == 0 ? P_TRANSIENT :
			    P_FATAL, out, NULL);
		}
		freeReplyObject(r);
	}
	r = redisCommand(c, "PING");
	if (r == NULL)
		redis_lost(c, where);
	if (r->type == REDIS_REPLY_ERROR) {
		const char *e = r->str;

		if (strncmp(e, "NOAUTH", 6) == 0)
			snprintf(out, sizeof(out), "Redis at %s refused the password "
			    "(REDIS_URL has none): %s (check REDIS_URL)", where, e);
		else
			snprintf(out, sizeof(out), "Redis at %s: PING failed: %s",
			    where, e);
		/* LOADING: a restarted Redis reading its dump; it passes. */
		answer(strncmp(e, "LOADING", 7) == 0 ? P_TRANSIENT : P_FATAL, out,
		    NULL);
	}
	freeReplyObject(r);
	r = redisCommand(c, "INFO server");
	if (r != NULL && r->type == REDIS_REPLY_STRING &&
	    (p = strstr(r->str, "redis_version:")) != NULL)
		snprintf(ver, sizeof(ver), "%.*s", (int)strcspn(p + 14, "\r\n"),
		    p + 14);
	freeReplyObject(r);
	snprintf(out, sizeof(out), "Redis %s at %s, database %d", ver, where,
	    u.db);
	answer(P_OK, out, json_pack("{s:s,s:i}", "version", ver, "database",
	    u.db));
}

int
main(int argc, char **argv)
{
	const char	*url = getenv("TEND_PROBE_URL"), *why;
	unsigned long	 ul;

	/* Never outlive tendd, least of all while holding the lock. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (argc < 3 || url == NULL ||
	    parse_uint(argv[2], 1, 24UL * 3600 * 1000, &ul, &why) != 0) {
		fprintf(stderr, "usage: TEND_PROBE_URL=URL tend-probe "
		    "pg|redis|createdb|lock TIMEOUT_MS [NAME]\n");
		return 2;
	}
	timeout_ms = ul;
	t0 = now_ms();
	if (strcmp(argv[1], "pg") == 0 && argc == 3)
		do_pg(url);
	if (strcmp(argv[1], "redis") == 0 && argc == 3)
		do_redis(url);
	if (strcmp(argv[1], "createdb") == 0 && argc == 4)
		do_createdb(url, argv[3]);
	if (strcmp(argv[1], "lock") == 0 && argc == 4)
		do_lock(url, argv[3]);
	fprintf(stderr, "tend-probe: unknown mode %s\n", argv[1]);
	return 2;
}
