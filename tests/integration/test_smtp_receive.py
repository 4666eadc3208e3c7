# SPDX-License-Identifier: ISC
"""test_smtp_receive - facteur-smtpd receiving mail on port 25 (issue 2).

Real facteur-authd and facteur-smtpd on loopback high ports, raw sockets for
the protocol edge cases (SMTP smuggling, long lines, NUL, STARTTLS
pipelining, limits), swaks, curl and smtplib as real clients, a SIGKILL in
the middle of 200 messages.  Checks the Maildir byte for byte.

Deviation from the issue text: the catch-all alias is @example.net ->
alice@example.org (a second local domain), so that unknown users at
example.org can still be checked for 550 5.1.1.
"""

import os
import smtplib
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check, RawSMTP, crlf_to_lf, dot_stuff, split_delivered  # noqa: E402

MAX_SIZE = 64 * 1024
MAX_CLIENTS = 8
MAX_RCPT = 10
TIMEOUT = 3
SENDER = 'sender@remote.test'
ALICE = 'alice@example.org'
BOB = 'bob@example.org'
CAROL = 'carol@example.org'

env = ft.Env()
P1 = env.port()
P2 = env.port()
_seq = [0]


def mark(prefix):
    """A unique marker for one message."""
    _seq[0] += 1
    return f'{prefix}-{_seq[0]}-{os.getpid()}'


def message(subject, body=b'Hello.\r\n', extra=b''):
    """An RFC 5322 message in CRLF form, Message-ID and Subject = subject."""
    if isinstance(body, str):
        body = body.encode()
    return (b'From: Sender <' + SENDER.encode() + b'>\r\n'
            b'To: Alice <' + ALICE.encode() + b'>\r\n'
            b'Subject: ' + subject.encode() + b'\r\n'
            b'Message-ID: <' + subject.encode() + b'@remote.test>\r\n'
            + extra + b'\r\n' + body)


def send_raw(msg, rcpts=(ALICE,), sender=SENDER, port=None, tls=False,
             mail_params=''):
    """One session: EHLO, [STARTTLS, EHLO], MAIL, RCPT..., DATA with msg
    dot-stuffed; returns (final code, text, tls version or None)."""
    c = RawSMTP(port or P1)
    try:
        c.ehlo()
        version = None
        if tls:
            code, text = c.cmd('STARTTLS')
            if code != 220:
                raise ft.SMTPError(f'STARTTLS: {text}')
            version = c.starttls()
            c.ehlo()
        code, text = c.cmd(f'MAIL FROM:<{sender}>{mail_params}')
        if code != 250:
            return code, text, version
        for r in rcpts:
            code, text = c.cmd(f'RCPT TO:<{r}>')
            if code != 250:
                return code, text, version
        code, text = c.cmd('DATA')
        if code != 354:
            return code, text, version
        c.send(dot_stuff(msg) + b'.\r\n')
        code, text = c.reply()
        c.cmd('QUIT')
        return code, text, version
    finally:
        c.close()


def check_delivered(addr, subject, msg, sender=SENDER, rcpt=None,
                    tls_version=None, what=None):
    """Exactly one message with this Message-ID in addr's Maildir, with the
    trace fields, and the rest equal to msg with CRLF -> LF."""
    what = what or subject
    found = env.wait_message(addr, f'<{subject}@remote.test>')
    if not check(len(found) == 1, f'{what}: delivered once to {addr}',
                 f'{len(found)} copies'):
        return None
    data = found[0]
    check(data.startswith(b'Return-Path: <' + sender.encode() + b'>\n'),
          f'{what}: starts with Return-Path: <{sender}>', data[:200])
    trace, rest = split_delivered(data)
    want_rcpt = (rcpt or addr).encode()
    check(trace.get('Delivered-To', b'').lower() == want_rcpt.lower(),
          f'{what}: Delivered-To: {want_rcpt.decode()}', trace)
    check('Received' in trace, f'{what}: has a Received: header', data[:400])
    check(b'\r' not in data, f'{what}: stored with LF line ends', data[:400])
    check(rest == crlf_to_lf(msg), f'{what}: message byte for byte',
          f'got {rest[:300]!r}... want {crlf_to_lf(msg)[:300]!r}...')
    if tls_version:
        rcv = trace.get('Received', b'')
        check(b'ESMTPS' in rcv and tls_version.encode() in rcv,
              f'{what}: Received says ESMTPS and {tls_version}', rcv)
    return data


