/* test-profile.c: the medusa profile's defaults and environment rules,
 * the facts about other apps they use, the admin build a release must
 * hold and the lines of output that say the app runs on in-memory
 * modules; a rule names the variable and never its value. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "tend.h"
#include "check.h"

#define GOOD	"0123456789abcdef0123456789abcdef"
#define GOOD2	"fedcba9876543210fedcba9876543210"

static void
medusa_env(struct env *e)
{
	env_init(e);
	env_set(e, "DATABASE_URL", "postgres://u:p@db/shop");
	env_set(e, "REDIS_URL", "redis://localhost:6379");
	env_set(e, "JWT_SECRET", GOOD);
	env_set(e, "COOKIE_SECRET", GOOD2);
	env_set(e, "STORE_CORS", "https://shop.example.com");
	env_set(e, "ADMIN_CORS", "https://admin.example.com");
	env_set(e, "AUTH_CORS", "https://shop.example.com");
	env_set(e, "NODE_ENV", "production");
}

static int
has(const struct errs *x, const char *s)
{
	size_t	i;

	for (i = 0; i < x->n; i++)
		if (strstr(x->msg[i], s) != NULL)
			return 1;
	return 0;
}

static int
leaks(const struct errs *x, const char *value)
{
	return has(x, value);
}

static void
test_defaults(void)
{
	enum profile	p;

	CHECK(profile_parse("medusa", &p) == 0 && p == PROFILE_MEDUSA);
	CHECK(profile_parse("none", &p) == 0 && p == PROFILE_NONE);
	CHECK(profile_parse("Medusa", &p) == -1);
	CHECK(strcmp(profile_default(PROFILE_MEDUSA, "migrate"),
	    "npx medusa db:migrate") == 0);
	CHECK(strcmp(profile_default(PROFILE_MEDUSA, "health"), "/health") == 0);
	CHECK(profile_default(PROFILE_MEDUSA, "user") == NULL);
	CHECK(profile_default(PROFILE_NONE, "health") == NULL);
}

static void
test_sound(void)
{
	struct env	e;
	struct errs	errs, warns;

	medusa_env(&e);
	errs_init(&errs);
	errs_init(&warns);
	profile_check(PROFILE_MEDUSA, &e, &errs, &warns);
	CHECK(errs.n == 0 && warns.n == 0);
	/* The generic profile has no rules at all. */
	env_free(&e);
	env_init(&e);
	profile_check(PROFILE_NONE, &e, &errs, &warns);
	CHECK(errs.n == 0 && warns.n == 0);
	env_free(&e);
	errs_free(&errs);
	errs_free(&warns);
}

static void
test_rules(void)
{
	struct env	e;
	struct errs	errs, warns;

	medusa_env(&e);
	env_set(&e, "JWT_SECRET", "shortsecret");
	env_set(&e, "COOKIE_SECRET", "supersecret");
	env_set(&e, "ADMIN_CORS", "");
	env_set(&e, "AUTH_CORS", "https://a.example.com,*");
	errs_init(&errs);
	errs_init(&warns);
	profile_check(PROFILE_MEDUSA, &e, &errs, &warns);
	CHECK(has(&errs, "JWT_SECRET is 11 characters; use at least 32"));
	CHECK(has(&errs, "COOKIE_SECRET is the starter's example value"));
	CHECK(has(&errs, "ADMIN_CORS is not set"));
	CHECK(has(&errs, "AUTH_CORS contains '*'"));
	CHECK(!leaks(&errs, "shortsecret") && !leaks(&errs, "https://a."));
	CHECK(errs.n == 4);
	errs_free(&errs);
	errs_free(&warns);

	/* Development mode: a warning, and wildcards are then allowed. */
	env_set(&e, "NODE_ENV", "development");
	env_set(&e, "JWT_SECRET", GOOD);
	env_set(&e, "COOKIE_SECRET", GOOD2);
	env_set(&e, "ADMIN_CORS", "*");
	errs_init(&errs);
	errs_init(&warns);
	profile_check(PROFILE_MEDUSA, &e, &errs, &warns);
	CHECK(errs.n == 0);
	CHECK(has(&warns, "NODE_ENV is \"development\", not production"));
	errs_free(&errs);
	errs_free(&warns);
	env_free(&e);

}

/* Run the rules on e (with ctx, or none) into fresh errs and warns. */
static void
run(const struct env *e, const struct profile_ctx *ctx, struct errs *errs,
    struct errs *warns)
{
	errs_init(errs);
	errs_init(warns);
	profile_check_ctx(PROFILE_MEDUSA, e, ctx, errs, warns);
}

