/*
 * errs.c: a list of "file:line: message" strings.  Parsers report every
 * problem they find (like bgpd), not only the first, and the caller
 * prints them all at once.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tend.h"

void
errs_init(struct errs *e)
{
	memset(e, 0, sizeof(*e));
}

void
errs_free(struct errs *e)
{
	size_t	i;

	for (i = 0; i < e->n; i++)
		free(e->msg[i]);
	free(e->msg);
	memset(e, 0, sizeof(*e));
}

void
errs_addv(struct errs *e, const char *file, int line, const char *fmt,
    va_list ap)
{
	char	*body = NULL, *msg = NULL, **v;
	int	 r;

	if (vasprintf(&body, fmt, ap) < 0) {
		e->oom = 1;
		return;
	}
	if (file != NULL && line > 0)
		r = asprintf(&msg, "%s:%d: %s", file, line, body);
	else if (file != NULL)
		r = asprintf(&msg, "%s: %s", file, body);
	else
		r = asprintf(&msg, "%s", body);
	free(body);
	if (r < 0) {
		e->oom = 1;
		return;
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 8;

		if ((v = reallocarray(e->msg, cap, sizeof(*v))) == NULL) {
			free(msg);
			e->oom = 1;
			return;
		}
		e->msg = v;
		e->cap = cap;
	}
	e->msg[e->n++] = msg;
}

void
errs_add(struct errs *e, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	errs_addv(e, file, line, fmt, ap);
	va_end(ap);
}
