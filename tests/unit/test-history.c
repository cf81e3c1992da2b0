/*
 * test-history.c: deploy records as structs, the file they live in, and
 * the file an older tendd wrote (tests/unit/history/medusa.deploys.json:
 * what today's deploy.c wrote in the deploy tests, paths made generic,
 * and one rollback left midway as a killed tendd leaves it).
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tend.h"
#include "check.h"

#define FIXTURE_LIVE	"20261202T063919Z-d153265"

static char	dir[64];

static void
fresh(void)
{
	char	cmd[128];

	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", dir);
	}
	snprintf(dir, sizeof(dir), "/tmp/tend-history-XXXXXX");
	if (mkdtemp(dir) == NULL)
		dir[0] = '\0';
}

static void
put(const char *name, const char *text)
{
	char	path[256];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static const char *
fixture(void)
{
	static char	 path[1024];
	const char	*src = getenv("TEND_SRCDIR");

	snprintf(path, sizeof(path), "%s/tests/unit/history/medusa.deploys.json",
	    src != NULL ? src : ".");
	return path;
}

static uint64_t
at(const char *iso)
{
	uint64_t	ms = 0;

	CHECK(time_parse_iso(iso, &ms) == 0);
	return ms;
}

/* A record with every field set, and one with as few as a deploy has
 * right after it was asked for. */
static void
fill(struct history *h)
{
	struct deploy_rec	*r;
	int			 i;

	r = history_add(h, KIND_DEPLOY, at("2026-11-24T10:15:00Z"));
	snprintf(r->ref, sizeof(r->ref), "main");
	history_set_status(r, DS_BUILDING, 0);
	CHECK(history_add(h, KIND_DEPLOY, at("2026-11-24T11:00:00Z")) != NULL);
	r = TAILQ_FIRST(&h->recs);
	snprintf(r->id, sizeof(r->id), "20261124T110000Z-abc1234");
	snprintf(r->ref, sizeof(r->ref), "v1.2.3");
	snprintf(r->sha, sizeof(r->sha), "abc1234def5678abc1234def5678abc1234def56");
	CHECK(history_set_dir(r, "/srv/medusa/releases/20261124T110000Z-abc1234")
	    == 0);
	for (i = 0; i < RS__COUNT; i++)
		history_step(r, (enum rec_step)i, 100 + (uint64_t)i);
	r->total_ms = 1234;
	CHECK(history_set_reason(r, "instance 0 on port 3000: \"quoted\" \\ "
	    "and \xc3\xa9") == 0);
	CHECK(history_set_backup(r, "/var/backups/medusa-20261124T110000Z.dump",
	    "pg_restore --clean -d shop /var/backups/medusa-20261124T110000Z.dump")
	    == 0);
	r->rolling_back = 1;
	r->pruned = 1;
	history_set_status(r, DS_DEPLOY_FAILED, at("2026-11-24T11:02:03Z"));
}

