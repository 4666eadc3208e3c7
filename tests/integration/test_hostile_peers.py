# SPDX-License-Identifier: ISC
"""test_hostile_peers - the second wave's surfaces attacked from outside,
as a hostile peer would: the backup MX role, inbound SPF/DKIM/DMARC with
attacker-controlled DNS, the milter client, POP3, and the [fetch] client
against hostile remote IMAP and POP3 servers written here.

One instance: authd, smtpd (port 25 stand-in with backup_domains, the
inbound checks through dns_server.py, a scripted milter, two [fetch]
accounts polling the hostile servers every second) and imapd (POP3S,
POP3 with STLS, IMAPS).  Each test keeps one attack; what held holds
with a specific assertion, what did not is fixed in the C code.

Backup MX: case, trailing dot, source routes, percent hack, quoted local
parts, [IP] literals, bang paths, sub-domains and look-alike domains
relay nowhere but to the listed domain's own MX; a message looping
between us and a primary that sends it back ends at 100 Received fields
(RFC 5321 6.3, 554 5.4.6).  Inbound: an SPF include loop, more than 10 lookups and
a 48 KB TXT record end in permerror with bounded DNS work; 30
DKIM-Signature fields cost at most max_signatures key lookups; keys of
16384 bits and huge exponents cost little; a forged
Authentication-Results with our authserv-id (any case) is removed.
[acme]: a hostile ACME server that never answers, trickles, announces
4 GB, sends endless chunks or an endless header line: keytool gives up
within [acme] timeout with a reason.
Milter: garbage, a length of 4 GB, a close mid-message and silence give
451 (default_action tempfail) and the session goes on; a header with a
CRLF injection is refused, and so is a reply text with CRLF or a 2xx
code; a huge REPLBODY is not applied.  POP3:
commands before login, USER/PASS before STLS, a login or TLS handshake
that trickles past its deadline, commands pipelined across
STLS, over-long lines, NUL, numbers that overflow, AUTH PLAIN abuse
(NULs, CRLF, bad base64, huge, cancelled), DELE then RSET, POP3
beside IMAP expunging the same mailbox, a client that never reads.
[fetch]: over-long lines, a 4 GB literal cut short, a connection lost
after a whole literal (delivered once, across polls), a POP3 message
without its final dot, a smuggled second message and bare CR, duplicate
UIDs and UIDLs, a UIDL given again to a new message, a UIDVALIDITY
change, an endless response and a trickling server (a poll has a
deadline: FACTEUR_FETCH_POLL_S shortens it here).

Run only some tests: ONLY='test_pop3_stls_injection test_fetch_trickle'.
"""

import base64
import hashlib
import imaplib
import os
import re
import socket
import ssl
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402
from dns_server import DNSServer, free_udp_tcp_port  # noqa: E402

ROOT = os.geteuid() == 0
HOSTNAME = 'mx2.hostile.test'
ALICE, BOB, CAROL, DAVE = ('alice@example.org', 'bob@example.org',
                           'carol@example.org', 'dave@example.org')
PASS = 'hostile pw 1'
LOOP_IP = None                  # us again, as the "primary" of loop.test
DEAD_IP = '127.0.6.77'          # the primary of backed.test: down
POLL_S = 3                      # FACTEUR_FETCH_POLL_S: a poll's deadline

env = ft.Env()
P25, POP3S, POP3, IMAPS = env.port(), env.port(), env.port(), env.port()
DNS = DNSServer(free_udp_tcp_port())
_seq = [0]


def marker(prefix='m'):
    _seq[0] += 1
    return f'{prefix}-{_seq[0]}-{os.getpid()}-{int(time.time())}'


def smtpd_log():
    return env.daemons['smtpd'].log_text()


def wait_for(cond, timeout=20.0, step=0.1):
    return ft.wait_for(cond, timeout, step)


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def message(subject, body='hello\r\n', sender='someone@sender.test',
            to=BOB, head=''):
    return (f'{head}From: <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n'
            f'Message-ID: <{subject}@sender.test>\r\n\r\n{body}').encode()


def smtp_send(rcpts, data, sender='someone@sender.test', helo='client.test'):
    """One transaction on port 25; the final reply (code, text)."""
    c = ft.RawSMTP(P25, timeout=30)
    try:
        c.ehlo(helo)
        code, text = c.cmd(f'MAIL FROM:<{sender}>')
        if code != 250:
            return code, text
        for r in rcpts:
            code, text = c.cmd(f'RCPT TO:<{r}>')
            if code != 250:
                return code, text
        code, text = c.cmd('DATA')
        if code != 354:
            return code, text
        c.send(ft.dot_stuff(data) + b'.\r\n')
        code, text = c.reply(timeout=30)
        check(c.cmd('NOOP')[0] == 250, 'the session goes on after DATA')
        return code, text
    finally:
        c.close()


# -- a scripted milter -------------------------------------------------------

def pk(cmd, data=b''):
    return struct.pack('>I', len(data) + 1) + cmd + data


