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
    pct.example          fail                p=reject; pct=0
    mail.pass.example    pass                (org domain pass.example)
    reject.example       fail                p=reject
    quar.example         fail                p=quarantine
    none.example         fail                p=none
    nodmarc.example      fail                -
    parent.example       fail                p=none; sp=reject
    sub.parent.example   fail                (sp of parent.example)
    strict.example       pass                p=reject; aspf=s; adkim=s
    relaxed.example      pass                p=reject (adkim, aspf relaxed)
    bounce.relaxed...    pass                (a sibling of news.relaxed...)
    evil.example         pass                -
    example.org (ours)   -                   -
    broken.example       SERVFAIL            -
    slow.example         no answer           -

Run only some tests: ONLY='test_spf test_dkim_fail'.

Checks: dkim=pass for RSA and Ed25519 signatures; a changed body or
signed header fails; a missing key is permerror; rsa-sha1 is not a pass;
each DMARC policy (reject: 550 and nothing delivered, quarantine: .Junk,
none: INBOX marked), sp= for a subdomain, pct=; relaxed and strict alignment
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
        'spfbroken.example': 'v=spf1 include:broken.example -all',
        'bounce.relaxed.example': SPF_PASS, 'pct.example': SPF_FAIL,
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
        'spfbroken.example': 'v=DMARC1; p=reject',
        'pct.example': 'v=DMARC1; p=reject; pct=0',
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
    make_rsa('none.example', 'rsa')
    make_ed('none.example', 'ed')
    make_rsa('broken.example', 'rsa')   # its record: SERVFAIL
    make_rsa('none.example', 'small', bits=512)
    make_rsa('late.example', 'rsa')
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


where = env.where


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

CONFIG = dict(
    hostname=AUTHSERV,
    domains='example.org',
    smtp={'listen': [f'127.0.0.1:{P25}'],
          'submission': [f'127.0.0.1:{P587}'], 'timeout': '60s'},
    imap={'listen': f'127.0.0.1:{PIMAP}'},
    dns={'resolver': f'127.0.0.1:{DNS.port}'},
    inbound={'timeout': '4s'})


def setup():
    zones()
    DNS.start()
    env.write_config(**CONFIG)
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


# -- SPF ------------------------------------------------------------------

def test_spf():
    msg, subj = message('x@pass.example')
    expect('SPF pass, aligned', 'x@pass.example', msg, subj, 'inbox',
           (r'spf=pass smtp\.mailfrom=x@pass\.example',
            r'dmarc=pass header\.from=pass\.example policy\.dmarc=reject'))
    msg, subj = message('x@nodmarc.example')
    expect('SPF fail, no DMARC record: marked (spf_fail = mark)',
           'x@nodmarc.example', msg, subj, 'inbox',
           (r'spf=fail smtp\.mailfrom=x@nodmarc\.example',))
    msg, subj = message('x@nodmarc.example')
    code, text = send('', msg, helo='client.test')
    check(code == 250, 'MAIL FROM:<> accepted', (code, text))
    place, data = where(BOB, subj)
    ar = (our_ar(data) or [''])[0]
    check(place == 'inbox' and re.search(r'spf=pass smtp\.helo=client\.test',
                                         ar), 'MAIL FROM:<>: the HELO identity',
          (place, ar))


def test_spf_alignment():
    msg, subj = message('x@relaxed.example')
    expect('aspf=r: organizational domain aligns', 'b@mail.relaxed.example',
           msg, subj, 'inbox',
           (r'spf=pass smtp\.mailfrom=b@mail\.relaxed\.example',
            r'dmarc=pass'))
    msg, subj = message('x@news.relaxed.example')
    expect('aspf=r: sibling subdomains align (PSL organizational domain)',
           'b@bounce.relaxed.example', msg, subj, 'inbox', (r'dmarc=pass',))
    msg, subj = message('x@strict.example')
    expect('aspf=s: organizational domain does not align',
           'b@mail.strict.example', msg, subj, None, code=550)
    msg, subj = message('x@strict.example')
    expect('aspf=s: the same domain aligns', 'b@strict.example', msg, subj,
           'inbox', (r'spf=pass', r'dmarc=pass'))


def test_spf_temperror():
    msg, subj = message('x@spfbroken.example')
    text = expect('SPF SERVFAIL where it decides', 'x@spfbroken.example',
                  msg, subj, None, code=451)
    check(text.startswith('4.7.'), 'SPF SERVFAIL: 4.7.x', text)
    msg2, subj2 = message(NONE)
    expect('SPF SERVFAIL where it cannot matter: recorded',
           'x@spfbroken.example', msg2, subj2, 'inbox',
           (r'spf=temperror smtp\.mailfrom=x@spfbroken\.example',))
    DNS.servfail.discard('broken.example')      # the included record is back
    DNS.set_txt('broken.example', SPF_PASS)
    try:
        expect('SPF back: the retry is delivered', 'x@spfbroken.example',
               msg, subj, 'inbox', (r'spf=pass', r'dmarc=pass'))
    finally:
        DNS.servfail.add('broken.example')


