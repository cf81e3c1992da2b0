/*
 * profile.c: what tend knows about a kind of app.  A profile gives
 * defaults for keys an [app:] section leaves out, and rules checked
 * against the app's environment before every start (and by tendctl check
 * and tendd -t).  A broken rule names the variable and says why; it never
 * prints the value.  Errors stop a start; warnings are shown and logged.
 *
 * "none" (the default) has no rules.  "medusa" encodes Medusa v2's
 * production checklist: the variables medusa-config reads, secrets that
 * are not the starters' placeholders, production mode, CORS lists of
 * origins a browser can match, a Redis in production, one worker per
 * database and a server that leads its group; the admin build a release
 * must hold; and the lines a running Medusa prints when it fell back to
 * in-memory modules.
 *
 * What the rules rely on (Medusa's docs and starters, v2):
 *   - medusa-config reads the role from MEDUSA_WORKER_MODE (deployment
 *     guides; the "Worker Mode" chapter calls it WORKER_MODE, read when
 *     the first is unset); unset, Medusa runs "shared".  "worker" and
 *     "shared" run scheduled jobs and subscribers, "worker" serves no
 *     API routes and no admin.
 *   - The admin is disabled by admin.disable, which the documented
 *     configs set from DISABLE_MEDUSA_ADMIN === "true" (deployment
 *     guides) or ADMIN_DISABLED === "true" (the "Worker Mode" chapter):
 *     exactly "true".  Enabled, `medusa start` needs
 *     public/admin/index.html in .medusa/server, or it stops with
 *     "Could not find index.html in the admin build directory".
 *   - The Redis modules take their URLs from CACHE_REDIS_URL (caching),
 *     EVENTS_REDIS_URL (event bus), WE_REDIS_URL (workflow engine) and
 *     LOCKING_REDIS_URL (locking), besides projectConfig.redisUrl's
 *     REDIS_URL.
 *   - create-medusa-app's .env and medusa-config's fallbacks use
 *     "supersecret"; the v1 starter's .env.template "something".
 *   - CORS lists are split on ',' and compared as they are (no trim)
 *     with the browser's Origin, which is scheme://host[:port]: no
 *     path, no trailing '/'.  An entry between delimiters (/.../) is a
 *     regular expression.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tend.h"

/* Secrets shorter than this can be brute-forced from a stolen cookie or
 * token; 32 characters is what `openssl rand -hex 16` gives. */
#define SECRET_MIN	32

const char *const profile_names[PROFILE__COUNT] = {
	[PROFILE_NONE] = "none",
	[PROFILE_MEDUSA] = "medusa",
};

struct pdefault {
	enum profile	 profile;
	const char	*key;
	const char	*value;
};

static const struct pdefault defaults[] = {
	{ PROFILE_MEDUSA, "command", "npx medusa start" },
	{ PROFILE_MEDUSA, "migrate", "npx medusa db:migrate" },
	{ PROFILE_MEDUSA, "health", "/health" },
	{ PROFILE_MEDUSA, "port", "9000" },
	/* Boot takes 2-5 s, migrations are separate; a cold cache more. */
	{ PROFILE_MEDUSA, "ready_timeout", "120s" },
	{ PROFILE_MEDUSA, "heap", "75%" },
	{ PROFILE_MEDUSA, "kill_timeout", "15s" },
	/* Medusa's build output is a server of its own, with its own
	 * dependencies: docs.medusajs.com, "Deploy": build, then
	 * cd .medusa/server && npm install, and run it from there.  Both
	 * installs go through tend_deps (release.c): a release whose
	 * lockfiles did not change copies the live one's node_modules. */
	{ PROFILE_MEDUSA, "build",
	  "tend_deps . npm ci --include=dev && npx medusa build && "
	  "tend_deps .medusa/server npm install" },
	{ PROFILE_MEDUSA, "start_dir", ".medusa/server" },
	{ PROFILE_MEDUSA, "shared", ".env" },
	{ PROFILE_NONE, NULL, NULL }
};

int
profile_parse(const char *s, enum profile *p)
{
	int	i;

	for (i = 0; i < PROFILE__COUNT; i++)
		if (strcmp(s, profile_names[i]) == 0) {
			*p = (enum profile)i;
			return 0;
		}
	return -1;
}

