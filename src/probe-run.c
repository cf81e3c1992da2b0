/*
 * probe-run.c: tendd's side of tend-probe (probe.c): run it with the URL
 * in its environment (on lineproc.c, which owns the process and its
 * pipes), keep only the fields tendd reads of its JSON lines, bound it
 * with a timer, and for the migration lock keep its stdin open for as
 * long as the lock must be held.  Nothing here blocks; a probe that
 * hangs costs a process until its timer kills it.
 *
 * The URL is the app's (its user's .env), so the probe runs as the app's
 * user and group (through `tendd --exec-as`, as an instance does) in an
 * environment built from nothing (probe_env, which pg_dump shares): what
 * it connects to and with which files is never root's to lend.
 */
#define _GNU_SOURCE
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

/* A probe's answer is a line or two of JSON. */
#define PROBE_LINE_MAX	(16 * 1024)

/*
 * Paths that can never exist (/dev/null is no directory): no password
 * file (libpq would warn on stderr that /dev/null is "not a plain file")
 * and no pg_service.conf directory.
 */
#define PROBE_NO_FILE	"/dev/null/none"

struct probe {
	struct lineproc	*lp;		/* NULL once over or let go of */
	uv_timer_t	 timer;		/* frees the probe when it closed */
	int		 canceled;
	int		 timed_out;
	probe_line_cb	 line;
	probe_done_cb	 done;
	void		*arg;
};

static void
timer_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

/* No more of p: its timer closes, and frees it. */
static void
probe_free(struct probe *p)
{
	p->lp = NULL;
	if (!uv_is_closing((uv_handle_t *)&p->timer))
		uv_close((uv_handle_t *)&p->timer, timer_closed_cb);
}

/* A string of a probe's answer as one printable line, bounded. */
static json_t *
probe_text(json_t *v, size_t max)
{
	const char	*s = json_string_value(v);
	char		*c, *e;
	json_t		*r;

	if (s == NULL || (c = strndup(s, max)) == NULL)
		return NULL;
	for (e = c; *e != '\0'; e++)
		if ((unsigned char)*e < 0x20 || *e == 0x7f)
			*e = ' ';
	r = json_string(c);	/* NULL if the cut split a UTF-8 sequence */
	free(c);
	return r != NULL ? r : json_string("?");
}

/*
 * A probe runs as the app's user, who may trace it: its answer is that
 * user's input.  Only the fields tendd reads pass, strings as printable
 * lines of bounded length (they reach status, logs and terminals), info
 * one level of strings and integers.
 */
static json_t *
probe_clean(json_t *msg)
{
	static const char *const strs[] = { "detail", "event", "key" };
	json_t		*o, *info, *ci, *v;
	const char	*k;
	size_t		 i;

	if (!json_is_object(msg) || (o = json_object()) == NULL)
		return NULL;
	if (json_is_integer(v = json_object_get(msg, "ok")))
		json_object_set(o, "ok", v);
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (json_is_string(v = json_object_get(msg, strs[i])))
			json_object_set_new(o, strs[i], probe_text(v, 1000));
	info = json_object_get(msg, "info");
	if (json_is_object(info) && (ci = json_object()) != NULL) {
		json_object_foreach(info, k, v) {
			if (strlen(k) > 32)
				continue;
			if (json_is_integer(v))
				json_object_set(ci, k, v);
			else if (json_is_string(v))
				json_object_set_new(ci, k, probe_text(v, 200));
		}
		json_object_set_new(o, "info", ci);
	}
	return o;
}

static void
line_cb(void *arg, const char *s, size_t n)
{
	struct probe	*p = arg;
	json_t		*msg, *clean;

	msg = json_loadb(s, n, 0, NULL);
	clean = probe_clean(msg);
	json_decref(msg);
	if (clean != NULL && !p->canceled && p->line != NULL)
		p->line(p->arg, clean);
	json_decref(clean);
}

/* Its output ended and it exited. */
static void
done_cb(void *arg, int64_t status, int sig)
{
	struct probe	*p = arg;

	(void)sig;
	p->lp = NULL;
	uv_timer_stop(&p->timer);
	if (!p->canceled && p->done != NULL)
		p->done(p->arg, p->timed_out ? -1 : (int)status);
	probe_free(p);
}

static void
timeout_cb(uv_timer_t *h)
{
	struct probe	*p = h->data;

	if (p->lp != NULL && lineproc_running(p->lp)) {
		p->timed_out = 1;
		lineproc_kill(p->lp, SIGKILL);
	}
}

