/* test-profile.c: the medusa profile's defaults and environment rules;
 * a rule names the variable and never its value. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "tend.h"
#include "check.h"

#define GOOD	"0123456789abcdef0123456789abcdef"

static void
medusa_env(struct env *e)
{
	env_init(e);
	env_set(e, "DATABASE_URL", "postgres://u:p@db/shop");
	env_set(e, "REDIS_URL", "redis://localhost:6379");
	env_set(e, "JWT_SECRET", GOOD);
	env_set(e, "COOKIE_SECRET", GOOD);
	env_set(e, "STORE_CORS", "https://shop.example.com");
	env_set(e, "ADMIN_CORS", "https://admin.example.com");
	env_set(e, "AUTH_CORS", "https://shop.example.com");
	env_set(e, "NODE_ENV", "production");
}

static int
has(const struct errs *x, const char *s)
{
	size_t	i;

	for (i = 0; i < x->n; i++)
		if (strstr(x->msg[i], s) != NULL)
			return 1;
	return 0;
}

static int
leaks(const struct errs *x, const char *value)
{
	return has(x, value);
}

static void
test_defaults(void)
{
	enum profile	p;

	CHECK(profile_parse("medusa", &p) == 0 && p == PROFILE_MEDUSA);
	CHECK(profile_parse("none", &p) == 0 && p == PROFILE_NONE);
	CHECK(profile_parse("Medusa", &p) == -1);
	CHECK(strcmp(profile_default(PROFILE_MEDUSA, "migrate"),
	    "npx medusa db:migrate") == 0);
	CHECK(strcmp(profile_default(PROFILE_MEDUSA, "health"), "/health") == 0);
	CHECK(profile_default(PROFILE_MEDUSA, "user") == NULL);
	CHECK(profile_default(PROFILE_NONE, "health") == NULL);
}

static void
test_sound(void)
{
	struct env	e;
	struct errs	errs, warns;

	medusa_env(&e);
	errs_init(&errs);
	errs_init(&warns);
	profile_check(PROFILE_MEDUSA, &e, &errs, &warns);
	CHECK(errs.n == 0 && warns.n == 0);
	/* The generic profile has no rules at all. */
	env_free(&e);
	env_init(&e);
	profile_check(PROFILE_NONE, &e, &errs, &warns);
	CHECK(errs.n == 0 && warns.n == 0);
	env_free(&e);
	errs_free(&errs);
	errs_free(&warns);
}

static void
test_rules(void)
{
	struct env	e;
	struct errs	errs, warns;

	medusa_env(&e);
	env_set(&e, "JWT_SECRET", "shortsecret");
	env_set(&e, "COOKIE_SECRET", "supersecret");
	env_set(&e, "ADMIN_CORS", "");
	env_set(&e, "AUTH_CORS", "https://a.example.com,*");
	errs_init(&errs);
	errs_init(&warns);
	profile_check(PROFILE_MEDUSA, &e, &errs, &warns);
	CHECK(has(&errs, "JWT_SECRET is 11 characters; use at least 32"));
	CHECK(has(&errs, "COOKIE_SECRET is the starter's example value"));
	CHECK(has(&errs, "ADMIN_CORS is not set"));
	CHECK(has(&errs, "AUTH_CORS contains '*'"));
	CHECK(!leaks(&errs, "shortsecret") && !leaks(&errs, "https://a."));
	CHECK(errs.n == 4);
	errs_free(&errs);
	errs_free(&warns);

	/* Development mode: a warning, and wildcards are then allowed. */
	env_set(&e, "NODE_ENV", "development");
	env_set(&e, "JWT_SECRET", GOOD);
	env_set(&e, "COOKIE_SECRET", GOOD);
	env_set(&e, "ADMIN_CORS", "*");
	errs_init(&errs);
	errs_init(&warns);
	profile_check(PROFILE_MEDUSA, &e, &errs, &warns);
	CHECK(errs.n == 0);
	CHECK(has(&warns, "NODE_ENV is \"development\", not production"));
	errs_free(&errs);
	errs_free(&warns);
	env_free(&e);

	/* Production without Redis: a warning. */
	medusa_env(&e);
	env_set(&e, "REDIS_URL", "");
	errs_init(&errs);
	errs_init(&warns);
	profile_check(PROFILE_MEDUSA, &e, &errs, &warns);
	CHECK(errs.n == 0 && has(&warns, "REDIS_URL is not set"));
	errs_free(&errs);
	errs_free(&warns);
	env_free(&e);
}

int
main(void)
{
	RUN(test_defaults);
	RUN(test_sound);
	RUN(test_rules);
	return check_failed();
}
