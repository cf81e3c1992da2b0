/*
 * health.c: HTTP health checks on the libuv loop: a uv_tcp connection to
 * 127.0.0.1:PORT, one "GET /health HTTP/1.1" with Connection: close, the
 * answer's head parsed by http.c, its body kept (512 bytes) for
 * health_body.  Nothing here blocks: a /health that hangs costs a socket
 * and a timer, never the loop.  It is our own code rather than libcurl's
 * because libcurl brings a TLS stack and a dozen libraries into tendd's
 * memory for a request that never leaves the machine.
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

#include "tendd.h"

#define HC_READY_FIRST_MS	20
#define HC_READY_MAX_MS		100
/* A health endpoint has no business sending more than this. */
#define HC_BODY_MAX		(64 * 1024)

/* One check in flight; freed when its socket is closed. */
struct hconn {
	uv_tcp_t	 tcp;
	uv_connect_t	 creq;
	uv_write_t	 wreq;
	struct inst	*in;		/* NULL once abandoned */
	struct http_head head;
	int		 have_head;
	size_t		 len;		/* bytes in buf */
	uint64_t	 body;		/* body bytes seen */
	char		 req[512];
	char		 buf[HTTP_HEAD_MAX];
};

static void	health_schedule(struct inst *, uint64_t);
static void	finish(struct inst *, int ok, int code, const char *err);

static void
hconn_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

/* Let go of the connection: its callbacks no longer reach the instance. */
static void
hconn_drop(struct hconn *hc)
{
	if (hc->in != NULL) {
		hc->in->hc_conn = NULL;
		uv_timer_stop(&hc->in->hc_timer);
	}
	hc->in = NULL;
	if (!uv_is_closing((uv_handle_t *)&hc->tcp))
		uv_close((uv_handle_t *)&hc->tcp, hconn_closed_cb);
}

static void
hconn_end(struct hconn *hc, int ok, int code, const char *err)
{
	struct inst	*in = hc->in;

	hconn_drop(hc);
	if (in != NULL)
		finish(in, ok, code, err);
}

/* Body bytes: counted, the first ones kept for health_body. */
static int
take_body(struct hconn *hc, const char *p, size_t n)
{
	struct inst	*in = hc->in;
	size_t		 room;

	hc->body += n;
	if (hc->body > HC_BODY_MAX)
		return -1;
	room = sizeof(in->hc_body) - 1 - in->hc_blen_kept;
	if (room > n)
		room = n;
	memcpy(in->hc_body + in->hc_blen_kept, p, room);
	in->hc_blen_kept += room;
	in->hc_body[in->hc_blen_kept] = '\0';
	return 0;
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct hconn	*hc = h->data;
	static char	 drain[16 * 1024];

	(void)hint;
	/* Until the head is complete bytes go to buf; then anywhere. */
	if (!hc->have_head) {
		b->base = hc->buf + hc->len;
		b->len = sizeof(hc->buf) - hc->len;
	} else {
		b->base = drain;
		b->len = sizeof(drain);
	}
}

static void
done_reading(struct hconn *hc)
{
	int	code = hc->head.status;

	hconn_end(hc, code >= 200 && code < 300, code, NULL);
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct hconn	*hc = s->data;
	const char	*why = NULL;
	int		 r;

	if (hc->in == NULL)
		return;
	if (n < 0) {
		if (n == UV_EOF && hc->have_head) {
			done_reading(hc);
			return;
		}
		hconn_end(hc, 0, 0, n == UV_EOF ? "connection closed before "
		    "an answer" : uv_strerror((int)n));
		return;
	}
	if (!hc->have_head) {
		hc->len += (size_t)n;
		r = http_parse_head(hc->buf, hc->len, &hc->head, &why);
		if (r < 0) {
			hconn_end(hc, 0, 0, why);
			return;
		}
		if (r == 0)
			return;
		hc->have_head = 1;
		if (take_body(hc, hc->buf + hc->head.body_off,
		    hc->len - hc->head.body_off) != 0) {
			hconn_end(hc, 0, 0, "answer larger than 64 KiB");
			return;
		}
	} else if (take_body(hc, b->base, (size_t)n) != 0) {
		hconn_end(hc, 0, 0, "answer larger than 64 KiB");
		return;
	}
	/* With a length the answer may end before the connection does. */
	if (hc->head.content_length >= 0 &&
	    hc->body >= (uint64_t)hc->head.content_length)
		done_reading(hc);
}

static void
write_cb(uv_write_t *w, int status)
{
	struct hconn	*hc = w->data;

	if (status < 0 && hc->in != NULL && status != UV_ECANCELED)
		hconn_end(hc, 0, 0, uv_strerror(status));
}

