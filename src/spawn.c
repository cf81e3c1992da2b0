/*
 * spawn.c: start one instance.  Builds its environment from nothing (a
 * clean base, then env_file(s), then env lines, then PORT and the heap),
 * runs /bin/sh -c 'exec COMMAND' in a new session (so the process group
 * can be signalled as a whole), with stdout and stderr on pipes that
 * logpipe.c reads.
 *
 * libuv's own setuid support drops every supplementary group, but an app
 * user often needs its groups (a socket group, a shared uploads group).
 * So when tendd is root and the app names a user, the child is tendd
 * itself in a tiny mode (`tendd --exec-as USER GROUP -- argv...`) that
 * calls initgroups(), setgid(), setuid() and execs the shell: one extra
 * exec, no shell involved, no capabilities kept.
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

#define DEFAULT_PATH	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static void
proc_closed_cb(uv_handle_t *h)
{
	struct inst	*in = h->data;

	free(h);
	app_handle_done(in->app);
}

static void
proc_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
	struct inst	*in = p->data;

	if (in->proc == p)
		in->proc = NULL;
	uv_close((uv_handle_t *)p, proc_closed_cb);
	inst_exited(in, status, term_signal);
}

/* The environment an instance starts with; the first error in *why. */
static int
build_env(struct inst *in, const struct passwd *pw, struct env *e,
    char *why, size_t whylen)
{
	struct app		*app = in->app;
	const struct conf_app	*ca = app->ca;
	struct errs		 errs;
	const char		*v;
	char			 num[32], *opts;
	uint64_t		 mib;
	size_t			 i;
	int			 r = 0;

	env_init(e);
	v = getenv("PATH");
	r |= env_set(e, "PATH", v != NULL && *v ? v : DEFAULT_PATH);
	if (pw != NULL) {
		r |= env_set(e, "HOME", pw->pw_dir);
		r |= env_set(e, "USER", pw->pw_name);
		r |= env_set(e, "LOGNAME", pw->pw_name);
	} else {
		v = getenv("HOME");
		r |= env_set(e, "HOME", v != NULL && *v ? v : "/");
	}
	v = getenv("LANG");
	r |= env_set(e, "LANG", v != NULL && *v ? v : "C.UTF-8");
	if (r != 0)
		goto oom;

	errs_init(&errs);
	for (i = 0; i < ca->env_files.n; i++)
		dotenv_load(ca->env_files.v[i], e, &errs);
	if (errs.n > 0 || errs.oom) {
		snprintf(why, whylen, "%s", errs.n > 0 ? errs.msg[0] :
		    "out of memory reading env_file");
		errs_free(&errs);
		return -1;
	}
	errs_free(&errs);
	for (i = 0; i < ca->envs.n; i++)
		if (env_setkv(e, ca->envs.v[i]) != 0)
			goto oom;

	if (in->port) {
		snprintf(num, sizeof(num), "%u", in->port);
		if (env_set(e, "PORT", num) != 0)
			goto oom;
	}
	snprintf(num, sizeof(num), "%u", in->idx);
	/* How a later tendd on this socket finds what this one left. */
	if (env_set(e, "TEND_SUPERVISOR", app->t->conf->socket) != 0 ||
	    env_set(e, "TEND_APP", app->name) != 0 ||
	    env_set(e, "TEND_INSTANCE", num) != 0)
		goto oom;

	app->heap_user = 0;
	app->heap_mib = 0;
	if (ca->heap_mode != HEAP_OFF) {
		v = env_get(e, "NODE_OPTIONS");
		if (v != NULL && node_options_has_heap(v)) {
			/* The user's own setting wins; status says so. */
			app->heap_user = 1;
		} else {
			if (ca->heap_mode == HEAP_PERCENT)
				mib = heap_mib(app->t->mem_limit, ca->heap_pct,
				    ca->instances);
			else
				mib = ca->heap_bytes / (1024 * 1024);
			if ((opts = node_options_add_heap(v, mib)) == NULL)
				goto oom;
			r = env_set(e, "NODE_OPTIONS", opts);
			free(opts);
			if (r != 0)
				goto oom;
			app->heap_mib = mib;
		}
	}
	return 0;
oom:
	snprintf(why, whylen, "out of memory building the environment");
	return -1;
}

/* The environment instance in would start with (for checks). */
int
spawn_env(struct inst *in, struct env *e, char *why, size_t whylen)
{
	struct passwd	*pw = NULL;

	if (in->app->ca->user != NULL)
		pw = getpwnam(in->app->ca->user);
	if (build_env(in, pw, e, why, whylen) != 0) {
		env_free(e);
		return -1;
	}
	return 0;
}

/*
 * Who a child runs as: the passwd entry of user (by name or number; NULL
 * when user is NULL), and *as_other when that means a switch, which needs
 * root.  On error NULL with why set (and *as_other = -1).
 */
struct passwd *
spawn_user(const char *user, const char *group, int *as_other, char *why,
    size_t whylen)
{
	struct passwd	*pw = NULL;
	char		*end;

	*as_other = 0;
	why[0] = '\0';
	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL) {
			unsigned long uid = strtoul(user, &end, 10);

			if (*end == '\0' && end != user)
				pw = getpwuid((uid_t)uid);
		}
		if (pw == NULL) {
			snprintf(why, whylen, "user %s does not exist", user);
			*as_other = -1;
			return NULL;
		}
		if (pw->pw_uid != geteuid())
			*as_other = 1;
	}
	if (group != NULL)
		*as_other = 1;
	if (*as_other && geteuid() != 0) {
		snprintf(why, whylen, "user/group set but tendd is not root");
		*as_other = -1;
		return NULL;
	}
	return pw;
}

