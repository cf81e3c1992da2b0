/*
 * prep.c: what happens between "start" and the first spawn of an app.
 *
 *   preflight   the checks of preflight.c; failures that may pass by
 *               themselves (a database still booting) are retried for
 *               preflight_timeout, the others fail the start at once;
 *               a missing database is created when create_database = yes
 *   migrating   only for a release not yet migrated by this tendd:
 *               take the migration lock, dump the database
 *               (backup_before_migrate), run `migrate`
 *
 * Everything driven by the app's DATABASE_URL (the probes, pg_dump) runs
 * as the app's user and group; root only creates, renames and removes
 * the dump in its own backup directory.
 *
 * The migration lock is a PostgreSQL session advisory lock, held on a
 * connection of its own for as long as the migration runs, with the key
 *
 *     hashtextextended('tend migrate ' || current_database(), 0)
 *
 * so every tendd on every host, and every app that migrates the same
 * database, waits its turn; a tendd that dies drops its connection and so
 * its lock.  While waiting, status names the holder (its tendd's pid and
 * host, from the application_name of its lock connection).
 *
 * An app has at most one prep.  Its instances sit in ST_PREFLIGHT or
 * ST_MIGRATING meanwhile and get EV_PREP_OK or EV_PREP_FAIL at the end.
 * If every instance is stopped meanwhile the prep is canceled: a running
 * job (pg_dump, the migration) is stopped, and the prep, its lock still
 * held, lives until that job is gone.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tendd.h"

/* Each preflight attempt is bounded by this, and by what is left. */
#define PREP_CHECK_MS		3000
/* Delay between attempts while a service is not there yet. */
#define PREP_RETRY_FIRST_MS	500
#define PREP_RETRY_MAX_MS	5000
/* Connecting for the lock or for CREATE DATABASE. */
#define PREP_CONNECT_MS		10000

enum prep_step { PS_CHECK, PS_CREATEDB, PS_LOCK, PS_BACKUP, PS_MIGRATE };

struct prep {
	struct app	*app;
	enum prep_step	 step;
	int		 canceled;
	int		 migrate;	/* a migration is due */
	int		 asked;		/* the fleet's record was asked */
	int		 asking;	/* and has not answered yet */
	int		 created;	/* create_database already tried */
	struct preflight *pf;
	struct probe	*pg;		/* CREATE DATABASE, or the lock */
	int		 locked;
	struct job	*job;
	uv_timer_t	 timer;		/* step dispatch, retries, lock wait */
	uint64_t	 started;
	uint64_t	 retry_ms;
	uint64_t	 step_at;
	char		*release;	/* realpath of the dir it runs in */
	char		*dir;		/* that dir, for the migration */
	char		*url;		/* DATABASE_URL: in memory only */
	struct env	 env;		/* the app's, for the jobs */
	char		 key[32];	/* the lock key, as text */
	char		 newdb[128];	/* create_database: its name */
	int		 bdir;		/* backup_before_migrate, open */
	char		 dump[PATH_MAX];	/* the backup this prep made */
	char		 dname[NAME_MAX + 1];	/* its name in bdir */
	char		 part[NAME_MAX + 1];	/* and while pg_dump writes */
	char		 restore[PATH_MAX + 700];
	char		 detail[700];	/* what it is doing, for status */
};

static void	prep_next(struct prep *);
static void	prep_fleet_cb(void *, int);
static void	prep_run_cb(uv_timer_t *);

static void
prep_closed_cb(uv_handle_t *h)
{
	struct prep	*p = h->data;
	struct app	*app = p->app;

	env_free(&p->env);
	if (p->bdir >= 0)
		close(p->bdir);
	free(p->release);
	free(p->dir);
	if (p->url != NULL)
		explicit_bzero(p->url, strlen(p->url));
	free(p->url);
	free(p);
	app_handle_done(app);
}

/* Gone for good: the lock (if held) goes with the connection. */
static void
prep_free(struct prep *p)
{
	if (p->pf != NULL)
		preflight_cancel(p->pf);
	p->pf = NULL;
	/* The lock goes with the probe's connection. */
	probe_release(p->pg);
	p->pg = NULL;
	uv_close((uv_handle_t *)&p->timer, prep_closed_cb);
}

