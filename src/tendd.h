/*
 * tendd.h: the daemon's runtime nouns, which own libuv handles: struct tend
 * (the one mutable context), struct app and its instances, the log sink,
 * and control clients.  Pure code never includes this file.
 *
 * Layers, lowest first; a file calls its own layer and those below:
 *   0. libtend.a: pure code (conf, units, dotenv, history, atomic, ...);
 *   1. mechanisms: spawn, appenv, logpipe, ptree, job, health, lineproc,
 *      probe-run, fleet-run, check, release, nginx, systemd;
 *   2. the apps and their state machine: app, inst, supervise, prep,
 *      preflight;
 *   3. deploys and the fleet: deploy, fleet, fleet-deploy;
 *   4. the control socket and its commands: control, cmd, cmd-*;
 *   5. main: tendd.
 * A lower file tells an upper one through a hook it was given (app_watch,
 * t->app_hooks, client_on_close, struct deploy_asker, t->reread), never
 * by name.  The calls up that remain say why where they are made
 * ("Up-call:"); tests/layers.sh lists them from a build and fails on a
 * new one.
 */
#ifndef TENDD_H
#define TENDD_H

#include <sys/queue.h>
#include <uv.h>
#include <jansson.h>

#include "tend.h"

/* glibc's sys/queue.h lacks the _SAFE iterators (BSD has them). */
#ifndef LIST_FOREACH_SAFE
#define LIST_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = LIST_FIRST(head);					\
	    (var) && ((tvar) = LIST_NEXT(var, field), 1);		\
	    (var) = (tvar))
#endif
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) && ((tvar) = TAILQ_NEXT(var, field), 1);		\
	    (var) = (tvar))
#endif

/* One instance's life.  Names in state_names[] (supervise.c) are what
 * status, JSON and logs print: spelled once. */
enum inst_state {
	ST_STOPPED,
	ST_STARTING,
	ST_LIVE,
	ST_BACKOFF,
	ST_STOPPING,
	ST_FAILED,
	ST_PREFLIGHT,	/* waiting for the app's prep (prep.c) */
	ST_MIGRATING,
	ST__COUNT
};
extern const char *const state_names[ST__COUNT];

/* What the state machine reacts to. */
enum inst_event {
	EV_START,	/* operator start, autostart, restart after backoff */
	EV_STOP,	/* operator stop, shutdown, removal */
	EV_EXIT,	/* main process exited and its group is empty */
	EV_TIMER,	/* the instance's timer: backoff, min_ready, kill */
	EV_READY,	/* health says yes (or min_ready elapsed) */
	EV_KILL,	/* tend decided to restart it (memory, health) */
	EV_MIGRATE,	/* the prep moved on to migrating */
	EV_PREP_OK,	/* the prep is done: spawn */
	EV_PREP_FAIL,	/* the prep failed: reason is set */
	EV__COUNT
};
extern const char *const event_names[EV__COUNT];

/* Every pipe is read into one shared buffer of this size (logpipe.c's
 * struct logsink); a pipe keeps only its unfinished line, in memory of
 * its own. */
#define LOGPIPE_BUF	(64 * 1024)
/* How long a dead instance's pipes may take to reach EOF. */
#define LOG_DRAIN_MS	1000
/* A line longer than this is written in pieces rather than held. */
#define LOG_LINE_MAX	(16 * 1024)

struct job;

struct hconn;
struct envsnap;

struct logpipe {
	LIST_ENTRY(logpipe) entry;	/* app->pipes */
	uv_pipe_t	 pipe;
	struct app	*app;
	struct inst	*inst;		/* the owner: an instance, */
	struct job	*job;		/* or a job */
	int		 idx;		/* instance index, -1 for none */
	int		 prio;		/* journal priority */
	const char	*stream;	/* "out" / "err" / "migrate" ... */
	int		 open;
	size_t		 len;		/* bytes of an unfinished line in part */
	char		*part;		/* malloc'd, < LOG_LINE_MAX + 1 */
	int		 paused;	/* reading again after a short rest */
	LIST_ENTRY(logpipe) pause_entry;
};

struct follower;