# -- DKIM -----------------------------------------------------------------
# none.example: SPF fails, DMARC p=none: every message is delivered and
# its Authentication-Results shows the DKIM results.

NONE = 'x@none.example'


def test_dkim_rsa_ed_pass():
    msg, subj = message(NONE)
    m = sign(sign(msg, 'none.example', 'rsa'), 'none.example', 'ed',
             alg=b'ed25519-sha256')
    b_ed = re.search(rb'b=([A-Za-z0-9+/]{8})', m.split(b'\r\n\r\n')[0]
                     .split(b'DKIM-Signature')[1].replace(b'\r\n\t', b'')
                     .replace(b' ', b'').split(b'bh=')[1].split(b';', 1)[1])
    ar = expect('rsa+ed25519', NONE, m, subj, 'inbox', (
        r'dkim=pass header\.d=none\.example header\.s=ed '
        r'header\.a=ed25519-sha256 header\.b=',
        r'dkim=pass header\.d=none\.example header\.s=rsa '
        r'header\.a=rsa-sha256 header\.b=',
        r'dmarc=pass header\.from=none\.example policy\.dmarc=none'))
    check(b_ed is not None and f'header.b={b_ed.group(1).decode()}' in ar
          or f'header.b="{b_ed.group(1).decode()}"' in ar,
          'header.b holds the first 8 characters of b=', (b_ed, ar))


def test_dkim_fail():
    msg, subj = message(NONE)
    m = sign(msg, 'none.example', 'rsa')
    m = m.replace(b'line 0010', b'line 0011')
    expect('body changed', NONE, m, subj, 'inbox',
           (r'dkim=fail \(body hash', r'dmarc=fail'))
    msg, subj = message(NONE)
    m = sign(msg, 'none.example', 'ed', alg=b'ed25519-sha256')
    m = m.replace(subj.encode(), subj.encode() + b'x')
    expect('signed header changed', NONE, m, subj + 'x', 'inbox',
           (r'dkim=fail', r'dmarc=fail'))


def test_dkim_permerror_policy():
    msg, subj = message(NONE)
    KEYS[('none.example', 'gone')] = KEYS[('pass.example', 'gone')]
    expect('missing key', NONE, sign(msg, 'none.example', 'gone'), subj,
           'inbox', (r'dkim=permerror .*header\.s=gone', r'dmarc=fail'))
    msg, subj = message(NONE)
    ar = expect('rsa-sha1', NONE, sign(msg, 'none.example', 'rsa',
                                       alg=b'rsa-sha1'), subj, 'inbox',
                (r'header\.a=rsa-sha1', r'dmarc=fail'))
    check('dkim=pass' not in ar, 'rsa-sha1 is not a pass', ar)
    msg, subj = message(NONE)
    ar = expect('512-bit key', NONE, sign(msg, 'none.example', 'small'),
                subj, 'inbox', (r'header\.s=small',))
    check('dkim=pass' not in ar, 'a 512-bit RSA key is not a pass', ar)


def test_dkim_temperror_alone():
    msg, subj = message(NONE)
    expect('key SERVFAIL', NONE, sign(msg, 'broken.example', 'rsa'), subj,
           'inbox', (r'dkim=temperror .*header\.d=broken\.example',
                     r'dmarc=fail'))


def test_no_signature():
    msg, subj = message(NONE)
    expect('unsigned', NONE, msg, subj, 'inbox', (r'dkim=none',))


# -- DMARC ----------------------------------------------------------------

def test_dmarc_reject():
    msg, subj = message('x@reject.example')
    text = expect('p=reject unsigned', 'x@reject.example', msg, subj, None,
                  code=550)
    check('5.7.1' in text, 'p=reject: 5.7.1', text)
    msg, subj = message('x@reject.example')
    expect('p=reject signed', 'x@reject.example',
           sign(msg, 'reject.example', 'rsa'), subj, 'inbox',
           (r'dmarc=pass header\.from=reject\.example '
            r'policy\.dmarc=reject',))


def test_dmarc_quarantine():
    msg, subj = message('x@quar.example')
    expect('p=quarantine', 'x@quar.example', msg, subj, 'junk',
           (r'dmarc=fail header\.from=quar\.example '
            r'policy\.dmarc=quarantine',))
    junk = os.path.join(env.mail_dir(BOB), '.Junk')
    check(os.path.exists(os.path.join(junk, 'maildirfolder')),
          'Junk made with maildirfolder')
    check(os.stat(junk).st_mode & 0o777 == 0o700, 'Junk is 0700',
          oct(os.stat(junk).st_mode))


