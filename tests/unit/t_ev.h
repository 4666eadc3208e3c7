/* SPDX-License-Identifier: ISC */
/*
 * t_ev.h - run the event loop in a unit test with a bound: t_run(ms) runs
 * ev_run() until a callback calls ev_break(), or until ms have passed;
 * false (and t_guard_fired set) when the bound ended it, so a test that
 * would hang fails a CHECK instead.  Include once, after ev.h.
 */
#ifndef FACTEUR_T_EV_H
#define FACTEUR_T_EV_H

#include <stdbool.h>

static bool t_guard_fired;

static void
t_guard_cb(struct ev_timer *t, void *arg)
{
	t_guard_fired = true;
	ev_break();
}

static bool
t_run(unsigned ms)
{
	struct ev_timer guard;

	t_guard_fired = false;
	ev_timer_init(&guard, t_guard_cb, NULL);
	ev_timer_add(&guard, ms);
	(void)ev_run();
	ev_timer_del(&guard);
	return !t_guard_fired;
}

#endif
