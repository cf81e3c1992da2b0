/*
 * tendd.c: main(): options, loading and checking the configuration,
 * signals, and the shutdown order (stop accepting, stop every app within
 * its kill_timeout, close every handle, prove the loop empty, exit 0).
 *
 *   tendd [-f] [-d] [-c FILE]     run (-f: in the foreground, as systemd does)
 *   tendd -t [-c FILE]            check the configuration and exit
 */
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tendd.h"

/* How often a group that outlived its leader is polled. */
#define DRAIN_POLL_MS	20
/* How often memory limits are checked (only if some app has one). */
#define TICK_MS		1000

static void
usage(void)
{
	fprintf(stderr, "usage: tendd [-dft] [-c config]\n");
	exit(2);
}

uint32_t
tend_random(struct tend *t)
{
	uint32_t x = t->rnd;	/* xorshift32: jitter, not secrets */

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return t->rnd = x ? x : 0x9e3779b9;
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
	conf_check_env(c, errs, &warns, strict ? errs : &warns);
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

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The names in dir that want(name, arg) accepts, sorted (tend's dumps and
 * releases are named by time, so oldest first); *n of them.  NULL with
 * *n = 0 when there are none or dir cannot be read.  Free with
 * tend_names_free().
 */
char **
tend_dir_names(const char *dir, int (*want)(const char *, void *), void *arg,
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

void
tend_names_free(char **names, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* mkdir -p: the directories tendd makes at start (logs, state, socket). */
int
tend_mkdir_p(const char *dir, mode_t mode)
{
	char	*p, *copy;
	int	 r = 0;

	if ((copy = strdup(dir)) == NULL)
		return -1;
	for (p = copy + 1; r == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(copy, mode) != 0 && errno != EEXIST)
			r = -1;
		if (c == '\0')
			break;
		*p = c;
	}
	free(copy);
	return r;
}

static void
make_dirs(const struct conf *c)
{
	if (tend_mkdir_p(c->log_dir, 0750) != 0)
		fatal("mkdir %s", c->log_dir);
	if (tend_mkdir_p(c->state_dir, 0750) != 0)
		fatal("mkdir %s", c->state_dir);
}

int
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
		sd_ready(t);
		return -1;
	}
	if (strcmp(nc->socket, t->conf->socket) != 0)
		log_warnx("socket changed to %s: takes effect when tendd "
		    "restarts", nc->socket);
	if (tend_mkdir_p(nc->log_dir, 0750) != 0 ||
	    tend_mkdir_p(nc->state_dir, 0750) != 0)
		log_warn("mkdir");
	apps_apply_conf(t, nc);
	sd_ready(t);
	return 0;
}

/* --- shutdown ------------------------------------------------------- */

static int	closing_handles;

static void
noop_close_cb(uv_handle_t *h)
{
}

