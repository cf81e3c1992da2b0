/* test-conf.c: tend.conf parsing: defaults, types, paths, long lines,
 * every error with its line; and the golden files in tests/conf/. */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tend.h"
#include "check.h"

static struct conf *
parse(const char *text, struct errs *e)
{
	errs_init(e);
	return conf_parse(text, strlen(text), "/etc/tend/tend.conf", e);
}

static int
err_is(const struct errs *e, size_t i, const char *want)
{
	if (i >= e->n) {
		printf("# no error %zu (want %s)\n", i, want);
		return 0;
	}
	if (strcmp(e->msg[i], want) != 0) {
		printf("# error %zu: %s\n# want:    %s\n", i, e->msg[i], want);
		return 0;
	}
	return 1;
}

static void
test_defaults(void)
{
	struct errs	 e;
	struct conf	*c = parse("[app:web]\ndir = /srv/web\ncommand = node s.js\n", &e);
	struct conf_app	*a;

	CHECK(c != NULL && e.n == 0);
	if (c == NULL)
		return;
	CHECK(strcmp(c->socket, TEND_DEFAULT_SOCKET) == 0);
	CHECK(strcmp(c->log_dir, TEND_DEFAULT_LOG_DIR) == 0);
	CHECK(strcmp(c->state_dir, TEND_DEFAULT_STATE_DIR) == 0);
	CHECK(c->log_max_size == 10 << 20 && c->log_keep == 5);
	CHECK(c->log_journal == -1 && c->socket_group == NULL);
	a = conf_find_app(c, "web");
	CHECK(a != NULL);
	if (a != NULL) {
		CHECK(a->instances == 1 && a->port == 0);
		CHECK(a->restart == RESTART_ALWAYS);
		CHECK(a->restart_delay == 100 && a->restart_delay_max == 30000);
		CHECK(a->min_uptime == 30000 && a->start_limit == 10);
		CHECK(a->start_limit_interval == 300000);
		CHECK(a->kill_timeout == 10000 && a->stop_signal == SIGTERM);
		CHECK(a->heap_mode == HEAP_OFF && a->health == NULL);
		CHECK(a->autostart == 1 && a->max_memory == 0);
		CHECK(a->canon != NULL && strstr(a->canon, "command=node s.js\n"));
	}
	conf_free(c);
	errs_free(&e);
}

static void
test_types_and_paths(void)
{
	struct errs	 e;
	struct conf	*c = parse(
	    "[tend]\nsocket = run/t.sock ; relative\nlog_journal = no\n"
	    "[app:a]\ndir = ../srv/./a//\ncommand = x\nport = 9000\n"
	    "instances = 3\nheap = 75%\nhealth = /health\nrestart = on-failure\n"
	    "stop_signal = INT\nmax_memory = 1800M\nenv_file = a.env\n"
	    "env_file = /abs/b.env\nenv = A=1\nenv = B=x=y\n"
	    "[app:b]\ndir = /b\ncommand = y\nheap = 1536M\n", &e);
	struct conf_app	*a, *b;

	CHECK(c != NULL && e.n == 0);
	if (c == NULL)
		return;
	CHECK(strcmp(c->socket, "/etc/tend/run/t.sock") == 0);
	CHECK(c->log_journal == 0);
	a = conf_find_app(c, "a");
	b = conf_find_app(c, "b");
	CHECK(a != NULL && b != NULL);
	if (a == NULL || b == NULL)
		return;
	CHECK(strcmp(a->dir, "/etc/srv/a") == 0);
	CHECK(a->port == 9000 && a->instances == 3);
	CHECK(a->heap_mode == HEAP_PERCENT && a->heap_pct == 75);
	CHECK(b->heap_mode == HEAP_FIXED && b->heap_bytes == 1536ULL << 20);
	CHECK(strcmp(a->health, "/health") == 0);
	CHECK(a->restart == RESTART_ON_FAILURE && a->stop_signal == SIGINT);
	CHECK(a->max_memory == 1800ULL << 20);
	CHECK(a->env_files.n == 2 && strcmp(a->env_files.v[0],
	    "/etc/tend/a.env") == 0 && strcmp(a->env_files.v[1], "/abs/b.env") == 0);
	CHECK(a->envs.n == 2 && strcmp(a->envs.v[1], "B=x=y") == 0);
	conf_free(c);
	errs_free(&e);
}

