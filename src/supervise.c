/*
 * supervise.c: the life of one instance, as a table of actions indexed by
 * [state][event] (s6-supervise style).  Every move goes through
 * inst_set_state(), which logs it, notifies waiters and systemd, and keeps
 * the timer honest: a state owns the instance's single timer, so leaving a
 * state always stops it.
 *
 * An instance is "down" only when its main process has exited AND no
 * process of its process group is left: a Node server started through
 * npm leaves node behind when npm dies, and restarting before that node is
 * gone would fail with EADDRINUSE (or worse, serve two versions).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tendd.h"

const char *const state_names[ST__COUNT] = {
	[ST_STOPPED] = "stopped",
	[ST_STARTING] = "starting",
	[ST_LIVE] = "live",
	[ST_BACKOFF] = "backoff",
	[ST_STOPPING] = "stopping",
	[ST_FAILED] = "failed",
	[ST_PREFLIGHT] = "preflight",
	[ST_MIGRATING] = "migrating",
};

const char *const event_names[EV__COUNT] = {
	[EV_START] = "start",
	[EV_STOP] = "stop",
	[EV_EXIT] = "exit",
	[EV_TIMER] = "timer",
	[EV_READY] = "ready",
	[EV_KILL] = "kill",
	[EV_MIGRATE] = "migrate",
	[EV_PREP_OK] = "prep-ok",
	[EV_PREP_FAIL] = "prep-fail",
};

typedef void (*action_fn)(struct inst *);

static void	inst_timer_cb(uv_timer_t *);
static void	drain_watch(struct tend *);
static uint32_t	supervise_random(struct tend *);

static void
inst_set_state(struct inst *in, enum inst_state st)
{
	struct app	*app = in->app;

	uv_timer_stop(&in->timer);
	if (in->state == st)
		return;
	/* Checks belong to starting and live; any move ends the current
	 * kind of check (a_ready starts the live one). */
	health_stop(in);
	log_debug("%s[%u]: %s -> %s", app->name, in->idx,
	    state_names[in->state], state_names[st]);
	in->state = st;
	app_notify(app);
}

static void
inst_timer_start(struct inst *in, uint64_t ms)
{
	uv_timer_start(&in->timer, inst_timer_cb, ms, 0);
}

static void
exit_phrase(const struct inst *in, char *buf, size_t len)
{
	if (in->spawn_failed || !in->has_exit)
		snprintf(buf, len, "did not start");
	else if (in->exit_signal != 0)
		snprintf(buf, len, "killed by %s", signal_name(in->exit_signal));
	else if (in->live_at == 0 && in->last_err[0] != '\0')
		/* It never served: its last word says why. */
		snprintf(buf, len, "exited with code %d: %s", in->exit_code,
		    in->last_err);
	else
		snprintf(buf, len, "exited with code %d", in->exit_code);
}

/* Spawn now; a spawn that fails is handled as a start that failed. */
static void
do_spawn(struct inst *in)
{
	char	why[sizeof(in->reason)];

	in->spawn_failed = 0;
	in->keep_reason = 0;
	in->last_err[0] = '\0';
	in->live_at = 0;
	in->ready_ms = -1;
	in->next_delay = -1;
	in->kill_sent = 0;
	in->after = AFTER_NOTHING;
	if (spawn_inst(in, why, sizeof(why)) != 0) {
		in->spawn_failed = 1;
		in->keep_reason = 1;
		snprintf(in->reason, sizeof(in->reason), "%s", why);
		applog_event(in->app, in->idx, "cannot start: %s", why);
		log_warnx("%s[%u]: cannot start: %s", in->app->name, in->idx,
		    why);
		in->spawned_at = uv_now(in->app->t->loop);
		inst_set_state(in, ST_STARTING);
		inst_event(in, EV_EXIT);	/* as if it died at once */
		return;
	}
	inst_set_state(in, ST_STARTING);
	if (in->app->ca->health != NULL && in->port != 0) {
		/* Ready when /health says so, within ready_timeout. */
		inst_timer_start(in, in->app->ca->ready_timeout);
		health_ready_begin(in);
	} else {
		/* Without a check: ready if still running after min_ready. */
		inst_timer_start(in, in->app->ca->min_ready);
	}
}

