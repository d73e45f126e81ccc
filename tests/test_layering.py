"""Which linecheck packages may import which: read from the source (AST), lazy imports included."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, module: str, *, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(line, dotted name)`` for every import in ``source``, at any depth.

    ``from a.b import c`` yields ``a.b`` and ``a.b.c`` (``c`` may be a module); relative imports are
    resolved against ``module``; ``importlib.import_module("x")`` with a literal name counts too.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def violations(packages: tuple[str, ...], forbidden: tuple[str, ...], root: Path = ROOT) -> list[str]:
    """``path:line: module imports name`` for each import of ``forbidden`` from inside ``packages``."""
    found: list[str] = []
    for package in packages:
        base = root / package.replace(".", "/")
        files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
        for path in files:
            module = _module_name(path, root)
            seen: set[tuple[int, str]] = set()
            source = path.read_text(encoding="utf-8")
            for line, name in imported_names(source, module, is_package=path.name == "__init__.py"):
                hit = next((f for f in forbidden if _within(name, f)), None)
                if hit and (line, hit) not in seen:
                    seen.add((line, hit))
                    found.append(f"{path.relative_to(root)}:{line}: {module} imports {name}")
    return found


#: Modules every package may import: kinds, the wire contract, the model contract, messages, errors, grading,
#: which files are images, whether a frame is fit to judge, the challenge-part rule, the pass-audit sample,
#: the attribute MSA, the run alarm rule.
FLOOR = (
    "linecheck.kinds",
    "linecheck.contract",
    "linecheck.model",
    "linecheck.config",
    "linecheck.settings_env",
    "linecheck.errors",
    "linecheck.messages",
    "linecheck.grading",
    "linecheck.image_files",
    "linecheck.pixel_depth",
    "linecheck.text_files",
    "linecheck.frame_checks",
    "linecheck.verification",
    "linecheck.audit",
    "linecheck.msa",
    "linecheck.alarms",
    "linecheck.line_outputs",
)

#: (importing packages, packages they must not import)
RULES = [
    (("linecheck.training",), ("linecheck.serving",)),
    (("linecheck.serving",), ("linecheck.training",)),
    (("linecheck.model",), ("linecheck.training", "linecheck.serving", "linecheck.inspect")),
    # The floor: rules two packages must agree on live once, below both of them.
    (
        FLOOR,
        (
            "linecheck.datasets",
            "linecheck.training",
            "linecheck.serving",
            "linecheck.inspect",
            "linecheck.cli",
        ),
    ),
]


@pytest.mark.parametrize(("packages", "forbidden"), RULES, ids=lambda v: "+".join(v))
def test_package_does_not_import_forbidden_package(packages, forbidden) -> None:
    found = violations(packages, forbidden)
    assert not found, "forbidden imports:\n" + "\n".join(found)


#: Demo-only modules allowed to draw synthetic frames: the demo trains its anomaly model on the
#: simulated line's own good frames and its PV cell classifier on the simulated modules' cells
#: (nothing on a real line's path imports them).
DEMO_ONLY = ("linecheck.inspect.demo_anomaly", "linecheck.inspect.demo_cells")


def test_inspection_and_serving_do_not_import_synthetic_data() -> None:
    found = violations(("linecheck.inspect", "linecheck.serving"), ("linecheck.datasets.synth",))
    found = [line for line in found if not any(f" {module} imports " in line for module in DEMO_ONLY)]
    assert not found, "forbidden imports:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import linecheck.serving.api", "linecheck.training.x", "linecheck.serving.api"),
        ("from linecheck.serving.triton import client", "linecheck.training.x", "linecheck.serving.triton"),
        ("from linecheck import serving", "linecheck.training.x", "linecheck.serving"),
        ("def f():\n    from linecheck.serving import a\n", "linecheck.training.x", "linecheck.serving"),
        ("from ..serving import triton", "linecheck.training.x", "linecheck.serving"),
        ("from . import serving", "linecheck.x", "linecheck.serving"),
        ("importlib.import_module('linecheck.serving.api')", "linecheck.training.x", "linecheck.serving.api"),
    ],
)
def test_every_import_form_is_seen(source, module, expected) -> None:
    names = {name for _, name in imported_names(source, module)}
    assert expected in names


@pytest.mark.parametrize(
    "source", ["import linecheck.servingx", "from linecheck.models import x", "x = 'linecheck.serving'"]
)
def test_names_that_only_look_alike_are_not_seen(source) -> None:
    names = {name for _, name in imported_names(source, "linecheck.training.x")}
    assert not any(_within(name, "linecheck.serving") for name in names)


def test_a_violation_names_the_module_and_the_import(tmp_path) -> None:
    bad = tmp_path / "linecheck" / "training" / "leak.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def go():\n    from linecheck.serving.triton.client import TritonDetector\n")
    assert violations(("linecheck.training",), ("linecheck.serving",), root=tmp_path) == [
        "linecheck/training/leak.py:2: linecheck.training.leak imports linecheck.serving.triton.client"
    ]