static void
test_long_line(void)
{
	struct errs	 e;
	struct conf	*c;
	char		 cmd[600], text[1024];

	memset(cmd, 'x', sizeof(cmd) - 1);
	cmd[sizeof(cmd) - 1] = '\0';
	memcpy(cmd, "echo ", 5);
	snprintf(text, sizeof(text), "[app:a]\ndir = /a\ncommand = %s ; note\n"
	    "port = 9000\n", cmd);
	c = parse(text, &e);
	CHECK(c != NULL && e.n == 0);
	if (c != NULL)
		CHECK(strcmp(c->apps[0]->command, cmd) == 0);
	conf_free(c);
	errs_free(&e);
}

static void
test_errors_all_reported(void)
{
	struct errs	 e;
	struct conf	*c = parse(
	    "orphan = 1\n"				/* 1 */
	    "[tend]\n"					/* 2 */
	    "log_keep = many\n"				/* 3 */
	    "[app:a]\n"					/* 4 */
	    "dir = /a\n"				/* 5 */
	    "command = x\n"				/* 6 */
	    "kill_timout = 1s\n"			/* 7 */
	    "  continued\n"				/* 8 */
	    "port = 70000\n"				/* 9 */
	    "command = y\n"				/* 10 */
	    "env = 1BAD=hunter2\n"			/* 11 */
	    "just words\n"				/* 12 */
	    "[app:a]\n"					/* 13 */
	    "[app:empty]\n"				/* 14 */
	    "[weird]\n"					/* 15 */
	    "[app:all]\n", &e);				/* 16 */
	const char	*f = "/etc/tend/tend.conf";
	char		 w[256];
	size_t		 i;

	CHECK(c == NULL);
	snprintf(w, sizeof(w), "%s:1: orphan outside any section (start with "
	    "[tend] or [app:NAME])", f);
	CHECK(err_is(&e, 0, w));
	snprintf(w, sizeof(w), "%s:3: log_keep: expected a whole number (got "
	    "'many')", f);
	CHECK(err_is(&e, 1, w));
	snprintf(w, sizeof(w), "%s:7: unknown key 'kill_timout' in [app:a]; did "
	    "you mean 'kill_timeout'?", f);
	CHECK(err_is(&e, 2, w));
	snprintf(w, sizeof(w), "%s:8: continuation lines are not supported; put "
	    "the value on one line", f);
	CHECK(err_is(&e, 3, w));
	snprintf(w, sizeof(w), "%s:9: port: must be from 1 to 65535 (got "
	    "'70000')", f);
	CHECK(err_is(&e, 4, w));
	snprintf(w, sizeof(w), "%s:10: command set twice in [app:a] (first at "
	    "line 6)", f);
	CHECK(err_is(&e, 5, w));
	CHECK(e.n > 6 && strncmp(e.msg[6], "/etc/tend/tend.conf:11: env:", 28) == 0);
	snprintf(w, sizeof(w), "%s:12: expected key = value or [section]", f);
	CHECK(err_is(&e, 7, w));
	snprintf(w, sizeof(w), "%s:13: duplicate app a (first defined at line "
	    "4)", f);
	CHECK(err_is(&e, 8, w));
	snprintf(w, sizeof(w), "%s:15: unknown section [weird] (expected [tend]"
	    ", [fleet] or [app:NAME])", f);
	CHECK(err_is(&e, 9, w));
	CHECK(e.n > 10 && strstr(e.msg[10], ":16: invalid app name 'all'"));
	snprintf(w, sizeof(w), "%s:14: [app:empty] needs a command", f);
	CHECK(err_is(&e, 11, w));
	for (i = 0; i < e.n; i++)
		CHECK(strstr(e.msg[i], "hunter2") == NULL);
	errs_free(&e);
}

static void
test_cross_checks(void)
{
	struct errs	 e;
	struct conf	*c = parse("[app:a]\ndir = /a\ncommand = x\nport = 9000\n"
	    "instances = 2\n[app:b]\ndir = /b\ncommand = y\nport = 9001\n"
	    "[app:h]\ndir = /h\ncommand = z\nhealth = /health\n", &e);

	CHECK(c == NULL);
	CHECK(e.n == 2);
	CHECK(e.n > 0 && strstr(e.msg[0], ":10: [app:h]: health needs port"));
	CHECK(e.n > 1 && strstr(e.msg[1], ":6: [app:b]: ports overlap those of "
	    "app a (line 1)") != NULL);
	errs_free(&e);
}

