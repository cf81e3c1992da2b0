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
 * line, where every user could read its password.  tendd runs the probe
 * as the app's user, in an environment of its own making; the URL is the
 * app's, so the probe trusts nothing in it beyond what url.c honours:
 * libpq gets keyword/value arrays of those parts (expand_dbname = 0, no
 * password file, no PG* variable), never the URL string.
 *
 * "ok" is 1 (fine), 0 (will not fix itself: a wrong password) or -1 (may
 * pass by itself: refused, no answer, too many connections).  Sentences
 * are tend's own, built from host, port, user and database names: never
 * a password, and never libpq's or hiredis's error text, which can quote
 * parts of a connection string.
 */
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <ctype.h>
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

/* No password file, whatever the environment says: a path that cannot
 * exist (libpq warns on stderr about /dev/null, "not a plain file"). */
#define NO_PASSFILE	"/dev/null/none"

extern char	**environ;

static uint64_t	timeout_ms;

static json_t	*pg_missing_db(PGconn *);
static uint64_t	t0;

static int
left_ms(void)
{
	uint64_t	used = time_mono_ms() - t0;

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

/* The connection open now, closed before an answer ends the program
 * (the server sees a clean goodbye; nothing is left for a leak check). */
static PGconn	*open_conn;

static void __attribute__((noreturn))
answer(int ok, const char *detail, json_t *info)
{
	json_t	*o = json_pack("{s:i,s:s}", "ok", ok, "detail", detail);

	if (o != NULL && info != NULL)
		json_object_set_new(o, "info", info);
	emit(o);
	if (open_conn != NULL)
		PQfinish(open_conn);
	exit(0);
}

/* --- PostgreSQL -------------------------------------------------------- */

/* Where the connection went, for sentences: "host:port", or a socket
 * directory's path and port. */
static void
pg_where(PGconn *conn, const struct pg_url *u, char *out, size_t len)
{
	const char	*host = conn != NULL ? PQhost(conn) : NULL,
			*port = conn != NULL ? PQport(conn) : NULL;

	if (host == NULL || *host == '\0')
		host = u != NULL && u->host[0] ? u->host : "localhost";
	if (port == NULL || *port == '\0')
		port = u != NULL && u->port[0] ? u->port : "5432";
	if (*host == '/')
		snprintf(out, len, "the socket in %s (port %s)", host, port);
	else
		snprintf(out, len, strchr(host, ':') != NULL ? "[%s]:%s" :
		    "%s:%s", host, port);
}

static int
has(const char *msg, const char *what)
{
	return strstr(msg, what) != NULL;
}

/*
 * libpq's failure, told in tend's words; the class of the failure.  The
 * message is only matched, never quoted: it can carry parts of the
 * connection's settings.
 */
static int
pg_explain(PGconn *conn, const struct pg_url *u, char *out, size_t len)
{
	const char	*msg = PQerrorMessage(conn), *db = PQdb(conn),
			*user = PQuser(conn);
	char		 w[300], host[260], port[16];
	const char	*h = PQhost(conn), *p = PQport(conn);

	pg_where(conn, u, w, sizeof(w));
	snprintf(host, sizeof(host), "%s", h && *h ? h : "localhost");
	snprintf(port, sizeof(port), "%s", p && *p ? p : "5432");
	db = db != NULL ? db : "?";
	user = user != NULL ? user : "?";
	if (has(msg, "does not exist") && has(msg, "database \"")) {
		snprintf(out, len, "database \"%.63s\" does not exist on %s; "
		    "create it with: createdb -h %.100s -p %s -U %.63s %.63s  (or: "
		    "CREATE DATABASE \"%.63s\";, or set create_database = yes)",
		    db, w, host, port, user, db, db);
		return P_FATAL;
	}
	if (has(msg, "does not exist") && has(msg, "role \"")) {
		snprintf(out, len, "PostgreSQL at %s has no role \"%s\" (the user "
		    "in DATABASE_URL)", w, user);
		return P_FATAL;
	}
	if (has(msg, "password authentication failed") ||
	    has(msg, "authentication failed for user")) {
		if (has(msg, "Peer authentication"))
			snprintf(out, len, "peer authentication failed for user "
			    "\"%s\" at %s: the app's user is not that role "
			    "(set user = or a password in DATABASE_URL)", user, w);
		else
			snprintf(out, len, "authentication failed for user \"%s\" "
			    "on %s: check the password in DATABASE_URL", user, w);
		return P_FATAL;
	}
	if (has(msg, "no password supplied")) {
		snprintf(out, len, "PostgreSQL on %s wants a password for user "
		    "\"%s\" and DATABASE_URL has none", w, user);
		return P_FATAL;
	}
	if (has(msg, "pg_hba.conf")) {
		snprintf(out, len, "PostgreSQL on %s does not let user \"%s\" "
		    "connect to database \"%s\" from here (no pg_hba.conf entry%s)",
		    w, user, db, has(msg, "no encryption") ? " without SSL: "
		    "try sslmode=require" : "");
		return P_FATAL;
	}
	if (has(msg, "permission denied for database")) {
		snprintf(out, len, "user \"%s\" may not connect to database "
		    "\"%s\" on %s (GRANT CONNECT)", user, db, w);
		return P_FATAL;
	}
	if (has(msg, "too many connections for role")) {
		snprintf(out, len, "too many connections: user \"%s\" has reached "
		    "its own connection limit on %s (ALTER ROLE ... CONNECTION "
		    "LIMIT)", user, w);
		return P_TRANSIENT;
	}
	if (has(msg, "too many clients") ||
	    has(msg, "connection slots are reserved")) {
		snprintf(out, len, "too many connections: PostgreSQL on %s has "
		    "reached max_connections", w);
		return P_TRANSIENT;
	}
	if (has(msg, "does not support SSL")) {
		snprintf(out, len, "PostgreSQL on %s does not support SSL, and "
		    "sslmode in DATABASE_URL requires it", w);
		return P_FATAL;
	}
	if (has(msg, "root certificate") || has(msg, "certificate verify") ||
	    has(msg, "does not match host name")) {
		snprintf(out, len, "the certificate of PostgreSQL on %s could not "
		    "be verified (sslmode=verify-ca/verify-full reads "
		    "~/.postgresql/root.crt of the app's user)", w);
		return P_FATAL;
	}
	if (has(msg, "SSL") || has(msg, "encryption")) {
		snprintf(out, len, "SSL negotiation with PostgreSQL on %s failed "
		    "(see sslmode in DATABASE_URL)", w);
		return P_FATAL;
	}
	if (has(msg, "Connection refused")) {
		snprintf(out, len, "PostgreSQL unreachable at %s: connection "
		    "refused (is it running, and on that port?)", w);
		return P_TRANSIENT;
	}
	if (has(msg, "No such file or directory") && *host == '/') {
		snprintf(out, len, "PostgreSQL unreachable at %s: no socket "
		    "there (is it running, and on that port?)", w);
		return P_TRANSIENT;
	}
	if (has(msg, "Permission denied")) {
		snprintf(out, len, "PostgreSQL unreachable at %s: the app's user "
		    "may not connect there (permission denied)", w);
		return P_FATAL;
	}
	if (has(msg, "could not translate host name")) {
		snprintf(out, len, "PostgreSQL host %s does not resolve", host);
		return P_TRANSIENT;
	}
	if (has(msg, "Network is unreachable") || has(msg, "No route to host")) {
		snprintf(out, len, "PostgreSQL unreachable at %s: no route to it",
		    w);
		return P_TRANSIENT;
	}
	if (has(msg, "starting up") || has(msg, "not yet accepting")) {
		snprintf(out, len, "PostgreSQL at %s is starting up", w);
		return P_TRANSIENT;
	}
	if (has(msg, "shutting down")) {
		snprintf(out, len, "PostgreSQL at %s is shutting down", w);
		return P_TRANSIENT;
	}
	if (has(msg, "recovery")) {
		snprintf(out, len, "PostgreSQL at %s is in recovery", w);
		return P_TRANSIENT;
	}
	if (has(msg, "server closed the connection")) {
		snprintf(out, len, "PostgreSQL at %s closed the connection", w);
		return P_TRANSIENT;
	}
	if (has(msg, "timeout") || has(msg, "timed out")) {
		snprintf(out, len, "PostgreSQL unreachable at %s: no answer in "
		    "time", w);
		return P_TRANSIENT;
	}
	if (has(msg, "invalid response") || has(msg, "expected authentication") ||
	    has(msg, "protocol")) {
		snprintf(out, len, "the server at %s does not answer like "
		    "PostgreSQL", w);
		return P_FATAL;
	}
	snprintf(out, len, "PostgreSQL at %s: the connection failed (connect "
	    "with psql as the app's user, with the same settings, to see "
	    "why)", w);
	return P_FATAL;
}

/*
 * Connect without blocking past the deadline: PQconnectStartParams and
 * PQconnectPoll under poll(2), with the parts url.c honoured and nothing
 * else: no password file, dbname taken as a name (expand_dbname = 0).
 * Exits with the answer on failure.
 */
static PGconn *
pg_connect(const struct pg_url *u, const char *dbname, const char *appname)
{
	const char		*kw[10], *val[10];
	char			 out[1024], w[300];
	PGconn			*conn;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	struct pollfd		 pfd;
	int			 n = 0, r;

#define PG_KW(k, v) do {						\
	if ((v) != NULL && *(v) != '\0') {				\
		kw[n] = (k);						\
		val[n++] = (v);						\
	}								\
} while (0)
	PG_KW("host", u->host);
	PG_KW("port", u->port);
	PG_KW("user", u->user);
	PG_KW("password", u->pass);
	PG_KW("dbname", dbname != NULL ? dbname : u->db);
	PG_KW("sslmode", u->sslmode);
	PG_KW("passfile", NO_PASSFILE);
	PG_KW("application_name", appname);
#undef PG_KW
	kw[n] = val[n] = NULL;
	conn = PQconnectStartParams(kw, val, 0);
	if (conn == NULL)
		answer(P_TRANSIENT, "out of memory", NULL);
	open_conn = conn;
	if (PQstatus(conn) == CONNECTION_BAD) {
		r = pg_explain(conn, u, out, sizeof(out));
		answer(r, out, NULL);
	}
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			r = pg_explain(conn, u, out, sizeof(out));
			answer(r, out, pg_missing_db(conn));
		}
		pfd.fd = PQsocket(conn);
		pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		if ((r = poll(&pfd, 1, left_ms())) == 0 || left_ms() == 0) {
			pg_where(conn, u, w, sizeof(w));
			snprintf(out, sizeof(out), "PostgreSQL unreachable at %s: "
			    "no answer within %u ms (a firewall dropping packets, "
			    "or a server that does not accept)", w,
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

/*
 * A server's error text, made one safe line: the server's own primary
 * message (it never holds the password), or, for an error libpq made up
 * itself (a lost connection), tend's words.
 */
static void
pg_result_error(PGconn *conn, const PGresult *res, char *out, size_t len)
{
	const char	*state = res != NULL ?
			    PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL,
			*prim = res != NULL ?
			    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char		 w[300];
	size_t		 i;

	pg_where(conn, NULL, w, sizeof(w));
	if (state == NULL || prim == NULL) {
		snprintf(out, len, "PostgreSQL at %s: the connection was lost",
		    w);
		return;
	}
	snprintf(out, len, "PostgreSQL at %s: %.300s (SQLSTATE %.5s)", w, prim,
	    state);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20)
			out[i] = ' ';
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
		pg_result_error(conn, res, out, sizeof(out));
		answer(P_FATAL, out, NULL);
	}
	return res;
}

