"""The shipped Prometheus rules, their promtool tests, the runbook and the Grafana dashboard.

SPEC §7: "Prometheus alert rules and a Grafana dashboard ship with the project".

promtool is required: CI installs it (Debian/Ubuntu package ``prometheus``), and a
skipped check would hide a broken rule. Set ``CLAIMDESK_ALLOW_NO_PROMTOOL=1`` to skip
the promtool tests on a machine without it; ``PROMTOOL`` may name the binary.

PyYAML is not a dependency, so the rule files are read with a small parser of the
block-style YAML they are written in. promtool validates the real YAML, and
``test_promtool_check_rules`` checks that both find the same number of rules.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from infra.metrics import build_metrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "infra" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "infra" / "prometheus" / "alerts_test.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"
DASHBOARD = ROOT / "infra" / "grafana" / "claimdesk.json"
RUNBOOK_URL = "https://github.com/claimdesk/claimdesk/blob/main/docs/runbook.md#"

SPEC_ALERT_KINDS = ("surge", "backlog", "sla_breach", "consumer_lag", "group_complaint",
                    "data_quality")
# Bounded label sets only (SPEC §7, §8): never a case, person or adjuster id.
ANNOTATION_LABELS = {"topic", "outcome", "clock", "kind", "scope", "stage", "component",
                     "instance", "job", "severity"}


# --------------------------------------------------------------------------- promtool

def _promtool() -> str:
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if found:
        return found
    message = (
        "promtool not found (PATH, or env PROMTOOL): it is needed to validate "
        "infra/prometheus/alerts.yml. Install it (Debian/Ubuntu: apt-get install prometheus, "
        "or the promtool binary of a Prometheus release), or set "
        "CLAIMDESK_ALLOW_NO_PROMTOOL=1 to skip these checks locally."
    )
    if os.environ.get("CLAIMDESK_ALLOW_NO_PROMTOOL") == "1":
        pytest.skip(message)
    pytest.fail(message)


def _run_promtool(*args: str) -> str:
    cmd = [_promtool(), *args]
    proc = subprocess.run(
        cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    output = f"{proc.stdout}\n{proc.stderr}"
    assert proc.returncode == 0, (
        f"`{' '.join(cmd)}` exited with {proc.returncode}:\n{output}"
    )
    return output


def test_promtool_check_rules() -> None:
    output = _run_promtool("check", "rules", str(RULES.relative_to(ROOT)))
    found = re.search(r"SUCCESS: (\d+) rules found", output)
    assert found, output
    # The minimal parser below sees every rule promtool sees.
    assert int(found.group(1)) == len(_rules()), output


def test_promtool_rule_unit_tests() -> None:
    _run_promtool("test", "rules", str(RULE_TESTS.relative_to(ROOT)))


# --------------------------------------------------------------------------- minimal YAML

def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _meaningful(lines: list[str]) -> Iterator[tuple[int, str]]:
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield i, line


def _scalar(first: str, following: list[str]) -> str:
    """A scalar after ``key:``: plain, quoted, or a block scalar (``>-``, ``|``)."""
    value = first.strip()
    if value[:1] in (">", "|"):
        body = [line for line in following if line.strip()]
        column = _indent(body[0]) if body else 0
        parts = []
        for line in body:
            if _indent(line) < column:  # a comment after the block ends it
                break
            parts.append(line.strip())
        return (" " if value[0] == ">" else "\n").join(parts)
    if quoted := re.fullmatch(r'"((?:[^"\\]|\\.)*)"(?:\s+#.*)?', value):
        return re.sub(r"\\(.)", r"\1", quoted.group(1))
    if quoted := re.fullmatch(r"'((?:[^']|'')*)'(?:\s+#.*)?", value):
        return quoted.group(1).replace("''", "'")
    return re.sub(r"\s+#.*$", "", value)


def _mapping(lines: list[str]) -> dict[str, Any]:
    """Parse a block mapping whose keys share the indentation of its first line."""
    body = list(_meaningful(lines))
    if not body:
        return {}
    column = _indent(body[0][1])
    keys = [(i, line) for i, line in body if _indent(line) == column]
    result: dict[str, Any] = {}
    for n, (i, line) in enumerate(keys):
        end = keys[n + 1][0] if n + 1 < len(keys) else len(lines)
        key, _, rest = line.strip().partition(":")
        children = lines[i + 1:end]
        if rest.strip() and not rest.strip().startswith("#"):
            result[key] = _scalar(rest, children)
        else:
            result[key] = _block(children)
    return result


def _block(lines: list[str]) -> Any:
    """The nested value of a ``key:`` line: a mapping, a list of mappings, or empty."""
    body = list(_meaningful(lines))
    if not body:
        return ""
    if not body[0][1].lstrip().startswith("- "):
        return _mapping(lines)
    column = _indent(body[0][1])
    starts = [i for i, line in body if _indent(line) == column and line.lstrip().startswith("- ")]
    items = []
    for n, i in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        first = " " * (column + 2) + lines[i].lstrip()[2:]
        items.append(_mapping([first, *lines[i + 1:end]]))
    return items


def _list_items(text: str, first_key: str) -> list[dict[str, Any]]:
    """Every block-sequence item whose first key is ``first_key``, as a mapping."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines)
              if re.match(rf"^\s*- {first_key}:", line)]
    items = []
    for i in starts:
        dash = _indent(lines[i])
        block = [" " * (dash + 2) + lines[i].strip()[2:]]
        for line in lines[i + 1:]:
            stripped = line.strip()
            if stripped and not stripped.startswith("#") and _indent(line) <= dash:
                break
            block.append(line)
        items.append(_mapping(block))
    return items


