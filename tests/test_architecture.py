"""The folder tree is the architecture: each part imports only from the parts below it.

docs/architecture.md draws the same rule. A part is a subpackage of ``backprop_lab``
(``engine``, ``classifier``, ...) or one of its top-level modules (``textbook``). The
package root (``backprop_lab/__init__.py``: the version and lazy public names) may be
imported by everything.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import backprop_lab

PACKAGE = Path(backprop_lab.__file__).parent

# part -> the parts it may import from (besides itself and the package root)
ALLOWED: dict[str, set[str]] = {
    "_util": set(),
    "textbook": set(),
    "data": {"_util"},
    "nn": {"_util"},
    "engine": {"_util", "nn"},
    "classifier": {"_util", "data", "nn", "engine"},
    "responsible": {"_util", "data", "nn", "engine", "classifier"},
    "tutorial": {"_util", "data", "nn", "engine", "classifier", "responsible", "textbook"},
    "explorer": {"_util", "data", "nn", "engine", "textbook"},
    "distributed": {"_util", "data", "nn", "engine", "classifier"},
    "cli": {
        "_util",
        "data",
        "nn",
        "engine",
        "classifier",
        "responsible",
        "tutorial",
        "explorer",
        "textbook",
        "distributed",
    },
}
# part -> parts it may import only inside a function, to hand work over: the estimator's
# fit and scoring pass a dask collection to `distributed` (an optional extra that itself
# builds on `classifier`), so nothing of it loads unless a dask collection arrives.
LAZY_DISPATCH: dict[str, set[str]] = {"classifier": {"distributed"}}
ROOT_MODULES = {"__init__", "__main__"}


def _part(module: tuple[str, ...]) -> str:
    """The part a dotted module path (below ``backprop_lab``) belongs to."""
    return module[0] if module else "__init__"


def _module_path(path: Path) -> tuple[str, ...]:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def _top_level_lines(path: Path) -> set[int]:
    """Lines of the imports a module runs when it is imported (outside any function)."""
    lines: set[int] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                lines.add(child.lineno)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return lines


def _imports(path: Path) -> list[tuple[tuple[str, ...], list[str], int]]:
    """(target module below backprop_lab, imported names, line) for each package import."""
    module = _module_path(path)
    package = module if path.name == "__init__.py" else module[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = (*base, *(node.module.split(".") if node.module else ()))
            elif node.module and node.module.split(".")[0] == "backprop_lab":
                target = tuple(node.module.split(".")[1:])
            else:
                continue
            if not node.module and node.level:
                # `from . import x`: each name may be a module of its own
                for name in names:
                    found.append(((*target, name), [], node.lineno))
            else:
                found.append((target, names, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "backprop_lab":
                    found.append((tuple(alias.name.split(".")[1:]), [], node.lineno))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_known_part():
    parts = {_part(_module_path(p)) for p in SOURCES} - ROOT_MODULES
    assert parts <= set(ALLOWED), f"parts without an import rule: {sorted(parts - set(ALLOWED))}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_only_to_allowed_parts(path: Path):
    part = _part(_module_path(path))
    if part in ROOT_MODULES:
        return
    allowed = ALLOWED[part] | {part}
    top_level = _top_level_lines(path)
    for target, names, line in _imports(path):
        target_part = _part(target)
        if target_part in ROOT_MODULES or target == ("__version__",):
            continue
        if target_part in LAZY_DISPATCH.get(part, set()):
            assert line not in top_level, (
                f"{path.relative_to(PACKAGE)}:{line} imports backprop_lab.{'.'.join(target)} "
                f"at module level; part '{part}' may import it only inside a function"
            )
            continue
        assert target_part in allowed, (
            f"{path.relative_to(PACKAGE)}:{line} imports backprop_lab.{'.'.join(target)}: "
            f"part '{part}' may import only from {sorted(allowed)}"
        )
        if target_part != part:
            private = [n for n in names if n.startswith("_")]
            assert not private, (
                f"{path.relative_to(PACKAGE)}:{line} imports private {private} from part "
                f"'{target_part}'"
            )


def _exists(target: tuple[str, ...]) -> bool:
    """Is ``backprop_lab.<target>`` a module or a package of this source tree?"""
    path = PACKAGE.joinpath(*target)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_package_import_names_an_existing_module(path: Path):
    """Also the imports inside functions, which importing a module does not run."""
    for target, _, line in _imports(path):
        if target in ((), ("__version__",)):
            continue
        assert _exists(target), (
            f"{path.relative_to(PACKAGE)}:{line} imports backprop_lab.{'.'.join(target)}, "
            "which does not exist"
        )


def test_the_checker_catches_an_upward_import(tmp_path):
    """The rule is not vacuous: a module of `nn` importing the training loop breaks it."""
    bad = PACKAGE / "nn" / "_upward_probe.py"
    try:
        bad.write_text("from ..engine.training import train\n", encoding="utf-8")
        with pytest.raises(AssertionError, match="part 'nn' may import only from"):
            test_imports_point_only_to_allowed_parts(bad)
    finally:
        bad.unlink()


def test_the_checker_catches_a_module_level_dispatch_import():
    """The lazy dispatch exception holds only inside functions."""
    bad = PACKAGE / "classifier" / "_eager_probe.py"
    try:
        bad.write_text("from ..distributed import training\n", encoding="utf-8")
        with pytest.raises(AssertionError, match="only inside a function"):
            test_imports_point_only_to_allowed_parts(bad)
    finally:
        bad.unlink()


def test_the_package_works_without_dask():
    """Importing the package, the estimator and the distributed part loads no dask."""
    code = (
        "import sys\n"
        "import backprop_lab.classifier.estimator, backprop_lab.distributed\n"
        "import backprop_lab.cli\n"
        "print(any(m == 'dask' or m.startswith(('dask.', 'distributed')) for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_on_its_own(part: str):
    module = importlib.import_module(f"backprop_lab.{part}")
    assert module.__name__ == f"backprop_lab.{part}"


def test_scoring_and_serving_never_import_matplotlib():
    """A batch scoring job or the explorer's server must not pay for (or need) matplotlib."""
    code = (
        "import sys\n"
        "import backprop_lab.classifier.tabular_model, backprop_lab.classifier.metrics\n"
        "import backprop_lab.classifier.monitor, backprop_lab.cli.monitor\n"
        "import backprop_lab.responsible.audit, backprop_lab.responsible.explain\n"
        "import backprop_lab.explorer.server\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
