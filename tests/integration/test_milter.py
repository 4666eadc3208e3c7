# SPDX-License-Identifier: ISC
"""test_milter - the milter client (smtpd/milter.c) against a scripted
milter written here (the protocol, byte for byte) and against a real one,
rspamd's milter proxy (Debian's rspamd, self-scanning, no Redis, in a
temporary directory on a loopback port).

Scripted milter: a clean message gets the milter's headers (INSHEADER at
0, ADDHEADER) in front of it; "REJECTME" gets its 554 text; "SPAMME"
(X-Spam: Yes added) and "QUARME" (SMFIR_QUARANTINE) land in .Junk; the
commands it saw carry the macros and the envelope.  rspamd: GTUBE is
refused with 5xx, a clean message is delivered with rspamd's
X-Spamd-Result header (rspamd's add-header GTUBE, YJS*..., did not
trigger here: the junk routing is proved with the scripted milter).  A milter that hangs gives 451 after [milter]
timeout (default_action tempfail) and the session goes on; an unreachable
one with default_action accept lets the message through.
SpamAssassin (spamd with Debian's rules, spamass-milter -m): GTUBE lands in
.Junk with X-Spam-Flag: YES and X-Spam-Status, a clean message in INBOX
with X-Spam-Status: No.  ClamAV (clamd with a one-signature database
written here, the MD5 of the EICAR file, since Debian ships no virus
database and nothing can be downloaded; clamav-milter with OnInfected
Reject): the EICAR attachment is refused with 5xx, a clean message gets
X-Virus-Scanned.
FACTEUR_TEST_RSPAMD=PORT uses an rspamd milter already listening on PORT
(it takes minutes to start on a slow machine).  ONLY='test_clamav ...'
runs only those tests.
"""

import base64
import os
import shutil
import smtplib
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

BOB = 'bob@example.org'
env = ft.Env()
P25 = env.port()
_seq = [0]

GTUBE = b'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'


def marker(prefix='m'):
    _seq[0] += 1
    return f'{prefix}-{_seq[0]}-{os.getpid()}'


# -- the scripted milter ----------------------------------------------------

def pk(cmd, data=b''):
    return struct.pack('>I', len(data) + 1) + cmd + data


