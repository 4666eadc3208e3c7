#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_dkim_sign.py - DKIM signatures made by lib/dkim.c + authd/authd_dkim.c
verify with independent implementations.

Signs a table of awkward messages with $FACTEUR_BIN/../test/dkim_sign_tool
(the same hashing code smtpd uses and the same signing code authd uses),
with an RSA-2048 and an Ed25519 key, and verifies:
  - every signature with dkimpy (python3-dkim), the key served from the TXT
    value the tool prints for it;
  - rsa-sha256 with opendkim-testmsg (opendkim-tools), which only resolves
    keys through the system resolver: it runs in a private network
    namespace (unshare -n, needs root) whose loopback interface carries the
    addresses /etc/resolv.conf names, a test DNS server on each
    (dns_server.serve_as_system_resolver; no mount namespace, so it works
    in a chroot too).
Negative cases: a changed body byte, an added From, a changed header fail.
Prints "N passed, M failed"; exit 1 on failure.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_dkim_keytool import Runner  # noqa: E402
from dns_server import serve_as_system_resolver  # noqa: E402

import dkim  # noqa: E402

DATE = 'Date: Mon, 01 Jan 2024 10:00:00 +0100\n'
MID = 'Message-ID: <%d@example.org>\n'

# (name, message) - LF line ends unless the name says otherwise
CASES = [
    ('plain', 'From: Alice <alice@example.org>\nTo: bob@example.net\n'
     'Subject: hello\n' + DATE + MID + '\nHello Bob.\n'),
    ('trailing whitespace', 'From: alice@example.org \t\nTo:  bob@example.net  \n'
     'Subject: spaces   inside \t \n' + DATE + MID +
     '\nline with trailing spaces   \n\ttabbed\t \n   \nend  \n\n\n\n'),
    ('long folded headers', 'From: "Alice Example, Long Name" <alice@example.org>\n'
     'To: ' + ',\n  '.join('user%d@example.net' % i for i in range(30)) + '\n'
     'Cc: a@example.net,\n\tb@example.net\n'
     'Subject: a very long subject that goes on and on and on and is folded\n'
     '  over several lines\n\tand more\n'
     'References: ' + '\n '.join('<%d.ref@example.org>' % i for i in range(20))
     + '\nIn-Reply-To: <19.ref@example.org>\n' + DATE + MID +
     'MIME-Version: 1.0\nContent-Type: text/plain;\n charset="utf-8"\n'
     'Reply-To: alice@example.org\n\nbody\n'),
    ('empty body', 'From: alice@example.org\nTo: bob@example.net\nSubject: e\n'
     + DATE + MID + '\n'),
    ('no body separator', 'From: alice@example.org\nTo: bob@example.net\n'
     'Subject: e\n' + DATE + MID),
    ('only empty lines', 'From: alice@example.org\nSubject: x\n' + DATE + MID +
     '\n\n\n\n'),
    ('leading dots', 'From: alice@example.org\nTo: bob@example.net\n'
     'Subject: dots\n' + DATE + MID + '\n.\n..\n.leading dot\n...three\n.\n'),
    ('utf-8', 'From: =?UTF-8?Q?Ren=C3=A9e?= <renee@example.org>\n'
     'To: bob@example.net\nSubject: =?UTF-8?B?Q2Fmw6kgY3LDqG1lIOKCrA==?=\n'
     + DATE + MID + 'MIME-Version: 1.0\n'
     'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n'
     '\nCaf\u00e9 cr\u00e8me \u20ac 100 \u2014 \u65e5\u672c\u8a9e  \n'),
    ('crlf input', ('From: alice@example.org\nTo: bob@example.net\n'
                    'Subject: crlf\n' + DATE + MID + '\nline 1\n\nline 3  \n')
     .replace('\n', '\r\n')),
    ('mixed line ends', 'From: alice@example.org\r\nTo: bob@example.net\n'
     'Subject: mixed\r\n' + DATE + MID + '\r\nline 1\nline 2\r\n\r\n\n'),
    ('no final newline', 'From: alice@example.org\nSubject: x\n' + DATE + MID +
     '\nlast line without newline   '),
    ('duplicate headers', 'From: alice@example.org\nTo: bob@example.net\n'
     'To: carol@example.net\nSubject: one\n' + DATE + MID +
     'Received: by x\nX-Mailer: y\n\nbody\n'),
    ('uppercase names', 'FROM: alice@example.org\nsubject: lower\n'
     'TO: bob@example.net\n' + DATE + MID + '\nbody\n'),
    ('big body', 'From: alice@example.org\nSubject: big\n' + DATE + MID + '\n' +
     ''.join('line %d %s\n' % (i, 'x' * (i % 200)) for i in range(20000))),
]


