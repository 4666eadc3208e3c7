# SPDX-License-Identifier: ISC
"""test_trusted - [smtp] trusted: port 25 clients of our own networks
(default 127.0.0.0/8 ::1) skip the spam checks, not the relay check.

A test DNS server (dns_server.py) answers SERVFAIL for every name but our
own domain example.org (which has no record at all), so that a message
checked like one from the Internet gets `451 4.7.0 DMARC: temporary DNS
failure` (From in a foreign domain) or `550 5.7.1 ... the From domain is
ours` (From in example.org).  This is what a local webmail, a cron script
or the load generator of the official benchmark met before the key.

With the default configuration (no trusted line), and pregreet, HELO and
sender-domain screening, greylisting and max_conn_rate all switched on,
clients on 127.0.0.1 (smtplib, swaks) and ::1:

  - deliver with From in our domain and in a foreign one: 250, into
    INBOX, with no Authentication-Results of ours (and a forged one with
    our authserv-id removed), and the log line says inbound=trusted;
  - are greeted at once (no "220-" pregreet line) and may say HELO with
    a bare name;
  - hold 20 sessions at once (max_per_addr is 10) and open them faster
    than max_conn_rate, each delivering its message; and 16 at once on
    the submission port (a webmail on this machine);
  - still cannot relay: RCPT to another domain is 554 5.7.1.

With `trusted = 127.0.0.1`, 127.0.0.1 still passes while a client bound to
127.0.0.2 gets the checks again (451, 550) and the per-address cap (421),
on port 25 and on submission.
Bad trusted values stop facteur-smtpd with FILE:LINE: expected ....
"""

import os
import re
import smtplib
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402
from dns_server import DNSServer, free_udp_tcp_port  # noqa: E402

AUTHSERV = 'mx.test'
BOB = 'bob@example.org'

env = ft.Env()
P25 = env.port()
P6 = env.port()
P587 = env.port()
DNS = DNSServer(free_udp_tcp_port())
HAVE_V6 = socket.has_ipv6
_seq = [0]


def marker(prefix='t'):
    _seq[0] += 1
    return f'{prefix}-{_seq[0]}-{os.getpid()}'


def message(from_addr, subject, extra=b''):
    return (b'From: ' + from_addr.encode() + b'\r\n'
            b'To: ' + BOB.encode() + b'\r\n'
            b'Subject: ' + subject.encode() + b'\r\n'
            b'Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n'
            b'Message-ID: <' + subject.encode() + b'@local>\r\n'
            + extra + b'\r\nsent by a program on this box\r\n')


def send(mail_from, from_hdr=None, rcpts=(BOB,), source='127.0.0.1',
         host='127.0.0.1', port=P25, helo='webmail', extra=b''):
    """(code, text, subject): the reply to the final dot, or the first
    refusal before it."""
    subject = marker('subj')
    msg = message(from_hdr or mail_from, subject, extra)
    c = smtplib.SMTP(host, port, local_hostname=helo, timeout=30,
                     source_address=(source, 0))
    try:
        code, text = c.ehlo(helo)
        if code != 250:
            return code, text.decode(), subject
        code, text = c.mail(mail_from)
        if code != 250:
            return code, text.decode(), subject
        for r in rcpts:
            code, text = c.rcpt(r)
            if code != 250:
                return code, text.decode(), subject
        code, text = c.data(msg)
        return code, text.decode(), subject
    finally:
        try:
            c.quit()
        except (smtplib.SMTPException, OSError):
            pass


def our_ar(data):
    """Authentication-Results fields of ours in the header section."""
    head = re.sub(rb'\n[ \t]+', b' ', data.split(b'\n\n', 1)[0])
    return [ln for ln in head.split(b'\n')
            if ln.lower().startswith(b'authentication-results:') and
            ln.split(b':', 1)[1].strip().split(b';')[0].strip().lower() ==
            AUTHSERV.encode()]


def log():
    return env.daemons['smtpd'].log_text()


def delivered(name, subject, code, text):
    check(code == 250, f'{name}: 250', (code, text))
    place, data = env.where(BOB, subject)
    check(place == 'inbox', f'{name}: in the INBOX', place)
    check(data and our_ar(data) == [],
          f'{name}: no Authentication-Results of ours', data[:600])
    return data


# -- setup --------------------------------------------------------------

