/*
 * nginx.c: the upstream file tend writes for an app behind nginx, and
 * nginx's own test and reload commands.
 *
 * The file is root's (nginx reads it as root), so it is written the way
 * rootdir.c allows: in a directory only root can write, through a
 * descriptor of that directory, a temporary file made with O_EXCL and
 * O_NOFOLLOW, fsync, rename, fsync of the directory.  Its text comes only
 * from numbers tend computed (ports) and names tend checked (the app's
 * name, a release id from tend's own history that valid_release_id()
 * accepts), so nothing an app user controls can reach nginx's config.
 *
 * The file is also tend's memory of which port set serves and which
 * release it runs: after a kill -9 of tendd, the next one reads both back
 * from it (nginx_serving()), since that is what nginx really does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

/* An upstream file is a few lines; anything larger is not ours. */
#define NGINX_FILE_MAX	(64 * 1024)
/* nginx -t and the reload get this long. */
#define NGINX_CMD_MS	60000

/* The upstream block for the slots from base. */
int
nginx_text(const struct app *app, unsigned base, const char *release,
    char *buf, size_t len)
{
	size_t		off;
	unsigned	i;

	if (release == NULL || !valid_release_id(release))
		release = "-";
	off = (size_t)snprintf(buf, len, "# Written by tend for app %s "
	    "(release %s); do not edit.\nupstream tend_%s {\n", app->name,
	    release, app->name);
	for (i = base; i < base + app->n_run && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off,
		    "\tserver 127.0.0.1:%u;\n", app->inst[i].port);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, "}\n");
	return off < len ? (int)off : -1;
}

/* The directory of the upstream file, checked; its base name in *base. */
static int
upstream_dir(const struct app *app, const char **base, char *why, size_t len)
{
	const char	*path = app->ca->nginx_upstream;
	const char	*slash = strrchr(path, '/');
	char		 dir[PATH_MAX];
	int		 fd;

	if (slash == NULL || slash[1] == '\0') {
		snprintf(why, len, "nginx_upstream %s: not a file path", path);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (dir[0] == '\0')
		snprintf(dir, sizeof(dir), "/");
	*base = slash + 1;
	if ((fd = rootdir_open(dir, 0, why, len)) == -1)
		return -1;
	return fd;
}

/* Is the upstream file's directory one root may write in?  For tendd -t. */
int
nginx_check(const struct app *app, char *why, size_t len)
{
	const char	*base;
	int		 fd;

	if ((fd = upstream_dir(app, &base, why, len)) == -1)
		return -1;
	close(fd);
	return 0;
}

/* The file's text: 0, 1 when there is none, -1 with why. */
int
nginx_read(const struct app *app, char **buf, size_t *blen, char *why,
    size_t len)
{
	const char	*base;
	ssize_t		 n;
	size_t		 off = 0;
	int		 dfd, fd;

	*buf = NULL;
	*blen = 0;
	if ((dfd = upstream_dir(app, &base, why, len)) == -1)
		return -1;
	fd = rootdir_file(dfd, base, O_RDONLY, 0);
	close(dfd);
	if (fd == -1) {
		if (errno == ENOENT)
			return 1;
		snprintf(why, len, "%s: %s", app->ca->nginx_upstream,
		    errno == EINVAL ? "not a regular file" : strerror(errno));
		return -1;
	}
	if ((*buf = malloc(NGINX_FILE_MAX + 1)) == NULL) {
		close(fd);
		snprintf(why, len, "out of memory");
		return -1;
	}
	while (off < NGINX_FILE_MAX &&
	    (n = read(fd, *buf + off, NGINX_FILE_MAX - off)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(why, len, "%s: %s", app->ca->nginx_upstream,
			    strerror(errno));
			close(fd);
			free(*buf);
			*buf = NULL;
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	(*buf)[off] = '\0';
	*blen = off;
	return 0;
}

int
nginx_write(const struct app *app, const char *text, size_t tlen, char *why,
    size_t len)
{
	const char	*base;
	int		 dfd, r;

	if ((dfd = upstream_dir(app, &base, why, len)) == -1)
		return -1;
	r = atomic_write_at(dfd, base, text, tlen, 0644);
	if (r != 0)
		snprintf(why, len, "cannot write %s: %s",
		    app->ca->nginx_upstream, strerror(errno));
	close(dfd);
	return r;
}

int
nginx_remove(const struct app *app, char *why, size_t len)
{
	const char	*base;
	int		 dfd, r;

	if ((dfd = upstream_dir(app, &base, why, len)) == -1)
		return -1;
	r = unlinkat(dfd, base, 0);
	if (r != 0 && errno == ENOENT)
		r = 0;
	else if (r != 0)
		snprintf(why, len, "cannot remove %s: %s",
		    app->ca->nginx_upstream, strerror(errno));
	close(dfd);
	return r;
}

/*
 * Which port set nginx sends traffic to (0 or 1), and the release it
 * said it was (into rel, "" if none), from the file itself: after a crash
 * that is the truth, whatever tend was doing.
 */
unsigned
nginx_serving(const struct app *app, char *rel, size_t rlen)
{
	char		*buf, *p, *e, why[256];
	size_t		 len;
	unsigned	 port = 0;

	if (rlen > 0)
		rel[0] = '\0';
	if (app->ca->nginx_upstream == NULL || app->n_inst < 2 * app->n_run)
		return 0;
	if (nginx_read(app, &buf, &len, why, sizeof(why)) != 0)
		return 0;
	if ((p = strstr(buf, "server 127.0.0.1:")) != NULL)
		port = (unsigned)strtoul(p + 17, NULL, 10);
	if ((p = strstr(buf, "(release ")) != NULL &&
	    (e = strchr(p + 9, ')')) != NULL && (size_t)(e - p - 9) < rlen) {
		snprintf(rel, rlen, "%.*s", (int)(e - p - 9), p + 9);
		if (!valid_release_id(rel))
			rel[0] = '\0';
	}
	free(buf);
	return port != 0 && port == app->inst[app->n_run].port ? 1 : 0;
}

/* nginx_test or nginx_reload, as root (root's own commands from tend.conf),
 * with nothing of the app's environment. */
struct job *
nginx_run(struct app *app, const char *cmd, job_done_cb done,
    job_line_cb line, void *arg, char *why, size_t len)
{
	struct job_spec	 js;
	struct job	*j;
	struct env	 e;
	const char	*path = getenv("PATH");

	env_init(&e);
	if (env_set(&e, "PATH", path != NULL && *path ? path :
	    appenv_default_path) != 0 || env_set(&e, "LANG", "C.UTF-8") != 0) {
		env_free(&e);
		snprintf(why, len, "out of memory");
		return NULL;
	}
	memset(&js, 0, sizeof(js));
	js.stream = "nginx";
	js.cmd = cmd;
	js.cwd = "/";
	js.env = e.kv;
	js.timeout_ms = NGINX_CMD_MS;
	js.kill_timeout = app->ca->kill_timeout;
	j = job_start(app, &js, done, line, arg, why, len);
	env_free(&e);
	return j;
}
