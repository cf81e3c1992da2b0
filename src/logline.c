/*
 * logline.c: the lines of an app's log file read back.  logpipe.c writes
 * each line as
 *
 *	2026-11-24T15:13:31.123Z out.3 text as the app wrote it
 *
 * a UTC time to the millisecond, the stream ("out", "err", "tend", a
 * job's "migrate"...) with ".N" for instance N of an app that runs
 * several, one space, the text.  logline_parse() takes that apart and
 * nothing else: a line that does not have this shape (a file edited by
 * hand, a piece of a line cut by a crash) is refused, never guessed at,
 * so callers show it as it is.  Also what `logs --since` accepts.
 * Pure: libc only, linked by both programs, the unit tests and a fuzzer.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "tend.h"

/* "2026-11-24T15:13:31.123Z" */
#define LOGLINE_TS_LEN	24
/* Streams are short words; a longer token is not one. */
#define LOGLINE_STREAM_MAX	16

static int
is_stream_char(char c)
{
	return (c >= 'a' && c <= 'z') || c == '-' || c == '_';
}

int
logline_parse(const char *p, size_t n, struct logline *ll)
{
	char		 ts[LOGLINE_TS_LEN + 1];
	size_t		 i, s;
	unsigned	 idx = 0;

	memset(ll, 0, sizeof(*ll));
	ll->idx = -1;
	if (n < LOGLINE_TS_LEN + 2 || p[LOGLINE_TS_LEN - 1] != 'Z' ||
	    p[LOGLINE_TS_LEN] != ' ')
		return -1;
	memcpy(ts, p, LOGLINE_TS_LEN);
	ts[LOGLINE_TS_LEN] = '\0';
	/* Only the form logpipe.c writes: milliseconds, always. */
	if (ts[19] != '.' || time_parse_iso(ts, &ll->ms) != 0)
		return -1;
	s = i = LOGLINE_TS_LEN + 1;
	while (i < n && i - s < LOGLINE_STREAM_MAX && is_stream_char(p[i]))
		i++;
	if (i == s)
		return -1;
	ll->stream = p + s;
	ll->stream_len = i - s;
	if (i < n && p[i] == '.') {
		size_t d = ++i;

		while (i < n && i - d < 4 && p[i] >= '0' && p[i] <= '9')
			idx = idx * 10 + (unsigned)(p[i++] - '0');
		if (i == d)
			return -1;
		ll->idx = (int)idx;
	}
	if (i >= n || p[i] != ' ')
		return -1;
	ll->text = p + i + 1;
	ll->text_len = n - i - 1;
	return 0;
}

int
logline_is_err(const struct logline *ll)
{
	return ll->stream_len == 3 && memcmp(ll->stream, "err", 3) == 0;
}

/*
 * --since: a duration back from now ("10m", "2h", "1d": parse_duration's
 * syntax), an ISO-8601 UTC time ("2026-11-24T15:13:31Z", with or without
 * ".123"), or a UTC day ("2026-11-24", its midnight).
 */
int
logline_since(const char *s, uint64_t now_ms, uint64_t *ms, const char **why)
{
	char		 buf[32];
	uint64_t	 d;
	const char	*dwhy;

	if (s == NULL || *s == '\0') {
		*why = "empty time";
		return -1;
	}
	if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
		snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
		s = buf;
	}
	if (strlen(s) >= 20 && s[4] == '-' && s[10] == 'T') {
		if (time_parse_iso(s, ms) != 0) {
			*why = "not an ISO-8601 UTC time (2026-11-24T15:13:31Z)";
			return -1;
		}
		return 0;
	}
	if (parse_duration(s, &d, &dwhy) != 0) {
		*why = "not a duration (10m, 2h, 1d) nor an ISO-8601 UTC time";
		return -1;
	}
	*ms = d > now_ms ? 0 : now_ms - d;
	return 0;
}
