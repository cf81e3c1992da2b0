/*
 * check-pg.c: is the app's PostgreSQL there and usable?  Connects
 * (pgconn.c: non-blocking, bounded, failures in plain words) and runs one
 * query for the server version and the connection budget: max_connections,
 * the slots reserved for superusers, and the client connections in use.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendd.h"
#include "pgconn.h"

#define PG_INFO_SQL \
	"SELECT current_setting('server_version')," \
	" current_setting('max_connections')," \
	" current_setting('superuser_reserved_connections'),"\
	" (SELECT count(*) FROM pg_stat_activity" \
	"  WHERE backend_type = 'client backend')," \
	" current_database(), current_user"

struct pgcheck {
	uint64_t	 timeout_ms;
	check_cb	 cb;
	void		*arg;
};

static void
pg_info_cb(struct pgconn *c, void *arg, int ok, const char *detail,
    PGresult *res)
{
	struct pgcheck	*pc = arg;
	json_t		*info = NULL;
	char		 out[400];

	if (ok == PG_OK && res != NULL && PQntuples(res) == 1 &&
	    PQnfields(res) == 6) {
		const char *ver = PQgetvalue(res, 0, 0);
		int max = atoi(PQgetvalue(res, 0, 1)),
		    reserved = atoi(PQgetvalue(res, 0, 2));

		/* Slots kept for superusers are not the app's to use. */
		info = json_pack("{s:s,s:i,s:i,s:i,s:s,s:s}",
		    "version", ver,
		    "max_connections", max,
		    "available", max - reserved,
		    "connections", atoi(PQgetvalue(res, 0, 3)),
		    "database", PQgetvalue(res, 0, 4),
		    "user", PQgetvalue(res, 0, 5));
		snprintf(out, sizeof(out), "PostgreSQL %s at %s:%s, database %s, "
		    "%s of %d connections in use (max_connections %d, %d kept "
		    "for superusers)", ver, pgconn_host(c), pgconn_port(c),
		    PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 3), max - reserved,
		    max, reserved);
		pc->cb(pc->arg, CHECK_OK, out, info);
	} else {
		snprintf(out, sizeof(out), "PostgreSQL at %s:%s: %s",
		    pgconn_host(c), pgconn_port(c), ok == PG_OK ?
		    "unexpected answer" : detail);
		pc->cb(pc->arg, ok == PG_OK ? CHECK_FAIL : ok, out, NULL);
	}
	pgconn_close(c);
	free(pc);
}

static void
pg_connected_cb(struct pgconn *c, void *arg, int ok, const char *detail,
    PGresult *res)
{
	struct pgcheck	*pc = arg;

	(void)res;
	if (ok != PG_OK) {
		PGconn		*pq = pgconn_pq(c);
		json_t		*info = NULL;
		const char	*msg = pq != NULL ? PQerrorMessage(pq) : "";

		/* create_database needs to know, without parsing sentences. */
		if (strstr(msg, "database") != NULL &&
		    strstr(msg, "does not exist") != NULL && PQdb(pq) != NULL)
			info = json_pack("{s:s}", "missing_database", PQdb(pq));
		pc->cb(pc->arg, ok, detail, info);	/* c closes itself */
		free(pc);
		return;
	}
	if (pgconn_query(c, PG_INFO_SQL, NULL, pc->timeout_ms, pg_info_cb,
	    pc) != 0) {
		pc->cb(pc->arg, CHECK_RETRY, "PostgreSQL: cannot send a query",
		    NULL);
		pgconn_close(c);
		free(pc);
	}
}

/*
 * Check the database at url within timeout_ms (connect, and again the
 * query); cb(arg, ok, detail, info) exactly once, from the loop.
 */
int
check_pg_start(struct tend *t, const char *url, uint64_t timeout_ms,
    check_cb cb, void *arg)
{
	struct pgcheck	*pc;

	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return -1;
	pc->timeout_ms = timeout_ms;
	pc->cb = cb;
	pc->arg = arg;
	if (pgconn_open(t, url, NULL, "tend check", timeout_ms,
	    pg_connected_cb, pc) == NULL) {
		free(pc);
		return -1;
	}
	return 0;
}
