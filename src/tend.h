/*
 * tend.h: the nouns of tend (configuration, apps, instances, clients) and
 * the prototypes of every module, grouped under the file that defines them.
 *
 * The pure modules (units, dotenv, errs, backoff, heap, redact, conf, proto,
 * timefmt, atomic, history) form libtend.a and depend on nothing but libc,
 * inih and jansson, so unit tests and fuzzers link them alone.  Everything
 * that touches the event loop lives in tendd's own files.
 */
#ifndef TEND_H
#define TEND_H

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <sys/types.h>
#include <sys/queue.h>

/* version.c: the release and the git commit of this build. */
extern const char tend_version[], tend_commit[];

/* Defaults from configure's --sysconfdir, --runstatedir and
 * --localstatedir (Makefile.am); these are what a Debian build gets, for
 * the few builds (the fuzzers) that compile without Makefile.am's flags. */
#ifndef TEND_DEFAULT_CONF
#define TEND_DEFAULT_CONF	"/etc/tend/tend.conf"
#endif
#ifndef TEND_DEFAULT_SOCKET
#define TEND_DEFAULT_SOCKET	"/run/tend/tend.sock"
#endif
#ifndef TEND_DEFAULT_STATE_DIR
#define TEND_DEFAULT_STATE_DIR	"/var/lib/tend"
#endif
#ifndef TEND_DEFAULT_LOG_DIR
#define TEND_DEFAULT_LOG_DIR	"/var/log/tend"
#endif

/* A control request is one JSON line, at most 64 KiB (tendctl(1)). */
#define PROTO_MAX_REQUEST	(64 * 1024)
/* An .env file larger than this is a mistake, not configuration. */
#define DOTENV_MAX_SIZE		(1024 * 1024)
/* tend.conf likewise; and one line of it (inih itself stops at 200). */
#define CONF_MAX_SIZE		(4 * 1024 * 1024)
#define CONF_MAX_LINE		(64 * 1024)
/* App names become file names (APP.log) and JSON keys: keep them tame. */
#define APP_NAME_MAX		64
/* More copies than this of one app on one host is a typo. */
#define APP_MAX_INSTANCES	64

