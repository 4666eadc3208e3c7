#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# facteur - idle-ld.py: the .text.idle patterns of init/idle.ld, from a
# link map and the names of the functions the idle daemons run.
#
#   idle-ld.py MAP BINARY NAMES > patterns
#
# MAP: the musl build's link map (add -Wl,-Map=FILE to its link, and
# NOSTRIP=1 so that BINARY, the executable, keeps its symbols); NAMES: one
# function name a line, e.g. the fn= names of `valgrind --tool=callgrind`
# run on each idle daemon (authd, smtpd and its roles, imapd: the files
# of the processes still alive when they idle, not those of children that
# exited), plus any that `perf record -e page-faults -d` still shows
# faulting far from .text.idle.  Prints one pattern a line for each
# library input section holding one of them (our programs' code is left
# out: ld cannot reorder inside it), in their old order.  Paste them
# into init/idle.ld; check the idle PSS (README, "Memory").
import bisect, os, re, subprocess, sys

mapfile, binary, names = sys.argv[1:4]
secs = []
pend = None
for line in open(mapfile):
    m = re.match(r'^ (\.text\S*)\s*$', line)
    if m:
        pend = m.group(1)
        continue
    m = re.match(r'^ (\.text\S*)?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$',
        line)
    if m and (m.group(1) or pend):
        secs.append((int(m.group(2), 16), int(m.group(3), 16),
            m.group(1) or pend, m.group(4).strip()))
    pend = None
secs.sort()
starts = [s[0] for s in secs]
syms = {}
nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True,
    text=True).stdout
for line in nm.splitlines():
    p = line.split()
    if len(p) == 3 and p[1] in "tTwW":
        syms.setdefault(p[2], []).append(int(p[0], 16))
out = {}
for name in open(names).read().split():
    for a in syms.get(name, []):
        j = bisect.bisect_right(starts, a) - 1
        if j < 0:
            continue
        s = secs[j]
        f = s[3]
        if not s[0] <= a < s[0] + s[1] or re.search(
            r'ltrans|\.prog\.o|multicall', f):
            continue
        m = re.match(r'^(.*)\((.*)\)$', f)
        pat = ("*%s:%s" % (os.path.basename(m.group(1)), m.group(2)) if m
            else "*" + os.path.basename(f))
        out[s[0]] = "    %s(%s)" % (pat, s[2])
for k in sorted(out):
    print(out[k])
