/*
 * control.c: the control socket.  A Unix stream socket (or the one systemd
 * passes by socket activation) where each client sends one JSON object per
 * line and gets event lines and then a reply holding "ok".  Requests run
 * one at a time per client, in order.
 *
 * Bounded at every edge: a request is at most PROTO_MAX_REQUEST bytes and
 * the limit is checked before the newline arrives; a client must finish a
 * request within CLIENT_IDLE_MS; there are at most MAX_CLIENTS; a client
 * with more than CLIENT_QUEUE_HIGH bytes of replies waiting is neither
 * read nor served until it has read them (a follower is dropped to
 * instead, by logpipe.c).  A bad client gets an error and is closed; the
 * daemon never is.
 *
 * This file knows nothing of what the commands do: cmd.c runs them, and
 * whoever keeps a client hears of its end through client_on_close.
 *
 * Who may talk: the peer is identified with SO_PEERCRED: root, tendd's
 * own uid, and members of socket_group (primary or supplementary group,
 * read from /proc/PID/status so no NSS lookup blocks the loop).
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "tendd.h"

/* More clients than this at once is an attack or a bug. */
#define MAX_CLIENTS	1024
/* A client that has not finished its request line by then is dropped
 * (slowloris). */
#define CLIENT_IDLE_MS	10000
#define LISTEN_BACKLOG	511
/*
 * A client that asks and does not read (3,000 pipelined `logs`) would
 * make tendd hold every reply.  Past CLIENT_QUEUE_HIGH queued bytes its
 * input is left in the kernel and its pipelined requests wait; both go
 * on once it is down to CLIENT_QUEUE_LOW (bgpd's control.c, redis's
 * client output buffers).  Its memory is then the high mark, the last
 * reply that crossed it and one input buffer.
 */
#define CLIENT_QUEUE_HIGH	(1024 * 1024)
#define CLIENT_QUEUE_LOW	(256 * 1024)

/* What a layer above asked to hear about a client (client_on_close). */
enum hook_on { HOOK_CLOSE, HOOK_DRAIN };
struct client_hook {
	LIST_ENTRY(client_hook) entry;
	enum hook_on	 on;
	unsigned	 ran;		/* the drain pass that ran it */
	void		(*fn)(struct client *, void *);
	void		*arg;
};

struct client {
	LIST_ENTRY(client) entry;
	struct tend	*t;
	uv_pipe_t	 pipe;
	uv_timer_t	 idle;
	char		*in;
	size_t		 in_len;
	int		 busy;
	int		 closing;
	int		 close_after_write;
	int		 stalled;	/* over CLIENT_QUEUE_HIGH: not served */
	int		 full;		/* busy, in full of requests: unread */
	unsigned	 drain_gen;	/* hooks_run_drain's pass */
	unsigned	 handles;
	size_t		 queued;
	uid_t		 uid;
	pid_t		 pid;
	LIST_HEAD(, client_hook) hooks;
};

struct control {
	uv_pipe_t	 server;
	char		*path;
	int		 activated;
	gid_t		 gid;
	int		 have_gid;
	unsigned	 n_clients;
	LIST_HEAD(, client) clients;
};

struct wreq {
	uv_write_t	 req;
	struct client	*c;
	size_t		 len;
	char		 data[];
};

static void	client_close(struct client *);
static void	client_dispatch(struct client *);
static void	client_alloc_cb(uv_handle_t *, size_t, uv_buf_t *);
static void	client_read_cb(uv_stream_t *, ssize_t, const uv_buf_t *);
static void	next_cb(uv_timer_t *);
static void	idle_cb(uv_timer_t *);

static void
client_freed_cb(uv_handle_t *h)
{
	struct client	*c = h->data;

	if (--c->handles > 0)
		return;
	free(c->in);
	free(c);
}

/* --- hooks: how the layers above hear about a client ---------------- */

static struct client_hook *
hook_add(struct client *c, enum hook_on on, void (*fn)(struct client *, void *),
    void *arg)
{
	struct client_hook	*h;

	if (c->closing)
		return NULL;
	LIST_FOREACH(h, &c->hooks, entry)
		if (h->on == on && h->fn == fn && h->arg == arg)
			return h;
	if ((h = malloc(sizeof(*h))) == NULL)
		return NULL;
	h->on = on;
	h->ran = 0;
	h->fn = fn;
	h->arg = arg;
	LIST_INSERT_HEAD(&c->hooks, h, entry);
	return h;
}

