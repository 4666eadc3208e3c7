# SPDX-License-Identifier: ISC
"""test_privsep - facteur-smtpd started as root (SPEC 5): the parent keeps
root only to bind and read the key; every role runs as `user`; the SMTP
sessions are chrooted into run_dir; mail still flows (authd lookup from
inside the chroot, delivery, facteur-ctl over the socket the parent made).

CI runs make check as root, so this runs there; as an ordinary user it
checks nothing and says so (the other tests cover the unprivileged start).
"""

import os
import pwd
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

ALICE = 'alice@example.org'


def children(pid):
    out = subprocess.run(['ps', '-o', 'pid=', '--ppid', str(pid)],
                         capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def main():
    if os.geteuid() != 0:
        print('# not root: the privilege drop cannot be tested here')
        print('0 passed, 0 failed')
        return 0
    env = ft.Env()
    port = env.port()
    env.write_config(smtp={'listen': [f'127.0.0.1:{port}'], 'timeout': '10s'})
    env.add_user(ALICE, 'pw alice')
    env.start('authd')
    uid = pwd.getpwnam(env.user).pw_uid
    log = open(env.path('logs', 'smtpd-root.log'), 'wb')
    proc = subprocess.Popen([env.binary('smtpd'), '-c', env.conf, '-d'],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            cwd=env.tmp, start_new_session=True,
                            env=env._preexec_env(ft.DAEMON_ASAN))
    try:
        ok = ft.wait_port(port, 15, proc)
        check(ok, 'smtpd started as root listens')
        time.sleep(0.5)
        kids = children(proc.pid)
        check(len(kids) == 4, 'four roles forked', kids)
        check(os.stat(f'/proc/{proc.pid}').st_uid == 0,
              'the parent stays root (to bind and restart the roles)')
        roots = {}
        for k in kids:
            st = os.stat(f'/proc/{k}')
            with open(f'/proc/{k}/status') as f:
                ids = [ln for ln in f if ln.startswith(('Uid:', 'Gid:'))]
            check(st.st_uid == uid and all(
                set(ln.split()[1:]) == {str(uid if ln.startswith('Uid') else
                                            pwd.getpwnam(env.user).pw_gid)}
                for ln in ids),
                f'role {k} runs as {env.user} (real, effective, saved)', ids)
            roots[k] = os.readlink(f'/proc/{k}/root')
        check(sum(1 for r in roots.values()
                  if os.path.realpath(r) == os.path.realpath(env.run_dir)) == 1,
              'exactly one role (the SMTP sessions) is chrooted into run_dir',
              roots)
        c = ft.RawSMTP(port)
        c.ehlo()
        msg = b'Subject: privsep\r\nMessage-ID: <privsep@test>\r\n\r\nhello\r\n'
        code, text = c.mail_transaction('x@remote.test', [ALICE], msg)
        c.close()
        check(code == 250, 'a message accepted by the chrooted session', text)
        found = env.wait_message(ALICE, '<privsep@test>')
        check(len(found) == 1, 'delivered to the Maildir', len(found))
        for p in env.maildir_files(ALICE):
            check(os.stat(p).st_uid == uid, f'Maildir file owned by {env.user}',
                  p)
        r = env.tool('ctl', 'status')
        check(r.returncode == 0 and 'queue:' in r.stdout,
              'facteur-ctl reaches the queue role as user', r.stdout + r.stderr)
        sock = os.path.join(env.run_dir, 'smtpd-ctl.sock')
        st = os.stat(sock)
        check(st.st_uid == uid and (st.st_mode & 0o077) == 0,
              'control socket private to user', oct(st.st_mode))
    finally:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        log.close()
        env.stop_all()
        text = open(env.path('logs', 'smtpd-root.log'), errors='replace').read()
        check(not any(m in text for m in ft.SANITIZER_MARKS),
              'no sanitizer report in smtpd', text[-2000:])
        if ft.failed_count():
            print(text[-3000:])
        env.cleanup()
    return ft.summary()


if __name__ == '__main__':
    sys.exit(main())
