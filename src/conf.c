/*
 * conf.c: tend.conf into a struct conf.
 *
 * inih does the key = value splitting, but Debian's build silently cuts
 * lines at 200 bytes and never tells the handler a line number, and it
 * never reports an empty section.  So inih reads through our own reader,
 * which counts lines (the handler runs right after the reader returned its
 * line), handles [sections] itself, rejects what inih would misread
 * (continuation lines, lines without '=' or ':'), and hands inih a short
 * placeholder for a long line whose value it keeps aside.  Nothing is ever
 * truncated or dropped silently.  Every error is collected, each as
 * "file:line: what is wrong", and a conf with any error is not returned.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "tend.h"

#define N_APP_KEYS	64	/* more than conf_app_keys has rows */
#define STASH_MARK	'\x01'
/* inih's line buffer, less room for "\r\n\0". */
#define INIH_ROOM	190

struct appstate {
	struct conf_app	*a;
	int		 lines[N_APP_KEYS];	/* where each key was set */
	char		*raw[N_APP_KEYS];	/* for canon */
};

struct pctx {
	const char	*file;
	char		*dir;		/* of the config file */
	const char	*buf;
	size_t		 len;
	size_t		 pos;
	int		 lineno;
	struct conf	*conf;
	struct errs	*errs;
	enum { SC_NONE, SC_TEND, SC_APP, SC_BAD, SC_FLEET } scope;
	struct appstate	*cur;
	struct appstate	*apps;
	size_t		 n_apps;
	int		 tend_lines[N_APP_KEYS];
	int		 fleet_lines[N_APP_KEYS];
	int		 fleet_line;	/* of [fleet], 0: none */
	char		**stash;
	size_t		 n_stash;
};

int
strv_push(struct strv *v, const char *s)
{
	char	**nv, *d;

	if ((d = strdup(s)) == NULL)
		return -1;
	if ((nv = reallocarray(v->v, v->n + 2, sizeof(*nv))) == NULL) {
		free(d);
		return -1;
	}
	v->v = nv;
	v->v[v->n++] = d;
	v->v[v->n] = NULL;
	return 0;
}

void
strv_free(struct strv *v)
{
	size_t	i;

	for (i = 0; i < v->n; i++)
		free(v->v[i]);
	free(v->v);
	v->v = NULL;
	v->n = 0;
}

/* --- paths ------------------------------------------------------------ */

/* Join to dir if relative, then fold "//", "/./" and "x/.." textually
 * (no realpath: a path that does not exist yet must still parse). */
static char *
resolve_path(const char *dir, const char *p)
{
	char	*s, *out, *seg, *save = NULL;
	size_t	 n = 0;

	if (p[0] == '/')
		s = strdup(p);
	else if (asprintf(&s, "%s/%s", dir, p) < 0)
		s = NULL;
	if (s == NULL)
		return NULL;
	if ((out = malloc(strlen(s) + 2)) == NULL) {
		free(s);
		return NULL;
	}
	out[0] = '\0';
	for (seg = strtok_r(s, "/", &save); seg != NULL;
	    seg = strtok_r(NULL, "/", &save)) {
		if (strcmp(seg, ".") == 0)
			continue;
		if (strcmp(seg, "..") == 0) {
			char *slash = strrchr(out, '/');

			if (slash != NULL)
				*slash = '\0';
			n = strlen(out);
			continue;
		}
		n += (size_t)sprintf(out + n, "/%s", seg);
	}
	if (out[0] == '\0')
		strcpy(out, "/");
	free(s);
	return out;
}

/* --- values ----------------------------------------------------------- */

static unsigned
edit_distance(const char *a, const char *b)
{
	unsigned	d[40][40], i, j, la = (unsigned)strlen(a),
			lb = (unsigned)strlen(b);

	if (la >= 40 || lb >= 40)
		return 99;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			unsigned c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			d[i][j] = c;
		}
	return d[la][lb];
}

static const char *
suggest(const struct conf_key *tab, const char *name)
{
	const char	*best = NULL;
	unsigned	 bd = 3, d;

	for (; tab->name != NULL; tab++)
		if ((d = edit_distance(tab->name, name)) < bd) {
			bd = d;
			best = tab->name;
		}
	return best;
}

/*
 * One setter per value type, in setters[] below.  Each stores st->value
 * into st->field and returns NULL, or returns why it cannot: a phrase
 * that set_value reports as "file:line: key: why (got 'value')",
 * SET_OOM, or SET_REPORTED when it said something else itself.  What
 * canon shows is st->txt: the value, unless the setter normalised it.
 */
struct set {
	struct pctx		*x;
	const struct conf_key	*k;
	void			*base;		/* struct conf or conf_app */
	void			*field;		/* base + k->off */
	const char		*value;
	const char		*txt;
	int			 line;
	char			 buf[128];	/* for a why with numbers */
};

static const char	SET_OOM[] = "out of memory";
static const char	SET_REPORTED[] = "reported";

/* Replace a string field with a copy of s. */
static const char *
store_str(struct set *st, const char *s)
{
	char	*d;

	if ((d = strdup(s)) == NULL)
		return SET_OOM;
	free(*(char **)st->field);
	*(char **)st->field = d;
	return NULL;
}

