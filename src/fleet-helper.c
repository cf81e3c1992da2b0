/*
 * fleet-helper.c: tend-fleet, the program that holds a fleet host's
 * connection to the PostgreSQL its hosts coordinate through ([fleet]
 * database).  tendd runs it (fleet-run.c) as an unprivileged user, for
 * as long as [fleet] is set, and talks to it in JSON lines: requests on
 * stdin, answers and events on stdout.  libpq (and the TLS stack it
 * brings) stays out of the root daemon.
 *
 * It creates and migrates tend's schema (tend.schema_version says which
 * version a database has), writes this host's heartbeat each time
 * tendd sends one (every lease/3: a tendd whose loop is stuck sends none,
 * and its host goes stale like a dead one), and answers:
 *
 *   {"op":"beat","apps":{..},"status":S}   write this host's heartbeat
 *   {"id":N,"op":"status"}                  every host, the fleet deploy
 *   {"id":N,"op":"releases","app":A}        which hosts ran which release
 *   {"id":N,"op":"acquire","app":A,"kind":K,"ref":R}
 *                                           take the deploy lease
 *   {"id":N,"op":"renew","generation":G}
 *   {"id":N,"op":"step","generation":G,"host":H,"step":S,"detail":D}
 *   {"id":N,"op":"release","generation":G,"state":S,"detail":D,"sha":H}
 *   {"id":N,"op":"order","generation":G,"host":H,"word":W,"detail":D}
 *   {"id":N,"op":"orders"}           the running deploy, this host's order;
 *                                    with none, each app's fleet release
 *   {"id":N,"op":"hoststep","generation":G,"step":S,"detail":D}
 *   {"id":N,"op":"claim","generation":G,"app":A,"sha":S}
 *   {"id":N,"op":"migrated","generation":G,"app":A,"sha":S}
 *   {"id":N,"op":"migration","app":A,"sha":S}   is it recorded done
 *
 * with {"id":N,"ok":1,...} or {"id":N,"ok":0,"detail":..} (and
 * "fenced":true when a write's generation no longer holds the lease).
 * Events: {"event":"up","schema":V}, {"event":"down","detail":..},
 * {"event":"beat","db_time":..}.
 *
 * PgBouncer in transaction mode shares server connections between
 * transactions, so nothing here relies on a session: no advisory locks,
 * no named prepared statements, no SET; every statement is one short
 * transaction, and the clock is the database's (now()), never a host's.
 * The lease is a row: taking it is one UPDATE that succeeds only when
 * the last lease ran out, and bumps a generation; every later write of
 * the holder names that generation and the lease's end, so a holder
 * that froze, or lost the database, past its lease writes nothing.
 *
 * A query that does not answer within QUERY_MS ends the connection: the
 * helper reconnects with a growing delay and answers "down" meanwhile.
 * Sentences are tend's own, never libpq's (which may quote the URL).
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

#include <jansson.h>
#include <libpq-fe.h>

#include "tend.h"

/* One request line from tendd; anything longer is not tendd's. */
#define REQ_MAX		(64 * 1024)
/* A query's time limit: past it the connection is given up. */
#define QUERY_MS	5000
/* A connection's, TLS and SCRAM included. */
#define CONNECT_MS	10000
/* Reconnect delays: from 500 ms doubling to 10 s. */
#define RETRY_MIN_MS	500
#define RETRY_MAX_MS	10000
#define NO_PASSFILE	"/dev/null/none"

static const char	*host;		/* this host's name */
static uint64_t		 lease_ms;
static struct pg_url	 url;
static PGconn		*conn;
static int		 schema;	/* the version in the database */
static json_t		*apps;		/* what the heartbeat says */
static char		 status_word[32] = "up";
static char		 down_why[512];	/* last "down" said, "" none */
static int		 beat_now;	/* tendd asked for a heartbeat */
static int		 told;		/* it said what this host runs */

/* The schema, one step per version; each runs once, in a transaction
 * holding tend.schema_version's lock, and is never edited once shipped:
 * a change is a new step, and only adds (an older tend on another host
 * keeps working with a newer schema while the fleet is upgraded). */
static const char *const schema_steps[] = {
	/* 1: heartbeats and the deploy lease */
	"CREATE TABLE tend.host ("
	"  host text PRIMARY KEY,"
	"  apps jsonb NOT NULL DEFAULT '{}',"
	"  status text NOT NULL DEFAULT 'up',"
	"  beat_at timestamptz NOT NULL,"
	"  up_since timestamptz NOT NULL);"
	"CREATE TABLE tend.lease ("
	"  name text PRIMARY KEY,"
	"  holder text, app text, kind text, ref text, state text,"
	"  detail text, since timestamptz,"
	"  lease_until timestamptz NOT NULL DEFAULT '-infinity',"
	"  generation bigint NOT NULL DEFAULT 0);"
	"INSERT INTO tend.lease (name) VALUES ('deploy');"
	"CREATE TABLE tend.step ("
	"  generation bigint NOT NULL, host text NOT NULL,"
	"  step text NOT NULL, detail text, at timestamptz NOT NULL,"
	"  PRIMARY KEY (generation, host));",
	/* 2: which hosts ran which release (releases --fleet) */
	"CREATE TABLE tend.host_release ("
	"  host text NOT NULL, app text NOT NULL, release text NOT NULL,"
	"  first_seen timestamptz NOT NULL, last_seen timestamptz NOT NULL,"
	"  PRIMARY KEY (host, app, release));",
	/* 3: each release's migration, run once in the fleet */
	"CREATE TABLE tend.migration ("
	"  app text NOT NULL, sha text NOT NULL, host text NOT NULL,"
	"  generation bigint NOT NULL, done boolean NOT NULL DEFAULT false,"
	"  at timestamptz NOT NULL, PRIMARY KEY (app, sha));"
	/* what the holder tells each host (tend.step is what the host
	 * says): two rows, so neither overwrites the other */
	"CREATE TABLE tend.fleet_order ("
	"  generation bigint NOT NULL, host text NOT NULL,"
	"  word text NOT NULL, detail text, at timestamptz NOT NULL,"
	"  PRIMARY KEY (generation, host));",
	/* 4: the sha each app's last finished fleet deploy left the fleet
	 * on: a host that was away converges to it */
	"CREATE TABLE tend.fleet_release ("
	"  app text PRIMARY KEY, sha text NOT NULL,"
	"  generation bigint NOT NULL, at timestamptz NOT NULL);",
};
#define SCHEMA_VERSION	((int)(sizeof(schema_steps) / sizeof(schema_steps[0])))