/*
 * fn(c, arg) runs once when c closes (the peer hung up, broke the rules,
 * or tendd stops), before c is gone: whoever keeps c must forget it
 * there.  The hook is freed just before fn runs.  Adding the same fn and
 * arg twice adds one hook.  NULL when out of memory or c is closing.
 */
struct client_hook *
client_on_close(struct client *c, void (*fn)(struct client *, void *),
    void *arg)
{
	return hook_add(c, HOOK_CLOSE, fn, arg);
}

/*
 * fn(c, arg) runs each time everything queued for c has been written.
 * fn may send (and so close c), but must not remove other hooks; its
 * owner removes it, at the latest from its close hook.
 */
struct client_hook *
client_on_drain(struct client *c, void (*fn)(struct client *, void *),
    void *arg)
{
	return hook_add(c, HOOK_DRAIN, fn, arg);
}

void
client_hook_remove(struct client_hook *h)
{
	if (h == NULL)
		return;
	LIST_REMOVE(h, entry);
	free(h);
}

static void
hooks_run_close(struct client *c)
{
	struct client_hook	*h;
	void			(*fn)(struct client *, void *);
	void			*arg;

	/* A close hook may remove other hooks: look again each time. */
	for (;;) {
		LIST_FOREACH(h, &c->hooks, entry)
			if (h->on == HOOK_CLOSE)
				break;
		if (h == NULL)
			break;
		fn = h->fn;
		arg = h->arg;
		client_hook_remove(h);
		fn(c, arg);
	}
	while ((h = LIST_FIRST(&c->hooks)) != NULL)
		client_hook_remove(h);	/* drain hooks left by their owner */
}

/* A drain hook may remove others (its request ended, with its close
 * hook): look again after each, running each once. */
static void
hooks_run_drain(struct client *c)
{
	struct client_hook	*h;
	unsigned		 gen = ++c->drain_gen;

again:
	LIST_FOREACH(h, &c->hooks, entry) {
		if (h->on != HOOK_DRAIN || h->ran == gen)
			continue;
		h->ran = gen;
		h->fn(c, h->arg);
		if (c->closing)
			return;	/* every hook is gone */
		goto again;
	}
}

static void
client_close(struct client *c)
{
	struct control	*ctl = c->t->ctl;

	if (c->closing)
		return;
	c->closing = 1;
	hooks_run_close(c);
	LIST_REMOVE(c, entry);
	ctl->n_clients--;
	uv_close((uv_handle_t *)&c->pipe, client_freed_cb);
	uv_close((uv_handle_t *)&c->idle, client_freed_cb);
}

struct tend *
client_tend(struct client *c)
{
	return c->t;
}

int
client_is_closing(struct client *c)
{
	return c->closing;
}

size_t
client_queue_size(struct client *c)
{
	return c->queued;
}

/* Read c again when its buffer has room; when it is full of requests,
 * client_dispatch does, once it took one out (a read into no room would
 * be an error). */
static void
client_read_again(struct client *c)
{
	if (c->closing || c->stalled)
		return;
	if (c->in_len > PROTO_MAX_REQUEST) {
		c->full = 1;
		return;
	}
	c->full = 0;
	uv_read_start((uv_stream_t *)&c->pipe, client_alloc_cb, client_read_cb);
}

/* Too much is queued for c: leave its input in the kernel, run none of
 * its pipelined requests, and do not time it out: tendd is the one
 * waiting. */
static void
client_stall(struct client *c)
{
	c->stalled = 1;
	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_timer_stop(&c->idle);
}

/* It has read most of it: read it again, and run its next request. */
static void
client_unstall(struct client *c)
{
	c->stalled = 0;
	if (c->close_after_write)
		return;		/* rejected: it only gets its error */
	client_read_again(c);
	if (c->busy)
		return;
	if (c->in_len > 0)
		uv_timer_start(&c->idle, next_cb, 0, 0);
	else
		uv_timer_start(&c->idle, idle_cb, CLIENT_IDLE_MS, 0);
}

