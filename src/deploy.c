/*
 * deploy.c: new releases from git, started beside the live one and
 * switched to behind nginx once healthy; rollback to an older release;
 * reload (the same switch for the release that runs).
 *
 *   building    git fetch into dir/repo (a mirror), resolve REF, clone
 *               the commit into dir/releases/<UTC time>-<short sha>, link
 *               dir/shared/<entries> into it, run `build`: every step in
 *               the app's tree runs as the app's user (release.c)
 *   awaiting    the previous switch's old instances are still draining
 *   deploying   start the release on the idle port set: preflight and
 *               migration (prep.c), then /health; write nginx_upstream,
 *               nginx_test, nginx_reload (nginx.c); point dir/current
 *               at it (as the user, for people: tend reads its history)
 *   live        the old instances stop after drain_timeout; the release
 *               that was live becomes "ready" (a rollback target)
 *
 * Failures: build-failed, deploy-failed (the new instances are stopped,
 * the old ones never stopped serving, the nginx file is put back), and
 * build-canceled when a newer deploy of the app arrives during a build.
 * The record (history.c, struct deploy_rec) is saved, atomically, when
 * it is made with its ref, when its id, sha and folder are known (before
 * git makes the folder), and at its final status; a rollback, which
 * reuses its release's record, when it marks it rolling_back and at the
 * end.  building, awaiting and deploying are not saved apart: after a
 * kill -9 the next tendd treats them alike, marking the deploy failed
 * (removing its folder) unless nginx's upstream file, which says which
 * port set serves, names its release.
 *
 * Without nginx_upstream there is nowhere to switch: the release replaces
 * the running one in place (requests fail meanwhile) and deploy says so.
 *
 * git runs as the app's user with arguments, never through a shell; a
 * REF is checked (no leading '-') and still passed after --end-of-options.
 * The deploy log is root's: LOG_DIR/APP.deploys/ID.log.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

/* How often a waiting deploy looks again (draining, preflight). */
#define DEPLOY_POLL_MS	200

enum dstep {
	D_FETCH, D_RESOLVE, D_CLONE, D_CHECKOUT, D_LINK, D_BUILD, D_LINK_RUN,
	D_NEED_FILE, D_AWAIT, D_START, D_PUSH, D_TEST, D_RELOAD, D_FOLLOW,
	D_DRAIN
};

struct deploy {
	LIST_ENTRY(deploy) entry;	/* every deploy object, live or ending */
	struct app	*app;
	enum deploy_kind kind;
	enum dstep	 step;
	enum deploy_status status;
	int		 canceled;
	int		 finished;	/* reported; maybe still draining */
	int		 followed;	/* every follower runs the release */
	char		 follow_fail[700];	/* why a follower did not */
	struct deploy_asker asker;	/* .arg NULL: nobody is listening */
	struct job	*job;
	uv_timer_t	 timer;
	/* Its history record (a reload has none): in app->history, which
	 * never drops a running record; NULL once the deploy is over. */
	struct deploy_rec *rec;
	char		 id[80];
	char		 ref[208];
	char		 sha[48];
	char		 reldir[PATH_MAX];
	char		 rundir[PATH_MAX];
	char		 prev_rundir[PATH_MAX];
	unsigned	 base;		/* first slot it starts */
	unsigned	 old_base;	/* first slot that served before */
	int		 inplace;
	int		 had_upstream;
	char		*old_upstream;
	int		 lua;		/* this switch is nginx_switch = lua */
	struct nginx_push *push;	/* a port set on its way to nginx */
	size_t		 old_len;
	uint64_t	 t0, t_step;
	char		 first_line[128];	/* of a job's output */
	int		 lines;
	int		 healthy;	/* the new instances are all live */
	int		 launching;	/* do_start is moving instances */
	int		 said_await;
	int		 said_gate;	/* waiting for the fleet's go */
	int		 stopping;	/* tendd is shutting down */
	int		 made_dir;	/* reldir is this deploy's own */
	int		 quiet;		/* a job's output is not progress */
	char		 repo_shown[512];	/* repo, its password hidden */
	FILE		*log;		/* the deploy log of this release */
	struct release_cb cb;		/* its jobs report to deploy_job_* */
};

static void	deploy_next(struct deploy *);
static void	follow_check(struct deploy *);
static void	follow_undo(struct deploy *);
static void	drain_cb(uv_timer_t *);
static void	undo_reload_done(void *, struct job *);
static void	do_live(struct deploy *);
static void	restore_upstream(struct deploy *);
static void	push_done(void *, int, const char *);
static void	do_test(struct deploy *);
static void	undo_push_done(void *, int, const char *);
static void	deploy_fail(struct deploy *, enum deploy_status, const char *,
		    ...) __attribute__((format(printf, 3, 4)));

/* --- small helpers ---------------------------------------------------- */