static void
connect_cb(uv_connect_t *c, int status)
{
	struct hconn	*hc = c->data;
	uv_buf_t	 b;
	int		 n;

	if (hc->in == NULL)
		return;
	if (status < 0) {
		hconn_end(hc, 0, 0, status == UV_ECONNREFUSED ?
		    "connection refused" : uv_strerror(status));
		return;
	}
	n = http_request(hc->req, sizeof(hc->req), hc->in->app->ca->health,
	    hc->in->port);
	b = uv_buf_init(hc->req, n < 0 ? 0 : (unsigned)n);
	hc->wreq.data = hc;
	if (n < 0 || uv_write(&hc->wreq, (uv_stream_t *)&hc->tcp, &b, 1,
	    write_cb) != 0 || uv_read_start((uv_stream_t *)&hc->tcp, alloc_cb,
	    read_cb) != 0)
		hconn_end(hc, 0, 0, "cannot send the request");
}

static void
check_timeout_cb(uv_timer_t *t)
{
	struct inst	*in = t->data;
	char		 d[32];

	format_duration(d, sizeof(d), in->app->ca->health_timeout);
	if (in->hc_conn != NULL) {
		snprintf(in->hc_last, sizeof(in->hc_last), "no answer within %s "
		    "(health_timeout)", d);
		hconn_end(in->hc_conn, 0, 0, in->hc_last);
	}
}

static void
finish(struct inst *in, int ok, int code, const char *err)
{
	struct app		*app = in->app;
	const struct conf_app	*ca = app->ca;
	char			 e[sizeof(in->hc_last)];

	if (ok && ca->health_body != NULL &&
	    strstr(in->hc_body, ca->health_body) == NULL) {
		ok = 0;
		snprintf(in->hc_last, sizeof(in->hc_last),
		    "HTTP %d without \"%.64s\" in the body", code,
		    ca->health_body);
	} else if (!ok && err != NULL) {
		snprintf(e, sizeof(e), "%s", err);	/* may be hc_last */
		snprintf(in->hc_last, sizeof(in->hc_last), "%s", e);
	} else if (!ok)
		snprintf(in->hc_last, sizeof(in->hc_last), "HTTP %d", code);
	in->hc_checks++;

	if (in->hc_mode == HC_READY) {
		if (ok) {
			in->hc_mode = HC_NONE;
			/* Up-call: ready and unhealthy are the state
			 * machine's events (EV_READY, EV_KILL below). */
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
	in->hc_failures++;
	applog_event(app, (int)in->idx, "health check failed (%u/%u): %s",
	    in->hc_fail, ca->health_failures, in->hc_last);
	if (in->hc_fail >= ca->health_failures) {
		log_warnx("%s[%u]: restarted: health check failed %u times: "
		    "%s", app->name, in->idx, in->hc_fail, in->hc_last);
		applog_event(app, (int)in->idx, "restarted: health check "
		    "failed %u times: %s", in->hc_fail, in->hc_last);
		in->health_restarts++;
		in->hc_mode = HC_NONE;
		inst_event_why(in, EV_KILL, "restarted: health check failed "
		    "%u times: %s", in->hc_fail, in->hc_last);
		return;
	}
	health_schedule(in, ca->health_interval);
}

static void
start_check(struct inst *in)
{
	const struct conf_app	*ca = in->app->ca;
	struct sockaddr_in	 sa;
	struct hconn		*hc;

	if (in->hc_conn != NULL)
		return;		/* one at a time, never piled up */
	in->hc_blen = in->hc_blen_kept = 0;
	in->hc_body[0] = '\0';
	if ((hc = calloc(1, sizeof(*hc))) == NULL) {
		snprintf(in->hc_last, sizeof(in->hc_last), "out of memory");
		health_schedule(in, ca->health_interval);
		return;
	}
	hc->in = in;
	if (uv_tcp_init(in->app->t->loop, &hc->tcp) != 0) {
		free(hc);
		snprintf(in->hc_last, sizeof(in->hc_last), "cannot make a socket");
		health_schedule(in, ca->health_interval);
		return;
	}
	hc->tcp.data = hc;
	hc->creq.data = hc;
	in->hc_conn = hc;
	uv_ip4_addr("127.0.0.1", (int)in->port, &sa);
	if (uv_tcp_connect(&hc->creq, &hc->tcp, (const struct sockaddr *)&sa,
	    connect_cb) != 0) {
		hconn_end(hc, 0, 0, "cannot connect");
		return;
	}
	uv_timer_start(&in->hc_timer, check_timeout_cb, ca->health_timeout, 0);
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
	if (in->hc_conn != NULL)
		hconn_drop(in->hc_conn);
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
		format_duration(d, sizeof(d), uv_now(in->app->t->loop) -
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