static void
done(struct errs *errs, struct errs *warns)
{
	errs_free(errs);
	errs_free(warns);
}

static int
leaks2(const struct errs *a, const struct errs *b, const char *value)
{
	return has(a, value) || has(b, value);
}

static void
test_secrets(void)
{
	struct env	e;
	struct errs	errs, warns;

	medusa_env(&e);
	/* Placeholders are caught whatever their case: create-medusa-app's
	 * and the v1 starter's. */
	env_set(&e, "JWT_SECRET", "SuperSecret");
	env_set(&e, "COOKIE_SECRET", "something");
	run(&e, NULL, &errs, &warns);
	CHECK(has(&errs, "JWT_SECRET is the starter's example value"));
	CHECK(has(&errs, "COOKIE_SECRET is the starter's example value"));
	CHECK(errs.n == 2);
	CHECK(!leaks2(&errs, &warns, "SuperSecret") &&
	    !leaks2(&errs, &warns, "something"));
	done(&errs, &warns);

	/* One long secret for both: a warning, and it is not shown. */
	env_set(&e, "JWT_SECRET", GOOD);
	env_set(&e, "COOKIE_SECRET", GOOD);
	run(&e, NULL, &errs, &warns);
	CHECK(errs.n == 0);
	CHECK(has(&warns, "JWT_SECRET and COOKIE_SECRET are the same"));
	CHECK(!leaks2(&errs, &warns, GOOD));
	done(&errs, &warns);
	env_free(&e);
}

static void
test_cors(void)
{
	struct {
		const char	*value;
		const char	*says;	/* NULL: no error */
	} cases[] = {
		{ "https://shop.invalid,https://b.invalid:8443", NULL },
		{ "http://localhost:8000", NULL },
		{ "https://shop.invalid,", NULL },	/* stray comma */
		{ "/https:\\/\\/.+\\.invalid/i", NULL },	/* a regex */
		{ "https://shop.invalid/", "STORE_CORS: entry 1 ends with '/'" },
		{ "https://a.invalid,shop.invalid",
		  "STORE_CORS: entry 2 has no http:// or https:// scheme" },
		{ "https://a.invalid, https://b.invalid",
		  "STORE_CORS: entry 2 contains white space" },
		{ "https://a.invalid/store", "STORE_CORS: entry 1 is not an origin" },
		{ "https://", "STORE_CORS: entry 1 is not an origin" },
		{ "ftp://files.invalid", "STORE_CORS: entry 1 has no http" },
	};
	struct env	e;
	struct errs	errs, warns;
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int before = check_cur_failed;

		check_cur_failed = 0;
		medusa_env(&e);
		env_set(&e, "STORE_CORS", cases[i].value);
		run(&e, NULL, &errs, &warns);
		if (cases[i].says == NULL)
			CHECK(errs.n == 0 && warns.n == 0);
		else {
			CHECK(errs.n == 1 && has(&errs, cases[i].says));
			CHECK(!leaks2(&errs, &warns, "invalid"));
		}
		if (check_cur_failed)
			printf("# case %zu\n", i);
		check_cur_failed |= before;
		done(&errs, &warns);
		env_free(&e);
	}

	/* The starter's origins left in production: a warning. */
	medusa_env(&e);
	env_set(&e, "ADMIN_CORS", "http://localhost:7001,https://docs.medusajs.com");
	run(&e, NULL, &errs, &warns);
	CHECK(errs.n == 0 && has(&warns, "ADMIN_CORS still lists the starter's"));
	CHECK(!leaks2(&errs, &warns, "docs.medusajs.com"));
	done(&errs, &warns);
	/* In development a wildcard and the starter's origins are fine, a
	 * trailing slash is not. */
	env_set(&e, "NODE_ENV", "development");
	env_set(&e, "STORE_CORS", "*");
	env_set(&e, "AUTH_CORS", "http://localhost:9000/");
	run(&e, NULL, &errs, &warns);
	CHECK(errs.n == 1 && has(&errs, "AUTH_CORS: entry 1 ends with '/'"));
	CHECK(!has(&warns, "starter's"));
	done(&errs, &warns);
	env_free(&e);
}

