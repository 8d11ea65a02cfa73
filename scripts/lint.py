#!/usr/bin/env python3
"""lint.py — the structure checks of `make lint` (and `make test`).

  * no include cycle between the modules of daemon/ (a module is foo.c +
    foo.h; it depends on bar when either includes "bar.h");
  * session.c includes no handler (who may send what is routes.c's);
  * no function in daemon/ or common/ longer than MAX_FUNCTION_LINES.
Prints what it finds; exits 1 when anything is found. With --counts FILE
appends "lint - passed failed 0" for scripts/test.sh's summary.
"""
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 100
HANDLERS = {"ingest", "queue", "stats", "pupil", "admin", "sweeper", "http", "grouptxn"}


def modules(folder):
    mods = {}
    for f in sorted((REPO / folder).glob("*.[ch]")):
        mods.setdefault(f.stem, []).append(f)
    return mods


def includes(path):
    return re.findall(r'^\s*#\s*include\s+"([^"]+)\.h"', path.read_text(), re.M)


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def long_functions(path):
    """(name, first line, length) of every function body longer than the limit:
    a body opens with '{' in column 0 and closes with '}' in column 0."""
    lines = path.read_text().splitlines()
    found, start, name = [], None, None
    for i, line in enumerate(lines):
        if line == "{" and start is None:
            start = i
            head = " ".join(lines[max(0, i - 3):i])
            m = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", head)
            name = m[0] if m else "?"
        elif line.startswith("}") and start is not None:
            length = i - start - 1
            if length > MAX_FUNCTION_LINES:
                found.append((name, start + 1, length))
            start = None
    return found


def main():
    problems, checks = [], 0
    mods = modules("daemon")
    graph = {m: {inc for f in files for inc in includes(f) if inc in mods and inc != m} for m, files in mods.items()}
    checks += 1
    for comp in cycles(graph):
        problems.append("include cycle between daemon modules: " + " ".join(comp))
    checks += 1
    bad = sorted(set(includes(REPO / "daemon" / "session.c")) & HANDLERS)
    if bad:
        problems.append("daemon/session.c includes handlers: " + ", ".join(bad))
    for folder in ("daemon", "common"):
        for f in sorted((REPO / folder).glob("*.c")):
            checks += 1
            for name, line, length in long_functions(f):
                problems.append(f"{f.relative_to(REPO)}:{line}: {name}() is {length} lines (at most {MAX_FUNCTION_LINES})")
    for p in problems:
        print("lint:", p)
    print(f"lint: {checks} checks, {len(problems)} problems")
    if len(sys.argv) == 3 and sys.argv[1] == "--counts":
        with open(sys.argv[2], "a") as out:
            print(f"lint - {checks - min(checks, len(problems))} {len(problems)} 0", file=out)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
