/* test-backoff.c: the restart delay sequence and the start limit. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "tend.h"
#include "check.h"

static void
test_sequence(void)
{
	struct backoff	 b = { 100, 30000, 0 };
	const uint64_t	 want[] = { 100, 200, 400, 800, 1600, 3200, 6400,
			    12800, 25600, 30000, 30000, 30000 };
	size_t		 i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(backoff_next(&b, 0) == want[i]);
	backoff_reset(&b);
	CHECK(backoff_next(&b, 0) == 100);
	for (i = 0; i < 200; i++)	/* no overflow however long it runs */
		CHECK(backoff_next(&b, 0) <= 30000);
}

static void
test_jitter(void)
{
	struct backoff	b = { 1000, 8000, 0 };
	uint64_t	nominal = 1000, d;
	int		i;

	srand(7);
	for (i = 0; i < 6; i++) {
		d = backoff_next(&b, (uint32_t)rand());
		CHECK(d <= nominal && d >= nominal - nominal / 5);
		if (nominal < 8000)
			nominal *= 2;
	}
}

static void
test_zero_base(void)
{
	struct backoff	b = { 0, 1000, 0 };

	CHECK(backoff_next(&b, 12345) == 0);
	CHECK(backoff_next(&b, 12345) == 0);
}

static void
test_startlimit(void)
{
	struct startlimit	s;
	uint64_t		t = 1000000;
	int			i;

	CHECK(startlimit_init(&s, 10) == 0);
	for (i = 0; i < 10; i++)
		CHECK(startlimit_hit(&s, t + (uint64_t)i, 300000) == 0);
	CHECK(startlimit_hit(&s, t + 10, 300000) == 1);	/* the 11th */
	startlimit_reset(&s);
	for (i = 0; i < 50; i++)	/* spread out: never hits */
		CHECK(startlimit_hit(&s, t + (uint64_t)i * 40000, 300000) == 0);
	startlimit_free(&s);

	CHECK(startlimit_init(&s, 0) == 0);	/* 0: no limit */
	for (i = 0; i < 1000; i++)
		CHECK(startlimit_hit(&s, t, 300000) == 0);
	startlimit_free(&s);
}

int
main(void)
{
	RUN(test_sequence);
	RUN(test_jitter);
	RUN(test_zero_base);
	RUN(test_startlimit);
	return check_failed();
}
