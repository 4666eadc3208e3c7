# SPDX-License-Identifier: ISC
"""test_fetch_resolver - a [fetch] account's server is looked up through
`[dns] resolver` when the configuration names one, like every other
lookup of smtpd (before, the fetch role asked the system's resolver and
a name only [dns] resolver knows was "cannot resolve").  The remote is
facteur's own IMAPS (remote@ plays the fallback mailbox, alice@ is home),
named imap.provider.test by a small DNS server; a name that server does
not have is logged with the resolver asked."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402
from dns_server import DNSServer  # noqa: E402

ALICE, REMOTE = 'alice@example.org', 'remote@example.org'
PASS = 'fetch resolver pw'
env = ft.Env()
IMAPS, SMTP = env.port(), env.port()
dns = DNSServer(env.port(udp=True))


def test_fetch_by_resolver():
    env.put_message(REMOTE, 'From: <x@provider.test>\nTo: <alice@example.org>'
                    '\nSubject: resolved\n\nmark-resolved\n')
    env.start('authd')
    env.start('imapd', ports=[IMAPS])
    env.start('smtpd', ports=[SMTP])
    got = env.wait_message(ALICE, 'mark-resolved', timeout=20)
    log = env.daemons['smtpd'].log_text()
    check(got, 'fetched from imap.provider.test, a name only [dns] '
          'resolver has', log[-2000:])
    check(('imap.provider.test', 'A') in dns.queries or
          ('imap.provider.test', 'AAAA') in dns.queries,
          'the name was asked of [dns] resolver', dns.queries[-10:])
    ft.wait_for(lambda: 'nosuch.provider.test' in
                env.daemons['smtpd'].log_text(), 10)
    log = env.daemons['smtpd'].log_text()
    check(f'cannot resolve nosuch.provider.test with [dns] resolver '
          f'127.0.0.1:{dns.port}' in log,
          'an unknown name: the log names the resolver asked', log[-2000:])


def setup():
    dns.add('imap.provider.test', 'A', '127.0.0.1')
    dns.start()
    env.make_cert(cn='imap.provider.test')
    pw = env.path('remote.secret')
    with open(pw, 'w', encoding='utf-8') as f:
        f.write(PASS + '\n')
    os.chmod(pw, 0o600)
    env.chown(pw)
    acc = [f'imaps://remote%40example.org@imap.provider.test:{IMAPS}/INBOX '
           f'{ALICE} password_file={pw} ca_file={env.cert} interval=1h',
           f'imaps://remote%40example.org@nosuch.provider.test:{IMAPS} '
           f'{ALICE} password_file={pw} ca_file={env.cert} interval=1h']
    env.write_config(smtp={'listen': f'127.0.0.1:{SMTP}'},
                     imap={'listen': f'127.0.0.1:{IMAPS}'},
                     dns={'resolver': f'127.0.0.1:{dns.port}'},
                     fetch={'account': acc})
    env.add_user(ALICE, PASS)
    env.add_user(REMOTE, PASS)


setup()
try:
    ft.run_tests(env, [test_fetch_by_resolver])
finally:
    dns.stop()