static void
test_redis(void)
{
	struct env	e;
	struct errs	errs, warns;
	size_t		i;

	/* Production with no Redis at all: an error (Medusa would fall back
	 * to the in-memory event bus and run on). */
	medusa_env(&e);
	env_set(&e, "REDIS_URL", "");
	run(&e, NULL, &errs, &warns);
	CHECK(errs.n == 1 && has(&errs, "no Redis is set"));
	done(&errs, &warns);
	/* Any one of the module's URLs will do. */
	for (i = 1; profile_redis_vars[i] != NULL; i++) {
		env_set(&e, profile_redis_vars[i], "redis://127.0.0.1:6379");
		run(&e, NULL, &errs, &warns);
		CHECK(errs.n == 0 && warns.n == 0);
		done(&errs, &warns);
		env_set(&e, profile_redis_vars[i], "");
	}
	/* In development none is needed. */
	env_set(&e, "NODE_ENV", "development");
	run(&e, NULL, &errs, &warns);
	CHECK(errs.n == 0 && !has(&warns, "Redis"));
	done(&errs, &warns);
	env_free(&e);

	/* The list the preflight probes. */
	CHECK(strcmp(profile_redis_vars[0], "REDIS_URL") == 0);
	for (i = 0; profile_redis_vars[i] != NULL; i++)
		;
	CHECK(i == 5);
}

/* A server "medusa" (port 9000) and its worker "medusa-worker" (no
 * port, follows medusa), modes as given (NULL: unset). */
static void
group(struct env *srv, struct env *wrk, const char *smode, const char *wmode,
    struct profile_ctx *sctx, struct profile_ctx *wctx)
{
	struct profile_peer	peers[2];

	medusa_env(srv);
	medusa_env(wrk);
	if (smode != NULL)
		env_set(srv, "MEDUSA_WORKER_MODE", smode);
	if (wmode != NULL)
		env_set(wrk, "MEDUSA_WORKER_MODE", wmode);
	memset(peers, 0, sizeof(peers));
	peers[0] = (struct profile_peer){ "medusa", NULL, 9000, 1,
	    PROFILE_MEDUSA, srv };
	peers[1] = (struct profile_peer){ "medusa-worker", "medusa", 0, 1,
	    PROFILE_MEDUSA, wrk };
	profile_ctx_make(sctx, peers, 2, 0);
	profile_ctx_make(wctx, peers, 2, 1);
}

static void
test_groups(void)
{
	struct env		 s, w;
	struct profile_ctx	 sc, wc;
	struct errs		 errs, warns;

	/* The production shape: no complaint about either. */
	group(&s, &w, "server", "worker", &sc, &wc);
	CHECK(sc.role == PROFILE_LEADER && sc.worker_followers == 1);
	/* The worker runs jobs on the server's database: counted, but the
	 * server itself runs none, so nothing is said. */
	CHECK(sc.has_port && sc.instances == 1 && sc.same_db_workers == 1);
	CHECK(wc.role == PROFILE_FOLLOWER && !wc.has_port);
	CHECK(wc.same_db_workers == 0);
	run(&s, &sc, &errs, &warns);
	CHECK(errs.n == 0 && warns.n == 0);
	done(&errs, &warns);
	run(&w, &wc, &errs, &warns);
	CHECK(errs.n == 0 && warns.n == 0);
	done(&errs, &warns);
	env_free(&s);
	env_free(&w);

	/* The leader shared: jobs would run twice. */
	group(&s, &w, "shared", "worker", &sc, &wc);
	run(&s, &sc, &errs, &warns);
	CHECK(errs.n == 1 && has(&errs, "MEDUSA_WORKER_MODE is shared, but "
	    "this app leads a release group with a worker: scheduled jobs "
	    "would run twice"));
	/* ... and the worker sees the leader run the worker on its
	 * database: a warning. */
	done(&errs, &warns);
	run(&w, &wc, &errs, &warns);
	CHECK(errs.n == 0 && has(&warns, "1 instance of other medusa apps on "
	    "the same database"));
	done(&errs, &warns);
	env_free(&s);
	env_free(&w);

	/* The leader unset (Medusa's shared) or a worker. */
	group(&s, &w, NULL, "worker", &sc, &wc);
	run(&s, &sc, &errs, &warns);
	CHECK(errs.n == 1 && has(&errs, "MEDUSA_WORKER_MODE is not set "
	    "(Medusa then runs shared)"));
	done(&errs, &warns);
	env_free(&s);
	env_free(&w);
	group(&s, &w, "worker", "worker", &sc, &wc);
	run(&s, &sc, &errs, &warns);
	CHECK(has(&errs, "the API would not be served"));
	CHECK(has(&warns, "scheduled jobs run more than once"));
	done(&errs, &warns);
	env_free(&s);
	env_free(&w);

	/* The worker follower in the wrong mode. */
	group(&s, &w, "server", "server", &sc, &wc);
	CHECK(sc.worker_followers == 1);	/* no port: meant as the worker */
	run(&w, &wc, &errs, &warns);
	CHECK(errs.n == 1 && has(&errs, "so it is the group's worker, but "
	    "MEDUSA_WORKER_MODE makes it a server"));
	done(&errs, &warns);
	env_free(&s);
	env_free(&w);
	group(&s, &w, "server", NULL, &sc, &wc);
	run(&w, &wc, &errs, &warns);
	CHECK(errs.n == 1 && has(&errs, "is not set (Medusa then runs "
	    "shared): it would run the API as well"));
	done(&errs, &warns);
	env_free(&s);
	env_free(&w);

	/* A mode that is none of the three: named, never quoted. */
	group(&s, &w, "sever", "worker", &sc, &wc);
	run(&s, &sc, &errs, &warns);
	CHECK(errs.n == 1 && has(&errs, "MEDUSA_WORKER_MODE is not server, "
	    "worker or shared"));
	CHECK(!leaks2(&errs, &warns, "sever"));
	done(&errs, &warns);
	env_free(&s);
	env_free(&w);

	/* WORKER_MODE (the "Worker Mode" chapter's name) when
	 * MEDUSA_WORKER_MODE is unset. */
	group(&s, &w, "server", NULL, &sc, &wc);
	env_set(&w, "WORKER_MODE", "worker");
	run(&w, &wc, &errs, &warns);
	CHECK(errs.n == 0);
	done(&errs, &warns);
	env_free(&s);
	env_free(&w);
}

