/*
 * cmd-table.c: the commands of the control protocol, one row each: the
 * name on the wire and on tendctl's command line, the usage people see,
 * what the operands are and which options apply.  tendd (cmd.c) checks
 * requests against it and tendctl builds them from it, so the two cannot
 * disagree.  A new command is a row here, its cmd-X.c in tendd, its
 * printer in tendctl.c and its paragraph in tendctl(1).
 */
#define _GNU_SOURCE
#include <string.h>

#include "tend.h"

const struct cmd_def cmd_defs[CMD__COUNT] = {
	[CMD_STATUS] = { .name = "status",
	    .usage = "status [APP] [--json] [--fleet]",
	    .app = CMD_ARG_APP_OPTIONAL,
	    .flags = CMD_F_BRIEF | CMD_F_SHUTDOWN | CMD_F_FLEET },
	[CMD_START] = { .name = "start", .usage = "start APP|all [--no-wait]",
	    .app = CMD_ARG_APP_OR_ALL, .flags = CMD_F_NO_WAIT },
	[CMD_STOP] = { .name = "stop", .usage = "stop APP|all [--no-wait]",
	    .app = CMD_ARG_APP_OR_ALL, .flags = CMD_F_NO_WAIT },
	[CMD_RESTART] = { .name = "restart",
	    .usage = "restart APP|all [--no-wait]",
	    .app = CMD_ARG_APP_OR_ALL, .flags = CMD_F_NO_WAIT },
	[CMD_LOGS] = { .name = "logs",
	    .usage = "logs APP...|all [--err] [--since T] [-n N] [-f] [--json]",
	    .app = CMD_ARG_APPS, .flags = CMD_F_LINES | CMD_F_FOLLOW |
	    CMD_F_SHUTDOWN | CMD_F_LOGSEL },
	[CMD_CHECK] = { .name = "check", .usage = "check APP",
	    .app = CMD_ARG_APP },
	[CMD_DEPLOY] = { .name = "deploy",
	    .usage = "deploy APP [REF] [--fleet [--wait]]",
	    .app = CMD_ARG_APP, .extra = CMD_ARG_REF,
	    .flags = CMD_F_FLEET | CMD_F_WAIT },
	[CMD_RELOAD] = { .name = "reload", .usage = "reload APP",
	    .app = CMD_ARG_APP },
	[CMD_RELEASES] = { .name = "releases",
	    .usage = "releases APP [--json] [--fleet]", .app = CMD_ARG_APP,
	    .flags = CMD_F_FLEET },
	[CMD_ROLLBACK] = { .name = "rollback",
	    .usage = "rollback APP [RELEASE] [--fleet [--wait]]",
	    .app = CMD_ARG_APP, .extra = CMD_ARG_RELEASE,
	    .flags = CMD_F_FLEET | CMD_F_WAIT },
	[CMD_REREAD] = { .name = "reread", .usage = "reread",
	    .app = CMD_ARG_NONE },
	[CMD_METRICS] = { .name = "metrics", .usage = "metrics",
	    .app = CMD_ARG_NONE, .flags = CMD_F_SHUTDOWN },
};

const struct cmd_def *
cmd_def_find(const char *name)
{
	size_t	i;

	for (i = 0; name != NULL && i < CMD__COUNT; i++)
		if (cmd_defs[i].name != NULL && strcmp(cmd_defs[i].name, name) == 0)
			return &cmd_defs[i];
	return NULL;
}

enum cmd_id
cmd_def_id(const struct cmd_def *d)
{
	return (enum cmd_id)(d - cmd_defs);
}

/* The request's key for a second operand, or NULL. */
const char *
cmd_arg_key(enum cmd_arg a)
{
	switch (a) {
	case CMD_ARG_REF:
		return "ref";
	case CMD_ARG_RELEASE:
		return "release";
	default:
		return NULL;
	}
}
