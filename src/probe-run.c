/*
 * probe-run.c: tendd's side of tend-probe (probe.c): run it with the URL
 * in its environment, read its JSON lines from a pipe, bound it with a
 * timer, and for the migration lock keep its stdin open for as long as
 * the lock must be held.  Nothing here blocks; a probe that hangs costs
 * a process until its timer kills it.
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
	struct tend	*t;
	uv_process_t	 proc;
	uv_pipe_t	 in, out;
	uv_timer_t	 timer;
	unsigned	 open;		/* handles not yet closed */
	int		 running;
	int		 eof;
	int		 finished;
	int		 canceled;
	int		 timed_out;
	int		 in_closed;
	pid_t		 pid;
	int64_t		 status;
	int		 sig;
	size_t		 len;
	probe_line_cb	 line;
	probe_done_cb	 done;
	void		*arg;
	char		 buf[PROBE_LINE_MAX];
};

static void
closed_cb(uv_handle_t *h)
{
	struct probe	*p = h->data;

	if (--p->open == 0)
		free(p);
}

static void
probe_close(struct probe *p, uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, closed_cb);
}

/* Both ends are over: report once, then let go of everything. */
static void
probe_check(struct probe *p)
{
	if (p->running || !p->eof || p->finished)
		return;
	p->finished = 1;
	uv_timer_stop(&p->timer);
	if (!p->canceled && p->done != NULL)
		p->done(p->arg, p->timed_out ? -1 : (int)p->status);
	probe_close(p, (uv_handle_t *)&p->timer);
	probe_close(p, (uv_handle_t *)&p->in);
	probe_close(p, (uv_handle_t *)&p->out);
	probe_close(p, (uv_handle_t *)&p->proc);
}

static void
exit_cb(uv_process_t *proc, int64_t status, int sig)
{
	struct probe	*p = proc->data;

	spawn_forget(p->t, proc->pid);
	p->running = 0;
	p->status = status;
	p->sig = sig;
	probe_check(p);
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct probe	*p = h->data;

	(void)hint;
	b->base = p->buf + p->len;
	b->len = sizeof(p->buf) - p->len;
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
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct probe	*p = s->data;
	char		*nl, *start;
	json_t		*msg, *clean;

	(void)b;
	if (n < 0) {
		p->eof = 1;
		uv_read_stop(s);
		probe_check(p);
		return;
	}
	p->len += (size_t)n;
	start = p->buf;
	while ((nl = memchr(start, '\n', p->len - (size_t)(start - p->buf))) != NULL) {
		msg = json_loadb(start, (size_t)(nl - start), 0, NULL);
		start = nl + 1;
		clean = probe_clean(msg);
		json_decref(msg);
		if (clean != NULL && !p->canceled && p->line != NULL)
			p->line(p->arg, clean);
		json_decref(clean);
		if (p->canceled)
			break;
	}
	p->len -= (size_t)(start - p->buf);
	memmove(p->buf, start, p->len);
	if (p->len == sizeof(p->buf))
		p->len = 0;	/* not a line of ours: drop it */
}

static void
timeout_cb(uv_timer_t *h)
{
	struct probe	*p = h->data;

	if (p->running) {
		p->timed_out = 1;
		uv_process_kill(&p->proc, SIGKILL);
	}
}

static const char *
probe_path(struct tend *t, char *buf, size_t len)
{
	char	*slash;

	/* Beside tendd (the build tree, or both in one directory). */
	snprintf(buf, len, "%s", t->self_exe);
	if ((slash = strrchr(buf, '/')) != NULL) {
		snprintf(slash + 1, len - (size_t)(slash + 1 - buf), "tend-probe");
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return PKGLIBEXECDIR "/tend-probe";
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
	struct spawn_spec	 sp;
	uv_stdio_container_t	 stdio[3];
	struct probe		*p;
	struct passwd		*pw;
	struct env		 e;
	char			 path[4200], ms[32], why[256], *argv[8];
	int			 r, n = 0, as_other = 0, must_close;

	pw = spawn_user(user, group, &as_other, why, sizeof(why));
	if (as_other < 0) {
		log_warnx("cannot run tend-probe: %s", why);
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->t = t;
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
	argv[n++] = (char *)probe_path(t, path, sizeof(path));
	argv[n++] = (char *)mode;
	argv[n++] = ms;
	if (extra != NULL)
		argv[n++] = (char *)extra;
	argv[n] = NULL;
	uv_pipe_init(t->loop, &p->in, 0);
	uv_pipe_init(t->loop, &p->out, 0);
	uv_timer_init(t->loop, &p->timer);
	p->in.data = p->out.data = p->timer.data = p->proc.data = p;
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
	stdio[0].data.stream = (uv_stream_t *)&p->in;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&p->out;
	/* As the app's user its stderr is that user's to write: not into
	 * tendd's own log (or journal), where it could pass for tendd's. */
	stdio[2].flags = as_other ? UV_IGNORE : UV_INHERIT_FD;
	stdio[2].data.fd = 2;
	sp = (struct spawn_spec){ .user = user, .group = group, .cwd = "/",
	    .argv = argv, .env = e.kv, .stdio = stdio, .stdio_count = 3,
	    .exit_cb = exit_cb };
	r = spawn_process(t, &p->proc, &sp, &must_close, why, sizeof(why));
	env_free(&e);
	p->open = must_close ? 4 : 3;
	if (r != 0) {
		log_warnx("%s", why);
		p->finished = 1;
		p->canceled = 1;
		probe_close(p, (uv_handle_t *)&p->timer);
		probe_close(p, (uv_handle_t *)&p->in);
		probe_close(p, (uv_handle_t *)&p->out);
		if (must_close)
			probe_close(p, (uv_handle_t *)&p->proc);
		return NULL;
	}
	p->pid = p->proc.pid;
	p->running = 1;
	uv_read_start((uv_stream_t *)&p->out, alloc_cb, read_cb);
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
	if (p == NULL || p->in_closed)
		return;
	p->canceled = 1;
	p->in_closed = 1;
	if (!p->finished)
		uv_close((uv_handle_t *)&p->in, closed_cb);
	/* One still connecting or waiting for the lock reads no stdin:
	 * stop it (its connection, and any lock, go with it). */
	if (p->running)
		uv_process_kill(&p->proc, SIGKILL);
}
