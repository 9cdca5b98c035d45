"""The request rate limit (SEMANTICS §9): `enforce` answers 429 with Retry-After past the burst, `observe` never
blocks; both need an app of their own (the limit is a setting)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadvibe.config import Settings
from tests.conftest import Api, make_settings


@pytest.fixture
def settings(data_dir: Path, request: pytest.FixtureRequest) -> Settings:
    mode, key_by = request.param if isinstance(request.param, tuple) else (request.param, "org")
    return make_settings(data_dir, rate_limit_mode=mode, rate_limit_key_by=key_by, rate_limit_rps=0.5,
                         rate_limit_burst=3)


@pytest.mark.parametrize("settings", ["enforce"], indirect=True)
async def test_enforce_answers_429_with_retry_after_past_the_burst(own_api: Api) -> None:
    statuses = [(await own_api.get("/rulesets")).status_code for _ in range(6)]
    assert statuses[:2] == [200, 200] and 429 in statuses
    r = await own_api.get("/rulesets")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json() == {"error": "rate limit exceeded; retry later"}
    assert own_api.rt.metrics.rate_limit_over.value("refused") == statuses.count(429) + 1


@pytest.mark.parametrize("settings", ["observe"], indirect=True)
async def test_observe_never_blocks(settings: Settings, api: Api) -> None:
    # `api` sees this module's own `settings` and builds an app with them, as `own_api` does.
    assert api.rt.settings.rate_limit_mode == "observe"
    assert {(await api.get("/rulesets")).status_code for _ in range(8)} == {200}
    # ...but counts: the requests over the limit show on /me/rate-limit (its key's) and /metrics (it showed nowhere).
    over = (await api.get("/me/rate-limit")).json()["over_limit"]
    assert over >= 4
    metrics = (await api.client.get("/metrics")).text
    assert f'rate_limit_over_total{{outcome="observed"}} {over}' in metrics


@pytest.mark.parametrize("settings", [("enforce", "credential")], indirect=True)
async def test_a_person_is_told_the_bucket_their_calls_count_in(own_api: Api) -> None:
    # Keyed by credential, people (who have none) count under their organization: the report says that bucket.
    org_id = (await own_api.get("/me")).json()["org_id"]
    body = (await own_api.get("/me/rate-limit")).json()
    assert (body["key_by"], body["key"]) == ("credential", f"org:{org_id}")
