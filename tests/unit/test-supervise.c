/*
 * test-supervise.c: the state machine of src/supervise.c on its own,
 * with the outside world (spawning, signals, logs, health) replaced by
 * recorders.  Walks every [state][event] cell and checks the resulting
 * state is one the design allows, then follows the main paths.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendd.h"
#include "check.h"

/* --- the outside world, recorded ------------------------------------- */

static int	spawn_ok = 1, spawns, group_alive, last_signal, signals;

int
spawn_inst(struct inst *in, char *why, size_t len)
{
	spawns++;
	if (!spawn_ok) {
		snprintf(why, len, "cannot run: no such file");
		return -1;
	}
	in->running = 1;
	in->pid = 4000000;	/* never a real process group */
	in->spawned_at = uv_now(in->app->t->loop);
	return 0;
}
void ptree_signal_group(pid_t g, int sig) { (void)g; last_signal = sig; signals++; }
int ptree_group_alive(pid_t g) { (void)g; return group_alive; }
void applog_event(struct app *a, int i, const char *f, ...) { (void)a; (void)i; (void)f; }
void health_ready_begin(struct inst *in) { (void)in; }
void health_live_begin(struct inst *in) { (void)in; }
void health_stop(struct inst *in) { (void)in; }
void app_maybe_free(struct app *a) { (void)a; }
static int	prep_want, prep_joins, prep_leaves;
int prep_wanted(struct inst *in) { (void)in; return prep_want; }
int prep_join(struct inst *in) { (void)in; prep_joins++; return 0; }
int inst_active(const struct inst *in) { (void)in; return 1; }
void prep_leave(struct app *a) { (void)a; prep_leaves++; }
int appenv_refresh(struct app *a) { a->env_ok = 1; return 0; }
const char *appenv_error(const struct app *a) { (void)a; return "?"; }
struct app *app_leader(const struct app *a) { (void)a; return NULL; }

/* --- fixtures ------------------------------------------------------- */

static struct tend	 T;
static struct conf	*C;
static struct app	 A;
static struct inst	*I;

static void
fixture(const char *extra)
{
	struct errs	e;
	char		text[1024];

	if (C != NULL) {
		uv_close((uv_handle_t *)&I->timer, NULL);
		uv_run(T.loop, UV_RUN_NOWAIT);
		startlimit_free(&I->sl);
		free(I);
		conf_free(C);
	}
	snprintf(text, sizeof(text), "[app:x]\ndir = /\ncommand = true\n%s\n",
	    extra);
	errs_init(&e);
	C = conf_parse(text, strlen(text), "/t.conf", &e);
	if (C == NULL) {
		printf("# fixture: %s\n", e.n ? e.msg[0] : "?");
		exit(1);
	}
	errs_free(&e);
	memset(&A, 0, sizeof(A));
	A.t = &T;
	A.name = "x";
	A.ca = C->apps[0];
	A.n_inst = 1;
	I = calloc(1, sizeof(*I));
	I->app = &A;
	I->ready_ms = -1;
	I->next_delay = -1;
	I->bo.base = A.ca->restart_delay;
	I->bo.max = A.ca->restart_delay_max;
	startlimit_init(&I->sl, A.ca->start_limit);
	uv_timer_init(T.loop, &I->timer);
	I->timer.data = I;
	A.inst = I;
	spawn_ok = 1;
	spawns = signals = last_signal = group_alive = 0;
}

/* Put the instance in state st as the machine itself would have. */
static void
put_in(enum inst_state st)
{
	I->state = ST_STOPPED;
	switch (st) {
	case ST_STOPPED:
		break;
	case ST_STARTING:
		inst_event(I, EV_START);
		break;
	case ST_LIVE:
		inst_event(I, EV_START);
		inst_event(I, EV_READY);
		break;
	case ST_BACKOFF:
		inst_event(I, EV_START);
		inst_exited(I, 1, 0);
		break;
	case ST_STOPPING:
		group_alive = 1;
		inst_event(I, EV_START);
		inst_event(I, EV_STOP);
		break;
	case ST_FAILED:
		I->state = ST_FAILED;
		break;
	case ST_PREFLIGHT:
		prep_want = 1;
		inst_event(I, EV_START);
		prep_want = 0;
		break;
	case ST_MIGRATING:
		prep_want = 1;
		inst_event(I, EV_START);
		inst_event(I, EV_MIGRATE);
		prep_want = 0;
		break;
	default:
		break;
	}
}

