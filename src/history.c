/*
 * history.c: an app's deploy records, one JSON file per app in state_dir
 * (APP.deploys.json: an array, newest first), and the struct deploy_rec
 * the rest of tend works with.  JSON lives here only: history_read turns
 * the file into records, history_write turns them back and replaces the
 * file through atomic_write, so a kill -9 at any moment leaves a readable
 * history.  The field names are the file's and tendctl releases --json's
 * alike and do not change: an upgraded tendd reads an older one's file.
 *
 * Pure: no event loop, no clock but the now_ms callers pass in.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tend.h"

const char *const deploy_status_names[DS__COUNT] = {
	[DS_BUILDING] = "building",
	[DS_AWAITING] = "awaiting",
	[DS_DEPLOYING] = "deploying",
	[DS_LIVE] = "live",
	[DS_READY] = "ready",
	[DS_BUILD_FAILED] = "build-failed",
	[DS_DEPLOY_FAILED] = "deploy-failed",
	[DS_BUILD_CANCELED] = "build-canceled",
};

const char *const deploy_kind_names[KIND__COUNT] = {
	[KIND_DEPLOY] = "deploy",
	[KIND_ROLLBACK] = "rollback",
	[KIND_RELOAD] = "reload",
};

const char *const rec_step_names[RS__COUNT] = {
	[RS_FETCH] = "fetch",
	[RS_CHECKOUT] = "checkout",
	[RS_BUILD] = "build",
	[RS_AWAIT] = "await",
	[RS_START] = "start",
	[RS_SWITCH] = "switch",
};

#define INTERRUPTED	"interrupted: tendd stopped during the deploy"

int
deploy_status_running(enum deploy_status st)
{
	return st == DS_BUILDING || st == DS_AWAITING || st == DS_DEPLOYING;
}

static int
name_index(const char *const *names, int n, const char *s)
{
	int	i;

	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* --- records --------------------------------------------------------- */

static struct deploy_rec *
rec_new(void)
{
	struct deploy_rec	*r;
	int			 i;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->kind = KIND_DEPLOY;
	r->status = DS_BUILDING;
	for (i = 0; i < RS__COUNT; i++)
		r->step_ms[i] = -1;
	r->total_ms = -1;
	return r;
}

static void
rec_free(struct deploy_rec *r)
{
	free(r->dir);
	free(r->reason);
	free(r->backup_file);
	free(r->backup_restore);
	free(r);
}

/* *field = a copy of s (NULL clears); unchanged when out of memory. */
static int
set_str(char **field, const char *s)
{
	char	*c = NULL;

	if (s != NULL && (c = strdup(s)) == NULL)
		return -1;
	free(*field);
	*field = c;
	return 0;
}

void
history_init(struct history *h)
{
	TAILQ_INIT(&h->recs);
	h->n = 0;
}

void
history_free(struct history *h)
{
	struct deploy_rec	*r;

	while ((r = TAILQ_FIRST(&h->recs)) != NULL) {
		TAILQ_REMOVE(&h->recs, r, entry);
		rec_free(r);
	}
	h->n = 0;
}

