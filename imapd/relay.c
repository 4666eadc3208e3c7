/* SPDX-License-Identifier: ISC */
/*
 * relay.c - the byte relay of the login process (facteur-imapd, as
 * `user`): after a login the client's TLS connection and the worker's
 * socket are joined, each direction bounded by RELAY_HIGH bytes queued;
 * a side whose peer lags is paused and a timer resumes it.  It reads no
 * byte of what it moves.  Used by the POP3 login sessions (pop3_login.c).
 */
#include "relay.h"


static void
relay_finish(struct relay *r)
{
	relay_end_cb *end = r->end;
	void *arg = r->arg;
	bool answered = r->answered;

	relay_stop(r);
	end(arg, answered);
}

void
relay_pump(struct relay *r)
{
	struct conn *cl = r->client, *w = &r->worker;
	bool wait = false;

	if (!r->on)
		return;
	if (cl->in.len > 0 && w->out.len < RELAY_HIGH) {
		if (conn_write(w, buf_head(&cl->in), cl->in.len) == -1) {
			relay_finish(r);
			return;
		}
		buf_reset(&cl->in);
	}
	if (w->in.len > 0 && cl->out.len < RELAY_HIGH) {
		r->answered = true;
		if (conn_write(cl, buf_head(&w->in), w->in.len) == -1) {
			relay_finish(r);
			return;
		}
		buf_reset(&w->in);
	}
	wait = cl->in.len > 0 || w->out.len >= RELAY_HIGH;
	conn_pause(cl, wait);
	if (w->in.len > 0 || cl->out.len >= RELAY_HIGH) {
		conn_pause(w, true);
		wait = true;
	} else
		conn_pause(w, false);
	if (wait && !ev_timer_pending(&r->timer))
		ev_timer_add(&r->timer, 10);
}

static void
relay_timer_cb(struct ev_timer *t, void *arg)
{
	relay_pump(arg);
}

static void
relay_worker_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct relay *r = arg;

	switch (ev) {
	case CONN_EV_READ:
	case CONN_EV_DRAINED:
		relay_pump(r);
		break;
	case CONN_EV_TLS:
		break;
	case CONN_EV_TIMEOUT:
	case CONN_EV_CLOSED:
		/* the worker ended the session: its last words go out */
		if (c->in.len) {
			r->answered = true;
			(void)conn_write(r->client, buf_head(&c->in), c->in.len);
		}
		relay_finish(r);
		break;
	}
}

void
relay_start(struct relay *r, struct conn *client, int fd, relay_end_cb *end,
    void *arg)
{
	r->client = client;
	r->end = end;
	r->arg = arg;
	r->answered = false;
	r->on = true;
	ev_timer_init(&r->timer, relay_timer_cb, r);
	conn_init(&r->worker, fd, 65536, RELAY_HIGH * 4, relay_worker_cb, r);
}

void
relay_stop(struct relay *r)
{
	if (!r->on)
		return;
	r->on = false;
	ev_timer_del(&r->timer);
	conn_close(&r->worker);
	conn_pause(r->client, false);
}
