# SPDX-License-Identifier: ISC
"""test_demo - `make run` (init/demo.sh, SPEC 2) end to end.

Runs init/demo.sh from a copy in a temporary directory (so ./run/ is
created there) on free ports, checks what it prints, pastes the printed
swaks command and the printed curl command as a user would, stops it with
SIGINT like Ctrl-C, and runs it again to check that ./run/ is reused with
the same password.

Run as root, the copy is in a mode-0700 directory, as a clone under /root
is (issue 13): the daemons run as nobody, who cannot reach it, so the demo
must keep its state elsewhere (./run links to it) and still work.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import base64
import smtplib
import ssl
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

tmp = tempfile.mkdtemp(prefix='facteur-demo.')
ROOT = os.geteuid() == 0
os.chmod(tmp, 0o700 if ROOT else 0o755)
os.mkdir(os.path.join(tmp, 'init'))
for f in ('demo.sh', 'dkim-check.py'):
    shutil.copy2(os.path.join(ft.SRC, 'init', f), os.path.join(tmp, 'init'))
os.makedirs(os.path.join(tmp, 'tests', 'integration'))
shutil.copy2(os.path.join(ft.SRC, 'tests', 'integration', 'dns_server.py'),
             os.path.join(tmp, 'tests', 'integration'))
# a checkout has its build/bin after `make run`: init/dkim-check.py, run as
# printed (without $BIN), finds facteur-keytool there when the demo runs
# as an ordinary user (as root it uses the demo's copy in run/bin)
os.makedirs(os.path.join(tmp, 'build'))
os.symlink(ft.BIN, os.path.join(tmp, 'build', 'bin'))
ports = {}
for k in ('SMTP', 'SUB', 'SUBS', 'IMAPS'):
    ports[k] = ft.free_port()
env = dict(os.environ, BIN=ft.BIN,
           **{f'DEMO_{k}_PORT': str(p) for k, p in ports.items()})
log = os.path.join(tmp, 'demo.log')
print(f'# test_demo: TMP={tmp} BIN={ft.BIN}', flush=True)


def read_log():
    with open(log, 'rb') as f:
        return f.read().decode('utf-8', 'replace')


def start(extra=None):
    e = dict(env, **(extra or {}))
    with open(log, 'wb') as out:
        # exactly as `make run` starts it (tests/module.mk): with sh,
        # which is dash on Debian
        return subprocess.Popen(['sh', os.path.join(tmp, 'init', 'demo.sh')],
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=e,
                                start_new_session=True)


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return ft.group_alive(pgid)     # zombies (init reaps them late) left


def dkim_dns(key_path):
    """A dnsfunc for dkimpy answering demo._domainkey.example.org with the
    public half of the demo's key (no DNS in tests)."""
    der = subprocess.run(['openssl', 'pkey', '-in', key_path, '-pubout',
                          '-outform', 'DER'], capture_output=True,
                         check=True).stdout
    txt = b'v=DKIM1; k=rsa; p=' + base64.b64encode(der)

    def dnsfunc(name, timeout=5):
        if name.rstrip(b'.') == b'demo._domainkey.example.org':
            return txt
        return None
    return dnsfunc


def check_dkim_submission(password):
    """Mail submitted by the demo user is DKIM-signed (issue 13: the demo
    shows the whole path), and the signature verifies."""
    import dkim
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    msg = ('From: demo@example.org\r\nTo: demo@example.org\r\n'
           'Subject: signed by the demo\r\n\r\nhello\r\n')
    with smtplib.SMTP('127.0.0.1', ports['SUB'], timeout=30) as s:
        s.starttls(context=ctx)
        s.login('demo@example.org', password)
        s.sendmail('demo@example.org', ['demo@example.org'], msg)
    new = os.path.join(tmp, 'run', 'mail', 'example.org', 'demo', 'new')
    raw = b''
    deadline = time.time() + 20
    while time.time() < deadline and b'signed by the demo' not in raw:
        for name in os.listdir(new) if os.path.isdir(new) else []:
            with open(os.path.join(new, name), 'rb') as f:
                data = f.read()
            if b'signed by the demo' in data:
                raw = data
        time.sleep(0.3)
    check(b'DKIM-Signature:' in raw and b'd=example.org' in raw,
          'the demo signs submitted mail with DKIM', raw[:1500])
    key = os.path.join(tmp, 'run', 'state', 'dkim', 'example.org.demo.key')
    if b'DKIM-Signature:' in raw and os.path.exists(key):
        # dkimpy wants CRLF; the Maildir stores LF
        wire = raw.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
        check(dkim.verify(wire, dnsfunc=dkim_dns(key)),
              'the demo signature verifies with dkimpy')


