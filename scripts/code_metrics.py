"""Measure the code shape of a Python package folder (stdlib ``ast`` only).

Usage:
    python scripts/code_metrics.py [PATH_TO_ENGINE_DIR ...] [--rev REV ...] [--json OUT]

Each ``--rev REV`` exports that git revision's ``engine/`` folder
(``git archive REV engine | tar -x``, run from the repository root) into a
temporary folder and measures it; each positional path is measured as it is
on disk. With neither, the checkout's ``engine/`` is measured. Prints one
markdown table (a column per measured tree, a row per metric); ``--json OUT``
writes every detail (top-5 lists included) to OUT.

Metrics: modules and lines; function length (def line to last line,
decorators not counted); parameter count (posonly + args + kwonly + *args +
**kwargs) and how many functions take more than 16; module-level
``A, B, C = range(...)`` statements and the names they bind; distinct
intra-package modules each module imports (relative and ``engine.`` imports,
those inside functions too).
"""

import argparse
import ast
import json
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MANY_PARAMS = 16
TOP = 5


def module_names(root):
    """Map dotted module name -> file for every .py file under root."""
    pkg = root.name
    mods = {}
    for f in sorted(root.rglob("*.py")):
        parts = [pkg, *f.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = f
    return mods


def functions(tree):
    """Yield (qualified name, node) for every function, nested ones included."""

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield prefix + child.name, child
                yield from walk(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, prefix + child.name + ".")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def n_params(fn):
    a = fn.args
    return (
        len(a.posonlyargs)
        + len(a.args)
        + len(a.kwonlyargs)
        + (a.vararg is not None)
        + (a.kwarg is not None)
    )


def range_unpacks(tree):
    """Names bound by module-level `A, B, C = range(...)` statements."""
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], (ast.Tuple, ast.List))
            and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name)
            and stmt.value.func.id == "range"
        ):
            yield len(stmt.targets[0].elts)


def internal_imports(name, is_pkg, tree, mods, pkg):
    """Distinct intra-package modules imported anywhere in a module."""
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bases = [a.name for a in node.names]
            for b in bases:
                if b == pkg or b.startswith(pkg + "."):
                    found.add(b)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(
                    here[: len(here) - node.level + 1] + ([node.module] if node.module else [])
                )
            elif node.module and (node.module == pkg or node.module.startswith(pkg + ".")):
                base = node.module
            else:
                continue
            for a in node.names:  # `from .x import y`: y may be a submodule
                sub = f"{base}.{a.name}"
                found.add(sub if sub in mods else base)
    found.discard(name)
    return found


def measure(root):
    root = Path(root)
    mods = module_names(root)
    pkg = root.name
    funcs, unpacks, imports, lines = [], [], {}, 0
    for name, f in mods.items():
        src = f.read_text(encoding="utf-8")
        lines += len(src.splitlines())
        tree = ast.parse(src, filename=str(f))
        for qual, fn in functions(tree):
            funcs.append(
                {
                    "name": qual,
                    "module": name,
                    "lines": fn.end_lineno - fn.lineno + 1,
                    "params": n_params(fn),
                }
            )
        unpacks += [{"module": name, "names": n} for n in range_unpacks(tree)]
        imports[name] = sorted(internal_imports(name, f.name == "__init__.py", tree, mods, pkg))
    longest = sorted(funcs, key=lambda d: -d["lines"])[:TOP]
    widest = sorted(funcs, key=lambda d: -d["params"])[:TOP]
    most = max(imports, key=lambda m: len(imports[m]), default=None)
    return {
        "modules": len(mods),
        "lines": lines,
        "functions": len(funcs),
        "largest_functions": longest,
        "longest_param_lists": widest,
        f"functions_over_{MANY_PARAMS}_params": sum(d["params"] > MANY_PARAMS for d in funcs),
        "range_unpack_statements": len(unpacks),
        "range_unpack_names": sum(u["names"] for u in unpacks),
        "range_unpacks": unpacks,
        "max_internal_imports": len(imports[most]) if most else 0,
        "max_internal_imports_module": most,
        "internal_imports": imports,
    }


def export_rev(rev, into):
    archive = subprocess.run(
        ["git", "archive", rev, "engine"], cwd=REPO, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return Path(into) / "engine"


def table(results):
    def fn(d, key):
        return f"{d['name']} ({d['module']}, {d[key]})"

    rows = [
        ("modules", lambda r: r["modules"]),
        ("lines", lambda r: r["lines"]),
        ("functions", lambda r: r["functions"]),
        ("largest function (lines)", lambda r: fn(r["largest_functions"][0], "lines")),
        (
            f"top {TOP} function lines",
            lambda r: ", ".join(str(d["lines"]) for d in r["largest_functions"]),
        ),
        ("longest parameter list", lambda r: fn(r["longest_param_lists"][0], "params")),
        (
            f"top {TOP} parameter counts",
            lambda r: ", ".join(str(d["params"]) for d in r["longest_param_lists"]),
        ),
        (
            f"functions with > {MANY_PARAMS} params",
            lambda r: r[f"functions_over_{MANY_PARAMS}_params"],
        ),
        ("`A, B, ... = range(...)` statements", lambda r: r["range_unpack_statements"]),
        ("names bound by them", lambda r: r["range_unpack_names"]),
        (
            "max intra-package modules imported",
            lambda r: f"{r['max_internal_imports']} ({r['max_internal_imports_module']})",
        ),
    ]
    out = ["| metric | " + " | ".join(results) + " |", "|---" * (len(results) + 1) + "|"]
    for label, get in rows:
        out.append(f"| {label} | " + " | ".join(str(get(r)) for r in results.values()) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", help="package folders to measure")
    ap.add_argument(
        "--rev",
        action="append",
        default=[],
        help="git revision whose engine/ to measure (repeatable)",
    )
    ap.add_argument("--json", help="write all details to this file")
    args = ap.parse_args()
    paths = args.paths or ([] if args.rev else [str(REPO / "engine")])
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, rev in enumerate(args.rev):
            dest = Path(tmp) / str(i)
            dest.mkdir()
            results[rev] = measure(export_rev(rev, dest))
        for p in paths:
            results[p] = measure(p)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
