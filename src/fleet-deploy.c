/*
 * fleet-deploy.c: `deploy APP --fleet [REF]`, from any host of a fleet.
 *
 * The host asked is the holder: it takes the lease (one UPDATE; a
 * second fleet deploy is refused with who holds it and since when),
 * tells itself to build REF, and once its build resolved REF to a sha
 * tells every other host that runs APP (and is not lost) to build that
 * sha, in parallel.  Each host builds with its own deploy (deploy.c),
 * which waits at "awaiting" for the fleet's go.  Then batches of
 * [fleet] batch hosts get "go" in turn: the first host to start claims
 * the sha's migration in the schema (a primary key decides; the others
 * wait for it and skip theirs), each switches behind its own /health
 * gate, and the batch must stay live for [fleet] watch (read from the
 * heartbeats) before the next.  A host that fails, or is lost with
 * on_lost = stop, stops the rollout: every switched host is told to
 * revert (a rollback to its previous release), the rest to cancel, and
 * the deploy ends deploy-failed naming the host and the reason.
 *
 * Every host, holder or not, reads its order for the running deploy
 * once a second (tend.fleet_order, written by the holder only) and
 * writes its own step (tend.step); the holder renews the lease every
 * lease/3 and every write names the lease's generation, so a holder
 * that froze or lost the database past its lease changes nothing, and
 * hosts stop taking its orders once the lease ran out.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendd.h"
#include "fleet-int.h"

/* How often the holder reads the fleet. */
#define FLEET_COORD_MS	500
/* How long reverting hosts get before the deploy ends anyway. */
#define FLEET_REVERT_MS	(5 * 60 * 1000)
#define FLEET_HOSTS_MAX	64

/* --- each host: its part in the running deploy ---------------------------- */

struct fleet_part {
	struct fleet	*f;		/* NULL once the fleet went */
	json_int_t	 gen;
	char		 app[APP_NAME_MAX + 1];
	char		 order[16];	/* build, go, revert, cancel, "" */
	char		 detail[256];
	char		 sha[48];
	char		 prev[64];	/* the release live before: a revert's */
	int		 started;	/* its deploy was asked for */
	int		 running;	/* that deploy has not answered yet */
	int		 told_built;
	int		 mig;		/* 1 runs the migration, 2 skips it */
	int		 claiming;
	int		 ok;		/* its deploy went live */
	int		 reverting;
	int		 said;		/* its final step was written */
};

static void
part_step(struct fleet_part *p, const char *step, const char *detail)
{
	json_t	*r;

	if (p->f == NULL)
		return;
	r = json_pack("{s:s,s:I,s:s,s:s?}", "op", "hoststep", "generation",
	    p->gen, "step", step, "detail", detail);
	if (r != NULL)
		fleet_ask_quiet(p->f, r);
	json_decref(r);
}

static void
part_maybe_free(struct fleet_part *p)
{
	if (p->running || p->reverting || p->claiming)
		return;
	if (p->f != NULL && p->f->part == p)
		return;
	free(p);
}

/* Its deploy answered. */
static void
part_ended(struct fleet_part *p)
{
	if (p->running && p->f != NULL && p->f->parts_running > 0)
		p->f->parts_running--;
	p->running = 0;
}

/* A local deploy's progress, which a fleet deploy does not relay. */
static void
ignore_event(void *arg, json_t *ev)
{
	(void)arg;
	json_decref(ev);
}

static void
part_done(void *arg, json_t *reply)
{
	struct fleet_part	*p = arg;
	const char		*err = json_string_value(json_object_get(reply,
				    "error"));
	json_t			*r;

	part_ended(p);
	p->ok = json_is_true(json_object_get(reply, "ok"));
	if (p->ok) {
		part_step(p, "live", json_string_value(json_object_get(reply,
		    "release")));
		if (p->mig == 1 && p->f != NULL &&
		    (r = json_pack("{s:s,s:I,s:s,s:s}", "op", "migrated",
		    "generation", p->gen, "app", p->app, "sha", p->sha)) != NULL) {
			fleet_ask_quiet(p->f, r);
			json_decref(r);
		}
	} else
		part_step(p, strcmp(p->order, "cancel") == 0 ? "canceled" :
		    "failed", err != NULL ? err : "deploy failed");
	json_decref(reply);
	part_maybe_free(p);
}

