/* test-cmd-table.c: the command table tendd and tendctl share: every
 * row complete, names unique and found, operands of the right kind. */
#define _GNU_SOURCE
#include <string.h>

#include "tend.h"
#include "check.h"

static void
test_rows(void)
{
	size_t	i, j;

	for (i = 0; i < CMD__COUNT; i++) {
		const struct cmd_def *d = &cmd_defs[i];

		CHECK(d->name != NULL && d->usage != NULL);
		if (d->name == NULL || d->usage == NULL)
			continue;
		/* The usage starts with the name people type. */
		CHECK(strncmp(d->usage, d->name, strlen(d->name)) == 0);
		CHECK(d->app <= CMD_ARG_APP_OR_ALL || d->app == CMD_ARG_APPS);
		CHECK(d->extra == CMD_ARG_NONE || d->extra == CMD_ARG_REF ||
		    d->extra == CMD_ARG_RELEASE);
		/* A second operand needs a first. */
		CHECK(d->extra == CMD_ARG_NONE || d->app == CMD_ARG_APP);
		CHECK(cmd_def_find(d->name) == d);
		CHECK(cmd_def_id(d) == (enum cmd_id)i);
		for (j = i + 1; j < CMD__COUNT; j++)
			CHECK(cmd_defs[j].name == NULL ||
			    strcmp(d->name, cmd_defs[j].name) != 0);
	}
}

static void
test_lookup(void)
{
	CHECK(cmd_def_find("status") == &cmd_defs[CMD_STATUS]);
	CHECK(cmd_def_find("frobnicate") == NULL);
	CHECK(cmd_def_find("") == NULL);
	CHECK(cmd_def_find(NULL) == NULL);
	CHECK(strcmp(cmd_arg_key(CMD_ARG_REF), "ref") == 0);
	CHECK(strcmp(cmd_arg_key(CMD_ARG_RELEASE), "release") == 0);
	CHECK(cmd_arg_key(CMD_ARG_APP) == NULL);
	/* What the protocol promises (tendctl(1)). */
	CHECK(cmd_defs[CMD_LOGS].flags & CMD_F_FOLLOW);
	CHECK(cmd_defs[CMD_STATUS].flags & CMD_F_SHUTDOWN);
	CHECK(cmd_defs[CMD_START].app == CMD_ARG_APP_OR_ALL);
	CHECK(cmd_defs[CMD_REREAD].app == CMD_ARG_NONE);
}

int
main(void)
{
	RUN(test_rows);
	RUN(test_lookup);
	return check_failed();
}
