/*
 * tendctl.c: the client.  Finds the control socket (-s, $TEND_SOCKET, the
 * socket of the config named by -c, /run/tend/tend.sock), sends one
 * request line, prints event lines as they come and the reply as a table
 * for people or, with --json, as it came for scripts.
 *
 * What a command takes comes from cmd_defs (cmd-table.c), the table
 * tendd checks requests against; how its reply is shown to people is its
 * row in printers[] below.
 *
 * Exit status: 0 success, 1 the operation failed, 2 usage, 3 tendd could
 * not be reached (the message names the socket and why).
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tend.h"

#define EXIT_FAIL	1
#define EXIT_USAGE	2
#define EXIT_UNREACH	3
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
};

/* tendctl-fleet.c */
void	tendctl_print_fleet(json_t *);
void	tendctl_print_fleet_releases(json_t *);

static void __attribute__((noreturn))
usage(void)
{
	size_t	i;

	fprintf(stderr, "usage: tendctl [-s socket] [-c config] command [args]\n");
	for (i = 0; i < CMD__COUNT; i++)
		fprintf(stderr, "  %s\n", cmd_defs[i].usage);
	exit(EXIT_USAGE);
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
		fprintf(stderr, "tendctl: cannot reach tendd at %s: %s\n", path,
		    strerror(errno));
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
print_exit(char *buf, size_t len, json_t *e)
{
	json_t	*v;

	if ((v = json_object_get(e, "code")) != NULL)
		snprintf(buf, len, "code %lld", (long long)json_integer_value(v));
	else if ((v = json_object_get(e, "signal")) != NULL)
		snprintf(buf, len, "%s", json_string_value(v));
	else
		snprintf(buf, len, "-");
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

static void
print_status(json_t *reply, const struct ask *ask)
{
	json_t	*apps = json_object_get(reply, "apps"), *a, *v, *w;
	size_t	 i, j;
	char	 up[32], mem[32], ex[32], pid[16], st[48], why[600];

	if (ask->fleet) {
		tendctl_print_fleet(reply);
		return;
	}
	printf("%-16s %-10s %8s %9s %8s %-12s %6s %8s %-9s %s\n", "NAME",
	    "STATE", "PID", "UPTIME", "RESTARTS", "LAST-EXIT", "CPU", "MEM",
	    "HEALTH", "REASON");
	json_array_foreach(apps, i, a) {
		v = json_object_get(a, "pid");
		if (json_is_integer(v))
			snprintf(pid, sizeof(pid), "%lld",
			    (long long)json_integer_value(v));
		else
			snprintf(pid, sizeof(pid), "-");
		v = json_object_get(a, "uptime_ms");
		if (json_is_integer(v))
			format_duration(up, sizeof(up),
			    (uint64_t)json_integer_value(v));
		else
			snprintf(up, sizeof(up), "-");
		format_size(mem, sizeof(mem),
		    (uint64_t)json_integer_value(json_object_get(a, "rss_bytes")));
		print_exit(ex, sizeof(ex), json_object_get(a, "last_exit"));
		v = json_object_get(a, "next_restart_ms");
		if (json_is_integer(v)) {
			char d[32];

			format_duration(d, sizeof(d),
			    (uint64_t)json_integer_value(v));
			snprintf(st, sizeof(st), "%s (%s)", jstr(a, "state"), d);
		} else
			snprintf(st, sizeof(st), "%s", jstr(a, "state"));
		status_reason(a, why, sizeof(why));
		printf("%-16s %-10s %8s %9s %8lld %-12s %5.1f%% %8s %-9s %s\n",
		    jstr(a, "name"), st, pid, up,
		    (long long)json_integer_value(json_object_get(a, "restarts")),
		    ex, json_real_value(json_object_get(a, "cpu_percent")), mem,
		    jstr(a, "health"), why);
		/* What the app's output said of its configuration: under
		 * it, one line each (the app runs on). */
		json_array_foreach(json_object_get(a, "warnings"), j, w)
			if (json_is_string(w))
				printf("%-16s warning: %s\n", "",
				    json_string_value(w));
	}
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

static void
print_errors(json_t *reply)
{
	json_t	*errs = json_object_get(reply, "errors"), *e;
	size_t	 i;

	if (json_array_size(errs) > 1 || (json_array_size(errs) == 1 &&
	    strcmp(json_string_value(json_array_get(errs, 0)),
	    jstr(reply, "error")) != 0)) {
		fprintf(stderr, "tendctl: %s\n", jstr(reply, "error"));
		json_array_foreach(errs, i, e)
			fprintf(stderr, "%s\n", json_string_value(e));
	} else
		fprintf(stderr, "tendctl: %s\n", jstr(reply, "error"));
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
	[CMD_START] = { .fn = print_env_applied },
	[CMD_RESTART] = { .fn = print_env_applied },
	[CMD_LOGS] = { .fn = print_logs },
	[CMD_CHECK] = { .fn = print_check, .failed = 1 },
	[CMD_DEPLOY] = { .fn = print_outcome },
	[CMD_RELOAD] = { .fn = print_outcome },
	[CMD_RELEASES] = { .fn = print_releases },
	[CMD_ROLLBACK] = { .fn = print_outcome },
};

/* An event line before the reply: a log line or deploy progress. */
static void
print_event(json_t *ev, const struct ask *a)
{
	const char	*kind = jstr(ev, "event");

	if (strcmp(kind, "log") == 0) {
		if (a->json)
			print_json(ev, JSON_COMPACT);	/* a stream: one a line */
		else
			print_text(json_object_get(ev, "data"));
		fflush(stdout);
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
build_request(const struct ask *a, const char *extra, int nowait, long lines)
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
	    (a->app != NULL && d->app == CMD_ARG_NONE) ||
	    (a->app == NULL && (d->app == CMD_ARG_APP ||
	    d->app == CMD_ARG_APP_OR_ALL)) ||
	    (extra != NULL && key == NULL))
		usage();
	if (a->app != NULL && !(d->app == CMD_ARG_APP_OR_ALL &&
	    strcmp(a->app, "all") == 0) && !valid_app_name(a->app)) {
		fprintf(stderr, "tendctl: invalid app name\n");
		exit(EXIT_USAGE);
	}
	if ((req = json_pack("{s:s}", "cmd", d->name)) == NULL)
		exit(EXIT_FAIL);
	if (a->app != NULL)
		json_object_set_new(req, "app", json_string(a->app));
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
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct printer *pr;
	struct ask	 a;
	struct conn	 cn;
	const char	*conf = NULL, *sock = NULL, *extra = NULL, *why;
	char		*owned, *line;
	int		 ch, nowait = 0, ok;
	long		 lines = -1;
	unsigned long	 ul;
	size_t		 len;
	json_t		*req, *reply = NULL, *ev;
	json_error_t	 err;

	memset(&a, 0, sizeof(a));
	/* "+": options end at the command, then are parsed again below. */
	while ((ch = getopt_long(argc, argv, "+c:s:jh", longopts, NULL)) != -1) {
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
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	if ((a.def = cmd_def_find(argv[optind])) == NULL) {
		fprintf(stderr, "tendctl: unknown command %s\n", argv[optind]);
		usage();
	}
	argc -= optind;
	argv += optind;
	optind = 0;	/* GNU getopt: 0 starts a fresh scan of a new argv */
	while ((ch = getopt_long(argc, argv, "jfn:W", longopts, NULL)) != -1) {
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
			nowait = 1;
			break;
		case 'n':
			if (parse_uint(optarg, 0, 100000, &ul, &why) != 0) {
				fprintf(stderr, "tendctl: -n %s: %s\n", optarg,
				    why);
				exit(EXIT_USAGE);
			}
			lines = (long)ul;
			break;
		default:
			usage();
		}
	}
	if (optind < argc)
		a.app = argv[optind++];
	if (optind < argc)
		extra = argv[optind++];
	if (optind < argc)
		usage();
	req = build_request(&a, extra, nowait, lines);

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
	if (a.json) {
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