class ScriptMilter:
    """Answers every command with CONTINUE; at end of body acts on the
    body: REJECTME, SPAMME, QUARME, HANG (never answers)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen = []      # (cmd, data) of the last conversation
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
        seen, body = [], b''
        try:
            while True:
                n = struct.unpack('>I', self.read(c, 4))[0]
                d = self.read(c, n)
                cmd, data = d[:1], d[1:]
                seen.append((cmd, data))
                self.seen = seen
                if cmd == b'O':
                    c.sendall(pk(b'O', struct.pack('>III', 6, 0x31, 0)))
                elif cmd == b'D':
                    continue
                elif cmd == b'Q':
                    break
                elif cmd == b'B':
                    body += data
                    c.sendall(pk(b'c'))
                elif cmd == b'E':
                    if b'HANG' in body:
                        time.sleep(30)
                        break
                    if b'REJECTME' in body:
                        c.sendall(pk(b'y', b'554 5.7.1 Go away, says the milter\0'))
                        continue
                    if b'SPAMME' in body:
                        c.sendall(pk(b'h', b'X-Spam\0Yes\0'))
                    if b'QUARME' in body:
                        c.sendall(pk(b'q', b'looks bad\0'))
                    c.sendall(pk(b'i', struct.pack('>I', 0) +
                                 b'X-Milter-First\0inserted\0'))
                    c.sendall(pk(b'h', b'X-Milter-Body\0%d bytes,\r\n\tfolded\0'
                                 % len(body)))
                    c.sendall(pk(b'm', struct.pack('>I', 1) + b'X-Spam\0\0'))
                    c.sendall(pk(b'c'))
                else:
                    c.sendall(pk(b'c'))
        except (EOFError, OSError):
            pass
        c.close()


MILTER = ScriptMilter()


# -- rspamd -----------------------------------------------------------------

class Rspamd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='facteur-rspamd-')
        self.port = ft.free_port()
        self.proc = None

    def start(self):
        ov = os.path.join(self.dir, 'local', 'override.d')
        os.makedirs(ov)
        for d in ('db', 'run', 'log'):
            os.makedirs(os.path.join(self.dir, d))
        files = {
            'worker-proxy.inc': f'bind_socket = "127.0.0.1:{self.port}";\n'
            'milter = yes;\ntimeout = 120s;\ncount = 1;\n'
            'upstream "local" { default = yes; self_scan = yes; }\n'
            'spam_header = "X-Spam";\n',
            'worker-normal.inc': 'enabled = false;\n',
            'worker-controller.inc': 'enabled = false;\n',
            'worker-fuzzy.inc': 'enabled = false;\n',
            'options.inc': 'dns { nameserver = ["127.0.0.1:1"]; timeout = 1s; '
            'retransmits = 1; }\nlocal_addrs = [];\ngtube_patterns = "all";\n',
            'logging.inc': 'type = "console"; level = "error";\n',
            'milter_headers.conf': 'use = ["x-spamd-result"];\n'
            'skip_local = false;\nskip_authenticated = false;\n',
        }
        for name, text in files.items():
            with open(os.path.join(ov, name), 'w', encoding='utf-8') as f:
                f.write(text)
        d = self.dir
        self.log = open(os.path.join(d, 'out.log'), 'wb')  # pylint: disable=consider-using-with
        args = ['rspamd', '-f', '-c', '/etc/rspamd/rspamd.conf',
                '--var', f'LOCAL_CONFDIR={d}/local', '--var', f'DBDIR={d}/db',
                '--var', f'RUNDIR={d}/run', '--var', f'LOGDIR={d}/log']
        if os.geteuid() == 0:
            args.insert(2, '-i')
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            args, stdout=self.log, stderr=self.log, cwd=d,
            start_new_session=True)
        # it compiles the public suffix list and its rules first: slow
        return ft.wait_port(self.port, 400, self.proc)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- SpamAssassin (spamd + spamass-milter) and ClamAV (clamd + clamav-milter) -

def _popen(args, log, cwd):
    return subprocess.Popen(  # pylint: disable=consider-using-with
        args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=cwd,
        start_new_session=True)


def _stop(procs):
    for p in procs:
        if p and p.poll() is None:
            try:
                os.killpg(p.pid, 15)
                p.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(p.pid, 9)
                except ProcessLookupError:
                    pass


class SpamAssassin:
    """spamd (Debian's rules, no network tests, no Bayes) on a loopback
    port, and spamass-milter in front of it (-m: headers only)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='facteur-sa-')
        self.spamd_port = ft.free_port()
        self.port = ft.free_port()
        self.procs = []
        self.log = None
        self.up = False

    def start(self):
        d = self.dir
        for f in os.listdir('/etc/spamassassin'):
            if f.endswith('.pre'):
                shutil.copy(os.path.join('/etc/spamassassin', f), d)
        with open(os.path.join(d, 'local.cf'), 'w', encoding='utf-8') as f:
            f.write('use_bayes 0\nskip_rbl_checks 1\ndns_available no\n'
                    'report_safe 0\n')
        os.chmod(d, 0o755)
        self.log = open(os.path.join(d, 'out.log'), 'wb')  # pylint: disable=consider-using-with
        self.procs.append(_popen(
            ['spamd', f'--siteconfigpath={d}', '-H', d,
             f'--listen=127.0.0.1:{self.spamd_port}', '-m', '2',
             '--min-children=1', '--min-spare=1', '--max-spare=1',
             '-u', 'nobody', '--syslog=stderr'], self.log, d))
        if not ft.wait_port(self.spamd_port, 60, self.procs[0]):
            return False
        self.procs.append(_popen(
            ['spamass-milter', '-p', f'inet:{self.port}@127.0.0.1', '-m',
             '--', '-d', '127.0.0.1', '-p', str(self.spamd_port)],
            self.log, d))
        return ft.wait_port(self.port, 20, self.procs[1])

    def warm(self):
        """start(), then one scan: spamd's first takes seconds.  Run in a
        thread from setup(), while the scripted-milter tests run."""
        self.up = self.start()
        if self.up:
            subprocess.run(['spamc', '-d', '127.0.0.1', '-p',
                            str(self.spamd_port)], input=GTUBE + b'\n',
                           capture_output=True, timeout=120, check=False)

    def stop(self):
        _stop(self.procs[::-1])
        if self.log:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


SA = SpamAssassin()
SA_THREAD = threading.Thread(target=SA.warm, daemon=True)


EICAR = (b'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!'
         b'$H+H*')


