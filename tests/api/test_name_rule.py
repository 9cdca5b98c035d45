"""A name (`api/names.clean_name`), an event type, a ruleset's score column and a segment's description are
checked as sent (a name and an event type stored trimmed), and the OpenAPI document says exactly that: a client
generated from it sends nothing the server refuses for them, and the server takes nothing it says it refuses."""

from __future__ import annotations

import re

import pytest

from leadvibe.api.names import NAME_MAX
from leadvibe.documented import CONTROL_PATTERN, NAME_PATTERN
from tests.conftest import Api

# Operations whose body carries a name (or an event type), and the field.
NAMED = [("/rulesets", "post", "name"), ("/rulesets/{ruleset_id}", "put", "name"), ("/segments", "post", "name"),
         ("/levels/engagement", "post", "name"), ("/org-units", "post", "name"), ("/members", "post", "first_name"),
         ("/profile/rulesets", "post", "name"), ("/secrets", "post", "name"),
         # event types follow the same rule (`scoring_common.clean_event_type`), up to 128 characters
         ("/rules", "post", "event_type"), ("/filters", "post", "event_type"),
         ("/filters/{filter_id}", "put", "event_type")]


async def test_the_document_shows_the_name_rule(api: Api) -> None:
    doc = (await api.get("/schema/openapi.json")).json()
    for path, method, field in NAMED:
        ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        prop = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"][field]
        limit = 50 if path == "/secrets" else 128 if field == "event_type" else NAME_MAX
        assert (prop["minLength"], prop["maxLength"], prop["pattern"], prop["not"]) == (
            1, limit, NAME_PATTERN, {"type": "string", "pattern": CONTROL_PATTERN}), path


@pytest.mark.parametrize(("name", "taken"), [
    ("Hot leads", True),
    ("  Hot leads  ", True),  # stored trimmed
    ("x" * NAME_MAX, True),
    (" " + "x" * NAME_MAX, False),  # longer than the limit as sent
    ("Hot leads\n", False),  # a control character anywhere, trailing ones too
    ("\tHot", False),
    ("   ", False),
    ("", False),
])
async def test_a_name_is_taken_exactly_when_the_document_says_so(api: Api, name: str, taken: bool) -> None:
    documented = (1 <= len(name) <= NAME_MAX and re.search(NAME_PATTERN, name) is not None
                  and re.search(CONTROL_PATTERN, name) is None)
    assert documented is taken
    r = await api.post("/rulesets", json={"name": name})
    assert (r.status_code == 201) is taken, r.text
    if taken:
        assert r.json()["name"] == name.strip()
    else:
        assert r.status_code == 400 and "`name`" in r.json()["error"]


@pytest.mark.parametrize(("column", "taken"), [
    ("sales_score", True), ("s" + "x" * 63, True), ("s" + "x" * 64, False), (" sales_score", False),
    ("sales_score\n", False), ("Sales", False), ("1st", False), ("", False)])
async def test_a_score_column_is_taken_exactly_when_the_document_says_so(api: Api, column: str, taken: bool) -> None:
    doc = (await api.get("/schema/openapi.json")).json()
    prop = doc["components"]["schemas"]["RulesetIn"]["properties"]["score_column"]
    documented = (prop["minLength"] <= len(column) <= prop["maxLength"] and re.search(prop["pattern"], column)
                  is not None and re.search(prop["not"]["pattern"], column) is None)
    assert documented is taken
    r = await api.post("/rulesets", json={"name": f"Column {len(column)}", "score_column": column})
    assert (r.status_code == 201) is taken, r.text


@pytest.mark.parametrize(("text", "taken"), [
    ("Line one\nline two\ttabbed", True), ("d" * 1000, True), ("d" * 1001, False), ("bell\x07", False),
    ("nul\x00", False)])
async def test_a_description_is_taken_exactly_when_the_document_says_so(api: Api, text: str, taken: bool) -> None:
    doc = (await api.get("/schema/openapi.json")).json()
    prop = doc["components"]["schemas"]["SegmentIn"]["properties"]["description"]
    documented = len(text) <= prop["maxLength"] and re.search(prop["not"]["pattern"], text) is None
    assert documented is taken
    r = await api.post("/segments", json={"name": "Described", "description": text,
                                          "rules": [{"rule_type": "lead_metadata", "field_name": "plan",
                                                     "operator": "equals", "value": "pro"}]})
    assert (r.status_code == 201) is taken, r.text
