/*
 * logzip.c: with log_compress = yes, each rotated log file is gzipped in
 * a child process (`gzip -c`, as root, on root's own files in the
 * root-only log_dir), so the loop never spends a second compressing.
 *
 * The child reads the rotated file on its stdin and writes APP.log.gz-tmp
 * (made here with O_EXCL|O_NOFOLLOW) on its stdout; when it succeeded,
 * the tmp file becomes APP.log.N.gz and then APP.log.N goes.  A reader
 * (logread.c) prefers APP.log.N while both are there, so no line is ever
 * read twice nor missed.  Rotations go on meanwhile: each moves the file
 * being compressed one place down, and the job follows it (at); the
 * plain file is removed only if it is still the one compressed (same
 * inode).  One job per app at a time; the next rotated file still plain
 * goes next.  A failed gzip is reported once and its tmp file removed;
 * the file stays plain, and is tried again at the next rotation.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

struct logzip {
	uv_process_t	 proc;
	struct tend	*t;
	struct applog	*log;		/* NULL once the app's log closed */
	char		*path;		/* APP.log */
	char		*name;		/* the app's, for messages */
	unsigned	 at;		/* compressing path.at */
	unsigned	 keep;		/* log_keep when it started */
	dev_t		 dev;
	ino_t		 ino;
};

static char *const gzip_env[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };

static void	logzip_exit_cb(uv_process_t *, int64_t, int);

static void
logzip_closed_cb(uv_handle_t *h)
{
	struct logzip	*z = h->data;

	free(z->path);
	free(z->name);
	free(z);
}

/* path.k, into buf. */
static const char *
rotated(char *buf, size_t len, const char *path, unsigned k, const char *ext)
{
	if (snprintf(buf, len, "%s.%u%s", path, k, ext) >= (int)len)
		return NULL;
	return buf;
}

/* Compress path.k of l's app: 0 started, -1 not. */
static int
logzip_start(struct applog *l, unsigned k)
{
	struct tend	*t = l->app->t;
	struct logzip	*z;
	struct stat	 st;
	char		 src[4200], tmp[4200], why[256];
	char		*argv[] = { "gzip", "-c", NULL };
	uv_stdio_container_t stdio[3];
	int		 in, out, r, must_close;

	if (rotated(src, sizeof(src), l->path, k, "") == NULL ||
	    snprintf(tmp, sizeof(tmp), "%s.gz-tmp", l->path) >= (int)sizeof(tmp))
		return -1;
	if ((in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1)
		return -1;
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return -1;
	}
	/* A tmp file left by a tendd that died mid-way: nobody's now. */
	if (unlink(tmp) != 0 && errno != ENOENT)
		log_warn("%s: unlink %s", l->app->name, tmp);
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0640)) == -1) {
		log_warn("%s: %s", l->app->name, tmp);
		close(in);
		return -1;
	}
	if ((z = calloc(1, sizeof(*z))) == NULL ||
	    (z->path = strdup(l->path)) == NULL ||
	    (z->name = strdup(l->app->name)) == NULL) {
		if (z != NULL) {
			free(z->path);
			free(z);
		}
		close(in);
		close(out);
		unlink(tmp);
		return -1;
	}
	z->t = t;
	z->log = l;
	z->at = k;
	z->keep = t->conf->log_keep;
	z->dev = st.st_dev;
	z->ino = st.st_ino;
	z->proc.data = z;
	memset(stdio, 0, sizeof(stdio));
	stdio[0].flags = UV_INHERIT_FD;
	stdio[0].data.fd = in;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = out;
	stdio[2].flags = UV_INHERIT_FD;	/* its complaints: tendd's log */
	stdio[2].data.fd = 2;
	r = spawn_process(t, &z->proc, &(const struct spawn_spec){
	    .argv = argv, .env = (char **)gzip_env, .stdio = stdio,
	    .stdio_count = 3, .exit_cb = logzip_exit_cb },
	    &must_close, why, sizeof(why));
	close(in);
	close(out);
	if (r != 0) {
		log_warnx("%s: log_compress: %s", z->name, why);
		unlink(tmp);
		if (must_close)
			uv_close((uv_handle_t *)&z->proc, logzip_closed_cb);
		else
			logzip_closed_cb((uv_handle_t *)&z->proc);
		return -1;
	}
	l->zip = z;
	return 0;
}

/* The next rotated file still plain, oldest first. */
static void
logzip_next(struct applog *l)
{
	char		name[4200];
	struct stat	st;
	unsigned	k;

	for (k = l->app->t->conf->log_keep; k >= 1; k--)
		if (rotated(name, sizeof(name), l->path, k, "") != NULL &&
		    lstat(name, &st) == 0 && S_ISREG(st.st_mode) &&
		    logzip_start(l, k) == 0)
			return;
}

static void
logzip_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct logzip	*z = p->data;
	char		 src[4200], gz[4200], tmp[4200];
	struct stat	 st;

	spawn_forget(z->t, p->pid);
	snprintf(tmp, sizeof(tmp), "%s.gz-tmp", z->path);
	if (status != 0 || sig != 0) {
		log_warnx("%s: gzip of %s.%u failed (%s %d): left as it is",
		    z->name, z->path, z->at, sig ? "signal" : "exit",
		    sig ? sig : (int)status);
		unlink(tmp);
	} else if (z->at > z->keep ||
	    rotated(src, sizeof(src), z->path, z->at, "") == NULL ||
	    rotated(gz, sizeof(gz), z->path, z->at, ".gz") == NULL ||
	    lstat(src, &st) != 0 || st.st_dev != z->dev ||
	    st.st_ino != z->ino) {
		/* Rotated out of log_keep, or not the file it was. */
		unlink(tmp);
	} else if (rename(tmp, gz) != 0) {
		log_warn("%s: rename %s", z->name, tmp);
		unlink(tmp);
	} else if (unlink(src) != 0)
		log_warn("%s: unlink %s", z->name, src);
	if (z->log != NULL) {
		struct applog *l = z->log;

		l->zip = NULL;
		if (status == 0 && sig == 0 && l->app->t->conf->log_compress)
			logzip_next(l);
	}
	uv_close((uv_handle_t *)p, logzip_closed_cb);
}

/* l was rotated (every APP.log.N is now APP.log.N+1): compress. */
void
logzip_rotated(struct applog *l)
{
	if (l->zip != NULL) {
		l->zip->at++;	/* it follows its file */
		return;
	}
	if (l->app->t->conf->log_compress && l->app->t->conf->log_keep > 0)
		logzip_start(l, 1);
}

/* l closes: a job running finishes on its own. */
void
logzip_detach(struct applog *l)
{
	if (l->zip != NULL)
		l->zip->log = NULL;
	l->zip = NULL;
}
