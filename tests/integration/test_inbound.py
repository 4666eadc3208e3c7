# SPDX-License-Identifier: ISC
"""test_inbound - SPF, DKIM verification, DMARC and Authentication-Results
of mail received on port 25, end to end (issue 10).

A test DNS server (dns_server.py, dnspython) on loopback serves the zones
below; facteur-smtpd uses it through [dns] resolver.  Messages are sent
from 127.0.0.1 with smtplib, signed by dkimpy (RSA-2048 and Ed25519 keys
made here with python3-cryptography), and looked for in the recipient's
Maildir: INBOX (new/), the Junk folder (.Junk/new/), or nowhere after a
550/451.

    domain               SPF for 127.0.0.1   DMARC
    pass.example         pass                p=reject (keys rsa, ed)
    mail.pass.example    pass                (org domain pass.example)
    reject.example       fail                p=reject
    quar.example         fail                p=quarantine
    none.example         fail                p=none
    nodmarc.example      fail                -
    parent.example       fail                p=none; sp=reject
    sub.parent.example   fail                (sp of parent.example)
    strict.example       pass                p=reject; aspf=s; adkim=s
    relaxed.example      pass                p=reject (adkim, aspf relaxed)
    evil.example         pass                -
    example.org (ours)   -                   -
    broken.example       SERVFAIL            -
    slow.example         no answer           -

Checks: dkim=pass for RSA and Ed25519 signatures; a changed body or
signed header fails; a missing key is permerror; rsa-sha1 is not a pass;
each DMARC policy (reject: 550 and nothing delivered, quarantine: .Junk,
none: INBOX marked) and sp= for a subdomain; relaxed and strict alignment
for SPF and DKIM; the own-domain spoof refused; forged
Authentication-Results with our authserv-id removed, others kept; DNS
SERVFAIL and timeout give 451 with nothing delivered, and the same message
sent again once DNS works is delivered; submission (587) gets no checks and
no header; several recipients each get the message; the log line; imapd
lists Junk with \\Junk.
"""

import base64
import imaplib
import os
import re
import smtplib
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402
from dns_server import DNSServer, free_udp_tcp_port  # noqa: E402

import dkim  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa  # noqa: E402

AUTHSERV = 'mx.test'
BOB = 'bob@example.org'
CAROL = 'carol@example.org'
PASS = 'bob pw 1'
CAROL_PASS = 'carol pw 2'

env = ft.Env()
P25 = env.port()
P587 = env.port()
PIMAP = env.port()
DNS = DNSServer(free_udp_tcp_port())
KEYS = {}           # (domain, selector) -> (alg, private key bytes for dkimpy)
_seq = [0]


def marker(prefix='m'):
    _seq[0] += 1
    return f'{prefix}-{_seq[0]}-{os.getpid()}'


# -- keys and zones -----------------------------------------------------

def make_rsa(domain, selector, bits=2048):
    k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = k.private_bytes(serialization.Encoding.PEM,
                          serialization.PrivateFormat.TraditionalOpenSSL,
                          serialization.NoEncryption())
    pub = k.public_key().public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    KEYS[(domain, selector)] = pem
    DNS.set_txt(f'{selector}._domainkey.{domain}',
                'v=DKIM1; k=rsa; p=' + base64.b64encode(pub).decode())


def make_ed(domain, selector):
    k = ed25519.Ed25519PrivateKey.generate()
    raw = k.private_bytes(serialization.Encoding.Raw,
                          serialization.PrivateFormat.Raw,
                          serialization.NoEncryption())
    pub = k.public_key().public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)
    KEYS[(domain, selector)] = base64.b64encode(raw)
    DNS.set_txt(f'{selector}._domainkey.{domain}',
                'v=DKIM1; k=ed25519; p=' + base64.b64encode(pub).decode())


SPF_PASS = 'v=spf1 ip4:127.0.0.1 -all'
SPF_FAIL = 'v=spf1 ip4:192.0.2.1 -all'


def zones():
    spf = {
        'pass.example': SPF_PASS, 'mail.pass.example': SPF_PASS,
        'reject.example': SPF_FAIL, 'quar.example': SPF_FAIL,
        'none.example': SPF_FAIL, 'nodmarc.example': SPF_FAIL,
        'parent.example': SPF_FAIL, 'sub.parent.example': SPF_FAIL,
        'strict.example': SPF_PASS, 'mail.strict.example': SPF_PASS,
        'relaxed.example': SPF_PASS, 'mail.relaxed.example': SPF_PASS,
        'evil.example': SPF_PASS, 'client.test': SPF_PASS,
        'unsigned.example': SPF_FAIL,
    }
    for d, v in spf.items():
        DNS.set_txt(d, v)
    dmarc = {
        'pass.example': 'v=DMARC1; p=reject',
        'reject.example': 'v=DMARC1; p=reject',
        'quar.example': 'v=DMARC1; p=quarantine',
        'none.example': 'v=DMARC1; p=none',
        'parent.example': 'v=DMARC1; p=none; sp=reject',
        'strict.example': 'v=DMARC1; p=reject; aspf=s; adkim=s',
        'relaxed.example': 'v=DMARC1; p=reject',
        'unsigned.example': 'v=DMARC1; p=reject',
    }
    for d, v in dmarc.items():
        DNS.set_txt(f'_dmarc.{d}', v)
    DNS.servfail.add('broken.example')
    DNS.drop.add('slow.example')
    make_rsa('pass.example', 'rsa')
    make_ed('pass.example', 'ed')
    make_rsa('strict.example', 'rsa')
    make_rsa('relaxed.example', 'rsa')
    make_rsa('reject.example', 'rsa')
    # a key whose record is not published
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    KEYS[('pass.example', 'gone')] = k.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption())