/* str, cmd */
static const char *
set_str(struct set *st)
{
	if (*st->value == '\0')
		return "must not be empty";
	return store_str(st, st->value);
}

static const char *
set_user(struct set *st)
{
	if (*st->value == '\0')
		return "must not be empty";
	if (strpbrk(st->value, " \t:/") != NULL)
		return "expected a user or group name or number";
	return store_str(st, st->value);
}

/* Relative to the config file's directory, folded. */
static const char *
set_path(struct set *st)
{
	char	*s;

	if (*st->value == '\0')
		return "must not be empty";
	if ((s = resolve_path(st->x->dir, st->value)) == NULL)
		return SET_OOM;
	free(*(char **)st->field);
	*(char **)st->field = s;
	st->txt = s;
	return NULL;
}

static const char *
set_pathv(struct set *st)
{
	struct strv	*v = st->field;
	char		*s;
	int		 r;

	if (*st->value == '\0')
		return "must not be empty";
	if ((s = resolve_path(st->x->dir, st->value)) == NULL)
		return SET_OOM;
	r = strv_push(v, s);
	free(s);	/* strv_push kept a copy */
	if (r != 0)
		return SET_OOM;
	st->txt = v->v[v->n - 1];
	return NULL;
}

static const char *
set_strv(struct set *st)
{
	return strv_push(st->field, st->value) != 0 ? SET_OOM : NULL;
}

/* KEY=value, where the value may be a secret. */
static const char *
set_envv(struct set *st)
{
	const char	*eq = strchr(st->value, '=');

	if (eq == NULL || !env_valid_key(st->value, (size_t)(eq - st->value))) {
		/* Say which key, never the value: it may be a secret. */
		errs_add(st->x->errs, st->x->file, st->line, "env: expected "
		    "KEY=value with KEY made of letters, digits and _ . -");
		return SET_REPORTED;
	}
	return strv_push(st->field, st->value) != 0 ? SET_OOM : NULL;
}

static const char *
set_duration(struct set *st)
{
	const struct conf_key	*k = st->k;
	const char		*why;
	uint64_t		 ms;
	char			 lo[32], hi[32];

	if (parse_duration(st->value, &ms, &why) != 0)
		return why;
	if (ms < k->min || (k->max && ms > k->max)) {
		format_duration(lo, sizeof(lo), k->min);
		format_duration(hi, sizeof(hi), k->max);
		snprintf(st->buf, sizeof(st->buf), "must be from %s to %s", lo,
		    hi);
		return st->buf;
	}
	*(uint64_t *)st->field = ms;
	return NULL;
}

static const char *
set_size(struct set *st)
{
	const char	*why;
	uint64_t	 bytes;
	char		 lo[32];

	if (parse_size(st->value, &bytes, &why) != 0)
		return why;
	if (bytes < st->k->min) {
		format_size(lo, sizeof(lo), st->k->min);
		snprintf(st->buf, sizeof(st->buf), "must be at least %s", lo);
		return st->buf;
	}
	*(uint64_t *)st->field = bytes;
	return NULL;
}

/* uint, port */
static const char *
set_uint(struct set *st)
{
	const char	*why;
	unsigned long	 ul;

	if (parse_uint(st->value, st->k->min, st->k->max, &ul, &why) != 0)
		return why;
	*(unsigned *)st->field = (unsigned)ul;
	return NULL;
}

static const char *
set_bool(struct set *st)
{
	const char	*why;
	int		 b;

	if (parse_bool(st->value, &b, &why) != 0)
		return why;
	*(int *)st->field = b;
	return NULL;
}

/* auto (-1), yes or no */
static const char *
set_autobool(struct set *st)
{
	const char	*why;
	int		 b;

	if (strcmp(st->value, "auto") == 0)
		b = -1;
	else if (parse_bool(st->value, &b, &why) != 0)
		return "expected auto, yes or no";
	*(int *)st->field = b;
	return NULL;
}

static const char *
set_restart(struct set *st)
{
	static const char *const names[] = {
		[RESTART_ALWAYS] = "always",
		[RESTART_ON_FAILURE] = "on-failure",
		[RESTART_NEVER] = "never",
	};
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(st->value, names[i]) == 0) {
			*(enum restart_policy *)st->field = (enum restart_policy)i;
			return NULL;
		}
	return "expected always, on-failure or never";
}

static const char *
set_switch(struct set *st)
{
	static const char *const names[] = {
		[NGINX_SWITCH_AUTO] = "auto",
		[NGINX_SWITCH_LUA] = "lua",
		[NGINX_SWITCH_RELOAD] = "reload",
	};
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(st->value, names[i]) == 0) {
			*(enum nginx_switch *)st->field = (enum nginx_switch)i;
			return NULL;
		}
	return "expected auto, lua or reload";
}

static const char *
set_signal(struct set *st)
{
	const char	*why;
	int		 sig;

	if (parse_signal(st->value, &sig, &why) != 0)
		return why;
	*(int *)st->field = sig;
	return NULL;
}

