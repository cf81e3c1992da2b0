/*
 * tendctl.c: the client.  Finds the control socket (-s, $TEND_SOCKET, the
 * socket of the config named by -c, /run/tend/tend.sock), sends one
 * request line, prints event lines as they come and the reply as a table
 * for people or, with --json, as it came for scripts.
 *
 * What a command takes comes from cmd_defs (cmd-table.c), the table
 * tendd checks requests against; how its reply is shown to people is its
 * row in printers[] below.  The status table is ctl-status.c's, help,
 * usage, --version and shell completion are ctl-help.c's, and `top`, the
 * live view, is top.c's.
 *
 * Exit status: 0 success, 1 the operation failed, 2 usage, 3 tendd could
 * not be reached (the message names the socket and why).
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "tendctl.h"
#include "import.h"
/* A status of 1000 apps is well under this; anything larger is broken. */
#define REPLY_MAX	(64 * 1024 * 1024)

/* The connection to tendd and what has been read of it. */
struct conn {
	int		 fd;
	const char	*path;
	char		*buf;
	size_t		 cap, len, start;
};

/* What was asked, for the printers. */
struct ask {
	const struct cmd_def *def;
	const char	*app;
	int		 json;
	int		 follow;
	int		 fleet;		/* --fleet */
	int		 wait;		/* --wait */
	int		 quiet;		/* -q: no confirmation line */
	int		 nowait;	/* --no-wait: nothing to confirm */
	int		 color;		/* colour the status table */
	/* logs: the apps named (several, or "all": a column of names),
	 * and that column's width, from tendd's "apps" event. */
	char		**apps;
	size_t		 napps;
	int		 app_column;
	int		 name_width;
};

/* A usage error: the command's usage (or where to find them), exit 2. */
static void __attribute__((noreturn))
usage(const struct cmd_def *d)
{
	if (d != NULL)
		ctl_cmd_usage(stderr, d->name);
	else
		fprintf(stderr, "usage: tendctl [-s SOCKET] [-c CONFIG] COMMAND "
		    "[ARGS]\n(tendctl help lists the commands)\n");
	exit(EXIT_USAGE);
}

/* getopt's complaint, as ours: "tendctl: ...", not "logs: ...". */
static void __attribute__((noreturn))
bad_option(const struct cmd_def *d, char **argv, int ch)
{
	const char	*w = argv[optind - 1];

	if (ch == ':')
		fprintf(stderr, "tendctl: option %s needs a value\n", w);
	else if (optopt != 0)
		fprintf(stderr, "tendctl: unknown option -%c%s%s\n", optopt,
		    d != NULL ? " for " : "", d != NULL ? d->name : "");
	else
		fprintf(stderr, "tendctl: unknown option %s%s%s\n", w,
		    d != NULL ? " for " : "", d != NULL ? d->name : "");
	usage(d);
}

/* The socket key of [tend] in a config, without judging the rest of it:
 * tendctl must work while tend.conf is being fixed (reread reports). */
static char *
socket_from_conf(const char *conf)
{
	FILE	*f;
	char	 line[4096], *p, *k, *v, *e, *dcopy, *res = NULL;
	int	 in_tend = 0;

	if ((f = fopen(conf, "r")) == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL) {
		p = line + strspn(line, " \t");
		if (*p == '[') {
			in_tend = strncmp(p, "[tend]", 6) == 0;
			continue;
		}
		if (!in_tend || (e = strchr(p, '=')) == NULL)
			continue;
		*e = '\0';
		k = p;
		for (v = e - 1; v >= k && (*v == ' ' || *v == '\t'); v--)
			*v = '\0';
		if (strcmp(k, "socket") != 0)
			continue;
		v = e + 1 + strspn(e + 1, " \t");
		for (e = v; *e != '\0'; e++)
			if (*e == ';' && e > v && (e[-1] == ' ' || e[-1] == '\t'))
				break;
		*e = '\0';
		while (e > v && strchr(" \t\r\n", e[-1]) != NULL)
			*--e = '\0';
		free(res);
		res = NULL;
		if (*v == '/') {
			res = strdup(v);
		} else if ((dcopy = strdup(conf)) != NULL) {
			if (asprintf(&res, "%s/%s", dirname(dcopy), v) < 0)
				res = NULL;
			free(dcopy);
		}
	}
	fclose(f);
	return res;
}