/* The profile's value for key, or NULL: the table's default applies. */
const char *
profile_default(enum profile p, const char *key)
{
	const struct pdefault	*d;

	for (d = defaults; d->key != NULL; d++)
		if (d->profile == p && strcmp(d->key, key) == 0)
			return d->value;
	return NULL;
}

/* Placeholders the starters ship for JWT_SECRET and COOKIE_SECRET. */
static const char *const placeholders[] = { "supersecret", "something", NULL };

const char *const profile_redis_vars[] = {
	"REDIS_URL", "CACHE_REDIS_URL", "EVENTS_REDIS_URL", "WE_REDIS_URL",
	"LOCKING_REDIS_URL", NULL
};

static int
set(const struct env *e, const char *key)
{
	const char	*v = env_get(e, key);

	return v != NULL && *v != '\0';
}

/* --- the role: MEDUSA_WORKER_MODE ----------------------------------- */

enum wmode { WM_UNSET, WM_SERVER, WM_WORKER, WM_SHARED, WM_BAD };

/* The mode the app runs in, and the variable that says so. */
static enum wmode
medusa_mode(const struct env *e, const char **var)
{
	const char	*v;

	*var = "MEDUSA_WORKER_MODE";
	if (!set(e, *var)) {
		if (!set(e, "WORKER_MODE"))
			return WM_UNSET;
		*var = "WORKER_MODE";
	}
	v = env_get(e, *var);
	if (strcmp(v, "server") == 0)
		return WM_SERVER;
	if (strcmp(v, "worker") == 0)
		return WM_WORKER;
	if (strcmp(v, "shared") == 0)
		return WM_SHARED;
	return WM_BAD;
}

/* Scheduled jobs and subscribers run here (unset: Medusa's "shared"). */
static int
runs_jobs(enum wmode m)
{
	return m == WM_WORKER || m == WM_SHARED || m == WM_UNSET;
}

/* The database of DATABASE_URL as "host port db", loopback spellings
 * and the default socket as one; -1 when it does not parse. */
