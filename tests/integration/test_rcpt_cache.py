# SPDX-License-Identifier: ISC
"""test_rcpt_cache - smtpd keeps authd's positive RCPT answers
(lib/rcpt_cache.c, issue 17) and forgets them when authd says its
databases changed (AUTHD_CHANGED) or when the connection to authd is lost.

One authd and one smtpd, port 25, users alice and bob.  Checked with real
SMTP sessions (RawSMTP) and the real facteur-keytool:

- a recipient asked once is accepted while authd is stopped (SIGSTOP):
  the answer came from the smtp role's cache; one never asked waits for
  authd, and is answered when authd runs again;
- `keytool user del bob` while bob's answer is kept: RCPT bob is refused
  (550) at once after keytool returns (within the notice's milliseconds);
- a refused recipient is never kept: `keytool user add carol` right after
  a 550 for carol, and the next RCPT carol is accepted;
- authd stopped for good (SIGTERM): the connection is gone, so is the
  cache: RCPT alice gets 451, and 250 again once authd is back.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

env = ft.Env('rcpt_cache')
PORT = env.port()
ALICE, BOB, CAROL = 'alice@example.org', 'bob@example.org', 'carol@example.org'


def session():
    s = ft.RawSMTP(PORT, timeout=15)
    s.ehlo('client.example.net')
    code, text = s.cmd('MAIL FROM:<a@example.net>')
    check(code == 250, 'MAIL FROM accepted', text)
    return s


def rcpt(addr, timeout=15):
    s = session()
    try:
        t = time.monotonic()
        code, text = s.cmd(f'RCPT TO:<{addr}>', timeout=timeout)
        return code, text, time.monotonic() - t
    finally:
        s.close()


def authd_pid():
    return env.daemons['authd'].proc.pid


def test_kept_while_authd_stopped():
    code, text, _ = rcpt(ALICE)
    check(code == 250, 'RCPT alice accepted (asked authd)', text)
    os.kill(authd_pid(), signal.SIGSTOP)
    try:
        code, text, took = rcpt(ALICE)
        check(code == 250 and took < 3, 'authd stopped: RCPT alice still '
              'accepted at once, from the cache', (code, text, took))
        s = session()
        s.send('RCPT TO:<bob@example.org>\r\n')
        check(s.pending(0.5) == b'', 'RCPT bob (never asked) waits for authd')
    finally:
        os.kill(authd_pid(), signal.SIGCONT)
    code, text = s.reply()
    check(code == 250, 'authd running again: RCPT bob answered 250', text)
    s.close()


def test_deleted_user_refused_at_once():
    code, text, _ = rcpt(BOB)
    check(code == 250, 'RCPT bob accepted (kept now)', text)
    env.keytool('user', 'del', BOB)
    code, text, _ = rcpt(BOB)
    if code == 250:         # the notice may trail keytool by microseconds
        time.sleep(0.05)
        code, text, _ = rcpt(BOB)
    check(code == 550, 'after keytool user del: RCPT bob refused', text)


def test_refusal_not_kept():
    code, text, _ = rcpt(CAROL)
    check(code == 550, 'RCPT carol refused: no such user', text)
    env.add_user(CAROL, 'carol password 1')
    code, text, _ = rcpt(CAROL)
    check(code == 250, 'keytool user add carol: the next RCPT accepted',
          text)


def test_forgotten_with_authd():
    code, text, _ = rcpt(ALICE)
    check(code == 250, 'RCPT alice accepted', text)
    env.stop('authd')
    code, text, _ = rcpt(ALICE)
    check(code == 451, 'authd gone: RCPT alice 451, nothing kept', text)
    env.start('authd')
    code, text, _ = rcpt(ALICE)
    check(code == 250, 'authd back: RCPT alice 250', text)


def main():
    env.write_config(domains='example.org',
                     smtp={'listen': [f'127.0.0.1:{PORT}'], 'timeout': '20s'})
    env.add_user(ALICE, 'alice password 1')
    env.add_user(BOB, 'bob password 1')
    env.start('authd')
    env.start('smtpd', ports=[PORT])
    ft.run_tests(env, [test_kept_while_authd_stopped,
                       test_deleted_user_refused_at_once,
                       test_refusal_not_kept, test_forgotten_with_authd])


if __name__ == '__main__':
    main()
