/*
 * handover.c: tendd replaces itself with the binary now installed at its
 * path (a package upgrade) without stopping its apps.
 *
 * SIGUSR2, when every app is in a steady state (live, backoff, stopped,
 * failed; no deploy, job, preflight, migration or stop under way): the
 * old tendd writes a record of each instance (pid, times, counters, last
 * exit, the read ends of its stdout and stderr pipes) and of the control
 * socket, as JSON in state_dir (root's alone, mode 0600); clears
 * FD_CLOEXEC on exactly those descriptors; and execs its own path with
 * its own arguments plus --handover FILE.  The pid stays: the apps stay
 * its children, systemd's MainPID does not change.  If the exec fails,
 * it goes on as before.
 *
 * The new tendd reads its configuration as usual, then the record (and
 * removes it).  An app whose name, command, user, group, dir, instances
 * and ports are still the same, whose release and port set are the ones
 * its deploy history names, and whose processes are its children leading
 * their own groups, is taken over as it was: libuv did not spawn those
 * pids, so their exits are found here with waitpid() on SIGCHLD and given
 * to the state machine as libuv's would be.  Any other child (an app
 * whose settings changed meanwhile) is stopped, SIGTERM then SIGKILL,
 * and the app starts as at boot.  Inherited descriptors the record does
 * not name are closed.  A record that cannot be read or does not add up
 * is ignored with a log line: every child is stopped and the apps start
 * as at boot.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

#define HANDOVER_VERSION	1
#define HANDOVER_FILE		"handover.json"
#define HANDOVER_MAX		(4 * 1024 * 1024)
/* Inherited descriptors looked at: more than any record names. */
#define HANDOVER_FDS		4096
/* How long a child the new tendd does not take over gets to stop. */
#define HANDOVER_STOP_MS	5000

struct handover {
	json_t	*rec;			/* NULL: none usable */
	int	 fds[HANDOVER_FDS];	/* inherited at exec */
	size_t	 nfds;
};

static int	  saved_argc;
static char	**saved_argv;

void
handover_save_args(int argc, char **argv)
{
	saved_argc = argc;
	saved_argv = argv;
}

/* --- the old tendd ------------------------------------------------- */

/* NULL when every app may be handed over; else why not. */
static const char *
not_steady(struct tend *t, char *buf, size_t len)
{
	struct app	*app;
	struct logpipe	*lp;
	const char	*no;
	unsigned	 i;

	if (t->shutting_down)
		return "tendd is stopping";
	if (!LIST_EMPTY(&t->deploys))
		return "a deploy is under way";
	if ((no = fleet_busy(t)) != NULL)
		return no;
	TAILQ_FOREACH(app, &t->apps, entry) {
		if (app->deploy != NULL || app->drainer != NULL ||
		    app->mover != NULL)
			snprintf(buf, len, "%s is being deployed", app->name);
		else if (app->jobs != 0 || app->prep != NULL)
			snprintf(buf, len, "%s runs a job (migration, backup, "
			    "preflight)", app->name);
		else if (app->removing || app->pending != NULL ||
		    app->deferred_set)
			snprintf(buf, len, "%s is being changed by a reread",
			    app->name);
		else
			buf[0] = '\0';
		if (buf[0] != '\0')
			return buf;
		for (i = 0; i < app->n_inst; i++) {
			const struct inst *in = &app->inst[i];
			int ok;

			switch (in->state) {
			case ST_LIVE:
				ok = in->running && !in->draining;
				break;
			case ST_BACKOFF:
			case ST_STOPPED:
			case ST_FAILED:
				ok = !in->running && !in->draining;
				break;
			default:
				ok = 0;
			}
			if (!ok) {
				snprintf(buf, len, "%s[%u] is %s", app->name, i,
				    state_names[in->state]);
				return buf;
			}
		}
		/* Output of an earlier run still draining. */
		LIST_FOREACH(lp, &app->pipes, entry)
			if (lp->inst == NULL || (lp->inst->out != lp &&
			    lp->inst->err != lp) || lp->inst->state != ST_LIVE) {
				snprintf(buf, len, "%s: output of an earlier "
				    "run is still being read", app->name);
				return buf;
			}
	}
	return NULL;
}

