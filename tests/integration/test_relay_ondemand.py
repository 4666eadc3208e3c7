# SPDX-License-Identifier: ISC
"""test_relay_ondemand - smtpd's relay role runs only when there is mail
to send (issue 17, smtpd/README.md "Roles").

One facteur-smtpd (and authd) with a [relay] smarthost that is a
python3-aiosmtpd sink (relay_fixtures.py), tls = none, no login; mail is
submitted with facteur-sendmail.  The relay role's idle exit is shortened
to 1 s with FACTEUR_RELAY_IDLE_MS (tests only; the daemon's is a minute);
the relay still keeps its connection to the sink for 5 s after the last
message (relay_timeouts.idle), so it exits about 6 s after its last one.
Checked, with the processes walked in /proc (ft.procs()):

- idle, smtpd's parent has three children (smtp, queue, deliver): no
  relay role;
- a message to a remote address starts one (a fourth child, logging as
  smtpd-relay) and reaches the sink;
- it exits by itself when idle: the parent logs no error and restarts
  nothing (the three other roles keep their pids); a SIGHUP with the
  same file then keeps the roles (no relay role is not a missing role);
- the next message starts a new relay role and arrives exactly once;
- SIGKILL of the relay role while the sink holds the message's DATA: a
  new relay role sends it again (the held copy is dropped by the sink),
  it arrives exactly once, and the other roles are still the same;
- a message whose relay role dies under it a second time waits for its
  retry ([queue] retry) instead of going out again at once.
"""

import functools
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

import relay_fixtures as rf  # noqa: E402

ALICE = 'alice@example.org'
IDLE_MS = 1000

env = ft.Env()
P25, SMART = env.port(), env.port()
Sink = functools.partial(rf.Sink, env, None)
state = {}
_seq = [0]


def mark(prefix):
    _seq[0] += 1
    return f'{prefix}-{os.getpid()}-{_seq[0]}'


wait_for = ft.wait_for


def log():
    return env.daemons['smtpd'].log_text()


def children():
    """the pids of smtpd's roles: children of its parent process"""
    main = env.daemons['smtpd'].proc.pid
    return {pid for pid, (ppid, _) in ft.procs().items() if ppid == main}


def relay_pid():
    """the pid of the running relay role, or None"""
    extra = children() - state['set']
    return next(iter(extra)) if len(extra) == 1 else None


class GateHandler(rf.Handler):
    """Holds every DATA while mode is 'gate'; 'drop' refuses what is
    held (not recorded) and takes what comes after, as 'open' does.
    held counts the DATA held now: aiosmtpd cancels the handler when its
    client's connection drops (a killed relay role), and that copy is no
    longer held.  gated counts every DATA ever held."""

    def __init__(self):
        super().__init__()
        self.mode = 'open'
        self.held = 0
        self.gated = 0

    async def admit(self, envelope):
        counted = False
        try:
            while True:
                with self.lock:
                    if self.mode == 'drop' and counted:
                        return False
                    if self.mode != 'gate':
                        return True
                    if not counted:
                        counted = True
                        self.held += 1
                        self.gated += 1
                await rf.asyncio.sleep(0.01)
        finally:
            with self.lock:
                self.held -= counted


def send(marker, rcpt='bob@remote.test'):
    """facteur-sendmail -f alice rcpt; returns its time"""
    t = time.time()
    r = env.tool('sendmail', '-f', ALICE, rcpt,
                 stdin=f'From: <{ALICE}>\nTo: <{rcpt}>\nSubject: {marker}\n'
                       f'Message-ID: <{marker}@example.org>\n\n{marker}\n')
    check(r.returncode == 0, f'{marker}: facteur-sendmail exit 0', r.stderr)
    return t


def arrived(marker):
    return [m for m in list(state['sink'].msgs) if marker.encode() in
            m['data']]


def setup():
    os.environ['FACTEUR_RELAY_IDLE_MS'] = str(IDLE_MS)
    state['sink'] = Sink(port=SMART, handler=GateHandler())
    env.write_config(
        smtp={'listen': f'127.0.0.1:{P25}', 'timeout': '30s'},
        relay={'host': '127.0.0.1', 'port': SMART, 'tls': 'none',
               'verify': False},
        queue={'retry': '1h', 'max_retry': '4h', 'expire': '5d'},
        sendmail={'sender': f'{env.user} {ALICE}'})
    env.add_user(ALICE, 'alice pw')
    env.start('authd')
    env.start('smtpd', ports=[P25])


def test_idle_has_no_relay():
    kids = wait_for(lambda: len(children()) == 3 and children(), 10)
    check(kids and len(kids) == 3, 'idle: smtpd has 3 roles (smtp, queue, '
          'deliver), no relay role', kids)
    state['set'] = kids or set()
    check('relay: ready' not in log(), 'idle: no relay role started yet',
          log()[-1500:])


def test_first_message_starts_relay():
    marker = mark('first')
    t = send(marker)
    got = wait_for(lambda: arrived(marker), 20)
    check(len(got or []) == 1, 'a remote message starts a relay role and '
          'reaches the sink', len(got or []))
    if got:
        print(f'# measure: first outbound message with no relay role '
              f'running: {got[0]["time"] - t:.3f} s from facteur-sendmail '
              f'to the sink (BIN={ft.BIN})', flush=True)
    pid = wait_for(relay_pid, 5)
    check(pid is not None and f'smtpd-relay[{pid}]' in log(),
          'a fourth child of smtpd, logging as smtpd-relay', (pid, children()))
    state['relay'] = pid


