/*
 * promtext.c: Prometheus's text exposition format (version 0.0.4), the
 * one `tendctl metrics` prints and metrics_file holds.  A family is its
 * HELP and TYPE lines followed by all of its samples; a sample is
 * NAME{label="value",...} VALUE.  Label values are escaped (backslash,
 * double quote, newline) and HELP text too (backslash, newline), so an
 * odd app name or release id cannot break a scrape.
 *
 * The text grows in one malloc'd buffer; running out of memory is
 * remembered (oom) and reported once at the end, so callers write
 * straight through without checking each line.
 *
 * Pure: no event loop, no clock.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tend.h"

/* The first buffer; it doubles as it fills. */
#define PROM_INITIAL	4096

void
prom_init(struct prom *p)
{
	memset(p, 0, sizeof(*p));
}

void
prom_free(struct prom *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

static int
prom_room(struct prom *p, size_t more)
{
	size_t	 cap;
	char	*nb;

	if (p->oom)
		return -1;
	if (p->len + more + 1 <= p->cap)
		return 0;
	cap = p->cap ? p->cap : PROM_INITIAL;
	while (cap < p->len + more + 1) {
		if (cap > SIZE_MAX / 2) {
			p->oom = 1;
			return -1;
		}
		cap *= 2;
	}
	if ((nb = realloc(p->buf, cap)) == NULL) {
		p->oom = 1;
		return -1;
	}
	p->buf = nb;
	p->cap = cap;
	return 0;
}

static void
prom_put(struct prom *p, const char *s, size_t n)
{
	if (prom_room(p, n) != 0)
		return;
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

static void
prom_puts(struct prom *p, const char *s)
{
	prom_put(p, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
prom_printf(struct prom *p, const char *fmt, ...)
{
	char	buf[64];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		p->oom = 1;	/* only numbers come here: cannot happen */
		return;
	}
	prom_put(p, buf, (size_t)n);
}

/* s escaped: in a label value also '"'; in HELP text only '\' and LF. */
static void
prom_escaped(struct prom *p, const char *s, int label)
{
	const char	*run = s;

	for (; *s != '\0'; s++) {
		const char *esc = NULL;

		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (*s == '"' && label)
			esc = "\\\"";
		if (esc == NULL)
			continue;
		prom_put(p, run, (size_t)(s - run));
		prom_puts(p, esc);
		run = s + 1;
	}
	prom_put(p, run, (size_t)(s - run));
}

size_t
prom_escape(char *dst, size_t size, const char *src)
{
	struct prom	p;
	size_t		n;

	prom_init(&p);
	prom_escaped(&p, src, 1);
	if (p.oom || p.len >= size) {
		if (size > 0)
			*dst = '\0';
		prom_free(&p);
		return 0;
	}
	n = p.len;
	memcpy(dst, p.buf != NULL ? p.buf : "", n);
	dst[n] = '\0';
	prom_free(&p);
	return n;
}

void
prom_family(struct prom *p, const char *name, const char *type,
    const char *help)
{
	prom_puts(p, "# HELP ");
	prom_puts(p, name);
	prom_puts(p, " ");
	prom_escaped(p, help, 0);
	prom_puts(p, "\n# TYPE ");
	prom_puts(p, name);
	prom_puts(p, " ");
	prom_puts(p, type);
	prom_puts(p, "\n");
}

static void
prom_head(struct prom *p, const char *name, const struct prom_label *l,
    size_t nl)
{
	size_t	i;

	prom_puts(p, name);
	for (i = 0; i < nl; i++) {
		prom_puts(p, i == 0 ? "{" : ",");
		prom_puts(p, l[i].name);
		prom_puts(p, "=\"");
		prom_escaped(p, l[i].value, 1);
		prom_puts(p, "\"");
	}
	prom_puts(p, nl > 0 ? "} " : " ");
}

void
prom_u64(struct prom *p, const char *name, const struct prom_label *l,
    size_t nl, uint64_t v)
{
	prom_head(p, name, l, nl);
	prom_printf(p, "%llu\n", (unsigned long long)v);
}

void
prom_f64(struct prom *p, const char *name, const struct prom_label *l,
    size_t nl, double v)
{
	prom_head(p, name, l, nl);
	if (isnan(v))
		prom_puts(p, "NaN\n");
	else if (isinf(v))
		prom_puts(p, v > 0 ? "+Inf\n" : "-Inf\n");
	else
		prom_printf(p, "%.3f\n", v);
}

char *
prom_take(struct prom *p, size_t *len)
{
	char	*s;

	if (p->oom || prom_room(p, 0) != 0) {
		prom_free(p);
		return NULL;
	}
	p->buf[p->len] = '\0';
	s = p->buf;
	*len = p->len;
	memset(p, 0, sizeof(*p));
	return s;
}