/* off, 75% (of the memory, split over instances) or a size. */
static const char *
set_heap(struct set *st)
{
	struct conf_app	*a = st->base;
	const char	*why;
	uint64_t	 bytes;
	unsigned	 pct;

	if (strcmp(st->value, "off") == 0)
		a->heap_mode = HEAP_OFF;
	else if (strchr(st->value, '%') != NULL) {
		if (parse_percent(st->value, &pct, &why) != 0)
			return why;
		a->heap_mode = HEAP_PERCENT;
		a->heap_pct = pct;
	} else {
		if (parse_size(st->value, &bytes, &why) != 0)
			return "expected off, a percentage like 75% or a size "
			    "like 1536M";
		if (bytes < 16ULL * 1024 * 1024)
			return "must be at least 16M";
		a->heap_mode = HEAP_FIXED;
		a->heap_bytes = bytes;
	}
	return NULL;
}

/* Space-separated relative names: "shared = .env static". */
static const char *
set_words(struct set *st)
{
	const char	*why = NULL;
	char		*copy, *w, *save = NULL;
	size_t		 n;

	if ((copy = strdup(st->value)) == NULL)
		return SET_OOM;
	for (w = strtok_r(copy, " \t", &save); w != NULL && why == NULL;
	    w = strtok_r(NULL, " \t", &save)) {
		n = strlen(w);
		if (w[0] == '/' || strcmp(w, "..") == 0 ||
		    strncmp(w, "../", 3) == 0 || strstr(w, "/../") != NULL ||
		    (n >= 3 && strcmp(w + n - 3, "/..") == 0))
			why = "expected names inside the app's dir (no /, no ..)";
		else if (strv_push(st->field, w) != 0)
			why = SET_OOM;
	}
	free(copy);
	return why;
}

/* A path inside a release. */
static const char *
set_relpath(struct set *st)
{
	const char	*v = st->value;

	if (*v == '\0' || v[0] == '/' || strcmp(v, "..") == 0 ||
	    strncmp(v, "../", 3) == 0 || strstr(v, "/..") != NULL)
		return "expected a path inside the release (no leading /, "
		    "no ..)";
	return store_str(st, v);
}

static const char *
set_profile(struct set *st)
{
	if (profile_parse(st->value, st->field) != 0)
		return "expected none or medusa";
	return NULL;
}

/* A command, or off for none. */
static const char *
set_optcmd(struct set *st)
{
	if (*st->value == '\0')
		return "must not be empty (off: none)";
	if (strcmp(st->value, "off") == 0) {
		free(*(char **)st->field);
		*(char **)st->field = NULL;
		return NULL;
	}
	return store_str(st, st->value);
}

