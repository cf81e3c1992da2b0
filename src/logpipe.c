/*
 * logpipe.c: app output.  Each instance's stdout and stderr are pipes that
 * tendd reads as fast as they fill (the app must never block on a full
 * pipe because of us), split into lines, stamped with the time and the
 * stream, and appended to LOG_DIR/APP.log with one write(2) per batch.
 * The file rotates by size (APP.log.1 ... APP.log.N) and is reopened on
 * SIGUSR1 for logrotate.  The last lines are also kept in a byte ring for
 * `tendctl logs -n`, and handed, through main's app_hooks.output, to
 * the `tendctl logs -f` followers (cmd-logs.c).
 *
 * A line longer than LOG_LINE_MAX is written in pieces: split, never
 * lost.  A write error (disk full) is reported once in tendd's log and in
 * status, the lost bytes are counted, and writing resumes by itself.
 *
 * An instance's line that its profile knows as a sign of a configuration
 * unfit for production (a Medusa on its in-memory event bus) becomes one
 * of the app's warnings (app->warnings), shown by status and check, kept
 * while the run that said it lasts; the app runs on.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tendd.h"

/* Formatted lines are staged here and written in one go. */
#define STAGE_SIZE	(256 * 1024)
/* "2026-11-24T15:13:31.123Z out.63 " */
#define PREFIX_MAX	64
#define RING_MIN	(16 * 1024)

/* Lines are staged and written a batch at a time: at once when STAGE_EAGER
 * bytes are waiting, else LOG_FLUSH_MS after the first one.  An app that
 * writes one short line per write(2) (Node does) would otherwise cost a
 * write(2) of ours per line; the delay is below what anyone reading the
 * file or `logs -f` can notice.  Each flush also copies the last
 * ring_cap bytes (log_lines x 256: 50 KiB by default) into the ring, so
 * under a flood a flush well above that keeps the copy a small part:
 * 64 KiB flushes copied 80 % of the output a second time. */
#define STAGE_EAGER	(192 * 1024)
#define LOG_FLUSH_MS	3

/*
 * What every app's output shares, one per tendd (t->logs): the lines on
 * their way to a file, the buffer every pipe is read into (reads never
 * overlap: libuv calls alloc, read, read_cb in turn), and the pipes
 * resting between two reads.
 */
struct logsink {
	char		 stage[STAGE_SIZE];
	size_t		 stage_len;
	struct app	*stage_app;	/* whose lines are in stage */
	uv_timer_t	 flush_timer;
	LIST_HEAD(, logpipe) paused;	/* see logpipe_rest */
	uv_timer_t	 rest_timer;
	char		 rbuf[LOGPIPE_BUF];
};

static void	stage_flush(struct app *);
struct logpipe;
static void	pipe_line(struct logpipe *, const char *, size_t, const char *,
		    size_t);
static void	flush_cb(uv_timer_t *);
static void	rest_cb(uv_timer_t *);

/* At start, before any app: fatal if it cannot be had. */
void
logpipe_init(struct tend *t)
{
	struct logsink	*ls;

	if ((ls = calloc(1, sizeof(*ls))) == NULL)
		fatalx("out of memory");
	LIST_INIT(&ls->paused);
	uv_timer_init(t->loop, &ls->flush_timer);
	uv_timer_init(t->loop, &ls->rest_timer);
	ls->flush_timer.data = ls->rest_timer.data = ls;
	/* Neither keeps the loop alive: output comes with a pipe, which does. */
	uv_unref((uv_handle_t *)&ls->flush_timer);
	uv_unref((uv_handle_t *)&ls->rest_timer);
	t->logs = ls;
}

int
applog_open(struct app *app, const char *log_dir, uint64_t ring_bytes)
{
	struct applog	*l = &app->log;
	struct stat	 st;

	l->app = app;
	if (asprintf(&l->path, "%s/%s.log", log_dir, app->name) < 0) {
		l->path = NULL;
		return -1;
	}
	if (ring_bytes < RING_MIN)
		ring_bytes = RING_MIN;
	if ((l->ring = malloc(ring_bytes)) == NULL)
		return -1;
	l->ring_cap = ring_bytes;
	l->ring_len = l->ring_head = 0;
	l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (l->fd == -1) {
		/* Not fatal: the app runs, status shows why nothing is kept. */
		l->err = errno;
		log_warn("%s: open %s", app->name, l->path);
	} else if (fstat(l->fd, &st) == 0)
		l->size = (uint64_t)st.st_size;
	return 0;
}

