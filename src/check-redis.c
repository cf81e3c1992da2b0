/*
 * check-redis.c: is the app's Redis there and usable?  REDIS_URL is
 * parsed with libcurl's URL API, the host resolved with uv_getaddrinfo
 * (hiredis would resolve it blocking), then hiredis's async API on its
 * libuv adapter: AUTH (when the URL has a password), SELECT (when it names
 * a database), PING, INFO server for the version.  A timer bounds it all.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "tendd.h"

struct rcheck {
	struct tend		*t;
	redisAsyncContext	*ac;
	uv_getaddrinfo_t	 gai;
	uv_timer_t		 timer;
	char			*host, *user, *pass;
	int			 port, db, done, resolving, closed;
	uint64_t		 timeout_ms;
	char			 where[300];
	void			(*cb)(void *, int, const char *, json_t *);
	void			*arg;
};

/*
 * hiredis's own libuv adapter (0.14) drops a poll error on the floor, so a
 * refused connection is never reported and the check would sit until its
 * timeout.  This is that adapter with the error passed on: hiredis then
 * reads SO_ERROR and calls the connect callback with it.
 */
struct rc_events {
	redisAsyncContext	*ac;
	uv_poll_t		 poll;
	int			 events;
};

static void
rc_ev_poll_cb(uv_poll_t *h, int status, int events)
{
	struct rc_events	*ev = h->data;

	if (ev->ac == NULL)
		return;
	if (status < 0) {
		/* Let hiredis find the error on the socket. */
		if (!(ev->ac->c.flags & REDIS_CONNECTED))
			redisAsyncHandleWrite(ev->ac);
		else
			redisAsyncHandleRead(ev->ac);
		return;
	}
	if (events & UV_READABLE)
		redisAsyncHandleRead(ev->ac);
	if (ev->ac != NULL && (events & UV_WRITABLE))
		redisAsyncHandleWrite(ev->ac);
}

static void
rc_ev_update(struct rc_events *ev)
{
	if (ev->events)
		uv_poll_start(&ev->poll, ev->events, rc_ev_poll_cb);
	else
		uv_poll_stop(&ev->poll);
}

static void rc_ev_add_read(void *p) { ((struct rc_events *)p)->events |= UV_READABLE; rc_ev_update(p); }
static void rc_ev_del_read(void *p) { ((struct rc_events *)p)->events &= ~UV_READABLE; rc_ev_update(p); }
static void rc_ev_add_write(void *p) { ((struct rc_events *)p)->events |= UV_WRITABLE; rc_ev_update(p); }
static void rc_ev_del_write(void *p) { ((struct rc_events *)p)->events &= ~UV_WRITABLE; rc_ev_update(p); }

static void
rc_ev_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

static void
rc_ev_cleanup(void *p)
{
	struct rc_events	*ev = p;

	ev->ac = NULL;
	uv_close((uv_handle_t *)&ev->poll, rc_ev_closed_cb);
}

static int
rc_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	struct rc_events	*ev;

	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return -1;
	if (uv_poll_init_socket(loop, &ev->poll, ac->c.fd) != 0) {
		free(ev);
		return -1;
	}
	ev->poll.data = ev;
	ev->ac = ac;
	ac->ev.data = ev;
	ac->ev.addRead = rc_ev_add_read;
	ac->ev.delRead = rc_ev_del_read;
	ac->ev.addWrite = rc_ev_add_write;
	ac->ev.delWrite = rc_ev_del_write;
	ac->ev.cleanup = rc_ev_cleanup;
	return 0;
}

static void
rc_free(struct rcheck *rc)
{
	free(rc->host);
	free(rc->user);
	free(rc->pass);
	free(rc);
}

/* The resolver's callback may still be owed: the last one frees. */
static void
rc_timer_closed_cb(uv_handle_t *h)
{
	struct rcheck	*rc = h->data;

	rc->closed = 1;
	if (!rc->resolving)
		rc_free(rc);
}

static void
rc_finish(struct rcheck *rc, int ok, const char *detail, json_t *info)
{
	if (rc->done)
		return;
	rc->done = 1;
	rc->cb(rc->arg, ok, detail, info);
	if (rc->ac != NULL) {
		rc->ac->data = NULL;
		redisAsyncFree(rc->ac);	/* callbacks see data == NULL */
		rc->ac = NULL;
	}
	if (rc->resolving)
		uv_cancel((uv_req_t *)&rc->gai);
	uv_close((uv_handle_t *)&rc->timer, rc_timer_closed_cb);
}

