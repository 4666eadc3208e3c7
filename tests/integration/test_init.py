# SPDX-License-Identifier: ISC
"""test_init - putting facteur on a box (issue 7): `make install` with
DESTDIR/PREFIX/INIT lays out the tree it promises, and the sysvinit/busybox
script (init/facteur.init, as installed) starts the daemons on a first
start with missing directories, reports status, reloads and stops them;
the systemd units' ExecReload lines, run as systemd would, refuse a bad
facteur.conf with its FILE:LINE and signal nothing.

Run as root (CI) the script starts the daemons as root, as init would:
it creates the role accounts of `user` (_factest: _factest-auth, ...),
they create their directories, drop to them and chroot.  As an
ordinary user they keep the caller's ids.  The script runs under /bin/sh
(dash on Debian), as its first line says; busybox sh parses it too."""

import os
import shlex
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facteur_test as ft  # noqa: E402
from facteur_test import check  # noqa: E402

if os.geteuid() == 0:
    ft.ensure_account('_factest')
    os.environ['FACTEUR_TEST_USER'] = '_factest'
env = ft.Env()
BUILD = os.path.dirname(os.path.abspath(ft.BIN))
PROGS = sorted(f for f in os.listdir(ft.BIN) if f.startswith('facteur-'))


def detaches(d):
    """The script expects a daemon started without -d to detach once ready
    (lib/daemon.c daemon_detach); facteur-smtpd is checked here once its
    main calls it, which the test sees in its source."""
    if d != 'smtpd':
        return True
    src = os.path.join(ft.SRC, 'smtpd', 'smtpd.c')
    try:
        return 'daemon_detach' in open(src, encoding='utf-8').read()
    except OSError:
        return False


DAEMONS = [d for d in ('authd', 'smtpd', 'imapd')
           if f'facteur-{d}' in PROGS and detaches(d)]
# the script runs as its #!/bin/sh line says (dash on Debian, as init runs
# it), and again under busybox sh (test_script_under_busybox)
SHELL = ['/bin/sh']


def exec_reload(unit, dest, conf):
    """The unit's ExecReload= lines run in order as systemd does (the first
    that fails ends the reload), the installed paths taken under dest and
    conf for /etc/facteur/facteur.conf, $MAINPID a sleeping process.
    Returns the last command's result and whether that process got its
    SIGHUP."""
    text = open(unit, encoding='utf-8').read()
    cmds = [ln.split('=', 1)[1] for ln in text.splitlines()
            if ln.startswith('ExecReload=')]
    p = subprocess.Popen(['sleep', '60'])
    r = None
    try:
        for c in cmds:
            c = (c.replace('/usr/sbin/', os.path.join(dest, 'usr/sbin/'))
                 .replace('/etc/facteur/facteur.conf', conf)
                 .replace('$MAINPID', str(p.pid)))
            r = subprocess.run(shlex.split(c), capture_output=True,
                               text=True, timeout=30)
            if r.returncode != 0:
                break
        if r and r.returncode == 0:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        return r, p.poll() == -signal.SIGHUP
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def make_install(destdir, **kw):
    """make install INSTALL_NOBUILD=1 B=<the binaries' build dir> ...;
    the environment of an enclosing make is left out"""
    e = {k: v for k, v in os.environ.items()
         if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'MAKEOVERRIDES')}
    args = ['make', '-s', '--no-print-directory', 'install',
            'INSTALL_NOBUILD=1', f'B={BUILD}', f'DESTDIR={destdir}']
    args += [f'{k}={v}' for k, v in kw.items()]
    return subprocess.run(args, cwd=ft.SRC, env=e, capture_output=True,
                          text=True, timeout=120)


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def no_placeholders(root):
    bad = []
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if f.startswith('facteur-') and d.endswith('sbin'):
                continue        # binaries
            with open(p, 'rb') as fh:
                data = fh.read()
            if b'@SBINDIR@' in data or b'@SYSCONFDIR@' in data:
                bad.append(p)
    return bad