/* off, or the path of an HTTP GET. */
static const char *
set_health(struct set *st)
{
	const char	*p;

	if (strcmp(st->value, "off") == 0) {
		free(*(char **)st->field);
		*(char **)st->field = NULL;
		return NULL;
	}
	if (st->value[0] != '/' || strlen(st->value) > 200)
		return "expected off or a path like /health";
	for (p = st->value; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return "a path must not contain spaces or control "
			    "characters";
	return store_str(st, st->value);
}

/* Each type's setter, and whether a key of it may be given repeatedly
 * (each line adds a value) rather than once. */
static const struct conf_type_def {
	const char	*(*set)(struct set *);
	int		  repeatable;
} conf_types[] = {
	[CT_STR] = { set_str, 0 },
	[CT_PATH] = { set_path, 0 },
	[CT_CMD] = { set_str, 0 },
	[CT_STRV] = { set_strv, 1 },
	[CT_PATHV] = { set_pathv, 1 },
	[CT_ENVV] = { set_envv, 1 },
	[CT_DURATION] = { set_duration, 0 },
	[CT_SIZE] = { set_size, 0 },
	[CT_UINT] = { set_uint, 0 },
	[CT_PORT] = { set_uint, 0 },
	[CT_BOOL] = { set_bool, 0 },
	[CT_AUTOBOOL] = { set_autobool, 0 },
	[CT_RESTART] = { set_restart, 0 },
	[CT_SIGNAL] = { set_signal, 0 },
	[CT_HEAP] = { set_heap, 0 },
	[CT_HEALTH] = { set_health, 0 },
	[CT_USER] = { set_user, 0 },
	[CT_PROFILE] = { set_profile, 0 },
	[CT_OPTCMD] = { set_optcmd, 0 },
	[CT_WORDS] = { set_words, 1 },
	[CT_RELPATH] = { set_relpath, 0 },
	[CT_SWITCH] = { set_switch, 0 },
};
_Static_assert(sizeof(conf_types) / sizeof(conf_types[0]) == CT__COUNT,
    "every conf_type needs a setter");

static int
is_repeatable(enum conf_type t)
{
	return conf_types[t].repeatable;
}

/*
 * Store value for key k into base; on error add it.  The stored text (for
 * canon) goes to *shown when shown is not NULL.
 */
static int
set_value(struct pctx *x, const struct conf_key *k, void *base,
    const char *value, int line, char **shown)
{
	struct set	 st;
	const char	*why;
	char		*old, *n;

	st.x = x;
	st.k = k;
	st.base = base;
	st.field = (char *)base + k->off;
	st.value = st.txt = value;
	st.line = line;
	why = conf_types[k->type].set(&st);
	if (why == SET_OOM)
		goto oom;
	if (why == SET_REPORTED)
		return -1;
	if (why != NULL) {
		errs_add(x->errs, x->file, line, "%s: %s (got '%.100s')",
		    k->name, why, value);
		return -1;
	}
	if (shown != NULL) {
		old = *shown;
		if (old != NULL && is_repeatable(k->type)) {
			if (asprintf(&n, "%s\x1f%s", old, st.txt) < 0)
				goto oom;
		} else if ((n = strdup(st.txt)) == NULL)
			goto oom;
		free(old);
		*shown = n;
	}
	return 0;
oom:
	x->errs->oom = 1;
	return -1;
}

/* --- sections and keys ----------------------------------------------- */

static struct appstate *
app_by_name(struct pctx *x, const char *name)
{
	size_t	i;

	for (i = 0; i < x->n_apps; i++)
		if (strcmp(x->apps[i].a->name, name) == 0)
			return &x->apps[i];
	return NULL;
}

static void
begin_section(struct pctx *x, const char *s, size_t n)
{
	struct appstate	*as, *v;
	struct conf_app	*a;
	char		 name[256];

	x->cur = NULL;
	if (n == 4 && strncmp(s, "tend", 4) == 0) {
		x->scope = SC_TEND;
		return;
	}
	if (n == 5 && strncmp(s, "fleet", 5) == 0) {
		x->scope = SC_BAD;
		if (x->fleet_line != 0) {
			errs_add(x->errs, x->file, x->lineno, "[fleet] twice "
			    "(first at line %d)", x->fleet_line);
			return;
		}
		x->fleet_line = x->lineno;
		x->conf->fleet_on = 1;
		x->scope = SC_FLEET;
		return;
	}
	x->scope = SC_BAD;
	if (n < 5 || strncmp(s, "app:", 4) != 0) {
		errs_add(x->errs, x->file, x->lineno, "unknown section [%.*s] "
		    "(expected [tend], [fleet] or [app:NAME])",
		    (int)(n > 64 ? 64 : n), s);
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(n - 4 > 200 ? 200 : n - 4),
	    s + 4);
	if (!valid_app_name(name)) {
		errs_add(x->errs, x->file, x->lineno, "invalid app name '%s': "
		    "use letters, digits, _ . - (at most %d, not 'all')",
		    name, APP_NAME_MAX);
		return;
	}
	if ((as = app_by_name(x, name)) != NULL) {
		errs_add(x->errs, x->file, x->lineno, "duplicate app %s (first "
		    "defined at line %d)", name, as->a->line);
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->name = strdup(name)) == NULL ||
	    (a->file = strdup(x->file)) == NULL ||
	    (v = reallocarray(x->apps, x->n_apps + 1, sizeof(*v))) == NULL) {
		if (a != NULL) {
			free(a->name);
			free(a->file);
		}
		free(a);
		x->errs->oom = 1;
		return;
	}
	a->line = x->lineno;
	x->apps = v;
	as = &x->apps[x->n_apps++];
	memset(as, 0, sizeof(*as));
	as->a = a;
	x->cur = as;
	x->scope = SC_APP;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct pctx		*x = user;
	const struct conf_key	*tab, *k;
	const char		*sug;
	int			*lines;
	void			*base;
	size_t			 i;
	char			 scope[96];
	unsigned long		 idx;

	if (value != NULL && value[0] == STASH_MARK) {
		idx = strtoul(value + 1, NULL, 10);
		value = idx < x->n_stash ? x->stash[idx] : "";
	}
	switch (x->scope) {
	case SC_NONE:
		errs_add(x->errs, x->file, x->lineno, "%s outside any section "
		    "(start with [tend] or [app:NAME])", name);
		return 1;
	case SC_BAD:
		return 1;	/* the section was reported already */
	case SC_TEND:
		tab = conf_tend_keys;
		lines = x->tend_lines;
		base = x->conf;
		snprintf(scope, sizeof(scope), "[tend]");
		break;
	case SC_FLEET:
		tab = conf_fleet_keys;
		lines = x->fleet_lines;
		base = x->conf;
		snprintf(scope, sizeof(scope), "[fleet]");
		break;
	default:
		tab = conf_app_keys;
		lines = x->cur->lines;
		base = x->cur->a;
		snprintf(scope, sizeof(scope), "[app:%s]", x->cur->a->name);
		break;
	}
	for (i = 0, k = NULL; tab[i].name != NULL; i++)
		if (strcmp(tab[i].name, name) == 0) {
			k = &tab[i];
			break;
		}
	if (k == NULL) {
		if ((sug = suggest(tab, name)) != NULL)
			errs_add(x->errs, x->file, x->lineno, "unknown key '%.64s' "
			    "in %s; did you mean '%s'?", name, scope, sug);
		else
			errs_add(x->errs, x->file, x->lineno, "unknown key '%.64s' "
			    "in %s", name, scope);
		return 1;
	}
	if (lines[i] != 0 && !is_repeatable(k->type)) {
		errs_add(x->errs, x->file, x->lineno, "%s set twice in %s (first "
		    "at line %d)", name, scope, lines[i]);
		return 1;
	}
	lines[i] = x->lineno;
	set_value(x, k, base, value, x->lineno,
	    x->scope == SC_APP ? &x->cur->raw[i] : NULL);
	return 1;
}

/* --- the reader --------------------------------------------------------- */

static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Our value-splitting for a line inih cannot hold, following inih's rules:
 * split at the first '=' or ':', strip a ';' comment after whitespace. */
