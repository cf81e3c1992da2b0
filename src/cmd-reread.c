/*
 * cmd-reread.c: `reread`: load tend.conf again and apply it (the same as
 * SIGHUP).  A config with errors changes nothing and the errors go back
 * to the client, each as file:line: message.
 */
#define _GNU_SOURCE
#include "tendd.h"

static void
cmd_reread_exec(struct tend *t, struct client *c, json_t *req, struct app *a)
{
	struct errs	 errs;
	json_t		*list;
	size_t		 i;

	errs_init(&errs);
	if (t->reread(t, &errs) == 0) {
		errs_free(&errs);
		client_finish(c, json_pack("{s:b}", "ok", 1));
		return;
	}
	list = json_array();
	for (i = 0; i < errs.n; i++)
		json_array_append_new(list, json_string(errs.msg[i]));
	client_finish(c, json_pack("{s:b,s:s,s:o}", "ok", 0, "error",
	    "configuration has errors; nothing changed", "errors", list));
	errs_free(&errs);
}

const struct cmd_entry cmd_reread_entry = {
	.id = CMD_REREAD, .exec = cmd_reread_exec
};
