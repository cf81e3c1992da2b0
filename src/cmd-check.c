/*
 * cmd-check.c: `check APP`: the preflight of an app (preflight.c), on
 * demand: the environment, the profile's rules, the database and Redis it
 * names, and the connection budget, each as one plain sentence.  "ok" is
 * false if any check failed; warnings do not fail it.  Nothing is retried
 * and nothing is created: it says what a start would find now.
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

static void
check_done(void *arg, int outcome, json_t *checks, const char *reason,
    const char *missing_db)
{
	struct check_req	*r = arg;

	(void)missing_db;
	LIST_REMOVE(r, entry);
	if (r->client != NULL && !client_is_closing(r->client))
		client_finish(r->client, json_pack("{s:b,s:O,s:s*}", "ok",
		    outcome == CHECK_OK, "checks", checks, "error",
		    outcome == CHECK_OK ? NULL : reason));
	free(r);
}

static void
cmd_check_exec(struct tend *t, struct client *c, json_t *req, struct app *app)
{
	struct check_req	*r;

	(void)t;
	(void)req;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	r->client = c;
	if (preflight_start(app, CHECK_TIMEOUT_MS, check_done, r) == NULL) {
		free(r);
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	LIST_INSERT_HEAD(&check_reqs, r, entry);
}

const struct cmd_entry cmd_check_entry = {
	"check", "check APP", 1, cmd_check_exec
};
