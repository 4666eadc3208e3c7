#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""crashfs - a FUSE pass-through filesystem that can lose power.

`crashfs.py BACKING MOUNTPOINT` (as root; python3-pyfuse3) serves the
directory BACKING at MOUNTPOINT (allow_other, default_permissions: the
kernel checks each caller's uid against the owners and modes, as on a
real disk) and keeps, beside the live tree, the state a strict POSIX
disk would have after a power cut.  Unmounting it is the power cut: the
process then rewrites BACKING to that durable state, prints one line
`crashfs: ...` saying what the cut threw away, and exits.

The model (strict POSIX; none of ext4's rename or auto_da_alloc
heuristics):
  - a file's data and size become durable only at fsync(2) or
    fdatasync(2) of that file, which snapshots its whole content; a file
    never synced is empty after the cut (a truncate is a data change too);
  - a directory entry (create, mkdir, symlink, link, unlink, rmdir,
    rename) becomes durable only at fsync(2) of its directory, which
    snapshots the directory's whole listing; a rename between two
    directories is two changes, each durable at its own directory's
    fsync (only the target synced: both names after the cut; only the
    source: neither);
  - after the cut each directory holds exactly its last synced listing
    (entries not synced vanish, an unlink or rename not synced is undone)
    and each file its last synced content; a new directory whose own
    listing was never synced is empty;
  - simplifications: owner and mode changes are durable at once, times
    are not kept; what was in BACKING at mount is durable.
Every request is served from one thread, so each change of the model is
atomic.  A file that loses its last name (unlink, or a rename over it)
stays open here while the kernel knows its inode (until FORGET), as a
disk keeps it: an open(2) whose lookup came before the rename that
replaced the name gets the old file, not an error (the kernel sends
OPEN after the lookup, unlocked, so a rename can come in between).
The cut stops serving at the unmount, or at SIGUSR1 when a copy of the
mount in another mount namespace keeps the connection open.  No
writeback cache: every write(2) reaches this process, and the
kernel sends fsync(2) as FSYNC and a directory's as FSYNCDIR (io_uring's
fsync, ftruncate, renameat and unlinkat included).  O_TMPFILE and
RENAME_EXCHANGE are refused (facteur uses neither), so are device nodes.

The extended attribute `user.crashfs.durable` of a directory lists the
names a cut would keep there (os.getxattr), so that a test can wait for
a change to become durable instead of for a time.

To show a test catches a missing fsync, CRASHFS_NO_DIRSYNC=1 makes the
fsync of directories a no-op, CRASHFS_NO_FSYNC=1 that of files.

