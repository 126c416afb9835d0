"""The kernel (`chibo/`, `chibo/nameko/` included) imports nothing from `services`: the
application registers what it adds (its services, its `chibo` sub-commands, the demo's
sample) and the kernel finds it through CHIBO_APP."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import chibo
from chibo.cli import KERNEL_COMMANDS, registered_commands

KERNEL = Path(chibo.__file__).parent


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import statement, at module level or inside a function."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_no_kernel_module_imports_a_service_module() -> None:
    files = sorted(KERNEL.rglob("*.py"))
    assert KERNEL / "cli.py" in files and KERNEL / "nameko" / "web" / "server.py" in files
    offending = [f"{path.relative_to(KERNEL.parent)}:{line} imports {module}"
                 for path in files
                 for line, module in imported_modules(ast.parse(path.read_text("utf-8")))
                 if module == "services" or module.startswith("services.")]
    assert offending == []


def test_an_application_that_registers_no_commands_gets_the_kernels() -> None:
    names = [command.name for command in registered_commands(SimpleNamespace())]
    assert names == ["demo", "audit", "migrate", "init-db", "provision"]


def test_the_kernels_commands_go_where_the_application_lists_them() -> None:
    demo, audit, migrate, init_db, provision = KERNEL_COMMANDS
    own = SimpleNamespace(name="extra", help="", config_mode=None)
    application = SimpleNamespace(COMMANDS=[own, init_db])
    names = [command.name for command in registered_commands(application)]
    assert names == ["extra", "init-db", "demo", "audit", "migrate", "provision"]