# -- messages -----------------------------------------------------------

def message(from_addr, to=BOB, subject=None, body=None, extra=b''):
    subject = subject or marker('subj')
    if body is None:
        body = b''.join(b'line %04d of the body, some text to make it '
                        b'about four KiB in all........\r\n' % i
                        for i in range(64))
    return (b'From: ' + from_addr.encode() + b'\r\n'
            b'To: ' + to.encode() + b'\r\n'
            b'Subject: ' + subject.encode() + b'\r\n'
            b'Date: Sun, 06 Dec 2026 12:00:00 +0000\r\n'
            b'Message-ID: <' + marker('id').encode() + b'@test>\r\n'
            + extra + b'\r\n' + body), subject


def sign(msg, domain, selector, alg=b'rsa-sha256', identity=None):
    key = KEYS[(domain, selector)]
    sig = dkim.sign(msg, selector.encode(), domain.encode(), key,
                    include_headers=[b'from', b'to', b'subject', b'date',
                                     b'message-id'],
                    canonicalize=(b'relaxed', b'relaxed'),
                    signature_algorithm=alg, identity=identity)
    return sig + msg


def send(mail_from, msg, rcpts=(BOB,), port=P25, login=None, helo='client.test'):
    """(code, text) of the answer to the final dot; (code, text) of the
    first refusal before it."""
    c = smtplib.SMTP('127.0.0.1', port, local_hostname=helo, timeout=60)
    try:
        if login:
            c.starttls(context=ssl._create_unverified_context())
            c.login(*login)
        else:
            c.ehlo(helo)
        code, text = c.mail(mail_from)
        if code != 250:
            return code, text.decode()
        for r in rcpts:
            code, text = c.rcpt(r)
            if code != 250:
                return code, text.decode()
        code, text = c.data(msg)
        return code, text.decode()
    finally:
        try:
            c.quit()
        except (smtplib.SMTPException, OSError):
            pass


def where(addr, subject, timeout=10.0):
    """'inbox', 'junk' or None (not there after timeout), and the bytes."""
    deadline = time.time() + timeout
    base = env.mail_dir(addr)
    key = b'Subject: ' + subject.encode()
    while True:
        for name, sub in (('inbox', ''), ('junk', '.Junk')):
            for d in ('new', 'cur'):
                p = os.path.join(base, sub, d)
                try:
                    files = os.listdir(p)
                except FileNotFoundError:
                    continue
                for f in files:
                    with open(os.path.join(p, f), 'rb') as fh:
                        data = fh.read()
                    if key in data:
                        return name, data
        if time.time() >= deadline:
            return None, b''
        time.sleep(0.1)


def ar_fields(data):
    """Unfolded Authentication-Results values of the header section."""
    head = data.split(b'\n\n', 1)[0]
    unfolded = re.sub(rb'\n[ \t]+', b' ', head)
    return [line.split(b':', 1)[1].strip().decode()
            for line in unfolded.split(b'\n')
            if line.lower().startswith(b'authentication-results:')]


def our_ar(data):
    ours = [f for f in ar_fields(data) if f.split(';')[0].strip() == AUTHSERV]
    return ours


def expect(name, mail_from, msg, subject, want, results=(), code=None):
    """Send, then check where it lands ('inbox', 'junk', or None with the
    reply code) and that our A-R holds each of `results`."""
    got_code, text = send(mail_from, msg)
    if want is None:
        check(got_code == (code or 550), f'{name}: refused with {code or 550}',
              (got_code, text))
        place, _ = where(BOB, subject, timeout=1.0)
        check(place is None, f'{name}: nothing delivered', place)
        return text
    check(got_code == 250, f'{name}: accepted', (got_code, text))
    place, data = where(BOB, subject)
    check(place == want, f'{name}: delivered into {want}', place)
    ours = our_ar(data)
    check(len(ours) == 1, f'{name}: one Authentication-Results of ours',
          ar_fields(data))
    ar = ours[0] if ours else ''
    for r in results:
        check(re.search(r, ar) is not None, f'{name}: A-R has {r}', ar)
    return ar


# -- setup --------------------------------------------------------------

