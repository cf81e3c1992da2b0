/*
 * pgconn.h: a PostgreSQL connection on the loop (pgconn.c).  Kept apart
 * from tendd.h so only its users see libpq.
 */
#ifndef PGCONN_H
#define PGCONN_H

#include <libpq-fe.h>

struct tend;
struct pgconn;

/* Outcome of a connect or a query. */
#define PG_OK		1
#define PG_FATAL	0	/* will not fix itself: wrong password, no db */
#define PG_TRANSIENT	(-1)	/* may pass: refused, no answer, too many */

/* res: the query's last result (NULL for a connect or a failure), valid
 * only during the call.  detail: one plain sentence. */
typedef void (*pgconn_cb)(struct pgconn *, void *arg, int ok,
    const char *detail, PGresult *res);

struct pgconn *pgconn_open(struct tend *, const char *url, const char *dbname,
	    const char *appname, uint64_t timeout_ms, pgconn_cb, void *);
int	pgconn_query(struct pgconn *, const char *sql,
	    const char *const *params, uint64_t timeout_ms, pgconn_cb, void *);
void	pgconn_close(struct pgconn *);
const char *pgconn_host(const struct pgconn *);
const char *pgconn_port(const struct pgconn *);
PGconn	*pgconn_pq(struct pgconn *);
int	pgconn_explain(PGconn *, const char *msg, char *out, size_t len);

#endif /* PGCONN_H */
