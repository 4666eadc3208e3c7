#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_dkim_e2e - DKIM signing end to end through the real facteur-smtpd
and facteur-authd (issue 4).

Keys come from `facteur-keytool dkim generate` (RSA-2048 and Ed25519
selectors of example.org, an RSA-only example.com, an Ed25519-only
example.info; example.net has no key), the [dkim] sign lines from what it
prints, the TXT records from `facteur-keytool dns`.  smtpd has a
submission port (STARTTLS, AUTH) and a [relay] to a python3-aiosmtpd sink
on loopback with STARTTLS and a certificate of a test CA (verify = yes);
relay_fixtures.py provides both.

Messages submitted with smtplib (AUTH) and relayed to the sink verify with
dkimpy (dnsfunc serving the printed TXT values), rsa-sha256 and
ed25519-sha256, and with opendkim-testmsg for rsa-sha256 (in a private
network namespace with a test DNS server, as test_dkim_sign.py does it;
needs root).  Cases: trailing whitespace, long folded headers, a 990-octet
header line, empty body, no body at all, only empty lines, lines starting
with dots, RFC 2047 subject and an 8-bit UTF-8 body (BODY=8BITMIME), no
final line end, odd header-name case and spacing, a From with a comment
and a quoted '@', big bodies; through facteur-sendmail LF, CRLF, mixed
line ends, no final line end, lone dots with -i, and the From it adds.
One changed body byte (and a changed Subject) make verification fail.

Also: mail received on port 25 is never signed (and refused with our own
From: issue 10); an authenticated user's
mail delivered locally carries the signatures and verifies; a From domain
without a sign line goes out unsigned; `From: alice@example.org
<bob@example.org>` or a second From field is not alice's From (553 /
550); PIPELINING across the wait for authd; clients gone right after the
final dot; authd without the keys (NOTFOUND: logged, mail goes out
unsigned; with one of two keys: that one signature); authd gone at the
final dot (451, nothing queued; sendmail tries again until authd is
back, then its message goes out signed); authd stopped
(SIGSTOP: 451 after authc's 10 s timeout, late answers dropped).
authd's DKIM signer child SIGKILLed: the next message is signed (a
new signer), authd's main process is the same.

