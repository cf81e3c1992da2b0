/*
 * ctl-status.c: the table of `tendctl status` and `tendctl top`: a row
 * per app and, when it runs several instances, a row per instance under
 * it (like `pm2 ls`).  Every cell is made first and each column is as
 * wide as its widest cell, so a long app name moves the columns instead
 * of breaking them.  States are coloured only when asked (want_color):
 * a pipe, NO_COLOR or --no-color get plain text.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendctl.h"

enum {
	COL_NAME, COL_STATE, COL_PID, COL_UPTIME, COL_RESTARTS, COL_EXIT,
	COL_CPU, COL_MEM, COL_HEALTH, COL_REASON, COL__COUNT
};
static const struct {
	const char	*head;
	int		 right;		/* numbers line up on the right */
} cols[COL__COUNT] = {
	[COL_NAME] = { "NAME", 0 },
	[COL_STATE] = { "STATE", 0 },
	[COL_PID] = { "PID", 1 },
	[COL_UPTIME] = { "UPTIME", 1 },
	[COL_RESTARTS] = { "RESTARTS", 1 },
	[COL_EXIT] = { "LAST-EXIT", 0 },
	[COL_CPU] = { "CPU", 1 },
	[COL_MEM] = { "MEM", 1 },
	[COL_HEALTH] = { "HEALTH", 0 },
	[COL_REASON] = { "REASON", 0 },
};

#define ANSI_RESET	"\033[0m"

struct srow {
	char		*cell[COL__COUNT];	/* NULL: a free line */
	char		*line;			/* a warning under an app */
	const char	*color;			/* of the STATE cell */
};

struct status_table {
	struct srow	*rows;
	size_t		 n, cap;
	size_t		 width[COL__COUNT];
	int		 flags;
};

static const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static char *
xstrdup(const char *s)
{
	char	*p = strdup(s);

	if (p == NULL) {
		fprintf(stderr, "tendctl: out of memory\n");
		exit(EXIT_FAIL);
	}
	return p;
}

/* Green for serving, yellow for on its way, red for needs a hand. */
static const char *
state_color(const char *st)
{
	if (strcmp(st, "live") == 0)
		return "\033[32m";
	if (strcmp(st, "failed") == 0)
		return "\033[1;31m";
	if (strcmp(st, "backoff") == 0)
		return "\033[31m";
	if (strcmp(st, "stopped") == 0)
		return NULL;
	return "\033[33m";	/* starting, preflight, migrating, stopping */
}

static struct srow *
row_add(struct status_table *tb)
{
	struct srow	*r;

	if (tb->n == tb->cap) {
		tb->cap = tb->cap ? tb->cap * 2 : 16;
		if ((tb->rows = reallocarray(tb->rows, tb->cap,
		    sizeof(*tb->rows))) == NULL) {
			fprintf(stderr, "tendctl: out of memory\n");
			exit(EXIT_FAIL);
		}
	}
	r = &tb->rows[tb->n++];
	memset(r, 0, sizeof(*r));
	return r;
}

/* "SIGKILL 5s ago", "code 0 2m3s ago", "-". */
static void
exit_text(char *buf, size_t len, json_t *e)
{
	json_t	*v;
	char	 what[32], ago[32] = "";

	if ((v = json_object_get(e, "code")) != NULL)
		snprintf(what, sizeof(what), "code %lld",
		    (long long)json_integer_value(v));
	else if ((v = json_object_get(e, "signal")) != NULL)
		snprintf(what, sizeof(what), "%s", json_string_value(v));
	else {
		snprintf(buf, len, "-");
		return;
	}
	if (json_is_integer(v = json_object_get(e, "ago_ms")))
		format_duration(ago, sizeof(ago),
		    (uint64_t)json_integer_value(v));
	snprintf(buf, len, "%s%s%s%s", what, *ago ? " " : "", ago,
	    *ago ? " ago" : "");
}

/* Room kept for " and 4294967295 more". */
#define NAMES_MORE	24

/*
 * The REASON column: the step or reason, then a note when the app's
 * env_file changed since its processes started ("env_changed").
 */