/* errs.c: a list of "file:line: message" strings, reported all at once. */
struct errs {
	char	**msg;
	size_t	  n;
	size_t	  cap;
	int	  oom;		/* an error could not be recorded */
};
void	errs_init(struct errs *);
void	errs_free(struct errs *);
void	errs_add(struct errs *, const char *file, int line, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
void	errs_addv(struct errs *, const char *file, int line, const char *fmt,
	    va_list) __attribute__((format(printf, 4, 0)));

/* units.c: the value syntax shared by tend.conf and the protocol.
 * Each returns 0, or -1 with *why set to a static phrase for the user. */
int	parse_duration(const char *, uint64_t *ms, const char **why);
int	parse_size(const char *, uint64_t *bytes, const char **why);
int	parse_percent(const char *, unsigned *pct, const char **why);
int	parse_uint(const char *, unsigned long min, unsigned long max,
	    unsigned long *, const char **why);
int	parse_bool(const char *, int *, const char **why);
int	parse_signal(const char *, int *sig, const char **why);
const char *signal_name(int);	/* "SIGTERM"; "SIG42" for unknown ones */
/* "1.5s", "250ms", "3m20s": what people read in status. */
void	format_duration(char *, size_t, uint64_t ms);
void	format_size(char *, size_t, uint64_t bytes);
int	valid_app_name(const char *);

/* dotenv.c: a clean environment of "KEY=value" strings, and .env files. */
struct env {
	char	**kv;		/* NULL-terminated, for execve */
	size_t	  n;
	size_t	  cap;
};
void	env_init(struct env *);
void	env_free(struct env *);
int	env_set(struct env *, const char *key, const char *value);
int	env_setkv(struct env *, const char *kv);	/* "KEY=value" */
const char *env_get(const struct env *, const char *key);
int	env_valid_key(const char *key, size_t len);
/* Parse .env text; every error goes to errs as "file:line: ...", values
 * are never quoted back (they may be secrets).  Returns 0 or -1. */
int	dotenv_parse(const char *buf, size_t len, const char *file,
	    struct env *, struct errs *);
int	dotenv_load(const char *path, struct env *, struct errs *);

/* envsum.c: an environment's names and keyed hashes, never its values;
 * what changed between two. */
#define ENVSUM_KEY	16
#define ENVSUM_HASH	16	/* 128 bits: no two values collide by chance */
void	siphash(const void *, size_t, const unsigned char key[16],
	    unsigned char *out, size_t outlen);	/* SipHash-2-4, 8 or 16 */
struct envsum_var {
	char		*name;
	unsigned char	 h[ENVSUM_HASH];	/* of "KEY=value" */
};
struct envsum {
	struct envsum_var *v;		/* sorted by name */
	size_t		 n;
};
int	envsum_make(struct envsum *, const struct env *,
	    const unsigned char key[ENVSUM_KEY]);
void	envsum_free(struct envsum *);
enum envchange_kind {
	ENVCHANGE_ADDED,
	ENVCHANGE_REMOVED,
	ENVCHANGE_CHANGED,
	ENVCHANGE__COUNT
};
extern const char *const envchange_names[ENVCHANGE__COUNT];
struct envchange {
	const char		*name;
	enum envchange_kind	 kind;
};
ssize_t	envsum_diff(const struct envsum *from, const struct envsum *to,
	    struct envchange **);
void	envchange_text(const struct envchange *, size_t, char *, size_t);

/* backoff.c: restart delays and the start limit. */
struct backoff {
	uint64_t base;		/* restart_delay */
	uint64_t max;		/* restart_delay_max */
	unsigned n;		/* consecutive quick failures so far */
};
/* Next delay: base * 2^n capped at max, less up to a fifth of it chosen
 * by rnd (jitter, so a fleet of crashing apps does not restart in step). */
uint64_t backoff_next(struct backoff *, uint32_t rnd);
void	backoff_reset(struct backoff *);

struct startlimit {
	uint64_t *t;		/* ring of restart times, ms */
	unsigned  cap;		/* start_limit + 1 */
	unsigned  n;
	unsigned  head;
};
int	startlimit_init(struct startlimit *, unsigned limit);
void	startlimit_free(struct startlimit *);
/* Record a restart at now; return 1 when more than limit restarts fall
 * inside interval ms (the app must then be failed), else 0. */
int	startlimit_hit(struct startlimit *, uint64_t now, uint64_t interval);
void	startlimit_reset(struct startlimit *);

/* heap.c: --max-old-space-size from the memory the machine grants us. */
/* Memory available to tendd's cgroup (v2 memory.max, v1 limit_in_bytes)
 * or MemTotal; sysroot "" for the real system, a directory in tests. */
int	heap_memory_limit(const char *sysroot, uint64_t *bytes, char *src,
	    size_t srclen);
uint64_t heap_mib(uint64_t mem, unsigned pct, unsigned instances);
int	node_options_has_heap(const char *node_options);
/* NODE_OPTIONS with --max-old-space-size=MIB appended; malloc'd. */
char	*node_options_add_heap(const char *node_options, uint64_t mib);

/* redact.c: what must never be printed. */
int	secret_key(const char *key);	/* *_SECRET *_KEY *_TOKEN *_PASSWORD ... */
/* Copy of s with any URL userinfo password replaced by "***"; malloc'd. */
char	*redact_url(const char *s);

/* profile.c: defaults and environment rules for a kind of app. */
enum profile { PROFILE_NONE, PROFILE_MEDUSA, PROFILE__COUNT };
extern const char *const profile_names[PROFILE__COUNT];
int	profile_parse(const char *, enum profile *);
const char *profile_default(enum profile, const char *key);

/* Where an app stands among the others (release groups: follows =). */
enum profile_role {
	PROFILE_STANDALONE,	/* follows none, followed by none */
	PROFILE_LEADER,		/* other apps follow it */
	PROFILE_FOLLOWER,	/* it follows another app */
};
/*
 * What a rule needs to know of the other apps: tendd computes it from the
 * configuration and the apps' environments (profile_ctx_make), so the
 * rules stay pure.  NULL where it is not known (tendd -t): those rules
 * are skipped.
 */
struct profile_ctx {
	enum profile_role role;
	unsigned	 worker_followers;	/* LEADER: followers that run as
						 * the worker (no port, or
						 * MEDUSA_WORKER_MODE=worker) */
	int		 has_port;	/* a follower without one is a worker */
	unsigned	 instances;	/* the app's own */
	unsigned	 same_db_workers;	/* instances of other Medusa apps
						 * (the profile's, or following
						 * one) on the same database that
						 * run the worker (worker, shared) */
};
/* One app as profile_ctx_make sees it. */
struct profile_peer {
	const char	*name;
	const char	*follows;	/* its leader; NULL or "": none */
	unsigned	 port;		/* 0: none */
	unsigned	 instances;
	enum profile	 profile;
	const struct env *env;		/* NULL: it does not build */
};
void	profile_ctx_make(struct profile_ctx *, const struct profile_peer *,
	    size_t n, size_t self);
/* Check env against profile p: errors to errs, advice to warns.  The
 * first form has no ctx: the rules about other apps are skipped. */
void	profile_check(enum profile, const struct env *, struct errs *errs,
	    struct errs *warns);
void	profile_check_ctx(enum profile, const struct env *,
	    const struct profile_ctx *, struct errs *errs, struct errs *warns);
/* The variables that name a Redis the app uses, NULL-terminated: each
 * one set is probed (preflight.c). */
extern const char *const profile_redis_vars[];
/* A file a release must hold before it may go live, relative to the
 * release's directory, or NULL; the deploy tests it as the app's user
 * after the build, and when it is missing fails the deploy with
 * profile_required_file_why(). */
const char *profile_required_file(enum profile, const struct env *);
const char *profile_required_file_why(enum profile);
/* A line of the app's output that says its configuration is unfit for
 * production: a one-line warning naming the fix (a static string, the
 * same pointer for the same warning), else NULL. */
const char *profile_log_warning(enum profile, const char *line, size_t len);

/* http.c: a health check's request and the head of its answer. */
#define HTTP_HEAD_MAX	(16 * 1024)
struct http_head {
	int		 status;
	size_t		 body_off;
	long long	 content_length;	/* -1: until the connection ends */
	int		 chunked;
};
int	http_request(char *, size_t, const char *path, unsigned port);
int	http_parse_head(const char *, size_t, struct http_head *,
	    const char **why);

/* url.c: REDIS_URL and DATABASE_URL, split into the parts tend honours. */
struct redis_url {
	char	host[256];
	int	port;
	char	user[128];
	char	pass[512];
	int	db;
	int	tls;		/* rediss:// */
};
int	redis_url_parse(const char *, struct redis_url *, char *why, size_t);
struct pg_url {
	char	user[128];
	char	pass[1024];	/* a cloud IAM token can be this long */
	char	host[256];	/* "" libpq's default socket, "/dir" a socket */
	char	port[8];
	char	db[128];
	char	sslmode[16];	/* "" libpq's default */
};
int	pg_url_parse(const char *, struct pg_url *, char *why, size_t);
int	pg_url_conninfo(const struct pg_url *, char *, size_t);

/* timefmt.c: wall-clock times, UTC, ISO 8601. */
#define TIME_MS		0x1	/* "...T15:13:31.123Z" */
#define TIME_BASIC	0x2	/* "20261124T151331Z": no '-' or ':' */
#define TIME_ISO_MAX	32	/* room for any of them */
uint64_t time_now_ms(void);	/* CLOCK_REALTIME, ms since the epoch */
uint64_t time_mono_ms(void);	/* CLOCK_MONOTONIC, ms: for timeouts */
/* "2026-11-24T15:13:31Z" (flags 0) into buf; the length, or 0 with buf
 * "" when it does not fit. */
size_t	time_iso(char *, size_t, uint64_t ms, int flags);
/* What time_iso wrote without TIME_BASIC, back to ms; -1 (EINVAL). */
int	time_parse_iso(const char *, uint64_t *ms);

/* atomic.c: replace a file whole: temporary file beside it, fsync,
 * renameat over name, fsync of the directory.  name is one path
 * component; a symbolic link at name is replaced, never followed.
 * 0, or -1 with errno and no temporary file left behind. */
int	atomic_write_at(int dirfd, const char *name, const void *, size_t,
	    mode_t);
int	atomic_write(const char *path, const void *, size_t, mode_t);

/* history.c: deploy records, one JSON file per app in state_dir
 * (APP.deploys.json, newest first).  JSON exists only in history_read,
 * history_write and history_releases_json; the rest is structs. */
enum deploy_status {
	DS_BUILDING, DS_AWAITING, DS_DEPLOYING, DS_LIVE, DS_READY,
	DS_BUILD_FAILED, DS_DEPLOY_FAILED, DS_BUILD_CANCELED, DS__COUNT
};
extern const char *const deploy_status_names[DS__COUNT];
/* building, awaiting, deploying: a deploy is still working on it. */
int	deploy_status_running(enum deploy_status);

enum deploy_kind { KIND_DEPLOY, KIND_ROLLBACK, KIND_RELOAD, KIND__COUNT };
extern const char *const deploy_kind_names[KIND__COUNT];

/* The steps a record times, in milliseconds under "steps". */
enum rec_step {
	RS_FETCH, RS_CHECKOUT, RS_BUILD, RS_AWAIT, RS_START, RS_SWITCH,
	RS__COUNT
};
extern const char *const rec_step_names[RS__COUNT];

/* A history past this many records loses its oldest. */
#define HISTORY_MAX	100
/* A history file larger than this is not one tend wrote. */
#define HISTORY_MAX_SIZE	(4 * 1024 * 1024)

struct deploy_rec {
	TAILQ_ENTRY(deploy_rec) entry;
	char		 id[80];	/* release id; "" until the commit is known */
	enum deploy_kind kind;
	char		 ref[208];	/* as asked for; "" for none */
	char		 sha[48];	/* "" until resolved */
	enum deploy_status status;
	uint64_t	 created_ms;	/* wall clock; 0: unknown */
	uint64_t	 finished_ms;	/* 0: not finished */
	int64_t		 step_ms[RS__COUNT];	/* -1: not timed */
	int64_t		 total_ms;	/* -1: never went live */
	char		*dir;		/* the release's folder; NULL: none yet */
	char		*reason;	/* why it failed; NULL: it did not */
	char		*backup_file;	/* the dump taken before its migration */
	char		*backup_restore;	/* the command that restores it */
	int		 rolling_back;	/* a ready release on its way back */
	int		 pruned;	/* keep_releases removed its folder */
};

struct history {
	TAILQ_HEAD(deploy_recs, deploy_rec) recs;	/* newest first */
	size_t		 n;
};

void	history_init(struct history *);
void	history_free(struct history *);
/* state_dir/APP.deploys.json into buf; -1 when it does not fit. */
int	history_path(char *, size_t, const char *state_dir, const char *app);
/* Read path into h (initialized; emptied first).  A missing file is an
 * empty history; a symbolic link, a file over HISTORY_MAX_SIZE, bad JSON
 * or a record that is not one (unknown status, wrong types) is an error:
 * -1 with why "path: ..." or "path: record N: field: ...", h empty.
 * Fields a newer tendd added are ignored. */
int	history_read(struct history *, const char *path, char *why, size_t);
/* Write h to path through atomic_write; -1 with why "path: ...". */
int	history_write(const struct history *, const char *path, char *why,
	    size_t);
/* A new record at the head: status building, created now.  The oldest
 * beyond HISTORY_MAX go.  NULL when out of memory. */
struct deploy_rec *history_add(struct history *, enum deploy_kind,
	    uint64_t now_ms);
void	history_remove(struct history *, struct deploy_rec *);
/* Drop the oldest records until at most keep remain, never one still
 * running nor the live one: a deploy keeps its record's pointer while it
 * runs.  Returns how many went. */
size_t	history_prune(struct history *, size_t keep);
struct deploy_rec *history_find_id(const struct history *, const char *id);
/* The newest record with that status (DS_READY: the rollback target). */
struct deploy_rec *history_find_status(const struct history *,
	    enum deploy_status);
/* The live record; NULL when none is. */
struct deploy_rec *history_live(const struct history *);
/* Set the status; a final one (live, ready, failed, canceled) stamps
 * finished_ms with now_ms.  Saving is the caller's: once per change that
 * matters, with history_write. */
void	history_set_status(struct deploy_rec *, enum deploy_status,
	    uint64_t now_ms);
/* rec becomes live, and the record that was live the rollback target
 * (ready); rolling_back is cleared. */
void	history_set_live(struct history *, struct deploy_rec *,
	    uint64_t now_ms);
void	history_step(struct deploy_rec *, enum rec_step, uint64_t ms);
/* Copies; NULL clears.  0, or -1 when out of memory (field unchanged). */
int	history_set_reason(struct deploy_rec *, const char *);
int	history_set_dir(struct deploy_rec *, const char *);
int	history_set_backup(struct deploy_rec *, const char *file,
	    const char *restore);
/*
 * After a restart: a record a killed tendd left running becomes live
 * when it is live_id (what dir/current points at), ready when it was a
 * rollback target on its way back, else deploy-failed ("interrupted:
 * tendd stopped during the deploy"), and failed(rec, arg) is called for
 * it (deploy.c removes the folder of a deploy that never went live).
 * Any other live record than live_id becomes ready.  Returns how many
 * records changed: save when it is not 0.
 */
size_t	history_recover(struct history *, const char *live_id,
	    void (*failed)(struct deploy_rec *, void *), void *);

/* tendctl releases --json: the records, newest first, with the field
 * names of the file and "live": true on the one live_id names. */
struct json_t;
struct json_t *history_releases_json(const struct history *,
	    const char *live_id);

int	valid_release_id(const char *);
int	valid_git_ref(const char *);

/* conf.c, conf-table.c: tend.conf into a struct conf (a value: reread
 * builds a new one and swaps only on success). */
enum restart_policy { RESTART_ALWAYS, RESTART_ON_FAILURE, RESTART_NEVER };
enum heap_mode { HEAP_OFF, HEAP_PERCENT, HEAP_FIXED };
/* nginx_switch: how an app's traffic moves to a new port set. */
enum nginx_switch { NGINX_SWITCH_AUTO, NGINX_SWITCH_LUA, NGINX_SWITCH_RELOAD };

struct strv {
	char	**v;
	size_t	  n;
};

struct conf_app {
	char		*name;
	char		*file;		/* where it was defined, for messages */
	int		 line;
	char		*dir;
	struct strv	 env_files;
	struct strv	 envs;
	char		*user;
	char		*group;
	char		*command;
	unsigned	 port;		/* 0: none */
	unsigned	 instances;
	enum heap_mode	 heap_mode;
	unsigned	 heap_pct;
	uint64_t	 heap_bytes;
	char		*health;	/* NULL: off */
	char		*health_body;
	uint64_t	 ready_timeout;
	uint64_t	 min_ready;
	uint64_t	 health_interval;
	uint64_t	 health_timeout;
	unsigned	 health_failures;
	enum restart_policy restart;
	uint64_t	 restart_delay;
	uint64_t	 restart_delay_max;
	uint64_t	 min_uptime;
	unsigned	 start_limit;
	uint64_t	 start_limit_interval;
	uint64_t	 kill_timeout;
	int		 stop_signal;
	uint64_t	 max_memory;	/* 0: no limit */
	uint64_t	 max_memory_for;	/* how long RSS may stay above */
	int		 autostart;
	enum profile	 profile;
	char		*migrate;	/* NULL: none */
	uint64_t	 migrate_timeout;
	char		*backup_dir;	/* backup_before_migrate; NULL: none */
	unsigned	 backup_keep;
	int		 create_database;
	int		 preflight;	/* check services before a start */
	uint64_t	 preflight_timeout;
	unsigned	 db_pool_max;
	/* deploys (deploy.c): set when repo is */
	char		*repo;
	char		*branch;
	struct strv	 shared;	/* linked from dir/shared into releases */
	char		*build;
	int		 reuse_dependencies;	/* tend_deps may copy */
	uint64_t	 build_timeout;
	char		*start_dir;	/* inside a release: where it runs */
	char		*nginx_upstream;
	char		*nginx_test;
	char		*nginx_reload;
	enum nginx_switch nginx_switch;
	unsigned	 port_offset;
	uint64_t	 drain_timeout;
	unsigned	 keep_releases;
	char		*follows;	/* the leader of its release group */
	char		*canon;		/* every setting, to see what changed */
};

struct conf {
	unsigned	 refs;		/* tendd: apps still running under it */
	char		*path;
	char		*socket;
	char		*socket_group;	/* NULL: root only */
	char		*state_dir;
	char		*log_dir;
	uint64_t	 log_max_size;
	unsigned	 log_keep;
	int		 log_compress;	/* gzip rotated files */
	unsigned	 log_lines;	/* kept in memory per app for logs -n */
	int		 log_journal;	/* -1 auto, 0 no, 1 yes */
	/* [fleet]: hosts sharing one PostgreSQL (fleet_on: the section is
	 * there); the helper tend-fleet uses them. */
	int		 fleet_on;
	char		*fleet_database;	/* a URL with a password: never printed */
	char		*fleet_host;		/* this host's name in the fleet */
	unsigned	 fleet_batch;
	uint64_t	 fleet_lease;
	uint64_t	 fleet_watch;
	char		*fleet_on_lost;		/* "stop" or "skip" */
	char		*fleet_user;		/* tend-fleet runs as this user */
	char		*metrics_file;	/* NULL: none (metrics.c) */
	uint64_t	 metrics_interval;	/* ms */
	struct conf_app	**apps;
	size_t		 n_apps;
};

/* Parse path; every problem goes to errs. Returns NULL if any error. */
struct conf *conf_load(const char *path, struct errs *);
struct conf *conf_parse(const char *buf, size_t len, const char *path,
	    struct errs *);
void	conf_free(struct conf *);
struct conf_app *conf_find_app(const struct conf *, const char *name);
/* Checks that need the filesystem (env files readable and valid, dir
 * exists, user exists): tendd -t and reread run them, parsing does not.
 * Problems that should not stop anything (an .env others can read) go
 * to warns when it is not NULL; profile rules the env breaks go to rules. */
typedef int (*conf_env_loader)(const struct conf_app *, struct env *,
    struct errs *, void *);
void	conf_check_env(const struct conf *, struct errs *, struct errs *warns,
	    struct errs *rules, conf_env_loader, void *);

/* conf-table.c */
enum conf_type {
	CT_STR, CT_PATH, CT_CMD, CT_STRV, CT_PATHV, CT_ENVV, CT_DURATION,
	CT_SIZE, CT_UINT, CT_PORT, CT_BOOL, CT_AUTOBOOL, CT_RESTART,
	CT_SIGNAL, CT_HEAP, CT_HEALTH, CT_USER, CT_PROFILE, CT_OPTCMD,
	CT_WORDS, CT_RELPATH, CT_SWITCH, CT__COUNT
};
struct conf_key {
	const char	*name;
	enum conf_type	 type;
	size_t		 off;		/* into struct conf or conf_app */
	unsigned long	 min, max;	/* CT_UINT, CT_PORT, CT_DURATION */
	const char	*dflt;		/* parsed like user input; NULL: none */
	const char	*help;
};
extern const struct conf_key conf_tend_keys[];
extern const struct conf_key conf_app_keys[];
extern const struct conf_key conf_fleet_keys[];
/* A fleet host's name: letters, digits, . _ - and at most this long. */
#define FLEET_HOST_MAX	63
int	fleet_host_valid(const char *);

/* proto.c: control protocol framing (jansson). */
struct json_t;
/* Decode one request line; on error returns NULL with *why set. */
struct json_t *proto_decode(const char *line, size_t len, const char **why);
/* Encode value as one line ending in '\n'; malloc'd, *len set. */
char	*proto_encode(const struct json_t *, size_t *len);
/* A JSON string of n bytes of app output, U+FFFD where it is not UTF-8
 * (utf8.c); NULL when out of memory. */
struct json_t *proto_text(const char *p, size_t n);

/* cmd-table.c: the commands of the control protocol, shared by tendd
 * (cmd.c runs them) and tendctl (which builds requests from them). */
enum cmd_id {
	CMD_STATUS, CMD_START, CMD_STOP, CMD_RESTART, CMD_LOGS, CMD_CHECK,
	CMD_DEPLOY, CMD_RELOAD, CMD_RELEASES, CMD_ROLLBACK, CMD_REREAD,
	CMD_METRICS,
	CMD__COUNT
};
/* What an operand is. */
enum cmd_arg {
	CMD_ARG_NONE,		/* none may be given */
	CMD_ARG_APP,		/* APP: "app", required */
	CMD_ARG_APP_OPTIONAL,	/* [APP] */
	CMD_ARG_APP_OR_ALL,	/* APP|all: "all" means every app */
	CMD_ARG_REF,		/* [REF]: "ref", a git ref */
	CMD_ARG_RELEASE,	/* [RELEASE]: "release", a release id */
	CMD_ARG_APPS,		/* APP...|all: "app" (one, or all), or
				 * "apps": several (checked by the command) */
};
#define CMD_F_NO_WAIT	0x01	/* --no-wait: "no_wait": true */
#define CMD_F_LINES	0x02	/* -n N: "n": N */
#define CMD_F_FOLLOW	0x04	/* -f: "follow": true */
#define CMD_F_BRIEF	0x08	/* tendctl's table asks "brief": true */
#define CMD_F_SHUTDOWN	0x10	/* still served while tendd stops */
#define CMD_F_FLEET	0x20	/* --fleet: "fleet": true, every host */
#define CMD_F_WAIT	0x40	/* --wait: "wait": true, queue for the lease */
#define CMD_F_LOGSEL	0x100	/* --err, --since: "err": true, "since": ms */
struct cmd_def {
	const char	*name;
	const char	*usage;
	enum cmd_arg	 app;		/* the first operand */
	enum cmd_arg	 extra;		/* the second: NONE, REF or RELEASE */
	unsigned	 flags;		/* CMD_F_* */
};
extern const struct cmd_def cmd_defs[CMD__COUNT];
const struct cmd_def *cmd_def_find(const char *name);
enum cmd_id cmd_def_id(const struct cmd_def *);
const char *cmd_arg_key(enum cmd_arg);

/* logline.c: a line of an app's log file ("TIME STREAM[.N] text"). */
struct logline {
	uint64_t	 ms;		/* its time, ms since the epoch */
	const char	*stream;	/* "out", "err", "tend", "migrate"... */
	size_t		 stream_len;
	int		 idx;		/* instance, -1 when not written */
	const char	*text;
	size_t		 text_len;
};
/* 0, or -1 when p is not such a line (then ll says nothing). */
int	logline_parse(const char *p, size_t n, struct logline *ll);
int	logline_is_err(const struct logline *);
/* --since: "10m" back from now_ms, or an ISO-8601 UTC time or day. */
int	logline_since(const char *, uint64_t now_ms, uint64_t *ms,
	    const char **why);

/* logread.c: the newest lines of an app's log files (thread pool). */
struct logent {
	uint64_t	 ms;
	size_t		 off, len;	/* in buf, without '\n' */
};
struct loglines {
	struct logent	*ents;		/* newest first (logread_app) */
	size_t		 n, cap;
	char		*buf;
	size_t		 len, bcap;
	int		 truncated;	/* max_bytes cut older lines off */
};
struct logwant {
	size_t		 n;		/* at most this many, the newest */
	uint64_t	 since;		/* ms; 0: any time */
	int		 err_only;	/* only stream "err" */
	size_t		 max_bytes;	/* of text in all */
};
struct logpick {
	size_t		 app, ent;
};
/* fd: the current file, read up to limit (-1: none); then path.1,
 * path.1.gz, path.2... until one is missing.  0, or -1 with why. */
int	logread_app(int fd, uint64_t limit, const char *path,
	    const struct logwant *, struct loglines *, char *why, size_t);
/* The same from lines in memory (the ring of an app whose file fails). */
int	logread_text(const char *p, size_t n, const struct logwant *,
	    struct loglines *);
size_t	logread_merge(const struct loglines *, size_t napps, size_t n,
	    struct logpick *);
void	loglines_free(struct loglines *);

/* utf8.c: app output made fit for JSON. */
/* How many bytes at the start of s are valid UTF-8 (len if all are). */
size_t	utf8_valid_prefix(const char *s, size_t len);
/* s with every ill-formed sequence replaced by U+FFFD; malloc'd and
 * NUL-terminated, its length in *outlen; NULL when out of memory. */
char	*utf8_repair(const char *s, size_t len, size_t *outlen);

/* log.c: tendd's own messages (stderr, prefixed; syslog priority
 * prefixes when stderr is the journal). */
void	log_init(int debug, int journal_prefix);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/* strv helpers (conf.c) */
int	strv_push(struct strv *, const char *);
void	strv_free(struct strv *);

/* rootdir.c: where root may write (see the rule atop rootdir.c). */
/* A descriptor of directory path after checking that only root can write
 * it and every directory above it; missing ones are made with mode
 * create (0: none are made). */
int	rootdir_open(const char *path, mode_t create, char *why, size_t len);
int	rootdir_file(int dirfd, const char *name, int flags, mode_t mode);

/* promtext.c: Prometheus's text format (tendctl metrics, metrics_file):
 * prom_family() once, then its samples; prom_take() hands over the text
 * (NULL when memory ran out on the way). */
struct prom {
	char	*buf;
	size_t	 len, cap;
	int	 oom;
};
struct prom_label {
	const char	*name, *value;
};
void	prom_init(struct prom *);
void	prom_free(struct prom *);
void	prom_family(struct prom *, const char *name, const char *type,
	    const char *help);
void	prom_u64(struct prom *, const char *name, const struct prom_label *,
	    size_t nlabels, uint64_t);
void	prom_f64(struct prom *, const char *name, const struct prom_label *,
	    size_t nlabels, double);
char	*prom_take(struct prom *, size_t *len);
/* A label value escaped into dst; its length, 0 when it does not fit. */
size_t	prom_escape(char *dst, size_t size, const char *src);

#endif /* TEND_H */
