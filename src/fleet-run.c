/*
 * fleet-run.c: tendd's side of tend-fleet (fleet-helper.c): run it as
 * [fleet] user with the database URL in an environment built from
 * nothing (probe_env), on lineproc.c (which owns the process and its
 * pipes), write it requests, read its JSON lines, and match each answer
 * to its request by id.  Nothing here waits: a request that gets no
 * answer in its time is answered "no answer" by a timer, and a helper
 * that exits is started again after a growing delay, its outstanding
 * requests answered at once.
 *
 * The helper runs as an unprivileged user and relays what other hosts
 * wrote into the database: its lines are input, so each is bounded, and
 * every string in them is made a printable line of bounded length
 * before it reaches status, logs or a terminal.
 */
#define _GNU_SOURCE
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

/* A status of a fleet of a hundred hosts with ten apps each fits. */
#define FLEET_LINE_MAX	(256 * 1024)
/* Requests written but not yet read by the helper: more is a helper
 * that stopped reading. */
#define FLEET_WQ_MAX	(1024 * 1024)
/* How deep answers nest (status: hosts[].apps.NAME.field). */
#define FLEET_DEPTH_MAX	6
/* Restart delays of a helper that exits. */
#define FLEET_RESTART_MIN_MS	1000
#define FLEET_RESTART_MAX_MS	30000
/* How often outstanding requests are looked at for their deadline. */
#define FLEET_TICK_MS	250

struct fleetreq {
	TAILQ_ENTRY(fleetreq) entry;
	json_int_t	 id;
	uint64_t	 deadline;
	fleet_reply_cb	 cb;
	void		*arg;
};

struct fleetrun {
	struct tend	*t;
	struct fleetrun_spec spec;	/* strings owned */
	fleet_event_cb	 event;
	void		*event_arg;
	struct lineproc	*p;		/* the helper now; NULL between runs */
	uv_timer_t	 restart;	/* start again after a delay */
	uv_timer_t	 tick;		/* request deadlines */
	struct backoff	 bo;
	int		 stopping;
	unsigned	 open;		/* our two timers, until closed */
	json_int_t	 next_id;
	TAILQ_HEAD(, fleetreq) reqs;
};

static void	fleetrun_spawn(struct fleetrun *);

static void
restart_cb(uv_timer_t *h)
{
	fleetrun_spawn(h->data);
}

/* --- answers ------------------------------------------------------------ */

/* A copy of v with every string a printable line of at most 1000 bytes;
 * NULL for what is too deep or not JSON we use. */
static json_t *
clean(json_t *v, int depth)
{
	json_t		*o, *c;
	const char	*k, *s;
	char		*d, *e;
	size_t		 i;

	if (depth > FLEET_DEPTH_MAX)
		return NULL;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if ((o = json_object()) == NULL)
			return NULL;
		json_object_foreach(v, k, c)
			if (strlen(k) <= 64)
				json_object_set_new(o, k, clean(c, depth + 1));
		return o;
	case JSON_ARRAY:
		if ((o = json_array()) == NULL)
			return NULL;
		json_array_foreach(v, i, c)
			json_array_append_new(o, clean(c, depth + 1));
		return o;
	case JSON_STRING:
		s = json_string_value(v);
		if ((d = strndup(s, 1000)) == NULL)
			return NULL;
		for (e = d; *e != '\0'; e++)
			if ((unsigned char)*e < 0x20 || *e == 0x7f)
				*e = ' ';
		o = json_string(d);	/* NULL if the cut split UTF-8 */
		free(d);
		return o != NULL ? o : json_string("?");
	default:
		return json_deep_copy(v);
	}
}

static void
req_answer(struct fleetrun *r, struct fleetreq *q, json_t *reply)
{
	TAILQ_REMOVE(&r->reqs, q, entry);
	if (q->cb != NULL)
		q->cb(q->arg, reply);
	json_decref(reply);
	free(q);
	if (TAILQ_EMPTY(&r->reqs))
		uv_timer_stop(&r->tick);
}

static void
fail_all(struct fleetrun *r, const char *why)
{
	struct fleetreq	*q;

	while ((q = TAILQ_FIRST(&r->reqs)) != NULL)
		req_answer(r, q, json_pack("{s:b,s:s}", "ok", 0, "detail", why));
}

