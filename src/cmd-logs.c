/*
 * cmd-logs.c: `logs APP...|all [--err] [--since T] [-n N] [-f]`: the
 * newest lines of the apps' log files, merged by time, then, with
 * follow, every new line as an event until the client hangs up.
 *
 * The files are root's, in log_dir: tendd reads them for its clients,
 * in libuv's thread pool (logread.c), never on the loop.  Here, on the
 * loop, each app's lines staged for its file are flushed and its current
 * file opened, so the worker reads exactly what was written up to the
 * request; a follower attached at that moment holds what comes next
 * (bounded) until the history is out, so no line is shown twice or
 * missed.  An app whose file cannot be written (disk full, log_dir
 * gone) is read from the lines kept in memory instead.
 *
 * Every event names its app: {"event":"log","app":A,"data":"lines"}.
 * History goes out a chunk at a time, only while the client has read
 * what went before; a follower further behind than FOLLOW_MAX loses
 * lines and is told.  Output that is not UTF-8 goes out with U+FFFD in
 * its place (proto_text).
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

/* What -n may ask for, and the text it may bring, in all. */
#define LOGS_MAX_LINES	100000
#define LOGS_MAX_BYTES	(16 * 1024 * 1024)
/* Each app's share of it is at least this. */
#define LOGS_APP_BYTES	(64 * 1024)
/* Histories being read or sent at once (the thread pool has 4 threads):
 * what tendd may hold for them is this many LOGS_MAX_BYTES. */
#define LOGS_ACTIVE_MAX	4
/* Without -n. */
#define LOGS_DEFAULT	20
/* A follower further behind than this loses lines (and is told). */
#define FOLLOW_MAX	(1024 * 1024)
/* History: text per event, and how much may wait in the client's queue
 * before the rest waits for it to read. */
#define SEND_CHUNK	(64 * 1024)
#define SEND_AHEAD	(256 * 1024)

/* One app of a request. */
struct logsrc {
	char		*name;
	char		*path;
	int		 fd;		/* its current file, or -1 */
	uint64_t	 limit;		/* its size at the request */
	char		*mem;		/* or the lines kept in memory */
	size_t		 mem_len;
	struct loglines	 lines;		/* newest first, from the worker */
	struct follower	*fol;		/* with -f, while the app is there */
};

struct logreq {
	struct tend	*t;
	struct client	*client;	/* NULL once it hung up */
	struct client_hook *on_close;
	struct client_hook *on_drain;
	uv_work_t	 work;
	int		 working;	/* the worker has it */
	int		 sending;	/* history going out */
	int		 counted;	/* in t->logs_reading */
	int		 ended;		/* answered, or its client gone */
	unsigned	 depth;		/* sending: a failed send closes the
					 * client, which ends r; freed after */
	int		 follow;
	struct logwant	 want;
	struct logsrc	*src;
	size_t		 nsrc;
	size_t		 nfollow;	/* followers still attached */
	struct logpick	*picks;
	size_t		 npicks, next;
	char		 why[512];	/* the worker's error */
};

static void	logreq_free(struct logreq *);

/* Around sends: a send that fails closes the client, whose close hook
 * ends r; r is freed once the sender is done with it.  logreq_release
 * says whether r is gone. */
static void
logreq_hold(struct logreq *r)
{
	r->depth++;
}

static int
logreq_release(struct logreq *r)
{
	if (--r->depth > 0 || !r->ended)
		return r->ended;
	if (!r->working)
		logreq_free(r);
	return 1;
}

/* data: lines of app, whole; only the err ones for --err. */
static json_t *
log_event(const char *app, const char *p, size_t n)
{
	json_t	*ev = json_object();

	if (ev == NULL || json_object_set_new(ev, "event",
	    json_string("log")) != 0 || json_object_set_new(ev, "app",
	    json_string(app)) != 0 || json_object_set_new(ev, "data",
	    proto_text(p, n)) != 0) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}

/* Tell a follower how much it missed, once it can take it.  -1 when
 * the send failed: the client is closed and f gone. */
static int
follower_note_drops(struct follower *f)
{
	char	note[96];
	json_t	*ev;

	if (f->dropped == 0 || f->holding)
		return 0;
	snprintf(note, sizeof(note), "[tend: %llu bytes dropped: reader too "
	    "slow]\n", (unsigned long long)f->dropped);
	f->dropped = 0;
	if ((ev = log_event(f->app->name, note, strlen(note))) == NULL)
		return 0;
	return client_send(f->client, ev) == 0 ? 0 : -1;
}

