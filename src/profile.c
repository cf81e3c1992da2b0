/*
 * profile.c: what tend knows about a kind of app.  A profile gives
 * defaults for keys an [app:] section leaves out, and rules checked
 * against the app's environment before every start (and by tendctl check
 * and tendd -t).  A broken rule names the variable and says why; it never
 * prints the value.  Errors stop a start; warnings are shown and logged.
 *
 * "none" (the default) has no rules.  "medusa" encodes Medusa v2's
 * production checklist: the variables medusa-config reads, secrets that
 * are not the starter's "supersecret", production mode, no wildcard CORS.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

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
	 * cd .medusa/server && npm install, and run it from there. */
	{ PROFILE_MEDUSA, "build",
	  "npm ci --include=dev && npx medusa build && cd .medusa/server && "
	  "npm install" },
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

static void
medusa_check(const struct env *e, struct errs *errs, struct errs *warns)
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
	int		 i, prod;

	for (i = 0; required[i] != NULL; i++) {
		v = env_get(e, required[i]);
		if (v == NULL || *v == '\0')
			errs_add(errs, NULL, 0, "%s is not set (medusa needs it)",
			    required[i]);
	}
	for (i = 0; secrets[i] != NULL; i++) {
		v = env_get(e, secrets[i]);
		if (v == NULL || *v == '\0')
			continue;
		if (strcmp(v, "supersecret") == 0)
			errs_add(errs, NULL, 0, "%s is the starter's example "
			    "value: generate one with openssl rand -hex 32",
			    secrets[i]);
		else if (strlen(v) < SECRET_MIN)
			errs_add(errs, NULL, 0, "%s is %zu characters; use at "
			    "least %d (openssl rand -hex 32)", secrets[i],
			    strlen(v), SECRET_MIN);
	}
	mode = env_get(e, "NODE_ENV");
	prod = mode != NULL && strcmp(mode, "production") == 0;
	if (!prod)
		errs_add(warns, NULL, 0, "NODE_ENV is %s%s%s, not production: "
		    "Medusa runs in development mode", mode ? "\"" : "",
		    mode ? mode : "unset", mode ? "\"" : "");
	for (i = 0; prod && cors[i] != NULL; i++) {
		v = env_get(e, cors[i]);
		if (v != NULL && strchr(v, '*') != NULL)
			errs_add(errs, NULL, 0, "%s contains '*': in production "
			    "list the exact origins (https://shop.example.com)",
			    cors[i]);
	}
	v = env_get(e, "REDIS_URL");
	if (prod && (v == NULL || *v == '\0'))
		errs_add(warns, NULL, 0, "REDIS_URL is not set: Medusa falls "
		    "back to in-memory events, cache and locking, which lose "
		    "work on restart and break with more than one instance");
}

/* Check env against profile p: errors to errs, advice to warns. */
void
profile_check(enum profile p, const struct env *e, struct errs *errs,
    struct errs *warns)
{
	switch (p) {
	case PROFILE_MEDUSA:
		medusa_check(e, errs, warns);
		break;
	default:
		break;
	}
}
