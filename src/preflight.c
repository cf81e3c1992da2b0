/*
 * preflight.c: can this app start?  The checks `tendctl check` runs and a
 * start runs first (state "preflight"): the environment builds, the
 * profile's rules hold, DATABASE_URL's PostgreSQL and every Redis the
 * environment names (REDIS_URL and the module URLs of profile_redis_vars,
 * one check each) answer (all at once, each bounded), and the database
 * has room for the connections the app's instances may open.  What the
 * running app's output said of its configuration (app_warnings) is shown
 * as warnings too.
 *
 * The profile's rules about the other apps (a release group's roles, two
 * workers on one database) get their facts from pf_profile_ctx, which
 * reads the configuration and the other apps' environments here, in the
 * daemon, so that profile.c stays pure.
 *
 * The result is a list of checks, each {name, ok, detail[, warning]}, and
 * one outcome: CHECK_OK, CHECK_RETRY when every failure may pass by itself
 * (a server still booting), or CHECK_FAIL.  Details are built from host,
 * port, user and database names and variable names: never a value.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendd.h"

struct preflight {
	json_t		*checks;
	unsigned	 pending;
	int		 outcome;
	int		 canceled;
	unsigned	 need;		/* instances x db_pool_max */
	char		*missing_db;	/* DATABASE_URL's, if it does not exist */
	char		 reason[600];	/* the first failure */
	uv_timer_t	 hold;		/* answers from the loop, not the call */
	preflight_cb	 cb;
	void		*arg;
};

struct pf_one {
	struct preflight *pf;
	const char	*name;
	const char	*var;		/* the variable whose URL it checks */
};

/* A check's line; var, when not NULL, is the variable it is about. */
static void
pf_add_var(struct preflight *pf, const char *name, const char *var, int ok,
    int warning, const char *detail, json_t *info)
{
	json_t	*c;

	c = json_pack("{s:s,s:b,s:s}", "name", name, "ok", ok == CHECK_OK,
	    "detail", detail);
	if (c != NULL && var != NULL)
		json_object_set_new(c, "variable", json_string(var));
	if (c != NULL && warning)
		json_object_set_new(c, "warning", json_true());
	if (c != NULL && info != NULL)
		json_object_set(c, "info", info);
	if (c != NULL)
		json_array_append_new(pf->checks, c);
	if (ok == CHECK_OK)
		return;
	if (pf->reason[0] == '\0')
		snprintf(pf->reason, sizeof(pf->reason), "%s", detail);
	/* One failure that will not pass makes the whole answer final. */
	if (ok == CHECK_FAIL || pf->outcome == CHECK_OK)
		pf->outcome = pf->outcome == CHECK_FAIL ? CHECK_FAIL : ok;
}

static void
pf_add(struct preflight *pf, const char *name, int ok, int warning,
    const char *detail, json_t *info)
{
	pf_add_var(pf, name, NULL, ok, warning, detail, info);
}

static void
pf_closed_cb(uv_handle_t *h)
{
	struct preflight *pf = h->data;

	json_decref(pf->checks);
	free(pf->missing_db);
	free(pf);
}

static void
pf_finish(struct preflight *pf)
{
	if (--pf->pending > 0)
		return;
	if (!pf->canceled)
		pf->cb(pf->arg, pf->outcome, pf->checks, pf->reason,
		    pf->missing_db);
	uv_close((uv_handle_t *)&pf->hold, pf_closed_cb);
}

static void
pf_hold_cb(uv_timer_t *h)
{
	pf_finish(h->data);
}

/* Would the app's pools fit in what the server has left? */
static void
pf_budget(struct preflight *pf, json_t *info)
{
	json_int_t	max, used;
	char		d[300];

	max = json_integer_value(json_object_get(info, "available"));
	used = json_integer_value(json_object_get(info, "connections"));
	if (max <= 0)
		return;
	if (used + (json_int_t)pf->need > max) {
		snprintf(d, sizeof(d), "connection budget: the app may open %u "
		    "connections (instances x db_pool_max) and %lld of %lld are "
		    "in use: raise max_connections, lower the pool size or put "
		    "PgBouncer in front", pf->need, (long long)used,
		    (long long)max);
		pf_add(pf, "budget", CHECK_OK, 1, d, NULL);
	} else {
		snprintf(d, sizeof(d), "connection budget: up to %u for the app, "
		    "%lld of %lld in use", pf->need, (long long)used,
		    (long long)max);
		pf_add(pf, "budget", CHECK_OK, 0, d, NULL);
	}
}

