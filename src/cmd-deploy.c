/*
 * cmd-deploy.c: `deploy APP [REF]`, `rollback APP [RELEASE]`,
 * `reload APP` (progress lines as events, then the outcome) and
 * `releases APP` (the history).  The work is deploy.c's.
 */
#define _GNU_SOURCE
#include "tendd.h"

static const char *
opt_string(json_t *req, const char *key, struct client *c, int *bad)
{
	json_t	*v = json_object_get(req, key);

	*bad = 0;
	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		client_finish(c, cmd_error("\"%s\" must be a string", key));
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

static void
cmd_deploy_exec(struct tend *t, struct client *c, json_t *req, struct app *app)
{
	const char	*ref;
	int		 bad;

	(void)t;
	ref = opt_string(req, "ref", c, &bad);
	if (!bad)
		deploy_request(app, c, ref);
}

static void
cmd_rollback_exec(struct tend *t, struct client *c, json_t *req,
    struct app *app)
{
	const char	*rel;
	int		 bad;

	(void)t;
	rel = opt_string(req, "release", c, &bad);
	if (!bad)
		deploy_rollback(app, c, rel);
}

static void
cmd_reload_exec(struct tend *t, struct client *c, json_t *req,
    struct app *app)
{
	(void)t;
	(void)req;
	deploy_reload(app, c);
}

static void
cmd_releases_exec(struct tend *t, struct client *c, json_t *req,
    struct app *app)
{
	(void)t;
	(void)req;
	client_finish(c, json_pack("{s:b,s:s,s:o}", "ok", 1, "app", app->name,
	    "releases", history_releases_json(&app->history, app->release)));
}

const struct cmd_entry cmd_deploy_entry = {
	"deploy", "deploy APP [REF]", 1, cmd_deploy_exec
};
const struct cmd_entry cmd_rollback_entry = {
	"rollback", "rollback APP [RELEASE]", 1, cmd_rollback_exec
};
const struct cmd_entry cmd_reload_entry = {
	"reload", "reload APP", 1, cmd_reload_exec
};
const struct cmd_entry cmd_releases_entry = {
	"releases", "releases APP", 1, cmd_releases_exec
};