static int
pipe_fd(struct logpipe *lp)
{
	uv_os_fd_t	fd;

	if (lp == NULL || uv_fileno((uv_handle_t *)&lp->pipe, &fd) != 0)
		return -1;
	return fd;
}

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
inst_record(struct inst *in)
{
	uint64_t	left = 0;

	if (in->state == ST_BACKOFF)
		left = uv_timer_get_due_in(&in->timer);
	return json_pack("{s:i, s:i, s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:i,"
	    " s:i, s:b, s:i, s:i, s:I, s:I, s:b, s:s, s:I, s:I, s:o}",
	    "idx", (int)in->idx, "port", (int)in->port,
	    "state", state_names[in->state],
	    "pid", in->state == ST_LIVE ? (int)in->pid : 0,
	    "out_fd", in->state == ST_LIVE ? pipe_fd(in->out) : -1,
	    "err_fd", in->state == ST_LIVE ? pipe_fd(in->err) : -1,
	    "spawned_at", (json_int_t)in->spawned_at,
	    "live_at", (json_int_t)in->live_at,
	    "ready_ms", (json_int_t)in->ready_ms,
	    "restarts", (int)in->restarts,
	    "health_restarts", (int)in->health_restarts,
	    "has_exit", in->has_exit,
	    "exit_code", in->exit_code, "exit_signal", in->exit_signal,
	    "exit_at", (json_int_t)in->exit_at,
	    "exit_mono", (json_int_t)in->exit_mono,
	    "spawn_failed", in->spawn_failed,
	    "reason", in->reason,
	    "next_delay", (json_int_t)in->next_delay,
	    "backoff_left", (json_int_t)left,
	    "dir", str_or_null(in->dir));
}

static json_t *
app_record(struct app *app)
{
	const struct conf_app	*ca = app->ca;
	json_t			*a, *insts, *o;
	unsigned		 i;

	if ((insts = json_array()) == NULL)
		return NULL;
	for (i = 0; i < app->n_inst; i++)
		if ((o = inst_record(&app->inst[i])) == NULL ||
		    json_array_append_new(insts, o) != 0) {
			json_decref(insts);
			return NULL;
		}
	a = json_pack("{s:s, s:s, s:o, s:o, s:o, s:i, s:i, s:i, s:s, s:o,"
	    " s:o}", "name", app->name, "command", ca->command,
	    "user", str_or_null(ca->user), "group", str_or_null(ca->group),
	    "dir", str_or_null(ca->dir), "n_run", (int)app->n_run,
	    "n_inst", (int)app->n_inst, "color", (int)app->color,
	    "release", app->release, "migrated", str_or_null(app->migrated),
	    "instances", insts);
	return a;
}

/* Set or clear FD_CLOEXEC on the fds of rec; -1 on the first failure. */
static int
cloexec_all(const int *fds, size_t n, int on)
{
	size_t	i;
	int	fl;

	for (i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		if ((fl = fcntl(fds[i], F_GETFD)) == -1 ||
		    fcntl(fds[i], F_SETFD, on ? fl | FD_CLOEXEC :
		    fl & ~FD_CLOEXEC) == -1)
			return -1;
	}
	return 0;
}

/* The path to exec: the file now at tendd's path, which after an
 * upgrade is the new binary (the old one, still mapped, is "deleted"). */
static void
exe_path(const struct tend *t, char *buf, size_t len)
{
	static const char	deleted[] = " (deleted)";
	size_t			n;

	snprintf(buf, len, "%s", t->self_exe);
	n = strlen(buf);
	if (n > sizeof(deleted) - 1 &&
	    strcmp(buf + n - (sizeof(deleted) - 1), deleted) == 0)
		buf[n - (sizeof(deleted) - 1)] = '\0';
}