static void
write_cb(uv_write_t *req, int status)
{
	struct wreq	*w = (struct wreq *)req;
	struct client	*c = w->c;

	c->queued -= w->len;
	free(w);
	if (c->closing)
		return;
	if (status != 0 || (c->close_after_write && c->queued == 0)) {
		client_close(c);
		return;
	}
	if (c->stalled && c->queued <= CLIENT_QUEUE_LOW)
		client_unstall(c);
	if (c->queued == 0)
		hooks_run_drain(c);
}

static int
client_write_raw(struct client *c, const char *p, size_t len)
{
	struct wreq	*w;
	uv_buf_t	 b;
	int		 r;

	if (c->closing)
		return -1;
	if ((w = malloc(sizeof(*w) + len)) == NULL) {
		client_close(c);
		return -1;
	}
	memcpy(w->data, p, len);
	w->c = c;
	w->len = len;
	b = uv_buf_init(w->data, (unsigned)len);
	if ((r = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1,
	    write_cb)) != 0) {
		free(w);
		client_close(c);
		return -1;
	}
	c->queued += len;
	if (c->queued > CLIENT_QUEUE_HIGH && !c->stalled)
		client_stall(c);
	return 0;
}

int
client_send(struct client *c, json_t *v)
{
	char	*s;
	size_t	 len;
	int	 r;

	if (v == NULL) {
		client_close(c);
		return -1;
	}
	s = proto_encode(v, &len);
	json_decref(v);
	if (s == NULL) {
		client_close(c);
		return -1;
	}
	r = client_write_raw(c, s, len);
	free(s);
	return r;
}

/* The final reply to the current request; the next one may follow. */
void
client_finish(struct client *c, json_t *v)
{
	if (c->closing) {
		json_decref(v);
		return;
	}
	client_send(c, v);
	c->busy = 0;
	/* The next pipelined request runs from the loop, not from inside
	 * whatever finished this one; a stalled client's when it reads. */
	if (c->closing || c->stalled)
		return;
	if (c->in_len > 0)
		uv_timer_start(&c->idle, next_cb, 0, 0);
	else
		uv_timer_start(&c->idle, idle_cb, CLIENT_IDLE_MS, 0);
}

/* Reply with an error and hang up: for clients that broke the rules. */
static void
client_reject(struct client *c, const char *msg)
{
	json_t	*v = json_pack("{s:b,s:s}", "ok", 0, "error", msg);

	uv_read_stop((uv_stream_t *)&c->pipe);
	c->close_after_write = 1;
	if (client_send(c, v) == 0 && c->queued == 0)
		client_close(c);
}

static void
idle_cb(uv_timer_t *h)
{
	struct client	*c = h->data;

	if (c->in_len == 0 && !c->busy) {
		client_close(c);	/* idle between requests: just hang up */
		return;
	}
	client_reject(c, "request not completed in time");
}

static void
next_cb(uv_timer_t *h)
{
	client_dispatch(h->data);
}

static void
client_dispatch(struct client *c)
{
	char		*nl;
	size_t		 len;
	json_t		*req;
	const char	*why;

	while (!c->busy && !c->closing && !c->stalled &&
	    (nl = memchr(c->in, '\n', c->in_len)) != NULL) {
		len = (size_t)(nl - c->in);
		req = proto_decode(c->in, len, &why);
		c->in_len -= len + 1;
		memmove(c->in, nl + 1, c->in_len);
		if (req == NULL) {
			client_reject(c, why);
			return;
		}
		c->busy = 1;
		uv_timer_stop(&c->idle);
		cmd_dispatch(c->t, c, req);
		json_decref(req);
	}
	if (c->full)
		client_read_again(c);
	/* A stalled client is not idle: it is tendd that waits. */
	if (!c->busy && !c->closing && !c->stalled && c->in_len > 0)
		uv_timer_start(&c->idle, idle_cb, CLIENT_IDLE_MS, 0);
}

static void
client_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct client	*c = h->data;

	buf->base = c->in + c->in_len;
	buf->len = PROTO_MAX_REQUEST + 1 - c->in_len;
}