class Milter:
    """CONTINUE to everything; at the end of the body, what the body asks
    for: GARBAGE, HUGELEN, CRLFHDR, REPLBODY, HANG; CLOSEMID closes at the
    first body chunk."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            c, _ = self.sock.accept()
            threading.Thread(target=self.conv, args=(c,), daemon=True).start()

    @staticmethod
    def read(c, n):
        b = b''
        while len(b) < n:
            x = c.recv(n - len(b))
            if not x:
                raise EOFError
            b += x
        return b

    def conv(self, c):
        body = b''
        try:
            while True:
                n = struct.unpack('>I', self.read(c, 4))[0]
                d = self.read(c, n)
                cmd, data = d[:1], d[1:]
                if cmd == b'O':
                    c.sendall(pk(b'O', struct.pack('>III', 6, 0x31, 0)))
                elif cmd in (b'D', b'A'):
                    continue
                elif cmd == b'Q':
                    break
                elif cmd == b'B':
                    body += data
                    if b'CLOSEMID' in body:
                        break
                    c.sendall(pk(b'c'))
                elif cmd == b'E':
                    self.end(c, body)
                    body = b''
                else:
                    c.sendall(pk(b'c'))
        except (EOFError, OSError):
            pass
        c.close()

    @staticmethod
    def end(c, body):
        if b'GARBAGE' in body:
            c.sendall(b'\x00\x00\x00\x05zzzzz' + os.urandom(64))
        elif b'HUGELEN' in body:
            c.sendall(b'\xff\xff\xff\xf0c' + b'x' * 1000)
        elif b'HANG' in body:
            time.sleep(8)
        elif b'BIGHDRS' in body:
            for i in range(80):         # 72 KB of headers
                c.sendall(pk(b'h', b'X-Big-%d\0' % i + b'v' * 900 + b'\0'))
            c.sendall(pk(b'c'))
        elif b'REPLYCRLF' in body:
            c.sendall(pk(b'y', b'554 5.7.1 no\r\n250 2.0.0 injected\0'))
        elif b'REPLY250' in body:
            c.sendall(pk(b'y', b'250 2.0.0 fine, dropped\0'))
        elif b'CRLFHDR' in body:
            c.sendall(pk(b'h', b'X-Milter-Inj\0a\r\nX-Injected: yes\0'))
            c.sendall(pk(b'h', b'X-Milter-Inj2\0a\nX-Injected2: yes\0'))
            c.sendall(pk(b'h', b'X-Milter-Inj3\0a\rX-Injected3: yes\0'))
            c.sendall(pk(b'h', b'X-Milter-Ok\0fine\0'))
            c.sendall(pk(b'c'))
        elif b'REPLBODY' in body:
            for _ in range(20):
                c.sendall(pk(b'b', b'REPLACED\r\n' * 6000))
            c.sendall(pk(b'c'))
        else:
            c.sendall(pk(b'c'))


MILTER = Milter()


# -- hostile remote servers for [fetch] --------------------------------------

class Conn:
    """One connection to a hostile server: lines in, bytes out."""

    def __init__(self, sock):
        self.s = sock
        self.f = sock.makefile('rb')
        self.got = []           # command lines received
        self.ended = None

    def line(self):
        l = self.f.readline(100000)
        if not l:
            raise EOFError
        l = l.rstrip(b'\r\n').decode('latin-1')
        self.got.append(l)
        return l

    def send(self, data):
        self.s.sendall(data.encode('latin-1') if isinstance(data, str)
                       else data)


class Hostile:
    """A TLS server on 127.0.0.1 (the instance's certificate, valid for
    localhost) running self.script(conn) for each connection; the test
    sets the script, the default answers an empty mailbox."""

    def __init__(self, default):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(env.cert, env.key)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.default = default
        self.script = default
        self.conns = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            raw, _ = self.sock.accept()
            threading.Thread(target=self.run, args=(raw,), daemon=True).start()

    def run(self, raw):
        raw.settimeout(60)
        script = self.script
        try:
            s = self.ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        c = Conn(s)
        c.script = script
        self.conns.append(c)
        try:
            script(c)
        except (OSError, EOFError, ssl.SSLError, ValueError):
            pass
        finally:
            c.ended = time.time()
            try:
                s.shutdown(socket.SHUT_RDWR)
                c.f.close()
                s.close()
            except OSError:
                pass

    def use(self, script):
        """Switch to script; returns the conversations with it, a list that
        grows as the fetch role polls."""
        self.script = script
        return lambda: [c for c in list(self.conns) if c.script is script]


def imap_box(uv, msgs, fetch=None, search=None, select_extra=''):
    """An IMAP server holding msgs {uid: bytes} with UIDVALIDITY uv;
    fetch(conn, tag, uid) overrides UID FETCH, search the SEARCH line."""
    refused = set()

    def script(c):
        c.send('* OK [CAPABILITY IMAP4rev1] hostile ready\r\n')
        while True:
            l = c.line()
            tag, _, rest = l.partition(' ')
            cmd = rest.upper()
            if cmd.startswith('LOGIN'):
                c.send(f'{tag} OK logged in\r\n')
            elif cmd.startswith('SELECT'):
                c.send(f'* {len(msgs)} EXISTS\r\n{select_extra}'
                       f'* OK [UIDVALIDITY {uv}] uids\r\n'
                       f'{tag} OK [READ-WRITE] selected\r\n')
            elif cmd.startswith('UID SEARCH'):
                m = re.search(r'UID 1:(\d+)', cmd)
                uids = sorted(u for u in msgs
                              if not m or (u <= int(m.group(1)) and
                                           u not in refused))
                line = search if search and 'ALL' in cmd else \
                    '* SEARCH' + ''.join(f' {u}' for u in uids) + '\r\n'
                c.send(line)
                c.send(f'{tag} OK search done\r\n')
            elif cmd.startswith('UID FETCH'):
                uid = int(cmd.split()[2])
                if fetch:
                    if fetch(c, tag, uid) is False:
                        return
                    continue
                data = msgs.get(uid, b'')
                c.send(f'* 1 FETCH (UID {uid} BODY[] {{{len(data)}}}\r\n'
                       .encode() + data + b')\r\n')
                c.send(f'{tag} OK fetched\r\n')
            elif cmd.startswith('UID STORE') and 'FACTEURREFUSED' in cmd:
                refused.update(int(u) for u in cmd.split()[2].split(','))
                c.send(f'{tag} OK stored\r\n')
            elif cmd.startswith('LOGOUT'):
                c.send(f'* BYE\r\n{tag} OK bye\r\n')
                return
            else:
                c.send(f'{tag} OK done\r\n')
    return script


def pop3_box(msgs, retr=None, uidl=None):
    """A POP3 server holding msgs [(uidl, bytes)]; retr(conn, n)
    overrides RETR, uidl(conn) the listing."""
    def script(c):
        c.send('+OK hostile POP3\r\n')
        while True:
            l = c.line()
            cmd = l.split(' ')[0].upper()
            if cmd == 'UIDL':
                if uidl:
                    if uidl(c) is False:
                        return
                    continue
                c.send('+OK\r\n' + ''.join(f'{i + 1} {u}\r\n' for i, (u, _)
                                           in enumerate(msgs)) + '.\r\n')
            elif cmd == 'LIST':
                c.send('+OK\r\n' + ''.join(
                    f'{i + 1} {len(m)}\r\n' for i, (_, m) in enumerate(msgs))
                    + '.\r\n')
            elif cmd == 'RETR':
                n = int(l.split()[1])
                if retr:
                    if retr(c, n) is False:
                        return
                    continue
                data = msgs[n - 1][1]
                c.send(b'+OK\r\n' + ft.dot_stuff(data) + b'.\r\n')
            elif cmd == 'QUIT':
                c.send('+OK bye\r\n')
                return
            else:
                c.send('+OK\r\n')
    return script


HIMAP = HPOP = HACME = None
_uv = [100]


def new_uv():
    _uv[0] += 1
    return _uv[0]


def alice_with(mark):
    return env.find_messages(ALICE, mark)


class Forward:
    """host:port forwarded to our port 25 stand-in: smtpd itself runs as
    an ordinary user and cannot bind port 25, where MX hosts are reached."""

    def __init__(self, host, port, to):
        self.to = to
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        threading.Thread(target=self.serve, daemon=True).start()

    @staticmethod
    def loop_ip(to):
        """Port 25 of a free 127.0.6.x to `to`: LOOP_IP."""
        global LOOP_IP
        for i in range(80, 140):
            try:
                Forward(f'127.0.6.{i}', 25, to)
            except OSError:
                continue
            LOOP_IP = f'127.0.6.{i}'
            return

    def serve(self):
        while True:
            a, _ = self.sock.accept()
            b = socket.create_connection(('127.0.0.1', self.to))
            for x, y in ((a, b), (b, a)):
                threading.Thread(target=self.pipe, args=(x, y),
                                 daemon=True).start()

    @staticmethod
    def pipe(x, y):
        try:
            while True:
                d = x.recv(65536)
                if not d:
                    break
                y.sendall(d)
        except OSError:
            pass
        for s in (x, y):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# -- DNS ---------------------------------------------------------------------

def rsa_pub_der(n, e):
    """SubjectPublicKeyInfo of an RSA key (n, e) that nobody holds."""
    def tlv(tag, body):
        ln = len(body)
        if ln < 128:
            return bytes([tag, ln]) + body
        b = ln.to_bytes((ln.bit_length() + 7) // 8, 'big')
        return bytes([tag, 0x80 | len(b)]) + b + body

    def integer(v):
        b = v.to_bytes((v.bit_length() + 8) // 8, 'big')
        return tlv(0x02, b)
    alg = bytes.fromhex('300d06092a864886f70d0101010500')
    key = tlv(0x30, integer(n) + integer(e))
    return tlv(0x30, alg + tlv(0x03, b'\0' + key))


def zones():
    d = DNS
    d.add('backed.test', 'MX', '10 mx1.backed.test.')
    d.add('backed.test', 'MX', f'20 {HOSTNAME}.')
    d.add('mx1.backed.test', 'A', DEAD_IP)
    d.add(HOSTNAME, 'A', '127.0.0.1')
    d.add('loop.test', 'MX', '10 mx1.loop.test.')
    d.add('loop.test', 'MX', f'20 {HOSTNAME}.')
    d.add('mx1.loop.test', 'A', LOOP_IP or '127.0.6.76')
    d.add('elsewhere.test', 'MX', '10 mx.elsewhere.test.')
    d.add('mx.elsewhere.test', 'A', '127.0.6.78')
    # SPF: a loop, a chain of 12 includes, a 60 KB record
    d.set_txt('spfloop.test', 'v=spf1 include:spfloop.test -all')
    for i in range(12):
        d.set_txt(f's{i}.spfmany.test',
                  f'v=spf1 include:s{i + 1}.spfmany.test -all')
    d.set_txt('s12.spfmany.test', 'v=spf1 ip4:127.0.0.1 -all')
    d.set_txt('spfmany.test', 'v=spf1 include:s0.spfmany.test -all')
    d.set_txt('bigtxt.test', 'v=spf1 ' + ' '.join(
        f'ip4:192.0.2.{i % 250}' for i in range(3000)) + ' -all')
    d.set_txt('sender.test', 'v=spf1 -all')
    # DKIM keys: 16384 bits, a 3072-bit modulus with a 3070-bit exponent
    big_n = (1 << 16383) | int.from_bytes(os.urandom(2048), 'big') | 1
    big_n &= (1 << 16384) - 1
    d.set_txt('big._domainkey.dkimbig.test', 'v=DKIM1; k=rsa; p=' +
              base64.b64encode(rsa_pub_der(big_n, (1 << 63) + 1)).decode())
    mid_n = (1 << 3071) | int.from_bytes(os.urandom(384), 'big') | 1
    mid_n &= (1 << 3072) - 1
    mid_e = (1 << 3069) | int.from_bytes(os.urandom(380), 'big') | 1
    mid_e &= (1 << 3070) - 1
    d.set_txt('exp._domainkey.dkimbig.test', 'v=DKIM1; k=rsa; p=' +
              base64.b64encode(rsa_pub_der(mid_n, mid_e)).decode())
    d.set_txt('dkimbig.test', 'v=spf1 ip4:127.0.0.1 -all')
    d.set_txt('many.test', 'v=spf1 ip4:127.0.0.1 -all')
    d.start()


# -- setup ---------------------------------------------------------------------

def setup():
    global HIMAP, HPOP, HACME
    env.make_cert()
    HIMAP = Hostile(imap_box(1, {}))
    HPOP = Hostile(pop3_box([]))
    HACME = Hostile(http_silent)
    if ROOT:
        Forward.loop_ip(P25)
    zones()
    pw = env.path('fetch.secret')
    with open(pw, 'w', encoding='utf-8') as f:
        f.write('remote pw\n')
    os.chmod(pw, 0o600)
    env.chown(pw)
    listen = [f'127.0.0.1:{P25}']
    env.write_config(
        hostname=HOSTNAME, domains='example.org',
        smtp={'listen': listen, 'timeout': '60s',
              'backup_domains': 'backed.test loop.test'},
        imap={'listen': f'127.0.0.1:{IMAPS}', 'timeout': '1m',
              'tls_timeout': '2s', 'login_timeout': '3s'},
        pop3={'listen': f'127.0.0.1:{POP3S}',
              'listen_starttls': f'127.0.0.1:{POP3}', 'timeout': '20s'},
        dns={'resolver': f'127.0.0.1:{DNS.port}'},
        inbound={'timeout': '10s'},
        milter={'socket': f'inet:127.0.0.1:{MILTER.port}', 'timeout': '2s',
                'default_action': 'tempfail'},
        queue={'retry': '1s', 'max_retry': '1s', 'expire': '1h'},
        acme={'directory': f'https://127.0.0.1:{HACME.port}/dir',
              'ca_file': env.cert, 'email': 'postmaster@example.org',
              'http': f'127.0.0.1:{env.port()}', 'timeout': '1s'},
        fetch={'account': [
            f'imaps://u%40remote.test@localhost:{HIMAP.port}/INBOX {ALICE} '
            f'password_file={pw} ca_file={env.cert} interval=1s',
            f'pop3s://u%40remote.test@localhost:{HPOP.port} {ALICE} '
            f'password_file={pw} ca_file={env.cert} interval=1s']})
    for u in (ALICE, BOB, CAROL, DAVE):
        env.add_user(u, PASS)
    os.environ['FACTEUR_FETCH_POLL_S'] = str(POLL_S)
    env.start('authd')
    env.start('smtpd', ports=[P25])
    env.start('imapd', ports=[POP3S, POP3, IMAPS])


# == backup MX ================================================================

def rcpt(addr, raw=False):
    c = ft.RawSMTP(P25, timeout=30)
    try:
        c.ehlo('client.test')
        c.cmd('MAIL FROM:<someone@sender.test>')
        return c.cmd(f'RCPT TO:{addr}' if raw else f'RCPT TO:<{addr}>')
    finally:
        c.close()


def test_backup_rcpt_tricks():
    refused = [
        'u@elsewhere.test', 'u@backed.test.', 'u@backed.test..',
        'u@sub.backed.test', 'u@xbacked.test', 'u@backed.test.elsewhere.test',
        'u@backed.tes', 'u@[127.0.0.1]', f'u@[{DEAD_IP}]',
        'u@[IPv6:::1]', '@backed.test:u@elsewhere.test',
        '@a.test,@backed.test:u@elsewhere.test',
        'elsewhere.test!u', 'u@elsewhere.test@backed.test',
        'u@backed.test@elsewhere.test', 'u@elsewhere.test%backed.test',
    ]
    for a in refused:
        code, text = rcpt(a)
        check(code in (553, 554, 501), f'RCPT <{a}> refused', text)
    for a in ('u@elsewhere.test@backed.test', '<u@elsewhere.test>@backed.test',
              '<u@elsewhere.test> <x@backed.test>'):
        code, text = rcpt(a, raw=True)
        check(code in (553, 554, 555, 501), f'RCPT TO:{a} (raw) refused',
              text)
    code, text = rcpt('u@BaCkEd.TeSt')
    check(code == 250, 'the listed domain in any case is taken', text)


def test_backup_routing():
    """Addresses that name another host in the local part are taken for
    the listed domain and go only to its own MX (down here: deferred)."""
    tricky = ['u%elsewhere.test@backed.test', '"u@elsewhere.test"@backed.test',
              'elsewhere.test!u@backed.test', '@elsewhere.test:u@backed.test']
    m = marker('route')
    code, text = smtp_send(tricky, message(m, to='u@backed.test'))
    check(code == 250, 'queued for the backed-up domain', text)
    for a in tricky[:3]:
        pat = (r'to=<' + re.escape(a) + r'> relay=mx1\.backed\.test'
               r'.*status=deferred')
        check(wait_for(lambda p=pat: re.search(p, smtpd_log()), 20),
              f'{a}: only to mx1.backed.test, deferred', smtpd_log()[-1500:])
    check(wait_for(lambda: re.search(r'to=<u@backed\.test> relay=mx1\.backed'
                                     r'\.test.*status=deferred',
                                     smtpd_log()), 20),
          'the source route is dropped: to u@backed.test')
    asked = [n for n, _ in list(DNS.queries)]
    check(not any('elsewhere.test' in n for n in asked),
          'nothing was looked up for elsewhere.test', asked[-20:])


def test_hop_limit():
    head = ''.join(f'Received: from hop{i}.test by x; Mon, 7 Dec 2026\r\n'
                   for i in range(101))
    m = marker('hops')
    code, text = smtp_send([BOB], message(m, head=head))
    check(code == 554 and '5.4.6' in text, '101 Received: 554 5.4.6', text)
    check(not env.find_messages(BOB, m), 'not delivered')
    head = ''.join(f'Received: from hop{i}.test by x; Mon, 7 Dec 2026\r\n'
                   for i in range(100))
    m = marker('hops')
    code, text = smtp_send([BOB], message(m, head=head))
    check(code == 250, '100 Received: taken', text)
    check(env.wait_message(BOB, m, timeout=20), 'and delivered')


def test_backup_loop():
    """loop.test's better MX is us under another name and address: the
    message comes back at each hop and stops at the hop limit."""
    if not ROOT or not LOOP_IP:
        print('# skipped: MX delivery on port 25 needs root')
        return
    head = ''.join(f'Received: from hop{i}.test by x; Mon, 7 Dec 2026\r\n'
                   for i in range(94))
    m = marker('loop')
    code, text = smtp_send(['u@loop.test'], message(m, head=head, to='u@loop.test'))
    check(code == 250, 'queued for the backed-up domain', text)
    ok = wait_for(lambda: re.search(r'to=<u@loop\.test> relay=mx1\.loop\.test'
                                    r'.*554 5\.4\.6', smtpd_log()), 40)
    check(ok, 'the loop ends with 554 5.4.6 from ourselves', smtpd_log()[-2000:])
    hops = len(re.findall(r'to=<u@loop\.test> relay=mx1\.loop\.test.*'
                          r'status=sent', smtpd_log()))
    check(hops <= 7, f'at most 7 hops ({hops})')
    time.sleep(2)
    r = env.tool('ctl', 'queue', 'list')
    check('u@loop.test' not in r.stdout, 'nothing left looping', r.stdout)


# == inbound authentication ===================================================

def ar_of(msg):
    m = re.search(rb'^Authentication-Results: (.*(?:\n[ \t].*)*)', msg, re.M)
    return m.group(1).decode() if m else ''


def deliver_and_ar(sender, mark, head='', body='hello\r\n'):
    t0 = time.time()
    code, text = smtp_send([BOB], message(mark, sender=sender, head=head,
                                          body=body), sender=sender)
    took = time.time() - t0
    got = env.wait_message(BOB, mark, timeout=15) if code == 250 else []
    return code, text, took, (got[0] if got else b'')


def test_spf_loop_and_lookups():
    for dom, what in (('spfloop.test', 'include loop'),
                      ('spfmany.test', '13 nested includes'),
                      ('bigtxt.test', '48 KB TXT')):
        before = len(DNS.queries)
        m = marker('spf')
        code, text, took, msg = deliver_and_ar(f'x@{dom}', m)
        asked = [n for n, _ in list(DNS.queries)[before:]]
        check(code == 250 and took < 8, f'{what}: answered in {took:.1f} s',
              text)
        check('spf=permerror' in ar_of(msg), f'{what}: spf=permerror',
              ar_of(msg))
        n = sum(1 for a in asked if a.endswith(dom))
        check(n <= 12, f'{what}: {n} DNS queries at most 12', asked)


def sig_field(domain, selector, i, siglen=256):
    """A DKIM-Signature over the body "hello" (right bh=) whose b= is
    siglen random bytes below any modulus: verifying it costs the key's
    full RSA operation."""
    bh = base64.b64encode(hashlib.sha256(b'hello\r\n').digest()).decode()
    b = base64.b64encode(b'\0' + os.urandom(siglen - 1)).decode()
    b = '\r\n\t'.join(b[k:k + 70] for k in range(0, len(b), 70))
    return (f'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n'
            f'\td={domain}; s={selector}{i}; h=from:subject;\r\n'
            f'\tbh={bh};\r\n\tb={b}\r\n')


def test_dkim_many_signatures():
    before = len(DNS.queries)
    m = marker('sigs')
    head = ''.join(sig_field('many.test', 'sel', i) for i in range(30))
    code, text, took, msg = deliver_and_ar('x@many.test', m, head=head)
    check(code == 250, '30 signatures: taken', text)
    keys = [n for n, _ in list(DNS.queries)[before:] if '_domainkey' in n]
    check(len(keys) <= 5, f'{len(keys)} key lookups, max_signatures = 5', keys)


def test_dkim_absurd_keys():
    """A 16384-bit key needs a 2048-byte signature, more than a b= may
    hold (permerror before any RSA work); a 3072-bit modulus with a
    3070-bit public exponent makes each verification a full private-key
    sized operation: five of them stay well under a second."""
    for sel, what, siglen, res in (
            ('big', '16384-bit key', 2048, 'dkim=permerror'),
            ('exp', '3070-bit exponent', 384,
             'dkim=fail (signature did not verify)')):
        m = marker('key')
        head = ''.join(sig_field('dkimbig.test', sel, '', siglen)
                       for _ in range(5))
        code, text, took, msg = deliver_and_ar('x@dkimbig.test', m, head=head)
        check(code == 250 and took < 5, f'{what} x5: {took:.2f} s', text)
        check(ar_of(msg).count(res) == 5, f'{what}: {res} x5', ar_of(msg))


def test_forged_authres():
    m = marker('ar')
    head = (f'Authentication-Results: {HOSTNAME.upper()}; dkim=pass '
            f'header.d=bank.test\r\n'
            f'Authentication-Results:\r\n  {HOSTNAME};\r\n\tspf=pass\r\n'
            f'authentication-results: {HOSTNAME}; dmarc=pass\r\n'
            'Authentication-Results: other.test; spf=pass\r\n')
    code, text, _, msg = deliver_and_ar('x@sender.test', m, head=head)
    check(code == 250, 'taken', text)
    ours = re.findall(rb'^authentication-results:\s*' +
                      re.escape(HOSTNAME.encode()), msg, re.M | re.I)
    check(len(ours) == 1, 'one Authentication-Results of ours', msg[:800])
    check(b'header.d=bank.test' not in msg and b'dmarc=pass' not in msg,
          'the forged ones are gone', msg[:800])
    check(b'Authentication-Results: other.test; spf=pass' in msg,
          "another server's is kept")


# == milter ===================================================================

def test_milter_broken():
    for what in ('GARBAGE', 'HUGELEN', 'CLOSEMID', 'HANG'):
        m = marker('milter')
        t0 = time.time()
        code, text = smtp_send([BOB], message(m, body=f'{what}\r\n'))
        took = time.time() - t0
        check(code == 451, f'milter {what}: 451 (tempfail)', text)
        check(took < 6, f'milter {what}: answered in {took:.1f} s')
        check(not env.find_messages(BOB, m), f'milter {what}: not delivered')
    check(env.daemons['smtpd'].alive(), 'smtpd alive')


def test_milter_bad_replycode():
    """A reply text with CRLF (a second reply injected into the SMTP
    stream) or a 2xx code (a silent drop) is a broken milter: 451."""
    for what in ('REPLYCRLF', 'REPLY250'):
        m = marker('reply')
        code, text = smtp_send([BOB], message(m, body=f'{what}\r\n'))
        check(code == 451 and 'injected' not in text and
              'dropped' not in text, f'milter {what}: 451', text)
        check(not env.find_messages(BOB, m), f'milter {what}: not delivered')


def test_milter_header_injection():
    m = marker('crlf')
    code, text = smtp_send([BOB], message(m, body='CRLFHDR\r\n'))
    check(code == 250, 'taken', text)
    got = env.wait_message(BOB, m, timeout=15)
    msg = got[0] if got else b''
    check(b'X-Milter-Ok: fine' in msg, 'a clean milter header is added', msg)
    for h in (b'X-Injected', b'X-Injected2', b'X-Injected3'):
        check(not re.search(rb'^' + h + rb':', msg, re.M),
              f'{h.decode()}: no header injected', msg[:600])
    check(b'\r' not in msg, 'no CR stored', msg[:600])


def test_milter_many_headers():
    """80 headers of 900 bytes: what is kept must be whole lines, the
    message's own header intact after them."""
    m = marker('bighdr')
    code, text = smtp_send([BOB], message(m, body='BIGHDRS\r\n'))
    check(code in (250, 451), 'taken or tempfailed', text)
    if code != 250:
        return
    got = env.wait_message(BOB, m, timeout=15)
    msg = got[0] if got else b''
    head = msg.split(b'\n\n', 1)[0].split(b'\n')
    bad = [l[:60] for l in head if not re.match(rb'^([!-9;-~]+:|[ \t])', l)]
    check(not bad, 'every header line is a field or a continuation', bad)
    check(re.search(rb'^From: <someone@sender\.test>$', msg, re.M),
          'the From field intact', msg[:300])
    big = [l for l in head if l.startswith(b'X-Big-')]
    check(all(l.endswith(b'v' * 900) for l in big),
          f'{len(big)} milter headers, each whole')


