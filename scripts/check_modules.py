#!/usr/bin/env python3
"""Checks the crate's module graph (README, "Architecture"):

1. No module imports from a module that imports it, directly or through others: the graph of
   `src/**/*.rs` files, with an edge for every `use` and every inline `crate::…`/`super::…`
   path, has no cycle. A path to an item re-exported by a `mod.rs` (`pub use model::X`) is
   followed to the file that defines it: a re-export is an alias, not a use.
2. The pure modules import no I/O or framework crate (sqlx, axum, tokio, leptos, …).

Prints the graph's size and exits 1 with the offending modules when a rule is broken.
Usage: python3 scripts/check_modules.py [--graph]   (--graph also prints every edge)
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

# Modules with no Leptos, sqlx, axum or tokio: rules the browser and the server share, and the
# pure halves of the gate and the batch writer (STYLE.md, "Pure core, thin shell").
PURE = [
    "validation.rs", "format.rs", "clock.rs", "tenants/id.rs", "auth/model.rs", "auth/throttle.rs",
    "limits/rules.rs", "limits/period.rs", "limits/policy.rs", "limits/mode.rs", "overrides/mod.rs", "seed/file.rs",
    "usage/report.rs", "usage/pricing.rs", "usage/price_file.rs", "usage/batch.rs", "usage/model.rs",
    "enforce/admission.rs", "enforce/ledger.rs", "budgets/rules.rs", "budgets/trend.rs", "usage/history.rs",
    "usage/breakdown.rs",
    "api_tokens/mod.rs", "proxy/upstreams.rs", "proxy/estimate.rs", "proxy/openai.rs",
]
IMPURE_CRATES = ["sqlx", "axum", "tokio", "leptos", "leptos_axum", "leptos_router", "leptos_meta",
                 "tower_sessions", "tower_http", "hyper", "reqwest", "web_sys", "wasm_bindgen",
                 "eventsource_stream", "futures_util"]


def module_path(file: Path) -> tuple:
    rel = file.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    return re.sub(r"//[^\n]*", "", text)


def inline_modules_as_self(text: str) -> str:
    """Inside an inline `mod x { … }` (tests, cfg blocks), `super::` is the file's own module."""
    out, pos = [], 0
    for m in re.finditer(r"\bmod\s+\w+\s*\{", text):
        if m.start() < pos:
            continue
        depth, end = 0, m.end() - 1
        for end in range(m.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                break
        out.append(text[pos:m.end()])
        out.append(re.sub(r"\bsuper::", "self::", text[m.end():end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def expand(tree: str) -> list:
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e'] (aliases and `self` handled)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix, body = tree[:brace], tree[brace + 1:-1]
    items, depth, start = [], 0, 0
    for i, ch in enumerate(body + ","):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            if body[start:i]:
                items.append(body[start:i])
            start = i + 1
    out = []
    for item in items:
        for path in expand(item):
            out.append(prefix.rstrip(":") if path == "self" else prefix + path)
    return out


class Module:
    def __init__(self, file: Path):
        self.file = file
        self.path = module_path(file)
        self.text = inline_modules_as_self(strip_comments(file.read_text()))
        self.children = set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", self.text, re.M))
        self.uses, self.reexports = [], {}
        for public, tree in re.findall(r"^\s*(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", self.text, re.M):
            for p in expand(tree):
                segs = p.split("::")
                if public and segs[-1] != "*":
                    self.reexports[segs[-1]] = segs
                else:
                    self.uses.append(segs)
        body = re.sub(r"^\s*(pub(\([^)]*\))?\s+)?use\s+[^;]+;", "", self.text, flags=re.M)
        for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", body):
            self.uses.append(m.group(1).split("::"))
        # A bare path through a child module (`settle::Settled` in `proxy/mod.rs`) is an edge
        # too: missing it hid the cycle proxy -> proxy::settle -> state -> proxy.
        for m in re.finditer(r"(?<![:\w])(\w+(?:::\w+)+)", body):
            segs = m.group(1).split("::")
            if segs[0] in self.children:
                self.uses.append(segs)


def main() -> int:
    files = [f for f in SRC.rglob("*.rs") if "bin" not in f.relative_to(SRC).parts and f.name != "main.rs"]
    modules = {m.path: m for m in map(Module, files)}

    def absolute(mod: Module, segs: list):
        """A `use` path as segments from the crate root, or None for an external crate."""
        here = list(mod.path)
        if segs[0] == "crate":
            return segs[1:]
        if segs[0] == "self":
            return here + segs[1:]
        if segs[0] == "super":
            base = here[:]
            while segs and segs[0] == "super":
                base, segs = base[:-1], segs[1:]
            return base + segs
        if segs[0] in mod.children:
            return here + segs
        return None

    def resolve(segs: list, seen=()) -> tuple:
        """The file (module path) that defines what `segs` names."""
        for n in range(len(segs), -1, -1):
            if tuple(segs[:n]) in modules:
                owner = modules[tuple(segs[:n])]
                rest = segs[n:]
                if rest and rest[0] in owner.reexports and (owner.path, rest[0]) not in seen:
                    target = absolute(owner, owner.reexports[rest[0]])
                    if target is not None:
                        return resolve(target + rest[1:], seen + ((owner.path, rest[0]),))
                return owner.path
        return ()

    edges = {path: set() for path in modules}
    for mod in modules.values():
        for segs in mod.uses:
            target = absolute(mod, segs)
            if target is None:
                continue
            dest = resolve(target)
            if dest != mod.path and dest in modules:
                edges[mod.path].add(dest)

    problems = []
    for scc in strongly_connected(edges):
        if len(scc) > 1:
            names = sorted(name(p) for p in scc)
            problems.append("import cycle among: " + ", ".join(names))
    for rel in PURE:
        mod = modules.get(module_path(SRC / rel))
        if mod is None:
            problems.append(f"pure module {rel} is missing (update scripts/check_modules.py)")
            continue
        used = {segs[0] for segs in mod.uses if absolute(mod, segs) is None}
        used |= set(re.findall(r"\b(\w+)::", re.sub(r"^\s*(pub\s+)?use\s+[^;]+;", "", mod.text, flags=re.M)))
        bad = sorted(used & set(IMPURE_CRATES))
        if bad:
            problems.append(f"pure module {rel} uses {', '.join(bad)}")

    if "--graph" in sys.argv:
        for src in sorted(edges, key=name):
            for dst in sorted(edges[src], key=name):
                print(f"{name(src)} -> {name(dst)}")
    count = sum(len(v) for v in edges.values())
    print(f"modules: {len(modules)} files, {count} import edges, {len(PURE)} pure modules checked")
    for p in problems:
        print("ERROR:", p)
    if not problems:
        print("ok: no module imports from a module that imports it; pure modules import no I/O crate")
    return 1 if problems else 0


def name(path: tuple) -> str:
    return "crate::" + "::".join(path) if path else "crate"


def strongly_connected(edges: dict) -> list:
    """Tarjan's algorithm, iterative."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                scc = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    scc.append(top)
                    if top == node:
                        break
                out.append(scc)
    return out


if __name__ == "__main__":
    sys.exit(main())
