/*
 * utf8.c: text from apps made fit for JSON.  An app may print anything
 * (Latin-1, binary, a multi-byte character cut in two), and jansson
 * refuses a string that is not UTF-8, so every piece of app output that
 * reaches the control protocol goes through here first.  Ill-formed
 * sequences become U+FFFD, one per maximal subpart, as the Unicode
 * standard recommends (chapter 3, "U+FFFD Substitution of Maximal
 * Subparts") and as browsers and Python's "replace" do; valid text is
 * returned unchanged.  Pure: no allocation but the result's.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "tend.h"

#define REPLACEMENT	"\xef\xbf\xbd"	/* U+FFFD in UTF-8 */

/*
 * The length of the valid sequence at s[0..len), or 0 when s starts an
 * ill-formed one; then *bad is how many bytes (at least 1) to replace by
 * one U+FFFD: the lead byte and the continuation bytes it legally took
 * before the sequence broke off.
 */
static size_t
seq_len(const unsigned char *s, size_t len, size_t *bad)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		need, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;	/* no overlong forms */
		else if (s[0] == 0xed)
			hi = 0x9f;	/* no surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		if (s[0] == 0xf0)
			lo = 0x90;	/* no overlong forms */
		else if (s[0] == 0xf4)
			hi = 0x8f;	/* nothing above U+10FFFF */
	} else {
		*bad = 1;	/* 80..c1, f5..ff never start a character */
		return 0;
	}
	for (i = 1; i < need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

size_t
utf8_valid_prefix(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 off = 0, n, bad;

	while (off < len) {
		/* Most output is ASCII: skip it without the full check. */
		if (p[off] < 0x80) {
			off++;
			continue;
		}
		if ((n = seq_len(p + off, len - off, &bad)) == 0)
			break;
		off += n;
	}
	return off;
}

char *
utf8_repair(const char *s, size_t len, size_t *outlen)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 off, o = 0, n, bad;
	char			*out;

	/* Each bad byte becomes at most three: no overflow below this. */
	if (len > (SIZE_MAX - 1) / 3 || (out = malloc(len * 3 + 1)) == NULL)
		return NULL;
	for (off = 0; off < len; ) {
		if ((n = seq_len(p + off, len - off, &bad)) == 0) {
			memcpy(out + o, REPLACEMENT, 3);
			o += 3;
			off += bad;
			continue;
		}
		memcpy(out + o, p + off, n);
		o += n;
		off += n;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}