static int
stash_line(struct pctx *x, const char *p, size_t n, char *out, int num)
{
	const char	*sep, *ks, *ke, *vs, *ve, *c;
	char		*v, **ns;
	size_t		 kn;

	for (sep = p; sep < p + n && *sep != '=' && *sep != ':'; sep++)
		;
	ks = p;
	for (ke = sep; ke > ks && blank(ke[-1]); ke--)
		;
	kn = (size_t)(ke - ks);
	for (vs = sep + 1; vs < p + n && blank(*vs); vs++)
		;
	ve = p + n;
	for (c = vs; c < ve; c++)
		if (*c == ';' && c > vs && blank(c[-1])) {
			ve = c;
			break;
		}
	while (ve > vs && blank(ve[-1]))
		ve--;
	if (kn + 24 >= (size_t)num) {
		errs_add(x->errs, x->file, x->lineno, "key too long");
		snprintf(out, (size_t)num, "\n");
		return 0;
	}
	if ((v = strndup(vs, (size_t)(ve - vs))) == NULL ||
	    (ns = reallocarray(x->stash, x->n_stash + 1, sizeof(*ns))) == NULL) {
		free(v);
		x->errs->oom = 1;
		snprintf(out, (size_t)num, "\n");
		return 0;
	}
	x->stash = ns;
	x->stash[x->n_stash] = v;
	snprintf(out, (size_t)num, "%.*s=%c%zu\n", (int)kn, ks, STASH_MARK,
	    x->n_stash);
	x->n_stash++;
	return 0;
}

static char *
reader(char *out, int num, void *stream)
{
	struct pctx	*x = stream;
	const char	*p, *nl, *q, *e;
	size_t		 n;

	if (x->pos >= x->len)
		return NULL;
	p = x->buf + x->pos;
	nl = memchr(p, '\n', x->len - x->pos);
	n = nl != NULL ? (size_t)(nl - p) : x->len - x->pos;
	x->pos += n + (nl != NULL);
	x->lineno++;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	/* A UTF-8 BOM on the first line is harmless. */
	if (x->lineno == 1 && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		n -= 3;
	}
	snprintf(out, (size_t)num, "\n");
	if (n > CONF_MAX_LINE) {
		errs_add(x->errs, x->file, x->lineno, "line too long (%zu bytes, "
		    "limit %d)", n, CONF_MAX_LINE);
		return out;
	}
	for (q = p; q < p + n && blank(*q); q++)
		;
	if (q == p + n || *q == ';' || *q == '#')
		return out;		/* blank or comment */
	if (q != p) {
		errs_add(x->errs, x->file, x->lineno, "continuation lines are "
		    "not supported; put the value on one line");
		return out;
	}
	if (*p == '[') {
		for (e = p + n; e > p && blank(e[-1]); e--)
			;
		/* "[app:x] ; comment" */
		{
			const char *rb = memchr(p, ']', n);

			if (rb != NULL) {
				const char *r = rb + 1;

				while (r < p + n && blank(*r))
					r++;
				if (r == p + n || *r == ';' || *r == '#')
					e = rb + 1;
			}
		}
		if (e - p < 2 || e[-1] != ']') {
			errs_add(x->errs, x->file, x->lineno, "expected [section]");
			x->scope = SC_BAD;
			return out;
		}
		begin_section(x, p + 1, (size_t)(e - p - 2));
		return out;
	}
	if (memchr(p, '=', n) == NULL && memchr(p, ':', n) == NULL) {
		errs_add(x->errs, x->file, x->lineno, "expected key = value or "
		    "[section]");
		return out;
	}
	if (memchr(p, STASH_MARK, n) != NULL) {
		errs_add(x->errs, x->file, x->lineno, "control character in line");
		return out;
	}
	if (n + 3 > (size_t)num || n > INIH_ROOM) {
		stash_line(x, p, n, out, num);
		return out;
	}
	memcpy(out, p, n);
	out[n] = '\n';
	out[n + 1] = '\0';
	return out;
}

/* --- after parsing ------------------------------------------------------ */

/* Keys left out take the profile's value, else the table's. */
/* The settings of a release group's leader alone (deploys, migrations,
 * nginx): a follower takes the leader's. */
static int
leader_key(const char *k)
{
	static const char *const keys[] = {
		"repo", "branch", "shared", "build", "build_timeout",
		"reuse_dependencies",
		"start_dir", "migrate", "migrate_timeout",
		"backup_before_migrate", "backup_keep", "create_database",
		"nginx_upstream", "nginx_test", "nginx_reload", "port_offset",
		"drain_timeout", "keep_releases", "nginx_switch", NULL
	};
	size_t	i;

	for (i = 0; keys[i] != NULL; i++)
		if (strcmp(k, keys[i]) == 0)
			return 1;
	return 0;
}

static size_t
key_index(const char *k)
{
	size_t	i;

	for (i = 0; conf_app_keys[i].name != NULL; i++)
		if (strcmp(conf_app_keys[i].name, k) == 0)
			return i;
	return 0;
}