def test_milter_replbody():
    m = marker('repl')
    code, text = smtp_send([BOB], message(m, body='REPLBODY\r\n'))
    check(code == 250, 'taken', text)
    got = env.wait_message(BOB, m, timeout=15)
    msg = got[0] if got else b''
    check(msg.endswith(b'\n\nREPLBODY\n') and b'REPLACED' not in msg,
          'the body is not replaced', msg[-200:])


# == POP3 =====================================================================

class Pop:
    def __init__(self, port=POP3S, tls=True):
        s = socket.create_connection(('127.0.0.1', port), timeout=20)
        self.s = ctx().wrap_socket(s) if tls else s
        self.f = self.s.makefile('rb')
        self.greeting = self.line()

    def line(self):
        return self.f.readline(1 << 20).decode('latin-1').rstrip('\r\n')

    def send(self, b):
        self.s.sendall(b.encode('latin-1') if isinstance(b, str) else b)

    def cmd(self, l):
        self.send(l + '\r\n')
        return self.line()

    def multi(self):
        out = []
        while True:
            l = self.line()
            if l == '.':
                return out
            out.append(l)

    def login(self, user):
        check(self.cmd(f'USER {user}').startswith('+OK'), 'USER')
        return self.cmd(f'PASS {PASS}')

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def maildir_count(addr):
    return len(env.maildir_files(addr))


