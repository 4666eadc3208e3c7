#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# facteur - idle-ld.py: the .text.idle patterns of init/idle.ld, from a
# link map and the names of the functions the idle daemons run.
#
#   idle-ld.py MAP NAMES > patterns
#
# MAP: the musl build's link map (its link command with -Wl,-Map=FILE;
# NOSTRIP=1 keeps the executable's symbols for the tools below).  NAMES:
# one function name a line, e.g. the fn= names of the callgrind files
# (valgrind --tool=callgrind --callgrind-out-file=cg.%p) of the processes
# still alive once authd, smtpd and imapd idle (not those of children
# that exited), plus any function that `perf record -e page-faults -d`
# shows faulting outside .text.idle.  Prints a pattern for each input
# section holding one of them, ours first, in their old order (add
# assembler functions in a plain .text by hand: memcpy.lo(.text)).
import os, re, sys

mapfile, names = sys.argv[1:3]


def base(n):
    return re.sub(r'\.(lto_priv|constprop|part|isra|cold)\.\d+.*$', '', n)


hot = set(base(n) for n in open(names).read().split())
secs = []
pend = None
for line in open(mapfile):
    m = re.match(r'^ (\.text\S*)\s*$', line)
    if m:
        pend = m.group(1)
        continue
    m = re.match(r'^ (\.text\S*)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$',
        line)
    if m and (m.group(1) or pend) and int(m.group(2), 16):
        secs.append((int(m.group(2), 16), m.group(1) or pend,
            m.group(4).strip()))
    pend = None
ours, libs, seen = [], [], set()
for addr, sec, f in sorted(secs):
    fn = sec[len('.text.'):] if sec.startswith('.text.') else ''
    if 'ltrans' in f or '.prog.o' in f:
        if not fn or base(fn) not in hot:
            continue
        obj = '*.ltrans.o' if 'ltrans' in f else '*' + os.path.basename(f)
        b = base(fn)
        pat = '%s(.text.%s .text.%s.*)' % (obj, b, b) if b != fn else \
            '%s(%s)' % (obj, sec)
        out = ours
    else:
        if not (fn and base(fn) in hot) and not re.search(
            r'cpuid\.o', f):
            continue
        m = re.match(r'^(.*)\((.*)\)$', f)
        obj = ('*%s:%s' % (os.path.basename(m.group(1)), m.group(2)) if m
            else '*' + os.path.basename(f))
        pat = '%s(%s)' % (obj, sec)
        out = libs
    if pat not in seen:
        seen.add(pat)
        out.append('    ' + pat)
print('\n'.join(ours + libs))