static void
part_refuse(void *arg, const char *why)
{
	struct fleet_part	*p = arg;

	part_ended(p);
	part_step(p, "failed", why);
	part_maybe_free(p);
}

static void
revert_done(void *arg, json_t *reply)
{
	struct fleet_part	*p = arg;

	p->reverting = 0;
	part_step(p, json_is_true(json_object_get(reply, "ok")) ? "reverted" :
	    "revert-failed", json_string_value(json_object_get(reply,
	    "error")));
	json_decref(reply);
	part_maybe_free(p);
}

static void
revert_refuse(void *arg, const char *why)
{
	struct fleet_part	*p = arg;

	p->reverting = 0;
	part_step(p, "revert-failed", why);
	part_maybe_free(p);
}

/* deploy.c's gate: 1 go, 0 not yet, -1 stop. */
static int
part_go(void *gate, const char *sha)
{
	struct fleet_part	*p = gate;

	if (p->f == NULL || strcmp(p->order, "cancel") == 0 ||
	    strcmp(p->order, "revert") == 0)
		return -1;
	if (!p->told_built && sha != NULL && *sha != '\0') {
		snprintf(p->sha, sizeof(p->sha), "%s", sha);
		p->told_built = 1;
		part_step(p, "built", sha);
	}
	if (strcmp(p->order, "go") != 0)
		return 0;
	return p->mig == 1 || p->mig == 2 ? 1 : 0;
}

static int
part_migrate(void *gate)
{
	return ((struct fleet_part *)gate)->mig == 1;
}

static void
claim_cb(void *arg, json_t *reply)
{
	struct fleet_part	*p = arg;
	const char		*m = json_string_value(json_object_get(reply,
				    "migration"));

	p->claiming = 0;
	if (m != NULL && strcmp(m, "claimed") == 0)
		p->mig = 1;
	else if (m != NULL && strcmp(m, "done") == 0)
		p->mig = 2;
	part_maybe_free(p);
}

/* What this host's order says to do now. */
static void
part_act(struct fleet_part *p)
{
	struct fleet		*f = p->f;
	struct deploy_asker	 a;
	struct app		*app = app_find(f->t, p->app);
	json_t			*r;

	if (strcmp(p->order, "build") == 0 && !p->started) {
		/* A deploy of an earlier fleet deploy (its lease ran out,
		 * its part canceled) is still ending: the next tick. */
		if (f->parts_running > 0)
			return;
		p->started = 1;
		if (app == NULL) {
			part_step(p, "failed", "no such app on this host");
			return;
		}
		part_step(p, "building", p->detail);
		snprintf(p->prev, sizeof(p->prev), "%s", app->release);
		memset(&a, 0, sizeof(a));
		a.event = ignore_event;
		a.done = part_done;
		a.refuse = part_refuse;
		a.arg = p;
		a.go = part_go;
		a.migrate = part_migrate;
		a.gate = p;
		p->running = 1;
		f->parts_running++;
		deploy_request(app, &a, p->detail);
		return;
	}
	if (strcmp(p->order, "go") == 0 && p->running && p->told_built &&
	    p->mig == 0 && !p->claiming && (r = json_pack("{s:s,s:I,s:s,s:s}",
	    "op", "claim", "generation", p->gen, "app", p->app, "sha",
	    p->sha)) != NULL) {
		p->claiming = 1;
		fleet_ask(f, r, claim_cb, p);
		json_decref(r);
		return;
	}
	if (strcmp(p->order, "revert") == 0 && p->ok && !p->reverting &&
	    !p->said && app != NULL) {
		p->said = 1;
		p->reverting = 1;
		memset(&a, 0, sizeof(a));
		a.event = ignore_event;
		a.done = revert_done;
		a.refuse = revert_refuse;
		a.arg = p;
		/* The release live before this deploy, not "the one before
		 * the live one" (a release rolled back from counts there). */
		deploy_rollback(app, &a, p->prev[0] != '\0' ? p->prev : NULL);
	}
}