static void
emit(json_t *o)
{
	char	*s;

	if (o == NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL)
		exit(2);
	if (printf("%s\n", s) < 0 || fflush(stdout) != 0)
		exit(0);	/* tendd is gone */
	free(s);
	json_decref(o);
}

static void
where(char *out, size_t len)
{
	snprintf(out, len, "%s%s%s", url.host[0] ? url.host : "localhost",
	    url.port[0] ? ":" : "", url.port);
}

/* The connection is over: say why, once per change. */
static void
go_down(const char *why)
{
	if (conn != NULL)
		PQfinish(conn);
	conn = NULL;
	schema = 0;
	if (strcmp(why, down_why) == 0)
		return;
	snprintf(down_why, sizeof(down_why), "%s", why);
	emit(json_pack("{s:s,s:s}", "event", "down", "detail", why));
}

/* libpq's failure to connect, in tend's words (its text may quote the
 * connection's settings: matched, never printed). */
static void
connect_failed(const char *msg)
{
	char	w[300], out[900];

	where(w, sizeof(w));
	if (strstr(msg, "password authentication failed") != NULL ||
	    strstr(msg, "authentication failed") != NULL)
		snprintf(out, sizeof(out), "fleet database at %s: authentication "
		    "failed for user \"%s\"", w, url.user);
	else if (strstr(msg, "does not exist") != NULL)
		snprintf(out, sizeof(out), "fleet database at %s: database "
		    "\"%s\" or role \"%s\" does not exist", w, url.db, url.user);
	else if (strstr(msg, "Connection refused") != NULL)
		snprintf(out, sizeof(out), "fleet database unreachable at %s: "
		    "connection refused", w);
	else if (strstr(msg, "pg_hba.conf") != NULL)
		snprintf(out, sizeof(out), "fleet database at %s: no "
		    "pg_hba.conf entry lets user \"%s\" in", w, url.user);
	else
		snprintf(out, sizeof(out), "fleet database unreachable at %s",
		    w);
	go_down(out);
}

/* Wait for the connection's socket; 0 on time out. */
static int
wait_sock(int for_write, uint64_t deadline)
{
	struct pollfd	pfd;
	uint64_t	now;
	int		r;

	for (;;) {
		if ((now = time_mono_ms()) >= deadline)
			return 0;
		pfd.fd = PQsocket(conn);
		pfd.events = for_write ? POLLOUT : POLLIN;
		r = poll(&pfd, 1, (int)(deadline - now));
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return 0;
	}
}

/* "schema tend already exists, skipping": not worth tendd's log. */
static void
notice_cb(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int
pg_open(void)
{
	const char		*kw[16], *val[16];
	char			 tmo[32], w[300], out[400];
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	uint64_t		 deadline = time_mono_ms() + CONNECT_MS;
	int			 n = 0;

#define KW(k, v) do {							\
	if ((v) != NULL && *(v) != '\0') {				\
		kw[n] = (k);						\
		val[n++] = (v);						\
	}								\
} while (0)
	/* A link that goes quiet ends the connection within the lease,
	 * not after the kernel's two hours. */
	snprintf(tmo, sizeof(tmo), "%llu", (unsigned long long)lease_ms / 2);
	KW("host", url.host);
	KW("port", url.port);
	KW("user", url.user);
	KW("password", url.pass);
	KW("dbname", url.db);
	KW("sslmode", url.sslmode);
	KW("passfile", NO_PASSFILE);
	KW("application_name", "tend-fleet");
	KW("keepalives", "1");
	KW("keepalives_idle", "5");
	KW("keepalives_interval", "2");
	KW("keepalives_count", "3");
	KW("tcp_user_timeout", tmo);
#undef KW
	kw[n] = val[n] = NULL;
	if ((conn = PQconnectStartParams(kw, val, 0)) == NULL) {
		go_down("out of memory");
		return -1;
	}
	if (PQstatus(conn) == CONNECTION_BAD) {
		connect_failed(PQerrorMessage(conn));
		return -1;
	}
	PQsetNoticeProcessor(conn, notice_cb, NULL);
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			connect_failed(PQerrorMessage(conn));
			return -1;
		}
		if (!wait_sock(st == PGRES_POLLING_WRITING, deadline)) {
			where(w, sizeof(w));
			snprintf(out, sizeof(out), "fleet database unreachable "
			    "at %s: no answer within %d ms", w, CONNECT_MS);
			go_down(out);
			return -1;
		}
		st = PQconnectPoll(conn);
	}
	return 0;
}