def put(addr, subject, body='pop body\n'):
    env.put_message(addr, f'From: <x@sender.test>\nTo: <{addr}>\n'
                    f'Subject: {subject}\nMessage-ID: <{subject}@t>\n\n{body}')


def test_pop3_before_auth():
    p = Pop(POP3, tls=False)
    for c in ('STAT', 'LIST', 'RETR 1', 'DELE 1', 'UIDL', 'TOP 1 0', 'RSET',
              'NOOP', f'USER {CAROL}', f'PASS {PASS}', 'AUTH PLAIN ' +
              base64.b64encode(f'\0{CAROL}\0{PASS}'.encode()).decode()):
        a = p.cmd(c)
        check(a.startswith('-ERR'), f'before STLS and login: {c[:10]}', a)
    p.close()
    p = Pop()
    for c in ('STAT', 'LIST', 'RETR 1', 'DELE 1', 'UIDL', 'TOP 1 0'):
        a = p.cmd(c)
        check(a.startswith('-ERR'), f'before login: {c}', a)
    p.close()


def closed_within(sock, secs, feed):
    """Call feed() every 0.5 s until the server closes sock; the time it
    took, or None if it is still open after secs."""
    t0 = time.time()
    sock.settimeout(0.5)
    while time.time() - t0 < secs:
        try:
            feed()
            if sock.recv(65536) == b'':
                return time.time() - t0
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        except OSError:
            return time.time() - t0
    return None


