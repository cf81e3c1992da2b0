/*
 * ctl-help.c: what tendctl says of itself: `--help`, `help [CMD]`, a
 * command's usage after a mistake, `--version`, and the words a shell
 * may complete (`tendctl __complete`, which the bash completion script
 * calls).  The commands come from cmd_defs (cmd-table.c), so a command
 * added there is listed, used and completed without a line here; a
 * sentence of description below is welcome but optional.  top, import
 * and help are tendctl's own: they send no request of their own kind.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendctl.h"

/* One sentence per command, by name. */
static const struct {
	const char	*name;
	const char	*what;
} descs[] = {
	{ "status", "state, pid, uptime, restarts, last exit, CPU, memory, "
	    "health, reason; a row per instance" },
	{ "start", "start the app and wait until it is live" },
	{ "stop", "stop the app and wait until its processes are gone" },
	{ "restart", "stop and start again, reading its .env anew" },
	{ "logs", "the apps' last lines from their log files, merged by "
	    "time; -f follows" },
	{ "check", "the app's preflight now: environment, database, Redis" },
	{ "deploy", "build REF (default: the configured branch), migrate, "
	    "start it behind the health check and switch to it" },
	{ "reload", "new instances, health gate, switch, drain the old ones" },
	{ "releases", "the app's releases, newest first, the live one "
	    "marked" },
	{ "rollback", "go back to RELEASE (default: the previous one)" },
	{ "reread", "read tend.conf again; unchanged apps keep running" },
	{ "top", "live view of every app and instance; keys: c sort by CPU, "
	    "m by memory, n by name, q quit" },
	{ "metrics", "every app's figures in Prometheus's text format" },
	{ "import", "print tend.conf sections for the apps of a PM2 "
	    "ecosystem file or dump.pm2" },
	{ "help", "this help, or one command's" },
};

#define HELP_COLS	79

/* text from column col (the cursor is there), wrapped at HELP_COLS with
 * continuation lines indented to indent. */
static void
wrap(FILE *f, size_t col, size_t indent, const char *text)
{
	const char	*w = text, *e;
	size_t		 n;

	while (*w != '\0') {
		e = w + strcspn(w, " ");
		n = (size_t)(e - w);
		if (col > indent && col + 1 + n > HELP_COLS) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
		} else if (w != text) {
			fputc(' ', f);
			col++;
		}
		fwrite(w, 1, n, f);
		col += n;
		w = e + strspn(e, " ");
	}
	fputc('\n', f);
}

/* tendctl's own commands, after the table's. */
static const struct {
	const char	*name;
	const char	*usage;
} local_cmds[] = {
	{ "top", "top [--no-color]" },
	{ "import", "import pm2 FILE [--env NAME] [--env-dir DIR] "
	    "[--timeout DURATION]" },
	{ "help", "help [COMMAND]" },
};
#define N_LOCAL	(sizeof(local_cmds) / sizeof(local_cmds[0]))

static const char *
desc_of(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(descs) / sizeof(descs[0]); i++)
		if (strcmp(descs[i].name, name) == 0)
			return descs[i].what;
	return NULL;
}

static const char *
usage_of(const char *name)
{
	const struct cmd_def	*d = cmd_def_find(name);
	size_t			 i;

	if (d != NULL)
		return d->usage;
	for (i = 0; i < N_LOCAL; i++)
		if (strcmp(local_cmds[i].name, name) == 0)
			return local_cmds[i].usage;
	return NULL;
}

int
ctl_help_known(const char *cmd)
{
	return usage_of(cmd) != NULL;
}

void
ctl_cmd_usage(FILE *f, const char *cmd)
{
	const char	*u = usage_of(cmd);

	fprintf(f, "usage: tendctl [-s SOCKET] [-c CONFIG] %s\n",
	    u != NULL ? u : cmd);
}

