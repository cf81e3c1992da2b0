/*
 * spawn.c: every process tendd starts goes through spawn_process(): app
 * instances, jobs (migrations, backups, builds, git, the work in an app's
 * tree) and probes.  A spec names the user it runs as, its directory,
 * argv and environment; the child runs in a session of its own (so its
 * process group can be signalled as a whole) and is noted in one registry
 * of children (t->kids), which the orphan reaper consults.  (An app
 * instance is started by inst.c, on top of this.)
 *
 * libuv's own setuid support drops every supplementary group, but an app
 * user often needs its groups (a socket group, a shared uploads group).
 * So when tendd is root and the app names a user, the child is tendd
 * itself in a tiny mode (`tendd --exec-as USER GROUP -- argv...`) that
 * calls initgroups(), setgid(), setuid(), only then enters the working
 * directory (so the kernel checks it as the user: a link the user planted
 * towards a root-only directory fails there), and execs: one extra exec,
 * no shell involved, no capabilities kept.
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

/*
 * Who a child runs as: the passwd entry of user (by name or number; NULL
 * when user is NULL), and *as_other when that means a switch, which needs
 * root.  On error NULL with why set (and *as_other = -1).
 */
struct passwd *
spawn_user(const char *user, const char *group, int *as_other, char *why,
    size_t whylen)
{
	struct passwd	*pw = NULL;
	char		*end;

	*as_other = 0;
	why[0] = '\0';
	if (user != NULL) {
		if ((pw = getpwnam(user)) == NULL) {
			unsigned long uid = strtoul(user, &end, 10);

			if (*end == '\0' && end != user)
				pw = getpwuid((uid_t)uid);
		}
		if (pw == NULL) {
			snprintf(why, whylen, "user %s does not exist", user);
			*as_other = -1;
			return NULL;
		}
		if (pw->pw_uid != geteuid())
			*as_other = 1;
	}
	if (group != NULL)
		*as_other = 1;
	if (*as_other && geteuid() != 0) {
		snprintf(why, whylen, "user/group set but tendd is not root");
		*as_other = -1;
		return NULL;
	}
	return pw;
}

/* --- every child of tendd -------------------------------------------- */

static int
kids_add(struct tend *t, pid_t pid)
{
	pid_t	*n;

	if (t->nkids == t->capkids) {
		size_t cap = t->capkids ? 2 * t->capkids : 64;

		if ((n = realloc(t->kids, cap * sizeof(*n))) == NULL)
			return -1;
		t->kids = n;
		t->capkids = cap;
	}
	t->kids[t->nkids++] = pid;
	return 0;
}

/* A child of ours exited (its exit callback ran): not ours any more. */
void
spawn_forget(struct tend *t, pid_t pid)
{
	size_t	i;

	for (i = 0; i < t->nkids; i++)
		if (t->kids[i] == pid) {
			t->kids[i] = t->kids[--t->nkids];
			return;
		}
}

/* A child this process did not spawn but inherited across exec (a
 * handover): noted like the others, so the orphan reaper leaves its exit
 * status to handover.c. */
int
spawn_adopt(struct tend *t, pid_t pid)
{
	return kids_add(t, pid);
}

/* Is pid a child libuv will reap (one spawn_process started)? */
int
spawn_pid_is_ours(const struct tend *t, pid_t pid)
{
	size_t	i;

	for (i = 0; i < t->nkids; i++)
		if (t->kids[i] == pid)
			return 1;
	return 0;
}

/*
 * Start one child: as spec->user/group when they name someone other
 * than tendd (through `tendd --exec-as`, which also enters spec->cwd
 * only after the privileges are gone), in a session of its own.  0 on
 * success; otherwise -1 with why set and *must_close telling whether
 * uv_spawn initialised proc (then it wants uv_close).
 */
