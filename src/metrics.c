/*
 * metrics.c: what tend knows of its apps, in Prometheus's text format
 * (promtext.c): `tendctl metrics` (cmd-metrics.c) prints it, and with
 * metrics_file set tendd writes the same text every metrics_interval for
 * node-exporter's textfile collector, so no HTTP server runs as root.
 *
 * Per instance (labels app, instance): its state as a state set, restarts,
 * failed health checks, health restarts, RSS and CPU time of its process
 * tree, uptime, and how long its last start took to be ready.  Per app:
 * its deploy records by status and how long the newest finished one
 * took.  And tendd's own RSS.  The names are a contract (tendctl(1)),
 * like status's fields: added, never renamed.
 *
 * The file: the text is made on the loop (a walk over the apps in
 * memory, and one /proc pass that status makes too); writing it goes to
 * libuv's thread pool, since atomic_write_at fsyncs the file and its
 * directory, which may take long on a busy disk.  Only root's
 * directories (rootdir.c): the directory is checked, by descriptor, on
 * every write, and the file replaced whole, mode 0644 so that
 * node-exporter's own user can read it.  One write at a time; a tick
 * that finds one still running is skipped.  A failure is logged once,
 * and once more when writing works again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

/* The file's mode: node-exporter reads it as its own user. */
#define METRICS_MODE	0644

struct metrics {
	struct tend	*t;
	uv_timer_t	 timer;
	int		 timer_on;	/* initialized; closed by metrics_stop */
	uint64_t	 interval;	/* what the timer runs at, ms */
	/* The write in the pool: its request, text and outcome. */
	uv_work_t	 work;
	int		 busy;
	char		*dir;		/* metrics_file split */
	char		*name;
	char		*wdir, *wname;	/* the pool's copies, for one write */
	char		*text;
	size_t		 len;
	int		 err;		/* errno of the write, 0: written */
	char		 why[600];
	int		 failing;	/* the failure was logged */
	int		 stopping;	/* free once the write is back */
};

/* A slot of the idle port set, never started: not shown (as status). */
static int
inst_shown(const struct inst *in)
{
	return inst_active(in) || in->state != ST_STOPPED || in->running;
}

/* The instances metrics show: the serving set's (even when down, so
 * that a stopped app still says so), and any other that runs. */
static int
inst_listed(const struct app *app, const struct inst *in)
{
	unsigned	first = app->color * app->n_run;

	return (in->idx >= first && in->idx < first + app->n_run) ||
	    inst_shown(in);
}

static int
app_listed(const struct app *app)
{
	return !(app->removing && app->pending == NULL);
}

typedef void (*inst_fn)(struct prom *, const char *, const struct prom_label *,
    const struct inst *, uint64_t now);

static void
f_restarts(struct prom *p, const char *n, const struct prom_label *l,
    const struct inst *in, uint64_t now)
{
	(void)now;
	prom_u64(p, n, l, 2, in->restarts);
}

static void
f_health_failures(struct prom *p, const char *n, const struct prom_label *l,
    const struct inst *in, uint64_t now)
{
	(void)now;
	prom_u64(p, n, l, 2, in->hc_failures);
}

static void
f_health_restarts(struct prom *p, const char *n, const struct prom_label *l,
    const struct inst *in, uint64_t now)
{
	(void)now;
	prom_u64(p, n, l, 2, in->health_restarts);
}

static void
f_rss(struct prom *p, const char *n, const struct prom_label *l,
    const struct inst *in, uint64_t now)
{
	(void)now;
	prom_u64(p, n, l, 2, in->running ? in->rss : 0);
}

static void
f_cpu(struct prom *p, const char *n, const struct prom_label *l,
    const struct inst *in, uint64_t now)
{
	long	hz = sysconf(_SC_CLK_TCK);

	(void)now;
	prom_f64(p, n, l, 2, in->running && hz > 0 ?
	    (double)in->cpu_ticks / (double)hz : 0.0);
}

static void
f_uptime(struct prom *p, const char *n, const struct prom_label *l,
    const struct inst *in, uint64_t now)
{
	prom_f64(p, n, l, 2, in->running && now >= in->spawned_at ?
	    (double)(now - in->spawned_at) / 1000.0 : 0.0);
}

static void
f_ready(struct prom *p, const char *n, const struct prom_label *l,
    const struct inst *in, uint64_t now)
{
	(void)now;
	if (in->ready_ms >= 0)	/* none yet: no sample, not a made-up 0 */
		prom_f64(p, n, l, 2, (double)in->ready_ms / 1000.0);
}

static const struct inst_family {
	const char	*name, *type, *help;
	inst_fn		 fn;
} inst_families[] = {
	{ "tend_instance_restarts_total", "counter",
	  "Restarts of the instance since tendd started.", f_restarts },
	{ "tend_instance_health_failures_total", "counter",
	  "Failed health checks of the instance while live.",
	  f_health_failures },
	{ "tend_instance_health_restarts_total", "counter",
	  "Restarts because health checks failed.", f_health_restarts },
	{ "tend_instance_resident_memory_bytes", "gauge",
	  "RSS of the instance's process tree (0 when not running).", f_rss },
	{ "tend_instance_cpu_seconds_total", "counter",
	  "CPU time of the instance's live process tree; starts again at "
	  "each run.", f_cpu },
	{ "tend_instance_uptime_seconds", "gauge",
	  "Time since the instance's current run started (0 when not "
	  "running).", f_uptime },
	{ "tend_instance_ready_seconds", "gauge",
	  "How long the instance's last start took to be ready.", f_ready },
};