/* The server's own message for an error (it never holds the password),
 * as one line. */
static void
result_error(const PGresult *res, char *out, size_t len)
{
	const char	*prim = res != NULL ?
			    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL,
			*state = res != NULL ?
			    PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	size_t		 i;

	if (prim == NULL || state == NULL)
		snprintf(out, len, "the connection to the fleet database was "
		    "lost");
	else
		snprintf(out, len, "fleet database: %.300s (SQLSTATE %.5s)",
		    prim, state);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20)
			out[i] = ' ';
}

/* A script failed inside its BEGIN: end the transaction, or the
 * connection (and, through PgBouncer, its server) stays in it. */
static void
rollback(void)
{
	PGresult	*res;

	if (!PQsendQuery(conn, "ROLLBACK")) {
		go_down("the connection to the fleet database was lost");
		return;
	}
	if (!wait_sock(0, time_mono_ms() + QUERY_MS)) {
		go_down("the fleet database did not answer a ROLLBACK");
		return;
	}
	while (PQisBusy(conn)) {
		if (!PQconsumeInput(conn) ||
		    !wait_sock(0, time_mono_ms() + QUERY_MS)) {
			go_down("the connection to the fleet database was lost");
			return;
		}
	}
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
}

/*
 * One statement (or, with n < 0, a script of several in one simple
 * query: one transaction), bounded by QUERY_MS.  The last result, or
 * NULL with why set; a lost or silent connection is closed (go_down).
 * *state is the SQLSTATE of an error, "" for none.
 */
static PGresult *
query(const char *sql, int n, const char *const *params, char *why,
    size_t wlen, char state[6])
{
	PGresult	*res, *last = NULL;
	uint64_t	 deadline = time_mono_ms() + QUERY_MS;
	int		 sent, flushed;
	const char	*s;

	state[0] = '\0';
	if (conn == NULL) {
		snprintf(why, wlen, "%s", down_why[0] ? down_why :
		    "not connected to the fleet database");
		return NULL;
	}
	sent = n < 0 ? PQsendQuery(conn, sql) :
	    PQsendQueryParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	if (!sent)
		goto lost;
	while ((flushed = PQflush(conn)) == 1)
		if (!wait_sock(1, deadline))
			goto silent;
	if (flushed < 0)
		goto lost;
	for (;;) {
		while (PQisBusy(conn)) {
			if (!wait_sock(0, deadline))
				goto silent;
			if (!PQconsumeInput(conn))
				goto lost;
		}
		if ((res = PQgetResult(conn)) == NULL)
			break;
		PQclear(last);
		last = res;
	}
	if (last == NULL)
		goto lost;
	if (PQresultStatus(last) != PGRES_TUPLES_OK &&
	    PQresultStatus(last) != PGRES_COMMAND_OK) {
		result_error(last, why, wlen);
		s = PQresultErrorField(last, PG_DIAG_SQLSTATE);
		snprintf(state, 6, "%s", s != NULL ? s : "");
		PQclear(last);
		if (PQstatus(conn) == CONNECTION_BAD)
			go_down(why);
		else if (PQtransactionStatus(conn) == PQTRANS_INERROR)
			rollback();
		return NULL;
	}
	return last;
silent:
	PQclear(last);
	snprintf(why, wlen, "the fleet database did not answer within %d ms",
	    QUERY_MS);
	go_down(why);
	return NULL;
lost:
	PQclear(last);
	snprintf(why, wlen, "the connection to the fleet database was lost");
	go_down(why);
	return NULL;
}

/*
 * Bring the schema to SCHEMA_VERSION.  Hosts may start at once: the
 * first statement may race on CREATE ... IF NOT EXISTS (retried), and
 * each step runs under tend.schema_version's table lock (a transaction
 * lock, fine through PgBouncer), skipped when a host did it first.
 */
