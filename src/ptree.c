/*
 * ptree.c: an instance's process tree is its process group (it runs in a
 * session of its own).  This file signals a group, asks whether anything
 * of it is left, measures its RSS and CPU from /proc, and reaps orphans:
 * tendd is a child subreaper, so a daemonizing grandchild whose parent died
 * becomes tendd's child and must be waited for by tendd, or it would stay
 * a zombie.  libuv waits only for the pids it spawned, so orphans are
 * found in /proc/self/task/ and reaped one pid at a time (never
 * waitpid(-1), which would steal exit statuses libuv is owed).
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

/* /proc/PID/stat is one line of well under a kilobyte. */
#define STAT_MAX	1024
/* Re-read the process table at most this often for status. */
#define SAMPLE_MIN_MS	1000

void
ptree_signal_group(pid_t pgid, int sig)
{
	if (pgid <= 1)
		return;		/* never kill(-1) or our own group */
	if (kill(-pgid, sig) != 0 && errno != ESRCH)
		log_warn("kill -%s group %d", signal_name(sig), (int)pgid);
}

int
ptree_group_alive(pid_t pgid)
{
	if (pgid <= 1)
		return 0;
	if (kill(-pgid, 0) == 0)
		return 1;
	return errno == EPERM;	/* exists, but became someone else's */
}

static ssize_t
read_small(const char *path, char *buf, size_t len)
{
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* pgrp, utime+stime ticks and rss pages of one process. */
static int
parse_stat(const char *buf, pid_t *pgrp, uint64_t *ticks, uint64_t *rss)
{
	const char		*p = strrchr(buf, ')');
	unsigned long long	 ut, st;
	long			 rsspages;
	int			 pg;

	/* After "pid (comm)": state ppid pgrp session tty tpgid flags
	 * minflt cminflt majflt cmajflt utime stime cutime cstime priority
	 * nice threads itrealvalue starttime vsize rss */
	if (p == NULL || sscanf(p + 1, " %*c %*d %d %*d %*d %*d %*u %*u %*u "
	    "%*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %*u %*u %ld",
	    &pg, &ut, &st, &rsspages) != 4)
		return -1;
	*pgrp = pg;
	*ticks = ut + st;
	*rss = rsspages > 0 ? (uint64_t)rsspages : 0;
	return 0;
}

static struct inst *
find_leader(struct tend *t, pid_t pgrp)
{
	struct app	*app;
	unsigned	 i;

	TAILQ_FOREACH(app, &t->apps, entry)
		for (i = 0; i < app->n_inst; i++)
			if ((app->inst[i].running || app->inst[i].draining) &&
			    app->inst[i].pid == pgrp)
				return &app->inst[i];
	return NULL;
}

/* Past this age a running instance's RSS of 0 is what it is. */
#define FRESH_MS	2000

/*
 * An instance started since the last pass, or one so young that the last
 * pass found no page of it yet (a process that has not run since its
 * exec): its RSS would read 0 until the next pass.
 */
static int
unmeasured(struct tend *t, uint64_t now)
{
	struct app	*app;
	struct inst	*in;
	unsigned	 i;

	TAILQ_FOREACH(app, &t->apps, entry)
		for (i = 0; i < app->n_inst; i++) {
			in = &app->inst[i];
			if (in->running && in->rss == 0 &&
			    now - in->spawned_at < FRESH_MS)
				return 1;
		}
	return 0;
}

/*
 * One pass over /proc: sum RSS and CPU ticks of every process by its
 * group, and turn the tick deltas into percentages.  Cost grows with the
 * host's process count, so it runs on demand (status) or on the tick when
 * some app has max_memory, never more than once a second unless forced
 * or an instance started since the last pass has no RSS yet.
 */
void
ptree_sample(struct tend *t, int force)
{
	uint64_t	 now = uv_now(t->loop), ticks, rss;
	long		 hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct app	*app;
	struct inst	*in;
	struct dirent	*de;
	DIR		*d;
	char		 path[300], buf[STAT_MAX];
	pid_t		 pg;
	unsigned	 i;

	if (!force && t->ptree_at != 0 && now - t->ptree_at < SAMPLE_MIN_MS &&
	    !unmeasured(t, now))
		return;
	t->ptree_at = now;
	TAILQ_FOREACH(app, &t->apps, entry)
		for (i = 0; i < app->n_inst; i++) {
			app->inst[i].rss = 0;
			app->inst[i].cpu_acc = 0;
		}
	if ((d = opendir("/proc")) == NULL) {
		log_warn("opendir /proc");
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (read_small(path, buf, sizeof(buf)) <= 0)
			continue;
		if (parse_stat(buf, &pg, &ticks, &rss) != 0)
			continue;
		if ((in = find_leader(t, pg)) == NULL)
			continue;
		in->rss += rss * (uint64_t)page;
		in->cpu_acc += ticks;
	}
	closedir(d);
	TAILQ_FOREACH(app, &t->apps, entry)
		for (i = 0; i < app->n_inst; i++) {
			in = &app->inst[i];
			if (!in->running) {
				in->cpu = 0;
				in->cpu_ticks = 0;
				in->sample_at = 0;
				continue;
			}
			if (in->sample_at != 0 && now > in->sample_at &&
			    in->cpu_acc >= in->cpu_ticks)
				in->cpu = 100.0 * (double)(in->cpu_acc -
				    in->cpu_ticks) / (double)hz * 1000.0 /
				    (double)(now - in->sample_at);
			in->cpu_ticks = in->cpu_acc;
			in->sample_at = now;
		}
}

/* Reap children of tendd that libuv did not spawn (adopted orphans). */
void
ptree_reap_orphans(struct tend *t)
{
	struct dirent	*de;
	DIR		*d;
	static char	 buf[64 * 1024];	/* ~9000 child pids */
	char		 path[300], *p, *end;
	long		 pid;
	int		 status;

	if ((d = opendir("/proc/self/task")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children",
		    de->d_name);
		if (read_small(path, buf, sizeof(buf)) <= 0)
			continue;
		for (p = buf; *p != '\0'; p = end) {
			pid = strtol(p, &end, 10);
			if (end == p)
				break;
			if (pid > 0 && !spawn_pid_is_ours(t, (pid_t)pid) &&
			    waitpid((pid_t)pid, &status, WNOHANG) > 0)
				log_debug("reaped orphan %ld", pid);
		}
	}
	closedir(d);
}

/*
 * Processes a previous tendd on this socket left behind: it was killed
 * (kill -9, a crash) and its apps, each in a session of its own, kept
 * running and hold their ports.  They carry TEND_SUPERVISOR=<socket> and
 * TEND_APP=<name> in their environment, run as the uid that app runs as
 * (owner_ok says), and started before this tendd; their groups get
 * SIGTERM, then SIGKILL after wait_ms.  Runs once at start, before any
 * app: it may block.
 */
/* Field 22 of /proc/PID/stat: when it started, in ticks after boot. */
static int
start_ticks(const char *stat, unsigned long long *start)
{
	const char	*p = strrchr(stat, ')');

	return p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u "
	    "%*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", start) != 1 ?
	    -1 : 0;
}

