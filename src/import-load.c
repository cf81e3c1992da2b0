/*
 * import-load.c: what tendctl import reads, as one jansson value: a JSON
 * file (dump.pm2 too), a YAML file through libyaml, or a JavaScript file
 * evaluated by node in a child process (as the caller; root runs it as
 * the file's owner when that is not root), bounded in size and time.
 */
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <yaml.h>

#include "tend.h"
#include "import.h"

/* An ecosystem file or dump larger than this is not one. */
#define IMPORT_MAX_FILE		(16 * 1024 * 1024)
/* What node may print of an ecosystem file's apps, and of its errors. */
#define IMPORT_MAX_JSON		(16 * 1024 * 1024)
#define IMPORT_MAX_STDERR	2048
/* YAML aliases can make a small file a huge tree: stop at this many nodes. */
#define IMPORT_MAX_NODES	100000
#define IMPORT_MAX_DEPTH	64

/* node's side: load the file (CommonJS or ES module; with "expr", a .json
 * file as PM2 reads one: a JavaScript expression, so comments and
 * trailing commas pass) and print it as JSON. */
static const char node_loader[] =
    "const f = process.argv[1];"
    "const p = process.argv[2] === 'expr' ?"
    "  Promise.resolve().then(() => require('vm').runInThisContext("
    "      '(' + require('fs').readFileSync(f, 'utf8') + ')',"
    "      { filename: f })) :"
    "  import(require('url').pathToFileURL(f).href).then("
    "      (m) => m.default !== undefined ? m.default : m);"
    "p.then((c) => {"
    "  const s = JSON.stringify(c === undefined ? null : c);"
    "  process.stdout.write(s === undefined ? 'null' : s,"
    "      () => process.exit(0));"
    "}, (e) => {"
    "  process.stderr.write(String(e && e.stack || e) + '\\n');"
    "  process.exit(1);"
    "});";

/* Control characters of s (C0, DEL, and C1 as UTF-8 spells them) become
 * '?': what an ecosystem file or node says reaches a terminal, or a line
 * of tend.conf, as text and never as an escape sequence or a new line.
 * A newline that ends s stays when keep_nl. */
void
import_clean(char *s, int keep_nl)
{
	unsigned char	*p = (unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p == '\n' && keep_nl && p[1] == '\0')
			break;
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			p[0] = '?';
			memmove(p + 1, p + 2, strlen((char *)p + 2) + 1);
		}
	}
}

void
import_die(const char *file, const char *fmt, ...)
{
	va_list	ap;
	char	*msg, *f;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if ((f = strdup(file)) != NULL)
		import_clean(f, 0);
	if (msg != NULL)
		import_clean(msg, 0);
	fprintf(stderr, "tendctl: %s: %s\n", f != NULL ? f : file,
	    msg != NULL ? msg : "out of memory");
	exit(1);
}

/* --- reading the file ---------------------------------------------------- */