static int
schema_migrate(void)
{
	static const char create[] =
	    "CREATE SCHEMA IF NOT EXISTS tend;"
	    "CREATE TABLE IF NOT EXISTS tend.schema_version ("
	    "  version int PRIMARY KEY,"
	    "  applied_at timestamptz NOT NULL DEFAULT now(),"
	    "  applied_by text)";
	PGresult	*res;
	char		 why[600], state[6], *sql;
	int		 i, tries;

	for (tries = 0; ; tries++) {
		if ((res = query(create, -1, NULL, why, sizeof(why),
		    state)) != NULL)
			break;
		/* Two hosts creating it at once: one of them loses. */
		if (tries < 3 && (strcmp(state, "23505") == 0 ||
		    strcmp(state, "42P06") == 0 || strcmp(state, "42P07") == 0)) {
			usleep(200 * 1000);
			continue;
		}
		if (conn != NULL)
			go_down(why);
		return -1;
	}
	PQclear(res);
	for (i = 0; i < SCHEMA_VERSION; i++) {
		if (asprintf(&sql, "BEGIN;"
		    "LOCK TABLE tend.schema_version IN EXCLUSIVE MODE;"
		    "DO $tend$ BEGIN"
		    " IF NOT EXISTS (SELECT 1 FROM tend.schema_version"
		    "  WHERE version = %d) THEN %s"
		    "  INSERT INTO tend.schema_version (version, applied_by)"
		    "   VALUES (%d, current_setting('application_name'));"
		    " END IF; END $tend$;"
		    "COMMIT;", i + 1, schema_steps[i], i + 1) < 0)
			exit(2);
		res = query(sql, -1, NULL, why, sizeof(why), state);
		free(sql);
		if (res == NULL) {
			if (conn != NULL)
				go_down(why);
			return -1;
		}
		PQclear(res);
	}
	if ((res = query("SELECT coalesce(max(version), 0)"
	    " FROM tend.schema_version", 0, NULL, why, sizeof(why),
	    state)) == NULL)
		return -1;
	schema = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* Connect and migrate; 0 when up. */
static int
pg_up(void)
{
	if (pg_open() != 0)
		return -1;
	if (schema_migrate() != 0)
		return -1;
	down_why[0] = '\0';
	emit(json_pack("{s:s,s:i}", "event", "up", "schema", schema));
	return 0;
}

/* --- requests ----------------------------------------------------------- */

static json_t *
fail(const char *why)
{
	return json_pack("{s:i,s:s}", "ok", 0, "detail", why);
}

static json_t *
fenced(void)
{
	return json_pack("{s:i,s:b,s:s}", "ok", 0, "fenced", 1, "detail",
	    "this deploy's lease was lost (another generation holds it): "
	    "nothing written");
}

static const char *
val_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static json_t *
jstr_or_null(const PGresult *res, int row, int col)
{
	const char	*s = val_or_null(res, row, col);

	return s != NULL ? json_string(s) : json_null();
}

static json_t *
do_beat(void)
{
	PGresult	*res;
	char		*a, why[600], state[6];
	const char	*p[3];
	json_t		*r;

	if ((a = json_dumps(apps, JSON_COMPACT)) == NULL)
		exit(2);
	p[0] = host;
	p[1] = a;
	p[2] = status_word;
	/* One statement: the host's row and each live release's. */
	res = query("WITH r AS (INSERT INTO tend.host_release"
	    "  (host, app, release, first_seen, last_seen)"
	    "  SELECT $1, a.key, a.value->>'release', now(), now()"
	    "  FROM jsonb_each($2::jsonb) a"
	    "  WHERE coalesce(a.value->>'release', '') <> ''"
	    "  ON CONFLICT (host, app, release) DO UPDATE"
	    "  SET last_seen = now())"
	    " INSERT INTO tend.host AS h (host, apps, status, beat_at,"
	    "  up_since) VALUES ($1, $2::jsonb, $3, now(), now())"
	    " ON CONFLICT (host) DO UPDATE SET apps = excluded.apps,"
	    "  status = excluded.status, beat_at = now(),"
	    "  up_since = CASE WHEN h.status = excluded.status"
	    "   THEN h.up_since ELSE now() END"
	    " RETURNING to_char(now() AT TIME ZONE 'UTC',"
	    "  'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')", 3, p, why, sizeof(why),
	    state);
	free(a);
	if (res == NULL)
		return fail(why);
	r = json_pack("{s:s,s:s}", "event", "beat", "db_time",
	    PQgetvalue(res, 0, 0));
	PQclear(res);
	return r;
}

#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

static json_t *
do_status(void)
{
	PGresult	*res;
	char		 why[600], state[6], lms[32];
	const char	*p[1];
	json_t		*r, *hosts, *h, *d, *steps, *a;
	long long	 gen;
	int		 i;

	snprintf(lms, sizeof(lms), "%llu", (unsigned long long)lease_ms);
	p[0] = lms;
	res = query("SELECT host, apps::text, status, "
	    " (extract(epoch FROM now() - beat_at) * 1000)::bigint,"
	    " " ISO("beat_at") ", " ISO("up_since") ","
	    " now() - beat_at > $1::bigint * interval '1 ms', " ISO("now()")
	    " FROM tend.host ORDER BY host", 1, p, why, sizeof(why), state);
	if (res == NULL)
		return fail(why);
	if ((hosts = json_array()) == NULL)
		exit(2);
	for (i = 0; i < PQntuples(res); i++) {
		a = json_loads(PQgetvalue(res, i, 1), 0, NULL);
		h = json_pack("{s:s,s:o,s:s,s:I,s:s,s:s,s:b}",
		    "host", PQgetvalue(res, i, 0),
		    "apps", a != NULL ? a : json_object(),
		    "status", PQgetvalue(res, i, 2),
		    "age_ms", (json_int_t)atoll(PQgetvalue(res, i, 3)),
		    "beat_at", PQgetvalue(res, i, 4),
		    "up_since", PQgetvalue(res, i, 5),
		    "lost", *PQgetvalue(res, i, 6) == 't');
		if (h == NULL || json_array_append_new(hosts, h) != 0)
			exit(2);
	}
	r = json_pack("{s:i,s:o,s:s,s:i}", "ok", 1, "hosts", hosts,
	    "db_time", PQntuples(res) > 0 ? PQgetvalue(res, 0, 7) : "",
	    "schema", schema);
	PQclear(res);
	if (r == NULL)
		exit(2);
	res = query("SELECT holder, app, kind, ref, state, detail, "
	    ISO("since") ", " ISO("lease_until") ", generation,"
	    " lease_until > now(), " ISO("now()")
	    " FROM tend.lease WHERE name = 'deploy'", 0, NULL, why,
	    sizeof(why), state);
	if (res == NULL) {
		json_decref(r);
		return fail(why);
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		json_decref(r);
		return fail("the fleet lease row is missing");
	}
	json_object_set_new(r, "db_time", json_string(PQgetvalue(res, 0, 10)));
	gen = atoll(PQgetvalue(res, 0, 8));
	if (val_or_null(res, 0, 0) == NULL) {
		json_object_set_new(r, "deploy", json_null());
		PQclear(res);
		return r;
	}
	d = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:b}",
	    "holder", jstr_or_null(res, 0, 0), "app", jstr_or_null(res, 0, 1),
	    "kind", jstr_or_null(res, 0, 2), "ref", jstr_or_null(res, 0, 3),
	    "state", jstr_or_null(res, 0, 4), "detail", jstr_or_null(res, 0, 5),
	    "since", jstr_or_null(res, 0, 6),
	    "lease_until", jstr_or_null(res, 0, 7),
	    "generation", (json_int_t)gen,
	    "held", *PQgetvalue(res, 0, 9) == 't');
	PQclear(res);
	if (d == NULL)
		exit(2);
	json_object_set_new(r, "deploy", d);
	snprintf(lms, sizeof(lms), "%lld", gen);
	res = query("SELECT host, step, detail, " ISO("at") " FROM tend.step"
	    " WHERE generation = $1::bigint ORDER BY at, host", 1, p, why,
	    sizeof(why), state);
	if (res == NULL) {
		json_decref(r);
		return fail(why);
	}
	if ((steps = json_array()) == NULL)
		exit(2);
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(steps, json_pack("{s:s,s:s,s:o,s:s}",
		    "host", PQgetvalue(res, i, 0), "step", PQgetvalue(res, i, 1),
		    "detail", jstr_or_null(res, i, 2),
		    "at", PQgetvalue(res, i, 3)));
	json_object_set_new(d, "steps", steps);
	PQclear(res);
	return r;
}

