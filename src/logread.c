/*
 * logread.c: the newest lines of an app's log files, for `tendctl logs
 * -n`, read in tendd's thread pool (cmd-logs.c), never on its loop.
 *
 * An app's log is its current file (LOG_DIR/APP.log) and the rotated
 * ones, newest first: APP.log.1, APP.log.2 ... each either plain or
 * gzipped (APP.log.N.gz, when log_compress is on).  A plain file is read
 * from its end in chunks, so asking for the last 20 lines of a 1 GB file
 * reads 64 KiB, not the file.  A gzipped one cannot be read backwards:
 * it is inflated as a stream (zlib, in the same worker thread: no
 * process per file) keeping only the newest lines it may need.  Work
 * stops at the N-th line, or at the first line older than --since: the
 * files are in time order.  Memory is bounded by what was asked (N
 * lines, max_bytes of text) and a chunk.
 *
 * Lines are parsed by logline.c; one that is not in its shape is kept as
 * it is, with the time of the line after it, so nothing is hidden.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "tend.h"

/* Read this much at a time, from the end of a plain file. */
#define LOGREAD_CHUNK		(64 * 1024)
/* A "line" longer than this (tendd writes none: LOG_LINE_MAX splits
 * them) is garbage: its newest part is kept, the rest skipped. */
#define LOGREAD_LINE_MAX	(64 * 1024)
/* APP.log.1 ... APP.log.N: log_keep is at most 100. */
#define LOGREAD_FILES_MAX	1000

struct rd {
	const struct logwant	*w;
	struct loglines		*out;
	uint64_t		 last_ms;	/* of the line after this one */
	int			 done;
};

/*
 * The lines' memory is mapped, not malloc'd: it is allocated in a worker
 * thread and freed on the loop, and a large read (-n 100000 is 13 MB of
 * text) would otherwise stay in a malloc arena after it is freed (glibc
 * raises its mmap threshold to the largest block freed), so that each of
 * the pool's threads would keep its largest read for good.  Unmapped, it
 * goes back to the system at once.
 */
static void *
lines_grow(void *p, size_t old, size_t len)
{
	void	*q;

	if (p == NULL)
		q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
	else
		q = mremap(p, old, len, MREMAP_MAYMOVE);
	return q == MAP_FAILED ? NULL : q;
}

void
loglines_free(struct loglines *l)
{
	if (l->ents != NULL)
		munmap(l->ents, l->cap * sizeof(*l->ents));
	if (l->buf != NULL)
		munmap(l->buf, l->bcap);
	memset(l, 0, sizeof(*l));
}

static int
loglines_add(struct loglines *l, uint64_t ms, const char *p, size_t n)
{
	void	*nb;
	size_t	 cap;

	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 1024;
		if ((nb = lines_grow(l->ents, l->cap * sizeof(*l->ents),
		    cap * sizeof(*l->ents))) == NULL)
			return -1;
		l->ents = nb;
		l->cap = cap;
	}
	if (l->len + n > l->bcap) {
		cap = l->bcap ? l->bcap : 65536;
		while (cap < l->len + n)
			cap *= 2;
		if ((nb = lines_grow(l->buf, l->bcap, cap)) == NULL)
			return -1;
		l->buf = nb;
		l->bcap = cap;
	}
	memcpy(l->buf + l->len, p, n);
	l->ents[l->n].ms = ms;
	l->ents[l->n].off = l->len;
	l->ents[l->n].len = n;
	l->n++;
	l->len += n;
	return 0;
}

/* Forget the oldest lines of l (kept in file order), keeping the newest
 * keep of them that fit in max_bytes. */
static void
loglines_keep_last(struct loglines *l, size_t keep, size_t max_bytes)
{
	size_t	drop, base, i, bytes = 0;

	for (i = l->n; i > 0 && l->n - i < keep; i--) {
		if (bytes + l->ents[i - 1].len > max_bytes)
			break;
		bytes += l->ents[i - 1].len;
	}
	keep = l->n - i;
	if (l->n <= keep)
		return;
	if (keep == 0) {
		l->n = l->len = 0;
		return;
	}
	drop = l->n - keep;
	base = l->ents[drop].off;
	memmove(l->buf, l->buf + base, l->len - base);
	l->len -= base;
	for (i = 0; i < keep; i++) {
		l->ents[i] = l->ents[drop + i];
		l->ents[i].off -= base;
	}
	l->n = keep;
}

/* One line, newest first.  0 to go on, 1 when enough, -1 on error. */
static int
take(struct rd *r, const char *p, size_t n)
{
	struct logline	ll;
	int		parsed = logline_parse(p, n, &ll) == 0;

	if (parsed)
		r->last_ms = ll.ms;
	if (parsed && r->w->since != 0 && ll.ms < r->w->since)
		return r->done = 1;
	if (r->w->err_only && (!parsed || !logline_is_err(&ll)))
		return 0;
	if (r->out->n >= r->w->n)
		return r->done = 1;
	if (r->out->len + n > r->w->max_bytes) {
		r->out->truncated = 1;
		return r->done = 1;
	}
	if (loglines_add(r->out, r->last_ms, p, n) != 0)
		return -1;
	if (r->out->n >= r->w->n)
		return r->done = 1;
	return 0;
}