static char *
read_file(struct import_src *im, size_t *lenp)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 r;
	int	 fd;

	if ((fd = open(im->file, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		import_die(im->file, "%s", strerror(errno));
	if (fstat(fd, &im->st) != 0)
		import_die(im->file, "%s", strerror(errno));
	if (!S_ISREG(im->st.st_mode))
		import_die(im->file, "not a regular file");
	if (im->st.st_size > IMPORT_MAX_FILE)
		import_die(im->file, "larger than %d MiB: not a PM2 file",
		    IMPORT_MAX_FILE >> 20);
	if ((buf = malloc((size_t)im->st.st_size + 1)) == NULL)
		import_die(im->file, "out of memory");
	while (len < (size_t)im->st.st_size) {
		r = read(fd, buf + len, (size_t)im->st.st_size - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			import_die(im->file, "%s", strerror(errno));
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

static json_t	*load_js(struct import_src *, const char *jsonwhy);

static json_t *
load_json(struct import_src *im)
{
	json_error_t	 err;
	json_t		*v;
	size_t		 len;
	char		*buf = read_file(im, &len);

	const char	*base = strrchr(im->file, '/');
	char		 why[256];

	base = base != NULL ? base + 1 : im->file;
	if ((v = json_loadb(buf, len, 0, &err)) == NULL) {
		snprintf(why, sizeof(why), "line %d: %s", err.line, err.text);
		/* PM2 reads an ecosystem .json as JavaScript: so do we, by
		 * node, when jansson says it is not JSON.  A dump is JSON. */
		if (strstr(base, ".json") == NULL ||
		    strstr(base, "dump.pm2") != NULL)
			import_die(im->file, "%s", why);
		free(buf);
		return load_js(im, why);
	}
	free(buf);
	return v;
}

/* --- YAML through libyaml ------------------------------------------------- */

struct ywalk {
	yaml_document_t	*doc;
	size_t		 nodes;
	size_t		 bytes;		/* of scalars, aliases expanded */
	const char	*why;
};

/* A plain scalar as PM2's js-yaml 4 reads it (YAML 1.2's core schema):
 * null, true/false (not yes/no), decimal integers, else a string. */
static json_t *
yaml_scalar(yaml_node_t *n)
{
	const char	*s = (const char *)n->data.scalar.value;
	size_t		 len = n->data.scalar.length;
	char		*end;
	long long	 ll;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(s, len);
	if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
		return json_null();
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
	    strcmp(s, "TRUE") == 0)
		return json_true();
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 ||
	    strcmp(s, "FALSE") == 0)
		return json_false();
	if ((isdigit((unsigned char)s[0]) || (s[0] == '-' && len > 1)) &&
	    strlen(s) == len) {
		errno = 0;
		ll = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0')
			return json_integer(ll);
	}
	return json_stringn(s, len);
}

static json_t *
yaml_to_json(struct ywalk *w, yaml_node_t *n, int depth)
{
	yaml_node_item_t	*it;
	yaml_node_pair_t	*p;
	yaml_node_t		*k, *v;
	json_t			*o, *c, *merge = NULL;
	size_t			 i;

	if (n == NULL) {
		w->why = "a reference to nothing";
		return NULL;
	}
	if (++w->nodes > IMPORT_MAX_NODES || depth > IMPORT_MAX_DEPTH) {
		w->why = "too many nodes or too deep (aliases?)";
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		/* An alias of a long string, many times over, is a small
		 * file and a huge tree: count what the copies would take. */
		if ((w->bytes += n->data.scalar.length) > IMPORT_MAX_JSON) {
			w->why = "too large once its aliases are expanded "
			    "(more than 16 MiB of text)";
			return NULL;
		}
		return yaml_scalar(n);
	case YAML_SEQUENCE_NODE:
		if ((o = json_array()) == NULL)
			return NULL;
		for (it = n->data.sequence.items.start;
		    it < n->data.sequence.items.top; it++) {
			c = yaml_to_json(w, yaml_document_get_node(w->doc, *it),
			    depth + 1);
			if (c == NULL || json_array_append_new(o, c) != 0) {
				json_decref(o);
				return NULL;
			}
		}
		return o;
	case YAML_MAPPING_NODE:
		if ((o = json_object()) == NULL || (merge = json_array()) == NULL) {
			json_decref(o);
			return NULL;
		}
		for (p = n->data.mapping.pairs.start;
		    p < n->data.mapping.pairs.top; p++) {
			k = yaml_document_get_node(w->doc, p->key);
			v = yaml_document_get_node(w->doc, p->value);
			if (k == NULL || k->type != YAML_SCALAR_NODE) {
				w->why = "a mapping key that is not a scalar";
				goto bad;
			}
			if ((w->bytes += k->data.scalar.length) >
			    IMPORT_MAX_JSON) {
				w->why = "too large once its aliases are "
				    "expanded (more than 16 MiB of text)";
				goto bad;
			}
			c = yaml_to_json(w, v, depth + 1);
			/* "<<: *defaults" (js-yaml merges it): keys of the
			 * mapping itself win, then earlier merged ones. */
			if (c != NULL && k->data.scalar.style ==
			    YAML_PLAIN_SCALAR_STYLE && strcmp((const char *)
			    k->data.scalar.value, "<<") == 0) {
				if (json_is_object(c))
					c = json_pack("[o]", c);
				if (!json_is_array(c) ||
				    json_array_extend(merge, c) != 0) {
					json_decref(c);
					w->why = "<< merges a mapping or a list "
					    "of mappings";
					goto bad;
				}
				json_decref(c);
				continue;
			}
			if (c == NULL || json_object_set_new(o,
			    (const char *)k->data.scalar.value, c) != 0)
				goto bad;
		}
		json_array_foreach(merge, i, c)
			if (!json_is_object(c) ||
			    json_object_update_missing(o, c) != 0) {
				w->why = "<< merges a mapping or a list of "
				    "mappings";
				goto bad;
			}
		json_decref(merge);
		return o;
	bad:
		json_decref(o);
		json_decref(merge);
		return NULL;
	default:
		w->why = "an empty node";
		return NULL;
	}
}

/* libyaml's scanner takes time in the square of the nesting: a file of
 * nothing but "[" (8 MB of them) keeps it busy for many minutes before
 * the walk below could refuse the depth.  So the events come first,
 * stopping at the depth the walk allows, then the document is loaded. */
static void
yaml_depth_check(struct import_src *im, const char *buf, size_t len)
{
	yaml_parser_t	parser;
	yaml_event_t	ev;
	int		depth = 0, done = 0;

	if (!yaml_parser_initialize(&parser))
		import_die(im->file, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev))
			break;		/* the loader says why, with the line */
		switch (ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > IMPORT_MAX_DEPTH)
				import_die(im->file, "line %zu: nested more "
				    "than %d deep", ev.start_mark.line + 1,
				    IMPORT_MAX_DEPTH);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
}

static json_t *
load_yaml(struct import_src *im)
{
	yaml_parser_t	 parser;
	yaml_document_t	 doc;
	struct ywalk	 w;
	json_t		*v;
	size_t		 len;
	char		*buf = read_file(im, &len);

	yaml_depth_check(im, buf, len);
	if (!yaml_parser_initialize(&parser))
		import_die(im->file, "out of memory");
	yaml_parser_set_input_string(&parser, (unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc))
		import_die(im->file, "line %zu: %s", parser.problem_mark.line + 1,
		    parser.problem != NULL ? parser.problem : "bad YAML");
	memset(&w, 0, sizeof(w));
	w.doc = &doc;
	if (yaml_document_get_root_node(&doc) == NULL)
		import_die(im->file, "empty YAML document");
	if ((v = yaml_to_json(&w, yaml_document_get_root_node(&doc), 0)) == NULL)
		import_die(im->file, "%s", w.why != NULL ? w.why : "out of memory");
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	free(buf);
	return v;
}

/* --- JavaScript through node ---------------------------------------------- */

/* Root evaluates a file someone else owns as that someone: their code,
 * their privileges.  The same for a root-owned file below a directory a
 * user owns: node looks for what it require()s or imports in
 * node_modules of every directory above the file, so their code would
 * run too; the nearest such owner is the one.  A file whose directory
 * others may write is refused, and so is a root-owned file below a
 * directory anyone may write (sticky or not: /tmp/node_modules is
 * anyone's).  Returns the passwd entry to run node as, or NULL (as the
 * caller). */
static struct passwd *
node_identity(struct import_src *im, const char *abs)
{
	struct passwd	*pw;
	struct stat	 dst;
	char		*d, *slash;
	uid_t		 uid = im->st.st_uid;
	int		 first = 1;

	if (geteuid() != 0)
		return NULL;
	if ((d = strdup(abs)) == NULL)
		import_die(im->file, "out of memory");
	for (;;) {
		/* abs is realpath()'s: "/a/b/file", no "." or "//". */
		if ((slash = strrchr(d, '/')) == NULL)
			break;
		if (slash == d)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(d, &dst) != 0)
			import_die(im->file, "%s: %s", d, strerror(errno));
		if (first && dst.st_mode & (S_IWGRP | S_IWOTH) &&
		    !(dst.st_mode & S_ISVTX))
			import_die(im->file, "its directory may be written by "
			    "others: run tendctl import as the file's owner, "
			    "not root");
		first = 0;
		if (uid == 0)
			uid = dst.st_uid;
		if (uid != 0)
			break;
		if (dst.st_mode & S_IWOTH ||
		    (dst.st_mode & S_IWGRP && dst.st_gid != 0))
			import_die(im->file, "%s: may be written by others, and "
			    "node looks for modules there: root does not "
			    "evaluate a file below it (chown the file to the "
			    "app's user, or move it)", d);
		if (strcmp(d, "/") == 0)
			break;
	}
	free(d);
	if (uid == 0) {
		fprintf(stderr, "tendctl: %s: evaluated by node as root, "
		    "with root's privileges (it and every directory above "
		    "it are root's)\n", im->file);
		return NULL;
	}
	if ((pw = getpwuid(uid)) == NULL)
		import_die(im->file, "its owner, uid %u, has no passwd entry: "
		    "run tendctl import as the owner", (unsigned)uid);
	fprintf(stderr, "tendctl: %s: evaluated by node as %s, %s, not "
	    "root\n", im->file, pw->pw_name, uid == im->st.st_uid ?
	    "its owner" : "the owner of a directory above it");
	return pw;
}

/* Close every descriptor from 3 up but keep (one by one on a kernel
 * older than close_range(), 5.9). */
static int
close_others(int keep)
{
	long	max, fd;

	if ((keep <= 3 || close_range(3, (unsigned)keep - 1, 0) == 0) &&
	    close_range((unsigned)keep + 1, ~0U, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	if ((max = sysconf(_SC_OPEN_MAX)) < 0 || max > 1048576)
		max = 1048576;
	for (fd = 3; fd < max; fd++)
		if (fd != keep)
			(void)close((int)fd);
	return 0;
}

/* The child: node, as pw when root hands the file to its owner.  Then it
 * gets nothing of root's: a session of its own (no controlling terminal
 * to open as /dev/tty and push keystrokes into), no descriptor but its
 * pipes, the user's groups and ids, an environment of PATH, HOME, USER,
 * LOGNAME and LANG only, and the file's directory to start in. */
static void __attribute__((noreturn))
node_child(const char *abs, int expr, struct passwd *pw, int out, int errfd,
    int report, pid_t parent)
{
	const char	*path = getenv("PATH"), *lang = getenv("LANG");
	char		*pathc = NULL, *langc = NULL, *dir = NULL;
	int		 e, devnull;

	if (setsid() == -1)
		goto bad;
	if ((devnull = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(devnull, 0) == -1 || dup2(out, 1) == -1 || dup2(errfd, 2) == -1 ||
	    close_others(report) != 0)
		goto bad;
	if (pw != NULL) {
		if ((path != NULL && (pathc = strdup(path)) == NULL) ||
		    (lang != NULL && (langc = strdup(lang)) == NULL) ||
		    (dir = strdup(abs)) == NULL)
			goto bad;
		if (initgroups(pw->pw_name, pw->pw_gid) != 0 ||
		    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0 ||
		    setuid(0) == 0 || clearenv() != 0 ||
		    setenv("PATH", pathc != NULL ? pathc :
		    "/usr/local/bin:/usr/bin:/bin", 1) != 0 ||
		    (langc != NULL && setenv("LANG", langc, 1) != 0) ||
		    setenv("HOME", pw->pw_dir, 1) != 0 ||
		    setenv("USER", pw->pw_name, 1) != 0 ||
		    setenv("LOGNAME", pw->pw_name, 1) != 0)
			goto bad;
		if (chdir(dirname(dir)) != 0 && chdir("/") != 0)
			goto bad;
	}
	/* tendctl killed (^C reaches its process group, not this
	 * session): node dies too, or it would run on past any timeout.
	 * After setuid(), which clears it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 ||
	    (parent != 0 && getppid() != parent))
		goto bad;
	execlp("node", "node", "-e", node_loader, abs, expr ? "expr" : "module",
	    (char *)NULL);
bad:
	e = errno != 0 ? errno : EPERM;
	(void)!write(report, &e, sizeof(e));
	_exit(127);
}

/* Keep the last IMPORT_MAX_STDERR bytes of node's stderr: its last lines
 * say why it failed. */
static void
keep_tail(char *buf, size_t *len, const char *p, size_t n)
{
	size_t	drop;

	if (n >= IMPORT_MAX_STDERR) {
		memcpy(buf, p + n - IMPORT_MAX_STDERR, IMPORT_MAX_STDERR);
		*len = IMPORT_MAX_STDERR;
		return;
	}
	if (*len + n > IMPORT_MAX_STDERR) {
		drop = *len + n - IMPORT_MAX_STDERR;
		memmove(buf, buf + drop, *len - drop);
		*len -= drop;
	}
	memcpy(buf + *len, p, n);
	*len += n;
}

/* A failure of node's: with jsonwhy, jansson's reason comes first. */
static void __attribute__((noreturn, format(printf, 3, 4)))
js_die(const struct import_src *im, const char *jsonwhy, const char *fmt, ...)
{
	va_list	ap;
	char	msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (jsonwhy != NULL)
		import_die(im->file, "%s; nor is it JavaScript, as PM2 also "
		    "reads .json files: %s", jsonwhy, msg);
	import_die(im->file, "%s", msg);
}

/* jsonwhy: the file is a .json that jansson refused for this reason;
 * node reads it as PM2 does, as an expression.  NULL: a module. */
static json_t *
load_js(struct import_src *im, const char *jsonwhy)
{
	struct passwd	*pw;
	struct pollfd	 pf[3];
	char		 abs[PATH_MAX], *out = NULL, errbuf[IMPORT_MAX_STDERR + 1];
	size_t		 outlen = 0, outcap = 0, errlen = 0;
	int		 po[2], pe[2], pr[2], status, e, n, open_fds, fd;
	ssize_t		 r;
	uint64_t	 deadline;
	pid_t		 pid, parent;
	json_error_t	 jerr;
	json_t		*v;

	if ((fd = open(im->file, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1 ||
	    fstat(fd, &im->st) != 0)
		js_die(im, jsonwhy, "%s", strerror(errno));
	close(fd);
	if (!S_ISREG(im->st.st_mode))
		js_die(im, jsonwhy, "not a regular file");
	if (realpath(im->file, abs) == NULL)
		js_die(im, jsonwhy, "%s", strerror(errno));
	pw = node_identity(im, abs);
	im->ran_as = pw != NULL ? pw->pw_uid : 0;
	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0 ||
	    pipe2(pr, O_CLOEXEC) != 0)
		js_die(im, jsonwhy, "pipe: %s", strerror(errno));
	fflush(stdout);
	fflush(stderr);
	/* Root: node is the first process of a PID namespace of its own,
	 * so whatever it starts, even in a session of its own, dies with
	 * it or with the timeout's SIGKILL. */
	parent = getpid();
	pid = -1;
	/* clone() as fork() does, the child alone in the new namespace
	 * (unshare() would put tendctl's next children there too). */
	if (geteuid() == 0 && (pid = (pid_t)syscall(SYS_clone,
	    CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, NULL)) == -1)
		fprintf(stderr, "tendctl: %s: no PID namespace for node (%s): "
		    "what the file starts in a session of its own may outlive "
		    "the import\n", im->file, strerror(errno));
	else if (geteuid() == 0)
		parent = 0;	/* the namespace's first: its getppid() is 0 */
	if (pid == -1 && (pid = fork()) == -1)
		js_die(im, jsonwhy, "fork: %s", strerror(errno));
	if (pid == 0)
		node_child(abs, jsonwhy != NULL, pw, po[1], pe[1], pr[1],
		    parent);
	close(po[1]);
	close(pe[1]);
	close(pr[1]);
	deadline = time_mono_ms() + im->timeout;
	pf[0].fd = po[0];
	pf[1].fd = pe[0];
	pf[2].fd = pr[0];
	open_fds = 3;
	e = 0;
	while (open_fds > 0) {
		uint64_t now = time_mono_ms();

		if (now >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			js_die(im, jsonwhy, "node did not finish within %llu ms "
			    "(a server started by the file? raise --timeout)",
			    (unsigned long long)im->timeout);
		}
		for (n = 0; n < 3; n++)
			pf[n].events = pf[n].fd >= 0 ? POLLIN : 0;
		if (poll(pf, 3, (int)(deadline - now)) < 0) {
			if (errno == EINTR)
				continue;
			js_die(im, jsonwhy, "poll: %s", strerror(errno));
		}
		for (n = 0; n < 3; n++) {
			char	tmp[4096], *dst = tmp;
			size_t	room = sizeof(tmp);

			if (pf[n].fd < 0 || pf[n].revents == 0)
				continue;
			if (n == 0) {
				if (outcap - outlen < 65536) {
					if (outcap >= IMPORT_MAX_JSON) {
						kill(-pid, SIGKILL);
						js_die(im, jsonwhy, "node printed more "
						    "than %d MiB", IMPORT_MAX_JSON >> 20);
					}
					outcap = outcap ? outcap * 2 : 131072;
					if ((out = realloc(out, outcap)) == NULL)
						js_die(im, jsonwhy, "out of memory");
				}
				dst = out + outlen;
				room = outcap - outlen - 1;
			}
			r = read(pf[n].fd, dst, room);
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				close(pf[n].fd);
				pf[n].fd = -1;
				open_fds--;
				continue;
			}
			if (n == 0)
				outlen += (size_t)r;
			else if (n == 1)
				keep_tail(errbuf, &errlen, tmp, (size_t)r);
			else if ((size_t)r >= sizeof(e))
				memcpy(&e, tmp, sizeof(e));
		}
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (e != 0)
		js_die(im, jsonwhy, "cannot run node: %s%s", strerror(e),
		    e == ENOENT ? " (install Node.js: apt-get install nodejs)" :
		    "");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		/* The first line of node's complaint that says what. */
		char	*l, *best = NULL;

		errbuf[errlen] = '\0';
		for (l = strtok(errbuf, "\n"); l != NULL; l = strtok(NULL, "\n"))
			if (best == NULL && (strstr(l, "Error") != NULL ||
			    strstr(l, "error") != NULL))
				best = l;
		if (WIFSIGNALED(status))
			js_die(im, jsonwhy, "node was killed by %s",
			    signal_name(WTERMSIG(status)));
		js_die(im, jsonwhy, "node could not load it (exit %d)%s%s",
		    WEXITSTATUS(status), best != NULL ? ": " : "",
		    best != NULL ? best : "");
	}
	if ((v = json_loadb(out != NULL ? out : "", outlen, 0, &jerr)) == NULL)
		js_die(im, jsonwhy, "node's JSON: %s", jerr.text);
	free(out);
	return v;
}

/* --- which reader ------------------------------------------------------- */

json_t *
import_load(struct import_src *im)
{
	const char	*base = strrchr(im->file, '/'), *dot;

	base = base != NULL ? base + 1 : im->file;
	if ((dot = strrchr(base, '.')) != NULL && (strcmp(dot, ".js") == 0 ||
	    strcmp(dot, ".cjs") == 0 || strcmp(dot, ".mjs") == 0))
		return load_js(im, NULL);
	if (dot != NULL && (strcmp(dot, ".yaml") == 0 ||
	    strcmp(dot, ".yml") == 0))
		return load_yaml(im);
	return load_json(im);	/* .json, dump.pm2, dump.pm2.bak, ... */
}
