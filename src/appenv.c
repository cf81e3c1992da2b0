/*
 * appenv.c: who an app runs as, and the one environment its processes
 * start with.
 *
 * The environment is built once per start (tendctl start or restart, a
 * deploy, a reread that changed the app): a clean base (PATH, HOME, USER,
 * LANG), then the env_file(s), then the env lines, tend's own markers and
 * the heap.  Preflight, migration, build and every instance of that start
 * get it from here; a crash restart reuses it, as PM2 does.  Instances add
 * only PORT and TEND_INSTANCE.
 *
 * The env_file is the app user's file in the app user's tree, so tendd
 * reads it with that user's file-system identity (setfsuid/setfsgid, which
 * also takes away root's power to override permissions): the kernel, not
 * tend, decides what may be read, and a link the user points at a root-only
 * file gives EACCES.  It is opened with O_NONBLOCK and must be a regular
 * file, so a FIFO in its place cannot stall the loop.  The fs identity is
 * per thread and only this thread's opens happen under it; tendd keeps no
 * supplementary groups (tendd.c drops them at start), so nothing but the
 * app's own uid and gid count.
 *
 * The heap: heap = N% is N% of the memory tendd may use, divided over
 * every slot the app can run at once: 2 x instances with nginx_upstream,
 * where the new release's instances run beside the old ones during a
 * switch, so the two sets never add up to more than asked.
 */
#define _GNU_SOURCE
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

/* The one PATH a child gets when tendd's own has none. */
const char *const appenv_default_path =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/*
 * Who the app runs as: its uid, gid and home, looked up once per
 * configuration of the app (NSS may block: not at every start).
 */
int
appenv_ids(struct app *app, char *why, size_t len)
{
	const struct conf_app	*ca = app->ca;
	struct passwd		*pw = NULL;
	struct group		*gr;
	int			 as_other;

	app->ids_ok = 0;
	free(app->home);
	free(app->uname);
	app->home = app->uname = NULL;
	app->uid = geteuid();
	app->gid = getegid();
	pw = spawn_user(ca->user, ca->group, &as_other, why, len);
	if (as_other < 0)
		return -1;
	if (pw != NULL) {
		app->uid = pw->pw_uid;
		app->gid = pw->pw_gid;
		if ((app->home = strdup(pw->pw_dir)) == NULL ||
		    (app->uname = strdup(pw->pw_name)) == NULL)
			goto oom;
	}
	if (ca->group != NULL) {
		char *end;

		if ((gr = getgrnam(ca->group)) != NULL)
			app->gid = gr->gr_gid;
		else {
			unsigned long g = strtoul(ca->group, &end, 10);

			if (*end != '\0' || end == ca->group) {
				snprintf(why, len, "group %s does not exist",
				    ca->group);
				return -1;
			}
			app->gid = (gid_t)g;
		}
	}
	app->ids_ok = 1;
	return 0;
oom:
	snprintf(why, len, "out of memory");
	return -1;
}

/*
 * Take the app user's file-system identity for the opens that follow;
 * appenv_fs_end() gives root's back.  A no-op when tendd is not root or
 * the app runs as tendd.
 */
int
appenv_fs_begin(const struct app *app)
{
	if (geteuid() != 0 || (app->uid == 0 && app->gid == 0))
		return 0;
	(void)setfsgid(app->gid);
	(void)setfsuid(app->uid);
	/* setfsuid() says nothing about failure: ask again. */
	if ((uid_t)setfsuid((uid_t)-1) != app->uid ||
	    (gid_t)setfsgid((gid_t)-1) != app->gid) {
		appenv_fs_end(app);
		errno = EPERM;
		return -1;
	}
	return 0;
}

void
appenv_fs_end(const struct app *app)
{
	(void)app;
	if (geteuid() != 0)
		return;
	(void)setfsuid(0);
	(void)setfsgid(0);
}

/* The env files into e, read as the app's user; errors to errs. */
static int
read_env_files(const struct app *app, struct env *e, struct errs *errs)
{
	const struct conf_app	*ca = app->ca;
	size_t			 i;
	int			 r = 0;

	if (ca->env_files.n == 0)
		return 0;
	if (appenv_fs_begin(app) != 0) {
		errs_add(errs, ca->env_files.v[0], 0, "cannot take the identity "
		    "of user %s to read it", ca->user ? ca->user : "?");
		return -1;
	}
	for (i = 0; i < ca->env_files.n; i++)
		if (dotenv_load(ca->env_files.v[i], e, errs) != 0)
			r = -1;
	appenv_fs_end(app);
	return r;
}

/*
 * The env_file(s) and env lines of app, as tendd -t and the preflight see
 * them (no base, no markers); errors to errs as "file:line: ...".
 */
int
appenv_user_env(const struct app *app, struct env *e, struct errs *errs)
{
	const struct conf_app	*ca = app->ca;
	size_t			 i;
	int			 r;

	r = read_env_files(app, e, errs);
	for (i = 0; i < ca->envs.n; i++)
		if (env_setkv(e, ca->envs.v[i]) != 0) {
			errs->oom = 1;
			r = -1;
		}
	return r;
}

