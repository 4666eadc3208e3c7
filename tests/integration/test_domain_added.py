#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_domain_added - a domain added to `domains` and smtpd reloaded, but
authd still on the old list (started as root it is chrooted and cannot
reread facteur.conf: README "Reloading"): a recipient of the new domain
gets 451 ("try again"), never 550 "User unknown", which would bounce the
mail for good, and authd's log says to restart it.  Once authd restarted,
the mail is taken."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

env = ft.Env()
P1 = env.port()
BOB = 'bob@example.net'


def rcpt(addr):
    c = ft.RawSMTP(P1)
    c.ehlo()
    c.cmd('MAIL FROM:<a@sender.test>')
    code, text = c.cmd(f'RCPT TO:<{addr}>')
    c.cmd('QUIT')
    c.close()
    return code, text


def test_domain_added():
    check(rcpt('alice@example.org')[0] == 250, 'a known user: 250')
    env.write_config(domains='example.org example.net',
                     smtp={'listen': [f'127.0.0.1:{P1}'], 'timeout': '5s'},
                     inbound={'spf': 'no', 'dkim': 'no', 'dmarc': 'no'})
    env.add_user(BOB, 'secret pw')
    d = env.daemons['smtpd']
    n = d.log_text().count('starting the roles again')
    os.kill(d.proc.pid, signal.SIGHUP)     # smtpd only, as a chrooted authd
    ft.wait_for(lambda: d.log_text().count('starting the roles again') > n,
                10)
    ft.wait_port(P1, 10)
    code, text = ft.wait_for(lambda: rcpt(BOB), 1) or (0, '')
    check(code == 451, 'authd without the new domain: 451, not 550',
          (code, text))
    log = env.daemons['authd'].log_text()
    check('example.net is not one of the domains authd read' in log and
          'restart authd' in log, 'authd says to restart it', log[-800:])
    env.stop('authd')
    env.start('authd')
    code, text = rcpt(BOB)
    check(code == 250, 'after authd restarted: 250', (code, text))
    check(rcpt('nobody@example.net')[0] == 550,
          'an unknown user of the new domain: 550')


def setup():
    env.write_config(smtp={'listen': [f'127.0.0.1:{P1}'], 'timeout': '5s'},
                     inbound={'spf': 'no', 'dkim': 'no', 'dmarc': 'no'})
    env.add_user('alice@example.org', 'secret pw')
    env.start('authd')
    env.start('smtpd', ports=[P1])


setup()
ft.run_tests(env, [test_domain_added])
