# SPDX-License-Identifier: ISC
"""facteur_test - shared harness for tests/integration/test_*.py (stdlib only).

Each test script does, roughly:

    import facteur_test as ft
    env = ft.Env()                      # TMP with state/ run/ mail/ tls/ logs/
    smtp = env.port()                   # a free loopback port
    env.write_config(domains='example.org',
                     smtp={'listen': [f'127.0.0.1:{smtp}'], 'timeout': '3s'})
    env.add_user('alice@example.org', 'secret pw')
    env.start('authd')                  # waits for run_dir/authd.sock
    env.start('smtpd', ports=[smtp])    # waits until the port accepts
    ...
    ft.check(cond, 'what is checked', detail)
    env.stop_all()                      # SIGTERM; a sanitizer report in a log fails
    sys.exit(ft.summary())              # prints "N passed, M failed"

or uses ft.run_tests(env, [functions]), which calls each function, counts an
exception as a failure with its traceback, then stops the daemons, and exits.

Environment: FACTEUR_BIN (directory of the facteur-* binaries, default
build-san/bin of the repository), FACTEUR_SRC (repository root),
FACTEUR_KEEP=1 keeps the temporary directory, FACTEUR_VERBOSE=1 prints the
passing checks too, FACTEUR_SKIP="test_a test_b" leaves out those
functions of run_tests() (make check's musl suite: the slow timing and
memory measurements, which the glibc run makes).

Run as root (CI), the daemons and facteur-keytool run as the user `nobody`
(FACTEUR_TEST_USER) from a copy of the binaries inside TMP, since SPEC 3
tests run as an ordinary user and a root checkout may not be readable by
others; the harness itself stays root and reads everything.
"""

import fcntl
import os
import pwd
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

SRC = os.environ.get('FACTEUR_SRC') or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get('FACTEUR_BIN') or os.path.join(SRC, 'build-san', 'bin')
VERBOSE = bool(os.environ.get('FACTEUR_VERBOSE'))

_passed = 0
_failed = 0

# sanitizer settings for daemons (killed by signals: no leak check) and for
# the command-line tools (leaks reported)
DAEMON_ASAN = 'detect_leaks=0:abort_on_error=0:halt_on_error=1'
TOOL_ASAN = 'detect_leaks=1:abort_on_error=0'
UBSAN = 'print_stacktrace=1:halt_on_error=1'
SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer',
                   'runtime error:', 'ERROR: UndefinedBehaviorSanitizer')


def check(cond, name, detail=''):
    """Count one check; print it when it fails (or always if VERBOSE)."""
    global _passed, _failed
    if cond:
        _passed += 1
        if VERBOSE:
            print(f'ok - {name}', flush=True)
    else:
        _failed += 1
        msg = f'FAIL - {name}'
        if detail:
            d = detail if isinstance(detail, str) else repr(detail)
            if len(d) > 2000:
                d = d[:2000] + '...'
            msg += f': {d}'
        print(msg, flush=True)
    return bool(cond)


def summary():
    """Print "N passed, M failed"; return the exit status for sys.exit."""
    print(f'{_passed} passed, {_failed} failed', flush=True)
    return 1 if _failed else 0


def failed_count():
    return _failed


def run_tests(env, tests):
    """Run each test function (no argument), count exceptions as failures,
    stop the daemons, print the summary and exit."""
    skip = os.environ.get('FACTEUR_SKIP', '').split()
    for t in tests:
        name = t.__name__
        if name in skip:
            print(f'# {name}: skipped (FACTEUR_SKIP)', flush=True)
            continue
        before = _failed
        start = time.time()
        try:
            t()
        except Exception:  # pylint: disable=broad-except
            check(False, f'{name} raised', traceback.format_exc())
        took = time.time() - start
        status = 'ok' if _failed == before else 'FAILED'
        print(f'# {name}: {status} ({took:.1f} s)', flush=True)
    env.stop_all()
    if _failed:
        env.dump_logs()
    env.cleanup()
    sys.exit(summary())