/* The bytes [0, end) of a plain file, last line first. */
static int
back_fd(struct rd *r, int fd, uint64_t end, char *why, size_t whylen)
{
	char		*buf, *start, *e, *q;
	uint64_t	 pos = end;
	size_t		 k, clen = 0, got;
	ssize_t		 rn;
	int		 skipping = 0, first = 1, rc = 0;

	if ((buf = malloc(LOGREAD_CHUNK + LOGREAD_LINE_MAX)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	while (pos > 0 && !r->done) {
		k = pos < LOGREAD_CHUNK ? (size_t)pos : LOGREAD_CHUNK;
		pos -= k;
		start = buf + LOGREAD_CHUNK - k;
		for (got = 0; got < k; got += (size_t)rn) {
			rn = pread(fd, start + got, k - got, (off_t)(pos + got));
			if (rn < 0 && errno == EINTR) {
				rn = 0;
				continue;
			}
			if (rn <= 0) {
				snprintf(why, whylen, "read: %s", rn < 0 ?
				    strerror(errno) : "file shrank");
				rc = -1;
				goto out;
			}
		}
		e = buf + LOGREAD_CHUNK + clen;
		if (first && e > start && e[-1] == '\n')
			e--;	/* the last line's end, not an empty line */
		first = 0;
		while (!r->done && e > start &&
		    (q = memrchr(start, '\n', (size_t)(e - start))) != NULL) {
			if (!skipping && take(r, q + 1, (size_t)(e - q - 1)) < 0)
				goto oom;
			skipping = 0;
			e = q;
		}
		if (r->done)
			break;
		/* What is left begins before this chunk: carry it. */
		clen = (size_t)(e - start);
		if (skipping)
			clen = 0;
		else if (clen > LOGREAD_LINE_MAX) {
			if (take(r, start, clen) < 0)
				goto oom;
			skipping = 1;
			clen = 0;
		} else
			memmove(buf + LOGREAD_CHUNK, start, clen);
	}
	if (!r->done && !skipping && clen > 0 && pos == 0 &&
	    take(r, buf + LOGREAD_CHUNK, clen) < 0)
		goto oom;
out:
	free(buf);
	return rc;
oom:
	free(buf);
	snprintf(why, whylen, "out of memory");
	return -1;
}

/* A gzipped file: inflated from its start, keeping the newest lines
 * that may be wanted, then given newest first. */
static int
gz_fd(struct rd *r, int fd, char *why, size_t whylen)
{
	struct loglines	 tmp;
	struct logline	 ll;
	gzFile		 gz;
	char		*buf, *p, *nl, *end;
	size_t		 have = 0, keep, i;
	int		 n, saw_old = 0, parsed, rc = 0;
	uint64_t	 ms = 0;

	memset(&tmp, 0, sizeof(tmp));
	keep = r->w->n;
	if ((buf = malloc(LOGREAD_CHUNK + LOGREAD_LINE_MAX)) == NULL ||
	    (gz = gzdopen(fd, "rb")) == NULL) {
		free(buf);
		close(fd);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (;;) {
		n = gzread(gz, buf + have, LOGREAD_CHUNK);
		if (n < 0) {
			int e;

			snprintf(why, whylen, "inflate: %s", gzerror(gz, &e));
			rc = -1;
			break;
		}
		end = buf + have + (size_t)n;
		p = buf;
		for (;;) {
			int cut = 0;

			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
				if (n == 0 && p < end)
					nl = end;	/* a last line without '\n' */
				else if ((size_t)(end - p) >= LOGREAD_LINE_MAX) {
					nl = p + LOGREAD_LINE_MAX;
					cut = 1;
				} else
					break;
			}
			parsed = logline_parse(p, (size_t)(nl - p), &ll) == 0;
			if (parsed)
				ms = ll.ms;
			if (parsed && r->w->since != 0 && ms < r->w->since)
				saw_old = 1;
			else if (!r->w->err_only || (parsed &&
			    logline_is_err(&ll))) {
				if (loglines_add(&tmp, ms, p,
				    (size_t)(nl - p)) != 0)
					goto oom;
				if (tmp.n > 2 * keep + 1024 ||
				    tmp.len > 2 * r->w->max_bytes)
					loglines_keep_last(&tmp, keep, r->w->max_bytes);
			}
			p = cut || nl == end ? nl : nl + 1;
		}
		have = (size_t)(end - p);
		memmove(buf, p, have);
		if (n == 0)
			break;
	}
	if (rc == 0) {
		loglines_keep_last(&tmp, keep, r->w->max_bytes);
		for (i = tmp.n; i > 0 && !r->done; i--) {
			/* Their times are known: keep them, not take()'s. */
			r->last_ms = tmp.ents[i - 1].ms;
			if (take(r, tmp.buf + tmp.ents[i - 1].off,
			    tmp.ents[i - 1].len) < 0)
				goto oom;
		}
		if (saw_old)
			r->done = 1;
	}
	gzclose(gz);	/* closes fd */
	free(buf);
	loglines_free(&tmp);
	return rc;
oom:
	gzclose(gz);
	free(buf);
	loglines_free(&tmp);
	snprintf(why, whylen, "out of memory");
	return -1;
}

/* A rotated file, plain or gzipped; -1 with errno ENOENT if neither. */
static int
open_rotated(const char *path, unsigned k, int *gz)
{
	char	name[4096];
	int	fd;

	*gz = 0;
	if (snprintf(name, sizeof(name), "%s.%u", path, k) >= (int)sizeof(name))
		return -1;
	fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd != -1 || errno != ENOENT)
		return fd;
	snprintf(name, sizeof(name), "%s.%u.gz", path, k);
	*gz = 1;
	return open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
}

int
logread_app(int fd, uint64_t limit, const char *path,
    const struct logwant *w, struct loglines *out, char *why, size_t whylen)
{
	struct rd	 r = { .w = w, .out = out, .last_ms = UINT64_MAX };
	struct stat	 st;
	struct { dev_t dev; ino_t ino; } seen[LOGREAD_FILES_MAX + 1];
	unsigned	 k, nseen = 0, i;
	int		 rfd, gz, rc;

	why[0] = '\0';
	if (w->n == 0)
		return 0;
	if (fd != -1) {
		if (fstat(fd, &st) == 0) {
			seen[nseen].dev = st.st_dev;
			seen[nseen++].ino = st.st_ino;
		}
		if (back_fd(&r, fd, limit, why, whylen) != 0)
			return -1;
	}
	for (k = 1; k <= LOGREAD_FILES_MAX && !r.done; k++) {
		if ((rfd = open_rotated(path, k, &gz)) == -1) {
			if (errno == ENOENT)
				break;
			snprintf(why, whylen, "%s.%u: %s", path, k,
			    strerror(errno));
			return -1;
		}
		if (fstat(rfd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(rfd);
			continue;
		}
		/* A file read already: the logs rotated since the request
		 * came (or while reading), and it moved down one place. */
		for (i = 0; i < nseen; i++)
			if (seen[i].dev == st.st_dev && seen[i].ino == st.st_ino)
				break;
		if (i < nseen) {
			close(rfd);
			continue;
		}
		seen[nseen].dev = st.st_dev;
		seen[nseen++].ino = st.st_ino;
		/* Each line has its own time: none is borrowed across. */
		r.last_ms = UINT64_MAX;
		if (gz)
			rc = gz_fd(&r, rfd, why, whylen);
		else {
			rc = back_fd(&r, rfd, (uint64_t)st.st_size, why,
			    whylen);
			close(rfd);
		}
		if (rc != 0)
			return -1;
	}
	return 0;
}

int
logread_text(const char *p, size_t n, const struct logwant *w,
    struct loglines *out)
{
	struct rd	 r = { .w = w, .out = out, .last_ms = UINT64_MAX };
	const char	*e = p + n, *q;

	if (w->n == 0)
		return 0;
	if (e > p && e[-1] == '\n')
		e--;
	while (!r.done && e > p) {
		q = memrchr(p, '\n', (size_t)(e - p));
		if (take(&r, q != NULL ? q + 1 : p,
		    (size_t)(e - (q != NULL ? q + 1 : p))) < 0)
			return -1;
		if (q == NULL)
			break;
		e = q;
	}
	return 0;
}

/*
 * Several apps' lines (each newest first, as logread_app gives them)
 * merged by time: the newest n of them all, in picks[], oldest first.
 * Returns how many; picks has room for n.
 */
size_t
logread_merge(const struct loglines *apps, size_t napps, size_t n,
    struct logpick *picks)
{
	size_t	*at, got = 0, a, best, i;

	if ((at = calloc(napps ? napps : 1, sizeof(*at))) == NULL)
		return 0;
	while (got < n) {
		best = napps;
		for (a = 0; a < napps; a++) {
			if (at[a] >= apps[a].n)
				continue;
			if (best == napps || apps[a].ents[at[a]].ms >=
			    apps[best].ents[at[best]].ms)
				best = a;
		}
		if (best == napps)
			break;
		picks[got].app = best;
		picks[got].ent = at[best]++;
		got++;
	}
	free(at);
	for (i = 0; i < got / 2; i++) {
		struct logpick t = picks[i];

		picks[i] = picks[got - 1 - i];
		picks[got - 1 - i] = t;
	}
	return got;
}