def test_install_usr():
    dest = env.path('dest-usr')
    r = make_install(dest, PREFIX='/usr')
    check(r.returncode == 0, 'make install PREFIX=/usr', r.stderr)
    for p in PROGS:
        f = os.path.join(dest, 'usr/sbin', p)
        check(os.path.isfile(f) and mode(f) == 0o755, f'{p} in /usr/sbin, 0755')
    ex = os.path.join(dest, 'etc/facteur/facteur.conf.example')
    with open(os.path.join(ft.SRC, 'conf/facteur.conf.example'), 'rb') as a:
        want = a.read()
    check(os.path.isfile(ex) and open(ex, 'rb').read() == want,
          'example config in /etc/facteur')
    conf = os.path.join(dest, 'etc/facteur/facteur.conf')
    check(os.path.isfile(conf) and mode(conf) == 0o644,
          'facteur.conf installed when there was none')
    # the README's next step after make install is "First run": setup.
    # The installed file used to be the full example, so setup refused it
    # ("facteur is set up already"); now a placeholder that the daemons
    # refuse by naming setup, and that setup replaces without --force.
    sbin = os.path.join(dest, 'usr/sbin')
    r = subprocess.run([os.path.join(sbin, 'facteur-smtpd'), '-c', conf,
                        '-d'], capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and 'not set up yet' in r.stderr and
          'facteur-keytool -c ' + conf + ' setup DOMAIN' in r.stderr,
          'a daemon on the installed facteur.conf names setup', r.stderr)
    r = subprocess.run(['/bin/sh', '-c', f'echo pw-of-alice | {sbin}/'
                        f'facteur-keytool -c {conf} setup example.org '
                        f'--user alice@example.org --dir {dest}/srv '
                        f'--account {env.user}'],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and 'domains' in open(conf).read(),
          'setup replaces the installed facteur.conf without --force',
          r.stderr)
    script = os.path.join(dest, 'etc/init.d/facteur')
    check(os.path.isfile(script) and mode(script) == 0o755,
          'sysv script in /etc/init.d, 0755')
    text = open(script, encoding='utf-8').read()
    check('/etc/facteur/facteur.conf' in text and '/usr/sbin' in text,
          'sysv script has the real paths')
    r = subprocess.run(SHELL + ['-n', script], capture_output=True, text=True)
    check(r.returncode == 0, 'sysv script parses', r.stderr)
    if shutil.which('busybox'):
        r = subprocess.run(['busybox', 'sh', '-n', script],
                           capture_output=True, text=True)
        check(r.returncode == 0, 'sysv script parses with busybox sh',
              r.stderr)
    for d in ('authd', 'smtpd', 'imapd'):
        u = os.path.join(dest, f'usr/lib/systemd/system/facteur-{d}.service')
        t = open(u, encoding='utf-8').read() if os.path.isfile(u) else ''
        check(f'ExecStart=/usr/sbin/facteur-{d} -c /etc/facteur/facteur.conf -d'
              in t, f'systemd unit for {d}', t[:300])
        for opt in ('NoNewPrivileges=yes', 'ProtectSystem=strict',
                    'PrivateTmp=yes', 'CapabilityBoundingSet=CAP_'):
            check(opt in t, f'facteur-{d}.service has {opt}')
        # systemctl reload: the file is read first, as the sysv script
        # does; a bad one fails the reload with FILE:LINE, nothing signalled
        good = open(conf, encoding='utf-8').read()
        with open(conf, 'a', encoding='utf-8') as f:
            f.write('max_sizee = 35M\n')
        r, hup = exec_reload(u, dest, conf)
        check(r and r.returncode == 1 and conf + ':' in r.stderr and
              not hup, f'facteur-{d}.service: ExecReload of a bad '
              'configuration fails with the error, signals nothing',
              (r, hup))
        with open(conf, 'w', encoding='utf-8') as f:
            f.write(good)
        r, hup = exec_reload(u, dest, conf)
        check(r and r.returncode == 0 and hup, f'facteur-{d}.service: '
              'ExecReload of a good one sends SIGHUP', (r, hup))
    su = os.path.join(dest, 'usr/lib/sysusers.d/facteur.conf')
    check(os.path.isfile(su) and '_facteur' in open(su).read(),
          'sysusers.d file creates _facteur')
    check(not no_placeholders(dest), 'no @...@ placeholder left',
          no_placeholders(dest))
    # a second install keeps an edited facteur.conf
    with open(conf, 'a', encoding='utf-8') as f:
        f.write('# edited\n')
    r = make_install(dest, PREFIX='/usr')
    check(r.returncode == 0 and open(conf).read().endswith('# edited\n'),
          'reinstall keeps the admin\'s facteur.conf')