void
applog_close(struct applog *l)
{
	if (l->app != NULL)
		stage_flush(l->app);	/* its lines still staged */
	logzip_detach(l);
	if (l->fd != -1)
		close(l->fd);
	l->fd = -1;
	free(l->path);
	l->path = NULL;
	free(l->ring);
	l->ring = NULL;
}

void
applog_reopen(struct app *app)
{
	struct applog	*l = &app->log;
	struct stat	 st;
	int		 fd;

	fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		log_warn("%s: reopen %s", app->name, l->path);
		return;
	}
	if (l->fd != -1)
		close(l->fd);
	l->fd = fd;
	l->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* APP.log -> APP.log.1 -> ... -> APP.log.KEEP (dropped). */
static void
applog_rotate(struct app *app)
{
	struct applog	*l = &app->log;
	unsigned	 keep = app->t->conf->log_keep, i;
	char		 from[4096], to[4096];

	/* The oldest goes, plain or gzipped (log_compress): else a plain
	 * APP.log.KEEP would stay beside a newer APP.log.KEEP.gz. */
	snprintf(to, sizeof(to), "%s.%u", l->path, keep);
	if (keep > 0 && unlink(to) != 0 && errno != ENOENT)
		log_warn("%s: unlink %s", app->name, to);
	snprintf(to, sizeof(to), "%s.%u.gz", l->path, keep);
	if (keep > 0 && unlink(to) != 0 && errno != ENOENT)
		log_warn("%s: unlink %s", app->name, to);
	for (i = keep; i >= 1; i--) {
		if (i == 1)
			snprintf(from, sizeof(from), "%s", l->path);
		else
			snprintf(from, sizeof(from), "%s.%u", l->path, i - 1);
		snprintf(to, sizeof(to), "%s.%u", l->path, i);
		if (rename(from, to) != 0 && errno != ENOENT)
			log_warn("%s: rename %s", app->name, from);
		if (i == 1)
			continue;
		snprintf(from, sizeof(from), "%s.%u.gz", l->path, i - 1);
		snprintf(to, sizeof(to), "%s.%u.gz", l->path, i);
		if (rename(from, to) != 0 && errno != ENOENT)
			log_warn("%s: rename %s", app->name, from);
	}
	if (keep == 0 && unlink(l->path) != 0 && errno != ENOENT)
		log_warn("%s: unlink %s", app->name, l->path);
	applog_reopen(app);
	logzip_rotated(l);
}

static void
ring_put(struct applog *l, const char *p, size_t n)
{
	size_t	k;

	if (n >= l->ring_cap) {
		p += n - l->ring_cap;
		n = l->ring_cap;
	}
	while (n > 0) {
		k = l->ring_cap - l->ring_head;
		if (k > n)
			k = n;
		memcpy(l->ring + l->ring_head, p, k);
		l->ring_head = (l->ring_head + k) % l->ring_cap;
		p += k;
		n -= k;
		if (l->ring_len < l->ring_cap)
			l->ring_len = l->ring_len + k > l->ring_cap ?
			    l->ring_cap : l->ring_len + k;
	}
}

char *
applog_tail(const struct applog *l, unsigned n, size_t *len)
{
	size_t	 start, i, got = 0, count;
	char	*out;

	/* Walk back from the newest byte, counting line ends. */
	start = (l->ring_head + l->ring_cap - l->ring_len) % l->ring_cap;
	count = 0;
	for (i = l->ring_len; i > 0; i--) {
		size_t pos = (start + i - 1) % l->ring_cap;

		if (l->ring[pos] == '\n' && i != l->ring_len &&
		    ++count == n)
			break;
	}
	/* i is the offset (from start) of the first byte to return. */
	if (n == 0)
		i = l->ring_len;
	else if (i == 0) {
		/* Fewer lines than asked: skip a clipped first line. */
		for (i = 0; i < l->ring_len && l->ring_len == l->ring_cap; i++)
			if (l->ring[(start + i) % l->ring_cap] == '\n') {
				i++;
				break;
			}
	}
	got = l->ring_len - i;
	if ((out = malloc(got + 1)) == NULL)
		return NULL;
	for (count = 0; count < got; count++)
		out[count] = l->ring[(start + i + count) % l->ring_cap];
	out[got] = '\0';
	*len = got;
	return out;
}

