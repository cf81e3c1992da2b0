/*
 * cmd.c: runs the commands of the control protocol.  What each takes is
 * its row in cmd_defs (cmd-table.c, shared with tendctl); what it does is
 * its cmd-X.c, found below by its id.  The checks every command shares
 * (operands, app name, app existence, shutdown) are made once here.  Also
 * the waiters that let `start`, `stop` and `restart` answer only when
 * the app got there.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendd.h"

static const struct cmd_entry *const cmd_table[CMD__COUNT] = {
	[CMD_STATUS] = &cmd_status_entry,
	[CMD_START] = &cmd_start_entry,
	[CMD_STOP] = &cmd_stop_entry,
	[CMD_RESTART] = &cmd_restart_entry,
	[CMD_LOGS] = &cmd_logs_entry,
	[CMD_CHECK] = &cmd_check_entry,
	[CMD_DEPLOY] = &cmd_deploy_entry,
	[CMD_RELOAD] = &cmd_reload_entry,
	[CMD_RELEASES] = &cmd_releases_entry,
	[CMD_ROLLBACK] = &cmd_rollback_entry,
	[CMD_REREAD] = &cmd_reread_entry,
	[CMD_METRICS] = &cmd_metrics_entry,
};

json_t *
cmd_error(const char *fmt, ...)
{
	char	buf[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return json_pack("{s:b,s:s}", "ok", 0, "error", buf);
}

/* The checks of a request against its command's row; NULL if it passes,
 * else the error to answer with.  *app is the app it names, if any. */
static json_t *
cmd_check_request(struct tend *t, const struct cmd_def *d, json_t *req,
    struct app **app)
{
	const char	*name, *key;
	json_t		*a, *v;

	*app = NULL;
	if (t->shutting_down && !(d->flags & CMD_F_SHUTDOWN))
		return cmd_error("tendd is shutting down");
	a = json_object_get(req, "app");
	if (a != NULL && !json_is_string(a))
		return cmd_error("\"app\" must be a string");
	name = json_string_value(a);
	if (d->app == CMD_ARG_NONE && name != NULL)
		return cmd_error("%s takes no app", d->name);
	if ((d->app == CMD_ARG_APP || d->app == CMD_ARG_APP_OR_ALL ||
	    (d->app == CMD_ARG_APPS && json_object_get(req, "apps") == NULL)) &&
	    name == NULL)
		return cmd_error("usage: %s", d->usage);
	if (name != NULL && !((d->app == CMD_ARG_APP_OR_ALL ||
	    d->app == CMD_ARG_APPS) && strcmp(name, "all") == 0)) {
		if (!valid_app_name(name))
			return cmd_error("invalid app name");
		if ((*app = app_find(t, name)) == NULL)
			return cmd_error("no app named %s", name);
	}
	if ((key = cmd_arg_key(d->extra)) != NULL &&
	    (v = json_object_get(req, key)) != NULL && !json_is_null(v) &&
	    !json_is_string(v))
		return cmd_error("\"%s\" must be a string", key);
	return NULL;
}

void
cmd_dispatch(struct tend *t, struct client *c, json_t *req)
{
	const struct cmd_def	*d;
	const struct cmd_entry	*ce;
	struct app		*app;
	json_t			*err;

	d = cmd_def_find(json_string_value(json_object_get(req, "cmd")));
	if (d == NULL || (ce = cmd_table[cmd_def_id(d)]) == NULL) {
		client_finish(c, cmd_error("unknown command"));
		return;
	}
	if ((err = cmd_check_request(t, d, req, &app)) != NULL) {
		client_finish(c, err);
		return;
	}
	ce->exec(t, c, req, app);
}

/* --- waiters -------------------------------------------------------- */

/* One start/stop/restart request, waiting on one or more apps. */
struct pend {
	struct client	*client;	/* NULL once it hung up */
	struct client_hook *on_close;
	unsigned	 outstanding;
	json_t		*errors;
	json_t		*done;
	json_t		*env;		/* app: the names its start read anew */
	json_t		*results;	/* where each app ended up */
};

static void
pend_settle(struct pend *p)
{
	json_t	*reply;

	if (p->outstanding > 0)
		return;
	if (json_array_size(p->errors) > 0) {
		reply = json_pack("{s:b,s:s,s:O,s:O}", "ok", 0, "error",
		    json_string_value(json_array_get(p->errors, 0)), "errors",
		    p->errors, "apps", p->done);
	} else
		reply = json_pack("{s:b,s:O}", "ok", 1, "apps", p->done);
	if (reply != NULL && p->env != NULL)
		json_object_set(reply, "env_applied", p->env);
	if (reply != NULL && p->results != NULL)
		json_object_set(reply, "results", p->results);
	json_decref(p->results);
	json_decref(p->errors);
	json_decref(p->done);
	json_decref(p->env);
	if (p->client != NULL) {
		client_hook_remove(p->on_close);
		client_finish(p->client, reply);
	} else
		json_decref(reply);
	free(p);
}

/* Where an app ended up, for tendctl's one line ("web: live, pid 12,
 * ready in 480 ms"): its state, serving pids and the slowest start. */
