# SPDX-License-Identifier: ISC
"""test_screen - the front door of port 25 ([screen], issue 11): DNSBL and
DNSWL scores, the pregreet test, HELO and sender-domain hygiene, one log
line per refused client, and the fail2ban filter shipped in init/fail2ban/
run by fail2ban-regex over lines these daemons wrote.

A test DNS server (dns_server.py) serves the lists; clients connect from
several loopback addresses (127.0.0.1, .3, .4, .5: Linux routes all of
127/8 to lo), so one smtpd serves them all:

    client      bl.test (weight 2)     wl.test (weight 3)   outcome
    127.0.0.1   127.0.0.2              -                    554 5.7.1 bl.test
    127.0.0.3   127.0.0.99 (filtered)  -                    served
    127.0.0.4   127.0.0.2              127.0.0.5            served (score -1)
    127.0.0.5   -                      -                    talks early: 554 5.5.1

slow.test never answers: every greeting waits [screen] dns_timeout (1 s,
as long as the pregreet wait, so it costs no time) and is then sent.
"""

import imaplib
import os
import poplib
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402
from dns_server import DNSServer, free_udp_tcp_port  # noqa: E402

HOST = 'mx.test'
BOB = 'bob@example.org'
PASS = 'bob pw 1'

env = ft.Env()
P25, P587, PIMAPS, PPOP3S = env.port(), env.port(), env.port(), env.port()
DNS = DNSServer(free_udp_tcp_port())
FILTER = os.path.join(ft.SRC, 'init', 'fail2ban', 'filter.d', 'facteur.conf')


def zones():
    DNS.add('1.0.0.127.bl.test', 'A', '127.0.0.2')
    DNS.add('3.0.0.127.bl.test', 'A', '127.0.0.99')
    DNS.add('4.0.0.127.bl.test', 'A', '127.0.0.2')
    DNS.add('4.0.0.127.wl.test', 'A', '127.0.0.5')
    DNS.drop.add('slow.test')
    DNS.add('mx.example', 'MX', '10 mail.mx.example.')
    DNS.add('a.example', 'A', '192.0.2.1')
    DNS.add('nullmx.example', 'MX', '0 .')
    DNS.add('noaddr.example', 'TXT', 'v=spf1 -all')
    DNS.servfail.add('broken.example')


def setup():
    zones()
    DNS.start()
    env.write_config(
        hostname=HOST,
        smtp={'listen': [f'127.0.0.1:{P25}'],
              'submission': [f'127.0.0.1:{P587}'], 'timeout': '20s'},
        imap={'listen': f'127.0.0.1:{PIMAPS}'},
        pop3={'listen': f'127.0.0.1:{PPOP3S}'},
        dns={'resolver': f'127.0.0.1:{DNS.port}'},
        inbound={'timeout': '3s'},
        screen={'dnsbl': ['bl.test=127.0.0.[2..11]*2', 'slow.test'],
                'dnswl': 'wl.test*3', 'threshold': 2, 'pregreet': '1s',
                'dns_timeout': '1s', 'helo_own': True, 'helo_fqdn': True,
                'unknown_sender': 550})
    env.add_user(BOB, PASS)
    env.start('authd')
    env.start('smtpd', ports=[P25, P587])
    env.start('imapd', ports=[PIMAPS, PPOP3S])


