#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# facteur - idle-ld.py: the .text.idle patterns of init/idle.ld, from the
# link maps of the static builds and what their idle daemons run.
#
#   idle-ld.py MAP RAN EXE [MAP RAN EXE ...] > patterns
#
# One triple per build (the musl one, the glibc one: init/idle.ld serves
# both).  MAP: the build's link map (its link command with
# -Wl,-Map=FILE).  EXE: the executable it linked, with its symbols
# (NOSTRIP=1).  RAN: one function name or 0x address a line: the
# instruction addresses (lines starting 0x) of the callgrind files
# (valgrind --tool=callgrind --dump-instr=yes --compress-pos=no
# --callgrind-out-file=cg.%p) of the processes still alive once authd,
# smtpd and imapd idle (not those of children that exited), plus any
# function that `perf record -e page-faults -d` shows faulting outside
# .text.idle.  Each gives the input section that holds it (names through
# EXE's symbol table, local ones too): one function where it was compiled
# with -ffunction-sections (ours, the musl build's libraries), else the
# whole object's .text (Debian's libc.a, libcrypto.a ...: glibc has one
# small object per function).  A glibc string function run through an
# IFUNC (__strlen_avx2) brings every variant of it (__strlen_*, but the
# _rtm ones of CPUs with TSX), as the CPU decides which one runs.  Prints
# a pattern for each section, ours first, then the libraries', each in
# link order; merge them into init/idle.ld (a pattern already there
# needs no second line).
import bisect, collections, os, re, subprocess, sys


def base(n):
    return re.sub(r'\.(lto_priv|constprop|part|isra|cold)\.\d+.*$', '', n)


# glibc's x86 IFUNC variants: __NAME_VARIANT
VARIANT = re.compile(r'^(__\w+?)_(sse2|ssse3|sse4|sse42|avx|avx2|evex|avx512|'
                     r'erms|unaligned)\w*$')


def sections(mapfile):
    """(addr, size, section, file) of each input section of code"""
    out, pend, insec = [], None, False
    for line in open(mapfile):
        m = re.match(r'^(\.\S+)(\s+0x[0-9a-f]+\s+0x[0-9a-f]+)?\s*$', line)
        if m:
            insec = m.group(1) in ('.text', '.text.idle')
            pend = None
            continue
        if not insec:
            continue
        m = re.match(r'^ (\.text\S*)\s*$', line)
        if m:
            pend = m.group(1)
            continue
        m = re.match(r'^ (\.text\S*)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+'
                     r'(\S.*)$', line)
        if m and (m.group(1) or pend) and int(m.group(2), 16) and \
                int(m.group(3), 16):
            out.append((int(m.group(2), 16), int(m.group(3), 16),
                        m.group(1) or pend, m.group(4).strip()))
        pend = None
    return sorted(out)


def symbols(exe):
    """name -> addresses of the functions in exe"""
    syms = collections.defaultdict(list)
    nm = subprocess.run(['nm', '--defined-only', exe], capture_output=True,
                        text=True, check=True).stdout
    for line in nm.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in 'tTwWiI':
            syms[p[2]].append(int(p[0], 16))
    return syms


def pattern(sec, f):
    """the idle.ld pattern of input section sec of file f, and if ours"""
    fn = sec[len('.text.'):] if sec.startswith('.text.') else ''
    if 'ltrans' in f or '.prog.o' in f:
        obj = '*.ltrans.o' if 'ltrans' in f else '*' + os.path.basename(f)
        b = base(fn)
        if fn and b != fn:
            return '%s(.text.%s .text.%s.*)' % (obj, b, b), True
        return '%s(%s)' % (obj, sec), True
    m = re.match(r'^(.*)\((.*)\)$', f)
    obj = ('*%s:%s' % (os.path.basename(m.group(1)), m.group(2)) if m
           else '*' + os.path.basename(f))
    return '%s(%s)' % (obj, sec), False


ours, libs, seen = [], [], set()
args = sys.argv[1:]
if not args or len(args) % 3:
    sys.exit('usage: idle-ld.py MAP RAN EXE [MAP RAN EXE ...]')
for i in range(0, len(args), 3):
    secs = sections(args[i])
    starts = [s[0] for s in secs]
    syms = symbols(args[i + 2])
    want = set(n.strip() for n in open(args[i + 1]) if n.strip())
    names = sorted((a, n) for n, l in syms.items() for a in l)
    for n in list(want):
        if re.match(r'^0x[0-9a-f]+$', n):
            k = bisect.bisect_right(names, (int(n, 16), '\xff')) - 1
            n = names[k][1] if k >= 0 else n
        m = VARIANT.match(n)
        if m:
            want.update(s for s in syms if s.startswith(m.group(1) + '_')
                        and VARIANT.match(s) and not s.endswith('_rtm'))
    hot = set()
    for n in want:
        addrs = syms.get(n, [])
        if re.match(r'^0x[0-9a-f]+$', n):
            addrs = [int(n, 16)]
        for a in addrs:
            j = bisect.bisect_right(starts, a) - 1
            if j >= 0 and a < secs[j][0] + secs[j][1]:
                hot.add(j)
    sys.stderr.write('%s: %d sections, %d bytes\n' % (args[i],
                     len(hot), sum(secs[j][1] for j in hot)))
    for j in sorted(hot):
        pat, mine = pattern(secs[j][2], secs[j][3])
        if pat not in seen:
            seen.add(pat)
            (ours if mine else libs).append('    ' + pat)
print('\n'.join(ours + libs))
