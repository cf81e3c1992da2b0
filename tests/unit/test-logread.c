/* test-logread.c: log lines parsed back (logline.c), and the newest lines
 * of an app's files found from their end, across rotated and gzipped
 * files (logread.c). */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "tend.h"
#include "check.h"

/* 2026-11-24T15:13:31.123Z */
#define T_MS	1795533211123ULL

static char	dir[] = "/tmp/test-logread.XXXXXX";

static int
parse(const char *s, struct logline *ll)
{
	return logline_parse(s, strlen(s), ll);
}

static void
test_parse(void)
{
	struct logline	ll;

	CHECK(parse("2026-11-24T15:13:31.123Z out hello world", &ll) == 0);
	CHECK(ll.ms == T_MS);
	CHECK(ll.stream_len == 3 && memcmp(ll.stream, "out", 3) == 0);
	CHECK(ll.idx == -1);
	CHECK(ll.text_len == 11 && memcmp(ll.text, "hello world", 11) == 0);
	CHECK(!logline_is_err(&ll));
	CHECK(parse("2026-11-24T15:13:31.123Z err.12 boom", &ll) == 0);
	CHECK(ll.idx == 12 && logline_is_err(&ll));
	CHECK(ll.text_len == 4);
	CHECK(parse("2026-11-24T15:13:31.123Z out ", &ll) == 0);
	CHECK(ll.text_len == 0);
	CHECK(parse("2026-11-24T15:13:31.123Z migrate-err x", &ll) == 0);
	CHECK(!logline_is_err(&ll));
	CHECK(parse("2026-11-24T15:13:31.123Z errx y", &ll) == 0);
	CHECK(!logline_is_err(&ll));
	/* Not the shape: refused, not guessed. */
	CHECK(parse("", &ll) == -1);
	CHECK(parse("hello", &ll) == -1);
	CHECK(parse("2026-11-24T15:13:31.123Z out", &ll) == -1);
	CHECK(parse("2026-11-24T15:13:31.123Z  x", &ll) == -1);
	CHECK(parse("2026-11-24T15:13:31Z out x", &ll) == -1);
	CHECK(parse("2026-13-24T15:13:31.123Z out x", &ll) == -1);
	CHECK(parse("2026-11-24T15:13:31.123Z OUT x", &ll) == -1);
	CHECK(parse("2026-11-24T15:13:31.123Z out. x", &ll) == -1);
	CHECK(parse("2026-11-24T15:13:31.123Z out.12345 x", &ll) == -1);
	CHECK(parse("2026-11-24T15:13:31.123Z abcdefghijklmnopq x", &ll) == -1);
	CHECK(parse("2026-11-24T15:13:31.123X out x", &ll) == -1);
	/* Not NUL-terminated: only n bytes are looked at. */
	CHECK(logline_parse("2026-11-24T15:13:31.123Z out xyz", 28, &ll) == -1);
	CHECK(logline_parse("2026-11-24T15:13:31.123Z out xyz", 29, &ll) == 0);
	CHECK(ll.text_len == 0);
}

/* Every prefix and every byte flipped of good lines, and random bytes:
 * no crash, no read past n (ASan watches), and a good parse points
 * inside the line. */
static void
test_garbage(void)
{
	const char	*good = "2026-11-24T15:13:31.123Z err.3 boom";
	char		 b[64], *heap;
	struct logline	 ll;
	size_t		 n, i, len = strlen(good);
	unsigned	 seed = 1;
	int		 c;

	for (n = 0; n <= len; n++) {
		heap = malloc(n ? n : 1);
		memcpy(heap, good, n);
		if (logline_parse(heap, n, &ll) == 0)
			CHECK(ll.text + ll.text_len == heap + n);
		free(heap);
	}
	for (i = 0; i < len; i++)
		for (c = 0; c < 256; c += 7) {
			memcpy(b, good, len);
			b[i] = (char)c;
			heap = malloc(len);
			memcpy(heap, b, len);
			if (logline_parse(heap, len, &ll) == 0)
				CHECK(ll.text + ll.text_len == heap + len &&
				    ll.stream > heap);
			free(heap);
		}
	for (i = 0; i < 20000; i++) {
		n = (size_t)(rand_r(&seed) % 48);
		heap = malloc(n ? n : 1);
		for (c = 0; c < (int)n; c++)
			heap[c] = (char)(rand_r(&seed) % 4 == 0 ? good[c % len] :
			    rand_r(&seed));
		(void)logline_parse(heap, n, &ll);
		free(heap);
	}
}

