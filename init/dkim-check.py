#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""init/dkim-check.py - check the DKIM signatures of a message facteur
signed, with dkimpy and with OpenDKIM, before any DNS record is published
(the demo's example.org has none): the public keys are the TXT records
`facteur-keytool dns` prints for the configuration.

    init/dkim-check.py [-c run/facteur.conf] [MESSAGE | -]

MESSAGE is a file (`-`: standard input); without one, the newest message
of the demo user's Maildir (demo@example.org under run/mail).
facteur-keytool is taken from $BIN, else run/bin, else build/bin (as
init/demo.sh does).

dkimpy (python3-dkim) gets the records through its dnsfunc hook.
opendkim-testmsg (opendkim-tools) only asks the resolver /etc/resolv.conf
names, so it runs in a private network namespace (unshare -n as root, a
user namespace otherwise) whose loopback interface carries that
resolver's address, answered there by a DNS server serving those records
(tests/integration/dns_server.py); no mount namespace, so it also works in
a chroot.
Exit 0 when every signature verifies with both.
"""

import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))


def records(conf):
    """{'sel._domainkey.dom': 'v=DKIM1; ...'} from facteur-keytool dns."""
    for d in ([os.environ['BIN']] if os.environ.get('BIN') else []) + [
            os.path.join(os.path.dirname(conf), 'bin'),
            os.path.join(ROOT, 'build', 'bin')]:
        tool = os.path.join(d, 'facteur-keytool')
        if os.access(tool, os.X_OK):
            break
    else:
        sys.exit('dkim-check: no facteur-keytool in run/bin or build/bin: '
                 'run make first')
    out = subprocess.run([tool, '-c', conf, 'dns'], capture_output=True,
                         text=True, check=False).stdout
    txt = {}
    for m in re.finditer(r'^(\S+\._domainkey\.\S+?)\.?\s+IN TXT\s+(".*")$',
                         out, re.M):
        txt.setdefault(m.group(1).lower(),
                       ''.join(re.findall(r'"([^"]*)"', m.group(2))))
    if not txt:
        sys.exit(f'dkim-check: facteur-keytool dns printed no DKIM record '
                 f'for {conf} ([dkim] sign)')
    return txt


def newest(conf):
    """The newest file of the demo user's Maildir."""
    base = os.path.join(os.path.dirname(conf), 'mail', 'example.org', 'demo')
    files = glob.glob(os.path.join(base, 'new', '*')) + \
        glob.glob(os.path.join(base, 'cur', '*'))
    if not files:
        sys.exit(f'dkim-check: no message in {base}')
    return max(files, key=os.path.getmtime)


def dkimpy(data, txt):
    import dkim  # python3-dkim
    n = len(re.findall(rb'^DKIM-Signature:', data, re.M | re.I))
    ok = n > 0

    def dnsfunc(name, timeout=5):
        return txt.get(name.decode().rstrip('.').lower(), '').encode()
    for i in range(n):
        d = dkim.DKIM(data)
        good = d.verify(idx=i, dnsfunc=dnsfunc)
        tags = dict(d.signature_fields) if good or d.signature_fields else {}
        what = b'%s s=%s %s' % (tags.get(b'd', b'?'), tags.get(b's', b'?'),
                                tags.get(b'a', b'?'))
        print(f'dkimpy:   signature {i + 1} ({what.decode()}): '
              f'{"pass" if good else "FAIL"}')
        ok = ok and good
    if n == 0:
        print('dkimpy:   no DKIM-Signature field')
    return ok


def opendkim_inner(job):
    """In a new network namespace: DNS servers on the resolver's own
    addresses, then the tool."""
    from dns_server import serve_as_system_resolver  # python3-dnspython
    with open(job) as f:
        j = json.load(f)
    servers = serve_as_system_resolver(j['txt'])
    with open(j['msg'], 'rb') as f:
        p = subprocess.run(['opendkim-testmsg'], stdin=f, capture_output=True,
                           text=True, timeout=60, check=False)
    for dns in servers:
        dns.stop()
    print(json.dumps([p.returncode, p.stderr.strip()]))


def opendkim(path, txt):
    with tempfile.TemporaryDirectory() as d:
        job = os.path.join(d, 'job.json')
        with open(job, 'w') as f:
            json.dump({'txt': txt, 'msg': path}, f)
        cmd = ['unshare', '-n'] if os.geteuid() == 0 else ['unshare', '-rn']
        p = subprocess.run(cmd + [sys.executable, os.path.abspath(__file__),
                                  '--opendkim-inner', job],
                           capture_output=True, text=True, timeout=120,
                           check=False)
    try:
        rc, err = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print('opendkim: could not run opendkim-testmsg in a namespace: ' +
              (p.stderr.strip()[-300:] or f'exit {p.returncode}'))
        return False
    print('opendkim: ' + ('pass' if rc == 0 else f'FAIL (exit {rc}: {err})'))
    return rc == 0


def main(argv):
    conf = os.path.join(ROOT, 'run', 'facteur.conf')
    args = argv[1:]
    if len(args) >= 2 and args[0] == '-c':
        conf, args = args[1], args[2:]
    if len(args) > 1 or (args and args[0].startswith('-') and args[0] != '-'):
        sys.exit(__doc__.split('\n\n')[1])
    conf = os.path.realpath(conf)
    txt = records(conf)
    if args and args[0] == '-':
        data = sys.stdin.buffer.read()
    else:
        path = args[0] if args else newest(conf)
        print(f'dkim-check: {path}')
        with open(path, 'rb') as f:
            data = f.read()
    # as a receiver sees it: CRLF line ends (curl and Maildir give LF)
    data = re.sub(rb'\r?\n', b'\r\n', data)
    with tempfile.NamedTemporaryFile(suffix='.eml') as f:
        f.write(data)
        f.flush()
        os.chmod(f.name, 0o644)
        a = dkimpy(data, txt)
        b = opendkim(f.name, txt)
    return 0 if a and b else 1


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--opendkim-inner':
        opendkim_inner(sys.argv[2])
    else:
        sys.exit(main(sys.argv))