static void
test_round_trip(void)
{
	struct history		 h, back;
	struct deploy_rec	*a, *b;
	char			 path[256], why[512];
	struct stat		 st;
	int			 i;

	fresh();
	history_init(&h);
	history_init(&back);
	fill(&h);
	CHECK(history_path(path, sizeof(path), dir, "medusa") == 0);
	umask(022);
	CHECK(history_write(&h, path, why, sizeof(why)) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	CHECK(history_read(&back, path, why, sizeof(why)) == 0);
	CHECK(back.n == 2 && h.n == 2);
	a = TAILQ_FIRST(&h.recs);
	b = TAILQ_FIRST(&back.recs);
	CHECK(b != NULL);
	if (b == NULL)
		goto out;
	CHECK(strcmp(b->id, a->id) == 0);
	CHECK(b->kind == KIND_DEPLOY);
	CHECK(strcmp(b->ref, "v1.2.3") == 0);
	CHECK(strcmp(b->sha, a->sha) == 0);
	CHECK(b->status == DS_DEPLOY_FAILED);
	CHECK(b->created_ms == at("2026-11-24T11:00:00Z"));
	CHECK(b->finished_ms == at("2026-11-24T11:02:03Z"));
	for (i = 0; i < RS__COUNT; i++)
		CHECK(b->step_ms[i] == 100 + i);
	CHECK(b->total_ms == 1234);
	CHECK(b->dir != NULL && strcmp(b->dir, a->dir) == 0);
	CHECK(b->reason != NULL && strcmp(b->reason, a->reason) == 0);
	CHECK(b->backup_file != NULL && strcmp(b->backup_file,
	    a->backup_file) == 0);
	CHECK(b->backup_restore != NULL && strcmp(b->backup_restore,
	    a->backup_restore) == 0);
	CHECK(b->rolling_back == 1 && b->pruned == 1);
	/* The sparse one stays sparse. */
	a = TAILQ_NEXT(a, entry);
	b = TAILQ_NEXT(b, entry);
	CHECK(b != NULL);
	if (b == NULL)
		goto out;
	CHECK(b->id[0] == '\0' && b->sha[0] == '\0' && strcmp(b->ref, "main") == 0);
	CHECK(b->status == DS_BUILDING && b->finished_ms == 0);
	CHECK(b->created_ms == a->created_ms);
	for (i = 0; i < RS__COUNT; i++)
		CHECK(b->step_ms[i] == -1);
	CHECK(b->total_ms == -1 && b->dir == NULL && b->reason == NULL &&
	    b->backup_file == NULL && b->rolling_back == 0 && b->pruned == 0);
out:
	history_free(&h);
	history_free(&back);
}

/* The names in the file are the ones tendctl and an older tendd know. */
static void
test_field_names(void)
{
	struct history	 h;
	char		 path[256], why[512];
	json_error_t	 err;
	json_t		*a, *r;

	fresh();
	history_init(&h);
	fill(&h);
	snprintf(path, sizeof(path), "%s/x.deploys.json", dir);
	CHECK(history_write(&h, path, why, sizeof(why)) == 0);
	CHECK((a = json_load_file(path, 0, &err)) != NULL);
	r = json_array_get(a, 0);
	CHECK(json_is_string(json_object_get(r, "id")));
	CHECK(strcmp(json_string_value(json_object_get(r, "kind")), "deploy") == 0);
	CHECK(strcmp(json_string_value(json_object_get(r, "status")),
	    "deploy-failed") == 0);
	CHECK(strcmp(json_string_value(json_object_get(r, "created_at")),
	    "2026-11-24T11:00:00Z") == 0);
	CHECK(strcmp(json_string_value(json_object_get(r, "finished_at")),
	    "2026-11-24T11:02:03Z") == 0);
	CHECK(json_integer_value(json_object_get(json_object_get(r, "steps"),
	    "switch")) == 105);
	CHECK(json_integer_value(json_object_get(r, "total_ms")) == 1234);
	CHECK(json_is_string(json_object_get(json_object_get(r, "backup"),
	    "restore")));
	CHECK(json_is_true(json_object_get(r, "pruned")));
	CHECK(json_is_true(json_object_get(r, "rolling_back")));
	CHECK(json_object_get(r, "live") == NULL);
	/* Unset fields are absent, as they always were. */
	r = json_array_get(a, 1);
	CHECK(json_object_size(r) == 4);	/* kind status created_at ref */
	json_decref(a);
	history_free(&h);
}

static void
test_todays_file(void)
{
	struct history		 h;
	struct deploy_rec	*r;
	char			 why[512] = "";
	size_t			 n = 0;

	history_init(&h);
	CHECK(history_read(&h, fixture(), why, sizeof(why)) == 0);
	if (why[0] != '\0')
		printf("# %s\n", why);
	CHECK(h.n == 10);
	TAILQ_FOREACH(r, &h.recs, entry)
		n++;
	CHECK(n == 10);
	r = TAILQ_FIRST(&h.recs);
	CHECK(r->status == DS_DEPLOY_FAILED && r->finished_ms == 0);
	CHECK(strcmp(r->reason, "interrupted: tendd stopped during the deploy")
	    == 0);
	CHECK(r->step_ms[RS_AWAIT] == 0 && r->step_ms[RS_START] == -1);
	r = history_live(&h);
	CHECK(r != NULL && strcmp(r->id, FIXTURE_LIVE) == 0);
	if (r != NULL) {
		CHECK(strcmp(r->sha, "d15326505db5535a61dfc4e05ddef7178cc4b951")
		    == 0);
		CHECK(r->kind == KIND_DEPLOY && strcmp(r->ref, "main") == 0);
		CHECK(r->created_ms == at("2026-12-02T06:39:19Z"));
		CHECK(r->step_ms[RS_START] == 188 && r->step_ms[RS_SWITCH] == 16);
		CHECK(r->total_ms == 266);
		CHECK(r->backup_file != NULL && strstr(r->backup_restore,
		    "pg_restore --clean") == r->backup_restore);
		CHECK(strcmp(r->dir, "/srv/medusa/releases/" FIXTURE_LIVE) == 0);
	}
	r = history_find_status(&h, DS_AWAITING);
	CHECK(r != NULL && r->rolling_back);
	r = history_find_status(&h, DS_READY);
	CHECK(r != NULL && r->pruned);
	CHECK(history_find_status(&h, DS_BUILD_CANCELED) != NULL);
	r = TAILQ_LAST(&h.recs, deploy_recs);
	CHECK(r->status == DS_BUILD_FAILED && r->id[0] == '\0' &&
	    r->dir == NULL && strcmp(r->ref, "no-such-branch") == 0);
	history_free(&h);
}

/* Read and written back, today's file keeps every field and value: an
 * older tendd (and tendctl) read what this one writes. */
static void
test_todays_file_kept(void)
{
	struct history	 h;
	char		 path[256], why[512];
	json_error_t	 err;
	json_t		*orig, *again;

	fresh();
	history_init(&h);
	CHECK((orig = json_load_file(fixture(), 0, &err)) != NULL);
	CHECK(history_read(&h, fixture(), why, sizeof(why)) == 0);
	snprintf(path, sizeof(path), "%s/medusa.deploys.json", dir);
	CHECK(history_write(&h, path, why, sizeof(why)) == 0);
	CHECK((again = json_load_file(path, 0, &err)) != NULL);
	CHECK(json_equal(orig, again));
	json_decref(orig);
	json_decref(again);
	history_free(&h);
}

static void
test_missing(void)
{
	struct history	 h;
	char		 path[256], why[512];

	fresh();
	history_init(&h);
	CHECK(history_add(&h, KIND_DEPLOY, 1) != NULL);
	snprintf(path, sizeof(path), "%s/none.deploys.json", dir);
	CHECK(history_read(&h, path, why, sizeof(why)) == 0);
	CHECK(h.n == 0 && TAILQ_EMPTY(&h.recs));
	/* Nor does a missing directory make one. */
	snprintf(path, sizeof(path), "%s/no/x.deploys.json", dir);
	CHECK(history_write(&h, path, why, sizeof(why)) == -1);
	CHECK(strstr(why, path) == why);
}

/* One bad file: -1, an empty history, and why names the file. */
static void
bad(const char *text, const char *want)
{
	struct history	 h;
	char		 path[256], why[512] = "";

	history_init(&h);
	CHECK(history_add(&h, KIND_DEPLOY, 1) != NULL);
	put("bad.deploys.json", text);
	snprintf(path, sizeof(path), "%s/bad.deploys.json", dir);
	CHECK(history_read(&h, path, why, sizeof(why)) == -1);
	CHECK(h.n == 0 && TAILQ_EMPTY(&h.recs));
	CHECK(strncmp(why, path, strlen(path)) == 0);
	if (strstr(why, want) == NULL) {
		printf("# %s: want \"%s\"\n", why, want);
		CHECK(strstr(why, want) != NULL);
	}
	history_free(&h);
}

static void
test_corrupt(void)
{
	fresh();
	bad("[\n {\"kind\": \"deploy\", \"status\": \"li", ":2:");
	bad("", "");
	bad("{\"status\": \"live\"}", "not a list of deploys");
	bad("[1]", "record 1: not an object");
	bad("[{\"status\": \"live\"}, {\"status\": \"half-live\"}]",
	    "record 2: status: not a deploy status");
	bad("[{\"kind\": \"deploy\"}]", "record 1: status: missing");
	bad("[{\"status\": \"live\", \"kind\": \"redeploy\"}]",
	    "record 1: kind:");
	bad("[{\"status\": \"live\", \"created_at\": \"yesterday\"}]",
	    "record 1: created_at:");
	bad("[{\"status\": \"live\", \"steps\": {\"build\": \"1s\"}}]",
	    "record 1: build: expected milliseconds");
	bad("[{\"status\": \"live\", \"total_ms\": -5}]",
	    "record 1: total_ms: expected milliseconds");
	bad("[{\"status\": \"live\", \"id\": \"../../etc\"}]",
	    "record 1: id: not a release id");
	bad("[{\"status\": \"live\", \"sha\": 42}]",
	    "record 1: sha: expected a string");
	bad("[{\"status\": \"live\", \"backup\": \"yes\"}]",
	    "record 1: backup: expected an object");
	bad("[{\"status\": \"live\", \"pruned\": 1}]",
	    "record 1: pruned: expected true or false");
	bad("[{\"status\": \"live\", \"status\": \"ready\"}]", "duplicate");
	/* A newer tendd's fields are not an error. */
	{
		struct history	 h;
		char		 path[256], why[512];

		history_init(&h);
		put("new.deploys.json", "[{\"status\": \"ready\", \"colour\": "
		    "\"blue\", \"steps\": {\"warmup\": 5, \"build\": 7}}]\n");
		snprintf(path, sizeof(path), "%s/new.deploys.json", dir);
		CHECK(history_read(&h, path, why, sizeof(why)) == 0);
		CHECK(h.n == 1 && TAILQ_FIRST(&h.recs)->step_ms[RS_BUILD] == 7);
		history_free(&h);
	}
}

static void
test_find(void)
{
	struct history		 h;
	struct deploy_rec	*r;
	char			 why[512];

	history_init(&h);
	CHECK(history_read(&h, fixture(), why, sizeof(why)) == 0);
	r = history_find_id(&h, "20261202T063915Z-aaf4cd0");
	CHECK(r != NULL && r->status == DS_DEPLOY_FAILED);
	CHECK(history_find_id(&h, "20261202T063915Z-nothere") == NULL);
	CHECK(history_find_id(&h, "") == NULL);	/* not the id-less one */
	/* Newest first: the newest ready is the rollback target. */
	r = history_find_status(&h, DS_READY);
	CHECK(r != NULL && strcmp(r->id, "20261202T063909Z-019b244") == 0);
	r = history_find_status(&h, DS_BUILD_FAILED);
	CHECK(r != NULL && strcmp(r->id, "20261202T063915Z-7614cd0") == 0);
	CHECK(history_find_status(&h, DS_BUILDING) == NULL);
	history_free(&h);
}

static void
test_prune(void)
{
	struct history		 h;
	struct deploy_rec	*r, *live, *run;
	unsigned		 i;

	history_init(&h);
	/* The oldest two: a live one and one still running. */
	live = history_add(&h, KIND_DEPLOY, 1);
	snprintf(live->id, sizeof(live->id), "1-live");
	history_set_status(live, DS_LIVE, 2);
	run = history_add(&h, KIND_ROLLBACK, 3);
	history_set_status(run, DS_AWAITING, 4);
	for (i = 0; i < HISTORY_MAX + 10; i++) {
		r = history_add(&h, KIND_DEPLOY, 10 + i);
		history_set_status(r, DS_BUILD_FAILED, 11 + i);
	}
	/* add keeps HISTORY_MAX, yet neither of those went. */
	CHECK(h.n == HISTORY_MAX);
	CHECK(history_live(&h) == live);
	CHECK(history_find_status(&h, DS_AWAITING) == run);
	CHECK(TAILQ_FIRST(&h.recs)->created_ms == 10 + HISTORY_MAX + 9);
	CHECK(history_prune(&h, 5) == HISTORY_MAX - 5);
	CHECK(h.n == 5);
	i = 0;
	TAILQ_FOREACH(r, &h.recs, entry)
		i++;
	CHECK(i == 5);
	/* The newest three failures, then the two kept. */
	r = TAILQ_FIRST(&h.recs);
	CHECK(r->created_ms == 10 + HISTORY_MAX + 9);
	r = TAILQ_NEXT(TAILQ_NEXT(TAILQ_NEXT(r, entry), entry), entry);
	CHECK(r == run && TAILQ_NEXT(r, entry) == live);
	CHECK(history_prune(&h, 0) == 3 && h.n == 2);
	CHECK(history_prune(&h, 0) == 0 && h.n == 2);
	history_remove(&h, run);
	CHECK(h.n == 1 && TAILQ_FIRST(&h.recs) == live);
	history_free(&h);
	CHECK(h.n == 0 && TAILQ_EMPTY(&h.recs));
}

static void
test_status(void)
{
	struct history		 h;
	struct deploy_rec	*a, *b;

	history_init(&h);
	a = history_add(&h, KIND_DEPLOY, 100);
	snprintf(a->id, sizeof(a->id), "A");
	CHECK(a->status == DS_BUILDING && a->created_ms == 100 &&
	    a->finished_ms == 0);
	history_set_status(a, DS_AWAITING, 150);
	history_set_status(a, DS_DEPLOYING, 160);
	CHECK(a->finished_ms == 0);
	history_set_live(&h, a, 200);
	CHECK(a->status == DS_LIVE && a->finished_ms == 200);
	CHECK(history_live(&h) == a);
	b = history_add(&h, KIND_DEPLOY, 300);
	snprintf(b->id, sizeof(b->id), "B");
	b->rolling_back = 1;
	history_set_live(&h, b, 400);
	CHECK(history_live(&h) == b && b->rolling_back == 0);
	/* The one it replaced is the rollback target; it finished then. */
	CHECK(a->status == DS_READY && a->finished_ms == 200);
	CHECK(history_find_status(&h, DS_READY) == a);
	history_set_status(b, DS_DEPLOY_FAILED, 500);
	CHECK(b->finished_ms == 500 && history_live(&h) == NULL);
	CHECK(history_set_reason(b, "no") == 0 && strcmp(b->reason, "no") == 0);
	CHECK(history_set_reason(b, NULL) == 0 && b->reason == NULL);
	CHECK(history_set_backup(b, "f", NULL) == 0 && b->backup_restore == NULL);
	CHECK(deploy_status_running(DS_BUILDING) && !deploy_status_running(DS_READY));
	CHECK(strcmp(deploy_status_names[DS_BUILD_CANCELED], "build-canceled") == 0);
	history_free(&h);
}

static void
on_failed(struct deploy_rec *r, void *arg)
{
	int	*n = arg;

	CHECK(r->status == DS_DEPLOY_FAILED);
	(*n)++;
}

/* What a killed tendd left: today's fixture has a rollback on its way
 * back; add a deploy stopped mid-build and one that had just switched. */
static void
test_recover(void)
{
	struct history		 h;
	struct deploy_rec	*r, *building, *switched;
	char			 why[512];
	int			 failed = 0;

	history_init(&h);
	CHECK(history_read(&h, fixture(), why, sizeof(why)) == 0);
	building = history_add(&h, KIND_DEPLOY, 1);
	switched = history_add(&h, KIND_DEPLOY, 2);
	snprintf(switched->id, sizeof(switched->id), "20261203T000000Z-1234567");
	history_set_status(switched, DS_DEPLOYING, 0);
	/* current points at the switched one */
	CHECK(history_recover(&h, switched->id, on_failed, &failed) == 4);
	CHECK(failed == 1);
	CHECK(building->status == DS_DEPLOY_FAILED &&
	    strcmp(building->reason, "interrupted: tendd stopped during the "
	    "deploy") == 0);
	CHECK(switched->status == DS_LIVE && history_live(&h) == switched);
	r = history_find_id(&h, FIXTURE_LIVE);
	CHECK(r != NULL && r->status == DS_READY);
	r = history_find_id(&h, "20261202T063914Z-8a60b9d");
	CHECK(r != NULL && r->status == DS_READY && !r->rolling_back);
	/* Nothing left to do the second time. */
	CHECK(history_recover(&h, switched->id, on_failed, &failed) == 0);
	CHECK(failed == 1);
	/* current gone: no record is live. */
	CHECK(history_recover(&h, "", NULL, NULL) == 1);
	CHECK(history_live(&h) == NULL);
	history_free(&h);
}

static void
test_releases_json(void)
{
	struct history	 h;
	char		 why[512];
	json_t		*a, *r;
	size_t		 i, live = 0;

	history_init(&h);
	CHECK(history_read(&h, fixture(), why, sizeof(why)) == 0);
	CHECK((a = history_releases_json(&h, FIXTURE_LIVE)) != NULL);
	CHECK(json_array_size(a) == 10);
	json_array_foreach(a, i, r) {
		CHECK(json_is_boolean(json_object_get(r, "live")));
		if (json_is_true(json_object_get(r, "live"))) {
			live++;
			CHECK(strcmp(json_string_value(json_object_get(r, "id")),
			    FIXTURE_LIVE) == 0);
			CHECK(strcmp(json_string_value(json_object_get(r,
			    "status")), "live") == 0);
		}
	}
	CHECK(live == 1);
	json_decref(a);
	/* A release current does not point at is not live, whatever the
	 * record says. */
	CHECK((a = history_releases_json(&h, "other")) != NULL);
	json_array_foreach(a, i, r)
		CHECK(json_is_false(json_object_get(r, "live")));
	json_decref(a);
	history_free(&h);
}

int
main(void)
{
	char	cmd[128];

	RUN(test_round_trip);
	RUN(test_field_names);
	RUN(test_todays_file);
	RUN(test_todays_file_kept);
	RUN(test_missing);
	RUN(test_corrupt);
	RUN(test_find);
	RUN(test_prune);
	RUN(test_status);
	RUN(test_recover);
	RUN(test_releases_json);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (dir[0] != '\0' && system(cmd) != 0)
		printf("# cannot remove %s\n", dir);
	return check_failed();
}
