"""Imports flow one way: the import graph of morl_mm (read with ``ast``, nothing imported) has no cycle,
and no function imports a module except the optional extras and the few lazy imports allowlisted below.

An edge ``a -> b`` is an import of module ``b`` anywhere in ``a`` (module level or inside a function):
``from pkg import name`` counts as an import of ``pkg.name`` when that is a module, else of ``pkg``, and
importing ``pkg.mod`` from outside ``pkg`` also runs ``pkg/__init__`` (an edge to ``pkg``). So importing
a package's ``__init__`` from one of its own modules is a cycle like any other. Imports under
``if TYPE_CHECKING:`` (annotations only, never run) do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "morl_mm"

LAYERS = (
    ("scalarisation", "atomic", "_gym_registration", "jax_cache"),  # leaves: w . (J / scales), atomic output, gym ids,
    # the compilation cache
    ("env",),  # the simulator, its objectives table and normalisation scales
    ("data", "pareto"),  # captures -> features -> calibrated EnvParams; non-dominated sets and indicators
    ("evaluation", "agents", "oracle"),  # rollouts and metrics; the learners; the exact DP oracle
    ("policies",),  # one Policy interface, policy files (rebuilds learned networks through agents)
    ("study",),  # config -> units -> study.nc, and the results' read side
    ("plots",),  # figures and the report, from a study's results
    ("live",),  # the quote engine, venues, monitoring
    ("cli",),  # the morl-mm command
)
"""The packages of morl_mm from the bottom up: a module may import its own package and lower layers only (README,
Architecture)."""

OPTIONAL_EXTRAS = {
    "torch": "the morl-baselines extra",
    "morl_baselines": "the morl-baselines extra",
    "ray": "the ray extra (study backend)",
    "optuna": "the sweep extra (morl-mm sweep)",
    "simplefix": "the FIX extra",
    "prometheus_client": "the metrics extra",
}
"""Top-level modules a function may import anywhere: installed only with an optional extra."""

LAZY_IMPORTS = {
    ("morl_mm.cli", "*"): "each subcommand imports what it runs: `--help` and the light commands start without JAX",
    ("morl_mm.data.calibration", "matplotlib"): "the fit's figure only: the data package loads no plotting otherwise",
    ("morl_mm.live.session", "morl_mm.live.fix"): "--venue fix:// needs the live extra (simplefix); sim runs without",
}
"""(module, imported top-level name or module) pairs of function-level imports, each lazy for the reason given;
"*": anything."""


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    files = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    return files


def imported_modules(node: ast.AST, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The modules one import statement imports (``from pkg import name``: ``pkg.name`` if it is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    submodules = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in known]
    plain = [alias for alias in node.names if f"{source}.{alias.name}" not in known]
    return submodules + ([source] if plain or not submodules else [])


def executed_modules(target: str, importer: str, known: set[str]) -> set[str]:
    """The package's modules that importing ``target`` from ``importer`` runs: ``target`` (or the module that
    holds it) and the ``__init__`` of every package above it, except the importer's own packages (already
    running when the importer runs)."""
    name = target
    while name and name not in known:
        name = name.rpartition(".")[0]
    own = {importer.rsplit(".", n)[0] for n in range(importer.count(".") + 1)}
    parts = name.split(".") if name else []
    ran = {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & known
    return ran - own


def import_graph(package: Path = PACKAGE) -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """``(edges, function_imports)``: module -> the package's modules it imports, and every import inside a
    function as ``(module, function, imported)``."""
    files = module_files(package)
    known = set(files)
    edges: dict[str, set[str]] = {m: set() for m in files}
    function_imports = []
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"

        def visit(node, function):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                    continue
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    visit(child, getattr(child, "name", "<lambda>"))
                    continue
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in imported_modules(child, module, is_package, known):
                        if function is not None:
                            function_imports.append((module, function, target))
                        edges[module] |= executed_modules(target, module, known)
                visit(child, function)

        visit(tree, None)
    return edges, function_imports


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def connect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def test_the_package_has_no_import_cycle():
    edges, _ = import_graph()
    assert len(edges) > 50  # the scan found the package
    assert cycles(edges) == []


def test_functions_import_only_optional_extras_and_allowlisted_lazy_modules():
    _, function_imports = import_graph()
    # move such an import to the top of its module, or allowlist it in LAZY_IMPORTS with its reason
    assert bad_function_imports(function_imports) == []


def test_packages_import_only_lower_layers():
    edges, _ = import_graph()
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    package = lambda module: module.split(".")[1] if "." in module else None  # noqa: E731  (None: morl_mm itself)
    packages = {package(m) for m in edges} - {None}
    assert packages == set(layer), "every package of morl_mm has a layer"
    upward = sorted(
        (a, b)
        for a, targets in edges.items()
        for b in targets
        if package(a) is not None and package(b) != package(a) and layer[package(b)] >= layer[package(a)]
    )
    assert upward == []


def bad_function_imports(function_imports) -> list[tuple[str, str, str]]:
    def allowed(module: str, target: str) -> bool:
        return (
            target.split(".")[0] in OPTIONAL_EXTRAS
            or (module, "*") in LAZY_IMPORTS
            or any((module, target.rsplit(".", n)[0]) in LAZY_IMPORTS for n in range(target.count(".") + 1))
        )

    return sorted({(m, f, t) for m, f, t in function_imports if not allowed(m, t)})


def test_the_check_sees_a_cycle_and_a_function_level_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import f\n")
    (package / "b.py").write_text("import numpy\n\ndef f():\n    from pkg import a\n    import torch\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (package / "sub").mkdir()
    (package / "sub" / "__init__.py").write_text("from pkg.sub.d import g\n")
    (package / "sub" / "d.py").write_text("from pkg.sub import e\nfrom pkg import f\n\ng = 1\n")
    (package / "sub" / "e.py").write_text("from pkg.c import TYPE_CHECKING\n")
    (package / "f.py").write_text("from pkg.sub.e import TYPE_CHECKING\n")  # runs pkg/sub/__init__ first
    edges, function_imports = import_graph(package)
    assert edges == {
        "pkg": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.a"},
        "pkg.c": set(),
        "pkg.sub": {"pkg.sub.d"},
        "pkg.sub.d": {"pkg.sub.e", "pkg.f"},
        "pkg.sub.e": {"pkg.c"},
        "pkg.f": {"pkg.sub", "pkg.sub.e"},
    }
    assert sorted(cycles(edges)) == [["pkg.a", "pkg.b"], ["pkg.f", "pkg.sub", "pkg.sub.d"]]
    assert bad_function_imports(function_imports) == [("pkg.b", "f", "pkg.a")]  # torch: an optional extra
