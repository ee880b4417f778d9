"""Helpers shared by the tests (not tests themselves; test modules import from here, never from each other).

    servers       serve(app_or_fake) / start_server(...): an aiohttp app on a free 127.0.0.1 port
    waiting       wait_until(predicate, timeout_s), fast_sleep, logged(logger, needle)
    clock         FakeClock, WallClock
    agent_app     the real agent app with fake providers, for service and integration tests
    files         write_file, for fakes that write off the loop
    network_guard the guard that fails a test reaching beyond loopback
    blocking      the guard that fails a test whose coroutines block the event loop
"""