def test_pop3_login_deadline():
    """Trickled bytes do not keep a connection that never logs in: the
    login within [imap] login_timeout (3 s here), the TLS handshake
    within tls_timeout (2 s), as for IMAP."""
    p = Pop(POP3, tls=False)
    took = closed_within(p.s, 10, lambda: p.send('NOOP\r\n'))
    check(took is not None and took < 6,
          f'POP3 commands but no login: closed after {took} s')
    p.close()
    p = Pop()
    took = closed_within(p.s, 10, lambda: p.send('CAPA\r\n'))
    check(took is not None and took < 6,
          f'POP3S, no login: closed after {took} s')
    p.close()
    s = socket.create_connection(('127.0.0.1', POP3S), timeout=10)
    hello = iter([b'\x16', b'\x03', b'\x01', b'\x02', b'\x00'] * 20)
    took = closed_within(s, 10, lambda: s.sendall(next(hello)))
    check(took is not None and took < 5,
          f'a TLS handshake trickled: closed after {took} s')
    s.close()
    p = Pop()
    time.sleep(1)
    check(p.login(CAROL).startswith('+OK'), 'a prompt login is not affected')
    time.sleep(4)
    check(p.cmd('NOOP').startswith('+OK'), 'nor the session after it')
    p.cmd('QUIT')
    p.close()