void
handover_request(struct tend *t)
{
	struct app	*app;
	json_t		*rec = NULL, *apps, *a;
	char		 why[600], path[PATH_MAX], exe[sizeof(t->self_exe)];
	char		*text = NULL, **argv = NULL;
	const char	*no;
	int		*fds = NULL, dfd = -1, ctl, activated = 0;
	size_t		 nfds = 0, cap = 2, i, n;
	sigset_t	 block, old;

	if ((no = not_steady(t, why, sizeof(why))) != NULL) {
		log_warnx("SIGUSR2: not handing over now: %s; send it again "
		    "once that is done", no);
		return;
	}
	exe_path(t, exe, sizeof(exe));
	if (access(exe, X_OK) != 0) {
		log_warn("SIGUSR2: not handing over: %s", exe);
		return;
	}
	if ((ctl = control_fd(t, &activated)) == -1) {
		log_warnx("SIGUSR2: not handing over: no control socket");
		return;
	}
	TAILQ_FOREACH(app, &t->apps, entry)
		cap += 2 * app->n_inst;
	if ((fds = calloc(cap, sizeof(*fds))) == NULL ||
	    (argv = calloc((size_t)saved_argc + 3, sizeof(*argv))) == NULL ||
	    (apps = json_array()) == NULL)
		goto oom;
	fds[nfds++] = ctl;
	rec = json_pack("{s:i, s:i, s:s, s:s, s:i, s:b, s:o}",
	    "version", HANDOVER_VERSION, "pid", (int)getpid(),
	    "commit", tend_commit, "socket", t->conf->socket,
	    "control_fd", ctl, "control_activated", activated,
	    "apps", apps);
	if (rec == NULL)
		goto oom;
	TAILQ_FOREACH(app, &t->apps, entry) {
		if ((a = app_record(app)) == NULL ||
		    json_array_append_new(apps, a) != 0)
			goto oom;
		for (i = 0; i < app->n_inst; i++)
			if (app->inst[i].state == ST_LIVE) {
				if ((fds[nfds] = pipe_fd(app->inst[i].out)) >= 0)
					nfds++;
				if ((fds[nfds] = pipe_fd(app->inst[i].err)) >= 0)
					nfds++;
			}
	}
	if ((text = json_dumps(rec, JSON_COMPACT)) == NULL)
		goto oom;
	if ((dfd = rootdir_open(t->conf->state_dir, 0, why,
	    sizeof(why))) == -1) {
		log_warnx("SIGUSR2: not handing over: state_dir: %s", why);
		goto out;
	}
	if (atomic_write_at(dfd, HANDOVER_FILE, text, strlen(text), 0600)
	    != 0) {
		log_warn("SIGUSR2: not handing over: write %s/%s",
		    t->conf->state_dir, HANDOVER_FILE);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", t->conf->state_dir,
	    HANDOVER_FILE);
	/* The same arguments, less an earlier --handover, plus ours. */
	for (i = 0, n = 0; i < (size_t)saved_argc; i++) {
		if (strcmp(saved_argv[i], "--handover") == 0 &&
		    i + 1 < (size_t)saved_argc) {
			i++;
			continue;
		}
		if (strncmp(saved_argv[i], "--handover=", 11) == 0)
			continue;
		argv[n++] = saved_argv[i];
	}
	argv[n++] = "--handover";
	argv[n++] = path;
	argv[n] = NULL;

	log_info("SIGUSR2: handing %u fds over to %s", (unsigned)nfds, exe);
	applog_flush_all(t);
	/* Signals wait for the new tendd's handlers (the mask survives
	 * exec; the handlers do not). */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &block, &old) != 0) {
		log_warn("SIGUSR2: not handing over: sigprocmask");
		goto unlink;
	}
	if (cloexec_all(fds, nfds, 0) != 0) {
		log_warn("SIGUSR2: not handing over: fcntl");
		goto restore;
	}
	sd_reloading(t);
	execv(exe, argv);
	log_warn("SIGUSR2: exec %s (still running as before)", exe);
	sd_ready(t);
restore:
	if (cloexec_all(fds, nfds, 1) != 0)
		log_warn("fcntl FD_CLOEXEC");
	sigprocmask(SIG_SETMASK, &old, NULL);
