# SPDX-License-Identifier: ISC
"""relay_fixtures - the far side of outbound mail, for tests that relay
(test_relay.py, test_dkim_e2e.py).

- make_pki(dir): a test CA, a CA-signed certificate for localhost and
  127.0.0.1 ('good'), a CA-signed one for wrong.test ('wrong') and a
  self-signed one for localhost ('self'); returns {name: path}
  ('ca.pem', 'good.key', 'good.pem', ...).
- Sink(env, pki, ...): a python3-aiosmtpd server on a loopback port that
  records every transaction in .msgs (dicts with from, rcpt, options,
  data = the message bytes as received, CRLF, dots unstuffed, peer, tls,
  auth); STARTTLS or implicit TLS with one of the pki certificates, AUTH
  with RELAY_USER / RELAY_PASS (PLAIN, LOGIN, and CRAM-MD5 with cram=True).
  Recipients whose local part starts with temp / perm get 451 / 550;
  sender local part datatemp / dataperm makes DATA fail.

Stdlib, openssl CLI and python3-aiosmtpd only.
"""

import hashlib
import hmac
import os
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

RELAY_USER = 'me@example.net'
RELAY_PASS = 'relay-secret-pass'


# -- TLS material -------------------------------------------------------

def openssl(*args):
    subprocess.run(['openssl'] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_pki(d):
    """A test CA, a CA-signed cert for localhost/127.0.0.1, a CA-signed one
    for wrong.test, a self-signed one for localhost, all in directory d."""
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
    datatemp makes DATA fail."""

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

    async def handle_DATA(self, server, session, envelope):
        local = envelope.mail_from.split('@')[0]
        if local == 'dataperm':
            return '554 5.6.0 content rejected'
        if local == 'datatemp':
            return '451 4.3.0 disk full, try later'
        with self.lock:
            self.peers.add(session.peer)
            self.msgs.append({
                'from': envelope.mail_from, 'rcpt': list(envelope.rcpt_tos),
                'options': list(envelope.mail_options),
                'data': envelope.original_content, 'peer': session.peer,
                'tls': session.ssl is not None,
                'auth': session.authenticated,
            })
        return '250 2.0.0 queued as X%d' % len(self.msgs)


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


def make_authenticator(handler):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login == RELAY_USER.encode()
              and auth_data.password == RELAY_PASS.encode())
        if ok:
            handler.mechs.append(mechanism)
        return AuthResult(success=ok, handled=False)
    return authenticator


class Sink:
    """One aiosmtpd server on host:port (a fresh port of env unless given);
    starttls / implicit name a pki certificate ('good', 'self', ...);
    other keyword arguments go to aiosmtpd's SMTP class."""

    def __init__(self, env, pki, host='127.0.0.1', port=None, starttls=None,
                 implicit=None, auth=False, exclude=(), cram=False, **kw):
        self.handler = CramHandler() if cram else Handler()
        self.port = port or env.port()
        self.host = host
        params = dict(kw)
        if starttls:
            params['tls_context'] = server_ctx(pki, starttls)
        if auth:
            params['authenticator'] = make_authenticator(self.handler)
            params['auth_required'] = True
            params['auth_exclude_mechanism'] = list(exclude)
        self.controller = Controller(
            self.handler, hostname=host, port=self.port,
            ssl_context=server_ctx(pki, implicit) if implicit else None,
            server_hostname='localhost', **params)
        self.controller.start()

    @property
    def msgs(self):
        return self.handler.msgs

    def stop(self):
        self.controller.stop()
