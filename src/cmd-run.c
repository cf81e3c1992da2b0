/*
 * cmd-run.c: `start`, `stop` and `restart` APP or all.  Each answers when
 * the app got there (live, or down), or with the reason it could not;
 * "no_wait": true answers at once.
 */
#define _GNU_SOURCE
#include "tendd.h"

static void
cmd_start_exec(struct tend *t, struct client *c, json_t *req, struct app *app)
{
	cmd_wait(t, c, req, app, app_start, 1);
}

static void
cmd_stop_exec(struct tend *t, struct client *c, json_t *req, struct app *app)
{
	cmd_wait(t, c, req, app, app_stop, 0);
}

static void
cmd_restart_exec(struct tend *t, struct client *c, json_t *req,
    struct app *app)
{
	cmd_wait(t, c, req, app, app_restart, 1);
}

const struct cmd_entry cmd_start_entry = {
	.id = CMD_START, .exec = cmd_start_exec
};
const struct cmd_entry cmd_stop_entry = {
	.id = CMD_STOP, .exec = cmd_stop_exec
};
const struct cmd_entry cmd_restart_entry = {
	.id = CMD_RESTART, .exec = cmd_restart_exec
};