static void __attribute__((noreturn))
do_pg(const struct pg_url *u)
{
	PGconn		*conn = pg_connect(u, NULL, "tend check");
	PGresult	*res;
	char		 out[700], w[300];
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
	pg_where(conn, u, w, sizeof(w));
	snprintf(out, sizeof(out), "PostgreSQL %.64s at %s, database %s, %s of "
	    "%d connections in use (max_connections %d, %d kept for "
	    "superusers)", PQgetvalue(res, 0, 0), w,
	    PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 3), max - reserved, max,
	    reserved);
	answer(P_OK, out, json_pack("{s:s,s:i,s:i,s:i,s:s,s:s}",
	    "version", PQgetvalue(res, 0, 0), "max_connections", max,
	    "available", max - reserved,
	    "connections", atoi(PQgetvalue(res, 0, 3)),
	    "database", PQgetvalue(res, 0, 4), "user", PQgetvalue(res, 0, 5)));
}

static void __attribute__((noreturn))
do_createdb(const struct pg_url *u, const char *name)
{
	PGconn	*conn = pg_connect(u, "postgres", "tend create_database");
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
do_lock(const struct pg_url *u, const char *app)
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
	conn = pg_connect(u, NULL, name);
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

/* A Redis error reply's code ("ERR", "NOAUTH", "WRONGPASS"): its first
 * word if that is one, for sentences; the rest is never quoted. */
static void
redis_code(const char *e, char *out, size_t len)
{
	size_t	n = 0;

	while (n + 1 < len && isupper((unsigned char)e[n])) {
		out[n] = e[n];
		n++;
	}
	out[n] = '\0';
	if (n == 0 || (e[n] != ' ' && e[n] != '\0'))
		snprintf(out, len, "an error");
}

/* hiredis's connect failure (strerror or gai_strerror text), told in
 * tend's words. */
static void __attribute__((noreturn))
redis_unreachable(const redisContext *c, const struct redis_url *u,
    const char *where)
{
	const char	*e = c->errstr;
	char		 out[500];
	int		 ok = P_TRANSIENT;

	if (strstr(e, "refused") != NULL)
		snprintf(out, sizeof(out), "Redis unreachable at %s: connection "
		    "refused (is it running, and on that port?)", where);
	else if (strstr(e, "not known") != NULL ||
	    strstr(e, "name resolution") != NULL ||
	    strstr(e, "No address") != NULL)
		snprintf(out, sizeof(out), "Redis host %s does not resolve",
		    u->host);
	else if (strstr(e, "timed out") != NULL ||
	    strstr(e, "in progress") != NULL)
		snprintf(out, sizeof(out), "Redis unreachable at %s: no answer "
		    "within %u ms", where, (unsigned)timeout_ms);
	else if (strstr(e, "unreachable") != NULL ||
	    strstr(e, "No route") != NULL)
		snprintf(out, sizeof(out), "Redis unreachable at %s: no route to "
		    "it", where);
	else {
		snprintf(out, sizeof(out), "Redis unreachable at %s: the "
		    "connection failed", where);
		ok = P_FATAL;
	}
	answer(ok, out, NULL);
}

static void __attribute__((noreturn))
do_redis(const struct redis_url *u)
{
	const char	*p;
	char		 where[300], out[700], ver[64] = "?", code[16];
	struct timeval	 tv;
	redisContext	*c;
	redisReply	*r;
	int		 ms;
	size_t		 i;

	if (u->tls)
		answer(P_FATAL, "REDIS_URL: rediss:// (TLS) is not supported by "
		    "this check", NULL);
	snprintf(where, sizeof(where), strchr(u->host, ':') != NULL ?
	    "[%s]:%d" : "%s:%d", u->host, u->port);
	ms = left_ms();
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	c = redisConnectWithTimeout(u->host, u->port, tv);
	if (c == NULL)
		answer(P_TRANSIENT, "out of memory", NULL);
	if (c->err)
		redis_unreachable(c, u, where);
	ms = left_ms();
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	redisSetTimeout(c, tv);
	if (u->pass[0] != '\0') {
		r = u->user[0] != '\0' ?
		    redisCommand(c, "AUTH %s %s", u->user, u->pass) :
		    redisCommand(c, "AUTH %s", u->pass);
		if (r == NULL)
			redis_lost(c, where);
		if (r->type == REDIS_REPLY_ERROR) {
			if (strstr(r->str, "without any password") != NULL ||
			    strstr(r->str, "no password is set") != NULL)
				snprintf(out, sizeof(out), "Redis at %s has no "
				    "password set, and REDIS_URL gives one", where);
			else
				snprintf(out, sizeof(out), "Redis at %s refused the "
				    "password%s%s%s (check REDIS_URL)", where,
				    u->user[0] ? " of user \"" : "", u->user[0] ?
				    u->user : "", u->user[0] ? "\"" : "");
			answer(P_FATAL, out, NULL);
		}
		freeReplyObject(r);
	}
	if (u->db != 0) {
		r = redisCommand(c, "SELECT %d", u->db);
		if (r == NULL)
			redis_lost(c, where);
		if (r->type == REDIS_REPLY_ERROR) {
			redis_code(r->str, code, sizeof(code));
			if (strcmp(code, "LOADING") == 0)
				snprintf(out, sizeof(out), "Redis at %s is loading "
				    "its data", where);
			else if (strstr(r->str, "out of range") != NULL)
				snprintf(out, sizeof(out), "Redis at %s has no "
				    "database %d (see databases in redis.conf)",
				    where, u->db);
			else
				snprintf(out, sizeof(out), "Redis at %s: SELECT %d "
				    "failed (%s)", where, u->db, code);
			answer(strcmp(code, "LOADING") == 0 ? P_TRANSIENT :
			    P_FATAL, out, NULL);
		}
		freeReplyObject(r);
	}
	r = redisCommand(c, "PING");
	if (r == NULL)
		redis_lost(c, where);
	if (r->type == REDIS_REPLY_ERROR) {
		redis_code(r->str, code, sizeof(code));
		if (strcmp(code, "NOAUTH") == 0)
			snprintf(out, sizeof(out), "Redis at %s refused the "
			    "connection: it wants a password and REDIS_URL has "
			    "none", where);
		else if (strcmp(code, "LOADING") == 0)
			snprintf(out, sizeof(out), "Redis at %s is loading its "
			    "data", where);
		else
			snprintf(out, sizeof(out), "Redis at %s: PING failed (%s)",
			    where, code);
		/* LOADING: a restarted Redis reading its dump; it passes. */
		answer(strcmp(code, "LOADING") == 0 ? P_TRANSIENT : P_FATAL, out,
		    NULL);
	}
	freeReplyObject(r);
	r = redisCommand(c, "INFO server");
	if (r != NULL && r->type == REDIS_REPLY_STRING &&
	    (p = strstr(r->str, "redis_version:")) != NULL) {
		snprintf(ver, sizeof(ver), "%.*s", (int)strcspn(p + 14, "\r\n"),
		    p + 14);
		/* A version is digits and dots; anything else is not shown. */
		for (i = 0; ver[i] != '\0'; i++)
			if (!isdigit((unsigned char)ver[i]) && ver[i] != '.')
				break;
		if (ver[i] != '\0' || i == 0)
			snprintf(ver, sizeof(ver), "?");
	}
	freeReplyObject(r);
	snprintf(out, sizeof(out), "Redis %s at %s, database %d", ver, where,
	    u->db);
	answer(P_OK, out, json_pack("{s:s,s:i}", "version", ver, "database",
	    u->db));
}

/*
 * libpq reads PG* variables as defaults for every setting not given
 * (PGOPTIONS, PGSSLKEY, PGSERVICE...): tendd gives the probe none, and the
 * probe drops any it was given anyway.
 */
static void
drop_pg_environment(void)
{
	char	name[128], **e;
	size_t	n;

again:
	for (e = environ; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, "PG", 2) != 0)
			continue;
		n = strcspn(*e, "=");
		if (n >= sizeof(name))
			continue;
		memcpy(name, *e, n);
		name[n] = '\0';
		if (unsetenv(name) == 0)
			goto again;	/* environ changed under us */
	}
}

