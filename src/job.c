/*
 * job.c: a command an app runs to completion rather than keeps running:
 * a migration, a backup, a build.  Like an instance it runs in its own
 * process group (so a timeout or a stop reaches npm's children too), as
 * the app's user, with its output in the app's log under its own stream
 * name ("migrate", "backup"); unlike an instance it has a time limit, and
 * the last lines of its output are kept for the failure message.
 *
 * A job is finished when its main process has exited, its group is empty
 * (whatever is left is killed: a finished job leaves nothing behind) and
 * its pipes are at EOF (bounded by LOG_DRAIN_MS); only then does done()
 * run, once.  The app cannot be freed while a job runs: it holds a handle.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

/* Lines of output kept for the failure message. */
#define JOB_TAIL_LINES	5
#define JOB_TAIL_LINE	200

struct job {
	struct app	*app;
	uv_process_t	*proc;
	uv_timer_t	 timer;
	struct logpipe	*out, *err;
	pid_t		 pid;
	int		 running;
	int		 finished;
	int		 canceled;
	int		 timed_out;
	int		 kill_sent;
	int		 stop_signal;
	uint64_t	 kill_timeout;
	uint64_t	 started;
	uint64_t	 timeout_ms;
	uint64_t	 drain_at;	/* group gone, waiting for pipe EOF */
	int64_t		 status;
	int		 term_signal;
	char		 name[32];
	char		 tail[JOB_TAIL_LINES][JOB_TAIL_LINE];
	unsigned	 ntail;
	job_done_cb	 done;
	job_line_cb	 line;
	void		*arg;
};

static void	job_check(struct job *);

static void
job_timer_closed_cb(uv_handle_t *h)
{
	struct job	*j = h->data;
	struct app	*app = j->app;

	free(j);
	/* Up-call: the app is freed by its handles' last close callback. */
	app_handle_done(app);
}

static void
job_proc_closed_cb(uv_handle_t *h)
{
	struct app	*app = h->data;

	free(h);
	app_handle_done(app);	/* up-call, as above */
}

void
job_line(struct job *j, const char *p, size_t n)
{
	char	*slot = j->tail[j->ntail % JOB_TAIL_LINES];
	size_t	 k = n < JOB_TAIL_LINE ? n : JOB_TAIL_LINE - 1;

	memcpy(slot, p, k);
	slot[k] = '\0';
	j->ntail++;
	if (j->line != NULL)
		j->line(j->arg, p, n);
}

/* The last lines of output, oldest first, joined with " | ". */
void
job_tail(const struct job *j, char *buf, size_t len)
{
	unsigned	i, first = j->ntail > JOB_TAIL_LINES ?
			    j->ntail - JOB_TAIL_LINES : 0;
	size_t		off = 0;

	buf[0] = '\0';
	for (i = first; i < j->ntail && off + 4 < len; i++) {
		const char *l = j->tail[i % JOB_TAIL_LINES];

		if (*l == '\0')
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    off ? " | " : "", l);
	}
}

/* "exited with code 1", "killed by SIGKILL", "timed out after 10m". */
void
job_outcome(const struct job *j, char *buf, size_t len)
{
	char	d[32];

	if (j->timed_out) {
		format_duration(d, sizeof(d), j->timeout_ms);
		snprintf(buf, len, "ran longer than %s and was stopped", d);
	} else if (j->canceled)
		snprintf(buf, len, "was stopped");
	else if (j->term_signal != 0)
		snprintf(buf, len, "killed by %s", signal_name(j->term_signal));
	else
		snprintf(buf, len, "exited with code %d", (int)j->status);
}

int
job_ok(const struct job *j)
{
	return !j->timed_out && !j->canceled && j->term_signal == 0 &&
	    j->status == 0;
}

uint64_t
job_elapsed(const struct job *j)
{
	return uv_now(j->app->t->loop) - j->started;
}