def config(trusted=None, spam_checks=True):
    smtp = {'listen': [f'127.0.0.1:{P25}'] +
            ([f'[::1]:{P6}'] if HAVE_V6 else []),
            'submission': f'127.0.0.1:{P587}',
            'trusted': trusted, 'timeout': '60s'}
    kw = dict(hostname=AUTHSERV, domains='example.org', smtp=smtp,
              dns={'resolver': f'127.0.0.1:{DNS.port}'},
              inbound={'timeout': '3s'})
    if spam_checks:
        smtp['max_conn_rate'] = 5
        kw['screen'] = {'pregreet': '2s', 'helo_fqdn': 'yes',
                        'unknown_sender': '450'}
        kw['greylist'] = {'enable': 'yes'}
    env.write_config(**kw)


def setup():
    # every name fails but ours, which exists nowhere (SPF and DMARC none)
    for tld in ('example', 'test', 'net', 'com', 'local', 'arpa'):
        DNS.servfail.add(tld)
    DNS.start()
    config()
    env.add_user(BOB, 'bob pw 1')
    env.start('authd')
    env.start('smtpd', ports=[P25, P587])  # binds [::1] before P25


# -- the default: loopback is trusted ---------------------------------------

def test_own_domain_delivered():
    forged = (b'Authentication-Results: ' + AUTHSERV.encode() +
              b'; dmarc=pass header.from=example.org\r\n')
    code, text, subj = send('cron@example.org', extra=forged)
    delivered('From in our domain from 127.0.0.1', subj, code, text)
    check(re.search(r'addr=127\.0\.0\.1 qid=\w+ inbound=trusted '
                    r'action=inbox', log()),
          'the log says inbound=trusted', log()[-1500:])
    check(re.search(r'addr=127\.0\.0\.1 qid=\w+ removed 1 '
                    r'Authentication-Results', log()),
          'the forged Authentication-Results with our id is removed',
          log()[-1500:])
    check(not re.search(r'addr=127\.0\.0\.1 .*dmarc=', log()),
          'no spf/dkim/dmarc results logged for it', log()[-1500:])


def test_foreign_domain_delivered():
    code, text, subj = send('alerts@monitoring.example')
    delivered('From in a foreign domain from 127.0.0.1', subj, code, text)


def test_swaks():
    subj = marker('swaks')
    path = env.path(f'{subj}.eml')
    with open(path, 'wb') as f:
        f.write(message('scanner@example.org', subj))
    r = subprocess.run(['swaks', '--server', '127.0.0.1', '--port', str(P25),
                        '--from', 'scanner@example.org', '--to', BOB,
                        '--helo', 'scanner', '--data', path,
                        '--timeout', '20'],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, 'swaks from 127.0.0.1 exits 0',
          r.stdout[-1500:] + r.stderr)
    place, data = env.where(BOB, subj)
    check(place == 'inbox' and our_ar(data) == [],
          'swaks: delivered, no Authentication-Results of ours', place)


def test_ipv6_loopback():
    if not HAVE_V6:
        print('# skipped: no IPv6')
        return
    code, text, subj = send('cron@example.org', source='::1', host='::1',
                            port=P6)
    delivered('From in our domain from ::1', subj, code, text)


def test_no_screen():
    t0 = time.time()
    c = ft.RawSMTP(P25)
    try:
        took = time.time() - t0
        check(c.banner[0] == 220 and '220-' not in c.banner[1],
              'no pregreet line for a trusted client', c.banner)
        check(took < 1.5, 'greeted at once (pregreet is 2s)', took)
        code, text = c.cmd('HELO printer')
        check(code == 250, 'a bare HELO name passes helo_fqdn', text)
    finally:
        c.close()
    check('screen=refused' not in log(), 'nothing refused at the door',
          log()[-1500:])


