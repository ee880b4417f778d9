"""The distributed mode's worker (`reelbot worker`, one per GPU box): it takes jobs from the queue
engine for the routes its own backends can serve, runs the engine's pipeline, writes the events to
the database and hands the finished video to a front door over HTTP. It imports the engine, never
the service (tests/test_layering.py).

    capabilities  what this box can serve now: its backends (up or down, models, free VRAM), its routes
    events        the events of a run, built from the stored job (no service state)
    writer        a run's events, stored in batches with seq numbers from the database
    upload        the finished video to the front door, with the worker token
    execute       one run of one job: claim, pipeline, upload, final state
    main          the worker process: heartbeats, the procrastinate worker per route set, stalled jobs
"""
