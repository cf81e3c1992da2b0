/*
 * nginx-lua.c: switching an app's traffic to a new port set without
 * reloading nginx (nginx_switch = lua).
 *
 * nginx's reload closes every idle keep-alive client connection, and a
 * request a client sends on one at that instant is reset; clients that
 * never retry (Python's http.client, Go's POST) see it fail.  So with
 * Debian's libnginx-mod-http-lua the upstream file tend writes holds:
 *
 *   - a lua_shared_dict (one per app), shared by every nginx worker;
 *   - the upstream block, whose balancer_by_lua picks a port from the
 *     set in the dict, or from the set written in the file when the dict
 *     holds none or an older one (a fresh nginx, or a reload after the
 *     file changed: every set carries a generation, milliseconds of the
 *     wall clock when tend made it, and the newer wins);
 *   - a server on a Unix socket beside the file, in nginx_upstream's
 *     directory, which tend requires to be root's alone (mode 0700): nginx
 *     makes the socket 0666, so the directory is what keeps every user but
 *     root from it.  A PUT of "GEN PORT..." there sets the dict.
 *
 * A 200 answer to the PUT is the confirmation: the dict lives in shared
 * memory, so from then on every worker's next pick is in the new set, and
 * the old instances may drain.  Requests already sent to the old set
 * finish there (drain_timeout).  Upstream keep-alive connections are
 * pooled per peer address, so one to an old port is never handed to a
 * request for a new one; nginx closes the idle ones when the old instance
 * exits, and keepalive_timeout is kept below Node's own 5 s so nginx never
 * sends on a connection the app is closing.
 *
 * The file is still tend's memory of which set serves (nginx.c's
 * nginx_serving reads its first server line), and still what nginx uses
 * after a restart, so tend writes it before every push.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tendd.h"

/* A push answers in milliseconds; past this nginx is not listening. */
#define NGINX_PUSH_MS	5000
/* nginx's answer: a status line, a few headers, a line of body. */
#define NGINX_PUSH_MAX	2048

const char *const nginx_switch_names[] = {
	[NGINX_SWITCH_AUTO] = "auto",
	[NGINX_SWITCH_LUA] = "lua",
	[NGINX_SWITCH_RELOAD] = "reload",
};