int
history_path(char *buf, size_t len, const char *state_dir, const char *app)
{
	int	n = snprintf(buf, len, "%s/%s.deploys.json", state_dir, app);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

struct deploy_rec *
history_add(struct history *h, enum deploy_kind kind, uint64_t now_ms)
{
	struct deploy_rec	*r;

	if ((r = rec_new()) == NULL)
		return NULL;
	r->kind = kind;
	r->created_ms = now_ms;
	TAILQ_INSERT_HEAD(&h->recs, r, entry);
	h->n++;
	(void)history_prune(h, HISTORY_MAX);
	return r;
}

void
history_remove(struct history *h, struct deploy_rec *r)
{
	TAILQ_REMOVE(&h->recs, r, entry);
	h->n--;
	rec_free(r);
}

size_t
history_prune(struct history *h, size_t keep)
{
	struct deploy_rec	*r, *prev;
	size_t			 gone = 0;

	for (r = TAILQ_LAST(&h->recs, deploy_recs); r != NULL &&
	    h->n > keep; r = prev) {
		prev = TAILQ_PREV(r, deploy_recs, entry);
		if (deploy_status_running(r->status) || r->status == DS_LIVE)
			continue;
		history_remove(h, r);
		gone++;
	}
	return gone;
}

struct deploy_rec *
history_find_id(const struct history *h, const char *id)
{
	struct deploy_rec	*r;

	if (*id == '\0')
		return NULL;
	TAILQ_FOREACH(r, &h->recs, entry)
		if (strcmp(r->id, id) == 0)
			return r;
	return NULL;
}

struct deploy_rec *
history_find_status(const struct history *h, enum deploy_status st)
{
	struct deploy_rec	*r;

	TAILQ_FOREACH(r, &h->recs, entry)
		if (r->status == st)
			return r;
	return NULL;
}

struct deploy_rec *
history_live(const struct history *h)
{
	return history_find_status(h, DS_LIVE);
}

void
history_set_status(struct deploy_rec *r, enum deploy_status st,
    uint64_t now_ms)
{
	r->status = st;
	if (!deploy_status_running(st))
		r->finished_ms = now_ms;
}

void
history_set_live(struct history *h, struct deploy_rec *rec, uint64_t now_ms)
{
	struct deploy_rec	*r;

	/* The one that was live is the rollback target now; it finished
	 * when it went live, not now. */
	TAILQ_FOREACH(r, &h->recs, entry)
		if (r != rec && r->status == DS_LIVE)
			r->status = DS_READY;
	rec->rolling_back = 0;
	history_set_status(rec, DS_LIVE, now_ms);
}

void
history_step(struct deploy_rec *r, enum rec_step step, uint64_t ms)
{
	r->step_ms[step] = ms > INT64_MAX ? INT64_MAX : (int64_t)ms;
}

int
history_set_reason(struct deploy_rec *r, const char *reason)
{
	return set_str(&r->reason, reason);
}

int
history_set_dir(struct deploy_rec *r, const char *dir)
{
	return set_str(&r->dir, dir);
}

int
history_set_backup(struct deploy_rec *r, const char *file,
    const char *restore)
{
	char	*f = NULL, *c = NULL;

	if ((file != NULL && (f = strdup(file)) == NULL) ||
	    (restore != NULL && (c = strdup(restore)) == NULL)) {
		free(f);
		return -1;
	}
	free(r->backup_file);
	free(r->backup_restore);
	r->backup_file = f;
	r->backup_restore = c;
	return 0;
}

size_t
history_recover(struct history *h, const char *live_id,
    void (*failed)(struct deploy_rec *, void *), void *arg)
{
	struct deploy_rec	*r;
	size_t			 changed = 0;

	TAILQ_FOREACH(r, &h->recs, entry) {
		if (!deploy_status_running(r->status))
			continue;
		changed++;
		if (r->id[0] != '\0' && strcmp(r->id, live_id) == 0) {
			/* It got as far as pointing current at its release. */
			r->status = DS_LIVE;
			r->rolling_back = 0;
		} else if (r->rolling_back) {
			/* A rollback target stays one. */
			r->status = DS_READY;
			r->rolling_back = 0;
		} else {
			r->status = DS_DEPLOY_FAILED;
			/* Out of memory: the status alone says enough. */
			(void)set_str(&r->reason, INTERRUPTED);
			if (failed != NULL)
				failed(r, arg);
		}
	}
	/* Exactly one live record: the one current points at. */
	TAILQ_FOREACH(r, &h->recs, entry)
		if (r->status == DS_LIVE && strcmp(r->id, live_id) != 0) {
			r->status = DS_READY;
			changed++;
		}
	return changed;
}

/* --- JSON ------------------------------------------------------------ */

static void
whyf(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
whyf(char *why, size_t len, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* A string field into a fixed buffer: absent leaves it "". */
static int
get_fixed(json_t *o, const char *key, char *buf, size_t size,
    const char **err)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		*err = "expected a string";
		return -1;
	}
	if (json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		*err = "too long";
		return -1;
	}
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int
get_str(json_t *o, const char *key, char **field, const char **err)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		*err = "expected a string";
		return -1;
	}
	if (set_str(field, json_string_value(v)) != 0) {
		*err = "out of memory";
		return -1;
	}
	return 0;
}

static int
get_time(json_t *o, const char *key, uint64_t *ms, const char **err)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || time_parse_iso(json_string_value(v), ms) != 0) {
		*err = "expected a time like 2026-11-24T10:15:00Z";
		return -1;
	}
	return 0;
}

static int
get_ms(json_t *v, int64_t *ms, const char **err)
{
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		*err = "expected milliseconds";
		return -1;
	}
	*ms = (int64_t)json_integer_value(v);
	return 0;
}

static int
get_bool(json_t *o, const char *key, int *b, const char **err)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		*err = "expected true or false";
		return -1;
	}
	*b = json_is_true(v);
	return 0;
}

/* One record of the file; unknown fields are a newer tendd's, ignored.
 * NULL with why "record N: field: problem". */