/* Write what is staged for app: the file, the ring, the followers. */
static void
stage_flush(struct app *app)
{
	struct logsink	*ls = app->t->logs;
	struct applog	*l;
	size_t		 off = 0;
	ssize_t		 w;

	if (ls->stage_len == 0 || app != ls->stage_app)
		return;
	l = &app->log;
	ls->stage_app = NULL;
	uv_timer_stop(&ls->flush_timer);
	if (l->fd != -1) {
		while (off < ls->stage_len) {
			w = write(l->fd, ls->stage + off, ls->stage_len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				if (l->err == 0)
					log_warn("%s: write %s (output is "
					    "dropped until it works again)",
					    app->name, l->path);
				l->err = w < 0 ? errno : ENOSPC;
				l->dropped += ls->stage_len - off;
				break;
			}
			off += (size_t)w;
			l->size += (uint64_t)w;
		}
		if (off == ls->stage_len && l->err != 0) {
			log_info("%s: writing %s again (%llu bytes were lost)",
			    app->name, l->path, (unsigned long long)l->dropped);
			l->err = 0;
		}
	}
	ring_put(l, ls->stage, ls->stage_len);
	/* `logs -f` readers: the command layer's, through main's hook. */
	if (!LIST_EMPTY(&l->followers) && app->t->app_hooks.output != NULL)
		app->t->app_hooks.output(app, ls->stage, ls->stage_len);
	ls->stage_len = 0;
	if (l->fd != -1 && l->size >= app->t->conf->log_max_size)
		applog_rotate(app);
}

void
applog_flush(struct app *app)
{
	stage_flush(app);
}

static void
flush_cb(uv_timer_t *h)
{
	struct logsink	*ls = h->data;

	if (ls->stage_app != NULL)
		stage_flush(ls->stage_app);
}

/* Flush soon rather than now, unless plenty is waiting. */
static void
stage_later(struct app *app)
{
	struct logsink	*ls = app->t->logs;

	if (ls->stage_len >= STAGE_EAGER || app->t->shutting_down) {
		stage_flush(app);
		return;
	}
	if (ls->stage_len > 0 && !uv_is_active((uv_handle_t *)&ls->flush_timer))
		uv_timer_start(&ls->flush_timer, flush_cb, LOG_FLUSH_MS, 0);
}

/* The last lines out, and the timers closed: tendd is stopping. */
void
logpipe_shutdown(struct tend *t)
{
	struct logsink	*ls = t->logs;

	if (ls->stage_app != NULL)
		stage_flush(ls->stage_app);
	if (!uv_is_closing((uv_handle_t *)&ls->rest_timer))
		uv_close((uv_handle_t *)&ls->rest_timer, NULL);
	if (!uv_is_closing((uv_handle_t *)&ls->flush_timer))
		uv_close((uv_handle_t *)&ls->flush_timer, NULL);
}

/* After the loop has run its last close callback. */
void
logpipe_free(struct tend *t)
{
	free(t->logs);
	t->logs = NULL;
}

/* prio: syslog priority for the journal copy, or -1 for none. */
static void
stage_line(struct app *app, const char *prefix, size_t plen, const char *p,
    size_t n, int idx, int prio)
{
	struct logsink	*ls = app->t->logs;

	if (ls->stage_app != NULL && ls->stage_app != app)
		stage_flush(ls->stage_app);	/* another app's lines */
	if (ls->stage_len + plen + n + 1 > sizeof(ls->stage))
		stage_flush(app);
	ls->stage_app = app;
	memcpy(ls->stage + ls->stage_len, prefix, plen);
	ls->stage_len += plen;
	memcpy(ls->stage + ls->stage_len, p, n);
	ls->stage_len += n;
	ls->stage[ls->stage_len++] = '\n';
	if (app->t->journal && prio >= 0)
		sd_journal_line(app->name, idx, prio, p, n);
}

static size_t
make_prefix(char *buf, const struct app *app, int idx, const char *stream)
{
	char	ts[TIME_ISO_MAX];
	int	n;

	/* Whole: stage_lines copies all PREFIX_MAX bytes. */
	memset(buf, 0, PREFIX_MAX);
	time_iso(ts, sizeof(ts), time_now_ms(), TIME_MS);
	if (app->n_inst > 1 && idx >= 0)
		n = snprintf(buf, PREFIX_MAX, "%s %s.%d ", ts, stream, idx);
	else
		n = snprintf(buf, PREFIX_MAX, "%s %s ", ts, stream);
	return n < 0 ? 0 : n >= PREFIX_MAX ? PREFIX_MAX - 1 : (size_t)n;
}