static void
test_since(void)
{
	uint64_t	 ms;
	const char	*why;

	CHECK(logline_since("10m", T_MS, &ms, &why) == 0 && ms == T_MS - 600000);
	CHECK(logline_since("1h30m", T_MS, &ms, &why) == 0 &&
	    ms == T_MS - 5400000);
	CHECK(logline_since("2026-11-24T15:13:31Z", 0, &ms, &why) == 0 &&
	    ms == T_MS - 123);
	CHECK(logline_since("2026-11-24T15:13:31.123Z", 0, &ms, &why) == 0 &&
	    ms == T_MS);
	CHECK(logline_since("2026-11-24", 0, &ms, &why) == 0 &&
	    ms == T_MS - (15 * 3600 + 13 * 60 + 31) * 1000ULL - 123);
	CHECK(logline_since("100000d", T_MS, &ms, &why) == 0 && ms == 0);
	CHECK(logline_since("yesterday", T_MS, &ms, &why) == -1);
	CHECK(logline_since("", T_MS, &ms, &why) == -1);
	CHECK(logline_since("10x", T_MS, &ms, &why) == -1);
	CHECK(logline_since("2026-11-24T25:13:31Z", T_MS, &ms, &why) == -1);
	CHECK(logline_since("2026-02-31", T_MS, &ms, &why) == -1);
}

/* A log line as logpipe.c writes it, for second i of the test's day. */
static int
line(char *b, size_t len, uint64_t ms, const char *stream, const char *text)
{
	char	ts[TIME_ISO_MAX];

	time_iso(ts, sizeof(ts), ms, TIME_MS);
	return snprintf(b, len, "%s %s %s\n", ts, stream, text);
}

/* path gets lines [from, to): "line I" on out, every 10th on err. */
static void
write_file(const char *path, int from, int to, int gz, const char *pad)
{
	char	b[8192], text[7000];
	int	i, n;
	FILE	*f = NULL;
	gzFile	 z = NULL;

	if (gz)
		z = gzopen(path, "wb");
	else
		f = fopen(path, "w");
	for (i = from; i < to; i++) {
		snprintf(text, sizeof(text), "line %d%s", i, pad);
		n = line(b, sizeof(b), T_MS + (uint64_t)i * 1000,
		    i % 10 == 0 ? "err" : "out", text);
		if (gz)
			gzwrite(z, b, (unsigned)n);
		else
			fwrite(b, 1, (size_t)n, f);
	}
	if (gz)
		gzclose(z);
	else
		fclose(f);
}

/* The i-th line of l (newest first) says "line want". */
static int
says(const struct loglines *l, size_t i, int want)
{
	char	exp[32];
	const char *p;

	if (i >= l->n)
		return 0;
	snprintf(exp, sizeof(exp), "line %d", want);
	p = l->buf + l->ents[i].off;
	return l->ents[i].len >= 25 + strlen(exp) &&
	    memmem(p, l->ents[i].len, exp, strlen(exp)) != NULL &&
	    (p[l->ents[i].len - 1] != 'x' || 1) &&
	    l->ents[i].ms == T_MS + (uint64_t)want * 1000;
}