static void
rc_timeout_cb(uv_timer_t *h)
{
	struct rcheck	*rc = h->data;
	char		 out[400];

	snprintf(out, sizeof(out), "Redis unreachable at %s: no answer within "
	    "%llu ms", rc->where, (unsigned long long)rc->timeout_ms);
	rc_finish(rc, CHECK_RETRY, out, NULL);
}

static void
rc_fail_cb(uv_timer_t *h)	/* errors found before any I/O */
{
	struct rcheck	*rc = h->data;

	rc_finish(rc, 0, rc->where, NULL);
}

/* One reply callback for the whole conversation: privdata is the step. */
static void
rc_reply_cb(redisAsyncContext *ac, void *r, void *step)
{
	struct rcheck	*rc = ac->data;
	redisReply	*reply = r;
	char		 out[600], ver[64] = "?";
	const char	*p;

	if (rc == NULL || rc->done)
		return;
	if (reply == NULL) {
		snprintf(out, sizeof(out), "Redis at %s closed the connection",
		    rc->where);
		rc_finish(rc, CHECK_RETRY, out, NULL);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		const char *what = (const char *)step;

		if (strcmp(what, "AUTH") == 0 ||
		    strncmp(reply->str, "NOAUTH", 6) == 0 ||
		    strncmp(reply->str, "WRONGPASS", 9) == 0)
			snprintf(out, sizeof(out), "Redis at %s refused the "
			    "password%s: %s (check REDIS_URL)", rc->where,
			    rc->pass == NULL ? " (REDIS_URL has none)" : "",
			    reply->str);
		else
			snprintf(out, sizeof(out), "Redis at %s: %s failed: %s",
			    rc->where, what, reply->str);
		/* LOADING: a restarted Redis reading its dump; it passes. */
		rc_finish(rc, strncmp(reply->str, "LOADING", 7) == 0 ?
		    CHECK_RETRY : CHECK_FAIL, out, NULL);
		return;
	}
	if (strcmp((const char *)step, "INFO") == 0) {
		if (reply->type == REDIS_REPLY_STRING && (p = strstr(reply->str,
		    "redis_version:")) != NULL)
			snprintf(ver, sizeof(ver), "%.*s", (int)strcspn(p + 14,
			    "\r\n"), p + 14);
		snprintf(out, sizeof(out), "Redis %s at %s, database %d", ver,
		    rc->where, rc->db);
		rc_finish(rc, CHECK_OK, out, json_pack("{s:s,s:i}", "version", ver,
		    "database", rc->db));
	}
}

static void
rc_connect_cb(const redisAsyncContext *cac, int status)
{
	redisAsyncContext	*ac = (redisAsyncContext *)cac;
	struct rcheck		*rc = ac->data;
	char			 out[400];

	if (rc == NULL || rc->done)
		return;
	if (status != REDIS_OK) {
		snprintf(out, sizeof(out), "Redis unreachable at %s: %s%s",
		    rc->where, ac->errstr, strstr(ac->errstr, "refused") ?
		    " (is it running, and on that port?)" : "");
		rc->ac = NULL;	/* hiredis frees it after this callback */
		rc_finish(rc, CHECK_RETRY, out, NULL);
		return;
	}
	if (rc->pass != NULL && rc->user != NULL)
		redisAsyncCommand(ac, rc_reply_cb, "AUTH", "AUTH %s %s",
		    rc->user, rc->pass);
	else if (rc->pass != NULL)
		redisAsyncCommand(ac, rc_reply_cb, "AUTH", "AUTH %s", rc->pass);
	if (rc->db != 0)
		redisAsyncCommand(ac, rc_reply_cb, "SELECT", "SELECT %d", rc->db);
	redisAsyncCommand(ac, rc_reply_cb, "PING", "PING");
	redisAsyncCommand(ac, rc_reply_cb, "INFO", "INFO server");
}

static void
rc_disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct rcheck	*rc = ac->data;

	if (rc != NULL && !rc->done) {
		rc->ac = NULL;
		rc_finish(rc, CHECK_RETRY, "Redis closed the connection", NULL);
	}
}