static void
begin_stop(struct inst *in, int after, int sig)
{
	in->after = after;
	inst_set_state(in, ST_STOPPING);
	if (in->running || in->draining) {
		ptree_signal_group(in->pid, sig);
		inst_timer_start(in, in->app->ca->kill_timeout);
	} else
		inst_event(in, EV_EXIT);
}

/*
 * The restart policy: what happens after the app went down on its own
 * (or failed to become ready).
 */
static void
apply_policy(struct inst *in, int was_live)
{
	struct app		*app = in->app;
	const struct conf_app	*ca = app->ca;
	struct tend		*t = app->t;
	uint64_t		 now = uv_now(t->loop), delay;
	char			 ex[256], d[32];
	int			 clean;

	exit_phrase(in, ex, sizeof(ex));
	clean = !in->spawn_failed && in->exit_signal == 0 &&
	    in->exit_code == 0;
	if (t->shutting_down || app->removing) {
		inst_set_state(in, ST_STOPPED);
		return;
	}
	if (ca->restart == RESTART_NEVER ||
	    (ca->restart == RESTART_ON_FAILURE && clean)) {
		if (!clean && in->reason[0] == '\0')
			snprintf(in->reason, sizeof(in->reason), "%s", ex);
		applog_event(app, in->idx, "%s; restart = %s: not restarting",
		    ex, ca->restart == RESTART_NEVER ? "never" : "on-failure");
		inst_set_state(in, clean ? ST_STOPPED : ST_FAILED);
		return;
	}
	if (startlimit_hit(&in->sl, now, ca->start_limit_interval)) {
		char prev[sizeof(in->reason)];

		/* A spawn error is the more useful half of "last". */
		snprintf(prev, sizeof(prev), "%s", in->keep_reason ?
		    in->reason : "");
		format_duration(d, sizeof(d), ca->start_limit_interval);
		if (snprintf(in->reason, sizeof(in->reason), "start limit hit: "
		    "more than %u restarts in %s; last: %s%s%s", ca->start_limit,
		    d, ex, prev[0] ? ": " : "", prev) >= (int)sizeof(in->reason))
			memcpy(in->reason + sizeof(in->reason) - 4, "...", 4);
		applog_event(app, in->idx, "%s", in->reason);
		log_warnx("%s[%u]: failed: %s", app->name, in->idx, in->reason);
		inst_set_state(in, ST_FAILED);
		return;
	}
	if (was_live && now - in->spawned_at >= ca->min_uptime) {
		/* It ran stably: this is news, not a pattern.  Restart now. */
		backoff_reset(&in->bo);
		delay = 0;
	} else
		delay = backoff_next(&in->bo, supervise_random(t));
	format_duration(d, sizeof(d), delay);
	if (!in->keep_reason || in->reason[0] == '\0')
		snprintf(in->reason, sizeof(in->reason), "%s", ex);
	applog_event(app, in->idx, "%s, restart in %s", ex, d);
	log_info("%s[%u]: %s, restart in %s", app->name, in->idx, ex, d);
	in->next_delay = (int64_t)delay;
	inst_set_state(in, ST_BACKOFF);
	/* Even "at once" goes through the loop: no recursion when a spawn
	 * keeps failing with restart_delay = 0. */
	inst_timer_start(in, delay);
}

/*
 * A start asked for (not a restart after a crash): through the app's
 * preflight and migration first when it has any.  Restarts after a crash
 * skip them: they must be quick, and the crash is in the log.
 */
