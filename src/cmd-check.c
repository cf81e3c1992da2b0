/*
 * cmd-check.c: `check APP`: the preflight of an app, on demand.  Builds the
 * environment the app would start with, and checks the services it names
 * (DATABASE_URL: PostgreSQL; REDIS_URL: Redis) at the same time, each
 * bounded by CHECK_TIMEOUT_MS.  The answer lists every check with one plain
 * sentence; "ok" is false if any failed.  Secrets never appear: the
 * sentences are built from host, port, user and database names only.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "tendd.h"

/* An unreachable server costs this long at most. */
#define CHECK_TIMEOUT_MS	3000

struct check_req {
	LIST_ENTRY(check_req) entry;
	struct client	*client;
	json_t		*checks;
	unsigned	 pending;
	int		 ok;
};

/* Checks in flight, so a client that hangs up can be forgotten. */
static LIST_HEAD(, check_req) check_reqs = LIST_HEAD_INITIALIZER(check_reqs);

void
checks_cancel_client(struct client *c)
{
	struct check_req	*r;

	LIST_FOREACH(r, &check_reqs, entry)
		if (r->client == c)
			r->client = NULL;
}

struct check_one {
	struct check_req *req;
	const char	*name;
};

static void
check_done(void *arg, int ok, const char *detail, json_t *info)
{
	struct check_one	*one = arg;
	struct check_req	*r = one->req;
	json_t			*c;

	c = json_pack("{s:s,s:b,s:s}", "name", one->name, "ok", ok, "detail",
	    detail);
	if (c != NULL && info != NULL)
		json_object_set(c, "info", info);
	json_decref(info);
	json_array_append_new(r->checks, c);
	if (!ok)
		r->ok = 0;
	free(one);
	if (--r->pending > 0)
		return;
	LIST_REMOVE(r, entry);
	if (r->client != NULL && !client_is_closing(r->client))
		client_finish(r->client, json_pack("{s:b,s:o,s:s*}", "ok", r->ok,
		    "checks", r->checks, "error", r->ok ? NULL :
		    "preflight failed"));
	else
		json_decref(r->checks);
	free(r);
}

static int
start_one(struct tend *t, struct check_req *r, const char *name,
    const char *url, int (*fn)(struct tend *, const char *, uint64_t,
    check_cb, void *))
{
	struct check_one	*one;

	if ((one = calloc(1, sizeof(*one))) == NULL)
		return -1;
	one->req = r;
	one->name = name;
	r->pending++;
	if (fn(t, url, CHECK_TIMEOUT_MS, check_done, one) != 0) {
		r->pending--;
		free(one);
		return -1;
	}
	return 0;
}

static void
cmd_check_exec(struct tend *t, struct client *c, json_t *req, struct app *app)
{
	struct check_req	*r;
	struct env		 e;
	const char		*db, *redis;
	char			 why[512];

	if (spawn_env(&app->inst[0], &e, why, sizeof(why)) != 0) {
		client_finish(c, json_pack("{s:b,s:s,s:[{s:s,s:b,s:s}]}", "ok", 0,
		    "error", why, "checks", "name", "env", "ok", 0, "detail", why));
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->checks = json_array()) == NULL) {
		free(r);
		env_free(&e);
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	r->client = c;
	r->ok = 1;
	r->pending = 1;		/* held while starting */
	db = env_get(&e, "DATABASE_URL");
	redis = env_get(&e, "REDIS_URL");
	if (db != NULL && *db != '\0')
		start_one(t, r, "postgres", db, check_pg_start);
	if (redis != NULL && *redis != '\0')
		start_one(t, r, "redis", redis, check_redis_start);
	env_free(&e);
	if (r->pending == 1) {
		r->pending = 0;
		client_finish(c, json_pack("{s:b,s:o,s:s}", "ok", 1, "checks",
		    r->checks, "note", "no DATABASE_URL or REDIS_URL in the "
		    "app's environment: nothing to check"));
		free(r);
		return;
	}
	/* Release the hold; the checks answer from the loop. */
	r->pending--;
	LIST_INSERT_HEAD(&check_reqs, r, entry);
}

const struct cmd_entry cmd_check_entry = {
	"check", "check APP", 1, cmd_check_exec
};