Prints `# measure:` lines: signatures per second through authd (one
connection, 32 requests in flight), the client's time from MAIL to the
250 for 4 KiB messages unsigned, rsa+ed25519, rsa, ed25519 (sent in turn
on four sessions), and the wall time per message until relayed, unsigned
against rsa+ed25519 in alternating blocks (FACTEUR_DKIM_BENCH messages of
each kind, default 200).  With state on a disk, fsync dominates and hides
the signing; TMPDIR=/dev/shm shows it.
"""

import asyncio
import base64
import email.utils
import os
import re
import signal
import smtplib
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check, split_delivered  # noqa: E402
import relay_fixtures as rf  # noqa: E402
from test_dkim_keytool import dkim_txt_from_dns_output  # noqa: E402
from test_dkim_sign import opendkim_verify_all  # noqa: E402
import test_authd as authd_proto  # noqa: E402

import dkim  # noqa: E402

ALICE = 'alice@example.org'      # rsa2026 + ed2026
BOB = 'bob@example.org'          # a local recipient
CARL = 'carl@example.com'        # rsacom only
IDA = 'ida@example.info'         # edinfo only
NINA = 'nina@example.net'        # no key
PASS = {ALICE: 'alice pw 1', BOB: 'bob pw 2', CARL: 'carl pw 3',
        IDA: 'ida pw 4', NINA: 'nina pw 5'}
REMOTE = 'friend@remote.test'
KEYS = (('example.org', 'rsa2026', '--rsa'), ('example.org', 'ed2026', '--ed25519'),
        ('example.com', 'rsacom', '--rsa'), ('example.info', 'edinfo', '--ed25519'))
BOTH = ('rsa-sha256', 'ed25519-sha256')
BENCH = int(os.environ.get('FACTEUR_DKIM_BENCH', '200'))

env = ft.Env()
P25 = env.port()
P587 = env.port()
PKI = rf.make_pki(env.tls_dir)
SINK = None
SIGN_LINES = []
TXT = {}             # 'sel._domainkey.domain' -> TXT value (str)
OPENDKIM = []        # (name, path, expect_pass)
_seq = [0]


def mark(prefix):
    _seq[0] += 1
    return f'{prefix}-{_seq[0]}-{os.getpid()}'


def config(sign_lines):
    env.write_config(
        hostname='mail.example.org',
        domains='example.org example.com example.info example.net',
        smtp={'listen': [f'127.0.0.1:{P25}'],
              'submission': [f'127.0.0.1:{P587}'], 'timeout': '60s'},
        relay={'host': 'localhost', 'port': SINK.port, 'tls': 'starttls',
               'verify': True, 'ca_file': PKI['ca.pem']},
        dkim={'sign': list(sign_lines)} if sign_lines else None,
        # the account the tools run as may send as alice (facteur-sendmail)
        sendmail={'sender': f'{env.user} {ALICE}'})


def restart_authd():
    env.stop('authd')
    env.start('authd')


# -- mail in, mail out ------------------------------------------------------

def login(user):
    c = smtplib.SMTP('127.0.0.1', P587, timeout=60)
    c.starttls()
    c.login(user, PASS[user])
    return c


def wire(text):
    """str or bytes with LF (or CRLF) line ends -> CRLF bytes for DATA."""
    b = text.encode() if isinstance(text, str) else text
    return b.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')


def submit(user, msg, rcpts=(REMOTE,), eightbit=False):
    """msg (CRLF bytes) through the submission port; smtplib dot-stuffs and
    closes a last line without CRLF.  Returns None or the SMTP error."""
    c = login(user)
    try:
        c.sendmail(user, list(rcpts), msg,
                   mail_options=['BODY=8BITMIME'] if eightbit else [])
    except smtplib.SMTPException as e:
        return e
    finally:
        c.close()
    return None


def sendmail(args, text):
    return env.tool('sendmail', *args, stdin=text)


def sink_find(marker, count=1, timeout=30.0, full=False):
    """Messages (bytes as received, or the sink's dicts if full) at the sink
    containing marker."""
    m = marker.encode() if isinstance(marker, str) else marker
    deadline = time.time() + timeout
    while True:
        found = [x if full else x['data'] for x in list(SINK.msgs)
                 if m in x['data']]
        if len(found) >= count or time.time() > deadline:
            return found
        time.sleep(0.05)


def sink_one(name, marker):
    found = sink_find(marker)
    if not check(len(found) == 1, f'{name}: relayed to the sink once',
                 len(found)):
        return None
    return found[0]


# -- DKIM checks ------------------------------------------------------------

def header_fields(data):
    """[(name, unfolded value)] of the header block of data."""
    head = re.split(rb'\r?\n\r?\n', data, maxsplit=1)[0]
    head = re.sub(rb'\r?\n([ \t])', rb'\1', head)
    out = []
    for line in head.split(b'\n'):
        line = line.rstrip(b'\r')
        if b':' in line:
            n, v = line.split(b':', 1)
            out.append((n.decode('ascii', 'replace'), v))
    return out


def signatures(data):
    """[{tag: value}] of the DKIM-Signature fields, in order."""
    sigs = []
    for name, value in header_fields(data):
        if name.strip().lower() != 'dkim-signature':
            continue
        tags = {}
        for part in value.decode('ascii', 'replace').split(';'):
            if '=' in part:
                k, v = part.split('=', 1)
                tags[k.strip()] = re.sub(r'\s+', '', v)
        sigs.append(tags)
    return sigs


def dnsfunc(name, timeout=5):
    v = TXT.get(name.decode().rstrip('.'))
    return v.encode() if v else None


def dkimpy(data, idx):
    try:
        return dkim.DKIM(data).verify(idx=idx, dnsfunc=dnsfunc)
    except Exception as e:  # pylint: disable=broad-except
        return f'dkimpy raised {e!r}'


def verify_all(name, data, algs=BOTH, domain='example.org'):
    """Every check of a signed message (CRLF bytes): the signatures expected
    and no other, their tags, and dkimpy verifying each.  True if all ok."""
    sigs = signatures(data)
    got = sorted(s.get('a') for s in sigs)
    ok = check(got == sorted(algs), f'{name}: signatures {", ".join(algs)}',
               [s.get('a') for s in sigs])
    now = time.time()
    for i, s in enumerate(sigs):
        a = s.get('a')
        hdrs = [h.lower() for h in s.get('h', '').split(':')]
        present = sum(1 for n, _ in header_fields(data)
                      if n.strip().lower() == 'from')
        ok &= check(s.get('d') == domain and s.get('c') == 'relaxed/relaxed'
                    and 'l' not in s and abs(int(s.get('t', '0')) - now) < 600
                    and hdrs.count('from') == present + 1,
                    f'{name}: {a} tags d={domain} c=relaxed/relaxed, t= now, '
                    'no l=, From oversigned', s)
        res = dkimpy(data, i)
        ok &= check(res is True, f'{name}: {a} verifies (dkimpy)', res)
    return ok


def without_signature(data, alg):
    """data with its DKIM-Signature field(s) of algorithm alg removed."""
    head, sep, body = data.partition(b'\r\n\r\n')
    fields = []
    for line in head.split(b'\r\n'):
        if line[:1] in (b' ', b'\t') and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    keep = [f for f in fields if not (
        f[0].lower().startswith(b'dkim-signature:') and
        re.search(rb'(^|;)\s*a\s*=\s*' + re.escape(alg.encode()) + rb'\s*;',
                  b''.join(f).split(b':', 1)[1]))]
    return b'\r\n'.join(b'\r\n'.join(f) for f in keep) + sep + body


def for_opendkim(name, data, expect=True):
    """Keep data (rsa signature only) for opendkim-testmsg at the end."""
    path = env.path('opendkim', f'{len(OPENDKIM)}.eml')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(without_signature(data, 'ed25519-sha256'))
    OPENDKIM.append((name, path, expect))


def flip_body_byte(data):
    head, sep, body = data.partition(b'\r\n\r\n')
    pos = max(body.find(b'e'), 0)
    return head + sep + body[:pos] + bytes([body[pos] ^ 1]) + body[pos + 1:]


# -- messages -----------------------------------------------------------------

def headers(marker, frm=f'Alice <{ALICE}>', subject=None, to=REMOTE):
    return (f'From: {frm}\nTo: {to}\nSubject: {subject or marker}\n'
            f'Date: {email.utils.formatdate(localtime=True)}\n'
            f'Message-ID: <{marker}@example.org>\n')


UTF8_SUBJECT = '=?UTF-8?B?Q2Fmw6kgY3LDqG1lIOKCrCDigJQg5pel5pys6Kqe?='
UTF8_BODY = ('Caf\u00e9 cr\u00e8me \u20ac 100 \u2014 \u65e5\u672c\u8a9e  \n'
             '\u00dcber \u00fcn\u00efc\u00f6d\u00e9\t\n\n\u00e0 bient\u00f4t\n')


def case_table():
    """(name, function(marker) -> message str/bytes with LF, options)."""
    tos = ',\n  '.join(f'user{i}@remote.test' for i in range(40))
    refs = '\n '.join(f'<{i}.ref@example.org>' for i in range(30))
    return [
        ('trailing whitespace', lambda m: (
            f'From: Alice <{ALICE}> \t\nTo:   {REMOTE}   \n'
            f'Subject: {m}  spaces   inside \t \n'
            f'Date: {email.utils.formatdate()}\t\nMessage-ID: <{m}@example.org> \n'
            '\nline with trailing spaces   \n\ttabbed\t \n   \n'
            '  two  spaces  inside\t\tand tabs  \nend  \n\n \n\t\n'), {}),
        ('long folded headers', lambda m: (
            f'From: "Alice Example, Long Name" <{ALICE}>\nTo: {tos}\n'
            'Cc: a@remote.test,\n\tb@remote.test\n'
            f'Subject: {m} a very long subject that goes on and on and is\n'
            '  folded over several lines\n\tand more\n'
            f'References: {refs}\nIn-Reply-To: <29.ref@example.org>\n'
            f'Date: {email.utils.formatdate()}\nMessage-ID: <{m}@example.org>\n'
            'MIME-Version: 1.0\nContent-Type: text/plain;\n charset="utf-8";\n'
            '\tformat=flowed\nReply-To: alice@example.org\n\nbody\n'), {}),
        ('990-octet header line', lambda m: (
            headers(m, subject=m + ' ' + 'w' * (990 - 10 - len(m))) +
            '\nshort body\n'), {}),
        ('empty body', lambda m: headers(m) + '\n', {}),
        ('no body at all', headers, {}),
        ('only empty lines', lambda m: headers(m) + '\n\n\n \n\n', {}),
        ('lines starting with dots', lambda m: (
            headers(m) + '\n.\n..\n.leading dot\n...three\n. \n.\t\n.\n'), {}),
        ('utf-8 subject and body', lambda m: (
            f'From: =?UTF-8?Q?Ren=C3=A9e_Alice?= <{ALICE}>\nTo: {REMOTE}\n'
            f'Subject: {UTF8_SUBJECT} {m}\nDate: {email.utils.formatdate()}\n'
            f'Message-ID: <{m}@example.org>\nMIME-Version: 1.0\n'
            'Content-Type: text/plain; charset=utf-8\n'
            'Content-Transfer-Encoding: 8bit\n\n' + UTF8_BODY).encode(),
         {'eightbit': True}),
        ('no final line end', lambda m: (
            headers(m) + '\nfirst\nlast line without a line end   '), {}),
        ('leading and trailing empty and blank lines', lambda m: (
            headers(m) + '\n\n \n\ttext\n\n\n \n\t\n\n'), {}),
        ('body of one blank line', lambda m: headers(m) + '\n \t \n', {}),
        ('header name case and spacing', lambda m: (
            f'FROM: {ALICE}\nsubject:{m}\nTO:\t{REMOTE}\n'
            f'message-id:   <{m}@example.org>\nDATE: {email.utils.formatdate()}\n'
            'Mime-Version:1.0\n\nbody\n'), {}),
        ('From in capitals', lambda m: (
            headers(m, frm='Alice <ALICE@Example.ORG>') + '\nbody\n'), {}),
        ('raw UTF-8 subject', lambda m: (
            headers(m, subject=f'{m} \u00e9t\u00e9 \u2014 \u00fcber') +
            '\nbody\n').encode(), {'eightbit': True}),
        ('From with comment and quoted @', lambda m: (
            headers(m, frm=f'"alice@elsewhere.test (work)" <{ALICE}> (Alice)') +
            '\nbody\n'), {}),
        ('duplicate signed fields', lambda m: (
            headers(m) + 'Cc: one@remote.test\nCc: two@remote.test\n\nbody\n'),
         {'opendkim': False}),    # libopendkim refuses repeated singletons
        ('998-octet body line', lambda m: (
            headers(m) + '\n' + 'b' * 998 + '\n' + 'c' * 700 + ' ' * 290 + '\n'),
         {}),
        ('big body', lambda m: headers(m) + '\n' + ''.join(
            f'line {i} {"x" * (i % 211)}\n' for i in range(8000)), {}),
    ]


def msg4k(user, marker):
    head = (f'From: <{user}>\nTo: <{REMOTE}>\nSubject: {marker}\n'
            f'Date: {email.utils.formatdate()}\n'
            f'Message-ID: <{marker}@example.org>\n\n')
    line = '0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.\n'
    body = (line * (4096 // len(line) + 1))[:4096 - len(head) - 1] + '\n'
    return wire(head + body)


# -- tests ----------------------------------------------------------------------

def setup():
    global SINK
    SINK = rf.Sink(env, PKI, starttls='good')
    config(None)
    for domain, sel, flag in KEYS:
        r = env.keytool('dkim', 'generate', domain, sel, flag)
        m = re.search(r'^\s*sign = (\S+ \S+ \S+)$', r.stdout, re.M)
        check(m is not None, f'keytool dkim generate {domain} {sel} {flag}: '
              'prints the sign line', r.stdout)
        if m:
            SIGN_LINES.append(m.group(1))
    config(SIGN_LINES)
    r = env.keytool('dns')
    for _domain, sel, _flag in KEYS:
        v = dkim_txt_from_dns_output(r.stdout, sel)
        check(v is not None, f'keytool dns: TXT of {sel}', r.stdout[-2000:])
        if v:
            name = re.search(r'^(%s\._domainkey\.\S+?)\.?\s' % re.escape(sel),
                             r.stdout, re.M).group(1)
            TXT[name] = v
    for user, pw in PASS.items():
        env.add_user(user, pw)
    env.start('authd')
    env.start('smtpd', ports=[P25, P587])


def test_submission_cases():
    for name, make, opts in case_table():
        marker = mark('case')
        msg = wire(make(marker))
        err = submit(ALICE, msg, eightbit=opts.get('eightbit', False))
        if not check(err is None, f'{name}: submitted', repr(err)):
            continue
        data = sink_one(name, marker)
        if data is None:
            continue
        sent = msg if msg.endswith(b'\r\n') else msg + b'\r\n'
        check(data.endswith(sent), f'{name}: message relayed unchanged after '
              'the added fields', data[-300:])
        if verify_all(name, data) and opts.get('opendkim', True):
            for_opendkim(name, data)
        if opts.get('eightbit'):
            o = sink_find(marker, full=True)[0]['options']
            check('BODY=8BITMIME' in [x.upper() for x in o],
                  f'{name}: relayed with BODY=8BITMIME', o)
        if name == 'long folded headers':
            bad = data.replace(b'folded over several', b'folded over Several')
            check(dkimpy(bad, 0) is not True and dkimpy(bad, 1) is not True,
                  f'{name}: a changed Subject fails both')
        if name == 'lines starting with dots':
            bad = flip_body_byte(data)
            check(dkimpy(bad, 0) is not True and dkimpy(bad, 1) is not True,
                  f'{name}: one changed body byte fails both (dkimpy)')
            for_opendkim(name + ', one body byte changed', bad, expect=False)
        if name == 'trailing whitespace':
            bad = flip_body_byte(data)
            check(dkimpy(bad, 0) is not True and dkimpy(bad, 1) is not True,
                  f'{name}: one changed body byte fails both (dkimpy)')
            for_opendkim(name + ', one body byte changed', bad, expect=False)


def test_one_key_domains():
    """example.com has only an RSA key, example.info only an Ed25519 key,
    example.net none: one signature each, or none."""
    for user, algs, domain in ((CARL, ('rsa-sha256',), 'example.com'),
                               (IDA, ('ed25519-sha256',), 'example.info'),
                               (NINA, (), 'example.net')):
        marker = mark('dom')
        name = f'From {domain}'
        err = submit(user, wire(headers(marker, frm=user) + '\nhi\n'))
        if check(err is None, f'{name}: submitted', repr(err)):
            data = sink_one(name, marker)
            if data is not None and verify_all(name, data, algs, domain) \
                    and 'rsa-sha256' in algs:
                for_opendkim(name, data)


def test_from_not_owned():
    """The From check reads the address, not an '@' in the display name."""
    for frm in (f'{ALICE} <{BOB}>', f'"{ALICE}" <{BOB}>', f'Bob <{BOB}>, {ALICE}'):
        marker = mark('spoof')
        err = submit(ALICE, wire(headers(marker, frm=frm) + '\nx\n'))
        check(isinstance(err, smtplib.SMTPDataError) and err.smtp_code == 553,
              f'alice with From: {frm}: 553', repr(err))
    # RFC 5322 3.6: one From field; a second one is what a reader may see
    marker = mark('spoof')
    err = submit(ALICE, wire(headers(marker) + f'From: Bob <{BOB}>\n\nx\n'))
    check(isinstance(err, smtplib.SMTPDataError) and err.smtp_code // 100 == 5,
          'alice with a second From field (bob): refused', repr(err))
    check(not sink_find('spoof-', timeout=1), 'no spoofed message relayed')


def raw_login(user):
    """A RawSMTP session on the submission port after STARTTLS and AUTH."""
    c = ft.RawSMTP(P587, timeout=30)
    c.ehlo()
    code, text = c.cmd('STARTTLS')
    if code != 220:
        raise ft.SMTPError(f'STARTTLS: {text}')
    c.starttls()
    c.ehlo()
    cred = base64.b64encode(f'\0{user}\0{PASS[user]}'.encode()).decode()
    code, text = c.cmd(f'AUTH PLAIN {cred}')
    if code != 235:
        raise ft.SMTPError(f'AUTH: {text}')
    return c


def test_pipelined():
    """PIPELINING: the next transaction (and QUIT) arrives in the same
    packet as the final dot, while the session waits for authd."""
    m1, m2 = mark('pipe'), mark('pipe')
    body1 = ft.dot_stuff(wire(headers(m1) + '\n.first\n'))
    body2 = ft.dot_stuff(wire(headers(m2) + '\n.second\n'))
    c = raw_login(ALICE)
    try:
        c.send(f'MAIL FROM:<{ALICE}>\r\nRCPT TO:<{REMOTE}>\r\nDATA\r\n')
        codes = [c.reply()[0] for _ in range(3)]
        c.send(body1 + f'.\r\nMAIL FROM:<{ALICE}>\r\nRCPT TO:<{REMOTE}>\r\n'
               'DATA\r\n'.encode())
        codes += [c.reply()[0] for _ in range(4)]
        c.send(body2 + b'.\r\nQUIT\r\n')
        codes += [c.reply()[0] for _ in range(2)]
    finally:
        c.close()
    check(codes == [250, 250, 354, 250, 250, 250, 354, 250, 221],
          'pipelined: every reply in order', codes)
    for m in (m1, m2):
        data = sink_one('pipelined ' + m, m)
        if data is not None:
            verify_all('pipelined message', data)


def test_client_gone_while_signing():
    """Clients that vanish right after the final dot, while smtpd waits
    for authd: smtpd keeps serving (ASan watches the callbacks)."""
    for i in range(20):
        c = raw_login(ALICE)
        c.send(f'MAIL FROM:<{ALICE}>\r\nRCPT TO:<{REMOTE}>\r\nDATA\r\n')
        for _ in range(3):
            c.reply()
        c.send(wire(headers(mark('vanish')) + f'\nbye {i}\n') + b'.\r\n')
        c.close()
    marker = mark('after')
    err = submit(ALICE, wire(headers(marker) + '\nstill here\n'))
    check(err is None and env.daemons['smtpd'].alive(),
          'clients gone while signing: smtpd still serves', repr(err))
    data = sink_one('after vanished clients', marker)
    if data is not None:
        verify_all('after vanished clients', data)


def test_no_from():
    """RFC 6409 8: an authenticated submission without From gets one, the
    envelope sender (MAIL FROM checked it is the user's), signed with it
    (smtp_session_dkim.c; test_clients.py sends one with msmtp)."""
    m = mark('nofrom')
    err = submit(ALICE, wire(f'To: {REMOTE}\nSubject: {m}\n\nx\n'))
    check(err is None, 'authenticated message without From: 250', repr(err))
    data = sink_one('no From', m)
    if data is None:
        return
    froms = [v.strip() for n, v in header_fields(data)
             if n.strip().lower() == 'from']
    check(len(froms) == 1 and ALICE.encode() in froms[0],
          'one From added, the envelope sender', froms)
    verify_all('no From', data)


def test_adds_date_and_message_id():
    """RFC 6409 8: a submission without Date and Message-ID gets both, in
    front of the message, signed with it (issue 13)."""
    m = mark('nodate')
    err = submit(ALICE, wire(f'From: Alice <{ALICE}>\nTo: {REMOTE}\n'
                             f'Subject: {m}\n\nno date, no id\n'))
    check(err is None, 'submission without Date and Message-ID: 250', repr(err))
    data = sink_one('no Date/Message-ID', m)
    if data is None:
        return
    names = [n.strip().lower() for n, _ in header_fields(data)]
    check(names.count('date') == 1 and names.count('message-id') == 1,
          'Date and Message-ID added once each', names)
    sig = signatures(data)
    hdrs = [h.lower() for h in sig[0].get('h', '').split(':')] if sig else []
    check('date' in hdrs and 'message-id' in hdrs,
          'the added fields are signed (h=)', hdrs)
    verify_all('no Date/Message-ID', data)
    # a message that has them keeps its own, not a second pair
    m2 = mark('hasdate')
    err = submit(ALICE, wire(headers(m2) + '\nhas both\n'))
    data = sink_one('Date/Message-ID present', m2)
    if data is not None:
        names = [n.strip().lower() for n, _ in header_fields(data)]
        check(names.count('date') == 1 and names.count('message-id') == 1 and
              f'<{m2}@example.org>'.encode() in data,
              'existing Date and Message-ID kept, none added', names)


def test_sendmail():
    """facteur-sendmail: local submission is signed, whatever its line ends."""
    cases = [
        ('LF', lambda m: headers(m) + '\nplain LF body  \n.dot\n', []),
        ('CRLF', lambda m: (headers(m) + '\nCRLF body \t\n\nend\n')
         .replace('\n', '\r\n'), []),
        ('mixed line ends', lambda m: headers(m).replace('\n', '\r\n', 2) +
         '\r\nline 1\nline 2\r\n\r\n\n', []),
        ('no final line end', lambda m: headers(m) + '\nlast   ', []),
        ('-i and lone dots', lambda m: headers(m) + '\n.\n..\nafter\n.\n', ['-i']),
        ('From, Date, Message-ID added', lambda m: (
            f'To: {REMOTE}\nSubject: {m}\n\nfrom cron\n'), []),
        ('utf-8', lambda m: (f'From: {ALICE}\nTo: {REMOTE}\nSubject: '
                             f'{UTF8_SUBJECT} {m}\n\n' + UTF8_BODY), []),
    ]
    for name, make, args in cases:
        name = 'sendmail ' + name
        marker = mark('sm')
        r = sendmail(args + [REMOTE], make(marker))
        if not check(r.returncode == 0, f'{name}: exit 0', r.stderr):
            continue
        data = sink_one(name, marker)
        if data is not None and verify_all(name, data):
            for_opendkim(name, data)
    marker = mark('smlocal')
    r = sendmail([BOB], headers(marker, to=BOB) + '\nto a local user\n')
    check(r.returncode == 0, 'sendmail to a local user: exit 0', r.stderr)
    found = env.wait_message(BOB, marker)
    if check(len(found) == 1, 'sendmail to a local user: delivered', len(found)):
        verify_all('sendmail to a local user (Maildir)', ft.crlf_to_lf(found[0])
                   .replace(b'\n', b'\r\n'))


def test_local_delivery():
    """An authenticated user's mail to a local and a remote recipient: both
    copies carry the same signatures and verify."""
    marker = mark('local')
    msg = wire(headers(marker, to=f'Bob <{BOB}>') + '\nfor bob and a friend\n')
    err = submit(ALICE, msg, rcpts=(BOB, REMOTE))
    check(err is None, 'alice to bob and a remote: submitted', repr(err))
    found = env.wait_message(BOB, marker)
    if check(len(found) == 1, 'delivered to bob', len(found)):
        trace, rest = split_delivered(found[0])
        check(rest.startswith(b'DKIM-Signature:'), 'Maildir copy: the '
              'DKIM-Signature fields follow Return-Path and Delivered-To',
              found[0][:300])
        local = found[0].replace(b'\n', b'\r\n')
        verify_all('Maildir copy', local)
        remote = sink_one('remote copy', marker)
        if remote is not None:
            check(signatures(remote) == signatures(local),
                  'the remote copy has the same signatures')


def test_port25_never_signed():
    """Mail from outside is delivered as it came; with our own From it is
    refused (issue 10: only our users' submissions may use our domains)."""
    for frm, extra in ((ALICE, ''), ('stranger@remote.test',
                                     'DKIM-Signature: v=1; a=rsa-sha256; '
                                     'd=remote.test; s=x; h=from; bh=AA==; b=AA==\n')):
        marker = mark('in25')
        msg = wire(extra + headers(marker, frm=frm, to=BOB) + '\nfrom outside\n')
        with smtplib.SMTP('127.0.0.1', P25, timeout=30) as c:
            c.ehlo('outside.test')
            c.starttls()
            c.ehlo('outside.test')
            try:
                c.sendmail('someone@remote.test', [BOB], msg)
                code = 250
            except smtplib.SMTPDataError as e:
                code = e.smtp_code
        if frm == ALICE:
            check(code == 550, 'port 25, our own From from outside: 550', code)
            continue
        found = env.wait_message(BOB, marker)
        if check(len(found) == 1, f'port 25, From {frm}: delivered', len(found)):
            n = found[0].count(b'DKIM-Signature:')
            check(n == 1, f'port 25, From {frm}: not signed (their signature '
                  'kept)', found[0][:600])


NOKEY_LOG = 'authd has no key for example.org selector rsa2026'


def test_authd_without_keys():
    """smtpd has sign lines, authd has no key (NOTFOUND): logged, the mail
    goes out unsigned; with one of the two keys: that signature only."""
    for lines, algs in (([], ()),
                        ([l for l in SIGN_LINES if 'ed2026' in l],
                         ('ed25519-sha256',))):
        config(lines)          # authd reads it now; smtpd keeps what it read
        restart_authd()
        marker = mark('nokey')
        name = f'authd with {len(lines)} of example.org\'s keys'
        logged = env.daemons['smtpd'].log_text().count(NOKEY_LOG)
        err = submit(ALICE, wire(headers(marker) + '\nmaybe signed\n'))
        if check(err is None, f'{name}: accepted (250)', repr(err)):
            data = sink_one(name, marker)
            if data is not None:
                if algs:
                    verify_all(name, data, algs)
                else:
                    check(not signatures(data), f'{name}: sent unsigned',
                          data[:500])
        log = env.daemons['smtpd'].log_text()
        check(log.count(NOKEY_LOG) == logged + 1,
              f'{name}: smtpd logs the missing key once', log[-1500:])
    config(SIGN_LINES)
    restart_authd()
    marker = mark('keysback')
    err = submit(ALICE, wire(headers(marker) + '\nsigned again\n'))
    data = sink_one('keys back', marker) if err is None else None
    if check(data is not None, 'authd restarted with the keys: relayed', repr(err)):
        verify_all('authd restarted with the keys', data)


def final_dot_while(marker, before, after=None):
    """Submit a message as alice with before() called between DATA's 354
    and the final dot, after() once the reply is in; returns (code, text,
    seconds from the body sent to the reply)."""
    c = login(ALICE)
    try:
        c.mail(ALICE)
        c.rcpt(REMOTE)
        code, text = c.docmd('DATA')
        if code != 354:
            return code, text, 0
        before()
        start = time.time()
        try:
            c.send(wire(headers(marker) + '\nunsignable\n') + b'.\r\n')
            code, text = c.getreply()
        finally:
            if after:
                after()
        took = time.time() - start
        c.quit()
    finally:
        c.close()
    return code, text, took


def test_authd_gone():
    """authd unreachable at the final dot: 451, nothing queued or relayed;
    facteur-sendmail takes the 451 as a restart and tries again until
    authd is back (test_sendmail_restart): its message is then signed."""
    marker = mark('gone')
    code, text, _ = final_dot_while(marker, lambda: env.stop('authd'))
    check(code == 451, 'authd gone at the final dot: 451', (code, text))
    marker2 = mark('gonesm')
    # pylint: disable=protected-access
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [env.binary('sendmail'), '-c', env.conf, REMOTE],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=env.tmp,
        env=env._preexec_env(ft.TOOL_ASAN), **env._user_kw())
    proc.stdin.write(headers(marker2) + '\nsigned once authd is back\n')
    proc.stdin.close()
    time.sleep(1)
    check(proc.poll() is None, 'sendmail with authd gone: still trying',
          proc.poll())
    env.start('authd')
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    err = proc.stderr.read()
    check(proc.returncode == 0, 'sendmail across authd\'s restart: exit 0',
          (proc.returncode, err))
    data = sink_one('sendmail across authd\'s restart', marker2)
    if data is not None:
        verify_all('sendmail across authd\'s restart', data)
    check(not sink_find(marker, timeout=3), 'authd gone: nothing relayed')
    check(not any(marker.encode() in open(p, 'rb').read()
                  for p in env.queue_files()), 'authd gone: nothing queued')


def test_authd_hangs():
    """authd stopped (SIGSTOP) at the final dot: the request times out
    (TEMPFAIL, lib/authc.h: 10 s), 451; its late answers after SIGCONT
    are dropped and the next message is signed."""
    marker = mark('hang')
    code, text, took = final_dot_while(
        marker, lambda: env.kill_group('authd', signal.SIGSTOP),
        lambda: env.kill_group('authd', signal.SIGCONT))
    check(code == 451 and 5 < took < 30,
          'authd stopped at the final dot: 451 after the timeout',
          (code, text, took))
    after = mark('hang')
    err = submit(ALICE, wire(headers(after) + '\nauthd is back\n'))
    data = sink_one('after authd hung', after) if err is None else None
    if check(data is not None, 'after authd hung: next message relayed',
             repr(err)):
        verify_all('after authd hung', data)
    check(not sink_find(marker, timeout=0), 'authd hung: message not relayed')


def authd_children():
    """pids whose parent is authd's main process"""
    main = env.daemons['authd'].proc.pid
    return {pid for pid, (ppid, _) in ft.procs().items() if ppid == main}


def test_signer_killed():
    """The DKIM signer (a child of authd's main process, forked on the
    first signature) killed: the next message is signed by a new signer,
    authd's main process stays."""
    restart_authd()                # no signer, no hasher yet
    main = env.daemons['authd'].proc.pid
    p = authd_proto.Peer(os.path.join(env.run_dir, 'authd.sock'))
    res, rest = authd_proto.login(p, ALICE, PASS[ALICE])   # forks a hasher
    grant = authd_proto.grant_of(rest) or b''
    before = authd_children()
    p.send(authd_proto.DKIM_SIGN, authd_proto.s('example.org') +
           authd_proto.s('ed2026') + authd_proto.u32(2) +
           authd_proto.data(b'\x5a' * 32) + authd_proto.data(grant))
    _t, _rid, payload = p.recv()
    p.close()
    check(res == authd_proto.OK and
          payload[:4] == authd_proto.u32(authd_proto.OK),
          'signer test: a signature through authd', (res, payload[:4]))
    signer = authd_children() - before
    if not check(len(signer) == 1, 'signer test: one new child of authd '
                 'after the first signature', (before, signer)):
        return
    spid = signer.pop()
    os.kill(spid, signal.SIGKILL)
    deadline = time.time() + 10
    while spid in authd_children() and time.time() < deadline:
        time.sleep(0.02)           # reaped by authd
    check(spid not in authd_children(), 'signer test: killed signer reaped',
          spid)
    marker = mark('signer-killed')
    err = submit(ALICE, wire(headers(marker) + '\nafter the signer died\n'))
    data = sink_one('after the signer was killed', marker) \
        if err is None else None
    if check(data is not None, 'after the signer was killed: relayed',
             repr(err)):
        verify_all('after the signer was killed', data)
    check(env.daemons['authd'].alive() and
          env.daemons['authd'].proc.pid == main and
          any(c != spid for c in authd_children() - before),
          'signer test: same authd main process, a new signer', main)


def test_opendkim():
    if os.geteuid() != 0:
        check(False, 'opendkim-testmsg needs root for unshare -n')
        return
    d = env.path('opendkim')
    res = opendkim_verify_all(d, TXT, [p for _, p, _ in OPENDKIM])
    if not check(res is not None, 'opendkim-testmsg ran in a namespace'):
        return
    check(len(OPENDKIM) >= 20, 'opendkim: enough messages', len(OPENDKIM))
    for name, path, expect in OPENDKIM:
        rc, err = res[path]
        if expect:
            check(rc == 0, f'{name}: rsa-sha256 verifies (opendkim)', err)
        else:
            check(rc != 0 and 'Bad signature' in err,
                  f'{name}: fails (opendkim)', (rc, err))


# -- measurements ---------------------------------------------------------------

def authd_sign_rate(alg, selector, n, depth=32):
    """DKIM_SIGN requests per second, `depth` in flight on one connection."""
    p = authd_proto.Peer(os.path.join(env.run_dir, 'authd.sock'))
    # the grant of an SMTP login of this process (issue 16)
    res, rest = authd_proto.login(p, ALICE, PASS[ALICE])
    grant = authd_proto.grant_of(rest) or b''
    check(res == authd_proto.OK and len(grant) == 16, 'a grant for alice')
    req = (authd_proto.s('example.org') + authd_proto.s(selector) +
           authd_proto.u32(alg) + authd_proto.data(b'\x5a' * 32) +
           authd_proto.data(grant))
    start = time.perf_counter()
    sent = done = ok = 0
    while done < n:
        while sent < n and sent - done < depth:
            p.send(authd_proto.DKIM_SIGN, req)
            sent += 1
        _t, _rid, payload = p.recv()
        ok += payload[:4] == authd_proto.u32(authd_proto.OK)
        done += 1
    took = time.perf_counter() - start
    p.close()
    check(ok == n, f'authd signs {n} {selector} digests', ok)
    return n / took


KINDS = ((NINA, 'unsigned', ()), (ALICE, 'rsa+ed25519', BOTH),
         (CARL, 'rsa only', ('rsa-sha256',)),
         (IDA, 'ed25519 only', ('ed25519-sha256',)))


def check_bench(kind, user, algs, got, n):
    check(len(got) == n, f'bench {kind}: all {n} relayed', len(got))
    nsig = {len(signatures(g)) for g in got}
    check(nsig == {len(algs)}, f'bench {kind}: {len(algs)} signature(s) on '
          'every message of the session', nsig)
    for g in (got[:2] + got[-2:]) if algs else []:
        verify_all(f'bench {kind}', g, algs, user.split('@')[1])


def bench_latency(n):
    """n 4 KiB messages per kind, one session per kind, sent in turn (the
    order rotating) so that every kind sees the same load: the client's
    time from MAIL to the 250 after the final dot, per kind."""
    tag = mark('lat')
    sess = {kind: login(user) for user, kind, _ in KINDS}
    lat = {kind: [] for _, kind, _ in KINDS}
    for i in range(n):
        for j in range(len(KINDS)):
            user, kind, _ = KINDS[(i + j) % len(KINDS)]
            msg = msg4k(user, f'{tag}-{kind}-{i}')
            t = time.perf_counter()
            sess[kind].sendmail(user, [REMOTE], msg)
            lat[kind].append(time.perf_counter() - t)
    for c in sess.values():
        c.quit()
    for user, kind, algs in KINDS:
        check_bench(kind, user, algs, sink_find(f'{tag}-{kind}-', n, 120), n)
    return lat


def bench_relayed(user, n):
    """Wall time per message for n 4 KiB messages on one session until
    the last one reached the sink."""
    tag = mark('thr')
    c = login(user)
    start = time.perf_counter()
    for i in range(n):
        c.sendmail(user, [REMOTE], msg4k(user, f'{tag}-{i}'))
    c.quit()
    got = sink_find(tag + '-', n, timeout=120)
    return (time.perf_counter() - start) / n, got


def test_measure():
    rsa = authd_sign_rate(1, 'rsa2026', 400)
    ed = authd_sign_rate(2, 'ed2026', 4000)
    print(f'# measure: authd signatures/s on one connection: rsa-sha256 '
          f'(2048) {rsa:.0f}/s, ed25519-sha256 {ed:.0f}/s')
    lat = bench_latency(BENCH)
    base = statistics.median(lat['unsigned']) * 1000
    for _user, kind, _algs in KINDS:
        med = statistics.median(lat[kind]) * 1000
        print(f'# measure: {kind:12s} {BENCH} x 4 KiB submitted, MAIL to 250: '
              f'median {med:.2f} ms ({med - base:+.2f}), mean '
              f'{statistics.mean(lat[kind]) * 1000:.2f} ms')
    per = {'unsigned': [], 'rsa+ed25519': []}
    block = max(1, BENCH // 4)
    for _round in range(4):      # alternating blocks even out the load
        for user, kind, algs in KINDS[:2]:
            t, got = bench_relayed(user, block)
            per[kind].append(t)
            check_bench(kind, user, algs, got, block)
    a, b = (statistics.mean(per[k]) * 1000 for k in ('unsigned', 'rsa+ed25519'))
    print(f'# measure: relayed {4 * block} x 4 KiB each way, one session, '
          f'until at the sink: unsigned {a:.2f} ms/msg, rsa+ed25519 '
          f'{b:.2f} ms/msg ({b - a:+.2f})')


def main():
    ft.main(env, setup, [
        test_submission_cases, test_one_key_domains, test_from_not_owned,
        test_pipelined, test_client_gone_while_signing, test_no_from,
        test_adds_date_and_message_id,
        test_sendmail, test_local_delivery, test_port25_never_signed,
        test_authd_without_keys, test_authd_gone, test_authd_hangs,
        test_signer_killed,
        test_opendkim,
        test_measure,
    ])


if __name__ == '__main__':
    asyncio.set_event_loop(asyncio.new_event_loop())
    main()