static void
begin_start(struct inst *in)
{
	struct app	*app = in->app, *leader;

	if (app->ca->follows != NULL && app->release[0] == '\0' &&
	    (leader = app_leader(app)) != NULL)
		/* A follower runs its leader's live release. */
		snprintf(app->release, sizeof(app->release), "%s",
		    leader->release);
	if ((app->ca->repo != NULL || app->ca->follows != NULL) &&
	    app->release[0] == '\0' && in->dir == NULL) {
		/* A deployed app runs its live release: none yet. */
		const char *d = app->ca->follows ? app->ca->follows : app->name;

		snprintf(in->reason, sizeof(in->reason), "no release yet: "
		    "tendctl deploy %s", d);
		if (in->idx == 0)
			applog_event(app, -1, "not started: no release yet "
			    "(tendctl deploy %s)", d);
		in->next_delay = -1;
		inst_set_state(in, ST_STOPPED);
		return;
	}
	/* The environment of this start, read once for all its instances
	 * (they start in the same turn of the loop). */
	if ((app->env_at != uv_now(app->t->loop) || !app->env_ok) &&
	    appenv_refresh(app) != 0) {
		app->env_at = 0;
		snprintf(in->reason, sizeof(in->reason), "%s",
		    appenv_error(app));
		applog_event(app, in->idx, "cannot start: %s",
		    appenv_error(app));
		log_warnx("%s[%u]: cannot start: %s", app->name, in->idx,
		    appenv_error(app));
		in->next_delay = -1;
		inst_set_state(in, ST_FAILED);
		return;
	}
	app->env_at = uv_now(app->t->loop);
	if (prep_wanted(in)) {
		inst_set_state(in, ST_PREFLIGHT);
		if (prep_join(in) == 0)
			return;
		log_warnx("%s[%u]: cannot run the preflight: out of memory",
		    in->app->name, in->idx);
	}
	do_spawn(in);
}

/* --- actions ------------------------------------------------------- */

static void
a_start(struct inst *in)	/* operator start from a resting state */
{
	backoff_reset(&in->bo);
	startlimit_reset(&in->sl);
	in->reason[0] = '\0';
	in->keep_reason = 0;
	begin_start(in);
}

static void
a_prep_stop(struct inst *in)
{
	applog_event(in->app, in->idx, "stopped before it started");
	in->next_delay = -1;
	inst_set_state(in, ST_STOPPED);
	prep_leave(in->app);
}

static void
a_migrating(struct inst *in)
{
	inst_set_state(in, ST_MIGRATING);
}

static void
a_prep_ok(struct inst *in)
{
	do_spawn(in);
}

static void
a_prep_fail(struct inst *in)	/* reason set by prep.c */
{
	in->next_delay = -1;
	inst_set_state(in, ST_FAILED);
}

static void
a_restart_now(struct inst *in)	/* backoff elapsed */
{
	in->restarts++;
	do_spawn(in);
}

static void
a_start_after_stop(struct inst *in)
{
	in->after = AFTER_START;
}

static void
a_stop(struct inst *in)
{
	begin_stop(in, AFTER_NOTHING, in->app->ca->stop_signal);
}

static void
a_stop_backoff(struct inst *in)
{
	in->next_delay = -1;
	inst_set_state(in, ST_STOPPED);
}

static void
a_stop_again(struct inst *in)
{
	in->after = AFTER_NOTHING;
}

static void
a_crashed_starting(struct inst *in)
{
	apply_policy(in, 0);
}

static void
a_crashed_live(struct inst *in)
{
	apply_policy(in, 1);
}