/* Which states each [state][event] may lead to (bit per state). */
#define B(s)	(1u << (s))
static const unsigned allowed[ST__COUNT][EV__COUNT] = {
	[ST_STOPPED] = {
		[EV_START] = B(ST_STARTING) | B(ST_BACKOFF) | B(ST_FAILED),
		[EV_STOP] = B(ST_STOPPED), [EV_EXIT] = B(ST_STOPPED),
		[EV_TIMER] = B(ST_STOPPED), [EV_READY] = B(ST_STOPPED),
		[EV_KILL] = B(ST_STOPPED), [EV_MIGRATE] = B(ST_STOPPED),
		[EV_PREP_OK] = B(ST_STOPPED), [EV_PREP_FAIL] = B(ST_STOPPED),
	},
	[ST_STARTING] = {
		[EV_START] = B(ST_STARTING), [EV_STOP] = B(ST_STOPPING),
		[EV_EXIT] = B(ST_BACKOFF) | B(ST_FAILED) | B(ST_STOPPED),
		[EV_TIMER] = B(ST_LIVE) | B(ST_STOPPING),
		[EV_READY] = B(ST_LIVE), [EV_KILL] = B(ST_STOPPING),
		[EV_MIGRATE] = B(ST_STARTING), [EV_PREP_OK] = B(ST_STARTING),
		[EV_PREP_FAIL] = B(ST_STARTING),
	},
	[ST_LIVE] = {
		[EV_START] = B(ST_LIVE), [EV_STOP] = B(ST_STOPPING),
		[EV_EXIT] = B(ST_BACKOFF) | B(ST_FAILED) | B(ST_STOPPED),
		[EV_TIMER] = B(ST_LIVE), [EV_READY] = B(ST_LIVE),
		[EV_KILL] = B(ST_STOPPING), [EV_MIGRATE] = B(ST_LIVE),
		[EV_PREP_OK] = B(ST_LIVE), [EV_PREP_FAIL] = B(ST_LIVE),
	},
	[ST_BACKOFF] = {
		[EV_START] = B(ST_STARTING) | B(ST_BACKOFF),
		[EV_STOP] = B(ST_STOPPED), [EV_EXIT] = B(ST_BACKOFF),
		[EV_TIMER] = B(ST_STARTING) | B(ST_BACKOFF),
		[EV_READY] = B(ST_BACKOFF), [EV_KILL] = B(ST_BACKOFF),
		[EV_MIGRATE] = B(ST_BACKOFF), [EV_PREP_OK] = B(ST_BACKOFF),
		[EV_PREP_FAIL] = B(ST_BACKOFF),
	},
	[ST_STOPPING] = {
		[EV_START] = B(ST_STOPPING), [EV_STOP] = B(ST_STOPPING),
		[EV_EXIT] = B(ST_STOPPED) | B(ST_STARTING) | B(ST_BACKOFF) |
		    B(ST_FAILED),
		[EV_TIMER] = B(ST_STOPPING), [EV_READY] = B(ST_STOPPING),
		[EV_KILL] = B(ST_STOPPING), [EV_MIGRATE] = B(ST_STOPPING),
		[EV_PREP_OK] = B(ST_STOPPING), [EV_PREP_FAIL] = B(ST_STOPPING),
	},
	[ST_FAILED] = {
		[EV_START] = B(ST_STARTING) | B(ST_BACKOFF) | B(ST_FAILED),
		[EV_STOP] = B(ST_FAILED), [EV_EXIT] = B(ST_FAILED),
		[EV_TIMER] = B(ST_FAILED), [EV_READY] = B(ST_FAILED),
		[EV_KILL] = B(ST_FAILED), [EV_MIGRATE] = B(ST_FAILED),
		[EV_PREP_OK] = B(ST_FAILED), [EV_PREP_FAIL] = B(ST_FAILED),
	},
	/* Waiting for the app's preflight/migration: nothing runs yet. */
	[ST_PREFLIGHT] = {
		[EV_START] = B(ST_PREFLIGHT), [EV_STOP] = B(ST_STOPPED),
		[EV_EXIT] = B(ST_PREFLIGHT), [EV_TIMER] = B(ST_PREFLIGHT),
		[EV_READY] = B(ST_PREFLIGHT), [EV_KILL] = B(ST_PREFLIGHT),
		[EV_MIGRATE] = B(ST_MIGRATING),
		[EV_PREP_OK] = B(ST_STARTING) | B(ST_BACKOFF) | B(ST_FAILED),
		[EV_PREP_FAIL] = B(ST_FAILED),
	},
	[ST_MIGRATING] = {
		[EV_START] = B(ST_MIGRATING), [EV_STOP] = B(ST_STOPPED),
		[EV_EXIT] = B(ST_MIGRATING), [EV_TIMER] = B(ST_MIGRATING),
		[EV_READY] = B(ST_MIGRATING), [EV_KILL] = B(ST_MIGRATING),
		[EV_MIGRATE] = B(ST_MIGRATING),
		[EV_PREP_OK] = B(ST_STARTING) | B(ST_BACKOFF) | B(ST_FAILED),
		[EV_PREP_FAIL] = B(ST_FAILED),
	},
};