class ClamAV:
    """clamd with a one-signature database written here (the MD5 of the
    EICAR test file: Debian ships no virus database and nothing can be
    downloaded), and clamav-milter rejecting what it finds."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='facteur-clam-')
        self.clamd_port = ft.free_port()
        self.port = ft.free_port()
        self.procs = []
        self.log = None

    def start(self):
        import hashlib
        d = self.dir
        os.makedirs(os.path.join(d, 'db'))
        with open(os.path.join(d, 'db', 'facteur-test.hdb'), 'w',
                  encoding='ascii') as f:
            f.write(f'{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:'
                    'Facteur-Test-EICAR\n')
        user = 'User root\n' if os.geteuid() == 0 else ''
        conf = {
            'clamd.conf': f'DatabaseDirectory {d}/db\nTCPSocket {self.clamd_port}\n'
            f'TCPAddr 127.0.0.1\nForeground yes\nPidFile {d}/clamd.pid\n'
            f'TemporaryDirectory {d}\n{user}',
            'milter.conf': f'MilterSocket inet:{self.port}@127.0.0.1\n'
            f'ClamdSocket tcp:127.0.0.1:{self.clamd_port}\nForeground yes\n'
            f'PidFile {d}/milter.pid\nOnInfected Reject\nAddHeader Replace\n'
            f'TemporaryDirectory {d}\n{user}',
        }
        for name, text in conf.items():
            with open(os.path.join(d, name), 'w', encoding='ascii') as f:
                f.write(text)
        self.log = open(os.path.join(d, 'out.log'), 'wb')  # pylint: disable=consider-using-with
        self.procs.append(_popen(['clamd', '-c', f'{d}/clamd.conf'], self.log, d))
        if not ft.wait_port(self.clamd_port, 60, self.procs[0]):
            return False
        self.procs.append(_popen(['clamav-milter', '-c', f'{d}/milter.conf'],
                                 self.log, d))
        return ft.wait_port(self.port, 20, self.procs[1])

    def stop(self):
        _stop(self.procs[::-1])
        if self.log:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- helpers ------------------------------------------------------------------

def message(body, subject=None):
    subject = subject or marker('subj')
    return (b'From: alice@sender.example\r\nTo: ' + BOB.encode() + b'\r\n'
            b'Subject: ' + subject.encode() + b'\r\n'
            b'Date: Sun, 06 Dec 2026 12:00:00 +0000\r\n'
            b'Message-ID: <' + marker('id').encode() + b'@sender.example>\r\n'
            b'\r\n' + body), subject


def send(msg, rcpts=(BOB,)):
    c = smtplib.SMTP('127.0.0.1', P25, local_hostname='client.test', timeout=60)
    try:
        c.ehlo('client.test')
        c.mail('alice@sender.example')
        for r in rcpts:
            c.rcpt(r)
        code, text = c.data(msg)
        ok = c.noop()[0] == 250
        return code, text.decode(), ok
    finally:
        try:
            c.quit()
        except smtplib.SMTPException:
            pass


def where(subject, timeout=30.0):
    return env.where(BOB, subject, timeout)


def configure(milter):
    env.write_config(
        hostname='mx.test', domains='example.org',
        smtp={'listen': [f'127.0.0.1:{P25}'], 'timeout': '60s'},
        dns={'resolver': '127.0.0.1:1'},
        inbound={'spf': False, 'dkim': False, 'dmarc': False},
        milter=milter)


def restart(milter):
    env.stop('smtpd')
    configure(milter)
    env.start('smtpd', ports=[P25])


def setup():
    if shutil.which('spamd') and shutil.which('spamass-milter'):
        SA_THREAD.start()
    configure({'socket': f'inet:127.0.0.1:{MILTER.port}', 'timeout': '3s'})
    env.add_user(BOB, 'bob pw 1')
    env.start('authd')
    env.start('smtpd', ports=[P25])


# -- the scripted milter --------------------------------------------------------

def test_clean_headers():
    msg, subj = message(b'hello\r\njust a line\r\n')
    code, text, _ = send(msg)
    check(code == 250, 'clean: 250', (code, text))
    place, data = where(subj)
    check(place == 'inbox', 'clean: INBOX', place)
    hdr = data.split(b'\n\n', 1)[0]
    check(b'\nX-Milter-First: inserted\nX-Milter-Body: ' in hdr,
          'clean: the inserted header before the added one', hdr[:600])
    check(b'bytes,\n\tfolded\n' in hdr, 'clean: folded value in LF form', hdr[:600])
    check(hdr.index(b'X-Milter-First') < hdr.index(b'\nReceived: '),
          'clean: the headers in front of the message', hdr[:600])
    seen = MILTER.seen
    cmds = b''.join(c for c, _ in seen)
    check(cmds.startswith(b'ODCHDMDRLLLLLDNBDEQ') or
          cmds.startswith(b'ODCHDMDRLLLLLDNBDE'),
          'commands in order: OPTNEG CONNECT HELO MAIL RCPT HEADER* EOH BODY EOB',
          cmds)
    macros = b''.join(d for c, d in seen if c == b'D')
    check(b'{client_addr}\x00127.0.0.1\x00' in macros and b'{rcpt_addr}\x00' + BOB.encode()
          in macros and b'j\x00mx.test\x00' in macros and b'i\x00' in macros,
          'macros client_addr, rcpt_addr, j, i', macros)
    body = b''.join(d for c, d in seen if c == b'B')
    check(body == b'hello\r\njust a line\r\n', 'body in CRLF form', body)
    hdrs = [d for c, d in seen if c == b'L']
    check(hdrs and hdrs[0].startswith(b'From\x00alice@sender.example\x00'),
          'header name and value without the leading space', hdrs[:1])


def test_replycode():
    msg, subj = message(b'REJECTME\r\n')
    code, text, ok = send(msg)
    check(code == 554 and 'Go away, says the milter' in text,
          'REPLYCODE: the milter text', (code, text))
    check(ok, 'REPLYCODE: the session goes on')
    check(where(subj, 1.0)[0] is None, 'REPLYCODE: not delivered')


def test_spam_header_junk():
    msg, subj = message(b'SPAMME\r\n')
    code, text, _ = send(msg)
    check(code == 250, 'X-Spam: 250', (code, text))
    place, data = where(subj)
    check(place == 'junk' and b'\nX-Spam: Yes\n' in data, 'X-Spam: Yes: in .Junk',
          (place, data[:400]))


def test_quarantine_junk():
    msg, subj = message(b'QUARME\r\n')
    code, text, _ = send(msg)
    check(code == 250, 'quarantine: 250', (code, text))
    check(where(subj)[0] == 'junk', 'quarantine: in .Junk')
    log = env.daemons['smtpd'].log_text()
    check('quarantine: looks bad' in log and 'result=continue' in log,
          'quarantine and verdict logged', log[-800:])


def test_hang_tempfail():
    msg, subj = message(b'HANG\r\n')
    t0 = time.time()
    code, text, ok = send(msg)
    took = time.time() - t0
    check(code == 451, 'hanging milter: 451 (default_action tempfail)', (code, text))
    check(2.5 < took < 10, 'hanging milter: after [milter] timeout', took)
    check(ok, 'hanging milter: the session goes on')
    check(where(subj, 1.0)[0] is None, 'hanging milter: not delivered')


def test_unreachable_accept():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    dead = s.getsockname()[1]
    s.close()
    restart({'socket': f'inet:127.0.0.1:{dead}', 'default_action': 'accept'})
    msg, subj = message(b'hello\r\n')
    code, text, _ = send(msg)
    check(code == 250 and where(subj)[0] == 'inbox',
          'unreachable milter, default_action accept: delivered', (code, text))
    restart({'socket': f'inet:127.0.0.1:{dead}'})
    msg, subj = message(b'hello\r\n')
    code, text, _ = send(msg)
    check(code == 451, 'unreachable milter, default tempfail: 451', (code, text))


# -- rspamd -------------------------------------------------------------------------

def test_rspamd():
    if shutil.which('rspamd') is None:
        check(False, 'rspamd installed (tests/deps.sh)')
        return
    r = Rspamd()
    try:
        if os.environ.get('FACTEUR_TEST_RSPAMD'):   # one already running
            r.port = int(os.environ['FACTEUR_TEST_RSPAMD'])
            up = True
        else:
            up = r.start()
        check(up, 'rspamd milter proxy listens')
        if not up:
            return
        restart({'socket': f'inet:127.0.0.1:{r.port}', 'timeout': '60s'})
        msg, subj = message(b'Hello Bob,\r\n\r\nsee you tomorrow at the usual '
                            b'place.\r\n\r\nAlice\r\n')
        code, text, _ = send(msg)
        place, data = where(subj)
        check(code == 250 and place == 'inbox', 'rspamd: clean message in INBOX',
              (code, text, place))
        check(b'\nX-Spamd-Result: ' in data.split(b'\n\n', 1)[0],
              'rspamd: its X-Spamd-Result header added', data[:800])
        msg, subj = message(GTUBE + b'\r\n')
        code, text, _ = send(msg)
        check(500 <= code < 600, 'rspamd: GTUBE refused with 5xx', (code, text))
        check(where(subj, 1.0)[0] is None, 'rspamd: GTUBE not delivered')
    finally:
        r.stop()


def test_spamassassin():
    for prog in ('spamd', 'spamass-milter'):
        if shutil.which(prog) is None:
            check(False, f'{prog} installed (tests/deps.sh)')
            return
    sa = SA
    try:
        t0 = time.time()
        SA_THREAD.join(180)
        up = getattr(sa, 'up', False)
        print(f'# spamd and spamass-milter (started at setup) waited for '
              f'{time.time() - t0:.1f} s', flush=True)
        check(up, 'spamd and spamass-milter listen')
        if not up:
            return
        restart({'socket': f'inet:127.0.0.1:{sa.port}', 'timeout': '60s'})
        t0 = time.time()
        msg, subj = message(GTUBE + b'\r\n')
        code, text, _ = send(msg)
        print(f'# GTUBE through SpamAssassin in {time.time() - t0:.1f} s',
              flush=True)
        check(code == 250, 'SpamAssassin: GTUBE taken (250)', (code, text))
        place, data = where(subj)
        hdr = data.split(b'\n\n', 1)[0]
        check(place == 'junk', 'SpamAssassin: GTUBE in .Junk', (place, hdr[:600]))
        check(b'\nX-Spam-Flag: YES\n' in hdr and b'\nX-Spam-Status: Yes, score='
              in hdr and b'GTUBE' in hdr,
              'SpamAssassin: its X-Spam-Flag and X-Spam-Status headers', hdr[:800])
        msg, subj = message(b'Hello Bob,\r\n\r\nlunch at noon?\r\n\r\nAlice\r\n')
        code, text, _ = send(msg)
        place, data = where(subj)
        check(code == 250 and place == 'inbox' and b'\nX-Spam-Status: No, '
              in data.split(b'\n\n', 1)[0],
              'SpamAssassin: a clean message in INBOX, X-Spam-Status: No',
              (code, place, data[:600]))
    finally:
        sa.stop()


def test_clamav():
    for prog in ('clamd', 'clamav-milter'):
        if shutil.which(prog) is None:
            check(False, f'{prog} installed (tests/deps.sh)')
            return
    av = ClamAV()
    try:
        t0 = time.time()
        up = av.start()
        print(f'# clamd and clamav-milter up in {time.time() - t0:.1f} s',
              flush=True)
        check(up, 'clamd and clamav-milter listen')
        if not up:
            return
        restart({'socket': f'inet:127.0.0.1:{av.port}', 'timeout': '30s'})
        b64 = base64.encodebytes(EICAR).replace(b'\n', b'\r\n')
        body = (b'MIME-Version: 1.0\r\n'
                b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
                b'--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n'
                b'--b1\r\nContent-Type: application/octet-stream; name="eicar.com"\r\n'
                b'Content-Transfer-Encoding: base64\r\n'
                b'Content-Disposition: attachment; filename="eicar.com"\r\n\r\n'
                + b64 + b'--b1--\r\n')
        msg, subj = message(b'')
        msg = msg.replace(b'\r\n\r\n', b'\r\n', 1) + body
        code, text, ok = send(msg)
        check(500 <= code < 600, 'ClamAV: the EICAR attachment refused with 5xx',
              (code, text))
        check(ok, 'ClamAV: the session goes on')
        check(where(subj, 1.0)[0] is None, 'ClamAV: EICAR not delivered')
        msg, subj = message(b'no virus here\r\n')
        code, text, _ = send(msg)
        place, data = where(subj)
        check(code == 250 and place == 'inbox' and b'\nX-Virus-Scanned: ' in data,
              'ClamAV: a clean message delivered with X-Virus-Scanned',
              (code, text, place, data[:500]))
    finally:
        av.stop()


TESTS = [test_clean_headers, test_replycode, test_spam_header_junk,
         test_quarantine_junk, test_hang_tempfail, test_unreachable_accept,
         test_spamassassin, test_clamav, test_rspamd]

if __name__ == '__main__':
    ft.main(env, setup, TESTS)
