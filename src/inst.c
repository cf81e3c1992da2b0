/*
 * inst.c: start one app instance: /bin/sh -c 'exec COMMAND' in the
 * instance's directory, as the app's user, with the environment of this
 * start (appenv.c) plus PORT and TEND_INSTANCE, stdout and stderr on pipes
 * that logpipe.c reads; spawn.c does the starting.  Its exit goes to the
 * state machine (supervise.c): this file is of the app layer, so the
 * mechanisms below it never call up for an instance.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

static void
proc_closed_cb(uv_handle_t *h)
{
	struct inst	*in = h->data;

	free(h);
	/* The app owns this handle and is freed by the last close
	 * callback of its handles, whichever file made them. */
	app_handle_done(in->app);
}

static void
proc_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
	struct inst	*in = p->data;

	if (in->proc == p)
		in->proc = NULL;
	spawn_forget(in->app->t, p->pid);
	uv_close((uv_handle_t *)p, proc_closed_cb);
	/* An instance's exit is the state machine's event. */
	inst_exited(in, status, term_signal);
}

int
spawn_inst(struct inst *in, char *why, size_t whylen)
{
	struct app		*app = in->app;
	struct tend		*t = app->t;
	const struct conf_app	*ca = app->ca;
	struct spawn_spec	 sp;
	uv_stdio_container_t	 stdio[3];
	struct env		 e;
	char			*shcmd = NULL, *argv[4], dirbuf[PATH_MAX];
	uv_file			 cfd[2] = { -1, -1 };
	int			 r, must_close;

	if (appenv_for_inst(in, &e, why, whylen) != 0)
		return -1;
	if (asprintf(&shcmd, "exec %s", ca->command) < 0) {
		snprintf(why, whylen, "out of memory");
		env_free(&e);
		return -1;
	}
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = shcmd;
	argv[3] = NULL;

	in->empty_at = 0;
	if (logpipe_child_stdio(app, in, NULL, (int)in->idx, "out", "err",
	    &in->out, &in->err, stdio, cfd, why, whylen) != 0)
		goto fail;
	if ((in->proc = calloc(1, sizeof(*in->proc))) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	/* app.c says where an instance runs (its release). */
	sp = (struct spawn_spec){ .user = ca->user, .group = ca->group,
	    .cwd = inst_dir(in, dirbuf, sizeof(dirbuf)), .argv = argv,
	    .env = e.kv, .stdio = stdio, .stdio_count = 3,
	    .exit_cb = proc_exit_cb };
	in->proc->data = in;
	r = spawn_process(t, in->proc, &sp, &must_close, why, whylen);
	/* The child has its ends; ours would keep the pipes from EOF. */
	close(cfd[0]);
	close(cfd[1]);
	cfd[0] = cfd[1] = -1;
	if (r != 0) {
		if (must_close) {
			app->nhandles++;
			uv_close((uv_handle_t *)in->proc, proc_closed_cb);
		} else
			free(in->proc);
		in->proc = NULL;
		goto fail;
	}
	app->nhandles++;
	free(shcmd);
	env_free(&e);
	in->pid = in->proc->pid;
	in->running = 1;
	in->draining = 0;
	in->spawned_at = uv_now(t->loop);
	in->rss = 0;
	in->cpu = 0;
	in->cpu_ticks = 0;
	in->sample_at = 0;
	in->mem_over_since = 0;
	logpipe_start(in->out);
	logpipe_start(in->err);
	if (in->port)
		applog_event(app, in->idx, "started pid %d port %u",
		    (int)in->pid, in->port);
	else
		applog_event(app, in->idx, "started pid %d", (int)in->pid);
	return 0;
fail:
	if (cfd[0] != -1)
		close(cfd[0]);
	if (cfd[1] != -1)
		close(cfd[1]);
	if (in->out != NULL)
		logpipe_close(in->out);
	if (in->err != NULL)
		logpipe_close(in->err);
	in->out = in->err = NULL;
	free(shcmd);
	env_free(&e);
	return -1;
}