static void
job_kill_cb(uv_timer_t *h)
{
	struct job	*j = h->data;

	if (j->finished)
		return;
	if (!j->kill_sent) {
		j->kill_sent = 1;
		applog_event(j->app, -1, "%s: still running %llu ms after %s: "
		    "SIGKILL", j->name, (unsigned long long)j->kill_timeout,
		    signal_name(j->stop_signal));
		ptree_signal_group(j->pid, SIGKILL);
	}
	/* Poll until the group is gone (D state takes a moment). */
	uv_timer_start(&j->timer, job_kill_cb, 100, 0);
	job_check(j);
}

/* Ask the job's group to stop; SIGKILL after kill_timeout. */
static void
job_stop(struct job *j)
{
	if (j->finished || j->kill_sent)
		return;
	ptree_signal_group(j->pid, j->stop_signal);
	uv_timer_start(&j->timer, job_kill_cb, j->kill_timeout, 0);
}

static void
job_timeout_cb(uv_timer_t *h)
{
	struct job	*j = h->data;

	j->timed_out = 1;
	applog_event(j->app, -1, "%s: time limit reached: stopping it",
	    j->name);
	job_stop(j);
}

void
job_cancel(struct job *j)
{
	if (j == NULL || j->finished || j->canceled)
		return;
	j->canceled = 1;
	if (!j->running)
		return;		/* over; its pipes are draining */
	applog_event(j->app, -1, "%s: canceled: stopping it", j->name);
	job_stop(j);
}

static void
job_poll_cb(uv_timer_t *h)
{
	job_check(h->data);
}

static void
job_drain_cb(uv_timer_t *h)
{
	struct job	*j = h->data;

	/* A process that escaped the group holds a pipe: stop waiting. */
	if (j->out != NULL)
		logpipe_close(j->out);
	if (j->err != NULL)
		logpipe_close(j->err);
	job_check(j);
}

/* Done when the leader exited, the group is empty and the pipes closed. */
static void
job_check(struct job *j)
{
	uint64_t	now;

	if (j->finished || j->running)
		return;
	if (ptree_group_alive(j->pid)) {
		/* Its leader is done: the rest goes with it. */
		ptree_signal_group(j->pid, SIGKILL);
		uv_timer_start(&j->timer, job_poll_cb, 50, 0);
		return;
	}
	if (j->out != NULL || j->err != NULL) {
		now = uv_now(j->app->t->loop);
		if (j->drain_at == 0)
			j->drain_at = now;
		uv_timer_start(&j->timer, job_drain_cb, now - j->drain_at <
		    LOG_DRAIN_MS ? LOG_DRAIN_MS - (now - j->drain_at) : 0, 0);
		return;
	}
	j->finished = 1;
	uv_timer_stop(&j->timer);
	j->app->jobs--;
	if (j->done != NULL)
		j->done(j->arg, j);
	uv_close((uv_handle_t *)&j->timer, job_timer_closed_cb);
	/* Up-call: an app is not down while a job of its runs; its end
	 * may let a stop finish or a removed app go. */
	app_notify(j->app);
	app_maybe_free(j->app);
}

void
job_pipe_closed(struct job *j, struct logpipe *lp)
{
	if (j->out == lp)
		j->out = NULL;
	if (j->err == lp)
		j->err = NULL;
	/* From the read callback (EOF): see whether that was the last. */
	if (!j->running && j->out == NULL && j->err == NULL)
		job_check(j);
}

static void
job_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
	struct job	*j = p->data;

	j->proc = NULL;
	spawn_forget(j->app->t, p->pid);
	p->data = j->app;
	uv_close((uv_handle_t *)p, job_proc_closed_cb);
	j->running = 0;
	j->status = status;
	j->term_signal = term_signal;
	uv_timer_stop(&j->timer);
	job_check(j);
}

/*
 * Run spec for app; done(arg, job) once it is over, line(arg, p, n) for
 * each line of output.  The job is freed after done returns.  NULL with
 * why set if it could not start.
 */
