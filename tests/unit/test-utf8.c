/* test-utf8.c: app output made valid UTF-8: valid text is kept as it is,
 * each ill-formed sequence becomes one U+FFFD (maximal subparts). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tend.h"
#include "check.h"

#define FFFD	"\xef\xbf\xbd"

/* Does repairing in (of inlen bytes) give want? */
static int
repairs_to(const char *in, size_t inlen, const char *want)
{
	size_t	 len;
	char	*out = utf8_repair(in, inlen, &len);
	int	 ok;

	if (out == NULL)
		return 0;
	ok = len == strlen(want) && memcmp(out, want, len) == 0 &&
	    out[len] == '\0';
	if (!ok)
		printf("# got %zu bytes: %s\n", len, out);
	free(out);
	return ok;
}

#define REPAIRS(in, want)	repairs_to(in, sizeof(in) - 1, want)

static void
test_valid_kept(void)
{
	static const char *const ok[] = {
		"", "plain ascii\n", "caf\xc3\xa9", "\xe2\x82\xac 10",
		"\xf0\x9f\x98\x80 emoji", "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf",
		"\xef\xbf\xbd already replaced",
	};
	size_t	i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK(utf8_valid_prefix(ok[i], strlen(ok[i])) == strlen(ok[i]));
		CHECK(repairs_to(ok[i], strlen(ok[i]), ok[i]));
	}
	/* A NUL is valid UTF-8 and kept: lengths, not C strings. */
	CHECK(utf8_valid_prefix("a\0b", 3) == 3);
}

static void
test_prefix(void)
{
	CHECK(utf8_valid_prefix("ab\xffgh", 5) == 2);
	CHECK(utf8_valid_prefix("\xc3", 1) == 0);		/* cut short */
	CHECK(utf8_valid_prefix("ok \xe2\x82", 5) == 3);
	CHECK(utf8_valid_prefix("\xc3\xa9\x80", 3) == 2);
}

static void
test_replaced(void)
{
	/* The brief's case: bytes that are never UTF-8. */
	CHECK(REPAIRS("\xff\xfe bad", FFFD FFFD " bad"));
	/* Latin-1 "café". */
	CHECK(REPAIRS("caf\xe9!", "caf" FFFD "!"));
	/* A lone continuation byte, a cut multi-byte character. */
	CHECK(REPAIRS("a\x80z", "a" FFFD "z"));
	CHECK(REPAIRS("\xe2\x82", FFFD));
	CHECK(REPAIRS("\xe2\x82z", FFFD "z"));
	CHECK(REPAIRS("\xf0\x9f\x98", FFFD));
	/* Overlong forms, surrogates, beyond U+10FFFF: each byte that can
	 * not continue is its own subpart. */
	CHECK(REPAIRS("\xc0\xaf", FFFD FFFD));
	CHECK(REPAIRS("\xe0\x80\xaf", FFFD FFFD FFFD));
	CHECK(REPAIRS("\xed\xa0\x80", FFFD FFFD FFFD));
	CHECK(REPAIRS("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD));
	CHECK(REPAIRS("\xf5", FFFD));
	/* Valid text around bad bytes is untouched. */
	CHECK(REPAIRS("\xc3\xa9\xff\xc3\xa9", "\xc3\xa9" FFFD "\xc3\xa9"));
}

static void
test_json(void)
{
	json_t	*v = proto_text("\xff\xfe bad\n", 7), *back;
	char	*s;

	CHECK(v != NULL && json_is_string(v));
	CHECK(v != NULL && strcmp(json_string_value(v), FFFD FFFD " bad\n") == 0);
	s = json_dumps(v, JSON_ENCODE_ANY);
	back = s != NULL ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
	CHECK(back != NULL && json_equal(back, v));
	json_decref(back);
	free(s);
	json_decref(v);
	v = proto_text("fine\n", 5);
	CHECK(v != NULL && strcmp(json_string_value(v), "fine\n") == 0);
	json_decref(v);
}

int
main(void)
{
	RUN(test_valid_kept);
	RUN(test_prefix);
	RUN(test_replaced);
	RUN(test_json);
	return check_failed();
}
