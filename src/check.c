/*
 * check.c: is the app's PostgreSQL (DATABASE_URL) or Redis (REDIS_URL)
 * there and usable?  Asked of tend-probe (probe.c), which speaks both;
 * the answer is one plain sentence, whether a failure may pass by itself,
 * and facts for the connection budget.  A probe that does not answer in
 * time is killed and reported as no answer.  The probe runs as the app's
 * user and group: the URL is theirs.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendd.h"

struct check {
	const char	*what;		/* "PostgreSQL", "Redis" */
	uint64_t	 timeout_ms;
	int		 answered;
	check_cb	 cb;
	void		*arg;
};

static void
check_line_cb(void *arg, json_t *msg)
{
	struct check	*c = arg;
	json_t		*ok = json_object_get(msg, "ok"), *info;
	const char	*detail = json_string_value(json_object_get(msg,
			    "detail"));

	if (c->answered || !json_is_integer(ok))
		return;
	c->answered = 1;
	info = json_object_get(msg, "info");
	c->cb(c->arg, (int)json_integer_value(ok), detail ? detail : "?",
	    info != NULL ? json_incref(info) : NULL);
}

static void
check_done_cb(void *arg, int status)
{
	struct check	*c = arg;
	char		 out[300];

	if (!c->answered) {
		if (status == -1)
			snprintf(out, sizeof(out), "%s: no answer within %llu ms",
			    c->what, (unsigned long long)c->timeout_ms);
		else
			snprintf(out, sizeof(out), "%s: the check could not run "
			    "(tend-probe exited with %d)", c->what, status);
		c->cb(c->arg, CHECK_RETRY, out, NULL);
	}
	free(c);
}

static int
check_start(struct tend *t, const struct conf_app *ca, const char *mode,
    const char *what, const char *url, uint64_t timeout_ms, check_cb cb,
    void *arg)
{
	struct check	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	c->what = what;
	c->timeout_ms = timeout_ms;
	c->cb = cb;
	c->arg = arg;
	if (probe_start(t, ca->user, ca->group, mode, url, NULL, timeout_ms,
	    check_line_cb, check_done_cb, c) == NULL) {
		free(c);
		return -1;
	}
	return 0;
}

/* cb(arg, ok, detail, info) exactly once, from the loop. */
int
check_pg_start(struct tend *t, const struct conf_app *ca, const char *url,
    uint64_t timeout_ms, check_cb cb, void *arg)
{
	return check_start(t, ca, "pg", "PostgreSQL", url, timeout_ms, cb, arg);
}

int
check_redis_start(struct tend *t, const struct conf_app *ca, const char *url,
    uint64_t timeout_ms, check_cb cb, void *arg)
{
	return check_start(t, ca, "redis", "Redis", url, timeout_ms, cb, arg);
}