def main(env, setup, tests):
    """The end of every test script: run setup(), then the tests (those named
    in the environment variable ONLY, when set) with run_tests().  A setup
    that raises counts as one failure and shows the daemons' logs.  env is
    the Env, or a function returning it where setup() makes it."""
    get = env if callable(env) else lambda: env
    try:
        setup()
    except Exception:  # pylint: disable=broad-except
        check(False, 'setup', traceback.format_exc())
        if get():
            get().stop_all()
            get().dump_logs()
            get().cleanup()
        sys.exit(summary())
    only = os.environ.get('ONLY', '').split()
    run_tests(get(), [t for t in tests if not only or t.__name__ in only])


def ensure_account(name):
    """As root: create the system account name (and its group) if it is
    missing; kept for the next run (test_privsep, test_init)."""
    if subprocess.run(['id', '-u', name], capture_output=True).returncode:
        subprocess.run(['useradd', '--system', '--user-group',
                        '--no-create-home', '--home-dir', '/nonexistent',
                        '--shell', '/usr/sbin/nologin', name], check=True)


def root_env(base):
    """As root: an Env whose daemons start as root and drop to the role
    accounts of base, as in production (README "Who runs as whom"); its
    tools (keytool accounts, user add) run as root, as an admin's do."""
    ensure_account(base)
    os.environ['FACTEUR_TEST_USER'] = base
    env = Env()
    env._user_kw = dict         # pylint: disable=protected-access
    return env


def copy_binaries(dest, src=None):
    """Copy the executables of src (default BIN) into the new directory
    dest (mode 0755) and return dest: run as root, a test drops to an
    unprivileged user, who may not reach a checkout under /root (0700)."""
    src = src or BIN
    os.mkdir(dest, 0o755)
    if os.path.isdir(src):
        for f in os.listdir(src):
            p = os.path.join(src, f)
            if os.path.isfile(p) and os.access(p, os.X_OK):
                shutil.copy2(p, dest)
    return dest


# Ports handed out by free_port(), for this process's lifetime.  A port
# found free by bind(0) and closed again is free only for a moment: until a
# daemon binds it, another test script's bind(0) (make check runs three at
# once) or an outgoing connection may take it ("bind: Address already in
# use").  So ports come from outside the kernel's ephemeral range, where
# neither bind(0) nor connect() ever goes, and each one is reserved for the
# whole run by a lock on byte PORT of PORT_LOCK, shared by every test
# process on the machine (record locks go away with the process that
# holds them; the kernel releases them all when any descriptor of the file
# is closed, hence one descriptor kept open).
PORT_LOCK = os.path.join(tempfile.gettempdir(), 'facteur-test-ports.lock')
_port_fd = None
_ports_taken = set()
_ports_order = []


def _port_candidates():
    """Unprivileged ports outside ip_local_port_range, in a random order
    (drawn once per process)."""
    if _ports_order:
        return _ports_order
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range',
                  encoding='ascii') as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    _ports_order.extend(p for p in range(10000, 65536) if not lo <= p <= hi)
    random.shuffle(_ports_order)
    return _ports_order


def _port_lock_fd():
    global _port_fd  # pylint: disable=global-statement
    if _port_fd is None:
        try:
            _port_fd = os.open(PORT_LOCK, os.O_RDWR)
        except FileNotFoundError:
            try:
                _port_fd = os.open(PORT_LOCK,
                                   os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
                os.fchmod(_port_fd, 0o666)   # root and users share it
            except FileExistsError:
                _port_fd = os.open(PORT_LOCK, os.O_RDWR)
    return _port_fd


def _bindable(port, kind):
    """True if 127.0.0.1:port can be bound now (no SO_REUSEADDR: a
    TIME_WAIT left by an earlier run counts as taken)."""
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(('127.0.0.1', port))
        except OSError:
            return False
    return True


def wait_for(cond, timeout=20.0, step=0.05):
    """Poll cond() until it is true or timeout seconds passed; its last
    value (tests poll for conditions instead of sleeping a fixed time)"""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def _stats():
    """(pid, comm, fields after comm) of every process on the machine"""
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open(f'/proc/{d}/stat', encoding='utf-8') as f:
                    st = f.read()
            except OSError:
                continue
            yield (int(d), st[st.index('(') + 1:st.rindex(')')],
                   st[st.rindex(')') + 2:].split())


def procs():
    """pid -> (ppid, comm) of every process on the machine"""
    return {pid: (int(fields[1]), comm) for pid, comm, fields in _stats()}


def group_alive(pgid):
    """Whether a process of group pgid is alive (not a zombie: this
    container's init reaps orphans seconds late)"""
    for _, _, fields in _stats():
        if int(fields[2]) == pgid and fields[0] not in ('Z', 'X'):
            return True
    return False


def free_port(udp=False):
    """A loopback TCP port (and UDP too if udp) that is free and reserved
    for this process until it exits, so that no other test takes it
    before our daemon binds it (see PORT_LOCK)."""
    fd = _port_lock_fd()
    for port in _port_candidates():
        if port in _ports_taken:
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
        except OSError:
            continue        # another test process holds it
        if _bindable(port, socket.SOCK_STREAM) and (
                not udp or _bindable(port, socket.SOCK_DGRAM)):
            _ports_taken.add(port)
            return port
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, port)
    raise RuntimeError('no free loopback port')


