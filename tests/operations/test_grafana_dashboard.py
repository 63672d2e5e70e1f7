"""deploy/grafana-dashboard.json names only metrics a running exeunt exports, with their labels and
label values, so the dashboard an operator imports never shows an empty panel for a typo."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from exeunt import metrics
from exeunt.protocol.delivery import DeliveryState
from tests.support.idp import Idp

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"
SUFFIXES = ("_bucket", "_sum", "_count")


def _exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _labels_of(name: str) -> set[str]:
    for collector in vars(metrics).values():
        if getattr(collector, "_name", None) in (name, name.removesuffix("_total")):
            return set(collector._labelnames) | ({"le"} if name.endswith("_seconds") else set())
    raise AssertionError(f"{name} is not in exeunt/metrics.py")


def test_every_metric_label_and_value_the_dashboard_names_exists(idp_sqlite: Idp) -> None:
    exported = set(re.findall(r"^# TYPE (exeunt_\w+) ", httpx.get(idp_sqlite.url("/metrics")).text, re.M))
    exprs = _exprs()
    assert len(exprs) >= 15
    outcomes = {s.value for s in DeliveryState}
    for expr in exprs:
        names = {_base(n) for n in re.findall(r"\bexeunt_\w+", expr)}
        assert names, expr
        for name in names:
            assert name in exported, f"{name} (in {expr!r}) is not exported by /metrics"
        allowed = set().union(*(_labels_of(n) for n in names))
        used = set(re.findall(r"by \(([^)]*)\)", expr)) | set(re.findall(r"(\w+)=~?\"", expr))
        for label in {part.strip() for group in used for part in group.split(",")}:
            assert label in allowed, f"label {label} (in {expr!r}) is not one of {sorted(allowed)}"
        for value in re.findall(r'outcome="(\w+)"', expr):
            if "backchannel" in expr:
                assert value in outcomes, f"outcome {value} (in {expr!r}) is never recorded"
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "exeunt-signouts" and dashboard["schemaVersion"] >= 36