/* Which hosts ran which release of an app, newest first. */
static json_t *
do_releases(json_t *req)
{
	PGresult	*res;
	char		 why[600], state[6], lms[32];
	const char	*p[2];
	json_t		*r, *runs;
	int		 i;

	snprintf(lms, sizeof(lms), "%llu", (unsigned long long)lease_ms);
	if ((p[0] = json_string_value(json_object_get(req, "app"))) == NULL)
		return fail("releases needs an app");
	p[1] = lms;
	res = query("SELECT r.release, r.host, " ISO("r.first_seen") ", "
	    ISO("r.last_seen") ","
	    " coalesce(h.apps->$1->>'release' = r.release, false),"
	    " coalesce(now() - h.beat_at > $2::bigint * interval '1 ms', true)"
	    " FROM tend.host_release r LEFT JOIN tend.host h USING (host)"
	    " WHERE r.app = $1 ORDER BY r.first_seen DESC, r.host LIMIT 1000",
	    2, p, why, sizeof(why), state);
	if (res == NULL)
		return fail(why);
	if ((runs = json_array()) == NULL)
		exit(2);
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(runs, json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}",
		    "release", PQgetvalue(res, i, 0),
		    "host", PQgetvalue(res, i, 1),
		    "first_seen", PQgetvalue(res, i, 2),
		    "last_seen", PQgetvalue(res, i, 3),
		    "current", *PQgetvalue(res, i, 4) == 't',
		    "lost", *PQgetvalue(res, i, 5) == 't'));
	r = json_pack("{s:i,s:s,s:o}", "ok", 1, "app", p[0], "runs", runs);
	PQclear(res);
	return r;
}

/*
 * Take the lease: one UPDATE, which only a lease that ran out lets
 * through; or say who holds it and since when.
 */
static json_t *
do_acquire(json_t *req)
{
	PGresult	*res;
	char		 why[600], state[6], lms[32];
	const char	*p[5];
	json_t		*r;

	snprintf(lms, sizeof(lms), "%llu", (unsigned long long)lease_ms);
	p[0] = host;
	p[1] = json_string_value(json_object_get(req, "app"));
	p[2] = json_string_value(json_object_get(req, "kind"));
	p[3] = json_string_value(json_object_get(req, "ref"));
	p[4] = lms;
	if (p[1] == NULL || p[2] == NULL)
		return fail("acquire needs app and kind");
	res = query("UPDATE tend.lease SET holder = $1, app = $2, kind = $3,"
	    " ref = $4, state = 'running', detail = NULL, since = now(),"
	    " lease_until = now() + $5::bigint * interval '1 ms',"
	    " generation = generation + 1"
	    " WHERE name = 'deploy' AND lease_until < now()"
	    " RETURNING generation, " ISO("lease_until"), 5, p, why,
	    sizeof(why), state);
	if (res == NULL)
		return fail(why);
	if (PQntuples(res) == 1) {
		r = json_pack("{s:i,s:I,s:s}", "ok", 1, "generation",
		    (json_int_t)atoll(PQgetvalue(res, 0, 0)), "lease_until",
		    PQgetvalue(res, 0, 1));
		PQclear(res);
		return r;
	}
	PQclear(res);
	res = query("SELECT holder, app, kind, " ISO("since") ", generation"
	    " FROM tend.lease WHERE name = 'deploy'", 0, NULL, why,
	    sizeof(why), state);
	if (res == NULL)
		return fail(why);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return fail("the fleet lease row is missing");
	}
	snprintf(why, sizeof(why), "a fleet %s of %s is running: held by "
	    "%s since %s", PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1),
	    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 3));
	r = json_pack("{s:i,s:s,s:s,s:s,s:s,s:I}", "ok", 0, "detail", why,
	    "holder", PQgetvalue(res, 0, 0), "app", PQgetvalue(res, 0, 1),
	    "since", PQgetvalue(res, 0, 3), "generation",
	    (json_int_t)atoll(PQgetvalue(res, 0, 4)));
	PQclear(res);
	return r;
}