unlink:
	if (unlinkat(dfd, HANDOVER_FILE, 0) != 0)
		log_warn("unlink %s", path);
	goto out;
oom:
	log_warnx("SIGUSR2: not handing over: out of memory");
out:
	if (dfd != -1)
		close(dfd);
	free(text);
	free(argv);
	free(fds);
	json_decref(rec);
}

/* --- the new tendd ------------------------------------------------- */

static int
is_inherited(const struct handover *h, int fd)
{
	size_t	i;

	for (i = 0; i < h->nfds; i++)
		if (h->fds[i] == fd)
			return 1;
	return 0;
}

/* An fd the record names: inherited, and of the right kind. */
static int
fd_ok(const struct handover *h, json_int_t fd, mode_t kind)
{
	struct stat	st;

	return fd > 2 && fd < INT_MAX && is_inherited(h, (int)fd) &&
	    fstat((int)fd, &st) == 0 && (st.st_mode & S_IFMT) == kind;
}

/* Is fd named once only (seen[] so far)? */
static int
fd_once(json_int_t *seen, size_t *n, json_int_t fd)
{
	size_t	i;

	if (fd == -1)
		return 1;
	for (i = 0; i < *n; i++)
		if (seen[i] == fd)
			return 0;
	if (*n == HANDOVER_FDS)
		return 0;
	seen[(*n)++] = fd;
	return 1;
}

/* Does the record add up: its version, this pid, fds it may name (each
 * once), apps named once? */
static const char *
record_check(const struct handover *h, json_t *rec)
{
	static json_int_t seen[HANDOVER_FDS];
	json_t		*apps, *a, *b, *insts, *in;
	json_int_t	 fd;
	size_t		 i, j, nseen = 0;

	if (json_integer_value(json_object_get(rec, "version")) !=
	    HANDOVER_VERSION)
		return "unknown version";
	if (json_integer_value(json_object_get(rec, "pid")) != getpid())
		return "written by another process";
	if (!json_is_string(json_object_get(rec, "socket")))
		return "no socket";
	fd = json_integer_value(json_object_get(rec, "control_fd"));
	if (!fd_ok(h, fd, S_IFSOCK) || !fd_once(seen, &nseen, fd))
		return "the control socket was not passed on";
	if (!json_is_array(apps = json_object_get(rec, "apps")))
		return "no apps";
	json_array_foreach(apps, i, a) {
		if (!json_is_string(json_object_get(a, "name")) ||
		    !json_is_string(json_object_get(a, "command")) ||
		    !json_is_string(json_object_get(a, "release")) ||
		    !json_is_array(insts = json_object_get(a, "instances")))
			return "an app without its settings";
		json_array_foreach(apps, j, b)
			if (j < i && strcmp(json_string_value(json_object_get(b,
			    "name")), json_string_value(json_object_get(a,
			    "name"))) == 0)
				return "an app named twice";
		json_array_foreach(insts, j, in) {
			const char *st = json_string_value(json_object_get(in,
			    "state"));
			json_int_t o, e;

			if (st == NULL || !json_is_integer(json_object_get(in,
			    "idx")) || !json_is_string(json_object_get(in,
			    "reason")))
				return "an instance without its state";
			if (strcmp(st, state_names[ST_LIVE]) != 0)
				continue;
			o = json_integer_value(json_object_get(in, "out_fd"));
			e = json_integer_value(json_object_get(in, "err_fd"));
			if ((o != -1 && !fd_ok(h, o, S_IFIFO)) ||
			    (e != -1 && !fd_ok(h, e, S_IFIFO)))
				return "a pipe was not passed on";
			if (!fd_once(seen, &nseen, o) ||
			    !fd_once(seen, &nseen, e))
				return "a descriptor named twice";
			if (json_integer_value(json_object_get(in, "pid")) <= 1)
				return "a live instance without a pid";
		}
	}
	return NULL;
}

