/*
 * release.c: the app's tree, dir/{repo,releases,shared,current}, worked on
 * only by processes running as the app's user and group.
 *
 * That tree is the app user's: its own code (the build, the app, the
 * migrations) writes there, and it may put a symbolic link or a FIFO
 * anywhere in it.  So tendd, root, never creates, links, renames, chowns
 * or removes anything inside it (rootdir.c says where root may write);
 * every step here is a job (job.c) run as the user, who then can only do
 * to the tree what the kernel lets that user do: a planted link aims the
 * user's own git, ln or rm at the user's own files.  The one exception is
 * dir itself when it does not exist yet: root makes it in a parent that
 * only root can write, through that parent's descriptor, and gives it to
 * the user.
 *
 * Small shell scripts do the multi-step work; their text is fixed here and
 * every value (a path, an entry of `shared`) reaches them as a positional
 * argument, never inside the script.
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

#include "tendd.h"

/* git's own steps (fetch, clone) get this long; the small ones less. */
#define RELEASE_GIT_MS		(10 * 60 * 1000)
#define RELEASE_STEP_MS		(2 * 60 * 1000)

/* $1 dir, $2 repo: the mirror, cloned the first time, fetched after. */
static const char fetch_sh[] =
    "set -e\n"
    "mkdir -p -- \"$1/repo\" \"$1/releases\"\n"
    "if [ -f \"$1/repo/HEAD\" ]; then\n"
    "\techo \"fetching into $1/repo\"\n"
    "\texec git --git-dir \"$1/repo\" fetch --quiet --prune --force origin\n"
    "fi\n"
    "echo \"cloning into $1/repo\"\n"
    "exec git clone --quiet --mirror -- \"$2\" \"$1/repo\"\n";

/* $1 dir/shared, $2 where the links go, $3 the dir that must exist after,
 * then the entries. */
static const char link_sh[] =
    "set -e\n"
    "shared=$1 into=$2 need=$3\n"
    "shift 3\n"
    "for e in \"$@\"; do\n"
    "\tif [ ! -e \"$shared/$e\" ]; then\n"
    "\t\techo \"shared entry $shared/$e: missing (create it, a file or"
    " a folder, before deploying)\" >&2\n"
    "\t\texit 1\n"
    "\tfi\n"
    "\tcase $e in */*) mkdir -p -- \"$into/${e%/*}\" ;; esac\n"
    "\trm -rf -- \"$into/$e\"\n"
    "\tln -s -- \"$shared/$e\" \"$into/$e\"\n"
    "done\n"
    "if [ ! -d \"$need\" ]; then\n"
    "\techo \"start_dir $need is not in the release after the build\" >&2\n"
    "\texit 1\n"
    "fi\n";

/* $1 dir, $2 the release: current points at it, switched atomically. */
static const char current_sh[] =
    "set -e\n"
    "rm -f -- \"$1/.current.tend\"\n"
    "ln -s -- \"$2\" \"$1/.current.tend\"\n"
    "exec mv -Tf -- \"$1/.current.tend\" \"$1/current\"\n";

/*
 * The build runs inside this wrapper, $1 its text, so that it may call
 * tend_deps DIR COMMAND [ARG...]: in DIR, install dependencies with
 * COMMAND (npm ci, npm install...) unless the live release's DIR holds
 * node_modules installed for the same inputs, which it then copies.
 *
 * The inputs: `node --version`, COMMAND itself and the sha256 of
 * package.json and every lockfile as they were before COMMAND ran (npm
 * install rewrites its lockfile), kept in node_modules/.tend-deps after
 * an install (npm leaves dot files in node_modules alone).  The copy is
 * cp -a --reflink=auto: a tree of its own, the user's (this runs as the
 * user), never a hard link into the live release that one release's
 * postinstall or cache could write through.  A copy that fails is
 * removed and COMMAND runs as usual.  TEND_DEPS_FROM (the live release)
 * is non-empty only when reuse_dependencies is on; without it tend_deps
 * is COMMAND plus a line saying how long it took.
 */