tests/integration/test_power_cut.py uses the class CrashFS below:
mount(), then cut() after killing every process that uses the mount.
"""

import errno
import os
import signal
import stat
import subprocess
import sys
import time


class CrashFS:
    """The test side: a crashfs process serving backing at mnt."""

    def __init__(self, backing, mnt, log):
        self.backing, self.mnt, self.log = backing, mnt, log
        self.proc = None
        self.cuts = []          # the summary line of each cut

    def mount(self, extra_env=None):
        env = dict(os.environ, **(extra_env or {}))
        with open(self.log, 'ab') as logf:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
                ['/usr/bin/python3', os.path.abspath(__file__), self.backing,
                 self.mnt], stdout=subprocess.PIPE, stderr=logf,
                stdin=subprocess.DEVNULL, env=env)
        line = self.proc.stdout.readline().decode()
        if line.strip() != 'ready':
            self.proc.wait(10)
            raise RuntimeError(f'crashfs did not mount: {line!r}, see '
                               f'{self.log}')

    def cut(self, timeout=20.0):
        """Power cut: unmount (every user of the mount must be dead: a
        killed process's io_uring may hold it busy for a moment), let the
        server rewrite BACKING to the durable state; its summary line."""
        deadline = time.monotonic() + timeout
        while True:
            r = subprocess.run(['umount', self.mnt], capture_output=True,
                               text=True)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f'umount {self.mnt}: {r.stderr.strip()}')
            time.sleep(0.05)
        # gone from our namespace, so no process here can use it: stop
        # serving now (its copy in another namespace may keep it alive)
        while True:
            try:
                self.proc.wait(0.2)
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    raise
                self.proc.send_signal(signal.SIGUSR1)
        out = self.proc.stdout.read().decode()
        rc = self.proc.wait(timeout)
        self.proc = None
        if rc != 0 or not out.startswith('crashfs:'):
            raise RuntimeError(f'crashfs exit {rc}: {out!r}, see {self.log}')
        self.cuts.append(out.strip())
        return out.strip()

    def unmount_quietly(self):
        """At the end of a test (no check): unmount if still mounted."""
        if self.proc is not None:
            try:
                self.cut()
            except (RuntimeError, subprocess.TimeoutExpired):
                subprocess.run(['umount', '-l', self.mnt],
                               capture_output=True)
                if self.proc is not None:   # cut() let go of a dead one
                    self.proc.kill()


# -- the server ---------------------------------------------------------------

class Node:
    """One inode: live links and children; the durable listing (a
    directory) or content (a file, None: never synced)."""
    __slots__ = ('ino', 'kind', 'links', 'children', 'durable', 'data',
                 'mode', 'uid', 'gid', 'target', 'fds', 'nlookup', 'orphan')

    def __init__(self, ino, kind, st):
        self.ino, self.kind = ino, kind
        self.links = set()          # live (parent Node, name)
        self.children = {}          # live entries (a directory)
        self.durable = {}           # synced entries (a directory)
        self.data = None            # synced content (a file)
        self.mode = stat.S_IMODE(st.st_mode)
        self.uid, self.gid = st.st_uid, st.st_gid
        self.target = None          # a symlink's
        self.fds = set()            # open backing descriptors (a file)
        self.nlookup = 0            # the kernel's references (FORGET)
        self.orphan = None          # a file without a name: held open


def serve(backing, mnt):
    # imported here: the test side needs neither
    import pyfuse3              # pylint: disable=import-outside-toplevel
    import trio                 # pylint: disable=import-outside-toplevel
    from pyfuse3 import FUSEError  # pylint: disable=import-outside-toplevel

    no_dirsync = os.environ.get('CRASHFS_NO_DIRSYNC') == '1'
    no_fsync = os.environ.get('CRASHFS_NO_FSYNC') == '1'
    os.umask(0)
    nodes = {}
    counts = {'fsync': 0, 'fsyncdir': 0}

    def new_node(kind, st):
        n = Node(len(nodes) + pyfuse3.ROOT_INODE, kind, st)
        nodes[n.ino] = n
        return n

    def path(n):
        if n is root:
            return os.fsencode(backing)
        if not n.links:     # unlinked, renamed over, rmdir'd
            raise FUSEError(errno.ENOENT)
        parent, name = next(iter(n.links))
        return os.path.join(path(parent), name)

    def held_fd(n):
        """a descriptor of n's backing file, or None"""
        return n.orphan if n.orphan is not None else next(iter(n.fds), None)

    def open_path(n):
        """a path that opens n: its name, or once it has none, the
        descriptor held for it (the kernel may still open it)"""
        if n.links or n is root or held_fd(n) is None:
            return path(n)
        return f'/proc/self/fd/{held_fd(n)}'

    def hold(n, p):
        """before p, n's last name, goes: a descriptor to keep n while the
        kernel knows it (None: not a file, or other names or one held)"""
        if n.kind != 'f' or len(n.links) != 1 or n.orphan is not None:
            return None
        return os.open(p, os.O_RDWR)

    def keep(n, fd, done):
        """after the unlink or rename: n is held (done), or the change
        failed and fd is let go"""
        if fd is None:
            return
        if done and n.nlookup > 0:
            n.orphan = fd
        else:
            os.close(fd)

    def looked_up(a, n):
        """an entry reply: the kernel holds one more reference to n"""
        n.nlookup += 1
        return a

    def read_all(fd):
        out, off = [], 0
        while True:
            b = os.pread(fd, 1 << 20, off)
            if not b:
                return b''.join(out)
            out.append(b)
            off += len(b)

    def scan(n, p):
        """What is in BACKING at mount: live and durable."""
        for name in sorted(os.listdir(p)):
            cp = os.path.join(p, name)
            st = os.lstat(cp)
            kind = 'd' if stat.S_ISDIR(st.st_mode) else \
                'l' if stat.S_ISLNK(st.st_mode) else 'f'
            c = new_node(kind, st)
            c.links.add((n, name))
            n.children[name] = n.durable[name] = c
            if kind == 'd':
                scan(c, cp)
            elif kind == 'l':
                c.target = os.readlink(cp)
            else:
                with open(cp, 'rb') as f:
                    c.data = f.read()

    root = new_node('d', os.lstat(backing))
    scan(root, os.fsencode(backing))

    def attrs(n, st=None):
        if st is None:
            if n.links or n is root:
                st = os.lstat(path(n))
            elif held_fd(n) is not None:
                st = os.fstat(held_fd(n))
            else:
                raise FUSEError(errno.ENOENT)
        a = pyfuse3.EntryAttributes()
        for f in ('st_mode', 'st_nlink', 'st_uid', 'st_gid', 'st_rdev',
                  'st_size', 'st_blksize', 'st_blocks', 'st_atime_ns',
                  'st_mtime_ns', 'st_ctime_ns'):
            setattr(a, f, getattr(st, f))
        a.st_ino = n.ino
        a.generation = 0
        a.entry_timeout = a.attr_timeout = 10
        return a

    def child(parent_ino, name):
        n = nodes[parent_ino].children.get(name)
        if n is None:
            raise FUSEError(errno.ENOENT)
        return n

    def owned(p, n, ctx, parent):
        """A new entry belongs to the caller (the group of a setgid
        parent), as the kernel would make it."""
        gid = ctx.gid
        if parent.mode & stat.S_ISGID:
            gid = parent.gid
            if n.kind == 'd':
                os.chmod(p, n.mode | stat.S_ISGID)
                n.mode |= stat.S_ISGID
        os.lchown(p, ctx.uid, gid)
        n.uid, n.gid = ctx.uid, gid

    def add(parent, name, kind, ctx, st_path):
        n = new_node(kind, os.lstat(st_path))
        n.links.add((parent, name))
        parent.children[name] = n
        owned(st_path, n, ctx, parent)
        return n

    dirs = {}       # directory handle -> [Node, listing]

    class Ops(pyfuse3.Operations):
        enable_writeback_cache = False

        async def lookup(self, parent_inode, name, ctx=None):
            p = nodes[parent_inode]
            if name == b'.':
                n = p
            elif name == b'..':
                n = next(iter(p.links))[0] if p.links else root
            else:
                n = child(parent_inode, name)
            return looked_up(attrs(n), n)

        async def forget(self, inode_list):
            for ino, k in inode_list:
                n = nodes.get(ino)
                if n is None:
                    continue
                n.nlookup = max(0, n.nlookup - k)
                if n.nlookup == 0 and n.orphan is not None:
                    try:
                        os.close(n.orphan)
                    except OSError:
                        pass    # FORGET must not fail
                    n.orphan = None

        async def getattr(self, inode, ctx=None):
            return attrs(nodes[inode])

        async def setattr(self, inode, attr, fields, fh, ctx):
            n = nodes[inode]
            if fh is None and not n.links and n.orphan is not None:
                fh = n.orphan   # renamed over or unlinked meanwhile
            target = fh if fh is not None else path(n)
            if fields.update_size:
                if fh is not None:
                    os.ftruncate(fh, attr.st_size)
                else:
                    os.truncate(target, attr.st_size)
            if fields.update_mode:
                n.mode = stat.S_IMODE(attr.st_mode)
                os.chmod(target, n.mode)
            if fields.update_uid or fields.update_gid:
                n.uid = attr.st_uid if fields.update_uid else n.uid
                n.gid = attr.st_gid if fields.update_gid else n.gid
                if fh is not None:
                    os.fchown(fh, n.uid, n.gid)
                else:
                    os.lchown(target, n.uid, n.gid)
            if fields.update_atime or fields.update_mtime:
                st = os.stat(target) if fh is not None else os.lstat(target)
                ns = (attr.st_atime_ns if fields.update_atime
                      else st.st_atime_ns,
                      attr.st_mtime_ns if fields.update_mtime
                      else st.st_mtime_ns)
                if fh is not None:
                    os.utime(fh, ns=ns)
                else:
                    os.utime(target, ns=ns, follow_symlinks=False)
            return attrs(n)

        async def readlink(self, inode, ctx):
            return nodes[inode].target

        async def mkdir(self, parent_inode, name, mode, ctx):
            parent = nodes[parent_inode]
            p = os.path.join(path(parent), name)
            os.mkdir(p, stat.S_IMODE(mode) & ~ctx.umask)
            n = add(parent, name, 'd', ctx, p)
            return looked_up(attrs(n), n)

        async def symlink(self, parent_inode, name, target, ctx):
            parent = nodes[parent_inode]
            p = os.path.join(path(parent), name)
            os.symlink(target, p)
            n = add(parent, name, 'l', ctx, p)
            n.target = target
            return looked_up(attrs(n), n)

        async def link(self, inode, new_parent_inode, new_name, ctx):
            n, parent = nodes[inode], nodes[new_parent_inode]
            os.link(path(n), os.path.join(path(parent), new_name))
            n.links.add((parent, new_name))
            parent.children[new_name] = n
            return looked_up(attrs(n), n)

        async def unlink(self, parent_inode, name, ctx):
            parent, n = nodes[parent_inode], child(parent_inode, name)
            p = os.path.join(path(parent), name)
            fd = hold(n, p)
            try:
                os.unlink(p)
            except OSError:
                keep(n, fd, False)
                raise
            del parent.children[name]
            n.links.discard((parent, name))
            keep(n, fd, True)

        async def rmdir(self, parent_inode, name, ctx):
            parent, n = nodes[parent_inode], child(parent_inode, name)
            os.rmdir(os.path.join(path(parent), name))
            del parent.children[name]
            n.links.discard((parent, name))

        async def rename(self, parent_inode_old, name_old, parent_inode_new,
                         name_new, flags, ctx):
            po, pn = nodes[parent_inode_old], nodes[parent_inode_new]
            n = child(parent_inode_old, name_old)
            victim = pn.children.get(name_new)
            if flags & pyfuse3.RENAME_EXCHANGE:
                raise FUSEError(errno.EINVAL)
            if victim is not None and flags & pyfuse3.RENAME_NOREPLACE:
                raise FUSEError(errno.EEXIST)
            if victim is n:     # two names of one file: nothing happens
                return
            dst = os.path.join(path(pn), name_new)
            fd = hold(victim, dst) if victim is not None else None
            try:
                os.rename(os.path.join(path(po), name_old), dst)
            except OSError:
                keep(victim, fd, False)
                raise
            if victim is not None:
                victim.links.discard((pn, name_new))
                keep(victim, fd, True)
            del po.children[name_old]
            n.links.discard((po, name_old))
            pn.children[name_new] = n
            n.links.add((pn, name_new))

        async def create(self, parent_inode, name, mode, flags, ctx):
            parent = nodes[parent_inode]
            p = os.path.join(path(parent), name)
            fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL,
                         stat.S_IMODE(mode) & ~ctx.umask)
            n = add(parent, name, 'f', ctx, p)
            n.fds.add(fd)
            fds[fd] = n
            return pyfuse3.FileInfo(fh=fd), looked_up(attrs(n), n)

        async def open(self, inode, flags, ctx):
            n = nodes[inode]
            # root opens it for reading and writing whatever the caller
            # asked (the kernel has checked the caller's rights): fsync
            # reads it back
            fd = os.open(open_path(n), os.O_RDWR | (flags & os.O_TRUNC))
            n.fds.add(fd)
            fds[fd] = n
            return pyfuse3.FileInfo(fh=fd)

        async def read(self, fh, off, size):
            return os.pread(fh, size, off)

        async def write(self, fh, off, buf):
            return os.pwrite(fh, buf, off)

        async def fsync(self, fh, datasync):
            counts['fsync'] += 1
            if not no_fsync:
                fds[fh].data = read_all(fh)

        async def release(self, fh):
            fds.pop(fh).fds.discard(fh)
            os.close(fh)

        async def opendir(self, inode, ctx):
            h = max(dirs, default=0) + 1
            dirs[h] = [nodes[inode], []]
            return h

        async def readdir(self, fh, start_id, token):
            d = dirs[fh]
            if start_id == 0:
                d[1] = sorted(d[0].children.items())
            for i in range(start_id, len(d[1])):
                name, n = d[1][i]
                try:
                    a = attrs(n)
                except (OSError, FUSEError):
                    continue
                if not pyfuse3.readdir_reply(token, name, a, i + 1):
                    break
                n.nlookup += 1      # readdirplus: an entry reply

        async def fsyncdir(self, fh, datasync):
            counts['fsyncdir'] += 1
            if not no_dirsync:
                n = dirs[fh][0]
                n.durable = dict(n.children)

        async def releasedir(self, fh):
            del dirs[fh]

        async def getxattr(self, inode, name, ctx):
            # the test's window on the model: a directory's synced names
            n = nodes[inode]
            if name != b'user.crashfs.durable' or n.kind != 'd':
                raise FUSEError(errno.ENODATA)
            return b'\n'.join(sorted(n.durable))

        async def statfs(self, ctx):
            v = os.statvfs(backing)
            s = pyfuse3.StatvfsData()
            for f in ('f_bsize', 'f_frsize', 'f_blocks', 'f_bfree',
                      'f_bavail', 'f_files', 'f_ffree', 'f_favail',
                      'f_namemax'):
                setattr(s, f, getattr(v, f))
            return s

    fds = {}

    # every handler: an OSError is the caller's errno
    def wrap(fn):
        async def w(*a):
            try:
                return await fn(*a)
            except OSError as e:
                raise FUSEError(e.errno) from None
        return w

    for name, fn in list(vars(Ops).items()):
        if callable(fn) and not name.startswith('_'):
            setattr(Ops, name, wrap(fn))

    async def run():
        """pyfuse3.main until the unmount ends the connection or SIGUSR1
        comes (another mount namespace made meanwhile, e.g. by a test's
        unshare -m, keeps the connection open after our umount)."""
        async def on_usr1():
            with trio.open_signal_receiver(signal.SIGUSR1) as sigs:
                async for _ in sigs:
                    pyfuse3.terminate()
                    return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(on_usr1)
            await pyfuse3.main()
            nursery.cancel_scope.cancel()

    signal.signal(signal.SIGUSR1, signal.SIG_IGN)   # outside run()
    opts = set(pyfuse3.default_options)
    opts |= {'fsname=crashfs', 'allow_other', 'default_permissions'}
    pyfuse3.init(Ops(), mnt, opts)
    print('ready', flush=True)
    try:
        trio.run(run)
    finally:
        pyfuse3.close(unmount=False)
    for fd in list(fds):
        os.close(fd)
    for n in nodes.values():
        if n.orphan is not None:
            os.close(n.orphan)
    print(power_cut(backing, root, counts), flush=True)