def test_dmarc_pct():
    msg, subj = message('x@pct.example')
    expect('p=reject; pct=0: the next milder policy', 'x@pct.example', msg,
           subj, 'junk', (r'dmarc=fail header\.from=pct\.example '
                          r'policy\.dmarc=reject',))


def test_dmarc_none():
    msg, subj = message(NONE)
    expect('p=none', NONE, msg, subj, 'inbox',
           (r'dmarc=fail header\.from=none\.example policy\.dmarc=none',))


def test_dmarc_sp():
    msg, subj = message('x@sub.parent.example')
    expect('sp=reject for a subdomain', 'x@sub.parent.example', msg, subj,
           None, code=550)
    msg, subj = message('x@parent.example')
    expect('p=none for the domain', 'x@parent.example', msg, subj, 'inbox',
           (r'dmarc=fail header\.from=parent\.example policy\.dmarc=none',))


def test_dkim_alignment():
    # d=relaxed.example, From news.relaxed.example: relaxed alignment
    msg, subj = message('x@news.relaxed.example')
    expect('adkim=r: organizational domain aligns', 'x@reject.example',
           sign(msg, 'relaxed.example', 'rsa'), subj, 'inbox',
           (r'dkim=pass header\.d=relaxed\.example',
            r'dmarc=pass header\.from=news\.relaxed\.example '
            r'policy\.dmarc=reject'))
    msg, subj = message('x@news.strict.example')
    expect('adkim=s: organizational domain does not align',
           'x@reject.example', sign(msg, 'strict.example', 'rsa'), subj,
           None, code=550)
    msg, subj = message('x@strict.example')
    expect('adkim=s: the same domain aligns', 'x@reject.example',
           sign(msg, 'strict.example', 'rsa'), subj, 'inbox',
           (r'dmarc=pass header\.from=strict\.example',))


def test_own_domain():
    msg, subj = message('ceo@example.org')
    text = expect('own domain from outside', 'x@evil.example', msg, subj,
                  None, code=550)
    check('5.7.1' in text, 'own domain: 5.7.1', text)


# -- DNS failures -----------------------------------------------------------

def test_dns_servfail():
    msg, subj = message('x@broken.example')
    text = expect('DMARC record SERVFAIL', 'x@none.example', msg, subj, None,
                  code=451)
    check(text.startswith('4.7.'), 'SERVFAIL: 4.7.x', text)
    check(not [f for f in env.queue_files() if not f.endswith('.done')],
          'SERVFAIL: nothing queued', env.queue_files())
    DNS.servfail.discard('broken.example')
    DNS.set_txt('_dmarc.broken.example', 'v=DMARC1; p=none')
    try:
        expect('SERVFAIL over: the retry is delivered', 'x@none.example',
               msg, subj, 'inbox', (r'dmarc=fail header\.from=broken',))
    finally:
        DNS.servfail.add('broken.example')


def test_dns_timeout():
    msg, subj = message('x@slow.example')
    start = time.time()
    text = expect('DMARC record timeout', 'x@none.example', msg, subj, None,
                  code=451)
    took = time.time() - start
    check(text.startswith('4.7.'), 'timeout: 4.7.x', text)
    check(took < 30, 'timeout: answered within [inbound] timeout', took)
    DNS.drop.discard('slow.example')
    try:
        expect('timeout over: the retry is delivered', 'x@none.example',
               msg, subj, 'inbox', (r'header\.from=slow\.example',))
    finally:
        DNS.drop.add('slow.example')


def test_slow_dns_blocks_nobody():
    # one session waits for a silent DNS server; another one goes through
    import threading
    msg, subj = message('x@other.slow.example')   # not cached yet
    out = {}
    t = threading.Thread(target=lambda: out.setdefault(
        'r', send('x@none.example', msg)))
    t.start()
    time.sleep(0.5)
    msg2, subj2 = message(NONE)
    start = time.time()
    code, _ = send(NONE, msg2)
    took = time.time() - start
    check(code == 250 and took < 2.0, 'a waiting session holds no other',
          (code, took))
    t.join()
    check(out.get('r', (0,))[0] == 451, 'the waiting one got 451', out)


def test_psl_missing():
    env.write_config(**dict(CONFIG, inbound={'timeout': '4s',
                                             'psl': '/nonexistent/psl.dat'}))
    r = env.tool('smtpd', '-d', timeout=30)
    check(r.returncode != 0 and '[inbound] psl /nonexistent/psl.dat' in
          r.stderr, 'a missing PSL stops smtpd at start, saying so',
          (r.returncode, r.stderr[-500:]))


