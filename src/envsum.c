/*
 * envsum.c: what tend keeps of an app's environment to tell later whether
 * it changed, without keeping its values: each variable's name and a
 * keyed 128-bit hash (SipHash-2-4) of its "KEY=value"; and the names that
 * differ between two such summaries, as a list and as one bounded line.
 *
 * The values are secrets more often than not: a summary holds none, and
 * nothing here prints one.  The hash is keyed (tendd picks the key at
 * random) so that a short value cannot be found by hashing guesses
 * without the key.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tend.h"

/* --- SipHash-2-4 (Aumasson and Bernstein's reference, 64 or 128 bits) -- */

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
le64(const unsigned char *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
put_le64(unsigned char *p, uint64_t v)
{
	int	i;

	for (i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

void
siphash(const void *in, size_t len, const unsigned char key[16],
    unsigned char *out, size_t outlen)
{
	const unsigned char	*m = in, *end = m + (len - len % 8);
	uint64_t		 k0 = le64(key), k1 = le64(key + 8), b;
	uint64_t		 v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t		 v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t		 v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t		 v3 = 0x7465646279746573ULL ^ k1;
	int			 i;

	if (outlen == 16)
		v1 ^= 0xee;
	for (; m != end; m += 8) {
		b = le64(m);
		v3 ^= b;
		SIPROUND;
		SIPROUND;
		v0 ^= b;
	}
	b = (uint64_t)len << 56;
	for (i = (int)(len % 8) - 1; i >= 0; i--)
		b |= (uint64_t)m[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= outlen == 16 ? 0xee : 0xff;
	for (i = 0; i < 4; i++)
		SIPROUND;
	put_le64(out, v0 ^ v1 ^ v2 ^ v3);
	if (outlen != 16)
		return;
	v1 ^= 0xdd;
	for (i = 0; i < 4; i++)
		SIPROUND;
	put_le64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}

/* --- summaries ------------------------------------------------------ */

static int
var_cmp(const void *a, const void *b)
{
	const struct envsum_var	*x = a, *y = b;

	return strcmp(x->name, y->name);
}

int
envsum_make(struct envsum *s, const struct env *e,
    const unsigned char key[ENVSUM_KEY])
{
	const char	*eq;
	size_t		 i;

	memset(s, 0, sizeof(*s));
	if (e->n == 0)
		return 0;
	if ((s->v = calloc(e->n, sizeof(*s->v))) == NULL)
		return -1;
	for (i = 0; i < e->n; i++) {
		if ((eq = strchr(e->kv[i], '=')) == NULL)
			continue;	/* env_set never makes one */
		if ((s->v[s->n].name = strndup(e->kv[i],
		    (size_t)(eq - e->kv[i]))) == NULL) {
			envsum_free(s);
			return -1;
		}
		siphash(e->kv[i], strlen(e->kv[i]), key, s->v[s->n].h,
		    ENVSUM_HASH);
		s->n++;
	}
	qsort(s->v, s->n, sizeof(*s->v), var_cmp);
	return 0;
}

void
envsum_free(struct envsum *s)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/*
 * What changed from a to b, sorted by name, into *out (malloc'd, NULL
 * when nothing did; the names point into a and b).  The count, or -1
 * when out of memory.
 */
ssize_t
envsum_diff(const struct envsum *a, const struct envsum *b,
    struct envchange **out)
{
	struct envchange	*v;
	size_t			 i = 0, j = 0, n = 0;
	int			 c;

	*out = NULL;
	if (a->n + b->n == 0)
		return 0;
	if ((v = calloc(a->n + b->n, sizeof(*v))) == NULL)
		return -1;
	while (i < a->n || j < b->n) {
		if (i == a->n)
			c = 1;
		else if (j == b->n)
			c = -1;
		else
			c = strcmp(a->v[i].name, b->v[j].name);
		if (c < 0) {
			v[n].name = a->v[i++].name;
			v[n++].kind = ENVCHANGE_REMOVED;
		} else if (c > 0) {
			v[n].name = b->v[j++].name;
			v[n++].kind = ENVCHANGE_ADDED;
		} else {
			if (memcmp(a->v[i].h, b->v[j].h, ENVSUM_HASH) != 0) {
				v[n].name = b->v[j].name;
				v[n++].kind = ENVCHANGE_CHANGED;
			}
			i++;
			j++;
		}
	}
	if (n == 0) {
		free(v);
		return 0;
	}
	*out = v;
	return (ssize_t)n;
}

const char *const envchange_names[ENVCHANGE__COUNT] = {
	[ENVCHANGE_ADDED] = "added",
	[ENVCHANGE_REMOVED] = "removed",
	[ENVCHANGE_CHANGED] = "changed",
};

/* Room kept for " and 4294967295 more". */
#define ENVCHANGE_MORE	24

/*
 * "added A, B; removed C; changed D" in buf (len > ENVCHANGE_MORE): the
 * names that fit whole, then " and N more" for those that did not.
 */
void
envchange_text(const struct envchange *v, size_t n, char *buf, size_t len)
{
	size_t		 used = 0, shown = 0, i, plen, nlen;
	const char	*sep;
	int		 k, first;

	buf[0] = '\0';
	for (k = 0; k < ENVCHANGE__COUNT; k++) {
		first = 1;
		for (i = 0; i < n; i++) {
			if ((int)v[i].kind != k)
				continue;
			sep = !first ? ", " : used > 0 ? "; " : "";
			plen = strlen(sep) + (first ?
			    strlen(envchange_names[k]) + 1 : 0);
			nlen = strlen(v[i].name);
			if (used + plen + nlen + (shown + 1 < n ?
			    ENVCHANGE_MORE : 0) >= len)
				goto full;
			used += (size_t)snprintf(buf + used, len - used,
			    "%s%s%s%s", sep, first ? envchange_names[k] : "",
			    first ? " " : "", v[i].name);
			shown++;
			first = 0;
		}
	}
	return;
full:
	snprintf(buf + used, len - used, used > 0 ? " and %zu more" :
	    "%zu variables", n - shown);
}