static void
a_stopped(struct inst *in)
{
	switch (in->after) {
	case AFTER_START:
	case AFTER_RESTART:
		if (in->app->t->shutting_down || in->app->removing) {
			in->after = AFTER_NOTHING;
			inst_set_state(in, ST_STOPPED);
			break;
		}
		if (in->after == AFTER_START) {
			in->after = AFTER_NOTHING;
			in->reason[0] = '\0';
			in->keep_reason = 0;
			begin_start(in);
		} else {
			in->after = AFTER_NOTHING;
			do_spawn(in);
		}
		break;
	case AFTER_CRASH:
		apply_policy(in, in->live_at != 0);
		break;
	case AFTER_FAIL_START:
		apply_policy(in, 0);
		break;
	default:
		applog_event(in->app, in->idx, "stopped");
		in->next_delay = -1;
		inst_set_state(in, ST_STOPPED);
		break;
	}
	app_maybe_free(in->app);
}

static void
a_ready(struct inst *in)
{
	struct app	*app = in->app;
	uint64_t	 now = uv_now(app->t->loop);

	in->live_at = now;
	in->ready_ms = (int64_t)(now - in->spawned_at);
	in->reason[0] = '\0';
	in->next_delay = -1;
	applog_event(app, in->idx, "live (ready in %llu ms)",
	    (unsigned long long)in->ready_ms);
	inst_set_state(in, ST_LIVE);
	if (app->ca->health != NULL && in->port != 0)
		health_live_begin(in);
}

static void
a_starting_timer(struct inst *in)
{
	struct app	*app = in->app;
	char		 d[32];

	if (app->ca->health == NULL || in->port == 0) {
		inst_event(in, EV_READY);	/* min_ready elapsed */
		return;
	}
	format_duration(d, sizeof(d), app->ca->ready_timeout);
	snprintf(in->reason, sizeof(in->reason), "not ready after %s "
	    "(ready_timeout): %s", d, in->hc_last[0] ? in->hc_last :
	    "no answer");
	applog_event(app, (int)in->idx, "%s", in->reason);
	log_warnx("%s[%u]: %s", app->name, in->idx, in->reason);
	in->keep_reason = 1;
	begin_stop(in, AFTER_FAIL_START, app->ca->stop_signal);
}

static void
a_kill_timeout(struct inst *in)
{
	struct app	*app = in->app;
	char		 d[32];

	format_duration(d, sizeof(d), app->ca->kill_timeout);
	applog_event(app, in->idx, "still running %s after %s: SIGKILL", d,
	    signal_name(app->ca->stop_signal));
	log_warnx("%s[%u]: still running %s after %s, sending SIGKILL",
	    app->name, in->idx, d, signal_name(app->ca->stop_signal));
	in->kill_sent = 1;
	ptree_signal_group(in->pid, SIGKILL);
	/* Processes in D state may take a moment; keep polling. */
}

static void
a_tend_kill(struct inst *in)	/* tend restarts it: memory, health */
{
	in->restarts++;		/* operator restarts are not counted */
	begin_stop(in, AFTER_RESTART, in->app->ca->stop_signal);
}

static const action_fn actions[ST__COUNT][EV__COUNT] = {
	[ST_STOPPED] = {
		[EV_START] = a_start,
	},
	[ST_FAILED] = {
		[EV_START] = a_start,
	},
	[ST_BACKOFF] = {
		[EV_START] = a_start,
		[EV_STOP] = a_stop_backoff,
		[EV_TIMER] = a_restart_now,
	},
	[ST_STARTING] = {
		[EV_STOP] = a_stop,
		[EV_EXIT] = a_crashed_starting,
		[EV_TIMER] = a_starting_timer,
		[EV_READY] = a_ready,
		[EV_KILL] = a_tend_kill,
	},
	[ST_LIVE] = {
		[EV_STOP] = a_stop,
		[EV_EXIT] = a_crashed_live,
		[EV_KILL] = a_tend_kill,
	},
	[ST_PREFLIGHT] = {
		[EV_STOP] = a_prep_stop,
		[EV_MIGRATE] = a_migrating,
		[EV_PREP_OK] = a_prep_ok,
		[EV_PREP_FAIL] = a_prep_fail,
	},
	[ST_MIGRATING] = {
		[EV_STOP] = a_prep_stop,
		[EV_PREP_OK] = a_prep_ok,
		[EV_PREP_FAIL] = a_prep_fail,
	},
	[ST_STOPPING] = {
		[EV_START] = a_start_after_stop,
		[EV_STOP] = a_stop_again,
		[EV_EXIT] = a_stopped,
		[EV_TIMER] = a_kill_timeout,
	},
};