/* A write of the holder: "$1" is the generation, "$2" this host;
 * the statement affects no row once the lease is not ours. */
#define HELD	" EXISTS (SELECT 1 FROM tend.lease WHERE name = 'deploy'" \
	" AND generation = $1::bigint AND holder = $2 AND lease_until > now())"

static json_t *
fenced_write(json_t *req, const char *sql, int n, const char **p)
{
	PGresult	*res;
	char		 why[600], state[6], gen[32];
	json_t		*g = json_object_get(req, "generation"), *r;

	if (!json_is_integer(g) || json_integer_value(g) <= 0)
		return fail("a fleet write needs its generation");
	snprintf(gen, sizeof(gen), "%lld", (long long)json_integer_value(g));
	p[0] = gen;
	p[1] = host;
	if ((res = query(sql, n, p, why, sizeof(why), state)) == NULL)
		return fail(why);
	if (atoi(PQcmdTuples(res)) == 0) {
		PQclear(res);
		return fenced();
	}
	r = json_pack("{s:i,s:i}", "ok", 1, "rows", atoi(PQcmdTuples(res)));
	if (PQntuples(res) == 1 && PQnfields(res) == 1)
		json_object_set_new(r, "lease_until",
		    json_string(PQgetvalue(res, 0, 0)));
	PQclear(res);
	return r;
}

static json_t *
do_renew(json_t *req)
{
	const char	*p[3];
	char		 lms[32];

	snprintf(lms, sizeof(lms), "%llu", (unsigned long long)lease_ms);
	p[2] = lms;
	return fenced_write(req, "UPDATE tend.lease"
	    " SET lease_until = now() + $3::bigint * interval '1 ms'"
	    " WHERE name = 'deploy' AND generation = $1::bigint"
	    " AND holder = $2 AND lease_until > now()"
	    " RETURNING " ISO("lease_until"), 3, p);
}

static json_t *
do_step(json_t *req)
{
	const char	*p[5];

	p[2] = json_string_value(json_object_get(req, "host"));
	p[3] = json_string_value(json_object_get(req, "step"));
	p[4] = json_string_value(json_object_get(req, "detail"));
	if (p[2] == NULL || p[3] == NULL)
		return fail("step needs host and step");
	return fenced_write(req, "INSERT INTO tend.step"
	    " (generation, host, step, detail, at)"
	    " SELECT $1::bigint, $3, $4, $5, now() WHERE" HELD
	    " ON CONFLICT (generation, host) DO UPDATE"
	    " SET step = excluded.step, detail = excluded.detail,"
	    "  at = excluded.at", 5, p);
}

/* No fleet deploy runs: the sha each app's last finished one left the
 * fleet on, and whether its migration is recorded done, for a host
 * that was away to converge to. */
static json_t *
fleet_releases(void)
{
	PGresult	*res;
	char		 why[600], state[6];
	json_t		*r, *a;
	int		 i;

	res = query("SELECT f.app, f.sha, f.generation,"
	    " COALESCE(m.done, false) FROM tend.fleet_release f"
	    " LEFT JOIN tend.migration m ON m.app = f.app AND m.sha = f.sha"
	    " ORDER BY f.app", 0, NULL, why, sizeof(why), state);
	if (res == NULL)
		return fail(why);
	if ((a = json_array()) == NULL) {
		PQclear(res);
		return fail("out of memory");
	}
	for (i = 0; i < PQntuples(res); i++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:b}", "app",
		    PQgetvalue(res, i, 0), "sha", PQgetvalue(res, i, 1),
		    "generation", (json_int_t)atoll(PQgetvalue(res, i, 2)),
		    "migrated", PQgetvalue(res, i, 3)[0] == 't'));
	PQclear(res);
	r = json_pack("{s:i,s:n,s:o}", "ok", 1, "deploy", "releases", a);
	return r != NULL ? r : fail("out of memory");
}

/* The running fleet deploy, and this host's step in it; "deploy": null
 * when none runs (or its lease ran out). */
static json_t *
do_orders(void)
{
	PGresult	*res;
	char		 why[600], state[6];
	const char	*p[1];
	json_t		*r;

	p[0] = host;
	res = query("SELECT l.generation, l.app, l.kind, l.holder, o.word,"
	    " o.detail FROM tend.lease l LEFT JOIN tend.fleet_order o"
	    " ON o.generation = l.generation AND o.host = $1"
	    " WHERE l.name = 'deploy' AND l.state = 'running'"
	    " AND l.lease_until > now()", 1, p, why, sizeof(why), state);
	if (res == NULL)
		return fail(why);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return fleet_releases();
	}
	r = json_pack("{s:i,s:{s:I,s:s,s:s,s:s,s:o,s:o}}", "ok", 1, "deploy",
	    "generation", (json_int_t)atoll(PQgetvalue(res, 0, 0)),
	    "app", PQgetvalue(res, 0, 1), "kind", PQgetvalue(res, 0, 2),
	    "holder", PQgetvalue(res, 0, 3), "order", jstr_or_null(res, 0, 4),
	    "detail", jstr_or_null(res, 0, 5));
	PQclear(res);
	return r;
}

/* A host's own step: fenced by the generation and a lease still
 * running, whoever holds it. */
#define RUNNING	" EXISTS (SELECT 1 FROM tend.lease WHERE name = 'deploy'" \
	" AND generation = $1::bigint AND lease_until > now())"