static struct deploy_rec *
rec_from_json(json_t *o, size_t nth, char *why, size_t len)
{
	struct deploy_rec	*r;
	const char		*err = NULL, *field = NULL, *key;
	json_t			*v, *steps, *b;
	int			 i;

	if (!json_is_object(o)) {
		whyf(why, len, "record %zu: not an object", nth);
		return NULL;
	}
	if ((r = rec_new()) == NULL) {
		whyf(why, len, "out of memory");
		return NULL;
	}
	if (get_fixed(o, field = "id", r->id, sizeof(r->id), &err) != 0 ||
	    get_fixed(o, field = "ref", r->ref, sizeof(r->ref), &err) != 0 ||
	    get_fixed(o, field = "sha", r->sha, sizeof(r->sha), &err) != 0 ||
	    get_time(o, field = "created_at", &r->created_ms, &err) != 0 ||
	    get_time(o, field = "finished_at", &r->finished_ms, &err) != 0 ||
	    get_ms(json_object_get(o, field = "total_ms"), &r->total_ms,
	    &err) != 0 ||
	    get_str(o, field = "dir", &r->dir, &err) != 0 ||
	    get_str(o, field = "reason", &r->reason, &err) != 0 ||
	    get_bool(o, field = "rolling_back", &r->rolling_back, &err) != 0 ||
	    get_bool(o, field = "pruned", &r->pruned, &err) != 0)
		goto bad;
	field = "id";
	if (r->id[0] != '\0' && !valid_release_id(r->id)) {
		err = "not a release id";
		goto bad;
	}
	field = "status";
	v = json_object_get(o, "status");
	if (!json_is_string(v) || (i = name_index(deploy_status_names,
	    DS__COUNT, json_string_value(v))) < 0) {
		err = v == NULL ? "missing" : "not a deploy status";
		goto bad;
	}
	r->status = (enum deploy_status)i;
	field = "kind";
	if ((v = json_object_get(o, "kind")) != NULL) {
		if (!json_is_string(v) || (i = name_index(deploy_kind_names,
		    KIND__COUNT, json_string_value(v))) < 0) {
			err = "not deploy, rollback or reload";
			goto bad;
		}
		r->kind = (enum deploy_kind)i;
	}
	field = "steps";
	if ((steps = json_object_get(o, "steps")) != NULL) {
		if (!json_is_object(steps)) {
			err = "expected an object";
			goto bad;
		}
		json_object_foreach(steps, key, v) {
			if ((i = name_index(rec_step_names, RS__COUNT, key)) < 0)
				continue;
			field = key;
			if (get_ms(v, &r->step_ms[i], &err) != 0)
				goto bad;
		}
	}
	field = "backup";
	if ((b = json_object_get(o, "backup")) != NULL && !json_is_null(b)) {
		if (!json_is_object(b)) {
			err = "expected an object";
			goto bad;
		}
		if (get_str(b, field = "file", &r->backup_file, &err) != 0 ||
		    get_str(b, field = "restore", &r->backup_restore, &err) != 0)
			goto bad;
	}
	return r;
bad:
	whyf(why, len, "record %zu: %s: %s", nth, field, err);
	rec_free(r);
	return NULL;
}

/* The records of a JSON array into h (emptied first). */
static int
history_from_json(struct history *h, json_t *a, char *why, size_t len)
{
	struct deploy_rec	*r;
	json_t			*o;
	size_t			 i;

	history_free(h);
	if (!json_is_array(a)) {
		whyf(why, len, "not a list of deploys");
		return -1;
	}
	json_array_foreach(a, i, o) {
		if ((r = rec_from_json(o, i + 1, why, len)) == NULL) {
			history_free(h);
			return -1;
		}
		TAILQ_INSERT_TAIL(&h->recs, r, entry);
		h->n++;
	}
	return 0;
}

/* Sets key only when v was made: every caller checks *oom at the end. */
static void
put(json_t *o, const char *key, json_t *v, int *oom)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		*oom = 1;
}

static void
put_time(json_t *o, const char *key, uint64_t ms, int *oom)
{
	char	ts[TIME_ISO_MAX];

	if (ms == 0)
		return;
	if (time_iso(ts, sizeof(ts), ms, 0) == 0)
		*oom = 1;
	else
		put(o, key, json_string(ts), oom);
}