/* Per-app log: the file, its rotation, and the in-memory tail. */
struct applog {
	struct app	*app;		/* set by applog_open */
	char		*path;
	int		 fd;
	uint64_t	 size;
	int		 err;		/* last write errno, 0 if fine */
	uint64_t	 dropped;	/* bytes lost while err != 0 */
	char		*ring;		/* last lines, for logs -n */
	size_t		 ring_cap;
	size_t		 ring_len;
	size_t		 ring_head;	/* next write position */
	LIST_HEAD(, follower) followers;
	struct logzip	*zip;		/* a rotated file being gzipped */
};

struct inst {
	struct app	*app;
	unsigned	 idx;		/* slot: color * n_run + instance */
	unsigned	 port;
	char		*dir;		/* cwd; NULL: inst_dir() decides */
	enum inst_state	 state;

	/* Allocated per run: a restart must not reuse a handle whose close
	 * callback has not run yet. */
	uv_process_t	*proc;
	int		 running;	/* main process not yet exited */
	pid_t		 pid;		/* also the process group id */
	int		 draining;	/* exited; waiting for its group */
	uint64_t	 empty_at;	/* when the group was first seen empty */
	struct logpipe	*out;
	struct logpipe	*err;

	uv_timer_t	 timer;
	int		 kill_sent;	/* SIGKILL already went to the group */
	enum {
		AFTER_NOTHING,		/* stop: stay down */
		AFTER_START,		/* restart: start again (with a prep) */
		AFTER_RESTART,		/* tend restarts it: spawn at once */
		AFTER_CRASH,		/* cleanup after an exit: apply policy */
		AFTER_FAIL_START,	/* ready timeout etc.: apply policy */
	}		 after;

	uint64_t	 spawned_at;	/* uv_now */
	uint64_t	 live_at;
	int64_t		 ready_ms;	/* -1 not yet */
	unsigned	 restarts;
	struct backoff	 bo;
	struct startlimit sl;
	int		 has_exit;	/* some run exited: last_exit is set */
	int		 spawn_failed;	/* this run never started */
	int		 keep_reason;	/* reason says more than the exit */
	int		 exit_code;
	int		 exit_signal;
	uint64_t	 exit_at;	/* wall clock (ms) of the last exit */
	uint64_t	 exit_mono;	/* uv_now of it: orders the exits */
	int64_t		 next_delay;	/* -1: no restart pending */
	char		 reason[512];
	char		 last_err[160];	/* its last stderr line, this run */

	/* health checks (health.c) */
	uv_timer_t	 hc_timer;
	struct hconn	*hc_conn;	/* while a check is in flight */
	enum { HC_NONE, HC_READY, HC_LIVE } hc_mode;
	unsigned	 hc_fail;	/* consecutive failures while live */
	unsigned	 hc_checks;
	unsigned	 health_restarts;
	uint64_t	 hc_failures;	/* failed checks while live, all runs */
	uint64_t	 hc_next;	/* readiness poll interval, ms */
	size_t		 hc_blen;	/* body bytes seen */
	size_t		 hc_blen_kept;	/* of which kept in hc_body */
	char		 hc_body[512];
	char		 hc_last[160];	/* why the last check failed */

	/* process tree sample (ptree.c) */
	uint64_t	 rss;
	double		 cpu;
	uint64_t	 cpu_ticks;
	uint64_t	 cpu_acc;	/* ptree.c scratch */
	uint64_t	 sample_at;
	uint64_t	 mem_over_since;

	/* the environment this run started with (appenv.c) */
	struct envsnap	*envsnap;

	/* taken over from the tendd this one replaced (handover.c): its
	 * exit is found by waitpid, not by a uv_process_t */
	int		 adopted;
};

struct waiter;

/* What an app's output said of its configuration (logpipe.c): a few
 * fixed warnings (profile_log_warning's strings, told apart by pointer),
 * each with the instance slots whose current run said it. */
#define APP_WARNINGS_MAX	8
struct app_warning {
	const char	*msg;		/* NULL: a free entry */
	uint64_t	 slots[2];	/* bit idx: 2 x APP_MAX_INSTANCES slots */
};