def test_pop3_stls_injection():
    p = Pop(POP3, tls=False)
    p.send(f'STLS\r\nUSER {CAROL}\r\n')
    a = p.line()
    check(a.startswith('+OK'), 'STLS', a)
    p.s = ctx().wrap_socket(p.s)
    p.f = p.s.makefile('rb')
    try:
        a = p.cmd(f'PASS {PASS}')
    except OSError:
        a = '<closed>'
    check(not a.startswith('+OK'),
          'the USER sent before the handshake is not used after it', a)
    p.close()


def test_pop3_bad_lines_and_numbers():
    put(CAROL, marker('num'))
    p = Pop()
    a = p.cmd('NOOP ' + 'x' * 100000)
    check(a.startswith('-ERR'), 'a 100 KB line: -ERR', a)
    a = p.cmd('USER car\0ol@example.org')
    check(a.startswith('-ERR'), 'NUL in USER: -ERR', a)
    check(p.login(CAROL).startswith('+OK'), 'the session goes on: login')
    for c in ('RETR 4294967297', 'RETR 4294967296', 'RETR -1', 'RETR +1',
              'RETR 0', 'RETR 1x', 'RETR 0x1', 'RETR 1 1',
              'LIST 99999999999999999999', 'TOP 1 -1', 'TOP 1 4294967296',
              'TOP 1 +0', 'DELE 18446744073709551617', 'UIDL 4294967297',
              'RETR ' + '9' * 5000):
        a = p.cmd(c)
        check(a.startswith('-ERR'), f'{c[:30]}: -ERR', a)
    a = p.cmd('RETR 1')
    check(a.startswith('+OK') and p.multi(), 'RETR 1 still works', a)
    p.cmd('QUIT')
    p.close()


def test_pop3_auth_abuse():
    b64 = base64.b64encode
    p = Pop()
    for arg, what in ((b64(b'\0' + CAROL.encode() + b'\0' + PASS.encode() +
                           b'\0x').decode(), 'a third NUL'),
                      (b64(CAROL.encode() + b'\0' + PASS.encode()).decode(),
                       'one NUL only'),
                      (b64(b'\0' + CAROL.encode() + b'\0' + PASS.encode() +
                           b'\r\n').decode(), 'CRLF in the password'),
                      ('!!!!', 'not base64'), ('=', 'empty'),
                      ('A' * 20000, 'a 20 KB response')):
        a = p.cmd(f'AUTH PLAIN {arg}')
        check(a.startswith('-ERR'), f'AUTH PLAIN {what}: -ERR', a)
    check(p.cmd('AUTH PLAIN').startswith('+'), 'AUTH PLAIN continuation')
    check(p.cmd('*').startswith('-ERR'), '"*" cancels it')
    check(p.cmd('AUTH PLAIN').startswith('+'), 'again')
    check(p.cmd('A' * 100000).startswith('-ERR'), 'a 100 KB response: -ERR')
    check(p.cmd('AUTH CRAM-MD5').startswith('-ERR'), 'another mechanism')
    check(p.login(CAROL).startswith('+OK'), 'then USER/PASS works')
    p.cmd('QUIT')
    p.close()


def test_pop3_dele_rset():
    n0 = maildir_count(CAROL)
    p = Pop()
    check(p.login(CAROL).startswith('+OK'), 'login')
    check(p.cmd('DELE 1').startswith('+OK'), 'DELE 1')
    check(p.cmd('DELE 1').startswith('-ERR'), 'DELE 1 twice: -ERR')
    check(p.cmd('RETR 1').startswith('-ERR'), 'RETR of a deleted message')
    check(p.cmd('RSET').startswith('+OK'), 'RSET')
    a = p.cmd('RETR 1')
    check(a.startswith('+OK') and p.multi(), 'RETR 1 after RSET', a)
    check(p.cmd('QUIT').startswith('+OK'), 'QUIT')
    p.close()
    time.sleep(0.3)
    check(maildir_count(CAROL) == n0, 'nothing deleted after RSET',
          (maildir_count(CAROL), n0))


def test_pop3_beside_imap():
    for f in env.maildir_files(DAVE):
        os.unlink(f)
    subs = [marker('both') for _ in range(4)]
    for s in subs:
        put(DAVE, s, body=f'body of {s}\n')
    p = Pop()
    check(p.login(DAVE).startswith('+OK maildrop has 4'), 'POP3 sees 4')
    m = imaplib.IMAP4_SSL('127.0.0.1', IMAPS, ssl_context=ctx())
    m.login(DAVE, PASS)
    m.select('INBOX')
    _, data = m.uid('SEARCH', None, 'ALL')
    uids = data[0].split()
    # IMAP expunges the 3rd and 4th while POP3 has them listed
    m.uid('STORE', b','.join(uids[2:]).decode(), '+FLAGS.SILENT', r'(\Deleted)')
    m.expunge()
    check(p.cmd('DELE 1').startswith('+OK'), 'POP3 DELE 1')
    a = p.cmd('RETR 3')
    if a.startswith('+OK'):
        body = '\n'.join(p.multi())
        check(subs[2] in body, 'RETR 3 gives message 3 or -ERR, nothing else',
              body[:300])
    else:
        check(a.startswith('-ERR'), 'RETR 3 of an expunged message', a)
    a = p.cmd('RETR 2')
    check(a.startswith('+OK') and subs[1] in '\n'.join(p.multi()),
          'RETR 2 is still message 2', a)
    check(p.cmd('QUIT').startswith('+OK'), 'QUIT')
    p.close()
    time.sleep(0.3)
    left = b''.join(env.messages(DAVE))
    check(maildir_count(DAVE) == 1 and subs[1].encode() in left,
          'only message 2 is left', maildir_count(DAVE))
    m.noop()
    _, data = m.uid('SEARCH', None, 'ALL')
    check(len(data[0].split()) == 1, 'IMAP sees one message', data)
    m.logout()


