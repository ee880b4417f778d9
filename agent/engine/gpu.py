"""One GPU, shared: which GPU-heavy backends give their memory back after their step.

When Ollama and ComfyUI run on the same box, the LLM and the diffusion model do not fit in VRAM
together on most cards. The pipeline already runs one GPU-heavy call at a time (its GPU lock); this
module decides, once per process, which backends should also *release* the GPU after their step:
Ollama unloads its model on the job's last script call (`keep_alive: 0`), ComfyUI frees its models
(`POST /free`) before the voice stage.

Generic over providers. A GPU-heavy provider may have:

    gpu_host: str                         the host its GPU lives on ("" = unknown)
    share_gpu: GpuSharing                 its policy: "auto" (when another GPU-heavy backend has the
                                          same host), "always" or "never"
    set_gpu_shared(shared: bool) -> None  told the decision at start-up
    async release_gpu() -> None           give the GPU memory back now
"""

from __future__ import annotations

import asyncio
import logging
import typing
from collections import defaultdict
from collections.abc import Iterable

from providers.base import Provider
from providers.config import GpuSharing
from providers.errors import ProviderError

__all__ = ["SHARE_POLICIES", "plan_gpu_sharing", "apply_gpu_sharing", "release_gpu"]

log = logging.getLogger(__name__)

SHARE_POLICIES: tuple[str, ...] = typing.get_args(GpuSharing)
RELEASE_TIMEOUT_S = 10.0


def plan_gpu_sharing(providers: Iterable[Provider]) -> frozenset[str]:
    """Names of the GPU-heavy providers that should release the GPU after their step."""
    heavy = [p for p in providers if getattr(p, "gpu_heavy", False)]
    names_by_host: dict[str, set[str]] = defaultdict(set)
    for p in heavy:
        host = getattr(p, "gpu_host", "")
        if host:
            names_by_host[host].add(p.name)
    shared: set[str] = set()
    for p in heavy:
        policy = getattr(p, "share_gpu", "never")
        host = getattr(p, "gpu_host", "")
        if policy == "always" or (policy == "auto" and host and len(names_by_host[host]) > 1):
            shared.add(p.name)
    return frozenset(shared)


def apply_gpu_sharing(providers: Iterable[Provider]) -> frozenset[str]:
    """Decide, tell each provider that wants to know, and return the shared names."""
    providers = list(providers)
    shared = plan_gpu_sharing(providers)
    for p in providers:
        setter = getattr(p, "set_gpu_shared", None)
        if setter is not None:
            setter(p.name in shared)
    if shared:
        log.info("GPU shared between %s: models are released between steps", ", ".join(sorted(shared)))
    return shared


async def release_gpu(providers: Iterable[Provider], served: Iterable[str], shared: frozenset[str]) -> None:
    """Ask the providers in `served` that share the GPU to release it. Failures only log."""
    names = set(served) & shared
    done: set[str] = set()  # the classes of one backend share a name: release it once
    for p in providers:
        release = getattr(p, "release_gpu", None)
        name = p.name
        if release is None or name not in names or name in done:
            continue
        done.add(name)
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT_S):
                await release()
        except (ProviderError, TimeoutError) as exc:
            log.warning("could not release the GPU on %s: %s", name, exc)