def test_install_local_openwrt_synology():
    dest = env.path('dest-local')
    r = make_install(dest)
    check(r.returncode == 0, 'make install (PREFIX=/usr/local)', r.stderr)
    # the configuration where the programs look without -c
    # (/etc/facteur/facteur.conf, SPEC 3) and the sysv script where init
    # runs it, whatever PREFIX is; the units name that file too
    check(os.path.isfile(os.path.join(
        dest, 'etc/facteur/facteur.conf.example')) and
        os.path.isfile(os.path.join(dest, 'etc/facteur/facteur.conf')),
        'PREFIX=/usr/local: config under /etc/facteur',
        subprocess.run(['find', dest], capture_output=True,
                       text=True).stdout[:1000])
    check(os.path.isfile(os.path.join(dest, 'etc/init.d/facteur')),
          'PREFIX=/usr/local: sysv script in /etc/init.d')
    unit = os.path.join(dest,
                        'usr/local/lib/systemd/system/facteur-smtpd.service')
    text = open(unit).read() if os.path.isfile(unit) else ''
    check('-c /etc/facteur/facteur.conf' in text and
          '/usr/local/sbin/facteur-smtpd' in text,
          'PREFIX=/usr/local: the unit runs /usr/local/sbin with '
          '/etc/facteur/facteur.conf', text[:600])
    check(os.path.isfile(os.path.join(
        dest, 'usr/local/lib/systemd/system/facteur-authd.service')),
        'PREFIX=/usr/local: units under /usr/local/lib/systemd/system')
    dest = env.path('dest-owrt')
    r = make_install(dest, PREFIX='/usr', INIT='openwrt')
    script = os.path.join(dest, 'etc/init.d/facteur')
    text = open(script).read() if os.path.isfile(script) else ''
    check(r.returncode == 0 and 'USE_PROCD=1' in text and
          'procd_set_param command "$SBIN/facteur-$d" -c "$CONF" -d' in text
          and 'SBIN=/usr/sbin' in text, 'INIT=openwrt: procd script',
          r.stderr + text[:200])
    check(not os.path.exists(os.path.join(dest, 'usr/lib/systemd')),
          'INIT=openwrt: no systemd units')
    # an install made before /etc was the default, set up in place: an
    # upgrade keeps naming that file
    dest = env.path('dest-old-local')
    old = os.path.join(dest, 'usr/local/etc/facteur/facteur.conf')
    os.makedirs(os.path.dirname(old))
    with open(old, 'w', encoding='utf-8') as f:
        f.write('# facteur.conf for example.org, written by setup\n')
    r = make_install(dest)
    unit = os.path.join(dest,
                        'usr/local/lib/systemd/system/facteur-smtpd.service')
    text = open(unit).read() if os.path.isfile(unit) else ''
    check(r.returncode == 0 and
          '-c /usr/local/etc/facteur/facteur.conf' in text and
          os.path.isfile(os.path.join(dest, 'usr/local/etc/init.d/facteur'))
          and not os.path.exists(os.path.join(dest, 'etc/facteur')) and
          'keeping /usr/local/etc/facteur/facteur.conf' in r.stderr,
          'upgrade of an older /usr/local install keeps its set-up '
          'configuration', r.stderr + text[:400])
    dest = env.path('dest-syno')
    r = make_install(dest, PREFIX='/usr', INIT='synology')
    s = os.path.join(dest, 'usr/share/facteur/synology')
    ok = all(os.path.isfile(os.path.join(s, p)) for p in
             ('INFO', 'conf/privilege', 'scripts/start-stop-status'))
    check(r.returncode == 0 and ok and
          mode(os.path.join(s, 'scripts/start-stop-status')) == 0o755,
          'INIT=synology: INFO, conf/privilege, scripts/start-stop-status',
          r.stderr)
    r = make_install(env.path('dest-bad'), INIT='upstart')
    check(r.returncode != 0 and 'INIT=upstart' in r.stderr,
          'an unknown INIT is refused', r.stderr)


def script(*args, timeout=180, sbin=None, start_wait='60'):
    e = dict(os.environ)
    e['FACTEUR_CONF'] = env.conf
    e['FACTEUR_SBIN'] = sbin or env.bin
    e['FACTEUR_STOP_WAIT'] = '20'
    e['FACTEUR_START_WAIT'] = start_wait
    # a root start chroots: no leak check there (as test_authd does)
    e['ASAN_OPTIONS'] = 'detect_leaks=0:halt_on_error=1'
    e['UBSAN_OPTIONS'] = ft.UBSAN
    path = os.path.join(ft.SRC, 'init', 'facteur.init')
    inst = env.path('script')
    if not os.path.exists(inst):
        with open(path, encoding='utf-8') as f:
            text = f.read().replace('@SBINDIR@', '/nonexistent').replace(
                '@SYSCONFDIR@', '/nonexistent')
        with open(inst, 'w', encoding='utf-8') as f:
            f.write(text)
    return subprocess.run(SHELL + [inst] + list(args), env=e,
                          capture_output=True, text=True, timeout=timeout)