static const char build_sh[] =
    "tend_deps() (\n"
    "\tif [ $# -lt 2 ]; then\n"
    "\t\techo 'usage: tend_deps DIR COMMAND [ARG...]' >&2\n"
    "\t\texit 2\n"
    "\tfi\n"
    "\tcd -- \"$1\" || exit 1\n"
    "\tshift\n"
    "\there=$(pwd -P) || exit 1\n"
    "\tt0=$(date +%s%3N)\n"
    /* Before COMMAND runs: npm install rewrites the lockfile. */
    "\tkey=$(echo \"node $(node --version 2>/dev/null); $*\"\n"
    "\t\tfor f in package.json package-lock.json npm-shrinkwrap.json \\\n"
    "\t\t    yarn.lock pnpm-lock.yaml; do\n"
    "\t\t\tif [ -e \"$f\" ]; then sha256sum -- \"$f\"; fi\n"
    "\t\tdone) || exit 1\n"
    "\tfrom=\n"
    "\tif [ -n \"${TEND_DEPS_FROM-}\" ] && [ ! -e node_modules ] &&\n"
    "\t    [ ! -L node_modules ] &&\n"
    "\t    top=$(cd -- \"$TEND_RELEASE\" && pwd -P); then\n"
    "\t\tcase $here/ in\n"
    "\t\t\"$top\"/*) from=$TEND_DEPS_FROM${here#\"$top\"} ;;\n"
    "\t\tesac\n"
    "\tfi\n"
    "\tif [ -n \"$from\" ]; then\n"
    "\t\thad=\n"
    "\t\tif [ -d \"$from/node_modules\" ] &&\n"
    "\t\t    [ ! -L \"$from/node_modules\" ]; then\n"
    "\t\t\thad=$(cat -- \"$from/node_modules/.tend-deps\" 2>/dev/null)\n"
    "\t\tfi\n"
    "\t\tif [ -n \"$had\" ] && [ \"$had\" = \"$key\" ]; then\n"
    "\t\t\tif cp -a --reflink=auto -- \"$from/node_modules\" node_modules\n"
    "\t\t\tthen\n"
    "\t\t\t\techo \"tend_deps $here: node_modules copied from" \
    " $from in $(( $(date +%s%3N) - t0 )) ms (same package.json," \
    " lockfile, node and command); skipped: $*\"\n"
    "\t\t\t\texit 0\n"
    "\t\t\tfi\n"
    "\t\t\techo \"tend_deps $here: copy from $from failed;" \
    " installing\" >&2\n"
    "\t\t\trm -rf -- node_modules\n"
    "\t\telif [ -z \"$had\" ]; then\n"
    "\t\t\techo \"tend_deps $here: nothing installed by tend_deps in" \
    " $from; installing\"\n"
    "\t\telif [ \"$(echo \"$had\" | head -n 1)\" = \\\n"
    "\t\t    \"$(echo \"$key\" | head -n 1)\" ]; then\n"
    "\t\t\techo \"tend_deps $here: package.json or lockfile changed;" \
    " installing\"\n"
    "\t\telse\n"
    "\t\t\techo \"tend_deps $here: node or the command changed;" \
    " installing\"\n"
    "\t\tfi\n"
    "\tfi\n"
    "\t\"$@\" || exit\n"
    "\tif [ -d node_modules ] && [ ! -L node_modules ]; then\n"
    "\t\tprintf '%s\\n' \"$key\" > node_modules/.tend-deps || exit\n"
    "\tfi\n"
    "\techo \"tend_deps $here: installed in" \
    " $(( $(date +%s%3N) - t0 )) ms: $*\"\n"
    ")\n"
    "eval \"$1\"\n";