def wait_port(port, timeout=30.0, proc=None):
    """Wait until 127.0.0.1:port accepts a connection; False on timeout or
    if proc exits first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _tcp_sockets(port):
    """(state, rx_queue) of each TCP socket whose local end is
    127.0.0.1:port (/proc/net/tcp; states in hex: 01 ESTABLISHED,
    03 SYN_RECV, 08 CLOSE_WAIT, 0A LISTEN, whose rx_queue is the number
    of connections waiting to be accepted)."""
    with open('/proc/net/tcp', encoding='ascii') as f:
        for line in f.readlines()[1:]:
            v = line.split()
            if v[1] == f'0100007F:{port:04X}':
                yield v[3], int(v[4].split(':')[1], 16)


def server_connections(port):
    """Server-side TCP connections of 127.0.0.1:port that the daemon has
    not closed yet (SYN_RECV, ESTABLISHED, CLOSE_WAIT).  The ports are
    outside the ephemeral range (free_port()), so no client's own end has
    that local port."""
    return sum(1 for st, _ in _tcp_sockets(port) if st in ('01', '03', '08'))


def accept_queue(port):
    """Connections waiting in the accept queue of 127.0.0.1:port."""
    return sum(q for st, q in _tcp_sockets(port) if st == '0A')


def wait_server_idle(port, timeout=30.0):
    """Wait until the daemon on 127.0.0.1:port has closed every connection
    (its session slots and per-address counts are free then: a client's
    close() alone does not say when the server has seen it); False on
    timeout."""
    deadline = time.time() + timeout
    while server_connections(port) and time.time() < deadline:
        time.sleep(0.02)
    return server_connections(port) == 0


def _fmt_value(v):
    if isinstance(v, bool):
        return 'yes' if v else 'no'
    return str(v)


def format_config(top, sections):
    """SPEC 3 text: top keys first, then [section]s; a list value repeats
    the key; None values and None sections are left out."""
    lines = []
    for k, v in top.items():
        if v is None:
            continue
        for x in (v if isinstance(v, (list, tuple)) else [v]):
            lines.append(f'{k} = {_fmt_value(x)}')
    for name, sec in sections.items():
        if sec is None:
            continue
        lines.append('')
        lines.append(f'[{name}]')
        for k, v in sec.items():
            if v is None:
                continue
            for x in (v if isinstance(v, (list, tuple)) else [v]):
                lines.append(f'{k} = {_fmt_value(x)}')
    return '\n'.join(lines) + '\n'


class Daemon:
    def __init__(self, name, proc, log):
        self.name = name
        self.proc = proc
        self.log = log

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''


class Env:
    """One temporary installation: TMP/{state,run,mail,tls,logs,bin}."""

    def __init__(self, name=None):
        self.name = name or os.path.splitext(
            os.path.basename(sys.argv[0]))[0]
        self.tmp = tempfile.mkdtemp(prefix=f'facteur-{self.name}.')
        os.chmod(self.tmp, 0o755)
        self.state_dir = os.path.join(self.tmp, 'state')
        self.run_dir = os.path.join(self.tmp, 'run')
        self.mail_root = os.path.join(self.tmp, 'mail')
        self.tls_dir = os.path.join(self.tmp, 'tls')
        self.log_dir = os.path.join(self.tmp, 'logs')
        for d in (self.state_dir, self.run_dir, self.mail_root,
                  self.tls_dir, self.log_dir):
            os.mkdir(d, 0o755)
        self.conf = os.path.join(self.tmp, 'facteur.conf')
        self.daemons = {}
        self.cert = None
        self.key = None
        self.as_root = os.geteuid() == 0
        if self.as_root:
            self.user = os.environ.get('FACTEUR_TEST_USER', 'nobody')
            pw = pwd.getpwnam(self.user)
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            self.bin = copy_binaries(os.path.join(self.tmp, 'bin'))
        else:
            self.user = pwd.getpwuid(os.getuid()).pw_name
            self.uid, self.gid = os.getuid(), os.getgid()
            self.bin = BIN
        self._chown_tree()
        self.ports = set()
        self._put_seq = 0
        print(f'# {self.name}: TMP={self.tmp} BIN={BIN}', flush=True)

    # -- files and configuration -------------------------------------

    def _chown_tree(self):
        if not self.as_root:
            return
        for root, dirs, files in os.walk(self.tmp):
            for n in dirs + files:
                p = os.path.join(root, n)
                if n != 'bin' and root != os.path.join(self.tmp, 'bin'):
                    os.lchown(p, self.uid, self.gid)
        os.lchown(self.tmp, self.uid, self.gid)

    def chown(self, path):
        if self.as_root:
            os.lchown(path, self.uid, self.gid)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def port(self, udp=False):
        """A free loopback port, reserved for this process (free_port())."""
        p = free_port(udp)
        self.ports.add(p)
        return p

    def make_cert(self, cn='localhost'):
        """Self-signed EC certificate for cn, 127.0.0.1 and localhost, made
        by the openssl CLI; returns (cert, key) paths."""
        cert = os.path.join(self.tls_dir, 'cert.pem')
        key = os.path.join(self.tls_dir, 'key.pem')
        subprocess.run(
            ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key,
             '-out', cert, '-days', '2', '-subj', f'/CN={cn}', '-addext',
             f'subjectAltName=DNS:{cn},DNS:localhost,IP:127.0.0.1'],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.chmod(key, 0o600)
        os.chmod(cert, 0o644)
        self.chown(key)
        self.chown(cert)
        self.cert, self.key = cert, key
        return cert, key

    def write_config(self, tls=True, **kw):
        """Write TMP/facteur.conf.  Keyword arguments whose value is a dict
        are sections (e.g. smtp={'listen': [...], 'max_size': '64K'}), the
        others top-level keys overriding the defaults (hostname localhost,
        domains example.org, the TMP directories, the current user, log =
        stderr).  tls=True adds [tls] with a self-signed certificate (made
        on first use) unless a tls section is given; tls=False leaves it out.
        An smtp section gets `trusted = none` unless it names `trusted`
        itself (None: no line, facteur's default 127.0.0.0/8 ::1): the
        tests send from loopback addresses as stand-ins for clients on
        the Internet, which the default would exempt from the port 25
        checks.  Returns the path."""
        top = {
            'hostname': 'localhost',
            'domains': 'example.org',
            'state_dir': self.state_dir,
            'mail_dir': os.path.join(self.mail_root, '%d', '%u'),
            'run_dir': self.run_dir,
            'user': self.user,
            'log': 'stderr',
        }
        sections = {}
        for k, v in kw.items():
            if isinstance(v, dict) or (v is None and k in (
                    'smtp', 'imap', 'relay', 'dkim', 'queue', 'dns', 'tls')):
                sections[k] = v
            else:
                top[k] = v
        if isinstance(sections.get('smtp'), dict) and \
                'trusted' not in sections['smtp']:
            sections['smtp'] = dict(sections['smtp'], trusted='none')
        if tls and 'tls' not in sections:
            if self.cert is None:
                self.make_cert()
            sections = dict([('tls', {'cert': self.cert, 'key': self.key})]
                            + list(sections.items()))
        text = format_config(top, sections)
        with open(self.conf, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chmod(self.conf, 0o644)
        self.chown(self.conf)
        self.config_text = text
        return self.conf

    # -- programs -------------------------------------------------------

    def binary(self, name):
        return os.path.join(self.bin, f'facteur-{name}')

    def _preexec_env(self, asan):
        env = dict(os.environ)
        env['ASAN_OPTIONS'] = asan
        env['UBSAN_OPTIONS'] = UBSAN
        if self.as_root:
            env['HOME'] = self.tmp
            env['USER'] = env['LOGNAME'] = self.user
        return env

    def _user_kw(self):
        if self.as_root:
            return {'user': self.uid, 'group': self.gid, 'extra_groups': []}
        return {}

    def tool(self, name, *args, stdin=None, timeout=60, check_rc=False):
        """Run facteur-NAME -c CONF ARGS...; returns CompletedProcess with
        text stdout/stderr.  A LeakSanitizer report counts as one failed
        check (the tool's own result is still returned)."""
        cmd = [self.binary(name), '-c', self.conf] + list(args)
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                           timeout=timeout, cwd=self.tmp,
                           env=self._preexec_env(TOOL_ASAN),
                           **self._user_kw())
        if any(m in r.stderr for m in SANITIZER_MARKS):
            check(False, f'{" ".join(cmd[3:])}: no sanitizer report',
                  r.stderr[-3000:])
        if check_rc and r.returncode != 0:
            raise RuntimeError(f'{" ".join(cmd)}: exit {r.returncode}: '
                               f'{r.stderr.strip()}')
        return r

    def keytool(self, *args, stdin=None, check_rc=True):
        return self.tool('keytool', *args, stdin=stdin, check_rc=check_rc)

    def make_role_accounts(self):
        """As root: the role accounts `keytool accounts` lists for this
        configuration (kept for the next run); useradd fails while another
        test holds the lock on /etc/passwd: again then, for up to 30 s."""
        deadline = time.time() + 30
        while True:
            r = self.keytool('accounts', check_rc=False)
            if 'useradd' not in r.stdout:
                return
            sh = subprocess.run(['sh', '-e'], input=r.stdout, text=True,
                                capture_output=True, check=False)
            if sh.returncode != 0 and time.time() > deadline:
                raise RuntimeError(f'role accounts: {sh.stderr}')
            time.sleep(0.2)

    def add_user(self, addr, password):
        """facteur-keytool user add ADDR, password on stdin."""
        return self.keytool('user', 'add', addr, stdin=password + '\n')

    def add_alias(self, addr, *targets):
        return self.keytool('alias', 'add', addr, *targets)

    def start(self, name, ports=(), args=(), wait=30.0):
        """Start facteur-NAME -c CONF -d [ARGS] in its own session, stderr
        and stdout to TMP/logs/NAME.log (appended across restarts), and wait
        for it: authd until run_dir/authd.sock exists, the others until each
        of `ports` accepts.  Raises RuntimeError if it does not come up."""
        if name in self.daemons and self.daemons[name].alive():
            raise RuntimeError(f'{name} already running')
        log = os.path.join(self.log_dir, f'{name}.log')
        logf = open(log, 'ab')  # pylint: disable=consider-using-with
        logf.write(f'---- start {time.strftime("%H:%M:%S")}\n'.encode())
        logf.flush()
        binary = self.binary(name)
        if not os.path.exists(binary):
            logf.close()
            raise RuntimeError(f'{binary} does not exist')
        sock = os.path.join(self.run_dir, 'authd.sock')
        if name == 'authd' and os.path.exists(sock):
            # a stale socket from a killed authd must not fool the wait
            try:
                os.unlink(sock)
            except OSError:
                pass
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [binary, '-c', self.conf, '-d'] + list(args),
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
            cwd=self.tmp, env=self._preexec_env(DAEMON_ASAN),
            start_new_session=True, **self._user_kw())
        logf.close()
        d = Daemon(name, proc, log)
        self.daemons[name] = d
        deadline = time.time() + wait
        if name == 'authd':
            while time.time() < deadline and d.alive():
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            ok = d.alive() and os.path.exists(sock)
        else:
            ok = all(wait_port(p, max(0.1, deadline - time.time()), proc)
                     for p in ports)
            ok = ok and d.alive()
        if not ok:
            tail = d.log_text()[-3000:]
            self.stop(name)
            raise RuntimeError(f'facteur-{name} did not come up '
                               f'(exit {proc.poll()}):\n{tail}')
        return d

    def kill_group(self, name, sig=signal.SIGKILL):
        """Send sig to the daemon's whole process group (SIGKILL = crash)
        and reap the leader."""
        d = self.daemons.get(name)
        if d is None:
            return
        try:
            os.killpg(d.proc.pid, sig)
        except ProcessLookupError:
            pass
        if sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                d.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            if sig == signal.SIGKILL:
                self._wait_group_gone(d.proc.pid)

    @staticmethod
    def _wait_group_gone(pgid, timeout=5.0):
        """Wait until no live process is left in the process group pgid.
        A zombie counts as gone: it holds no descriptor or port any more,
        and an orphan's may wait seconds for a slow init (PID 1) to reap
        it, which kill(0) would count as alive."""
        deadline = time.time() + timeout
        while True:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            if not group_alive(pgid):
                return True
            if time.time() >= deadline:
                return False
            time.sleep(0.05)

    def stop(self, name, timeout=10.0):
        """SIGTERM the daemon's group, SIGKILL it if still there after
        timeout.  Returns the leader's exit status."""
        d = self.daemons.get(name)
        if d is None:
            return None
        if d.alive():
            try:
                os.killpg(d.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                d.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                check(False, f'{name} exits within {timeout} s of SIGTERM')
                try:
                    os.killpg(d.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                d.proc.wait(timeout=10)
        # workers may outlive the leader for a moment; one still there
        # (loaded: still exiting) is killed, and gone before we return, so
        # that a start() that follows finds the ports free
        if not self._wait_group_gone(d.proc.pid, 3.0):
            try:
                os.killpg(d.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._wait_group_gone(d.proc.pid)
        return d.proc.returncode

    def stop_all(self):
        """Stop every daemon (smtpd/imapd first, authd last) and fail on a
        sanitizer report in any daemon log."""
        order = sorted(self.daemons, key=lambda n: n == 'authd')
        for name in order:
            self.stop(name)
        for name in order:
            text = self.daemons[name].log_text()
            bad = [m for m in SANITIZER_MARKS if m in text]
            check(not bad, f'no sanitizer report in {name}.log',
                  text[text.find(bad[0]) - 200:][:4000] if bad else '')

    def dump_logs(self, lines=60):
        for name, d in self.daemons.items():
            text = d.log_text().splitlines()
            print(f'# ---- {d.log} (last {lines} lines)')
            for l in text[-lines:]:
                print(f'# | {l}')
        sys.stdout.flush()

    def cleanup(self):
        if os.environ.get('FACTEUR_KEEP') or _failed:
            print(f'# kept {self.tmp}')
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- Maildir --------------------------------------------------------

    def mail_dir(self, addr):
        """TMP/mail/DOMAIN/LOCAL for local@domain (mail_dir = TMP/mail/%d/%u)."""
        local, domain = addr.rsplit('@', 1)
        return os.path.join(self.mail_root, domain, local)

    def put_message(self, addr, raw, folder=''):
        """Write raw (text) into addr's Maildir (folder: a subfolder's name)
        as a delivery agent does: tmp/, then renamed into new/, owned by
        the daemons' user, creating what is missing.  Returns the name."""
        self._put_seq += 1
        d = self.mail_dir(addr)
        if folder:
            d = os.path.join(d, '.' + folder)
        for s in ('tmp', 'new', 'cur'):
            os.makedirs(os.path.join(d, s), exist_ok=True)
            self.chown(os.path.join(d, s))
        p = d
        while p.startswith(self.mail_root):
            self.chown(p)
            p = os.path.dirname(p)
        name = f'{int(time.time())}.T{self._put_seq}P{os.getpid()}.test'
        tmp = os.path.join(d, 'tmp', name)
        with open(tmp, 'w', encoding='utf-8', newline='') as f:
            f.write(raw)
        self.chown(tmp)
        os.rename(tmp, os.path.join(d, 'new', name))
        return name

    def maildir_files(self, addr, subdirs=('new', 'cur')):
        """Paths of the messages in the user's Maildir (new/ and cur/),
        sorted by name."""
        base = self.mail_dir(addr)
        out = []
        for sub in subdirs:
            d = os.path.join(base, sub)
            try:
                names = os.listdir(d)
            except FileNotFoundError:
                continue
            out.extend(os.path.join(d, n) for n in names
                       if not n.startswith('.'))
        return sorted(out)

    def messages(self, addr, subdirs=('new', 'cur')):
        """The user's messages as bytes, in file-name order."""
        out = []
        for p in self.maildir_files(addr, subdirs):
            try:
                with open(p, 'rb') as f:
                    out.append(f.read())
            except FileNotFoundError:
                pass
        return out

    def find_messages(self, addr, marker):
        """Messages of addr containing the bytes marker."""
        if isinstance(marker, str):
            marker = marker.encode()
        return [m for m in self.messages(addr) if marker in m]

    def wait_message(self, addr, marker, count=1, timeout=30.0):
        """Wait until addr has at least count messages containing marker;
        returns the list found (possibly shorter)."""
        deadline = time.time() + timeout
        while True:
            found = self.find_messages(addr, marker)
            if len(found) >= count or time.time() >= deadline:
                return found
            time.sleep(0.1)

    def where(self, addr, subject, timeout=30.0):
        """Where the message with this Subject landed for addr: ('inbox',
        bytes), ('junk', bytes) from the .Junk folder, or (None, b'') when
        it is not there after timeout seconds."""
        key = b'Subject: ' + subject.encode()
        deadline = time.time() + timeout
        while True:
            for name, sub in (('inbox', ('new', 'cur')),
                              ('junk', ('.Junk/new', '.Junk/cur'))):
                for m in self.messages(addr, sub):
                    if key in m:
                        return name, m
            if time.time() >= deadline:
                return None, b''
            time.sleep(0.1)

    def queue_files(self):
        """Regular files anywhere under state_dir/queue that hold mail:
        not empty, and not a recycled pool file (smtpd keeps a pool of
        files made ahead: empty ones, and finished ones renamed, which
        still hold the finished message, under another id than their
        name, until a new message is written over them)."""
        out = []
        for root, _dirs, files in os.walk(os.path.join(self.state_dir,
                                                       'queue')):
            for n in files:
                p = os.path.join(root, n)
                try:    # the queue removes files while we look
                    if os.path.isfile(p) and not os.path.islink(p) and \
                            os.path.getsize(p) > 0 and \
                            not queue_file_recycled(p):
                        out.append(p)
                except FileNotFoundError:
                    pass
        return out


def queue_file_recycled(path):
    """A queue file (smtpd/queue_file.c) whose envelope names another id
    than the file: a finished message in a recycled pool file."""
    with open(path, 'rb') as f:
        data = f.read()
    m = re.search(rb'FACTEUR-QUEUE-2 (\d{20}) (\d{10}) [0-9a-f]{8}\n\Z', data)
    if m is None:
        m = re.search(rb'FACTEUR-QUEUE-1 (\d{20}) (\d{10})\n\Z', data)
    if m is None:
        return False
    env = data[m.start() - int(m.group(2)):m.start()]
    qid = re.match(rb'id ([0-9a-f]{16})\n', env)
    return qid is not None and \
        qid.group(1).decode() != os.path.basename(path)


def split_delivered(data):
    """Split a delivered file into (trace, rest): trace is a dict of the
    leading Return-Path, Delivered-To, Authentication-Results (port 25) and
    Received fields added at delivery (each at most once, unfolded values as
    bytes), rest the bytes after them.  The harness only strips fields with
    those names, in any order."""
    trace = {}
    pos = 0
    names = {b'return-path': 'Return-Path', b'delivered-to': 'Delivered-To',
             b'received': 'Received',
             b'authentication-results': 'Authentication-Results'}
    while True:
        end = data.find(b'\n', pos)
        if end < 0:
            break
        line = data[pos:end]
        colon = line.find(b':')
        if colon <= 0:
            break
        key = names.get(line[:colon].strip().lower())
        if key is None or key in trace:
            break
        value = line[colon + 1:]
        nxt = end + 1
        while nxt < len(data) and data[nxt:nxt + 1] in (b' ', b'\t'):
            e2 = data.find(b'\n', nxt)
            if e2 < 0:
                e2 = len(data)
            value += b' ' + data[nxt:e2].strip()
            nxt = e2 + 1
        trace[key] = value.strip()
        pos = nxt
    return trace, data[pos:]


def crlf_to_lf(b):
    return b.replace(b'\r\n', b'\n')


# -- a raw SMTP client for protocol-level tests ---------------------------

class SMTPError(Exception):
    pass


class RawSMTP:
    """Byte-exact SMTP client: send() writes exactly what it is given,
    reply() reads one (multi-line) reply and returns (code, text) where
    text holds all lines joined by '\\n' (without CRLF)."""

    def __init__(self, port, host='127.0.0.1', timeout=10.0, banner=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = b''
        self.tls = False
        self.banner = self.reply() if banner else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError('connection closed')
        self.buf += chunk

    def line(self, timeout=None):
        while b'\r\n' not in self.buf:
            self._fill(timeout)
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def reply(self, timeout=None):
        lines = []
        while True:
            line = self.line(timeout)
            lines.append(line.decode('utf-8', 'replace'))
            if len(line) < 3 or not line[:3].isdigit():
                raise SMTPError(f'bad reply line {line!r}')
            if len(line) == 3 or line[3:4] == b' ':
                return int(line[:3]), '\n'.join(lines)

    def cmd(self, text, timeout=None):
        """Send text + CRLF, return the reply."""
        self.send(text.encode() + b'\r\n' if isinstance(text, str)
                  else text + b'\r\n')
        return self.reply(timeout)

    def pending(self, wait=0.5):
        """Bytes the server sent that nobody asked for within wait seconds
        (b'' if none; EOF is reported as b'<EOF>')."""
        if self.buf:
            out, self.buf = self.buf, b''
            return out
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
            return chunk if chunk else b'<EOF>'
        except (socket.timeout, ssl.SSLWantReadError):
            return b''

    def closed_by_peer(self, wait=3.0):
        """True if the server closes the connection within wait seconds
        (extra data before the close is discarded)."""
        deadline = time.time() + wait
        while time.time() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                if not self.sock.recv(65536):
                    return True
            except (socket.timeout, ssl.SSLWantReadError):
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            except ssl.SSLError:
                return True
        return False

    def starttls(self, server_hostname='localhost'):
        """Wrap the socket in TLS (no certificate verification) after a 220
        to STARTTLS; bytes buffered before the handshake raise SMTPError."""
        if self.buf:
            raise SMTPError(f'plaintext after STARTTLS reply: {self.buf!r}')
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock,
                                    server_hostname=server_hostname)
        self.tls = True
        return self.sock.version()

    def ehlo(self, name='client.example.com'):
        code, text = self.cmd(f'EHLO {name}')
        if code != 250:
            raise SMTPError(f'EHLO: {text}')
        return [l[4:] for l in text.split('\n')[1:]]

    def mail_transaction(self, sender, rcpts, body):
        """MAIL, RCPT..., DATA with body already dot-stuffed and ending in
        CRLF; returns the final reply (code, text).  Raises SMTPError on an
        unexpected intermediate reply."""
        code, text = self.cmd(f'MAIL FROM:<{sender}>')
        if code != 250:
            raise SMTPError(f'MAIL: {text}')
        for r in rcpts:
            code, text = self.cmd(f'RCPT TO:<{r}>')
            if code != 250:
                raise SMTPError(f'RCPT {r}: {text}')
        code, text = self.cmd('DATA')
        if code != 354:
            raise SMTPError(f'DATA: {text}')
        self.send(body + b'.\r\n')
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def dot_stuff(body):
    """CRLF lines with a leading '.' doubled, as a client sends them."""
    out = []
    for line in body.split(b'\r\n'):
        out.append(b'.' + line if line.startswith(b'.') else line)
    return b'\r\n'.join(out)
