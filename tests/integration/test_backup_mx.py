# SPDX-License-Identifier: ISC
"""test_backup_mx - facteur as the backup MX of other domains ([smtp]
backup_domains).  dnsmasq serves the zones; the primary MX is a
python3-aiosmtpd sink on 127.0.6.1:25 (MX hosts are reached on port 25,
so this needs root, as in CI; otherwise the test says so and passes
nothing but the RCPT checks).

backed.test: MX 10 mx1.backed.test (127.0.6.1, the primary), MX 20 our
hostname.  self.test: MX 10 our hostname, MX 20 mx.self.test (127.0.6.2):
we are its best MX, so nothing may go to 127.0.6.2.  A [relay] smarthost
is configured and must see none of this mail.

Checked: RCPT for a backed-up domain is taken on port 25 without AUTH,
another remote domain is refused; primary down -> the message stays
queued; primary up -> one flush delivers it exactly once, byte for byte;
self.test mail stays queued with "better than us"; conf errors."""

import functools
import os
import re
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
import relay_fixtures as rf  # noqa: E402

ROOT = os.geteuid() == 0
PRIMARY, OTHER = '127.0.6.1', '127.0.6.2'
HOSTNAME = 'mx2.backed.test'
env = ft.Env()
P25, SMART = env.port(), env.port()
PKI = rf.make_pki(env.tls_dir)
Sink = functools.partial(rf.Sink, env, PKI)
dns = None
smart = None


wait_for = ft.wait_for


def send(rcpt, marker):
    msg = (f'From: <someone@sender.test>\r\nTo: <{rcpt}>\r\n'
           f'Subject: {marker}\r\nMessage-ID: <{marker}@sender.test>\r\n\r\n'
           f'backup mx body {marker}\r\n.dot line\r\n')
    with smtplib.SMTP('127.0.0.1', P25, timeout=30) as s:
        s.ehlo('client.sender.test')
        s.sendmail('someone@sender.test', [rcpt], msg)
    return msg.encode()


def rcpt_code(rcpt):
    with smtplib.SMTP('127.0.0.1', P25, timeout=30) as s:
        s.ehlo('client.sender.test')
        s.mail('someone@sender.test')
        return s.rcpt(rcpt)


def queue_list():
    r = env.tool('ctl', 'queue', 'list')
    return r.stdout + r.stderr


def with_marker(sink, marker):
    return [m for m in list(sink.msgs) if marker.encode() in m['data']]


def setup():
    global dns, smart
    dns = rf.DNS(env, [
        '--mx-host=backed.test,mx1.backed.test,10',
        f'--mx-host=backed.test,{HOSTNAME},20',
        f'--host-record=mx1.backed.test,{PRIMARY}',
        f'--host-record={HOSTNAME},127.0.0.1',
        f'--mx-host=self.test,{HOSTNAME},10',
        '--mx-host=self.test,mx.self.test,20',
        f'--host-record=mx.self.test,{OTHER}',
    ])
    smart = Sink(port=SMART)
    env.write_config(
        hostname=HOSTNAME, domains='example.org',
        smtp={'listen': f'127.0.0.1:{P25}', 'timeout': '60s',
              'backup_domains': 'backed.test SELF.test'},
        relay={'host': '127.0.0.1', 'port': SMART, 'tls': 'none'},
        dns={'resolver': f'127.0.0.1:{dns.port}'},
        queue={'retry': '2s', 'max_retry': '2s', 'expire': '1h'})
    env.start('authd')
    env.start('smtpd', ports=[P25])


def test_conf():
    bad = env.path('bad.conf')
    with open(bad, 'w', encoding='utf-8') as f:
        f.write('domains = example.org\n[smtp]\n'
                'backup_domains = example.net example.org\n')
    r = env.tool('keytool', '-c', bad, 'user', 'list')
    ft.check(r.returncode != 0 and 'backup_domains other than the local'
             in r.stderr, 'a local domain as backup domain is refused',
             r.stderr)


def test_rcpt():
    code, text = rcpt_code('anyone@backed.test')
    ft.check(code == 250, 'RCPT for a backed-up domain accepted', text)
    code, text = rcpt_code('anyone@Backed.Test')
    ft.check(code == 250, 'case does not matter', text)
    code, text = rcpt_code('anyone@elsewhere.test')
    ft.check(code == 554, 'another remote domain: relay denied', text)
    code, text = rcpt_code('anyone@sub.backed.test')
    ft.check(code == 554, 'a sub-domain is not backed up', text)


def test_primary_down_then_up():
    if not ROOT:
        print('# skipped: MX delivery on port 25 needs root')
        return
    marker = 'bmx-%d' % time.time()
    send('bob@backed.test', marker)
    # the first attempt, to the primary that is down, must be over before
    # the primary comes up
    ok = wait_for(lambda: re.search(
        r'to=<bob@backed\.test> relay=mx1\.backed\.test.* status=deferred',
        env.daemons['smtpd'].log_text()), 20)
    ft.check(ok, 'a deferral is logged', env.daemons['smtpd'].log_text()[-2000:])
    ft.check('<bob@backed.test>' in queue_list(), 'primary down: queued',
             queue_list())
    primary = Sink(host=PRIMARY, port=25)
    try:
        r = env.tool('ctl', 'queue', 'flush')
        ft.check(r.returncode == 0, 'flush')
        got = wait_for(lambda: with_marker(primary, marker), 20)
        ft.check(len(got) == 1, 'primary up: delivered', got)
        if got:
            ft.check(b'backup mx body ' + marker.encode() +
                     b'\r\n.dot line\r\n' in got[0]['data'],
                     'body intact (dot line too)', got[0]['data'])
            ft.check(got[0]['rcpt'] == ['bob@backed.test'],
                     'to the backed-up recipient', got[0]['rcpt'])
        ft.check(wait_for(lambda: '<bob@backed.test>' not in queue_list(),
                          10), 'queue empty after delivery', queue_list())
        env.tool('ctl', 'queue', 'flush')
        time.sleep(3)
        ft.check(len(with_marker(primary, marker)) == 1, 'delivered once')
    finally:
        primary.stop()
    ft.check(not with_marker(smart, marker), 'never through the smarthost')


def test_we_are_best_mx():
    if not ROOT:
        print('# skipped: MX delivery on port 25 needs root')
        return
    other = Sink(host=OTHER, port=25)
    try:
        marker = 'self-%d' % time.time()
        send('carol@self.test', marker)
        ok = wait_for(lambda: 'better than us' in
                      env.daemons['smtpd'].log_text(), 15)
        ft.check(ok, 'we are the best MX: "better than us" logged')
        env.tool('ctl', 'queue', 'flush')
        time.sleep(3)
        ft.check('<carol@self.test>' in queue_list(), 'kept in the queue',
                 queue_list())
        ft.check(not with_marker(other, marker),
                 'not sent to a worse MX host')
        ft.check(not with_marker(smart, marker), 'not sent to the smarthost')
    finally:
        other.stop()


def main():
    setup()
    try:
        ft.run_tests(env, [test_conf, test_rcpt, test_primary_down_then_up,
                           test_we_are_best_mx])
    finally:
        dns.stop()
        smart.stop()


if __name__ == '__main__':
    main()