void
tend_check_shutdown(struct tend *t)
{
	struct app	*app, *next;

	if (!t->shutting_down || closing_handles)
		return;
	TAILQ_FOREACH(app, &t->apps, entry)
		if (!app_is_down(app))
			return;
	closing_handles = 1;
	log_info("every app is down");
	TAILQ_FOREACH_SAFE(app, &t->apps, entry, next)
		app_free(app);
	control_stop(t);
	client_close_all(t);
	uv_close((uv_handle_t *)&t->sig_term, noop_close_cb);
	uv_close((uv_handle_t *)&t->sig_int, noop_close_cb);
	uv_close((uv_handle_t *)&t->sig_hup, noop_close_cb);
	uv_close((uv_handle_t *)&t->sig_usr1, noop_close_cb);
	uv_close((uv_handle_t *)&t->sig_chld, noop_close_cb);
	uv_close((uv_handle_t *)&t->drain_timer, noop_close_cb);
	uv_close((uv_handle_t *)&t->tick, noop_close_cb);
	if (t->watchdog_usec)
		uv_close((uv_handle_t *)&t->watchdog, noop_close_cb);
	health_shutdown(t);
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

static void
drain_cb(uv_timer_t *h)
{
	struct tend	*t = h->data;
	struct app	*app, *next;
	unsigned	 i, left = 0;

	TAILQ_FOREACH_SAFE(app, &t->apps, entry, next)
		for (i = 0; i < app->n_inst; i++) {
			inst_group_check(&app->inst[i]);
			/* The app may be gone now (removed, replaced). */
			if (app->unlinked)
				break;
			left += app->inst[i].draining;
		}
	if (left == 0)
		uv_timer_stop(h);
}

void
tend_drain_watch(struct tend *t)
{
	if (!closing_handles && !uv_is_active((uv_handle_t *)&t->drain_timer))
		uv_timer_start(&t->drain_timer, drain_cb, DRAIN_POLL_MS,
		    DRAIN_POLL_MS);
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
			snprintf(in->reason, sizeof(in->reason), "restarted: "
			    "memory %s above max_memory %s for %s", a, b, d);
			applog_event(app, (int)i, "%s", in->reason);
			log_warnx("%s[%u]: %s", app->name, i, in->reason);
			in->mem_over_since = 0;
			inst_event(in, EV_KILL);
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
	case SIGCHLD:
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
	int		 ch, foreground = 0, test = 0, debug = 0;
	const char	*path = TEND_DEFAULT_CONF;

	if (argc > 1 && strcmp(argv[1], "--exec-as") == 0)
		return exec_as_main(argc, argv);

	while ((ch = getopt(argc, argv, "c:dfhtV")) != -1) {
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
		case 't':
			test = 1;
			break;
		case 'V':
			printf("tendd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	memset(&t, 0, sizeof(t));
	TAILQ_INIT(&t.apps);
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
		conf_free(t.conf);
		return 0;
	}
	t.conf->refs = 1;
	if ((t.conf_path = strdup(t.conf->path)) == NULL)
		fatalx("out of memory");

	log_init(debug, getenv("JOURNAL_STREAM") != NULL);
	if (!foreground)
		daemonize();
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
	if (health_init(&t) != 0)
		fatalx("cannot set up health checks");
	control_start(&t);
	signal_watch(&t, &t.sig_term, SIGTERM);
	signal_watch(&t, &t.sig_int, SIGINT);
	signal_watch(&t, &t.sig_hup, SIGHUP);
	signal_watch(&t, &t.sig_usr1, SIGUSR1);
	signal_watch(&t, &t.sig_chld, SIGCHLD);
	uv_timer_init(t.loop, &t.drain_timer);
	t.drain_timer.data = &t;
	uv_timer_init(t.loop, &t.tick);
	t.tick.data = &t;
	uv_timer_start(&t.tick, tick_cb, TICK_MS, TICK_MS);
	/* An idle tendd should not wake up for nothing. */
	uv_unref((uv_handle_t *)&t.tick);

	/* A tendd killed with -9 left its apps running: they hold the
	 * ports and would outlive their own replacements. */
	ptree_kill_orphans(t.conf->socket, ORPHAN_WAIT_MS);
	for (i = 0; i < t.conf->n_apps; i++) {
		if ((app = app_new(&t, t.conf->apps[i])) == NULL)
			fatalx("%s: out of memory", t.conf->apps[i]->name);
		TAILQ_INSERT_TAIL(&t.apps, app, entry);
	}
	log_info("tendd %s: %zu app%s from %s, socket %s, memory %llu MiB (%s)",
	    PACKAGE_VERSION, t.conf->n_apps, t.conf->n_apps == 1 ? "" : "s",
	    t.conf_path, t.conf->socket,
	    (unsigned long long)(t.mem_limit >> 20), t.mem_src);
	sd_init(&t);
	TAILQ_FOREACH(app, &t.apps, entry)
		if (app->ca->autostart)
			app_start(app);
	sd_ready(&t);

	uv_run(t.loop, UV_RUN_DEFAULT);

	if (uv_loop_close(t.loop) != 0)
		log_warnx("loop not empty at exit");
	control_free(&t);
	logpipe_free(&t);
	if (t.conf != NULL && --t.conf->refs == 0)
		conf_free(t.conf);
	free(t.conf_path);
	log_info("exiting");
	return 0;
}
