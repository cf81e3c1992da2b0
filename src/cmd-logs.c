/*
 * cmd-logs.c: `logs APP [-n N] [-f]`: the last lines kept in memory, then,
 * with follow, every new line as an event until the client hangs up.
 * Output that is not UTF-8 goes out with U+FFFD in its place (proto_text).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "tendd.h"

/* More lines than the ring holds cannot be given anyway. */
#define LOGS_MAX_LINES	100000
/* A follower further behind than this loses lines (and is told). */
#define FOLLOW_MAX	(1024 * 1024)

/* Tell a follower how much it missed, once it can take it. */
static void
follower_note_drops(struct follower *f)
{
	json_t	*ev;
	char	 note[96];

	if (f->dropped == 0)
		return;
	snprintf(note, sizeof(note), "[tend: %llu bytes dropped: reader too "
	    "slow]\n", (unsigned long long)f->dropped);
	f->dropped = 0;
	if ((ev = json_pack("{s:s,s:s}", "event", "log", "data", note)) != NULL)
		client_send(f->client, ev);
}

/* New output of app (whole lines, as written to its log) for each of its
 * `logs -f` readers, straight to their client's bounded queue. */
void
followers_output(struct app *app, const char *p, size_t n)
{
	struct follower	*f, *next;
	json_t		*ev;

	LIST_FOREACH_SAFE(f, &app->log.followers, entry, next) {
		if (client_queue_size(f->client) > FOLLOW_MAX) {
			f->dropped += n;
			continue;
		}
		follower_note_drops(f);
		/* Text that is not UTF-8 gets U+FFFD: JSON must be UTF-8. */
		ev = json_object();
		if (ev == NULL || json_object_set_new(ev, "event",
		    json_string("log")) != 0 || json_object_set_new(ev, "data",
		    proto_text(p, n)) != 0) {
			json_decref(ev);
			continue;
		}
		client_send(f->client, ev);
	}
}

/* The follower goes (its client closed, or its app is removed). */
void
follower_remove(struct follower *f)
{
	LIST_REMOVE(f, entry);
	client_hook_remove(f->on_close);
	client_hook_remove(f->on_drain);
	free(f);
}

/* app goes away: its followers hear so and are answered. */
void
followers_app_gone(struct app *app)
{
	while (!LIST_EMPTY(&app->log.followers)) {
		struct client *c = LIST_FIRST(&app->log.followers)->client;

		follower_remove(LIST_FIRST(&app->log.followers));
		client_finish(c, cmd_error("%s was removed", app->name));
	}
}

static void
follower_client_gone(struct client *c, void *arg)
{
	struct follower	*f = arg;

	(void)c;
	f->on_close = NULL;	/* freed as it ran */
	follower_remove(f);
}

/* A follower that caught up hears what it missed, even if the app has
 * gone quiet since. */
static void
follower_drained(struct client *c, void *arg)
{
	(void)c;
	follower_note_drops(arg);
}

static void
cmd_logs_exec(struct tend *t, struct client *c, json_t *req, struct app *app)
{
	json_t		*jn = json_object_get(req, "n");
	json_int_t	 n = 20;
	struct follower	*f;
	json_t		*data;
	char		*tail;
	size_t		 len;

	if (jn != NULL) {
		if (!json_is_integer(jn) || json_integer_value(jn) < 0 ||
		    json_integer_value(jn) > LOGS_MAX_LINES) {
			client_finish(c, cmd_error("\"n\" must be an integer "
			    "from 0 to %d", LOGS_MAX_LINES));
			return;
		}
		n = json_integer_value(jn);
	}
	if ((tail = applog_tail(&app->log, (unsigned)n, &len)) == NULL) {
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	data = proto_text(tail, len);
	free(tail);
	if (data == NULL) {
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	if (!json_is_true(json_object_get(req, "follow"))) {
		client_finish(c, json_pack("{s:b,s:o}", "ok", 1, "data", data));
		return;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		json_decref(data);
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	f->client = c;
	f->app = app;
	if ((f->on_close = client_on_close(c, follower_client_gone, f)) == NULL ||
	    (f->on_drain = client_on_drain(c, follower_drained, f)) == NULL) {
		client_hook_remove(f->on_close);
		free(f);
		json_decref(data);
		client_finish(c, cmd_error("out of memory"));
		return;
	}
	LIST_INSERT_HEAD(&app->log.followers, f, entry);
	client_send(c, json_pack("{s:s,s:o}", "event", "log", "data", data));
	/* No final reply: the stream ends when either side hangs up. */
}

const struct cmd_entry cmd_logs_entry = {
	.id = CMD_LOGS, .exec = cmd_logs_exec
};