static void
pf_check_cb(void *arg, int ok, const char *detail, json_t *info)
{
	struct pf_one		*one = arg;
	struct preflight	*pf = one->pf;
	json_t			*m;
	char			 d[600];

	if (!pf->canceled) {
		m = info != NULL ? json_object_get(info, "missing_database") :
		    NULL;
		if (m != NULL && json_is_string(m) && pf->missing_db == NULL)
			pf->missing_db = strdup(json_string_value(m));
		/* Which of several Redis URLs a line is about; REDIS_URL's
		 * and DATABASE_URL's read as they always did. */
		if (strcmp(one->var, "REDIS_URL") != 0 &&
		    strcmp(one->var, "DATABASE_URL") != 0) {
			snprintf(d, sizeof(d), "%s: %s", one->var, detail);
			detail = d;
		}
		pf_add_var(pf, one->name, one->var, ok, 0, detail, m != NULL ?
		    NULL : info);
		if (ok == CHECK_OK && strcmp(one->name, "postgres") == 0)
			pf_budget(pf, info);
	}
	json_decref(info);
	free(one);
	pf_finish(pf);
}

static void
pf_start_one(struct tend *t, const struct conf_app *ca, struct preflight *pf,
    const char *name, const char *var, const char *url, uint64_t timeout_ms,
    int (*fn)(struct tend *, const struct conf_app *, const char *, uint64_t,
    check_cb, void *))
{
	struct pf_one	*one;

	if ((one = calloc(1, sizeof(*one))) == NULL) {
		pf_add(pf, name, CHECK_RETRY, 0, "out of memory", NULL);
		return;
	}
	one->pf = pf;
	one->name = name;
	one->var = var;
	pf->pending++;
	if (fn(t, ca, url, timeout_ms, pf_check_cb, one) != 0) {
		pf->pending--;
		free(one);
		pf_add(pf, name, CHECK_RETRY, 0, "out of memory", NULL);
	}
}

/*
 * What the profile's rules need to know of the other apps: the release
 * group app stands in, and which apps run Medusa's worker on which
 * database.  Another app's environment is the one its start built (read
 * as its user), built now if none was; one that does not build counts
 * for nothing.  -1: out of memory.
 */
static int
pf_profile_ctx(struct app *app, const struct env *e, struct profile_ctx *ctx)
{
	struct profile_peer	*peers, *p;
	struct app		*a;
	const char		*follows;
	char			 why[512];
	size_t			 n = 0, self = 0;

	TAILQ_FOREACH(a, &app->t->apps, entry)
		n++;
	if ((peers = calloc(n + 1, sizeof(*peers))) == NULL)
		return -1;
	n = 0;
	TAILQ_FOREACH(a, &app->t->apps, entry) {
		if (a != app && a->removing && a->pending == NULL)
			continue;	/* on its way out */
		p = &peers[n];
		follows = a->ca->follows;
		p->name = a->name;
		p->follows = follows;
		p->port = a->ca->port;
		p->instances = a->ca->instances;
		p->profile = a->ca->profile;
		if (a == app) {
			self = n;
			p->env = e;
		} else if (a->ca->profile == PROFILE_MEDUSA || follows != NULL)
			p->env = appenv_get(a, why, sizeof(why));
		n++;
	}
	profile_ctx_make(ctx, peers, n, self);
	free(peers);
	return 0;
}

