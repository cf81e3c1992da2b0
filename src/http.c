/*
 * http.c: the little of HTTP/1.x a health check needs, as pure code: the
 * request tend sends, and the head of the answer (status line, headers up
 * to the blank line, Content-Length and chunked-ness).  The answer comes
 * from the app and is fuzzed (tests/fuzz/fuzz-http.c): nothing here reads
 * past len or trusts a number it did not check.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tend.h"

/* "GET PATH HTTP/1.1" to 127.0.0.1, closed after the answer. */
int
http_request(char *buf, size_t len, const char *path, unsigned port)
{
	int	n;

	n = snprintf(buf, len, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
	    "User-Agent: tend/%s\r\nAccept: */*\r\nConnection: close\r\n\r\n",
	    path, port, PACKAGE_VERSION);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

static int
digits(const char *p, size_t n, unsigned long long *v)
{
	size_t	i;

	*v = 0;
	if (n == 0 || n > 18)
		return -1;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*v = *v * 10 + (unsigned long long)(p[i] - '0');
	}
	return 0;
}

/*
 * Parse the head of an answer in buf[0..len).  Returns 1 when the head is
 * complete (h filled: status, where the body starts, its length or -1),
 * 0 when more bytes are needed, -1 when it is not HTTP (*why set).
 */
int
http_parse_head(const char *buf, size_t len, struct http_head *h,
    const char **why)
{
	const char		*end, *line, *eol, *colon, *v;
	unsigned long long	 n;
	size_t			 vl;

	memset(h, 0, sizeof(*h));
	h->content_length = -1;
	if (len >= 5 && memcmp(buf, "HTTP/", 5) != 0) {
		*why = "not an HTTP answer";
		return -1;
	}
	if (len < 5 && memcmp(buf, "HTTP/", len) != 0) {
		*why = "not an HTTP answer";
		return -1;
	}
	if ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
		if (len >= HTTP_HEAD_MAX) {
			*why = "answer headers too large";
			return -1;
		}
		return 0;
	}
	h->body_off = (size_t)(end - buf) + 4;
	/* "HTTP/1.1 200 OK" */
	eol = memmem(buf, (size_t)(end - buf) + 2, "\r\n", 2);
	if (eol == NULL || eol - buf < 12 || buf[8] != ' ' ||
	    digits(buf + 9, 3, &n) != 0 || (eol - buf > 12 && buf[12] != ' ')) {
		*why = "malformed status line";
		return -1;
	}
	h->status = (int)n;
	for (line = eol + 2; line < end; line = eol + 2) {
		eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
		if (eol == NULL)
			break;
		if ((colon = memchr(line, ':', (size_t)(eol - line))) == NULL)
			continue;
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		vl = (size_t)(eol - v);
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if ((size_t)(colon - line) == 14 &&
		    strncasecmp(line, "Content-Length", 14) == 0) {
			if (digits(v, vl, &n) != 0) {
				*why = "bad Content-Length";
				return -1;
			}
			h->content_length = (long long)n;
		} else if ((size_t)(colon - line) == 17 &&
		    strncasecmp(line, "Transfer-Encoding", 17) == 0 &&
		    vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0)
			h->chunked = 1;
	}
	if (h->chunked)
		h->content_length = -1;	/* the body ends with the connection */
	return 1;
}
