/* test-promtext.c: Prometheus's text format, byte for byte. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tend.h"
#include "check.h"

static void
test_escape(void)
{
	char	buf[64];

	CHECK(prom_escape(buf, sizeof(buf), "web") == 3);
	CHECK(strcmp(buf, "web") == 0);
	CHECK(prom_escape(buf, sizeof(buf), "a\"b\\c\nd") == 10);
	CHECK(strcmp(buf, "a\\\"b\\\\c\\nd") == 0);
	CHECK(prom_escape(buf, sizeof(buf), "") == 0);
	CHECK(buf[0] == '\0');
	/* Too long for dst: nothing half-written. */
	CHECK(prom_escape(buf, 4, "a\"b") == 0);
	CHECK(buf[0] == '\0');
	CHECK(prom_escape(buf, 5, "a\"b") == 4);
}

static void
test_family(void)
{
	struct prom		 p;
	struct prom_label	 l[2] = { { "app", "we\"b" }, { "instance", "0" } };
	char			*s;
	size_t			 len;
	const char		*want =
	    "# HELP tend_x A \\\\ help\\nline \"quoted\".\n"
	    "# TYPE tend_x counter\n"
	    "tend_x{app=\"we\\\"b\",instance=\"0\"} 18446744073709551615\n"
	    "tend_x 0\n"
	    "tend_y{app=\"we\\\"b\"} 1.500\n"
	    "tend_y NaN\n"
	    "tend_y +Inf\n"
	    "tend_y -0.001\n";

	prom_init(&p);
	prom_family(&p, "tend_x", "counter", "A \\ help\nline \"quoted\".");
	prom_u64(&p, "tend_x", l, 2, UINT64_MAX);
	prom_u64(&p, "tend_x", NULL, 0, 0);
	prom_f64(&p, "tend_y", l, 1, 1.5);
	prom_f64(&p, "tend_y", NULL, 0, NAN);
	prom_f64(&p, "tend_y", NULL, 0, INFINITY);
	prom_f64(&p, "tend_y", NULL, 0, -0.001);
	s = prom_take(&p, &len);
	CHECK(s != NULL);
	if (s == NULL)
		return;
	CHECK(len == strlen(want));
	CHECK(strcmp(s, want) == 0);
	if (strcmp(s, want) != 0)
		printf("# got:\n%s", s);
	free(s);
	/* Taken: p is empty again, and may be freed or reused. */
	CHECK(p.buf == NULL && p.len == 0);
	prom_free(&p);
}

/* Past the first buffer, the text grows and stays whole. */
static void
test_growth(void)
{
	struct prom		 p;
	struct prom_label	 l = { "app", "x" };
	char			*s, *line;
	size_t			 len, i, n = 0;

	prom_init(&p);
	for (i = 0; i < 5000; i++)
		prom_u64(&p, "tend_instance_restarts_total", &l, 1, i);
	s = prom_take(&p, &len);
	CHECK(s != NULL);
	if (s == NULL)
		return;
	CHECK(strlen(s) == len);
	for (line = s; (line = strchr(line, '\n')) != NULL; line++)
		n++;
	CHECK(n == 5000);
	CHECK(strstr(s, "tend_instance_restarts_total{app=\"x\"} 4999\n") != NULL);
	free(s);
}

/* Nothing written: an empty text, not NULL. */
static void
test_empty(void)
{
	struct prom	 p;
	char		*s;
	size_t		 len = 1;

	prom_init(&p);
	s = prom_take(&p, &len);
	CHECK(s != NULL && len == 0 && *s == '\0');
	free(s);
}

int
main(void)
{
	RUN(test_escape);
	RUN(test_family);
	RUN(test_growth);
	RUN(test_empty);
	return check_failed();
}