def to_wire(b):
    """The message as transmitted over SMTP: every line end CRLF, and a
    final CRLF (SMTP DATA ends with CRLF "." CRLF, RFC 5321 4.1.1.4)."""
    b = b.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    return b if b.endswith(b'\r\n') else b + b'\r\n'


# libopendkim refuses messages with two To fields (RFC 5322 3.6 singletons)
NOT_FOR_OPENDKIM = ('duplicate headers',)


def tool_path():
    if os.environ.get('DKIM_SIGN_TOOL'):
        return os.environ['DKIM_SIGN_TOOL']
    return os.path.normpath(os.path.join(
        os.environ.get('FACTEUR_BIN', 'build/bin'), '..', 'test', 'dkim_sign_tool'))


def sign(tool, msg, keys, crlf=False):
    args = [tool, 'sign', '-t', '1700000000'] + (['-C'] if crlf else []) + keys
    p = subprocess.run(args, input=msg, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.decode())
    return p.stdout


def dkimpy_verify(wire, txt, idx=0, show=True):
    def dnsfunc(name, timeout=5):
        return txt.get(name.decode().rstrip('.'))
    try:
        d = dkim.DKIM(wire)
        return d.verify(idx=idx, dnsfunc=dnsfunc)
    except Exception as e:  # dkimpy raises on some malformed input
        if show:
            print('     dkimpy: %r' % e)
        return False


def opendkim_inner(spec):
    """Runs inside unshare -n: DNS on the resolver's addresses,
    opendkim-testmsg."""
    with open(spec) as f:
        job = json.load(f)
    servers = serve_as_system_resolver(job['txt'])
    res = {}
    for path in job['files']:
        with open(path, 'rb') as f:
            p = subprocess.run(['opendkim-testmsg'], stdin=f, capture_output=True,
                               timeout=30)
        res[path] = [p.returncode, p.stderr.decode(errors='replace')]
    for srv in servers:
        srv.stop()
    print(json.dumps(res))


