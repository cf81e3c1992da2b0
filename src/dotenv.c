/*
 * dotenv.c: environments as "KEY=value" arrays ready for execve, and the
 * .env file syntax that Node's dotenv reads: KEY=value, an optional
 * "export ", # comments, single quotes (literal), double quotes (escapes
 * \n \r \t \" \\, may span lines), backquotes (literal).  No variable
 * expansion and no command execution, ever.
 *
 * Values are secrets more often than not: no error message quotes one.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend.h"

void
env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
}

void
env_free(struct env *e)
{
	size_t	i;

	for (i = 0; i < e->n; i++)
		free(e->kv[i]);
	free(e->kv);
	memset(e, 0, sizeof(*e));
}

static ssize_t
env_find(const struct env *e, const char *key, size_t klen)
{
	size_t	i;

	for (i = 0; i < e->n; i++)
		if (strncmp(e->kv[i], key, klen) == 0 && e->kv[i][klen] == '=')
			return (ssize_t)i;
	return -1;
}

static int
env_put(struct env *e, char *kv, size_t klen)
{
	ssize_t	 i = env_find(e, kv, klen);
	char	**v;

	if (i >= 0) {
		free(e->kv[i]);
		e->kv[i] = kv;
		return 0;
	}
	if (e->n + 1 >= e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;

		if ((v = reallocarray(e->kv, cap, sizeof(*v))) == NULL) {
			free(kv);
			return -1;
		}
		e->kv = v;
		e->cap = cap;
	}
	e->kv[e->n++] = kv;
	e->kv[e->n] = NULL;
	return 0;
}

int
env_set(struct env *e, const char *key, const char *value)
{
	char	*kv;

	if (asprintf(&kv, "%s=%s", key, value) < 0)
		return -1;
	return env_put(e, kv, strlen(key));
}

int
env_setkv(struct env *e, const char *s)
{
	const char	*eq = strchr(s, '=');
	char		*kv;

	if (eq == NULL || (kv = strdup(s)) == NULL)
		return -1;
	return env_put(e, kv, (size_t)(eq - s));
}

const char *
env_get(const struct env *e, const char *key)
{
	ssize_t	i = env_find(e, key, strlen(key));

	return i < 0 ? NULL : e->kv[i] + strlen(key) + 1;
}

int
env_valid_key(const char *k, size_t len)
{
	size_t	i;

	if (len == 0 || !(isalpha((unsigned char)k[0]) || k[0] == '_'))
		return 0;
	for (i = 1; i < len; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_' &&
		    k[i] != '.' && k[i] != '-')
			return 0;
	return 1;
}

/* Growable value buffer. */
struct vbuf {
	char	*p;
	size_t	 n, cap;
};

static int
vb_add(struct vbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t	 cap = (b->n + n + 1) * 2;
		char	*p = realloc(b->p, cap);

		if (p == NULL)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
	return 0;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Is the rest of the line empty or a comment? */
static int
rest_ok(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	return p == end || *p == '#';
}

int
dotenv_parse(const char *buf, size_t len, const char *file, struct env *env,
    struct errs *errs)
{
	const char	*p = buf, *end = buf + len, *eol, *k, *ke, *v;
	struct vbuf	 val = { NULL, 0, 0 };
	char		*kv;
	int		 line = 0, bad = 0, start, quote;

	if (memchr(buf, '\0', len) != NULL) {
		errs_add(errs, file, 0, "contains a NUL byte");
		return -1;
	}
	while (p < end) {
		line++;
		start = line;
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		while (p < eol && is_blank(*p))
			p++;
		if (p == eol || *p == '#') {
			p = eol + 1;
			continue;
		}
		if ((size_t)(eol - p) > 7 && strncmp(p, "export", 6) == 0 &&
		    is_blank(p[6])) {
			p += 7;
			while (p < eol && is_blank(*p))
				p++;
		}
		k = p;
		while (p < eol && *p != '=' && !is_blank(*p))
			p++;
		ke = p;
		while (p < eol && is_blank(*p))
			p++;
		if (p == eol || *p != '=') {
			errs_add(errs, file, line, "expected KEY=value");
			bad = 1;
			p = eol + 1;
			continue;
		}
		if (!env_valid_key(k, (size_t)(ke - k))) {
			if (ke == k)
				errs_add(errs, file, line, "missing key before '='");
			else
				errs_add(errs, file, line, "invalid key '%.*s'",
				    (int)(ke - k > 64 ? 64 : ke - k), k);
			bad = 1;
			p = eol + 1;
			continue;
		}
		p++;	/* '=' */
		while (p < eol && is_blank(*p))
			p++;
		val.n = 0;
		if (vb_add(&val, "", 0) != 0)
			goto oom;
		quote = p < eol && (*p == '\'' || *p == '"' || *p == '`') ?
		    *p : 0;
		if (quote == 0) {
			/* Unquoted: up to " #", trimmed. */
			v = p;
			while (p < eol && !(*p == '#' && p > v && is_blank(p[-1])))
				p++;
			while (p > v && is_blank(p[-1]))
				p--;
			if (vb_add(&val, v, (size_t)(p - v)) != 0)
				goto oom;
			p = eol + 1;
		} else {
			p++;
			for (;;) {
				if (p >= end) {
					errs_add(errs, file, start,
					    "unterminated %s quote",
					    quote == '"' ? "double" :
					    quote == '\'' ? "single" : "back");
					bad = 1;
					goto next;
				}
				if (*p == quote)
					break;
				if (*p == '\n')
					line++;
				if (quote == '"' && *p == '\\' && p + 1 < end) {
					char c = p[1], out[2] = { 0, 0 };

					out[0] = c == 'n' ? '\n' : c == 'r' ? '\r' :
					    c == 't' ? '\t' : c;
					if (c == '"' || c == '\\' || c == 'n' ||
					    c == 'r' || c == 't') {
						if (vb_add(&val, out, 1) != 0)
							goto oom;
						p += 2;
						continue;
					}
				}
				if (vb_add(&val, p, 1) != 0)
					goto oom;
				p++;
			}
			p++;	/* closing quote */
			eol = memchr(p, '\n', (size_t)(end - p));
			if (eol == NULL)
				eol = end;
			if (!rest_ok(p, eol)) {
				errs_add(errs, file, line,
				    "unexpected text after the closing quote");
				bad = 1;
				p = eol + 1;
				continue;
			}
			p = eol + 1;
		}
		if (asprintf(&kv, "%.*s=%s", (int)(ke - k), k, val.p) < 0)
			goto oom;
		if (env_put(env, kv, (size_t)(ke - k)) != 0)
			goto oom;
		continue;
next:
		break;
	}
	free(val.p);
	return bad ? -1 : 0;
oom:
	free(val.p);
	errs_add(errs, file, line, "out of memory");
	return -1;
}

int
dotenv_load(const char *path, struct env *env, struct errs *errs)
{
	struct stat	 st;
	char		*buf;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		errs_add(errs, path, 0, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		errs_add(errs, path, 0, "not a regular file");
		close(fd);
		return -1;
	}
	if (st.st_size > DOTENV_MAX_SIZE) {
		errs_add(errs, path, 0, "too large (%lld bytes, limit 1 MiB)",
		    (long long)st.st_size);
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		errs_add(errs, path, 0, "out of memory");
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	r = dotenv_parse(buf, off, path, env, errs);
	free(buf);
	return r;
}