def not_delivered(marker, what, addrs=(ALICE, BOB), wait=1.0):
    time.sleep(wait)
    for a in addrs:
        found = env.find_messages(a, marker)
        check(not found, f'{what}: nothing delivered to {a}',
              found[0][:300] if found else '')


# -- setup -----------------------------------------------------------------

def setup():
    env.write_config(
        domains='example.org example.net',
        smtp={'listen': [f'127.0.0.1:{P1}', f'127.0.0.1:{P2}'],
              'max_size': '64K', 'max_rcpt': MAX_RCPT,
              'max_clients': MAX_CLIENTS, 'timeout': f'{TIMEOUT}s'})
    for u in (ALICE, BOB, CAROL):
        env.add_user(u, 'correct horse ' + u)
    env.add_alias('postmaster@example.org', ALICE)
    env.add_alias('@example.net', ALICE)
    env.start('authd')
    env.start('smtpd', ports=[P1, P2])


# -- ESMTP basics ------------------------------------------------------------

def test_banner_and_ehlo():
    c = RawSMTP(P1)
    check(c.banner[0] == 220 and 'localhost' in c.banner[1],
          'banner 220 names the hostname', c.banner)
    ext = [e.upper() for e in c.ehlo()]
    for e in ('PIPELINING', f'SIZE {MAX_SIZE}', '8BITMIME',
              'ENHANCEDSTATUSCODES', 'STARTTLS'):
        check(e in ext, f'EHLO advertises {e}', ext)
    check(not any(e.startswith('AUTH') for e in ext),
          'EHLO on port 25 before TLS offers no AUTH', ext)
    for cmd, want in (('NOOP', 250), ('RSET', 250), ('VRFY alice', 252),
                      ('HELP', 214)):
        code, text = c.cmd(cmd)
        check(code == want, f'{cmd} -> {want}', text)
    code, text = c.cmd('RCPT TO:<alice@example.org>')
    check(code == 503, 'RCPT before MAIL -> 503', text)
    code, text = c.cmd('MAIL FROM:<a@remote.test>')
    check(code == 250, 'MAIL -> 250', text)
    code, text = c.cmd('DATA')
    check(code in (503, 554), 'DATA without RCPT -> 503/554', text)
    code, text = c.cmd('FOO bar')
    check(500 <= code <= 502, 'unknown command -> 500/502', text)
    code, text = c.cmd('QUIT')
    check(code == 221, 'QUIT -> 221', text)
    check(c.closed_by_peer(), 'QUIT closes the connection')
    c.close()

    c = RawSMTP(P2)
    code, text = c.cmd('HELO client.example.com')
    check(code == 250, 'HELO -> 250 (second listen address)', text)
    c.close()


def test_rcpt_rules():
    c = RawSMTP(P1)
    c.ehlo()
    c.cmd(f'MAIL FROM:<{SENDER}>')
    cases = [
        (ALICE, 250, None, 'existing user'),
        ('alice@EXAMPLE.ORG', 250, None, 'domain in upper case'),
        ('postmaster@example.org', 250, None, 'alias'),
        ('alice+tag@example.org', 250, None, 'sub-address'),
        ('anybody@example.net', 250, None, 'catch-all'),
        ('nobody@example.org', 550, '5.1.1', 'unknown user'),
        ('someone@remote.test', 554, '5.7.1', 'relay (unauthenticated)'),
        ('alice@example.org@remote.test', None, None, 'two @'),
    ]
    for rcpt, code_want, esc, what in cases:
        code, text = c.cmd(f'RCPT TO:<{rcpt}>')
        if code_want is None:
            check(code >= 500, f'RCPT {what} <{rcpt}> -> 5xx', text)
        else:
            check(code == code_want and (esc is None or esc in text),
                  f'RCPT {what} <{rcpt}> -> {code_want} {esc or ""}', text)
    c.cmd('RSET')
    c.cmd(f'MAIL FROM:<{SENDER}>')
    codes = []
    for i in range(MAX_RCPT + 1):
        codes.append(c.cmd(f'RCPT TO:<alice+{i}@example.org>')[0])
    check(codes[:MAX_RCPT] == [250] * MAX_RCPT and codes[MAX_RCPT] != 250
          and codes[MAX_RCPT] >= 400,
          f'max_rcpt {MAX_RCPT}: the next RCPT is refused', codes)
    c.close()