/* The lines of p that --err keeps, into out (as large as p). */
static size_t
only_err(const char *p, size_t n, char *out)
{
	struct logline	 ll;
	const char	*e, *end = p + n;
	size_t		 k = 0;

	for (; p < end; p = e + 1) {
		if ((e = memchr(p, '\n', (size_t)(end - p))) == NULL)
			e = end;
		if (logline_parse(p, (size_t)(e - p), &ll) == 0 &&
		    logline_is_err(&ll)) {
			memcpy(out + k, p, (size_t)(e - p));
			k += (size_t)(e - p);
			out[k++] = '\n';
		}
		if (e == end)
			break;
	}
	return k;
}

static void
follower_deliver(struct follower *f, const char *p, size_t n)
{
	char	*nb;
	json_t	*ev;

	if (n == 0)
		return;
	if (f->holding) {
		/* The history is not out yet: these come after it. */
		if (f->held_len + n > FOLLOW_MAX) {
			f->dropped += n;
			return;
		}
		if ((nb = realloc(f->held, f->held_len + n)) == NULL) {
			f->dropped += n;
			return;
		}
		f->held = nb;
		memcpy(f->held + f->held_len, p, n);
		f->held_len += n;
		return;
	}
	if (client_queue_size(f->client) > FOLLOW_MAX) {
		f->dropped += n;
		return;
	}
	if (follower_note_drops(f) != 0)
		return;
	if ((ev = log_event(f->app->name, p, n)) != NULL)
		client_send(f->client, ev);
}

/* New output of app (whole lines, as written to its log) for each of its
 * `logs -f` readers, straight to their client's bounded queue. */
void
followers_output(struct app *app, const char *p, size_t n)
{
	struct follower	*f, *next;
	char		*errs = NULL;
	size_t		 nerr = 0;
	int		 filtered = 0;

	LIST_FOREACH_SAFE(f, &app->log.followers, entry, next) {
		if (!f->err_only) {
			follower_deliver(f, p, n);
			continue;
		}
		if (!filtered) {
			filtered = 1;
			if ((errs = malloc(n ? n : 1)) != NULL)
				nerr = only_err(p, n, errs);
		}
		if (errs == NULL)
			f->dropped += n;
		else
			follower_deliver(f, errs, nerr);
	}
	free(errs);
}

/* The follower goes (its client closed, or its app is removed). */
void
follower_remove(struct follower *f)
{
	struct logreq	*r = f->req;

	LIST_REMOVE(f, entry);
	r->src[f->slot].fol = NULL;
	r->nfollow--;
	free(f->held);
	free(f);
}

/* The history is out: what the followers held follows it. */
static void
followers_release(struct logreq *r)
{
	struct follower	*f;
	size_t		 i;
	json_t		*ev;

	for (i = 0; i < r->nsrc && !r->ended; i++) {
		if ((f = r->src[i].fol) == NULL)
			continue;
		f->holding = 0;
		ev = f->held_len > 0 ? log_event(f->app->name, f->held,
		    f->held_len) : NULL;
		free(f->held);
		f->held = NULL;
		f->held_len = 0;
		/* A failed send ends r, and f with it (r is held). */
		if ((ev != NULL && client_send(f->client, ev) != 0) ||
		    follower_note_drops(f) != 0)
			return;
	}
}

/* The request is over: answered with reply (NULL: a stream that the
 * client ends), and freed unless the worker still has it. */
static void
logreq_end(struct logreq *r, json_t *reply)
{
	struct client	*c = r->client;

	if (r->counted) {
		r->counted = 0;
		r->t->logs_reading--;
	}
	while (r->nfollow > 0) {
		size_t i;

		for (i = 0; i < r->nsrc; i++)
			if (r->src[i].fol != NULL)
				follower_remove(r->src[i].fol);
	}
	client_hook_remove(r->on_close);
	client_hook_remove(r->on_drain);
	r->on_close = r->on_drain = NULL;
	r->client = NULL;
	r->ended = 1;
	if (c != NULL && reply != NULL)
		client_finish(c, reply);
	else
		json_decref(reply);
	if (!r->working && r->depth == 0)
		logreq_free(r);
}

/* app goes away: its followers stop; a request left with none is
 * answered with why. */