static void
status_reason(json_t *a, char *buf, size_t len)
{
	json_t		*names = json_object_get(a, "env_changed"), *n;
	const char	*base, *s;
	size_t		 used, i, nl, total = json_array_size(names);

	base = json_is_string(json_object_get(a, "step")) ? jstr(a, "step") :
	    jstr(a, "reason");
	if (!json_is_array(names)) {
		snprintf(buf, len, "%s", base);
		return;
	}
	if (json_is_string(json_object_get(a, "env_unreadable"))) {
		snprintf(buf, len, "%s%senv changed: file unreadable (%s)", base,
		    *base ? "; " : "", jstr(a, "env_unreadable"));
		return;
	}
	snprintf(buf, len, "%s%senv changed: restart to apply (", base,
	    *base ? "; " : "");
	if ((used = strlen(buf)) + NAMES_MORE + 2 >= len)
		return;	/* a reason that fills the column */
	json_array_foreach(names, i, n) {
		s = json_string_value(n);
		nl = s != NULL ? strlen(s) : 0;
		if (used + 2 + nl + 1 + (i + 1 < total ? NAMES_MORE : 0) >= len) {
			snprintf(buf + used, len - used, "%sand %zu more",
			    i > 0 ? " " : "", total - i);
			used += strlen(buf + used);
			break;
		}
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
		    i > 0 ? ", " : "", s != NULL ? s : "");
	}
	if (used + 1 < len)
		snprintf(buf + used, len - used, ")");
}

/*
 * The cells every row has, from an app or one of its instances (the same
 * field names).  CPU and MEM stay blank without a process: a stopped
 * app has no figures, not old ones.  An app with instance rows under it
 * leaves PID and UPTIME to them.
 */
static void
row_fill(struct srow *r, json_t *o, const char *name, int with_insts)
{
	json_t	*v;
	char	 b[640];
	int	 has_proc;

	r->cell[COL_NAME] = xstrdup(name);
	v = json_object_get(o, "next_restart_ms");
	if (json_is_integer(v)) {
		char d[32];

		format_duration(d, sizeof(d), (uint64_t)json_integer_value(v));
		snprintf(b, sizeof(b), "%s (%s)", jstr(o, "state"), d);
	} else
		snprintf(b, sizeof(b), "%s", jstr(o, "state"));
	r->cell[COL_STATE] = xstrdup(b);
	r->color = state_color(jstr(o, "state"));
	v = json_object_get(o, "pid");
	has_proc = json_is_integer(v) || json_integer_value(json_object_get(o,
	    "rss_bytes")) > 0;
	if (json_is_integer(v) && !with_insts)
		snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(v));
	else
		snprintf(b, sizeof(b), with_insts ? "" : "-");
	r->cell[COL_PID] = xstrdup(b);
	v = json_object_get(o, "uptime_ms");
	if (json_is_integer(v) && !with_insts)
		format_duration(b, sizeof(b), (uint64_t)json_integer_value(v));
	else
		snprintf(b, sizeof(b), with_insts ? "" : "-");
	r->cell[COL_UPTIME] = xstrdup(b);
	snprintf(b, sizeof(b), "%lld",
	    (long long)json_integer_value(json_object_get(o, "restarts")));
	r->cell[COL_RESTARTS] = xstrdup(b);
	exit_text(b, sizeof(b), json_object_get(o, "last_exit"));
	r->cell[COL_EXIT] = xstrdup(b);
	if (has_proc)
		snprintf(b, sizeof(b), "%.1f%%",
		    json_number_value(json_object_get(o, "cpu_percent")));
	else
		b[0] = '\0';
	r->cell[COL_CPU] = xstrdup(b);
	if (has_proc)
		format_size(b, sizeof(b), (uint64_t)json_integer_value(
		    json_object_get(o, "rss_bytes")));
	else
		b[0] = '\0';
	r->cell[COL_MEM] = xstrdup(b);
	r->cell[COL_HEALTH] = xstrdup(jstr(o, "health"));
	status_reason(o, b, sizeof(b));
	r->cell[COL_REASON] = xstrdup(b);
}

struct status_table *
status_table_new(json_t *apps, int flags)
{
	struct status_table	*tb;
	struct srow		*r;
	json_t			*a, *in, *insts, *w;
	size_t			 i, j, k;
	char			 name[64], *line;

	if ((tb = calloc(1, sizeof(*tb))) == NULL) {
		fprintf(stderr, "tendctl: out of memory\n");
		exit(EXIT_FAIL);
	}
	tb->flags = flags;
	r = row_add(tb);
	for (k = 0; k < COL__COUNT; k++)
		r->cell[k] = xstrdup(cols[k].head);
	json_array_foreach(apps, i, a) {
		insts = json_object_get(a, "instances");
		if (json_array_size(insts) < 2)
			insts = NULL;
		row_fill(row_add(tb), a, jstr(a, "name"), insts != NULL);
		json_array_foreach(insts, j, in) {
			snprintf(name, sizeof(name), "  #%lld",
			    (long long)json_integer_value(json_object_get(in,
			    "index")));
			row_fill(row_add(tb), in, name, 0);
		}
		if (flags & STATUS_NO_WARN)
			continue;
		/* What the app's output said of its configuration: under
		 * it, one line each (the app runs on). */
		json_array_foreach(json_object_get(a, "warnings"), j, w) {
			if (!json_is_string(w))
				continue;
			if (asprintf(&line, "warning: %s",
			    json_string_value(w)) < 0) {
				fprintf(stderr, "tendctl: out of memory\n");
				exit(EXIT_FAIL);
			}
			row_add(tb)->line = line;
		}
	}
	for (i = 0; i < tb->n; i++)
		for (k = 0; k < COL__COUNT; k++)
			if (tb->rows[i].cell[k] != NULL &&
			    strlen(tb->rows[i].cell[k]) > tb->width[k])
				tb->width[k] = strlen(tb->rows[i].cell[k]);
	return tb;
}

