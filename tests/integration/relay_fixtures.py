# SPDX-License-Identifier: ISC
"""relay_fixtures - the far side of outbound mail, for tests that relay
(test_relay.py, test_outbound.py, test_dkim_e2e.py).

- make_pki(dir): a test CA, a CA-signed certificate for localhost and
  127.0.0.1 ('good'), a CA-signed one for wrong.test ('wrong') and a
  self-signed one for localhost ('self'); returns {name: path}
  ('ca.pem', 'good.key', 'good.pem', ...).
- Sink(env, pki, ...): a python3-aiosmtpd server on a loopback port that
  records every transaction in .msgs (dicts with from, rcpt, options,
  data = the message bytes as received, CRLF, dots unstuffed, peer, tls,
  auth, time); STARTTLS or implicit TLS with one of the pki certificates,
  AUTH with RELAY_USER and RELAY_PASS or another password (PLAIN, LOGIN,
  and CRAM-MD5 with cram=True).  Recipients whose local part starts with
  temp / perm get 451 / 550; sender local part datatemp / dataperm makes
  DATA fail; a Handler subclass may hold or drop messages (admit()).
  stop() also cuts the clients' connections, as a server going down would.
- DNS(env, records): dnsmasq on a loopback high port answering for *.test.
- msg4k, to_wire: test messages and what they look like on the wire.

Stdlib, openssl CLI, dnsmasq and python3-aiosmtpd only.
"""

import asyncio
import hashlib
import hmac
import logging
import os
import socket
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

RELAY_USER = 'me@example.net'
RELAY_PASS = 'relay-secret-pass'

# aiosmtpd logs a deprecation warning for every successful AUTH
logging.getLogger('mail.log').setLevel(logging.ERROR)


# -- TLS material -------------------------------------------------------

def openssl(*args):
    subprocess.run(['openssl'] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_pki(d):
    """In directory d: a test CA (ca.pem), a CA-signed certificate for
    localhost/127.0.0.1 (good), a CA-signed one for wrong.test (wrong), a
    self-signed one for localhost (self).  Returns {'ca.pem': path,
    'good.pem': ..., 'good.key': ..., ...}."""
    p = {k: os.path.join(d, k) for k in (
        'ca.key', 'ca.pem', 'good.key', 'good.pem', 'wrong.key', 'wrong.pem',
        'self.key', 'self.pem')}
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
          '-nodes']
    openssl('req', '-x509', *ec, '-keyout', p['ca.key'], '-out', p['ca.pem'],
            '-days', '2', '-subj', '/CN=facteur test CA',
            '-addext', 'basicConstraints=critical,CA:TRUE',
            '-addext', 'keyUsage=critical,keyCertSign,cRLSign')
    for name, san in (('good', 'DNS:localhost,IP:127.0.0.1'),
                      ('wrong', 'DNS:wrong.test')):
        csr = os.path.join(d, name + '.csr')
        ext = os.path.join(d, name + '.ext')
        with open(ext, 'w', encoding='ascii') as f:
            f.write(f'subjectAltName={san}\n')
        openssl('req', '-new', *ec, '-keyout', p[name + '.key'], '-out', csr,
                '-subj', f'/CN={san.split(",")[0][4:]}')
        openssl('x509', '-req', '-in', csr, '-CA', p['ca.pem'], '-CAkey',
                p['ca.key'], '-CAcreateserial', '-out', p[name + '.pem'],
                '-days', '2', '-extfile', ext)
    openssl('req', '-x509', *ec, '-keyout', p['self.key'], '-out',
            p['self.pem'], '-days', '2', '-subj', '/CN=localhost',
            '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1')
    return p


def server_ctx(pki, name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki[name + '.pem'], pki[name + '.key'])
    return ctx


# -- aiosmtpd sinks -------------------------------------------------------

class Handler:
    """Records every transaction; answers by recipient local part:
    temp* -> 451, perm* -> 550, else 250.  Sender local part dataperm /
    datatemp makes DATA fail.  admit() runs before a message is recorded:
    a subclass may make it wait, or return False to drop the message."""

    def __init__(self):
        self.pipelining = False
        self.msgs = []
        self.mails = 0
        self.peers = set()
        self.mechs = []
        self.quits = 0
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:	# aiosmtpd reads commands in order anyway
            responses.insert(-1, '250-PIPELINING')
        return responses

    async def handle_QUIT(self, server, session, envelope):
        with self.lock:
            self.quits += 1
        return '221 2.0.0 bye'

    async def handle_MAIL(self, server, session, envelope, address, options):
        with self.lock:
            self.mails += 1
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return '250 2.1.0 sender ok'

    async def handle_RCPT(self, server, session, envelope, address, options):
        local = address.split('@')[0]
        if local.startswith('temp'):
            return '451 4.2.0 <%s> try again later' % address
        if local.startswith('perm'):
            return '550 5.1.1 <%s> no such user' % address
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 recipient ok'

    async def admit(self, envelope):  # pylint: disable=unused-argument
        return True

    async def handle_DATA(self, server, session, envelope):
        local = envelope.mail_from.split('@')[0]
        if local == 'dataperm':
            return '554 5.6.0 content rejected'
        if local == 'datatemp':
            return '451 4.3.0 disk full, try later'
        if not await self.admit(envelope):
            return '451 4.3.0 not taken'
        with self.lock:
            self.peers.add(session.peer)
            self.msgs.append({
                'from': envelope.mail_from, 'rcpt': list(envelope.rcpt_tos),
                'options': list(envelope.mail_options),
                'data': envelope.original_content, 'peer': session.peer,
                'tls': session.ssl is not None,
                'auth': session.authenticated, 'time': time.time(),
            })
            n = len(self.msgs)
        return '250 2.0.0 queued as X%d' % n