unsigned
ptree_kill_orphans(const char *socket, uint64_t wait_ms,
    int (*owner_ok)(const char *app, uid_t uid, void *), void *arg)
{
	char			 path[300], *buf, marker[4200], app[300];
	pid_t			 groups[256], pgrp;
	unsigned		 n = 0, i;
	unsigned long long	 mine, born;
	uint64_t		 ticks, rss, waited;
	struct stat		 st;
	struct dirent		*de;
	ssize_t			 len, mlen;
	DIR			*d;

	mlen = snprintf(marker, sizeof(marker), "TEND_SUPERVISOR=%s", socket);
	if (mlen <= 0 || (size_t)mlen >= sizeof(marker) ||
	    (buf = malloc(256 * 1024)) == NULL)
		return 0;
	if (read_small("/proc/self/stat", buf, 4096) <= 0 ||
	    start_ticks(buf, &mine) != 0 || (d = opendir("/proc")) == NULL) {
		free(buf);
		return 0;
	}
	while ((de = readdir(d)) != NULL && n < 256) {
		char *p, *end;
		int found = 0;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    atoi(de->d_name) == getpid())
			continue;
		/* Whose it is, before reading what it says of itself. */
		snprintf(path, sizeof(path), "/proc/%s", de->d_name);
		if (stat(path, &st) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/environ", de->d_name);
		if ((len = read_small(path, buf, 256 * 1024)) <= 0)
			continue;
		app[0] = '\0';
		for (p = buf, end = buf + len; p < end; p += strlen(p) + 1) {
			if (strcmp(p, marker) == 0)
				found = 1;
			else if (strncmp(p, "TEND_APP=", 9) == 0)
				snprintf(app, sizeof(app), "%s", p + 9);
		}
		/* Anyone can put the markers in an environment: only a
		 * process of the uid that app runs as, started before this
		 * tendd, can be one an earlier tendd left. */
		if (!found || app[0] == '\0' || !owner_ok(app, st.st_uid, arg))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if (read_small(path, buf, 4096) <= 0 ||
		    parse_stat(buf, &pgrp, &ticks, &rss) != 0 || pgrp <= 1 ||
		    start_ticks(buf, &born) != 0 || born > mine)
			continue;
		for (i = 0; i < n && groups[i] != pgrp; i++)
			;
		if (i == n)
			groups[n++] = pgrp;
	}
	closedir(d);
	free(buf);
	for (i = 0; i < n; i++) {
		log_warnx("process group %d was left by an earlier tendd on %s: "
		    "stopping it", (int)groups[i], socket);
		kill(-groups[i], SIGTERM);
	}
	for (waited = 0; n > 0 && waited < wait_ms; waited += 50) {
		unsigned alive = 0;

		for (i = 0; i < n; i++)
			alive += ptree_group_alive(groups[i]);
		if (alive == 0)
			break;
		usleep(50 * 1000);
	}
	for (i = 0; i < n; i++)
		if (ptree_group_alive(groups[i]))
			kill(-groups[i], SIGKILL);
	return n;
}