static void
apply_defaults(struct pctx *x, const struct conf_key *tab, void *base,
    int *lines, char **raw, enum profile prof)
{
	const char	*d;
	size_t		 i;

	for (i = 0; tab[i].name != NULL; i++) {
		if (lines[i] != 0)
			continue;
		/* A follower's release settings are its leader's. */
		if (tab == conf_app_keys &&
		    ((struct conf_app *)base)->follows != NULL &&
		    leader_key(tab[i].name))
			continue;
		if ((d = profile_default(prof, tab[i].name)) == NULL)
			d = tab[i].dflt;
		if (d == NULL)
			continue;
		set_value(x, &tab[i], base, d, 0,
		    raw != NULL ? &raw[i] : NULL);
	}
}

static int
canon(struct appstate *as)
{
	char	*s = NULL, *n;
	size_t	 i;

	for (i = 0; conf_app_keys[i].name != NULL; i++) {
		if (asprintf(&n, "%s%s=%s\n", s ? s : "", conf_app_keys[i].name,
		    as->raw[i] ? as->raw[i] : "") < 0) {
			free(s);
			return -1;
		}
		free(s);
		s = n;
	}
	as->a->canon = s;
	return 0;
}

static void
check_app(struct pctx *x, struct appstate *as)
{
	struct conf_app	*a = as->a;

	if (a->command == NULL)
		errs_add(x->errs, x->file, a->line, "[app:%s] needs a command",
		    a->name);
	if (a->dir == NULL && a->follows == NULL)
		errs_add(x->errs, x->file, a->line, "[app:%s] needs a dir",
		    a->name);
	if (a->health != NULL && a->port == 0)
		errs_add(x->errs, x->file, a->line, "[app:%s]: health needs "
		    "port", a->name);
	if (a->port != 0 && a->port + a->instances - 1 > 65535)
		errs_add(x->errs, x->file, a->line, "[app:%s]: ports %u to %u "
		    "go past 65535", a->name, a->port,
		    a->port + a->instances - 1);
	if (a->nginx_upstream != NULL && a->port == 0)
		errs_add(x->errs, x->file, a->line, "[app:%s]: nginx_upstream "
		    "needs port", a->name);
	if (a->nginx_upstream != NULL && a->port + a->port_offset +
	    a->instances - 1 > 65535)
		errs_add(x->errs, x->file, a->line, "[app:%s]: the second port "
		    "set (port + port_offset) goes past 65535", a->name);
	if (a->nginx_upstream != NULL && a->port_offset < a->instances)
		errs_add(x->errs, x->file, a->line, "[app:%s]: port_offset %u is "
		    "smaller than instances: the two port sets would overlap",
		    a->name, a->port_offset);
	if (a->restart_delay_max < a->restart_delay)
		errs_add(x->errs, x->file, a->line, "[app:%s]: restart_delay_max "
		    "is below restart_delay", a->name);
}

/*
 * Release groups: a follower runs from its leader's releases (its dir and
 * start_dir) and has no release settings of its own; its leader deploys
 * from a repo and follows nobody.
 */
static void
check_follows(struct pctx *x)
{
	struct conf_app	*a, *l;
	size_t		 i, j, k;

	for (i = 0; i < x->n_apps; i++) {
		a = x->apps[i].a;
		if (a->follows == NULL)
			continue;
		for (l = NULL, j = 0; j < x->n_apps; j++)
			if (strcmp(x->apps[j].a->name, a->follows) == 0)
				l = x->apps[j].a;
		if (l == NULL || l == a) {
			errs_add(x->errs, x->file, x->apps[i].lines[key_index(
			    "follows")], "[app:%s]: follows %s: %s", a->name,
			    a->follows, l == a ? "an app cannot follow itself" :
			    "no such app");
			continue;
		}
		if (l->follows != NULL || l->repo == NULL) {
			errs_add(x->errs, x->file, x->apps[i].lines[key_index(
			    "follows")], "[app:%s]: follows %s, which %s", a->name,
			    a->follows, l->follows != NULL ? "follows another "
			    "app itself" : "has no repo to deploy from");
			continue;
		}
		for (k = 0; conf_app_keys[k].name != NULL; k++)
			if (x->apps[i].lines[k] != 0 &&
			    leader_key(conf_app_keys[k].name))
				errs_add(x->errs, x->file, x->apps[i].lines[k],
				    "[app:%s]: %s comes from %s, the app it "
				    "follows", a->name, conf_app_keys[k].name,
				    l->name);
		if (a->dir != NULL && l->dir != NULL && strcmp(a->dir, l->dir) != 0)
			errs_add(x->errs, x->file, x->apps[i].lines[key_index(
			    "dir")], "[app:%s]: dir is %s's (%s), the app it "
			    "follows", a->name, l->name, l->dir);
		free(a->dir);
		free(a->start_dir);
		a->dir = l->dir != NULL ? strdup(l->dir) : NULL;
		a->start_dir = l->start_dir != NULL ? strdup(l->start_dir) : NULL;
		if ((l->dir != NULL && a->dir == NULL) ||
		    (l->start_dir != NULL && a->start_dir == NULL))
			x->errs->oom = 1;
	}
}

