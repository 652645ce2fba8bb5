"""Every hook in ``kernel.hookspecs`` is documented in docs/hooks.md (its exact signature, when
it fires, an example) and has a test of its own named ``test_hook_<hook name>`` (or
``test_hook_<hook name>_<what>``) somewhere under tests/."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kernel import hookspecs
from kernel.hookspecs import PROJECT

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "hooks.md"
TESTS = ROOT / "tests"


def hook_specs(module: Any) -> dict[str, Callable[..., Any]]:
    """The functions of ``module`` marked ``@hookspec``."""
    marker = f"{PROJECT}_spec"
    return {
        name: fn
        for name, fn in vars(module).items()
        if inspect.isfunction(fn) and hasattr(fn, marker)
    }


def signature_text(name: str, fn: Callable[..., Any]) -> str:
    """``name(arg: Type, ...) -> Return`` as the source spells the annotations."""
    sig = inspect.signature(fn)  # annotations stay strings (``from __future__ import annotations``)
    params = ", ".join(
        f"{p.name}: {p.annotation}" if p.annotation is not p.empty else p.name
        for p in sig.parameters.values()
    )
    return f"{name}({params}) -> {sig.return_annotation}"


def doc_sections(markdown: str) -> dict[str, str]:
    """``## heading`` -> the text below it, up to the next ``##`` heading."""
    parts = re.split(r"^## +(\S+) *$", markdown, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def doc_problems(specs: dict[str, Callable[..., Any]], markdown: str) -> list[str]:
    """What the page lacks, one line per problem."""
    sections = doc_sections(markdown)
    problems = []
    for name, fn in specs.items():
        text = sections.get(name)
        if text is None:
            problems.append(f"{name}: no '## {name}' section")
            continue
        signature = signature_text(name, fn)
        if f"`{signature}`" not in text:
            problems.append(f"{name}: the section does not give the signature `{signature}`")
        if "**When:**" not in text:
            problems.append(f"{name}: the section does not say when it fires (**When:**)")
        if "```python\n" not in text or f"def {name}(" not in text:
            problems.append(f"{name}: the section has no ```python example implementing it")
    return problems


def defined_test_names(files: Iterable[Path]) -> set[str]:
    """Every test function name defined in ``files``."""
    names = set()
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                names.add(node.name)
    return names


def untested(specs: Iterable[str], names: set[str]) -> list[str]:
    return [
        hook
        for hook in specs
        if not any(n == f"test_hook_{hook}" or n.startswith(f"test_hook_{hook}_") for n in names)
    ]


def test_every_hook_is_documented() -> None:
    specs = hook_specs(hookspecs)
    assert {"kernel_register_runtimes", "kernel_startup", "kernel_shutdown"} <= specs.keys()
    assert doc_problems(specs, DOCS.read_text(encoding="utf-8")) == []


def test_every_hook_has_its_own_test() -> None:
    specs = hook_specs(hookspecs)
    assert untested(specs, defined_test_names(TESTS.rglob("test_*.py"))) == []


# --- the checks catch what they are for --------------------------------------------------------


def test_meta_catches_a_hook_missing_from_the_docs() -> None:
    specs = hook_specs(hookspecs)
    markdown = DOCS.read_text(encoding="utf-8")
    without = re.sub(r"^## kernel_shutdown\n", "## something_else\n", markdown, flags=re.M)
    assert doc_problems(specs, without) == ["kernel_shutdown: no '## kernel_shutdown' section"]


def test_meta_catches_a_changed_signature() -> None:
    specs = hook_specs(hookspecs)
    markdown = DOCS.read_text(encoding="utf-8")
    old = "`kernel_startup(kernel: Kernel) -> Awaitable[None] | None`"
    assert old in markdown
    problems = doc_problems(specs, markdown.replace(old, "`kernel_startup(kernel)`"))
    assert problems == [
        "kernel_startup: the section does not give the signature"
        " `kernel_startup(kernel: Kernel) -> Awaitable[None] | None`"
    ]


def test_meta_catches_a_hook_without_example_or_test(tmp_path: Path) -> None:
    specs = {"kernel_startup": hookspecs.kernel_startup}
    sig = signature_text("kernel_startup", hookspecs.kernel_startup)
    bare = f"## kernel_startup\n\n`{sig}`\n\n**When:** at start.\n"
    assert doc_problems(specs, bare) == [
        "kernel_startup: the section has no ```python example implementing it"
    ]
    tests = tmp_path / "test_x.py"
    tests.write_text("def test_hook_kernel_startupish(): pass\ndef test_kernel_startup(): pass\n")
    assert untested(specs, defined_test_names([tests])) == ["kernel_startup"]
    tests.write_text("async def test_hook_kernel_startup_fails(): pass\n")
    assert untested(specs, defined_test_names([tests])) == []