def test_relay_exits_idle():
    pid = state.get('relay')
    t = time.time()
    gone = wait_for(lambda: relay_pid() is None, 20)
    check(gone, 'the relay role exits when idle', children())
    print(f'# relay role gone {time.time() - t:.1f} s after its message '
          f'(exit delay {IDLE_MS} ms after its kept connection closed)',
          flush=True)
    text = log()
    check(f'smtpd-relay[{pid}]: relay: idle for' in text,
          'it logs its idle exit', text[-1500:])
    check(not re.search(r'restarting every role|relay role (died|exited '
                        r'with)', text), 'no error logged, nothing restarted',
          text[-1500:])
    check(wait_for(lambda: children() == state['set'], 10),
          'smtp, queue and deliver are the same processes',
          (children(), state['set']))
    # SIGHUP with the same file and no relay role: the set stays
    os.kill(env.daemons['smtpd'].proc.pid, signal.SIGHUP)
    check(wait_for(lambda: 'nothing smtpd uses changed' in log(), 10) and
          'restarting the roles' not in log(),
          'SIGHUP, same file, no relay role running: the roles stay',
          log()[-1500:])
    # the parent forks a short-lived child to load the certificate on
    # SIGHUP: wait for it to be gone
    check(wait_for(lambda: children() == state['set'], 10),
          'after SIGHUP: the same processes', (children(), state['set']))


def test_next_message_after_exit():
    marker = mark('next')
    send(marker)
    got = wait_for(lambda: arrived(marker), 20)
    check(got, 'after the idle exit, a new relay role sends the next message',
          log()[-1500:])
    pid = wait_for(relay_pid, 5)
    check(pid is not None and pid != state.get('relay'),
          'a new relay role', (pid, state.get('relay')))
    check(wait_for(lambda: not env.queue_files(), 10), 'queue empty',
          env.queue_files())
    check(len(arrived(marker)) == 1, 'delivered exactly once',
          len(arrived(marker)))


def test_relay_killed_mid_delivery():
    h = state['sink'].handler
    with h.lock:
        h.mode = 'gate'
    marker = mark('killed')
    send(marker)
    held = wait_for(lambda: h.held > 0, 20)
    pid = relay_pid()
    check(held and pid is not None, 'the sink holds the DATA of the relay '
          'role', (h.held, pid))
    if pid is None:
        with h.lock:
            h.mode = 'open'
        return
    os.kill(pid, signal.SIGKILL)
    with h.lock:
        h.mode = 'drop'     # the held copy is not taken, the next one is
    got = wait_for(lambda: arrived(marker), 20)
    check(got, 'after SIGKILL of the relay role, a new one sends the '
          'message', log()[-2000:])
    new = wait_for(relay_pid, 5)
    check(new is not None and new != pid, 'a new relay role', (new, pid))
    check(wait_for(lambda: not env.queue_files(), 10), 'queue empty',
          env.queue_files())
    check(len(arrived(marker)) == 1, 'delivered exactly once',
          len(arrived(marker)))
    text = log()
    check(f'relay role died of signal {signal.SIGKILL}' in text and
          'restarting every role' not in text,
          'the parent logs the relay role\'s death and restarts nothing '
          'else', text[-1500:])
    check(wait_for(lambda: children() - {new} == state['set'], 10),
          'smtp, queue and deliver are the same processes',
          (children(), state['set']))


def test_relay_lost_twice_is_deferred():
    """a message whose relay role dies under it twice waits for its retry
    ([queue] retry, 1 h here) instead of going out again at once: a
    message that crashes the relay role cannot crash it every few seconds
    (it expires and bounces like any other)"""
    h = state['sink'].handler
    check(wait_for(lambda: h.held == 0, 10), 'the sink holds nothing',
          h.held)
    with h.lock:
        h.mode = 'gate'
        base = h.gated
    send(mark('lost'))
    old = None
    for n in (1, 2):
        pid = wait_for(lambda: h.gated >= base + n and h.held and
                       relay_pid() not in (None, old) and relay_pid(), 20)
        check(pid, f'attempt {n}: the sink holds the DATA of a relay role',
              (h.held, pid))
        if not pid:
            break
        os.kill(pid, signal.SIGKILL)
        old = pid
    third = wait_for(lambda: h.gated >= base + 3, 3)
    check(not third, 'after the second loss no third attempt comes at once',
          h.gated - base)
    check(env.queue_files(), 'the message is still queued', env.queue_files())
    with h.lock:
        h.mode = 'drop'


START = time.time()


def test_wall():
    print(f'# wall {time.time() - START:.1f} s', flush=True)
    state['sink'].stop()


if __name__ == '__main__':
    rf.new_loop()
    ft.main(env, setup, [
        test_idle_has_no_relay, test_first_message_starts_relay,
        test_relay_exits_idle, test_next_message_after_exit,
        test_relay_killed_mid_delivery, test_relay_lost_twice_is_deferred,
        test_wall,
    ])
