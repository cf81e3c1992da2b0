/*
 * cmd-metrics.c: `metrics`: every app's figures in Prometheus's text
 * format (metrics.c makes it, for this command and metrics_file alike),
 * as the reply's "text".  App names and release ids are all the text
 * holds of the apps: nothing an app printed, no environment.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "tendd.h"

static void
cmd_metrics_exec(struct tend *t, struct client *c, json_t *req,
    struct app *one)
{
	json_t	*reply;
	char	*text;
	size_t	 len;

	(void)req;
	(void)one;
	if ((text = metrics_text(t, &len)) == NULL) {
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	reply = json_pack("{s:b,s:s%}", "ok", 1, "text", text, len);
	free(text);
	client_finish(c, reply != NULL ? reply : cmd_error("out of memory"));
}

const struct cmd_entry cmd_metrics_entry = {
	.id = CMD_METRICS, .exec = cmd_metrics_exec
};