int
spawn_process(struct tend *t, uv_process_t *proc, const struct spawn_spec *sp,
    int *must_close, char *why, size_t whylen)
{
	uv_process_options_t	 o;
	char			*args[SPAWN_MAX_ARGS + 8];
	int			 n = 0, r, as_other = 0;
	size_t			 k;

	*must_close = 0;
	(void)spawn_user(sp->user, sp->group, &as_other, why, whylen);
	if (as_other < 0)
		return -1;
	if (as_other) {
		args[n++] = "tendd";
		args[n++] = "--exec-as";
		args[n++] = sp->user != NULL ? (char *)sp->user : "";
		args[n++] = sp->group != NULL ? (char *)sp->group : "";
		if (sp->cwd != NULL) {
			args[n++] = "--cwd";
			args[n++] = (char *)sp->cwd;
		}
		args[n++] = "--";
	}
	for (k = 0; sp->argv[k] != NULL; k++) {
		if (k == SPAWN_MAX_ARGS) {
			snprintf(why, whylen, "too many arguments");
			return -1;
		}
		args[n++] = sp->argv[k];
	}
	args[n] = NULL;
	memset(&o, 0, sizeof(o));
	o.exit_cb = sp->exit_cb;
	o.file = as_other ? t->self_exe : args[0];
	o.args = args;
	o.env = sp->env;
	o.cwd = as_other ? NULL : sp->cwd;
	o.flags = UV_PROCESS_DETACHED;	/* setsid(): its own process group */
	o.stdio_count = sp->stdio_count;
	o.stdio = sp->stdio;
	r = uv_spawn(t->loop, proc, &o);
	*must_close = 1;
	if (r != 0) {
		snprintf(why, whylen, "%s %s: %s%s%s", r == UV_ENOENT ?
		    "cannot run" : "cannot start", sp->argv[0], uv_strerror(r),
		    sp->cwd ? " in " : "", sp->cwd ? sp->cwd : "");
		return -1;
	}
	if (kids_add(t, proc->pid) != 0) {
		/* Still reaped by libuv; only the orphan reaper may not
		 * know it.  Keep it running rather than fail a start. */
		log_warnx("out of memory noting child %d", (int)proc->pid);
	}
	return 0;
}

/*
 * `tendd --exec-as USER GROUP [--cwd DIR] -- PROGRAM ARGS...`: become
 * USER (with its supplementary groups) or GROUP, enter DIR, then exec
 * PROGRAM (looked up in the environment's PATH).  Runs in the freshly
 * spawned child, so it may block on NSS and simply exit on error: the
 * message lands in the app's log as stderr.
 */
int
exec_as_main(int argc, char **argv)
{
	const char	*user, *group;
	struct passwd	*pw = NULL;
	struct group	*gr;
	uid_t		 uid = getuid();
	gid_t		 gid = getgid();
	char		*end;

	const char	*cwd = NULL;
	int		 prog = 5;

	if (argc >= 8 && strcmp(argv[4], "--cwd") == 0) {
		cwd = argv[5];
		prog = 7;
	}
	if (argc < prog + 1 || strcmp(argv[prog - 1], "--") != 0) {
		fprintf(stderr, "tend: --exec-as: usage: USER GROUP [--cwd DIR] "
		    "-- PROGRAM...\n");
		return 127;
	}
	user = argv[2];
	group = argv[3];
	if (*user != '\0') {
		if ((pw = getpwnam(user)) == NULL) {
			unsigned long u = strtoul(user, &end, 10);
			if (*end != '\0' || end == user ||
			    (pw = getpwuid((uid_t)u)) == NULL) {
				fprintf(stderr, "tend: user %s does not exist\n",
				    user);
				return 127;
			}
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (*group != '\0') {
		if ((gr = getgrnam(group)) != NULL)
			gid = gr->gr_gid;
		else {
			unsigned long g = strtoul(group, &end, 10);
			if (*end != '\0' || end == group) {
				fprintf(stderr, "tend: group %s does not exist\n",
				    group);
				return 127;
			}
			gid = (gid_t)g;
		}
	}
	if (pw != NULL) {
		if (initgroups(pw->pw_name, gid) != 0) {
			fprintf(stderr, "tend: initgroups %s: %s\n", pw->pw_name,
			    strerror(errno));
			return 127;
		}
	} else if (setgroups(1, &gid) != 0) {
		fprintf(stderr, "tend: setgroups: %s\n", strerror(errno));
		return 127;
	}
	if (setgid(gid) != 0 || setuid(uid) != 0) {
		fprintf(stderr, "tend: cannot become %s: %s\n",
		    *user ? user : group, strerror(errno));
		return 127;
	}
	/* Paranoia: a dropped root must not be able to come back. */
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		fprintf(stderr, "tend: privileges not dropped\n");
		return 127;
	}
	/* Only now, as the user: a directory the user may not enter, or
	 * a link the user planted towards root's files, stops here. */
	if (cwd != NULL && chdir(cwd) != 0) {
		fprintf(stderr, "tend: cannot enter %s as %s: %s\n", cwd,
		    *user ? user : group, strerror(errno));
		return 126;
	}
	/* PATH from the environment tend built for the child. */
	execvp(argv[prog], argv + prog);
	fprintf(stderr, "tend: exec %s: %s\n", argv[prog], strerror(errno));
	return 127;
}