struct app {
	TAILQ_ENTRY(app) entry;
	struct tend	*t;
	char		*name;
	struct conf_app	*ca;		/* owned by conf */
	struct conf	*conf;		/* holds a reference */
	unsigned	 nhandles;	/* open libuv handles; freed at 0 */
	int		 unlinked;	/* off t->apps, waiting for close_cbs */
	int		 in_op;		/* acting on every instance: judge after */
	unsigned	 jobs;		/* jobs running: not down until 0 */
	struct prep	*prep;		/* preflight/migration before a start */
	char		*migrated;	/* release whose migration ran here */
	json_t		*prep_last;	/* last preflight, migration, backup */
	struct inst	*inst;
	unsigned	 n_inst;	/* slots: n_run, or 2 x n_run (nginx) */
	unsigned	 n_run;		/* instances = */
	unsigned	 color;		/* which n_run slots serve: 0 or 1 */
	struct deploy	*deploy;	/* running deploy, rollback or reload */
	struct deploy	*drainer;	/* a live one stopping the old set */
	struct deploy	*mover;		/* a follower: the leader's deploy
					 * that is moving it to a release */
	char		 prev_release[64];	/* a follower's, while moved */
	int		 prev_set;	/* prev_release is the one to go back to */
	struct history	 history;	/* deploy records (history.c) */
	char		 release[64];	/* id of the live release, or "" */
	struct applog	 log;
	int		 heap_user;	/* NODE_OPTIONS already set a heap */
	uint64_t	 heap_mib;
	/* who it runs as and the environment of this start (appenv.c) */
	int		 ids_ok;
	uid_t		 uid;
	gid_t		 gid;
	char		*home, *uname;	/* NULL: runs as tendd */
	int		 env_ok;
	uint64_t	 env_at;	/* loop time of the start that built it */
	struct env	 env;
	char		*env_error;	/* why it did not build; NULL: it did */
	/* what became of the env_file(s) since (appenv.c: drift) */
	struct envsnap	*envsnap;	/* of the environment built last */
	uint64_t	 env_gen;	/* environments built so far */
	char		*env_change;	/* names the last build changed; NULL */
	unsigned char	 env_key[ENVSUM_KEY];	/* keys the hashes: random */
	int		 env_key_ok;
	int		 removing;	/* dropped by reread: free once down */
	int		 was_up;	/* changed by reread while running */
	struct conf_app	*pending;	/* changed by reread: restart with it */
	struct conf	*pending_conf;
	int		 deferred_set;	/* reread during a deploy: apply after */
	struct conf_app	*deferred;	/* NULL: removed */
	struct conf	*deferred_conf;
	LIST_HEAD(, waiter) waiters;
	LIST_HEAD(, logpipe) pipes;	/* open pipes, current and older */
	struct app_warning warnings[APP_WARNINGS_MAX];
	int		 adopted;	/* its state came from a handover */
};
TAILQ_HEAD(apps, app);

struct control;
struct logsink;

/* Who hears of an app's changes (supervise.c: app_watch). */
typedef void (*app_watch_fn)(struct app *, void *);
#define APP_WATCH_MAX	8
/* How often groups that outlive their leader are looked at. */
#define SUPERVISE_DRAIN_MS	20