static void
client_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct client	*c = s->data;

	if (nread < 0) {
		/* The peer went away: anything it waited for is moot. */
		client_close(c);
		return;
	}
	c->in_len += (size_t)nread;
	if (memchr(c->in, '\n', c->in_len) == NULL) {
		if (c->in_len > PROTO_MAX_REQUEST) {
			client_reject(c, "request too large (limit 64 KiB)");
			return;
		}
		if (!c->busy && !uv_is_active((uv_handle_t *)&c->idle))
			uv_timer_start(&c->idle, idle_cb, CLIENT_IDLE_MS, 0);
		return;
	}
	client_dispatch(c);
	/* While a long request runs (logs reads files in the thread pool,
	 * start waits), the requests after it wait: once they fill the
	 * buffer, in the kernel. */
	if (!c->closing && c->busy && c->in_len > PROTO_MAX_REQUEST &&
	    memchr(c->in, '\n', c->in_len) != NULL) {
		c->full = 1;
		uv_read_stop((uv_stream_t *)&c->pipe);
		return;
	}
	if (!c->closing && c->in_len > PROTO_MAX_REQUEST)
		client_reject(c, "request too large (limit 64 KiB)");
}

/* Is gid among the groups of pid (primary or supplementary)? */
static int
pid_in_group(pid_t pid, gid_t gid)
{
	char	 path[64], buf[8192], *p, *end;
	ssize_t	 n;
	int	 fd;
	long	 g;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((p = strstr(buf, "\nGroups:")) == NULL)
		return 0;
	p += 8;
	for (;;) {
		g = strtol(p, &end, 10);
		if (end == p)
			break;
		if ((gid_t)g == gid)
			return 1;
		p = end;
	}
	return 0;
}

static void
accept_cb(uv_stream_t *server, int status)
{
	struct tend	*t = server->data;
	struct control	*ctl = t->ctl;
	struct client	*c;
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	uv_os_fd_t	 fd;
	char		 msg[160];

	if (status != 0) {
		log_warnx("control socket: %s", uv_strerror(status));
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->in = malloc(PROTO_MAX_REQUEST + 1)) == NULL) {
		log_warnx("control socket: out of memory");
		if (c != NULL)
			free(c);
		return;
	}
	c->t = t;
	LIST_INIT(&c->hooks);
	uv_pipe_init(t->loop, &c->pipe, 0);
	uv_timer_init(t->loop, &c->idle);
	c->pipe.data = c->idle.data = c;
	c->handles = 2;
	LIST_INSERT_HEAD(&ctl->clients, c, entry);
	ctl->n_clients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		client_close(c);
		return;
	}
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		log_warn("control socket: SO_PEERCRED");
		client_close(c);
		return;
	}
	c->uid = cred.uid;
	c->pid = cred.pid;
	if (ctl->n_clients > MAX_CLIENTS) {
		client_reject(c, "too many clients");
		return;
	}
	if (cred.uid != 0 && cred.uid != geteuid() && !(ctl->have_gid &&
	    (cred.gid == ctl->gid || pid_in_group(cred.pid, ctl->gid)))) {
		log_warnx("control socket: refused uid %u pid %d: not root%s%s",
		    (unsigned)cred.uid, (int)cred.pid, ctl->have_gid ?
		    " nor in socket_group " : "", ctl->have_gid ?
		    t->conf->socket_group : "");
		/* Who may, and the setting that says so. */
		snprintf(msg, sizeof(msg), "permission denied: uid %u is not "
		    "root%s%s%s", (unsigned)cred.uid, ctl->have_gid ?
		    " and not in group " : "", ctl->have_gid ?
		    t->conf->socket_group : "", ctl->have_gid ?
		    " (socket_group)" : "; socket_group in tend.conf lets "
		    "a group's members in");
		client_reject(c, msg);
		return;
	}
	uv_read_start((uv_stream_t *)&c->pipe, client_alloc_cb, client_read_cb);
	uv_timer_start(&c->idle, idle_cb, CLIENT_IDLE_MS, 0);
}

/* Is a daemon answering on path?  Then it is not ours to unlink. */
static int
socket_in_use(const char *path)
{
	struct sockaddr_un	sun;
	int			fd, r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path) >=
	    (int)sizeof(sun.sun_path))
		return 0;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return r;
}