static void
check_ports(struct pctx *x)
{
	size_t	i, j;

	for (i = 0; i < x->n_apps; i++)
		for (j = i + 1; j < x->n_apps; j++) {
			struct conf_app *a = x->apps[i].a, *b = x->apps[j].a;

			unsigned sa, sb, ia, ib;

			if (a->port == 0 || b->port == 0)
				continue;
			/* With nginx_upstream each app has two port sets. */
			for (sa = 0; sa < (a->nginx_upstream ? 2u : 1u); sa++)
				for (sb = 0; sb < (b->nginx_upstream ? 2u : 1u); sb++) {
					ia = a->port + sa * a->port_offset;
					ib = b->port + sb * b->port_offset;
					if (ia <= ib + b->instances - 1 &&
					    ib <= ia + a->instances - 1) {
						errs_add(x->errs, x->file, b->line,
						    "[app:%s]: ports overlap those of "
						    "app %s (line %d)", b->name,
						    a->name, a->line);
						sa = sb = 2;
					}
				}
		}
}

int
fleet_host_valid(const char *s)
{
	size_t	n = strlen(s);

	if (n == 0 || n > FLEET_HOST_MAX ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != n)
		return 0;
	return 1;
}

/*
 * [fleet]: database is required and must be a PostgreSQL URL; its errors
 * never quote it (it holds a password).  host defaults to the hostname.
 */
static int
fleet_line(struct pctx *x, const char *key)
{
	size_t	i;

	for (i = 0; conf_fleet_keys[i].name != NULL; i++)
		if (strcmp(conf_fleet_keys[i].name, key) == 0)
			return x->fleet_lines[i] ? x->fleet_lines[i] :
			    x->fleet_line;
	return x->fleet_line;
}

static void
check_fleet(struct pctx *x)
{
	struct conf	*c = x->conf;
	struct pg_url	*u;
	char		 why[256], host[256];

	if (c->fleet_database == NULL)
		errs_add(x->errs, x->file, x->fleet_line, "[fleet] needs "
		    "database = (a postgresql:// URL for tend's own schema)");
	else if ((u = calloc(1, sizeof(*u))) == NULL)
		x->errs->oom = 1;
	else {
		if (pg_url_parse(c->fleet_database, u, why, sizeof(why)) != 0)
			errs_add(x->errs, x->file, fleet_line(x, "database"),
			    "database: %s", why);
		explicit_bzero(u, sizeof(*u));
		free(u);
	}
	if (c->fleet_host == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		if ((c->fleet_host = strdup(host)) == NULL)
			x->errs->oom = 1;
	}
	if (c->fleet_host != NULL && !fleet_host_valid(c->fleet_host))
		errs_add(x->errs, x->file, fleet_line(x, "host"), "host '%.64s' "
		    "is not a valid name (letters, digits, . _ -, at most %d; "
		    "set host =)", c->fleet_host, FLEET_HOST_MAX);
	if (c->fleet_on_lost != NULL && strcmp(c->fleet_on_lost, "stop") != 0 &&
	    strcmp(c->fleet_on_lost, "skip") != 0)
		errs_add(x->errs, x->file, fleet_line(x, "on_lost"), "on_lost: expected "
		    "stop or skip (got '%.32s')", c->fleet_on_lost);
}

static void
conf_app_free(struct conf_app *a)
{
	if (a == NULL)
		return;
	free(a->name);
	free(a->file);
	free(a->dir);
	strv_free(&a->env_files);
	strv_free(&a->envs);
	free(a->user);
	free(a->group);
	free(a->command);
	free(a->health);
	free(a->health_body);
	free(a->canon);
	free(a->migrate);
	free(a->backup_dir);
	free(a->repo);
	free(a->follows);
	free(a->branch);
	strv_free(&a->shared);
	free(a->build);
	free(a->start_dir);
	free(a->nginx_upstream);
	free(a->nginx_test);
	free(a->nginx_reload);
	free(a);
}

void
conf_free(struct conf *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n_apps; i++)
		conf_app_free(c->apps[i]);
	free(c->apps);
	free(c->path);
	free(c->socket);
	free(c->socket_group);
	free(c->state_dir);
	free(c->log_dir);
	free(c->fleet_database);
	free(c->fleet_host);
	free(c->fleet_on_lost);
	free(c->fleet_user);
	free(c->metrics_file);
	free(c);
}

struct conf *
conf_parse(const char *buf, size_t len, const char *path, struct errs *errs)
{
	struct pctx	 x;
	struct conf	*c;
	size_t		 i, j;
	char		*slash, cwd[PATH_MAX];
	int		 nerr = (int)errs->n;

	memset(&x, 0, sizeof(x));
	x.file = path;
	x.buf = buf;
	x.len = len;
	x.errs = errs;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		errs->oom = 1;
		return NULL;
	}
	x.conf = c;
	if (path[0] == '/')
		c->path = resolve_path("/", path);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		c->path = resolve_path(cwd, path);
	if (c->path == NULL) {
		errs->oom = 1;
		conf_free(c);
		return NULL;
	}
	if ((x.dir = strdup(c->path)) == NULL) {
		errs->oom = 1;
		conf_free(c);
		return NULL;
	}
	if ((slash = strrchr(x.dir, '/')) != NULL)
		slash[slash == x.dir ? 1 : 0] = '\0';

	if (memchr(buf, '\0', len) != NULL)
		errs_add(errs, path, 0, "contains a NUL byte");
	else
		ini_parse_stream(reader, &x, handler, &x);

	apply_defaults(&x, conf_tend_keys, c, x.tend_lines, NULL, PROFILE_NONE);
	for (i = 0; i < x.n_apps; i++) {
		apply_defaults(&x, conf_app_keys, x.apps[i].a, x.apps[i].lines,
		    x.apps[i].raw, x.apps[i].a->profile);
		check_app(&x, &x.apps[i]);
		if (canon(&x.apps[i]) != 0)
			errs->oom = 1;
	}
	if (c->fleet_on) {
		apply_defaults(&x, conf_fleet_keys, c, x.fleet_lines, NULL,
		    PROFILE_NONE);
		check_fleet(&x);
	}
	check_follows(&x);
	check_ports(&x);

	if ((c->apps = calloc(x.n_apps + 1, sizeof(*c->apps))) == NULL)
		errs->oom = 1;
	for (i = 0; i < x.n_apps; i++) {
		if (c->apps != NULL)
			c->apps[c->n_apps++] = x.apps[i].a;
		else
			conf_app_free(x.apps[i].a);
		for (j = 0; j < N_APP_KEYS; j++)
			free(x.apps[i].raw[j]);
	}
	free(x.apps);
	for (i = 0; i < x.n_stash; i++)
		free(x.stash[i]);
	free(x.stash);
	free(x.dir);
	if ((int)errs->n > nerr || errs->oom) {
		conf_free(c);
		return NULL;
	}
	return c;
}

