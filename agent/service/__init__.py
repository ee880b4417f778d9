"""The service: the agent's HTTP front door and job bookkeeping.

The aiohttp app and its API, the job runner (queue, recovery, credits), quotas, live events and SSE,
views of jobs for clients, input parsing, the data disk and retention, and the OpenAPI document.
It drives the engine (`agent.engine`); the engine never imports it.
"""