/* Permission denied on the socket: who may use it, and how to be one. */
static void
access_hint(const char *path)
{
	struct stat	 st;
	struct group	*gr;

	if (stat(path, &st) == 0 && (gr = getgrgid(st.st_gid)) != NULL &&
	    st.st_gid != 0)
		fprintf(stderr, "tendctl: only root and members of group %s "
		    "(socket_group in tend.conf) may use it: "
		    "usermod -aG %s USER, then log in again\n", gr->gr_name,
		    gr->gr_name);
	else
		fprintf(stderr, "tendctl: only root may use it; set "
		    "socket_group in tend.conf to let a group's members in\n");
}

static void
conn_open(struct conn *cn, const char *path)
{
	struct sockaddr_un	sun;

	memset(cn, 0, sizeof(*cn));
	cn->path = path;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path) >=
	    (int)sizeof(sun.sun_path)) {
		fprintf(stderr, "tendctl: socket path too long: %s\n", path);
		exit(EXIT_UNREACH);
	}
	if ((cn->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(cn->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;

		fprintf(stderr, "tendctl: cannot reach tendd at %s: %s\n", path,
		    strerror(e));
		if (e == EACCES)
			access_hint(path);
		exit(EXIT_UNREACH);
	}
}

static void
conn_send(struct conn *cn, json_t *req)
{
	size_t	 len, off = 0;
	ssize_t	 w;
	char	*s = proto_encode(req, &len);

	if (s == NULL) {
		fprintf(stderr, "tendctl: out of memory\n");
		exit(EXIT_FAIL);
	}
	while (off < len) {
		if ((w = write(cn->fd, s + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				break;	/* tendd hung up: its reply says why */
			fprintf(stderr, "tendctl: write to %s: %s\n", cn->path,
			    strerror(errno));
			exit(EXIT_UNREACH);
		}
		off += (size_t)w;
	}
	free(s);
}

/* Read one line (without '\n') into the growing buffer; NULL at EOF. */
static char *
conn_read_line(struct conn *cn, size_t *lenp)
{
	char	*nl, *line;
	ssize_t	 n;

	for (;;) {
		if (cn->len > cn->start && (nl = memchr(cn->buf + cn->start,
		    '\n', cn->len - cn->start)) != NULL) {
			line = cn->buf + cn->start;
			*nl = '\0';
			*lenp = (size_t)(nl - line);
			cn->start = (size_t)(nl - cn->buf) + 1;
			return line;
		}
		if (cn->start > 0) {
			memmove(cn->buf, cn->buf + cn->start, cn->len - cn->start);
			cn->len -= cn->start;
			cn->start = 0;
		}
		if (cn->len == cn->cap) {
			if (cn->cap >= REPLY_MAX) {
				fprintf(stderr, "tendctl: reply too large\n");
				exit(EXIT_FAIL);
			}
			cn->cap = cn->cap ? cn->cap * 2 : 65536;
			if ((cn->buf = realloc(cn->buf, cn->cap)) == NULL) {
				fprintf(stderr, "tendctl: out of memory\n");
				exit(EXIT_FAIL);
			}
		}
		n = read(cn->fd, cn->buf + cn->len, cn->cap - cn->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "tendctl: read from %s: %s\n",
			    cn->path, strerror(errno));
			exit(EXIT_UNREACH);
		}
		if (n == 0)
			return NULL;
		cn->len += (size_t)n;
	}
}

static void
conn_close(struct conn *cn)
{
	close(cn->fd);
	free(cn->buf);
}

static const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static void
print_status(json_t *reply, const struct ask *ask)
{
	if (ask->fleet) {
		tendctl_print_fleet(reply);
		return;
	}
	status_print(json_object_get(reply, "apps"),
	    ask->color ? STATUS_COLOR : 0);
}

/* tendctl releases: newest first, the live one marked with '*'. */
static void
print_releases(json_t *reply, const struct ask *a)
{
	json_t		*r, *steps;
	size_t		 i;
	char		 b[32], t[32], st[40];

	if (a->fleet) {
		tendctl_print_fleet_releases(reply);
		return;
	}
	printf("  %-26s %-14s %-8s %-20s %7s %7s  %s\n", "RELEASE", "STATUS",
	    "SHA", "CREATED", "BUILD", "TOTAL", "REF / REASON");
	json_array_foreach(json_object_get(reply, "releases"), i, r) {
		steps = json_object_get(r, "steps");
		if (json_is_integer(json_object_get(steps, "build")))
			format_duration(b, sizeof(b), (uint64_t)json_integer_value(
			    json_object_get(steps, "build")));
		else
			snprintf(b, sizeof(b), "-");
		if (json_is_integer(json_object_get(r, "total_ms")))
			format_duration(t, sizeof(t), (uint64_t)json_integer_value(
			    json_object_get(r, "total_ms")));
		else
			snprintf(t, sizeof(t), "-");
		snprintf(st, sizeof(st), "%s%s", jstr(r, "status"),
		    json_is_true(json_object_get(r, "pruned")) ? " (pruned)" : "");
		printf("%s %-26s %-14s %-8.7s %-20s %7s %7s  %s%s%s\n",
		    json_is_true(json_object_get(r, "live")) ? "*" : " ",
		    jstr(r, "id"), st, jstr(r, "sha"),
		    jstr(r, "created_at"), b, t, jstr(r, "ref"),
		    *jstr(r, "reason") ? "  " : "", jstr(r, "reason"));
		if (json_object_get(r, "backup") != NULL)
			printf("  %-26s backup before its migration; restore with: "
			    "%s\n", "", jstr(json_object_get(r, "backup"),
			    "restore"));
	}
	/* A release group: what each member runs now. */
	if (json_array_size(json_object_get(reply, "members")) > 1) {
		printf("\n");
		json_array_foreach(json_object_get(reply, "members"), i, r)
			printf("  %-16s runs %s\n", jstr(r, "app"),
			    *jstr(r, "release") ? jstr(r, "release") :
			    "no release");
	}
}

/* An error line of tendd's, which may quote what an app's user wrote (a
 * bad key of its env_file): control characters go out as '?', not as
 * an escape sequence to the terminal. */
static void
print_error_line(const char *prefix, const char *s)
{
	const unsigned char	*p;

	fputs(prefix, stderr);
	for (p = (const unsigned char *)(s != NULL ? s : ""); *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			fputc('?', stderr);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			fputc('?', stderr);
			p++;
		} else
			fputc(*p, stderr);
	fputc('\n', stderr);
}

static void
print_errors(json_t *reply)
{
	json_t	*errs = json_object_get(reply, "errors"), *e;
	size_t	 i;

	if (json_array_size(errs) > 1 || (json_array_size(errs) == 1 &&
	    strcmp(json_string_value(json_array_get(errs, 0)),
	    jstr(reply, "error")) != 0)) {
		print_error_line("tendctl: ", jstr(reply, "error"));
		json_array_foreach(errs, i, e)
			print_error_line("", json_string_value(e));
	} else
		print_error_line("tendctl: ", jstr(reply, "error"));
}


/* App output, which may hold NUL bytes: all of it, not up to the first. */
static void
print_text(json_t *s)
{
	fwrite(json_string_value(s), 1, json_string_length(s), stdout);
}

static void
print_json(json_t *v, size_t flags)
{
	char *s = json_dumps(v, flags);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
}

static void
print_logs(json_t *reply, const struct ask *a)
{
	(void)a;
	if (json_is_string(json_object_get(reply, "data")))
		print_text(json_object_get(reply, "data"));
}

/* logs --json: one object a line, a log line taken apart. */
static void
print_log_json(const char *app, const char *p, size_t n)
{
	struct logline	 ll;
	json_t		*o;
	char		 ts[TIME_ISO_MAX];

	if (logline_parse(p, n, &ll) == 0) {
		time_iso(ts, sizeof(ts), ll.ms, TIME_MS);
		o = json_pack("{s:s,s:s,s:s%,s:s%}", "app", app, "time", ts,
		    "stream", ll.stream, ll.stream_len, "line", ll.text,
		    ll.text_len);
		if (o != NULL && ll.idx >= 0)
			json_object_set_new(o, "instance", json_integer(ll.idx));
	} else
		/* Not a line tend wrote: as it is. */
		o = json_pack("{s:s,s:n,s:n,s:s%}", "app", app, "time",
		    "stream", "line", p, n);
	print_json(o, JSON_COMPACT);
	json_decref(o);
}

/* A "log" event: its lines as they are, after the app's name when
 * several apps are shown, or each as a JSON object. */
static void
print_log_event(json_t *ev, const struct ask *a)
{
	json_t		*data = json_object_get(ev, "data");
	const char	*app = jstr(ev, "app"), *p, *e, *end;

	if (!json_is_string(data))
		return;
	if (!a->json && !a->app_column) {
		print_text(data);
		return;
	}
	p = json_string_value(data);
	end = p + json_string_length(data);
	for (; p < end; p = e + 1) {
		if ((e = memchr(p, '\n', (size_t)(end - p))) == NULL)
			e = end;
		if (a->json)
			print_log_json(app, p, (size_t)(e - p));
		else {
			printf("%-*s ", a->name_width, app);
			fwrite(p, 1, (size_t)(e - p), stdout);
			putchar('\n');
		}
		if (e == end)
			break;
	}
}

/* metrics: Prometheus's text, as tendd made it. */
static void
print_metrics(json_t *reply, const struct ask *a)
{
	(void)a;
	if (json_is_string(json_object_get(reply, "text")))
		print_text(json_object_get(reply, "text"));
}

/* check: one line per check, failed ones too. */
static void
print_check(json_t *reply, const struct ask *a)
{
	json_t	*checks = json_object_get(reply, "checks"), *c;
	size_t	 i;

	(void)a;
	json_array_foreach(checks, i, c)
		printf("%-9s %-4s %s\n", jstr(c, "name"),
		    !json_is_true(json_object_get(c, "ok")) ? "FAIL" :
		    json_is_true(json_object_get(c, "warning")) ? "warn" :
		    "ok", jstr(c, "detail"));
	if (json_is_array(checks) && json_array_size(checks) == 0)
		printf("nothing to check: no DATABASE_URL or REDIS_URL "
		    "in the app's environment and no profile\n");
	if (!json_is_true(json_object_get(reply, "ok")) && checks == NULL)
		print_errors(reply);
}

/* start, restart: the variables a start read anew, by name. */
static void
print_env_applied(json_t *reply, const struct ask *a)
{
	const char	*name;
	json_t		*v;

	(void)a;
	json_object_foreach(json_object_get(reply, "env_applied"), name, v)
		printf("%s: started with the new environment: %s\n", name,
		    json_string_value(v) != NULL ? json_string_value(v) : "");
}

/* "all" and --no-wait have no results: say what was asked. */
static void
print_asked(const struct ask *a)
{
	printf("%s: %s asked (not waiting)\n", a->app, a->def->name);
}

/*
 * start, stop, restart: one line per app, where it ended up ("web: live,
 * pid 1234, ready in 480 ms"), then the variables a start read anew.
 * -q: nothing.
 */
static void
print_run(json_t *reply, const struct ask *a)
{
	json_t		*r, *pids, *v;
	size_t		 i, j;
	long long	 ms;

	if (a->quiet)
		return;
	if (a->nowait)
		print_asked(a);
	json_array_foreach(json_object_get(reply, "results"), i, r) {
		pids = json_object_get(r, "pids");
		printf("%s: %s", jstr(r, "name"), jstr(r, "state"));
		if (json_array_size(pids) == 1)
			printf(", pid %lld", (long long)json_integer_value(
			    json_array_get(pids, 0)));
		else if (json_array_size(pids) > 1) {
			printf(", %zu instances, pids", json_array_size(pids));
			json_array_foreach(pids, j, v)
				printf(" %lld", (long long)json_integer_value(v));
		}
		if (json_is_integer(v = json_object_get(r, "ready_ms"))) {
			ms = (long long)json_integer_value(v);
			if (ms < 10000)
				printf(", ready in %lld ms", ms);
			else
				printf(", ready in %.1f s", (double)ms / 1000);
		}
		printf("\n");
	}
	print_env_applied(reply, a);
}

/* deploy, rollback, reload: where the app ended up. */
static void
print_outcome(json_t *reply, const struct ask *a)
{
	printf("%s: %s %s\n", a->app, jstr(reply, "release"),
	    jstr(reply, "status"));
}

/*
 * How each command's reply is shown to people (--json prints it as it
 * came).  .fn sees successful replies, and failed ones too with
 * .failed; otherwise a failure prints its error.  No row: nothing to
 * say on success.
 */
static const struct printer {
	void	(*fn)(json_t *reply, const struct ask *);
	int	  failed;
} printers[CMD__COUNT] = {
	[CMD_STATUS] = { .fn = print_status },
	[CMD_START] = { .fn = print_run },
	[CMD_STOP] = { .fn = print_run },
	[CMD_RESTART] = { .fn = print_run },
	[CMD_LOGS] = { .fn = print_logs },
	[CMD_CHECK] = { .fn = print_check, .failed = 1 },
	[CMD_DEPLOY] = { .fn = print_outcome },
	[CMD_RELOAD] = { .fn = print_outcome },
	[CMD_RELEASES] = { .fn = print_releases },
	[CMD_ROLLBACK] = { .fn = print_outcome },
	[CMD_METRICS] = { .fn = print_metrics },
};

/* An event line before the reply: a log line or deploy progress. */
static void
print_event(json_t *ev, struct ask *a)
{
	const char	*kind = jstr(ev, "event");

	if (strcmp(kind, "log") == 0) {
		print_log_event(ev, a);
		fflush(stdout);
	} else if (strcmp(kind, "apps") == 0) {
		json_t	*n;
		size_t	 i;

		json_array_foreach(json_object_get(ev, "apps"), i, n)
			if (json_string_length(n) > (size_t)a->name_width &&
			    json_string_length(n) < 256)
				a->name_width = (int)json_string_length(n);
	} else if (strcmp(kind, "progress") == 0 && !a->json) {
		printf("%s\n", jstr(ev, "line"));
		fflush(stdout);
	}
}

/* The socket to use: -s, $TEND_SOCKET, the config's, the default.
 * *owned is what to free. */
static const char *
find_socket(const char *opt, const char *conf, char **owned)
{
	const char	*path = opt;

	*owned = NULL;
	if (path == NULL)
		path = getenv("TEND_SOCKET");
	if (path != NULL && *path != '\0')
		return path;
	errno = 0;
	*owned = socket_from_conf(conf ? conf : TEND_DEFAULT_CONF);
	if (*owned == NULL && conf != NULL) {
		fprintf(stderr, "tendctl: %s: %s\n", conf,
		    errno ? strerror(errno) : "no socket setting");
		if (errno != 0)
			exit(EXIT_UNREACH);
	}
	return *owned != NULL ? *owned : TEND_DEFAULT_SOCKET;
}

/* The request for def, from the command line's operands and options;
 * anything def does not take is a usage error. */
static json_t *
build_request(const struct ask *a, const char *extra, int nowait, long lines,
    int err_only, long long since)
{
	const struct cmd_def	*d = a->def;
	json_t			*req;
	const char		*key = cmd_arg_key(d->extra);

	if ((nowait && !(d->flags & CMD_F_NO_WAIT)) ||
	    (lines >= 0 && !(d->flags & CMD_F_LINES)) ||
	    (a->follow && !(d->flags & CMD_F_FOLLOW)) ||
	    (a->fleet && (!(d->flags & CMD_F_FLEET) ||
	    (a->app != NULL && d->app != CMD_ARG_APP))) ||
	    (a->wait && (!(d->flags & CMD_F_WAIT) || !a->fleet)) ||
	    ((err_only || since >= 0) && !(d->flags & CMD_F_LOGSEL)) ||
	    (a->app != NULL && d->app == CMD_ARG_NONE) ||
	    (a->app == NULL && (d->app == CMD_ARG_APP ||
	    d->app == CMD_ARG_APP_OR_ALL || d->app == CMD_ARG_APPS)) ||
	    (extra != NULL && key == NULL)) {
		if (a->app == NULL && d->app != CMD_ARG_NONE &&
		    d->app != CMD_ARG_APP_OPTIONAL)
			fprintf(stderr, "tendctl: %s needs an app name%s\n",
			    d->name, d->app == CMD_ARG_APP_OR_ALL ||
			    d->app == CMD_ARG_APPS ? " (or all)" : "");
		else
			fprintf(stderr, "tendctl: %s does not take that\n",
			    d->name);
		usage(d);
	}
	if (a->app != NULL && !((d->app == CMD_ARG_APP_OR_ALL ||
	    d->app == CMD_ARG_APPS) && strcmp(a->app, "all") == 0) &&
	    !valid_app_name(a->app)) {
		fprintf(stderr, "tendctl: invalid app name\n");
		exit(EXIT_USAGE);
	}
	if ((req = json_pack("{s:s}", "cmd", d->name)) == NULL)
		exit(EXIT_FAIL);
	if (a->napps > 1) {
		json_t	*names = json_array();
		size_t	 i;

		for (i = 0; i < a->napps; i++) {
			if (strcmp(a->apps[i], "all") != 0 &&
			    !valid_app_name(a->apps[i])) {
				fprintf(stderr, "tendctl: invalid app name: "
				    "%s\n", a->apps[i]);
				exit(EXIT_USAGE);
			}
			json_array_append_new(names, json_string(a->apps[i]));
		}
		json_object_set_new(req, "apps", names);
	} else if (a->app != NULL)
		json_object_set_new(req, "app", json_string(a->app));
	if (err_only)
		json_object_set_new(req, "err", json_true());
	if (since >= 0)
		json_object_set_new(req, "since", json_integer(since));
	if (extra != NULL)
		json_object_set_new(req, key, json_string(extra));
	if (nowait)
		json_object_set_new(req, "no_wait", json_true());
	if (lines >= 0)
		json_object_set_new(req, "n", json_integer(lines));
	if (a->follow)
		json_object_set_new(req, "follow", json_true());
	if (a->fleet)
		json_object_set_new(req, "fleet", json_true());
	if (a->wait)
		json_object_set_new(req, "wait", json_true());
	/* The table needs a few fields of each app; --json gets all. */
	if ((d->flags & CMD_F_BRIEF) && !a->json)
		json_object_set_new(req, "brief", json_true());
	return req;
}

/* One request, its reply (event lines skipped); exits as conn_* do. */
static json_t *
request_once(const char *path, json_t *req)
{
	struct conn	 cn;
	json_t		*ev, *reply = NULL;
	json_error_t	 err;
	char		*line;
	size_t		 len;

	conn_open(&cn, path);
	conn_send(&cn, req);
	while (reply == NULL && (line = conn_read_line(&cn, &len)) != NULL) {
		if ((ev = json_loadb(line, len, JSON_ALLOW_NUL, &err)) == NULL)
			break;
		if (json_object_get(ev, "ok") != NULL)
			reply = ev;
		else
			json_decref(ev);
	}
	conn_close(&cn);
	return reply;
}

/* Where top and completion find tendd. */
struct where {
	const char	*sock, *conf;
};

/* The brief status top draws (a row per instance included). */
static json_t *
fetch_status(void *arg)
{
	struct where	*w = arg;
	json_t		*req, *reply;
	char		*owned;

	if ((req = json_pack("{s:s,s:b}", "cmd", "status", "brief", 1)) ==
	    NULL)
		return NULL;
	reply = request_once(find_socket(w->sock, w->conf, &owned), req);
	json_decref(req);
	free(owned);
	return reply;
}

/* Completion: the apps, through -s/-c given on the line being completed
 * or else those tendctl itself was given. */
static json_t *
fetch_names(void *arg, const char *sock, const char *conf)
{
	struct where	*w = arg, w2;

	w2.sock = sock != NULL ? sock : w->sock;
	w2.conf = conf != NULL ? conf : w->conf;
	return fetch_status(&w2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "follow", no_argument, NULL, 'f' },
		{ "fleet", no_argument, NULL, 'F' },
		{ "wait", no_argument, NULL, 'w' },
		{ "lines", required_argument, NULL, 'n' },
		{ "err", no_argument, NULL, 'E' },
		{ "since", required_argument, NULL, 'S' },
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-color", no_argument, NULL, 'C' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct printer *pr;
	struct ask	 a;
	struct conn	 cn;
	struct where	 wh;
	const char	*conf = NULL, *sock = NULL, *extra = NULL, *why, *cmd;
	char		*owned, *line;
	int		 ch, nowait = 0, ok, nocolor = 0;
	long		 lines = -1;
	long long	 since = -1;
	int		 err_only = 0;
	uint64_t	 since_ms;
	unsigned long	 ul;
	size_t		 len;
	json_t		*req, *reply = NULL, *ev;
	json_error_t	 err;

	memset(&a, 0, sizeof(a));
	opterr = 0;	/* bad_option() says it, as "tendctl: " */
	/* "+": options end at the command, then are parsed again below. */
	while ((ch = getopt_long(argc, argv, "+:c:s:jhqV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
			a.json = 1;
			break;
		case 'q':
			a.quiet = 1;
			break;
		case 'C':
			nocolor = 1;
			break;
		case 'h':
			ctl_help(stdout, NULL);
			return 0;
		case 'V':
			ctl_version();
			return 0;
		default:
			bad_option(NULL, argv, ch);
		}
	}
	if (optind >= argc)
		usage(NULL);
	cmd = argv[optind];
	wh.sock = sock;
	wh.conf = conf;
	if (strcmp(cmd, "help") == 0) {
		if (optind + 2 < argc)
			usage(NULL);
		if (optind + 1 < argc && !ctl_help_known(argv[optind + 1])) {
			fprintf(stderr, "tendctl: unknown command %s\n",
			    argv[optind + 1]);
			usage(NULL);
		}
		ctl_help(stdout, optind + 1 < argc ? argv[optind + 1] : NULL);
		return 0;
	}
	if (strcmp(cmd, "__complete") == 0) {
		signal(SIGPIPE, SIG_IGN);
		ctl_complete(argc - optind - 1, argv + optind + 1, fetch_names,
		    &wh);
		return 0;
	}
	/* import reads files and prints tend.conf: no tendd involved. */
	if (strcmp(cmd, "import") == 0)
		return import_main(argc - optind, argv + optind);
	if (strcmp(cmd, "top") == 0) {
		for (optind++; optind < argc; optind++) {
			if (strcmp(argv[optind], "--no-color") == 0)
				nocolor = 1;
			else if (strcmp(argv[optind], "--help") == 0 ||
			    strcmp(argv[optind], "-h") == 0) {
				ctl_help(stdout, "top");
				return 0;
			} else {
				fprintf(stderr, "tendctl: top does not take "
				    "%s\n", argv[optind]);
				ctl_cmd_usage(stderr, "top");
				return EXIT_USAGE;
			}
		}
		signal(SIGPIPE, SIG_IGN);
		return top_main(fetch_status, &wh, !nocolor &&
		    want_color(STDOUT_FILENO));
	}
	if ((a.def = cmd_def_find(cmd)) == NULL) {
		fprintf(stderr, "tendctl: unknown command %s\n", cmd);
		usage(NULL);
	}
	argc -= optind;
	argv += optind;
	optind = 0;	/* GNU getopt: 0 starts a fresh scan of a new argv */
	while ((ch = getopt_long(argc, argv, ":jfn:Wqh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'j':
			a.json = 1;
			break;
		case 'f':
			a.follow = 1;
			break;
		case 'F':
			a.fleet = 1;
			break;
		case 'w':
			a.wait = 1;
			break;
		case 'W':
			nowait = a.nowait = 1;
			break;
		case 'q':
			a.quiet = 1;
			break;
		case 'C':
			nocolor = 1;
			break;
		case 'h':
			ctl_help(stdout, a.def->name);
			return 0;
		case 'n':
			if (parse_uint(optarg, 0, 100000, &ul, &why) != 0) {
				fprintf(stderr, "tendctl: -n %s: %s\n", optarg,
				    why);
				exit(EXIT_USAGE);
			}
			lines = (long)ul;
			break;
		case 'E':
			err_only = 1;
			break;
		case 'S':
			if (logline_since(optarg, time_now_ms(), &since_ms,
			    &why) != 0) {
				fprintf(stderr, "tendctl: --since %s: %s\n",
				    optarg, why);
				exit(EXIT_USAGE);
			}
			since = (long long)since_ms;
			break;
		default:
			bad_option(a.def, argv, ch);
		}
	}
	if (optind < argc)
		a.app = argv[optind++];
	if (a.def->app == CMD_ARG_APPS && a.app != NULL) {
		/* APP...|all: every operand an app. */
		a.apps = &argv[optind - 1];
		a.napps = (size_t)(argc - optind + 1);
		a.app_column = a.napps > 1 || strcmp(a.app, "all") == 0;
		optind = argc;
	}
	if (optind < argc)
		extra = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "tendctl: %s: too many operands\n", a.def->name);
		usage(a.def);
	}
	a.color = !nocolor && want_color(STDOUT_FILENO);
	req = build_request(&a, extra, nowait, lines, err_only, since);
	signal(SIGPIPE, SIG_IGN);
	conn_open(&cn, find_socket(sock, conf, &owned));
	conn_send(&cn, req);
	json_decref(req);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	/* App output may hold NUL bytes (JSON "\u0000"): accept them. */
	while ((line = conn_read_line(&cn, &len)) != NULL) {
		if ((ev = json_loadb(line, len, JSON_ALLOW_NUL, &err)) == NULL) {
			fprintf(stderr, "tendctl: bad reply from tendd: %s\n",
			    err.text);
			exit(EXIT_FAIL);
		}
		if (json_object_get(ev, "ok") != NULL) {
			reply = ev;
			break;
		}
		print_event(ev, &a);
		json_decref(ev);
	}
	conn_close(&cn);
	free(owned);
	if (reply == NULL) {
		if (a.follow)
			return 0;
		fprintf(stderr, "tendctl: tendd closed the connection\n");
		return EXIT_FAIL;
	}
	ok = json_is_true(json_object_get(reply, "ok"));
	pr = &printers[cmd_def_id(a.def)];
	if (a.json && ok && a.def->app == CMD_ARG_APPS) {
		/* logs --json: its lines were the output, one a line. */
	} else if (a.json) {
		print_json(reply, JSON_INDENT(2));
		fflush(stdout);
		if (!ok)
			print_errors(reply);
	} else if (pr->fn != NULL && (ok || pr->failed))
		pr->fn(reply, &a);
	else if (!ok)
		print_errors(reply);
	fflush(stdout);
	json_decref(reply);
	return ok ? 0 : EXIT_FAIL;
}