static void
instance_families(struct tend *t, struct prom *p)
{
	const struct inst_family *f;
	struct prom_label	 l[3];
	struct app		*app;
	uint64_t		 now = uv_now(t->loop);
	char			 idx[16];
	unsigned		 i, s;

	prom_family(p, "tend_instance_state", "gauge",
	    "The instance's state: 1 for the one it is in, else 0.");
	TAILQ_FOREACH(app, &t->apps, entry) {
		if (!app_listed(app))
			continue;
		for (i = 0; i < app->n_inst; i++) {
			const struct inst *in = &app->inst[i];

			if (!inst_listed(app, in))
				continue;
			snprintf(idx, sizeof(idx), "%u", in->idx);
			l[0] = (struct prom_label){ "app", app->name };
			l[1] = (struct prom_label){ "instance", idx };
			for (s = 0; s < ST__COUNT; s++) {
				l[2] = (struct prom_label){ "state",
				    state_names[s] };
				prom_u64(p, "tend_instance_state", l, 3,
				    in->state == s);
			}
		}
	}
	for (f = inst_families; f < inst_families + sizeof(inst_families) /
	    sizeof(inst_families[0]); f++) {
		prom_family(p, f->name, f->type, f->help);
		TAILQ_FOREACH(app, &t->apps, entry) {
			if (!app_listed(app))
				continue;
			for (i = 0; i < app->n_inst; i++) {
				const struct inst *in = &app->inst[i];

				if (!inst_listed(app, in))
					continue;
				snprintf(idx, sizeof(idx), "%u", in->idx);
				l[0] = (struct prom_label){ "app", app->name };
				l[1] = (struct prom_label){ "instance", idx };
				f->fn(p, f->name, l, in, now);
			}
		}
	}
}

/* The newest deploy record that finished, or NULL. */
static const struct deploy_rec *
last_finished(const struct app *app)
{
	const struct deploy_rec	*r;

	TAILQ_FOREACH(r, &app->history.recs, entry)
		if (r->finished_ms != 0 && r->created_ms != 0 &&
		    r->finished_ms >= r->created_ms)
			return r;
	return NULL;
}

static void
app_families(struct tend *t, struct prom *p)
{
	const struct deploy_rec	*r;
	struct prom_label	 l[2];
	struct app		*app;
	uint64_t		 n[DS__COUNT];
	unsigned		 s;

	prom_family(p, "tend_app_deploys", "gauge",
	    "Deploy records in the app's history, by status.");
	TAILQ_FOREACH(app, &t->apps, entry) {
		if (!app_listed(app))
			continue;
		memset(n, 0, sizeof(n));
		TAILQ_FOREACH(r, &app->history.recs, entry)
			if (r->status < DS__COUNT)
				n[r->status]++;
		l[0] = (struct prom_label){ "app", app->name };
		for (s = 0; s < DS__COUNT; s++) {
			l[1] = (struct prom_label){ "status",
			    deploy_status_names[s] };
			prom_u64(p, "tend_app_deploys", l, 2, n[s]);
		}
	}
	prom_family(p, "tend_app_last_deploy_duration_seconds", "gauge",
	    "From request to outcome, of the app's newest finished deploy.");
	TAILQ_FOREACH(app, &t->apps, entry) {
		if (!app_listed(app) || (r = last_finished(app)) == NULL)
			continue;
		l[0] = (struct prom_label){ "app", app->name };
		prom_f64(p, "tend_app_last_deploy_duration_seconds", l, 1,
		    (double)(r->finished_ms - r->created_ms) / 1000.0);
	}
}

/* tendd's own RSS, from /proc/self/statm (procfs: never waits). */
static int
self_rss(uint64_t *bytes)
{
	char	buf[128];
	ssize_t	n;
	unsigned long long size, res;
	long	page = sysconf(_SC_PAGESIZE);
	int	fd;

	if ((fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || page <= 0)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &size, &res) != 2)
		return -1;
	*bytes = (uint64_t)res * (uint64_t)page;
	return 0;
}

char *
metrics_text(struct tend *t, size_t *len)
{
	struct prom		p;
	struct prom_label	l = { "version", PACKAGE_VERSION };
	uint64_t		rss;

	ptree_sample(t, 0);
	prom_init(&p);
	prom_family(&p, "tend_build_info", "gauge",
	    "tendd's version; always 1.");
	prom_u64(&p, "tend_build_info", &l, 1, 1);
	if (self_rss(&rss) == 0) {
		prom_family(&p, "tend_resident_memory_bytes", "gauge",
		    "tendd's own RSS.");
		prom_u64(&p, "tend_resident_memory_bytes", NULL, 0, rss);
	}
	instance_families(t, &p);
	app_families(t, &p);
	return prom_take(&p, len);
}