static const char global_opts[] =
    "Options:\n"
    "  -s, --socket PATH  tendd's socket (default: $TEND_SOCKET, else "
    "the config's)\n"
    "  -c, --config FILE  the config naming the socket (default "
    TEND_DEFAULT_CONF ")\n"
    "  -j, --json         the reply as JSON, for scripts\n"
    "  -q, --quiet        no confirmation for start, stop and restart\n"
    "      --no-color     no colours (also: NO_COLOR=1, or not a terminal)\n"
    "  -h, --help         this help; help COMMAND for one command's\n"
    "  -V, --version      tendctl's version and git commit\n";

/* The options one command takes, from its row's flags. */
static void
cmd_options(FILE *f, const struct cmd_def *d)
{
	fprintf(f, "Options:\n");
	if (d->flags & CMD_F_NO_WAIT)
		fprintf(f, "  -W, --no-wait      answer at once, without "
		    "waiting for the app to get there\n");
	if (d->flags & CMD_F_LINES)
		fprintf(f, "  -n, --lines N      how many lines\n");
	if (d->flags & CMD_F_FOLLOW)
		fprintf(f, "  -f, --follow       keep printing new lines\n");
	if (d->flags & CMD_F_LOGSEL)
		fprintf(f, "      --err          only stderr lines\n"
		    "      --since T      only lines from T on: 10m, 2h, "
		    "2026-11-24T15:13:31Z\n");
	fprintf(f, "  -j, --json         %s\n", d->flags & CMD_F_LOGSEL ?
	    "one JSON object per line: app, time, stream, line" :
	    "the reply as JSON");
	if (d->app == CMD_ARG_APP_OR_ALL)
		fprintf(f, "  -q, --quiet        no confirmation line\n");
	if (cmd_def_id(d) == CMD_STATUS)
		fprintf(f, "      --no-color     no colours\n");
	if (d->flags & CMD_F_FLEET)
		fprintf(f, "      --fleet        %s\n",
		    cmd_def_id(d) == CMD_STATUS ? "every host of the fleet "
		    "([fleet] in tend.conf)" : cmd_def_id(d) == CMD_RELEASES ?
		    "which hosts ran which release" : "every host of the "
		    "fleet, in health-gated batches");
	if (d->flags & CMD_F_WAIT)
		fprintf(f, "      --wait         with --fleet: queue behind a "
		    "running fleet deploy\n");
}

void
ctl_help(FILE *f, const char *cmd)
{
	const struct cmd_def	*d;
	const char		*w;
	size_t			 i;

	if (cmd != NULL) {
		ctl_cmd_usage(f, cmd);
		if ((w = desc_of(cmd)) != NULL) {
			fprintf(f, "\n");
			wrap(f, 0, 0, w);
		}
		if ((d = cmd_def_find(cmd)) != NULL) {
			fprintf(f, "\n");
			cmd_options(f, d);
			if (d->app == CMD_ARG_APP_OR_ALL)
				fprintf(f, "\n\"all\" acts on every app.\n");
		}
		fprintf(f, "\nSee tendctl(1).\n");
		return;
	}
	fprintf(f, "usage: tendctl [-s SOCKET] [-c CONFIG] [-j] COMMAND "
	    "[ARGS]\n\nCommands:\n");
	for (i = 0; i < CMD__COUNT + N_LOCAL; i++) {
		const char *name = i < CMD__COUNT ? cmd_defs[i].name :
		    local_cmds[i - CMD__COUNT].name;

		if (name == NULL)
			continue;
		fprintf(f, "  %-30s ", usage_of(name));
		if ((w = desc_of(name)) != NULL && strlen(usage_of(name)) <= 30)
			wrap(f, 33, 33, w);
		else if (w != NULL) {
			fprintf(f, "\n%33s", "");
			wrap(f, 33, 33, w);
		} else
			fprintf(f, "\n");
	}
	fprintf(f, "\n%s\nExit status: 0 success, 1 failed, 2 usage, "
	    "3 cannot reach tendd.\nSee tendctl(1).\n", global_opts);
}