class Client:
    """A raw SMTP client from a chosen loopback address."""

    def __init__(self, src, port=P25):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=10,
                                             source_address=(src, 0))
        self.f = self.sock.makefile('rb')

    def line(self):
        return self.f.readline().decode('latin-1').rstrip('\r\n')

    def reply(self):
        """Every line of one reply; (code, [lines])."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == '-':
            lines.append(self.line())
        return int(lines[-1][:3] or 0), lines

    def cmd(self, text):
        self.sock.sendall(text.encode() + b'\r\n')
        return self.reply()

    def close(self):
        try:
            self.sock.sendall(b'QUIT\r\n')
            self.reply()
        except OSError:
            pass
        self.sock.close()


def smtpd_log():
    return env.daemons['smtpd'].log_text()


def refused_lines(addr):
    return [l for l in smtpd_log().splitlines()
            if f'addr={addr} screen=refused' in l]


# -- DNSBL, DNSWL -----------------------------------------------------------

def test_listed_refused():
    start = time.time()
    c = Client('127.0.0.1')
    code, banner = c.reply()
    took = time.time() - start
    check(code == 220 and banner[0].startswith('220-') and len(banner) == 2,
          'port 25 greets in two lines (220-, wait, 220)', banner)
    check(0.9 <= took < 3, 'the greeting came after the 1 s wait', took)
    code, lines = c.cmd('EHLO client.example')
    check(code == 554 and '5.7.1' in lines[-1] and 'bl.test' in lines[-1]
          and '[127.0.0.1]' in lines[-1],
          'listed client: 554 5.7.1 naming the list', lines)
    code, lines = c.cmd('MAIL FROM:<a@mx.example>')
    check(code == 554, 'listed client: MAIL refused too', lines)
    code, _ = c.cmd('NOOP')
    check(code == 250, 'listed client: NOOP still answered', code)
    c.close()
    time.sleep(0.1)
    lines = refused_lines('127.0.0.1')
    check(len(lines) == 1 and re.search(
        r'screen=refused reason=dnsbl score=2 lists=bl\.test$', lines[0]),
        'one log line for the listed client', lines)


def test_listed_cached():
    before = DNS.queries.count(('1.0.0.127.bl.test', 'A'))
    c = Client('127.0.0.1')
    c.reply()
    code, lines = c.cmd('HELO client.example')
    check(code == 554 and 'bl.test' in lines[-1],
          'listed client refused again', lines)
    c.close()
    check(DNS.queries.count(('1.0.0.127.bl.test', 'A')) == before,
          'the second answer came from lib/dns\'s cache', DNS.queries)


def test_filtered_served():
    """A list answer outside the filter does not count; whole mail goes."""
    s = smtplib.SMTP(timeout=10, source_address=('127.0.0.3', 0),
                     local_hostname='client.example')
    code, _ = s.connect('127.0.0.1', P25)
    check(code == 220, 'client outside the filter greeted', code)
    s.sendmail('someone@mx.example', [BOB],
               b'From: someone@mx.example\r\nSubject: screen ok\r\n\r\nhi\r\n')
    s.quit()
    check(not refused_lines('127.0.0.3'), 'not refused, not logged',
          refused_lines('127.0.0.3'))
    new = os.path.join(env.mail_root, 'example.org', 'bob', 'new')

    def mails():
        return os.listdir(new) if os.path.isdir(new) else []
    deadline = time.time() + 5
    while time.time() < deadline and not mails():
        time.sleep(0.05)
    check(len(mails()) == 1, 'its mail delivered', mails())


def test_allowlisted():
    c = Client('127.0.0.4')
    code, _ = c.reply()
    code, lines = c.cmd('EHLO client.example')
    check(code == 250, 'listed but allow-listed client served (score -1)',
          lines)
    c.close()
    check(not refused_lines('127.0.0.4'), 'allow-listed: not refused')


def test_submission_no_wait():
    start = time.time()
    c = Client('127.0.0.1', P587)
    code, banner = c.reply()
    took = time.time() - start
    check(code == 220 and len(banner) == 1 and took < 0.5,
          'submission greets at once, one line', (banner, took))
    code, _ = c.cmd('EHLO client.example')
    check(code == 250, 'a listed address may use submission', code)
    c.close()


# -- pregreet ---------------------------------------------------------------

def test_pregreet():
    c = Client('127.0.0.5')
    first = c.line()
    check(first.startswith('220-'), 'first greeting line', first)
    c.sock.sendall(b'EHLO early.example\r\n')   # before its turn
    code, lines = c.reply()
    check(code == 220, 'the greeting still comes', lines)
    code, lines = c.cmd('EHLO early.example')
    check(code == 554 and '5.5.1' in lines[-1],
          'early talker: 554 5.5.1 at its commands', lines)
    code, lines = c.cmd('MAIL FROM:<a@mx.example>')
    check(code == 554, 'early talker: MAIL refused', lines)
    c.close()
    time.sleep(0.1)
    lines = refused_lines('127.0.0.5')
    check(len(lines) == 1 and 'reason=pregreet bytes=20 data="EHLO '
          'early.example\\x0d\\x0a"' in lines[0],
          'one log line for the early talker', lines)


# -- HELO and the sender domain -------------------------------------------

def test_helo_and_sender():
    c = Client('127.0.0.3')
    c.reply()
    for helo, want, what in (
            ('localhost', 504, 'non-FQDN HELO'),
            ('192.0.2.1', 504, 'a bare IP in HELO'),
            ('[300.1.1.1]', 504, 'a bad address literal'),
            (HOST, 554, 'our hostname in HELO'),
            ('MX.TEST.', 554, 'our hostname, other case, final dot'),
            ('example.org', 554, 'our domain in HELO'),
            ('[127.0.0.1]', 554, 'the address it connected to'),
            ('[192.0.2.7]', 250, 'another address literal'),
            ('client.example', 250, 'a FQDN')):
        code, lines = c.cmd(f'EHLO {helo}')
        check(code == want, f'{what}: {want}', (helo, lines))
    for sender, want, text, what in (
            ('a@gone.example', 550, '5.1.8', 'NXDOMAIN sender domain'),
            ('a@noaddr.example', 550, '5.1.8', 'no MX, no A'),
            ('a@nullmx.example', 550, '5.7.27', 'null MX'),
            ('a@broken.example', 451, '4.4.3', 'SERVFAIL'),
            ('a@a.example', 250, '', 'A, no MX'),
            ('a@mx.example', 250, '', 'MX'),
            ('', 250, '', 'the null sender')):
        code, lines = c.cmd(f'MAIL FROM:<{sender}>')
        check(code == want and text in lines[-1], f'{what}: {want} {text}',
              (sender, lines))
        if code == 250:
            c.cmd('RSET')
    c.close()
    time.sleep(0.1)
    lines = refused_lines('127.0.0.3')
    check(len(lines) == 1 and 'reason=helo_fqdn helo=localhost' in lines[0],
          'one line per refused client (the first refusal)', lines)
    log = smtpd_log()
    check('from=<a@broken.example> sender domain lookup failed: 451' in log,
          'a DNS failure is logged, not as a refusal', log[-1500:])


def test_helo_own_local_exempt():
    """A program on the server itself may call itself by our name."""
    s = smtplib.SMTP(timeout=10, local_hostname=HOST)
    s.connect('127.0.0.1', P587)
    code, _ = s.ehlo(HOST)
    check(code == 250, 'submission: no HELO screening', code)
    s.quit()


# -- fail2ban --------------------------------------------------------------

def failed_logins():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = smtplib.SMTP('127.0.0.1', P587, timeout=10,
                     source_address=('127.0.0.6', 0))
    s.starttls(context=ctx)
    try:
        s.login(BOB, 'wrong')
    except smtplib.SMTPAuthenticationError:
        pass
    s.quit()
    m = imaplib.IMAP4_SSL('127.0.0.1', PIMAPS, ssl_context=ctx, timeout=10)
    try:
        m.login(BOB, 'wrong')
    except imaplib.IMAP4.error:
        pass
    m.logout()
    p = poplib.POP3_SSL('127.0.0.1', PPOP3S, context=ctx, timeout=10)
    p.user(BOB)
    try:
        p.pass_('wrong')
    except poplib.error_proto:
        pass
    p.quit()


def test_fail2ban():
    failed_logins()
    time.sleep(0.3)
    stamp = time.strftime('%b %e %H:%M:%S')
    lines = []
    for name in ('smtpd', 'authd', 'imapd'):
        for l in env.daemons[name].log_text().splitlines():
            if re.match(r'^[\w-]+\[\d+\]: ', l):
                lines.append(f'{stamp} nas {l}')
    path = env.path('mail.log')
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    want = sorted([l.split(' addr=')[1].split()[0] for l in lines
                   if 'screen=refused' in l] +
                  [re.search(r' addr=(\S+) failures=', l).group(1)
                   for l in lines if 'auth failed' in l])
    check(sum('auth failed service=' in l for l in lines) >= 3,
          'authd logged the failed SMTP, IMAP and POP3 logins', lines[-20:])
    # the filter includes common.conf from its own directory: copy both
    fdir = env.path('filter.d')
    os.makedirs(fdir, exist_ok=True)
    for src in (FILTER, '/etc/fail2ban/filter.d/common.conf'):
        shutil.copy(src, fdir)
    r = subprocess.run(['fail2ban-regex', '--out', 'ip', path,
                        os.path.join(fdir, 'facteur.conf')],
                       capture_output=True, text=True, timeout=60)
    got = sorted(r.stdout.split())
    check(r.returncode == 0 and got == want,
          'fail2ban-regex finds exactly the refused clients and failed '
          'logins, with their addresses', (want, got, r.stderr[-1500:]))
    check('127.0.0.6' in got and '127.0.0.1' in got and '127.0.0.5' in got,
          'the failed login, the listed client, the early talker', got)


TESTS = [test_listed_refused, test_listed_cached, test_filtered_served,
         test_allowlisted, test_submission_no_wait, test_pregreet,
         test_helo_and_sender, test_helo_own_local_exempt, test_fail2ban]

if __name__ == '__main__':
    ft.main(env, setup, TESTS)