int
control_start(struct tend *t)
{
	struct control	*ctl;
	struct group	*gr;
	struct stat	 st;
	char		*dcopy, *dir, why[600];
	const char	*base;
	mode_t		 old;
	int		 r, n, dfd;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		fatalx("out of memory");
	t->ctl = ctl;
	LIST_INIT(&ctl->clients);
	if (t->conf->socket_group != NULL) {
		if ((gr = getgrnam(t->conf->socket_group)) == NULL)
			fatalx("socket_group %s: no such group",
			    t->conf->socket_group);
		ctl->gid = gr->gr_gid;
		ctl->have_gid = 1;
	}
	if ((ctl->path = strdup(t->conf->socket)) == NULL)
		fatalx("out of memory");
	uv_pipe_init(t->loop, &ctl->server, 0);
	ctl->server.data = t;

	n = tend_listen_fds();
	if (n > 1)
		fatalx("systemd passed %d sockets; tend wants one", n);
	if (t->ctl_fd_given) {
		/* Listening already, in the tendd this one replaced. */
		if ((r = uv_pipe_open(&ctl->server, t->ctl_fd)) != 0)
			fatalx("control socket from the handover: %s",
			    uv_strerror(r));
		ctl->activated = t->ctl_fd_activated;
	} else if (n == 1) {
		if ((r = uv_pipe_open(&ctl->server, 3)) != 0)
			fatalx("socket from systemd: %s", uv_strerror(r));
		ctl->activated = 1;
		log_info("control socket from systemd (socket activation)");
	} else {
		if ((dcopy = strdup(ctl->path)) == NULL)
			fatalx("out of memory");
		dir = dirname(dcopy);
		/* Root's alone (rootdir.c), made if need be; every directory
		 * on the way lets socket_group members through, whatever
		 * tendd's own umask. */
		old = umask(022);
		if ((dfd = rootdir_open(dir, 0755, why, sizeof(why))) == -1)
			fatalx("socket %s: %s", ctl->path, why);
		umask(old);
		free(dcopy);
		base = strrchr(ctl->path, '/') != NULL ?
		    strrchr(ctl->path, '/') + 1 : ctl->path;
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!S_ISSOCK(st.st_mode))
				fatalx("%s exists and is not a socket",
				    ctl->path);
			if (socket_in_use(ctl->path))
				fatalx("%s: another tendd is already "
				    "listening there", ctl->path);
			if (unlinkat(dfd, base, 0) != 0)
				fatal("unlink stale socket %s", ctl->path);
		}
		close(dfd);
		if ((r = uv_pipe_bind(&ctl->server, ctl->path)) != 0)
			fatalx("bind %s: %s", ctl->path, uv_strerror(r));
		if (chmod(ctl->path, 0660) != 0)
			fatal("chmod %s", ctl->path);
		if (ctl->have_gid && chown(ctl->path, (uid_t)-1, ctl->gid) != 0)
			fatal("chown %s", ctl->path);
	}
	if ((r = uv_listen((uv_stream_t *)&ctl->server, LISTEN_BACKLOG,
	    accept_cb)) != 0)
		fatalx("listen %s: %s", ctl->path, uv_strerror(r));
	return 0;
}

/* The listening socket's fd, for a handover; -1 when closed. */
int
control_fd(struct tend *t, int *activated)
{
	uv_os_fd_t	fd;

	if (t->ctl == NULL ||
	    uv_is_closing((uv_handle_t *)&t->ctl->server) ||
	    uv_fileno((uv_handle_t *)&t->ctl->server, &fd) != 0)
		return -1;
	*activated = t->ctl->activated;
	return fd;
}

/* Stop accepting; clients are closed as their requests end. */
void
control_stop(struct tend *t)
{
	struct control	*ctl = t->ctl;
	struct client	*c, *next;

	if (ctl == NULL || uv_is_closing((uv_handle_t *)&ctl->server))
		return;
	uv_close((uv_handle_t *)&ctl->server, NULL);
	if (!ctl->activated)
		unlink(ctl->path);
	LIST_FOREACH_SAFE(c, &ctl->clients, entry, next)
		if (!c->busy)
			client_close(c);
}

void
control_free(struct tend *t)
{
	if (t->ctl == NULL)
		return;
	free(t->ctl->path);
	free(t->ctl);
	t->ctl = NULL;
}

void
client_close_all(struct tend *t)
{
	struct client	*c, *next;

	if (t->ctl == NULL)
		return;
	LIST_FOREACH_SAFE(c, &t->ctl->clients, entry, next)
		client_close(c);
}