static json_t *
do_hoststep(json_t *req)
{
	const char	*p[4];

	p[2] = json_string_value(json_object_get(req, "step"));
	p[3] = json_string_value(json_object_get(req, "detail"));
	if (p[2] == NULL)
		return fail("hoststep needs a step");
	return fenced_write(req, "INSERT INTO tend.step"
	    " (generation, host, step, detail, at)"
	    " SELECT $1::bigint, $2, $3, $4, now() WHERE" RUNNING
	    " ON CONFLICT (generation, host) DO UPDATE"
	    " SET step = excluded.step, detail = excluded.detail,"
	    "  at = excluded.at", 4, p);
}

/*
 * The migration of app at sha: "claimed" (this host runs it: the row is
 * its), "done", or "running" elsewhere.  The primary key decides
 * between hosts that ask at once.
 */
static json_t *
do_claim(json_t *req)
{
	PGresult	*res;
	char		 why[600], state[6], gen[32];
	const char	*p[4];
	json_t		*g = json_object_get(req, "generation"), *r;

	p[1] = json_string_value(json_object_get(req, "app"));
	p[2] = json_string_value(json_object_get(req, "sha"));
	p[3] = host;
	if (!json_is_integer(g) || p[1] == NULL || p[2] == NULL)
		return fail("claim needs generation, app and sha");
	snprintf(gen, sizeof(gen), "%lld", (long long)json_integer_value(g));
	p[0] = gen;
	res = query("WITH c AS (INSERT INTO tend.migration"
	    " (app, sha, host, generation, at)"
	    " SELECT $2, $3, $4, $1::bigint, now() WHERE" RUNNING
	    " ON CONFLICT (app, sha) DO NOTHING RETURNING host)"
	    " SELECT 'claimed', $4 FROM c"
	    " UNION ALL SELECT CASE WHEN done THEN 'done' ELSE 'running' END,"
	    "  host FROM tend.migration WHERE app = $2 AND sha = $3"
	    "  AND NOT EXISTS (SELECT 1 FROM c)", 4, p, why, sizeof(why),
	    state);
	if (res == NULL)
		return fail(why);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return fenced();
	}
	r = json_pack("{s:i,s:s,s:s}", "ok", 1, "migration",
	    PQgetvalue(res, 0, 0), "host", PQgetvalue(res, 0, 1));
	PQclear(res);
	return r;
}

static json_t *
do_migrated(json_t *req)
{
	const char	*p[4];

	p[2] = json_string_value(json_object_get(req, "app"));
	p[3] = json_string_value(json_object_get(req, "sha"));
	if (p[2] == NULL || p[3] == NULL)
		return fail("migrated needs app and sha");
	return fenced_write(req, "UPDATE tend.migration SET done = true"
	    " WHERE app = $3 AND sha = $4 AND host = $2"
	    " AND generation = $1::bigint", 4, p);
}

/* Has the fleet run app's migration at sha ("done": true)?  A read:
 * any host asks it, before running a migration of its own. */
static json_t *
do_migration(json_t *req)
{
	PGresult	*res;
	char		 why[600], state[6];
	const char	*p[2];
	json_t		*r;

	p[0] = json_string_value(json_object_get(req, "app"));
	p[1] = json_string_value(json_object_get(req, "sha"));
	if (p[0] == NULL || p[1] == NULL)
		return fail("migration needs app and sha");
	res = query("SELECT done, host FROM tend.migration"
	    " WHERE app = $1 AND sha = $2", 2, p, why, sizeof(why), state);
	if (res == NULL)
		return fail(why);
	r = json_pack("{s:i,s:b,s:o}", "ok", 1, "done", PQntuples(res) == 1 &&
	    PQgetvalue(res, 0, 0)[0] == 't', "host", PQntuples(res) == 1 ?
	    json_string(PQgetvalue(res, 0, 1)) : json_null());
	PQclear(res);
	return r;
}

/* The holder's word to a host: build SHA, go, revert, cancel. */
static json_t *
do_order(json_t *req)
{
	const char	*p[5];

	p[2] = json_string_value(json_object_get(req, "host"));
	p[3] = json_string_value(json_object_get(req, "word"));
	p[4] = json_string_value(json_object_get(req, "detail"));
	if (p[2] == NULL || p[3] == NULL)
		return fail("order needs host and word");
	return fenced_write(req, "INSERT INTO tend.fleet_order"
	    " (generation, host, word, detail, at)"
	    " SELECT $1::bigint, $3, $4, $5, now() WHERE" HELD
	    " ON CONFLICT (generation, host) DO UPDATE"
	    " SET word = excluded.word, detail = excluded.detail,"
	    "  at = excluded.at", 5, p);
}

/* The lease given back; a deploy that ended "done" with a sha records
 * it as its app's fleet release, in the same statement (fenced alike). */
static json_t *
do_release(json_t *req)
{
	const char	*p[5];

	p[2] = json_string_value(json_object_get(req, "state"));
	p[3] = json_string_value(json_object_get(req, "detail"));
	p[4] = json_string_value(json_object_get(req, "sha"));
	if (p[2] == NULL)
		return fail("release needs a state");
	return fenced_write(req, "WITH l AS (UPDATE tend.lease SET state = $3,"
	    " detail = $4, lease_until = now()"
	    " WHERE name = 'deploy' AND generation = $1::bigint"
	    " AND holder = $2 AND lease_until > now()"
	    " RETURNING app, " ISO("lease_until") " AS lu),"
	    " f AS (INSERT INTO tend.fleet_release (app, sha, generation, at)"
	    "  SELECT app, $5::text, $1::bigint, now() FROM l"
	    "  WHERE $3::text = 'done' AND $5::text IS NOT NULL"
	    "  AND app IS NOT NULL"
	    "  ON CONFLICT (app) DO UPDATE SET sha = excluded.sha,"
	    "  generation = excluded.generation, at = excluded.at)"
	    " SELECT lu FROM l", 5, p);
}