void
applog_event(struct app *app, int idx, const char *fmt, ...)
{
	char	prefix[PREFIX_MAX], msg[1024];
	size_t	plen;
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	plen = make_prefix(prefix, app, idx, "tend");
	stage_line(app, prefix, plen, msg, (size_t)n, idx, -1);
	stage_flush(app);
}

/* --- the pipes ---------------------------------------------------- */

static void
logpipe_closed_cb(uv_handle_t *h)
{
	struct logpipe	*lp = h->data;
	struct app	*app = lp->app;

	free(lp->part);
	free(lp);
	/* Up-call: the app is freed by its handles' last close callback. */
	app_handle_done(app);
}

/*
 * A pipe whose lines go to app's log as stream (with idx when the app has
 * several instances, or -1), at journal priority prio.  Its owner is an
 * instance or a job (migration, backup, build), told when it reaches EOF.
 */
static struct logpipe *
logpipe_new(struct app *app, struct inst *in, struct job *job, int idx,
    const char *stream, int prio)
{
	struct logpipe	*lp;

	if ((lp = malloc(sizeof(*lp))) == NULL)
		return NULL;
	lp->app = app;
	lp->inst = in;
	lp->job = job;
	lp->idx = idx;
	lp->prio = prio;
	lp->stream = stream;
	lp->len = 0;
	lp->part = NULL;
	lp->paused = 0;
	lp->open = 1;
	if (uv_pipe_init(app->t->loop, &lp->pipe, 0) != 0) {
		free(lp);
		return NULL;
	}
	lp->pipe.data = lp;
	app->nhandles++;
	LIST_INSERT_HEAD(&app->pipes, lp, entry);
	return lp;
}

void
logpipe_close(struct logpipe *lp)
{
	if (!lp->open)
		return;
	lp->open = 0;
	LIST_REMOVE(lp, entry);
	if (lp->paused) {
		LIST_REMOVE(lp, pause_entry);
		lp->paused = 0;
	}
	if (lp->inst != NULL && lp->inst->out == lp)
		lp->inst->out = NULL;
	if (lp->inst != NULL && lp->inst->err == lp)
		lp->inst->err = NULL;
	if (lp->job != NULL)
		job_pipe_closed(lp->job, lp);
	uv_close((uv_handle_t *)&lp->pipe, logpipe_closed_cb);
}

/*
 * A pipe inherited across exec (handover.c): fd is the read end an
 * earlier tendd read; the caller starts it.  NULL when it cannot be
 * opened (fd is then still the caller's to close).
 */
struct logpipe *
logpipe_adopt(struct app *app, struct inst *in, int idx, const char *stream,
    int prio, int fd)
{
	struct logpipe	*lp;
	int		 r;

	if ((lp = logpipe_new(app, in, NULL, idx, stream, prio)) == NULL)
		return NULL;
	if ((r = uv_pipe_open(&lp->pipe, fd)) != 0) {
		log_warnx("%s: pipe %d: %s", app->name, fd, uv_strerror(r));
		logpipe_close(lp);
		return NULL;
	}
	return lp;
}

static void	pipe_line(struct logpipe *, const char *, size_t, const char *,
		    size_t);

/* Everything staged, written now: tendd is about to exec.  A line an
 * app is halfway through is written as it is (the rest comes as a line
 * of its own), not lost with this process's memory. */
void
applog_flush_all(struct tend *t)
{
	struct app	*app;
	struct logpipe	*lp;
	char		 prefix[PREFIX_MAX];
	size_t		 plen;

	if (t->logs->stage_app != NULL)
		stage_flush(t->logs->stage_app);
	TAILQ_FOREACH(app, &t->apps, entry) {
		LIST_FOREACH(lp, &app->pipes, entry)
			if (lp->len > 0) {
				plen = make_prefix(prefix, app, lp->idx,
				    lp->stream);
				pipe_line(lp, prefix, plen, lp->part, lp->len);
				lp->len = 0;
			}
		stage_flush(app);
	}
}