/* Every fd >= 3 open at exec, before this process opens any. */
static void
list_inherited(struct handover *h)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	if ((d = opendir("/proc/self/fd")) == NULL)
		fatal("opendir /proc/self/fd");
	while ((de = readdir(d)) != NULL && h->nfds < HANDOVER_FDS) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		fd = atoi(de->d_name);
		if (fd > 2 && fd != dirfd(d))
			h->fds[h->nfds++] = fd;
	}
	closedir(d);
}

/*
 * Read and remove the record at path.  Called first thing in main, so
 * that every fd open then was inherited.  Never NULL (out of memory is
 * fatal): when the record is unusable, h->rec is NULL and the fds are
 * closed by handover_fds.
 */
struct handover *
handover_load(const char *path)
{
	struct handover	*h;
	struct stat	 st;
	json_error_t	 jerr;
	char		*buf = NULL;
	const char	*bad = NULL;
	ssize_t		 r;
	size_t		 got = 0;
	int		 fd;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		fatalx("out of memory");
	list_inherited(h);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		log_warn("handover record %s: ignored", path);
		return h;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 077) != 0 ||
	    st.st_size > HANDOVER_MAX)
		bad = "not a file of tendd's own, mode 0600, under 4 MiB";
	else if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		fatalx("out of memory");
	while (bad == NULL && got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			bad = "cannot be read";
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	if (bad == NULL && unlink(path) != 0)
		log_warn("unlink %s", path);
	if (bad == NULL &&
	    (h->rec = json_loadb(buf, got, 0, &jerr)) == NULL) {
		log_warnx("handover record %s: line %d: %s: ignored", path,
		    jerr.line, jerr.text);
		free(buf);
		return h;
	}
	free(buf);
	if (bad == NULL && !json_is_object(h->rec))
		bad = "not a JSON object";
	if (bad == NULL)
		bad = record_check(h, h->rec);
	if (bad != NULL) {
		log_warnx("handover record %s: %s: ignored", path, bad);
		json_decref(h->rec);
		h->rec = NULL;
	}
	return h;
}

/*
 * The fds: those the record names are kept (FD_CLOEXEC again, so the
 * children to come do not get them); every other inherited one closed.
 * The control socket goes to control_start, if it is still the one the
 * configuration names.
 */
void
handover_fds(struct tend *t, struct handover *h)
{
	json_t		*apps, *a, *in;
	json_int_t	 keep[HANDOVER_FDS];
	size_t		 nkeep = 0, i, j, k;
	const char	*sock;

	if (h->rec != NULL) {
		sock = json_string_value(json_object_get(h->rec, "socket"));
		if (strcmp(sock, t->conf->socket) == 0) {
			t->ctl_fd_given = 1;
			t->ctl_fd = (int)json_integer_value(json_object_get(
			    h->rec, "control_fd"));
			t->ctl_fd_activated = json_is_true(json_object_get(
			    h->rec, "control_activated"));
			keep[nkeep++] = t->ctl_fd;
		} else
			log_warnx("handover: the socket is now %s, not %s: "
			    "listening anew", t->conf->socket, sock);
		apps = json_object_get(h->rec, "apps");
		json_array_foreach(apps, i, a)
			json_array_foreach(json_object_get(a, "instances"), j,
			    in) {
				json_int_t o = json_integer_value(
				    json_object_get(in, "out_fd"));
				json_int_t e = json_integer_value(
				    json_object_get(in, "err_fd"));

				if (o > 2 && nkeep < HANDOVER_FDS)
					keep[nkeep++] = o;
				if (e > 2 && nkeep < HANDOVER_FDS)
					keep[nkeep++] = e;
			}
	}
	for (i = 0; i < h->nfds; i++) {
		for (k = 0; k < nkeep && keep[k] != h->fds[i]; k++)
			;
		if (k == nkeep) {
			close(h->fds[i]);
			continue;
		}
		if (fcntl(h->fds[i], F_SETFD, FD_CLOEXEC) != 0)
			log_warn("fcntl %d", h->fds[i]);
	}
}