/* The directory of nginx_upstream, into dir. */
static int
upstream_dirname(const struct conf_app *ca, char *dir, size_t len)
{
	const char	*slash = strrchr(ca->nginx_upstream, '/');
	int		 n;

	if (slash == NULL)
		return -1;
	if (slash == ca->nginx_upstream)
		n = snprintf(dir, len, "/");
	else
		n = snprintf(dir, len, "%.*s", (int)(slash -
		    ca->nginx_upstream), ca->nginx_upstream);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
nginx_lua_socket(const struct conf_app *ca, char *path, size_t len)
{
	char	dir[PATH_MAX];
	int	n;

	if (ca->nginx_upstream == NULL ||
	    upstream_dirname(ca, dir, sizeof(dir)) != 0)
		return -1;
	n = snprintf(path, len, "%s/tend-%s.sock", strcmp(dir, "/") == 0 ?
	    "" : dir, ca->name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * Which switch an app uses, and why (a sentence for tendd -t and the
 * log): NGINX_SWITCH_LUA or NGINX_SWITCH_RELOAD; -1 when nginx_switch =
 * lua asks for what is missing.  Only stat(2): cheap enough for every
 * switch, and it needs no nginx running.
 */
int
nginx_switch_mode(const struct conf_app *ca, char *why, size_t len)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	char			 dir[PATH_MAX], sock[PATH_MAX];

	if (ca->nginx_upstream == NULL) {
		snprintf(why, len, "no nginx_upstream");
		return NGINX_SWITCH_RELOAD;
	}
	if (ca->nginx_switch == NGINX_SWITCH_RELOAD) {
		snprintf(why, len, "nginx_switch = reload");
		return NGINX_SWITCH_RELOAD;
	}
	if (stat(NGINX_LUA_MODULE, &st) != 0) {
		snprintf(why, len, "%s: %s (apt install libnginx-mod-http-lua)",
		    NGINX_LUA_MODULE, strerror(errno));
		goto missing;
	}
	if (upstream_dirname(ca, dir, sizeof(dir)) != 0 ||
	    nginx_lua_socket(ca, sock, sizeof(sock)) != 0 ||
	    strlen(sock) >= sizeof(sun.sun_path)) {
		snprintf(why, len, "the switch socket beside %s would be a path "
		    "too long for a Unix socket", ca->nginx_upstream);
		goto missing;
	}
	if (stat(dir, &st) != 0) {
		snprintf(why, len, "%s: %s", dir, strerror(errno));
		goto missing;
	}
	if (st.st_uid != 0 || (st.st_mode & 077) != 0) {
		snprintf(why, len, "%s is mode %04o, owner uid %u: nginx's switch "
		    "socket there would be open to others (chown root and "
		    "chmod 700 it)", dir, (unsigned)(st.st_mode & 07777),
		    (unsigned)st.st_uid);
		goto missing;
	}
	snprintf(why, len, "libnginx-mod-http-lua is installed and %s is "
	    "root's alone: switches set nginx's port set over %s, no reload",
	    dir, sock);
	return NGINX_SWITCH_LUA;
missing:
	if (ca->nginx_switch == NGINX_SWITCH_LUA)
		return -1;
	return NGINX_SWITCH_RELOAD;
}

/* The newest generation given out, or read back from a file. */
static uint64_t	gen_last;

/*
 * A set's generation: the wall clock in ms, so that a set tendd wrote
 * before a restart still compares right; never less than the last one
 * given out or seen in an upstream file (nginx_lua_gen_seen), so a clock
 * stepped back, while tendd runs or before it started, cannot make nginx
 * refuse (409) a newer set as older.
 */
uint64_t
nginx_lua_gen(void)
{
	uint64_t	last = gen_last;
	struct timespec	ts;
	uint64_t	now = 0;

	if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
		now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec /
		    1000000;
	gen_last = now > last ? now : last + 1;
	return gen_last;
}

/*
 * text is an upstream file as nginx_lua_text writes it (an earlier
 * tendd's): later generations come after the one it holds, which nginx
 * may have in its dict.  Anything else is ignored.
 */
void
nginx_lua_gen_seen(const char *text)
{
	static const char	 key[] = "\t\tlocal gen, ports = ";
	const char		*p;
	char			*end;
	unsigned long long	 g;

	if ((p = strstr(text, key)) == NULL)
		return;
	p += sizeof(key) - 1;
	errno = 0;
	g = strtoull(p, &end, 10);
	if (end == p || *end != ',' || errno != 0)
		return;
	if (g > gen_last)
		gen_last = g;
}

/* "P1 P2 ..." of the slots from base. */
static int
port_list(const struct app *app, unsigned base, char *buf, size_t len)
{
	size_t		off = 0;
	unsigned	i;
	int		n;

	buf[0] = '\0';
	for (i = base; i < base + app->n_run; i++) {
		n = snprintf(buf + off, len - off, "%s%u", off ? " " : "",
		    app->inst[i].port);
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/*
 * The upstream file for nginx_switch = lua.  As with nginx_text, only
 * numbers tend computed and names it checked (the app's name is a conf
 * section name; the socket path is from tend.conf, root's) reach it.
 */
int
nginx_lua_text(const struct app *app, unsigned base, const char *release,
    uint64_t gen, char *buf, size_t len)
{
	char	ports[APP_MAX_INSTANCES * 8], sock[PATH_MAX];
	int	n;

	if (release == NULL || !valid_release_id(release))
		release = "-";
	if (port_list(app, base, ports, sizeof(ports)) != 0 ||
	    nginx_lua_socket(app->ca, sock, sizeof(sock)) != 0)
		return -1;
	n = snprintf(buf, len,
"# Written by tend for app %s (release %s); do not edit.\n"
"# nginx_switch = lua: tend sets the live port set over the socket below;\n"
"# nginx needs no reload.  This file's set is used until a newer one comes.\n"
"lua_shared_dict tend_%s 64k;\n"
"upstream tend_%s {\n"
"\tserver 127.0.0.1:%u;\t# the balancer below picks the peer\n"
"\tbalancer_by_lua_block {\n"
"\t\tlocal gen, ports = %llu, \"%s\"\n"
"\t\tlocal set = ngx.shared[\"tend_%s\"]:get(\"set\")\n"
"\t\tif set ~= nil then\n"
"\t\t\tlocal g, p = set:match(\"^(%%d+) (.+)$\")\n"
"\t\t\tif g ~= nil and tonumber(g) >= gen then ports = p end\n"
"\t\tend\n"
"\t\tlocal c = package.loaded[\"tend_%s\"]\n"
"\t\tif c == nil then c = { i = 0 }; package.loaded[\"tend_%s\"] = c end\n"
"\t\tif c.ports ~= ports then\n"
"\t\t\tc.list = {}\n"
"\t\t\tfor p in ports:gmatch(\"%%d+\") do c.list[#c.list + 1] = tonumber(p) end\n"
"\t\t\tc.ports = ports\n"
"\t\tend\n"
"\t\tlocal b = require \"ngx.balancer\"\n"
"\t\tif b.get_last_failure() == nil and #c.list > 1 then\n"
"\t\t\tb.set_more_tries(#c.list - 1)\n"
"\t\tend\n"
"\t\tc.i = c.i %% #c.list + 1\n"
"\t\tlocal ok, err = b.set_current_peer(\"127.0.0.1\", c.list[c.i])\n"
"\t\tif not ok then\n"
"\t\t\tngx.log(ngx.ERR, \"tend_%s: \", err)\n"
"\t\t\treturn ngx.exit(502)\n"
"\t\tend\n"
"\t}\n"
"\tkeepalive 16;\n"
"\tkeepalive_timeout 4s;\t# below Node's 5 s keepAliveTimeout\n"
"}\n"
"server {\n"
"\tlisten unix:%s;\n"
"\taccess_log off;\n"
"\tlocation = /tend/switch {\n"
"\t\tcontent_by_lua_block {\n"
"\t\t\tlocal d = ngx.shared[\"tend_%s\"]\n"
"\t\t\tif ngx.req.get_method() == \"GET\" then\n"
"\t\t\t\tngx.say(d:get(\"set\") or \"\")\n"
"\t\t\t\treturn\n"
"\t\t\tend\n"
"\t\t\tngx.req.read_body()\n"
"\t\t\tlocal body = ngx.req.get_body_data() or \"\"\n"
"\t\t\tlocal g, p = body:match(\"^(%%d+) (%%d+[%%d ]*)\\n?$\")\n"
"\t\t\tif ngx.req.get_method() ~= \"PUT\" or g == nil then\n"
"\t\t\t\tngx.status = 400\n"
"\t\t\t\tngx.say(\"expected PUT of GENERATION PORT...\")\n"
"\t\t\t\treturn\n"
"\t\t\tend\n"
"\t\t\tlocal cur = d:get(\"set\")\n"
"\t\t\tif cur ~= nil and tonumber(cur:match(\"^%%d+\")) > tonumber(g) then\n"
"\t\t\t\tngx.status = 409\n"
"\t\t\t\tngx.say(\"a newer set is in place: \", cur)\n"
"\t\t\t\treturn\n"
"\t\t\tend\n"
"\t\t\tlocal ok, err = d:set(\"set\", g .. \" \" .. p)\n"
"\t\t\tif not ok then\n"
"\t\t\t\tngx.status = 500\n"
"\t\t\t\tngx.say(err)\n"
"\t\t\t\treturn\n"
"\t\t\tend\n"
"\t\t\tngx.say(\"ok \", g, \" \", p)\n"
"\t\t}\n"
"\t}\n"
"\tlocation / { return 404; }\n"
"}\n",
	    app->name, release, app->name, app->name, app->inst[base].port,
	    (unsigned long long)gen, ports, app->name, app->name, app->name,
	    app->name, sock, app->name);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* --- the push: one PUT over nginx's Unix socket ----------------------- */

struct nginx_push {
	uv_pipe_t	 pipe;
	uv_timer_t	 timer;
	uv_connect_t	 conn;
	uv_write_t	 wr;
	unsigned	 open;		/* handles not yet closed */
	int		 ended;
	nginx_push_cb	 cb;		/* NULL once canceled */
	void		*arg;
	char		 req[512];
	size_t		 reqlen;
	char		 buf[NGINX_PUSH_MAX + 1];
	size_t		 len;
};

static void
push_closed_cb(uv_handle_t *h)
{
	struct nginx_push	*p = h->data;

	if (--p->open == 0)
		free(p);
}

static void
push_end(struct nginx_push *p, int ok, const char *msg)
{
	nginx_push_cb	cb = p->cb;

	if (p->ended)
		return;
	p->ended = 1;
	p->cb = NULL;
	uv_close((uv_handle_t *)&p->timer, push_closed_cb);
	uv_close((uv_handle_t *)&p->pipe, push_closed_cb);
	if (cb != NULL)
		cb(p->arg, ok, msg);
}

/* The whole answer is in: its status, and its first body line. */
static void
push_answer(struct nginx_push *p)
{
	struct http_head	 h;
	const char		*why = NULL;
	char			 msg[300], *e;

	p->buf[p->len] = '\0';
	if (http_parse_head(p->buf, p->len, &h, &why) != 1) {
		snprintf(msg, sizeof(msg), "nginx's answer: %s", why != NULL ?
		    why : "incomplete");
		push_end(p, 0, msg);
		return;
	}
	snprintf(msg, sizeof(msg), "%s", p->buf + h.body_off);
	if ((e = strpbrk(msg, "\r\n")) != NULL)
		*e = '\0';
	if (h.status != 200) {
		char m2[360];

		snprintf(m2, sizeof(m2), "nginx answered %d: %s", h.status,
		    msg[0] ? msg : "(no text)");
		push_end(p, 0, m2);
		return;
	}
	push_end(p, 1, msg);
}

static void
push_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct nginx_push	*p = h->data;

	(void)hint;
	b->base = p->buf + p->len;
	b->len = NGINX_PUSH_MAX - p->len;
}

static void
push_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct nginx_push	*p = s->data;
	char			 msg[200];

	(void)b;
	if (n == UV_EOF || (n > 0 && p->len + (size_t)n >= NGINX_PUSH_MAX)) {
		if (n > 0)
			p->len += (size_t)n;
		push_answer(p);
		return;
	}
	if (n < 0) {
		snprintf(msg, sizeof(msg), "reading nginx's answer: %s",
		    uv_strerror((int)n));
		push_end(p, 0, msg);
		return;
	}
	p->len += (size_t)n;
}

static void
push_write_cb(uv_write_t *w, int status)
{
	struct nginx_push	*p = w->data;
	char			 msg[200];

	if (status < 0 && !p->ended) {
		snprintf(msg, sizeof(msg), "sending to nginx: %s",
		    uv_strerror(status));
		push_end(p, 0, msg);
	}
}

static void
push_connect_cb(uv_connect_t *c, int status)
{
	struct nginx_push	*p = c->data;
	uv_buf_t		 b;
	char			 msg[200];
	int			 r;

	if (p->ended)
		return;
	if (status < 0) {
		snprintf(msg, sizeof(msg), "connecting: %s",
		    uv_strerror(status));
		push_end(p, 0, msg);
		return;
	}
	b = uv_buf_init(p->req, (unsigned)p->reqlen);
	p->wr.data = p;
	if ((r = uv_write(&p->wr, (uv_stream_t *)&p->pipe, &b, 1,
	    push_write_cb)) != 0 || (r = uv_read_start((uv_stream_t *)&p->pipe,
	    push_alloc_cb, push_read_cb)) != 0) {
		snprintf(msg, sizeof(msg), "sending to nginx: %s",
		    uv_strerror(r));
		push_end(p, 0, msg);
	}
}

static void
push_timeout_cb(uv_timer_t *t)
{
	push_end(t->data, 0, "nginx did not answer in 5 s");
}

/*
 * Tell nginx the port set of the slots from base, generation gen (the
 * one in the file just written).  cb(arg, ok, msg) once, from the loop,
 * unless nginx_push_cancel came first.  NULL with why when it cannot
 * even start.
 */
struct nginx_push *
nginx_push(struct app *app, unsigned base, uint64_t gen, nginx_push_cb cb,
    void *arg, char *why, size_t len)
{
	struct nginx_push	*p;
	char			 ports[APP_MAX_INSTANCES * 8], sock[PATH_MAX];
	char			 body[APP_MAX_INSTANCES * 8 + 32];
	int			 n, r;

	if (port_list(app, base, ports, sizeof(ports)) != 0 ||
	    nginx_lua_socket(app->ca, sock, sizeof(sock)) != 0) {
		snprintf(why, len, "no switch socket for %s", app->name);
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	n = snprintf(body, sizeof(body), "%llu %s\n", (unsigned long long)gen,
	    ports);
	n = snprintf(p->req, sizeof(p->req), "PUT /tend/switch HTTP/1.0\r\n"
	    "Host: tend\r\nUser-Agent: tend/%s\r\nContent-Length: %d\r\n\r\n%s",
	    PACKAGE_VERSION, n, body);
	if (n < 0 || (size_t)n >= sizeof(p->req)) {
		free(p);
		snprintf(why, len, "request too long");
		return NULL;
	}
	p->reqlen = (size_t)n;
	p->cb = cb;
	p->arg = arg;
	if ((r = uv_pipe_init(app->t->loop, &p->pipe, 0)) != 0) {
		free(p);
		snprintf(why, len, "uv_pipe_init: %s", uv_strerror(r));
		return NULL;
	}
	p->open++;
	p->pipe.data = p;
	if ((r = uv_timer_init(app->t->loop, &p->timer)) != 0) {
		uv_close((uv_handle_t *)&p->pipe, push_closed_cb);
		snprintf(why, len, "uv_timer_init: %s", uv_strerror(r));
		return NULL;
	}
	p->open++;
	p->timer.data = p;
	p->conn.data = p;
	/* libuv 1.44's uv_pipe_connect reports every error to the callback. */
	uv_pipe_connect(&p->conn, &p->pipe, sock, push_connect_cb);
	uv_timer_start(&p->timer, push_timeout_cb, NGINX_PUSH_MS, 0);
	return p;
}

/* The caller goes away: no callback; the handles close by themselves. */
void
nginx_push_cancel(struct nginx_push *p)
{
	if (p == NULL)
		return;
	p->cb = NULL;
	push_end(p, 0, NULL);
}