/*
 * A read that brought little (an app writing one line per write(2), as
 * Node does) is followed by a short rest before the pipe is read again,
 * so the lines gather in the pipe (64 KiB) and come in batches: one
 * wakeup, read and write for many lines instead of three syscalls each.
 * The app never waits on us: it only would if the pipe filled, and a
 * full pipe is read at once.
 */
#define READ_SMALL	(16 * 1024)
#define PIPE_ROOM	(1024 * 1024)
#define READ_REST_MS	1


static void	logpipe_read_cb(uv_stream_t *, ssize_t, const uv_buf_t *);
static void	logpipe_alloc_cb(uv_handle_t *, size_t, uv_buf_t *);

static void
rest_cb(uv_timer_t *h)
{
	struct logsink	*ls = h->data;
	struct logpipe	*lp;

	while ((lp = LIST_FIRST(&ls->paused)) != NULL) {
		LIST_REMOVE(lp, pause_entry);
		lp->paused = 0;
		uv_read_start((uv_stream_t *)&lp->pipe, logpipe_alloc_cb,
		    logpipe_read_cb);
	}
}

static void
logpipe_rest(struct logpipe *lp)
{
	struct logsink	*ls = lp->app->t->logs;

	if (lp->paused || !lp->open)
		return;
	uv_read_stop((uv_stream_t *)&lp->pipe);
	lp->paused = 1;
	LIST_INSERT_HEAD(&ls->paused, lp, pause_entry);
	if (!uv_is_active((uv_handle_t *)&ls->rest_timer))
		uv_timer_start(&ls->rest_timer, rest_cb, READ_REST_MS, 0);
}

/* The unfinished line goes first, then the new bytes after it. */
static void
logpipe_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct logpipe	*lp = h->data;
	char		*rbuf = lp->app->t->logs->rbuf;

	(void)hint;
	if (lp->len > 0)
		memcpy(rbuf, lp->part, lp->len);
	buf->base = rbuf + lp->len;
	buf->len = LOGPIPE_BUF - lp->len;
}

/* --- what the app said of itself ---------------------------------- */

/* Slots fit in the two words of struct app_warning. */
_Static_assert(2 * APP_MAX_INSTANCES <= 128, "app_warning.slots");

static void
warning_add(struct app *app, unsigned idx, const char *msg)
{
	struct app_warning	*w, *free_w = NULL;
	size_t			 i;

	if (idx >= 128)
		return;
	for (i = 0; i < APP_WARNINGS_MAX; i++) {
		w = &app->warnings[i];
		if (w->msg == msg) {
			w->slots[idx / 64] |= (uint64_t)1 << (idx % 64);
			return;
		}
		if (w->msg == NULL && free_w == NULL)
			free_w = w;
	}
	if (free_w == NULL)
		return;		/* bounded: the profile has fewer than this */
	free_w->msg = msg;
	free_w->slots[idx / 64] |= (uint64_t)1 << (idx % 64);
	log_warnx("%s: warning: %s", app->name, msg);
	applog_event(app, (int)idx, "warning: %s", msg);
}

/* Instance idx starts a new run: what its last run said is forgotten. */
static void
warnings_new_run(struct app *app, unsigned idx)
{
	struct app_warning	*w;
	size_t			 i;

	if (idx >= 128)
		return;
	for (i = 0; i < APP_WARNINGS_MAX; i++) {
		w = &app->warnings[i];
		w->slots[idx / 64] &= ~((uint64_t)1 << (idx % 64));
		if (w->slots[0] == 0 && w->slots[1] == 0)
			w->msg = NULL;
	}
}

size_t
app_warnings(const struct app *app, const char **out, size_t max)
{
	const struct app_warning *w;
	size_t			 i, n = 0;
	unsigned		 j;

	for (i = 0; i < APP_WARNINGS_MAX && n < max; i++) {
		w = &app->warnings[i];
		if (w->msg == NULL)
			continue;
		/* Up-call: app.c says which slots serve (a read). */
		for (j = 0; j < app->n_inst && j < 128; j++)
			if ((w->slots[j / 64] & ((uint64_t)1 << (j % 64))) &&
			    inst_active(&app->inst[j]))
				break;
		if (j < app->n_inst && j < 128)
			out[n++] = w->msg;
	}
	return n;
}