void
followers_app_gone(struct app *app)
{
	struct follower	*f;
	struct logreq	*r;

	while ((f = LIST_FIRST(&app->log.followers)) != NULL) {
		r = f->req;
		follower_remove(f);
		if (r->nfollow == 0 && !r->sending && !r->working)
			logreq_end(r, cmd_error("%s was removed", app->name));
	}
}

/* Send history while the client keeps up; the rest on its drain. */
static void
logreq_send(struct logreq *r)
{
	char		*buf;
	size_t		 len, a;
	struct logsrc	*s;
	struct logent	*e;
	json_t		*ev;

	if ((buf = malloc(SEND_CHUNK + LOG_LINE_MAX + 256)) == NULL) {
		logreq_end(r, cmd_error("out of memory"));
		return;
	}
	logreq_hold(r);
	while (!r->ended && r->next < r->npicks &&
	    client_queue_size(r->client) < SEND_AHEAD) {
		/* A run of one app's lines, up to SEND_CHUNK of text. */
		a = r->picks[r->next].app;
		s = &r->src[a];
		len = 0;
		while (r->next < r->npicks && r->picks[r->next].app == a) {
			e = &s->lines.ents[r->picks[r->next].ent];
			if (len > 0 && len + e->len + 1 > SEND_CHUNK)
				break;
			/* A line is at most LOG_LINE_MAX and a prefix, but
			 * a file edited by hand may hold anything. */
			if (e->len + 1 > SEND_CHUNK + LOG_LINE_MAX + 256 - len)
				e->len = SEND_CHUNK + LOG_LINE_MAX + 255 - len;
			memcpy(buf + len, s->lines.buf + e->off, e->len);
			len += e->len;
			buf[len++] = '\n';
			r->next++;
		}
		if ((ev = log_event(s->name, buf, len)) == NULL) {
			free(buf);
			logreq_release(r);
			logreq_end(r, cmd_error("out of memory"));
			return;
		}
		client_send(r->client, ev);
	}
	free(buf);
	if (logreq_release(r) || r->next < r->npicks)
		return;		/* gone, or more when it drained */
	r->sending = 0;
	if (r->counted) {
		r->counted = 0;
		r->t->logs_reading--;
	}
	if (!r->follow) {
		logreq_end(r, json_pack("{s:b}", "ok", 1));
		return;
	}
	if (r->nfollow == 0) {
		logreq_end(r, r->nsrc == 0 ? cmd_error("no app to follow") :
		    cmd_error("%s was removed", r->nsrc == 1 ?
		    r->src[0].name : "every app asked for"));
		return;
	}
	logreq_hold(r);
	followers_release(r);
	logreq_release(r);
	/* No final reply: the stream ends when either side hangs up. */
}

static void
logreq_drained(struct client *c, void *arg)
{
	struct logreq	*r = arg;
	size_t		 i;

	(void)c;
	if (r->sending) {
		logreq_send(r);
		return;
	}
	/* A follower that caught up hears what it missed, even if the
	 * app has gone quiet since. */
	logreq_hold(r);
	for (i = 0; i < r->nsrc && !r->ended; i++)
		if (r->src[i].fol != NULL)
			(void)follower_note_drops(r->src[i].fol);
	logreq_release(r);
}

static void
logreq_client_gone(struct client *c, void *arg)
{
	struct logreq	*r = arg;

	(void)c;
	r->on_close = NULL;	/* freed as it ran */
	r->client = NULL;
	logreq_end(r, NULL);
}

static void
logreq_free(struct logreq *r)
{
	size_t	i;

	for (i = 0; i < r->nsrc; i++) {
		free(r->src[i].name);
		free(r->src[i].path);
		free(r->src[i].mem);
		if (r->src[i].fd != -1)
			close(r->src[i].fd);
		loglines_free(&r->src[i].lines);
	}
	free(r->src);
	free(r->picks);
	free(r);
}

/* In the thread pool: the files read, the apps merged.  Touches only r,
 * which the loop leaves alone while working is set. */