static void
test_every_cell(void)
{
	int	s, e;

	for (s = 0; s < ST__COUNT; s++)
		for (e = 0; e < EV__COUNT; e++) {
			fixture("");
			put_in((enum inst_state)s);
			if (I->state != (enum inst_state)s) {
				printf("# could not reach %s\n", state_names[s]);
				CHECK(0);
				continue;
			}
			inst_event(I, (enum inst_event)e);
			if (!(allowed[s][e] & B(I->state))) {
				printf("# %s + %s -> %s\n", state_names[s],
				    event_names[e], state_names[I->state]);
				CHECK(0);
			}
		}
}

/* A start with something to check waits for the prep; a crash restart
 * does not go through it again. */
static void
test_prep(void)
{
	fixture("");
	prep_joins = prep_leaves = 0;
	prep_want = 1;
	inst_event(I, EV_START);
	CHECK(I->state == ST_PREFLIGHT && prep_joins == 1 && spawns == 0);
	inst_event(I, EV_STOP);
	CHECK(I->state == ST_STOPPED && prep_leaves == 1 && spawns == 0);
	inst_event(I, EV_START);
	inst_event(I, EV_MIGRATE);
	CHECK(I->state == ST_MIGRATING && spawns == 0);
	snprintf(I->reason, sizeof(I->reason), "migration failed");
	inst_event(I, EV_PREP_FAIL);
	CHECK(I->state == ST_FAILED && spawns == 0 &&
	    strcmp(I->reason, "migration failed") == 0);
	inst_event(I, EV_START);
	CHECK(I->state == ST_PREFLIGHT && I->reason[0] == '\0');
	inst_event(I, EV_PREP_OK);
	CHECK(I->state == ST_STARTING && spawns == 1);
	inst_event(I, EV_READY);
	/* Health or memory restart: straight back, no prep. */
	prep_joins = 0;
	group_alive = 0;
	inst_event(I, EV_KILL);
	I->running = 0;
	inst_event(I, EV_EXIT);
	CHECK(I->state == ST_STARTING && prep_joins == 0 && spawns == 2);
	prep_want = 0;
}

static void
test_start_ready_stop(void)
{
	fixture("stop_signal = SIGINT");
	inst_event(I, EV_START);
	CHECK(I->state == ST_STARTING && spawns == 1);
	inst_event(I, EV_TIMER);		/* min_ready elapsed */
	CHECK(I->state == ST_LIVE && I->ready_ms >= 0);
	group_alive = 1;
	inst_event(I, EV_STOP);
	CHECK(I->state == ST_STOPPING && last_signal == SIGINT);
	inst_event(I, EV_TIMER);		/* kill_timeout */
	CHECK(I->state == ST_STOPPING && last_signal == SIGKILL);
	group_alive = 0;
	inst_exited(I, 0, SIGKILL);
	CHECK(I->state == ST_STOPPED && I->exit_signal == SIGKILL);
	CHECK(I->restarts == 0);		/* an operator stop */
}

