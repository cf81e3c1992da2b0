/*
 * app.c: the registry of apps: making one from its [app:NAME] section,
 * starting, stopping and restarting all its instances, and applying a new
 * configuration (reread) so that unchanged apps keep running untouched,
 * removed ones stop, added ones start, and changed ones restart with the
 * new settings once their old processes are gone (never two generations
 * of one app on one port at once).
 *
 * An app owns libuv handles (a timer per instance, the process and pipes
 * while running); its memory is released only after the last close
 * callback (app->nhandles reaches 0).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "tendd.h"

static void
conf_unref(struct tend *t, struct conf *c)
{
	if (c != NULL && --c->refs == 0 && c != t->conf)
		conf_free(c);
}

/* A handle of app's was closed; the last one releases the app. */
void
app_handle_done(struct app *app)
{
	if (--app->nhandles == 0 && app->unlinked) {
		struct tend *t = app->t;
		unsigned i;

		for (i = 0; i < app->n_inst; i++) {
			startlimit_free(&app->inst[i].sl);
			free(app->inst[i].dir);
		}
		applog_close(&app->log);
		json_decref(app->prep_last);
		history_free(&app->history);
		free(app->migrated);
		appenv_clear(app);
		if (app->deferred_conf != NULL)
			conf_unref(t, app->deferred_conf);
		conf_unref(t, app->conf);
		free(app->inst);
		free(app->name);
		free(app);
		/* Shutdown may have waited for this app's memory. */
		if (t->app_hooks.gone != NULL)
			t->app_hooks.gone(t);
	}
}

static void
app_timer_closed_cb(uv_handle_t *h)
{
	struct inst	*in = h->data;

	app_handle_done(in->app);
}

static void
app_bind_conf(struct app *app, struct conf *conf, struct conf_app *ca)
{
	unsigned	i;

	conf->refs++;
	conf_unref(app->t, app->conf);
	app->conf = conf;
	app->ca = ca;
	/* Names may mean other ids now (a reread after useradd). */
	app->ids_ok = 0;
	for (i = 0; i < app->n_inst; i++) {
		app->inst[i].bo.base = ca->restart_delay;
		app->inst[i].bo.max = ca->restart_delay_max;
	}
}

struct app *
app_new(struct tend *t, struct conf_app *ca)
{
	struct app	*app;
	unsigned	 i;

	if ((app = calloc(1, sizeof(*app))) == NULL)
		return NULL;
	app->t = t;
	app->log.fd = -1;
	LIST_INIT(&app->log.followers);
	LIST_INIT(&app->waiters);
	LIST_INIT(&app->pipes);
	history_init(&app->history);
	if ((app->name = strdup(ca->name)) == NULL)
		goto fail;
	/* Behind nginx an app has two sets of instances, on two port sets,
	 * so a new release starts beside the live one (deploy.c). */
	app->n_run = ca->instances;
	app->n_inst = ca->nginx_upstream != NULL ? 2 * app->n_run : app->n_run;
	if ((app->inst = calloc(app->n_inst, sizeof(*app->inst))) == NULL)
		goto fail;
	for (i = 0; i < app->n_inst; i++) {
		struct inst *in = &app->inst[i];

		in->app = app;
		in->idx = i;
		in->port = ca->port ? ca->port + i % app->n_run +
		    i / app->n_run * ca->port_offset : 0;
		in->state = ST_STOPPED;
		in->ready_ms = -1;
		in->next_delay = -1;
		if (startlimit_init(&in->sl, ca->start_limit) != 0)
			goto fail;
	}
	if (applog_open(app, t->conf->log_dir,
	    (uint64_t)t->conf->log_lines * 256) != 0)
		goto fail;
	/* Timers last: from here on the app is freed through close_cbs. */
	for (i = 0; i < app->n_inst; i++) {
		uv_timer_init(t->loop, &app->inst[i].timer);
		app->inst[i].timer.data = &app->inst[i];
		uv_timer_init(t->loop, &app->inst[i].hc_timer);
		app->inst[i].hc_timer.data = &app->inst[i];
		app->nhandles += 2;
	}
	app_bind_conf(app, t->conf, ca);
	/* The layers above take it up (a deployed app's history and
	 * nginx upstream are deploy.c's): through main's hook. */
	if (t->app_hooks.made != NULL)
		t->app_hooks.made(app);
	return app;
fail:
	if (app->inst != NULL)
		for (i = 0; i < app->n_inst; i++)
			startlimit_free(&app->inst[i].sl);
	applog_close(&app->log);
	free(app->inst);
	free(app->name);
	free(app);
	return NULL;
}