static void	fleet_converge(struct fleet *, json_t *);

static void
orders_cb(void *arg, json_t *reply)
{
	struct fleet		*f = arg;
	json_t			*d = json_object_get(reply, "deploy");
	struct fleet_part	*p = f->part;
	json_int_t		 gen;
	const char		*s;

	f->asking_orders = 0;
	if (!json_is_true(json_object_get(reply, "ok")))
		return;		/* down: keep what we had until the lease says */
	if (!json_is_object(d)) {
		/* No deploy runs (or its lease ran out): a host waiting for
		 * its turn gives up. */
		if (p != NULL) {
			snprintf(p->order, sizeof(p->order), "cancel");
			f->part = NULL;
			part_maybe_free(p);
		}
		fleet_converge(f, json_object_get(reply, "releases"));
		return;
	}
	gen = json_integer_value(json_object_get(d, "generation"));
	if (p != NULL && p->gen != gen) {
		snprintf(p->order, sizeof(p->order), "cancel");
		f->part = NULL;
		part_maybe_free(p);
		p = NULL;
	}
	if (p == NULL) {
		if ((s = json_string_value(json_object_get(d, "kind"))) == NULL ||
		    strcmp(s, "deploy") != 0 ||
		    (p = calloc(1, sizeof(*p))) == NULL)
			return;
		p->f = f;
		p->gen = gen;
		snprintf(p->app, sizeof(p->app), "%s",
		    json_string_value(json_object_get(d, "app")) ?: "");
		f->part = p;
	}
	s = json_string_value(json_object_get(d, "order"));
	snprintf(p->order, sizeof(p->order), "%s", s != NULL ? s : "");
	s = json_string_value(json_object_get(d, "detail"));
	snprintf(p->detail, sizeof(p->detail), "%s", s != NULL ? s : "");
	part_act(p);
}

void
fleet_orders_tick(struct fleet *f)
{
	json_t	*r;

	if (f->asking_orders || (r = json_pack("{s:s}", "op", "orders")) == NULL)
		return;
	f->asking_orders = 1;
	fleet_ask(f, r, orders_cb, f);
	json_decref(r);
}

/* The fleet goes (reread, shutdown): a part still referenced by a
 * deploy's gate stays until that deploy answers. */
void
fleet_parts_drop(struct fleet *f)
{
	struct fleet_part	*p = f->part;

	if (p == NULL)
		return;
	f->part = NULL;
	p->f = NULL;
	part_maybe_free(p);
}

/* --- a host that was away: converge to the fleet's release ---------------- */

/*
 * No fleet deploy runs, and the last one that finished left an app of
 * the fleet on a sha this host does not run (it was cut off, or its
 * tendd was down, and skipped with on_lost = skip): deploy that sha
 * here, as its turn in the fleet deploy would have (build, health gate,
 * switch), without its migration, which tend.migration says ran.  Once
 * per app and sha for the life of this fleet connection: a failure is
 * logged, not retried in a loop.  A host whose history has that sha
 * live or ready left it on purpose (a rollback here): it is left alone.
 */
struct fleet_conv {
	char	app[APP_NAME_MAX + 1];
	char	sha[48];
};

static void
conv_done(void *arg, json_t *reply)
{
	struct fleet_conv	*v = arg;
	const char		*err = json_string_value(json_object_get(reply,
				    "error"));

	if (json_is_true(json_object_get(reply, "ok")))
		log_info("fleet: %s now runs the fleet's release %s", v->app,
		    v->sha);
	else
		log_warnx("fleet: %s: deploying the fleet's release %s "
		    "failed: %s", v->app, v->sha, err != NULL ? err :
		    "deploy failed");
	json_decref(reply);
	free(v);
}

static void
conv_refuse(void *arg, const char *why)
{
	struct fleet_conv	*v = arg;

	log_warnx("fleet: %s: not deploying the fleet's release %s: %s",
	    v->app, v->sha, why);
	free(v);
}

