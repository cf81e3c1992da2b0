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
	const char	*p = s, *u, *end, *at, *colon;
	char		*out, *o;

	/* "***" may be longer than the password it replaces: size for the
	 * worst case, a one-byte password in every URL. */
	if ((out = malloc(strlen(s) * 3 + 1)) == NULL)
		return NULL;
	o = out;
	while ((u = strstr(p, "://")) != NULL) {
		u += 3;
		end = u + strcspn(u, "/?# \t\"'");
		at = memchr(u, '@', (size_t)(end - u));
		colon = at != NULL ? memchr(u, ':', (size_t)(at - u)) : NULL;
		if (colon == NULL) {
			memcpy(o, p, (size_t)(u - p));
			o += u - p;
			p = u;
			continue;
		}
		/* user:password@ -> user:***@ */
		memcpy(o, p, (size_t)(colon + 1 - p));
		o += colon + 1 - p;
		memcpy(o, "***", 3);
		o += 3;
		p = at;
	}
	strcpy(o, p);
	return out;
}
