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

/* A check in flight; it runs to its end even if the client hangs up. */
struct check_req {
	struct client	*client;	/* NULL once it hung up */
	struct client_hook *on_close;
};

static void
check_client_gone(struct client *c, void *arg)
{
	struct check_req	*r = arg;

	(void)c;
	r->client = NULL;
	r->on_close = NULL;	/* freed as it ran */
}

static void
check_done(void *arg, int outcome, json_t *checks, const char *reason,
    const char *missing_db)
{
	struct check_req	*r = arg;

	(void)missing_db;
	if (r->client != NULL) {
		client_hook_remove(r->on_close);
		client_finish(r->client, json_pack("{s:b,s:O,s:s*}", "ok",
		    outcome == CHECK_OK, "checks", checks, "error",
		    outcome == CHECK_OK ? NULL : reason));
	}
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
	if ((r->on_close = client_on_close(c, check_client_gone, r)) == NULL ||
	    preflight_start(app, CHECK_TIMEOUT_MS, check_done, r) == NULL) {
		client_hook_remove(r->on_close);
		free(r);
		client_finish(c, cmd_error("out of memory"));
		return;
	}
}

const struct cmd_entry cmd_check_entry = {
	.id = CMD_CHECK, .exec = cmd_check_exec
};
