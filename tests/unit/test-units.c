/* test-units.c: durations, sizes, percentages, numbers, signals, names. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>

#include "tend.h"
#include "check.h"

static uint64_t
dur(const char *s)
{
	uint64_t	 ms = 12345;
	const char	*why = NULL;

	return parse_duration(s, &ms, &why) == 0 ? ms : (uint64_t)-1;
}

static uint64_t
size(const char *s)
{
	uint64_t	 b = 0;
	const char	*why = NULL;

	return parse_size(s, &b, &why) == 0 ? b : (uint64_t)-1;
}

static void
test_duration(void)
{
	const char	*why = NULL;
	uint64_t	 ms;

	CHECK(dur("100ms") == 100);
	CHECK(dur("15s") == 15000);
	CHECK(dur("5m") == 300000);
	CHECK(dur("1h") == 3600000);
	CHECK(dur("1d") == 86400000);
	CHECK(dur("1m30s") == 90000);
	CHECK(dur("2s500ms") == 2500);
	CHECK(dur("7") == 7000);	/* bare number: seconds */
	CHECK(dur("0") == 0);
	CHECK(dur("") == (uint64_t)-1);
	CHECK(dur("-1s") == (uint64_t)-1);
	CHECK(dur("1.5s") == (uint64_t)-1);
	CHECK(dur("10x") == (uint64_t)-1);
	CHECK(dur("s") == (uint64_t)-1);
	CHECK(dur("1m30") == (uint64_t)-1);
	CHECK(dur(" 1s") == (uint64_t)-1);
	CHECK(dur("99999999999999999999s") == (uint64_t)-1);
	CHECK(dur("999999999999999999d") == (uint64_t)-1);
	CHECK(parse_duration("soon", &ms, &why) == -1 && why != NULL &&
	    strstr(why, "duration") != NULL);
	CHECK(parse_duration("3s", &ms, &why) == 0 && why == NULL);
}

static void
test_size(void)
{
	CHECK(size("512") == 512);
	CHECK(size("1K") == 1024);
	CHECK(size("512M") == 512ULL << 20);
	CHECK(size("1536MiB") == 1536ULL << 20);
	CHECK(size("1G") == 1ULL << 30);
	CHECK(size("2GB") == 2ULL << 30);
	CHECK(size("1T") == 1ULL << 40);
	CHECK(size("10m") == 10ULL << 20);
	CHECK(size("") == (uint64_t)-1);
	CHECK(size("M") == (uint64_t)-1);
	CHECK(size("1X") == (uint64_t)-1);
	CHECK(size("1MX") == (uint64_t)-1);
	CHECK(size("-1M") == (uint64_t)-1);
	CHECK(size("99999999999T") == (uint64_t)-1);
}

static void
test_percent_uint_bool(void)
{
	const char	*why;
	unsigned	 p;
	unsigned long	 u;
	int		 b;

	CHECK(parse_percent("75%", &p, &why) == 0 && p == 75);
	CHECK(parse_percent("100%", &p, &why) == 0 && p == 100);
	CHECK(parse_percent("0%", &p, &why) == -1);
	CHECK(parse_percent("101%", &p, &why) == -1);
	CHECK(parse_percent("75", &p, &why) == -1);
	CHECK(parse_percent("%", &p, &why) == -1);
	CHECK(parse_uint("42", 1, 100, &u, &why) == 0 && u == 42);
	CHECK(parse_uint("0", 1, 100, &u, &why) == -1 && strstr(why, "1 to 100"));
	CHECK(parse_uint("+4", 0, 100, &u, &why) == -1);
	CHECK(parse_uint("4 ", 0, 100, &u, &why) == -1);
	CHECK(parse_uint("", 0, 100, &u, &why) == -1);
	CHECK(parse_bool("yes", &b, &why) == 0 && b == 1);
	CHECK(parse_bool("Off", &b, &why) == 0 && b == 0);
	CHECK(parse_bool("maybe", &b, &why) == -1);
}

static void
test_signal(void)
{
	const char	*why;
	int		 s;

	CHECK(parse_signal("SIGTERM", &s, &why) == 0 && s == SIGTERM);
	CHECK(parse_signal("int", &s, &why) == 0 && s == SIGINT);
	CHECK(parse_signal("sigquit", &s, &why) == 0 && s == SIGQUIT);
	CHECK(parse_signal("9", &s, &why) == 0 && s == 9);
	CHECK(parse_signal("SIGFOO", &s, &why) == -1);
	CHECK(parse_signal("0", &s, &why) == -1);
	CHECK(strcmp(signal_name(SIGKILL), "SIGKILL") == 0);
	CHECK(strcmp(signal_name(42), "SIG42") == 0);
	CHECK(strcmp(signal_name(SIGSEGV), "SIGSEGV") == 0);
}

static void
test_format(void)
{
	char	b[32];

	format_duration(b, sizeof(b), 250);
	CHECK(strcmp(b, "250ms") == 0);
	format_duration(b, sizeof(b), 1500);
	CHECK(strcmp(b, "1.5s") == 0);
	format_duration(b, sizeof(b), 2000);
	CHECK(strcmp(b, "2s") == 0);
	format_duration(b, sizeof(b), 200000);
	CHECK(strcmp(b, "3m20s") == 0);
	format_duration(b, sizeof(b), 7200000);
	CHECK(strcmp(b, "2h0m") == 0);
	format_size(b, sizeof(b), 512);
	CHECK(strcmp(b, "512B") == 0);
	format_size(b, sizeof(b), 1536);
	CHECK(strcmp(b, "1.5K") == 0);
	format_size(b, sizeof(b), 1800ULL << 20);
	CHECK(strcmp(b, "1.8G") == 0);
}

static void
test_app_name(void)
{
	char	long_name[APP_NAME_MAX + 2];

	CHECK(valid_app_name("medusa"));
	CHECK(valid_app_name("web-2.api_x"));
	CHECK(!valid_app_name(""));
	CHECK(!valid_app_name("all"));
	CHECK(!valid_app_name(".."));
	CHECK(!valid_app_name("../etc"));
	CHECK(!valid_app_name("a/b"));
	CHECK(!valid_app_name("-x"));
	CHECK(!valid_app_name("a b"));
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	CHECK(!valid_app_name(long_name));
	long_name[APP_NAME_MAX] = '\0';
	CHECK(valid_app_name(long_name));
}

int
main(void)
{
	RUN(test_duration);
	RUN(test_size);
	RUN(test_percent_uint_bool);
	RUN(test_signal);
	RUN(test_format);
	RUN(test_app_name);
	return check_failed();
}
