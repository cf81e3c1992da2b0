/*
 * health.c: HTTP health checks with libcurl's multi interface driven by
 * the libuv loop (curl tells us which sockets to watch and when to time
 * out; uv_poll and a uv_timer tell curl when that happens).  Nothing here
 * blocks: a /health that hangs costs a socket and a timer, never the loop.
 *
 * Two modes per instance:
 *   READY: while starting, poll fast (HC_READY_FIRST_MS, growing by a
 *          quarter each time up to HC_READY_MAX_MS), so readiness is seen
 *          within ~100 ms of the app answering; supervise.c owns the
 *          ready_timeout.
 *   LIVE:  every health_interval, one check bounded by health_timeout;
 *          health_failures failures in a row and the app is restarted.
 * A check is never started while the previous one is in flight: a slow
 * endpoint slows the checks, it does not pile them up.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "tendd.h"

#define HC_READY_FIRST_MS	20
#define HC_READY_MAX_MS		100
/* A health endpoint has no business sending more than this. */
#define HC_BODY_MAX		(64 * 1024)

struct hsock {
	uv_poll_t	 poll;
	curl_socket_t	 fd;
};

static CURLM		*multi;
static uv_timer_t	 curl_timer;
static struct tend	*tend;

static void	health_schedule(struct inst *, uint64_t);

static void
hsock_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

static void	check_done(void);

static void
poll_cb(uv_poll_t *h, int status, int events)
{
	struct hsock	*hs = h->data;
	int		 flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	curl_multi_socket_action(multi, hs->fd, flags, &running);
	check_done();
}

static int
socket_cb(CURL *easy, curl_socket_t s, int action, void *userp, void *sockp)
{
	struct hsock	*hs = sockp;
	int		 events = 0;

	if (action == CURL_POLL_REMOVE) {
		if (hs != NULL) {
			uv_poll_stop(&hs->poll);
			uv_close((uv_handle_t *)&hs->poll, hsock_closed_cb);
			curl_multi_assign(multi, s, NULL);
		}
		return 0;
	}
	if (hs == NULL) {
		if ((hs = calloc(1, sizeof(*hs))) == NULL)
			return -1;
		hs->fd = s;
		if (uv_poll_init_socket(tend->loop, &hs->poll, s) != 0) {
			free(hs);
			return -1;
		}
		hs->poll.data = hs;
		curl_multi_assign(multi, s, hs);
	}
	if (action & CURL_POLL_IN)
		events |= UV_READABLE;
	if (action & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&hs->poll, events, poll_cb);
	return 0;
}

static void
curl_timeout_cb(uv_timer_t *h)
{
	int	running;

	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done();
}

static int
timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	/* Never act from inside curl's callback: go through the loop. */
	if (timeout_ms < 0)
		uv_timer_stop(&curl_timer);
	else
		uv_timer_start(&curl_timer, curl_timeout_cb,
		    (uint64_t)timeout_ms, 0);
	return 0;
}

static size_t
write_cb(char *p, size_t size, size_t n, void *userp)
{
	struct inst	*in = userp;
	size_t		 len = size * n, room;

	if (in->hc_blen + len > HC_BODY_MAX)
		return 0;	/* aborts the transfer: CURLE_WRITE_ERROR */
	room = sizeof(in->hc_body) - 1 - in->hc_blen_kept;
	if (room > len)
		room = len;
	memcpy(in->hc_body + in->hc_blen_kept, p, room);
	in->hc_blen_kept += room;
	in->hc_body[in->hc_blen_kept] = '\0';
	in->hc_blen += len;
	return len;
}

static void
finish(struct inst *in, CURLcode rc, long code)
{
	struct app		*app = in->app;
	const struct conf_app	*ca = app->ca;
	int			 ok;

	ok = rc == CURLE_OK && code >= 200 && code < 300;
	if (ok && ca->health_body != NULL &&
	    strstr(in->hc_body, ca->health_body) == NULL) {
		ok = 0;
		snprintf(in->hc_last, sizeof(in->hc_last),
		    "HTTP %ld without \"%.64s\" in the body", code,
		    ca->health_body);
	} else if (!ok && rc == CURLE_WRITE_ERROR)
		snprintf(in->hc_last, sizeof(in->hc_last),
		    "response larger than %d bytes", HC_BODY_MAX);
	else if (!ok && rc != CURLE_OK)
		snprintf(in->hc_last, sizeof(in->hc_last), "%s",
		    curl_easy_strerror(rc));
	else if (!ok)
		snprintf(in->hc_last, sizeof(in->hc_last), "HTTP %ld", code);
	in->hc_checks++;

	if (in->hc_mode == HC_READY) {
		if (ok) {
			in->hc_mode = HC_NONE;
			inst_event(in, EV_READY);
			return;
		}
		in->hc_next = in->hc_next + in->hc_next / 4;
		if (in->hc_next > HC_READY_MAX_MS)
			in->hc_next = HC_READY_MAX_MS;
		health_schedule(in, in->hc_next);
		return;
	}
	if (in->hc_mode != HC_LIVE)
		return;
	if (ok) {
		if (in->hc_fail > 0)
			applog_event(app, (int)in->idx, "health ok again");
		in->hc_fail = 0;
		health_schedule(in, ca->health_interval);
		return;
	}
	in->hc_fail++;
	applog_event(app, (int)in->idx, "health check failed (%u/%u): %s",
	    in->hc_fail, ca->health_failures, in->hc_last);
	if (in->hc_fail >= ca->health_failures) {
		snprintf(in->reason, sizeof(in->reason), "restarted: health "
		    "check failed %u times: %s", in->hc_fail, in->hc_last);
		log_warnx("%s[%u]: %s", app->name, in->idx, in->reason);
		applog_event(app, (int)in->idx, "%s", in->reason);
		in->health_restarts++;
		in->hc_mode = HC_NONE;
		inst_event(in, EV_KILL);
		return;
	}
	health_schedule(in, ca->health_interval);
}

