/* fuzz-http.c: the head of a health check's answer, which comes from the
 * app: every prefix of the input is parsed, as bytes arrive in pieces. */
#include <stdlib.h>
#include <string.h>

#include "tend.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct http_head	 h;
	const char		*why;
	char			*buf;
	size_t			 n;
	int			 r;

	if ((buf = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(buf, data, len);
	for (n = 0; n <= len; n += n < 64 ? 1 : 97) {
		why = NULL;
		r = http_parse_head(buf, n, &h, &why);
		if (r < 0 && why == NULL)
			abort();
		if (r == 1 && (h.body_off > n || h.status < 0 || h.status > 999))
			abort();
		if (r != 0)
			break;
	}
	free(buf);
	return 0;
}
