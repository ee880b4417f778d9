"""The import rules of DESIGN.md ("Processes and packages"), checked over every module.

Imports only go downward:

    bot/        bot.*, the wire protocol (agent.protocol), the shared choices (agent.choices) and
                the light settings (agent.config); the agent itself only to embed it, and only
                from `bot.main.embedded_agent`, by an import inside that function
    providers/  nothing of ours outside providers/; and one backend never imports another (they
                share only the base modules: base, errors, config, http, media, audio, ...)
    storage/    nothing of ours outside storage/
    agent/      never bot/ or reelbot/; its light modules (protocol, choices, config) are what the bot
                imports, so they import only the stdlib (and the wire format's serialisation library)
    agent.engine/  never agent.service/: a worker imports the engine (pipeline, cascade, render...)
                without the HTTP service; the service drives the engine, not the other way round
    agent.worker/  never agent.service/ (the distributed mode's worker runs the engine, not the front
                door); the engine never imports the worker

Imports are read with `ast`, top-level and inside functions (a lazy import is still an import: it
runs on some path), and those under `if TYPE_CHECKING:` (never run, but they still say what a module
depends on). A subprocess then checks what the light entry points really load: `import bot.main`
and the bot's settings leave numpy, OpenCV, Pillow, SQLAlchemy and the providers out, and the engine
loads without the service.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("agent", "bot", "providers", "storage", "reelbot")

BOT_MAY_IMPORT = {"agent.protocol", "agent.choices", "agent.config"}
# (importer, enclosing function) -> what it may import lazily beyond its package's rule
EMBEDDING = {("bot.main", "embedded_agent"): {"agent.service.app", "agent.settings"}}
LIGHT_AGENT_MODULES = {"agent.protocol", "agent.choices", "agent.config"}
WIRE_LIBRARIES = {"msgspec"}  # the wire protocol's one serialisation library
# What the backends share; every other module under providers/ belongs to one backend.
PROVIDER_SHARED = {"base", "errors", "config", "contract", "http", "media", "audio", "script_schema",
                   "openai_compat", "scrub", "children", "ffmpeg", "lifecycle", "video_tasks", "typeset",
                   "language"}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name (a submodule when `from X import Y` names one)
    line: int
    kind: str  # "top" | "lazy" (inside a function) | "typing" (under `if TYPE_CHECKING:`)
    function: str  # the enclosing function, "" at module level

    def __str__(self) -> str:
        where = f" in {self.function}()" if self.function else ""
        return f"{self.importer}:{self.line}{where} imports {self.target} ({self.kind})"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.functions: list[str] = []
        self.typing_depth = 0
        self.found: list[Import] = []

    def _kind(self) -> str:
        return "typing" if self.typing_depth else ("lazy" if self.functions else "top")

    def _add(self, target: str, node: ast.stmt) -> None:
        self.found.append(Import(self.module, target, node.lineno, self._kind(),
                                 self.functions[0] if self.functions else ""))

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        typing_only = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
        if typing_only:
            self.typing_depth += 1
            for stmt in node.body:
                self.visit(stmt)
            self.typing_depth -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join([*base, node.module] if node.module else base)
        else:
            source = node.module or ""
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            self._add(sub if source.split(".")[0] in OURS and _is_module(sub) else source, node)


def all_imports() -> list[Import]:
    found: list[Import] = []
    for package in OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            collector = _Collector(module_name(path), path.name == "__init__.py")
            collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
            found.extend(collector.found)
    return found


IMPORTS = all_imports()


def _top(name: str) -> str:
    return name.split(".")[0]


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _backend(module: str) -> str | None:
    """The backend a providers module belongs to (None for the shared modules and the registry)."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in PROVIDER_SHARED or parts[1] == "registry":
        return None
    return parts[1]


def violation(imp: Import) -> str | None:
    """Why `imp` breaks the rules, or None."""
    source, target = _top(imp.importer), imp.target
    if _top(target) not in OURS:
        if imp.importer in LIGHT_AGENT_MODULES and imp.kind != "typing":
            if _top(target) not in sys.stdlib_module_names and _top(target) not in WIRE_LIBRARIES:
                return "a light agent module (the bot imports it) imports a third-party library"
        return None
    if source == "bot":
        if _within(target, "bot") or target in BOT_MAY_IMPORT:
            return None
        if imp.kind == "lazy" and target in EMBEDDING.get((imp.importer, imp.function), set()):
            return None
        return "bot/ may import only bot.*, agent.protocol, agent.choices and agent.config"
    if source == "providers":
        if not _within(target, "providers"):
            return "providers/ imports nothing of ours outside providers/"
        mine = _backend(imp.importer)
        if mine is not None and _backend(target) not in (None, mine):
            return f"backend {mine!r} imports another backend ({_backend(target)!r})"
        return None
    if source == "storage":
        return None if _within(target, "storage") else "storage/ imports nothing of ours above it"
    if source == "agent":
        if _top(target) in ("bot", "reelbot"):
            return "agent/ never imports bot/ or reelbot/"
        if _within(imp.importer, "agent.engine") and _within(target, "agent.service"):
            return "agent.engine never imports agent.service (a worker runs the engine without the HTTP service)"
        if _within(imp.importer, "agent.worker") and _within(target, "agent.service"):
            return "agent.worker never imports agent.service (a worker runs the engine, not the front door)"
        if _within(imp.importer, "agent.engine") and _within(target, "agent.worker"):
            return "agent.engine never imports agent.worker (the worker drives the engine)"
        if (imp.importer, target, imp.kind) == ("agent.config", "providers.config", "lazy"):
            return None  # stdlib-only (secret fields and URL passwords), imported when secrets are asked for
        if imp.importer in LIGHT_AGENT_MODULES and target not in LIGHT_AGENT_MODULES and target != "agent":
            return "a light agent module (the bot imports it) imports the rest of ours"
        return None
    return None  # reelbot/ is the top: it wires everything


