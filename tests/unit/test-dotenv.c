/* test-dotenv.c: .env files: values, quoting, and errors with lines. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "tend.h"
#include "check.h"

static int
parse(const char *text, struct env *e, struct errs *errs)
{
	env_init(e);
	errs_init(errs);
	return dotenv_parse(text, strlen(text), ".env", e, errs);
}

static int
has(const struct env *e, const char *k, const char *v)
{
	const char *got = env_get(e, k);

	return got != NULL && strcmp(got, v) == 0;
}

static int
err_has(const struct errs *errs, const char *s)
{
	size_t	i;

	for (i = 0; i < errs->n; i++)
		if (strstr(errs->msg[i], s) != NULL)
			return 1;
	return 0;
}

static void
test_values(void)
{
	struct env	e;
	struct errs	x;

	CHECK(parse("# comment\n\nA=1\nexport B = two  \nC='x # y'\n"
	    "D=plain # comment\nE=\"a\\nb\\t\\\"q\\\" \\\\\"\nF=`lit $X`\n"
	    "G=\nH=${NOPE}\nI=a#b\nJ.K-L=dots\n", &e, &x) == 0);
	CHECK(x.n == 0);
	CHECK(has(&e, "A", "1"));
	CHECK(has(&e, "B", "two"));
	CHECK(has(&e, "C", "x # y"));
	CHECK(has(&e, "D", "plain"));
	CHECK(has(&e, "E", "a\nb\t\"q\" \\"));
	CHECK(has(&e, "F", "lit $X"));
	CHECK(has(&e, "G", ""));
	CHECK(has(&e, "H", "${NOPE}"));	/* no expansion */
	CHECK(has(&e, "I", "a#b"));
	CHECK(has(&e, "J.K-L", "dots"));
	CHECK(e.kv[e.n] == NULL);
	env_free(&e);
	errs_free(&x);
}

static void
test_multiline_and_crlf(void)
{
	struct env	e;
	struct errs	x;

	CHECK(parse("KEY=\"line1\nline2\nline3\"\nBAD LINE\r\nAFTER=1\r\n",
	    &e, &x) == -1);
	CHECK(has(&e, "KEY", "line1\nline2\nline3"));
	CHECK(has(&e, "AFTER", "1"));	/* CR stripped */
	CHECK(x.n == 1 && strncmp(x.msg[0], ".env:4: ", 8) == 0);
	env_free(&e);
	errs_free(&x);
}

static void
test_later_wins(void)
{
	struct env	e;
	struct errs	x;

	CHECK(parse("A=1\nA=2\n", &e, &x) == 0);
	CHECK(has(&e, "A", "2") && e.n == 1);
	CHECK(env_set(&e, "A", "3") == 0 && has(&e, "A", "3") && e.n == 1);
	CHECK(env_setkv(&e, "B=x=y") == 0 && has(&e, "B", "x=y"));
	env_free(&e);
	errs_free(&x);
}

static void
test_errors(void)
{
	struct env	e;
	struct errs	x;

	CHECK(parse("OK=1\n=nokey\n9BAD=secretvalue1\nNOEQUALS\n"
	    "J='x' junk\nQ=\"open\nstill open\n", &e, &x) == -1);
	CHECK(x.n == 5);
	CHECK(err_has(&x, ".env:2: missing key"));
	CHECK(err_has(&x, ".env:3: invalid key '9BAD'"));
	CHECK(err_has(&x, ".env:4: expected KEY=value"));
	CHECK(err_has(&x, ".env:5: unexpected text after the closing quote"));
	CHECK(err_has(&x, ".env:6: unterminated double quote"));
	CHECK(!err_has(&x, "secretvalue1"));	/* never a value */
	CHECK(has(&e, "OK", "1"));
	env_free(&e);
	errs_free(&x);
}

static void
test_nul_and_load(void)
{
	struct env	e;
	struct errs	x;
	char		path[] = "/tmp/tend-dotenv-XXXXXX";
	FILE		*f;
	int		 fd;

	env_init(&e);
	errs_init(&x);
	CHECK(dotenv_parse("A=1\0B=2\n", 8, ".env", &e, &x) == -1);
	CHECK(err_has(&x, "NUL"));
	errs_free(&x);
	CHECK(dotenv_load("/nonexistent/.env", &e, &x) == -1);
	CHECK(err_has(&x, "/nonexistent/.env: No such file"));
	errs_free(&x);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd >= 0 && (f = fdopen(fd, "w")) != NULL) {
		fputs("X=from-file\n", f);
		fclose(f);
		CHECK(dotenv_load(path, &e, &x) == 0 && has(&e, "X", "from-file"));
		unlink(path);
	}
	env_free(&e);
	errs_free(&x);
}

int
main(void)
{
	RUN(test_values);
	RUN(test_multiline_and_crlf);
	RUN(test_later_wins);
	RUN(test_errors);
	RUN(test_nul_and_load);
	return check_failed();
}
