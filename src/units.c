/*
 * units.c: the value syntax shared by tend.conf, the protocol and
 * tendctl: durations ("100ms", "1m30s"; a bare number is seconds, as in
 * systemd), binary sizes ("512M"; a bare number is bytes), percentages,
 * strict unsigned integers, booleans and signal names; and how durations
 * and sizes are printed back.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tend.h"

/* Strict decimal: digits only, no sign, no space, no overflow. */
static int
scan_u64(const char **sp, uint64_t *out)
{
	const char	*s = *sp;
	uint64_t	 v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -2;
		v = v * 10 + d;
		s++;
	}
	*sp = s;
	*out = v;
	return 0;
}

int
parse_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *out, const char **why)
{
	uint64_t	v;
	int		r;

	if ((r = scan_u64(&s, &v)) != 0 || *s != '\0') {
		*why = r == -2 ? "number too large" : "expected a whole number";
		return -1;
	}
	if (v < min || v > max) {
		static char	buf[96];

		snprintf(buf, sizeof(buf), "must be from %lu to %lu", min, max);
		*why = buf;
		return -1;
	}
	*out = (unsigned long)v;
	*why = NULL;
	return 0;
}

int
parse_duration(const char *s, uint64_t *ms, const char **why)
{
	static const struct { const char *u; uint64_t mul; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	uint64_t	total = 0, v;
	size_t		i, n;
	int		parts = 0;

	*why = "expected a duration like 15s, 100ms or 1m30s";
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if (scan_u64(&s, &v) != 0)
			return -1;
		parts++;
		if (*s == '\0') {
			if (parts > 1)
				return -1;	/* "1m30" is ambiguous */
			if (v > UINT64_MAX / 1000)
				goto big;
			*ms = v * 1000;
			*why = NULL;
			return 0;
		}
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			n = strlen(units[i].u);
			if (strncmp(s, units[i].u, n) == 0 &&
			    !(n == 1 && s[0] == 'm' && s[1] == 's'))
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		if (v > UINT64_MAX / units[i].mul ||
		    total > UINT64_MAX - v * units[i].mul)
			goto big;
		total += v * units[i].mul;
		s += strlen(units[i].u);
	}
	*ms = total;
	*why = NULL;
	return 0;
big:
	*why = "duration too large";
	return -1;
}

int
parse_size(const char *s, uint64_t *bytes, const char **why)
{
	uint64_t	v, mul = 1;
	int		r;

	*why = "expected a size like 512M or 1G";
	if ((r = scan_u64(&s, &v)) != 0) {
		if (r == -2)
			*why = "size too large";
		return -1;
	}
	switch (toupper((unsigned char)*s)) {
	case '\0':
		break;
	case 'K':
		mul = 1ULL << 10;
		break;
	case 'M':
		mul = 1ULL << 20;
		break;
	case 'G':
		mul = 1ULL << 30;
		break;
	case 'T':
		mul = 1ULL << 40;
		break;
	case 'B':
		s++;
		if (*s != '\0')
			return -1;
		break;
	default:
		return -1;
	}
	if (mul > 1) {
		s++;
		if (strcmp(s, "") != 0 && strcmp(s, "B") != 0 &&
		    strcmp(s, "iB") != 0)
			return -1;
	}
	if (v > UINT64_MAX / mul) {
		*why = "size too large";
		return -1;
	}
	*bytes = v * mul;
	*why = NULL;
	return 0;
}

int
parse_percent(const char *s, unsigned *pct, const char **why)
{
	uint64_t	v;
	size_t		n = strlen(s);

	*why = "expected a percentage from 1% to 100%";
	if (n < 2 || s[n - 1] != '%')
		return -1;
	if (scan_u64(&s, &v) != 0 || *s != '%' || v < 1 || v > 100)
		return -1;
	*pct = (unsigned)v;
	*why = NULL;
	return 0;
}

int
parse_bool(const char *s, int *b, const char **why)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t	i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b = 1;
			*why = NULL;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b = 0;
			*why = NULL;
			return 0;
		}
	}
	*why = "expected yes or no";
	return -1;
}

static const struct { const char *name; int sig; } signals[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	{ "TERM", SIGTERM }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
	{ "TSTP", SIGTSTP }, { "WINCH", SIGWINCH }, { "ALRM", SIGALRM },
	{ "PIPE", SIGPIPE },
	/* Not for stop_signal, but what crashes are reported as. */
	{ "SEGV", SIGSEGV }, { "ABRT", SIGABRT }, { "BUS", SIGBUS },
	{ "FPE", SIGFPE }, { "ILL", SIGILL }, { "TRAP", SIGTRAP },
	{ "SYS", SIGSYS }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
};

int
parse_signal(const char *s, int *sig, const char **why)
{
	unsigned long	n;
	size_t		i;

	*why = "expected a signal name like SIGTERM or SIGINT";
	if (isdigit((unsigned char)*s)) {
		if (parse_uint(s, 1, 64, &n, why) != 0)
			return -1;
		*sig = (int)n;
		*why = NULL;
		return 0;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (strcasecmp(s, signals[i].name) == 0) {
			*sig = signals[i].sig;
			*why = NULL;
			return 0;
		}
	return -1;
}

const char *
signal_name(int sig)
{
	static char	buf[16];
	size_t		i;

	for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (signals[i].sig == sig) {
			snprintf(buf, sizeof(buf), "SIG%s", signals[i].name);
			return buf;
		}
	snprintf(buf, sizeof(buf), "SIG%d", sig);
	return buf;
}

void
format_duration(char *buf, size_t len, uint64_t ms)
{
	if (ms < 1000)
		snprintf(buf, len, "%llums", (unsigned long long)ms);
	else if (ms < 60000) {
		if (ms % 1000 == 0)
			snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
		else
			snprintf(buf, len, "%llu.%llus",
			    (unsigned long long)(ms / 1000),
			    (unsigned long long)(ms % 1000 / 100));
	} else if (ms < 3600000)
		snprintf(buf, len, "%llum%llus",
		    (unsigned long long)(ms / 60000),
		    (unsigned long long)(ms % 60000 / 1000));
	else if (ms < 86400000ULL * 2)
		snprintf(buf, len, "%lluh%llum",
		    (unsigned long long)(ms / 3600000),
		    (unsigned long long)(ms % 3600000 / 60000));
	else
		snprintf(buf, len, "%llud%lluh",
		    (unsigned long long)(ms / 86400000),
		    (unsigned long long)(ms % 86400000 / 3600000));
}

void
format_size(char *buf, size_t len, uint64_t b)
{
	static const char	units[] = "KMGT";
	double			v = (double)b;
	int			i = -1;

	if (b < 1024) {
		snprintf(buf, len, "%lluB", (unsigned long long)b);
		return;
	}
	while (v >= 1024 && i < 3) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[i]);
}

int
valid_app_name(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > APP_NAME_MAX || !isalnum((unsigned char)s[0]))
		return 0;
	for (i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '.' && s[i] != '-')
			return 0;
	return strcmp(s, "all") != 0;
}