def setup():
    zones()
    DNS.start()
    env.write_config(
        hostname=AUTHSERV,
        domains='example.org',
        smtp={'listen': [f'127.0.0.1:{P25}'],
              'submission': [f'127.0.0.1:{P587}'], 'timeout': '60s'},
        imap={'listen': f'127.0.0.1:{PIMAP}'},
        dns={'resolver': f'127.0.0.1:{DNS.port}'},
        inbound={'timeout': '4s'})
    env.add_user(BOB, PASS)
    env.add_user(CAROL, CAROL_PASS)
    env.start('authd')
    env.start('smtpd', ports=[P25, P587])
    env.start('imapd', ports=[PIMAP])


# -- the plumbing ---------------------------------------------------------

def test_ar_added():
    msg, subj = message('someone@nodmarc.example')
    code, text = send('someone@nodmarc.example', msg)
    check(code == 250, 'plain message accepted', (code, text))
    place, data = where(BOB, subj)
    check(place == 'inbox', 'plain message in INBOX', place)
    check(data.startswith(b'Return-Path: <someone@nodmarc.example>\n'
                          b'Delivered-To: bob@example.org\n'
                          b'Authentication-Results: ' + AUTHSERV.encode()),
          'Authentication-Results right after Delivered-To', data[:300])
    check(len(our_ar(data)) == 1, 'exactly one A-R of ours', ar_fields(data))


def test_forged_ar():
    extra = (b'Authentication-Results: ' + AUTHSERV.encode() +
             b'; dkim=pass header.d=forged.example\r\n'
             b'Authentication-Results: other.example; spf=pass\r\n'
             b'authentication-results: (c) MX.TEST;\r\n\tdmarc=pass\r\n'
             b'X-Authentication-Results: ' + AUTHSERV.encode() + b'; kept\r\n')
    msg, subj = message('someone@nodmarc.example', extra=extra)
    code, _ = send('someone@nodmarc.example', msg)
    check(code == 250, 'message with forged A-R accepted', code)
    place, data = where(BOB, subj)
    fields = ar_fields(data)
    check(len(our_ar(data)) == 1 and 'forged' not in ' '.join(fields)
          and 'dmarc=pass' not in ' '.join(our_ar(data)),
          'forged A-R with our authserv-id removed', fields)
    check('other.example; spf=pass' in fields, 'A-R of another id kept',
          fields)
    check(b'X-Authentication-Results: ' + AUTHSERV.encode() + b'; kept' in
          data, 'X-Authentication-Results kept', data[:800])
    check(b'removed 2 Authentication-Results' in
          env.daemons['smtpd'].log_text().encode(), 'removal logged')


def test_submission_unaffected():
    extra = (b'Authentication-Results: ' + AUTHSERV.encode() +
             b'; dkim=pass\r\n')
    msg, subj = message(BOB, to=CAROL, extra=extra)
    code, text = send(BOB, msg, rcpts=(CAROL,), port=P587, login=(BOB, PASS))
    check(code == 250, 'submission accepted', (code, text))
    place, data = where(CAROL, subj)
    check(place == 'inbox', 'submission delivered into INBOX', place)
    check(our_ar(data) == [], 'submission: no A-R of ours (and the forged '
          'one removed)', ar_fields(data))


def test_several_recipients():
    msg, subj = message('someone@nodmarc.example', to=f'{BOB}, {CAROL}')
    code, _ = send('someone@nodmarc.example', msg, rcpts=(BOB, CAROL))
    check(code == 250, 'two recipients accepted', code)
    for who in (BOB, CAROL):
        place, data = where(who, subj)
        check(place == 'inbox' and len(our_ar(data)) == 1,
              f'{who} got it with the A-R', (place, ar_fields(data)))


def test_imap_junk():
    ctx = ssl._create_unverified_context()
    m = imaplib.IMAP4_SSL('127.0.0.1', PIMAP, ssl_context=ctx, timeout=30)
    m.login(BOB, PASS)
    typ, data = m.list('""', '*')
    lines = [d.decode() for d in data if d]
    junk = [l for l in lines if l.endswith(' Junk') or l.endswith(' "Junk"')]
    check(typ == 'OK' and junk and '\\Junk' in junk[0],
          'imapd lists Junk with \\Junk', lines)
    m.logout()


def test_log_line():
    text = env.daemons['smtpd'].log_text()
    lines = [l for l in text.splitlines() if ' action=' in l]
    check(lines and all(re.search(r'session=\w+ addr=127\.0\.0\.1 qid=\w+ '
                                  r'spf=\w+', l) for l in lines),
          'one result line per message, with addr and qid', lines[-3:])


TESTS = [test_ar_added, test_forged_ar, test_submission_unaffected,
         test_several_recipients, test_imap_junk, test_log_line]

if __name__ == '__main__':
    try:
        setup()
    except Exception:  # pylint: disable=broad-except
        import traceback
        check(False, 'setup', traceback.format_exc())
        env.stop_all()
        env.dump_logs()
        sys.exit(ft.summary())
    ft.run_tests(env, TESTS)