void
inst_event(struct inst *in, enum inst_event ev)
{
	action_fn	fn = actions[in->state][ev];

	log_debug("%s[%u]: event %s in %s", in->app->name, in->idx,
	    event_names[ev], state_names[in->state]);
	if (fn != NULL)
		fn(in);
}

static void
inst_timer_cb(uv_timer_t *h)
{
	inst_event(h->data, EV_TIMER);
}

/* --- process events from spawn.c and ptree.c ---------------------- */

void
inst_exited(struct inst *in, int64_t status, int term_signal)
{
	struct app	*app = in->app;
	char		 ex[256];

	in->running = 0;
	in->has_exit = 1;
	in->exit_code = term_signal ? -1 : (int)status;
	in->exit_signal = term_signal;
	in->exit_at = time_now_ms();
	in->exit_mono = uv_now(app->t->loop);
	exit_phrase(in, ex, sizeof(ex));
	if (in->state != ST_STOPPING)
		applog_event(app, in->idx, "pid %d %s", (int)in->pid, ex);
	if (in->state == ST_STARTING || in->state == ST_LIVE) {
		/* Take the rest of its group down before deciding anything. */
		if (ptree_group_alive(in->pid)) {
			in->after = AFTER_CRASH;
			inst_set_state(in, ST_STOPPING);
			ptree_signal_group(in->pid, app->ca->stop_signal);
			inst_timer_start(in, app->ca->kill_timeout);
		}
	}
	in->draining = 1;
	inst_group_check(in);
}

/* Called when the leader has exited, on SIGCHLD and from a poll timer. */
void
inst_group_check(struct inst *in)
{
	uint64_t	now;

	if (!in->draining || in->running)
		return;
	if (ptree_group_alive(in->pid)) {
		in->empty_at = 0;
		drain_watch(in->app->t);
		return;
	}
	/* The group is gone, but its last output may still sit in the
	 * pipes: read it to EOF before calling the instance down, so no line
	 * is lost at a stop or a shutdown.  A process that escaped the group
	 * could hold a pipe open forever: wait LOG_DRAIN_MS at most. */
	now = uv_now(in->app->t->loop);
	if (in->empty_at == 0)
		in->empty_at = now;
	if ((in->out != NULL || in->err != NULL) &&
	    now - in->empty_at < LOG_DRAIN_MS) {
		drain_watch(in->app->t);
		return;
	}
	in->empty_at = 0;
	in->draining = 0;
	inst_event(in, EV_EXIT);
}

/* --- aggregate views ---------------------------------------------- */

/* The app's state is its most telling serving instance's: trouble
 * first.  (A release being deployed beside it has a deploy status.) */
const char *
app_state(const struct app *app)
{
	static const enum inst_state order[] = {
		ST_FAILED, ST_BACKOFF, ST_STOPPING, ST_MIGRATING,
		ST_PREFLIGHT, ST_STARTING, ST_LIVE, ST_STOPPED
	};
	size_t		i;
	unsigned	j;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		for (j = 0; j < app->n_inst; j++)
			if (app->inst[j].state == order[i] &&
			    inst_active(&app->inst[j]))
				return state_names[order[i]];
	return state_names[ST_STOPPED];
}

int
app_is_down(const struct app *app)
{
	unsigned	i;

	for (i = 0; i < app->n_inst; i++) {
		const struct inst *in = &app->inst[i];
		if (in->state != ST_STOPPED && in->state != ST_FAILED)
			return 0;
		if (in->running || in->draining)
			return 0;
	}
	/* A migration or a backup being stopped still counts. */
	return app->jobs == 0;
}

