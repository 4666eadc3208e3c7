#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_local_senders - whom a local account may send as through
facteur-sendmail (issue 16 item 7): without a [sendmail] sender line a
service account sends as noreply@ and a person's account as login@ the
first domain; with one, as the addresses it lists; MAIL FROM and a From
header with an address are checked by smtpd against the caller's uid, a
bare From name (cron) passes; CR or LF in any argument is refused before
anything is sent (exit 2).  A listed address that reaches no mailbox is
accepted, and authd logs it at start.
"""

import os
import pwd

import facteur_test as ft
from facteur_test import check

ALICE = 'alice@example.org'
env = ft.Env()
P1 = env.port()
me = pwd.getpwnam(env.user)
DEFAULT = ('noreply' if me.pw_uid < 1000 or me.pw_uid == 65534
           else me.pw_name) + '@example.org'


def config(sendmail=None):
    kw = {}
    if sendmail:
        kw['sendmail'] = sendmail
    env.write_config(domains='example.org example.net',
                     smtp={'listen': [f'127.0.0.1:{P1}'], 'timeout': '5s'},
                     **kw)


def sendmail(*args, text='Subject: t\n\nbody\n'):
    return env.tool('sendmail', *args, stdin=text)


def delivered(mark):
    return env.find_messages(ALICE, mark)


def test_default_sender():
    r = sendmail(ALICE, text=f'Subject: default\n\nmark-default\n')
    check(r.returncode == 0, 'no -f: accepted', r.stderr)
    env.wait_message(ALICE, 'mark-default')
    msg = delivered('mark-default')[0]
    check(f'Return-Path: <{DEFAULT}>'.encode() in msg,
          f'no -f: the sender is {DEFAULT}', msg[:300])


def test_other_sender_refused():
    r = sendmail('-f', 'bob@example.org', ALICE, text='Subject: x\n\nmark-bob\n')
    check(r.returncode == 1 and '553' in r.stderr,
          '-f someone else: refused with 553, exit 1', (r.returncode, r.stderr))
    r = sendmail('-f', DEFAULT, ALICE,
                 text='From: ceo@example.org\nSubject: x\n\nmark-ceo\n')
    check(r.returncode == 1 and '553' in r.stderr,
          'a From header of someone else: refused', (r.returncode, r.stderr))
    r = sendmail('-f', DEFAULT, ALICE,
                 text='From: <alice@example.org>bob@example.org\n'
                      'Subject: x\n\nmark-mixed\n')
    check(r.returncode == 1, 'a From of two addresses run together: refused',
          (r.returncode, r.stderr))
    r = sendmail(ALICE, text='From: root (Cron Daemon)\nSubject: cron\n\n'
                             'mark-cron\n')
    check(r.returncode == 0, 'a From with a bare name (cron) passes', r.stderr)
    env.wait_message(ALICE, 'mark-cron')
    check(not delivered('mark-bob') and not delivered('mark-ceo') and
          not delivered('mark-mixed'), 'nothing refused was delivered')


def test_cr_lf_arguments():
    before = len(env.maildir_files(ALICE))
    for args, what in (
            (('-f', f'{DEFAULT}>\r\nRCPT TO:<bob@example.org', ALICE), '-f'),
            (('-f', DEFAULT, 'alice@example.org\nbob@example.org'),
             'a recipient'),
            (('-F', 'Evil\r\nBcc: bob@example.org', ALICE), '-F'),
            (('-f', DEFAULT + '\r', ALICE), 'a lone CR')):
        r = sendmail(*args)
        check(r.returncode == 2 and 'CR or LF' in r.stderr,
              f'CR/LF in {what}: exit 2 with a message',
              (r.returncode, r.stderr))
    check(len(env.maildir_files(ALICE)) == before, 'nothing was sent')


def test_mapping():
    env.stop('smtpd')
    env.stop('authd')
    config({'sender': f'{env.user} nas@example.org backup@example.net'})
    env.start('authd')
    env.start('smtpd', ports=[P1])
    # nas@example.org is no user or alias: still a valid sender (a cron
    # job's report must go out), but its bounces would be lost: authd says
    # so at start (facteur-keytool doctor too)
    log = env.daemons['authd'].log_text()
    check(f'[sendmail] sender nas@example.org (account {env.user}) reaches '
          'no mailbox: bounces and replies to its mail are lost' in log,
          'a sender address that reaches nobody is logged at start',
          log[-1500:])
    r = sendmail(ALICE, text='Subject: m\n\nmark-map1\n')
    check(r.returncode == 0, 'mapped account: no -f accepted', r.stderr)
    env.wait_message(ALICE, 'mark-map1')
    check(b'Return-Path: <nas@example.org>' in delivered('mark-map1')[0],
          'mapped account: the first address is the default sender')
    r = sendmail('-f', 'backup+daily@example.net', ALICE,
                 text='Subject: m\n\nmark-map2\n')
    check(r.returncode == 0, 'mapped account: a +tag of a listed address',
          r.stderr)
    if DEFAULT != 'nas@example.org':
        r = sendmail('-f', DEFAULT, ALICE, text='Subject: m\n\nmark-map3\n')
        check(r.returncode == 1 and '553' in r.stderr,
              'mapped account: the default address is no longer allowed',
              r.stderr)


def setup():
    config()
    env.add_user(ALICE, 'pw alice')
    env.start('authd')
    env.start('smtpd', ports=[P1])


setup()
ft.run_tests(env, [test_default_sender, test_other_sender_refused,
                   test_cr_lf_arguments, test_mapping])