/* --- metrics_file ---------------------------------------------------- */

/* In the pool: root's directory checked, the file replaced whole. */
static void
write_work(uv_work_t *w)
{
	struct metrics	*m = w->data;
	int		 fd;

	m->err = 0;
	if ((fd = rootdir_open(m->wdir, 0, m->why, sizeof(m->why))) == -1) {
		m->err = errno ? errno : EPERM;
		return;
	}
	if (atomic_write_at(fd, m->wname, m->text, m->len,
	    METRICS_MODE) != 0) {
		m->err = errno;
		snprintf(m->why, sizeof(m->why), "%s/%s: %s", m->wdir,
		    m->wname, strerror(m->err));
	}
	close(fd);
}

static void
write_release(struct metrics *m)
{
	free(m->text);
	free(m->wdir);
	free(m->wname);
	m->text = m->wdir = m->wname = NULL;
}

static void
metrics_free(struct metrics *m)
{
	write_release(m);
	free(m->dir);
	free(m->name);
	free(m);
}

static void
timer_closed_cb(uv_handle_t *h)
{
	struct metrics	*m = h->data;

	m->timer_on = 0;
	if (!m->busy)
		metrics_free(m);
}

static void
write_done_cb(uv_work_t *w, int status)
{
	struct metrics	*m = w->data;

	m->busy = 0;
	write_release(m);
	if (m->stopping) {
		if (!m->timer_on)
			metrics_free(m);
		return;
	}
	if (status != 0) {
		m->err = -status;
		snprintf(m->why, sizeof(m->why), "%s", uv_strerror(status));
	}
	if (m->err != 0 && !m->failing) {
		log_warnx("metrics_file: %s (tried again every %llu ms)",
		    m->why, (unsigned long long)m->interval);
		m->failing = 1;
	} else if (m->err == 0 && m->failing) {
		log_info("metrics_file: %s/%s written again", m->dir, m->name);
		m->failing = 0;
	}
}

static void
metrics_tick_cb(uv_timer_t *h)
{
	struct metrics	*m = h->data;
	int		 r;

	if (m->busy || m->stopping)
		return;		/* the last write is still on its way */
	if ((m->text = metrics_text(m->t, &m->len)) == NULL ||
	    (m->wdir = strdup(m->dir)) == NULL ||
	    (m->wname = strdup(m->name)) == NULL) {
		log_warnx("metrics_file: out of memory");
		write_release(m);
		return;
	}
	m->work.data = m;
	if ((r = uv_queue_work(m->t->loop, &m->work, write_work,
	    write_done_cb)) != 0) {
		log_warnx("metrics_file: %s", uv_strerror(r));
		write_release(m);
		return;
	}
	m->busy = 1;
}

/* Split path into its directory and name; -1 when it has no name. */
static int
split_path(const char *path, char **dir, char **name)
{
	const char	*slash = strrchr(path, '/');

	*dir = *name = NULL;
	if (slash == NULL || slash[1] == '\0' || strcmp(slash + 1, ".") == 0 ||
	    strcmp(slash + 1, "..") == 0)
		return -1;
	if ((*dir = strndup(path, slash == path ? 1 :
	    (size_t)(slash - path))) == NULL ||
	    (*name = strdup(slash + 1)) == NULL) {
		free(*dir);
		*dir = NULL;
		return -1;
	}
	return 0;
}

/* At start and after each reread: write as t->conf says, or stop. */
void
metrics_apply(struct tend *t)
{
	const struct conf	*c = t->conf;
	struct metrics		*m = t->metrics;
	char			*dir, *name;

	if (c->metrics_file == NULL) {
		metrics_stop(t);
		return;
	}
	if (split_path(c->metrics_file, &dir, &name) != 0) {
		log_warnx("metrics_file: %s: not a file name", c->metrics_file);
		metrics_stop(t);
		return;
	}
	if (m == NULL) {
		if ((m = calloc(1, sizeof(*m))) == NULL) {
			log_warnx("metrics_file: out of memory");
			free(dir);
			free(name);
			return;
		}
		m->t = t;
		uv_timer_init(t->loop, &m->timer);
		m->timer.data = m;
		m->timer_on = 1;
		/* Metrics alone do not keep tendd running. */
		uv_unref((uv_handle_t *)&m->timer);
		t->metrics = m;
	}
	free(m->dir);
	free(m->name);
	m->dir = dir;
	m->name = name;
	m->interval = c->metrics_interval;
	m->failing = 0;
	/* The first file at once, so a scrape soon after a start has it. */
	uv_timer_start(&m->timer, metrics_tick_cb, 0, m->interval);
}

void
metrics_stop(struct tend *t)
{
	struct metrics	*m = t->metrics;

	if (m == NULL)
		return;
	t->metrics = NULL;
	m->stopping = 1;
	uv_close((uv_handle_t *)&m->timer, timer_closed_cb);
}
