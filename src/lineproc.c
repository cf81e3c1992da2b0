/*
 * lineproc.c: a helper program tendd speaks to in lines, over a pipe to
 * its stdin and one from its stdout (tend-probe in probe-run.c, tend-fleet
 * in fleet-run.c).  It owns the process's three handles and the ways they
 * end, which are easy to get wrong and were once written twice:
 *
 *   - the program is over only when its output ended AND it exited (in
 *     either order): then the caller hears once, with its status;
 *   - every handle is closed exactly once, and the memory is freed in the
 *     close callback of the last one, never by the caller, so a write's
 *     callback or a read that comes while things close finds it alive;
 *   - its lines are its user's input: each is bounded by the caller's
 *     limit, and what we write to it is bounded too (a program that stops
 *     reading is refused more, not buffered without end).
 *
 * Nothing here blocks or waits: a program that hangs is the caller's to
 * bound with a timer and lineproc_kill().
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

struct lineproc {
	struct tend	*t;		/* its pid is in t's children until it
					 * exited: the orphan reaper leaves it
					 * to libuv */
	uv_process_t	 proc;
	uv_pipe_t	 in, out;
	unsigned	 open;		/* handles not yet closed */
	int		 running, eof, finished, in_closed;
	int		 flags;		/* LINEPROC_* */
	int		 skipping;	/* in a line too long to be one */
	int64_t		 status;
	int		 sig;
	size_t		 wq, wq_max;	/* bytes written, not yet taken */
	lineproc_line_cb line;		/* NULL once forgotten */
	lineproc_done_cb done;
	void		*arg;
	size_t		 len, max;
	char		 buf[];		/* max bytes: the line being read */
};

/* A write's callback may come while lp closes (uv_close on a stream
 * cancels its writes first): lp is freed only after that. */
struct lineproc_write {
	uv_write_t	 w;
	struct lineproc	*lp;
	size_t		 len;
	char		 data[];
};

static void
closed_cb(uv_handle_t *h)
{
	struct lineproc	*lp = h->data;

	if (--lp->open == 0)
		free(lp);
}

static void
lp_close(struct lineproc *lp, uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, closed_cb);
}

/* Both ends are over: report once, then let go of everything. */
static void
lp_check(struct lineproc *lp)
{
	if (lp->running || !lp->eof || lp->finished)
		return;
	lp->finished = 1;
	if (lp->done != NULL)
		lp->done(lp->arg, lp->status, lp->sig);
	lp->line = NULL;
	lp->done = NULL;
	lp->in_closed = 1;
	lp_close(lp, (uv_handle_t *)&lp->in);
	lp_close(lp, (uv_handle_t *)&lp->out);
	lp_close(lp, (uv_handle_t *)&lp->proc);
}

static void
exit_cb(uv_process_t *proc, int64_t status, int sig)
{
	struct lineproc	*lp = proc->data;

	spawn_forget(lp->t, proc->pid);
	lp->running = 0;
	lp->status = status;
	lp->sig = sig;
	lp_check(lp);
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct lineproc	*lp = h->data;

	(void)hint;
	b->base = lp->buf + lp->len;
	b->len = lp->max - lp->len;
}

/* Every complete line to the caller; a line that fills the buffer is
 * not one of the program's: dropped. */
static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct lineproc	*lp = s->data;
	char		*nl, *start;

	(void)b;
	if (n < 0) {
		lp->eof = 1;
		uv_read_stop(s);
		lp_check(lp);
		return;
	}
	lp->len += (size_t)n;
	start = lp->buf;
	while ((nl = memchr(start, '\n', lp->len -
	    (size_t)(start - lp->buf))) != NULL) {
		/* The callback may forget lp: no line after that. */
		if (!lp->skipping && lp->line != NULL)
			lp->line(lp->arg, start, (size_t)(nl - start));
		lp->skipping = 0;
		start = nl + 1;
	}
	lp->len -= (size_t)(start - lp->buf);
	memmove(lp->buf, start, lp->len);
	if (lp->len == lp->max) {
		lp->len = 0;
		lp->skipping = !(lp->flags & LINEPROC_LONG_TAIL);
	}
}

/* Where helper program name is: beside tendd (the build tree, or both
 * installed in one directory), else in PKGLIBEXECDIR. */
const char *
lineproc_path(const struct tend *t, const char *name, char *buf, size_t len)
{
	char	*slash;
	int	 n;

	snprintf(buf, len, "%s", t->self_exe);
	if ((slash = strrchr(buf, '/')) != NULL) {
		n = snprintf(slash + 1, len - (size_t)(slash + 1 - buf), "%s",
		    name);
		if (n >= 0 && (size_t)n < len - (size_t)(slash + 1 - buf) &&
		    access(buf, X_OK) == 0)
			return buf;
	}
	snprintf(buf, len, "%s/%s", PKGLIBEXECDIR, name);
	return buf;
}

