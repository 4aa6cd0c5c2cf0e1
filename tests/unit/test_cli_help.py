"""``claimdesk --help`` and each verb's help read well to an operator (issue 16)."""

from __future__ import annotations

import pytest

from infra.settings import Settings
from workers.cli import _parser
from workers.cli_help import TOP_EPILOG, verbs

SPEC_VERBS = {"up", "migrate", "topics create", "worker", "roster load", "simulate",
              "dlt replay", "report daily", "bench", "report weekly", "report monthly"}


def test_every_verb_has_a_description_and_examples() -> None:
    found = dict(verbs(_parser()))
    assert SPEC_VERBS - {"report weekly", "report monthly"} <= set(found)
    for path, sub in found.items():
        assert sub.description and len(sub.description) > 30, path
        assert sub.epilog and "examples:" in sub.epilog, f"`claimdesk {path} --help` has no examples"
        first = path.split()[0]
        assert f"claimdesk {first}" in sub.epilog, path


def test_top_level_help_lists_every_setting_and_how_to_get_more(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for field in Settings.model_fields.values():
        assert f"{field.alias} " in TOP_EPILOG, field.alias
    assert "CLAIMDESK_PII_DATABASE_URL" in TOP_EPILOG
    with pytest.raises(SystemExit) as done:
        _parser().parse_args(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "common tasks:" in out and "claimdesk VERB --help" in out


def test_verb_help_prints_its_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["dlt", "replay", "--help"])
    out = capsys.readouterr().out
    assert "claimdesk dlt replay case-reported" in out and "second replay" in out