/* Unlink and close; memory goes in the last close callback. */
void
app_free(struct app *app)
{
	unsigned	i;

	if (app->unlinked)
		return;
	app->unlinked = 1;
	TAILQ_REMOVE(&app->t->apps, app, entry);
	/* The layers above that hold this app (its deploy, the clients
	 * waiting on it or following its log) let go of it now, before its
	 * memory can go: through main's hook. */
	if (app->t->app_hooks.going != NULL)
		app->t->app_hooks.going(app);
	/* A process that escaped its group may still hold a pipe. */
	while (!LIST_EMPTY(&app->pipes))
		logpipe_close(LIST_FIRST(&app->pipes));
	for (i = 0; i < app->n_inst; i++) {
		health_stop(&app->inst[i]);
		uv_close((uv_handle_t *)&app->inst[i].timer,
		    app_timer_closed_cb);
		uv_close((uv_handle_t *)&app->inst[i].hc_timer,
		    app_timer_closed_cb);
	}
}

struct app *
app_find(struct tend *t, const char *name)
{
	struct app	*app;

	struct app	*going = NULL;

	TAILQ_FOREACH(app, &t->apps, entry) {
		if (strcmp(app->name, name) != 0)
			continue;
		if (!app->removing)
			return app;
		/* Being replaced by new settings: still the app a script
		 * asks about, until the new one takes its place. */
		if (app->pending != NULL)
			going = app;
	}
	return going;
}

/* Is in one of the instances that serve (the live port set)? */
int
inst_active(const struct inst *in)
{
	return in->idx / in->app->n_run == in->app->color;
}

/* Where an instance runs: its release (a deploy sets it), else the
 * live release of a deployed app, else dir. */
const char *
inst_dir(const struct inst *in, char *buf, size_t len)
{
	const struct conf_app	*ca = in->app->ca;

	if (in->dir != NULL)
		return in->dir;
	if (ca->repo == NULL && ca->follows == NULL)
		return ca->dir;
	/* From tend's own record of the live release, never from the
	 * `current` link, which is the app user's to change. */
	if (strcmp(ca->start_dir, ".") == 0)
		snprintf(buf, len, "%s/releases/%s", ca->dir, in->app->release);
	else
		snprintf(buf, len, "%s/releases/%s/%s", ca->dir,
		    in->app->release, ca->start_dir);
	return buf;
}

void
app_start(struct app *app)
{
	unsigned	i;

	if (app->removing)
		return;	/* its replacement starts once it is down */

	for (i = 0; i < app->n_inst; i++)
		if (inst_active(&app->inst[i]))
			inst_event(&app->inst[i], EV_START);
}

void
app_stop(struct app *app)
{
	unsigned	i;

	for (i = 0; i < app->n_inst; i++)
		inst_event(&app->inst[i], EV_STOP);
}

void
app_restart(struct app *app)
{
	unsigned	i;

	if (app->removing)
		return;

	for (i = 0; i < app->n_inst; i++) {
		inst_event(&app->inst[i], EV_STOP);
		if (inst_active(&app->inst[i]))
			inst_event(&app->inst[i], EV_START);
	}
}

/*
 * Once an app marked for removal or replacement is down, let it go; a
 * replaced one comes back at the same place in the list, with its new
 * settings, and starts.
 */
void
app_maybe_free(struct app *app)
{
	struct tend	*t = app->t;
	struct app	*fresh;

	if (!app->removing || app->unlinked || !app_is_down(app))
		return;
	if (app->pending != NULL) {
		if ((fresh = app_new(t, app->pending)) == NULL) {
			log_warnx("%s: out of memory applying new settings",
			    app->name);
		} else {
			TAILQ_INSERT_AFTER(&t->apps, app, fresh, entry);
			log_info("%s: restarting with new settings", app->name);
		}
		conf_unref(t, app->pending_conf);
		app->pending = NULL;
		app->pending_conf = NULL;
		app_free(app);
		/* It comes back up if it was up, or if it starts by itself. */
		if (fresh != NULL && (app->was_up || fresh->ca->autostart) &&
		    !t->shutting_down)
			app_start(fresh);
		return;
	}
	log_info("%s: removed", app->name);
	app_free(app);
}

