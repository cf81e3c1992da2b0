/*
 * cmd-status.c: `status [APP]`: every app's state, processes and figures
 * as JSON.  The names of the fields are a contract (tendctl(1)): scripts
 * and monitoring read them, so fields are added, never renamed.  Reasons
 * may quote an app's output: they go out through proto_text, so output
 * that is not UTF-8 cannot break the reply.  Whether an app's env_file
 * changed since its processes started is appenv.c's to say: a stat() per
 * file unless one moved.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

/*
 * {"code": n} or {"signal": "SIGKILL"}, with when: "time" (ISO 8601,
 * UTC) and "ago_ms" (by the loop's clock, which a change of the wall
 * clock does not move).
 */
static json_t *
exit_json(struct tend *t, const struct inst *in)
{
	json_t	*o;
	char	 when[40];

	if (!in->has_exit)
		return json_null();
	if (in->exit_signal != 0)
		o = json_pack("{s:s}", "signal", signal_name(in->exit_signal));
	else
		o = json_pack("{s:i}", "code", in->exit_code);
	if (o == NULL)
		return NULL;
	if (time_iso(when, sizeof(when), in->exit_at, TIME_MS) > 0)
		json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "ago_ms", json_integer((json_int_t)(
	    uv_now(t->loop) - in->exit_mono)));
	return o;
}

/* Its process group is gone: what the last /proc pass found of it is
 * stale (status samples at most once a second). */
static int
inst_gone(const struct inst *in)
{
	return !in->running && !in->draining;
}