/*
 * Start spec->spawn (its user, group, cwd, argv and env; its stdio and
 * exit_cb are ours) with a pipe to its stdin and one from its stdout;
 * its stderr is tendd's own unless it runs as another user, whose
 * output could pass for tendd's in its log.  line(arg, s, n) for every
 * line of its output (without the newline), done(arg, status, sig) once
 * when its output ended and it exited; after done, lp is gone.  NULL
 * with why when it could not start (no callback comes).
 */
struct lineproc *
lineproc_start(struct tend *t, const struct lineproc_spec *spec, char *why,
    size_t whylen)
{
	struct spawn_spec	 sp = spec->spawn;
	uv_stdio_container_t	 stdio[3];
	struct lineproc		*lp;
	int			 r, must_close;

	if (spec->line_max == 0 ||
	    (lp = calloc(1, sizeof(*lp) + spec->line_max)) == NULL) {
		snprintf(why, whylen, "cannot run %s: out of memory",
		    sp.argv[0]);
		return NULL;
	}
	lp->t = t;
	lp->max = spec->line_max;
	lp->flags = spec->flags;
	lp->wq_max = spec->wq_max;
	lp->line = spec->line;
	lp->done = spec->done;
	lp->arg = spec->arg;
	uv_pipe_init(t->loop, &lp->in, 0);
	uv_pipe_init(t->loop, &lp->out, 0);
	lp->in.data = lp->out.data = lp->proc.data = lp;
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
	stdio[0].data.stream = (uv_stream_t *)&lp->in;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&lp->out;
	stdio[2].flags = spec->as_other ? UV_IGNORE : UV_INHERIT_FD;
	stdio[2].data.fd = 2;
	sp.stdio = stdio;
	sp.stdio_count = 3;
	sp.exit_cb = exit_cb;
	r = spawn_process(t, &lp->proc, &sp, &must_close, why, whylen);
	lp->open = must_close ? 3 : 2;
	if (r != 0) {
		lp->finished = 1;
		lp->line = NULL;
		lp->done = NULL;
		lp_close(lp, (uv_handle_t *)&lp->in);
		lp_close(lp, (uv_handle_t *)&lp->out);
		if (must_close)
			lp_close(lp, (uv_handle_t *)&lp->proc);
		return NULL;
	}
	lp->running = 1;
	if ((r = uv_read_start((uv_stream_t *)&lp->out, alloc_cb,
	    read_cb)) != 0) {
		/* No output to wait for: it is over once it exited. */
		log_warnx("reading %s: %s", sp.argv[0], uv_strerror(r));
		lp->eof = 1;
		uv_process_kill(&lp->proc, SIGKILL);
	}
	return lp;
}

pid_t
lineproc_pid(const struct lineproc *lp)
{
	return lp->proc.pid;
}

/* Until it exited; it may still be writing what it wrote before. */
int
lineproc_running(const struct lineproc *lp)
{
	return lp->running;
}

static void
write_cb(uv_write_t *w, int status)
{
	struct lineproc_write	*lw = (struct lineproc_write *)w;

	(void)status;
	if (lw->lp->wq >= lw->len)
		lw->lp->wq -= lw->len;
	free(lw);
}

/* Write s[0..n) and a newline to its stdin; -1 when it exited, its
 * stdin is closed, or it has not taken the wq_max bytes before. */
int
lineproc_write(struct lineproc *lp, const char *s, size_t n)
{
	struct lineproc_write	*lw;
	uv_buf_t		 b;

	if (!lp->running || lp->in_closed)
		return -1;
	if ((lp->wq_max > 0 && lp->wq + n + 1 > lp->wq_max) ||
	    (lw = malloc(sizeof(*lw) + n + 1)) == NULL)
		return -1;
	memcpy(lw->data, s, n);
	lw->data[n] = '\n';
	lw->lp = lp;
	lw->len = n + 1;
	b = uv_buf_init(lw->data, (unsigned)lw->len);
	if (uv_write(&lw->w, (uv_stream_t *)&lp->in, &b, 1, write_cb) != 0) {
		free(lw);
		return -1;
	}
	lp->wq += lw->len;
	return 0;
}

/* Its stdin ends (what was written is still delivered first). */
void
lineproc_close_stdin(struct lineproc *lp)
{
	if (lp->in_closed)
		return;
	lp->in_closed = 1;
	lp_close(lp, (uv_handle_t *)&lp->in);
}

/* Signal it, unless it exited (its pid may be another's by now). */
void
lineproc_kill(struct lineproc *lp, int sig)
{
	if (lp->running)
		(void)uv_process_kill(&lp->proc, sig);
}

/* No callback any more, from now on: the caller lets go of lp, which
 * frees itself once the program exited and its output ended. */
void
lineproc_forget(struct lineproc *lp)
{
	lp->line = NULL;
	lp->done = NULL;
}
