"""The provider contract, checked when a class is registered: declare a stage, implement it.

A provider class lists the stages it serves in `stages`; for each one it must implement that
stage's protocol (`providers.base.STAGE_PROTOCOLS`) with compatible methods. `check_provider_class`
verifies, with `inspect`, what a type checker would and what the cascade relies on at run time:

* the class attributes: `name` (a non-empty string), `tier` (a `Tier`), `stages` (a non-empty
  frozenset of provider stages), `config_class` (a `ProviderConfig` dataclass);
* the constructor takes `(config, deps)` (for a class the registry builds; `Backends`, given
  instances already built, leaves that out);
* every method of every declared stage's protocol (and of `Provider`: `secrets`, `probe`) exists,
  is `async` exactly when the protocol's is, accepts the protocol's arguments by position and by
  name, and, where both sides' annotations resolve to classes, takes at least the protocol's
  argument types and returns (a subclass of) its return type.

A class that fails is refused with a `ContractError` (a `TypeError`) naming the class, the stage
and each problem. The registry checks every class it lists at import, and `agent.engine.backends` checks
every instance it is given, so a provider that forgot a method stops the process at start-up instead
of being skipped, item after item, as "bad output".
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

from providers.base import STAGE_PROTOCOLS, Stage, Tier
from providers.config import ProviderConfig

__all__ = ["ContractError", "check_provider_class", "contract_problems", "protocol_methods"]


class ContractError(TypeError):
    """A provider class does not implement what it declares. The message lists every problem."""

    def __init__(self, cls: type, problems: list[str]) -> None:
        self.cls = cls
        self.problems = problems
        where = f"{cls.__module__}.{cls.__qualname__}"
        super().__init__(f"provider class {where} breaks the provider contract: " + "; ".join(problems))


def protocol_methods(protocol: type) -> dict[str, Callable[..., Any]]:
    """The methods a protocol declares, its bases' included (`__init__` aside: it is checked apart)."""
    methods: dict[str, Callable[..., Any]] = {}
    for klass in reversed(protocol.__mro__):
        if not getattr(klass, "_is_protocol", False) or klass is typing.Protocol:
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") and inspect.isfunction(value):
                methods[name] = value
    return methods


@functools.cache
def check_provider_class(cls: type, *, constructor: bool = True) -> None:
    """Raise `ContractError` unless `cls` honours the contract of every stage it declares
    (`constructor=False`: except how it is built, for an instance that exists already).
    Cached per class: a class that passed once passes again (one that fails raises every time)."""
    problems = contract_problems(cls, constructor=constructor)
    if problems:
        raise ContractError(cls, problems)


def contract_problems(cls: type, *, constructor: bool = True) -> list[str]:
    """Every way `cls` breaks the contract; empty when it honours it."""
    problems = _attribute_problems(cls)
    if constructor:
        problems += _constructor_problems(cls)
    stages: object = getattr(cls, "stages", frozenset())
    if not isinstance(stages, frozenset):
        return problems
    checked: set[str] = set()
    for stage in sorted((s for s in stages if s in STAGE_PROTOCOLS), key=list(Stage).index):
        for name, expected in protocol_methods(STAGE_PROTOCOLS[stage]).items():
            if name in checked:  # secrets()/probe() are shared by every stage's protocol
                continue
            checked.add(name)
            problems += [f"{stage.value} stage: {p}" for p in _method_problems(cls, name, expected)]
    return problems


def _attribute_problems(cls: type) -> list[str]:
    problems = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        problems.append(f"`name` must be a non-empty string, got {name!r}")
    tier = getattr(cls, "tier", None)
    if not isinstance(tier, Tier):
        problems.append(f"`tier` must be a Tier, got {tier!r}")
    stages = getattr(cls, "stages", None)
    if not isinstance(stages, frozenset) or not stages:
        problems.append(f"`stages` must be a non-empty frozenset of Stage, got {stages!r}")
    else:
        wrong = [s for s in stages if s not in STAGE_PROTOCOLS]
        if wrong:
            problems.append(f"`stages` holds {wrong!r}; a provider serves only {[s.value for s in STAGE_PROTOCOLS]}")
    config_class = getattr(cls, "config_class", None)
    if not (isinstance(config_class, type) and issubclass(config_class, ProviderConfig)
            and dataclasses.is_dataclass(config_class)):
        problems.append(f"`config_class` must be a ProviderConfig dataclass, got {config_class!r}")
    return problems


def _constructor_problems(cls: type) -> list[str]:
    try:
        inspect.signature(cls).bind("config", "deps")
    except TypeError as exc:
        return [f"the constructor must take (config, deps): {exc}"]
    except ValueError:  # no signature to read (a builtin): nothing to check
        pass
    return []


def _method_problems(cls: type, name: str, expected: Callable[..., Any]) -> list[str]:
    impl = inspect.getattr_static(cls, name, None)
    if isinstance(impl, staticmethod | classmethod):
        return [f"{name}() must be a plain method, not a {type(impl).__name__}"]
    if impl is None or not callable(impl):
        return [f"lacks {name}()" if impl is None else f"{name} is not a method ({impl!r})"]
    problems = []
    want_async = inspect.iscoroutinefunction(expected)
    if inspect.iscoroutinefunction(impl) != want_async:
        problems.append(f"{name}() must be {'an async' if want_async else 'a plain (not async)'} method")
    try:
        impl_sig = inspect.signature(impl)
    except ValueError:
        return problems
    params = [p for p in inspect.signature(expected).parameters.values()][1:]  # after self
    # Callers pass the protocol's arguments by position (the pipeline) or by name: both must bind.
    positional = ["self", *(p.name for p in params)]
    by_name = {p.name: p.name for p in params}
    for how, bind in (("by position", lambda: impl_sig.bind(*positional)),
                      ("by name", lambda: impl_sig.bind("self", **by_name))):
        try:
            bind()
        except TypeError as exc:
            problems.append(f"{name}{impl_sig} cannot be called {how} as {name}{_shown(expected)}: {exc}")
            break
    problems += _annotation_problems(name, impl, expected, [p.name for p in params])
    return problems


def _annotation_problems(name: str, impl: Any, expected: Callable[..., Any], params: list[str]) -> list[str]:
    """Argument and return types, where both sides resolve to classes (unresolvable ones, such as
    names imported only for type checkers, are left to mypy)."""
    try:
        want = typing.get_type_hints(expected)
        have = typing.get_type_hints(impl)
    except NameError:
        return []
    problems = []
    for param in params:
        w, h = want.get(param), have.get(param)
        if isinstance(w, type) and isinstance(h, type) and not issubclass(w, h):
            problems.append(f"{name}() takes {param}: {h.__name__}, the protocol passes {w.__name__}")
    w, h = want.get("return"), have.get("return")
    if isinstance(w, type) and isinstance(h, type) and not issubclass(h, w):
        problems.append(f"{name}() returns {h.__name__}, the protocol needs {w.__name__}")
    return problems


def _shown(fn: Callable[..., Any]) -> str:
    sig = inspect.signature(fn)
    return str(sig.replace(parameters=list(sig.parameters.values())[1:]))