static void
test_crash_backoff_and_limit(void)
{
	int	i;

	fixture("restart_delay = 100ms\nrestart_delay_max = 400ms\n"
	    "start_limit = 3\nstart_limit_interval = 1m");
	inst_event(I, EV_START);
	inst_exited(I, 1, 0);
	/* up to a fifth less: the jitter */
	CHECK(I->state == ST_BACKOFF && I->next_delay >= 80 &&
	    I->next_delay <= 100);
	inst_event(I, EV_TIMER);
	CHECK(I->state == ST_STARTING && I->restarts == 1);
	inst_exited(I, 1, 0);
	CHECK(I->state == ST_BACKOFF && I->next_delay >= 160 &&
	    I->next_delay <= 200);
	for (i = 0; i < 2; i++) {
		inst_event(I, EV_TIMER);
		inst_exited(I, 1, 0);
	}
	CHECK(I->state == ST_FAILED);
	CHECK(strstr(I->reason, "start limit hit") != NULL);
	CHECK(strstr(I->reason, "exited with code 1") != NULL);
	inst_event(I, EV_START);		/* an operator start resets */
	CHECK(I->state == ST_STARTING);
	inst_exited(I, 1, 0);
	/* up to a fifth less: the jitter */
	CHECK(I->state == ST_BACKOFF && I->next_delay >= 80 &&
	    I->next_delay <= 100);
}

static void
test_policies(void)
{
	fixture("restart = never");
	inst_event(I, EV_START);
	inst_exited(I, 0, 0);
	CHECK(I->state == ST_STOPPED);
	inst_event(I, EV_START);
	inst_exited(I, 2, 0);
	CHECK(I->state == ST_FAILED && strstr(I->reason, "code 2"));
	fixture("restart = on-failure");
	inst_event(I, EV_START);
	inst_exited(I, 0, 0);
	CHECK(I->state == ST_STOPPED);
	inst_event(I, EV_START);
	inst_exited(I, 0, SIGSEGV);
	CHECK(I->state == ST_BACKOFF);
}

static void
test_spawn_failure(void)
{
	fixture("start_limit = 1");
	spawn_ok = 0;
	inst_event(I, EV_START);
	CHECK(I->state == ST_BACKOFF);
	CHECK(strstr(I->reason, "cannot run") != NULL);
	inst_event(I, EV_TIMER);
	CHECK(I->state == ST_FAILED);
	CHECK(strstr(I->reason, "did not start: cannot run") != NULL);
}

static void
test_group_outlives_leader(void)
{
	fixture("");
	inst_event(I, EV_START);
	inst_event(I, EV_READY);
	group_alive = 1;			/* npm died, node lives on */
	inst_exited(I, 1, 0);
	CHECK(I->state == ST_STOPPING && last_signal == SIGTERM);
	group_alive = 0;
	inst_group_check(I);
	CHECK(I->state == ST_BACKOFF);
}

static void
test_restart_and_kill(void)
{
	fixture("");
	inst_event(I, EV_START);
	inst_event(I, EV_READY);
	inst_event(I, EV_KILL);			/* memory or health */
	CHECK(I->state == ST_STOPPING && I->restarts == 1);
	inst_exited(I, 0, SIGTERM);
	CHECK(I->state == ST_STARTING && spawns == 2);
	inst_event(I, EV_STOP);			/* operator restart = */
	inst_event(I, EV_START);		/* stop then start */
	inst_exited(I, 0, SIGTERM);
	CHECK(I->state == ST_STARTING && spawns == 3 && I->restarts == 1);
}

int
main(void)
{
	/* tendd's own log lines are noise here (VERBOSE=1 shows them). */
	if (getenv("VERBOSE") == NULL && freopen("/dev/null", "w", stderr) == NULL)
		return 1;
	T.loop = uv_default_loop();
	supervise_init(&T);
	RUN(test_every_cell);
	RUN(test_prep);
	RUN(test_start_ready_stop);
	RUN(test_crash_backoff_and_limit);
	RUN(test_policies);
	RUN(test_spawn_failure);
	RUN(test_group_outlives_leader);
	RUN(test_restart_and_kill);
	fixture("");
	uv_close((uv_handle_t *)&I->timer, NULL);
	uv_run(T.loop, UV_RUN_NOWAIT);
	startlimit_free(&I->sl);
	free(I);
	conf_free(C);
	supervise_close(&T, NULL);
	uv_run(T.loop, UV_RUN_NOWAIT);
	CHECK(uv_loop_close(T.loop) == 0);
	return check_failed();
}
