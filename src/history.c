/*
 * history.c: an app's deploy records, one JSON file per app in state_dir
 * (APP.deploys.json: an array, newest first).  Every change rewrites the
 * whole file the safe way: a temporary file in the same directory,
 * fsync, rename over the old one, fsync of the directory.  A kill -9 at
 * any moment leaves either the old file or the new one, never half of
 * one, so the history is always readable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tend.h"

/* A history past this many records loses its oldest. */
#define HISTORY_MAX	100

static int
history_path(char *buf, size_t len, const char *state_dir, const char *app)
{
	int	n = snprintf(buf, len, "%s/%s.deploys.json", state_dir, app);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The records, or an empty array when there are none yet.  NULL with
 * *why set when the file exists but cannot be read as a history. */
json_t *
history_load(const char *state_dir, const char *app, char *why, size_t len)
{
	char		 path[4096];
	json_error_t	 err;
	json_t		*h;

	if (history_path(path, sizeof(path), state_dir, app) != 0) {
		snprintf(why, len, "state_dir path too long");
		return NULL;
	}
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return json_array();
	if ((h = json_load_file(path, JSON_REJECT_DUPLICATES, &err)) == NULL) {
		snprintf(why, len, "%s:%d: %s", path, err.line, err.text);
		return NULL;
	}
	if (!json_is_array(h)) {
		snprintf(why, len, "%s: not a list of deploys", path);
		json_decref(h);
		return NULL;
	}
	return h;
}

int
history_save(const char *state_dir, const char *app, json_t *h, char *why,
    size_t len)
{
	char	 path[4096], tmp[4200], *text;
	size_t	 n, off = 0;
	ssize_t	 w;
	int	 fd, dfd;

	while (json_array_size(h) > HISTORY_MAX)
		json_array_remove(h, json_array_size(h) - 1);
	if (history_path(path, sizeof(path), state_dir, app) != 0 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(why, len, "state_dir path too long");
		return -1;
	}
	if ((text = json_dumps(h, JSON_INDENT(1))) == NULL) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	n = strlen(text);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) == -1) {
		snprintf(why, len, "%s: %s", tmp, strerror(errno));
		free(text);
		return -1;
	}
	while (off < n) {
		if ((w = write(fd, text + off, n - off)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	free(text);
	if (off < n || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
		snprintf(why, len, "%s: %s", tmp, strerror(errno ? errno : EIO));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(why, len, "rename %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if ((dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
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
