# SPDX-License-Identifier: ISC
"""test_submission - sending mail from a phone or laptop (issue 3).

Real facteur-authd and facteur-smtpd with the three kinds of [smtp]
listeners on loopback high ports: `listen` (port 25 role), `submission`
(587 role, STARTTLS) and `submissions` (465 role, implicit TLS).  Real
clients: swaks with --auth PLAIN/LOGIN and --tls/--tlsc, python3 smtplib
with starttls()+login() and SMTP_SSL+login(); a raw client (optionally
bound to 127.0.0.2 or 127.0.0.3, to be another IP address) for replies.

Checked: what EHLO offers before and after TLS, AUTH in clear (538 5.7.11),
MAIL without AUTH (530 5.7.0), wrong passwords (535 5.7.8), 20 quick wrong
passwords (delay, then 421 4.7.0 block) while a right login from another
address still works, no relay without AUTH on any port, sending as someone
else (553 5.7.1 at MAIL FROM and for the From header), own aliases and
user+tag, authd killed (454 4.7.0, then recovery), credentials authd
cannot take (must not reach authd), and authenticated mail to a remote
domain waiting in state_dir/queue (a dead smarthost keeps it there).
Prints `# measure:` lines: logins per second through smtpd and authd, and
the RSS of authd at idle.

Throttling is tuned with FACTEUR_AUTHD_THROTTLE (authd/README.md) to
"3,6,900,900": the default delay threshold (from the 4th failure: 1 s,
2 s, 4 s) and a block at the 6th failure instead of the 10th, so the
brute-force check takes seconds, not a minute.  Every test that fails
logins from 127.0.0.1 ends with a good login, which resets that count.
"""

import base64
import os
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check, RawSMTP, dot_stuff, split_delivered  # noqa: E402

ALICE = 'alice@example.org'
BOB = 'bob@example.org'
CAROL = 'carol@example.org'
PASS = {ALICE: 'alice: correct horse', BOB: 'bob battery staple',
        CAROL: 'carol-Tr0ub4dor&3'}
REMOTE = 'friend@remote.test'
THROTTLE = '3,6,900,900'     # delay_after, block_after, window_s, block_s
DELAY_AFTER, BLOCK_AFTER = 3, 6

env = ft.Env()
P25 = env.port()
P587 = env.port()
P465 = env.port()
DEAD = env.port()            # the smarthost: nothing listens there
PORT_NAME = {P25: 'listen', P587: 'submission', P465: 'submissions'}
_seq = [0]


def mark(prefix):
    _seq[0] += 1
    return f'{prefix}-{_seq[0]}-{os.getpid()}'


def tls_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def b64(b):
    return base64.b64encode(b if isinstance(b, bytes) else b.encode()).decode()


def plain(user, password, authzid=''):
    return b64(f'{authzid}\0{user}\0{password}'.encode())