static void
logreq_work_cb(uv_work_t *w)
{
	struct logreq	*r = w->data;
	struct logsrc	*s;
	size_t		 i, total = 0, skip = 0;
	uint64_t	 floor = 0;
	char		 why[400];

	for (i = 0; i < r->nsrc; i++) {
		s = &r->src[i];
		if (s->mem != NULL) {
			if (logread_text(s->mem, s->mem_len, &r->want,
			    &s->lines) != 0) {
				snprintf(r->why, sizeof(r->why), "out of memory");
				return;
			}
		} else if (logread_app(s->fd, s->limit, s->path, &r->want,
		    &s->lines, why, sizeof(why)) != 0) {
			snprintf(r->why, sizeof(r->why), "%s: %s", s->path, why);
			return;
		}
		if (s->fd != -1)
			close(s->fd);
		s->fd = -1;
		total += s->lines.n;
		/* Its older lines were cut: the others' older than its oldest
		 * would show a time when it seemed silent. */
		if (s->lines.truncated && s->lines.n > 0 &&
		    s->lines.ents[s->lines.n - 1].ms > floor)
			floor = s->lines.ents[s->lines.n - 1].ms;
	}
	if (total > r->want.n)
		total = r->want.n;
	if (total > 0 && (r->picks = malloc(total * sizeof(*r->picks))) == NULL) {
		snprintf(r->why, sizeof(r->why), "out of memory");
		return;
	}
	{
		struct loglines *all = malloc(r->nsrc * sizeof(*all));

		if (all == NULL) {
			snprintf(r->why, sizeof(r->why), "out of memory");
			return;
		}
		for (i = 0; i < r->nsrc; i++)
			all[i] = r->src[i].lines;
		r->npicks = logread_merge(all, r->nsrc, total, r->picks);
		free(all);
	}
	while (skip < r->npicks && r->src[r->picks[skip].app].lines.ents[
	    r->picks[skip].ent].ms < floor)
		skip++;
	r->next = skip;
}

static void
logreq_after_cb(uv_work_t *w, int status)
{
	struct logreq	*r = w->data;

	r->working = 0;
	if (r->ended) {
		logreq_free(r);
		return;
	}
	if (status != 0 || r->why[0] != '\0') {
		logreq_end(r, cmd_error("%s", r->why[0] ? r->why :
		    uv_strerror(status)));
		return;
	}
	r->sending = 1;
	logreq_send(r);
}

/* The apps a request names: "apps" (names, or "all") or "app". */
static json_t *
logreq_apps(struct tend *t, json_t *req, struct app *one, struct app ***out,
    size_t *nout)
{
	json_t		*apps = json_object_get(req, "apps"), *v;
	struct app	**list, *app;
	size_t		 i, j, n = 0, cap;
	const char	*name;
	int		 all = 0;

	*out = NULL;
	*nout = 0;
	if (apps != NULL && json_object_get(req, "app") != NULL)
		return cmd_error("\"app\" and \"apps\" together");
	if (apps != NULL && (!json_is_array(apps) ||
	    json_array_size(apps) == 0))
		return cmd_error("\"apps\" must be an array of app names");
	if (apps == NULL)
		all = one == NULL;	/* cmd.c let "all" through */
	json_array_foreach(apps, i, v) {
		if ((name = json_string_value(v)) == NULL)
			return cmd_error("\"apps\" must be an array of app "
			    "names");
		if (strcmp(name, "all") == 0)
			all = 1;
		else if (!valid_app_name(name))
			return cmd_error("invalid app name");
		else if (app_find(t, name) == NULL)
			return cmd_error("no app named %s", name);
	}
	cap = 0;
	TAILQ_FOREACH(app, &t->apps, entry)
		cap++;
	cap += json_array_size(apps) + 1;
	if ((list = calloc(cap, sizeof(*list))) == NULL)
		return cmd_error("out of memory");
	if (all) {
		TAILQ_FOREACH(app, &t->apps, entry)
			if (!app->removing)
				list[n++] = app;
	} else if (apps == NULL)
		list[n++] = one;
	else
		json_array_foreach(apps, i, v) {
			app = app_find(t, json_string_value(v));
			for (j = 0; j < n && list[j] != app; j++)
				;
			if (j == n)
				list[n++] = app;
		}
	*out = list;
	*nout = n;
	return NULL;
}

/* src for app: its file opened now, or the lines kept in memory. */
static int
logsrc_open(struct logsrc *s, struct app *app, size_t n)
{
	struct applog	*l = &app->log;
	struct stat	 st;

	s->fd = -1;
	if ((s->name = strdup(app->name)) == NULL || l->path == NULL ||
	    (s->path = strdup(l->path)) == NULL)
		return -1;
	/* What is staged goes to the file first: the worker reads all. */
	applog_flush(app);
	if (l->fd != -1 && l->err == 0) {
		s->fd = open(l->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
		    O_NONBLOCK);
		if (s->fd != -1 && fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode)) {
			s->limit = (uint64_t)st.st_size;
			return 0;
		}
		if (s->fd != -1)
			close(s->fd);
		s->fd = -1;
	}
	/* The file is not being written: what tendd saw last. */
	if ((s->mem = applog_tail(l, n > UINT32_MAX ? UINT32_MAX : (unsigned)n,
	    &s->mem_len)) == NULL)
		return -1;
	return 0;
}