static void
prep_set_detail(struct prep *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
prep_set_detail(struct prep *p, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
	va_end(ap);
	app_notify(p->app);
}

/* The end: tell the instances waiting for it. */
static void
prep_finish(struct prep *p, int ok, const char *reason)
{
	struct app	*app = p->app;
	unsigned	 i;

	if (app->prep == p)
		app->prep = NULL;
	if (!p->canceled) {
		if (!ok) {
			applog_event(app, -1, "%s", reason);
			log_warnx("%s: %s", app->name, reason);
		}
		for (i = 0; i < app->n_inst; i++) {
			struct inst *in = &app->inst[i];

			if (in->state != ST_PREFLIGHT && in->state != ST_MIGRATING)
				continue;
			if (ok)
				inst_event(in, EV_PREP_OK);
			else
				inst_event_why(in, EV_PREP_FAIL, "%s", reason);
		}
	}
	prep_free(p);
	app_notify(app);
}

static void
prep_fail(struct prep *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
prep_fail(struct prep *p, const char *fmt, ...)
{
	char	reason[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	prep_finish(p, 0, reason);
}

static void
prep_goto(struct prep *p, enum prep_step s, uint64_t delay)
{
	p->step = s;
	uv_timer_start(&p->timer, prep_run_cb, delay, 0);
}

static void
set_last(struct app *app, const char *what, json_t *v)
{
	if (app->prep_last == NULL && (app->prep_last = json_object()) == NULL) {
		json_decref(v);
		return;
	}
	json_object_set_new(app->prep_last, what, v);
}

/* --- preflight -------------------------------------------------------- */

static void
prep_checked_cb(void *arg, int outcome, json_t *checks, const char *reason,
    const char *missing_db)
{
	struct prep	*p = arg;
	struct app	*app = p->app;
	uint64_t	 now = uv_now(app->t->loop), left;
	size_t		 i;
	char		 d[32];

	p->pf = NULL;
	for (i = 0; i < json_array_size(checks); i++) {
		json_t *c = json_array_get(checks, i);

		if (json_is_true(json_object_get(c, "warning")))
			applog_event(app, -1, "preflight: warning: %s",
			    json_string_value(json_object_get(c, "detail")));
	}
	set_last(app, "preflight", json_deep_copy(checks));
	if (outcome == CHECK_OK) {
		p->retry_ms = 0;
		prep_next(p);
		return;
	}
	if (outcome == CHECK_FAIL && missing_db != NULL &&
	    app->ca->create_database && !p->created && p->url != NULL) {
		p->created = 1;
		snprintf(p->newdb, sizeof(p->newdb), "%s", missing_db);
		prep_set_detail(p, "creating database \"%s\"", p->newdb);
		prep_goto(p, PS_CREATEDB, 0);
		return;
	}
	left = now - p->started < app->ca->preflight_timeout ?
	    app->ca->preflight_timeout - (now - p->started) : 0;
	if (outcome == CHECK_RETRY && left > 0) {
		p->retry_ms = p->retry_ms == 0 ? PREP_RETRY_FIRST_MS :
		    p->retry_ms * 2 > PREP_RETRY_MAX_MS ? PREP_RETRY_MAX_MS :
		    p->retry_ms * 2;
		format_duration(d, sizeof(d), left);
		prep_set_detail(p, "waiting: %s (trying again for %s)", reason, d);
		if (p->retry_ms == PREP_RETRY_FIRST_MS)
			applog_event(app, -1, "preflight: %s; trying again for "
			    "up to %s", reason, d);
		prep_goto(p, PS_CHECK, p->retry_ms < left ? p->retry_ms : left);
		return;
	}
	if (outcome == CHECK_RETRY) {
		format_duration(d, sizeof(d), app->ca->preflight_timeout);
		prep_fail(p, "preflight failed: %s (still so after %s, "
		    "preflight_timeout)", reason, d);
	} else
		prep_fail(p, "preflight failed: %s", reason);
}

static void
prep_check(struct prep *p)
{
	struct app	*app = p->app;
	uint64_t	 now = uv_now(app->t->loop), left, ms;

	left = now - p->started < app->ca->preflight_timeout ?
	    app->ca->preflight_timeout - (now - p->started) : 1;
	ms = left < PREP_CHECK_MS ? left : PREP_CHECK_MS;
	if (ms < 500)
		ms = 500;
	if (p->detail[0] == '\0')
		prep_set_detail(p, "checking the database and Redis");
	if ((p->pf = preflight_start(app, ms, prep_checked_cb, p)) == NULL)
		prep_fail(p, "preflight: out of memory");
}

/* --- create_database -------------------------------------------------- */

static void
prep_created_line_cb(void *arg, json_t *msg)
{
	struct prep	*p = arg;
	json_t		*ok = json_object_get(msg, "ok");
	const char	*d = json_string_value(json_object_get(msg, "detail"));

	struct probe	*pr = p->pg;

	if (!json_is_integer(ok) || pr == NULL)
		return;
	p->pg = NULL;
	probe_release(pr);	/* no callback of it reaches p any more */
	if (json_integer_value(ok) != CHECK_OK) {
		prep_fail(p, "create_database: cannot create database \"%s\": %s "
		    "(the user in DATABASE_URL needs CREATEDB, or create it "
		    "yourself)", p->newdb, d ? d : "?");
		return;
	}
	applog_event(p->app, -1, "created database \"%s\" (create_database "
	    "= yes)", p->newdb);
	log_info("%s: created database \"%s\"", p->app->name, p->newdb);
	prep_goto(p, PS_CHECK, 0);
}

static void
prep_created_done_cb(void *arg, int status)
{
	struct prep	*p = arg;

	if (p->pg == NULL)
		return;		/* answered */
	p->pg = NULL;
	prep_fail(p, "create_database: %s", status == -1 ? "no answer in time" :
	    "the probe failed");
}

static void
prep_createdb(struct prep *p)
{
	p->pg = probe_start(p->app->t, p->app->ca->user, p->app->ca->group,
	    "createdb", p->url, p->newdb, PREP_CONNECT_MS, prep_created_line_cb,
	    prep_created_done_cb, p);
	if (p->pg == NULL)
		prep_fail(p, "create_database: cannot run tend-probe");
}

/* --- the migration lock ---------------------------------------------- */

static void
prep_lock_line_cb(void *arg, json_t *msg)
{
	struct prep	*p = arg;
	const char	*ev = json_string_value(json_object_get(msg, "event")),
			*d = json_string_value(json_object_get(msg, "detail"));

	if (ev != NULL && strcmp(ev, "waiting") == 0 && d != NULL) {
		prep_set_detail(p, "%s", d);
		applog_event(p->app, -1, "migrate: %s", p->detail);
		return;
	}
	if (ev != NULL && strcmp(ev, "locked") == 0 && !p->locked) {
		p->locked = 1;
		snprintf(p->key, sizeof(p->key), "%s", json_string_value(
		    json_object_get(msg, "key")) ? json_string_value(
		    json_object_get(msg, "key")) : "?");
		uv_timer_stop(&p->timer);
		applog_event(p->app, -1, "migrate: holding the migration lock "
		    "(key %s)", p->key);
		prep_next(p);
		return;
	}
	if (json_is_integer(json_object_get(msg, "ok")) && !p->locked) {
		struct probe *pr = p->pg;

		p->pg = NULL;
		probe_release(pr);
		prep_fail(p, "migration lock: %s", d ? d : "?");
	}
}

static void
prep_lock_done_cb(void *arg, int status)
{
	struct prep	*p = arg;

	if (p->pg == NULL)
		return;
	p->pg = NULL;
	if (!p->locked)
		prep_fail(p, "migration lock: %s", status == -1 ?
		    "no answer in time" : "the probe failed");
	else
		log_warnx("%s: the migration lock's connection ended during the "
		    "migration", p->app->name);
}

static void
prep_lock_timeout_cb(uv_timer_t *h)
{
	struct prep	*p = h->data;
	char		 d[32];

	format_duration(d, sizeof(d), p->app->ca->migrate_timeout);
	prep_fail(p, "migration failed: still %s after %s (migrate_timeout)",
	    p->detail, d);
}

static void
prep_lock(struct prep *p)
{
	if (p->url == NULL) {
		applog_event(p->app, -1, "migrate: no DATABASE_URL: running the "
		    "migration without the lock");
		prep_next(p);
		return;
	}
	prep_set_detail(p, "taking the migration lock");
	/* The wait for the lock counts against migrate_timeout. */
	uv_timer_start(&p->timer, prep_lock_timeout_cb,
	    p->app->ca->migrate_timeout, 0);
	/* The probe's own limit is for connecting; the wait is ours. */
	p->pg = probe_start(p->app->t, p->app->ca->user, p->app->ca->group,
	    "lock", p->url, p->app->name, 0, prep_lock_line_cb,
	    prep_lock_done_cb, p);
	if (p->pg == NULL)
		prep_fail(p, "migration lock: cannot run tend-probe");
}

/* --- backup ----------------------------------------------------------- */

/*
 * backup_before_migrate's directory is root's and the dump in it holds
 * every customer's data, while pg_dump runs as the app's user (the
 * DATABASE_URL is theirs).  So tendd creates the file itself, openat() on
 * the directory (rootdir.c: root's alone all the way up; missing ones
 * made, mode 0700) with O_EXCL|O_NOFOLLOW and mode 0600 under a temporary
 * name, hands pg_dump the open file as its stdout, and renames it once
 * pg_dump succeeded (or removes it): the user never names, opens or
 * replaces anything there.
 */
/* APP-2026...dump of this app (a digit after "APP-": not another app's). */
static int
is_app_dump(const char *name, void *arg)
{
	const char	*app = arg;
	size_t		 alen = strlen(app), l = strlen(name);

	return strncmp(name, app, alen) == 0 && name[alen] == '-' &&
	    name[alen + 1] >= '0' && name[alen + 1] <= '9' && l > alen + 6 &&
	    strcmp(name + l - 5, ".dump") == 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The names in dir that want(name, arg) accepts, sorted (dumps are named
 * by time, so oldest first); *n of them.  NULL with *n = 0 when there are
 * none or dir cannot be read.  Free with names_free().
 */
static char **
dir_names(const char *dir, int (*want)(const char *, void *), void *arg,
    size_t *n)
{
	char		**names = NULL, **nn;
	size_t		  cap = 0;
	struct dirent	 *de;
	DIR		 *d;

	*n = 0;
	if ((d = opendir(dir)) == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (!want(de->d_name, arg))
			continue;
		if (*n == cap) {
			if ((nn = reallocarray(names, cap ? cap * 2 : 16,
			    sizeof(*names))) == NULL)
				break;
			names = nn;
			cap = cap ? cap * 2 : 16;
		}
		if ((names[*n] = strdup(de->d_name)) == NULL)
			break;
		(*n)++;
	}
	closedir(d);
	if (*n > 0)
		qsort(names, *n, sizeof(*names), name_cmp);
	return names;
}

static void
names_free(char **names, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Keep the newest backup_keep dumps of this app (names sort by time). */
static void
prep_prune(struct prep *p)
{
	const char	*dir = p->app->ca->backup_dir;
	char		 **names;
	size_t		 n, i;

	names = dir_names(dir, is_app_dump, p->app->name, &n);
	for (i = 0; i + p->app->ca->backup_keep < n; i++)
		if (unlinkat(p->bdir, names[i], 0) == 0)
			applog_event(p->app, -1, "backup: removed %s/%s "
			    "(backup_keep = %u)", dir, names[i],
			    p->app->ca->backup_keep);
	names_free(names, n);
}

static void
prep_dumped_cb(void *arg, struct job *j)
{
	struct prep	*p = arg;
	char		 out[128], tail[600];
	uint64_t	 ms = job_elapsed(j);
	struct stat	 st;

	p->job = NULL;
	if (p->canceled) {
		unlinkat(p->bdir, p->part, 0);
		prep_free(p);
		return;
	}
	if (!job_ok(j)) {
		job_outcome(j, out, sizeof(out));
		job_tail(j, tail, sizeof(tail));
		unlinkat(p->bdir, p->part, 0);
		prep_fail(p, "backup failed, so the migration did not run: "
		    "pg_dump %s%s%s", out, tail[0] ? ": " : "", tail);
		return;
	}
	if (renameat(p->bdir, p->part, p->bdir, p->dname) != 0) {
		prep_fail(p, "backup failed, so the migration did not run: "
		    "rename %s: %s", p->part, strerror(errno));
		unlinkat(p->bdir, p->part, 0);
		return;
	}
	applog_event(p->app, -1, "backup: %s (%lld bytes in %llu ms)", p->dump,
	    fstatat(p->bdir, p->dname, &st, AT_SYMLINK_NOFOLLOW) == 0 ?
	    (long long)st.st_size : -1LL, (unsigned long long)ms);
	set_last(p->app, "backup", json_pack("{s:s,s:s,s:I}", "file", p->dump,
	    "restore", p->restore, "at_ms", (json_int_t)uv_now(p->app->t->loop)));
	prep_prune(p);
	prep_next(p);
}

/* s as one shell word, quoted only when it needs to be. */
static const char *
shell_word(const char *s, char *buf, size_t len)
{
	size_t	o = 0;

	if (*s != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
	    "opqrstuvwxyz0123456789_./:=@%+,-") == strlen(s))
		return s;
	if (len < 3)
		return "''";
	buf[o++] = '\'';
	for (; *s != '\0' && o + 6 < len; s++) {
		if (*s == '\'') {
			memcpy(buf + o, "'\\''", 4);
			o += 4;
		} else
			buf[o++] = *s;
	}
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

/* The pg_restore command status shows: the parts, never the password. */
static void
prep_restore_cmd(struct prep *p, const struct pg_url *u)
{
	char	h[600], us[300], d[300], f[PATH_MAX * 4 + 3];

	snprintf(p->restore, sizeof(p->restore), "pg_restore --clean "
	    "--if-exists --no-owner%s%s%s%s%s%s -d %s %.4000s",
	    u->host[0] ? " -h " : "", u->host[0] ?
	    shell_word(u->host, h, sizeof(h)) : "",
	    u->port[0] ? " -p " : "", u->port,
	    u->user[0] ? " -U " : "", u->user[0] ?
	    shell_word(u->user, us, sizeof(us)) : "",
	    u->db[0] ? shell_word(u->db, d, sizeof(d)) : "DBNAME",
	    shell_word(p->dump, f, sizeof(f)));
}

/* prog on PROBE_PATH, as an absolute path (exec-as execs one). */
static int
prep_which(const char *prog, char *buf, size_t len)
{
	const char	*c, *e;

	for (c = PROBE_PATH; *c != '\0'; c = *e ? e + 1 : e) {
		e = c + strcspn(c, ":");
		if (*c != '/')
			continue;
		if ((size_t)snprintf(buf, len, "%.*s/%s", (int)(e - c), c,
		    prog) < len && access(buf, X_OK) == 0)
			return 0;
	}
	return -1;
}

static void
prep_backup(struct prep *p)
{
	const struct conf_app	*ca = p->app->ca;
	struct job_spec		 js;
	struct env		 e;
	struct pg_url		 u;
	struct passwd		*pw;
	char			 stamp[TIME_ISO_MAX], why[512], dbarg[1200], prog[PATH_MAX];
	char			*argv[] = { prog, "--format=custom", "--no-password",
				    dbarg, NULL };
	int			 fd, as_other = 0, r;

	if (ca->backup_dir == NULL || p->url == NULL) {
		prep_next(p);
		return;
	}
	/* The parts url.c honours, and nothing else, reach pg_dump. */
	if (pg_url_parse(p->url, &u, why, sizeof(why)) != 0) {
		explicit_bzero(&u, sizeof(u));
		prep_fail(p, "backup failed, so the migration did not run: "
		    "DATABASE_URL: %s", why);
		return;
	}
	r = pg_url_conninfo(&u, dbarg + 9, sizeof(dbarg) - 9);
	memcpy(dbarg, "--dbname=", 9);
	pw = spawn_user(ca->user, ca->group, &as_other, why, sizeof(why));
	if (r != 0 || as_other < 0 || prep_which("pg_dump", prog,
	    sizeof(prog)) != 0) {
		explicit_bzero(&u, sizeof(u));
		prep_fail(p, "backup failed, so the migration did not run: %s",
		    r != 0 ? "DATABASE_URL is too long" : as_other < 0 ? why :
		    "pg_dump is not installed (postgresql-client)");
		return;
	}
	if (p->bdir < 0 && (p->bdir = rootdir_open(ca->backup_dir, 0700, why,
	    sizeof(why))) < 0) {
		explicit_bzero(&u, sizeof(u));
		prep_fail(p, "backup failed, so the migration did not run: %s",
		    why);
		return;
	}
	time_iso(stamp, sizeof(stamp), time_now_ms(), TIME_BASIC);
	snprintf(p->dname, sizeof(p->dname), "%s-%s.dump", p->app->name,
	    stamp);
	snprintf(p->part, sizeof(p->part), ".%s-%s.dump.part", p->app->name,
	    stamp);
	snprintf(p->dump, sizeof(p->dump), "%s/%s", ca->backup_dir, p->dname);
	prep_restore_cmd(p, &u);
	fd = openat(p->bdir, p->part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd >= 0 && fd <= 2) {
		/* Never a standard stream's number: job_spec reads 0 as "the
		 * log", and the child's 0-2 are set from these. */
		int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);

		close(fd);
		fd = nfd;
	}
	if (fd < 0) {
		explicit_bzero(&u, sizeof(u));
		prep_fail(p, "backup failed, so the migration did not run: "
		    "create %s/%s: %s", ca->backup_dir, p->part, strerror(errno));
		return;
	}
	/* The password only in pg_dump's environment, which only its user
	 * and root can read; never on its command line. */
	if (probe_env(&e, pw) != 0 ||
	    (u.pass[0] != '\0' && env_set(&e, "PGPASSWORD", u.pass) != 0)) {
		explicit_bzero(&u, sizeof(u));
		env_free(&e);
		close(fd);
		unlinkat(p->bdir, p->part, 0);
		prep_fail(p, "backup failed, so the migration did not run: out "
		    "of memory");
		return;
	}
	explicit_bzero(&u, sizeof(u));
	memset(&js, 0, sizeof(js));
	js.stream = "backup";
	js.argv = argv;
	js.cwd = "/";
	js.env = e.kv;
	js.user = ca->user;
	js.group = ca->group;
	js.stdout_fd = fd;
	js.timeout_ms = ca->migrate_timeout;
	js.kill_timeout = 5000;
	prep_set_detail(p, "backup: pg_dump into %s", p->dump);
	p->job = job_start(p->app, &js, prep_dumped_cb, NULL, p, why,
	    sizeof(why));
	/* pg_dump has its copy; the name is renamed or removed via bdir. */
	close(fd);
	env_free(&e);
	if (p->job == NULL) {
		unlinkat(p->bdir, p->part, 0);
		prep_fail(p, "backup failed, so the migration did not run: "
		    "pg_dump: %s", why);
	}
}

/* --- migrate ---------------------------------------------------------- */

static void
prep_migrated_cb(void *arg, struct job *j)
{
	struct prep	*p = arg;
	struct app	*app = p->app;
	char		 out[128], tail[600], d[32], *rel;
	uint64_t	 ms = job_elapsed(j);

	p->job = NULL;
	if (p->canceled) {
		prep_free(p);
		return;
	}
	format_duration(d, sizeof(d), ms);
	if (!job_ok(j)) {
		job_outcome(j, out, sizeof(out));
		job_tail(j, tail, sizeof(tail));
		set_last(app, "migration", json_pack("{s:b,s:s,s:I,s:s}",
		    "ok", 0, "release", p->release, "ms", (json_int_t)ms,
		    "outcome", out));
		prep_fail(p, "migration failed: `%s` %s after %s%s%s%s%s",
		    app->ca->migrate, out, d, tail[0] ? "; last output: " : "",
		    tail, p->restore[0] ? "; the backup taken before it "
		    "restores with: " : "", p->restore);
		return;
	}
	applog_event(app, -1, "migrate: done in %s", d);
	set_last(app, "migration", json_pack("{s:b,s:s,s:I}", "ok", 1,
	    "release", p->release, "ms", (json_int_t)ms));
	if ((rel = strdup(p->release)) != NULL) {
		free(app->migrated);
		app->migrated = rel;
	}
	prep_finish(p, 1, NULL);
}

static void
prep_migrate(struct prep *p)
{
	struct app		*app = p->app;
	const struct conf_app	*ca = app->ca;
	struct job_spec		 js;
	char			 why[512];
	unsigned		 i;

	for (i = 0; i < app->n_inst; i++)
		if (app->inst[i].state == ST_PREFLIGHT)
			inst_event(&app->inst[i], EV_MIGRATE);
	memset(&js, 0, sizeof(js));
	js.stream = "migrate";
	js.cmd = ca->migrate;
	js.cwd = p->dir;
	js.env = p->env.kv;
	js.user = ca->user;
	js.group = ca->group;
	js.timeout_ms = ca->migrate_timeout;
	js.stop_signal = ca->stop_signal;
	js.kill_timeout = ca->kill_timeout;
	prep_set_detail(p, "running `%s`", ca->migrate);
	if ((p->job = job_start(app, &js, prep_migrated_cb, NULL, p, why,
	    sizeof(why))) == NULL)
		prep_fail(p, "migration failed: %s", why);
}

/* --- sequencing ------------------------------------------------------- */

/* The fleet's answer: a migration it records as run is not run again. */
static void
prep_fleet_cb(void *arg, int ran)
{
	struct prep	*p = arg;
	struct app	*app = p->app;
	char		*rel;

	p->asking = 0;
	if (p->canceled) {
		prep_free(p);
		return;
	}
	if (ran && (rel = strdup(p->release)) != NULL) {
		applog_event(app, -1, "migrate: skipped: the fleet records "
		    "this release's migration as run (tend.migration)");
		log_info("%s: migration of %s skipped: the fleet records it "
		    "as run", app->name, p->release);
		free(app->migrated);
		app->migrated = rel;
		p->migrate = 0;
	}
	prep_next(p);
}

/* After a step succeeded: the next one that applies, or the end. */
static void
prep_next(struct prep *p)
{
	unsigned	i;

	switch (p->step) {
	case PS_CHECK:
	case PS_CREATEDB:
		if (!p->migrate) {
			prep_finish(p, 1, NULL);
			return;
		}
		/* In a fleet, another host (or this one, before a restart)
		 * may have run this release's migration: its record wins. */
		if (!p->asked && p->app->t->migration_ran != NULL) {
			p->asked = p->asking = 1;
			prep_set_detail(p, "asking the fleet whether this "
			    "release's migration ran");
			p->app->t->migration_ran(p->app, p->release,
			    prep_fleet_cb, p);
			return;
		}
		for (i = 0; i < p->app->n_inst; i++)
			if (p->app->inst[i].state == ST_PREFLIGHT)
				inst_event(&p->app->inst[i], EV_MIGRATE);
		prep_goto(p, PS_LOCK, 0);
		return;
	case PS_LOCK:
		prep_goto(p, PS_BACKUP, 0);
		return;
	case PS_BACKUP:
		prep_goto(p, PS_MIGRATE, 0);
		return;
	case PS_MIGRATE:
		prep_finish(p, 1, NULL);
		return;
	}
}

static void
prep_run_cb(uv_timer_t *h)
{
	struct prep	*p = h->data;

	p->step_at = uv_now(p->app->t->loop);
	switch (p->step) {
	case PS_CHECK:
		if (!p->app->ca->preflight) {
			prep_next(p);
			return;
		}
		prep_check(p);
		break;
	case PS_CREATEDB:
		prep_createdb(p);
		break;
	case PS_LOCK:
		prep_lock(p);
		break;
	case PS_BACKUP:
		prep_backup(p);
		break;
	case PS_MIGRATE:
		prep_migrate(p);
		break;
	}
}

/* A release is known by the real path of the dir it runs in, resolved
 * with the app user's identity: the links are the user's. */
static char *
release_of(struct inst *in)
{
	char		 buf[PATH_MAX], d[PATH_MAX];
	const char	*dir = inst_dir(in, d, sizeof(d));

	return strdup(appenv_realpath(in->app, dir, buf, sizeof(buf)) != NULL ?
	    buf : dir);
}

/*
 * Does a start of app go through a prep?  When there is something to
 * check (a database or Redis to ask, a profile's rules) or a migration
 * due for its release.  An environment that does not build is left to the
 * spawn, which reports it.
 */
int
prep_wanted(struct inst *in)
{
	struct app		*app = in->app;
	const struct conf_app	*ca = app->ca;
	const struct env	*e;
	const char		*db, *redis;
	char			 why[512], *rel;
	int			 want = 0;
	size_t			 i;

	if (app->prep != NULL)
		return 1;
	if (ca->migrate != NULL) {
		if ((rel = release_of(in)) == NULL)
			return 0;
		want = app->migrated == NULL || strcmp(app->migrated, rel) != 0;
		free(rel);
	}
	if (want || !ca->preflight)
		return want;
	if ((e = appenv_get(app, why, sizeof(why))) == NULL)
		return 0;
	db = env_get(e, "DATABASE_URL");
	if ((db != NULL && *db != '\0') || ca->profile != PROFILE_NONE)
		return 1;
	/* REDIS_URL and the module URLs the preflight checks too. */
	for (i = 0; profile_redis_vars[i] != NULL; i++)
		if ((redis = env_get(e, profile_redis_vars[i])) != NULL &&
		    *redis != '\0')
			return 1;
	return 0;
}

/* An instance waits for the app's prep, started if need be.  -1: none. */
int
prep_join(struct inst *in)
{
	struct app	*app = in->app;
	struct prep	*p;
	char		 why[512];
	const char	*db;

	if (app->prep != NULL)
		return 0;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->app = app;
	p->bdir = -1;
	if ((p->release = release_of(in)) == NULL ||
	    (p->dir = strdup(inst_dir(in, p->dump, sizeof(p->dump)))) == NULL) {
		free(p->release);
		free(p);
		return -1;
	}
	p->dump[0] = '\0';
	if (appenv_copy(app, &p->env, why, sizeof(why)) != 0) {
		free(p->release);
		free(p->dir);
		free(p);
		return -1;
	}
	db = env_get(&p->env, "DATABASE_URL");
	if (db != NULL && *db != '\0' && (p->url = strdup(db)) == NULL) {
		env_free(&p->env);
		free(p->release);
		free(p->dir);
		free(p);
		return -1;
	}
	p->migrate = app->ca->migrate != NULL && (app->migrated == NULL ||
	    strcmp(app->migrated, p->release) != 0);
	p->started = uv_now(app->t->loop);
	uv_timer_init(app->t->loop, &p->timer);
	p->timer.data = p;
	app->nhandles++;
	app->prep = p;
	/* From the loop: the instance is still settling into its state. */
	prep_goto(p, PS_CHECK, 0);
	return 0;
}

/* An instance stopped waiting; with none left, the prep is canceled. */
void
prep_leave(struct app *app)
{
	struct prep	*p = app->prep;
	unsigned	 i;

	if (p == NULL)
		return;
	for (i = 0; i < app->n_inst; i++)
		if (app->inst[i].state == ST_PREFLIGHT ||
		    app->inst[i].state == ST_MIGRATING)
			return;
	app->prep = NULL;
	p->canceled = 1;
	uv_timer_stop(&p->timer);
	if (p->job != NULL) {
		/* Its done callback frees the prep; the lock is held until
		 * the migration is really gone. */
		job_cancel(p->job);
		return;
	}
	if (p->asking)
		return;		/* prep_fleet_cb frees it */
	prep_free(p);
}

const char *
prep_detail(const struct app *app)
{
	return app->prep != NULL ? app->prep->detail : NULL;
}

/* 0 with b filled when a backup was taken, else -1. */
int
prep_last_backup(const struct app *app, struct prep_backup *b)
{
	json_t	*o = app->prep_last != NULL ?
		    json_object_get(app->prep_last, "backup") : NULL;

	if (o == NULL)
		return -1;
	b->file = json_string_value(json_object_get(o, "file"));
	b->restore = json_string_value(json_object_get(o, "restore"));
	b->at_ms = (uint64_t)json_integer_value(json_object_get(o, "at_ms"));
	return 0;
}

/* Status: what the prep does now, and what the last ones did. */
void
prep_status(struct app *app, json_t *o)
{
	if (app->prep != NULL)
		json_object_set_new(o, "step", json_string(app->prep->detail));
	if (app->prep_last != NULL)
		json_object_update(o, app->prep_last);
}
