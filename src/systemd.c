/*
 * systemd.c: speaking systemd's language.  READY=1 once the control
 * socket listens and the config is loaded; STATUS= with a one-line summary
 * whenever it changes; WATCHDOG=1 from a loop timer at half the interval
 * systemd asks for (so a stuck loop is what gets tendd restarted);
 * RELOADING=1 around a reread and STOPPING=1 at shutdown; the control
 * socket from socket activation.  App output is copied to the journal
 * with the app's name as SYSLOG_IDENTIFIER.
 *
 * These are systemd's stable, documented wire protocols (sd_notify(3),
 * sd_listen_fds(3), systemd.journal-fields(7) and the journal's native
 * protocol), spoken directly: libsystemd would bring five compression and
 * crypto libraries (1 MiB resident) for three datagrams.  The sockets are
 * non-blocking: a journald that stalls loses lines, it never stalls the
 * loop.  Everything is a no-op when NOTIFY_SOCKET is unset.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tendd.h"

#define JOURNAL_SOCKET	"/run/systemd/journal/socket"

static int	notify_fd = -1, journal_fd = -1;

/* An AF_UNIX datagram address; '@' is the abstract namespace. */
static int
unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
	size_t	n = strlen(path);

	if (n == 0 || n >= sizeof(sa->sun_path) || (path[0] != '/' &&
	    path[0] != '@'))
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@')
		sa->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (path[0] == '@' ? 0 : 1));
	return 0;
}

static int
dgram_socket(int *fd)
{
	if (*fd == -1)
		*fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	return *fd;
}

/* sd_notify(3): one datagram to $NOTIFY_SOCKET. */
static void
notify(const char *msg)
{
	const char		*path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sa;
	socklen_t		 len;

	if (path == NULL || unix_addr(path, &sa, &len) != 0 ||
	    dgram_socket(&notify_fd) == -1)
		return;
	if (sendto(notify_fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, len) < 0)
		log_debug("notify: %s", strerror(errno));
}

/* sd_watchdog_enabled(3): WATCHDOG_USEC, for us (WATCHDOG_PID). */
static uint64_t
watchdog_usec(void)
{
	const char	*v = getenv("WATCHDOG_USEC"), *p = getenv("WATCHDOG_PID");
	char		*end;
	unsigned long long u;

	if (v == NULL)
		return 0;
	if (p != NULL && strtol(p, NULL, 10) != (long)getpid())
		return 0;
	u = strtoull(v, &end, 10);
	return *end == '\0' ? (uint64_t)u : 0;
}

/*
 * sd_listen_fds(3): how many sockets systemd passed (from fd 3), if they
 * are meant for this process; the variables are removed either way.
 */
int
tend_listen_fds(void)
{
	const char	*pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char		*end = (char *)"";
	long		 n, i;

	n = pid != NULL && fds != NULL && strtol(pid, &end, 10) ==
	    (long)getpid() && *end == '\0' ? strtol(fds, &end, 10) : 0;
	if (fds != NULL && *end != '\0')
		n = 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n <= 0 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		(void)fcntl(3 + (int)i, F_SETFD, FD_CLOEXEC);
	return (int)n;
}

static void
sd_notify(int unused, const char *msg)
{
	(void)unused;
	notify(msg);
}

static int
sd_watchdog_enabled(int unused, uint64_t *usec)
{
	(void)unused;
	*usec = watchdog_usec();
	return *usec > 0;
}

static void
watchdog_cb(uv_timer_t *h)
{
	sd_notify(0, "WATCHDOG=1");
}

void
sd_init(struct tend *t)
{
	uint64_t	usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		t->watchdog_usec = usec;
		uv_timer_init(t->loop, &t->watchdog);
		/* Half the interval, in ms, at least 1. */
		uv_timer_start(&t->watchdog, watchdog_cb,
		    usec / 2000 ? usec / 2000 : 1, usec / 2000 ? usec / 2000 : 1);
		log_info("systemd watchdog every %llu ms",
		    (unsigned long long)(usec / 2000));
	}
}

void
sd_ready(struct tend *t)
{
	t->last_status[0] = '\0';
	t->ready_sent = 1;
	sd_notify(0, "READY=1");
}

void
sd_stopping(struct tend *t)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping apps");
	if (t->watchdog_usec && !uv_is_closing((uv_handle_t *)&t->watchdog))
		uv_timer_stop(&t->watchdog);
}

void
sd_reloading(struct tend *t)
{
	sd_notify(0, "RELOADING=1");
}

/* The counts come from the caller (supervise_summary): this file speaks
 * to systemd and knows nothing of apps. */
void
sd_status_update(struct tend *t, unsigned live, unsigned starting,
    unsigned failed, unsigned down)
{
	char		buf[sizeof(t->last_status) + 64];

	if (t->shutting_down || !t->ready_sent)
		return;
	snprintf(buf, sizeof(buf), "STATUS=%u live, %u starting, %u failed, "
	    "%u stopped", live, starting, failed, down);
	if (strcmp(buf + 7, t->last_status) == 0)
		return;
	snprintf(t->last_status, sizeof(t->last_status), "%.200s", buf + 7);
	sd_notify(0, buf);
}

/*
 * One line to the journal, in its native protocol: "FIELD=value\n" for
 * the fields we make, and MESSAGE in the binary form (name, newline,
 * 64-bit little-endian length, bytes, newline), which any byte may be in.
 */
int
sd_journal_line(const char *app, int idx, int prio, const char *line,
    size_t len)
{
	static struct sockaddr_un sa;
	static socklen_t	 salen;
	char			 head[300], lenbuf[8];
	struct iovec		 iov[4];
	struct msghdr		 mh;
	uint64_t		 l = len;
	int			 n, i;

	if (salen == 0 && unix_addr(JOURNAL_SOCKET, &sa, &salen) != 0)
		return -1;
	if (dgram_socket(&journal_fd) == -1)
		return -1;
	n = snprintf(head, sizeof(head), "PRIORITY=%d\nSYSLOG_IDENTIFIER=%s\n"
	    "TEND_APP=%s\nTEND_INSTANCE=%d\nMESSAGE\n", prio, app, app,
	    idx < 0 ? 0 : idx);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	for (i = 0; i < 8; i++)
		lenbuf[i] = (char)((l >> (8 * i)) & 0xff);
	iov[0].iov_base = head;
	iov[0].iov_len = (size_t)n;
	iov[1].iov_base = lenbuf;
	iov[1].iov_len = 8;
	iov[2].iov_base = (void *)line;
	iov[2].iov_len = len;
	iov[3].iov_base = "\n";
	iov[3].iov_len = 1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = &sa;
	mh.msg_namelen = salen;
	mh.msg_iov = iov;
	mh.msg_iovlen = 4;
	return sendmsg(journal_fd, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}
