/*
 * rootdir.c: the only way tendd, as root, reaches a directory it writes in.
 *
 * The rule (README "Security", tendd(8)): root creates, opens for writing,
 * renames and removes only inside directories that only root can write
 * (state_dir, log_dir, the socket's directory, backup_before_migrate,
 * nginx_upstream's directory), and there only through a descriptor of
 * that directory: openat() with O_NOFOLLOW|O_NONBLOCK (and O_EXCL when it
 * creates), renameat(), unlinkat().  Anything inside an app's tree is done
 * by a process running as the app's user, never here.
 *
 * rootdir_open() walks a path one component at a time from "/", the way
 * OpenSSH's safe_path() checks a key file's directories: every directory
 * on the way must belong to root (or to tendd's own user) and be writable
 * by nobody else.  A root-owned sticky directory (/tmp) may be passed
 * through, since nobody else can rename or remove what root made there,
 * but never be the one written in.  A symbolic link on the way is
 * followed only after the directory holding it passed the same check, so
 * whoever could have planted it is root.  What comes back is a descriptor
 * of the directory that was checked, not a path that could change after.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend.h"

/* Symbolic links followed in one walk before giving up (as the kernel). */
#define ROOTDIR_MAX_LINKS	40

/* May root trust dir st?  0, or -1 with why. */
static int
trusted(const struct stat *st, const char *shown, int last, char *why,
    size_t len)
{
	uid_t	me = geteuid();

	if (!S_ISDIR(st->st_mode)) {
		snprintf(why, len, "%s is not a directory", shown);
		return -1;
	}
	if (st->st_uid != 0 && st->st_uid != me) {
		snprintf(why, len, "%s belongs to uid %u: tendd writes only in "
		    "directories that only root can write", shown,
		    (unsigned)st->st_uid);
		return -1;
	}
	if ((st->st_mode & S_IWOTH) || ((st->st_mode & S_IWGRP) &&
	    st->st_gid != 0)) {
		if (!last && (st->st_mode & S_ISVTX) && st->st_uid == 0)
			return 0;	/* /tmp: nobody else renames our entries */
		snprintf(why, len, "%s is writable by %s (mode %04o): tendd "
		    "writes only in directories that only root can write",
		    shown, (st->st_mode & S_IWOTH) ? "every user" :
		    "its group", (unsigned)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

int
rootdir_open(const char *path, mode_t create, char *why, size_t len)
{
	char		 work[PATH_MAX], link[PATH_MAX], shown[PATH_MAX];
	char		 tail[PATH_MAX];
	char		*p, *name;
	struct stat	 st;
	unsigned	 links = 0;
	size_t		 sl;
	ssize_t		 n;
	int		 fd, nfd;

	if (path == NULL || path[0] != '/') {
		snprintf(why, len, "%s: not an absolute path", path ? path : "");
		return -1;
	}
	if (snprintf(work, sizeof(work), "%s", path) >= (int)sizeof(work)) {
		snprintf(why, len, "%.200s...: path too long", path);
		return -1;
	}
restart:
	if ((fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) != 0) {
		snprintf(why, len, "/: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	snprintf(shown, sizeof(shown), "/");
	p = work;
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		name = p;
		while (*p != '\0' && *p != '/')
			p++;
		if (*p == '/')
			*p++ = '\0';
		/* The directory we are in must be root's before we trust
		 * what it says the next name is. */
		if (trusted(&st, shown, 0, why, len) != 0)
			goto bad;
		sl = strlen(shown);
		if (snprintf(shown + sl, sizeof(shown) - sl, "%s%s",
		    sl > 1 ? "/" : "", name) >= (int)(sizeof(shown) - sl))
			goto toolong;
		if (strcmp(name, ".") == 0)
			continue;
		nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd == -1 && errno == ENOENT && create) {
			if (mkdirat(fd, name, create) != 0 && errno != EEXIST) {
				snprintf(why, len, "cannot create %s: %s", shown,
				    strerror(errno));
				goto bad;
			}
			nfd = openat(fd, name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd == -1 && (errno == ELOOP || errno == ENOTDIR) &&
		    (n = readlinkat(fd, name, link, sizeof(link) - 1)) > 0) {
			/* A link in a root-only directory: root made it. */
			link[n] = '\0';
			if (++links > ROOTDIR_MAX_LINKS) {
				snprintf(why, len, "%s: too many symbolic links",
				    path);
				goto bad;
			}
			snprintf(tail, sizeof(tail), "%s", p);
			if (snprintf(work, sizeof(work), "%s%s%s", link,
			    *tail ? "/" : "", tail) >= (int)sizeof(work))
				goto toolong;
			if (link[0] == '/') {
				close(fd);
				goto restart;
			}
			/* Relative: on from the directory holding the link. */
			shown[sl] = '\0';
			p = work;
			continue;
		}
		if (nfd == -1) {
			snprintf(why, len, "%s: %s", shown, strerror(errno));
			goto bad;
		}
		close(fd);
		fd = nfd;
		if (fstat(fd, &st) != 0) {
			snprintf(why, len, "%s: %s", shown, strerror(errno));
			goto bad;
		}
	}
	if (trusted(&st, path, 1, why, len) != 0)
		goto bad;
	return fd;
toolong:
	snprintf(why, len, "%.200s...: path too long", path);
bad:
	close(fd);
	return -1;
}

int
rootdir_file(int dirfd, const char *name, int flags, mode_t mode)
{
	struct stat	st;
	int		fd;

	if (strchr(name, '/') != NULL || name[0] == '\0' ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		errno = EINVAL;
		return -1;
	}
	fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY, mode);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1) {
		/* A FIFO, a device, or a hard link to a file elsewhere. */
		close(fd);
		errno = !S_ISREG(st.st_mode) ? EINVAL : EMLINK;
		return -1;
	}
	return fd;
}