struct tend {
	uv_loop_t	*loop;
	struct conf	*conf;
	char		*conf_path;
	struct apps	 apps;
	struct control	*ctl;
	struct logsink	*logs;		/* logpipe.c: what all output shares */
	unsigned	 logs_reading;	/* cmd-logs.c: histories read or sent */
	uv_signal_t	 sig_term, sig_int, sig_hup, sig_usr1, sig_chld;
	uv_timer_t	 drain_timer;	/* polls groups that outlive their leader */
	int		 drain_closed;
	struct {
		app_watch_fn	 fn;
		void		*arg;
	}		 watch[APP_WATCH_MAX];
	size_t		 nwatch;
	uv_timer_t	 tick;		/* memory limits, STATUS= */
	uv_timer_t	 watchdog;
	uint64_t	 watchdog_usec;
	int		 shutting_down;
	int		 journal;
	char		 self_exe[4096];
	uint64_t	 mem_limit;
	char		 mem_src[64];
	char		 last_status[256];
	int		 ready_sent;	/* READY=1 went out: STATUS= may follow */
	uint32_t	 rnd;
	pid_t		*kids;		/* every child spawn_process started */
	size_t		 nkids, capkids;
	/* Every deploy (deploy.c): a client that goes away must be forgotten
	 * by each it asked for, even one being canceled or whose app was
	 * removed. */
	LIST_HEAD(, deploy) deploys;
	uint64_t	 ptree_at;	/* loop time of the last /proc pass */
	int		 closing;	/* every app is down: handles closing */
	struct metrics	*metrics;	/* metrics.c: metrics_file's writer */
	/* Hook: load tend.conf again and apply it (tendd.c), for the
	 * reread command, which sits below main. */
	int		(*reread)(struct tend *, struct errs *);
	struct fleet	*fleet;		/* fleet.c: with [fleet], else NULL */
	/* Hook: does the fleet record the migration of app's release (the
	 * real path of its dir) as run?  cb(arg, 1) if so, else (arg, 0),
	 * once, maybe at once.  fleet.c sets it while [fleet] is on; prep.c
	 * asks it before running a migration. */
	void		(*migration_ran)(struct app *, const char *release,
			    void (*cb)(void *, int), void *arg);
	/* What the layers above do when an app is made, is about to go
	 * (every one holding it lets go), has gone, and wrote output (its
	 * `logs -f` readers): main sets these. */
	struct {
		void	(*made)(struct app *);
		void	(*going)(struct app *);
		void	(*gone)(struct tend *);
		void	(*output)(struct app *, const char *, size_t);
	}		 app_hooks;
	/* SIGUSR2 and the control socket a handover passes on (handover.c) */
	uv_signal_t	 sig_usr2;
	int		 ctl_fd_given;	/* control_start opens ctl_fd */
	int		 ctl_fd;
	int		 ctl_fd_activated;
};