static int
db_ident(const struct env *e, char *buf, size_t len)
{
	static const char *const local[] = {
		"", "localhost", "127.0.0.1", "::1", "/run/postgresql",
		"/var/run/postgresql", "/tmp", NULL
	};
	struct pg_url	 u;
	const char	*v = env_get(e, "DATABASE_URL"), *host;
	char		 why[128];
	int		 i, n;

	if (v == NULL || *v == '\0' || pg_url_parse(v, &u, why,
	    sizeof(why)) != 0)
		return -1;
	host = u.host;
	for (i = 0; local[i] != NULL; i++)
		if (strcmp(u.host, local[i]) == 0)
			host = "local";
	n = snprintf(buf, len, "%s %s %s", host, *u.port ? u.port : "5432",
	    *u.db ? u.db : u.user);
	memset(&u, 0, sizeof(u));	/* it held the password */
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* A Medusa: of the profile, or following a leader that is (a worker
 * app of the group may leave the profile out). */
static int
peer_medusa(const struct profile_peer *peers, size_t n,
    const struct profile_peer *p)
{
	size_t	i;

	if (p->profile == PROFILE_MEDUSA)
		return 1;
	if (p->follows == NULL || *p->follows == '\0')
		return 0;
	for (i = 0; i < n; i++)
		if (strcmp(peers[i].name, p->follows) == 0)
			return peers[i].profile == PROFILE_MEDUSA;
	return 0;
}

void
profile_ctx_make(struct profile_ctx *ctx, const struct profile_peer *peers,
    size_t n, size_t self)
{
	const struct profile_peer *me = &peers[self], *p;
	const char	*var;
	char		 mine[512], theirs[512];
	int		 have_db;
	size_t		 i;

	memset(ctx, 0, sizeof(*ctx));
	ctx->role = me->follows != NULL && *me->follows != '\0' ?
	    PROFILE_FOLLOWER : PROFILE_STANDALONE;
	ctx->has_port = me->port != 0;
	ctx->instances = me->instances;
	have_db = me->env != NULL && db_ident(me->env, mine, sizeof(mine)) == 0;
	for (i = 0; i < n; i++) {
		if (i == self)
			continue;
		p = &peers[i];
		if (p->follows != NULL && strcmp(p->follows, me->name) == 0) {
			if (ctx->role == PROFILE_STANDALONE)
				ctx->role = PROFILE_LEADER;
			if (p->port == 0 || (p->env != NULL &&
			    medusa_mode(p->env, &var) == WM_WORKER))
				ctx->worker_followers++;
		}
		if (have_db && p->env != NULL && peer_medusa(peers, n, p) &&
		    runs_jobs(medusa_mode(p->env, &var)) &&
		    db_ident(p->env, theirs, sizeof(theirs)) == 0 &&
		    strcmp(mine, theirs) == 0)
			ctx->same_db_workers += p->instances > 0 ?
			    p->instances : 1;
	}
}

static void
medusa_roles(const struct env *e, const struct profile_ctx *ctx,
    struct errs *errs, struct errs *warns)
{
	const char	*var;
	enum wmode	 m = medusa_mode(e, &var);

	if (m == WM_BAD)
		errs_add(errs, NULL, 0, "%s is not server, worker or shared: "
		    "Medusa would serve the API and run no scheduled jobs or "
		    "subscribers", var);
	if (ctx == NULL || m == WM_BAD)
		return;
	if (ctx->role == PROFILE_LEADER && ctx->worker_followers > 0) {
		if (m == WM_WORKER)
			errs_add(errs, NULL, 0, "%s makes this app a worker, but "
			    "it leads a release group with a worker: the API "
			    "would not be served; set it to server", var);
		else if (m != WM_SERVER)
			errs_add(errs, NULL, 0, "%s is %s, but this app leads a "
			    "release group with a worker: scheduled jobs would "
			    "run twice; set it to server", var,
			    m == WM_UNSET ? "not set (Medusa then runs shared)" :
			    "shared");
	}
	if (ctx->role == PROFILE_FOLLOWER && !ctx->has_port && m != WM_WORKER)
		errs_add(errs, NULL, 0, "this app follows its group's leader "
		    "without a port, so it is the group's worker, but %s %s; "
		    "set it to worker", var, m == WM_SERVER ? "makes it a "
		    "server: no scheduled jobs or subscribers would run" :
		    m == WM_UNSET ? "is not set (Medusa then runs shared): it "
		    "would run the API as well" : "is shared: it would run the "
		    "API as well");
	if (!runs_jobs(m))
		return;
	if (ctx->same_db_workers > 0)
		errs_add(warns, NULL, 0, "%u instance%s of other medusa apps on "
		    "the same database (DATABASE_URL's host, port and "
		    "database) run the worker too (%s worker or shared, the "
		    "default): scheduled jobs run more than once; keep one "
		    "worker and make the others server", ctx->same_db_workers,
		    ctx->same_db_workers == 1 ? "" : "s", var);
	if (ctx->instances > 1)
		errs_add(warns, NULL, 0, "instances is %u and %s runs the worker "
		    "(worker or shared, the default) in each: scheduled jobs "
		    "run %u times; run one worker app and these as server",
		    ctx->instances, var, ctx->instances);
}

/* --- CORS lists ------------------------------------------------------ */

/* An entry Medusa takes as a regular expression: /re/flags, or with one
 * of ~@;%#' as the delimiter (buildRegexpIfValid). */
static int
cors_regex(const char *p, size_t n)
{
	size_t	i;

	if (n < 2 || strchr("/~@;%#'", p[0]) == NULL)
		return 0;
	for (i = n - 1; i > 0 && strchr("gimsuy", p[i]) != NULL; i--)
		;
	return i > 0 && p[i] == p[0];
}

/* Each entry of a comma-separated list of origins: what is wrong with
 * the first bad one (by position, never by value). */
static void
cors_check(const char *var, const char *v, int prod, struct errs *errs,
    struct errs *warns)
{
	const char	*p, *host = NULL, *why;
	size_t		 n, k;
	unsigned	 item = 0;
	int		 starter = 0;

	for (p = v;; p += n + 1) {
		n = strcspn(p, ",");
		item++;
		why = NULL;
		host = NULL;
		if (n == 0)
			;	/* a stray comma: matches nothing, harms nothing */
		else if (memchr(p, '*', n) != NULL || cors_regex(p, n))
			;	/* a wildcard (see below) or a regex */
		else if (strcspn(p, " \t\r\n") < n)
			why = "contains white space, which Medusa keeps: no "
			    "browser's Origin matches it";
		else if (n >= 8 && strncmp(p, "https://", 8) == 0)
			host = p + 8;
		else if (n >= 7 && strncmp(p, "http://", 7) == 0)
			host = p + 7;
		else
			why = "has no http:// or https:// scheme: a browser's "
			    "Origin always has one";
		if (why == NULL && host != NULL) {
			k = (size_t)(p + n - host);
			if (k > 0 && host[k - 1] == '/')
				why = "ends with '/': a browser's Origin never "
				    "does (https://shop.example.com)";
			else if (k == 0 || memchr(host, '/', k) != NULL)
				why = "is not an origin (scheme://host[:port], "
				    "no path)";
			else if (memmem(host, k, "docs.medusajs.com", 17) !=
			    NULL || memmem(host, k, "-medusajs.vercel.app",
			    20) != NULL)
				starter = 1;
		}
		if (why != NULL) {
			errs_add(errs, NULL, 0, "%s: entry %u %s", var, item, why);
			return;
		}
		if (p[n] == '\0')
			break;
	}
	if (prod && starter)
		errs_add(warns, NULL, 0, "%s still lists the starter's "
		    "Medusa documentation origins: list only your own", var);
}

/* --- the rules -------------------------------------------------------- */

static void
medusa_check(const struct env *e, const struct profile_ctx *ctx,
    struct errs *errs, struct errs *warns)
{
	static const char *const required[] = {
		"DATABASE_URL", "JWT_SECRET", "COOKIE_SECRET", "STORE_CORS",
		"ADMIN_CORS", "AUTH_CORS", NULL
	};
	static const char *const secrets[] = {
		"JWT_SECRET", "COOKIE_SECRET", NULL
	};
	static const char *const cors[] = {
		"STORE_CORS", "ADMIN_CORS", "AUTH_CORS", NULL
	};
	const char	*v, *mode;
	int		 i, j, prod, redis;

	for (i = 0; required[i] != NULL; i++)
		if (!set(e, required[i]))
			errs_add(errs, NULL, 0, "%s is not set (medusa needs it)",
			    required[i]);
	for (i = 0; secrets[i] != NULL; i++) {
		if (!set(e, secrets[i]))
			continue;
		v = env_get(e, secrets[i]);
		for (j = 0; placeholders[j] != NULL; j++)
			if (strcasecmp(v, placeholders[j]) == 0)
				break;
		if (placeholders[j] != NULL)
			errs_add(errs, NULL, 0, "%s is the starter's example "
			    "value: generate one with openssl rand -hex 32",
			    secrets[i]);
		else if (strlen(v) < SECRET_MIN)
			errs_add(errs, NULL, 0, "%s is %zu characters; use at "
			    "least %d (openssl rand -hex 32)", secrets[i],
			    strlen(v), SECRET_MIN);
	}
	if (set(e, "JWT_SECRET") && set(e, "COOKIE_SECRET") &&
	    strcmp(env_get(e, "JWT_SECRET"), env_get(e, "COOKIE_SECRET")) == 0)
		errs_add(warns, NULL, 0, "JWT_SECRET and COOKIE_SECRET are the "
		    "same: Medusa's docs ask for two different secrets");
	mode = env_get(e, "NODE_ENV");
	prod = mode != NULL && strcmp(mode, "production") == 0;
	if (!prod)
		errs_add(warns, NULL, 0, "NODE_ENV is %s%s%s, not production: "
		    "Medusa runs in development mode", mode ? "\"" : "",
		    mode ? mode : "unset", mode ? "\"" : "");
	for (i = 0; cors[i] != NULL; i++) {
		if (!set(e, cors[i]))
			continue;
		v = env_get(e, cors[i]);
		if (prod && strchr(v, '*') != NULL)
			errs_add(errs, NULL, 0, "%s contains '*': in production "
			    "list the exact origins (https://shop.example.com)",
			    cors[i]);
		cors_check(cors[i], v, prod, errs, warns);
	}
	for (redis = 0, i = 0; profile_redis_vars[i] != NULL; i++)
		redis |= set(e, profile_redis_vars[i]);
	if (prod && !redis)
		errs_add(errs, NULL, 0, "no Redis is set (REDIS_URL, or "
		    "CACHE_REDIS_URL, EVENTS_REDIS_URL, WE_REDIS_URL, "
		    "LOCKING_REDIS_URL): in production Medusa would fall back "
		    "to an in-memory event bus, cache and locking, which lose "
		    "work on restart and break with more than one instance");
	medusa_roles(e, ctx, errs, warns);
}

void
profile_check_ctx(enum profile p, const struct env *e,
    const struct profile_ctx *ctx, struct errs *errs, struct errs *warns)
{
	switch (p) {
	case PROFILE_MEDUSA:
		medusa_check(e, ctx, errs, warns);
		break;
	default:
		break;
	}
}

void
profile_check(enum profile p, const struct env *e, struct errs *errs,
    struct errs *warns)
{
	profile_check_ctx(p, e, NULL, errs, warns);
}

/* --- the release ------------------------------------------------------ */

#define MEDUSA_ADMIN_INDEX	".medusa/server/public/admin/index.html"

const char *
profile_required_file(enum profile p, const struct env *e)
{
	const char	*v, *var;

	if (p != PROFILE_MEDUSA)
		return NULL;
	/* medusa-config compares with === "true": nothing else disables. */
	if (((v = env_get(e, "DISABLE_MEDUSA_ADMIN")) != NULL &&
	    strcmp(v, "true") == 0) ||
	    ((v = env_get(e, "ADMIN_DISABLED")) != NULL &&
	    strcmp(v, "true") == 0))
		return NULL;
	/* A worker loads neither the API routes nor the admin. */
	if (medusa_mode(e, &var) == WM_WORKER)
		return NULL;
	return MEDUSA_ADMIN_INDEX;
}

const char *
profile_required_file_why(enum profile p)
{
	if (p != PROFILE_MEDUSA)
		return NULL;
	return "the release has no admin build (" MEDUSA_ADMIN_INDEX "): "
	    "Medusa would stop at start with \"Could not find index.html in "
	    "the admin build directory\"; check the build's output (npx medusa "
	    "build), or set DISABLE_MEDUSA_ADMIN=true (or ADMIN_DISABLED=true, "
	    "whichever medusa-config reads) if this app serves no admin";
}

/* --- what the running app says --------------------------------------- */

struct logwarn {
	enum profile	 profile;
	const char	*needle;
	size_t		 len;
	const char	*warning;
};

#define NEEDLE(s)	s, sizeof(s) - 1
static const struct logwarn logwarns[] = {
	{ PROFILE_MEDUSA, NEEDLE("Local Event Bus installed"),
	  "Medusa runs the in-memory event bus (\"Local Event Bus "
	  "installed\"): events are lost on restart and never reach the "
	  "worker or another instance; configure the Redis event bus module "
	  "(@medusajs/medusa/event-bus-redis, EVENTS_REDIS_URL)" },
	{ PROFILE_MEDUSA, NEEDLE("Locking module: Using \"in-memory\""),
	  "Medusa's locking module uses the in-memory provider: locks do not "
	  "hold between the server, the worker and other instances; configure "
	  "the Redis locking provider (@medusajs/medusa/locking-redis, "
	  "LOCKING_REDIS_URL)" },
	{ PROFILE_NONE, NULL, 0, NULL }
};

const char *
profile_log_warning(enum profile p, const char *line, size_t len)
{
	const struct logwarn	*w;

	if (p == PROFILE_NONE)
		return NULL;
	for (w = logwarns; w->needle != NULL; w++)
		if (w->profile == p && memmem(line, len, w->needle, w->len) !=
		    NULL)
			return w->warning;
	return NULL;
}
