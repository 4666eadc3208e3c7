# SPDX-License-Identifier: ISC
"""test_backscatter - no bounce to a sender that may be forged (issue 16
item 8: forwarding aliases reflected bounces to forged senders).

A forwarding alias (fwd@example.org -> perm-friend@remote.test) sends
its copies through a smarthost (an aiosmtpd sink) that refuses that
recipient with 550.  Mail comes in on port 25 with SPF answered by a test
DNS server:

    sender domain     SPF for 127.0.0.1
    pass.example      pass        -> the sender gets the DSN (at the sink)
    fail.example      fail        -> no bounce, logged
    soft.example      softfail    -> no bounce, logged
    none.example      (no record) -> no bounce, logged

Authenticated senders (AUTH, facteur-sendmail) keep getting their DSNs:
test_outbound.py (test_bounce_550, test_sendmail_bounce).
"""

import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402
from dns_server import DNSServer, free_udp_tcp_port  # noqa: E402
import relay_fixtures as rf  # noqa: E402

env = ft.Env()
P25 = env.port()
DNS = DNSServer(free_udp_tcp_port())
SINK = None
_seq = [0]


def marker():
    _seq[0] += 1
    return f'bsc{os.getpid()}x{_seq[0]}'


def setup():
    global SINK
    DNS.set_txt('pass.example', 'v=spf1 ip4:127.0.0.1 -all')
    DNS.set_txt('fail.example', 'v=spf1 -all')
    DNS.set_txt('soft.example', 'v=spf1 ~all')
    DNS.start()
    SINK = rf.Sink(env, None)
    env.write_config(
        hostname='mx.test', domains='example.org',
        smtp={'listen': f'127.0.0.1:{P25}', 'timeout': '30s'},
        dns={'resolver': f'127.0.0.1:{DNS.port}'},
        inbound={'timeout': '4s', 'dmarc': 'no'},
        relay={'host': '127.0.0.1', 'port': str(SINK.port), 'tls': 'none'},
        queue={'retry': '5s'})
    env.add_user('bob@example.org', 'bob pw 1')
    env.add_alias('fwd@example.org', 'perm-friend@remote.test')
    env.start('authd')
    env.start('smtpd', ports=[P25])


def send(sender, rcpt, mark):
    msg = (f'From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {mark}\r\n'
           f'Message-ID: <{mark}@test>\r\n\r\nforwarded\r\n')
    with smtplib.SMTP('127.0.0.1', P25, local_hostname='client.test',
                      timeout=30) as c:
        c.sendmail(sender, [rcpt], msg)


def log():
    return env.daemons['smtpd'].log_text()


def wait_for(cond, timeout=15.0):
    return ft.wait_for(cond, timeout, 0.1)


def bounces_to(sender):
    return [m for m in list(SINK.msgs) if m['from'] in ('', '<>') and
            m['rcpt'] == [sender]]


def test_forwarded_bounce_only_to_verified():
    cases = (('alice@pass.example', True), ('mallory@fail.example', False),
             ('eve@soft.example', False), ('trudy@none.example', False))
    for sender, bounce in cases:
        send(sender, 'fwd@example.org', marker())
    for sender, bounce in cases:
        if bounce:
            got = wait_for(lambda s=sender: bounces_to(s))
            check(len(got) == 1, f'{sender} (SPF pass): one DSN', got)
        else:
            line = wait_for(lambda s=sender: re.search(
                rf'failed; sender <{re.escape(s)}> was not verified .*no '
                'bounce', log()))
            check(line, f'{sender}: logged, no bounce', log()[-1500:])
            check(not bounces_to(sender), f'{sender}: no DSN sent')
    check(wait_for(lambda: not env.queue_files(), 10), 'queue empty',
          env.queue_files())


TESTS = [test_forwarded_bounce_only_to_verified]

if __name__ == '__main__':
    ft.main(env, setup, TESTS)