static json_t *
nullable_int(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

/* Free text that may hold app output (a reason, a health check's). */
static json_t *
text(const char *s)
{
	return proto_text(s, strlen(s));
}

/* What every view of an instance says of it: the brief table's fields. */
static json_t *
inst_common(struct tend *t, const struct inst *in)
{
	uint64_t	now = uv_now(t->loop);
	char		hw[64];

	health_word(in, hw, sizeof(hw));
	return json_pack("{s:i,s:s,s:o,s:i,s:o,s:o,s:I,s:f,s:o}",
	    "index", (int)in->idx,
	    "state", state_names[in->state],
	    "pid", in->running ? json_integer(in->pid) : json_null(),
	    "restarts", (int)in->restarts,
	    "uptime_ms", in->running ? json_integer((json_int_t)(now -
	    in->spawned_at)) : json_null(),
	    "last_exit", exit_json(t, in),
	    "rss_bytes", inst_gone(in) ? 0 : (json_int_t)in->rss,
	    "cpu_percent", inst_gone(in) ? 0.0 : in->cpu,
	    "health", text(hw));
}

static json_t *
inst_json(struct tend *t, const struct inst *in)
{
	json_t	*o;

	if ((o = inst_common(t, in)) == NULL)
		return NULL;
	if (json_object_set_new(o, "port", in->port ?
	    json_integer(in->port) : json_null()) != 0 ||
	    json_object_set_new(o, "ready_ms", nullable_int(in->ready_ms)) != 0 ||
	    json_object_set_new(o, "next_restart_ms", nullable_int(in->state ==
	    ST_BACKOFF ? in->next_delay : -1)) != 0 ||
	    json_object_set_new(o, "reason", text(in->reason)) != 0 ||
	    json_object_set_new(o, "health_restarts",
	    json_integer(in->health_restarts)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* A slot of the idle port set, never started: not shown, not counted. */
static int
inst_shown(const struct inst *in)
{
	return inst_active(in) || in->state != ST_STOPPED || in->running;
}

/* What the full and the brief status both say of an app. */
struct app_view {
	const struct inst *first;	/* the serving set's first */
	const struct inst *latest;	/* the last to have exited */
	unsigned	 shown;		/* instances status lists */
	const char	*reason;
	uint64_t	 rss;
	double		 cpu;
	unsigned	 restarts;
	char		 health[64];	/* its worst instance's */
};

static void
app_view(const struct app *app, struct app_view *v)
{
	unsigned	i;

	memset(v, 0, sizeof(*v));
	v->first = &app->inst[app->color * app->n_run];
	v->reason = "";
	for (i = 0; i < app->n_inst; i++) {
		const struct inst *in = &app->inst[i];

		if (!inst_shown(in))
			continue;
		v->shown++;
		if (!inst_gone(in)) {
			v->rss += in->rss;
			v->cpu += in->cpu;
		}
		v->restarts += in->restarts;
		/* The most recent exit, not the highest slot's. */
		if (in->has_exit && (v->latest == NULL ||
		    in->exit_mono >= v->latest->exit_mono))
			v->latest = in;
		if (*v->reason == '\0' && in->reason[0] != '\0' && inst_active(in))
			v->reason = in->reason;
	}
	health_word(v->first, v->health, sizeof(v->health));
	for (i = 0; i < app->n_inst; i++)
		if (inst_active(&app->inst[i]) && (app->inst[i].hc_fail > 0 ||
		    app->inst[i].state == ST_STARTING)) {
			health_word(&app->inst[i], v->health, sizeof(v->health));
			break;
		}
}

/* What the serving instances' output said of the app's configuration:
 * an array of one-line warnings (app_warnings, logpipe.c). */
static json_t *
warnings_json(const struct app *app)
{
	const char	*said[APP_WARNINGS_MAX];
	json_t		*a;
	size_t		 i, n;

	if ((a = json_array()) == NULL)
		return NULL;
	n = app_warnings(app, said, APP_WARNINGS_MAX);
	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(said[i]));
	return a;
}

static json_t *
status_app_json(struct tend *t, struct app *app)
{
	json_t		*o, *pids, *insts;
	struct app_view	 v;
	const struct inst *first;
	uint64_t	 now = uv_now(t->loop);
	unsigned	 i;

	if ((pids = json_array()) == NULL || (insts = json_array()) == NULL)
		return NULL;
	app_view(app, &v);
	first = v.first;
	for (i = 0; i < app->n_inst; i++) {
		const struct inst *in = &app->inst[i];

		if (!inst_shown(in))
			continue;
		if (in->running)
			json_array_append_new(pids, json_integer(in->pid));
		json_array_append_new(insts, inst_json(t, in));
	}
	o = json_pack("{s:s,s:s,s:o,s:o,s:i,s:o,s:o,s:I,s:f,s:o,s:o,s:o,s:o}",
	    "name", app->name,
	    "state", app_state(app),
	    "pid", first->running ? json_integer(first->pid) : json_null(),
	    "pids", pids,
	    "restarts", (int)v.restarts,
	    "uptime_ms", first->running ? json_integer((json_int_t)(now -
	    first->spawned_at)) : json_null(),
	    "last_exit", v.latest != NULL ? exit_json(t, v.latest) :
	    json_null(),
	    "rss_bytes", (json_int_t)v.rss,
	    "cpu_percent", v.cpu,
	    "health", text(v.health),
	    "ready_ms", nullable_int(first->ready_ms),
	    "release", app->release[0] ? json_string(app->release) : json_null(),
	    "reason", text(v.reason));
	if (o == NULL) {
		json_decref(insts);
		return NULL;
	}
	json_object_set_new(o, "port", app->ca->port ?
	    json_integer(app->ca->port) : json_null());
	json_object_set_new(o, "next_restart_ms", nullable_int(
	    first->state == ST_BACKOFF ? first->next_delay : -1));
	json_object_set_new(o, "heap_mib", app->heap_mib ?
	    json_integer((json_int_t)app->heap_mib) : json_null());
	if (app->heap_user)
		json_object_set_new(o, "heap_note", json_string("NODE_OPTIONS "
		    "already sets --max-old-space-size; tend adds none"));
	json_object_set_new(o, "instances", insts);
	appenv_drift_json(app, o);
	json_object_set_new(o, "warnings", warnings_json(app));
	prep_status(app, o);
	json_object_set_new(o, "log_file", app->log.path != NULL ?
	    json_string(app->log.path) : json_null());
	if (app->log.err != 0)
		json_object_set_new(o, "log_error", json_string(
		    strerror(app->log.err)));
	return o;
}

/* The instances as the table shows them: the app's brief fields each. */
static json_t *
insts_brief(struct tend *t, const struct app *app)
{
	json_t		*a, *o;
	unsigned	 i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < app->n_inst; i++) {
		const struct inst *in = &app->inst[i];

		if (!inst_shown(in))
			continue;
		o = inst_common(t, in);
		if (o != NULL && in->reason[0] != '\0')
			json_object_set_new_nocheck(o, "reason",
			    text(in->reason));
		if (o != NULL && in->state == ST_BACKOFF)
			json_object_set_new_nocheck(o, "next_restart_ms",
			    nullable_int(in->next_delay));
		json_array_append_new(a, o);
	}
	return a;
}

/*
 * What the table of `tendctl status` shows, and no more: with 500 apps
 * the full objects (instances, preflight, ...) are most of the time spent
 * building and parsing the answer.  Fields keep their full names.
 */
static json_t *
status_app_brief(struct tend *t, struct app *app)
{
	struct app_view	 v;
	const char	*step = prep_detail(app);
	uint64_t	 now = uv_now(t->loop);
	const char	*said[APP_WARNINGS_MAX];
	json_t		*o;

	if ((o = json_object()) == NULL)
		return NULL;
	app_view(app, &v);
	json_object_set_new_nocheck(o, "name", json_string(app->name));
	json_object_set_new_nocheck(o, "state", json_string(app_state(app)));
	json_object_set_new_nocheck(o, "pid", v.first->running ?
	    json_integer(v.first->pid) : json_null());
	json_object_set_new_nocheck(o, "restarts", json_integer(v.restarts));
	json_object_set_new_nocheck(o, "uptime_ms", v.first->running ?
	    json_integer((json_int_t)(now - v.first->spawned_at)) : json_null());
	json_object_set_new_nocheck(o, "last_exit", v.latest != NULL ?
	    exit_json(t, v.latest) : json_null());
	json_object_set_new_nocheck(o, "rss_bytes",
	    json_integer((json_int_t)v.rss));
	json_object_set_new_nocheck(o, "cpu_percent", json_real(v.cpu));
	json_object_set_new_nocheck(o, "health", text(v.health));
	json_object_set_new_nocheck(o, "reason", text(v.reason));
	if (step != NULL)
		json_object_set_new_nocheck(o, "step", text(step));
	if (v.first->state == ST_BACKOFF)
		json_object_set_new_nocheck(o, "next_restart_ms",
		    nullable_int(v.first->next_delay));
	/* A row per instance under the app's when it has several. */
	if (v.shown > 1)
		json_object_set_new_nocheck(o, "instances", insts_brief(t, app));
	appenv_drift_json(app, o);
	/* Only when there are some: the brief form stays small. */
	if (app_warnings(app, said, APP_WARNINGS_MAX) > 0)
		json_object_set_new_nocheck(o, "warnings", warnings_json(app));
	return o;
}

/* status --fleet (and releases --fleet): the answer comes from the
 * fleet database, later; the client may have gone by then. */
struct fleet_pend {
	struct client	*client;	/* NULL once it hung up */
	struct client_hook *on_close;
};

static void
fleet_client_gone(struct client *c, void *arg)
{
	struct fleet_pend	*p = arg;

	(void)c;
	p->client = NULL;
	p->on_close = NULL;
}

static void
status_fleet_cb(void *arg, json_t *reply)
{
	struct fleet_pend	*p = arg;

	if (p->client != NULL) {
		client_hook_remove(p->on_close);
		client_finish(p->client, json_incref(reply));
	}
	free(p);
}

void
cmd_fleet(struct tend *t, struct client *c, const char *op, const char *app)
{
	struct fleet_pend	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->on_close = client_on_close(c, fleet_client_gone, p)) == NULL) {
		free(p);
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	p->client = c;
	fleet_status(t, op, app, status_fleet_cb, p);
}

static void
cmd_status_exec(struct tend *t, struct client *c, json_t *req,
    struct app *one)
{
	json_t		*apps, *reply;
	struct app	*app;
	int		 brief = json_is_true(json_object_get(req, "brief"));

	if (json_is_true(json_object_get(req, "fleet"))) {
		cmd_fleet(t, c, "status", NULL);
		return;
	}

	ptree_sample(t, 0);
	appenv_drift_scan(t, one);
	if ((apps = json_array()) == NULL) {
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	TAILQ_FOREACH(app, &t->apps, entry) {
		if (app->removing && app->pending == NULL)
			continue;
		if (one != NULL && app != one)
			continue;
		json_array_append_new(apps, brief ? status_app_brief(t, app) :
		    status_app_json(t, app));
	}
	reply = json_pack("{s:b,s:o,s:{s:i,s:s,s:s}}", "ok", 1, "apps", apps,
	    "tend", "pid", (int)getpid(), "version", PACKAGE_VERSION,
	    "commit", tend_commit);
	client_finish(c, reply);
}

const struct cmd_entry cmd_status_entry = {
	.id = CMD_STATUS, .exec = cmd_status_exec
};