@cache
def _rules() -> tuple[dict[str, Any], ...]:
    text = RULES.read_text(encoding="utf-8")
    assert "- record:" not in text, "update the parser: recording rules are not expected"
    return tuple(_list_items(text, "alert"))


def _rule_tests() -> list[dict[str, Any]]:
    return _list_items(RULE_TESTS.read_text(encoding="utf-8"), "eval_time")


# --------------------------------------------------------------------------- rules

def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def _runbook_anchors() -> set[str]:
    text = re.sub(r"^\s*```.*?^\s*```", "", RUNBOOK.read_text(encoding="utf-8"),
                  flags=re.MULTILINE | re.DOTALL)  # no headings inside code blocks
    headings = re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
    return {_slug(m.group(1)) for m in headings}


def _exported_metrics() -> dict[str, set[str]]:
    """Metric family -> the series names it exposes, from infra/metrics.py."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                "gauge": ("",)}
    return {
        family.name: {family.name + s for s in suffixes[family.type]}
        for family in build_metrics().registry.collect()
    }


def test_rules_parse() -> None:
    rules = _rules()
    assert rules, "no alerting rule found"
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), f"duplicate alert names: {names}"
    for rule in rules:
        assert rule.get("expr"), rule


def test_every_rule_has_severity_summary_and_runbook() -> None:
    anchors = _runbook_anchors()
    used: dict[str, str] = {}
    for rule in _rules():
        name = rule["alert"]
        assert rule.get("for"), f"{name}: set `for:` (0m if it fires at once)"
        labels = rule.get("labels") or {}
        annotations = rule.get("annotations") or {}
        assert labels.get("severity") in ("warning", "critical"), f"{name}: severity {labels}"
        assert annotations.get("summary"), f"{name}: no summary"
        assert annotations.get("description"), f"{name}: no description"
        url = annotations.get("runbook_url", "")
        assert url.startswith(RUNBOOK_URL), f"{name}: runbook_url {url!r}"
        anchor = url.removeprefix(RUNBOOK_URL)
        assert anchor in anchors, f"{name}: no heading for #{anchor} in docs/runbook.md"
        assert anchor not in used, f"{name} and {used.get(anchor)} share #{anchor}"
        used[anchor] = name


def test_annotations_only_use_bounded_labels() -> None:
    for rule in _rules():
        for key, text in (rule.get("annotations") or {}).items():
            for label in re.findall(r"\$labels\.(\w+)", text):
                assert label in ANNOTATION_LABELS, f"{rule['alert']}.{key}: $labels.{label}"


def test_rules_cover_the_spec() -> None:
    rules = {r["alert"]: r for r in _rules()}
    exprs = " ".join(r["expr"] for r in rules.values())
    for kind in SPEC_ALERT_KINDS:
        assert f'claimdesk_alerts_open{{kind="{kind}"}}' in exprs, f"no rule for kind {kind}"
    assert "claimdesk_outbox_oldest_seconds" in rules["ClaimdeskOutboxStale"]["expr"]
    assert rules["ClaimdeskOutboxStale"]["for"] == "2m"
    assert rules["ClaimdeskWorkerDown"]["expr"] == 'up{job="claimdesk"} == 0'
    assert any('outcome="dead_lettered"' in r["expr"] for r in rules.values())


def test_rules_use_only_exported_metrics() -> None:
    exported = set().union(*_exported_metrics().values())
    for rule in _rules():
        for metric in re.findall(r"\bclaimdesk_[a-z_]+\b", rule["expr"]):
            assert metric in exported, f"{rule['alert']}: unknown metric {metric}"


def test_every_rule_has_a_firing_and_a_quiet_case() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in _rule_tests():
        expected = case.get("exp_alerts")
        (firing if isinstance(expected, list) and expected else quiet).add(case["alertname"])
    for rule in _rules():
        name = rule["alert"]
        assert name in firing, f"alerts_test.yml: no case where {name} fires"
        assert name in quiet, f"alerts_test.yml: no case where {name} stays quiet"


def test_runbook_internal_links_resolve() -> None:
    anchors = _runbook_anchors()
    text = RUNBOOK.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in anchors, f"docs/runbook.md links #{target}, which has no heading"


# --------------------------------------------------------------------------- dashboard

@cache
def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _panels() -> list[dict[str, Any]]:
    panels = []
    for panel in _dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows nest their panels
    return panels


def _queries() -> list[str]:
    return [t["expr"] for p in _panels() for t in p.get("targets", [])]


def test_dashboard_is_importable_json() -> None:
    dash = _dashboard()
    assert dash["title"] and dash["uid"]
    assert dash["schemaVersion"] >= 36
    assert [i["name"] for i in dash["__inputs"]] == ["DS_PROMETHEUS"]
    assert dash["__inputs"][0]["pluginId"] == "prometheus"
    ids = [p["id"] for p in _panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in _panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"]) == panel["datasource"]
            assert target["expr"].strip(), panel["title"]


def test_dashboard_shows_every_metric() -> None:
    queries = " ".join(_queries())
    used = set(re.findall(r"\bclaimdesk_[a-z_]+\b", queries))
    for family, names in _exported_metrics().items():
        assert names & used, f"no dashboard panel shows {family}"
    exported = set().union(*_exported_metrics().values())
    assert used <= exported, f"unknown metrics on the dashboard: {used - exported}"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (Grafana variables replaced) as a recording rule."""
    lines = ["groups:", "  - name: claimdesk_dashboard_queries", "    rules:"]
    for n, query in enumerate(_queries()):
        expr = (query.replace("$__rate_interval", "5m").replace("$__interval", "1m")
                .replace("$topic", ".*"))
        assert "$" not in expr, f"unhandled Grafana variable in {query!r}"
        lines += [f"      - record: claimdesk_dashboard:query_{n}",
                  f"        expr: {json.dumps(expr)}"]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _run_promtool("check", "rules", str(path))
