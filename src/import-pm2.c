/*
 * import-pm2.c: tendctl import pm2 FILE.  Reads what PM2 knows of a set of
 * apps (an ecosystem file in JavaScript, JSON or YAML, or the dump.pm2 that
 * `pm2 save` wrote) and prints tend.conf sections for them on stdout, with
 * every PM2 setting tend cannot take listed as a comment with the reason.
 *
 * It never talks to tendd.  A JavaScript file is code: node evaluates it in
 * a child process as the user running tendctl (root runs it as the file's
 * owner when that is not root), killed after a timeout; the child prints
 * the apps as JSON, read here with jansson.  YAML goes through libyaml.
 *
 * Secrets (redact.c's rules: *_SECRET, *_KEY, *_TOKEN, passwords, URLs
 * with a password) never reach stdout: they go to NAME.env files in the
 * --env-dir, mode 0600, made with O_EXCL, and the section names the file.
 * Nothing is half-done: every file is made before anything is printed, and
 * on an error the files made so far are removed.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/wait.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tend.h"
#include "import.h"

/* An ecosystem file that takes longer than this to load is stuck. */
#define IMPORT_TIMEOUT_MS	10000
/* poll() counts in int milliseconds; nobody waits an hour for a file. */
#define IMPORT_TIMEOUT_MAX_MS	3600000

#define EXIT_FAIL	1
#define EXIT_USAGE	2

struct imp {
	const char	*file;		/* as given: every message names it */
	const char	*envname;	/* env_NAME merged over env */
	char		*envdir;	/* absolute */
	int		 envfd;		/* it, opened once: files go there */
	uint64_t	 timeout;
	struct stat	 st;
	char		 owner[64];	/* the file's owner, "" when root */
	char		 author[64];	/* the user whose code made the apps:
					 * the owner, or whom node ran as */
	struct out	*apps;
	size_t		 n;
};

/* One app's section, built before anything is printed. */
struct out {
	char		*name;
	json_t		*src;		/* the PM2 app (a dump's first entry) */
	unsigned	 count;		/* dump entries of this name */
	char		*sect;		/* the section's lines */
	size_t		 sectlen;
	char		*secrets;	/* the .env file's text, or NULL */
	size_t		 secretslen;
	char		*envfile;	/* its path */
	const char	*envbase;	/* its name in envfd */
	int		 written;	/* envfile made by this run */
	uid_t		 uid;		/* the user = line's, for the file */
	gid_t		 gid;
	int		 has_user;
};

static void __attribute__((noreturn))
import_usage(void)
{
	fprintf(stderr, "usage: tendctl import pm2 FILE [--env NAME] "
	    "[--env-dir DIR] [--timeout DURATION]\n");
	exit(EXIT_USAGE);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
import_fail(const struct imp *im, const char *fmt, ...)
{
	va_list	ap;
	size_t	i;
	char	*msg;

	for (i = 0; im != NULL && i < im->n; i++)
		if (im->apps[i].written)
			unlinkat(im->envfd, im->apps[i].envbase, 0);
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	import_die(im != NULL ? im->file : "import", "%s",
	    msg != NULL ? msg : "out of memory");
}

/* A line of a section (or of a .env file) that holds what the PM2 file
 * says: its control characters are '?', so a name or value adds no line
 * and sends no escape sequence to the terminal that shows it. */
static void __attribute__((format(printf, 2, 3)))
note(FILE *f, const char *fmt, ...)
{
	va_list	ap;
	char	*s;
	int	 r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0) {
		fputs("; (out of memory)\n", f);
		return;
	}
	import_clean(s, 1);
	fputs(s, f);
	free(s);
}

static void __attribute__((noreturn))
oom(const struct imp *im)
{
	import_fail(im, "out of memory");
}

/* --- writing a section ----------------------------------------------------- */

/* A token fit for /bin/sh -c as it is, else in single quotes. */
static void
sh_word(FILE *f, const char *s)
{
	const char	*p;

	if (*s != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-") == strlen(s)) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (p = s; *p != '\0'; p++)
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	fputc('\'', f);
}

/* Can s be a tend.conf value as it is: no newline, no blanks around it,
 * no " ;" that would start a comment? */
static int
conf_value_ok(const char *s)
{
	const char	*p;
	size_t		 n = strlen(s);

	if (n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' ||
	    s[n - 1] == '\t'))
		return 0;
	for (p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return 0;
		if (*p == ';' && p > s && (p[-1] == ' ' || p[-1] == '\t'))
			return 0;
	}
	return 1;
}

/* A PM2 value as text: strings as they are, numbers and booleans as JSON
 * writes them; NULL for null, objects and arrays. */
static char *
scalar_text(json_t *v)
{
	char	*s = NULL;

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v)) {
		if (asprintf(&s, "%lld", (long long)json_integer_value(v)) < 0)
			return NULL;
		return s;
	}
	if (json_is_real(v) || json_is_boolean(v))
		return json_dumps(v, JSON_ENCODE_ANY);
	return NULL;
}

/* A PM2 number of milliseconds (a number, or "1500", or "5s"). */
static int
pm2_ms(json_t *v, uint64_t *ms)
{
	const char	*why;
	char		*end;
	unsigned long long n;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*ms = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v) && json_real_value(v) >= 0) {
		*ms = (uint64_t)json_real_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	errno = 0;
	n = strtoull(json_string_value(v), &end, 10);
	if (errno == 0 && *end == '\0' && end != json_string_value(v)) {
		*ms = n;
		return 0;
	}
	return parse_duration(json_string_value(v), ms, &why);
}

/* Split a PM2 argument string on blanks, honouring '...' and "..." (PM2
 * splits it the same way; no expansions either way). */
static int
split_args(const char *s, struct strv *out)
{
	char	*w, *o;
	char	 q;
	int	 r = 0;

	if ((w = malloc(strlen(s) + 1)) == NULL)
		return -1;
	while (*s != '\0' && r == 0) {
		s += strspn(s, " \t\n");
		if (*s == '\0')
			break;
		o = w;
		q = 0;
		for (; *s != '\0' && (q || !strchr(" \t\n", *s)); s++) {
			if (!q && (*s == '\'' || *s == '"'))
				q = *s;
			else if (q && *s == q)
				q = 0;
			else
				*o++ = *s;
		}
		*o = '\0';
		r = strv_push(out, w);
	}
	free(w);
	return r;
}

/* A string or an array of strings, as a list. */
static int
arg_list(json_t *v, struct strv *out)
{
	size_t	 i;
	json_t	*e;
	char	*s;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v))
		return split_args(json_string_value(v), out);
	if (!json_is_array(v))
		return -1;
	json_array_foreach(v, i, e) {
		if ((s = scalar_text(e)) == NULL || strv_push(out, s) != 0) {
			free(s);
			return -1;
		}
		free(s);
	}
	return 0;
}