static int
build(struct app *app, struct env *e, char *why, size_t whylen)
{
	const struct conf_app	*ca = app->ca;
	struct errs		 errs;
	const char		*v;
	char			*opts;
	uint64_t		 mib;
	int			 r = 0;

	env_init(e);
	v = getenv("PATH");
	r |= env_set(e, "PATH", v != NULL && *v ? v : appenv_default_path);
	if (app->home != NULL) {
		r |= env_set(e, "HOME", app->home);
		r |= env_set(e, "USER", app->uname);
		r |= env_set(e, "LOGNAME", app->uname);
	} else {
		v = getenv("HOME");
		r |= env_set(e, "HOME", v != NULL && *v ? v : "/");
	}
	v = getenv("LANG");
	r |= env_set(e, "LANG", v != NULL && *v ? v : "C.UTF-8");
	if (r != 0)
		goto oom;

	errs_init(&errs);
	if (appenv_user_env(app, e, &errs) != 0) {
		snprintf(why, whylen, "%s", errs.n > 0 ? errs.msg[0] :
		    "out of memory reading env_file");
		errs_free(&errs);
		return -1;
	}
	errs_free(&errs);
	/* How a later tendd on this socket finds what this one left. */
	if (env_set(e, "TEND_SUPERVISOR", app->t->conf->socket) != 0 ||
	    env_set(e, "TEND_APP", app->name) != 0)
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
				    app->n_inst);
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

/*
 * A start begins: build the app's environment anew (the files may have
 * changed).  0, or -1 with the reason in app->env_error.
 */
int
appenv_refresh(struct app *app)
{
	struct env	e;
	char		why[sizeof(app->env_error)];

	if (!app->ids_ok && appenv_ids(app, why, sizeof(why)) != 0) {
		snprintf(app->env_error, sizeof(app->env_error), "%s", why);
		return -1;
	}
	if (build(app, &e, why, sizeof(why)) != 0) {
		env_free(&e);
		snprintf(app->env_error, sizeof(app->env_error), "%s", why);
		if (app->env_ok)
			env_free(&app->env);
		app->env_ok = 0;
		return -1;
	}
	if (app->env_ok)
		env_free(&app->env);
	app->env = e;
	app->env_ok = 1;
	app->env_error[0] = '\0';
	return 0;
}

/* The environment of this start (built now if no start built one). */
const struct env *
appenv_get(struct app *app, char *why, size_t len)
{
	if (!app->env_ok && appenv_refresh(app) != 0) {
		snprintf(why, len, "%s", app->env_error);
		return NULL;
	}
	return &app->env;
}

/* A copy of it, for a job to add to; free with env_free(). */
int
appenv_copy(struct app *app, struct env *out, char *why, size_t len)
{
	const struct env	*e;
	size_t			 i;

	env_init(out);
	if ((e = appenv_get(app, why, len)) == NULL)
		return -1;
	for (i = 0; i < e->n; i++)
		if (env_setkv(out, e->kv[i]) != 0) {
			env_free(out);
			snprintf(why, len, "out of memory");
			return -1;
		}
	return 0;
}

/* What instance in starts with: the app's, PORT and its slot. */
int
appenv_for_inst(struct inst *in, struct env *out, char *why, size_t len)
{
	char	num[32];

	if (appenv_copy(in->app, out, why, len) != 0)
		return -1;
	if (in->port) {
		snprintf(num, sizeof(num), "%u", in->port);
		if (env_set(out, "PORT", num) != 0)
			goto oom;
	}
	snprintf(num, sizeof(num), "%u", in->idx);
	if (env_set(out, "TEND_INSTANCE", num) != 0)
		goto oom;
	return 0;
oom:
	env_free(out);
	snprintf(why, len, "out of memory");
	return -1;
}

/* Forget it all (the app's configuration changed, or it is freed). */
void
appenv_clear(struct app *app)
{
	if (app->env_ok)
		env_free(&app->env);
	app->env_ok = 0;
	app->ids_ok = 0;
	free(app->home);
	free(app->uname);
	app->home = app->uname = NULL;
}

/* realpath() of path in the app's tree, resolved with the app user's
 * identity (the links there are the user's); NULL if it does not resolve. */
char *
appenv_realpath(struct app *app, const char *path, char *buf, size_t len)
{
	char	tmp[PATH_MAX];
	char	*r = NULL;

	if (!app->ids_ok && appenv_ids(app, tmp, sizeof(tmp)) != 0)
		return NULL;
	if (appenv_fs_begin(app) != 0)
		return NULL;
	r = realpath(path, tmp);
	appenv_fs_end(app);
	if (r == NULL || snprintf(buf, len, "%s", tmp) >= (int)len)
		return NULL;
	return buf;
}
