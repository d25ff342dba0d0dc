#!/usr/bin/env python3
"""depgraph.py OBJDIR: the library's file graph from its objects (nm):
A -> B when A.o uses a symbol that B.o alone defines.  Prints the edges and
the strongly connected components (circles) of more than one file; exits 1
if there is a circle.  Header inline functions count for the file that uses
them (they are compiled into its object)."""
import subprocess, sys, glob, os, collections

objs = sorted(glob.glob(os.path.join(sys.argv[1], '**', '*.o'), recursive=True))
defs, uses = {}, collections.defaultdict(set)
# one nm for every object (one per object took a minute on a loaded machine);
# -A names the object at the head of each line: "path.o:value type name"
out = subprocess.run(['nm', '-A'] + objs, capture_output=True, text=True).stdout if objs else ''
for line in out.splitlines():
    path, _, rest = line.partition('.o:')
    name = os.path.basename(path)
    parts = rest.split()
    if len(parts) == 2 and parts[0] == 'U':
        uses[name].add(parts[1])
    elif len(parts) == 3 and parts[1] in 'TDBR':
        defs[parts[2]] = name
edges = collections.defaultdict(set)
for a, syms in uses.items():
    for s in syms:
        b = defs.get(s)
        if b and b != a:
            edges[a].add(b)
nodes = sorted(set(uses) | set(defs.values()))
for a in nodes:
    print(f'{a} -> {", ".join(sorted(edges[a])) or "(nothing)"}')
# Tarjan
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def strong(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            strong(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v: break
        if len(c) > 1: sccs.append(sorted(c))
sys.setrecursionlimit(10000)
for v in nodes:
    if v not in index: strong(v)
for c in sccs:
    print('CIRCLE:', ' '.join(c))
print('circles:', len(sccs))
sys.exit(1 if sccs else 0)