/* From /proc/PID/stat: ppid and pgrp. */
static int
proc_parent_group(pid_t pid, pid_t *ppid, pid_t *pgrp)
{
	char		 path[64], buf[1024], *p;
	ssize_t		 n;
	int		 fd, a, b;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %d %d", &a, &b) != 2)
		return -1;
	*ppid = a;
	*pgrp = b;
	return 0;
}

static int
str_eq(json_t *v, const char *s)
{
	if (s == NULL)
		return json_is_null(v);
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

static int
state_of(const char *name, enum inst_state *st)
{
	static const enum inst_state ok[] = { ST_LIVE, ST_BACKOFF,
	    ST_STOPPED, ST_FAILED };
	size_t	i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(name, state_names[ok[i]]) == 0) {
			*st = ok[i];
			return 0;
		}
	return -1;
}

/* Why app cannot take a over as it is; NULL when it can. */
static const char *
app_mismatch(struct app *app, json_t *a)
{
	const struct conf_app	*ca = app->ca;
	json_t			*insts = json_object_get(a, "instances"), *in;
	enum inst_state		 st;
	pid_t			 ppid, pgrp;
	size_t			 i;

	if (!str_eq(json_object_get(a, "command"), ca->command) ||
	    !str_eq(json_object_get(a, "user"), ca->user) ||
	    !str_eq(json_object_get(a, "group"), ca->group) ||
	    !str_eq(json_object_get(a, "dir"), ca->dir))
		return "its command, user, group or dir changed";
	if (json_integer_value(json_object_get(a, "n_run")) != app->n_run ||
	    json_integer_value(json_object_get(a, "n_inst")) != app->n_inst ||
	    json_array_size(insts) != app->n_inst)
		return "its instances changed";
	/* A follower's release is its leader's, set at its start. */
	if (json_integer_value(json_object_get(a, "color")) != app->color ||
	    (!str_eq(json_object_get(a, "release"), app->release) &&
	    (ca->follows == NULL || app->release[0] != '\0')))
		return "its release is not the one its history names";
	json_array_foreach(insts, i, in) {
		if (json_integer_value(json_object_get(in, "idx")) != (int)i ||
		    json_integer_value(json_object_get(in, "port")) !=
		    app->inst[i].port)
			return "its ports changed";
		if (state_of(json_string_value(json_object_get(in, "state")),
		    &st) != 0)
			return "an instance was not in a steady state";
		if (st != ST_LIVE)
			continue;
		pid_t pid = (pid_t)json_integer_value(json_object_get(in,
		    "pid"));
		if (proc_parent_group(pid, &ppid, &pgrp) != 0 ||
		    ppid != getpid() || pgrp != pid)
			return "a process is not a child of tendd leading "
			    "its group";
	}
	return NULL;
}

