/*
 * redact.c: what must never be printed: the values of secret-looking
 * variables and the passwords inside URLs.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tend.h"

int
secret_key(const char *key)
{
	static const char *const ends[] = {
		"_SECRET", "_KEY", "_TOKEN", "_PASSWORD", "_PASS", "_PWD"
	};
	size_t	i, n = strlen(key), m;

	if (strcasestr(key, "SECRET") != NULL ||
	    strcasestr(key, "PASSWORD") != NULL ||
	    strcasecmp(key, "TOKEN") == 0)
		return 1;
	for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		m = strlen(ends[i]);
		if (n >= m && strcasecmp(key + n - m, ends[i]) == 0)
			return 1;
	}
	return 0;
}

char *
redact_url(const char *s)
{
	char	*out, *p, *at, *colon, *end;

	if ((out = strdup(s)) == NULL)
		return NULL;
	for (p = out; (p = strstr(p, "://")) != NULL; ) {
		p += 3;
		end = p + strcspn(p, "/?# \t\"'");
		at = memchr(p, '@', (size_t)(end - p));
		if (at == NULL)
			continue;
		colon = memchr(p, ':', (size_t)(at - p));
		if (colon == NULL)
			continue;
		/* user:password@ -> user:***@ */
		memmove(colon + 4, at, strlen(at) + 1);
		memcpy(colon + 1, "***", 3);
		p = colon + 4;
	}
	return out;
}