static void
tick_cb(uv_timer_t *h)
{
	struct fleetrun	*r = h->data;
	struct fleetreq	*q, *n;
	uint64_t	 now = uv_now(r->t->loop);

	TAILQ_FOREACH_SAFE(q, &r->reqs, entry, n)
		if (now >= q->deadline)
			req_answer(r, q, json_pack("{s:b,s:s}", "ok", 0,
			    "detail", "tend-fleet did not answer in time (the "
			    "fleet database is slow or unreachable)"));
}

static void
line_cb(void *arg, const char *s, size_t n)
{
	struct fleetrun	*r = arg;
	json_t		*msg, *c, *id;
	struct fleetreq	*q;
	json_int_t	 n_id;

	if ((msg = json_loadb(s, n, 0, NULL)) == NULL)
		return;
	c = json_is_object(msg) ? clean(msg, 0) : NULL;
	json_decref(msg);
	if (c == NULL)
		return;
	if (json_is_integer(id = json_object_get(c, "id"))) {
		n_id = json_integer_value(id);
		json_object_del(c, "id");
		TAILQ_FOREACH(q, &r->reqs, entry)
			if (q->id == n_id) {
				/* "ok" on the wire is 0/1: make it the
				 * protocol's boolean. */
				json_object_set_new(c, "ok", json_boolean(
				    json_integer_value(json_object_get(c,
				    "ok")) == 1));
				req_answer(r, q, c);
				return;
			}
		json_decref(c);
		return;
	}
	if (json_is_string(json_object_get(c, "event"))) {
		if (strcmp(json_string_value(json_object_get(c, "event")),
		    "up") == 0)
			backoff_reset(&r->bo);
		if (r->event != NULL)
			r->event(r->event_arg, c);
	}
	json_decref(c);
}

/* --- the helper's process ------------------------------------------------ */

/* Its output ended and it exited: start another unless we are
 * stopping. */
static void
done_cb(void *arg, int64_t status, int sig)
{
	struct fleetrun	*r = arg;
	uint64_t	 d;

	(void)status;
	(void)sig;
	r->p = NULL;
	fail_all(r, "tend-fleet exited: starting it again");
	if (r->stopping)
		return;
	d = backoff_next(&r->bo, r->t->rnd++);
	log_warnx("fleet: tend-fleet exited; starting it again in %llu ms",
	    (unsigned long long)d);
	if (r->event != NULL) {
		json_t *ev = json_pack("{s:s,s:s}", "event", "down", "detail",
		    "tend-fleet exited");

		r->event(r->event_arg, ev);
		json_decref(ev);
	}
	uv_timer_start(&r->restart, restart_cb, d, 0);
}

static void
fleetrun_spawn(struct fleetrun *r)
{
	struct lineproc_spec	 ls;
	struct passwd		*pw;
	struct env		 e;
	char			 path[4200], ms[32], why[256], *argv[2];
	const char		*user = r->spec.user;
	int			 as_other = 0;

	if (r->stopping || r->p != NULL)
		return;
	/* Not root: it runs as tendd's own user, there is no other. */
	if (geteuid() != 0)
		user = NULL;
	pw = spawn_user(user, NULL, &as_other, why, sizeof(why));
	if (as_other < 0) {
		log_warnx("fleet: cannot run tend-fleet: %s", why);
		goto later;
	}
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)r->spec.lease_ms);
	if (probe_env(&e, pw) != 0 ||
	    env_set(&e, "TEND_FLEET_URL", r->spec.url) != 0 ||
	    env_set(&e, "TEND_FLEET_HOST", r->spec.host) != 0 ||
	    env_set(&e, "TEND_FLEET_LEASE_MS", ms) != 0) {
		env_free(&e);
		goto later;
	}
	argv[0] = (char *)lineproc_path(r->t, "tend-fleet", path,
	    sizeof(path));
	argv[1] = NULL;
	/* Another user's stderr is not tendd's log to write into. */
	ls = (struct lineproc_spec){ .spawn = { .user = user, .cwd = "/",
	    .argv = argv, .env = e.kv }, .as_other = as_other,
	    .line_max = FLEET_LINE_MAX, .wq_max = FLEET_WQ_MAX,
	    .line = line_cb, .done = done_cb, .arg = r };
	r->p = lineproc_start(r->t, &ls, why, sizeof(why));
	env_free(&e);
	if (r->p == NULL) {
		log_warnx("fleet: %s", why);
		goto later;
	}
	log_info("fleet: tend-fleet started (pid %d) as %s for host %s",
	    (int)lineproc_pid(r->p), user != NULL ? user : "tendd's user",
	    r->spec.host);
	return;
