"""Credits under concurrency: never overspent, reserved = settled + refunded, allowance resets."""

from __future__ import annotations

import asyncio

from agent.service.app import DATABASE
from storage import QuotaLedger
from tests.support.agent_app import AUTH, make_settings, run_agent


async def _post(a, i, user="42"):
    body = {"request_id": f"r{i}", "user": {"platform": "discord", "id": user}, "topic": f"topic {i}"}
    resp = await a.client.post("/v1/jobs", json=body, headers=AUTH)
    return resp.status, await resp.json(), resp.headers


async def test_50_concurrent_submits_with_credits_for_3(tmp_path):
    settings = make_settings(tmp_path, quotas={"daily_credits": 15, "max_in_flight": 100})
    async with run_agent(tmp_path, settings) as a:
        a.provider.hold("script")
        results = await asyncio.gather(*(_post(a, i) for i in range(50)))
        accepted = [r for r in results if r[0] == 202]
        refused = [r for r in results if r[0] == 429]
        assert len(accepted) == 3 and len(refused) == 47
        for _status, body, headers in refused:
            assert body["error"]["code"] == "quota_exceeded"
            assert body["error"]["retry_after_s"] == 12 * 3600  # until midnight UTC
            assert headers["Retry-After"] == str(12 * 3600)
            assert "credits" in body["error"]["message"]
        assert (await a.quota())["balance"] == 0
        a.provider.release("script")
        for _status, body, _h in accepted:
            await a.wait_status(body["id"], "done")
        totals = await QuotaLedger(a.app[DATABASE]).totals()
        assert totals.balanced and totals.reserved == 15 and totals.settled == 15 and totals.refunded == 0


async def test_ledger_exact_with_many_users_cancels_and_failures(tmp_path):
    settings = make_settings(tmp_path, quotas={"daily_credits": 12, "max_in_flight": 100}, agent={"workers": 4})
    async with run_agent(tmp_path, settings) as a:
        results = await asyncio.gather(*(_post(a, i, user=str(i % 5)) for i in range(40)))
        ids = [b["id"] for s, b, _ in results if s == 202]
        assert len(ids) == 5 * 2  # 12 credits buy two 5-credit jobs each
        await asyncio.gather(*(a.client.delete(f"/v1/jobs/{j}", headers=AUTH) for j in ids[::3]))
        for j in ids:
            await a.wait_status(j, "done", "cancelled", "failed")
        totals = await QuotaLedger(a.app[DATABASE]).totals()
        assert totals.balanced
        assert totals.reserved == totals.settled + totals.refunded == 50
        assert totals.allowance == 60


async def test_in_flight_limit(tmp_path):
    async with run_agent(tmp_path, make_settings(tmp_path, quotas={"max_in_flight": 2})) as a:
        a.provider.hold("script")
        results = await asyncio.gather(*(_post(a, i) for i in range(6)))
        assert sorted(s for s, _b, _h in results) == [202, 202, 429, 429, 429, 429]
        refused = [b for s, b, _h in results if s == 429]
        assert all(b["error"]["code"] == "too_many_jobs" and b["error"]["retry_after_s"] > 0 for b in refused)
        assert (await a.quota())["balance"] == 90  # refused submissions reserve nothing


async def test_allowance_resets_at_the_configured_hour(tmp_path):
    import datetime as dt

    from tests.support.clock import WallClock

    wall = WallClock(dt.datetime(2025, 3, 1, 5, 0, tzinfo=dt.UTC))
    settings = make_settings(tmp_path, quotas={"daily_credits": 10, "reset_hour_utc": 6})
    async with run_agent(tmp_path, settings, wall=wall) as a:
        for i in range(2):
            await a.wait_status((await a.submit(f"t{i}", request_id=f"r{i}"))["id"], "done")
        q = await a.quota()
        assert q["balance"] == 0 and q["resets_in_s"] == 3600
        refused = await a.submit("t3", request_id="r3", expect=429)
        assert refused["error"]["retry_after_s"] == 3600
        # a grant above the allowance is kept across the reset
        wall.advance(3600 + 1)
        q = await a.quota()
        assert q["balance"] == 10 and q["resets_at"] == "2025-03-02T06:00:00.000Z"
        await a.client.post("/v1/users/discord/42/credits", json={"amount": 25}, headers=AUTH)
        wall.advance(24 * 3600)
        assert (await a.quota())["balance"] == 35