/* The first of an app's keys (a name and PM2's aliases for it) it has. */
static json_t *
get(json_t *app, const char *const *names)
{
	json_t	*v;

	for (; *names != NULL; names++)
		if ((v = json_object_get(app, *names)) != NULL)
			return v;
	return NULL;
}
#define GET(app, ...)	get(app, (const char *const[]){ __VA_ARGS__, NULL })

/* An executable named name on $PATH, or NULL. */
static char *
which(const char *name)
{
	const char	*path = getenv("PATH");
	char		*copy, *dir, *save = NULL, *res = NULL;

	if (strchr(name, '/') != NULL || path == NULL)
		return NULL;
	if ((copy = strdup(path)) == NULL)
		return NULL;
	for (dir = strtok_r(copy, ":", &save); dir != NULL;
	    dir = strtok_r(NULL, ":", &save)) {
		if (*dir != '/')
			continue;
		if (asprintf(&res, "%s/%s", dir, name) < 0) {
			res = NULL;
			break;
		}
		if (access(res, X_OK) == 0)
			break;
		free(res);
		res = NULL;
	}
	free(copy);
	return res;
}

/* A path as PM2 resolves it: against base when relative (PM2 uses the
 * directory pm2 start ran in, as this does). */
static char *
resolve(const char *base, const char *p)
{
	char	*r, *q;
	size_t	 n;

	if (*p == '/')
		r = strdup(p);
	else if (asprintf(&r, "%s/%s", base, p) < 0)
		r = NULL;
	if (r == NULL)
		return NULL;
	/* "/srv/app/./server.js" reads better without "./"; ".." and
	 * symlinks (current/) stay as written. */
	while ((q = strstr(r, "/./")) != NULL)
		memmove(q, q + 2, strlen(q + 2) + 1);
	n = strlen(r);
	if (n > 2 && strcmp(r + n - 2, "/.") == 0)
		r[n - 2] = '\0';
	return r;
}

/* How PM2 picks an interpreter from a script's extension (its
 * API/interpreter.json); no interpreter: run the script itself. */