static void
test_read(void)
{
	char		 path[256], p[300], p3[300], why[256];
	struct loglines	 l;
	struct logwant	 w = { .n = 20, .max_bytes = 1 << 24 };
	struct stat	 st;
	int		 fd, i, ok;

	snprintf(path, sizeof(path), "%s/app.log", dir);
	/* current: 3000..3999 (long lines: many chunks), .1: 2000..2999,
	 * .2.gz: 1000..1999, .3: 0..999 */
	write_file(path, 3000, 4000, 0, "................................"
	    "..............................................................");
	snprintf(p, sizeof(p), "%s.1", path);
	write_file(p, 2000, 3000, 0, "");
	snprintf(p, sizeof(p), "%s.2.gz", path);
	write_file(p, 1000, 2000, 1, "");
	snprintf(p, sizeof(p), "%s.3", path);
	write_file(p, 0, 1000, 0, "");
	fd = open(path, O_RDONLY);
	CHECK(fd != -1 && fstat(fd, &st) == 0);

	memset(&l, 0, sizeof(l));
	CHECK(logread_app(fd, (uint64_t)st.st_size, path, &w, &l, why,
	    sizeof(why)) == 0);
	CHECK(l.n == 20 && says(&l, 0, 3999) && says(&l, 19, 3980));
	CHECK(!l.truncated);
	loglines_free(&l);

	/* Across all four files, gz included: every line, in order. */
	w.n = 100000;
	CHECK(logread_app(fd, (uint64_t)st.st_size, path, &w, &l, why,
	    sizeof(why)) == 0);
	CHECK(l.n == 4000);
	for (ok = 1, i = 0; i < 4000 && i < (int)l.n; i++)
		ok &= says(&l, (size_t)i, 3999 - i);
	CHECK(ok);
	loglines_free(&l);

	/* limit: only what the file held when asked. */
	w.n = 1;
	CHECK(logread_app(fd, (uint64_t)st.st_size / 2, path, &w, &l, why,
	    sizeof(why)) == 0);
	CHECK(l.n == 1 && l.ents[0].ms < T_MS + 3999 * 1000ULL);
	loglines_free(&l);

	/* --err: only err lines, counted as such, through the gz file. */
	w.n = 250;
	w.err_only = 1;
	CHECK(logread_app(fd, (uint64_t)st.st_size, path, &w, &l, why,
	    sizeof(why)) == 0);
	CHECK(l.n == 250 && says(&l, 0, 3990) && says(&l, 249, 1500));
	loglines_free(&l);
	w.err_only = 0;

	/* --since stops at the first older line, inside the gz file. */
	w.n = 100000;
	w.since = T_MS + 1500 * 1000ULL;
	CHECK(logread_app(fd, (uint64_t)st.st_size, path, &w, &l, why,
	    sizeof(why)) == 0);
	CHECK(l.n == 2500 && says(&l, 2499, 1500));
	loglines_free(&l);
	w.since = 0;

	/* max_bytes bounds the text kept. */
	w.max_bytes = 10000;
	CHECK(logread_app(fd, (uint64_t)st.st_size, path, &w, &l, why,
	    sizeof(why)) == 0);
	CHECK(l.len <= 10000 && l.n > 0 && says(&l, 0, 3999));
	CHECK(l.truncated);
	loglines_free(&l);
	w.max_bytes = 1 << 24;

	/* The current file rotated since the request: not read twice. */
	snprintf(p, sizeof(p), "%s.3", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s.1", path);
	snprintf(p3, sizeof(p3), "%s.3", path);
	rename(p, p3);
	rename(path, p);
	CHECK(logread_app(fd, (uint64_t)st.st_size, path, &w, &l, why,
	    sizeof(why)) == 0);
	CHECK(l.n == 3000 && says(&l, 0, 3999) && says(&l, 999, 3000) &&
	    says(&l, 1000, 1999));
	loglines_free(&l);
	close(fd);

	/* No current file: the rotated ones still. */
	CHECK(logread_app(-1, 0, path, &w, &l, why, sizeof(why)) == 0);
	CHECK(l.n == 3000 && says(&l, 0, 3999));
	loglines_free(&l);
}

/* Garbage: no newline at all, a huge line, a last line without '\n',
 * lines that do not parse (kept, with a neighbour's time). */
static void
test_read_garbage(void)
{
	char		 path[256], why[256], *big;
	struct loglines	 l;
	struct logwant	 w = { .n = 10, .max_bytes = 1 << 24 };
	FILE		*f;
	int		 fd;
	size_t		 bn = 300 * 1024;

	snprintf(path, sizeof(path), "%s/junk.log", dir);
	f = fopen(path, "w");
	big = malloc(bn);
	memset(big, 'y', bn);
	fwrite(big, 1, bn, f);
	fprintf(f, "\nnot a log line\n");
	fprintf(f, "2026-11-24T15:13:31.123Z out last");
	fclose(f);
	fd = open(path, O_RDONLY);
	memset(&l, 0, sizeof(l));
	CHECK(logread_app(fd, bn + 49, path, &w, &l, why, sizeof(why)) == 0);
	CHECK(l.n >= 3);
	CHECK(l.n > 0 && l.ents[0].len == 33 && l.ents[0].ms == T_MS);
	CHECK(l.n > 1 && l.ents[1].len == 14 && l.ents[1].ms == T_MS);
	CHECK(l.n > 2 && l.ents[2].len <= 128 * 1024);
	loglines_free(&l);
	close(fd);
	free(big);
}

static void
test_merge(void)
{
	struct loglines	 a[3];
	struct logpick	 picks[10];
	size_t		 n, i;
	int		 ok = 1;

	memset(a, 0, sizeof(a));
	/* newest first: a0 has 9,6,3,0; a1 8,5,2; a2 7,4,1 */
	for (i = 0; i < 10; i++) {
		struct loglines *l = &a[(9 - i) % 3];

		if (l->n == l->cap) {
			l->cap = 8;
			l->ents = realloc(l->ents, l->cap * sizeof(*l->ents));
		}
		l->ents[l->n].ms = 9 - i;
		l->ents[l->n].off = l->ents[l->n].len = 0;
		l->n++;
	}
	n = logread_merge(a, 3, 5, picks);
	CHECK(n == 5);
	for (i = 0; i < n; i++)
		ok &= a[picks[i].app].ents[picks[i].ent].ms == 5 + i;
	CHECK(ok);
	n = logread_merge(a, 3, 10, picks);
	CHECK(n == 10 && picks[0].app == 0 && picks[9].app == 0);
	CHECK(logread_merge(a, 0, 10, picks) == 0);
	for (i = 0; i < 3; i++)
		free(a[i].ents);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	RUN(test_parse);
	RUN(test_garbage);
	RUN(test_since);
	RUN(test_read);
	RUN(test_read_garbage);
	RUN(test_merge);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return check_failed();
}
