# SPDX-License-Identifier: ISC
"""test_demo - `make run` (init/demo.sh, SPEC 2) end to end.

Runs init/demo.sh from a copy in a temporary directory (so ./run/ is
created there) on free ports, checks what it prints, pastes the printed
swaks command and the printed curl command as a user would, stops it with
SIGINT like Ctrl-C, and runs it again to check that ./run/ is reused with
the same password.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

tmp = tempfile.mkdtemp(prefix='facteur-demo.')
os.chmod(tmp, 0o755)
os.mkdir(os.path.join(tmp, 'init'))
shutil.copy2(os.path.join(ft.SRC, 'init', 'demo.sh'), os.path.join(tmp, 'init'))
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
        return subprocess.Popen(['bash', os.path.join(tmp, 'init', 'demo.sh')],
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=e,
                                start_new_session=True)


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


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
            if l.strip().startswith(('swaks ', 'curl ')) and 'imaps://' not in l]
    read = [l.strip() for l in out.splitlines() if 'imaps://' in l]
    check(len(send) == 1 and len(read) == 1,
          'demo prints one send and one read command', out[:2000])
    for pid_dir in (os.path.join(tmp, 'run', 'run'),):
        check(os.path.exists(os.path.join(pid_dir, 'authd.sock')),
              'authd socket under ./run/run/')

    if send and read and 'demo: running' in out:
        time.sleep(1.0)
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

    if ft.failed_count() == 0 and not os.environ.get('FACTEUR_KEEP'):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f'# kept {tmp}')
        print('# ---- demo output (first run, last 60 lines)')
        for l in out1.splitlines()[-60:]:
            print(f'# | {l}')
    sys.exit(ft.summary())


if __name__ == '__main__':
    main()
