/* test-redact.c: what counts as a secret, and URL passwords hidden. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "tend.h"
#include "check.h"

static int
red(const char *in, const char *want)
{
	char	*s = redact_url(in);
	int	 r = s != NULL && strcmp(s, want) == 0;

	free(s);
	return r;
}

static void
test_keys(void)
{
	CHECK(secret_key("JWT_SECRET"));
	CHECK(secret_key("COOKIE_SECRET"));
	CHECK(secret_key("STRIPE_API_KEY"));
	CHECK(secret_key("GITHUB_TOKEN"));
	CHECK(secret_key("DB_PASSWORD"));
	CHECK(secret_key("password"));
	CHECK(!secret_key("PORT"));
	CHECK(!secret_key("NODE_ENV"));
	CHECK(!secret_key("STORE_CORS"));
}

static void
test_urls(void)
{
	CHECK(red("postgres://u:hunter2@127.0.0.1:5432/db",
	    "postgres://u:***@127.0.0.1:5432/db"));
	CHECK(red("redis://:pw@localhost:6379/0", "redis://:***@localhost:6379/0"));
	CHECK(red("postgres://u@host/db", "postgres://u@host/db"));
	CHECK(red("no url here", "no url here"));
	CHECK(red("a redis://x:y@h b postgres://p:q@h/d",
	    "a redis://x:***@h b postgres://p:***@h/d"));
}

int
main(void)
{
	RUN(test_keys);
	RUN(test_urls);
	return check_failed();
}