size_t
status_table_rows(const struct status_table *tb)
{
	return tb->n;
}

/* A line being made, cut at a visible width. */
struct lbuf {
	char	*s;
	size_t	 len, cap;
	size_t	 cols, max;	/* visible columns so far; 0: no cut */
};

static void
lb_raw(struct lbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		if ((b->s = realloc(b->s, b->cap)) == NULL) {
			fprintf(stderr, "tendctl: out of memory\n");
			exit(EXIT_FAIL);
		}
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Text that takes room: a UTF-8 sequence is one column, never split.
 * A reason may quote what the app's user wrote (a key of its env_file):
 * a control character (C0, DEL, C1) is shown as '?', never sent to the
 * terminal as the start of an escape sequence. */
static void
lb_text(struct lbuf *b, const char *s, size_t n)
{
	size_t		 i, start;
	unsigned char	 c;

	for (i = 0; i < n; ) {
		if (b->max != 0 && b->cols >= b->max)
			return;
		start = i++;
		while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		c = (unsigned char)s[start];
		if (c < 0x20 || c == 0x7f || (c == 0xc2 && i - start == 2 &&
		    (unsigned char)s[start + 1] <= 0x9f))
			lb_raw(b, "?", 1);
		else
			lb_raw(b, s + start, i - start);
		b->cols++;
	}
}

static void
lb_pad(struct lbuf *b, size_t n)
{
	while (n-- > 0)
		lb_text(b, " ", 1);
}

void
status_table_emit(struct status_table *tb, size_t max_cols, size_t max_rows,
    void (*emit)(void *, const char *), void *arg)
{
	struct lbuf	 b;
	struct srow	*r;
	size_t		 i, k, len, pad;
	int		 color = tb->flags & STATUS_COLOR;

	memset(&b, 0, sizeof(b));
	b.max = max_cols;
	for (i = 0; i < tb->n && (max_rows == 0 || i < max_rows); i++) {
		r = &tb->rows[i];
		b.len = b.cols = 0;
		lb_raw(&b, "", 0);
		if (r->line != NULL) {
			lb_pad(&b, tb->width[COL_NAME] + 1);
			lb_text(&b, r->line, strlen(r->line));
			emit(arg, b.s);
			continue;
		}
		for (k = 0; k < COL__COUNT; k++) {
			len = strlen(r->cell[k]);
			pad = tb->width[k] - len;
			if (k == COL__COUNT - 1) {
				lb_text(&b, r->cell[k], len);	/* unpadded */
				break;
			}
			if (cols[k].right)
				lb_pad(&b, pad);
			if (color && i > 0 && k == COL_STATE &&
			    r->color != NULL && (b.max == 0 || b.cols < b.max)) {
				lb_raw(&b, r->color, strlen(r->color));
				lb_text(&b, r->cell[k], len);
				lb_raw(&b, ANSI_RESET, strlen(ANSI_RESET));
			} else
				lb_text(&b, r->cell[k], len);
			if (!cols[k].right)
				lb_pad(&b, pad);
			lb_pad(&b, 2);
		}
		/* No trailing blanks when REASON is empty. */
		while (b.len > 0 && b.s[b.len - 1] == ' ')
			b.s[--b.len] = '\0';
		emit(arg, b.s);
	}
	free(b.s);
}

void
status_table_free(struct status_table *tb)
{
	size_t	i, k;

	if (tb == NULL)
		return;
	for (i = 0; i < tb->n; i++) {
		for (k = 0; k < COL__COUNT; k++)
			free(tb->rows[i].cell[k]);
		free(tb->rows[i].line);
	}
	free(tb->rows);
	free(tb);
}

static void
emit_stdout(void *arg, const char *line)
{
	(void)arg;
	printf("%s\n", line);
}

void
status_print(json_t *apps, int flags)
{
	struct status_table *tb = status_table_new(apps, flags);

	status_table_emit(tb, 0, 0, emit_stdout, NULL);
	status_table_free(tb);
}

int
want_color(int fd)
{
	const char	*nc = getenv("NO_COLOR"), *term = getenv("TERM");

	if (nc != NULL && *nc != '\0')
		return 0;	/* https://no-color.org */
	if (term != NULL && strcmp(term, "dumb") == 0)
		return 0;
	return isatty(fd);
}