class CramHandler(Handler):
    """Also offers AUTH CRAM-MD5 (RFC 2195), which libsasl2 prefers."""

    async def auth_CRAM__MD5(self, server, args):  # pylint: disable=invalid-name
        challenge = b'<%d.%d@sink.test>' % (os.getpid(), time.time_ns())
        resp = await server.challenge_auth(challenge)
        if not isinstance(resp, bytes) or b' ' not in resp:
            return AuthResult(success=False, handled=False)
        user, digest = resp.rsplit(b' ', 1)
        want = hmac.new(RELAY_PASS.encode(), challenge, hashlib.md5).hexdigest()
        ok = user == RELAY_USER.encode() and digest == want.encode()
        if ok:
            self.mechs.append('CRAM-MD5')
        return AuthResult(success=ok, handled=False,
                          auth_data=LoginPassword(user, b''))


def make_authenticator(handler, password=RELAY_PASS):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login == RELAY_USER.encode()
              and auth_data.password == password.encode())
        if ok:
            handler.mechs.append(mechanism)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)
    return authenticator


class _Controller(Controller):
    """Remembers its SMTP protocol objects, so stop() can cut clients."""

    def __init__(self, *args, **kw):
        self.servers = []
        super().__init__(*args, **kw)

    def factory(self):
        s = super().factory()
        self.servers.append(s)
        return s


class Sink:
    """One aiosmtpd server on host:port (a fresh port of env unless given).
    starttls / implicit name a certificate of pki; auth requires AUTH with
    RELAY_USER and `password`; handler replaces the default Handler.
    stop() closes the clients' connections too, as a server going down
    would, so the next sink on the same port sees new ones."""

    def __init__(self, env, pki, host='127.0.0.1', port=None, starttls=None,
                 implicit=None, auth=False, exclude=(), cram=False,
                 handler=None, password=RELAY_PASS, **kw):
        self.handler = handler or (CramHandler() if cram else Handler())
        self.port = port or env.port()
        self.host = host
        params = dict(kw)
        if starttls:
            params['tls_context'] = server_ctx(pki, starttls)
        if auth:
            params['authenticator'] = make_authenticator(self.handler,
                                                         password)
            params['auth_required'] = True
            params['auth_exclude_mechanism'] = list(exclude)
        self.controller = _Controller(
            self.handler, hostname=host, port=self.port,
            ssl_context=server_ctx(pki, implicit) if implicit else None,
            server_hostname='localhost', **params)
        self.controller.start()

    @property
    def msgs(self):
        return self.handler.msgs

    def open_connections(self):
        """How many clients are connected now (aiosmtpd drops a
        connection's transport when it is closed, by either side or by
        the server's timeout)"""
        return sum(getattr(s, 'transport', None) is not None
                   for s in list(self.controller.servers))

    def stop(self):
        async def cut():
            for s in self.controller.servers:
                if getattr(s, 'transport', None) is not None:
                    s.transport.abort()
            await asyncio.sleep(0.05)

        asyncio.run_coroutine_threadsafe(cut(), self.controller.loop).result(10)
        self.controller.stop()


# -- DNS ------------------------------------------------------------------

class DNS:
    """dnsmasq on 127.0.0.1:PORT answering for *.test only, with the
    given dnsmasq record options (--mx-host=..., --host-record=...)."""

    def __init__(self, env, records):
        self.port = env.port(udp=True)
        self.log = env.path('logs', 'dnsmasq.log')
        cmd = ['dnsmasq', '-k', '-C', '/dev/null', '--no-resolv', '--no-hosts',
               f'--port={self.port}', '--listen-address=127.0.0.1',
               '--bind-interfaces', '--pid-file=', '--local=/test/',
               '--log-queries', f'--log-facility={self.log}'] + records
        if os.geteuid() == 0:
            cmd.append(f'--user={env.user}')
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('dnsmasq: ' + self.proc.stderr.read().decode())
            if self._ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError('dnsmasq does not answer')

    def _ready(self):
        q = b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00' \
            b'\x04ping\x04test\x00\x00\x01\x00\x01'
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            try:
                s.sendto(q, ('127.0.0.1', self.port))
                return len(s.recv(512)) > 12
            except OSError:
                return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stderr.close()


# -- messages -------------------------------------------------------------

def msg4k(subject, size=4096, sender='alice@example.org',
          to='bob@remote.test'):
    """A message of about size bytes (LF form) with Message-ID
    <subject@example.org>."""
    head = (f'From: <{sender}>\nTo: <{to}>\nSubject: {subject}\n'
            f'Message-ID: <{subject}@example.org>\n\n').encode()
    line = b'0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.\n'
    body = (line * (size // len(line) + 1))[:max(0, size - len(head) - 1)]
    return head + body + b'\n'


def to_wire(msg):
    """What the receiver must get: LF -> CRLF, last line closed."""
    out = msg.replace(b'\n', b'\r\n')
    if out and not out.endswith(b'\r\n'):
        out += b'\r\n'
    return out


def new_loop():
    """The main thread's asyncio loop (aiosmtpd's Controller wants one)."""
    asyncio.set_event_loop(asyncio.new_event_loop())