/*
 * Tell whoever watches apps (registered by the layers above: deploys,
 * waiting commands, systemd's STATUS=, the shutdown) that app changed.
 * The state machine calls down only; upward it goes through these.
 */
int
app_watch(struct tend *t, app_watch_fn fn, void *arg)
{
	if (t->nwatch == APP_WATCH_MAX)
		return -1;
	t->watch[t->nwatch].fn = fn;
	t->watch[t->nwatch].arg = arg;
	t->nwatch++;
	return 0;
}

void
app_notify(struct app *app)
{
	struct tend	*t = app->t;
	size_t		 i;

	for (i = 0; i < t->nwatch; i++)
		t->watch[i].fn(app, t->watch[i].arg);
}

/* An event with its reason: the one way another module explains an
 * instance's outcome (only the state machine writes in->reason). */
void
inst_event_why(struct inst *in, enum inst_event ev, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(in->reason, sizeof(in->reason), fmt, ap);
	va_end(ap);
	in->keep_reason = 1;
	inst_event(in, ev);
}

/* Poll the groups that outlive their leader until none is left. */
static void
drain_cb(uv_timer_t *h)
{
	struct tend	*t = h->data;
	struct app	*app, *next;
	unsigned	 i, left = 0;

	TAILQ_FOREACH_SAFE(app, &t->apps, entry, next)
		for (i = 0; i < app->n_inst; i++) {
			inst_group_check(&app->inst[i]);
			/* The app may be gone now (removed, replaced). */
			if (app->unlinked)
				break;
			left += app->inst[i].draining;
		}
	if (left == 0)
		uv_timer_stop(h);
}

static void
drain_watch(struct tend *t)
{
	if (!t->drain_closed && !uv_is_active((uv_handle_t *)&t->drain_timer))
		uv_timer_start(&t->drain_timer, drain_cb, SUPERVISE_DRAIN_MS,
		    SUPERVISE_DRAIN_MS);
}

/*
 * An instance handed over by the tendd this one replaced (handover.c):
 * its run, pid and pipes are set; it enters st as that tendd left it, a
 * backoff with what was left of its delay, a live one with its checks.
 */
void
inst_adopt(struct inst *in, enum inst_state st, uint64_t delay_ms)
{
	inst_set_state(in, st);
	if (st == ST_BACKOFF)
		inst_timer_start(in, delay_ms);
	else if (st == ST_LIVE && in->app->ca->health != NULL && in->port != 0)
		health_live_begin(in);
}

void
supervise_init(struct tend *t)
{
	uv_timer_init(t->loop, &t->drain_timer);
	t->drain_timer.data = t;
}

void
supervise_close(struct tend *t, uv_close_cb cb)
{
	t->drain_closed = 1;
	uv_close((uv_handle_t *)&t->drain_timer, cb);
}

/* Jitter for the backoff: xorshift32, not secrets. */
static uint32_t
supervise_random(struct tend *t)
{
	uint32_t x = t->rnd;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return t->rnd = x ? x : 0x9e3779b9;
}

void
supervise_summary(struct tend *t, unsigned *live, unsigned *starting,
    unsigned *failed, unsigned *down)
{
	struct app	*app;
	const char	*s;

	*live = *starting = *failed = *down = 0;
	TAILQ_FOREACH(app, &t->apps, entry) {
		s = app_state(app);
		if (strcmp(s, "live") == 0)
			(*live)++;
		else if (strcmp(s, "starting") == 0 ||
		    strcmp(s, "preflight") == 0 || strcmp(s, "migrating") == 0)
			(*starting)++;
		else if (strcmp(s, "failed") == 0 || strcmp(s, "backoff") == 0)
			(*failed)++;
		else
			(*down)++;
	}
}