static int
conv_go(void *gate, const char *sha)
{
	(void)gate;
	(void)sha;
	return 1;
}

static int
conv_migrate(void *gate)
{
	(void)gate;
	return 0;
}

static int
ran_and_left(struct app *app, const char *sha)
{
	struct deploy_rec	*r;

	TAILQ_FOREACH(r, &app->history.recs, entry)
		if (strcmp(r->sha, sha) == 0 && (r->status == DS_LIVE ||
		    r->status == DS_READY))
			return 1;
	return 0;
}

static void
fleet_converge(struct fleet *f, json_t *releases)
{
	struct deploy_asker	 a;
	struct deploy_rec	*live;
	struct fleet_conv	*v;
	struct app		*app;
	json_t			*e, *tried;
	const char		*name, *sha;
	size_t			 i;

	json_array_foreach(releases, i, e) {
		name = json_string_value(json_object_get(e, "app"));
		sha = json_string_value(json_object_get(e, "sha"));
		if (name == NULL || sha == NULL || strlen(sha) >= sizeof(v->sha) ||
		    (app = app_find(f->t, name)) == NULL ||
		    app->ca->repo == NULL || app->ca->follows != NULL ||
		    app->deploy != NULL || app->unlinked ||
		    strcmp(app_state(app), "live") != 0)
			continue;
		live = history_live(&app->history);
		if ((live != NULL && strcmp(live->sha, sha) == 0) ||
		    ((tried = json_object_get(f->tried, name)) != NULL &&
		    strcmp(json_string_value(tried), sha) == 0))
			continue;
		if (f->tried == NULL && (f->tried = json_object()) == NULL)
			return;
		json_object_set_new(f->tried, name, json_string(sha));
		if (ran_and_left(app, sha))
			continue;
		if (!json_is_true(json_object_get(e, "migrated"))) {
			log_warnx("fleet: %s: the fleet runs %s, but its "
			    "migration is not recorded done: not deploying it "
			    "here", name, sha);
			continue;
		}
		if ((v = calloc(1, sizeof(*v))) == NULL)
			return;
		snprintf(v->app, sizeof(v->app), "%s", name);
		snprintf(v->sha, sizeof(v->sha), "%s", sha);
		log_info("fleet: %s runs %s, the fleet's last deploy left it on "
		    "%s: deploying that here, without its migration", name,
		    live != NULL && live->sha[0] ? live->sha : "nothing", sha);
		memset(&a, 0, sizeof(a));
		a.event = ignore_event;
		a.done = conv_done;
		a.refuse = conv_refuse;
		a.arg = v;
		a.go = conv_go;
		a.migrate = conv_migrate;
		a.gate = v;
		deploy_request(app, &a, sha);
	}
}

/* --- the holder ------------------------------------------------------------ */

struct chost {
	char	 name[FLEET_HOST_MAX + 1];
	char	 step[24];
	char	 detail[256];
	int	 told;		/* its order for the phase went out */
	int	 gone;		/* lost and skipped */
};

struct fleet_coord {
	struct fleet	*f;
	struct deploy_asker asker;	/* the client's; arg NULL: gone */
	char		 app[APP_NAME_MAX + 1];
	char		 ref[208];
	char		 sha[48];
	json_int_t	 gen;
	enum { C_RESOLVE, C_BUILD, C_SWITCH, C_WATCH, C_REVERT, C_END } phase;
	struct chost	 h[FLEET_HOSTS_MAX];
	size_t		 n;
	size_t		 batch0;	/* first host of the batch switching */
	uint64_t	 until;		/* watch end, or revert deadline */
	uint64_t	 renew_at;
	int		 asking;
	int		 wait;		/* --wait: ask for the lease again */
	int		 said_wait;
	char		 fail[600];
	uv_timer_t	 timer;
};