class Client(RawSMTP):
    """RawSMTP with implicit TLS and a chosen source address."""

    # pylint: disable=super-init-not-called
    def __init__(self, port, source=None, timeout=20.0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        if source:
            sock.bind((source, 0))
        sock.connect(('127.0.0.1', port))
        self.tls = port == P465
        if self.tls:
            sock = tls_ctx().wrap_socket(sock, server_hostname='localhost')
        self.sock = sock
        self.timeout = timeout
        self.buf = b''
        self.banner = self.reply()


def session(port, source=None, tls=True):
    """Connected, EHLO said; on the submission port STARTTLS first unless
    tls is False.  Returns (client, extensions after the last EHLO)."""
    c = Client(port, source)
    ext = c.ehlo()
    if tls and port != P465 and not c.tls:
        code, text = c.cmd('STARTTLS')
        if code != 220:
            raise ft.SMTPError(f'STARTTLS: {text}')
        c.starttls()
        ext = c.ehlo()
    return c, ext


def auth_plain(c, user, password, authzid=''):
    return c.cmd(f'AUTH PLAIN {plain(user, password, authzid)}')


def auth_login(c, user, password):
    code, text = c.cmd('AUTH LOGIN')
    if code != 334:
        return code, text
    code, text = c.cmd(b64(user))
    if code != 334:
        return code, text
    return c.cmd(b64(password))


def login(user=ALICE, port=P465, source=None):
    """A session authenticated as user; raises if AUTH is not 235."""
    c, _ = session(port, source)
    code, text = auth_plain(c, user, PASS[user])
    if code != 235:
        c.close()
        raise ft.SMTPError(f'AUTH as {user} from {source or "127.0.0.1"}: '
                           f'{text}')
    return c


def reset_throttle():
    """A good login from 127.0.0.1 resets that address's failure count."""
    login().close()


def message(subject, sender=ALICE, to=BOB, extra=b'', from_line=None):
    """A message whose From is <sender>, or the whole from_line."""
    if from_line is None:
        from_line = f'From: Sender <{sender}>'
    return (from_line.encode() + b'\r\n'
            b'To: <' + to.encode() + b'>\r\n'
            b'Subject: ' + subject.encode() + b'\r\n'
            b'Message-ID: <' + subject.encode() + b'@example.org>\r\n'
            # with a Date, so smtpd adds nothing in front of the trace
            # fields that check_delivered() reads (test_dkim_e2e checks the
            # Date and Message-ID added when missing)
            b'Date: Sun, 06 Dec 2026 12:00:00 +0000\r\n'
            + extra + b'\r\nHello from ' + subject.encode() + b'.\r\n')


def transaction(c, env_from, rcpts, msg):
    """MAIL, RCPT..., DATA; returns (stage, code, text) of the first reply
    that is not a success, or ('DATA', 250, text)."""
    code, text = c.cmd(f'MAIL FROM:<{env_from}>')
    if code != 250:
        return 'MAIL', code, text
    for r in rcpts:
        code, text = c.cmd(f'RCPT TO:<{r}>')
        if code != 250:
            return 'RCPT', code, text
    code, text = c.cmd('DATA')
    if code != 354:
        return 'DATA', code, text
    c.send(dot_stuff(msg) + b'.\r\n')
    code, text = c.reply()
    return 'DATA', code, text


def send(user, env_from, msg, rcpts=(BOB,), port=P465, source=None):
    """Log in as user and send msg; (stage, code, text) as transaction()
    returns it, ('AUTH', 0, error) if the login or connection failed."""
    try:
        c = login(user, port, source)
        try:
            return transaction(c, env_from, rcpts, msg)
        finally:
            c.close()
    except (ft.SMTPError, OSError, EOFError) as e:
        return 'AUTH', 0, repr(e)


def check_delivered(addr, subject, what, esmtpsa=True):
    found = env.wait_message(addr, f'<{subject}@example.org>')
    if not check(len(found) == 1, f'{what}: delivered once to {addr}',
                 f'{len(found)} copies'):
        return None
    trace, _ = split_delivered(found[0])
    rcv = trace.get('Received', b'')
    if esmtpsa:
        check(re.search(rb'\bwith ESMTPSA\b', rcv) is not None,
              f'{what}: Received says ESMTPSA', rcv)
    return found[0]


def not_delivered(subject, what, addrs=(ALICE, BOB, CAROL), wait=1.0):
    time.sleep(wait)
    for a in addrs:
        found = env.find_messages(a, f'<{subject}@example.org>')
        check(not found, f'{what}: nothing delivered to {a}',
              found[0][:300] if found else '')


def queue_has(marker):
    out = []
    for p in env.queue_files():
        try:
            with open(p, 'rb') as f:
                if marker.encode() in f.read():
                    out.append(p)
        except OSError:
            pass
    return out


def authd_log():
    return env.daemons['authd'].log_text()


def rss_kib(pid):
    r = subprocess.run(['ps', '-o', 'rss=', '-p', str(pid)],
                       capture_output=True, text=True, check=False)
    try:
        return int(r.stdout.strip())
    except ValueError:
        return -1


# -- setup ---------------------------------------------------------------------

def setup():
    env.write_config(
        domains='example.org example.net',
        smtp={'listen': f'127.0.0.1:{P25}',
              'submission': f'127.0.0.1:{P587}',
              'submissions': f'127.0.0.1:{P465}'},
        relay={'host': '127.0.0.1', 'port': DEAD, 'tls': 'none'})
    for u in (ALICE, BOB, CAROL):
        env.add_user(u, PASS[u])
    env.add_alias('info@example.org', ALICE)
    env.add_alias('team@example.org', ALICE, BOB)
    env.add_alias('@example.net', ALICE)
    os.environ['FACTEUR_AUTHD_THROTTLE'] = THROTTLE
    env.start('authd')
    env.start('smtpd', ports=[P25, P587, P465])


# -- what is offered -------------------------------------------------------------

def test_ehlo_offers():
    c = Client(P587)
    ext = [e.upper() for e in c.ehlo()]
    check('STARTTLS' in ext, 'submission: EHLO before TLS offers STARTTLS', ext)
    check(not any(e.startswith('AUTH') for e in ext),
          'submission: EHLO before TLS offers no AUTH', ext)
    c.cmd('STARTTLS')
    version = c.starttls()
    ext = [e.upper() for e in c.ehlo()]
    check('AUTH PLAIN LOGIN' in ext,
          f'submission: EHLO after STARTTLS ({version}) offers AUTH PLAIN LOGIN',
          ext)
    check('STARTTLS' not in ext, 'submission: no STARTTLS offered inside TLS',
          ext)
    c.close()

    c = Client(P465)
    ext = [e.upper() for e in c.ehlo()]
    check(c.banner[0] == 220, 'submissions: 220 banner inside TLS', c.banner)
    check('AUTH PLAIN LOGIN' in ext, 'submissions: EHLO offers AUTH PLAIN LOGIN',
          ext)
    check('STARTTLS' not in ext, 'submissions: no STARTTLS offered', ext)
    c.close()

    c, ext = session(P25)
    check(not any(e.upper().startswith('AUTH') for e in ext),
          'port 25: no AUTH offered, even after STARTTLS', ext)
    code, text = auth_plain(c, ALICE, PASS[ALICE])
    check(code == 503, 'port 25: AUTH after STARTTLS -> 503', text)
    c.close()

    # a client that must not talk TLS to the submission port: plain TCP
    # to the implicit-TLS port gets no SMTP banner
    s = socket.create_connection(('127.0.0.1', P465), timeout=3)
    s.settimeout(1.5)
    try:
        data = s.recv(100)
    except socket.timeout:
        data = b''
    check(not data.startswith(b'220'),
          'submissions: no plaintext banner (implicit TLS)', data)
    s.close()


def test_auth_in_clear():
    before = authd_log().count(' auth ')
    c = Client(P587)
    c.ehlo()
    code, text = auth_plain(c, ALICE, PASS[ALICE])
    check(code == 538 and '5.7.11' in text,
          'AUTH PLAIN in clear -> 538 5.7.11', text)
    code, text = c.cmd('AUTH LOGIN')
    check(code == 538 and '5.7.11' in text,
          'AUTH LOGIN in clear -> 538 5.7.11', text)
    code, text = c.cmd('AUTH PLAIN')
    check(code == 538, 'AUTH PLAIN without initial response in clear -> 538',
          text)
    code, text = c.cmd(f'MAIL FROM:<{ALICE}>')
    check(code == 530 and '5.7.0' in text,
          'submission before TLS: MAIL -> 530 5.7.0', text)
    c.close()
    time.sleep(0.3)
    check(authd_log().count(' auth ') == before,
          'a password sent in clear never reaches authd',
          authd_log()[-600:])

    # swaks configured without TLS: AUTH is not offered, swaks gives up
    s = mark('swaks-clear')
    r = subprocess.run(
        ['swaks', '--server', '127.0.0.1', '--port', str(P587),
         '--auth', 'PLAIN', '--auth-user', ALICE, '--auth-password',
         PASS[ALICE], '--from', ALICE, '--to', BOB, '--helo', 'laptop.test',
         '--header', f'Message-ID: <{s}@example.org>', '--timeout', '20'],
        capture_output=True, text=True, timeout=60, check=False)
    check(r.returncode != 0, 'swaks --auth without --tls on submission fails',
          r.stdout[-800:])
    not_delivered(s, 'swaks without TLS', wait=0.5)


def test_mail_without_auth():
    for port in (P587, P465):
        c, _ = session(port)
        code, text = c.cmd(f'MAIL FROM:<{ALICE}>')
        check(code == 530 and '5.7.0' in text,
              f'{PORT_NAME[port]}: MAIL without AUTH -> 530 5.7.0', text)
        code, text = c.cmd(f'RCPT TO:<{BOB}>')
        check(code >= 500, f'{PORT_NAME[port]}: RCPT without AUTH refused',
              text)
        code, text = c.cmd('DATA')
        check(code >= 500, f'{PORT_NAME[port]}: DATA without AUTH refused',
              text)
        c.close()


def test_wrong_password():
    c, _ = session(P465)
    code, text = auth_plain(c, ALICE, 'not the password')
    check(code == 535 and '5.7.8' in text,
          'AUTH PLAIN, wrong password -> 535 5.7.8', text)
    code, text = c.cmd(f'MAIL FROM:<{ALICE}>')
    check(code == 530, 'after a 535 the session is not authenticated', text)
    code, text = auth_login(c, ALICE, 'still not it')
    check(code == 535 and '5.7.8' in text,
          'AUTH LOGIN, wrong password -> 535 5.7.8', text)
    code, text = auth_plain(c, 'nobody@example.org', 'whatever')
    check(code == 535 and '5.7.8' in text, 'unknown user -> 535 5.7.8', text)
    # right password after three failures on the same connection
    code, text = auth_plain(c, ALICE, PASS[ALICE])
    check(code == 235 and '2.7.0' in text,
          'right password after failures -> 235 2.7.0', text)
    code, text = auth_plain(c, ALICE, PASS[ALICE])
    check(code == 503, 'AUTH twice -> 503', text)
    c.close()
    log = authd_log()
    check(re.search(r'auth failed service=smtp user=alice@example\.org '
                    r'addr=127\.0\.0\.1 failures=\d+', log) is not None,
          'authd logs the failure with user and address', log[-800:])
    check('not the password' not in log and 'still not it' not in log,
          'authd never logs a password')


def test_protocol_edges():
    c, _ = session(P587)
    code, text = c.cmd('AUTH PLAIN')
    check(code == 334, 'AUTH PLAIN without initial response -> 334', text)
    code, text = c.cmd(plain(ALICE, PASS[ALICE], authzid=BOB))
    check(code == 535, 'PLAIN with authzid of another user -> 535', text)
    code, text = c.cmd('AUTH PLAIN !!!!')
    check(code == 501, 'PLAIN with bad base64 -> 501', text)
    code, text = c.cmd('AUTH LOGIN')
    code, text = c.cmd('*')
    check(code == 501, 'AUTH LOGIN cancelled with * -> 501', text)
    code, text = c.cmd('AUTH CRAM-MD5')
    check(code == 504, 'unknown mechanism -> 504', text)
    code, text = c.cmd('NOOP')
    check(code == 250, 'session still usable after the refusals', text)
    # LOGIN with the user as initial response (what smtplib sends)
    code, text = c.cmd(f'AUTH LOGIN {b64(ALICE)}')
    check(code == 334 and 'UGFzc3dvcmQ6' in text,
          'AUTH LOGIN with initial response asks for the password', text)
    code, text = c.cmd(b64(PASS[ALICE]))
    check(code == 235, 'AUTH LOGIN with initial response -> 235', text)
    c.close()


def test_bad_credentials_stay_out_of_authd():
    """Credentials authd cannot take (authd/README "Field limits": user 1-254
    printable bytes, password at most 1024 bytes, no CR or LF) must be
    refused by smtpd itself (STYLE 9).  Passed on, authd would treat the
    frame as malformed and close smtpd's connection: this client would get
    454 instead of 535, and every other session waiting on authd at that
    moment would fail too - checked with a throttled login held by authd.
    (Found by this test; fixed in a927670.)"""
    cases = [
        ('PLAIN, CR LF in the password', 'plain', ALICE, 'x\r\nRSET'),
        ('PLAIN, user with a space', 'plain', 'alice @example.org', 'x'),
        ('PLAIN, 300-byte user', 'plain', 'a' * 290 + '@example.org', 'x'),
        ('PLAIN, 1030-byte password', 'plain', ALICE, 'p' * 1030),
        ('LOGIN, LF in the password', 'login', ALICE, 'x\ny'),
        ('LOGIN, user with a control byte', 'login', 'alice\x01@example.org',
         'x'),
    ]
    for what, mech, user, pw in cases:
        before = authd_log().count(', closing')
        c, _ = session(P465)
        if mech == 'plain':
            code, text = auth_plain(c, user, pw)
        else:
            code, text = auth_login(c, user, pw)
        c.close()
        check(code in (501, 535),
              f'{what} -> 501 or 535, not a temporary failure', text)
        time.sleep(0.2)
        log = authd_log()
        check(log.count(', closing') == before,
              f'{what}: authd does not have to drop smtpd as a malformed '
              'peer', log[-400:])

    # the collateral damage: a login authd holds back (throttle delay) is
    # lost when another client's bad credentials make authd drop smtpd
    victim_ip = '127.0.0.4'
    v, _ = session(P465, source=victim_ip)
    for _ in range(DELAY_AFTER):
        auth_plain(v, BOB, 'wrong')
    v.send(f'AUTH PLAIN {plain(BOB, "wrong")}\r\n')   # held back 1 s
    time.sleep(0.3)
    c, _ = session(P465)
    auth_plain(c, ALICE, 'x\r\ny')
    c.close()
    code, text = v.reply(timeout=10)
    check(code == 535,
          'another client\'s bad credentials do not turn a pending 535 '
          'into 454', text)
    code, text = auth_plain(v, BOB, PASS[BOB])
    check(code == 235, 'the held-back client can still log in', text)
    v.close()
    reset_throttle()


# -- real clients ------------------------------------------------------------------

def test_swaks():
    for mech in ('PLAIN', 'LOGIN'):
        for tls_opt, port in (('--tls', P587), ('--tlsc', P465)):
            s = mark(f'swaks-{mech}{tls_opt}')
            what = f'swaks --auth {mech} {tls_opt}'
            path = env.path(f'{s}.eml')
            with open(path, 'wb') as f:
                f.write(message(s, ALICE, BOB))
            r = subprocess.run(
                ['swaks', '--server', '127.0.0.1', '--port', str(port),
                 tls_opt, '--auth', mech, '--auth-user', ALICE,
                 '--auth-password', PASS[ALICE], '--auth-hide-password',
                 '--from', ALICE, '--to', BOB, '--helo', 'laptop.test',
                 '--data', path, '--timeout', '20'],
                capture_output=True, text=True, timeout=60, check=False)
            check(r.returncode == 0, f'{what} exits 0',
                  r.stdout[-1500:] + r.stderr)
            check(re.search(rf'~> AUTH {mech}', r.stdout) and
                  '<~  235' in r.stdout,
                  f'{what}: AUTH {mech} inside TLS, 235', r.stdout[-1500:])
            check_delivered(BOB, s, what)


def test_smtplib():
    s = mark('smtplib-starttls')
    try:
        with smtplib.SMTP('127.0.0.1', P587, timeout=20) as c:
            c.ehlo('laptop.test')
            check(not c.has_extn('auth'),
                  'smtplib: no AUTH before starttls()', c.esmtp_features)
            c.starttls(context=tls_ctx())
            c.ehlo('laptop.test')
            check(c.has_extn('auth'), 'smtplib: AUTH after starttls()',
                  c.esmtp_features)
            code, _ = c.login(ALICE, PASS[ALICE])
            check(code == 235, 'smtplib starttls()+login() -> 235', code)
            refused = c.sendmail(ALICE, [BOB], message(s, ALICE, BOB))
            check(refused == {}, 'smtplib STARTTLS: nobody refused', refused)
    except (smtplib.SMTPException, OSError) as e:
        check(False, 'smtplib starttls()+login() session', repr(e))
    check_delivered(BOB, s, 'smtplib starttls()+login()')

    s = mark('smtplib-ssl')
    try:
        with smtplib.SMTP_SSL('127.0.0.1', P465, timeout=20,
                              context=tls_ctx()) as c:
            c.ehlo('laptop.test')
            # what login() does, but LOGIN without an initial response
            c.user, c.password = ALICE, PASS[ALICE]
            code, _ = c.auth('LOGIN', c.auth_login, initial_response_ok=False)
            check(code == 235, 'smtplib SMTP_SSL + AUTH LOGIN -> 235', code)
            refused = c.sendmail(ALICE, [BOB, CAROL], message(s, ALICE, BOB))
            check(refused == {}, 'smtplib SMTP_SSL: nobody refused', refused)
    except (smtplib.SMTPException, OSError) as e:
        check(False, 'smtplib SMTP_SSL + LOGIN session', repr(e))
    check_delivered(BOB, s, 'smtplib SMTP_SSL (bob)')
    check_delivered(CAROL, s, 'smtplib SMTP_SSL (carol)')

    try:
        with smtplib.SMTP_SSL('127.0.0.1', P465, timeout=20,
                              context=tls_ctx()) as c:
            c.login(ALICE, 'wrong password')
        check(False, 'smtplib login with a wrong password raises')
    except smtplib.SMTPAuthenticationError as e:
        check(e.smtp_code == 535, 'smtplib wrong password: 535', repr(e))
    except (smtplib.SMTPException, OSError) as e:
        check(False, 'smtplib wrong password session', repr(e))
    reset_throttle()


# -- relaying ------------------------------------------------------------------------

def test_no_relay_without_auth():
    for port in (P25, P587, P465):
        for tls in (False, True):
            if port == P465 and not tls:
                continue
            name = f'{PORT_NAME[port]}{" (TLS)" if tls else ""}'
            c, _ = session(port, tls=tls)
            code, text = c.cmd(f'MAIL FROM:<{ALICE}>')
            if port == P25:
                check(code == 250, f'{name}: MAIL from a local address -> 250',
                      text)
                code, text = c.cmd(f'RCPT TO:<{REMOTE}>')
                check(code == 554 and '5.7.1' in text,
                      f'{name}: RCPT to a remote domain -> 554 5.7.1', text)
                code, text = c.cmd('RCPT TO:<bob@example.org@remote.test>')
                check(code >= 500, f'{name}: RCPT with two @ refused', text)
                code, text = c.cmd('RCPT TO:<@example.org:friend@remote.test>')
                check(code >= 500,
                      f'{name}: source route to a remote domain refused',
                      text)
            else:
                check(code == 530 and '5.7.0' in text,
                      f'{name}: MAIL without AUTH -> 530 5.7.0', text)
                code, text = c.cmd(f'RCPT TO:<{REMOTE}>')
                check(code >= 500, f'{name}: RCPT to a remote domain refused',
                      text)
            c.close()
    time.sleep(0.5)
    check(not queue_has(REMOTE), 'nothing for the remote domain was queued',
          env.queue_files())


def test_send_as():
    c = login(ALICE)
    cases = [
        (BOB, 'another user'),
        ('team@remote.test', 'a remote address'),
        ('postmaster@example.org', 'an address that is not hers'),
        ('bob+alice@example.org', "another user's sub-address"),
        ('alice@example.org.remote.test', 'her address as a prefix'),
        ('anyone@example.com', 'an unrelated domain'),
    ]
    for addr, what in cases:
        code, text = c.cmd(f'MAIL FROM:<{addr}>')
        check(code == 553 and '5.7.1' in text,
              f'MAIL FROM:<{addr}> ({what}) -> 553 5.7.1', text)
        c.cmd('RSET')
    c.close()

    # the From header of someone else: refused after the final dot
    for hdr, what in (
            (f'From: <{BOB}>', 'another user'),
            (f'From: "{ALICE}" <{BOB}>', 'her address as display name'),
            (f'From: Bob <{BOB}>', 'display name and another user'),
            ('From: someone@remote.test', 'a remote address')):
        s = mark('from-other')
        c = login(ALICE)
        stage, code, text = transaction(c, ALICE, [BOB],
                                        message(s, from_line=hdr))
        check(stage == 'DATA' and code == 553 and '5.7.1' in text,
              f'{hdr} ({what}) -> 553 5.7.1 after DATA', (stage, code, text))
        code, text = c.cmd('NOOP')
        check(code == 250, f'{what}: session continues after the 553', text)
        c.close()
        not_delivered(s, f'From: {what}', wait=0.3)
    time.sleep(0.5)
    leftover = queue_has('from-other')
    check(not leftover, 'refused messages leave nothing in the queue', leftover)

    # allowed: own address, aliases, sub-address, catch-all domain
    for env_from, hdr_from, what in (
            (ALICE, ALICE, 'own address'),
            ('Alice@Example.ORG', ALICE, 'own address, other case'),
            ('info@example.org', 'info@example.org', 'own alias'),
            ('team@example.org', 'team@example.org', 'shared alias'),
            ('alice+lists@example.org', 'alice+lists@example.org',
             'user+tag'),
            ('info+x@example.org', 'info+x@example.org', 'alias+tag'),
            ('shop@example.net', 'shop@example.net', 'catch-all domain'),
            ('', ALICE, 'null sender, own From')):
        s = mark('sendas')
        stage, code, text = send(ALICE, env_from, message(s, hdr_from, BOB))
        check(stage == 'DATA' and code == 250,
              f'alice sends as <{env_from}> / From {hdr_from} ({what}) -> 250',
              (stage, code, text))
        check_delivered(BOB, s, f'send as {what}')

    # bob may use the shared alias but not alice's
    c = login(BOB)
    code, text = c.cmd('MAIL FROM:<team@example.org>')
    check(code == 250, 'bob may send as the shared alias', text)
    c.cmd('RSET')
    for addr in ('info@example.org', 'shop@example.net'):
        code, text = c.cmd(f'MAIL FROM:<{addr}>')
        check(code == 553, f"bob may not send as alice's <{addr}>", text)
        c.cmd('RSET')
    c.close()


def test_from_header_tricks():
    """Ways to show a recipient someone else's address while the From check
    reads an own one.  Each must be refused (550 or 553).  KNOWN BUG: at
    a927670 lib/dkim.c from_at() reads the first '@' of the first From
    field only, so all four pass; the fix is in the issue 3 note."""
    cases = [
        (f'From: <{ALICE}>\r\nFrom: <{BOB}>', 'KNOWN BUG: two From fields '
         '(RFC 5322 3.6 allows one; MUAs may show the second)'),
        (f'From: {ALICE} <{BOB}>', 'KNOWN BUG: her address as an unquoted '
         'display name before <bob>'),
        (f'From: {ALICE}, {BOB}', 'KNOWN BUG: two mailboxes, the second not '
         'hers'),
        (f'From: Alice <{ALICE}>, Bob <{BOB}>', 'KNOWN BUG: two angle '
         'addresses, the second not hers'),
    ]
    for hdr, what in cases:
        s = mark('from-trick')
        stage, code, text = send(ALICE, ALICE, message(s, from_line=hdr))
        check(stage == 'DATA' and code in (550, 553, 554),
              f'{what}: refused after DATA', (stage, code, text))
    for hdr, what in (
            (f'From: (comment {ALICE}) {BOB}', 'her address in a comment'),
            (f'From: Alice <{ALICE}>', 'display name and own address'),
            (f'From: {ALICE} <{ALICE}>',
             'own address as unquoted display name and own address'),
            (f'From: Example, Alice <{ALICE}>',
             'unquoted comma in the display name and own address')):
        s = mark('from-ok')
        stage, code, text = send(ALICE, ALICE, message(s, from_line=hdr))
        want = 250 if 'own address' in what else 553
        check(stage == 'DATA' and code == want,
              f'From with {what} -> {want}', (stage, code, text))


def test_remote_queued():
    s = mark('remote')
    msg = message(s, ALICE, REMOTE)
    stage, code, text = send(ALICE, ALICE, msg, rcpts=(REMOTE, BOB), port=P587)
    check(stage == 'DATA' and code == 250,
          'authenticated mail to a remote domain (and bob) -> 250',
          (stage, code, text))
    check_delivered(BOB, s, 'the local copy of a mixed message')
    time.sleep(2.0)   # the relay role tries the dead smarthost meanwhile
    files = queue_has(f'<{s}@example.org>')
    if check(len(files) == 1,
             'the remote copy waits in state_dir/queue (dead smarthost)',
             env.queue_files()):
        with open(files[0], 'rb') as f:
            data = f.read()
        check(b'Hello from ' + s.encode() in data and
              REMOTE.encode() in data,
              'the queue file holds the message and the remote recipient',
              data[:600])
        check(b'Subject: ' + s.encode() + b'\n' in data,
              'the queue file holds the message in LF form', data[:400])


# -- guessing passwords ----------------------------------------------------------------

def test_brute_force():
    """20 quick wrong passwords for carol from 127.0.0.3: the first three
    answered at once, then held back 1 s, 2 s, 4 s, the 6th blocks the
    address: 421 4.7.0 and the connection closed, also with the right
    password; carol from 127.0.0.2 logs in at once, even while an attack
    answer is held back."""
    attacker, other = '127.0.0.3', '127.0.0.2'
    results = []        # (attempt, code, seconds)
    c = None
    timing = None
    for i in range(1, 21):
        if c is None:
            c, _ = session(P465, source=attacker)
        start = time.time()
        try:
            if i == BLOCK_AFTER:
                # while authd holds this answer back (4 s), the right
                # password from another address is not slowed
                c.send(f'AUTH PLAIN {plain(CAROL, f"guess{i}")}\r\n')
                time.sleep(0.2)
                t0 = time.time()
                o = login(CAROL, source=other)
                timing = time.time() - t0
                o.close()
                code, text = c.reply(timeout=30)
            else:
                code, text = auth_plain(c, CAROL, f'guess{i}')
        except (EOFError, OSError) as e:
            code, text = 0, repr(e)
        took = time.time() - start
        results.append((i, code, round(took, 2)))
        if code != 535:
            c.close()
            c = None
    if c:
        c.close()
    print(f'# brute force: {results}', flush=True)
    codes = [r[1] for r in results]
    times = [r[2] for r in results]
    check(codes[:BLOCK_AFTER] == [535] * BLOCK_AFTER,
          f'the first {BLOCK_AFTER} wrong passwords get 535', results)
    # not delayed: authd says so, and each came before the first delayed
    # one (which costs the same check and 1 s more); a fixed bound failed
    # when a loaded machine made one check take 0.96 s
    log = authd_log()
    check(all(re.search(rf'auth failed service=smtp user={CAROL} '
                        rf'addr={attacker} failures={n} action=none', log)
              for n in range(1, DELAY_AFTER + 1)) and
          all(t < times[DELAY_AFTER] for t in times[:DELAY_AFTER]),
          f'the first {DELAY_AFTER} answers are not delayed', results)
    for n, want in zip(range(DELAY_AFTER, BLOCK_AFTER), (1.0, 2.0, 4.0)):
        check(want - 0.05 <= times[n] < want + 1.5,
              f'failure {n + 1} is answered after ~{want:.0f} s', results)
    check(all(code == 421 for code in codes[BLOCK_AFTER:]),
          'after the block every attempt gets 421', results)
    check(all(t < 1.0 for t in times[BLOCK_AFTER:]),
          'blocked attempts are answered at once', results)
    check(timing is not None and timing < 2.0,
          'a right login from another address is not slowed by the attack',
          timing)

    c, _ = session(P465, source=attacker)
    code, text = auth_plain(c, CAROL, PASS[CAROL])
    check(code == 421 and '4.7.0' in text,
          'blocked address: 421 4.7.0 even with the right password', text)
    check(c.closed_by_peer(), 'the 421 closes the connection')
    c.close()

    s = mark('after-attack')
    stage, code, text = send(CAROL, CAROL, message(s, CAROL, BOB), port=P587,
                             source=other)
    if check(code == 250, 'carol logs in and sends from 127.0.0.2 during '
             'the block', (stage, code, text)):
        check_delivered(BOB, s, 'mail of the attacked user')
    try:
        login(CAROL).close()
        ok127 = ''
    except ft.SMTPError as e:
        ok127 = repr(e)
    check(ok127 == '', 'carol logs in from 127.0.0.1 during the block', ok127)

    log = authd_log()
    for pat, what in (
            (rf'auth failed service=smtp user={CAROL} addr={attacker} '
             rf'failures={DELAY_AFTER + 1} action=delay', 'the first delay'),
            (rf'auth failed service=smtp user={CAROL} addr={attacker} '
             rf'failures={BLOCK_AFTER} action=block', 'the block'),
            (rf'auth throttled service=smtp user={CAROL} addr={attacker} '
             r'retry_after=\d+', 'throttled attempts')):
        check(re.search(pat, log) is not None, f'authd logs {what}',
              log[-1200:])
    # the fail2ban filter of authd/README.md finds the attacker
    hosts = set(re.findall(r'auth failed .* addr=(\S+)', log))
    check(attacker in hosts and other not in hosts,
          'fail2ban regex "auth failed .* addr=<HOST>" finds the attacker only',
          hosts)


# -- authd down ---------------------------------------------------------------------

def test_authd_down():
    c_old = login(ALICE)       # authenticated before the crash
    env.kill_group('authd')
    time.sleep(0.3)
    c, _ = session(P465)
    code, text = auth_plain(c, ALICE, PASS[ALICE])
    check(code == 454 and '4.7.0' in text,
          'authd killed: AUTH PLAIN -> 454 4.7.0', text)
    code, text = auth_login(c, ALICE, PASS[ALICE])
    check(code == 454 and '4.7.0' in text,
          'authd killed: AUTH LOGIN -> 454 4.7.0', text)
    c.close()
    p = Client(P25)
    p.ehlo()
    p.cmd('MAIL FROM:<someone@remote.test>')
    code, text = p.cmd(f'RCPT TO:<{BOB}>')
    check(400 <= code < 500, 'authd killed: RCPT on port 25 -> 4xx', text)
    p.close()
    # a session that logged in before keeps its rights
    s = mark('during-outage')
    stage, code, text = transaction(c_old, ALICE, [REMOTE],
                                    message(s, ALICE, REMOTE))
    check(code == 250, 'a session authenticated before the crash can still '
          'send to a remote domain', (stage, code, text))
    c_old.close()

    env.start('authd')
    s = mark('after-restart')
    stage, code, text = send(ALICE, ALICE, message(s, ALICE, BOB))
    if check(code == 250, 'authd restarted: login and send work again',
             (stage, code, text)):
        check_delivered(BOB, s, 'after the authd restart')


# -- measurements -------------------------------------------------------------------

def logins(n, port, mech='PLAIN'):
    ok = 0
    for _ in range(n):
        c, _ = session(port)
        if mech == 'PLAIN':
            code, _ = auth_plain(c, BOB, PASS[BOB])
        else:
            code, _ = auth_login(c, BOB, PASS[BOB])
        ok += code == 235
        c.cmd('QUIT')
        c.close()
    return ok


def test_measure():
    pid = env.daemons['authd'].proc.pid
    time.sleep(1.0)
    idle0 = rss_kib(pid)
    n = 20
    for port, what in ((P465, 'submissions, implicit TLS'),
                       (P587, 'submission, STARTTLS')):
        t0 = time.time()
        ok = logins(n, port)
        dt = time.time() - t0
        check(ok == n, f'{n} sequential logins ({what}) all get 235', ok)
        print(f'# measure: {n} logins, one connection each ({what}): '
              f'{dt:.2f} s, {n / dt:.1f} logins/s', flush=True)
    # two clients at once: authd checks one password at a time
    oks = []
    t0 = time.time()
    th = [threading.Thread(target=lambda: oks.append(logins(n // 2, P465)))
          for _ in range(2)]
    for t in th:
        t.start()
    for t in th:
        t.join(120)
    dt = time.time() - t0
    check(sum(oks) == n, f'{n} logins from two parallel clients get 235', oks)
    print(f'# measure: {n} logins from 2 parallel clients: {dt:.2f} s, '
          f'{n / dt:.1f} logins/s', flush=True)
    time.sleep(1.0)
    idle1 = rss_kib(pid)
    check(0 < idle0 and 0 < idle1, 'authd RSS measured', (idle0, idle1))
    print(f'# measure: authd RSS at idle: {idle0} KiB after start, {idle1} KiB '
          f'after {2 * n} logins (ps -o rss)', flush=True)
    check(idle1 < idle0 + 8 * 1024,
          'authd gives the 16 MiB of scrypt back after logins',
          (idle0, idle1))


def test_still_serving():
    for name in ('authd', 'smtpd'):
        d = env.daemons.get(name)
        check(d is not None and d.alive(), f'{name} still running at the end')
    reset_throttle()


def main():
    ft.main(env, setup, [
        test_ehlo_offers,
        test_auth_in_clear,
        test_mail_without_auth,
        test_wrong_password,
        test_protocol_edges,
        test_swaks,
        test_smtplib,
        test_no_relay_without_auth,
        test_send_as,
        test_from_header_tricks,
        test_remote_queued,
        test_bad_credentials_stay_out_of_authd,
        test_brute_force,
        test_measure,
        test_authd_down,
        test_still_serving,
    ])


if __name__ == '__main__':
    main()