/*
 * The whole lines of [p, end) (end just past a newline; longer ones than
 * LOG_LINE_MAX are split as pipe_line does), for a pipe whose lines only go to the log: an
 * instance's stdout, no journal copy.  That is the flood case, and each
 * line costs a memchr and two copies into the stage, no calls of ours:
 * the prefix is copied PREFIX_MAX bytes at once (a fixed size the
 * compiler turns into two vector moves; the bytes past plen are
 * overwritten by the line), the line with its newline in one go.
 * Measured on 200,000 100-byte lines under callgrind: 280 instructions a
 * line through pipe_line, stage_line and three memcpy calls before.
 */
static void
stage_lines(struct logpipe *lp, const char *prefix, size_t plen,
    const char *p, const char *end)
{
	struct app	*app = lp->app;
	struct logsink	*ls = app->t->logs;
	enum profile	 prof = app->ca->profile;
	const char	*nl, *w;
	char		*dst;
	size_t		 n;

	if (ls->stage_app != NULL && ls->stage_app != app)
		stage_flush(ls->stage_app);	/* another app's lines */
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		while ((size_t)(nl - p) > LOG_LINE_MAX) {
			pipe_line(lp, prefix, plen, p, LOG_LINE_MAX);
			p += LOG_LINE_MAX;
		}
		n = (size_t)(nl - p) + 1;
		if (ls->stage_len + PREFIX_MAX + n > sizeof(ls->stage))
			stage_flush(app);
		/* Each time: a flush (a warning's event line flushes too)
		 * leaves the stage to nobody. */
		ls->stage_app = app;
		dst = ls->stage + ls->stage_len;
		memcpy(dst, prefix, PREFIX_MAX);
		memcpy(dst + plen, p, n);
		ls->stage_len += plen + n;
		/* A few fixed strings looked for, and only in a profile's
		 * apps. */
		if (prof != PROFILE_NONE && lp->inst != NULL &&
		    (w = profile_log_warning(prof, p, n - 1)) != NULL)
			warning_add(app, lp->inst->idx, w);
		p = nl + 1;
	}
}

/*
 * One line of a pipe: to the log as it came, and to the job that owns it
 * as valid UTF-8: a job's lines become deploy progress events and the
 * reasons in status, which are JSON.
 */
static void
pipe_line(struct logpipe *lp, const char *prefix, size_t plen, const char *p,
    size_t n)
{
	const char	*w;
	char	*fixed;
	size_t	 len;

	stage_line(lp->app, prefix, plen, p, n, lp->idx, lp->prio);
	/* A few fixed strings looked for, and only in a profile's apps. */
	if (lp->inst != NULL && lp->app->ca->profile != PROFILE_NONE &&
	    (w = profile_log_warning(lp->app->ca->profile, p, n)) != NULL)
		warning_add(lp->app, lp->inst->idx, w);
	if (lp->inst != NULL && lp->inst->err == lp && n > 0) {
		/* What an instance said last on stderr: why it did not
		 * start, often ("cannot enter ...", a missing module). */
		n = utf8_valid_prefix(p, n < sizeof(lp->inst->last_err) ? n :
		    sizeof(lp->inst->last_err) - 1);
		memcpy(lp->inst->last_err, p, n);
		lp->inst->last_err[n] = '\0';
	}
	if (lp->job == NULL)
		return;
	if (utf8_valid_prefix(p, n) == n)
		job_line(lp->job, p, n);
	else if ((fixed = utf8_repair(p, n, &len)) != NULL) {
		job_line(lp->job, fixed, len);
		free(fixed);
	}
}