def test_pop3_never_reads():
    """A client that pipelines RETRs of a 1 MB message and never reads:
    the server stops reading it too (bounded buffers), and serves others."""
    for f in env.maildir_files(CAROL):
        os.unlink(f)
    put(CAROL, marker('big'), body=('y' * 998 + '\n') * 1000)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    s.settimeout(10)
    s.connect(('127.0.0.1', POP3S))
    t = ctx().wrap_socket(s)
    t.sendall(f'USER {CAROL}\r\nPASS {PASS}\r\n'.encode())
    # 64 MB of commands, more than kernel buffers (tcp_rmem: 6 MB) hold
    chunk, sent, total = b'RETR 1\r\n' * 1000, 0, 8000
    t.settimeout(1)
    try:
        for _ in range(total):
            t.sendall(chunk)
            sent += 1
    except (socket.timeout, ssl.SSLError, OSError):
        pass
    check(sent < total, f'the server stopped reading after {sent} KB x 8 '
          'of commands')
    p = Pop()
    check(p.login(BOB).startswith('+OK'), 'another user is served meanwhile')
    p.cmd('QUIT')
    p.close()
    t.close()


# == [fetch] against hostile servers ==========================================

def fetch_msg(mark, extra=b''):
    return (b'From: <x@remote.test>\r\nTo: <' + ALICE.encode() + b'>\r\n'
            b'Subject: ' + mark.encode() + b'\r\n' + extra +
            b'\r\nbody of ' + mark.encode() + b'\r\n')


def polled(convs, n=2, timeout=20):
    return wait_for(lambda: len([c for c in convs() if c.ended]) >= n,
                    timeout)


def stored(convs, what):
    return [l for c in convs() for l in c.got if what in l.upper()]


def test_fetch_long_line():
    HPOP.use(pop3_box([]))

    def script(c):
        c.send('* OK ' + 'A' * (3 << 20) + '\r\n')
        c.line()
    convs = HIMAP.use(script)
    check(polled(convs), 'a 3 MB greeting: the poll ends, the next comes')
    check(env.daemons['smtpd'].alive(), 'smtpd alive')


def test_fetch_literal_4g():
    m = marker('lit')
    uv = new_uv()

    def fetch(c, tag, uid):
        c.send(f'* 1 FETCH (UID {uid} BODY[] {{4294967296}}\r\n'.encode() +
               fetch_msg(m) + b'x' * 5000)
        return False                    # and the connection closes
    convs = HIMAP.use(imap_box(uv, {1: fetch_msg(m)}, fetch=fetch))
    check(polled(convs), 'polled twice')
    time.sleep(1)
    check(not alice_with(m), 'a cut literal delivers nothing')
    check(not stored(convs, 'STORE') and not stored(convs, 'EXPUNGE'),
          'nothing deleted on the remote', [c.got for c in convs()])


def test_fetch_imap_cut_after_literal():
    """The whole literal, then the server is gone before its tagged OK:
    the message may be queued, but the next poll, which gets it again,
    must not deliver it twice; it is deleted only once recorded."""
    m = marker('cut')
    uv = new_uv()
    msg = fetch_msg(m)

    def fetch(c, tag, uid):
        c.send(f'* 1 FETCH (UID {uid} BODY[] {{{len(msg)}}}\r\n'.encode()
               + msg)
        return False
    convs = HIMAP.use(imap_box(uv, {1: msg}, fetch=fetch))
    check(polled(convs, 1), 'polled')
    first = stored(convs, 'STORE')
    convs = HIMAP.use(imap_box(uv, {1: msg}))
    check(polled(convs, 2), 'polled twice more')
    check(len(alice_with(m)) == 1, 'delivered exactly once',
          len(alice_with(m)))
    check(not first and wait_for(lambda: stored(convs, 'STORE'), 5),
          'deleted on the remote only after the complete answer')


def test_fetch_pop3_no_final_dot():
    m = marker('nodot')
    uid = marker('uidl')

    def retr(c, n):
        c.send(b'+OK\r\n' + fetch_msg(m))
        return False
    HIMAP.use(imap_box(1, {}))
    convs = HPOP.use(pop3_box([(uid, fetch_msg(m))], retr=retr))
    check(polled(convs), 'polled twice')
    time.sleep(1)
    check(not alice_with(m), 'no final dot: nothing delivered')
    check(not stored(convs, 'DELE'), 'nothing deleted on the remote')


def test_fetch_smuggling():
    m = marker('smug')
    uv = new_uv()
    smug = fetch_msg(m) + (b'.\r\nMAIL FROM:<evil@x.test>\r\n'
                           b'RCPT TO:<' + BOB.encode() + b'>\r\nDATA\r\n'
                           b'Subject: smuggled ' + m.encode() +
                           b'\r\n\r\nx\r\n.\r\n')
    cr = marker('cr')
    bare = (b'From: <x@remote.test>\r\nSubject: ' + cr.encode() +
            b'\rX-Injected: yes\r\n\r\nbody\r\n')
    convs = HIMAP.use(imap_box(uv, {1: smug, 2: bare}))
    got = env.wait_message(ALICE, m, timeout=20)
    check(len(got) == 1, 'the message with a dot line is delivered once')
    if got:
        check(b'\n.\nMAIL FROM:<evil@x.test>\n' in got[0],
              'the dot line and what follows are its body', got[0][-300:])
    time.sleep(1)
    check(not env.find_messages(BOB, 'smuggled ' + m),
          'no second message smuggled to bob')
    check(wait_for(lambda: stored(convs, '$FACTEURREFUSED'), 10),
          'bare CR: refused, marked on the remote',
          [c.got for c in convs()])
    check(not alice_with(cr), 'bare CR: not delivered')
    dels = [l for l in stored(convs, 'STORE') if 'DELETED' in l.upper()]
    check(dels and all(re.search(r'STORE 1 ', l) for l in dels),
          'only the delivered message is deleted', dels)


def test_fetch_dup_uids():
    m = marker('dupuid')
    uv = new_uv()
    convs = HIMAP.use(imap_box(uv, {5: fetch_msg(m)},
                               search='* SEARCH 5 5 5\r\n* SEARCH 5\r\n'))
    check(polled(convs), 'polled twice')
    check(len(alice_with(m)) == 1, 'a UID listed four times: fetched once')


