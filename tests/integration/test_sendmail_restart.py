#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_sendmail_restart - facteur-sendmail rides over a restart of
facteur-smtpd (README "Local mail"): a cron job's mail sent while smtpd is
stopped, or while a reload restarts its roles, arrives once smtpd is back,
exactly once; when smtpd stays down, facteur-sendmail gives up after its
bound (15 s) with exit 75 (EX_TEMPFAIL) and says that nothing was sent.
Before this, it exited 1 at once and the cron job's output was lost."""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

ALICE = 'alice@example.org'

env = ft.Env()
P1 = env.port()


def setup():
    env.write_config(domains='example.org',
                     smtp={'listen': [f'127.0.0.1:{P1}']})
    env.add_user(ALICE, 'pw alice')
    env.start('authd')
    env.start('smtpd', ports=[P1])


def sendmail_bg(mark, size=0):
    """facteur-sendmail ALICE in the background, the message on stdin
    (with size more bytes of body)"""
    # pylint: disable=protected-access
    p = subprocess.Popen(  # pylint: disable=consider-using-with
        [env.binary('sendmail'), '-C', env.conf, ALICE],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=env.tmp,
        env=env._preexec_env(ft.TOOL_ASAN), **env._user_kw())
    p.stdin.write(f'Subject: {mark}\n\ncron output {mark}\n')
    p.stdin.write(('x' * 99 + '\n') * (size // 100))
    p.stdin.close()
    return p


def finish(p, timeout=40):
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    err = p.stderr.read()
    check(not any(m in err for m in ft.SANITIZER_MARKS),
          'sendmail: no sanitizer report', err[-3000:])
    return p.returncode, err


def test_restart():
    """stopped (socket left behind: ECONNREFUSED), started again 1.5 s later"""
    env.stop('smtpd')
    mark = f'restart-{os.getpid()}'
    t0 = time.time()
    p = sendmail_bg(mark)
    time.sleep(1.5)
    check(p.poll() is None, 'smtpd stopped: sendmail waits',
          p.poll())
    env.start('smtpd', ports=[P1])
    rc, err = finish(p)
    check(rc == 0 and err == '', 'smtpd back: sendmail exits 0, quietly',
          (rc, err, time.time() - t0))
    env.wait_message(ALICE, mark)
    time.sleep(1)
    check(len(env.find_messages(ALICE, mark)) == 1, 'delivered exactly once',
          len(env.find_messages(ALICE, mark)))


def test_socket_gone():
    """run_dir/smtpd.sock missing (ENOENT) until smtpd starts"""
    env.stop('smtpd')
    sock = os.path.join(env.run_dir, 'smtpd.sock')
    if os.path.exists(sock):
        os.unlink(sock)
    mark = f'nosock-{os.getpid()}'
    p = sendmail_bg(mark)
    time.sleep(1)
    check(p.poll() is None, 'no socket: sendmail waits', p.poll())
    env.start('smtpd', ports=[P1])
    rc, err = finish(p)
    check(rc == 0, 'socket back: sendmail exits 0', (rc, err))
    env.wait_message(ALICE, mark)
    time.sleep(1)
    check(len(env.find_messages(ALICE, mark)) == 1, 'delivered exactly once',
          len(env.find_messages(ALICE, mark)))


def test_reload_restarts_roles():
    """sessions in progress when a reload restarts the roles get the
    stopping smtp role's 421: sent again, each arrives once.  authd is
    stopped (SIGSTOP) so that the sessions wait for its answer when the
    SIGHUP comes, then continued."""
    log = env.daemons['smtpd'].log_text
    n = log().count('starting the roles again')
    with open(env.conf, 'a', encoding='utf-8') as f:
        f.write('\n[queue]\nretry = 2m\n')     # a change smtpd uses
    authd = env.daemons['authd'].proc.pid
    os.killpg(authd, signal.SIGSTOP)
    try:
        procs = []
        for i in range(3):
            mark = f'reload-{os.getpid()}-{i}'
            procs.append((mark, sendmail_bg(mark)))
        time.sleep(0.5)
        check(all(p.poll() is None for _, p in procs),
              'authd stopped: the sessions wait', [p.poll() for _, p in procs])
        os.kill(env.daemons['smtpd'].proc.pid, signal.SIGHUP)
        ft.wait_for(lambda: log().count('starting the roles again') > n, 10)
    finally:
        os.killpg(authd, signal.SIGCONT)
    check(log().count('starting the roles again') > n,
          'the reload restarted the roles', log()[-800:])
    for mark, p in procs:
        rc, err = finish(p)
        check(rc == 0, f'{mark}: exit 0', (rc, err))
    for mark, _ in procs:
        env.wait_message(ALICE, mark)
    time.sleep(1)
    for mark, _ in procs:
        check(len(env.find_messages(ALICE, mark)) == 1,
              f'{mark}: delivered exactly once',
              len(env.find_messages(ALICE, mark)))


def test_stays_down():
    env.stop('smtpd')
    t0 = time.time()
    p = sendmail_bg(f'down-{os.getpid()}')
    rc, err = finish(p)
    took = time.time() - t0
    check(rc == 75, 'smtpd stays down: exit 75 (EX_TEMPFAIL)', (rc, err))
    check('nothing was sent' in err and 'facteur-smtpd' in err and
          '15 s' in err, 'stderr says nothing was sent and why', err)
    check(13 <= took <= 20, 'gave up after about 15 s', took)
    env.start('smtpd', ports=[P1])


if __name__ == '__main__':
    ft.main(env, setup, [test_restart, test_socket_gone,
                         test_reload_restarts_roles, test_stays_down])
