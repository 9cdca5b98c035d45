"""The Surge tab shows a chosen preset's bands and cap before it is saved, from a copy of the engine's presets in
web/src/screens/scoring/SurgePolicy.svelte: the copy must say what the server will use."""

from __future__ import annotations

import json
import re
from pathlib import Path

from leadvibe.engine.surge import PRESETS

SCREEN = Path(__file__).resolve().parents[2] / "web" / "src" / "screens" / "scoring" / "SurgePolicy.svelte"


def _dashboard_presets() -> dict[str, tuple[list[tuple[int, float]], float]]:
    block = re.search(r"const PRESETS = \{(.*?)\n  \};", SCREEN.read_text(), re.S)
    assert block, "PRESETS not found in SurgePolicy.svelte"
    out = {}
    for mode, bands, cap in re.findall(r"(\w+): \{ bands: (\[.*?\]), cap: ([\d.]+) \}", block.group(1)):
        listed = json.loads(re.sub(r"(\w+):", r'"\1":', bands))
        out[mode] = ([(b["min_events"], float(b["multiplier"])) for b in listed], float(cap))
    return out


def test_the_surge_tabs_presets_are_the_engines() -> None:
    engine = {mode: ([(b.min_events, b.multiplier) for b in bands], cap) for mode, (bands, cap) in PRESETS.items()}
    assert _dashboard_presets() == engine
