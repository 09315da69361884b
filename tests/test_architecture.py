"""The shape of the code: one import namespace, no private names across modules, no import
cycles, the data-flow direction space → models → evaluators → search → results."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Folder → the subpackage it installs as.
PACKAGES = {"space": "space", "models": "models", "evaluators": "evaluators", "search": "search", "results": "results"}
#: What each package may import (DESIGN.md: data flows one way; results may use space).
ALLOWED = {
    "space": set(),
    "models": {"space"},
    "evaluators": {"space", "models"},
    "search": {"space", "models", "evaluators", "results"},
    "results": {"space"},
}


def modules() -> dict[str, Path]:
    """Dotted name → file of every module of the installed namespace."""
    out = {"spikebits": ROOT / "spikebits" / "__init__.py"}
    for folder in PACKAGES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(("spikebits", *parts))] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, ast.AST]]:
    """(imported module, node) for every import of ``path``, at any depth (lazy ones too);
    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.append((full if full in known else base, node))
    return out


def top_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "spikebits" and len(parts) > 1 and parts[1] in PACKAGES else None


def test_every_import_goes_through_the_namespace_and_the_data_flow_direction():
    known = modules()
    wrong = []
    for name, path in known.items():
        here = top_package(name)
        for target, node in imports(name, path, known):
            if target.split(".")[0] in PACKAGES:
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} imports bare {target}")
            there = top_package(target)
            if here and there and there != here and there not in ALLOWED[here]:
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {here} imports {there}")
    assert wrong == []


def test_no_module_imports_a_private_name_or_reaches_into_private_attributes():
    known = modules()
    wrong = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} imports private {alias.name}")
                private = [p for p in (node.module or "").split(".") if p.startswith("_") and not p.startswith("__")]
                if private and (node.module or "").rpartition(".")[0] != name.rpartition(".")[0] and node.level == 0:
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} imports from another package's private module {node.module}")
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} reads private attribute .{node.attr}")
    assert wrong == []


def test_no_import_cycle_between_modules():
    known = modules()
    graph = {name: sorted({t for t, _ in imports(name, path, known) if t in known and t != name}) for name, path in known.items()}
    # A package's __init__ re-exports its modules; a module importing its own package's
    # public face would close a cycle through it, so those edges count too.
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name)
    assert cycles == []


