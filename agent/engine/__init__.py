"""The engine: what turns a job into a video, with no HTTP in it.

The pipeline and its provider cascade, backend health and routes, output validation, GPU sequencing,
voices, the backend status report a worker advertises, and the renderer (`agent.engine.render`).
A worker imports only this (and the light top-level modules: protocol, choices, config, settings);
it never imports `agent.service` (tests/test_layering.py checks it).
"""