static void
pf_rules(struct preflight *pf, struct app *app, const struct env *e)
{
	const struct conf_app	*ca = app->ca;
	struct profile_ctx	 ctx;
	struct errs		 errs, warns;
	struct stat		 st;
	char			 d[700];
	size_t			 i;

	for (i = 0; i < ca->env_files.n; i++)
		if (stat(ca->env_files.v[i], &st) == 0 && (st.st_mode & S_IROTH)) {
			snprintf(d, sizeof(d), "%s is readable by every user of "
			    "this machine and holds secrets: chmod 600 %s",
			    ca->env_files.v[i], ca->env_files.v[i]);
			pf_add(pf, "env", CHECK_OK, 1, d, NULL);
		}
	if (ca->profile == PROFILE_NONE)
		return;
	errs_init(&errs);
	errs_init(&warns);
	if (pf_profile_ctx(app, e, &ctx) != 0)
		errs.oom = 1;
	else
		profile_check_ctx(ca->profile, e, &ctx, &errs, &warns);
	for (i = 0; i < errs.n; i++) {
		snprintf(d, sizeof(d), "profile %s: %s",
		    profile_names[ca->profile], errs.msg[i]);
		pf_add(pf, "profile", CHECK_FAIL, 0, d, NULL);
	}
	for (i = 0; i < warns.n; i++) {
		snprintf(d, sizeof(d), "profile %s: %s",
		    profile_names[ca->profile], warns.msg[i]);
		pf_add(pf, "profile", CHECK_OK, 1, d, NULL);
	}
	if (errs.oom || warns.oom)
		pf_add(pf, "profile", CHECK_RETRY, 0, "out of memory", NULL);
	errs_free(&errs);
	errs_free(&warns);
}

/*
 * Check app as it would start; cb(arg, outcome, checks, reason,
 * missing_db) once, from the loop (checks and strings are valid during
 * the call only).  Services are asked only when env and rules pass.
 */
struct preflight *
preflight_start(struct app *app, uint64_t timeout_ms, preflight_cb cb,
    void *arg)
{
	struct preflight	*pf;
	struct env		 e;
	const char		*db, *redis, *said[APP_WARNINGS_MAX];
	char			 why[512];
	int			 as_other = 0;
	size_t			 i, n;

	if ((pf = calloc(1, sizeof(*pf))) == NULL)
		return NULL;
	if ((pf->checks = json_array()) == NULL) {
		free(pf);
		return NULL;
	}
	pf->cb = cb;
	pf->arg = arg;
	pf->outcome = CHECK_OK;
	pf->need = app->ca->instances * app->ca->db_pool_max;
	pf->pending = 1;	/* held until every check is under way */
	/* The probes run as the app's user: one that cannot be is a
	 * failure of the app, said plainly (not "out of memory"). */
	(void)spawn_user(app->ca->user, app->ca->group, &as_other, why,
	    sizeof(why));
	if (as_other < 0) {
		pf_add(pf, "env", CHECK_FAIL, 0, why, NULL);
	} else if (appenv_copy(app, &e, why, sizeof(why)) != 0) {
		pf_add(pf, "env", CHECK_FAIL, 0, why, NULL);
	} else {
		pf_rules(pf, app, &e);
		db = env_get(&e, "DATABASE_URL");
		if (pf->outcome == CHECK_OK) {
			if (db != NULL && *db != '\0')
				pf_start_one(app->t, app->ca, pf, "postgres",
				    "DATABASE_URL", db, timeout_ms,
				    check_pg_start);
			for (i = 0; profile_redis_vars[i] != NULL; i++) {
				redis = env_get(&e, profile_redis_vars[i]);
				if (redis != NULL && *redis != '\0')
					pf_start_one(app->t, app->ca, pf, "redis",
					    profile_redis_vars[i], redis,
					    timeout_ms, check_redis_start);
			}
		}
		env_free(&e);
	}
	/* What the serving instances said of themselves: the app runs on,
	 * so a warning, named after where it came from. */
	n = app_warnings(app, said, APP_WARNINGS_MAX);
	for (i = 0; i < n; i++)
		pf_add(pf, "log", CHECK_OK, 1, said[i], NULL);
	/* The answer always comes from the loop, never from this call. */
	uv_timer_init(app->t->loop, &pf->hold);
	pf->hold.data = pf;
	uv_timer_start(&pf->hold, pf_hold_cb, 0, 0);
	return pf;
}

/* Let go; cb is not called. */
void
preflight_cancel(struct preflight *pf)
{
	if (pf != NULL)
		pf->canceled = 1;
}
