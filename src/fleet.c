/*
 * fleet.c: this host in a fleet ([fleet] in tend.conf): keep tend-fleet
 * running with the settings of the configuration in force, send it this
 * host's heartbeat (each app's state and release) every lease/3 and
 * whenever an app changes, and answer `status --fleet` from what it
 * reads in the database.  Without [fleet] nothing here runs.
 *
 * The heartbeat comes from tendd's loop, not from the helper's: a tendd
 * that is stuck stops beating, and the other hosts see its host go
 * stale (lost) as if it were dead.  When the database is unreachable
 * this host goes on serving what it runs; only the fleet's view and
 * fleet actions wait for it.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendd.h"
#include "fleet-int.h"

/* An app change is told at most this often (a deploy changes state
 * several times a second). */
#define FLEET_BEAT_DEBOUNCE_MS	200
/* status --fleet: three short queries, each bounded by the helper. */
#define FLEET_STATUS_MS		8000
/* How often this host reads its order in a fleet deploy. */
#define FLEET_ORDERS_MS		1000


static void
fleet_closed_cb(uv_handle_t *h)
{
	struct fleet	*f = h->data;

	if (--f->open == 0) {
		explicit_bzero(f->url, strlen(f->url));
		free(f->url);
		free(f->host);
		free(f->user);
		json_decref(f->tried);
		free(f);
	}
}

/* What this host runs, for the heartbeat: each app's state and live
 * release. */
static json_t *
fleet_apps(struct tend *t)
{
	struct app	*app;
	json_t		*o;

	if ((o = json_object()) == NULL)
		return NULL;
	TAILQ_FOREACH(app, &t->apps, entry)
		json_object_set_new(o, app->name, json_pack("{s:s,s:s}",
		    "state", app_state(app), "release", app->release));
	return o;
}

static void
fleet_beat(struct fleet *f)
{
	json_t	*msg;

	msg = json_pack("{s:s,s:o,s:s}", "op", "beat", "apps",
	    fleet_apps(f->t), "status", f->t->shutting_down ? "stopping" :
	    "up");
	if (msg != NULL)
		fleetrun_tell(f->run, msg);
	json_decref(msg);
}

static void
beat_cb(uv_timer_t *h)
{
	fleet_beat(h->data);
}

static void
orders_tick_cb(uv_timer_t *h)
{
	struct fleet	*f = h->data;

	if (f->up)
		fleet_orders_tick(f);
}

static void
quiet_cb(void *arg, json_t *reply)
{
	const char	*d = json_string_value(json_object_get(reply, "detail"));

	(void)arg;
	if (!json_is_true(json_object_get(reply, "ok")))
		log_warnx("fleet: a write was not made: %s", d != NULL ? d :
		    "no answer");
}

/* A request to the fleet database: cb(arg, reply) once. */
void
fleet_ask(struct fleet *f, json_t *req, fleet_reply_cb cb, void *arg)
{
	fleetrun_ask(f->run, req, FLEET_STATUS_MS, cb, arg);
}

/* A write whose answer only matters when it fails (logged). */
void
fleet_ask_quiet(struct fleet *f, json_t *req)
{
	fleetrun_ask(f->run, req, FLEET_STATUS_MS, quiet_cb, NULL);
}

static void
event_cb(void *arg, json_t *ev)
{
	struct fleet	*f = arg;
	const char	*e = json_string_value(json_object_get(ev, "event")),
			*d = json_string_value(json_object_get(ev, "detail")),
			*tm = json_string_value(json_object_get(ev, "db_time"));

	if (strcmp(e, "up") == 0) {
		f->schema = (int)json_integer_value(json_object_get(ev,
		    "schema"));
		if (!f->up)
			log_info("fleet: connected to the fleet database "
			    "(schema version %d) as host %s", f->schema,
			    f->host);
		f->up = 1;
		f->detail[0] = '\0';
		fleet_beat(f);
	} else if (strcmp(e, "down") == 0) {
		if (f->up || strcmp(f->detail, d != NULL ? d : "") != 0)
			log_warnx("fleet: %s (this host keeps serving what it "
			    "runs)", d != NULL ? d : "disconnected");
		f->up = 0;
		snprintf(f->detail, sizeof(f->detail), "%s", d != NULL ? d :
		    "disconnected");
	} else if (strcmp(e, "beat") == 0 && tm != NULL)
		snprintf(f->db_time, sizeof(f->db_time), "%s", tm);
}

