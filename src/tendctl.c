/*
 * tendctl.c: the client.  Finds the control socket (-s, $TEND_SOCKET, the
 * socket of the config named by -c, /run/tend/tend.sock), sends one
 * request line, prints event lines as they come and the reply as a table
 * for people or, with --json, as it came for scripts.
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

static const char *sock_path;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: tendctl [-s socket] [-c config] command [args]\n"
	    "  status [APP] [--json]\n"
	    "  start|stop|restart APP|all [--no-wait]\n"
	    "  logs APP [-n N] [-f]\n"
	    "  check APP\n"
	    "  deploy APP [REF]\n"
	    "  reload APP\n"
	    "  releases APP [--json]\n"
	    "  rollback APP [RELEASE]\n"
	    "  reread\n");
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

static int
connect_socket(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path) >=
	    (int)sizeof(sun.sun_path)) {
		fprintf(stderr, "tendctl: socket path too long: %s\n", path);
		exit(EXIT_UNREACH);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		fprintf(stderr, "tendctl: cannot reach tendd at %s: %s\n", path,
		    strerror(errno));
		exit(EXIT_UNREACH);
	}
	return fd;
}

static void
send_request(int fd, json_t *req)
{
	size_t	 len, off = 0;
	ssize_t	 w;
	char	*s = proto_encode(req, &len);

	if (s == NULL) {
		fprintf(stderr, "tendctl: out of memory\n");
		exit(EXIT_FAIL);
	}
	while (off < len) {
		if ((w = write(fd, s + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				break;	/* tendd hung up: its reply says why */
			fprintf(stderr, "tendctl: write to %s: %s\n", sock_path,
			    strerror(errno));
			exit(EXIT_UNREACH);
		}
		off += (size_t)w;
	}
	free(s);
}

/* Read one line (without '\n') into a growing buffer; NULL at EOF. */
static char *
read_line(int fd, size_t *lenp)
{
	static char	*buf;
	static size_t	 cap, len, start;
	char		*nl;
	ssize_t		 n;

	for (;;) {
		if (len > start && (nl = memchr(buf + start, '\n',
		    len - start)) != NULL) {
			char *line = buf + start;

			*nl = '\0';
			*lenp = (size_t)(nl - line);
			start = (size_t)(nl - buf) + 1;
			return line;
		}
		if (start > 0) {
			memmove(buf, buf + start, len - start);
			len -= start;
			start = 0;
		}
		if (len == cap) {
			if (cap >= REPLY_MAX) {
				fprintf(stderr, "tendctl: reply too large\n");
				exit(EXIT_FAIL);
			}
			cap = cap ? cap * 2 : 65536;
			if ((buf = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "tendctl: out of memory\n");
				exit(EXIT_FAIL);
			}
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "tendctl: read from %s: %s\n",
			    sock_path, strerror(errno));
			exit(EXIT_UNREACH);
		}
		if (n == 0)
			return NULL;
		len += (size_t)n;
	}
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

static void
print_status(json_t *reply)
{
	json_t	*apps = json_object_get(reply, "apps"), *a, *v;
	size_t	 i;
	char	 up[32], mem[32], ex[32], pid[16], st[48];

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
		printf("%-16s %-10s %8s %9s %8lld %-12s %5.1f%% %8s %-9s %s\n",
		    jstr(a, "name"), st, pid, up,
		    (long long)json_integer_value(json_object_get(a, "restarts")),
		    ex, json_real_value(json_object_get(a, "cpu_percent")), mem,
		    jstr(a, "health"), json_is_string(json_object_get(a,
		    "step")) ? jstr(a, "step") : jstr(a, "reason"));
	}
}

