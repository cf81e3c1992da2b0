/*
 * atomic.c: the one way tend replaces a file (deploy history, nginx's
 * upstream file): the new text goes to a temporary file in the same
 * directory, is fsync'd, renamed over the old name, and the directory is
 * fsync'd so the rename itself survives a power cut.  A kill -9 at any
 * moment leaves either the old file or the new one, never half of one.
 *
 * The temporary file is created with O_EXCL|O_NOFOLLOW, so nothing
 * planted at its name is ever opened; renameat replaces whatever is at
 * the final name, a symbolic link included, without following it.  The
 * file gets exactly mode, whatever tendd's umask (027).
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tend.h"

/* Names tried for the temporary file before giving up with EEXIST:
 * another one only exists if a writer of this name died midway. */
#define ATOMIC_TRIES	100

static int
write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 w;

	while (len > 0) {
		if ((w = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int
sync_dir(int dirfd)
{
	int	fd, r, saved;

	if (dirfd != AT_FDCWD)
		return fsync(dirfd);
	if ((fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

int
atomic_write_at(int dirfd, const char *name, const void *buf, size_t len,
    mode_t mode)
{
	static unsigned	 seq;
	char		 tmp[NAME_MAX + 1];
	unsigned	 i;
	int		 fd = -1, n, saved;

	if (*name == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < ATOMIC_TRIES; i++) {
		/* Atomic: tendd writes metrics_file from libuv's pool while
		 * its loop may write a history. */
		n = snprintf(tmp, sizeof(tmp), ".%s.%ld.%u.tmp", name,
		    (long)getpid(), __atomic_fetch_add(&seq, 1,
		    __ATOMIC_RELAXED));
		if (n < 0 || (size_t)n >= sizeof(tmp)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	if (fd == -1)
		return -1;
	if (write_all(fd, buf, len) != 0 || fchmod(fd, mode) != 0 ||
	    fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) != 0)
		goto fail;
	/* Renamed: the new text is in place; only its durability is in
	 * doubt, and there is no temporary file left to remove. */
	return sync_dir(dirfd);
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	(void)unlinkat(dirfd, tmp, 0);
	errno = saved;
	return -1;
}

int
atomic_write(const char *path, const void *buf, size_t len, mode_t mode)
{
	char		 dir[PATH_MAX];
	const char	*slash = strrchr(path, '/'), *name;
	int		 dirfd, r, saved;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
		name = path;
	} else if (slash == path) {
		snprintf(dir, sizeof(dir), "/");
		name = slash + 1;
	} else {
		if ((size_t)(slash - path) >= sizeof(dir)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		name = slash + 1;
	}
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	r = atomic_write_at(dirfd, name, buf, len, mode);
	saved = errno;
	close(dirfd);
	errno = saved;
	return r;
}