struct job *
job_start(struct app *app, const struct job_spec *spec, job_done_cb done,
    job_line_cb line, void *arg, char *why, size_t whylen)
{
	struct tend		*t = app->t;
	struct job		*j;
	struct spawn_spec	 sp;
	uv_stdio_container_t	 stdio[3];
	char			*shcmd = NULL, *args[SPAWN_MAX_ARGS + 1];
	char *const		*argv;
	uv_file			 cfd[2] = { -1, -1 };
	int			 r, must_close;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	j->app = app;
	j->done = done;
	j->line = line;
	j->arg = arg;
	j->stop_signal = spec->stop_signal ? spec->stop_signal : SIGTERM;
	j->kill_timeout = spec->kill_timeout;
	j->timeout_ms = spec->timeout_ms;
	snprintf(j->name, sizeof(j->name), "%s", spec->stream);

	if (spec->argv != NULL)
		argv = spec->argv;
	else {
		/* No "exec": a job is often a chain (npm ci && npm run
		 * build), and its group is signalled as a whole anyway. */
		if ((shcmd = strdup(spec->cmd)) == NULL) {
			free(j);
			snprintf(why, whylen, "out of memory");
			return NULL;
		}
		args[0] = "/bin/sh";
		args[1] = "-c";
		args[2] = shcmd;
		args[3] = NULL;
		argv = args;
	}

	if (logpipe_child_stdio(app, NULL, j, -1, spec->stream, spec->stream,
	    &j->out, &j->err, stdio, cfd, why, whylen) != 0)
		goto fail;
	if (spec->stdout_fd > 0) {
		/* Its output is data (a dump), not lines for the log. */
		stdio[1].flags = UV_INHERIT_FD;
		stdio[1].data.fd = spec->stdout_fd;
	}
	if ((j->proc = calloc(1, sizeof(*j->proc))) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	sp = (struct spawn_spec){ .user = spec->user, .group = spec->group,
	    .cwd = spec->cwd, .argv = argv, .env = spec->env, .stdio = stdio,
	    .stdio_count = 3, .exit_cb = job_exit_cb };
	j->proc->data = j;
	r = spawn_process(t, j->proc, &sp, &must_close, why, whylen);
	close(cfd[0]);
	close(cfd[1]);
	cfd[0] = cfd[1] = -1;
	if (spec->stdout_fd > 0 && j->out != NULL) {
		j->out->job = NULL;
		logpipe_close(j->out);
		j->out = NULL;
	}
	if (r != 0) {
		if (must_close) {
			app->nhandles++;
			j->proc->data = app;
			uv_close((uv_handle_t *)j->proc, job_proc_closed_cb);
		} else
			free(j->proc);
		j->proc = NULL;
		goto fail;
	}
	app->nhandles++;
	free(shcmd);
	j->pid = j->proc->pid;
	j->running = 1;
	j->started = uv_now(t->loop);
	uv_timer_init(t->loop, &j->timer);
	j->timer.data = j;
	app->nhandles++;
	app->jobs++;
	if (spec->timeout_ms > 0)
		uv_timer_start(&j->timer, job_timeout_cb, spec->timeout_ms, 0);
	if (j->out != NULL)
		logpipe_start(j->out);
	logpipe_start(j->err);
	applog_event(app, -1, "%s: started pid %d", j->name, (int)j->pid);
	return j;
fail:
	if (cfd[0] != -1)
		close(cfd[0]);
	if (cfd[1] != -1)
		close(cfd[1]);
	/* Pipes hold no job pointer worth keeping: forget them. */
	if (j->out != NULL) {
		j->out->job = NULL;
		logpipe_close(j->out);
	}
	if (j->err != NULL) {
		j->err->job = NULL;
		logpipe_close(j->err);
	}
	free(shcmd);
	free(j);
	return NULL;
}