static void
adopt_inst(struct inst *in, json_t *r)
{
	struct app	*app = in->app;
	enum inst_state	 st = ST_STOPPED;
	json_int_t	 o, e;
	const char	*dir;

	(void)state_of(json_string_value(json_object_get(r, "state")), &st);
	in->spawned_at = (uint64_t)json_integer_value(json_object_get(r,
	    "spawned_at"));
	in->live_at = (uint64_t)json_integer_value(json_object_get(r,
	    "live_at"));
	in->ready_ms = json_integer_value(json_object_get(r, "ready_ms"));
	in->restarts = (unsigned)json_integer_value(json_object_get(r,
	    "restarts"));
	in->health_restarts = (unsigned)json_integer_value(json_object_get(r,
	    "health_restarts"));
	in->has_exit = json_is_true(json_object_get(r, "has_exit"));
	in->exit_code = (int)json_integer_value(json_object_get(r,
	    "exit_code"));
	in->exit_signal = (int)json_integer_value(json_object_get(r,
	    "exit_signal"));
	in->exit_at = (uint64_t)json_integer_value(json_object_get(r,
	    "exit_at"));
	in->exit_mono = (uint64_t)json_integer_value(json_object_get(r,
	    "exit_mono"));
	in->spawn_failed = json_is_true(json_object_get(r, "spawn_failed"));
	snprintf(in->reason, sizeof(in->reason), "%s",
	    json_string_value(json_object_get(r, "reason")));
	in->keep_reason = in->reason[0] != '\0';
	in->next_delay = json_integer_value(json_object_get(r, "next_delay"));
	if ((dir = json_string_value(json_object_get(r, "dir"))) != NULL &&
	    (in->dir = strdup(dir)) == NULL)
		fatalx("out of memory");
	if (st == ST_LIVE) {
		in->pid = (pid_t)json_integer_value(json_object_get(r, "pid"));
		in->running = 1;
		in->adopted = 1;
		if (spawn_adopt(app->t, in->pid) != 0)
			fatalx("out of memory");
		o = json_integer_value(json_object_get(r, "out_fd"));
		e = json_integer_value(json_object_get(r, "err_fd"));
		if (o > 2 && (in->out = logpipe_adopt(app, in, (int)in->idx,
		    "out", 6, (int)o)) == NULL)
			close((int)o);
		if (e > 2 && (in->err = logpipe_adopt(app, in, (int)in->idx,
		    "err", 3, (int)e)) == NULL)
			close((int)e);
		if (in->out != NULL)
			logpipe_start(in->out);
		if (in->err != NULL)
			logpipe_start(in->err);
		applog_event(app, (int)in->idx, "pid %d taken over by a new "
		    "tendd (%s)", (int)in->pid, tend_commit);
	}
	inst_adopt(in, st, (uint64_t)json_integer_value(json_object_get(r,
	    "backoff_left")));
}

/* The pipes of an app that is not taken over: nobody reads them. */
static void
close_pipes(json_t *a)
{
	json_t		*in;
	json_int_t	 fd;
	size_t		 i;

	json_array_foreach(json_object_get(a, "instances"), i, in) {
		if ((fd = json_integer_value(json_object_get(in, "out_fd"))) > 2)
			close((int)fd);
		if ((fd = json_integer_value(json_object_get(in, "err_fd"))) > 2)
			close((int)fd);
	}
}

/* Children of this process (its app instances): pid list from /proc. */
static size_t
children(pid_t *out, size_t max)
{
	struct dirent	*de;
	DIR		*d;
	char		 path[300], buf[16384], *p, *end;
	size_t		 n = 0;
	ssize_t		 r;
	long		 pid;
	int		 fd;

	if ((d = opendir("/proc/self/task")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children",
		    de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r <= 0)
			continue;
		buf[r] = '\0';
		for (p = buf; n < max; p = end) {
			pid = strtol(p, &end, 10);
			if (end == p)
				break;
			if (pid > 1)
				out[n++] = (pid_t)pid;
		}
	}
	closedir(d);
	return n;
}

/* The old tendd's tend-fleet ([fleet]): never handed over, since its
 * pipes closed at the exec; the new tendd starts one of its own. */
static int
is_fleet_helper(pid_t pid)
{
	char	path[64], comm[32];
	ssize_t	r;
	int	fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	r = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (r <= 0)
		return 0;
	comm[r] = '\0';
	return strcmp(comm, "tend-fleet\n") == 0;
}

/*
 * Children not taken over (an app whose settings changed, a record that
 * was ignored) are stopped before any app starts: they hold its ports.
 * SIGTERM to each one's group, SIGKILL after HANDOVER_STOP_MS.  Runs
 * before the loop; it may block that long.
 */