int
main(int argc, char **argv)
{
	const char		*url = getenv("TEND_PROBE_URL"), *why;
	char			 err[256], out[400];
	unsigned long		 ul;
	static struct pg_url	 pu;
	static struct redis_url	 ru;
	int			 pg;

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
	t0 = time_mono_ms();
	drop_pg_environment();
	pg = strcmp(argv[1], "redis") != 0;
	/* Refused before anything connects. */
	if (pg ? pg_url_parse(url, &pu, err, sizeof(err)) != 0 :
	    redis_url_parse(url, &ru, err, sizeof(err)) != 0) {
		snprintf(out, sizeof(out), "%s: %s", pg ? "DATABASE_URL" :
		    "REDIS_URL", err);
		answer(P_FATAL, out, NULL);
	}
	if (strcmp(argv[1], "pg") == 0 && argc == 3)
		do_pg(&pu);
	if (strcmp(argv[1], "redis") == 0 && argc == 3)
		do_redis(&ru);
	if (strcmp(argv[1], "createdb") == 0 && argc == 4)
		do_createdb(&pu, argv[3]);
	if (strcmp(argv[1], "lock") == 0 && argc == 4)
		do_lock(&pu, argv[3]);
	fprintf(stderr, "tend-probe: unknown mode %s\n", argv[1]);
	return 2;
}