def test_deliver_basic():
    s = mark('basic')
    msg = message(s, b'Hello Alice,\r\n\r\nthis is a test.\r\n-- \r\nSender\r\n')
    code, text, _ = send_raw(msg)
    check(code == 250, 'plain delivery: DATA -> 250', text)
    check_delivered(ALICE, s, msg, what='plain delivery')


def test_multiple_rcpts():
    s = mark('multi')
    msg = message(s)
    code, text, _ = send_raw(msg, rcpts=(ALICE, BOB))
    check(code == 250, 'two recipients: 250', text)
    check_delivered(ALICE, s, msg, what='two recipients (alice)')
    check_delivered(BOB, s, msg, what='two recipients (bob)')


def test_alias_subaddress_catchall():
    for rcpt, what in (('postmaster@example.org', 'alias'),
                       ('alice+folder@example.org', 'sub-address'),
                       ('whoever@example.net', 'catch-all')):
        s = mark(what)
        msg = message(s)
        code, text, _ = send_raw(msg, rcpts=(rcpt,))
        check(code == 250, f'{what}: 250', text)
        found = env.wait_message(ALICE, f'<{s}@remote.test>')
        check(len(found) == 1, f'{what} <{rcpt}>: delivered once to alice',
              f'{len(found)} copies')
        if found:
            trace, rest = split_delivered(found[0])
            check(rest == crlf_to_lf(msg), f'{what}: byte for byte',
                  rest[:300])


def test_dot_stuffing():
    s = mark('dots')
    body = (b'.leading dot\r\n..two dots\r\n.\r\n...\r\nmiddle . dot\r\n'
            b'. space\r\nend\r\n')
    msg = message(s, body)
    code, text, _ = send_raw(msg)
    check(code == 250, 'dot-stuffed message: 250', text)
    check_delivered(ALICE, s, msg, what='dot-unstuffing')


def test_8bit():
    s = mark('8bit')
    raw = bytes(b for b in range(0x80, 0x100))
    body = (('Grüße, façade, 日本語\r\n').encode('utf-8') + raw[:64] + b'\r\n'
            + raw[64:] + b'\r\n\x01\x02\x7f tab\there\r\n')
    msg = message(s, body, extra=b'Content-Type: text/plain; charset=utf-8\r\n'
                  b'Content-Transfer-Encoding: 8bit\r\n')
    code, text, _ = send_raw(msg, mail_params=' BODY=8BITMIME')
    check(code == 250, '8-bit body with BODY=8BITMIME: 250', text)
    check_delivered(ALICE, s, msg, what='8-bit body')


