/* fuzz-proto.c: the control request decoder, and encoding what it
 * accepted back into exactly one line. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tend.h"

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	const char	*why = NULL;
	json_t		*v;
	char		*s;
	size_t		 n;

	v = proto_decode((const char *)data, len, &why);
	if (v == NULL) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (!json_is_string(json_object_get(v, "cmd")))
		abort();
	s = proto_encode(v, &n);
	if (s == NULL || n == 0 || s[n - 1] != '\n' ||
	    memchr(s, '\n', n - 1) != NULL)
		abort();
	free(s);
	json_decref(v);
	return 0;
}