static void
logpipe_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct logpipe	*lp = s->data;
	struct inst	*in = lp->inst;
	struct app	*app = lp->app;
	char		*rbuf = app->t->logs->rbuf;
	char		 prefix[PREFIX_MAX], *nl, *p, *end;
	size_t		 plen;

	(void)buf;
	if (nread == 0)
		return;
	plen = make_prefix(prefix, app, lp->idx, lp->stream);
	if (nread < 0) {
		/* EOF or error: what is left is a last, unterminated line. */
		if (lp->len > 0)
			pipe_line(lp, prefix, plen, lp->part, lp->len);
		lp->len = 0;
		stage_flush(app);
		if (nread != UV_EOF)
			log_warnx("%s: read %s: %s", app->name, lp->stream,
			    uv_strerror((int)nread));
		logpipe_close(lp);
		if (in != NULL)
			/* Up-call: an exit is judged once the output is
			 * drained; it may have waited for this EOF. */
			inst_group_check(in);
		return;
	}
	p = rbuf;
	end = rbuf + lp->len + (size_t)nread;
	/* The plain case: up to the last newline, at once. */
	if (lp->job == NULL && lp->inst != NULL && lp->inst->err != lp &&
	    !(app->t->journal && lp->prio >= 0) && (nl = memrchr(p, '\n',
	    (size_t)(end - p))) != NULL) {
		stage_lines(lp, prefix, plen, p, nl + 1);
		p = nl + 1;
	}
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		while ((size_t)(nl - p) > LOG_LINE_MAX) {
			pipe_line(lp, prefix, plen, p, LOG_LINE_MAX);
			p += LOG_LINE_MAX;
		}
		pipe_line(lp, prefix, plen, p, (size_t)(nl - p));
		p = nl + 1;
	}
	while ((size_t)(end - p) >= LOG_LINE_MAX) {
		pipe_line(lp, prefix, plen, p, LOG_LINE_MAX);
		p += LOG_LINE_MAX;
	}
	/* Keep the unfinished line (shorter than LOG_LINE_MAX). */
	lp->len = (size_t)(end - p);
	if (lp->len > 0 && lp->part == NULL &&
	    (lp->part = malloc(LOG_LINE_MAX)) == NULL) {
		pipe_line(lp, prefix, plen, p, lp->len);	/* split, not lost */
		lp->len = 0;
	}
	if (lp->len > 0)
		memcpy(lp->part, p, lp->len);
	stage_later(app);
	if ((size_t)nread < READ_SMALL)
		logpipe_rest(lp);
}

/*
 * A real pipe for a child's stdout or stderr: its write end, for the
 * child's stdio (*child_fd), and its read end opened on lp.  libuv's
 * UV_CREATE_PIPE makes a socketpair, and Node writes to a socket
 * asynchronously, through its stream machinery, and to a pipe with a
 * plain write(2): the same app logs faster to a pipe.
 */
static int
logpipe_make(struct logpipe *lp, uv_file *child_fd)
{
	uv_file	fds[2];
	int	r;

	if ((r = uv_pipe(fds, UV_NONBLOCK_PIPE, 0)) != 0)
		return r;
	/* Room for 1 MiB: a pipe read after a rest (logpipe_rest) holds
	 * what a fast writer wrote meanwhile instead of blocking it at
	 * 64 KiB.  Pages are only taken as they fill; a failure is fine. */
	(void)fcntl(fds[0], F_SETPIPE_SZ, PIPE_ROOM);
	if ((r = uv_pipe_open(&lp->pipe, fds[0])) != 0) {
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	*child_fd = fds[1];
	return 0;
}

/*
 * A child's stdout and stderr: two logpipes (*out, *err) on real pipes,
 * and stdio[3] for uv_spawn with stdin ignored.  cfd[] are the child's
 * ends, to close once it is spawned (or on failure; -1 when unused).  On
 * error why says so; pipes already made stay in *out, *err for the
 * caller's cleanup.
 */
int
logpipe_child_stdio(struct app *app, struct inst *in, struct job *job, int idx,
    const char *out_stream, const char *err_stream, struct logpipe **out,
    struct logpipe **err, uv_stdio_container_t stdio[3], uv_file cfd[2],
    char *why, size_t whylen)
{
	int	r;

	if (in != NULL)
		warnings_new_run(app, in->idx);
	*out = logpipe_new(app, in, job, idx, out_stream, 6);
	*err = logpipe_new(app, in, job, idx, err_stream, 3);
	if (*out == NULL || *err == NULL) {
		snprintf(why, whylen, "out of memory");
		return UV_ENOMEM;
	}
	if ((r = logpipe_make(*out, &cfd[0])) != 0 ||
	    (r = logpipe_make(*err, &cfd[1])) != 0) {
		snprintf(why, whylen, "pipe: %s", uv_strerror(r));
		return r;
	}
	memset(stdio, 0, 3 * sizeof(*stdio));
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = cfd[0];
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = cfd[1];
	return 0;
}

int
logpipe_start(struct logpipe *lp)
{
	int	r;

	if ((r = uv_read_start((uv_stream_t *)&lp->pipe, logpipe_alloc_cb,
	    logpipe_read_cb)) != 0) {
		log_warnx("%s: read_start: %s", lp->app->name,
		    uv_strerror(r));
		return -1;
	}
	return 0;
}
