/*
 * proto.c: framing of the control protocol, shared by tendd and tendctl.
 * One JSON object per line each way; a request is an object with a string
 * "cmd".  Decoding rejects what the daemon must never act on: embedded
 * NULs, invalid UTF-8 (jansson checks it), non-objects, a missing or
 * non-string "cmd", duplicate keys.  App output on its way out is made
 * valid UTF-8 (proto_text), as jansson and every JSON reader require.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tend.h"

struct json_t *
proto_decode(const char *line, size_t len, const char **why)
{
	json_error_t	 err;
	json_t		*v, *cmd;

	if (len > PROTO_MAX_REQUEST) {
		*why = "request too large (limit 64 KiB)";
		return NULL;
	}
	if (memchr(line, '\0', len) != NULL) {
		*why = "request contains a NUL byte";
		return NULL;
	}
	v = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (v == NULL) {
		*why = "request is not valid JSON (or not UTF-8)";
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		*why = "request must be a JSON object";
		return NULL;
	}
	cmd = json_object_get(v, "cmd");
	if (!json_is_string(cmd)) {
		json_decref(v);
		*why = "request needs a string \"cmd\"";
		return NULL;
	}
	return v;
}

char *
proto_encode(const struct json_t *v, size_t *len)
{
	char	*s, *t;
	size_t	 n;

	if ((s = json_dumps(v, JSON_COMPACT)) == NULL)
		return NULL;
	n = strlen(s);
	if ((t = realloc(s, n + 2)) == NULL) {
		free(s);
		return NULL;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	*len = n + 1;
	return t;
}

struct json_t *
proto_text(const char *p, size_t n)
{
	json_t	*v;
	char	*fixed;
	size_t	 len;

	if (utf8_valid_prefix(p, n) == n)
		return json_stringn_nocheck(p, n);
	if ((fixed = utf8_repair(p, n, &len)) == NULL)
		return NULL;
	v = json_stringn_nocheck(fixed, len);
	free(fixed);
	return v;
}
