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
 * Drift: an app's env_file may change while its processes run on with
 * what they started with (what surprises PM2's users most).  Each build
 * keeps a snapshot: the user's environment (env files and env lines) as
 * names and keyed hashes, never values (envsum.c), and each env_file's
 * stat() signature taken just before it was read, so a write after the
 * read always shows as a new signature.  A build logs the names that
 * changed since the last one.  `tendctl status` stat()s the files of the
 * snapshots its running instances started with, as the app's user
 * (taken once for a run of apps of one user, not per app); only when a
 * signature moved does it read them again and compare, and it keeps
 * that verdict until a signature moves again, so status costs a stat()
 * per file.  It never opens what is not a regular file.
 *
 * The heap: heap = N% is N% of the memory tendd may use, divided over
 * every slot the app can run at once: 2 x instances with nginx_upstream,
 * where the new release's instances run beside the old ones during a
 * switch, so the two sets never add up to more than asked.
 */
#define _GNU_SOURCE
#include <sys/fsuid.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tendd.h"

/* An env_file as stat() saw it: a change to any of these is a write
 * (ctime also moves on chmod and on a write that keeps mtime). */
struct envsig {
	int		 err;		/* stat()'s errno, 0 if it worked */
	mode_t		 mode;
	dev_t		 dev;
	ino_t		 ino;
	off_t		 size;
	struct timespec	 mtim, ctim;
};

/* The user's environment of one build, as its processes got it. */
struct envsnap {
	unsigned	 refs;		/* the app's, and each instance's */
	uid_t		 uid;		/* who read the files */
	gid_t		 gid;
	size_t		 nfiles;
	struct envsig	*sig;		/* each env_file just before the read */
	struct envsum	 sum;
	/* What status found last, kept until a signature moves again. */
	struct envsig	*seen;		/* NULL: nothing kept */
	json_t		*drift;		/* names that differ, or NULL */
	char		 unreadable[256];	/* or why the files could not
					 * be compared */
};

/* Snapshots one status looks at per app: instances of one app started
 * from at most a few builds (blue/green keeps two). */
#define DRIFT_SNAPS_MAX	4

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
static int
fs_begin_as(uid_t uid, gid_t gid)
{
	if (geteuid() != 0 || (uid == 0 && gid == 0))
		return 0;
	(void)setfsgid(gid);
	(void)setfsuid(uid);
	/* setfsuid() says nothing about failure: ask again. */
	if ((uid_t)setfsuid((uid_t)-1) != uid ||
	    (gid_t)setfsgid((gid_t)-1) != gid) {
		appenv_fs_end(NULL);
		errno = EPERM;
		return -1;
	}
	return 0;
}

int
appenv_fs_begin(const struct app *app)
{
	return fs_begin_as(app->uid, app->gid);
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

/* path as stat() sees it now (with the fs identity in force). */
static void
sig_take(const char *path, struct envsig *s)
{
	struct stat	st;

	memset(s, 0, sizeof(*s));
	if (stat(path, &st) != 0) {
		s->err = errno;
		return;
	}
	s->mode = st.st_mode;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtim = st.st_mtim;
	s->ctim = st.st_ctim;
}

static int
sig_same(const struct envsig *a, const struct envsig *b)
{
	return a->err == b->err && a->mode == b->mode && a->dev == b->dev &&
	    a->ino == b->ino && a->size == b->size &&
	    a->mtim.tv_sec == b->mtim.tv_sec &&
	    a->mtim.tv_nsec == b->mtim.tv_nsec &&
	    a->ctim.tv_sec == b->ctim.tv_sec &&
	    a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/*
 * The env files into e, read as the app's user; errors to errs.  With
 * sig, each file's signature goes there first: taken before the read,
 * it can only be older than what was read, never newer.
 */
static int
read_env_files(const struct app *app, struct env *e, struct errs *errs,
    struct envsig *sig)
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
	for (i = 0; i < ca->env_files.n; i++) {
		if (sig != NULL)
			sig_take(ca->env_files.v[i], &sig[i]);
		if (dotenv_load(ca->env_files.v[i], e, errs) != 0)
			r = -1;
	}
	appenv_fs_end(app);
	return r;
}

static int
user_env(const struct app *app, struct env *e, struct errs *errs,
    struct envsig *sig)
{
	const struct conf_app	*ca = app->ca;
	size_t			 i;
	int			 r;

	r = read_env_files(app, e, errs, sig);
	for (i = 0; i < ca->envs.n; i++)
		if (env_setkv(e, ca->envs.v[i]) != 0) {
			errs->oom = 1;
			r = -1;
		}
	return r;
}

/*
 * The env_file(s) and env lines of app, as tendd -t and the preflight see
 * them (no base, no markers); errors to errs as "file:line: ...".
 */
int
appenv_user_env(const struct app *app, struct env *e, struct errs *errs)
{
	return user_env(app, e, errs, NULL);
}

/* --- snapshots ------------------------------------------------------ */

static void
drift_clear(struct envsnap *s)
{
	json_decref(s->drift);
	s->drift = NULL;
	s->unreadable[0] = '\0';
}

static void
snap_unref(struct envsnap *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	drift_clear(s);
	envsum_free(&s->sum);
	free(s->sig);
	free(s->seen);
	free(s);
}

static struct envsnap *
snap_ref(struct envsnap *s)
{
	if (s != NULL)
		s->refs++;
	return s;
}

/* The key of app's hashes: random, made once per app. */
static void
key_make(struct app *app)
{
	struct {
		struct timespec	 ts;
		pid_t		 pid;
		uint32_t	 rnd;
		const void	*where;
	}			 seed;
	static const unsigned char zero[ENVSUM_KEY];

	if (app->env_key_ok)
		return;
	if (getrandom(app->env_key, sizeof(app->env_key), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(app->env_key)) {
		/* The kernel's pool is not ready yet (early boot): a key
		 * no one outside can guess well still beats none. */
		memset(&seed, 0, sizeof(seed));
		(void)clock_gettime(CLOCK_MONOTONIC, &seed.ts);
		seed.pid = getpid();
		seed.rnd = app->t != NULL ? app->t->rnd : 0;
		seed.where = app;
		siphash(&seed, sizeof(seed), zero, app->env_key,
		    sizeof(app->env_key));
	}
	app->env_key_ok = 1;
}

static struct envsnap *
snap_new(struct app *app)
{
	struct envsnap	*s;
	size_t		 n = app->ca->env_files.n;

	key_make(app);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->sig = calloc(n > 0 ? n : 1, sizeof(*s->sig))) == NULL) {
		free(s);
		return NULL;
	}
	s->refs = 1;
	s->uid = app->uid;
	s->gid = app->gid;
	s->nfiles = n;
	return s;
}

/* A build made s: say what changed since the last, and keep it. */
static void
snap_installed(struct app *app, struct envsnap *s)
{
	struct envchange	*ch;
	ssize_t			 n;

	char			 text[256];

	app->env_gen++;
	free(app->env_change);
	app->env_change = NULL;
	if (app->envsnap != NULL) {
		if ((n = envsum_diff(&app->envsnap->sum, &s->sum, &ch)) < 0)
			log_warnx("%s: out of memory comparing environments",
			    app->name);
		else if (n > 0) {
			envchange_text(ch, (size_t)n, text, sizeof(text));
			free(ch);
			applog_event(app, -1, "environment changed since it "
			    "was last read: %s", text);
			log_info("%s: environment changed since it was last "
			    "read: %s", app->name, text);
			/* Kept (NULL: none) for the reply of the start. */
			app->env_change = strdup(text);
		}
	}
	snap_unref(app->envsnap);
	app->envsnap = s;
}

static int
build(struct app *app, struct env *e, struct envsnap *snap, char *why,
    size_t whylen)
{
	const struct conf_app	*ca = app->ca;
	struct errs		 errs;
	struct env		 ue;
	const char		*v;
	char			*opts;
	uint64_t		 mib;
	size_t			 i;
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
	env_init(&ue);
	if (user_env(app, &ue, &errs, snap->sig) != 0) {
		snprintf(why, whylen, "%s", errs.n > 0 ? errs.msg[0] :
		    "out of memory reading env_file");
		errs_free(&errs);
		env_free(&ue);
		return -1;
	}
	errs_free(&errs);
	/* The user's part alone is what drift compares. */
	for (i = 0; i < ue.n; i++)
		r |= env_setkv(e, ue.kv[i]);
	r |= envsum_make(&snap->sum, &ue, app->env_key);
	env_free(&ue);
	if (r != 0)
		goto oom;
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

/* Why the last build of app's environment failed (kept on the heap: an
 * app has one only while it is broken). */
static void
set_error(struct app *app, const char *why)
{
	free(app->env_error);
	app->env_error = why != NULL ? strdup(why) : NULL;
}

const char *
appenv_error(const struct app *app)
{
	return app->env_error != NULL ? app->env_error :
	    "out of memory building the environment";
}

/*
 * A start begins: build the app's environment anew (the files may have
 * changed).  0, or -1 with the reason in app->env_error.
 */
int
appenv_refresh(struct app *app)
{
	struct env	 e;
	struct envsnap	*snap;
	char		 why[512];

	if (!app->ids_ok && appenv_ids(app, why, sizeof(why)) != 0) {
		set_error(app, why);
		return -1;
	}
	if ((snap = snap_new(app)) == NULL) {
		set_error(app, "out of memory building the environment");
		return -1;
	}
	if (build(app, &e, snap, why, sizeof(why)) != 0) {
		snap_unref(snap);
		env_free(&e);
		set_error(app, why);
		if (app->env_ok)
			env_free(&app->env);
		app->env_ok = 0;
		return -1;
	}
	if (app->env_ok)
		env_free(&app->env);
	app->env = e;
	app->env_ok = 1;
	set_error(app, NULL);
	snap_installed(app, snap);
	return 0;
}

/* The environment of this start (built now if no start built one). */
const struct env *
appenv_get(struct app *app, char *why, size_t len)
{
	if (!app->env_ok && appenv_refresh(app) != 0) {
		snprintf(why, len, "%s", appenv_error(app));
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
	/* What status compares this run's files with. */
	snap_unref(in->envsnap);
	in->envsnap = snap_ref(in->app->envsnap);
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

/* Forget it all, drift records too (the app is freed). */
void
appenv_clear(struct app *app)
{
	unsigned	i;

	for (i = 0; i < app->n_inst; i++) {
		snap_unref(app->inst[i].envsnap);
		app->inst[i].envsnap = NULL;
	}
	snap_unref(app->envsnap);
	app->envsnap = NULL;
	if (app->env_ok)
		env_free(&app->env);
	app->env_ok = 0;
	app->ids_ok = 0;
	free(app->env_error);
	free(app->env_change);
	app->env_error = app->env_change = NULL;
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

/* --- drift: what status says ---------------------------------------- */

/*
 * Read app's files again (with s's fs identity in force) and say which
 * names differ from s, or why they could not be read.  Never opens what
 * is not a regular file: a FIFO would stall the loop.
 */
static void
snap_compare(struct app *app, struct envsnap *s)
{
	const struct conf_app	*ca = app->ca;
	struct envchange	*ch = NULL;
	struct envsum		 sum;
	struct errs		 errs;
	struct env		 e;
	ssize_t			 n, k;
	size_t			 i;
	int			 r = 0;

	for (i = 0; i < ca->env_files.n; i++) {
		if (s->seen[i].err != 0) {
			snprintf(s->unreadable, sizeof(s->unreadable), "%s: %s",
			    ca->env_files.v[i], strerror(s->seen[i].err));
			return;
		}
		if (!S_ISREG(s->seen[i].mode)) {
			snprintf(s->unreadable, sizeof(s->unreadable),
			    "%s: not a regular file", ca->env_files.v[i]);
			return;
		}
	}
	env_init(&e);
	errs_init(&errs);
	for (i = 0; i < ca->env_files.n; i++)
		if (dotenv_load(ca->env_files.v[i], &e, &errs) != 0)
			r = -1;
	for (i = 0; i < ca->envs.n; i++)
		if (env_setkv(&e, ca->envs.v[i]) != 0)
			r = -1;
	if (r != 0 || errs.n > 0) {
		/* dotenv's messages never quote a value. */
		snprintf(s->unreadable, sizeof(s->unreadable), "%s",
		    errs.n > 0 ? errs.msg[0] : "out of memory");
		goto out;
	}
	if (envsum_make(&sum, &e, app->env_key) != 0)
		goto oom;
	n = envsum_diff(&s->sum, &sum, &ch);
	if (n > 0 && (s->drift = json_array()) != NULL)
		for (k = 0; k < n; k++)
			if (json_array_append_new(s->drift,
			    json_string(ch[k].name)) != 0) {
				drift_clear(s);
				n = -1;
				break;
			}
	free(ch);
	envsum_free(&sum);
	if (n < 0 || (n > 0 && s->drift == NULL))
		goto oom;
out:
	errs_free(&errs);
	env_free(&e);
	return;
oom:
	/* Ask again next time rather than keep a wrong verdict. */
	free(s->seen);
	s->seen = NULL;
	goto out;
}

/* env_file lines of an app that status stats without a malloc. */
#define DRIFT_FILES_STACK	8

/*
 * Bring s's verdict up to date, with s's fs identity in force: stat()
 * only, unless a file moved.
 */
static void
snap_check(struct app *app, struct envsnap *s)
{
	const struct conf_app	*ca = app->ca;
	struct envsig		 stack[DRIFT_FILES_STACK], *now = stack;
	size_t			 i, n = ca->env_files.n;
	int			 same, cached;

	if (n == 0 && s->nfiles == 0)
		return;	/* env lines alone: a reread applies those */
	if (n > DRIFT_FILES_STACK &&
	    (now = calloc(n, sizeof(*now))) == NULL)
		return;	/* keep the last verdict */
	for (i = 0; i < n; i++)
		sig_take(ca->env_files.v[i], &now[i]);
	same = n == s->nfiles;
	for (i = 0; same && i < n; i++)
		same = sig_same(&now[i], &s->sig[i]);
	cached = !same && s->seen != NULL && n == s->nfiles;
	for (i = 0; cached && i < n; i++)
		cached = sig_same(&now[i], &s->seen[i]);
	if (same) {
		drift_clear(s);
		free(s->seen);
		s->seen = NULL;
	} else if (!cached) {
		drift_clear(s);
		free(s->seen);
		if ((s->seen = calloc(n > 0 ? n : 1, sizeof(*s->seen))) !=
		    NULL) {
			memcpy(s->seen, now, n * sizeof(*now));
			snap_compare(app, s);
		}
	}
	if (now != stack)
		free(now);
}

/* The distinct snapshots app's running instances started with. */
static size_t
running_snaps(const struct app *app, struct envsnap **v)
{
	size_t	i, j, n = 0;

	for (i = 0; i < app->n_inst; i++) {
		struct envsnap *s = app->inst[i].envsnap;

		if (!app->inst[i].running || s == NULL)
			continue;
		for (j = 0; j < n && v[j] != s; j++)
			;
		if (j == n && n < DRIFT_SNAPS_MAX)
			v[n++] = s;
	}
	return n;
}

/*
 * Before a status: bring the verdict of every app (or one) up to date.
 * The fs identity changes only between apps of different users, not
 * around each app: on a host of one app user, one switch for all.
 */
void
appenv_drift_scan(struct tend *t, struct app *one)
{
	struct envsnap	*v[DRIFT_SNAPS_MAX];
	struct app	*app;
	size_t		 i, n;
	uid_t		 uid = 0;
	gid_t		 gid = 0;
	int		 as = 0;

	TAILQ_FOREACH(app, &t->apps, entry) {
		if (one != NULL && app != one)
			continue;
		n = running_snaps(app, v);
		for (i = 0; i < n; i++) {
			if (!as || v[i]->uid != uid || v[i]->gid != gid) {
				if (as)
					appenv_fs_end(NULL);
				as = 0;
				if (fs_begin_as(v[i]->uid, v[i]->gid) != 0) {
					drift_clear(v[i]);
					snprintf(v[i]->unreadable,
					    sizeof(v[i]->unreadable), "cannot "
					    "take the identity of the app's user "
					    "to read its env_file");
					free(v[i]->seen);
					v[i]->seen = NULL;
					continue;
				}
				as = 1;
				uid = v[i]->uid;
				gid = v[i]->gid;
			}
			snap_check(app, v[i]);
		}
	}
	if (as)
		appenv_fs_end(NULL);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Status, after appenv_drift_scan: "env_changed" (the names that differ,
 * sorted) when the app's running processes started with an environment
 * its env_file(s) no longer give; empty, with "env_unreadable" saying
 * why, when the files cannot be read to compare.  Nothing when they
 * match.
 */
void
appenv_drift_json(struct app *app, json_t *o)
{
	struct envsnap	*seen[DRIFT_SNAPS_MAX];
	const char	**v = NULL, *unreadable = NULL;
	json_t		*names, *nm;
	size_t		 nseen, nnames = 0, i, j, k;

	nseen = running_snaps(app, seen);
	for (i = 0; i < nseen; i++) {
		if (seen[i]->unreadable[0] != '\0')
			unreadable = seen[i]->unreadable;
		nnames += json_array_size(seen[i]->drift);
	}
	if (unreadable == NULL && nnames == 0)
		return;
	if ((names = json_array()) == NULL)
		return;
	if (nnames > 0 && (v = calloc(nnames, sizeof(*v))) != NULL) {
		/* Instances of two builds (a switch): one sorted list. */
		for (i = 0, k = 0; i < nseen; i++)
			json_array_foreach(seen[i]->drift, j, nm)
				v[k++] = json_string_value(nm);
		qsort(v, nnames, sizeof(*v), name_cmp);
		for (i = 0; i < nnames; i++)
			if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
				json_array_append_new(names,
				    json_string(v[i]));
		free(v);
	}
	json_object_set_new(o, "env_changed", names);
	if (unreadable != NULL)
		json_object_set_new(o, "env_unreadable", json_string(
		    unreadable));
}