static void
rc_resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct rcheck	*rc = req->data;
	char		 ip[INET6_ADDRSTRLEN], out[400];

	rc->resolving = 0;
	if (rc->closed) {
		uv_freeaddrinfo(res);
		rc_free(rc);
		return;
	}
	if (status == UV_ECANCELED || rc->done) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status != 0 || res == NULL) {
		snprintf(out, sizeof(out), "Redis host %s does not resolve: %s",
		    rc->host, uv_strerror(status));
		uv_freeaddrinfo(res);
		rc_finish(rc, CHECK_RETRY, out, NULL);
		return;
	}
	if (res->ai_family == AF_INET6)
		uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof(ip));
	else
		uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof(ip));
	uv_freeaddrinfo(res);
	rc->ac = redisAsyncConnect(ip, rc->port);
	if (rc->ac == NULL || rc->ac->err) {
		snprintf(out, sizeof(out), "Redis unreachable at %s: %s", rc->where,
		    rc->ac ? rc->ac->errstr : "out of memory");
		if (rc->ac != NULL)
			redisAsyncFree(rc->ac);
		rc->ac = NULL;
		rc_finish(rc, CHECK_RETRY, out, NULL);
		return;
	}
	rc->ac->data = rc;
	if (rc_attach(rc->ac, rc->t->loop) != 0) {
		rc_finish(rc, 0, "cannot watch the Redis connection", NULL);
		return;
	}
	redisAsyncSetConnectCallback(rc->ac, rc_connect_cb);
	redisAsyncSetDisconnectCallback(rc->ac, rc_disconnect_cb);
}

/* Split redis://[user:pass@]host[:port][/db] with libcurl's URL parser. */
static int
rc_parse(struct rcheck *rc, const char *url)
{
	CURLU		*u = curl_url();
	char		*scheme = NULL, *host = NULL, *port = NULL, *user = NULL,
			*pass = NULL, *path = NULL, *end;
	int		 r = -1;
	long		 db = 0;

	snprintf(rc->where, sizeof(rc->where), "REDIS_URL is not a valid "
	    "redis:// URL");
	if (u == NULL || curl_url_set(u, CURLUPART_URL, url,
	    CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
		goto out;
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (scheme == NULL || strcmp(scheme, "redis") != 0) {
		snprintf(rc->where, sizeof(rc->where), "REDIS_URL scheme %s is not "
		    "supported by this check (use redis://)", scheme ? scheme : "?");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	if (path != NULL && strcmp(path, "/") != 0 && *path != '\0') {
		db = strtol(path + 1, &end, 10);
		if (*end != '\0' || end == path + 1 || db < 0 || db > 65535) {
			snprintf(rc->where, sizeof(rc->where), "REDIS_URL: database "
			    "must be a number (redis://host:port/0)");
			goto out;
		}
	}
	/* "[::1]" -> "::1" for the resolver */
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	rc->host = strdup(host);
	rc->user = user != NULL && *user != '\0' ? strdup(user) : NULL;
	rc->pass = pass != NULL && *pass != '\0' ? strdup(pass) : NULL;
	rc->port = port != NULL ? atoi(port) : 6379;
	rc->db = (int)db;
	if (rc->host == NULL)
		goto out;
	snprintf(rc->where, sizeof(rc->where), "%s:%d", rc->host, rc->port);
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(user);
	curl_free(pass);
	curl_free(path);
	curl_url_cleanup(u);
	return r;
}

int
check_redis_start(struct tend *t, const char *url, uint64_t timeout_ms,
    void (*cb)(void *, int, const char *, json_t *), void *arg)
{
	struct rcheck	*rc;
	struct addrinfo	 hints;

	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		return -1;
	rc->t = t;
	rc->cb = cb;
	rc->arg = arg;
	rc->timeout_ms = timeout_ms;
	uv_timer_init(t->loop, &rc->timer);
	rc->timer.data = rc;
	if (rc_parse(rc, url) != 0) {
		uv_timer_start(&rc->timer, rc_fail_cb, 0, 0);
		return 0;
	}
	uv_timer_start(&rc->timer, rc_timeout_cb, timeout_ms, 0);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	rc->gai.data = rc;
	rc->resolving = 1;
	if (uv_getaddrinfo(t->loop, &rc->gai, rc_resolved_cb, rc->host, NULL,
	    &hints) != 0) {
		rc->resolving = 0;
		snprintf(rc->where, sizeof(rc->where), "cannot resolve %s",
		    rc->host);
		uv_timer_start(&rc->timer, rc_fail_cb, 0, 0);
	}
	return 0;
}