/* The environment of git and the tree's small steps: no app secrets,
 * never a prompt; tend's markers so a later tendd finds leftovers. */
static int
tree_env(struct app *app, struct env *e)
{
	const char	*v = getenv("PATH");
	int		 r = 0;

	env_init(e);
	r |= env_set(e, "PATH", v != NULL && *v ? v : appenv_default_path);
	v = getenv("HOME");
	r |= env_set(e, "HOME", app->home != NULL ? app->home :
	    v != NULL && *v ? v : "/");
	r |= env_set(e, "LANG", "C.UTF-8");
	r |= env_set(e, "GIT_TERMINAL_PROMPT", "0");
	r |= env_set(e, "TEND_SUPERVISOR", app->t->conf->socket);
	r |= env_set(e, "TEND_APP", app->name);
	return r;
}

/* Run argv as the app's user; env NULL: tree_env(). */
static struct job *
run(struct app *app, const char *stream, char *const *argv, const char *cwd,
    struct env *env, uint64_t timeout, const struct release_cb *cb,
    char *why, size_t len)
{
	struct job_spec	 js;
	struct job	*j;
	struct env	 e;

	if (!app->ids_ok && appenv_ids(app, why, len) != 0)
		return NULL;
	if (env == NULL && tree_env(app, &e) != 0) {
		env_free(&e);
		snprintf(why, len, "out of memory");
		return NULL;
	}
	memset(&js, 0, sizeof(js));
	js.stream = stream;
	js.argv = argv;
	js.cwd = cwd;
	js.env = env != NULL ? env->kv : e.kv;
	js.user = app->ca->user;
	js.group = app->ca->group;
	js.timeout_ms = timeout;
	js.kill_timeout = app->ca->kill_timeout;
	j = job_start(app, &js, cb ? cb->done : NULL, cb ? cb->line : NULL,
	    cb ? cb->arg : NULL, why, len);
	if (env == NULL)
		env_free(&e);
	return j;
}

/* Append "/" and rel to path; -1 when it does not fit. */
static int
strlcat_ok(char *path, size_t size, const char *rel)
{
	size_t	n = strlen(path);
	int	w;

	w = snprintf(path + n, size - n, "/%s", rel);
	return w < 0 || (size_t)w >= size - n ? -1 : 0;
}