def opendkim_verify_all(d, txt, files):
    """{path: (rc, stderr)} for every file, or None if unavailable."""
    spec = os.path.join(d, 'opendkim.json')
    with open(spec, 'w') as f:
        json.dump({'dir': d, 'txt': txt, 'files': files}, f)
    p = subprocess.run(['unshare', '-n', sys.executable, os.path.abspath(__file__),
                        '--opendkim-inner', spec], capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0:
        print('     opendkim run failed: ' + p.stderr[-500:])
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    r = Runner()
    tool = tool_path()
    if not r.check(os.access(tool, os.X_OK), 'dkim_sign_tool at ' + tool):
        r.done()
    with tempfile.TemporaryDirectory() as d:
        rsa = os.path.join(d, 'rsa.key')
        ed = os.path.join(d, 'ed.key')
        subprocess.run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt',
                        'rsa_keygen_bits:2048', '-out', rsa], check=True,
                       capture_output=True)
        subprocess.run(['openssl', 'genpkey', '-algorithm', 'ED25519', '-out', ed],
                       check=True, capture_output=True)
        os.chmod(rsa, 0o600)
        os.chmod(ed, 0o600)
        txt = {}
        for sel, key in (('rsa2026', rsa), ('ed2026', ed)):
            v = subprocess.run([tool, 'pub', key], capture_output=True,
                               check=True).stdout.strip()
            txt['%s._domainkey.example.org' % sel] = v.decode()
        keys = ['example.org:rsa2026:' + rsa, 'example.org:ed2026:' + ed]
        txtb = {k: v.encode() for k, v in txt.items()}

        # a key readable by others is refused, like authd refuses it
        os.chmod(ed, 0o644)
        p = subprocess.run([tool, 'sign', 'example.org:ed2026:' + ed],
                           input=CASES[0][1].encode(), capture_output=True)
        r.check(p.returncode != 0 and b'chmod 600' in p.stderr,
                'key with mode 0644 refused')
        os.chmod(ed, 0o600)

        opendkim_files = []
        for i, (name, text) in enumerate(CASES):
            msg = text.replace('%d', str(i)).encode()
            crlf = b'\r\n' in msg and b'\n' not in msg.replace(b'\r\n', b'')
            try:
                signed = sign(tool, msg, keys, crlf=crlf)
            except RuntimeError as e:
                r.check(False, name + ': signs', str(e))
                continue
            r.check(signed.endswith(msg), name + ': message kept unchanged')
            wire = to_wire(signed)
            r.check(dkimpy_verify(wire, txtb, 0), name + ': rsa-sha256 verifies (dkimpy)')
            r.check(dkimpy_verify(wire, txtb, 1), name + ': ed25519-sha256 verifies (dkimpy)')
            # the LF form as stored in the queue verifies too (dkimpy reads bytes as given)
            # negative: change one body byte
            head, sep, body = wire.partition(b'\r\n\r\n')
            if body.strip():
                pos = body.find(b'e') if b'e' in body else 0
                bad = head + sep + body[:pos] + bytes([body[pos] ^ 1]) + body[pos + 1:]
                r.check(not dkimpy_verify(bad, txtb, 0, show=False) and not dkimpy_verify(bad, txtb, 1, show=False),
                        name + ': one changed body byte fails')
                path = os.path.join(d, 'bad%d.eml' % i)
                with open(path, 'wb') as f:
                    f.write(bad)
                if name not in NOT_FOR_OPENDKIM:
                    opendkim_files.append(path)
            if name in NOT_FOR_OPENDKIM:
                continue
            path = os.path.join(d, 'good%d.eml' % i)
            # opendkim sees only the rsa signature (it cannot do ed25519 here)
            rsa_only = to_wire(sign(tool, msg, keys[:1], crlf=crlf))
            with open(path, 'wb') as f:
                f.write(rsa_only)
            opendkim_files.append(path)

        # header-level negatives
        msg = CASES[0][1].replace('%d', '0').encode()
        wire = to_wire(sign(tool, msg, keys))
        bad = wire.replace(b'Subject: hello', b'Subject: hellO')
        r.check(not dkimpy_verify(bad, txtb, 0, show=False) and not dkimpy_verify(bad, txtb, 1, show=False),
                'changed Subject fails')
        head, sep, body = wire.partition(b'\r\n\r\n')
        bad = head + b'\r\nFrom: mallory@evil.example' + sep + body
        r.check(not dkimpy_verify(bad, txtb, 0, show=False), 'added From fails (From oversigned)')
        bad = wire.replace(b'X', b'X')  # unchanged sanity
        r.check(dkimpy_verify(bad, txtb, 0), 'unchanged message still verifies')
        bad = head + b'\r\nX-Added: fine' + sep + body
        r.check(dkimpy_verify(bad, txtb, 0), 'added unsigned header still verifies')
        # the DKIM TXT split into 255-byte strings resolves the same (dkimpy joins)
        r.check(len(txt['rsa2026._domainkey.example.org']) > 255,
                'rsa TXT value longer than 255 bytes (split needed in DNS)')

        if os.geteuid() != 0:
            r.check(False, 'opendkim-testmsg needs root for unshare -n')
        else:
            res = opendkim_verify_all(d, txt, opendkim_files)
            if r.check(res is not None, 'opendkim-testmsg ran in a namespace'):
                for path in opendkim_files:
                    rc, err = res[path]
                    i = int(os.path.basename(path)[4 if 'good' in path else 3:-4])
                    if 'good' in path:
                        r.check(rc == 0, CASES[i][0] + ': rsa-sha256 verifies (opendkim)',
                                err)
                    else:
                        r.check(rc != 0 and 'Bad signature' in err,
                                CASES[i][0] + ': changed body fails (opendkim)', err)
    r.done()


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--opendkim-inner':
        opendkim_inner(sys.argv[2])
    else:
        main()