def test_the_python_api_works_beside_files_that_shadow_the_old_module_names(tmp_path: Path):
    """A user's folder with models.py, search/ and results.py that raise on import."""
    for name in ("models.py", "results.py", "space.py", "evaluators.py", "search/__init__.py"):
        file = tmp_path / name
        file.parent.mkdir(exist_ok=True)
        file.write_text(f"raise RuntimeError('the user\\'s own {name} was imported')\n")
    script = textwrap.dedent(
        """
        import spikebits
        from spikebits import Budget, Evaluator, LayerChoice

        evaluator = Evaluator("digits_cnn", "digits", epochs=0, pretrain_epochs=0, cache_dir=".")
        config = evaluator.space.uniform(LayerChoice(2, 1, 1))
        metrics = evaluator(config)  # data, model, quantized forward pass, scoring
        assert metrics["bit_budget"] == 2.0 and 0.0 <= metrics["accuracy"] <= 1.0, metrics
        assert spikebits.get_strategy("nsga2").name == "nsga2"
        assert "Evaluator" in dir(spikebits) and Budget.parse("bit_budget<=2").to_dict() == {"bit_budget": 2.0}
        print("ok", metrics["bit_budget"])
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok 2.0"


def test_an_unknown_public_name_is_an_attribute_error():
    import spikebits

    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        spikebits.Nothing  # noqa: B018


def test_scoring_a_trial_imports_no_plotting_or_solver_library():
    # A Ray worker imports the evaluators and strategies to score trials; matplotlib,
    # scipy.stats and scipy.optimize (~2 s together) load only where a plot is drawn, a
    # kurtosis taken or an ILP solved.
    code = (
        "import sys, spikebits.evaluators, spikebits.search, spikebits.search.ray_search, spikebits.results; "
        "print(sorted(m for m in ('matplotlib', 'scipy.stats', 'scipy.optimize') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import sys; from spikebits.results import plot_front; print('matplotlib' in sys.modules, plot_front.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "spikebits.results.plots"]


#: The one module that reads a pickle (CIFAR's python-version batches), through a restricted
#: unpickler: a ``pickle.Unpickler`` subclass whose ``find_class`` allows a few globals only.
RESTRICTED_UNPICKLER = "spikebits.evaluators.cifar"


def test_the_cifar_reader_unpickles_only_through_its_restricted_unpickler():
    """Python's documented way to read an untrusted pickle: every ``pickle`` name the module
    uses is ``pickle.Unpickler`` as the base of a class that defines ``find_class``."""
    path = modules()[RESTRICTED_UNPICKLER]
    tree = ast.parse(path.read_text(), str(path))
    uses = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Attribute) and ast.unparse(n.value) == "pickle"]
    assert uses and set(uses) <= {"pickle.Unpickler", "pickle.UnpicklingError"}
    restricted = [
        n for n in ast.walk(tree)
        if isinstance(n, ast.ClassDef) and "pickle.Unpickler" in map(ast.unparse, n.bases)
        and any(isinstance(f, ast.FunctionDef) and f.name == "find_class" for f in n.body)
    ]
    assert len(restricted) == 1
    assert sum(isinstance(n, ast.ClassDef) and "pickle.Unpickler" in map(ast.unparse, n.bases) for n in ast.walk(tree)) == 1


def test_nothing_a_user_or_a_run_wrote_is_unpickled():
    """Every torch.load passes weights_only=True; no pickle load, Unpickler, numpy
    allow_pickle or Ray Tune restore (Tune's experiment state is a pickle) anywhere, but the
    CIFAR reader's restricted unpickler (checked above)."""
    found = []
    for name, path in modules().items():
        if name == RESTRICTED_UNPICKLER:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = ast.unparse(node.func)
            keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if func.endswith("torch.load") and keywords.get("weights_only") != "True":
                found.append(f"{name}:{node.lineno} {func} without weights_only=True")
            if func.split(".")[-1] in ("load", "loads", "Unpickler") and func.split(".")[0] in ("pickle", "cloudpickle", "dill", "joblib"):
                found.append(f"{name}:{node.lineno} {func}")
            if keywords.get("allow_pickle") == "True" or func.endswith(("Tuner.restore", "tune.run_experiments")):
                found.append(f"{name}:{node.lineno} {func}")
        found += [f"{name} imports {module}" for module, _ in imports(name, path, {}) if module.split(".")[0] in ("pickle", "_pickle", "dill")]
    assert found == []


def test_a_strategy_is_ask_and_tell_plus_hooks_and_the_executors_drive_it():
    """``Strategy``'s public surface is at most 8 methods (ask, tell and hooks); the executors
    test no strategy's class and touch no strategy's counters (the driver keeps them)."""
    from spikebits.search.base import Strategy

    methods = sorted(n for n, v in vars(Strategy).items() if callable(v) and not n.startswith("_") and not isinstance(v, type))
    assert methods == ["ask", "describe", "finish", "publish", "records", "remaining", "start", "tell"]
    for module in ("spikebits.search.executors", "spikebits.search.ray_search"):
        tree = ast.parse(modules()[module].read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "isinstance":
                assert "Strategy" not in ast.unparse(node.args[1]), f"{module}: {ast.unparse(node)}"
            if isinstance(node, ast.Attribute) and ast.unparse(node.value) in ("strategy", "self.strategy", "part"):
                assert node.attr not in ("n_told", "n_asked", "deadline", "stop_reason", "on_epoch"), f"{module}: {ast.unparse(node)}"


def test_no_source_function_is_over_80_lines():
    long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80:
                long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert long == []


def test_a_metric_is_named_in_its_declaration_and_its_formula_only():
    """Outside ``__all__`` lists, a metric key is a string literal in ``space/metrics.py`` (its
    declaration) and, for a data metric, where it is measured (the evaluator; for the
    accuracies also the training loop's pretraining scores); nowhere else do lists, labels,
    worst values, axes or integer-program rows name it. (The hardware simulation's report has
    its own fields ``energy_pj`` and ``accuracy``, a chip placement its own ``cores_used`` and a chip profile its capacity key ``core_memory_bits``.)"""
    from spikebits.space import metric_table

    names = {m.name for m in metric_table()}
    allowed = {"spikebits.space.metrics"}
    formula = {"spikebits.evaluators.evaluator", "spikebits.evaluators.training"}
    found = {}
    for name, path in modules().items():
        tree = ast.parse(path.read_text(), str(path))
        skip = {id(c) for n in ast.walk(tree) if isinstance(n, ast.Assign) and any(ast.unparse(t) == "__all__" for t in n.targets)
                for c in ast.walk(n.value)}
        skip |= {id(n.body[0].value) for n in ast.walk(tree)
                 if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body and isinstance(n.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in skip:
                found.setdefault(node.value, set()).add(name)
    data = {m.name for m in metric_table() if m.needs_data}
    for metric, where in found.items():
        extra = where - allowed - (formula if metric in data else set())
        if metric in ("energy_pj", "accuracy"):
            extra -= {"spikebits.evaluators.hardware"}
        if metric in ("cores_used", "core_memory_bits"):  # a placement's field; a profile's capacity key
            extra -= {"spikebits.evaluators.chips"}
        assert not extra, f"{metric} is named in {sorted(extra)}"