def test_junk_folder_name():
    env.write_config(**dict(CONFIG, inbound={'timeout': '4s',
                                             'junk_folder': 'Spam',
                                             'spf_fail': 'junk'}))
    env.stop('smtpd')
    env.stop('imapd')
    env.start('smtpd', ports=[P25, P587])
    env.start('imapd', ports=[PIMAP])
    msg, subj = message('x@quar.example')
    code, _ = send('x@quar.example', msg)
    check(code == 250, 'junk_folder = Spam: accepted', code)
    found = []
    deadline = time.time() + 10
    while not found and time.time() < deadline:
        d = os.path.join(env.mail_dir(BOB), '.Spam', 'new')
        found = os.listdir(d) if os.path.isdir(d) else []
        time.sleep(0.1)
    check(found, 'junk_folder = Spam: quarantine goes to .Spam')
    msg, subj = message('x@nodmarc.example')
    code, _ = send('x@nodmarc.example', msg)
    check(code == 250, 'spf_fail = junk: accepted', code)
    found = []
    deadline = time.time() + 10
    while len(found) < 2 and time.time() < deadline:
        d = os.path.join(env.mail_dir(BOB), '.Spam', 'new')
        found = os.listdir(d) if os.path.isdir(d) else []
        time.sleep(0.1)
    check(len(found) == 2, 'spf_fail = junk: SPF fail without DMARC goes '
          'to the Junk folder', found)
    ctx = ssl._create_unverified_context()
    m = imaplib.IMAP4_SSL('127.0.0.1', PIMAP, ssl_context=ctx, timeout=30)
    m.login(BOB, PASS)
    _, data = m.list('""', '*')
    lines = [d.decode() for d in data if d]
    spam = [l for l in lines if l.endswith(' Spam') or l.endswith(' "Spam"')]
    check(spam and '\\Junk' in spam[0], 'imapd: Spam is \\Junk', lines)
    _, data = m.lsub('""', '*')
    check(any('Spam' in d.decode() for d in data if d),
          'the Spam folder made by smtpd is subscribed', data)
    m.logout()


def test_gone_while_waiting():
    # clients that leave while SPF, the DKIM keys or the DMARC record are
    # awaited; the answers come a second later, to nobody
    DNS.delay['late.example'] = 1.0
    DNS.set_txt('late.example', SPF_PASS)
    DNS.set_txt('_dmarc.late.example', 'v=DMARC1; p=none')
    for i in range(3):
        c = smtplib.SMTP('127.0.0.1', P25, local_hostname='client.test',
                         timeout=30)
        c.ehlo('client.test')
        code, _ = c.mail(f'x@w{i}.late.example')
        check(code == 250, 'MAIL FROM accepted, SPF under way', code)
        c.close()
    msg, _ = message('x@late.example')
    msg = sign(msg, 'late.example', 'rsa')
    c = smtplib.SMTP('127.0.0.1', P25, local_hostname='client.test',
                     timeout=30)
    c.ehlo('client.test')
    c.mail('x@late.example')
    c.rcpt(BOB)
    c.putcmd('data')
    check(c.getreply()[0] == 354, 'DATA: 354')
    c.send(msg + b'\r\n.\r\n')
    time.sleep(0.3)
    c.close()
    time.sleep(2.5)
    msg, subj = message(NONE)
    code, _ = send(NONE, msg)
    check(code == 250 and env.daemons['smtpd'].alive(),
          'smtpd serves on after clients left in the middle of lookups', code)
    log = env.daemons['smtpd'].log_text()
    check(not any(m in log for m in ft.SANITIZER_MARKS),
          'no sanitizer report after answers for sessions gone', log[-2000:])


def test_log_line():
    text = env.daemons['smtpd'].log_text()
    lines = [l for l in text.splitlines() if ' action=' in l]
    check(lines and all(re.search(r'session=\w+ addr=127\.0\.0\.1 qid=\w+ '
                                  r'spf=\w+', l) for l in lines),
          'one result line per message, with addr and qid', lines[-3:])


TESTS = [test_ar_added, test_forged_ar, test_submission_unaffected,
         test_several_recipients, test_imap_junk,
         test_spf, test_spf_alignment, test_spf_temperror,
         test_dkim_rsa_ed_pass, test_dkim_fail, test_dkim_permerror_policy,
         test_dkim_temperror_alone, test_no_signature,
         test_dmarc_reject, test_dmarc_quarantine, test_dmarc_pct,
         test_dmarc_none,
         test_dmarc_sp, test_dkim_alignment, test_own_domain,
         test_dns_servfail, test_dns_timeout, test_slow_dns_blocks_nobody,
         test_gone_while_waiting, test_log_line, test_psl_missing, test_junk_folder_name]

if __name__ == '__main__':
    ft.main(env, setup, TESTS)