def test_fetch_uidvalidity_change():
    m1, m2 = marker('uv1'), marker('uv2')
    convs = HIMAP.use(imap_box(new_uv(), {1: fetch_msg(m1)}))
    check(env.wait_message(ALICE, m1, timeout=20), 'first UIDVALIDITY')
    check(polled(convs, 1), 'one poll')
    convs = HIMAP.use(imap_box(new_uv(), {1: fetch_msg(m2)}))
    check(env.wait_message(ALICE, m2, timeout=20),
          'a new UIDVALIDITY: UID 1 is fetched again')
    check(polled(convs), 'polled twice')
    check(len(alice_with(m1)) == 1 and len(alice_with(m2)) == 1,
          'each once')
    check('UIDVALIDITY changed' in smtpd_log(), 'logged')


def test_fetch_dup_uidl():
    """A server listing one UIDL for two different messages: neither may be
    taken for the other (the second would be acknowledged by the queue's
    ONCE key of the first and deleted unread): both stay on the server."""
    HIMAP.use(imap_box(1, {}))
    m1, m2 = marker('dupa'), marker('dupb')
    uid = marker('same')
    convs = HPOP.use(pop3_box([(uid, fetch_msg(m1)), (uid, fetch_msg(m2))]))
    check(polled(convs), 'polled twice')
    check(not stored(convs, 'DELE'), 'nothing deleted on the server',
          stored(convs, 'DELE'))
    check(not alice_with(m1) and not alice_with(m2), 'nothing fetched')
    check('UIDL ' + uid + ' listed twice' in smtpd_log(), 'logged')


def test_fetch_uidl_reused():
    """RFC 1939 lets a server give a deleted message's UIDL to a new one:
    the new one (another size) is fetched, not taken for the old."""
    HIMAP.use(imap_box(1, {}))
    m1, m2 = marker('reuse1'), marker('reuse2')
    uid = marker('reused')
    convs = HPOP.use(pop3_box([(uid, fetch_msg(m1))]))
    check(env.wait_message(ALICE, m1, timeout=20), 'the first is fetched')
    check(wait_for(lambda: stored(convs, 'DELE'), 10), 'and deleted')
    convs = HPOP.use(pop3_box([(uid, fetch_msg(m2, b'X-New: yes\r\n'))]))
    check(env.wait_message(ALICE, m2, timeout=20),
          'the new message under the old UIDL is fetched')


def test_fetch_endless_response():
    """UIDL that never ends, at full speed; then SELECT answered with
    endless untagged lines: memory stays bounded, the poll ends."""
    HIMAP.use(imap_box(1, {}))

    def uidl(c):
        c.send('+OK\r\n')
        i = 0
        t0 = time.time()
        while time.time() - t0 < 20:    # ~5 MB/s, 100 MB at most
            c.send(''.join(f'{i + k} {"u" * 60}{i + k}\r\n'
                           for k in range(1, 2000)))
            i += 2000
            time.sleep(0.03)
    convs = HPOP.use(pop3_box([], uidl=uidl))
    check(wait_for(lambda: [c for c in convs() if c.ended], POLL_S + 8),
          'an endless UIDL: the fetch role hangs up')
    HPOP.use(pop3_box([]))

    def select(c):
        c.send('* OK hostile\r\n')
        tag = c.line().split()[0]
        c.send(f'{tag} OK logged in\r\n')
        c.line()
        t0 = time.time()
        while time.time() - t0 < 20:
            c.send('* 1 RECENT\r\n' * 5000)
    convs = HIMAP.use(select)
    check(wait_for(lambda: [c for c in convs() if c.ended], POLL_S + 8),
          'endless untagged lines: the fetch role hangs up')
    check(env.daemons['smtpd'].alive(), 'smtpd alive')


def test_fetch_trickle():
    def script(c):
        while True:
            c.send('*')
            time.sleep(0.5)
    HPOP.use(pop3_box([]))
    convs = HIMAP.use(script)
    t0 = time.time()
    check(wait_for(lambda: [c for c in convs() if c.ended], POLL_S + 10),
          'a trickling server is dropped at the poll deadline')
    took = time.time() - t0
    HIMAP.use(imap_box(1, {}))
    check(took < POLL_S + 10, f'after {took:.1f} s')
    convs = HPOP.use(pop3_box([]))
    check(polled(convs, 1, 20), 'the other account is polled again')


# == [acme] against a hostile ACME server =====================================

def http_request(c):
    while c.line() != '':
        pass


def http_silent(c):
    http_request(c)
    time.sleep(20)


def http_trickle(c):
    http_request(c)
    c.send('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
           'Content-Length: 100\r\n\r\n{')
    for _ in range(100):
        c.send(' ')
        time.sleep(0.25)


def http_huge(c):
    http_request(c)
    c.send('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
           'Content-Length: 4294967296\r\n\r\n{"a": "')
    t0 = time.time()
    while time.time() - t0 < 20:
        c.send('x' * 65536)


def http_chunked(c):
    http_request(c)
    c.send('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
           'Transfer-Encoding: chunked\r\n\r\n')
    t0 = time.time()
    while time.time() - t0 < 20:
        c.send('10000\r\n' + 'x' * 65536 + '\r\n')


def http_long_header(c):
    http_request(c)
    c.send('HTTP/1.1 200 OK\r\nX-Long: ')
    t0 = time.time()
    while time.time() - t0 < 20:
        c.send('x' * 65536)


def test_acme_hostile_server():
    for script, what in ((http_silent, 'a server that never answers'),
                         (http_trickle, 'a body trickled'),
                         (http_huge, 'a 4 GB Content-Length'),
                         (http_chunked, 'endless chunks'),
                         (http_long_header, 'an endless header line')):
        HACME.use(script)
        t0 = time.time()
        r = env.tool('keytool', 'acme', 'issue', timeout=60)
        took = time.time() - t0
        check(r.returncode == 1 and 'acme: ' in r.stderr,
              f'{what}: exit 1 with a reason', (r.returncode, r.stderr[-300:]))
        check(took < 5, f'{what}: gives up in {took:.1f} s ([acme] timeout '
              '1 s)')


TESTS = [test_backup_rcpt_tricks, test_backup_routing,
         test_hop_limit, test_backup_loop,
         test_spf_loop_and_lookups, test_dkim_many_signatures,
         test_dkim_absurd_keys, test_forged_authres,
         test_milter_broken, test_milter_bad_replycode,
         test_milter_header_injection, test_milter_many_headers, test_milter_replbody,
         test_pop3_before_auth, test_pop3_login_deadline,
         test_pop3_stls_injection,
         test_pop3_bad_lines_and_numbers, test_pop3_auth_abuse,
         test_pop3_dele_rset,
         test_pop3_beside_imap, test_pop3_never_reads,
         test_fetch_long_line, test_fetch_literal_4g,
         test_fetch_imap_cut_after_literal,
         test_fetch_pop3_no_final_dot, test_fetch_smuggling,
         test_fetch_dup_uids, test_fetch_uidvalidity_change,
         test_fetch_dup_uidl, test_fetch_uidl_reused,
         test_fetch_endless_response, test_fetch_trickle,
         test_acme_hostile_server]


if __name__ == '__main__':
    try:
        ft.main(env, setup, TESTS)
    finally:
        DNS.stop()
