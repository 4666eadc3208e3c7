# SPDX-License-Identifier: ISC
"""test_postmaster - RFC 5321 4.5.1: postmaster@ every local domain, and the
bare <postmaster>, take mail on port 25 even when no user or alias has that
address (issue 13): to `postmaster =` of the configuration, else to the
first user of users.db (key order), which authd says in its log."""

import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

env = ft.Env('postmaster')
PORT = env.port()
ALICE, BOB = 'alice@example.org', 'bob@example.org'


def configure(**extra):
    env.write_config(domains='example.org example.com',
                     smtp={'listen': [f'127.0.0.1:{PORT}'], 'timeout': '5s'},
                     **extra)


def send(rcpt, subject):
    msg = (f'From: a@example.net\r\nTo: {rcpt}\r\nSubject: {subject}\r\n'
           '\r\nhello\r\n')
    with smtplib.SMTP('127.0.0.1', PORT, timeout=20) as s:
        s.ehlo('client.example.net')
        s.mail('a@example.net')
        code, text = s.rcpt(rcpt)
        if code == 250:
            s.data(msg.encode())
        return code, text


def test_default_first_user():
    for rcpt, what in (('postmaster@example.com', 'other domain'),
                       ('PostMaster@example.org', 'mixed case'),
                       ('postmaster', 'bare <postmaster>')):
        subject = f'pm default {what}'
        code, text = send(rcpt, subject)
        check(code == 250, f'RCPT {rcpt} accepted ({what})', f'{code} {text}')
        check(env.wait_message(ALICE, subject),
              f'{what}: delivered to the first user, {ALICE}')
    code, _ = send('postmistress@example.org', 'unknown')
    check(code == 550, 'another unknown local part is still refused', code)
    check('postmaster@ of the local domains goes to alice@example.org'
          in env.daemons['authd'].log_text(),
          'authd says where postmaster@ goes', '')


def test_configured():
    env.stop_all()
    configure(postmaster=BOB)
    env.start('authd')
    env.start('smtpd', ports=[PORT])
    code, text = send('postmaster@example.com', 'pm configured')
    check(code == 250 and env.wait_message(BOB, 'pm configured'),
          'postmaster = bob@example.org takes it', f'{code} {text}')


def main():
    configure()
    env.add_user(BOB, 'bob password 1')
    env.add_user(ALICE, 'alice password 1')
    env.start('authd')
    env.start('smtpd', ports=[PORT])
    ft.run_tests(env, [test_default_first_user, test_configured])


if __name__ == '__main__':
    main()
