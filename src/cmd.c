/*
 * cmd.c: the command table of the control protocol, and the checks every
 * command shares (arguments, app name, app existence), made once here so a
 * new command is one new file and one line below.  Also the waiters that
 * let `start`, `stop` and `restart` answer only when the app got there.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendd.h"

static const struct cmd_entry *const cmd_table[] = {
	&cmd_status_entry,
	&cmd_start_entry,
	&cmd_stop_entry,
	&cmd_restart_entry,
	&cmd_logs_entry,
	&cmd_reread_entry,
	&cmd_check_entry,
	&cmd_deploy_entry,
	&cmd_rollback_entry,
	&cmd_reload_entry,
	&cmd_releases_entry,
	NULL
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

void
cmd_dispatch(struct tend *t, struct client *c, json_t *req)
{
	const struct cmd_entry	*ce = NULL;
	const char		*name, *appname = NULL;
	struct app		*app = NULL;
	json_t			*a;
	size_t			 i;

	name = json_string_value(json_object_get(req, "cmd"));
	for (i = 0; cmd_table[i] != NULL; i++)
		if (strcmp(cmd_table[i]->name, name) == 0)
			ce = cmd_table[i];
	if (ce == NULL) {
		client_finish(c, cmd_error("unknown command"));
		return;
	}
	if (t->shutting_down && strcmp(name, "status") != 0 &&
	    strcmp(name, "logs") != 0) {
		client_finish(c, cmd_error("tendd is shutting down"));
		return;
	}
	a = json_object_get(req, "app");
	if (a != NULL && !json_is_string(a)) {
		client_finish(c, cmd_error("\"app\" must be a string"));
		return;
	}
	appname = json_string_value(a);
	if (ce->app_arg == 0 && appname != NULL) {
		client_finish(c, cmd_error("%s takes no app", ce->name));
		return;
	}
	if ((ce->app_arg == 1 || ce->app_arg == 3) && appname == NULL) {
		client_finish(c, cmd_error("usage: %s", ce->usage));
		return;
	}
	if (appname != NULL && !(ce->app_arg == 3 &&
	    strcmp(appname, "all") == 0)) {
		if (!valid_app_name(appname)) {
			client_finish(c, cmd_error("invalid app name"));
			return;
		}
		if ((app = app_find(t, appname)) == NULL) {
			client_finish(c, cmd_error("no app named %s", appname));
			return;
		}
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
	json_decref(p->errors);
	json_decref(p->done);
	if (p->client != NULL) {
		client_hook_remove(p->on_close);
		client_finish(p->client, reply);
	} else
		json_decref(reply);
	free(p);
}

static void
waiter_done(struct waiter *w, const char *err)
{
	struct pend	*p = w->pend;

	LIST_REMOVE(w, entry);
	if (err != NULL)
		json_array_append_new(p->errors, json_string(err));
	json_array_append_new(p->done, json_string(w->app->name));
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
