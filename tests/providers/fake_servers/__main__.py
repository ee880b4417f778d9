"""Run the three fakes until interrupted and print the environment that points reelbot at them.

    .venv/bin/python -m tests.providers.fake_servers
    # in another shell: paste the exports, then `make demo` or `reelbot status`
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.providers.fake_servers import FakeComfy, FakeCoqui, FakeOllama, serve


async def main() -> None:
    comfy = FakeComfy()
    comfy.checkpoints.append("mm_sd_v15_v2.ckpt")
    async with serve(FakeOllama()) as o, serve(comfy) as c, serve(FakeCoqui()) as q:
        print(f"export LOCAL_AI_SERVER={o} COMFYUI_SERVER={c} COQUI_SERVER={q}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