void
ctl_version(void)
{
	printf("tendctl %s (commit %s)\n", tend_version, tend_commit);
}

/* --- completion ----------------------------------------------------- */

/* The global options that take a value. */
static int
takes_value(const char *w)
{
	return strcmp(w, "-s") == 0 || strcmp(w, "--socket") == 0 ||
	    strcmp(w, "-c") == 0 || strcmp(w, "--config") == 0;
}

static void
print_commands(void)
{
	size_t	i;

	for (i = 0; i < CMD__COUNT; i++)
		if (cmd_defs[i].name != NULL)
			printf("%s\n", cmd_defs[i].name);
	for (i = 0; i < N_LOCAL; i++)
		printf("%s\n", local_cmds[i].name);
}

/*
 * words[0..n-1] are what follows "tendctl" on the line, the last the
 * word being completed (maybe empty).  Prints candidates, unfiltered:
 * the shell keeps those that start with the word.  An unreachable tendd
 * means no app names, quietly.
 */
void
ctl_complete(int n, char **words, json_t *(*names)(void *, const char *,
    const char *), void *arg)
{
	const struct cmd_def	*d;
	const char		*sock = NULL, *conf = NULL, *cmd = NULL;
	const char		*cur = n > 0 ? words[n - 1] : "";
	json_t			*reply, *a;
	int			 i, operand = 0;
	size_t			 k;

	for (i = 0; i < n - 1; i++) {
		if (cmd == NULL && takes_value(words[i]) && i + 1 < n - 1) {
			if (words[i][1] == 's' || words[i][2] == 's')
				sock = words[i + 1];
			else
				conf = words[i + 1];
			i++;
		} else if (cmd == NULL && words[i][0] != '-')
			cmd = words[i];
		else if (cmd != NULL && words[i][0] != '-')
			operand++;
	}
	if (n >= 2 && cmd == NULL && takes_value(words[n - 2]))
		return;		/* a file name: the shell's own */
	if (cmd == NULL) {
		if (cur[0] == '-')
			printf("--socket\n--config\n--json\n--quiet\n"
			    "--no-color\n--help\n--version\n");
		else
			print_commands();
		return;
	}
	if (strcmp(cmd, "help") == 0) {
		if (operand == 0)
			print_commands();
		return;
	}
	if ((d = cmd_def_find(cmd)) == NULL) {
		if (strcmp(cmd, "top") == 0 && cur[0] == '-')
			printf("--no-color\n");
		return;
	}
	if (cur[0] == '-') {
		printf("--json\n--help\n");
		if (d->flags & CMD_F_NO_WAIT)
			printf("--no-wait\n");
		if (d->flags & CMD_F_LINES)
			printf("--lines\n");
		if (d->flags & CMD_F_FOLLOW)
			printf("--follow\n");
		if (d->flags & CMD_F_LOGSEL)
			printf("--err\n--since\n");
		if (d->app == CMD_ARG_APP_OR_ALL)
			printf("--quiet\n");
		if (cmd_def_id(d) == CMD_STATUS)
			printf("--no-color\n");
		if (d->flags & CMD_F_FLEET)
			printf("--fleet\n");
		if (d->flags & CMD_F_WAIT)
			printf("--wait\n");
		return;
	}
	/* logs takes several apps: each operand is one. */
	if ((operand > 0 && d->app != CMD_ARG_APPS) || d->app == CMD_ARG_NONE)
		return;
	if (n >= 2 && strcmp(words[n - 2], "--since") == 0)
		return;		/* a time */
	if (d->app == CMD_ARG_APP_OR_ALL || d->app == CMD_ARG_APPS)
		printf("all\n");
	if ((reply = names(arg, sock, conf)) == NULL)
		return;
	json_array_foreach(json_object_get(reply, "apps"), k, a)
		if (json_is_string(json_object_get(a, "name")))
			printf("%s\n", json_string_value(json_object_get(a,
			    "name")));
	json_decref(reply);
}