def pid_file(name):
    return os.path.join(FRESH, 'run', f'{name}.pid')


def pid(name):
    try:
        with open(pid_file(name)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def alive(p):
    """p runs: a zombie has stopped (this container's init may reap it
    seconds later; the init script counts it as stopped too)"""
    try:
        os.kill(p, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f'/proc/{p}/stat', encoding='utf-8') as f:
            return ') Z ' not in f.read()
    except OSError:
        return False


def imap_banner(port):
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    with socket.create_connection(('127.0.0.1', port), timeout=30) as s:
        with c.wrap_socket(s) as t:
            return t.recv(200)


FRESH = env.path('fresh')


def test_script_start_status_stop():
    imap, smtp = env.port(), env.port()
    # directories that do not exist yet: the first start makes them
    env.write_config(state_dir=os.path.join(FRESH, 'state'),
                     run_dir=os.path.join(FRESH, 'run'),
                     mail_dir=os.path.join(FRESH, 'mail', '%d', '%u'),
                     imap={'listen': [f'127.0.0.1:{imap}']},
                     smtp={'listen': [f'127.0.0.1:{smtp}']})
    os.mkdir(FRESH, 0o755)
    r = script('status', *DAEMONS)
    check(r.returncode == 3, 'status before start: 3 (not running)',
          r.stdout + r.stderr)
    t0 = time.time()
    r = script('start', *DAEMONS)
    check(r.returncode == 0, 'start exits 0', r.stdout + r.stderr)
    print(f'# start took {time.time() - t0:.1f} s')
    for d in DAEMONS:
        p = pid(d)
        check(p is not None and alive(p), f'{d} running with a pid file',
              r.stdout + r.stderr)
    run, state = os.path.join(FRESH, 'run'), os.path.join(FRESH, 'state')
    check(os.path.isdir(run) and mode(run) == 0o755, 'run_dir made, 0755')
    check(os.path.isdir(state) and mode(state) == 0o755,
          'state_dir made, 0755')
    dom = os.path.join(FRESH, 'mail', 'example.org')
    # made once started (qemu: slow): mkdir, then chown and chmod, so
    # wait for all three
    def made():
        try:
            st = os.stat(dom)
        except FileNotFoundError:
            return None
        return st if stat.S_ISDIR(st.st_mode) and stat.S_IMODE(
            st.st_mode) == 0o700 and st.st_uid == env.uid else None
    deadline = time.time() + 10
    while not made() and time.time() < deadline:
        time.sleep(0.1)
    st = made()
    check(st is not None, 'mail directory of the domain made for '
          f'{env.user}, 0700')
    if 'imapd' in DAEMONS:
        check(imap_banner(imap).startswith(b'* OK'), 'imapd serves IMAPS')
    if 'smtpd' in DAEMONS:
        check(ft.wait_port(smtp, 30), 'smtpd listens')
    r = script('status', *DAEMONS)
    check(r.returncode == 0 and r.stdout.count('running (pid') ==
          len(DAEMONS), 'status: all running', r.stdout)
    r = script('start', *DAEMONS)
    check(r.returncode == 0 and 'already running' in r.stdout,
          'a second start leaves them alone', r.stdout)
    pids = {d: pid(d) for d in DAEMONS}
    r = script('reload', *DAEMONS)
    time.sleep(1)
    check(r.returncode == 0 and all(alive(p) for p in pids.values()),
          'reload: SIGHUP, still running', r.stdout + r.stderr)
    # a configuration with an error: reload says where, exits 1, and
    # signals nobody (the daemons would only have logged it)
    good = open(env.conf, encoding='utf-8').read()
    with open(env.conf, 'a', encoding='utf-8') as f:
        f.write('max_sizee = 35M\n')
    r = script('reload', *DAEMONS)
    check(r.returncode == 1 and 'facteur.conf:' in r.stderr and
          'nothing reloaded' in r.stderr and
          'reload requested' not in r.stdout,
          'reload of a bad configuration: the error, exit 1',
          r.stdout + r.stderr)
    r = script('restart', *DAEMONS)
    check(r.returncode == 1 and 'facteur.conf:' in r.stderr and
          'nothing restarted' in r.stderr and 'stopped' not in r.stdout,
          'restart with a bad configuration stops nothing',
          r.stdout + r.stderr)
    with open(env.conf, 'w', encoding='utf-8') as f:
        f.write(good)
    check(all(alive(p) for p in pids.values()),
          'the daemons still run after the refused reload')
    r = script('stop', *DAEMONS)
    check(r.returncode == 0, 'stop exits 0', r.stdout + r.stderr)
    check(not any(alive(p) for p in pids.values()),
          'stop: every daemon is gone', r.stdout)
    check('killing' not in r.stderr, 'stopped by SIGTERM in time', r.stderr)
    left = [d for d in DAEMONS if os.path.exists(pid_file(d))]
    check(not left, 'stop removes the pid files', left)
    r = script('status', *DAEMONS)
    check(r.returncode == 3, 'status after stop: 3', r.stdout)
    # the one-daemon form
    r = script('start', 'authd')
    check(r.returncode == 0 and pid('authd') and alive(pid('authd')),
          'start authd alone', r.stdout + r.stderr)
    r = script('status', *DAEMONS)
    check(r.returncode == (0 if DAEMONS == ['authd'] else 1),
          'status with one of several running: 1', r.stdout)
    r = script('stop', 'authd')
    check(r.returncode == 0 and not os.path.exists(pid_file('authd')),
          'stop authd, its pid file removed', r.stdout + r.stderr)


def test_script_stale_pid():
    """The walk-through found the pid files still there after a stop.  A
    stale one, whose pid another program has since, must not make stop
    signal that program: it is removed, and so is one naming a process
    that is gone."""
    os.makedirs(os.path.join(FRESH, 'run'), exist_ok=True)
    other = subprocess.Popen(['sleep', '60'])
    gone = subprocess.Popen(['true'])
    gone.wait()
    try:
        for i, d in enumerate(DAEMONS):
            with open(pid_file(d), 'w', encoding='utf-8') as f:
                f.write(f'{other.pid if i % 2 == 0 else gone.pid}\n')
        r = script('status', *DAEMONS)
        check(r.returncode == 3, 'status with stale pid files: not running',
              r.stdout)
        r = script('stop', *DAEMONS)
        check(r.returncode == 0 and r.stdout.count(
            'not running (stale pid file removed)') == len(DAEMONS),
              'stop says the pid files were stale', r.stdout + r.stderr)
        check(other.poll() is None, 'the process a stale pid file named '
              'was not signalled')
        left = [d for d in DAEMONS if os.path.exists(pid_file(d))]
        check(not left, 'stale pid files removed', left)
        r = script('stop', *DAEMONS)
        check(r.returncode == 0 and 'stale' not in r.stdout and
              r.stdout.count('not running') == len(DAEMONS),
              'stop without pid files: not running', r.stdout)
    finally:
        other.kill()
        other.wait()


def test_script_start_failures():
    """a daemon that fails, and one that never detaches: start says so
    and does not hang"""
    fake = env.path('fake-sbin')
    os.mkdir(fake, 0o755)
    for name, body in (('authd', 'echo broken config >&2; exit 1'),
                       ('imapd', 'exec sleep 5 >/dev/null 2>&1')):
        with open(os.path.join(fake, f'facteur-{name}'), 'w') as f:
            f.write(f'#!/bin/sh\n{body}\n')
        os.chmod(os.path.join(fake, f'facteur-{name}'), 0o755)
    r = script('start', 'authd', sbin=fake)
    check(r.returncode == 1 and 'facteur-authd failed to start' in r.stderr,
          'a daemon that exits 1: start fails', r.stdout + r.stderr)
    t0 = time.time()
    r = script('start', 'imapd', sbin=fake, start_wait='1')
    check(r.returncode == 1 and 'did not detach within 1 s' in r.stderr and
          time.time() - t0 < 4, 'a daemon that does not detach: start '
          'gives up after FACTEUR_START_WAIT', r.stdout + r.stderr)


def test_script_under_busybox():
    """The same start, status, reload and stop, and the stale pid files,
    under busybox sh (OpenWrt, NAS firmware), when it is installed."""
    global SHELL  # pylint: disable=global-statement
    if not shutil.which('busybox'):
        print('# no busybox: skipped', flush=True)
        return
    SHELL = ['busybox', 'sh']
    shutil.rmtree(FRESH)        # a first start again
    try:
        test_script_start_status_stop()
        test_script_stale_pid()
    finally:
        SHELL = ['/bin/sh']


ft.run_tests(env, [test_install_usr, test_install_local_openwrt_synology,
                   test_script_start_status_stop, test_script_stale_pid,
                   test_script_under_busybox,
                   test_script_start_failures])
