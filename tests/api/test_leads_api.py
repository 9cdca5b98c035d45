"""Leads through HTTP: list filters and sorts, create/get/replace/patch, aliases, profile/account, scores,
search, asynchronous delete, merge (with the scoring invariant) and the score explanation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.helpers import add_rules, delta_sums, on_app_loop, other_unit, scores_of, wait_deleted, wait_idle


async def ingest(api: Api, **event: Any) -> None:
    r = await api.post("/ingest", json=event)
    assert r.status_code == 202, r.text


async def invariant(api: Api, lead_id: str) -> None:
    """score == SUM(delta) in every ruleset the lead has rows in."""
    scores, sums = await scores_of(api, lead_id), await delta_sums(api, lead_id)
    for rs in scores.keys() | sums.keys():
        assert scores.get(rs, 0) == (sums.get(rs) or 0), (lead_id, rs, scores, sums)


async def add_level(api: Api, name: str, lo: int, hi: int) -> None:
    now = api.rt.now_ms()
    await api.rt.db.write(
        lambda c: c.execute(
            "INSERT INTO levels (id, org_id, unit_id, kind, name, min_score, max_score, created_at,"
            " updated_at)"
            " SELECT ?, org_id, id, 'engagement', ?, ?, ?, ?, ? FROM org_units WHERE id = 'unit_default'",
            (f"lv_{name}", name, lo, hi, now, now),
        )
    )


@pytest.fixture
async def scored(api: Api) -> Api:
    """Three leads with 5, 20 and 45 points; levels Cold 0..9, Warm 10..29, Hot 30..1000."""
    await add_rules(api, {"page_view": 5, "demo_request": 20})
    await add_level(api, "Cold", 0, 9)
    await add_level(api, "Warm", 10, 29)
    await add_level(api, "Hot", 30, 1000)
    await ingest(api, lead_id="ld_low", event_type="page_view")
    await ingest(api, lead_id="ld_mid", event_type="Demo Request")
    await ingest(
        api,
        lead_id="ld_high",
        event_type="demo_request",
        aliases=[{"alias_kind": "email", "raw_value": "High@Example.com"}],
    )
    await ingest(api, lead_id="ld_high", event_type="demo_request")
    await ingest(api, lead_id="ld_high", event_type="page_view")
    await wait_idle(api)
    return api


# -- list ----------------------------------------------------------------------------------------------------
async def test_list_sorted_by_score_with_levels(scored: Api) -> None:
    r = await scored.get("/leads")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and body["page"] == 1 and body["limit"] == 50
    assert [(x["id"], x["score"], x["level"]) for x in body["leads"]] == [
        ("ld_high", 46, "Hot"),
        ("ld_mid", 20, "Warm"),
        ("ld_low", 5, "Cold"),
    ]
    high = body["leads"][0]
    assert high["last_event_type"] == "page_view" and high["session_count"] == 1
    assert high["last_event_at"].endswith("Z") and high["metadata"] == {}
    asc = (await scored.get("/leads", params={"sort": "score_asc"})).json()["leads"]
    assert [x["id"] for x in asc] == ["ld_low", "ld_mid", "ld_high"]


async def test_a_lead_without_a_score_sorts_as_0_among_negative_scores(scored: Api) -> None:
    # With negative scores allowed, leads without a score row (made by POST /leads, or whose scored events were all
    # deleted) sat below every negative score descending (and above them ascending), though listed at 0.
    assert (await scored.put("/settings/scoring", json={"allow_negative_scores": True})).status_code == 200
    await add_rules(scored, {"complaint": -50})
    await ingest(scored, lead_id="ld_neg", event_type="complaint")
    await wait_idle(scored)
    assert (await scored.post("/leads", json={"id": "ld_none"})).status_code == 201
    want = ["ld_high", "ld_mid", "ld_low", "ld_none", "ld_neg"]
    for sort, order in (("score_desc", want), ("score_asc", want[::-1])):
        listed = (await scored.get("/leads", params={"sort": sort})).json()["leads"]
        assert [(x["id"], x["score"]) for x in listed] == [(i, {"ld_high": 46, "ld_mid": 20, "ld_low": 5,
                                                                  "ld_none": 0, "ld_neg": -50}[i]) for i in order]
        paged = [x["id"] for page in (1, 2, 3) for x in
                 (await scored.get("/leads", params={"sort": sort, "limit": 2, "page": page})).json()["leads"]]
        assert paged == order
        below = (await scored.get("/leads", params={"sort": sort, "max_score": 0})).json()["leads"]
        assert [x["id"] for x in below] == [i for i in order if i in ("ld_none", "ld_neg")]
    # The Overview's top leads are that list's first page: the lead without a score row is in it, at 0.
    top = (await scored.get("/analytics/top-leads", params={"limit": 10})).json()
    assert [(x["lead_id"], x["score"]) for x in top] == [("ld_high", 46), ("ld_mid", 20), ("ld_low", 5),
                                                         ("ld_none", 0), ("ld_neg", -50)]


async def test_list_filters(scored: Api) -> None:
    async def ids(**params: Any) -> list[str]:
        r = await scored.get("/leads", params=params)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["leads"]]

    assert await ids(min_score=10) == ["ld_high", "ld_mid"]
    assert await ids(max_score=20) == ["ld_mid", "ld_low"]
    assert await ids(min_score=10, max_score=20) == ["ld_mid"]
    assert await ids(event_type="Demo-Request") == ["ld_mid"]
    assert await ids(event_type="PAGE VIEW") == ["ld_high", "ld_low"]
    # The worker stores each lead's type key with the spelling (migration 0059): the filter compares the key.
    keys = await scored.rt.db.read(lambda c: c.execute(
        "SELECT id, last_event_type, last_type_key FROM leads ORDER BY id").fetchall())
    assert [tuple(k) for k in keys] == [("ld_high", "page_view", "page_view"), ("ld_low", "page_view", "page_view"),
                                        ("ld_mid", "Demo Request", "demo_request")]
    assert await ids(last_active="7d") == ["ld_high", "ld_mid", "ld_low"]
    assert await ids(range="today", min_score=1) == ["ld_high", "ld_mid", "ld_low"]
    assert await ids(range="yesterday") == []
    assert sorted(await ids(sort="recent")) == ["ld_high", "ld_low", "ld_mid"]
    assert (await ids(sort="recent"))[0] == "ld_high"
    page = (await scored.get("/leads", params={"limit": 2, "page": 2})).json()
    assert page["total"] == 3 and [x["id"] for x in page["leads"]] == ["ld_low"]


async def test_list_includes_unscored_leads_as_zero(scored: Api) -> None:
    assert (await scored.post("/leads", json={"id": "ld_new"})).status_code == 201
    body = (await scored.get("/leads")).json()
    assert body["total"] == 4 and body["leads"][-1]["id"] == "ld_new" and body["leads"][-1]["score"] == 0
    asc = (await scored.get("/leads", params={"sort": "score_asc", "limit": 1})).json()
    assert asc["total"] == 4 and asc["leads"][0]["id"] == "ld_new"
    assert [x["id"] for x in (await scored.get("/leads", params={"min_score": 1})).json()["leads"]] == [
        "ld_high",
        "ld_mid",
        "ld_low",
    ]
    assert (await scored.get("/leads", params={"max_score": 0})).json()["total"] == 1
    # page 2 of size 3 crosses from scored into unscored leads
    assert [
        x["id"] for x in (await scored.get("/leads", params={"limit": 3, "page": 2})).json()["leads"]
    ] == ["ld_new"]


@pytest.mark.parametrize(
    "params,needle",
    [
        ({"page": 0}, "page"),
        ({"limit": 501}, "limit"),
        ({"range": "forever"}, "range"),
        ({"sort": "name"}, "sort"),
        ({"last_active": "1d"}, "last_active"),
        ({"min_score": 10, "max_score": 5}, "min_score"),
        ({"min_score": "x"}, "min_score"),
    ],
)
async def test_list_bad_inputs(api: Api, params: dict[str, Any], needle: str) -> None:
    r = await api.get("/leads", params=params)
    assert r.status_code == 400, r.text
    assert needle in r.text


async def test_list_without_primary_ruleset_scores_zero(api: Api) -> None:
    await ingest(api, lead_id="ld_x", event_type="page_view")
    await wait_idle(api)
    body = (await api.get("/leads")).json()
    assert body["total"] == 1 and body["leads"][0]["score"] == 0
    assert (await api.get("/leads", params={"min_score": 1})).json()["total"] == 0


# -- create / get / update -----------------------------------------------------------------------------------
async def test_create_get_replace_patch(api: Api) -> None:
    r = await api.post(
        "/leads", json={"id": "crm-42", "metadata": {"plan": "Pro", "seats": 5}, "account_id": "ac_1"}
    )
    assert r.status_code == 201, r.text
    lead = r.json()
    assert lead["id"] == "crm-42" and lead["metadata"] == {"plan": "Pro", "seats": 5} and lead["score"] == 0
    assert lead["unit_id"] == "unit_default" and lead["merged_into"] is None
    # The reference's lead shape, owner included (no input sets one yet).
    assert {"id", "org_id", "unit_id", "account_id", "owner_id", "owner_name", "created_at", "updated_at",
            "merged_into", "metadata"} <= set(lead)
    assert lead["owner_id"] is None and lead["owner_name"] is None
    listed = (await api.get("/leads", params={"q": "crm-42"})).json()["leads"][0]
    assert listed["owner_name"] is None and "aliases" in listed
    assert (await api.post("/leads", json={"id": "crm-42"})).status_code == 409

    got = (await api.get("/leads/crm-42")).json()
    # ABM is off: the lead names its account, but no account row exists, so only the id is known.
    assert got["lead"]["id"] == "crm-42" and got["account"]["account_id"] == "ac_1"
    assert got["account"]["name"] is None and got["account"]["score"] == 0

    r = await api.patch("/leads/crm-42/metadata", json={"seats": None, "industry": "SaaS"})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"plan": "Pro", "industry": "SaaS"}

    r = await api.put("/leads/crm-42", json={"metadata": {"only": 1}})
    assert r.status_code == 200 and r.json()["metadata"] == {"only": 1} and r.json()["account_id"] == "ac_1"
    # Each part changes only when present: an account change keeps the metadata, and `{}` keeps both.
    r = await api.put("/leads/crm-42", json={"account_id": "ac_2"})
    assert (r.json()["metadata"], r.json()["account_id"]) == ({"only": 1}, "ac_2")
    r = await api.put("/leads/crm-42", json={})
    assert (r.json()["metadata"], r.json()["account_id"]) == ({"only": 1}, "ac_2")
    assert (await api.get("/leads/crm-42/profile")).json()["properties"] == {"only": 1}
    r = await api.put("/leads/crm-42", json={"metadata": None, "account_id": "ac_1"})
    assert (r.json()["metadata"], r.json()["account_id"]) == ({}, "ac_1")
    r = await api.put("/leads/crm-42", json={"metadata": {}, "account_id": None})
    assert r.json()["account_id"] is None
    assert (await api.get("/leads/crm-42")).json()["account"] is None

    prof = (await api.get("/leads/crm-42/profile")).json()
    assert prof == {"lead_id": "crm-42", "properties": {}, "profile_score": 0, "level": None, "level_id": None,
                    "ruleset_id": None, "matched_rules": []}
    acct = (await api.get("/leads/crm-42/account")).json()
    assert acct == {"lead_id": "crm-42", "account_id": None, "account": None}


@pytest.mark.parametrize(
    "method,path,body,status",
    [
        ("POST", "/leads", {"id": ""}, 400),
        ("POST", "/leads", {"id": "x" * 129}, 400),
        ("POST", "/leads", {"metadata": {}}, 400),
        ("POST", "/leads", {"id": "a", "metadata": [1]}, 400),
        ("POST", "/leads", {"id": "a", "metadata": {"big": "y" * 110_000}}, 413),
        ("GET", "/leads/nope", None, 404),
        ("PUT", "/leads/nope", {"metadata": {}}, 404),
        ("PATCH", "/leads/nope/metadata", {"a": 1}, 404),
        ("PATCH", "/leads/nope/metadata", [1], 400),
        ("GET", "/leads/nope/aliases", None, 404),
        ("GET", "/leads/nope/profile", None, 404),
        ("GET", "/leads/nope/account", None, 404),
        ("GET", "/leads/nope/score", None, 404),
        ("GET", "/leads/nope/explanation", None, 404),
        ("DELETE", "/leads/nope", None, 404),
    ],
)
async def test_single_lead_bad_inputs(api: Api, method: str, path: str, body: Any, status: int) -> None:
    r = await api.request(method, path, json=body) if body is not None else await api.request(method, path)
    assert r.status_code == status, r.text
    assert "error" in r.json()


async def test_viewer_cannot_write_and_other_ou_is_invisible(scored: Api) -> None:
    r = await scored.post("/org-units", json={"name": "Other"})
    other = r.json()["unit_id"]
    headers = {**scored.headers, "X-OU-ID": other}
    assert (await scored.get("/leads/ld_high", headers=headers)).status_code == 404
    assert (await scored.get("/leads", headers=headers)).json()["total"] == 0
    assert (await scored.client.get("/leads")).status_code == 401


# -- aliases, scores, search ---------------------------------------------------------------------------------
async def test_aliases_and_scores(scored: Api) -> None:
    aliases = (await scored.get("/leads/ld_high/aliases")).json()
    assert [(a["kind"], a["value"], a["raw_value"]) for a in aliases] == [
        ("email", "high@example.com", "High@Example.com")
    ]
    # a list page carries each lead's aliases, as the aliases endpoint gives them
    listed = {lead["id"]: lead["aliases"] for lead in (await scored.get("/leads")).json()["leads"]}
    assert listed == {"ld_high": aliases, "ld_mid": [], "ld_low": []}
    assert (await scored.get("/leads/ld_high/score")).json() == {
        "lead_id": "ld_high",
        "score": 46,
        "ruleset_id": "rs_test",
        "level": "Hot",
    }
    await add_rules(scored, {"page_view": 100}, ruleset_id="rs_other", primary=False)
    await ingest(scored, lead_id="ld_low", event_type="page_view")
    await wait_idle(scored)
    # without ruleset_id: the highest across active rulesets
    assert (await scored.get("/leads/ld_low/score")).json()["ruleset_id"] == "rs_other"
    r = await scored.get("/leads/ld_low/score", params={"ruleset_id": "rs_test"})
    assert r.json()["score"] == 10 and r.json()["ruleset_id"] == "rs_test"
    assert (await scored.get("/leads/ld_low/score", params={"ruleset_id": "rs_nope"})).status_code == 404

    r = await scored.post("/leads/scores", json={"lead_ids": ["ld_high", "ld_low", "ghost"]})
    assert r.status_code == 200, r.text
    assert r.json() == [
        {"lead_id": "ld_high", "score": 46, "level": "Hot"},
        {"lead_id": "ld_low", "score": 10, "level": "Warm"},
        {"lead_id": "ghost", "score": 0, "level": "Cold"},
    ]
    by_name = await scored.post("/leads/scores", json={"lead_ids": ["ld_low"], "ruleset": "rs_other"})
    assert by_name.json()[0]["score"] == 100
    assert (await scored.post("/leads/scores", json={"lead_ids": []})).status_code == 400
    assert (await scored.post("/leads/scores", json={"lead_ids": ["a"] * 501})).status_code == 400
    for bad in ("", "   ", "x" * 129, "ld\n"):  # no lead has such an id: a mistake, not a score of 0
        r = await scored.post("/leads/scores", json={"lead_ids": ["ld_low", bad]})
        assert r.status_code == 400 and "`lead_ids`" in r.json()["error"], bad
    assert (
        await scored.post("/leads/scores", json={"lead_ids": ["a"], "ruleset": "nope"})
    ).status_code == 404


async def test_batch_scores_without_primary_are_zero(api: Api) -> None:
    await ingest(api, lead_id="ld_x", event_type="page_view")
    await wait_idle(api)
    r = await api.post("/leads/scores", json={"lead_ids": ["ld_x"]})
    assert r.json() == [{"lead_id": "ld_x", "score": 0, "level": None}]


async def test_search_by_id_prefix_and_alias(scored: Api) -> None:
    r = await scored.get("/leads/search", params={"q": "ld_h"})
    assert r.status_code == 200, r.text
    assert [(h["id"], h["matched"]) for h in r.json()] == [("ld_high", "id")]
    hits = (await scored.get("/leads/search", params={"q": "HIGH@ex"})).json()
    assert [(h["id"], h["matched"], h["alias_value"], h["score"]) for h in hits] == [
        ("ld_high", "alias", "high@example.com", 46)
    ]
    for i in range(12):
        await scored.post("/leads", json={"id": f"ld_many_{i:02d}"})
    assert len((await scored.get("/leads/search", params={"q": "ld_"})).json()) == 10
    assert (await scored.get("/leads/search", params={"q": "zz"})).json() == []
    assert (await scored.get("/leads/search", params={"q": "l"})).status_code == 400
    assert (await scored.get("/leads/search")).status_code == 400


async def test_search_hits_carry_the_lead_lists_name_and_fit(api: Api) -> None:
    await api.post("/leads", json={"id": "ld_named", "metadata": {"first_name": "Grace", "last_name": "Hopper"}})
    await api.post("/leads", json={"id": "ld_nameless", "metadata": {"company": "Acme"}})
    hits = {h["id"]: h for h in (await api.get("/leads/search", params={"q": "ld_name"})).json()}
    assert hits["ld_named"]["name"] == "Grace Hopper" and hits["ld_nameless"]["name"] is None
    assert hits["ld_named"]["profile_score"] == 0 and hits["ld_named"]["profile_level"] is None


async def test_search_hits_found_by_name_carry_the_leads_aliases(api: Api) -> None:
    r = await api.post("/leads", json={"id": "ld_grace", "metadata": {"name": "Grace Hopper"}})
    assert r.status_code == 201, r.text
    await ingest(api, lead_id="ld_grace", event_type="page_view",
                 aliases=[{"alias_kind": "email", "raw_value": "Grace@Navy.mil"}])
    await wait_idle(api)
    (hit,) = (await api.get("/leads/search", params={"q": "grace hop"})).json()
    assert hit["matched"] == "name"
    assert [(a["kind"], a["value"], a["raw_value"]) for a in hit["aliases"]] == [
        ("email", "grace@navy.mil", "Grace@Navy.mil")]


async def search(api: Api, q: str, headers: dict[str, str] | None = None) -> list[tuple[str, str]]:
    r = await api.get("/leads/search", params={"q": q}, headers=headers)
    assert r.status_code == 200, r.text
    return [(h["id"], h["matched"]) for h in r.json()]


@pytest.fixture
async def people(api: Api) -> Api:
    """Leads with names and companies the way metadata spells them."""
    for lead_id, metadata in (
        ("ld_grace", {"first_name": "Grace", "last_name": "Hopper", "company": "Remington Rand"}),
        ("ld_ada", {"name": "Ada King-Lovelace", "company": "Analytical Engines Ltd"}),
        ("ld_emile", {"name": "Émile Zola", "company": "L'Aurore"}),
        ("ld_gracie", {"name": "Gracie Allen", "company": "grace & co"}),
        ("ld_number", {"name": 42, "company": ["Listed Co"]}),
    ):
        r = await api.post("/leads", json={"id": lead_id, "metadata": metadata})
        assert r.status_code == 201, r.text
    return api


async def test_search_finds_leads_by_a_word_prefix_of_their_name(people: Api) -> None:
    assert await search(people, "hop") == [("ld_grace", "name")]
    assert await search(people, "grace hop") == [("ld_grace", "name")]
    assert await search(people, "HOPPER grace") == [("ld_grace", "name")]  # any order, any case
    assert await search(people, "lovel") == [("ld_ada", "name")]  # a word after a hyphen is a word
    assert await search(people, "emile") == [("ld_emile", "name")]  # accents aside
    # name matches (creation order) before company matches, each lead once
    assert await search(people, "grac") == [("ld_grace", "name"), ("ld_gracie", "name")]
    assert await search(people, "grace x") == []
    assert await search(people, '"gr*') == [("ld_grace", "name"), ("ld_gracie", "name")]  # typed text, not syntax
    assert await search(people, "grace\x00hop") == [("ld_grace", "name")]  # a NUL separates words, as stored
    assert await search(people, "42") == []  # only text values are names
    hit = (await people.get("/leads/search", params={"q": "Ada"})).json()[0]
    assert hit["name"] == "Ada King-Lovelace" and hit["company"] == "Analytical Engines Ltd"


async def test_search_finds_leads_by_a_word_prefix_of_their_company(people: Api) -> None:
    assert await search(people, "remin") == [("ld_grace", "company")]
    assert await search(people, "ENGINES") == [("ld_ada", "company")]
    assert await search(people, "aurore") == [("ld_emile", "company")]
    assert await search(people, "co") == [("ld_gracie", "company")]
    assert await search(people, "listed") == []
    hit = (await people.get("/leads/search", params={"q": "rand"})).json()[0]
    assert hit["company"] == "Remington Rand" and hit["name"] == "Grace Hopper"


async def test_search_follows_metadata_writes(people: Api) -> None:
    r = await people.patch("/leads/ld_grace/metadata", json={"last_name": "Murray", "company": None})
    assert r.status_code == 200, r.text
    assert await search(people, "hopper") == [] and await search(people, "remington") == []
    assert await search(people, "murr") == [("ld_grace", "name")]
    r = await people.put("/leads/ld_ada", json={"metadata": {"company": "Babbage & Co"}})
    assert r.status_code == 200, r.text
    assert await search(people, "ada") == []
    assert await search(people, "babb") == [("ld_ada", "company")]


async def test_search_by_name_never_returns_a_merged_lead_or_one_lead_twice(people: Api) -> None:
    await people.post("/leads", json={"id": "ld_hopper_2", "metadata": {"name": "Grace Hopper"}})
    await ingest(people, lead_id="ld_grace", event_type="page_view",
                 aliases=[{"alias_kind": "email", "raw_value": "grace@navy.mil"}])
    await wait_idle(people)
    assert await search(people, "hopper") == [("ld_grace", "name"), ("ld_hopper_2", "name")]
    r = await people.post("/leads/merge", json={"targetLeadId": "ld_grace", "sourceLeadIds": ["ld_hopper_2"]})
    assert r.status_code == 200, r.text
    assert await search(people, "hopper") == [("ld_grace", "name")]
    # matched by its alias and by its name: listed once, as the alias match
    assert await search(people, "grace") == [("ld_grace", "alias"), ("ld_gracie", "company")]
    r = await people.delete("/leads/ld_grace")
    assert r.status_code == 202, r.text
    await wait_deleted(people, "ld_grace")
    assert await search(people, "hopper") == []


async def test_search_by_name_stays_in_its_ou(people: Api) -> None:
    elsewhere = await other_unit(people)
    twin = {"id": "ld_other", "metadata": {"name": "Grace Hopper", "company": "Remington"}}
    r = await people.post("/leads", json=twin, headers=elsewhere)
    assert r.status_code == 201, r.text
    assert await search(people, "hopper", elsewhere) == [("ld_other", "name")]
    assert await search(people, "remington", elsewhere) == [("ld_other", "company")]
    assert await search(people, "hopper") == [("ld_grace", "name")]
    assert await search(people, "zola", elsewhere) == []


# -- delete --------------------------------------------------------------------------------------------------


async def test_delete_is_asynchronous_and_complete(scored: Api) -> None:
    await scored.post(
        "/orders", json={"lead_id": "ld_high", "order_id": "o-1", "amount": 10, "currency": "usd"}
    )
    assert (await scored.get("/leads/ld_high/deletion")).json() == {
        "lead_id": "ld_high",
        "status": "not_found",
    }
    r = await scored.delete("/leads/ld_high")
    assert r.status_code == 202 and r.json() == {"lead_id": "ld_high", "status": "pending"}
    assert (await scored.get("/leads/ld_high")).status_code == 404
    await wait_deleted(scored, "ld_high")

    def leftovers(c: Any) -> list[int]:
        return [
            c.execute(
                f"SELECT count(*) FROM {t} WHERE unit_id = 'unit_default' AND lead_id = 'ld_high'"
            ).fetchone()[0]
            for t in ("events", "event_scores", "lead_scores", "lead_aliases", "orders")
        ]

    assert await scored.rt.db.read(leftovers) == [0, 0, 0, 0, 0]
    assert [x["id"] for x in (await scored.get("/leads")).json()["leads"]] == ["ld_mid", "ld_low"]
    # the alias is free again: the next event with it makes a new lead, scored from zero
    await ingest(
        scored, event_type="page_view", aliases=[{"alias_kind": "email", "raw_value": "high@example.com"}]
    )
    await wait_idle(scored)
    body = (await scored.get("/leads/search", params={"q": "high@"})).json()
    assert len(body) == 1 and body[0]["id"] != "ld_high" and body[0]["score"] == 5
    for lead in ("ld_mid", "ld_low", body[0]["id"]):
        await invariant(scored, lead)
    assert (await scored.delete("/leads/ld_high")).status_code == 404


async def test_a_lead_made_again_while_its_deletion_runs_ends_with_its_new_events_only(scored: Api) -> None:
    # ld_high's deletion is held pending (its task not run) while an event makes the lead again: a merge touching
    # it is refused (the deletion would take a source's moved events, or leave its own on the target), and a
    # rescore in between, which replays the old events too, is undone when the deletion completes.
    from leadvibe.pipeline.lead_deletion import run_deletions
    from leadvibe.store import leads as lead_store

    now = scored.rt.now_ms()
    assert await scored.rt.db.write(lambda c: lead_store.request_deletion(c, "unit_default", "ld_high", None, now))
    await ingest(scored, lead_id="ld_high", event_type="page_view")
    await wait_idle(scored)
    for body in ({"targetLeadId": "ld_high", "sourceLeadIds": ["ld_low"]},
                 {"targetLeadId": "ld_low", "sourceLeadIds": ["ld_mid", "ld_high"]}):
        r = await scored.post("/leads/merge", json=body)
        assert (r.status_code, r.json()["error"]) == (409, "lead ld_high is still being deleted (its earlier events "
                                                           "are being removed): merge once GET /leads/ld_high/"
                                                           "deletion says completed"), body
    rulesets = (await scored.get("/rulesets")).json()
    assert (await scored.post(f"/rulesets/{rulesets[0]['ruleset_id']}/rescore")).status_code == 200
    assert (await scores_of(scored, "ld_high"))["rs_test"] > 5  # the old events replayed with the new one
    assert await run_deletions(scored.rt) == 1
    assert await scores_of(scored, "ld_high") == {"rs_test": 5}
    for lead in ("ld_high", "ld_mid", "ld_low"):
        await invariant(scored, lead)
    r = await scored.post("/leads/merge", json={"targetLeadId": "ld_high", "sourceLeadIds": ["ld_low"]})
    assert r.status_code == 200 and r.json()["target"]["score"] == 10, r.text


async def test_a_deleted_leads_queued_events_go_with_it(scored: Api) -> None:
    """Events acknowledged before the delete but not scored yet (by id, by the lead's alias, by an alias one of
    them brings) do not bring the lead back; another lead's queued events stay, and events sent after the delete
    make a new lead."""
    worker = scored.rt.worker
    assert worker is not None
    await on_app_loop(scored, worker.stop)  # the app's loop runs the worker
    try:
        for _ in range(3):
            await ingest(scored, lead_id="ld_high", event_type="page_view")
        await ingest(scored, lead_id="ld_high", event_type="page_view",
                     aliases=[{"alias_kind": "cookie", "raw_value": "ck-new"}])
        await ingest(scored, event_type="page_view", aliases=[{"alias_kind": "email", "raw_value": "high@example.com"}])
        await ingest(scored, event_type="page_view", aliases=[{"alias_kind": "cookie", "raw_value": "ck-new"}])
        await ingest(scored, lead_id="ld_low", event_type="page_view")
        r = await scored.delete("/leads/ld_high")
        assert r.status_code == 202, r.text
        await ingest(scored, lead_id="ld_high", event_type="demo_request")  # after the delete: a new lead
    finally:
        await on_app_loop(scored, worker.start)
    await wait_idle(scored)
    await wait_deleted(scored, "ld_high")
    events = (await scored.get("/events", params={"lead_id": "ld_high"})).json()
    assert [e["event_type"] for e in events["events"]] == ["demo_request"], events
    assert (await scores_of(scored, "ld_high")) == {"rs_test": 20}
    assert (await scored.get("/leads/search", params={"q": "high@"})).json() == []
    assert (await scores_of(scored, "ld_low"))["rs_test"] == 5 + 5
    assert (await scored.get("/leads")).json()["total"] == 3
    for lead in ("ld_low", "ld_mid", "ld_high"):
        await invariant(scored, lead)


async def test_a_lead_known_only_by_queued_events_is_deleted_by_removing_them(scored: Api) -> None:
    worker = scored.rt.worker
    assert worker is not None
    await on_app_loop(scored, worker.stop)
    try:
        await ingest(scored, lead_id="ld_new", event_type="page_view")
        await ingest(scored, lead_id="ld_other", event_type="page_view")
        assert (await scored.delete("/leads/ld_nobody")).status_code == 404  # nothing names it: nothing changes
        r = await scored.delete("/leads/ld_new")  # not scored yet, so no row: its queued event is all there is
        assert r.status_code == 202 and r.json() == {"lead_id": "ld_new", "status": "pending"}
        assert (await scored.get("/leads/ld_new/deletion")).json()["status"] == "completed"
        # A merged id names its target: deleting it is a 404, and the target's queued events stay.
        await ingest(scored, lead_id="ld_low", event_type="page_view")
        r = await scored.post("/leads/merge", json={"targetLeadId": "ld_mid", "sourceLeadIds": ["ld_low"]})
        assert r.status_code == 200, r.text
        await ingest(scored, lead_id="ld_low", event_type="page_view")
        assert (await scored.delete("/leads/ld_low")).status_code == 404
    finally:
        await on_app_loop(scored, worker.start)
    await wait_idle(scored)
    assert (await scored.get("/leads/ld_new")).status_code == 404
    assert (await scores_of(scored, "ld_other")) == {"rs_test": 5}
    assert (await scores_of(scored, "ld_mid"))["rs_test"] == 20 + 5 + 6 + 6  # both queued page views landed there


# -- merge ---------------------------------------------------------------------------------------------------
async def test_merge_moves_everything_and_rescores(scored: Api) -> None:
    await ingest(
        scored,
        lead_id="ld_src",
        event_type="page_view",
        aliases=[{"alias_kind": "cookie", "raw_value": "ck-1"}],
    )
    await wait_idle(scored)
    await scored.post(
        "/orders", json={"lead_id": "ld_src", "order_id": "o-9", "amount": 99.5, "currency": "EUR"}
    )
    r = await scored.post(
        "/leads/merge", json={"targetLeadId": "ld_mid", "sourceLeadIds": ["ld_src", "ld_low"]}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mergedSources"] == ["ld_src", "ld_low"] and body["movedEvents"] == 2
    assert body["truncatedEvents"] == 0 and body["movedOrders"] == 1 and body["movedAliases"] == 1
    # replay: demo_request 20, then two page views in the same session (2nd and 3rd: x1.25 on the 3rd)
    assert body["target"]["score"] == body["rescore"]["scores"]["rs_test"] == 20 + 5 + 6
    assert body["rescore"]["leads"] == 1 and body["rescore"]["events"] == 3  # the target's own and the two moved
    await invariant(scored, "ld_mid")
    listed = [x["id"] for x in (await scored.get("/leads")).json()["leads"]]
    assert listed == ["ld_high", "ld_mid"]
    assert (await scored.get("/leads/ld_src")).status_code == 404
    assert (await scored.get("/leads/search", params={"q": "ld_sr"})).json() == []
    assert [a["value"] for a in (await scored.get("/leads/ld_mid/aliases")).json()] == ["ck-1"]
    # later events naming the source id or its alias land on the target
    await ingest(scored, lead_id="ld_src", event_type="demo_request")
    await ingest(scored, event_type="demo_request", aliases=[{"alias_kind": "cookie", "raw_value": "ck-1"}])
    await wait_idle(scored)
    assert (await scores_of(scored, "ld_mid"))["rs_test"] == 31 + 25 + 25  # 4th and 5th in the session: x1.25
    assert await scores_of(scored, "ld_src") == {}
    await invariant(scored, "ld_mid")
    assert (await scored.get("/leads")).json()["total"] == 2


async def test_a_merged_lead_keeps_the_name_of_its_own_first_email(api: Api) -> None:
    # Leads named only by their email aliases: the source's address was seen first (ld_old) or in the same worker
    # batch and sorts first (ld_same); merged into ld_target, whose address sorts last, the target keeps its name,
    # its own alias listed first, wherever a lead's name is read (the lead, the list, a search).
    def by_email(lead: str, email: str) -> dict[str, Any]:
        return {"lead_id": lead, "event_type": "page_view", "aliases": [{"alias_kind": "email", "raw_value": email}]}

    async def send(*events: dict[str, Any]) -> None:
        assert (await api.post("/ingest/batch", json={"events": list(events)})).status_code == 202
        await wait_idle(api)

    await send(by_email("ld_old", "aaa@old.example"))
    await send(by_email("ld_same", "bbb@same.example"), by_email("ld_target", "zed@target.example"))
    r = await api.post("/leads/merge", json={"targetLeadId": "ld_target", "sourceLeadIds": ["ld_same", "ld_old"]})
    assert r.status_code == 200, r.text

    async def name(lead: str) -> str:
        hits = (await api.get("/leads/search", params={"q": lead})).json()
        return str(next(h["name"] for h in hits if h["id"] == lead))

    assert await name("ld_target") == "zed@target.example"
    aliases = [a["value"] for a in (await api.get("/leads/ld_target/aliases")).json()]
    assert aliases[0] == "zed@target.example" and sorted(aliases[1:]) == ["aaa@old.example", "bbb@same.example"]
    listed = {x["id"]: [a["value"] for a in x["aliases"]] for x in (await api.get("/leads")).json()["leads"]}
    assert listed == {"ld_target": aliases}
    # A lead merged again carries its moved-in aliases as moved-in: the new target's own address still names it.
    await send(by_email("ld_next", "zzz@next.example"))
    r = await api.post("/leads/merge", json={"targetLeadId": "ld_next", "sourceLeadIds": ["ld_target"]})
    assert r.status_code == 200, r.text
    assert await name("ld_next") == "zzz@next.example"


async def test_merge_truncate_older_than(api: Api) -> None:
    await add_rules(api, {"page_view": 5})
    await ingest(api, lead_id="t", event_type="page_view")
    await ingest(api, lead_id="s", event_type="page_view", timestamp="2020-01-01T00:00:00Z")
    await ingest(api, lead_id="s", event_type="page_view")
    await wait_idle(api)
    r = await api.post(
        "/leads/merge",
        json={
            "targetLeadId": "t",
            "sourceLeadIds": ["s"],
            "truncate": {"policy": "older_than", "before": "2021-01-01T00:00:00Z"},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["truncatedEvents"] == 1 and r.json()["movedEvents"] == 1
    assert r.json()["target"]["score"] == 10
    await invariant(api, "t")


@pytest.mark.parametrize(
    "body,status",
    [
        ({"targetLeadId": "ld_mid", "sourceLeadIds": []}, 400),
        ({"targetLeadId": "ld_mid", "sourceLeadIds": ["ld_mid"]}, 400),
        ({"targetLeadId": "ld_mid"}, 400),
        ({"targetLeadId": "ghost", "sourceLeadIds": ["ld_low"]}, 404),
        ({"targetLeadId": "ld_mid", "sourceLeadIds": ["ghost"]}, 404),
        ({"targetLeadId": "ld_mid", "sourceLeadIds": ["ld_low"], "truncate": {"policy": "older_than"}}, 400),
        (
            {
                "targetLeadId": "ld_mid",
                "sourceLeadIds": ["ld_low"],
                "truncate": {"policy": "older_than", "before": "soon"},
            },
            400,
        ),
        ({"targetLeadId": "ld_mid", "sourceLeadIds": ["ld_low"], "truncate": {"policy": "all"}}, 400),
    ],
)
async def test_merge_bad_inputs(scored: Api, body: dict[str, Any], status: int) -> None:
    r = await scored.post("/leads/merge", json=body)
    assert r.status_code == status, r.text
    assert (await scored.get("/leads")).json()["total"] == 3


async def test_merged_source_cannot_be_merged_again(scored: Api) -> None:
    assert (
        await scored.post("/leads/merge", json={"targetLeadId": "ld_mid", "sourceLeadIds": ["ld_low"]})
    ).status_code == 200
    r = await scored.post("/leads/merge", json={"targetLeadId": "ld_high", "sourceLeadIds": ["ld_low"]})
    assert r.status_code == 404
    # a chain: mid (holding low) into high; low now resolves straight to high
    assert (
        await scored.post("/leads/merge", json={"targetLeadId": "ld_high", "sourceLeadIds": ["ld_mid"]})
    ).status_code == 200
    target = await scored.rt.db.read(
        lambda c: c.execute("SELECT merged_into FROM leads WHERE id = 'ld_low'").fetchone()[0]
    )
    assert target == "ld_high"
    await invariant(scored, "ld_high")


# -- explanation ---------------------------------------------------------------------------------------------
async def test_explanation(scored: Api) -> None:
    r = await scored.get("/leads/ld_high/explanation")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["range_hours"] == 24 and body["ruleset_id"] == "rs_test" and body["score"] == 46
    assert [(d["event_type"], d["count"], d["points"]) for d in body["top_drivers"]] == [
        ("Demo Request", 2, 40),  # the OU's first spelling (ld_mid's event), not this lead's
        ("page_view", 1, 6),
    ]
    assert {(s["event_type"], s["weight"]) for s in body["snapshot"]} == {
        ("page_view", 5),
        ("demo_request", 20),
    }
    assert body["surge_event_count"] == 1 and body["surge_total"] == 1
    assert body["surge_boost"][0]["multiplier"] == 1.25 and body["surge_boost"][0]["extra_points"] == 1
    assert body["decay_applied"] == 0
    assert (await scored.get("/leads/ld_high/explanation", params={"hours": 0})).status_code == 400
    old = (await scored.get("/leads/ld_high/explanation", params={"hours": 1})).json()
    assert old["range_hours"] == 1


async def test_explanation_names_types_by_their_first_spelling(api: Api) -> None:
    """SEMANTICS §2: listings show the first spelling seen in the OU, whichever spelling later events used."""
    await add_rules(api, {"page_view": 5})
    for spelling in ["page-view", "PAGE--VIEW", " Page View ", "page_view"]:
        await ingest(api, lead_id="ld_sp", event_type=spelling)
    await wait_idle(api)
    drivers = (await api.get("/leads/ld_sp/explanation")).json()["top_drivers"]
    assert [(d["event_type"], d["count"]) for d in drivers] == [("page-view", 4)]
    assert (await api.get("/event-types")).json() == ["page-view"]


async def test_unfiltered_live_count_uses_the_covering_index(api: Api) -> None:
    """With one OU the statistics make `unit_id` unselective and SQLite would scan the whole table to count the
    live leads; the count must walk the small partial index instead (4x faster at 1 M leads, the dominant cost of
    the Leads screen's first page)."""
    from leadvibe.store.leads import live_count_sql

    def fill(c: Any) -> None:
        c.executemany("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at) SELECT 'unit_default', ?,"
                      " org_id, 1, 1 FROM org_units WHERE id = 'unit_default'", [(f"ld_{i:05d}",) for i in range(2000)])
        c.execute("ANALYZE")
    await api.rt.db.write(fill)

    def plan(sql: str) -> str:
        return " ".join(str(row[-1]) for row in api.rt.db.write_blocking(
            lambda c: c.execute("EXPLAIN QUERY PLAN " + sql, ("unit_default",)).fetchall()))

    assert "SCAN" in plan("SELECT count(*) FROM leads l WHERE l.unit_id = ? AND l.merged_into IS NULL")
    assert "USING INDEX leads_unit_created" in plan(live_count_sql(""))
    for sort in ("score_desc", "recent"):
        r = await api.get("/leads", params={"limit": 1, "sort": sort})
        assert r.json()["total"] == 2000


# -- maintained counts ---------------------------------------------------------------------------------------
async def test_list_totals_come_from_counts_that_stay_exact(scored: Api) -> None:
    async def counted() -> tuple[Any, Any]:
        def run(c: Any) -> tuple[Any, Any]:
            kept = (c.execute("SELECT live FROM lead_counts WHERE unit_id = 'unit_default'").fetchall(),
                    c.execute("SELECT ruleset_id, scored FROM ruleset_lead_counts ORDER BY 1").fetchall())
            actual = (c.execute("SELECT count(*) FROM leads WHERE unit_id = 'unit_default'"
                                " AND merged_into IS NULL").fetchall(),
                      c.execute("SELECT ruleset_id, count(*) FROM lead_scores GROUP BY 1 ORDER BY 1").fetchall())
            return kept, actual

        kept, actual = await scored.rt.db.read(run)
        assert kept == actual
        return kept

    async def total(**params: Any) -> int:
        r = await scored.get("/leads", params=params)
        assert r.status_code == 200, r.text
        return int(r.json()["total"])

    assert (await counted())[0] == [(3,)]
    await scored.post("/leads", json={"id": "ld_unscored"})  # a lead without a score row
    await ingest(scored, aliases=[{"alias_kind": "email", "raw_value": "new@example.com"}], event_type="page_view")
    await wait_idle(scored)
    assert (await counted())[0] == [(5,)]
    assert [await total(sort=s) for s in ("score_desc", "score_asc", "recent", "created")] == [5, 5, 5, 5]
    r = await scored.post("/leads/merge", json={"targetLeadId": "ld_mid", "sourceLeadIds": ["ld_low"]})
    assert r.status_code == 200, r.text
    await scored.delete("/leads/ld_high")
    await wait_deleted(scored, "ld_high")
    assert (await counted())[0] == [(3,)]
    assert await total() == 3 and await total(min_score=1) == 2
    assert (await scored.post("/rules", json={"event_type": "page_view", "weight": 1})).status_code == 201
    rulesets = (await scored.get("/rulesets")).json()
    for rs in rulesets:
        assert (await scored.post(f"/rulesets/{rs['ruleset_id']}/rescore")).status_code == 200
    await counted()
    assert (await scored.delete("/rulesets/rs_test")).status_code in (200, 204)
    await counted()


async def test_a_range_counts_the_sessions_each_lead_opened_within_it(api: Api) -> None:
    """The reference: `range` filters leads by creation and "is also used for session counts": with it, a lead's
    `session_count` is the sessions it opened within the range (by event time), not all of them."""
    from leadvibe.timeutil import to_rfc3339

    await add_rules(api, {"page_view": 1})
    now = api.rt.now_ms()
    day = 86_400_000
    # Three sessions: 40 days ago, 3 days ago (two events, one session), and an hour ago.
    times = [now - 40 * day, now - 3 * day, now - 3 * day + 60_000, now - 3_600_000]
    batch = [{"lead_id": "ld_sessions", "event_type": "page_view", "timestamp": to_rfc3339(t)} for t in times]
    assert (await api.post("/ingest/batch", json={"events": batch})).status_code == 202
    await wait_idle(api)

    async def sessions(range_: str) -> int:
        leads = (await api.get("/leads", params={"range": range_})).json()["leads"]
        return next(row["session_count"] for row in leads if row["id"] == "ld_sessions")

    assert await sessions("all") == 3
    assert await sessions("last_7d") == 2
    assert await sessions("last_24h") == 1
    assert (await api.get("/leads")).json()["leads"][0]["session_count"] == 3  # no range: every session
    assert [row["id"] for row in (await api.get("/leads", params={"range": "yesterday"})).json()["leads"]] == []