int
spawn_inst(struct inst *in, char *why, size_t whylen)
{
	struct app		*app = in->app;
	struct tend		*t = app->t;
	const struct conf_app	*ca = app->ca;
	uv_process_options_t	 o;
	uv_stdio_container_t	 stdio[3];
	struct passwd		*pw;
	struct env		 e;
	char			*shcmd = NULL, *args[10], dirbuf[PATH_MAX];
	uv_file			 cfd[2] = { -1, -1 };
	int			 r, n = 0, as_other = 0;

	pw = spawn_user(ca->user, ca->group, &as_other, why, whylen);
	if (as_other < 0)
		return -1;

	if (build_env(in, pw, &e, why, whylen) != 0) {
		env_free(&e);
		return -1;
	}
	if (asprintf(&shcmd, "exec %s", ca->command) < 0) {
		snprintf(why, whylen, "out of memory");
		env_free(&e);
		return -1;
	}
	if (as_other) {
		args[n++] = "tendd";
		args[n++] = "--exec-as";
		args[n++] = ca->user != NULL ? ca->user : "";
		args[n++] = ca->group != NULL ? ca->group : "";
		args[n++] = "--";
	}
	args[n++] = "/bin/sh";
	args[n++] = "-c";
	args[n++] = shcmd;
	args[n] = NULL;

	in->empty_at = 0;
	if (logpipe_child_stdio(app, in, NULL, (int)in->idx, "out", "err",
	    &in->out, &in->err, stdio, cfd, why, whylen) != 0)
		goto fail;
	memset(&o, 0, sizeof(o));
	o.exit_cb = proc_exit_cb;
	o.file = as_other ? t->self_exe : "/bin/sh";
	o.args = args;
	o.env = e.kv;
	o.cwd = inst_dir(in, dirbuf, sizeof(dirbuf));
	o.flags = UV_PROCESS_DETACHED;	/* setsid(): its own process group */
	o.stdio_count = 3;
	o.stdio = stdio;

	if ((in->proc = calloc(1, sizeof(*in->proc))) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	in->proc->data = in;
	r = uv_spawn(t->loop, in->proc, &o);
	app->nhandles++;
	/* The child has its ends; ours would keep the pipes from EOF. */
	close(cfd[0]);
	close(cfd[1]);
	cfd[0] = cfd[1] = -1;
	if (r != 0) {
		uv_close((uv_handle_t *)in->proc, proc_closed_cb);
		in->proc = NULL;
		snprintf(why, whylen, "%s: %s (dir %s)",
		    r == UV_ENOENT ? "cannot run" : "spawn failed",
		    uv_strerror(r), o.cwd);
		goto fail;
	}
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

/*
 * `tendd --exec-as USER GROUP -- PROGRAM ARGS...`: become USER (with
 * its supplementary groups) or GROUP, then exec.  Runs in the freshly
 * spawned child, so it may block on NSS and simply exit on error: the
 * message lands in the app's log as stderr.
 */
int
exec_as_main(int argc, char **argv)
{
	const char	*user, *group;
	struct passwd	*pw = NULL;
	struct group	*gr;
	uid_t		 uid = getuid();
	gid_t		 gid = getgid();
	char		*end;

	if (argc < 6 || strcmp(argv[4], "--") != 0) {
		fprintf(stderr, "tend: --exec-as: usage: USER GROUP -- PROGRAM...\n");
		return 127;
	}
	user = argv[2];
	group = argv[3];
	if (*user != '\0') {
		if ((pw = getpwnam(user)) == NULL) {
			unsigned long u = strtoul(user, &end, 10);
			if (*end != '\0' || end == user ||
			    (pw = getpwuid((uid_t)u)) == NULL) {
				fprintf(stderr, "tend: user %s does not exist\n",
				    user);
				return 127;
			}
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (*group != '\0') {
		if ((gr = getgrnam(group)) != NULL)
			gid = gr->gr_gid;
		else {
			unsigned long g = strtoul(group, &end, 10);
			if (*end != '\0' || end == group) {
				fprintf(stderr, "tend: group %s does not exist\n",
				    group);
				return 127;
			}
			gid = (gid_t)g;
		}
	}
	if (pw != NULL) {
		if (initgroups(pw->pw_name, gid) != 0) {
			fprintf(stderr, "tend: initgroups %s: %s\n", pw->pw_name,
			    strerror(errno));
			return 127;
		}
	} else if (setgroups(1, &gid) != 0) {
		fprintf(stderr, "tend: setgroups: %s\n", strerror(errno));
		return 127;
	}
	if (setgid(gid) != 0 || setuid(uid) != 0) {
		fprintf(stderr, "tend: cannot become %s: %s\n",
		    *user ? user : group, strerror(errno));
		return 127;
	}
	/* Paranoia: a dropped root must not be able to come back. */
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		fprintf(stderr, "tend: privileges not dropped\n");
		return 127;
	}
	execv(argv[5], argv + 5);
	fprintf(stderr, "tend: exec %s: %s\n", argv[5], strerror(errno));
	return 127;
}
