/* test-http.c: the health check's request and the parse of an answer's
 * head: status, where the body starts, its length, bytes in pieces. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "tend.h"
#include "check.h"

static int
parse(const char *s, struct http_head *h, const char **why)
{
	*why = NULL;
	return http_parse_head(s, strlen(s), h, why);
}

static void
test_request(void)
{
	char	buf[512];
	int	n = http_request(buf, sizeof(buf), "/health", 9000);

	CHECK(n > 0 && strncmp(buf, "GET /health HTTP/1.1\r\nHost: "
	    "127.0.0.1:9000\r\n", 43) == 0);
	CHECK(strstr(buf, "Connection: close\r\n\r\n") != NULL);
	CHECK(http_request(buf, 16, "/health", 9000) == -1);
}

static void
test_heads(void)
{
	struct http_head	 h;
	const char		*why, *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";
	size_t			 i;

	CHECK(parse(ok, &h, &why) == 1 && h.status == 200 &&
	    h.content_length == 2 && strcmp(ok + h.body_off, "OK") == 0);
	/* Every shorter prefix asks for more. */
	for (i = 0; i < strlen(ok) - 2; i++)
		CHECK(http_parse_head(ok, i, &h, &why) == 0);
	CHECK(parse("HTTP/1.0 503\r\n\r\n", &h, &why) == 1 && h.status == 503 &&
	    h.content_length == -1);
	CHECK(parse("HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n"
	    "Content-Length: 5\r\n\r\n", &h, &why) == 1 && h.chunked &&
	    h.content_length == -1);
	CHECK(parse("SSH-2.0-OpenSSH\r\n", &h, &why) == -1 && why != NULL);
	CHECK(parse("HTTP/1.1 2x0 OK\r\n\r\n", &h, &why) == -1);
	CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", &h,
	    &why) == -1 && strcmp(why, "bad Content-Length") == 0);
	CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999"
	    "\r\n\r\n", &h, &why) == -1);
}

static void
test_too_large(void)
{
	static char		 big[HTTP_HEAD_MAX + 10];
	struct http_head	 h;
	const char		*why = NULL;

	memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
	memset(big + 17, 'x', sizeof(big) - 17);
	CHECK(http_parse_head(big, sizeof(big), &h, &why) == -1 &&
	    strcmp(why, "answer headers too large") == 0);
}

int
main(void)
{
	RUN(test_request);
	RUN(test_heads);
	RUN(test_too_large);
	return check_failed();
}