static void
cmd_logs_exec(struct tend *t, struct client *c, json_t *req, struct app *one)
{
	json_t		*jn = json_object_get(req, "n"), *err, *names;
	json_t		*js = json_object_get(req, "since");
	struct app	**apps;
	struct logreq	*r;
	struct follower	*f;
	size_t		 napps, i;
	int		 rc;

	if (jn != NULL && (!json_is_integer(jn) || json_integer_value(jn) < 0 ||
	    json_integer_value(jn) > LOGS_MAX_LINES)) {
		client_finish(c, cmd_error("\"n\" must be an integer from 0 "
		    "to %d", LOGS_MAX_LINES));
		return;
	}
	if (js != NULL && (!json_is_integer(js) || json_integer_value(js) < 0)) {
		client_finish(c, cmd_error("\"since\" must be a time in ms "
		    "since the epoch"));
		return;
	}
	if (t->logs_reading >= LOGS_ACTIVE_MAX) {
		client_finish(c, cmd_error("%u logs are being read already: "
		    "try again", t->logs_reading));
		return;
	}
	if ((err = logreq_apps(t, req, one, &apps, &napps)) != NULL) {
		client_finish(c, err);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->src = calloc(napps ? napps : 1, sizeof(*r->src))) == NULL) {
		free(r);
		free(apps);
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	r->t = t;
	r->counted = 1;
	t->logs_reading++;
	r->client = c;
	r->work.data = r;
	r->follow = json_is_true(json_object_get(req, "follow"));
	r->want.n = jn != NULL ? (size_t)json_integer_value(jn) : LOGS_DEFAULT;
	r->want.since = js != NULL ? (uint64_t)json_integer_value(js) : 0;
	r->want.err_only = json_is_true(json_object_get(req, "err"));
	/* Each app gets its share: the newest lines of every app must fit. */
	r->want.max_bytes = napps > 1 ? LOGS_MAX_BYTES / napps : LOGS_MAX_BYTES;
	if (r->want.max_bytes < LOGS_APP_BYTES)
		r->want.max_bytes = LOGS_APP_BYTES;
	for (i = 0; i < napps; i++)
		r->src[i].fd = -1;
	r->nsrc = napps;
	rc = 0;
	for (i = 0; i < napps && rc == 0; i++)
		rc = logsrc_open(&r->src[i], apps[i], r->want.n);
	if (rc != 0 || (r->on_close = client_on_close(c, logreq_client_gone,
	    r)) == NULL || (r->on_drain = client_on_drain(c, logreq_drained,
	    r)) == NULL) {
		free(apps);
		logreq_end(r, cmd_error("out of memory"));
		return;
	}
	/* Followers from now on, holding what comes until the history is
	 * out. */
	for (i = 0; i < napps && r->follow; i++) {
		if ((f = calloc(1, sizeof(*f))) == NULL) {
			free(apps);
			logreq_end(r, cmd_error("out of memory"));
			return;
		}
		f->client = c;
		f->app = apps[i];
		f->req = r;
		f->slot = i;
		f->holding = 1;
		f->err_only = r->want.err_only;
		LIST_INSERT_HEAD(&apps[i]->log.followers, f, entry);
		r->src[i].fol = f;
		r->nfollow++;
	}
	free(apps);
	/* Which apps these are ("all" names them): for the client's
	 * column. */
	if ((names = json_array()) != NULL) {
		for (i = 0; i < r->nsrc; i++)
			json_array_append_new(names, json_string(r->src[i].name));
		client_send(c, json_pack("{s:s,s:o}", "event", "apps", "apps",
		    names));
	}
	if ((rc = uv_queue_work(t->loop, &r->work, logreq_work_cb,
	    logreq_after_cb)) != 0) {
		logreq_end(r, cmd_error("cannot read the logs: %s",
		    uv_strerror(rc)));
		return;
	}
	r->working = 1;
}

const struct cmd_entry cmd_logs_entry = {
	.id = CMD_LOGS, .exec = cmd_logs_exec
};