def power_cut(backing, root, counts):
    """Rewrite backing to the durable state (built beside it, then swapped
    in); returns the summary line."""
    new = backing.rstrip('/') + '.cut'
    old = backing.rstrip('/') + '.old'
    made = {}           # Node -> the path made for it (hard links)
    lost = {'entries': 0, 'back': 0, 'reverted': 0}

    def live_data(n):
        try:
            with open(path_of[n], 'rb') as f:
                return f.read()
        except (KeyError, OSError):
            return None

    # the live paths, to count what the cut changes
    path_of = {}

    def walk(n, p):
        for name, c in n.children.items():
            cp = os.path.join(p, name)
            path_of.setdefault(c, cp)
            if c.kind == 'd':
                walk(c, cp)
    walk(root, os.fsencode(backing))

    def build(n, p):
        for name, c in sorted(n.durable.items()):
            cp = os.path.join(p, name)
            if n.children.get(name) is not c:
                lost['back'] += 1
            if c in made:
                if c.kind != 'd':
                    os.link(made[c], cp)
                continue        # a directory at two names: the first
            made[c] = cp
            if c.kind == 'd':
                os.mkdir(cp, c.mode)
                build(c, cp)
            elif c.kind == 'l':
                os.symlink(c.target, cp)
            else:
                with open(cp, 'wb') as f:
                    f.write(c.data or b'')
                os.chmod(cp, c.mode)
                if c.data != live_data(c):
                    lost['reverted'] += 1
            os.lchown(cp, c.uid, c.gid)
        for name, c in n.children.items():
            if n.durable.get(name) is not c:
                lost['entries'] += 1
                if lost['entries'] <= 20:     # what went, in the log
                    print('crashfs: lost', os.fsdecode(os.path.join(p, name)),
                          file=sys.stderr)

    os.mkdir(new, root.mode)
    os.lchown(new, root.uid, root.gid)
    build(root, os.fsencode(new))
    os.rename(backing, old)
    os.rename(new, backing)
    subprocess.run(['rm', '-rf', old], check=True)
    return (f'crashfs: power cut: {lost["entries"]} entries not synced lost, '
            f'{lost["back"]} unsynced removals or renames undone, '
            f'{lost["reverted"]} files back to their last fsync '
            f'({counts["fsync"]} fsync, {counts["fsyncdir"]} fsyncdir '
            f'served)')


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: crashfs.py BACKING MOUNTPOINT')
    serve(sys.argv[1], sys.argv[2])
