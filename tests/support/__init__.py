"""Helpers shared by the tests (not tests themselves).

    servers       serve(app_or_fake) / start_server(...): an aiohttp app on a free 127.0.0.1 port
    clock         FakeClock, WallClock
    files         write_file, for fakes that write off the loop
    network_guard the guard that fails a test reaching beyond loopback
    blocking      the guard that fails a test whose coroutines block the event loop
"""