static void
test_same_db(void)
{
	struct env		 a, b, c;
	struct profile_peer	 peers[3];
	struct profile_ctx	 ctx;
	struct errs		 errs, warns;

	/* Two standalone workers on one database, spelled differently. */
	medusa_env(&a);
	medusa_env(&b);
	medusa_env(&c);
	env_set(&a, "DATABASE_URL", "postgres://u:p@localhost/shop");
	env_set(&a, "MEDUSA_WORKER_MODE", "worker");
	env_set(&b, "DATABASE_URL", "postgresql://other:pw@127.0.0.1:5432/shop");
	env_set(&b, "MEDUSA_WORKER_MODE", "shared");
	/* A third on another database, and a non-medusa app: not counted. */
	env_set(&c, "DATABASE_URL", "postgres://u:p@localhost/blog");
	memset(peers, 0, sizeof(peers));
	peers[0] = (struct profile_peer){ "a", NULL, 0, 1, PROFILE_MEDUSA, &a };
	peers[1] = (struct profile_peer){ "b", NULL, 9000, 2, PROFILE_MEDUSA,
	    &b };
	peers[2] = (struct profile_peer){ "c", NULL, 0, 1, PROFILE_MEDUSA, &c };
	profile_ctx_make(&ctx, peers, 3, 0);
	CHECK(ctx.role == PROFILE_STANDALONE && ctx.same_db_workers == 2);
	run(&a, &ctx, &errs, &warns);
	CHECK(errs.n == 0 && has(&warns, "2 instances of other medusa apps on "
	    "the same database"));
	CHECK(!leaks2(&errs, &warns, "shop") && !leaks2(&errs, &warns, "localhost"));
	done(&errs, &warns);
	/* b runs the worker in each of its 2 instances: a warning too. */
	profile_ctx_make(&ctx, peers, 3, 1);
	CHECK(ctx.same_db_workers == 1 && ctx.instances == 2);
	run(&b, &ctx, &errs, &warns);
	CHECK(has(&warns, "instances is 2 and MEDUSA_WORKER_MODE runs the "
	    "worker"));
	done(&errs, &warns);
	profile_ctx_make(&ctx, peers, 3, 2);
	CHECK(ctx.same_db_workers == 0);
	/* A server on the same database is no worker. */
	env_set(&b, "MEDUSA_WORKER_MODE", "server");
	profile_ctx_make(&ctx, peers, 3, 0);
	CHECK(ctx.same_db_workers == 0);
	peers[1].profile = PROFILE_NONE;
	env_set(&b, "MEDUSA_WORKER_MODE", "worker");
	profile_ctx_make(&ctx, peers, 3, 0);
	CHECK(ctx.same_db_workers == 0);
	/* A worker without the profile counts when it follows a medusa
	 * leader (a group's worker may leave the profile out). */
	peers[1].follows = "c";
	profile_ctx_make(&ctx, peers, 3, 0);
	CHECK(ctx.same_db_workers == 2);
	peers[1].follows = NULL;
	/* An env that did not build, or a DATABASE_URL that does not
	 * parse, counts for nothing. */
	peers[1].profile = PROFILE_MEDUSA;
	peers[1].env = NULL;
	profile_ctx_make(&ctx, peers, 3, 0);
	CHECK(ctx.same_db_workers == 0);
	peers[1].env = &b;
	env_set(&b, "DATABASE_URL", "mysql://x/shop");
	profile_ctx_make(&ctx, peers, 3, 0);
	CHECK(ctx.same_db_workers == 0);
	/* Without a ctx (tendd -t) the rules about others are skipped. */
	run(&a, NULL, &errs, &warns);
	CHECK(errs.n == 0 && warns.n == 0);
	done(&errs, &warns);
	env_free(&a);
	env_free(&b);
	env_free(&c);
}