def test_size_limits():
    c = RawSMTP(P1)
    c.ehlo()
    code, text = c.cmd(f'MAIL FROM:<{SENDER}> SIZE={MAX_SIZE * 2}')
    check(code == 552 and '5.3.4' in text, 'MAIL SIZE= over max_size -> 552 5.3.4',
          text)
    code, text = c.cmd('RSET')
    check(code == 250, 'RSET after 552', text)

    s = mark('toobig')
    line = b'x' * 78 + b'\r\n'
    big = message(s, line * ((MAX_SIZE + 8192) // len(line)))
    code, text = c.cmd(f'MAIL FROM:<{SENDER}>')
    code, text = c.cmd(f'RCPT TO:<{ALICE}>')
    code, text = c.cmd('DATA')
    check(code == 354, 'DATA for an oversize message -> 354', text)
    c.send(big + b'.\r\n')
    code, text = c.reply(timeout=20)
    check(code == 552 and '5.3.4' in text,
          'message over max_size -> 552 5.3.4 after the final dot', text)
    code, text = c.cmd('NOOP')
    check(code == 250, 'session continues after the oversize message', text)

    # RFC 1870 counts octets as sent: empty lines are 2 each though the
    # Maildir stores 1 (issue 13: twice max_size got through)
    s3 = mark('emptylines')
    blank = message(s3, b'\r\n' * (MAX_SIZE // 2 + 1024))
    code, text = c.mail_transaction(SENDER, [ALICE], blank)
    check(code == 552 and '5.3.4' in text,
          f'{len(blank)} octets of mostly empty lines (max {MAX_SIZE}) -> 552',
          text)
    check(c.pending() == b'', 'no extra reply after the oversize message')

    # just under the limit: 2 KiB of room for the trace headers and slack
    s2 = mark('nearmax')
    head = message(s2, b'')
    n = (MAX_SIZE - 2048 - len(head)) // len(line)
    near = message(s2, line * n + b'last line without x\r\n')
    code, text = c.mail_transaction(SENDER, [ALICE], dot_stuff(near))
    check(code == 250, f'message of {len(near)} bytes (max {MAX_SIZE}) -> 250',
          text)
    c.cmd('QUIT')
    c.close()
    check_delivered(ALICE, s2, near, what='near-max-size message')
    not_delivered(f'<{s}@remote.test>', 'oversize message', wait=0.2)
    not_delivered(f'<{s3}@remote.test>', 'empty-line message', wait=0.1)


# -- bad input -----------------------------------------------------------------

def test_long_command_line():
    c = RawSMTP(P1)
    c.ehlo()
    code, text = c.cmd('NOOP ' + 'x' * 600)
    check(code == 500 and '5.5.2' in text, 'command line over 512 -> 500 5.5.2',
          text)
    code, text = c.cmd('NOOP')
    check(code == 250, 'next command after a long line works', text)
    code, text = c.cmd(b'MAIL FROM:<' + b'a' * 100000 + b'@remote.test>')
    check(code == 500 and '5.5.2' in text, '100 kB command line -> 500 5.5.2',
          text)
    code, text = c.cmd('NOOP')
    check(code == 250 and c.pending() == b'',
          'one reply for the 100 kB line, then NOOP works', text)
    c.close()


def test_long_data_line():
    s = mark('longline')
    c = RawSMTP(P1)
    c.ehlo()
    msg = message(s, b'short\r\n' + b'y' * 1500 + b'\r\nafter\r\n')
    try:
        code, text = c.mail_transaction(SENDER, [ALICE], msg)
    except ft.SMTPError as e:
        code, text = 0, str(e)
    check(code == 500 and '5.5.2' in text,
          'DATA line over 1000 bytes -> 500 5.5.2 after the final dot', text)
    code, text = c.cmd('NOOP')
    check(code == 250 and c.pending() == b'',
          'session continues after the long DATA line', text)
    s2 = mark('afterlong')
    m2 = message(s2)
    code, text = c.mail_transaction(SENDER, [ALICE], m2)
    check(code == 250, 'next transaction in the same session -> 250', text)
    c.close()
    not_delivered(f'<{s}@remote.test>', 'long DATA line')
    check_delivered(ALICE, s2, m2, what='message after the long line')


SMUGGLE_ENDS = [
    (b'body\n.\n', 'LF.LF'),
    (b'body\r\n.\r', 'CRLF.CR'),
    (b'body\r\n.\n', 'CRLF.LF'),
    (b'body\n.\r\n', 'LF.CRLF'),
    (b'body\r.\r\n', 'CR.CRLF'),
]


def test_smuggling():
    for i, (end, what) in enumerate(SMUGGLE_ENDS):
        s = mark('smuggle')
        evil = mark('smuggled')
        c = RawSMTP(P1)
        c.ehlo()
        c.cmd(f'MAIL FROM:<{SENDER}>')
        c.cmd(f'RCPT TO:<{ALICE}>')
        code, text = c.cmd('DATA')
        if not check(code == 354, f'smuggling {what}: DATA -> 354', text):
            c.close()
            continue
        payload = (b'Subject: ' + s.encode() + b'\r\n\r\n' + end +
                   b'MAIL FROM:<evil@remote.test>\r\n'
                   b'RCPT TO:<bob@example.org>\r\n'
                   b'DATA\r\n'
                   b'Subject: ' + evil.encode() + b'\r\n\r\n'
                   b'smuggled\r\n.\r\n')
        c.send(payload)
        code, text = c.reply()
        check(500 <= code <= 599,
              f'smuggling {what}: message with bare CR/LF refused (5xx)', text)
        code2, text2 = c.cmd('NOOP')
        extra = c.pending()
        check(code2 == 250 and extra == b'',
              f'smuggling {what}: exactly one reply, smuggled commands '
              'not executed', f'NOOP -> {text2!r}, then {extra!r}')
        c.close()
        not_delivered(evil, f'smuggling {what} (smuggled message)',
                      wait=0.3 if i else 1.0)
        not_delivered(s, f'smuggling {what} (carrier message)', wait=0)


def test_bare_cr_lf_in_message():
    for body, what in ((b'line one\nline two\r\n', 'bare LF'),
                       (b'line one\rline two\r\n', 'bare CR')):
        s = mark('bare')
        c = RawSMTP(P1)
        c.ehlo()
        try:
            code, text = c.mail_transaction(SENDER, [ALICE], message(s, body))
        except ft.SMTPError as e:
            code, text = 0, str(e)
        check(500 <= code <= 599, f'message with {what} -> 5xx after the dot',
              text)
        code, text = c.cmd('NOOP')
        check(code == 250, f'session continues after {what} in DATA', text)
        c.close()
        not_delivered(s, f'message with {what}', wait=0.3)


def test_bare_lf_command():
    c = RawSMTP(P1)
    c.ehlo()
    c.send(b'NOOP\n')
    try:
        code, text = c.reply(timeout=5)
    except (OSError, EOFError) as e:
        code, text = 0, repr(e)
    check(code == 500 and '5.5.2' in text, 'bare-LF command line -> 500 5.5.2',
          text)
    c.send(b'MAIL FROM:<a@remote.test>\n')
    try:
        code, text = c.reply(timeout=5)
    except (OSError, EOFError) as e:
        code, text = 0, repr(e)
    check(code == 500, 'bare-LF MAIL -> 500 (not executed)', text)
    code, text = c.cmd(f'RCPT TO:<{ALICE}>')
    check(code == 503, 'the bare-LF MAIL was not executed (RCPT -> 503)', text)
    code, text = c.cmd('NOOP')
    check(code == 250, 'CRLF command after bare-LF ones works', text)
    c.close()


def test_nul():
    c = RawSMTP(P1)
    c.ehlo()
    code, text = c.cmd(b'NOOP \x00 hidden')
    check(code == 500 and '5.5.2' in text, 'NUL in a command -> 500 5.5.2', text)
    code, text = c.cmd(b'MAIL FROM:<a@remote.test>\x00RCPT')
    check(code >= 500, 'NUL in MAIL -> 5xx', text)
    code, text = c.cmd('NOOP')
    check(code == 250, 'session continues after NUL in a command', text)
    s = mark('nul')
    try:
        code, text = c.mail_transaction(SENDER, [ALICE],
                                        message(s, b'a\x00b\r\n'))
    except ft.SMTPError as e:
        code, text = 0, str(e)
    check(500 <= code <= 599, 'NUL in DATA -> 5xx after the dot', text)
    code, text = c.cmd('NOOP')
    check(code == 250, 'session continues after NUL in DATA', text)
    c.close()
    not_delivered(s, 'message with NUL', wait=0.5)


def test_starttls_pipelining():
    c = RawSMTP(P1)
    c.ehlo()
    c.send(b'STARTTLS\r\nNOOP\r\n')
    code, text = c.reply()
    check(code == 220, 'STARTTLS -> 220', text)
    if code != 220:
        c.close()
        return
    leftover = c.pending(0.5)
    check(leftover == b'', 'no plaintext reply to the NOOP pipelined behind '
          'STARTTLS', leftover)
    c.buf = b''
    try:
        version = c.starttls()
    except (OSError, ssl.SSLError) as e:
        check(False, 'TLS handshake after STARTTLS', repr(e))
        c.close()
        return
    check(version in ('TLSv1.2', 'TLSv1.3'), 'TLS 1.2 or 1.3 negotiated',
          version)
    leftover = c.pending(0.7)
    check(leftover == b'', 'no reply to the discarded NOOP inside TLS',
          leftover)
    code, text = c.cmd('HELP')
    check(code == 214, 'first reply inside TLS answers our own HELP', text)
    ext = [e.upper() for e in c.ehlo()]
    check('STARTTLS' not in ext, 'EHLO inside TLS does not offer STARTTLS', ext)
    code, text = c.cmd('STARTTLS')
    check(code in (454, 503, 500, 502), 'STARTTLS inside TLS is refused', text)
    s = mark('tls')
    msg = message(s)
    code, text = c.mail_transaction(SENDER, [ALICE], msg)
    check(code == 250, 'delivery over STARTTLS -> 250', text)
    c.close()
    check_delivered(ALICE, s, msg, tls_version=version,
                    what='raw STARTTLS delivery')


def test_pipelining():
    s = mark('pipe')
    msg = message(s)
    c = RawSMTP(P1)
    c.ehlo()
    c.send(f'MAIL FROM:<{SENDER}>\r\nRCPT TO:<{ALICE}>\r\n'
           f'RCPT TO:<nobody@example.org>\r\nRCPT TO:<{BOB}>\r\nDATA\r\n')
    codes = [c.reply()[0] for _ in range(5)]
    check(codes == [250, 250, 550, 250, 354],
          'pipelined MAIL/RCPT/RCPT/RCPT/DATA replies in order', codes)
    if codes[-1] == 354:
        c.send(dot_stuff(msg) + b'.\r\nNOOP\r\nQUIT\r\n')
        codes = [c.reply()[0] for _ in range(3)]
        check(codes == [250, 250, 221], 'pipelined end of DATA, NOOP, QUIT',
              codes)
    c.close()
    check_delivered(ALICE, s, msg, what='pipelined (alice)')
    check_delivered(BOB, s, msg, what='pipelined (bob)')


def test_disconnect_mid_data():
    s = mark('middata')
    c = RawSMTP(P1)
    c.ehlo()
    c.cmd(f'MAIL FROM:<{SENDER}>')
    c.cmd(f'RCPT TO:<{ALICE}>')
    code, _ = c.cmd('DATA')
    c.send(message(s, b'partial line\r\n' * 200 + b'and no end'))
    time.sleep(0.2)
    c.close()
    not_delivered(s, 'client gone in the middle of DATA', wait=1.5)


def test_max_clients():
    check(ft.wait_server_idle(P1), 'the server has closed earlier sessions',
          ft.server_connections(P1))
    conns = []
    try:
        for i in range(MAX_CLIENTS):
            conns.append(RawSMTP(P1))
        ok = all(c.banner[0] == 220 for c in conns)
        check(ok, f'{MAX_CLIENTS} concurrent sessions get 220',
              [c.banner for c in conns])
        try:
            extra = RawSMTP(P1, timeout=5)
            code, text = extra.banner
            closed = extra.closed_by_peer(3)
            extra.close()
        except (OSError, EOFError) as e:
            code, text, closed = 0, repr(e), True
        check(code == 421, f'connection {MAX_CLIENTS + 1} gets 421', text)
        check(closed, f'connection {MAX_CLIENTS + 1} is closed')
        code, text = conns[0].cmd('NOOP')
        check(code == 250, 'existing sessions keep working at the limit',
              text)
    finally:
        for c in conns:
            c.close()
    ft.wait_server_idle(P1)     # until it has seen them go
    c = RawSMTP(P1)
    check(c.banner[0] == 220, 'a new session is accepted once below the limit',
          c.banner)
    c.close()


def test_idle_timeout():
    c = RawSMTP(P1, timeout=TIMEOUT + 8)
    c.ehlo()
    start = time.time()
    try:
        code, text = c.reply(timeout=TIMEOUT + 8)
    except (OSError, EOFError) as e:
        code, text = 0, repr(e)
    took = time.time() - start
    check(code == 421 and '4.4.2' in text,
          f'idle session gets 421 4.4.2 (timeout {TIMEOUT}s)', text)
    check(TIMEOUT - 0.5 <= took <= TIMEOUT + 5,
          f'idle timeout after ~{TIMEOUT}s', f'{took:.1f}s')
    check(c.closed_by_peer(3), 'idle session closed after 421')
    c.close()


# -- real clients ----------------------------------------------------------------

def write_msg_file(s):
    path = env.path(f'{s}.eml')
    msg = message(s, b'Sent by a real client.\r\n')
    with open(path, 'wb') as f:
        f.write(msg)
    return path, msg


def test_swaks():
    for tls in (False, True):
        s = mark('swaks-tls' if tls else 'swaks')
        path, msg = write_msg_file(s)
        cmd = ['swaks', '--server', '127.0.0.1', '--port', str(P1),
               '--from', SENDER, '--to', ALICE, '--helo', 'client.test',
               '--data', path, '--timeout', '20']
        if tls:
            cmd.append('--tls')
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        what = 'swaks --tls' if tls else 'swaks'
        check(r.returncode == 0, f'{what} exits 0', r.stdout[-1500:] + r.stderr)
        data = env.wait_message(ALICE, f'<{s}@remote.test>')
        check(len(data) == 1, f'{what}: delivered once', len(data))
        if data and tls:
            trace, _ = split_delivered(data[0])
            check(b'ESMTPS' in trace.get('Received', b''),
                  f'{what}: Received says ESMTPS', trace)


def test_curl():
    for tls in (False, True):
        s = mark('curl-tls' if tls else 'curl')
        path, msg = write_msg_file(s)
        cmd = ['curl', '-sS', '--max-time', '20', f'smtp://127.0.0.1:{P1}',
               '--mail-from', SENDER, '--mail-rcpt', ALICE,
               '--upload-file', path]
        if tls:
            cmd[1:1] = ['--ssl-reqd', '-k']
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        what = 'curl --ssl-reqd' if tls else 'curl'
        check(r.returncode == 0, f'{what} exits 0', r.stderr)
        check_delivered(ALICE, s, msg, what=what)


def test_smtplib():
    s = mark('smtplib')
    msg = message(s, b'via smtplib\r\n')
    try:
        with smtplib.SMTP('127.0.0.1', P1, timeout=20) as c:
            c.ehlo('smtplib.test')
            refused = c.sendmail(SENDER, [ALICE, BOB], msg)
            check(refused == {}, 'smtplib sendmail: nobody refused', refused)
    except (smtplib.SMTPException, OSError) as e:
        check(False, 'smtplib plain session', repr(e))
    check_delivered(ALICE, s, msg, what='smtplib')

    s = mark('smtplib-tls')
    msg = message(s, b'via smtplib over STARTTLS\r\n')
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    version = None
    try:
        with smtplib.SMTP('127.0.0.1', P1, timeout=20) as c:
            c.starttls(context=ctx)
            version = c.sock.version()
            c.ehlo('smtplib.test')
            c.sendmail(SENDER, [ALICE], msg)
    except (smtplib.SMTPException, OSError) as e:
        check(False, 'smtplib STARTTLS session', repr(e))
    check_delivered(ALICE, s, msg, tls_version=version,
                    what='smtplib STARTTLS')


# -- crash -------------------------------------------------------------------------

CRASH_N = 200


def test_crash_exactly_once():
    acked = []
    attempts = []
    stop = threading.Event()

    def sender():
        i = 0
        deadline = time.time() + 120
        while len(acked) < CRASH_N and time.time() < deadline and \
                not stop.is_set():
            s = f'crash-{i}-{os.getpid()}'
            i += 1
            attempts.append(s)
            try:
                c = RawSMTP(P1, timeout=10)
                try:
                    c.cmd('EHLO crash.test')
                    code, _ = c.mail_transaction(SENDER, [CAROL], message(s))
                    if code == 250:
                        acked.append(s)
                finally:
                    c.close()
            except (OSError, EOFError, ft.SMTPError):
                time.sleep(0.05)

    t = threading.Thread(target=sender)
    t.start()
    deadline = time.time() + 60
    while len(acked) < CRASH_N // 2 and time.time() < deadline and \
            t.is_alive():
        time.sleep(0.01)
    killed_at = len(acked)
    env.kill_group('smtpd')
    try:
        env.start('smtpd', ports=[P1, P2])
        restarted = True
    except RuntimeError as e:
        restarted = False
        check(False, 'smtpd restarts after SIGKILL', str(e))
        stop.set()
    t.join(180)
    check(restarted and len(acked) >= CRASH_N,
          f'{CRASH_N} messages acknowledged (killed after {killed_at})',
          f'{len(acked)} acked of {len(attempts)} attempts')

    # wait for every acknowledged message, then a little more for duplicates
    want = set(acked)
    deadline = time.time() + 30
    counts = {}
    while time.time() < deadline:
        counts = {}
        for m in env.messages(CAROL):
            i = m.find(b'Message-ID: <crash-')
            if i >= 0:
                mid = m[i + 13:m.find(b'@', i)].decode()
                counts[mid] = counts.get(mid, 0) + 1
        if want <= set(counts):
            break
        time.sleep(0.25)
    time.sleep(1.5)
    counts = {}
    for m in env.messages(CAROL):
        i = m.find(b'Message-ID: <crash-')
        if i >= 0:
            mid = m[i + 13:m.find(b'@', i)].decode()
            counts[mid] = counts.get(mid, 0) + 1
    lost = [s for s in acked if counts.get(s, 0) == 0]
    dup = {s: n for s, n in counts.items() if n > 1}
    check(not lost, 'crash: every acknowledged message delivered',
          f'{len(lost)} lost: {lost[:10]}')
    check(not dup, 'crash: no message delivered twice', dup)
    unacked = len([s for s in attempts if s not in want and counts.get(s)])
    print(f'# crash: {len(attempts)} attempts, {len(acked)} acked, '
          f'{sum(counts.values())} delivered, {unacked} unacked but '
          'delivered', flush=True)


def test_kill_right_after_250():
    """STYLE 12: kill -9 right after a 250, the message must survive."""
    s = mark('kill250')
    msg = message(s)
    c = RawSMTP(P1)
    c.ehlo()
    code, text = c.mail_transaction(SENDER, [BOB], dot_stuff(msg))
    env.kill_group('smtpd')
    c.close()
    check(code == 250, 'kill after 250: DATA -> 250', text)
    try:
        env.start('smtpd', ports=[P1, P2])
    except RuntimeError as e:
        check(False, 'smtpd restarts after SIGKILL', str(e))
        return
    check_delivered(BOB, s, msg, what='message acknowledged just before '
                    'SIGKILL')


def test_queue_empty():
    # a transaction the crash tests' SIGKILL cut in the middle of DATA is
    # set aside in queue/corrupt/ at the restart (never committed: no end
    # record, its client got no 250); nothing else may stay
    def left():
        return [f for f in env.queue_files()
                if os.path.basename(os.path.dirname(f)) != 'corrupt']
    deadline = time.time() + 15
    files = left()
    while files and time.time() < deadline:
        time.sleep(0.25)
        files = left()
    check(not files, 'queue holds no regular files after delivery', files[:10])
    log = env.daemons['smtpd'].log_text()
    aside = [f for f in env.queue_files() if f not in files]
    check(all(f'qid={os.path.basename(f)} does not parse (no end record)'
              in log for f in aside),
          'set aside: only transactions cut by a SIGKILL', aside)


def test_still_serving():
    d = env.daemons.get('smtpd')
    check(d is not None and d.alive(), 'smtpd still running at the end')
    s = mark('final')
    msg = message(s)
    try:
        code, text, _ = send_raw(msg)
    except (OSError, EOFError, ft.SMTPError) as e:
        code, text = 0, repr(e)
    check(code == 250, 'a last message is accepted', text)


def main():
    ft.main(env, setup, [
        test_banner_and_ehlo,
        test_rcpt_rules,
        test_deliver_basic,
        test_multiple_rcpts,
        test_alias_subaddress_catchall,
        test_dot_stuffing,
        test_8bit,
        test_size_limits,
        test_long_command_line,
        test_long_data_line,
        test_smuggling,
        test_bare_cr_lf_in_message,
        test_bare_lf_command,
        test_nul,
        test_starttls_pipelining,
        test_pipelining,
        test_disconnect_mid_data,
        test_max_clients,
        test_idle_timeout,
        test_swaks,
        test_curl,
        test_smtplib,
        test_crash_exactly_once,
        test_kill_right_after_250,
        test_queue_empty,
        test_still_serving,
    ])


if __name__ == '__main__':
    main()
