/*
 * deploy.c: new releases from git, started beside the live one and
 * switched to behind nginx once healthy; rollback to an older release;
 * reload (the same switch for the release that runs).
 *
 *   building    git fetch into dir/repo (a mirror), resolve REF, clone
 *               the commit into dir/releases/<UTC time>-<short sha>, link
 *               dir/shared/<entries> into it, run `build`
 *   awaiting    the previous switch's old instances are still draining
 *   deploying   start the release on the idle port set: preflight and
 *               migration (prep.c), then /health; write nginx_upstream,
 *               nginx_test, nginx_reload; point dir/current at it
 *   live        the old instances stop after drain_timeout; the release
 *               that was live becomes "ready" (a rollback target)
 *
 * Failures: build-failed, deploy-failed (the new instances are stopped,
 * the old ones never stopped serving, the nginx file is put back), and
 * build-canceled when a newer deploy of the app arrives during a build.
 * Every status change is written to the app's history (history.c) before
 * anything depends on it, so a kill -9 of tendd leaves a readable record;
 * the next tendd marks an interrupted deploy failed, and nginx's upstream
 * file says which port set serves.
 *
 * Without nginx_upstream there is nowhere to switch: the release replaces
 * the running one in place (requests fail meanwhile) and deploy says so.
 *
 * git runs as the app's user with arguments, never through a shell; a
 * REF is checked (no leading '-') and still passed after --end-of-options.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tendd.h"

/* How often a waiting deploy looks again (draining, preflight). */
#define DEPLOY_POLL_MS	200
/* git's own steps (fetch, clone) get this long. */
#define GIT_TIMEOUT_MS	(10 * 60 * 1000)

const char *const deploy_status_names[DS__COUNT] = {
	[DS_BUILDING] = "building",
	[DS_AWAITING] = "awaiting",
	[DS_DEPLOYING] = "deploying",
	[DS_LIVE] = "live",
	[DS_READY] = "ready",
	[DS_BUILD_FAILED] = "build-failed",
	[DS_DEPLOY_FAILED] = "deploy-failed",
	[DS_BUILD_CANCELED] = "build-canceled",
};

enum dkind { DK_DEPLOY, DK_ROLLBACK, DK_RELOAD };
static const char *const kind_names[] = { "deploy", "rollback", "reload" };

enum dstep {
	D_FETCH, D_RESOLVE, D_CLONE, D_CHECKOUT, D_BUILD, D_AWAIT, D_START,
	D_TEST, D_RELOAD, D_DRAIN
};

struct deploy {
	LIST_ENTRY(deploy) entry;	/* every deploy object, live or ending */
	struct app	*app;
	enum dkind	 kind;
	enum dstep	 step;
	enum deploy_status status;
	int		 canceled;
	int		 finished;	/* reported; maybe still draining */
	struct client	*client;
	struct job	*job;
	uv_timer_t	 timer;
	json_t		*rec;		/* its history record */
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
	size_t		 old_len;
	uint64_t	 t0, t_step;
	char		 first_line[128];	/* of a job's output */
	int		 lines;
	int		 healthy;	/* the new instances are all live */
	int		 launching;	/* do_start is moving instances */
	int		 said_await;
	int		 stopping;	/* tendd is shutting down */
	int		 made_dir;	/* reldir is this deploy's own */
	int		 quiet;		/* a job's output is not progress */
	char		 repo_shown[512];	/* repo, its password hidden */
	FILE		*log;		/* the deploy log of this release */
};

/* All of them: a client that goes away must be forgotten by every
 * deploy it asked for, even one being canceled or whose app was removed. */
static LIST_HEAD(, deploy) deploys = LIST_HEAD_INITIALIZER(deploys);

static void	deploy_next(struct deploy *);
static void	do_live(struct deploy *);
static void	restore_upstream(struct deploy *);
static void	deploy_fail(struct deploy *, enum deploy_status, const char *,
		    ...) __attribute__((format(printf, 3, 4)));

/* --- small helpers ---------------------------------------------------- */

static void
iso_now(char *buf, size_t len)
{
	struct timespec	ts;
	struct tm	tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ||
	    errno == ENOENT ? 0 : -1;
}

/* rm -rf, without following symbolic links. */
static int
rm_rf(const char *path)
{
	struct stat	st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The app's user and group ids, for what tendd creates on its behalf. */
static void
app_ids(const struct conf_app *ca, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;
	struct group	*gr;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (ca->user != NULL && (pw = getpwnam(ca->user)) != NULL) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	}
	if (ca->group != NULL && (gr = getgrnam(ca->group)) != NULL)
		*gid = gr->gr_gid;
}

static int
mkdir_owned(const struct conf_app *ca, const char *dir)
{
	uid_t	uid;
	gid_t	gid;

	if (tend_mkdir_p(dir, 0755) != 0)
		return -1;
	app_ids(ca, &uid, &gid);
	if (uid != (uid_t)-1 && chown(dir, uid, gid) != 0)
		return -1;
	return 0;
}