/* Write the heartbeat tendd asked for, if connected (else once it is). */
static void
beat_flush(void)
{
	json_t	*b;

	if (conn == NULL || !beat_now)
		return;
	beat_now = 0;
	b = do_beat();
	if (json_object_get(b, "event") != NULL)
		emit(b);
	else
		json_decref(b);	/* went down: said so */
}

static void
handle(const char *line, size_t len)
{
	json_t		*req, *r, *id, *a;
	const char	*op, *st;

	if ((req = json_loadb(line, len, 0, NULL)) == NULL)
		return;
	op = json_string_value(json_object_get(req, "op"));
	id = json_object_get(req, "id");
	if (op != NULL && strcmp(op, "beat") == 0) {
		if (json_is_object(a = json_object_get(req, "apps"))) {
			json_decref(apps);
			apps = json_incref(a);
		}
		if ((st = json_string_value(json_object_get(req, "status"))) !=
		    NULL)
			snprintf(status_word, sizeof(status_word), "%s", st);
		beat_now = told = 1;
		json_decref(req);
		beat_flush();	/* before the requests after it */
		return;
	}
	if (op == NULL)
		r = fail("no op");
	else if (strcmp(op, "status") == 0)
		r = do_status();
	else if (strcmp(op, "releases") == 0)
		r = do_releases(req);
	else if (strcmp(op, "acquire") == 0)
		r = do_acquire(req);
	else if (strcmp(op, "renew") == 0)
		r = do_renew(req);
	else if (strcmp(op, "step") == 0)
		r = do_step(req);
	else if (strcmp(op, "release") == 0)
		r = do_release(req);
	else if (strcmp(op, "order") == 0)
		r = do_order(req);
	else if (strcmp(op, "orders") == 0)
		r = do_orders();
	else if (strcmp(op, "hoststep") == 0)
		r = do_hoststep(req);
	else if (strcmp(op, "claim") == 0)
		r = do_claim(req);
	else if (strcmp(op, "migrated") == 0)
		r = do_migrated(req);
	else if (strcmp(op, "migration") == 0)
		r = do_migration(req);
	else
		r = fail("unknown op");
	if (r == NULL)
		exit(2);
	if (id != NULL)
		json_object_set(r, "id", id);
	emit(r);
	json_decref(req);
}

int
main(int argc, char **argv)
{
	static char	 buf[REQ_MAX];
	size_t		 len = 0;
	const char	*u, *l;
	char		 why[256], *nl;
	struct pollfd	 pfd;
	uint64_t	 next_try = 0, retry = 0, now;
	ssize_t		 n;
	int		 r, wait, skipping = 0;

	(void)argc;
	(void)argv;
	/* Never outlive tendd; and another process of this user may not
	 * trace this one or read its memory (the password). */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	u = getenv("TEND_FLEET_URL");
	host = getenv("TEND_FLEET_HOST");
	l = getenv("TEND_FLEET_LEASE_MS");
	if (u == NULL || host == NULL || l == NULL ||
	    (lease_ms = strtoull(l, NULL, 10)) < 1000) {
		fprintf(stderr, "tend-fleet: run by tendd, with TEND_FLEET_URL, "
		    "TEND_FLEET_HOST and TEND_FLEET_LEASE_MS\n");
		return 2;
	}
	if (pg_url_parse(u, &url, why, sizeof(why)) != 0) {
		fprintf(stderr, "tend-fleet: TEND_FLEET_URL: %s\n", why);
		return 2;
	}
	/* The password lives in url now; nothing else may show it, not
	 * even /proc/PID/environ (the string is the one the kernel shows). */
	explicit_bzero((char *)u, strlen(u));
	unsetenv("TEND_FLEET_URL");
	if ((apps = json_object()) == NULL)
		return 2;
	for (;;) {
		now = time_mono_ms();
		if (conn == NULL && now >= next_try) {
			if (pg_up() == 0) {
				retry = 0;
				/* Say again what tendd said last. */
				beat_now = told;
			} else {
				retry = retry == 0 ? RETRY_MIN_MS :
				    retry * 2 > RETRY_MAX_MS ? RETRY_MAX_MS :
				    retry * 2;
				next_try = time_mono_ms() + retry;
			}
		}
		beat_flush();
		now = time_mono_ms();
		wait = conn != NULL ? -1 :
		    (int)(next_try > now ? next_try - now : 0);
		pfd.fd = 0;
		pfd.events = POLLIN;
		if ((r = poll(&pfd, 1, wait)) < 0 && errno != EINTR)
			return 1;
		if (r <= 0)
			continue;
		if ((n = read(0, buf + len, sizeof(buf) - len)) <= 0) {
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			break;		/* tendd closed our stdin: done */
		}
		len += (size_t)n;
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			if (!skipping)
				handle(buf, (size_t)(nl - buf));
			skipping = 0;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof(buf)) {
			skipping = 1;	/* not a line of tendd's: drop it */
			len = 0;
		}
	}
	if (conn != NULL)
		PQfinish(conn);
	json_decref(apps);
	explicit_bzero(&url, sizeof(url));
	return 0;
}
