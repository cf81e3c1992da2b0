/* test-envsum.c: SipHash against the reference vectors; environment
 * summaries hold no value; the names that changed and their one line. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "tend.h"
#include "check.h"

static const unsigned char key16[16] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
};

static int
hex_is(const unsigned char *h, size_t n, const char *want)
{
	char	buf[64];
	size_t	i;

	for (i = 0; i < n; i++)
		snprintf(buf + 2 * i, 3, "%02x", h[i]);
	return strcmp(buf, want) == 0;
}

/* The reference implementation's vectors: key 00..0f, message 00..n-1. */
static void
test_siphash_vectors(void)
{
	unsigned char	msg[64], out[16];
	size_t		i;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	siphash(msg, 0, key16, out, 8);
	CHECK(hex_is(out, 8, "310e0edd47db6f72"));
	siphash(msg, 0, key16, out, 16);
	CHECK(hex_is(out, 16, "a3817f04ba25a8e66df67214c7550293"));
	siphash(msg, 15, key16, out, 16);
	CHECK(hex_is(out, 16, "5493e99933b0a8117e08ec0f97cfc3d9"));
	siphash(msg, 8, key16, out, 8);
	CHECK(hex_is(out, 8, "6224939a79f5f593"));
}

static void
make_env(struct env *e, const char *const *kv)
{
	env_init(e);
	for (; *kv != NULL; kv++)
		CHECK(env_setkv(e, *kv) == 0);
}

static void
test_summary_keeps_no_value(void)
{
	static const char *const kv[] = { "JWT_SECRET=hunter2hunter2",
	    "B=1", "A=2", NULL };
	struct env	e;
	struct envsum	s;
	size_t		i;

	make_env(&e, kv);
	CHECK(envsum_make(&s, &e, key16) == 0);
	CHECK(s.n == 3);
	CHECK(strcmp(s.v[0].name, "A") == 0);
	CHECK(strcmp(s.v[1].name, "B") == 0);
	CHECK(strcmp(s.v[2].name, "JWT_SECRET") == 0);
	for (i = 0; i < s.n; i++) {
		CHECK(memmem(s.v[i].h, ENVSUM_HASH, "hunter2", 7) == NULL);
		CHECK(strchr(s.v[i].name, '=') == NULL);
	}
	envsum_free(&s);
	env_free(&e);
}

static void
test_diff(void)
{
	static const char *const a_kv[] = { "JWT_SECRET=old", "GONE=x",
	    "SAME=1", "STORE_CORS=http://a", NULL };
	static const char *const b_kv[] = { "STORE_CORS=http://b", "SAME=1",
	    "JWT_SECRET=new", "NEW_VAR=y", NULL };
	struct env		 a, b;
	struct envsum		 sa, sb;
	struct envchange	*ch;
	ssize_t			 n;
	char			 line[256];

	make_env(&a, a_kv);
	make_env(&b, b_kv);
	CHECK(envsum_make(&sa, &a, key16) == 0);
	CHECK(envsum_make(&sb, &b, key16) == 0);
	n = envsum_diff(&sa, &sb, &ch);
	CHECK(n == 4);
	if (n == 4) {
		CHECK(strcmp(ch[0].name, "GONE") == 0 &&
		    ch[0].kind == ENVCHANGE_REMOVED);
		CHECK(strcmp(ch[1].name, "JWT_SECRET") == 0 &&
		    ch[1].kind == ENVCHANGE_CHANGED);
		CHECK(strcmp(ch[2].name, "NEW_VAR") == 0 &&
		    ch[2].kind == ENVCHANGE_ADDED);
		CHECK(strcmp(ch[3].name, "STORE_CORS") == 0 &&
		    ch[3].kind == ENVCHANGE_CHANGED);
		envchange_text(ch, (size_t)n, line, sizeof(line));
		CHECK(strcmp(line, "added NEW_VAR; removed GONE; "
		    "changed JWT_SECRET, STORE_CORS") == 0);
		/* Bounded: whole names only, then how many are left. */
		envchange_text(ch, (size_t)n, line, 40);
		CHECK(strcmp(line, "added NEW_VAR and 3 more") == 0);
		envchange_text(ch, (size_t)n, line, 25);
		CHECK(strcmp(line, "4 variables") == 0);
	}
	free(ch);
	/* The same environment, in another order: nothing changed. */
	n = envsum_diff(&sb, &sb, &ch);
	CHECK(n == 0 && ch == NULL);
	envsum_free(&sa);
	envsum_free(&sb);
	env_free(&a);
	env_free(&b);
}

/* Another key: other hashes, same verdicts. */
static void
test_keyed(void)
{
	static const char *const kv[] = { "K=v", NULL };
	static const unsigned char other[16] = { 1 };
	struct env	e;
	struct envsum	s1, s2;

	make_env(&e, kv);
	CHECK(envsum_make(&s1, &e, key16) == 0);
	CHECK(envsum_make(&s2, &e, other) == 0);
	CHECK(memcmp(s1.v[0].h, s2.v[0].h, ENVSUM_HASH) != 0);
	envsum_free(&s1);
	envsum_free(&s2);
	env_free(&e);
}

static void
test_empty(void)
{
	struct env		 e;
	struct envsum		 s, none;
	struct envchange	*ch;
	static const char *const kv[] = { "A=1", NULL };

	env_init(&e);
	CHECK(envsum_make(&none, &e, key16) == 0 && none.n == 0);
	make_env(&e, kv);
	CHECK(envsum_make(&s, &e, key16) == 0);
	CHECK(envsum_diff(&none, &s, &ch) == 1 && ch[0].kind ==
	    ENVCHANGE_ADDED);
	free(ch);
	CHECK(envsum_diff(&s, &none, &ch) == 1 && ch[0].kind ==
	    ENVCHANGE_REMOVED);
	free(ch);
	CHECK(envsum_diff(&none, &none, &ch) == 0 && ch == NULL);
	envsum_free(&s);
	env_free(&e);
}

int
main(void)
{
	RUN(test_siphash_vectors);
	RUN(test_summary_keeps_no_value);
	RUN(test_diff);
	RUN(test_keyed);
	RUN(test_empty);
	return check_failed();
}
