# SPDX-License-Identifier: ISC
"""test_privsep - the privilege separation of a root-started instance, as
the kernel sees it (SPEC 5, README "Who runs as whom").

Creates the role accounts of the base `_factest` (useradd, through
"facteur-keytool accounts | sh"; kept for the next run), starts authd,
smtpd and imapd as root, logs in over IMAP (a worker) and delivers one
message, then checks from /proc, for every process: uids and gids, no
NSS module mapped (the account lookups run in a child), the chroot, the open descriptors (users.db only in authd, no key file
anywhere), and the memory (the TLS private key only where TLS is done,
the relay password only in the relay role and the root parent).  Then,
as each role's uid in a forked child: read and write users.db, ask authd
for a password check, a DKIM signature and a recipient, signal and read
the memory of the other roles, reach the control socket: all refused
except what the role needs.

CI runs make check as root, so this runs there; as an ordinary user it
checks nothing and says so.
"""

import base64
import imaplib
import os
import pwd
import re
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402
import test_authd as ap  # noqa: E402  (the authd wire protocol)

BASE = '_factest'
ROLES = ('auth', 'smtp', 'relay', 'queue', 'login')
ALICE = 'alice@example.org'
PASSWORD = 'pw-of-alice-7Qx'
RELAY_SECRET = 'relay-secret-9ZkWq4'


def ids(pid):
    out = {}
    with open(f'/proc/{pid}/status', encoding='utf-8') as f:
        for line in f:
            k, _, v = line.partition(':')
            out[k] = v.split()
    return out


def descendants(pid):
    ps = ft.procs()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [k for k, (pp, _) in ps.items() if pp == p]
        out += kids
        todo += kids
    return out


def ident(pid, logs):
    """the log ident of pid (smtpd-smtp, imapd-login...) from the logs"""
    m = re.findall(rf'([a-z]+(?:-[a-z]+)?)\[{pid}\]', logs)
    return m[-1] if m else '?'


def memory_has(pid, needles):
    """{needle: [where]} for the needles (bytes) that occur in pid's
    readable private memory"""
    found = {}
    with open(f'/proc/{pid}/maps', encoding='utf-8') as f:
        maps = f.read().splitlines()
    with open(f'/proc/{pid}/mem', 'rb', 0) as mem:
        for ln in maps:
            parts = ln.split()
            lo, hi = (int(x, 16) for x in parts[0].split('-'))
            name = parts[5] if len(parts) > 5 else ''
            if parts[1][0] != 'r' or hi - lo > (256 << 20) or \
                    name in ('[vvar]', '[vsyscall]', '[vdso]'):
                continue
            if name.startswith('/') and parts[1][1] != 'w':
                continue        # read-only file mappings: code, not data
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, OverflowError, ValueError):
                continue
            for n in needles:
                i = data.find(n)
                if i >= 0:
                    found.setdefault(n, []).append(
                        f'{name or "anon"}+{i:#x}/{hi - lo:#x}: '
                        f'{data[max(0, i - 64):i + 32].hex()}')
    return found


