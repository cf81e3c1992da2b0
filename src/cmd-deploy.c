/*
 * cmd-deploy.c: `deploy APP [REF]`, `rollback APP [RELEASE]`,
 * `reload APP` (progress lines as events, then the outcome) and
 * `releases APP` (the history).  The work is deploy.c's.
 */
#define _GNU_SOURCE
#include <string.h>

#include "tendd.h"

/* A deploy outlives its client: one that hangs up is forgotten. */
static void
deploy_client_gone(struct client *c, void *arg)
{
	(void)arg;
	deploys_forget(client_tend(c), c);
	fleet_forget(client_tend(c), c);
}

/* How deploy.c answers the client that asked (arg). */
static void
asker_event(void *arg, json_t *ev)
{
	if (client_is_closing(arg))
		json_decref(ev);
	else
		client_send(arg, ev);
}

static void
asker_done(void *arg, json_t *reply)
{
	if (client_is_closing(arg))
		json_decref(reply);
	else
		client_finish(arg, reply);
}

static void
asker_refuse(void *arg, const char *why)
{
	client_finish(arg, cmd_error("%s", why));
}

/* The asker for c: registered once per client (same fn, same arg), the
 * hook stays until it closes.  -1 when c was answered instead. */
static int
asker_for(struct client *c, struct deploy_asker *a)
{
	if (client_on_close(c, deploy_client_gone, NULL) == NULL) {
		client_finish(c, cmd_error("out of memory"));
		return -1;
	}
	memset(a, 0, sizeof(*a));
	a->event = asker_event;
	a->done = asker_done;
	a->refuse = asker_refuse;
	a->arg = c;
	return 0;
}

static void
cmd_deploy_exec(struct tend *t, struct client *c, json_t *req, struct app *app)
{
	struct deploy_asker	a;

	(void)t;
	/* cmd.c checked that "ref" is a string if given. */
	if (asker_for(c, &a) != 0)
		return;
	if (json_is_true(json_object_get(req, "fleet")))
		fleet_deploy(app, &a, json_string_value(json_object_get(req,
		    "ref")), json_is_true(json_object_get(req, "wait")));
	else
		deploy_request(app, &a, json_string_value(json_object_get(req,
		    "ref")));
}

/* The fleet's way back: the commit this host ran before the live one
 * (the ready release it left last), not another record of the same
 * commit. */
static struct deploy_rec *
fleet_rollback_target(struct app *app)
{
	struct deploy_rec	*r, *live = history_live(&app->history), *best = NULL;

	TAILQ_FOREACH(r, &app->history.recs, entry)
		if (r->status == DS_READY && r->sha[0] != '\0' &&
		    (live == NULL || strcmp(r->sha, live->sha) != 0) &&
		    (best == NULL || r->finished_ms > best->finished_ms))
			best = r;
	return best;
}

static void
cmd_rollback_exec(struct tend *t, struct client *c, json_t *req,
    struct app *app)
{
	struct deploy_asker	a;
	const char		*rel = json_string_value(json_object_get(req,
				    "release"));
	struct deploy_rec	*r;

	(void)t;
	if (asker_for(c, &a) != 0)
		return;
	if (!json_is_true(json_object_get(req, "fleet"))) {
		deploy_rollback(app, &a, rel);
		return;
	}
	/* The fleet goes back to the commit of this host's ready release
	 * (or RELEASE): a fleet deploy of that sha, whose migration ran. */
	r = rel != NULL ? (valid_release_id(rel) ?
	    history_find_id(&app->history, rel) : NULL) :
	    fleet_rollback_target(app);
	if (r == NULL || r->sha[0] == '\0') {
		client_finish(c, cmd_error("%s has no %s%s to roll the fleet "
		    "back to", app->name, rel != NULL ? "release " :
		    "ready release", rel != NULL ? rel : ""));
		return;
	}
	fleet_deploy(app, &a, r->sha, json_is_true(json_object_get(req,
	    "wait")));
}

static void
cmd_reload_exec(struct tend *t, struct client *c, json_t *req,
    struct app *app)
{
	struct deploy_asker	a;

	(void)t;
	(void)req;
	if (asker_for(c, &a) == 0)
		deploy_reload(app, &a);
}

static void
cmd_releases_exec(struct tend *t, struct client *c, json_t *req,
    struct app *app)
{
	json_t		*members;
	struct app	*m;

	if (json_is_true(json_object_get(req, "fleet"))) {
		cmd_fleet(t, c, "releases", app->name);
		return;
	}
	/* Which release each member of its group runs. */
	members = json_array();
	TAILQ_FOREACH(m, &t->apps, entry)
		if (m == app || (m->ca->follows != NULL &&
		    strcmp(m->ca->follows, app->name) == 0))
			json_array_append_new(members, json_pack("{s:s,s:s?}",
			    "app", m->name, "release", m->release[0] ?
			    m->release : NULL));
	client_finish(c, json_pack("{s:b,s:s,s:o,s:o}", "ok", 1, "app",
	    app->name, "releases", history_releases_json(&app->history,
	    app->release), "members",
	    members));
}

const struct cmd_entry cmd_deploy_entry = {
	.id = CMD_DEPLOY, .exec = cmd_deploy_exec
};
const struct cmd_entry cmd_rollback_entry = {
	.id = CMD_ROLLBACK, .exec = cmd_rollback_exec
};
const struct cmd_entry cmd_reload_entry = {
	.id = CMD_RELOAD, .exec = cmd_reload_exec
};
const struct cmd_entry cmd_releases_entry = {
	.id = CMD_RELEASES, .exec = cmd_releases_exec
};
