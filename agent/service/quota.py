"""Credits policy: prices per route, the daily allowance and its reset hour, in-flight limits, admins.

The SQL lives in `storage.ledger`; this module decides the numbers. Time comes from an injected
wall clock (UTC epoch seconds), so the reset hour is tested without waiting for midnight.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.engine.backends import Backends
from agent.protocol import Quota, RoutePrice
from agent.engine.routes import available_routes
from agent.settings import Settings

__all__ = ["WallClock", "QuotaPolicy", "iso_utc"]

WallClock = Callable[[], float]
"""UTC epoch seconds (time.time). Injected wherever a date or a timestamp is computed."""


def iso_utc(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class QuotaPolicy:
    settings: Settings
    wall_clock: WallClock = time.time

    @property
    def daily(self) -> int:
        return self.settings.quotas.daily_credits

    def is_admin(self, platform: str, user_id: str) -> bool:
        return f"{platform}:{user_id}" in self.settings.quotas.admins

    def price(self, platform: str, user_id: str, route_price: int) -> int:
        return 0 if self.is_admin(platform, user_id) else max(0, route_price)

    def max_in_flight(self, platform: str, user_id: str) -> int | None:
        return None if self.is_admin(platform, user_id) else self.settings.quotas.max_in_flight

    def _shifted(self, now: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(now, dt.UTC) - dt.timedelta(hours=self.settings.quotas.reset_hour_utc)

    def day(self, now: float | None = None) -> str:
        """The quota day: the UTC date, shifted so that a day starts at the reset hour."""
        return self._shifted(self.wall_clock() if now is None else now).date().isoformat()

    def next_reset(self, now: float | None = None) -> float:
        now = self.wall_clock() if now is None else now
        start = dt.datetime.combine(self._shifted(now).date(), dt.time(), dt.UTC)
        start += dt.timedelta(hours=self.settings.quotas.reset_hour_utc)
        return (start + dt.timedelta(days=1)).timestamp()

    def seconds_to_reset(self, now: float | None = None) -> int:
        now = self.wall_clock() if now is None else now
        return max(1, int(self.next_reset(now) - now + 0.999))

    def prices(self, backends: Backends) -> dict[str, RoutePrice]:
        ready = set(available_routes(self.settings, backends))
        return {
            name: RoutePrice(label=route.label or name, price=route.price,
                             mode=str((route.mode or self.settings.video.mode).value), available=name in ready)
            for name, route in self.settings.routes.items()
        }

    def quota(self, platform: str, user_id: str, balance: int, in_flight: int, backends: Backends) -> Quota:
        now = self.wall_clock()
        admin = self.is_admin(platform, user_id)
        return Quota(
            platform=platform, user_id=user_id, admin=admin, balance=balance, daily_credits=self.daily,
            in_flight=in_flight, max_in_flight=None if admin else self.settings.quotas.max_in_flight,
            resets_at=iso_utc(self.next_reset(now)) or "", resets_in_s=self.seconds_to_reset(now),
            prices=self.prices(backends), credits_left=balance,
        )
