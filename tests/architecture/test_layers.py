"""The layer contracts of docs/architecture.md, enforced by import-linter as part of the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: " in result.stdout and " broken" in result.stdout
    assert " 0 broken" in result.stdout


def test_kernel_imports_only_the_standard_library() -> None:
    """A second, direct check: every import in kernel/ is stdlib or dipper.kernel itself."""
    import ast

    stdlib = set(sys.stdlib_module_names)
    offenders = []
    for path in (ROOT / "src/dipper/kernel").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and not name.startswith("dipper.kernel") and top != "__future__":
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
