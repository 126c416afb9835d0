"""Where code may reach: the rules of the layout (docs/architecture.md, "Where code
goes"), read from every import statement in the tree.

- A service imports its own modules, the shared package and the kernel; never another
  service's modules.
- The shared package imports no service.
- nameko and eventlet appear only in `chibo/nameko/`, the kernel's runtime and CLI
  edges, and the services' entrypoint modules.
- Domain rules, command handlers and escalation rules import neither those nor
  SQLAlchemy: they decide from what they are given.
- The clients drive the services through their public commands; they import no
  service's modules, only the shared package (the published events) and the kernel.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
SERVICE_NAMES = sorted(p.name for p in SERVICES.iterdir()
                       if (p / "entrypoints.py").exists())
RUNTIMES = ("nameko", "eventlet")
#: Modules that decide: given what they need, they answer; they neither talk to the bus
#: nor query a database.
PURE_MODULE_NAMES = ("domain.py", "handlers.py", "rules.py", "snapshot.py", "quality.py")


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def top(module: str, depth: int = 1) -> str:
    return ".".join(module.split(".")[:depth])


def where(path: Path, line: int, module: str) -> str:
    return f"{path.relative_to(ROOT)}:{line} imports {module}"


def test_the_layout_holds_the_four_services() -> None:
    assert SERVICE_NAMES == ["meetings", "members", "reporting", "supervision"]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_a_service_imports_no_other_service(service: str) -> None:
    allowed = {f"services.{service}", "services.shared"}
    offending = [where(path, line, module)
                 for path in sorted((SERVICES / service).rglob("*.py"))
                 for line, module in imports_of(path)
                 if top(module) == "services" and top(module, 2) not in allowed]
    assert offending == []


def test_the_shared_package_imports_no_service_and_no_runtime() -> None:
    offending = [where(path, line, module)
                 for path in sorted((SERVICES / "shared").rglob("*.py"))
                 for line, module in imports_of(path)
                 if (top(module) == "services" and top(module, 2) != "services.shared")
                 or top(module) in RUNTIMES]
    assert offending == []


#: Where nameko and eventlet may be imported besides `chibo/nameko/` and the entrypoint
#: modules: the simulator's RPC sender (a nameko RPC client, sending concurrently on
#: green threads).
EDGE = (ROOT / "chibo" / "nameko", ROOT / "clients" / "simulator" / "driver.py")


def test_nameko_and_eventlet_stay_at_the_edge() -> None:
    edge = EDGE
    files = sorted([*(ROOT / "chibo").rglob("*.py"), *SERVICES.rglob("*.py"),
                    *(ROOT / "clients").rglob("*.py")])
    offending = [where(path, line, module)
                 for path in files
                 if not any(path == e or e in path.parents for e in edge)
                 and path.name != "entrypoints.py" and not path.name.endswith("_entrypoints.py")
                 for line, module in imports_of(path)
                 if top(module) in RUNTIMES]
    assert offending == []


def test_rules_and_handlers_import_no_runtime_and_no_database_library() -> None:
    pure = sorted(path for path in SERVICES.rglob("*.py") if path.name in PURE_MODULE_NAMES)
    assert {p.name for p in pure} >= {"domain.py", "rules.py", "snapshot.py"}
    offending = [where(path, line, module)
                 for path in pure
                 for line, module in imports_of(path)
                 if top(module) in (*RUNTIMES, "sqlalchemy")]
    assert offending == []


def test_the_clients_import_no_service_module() -> None:
    offending = [where(path, line, module)
                 for path in sorted((ROOT / "clients").rglob("*.py"))
                 for line, module in imports_of(path)
                 if top(module) == "services"
                 and top(module, 2) not in ("services.shared", "services.app")]
    assert offending == []