static void
say(struct fleet_coord *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
say(struct fleet_coord *c, const char *fmt, ...)
{
	char	line[800];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_info("fleet deploy %s: %s", c->app, line);
	if (c->asker.arg != NULL)
		c->asker.event(c->asker.arg, json_pack("{s:s,s:s}", "event",
		    "progress", "line", line));
}

static void
coord_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

static void
coord_order(struct fleet_coord *c, const char *host, const char *word,
    const char *detail)
{
	json_t	*r = json_pack("{s:s,s:I,s:s,s:s,s:s?}", "op", "order",
	    "generation", c->gen, "host", host, "word", word, "detail", detail);

	if (r != NULL)
		fleet_ask_quiet(c->f, r);
	json_decref(r);
}

static void
coord_end(struct fleet_coord *c)
{
	json_t	*r;
	int	 ok = c->fail[0] == '\0';

	if (c->phase == C_END)
		return;
	c->phase = C_END;
	uv_timer_stop(&c->timer);
	if (c->f != NULL) {
		r = json_pack("{s:s,s:I,s:s,s:s?,s:s?}", "op", "release",
		    "generation", c->gen, "state", ok ? "done" : "failed",
		    "detail", ok ? NULL : c->fail, "sha", ok && c->sha[0] ?
		    c->sha : NULL);
		if (r != NULL)
			fleet_ask_quiet(c->f, r);
		json_decref(r);
		/* Answers still coming are for nobody. */
		fleetrun_forget(c->f->run, c);
		c->f->coord = NULL;
	}
	if (c->asker.arg != NULL)
		c->asker.done(c->asker.arg, json_pack("{s:b,s:s,s:s,s:s?,s:s?}",
		    "ok", ok, "release", c->sha, "status", ok ? "live" :
		    "deploy-failed", "sha", c->sha[0] ? c->sha : NULL, "error",
		    ok ? NULL : c->fail));
	c->asker.arg = NULL;
	uv_close((uv_handle_t *)&c->timer, coord_closed_cb);
}

static void
coord_fail(struct fleet_coord *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
coord_fail(struct fleet_coord *c, const char *fmt, ...)
{
	va_list	ap;
	size_t	i;

	if (c->fail[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->fail, sizeof(c->fail), fmt, ap);
	va_end(ap);
	say(c, "stopping the rollout: %s", c->fail);
	c->phase = C_REVERT;
	c->until = uv_now(c->f->t->loop) + FLEET_REVERT_MS;
	for (i = 0; i < c->n; i++) {
		if (c->h[i].gone)
			continue;
		if (strcmp(c->h[i].step, "live") == 0) {
			say(c, "%s: reverting to its previous release",
			    c->h[i].name);
			coord_order(c, c->h[i].name, "revert", NULL);
		} else
			coord_order(c, c->h[i].name, "cancel", NULL);
	}
}

static struct chost *
chost_find(struct fleet_coord *c, const char *name)
{
	size_t	i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->h[i].name, name) == 0)
			return &c->h[i];
	return NULL;
}

static json_t *
host_json(json_t *reply, const char *name)
{
	json_t	*h;
	size_t	 i;

	json_array_foreach(json_object_get(reply, "hosts"), i, h)
		if (strcmp(json_string_value(json_object_get(h, "host")) ?: "",
		    name) == 0)
			return h;
	return NULL;
}

static int
final_step(const char *s)
{
	return strcmp(s, "failed") == 0 || strcmp(s, "canceled") == 0 ||
	    strcmp(s, "reverted") == 0 || strcmp(s, "revert-failed") == 0;
}

/* A host lost: on_lost = stop ends the rollout, skip goes on without. */
static int
coord_lost(struct fleet_coord *c, struct chost *ch)
{
	if (strcmp(c->f->t->conf->fleet_on_lost, "skip") == 0) {
		ch->gone = 1;
		say(c, "%s: lost (no heartbeat for the lease): skipped "
		    "(on_lost = skip)", ch->name);
		return 0;
	}
	coord_fail(c, "%s: lost (no heartbeat for the lease)", ch->name);
	return 1;
}

static void
coord_status_cb(void *arg, json_t *reply)
{
	struct fleet_coord	*c = arg;
	json_t			*d = json_object_get(reply, "deploy"), *st, *h;
	struct chost		*ch;
	const char		*name;
	size_t			 i, end, live;
	uint64_t		 now;

	c->asking = 0;
	if (c->phase == C_END)
		return;
	if (c->f == NULL) {
		coord_end(c);
		return;
	}
	if (!json_is_true(json_object_get(reply, "ok")) || !json_is_object(d) ||
	    json_integer_value(json_object_get(d, "generation")) != c->gen)
		return;		/* the next tick asks again */
	now = uv_now(c->f->t->loop);
	json_array_foreach(json_object_get(d, "steps"), i, st) {
		name = json_string_value(json_object_get(st, "host"));
		if (name == NULL || (ch = chost_find(c, name)) == NULL)
			continue;
		snprintf(ch->step, sizeof(ch->step), "%s",
		    json_string_value(json_object_get(st, "step")) ?: "");
		snprintf(ch->detail, sizeof(ch->detail), "%s",
		    json_string_value(json_object_get(st, "detail")) ?: "");
	}
	for (i = 0; i < c->n && c->phase != C_REVERT; i++) {
		ch = &c->h[i];
		if (ch->gone)
			continue;
		if (strcmp(ch->step, "failed") == 0)
			coord_fail(c, "%s: %s", ch->name, ch->detail);
		else if ((h = host_json(reply, ch->name)) != NULL &&
		    json_is_true(json_object_get(h, "lost")))
			coord_lost(c, ch);
	}
	switch (c->phase) {
	case C_RESOLVE:
		if (strcmp(c->h[0].step, "built") != 0)
			break;
		snprintf(c->sha, sizeof(c->sha), "%.47s", c->h[0].detail);
		say(c, "%s resolves to %s: building it on %zu more host%s",
		    c->ref, c->sha, c->n - 1, c->n == 2 ? "" : "s");
		for (i = 1; i < c->n; i++)
			coord_order(c, c->h[i].name, "build", c->sha);
		c->phase = C_BUILD;
		break;
	case C_BUILD:
		for (i = 0; i < c->n; i++)
			if (!c->h[i].gone && strcmp(c->h[i].step, "built") != 0)
				break;
		if (i < c->n)
			break;
		say(c, "built on every host: switching %u at a time",
		    c->f->t->conf->fleet_batch);
		c->phase = C_SWITCH;
		c->batch0 = 0;
		__attribute__((fallthrough));
	case C_SWITCH:
		end = c->batch0 + c->f->t->conf->fleet_batch;
		if (end > c->n)
			end = c->n;
		for (i = c->batch0, live = 0; i < end; i++) {
			ch = &c->h[i];
			if (ch->gone || strcmp(ch->step, "live") == 0) {
				live++;
				continue;
			}
			if (!ch->told) {
				ch->told = 1;
				say(c, "%s: go", ch->name);
				coord_order(c, ch->name, "go", NULL);
			}
		}
		if (live < end - c->batch0)
			break;
		say(c, "batch live; watching it for %llu ms",
		    (unsigned long long)c->f->t->conf->fleet_watch);
		c->phase = C_WATCH;
		c->until = now + c->f->t->conf->fleet_watch;
		break;
	case C_WATCH:
		end = c->batch0 + c->f->t->conf->fleet_batch;
		if (end > c->n)
			end = c->n;
		for (i = 0; i < end; i++) {
			const char *s;

			ch = &c->h[i];
			h = host_json(reply, ch->name);
			s = h != NULL ? json_string_value(json_object_get(
			    json_object_get(json_object_get(h, "apps"), c->app),
			    "state")) : NULL;
			if (!ch->gone && (s == NULL || strcmp(s, "live") != 0)) {
				coord_fail(c, "%s: %s is %s after the switch",
				    ch->name, c->app, s != NULL ? s : "gone");
				return;
			}
		}
		if (now < c->until)
			break;
		if (end >= c->n) {
			say(c, "every host runs %s", c->sha);
			coord_end(c);
			return;
		}
		c->batch0 = end;
		c->phase = C_SWITCH;
		break;
	case C_REVERT:
		for (i = 0; i < c->n; i++)
			if (!c->h[i].gone && !final_step(c->h[i].step) &&
			    strcmp(c->h[i].step, "built") != 0 &&
			    strcmp(c->h[i].step, "building") != 0 &&
			    c->h[i].step[0] != '\0')
				break;
		if (i < c->n && now < c->until)
			break;
		coord_end(c);
		return;
	case C_END:
		break;
	}
}

static void
renew_cb(void *arg, json_t *reply)
{
	struct fleet_coord	*c = arg;

	if (c->phase == C_END || json_is_true(json_object_get(reply, "ok")))
		return;
	if (json_is_true(json_object_get(reply, "fenced"))) {
		/* Not ours any more: no write of ours would land. */
		snprintf(c->fail, sizeof(c->fail), "lost the fleet lease "
		    "(generation %lld): another deploy may hold it",
		    (long long)c->gen);
		say(c, "%s", c->fail);
		coord_end(c);
	}
}

static void
coord_tick_cb(uv_timer_t *h)
{
	struct fleet_coord	*c = h->data;
	uint64_t		 now = uv_now(h->loop);
	json_t			*r;

	if (c->phase == C_END)
		return;
	if (c->f == NULL) {
		coord_end(c);
		return;
	}
	if (now >= c->renew_at &&
	    (r = json_pack("{s:s,s:I}", "op", "renew", "generation",
	    c->gen)) != NULL) {
		c->renew_at = now + c->f->lease / 3;
		fleet_ask(c->f, r, renew_cb, c);
		json_decref(r);
	}
	if (!c->asking && (r = json_pack("{s:s}", "op", "status")) != NULL) {
		c->asking = 1;
		fleet_ask(c->f, r, coord_status_cb, c);
		json_decref(r);
	}
}

/* The lease is ours: which hosts, and tell this one to build. */
static void
hosts_cb(void *arg, json_t *reply)
{
	struct fleet_coord	*c = arg;
	json_t			*h;
	size_t			 i;
	const char		*name;

	c->asking = 0;
	if (c->phase == C_END)
		return;
	if (c->f == NULL || !json_is_true(json_object_get(reply, "ok"))) {
		snprintf(c->fail, sizeof(c->fail), "%s",
		    json_string_value(json_object_get(reply, "detail")) ?:
		    "the fleet database did not answer");
		coord_end(c);
		return;
	}
	/* This host first: its build resolves REF for everyone. */
	snprintf(c->h[0].name, sizeof(c->h[0].name), "%s", c->f->host);
	c->n = 1;
	json_array_foreach(json_object_get(reply, "hosts"), i, h) {
		name = json_string_value(json_object_get(h, "host"));
		if (name == NULL || strcmp(name, c->f->host) == 0 ||
		    !json_is_object(json_object_get(json_object_get(h, "apps"),
		    c->app)))
			continue;
		if (json_is_true(json_object_get(h, "lost"))) {
			say(c, "%s: lost, left out", name);
			continue;
		}
		if (c->n == FLEET_HOSTS_MAX)
			break;
		snprintf(c->h[c->n].name, sizeof(c->h[c->n].name), "%s", name);
		c->n++;
	}
	say(c, "%zu host%s: %s%s", c->n, c->n == 1 ? "" : "s", c->h[0].name,
	    c->n > 1 ? " and the rest in name order" : "");
	coord_order(c, c->h[0].name, "build", c->ref);
	c->phase = C_RESOLVE;
	c->renew_at = uv_now(c->f->t->loop) + c->f->lease / 3;
	uv_timer_start(&c->timer, coord_tick_cb, FLEET_COORD_MS,
	    FLEET_COORD_MS);
}

static void	acquire_again_cb(uv_timer_t *);

static void
acquire_cb(void *arg, json_t *reply)
{
	struct fleet_coord	*c = arg;
	json_t			*r;

	if (c->phase == C_END)
		return;
	/* --wait: held by another deploy; try again in a second. */
	if (c->f != NULL && c->wait && c->asker.arg != NULL &&
	    !json_is_true(json_object_get(reply, "ok")) &&
	    json_is_string(json_object_get(reply, "holder"))) {
		if (!c->said_wait)
			say(c, "waiting: %s", json_string_value(json_object_get(
			    reply, "detail")));
		c->said_wait = 1;
		uv_timer_start(&c->timer, acquire_again_cb, 1000, 0);
		return;
	}
	if (c->f == NULL || !json_is_true(json_object_get(reply, "ok"))) {
		if (c->asker.arg != NULL)
			c->asker.refuse(c->asker.arg, json_string_value(
			    json_object_get(reply, "detail")) ?:
			    "the fleet database did not answer");
		c->asker.arg = NULL;
		if (c->f != NULL)
			c->f->coord = NULL;
		if (c->phase != C_END) {
			c->phase = C_END;
			uv_close((uv_handle_t *)&c->timer, coord_closed_cb);
		}
		return;
	}
	c->gen = json_integer_value(json_object_get(reply, "generation"));
	say(c, "fleet lease taken (generation %lld)", (long long)c->gen);
	if ((r = json_pack("{s:s}", "op", "status")) == NULL)
		return;
	c->asking = 1;
	fleet_ask(c->f, r, hosts_cb, c);
	json_decref(r);
}

static void
acquire_again_cb(uv_timer_t *h)
{
	struct fleet_coord	*c = h->data;
	json_t			*r;

	if (c->f == NULL || c->asker.arg == NULL) {
		/* The fleet or the client went while it waited. */
		c->asker.arg = NULL;
		if (c->f != NULL)
			c->f->coord = NULL;
		c->phase = C_END;
		uv_close((uv_handle_t *)&c->timer, coord_closed_cb);
		return;
	}
	r = json_pack("{s:s,s:s,s:s,s:s}", "op", "acquire", "app", c->app,
	    "kind", "deploy", "ref", c->ref);
	fleet_ask(c->f, r, acquire_cb, c);
	json_decref(r);
}

void
fleet_deploy(struct app *app, const struct deploy_asker *a, const char *ref,
    int wait)
{
	struct fleet		*f = app->t->fleet;
	struct fleet_coord	*c;
	json_t			*r;

	if (f == NULL) {
		a->refuse(a->arg, "this host is in no fleet: tend.conf has no "
		    "[fleet]");
		return;
	}
	if (app->ca->repo == NULL || app->ca->follows != NULL) {
		a->refuse(a->arg, "a fleet deploy needs an app with a repo "
		    "(a group's leader)");
		return;
	}
	if (ref == NULL)
		ref = app->ca->branch;
	if (!valid_git_ref(ref)) {
		a->refuse(a->arg, "invalid ref: expected a branch, tag or "
		    "commit (letters, digits, - _ . /, not starting with -)");
		return;
	}
	if (f->coord != NULL) {
		a->refuse(a->arg, "a fleet deploy from this host is running");
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		a->refuse(a->arg, "out of memory");
		return;
	}
	c->f = f;
	c->asker = *a;
	c->wait = wait;
	snprintf(c->app, sizeof(c->app), "%s", app->name);
	snprintf(c->ref, sizeof(c->ref), "%s", ref);
	uv_timer_init(app->t->loop, &c->timer);
	c->timer.data = c;
	f->coord = c;
	r = json_pack("{s:s,s:s,s:s,s:s}", "op", "acquire", "app", app->name,
	    "kind", "deploy", "ref", ref);
	fleet_ask(f, r, acquire_cb, c);
	json_decref(r);
}

/* Its client went: the deploy goes on, unheard. */
void
fleet_forget(struct tend *t, void *arg)
{
	if (t->fleet != NULL && t->fleet->coord != NULL &&
	    t->fleet->coord->asker.arg == arg)
		t->fleet->coord->asker.arg = NULL;
}

/* The fleet goes: the rollout ends (its lease runs out by itself). */
void
fleet_coord_drop(struct fleet *f)
{
	struct fleet_coord	*c = f->coord;

	if (c == NULL)
		return;
	f->coord = NULL;
	c->f = NULL;
	snprintf(c->fail, sizeof(c->fail), "the fleet connection was closed "
	    "(reread or shutdown)");
}