static void
test_required_file(void)
{
	struct env	 e;
	const char	*why;

	medusa_env(&e);
	CHECK(profile_required_file(PROFILE_NONE, &e) == NULL);
	CHECK(profile_required_file_why(PROFILE_NONE) == NULL);
	CHECK(profile_required_file(PROFILE_MEDUSA, &e) != NULL &&
	    strcmp(profile_required_file(PROFILE_MEDUSA, &e),
	    ".medusa/server/public/admin/index.html") == 0);
	why = profile_required_file_why(PROFILE_MEDUSA);
	CHECK(why != NULL && strstr(why, ".medusa/server/public/admin/"
	    "index.html") != NULL && strstr(why, "DISABLE_MEDUSA_ADMIN=true") !=
	    NULL && strchr(why, '\n') == NULL);
	/* medusa-config compares with === "true", so only "true" counts. */
	env_set(&e, "DISABLE_MEDUSA_ADMIN", "TRUE");
	CHECK(profile_required_file(PROFILE_MEDUSA, &e) != NULL);
	env_set(&e, "DISABLE_MEDUSA_ADMIN", "1");
	CHECK(profile_required_file(PROFILE_MEDUSA, &e) != NULL);
	env_set(&e, "DISABLE_MEDUSA_ADMIN", "true");
	CHECK(profile_required_file(PROFILE_MEDUSA, &e) == NULL);
	env_set(&e, "DISABLE_MEDUSA_ADMIN", "false");
	env_set(&e, "ADMIN_DISABLED", "true");
	CHECK(profile_required_file(PROFILE_MEDUSA, &e) == NULL);
	env_set(&e, "ADMIN_DISABLED", "false");
	/* A worker serves no admin; a server or shared one does. */
	env_set(&e, "MEDUSA_WORKER_MODE", "worker");
	CHECK(profile_required_file(PROFILE_MEDUSA, &e) == NULL);
	env_set(&e, "MEDUSA_WORKER_MODE", "shared");
	CHECK(profile_required_file(PROFILE_MEDUSA, &e) != NULL);
	env_free(&e);
}

static void
test_log_warning(void)
{
	static const char bus[] = "\x1b[33mwarn\x1b[39m:    Local Event Bus "
	    "installed. This is not recommended for production.";
	static const char lock[] = "info:    Locking module: Using "
	    "\"in-memory\" as default.";
	const char	*w1, *w2, *w3;

	w1 = profile_log_warning(PROFILE_MEDUSA, bus, sizeof(bus) - 1);
	CHECK(w1 != NULL && strstr(w1, "configure the Redis event bus") !=
	    NULL && strchr(w1, '\n') == NULL);
	/* The same warning is the same pointer: a set dedups by it. */
	CHECK(profile_log_warning(PROFILE_MEDUSA, bus, sizeof(bus) - 1) == w1);
	w2 = profile_log_warning(PROFILE_MEDUSA, lock, sizeof(lock) - 1);
	CHECK(w2 != NULL && w2 != w1 && strstr(w2, "configure the Redis "
	    "locking provider") != NULL);
	/* Only within len: a line cut short does not match. */
	CHECK(profile_log_warning(PROFILE_MEDUSA, bus, 30) == NULL);
	w3 = profile_log_warning(PROFILE_MEDUSA, "Server is ready on port: "
	    "9000", 29);
	CHECK(w3 == NULL);
	CHECK(profile_log_warning(PROFILE_MEDUSA, "", 0) == NULL);
	CHECK(profile_log_warning(PROFILE_NONE, bus, sizeof(bus) - 1) == NULL);
}

int
main(void)
{
	RUN(test_defaults);
	RUN(test_sound);
	RUN(test_rules);
	RUN(test_secrets);
	RUN(test_cors);
	RUN(test_redis);
	RUN(test_groups);
	RUN(test_same_db);
	RUN(test_required_file);
	RUN(test_log_warning);
	return check_failed();
}