static const char *
pm2_interpreter(const char *script)
{
	static const char *const map[][2] = {
		{ ".js", "node" }, { ".cjs", "node" }, { ".mjs", "node" },
		{ ".sh", "bash" }, { ".py", "python3" }, { ".rb", "ruby" },
		{ ".php", "php" }, { ".pl", "perl" }, { ".ts", "bun" },
		{ ".tsx", "bun" }, { ".coffee", "coffee" },
	};
	const char	*dot = strrchr(script, '.'), *slash = strrchr(script, '/');
	size_t		 i;

	if (dot == NULL || (slash != NULL && dot < slash))
		return NULL;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(dot, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

/* Keys of a PM2 app, each with what tend does with it.  NULL reason: the
 * mapping code handles the key, or tend does what it asks anyway; a
 * reason: listed as a comment with it, unless the value is PM2's default
 * (dflt, as compact JSON), which every dump.pm2 spells out. */
static const struct pm2key {
	const char	*name;
	const char	*why;
	const char	*dflt;
} pm2keys[] = {
	{ "name", NULL, NULL }, { "script", NULL, NULL }, { "exec", NULL, NULL },
	{ "args", NULL, NULL }, { "interpreter", NULL, NULL },
	{ "exec_interpreter", NULL, NULL }, { "node_args", NULL, NULL },
	{ "interpreter_args", NULL, NULL }, { "interpreterArgs", NULL, NULL },
	{ "cwd", NULL, NULL }, { "env", NULL, NULL }, { "instances", NULL, NULL },
	{ "exec_mode", NULL, NULL }, { "max_memory_restart", NULL, NULL },
	{ "kill_timeout", NULL, NULL }, { "restart_delay", NULL, NULL },
	{ "exp_backoff_restart_delay", NULL, NULL }, { "max_restarts", NULL, NULL },
	{ "min_uptime", NULL, NULL }, { "autorestart", NULL, NULL },
	{ "autostart", NULL, NULL },
	{ "stop_exit_codes", NULL, NULL }, { "port", NULL, NULL },
	{ "uid", NULL, NULL },
	{ "user", NULL, NULL }, { "gid", NULL, NULL },
	{ "out_file", NULL, NULL }, { "out", NULL, NULL }, { "output", NULL, NULL },
	{ "out_log", NULL, NULL }, { "error_file", NULL, NULL },
	{ "error", NULL, NULL },
	{ "err", NULL, NULL }, { "err_file", NULL, NULL }, { "err_log", NULL, NULL },
	{ "log_file", NULL, NULL }, { "log", NULL, NULL },
	{ "pm_exec_path", NULL, NULL }, { "pm_cwd", NULL, NULL },
	{ "pm_out_log_path", NULL, NULL }, { "pm_err_log_path", NULL, NULL },
	{ "watch", "tend does not restart on file changes: "
	    "deploys and tendctl restart do", NULL },
	{ "ignore_watch", "no watch in tend", NULL },
	{ "watch_options", "no watch in tend", NULL },
	{ "watch_delay", "no watch in tend", NULL },
	{ "cron_restart", "no timed restarts in tend: a systemd timer can "
	    "run tendctl restart", NULL },
	{ "cron", "no timed restarts in tend: a systemd timer can run "
	    "tendctl restart", NULL },
	{ "wait_ready", "tend waits for health = PATH to answer 2xx, not "
	    "for process.send('ready')", NULL },
	{ "listen_timeout", "tend's ready_timeout bounds a start with "
	    "health = PATH", NULL },
	{ "shutdown_with_message", "tend stops with stop_signal", NULL },
	{ "kill_retry_time", "tend sends SIGKILL once, after kill_timeout",
	    "100" },
	{ "treekill", "tend always stops the whole process group", "true" },
	{ "log_date_format", "tend stamps every line of log_dir/NAME.log", NULL },
	{ "time", "tend stamps every line of log_dir/NAME.log", NULL },
	{ "merge_logs", NULL, NULL },
	{ "combine_logs", NULL, NULL },
	{ "disable_logs", "tend always keeps the app's output", NULL },
	{ "log_type", "tend's log lines are text; tendctl logs --json", NULL },
	{ "pid_file", "tendctl status shows the pids", NULL },
	{ "pid", "tendctl status shows the pids", NULL },
	{ "pm_pid_path", NULL, NULL },
	{ "instance_var", "tend sets TEND_INSTANCE (0, 1, ...) instead",
	    "\"NODE_APP_INSTANCE\"" },
	{ "increment_var", "tend gives instance i PORT = port + i", NULL },
	{ "namespace", "no namespaces in tend", "\"default\"" },
	{ "append_env_to_name", "names are as written here", NULL },
	{ "name_prefix", "names are as written here", NULL },
	{ "filter_env", "tend starts apps from a clean environment", NULL },
	{ "source_map_support", "add --enable-source-maps to the command", NULL },
	{ "disable_source_map_support", "tend adds no source map support", NULL },
	{ "vizion", "tend deploys from git itself: repo =, tendctl deploy",
	    "true" },
	{ "post_update", "tend deploys run build = instead", NULL },
	{ "force", "no meaning in tend", NULL },
	{ "execute_command", "no meaning in tend", NULL },
	{ "install_url", "no meaning in tend", NULL },
	{ "pmx", "PM2's monitoring agent", "true" },
	{ "automation", "PM2's monitoring agent", "true" },
	{ "trace", "PM2's monitoring agent", NULL },
	{ "disable_trace", "PM2's monitoring agent", NULL },
	{ "v8", "PM2's monitoring agent", NULL },
	{ "event_loop_inspector", "PM2's monitoring agent", NULL },
	{ "deep_monitoring", "PM2's monitoring agent", NULL },
	{ "io", "PM2's monitoring agent", NULL },
	{ "windowsHide", NULL, NULL },
	{ "write", "no meaning in tend", NULL },
	{ "username", NULL, NULL },
	{ NULL, NULL, NULL }
};

/* What a dump.pm2 holds beside the settings: PM2's state of the process. */
static const char *const pm2_runtime[] = {
	"pm_id", "status", "pm_uptime", "created_at", "restart_time",
	"unstable_restarts", "axm_actions", "axm_monitor", "axm_options",
	"axm_dynamic", "km_link", "vizion_running", "versioning", "version",
	"node_version", "_pm2_version", "unique_id", "exit_code",
	"prev_restart_delay", "NODE_APP_INSTANCE", "pmx_module",
	"MODULE_DEBUG", "unstable_restart", "vizion_runing", NULL
};

/* Variables of the shell that ran `pm2 start`, which a dump saved with
 * the app's own: tend gives apps its own PATH, HOME, USER, LANG. */
static int
shell_var(const char *k, const char *appname)
{
	static const char *const names[] = {
		"PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD",
		"SHLVL", "TERM", "_", "MAIL", "LANG", "LANGUAGE", "HOSTNAME",
		"DISPLAY", "COLORTERM", "LS_COLORS", "LESSOPEN", "LESSCLOSE",
		"MOTD_SHOWN", "TMUX", "TMUX_PANE", "STY", "WINDOW", "EDITOR",
		"VISUAL", "PAGER", "DBUS_SESSION_BUS_ADDRESS", "unique_id",
		"NODE_APP_INSTANCE", "pm_id", NULL
	};
	static const char *const prefixes[] = {
		"LC_", "SSH_", "XDG_", "SUDO_", "PM2_", "TERM_", NULL
	};
	size_t	i;

	if (strcmp(k, appname) == 0)
		return 1;
	for (i = 0; names[i] != NULL; i++)
		if (strcmp(k, names[i]) == 0)
			return 1;
	for (i = 0; prefixes[i] != NULL; i++)
		if (strncmp(k, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

/* A value in a .env file: double quotes, with dotenv's escapes. */
static void
dotenv_value(FILE *f, const char *v)
{
	fputc('"', f);
	for (; *v != '\0'; v++) {
		switch (*v) {
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		default:
			fputc(*v, f);
		}
	}
	fputc('"', f);
}

/* Is this variable a secret by redact.c's rules (its name, or a URL in
 * its value with a password)? */
static int
secret_var(const char *k, const char *v)
{
	char	*r;
	int	 s;

	if (secret_key(k))
		return 1;
	if ((r = redact_url(v)) == NULL)
		return 1;	/* cannot tell: keep it off stdout */
	s = strcmp(r, v) != 0;
	free(r);
	return s;
}

/* The environment of app: env, then env_NAME over it (or, in a dump,
 * the env PM2 merged).  Plain variables become env lines on f; secrets
 * and values a tend.conf line cannot hold go to the .env text. */
static void
map_env(struct imp *im, struct out *o, FILE *f, FILE *notes, int dump,
    unsigned *port)
{
	json_t		*merged, *e, *v;
	const char	*k;
	char		*val, key[128];
	FILE		*sec;
	size_t		 nsec = 0, ndropped = 0;
	char		*dropped = NULL, *secnames = NULL;
	size_t		 droppedlen = 0, secnameslen = 0;
	FILE		*fd, *fs;
	unsigned long	 ul;
	const char	*why, *pm2name;

	pm2name = json_string_value(json_object_get(o->src, "name"));
	if (pm2name == NULL)
		pm2name = o->name;
	if ((merged = json_object()) == NULL)
		oom(im);
	e = json_object_get(o->src, "env");
	if (json_is_object(e))
		json_object_update(merged, e);
	else if (e != NULL && !json_is_null(e))
		note(notes, "; env: not an object: not imported\n");
	snprintf(key, sizeof(key), "env_%s", im->envname);
	if (!dump && json_is_object(json_object_get(o->src, key)))
		json_object_update(merged, json_object_get(o->src, key));
	if ((v = json_object_get(o->src, "port")) != NULL &&
	    (val = scalar_text(v)) != NULL) {
		json_object_set_new(merged, "PORT", json_string(val));
		free(val);
	}
	sec = open_memstream(&o->secrets, &o->secretslen);
	fd = open_memstream(&dropped, &droppedlen);
	fs = open_memstream(&secnames, &secnameslen);
	if (sec == NULL || fd == NULL || fs == NULL)
		oom(im);
	note(sec, "# secrets of PM2 app %s, from %s (tendctl import pm2)\n",
	    pm2name, im->file);
	json_object_foreach(merged, k, v) {
		if (dump && shell_var(k, pm2name)) {
			fprintf(fd, "%s%s", ndropped++ ? " " : "", k);
			continue;
		}
		if (!env_valid_key(k, strlen(k))) {
			note(notes, "; env: a variable whose name is not "
			    "letters, digits and _ . -: not imported\n");
			continue;
		}
		if ((val = scalar_text(v)) == NULL) {
			note(notes, "; env %s: not a string, number or "
			    "boolean: not imported\n", k);
			continue;
		}
		if (strcmp(k, "DATABASE_URL") == 0 || strcmp(k, "REDIS_URL") == 0)
			note(notes, "; %s: tend checks it before every start "
			    "(preflight = no turns that off)\n", k);
		if (strcmp(k, "PORT") == 0 &&
		    parse_uint(val, 1, 65535, &ul, &why) == 0) {
			*port = (unsigned)ul;	/* tend exports PORT itself */
		} else if (secret_var(k, val) || !conf_value_ok(val) ||
		    strlen(val) > 4000) {
			fprintf(sec, "%s=", k);
			dotenv_value(sec, val);
			fputc('\n', sec);
			fprintf(fs, "%s%s", nsec++ ? ", " : "", k);
		} else
			fprintf(f, "env = %s=%s\n", k, val);
		free(val);
	}
	if (fclose(sec) != 0 || fclose(fd) != 0 || fclose(fs) != 0)
		oom(im);
	if (ndropped > 0)
		note(notes, "; not imported from the environment PM2 saved "
		    "(the shell's of pm2 start; tend sets PATH, HOME, USER, "
		    "LANG itself): %s\n", dropped);
	if (nsec > 0) {
		if (asprintf(&o->envfile, "%s/%s.env", im->envdir, o->name) < 0)
			oom(im);
		o->envbase = strrchr(o->envfile, '/') + 1;
		if (!conf_value_ok(o->envfile))
			import_fail(im, "%s: --env-dir gives a path a tend.conf "
			    "line cannot hold", o->name);
		fprintf(f, "env_file = %s\n; %s holds %s (mode 0600, tendd "
		    "reads it as the app's user)\n", o->envfile, o->envfile,
		    secnames);
	} else {
		free(o->secrets);
		o->secrets = NULL;
	}
	free(dropped);
	free(secnames);
	json_decref(merged);
}

/* PM2's instances: a number, 0 or "max" for one per CPU, -N for N fewer. */
static unsigned
map_instances(json_t *v, FILE *notes)
{
	long	ncpu = sysconf(_SC_NPROCESSORS_ONLN), n;

	if (ncpu < 1)
		ncpu = 1;
	if (json_is_string(v) && strcmp(json_string_value(v), "max") == 0)
		n = 0;
	else if (json_is_string(v))
		n = strtol(json_string_value(v), NULL, 10);
	else if (json_is_integer(v))
		n = (long)json_integer_value(v);
	else
		return 1;
	if (n <= 0) {
		n = ncpu + n;
		if (n < 1)
			n = 1;
		note(notes, "; instances: PM2's one per CPU (less %ld) is "
		    "%ld on this machine\n", ncpu - n, n);
	}
	if (n > APP_MAX_INSTANCES) {
		note(notes, "; instances: %ld is more than tend runs of one "
		    "app (%d)\n", n, APP_MAX_INSTANCES);
		n = APP_MAX_INSTANCES;
	}
	return (unsigned)n;
}

static void
fmt_size(char *b, size_t len, uint64_t v)
{
	if (v % (1ULL << 30) == 0)
		snprintf(b, len, "%lluG", (unsigned long long)(v >> 30));
	else if (v % (1ULL << 20) == 0)
		snprintf(b, len, "%lluM", (unsigned long long)(v >> 20));
	else
		snprintf(b, len, "%llu", (unsigned long long)v);
}

/* May the file's owner give an app this group (theirs, or one they are
 * in)?  A file of root's may give any. */
static int
owner_in_group(const struct imp *im, gid_t gid)
{
	struct passwd	*pw;
	gid_t		 groups[256];
	int		 n = 256, i;

	if (*im->author == '\0')
		return 1;
	if ((pw = getpwnam(im->author)) == NULL)
		return 0;
	if (pw->pw_gid == gid)
		return 1;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return 0;
	for (i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/* The user = line: PM2's uid/user, else the file's owner (PM2 ran the
 * apps as the user whose pm2 read the file).  A file a user owns names
 * no other user, and no group they are not in: their pm2 could not run
 * an app as anyone else, and root's import must not either. */
static void
map_user(struct imp *im, struct out *o, FILE *f)
{
	json_t		*u = GET(o->src, "uid", "user"), *g = json_object_get(o->src, "gid");
	struct passwd	*pw = NULL;
	struct group	*gr = NULL;
	char		*s;

	if (u != NULL && (s = scalar_text(u)) != NULL) {
		pw = isdigit((unsigned char)*s) ? getpwuid((uid_t)atol(s)) :
		    getpwnam(s);
		if (pw == NULL)
			import_fail(im, "%s: uid %s: no such user here", o->name,
			    s);
		if (*im->author != '\0' && strcmp(pw->pw_name, im->author) != 0) {
			note(f, "; uid %s: not mapped: the apps of %s are %s's, "
			    "whose PM2 could not run one as %s\n", s, im->file,
			    im->author, pw->pw_name);
			pw = NULL;
		} else
			fprintf(f, "user = %s\n", pw->pw_name);
		free(s);
	}
	if (pw == NULL && *im->owner != '\0') {
		pw = getpwnam(im->owner);
		fprintf(f, "user = %s\n", im->owner);
		note(f, "; PM2 ran as %s, the owner of %s\n", im->owner,
		    im->file);
	} else if (pw == NULL && *im->author != '\0') {
		/* Root's file, but what node printed is the author's. */
		pw = getpwnam(im->author);
		fprintf(f, "user = %s\n", im->author);
		note(f, "; node evaluated %s as %s, the owner of a directory "
		    "above it: these apps are %s's\n", im->file, im->author,
		    im->author);
	} else if (pw == NULL)
		note(f, "; user = NAME   PM2 ran this app as root: give it "
		    "a user of its own\n");
	if (pw != NULL) {
		o->has_user = 1;
		o->uid = pw->pw_uid;
		o->gid = pw->pw_gid;
	}
	if (g != NULL && (s = scalar_text(g)) != NULL) {
		gr = isdigit((unsigned char)*s) ? getgrgid((gid_t)atol(s)) :
		    getgrnam(s);
		if (gr == NULL)
			import_fail(im, "%s: gid %s: no such group here", o->name,
			    s);
		if (!owner_in_group(im, gr->gr_gid))
			note(f, "; gid %s: not mapped: the apps of %s are %s's, "
			    "who is not in group %s\n", s, im->file, im->author,
			    gr->gr_name);
		else
			fprintf(f, "group = %s\n", gr->gr_name);
		free(s);
	}
}

static void
map_app(struct imp *im, struct out *o, const char *cwd)
{
	json_t		*v, *iv;
	const char	*k, *script, *interp, *why, *mode;
	char		*dir = NULL, *path = NULL, *ip = NULL, *cmd = NULL;
	char		 b[64];
	struct strv	 nargs = { 0 }, args = { 0 };
	size_t		 i, cmdlen = 0;
	unsigned	 port = 0, instances = 1, heap_mib = 0;
	int		 dump, cluster;
	uint64_t	 n;
	char		*notes = NULL;
	size_t		 noteslen = 0;
	FILE		*f, *nf, *cf;
	unsigned long	 ul;

	f = open_memstream(&o->sect, &o->sectlen);
	nf = open_memstream(&notes, &noteslen);
	if (f == NULL || nf == NULL)
		oom(im);
	dump = json_object_get(o->src, "pm_exec_path") != NULL;
	v = GET(o->src, "pm_exec_path", "script", "exec");
	if (!json_is_string(v) || *json_string_value(v) == '\0')
		import_fail(im, "%s: no script", o->name);
	script = json_string_value(v);

	fprintf(f, "[app:%s]\n", o->name);
	k = json_string_value(json_object_get(o->src, "name"));
	if (k != NULL && strcmp(k, o->name) != 0)
		note(f, "; PM2 name \"%s\" is not a tend name (letters, "
		    "digits, _ . -; unique): renamed\n", k);

	/* dir and the script, resolved as PM2 does. */
	v = GET(o->src, "pm_cwd", "cwd");
	if (json_is_string(v))
		dir = resolve(cwd, json_string_value(v));
	else
		dir = strdup(cwd);
	if (dir == NULL)
		oom(im);
	if ((path = resolve(dir, script)) == NULL)
		oom(im);
	/* "npm": not in dir, a program on PATH (PM2 looks there too). */
	if (strchr(script, '/') == NULL && access(path, F_OK) != 0 &&
	    (ip = which(script)) != NULL) {
		free(path);
		path = ip;
	}
	if (!conf_value_ok(dir))
		import_fail(im, "%s: cwd is a path a tend.conf line cannot "
		    "hold", o->name);
	fprintf(f, "dir = %s\n", dir);

	/* command: interpreter, its arguments, the script, its arguments. */
	v = GET(o->src, "exec_interpreter", "interpreter");
	interp = json_is_string(v) ? json_string_value(v) :
	    pm2_interpreter(path);
	if (interp != NULL && strcmp(interp, "none") == 0)
		interp = NULL;
	if (arg_list(GET(o->src, "node_args", "interpreter_args",
	    "interpreterArgs"), &nargs) != 0 ||
	    arg_list(json_object_get(o->src, "args"), &args) != 0)
		import_fail(im, "%s: args or node_args: expected a string or "
		    "a list of strings", o->name);
	if ((cf = open_memstream(&cmd, &cmdlen)) == NULL)
		oom(im);
	if (interp != NULL) {
		ip = which(interp);
		sh_word(cf, ip != NULL ? ip : interp);
		free(ip);
	}
	for (i = 0; i < nargs.n; i++) {
		/* --max-old-space-size=N: tend's heap = NM, which reaches
		 * every node of the tree through NODE_OPTIONS. */
		const char *a = nargs.v[i], *num = NULL;
		size_t two = 0;

		if (strncmp(a, "--max-old-space-size=", 21) == 0 ||
		    strncmp(a, "--max_old_space_size=", 21) == 0)
			num = a + 21;
		else if ((strcmp(a, "--max-old-space-size") == 0 ||
		    strcmp(a, "--max_old_space_size") == 0) &&
		    i + 1 < nargs.n) {
			num = nargs.v[i + 1];
			two = 1;
		}
		if (num != NULL && (interp == NULL ||
		    strstr(interp, "node") != NULL) &&
		    parse_uint(num, 16, 1024 * 1024, &ul, &why) == 0) {
			heap_mib = (unsigned)ul;
			i += two;
			continue;
		}
		if (interp == NULL) {
			note(nf, "; node_args %s: the script runs without "
			    "an interpreter: not used\n", a);
			continue;
		}
		fputc(' ', cf);
		sh_word(cf, a);
	}
	if (interp != NULL)
		fputc(' ', cf);
	sh_word(cf, path);
	for (i = 0; i < args.n; i++) {
		fputc(' ', cf);
		sh_word(cf, args.v[i]);
	}
	if (fclose(cf) != 0)
		oom(im);
	if (!conf_value_ok(cmd))
		import_fail(im, "%s: its command line has a \" ;\" or a "
		    "newline, which a tend.conf line cannot hold: write a "
		    "wrapper script", o->name);
	if (secret_var("", cmd))
		import_fail(im, "%s: its command line has a URL with a "
		    "password, which import does not print: pass it in an "
		    "environment variable instead", o->name);
	fprintf(f, "command = %s\n", cmd);
	free(cmd);
	strv_free(&nargs);
	strv_free(&args);

	map_user(im, o, f);

	/* instances, cluster mode, the port. */
	mode = json_string_value(json_object_get(o->src, "exec_mode"));
	cluster = mode != NULL && strncmp(mode, "cluster", 7) == 0;
	if (dump)
		instances = o->count;
	else if ((iv = json_object_get(o->src, "instances")) != NULL &&
	    !json_is_null(iv))
		instances = map_instances(iv, nf);

	map_env(im, o, f, nf, dump, &port);
	if (port != 0) {
		if (port + instances - 1 > 65535)
			import_fail(im, "%s: %u instances from port %u go past "
			    "65535", o->name, instances, port);
		fprintf(f, "port = %u\n", port);
	}
	if (instances > 1 || cluster)
		fprintf(f, "instances = %u\n", instances);
	if (cluster && port != 0 && instances > 1)
		fprintf(f, "; PM2's cluster mode shared port %u among %u "
		    "workers; tend runs %u processes on ports %u-%u, each "
		    "with its own PORT (and TEND_INSTANCE): the app must "
		    "listen on $PORT, and nginx balances over them "
		    "(nginx_upstream = FILE writes the upstream block)\n",
		    port, instances, instances, port, port + instances - 1);
	else if (cluster && instances > 1)
		fprintf(f, "; PM2's cluster mode shared one port among %u "
		    "workers: tend runs each on a port of its own: set "
		    "port = P (instance i gets P+i in $PORT) and put them "
		    "in nginx's upstream\n", instances);
	else if (!cluster && instances > 1 && port != 0)
		fprintf(f, "; PM2 gave its %u copies the same PORT; tend "
		    "gives instance i port + i\n", instances);
	if (port == 0)
		fprintf(f, "; port = P   PM2 set no PORT: with one, tend "
		    "exports it and can check health\n");
	fprintf(f, "; health = /health   PM2 has no readiness check: with "
	    "a path the app answers 2xx on, live means answering\n");

	if (heap_mib > 0)
		fprintf(f, "heap = %uM\n", heap_mib);

	/* Memory, stopping, restarting. */
	v = json_object_get(o->src, "max_memory_restart");
	if (v != NULL && !json_is_null(v)) {
		uint64_t bytes = 0;
		int bad;

		if (json_is_integer(v))
			bad = (bytes = (uint64_t)json_integer_value(v)) == 0;
		else
			bad = !json_is_string(v) || parse_size(
			    json_string_value(v), &bytes, &why) != 0;
		if (bad || bytes < 1024 * 1024)
			note(nf, "; max_memory_restart: not a size of 1M "
			    "or more: not mapped\n");
		else {
			fmt_size(b, sizeof(b), bytes);
			fprintf(f, "max_memory = %s\n", b);
		}
	}
	if ((v = json_object_get(o->src, "kill_timeout")) != NULL &&
	    !json_is_null(v)) {
		if (pm2_ms(v, &n) == 0 && n <= 86400000)
			fprintf(f, "kill_timeout = %llums\n",
			    (unsigned long long)n);
		else
			note(nf, "; kill_timeout: not a duration: not "
			    "mapped\n");
	}
	if ((v = json_object_get(o->src, "exp_backoff_restart_delay")) != NULL &&
	    !json_is_null(v) && pm2_ms(v, &n) == 0 && n <= 86400000) {
		fprintf(f, "restart_delay = %llums\nrestart_delay_max = 15s\n"
		    "; PM2's backoff grows 1.5 times a restart up to 15 s; "
		    "tend's doubles\n", (unsigned long long)n);
	} else if ((v = json_object_get(o->src, "restart_delay")) != NULL &&
	    !json_is_null(v) && pm2_ms(v, &n) == 0 && n <= 86400000) {
		fprintf(f, "restart_delay = %llums\nrestart_delay_max = %llums\n"
		    "; PM2's restart_delay is fixed: so is this one\n",
		    (unsigned long long)n, (unsigned long long)n);
	}
	if ((v = json_object_get(o->src, "min_uptime")) != NULL &&
	    !json_is_null(v)) {
		if (pm2_ms(v, &n) == 0 && n <= 86400000)
			fprintf(f, "min_uptime = %llums\n",
			    (unsigned long long)n);
		else
			note(nf, "; min_uptime: not a duration: not "
			    "mapped\n");
	}
	if ((v = json_object_get(o->src, "max_restarts")) != NULL &&
	    json_is_integer(v)) {
		json_int_t mr = json_integer_value(v);

		fprintf(f, "start_limit = %lld\n; PM2 gave up after "
		    "max_restarts = %lld unstable restarts in a row; tend "
		    "after start_limit restarts within start_limit_interval "
		    "(5m)\n", mr < 1 ? 1LL : mr > 1000 ? 1000LL : (long long)mr,
		    (long long)mr);
	}
	if (json_is_false(json_object_get(o->src, "autorestart")))
		fprintf(f, "restart = never\n");
	else if ((v = json_object_get(o->src, "stop_exit_codes")) != NULL &&
	    !json_is_null(v)) {
		if ((json_is_integer(v) && json_integer_value(v) == 0) ||
		    (json_array_size(v) == 1 && json_is_integer(json_array_get(v,
		    0)) && json_integer_value(json_array_get(v, 0)) == 0))
			fprintf(f, "restart = on-failure\n");
		else if (!(json_is_array(v) && json_array_size(v) == 0))
			note(nf, "; stop_exit_codes: tend's restart = "
			    "on-failure spares exit code 0 only: not mapped\n");
	}
	if (json_is_false(json_object_get(o->src, "autostart")))
		fprintf(f, "autostart = no\n");

	/* PM2's log files: tend keeps its own. */
	v = GET(o->src, "pm_out_log_path", "out_file", "out", "output", "out_log");
	iv = GET(o->src, "pm_err_log_path", "error_file", "error", "err",
	    "err_file", "err_log");
	if (json_is_string(v) || json_is_string(iv))
		note(f, "; PM2 logged to %s and %s; tend writes both "
		    "streams to log_dir/%s.log (tendctl logs %s)\n",
		    json_is_string(v) ? json_string_value(v) : "~/.pm2/logs",
		    json_is_string(iv) ? json_string_value(iv) : "~/.pm2/logs",
		    o->name, o->name);
	if (json_is_string(GET(o->src, "log_file", "log")))
		note(nf, "; log_file %s: one log per app in tend\n",
		    json_string_value(GET(o->src, "log_file", "log")));

	/* Everything else, by name, with why. */
	json_object_foreach(o->src, k, v) {
		const struct pm2key *pk;

		if (strncmp(k, "env_", 4) == 0) {
			if (!dump && strcmp(k + 4, im->envname) != 0)
				note(nf, "; %s: not used (import --env %s "
				    "takes it)\n", k, k + 4);
			continue;
		}
		for (pk = pm2keys; pk->name != NULL; pk++)
			if (strcmp(pk->name, k) == 0)
				break;
		if (pk->name != NULL) {
			char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

			if (pk->why != NULL && !json_is_null(v) &&
			    !json_is_false(v) && !(json_is_array(v) &&
			    json_array_size(v) == 0) && (pk->dflt == NULL ||
			    txt == NULL || strcmp(txt, pk->dflt) != 0))
				note(nf, "; %s: not mapped: %s\n", k, pk->why);
			free(txt);
			continue;
		}
		if (dump) {
			for (i = 0; pm2_runtime[i] != NULL; i++)
				if (strcmp(pm2_runtime[i], k) == 0)
					break;
			/* PM2 copies the environment into the dump's
			 * entry too: those are in env already. */
			if (pm2_runtime[i] != NULL || json_object_get(
			    json_object_get(o->src, "env"), k) != NULL)
				continue;
		}
		note(nf, "; %s: not a PM2 setting this import knows: "
		    "not mapped\n", k);
	}
	if (fclose(nf) != 0)
		oom(im);
	if (noteslen > 0)
		fputs(notes, f);
	fputc('\n', f);
	free(notes);
	if (fclose(f) != 0)
		oom(im);
	free(dir);
	free(path);
}

/* --- names ------------------------------------------------------------------ */

static int
name_taken(struct imp *im, const char *name)
{
	size_t	i;

	for (i = 0; i < im->n; i++)
		if (strcmp(im->apps[i].name, name) == 0)
			return 1;
	return 0;
}

/* A tend name for a PM2 app: its name (or script's base name, as PM2
 * names it), made valid and unique. */
static char *
tend_name(struct imp *im, json_t *app)
{
	const char	*src = json_string_value(json_object_get(app, "name"));
	const char	*script;
	char		 b[APP_NAME_MAX + 1], *p, *dot, *res;
	size_t		 i, j;
	int		 k;

	if (src == NULL || *src == '\0') {
		script = json_string_value(GET(app, "script", "exec"));
		if (script == NULL)
			script = "app";
		if ((p = strrchr(script, '/')) != NULL)
			script = p + 1;
		snprintf(b, sizeof(b), "%s", script);
		if ((dot = strrchr(b, '.')) != NULL && dot != b)
			*dot = '\0';
		src = b;
	}
	if (src != b)
		snprintf(b, sizeof(b), "%s", src);
	for (i = 0, j = 0; b[i] != '\0'; i++) {
		if (isalnum((unsigned char)b[i]) || (j > 0 &&
		    strchr("_.-", b[i]) != NULL))
			b[j++] = b[i];
		else if (j > 0 && b[j - 1] != '-')
			b[j++] = '-';
	}
	while (j > 0 && b[j - 1] == '-')
		j--;
	b[j] = '\0';
	if (j == 0 || strcmp(b, "all") == 0)
		snprintf(b, sizeof(b), "app%s", j ? "-all" : "");
	if ((res = strdup(b)) == NULL)
		oom(im);
	for (k = 2; name_taken(im, res) || !valid_app_name(res); k++) {
		free(res);
		if (asprintf(&res, "%.50s-%d", b, k) < 0)
			oom(im);
	}
	return res;
}

/* --- the whole file --------------------------------------------------------- */

/* The apps: {apps: [...]}, [...], or one app. */
static json_t *
app_list(struct imp *im, json_t *root)
{
	json_t	*a;

	if (json_is_object(root) && (a = json_object_get(root, "apps")) != NULL) {
		if (json_is_object(a))
			return json_pack("[O]", a);
		if (!json_is_array(a))
			import_fail(im, "\"apps\" is not a list");
		return json_incref(a);
	}
	if (json_is_array(root))
		return json_incref(root);
	if (json_is_object(root) && (json_object_get(root, "script") != NULL ||
	    json_object_get(root, "pm_exec_path") != NULL))
		return json_pack("[O]", root);
	import_fail(im, "no apps: expected {\"apps\": [...]}, a list of apps "
	    "or a dump.pm2");
}

/* Make base in dirfd (never an existing file or a link), write text,
 * fsync; chown it first when asked.  *made: it was created (and is to be
 * removed if the import fails).  Returns 0 or an errno. */
static int
envfile_put(int dirfd, const char *base, const char *text, size_t len,
    int chown_to, uid_t uid, gid_t gid, int *made)
{
	size_t	off;
	ssize_t	w;
	int	fd, e;

	if ((fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return errno;
	*made = 1;
	if (chown_to && fchown(fd, uid, gid) != 0)
		goto bad;
	for (off = 0; off < len; off += (size_t)w)
		if ((w = write(fd, text + off, len - off)) < 0) {
			if (errno == EINTR) {
				w = 0;
				continue;
			}
			goto bad;
		}
	if (fsync(fd) != 0)
		goto bad;
	return close(fd) != 0 ? errno : 0;
bad:
	e = errno;
	close(fd);
	return e;
}

/* The same as uid:gid, in a child process: the kernel decides, as for
 * anything else that user does in their directory. */
static int
envfile_put_as(int dirfd, const char *base, const char *text, size_t len,
    uid_t uid, gid_t gid, int *made)
{
	int	p[2], r[2] = { EIO, 0 }, status;
	size_t	got = 0;
	ssize_t	n;
	pid_t	pid;

	if (pipe2(p, O_CLOEXEC) != 0)
		return errno;
	fflush(NULL);
	if ((pid = fork()) == -1) {
		r[0] = errno;
		close(p[0]);
		close(p[1]);
		return r[0];
	}
	if (pid == 0) {
		close(p[0]);
		r[1] = 0;
		if (setgroups(1, &gid) != 0 || setgid(gid) != 0 ||
		    setuid(uid) != 0)
			r[0] = errno;
		else
			r[0] = envfile_put(dirfd, base, text, len, 0, 0, 0,
			    &r[1]);
		(void)!write(p[1], r, sizeof(r));
		_exit(0);
	}
	close(p[1]);
	while (got < sizeof(r)) {
		n = read(p[0], (char *)r + got, sizeof(r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (got < sizeof(r)) {
		r[0] = EIO;
		r[1] = 0;
	}
	*made = r[1];
	return r[0];
}

/* Root makes the .env files itself only in a directory that only root
 * may write (and chowns them to the app's user); in any other, as the
 * app's user (else the directory's owner) makes them: root does not act
 * in a user's directory. */
static void
write_envfiles(struct imp *im)
{
	struct stat	 st;
	struct passwd	*pw;
	struct out	*o;
	size_t		 i;
	int		 e, as_user = 0;
	uid_t		 uid;
	gid_t		 gid;
	char		 who[64];

	if (geteuid() == 0) {
		if (fstat(im->envfd, &st) != 0)
			import_fail(im, "--env-dir %s: %s", im->envdir,
			    strerror(errno));
		as_user = st.st_uid != 0 || st.st_mode & S_IWOTH ||
		    (st.st_mode & S_IWGRP && st.st_gid != 0);
	}
	for (i = 0; i < im->n; i++) {
		o = &im->apps[i];
		if (o->secrets == NULL)
			continue;
		if (!as_user) {
			e = envfile_put(im->envfd, o->envbase, o->secrets,
			    o->secretslen, geteuid() == 0 && o->has_user,
			    o->uid, o->gid, &o->written);
			if (e != 0)
				import_fail(im, "%s: %s%s", o->envfile,
				    strerror(e), e == EEXIST ? " (not "
				    "overwritten: remove it or use --env-dir)" :
				    "");
			continue;
		}
		if (o->has_user) {
			uid = o->uid;
			gid = o->gid;
		} else {
			uid = st.st_uid;
			gid = (pw = getpwuid(uid)) != NULL ? pw->pw_gid :
			    st.st_gid;
		}
		if ((pw = getpwuid(uid)) != NULL)
			snprintf(who, sizeof(who), "%s", pw->pw_name);
		else
			snprintf(who, sizeof(who), "uid %u", (unsigned)uid);
		e = envfile_put_as(im->envfd, o->envbase, o->secrets,
		    o->secretslen, uid, gid, &o->written);
		if (e != 0)
			import_fail(im, "%s: %s (made as %s: %s is not root's "
			    "alone)%s", o->envfile, strerror(e), who,
			    im->envdir, e == EEXIST ? " (not overwritten: "
			    "remove it or use --env-dir)" : "");
	}
}

static void __attribute__((noreturn, format(printf, 2, 3)))
envdir_fail(const char *dir, const char *fmt, ...)
{
	va_list	ap;
	char	*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	import_die("--env-dir", "%s: %s", dir, msg != NULL ? msg :
	    "out of memory");
}

/* --env-dir, opened once: the .env files are made in that directory
 * with openat(), whatever happens to its path later (the ecosystem
 * file's own code runs in between).  Root opens it a name at a time and
 * follows no symbolic link: a link the app's user made would have root
 * make a file of theirs in a directory of root's.  *abs: its path. */
static int
open_envdir(const char *dir, char **abs)
{
	struct stat	 a, b;
	char		*copy, *comp, *save = NULL;
	int		 fd, nfd;

	if (geteuid() != 0) {
		if ((*abs = realpath(dir, NULL)) == NULL)
			envdir_fail(dir, "%s", strerror(errno));
		if ((fd = open(*abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			envdir_fail(dir, "%s", strerror(errno));
		return fd;
	}
	if ((copy = strdup(dir)) == NULL)
		envdir_fail(dir, "out of memory");
	if ((fd = open(*dir == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		envdir_fail(dir, "%s", strerror(errno));
	for (comp = strtok_r(copy, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		if (strcmp(comp, ".") == 0)
			continue;
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd == -1 && (errno == ELOOP || errno == ENOTDIR) &&
		    fstatat(fd, comp, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(a.st_mode))
			envdir_fail(dir, "%s: a symbolic link: root makes .env "
			    "files only on a path without one (give the "
			    "directory's real path)", comp);
		if (nfd == -1)
			envdir_fail(dir, "%s: %s", comp, strerror(errno));
		close(fd);
		fd = nfd;
	}
	free(copy);
	/* The path printed in env_file = is the directory opened. */
	if ((*abs = realpath(dir, NULL)) == NULL)
		envdir_fail(dir, "%s", strerror(errno));
	if (fstat(fd, &a) != 0 || stat(*abs, &b) != 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino)
		envdir_fail(dir, "changed while it was opened");
	return fd;
}

int
import_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "env-dir", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct imp	 im;
	struct import_src src;
	struct passwd	*pw;
	const char	*envdir = ".", *why, *name;
	char		 cwd[PATH_MAX], *resolved;
	json_t		*root, *apps, *app;
	size_t		 i, j;
	int		 ch, dump;

	memset(&im, 0, sizeof(im));
	im.envname = "production";
	im.timeout = IMPORT_TIMEOUT_MS;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			printf("usage: tendctl import pm2 FILE [--env NAME] "
			    "[--env-dir DIR] [--timeout DURATION]\n"
			    "(see tendctl(1), COMMANDS)\n");
			exit(0);
		case 'e':
			if (!env_valid_key(optarg, strlen(optarg)))
				import_usage();
			im.envname = optarg;
			break;
		case 'd':
			envdir = optarg;
			break;
		case 't':
			if (parse_duration(optarg, &im.timeout, &why) != 0 ||
			    (im.timeout == 0 && (why = "must be more than 0")) ||
			    (im.timeout > IMPORT_TIMEOUT_MAX_MS &&
			    (why = "at most 1h"))) {
				fprintf(stderr, "tendctl: --timeout %s: %s\n",
				    optarg, why);
				exit(EXIT_USAGE);
			}
			break;
		default:
			import_usage();
		}
	}
	/* argv: "import" [options] "pm2" FILE, in any order */
	if (argc - optind != 2 || strcmp(argv[optind], "pm2") != 0)
		import_usage();
	im.file = argv[optind + 1];
	im.envfd = open_envdir(envdir, &resolved);
	im.envdir = resolved;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		import_fail(&im, "getcwd: %s", strerror(errno));

	memset(&src, 0, sizeof(src));
	src.file = im.file;
	src.timeout = im.timeout;
	root = import_load(&src);
	im.st = src.st;
	if (im.st.st_uid != 0 && (pw = getpwuid(im.st.st_uid)) != NULL)
		snprintf(im.owner, sizeof(im.owner), "%s", pw->pw_name);
	/* A root-owned file that node ran as a user (the owner of a
	 * directory above it): what node printed is that user's doing. */
	snprintf(im.author, sizeof(im.author), "%s", im.owner);
	if (src.ran_as != 0 && (pw = getpwuid(src.ran_as)) != NULL)
		snprintf(im.author, sizeof(im.author), "%s", pw->pw_name);
	apps = app_list(&im, root);
	if (json_array_size(apps) == 0)
		import_fail(&im, "no apps in it");
	if ((im.apps = calloc(json_array_size(apps), sizeof(*im.apps))) == NULL)
		oom(&im);
	json_array_foreach(apps, i, app) {
		if (!json_is_object(app))
			import_fail(&im, "app %zu is not an object", i + 1);
		/* A dump has one entry per instance: one app of them. */
		dump = json_object_get(app, "pm_exec_path") != NULL;
		name = json_string_value(json_object_get(app, "name"));
		for (j = 0; dump && name != NULL && j < im.n; j++)
			if (json_object_get(im.apps[j].src, "pm_exec_path") &&
			    json_string_value(json_object_get(im.apps[j].src,
			    "name")) != NULL && strcmp(json_string_value(
			    json_object_get(im.apps[j].src, "name")), name) == 0)
				break;
		if (dump && name != NULL && j < im.n) {
			im.apps[j].count++;
			continue;
		}
		/* A PM2 module (pm2-logrotate): PM2's own, not an app. */
		if (json_is_true(json_object_get(app, "pmx_module")))
			continue;
		im.apps[im.n].src = app;
		im.apps[im.n].count = 1;
		im.apps[im.n].name = tend_name(&im, app);
		im.n++;
	}
	if (im.n == 0)
		import_fail(&im, "no apps in it (PM2 modules only)");
	for (i = 0; i < im.n; i++)
		map_app(&im, &im.apps[i], cwd);
	write_envfiles(&im);

	note(stdout, "; tend.conf sections for the PM2 apps of %s\n", im.file);
	if (json_object_get(im.apps[0].src, "pm_exec_path") == NULL)
		printf("; (tendctl import pm2; environment: env with env_%s "
		    "over it)\n", im.envname);
	else
		printf("; (tendctl import pm2; environment: as PM2 saved it)\n");
	printf("; Check each, add them to tend.conf, then run tendd -t.\n\n");
	for (i = 0; i < im.n; i++) {
		fwrite(im.apps[i].sect, 1, im.apps[i].sectlen, stdout);
		if (im.apps[i].secrets != NULL)
			fprintf(stderr, "tendctl: %s: its secrets are in %s "
			    "(not shown)\n", im.apps[i].name,
			    im.apps[i].envfile);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		import_fail(&im, "stdout: %s", strerror(errno));
	for (i = 0; i < im.n; i++) {
		free(im.apps[i].name);
		free(im.apps[i].sect);
		free(im.apps[i].secrets);
		free(im.apps[i].envfile);
	}
	free(im.apps);
	json_decref(apps);
	json_decref(root);
	free(im.envdir);
	close(im.envfd);
	return 0;
}