/*
 * One app's part of configuration nc: ca, or NULL when nc has it no more.
 * Unchanged, it just takes nc's settings; changed or gone, it stops, and
 * a changed one comes back with ca once down (app_maybe_free).
 */
static void
app_apply(struct app *app, struct conf *nc, struct conf_app *ca)
{
	if (ca != NULL && strcmp(ca->canon, app->ca->canon) == 0) {
		app_bind_conf(app, nc, ca);
		return;
	}
	if (ca == NULL)
		log_info("%s: no longer in the configuration; stopping",
		    app->name);
	else {
		log_info("%s: settings changed; restarting", app->name);
		app->was_up = !app_is_down(app);
		app->pending = ca;
		app->pending_conf = nc;
		nc->refs++;
	}
	app->removing = 1;
	app_stop(app);
	app_maybe_free(app);
}

/*
 * Apply a new configuration (already checked).  Takes ownership of nc.
 */
int
apps_apply_conf(struct tend *t, struct conf *nc)
{
	struct conf	*old = t->conf;
	struct app	*app, *next;
	struct conf_app	*ca;
	size_t		 i;

	t->conf = nc;
	nc->refs++;
	TAILQ_FOREACH_SAFE(app, &t->apps, entry, next) {
		ca = conf_find_app(nc, app->name);
		if (app->removing) {
			/* Still going down: come back (or not) as nc says. */
			if (app->pending_conf != NULL)
				conf_unref(t, app->pending_conf);
			app->pending = ca;
			app->pending_conf = ca != NULL ? nc : NULL;
			if (ca != NULL)
				nc->refs++;
			continue;
		}
		if ((app->deploy != NULL || app->drainer != NULL) &&
		    (ca == NULL || strcmp(ca->canon, app->ca->canon) != 0)) {
			/* Never under a running deploy's feet: it ends
			 * first (app_deploy_ended), then this applies. */
			log_info("%s: settings changed during a deploy; applied "
			    "when it ends", app->name);
			if (app->deferred_conf != NULL)
				conf_unref(t, app->deferred_conf);
			app->deferred_set = 1;
			app->deferred = ca;
			app->deferred_conf = nc;
			nc->refs++;
			continue;
		}
		if (app->deferred_set) {
			/* An earlier reread's change, now superseded. */
			conf_unref(t, app->deferred_conf);
			app->deferred_set = 0;
			app->deferred = NULL;
			app->deferred_conf = NULL;
		}
		app_apply(app, nc, ca);
	}
	for (i = 0; i < nc->n_apps; i++) {
		int found = 0;

		TAILQ_FOREACH(app, &t->apps, entry)
			if (strcmp(app->name, nc->apps[i]->name) == 0)
				found = 1;
		if (found)
			continue;
		if ((app = app_new(t, nc->apps[i])) == NULL) {
			log_warnx("%s: out of memory", nc->apps[i]->name);
			continue;
		}
		TAILQ_INSERT_TAIL(&t->apps, app, entry);
		log_info("%s: added", app->name);
		if (app->ca->autostart)
			app_start(app);
	}
	if (old != NULL && --old->refs == 0)
		conf_free(old);
	return 0;
}

/*
 * The app's deploy (and its drain) ended: a configuration reread during
 * it applies now, as that reread would have.
 */
void
app_deploy_ended(struct app *app)
{
	struct tend	*t = app->t;
	struct conf_app	*ca = app->deferred;
	struct conf	*nc = app->deferred_conf;

	if (!app->deferred_set || app->deploy != NULL || app->drainer != NULL ||
	    app->unlinked || app->removing)
		return;
	app->deferred_set = 0;
	app->deferred = NULL;
	app->deferred_conf = NULL;
	app_apply(app, nc, ca);
	conf_unref(t, nc);
}

/* The app whose releases app runs (follows =), if it is here. */
struct app *
app_leader(const struct app *app)
{
	struct app	*l;

	if (app->ca->follows == NULL)
		return NULL;
	TAILQ_FOREACH(l, &app->t->apps, entry)
		if (!l->removing && strcmp(l->name, app->ca->follows) == 0)
			return l;
	return NULL;
}