def key_needles(keyfile):
    """byte strings that betray the private key: PEM lines, DER, and the
    private scalar as OpenSSL keeps it (little-endian words) and in DER"""
    pem = open(keyfile, encoding='ascii').read().splitlines()
    body = [ln for ln in pem if ln and not ln.startswith('-----')]
    out = [body[1][8:56].encode()]
    der = subprocess.run(['openssl', 'pkey', '-in', keyfile, '-outform',
                          'DER'], capture_output=True, check=True).stdout
    out.append(der[len(der) // 2 - 12:len(der) // 2 + 12])
    text = subprocess.run(['openssl', 'pkey', '-in', keyfile, '-text',
                           '-noout'], capture_output=True, text=True,
                          check=True).stdout
    m = re.search(r'priv:\s*\n((?:\s+[0-9a-f:]+\n)+)', text)
    scalar = bytes.fromhex(re.sub(r'[\s:]', '', m.group(1))).lstrip(b'\0')
    out.append(scalar[-16:])            # big-endian, the low half
    out.append(scalar[::-1][:16])       # little-endian, the low half
    return out


def as_uid(uid, gid, fn):
    """run fn() in a child as uid/gid; its return value (a small int)"""
    pid = os.fork()
    if pid == 0:
        rc = 99
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            rc = fn()
        except BaseException:  # pylint: disable=broad-except
            import traceback
            traceback.print_exc()
        os._exit(rc)
    _, st = os.waitpid(pid, 0)
    return os.WEXITSTATUS(st)


def refused(fn):
    """a wrapper: 0 when fn raises PermissionError (or EOF), 1 when not"""
    def run():
        try:
            fn()
        except (PermissionError, EOFError, ConnectionError, AssertionError):
            return 0
        return 1
    return run


def authd_answers(sock, typ, payload):
    """0: authd answered; 1: refused (closed); 2: answered FAIL"""
    def run():
        try:
            p = ap.Peer(sock)
            res, _ = p.call(typ, payload)
            return 2 if res == ap.FAIL and typ == ap.DKIM_SIGN else 0
        except (EOFError, ConnectionError, AssertionError, OSError):
            return 1
    return run


def main():
    if os.geteuid() != 0:
        print('# not root: the privilege separation cannot be tested here')
        print('0 passed, 0 failed')
        return 0
    ft.ensure_account(BASE)
    os.environ['FACTEUR_TEST_USER'] = BASE
    # the relay role started by the remote message below exits after a
    # minute idle; loaded, this test takes longer than that, and the
    # checks of its pid would meet a process that is gone: it stays here
    os.environ['FACTEUR_RELAY_IDLE_MS'] = str(3600 * 1000)
    env = ft.Env()
    smtp, sub, imap, relay_port = env.port(), env.port(), env.port(), \
        env.port()
    secret = env.path('relay.secret')
    with open(secret, 'w', encoding='ascii') as f:
        f.write(RELAY_SECRET + '\n')
    os.chown(secret, 0, 0)
    os.chmod(secret, 0o600)
    def config(dkim=None):
        env.write_config(smtp={'listen': [f'127.0.0.1:{smtp}'],
                               'submission': [f'127.0.0.1:{sub}'],
                               'timeout': '10s'},
                         imap={'listen': f'127.0.0.1:{imap}'},
                         greylist={'enable': True, 'delay': '1s'},
                     relay={'host': '127.0.0.1', 'port': str(relay_port),
                                'tls': 'starttls', 'verify': 'no',
                                'user': 'me', 'password_file': secret},
                         dkim=dkim)
    config()
    r = subprocess.run([env.binary('keytool'), '-c', env.conf, 'dkim',
                        'generate', 'example.org', 'privsep', '--ed25519'],
                       capture_output=True, text=True)
    sign = re.findall(r'^\s*sign = (.+)$', r.stdout, re.M)
    check(len(sign) == 1, 'keytool dkim generate', r.stdout)
    config({'sign': sign})
    # the production shape: root's directories, keytool as root
    for d in (env.tmp, env.state_dir, env.run_dir):
        os.chown(d, 0, 0)
        os.chmod(d, 0o755)
    os.chown(env.key, 0, 0)
    r = subprocess.run([env.binary('keytool'), '-c', env.conf, 'accounts'],
                       capture_output=True, text=True)
    check(r.returncode == 0 and ('useradd' in r.stdout or
                                 'exists' in r.stdout),
          'keytool accounts prints what to create', r.stdout + r.stderr)
    subprocess.run(['sh', '-e'], input=r.stdout, text=True, check=True)
    acct = {role: pwd.getpwnam(f'{BASE}-{role}') for role in ROLES}
    acct['mail'] = pwd.getpwnam(BASE)
    r = subprocess.run([env.binary('keytool'), '-c', env.conf, 'accounts'],
                       capture_output=True, text=True)
    check('useradd' not in r.stdout, 'keytool accounts: nothing missing now',
          r.stdout)
    r = subprocess.run([env.binary('keytool'), '-c', env.conf, 'user', 'add',
                        ALICE], input=PASSWORD + '\n', capture_output=True,
                       text=True)
    check(r.returncode == 0, 'keytool user add as root', r.stderr)
    users_db = os.path.join(env.state_dir, 'users.db')
    st = os.stat(users_db)
    check(st.st_uid == acct['auth'].pw_uid and st.st_mode & 0o777 == 0o600,
          'users.db is user-auth\'s, mode 0600', (st.st_uid, oct(st.st_mode)))

    logs = {}
    started = {}

    def start(name, ports):
        log = env.path('logs', f'{name}-root.log')
        logs[name] = log
        p = subprocess.Popen(  # pylint: disable=consider-using-with
            [env.binary(name), '-c', env.conf, '-d'],
            stdout=open(log, 'wb'), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=env.tmp, start_new_session=True,
            env=env._preexec_env(ft.DAEMON_ASAN))
        started[name] = p
        ok = all(ft.wait_port(pt, 15, p) for pt in ports)
        if name == 'authd':
            sock = os.path.join(env.run_dir, 'authd.sock')
            for _ in range(200):
                if os.path.exists(sock) or p.poll() is not None:
                    break
                time.sleep(0.05)
            ok = os.path.exists(sock)
        check(ok and p.poll() is None, f'{name} started as root',
              open(log, errors='replace').read()[-2000:])
        return ok

    try:
        if not (start('authd', []) and start('smtpd', [smtp]) and
                start('imapd', [imap])):
            return ft.summary()
        # a worker: log in over IMAP; mail through the chrooted session
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        m = imaplib.IMAP4_SSL('127.0.0.1', imap, ssl_context=ctx, timeout=20)
        m.login(ALICE, PASSWORD)
        check(m.select('INBOX')[0] == 'OK', 'IMAP login through user-login')
        # and over SMTP (submission): AUTH PLAIN, then the same password
        # wrong, so a failure path is crossed too
        for pw, want_code in ((PASSWORD, 235), (PASSWORD[::-1], 535)):
            c = ft.RawSMTP(sub)
            c.ehlo()
            c.cmd('STARTTLS')
            c.starttls()
            c.ehlo()
            cred = base64.b64encode(f'\0{ALICE}\0{pw}'.encode()).decode()
            code, text = c.cmd(f'AUTH PLAIN {cred}')
            check(code == want_code, f'AUTH PLAIN answers {want_code}', text)
            if code == 235:     # signed with authd's grant of this session
                code, text = c.mail_transaction(ALICE, [ALICE], (
                    f'From: <{ALICE}>\r\nSubject: signed\r\n'
                    'Message-ID: <privsep-auth@test>\r\n\r\nhi\r\n'
                    ).encode())
                check(code == 250, 'a submission after AUTH', text)
            c.close()
        # facteur-sendmail as root: authd's grant from SO_PEERCRED
        r = subprocess.run([env.binary('sendmail'), '-C', env.conf, ALICE],
                           input='From: <noreply@example.org>\nSubject: s\n'
                           'Message-ID: <privsep-local@test>\n\nhi\n',
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, 'facteur-sendmail as root', r.stderr)
        # mail to another domain: the queue asks the parent for the relay
        # role (forked on demand; smtpd/README.md), which tries the
        # smarthost (nothing listens: deferred) and stays a minute idle
        r = subprocess.run([env.binary('sendmail'), '-C', env.conf,
                            'bob@remote.test'],
                           input='From: <noreply@example.org>\nSubject: r\n'
                           'Message-ID: <privsep-remote@test>\n\nhi\n',
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, 'facteur-sendmail as root, remote', r.stderr)
        deadline = time.time() + 20
        while time.time() < deadline and not re.search(
                r'smtpd-relay\[\d+\]: relay: qid=\S+ to=<bob@remote\.test>',
                open(logs['smtpd'], errors='replace').read()):
            time.sleep(0.05)
        for mid in ('<privsep-auth@test>', '<privsep-local@test>'):
            found = env.wait_message(ALICE, mid)
            body = found[0] if found else b''
            check(b'DKIM-Signature:' in body and b'd=example.org' in body,
                  f'{mid} DKIM-signed through authd', body[:400])
        # greylisting: the chrooted smtp role writes state_dir/greylist.db
        # through the handle it opened as root, and the file is user-smtp's
        c = ft.RawSMTP(smtp)
        c.ehlo()
        c.cmd('MAIL FROM:<x@remote.test>')
        code, text = c.cmd(f'RCPT TO:<{ALICE}>')
        c.close()
        t_grey = time.time()
        check(code == 451, 'greylisting from the chroot: first try 451', text)
        gdb = os.path.join(env.state_dir, 'greylist.db')
        st = os.stat(gdb) if os.path.exists(gdb) else None
        check(st is not None and st.st_uid == acct['smtp'].pw_uid and
              st.st_mode & 0o777 == 0o600, 'greylist.db is user-smtp\'s, 0600',
              st and (st.st_uid, oct(st.st_mode)))
        time.sleep(max(0.0, t_grey + 1.05 - time.time()))
        c = ft.RawSMTP(smtp)
        c.ehlo()
        code, text = c.mail_transaction(
            'x@remote.test', [ALICE],
            b'Subject: privsep\r\nMessage-ID: <privsep@test>\r\n\r\nhi\r\n')
        c.close()
        check(code == 250, 'a message accepted by the smtp role', text)
        found = env.wait_message(ALICE, '<privsep@test>')
        check(len(found) == 1, 'delivered by the deliver role', len(found))
        for p in env.maildir_files(ALICE):
            check(os.stat(p).st_uid == acct['mail'].pw_uid,
                  'Maildir file is user\'s', p)
        r = subprocess.run([env.binary('ctl'), '-c', env.conf, 'status'],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0 and 'queue:' in r.stdout,
              'facteur-ctl (root) reaches the queue role', r.stdout + r.stderr)
        time.sleep(0.5)

        text = ''.join(open(l, errors='replace').read() for l in logs.values())
        run, state = os.path.realpath(env.run_dir), \
            os.path.realpath(env.state_dir)
        want = {   # ident -> (account, chroot, TLS key?, relay password?)
            'authd': ('auth', state, False, False),
            'smtpd': (None, '/', True, True),
            'smtpd-smtp': ('smtp', f'{run}/authd', True, False),
            'smtpd-queue': ('queue', f'{state}/queue', False, False),
            'smtpd-deliver': ('mail', '/', False, False),
            'smtpd-relay': ('relay', f'{run}/empty', False, True),
            'imapd': (None, '/', True, False),
            'imapd-login': ('login', f'{run}/authd', True, False),
            'imapd-worker': ('mail', os.path.realpath(env.mail_dir(ALICE)),
                             False, False),
        }
        pids = {}
        for name, p in started.items():
            for pid in [p.pid] + descendants(p.pid):
                pids[pid] = ident(pid, text)
        check(set(want) <= set(pids.values()),
              'a process for every role', pids)
        pss = {}
        for pid, who in pids.items():
            try:
                with open(f'/proc/{pid}/smaps_rollup', encoding='ascii') as f:
                    kb = int(re.search(r'^Pss:\s+(\d+)', f.read(),
                                       re.M).group(1))
            except (OSError, AttributeError):
                continue
            pss[who] = pss.get(who, 0) + kb
        print('# measure: PSS (KiB) ' + ', '.join(
            f'{w} {k}' for w, k in sorted(pss.items())) +
            f'; total {sum(pss.values())}')
        for pid, who in list(pids.items()):
            if who not in want:     # a role this test does not know yet
                try:
                    uid = ids(pid)['Uid'][0]
                except FileNotFoundError:
                    # gone since: authd's DKIM signer exits after an idle
                    # minute (it logs nothing, so it is "?")
                    del pids[pid]
                    continue
                check(uid != '0', f'{who} is not root', pid)
            # the account lookups run in a child that exits (lib/pwlookup.c)
            # so no NSS module stays mapped (issue 17: libnss_systemd and
            # its libcap and libm, 580 KiB over the daemons)
            try:
                with open(f'/proc/{pid}/maps', encoding='utf-8') as f:
                    nss = sorted({ln.split()[5] for ln in f
                                  if 'libnss_' in ln})
            except OSError:
                continue
            check(not nss, f'{who} ({pid}): no NSS module loaded', nss)
        keys = key_needles(env.key)
        pw_needle = RELAY_SECRET.encode()
        # the users' password, in clear and as AUTH PLAIN sends it
        logins = [PASSWORD.encode(), PASSWORD[::-1].encode()] + [
            base64.b64encode(f'\0{ALICE}\0{pw}'.encode())[8:]
            for pw in (PASSWORD, PASSWORD[::-1])]
        for pid, who in pids.items():
            if who not in want:
                continue
            role, root, has_key, has_pw = want[who]
            st = ids(pid)
            uid = '0' if role is None else str(acct[role].pw_uid)
            gid = '0' if role is None else str(acct[role].pw_gid)
            check(st['Uid'] == [uid] * 4 and st['Gid'] == [gid] * 4,
                  f'{who} runs as {role or "root"}', (st['Uid'], st['Gid']))
            if role is not None:
                check(st.get('Groups', []) in ([], [gid]),
                      f'{who}: no supplementary group', st.get('Groups'))
            got = os.path.realpath(f'/proc/{pid}/root')
            check(got == root, f'{who} chrooted into {root}', got)
            fds = []
            for fd in os.listdir(f'/proc/{pid}/fd'):
                try:
                    fds.append(os.readlink(f'/proc/{pid}/fd/{fd}'))
                except OSError:
                    pass
            # a role that holds the TLS key may hold it as the open file
            # its parent passed (loaded when TLS is first needed)
            key_open = any(f.endswith('key.pem') for f in fds)
            check(not any(f.endswith('relay.secret') for f in fds) and
                  (has_key or not key_open),
                  f'{who}: no key or secret file open'
                  f'{" but the TLS key" if has_key else ""}', fds)
            if who != 'authd':
                check(not any(f.endswith(('users.db', 'aliases.db'))
                              for f in fds),
                      f'{who}: no user database open', fds)
            found = memory_has(pid, keys + [pw_needle] + logins)
            check(not any(n in found for n in logins),
                  f'{who}: no user password left in memory',
                  [found[n] for n in logins if n in found])
            kf = [found[n] for n in keys if n in found]
            if has_key:
                check(kf or key_open, f'{who} holds the TLS key, in memory '
                      'or as its open file (the check sees it)')
            else:
                check(not kf, f'{who}: no TLS private key in memory', kf)
            check((pw_needle in found) == has_pw,
                  f'{who}: relay password {"" if has_pw else "not "}in '
                  'memory')

        # as each role's uid: what it must not do
        sock = os.path.join(env.run_dir, 'authd.sock')
        ctl = os.path.join(env.run_dir, 'smtpd-ctl.sock')
        by_role = {}
        for pid, who in pids.items():
            role = want.get(who, (None,))[0]
            if role is not None:
                by_role.setdefault(role, []).append(pid)
        login_req = (ap.s('imap') + ap.s(ALICE) + ap.s('wrong') +
                     ap.s('192.0.2.9'))
        # a signature needs a grant authd gave this process (issue 16)
        dkim_req = (ap.s('example.org') + ap.s('sel') + ap.u32(1) +
                    ap.data(b'\x5a' * 32) + ap.data(os.urandom(16)))
        rcpt_req = ap.s(ALICE)
        may = {'smtp': {'login', 'dkim', 'rcpt'}, 'login': {'login'},
               'auth': {'login', 'dkim', 'rcpt'}}
        for role in ('smtp', 'relay', 'queue', 'login', 'mail'):
            a = acct[role]
            u, g = a.pw_uid, a.pw_gid
            check(as_uid(u, g, refused(lambda: open(users_db, 'rb'))) == 0,
                  f'{role}: cannot read users.db')
            check(as_uid(u, g, refused(lambda: open(users_db, 'r+b'))) == 0,
                  f'{role}: cannot write users.db')
            check(as_uid(u, g, refused(lambda: open(
                os.path.join(env.state_dir, 'x'), 'wb'))) == 0,
                f'{role}: cannot create files beside users.db')
            for what, typ, req in (('login', ap.LOGIN, login_req),
                                   ('dkim', ap.DKIM_SIGN, dkim_req),
                                   ('rcpt', ap.RCPT, rcpt_req)):
                ok = what in may.get(role, set())
                rc = as_uid(u, g, authd_answers(sock, typ, req))
                if ok and what == 'dkim':
                    check(rc == 2, f'{role}: authd refuses to sign a '
                          'digest without its grant', rc)
                    continue
                check(rc == (0 if ok else 1),
                      f'{role}: authd {"answers" if ok else "refuses"} '
                      f'{what}', rc)
            s = socket.socket(socket.AF_UNIX)

            def reach_ctl():
                s.connect(ctl)
            check(as_uid(u, g, refused(reach_ctl)) == 0,
                  f'{role}: cannot reach the control socket')
            for other, opids in by_role.items():
                if acct[other].pw_uid == u:
                    continue
                for op in opids:
                    check(as_uid(u, g, refused(
                        lambda op=op: os.kill(op, 0))) == 0,
                        f'{role}: cannot signal {other} (pid {op})')
                    check(as_uid(u, g, refused(
                        lambda op=op: open(f'/proc/{op}/mem', 'rb'))) == 0,
                        f'{role}: cannot read the memory of {other}')
        # smtpd-deliver and the imapd workers share `user` (README "Who
        # runs as whom" says why): same uid, yet neither can read the
        # other's memory (a process that changed uid is not dumpable)
        a = acct['mail']
        for op in by_role.get('mail', []):
            check(as_uid(a.pw_uid, a.pw_gid, refused(
                lambda op=op: open(f'/proc/{op}/mem', 'rb'))) == 0,
                f'mail: cannot read the memory of {pids[op]} (same uid)')
        m.logout()
    finally:
        for name in ('imapd', 'smtpd', 'authd'):
            p = started.get(name)
            if p is None:
                continue
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        for name, log in logs.items():
            t = open(log, errors='replace').read()
            check(not any(mk in t for mk in ft.SANITIZER_MARKS),
                  f'no sanitizer report in {name}', t[-2000:])
            if ft.failed_count():
                print('# ---- ' + log)
                print(''.join('# | ' + ln + '\n'
                              for ln in t.splitlines()[-40:]))
        env.cleanup()
    return ft.summary()


if __name__ == '__main__':
    sys.exit(main())
