/*
 * atomic.c: replace a file so that a reader (or a crash) sees the old
 * text or the new one, never a mix: a temporary file beside it, made with
 * O_EXCL|O_NOFOLLOW, written, fsynced, renamed over the name, and the
 * directory fsynced so the rename itself survives a power cut.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tend.h"

int
atomic_write_at(int dirfd, const char *name, const void *buf, size_t len,
    mode_t mode)
{
	char		 tmp[300];
	const char	*p = buf;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd, e;

	if (snprintf(tmp, sizeof(tmp), ".%s.tend-%ld", name, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	(void)unlinkat(dirfd, tmp, 0);	/* a leftover of a killed tendd */
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode)) == -1)
		return -1;
	while (off < len) {
		if ((n = write(fd, p + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			goto bad;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0)
		goto bad;
	if (close(fd) != 0) {
		fd = -1;
		goto bad;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) != 0)
		goto bad;
	(void)fsync(dirfd);
	return 0;
bad:
	e = errno;
	if (fd != -1)
		close(fd);
	(void)unlinkat(dirfd, tmp, 0);
	errno = e;
	return -1;
}
