# SPDX-License-Identifier: ISC
"""test_relay - the relay role of facteur-smtpd alone (issue 5).

$FACTEUR_BIN/../test/relay_drive stands in for the queue role: it loads a
configuration, forks relay_run() and sends R_SEND requests for message
files (tests/unit/relay_drive.c).  The far side is python3-aiosmtpd:

- smarthost mode: STARTTLS and implicit TLS with a certificate from a test
  CA (verify = yes: trusted), a self-signed one and one for another host
  name (verify = yes: deferred, nothing sent), AUTH PLAIN, LOGIN and
  CRAM-MD5 (libsasl2 picks), a wrong password, a server without STARTTLS,
  4xx/5xx answers to RCPT and DATA, SIZE and SMTPUTF8, a dead smarthost, a
  silent one (timeout), byte-exact CRLF and dot-stuffing, connection reuse
  (one TCP connection for many messages) and throughput;
- MX mode: dnsmasq on a loopback high port as [dns] resolver, MX records
  for test domains pointing at 127.0.0.x sinks: preference order with the
  first MX refusing connections, null MX (RFC 7505), implicit MX, NXDOMAIN,
  opportunistic STARTTLS, several domains in one R_SEND, a dead resolver.
"""

import functools
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

import relay_fixtures as rf  # noqa: E402
from relay_fixtures import RELAY_PASS, RELAY_USER  # noqa: E402

DRIVE = os.path.abspath(os.path.join(ft.BIN, '..', 'test', 'relay_drive'))
SENDER = 'alice@example.org'

env = ft.Env()
MSGDIR = env.path('msgs')
os.mkdir(MSGDIR)
_seq = [0]
drivers = []


def uniq(prefix):
    _seq[0] += 1
    return f'{prefix}{_seq[0]}'


PKI = rf.make_pki(env.tls_dir)
Sink = functools.partial(rf.Sink, env, PKI)


class SilentServer:
    """Accepts connections and never says anything (greeting timeout)."""

    def __init__(self):
        self.port = env.port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', self.port))
        self.sock.listen(8)
        self.conns = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()


# -- the driver ------------------------------------------------------------

def write_conf(name, relay=None, dns=None):
    top = {
        'hostname': 'relay.facteur.test', 'domains': 'example.org',
        'state_dir': env.state_dir, 'mail_dir': env.path('mail', '%d', '%u'),
        'run_dir': env.run_dir, 'user': env.user, 'log': 'stderr',
    }
    path = env.path(name + '.conf')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(ft.format_config(top, {'relay': relay, 'dns': dns}))
    return path


SECRET = env.path('relay.secret')
with open(SECRET, 'w', encoding='ascii') as _f:
    _f.write(RELAY_PASS + '\n')
os.chmod(SECRET, 0o600)
BADSECRET = env.path('bad.secret')
with open(BADSECRET, 'w', encoding='ascii') as _f:
    _f.write('not-the-password\n')
os.chmod(BADSECRET, 0o600)


def smarthost(port, tls='none', verify=False, ca=None, user=None,
              secret=SECRET, host='localhost'):
    r = {'host': host, 'port': port, 'tls': tls, 'verify': verify,
         'ca_file': ca or PKI['ca.pem']}
    if user:
        r['user'] = user
        r['password_file'] = secret
    return r


