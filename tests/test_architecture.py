"""The house's walls (pyproject's [tool.importlinter] contracts), checked by import-linter on the real
import graph, function-level imports included; and the flat top of the package kept small."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold():
    lint = shutil.which("lint-imports")
    assert lint is not None, "import-linter is part of the test extra: pip install -e '.[test]'"
    done = subprocess.run([lint, "--no-logo", "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_top_of_the_package_holds_only_what_every_part_shares():
    flat = sorted(p.name for p in (ROOT / "src/mftctl").glob("*.py"))
    # config, config_input, choices, status, errors, terminal, devices, threads, faults, short names, stats,
    # metrics (the metric registry: store, search, analysis and render read it), and the two entry points
    assert len(flat) <= 14, flat


def test_every_relative_import_names_a_module_that_exists():
    """import-linter passes over an import it cannot resolve, and a function-level import fails only when
    its function runs: a module moved without its relative imports mended is caught here, statically."""
    import ast

    package = ROOT / "src"
    missing = []
    for source in sorted((package / "mftctl").rglob("*.py")):
        here = source.relative_to(package).with_suffix("").parts  # a package's __init__ counts as one level
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            target = package.joinpath(
                *here[: len(here) - node.level], *(node.module or "").split(".") if node.module else ()
            )
            names = [target] if node.module else [target / alias.name for alias in node.names]
            for name in names:
                if not (name.with_suffix(".py").exists() or (name / "__init__.py").exists()):
                    missing.append(f"{source.relative_to(ROOT)}:{node.lineno}: {'.' * node.level}{node.module or ''}")
    assert not missing, "\n".join(missing)
