/* test-proto.c: control protocol framing: what is accepted and refused. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tend.h"
#include "check.h"

static json_t *
dec(const char *s, const char **why)
{
	*why = NULL;
	return proto_decode(s, strlen(s), why);
}

static void
test_valid(void)
{
	const char	*why;
	json_t		*v = dec("{\"cmd\":\"status\",\"app\":\"web\"}", &why);

	CHECK(v != NULL);
	CHECK(strcmp(json_string_value(json_object_get(v, "cmd")), "status") == 0);
	json_decref(v);
}

static void
test_invalid(void)
{
	const char	*why;

	CHECK(dec("{\"cmd\":", &why) == NULL && why != NULL);
	CHECK(dec("[1,2]", &why) == NULL && strstr(why, "object") != NULL);
	CHECK(dec("{\"app\":\"x\"}", &why) == NULL && strstr(why, "cmd") != NULL);
	CHECK(dec("{\"cmd\":5}", &why) == NULL);
	CHECK(dec("{\"cmd\":\"a\",\"cmd\":\"b\"}", &why) == NULL);
	CHECK(dec("{\"cmd\":\"\xff\xfe\"}", &why) == NULL);
	CHECK(proto_decode("{\"cmd\":\"a\"}\0x", 13, &why) == NULL &&
	    strstr(why, "NUL") != NULL);
}

static void
test_too_large(void)
{
	size_t		 n = PROTO_MAX_REQUEST + 10;
	char		*big = malloc(n);
	const char	*why = NULL;

	CHECK(big != NULL);
	if (big == NULL)
		return;
	memset(big, ' ', n);
	CHECK(proto_decode(big, n, &why) == NULL && strstr(why, "large") != NULL);
	free(big);
}

static void
test_encode(void)
{
	json_t	*v = json_pack("{s:s}", "a", "b\nc");
	size_t	 len;
	char	*s = proto_encode(v, &len);

	CHECK(s != NULL && len == strlen(s));
	CHECK(s != NULL && s[len - 1] == '\n' && memchr(s, '\n', len - 1) == NULL);
	free(s);
	json_decref(v);
}

int
main(void)
{
	RUN(test_valid);
	RUN(test_invalid);
	RUN(test_too_large);
	RUN(test_encode);
	return check_failed();
}
