"""The base of every provider's config dataclass.

Each provider module declares a frozen dataclass subclassing `ProviderConfig`, with a default for
every field. `agent.settings` fills it from the provider's `[providers.NAME]` table in config.toml,
then applies environment overrides:

* `env` maps a field to an environment variable that overrides the file (e.g. the seed's
  `LOCAL_AI_SERVER` for Ollama's `url`);
* `secret_env` maps a field to the *only* place its value may come from. A secret field found in
  the file is an error: secrets never live in files in the repo.

A field with a fixed set of values is typed `Literal[...]` (such as `GpuSharing`): the loader
refuses anything else, naming the key and the allowed values, so providers need not check again.

A URL field may carry a password (`http://admin:pass@gpu-box:11434`): `secrets()` registers it, so
it is scrubbed wherever it appears, bare or inside a URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar, Literal

from providers.scrub import url_secrets

__all__ = ["ProviderConfig", "GpuSharing", "config_secrets"]

# When a GPU-heavy backend gives its memory back after its step (agent.engine.gpu decides):
# "auto" when another GPU-heavy backend shares its host, "always", or "never".
GpuSharing = Literal["auto", "always", "never"]


@dataclass(frozen=True)
class ProviderConfig:
    env: ClassVar[Mapping[str, str]] = {}
    secret_env: ClassVar[Mapping[str, str]] = {}

    def configured(self) -> bool:
        """True when this provider should be used: its URL or key is present. Unset means
        skipped, with no probes and no delay."""
        return True

    def with_env(self, env: Mapping[str, str]) -> ProviderConfig:
        """This config after reading any variable whose *name* is itself a setting (the
        openai_compatible provider's `api_key_env`); the rest have nothing to read."""
        return self

    def secrets(self) -> tuple[str, ...]:
        """Secret values held by this config, to scrub from error text and logs: the secret fields,
        and the password of any URL field (`http://user:pass@host`, as LOCAL_AI_SERVER may be)."""
        return config_secrets(self)


def config_secrets(config: object) -> tuple[str, ...]:
    """The secrets of any settings dataclass: its `secret_env` fields' values, and what
    `providers.scrub.url_secrets` finds in each of its text fields."""
    found = [str(getattr(config, f)) for f in getattr(config, "secret_env", {}) if getattr(config, f, None)]
    for f in fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name, None)
        if isinstance(value, str) and "@" in value:
            found.extend(url_secrets(value))
    return tuple(dict.fromkeys(found))