static void
stop_strays(struct tend *t)
{
	pid_t		 kids[512];
	size_t		 n, i, k = 0;
	uint64_t	 waited;
	int		 status;

	n = children(kids, sizeof(kids) / sizeof(kids[0]));
	for (i = 0; i < n; i++)
		if (!spawn_pid_is_ours(t, kids[i]))
			kids[k++] = kids[i];
	for (i = 0; i < k; i++) {
		if (is_fleet_helper(kids[i]))
			log_info("handover: the old tend-fleet (pid %d) stops; "
			    "this tendd starts its own", (int)kids[i]);
		else
			log_warnx("handover: stopping process group %d, not "
			    "taken over", (int)kids[i]);
		if (getpgid(kids[i]) == kids[i])
			kill(-kids[i], SIGTERM);
		else
			kill(kids[i], SIGTERM);
	}
	for (waited = 0; k > 0; waited += 50) {
		unsigned alive = 0;

		for (i = 0; i < k; i++) {
			if (kids[i] == 0)
				continue;
			if (waitpid(kids[i], &status, WNOHANG) != 0 &&
			    !ptree_group_alive(kids[i]))
				kids[i] = 0;
			else
				alive++;
		}
		if (alive == 0)
			break;
		if (waited >= HANDOVER_STOP_MS) {
			for (i = 0; i < k; i++)
				if (kids[i] != 0) {
					kill(-kids[i], SIGKILL);
					kill(kids[i], SIGKILL);
				}
		}
		usleep(50 * 1000);
	}
}

/*
 * Take over what the record names; stop every child not taken over.
 * Apps taken over have app->adopted set: main does not autostart them
 * (a stopped one stays stopped, as the operator left it).
 */
void
handover_adopt(struct tend *t, struct handover *h)
{
	struct app	*app;
	json_t		*apps, *a;
	const char	*why;
	size_t		 i, j, n = 0;

	if (h->rec != NULL) {
		apps = json_object_get(h->rec, "apps");
		json_array_foreach(apps, i, a) {
			const char *name = json_string_value(json_object_get(a,
			    "name"));
			const char *mig;

			if ((app = app_find(t, name)) == NULL)
				why = "it is no longer configured";
			else
				why = app_mismatch(app, a);
			if (why != NULL) {
				log_warnx("handover: %s not taken over: %s",
				    name, why);
				close_pipes(a);
				continue;
			}
			if (app->release[0] == '\0')
				snprintf(app->release, sizeof(app->release),
				    "%s", json_string_value(json_object_get(a,
				    "release")));
			mig = json_string_value(json_object_get(a, "migrated"));
			if (mig != NULL && app->migrated == NULL &&
			    (app->migrated = strdup(mig)) == NULL)
				fatalx("out of memory");
			for (j = 0; j < app->n_inst; j++)
				adopt_inst(&app->inst[j], json_array_get(
				    json_object_get(a, "instances"), j));
			app->adopted = 1;
			n++;
		}
		log_info("handover from commit %s: %zu app%s taken over",
		    json_string_value(json_object_get(h->rec, "commit")) ?
		    json_string_value(json_object_get(h->rec, "commit")) : "?",
		    n, n == 1 ? "" : "s");
	}
	stop_strays(t);
	/* Exits while no handler was there. */
	handover_reap(t);
}

/* SIGCHLD: the taken-over instances that exited, to the state machine
 * as libuv would have told it. */
void
handover_reap(struct tend *t)
{
	struct app	*app, *next;
	struct inst	*in;
	unsigned	 i;
	pid_t		 r;
	int		 status;

	TAILQ_FOREACH_SAFE(app, &t->apps, entry, next)
		for (i = 0; i < app->n_inst && !app->unlinked; i++) {
			in = &app->inst[i];
			if (!in->adopted || !in->running)
				continue;
			r = waitpid(in->pid, &status, WNOHANG);
			if (r == 0 || (r < 0 && errno == EINTR))
				continue;
			in->adopted = 0;
			spawn_forget(t, in->pid);
			if (r < 0) {
				/* Not ours after all: it is gone for us. */
				log_warn("%s[%u]: waitpid %d", app->name, i,
				    (int)in->pid);
				inst_exited(in, -1, 0);
			} else if (WIFSIGNALED(status))
				inst_exited(in, 0, WTERMSIG(status));
			else
				inst_exited(in, WEXITSTATUS(status), 0);
		}
}

/* The signals the old tendd blocked across exec, now that they have
 * handlers. */
void
handover_unblock(void)
{
	sigset_t	set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_UNBLOCK, &set, NULL) != 0)
		log_warn("sigprocmask");
}

void
handover_free(struct handover *h)
{
	if (h == NULL)
		return;
	json_decref(h->rec);
	free(h);
}