static void
test_canon_changes(void)
{
	struct errs	 e1, e2;
	struct conf	*a = parse("[app:x]\ndir = /x\ncommand = a\n", &e1);
	struct conf	*b = parse("[app:x]\ndir = /x\ncommand = a\nkill_timeout = 10s\n", &e2);
	struct conf	*c;

	CHECK(a != NULL && b != NULL);
	if (a != NULL && b != NULL)	/* same settings, spelled differently */
		CHECK(strcmp(a->apps[0]->canon, b->apps[0]->canon) == 0);
	conf_free(b);
	errs_free(&e2);
	c = parse("[app:x]\ndir = /x\ncommand = a\nenv = A=1\n", &e2);
	CHECK(c != NULL);
	if (a != NULL && c != NULL)
		CHECK(strcmp(a->apps[0]->canon, c->apps[0]->canon) != 0);
	conf_free(a);
	conf_free(c);
	errs_free(&e1);
	errs_free(&e2);
}

/* The configurations tend ships parse cleanly: the files themselves, so
 * a test cannot pass on a copy that has drifted from them. */
static void
test_shipped(void)
{
	static const char *const shipped[] = {
		"etc/tend.conf", "etc/example/tend.conf",
	};
	const char	*src = getenv("TEND_SRCDIR");
	char		 path[1400];
	struct errs	 e;
	struct conf	*c;
	size_t		 i, j;

	for (i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", src ? src : ".",
		    shipped[i]);
		errs_init(&e);
		c = conf_load(path, &e);
		for (j = 0; j < e.n; j++)
			printf("# %s\n", e.msg[j]);
		CHECK(c != NULL && c->n_apps > 0);
		conf_free(c);
		errs_free(&e);
	}
}

/* tests/conf/ok/X.conf parse cleanly; tests/conf/bad/X.conf give exactly
 * the lines of X.err, with FILE standing for the config's path. */
static void
test_golden(void)
{
	const char	*src = getenv("TEND_SRCDIR");
	char		 dir[1024], path[1400], errpath[1400], line[1024], want[4096];
	struct dirent	*de;
	struct errs	 e;
	struct conf	*c;
	DIR		*d;
	FILE		*f;
	size_t		 i;
	int		 n = 0;

	snprintf(dir, sizeof(dir), "%s/tests/conf/ok", src ? src : ".");
	CHECK((d = opendir(dir)) != NULL);
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".conf") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		errs_init(&e);
		c = conf_load(path, &e);
		if (c == NULL)
			printf("# %s: %s\n", path, e.n ? e.msg[0] : "?");
		CHECK(c != NULL);
		conf_free(c);
		errs_free(&e);
		n++;
	}
	if (d != NULL)
		closedir(d);
	snprintf(dir, sizeof(dir), "%s/tests/conf/bad", src ? src : ".");
	CHECK((d = opendir(dir)) != NULL);
	while (d != NULL && (de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l < 5 || strcmp(de->d_name + l - 5, ".conf") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		snprintf(errpath, sizeof(errpath), "%.*s.err", (int)strlen(path) - 5,
		    path);
		errs_init(&e);
		c = conf_load(path, &e);
		CHECK(c == NULL);
		conf_free(c);
		CHECK((f = fopen(errpath, "r")) != NULL);
		for (i = 0; f != NULL && fgets(line, sizeof(line), f) != NULL; i++) {
			char *p;

			line[strcspn(line, "\n")] = '\0';
			if ((p = strstr(line, "FILE")) != NULL)
				snprintf(want, sizeof(want), "%.*s%s%s",
				    (int)(p - line), line, path, p + 4);
			else
				snprintf(want, sizeof(want), "%s", line);
			CHECK(err_is(&e, i, want));
		}
		if (f != NULL)
			fclose(f);
		if (e.n != i)
			printf("# %s: %zu errors, %zu expected\n", path, e.n, i);
		CHECK(e.n == i);
		errs_free(&e);
		n++;
	}
	if (d != NULL)
		closedir(d);
	CHECK(n >= 4);
}

int
main(void)
{
	RUN(test_defaults);
	RUN(test_types_and_paths);
	RUN(test_long_line);
	RUN(test_errors_all_reported);
	RUN(test_cross_checks);
	RUN(test_canon_changes);
	RUN(test_golden);
	RUN(test_shipped);
	return check_failed();
}
