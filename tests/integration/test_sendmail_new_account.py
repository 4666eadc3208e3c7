#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_sendmail_new_account - a person's account made after facteur-smtpd
started (README "Local mail"): smtpd read the accounts at start, so
facteur-sendmail's default sender for it (login@ the first domain) is
refused, and the refusal says to reload; a reload (SIGHUP) sees that the
accounts changed, restarts the roles, and the account's mail then goes
through.  A reload with no account changed keeps the roles.  Needs root
(useradd); skipped otherwise."""

import os
import pwd
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

ALICE = 'alice@example.org'
LOGIN = f'fcnew{os.getpid() % 100000}'

if os.geteuid() != 0:
    print('# test_sendmail_new_account: skipped (needs root for useradd)')
    print('0 passed, 0 failed')
    sys.exit(0)

env = ft.Env()
P1 = env.port()


def sendmail_as(uid, gid, mark):
    e = dict(os.environ, HOME='/', USER=LOGIN, LOGNAME=LOGIN,
             ASAN_OPTIONS=ft.TOOL_ASAN, UBSAN_OPTIONS=ft.UBSAN)
    return subprocess.run(
        [env.binary('sendmail'), '-C', env.conf, ALICE],
        input=f'Subject: {mark}\n\n{mark}\n', capture_output=True,
        text=True, timeout=30, user=uid, group=gid, extra_groups=[],
        env=e, cwd='/')


def smtpd_log():
    return env.daemons['smtpd'].log_text()


def reload_smtpd(expect):
    """SIGHUP, then wait for the line `expect` (the roles restarted, or
    kept) to appear once more"""
    n = smtpd_log().count(expect)
    os.kill(env.daemons['smtpd'].proc.pid, signal.SIGHUP)
    ft.wait_for(lambda: smtpd_log().count(expect) > n, 10)
    ft.wait_port(P1, 10)


def test_new_account():
    subprocess.run(['useradd', '-M', '-N', '-s', '/usr/sbin/nologin',
                    LOGIN], check=True)
    try:
        pw = pwd.getpwnam(LOGIN)
        check(pw.pw_uid >= 1000, 'useradd made a person\'s account',
              pw.pw_uid)
        r = sendmail_as(pw.pw_uid, pw.pw_gid, 'mark-before')
        check(r.returncode == 1 and '553' in r.stderr and
              'reload' in r.stderr,
              'before a reload: refused, and the error says to reload',
              (r.returncode, r.stderr))
        reload_smtpd('starting the roles again')
        check('the local accounts changed' in smtpd_log(),
              'the reload sees the new account', smtpd_log()[-1500:])
        r = sendmail_as(pw.pw_uid, pw.pw_gid, 'mark-after')
        check(r.returncode == 0, 'after the reload: accepted',
              (r.returncode, r.stderr))
        if r.returncode == 0:
            env.wait_message(ALICE, 'mark-after')
            msg = env.find_messages(ALICE, 'mark-after')[0]
            check(f'Return-Path: <{LOGIN}@example.org>'.encode() in msg,
                  'sent as login@ the first domain', msg[:300])
        # nothing changed since: the roles stay
        n = smtpd_log().count('the local accounts changed')
        reload_smtpd('nothing smtpd uses changed')
        check(smtpd_log().count('the local accounts changed') == n and
              'nothing smtpd uses changed' in smtpd_log().split(
                  'the local accounts changed')[-1],
              'a reload with the same accounts keeps the roles',
              smtpd_log()[-800:])
    finally:
        subprocess.run(['userdel', LOGIN], check=False)


def setup():
    env.write_config(smtp={'listen': [f'127.0.0.1:{P1}'], 'timeout': '5s'})
    env.add_user(ALICE, 'secret pw')
    env.start('authd')
    env.start('smtpd', ports=[P1])
    # the port is the parent's: a greeting means the smtp role runs, so it
    # has read the accounts before the test makes one
    c = ft.RawSMTP(P1)
    c.cmd('QUIT')
    c.close()


setup()
ft.run_tests(env, [test_new_account])