/* A line for the requester, the deploy log and the app log. */
static void
deploy_say(struct deploy *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
deploy_say(struct deploy *d, const char *fmt, ...)
{
	char	line[1200], ts[32];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	applog_event(d->app, -1, "%s %s: %s", kind_names[d->kind],
	    d->id[0] ? d->id : d->ref, line);
	if (d->log != NULL) {
		iso_now(ts, sizeof(ts));
		fprintf(d->log, "%s %s\n", ts, line);
		fflush(d->log);
	}
	if (d->client != NULL && !client_is_closing(d->client))
		client_send(d->client, json_pack("{s:s,s:s}", "event",
		    "progress", "line", line));
}

static void
save_history(struct app *app)
{
	char	why[512];

	if (app->history != NULL && history_save(app->t->conf->state_dir,
	    app->name, app->history, why, sizeof(why)) != 0)
		log_warnx("%s: cannot save the deploy history: %s", app->name,
		    why);
}

static void
set_status(struct deploy *d, enum deploy_status st)
{
	char	ts[32];

	d->status = st;
	if (d->rec == NULL)
		return;
	json_object_set_new(d->rec, "status",
	    json_string(deploy_status_names[st]));
	if (st != DS_BUILDING && st != DS_AWAITING && st != DS_DEPLOYING) {
		iso_now(ts, sizeof(ts));
		json_object_set_new(d->rec, "finished_at", json_string(ts));
	}
	save_history(d->app);
	app_notify(d->app);
}

/* Time spent in the step that ends now, under steps.NAME (ms). */
static void
step_done(struct deploy *d, const char *name)
{
	uint64_t	now = uv_now(d->app->t->loop);
	json_t		*steps;

	if (d->rec != NULL) {
		if ((steps = json_object_get(d->rec, "steps")) == NULL) {
			steps = json_object();
			json_object_set_new(d->rec, "steps", steps);
		}
		json_object_set_new(steps, name,
		    json_integer((json_int_t)(now - d->t_step)));
	}
	d->t_step = now;
}

static json_t *
find_record(struct app *app, const char *status, const char *id)
{
	json_t	*r;
	size_t	 i;

	json_array_foreach(app->history, i, r) {
		if (status != NULL && strcmp(json_string_value(json_object_get(r,
		    "status")) ? json_string_value(json_object_get(r, "status")) :
		    "", status) != 0)
			continue;
		if (id != NULL && (json_string_value(json_object_get(r, "id")) ==
		    NULL || strcmp(json_string_value(json_object_get(r, "id")),
		    id) != 0))
			continue;
		return r;
	}
	return NULL;
}

/* --- the end --------------------------------------------------------- */

static void
deploy_closed_cb(uv_handle_t *h)
{
	struct deploy	*d = h->data;
	struct app	*app = d->app;

	LIST_REMOVE(d, entry);
	json_decref(d->rec);
	free(d->old_upstream);
	if (d->log != NULL)
		fclose(d->log);
	free(d);
	app_handle_done(app);
}

static void
deploy_free(struct deploy *d)
{
	if (d->app->deploy == d)
		d->app->deploy = NULL;
	uv_close((uv_handle_t *)&d->timer, deploy_closed_cb);
	app_notify(d->app);
}

/* Answer the requester (once). */
static void
deploy_reply(struct deploy *d, int ok, const char *error)
{
	d->finished = 1;
	if (d->app->deploy == d)
		d->app->deploy = NULL;
	if (d->client == NULL || client_is_closing(d->client)) {
		d->client = NULL;
		return;
	}
	client_finish(d->client, json_pack("{s:b,s:s,s:s,s:s*,s:s*}", "ok", ok,
	    "release", d->id, "status", deploy_status_names[d->status],
	    "error", error, "sha", d->sha[0] ? d->sha : NULL));
	d->client = NULL;
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
	json_t	*b = d->app->prep_last != NULL ?
		    json_object_get(d->app->prep_last, "backup") : NULL;

	if (b == NULL || d->rec == NULL || (uint64_t)json_integer_value(
	    json_object_get(b, "at_ms")) < d->t0)
		return;
	json_object_set_new(d->rec, "backup", json_pack("{s:O,s:O}", "file",
	    json_object_get(b, "file"), "restore", json_object_get(b,
	    "restore")));
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
	if (d->rec != NULL)
		json_object_set_new(d->rec, "reason", json_string(reason));
	deploy_say(d, "%s: %s", deploy_status_names[st], reason);
	log_warnx("%s: %s %s %s: %s", app->name, kind_names[d->kind], d->id,
	    deploy_status_names[st], reason);
	if (d->step == D_TEST || d->step == D_RELOAD)
		restore_upstream(d);	/* idempotent: the old text again */
	if (d->step >= D_START && d->step != D_DRAIN) {
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
	if (d->kind == DK_DEPLOY && d->made_dir &&
	    (st == DS_BUILD_FAILED || st == DS_BUILD_CANCELED))
		(void)rm_rf(d->reldir);
	if (d->rec != NULL)
		json_object_del(d->rec, "rolling_back");
	if (d->kind == DK_ROLLBACK) {
		/* Still a release one can roll back to. */
		set_status(d, DS_READY);
		d->status = st;
	} else
		set_status(d, st);
	deploy_reply(d, 0, reason);
	deploy_free(d);
}

/* --- nginx ------------------------------------------------------------ */

static int
read_file(const char *path, char **buf, size_t *len)
{
	FILE	*f;
	long	 n;

	*buf = NULL;
	*len = 0;
	if ((f = fopen(path, "re")) == NULL)
		return errno == ENOENT ? 1 : -1;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > 1 << 20 ||
	    fseek(f, 0, SEEK_SET) != 0 || (*buf = malloc((size_t)n + 1)) == NULL ||
	    fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(*buf);
		*buf = NULL;
		return -1;
	}
	(*buf)[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	return 0;
}

/* Write path atomically: a temporary file beside it, then rename. */
static int
write_atomic(const char *path, const char *text, size_t len, mode_t mode)
{
	char	tmp[PATH_MAX + 16];
	int	fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tend-tmp", path) >= (int)sizeof(tmp))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) == -1)
		return -1;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The upstream block for the slots from base: ports are integers we
 * computed, the name is a checked app name. */
static int
upstream_text(struct app *app, unsigned base, const char *rel, char *buf,
    size_t len)
{
	size_t		off;
	unsigned	i;

	off = (size_t)snprintf(buf, len, "# Written by tend for app %s "
	    "(release %s); do not edit.\nupstream tend_%s {\n", app->name,
	    rel[0] ? rel : "-", app->name);
	for (i = base; i < base + app->n_run && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off,
		    "\tserver 127.0.0.1:%u;\n", app->inst[i].port);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, "}\n");
	return off < len ? (int)off : -1;
}

/*
 * Which port set nginx sends traffic to, from the upstream file itself:
 * after a crash that is the truth, whatever tend was doing.
 */
unsigned
deploy_upstream_color(struct app *app)
{
	char		*buf, *p;
	size_t		 len;
	unsigned	 port;

	if (app->ca->nginx_upstream == NULL || app->n_inst < 2 * app->n_run)
		return 0;
	if (read_file(app->ca->nginx_upstream, &buf, &len) != 0)
		return 0;
	port = 0;
	if ((p = strstr(buf, "server 127.0.0.1:")) != NULL)
		port = (unsigned)strtoul(p + 17, NULL, 10);
	free(buf);
	return port != 0 && port == app->inst[app->n_run].port ? 1 : 0;
}

static void
restore_upstream(struct deploy *d)
{
	const char	*path = d->app->ca->nginx_upstream;

	if (d->had_upstream) {
		if (write_atomic(path, d->old_upstream, d->old_len, 0644) != 0)
			log_warn("%s: cannot restore %s", d->app->name, path);
	} else if (unlink(path) != 0 && errno != ENOENT)
		log_warn("%s: cannot remove %s", d->app->name, path);
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
	if (d->client != NULL && !client_is_closing(d->client))
		client_send(d->client, json_pack("{s:s,s:s%}", "event",
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

/* Minimal environment for git: no app secrets, never a prompt. */
static int
git_env(struct deploy *d, struct env *e)
{
	const char	*v = getenv("PATH");
	struct passwd	*pw = d->app->ca->user ? getpwnam(d->app->ca->user) : NULL;
	int		 r = 0;

	env_init(e);
	r |= env_set(e, "PATH", v != NULL && *v ? v :
	    "/usr/local/bin:/usr/bin:/bin");
	r |= env_set(e, "HOME", pw != NULL ? pw->pw_dir :
	    (getenv("HOME") ? getenv("HOME") : "/"));
	r |= env_set(e, "LANG", "C.UTF-8");
	r |= env_set(e, "GIT_TERMINAL_PROMPT", "0");
	r |= env_set(e, "TEND_SUPERVISOR", d->app->t->conf->socket);
	return r;
}

static int
run_job(struct deploy *d, const char *stream, char *const *argv,
    const char *cmd, const char *cwd, struct env *e, int as_app,
    uint64_t timeout)
{
	struct job_spec	js;
	char		why[512];

	memset(&js, 0, sizeof(js));
	js.stream = stream;
	js.argv = argv;
	js.cmd = cmd;
	js.cwd = cwd;
	js.env = e->kv;
	if (as_app) {
		js.user = d->app->ca->user;
		js.group = d->app->ca->group;
	}
	js.timeout_ms = timeout;
	js.kill_timeout = d->app->ca->kill_timeout;
	d->lines = 0;
	d->first_line[0] = '\0';
	d->job = job_start(d->app, &js, deploy_job_done, deploy_job_line, d,
	    why, sizeof(why));
	env_free(e);
	if (d->job == NULL) {
		deploy_fail(d, d->step < D_AWAIT ? DS_BUILD_FAILED :
		    DS_DEPLOY_FAILED, "%s: %s", stream, why);
		return -1;
	}
	return 0;
}

/* --- building ------------------------------------------------------- */

/* Once the id is known the run dir follows: release + start_dir. */
static void
set_rundir(struct deploy *d)
{
	int	n;

	if (strcmp(d->app->ca->start_dir, ".") == 0)
		n = snprintf(d->rundir, sizeof(d->rundir), "%s", d->reldir);
	else
		n = snprintf(d->rundir, sizeof(d->rundir), "%s/%s", d->reldir,
		    d->app->ca->start_dir);
	if (n < 0 || (size_t)n >= sizeof(d->rundir))
		d->rundir[0] = '\0';	/* do_build finds no such dir */
}

static void
do_fetch(struct deploy *d)
{
	const struct conf_app	*ca = d->app->ca;
	char			 mirror[PATH_MAX], head[PATH_MAX + 8];
	struct env		 e;
	struct stat		 st;

	snprintf(mirror, sizeof(mirror), "%s/repo", ca->dir);
	snprintf(head, sizeof(head), "%s/HEAD", mirror);
	if (mkdir_owned(ca, ca->dir) != 0 || mkdir_owned(ca, mirror) != 0) {
		deploy_fail(d, DS_BUILD_FAILED, "cannot create %s: %s", mirror,
		    strerror(errno));
		return;
	}
	if (git_env(d, &e) != 0) {
		env_free(&e);
		deploy_fail(d, DS_BUILD_FAILED, "out of memory");
		return;
	}
	if (stat(head, &st) != 0) {
		char *argv[] = { "git", "clone", "--quiet", "--mirror", "--",
		    ca->repo, mirror, NULL };

		deploy_say(d, "cloning %s", d->repo_shown);
		run_job(d, "git", argv, NULL, ca->dir, &e, 1, GIT_TIMEOUT_MS);
	} else {
		char *argv[] = { "git", "--git-dir", mirror, "fetch", "--quiet",
		    "--prune", "--force", "origin", NULL };

		deploy_say(d, "fetching %s", d->repo_shown);
		run_job(d, "git", argv, NULL, ca->dir, &e, 1, GIT_TIMEOUT_MS);
	}
}

static void
do_resolve(struct deploy *d)
{
	const struct conf_app	*ca = d->app->ca;
	char			 mirror[PATH_MAX], spec[260];
	struct env		 e;
	char			*argv[] = { "git", "--git-dir", mirror, "rev-parse",
				    "--verify", "--quiet", "--end-of-options",
				    spec, NULL };

	snprintf(mirror, sizeof(mirror), "%s/repo", ca->dir);
	snprintf(spec, sizeof(spec), "%s^{commit}", d->ref);
	if (git_env(d, &e) != 0) {
		env_free(&e);
		deploy_fail(d, DS_BUILD_FAILED, "out of memory");
		return;
	}
	d->quiet = 1;
	run_job(d, "git", argv, NULL, ca->dir, &e, 1, GIT_TIMEOUT_MS);
}

static int
make_release_id(struct deploy *d)
{
	struct tm	tm;
	time_t		now = time(NULL);
	char		stamp[32];
	size_t		i;

	for (i = 0; i < 40; i++)
		if (!((d->first_line[i] >= '0' && d->first_line[i] <= '9') ||
		    (d->first_line[i] >= 'a' && d->first_line[i] <= 'f')))
			return -1;
	snprintf(d->sha, sizeof(d->sha), "%.40s", d->first_line);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(d->id, sizeof(d->id), "%s-%.7s", stamp, d->sha);
	return 0;
}

static void
do_clone(struct deploy *d)
{
	const struct conf_app	*ca = d->app->ca;
	char			 mirror[PATH_MAX], releases[PATH_MAX], logp[PATH_MAX + 8];
	struct env		 e;
	char			*argv[] = { "git", "clone", "--quiet",
				    "--no-checkout", "--", mirror, d->reldir, NULL };
	char			 orig[80];
	unsigned		 n;

	if (make_release_id(d) != 0) {
		deploy_fail(d, DS_BUILD_FAILED, "git rev-parse gave no commit");
		return;
	}
	snprintf(mirror, sizeof(mirror), "%s/repo", ca->dir);
	snprintf(releases, sizeof(releases), "%s/releases", ca->dir);
	/* The same commit twice in one second: the second gets "-2". */
	snprintf(orig, sizeof(orig), "%s", d->id);
	for (n = 1; n < 100; n++) {
		struct stat st;

		if (n > 1)
			snprintf(d->id, sizeof(d->id), "%.60s-%u", orig, n);
		if (snprintf(d->reldir, sizeof(d->reldir), "%s/%s", releases,
		    d->id) >= (int)sizeof(d->reldir)) {
			deploy_fail(d, DS_BUILD_FAILED, "dir is too long a path");
			return;
		}
		if (lstat(d->reldir, &st) != 0 && errno == ENOENT)
			break;
	}
	if (n == 100) {
		deploy_fail(d, DS_BUILD_FAILED, "no free name for release %s",
		    orig);
		return;
	}
	set_rundir(d);
	if (mkdir_owned(ca, releases) != 0) {
		deploy_fail(d, DS_BUILD_FAILED, "cannot create %s: %s", releases,
		    strerror(errno));
		return;
	}
	/* The deploy log lives beside the release, and goes with it. */
	snprintf(logp, sizeof(logp), "%s.log", d->reldir);
	if ((d->log = fopen(logp, "ae")) == NULL)
		log_warn("%s: %s", d->app->name, logp);
	json_object_set_new(d->rec, "id", json_string(d->id));
	json_object_set_new(d->rec, "sha", json_string(d->sha));
	json_object_set_new(d->rec, "dir", json_string(d->reldir));
	save_history(d->app);
	deploy_say(d, "release %s: commit %s of %s", d->id, d->sha, d->ref);
	if (git_env(d, &e) != 0) {
		env_free(&e);
		deploy_fail(d, DS_BUILD_FAILED, "out of memory");
		return;
	}
	run_job(d, "git", argv, NULL, releases, &e, 1, GIT_TIMEOUT_MS);
}

static void
do_checkout(struct deploy *d)
{
	struct env	 e;
	char		*argv[] = { "git", "checkout", "--quiet", "--detach",
			    d->sha, NULL };

	if (git_env(d, &e) != 0) {
		env_free(&e);
		deploy_fail(d, DS_BUILD_FAILED, "out of memory");
		return;
	}
	run_job(d, "git", argv, NULL, d->reldir, &e, 1, GIT_TIMEOUT_MS);
}

/* Is path (resolved) root itself or below it? */
static int
path_inside(const char *path, const char *root)
{
	char	real[PATH_MAX];
	size_t	n = strlen(root);

	if (realpath(path, real) == NULL)
		return 0;
	return strncmp(real, root, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

/*
 * Link dir/shared/NAME into into/NAME for every shared entry.  tendd does
 * this as root in a tree the app's user wrote (git, the build): every
 * directory it works in must resolve inside the release, or a symbolic
 * link planted there would aim root's rm and symlink elsewhere.
 */
static int
link_shared(struct deploy *d, const char *into, char *why, size_t len)
{
	const struct conf_app	*ca = d->app->ca;
	char			 src[PATH_MAX], dst[PATH_MAX], root[PATH_MAX], *slash;
	struct stat		 st;
	uid_t			 uid;
	gid_t			 gid;
	size_t			 i;

	app_ids(ca, &uid, &gid);
	if (realpath(d->reldir, root) == NULL || !path_inside(into, root)) {
		snprintf(why, len, "%.300s is not inside the release", into);
		return -1;
	}
	for (i = 0; i < ca->shared.n; i++) {
		snprintf(src, sizeof(src), "%s/shared/%s", ca->dir,
		    ca->shared.v[i]);
		snprintf(dst, sizeof(dst), "%s/%s", into, ca->shared.v[i]);
		if (stat(src, &st) != 0) {
			snprintf(why, len, "shared entry %.300s: %s (create it, a "
			    "file or a folder, before deploying)", src,
			    strerror(errno));
			return -1;
		}
		/* Its directory first: made if need be, and inside. */
		if ((slash = strrchr(dst, '/')) != NULL && slash > dst) {
			*slash = '\0';
			if (!path_inside(dst, root) && (access(dst, F_OK) == 0 ||
			    tend_mkdir_p(dst, 0755) != 0 || !path_inside(dst, root))) {
				snprintf(why, len, "%.300s is not inside the release",
				    dst);
				return -1;
			}
			*slash = '/';
		}
		if (rm_rf(dst) != 0) {
			snprintf(why, len, "cannot replace %.300s: %s", dst,
			    strerror(errno));
			return -1;
		}
		if (symlink(src, dst) != 0) {
			snprintf(why, len, "symlink %.300s: %s", dst,
			    strerror(errno));
			return -1;
		}
		if (uid != (uid_t)-1)
			(void)lchown(dst, uid, gid);
	}
	return 0;
}

static void
do_build(struct deploy *d)
{
	const struct conf_app	*ca = d->app->ca;
	struct env		 e;
	char			 why[600];

	if (link_shared(d, d->reldir, why, sizeof(why)) != 0) {
		deploy_fail(d, DS_BUILD_FAILED, "%s", why);
		return;
	}
	if (ca->build == NULL) {
		deploy_next(d);
		return;
	}
	deploy_say(d, "building: %s", ca->build);
	if (spawn_env(&d->app->inst[d->base], &e, why, sizeof(why)) != 0) {
		deploy_fail(d, DS_BUILD_FAILED, "%s", why);
		return;
	}
	run_job(d, "build", NULL, ca->build, d->reldir, &e, 1, ca->build_timeout);
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
	/* A rollback and a reload run no migration: mark it done. */
	if (d->kind != DK_DEPLOY && realpath(d->rundir, real) != NULL) {
		free(app->migrated);
		app->migrated = strdup(real);
	}
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
		step_done(d, "start");
		deploy_say(d, "healthy on port%s %u%s", app->n_run > 1 ? "s" : "",
		    app->inst[d->base].port, app->n_run > 1 ? "..." : "");
		/* From the loop: we are inside the state machine. */
		d->healthy = 1;
		uv_timer_start(&d->timer, deploy_poll_cb, 0, 0);
	}
}

static void
do_switch(struct deploy *d)
{
	struct app		*app = d->app;
	const struct conf_app	*ca = app->ca;
	char			 text[4096];
	struct env		 e;
	int			 n, r;

	if (ca->nginx_upstream == NULL) {
		do_live(d);
		return;
	}
	free(d->old_upstream);
	d->old_upstream = NULL;
	r = read_file(ca->nginx_upstream, &d->old_upstream, &d->old_len);
	if (r < 0) {
		deploy_fail(d, DS_DEPLOY_FAILED, "cannot read %s: %s",
		    ca->nginx_upstream, strerror(errno));
		return;
	}
	d->had_upstream = r == 0;
	if ((n = upstream_text(app, d->base, d->id, text, sizeof(text))) < 0 ||
	    write_atomic(ca->nginx_upstream, text, (size_t)n, 0644) != 0) {
		deploy_fail(d, DS_DEPLOY_FAILED, "cannot write %s: %s",
		    ca->nginx_upstream, strerror(errno));
		return;
	}
	deploy_say(d, "wrote %s; checking nginx: %s", ca->nginx_upstream,
	    ca->nginx_test);
	env_init(&e);
	if (env_set(&e, "PATH", getenv("PATH") ? getenv("PATH") :
	    "/usr/sbin:/usr/bin:/sbin:/bin") != 0) {
		env_free(&e);
		restore_upstream(d);
		deploy_fail(d, DS_DEPLOY_FAILED, "out of memory");
		return;
	}
	d->step = D_TEST;
	run_job(d, "nginx", NULL, ca->nginx_test, "/", &e, 0, 60000);
}

static void
do_reload(struct deploy *d)
{
	struct env	e;

	deploy_say(d, "reloading nginx: %s", d->app->ca->nginx_reload);
	env_init(&e);
	if (env_set(&e, "PATH", getenv("PATH") ? getenv("PATH") :
	    "/usr/sbin:/usr/bin:/sbin:/bin") != 0) {
		env_free(&e);
		restore_upstream(d);
		deploy_fail(d, DS_DEPLOY_FAILED, "out of memory");
		return;
	}
	run_job(d, "nginx", NULL, d->app->ca->nginx_reload, "/", &e, 0, 60000);
}

/* A release folder: "2026...-sha", not its ".log". */
static int
is_release(const char *name, void *arg)
{
	(void)arg;
	return name[0] >= '0' && name[0] <= '9' && strchr(name, '.') == NULL;
}

/* Keep the newest keep_releases folders, and always the live one and the
 * newest ready one (the rollback target). */
static void
prune_releases(struct app *app)
{
	char		 dir[PATH_MAX], path[PATH_MAX + 80], **names;
	const char	*keep_ready = NULL;
	json_t		*r;
	size_t		 n, i;

	if ((r = find_record(app, "ready", NULL)) != NULL)
		keep_ready = json_string_value(json_object_get(r, "id"));
	snprintf(dir, sizeof(dir), "%s/releases", app->ca->dir);
	names = tend_dir_names(dir, is_release, NULL, &n);
	for (i = 0; i + app->ca->keep_releases < n; i++) {
		if (strcmp(names[i], app->release) == 0 ||
		    (keep_ready != NULL && strcmp(names[i], keep_ready) == 0) ||
		    (app->deploy != NULL && strcmp(names[i], app->deploy->id) == 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (rm_rf(path) == 0) {
			applog_event(app, -1, "removed release %s (keep_releases "
			    "= %u)", names[i], app->ca->keep_releases);
			snprintf(path, sizeof(path), "%s/%s.log", dir, names[i]);
			(void)unlink(path);
			if ((r = find_record(app, NULL, names[i])) != NULL)
				json_object_set_new(r, "pruned", json_true());
		}
	}
	tend_names_free(names, n);
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
	char		 cur[PATH_MAX], tmp[PATH_MAX + 16], d2[32];
	json_t		*prev;
	size_t		 i;

	if (d->kind != DK_RELOAD) {
		snprintf(cur, sizeof(cur), "%s/current", app->ca->dir);
		snprintf(tmp, sizeof(tmp), "%s/.current.tend-tmp", app->ca->dir);
		(void)unlink(tmp);
		if (symlink(d->reldir, tmp) != 0 || rename(tmp, cur) != 0) {
			log_warn("%s: cannot point %s at %s", app->name, cur,
			    d->reldir);
			(void)unlink(tmp);
		}
		/* The one that was live is the rollback target now. */
		json_array_foreach(app->history, i, prev)
			if (prev != d->rec && json_string_value(json_object_get(
			    prev, "status")) != NULL && strcmp(json_string_value(
			    json_object_get(prev, "status")), "live") == 0)
				json_object_set_new(prev, "status",
				    json_string("ready"));
		snprintf(app->release, sizeof(app->release), "%.63s", d->id);
	}
	if (!d->inplace)
		app->color = d->base / app->n_run;
	note_backup(d);
	step_done(d, "switch");
	format_duration(d2, sizeof(d2), uv_now(app->t->loop) - d->t0);
	if (d->rec != NULL)
		json_object_del(d->rec, "rolling_back");
	if (d->rec != NULL)
		json_object_set_new(d->rec, "total_ms",
		    json_integer((json_int_t)(uv_now(app->t->loop) - d->t0)));
	set_status(d, DS_LIVE);
	deploy_say(d, "live in %s", d2);
	if (d->kind == DK_ROLLBACK)
		deploy_say(d, "note: database changes made by later releases "
		    "are not reverted");
	if (d->kind != DK_RELOAD)
		prune_releases(app);
	save_history(app);
	deploy_reply(d, 1, NULL);
	if (!d->inplace) {
		format_duration(d2, sizeof(d2), app->ca->drain_timeout);
		applog_event(app, -1, "%s %s: old instances stop in %s "
		    "(drain_timeout)", kind_names[d->kind], d->id, d2);
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
		step_done(d, "fetch");
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
		step_done(d, "checkout");
		d->step = D_BUILD;
		do_build(d);
		break;
	case D_BUILD: {
		char	why[600];
		struct stat st;

		if (strcmp(d->app->ca->start_dir, ".") != 0 &&
		    link_shared(d, d->rundir, why, sizeof(why)) != 0) {
			deploy_fail(d, DS_BUILD_FAILED, "%s", why);
			break;
		}
		if (stat(d->rundir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			deploy_fail(d, DS_BUILD_FAILED, "start_dir %s is not in the "
			    "release after the build", d->app->ca->start_dir);
			break;
		}
		step_done(d, "build");
		d->step = D_AWAIT;
		set_status(d, DS_AWAITING);
	}
		__attribute__((fallthrough));
	case D_AWAIT:
		if (!can_start(d->app)) {
			if (!d->said_await)
				deploy_say(d, "awaiting: the previous release's "
				    "instances are still draining");
			d->said_await = 1;
			uv_timer_start(&d->timer, deploy_poll_cb, DEPLOY_POLL_MS, 0);
			break;
		}
		step_done(d, "await");
		set_status(d, DS_DEPLOYING);
		d->step = D_START;
		do_start(d);
		break;
	case D_START:
		if (!d->healthy)
			break;	/* still waiting for the instances */
		do_switch(d);
		break;
	case D_TEST:
		d->step = D_RELOAD;
		do_reload(d);
		break;
	case D_RELOAD:
		do_live(d);
		break;
	case D_DRAIN:
		break;
	}
}

/* --- requests -------------------------------------------------------- */

static struct deploy *
deploy_new(struct app *app, enum dkind kind, struct client *c)
{
	struct deploy	*d;
	char		 ts[32];

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->app = app;
	d->kind = kind;
	d->client = c;
	d->t0 = d->t_step = uv_now(app->t->loop);
	uv_timer_init(app->t->loop, &d->timer);
	d->timer.data = d;
	app->nhandles++;
	LIST_INSERT_HEAD(&deploys, d, entry);
	iso_now(ts, sizeof(ts));
	if (kind != DK_RELOAD && (d->rec = json_pack("{s:s,s:s,s:s}", "kind",
	    kind_names[kind], "status", "building", "created_at", ts)) != NULL)
		json_array_insert(app->history, 0, d->rec);
	return d;
}

/* A newer request while a build runs: that build is canceled. */
static int
deploy_busy(struct app *app, struct client *c)
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
	client_finish(c, cmd_error("%s: %s %s is %s; try again when it is done",
	    app->name, kind_names[d->kind], d->id[0] ? d->id : "",
	    deploy_status_names[d->status]));
	return 1;
}

/* The app's deploy from now on, once a build in the way is canceled; NULL
 * when c was answered instead (busy, out of memory). */
static struct deploy *
deploy_begin(struct app *app, enum dkind kind, struct client *c)
{
	struct deploy	*d;

	if (deploy_busy(app, c))
		return NULL;
	if ((d = deploy_new(app, kind, c)) == NULL) {
		client_finish(c, cmd_error("out of memory"));
		return NULL;
	}
	app->deploy = d;
	return d;
}

void
deploy_request(struct app *app, struct client *c, const char *ref)
{
	struct deploy	*d;

	if (app->ca->repo == NULL) {
		client_finish(c, cmd_error("%s has no repo: there is nothing to "
		    "deploy (tendctl reload restarts it without downtime)",
		    app->name));
		return;
	}
	if (ref == NULL)
		ref = app->ca->branch;
	if (!valid_git_ref(ref)) {
		client_finish(c, cmd_error("invalid ref: expected a branch, tag "
		    "or commit (letters, digits, - _ . /, not starting with -)"));
		return;
	}
	if ((d = deploy_begin(app, DK_DEPLOY, c)) == NULL)
		return;
	{
		char *r = redact_url(app->ca->repo);

		snprintf(d->repo_shown, sizeof(d->repo_shown), "%s", r != NULL ?
		    r : "the repository");
		free(r);
	}
	snprintf(d->ref, sizeof(d->ref), "%s", ref);
	json_object_set_new(d->rec, "ref", json_string(ref));
	save_history(app);
	d->step = D_FETCH;
	set_status(d, DS_BUILDING);
	do_fetch(d);
}

void
deploy_rollback(struct app *app, struct client *c, const char *release)
{
	struct deploy	*d;
	json_t		*r;
	struct stat	 st;
	char		 dir[PATH_MAX];

	if (app->ca->repo == NULL) {
		client_finish(c, cmd_error("%s has no repo: it has no releases",
		    app->name));
		return;
	}
	if (release != NULL && !valid_release_id(release)) {
		client_finish(c, cmd_error("invalid release id"));
		return;
	}
	/* Only a release that served: ready (or live, refused below). */
	r = release != NULL ? find_record(app, NULL, release) :
	    find_record(app, "ready", NULL);
	if (r != NULL && release != NULL && json_string_value(json_object_get(r,
	    "status")) != NULL && strcmp(json_string_value(json_object_get(r,
	    "status")), "ready") != 0 && strcmp(json_string_value(
	    json_object_get(r, "status")), "live") != 0) {
		client_finish(c, cmd_error("%s: release %s is %s: only a ready "
		    "release can be rolled back to", app->name, release,
		    json_string_value(json_object_get(r, "status"))));
		return;
	}
	if (r == NULL) {
		client_finish(c, cmd_error(release != NULL ? "%s has no release "
		    "%s" : "%s has no ready release to roll back to", app->name,
		    release != NULL ? release : ""));
		return;
	}
	release = json_string_value(json_object_get(r, "id"));
	if (release == NULL || strcmp(release, app->release) == 0) {
		client_finish(c, cmd_error("%s: release %s is the live one",
		    app->name, release ? release : "?"));
		return;
	}
	snprintf(dir, sizeof(dir), "%s/releases/%s", app->ca->dir, release);
	if (stat(dir, &st) != 0) {
		client_finish(c, cmd_error("%s: release %s was removed (%s): "
		    "deploy its commit again", app->name, release, dir));
		return;
	}
	if ((d = deploy_begin(app, DK_ROLLBACK, c)) == NULL)
		return;
	snprintf(d->id, sizeof(d->id), "%s", release);
	snprintf(d->reldir, sizeof(d->reldir), "%s", dir);
	snprintf(d->sha, sizeof(d->sha), "%s",
	    json_string_value(json_object_get(r, "sha")) ?
	    json_string_value(json_object_get(r, "sha")) : "");
	set_rundir(d);
	/* The rollback reuses the release's record: it is that release. */
	if (d->rec != NULL) {
		json_array_remove(app->history, 0);
		json_decref(d->rec);
	}
	d->rec = json_incref(r);
	json_object_del(r, "reason");
	/* If tendd dies meanwhile, the next one knows it was a good one. */
	json_object_set_new(r, "rolling_back", json_true());
	deploy_say(d, "rolling back to %s (no build, no migration)", release);
	d->step = D_AWAIT;
	set_status(d, DS_AWAITING);
	deploy_next(d);
}

void
deploy_reload(struct app *app, struct client *c)
{
	struct deploy	*d;
	char		 buf[PATH_MAX];

	if (!serving(app)) {
		client_finish(c, cmd_error("%s is not running: use tendctl start",
		    app->name));
		return;
	}
	if ((d = deploy_begin(app, DK_RELOAD, c)) == NULL)
		return;
	snprintf(d->id, sizeof(d->id), "%s", app->release[0] ? app->release :
	    "current");
	snprintf(d->rundir, sizeof(d->rundir), "%s",
	    inst_dir(&app->inst[app->color * app->n_run], buf, sizeof(buf)));
	if (app->ca->repo != NULL && realpath(d->rundir, buf) != NULL)
		snprintf(d->rundir, sizeof(d->rundir), "%s", buf);
	d->step = D_AWAIT;
	d->status = DS_AWAITING;
	deploy_next(d);
}

void
deploys_cancel_client(struct client *c)
{
	struct deploy	*d;

	LIST_FOREACH(d, &deploys, entry)
		if (d->client == c)
			d->client = NULL;
}


/*
 * At start: the history, with a deploy that a killed tendd left midway
 * marked failed (or live, if it got as far as pointing current at its
 * release), and the live release's id.
 */
void
deploy_init_app(struct app *app)
{
	char		 why[512], cur[PATH_MAX], target[PATH_MAX];
	const char	*base, *st, *id;
	json_t		*r;
	size_t		 i;
	ssize_t		 n;
	int		 changed = 0;

	if ((app->history = history_load(app->t->conf->state_dir, app->name,
	    why, sizeof(why))) == NULL) {
		log_warnx("%s: deploy history unreadable, starting a new one: %s",
		    app->name, why);
		app->history = json_array();
	}
	app->color = deploy_upstream_color(app);
	if (app->ca->repo == NULL)
		return;
	snprintf(cur, sizeof(cur), "%s/current", app->ca->dir);
	if ((n = readlink(cur, target, sizeof(target) - 1)) > 0) {
		target[n] = '\0';
		base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
		snprintf(app->release, sizeof(app->release), "%.63s", base);
	}
	json_array_foreach(app->history, i, r) {
		st = json_string_value(json_object_get(r, "status"));
		id = json_string_value(json_object_get(r, "id"));
		if (st == NULL || (strcmp(st, "building") != 0 &&
		    strcmp(st, "awaiting") != 0 && strcmp(st, "deploying") != 0))
			continue;
		changed = 1;
		if (id != NULL && strcmp(id, app->release) == 0) {
			json_object_set_new(r, "status", json_string("live"));
			json_object_del(r, "rolling_back");
			continue;
		}
		if (json_is_true(json_object_get(r, "rolling_back"))) {
			/* A rollback target stays one. */
			json_object_set_new(r, "status", json_string("ready"));
			json_object_del(r, "rolling_back");
			continue;
		}
		json_object_set_new(r, "status", json_string("deploy-failed"));
		json_object_set_new(r, "reason", json_string("interrupted: "
		    "tendd stopped during the deploy"));
		log_warnx("%s: deploy %s was interrupted by tendd stopping: "
		    "marked deploy-failed", app->name, id ? id : "?");
		if (id != NULL && valid_release_id(id) &&
		    json_string_value(json_object_get(r, "kind")) != NULL &&
		    strcmp(json_string_value(json_object_get(r, "kind")),
		    "deploy") == 0) {
			snprintf(cur, sizeof(cur), "%s/releases/%s", app->ca->dir, id);
			(void)rm_rf(cur);
		}
	}
	/* Exactly one live record: the one current points at. */
	json_array_foreach(app->history, i, r) {
		st = json_string_value(json_object_get(r, "status"));
		id = json_string_value(json_object_get(r, "id"));
		if (st != NULL && strcmp(st, "live") == 0 && id != NULL &&
		    strcmp(id, app->release) != 0) {
			json_object_set_new(r, "status", json_string("ready"));
			changed = 1;
		}
	}
	if (changed)
		save_history(app);
}

/* The upstream file must exist for nginx to start: write the serving set
 * when there is none yet. */
void
deploy_ensure_upstream(struct app *app)
{
	char		 text[4096];
	struct stat	 st;
	int		 n;

	if (app->ca->nginx_upstream == NULL ||
	    stat(app->ca->nginx_upstream, &st) == 0)
		return;
	if ((n = upstream_text(app, app->color * app->n_run, app->release,
	    text, sizeof(text))) < 0 || write_atomic(app->ca->nginx_upstream,
	    text, (size_t)n, 0644) != 0)
		log_warn("%s: cannot write %s", app->name, app->ca->nginx_upstream);
	else
		log_info("%s: wrote %s", app->name, app->ca->nginx_upstream);
}

/* tendctl releases: the history, newest first, the live one marked. */
json_t *
deploy_releases_json(struct app *app)
{
	json_t	*out = json_array(), *r, *c;
	size_t	 i;

	json_array_foreach(app->history, i, r) {
		if ((c = json_deep_copy(r)) == NULL)
			continue;
		json_object_set_new(c, "live", json_boolean(json_string_value(
		    json_object_get(r, "id")) != NULL && strcmp(json_string_value(
		    json_object_get(r, "id")), app->release) == 0 &&
		    strcmp(json_string_value(json_object_get(r, "status")) ?
		    json_string_value(json_object_get(r, "status")) : "",
		    "live") == 0));
		json_array_append_new(out, c);
	}
	return out;
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