static void
fleet_stop(struct tend *t)
{
	struct fleet	*f = t->fleet;

	if (f == NULL)
		return;
	t->fleet = NULL;
	t->migration_ran = NULL;
	/* Before the run stops: its failing answers must find them let go. */
	fleet_coord_drop(f);
	fleet_parts_drop(f);
	fleetrun_stop(f->run);
	uv_close((uv_handle_t *)&f->beat, fleet_closed_cb);
	uv_close((uv_handle_t *)&f->soon, fleet_closed_cb);
	uv_close((uv_handle_t *)&f->orders, fleet_closed_cb);
}

/* --- a migration the fleet ran ------------------------------------------- */

struct fleet_mig {
	void	(*cb)(void *, int);
	void	*arg;
};

static void
mig_cb(void *arg, json_t *reply)
{
	struct fleet_mig	*m = arg;

	m->cb(m->arg, json_is_true(json_object_get(reply, "ok")) &&
	    json_is_true(json_object_get(reply, "done")));
	free(m);
}

/*
 * t->migration_ran: is the migration of app's release (the real path of
 * its dir, whose last part is the release id) recorded as run in
 * tend.migration?  Unknown (no sha for it, the database unreachable, no
 * answer) is "no": the migration runs as it would without a fleet.
 */
static void
fleet_migration_ran(struct app *app, const char *release,
    void (*cb)(void *, int), void *arg)
{
	struct fleet		*f = app->t->fleet;
	struct deploy_rec	*r;
	struct fleet_mig	*m;
	const char		*id = strrchr(release, '/'), *sha = NULL;
	json_t			*req;

	id = id != NULL ? id + 1 : release;
	TAILQ_FOREACH(r, &app->history.recs, entry)
		if (strcmp(r->id, id) == 0 && r->sha[0] != '\0') {
			sha = r->sha;
			break;
		}
	/* Right after tendd starts, the helper is still connecting: the
	 * question waits for it (bounded by FLEET_STATUS_MS). */
	if (f == NULL || (!f->up && strcmp(f->detail, "connecting") != 0) ||
	    sha == NULL ||
	    (m = calloc(1, sizeof(*m))) == NULL) {
		cb(arg, 0);
		return;
	}
	m->cb = cb;
	m->arg = arg;
	if ((req = json_pack("{s:s,s:s,s:s}", "op", "migration", "app",
	    app->name, "sha", sha)) == NULL) {
		free(m);
		cb(arg, 0);
		return;
	}
	fleet_ask(f, req, mig_cb, m);
	json_decref(req);
}

static int
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * Run with t->conf's [fleet]: start the helper, restart it when a
 * reread changed what it runs with, stop it when the section went.
 */
void
fleet_apply(struct tend *t)
{
	const struct conf	*c = t->conf;
	struct fleet		*f = t->fleet;
	struct fleetrun_spec	 spec;

	if (f != NULL && c->fleet_on && same(f->url, c->fleet_database) &&
	    same(f->host, c->fleet_host) && same(f->user, c->fleet_user) &&
	    f->lease == c->fleet_lease)
		return;
	if (f != NULL) {
		log_info("fleet: %s", c->fleet_on ? "settings changed: "
		    "reconnecting" : "[fleet] removed: leaving the fleet");
		fleet_stop(t);
	}
	if (!c->fleet_on)
		return;
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->url = strdup(c->fleet_database)) == NULL ||
	    (f->host = strdup(c->fleet_host)) == NULL ||
	    (c->fleet_user != NULL &&
	    (f->user = strdup(c->fleet_user)) == NULL)) {
		if (f != NULL) {
			free(f->url);
			free(f->host);
		}
		free(f);
		log_warnx("fleet: out of memory");
		return;
	}
	f->t = t;
	f->lease = c->fleet_lease;
	snprintf(f->detail, sizeof(f->detail), "connecting");
	spec = (struct fleetrun_spec){ .user = f->user, .url = f->url,
	    .host = f->host, .lease_ms = f->lease };
	if ((f->run = fleetrun_start(t, &spec, event_cb, f)) == NULL) {
		free(f->url);
		free(f->host);
		free(f->user);
		free(f);
		log_warnx("fleet: out of memory");
		return;
	}
	uv_timer_init(t->loop, &f->beat);
	uv_timer_init(t->loop, &f->soon);
	uv_timer_init(t->loop, &f->orders);
	f->beat.data = f->soon.data = f->orders.data = f;
	f->open = 3;
	uv_timer_start(&f->beat, beat_cb, f->lease / 3, f->lease / 3);
	uv_timer_start(&f->orders, orders_tick_cb, FLEET_ORDERS_MS,
	    FLEET_ORDERS_MS);
	t->fleet = f;
	t->migration_ran = fleet_migration_ran;
}