def test_the_collector_sees_every_kind_of_import() -> None:
    seen = {(i.importer, i.target, i.kind, i.function) for i in IMPORTS}
    assert ("bot.main", "bot.flow", "top", "") in seen
    assert ("bot.main", "agent.service.app", "lazy", "embedded_agent") in seen
    assert ("reelbot.commands.make", "agent.settings", "typing", "") in seen
    assert ("reelbot.commands.common", "agent.settings", "lazy", "load_settings_or_fail") in seen
    assert ("agent.engine.runtime", "agent.engine.render", "top", "") in seen  # `from agent.engine import render`
    assert ("providers.offline", "providers.offline.images", "typing", "") in seen
    assert len({i.importer for i in IMPORTS}) > 100  # every module, not a sample


def test_imports_follow_the_layering_rules() -> None:
    broken = [f"{imp}: {why}" for imp in IMPORTS if (why := violation(imp))]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(("imp", "rule"), [
    (Import("bot.flow", "agent.settings", 3, "top", ""), "bot/ may import only"),
    (Import("bot.flow", "agent.service.app", 3, "lazy", "run"), "bot/ may import only"),
    (Import("bot.main", "agent.engine.pipeline", 3, "lazy", "embedded_agent"), "bot/ may import only"),
    (Import("providers.ollama", "agent.settings", 3, "lazy", "probe"), "outside providers/"),
    (Import("providers.groq", "providers.ollama", 3, "top", ""), "imports another backend"),
    (Import("storage.jobs", "agent.protocol", 3, "top", ""), "above it"),
    (Import("agent.service.jobs", "bot.wire", 3, "top", ""), "never imports bot/"),
    (Import("agent.engine.pipeline", "agent.service.jobs", 3, "lazy", "run"), "never imports agent.service"),
    (Import("agent.engine.render.job", "agent.service", 3, "typing", ""), "never imports agent.service"),
    (Import("agent.worker.execute", "agent.service.views", 3, "top", ""), "agent.worker never imports agent.service"),
    (Import("agent.engine.pipeline", "agent.worker.events", 3, "lazy", "run"), "never imports agent.worker"),
    (Import("agent.config", "providers.base", 3, "top", ""), "imports the rest of ours"),
    (Import("agent.protocol", "numpy", 3, "top", ""), "third-party"),
])
def test_the_rules_catch_what_they_should(imp: Import, rule: str) -> None:
    assert rule in (violation(imp) or ""), imp


def test_the_allowed_exceptions_are_exactly_these() -> None:
    assert violation(Import("bot.main", "agent.service.app", 40, "lazy", "embedded_agent")) is None
    assert violation(Import("bot.main", "agent.service.app", 40, "top", "")) is not None
    assert violation(Import("providers.registry", "providers.ollama", 3, "top", "")) is None
    assert violation(Import("providers.groq", "providers.openai_compat", 3, "top", "")) is None
    assert violation(Import("agent.protocol", "msgspec", 3, "top", "")) is None
    assert violation(Import("agent.service.jobs", "agent.engine.pipeline", 3, "top", "")) is None


# ---------------------------------------------------------------------------- what really loads

HEAVY = ("numpy", "cv2", "PIL", "sqlalchemy", "providers", "agent.settings", "agent.service.app", "aiohttp.web",
         "discord", "telegram")

PROBE = """
import json, sys
{setup}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _loaded(setup: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup, heavy=HEAVY)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_bot_and_its_settings_load_without_the_engine() -> None:
    setup = (
        "import bot.main, bot.flow, bot.agent_client, bot.media, bot.store, bot.wire, bot.wording\n"
        "from agent.config import load_front_end_settings\n"
        "load_front_end_settings('config.toml', env={})"
    )
    assert _loaded(setup) == []


def test_the_cli_parser_loads_no_heavy_library() -> None:
    loaded = _loaded("from reelbot.cli import build_parser\nbuild_parser()")
    assert not {"numpy", "cv2", "PIL", "sqlalchemy", "agent.service.app", "discord", "telegram"} & set(loaded), loaded


def test_the_registry_and_the_agent_app_load_no_image_or_array_library() -> None:
    """Pillow, numpy and OpenCV come in when a job draws, checks or renders, not at start-up."""
    for setup in ("import providers.registry", "import agent.service.app, agent.engine.status"):
        loaded = _loaded(setup)
        assert not {"numpy", "cv2", "PIL"} & set(loaded), (setup, loaded)


def test_the_engine_loads_without_the_service() -> None:
    """What a worker imports: the pipeline, its runtime, the status report and the renderer, never the service."""
    setup = ("import agent.engine.runtime, agent.engine.pipeline, agent.engine.status, agent.engine.render\n"
             "service = sorted(m for m in sys.modules if m.startswith('agent.service'))\n"
             "assert not service, service")
    assert "agent.service.app" not in _loaded(setup)


def test_the_worker_loads_without_the_service() -> None:
    """What `reelbot worker` imports: the engine, storage and the queue engine, never the front door."""
    setup = ("import agent.worker.main, agent.worker.execute\n"
             "service = sorted(m for m in sys.modules if m.startswith('agent.service'))\n"
             "assert not service, service")
    assert "agent.service.app" not in _loaded(setup)
