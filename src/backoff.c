/*
 * backoff.c: how long to wait before restarting an app that keeps
 * crashing (exponential, capped, with jitter so a fleet of crashing apps
 * does not restart in step), and the start limit that gives up on it.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "tend.h"

uint64_t
backoff_next(struct backoff *b, uint32_t rnd)
{
	uint64_t	d = b->base;
	unsigned	i;

	for (i = 0; i < b->n && d < b->max; i++)
		d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
	if (d > b->max)
		d = b->max;
	if (b->n < 64)
		b->n++;
	return d - (uint64_t)rnd % (d / 5 + 1);
}

void
backoff_reset(struct backoff *b)
{
	b->n = 0;
}

int
startlimit_init(struct startlimit *s, unsigned limit)
{
	memset(s, 0, sizeof(*s));
	if (limit == 0)
		return 0;
	if ((s->t = calloc((size_t)limit + 1, sizeof(*s->t))) == NULL)
		return -1;
	s->cap = limit + 1;
	return 0;
}

void
startlimit_free(struct startlimit *s)
{
	free(s->t);
	memset(s, 0, sizeof(*s));
}

int
startlimit_hit(struct startlimit *s, uint64_t now, uint64_t interval)
{
	uint64_t	oldest;

	if (s->cap == 0)
		return 0;	/* start_limit = 0: never give up */
	s->t[s->head] = now;
	s->head = (s->head + 1) % s->cap;
	if (s->n < s->cap)
		s->n++;
	if (s->n < s->cap)
		return 0;
	oldest = s->t[s->head];	/* the ring is full: head is the oldest */
	return now - oldest < interval;
}

void
startlimit_reset(struct startlimit *s)
{
	s->n = 0;
	s->head = 0;
}
