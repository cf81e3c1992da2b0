/*
 * tendd.c: main(): options, loading and checking the configuration,
 * signals, and the shutdown order (stop accepting, stop every app within
 * its kill_timeout, close every handle, prove the loop empty, exit 0).
 *
 *   tendd [-f] [-d] [-c FILE]     run (-f: in the foreground, as systemd does)
 *   tendd -t [-c FILE]            check the configuration and exit
 *   tendd -p                      print the built-in paths and exit
 *   tendd ... --handover FILE     (exec'd by tendd itself on SIGUSR2:
 *                                 take over its apps; handover.c)
 */
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tendd.h"

/* How often a group that outlived its leader is polled. */
/* How often memory limits are checked (only if some app has one). */
#define TICK_MS		1000

#define TENDD_USAGE	"usage: tendd [-dfptV] [-c config]\n"

static void
usage(void)
{
	fprintf(stderr, TENDD_USAGE);
	exit(2);
}

/* --help: asked for, so on stdout and a success. */
static void
help(void)
{
	printf(TENDD_USAGE
	    "  -c FILE        the configuration (default %s)\n"
	    "  -d             log debug messages\n"
	    "  -f             stay in the foreground\n"
	    "  -t             check the configuration and exit\n"
	    "  -p             print the version and the built-in paths\n"
	    "  -V, --version  print the version and git commit\n"
	    "  -h, --help     print this help\n"
	    "See tendd(8).\n", TEND_DEFAULT_CONF);
	exit(0);
}

/* tendd -p: the paths this build was configured with (--sysconfdir,
 * --runstatedir, --localstatedir, --libexecdir), so a packager or a user
 * of a from-source build can see where tendd, tendctl and the unit look. */