/*
 * The environment of a program that speaks libpq or Redis for an app
 * (tend-probe, pg_dump), built from nothing: PATH is PROBE_PATH (where
 * prep.c finds pg_dump too), no PG* variable of tendd's
 * (PGOPTIONS, PGSSLKEY, PGSERVICE... are defaults for every setting a
 * URL leaves out), no password file (neither root's ~/.pgpass nor the
 * user's: the password is the URL's or none), no service file, and HOME
 * the app user's (pw; tendd's own user when NULL), where libpq looks for
 * ~/.postgresql/root.crt.  The caller frees e, also on error (-1).
 */
int
probe_env(struct env *e, const struct passwd *pw)
{
	int		 r = 0;

	env_init(e);
	if (pw == NULL)
		pw = getpwuid(geteuid());
	r |= env_set(e, "PATH", PROBE_PATH);
	r |= env_set(e, "LANG", "C.UTF-8");
	r |= env_set(e, "HOME", pw != NULL ? pw->pw_dir : "/");
	if (pw != NULL) {
		r |= env_set(e, "USER", pw->pw_name);
		r |= env_set(e, "LOGNAME", pw->pw_name);
	}
	r |= env_set(e, "PGPASSFILE", PROBE_NO_FILE);
	r |= env_set(e, "PGSERVICEFILE", "/dev/null");
	r |= env_set(e, "PGSYSCONFDIR", PROBE_NO_FILE);
	return r != 0 ? -1 : 0;
}

/*
 * Run `tend-probe MODE TIMEOUT [ARG]` with url, as user and group (NULL:
 * as tendd); line(arg, msg) for every JSON line, done(arg, status) once
 * it is over (-1: it was killed at timeout_ms, 0 means no limit).  NULL
 * if it could not start (logged).
 */
struct probe *
probe_start(struct tend *t, const char *user, const char *group,
    const char *mode, const char *url, const char *extra, uint64_t timeout_ms,
    probe_line_cb line, probe_done_cb done, void *arg)
{
	struct lineproc_spec	 ls;
	struct probe		*p;
	struct passwd		*pw;
	struct env		 e;
	char			 path[4200], ms[32], why[256], *argv[8];
	int			 n = 0, as_other = 0;

	pw = spawn_user(user, group, &as_other, why, sizeof(why));
	if (as_other < 0) {
		log_warnx("cannot run tend-probe: %s", why);
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->line = line;
	p->done = done;
	p->arg = arg;
	if (probe_env(&e, pw) != 0 ||
	    env_set(&e, "TEND_PROBE_URL", url) != 0) {
		env_free(&e);
		free(p);
		return NULL;
	}
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)(timeout_ms ?
	    timeout_ms : 24ULL * 3600 * 1000));
	argv[n++] = (char *)lineproc_path(t, "tend-probe", path,
	    sizeof(path));
	argv[n++] = (char *)mode;
	argv[n++] = ms;
	if (extra != NULL)
		argv[n++] = (char *)extra;
	argv[n] = NULL;
	/* As the app's user its stderr is that user's to write: not into
	 * tendd's own log (or journal), where it could pass for tendd's. */
	ls = (struct lineproc_spec){ .spawn = { .user = user, .group = group,
	    .cwd = "/", .argv = argv, .env = e.kv }, .as_other = as_other,
	    .line_max = PROBE_LINE_MAX, .flags = LINEPROC_LONG_TAIL,
	    .line = line_cb, .done = done_cb, .arg = p };
	p->lp = lineproc_start(t, &ls, why, sizeof(why));
	env_free(&e);
	if (p->lp == NULL) {
		log_warnx("%s", why);
		free(p);
		return NULL;
	}
	uv_timer_init(t->loop, &p->timer);
	p->timer.data = p;
	/* The probe has its own limit; ours is a backstop a bit later. */
	if (timeout_ms > 0)
		uv_timer_start(&p->timer, timeout_cb, timeout_ms + 500, 0);
	return p;
}

/* The lock's holder may let go: its stdin closes, it exits.  No more
 * callbacks either. */
void
probe_release(struct probe *p)
{
	if (p == NULL || p->canceled)
		return;
	p->canceled = 1;
	if (p->lp != NULL) {
		lineproc_close_stdin(p->lp);
		/* One still connecting or waiting for the lock reads no
		 * stdin: stop it (its connection, and any lock, go with
		 * it). */
		lineproc_kill(p->lp, SIGKILL);
		lineproc_forget(p->lp);
	}
	probe_free(p);
}