/* tendctl releases: newest first, the live one marked with '*'. */
static void
print_releases(json_t *reply)
{
	json_t		*r, *steps;
	size_t		 i;
	char		 b[32], t[32], st[40];

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

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "no-wait", no_argument, NULL, 'W' },
		{ "follow", no_argument, NULL, 'f' },
		{ "lines", required_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*conf = NULL, *cmd, *app = NULL, *arg2 = NULL, *why;
	char		*from_conf = NULL, *line;
	int		 ch, json = 0, nowait = 0, follow = 0, fd, ok;
	long		 lines = -1;
	unsigned long	 ul;
	size_t		 len;
	json_t		*req, *reply = NULL, *ev;

	/* "+": options end at the command, then are parsed again below. */
	while ((ch = getopt_long(argc, argv, "+c:s:jh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 's':
			sock_path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0;	/* GNU getopt: 0 starts a fresh scan of a new argv */
	while ((ch = getopt_long(argc, argv, "jfn:W", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'f':
			follow = 1;
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
		app = argv[optind++];
	if (optind < argc)
		arg2 = argv[optind++];
	if (optind < argc)
		usage();
	if (arg2 != NULL && strcmp(cmd, "deploy") != 0 &&
	    strcmp(cmd, "rollback") != 0)
		usage();

	if ((req = json_pack("{s:s}", "cmd", cmd)) == NULL)
		exit(EXIT_FAIL);
	if (strcmp(cmd, "status") == 0) {
		if (follow || nowait || lines >= 0)
			usage();
		/* The table needs a few fields of each app; --json gets all. */
		if (!json)
			json_object_set_new(req, "brief", json_true());
	} else if (strcmp(cmd, "start") == 0 || strcmp(cmd, "stop") == 0 ||
	    strcmp(cmd, "restart") == 0) {
		if (app == NULL || follow || lines >= 0)
			usage();
		if (nowait)
			json_object_set_new(req, "no_wait", json_true());
	} else if (strcmp(cmd, "logs") == 0) {
		if (app == NULL || nowait)
			usage();
		if (lines >= 0)
			json_object_set_new(req, "n", json_integer(lines));
		if (follow)
			json_object_set_new(req, "follow", json_true());
	} else if (strcmp(cmd, "check") == 0) {
		if (app == NULL || follow || nowait || lines >= 0)
			usage();
	} else if (strcmp(cmd, "deploy") == 0 || strcmp(cmd, "rollback") == 0 ||
	    strcmp(cmd, "reload") == 0 || strcmp(cmd, "releases") == 0) {
		if (app == NULL || strcmp(app, "all") == 0 || follow || nowait ||
		    lines >= 0)
			usage();
		if (arg2 != NULL)
			json_object_set_new(req, strcmp(cmd, "deploy") == 0 ?
			    "ref" : "release", json_string(arg2));
	} else if (strcmp(cmd, "reread") == 0) {
		if (app != NULL || follow || nowait || lines >= 0)
			usage();
	} else {
		fprintf(stderr, "tendctl: unknown command %s\n", cmd);
		usage();
	}
	if (app != NULL) {
		if (strcmp(app, "all") != 0 && !valid_app_name(app)) {
			fprintf(stderr, "tendctl: invalid app name\n");
			exit(EXIT_USAGE);
		}
		json_object_set_new(req, "app", json_string(app));
	}

	if (sock_path == NULL)
		sock_path = getenv("TEND_SOCKET");
	if (sock_path == NULL || *sock_path == '\0') {
		from_conf = socket_from_conf(conf ? conf : TEND_DEFAULT_CONF);
		if (from_conf == NULL && conf != NULL) {
			fprintf(stderr, "tendctl: %s: %s\n", conf,
			    errno ? strerror(errno) : "no socket setting");
			if (errno == 0) {
				from_conf = strdup(TEND_DEFAULT_SOCKET);
			} else
				exit(EXIT_UNREACH);
		}
		sock_path = from_conf ? from_conf : TEND_DEFAULT_SOCKET;
	}

	signal(SIGPIPE, SIG_IGN);
	fd = connect_socket(sock_path);
	send_request(fd, req);
	json_decref(req);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	while ((line = read_line(fd, &len)) != NULL) {
		json_error_t err;

		if ((ev = json_loadb(line, len, 0, &err)) == NULL) {
			fprintf(stderr, "tendctl: bad reply from tendd: %s\n",
			    err.text);
			exit(EXIT_FAIL);
		}
		if (json_object_get(ev, "ok") != NULL) {
			reply = ev;
			break;
		}
		if (strcmp(jstr(ev, "event"), "log") == 0) {
			fputs(jstr(ev, "data"), stdout);
			fflush(stdout);
		} else if (strcmp(jstr(ev, "event"), "progress") == 0 && !json) {
			printf("%s\n", jstr(ev, "line"));
			fflush(stdout);
		}
		json_decref(ev);
	}
	close(fd);
	if (reply == NULL) {
		if (follow)
			return 0;
		fprintf(stderr, "tendctl: tendd closed the connection\n");
		return EXIT_FAIL;
	}
	ok = json_is_true(json_object_get(reply, "ok"));
	if (!json && strcmp(cmd, "check") == 0) {
		json_t	*c;
		size_t	 i;

		json_array_foreach(json_object_get(reply, "checks"), i, c)
			printf("%-9s %-4s %s\n", jstr(c, "name"),
			    !json_is_true(json_object_get(c, "ok")) ? "FAIL" :
			    json_is_true(json_object_get(c, "warning")) ? "warn" :
			    "ok", jstr(c, "detail"));
		if (json_array_size(json_object_get(reply, "checks")) == 0)
			printf("nothing to check: no DATABASE_URL or REDIS_URL "
			    "in the app's environment and no profile\n");
		if (!ok && json_object_get(reply, "checks") == NULL)
			print_errors(reply);
		fflush(stdout);
		json_decref(reply);
		free(from_conf);
		return ok ? 0 : EXIT_FAIL;
	}
	if (json && (strcmp(cmd, "status") == 0 || !ok)) {
		char *s = json_dumps(reply, JSON_INDENT(2));

		if (s != NULL)
			printf("%s\n", s);
		free(s);
	} else if (!ok) {
		print_errors(reply);
	} else if (strcmp(cmd, "status") == 0) {
		print_status(reply);
	} else if (strcmp(cmd, "logs") == 0) {
		fputs(jstr(reply, "data"), stdout);
	} else if (strcmp(cmd, "releases") == 0 && !json) {
		print_releases(reply);
	} else if (!json && (strcmp(cmd, "deploy") == 0 ||
	    strcmp(cmd, "rollback") == 0 || strcmp(cmd, "reload") == 0)) {
		printf("%s: %s %s\n", app, jstr(reply, "release"),
		    jstr(reply, "status"));
	} else if (json) {
		char *s = json_dumps(reply, JSON_INDENT(2));

		if (s != NULL)
			printf("%s\n", s);
		free(s);
	}
	if (!ok && json)
		print_errors(reply);
	json_decref(reply);
	free(from_conf);
	return ok ? 0 : EXIT_FAIL;
}