static int
print_paths(void)
{
	printf("version    %s\n", PACKAGE_VERSION);
	printf("config     %s\n", TEND_DEFAULT_CONF);
	printf("socket     %s\n", TEND_DEFAULT_SOCKET);
	printf("state_dir  %s\n", TEND_DEFAULT_STATE_DIR);
	printf("log_dir    %s\n", TEND_DEFAULT_LOG_DIR);
	printf("probe      %s\n", PKGLIBEXECDIR "/tend-probe");
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

static void
print_errs(const struct errs *errs)
{
	size_t	i;

	for (i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->msg[i]);
	if (errs->oom)
		fprintf(stderr, "tendd: out of memory\n");
}

static int	check_load_env(const struct conf_app *, struct env *,
		    struct errs *, void *);
static void	check_root_dirs(const struct conf *, struct errs *);

/* Load and check path; warnings are printed (or logged) and kept out of
 * errs, which only holds what makes the config unusable.  A profile rule
 * broken by an app's environment is an error for tendd -t (strict) but
 * only a warning for the daemon: the preflight then fails that app alone
 * instead of keeping every other app down. */
static struct conf *
load_conf(const char *path, struct errs *errs, int logged, int strict)
{
	struct conf	*c;
	struct errs	 warns;
	size_t		 i;

	if ((c = conf_load(path, errs)) == NULL)
		return NULL;
	errs_init(&warns);
	/* The daemon leaves each app's env to its start; tendd -t reads
	 * them all, as their users, and reports every problem. */
	conf_check_env(c, errs, &warns, strict ? errs : &warns,
	    strict ? check_load_env : NULL, NULL);
	if (strict)
		check_root_dirs(c, errs);
	for (i = 0; i < warns.n; i++) {
		if (logged)
			log_warnx("%s", warns.msg[i]);
		else
			fprintf(stderr, "%s\n", warns.msg[i]);
	}
	errs_free(&warns);
	if (errs->n > 0 || errs->oom) {
		conf_free(c);
		return NULL;
	}
	return c;
}

/* tendd -t: an app's env_file(s) and env lines, read as the app's user
 * (appenv.c), as a start would. */
static int
check_load_env(const struct conf_app *ca, struct env *e, struct errs *errs,
    void *arg)
{
	struct app	app;
	char		why[512];
	int		r;

	(void)arg;
	memset(&app, 0, sizeof(app));
	app.ca = (struct conf_app *)ca;
	if (appenv_ids(&app, why, sizeof(why)) != 0) {
		appenv_clear(&app);
		return -1;	/* conf_check_env reports the user */
	}
	r = appenv_user_env(&app, e, errs);
	appenv_clear(&app);
	return r;
}

/* tendd -t: the directories root writes in must be root's alone. */
static void
check_root_dirs(const struct conf *c, struct errs *errs)
{
	const char	*dirs[] = { c->state_dir, c->log_dir };
	char		 why[600], sockdir[PATH_MAX], *slash;
	size_t		 i;
	int		 fd;

	for (i = 0; i < 2; i++) {
		if ((fd = rootdir_open(dirs[i], 0, why, sizeof(why))) != -1)
			close(fd);
		else if (errno != ENOENT)
			errs_add(errs, c->path, 0, "%s", why);
	}
	snprintf(sockdir, sizeof(sockdir), "%s", c->socket);
	if ((slash = strrchr(sockdir, '/')) != NULL && slash > sockdir) {
		*slash = '\0';
		if ((fd = rootdir_open(sockdir, 0, why, sizeof(why))) != -1)
			close(fd);
		else if (errno != ENOENT)
			errs_add(errs, c->path, 0, "socket: %s", why);
	}
	/* metrics_file's directory: node-exporter's, made by its package,
	 * never by tendd; root's alone like the others. */
	if (c->metrics_file != NULL) {
		snprintf(sockdir, sizeof(sockdir), "%s", c->metrics_file);
		slash = strrchr(sockdir, '/');
		if (slash == NULL || slash[1] == '\0' ||
		    strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0)
			errs_add(errs, c->path, 0, "metrics_file: %s: not a "
			    "file name", c->metrics_file);
		else {
			if (slash == sockdir)
				slash++;
			*slash = '\0';
			if ((fd = rootdir_open(sockdir, 0, why,
			    sizeof(why))) != -1)
				close(fd);
			else
				errs_add(errs, c->path, 0, "metrics_file: %s",
				    why);
		}
	}
	for (i = 0; i < c->n_apps; i++) {
		const struct conf_app *a = c->apps[i];
		struct app app;

		memset(&app, 0, sizeof(app));
		app.ca = (struct conf_app *)a;
		if (a->nginx_upstream != NULL &&
		    nginx_check(&app, why, sizeof(why)) != 0)
			errs_add(errs, a->file, a->line, "[app:%s]: "
			    "nginx_upstream: %s", a->name, why);
		if (a->nginx_upstream != NULL &&
		    nginx_switch_mode(a, why, sizeof(why)) < 0)
			errs_add(errs, a->file, a->line, "[app:%s]: "
			    "nginx_switch = lua: %s", a->name, why);
		if (a->backup_dir != NULL) {
			if ((fd = rootdir_open(a->backup_dir, 0, why,
			    sizeof(why))) != -1)
				close(fd);
			else if (errno != ENOENT)
				errs_add(errs, a->file, a->line, "[app:%s]: "
				    "backup_before_migrate: %s", a->name, why);
		}
	}
}

/* Does uid run app (its user, or tendd's own uid without one)?  Before
 * the loop runs: NSS may block here. */
static int
orphan_owner_ok(const char *name, uid_t uid, void *arg)
{
	const struct conf	*c = arg;
	const struct conf_app	*ca = conf_find_app(c, name);
	struct passwd		*pw;
	char			*end;
	unsigned long		 u;

	if (ca == NULL)
		return 0;
	if (ca->user == NULL)
		return uid == geteuid();
	if ((pw = getpwnam(ca->user)) != NULL)
		return uid == pw->pw_uid;
	u = strtoul(ca->user, &end, 10);
	return *end == '\0' && end != ca->user && uid == (uid_t)u;
}

/* tendd's own directories: made if need be, and root's alone (or it
 * will not start: it writes there as root). */
static void
make_dirs(const struct conf *c)
{
	char	why[600];
	int	fd;

	if ((fd = rootdir_open(c->log_dir, 0750, why, sizeof(why))) == -1)
		fatalx("log_dir: %s", why);
	close(fd);
	if ((fd = rootdir_open(c->state_dir, 0750, why, sizeof(why))) == -1)
		fatalx("state_dir: %s", why);
	close(fd);
}

/* systemd's STATUS= line: the state machine's counts, told to systemd.c
 * (which sits below the apps and knows nothing of them). */
static void
status_update(struct tend *t)
{
	unsigned	live, starting, failed, down;

	supervise_summary(t, &live, &starting, &failed, &down);
	sd_status_update(t, live, starting, failed, down);
}

static void
ready(struct tend *t)
{
	sd_ready(t);
	status_update(t);
}

/* SIGHUP, and the reread command through t->reread. */
static int
tend_reread(struct tend *t, struct errs *errs)
{
	struct conf	*nc;
	size_t		 i;

	sd_reloading(t);
	log_info("rereading %s", t->conf_path);
	if ((nc = load_conf(t->conf_path, errs, 1, 0)) == NULL) {
		for (i = 0; i < errs->n; i++)
			log_warnx("%s", errs->msg[i]);
		log_warnx("configuration not changed");
		ready(t);
		return -1;
	}
	if (strcmp(nc->socket, t->conf->socket) != 0)
		log_warnx("socket changed to %s: takes effect when tendd "
		    "restarts", nc->socket);
	{
		char	why[600];
		int	fd;

		if ((fd = rootdir_open(nc->log_dir, 0750, why,
		    sizeof(why))) == -1 || close(fd) != 0 ||
		    (fd = rootdir_open(nc->state_dir, 0750, why,
		    sizeof(why))) == -1 || close(fd) != 0)
			log_warnx("%s", why);
	}
	apps_apply_conf(t, nc);
	fleet_apply(t);
	metrics_apply(t);
	ready(t);
	return 0;
}

/* --- shutdown ------------------------------------------------------- */

static void
noop_close_cb(uv_handle_t *h)
{
}

void
tend_check_shutdown(struct tend *t)
{
	struct app	*app, *next;

	if (!t->shutting_down || t->closing)
		return;
	TAILQ_FOREACH(app, &t->apps, entry)
		if (!app_is_down(app))
			return;
	t->closing = 1;
	log_info("every app is down");
	fleet_shutdown(t);
	TAILQ_FOREACH_SAFE(app, &t->apps, entry, next)
		app_free(app);
	control_stop(t);
	client_close_all(t);
	uv_close((uv_handle_t *)&t->sig_term, noop_close_cb);
	uv_close((uv_handle_t *)&t->sig_int, noop_close_cb);
	uv_close((uv_handle_t *)&t->sig_hup, noop_close_cb);
	uv_close((uv_handle_t *)&t->sig_usr1, noop_close_cb);
	uv_close((uv_handle_t *)&t->sig_usr2, noop_close_cb);
	uv_close((uv_handle_t *)&t->sig_chld, noop_close_cb);
	supervise_close(t, noop_close_cb);
	uv_close((uv_handle_t *)&t->tick, noop_close_cb);
	metrics_stop(t);
	if (t->watchdog_usec)
		uv_close((uv_handle_t *)&t->watchdog, noop_close_cb);
	logpipe_shutdown(t);
}

static void
tend_shutdown(struct tend *t, const char *why)
{
	struct app	*app;

	if (t->shutting_down) {
		log_info("%s: already stopping", why);
		return;
	}
	log_info("%s: stopping every app", why);
	t->shutting_down = 1;
	sd_stopping(t);
	control_stop(t);
	TAILQ_FOREACH(app, &t->apps, entry) {
		deploy_shutdown(app);
		app_stop(app);
	}
	tend_check_shutdown(t);
}

/* --- signals and timers -------------------------------------------- */

/* What the layers above the state machine hear of an app's changes. */
static void
watch_deploy(struct app *app, void *arg)
{
	(void)arg;
	deploy_app_changed(app);
}

static void
watch_waiters(struct app *app, void *arg)
{
	(void)arg;
	waiters_notify(app);
}

/* An app was made, is going, is gone: the layers above take it up or
 * let go of it. */
static void
hook_app_made(struct app *app)
{
	deploy_init_app(app);
	deploy_ensure_upstream(app);
}

static void
hook_app_going(struct app *app)
{
	deploy_shutdown(app);
	waiters_cancel_app(app);
	followers_app_gone(app);
}

static void
watch_fleet(struct app *app, void *arg)
{
	(void)arg;
	fleet_app_changed(app);
}

static void
watch_daemon(struct app *app, void *arg)
{
	(void)arg;
	status_update(app->t);
	tend_check_shutdown(app->t);
}

static void
tick_cb(uv_timer_t *h)
{
	struct tend	*t = h->data;
	struct app	*app;
	uint64_t	 now = uv_now(t->loop);
	unsigned	 i, any = 0;
	char		 a[32], b[32], d[32];

	TAILQ_FOREACH(app, &t->apps, entry)
		any |= app->ca->max_memory != 0;
	if (!any)
		return;
	ptree_sample(t, 1);
	TAILQ_FOREACH(app, &t->apps, entry) {
		if (app->ca->max_memory == 0)
			continue;
		for (i = 0; i < app->n_inst; i++) {
			struct inst *in = &app->inst[i];

			if (in->state != ST_LIVE || in->rss <= app->ca->max_memory) {
				in->mem_over_since = 0;
				continue;
			}
			if (in->mem_over_since == 0) {
				in->mem_over_since = now;
				continue;
			}
			if (now - in->mem_over_since < app->ca->max_memory_for)
				continue;
			format_size(a, sizeof(a), in->rss);
			format_size(b, sizeof(b), app->ca->max_memory);
			format_duration(d, sizeof(d), app->ca->max_memory_for);
			applog_event(app, (int)i, "restarted: memory %s above "
			    "max_memory %s for %s", a, b, d);
			log_warnx("%s[%u]: restarted: memory %s above "
			    "max_memory %s for %s", app->name, i, a, b, d);
			in->mem_over_since = 0;
			inst_event_why(in, EV_KILL, "restarted: memory %s above "
			    "max_memory %s for %s", a, b, d);
		}
	}
}

static void
signal_cb(uv_signal_t *h, int signum)
{
	struct tend	*t = h->data;
	struct app	*app, *next;
	struct errs	 errs;
	unsigned	 i;

	switch (signum) {
	case SIGTERM:
	case SIGINT:
		tend_shutdown(t, signum == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGHUP:
		if (t->shutting_down)
			break;
		errs_init(&errs);
		tend_reread(t, &errs);
		errs_free(&errs);
		break;
	case SIGUSR1:
		log_info("SIGUSR1: reopening log files");
		TAILQ_FOREACH(app, &t->apps, entry)
			applog_reopen(app);
		break;
	case SIGUSR2:
		/* A new binary (an upgrade): exec it, the apps kept. */
		handover_request(t);
		break;
	case SIGCHLD:
		/* Taken-over children first: the orphan reaper must not
		 * take their exit statuses. */
		handover_reap(t);
		ptree_reap_orphans(t);
		TAILQ_FOREACH_SAFE(app, &t->apps, entry, next)
			for (i = 0; i < app->n_inst && !app->unlinked; i++)
				inst_group_check(&app->inst[i]);
		break;
	}
}

static void
signal_watch(struct tend *t, uv_signal_t *h, int signum)
{
	uv_signal_init(t->loop, h);
	h->data = t;
	if (uv_signal_start(h, signal_cb, signum) != 0)
		fatalx("cannot watch signal %d", signum);
}

static int
journal_wanted(const struct conf *c)
{
	if (c->log_journal >= 0)
		return c->log_journal;
	return getenv("JOURNAL_STREAM") != NULL ||
	    getenv("INVOCATION_ID") != NULL;
}

static void
daemonize(void)
{
	pid_t	pid;
	int	fd;

	if ((pid = fork()) < 0)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		fatal("setsid");
	if ((pid = fork()) < 0)
		fatal("fork");
	if (pid > 0)
		_exit(0);
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, STDIN_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

/* How long apps an earlier tendd left behind get to stop. */
#define ORPHAN_WAIT_MS	5000

int
main(int argc, char **argv)
{
	struct tend	 t;
	struct errs	 errs;
	struct app	*app;
	size_t		 i;
	ssize_t		 n;
	int		 ch, foreground = 0, test = 0, debug = 0, paths = 0;
	const char	*path = TEND_DEFAULT_CONF, *handover_path = NULL;
	struct handover	*ho = NULL;

	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "handover", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 }
	};

	if (argc > 1 && strcmp(argv[1], "--exec-as") == 0)
		return exec_as_main(argc, argv);

	while ((ch = getopt_long(argc, argv, "c:dfhptV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'p':
			paths = 1;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("tendd %s (commit %s)\n", tend_version,
			    tend_commit);
			return 0;
		case 'h':
			help();
			break;
		case 'H':
			handover_path = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (paths)
		return print_paths();
	handover_save_args(argc, argv);
	if (handover_path != NULL && !test) {
		/* First: every fd open now came from the tendd before. */
		log_init(debug, getenv("JOURNAL_STREAM") != NULL);
		ho = handover_load(handover_path);
	}

	/* Root keeps no supplementary groups: when tendd reads an app's
	 * env_file with the app user's fs identity (appenv.c), only that
	 * user's uid and gid may count.  Children get their own groups. */
	if (geteuid() == 0 && setgroups(0, NULL) != 0)
		fatal("setgroups");
	memset(&t, 0, sizeof(t));
	TAILQ_INIT(&t.apps);
	LIST_INIT(&t.deploys);
	t.reread = tend_reread;
	errs_init(&errs);
	if ((t.conf = load_conf(path, &errs, 0, test)) == NULL) {
		print_errs(&errs);
		fprintf(stderr, "tendd: %s: configuration has errors\n", path);
		errs_free(&errs);
		return 1;
	}
	errs_free(&errs);
	if (test) {
		printf("%s: configuration OK (%zu app%s)\n", t.conf->path,
		    t.conf->n_apps, t.conf->n_apps == 1 ? "" : "s");
		/* Which switch each app behind nginx gets, and why. */
		for (i = 0; i < t.conf->n_apps; i++) {
			const struct conf_app *a = t.conf->apps[i];
			char why[700];
			int m;

			if (a->nginx_upstream == NULL)
				continue;
			m = nginx_switch_mode(a, why, sizeof(why));
			printf("%s: nginx_switch %s: %s\n", a->name,
			    nginx_switch_names[m], why);
		}
		conf_free(t.conf);
		return 0;
	}
	t.conf->refs = 1;
	if ((t.conf_path = strdup(t.conf->path)) == NULL)
		fatalx("out of memory");

	log_init(debug, getenv("JOURNAL_STREAM") != NULL);
	/* A handover keeps the pid: already a daemon, if it was one. */
	if (!foreground && ho == NULL)
		daemonize();
	if (ho != NULL)
		handover_fds(&t, ho);
	umask(027);
	signal(SIGPIPE, SIG_IGN);
	/* Orphaned grandchildren come to us, to be reaped and accounted. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		log_warn("PR_SET_CHILD_SUBREAPER");
	if ((n = readlink("/proc/self/exe", t.self_exe,
	    sizeof(t.self_exe) - 1)) < 0)
		fatal("readlink /proc/self/exe");
	t.self_exe[n] = '\0';
	if (getrandom(&t.rnd, sizeof(t.rnd), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(t.rnd))
		t.rnd = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	make_dirs(t.conf);
	if (heap_memory_limit("", &t.mem_limit, t.mem_src,
	    sizeof(t.mem_src)) != 0)
		fatal("cannot read the memory size");
	t.journal = journal_wanted(t.conf);

	t.loop = uv_default_loop();
	logpipe_init(&t);
	control_start(&t);
	signal_watch(&t, &t.sig_term, SIGTERM);
	signal_watch(&t, &t.sig_int, SIGINT);
	signal_watch(&t, &t.sig_hup, SIGHUP);
	signal_watch(&t, &t.sig_usr1, SIGUSR1);
	signal_watch(&t, &t.sig_usr2, SIGUSR2);
	signal_watch(&t, &t.sig_chld, SIGCHLD);
	supervise_init(&t);
	t.app_hooks.made = hook_app_made;
	t.app_hooks.going = hook_app_going;
	t.app_hooks.gone = tend_check_shutdown;
	t.app_hooks.output = followers_output;
	if (app_watch(&t, watch_deploy, NULL) != 0 ||
	    app_watch(&t, watch_waiters, NULL) != 0 ||
	    app_watch(&t, watch_daemon, NULL) != 0 ||
	    app_watch(&t, watch_fleet, NULL) != 0)
		fatalx("too many app watchers");
	uv_timer_init(t.loop, &t.tick);
	t.tick.data = &t;
	uv_timer_start(&t.tick, tick_cb, TICK_MS, TICK_MS);
	/* An idle tendd should not wake up for nothing. */
	uv_unref((uv_handle_t *)&t.tick);

	/* A tendd killed with -9 left its apps running: they hold the
	 * ports and would outlive their own replacements. */
	if (ho == NULL)
		ptree_kill_orphans(t.conf->socket, ORPHAN_WAIT_MS,
		    orphan_owner_ok, t.conf);
	for (i = 0; i < t.conf->n_apps; i++) {
		if ((app = app_new(&t, t.conf->apps[i])) == NULL)
			fatalx("%s: out of memory", t.conf->apps[i]->name);
		TAILQ_INSERT_TAIL(&t.apps, app, entry);
	}
	if (ho != NULL) {
		/* The apps the tendd before ran, as they were. */
		handover_adopt(&t, ho);
		handover_free(ho);
	}
	log_info("tendd %s: %zu app%s from %s, socket %s, memory %llu MiB (%s)",
	    PACKAGE_VERSION, t.conf->n_apps, t.conf->n_apps == 1 ? "" : "s",
	    t.conf_path, t.conf->socket,
	    (unsigned long long)(t.mem_limit >> 20), t.mem_src);
	sd_init(&t);
	fleet_apply(&t);
	TAILQ_FOREACH(app, &t.apps, entry)
		if (app->ca->autostart && !app->adopted)
			app_start(app);
	metrics_apply(&t);
	ready(&t);
	if (handover_path != NULL)
		handover_unblock();

	uv_run(t.loop, UV_RUN_DEFAULT);

	if (uv_loop_close(t.loop) != 0)
		log_warnx("loop not empty at exit");
	control_free(&t);
	free(t.kids);
	logpipe_free(&t);
	if (t.conf != NULL && --t.conf->refs == 0)
		conf_free(t.conf);
	free(t.conf_path);
	log_info("exiting");
	return 0;
}