later:
	uv_timer_start(&r->restart, restart_cb,
	    backoff_next(&r->bo, r->t->rnd++), 0);
}

/* --- requests ------------------------------------------------------------ */

/* Write msg as one line; -1 when the helper is not there or not
 * reading. */
static int
send_line(struct fleetrun *r, json_t *msg)
{
	char	*s;
	int	 rc;

	if (r->p == NULL || (s = json_dumps(msg, JSON_COMPACT)) == NULL)
		return -1;
	rc = lineproc_write(r->p, s, strlen(s));
	free(s);
	return rc;
}

void
fleetrun_tell(struct fleetrun *r, json_t *msg)
{
	if (r != NULL)
		(void)send_line(r, msg);
}

/*
 * Ask the helper; cb(arg, reply) once, from the loop, with an object
 * holding "ok" (false and "detail" when the helper is not running, did
 * not answer within timeout_ms, or exited).  The reply is borrowed.
 */
void
fleetrun_ask(struct fleetrun *r, json_t *req, uint64_t timeout_ms,
    fleet_reply_cb cb, void *arg)
{
	struct fleetreq	*q;
	json_t		*fail;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		fail = json_pack("{s:b,s:s}", "ok", 0, "detail", "out of memory");
		cb(arg, fail);
		json_decref(fail);
		return;
	}
	q->id = ++r->next_id;
	q->cb = cb;
	q->arg = arg;
	q->deadline = uv_now(r->t->loop) + timeout_ms;
	TAILQ_INSERT_TAIL(&r->reqs, q, entry);
	json_object_set_new(req, "id", json_integer(q->id));
	if (send_line(r, req) != 0) {
		req_answer(r, q, json_pack("{s:b,s:s}", "ok", 0, "detail",
		    r->p == NULL ? "tend-fleet is not running (starting it "
		    "again)" : "tend-fleet is not reading its requests"));
		return;
	}
	if (!uv_is_active((uv_handle_t *)&r->tick))
		uv_timer_start(&r->tick, tick_cb, FLEET_TICK_MS, FLEET_TICK_MS);
}

/* Whoever arg is goes away: its answers are dropped. */
void
fleetrun_forget(struct fleetrun *r, void *arg)
{
	struct fleetreq	*q;

	if (r == NULL)
		return;
	TAILQ_FOREACH(q, &r->reqs, entry)
		if (q->arg == arg)
			q->cb = NULL;
}

/* --- start and stop ------------------------------------------------------ */

struct fleetrun *
fleetrun_start(struct tend *t, const struct fleetrun_spec *spec,
    fleet_event_cb event, void *arg)
{
	struct fleetrun	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->t = t;
	r->event = event;
	r->event_arg = arg;
	if ((spec->user != NULL && (r->spec.user = strdup(spec->user)) == NULL) ||
	    (r->spec.url = strdup(spec->url)) == NULL ||
	    (r->spec.host = strdup(spec->host)) == NULL) {
		free((char *)r->spec.user);
		free((char *)r->spec.url);
		free(r);
		return NULL;
	}
	r->spec.lease_ms = spec->lease_ms;
	r->bo.base = FLEET_RESTART_MIN_MS;
	r->bo.max = FLEET_RESTART_MAX_MS;
	TAILQ_INIT(&r->reqs);
	uv_timer_init(t->loop, &r->restart);
	uv_timer_init(t->loop, &r->tick);
	r->restart.data = r->tick.data = r;
	r->open = 2;
	fleetrun_spawn(r);
	return r;
}

static void
run_closed_cb(uv_handle_t *h)
{
	struct fleetrun	*r = h->data;

	if (--r->open > 0)
		return;
	free((char *)r->spec.user);
	if (r->spec.url != NULL)
		explicit_bzero((char *)r->spec.url, strlen(r->spec.url));
	free((char *)r->spec.url);
	free((char *)r->spec.host);
	free(r);
}

/* Let go of the helper (its stdin closes; it exits) and free r once
 * every handle has closed.  Outstanding requests are answered. */
void
fleetrun_stop(struct fleetrun *r)
{
	if (r == NULL)
		return;
	r->stopping = 1;
	fail_all(r, "the fleet connection is being closed");
	if (r->p != NULL) {
		lineproc_kill(r->p, SIGTERM);
		lineproc_close_stdin(r->p);
		lineproc_forget(r->p);
		r->p = NULL;
	}
	uv_close((uv_handle_t *)&r->restart, run_closed_cb);
	uv_close((uv_handle_t *)&r->tick, run_closed_cb);
}
