"""ComfyUI: the self-hosted image and motion-clip maker.

    config.py    [providers.comfyui] and its per-stage sub-tables
    workflow.py  bundled API-format workflows, checks, structural placeholder substitution
    client.py    /prompt, /ws, /history, /view, /queue, /interrupt, /free
    makers.py    ComfyImageMaker (images) and ComfyClipMaker (clips)
"""

from providers.comfyui.config import ComfyConfig, ComfyWorkflowConfig
from providers.comfyui.makers import ComfyClipMaker, ComfyImageMaker

__all__ = ["ComfyConfig", "ComfyWorkflowConfig", "ComfyImageMaker", "ComfyClipMaker"]