static json_t *
rec_to_json(const struct deploy_rec *r)
{
	json_t	*o, *steps = NULL, *b;
	int	 oom = 0, i;

	if ((o = json_object()) == NULL)
		return NULL;
	if (r->id[0] != '\0')
		put(o, "id", json_string(r->id), &oom);
	put(o, "kind", json_string(deploy_kind_names[r->kind]), &oom);
	if (r->ref[0] != '\0')
		put(o, "ref", json_string(r->ref), &oom);
	if (r->sha[0] != '\0')
		put(o, "sha", json_string(r->sha), &oom);
	put(o, "status", json_string(deploy_status_names[r->status]), &oom);
	put_time(o, "created_at", r->created_ms, &oom);
	put_time(o, "finished_at", r->finished_ms, &oom);
	if (r->dir != NULL)
		put(o, "dir", json_string(r->dir), &oom);
	for (i = 0; i < RS__COUNT; i++) {
		if (r->step_ms[i] < 0)
			continue;
		if (steps == NULL) {
			steps = json_object();
			put(o, "steps", steps, &oom);
			if (oom)
				break;
		}
		put(steps, rec_step_names[i], json_integer(r->step_ms[i]), &oom);
	}
	if (r->total_ms >= 0)
		put(o, "total_ms", json_integer(r->total_ms), &oom);
	if (r->reason != NULL)
		put(o, "reason", json_string(r->reason), &oom);
	if (r->backup_file != NULL || r->backup_restore != NULL) {
		if ((b = json_object()) != NULL) {
			if (r->backup_file != NULL)
				put(b, "file", json_string(r->backup_file), &oom);
			if (r->backup_restore != NULL)
				put(b, "restore", json_string(r->backup_restore),
				    &oom);
		}
		put(o, "backup", b, &oom);
	}
	if (r->rolling_back)
		put(o, "rolling_back", json_true(), &oom);
	if (r->pruned)
		put(o, "pruned", json_true(), &oom);
	if (oom) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Every record, newest first; "live" added when live_id is not NULL. */
static json_t *
history_to_json(const struct history *h, const char *live_id)
{
	struct deploy_rec	*r;
	json_t			*a, *o;

	if ((a = json_array()) == NULL)
		return NULL;
	TAILQ_FOREACH(r, &h->recs, entry) {
		if ((o = rec_to_json(r)) == NULL ||
		    (live_id != NULL && json_object_set_new(o, "live",
		    json_boolean(r->status == DS_LIVE &&
		    strcmp(r->id, live_id) == 0)) != 0) ||
		    json_array_append_new(a, o) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *
history_releases_json(const struct history *h, const char *live_id)
{
	return history_to_json(h, live_id);
}

int
history_read(struct history *h, const char *path, char *why, size_t len)
{
	struct stat	 st;
	json_error_t	 err;
	json_t		*a;
	char		*buf = NULL;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd, r;

	history_free(h);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		whyf(why, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		whyf(why, len, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > HISTORY_MAX_SIZE) {
		whyf(why, len, "%s: %s", path, S_ISREG(st.st_mode) ?
		    "too large for a deploy history" : "not a regular file");
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		whyf(why, len, "%s: out of memory", path);
		goto fail;
	}
	while (off < (size_t)st.st_size) {
		if ((n = read(fd, buf + off, (size_t)st.st_size - off)) < 0) {
			if (errno == EINTR)
				continue;
			whyf(why, len, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	fd = -1;
	if ((a = json_loadb(buf, off, JSON_REJECT_DUPLICATES, &err)) == NULL) {
		whyf(why, len, "%s:%d: %s", path, err.line, err.text);
		free(buf);
		return -1;
	}
	free(buf);
	if ((r = history_from_json(h, a, why, len)) != 0) {
		char	inner[512];

		snprintf(inner, sizeof(inner), "%s", why);
		whyf(why, len, "%s: %s", path, inner);
	}
	json_decref(a);
	return r;
fail:
	free(buf);
	if (fd != -1)
		close(fd);
	return -1;
}

/* The file's text, ending in a newline. */
static int
write_json(json_t *a, const char *path, char *why, size_t len)
{
	char	*text, *t;
	size_t	 n;
	int	 r;

	if ((text = json_dumps(a, JSON_INDENT(1))) == NULL) {
		whyf(why, len, "%s: out of memory", path);
		return -1;
	}
	n = strlen(text);
	/* The file ends in a newline, as text files do. */
	if ((t = realloc(text, n + 2)) == NULL) {
		free(text);
		whyf(why, len, "%s: out of memory", path);
		return -1;
	}
	text = t;
	text[n++] = '\n';
	text[n] = '\0';
	if ((r = atomic_write(path, text, n, 0640)) != 0)
		whyf(why, len, "%s: %s", path, strerror(errno));
	free(text);
	return r;
}

int
history_write(const struct history *h, const char *path, char *why,
    size_t len)
{
	json_t	*a;
	int	 r;

	if ((a = history_to_json(h, NULL)) == NULL) {
		whyf(why, len, "%s: out of memory", path);
		return -1;
	}
	r = write_json(a, path, why, len);
	json_decref(a);
	return r;
}

/* Release ids are made by tend ("20261126T101500Z-abc1234") but also
 * come back in requests: letters, digits, '-', '_', '.', no "..". */
int
valid_release_id(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.' || strstr(s, "..") != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' ||
		    s[i] == '.'))
			return 0;
	return 1;
}

/* A git ref as tendctl deploy takes it: a branch, tag or commit, never
 * an option ("-..."), never whitespace or control characters. */
int
valid_git_ref(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > 200 || s[0] == '-' || strstr(s, "..") != NULL ||
	    strstr(s, "@{") != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || strchr("-_./", s[i]) != NULL))
			return 0;
	return 1;
}