static json_t *
waiter_result(const struct app *app)
{
	json_t		*o, *pids;
	int64_t		 ready = -1;
	unsigned	 i;

	if ((pids = json_array()) == NULL)
		return NULL;
	for (i = 0; i < app->n_inst; i++) {
		const struct inst *in = &app->inst[i];

		if (!inst_active(in))
			continue;
		if (in->running)
			json_array_append_new(pids, json_integer(in->pid));
		if (in->state == ST_LIVE && in->ready_ms > ready)
			ready = in->ready_ms;
	}
	o = json_pack("{s:s,s:s,s:o}", "name", app->name, "state",
	    app_state(app), "pids", pids);
	if (o != NULL && ready >= 0)
		json_object_set_new(o, "ready_ms", json_integer(ready));
	return o;
}

static void
waiter_done(struct waiter *w, const char *err)
{
	struct pend	*p = w->pend;

	LIST_REMOVE(w, entry);
	if (err != NULL)
		json_array_append_new(p->errors, json_string(err));
	/* This start read the env_file(s) anew, and they had changed. */
	if (w->want_up && w->app->env_gen != w->env_gen &&
	    w->app->env_change != NULL && (p->env != NULL ||
	    (p->env = json_object()) != NULL))
		json_object_set_new(p->env, w->app->name,
		    json_string(w->app->env_change));
	json_array_append_new(p->done, json_string(w->app->name));
	if (p->results != NULL || (p->results = json_array()) != NULL)
		json_array_append_new(p->results, waiter_result(w->app));
	free(w);
	p->outstanding--;
	pend_settle(p);
}

/* Has app reached what w waits for?  1 yes, -1 never will, 0 not yet. */
static int
waiter_check(struct waiter *w, char *err, size_t errlen)
{
	struct app	*app = w->app;
	unsigned	 i, live = 0;

	if (!w->want_up)
		return app_is_down(app) ? 1 : 0;
	for (i = 0; i < app->n_inst; i++) {
		struct inst *in = &app->inst[i];

		if (!inst_active(in))
			continue;
		switch (in->state) {
		case ST_LIVE:
			live++;
			break;
		case ST_FAILED:
		case ST_BACKOFF:
		case ST_STOPPED:
			snprintf(err, errlen, "%s: %s: %s", app->name,
			    state_names[in->state], in->reason[0] ?
			    in->reason : "did not become live");
			return -1;
		default:
			break;
		}
	}
	return live == app->n_run ? 1 : 0;
}

void
waiters_notify(struct app *app)
{
	struct waiter	*w, *next;
	char		 err[600];
	int		 r;

	if (app->in_op)
		return;	/* half its instances moved: judge when all have */
	LIST_FOREACH_SAFE(w, &app->waiters, entry, next) {
		r = waiter_check(w, err, sizeof(err));
		if (r != 0)
			waiter_done(w, r < 0 ? err : NULL);
	}
}

/* The client hung up: what it waited for is moot. */
static void
pend_client_gone(struct client *c, void *arg)
{
	struct pend	*p = arg;
	struct app	*app;
	struct waiter	*w, *next;
	unsigned	 left = p->outstanding;

	p->client = NULL;
	p->on_close = NULL;	/* freed as it ran */
	/* The last waiter_done frees p: count rather than look at it. */
	TAILQ_FOREACH(app, &client_tend(c)->apps, entry)
		LIST_FOREACH_SAFE(w, &app->waiters, entry, next)
			if (left > 0 && w->pend == p) {
				left--;
				waiter_done(w, "client went away");
			}
}

void
waiters_cancel_app(struct app *app)
{
	char	err[128];

	snprintf(err, sizeof(err), "%s: removed from the configuration",
	    app->name);
	while (!LIST_EMPTY(&app->waiters))
		waiter_done(LIST_FIRST(&app->waiters), err);
}

/*
 * Run op on app (or every app) and answer when each got there.
 * Set up every waiter before acting, so that one app settling at once
 * cannot answer for the others.
 */
void
cmd_wait(struct tend *t, struct client *c, json_t *req, struct app *one,
    void (*op)(struct app *), int want_up)
{
	struct pend	*p;
	struct waiter	*w;
	struct app	*app, *next;
	int		 nowait = json_is_true(json_object_get(req, "no_wait"));

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->errors = json_array()) == NULL ||
	    (p->done = json_array()) == NULL) {
		if (p != NULL) {
			json_decref(p->errors);
			free(p);
		}
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	if ((p->on_close = client_on_close(c, pend_client_gone, p)) == NULL) {
		json_decref(p->errors);
		json_decref(p->done);
		free(p);
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	p->client = c;
	p->outstanding = 1;	/* held until every waiter is in place */
	TAILQ_FOREACH(app, &t->apps, entry) {
		if ((one != NULL && app != one) || app->removing)
			continue;
		if (nowait)
			continue;
		if ((w = calloc(1, sizeof(*w))) == NULL)
			continue;
		w->app = app;
		w->want_up = want_up;
		w->pend = p;
		w->env_gen = app->env_gen;
		LIST_INSERT_HEAD(&app->waiters, w, entry);
		p->outstanding++;
	}
	TAILQ_FOREACH_SAFE(app, &t->apps, entry, next) {
		if ((one != NULL && app != one) || app->removing)
			continue;
		app->in_op = 1;
		op(app);
		app->in_op = 0;
	}
	/* Those already there answer now. */
	TAILQ_FOREACH(app, &t->apps, entry)
		waiters_notify(app);
	p->outstanding--;
	pend_settle(p);
}
