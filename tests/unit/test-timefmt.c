/* test-timefmt.c: the one timestamp format, written and read back. */
#include <stdio.h>
#include <string.h>

#include "tend.h"
#include "check.h"

/* 2026-11-24T15:13:31.123Z */
#define T_MS	1795533211123ULL

static void
test_formats(void)
{
	char	buf[TIME_ISO_MAX];

	CHECK(time_iso(buf, sizeof(buf), T_MS, TIME_MS) == 24);
	CHECK(strcmp(buf, "2026-11-24T15:13:31.123Z") == 0);
	CHECK(time_iso(buf, sizeof(buf), T_MS, 0) == 20);
	CHECK(strcmp(buf, "2026-11-24T15:13:31Z") == 0);
	CHECK(time_iso(buf, sizeof(buf), T_MS, TIME_BASIC) == 16);
	CHECK(strcmp(buf, "20261124T151331Z") == 0);
	CHECK(time_iso(buf, sizeof(buf), 0, TIME_MS) == 24);
	CHECK(strcmp(buf, "1970-01-01T00:00:00.000Z") == 0);
	CHECK(time_iso(buf, sizeof(buf), 5, TIME_MS) > 0);
	CHECK(strcmp(buf, "1970-01-01T00:00:00.005Z") == 0);
}

static void
test_truncation(void)
{
	char	buf[20];

	/* 20 characters need 21 bytes: nothing half-written. */
	CHECK(time_iso(buf, sizeof(buf), T_MS, 0) == 0);
	CHECK(buf[0] == '\0');
	CHECK(time_iso(buf, 17, T_MS, TIME_BASIC) == 16);
	CHECK(time_iso(buf, 16, T_MS, TIME_BASIC) == 0);
	CHECK(time_iso(NULL, 0, T_MS, 0) == 0);
}

static void
test_parse(void)
{
	char		buf[TIME_ISO_MAX];
	uint64_t	ms = 0, now = time_now_ms();

	CHECK(time_parse_iso("2026-11-24T15:13:31Z", &ms) == 0);
	CHECK(ms == T_MS - 123);
	CHECK(time_parse_iso("2026-11-24T15:13:31.123Z", &ms) == 0);
	CHECK(ms == T_MS);
	CHECK(now > T_MS - 400ULL * 86400 * 1000);	/* a sane clock */
	CHECK(time_iso(buf, sizeof(buf), now, TIME_MS) > 0);
	CHECK(time_parse_iso(buf, &ms) == 0 && ms == now);
	CHECK(time_parse_iso("2026-11-24 15:13:31Z", &ms) == -1);
	CHECK(time_parse_iso("2026-11-24T15:13:31", &ms) == -1);
	CHECK(time_parse_iso("2026-11-24T15:13:31+01:00", &ms) == -1);
	CHECK(time_parse_iso("2026-02-31T00:00:00Z", &ms) == -1);
	CHECK(time_parse_iso("2026-13-01T00:00:00Z", &ms) == -1);
	CHECK(time_parse_iso("2026-11-24T15:13:31.1Z", &ms) == -1);
	CHECK(time_parse_iso("2026-11-24T15:13:31ZZ", &ms) == -1);
	CHECK(time_parse_iso("20261124T151331Z", &ms) == -1);
	CHECK(time_parse_iso("", &ms) == -1);
}

int
main(void)
{
	RUN(test_formats);
	RUN(test_truncation);
	RUN(test_parse);
	return check_failed();
}