/* A line for the requester, the deploy log and the app log. */
static void
deploy_say(struct deploy *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
deploy_say(struct deploy *d, const char *fmt, ...)
{
	char	line[1200], ts[TIME_ISO_MAX];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	applog_event(d->app, -1, "%s %s: %s", deploy_kind_names[d->kind],
	    d->id[0] ? d->id : d->ref, line);
	if (d->log != NULL) {
		time_iso(ts, sizeof(ts), time_now_ms(), 0);
		fprintf(d->log, "%s %s\n", ts, line);
		fflush(d->log);
	}
	/* To whoever asked (forgotten when it goes: deploys_forget). */
	if (d->asker.arg != NULL)
		d->asker.event(d->asker.arg, json_pack("{s:s,s:s}", "event",
		    "progress", "line", line));
}

/* The app's history to its file: once per change that matters (see
 * above), so a deploy costs a few fsyncs, not one per step. */
static void
save_history(struct app *app)
{
	char	path[PATH_MAX], why[600];

	if (history_path(path, sizeof(path), app->t->conf->state_dir,
	    app->name) != 0)
		log_warnx("%s: cannot save the deploy history: state_dir is too "
		    "long a path", app->name);
	else if (history_write(&app->history, path, why, sizeof(why)) != 0)
		log_warnx("%s: cannot save the deploy history: %s", app->name,
		    why);
}

/* In memory and in status at once; the callers save when it matters. */
static void
set_status(struct deploy *d, enum deploy_status st)
{
	d->status = st;
	if (d->rec == NULL)
		return;
	history_set_status(d->rec, st, time_now_ms());
	app_notify(d->app);
}

/* Time spent in the step that ends now, in the record's steps (ms). */
static void
step_done(struct deploy *d, enum rec_step step)
{
	uint64_t	now = uv_now(d->app->t->loop);

	if (d->rec != NULL)
		history_step(d->rec, step, now - d->t_step);
	d->t_step = now;
}

/* --- the end --------------------------------------------------------- */

static void
deploy_closed_cb(uv_handle_t *h)
{
	struct deploy	*d = h->data;
	struct app	*app = d->app;

	LIST_REMOVE(d, entry);
	free(d->old_upstream);
	if (d->log != NULL)
		fclose(d->log);
	free(d);
	app_handle_done(app);
}

static void
deploy_free(struct deploy *d)
{
	struct app	*app = d->app, *f;

	if (app->deploy == d)
		app->deploy = NULL;
	if (app->drainer == d)
		app->drainer = NULL;
	TAILQ_FOREACH(f, &app->t->apps, entry)
		if (f->mover == d)
			f->mover = NULL;
	nginx_push_cancel(d->push);
	d->push = NULL;
	uv_close((uv_handle_t *)&d->timer, deploy_closed_cb);
	app_notify(app);
	app_deploy_ended(app);
}

/* Answer the requester (once). */
static void
deploy_reply(struct deploy *d, int ok, const char *error)
{
	d->finished = 1;
	if (d->app->deploy == d)
		d->app->deploy = NULL;
	if (d->asker.arg == NULL)
		return;
	d->asker.done(d->asker.arg, json_pack("{s:b,s:s,s:s,s:s*,s:s*}", "ok",
	    ok, "release", d->id, "status", deploy_status_names[d->status],
	    "error", error, "sha", d->sha[0] ? d->sha : NULL));
	d->asker.arg = NULL;
}

/* Stop the slots this deploy started (they never served). */
static void
stop_new(struct deploy *d)
{
	struct app	*app = d->app;
	unsigned	 i;

	for (i = d->base; i < d->base + app->n_run; i++)
		inst_event(&app->inst[i], EV_STOP);
}

/* The dump taken before this deploy's migration, if one was: in its
 * record, so tendctl releases shows how to restore it. */
static void
note_backup(struct deploy *d)
{
	struct prep_backup	b;

	/* A dump taken since this deploy began is this deploy's. */
	if (d->rec == NULL || prep_last_backup(d->app, &b) != 0 ||
	    b.at_ms < d->t0)
		return;
	if (history_set_backup(d->rec, b.file, b.restore) != 0)
		log_warnx("%s: out of memory: the history does not name the "
		    "backup %s", d->app->name, b.file != NULL ? b.file : "");
}

static void
deploy_fail(struct deploy *d, enum deploy_status st, const char *fmt, ...)
{
	struct app	*app = d->app;
	char		 reason[1024];
	va_list		 ap;
	unsigned	 i;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (d->finished)
		return;
	d->finished = 1;	/* stopping instances calls back into us */
	uv_timer_stop(&d->timer);
	note_backup(d);
	/* Out of memory: the status alone says it failed. */
	if (d->rec != NULL)
		(void)history_set_reason(d->rec, reason);
	deploy_say(d, "%s: %s", deploy_status_names[st], reason);
	log_warnx("%s: %s %s %s: %s", app->name, deploy_kind_names[d->kind],
	    d->id, deploy_status_names[st], reason);
	if (d->step == D_FOLLOW) {
		/* nginx already sends traffic to the new instances: the
		 * old text back, nginx reloaded, then they go (below). */
		follow_undo(d);
		if (!d->inplace && app->ca->nginx_upstream != NULL) {
			char why[512];

			restore_upstream(d);
			if (d->lua && d->push != NULL) {
				deploy_say(d, "nginx back to the previous "
				    "release's ports (no reload)");
			} else {
				deploy_say(d, "nginx back to the previous "
				    "release: %s", app->ca->nginx_reload);
				d->job = nginx_run(app, app->ca->nginx_reload,
				    undo_reload_done, NULL, d, why, sizeof(why));
				if (d->job == NULL)
					log_warnx("%s: nginx_reload: %s",
					    app->name, why);
			}
		}
	}
	if (d->step == D_PUSH || d->step == D_TEST || d->step == D_RELOAD) {
		nginx_push_cancel(d->push);
		d->push = NULL;
		restore_upstream(d);	/* idempotent: the old set again */
	}
	if (d->step == D_FOLLOW && (d->job != NULL || d->push != NULL)) {
		/* Stopped once nginx let go of them: undo_reload_done. */
		d->old_base = d->base;
	} else if (d->step >= D_START && d->step != D_DRAIN) {
		if (!d->inplace || d->prev_rundir[0] == '\0')
			stop_new(d);
		else {
			/* It replaced the running release: bring that back. */
			deploy_say(d, "starting the previous release again");
			for (i = d->base; i < d->base + app->n_run; i++) {
				struct inst *in = &app->inst[i];

				free(in->dir);
				in->dir = strdup(d->prev_rundir);
				inst_event(in, EV_STOP);
				inst_event(in, EV_START);
			}
		}
	}
	/* A release that never went live is not kept. */
	if (d->kind == KIND_DEPLOY && d->made_dir &&
	    (st == DS_BUILD_FAILED || st == DS_BUILD_CANCELED)) {
		char *ids[] = { d->id };

		(void)release_remove(app, ids, 1);
		if (d->rec != NULL)
			d->rec->pruned = 1;
	}
	if (d->rec != NULL)
		d->rec->rolling_back = 0;
	if (d->kind == KIND_ROLLBACK) {
		/* Still a release one can roll back to. */
		set_status(d, DS_READY);
		d->status = st;
	} else
		set_status(d, st);
	if (d->rec != NULL) {
		save_history(app);
		d->rec = NULL;
	}
	deploy_reply(d, 0, reason);
	if (d->step == D_FOLLOW && (d->job != NULL || d->push != NULL))
		return;		/* undo_*_done drains, then frees */
	deploy_free(d);
}

/* --- nginx ------------------------------------------------------------ */

/*
 * nginx_switch = lua: the old set again, in a file of a newer generation
 * than the one that may have reached nginx, and sent to nginx too (not
 * while tendd stops: the file alone then, which nginx reads at its next
 * start).  After nginx_test or nginx_reload failed, the file is written
 * in the reload form, which any nginx accepts: the failure may be an
 * nginx that does not load the lua module.  In d->push when sent, for
 * undo_push_done; a failure to send is logged.
 */
static void
restore_upstream_lua(struct deploy *d)
{
	struct app		*app = d->app;
	struct nginx_push	*p;
	char			 text[8192], why[512];
	uint64_t		 gen = nginx_lua_gen();
	int			 n, plain = d->step == D_TEST || d->step == D_RELOAD;

	n = plain ? nginx_text(app, d->old_base, app->release, text,
	    sizeof(text)) : nginx_lua_text(app, d->old_base, app->release, gen,
	    text, sizeof(text));
	if (n < 0 || nginx_write(app, text, (size_t)n, why, sizeof(why)) != 0) {
		log_warnx("%s: cannot put back nginx_upstream: %s", app->name,
		    n < 0 ? "upstream text too long" : why);
		return;
	}
	if (plain || d->stopping)
		return;
	/* Undoing a switch that happened: the new instances stop once nginx
	 * said so (undo_push_done).  Otherwise nginx may only have had the new
	 * set on its way: told, without waiting. */
	if (d->step == D_FOLLOW)
		p = d->push = nginx_push(app, d->old_base, gen, undo_push_done,
		    d, why, sizeof(why));
	else
		p = nginx_push(app, d->old_base, gen, NULL, NULL, why,
		    sizeof(why));
	if (p == NULL)
		log_warnx("%s: cannot tell nginx the previous ports: %s",
		    app->name, why);
}

static void
restore_upstream(struct deploy *d)
{
	char	why[512];

	if (d->lua && d->had_upstream) {
		restore_upstream_lua(d);
		return;
	}
	if ((d->had_upstream ? nginx_write(d->app, d->old_upstream, d->old_len,
	    why, sizeof(why)) : nginx_remove(d->app, why, sizeof(why))) != 0)
		log_warnx("%s: cannot put back nginx_upstream: %s", d->app->name,
		    why);
}

/* --- jobs (git, build, nginx) ---------------------------------------- */

static void
deploy_job_line(void *arg, const char *p, size_t n)
{
	struct deploy	*d = arg;

	if (d->lines++ == 0)
		snprintf(d->first_line, sizeof(d->first_line), "%.*s",
		    (int)(n < sizeof(d->first_line) ? n :
		    sizeof(d->first_line) - 1), p);
	if (d->quiet)
		return;
	if (d->asker.arg != NULL)
		d->asker.event(d->asker.arg, json_pack("{s:s,s:s%}", "event",
		    "progress", "line", p, n));
	if (d->log != NULL) {
		fwrite(p, 1, n, d->log);
		fputc('\n', d->log);
	}
}

static void
deploy_job_done(void *arg, struct job *j)
{
	struct deploy	*d = arg;
	char		 out[128], tail[700];

	d->job = NULL;
	d->quiet = 0;
	if (d->stopping) {
		deploy_fail(d, DS_DEPLOY_FAILED, "interrupted: tendd stopped");
		return;
	}
	if (d->canceled) {
		deploy_fail(d, DS_BUILD_CANCELED, "canceled by a newer deploy of "
		    "%s", d->app->name);
		return;
	}
	if (!job_ok(j)) {
		job_outcome(j, out, sizeof(out));
		job_tail(j, tail, sizeof(tail));
		switch (d->step) {
		case D_TEST:
		case D_RELOAD:
			restore_upstream(d);
			deploy_fail(d, DS_DEPLOY_FAILED, "%s %s, so %s is "
			    "unchanged%s%s", d->step == D_TEST ? "nginx_test" :
			    "nginx_reload", out, d->app->ca->nginx_upstream,
			    tail[0] ? ": " : "", tail);
			return;
		case D_BUILD:
			deploy_fail(d, DS_BUILD_FAILED, "build `%s` %s%s%s",
			    d->app->ca->build, out, tail[0] ? ": " : "", tail);
			return;
		case D_NEED_FILE:
			/* The profile's sentence names the file. */
			deploy_fail(d, DS_BUILD_FAILED, "%s",
			    profile_required_file_why(d->app->ca->profile));
			return;
		case D_LINK:
		case D_LINK_RUN:
			deploy_fail(d, DS_BUILD_FAILED, "%s", tail[0] ? tail :
			    out);
			return;
		case D_RESOLVE:
			deploy_fail(d, DS_BUILD_FAILED, "%s is not a branch, tag or "
			    "commit of %s", d->ref, d->repo_shown);
			return;
		default:
			deploy_fail(d, DS_BUILD_FAILED, "git %s%s%s", out,
			    tail[0] ? ": " : "", tail);
			return;
		}
	}
	deploy_next(d);
}

/* A step's job started (j), or it did not: the deploy fails. */
static int
started(struct deploy *d, struct job *j, const char *what, const char *why)
{
	d->lines = 0;
	d->first_line[0] = '\0';
	if ((d->job = j) == NULL) {
		deploy_fail(d, d->step < D_AWAIT ? DS_BUILD_FAILED :
		    DS_DEPLOY_FAILED, "%s: %s", what, why);
		return -1;
	}
	return 0;
}

/* --- building ------------------------------------------------------- */

/* Once the id is known the dirs follow: the release, and its start_dir. */
static void
set_dirs(struct deploy *d)
{
	const char	*sd = d->app->ca->start_dir;
	int		 n;

	n = snprintf(d->reldir, sizeof(d->reldir), "%s/releases/%s",
	    d->app->ca->dir, d->id);
	if (n < 0 || (size_t)n >= sizeof(d->reldir))
		d->reldir[0] = '\0';
	if (strcmp(sd, ".") == 0)
		n = snprintf(d->rundir, sizeof(d->rundir), "%s", d->reldir);
	else
		n = snprintf(d->rundir, sizeof(d->rundir), "%s/%s", d->reldir,
		    sd);
	if (n < 0 || (size_t)n >= sizeof(d->rundir))
		d->rundir[0] = '\0';
}

/* The deploy log, in tend's own log directory (root's): never in the
 * app's tree, where a link could aim root's writes elsewhere. */
static void
open_log(struct deploy *d)
{
	struct app	*app = d->app;
	char		 dir[PATH_MAX], name[100], why[512];
	int		 dfd, fd;

	if (snprintf(dir, sizeof(dir), "%s/%s.deploys", app->t->conf->log_dir,
	    app->name) >= (int)sizeof(dir))
		return;
	snprintf(name, sizeof(name), "%s.log", d->id);
	if ((dfd = rootdir_open(dir, 1, why, sizeof(why))) == -1) {
		log_warnx("%s: no deploy log: %s", app->name, why);
		return;
	}
	fd = rootdir_file(dfd, name, O_WRONLY | O_CREAT | O_APPEND, 0640);
	close(dfd);
	if (fd == -1 || (d->log = fdopen(fd, "a")) == NULL) {
		log_warn("%s: deploy log %s/%s", app->name, dir, name);
		if (fd != -1)
			close(fd);
	}
}

static void
do_fetch(struct deploy *d)
{
	char	why[600];

	if (release_make_dir(d->app, why, sizeof(why)) != 0) {
		deploy_fail(d, DS_BUILD_FAILED, "%s", why);
		return;
	}
	deploy_say(d, "fetching %s", d->repo_shown);
	started(d, release_fetch(d->app, &d->cb, why, sizeof(why)), "git", why);
}

static void
do_resolve(struct deploy *d)
{
	char	why[512];

	d->quiet = 1;
	started(d, release_resolve(d->app, d->ref, &d->cb, why, sizeof(why)),
	    "git", why);
}

/* The id of a new release: its UTC time and short sha, "-2" and on when
 * the history has that one already. */
static int
make_release_id(struct deploy *d)
{
	char		stamp[TIME_ISO_MAX], base[80];
	size_t		i;
	unsigned	n;

	for (i = 0; i < 40; i++)
		if (!((d->first_line[i] >= '0' && d->first_line[i] <= '9') ||
		    (d->first_line[i] >= 'a' && d->first_line[i] <= 'f')))
			return -1;
	snprintf(d->sha, sizeof(d->sha), "%.40s", d->first_line);
	if (time_iso(stamp, sizeof(stamp), time_now_ms(), TIME_BASIC) == 0)
		return -1;
	snprintf(base, sizeof(base), "%s-%.7s", stamp, d->sha);
	snprintf(d->id, sizeof(d->id), "%s", base);
	for (n = 2; history_find_id(&d->app->history, d->id) != NULL &&
	    n < 1000; n++)
		snprintf(d->id, sizeof(d->id), "%.60s-%u", base, n);
	return n < 1000 ? 0 : -1;
}

static void
do_clone(struct deploy *d)
{
	char	why[512];

	if (make_release_id(d) != 0) {
		deploy_fail(d, DS_BUILD_FAILED, "git rev-parse gave no commit");
		return;
	}
	set_dirs(d);
	if (d->reldir[0] == '\0' || d->rundir[0] == '\0') {
		deploy_fail(d, DS_BUILD_FAILED, "dir is too long a path");
		return;
	}
	/* Saved before git makes the folder: a tendd killed from here on
	 * leaves a record that says which folder to remove. */
	snprintf(d->rec->id, sizeof(d->rec->id), "%s", d->id);
	snprintf(d->rec->sha, sizeof(d->rec->sha), "%s", d->sha);
	if (history_set_dir(d->rec, d->reldir) != 0) {
		deploy_fail(d, DS_BUILD_FAILED, "out of memory");
		return;
	}
	save_history(d->app);
	open_log(d);
	deploy_say(d, "release %s: commit %s of %s", d->id, d->sha, d->ref);
	started(d, release_clone(d->app, d->id, &d->cb, why, sizeof(why)),
	    "git", why);
}

static void
do_checkout(struct deploy *d)
{
	char	why[512];

	started(d, release_checkout(d->app, d->id, d->sha, &d->cb, why,
	    sizeof(why)), "git", why);
}

static void
do_link(struct deploy *d, const char *into)
{
	char	why[512];

	started(d, release_link(d->app, into, into, &d->cb, why, sizeof(why)),
	    "shared", why);
}

/* 1 when a job now checks the release for the profile's file, 0 when
 * there is none to check, -1 when the deploy failed. */
static int
do_need_file(struct deploy *d)
{
	const struct env	*e;
	const char		*rel;
	char			 why[512];

	if ((e = appenv_get(d->app, why, sizeof(why))) == NULL ||
	    (rel = profile_required_file(d->app->ca->profile, e)) == NULL)
		return 0;
	return started(d, release_test_file(d->app, d->id, rel, &d->cb, why,
	    sizeof(why)), "check", why) == 0 ? 1 : -1;
}

static void
do_build(struct deploy *d)
{
	const struct conf_app	*ca = d->app->ca;
	struct env		 e;
	char			 why[600];

	if (ca->build == NULL) {
		deploy_next(d);
		return;
	}
	deploy_say(d, "building: %s", ca->build);
	/* The build sees the app's environment as it is now. */
	if (appenv_refresh(d->app) != 0) {
		deploy_fail(d, DS_BUILD_FAILED, "%s", appenv_error(d->app));
		return;
	}
	if (d->app->env_change != NULL)
		deploy_say(d, "environment changed: %s", d->app->env_change);
	if (appenv_copy(d->app, &e, why, sizeof(why)) != 0) {
		deploy_fail(d, DS_BUILD_FAILED, "%s", why);
		return;
	}
	started(d, release_build(d->app, d->id, &e, &d->cb, why, sizeof(why)),
	    "build", why);
	env_free(&e);
}

/* --- deploying ------------------------------------------------------ */

static int
serving(struct app *app)
{
	unsigned	i;

	for (i = app->color * app->n_run; i < (app->color + 1) * app->n_run; i++)
		if (app->inst[i].state == ST_LIVE ||
		    app->inst[i].state == ST_STARTING)
			return 1;
	return 0;
}

/* May the release start now?  Not while the old port set drains or the
 * app is still in its own preflight. */
static int
can_start(struct app *app)
{
	unsigned	i;

	if (app->prep != NULL)
		return 0;
	for (i = 0; i < app->n_inst; i++) {
		struct inst *in = &app->inst[i];

		if (inst_active(in))
			continue;
		if (in->state != ST_STOPPED && in->state != ST_FAILED)
			return 0;
		if (in->running || in->draining)
			return 0;
	}
	return 1;
}

static void
deploy_poll_cb(uv_timer_t *h)
{
	deploy_next(h->data);
}

static void
do_start(struct deploy *d)
{
	struct app		*app = d->app;
	const struct conf_app	*ca = app->ca;
	char			 buf[PATH_MAX], real[PATH_MAX];
	unsigned		 i;

	d->old_base = app->color * app->n_run;
	if (ca->nginx_upstream != NULL && app->n_inst >= 2 * app->n_run &&
	    serving(app)) {
		d->base = (1 - app->color) * app->n_run;
		d->inplace = 0;
		deploy_say(d, "starting %s on port%s %u%s beside the live one",
		    d->id[0] ? d->id : "the release", app->n_run > 1 ? "s" : "",
		    app->inst[d->base].port, app->n_run > 1 ? "..." : "");
	} else {
		d->base = app->color * app->n_run;
		d->inplace = 1;
		snprintf(d->prev_rundir, sizeof(d->prev_rundir), "%s",
		    serving(app) ? inst_dir(&app->inst[d->base], buf,
		    sizeof(buf)) : "");
		if (serving(app))
			deploy_say(d, "no nginx_upstream: restarting in place "
			    "(requests fail while it restarts)");
		else
			deploy_say(d, "starting %s", d->id);
	}
	/* A rollback and a reload run no migration, nor a fleet host
	 * whose release another host migrated: mark it done. */
	if ((d->kind != KIND_DEPLOY || (d->asker.migrate != NULL &&
	    !d->asker.migrate(d->asker.gate))) && appenv_realpath(app, d->rundir, real,
	    sizeof(real)) != NULL) {
		free(app->migrated);
		app->migrated = strdup(real);
	}
	/* This start reads the app's environment anew. */
	app->env_at = 0;
	/* The instances pass through states that would read as failure
	 * (a slot still failed from an earlier try): judge once all moved. */
	d->launching = 1;
	for (i = d->base; i < d->base + app->n_run; i++) {
		struct inst *in = &app->inst[i];
		char *dir = strdup(d->rundir);

		if (dir == NULL)
			continue;
		free(in->dir);
		in->dir = dir;
		if (d->inplace)
			inst_event(in, EV_STOP);
		inst_event(in, EV_START);
	}
	d->launching = 0;
	deploy_app_changed(app);
}

/* Called on every state change of the app: has the release made it? */
void
deploy_app_changed(struct app *app)
{
	struct deploy	*d = app->deploy;
	unsigned	 i, live = 0;

	if (app->mover != NULL) {
		follow_check(app->mover);
		return;
	}
	if (d == NULL || d->step != D_START || d->finished || d->canceled ||
	    d->launching || d->healthy)
		return;
	for (i = d->base; i < d->base + app->n_run; i++) {
		struct inst *in = &app->inst[i];

		switch (in->state) {
		case ST_LIVE:
			live++;
			break;
		case ST_FAILED:
		case ST_BACKOFF:
		case ST_STOPPED:
			deploy_fail(d, DS_DEPLOY_FAILED, "instance %u on port %u: "
			    "%s%s%s", i, in->port, state_names[in->state],
			    in->reason[0] ? ": " : "", in->reason);
			return;
		default:
			break;
		}
	}
	if (live == app->n_run) {
		step_done(d, RS_START);
		deploy_say(d, "healthy on port%s %u%s", app->n_run > 1 ? "s" : "",
		    app->inst[d->base].port, app->n_run > 1 ? "..." : "");
		/* From the loop: we are inside the state machine. */
		d->healthy = 1;
		uv_timer_start(&d->timer, deploy_poll_cb, 0, 0);
	}
}

/* --- the group --------------------------------------------------------- */

/* Is f a member of leader's release group that the deploy moves? */
static int
is_follower(const struct app *f, const struct app *leader)
{
	return f != leader && !f->removing && !f->unlinked &&
	    f->ca->follows != NULL && strcmp(f->ca->follows, leader->name) == 0;
}

/* Restart f's instances on the release f->release names.  Each stops
 * before it starts again: a worker's job loop never runs twice. */
static void
follower_restart(struct app *f)
{
	unsigned	i;

	f->env_at = 0;		/* the start reads the env anew */
	for (i = 0; i < f->n_inst; i++) {
		struct inst *in = &f->inst[i];

		free(in->dir);
		in->dir = NULL;	/* inst_dir() goes by f->release */
		inst_event(in, EV_STOP);
		if (inst_active(in))
			inst_event(in, EV_START);
	}
}

/*
 * The leader serves the release: move every follower to it (one that was
 * stopped on purpose only learns its new release).  Live once they all
 * are; one that fails takes the group back (deploy_fail).
 */
static void
do_follow(struct deploy *d)
{
	struct app	*app = d->app, *f;
	const char	*rel = d->kind == KIND_RELOAD ? app->release : d->id;
	unsigned	 n = 0;

	d->step = D_FOLLOW;
	TAILQ_FOREACH(f, &app->t->apps, entry) {
		if (!is_follower(f, app))
			continue;
		snprintf(f->prev_release, sizeof(f->prev_release), "%s",
		    f->release);
		f->prev_set = 1;
		snprintf(f->release, sizeof(f->release), "%.63s", rel);
		if (app_is_down(f) && !f->ca->autostart)
			continue;
		deploy_say(d, "moving %s to %s", f->name, rel);
		f->mover = d;
		n++;
	}
	if (n == 0) {
		do_live(d);
		return;
	}
	d->launching = 1;
	TAILQ_FOREACH(f, &app->t->apps, entry)
		if (f->mover == d)
			follower_restart(f);
	d->launching = 0;
	follow_check(d);
}

/* Called on every change of a follower being moved. */
static void
follow_check(struct deploy *d)
{
	struct app	*app = d->app, *f;
	unsigned	 i, pending = 0;

	if (d->step != D_FOLLOW || d->finished || d->launching || d->followed ||
	    d->follow_fail[0] != '\0')
		return;
	TAILQ_FOREACH(f, &app->t->apps, entry) {
		if (f->mover != d)
			continue;
		for (i = 0; i < f->n_inst; i++) {
			struct inst *in = &f->inst[i];

			if (!inst_active(in))
				continue;
			switch (in->state) {
			case ST_LIVE:
				break;
			case ST_FAILED:
			case ST_BACKOFF:
			case ST_STOPPED:
				/* Failed from the loop, not from inside the
				 * state machine that told us. */
				snprintf(d->follow_fail, sizeof(d->follow_fail),
				    "%s (follows %s) on %s: %s%s%s", f->name,
				    app->name, d->id, state_names[in->state],
				    in->reason[0] ? ": " : "", in->reason);
				uv_timer_start(&d->timer, deploy_poll_cb, 0, 0);
				return;
			default:
				pending++;
				break;
			}
		}
	}
	if (pending > 0)
		return;
	TAILQ_FOREACH(f, &app->t->apps, entry)
		if (f->mover == d) {
			f->mover = NULL;
			deploy_say(d, "%s runs %s", f->name, f->release);
		}
	d->followed = 1;
	/* From the loop: we are inside the state machine. */
	uv_timer_start(&d->timer, deploy_poll_cb, 0, 0);
}

/* The group goes back: followers to the release they ran before. */
static void
follow_undo(struct deploy *d)
{
	struct app	*app = d->app, *f;

	TAILQ_FOREACH(f, &app->t->apps, entry) {
		if (!is_follower(f, app) || !f->prev_set)
			continue;
		snprintf(f->release, sizeof(f->release), "%s", f->prev_release);
		f->prev_set = 0;
		if (f->mover != d)
			continue;
		f->mover = NULL;
		if (f->release[0] == '\0') {
			/* It had no release before this one: down again. */
			deploy_say(d, "%s stops: it has no release to go back "
			    "to", f->name);
			app_stop(f);
			continue;
		}
		deploy_say(d, "%s goes back to %s", f->name, f->release);
		follower_restart(f);
	}
}

/* nginx took the old upstream back: the new instances may go once the
 * requests they still have are done. */
static void
undo_reload_done(void *arg, struct job *j)
{
	struct deploy	*d = arg;

	(void)j;
	d->job = NULL;
	d->step = D_DRAIN;
	d->app->drainer = d;
	uv_timer_start(&d->timer, drain_cb, d->app->ca->drain_timeout, 0);
}

/* nginx was told the old set again (or, when it was not listening, the
 * old file is there and it reloads): as undo_reload_done. */
static void
undo_push_done(void *arg, int ok, const char *msg)
{
	struct deploy	*d = arg;
	struct app	*app = d->app;
	char		 why[512];

	d->push = NULL;
	if (ok || msg == NULL || d->step != D_FOLLOW || !d->finished) {
		if (d->step == D_FOLLOW && d->finished)
			undo_reload_done(d, NULL);
		return;
	}
	log_warnx("%s: nginx's switch socket: %s; reloading nginx instead",
	    app->name, msg);
	d->job = nginx_run(app, app->ca->nginx_reload, undo_reload_done, NULL,
	    d, why, sizeof(why));
	if (d->job == NULL) {
		log_warnx("%s: nginx_reload: %s", app->name, why);
		undo_reload_done(d, NULL);
	}
}

static void
do_switch(struct deploy *d)
{
	struct app		*app = d->app;
	const struct conf_app	*ca = app->ca;
	char			 text[8192], why[600];
	uint64_t		 gen;
	int			 n, r;

	if (ca->nginx_upstream == NULL) {
		do_follow(d);
		return;
	}
	free(d->old_upstream);
	d->old_upstream = NULL;
	r = nginx_read(app, &d->old_upstream, &d->old_len, why, sizeof(why));
	if (r < 0) {
		deploy_fail(d, DS_DEPLOY_FAILED, "%s", why);
		return;
	}
	d->had_upstream = r == 0;
	if ((n = nginx_switch_mode(ca, why, sizeof(why))) < 0) {
		deploy_fail(d, DS_DEPLOY_FAILED, "nginx_switch = lua: %s", why);
		return;
	}
	d->lua = n == NGINX_SWITCH_LUA;
	gen = nginx_lua_gen();
	if ((n = d->lua ? nginx_lua_text(app, d->base, d->id, gen, text,
	    sizeof(text)) : nginx_text(app, d->base, d->id, text,
	    sizeof(text))) < 0) {
		deploy_fail(d, DS_DEPLOY_FAILED, "upstream text too long");
		return;
	}
	if (nginx_write(app, text, (size_t)n, why, sizeof(why)) != 0) {
		deploy_fail(d, DS_DEPLOY_FAILED, "%s", why);
		return;
	}
	if (d->lua) {
		deploy_say(d, "wrote %s; switching nginx to port %u%s without "
		    "a reload", ca->nginx_upstream, app->inst[d->base].port,
		    app->n_run > 1 ? "..." : "");
		d->step = D_PUSH;
		d->push = nginx_push(app, d->base, gen, push_done, d, why,
		    sizeof(why));
		if (d->push == NULL)
			push_done(d, 0, why);
		return;
	}
	do_test(d);
}

/* nginx_test, then (deploy_next) nginx_reload: the file is written. */
static void
do_test(struct deploy *d)
{
	struct app	*app = d->app;
	char		 why[600];

	deploy_say(d, "wrote %s; checking nginx: %s", app->ca->nginx_upstream,
	    app->ca->nginx_test);
	d->step = D_TEST;
	if (started(d, nginx_run(app, app->ca->nginx_test, deploy_job_done,
	    deploy_job_line, d, why, sizeof(why)), "nginx_test", why) != 0)
		restore_upstream(d);
}

/*
 * nginx answered the push.  200: the shared dict holds the new set, which
 * every worker reads on its next pick; the switch is done.  Anything else
 * (no socket: this nginx has not loaded the lua file yet, as after
 * nginx_switch changed) falls back to nginx_test and nginx_reload of the
 * file just written, whose set nginx then uses.
 */
static void
push_done(void *arg, int ok, const char *msg)
{
	struct deploy	*d = arg;

	d->push = NULL;
	if (d->stopping) {
		deploy_fail(d, DS_DEPLOY_FAILED, "interrupted: tendd stopped");
		return;
	}
	if (ok) {
		deploy_say(d, "nginx switched, no reload: %s", msg);
		do_follow(d);
		return;
	}
	deploy_say(d, "nginx's switch socket: %s; reloading nginx instead",
	    msg);
	log_warnx("%s: nginx's switch socket: %s; reloading nginx instead",
	    d->app->name, msg);
	do_test(d);
}

static void
do_reload(struct deploy *d)
{
	char	why[512];

	deploy_say(d, "reloading nginx: %s", d->app->ca->nginx_reload);
	if (started(d, nginx_run(d->app, d->app->ca->nginx_reload,
	    deploy_job_done, deploy_job_line, d, why, sizeof(why)),
	    "nginx_reload", why) != 0)
		restore_upstream(d);
}

/*
 * Keep the newest keep_releases releases of the history, and always the
 * live one, the newest ready one (the rollback target) and the one being
 * deployed; remove the others' folders (as the user) and deploy logs.
 */
static void
prune_releases(struct app *app)
{
	char			*ids[SPAWN_MAX_ARGS], dir[PATH_MAX], name[100];
	char			 why[512];
	const char		*keep_ready = NULL, *id;
	struct deploy_rec	*r;
	size_t			 n = 0, kept = 0;
	int			 dfd;

	if ((r = history_find_status(&app->history, DS_READY)) != NULL)
		keep_ready = r->id;
	snprintf(dir, sizeof(dir), "%s/%s.deploys", app->t->conf->log_dir,
	    app->name);
	dfd = rootdir_open(dir, 0, why, sizeof(why));
	/* Newest first: the first keep_releases with a folder stay. */
	TAILQ_FOREACH(r, &app->history.recs, entry) {
		id = r->id;
		if (!valid_release_id(id) || r->pruned ||
		    r->status == DS_BUILD_FAILED ||
		    r->status == DS_BUILD_CANCELED)
			continue;
		if (kept < app->ca->keep_releases || strcmp(id, app->release) == 0 ||
		    (keep_ready != NULL && strcmp(id, keep_ready) == 0) ||
		    (app->deploy != NULL && strcmp(id, app->deploy->id) == 0)) {
			kept++;
			continue;
		}
		if (n == SPAWN_MAX_ARGS - 4)
			break;
		ids[n++] = r->id;
		r->pruned = 1;
		applog_event(app, -1, "removing release %s (keep_releases = %u)",
		    id, app->ca->keep_releases);
		snprintf(name, sizeof(name), "%s.log", id);
		if (dfd != -1)
			(void)unlinkat(dfd, name, 0);
	}
	if (dfd != -1)
		close(dfd);
	if (n > 0)
		(void)release_remove(app, ids, n);
}

static void
drain_cb(uv_timer_t *h)
{
	struct deploy	*d = h->data;
	struct app	*app = d->app;
	unsigned	 i;

	if (app->drainer == d)
		app->drainer = NULL;
	for (i = d->old_base; i < d->old_base + app->n_run; i++)
		inst_event(&app->inst[i], EV_STOP);
	deploy_free(d);
}

/* The release serves: make it the app's. */
static void
do_live(struct deploy *d)
{
	struct app	*app = d->app;
	char		 why[512], d2[32];
	uint64_t	 total = uv_now(app->t->loop) - d->t0;

	if (d->kind != KIND_RELOAD) {
		/* For people and scripts; tend itself goes by its history. */
		if (release_point_current(app, d->id, NULL, why,
		    sizeof(why)) == NULL)
			log_warnx("%s: cannot point current at %s: %s",
			    app->name, d->id, why);
		snprintf(app->release, sizeof(app->release), "%.63s", d->id);
	}
	if (!d->inplace)
		app->color = d->base / app->n_run;
	{
		struct app *f;

		TAILQ_FOREACH(f, &app->t->apps, entry)
			if (is_follower(f, app))
				f->prev_set = 0;
	}
	note_backup(d);
	step_done(d, RS_SWITCH);
	format_duration(d2, sizeof(d2), total);
	d->status = DS_LIVE;
	if (d->rec != NULL) {
		d->rec->total_ms = total > INT64_MAX ? INT64_MAX :
		    (int64_t)total;
		/* The one that was live is the rollback target now. */
		history_set_live(&app->history, d->rec, time_now_ms());
		app_notify(app);
	}
	deploy_say(d, "live in %s", d2);
	if (d->kind == KIND_ROLLBACK)
		deploy_say(d, "note: database changes made by later releases "
		    "are not reverted");
	if (d->kind != KIND_RELOAD)
		prune_releases(app);
	if (d->rec != NULL) {
		save_history(app);
		d->rec = NULL;
	}
	deploy_reply(d, 1, NULL);
	if (!d->inplace) {
		format_duration(d2, sizeof(d2), app->ca->drain_timeout);
		applog_event(app, -1, "%s %s: old instances stop in %s "
		    "(drain_timeout)", deploy_kind_names[d->kind], d->id, d2);
		d->step = D_DRAIN;
		app->drainer = d;
		uv_timer_start(&d->timer, drain_cb, app->ca->drain_timeout, 0);
		return;
	}
	deploy_free(d);
}

/* One step done: on to the next. */
static void
deploy_next(struct deploy *d)
{
	if (d->finished || d->canceled)
		return;
	switch (d->step) {
	case D_FETCH:
		step_done(d, RS_FETCH);
		d->step = D_RESOLVE;
		do_resolve(d);
		break;
	case D_RESOLVE:
		d->step = D_CLONE;
		do_clone(d);
		break;
	case D_CLONE:
		d->made_dir = 1;	/* git made it: ours to remove */
		d->step = D_CHECKOUT;
		do_checkout(d);
		break;
	case D_CHECKOUT:
		step_done(d, RS_CHECKOUT);
		d->step = D_LINK;
		do_link(d, d->reldir);
		break;
	case D_LINK:
		d->step = D_BUILD;
		do_build(d);
		break;
	case D_BUILD:
		/* shared into start_dir too, which must exist by now */
		d->step = D_LINK_RUN;
		if (strcmp(d->app->ca->start_dir, ".") != 0) {
			do_link(d, d->rundir);
			break;
		}
		__attribute__((fallthrough));
	case D_LINK_RUN:
		/* What the profile says the release must hold (Medusa's
		 * admin build), seen by the app's user, before any switch. */
		d->step = D_NEED_FILE;
		if (do_need_file(d) != 0)
			break;
		__attribute__((fallthrough));
	case D_NEED_FILE:
		step_done(d, RS_BUILD);
		d->step = D_AWAIT;
		set_status(d, DS_AWAITING);
		__attribute__((fallthrough));
	case D_AWAIT:
		if (d->asker.go != NULL && d->kind == KIND_DEPLOY) {
			int go = d->asker.go(d->asker.gate, d->sha);

			if (go < 0) {
				deploy_fail(d, DS_DEPLOY_FAILED, "the fleet "
				    "deploy stopped before this host's turn");
				break;
			}
			if (go == 0) {
				if (!d->said_gate)
					deploy_say(d, "awaiting: built; this "
					    "host's turn in the fleet deploy");
				d->said_gate = 1;
				uv_timer_start(&d->timer, deploy_poll_cb,
				    DEPLOY_POLL_MS, 0);
				break;
			}
		}
		if (!can_start(d->app)) {
			if (!d->said_await)
				deploy_say(d, "awaiting: the previous release's "
				    "instances are still draining");
			d->said_await = 1;
			uv_timer_start(&d->timer, deploy_poll_cb, DEPLOY_POLL_MS, 0);
			break;
		}
		step_done(d, RS_AWAIT);
		set_status(d, DS_DEPLOYING);
		d->step = D_START;
		do_start(d);
		break;
	case D_START:
		if (!d->healthy)
			break;	/* still waiting for the instances */
		do_switch(d);
		break;
	case D_PUSH:
		break;	/* push_done goes on */
	case D_TEST:
		d->step = D_RELOAD;
		do_reload(d);
		break;
	case D_RELOAD:
		do_follow(d);
		break;
	case D_FOLLOW:
		if (d->follow_fail[0] != '\0')
			deploy_fail(d, DS_DEPLOY_FAILED, "%s", d->follow_fail);
		else if (d->followed)
			do_live(d);
		break;
	case D_DRAIN:
		break;
	}
}

/* --- requests -------------------------------------------------------- */

/* A request refused before any deploy began: one sentence to the asker. */
static void
refuse(const struct deploy_asker *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
refuse(const struct deploy_asker *a, const char *fmt, ...)
{
	char	msg[600];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	a->refuse(a->arg, msg);
}

static struct deploy *
deploy_new(struct app *app, enum deploy_kind kind,
    const struct deploy_asker *a)
{
	struct deploy	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	/* A new release gets a record; a rollback reuses its release's,
	 * a reload changes no release. */
	if (kind == KIND_DEPLOY && (d->rec = history_add(&app->history, kind,
	    time_now_ms())) == NULL) {
		free(d);
		return NULL;
	}
	d->app = app;
	d->kind = kind;
	d->asker = *a;
	d->t0 = d->t_step = uv_now(app->t->loop);
	uv_timer_init(app->t->loop, &d->timer);
	d->timer.data = d;
	d->cb.done = deploy_job_done;
	d->cb.line = deploy_job_line;
	d->cb.arg = d;
	app->nhandles++;
	LIST_INSERT_HEAD(&app->t->deploys, d, entry);
	return d;
}

/* A newer request while a build runs: that build is canceled. */
static int
deploy_busy(struct app *app, const struct deploy_asker *a)
{
	struct deploy	*d = app->deploy;

	if (d == NULL)
		return 0;
	if (d->status == DS_BUILDING) {
		d->canceled = 1;
		app->deploy = NULL;
		deploy_say(d, "canceled: a newer deploy of %s arrived", app->name);
		if (d->job != NULL)
			job_cancel(d->job);	/* its end reports the rest */
		else
			deploy_fail(d, DS_BUILD_CANCELED, "canceled by a newer "
			    "deploy of %s", app->name);
		return 0;
	}
	refuse(a, "%s: %s %s is %s; try again when it is done", app->name,
	    deploy_kind_names[d->kind], d->id[0] ? d->id : "",
	    deploy_status_names[d->status]);
	return 1;
}

/* The app's deploy from now on, once a build in the way is canceled; NULL
 * when the asker was answered instead (busy, out of memory). */
static struct deploy *
deploy_begin(struct app *app, enum deploy_kind kind,
    const struct deploy_asker *a)
{
	struct deploy	*d;

	if (app->removing) {
		/* Its new settings take over once it is down: a deploy now
		 * would run with the old ones. */
		refuse(a, "%s is restarting with new settings; try again "
		    "once it is up", app->name);
		return NULL;
	}
	if (deploy_busy(app, a))
		return NULL;
	if ((d = deploy_new(app, kind, a)) == NULL) {
		refuse(a, "out of memory");
		return NULL;
	}
	app->deploy = d;
	return d;
}

void
deploy_request(struct app *app, const struct deploy_asker *a, const char *ref)
{
	struct deploy	*d;

	if (app->ca->follows != NULL) {
		refuse(a, "%s follows %s: tendctl deploy %s "
		    "moves the whole group", app->name, app->ca->follows,
		    app->ca->follows);
		return;
	}
	if (app->ca->repo == NULL) {
		refuse(a, "%s has no repo: there is nothing to "
		    "deploy (tendctl reload restarts it without downtime)",
		    app->name);
		return;
	}
	if (ref == NULL)
		ref = app->ca->branch;
	if (!valid_git_ref(ref)) {
		refuse(a, "invalid ref: expected a branch, tag "
		    "or commit (letters, digits, - _ . /, not starting with -)");
		return;
	}
	if ((d = deploy_begin(app, KIND_DEPLOY, a)) == NULL)
		return;
	{
		char *r = redact_url(app->ca->repo);

		snprintf(d->repo_shown, sizeof(d->repo_shown), "%s", r != NULL ?
		    r : "the repository");
		free(r);
	}
	snprintf(d->ref, sizeof(d->ref), "%s", ref);
	snprintf(d->rec->ref, sizeof(d->rec->ref), "%s", ref);
	d->step = D_FETCH;
	set_status(d, DS_BUILDING);
	save_history(app);
	do_fetch(d);
}

void
deploy_rollback(struct app *app, const struct deploy_asker *a,
    const char *release)
{
	struct deploy		*d;
	struct deploy_rec	*r;

	if (app->ca->follows != NULL) {
		refuse(a, "%s follows %s: tendctl rollback %s "
		    "moves the whole group", app->name, app->ca->follows,
		    app->ca->follows);
		return;
	}
	if (app->ca->repo == NULL) {
		refuse(a, "%s has no repo: it has no releases",
		    app->name);
		return;
	}
	if (release != NULL && !valid_release_id(release)) {
		refuse(a, "invalid release id");
		return;
	}
	/* Only a release that served: ready (or live, refused below). */
	r = release != NULL ? history_find_id(&app->history, release) :
	    history_find_status(&app->history, DS_READY);
	if (r != NULL && release != NULL && r->status != DS_READY &&
	    r->status != DS_LIVE) {
		refuse(a, "%s: release %s is %s: only a ready "
		    "release can be rolled back to", app->name, release,
		    deploy_status_names[r->status]);
		return;
	}
	if (r == NULL) {
		refuse(a, release != NULL ? "%s has no release "
		    "%s" : "%s has no ready release to roll back to", app->name,
		    release != NULL ? release : "");
		return;
	}
	release = r->id;
	if (release[0] == '\0' || strcmp(release, app->release) == 0) {
		refuse(a, "%s: release %s is the live one",
		    app->name, release[0] ? release : "?");
		return;
	}
	if (!valid_release_id(release) || r->pruned) {
		refuse(a, "%s: release %s was removed: deploy "
		    "its commit again", app->name, release);
		return;
	}
	/* Canceling a build in the way drops no record: r stays. */
	if ((d = deploy_begin(app, KIND_ROLLBACK, a)) == NULL)
		return;
	snprintf(d->id, sizeof(d->id), "%s", release);
	snprintf(d->sha, sizeof(d->sha), "%s", r->sha);
	set_dirs(d);
	open_log(d);
	/* The rollback reuses the release's record: it is that release. */
	d->rec = r;
	(void)history_set_reason(r, NULL);
	/* If tendd dies meanwhile, the next one knows it was a good one. */
	r->rolling_back = 1;
	d->step = D_AWAIT;
	set_status(d, DS_AWAITING);
	save_history(app);
	deploy_say(d, "rolling back to %s (no build, no migration)", release);
	deploy_next(d);
}

void
deploy_reload(struct app *app, const struct deploy_asker *a)
{
	struct deploy	*d;
	char		 buf[PATH_MAX];

	if (!serving(app)) {
		refuse(a, "%s is not running: use tendctl start",
		    app->name);
		return;
	}
	if ((d = deploy_begin(app, KIND_RELOAD, a)) == NULL)
		return;
	snprintf(d->id, sizeof(d->id), "%s", app->release[0] ? app->release :
	    "current");
	snprintf(d->rundir, sizeof(d->rundir), "%s",
	    inst_dir(&app->inst[app->color * app->n_run], buf, sizeof(buf)));
	d->step = D_AWAIT;
	d->status = DS_AWAITING;
	deploy_next(d);
}

/* Whoever asked with arg went away: its deploys go on, unheard. */
void
deploys_forget(struct tend *t, void *arg)
{
	struct deploy	*d;

	LIST_FOREACH(d, &t->deploys, entry)
		if (d->asker.arg == arg)
			d->asker.arg = NULL;
}


/*
 * An unreadable history file is kept for people to look at, as
 * APP.deploys.json.bad-TIME beside it, and a new history begins: the
 * next save would otherwise write over it.  Root renames in state_dir
 * only through a descriptor of it (rootdir.c).
 */
static void
history_set_aside(struct app *app)
{
	char		 name[APP_NAME_MAX + 32], bad[APP_NAME_MAX + 80];
	char		 stamp[TIME_ISO_MAX], why[512];
	int		 dfd, r = -1;
	unsigned	 n;

	snprintf(name, sizeof(name), "%s.deploys.json", app->name);
	if ((dfd = rootdir_open(app->t->conf->state_dir, 0, why,
	    sizeof(why))) == -1) {
		log_warnx("%s: cannot set the unreadable deploy history aside "
		    "(%s): the next deploy writes over it", app->name, why);
		return;
	}
	time_iso(stamp, sizeof(stamp), time_now_ms(), TIME_BASIC);
	/* Never over an earlier one set aside in the same second. */
	for (n = 1; n < 100; n++) {
		snprintf(bad, sizeof(bad), n == 1 ? "%s.bad-%s" :
		    "%s.bad-%s-%u", name, stamp, n);
		if ((r = renameat2(dfd, name, dfd, bad,
		    RENAME_NOREPLACE)) == 0 || errno != EEXIST)
			break;
	}
	/* A filesystem without RENAME_NOREPLACE: a plain rename. */
	if (r != 0 && errno == EINVAL)
		r = renameat(dfd, name, dfd, bad);
	if (r != 0)
		log_warn("%s: cannot set the unreadable deploy history aside "
		    "as %s/%s: the next deploy writes over it", app->name,
		    app->t->conf->state_dir, bad);
	else
		log_warnx("%s: the unreadable deploy history is kept as %s/%s",
		    app->name, app->t->conf->state_dir, bad);
	close(dfd);
}

/* history_recover's word on a deploy a killed tendd left midway: its
 * release never went live, so its folder goes. */
static void
recover_failed(struct deploy_rec *r, void *arg)
{
	struct app	*app = arg;

	log_warnx("%s: deploy %s was interrupted by tendd stopping: marked "
	    "deploy-failed", app->name, r->id[0] ? r->id : "?");
	if (r->kind == KIND_DEPLOY && valid_release_id(r->id)) {
		char *ids[] = { r->id };

		(void)release_remove(app, ids, 1);
		r->pruned = 1;
	}
}

/*
 * At start: the history, with a deploy that a killed tendd left midway
 * marked failed (or live, if nginx already serves it), and the live
 * release's id.  Which release is live comes from tend's own files (the
 * history, and nginx's upstream file, which tend wrote), never from the
 * app's `current` link.
 */
void
deploy_init_app(struct app *app)
{
	struct deploy_rec	*r;
	char			 path[PATH_MAX], why[600], served[80];

	if (history_path(path, sizeof(path), app->t->conf->state_dir,
	    app->name) != 0)
		log_warnx("%s: no deploy history: state_dir is too long a path",
		    app->name);
	else if (history_read(&app->history, path, why, sizeof(why)) != 0) {
		log_warnx("%s: deploy history unreadable, starting a new one: %s",
		    app->name, why);
		history_set_aside(app);
	}
	app->color = nginx_serving(app, served, sizeof(served));
	if (app->ca->repo == NULL)
		return;
	app->release[0] = '\0';
	if (history_find_id(&app->history, served) != NULL)
		snprintf(app->release, sizeof(app->release), "%.63s", served);
	else if ((r = history_live(&app->history)) != NULL &&
	    valid_release_id(r->id))
		snprintf(app->release, sizeof(app->release), "%.63s", r->id);
	if (history_recover(&app->history, app->release, recover_failed,
	    app) != 0)
		save_history(app);
}

static void
tell_nginx_done(void *arg, int ok, const char *msg)
{
	char	*name = arg;

	if (ok)
		log_info("%s: nginx serves the set of tend's file: %s", name, msg);
	else
		log_warnx("%s: could not tell nginx the serving ports (%s): "
		    "nginx keeps the set it has until the next switch", name, msg);
	free(name);
}

/*
 * nginx_switch = lua, at start: the file is tend's memory of which set
 * serves, but a tendd killed between writing it and nginx's answer left
 * nginx on the other set.  So the file is written again with a newer
 * generation and its set sent to nginx, without waiting.
 */
static void
tell_nginx(struct app *app)
{
	char		 text[8192], why[512], *name;
	unsigned	 base = app->color * app->n_run;
	uint64_t	 gen = nginx_lua_gen();
	int		 n;

	if (nginx_switch_mode(app->ca, why, sizeof(why)) != NGINX_SWITCH_LUA)
		return;
	if ((n = nginx_lua_text(app, base, app->release, gen, text,
	    sizeof(text))) < 0 || nginx_write(app, text, (size_t)n, why,
	    sizeof(why)) != 0) {
		log_warnx("%s: %s", app->name, n < 0 ? "upstream text too long" :
		    why);
		return;
	}
	if ((name = strdup(app->name)) == NULL) {
		log_warnx("%s: out of memory", app->name);
		return;
	}
	if (nginx_push(app, base, gen, tell_nginx_done, name, why,
	    sizeof(why)) == NULL) {
		log_warnx("%s: %s", app->name, why);
		free(name);
	}
}

/* The upstream file must exist for nginx to start: write the serving set
 * when there is none yet. */
void
deploy_ensure_upstream(struct app *app)
{
	char		 text[8192], why[512], *old;
	size_t		 len;
	int		 m, n, r;

	if (app->ca->nginx_upstream == NULL)
		return;
	if ((r = nginx_read(app, &old, &len, why, sizeof(why))) == 0) {
		nginx_lua_gen_seen(old);
		if (strstr(old, "balancer_by_lua_block") != NULL)
			tell_nginx(app);
		free(old);
		return;
	}
	if (r < 0) {
		log_warnx("%s: %s", app->name, why);
		return;
	}
	if ((m = nginx_switch_mode(app->ca, why, sizeof(why))) < 0)
		log_warnx("%s: nginx_switch = lua: %s; writing the reload form",
		    app->name, why);
	if ((n = m == NGINX_SWITCH_LUA ? nginx_lua_text(app, app->color *
	    app->n_run, app->release, nginx_lua_gen(), text, sizeof(text)) :
	    nginx_text(app, app->color * app->n_run, app->release, text,
	    sizeof(text))) < 0 || nginx_write(app, text, (size_t)n, why,
	    sizeof(why)) != 0)
		log_warnx("%s: %s", app->name, n < 0 ? "upstream text too long" :
		    why);
	else
		log_info("%s: wrote %s", app->name, app->ca->nginx_upstream);
}

/*
 * tendd stops: a build or a migration in flight is stopped and the
 * deploy recorded as failed; instances are the shutdown's business.
 */
void
deploy_shutdown(struct app *app)
{
	struct deploy	*d = app->deploy;

	if (app->drainer != NULL) {
		struct deploy *dr = app->drainer;

		app->drainer = NULL;
		uv_timer_stop(&dr->timer);
		deploy_free(dr);
	}
	if (d == NULL || d->finished)
		return;
	d->stopping = 1;
	if (d->job != NULL)
		job_cancel(d->job);
	else
		deploy_fail(d, DS_DEPLOY_FAILED, "interrupted: tendd stopped");
}
