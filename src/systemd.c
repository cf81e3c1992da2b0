/*
 * systemd.c: speaking systemd's language.  READY=1 once the control
 * socket listens and the config is loaded; STATUS= with a one-line summary
 * whenever it changes; WATCHDOG=1 from a loop timer at half the interval
 * systemd asks for (so a stuck loop is what gets tendd restarted);
 * RELOADING=1 around a reread and STOPPING=1 at shutdown.  App output is
 * copied to the journal with the app's name as SYSLOG_IDENTIFIER.
 *
 * Everything here is a no-op when NOTIFY_SOCKET is unset, which is how
 * libsystemd's sd_notify behaves too.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "tendd.h"

static void
watchdog_cb(uv_timer_t *h)
{
	sd_notify(0, "WATCHDOG=1");
}

void
sd_init(struct tend *t)
{
	uint64_t	usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		t->watchdog_usec = usec;
		uv_timer_init(t->loop, &t->watchdog);
		/* Half the interval, in ms, at least 1. */
		uv_timer_start(&t->watchdog, watchdog_cb,
		    usec / 2000 ? usec / 2000 : 1, usec / 2000 ? usec / 2000 : 1);
		log_info("systemd watchdog every %llu ms",
		    (unsigned long long)(usec / 2000));
	}
}

void
sd_ready(struct tend *t)
{
	t->last_status[0] = '\0';
	t->ready_sent = 1;
	sd_notify(0, "READY=1");
	sd_status_update(t);
}

void
sd_stopping(struct tend *t)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping apps");
	if (t->watchdog_usec && !uv_is_closing((uv_handle_t *)&t->watchdog))
		uv_timer_stop(&t->watchdog);
}

void
sd_reloading(struct tend *t)
{
	sd_notify(0, "RELOADING=1");
}

void
sd_status_update(struct tend *t)
{
	unsigned	live, starting, failed, down;
	char		buf[sizeof(t->last_status) + 64];

	if (t->shutting_down || !t->ready_sent)
		return;
	supervise_summary(t, &live, &starting, &failed, &down);
	snprintf(buf, sizeof(buf), "STATUS=%u live, %u starting, %u failed, "
	    "%u stopped", live, starting, failed, down);
	if (strcmp(buf + 7, t->last_status) == 0)
		return;
	snprintf(t->last_status, sizeof(t->last_status), "%.200s", buf + 7);
	sd_notify(0, buf);
}

int
sd_journal_line(const char *app, int idx, int prio, const char *line,
    size_t len)
{
	char	pri[16], inst[32];

	snprintf(pri, sizeof(pri), "PRIORITY=%d", prio);
	snprintf(inst, sizeof(inst), "TEND_INSTANCE=%d", idx < 0 ? 0 : idx);
	return sd_journal_send("MESSAGE=%.*s", (int)len, line, pri,
	    "SYSLOG_IDENTIFIER=%s", app, "TEND_APP=%s", app, inst, NULL);
}