class Drive:
    """relay_drive with one configuration; send() queues R_SENDs, wait()
    returns {qid: {'results': {index: (res, text)}, 'done': bool}}."""

    def __init__(self, name, relay=None, dns=None, mxport=None,
                 timeout_ms=20000, idle_ms=None):
        self.name = name
        conf = write_conf(name, relay, dns)
        cmd = [DRIVE, '-c', conf, '-v']
        if mxport:
            cmd += ['-p', str(mxport)]
        if timeout_ms:
            cmd += ['-t', str(timeout_ms)]
        if idle_ms:
            cmd += ['-i', str(idle_ms)]
        self.log = env.path('logs', name + '.log')
        self.logf = open(self.log, 'wb')  # pylint: disable=consider-using-with
        e = dict(os.environ)
        e['ASAN_OPTIONS'] = ft.TOOL_ASAN
        e['UBSAN_OPTIONS'] = ft.UBSAN
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.logf, cwd=env.tmp, env=e)
        self.answers = {}
        self.rcpts = {}
        drivers.append(self)

    def send(self, msg, rcpts, sender=SENDER, prepend=None, qid=None):
        qid = qid or uniq('q')
        path = os.path.join(MSGDIR, qid)
        with open(path, 'wb') as f:
            f.write(msg)
        ppath = '-'
        if prepend is not None:
            ppath = path + '.prepend'
            with open(ppath, 'wb') as f:
                f.write(prepend)
        line = f'send {qid} {path} {ppath} {sender or "<>"} {" ".join(rcpts)}\n'
        self.proc.stdin.write(line.encode())
        self.proc.stdin.flush()
        self.answers[qid] = {'results': {}, 'done': False}
        self.rcpts[qid] = list(rcpts)
        return qid

    def wait(self, timeout=120):
        self.proc.stdin.write(b'wait\n')
        self.proc.stdin.flush()
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode('utf-8', 'replace')
            if not line:
                raise RuntimeError(f'relay_drive {self.name} ended:\n'
                                   + self.log_text()[-3000:])
            parts = line.rstrip('\n').split(' ', 4)
            if parts[0] == 'idle':
                return self.answers
            if parts[0] == 'done':
                self.answers[parts[1]]['done'] = True
            elif parts[0] == 'result':
                idx = int(parts[2]) - 100
                self.answers[parts[1]]['results'][idx] = (
                    parts[3], parts[4] if len(parts) > 4 else '')
        raise RuntimeError('wait timed out')

    def one(self, msg, rcpts, **kw):
        """send + wait; returns [(res, text)] in recipient order."""
        qid = self.send(msg, rcpts, **kw)
        a = self.wait()[qid]
        check(a['done'], f'{self.name}: R_DONE for {qid}')
        check(sorted(a['results']) == list(range(len(rcpts))),
              f'{self.name}: one R_RESULT per recipient', a)
        return [a['results'].get(i, ('missing', '')) for i in
                range(len(rcpts))]

    def log_text(self):
        with open(self.log, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        text = self.log_text()
        bad = [m for m in ft.SANITIZER_MARKS if m in text]
        check(not bad, f'{self.name}: no sanitizer report',
              text[text.find(bad[0]) - 200:][:3000] if bad else '')
        check(self.proc.returncode == 0, f'{self.name}: relay exits 0',
              f'exit {self.proc.returncode}: {text[-2000:]}')
        return text


msg4k = rf.msg4k
to_wire = rf.to_wire


def log_line(text, qid, rcpt):
    for l in text.splitlines():
        if f'qid={qid} to=<{rcpt}>' in l:
            return l
    return ''


# -- smarthost mode ---------------------------------------------------------

def test_bytes_and_dots():
    """Plain smarthost: the message arrives byte for byte in CRLF form with
    the prepend first, dot-stuffing undone by the receiver, the queue
    trailer never sent; BODY=8BITMIME and SIZE= on MAIL."""
    sink = Sink()
    d = Drive('bytes', relay=smarthost(sink.port))
    try:
        prepend = b'DKIM-Signature: v=1; a=ed25519-sha256; d=example.org;\n\tb=xyz\n'
        msg = (b'From: <alice@example.org>\nSubject: dots\n\n.\n..\n.x\n'
               b'a line\n\n. \n...\ncaf\xc3\xa9 8bit\n\x00nul\nno final newline.')
        res = d.one(msg, ['bob@remote.test', 'carol@remote.test'],
                    prepend=prepend)
        check(res == [('ok', '250 2.0.0 queued as X1')] * 2,
              'both recipients sent', res)
        check(len(sink.msgs) == 1, 'one transaction for both', sink.msgs)
        if sink.msgs:
            m = sink.msgs[0]
            want = to_wire(prepend) + to_wire(msg)
            check(m['data'] == want, 'byte-exact CRLF with dots',
                  f'{m["data"]!r} != {want!r}')
            check(b'trailer' not in m['data'], 'queue trailer not sent')
            check(m['rcpt'] == ['bob@remote.test', 'carol@remote.test'],
                  'both RCPTs', m['rcpt'])
            check('BODY=8BITMIME' in m['options'], 'BODY=8BITMIME', m)
            size = [o for o in m['options'] if o.startswith('SIZE=')]
            check(size and int(size[0][5:]) >= len(want) - 3,
                  'SIZE= close to the wire size', (size, len(want)))
        # a big message (1 MiB, many chunks) arrives intact
        big = b'Subject: big\n\n' + b''.join(
            b'.%06d line of a big message, dots first\n' % i
            for i in range(25000))
        res = d.one(big, ['bob@remote.test'])
        check(res[0][0] == 'ok', 'big message sent', res)
        check(len(sink.msgs) == 2 and sink.msgs[-1]['data'] == to_wire(big),
              'big message byte-exact')
        qid = d.send(b'Subject: null sender\n\nx\n', ['bob@remote.test'],
                     sender=None)
        a = d.wait()[qid]
        # aiosmtpd reports MAIL FROM:<> as the address '<>'
        check(a['results'].get(0, ('',))[0] == 'ok' and
              sink.msgs[-1]['from'] == '<>', 'null sender <>',
              (a, sink.msgs[-1]['from']))
    finally:
        text = d.close()
        sink.stop()
    line = log_line(text, 'q1', 'bob@remote.test')
    check(re.search(r'relay: qid=q1 to=<bob@remote.test> '
                    r'relay=localhost\[127\.0\.0\.1\]:\d+ tls=none '
                    r'delay=\d+\.\ds status=sent \(250 2\.0\.0 queued as X1\)',
                    line), 'log line format', line)


def test_starttls_plain_auth():
    """STARTTLS, certificate from the test CA, verify = yes, AUTH PLAIN."""
    sink = Sink(starttls='good', auth=True, exclude=('LOGIN',),
                require_starttls=True)
    d = Drive('plain', relay=smarthost(sink.port, tls='starttls', verify=True,
                                       user=RELAY_USER))
    try:
        res = d.one(b'Subject: plain\n\nhi\n', ['bob@remote.test'])
        check(res[0][0] == 'ok', 'sent through STARTTLS + AUTH PLAIN', res)
        check(sink.handler.mechs == ['PLAIN'], 'AUTH PLAIN used',
              sink.handler.mechs)
        check(sink.msgs and sink.msgs[0]['tls'] and sink.msgs[0]['auth'],
              'over TLS, logged in', sink.msgs)
    finally:
        text = d.close()
        sink.stop()
    line = log_line(text, 'q' + str(_seq[0]), 'bob@remote.test')
    check(re.search(r'tls=trusted TLSv1\.[23] \S+ delay=', line),
          'log says tls=trusted', line)
    check(RELAY_PASS not in text, 'password never logged')


def test_auth_login_and_cram():
    """AUTH LOGIN when it is all the server offers; CRAM-MD5 (chosen by
    libsasl2 over PLAIN and LOGIN) when offered."""
    for exclude, cram, want in ((('PLAIN',), False, 'LOGIN'),
                                ((), True, 'CRAM-MD5')):
        sink = Sink(starttls='good', auth=True, exclude=exclude, cram=cram)
        d = Drive('auth' + want, relay=smarthost(
            sink.port, tls='starttls', verify=True, user=RELAY_USER))
        try:
            res = d.one(b'Subject: auth\n\nhi\n', ['bob@remote.test'])
            check(res[0][0] == 'ok', f'sent with AUTH {want}', res)
            check(sink.handler.mechs == [want], f'AUTH {want} used',
                  sink.handler.mechs)
        finally:
            d.close()
            sink.stop()


def test_wrong_password():
    sink = Sink(starttls='good', auth=True)
    d = Drive('badpass', relay=smarthost(sink.port, tls='starttls',
                                         verify=True, user=RELAY_USER,
                                         secret=BADSECRET))
    try:
        res = d.one(b'Subject: x\n\nhi\n', ['bob@remote.test', 'c@remote.test'])
        check(all(r[0] == 'tempfail' and r[1].startswith('535')
                  for r in res), 'wrong password defers with the 535', res)
        check(sink.handler.mails == 0, 'no MAIL without login')
    finally:
        text = d.close()
        sink.stop()
    check('status=deferred (535' in text, 'the reply is logged', text[-1500:])


def test_untrusted_certificates():
    """verify = yes: a self-signed certificate, or one for another name,
    defers before anything is sent; verify = no accepts it as untrusted."""
    for cert, what in (('self', 'self-signed'), ('wrong', 'wrong host name')):
        sink = Sink(starttls=cert, auth=True)
        d = Drive('verify' + cert, relay=smarthost(
            sink.port, tls='starttls', verify=True, user=RELAY_USER))
        try:
            res = d.one(b'Subject: x\n\nhi\n', ['bob@remote.test'])
            check(res[0][0] == 'tempfail' and res[0][1].startswith(
                '454 4.7.5 certificate') and ('self-signed' in res[0][1] or
                                              'hostname mismatch' in res[0][1]),
                  f'{what}: deferred', res)
            check(sink.handler.mails == 0 and sink.handler.mechs == [],
                  f'{what}: no AUTH, no MAIL')
        finally:
            d.close()
            sink.stop()
    # host = an IP address: checked against the certificate's IP names
    for cert, want in (('good', 'ok'), ('wrong', 'tempfail')):
        sink = Sink(starttls=cert)
        d = Drive('verifyip' + cert, relay=smarthost(
            sink.port, tls='starttls', verify=True, host='127.0.0.1'))
        try:
            res = d.one(b'Subject: x\n\nhi\n', ['bob@remote.test'])
            check(res[0][0] == want and (want == 'ok' or
                                         'IP address mismatch' in res[0][1]),
                  f'host = 127.0.0.1, {cert} certificate: {want}', res)
        finally:
            d.close()
            sink.stop()
    sink = Sink(starttls='self')
    d = Drive('verifyno', relay=smarthost(sink.port, tls='starttls',
                                          verify=False))
    try:
        res = d.one(b'Subject: x\n\nhi\n', ['bob@remote.test'])
        check(res[0][0] == 'ok', 'verify = no: sent', res)
    finally:
        text = d.close()
        sink.stop()
    check(' tls=untrusted TLSv1.' in text, 'logged as tls=untrusted',
          text[-1000:])


def test_implicit_tls():
    # aiosmtpd does not count implicit TLS as TLS for auth_require_tls
    sink = Sink(implicit='good', auth=True, auth_require_tls=False)
    d = Drive('implicit', relay=smarthost(sink.port, tls='implicit',
                                          verify=True, user=RELAY_USER))
    try:
        res = d.one(b'Subject: 465\n\nhi\n', ['bob@remote.test'])
        check(res[0][0] == 'ok', 'implicit TLS: sent', res)
        check(sink.msgs and sink.msgs[0]['auth'] and
              sink.handler.mechs == ['PLAIN'], 'implicit TLS: logged in')
    finally:
        text = d.close()
        sink.stop()
    check(' tls=trusted TLSv1.' in text, 'implicit TLS trusted')


def test_starttls_required():
    """tls = starttls towards a server without STARTTLS: deferred, nothing
    said in clear text beyond EHLO."""
    sink = Sink(auth=True, auth_require_tls=False)
    d = Drive('notls', relay=smarthost(sink.port, tls='starttls',
                                       verify=True, user=RELAY_USER))
    try:
        res = d.one(b'Subject: x\n\nhi\n', ['bob@remote.test'])
        check(res[0][0] == 'tempfail' and 'STARTTLS' in res[0][1],
              'no STARTTLS: deferred', res)
        check(sink.handler.mails == 0 and sink.handler.mechs == [],
              'no AUTH and no MAIL in clear text')
    finally:
        d.close()
        sink.stop()


def test_replies():
    """4xx and 5xx to RCPT and to DATA, per recipient, with and without
    PIPELINING."""
    replies(False)
    replies(True)


def replies(pipelining):
    sink = Sink()
    sink.handler.pipelining = pipelining
    d = Drive('replies' + ('-pipe' if pipelining else ''),
              relay=smarthost(sink.port))
    try:
        res = d.one(b'Subject: r\n\nhi\n', ['ok@remote.test',
                                            'temp1@remote.test',
                                            'perm1@remote.test'])
        check(res[0][0] == 'ok', 'accepted recipient sent', res)
        check(res[1][0] == 'tempfail' and res[1][1].startswith('451 4.2.0'),
              '451 to RCPT: tempfail with the reply', res)
        check(res[2][0] == 'permfail' and res[2][1].startswith('550 5.1.1'),
              '550 to RCPT: permfail with the reply', res)
        res = d.one(b'Subject: r\n\nhi\n', ['perm2@remote.test'])
        check(res[0][0] == 'permfail', 'all recipients refused', res)
        res = d.one(b'Subject: r\n\nhi\n', ['a@remote.test', 'b@remote.test'],
                    sender='dataperm@example.org')
        check(all(r[0] == 'permfail' and r[1].startswith('554 5.6.0')
                  for r in res), '554 after DATA: permfail', res)
        res = d.one(b'Subject: r\n\nhi\n', ['a@remote.test'],
                    sender='datatemp@example.org')
        check(res[0][0] == 'tempfail' and res[0][1].startswith('451 4.3.0'),
              '451 after DATA: tempfail', res)
        res = d.one(b'Subject: r\n\nhi\n', ['after@remote.test'])
        check(res[0][0] == 'ok', 'the session goes on after failures', res)
        check(len(sink.handler.peers) == 1, 'all on one connection',
              sink.handler.peers)
    finally:
        text = d.close()
        sink.stop()
    check(('3 RCPT and DATA pipelined' in text) == pipelining,
          f'pipelined only when offered ({pipelining})')


def test_size_and_smtputf8():
    sink = Sink(data_size_limit=2000, enable_SMTPUTF8=False)
    d = Drive('size', relay=smarthost(sink.port))
    try:
        res = d.one(msg4k('big', 3000), ['bob@remote.test'])
        check(res[0][0] == 'permfail' and res[0][1].startswith('552 5.3.4'),
              'over the SIZE limit: bounced before sending', res)
        check(sink.handler.mails == 0, 'no MAIL for an oversized message')
        res = d.one(b'Subject: x\n\nhi\n', ['j\u00f6rg@remote.test'])
        check(res[0][0] == 'permfail' and '5.6.7' in res[0][1],
              'non-ASCII address without SMTPUTF8: bounced', res)
    finally:
        d.close()
        sink.stop()
    sink = Sink(enable_SMTPUTF8=True)
    d = Drive('utf8', relay=smarthost(sink.port))
    try:
        res = d.one(b'Subject: x\n\nhi\n', ['j\u00f6rg@remote.test'])
        check(res[0][0] == 'ok', 'SMTPUTF8 server: sent', res)
        check(sink.msgs and 'SMTPUTF8' in sink.msgs[0]['options'],
              'MAIL ... SMTPUTF8', sink.msgs)
    finally:
        d.close()
        sink.stop()


def test_dead_and_silent_smarthost():
    port = env.port()
    d = Drive('dead', relay=smarthost(port))
    try:
        res = d.one(b'Subject: x\n\nhi\n', ['bob@remote.test'])
        check(res[0][0] == 'tempfail' and '4.4.1' in res[0][1] and
              'refused' in res[0][1], 'smarthost down: deferred', res)
    finally:
        d.close()
    silent = SilentServer()
    d = Drive('silent', relay=smarthost(silent.port), timeout_ms=1000)
    try:
        start = time.time()
        res = d.one(b'Subject: x\n\nhi\n', ['bob@remote.test'])
        took = time.time() - start
        check(res[0][0] == 'tempfail' and 'timeout' in res[0][1],
              'silent smarthost: timeout, deferred', res)
        check(took < 10, f'greeting timeout honoured ({took:.1f} s)')
    finally:
        d.close()
        silent.stop()


def test_reuse_and_throughput():
    """Messages one after another share one TCP connection; throughput
    with that one connection and with a burst (up to 4 connections)."""
    sink = Sink(starttls='good', auth=True)
    d = Drive('reuse', relay=smarthost(sink.port, tls='starttls', verify=True,
                                       user=RELAY_USER))
    try:
        n_seq = 200
        start = time.time()
        for i in range(n_seq):
            res = d.one(msg4k(f'seq{i}'), ['bob@remote.test'])
            if res[0][0] != 'ok':
                check(False, 'sequential message sent', res)
                break
        seq_rate = n_seq / (time.time() - start)
        check(len(sink.msgs) == n_seq, f'{n_seq} sequential messages arrived',
              len(sink.msgs))
        check(len(sink.handler.peers) == 1,
              'one TCP connection for all sequential messages',
              sink.handler.peers)
        check(sink.handler.mechs == ['PLAIN'], 'logged in once',
              sink.handler.mechs)
        n_burst = 1000
        start = time.time()
        qids = [d.send(msg4k(f'burst{i}'), ['bob@remote.test'])
                for i in range(n_burst)]
        ans = d.wait(timeout=300)
        burst_rate = n_burst / (time.time() - start)
        ok = sum(1 for q in qids if ans[q]['done'] and
                 ans[q]['results'].get(0, ('',))[0] == 'ok')
        check(ok == n_burst, f'{n_burst} burst messages sent', ok)
        check(len(sink.msgs) == n_seq + n_burst, 'each arrived once',
              len(sink.msgs))
        conns = len(sink.handler.peers)
        check(conns <= 1 + 4, 'at most 4 connections for the burst', conns)
        print(f'# throughput, 4 KiB messages through STARTTLS+AUTH: '
              f'{seq_rate:.0f} msg/s one at a time on one reused '
              f'connection, {burst_rate:.0f} msg/s for a burst of '
              f'{n_burst} ({conns - 1} new connections)', flush=True)
    finally:
        d.close()
        sink.stop()


def test_idle_connections():
    """An idle connection is closed with QUIT after the idle time; a server
    closing an idle connection (421 on its timeout) costs nothing."""
    sink = Sink(timeout=1)
    d = Drive('idle', relay=smarthost(sink.port), idle_ms=3000)
    try:
        res = d.one(b'Subject: 1\n\nhi\n', ['bob@remote.test'])
        # the server's timeout (1 s) closes the idle connection before
        # the relay's idle time (3 s); the relay may see it only as MAIL
        # goes: then the message is given to a new connection all the same
        closed = ft.wait_for(lambda: sink.open_connections() == 0, 10)
        check(closed, 'the server closed the idle connection',
              sink.open_connections())
        res += d.one(b'Subject: 2\n\nhi\n', ['bob@remote.test'])
        check([r[0] for r in res] == ['ok', 'ok'],
              'sent before and after the server closed', res)
        check(len(sink.handler.peers) == 2, 'a new connection after the 421',
              sink.handler.peers)
    finally:
        d.close()
        sink.stop()
    sink = Sink()
    d = Drive('idleq', relay=smarthost(sink.port), idle_ms=300)
    try:
        res = d.one(b'Subject: 1\n\nhi\n', ['bob@remote.test'])
        deadline = time.time() + 10
        while sink.handler.quits < 1 and time.time() < deadline:
            time.sleep(0.05)
        check(res[0][0] == 'ok' and sink.handler.quits == 1,
              'QUIT after the idle time', sink.handler.quits)
        res = d.one(b'Subject: 2\n\nhi\n', ['bob@remote.test'])
        check(res[0][0] == 'ok' and len(sink.handler.peers) == 2,
              'then a new connection', sink.handler.peers)
    finally:
        d.close()
        sink.stop()


# -- MX mode ------------------------------------------------------------------

DNS = functools.partial(rf.DNS, env)


MXPORT = env.port()
DNS_RECORDS = [
    '--mx-host=pref.test,mx1.pref.test,10', '--mx-host=pref.test,mx2.pref.test,20',
    '--host-record=mx1.pref.test,127.0.0.2', '--host-record=mx2.pref.test,127.0.0.3',
    '--mx-host=null.test,.,0',
    '--host-record=amx.test,127.0.0.3',
    '--mx-host=tls.test,mx.tls.test,5', '--host-record=mx.tls.test,127.0.0.4',
]


def test_mx_mode():
    dns = DNS(DNS_RECORDS)
    plain = Sink(host='127.0.0.3', port=MXPORT)
    tls = Sink(host='127.0.0.4', port=MXPORT, starttls='self')
    d = Drive('mx', dns={'resolver': f'127.0.0.1:{dns.port}'}, mxport=MXPORT)
    try:
        res = d.one(b'Subject: pref\n\nhi\n', ['bob@pref.test'])
        check(res[0][0] == 'ok', 'first MX refuses, second takes it', res)
        res = d.one(b'Subject: null\n\nhi\n', ['bob@null.test'])
        check(res[0][0] == 'permfail' and res[0][1].startswith('556 5.1.10'),
              'null MX: bounced at once', res)
        res = d.one(b'Subject: implicit\n\nhi\n', ['bob@AMX.test'])
        check(res[0][0] == 'ok', 'no MX: the A record', res)
        res = d.one(b'Subject: nx\n\nhi\n', ['bob@nx.test'])
        check(res[0][0] == 'permfail' and '5.1.2' in res[0][1],
              'NXDOMAIN: bounced', res)
        res = d.one(b'Subject: tls\n\nhi\n', ['bob@tls.test'])
        check(res[0][0] == 'ok', 'opportunistic STARTTLS, self-signed: sent',
              res)
        check(tls.msgs and tls.msgs[0]['tls'], 'it went over TLS', tls.msgs)
        res = d.one(b'Subject: multi\n\nhi\n',
                    ['a@pref.test', 'b@amx.test', 'c@null.test', 'bad@',
                     'd@pref.test'])
        check([r[0] for r in res] == ['ok', 'ok', 'permfail', 'permfail', 'ok'],
              'several domains in one R_SEND', res)
        multi = [m for m in plain.msgs if b'multi' in m['data']]
        check(sorted(len(m['rcpt']) for m in multi) == [1, 2],
              'one transaction per domain', multi)
    finally:
        text = d.close()
        plain.stop()
        tls.stop()
        dns.stop()
    check(re.search(r'to=<bob@pref.test> relay=mx2\.pref\.test\[127\.0\.0\.3\]'
                    r':\d+ tls=none .*status=sent', text),
          'log names the second MX', text[-3000:])
    check('mx1.pref.test[127.0.0.2]' in text and 'refused' in text,
          'the refused first MX is logged')
    check(re.search(r'to=<bob@tls.test> relay=mx\.tls\.test\[127\.0\.0\.4\]:\d+ '
                    r'tls=untrusted TLSv1', text), 'tls=untrusted for the MX')


def test_dns_down():
    port = env.port()	# nothing listens: ICMP port unreachable
    d = Drive('dnsdown', dns={'resolver': f'127.0.0.1:{port}'}, mxport=MXPORT)
    try:
        start = time.time()
        res = d.one(b'Subject: x\n\nhi\n', ['bob@pref.test'])
        check(res[0][0] == 'tempfail' and res[0][1].startswith('451 4.4.3'),
              'resolver down: deferred', res)
        check(time.time() - start < 60, 'within a minute')
    finally:
        d.close()


def main():
    if not os.access(DRIVE, os.X_OK):
        check(False, f'relay_drive at {DRIVE}')
        sys.exit(ft.summary())
    if not shutil.which('dnsmasq'):
        check(False, 'dnsmasq installed (tests/deps.sh)')
    ft.run_tests(env, [
        test_bytes_and_dots, test_starttls_plain_auth, test_auth_login_and_cram,
        test_wrong_password, test_untrusted_certificates, test_implicit_tls,
        test_starttls_required, test_replies, test_size_and_smtputf8,
        test_dead_and_silent_smarthost, test_reuse_and_throughput,
        test_idle_connections,
        test_mx_mode, test_dns_down,
    ])


if __name__ == '__main__':
    rf.new_loop()
    main()
