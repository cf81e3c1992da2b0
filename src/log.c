/*
 * log.c: tendd's own messages, one write(2) per line on stderr (so lines
 * from concurrent writers never interleave).  Under systemd, stderr is
 * the journal and each line carries an sd-daemon priority prefix instead
 * of a timestamp.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend.h"

#define LOG_LINE	2048

static int	log_debug_on;
static int	log_journal;

void
log_init(int debug, int journal_prefix)
{
	log_debug_on = debug;
	log_journal = journal_prefix;
}

static void
vlog(int prio, const char *level, int with_errno, const char *fmt,
    va_list ap)
{
	char		buf[LOG_LINE], ts[TIME_ISO_MAX];
	int		saved = errno, n = 0, m;

	if (log_journal)
		n = snprintf(buf, sizeof(buf), "<%d>", prio);
	else {
		time_iso(ts, sizeof(ts), time_now_ms(), TIME_MS);
		n = snprintf(buf, sizeof(buf), "%s tendd: %s", ts, level);
	}
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if (m > 0)
		n += m;
	if (with_errno && n < (int)sizeof(buf) - 1)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s",
		    strerror(saved));
	if (n > (int)sizeof(buf) - 2) {
		/* Too long: cut, and say so. */
		n = sizeof(buf) - 2;
		memcpy(buf + n - 3, "...", 3);
	}
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, (size_t)n);
	errno = saved;
}

#define LOGFN(name, prio, level, e)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	ap;						\
								\
	va_start(ap, fmt);					\
	vlog(prio, level, e, fmt, ap);				\
	va_end(ap);						\
}
LOGFN(log_warn, 4, "warning: ", 1)
LOGFN(log_warnx, 4, "warning: ", 0)
LOGFN(log_info, 6, "", 0)

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	vlog(7, "debug: ", 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(3, "fatal: ", 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(3, "fatal: ", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
