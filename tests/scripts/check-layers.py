#!/usr/bin/env python3
"""Checks the crate's module structure from its paths (`use crate::...`, `crate::x::y`, `super::`):

1. Layers: imports point down only (DESIGN.md):
       api < model < metrics < aws < reconcile < the kinds < leader, manager, main
   and a kind (webstack, targetgroup, listenerrule, containerservice, staticsite) never imports
   another kind.
2. A WebStack part (a folder under src/webstack/parts/) never reaches into a sibling part.
3. No cycle between modules: no module imports one that (directly or not) imports it back. An edge
   from a module to one of its ancestors (`super::Deps` in a child) counts; tests (`*_tests.rs`,
   `mod tests`) do not.

Prints every violation and exits 1 if there is one. Run by .ci/run; `python3 tests/scripts/check-layers.py`.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")

LAYERS = {
    "api": 0,
    "model": 1,
    "metrics": 2,
    "aws": 3,
    "reconcile": 4,
    "webstack": 5,
    "targetgroup": 5,
    "listenerrule": 5,
    "containerservice": 5,
    "staticsite": 5,
    "leader": 6,
    "manager": 6,
    "plan": 6,
    "main": 6,
    "lib": 6,
}
KINDS = {name for name, layer in LAYERS.items() if layer == 5}
PARTS = ("webstack", "parts")


def module_of(path):
    """src/webstack/parts/dns/mod.rs -> ('webstack', 'parts', 'dns')."""
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    return tuple(rel)


def is_test(path):
    return path.endswith("_tests.rs") or os.path.basename(path) == "tests.rs"


def strip(text):
    """Drops comments, string literals and `#[cfg(test)] mod tests { ... }` blocks."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while depth and j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand_use(body):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e'] (paths only, `as` dropped)."""
    body = re.sub(r"\s+as\s+\w+", "", body)
    body = re.sub(r"\s+", "", body)
    results = []

    def walk(prefix, s):
        depth, start, parts = 0, 0, []
        for k, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:k])
                start = k + 1
        parts.append(s[start:])
        for p in filter(None, parts):
            if "{" in p:
                head = p[: p.index("{")]
                walk(prefix + head, p[p.index("{") + 1 : p.rindex("}")])
            else:
                results.append(prefix + p)

    walk("", body)
    return [r[:-2] if r.endswith("::") else r for r in results]


def references(module, text):
    """Absolute module paths (tuples) a file refers to."""
    refs = []
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        paths.extend(expand_use(m.group(1)))
    paths.extend(m.group(0) for m in re.finditer(r"\b(?:crate|super|self)(?:::\w+)+", text))
    for p in paths:
        segs = [s for s in p.split("::") if s]
        if not segs:
            continue
        if segs[0] == "crate":
            refs.append(tuple(segs[1:]))
        elif segs[0] in ("super", "self"):
            base = list(module)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
            refs.append(tuple(base + segs))
    return refs


def main():
    files = {}
    for dirpath, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs"):
                path = os.path.join(dirpath, n)
                files[module_of(path)] = path
    modules = set(files)

    def resolve(ref):
        """The longest prefix of `ref` that is a module of the crate."""
        for k in range(len(ref), 0, -1):
            if ref[:k] in modules:
                return ref[:k]
        return None

    errors = []
    graph = {m: set() for m in modules}
    for module, path in sorted(files.items()):
        if is_test(path):
            continue
        text = strip(open(path, encoding="utf-8").read())
        rel = os.path.relpath(path, os.path.join(ROOT, ".."))
        for ref in references(module, text):
            target = resolve(ref)
            if target is None or target == module:
                continue
            graph[module].add(target)
            src_top, dst_top = module[0], target[0]
            if src_top != dst_top:
                if src_top not in LAYERS or dst_top not in LAYERS:
                    errors.append(f"{rel}: module {src_top if src_top not in LAYERS else dst_top} has no layer in check-layers.py")
                elif LAYERS[dst_top] > LAYERS[src_top]:
                    errors.append(f"{rel}: {'::'.join(module)} imports {'::'.join(target)}, a higher layer")
                elif src_top in KINDS and dst_top in KINDS:
                    errors.append(f"{rel}: the kind {src_top} imports the kind {dst_top} ({'::'.join(target)}); shared code belongs in model/")
            # A WebStack part reaches only into itself, the layers below and webstack's shared modules.
            if module[:2] == PARTS and len(module) > 2 and target[:2] == PARTS and len(target) > 2:
                if module[2] != target[2]:
                    errors.append(f"{rel}: the part {module[2]} reaches into the part {target[2]} ({'::'.join(target)})")

    # Cycles: strongly connected components of more than one module (Tarjan).
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
                comps.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    for comp in comps:
        members = sorted("::".join(m) for m in comp)
        edges = sorted(
            f"{'::'.join(a)} -> {'::'.join(b)}" for a in comp for b in graph[a] if b in comp
        )
        errors.append("import cycle between " + ", ".join(members) + ":\n    " + "\n    ".join(edges))

    for e in errors:
        print("check-layers: " + e)
    if errors:
        sys.exit(1)
    print(f"check-layers: {len(modules)} modules, layers respected, no cycle")


if __name__ == "__main__":
    main()
