"""The dependency rule between packages, and that the robot side never imports torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "onboard", "offboard", "firmware_bridge")
#: which of our packages each package may import (besides itself).
ALLOWED = {
    "shared": set(),
    "onboard": {"shared", "firmware_bridge"},
    "offboard": {"shared"},
    "firmware_bridge": {"shared"},
}


def imported_top_levels(path: Path) -> set[str]:
    """Top-level module names imported anywhere in one file (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_dependency_rule(package: str) -> None:
    violations = []
    for path in sorted((ROOT / package).rglob("*.py")):
        others = imported_top_levels(path) & set(PACKAGES) - {package} - ALLOWED[package]
        violations += [f"{path.relative_to(ROOT)} imports {name}" for name in sorted(others)]
    assert not violations, "\n".join(violations)


def test_checker_sees_violations(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import offboard.x\nfrom torch import nn\nfrom . import sibling\n")
    assert imported_top_levels(bad) == {"offboard", "torch"}


def test_onboard_modules_never_import_torch() -> None:
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "onboard").rglob("*.py"))
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "print(len(sys.modules), bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, f"onboard imported torch: {run.stdout} {run.stderr}"
    assert modules, "no onboard modules found"