struct conf *
conf_load(const char *path, struct errs *errs)
{
	struct stat	 st;
	struct conf	*c;
	char		*buf;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		errs_add(errs, path, 0, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		errs_add(errs, path, 0, "not a regular file");
		close(fd);
		return NULL;
	}
	if (st.st_size > CONF_MAX_SIZE) {
		errs_add(errs, path, 0, "too large (%lld bytes, limit %d)",
		    (long long)st.st_size, CONF_MAX_SIZE);
		close(fd);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		errs->oom = 1;
		close(fd);
		return NULL;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			errs_add(errs, path, 0, "%s", strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	c = conf_parse(buf, off, path, errs);
	free(buf);
	return c;
}

struct conf_app *
conf_find_app(const struct conf *c, const char *name)
{
	size_t	i;

	for (i = 0; i < c->n_apps; i++)
		if (strcmp(c->apps[i]->name, name) == 0)
			return c->apps[i];
	return NULL;
}

static int
name_exists(const char *s, int user)
{
	char	*end;

	strtoul(s, &end, 10);
	if (*end == '\0' && end != s)
		return 1;	/* numeric ids need no entry */
	return user ? getpwnam(s) != NULL : getgrnam(s) != NULL;
}

void
conf_check_env(const struct conf *c, struct errs *errs, struct errs *warns,
    struct errs *rules, conf_env_loader load, void *arg)
{
	struct stat	 st;
	struct env	 env;
	struct errs	 pe, pw;
	size_t		 i, j;

	if (c->socket_group != NULL && !name_exists(c->socket_group, 0))
		errs_add(errs, c->path, 0, "socket_group %s: no such group",
		    c->socket_group);
	for (i = 0; i < c->n_apps; i++) {
		const struct conf_app *a = c->apps[i];

		/* A deployed app's dir is made by its first deploy. */
		if (stat(a->dir, &st) != 0 && ((a->repo == NULL &&
		    a->follows == NULL) || errno != ENOENT))
			errs_add(errs, a->file, a->line, "[app:%s]: dir %s: %s",
			    a->name, a->dir, strerror(errno));
		else if (stat(a->dir, &st) == 0 && !S_ISDIR(st.st_mode))
			errs_add(errs, a->file, a->line, "[app:%s]: dir %s: not "
			    "a directory", a->name, a->dir);
		if (a->user != NULL && !name_exists(a->user, 1))
			errs_add(errs, a->file, a->line, "[app:%s]: user %s does "
			    "not exist", a->name, a->user);
		if (a->group != NULL && !name_exists(a->group, 0))
			errs_add(errs, a->file, a->line, "[app:%s]: group %s does "
			    "not exist", a->name, a->group);
		/* Without a loader the env is the app's own business: each
		 * start reads it and fails that app alone. */
		for (j = 0; load != NULL && j < a->env_files.n; j++) {
			/* Secrets live there: the docs of every Node framework
			 * say chmod 600, and so do we. */
			if (warns != NULL && stat(a->env_files.v[j], &st) == 0 &&
			    (st.st_mode & S_IROTH))
				errs_add(warns, a->env_files.v[j], 0, "warning: "
				    "readable by every user of this machine (it "
				    "holds secrets): chmod 600 %s",
				    a->env_files.v[j]);
		}
		if (load == NULL)
			continue;
		env_init(&env);
		if (load(a, &env, errs, arg) == 0 && a->profile != PROFILE_NONE) {
			errs_init(&pe);
			errs_init(&pw);
			profile_check(a->profile, &env, &pe, &pw);
			for (j = 0; j < pe.n; j++)
				errs_add(rules != NULL ? rules : errs, a->file,
				    a->line, "[app:%s]: profile %s: %s", a->name,
				    profile_names[a->profile], pe.msg[j]);
			for (j = 0; warns != NULL && j < pw.n; j++)
				errs_add(warns, a->file, a->line, "[app:%s]: "
				    "profile %s: warning: %s", a->name,
				    profile_names[a->profile], pw.msg[j]);
			errs_free(&pe);
			errs_free(&pw);
		}
		env_free(&env);
	}
}