def test_many_sessions():
    n = 20
    conns, errors = [], []
    try:
        for _ in range(n):
            try:
                conns.append(smtplib.SMTP('127.0.0.1', P25,
                                          local_hostname='bench',
                                          timeout=30))
            except (smtplib.SMTPException, OSError) as e:
                errors.append(repr(e))
        check(len(conns) == n and not errors,
              f'{n} sessions at once from 127.0.0.1 (max_per_addr 10, '
              'max_conn_rate 5) all greeted', errors[:3])
        subjects = []
        lock = threading.Lock()

        def one(c):
            subj = marker('many')
            try:
                c.sendmail('bench@example.org', [BOB],
                           message('bench@example.org', subj))
                with lock:
                    subjects.append(subj)
            except (smtplib.SMTPException, OSError) as e:
                with lock:
                    errors.append(repr(e))
        threads = [threading.Thread(target=one, args=(c,)) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        check(len(subjects) == n and not errors,
              f'each of the {n} sessions delivers', errors[:3])
        check(all(env.where(BOB, s, timeout=20)[0] == 'inbox'
                  for s in subjects), f'the {n} messages are in the INBOX')
    finally:
        for c in conns:
            try:
                c.quit()
            except (smtplib.SMTPException, OSError):
                pass
    check('refused: max_' not in log(), 'no per-address refusal logged',
          log()[-1500:])


def greeted(port, n, source):
    """How many of n connections held at once from source get a 220."""
    check(ft.wait_server_idle(P25) and ft.wait_server_idle(P587),
          'the sessions so far are over')
    conns, ok = [], 0
    try:
        for _ in range(n):
            s = socket.create_connection(('127.0.0.1', port), timeout=10,
                                         source_address=(source, 0))
            conns.append(s)
            s.settimeout(10)
            if s.recv(512).startswith(b'220 '):
                ok += 1
    finally:
        for s in conns:
            s.close()
    return ok


def test_submission_sessions():
    # a webmail on this machine opens many sessions on 587 at once
    n = greeted(P587, 16, '127.0.0.1')
    check(n == 16, 'submission: 16 sessions at once from 127.0.0.1 '
          '(max_per_addr 10) all greeted', n)


def test_no_relay():
    code, text, _ = send('cron@example.org', rcpts=('someone@elsewhere.test',))
    check(code == 554 and 'Relay access denied' in text,
          'trusted grants no relaying: 554 5.7.1', (code, text))


# -- trusted = 127.0.0.1: 127.0.0.2 is the Internet again -----------------

def test_narrowed():
    env.stop('smtpd')
    config(trusted='127.0.0.1', spam_checks=False)
    env.start('smtpd', ports=[P25, P587])
    code, text, subj = send('cron@example.org')
    delivered('127.0.0.1 still trusted', subj, code, text)
    code, text, _ = send('cron@example.org', source='127.0.0.2')
    check(code == 550 and 'From domain is ours' in text,
          '127.0.0.2 with From in our domain: 550 5.7.1', (code, text))
    code, text, _ = send('news@shop.example', source='127.0.0.2')
    check(code == 451 and 'DMARC: temporary DNS failure' in text,
          '127.0.0.2 with a foreign From, DNS failing: 451 4.7.0',
          (code, text))
    check(re.search(r'addr=127\.0\.0\.2 qid=\w+ spf=\w+ dkim=\w+ '
                    r'dmarc=temperror', log()),
          'its checks are logged', log()[-1500:])
    check(ft.wait_server_idle(P25), 'the sessions so far are over')
    conns, refused = [], 0
    try:
        for _ in range(12):
            s = socket.create_connection(('127.0.0.1', P25), timeout=10,
                                         source_address=('127.0.0.2', 0))
            conns.append(s)
            s.settimeout(10)
            if s.recv(512).startswith(b'421 4.7.0'):
                refused += 1
    finally:
        for s in conns:
            s.close()
    check(refused == 2, '127.0.0.2 is held to max_per_addr (10 of 12)',
          refused)
    check(greeted(P587, 12, '127.0.0.2') == 10,
          '127.0.0.2 on submission: max_per_addr too (10 of 12)')
    check(greeted(P587, 12, '127.0.0.1') == 12,
          '127.0.0.1 on submission: 12 sessions at once')


def test_bad_values():
    cases = [
        ('10.0.0.0/33', 'expected an IPv4 prefix length from /0 to /32 '
         'for trusted, got "10.0.0.0/33"'),
        ('192.168.1.5/24', 'expected 192.168.1.0/24 or 192.168.1.5 (no '
         'address bits past /24) for trusted'),
        ('lan', 'expected networks like 192.168.1.0/24 or 2001:db8::/32, '
         'addresses, or none for trusted, got "lan"'),
        ('none ::1', 'expected trusted = none alone'),
    ]
    for value, want in cases:
        bad = env.path('bad.conf')
        with open(bad, 'w', encoding='utf-8') as f:
            f.write(f'domains = example.org\n[smtp]\ntrusted = {value}\n')
        r = subprocess.run([env.binary('smtpd'), '-c', bad, '-d'],
                           capture_output=True, text=True, timeout=30,
                           cwd=env.tmp)
        check(r.returncode == 1 and f'{bad}:3: {want}' in r.stderr,
              f'trusted = {value}: exit 1 with {bad}:3', r.stderr[-800:])


TESTS = [test_own_domain_delivered, test_foreign_domain_delivered,
         test_swaks, test_ipv6_loopback, test_no_screen, test_many_sessions,
         test_submission_sessions,
         test_no_relay, test_narrowed, test_bad_values]

if __name__ == '__main__':
    ft.main(env, setup, TESTS)