/* supervise.c */
void	inst_event(struct inst *, enum inst_event);
void	inst_spawned(struct inst *);
void	inst_exited(struct inst *, int64_t status, int term_signal);
void	inst_group_check(struct inst *);
const char *app_state(const struct app *);
int	app_is_down(const struct app *);
void	app_notify(struct app *);
int	app_watch(struct tend *, app_watch_fn, void *);
void	inst_event_why(struct inst *, enum inst_event, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	supervise_init(struct tend *);
void	supervise_close(struct tend *, uv_close_cb);
void	inst_adopt(struct inst *, enum inst_state, uint64_t delay_ms);
void	supervise_summary(struct tend *, unsigned *live, unsigned *starting,
	    unsigned *failed, unsigned *down);

/* app.c */
struct app *app_new(struct tend *, struct conf_app *);
void	app_free(struct app *);
struct app *app_find(struct tend *, const char *name);
void	app_start(struct app *);
void	app_stop(struct app *);
void	app_restart(struct app *);
void	app_maybe_free(struct app *);
void	app_handle_done(struct app *);
int	apps_apply_conf(struct tend *, struct conf *);
void	app_deploy_ended(struct app *);
struct app *app_leader(const struct app *);
int	inst_active(const struct inst *);
const char *inst_dir(const struct inst *, char *, size_t);

/* spawn.c: every child of tendd. */
#define SPAWN_MAX_ARGS	32
struct spawn_spec {
	const char	*user, *group;	/* NULL: as tendd */
	const char	*cwd;		/* entered after privileges are dropped */
	char *const	*argv;		/* argv[0] looked up in the env's PATH */
	char		**env;
	uv_stdio_container_t *stdio;
	int		 stdio_count;
	uv_exit_cb	 exit_cb;
};
struct passwd;
int	spawn_process(struct tend *, uv_process_t *, const struct spawn_spec *,
	    int *must_close, char *why, size_t whylen);
void	spawn_forget(struct tend *, pid_t);
int	spawn_pid_is_ours(const struct tend *, pid_t);
struct passwd *spawn_user(const char *user, const char *group, int *as_other,
	    char *why, size_t whylen);
int	exec_as_main(int argc, char **argv);
int	spawn_adopt(struct tend *, pid_t);

/* inst.c: start one instance (the app layer, on spawn.c). */
int	spawn_inst(struct inst *, char *why, size_t whylen);

/* appenv.c: who an app runs as; its environment, built once per start. */
extern const char *const appenv_default_path;
int	appenv_ids(struct app *, char *why, size_t len);
int	appenv_fs_begin(const struct app *);
void	appenv_fs_end(const struct app *);
int	appenv_user_env(const struct app *, struct env *, struct errs *);
int	appenv_refresh(struct app *);
const struct env *appenv_get(struct app *, char *why, size_t len);
int	appenv_copy(struct app *, struct env *, char *why, size_t len);
int	appenv_for_inst(struct inst *, struct env *, char *why, size_t len);
void	appenv_clear(struct app *);
const char *appenv_error(const struct app *);
void	appenv_drift_scan(struct tend *, struct app *one);
void	appenv_drift_json(struct app *, json_t *);
char	*appenv_realpath(struct app *, const char *path, char *buf,
	    size_t len);

/* check.c: cb(arg, ok, detail, info) once, from the loop; detail is
 * one plain sentence, never with a password; info is the callee's to
 * free.  ok is one of: */
#define CHECK_OK	1
#define CHECK_FAIL	0	/* will not fix itself: a wrong password */
#define CHECK_RETRY	(-1)	/* may pass by itself: refused, no answer */
typedef void (*check_cb)(void *, int ok, const char *detail, json_t *info);
int	check_pg_start(struct tend *, const struct conf_app *, const char *url,
	    uint64_t timeout_ms, check_cb, void *);
int	check_redis_start(struct tend *, const struct conf_app *,
	    const char *url, uint64_t timeout_ms, check_cb, void *);

/* job.c: a command run to completion (migration, backup, build). */
struct job_spec {
	const char	*stream;	/* log stream name: "migrate" */
	const char	*cmd;		/* run as /bin/sh -c 'exec CMD', */
	char *const	*argv;		/* or this argv (argv[0] a path) */
	const char	*cwd;
	char		**env;
	const char	*user, *group;	/* NULL: as tendd */
	uint64_t	 timeout_ms;	/* 0: none */
	int		 stop_signal;	/* 0: SIGTERM */
	uint64_t	 kill_timeout;
	int		 stdout_fd;	/* > 0: stdout is this file of tendd's
					 * (a dump); 0: the log, as stderr */
};
typedef void (*job_done_cb)(void *, struct job *);
typedef void (*job_line_cb)(void *, const char *, size_t);
struct job *job_start(struct app *, const struct job_spec *, job_done_cb,
	    job_line_cb, void *, char *why, size_t whylen);
void	job_cancel(struct job *);
void	job_line(struct job *, const char *, size_t);
void	job_pipe_closed(struct job *, struct logpipe *);
void	job_tail(const struct job *, char *, size_t);
void	job_outcome(const struct job *, char *, size_t);
int	job_ok(const struct job *);
uint64_t job_elapsed(const struct job *);

/* lineproc.c: a helper program spoken to in lines (probe-run, fleet-run). */
struct lineproc;
typedef void (*lineproc_line_cb)(void *, const char *, size_t);
typedef void (*lineproc_done_cb)(void *, int64_t status, int sig);
/* The rest of an over-long line is read as a line of its own (else it
 * is dropped up to its newline). */
#define LINEPROC_LONG_TAIL	0x1
struct lineproc_spec {
	struct spawn_spec spawn;	/* stdio and exit_cb are lineproc's */
	int		 as_other;	/* spawn_user's: its stderr not ours */
	size_t		 line_max;	/* a line that fills it is dropped */
	int		 flags;		/* LINEPROC_* */
	size_t		 wq_max;	/* written, not yet taken; 0: no cap */
	lineproc_line_cb line;
	lineproc_done_cb done;
	void		*arg;
};
const char *lineproc_path(const struct tend *, const char *name, char *buf,
	    size_t len);
struct lineproc *lineproc_start(struct tend *, const struct lineproc_spec *,
	    char *why, size_t whylen);
pid_t	lineproc_pid(const struct lineproc *);
int	lineproc_running(const struct lineproc *);
int	lineproc_write(struct lineproc *, const char *, size_t);
void	lineproc_close_stdin(struct lineproc *);
void	lineproc_kill(struct lineproc *, int sig);
void	lineproc_forget(struct lineproc *);

/* probe-run.c: tend-probe, which speaks PostgreSQL and Redis. */
struct probe;
typedef void (*probe_line_cb)(void *, json_t *);
typedef void (*probe_done_cb)(void *, int status);
struct passwd;
struct probe *probe_start(struct tend *, const char *user, const char *group,
	    const char *mode, const char *url, const char *extra,
	    uint64_t timeout_ms, probe_line_cb, probe_done_cb, void *);
int	probe_env(struct env *, const struct passwd *);
/* Their PATH: directories only root can write (tendd's own may hold
 * others). */
#define PROBE_PATH	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
void	probe_release(struct probe *);

/* fleet-run.c: tend-fleet, the fleet database's connection. */
struct fleetrun;
struct fleetrun_spec {
	const char	*user;		/* [fleet] user */
	const char	*url;		/* [fleet] database: a password */
	const char	*host;
	uint64_t	 lease_ms;
};
typedef void (*fleet_reply_cb)(void *, json_t *);
typedef void (*fleet_event_cb)(void *, json_t *);
struct fleetrun *fleetrun_start(struct tend *, const struct fleetrun_spec *,
	    fleet_event_cb, void *);
void	fleetrun_ask(struct fleetrun *, json_t *req, uint64_t timeout_ms,
	    fleet_reply_cb, void *);
void	fleetrun_tell(struct fleetrun *, json_t *);
void	fleetrun_forget(struct fleetrun *, void *arg);
void	fleetrun_stop(struct fleetrun *);

/* preflight.c: cb(arg, outcome CHECK_*, checks, reason, missing_db). */
struct preflight;
typedef void (*preflight_cb)(void *, int, json_t *, const char *,
    const char *);
struct preflight *preflight_start(struct app *, uint64_t timeout_ms,
	    preflight_cb, void *);
void	preflight_cancel(struct preflight *);

/* prep.c: what runs between "start" and the first spawn. */
struct prep;
int	prep_wanted(struct inst *);
int	prep_join(struct inst *);
void	prep_leave(struct app *);
const char *prep_detail(const struct app *);
void	prep_status(struct app *, json_t *);
/* The dump the last migration took (backup_before_migrate); the strings
 * are prep.c's, valid until its next preflight or migration. */
struct prep_backup {
	const char	*file;
	const char	*restore;	/* the command that restores it */
	uint64_t	 at_ms;		/* loop time it was taken */
};
int	prep_last_backup(const struct app *, struct prep_backup *);

/* deploy.c */
struct client;
/* Who asked for a deploy, rollback or reload (cmd-deploy.c fills it in):
 * event() for each progress line, done() once with the outcome (both
 * take the JSON), refuse() when the request is turned down at once. */
struct deploy_asker {
	void	(*event)(void *arg, json_t *);
	void	(*done)(void *arg, json_t *);
	void	(*refuse)(void *arg, const char *why);
	void	*arg;		/* what deploys_forget() is told */
	/* A fleet deploy (fleet.c) holds a built release at "awaiting"
	 * until go(gate, sha) says 1 (-1: give up); migrate(gate) says
	 * whether this host runs the migration.  NULL: no gate. */
	int	(*go)(void *gate, const char *sha);
	int	(*migrate)(void *gate);
	void	*gate;
};
void	deploy_request(struct app *, const struct deploy_asker *,
	    const char *ref);
void	deploy_rollback(struct app *, const struct deploy_asker *,
	    const char *release);
void	deploy_reload(struct app *, const struct deploy_asker *);
void	deploy_app_changed(struct app *);
void	deploy_init_app(struct app *);
void	deploy_ensure_upstream(struct app *);
void	deploy_shutdown(struct app *);
void	deploys_forget(struct tend *, void *arg);

/* fleet.c: this host in a fleet of hosts on one PostgreSQL. */
void	fleet_apply(struct tend *);
void	fleet_app_changed(struct app *);
void	fleet_shutdown(struct tend *);
const char *fleet_busy(struct tend *);
void	fleet_status(struct tend *, const char *op, const char *app,
	    fleet_reply_cb, void *);
/* fleet-deploy.c: deploy APP --fleet. */
void	fleet_deploy(struct app *, const struct deploy_asker *,
	    const char *ref, int wait);
void	fleet_forget(struct tend *, void *arg);

/* release.c: the app's tree, as the app's user. */
struct release_cb {
	job_done_cb	 done;
	job_line_cb	 line;
	void		*arg;
};
int	release_make_dir(struct app *, char *why, size_t len);
struct job *release_fetch(struct app *, const struct release_cb *, char *,
	    size_t);
struct job *release_resolve(struct app *, const char *ref,
	    const struct release_cb *, char *, size_t);
struct job *release_clone(struct app *, const char *id,
	    const struct release_cb *, char *, size_t);
struct job *release_checkout(struct app *, const char *id, const char *sha,
	    const struct release_cb *, char *, size_t);
struct job *release_link(struct app *, const char *into, const char *need,
	    const struct release_cb *, char *, size_t);
struct job *release_build(struct app *, const char *id, struct env *,
	    const struct release_cb *, char *, size_t);
struct job *release_point_current(struct app *, const char *id,
	    const struct release_cb *, char *, size_t);
int	release_remove(struct app *, char *const *ids, size_t n);
struct job *release_test_file(struct app *, const char *id, const char *rel,
	    const struct release_cb *, char *, size_t);

/* nginx.c: the upstream file and nginx's commands. */
int	nginx_text(const struct app *, unsigned base, const char *release,
	    char *buf, size_t len);
int	nginx_check(const struct app *, char *why, size_t len);
int	nginx_read(const struct app *, char **buf, size_t *blen, char *why,
	    size_t len);
int	nginx_write(const struct app *, const char *text, size_t tlen,
	    char *why, size_t len);
int	nginx_remove(const struct app *, char *why, size_t len);
unsigned nginx_serving(const struct app *, char *rel, size_t rlen);
struct job *nginx_run(struct app *, const char *cmd, job_done_cb,
	    job_line_cb, void *arg, char *why, size_t len);

/* nginx-lua.c: nginx_switch = lua, the switch without a reload. */
#define NGINX_LUA_MODULE	"/usr/lib/nginx/modules/ngx_http_lua_module.so"
extern const char *const nginx_switch_names[];
struct nginx_push;
typedef void (*nginx_push_cb)(void *arg, int ok, const char *msg);
int	nginx_switch_mode(const struct conf_app *, char *why, size_t len);
int	nginx_lua_socket(const struct conf_app *, char *path, size_t len);
uint64_t nginx_lua_gen(void);
void	nginx_lua_gen_seen(const char *);
int	nginx_lua_text(const struct app *, unsigned base, const char *release,
	    uint64_t gen, char *buf, size_t len);
struct nginx_push *nginx_push(struct app *, unsigned base, uint64_t gen,
	    nginx_push_cb, void *arg, char *why, size_t len);
void	nginx_push_cancel(struct nginx_push *);

/* ptree.c */
void	ptree_sample(struct tend *, int force);
int	ptree_group_alive(pid_t pgid);
void	ptree_reap_orphans(struct tend *);
void	ptree_signal_group(pid_t pgid, int sig);
unsigned ptree_kill_orphans(const char *socket, uint64_t wait_ms,
	    int (*owner_ok)(const char *, uid_t, void *), void *);

/* logpipe.c */
int	applog_open(struct app *, const char *log_dir, uint64_t ring_bytes);
void	applog_close(struct applog *);
void	applog_reopen(struct app *);
/* logzip.c: rotated files gzipped by a child (log_compress). */
struct logzip;
void	logzip_rotated(struct applog *);
void	logzip_detach(struct applog *);
/* What is staged for app's file, written now (logs reads the file). */
void	applog_flush(struct app *);
void	applog_event(struct app *, int idx, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
int	logpipe_start(struct logpipe *);
int	logpipe_child_stdio(struct app *, struct inst *, struct job *, int idx,
	    const char *out_stream, const char *err_stream, struct logpipe **,
	    struct logpipe **, uv_stdio_container_t stdio[3], uv_file cfd[2],
	    char *why, size_t whylen);
void	logpipe_close(struct logpipe *);
struct logpipe *logpipe_adopt(struct app *, struct inst *, int idx,
	    const char *stream, int prio, int fd);
void	applog_flush_all(struct tend *);
/* The last n lines kept in memory, as one malloc'd buffer. */
char	*applog_tail(const struct applog *, unsigned n, size_t *len);
/* The warnings the serving instances' output gave (at most max, into
 * out); how many. */
size_t	app_warnings(const struct app *, const char **out, size_t max);
void	logpipe_init(struct tend *);
void	logpipe_shutdown(struct tend *);
void	logpipe_free(struct tend *);

/* control.c */
struct client;
struct client_hook;
int	control_start(struct tend *);
void	control_stop(struct tend *);
void	control_free(struct tend *);
void	client_close_all(struct tend *);
int	control_fd(struct tend *, int *activated);
/* What the layers above keep of a client they forget when it closes, or
 * act on when it has caught up: control.c calls only these. */
struct client_hook *client_on_close(struct client *,
	    void (*)(struct client *, void *), void *);
struct client_hook *client_on_drain(struct client *,
	    void (*)(struct client *, void *), void *);
void	client_hook_remove(struct client_hook *);
int	client_send(struct client *, json_t *);	/* steals the reference */
void	client_finish(struct client *, json_t *);	/* final reply */
size_t	client_queue_size(struct client *);
int	client_is_closing(struct client *);
struct tend *client_tend(struct client *);

/* One app of a `logs -f` request (cmd-logs.c's struct logreq). */
struct logreq;
struct follower {
	LIST_ENTRY(follower) entry;
	struct client	*client;
	struct app	*app;
	struct logreq	*req;
	size_t		 slot;		/* its app's place in req */
	uint64_t	 dropped;
	int		 err_only;	/* --err */
	int		 holding;	/* the history is not out yet: */
	char		*held;		/* what came meanwhile */
	size_t		 held_len;
};
struct waiter {
	LIST_ENTRY(waiter) entry;
	struct app	*app;
	int		 want_up;
	struct pend	*pend;
	uint64_t	 env_gen;	/* app->env_gen when it began */
};
void	follower_remove(struct follower *);
void	followers_app_gone(struct app *);
void	followers_output(struct app *, const char *, size_t);

/* cmd.c: a command's code; what it takes is cmd_defs[id] (tend.h).
 * exec gets a request that passed those checks and the app it names
 * (NULL for none or "all"), and answers with client_finish. */
struct cmd_entry {
	enum cmd_id	 id;
	void		(*exec)(struct tend *, struct client *, json_t *req,
			    struct app *);
};
void	cmd_dispatch(struct tend *, struct client *, json_t *req);
json_t *cmd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern const struct cmd_entry cmd_status_entry, cmd_start_entry,
    cmd_stop_entry, cmd_restart_entry, cmd_logs_entry, cmd_reread_entry,
    cmd_check_entry, cmd_deploy_entry, cmd_rollback_entry, cmd_reload_entry,
    cmd_releases_entry, cmd_metrics_entry;
void	waiters_notify(struct app *);
void	waiters_cancel_app(struct app *);
void	cmd_wait(struct tend *, struct client *, json_t *, struct app *,
	    void (*)(struct app *), int want_up);
/* cmd-status.c: answer c from the fleet database (fleet_status). */
void	cmd_fleet(struct tend *, struct client *, const char *op,
	    const char *app);

/* metrics.c: the Prometheus text of every app (tendctl metrics), and
 * metrics_file written from it every metrics_interval. */
char	*metrics_text(struct tend *, size_t *len);
void	metrics_apply(struct tend *);
void	metrics_stop(struct tend *);

/* health.c */
void	health_ready_begin(struct inst *);
void	health_live_begin(struct inst *);
void	health_stop(struct inst *);
void	health_word(const struct inst *, char *, size_t);

/* systemd.c */
void	sd_init(struct tend *);
void	sd_ready(struct tend *);
void	sd_stopping(struct tend *);
void	sd_reloading(struct tend *);
void	sd_status_update(struct tend *, unsigned live, unsigned starting,
	    unsigned failed, unsigned down);
int	sd_journal_line(const char *app, int idx, int prio, const char *line,
	    size_t len);
int	tend_listen_fds(void);

/* tendd.c */
void	tend_check_shutdown(struct tend *);

/* handover.c: SIGUSR2 execs tendd anew; the new one takes over. */
struct handover;
void	handover_save_args(int argc, char **argv);
void	handover_request(struct tend *);
struct handover *handover_load(const char *path);
void	handover_fds(struct tend *, struct handover *);
void	handover_adopt(struct tend *, struct handover *);
void	handover_reap(struct tend *);
void	handover_unblock(void);
void	handover_free(struct handover *);

#endif /* TENDD_H */