/* An app changed state or release: tell the fleet shortly. */
void
fleet_app_changed(struct app *app)
{
	struct fleet	*f = app->t->fleet;

	if (f != NULL && !uv_is_active((uv_handle_t *)&f->soon))
		uv_timer_start(&f->soon, beat_cb, FLEET_BEAT_DEBOUNCE_MS, 0);
}

/* A fleet deploy this host holds or takes part in, for a handover:
 * NULL when none, else what is under way. */
const char *
fleet_busy(struct tend *t)
{
	struct fleet	*f = t->fleet;

	if (f == NULL)
		return NULL;
	if (f->coord != NULL)
		return "this host runs a fleet deploy";
	if (f->part != NULL)
		return "this host takes part in a fleet deploy";
	return NULL;
}

/* tendd stops: the helper goes (its host's heartbeat goes stale). */
void
fleet_shutdown(struct tend *t)
{
	fleet_stop(t);
}

/* --- status --fleet, releases --fleet ------------------------------------------------------ */

struct fleet_ask {
	struct tend	*t;
	fleet_reply_cb	 cb;
	void		*arg;
};

static void
status_cb(void *arg, json_t *reply)
{
	struct fleet_ask	*a = arg;
	struct fleet		*f = a->t->fleet;
	json_t			*r;

	if (json_is_true(json_object_get(reply, "ok")))
		r = json_deep_copy(reply);
	else
		r = json_pack("{s:b,s:s}", "ok", 0, "error",
		    json_string_value(json_object_get(reply, "detail")) != NULL ?
		    json_string_value(json_object_get(reply, "detail")) :
		    "the fleet database did not answer");
	if (r != NULL && f != NULL) {
		json_object_set_new(r, "host", json_string(f->host));
		json_object_set_new(r, "lease_ms", json_integer(
		    (json_int_t)f->lease));
		json_object_set_new(r, "connection", json_pack("{s:s,s:s}",
		    "state", f->up ? "up" : "down", "detail", f->detail));
	}
	if (r == NULL)
		r = json_pack("{s:b,s:s}", "ok", 0, "error", "out of memory");
	a->cb(a->arg, r);
	json_decref(r);
	free(a);
}

/*
 * Ask the fleet database, op "status" (every host, its apps and
 * heartbeat age, and the fleet deploy) or "releases" (which hosts ran
 * which release of app): cb(arg, reply) once, from the loop, with the reply to send
 * (borrowed), even when the fleet goes meanwhile: arg must live until
 * then.
 */
void
fleet_status(struct tend *t, const char *op, const char *app,
    fleet_reply_cb cb, void *arg)
{
	struct fleet_ask	*a;
	json_t			*r;

	if (t->fleet == NULL || (a = calloc(1, sizeof(*a))) == NULL) {
		r = json_pack("{s:b,s:s}", "ok", 0, "error", t->fleet == NULL ?
		    "this host is in no fleet: tend.conf has no [fleet]" :
		    "out of memory");
		cb(arg, r);
		json_decref(r);
		return;
	}
	a->t = t;
	a->cb = cb;
	a->arg = arg;
	if ((r = json_pack("{s:s,s:s?}", "op", op, "app", app)) == NULL) {
		free(a);
		return;
	}
	fleetrun_ask(t->fleet->run, r, FLEET_STATUS_MS, status_cb, a);
	json_decref(r);
}