def check_printed_dkim(out):
    """The printed commands for a signed mail and its check, pasted as a
    user would (issue 13: from clone to a signature verified by dkimpy and
    OpenDKIM following only what the demo says)."""
    lines = [l.strip() for l in out.splitlines()]
    signed = [l for l in lines if l.startswith('swaks ') and '--auth-user' in l]
    verify = [l for l in lines if l.endswith('init/dkim-check.py')]
    if not check(len(signed) == 1 and len(verify) == 1, 'demo prints how to '
                 'send a signed mail and check it', out[:3000]):
        return
    r = subprocess.run(['sh', '-c', signed[0]], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0, 'the printed signed-mail command works',
          r.stdout[-1500:] + r.stderr[-1500:])
    new = os.path.join(tmp, 'run', 'mail', 'example.org', 'demo', 'new')
    deadline = time.time() + 20
    while time.time() < deadline and not any(
            b'signed by facteur' in open(os.path.join(new, n), 'rb').read()
            for n in os.listdir(new)):
        time.sleep(0.2)
    r = subprocess.run(['sh', '-c', verify[0]], capture_output=True,
                       text=True, timeout=120)
    got = r.stdout + r.stderr
    check('dkimpy:   signature 1 (example.org s=demo rsa-sha256): pass' in
          got, 'init/dkim-check.py: dkimpy verifies it', got)
    if ROOT:
        check('opendkim: pass' in got and r.returncode == 0,
              'init/dkim-check.py: OpenDKIM verifies it (exit 0)', got)


def main():
    p = start()
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None and \
            'demo: running' not in read_log():
        time.sleep(0.2)
    out = read_log()
    check('demo: running' in out, 'demo starts its daemons', out[-3000:])
    for name in ('authd', 'smtpd', 'imapd'):
        check(f'facteur-{name} is not built' not in out,
              f'demo runs facteur-{name}', out[-1500:])
    m = re.search(r'password\s+(\S+)', out)
    password = m.group(1) if m else None
    check(password and len(password) >= 12, 'demo prints a password', out[:1500])
    check('demo@example.org' in out, 'demo prints the address')
    for k, port in ports.items():
        check(f'127.0.0.1:{port}' in out, f'demo prints the {k} port {port}')
    send = [l.strip() for l in out.splitlines()
            if l.strip().startswith(('swaks ', 'curl ')) and 'imaps://' not in l
            and '--auth-user' not in l]
    read = [l.strip() for l in out.splitlines() if 'imaps://' in l]
    check(len(send) == 1 and len(read) == 1,
          'demo prints one send and one read command', out[:2000])
    for pid_dir in (os.path.join(tmp, 'run', 'run'),):
        check(os.path.exists(os.path.join(pid_dir, 'authd.sock')),
              'authd socket under ./run/run/')

    if send and read and 'demo: running' in out:
        # "running" is printed as the daemons start, not once they listen
        check(all(ft.wait_port(ports[k], 30) for k in ports),
              'the demo\'s daemons listen', read_log()[-1500:])
        r = subprocess.run(['sh', '-c', send[0]], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 0, 'the printed send command works',
              r.stdout[-1500:] + r.stderr[-1500:])
        body = ''
        deadline = time.time() + 20
        while time.time() < deadline:
            r = subprocess.run(['sh', '-c', read[0]], capture_output=True,
                               text=True, timeout=60)
            body = r.stdout
            if r.returncode == 0 and 'hello facteur' in body:
                break
            time.sleep(0.5)
        check('hello facteur' in body,
              'the printed IMAPS command reads the mail back',
              f'exit {r.returncode}: {r.stderr[-800:]} {body[-800:]}')

    if password and 'demo: running' in out:
        check_dkim_submission(password)
        check_printed_dkim(out)
    time.sleep(2)
    check(p.poll() is None and 'a daemon exited' not in read_log(),
          'the demo keeps running until Ctrl-C', read_log()[-1500:])

    # Ctrl-C: SIGINT to the whole foreground group
    try:
        os.killpg(p.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.time() + 10
    while time.time() < deadline and group_alive(p.pid):
        time.sleep(0.1)
    gone = not group_alive(p.pid)
    check(gone, 'Ctrl-C stops the demo and all its daemons')
    if not gone:
        os.killpg(p.pid, signal.SIGKILL)
    out1 = read_log()
    bad = [mk for mk in ft.SANITIZER_MARKS if mk in out1]
    check(not bad, 'no sanitizer report in the demo output',
          out1[out1.find(bad[0]) - 200:][:3000] if bad else '')

    # second run reuses ./run/ and the password
    p2 = start({'FACTEUR_DEMO_NORUN': '1'})
    p2.wait(timeout=60)
    out2 = read_log()
    m2 = re.search(r'password\s+(\S+)', out2)
    check(p2.returncode == 0 and m2 and m2.group(1) == password,
          'running it again reuses ./run/ and the password', out2[-1500:])

    if ROOT:
        check('nobody cannot reach' in out1 and os.path.islink(
              os.path.join(tmp, 'run')), 'from a checkout nobody cannot '
              'reach, the state is kept elsewhere, linked as ./run',
              out1[:1500])
    if ft.failed_count() == 0 and not os.environ.get('FACTEUR_KEEP'):
        state = os.path.realpath(os.path.join(tmp, 'run'))
        if not state.startswith(tmp + os.sep):
            shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f'# kept {tmp}')
        print('# ---- demo output (first run, last 60 lines)')
        for l in out1.splitlines()[-60:]:
            print(f'# | {l}')
    sys.exit(ft.summary())


if __name__ == '__main__':
    main()
