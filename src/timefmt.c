/*
 * timefmt.c: the one way tend writes and reads a wall-clock time, always
 * UTC, ISO 8601: "2026-11-24T15:13:31.123Z" in log lines,
 * "2026-11-24T15:13:31Z" in the deploy history, "20261124T151331Z" (the
 * basic format, safe in file names) in release ids and backup names.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tend.h"

uint64_t
time_now_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
time_mono_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

size_t
time_iso(char *buf, size_t len, uint64_t ms, int flags)
{
	struct tm	tm;
	time_t		sec = (time_t)(ms / 1000);
	char		frac[8] = "";
	int		n;

	if (len > 0)
		buf[0] = '\0';
	if (gmtime_r(&sec, &tm) == NULL)
		return 0;
	if (flags & TIME_MS)
		snprintf(frac, sizeof(frac), ".%03u", (unsigned)(ms % 1000));
	if (flags & TIME_BASIC)
		n = snprintf(buf, len, "%04d%02d%02dT%02d%02d%02d%sZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, frac);
	else
		n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%sZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, frac);
	if (n < 0 || (size_t)n >= len) {
		if (len > 0)
			buf[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

/* Exactly ndigits decimal digits at s. */
static int
digits(const char *s, int ndigits, int *v)
{
	int	i;

	*v = 0;
	for (i = 0; i < ndigits; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int
time_parse_iso(const char *s, uint64_t *ms)
{
	struct tm	tm;
	int		y, mo, d, h, mi, sec, frac = 0;
	time_t		t;
	const char	*p;

	if (strlen(s) < 20 || digits(s, 4, &y) != 0 || s[4] != '-' ||
	    digits(s + 5, 2, &mo) != 0 || s[7] != '-' ||
	    digits(s + 8, 2, &d) != 0 || s[10] != 'T' ||
	    digits(s + 11, 2, &h) != 0 || s[13] != ':' ||
	    digits(s + 14, 2, &mi) != 0 || s[16] != ':' ||
	    digits(s + 17, 2, &sec) != 0)
		goto bad;
	p = s + 19;
	if (*p == '.') {
		if (digits(p + 1, 3, &frac) != 0)
			goto bad;
		p += 4;
	}
	if (strcmp(p, "Z") != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > 31 || h > 23 || mi > 59 || sec > 59)
		goto bad;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	/* timegm makes "02-31" March 3rd: such a date is no date. */
	if ((t = timegm(&tm)) == (time_t)-1 || t < 0 || tm.tm_mday != d ||
	    tm.tm_mon != mo - 1)
		goto bad;
	*ms = (uint64_t)t * 1000 + (uint64_t)frac;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}
