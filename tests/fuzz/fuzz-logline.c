/* fuzz-logline.c: log lines parsed back (logline.c) and an app's newest
 * lines found in a file from its end (logread.c), on arbitrary bytes:
 * as one line, as a --since argument, as text in memory and as a file
 * (repeated past a 64 KiB chunk when the first byte is odd, so lines
 * straddle chunks). */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend.h"

/* 2026-11-24T15:13:31.123Z */
#define T_MS	1795533211123ULL

static void
check_lines(const struct loglines *l, const struct logwant *w)
{
	size_t	i;

	if (l->n > w->n || l->len > w->max_bytes)
		abort();
	for (i = 0; i < l->n; i++)
		if (l->ents[i].off + l->ents[i].len > l->len)
			abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	const char	*p = (const char *)data, *why;
	struct logline	 ll;
	struct loglines	 l;
	struct logwant	 w = { .n = 50, .max_bytes = 8192 };
	char		*s, ewhy[256];
	uint64_t	 ms;
	size_t		 off;
	int		 fd;

	if (logline_parse(p, len, &ll) == 0 && (ll.text + ll.text_len !=
	    p + len || ll.stream_len == 0 || ll.stream <= p ||
	    ll.idx > 9999 || ll.ms < T_MS / 1000))
		abort();
	if ((s = malloc(len + 1)) == NULL)
		return 0;
	memcpy(s, data, len);
	s[len] = '\0';
	(void)logline_since(s, T_MS, &ms, &why);
	free(s);

	w.err_only = len > 0 && (data[0] & 2);
	w.since = len > 0 && (data[0] & 4) ? T_MS : 0;
	memset(&l, 0, sizeof(l));
	if (logread_text(p, len, &w, &l) == 0)
		check_lines(&l, &w);
	loglines_free(&l);

	if ((fd = memfd_create("log", MFD_CLOEXEC)) == -1)
		return 0;
	off = len;
	if (len > 0 && (data[0] & 1) && (s = malloc(140 * 1024 + len)) != NULL) {
		for (off = 0; off < 140 * 1024; off += len)
			memcpy(s + off, data, len);
		if (write(fd, s, off) != (ssize_t)off)
			off = 0;
		free(s);
	} else if (write(fd, data, len) != (ssize_t)len)
		off = 0;
	if (logread_app(fd, off, "/nonexistent/fuzz.log", &w, &l, ewhy,
	    sizeof(ewhy)) == 0)
		check_lines(&l, &w);
	loglines_free(&l);
	close(fd);
	return 0;
}
