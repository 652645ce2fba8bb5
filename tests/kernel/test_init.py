"""``kernel init NAME``: the scaffolded distribution installs, is listed by ``kernel plugins``,
and its own test passes as generated, in a fresh virtualenv holding the local kernel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from uv import find_uv_bin

from kernel.cli import main
from kernel.scaffold import ScaffoldError, scaffold

ROOT = Path(__file__).resolve().parents[2]
#: The repository's lint rules, applied to the generated code on its own.
RUFF_RULES = "E,F,W,I,B,UP,RUF,SIM,PT"


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, check=False
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_init_writes_the_distribution(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "my-model", "--directory", str(tmp_path)]) == 0
    target = tmp_path / "my-model"
    assert str(target) in capsys.readouterr().out
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "models/my-model-example/model-settings.json",
        "pyproject.toml",
        "src/kernel_my_model/__init__.py",
        "src/kernel_my_model/py.typed",
        "src/kernel_my_model/runtime.py",
        "tests/test_kernel_my_model.py",
    ]
    pyproject = (target / "pyproject.toml").read_text()
    assert 'name = "kernel-my-model"' in pyproject
    assert '[project.entry-points."kernel.plugins"]\nmy-model = "kernel_my_model"' in pyproject
    assert (
        'register("my-model", MyModelRuntime)'
        in (target / "src/kernel_my_model/__init__.py").read_text()
    )
    readme = (target / "README.md").read_text()
    assert "unrelated project called `kernel` is on PyPI" in readme
    assert "$" not in pyproject + readme  # every placeholder substituted


def test_init_code_is_lint_and_type_clean(tmp_path: Path) -> None:
    target = scaffold("lintme", tmp_path)
    bin_dir = Path(sys.executable).parent
    _run(
        bin_dir / "ruff",
        "check",
        "--isolated",
        "--select",
        RUFF_RULES,
        "--line-length",
        "100",
        ".",
        cwd=target,
    )
    _run(
        bin_dir / "ruff", "format", "--isolated", "--line-length", "100", "--check", ".", cwd=target
    )
    _run(bin_dir / "mypy", "--strict", target / "src" / "kernel_lintme", cwd=tmp_path)


@pytest.mark.parametrize("name", ["9lives", "My", "has space", "a..b", "", "trailing-"])
def test_init_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ScaffoldError, match="must be lower-case"):
        scaffold(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_an_existing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    assert main(["init", "taken", "--directory", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]


@pytest.mark.slow
def test_init_installs_lists_and_its_test_passes(tmp_path: Path) -> None:
    uv = find_uv_bin()
    assert main(["init", "tripler", "--directory", str(tmp_path)]) == 0
    target = tmp_path / "tripler"
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    _run(uv, "venv", "--python", sys.executable, venv)
    # The kernel from this checkout, next to the plugin: `kernel` by name from an index would
    # be the unrelated PyPI project.
    _run(uv, "pip", "install", "--python", python, "-e", ROOT, "-e", f"{target}[test]")
    where = _run(python, "-c", "import kernel; print(kernel.__file__)")
    assert where.startswith(str(ROOT))

    listed = _run(venv / "bin" / "kernel", "plugins")
    row = next(line for line in listed.splitlines() if line.startswith("tripler "))
    assert row.split() == ["tripler", "kernel-tripler", "0.1.0", "tripler"]

    tested = _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=target)
    assert "3 passed" in tested