static void
check_done(void)
{
	CURLMsg		*msg;
	struct inst	*in;
	CURL		*easy;
	CURLcode	 rc;
	long		 code = 0;
	int		 pending;

	while ((msg = curl_multi_info_read(multi, &pending)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		rc = msg->data.result;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&in);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(multi, easy);
		curl_easy_cleanup(easy);
		in->hc_easy = NULL;
		finish(in, rc, code);
	}
}

static void
start_check(struct inst *in)
{
	const struct conf_app	*ca = in->app->ca;
	CURL			*e;
	char			 url[sizeof("http://127.0.0.1:65535") + 256];

	if (in->hc_easy != NULL)
		return;		/* one at a time, never piled up */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", in->port,
	    ca->health);
	if ((e = curl_easy_init()) == NULL) {
		snprintf(in->hc_last, sizeof(in->hc_last), "out of memory");
		health_schedule(in, ca->health_interval);
		return;
	}
	in->hc_blen = in->hc_blen_kept = 0;
	in->hc_body[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, in);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, in);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ca->health_timeout);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");	/* never http_proxy */
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE, (long)HC_BODY_MAX);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "tend/" PACKAGE_VERSION);
	if (curl_multi_add_handle(multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		snprintf(in->hc_last, sizeof(in->hc_last), "curl refused");
		health_schedule(in, ca->health_interval);
		return;
	}
	in->hc_easy = e;
}

static void
hc_timer_cb(uv_timer_t *h)
{
	start_check(h->data);
}

static void
health_schedule(struct inst *in, uint64_t ms)
{
	uv_timer_start(&in->hc_timer, hc_timer_cb, ms, 0);
}

/* --- what supervise.c calls ------------------------------------------ */

void
health_ready_begin(struct inst *in)
{
	in->hc_mode = HC_READY;
	in->hc_fail = 0;
	in->hc_last[0] = '\0';
	in->hc_next = HC_READY_FIRST_MS;
	health_schedule(in, HC_READY_FIRST_MS);
}

void
health_live_begin(struct inst *in)
{
	in->hc_mode = HC_LIVE;
	in->hc_fail = 0;
	health_schedule(in, in->app->ca->health_interval);
}

void
health_stop(struct inst *in)
{
	in->hc_mode = HC_NONE;
	uv_timer_stop(&in->hc_timer);
	if (in->hc_easy != NULL) {
		curl_multi_remove_handle(multi, in->hc_easy);
		curl_easy_cleanup(in->hc_easy);
		in->hc_easy = NULL;
	}
}

/* "ok", "failing 1/3", "starting 4.2s", "off", "-" for status. */
void
health_word(const struct inst *in, char *buf, size_t len)
{
	const struct conf_app	*ca = in->app->ca;
	char			 d[32];

	if (ca->health == NULL)
		snprintf(buf, len, "off");
	else if (in->state == ST_STARTING) {
		format_duration(d, sizeof(d), uv_now(tend->loop) -
		    in->spawned_at);
		snprintf(buf, len, "starting %s", d);
	} else if (in->state != ST_LIVE)
		snprintf(buf, len, "-");
	else if (in->hc_fail > 0)
		snprintf(buf, len, "failing %u/%u", in->hc_fail,
		    ca->health_failures);
	else
		snprintf(buf, len, "ok");
}

int
health_init(struct tend *t)
{
	tend = t;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	if ((multi = curl_multi_init()) == NULL)
		return -1;
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, t);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERDATA, t);
	uv_timer_init(t->loop, &curl_timer);
	return 0;
}

static void
curl_timer_closed_cb(uv_handle_t *h)
{
	curl_multi_cleanup(multi);
	multi = NULL;
	curl_global_cleanup();
}

void
health_shutdown(struct tend *t)
{
	if (multi != NULL && !uv_is_closing((uv_handle_t *)&curl_timer))
		uv_close((uv_handle_t *)&curl_timer, curl_timer_closed_cb);
}
