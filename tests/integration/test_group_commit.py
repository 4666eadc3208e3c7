# SPDX-License-Identifier: ISC
"""test_group_commit - the queue's group commit under concurrency (issue 17).

16 concurrent sessions each send N messages over one connection: every
message is acknowledged, delivered exactly once, and the queue stays
bounded (its peak is printed) and drains.  Then the same 16 sessions run
while smtpd is SIGKILLed in the middle: commits waiting for the fsync of
their batch were not acknowledged, so after the restart every acknowledged
message is delivered exactly once (unacknowledged ones may or may not be).
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check, RawSMTP, dot_stuff  # noqa: E402

SESSIONS = 16
N = int(os.environ.get('GROUP_COMMIT_N', '30'))
SENDER = 'sender@remote.test'
ALICE = 'alice@example.org'
BOB = 'bob@example.org'

env = ft.Env()
P1 = env.port()
errors = []                     # what the sessions met, for the report


def message(mid):
    return (b'From: <' + SENDER.encode() + b'>\r\n'
            b'To: <' + ALICE.encode() + b'>\r\n'
            b'Subject: ' + mid.encode() + b'\r\n'
            b'Message-ID: <' + mid.encode() + b'@remote.test>\r\n'
            b'\r\n' + b'Group commit body line.\r\n' * 40)


def count_ids(addr, prefix):
    counts = {}
    tag = b'Message-ID: <' + prefix.encode()
    for m in env.messages(addr):
        i = m.find(tag)
        if i >= 0:
            mid = m[i + 13:m.find(b'@', i)].decode()
            counts[mid] = counts.get(mid, 0) + 1
    return counts


def wait_counts(addr, prefix, want, limit):
    deadline = time.time() + limit
    counts = {}
    while time.time() < deadline:
        counts = count_ids(addr, prefix)
        if want <= set(counts):
            break
        time.sleep(0.2)
    time.sleep(0.5)             # a duplicate would show up late
    return count_ids(addr, prefix)


def setup():
    env.write_config(domains='example.org',
                     smtp={'listen': [f'127.0.0.1:{P1}'],
                           'max_clients': 2 * SESSIONS,
                           'max_per_addr': 2 * SESSIONS, 'timeout': '10s'})
    for u in (ALICE, BOB):
        env.add_user(u, 'correct horse ' + u)
    env.start('authd')
    env.start('smtpd', ports=[P1])


def session(k, prefix, rcpt, acked, attempts, stop, per_session):
    """One client: N messages, reconnecting after errors (the kill)."""
    i = 0
    # 90 s for the default size; a run by hand with GROUP_COMMIT_N=2000
    # (32,000 messages) gets time in proportion
    deadline = time.time() + max(90, SESSIONS * per_session / 50)
    c = None
    while i < per_session and time.time() < deadline and not stop.is_set():
        mid = f'{prefix}{k}-{i}-{os.getpid()}'
        try:
            if c is None:
                c = RawSMTP(P1, timeout=15)
                c.cmd('EHLO gc.test')
            attempts.append(mid)
            i += 1
            code, _ = c.mail_transaction(SENDER, [rcpt],
                                         dot_stuff(message(mid)))
            if code == 250:
                acked.append(mid)
            else:
                errors.append(f'{mid}: {code} {_}')
        except (OSError, EOFError, ft.SMTPError) as e:
            errors.append(f'{mid}: {e!r}')
            if c is not None:
                c.close()
            c = None
            time.sleep(0.05)
    if c is not None:
        try:
            c.cmd('QUIT')
        except (OSError, EOFError, ft.SMTPError):
            pass
        c.close()


def run_sessions(prefix, rcpt, acked, attempts, stop):
    ts = [threading.Thread(target=session,
                           args=(k, prefix, rcpt, acked, attempts, stop, N))
          for k in range(SESSIONS)]
    for t in ts:
        t.start()
    return ts


def test_concurrent_exactly_once():
    acked, attempts = [], []
    stop = threading.Event()
    t0 = time.time()
    ts = run_sessions('gc', ALICE, acked, attempts, stop)
    peak = 0
    while any(t.is_alive() for t in ts):
        peak = max(peak, len(env.queue_files()))
        time.sleep(0.05)
    for t in ts:
        t.join()
    took = time.time() - t0
    total = SESSIONS * N
    check(len(acked) == total, f'{SESSIONS} sessions x {N}: all acknowledged',
          f'{len(acked)} of {total}: {errors[:5]}')
    counts = wait_counts(ALICE, 'gc', set(acked), 60)
    lost = [m for m in acked if counts.get(m, 0) == 0]
    dup = {m: n for m, n in counts.items() if n > 1}
    check(not lost, 'concurrent: every message delivered', lost[:10])
    check(not dup, 'concurrent: no message delivered twice', dup)
    # accepting must not outrun delivery without bound: the pool (32),
    # one file per session and what delivery has not reached yet
    check(peak <= total // 2, f'queue bounded (peak {peak} files)', peak)
    deadline = time.time() + 15
    files = env.queue_files()
    while files and time.time() < deadline:
        time.sleep(0.2)
        files = env.queue_files()
    check(not files, 'queue drains after the burst', files[:5])
    print(f'# {total} messages in {took:.1f} s ({total / took:.0f} msg/s), '
          f'queue peak {peak} files', flush=True)


def test_kill_during_batches():
    acked, attempts = [], []
    stop = threading.Event()
    ts = run_sessions('gk', BOB, acked, attempts, stop)
    deadline = time.time() + 30
    while len(acked) < SESSIONS * N // 4 and time.time() < deadline and \
            any(t.is_alive() for t in ts):
        time.sleep(0.01)
    killed_at = len(acked)
    env.kill_group('smtpd')
    try:
        env.start('smtpd', ports=[P1])
    except RuntimeError as e:
        check(False, 'smtpd restarts after SIGKILL', str(e))
        stop.set()
    for t in ts:
        t.join(120)
    counts = wait_counts(BOB, 'gk', set(acked), 60)
    lost = [m for m in acked if counts.get(m, 0) == 0]
    dup = {m: n for m, n in counts.items() if n > 1}
    check(killed_at > 0 and len(acked) > killed_at,
          'kill: acknowledged before and after the restart',
          f'{killed_at} then {len(acked)}')
    check(not lost, 'kill: every acknowledged message delivered',
          f'{len(lost)} lost: {lost[:10]}')
    check(not dup, 'kill: no message delivered twice', dup)
    unacked = len([m for m in attempts if m not in set(acked)
                   and counts.get(m)])
    print(f'# kill after {killed_at} acks: {len(attempts)} attempts, '
          f'{len(acked)} acked, {sum(counts.values())} delivered, '
          f'{unacked} unacked but delivered', flush=True)


def main():
    ft.main(env, setup, [test_concurrent_exactly_once, test_kill_during_batches])


if __name__ == '__main__':
    main()
