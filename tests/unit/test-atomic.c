/* test-atomic.c: atomic_write_at and atomic_write, as an attacker and a
 * full disk would meet them. */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend.h"
#include "check.h"

static char	dir[64];
static int	dfd = -1;

static void
fresh(void)
{
	char	cmd[128];

	if (dfd != -1)
		close(dfd);
	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", dir);
	}
	snprintf(dir, sizeof(dir), "/tmp/tend-atomic-XXXXXX");
	if (mkdtemp(dir) == NULL)
		dir[0] = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void
put(const char *name, const char *text)
{
	char	path[256];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

/* The whole file, or "" (a static buffer). */
static const char *
slurp(const char *name)
{
	static char	buf[4096];
	char		path[256];
	size_t		n = 0;
	FILE		*f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/* Entries of the directory other than . and .. */
static int
entries(void)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_new_file(void)
{
	struct stat	st;

	fresh();
	umask(022);
	CHECK(atomic_write_at(dfd, "a.json", "hello\n", 6, 0640) == 0);
	CHECK(strcmp(slurp("a.json"), "hello\n") == 0);
	CHECK(fstatat(dfd, "a.json", &st, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0640);
	CHECK(entries() == 1);		/* no temporary file left */
	/* Empty is a content too. */
	CHECK(atomic_write_at(dfd, "empty", "", 0, 0600) == 0);
	CHECK(fstatat(dfd, "empty", &st, 0) == 0 && st.st_size == 0);
	CHECK(entries() == 2);
	/* The mode asked for, whatever the umask. */
	umask(077);
	CHECK(atomic_write_at(dfd, "nginx.conf", "x", 1, 0644) == 0);
	CHECK(fstatat(dfd, "nginx.conf", &st, 0) == 0 &&
	    (st.st_mode & 07777) == 0644);
	umask(022);
}

static void
test_over_existing(void)
{
	struct stat	before, after;
	char		big[3000];

	fresh();
	put("a.json", "old old old old\n");
	CHECK(fstatat(dfd, "a.json", &before, 0) == 0);
	CHECK(atomic_write_at(dfd, "a.json", "new\n", 4, 0640) == 0);
	CHECK(strcmp(slurp("a.json"), "new\n") == 0);
	CHECK(fstatat(dfd, "a.json", &after, 0) == 0);
	CHECK(before.st_ino != after.st_ino);	/* replaced, not rewritten */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(atomic_write_at(dfd, "a.json", big, strlen(big), 0640) == 0);
	CHECK(strcmp(slurp("a.json"), big) == 0);
	CHECK(entries() == 1);
}

/* The attacker's symbolic link at the name is replaced; the file it
 * points at keeps its content. */
static void
test_symlink_replaced(void)
{
	struct stat	st;
	char		victim[128];

	fresh();
	put("victim", "precious\n");
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	CHECK(symlinkat(victim, dfd, "a.json") == 0);
	CHECK(atomic_write_at(dfd, "a.json", "mine\n", 5, 0640) == 0);
	CHECK(strcmp(slurp("victim"), "precious\n") == 0);
	CHECK(fstatat(dfd, "a.json", &st, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK(strcmp(slurp("a.json"), "mine\n") == 0);
	CHECK(entries() == 2);
	/* A dangling one likewise: nothing is created where it points. */
	CHECK(symlinkat("/tmp/tend-atomic-nowhere", dfd, "b.json") == 0);
	CHECK(atomic_write_at(dfd, "b.json", "b\n", 2, 0640) == 0);
	CHECK(access("/tmp/tend-atomic-nowhere", F_OK) != 0);
	CHECK(fstatat(dfd, "b.json", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode));
	CHECK(entries() == 3);
}

/* A rename that fails (a directory in the way) removes the temporary
 * file and says why. */
static void
test_rename_fails(void)
{
	fresh();
	CHECK(mkdirat(dfd, "a.json", 0755) == 0);
	put("a.json/inside", "x");
	errno = 0;
	CHECK(atomic_write_at(dfd, "a.json", "new\n", 4, 0640) == -1);
	CHECK(errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST);
	CHECK(entries() == 1);
	CHECK(strcmp(slurp("a.json/inside"), "x") == 0);
}

/* A write that fails midway (the disk full, here a file size limit)
 * leaves the old file as it was and no temporary file. */
static void
test_write_fails(void)
{
	struct rlimit	old, small;
	char		big[8192];

	fresh();
	put("a.json", "old\n");
	memset(big, 'y', sizeof(big));
	signal(SIGXFSZ, SIG_IGN);
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	small = old;
	small.rlim_cur = 1024;
	CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
	errno = 0;
	CHECK(atomic_write_at(dfd, "a.json", big, sizeof(big), 0640) == -1);
	CHECK(errno == EFBIG);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	CHECK(strcmp(slurp("a.json"), "old\n") == 0);
	CHECK(entries() == 1);
}

static void
test_bad_names(void)
{
	fresh();
	errno = 0;
	CHECK(atomic_write_at(dfd, "a/b", "x", 1, 0640) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(atomic_write_at(dfd, "", "x", 1, 0640) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(atomic_write_at(dfd, "..", "x", 1, 0640) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(atomic_write_at(-1, "a", "x", 1, 0640) == -1 && errno == EBADF);
	CHECK(entries() == 0);
}

static void
test_path(void)
{
	char	path[256], link[256], cwd[1024];

	fresh();
	snprintf(path, sizeof(path), "%s/p.conf", dir);
	CHECK(atomic_write(path, "p\n", 2, 0644) == 0);
	CHECK(strcmp(slurp("p.conf"), "p\n") == 0);
	/* A missing directory is an error, not a creation. */
	snprintf(path, sizeof(path), "%s/no/p.conf", dir);
	CHECK(atomic_write(path, "p\n", 2, 0644) == -1 && errno == ENOENT);
	/* The directory itself is not followed when it is a link. */
	CHECK(mkdirat(dfd, "real", 0755) == 0);
	snprintf(link, sizeof(link), "%s/real", dir);
	CHECK(symlinkat(link, dfd, "alias") == 0);
	snprintf(path, sizeof(path), "%s/alias/p.conf", dir);
	errno = 0;
	CHECK(atomic_write(path, "p\n", 2, 0644) == -1);
	CHECK(errno == ENOTDIR || errno == ELOOP);
	CHECK(strcmp(slurp("real/p.conf"), "") == 0);
	/* A bare name is in the current directory. */
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(chdir(dir) == 0);
	CHECK(atomic_write("here", "h\n", 2, 0644) == 0);
	CHECK(atomic_write_at(AT_FDCWD, "there", "t\n", 2, 0644) == 0);
	CHECK(chdir(cwd) == 0);
	CHECK(strcmp(slurp("here"), "h\n") == 0);
	CHECK(strcmp(slurp("there"), "t\n") == 0);
	CHECK(entries() == 5);
}

int
main(void)
{
	char	cmd[128];

	RUN(test_new_file);
	RUN(test_over_existing);
	RUN(test_symlink_replaced);
	RUN(test_rename_fails);
	RUN(test_write_fails);
	RUN(test_bad_names);
	RUN(test_path);
	if (dfd != -1)
		close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (dir[0] != '\0' && system(cmd) != 0)
		printf("# cannot remove %s\n", dir);
	return check_failed();
}