/* dir/name into buf; -1 when it does not fit. */
static int
tree_path(const struct app *app, char *buf, size_t len, const char *a,
    const char *b)
{
	int	n;

	n = snprintf(buf, len, "%s/%s%s%s", app->ca->dir, a, b ? "/" : "",
	    b ? b : "");
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * dir must exist before anything runs as the user there.  When it does
 * not, and its parent is root's (/srv), root makes it and gives it to the
 * user, through the parent's descriptor.
 */
int
release_make_dir(struct app *app, char *why, size_t len)
{
	const char	*dir = app->ca->dir, *slash = strrchr(dir, '/');
	char		 parent[PATH_MAX];
	struct stat	 st;
	int		 pfd, fd;

	if (!app->ids_ok && appenv_ids(app, why, len) != 0)
		return -1;
	if (slash == NULL || slash[1] == '\0') {
		snprintf(why, len, "dir %s: not an absolute path", dir);
		return -1;
	}
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - dir), dir);
	if (parent[0] == '\0')
		snprintf(parent, sizeof(parent), "/");
	/* As the user: does the user see it?  Then it is theirs to use. */
	if (appenv_fs_begin(app) == 0) {
		int r = stat(dir, &st);

		appenv_fs_end(app);
		if (r == 0)
			return 0;
	}
	if ((pfd = rootdir_open(parent, 0755, why, len)) == -1) {
		char w[400];

		snprintf(w, sizeof(w), "%s", why);
		snprintf(why, len, "dir %s does not exist and tend may not make "
		    "it (%s): create it, owned by the app's user", dir, w);
		return -1;
	}
	if (mkdirat(pfd, slash + 1, 0755) != 0 && errno != EEXIST) {
		snprintf(why, len, "cannot create %s: %s", dir, strerror(errno));
		close(pfd);
		return -1;
	}
	fd = openat(pfd, slash + 1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	close(pfd);
	if (fd == -1 || fstat(fd, &st) != 0) {
		snprintf(why, len, "%s: %s", dir, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	/* Only a directory root just made (or an empty one of root's). */
	if (st.st_uid == 0 && app->uid != 0 &&
	    fchown(fd, app->uid, app->gid) != 0) {
		snprintf(why, len, "cannot give %s to %s: %s", dir,
		    app->ca->user, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

struct job *
release_fetch(struct app *app, const struct release_cb *cb, char *why,
    size_t len)
{
	char	*argv[] = { "/bin/sh", "-c", (char *)fetch_sh, "tend-fetch",
		    app->ca->dir, app->ca->repo, NULL };

	return run(app, "git", argv, NULL, NULL, RELEASE_GIT_MS, cb, why, len);
}

struct job *
release_resolve(struct app *app, const char *ref, const struct release_cb *cb,
    char *why, size_t len)
{
	char	 mirror[PATH_MAX], spec[260];
	char	*argv[] = { "git", "--git-dir", mirror, "rev-parse", "--verify",
		    "--quiet", "--end-of-options", spec, NULL };

	if (tree_path(app, mirror, sizeof(mirror), "repo", NULL) != 0 ||
	    snprintf(spec, sizeof(spec), "%s^{commit}", ref) >=
	    (int)sizeof(spec)) {
		snprintf(why, len, "path too long");
		return NULL;
	}
	return run(app, "git", argv, NULL, NULL, RELEASE_GIT_MS, cb, why, len);
}

struct job *
release_clone(struct app *app, const char *id, const struct release_cb *cb,
    char *why, size_t len)
{
	char	 mirror[PATH_MAX], rel[PATH_MAX];
	char	*argv[] = { "git", "clone", "--quiet", "--no-checkout", "--",
		    mirror, rel, NULL };

	if (tree_path(app, mirror, sizeof(mirror), "repo", NULL) != 0 ||
	    tree_path(app, rel, sizeof(rel), "releases", id) != 0) {
		snprintf(why, len, "path too long");
		return NULL;
	}
	return run(app, "git", argv, NULL, NULL, RELEASE_GIT_MS, cb, why, len);
}

struct job *
release_checkout(struct app *app, const char *id, const char *sha,
    const struct release_cb *cb, char *why, size_t len)
{
	char	 rel[PATH_MAX];
	char	*argv[] = { "git", "-C", rel, "checkout", "--quiet", "--detach",
		    (char *)sha, NULL };

	if (tree_path(app, rel, sizeof(rel), "releases", id) != 0) {
		snprintf(why, len, "path too long");
		return NULL;
	}
	return run(app, "git", argv, NULL, NULL, RELEASE_GIT_MS, cb, why, len);
}

/* Link the shared entries into into, then check that need is a dir. */
struct job *
release_link(struct app *app, const char *into, const char *need,
    const struct release_cb *cb, char *why, size_t len)
{
	const struct conf_app	*ca = app->ca;
	char			 shared[PATH_MAX];
	char			*argv[SPAWN_MAX_ARGS + 1];
	size_t			 i, n = 0;

	if (tree_path(app, shared, sizeof(shared), "shared", NULL) != 0) {
		snprintf(why, len, "path too long");
		return NULL;
	}
	if (ca->shared.n > SPAWN_MAX_ARGS - 7) {
		snprintf(why, len, "too many shared entries");
		return NULL;
	}
	argv[n++] = "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = (char *)link_sh;
	argv[n++] = "tend-link";
	argv[n++] = shared;
	argv[n++] = (char *)into;
	argv[n++] = (char *)need;
	for (i = 0; i < ca->shared.n; i++)
		argv[n++] = ca->shared.v[i];
	argv[n] = NULL;
	return run(app, "link", argv, NULL, NULL, RELEASE_STEP_MS, cb, why, len);
}

/* The build, in the release, with the app's environment (env) and
 * build_sh's tend_deps; TEND_DEPS_FROM names the live release when its
 * dependencies may be reused. */
struct job *
release_build(struct app *app, const char *id, struct env *env,
    const struct release_cb *cb, char *why, size_t len)
{
	const struct deploy_rec	*live = history_live(&app->history);
	char			 rel[PATH_MAX];
	char			*argv[] = { "/bin/sh", "-c", (char *)build_sh,
				    "tend-build", app->ca->build, NULL };

	if (tree_path(app, rel, sizeof(rel), "releases", id) != 0) {
		snprintf(why, len, "path too long");
		return NULL;
	}
	/* Empty, not unset, when off: the app's env may not switch it on. */
	if (!app->ca->reuse_dependencies || live == NULL || live->dir == NULL ||
	    live->pruned || strcmp(live->dir, rel) == 0)
		live = NULL;
	if (env_set(env, "TEND_RELEASE", rel) != 0 ||
	    env_set(env, "TEND_DEPS_FROM", live != NULL ? live->dir : "") != 0) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	return run(app, "build", argv, rel, env, app->ca->build_timeout, cb,
	    why, len);
}

/* dir/current -> dir/releases/ID, for people and other tools: tend
 * itself never reads it (its history says which release is live). */
struct job *
release_point_current(struct app *app, const char *id,
    const struct release_cb *cb, char *why, size_t len)
{
	char	 rel[PATH_MAX];
	char	*argv[] = { "/bin/sh", "-c", (char *)current_sh, "tend-current",
		    app->ca->dir, rel, NULL };

	if (tree_path(app, rel, sizeof(rel), "releases", id) != 0) {
		snprintf(why, len, "path too long");
		return NULL;
	}
	return run(app, "link", argv, NULL, NULL, RELEASE_STEP_MS, cb, why, len);
}

/* Remove releases (ids checked by the caller) as the user; nobody waits
 * for it, and a failure is only logged (by the job, in the app's log). */
int
release_remove(struct app *app, char *const *ids, size_t n)
{
	char	*argv[SPAWN_MAX_ARGS + 1], why[512];
	char	 paths[SPAWN_MAX_ARGS][PATH_MAX];
	size_t	 i, k = 0;

	argv[k++] = "rm";
	argv[k++] = "-rf";
	argv[k++] = "--";
	for (i = 0; i < n && k < SPAWN_MAX_ARGS; i++) {
		if (!valid_release_id(ids[i]) ||
		    tree_path(app, paths[i], sizeof(paths[i]), "releases",
		    ids[i]) != 0)
			continue;
		argv[k++] = paths[i];
	}
	if (k == 3)
		return 0;
	argv[k] = NULL;
	if (run(app, "prune", argv, NULL, NULL, RELEASE_STEP_MS, NULL, why,
	    sizeof(why)) == NULL) {
		log_warnx("%s: cannot remove releases: %s", app->name, why);
		return -1;
	}
	return 0;
}

/* Is REL (relative to the release) a regular file, as the app's user
 * sees it?  The job exits 1 when it is not. */
struct job *
release_test_file(struct app *app, const char *id, const char *rel,
    const struct release_cb *cb, char *why, size_t len)
{
	char	 path[PATH_MAX];
	char	*argv[] = { "test", "-f", path, NULL };

	if (tree_path(app, path, sizeof(path), "releases", id) != 0 ||
	    strlcat_ok(path, sizeof(path), rel) != 0) {
		snprintf(why, len, "path too long");
		return NULL;
	}
	return run(app, "check", argv, NULL, NULL, RELEASE_STEP_MS, cb, why,
	    len);
}
