"""The labelled fetches (every *.jsonl in tests/fixtures/opens/: labelled.jsonl and
public.jsonl) and tools/eval_opens.py: each file is well formed, ids are unique across the
files, labelled.jsonl covers user-agents.tsv and public.jsonl adds public user agents, the
tool's arithmetic is right, and the classifier reaches the precision and recall thresholds
for "person"."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core.classification import PERSON_VERDICTS, VERDICTS, Judgement
from tools.eval_opens import (
    DEFAULT_DIR,
    DEFAULT_PATH,
    FIELDS,
    MIN_PRECISION,
    MIN_RECALL,
    OPTIONAL_FIELDS,
    SENT_AT,
    InvalidEntry,
    Outcome,
    Report,
    default_paths,
    evaluate,
    format_report,
    load,
    load_all,
    main,
    parse_entry,
)

pytestmark = pytest.mark.disable_socket

ROOT = Path(__file__).resolve().parents[2]
TSV = ROOT / "tests" / "fixtures" / "user-agents.tsv"
PUBLIC = DEFAULT_DIR / "public.jsonl"
# Apple Mail Privacy Protection announces itself with exactly this, so public.jsonl repeats it.
MPP_USER_AGENT = "Mozilla/5.0"
TSV_LABEL = {
    "human": "person",
    "proxy": "person",
    "privacy-prefetch": "machine",
    "security-scanner": "machine",
    "unknown": "machine",
}


def raw_lines(path: Path = DEFAULT_PATH) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def tsv_rows() -> list[dict[str, str]]:
    with TSV.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def entry(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "x",
        "description": "Outlook, 2 h later",
        "label": "person",
        "expected_verdict": "human",
        "kind": "open",
        "seconds_after_delivery": 7200,
        "seconds_after_send": 7202,
        "user_agent": "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro)",
        "network": None,
        "method": "GET",
        "burst": 1,
        "repeat": False,
        "from_sender": False,
        "source": "test",
    }
    return {**base, **overrides}


# -- the labelled set ---------------------------------------------------------------------


def test_the_default_set_is_every_jsonl_file_beside_the_readme() -> None:
    paths = default_paths()
    assert DEFAULT_PATH in paths
    assert PUBLIC in paths
    assert paths == sorted(DEFAULT_DIR.glob("*.jsonl"))


@pytest.mark.parametrize("path", default_paths(), ids=lambda path: path.name)
def test_each_file_is_well_formed(path: Path) -> None:
    lines = raw_lines(path)
    assert lines, path
    for line in lines:  # same fields, same order, the optional ones last
        assert tuple(line)[: len(FIELDS)] == FIELDS
        assert set(tuple(line)[len(FIELDS) :]) <= set(OPTIONAL_FIELDS)
    entries = load(path)  # every field allowed, ids unique within the file
    assert len(entries) == len(lines)
    assert {e.label for e in entries} == {"person", "machine"}
    assert {e.signals.kind for e in entries} == {"open", "click", "view"}
    for item in entries:
        assert item.source.strip(), item.id
        assert item.description.strip(), item.id


def test_the_labelled_set_is_well_formed_and_large_enough() -> None:
    lines = raw_lines()
    assert len(lines) >= 60
    entries = load()
    assert len(entries) == len(lines)
    assert {e.expected_verdict for e in entries} == set(VERDICTS)
    people = sum(e.is_person for e in entries)
    assert 0.35 <= people / len(entries) <= 0.65  # neither class is a token


def test_the_files_together_are_large_balanced_and_ids_unique_across_them() -> None:
    entries = load_all()
    assert len(entries) == sum(len(raw_lines(path)) for path in default_paths())
    assert len(entries) > 330
    assert len({e.id for e in entries}) == len(entries)
    assert {e.expected_verdict for e in entries} == set(VERDICTS)
    assert {e.signals.kind for e in entries} == {"open", "click", "view"}
    people = sum(e.is_person for e in entries)
    assert 0.35 <= people / len(entries) <= 0.65


def test_the_public_set_cites_public_sources_and_adds_new_user_agents() -> None:
    lines = raw_lines(PUBLIC)
    assert len(lines) >= 260
    assert all(line["id"].startswith("pub-") for line in lines)
    existing = {line["user_agent"] for line in raw_lines()} | {
        row["user_agent"] for row in tsv_rows()
    }
    for line in lines:
        agent = line["user_agent"]
        if agent is not None:
            # github:owner/repo/path@commit or an issue/PR address, for every user agent
            assert "github:" in line["source"] or "https://github.com/" in line["source"], line
        if agent not in (None, MPP_USER_AGENT):
            assert agent not in existing, line["id"]
    agents = {line["user_agent"] for line in lines} - {None}
    assert len(agents) >= 250


def test_ids_repeated_across_files_are_refused(tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    one.write_text(json.dumps(entry(id="same")) + "\n")
    two.write_text(json.dumps(entry(id="same", description="another")) + "\n")
    assert [e.id for e in load_all([one])] == ["same"]
    with pytest.raises(InvalidEntry, match="more than once"):
        load_all([one, two])
    with pytest.raises(InvalidEntry, match="no labelled files"):
        load_all([])


def test_every_user_agents_tsv_row_is_in_the_set_with_its_label() -> None:
    rows = tsv_rows()
    from_tsv = [line for line in raw_lines() if line["id"].startswith("tsv-")]
    assert len(from_tsv) == len(rows)
    by_agent = {line["user_agent"]: line for line in from_tsv}
    for row in rows:
        line = by_agent[row["user_agent"]]
        assert line["label"] == TSV_LABEL[row["kind"]], row["client"]
        assert line["source"].startswith("user-agents.tsv: "), row["client"]
        assert row["source"] in line["source"]


def test_entries_are_timed_as_described() -> None:
    for item in load_all():
        signals = item.signals
        assert signals.sent_at == SENT_AT
        assert signals.at >= SENT_AT
        if signals.delivered_at is not None:
            assert timedelta(0) <= signals.delivered_at - SENT_AT <= timedelta(seconds=5), item.id


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"label": "someone"}, "label"),
        ({"expected_verdict": "bot"}, "expected_verdict"),
        ({"label": "machine"}, "cannot be expected"),  # machine + human
        ({"expected_verdict": "scanner"}, "cannot be expected"),  # person + scanner
        ({"kind": "viewed"}, "kind"),
        ({"seconds_after_delivery": 10, "seconds_after_send": 5}, "delivered before"),
        ({"seconds_after_send": "soon"}, "seconds_after_send"),
        ({"burst": 0}, "burst"),
        ({"burst": True}, "burst"),
        ({"repeat": "no"}, "repeat"),
        ({"user_agent": ""}, "user_agent"),
        ({"surprise": 1}, "unknown fields"),
    ],
)
def test_a_bad_entry_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEntry, match=message):
        parse_entry(entry(**overrides))


def test_a_missing_field_or_a_duplicate_id_is_refused(tmp_path: Path) -> None:
    incomplete = entry()
    del incomplete["burst"]
    with pytest.raises(InvalidEntry, match="missing fields"):
        parse_entry(incomplete)
    path = tmp_path / "twice.jsonl"
    path.write_text(json.dumps(entry()) + "\n" + json.dumps(entry()) + "\n")
    with pytest.raises(InvalidEntry, match="more than once"):
        load(path)


def test_an_entry_becomes_the_signals_it_describes() -> None:
    parsed = parse_entry(entry(network="40.94.89.0/24", repeat=True, burst=2, kind="click"))
    signals = parsed.signals
    assert signals.at - SENT_AT == timedelta(seconds=7202)
    assert signals.delivered_at is not None
    assert signals.delivered_at - SENT_AT == timedelta(seconds=2)
    assert (signals.network, signals.repeat, signals.burst, signals.kind) == (
        "40.94.89.0/24",
        True,
        2,
        "click",
    )
    undelivered = parse_entry(entry(seconds_after_delivery=None)).signals
    assert undelivered.delivered_at is None


# -- the tool's arithmetic -------------------------------------------------------------------


def _outcome(label: str, expected: str, predicted: str) -> Outcome:
    item = parse_entry(
        entry(
            label=label,
            expected_verdict=expected,
            id=f"{label}-{expected}-{predicted}",
        )
    )
    return Outcome(item, Judgement(predicted, 0.5, ("because",)))  # type: ignore[arg-type]


def test_precision_recall_accuracy_and_confusion() -> None:
    report = Report(
        (
            _outcome("person", "human", "human"),
            _outcome("person", "human", "proxy"),  # right call, wrong verdict
            _outcome("person", "proxy", "scanner"),  # missed person
            _outcome("machine", "scanner", "human"),  # machine as person
            _outcome("machine", "privacy_prefetch", "privacy_prefetch"),
            _outcome("machine", "unknown", "scanner"),  # right call, wrong verdict
        )
    )
    assert (report.true_person, report.judged_person, report.people) == (2, 3, 3)
    assert report.precision == pytest.approx(2 / 3)
    assert report.recall == pytest.approx(2 / 3)
    assert report.accuracy == pytest.approx(2 / 6)
    assert report.confusion == {
        ("human", "human"): 1,
        ("human", "proxy"): 1,
        ("proxy", "scanner"): 1,
        ("scanner", "human"): 1,
        ("privacy_prefetch", "privacy_prefetch"): 1,
        ("unknown", "scanner"): 1,
    }
    assert [o.binary_error for o in report.misclassified] == [
        None,
        "missed person",
        "machine as person",
        None,
    ]
    assert not report.meets(0.5, 0.7)
    assert report.meets(0.6, 0.6)
    text = format_report(report)
    assert "precision 0.667  (2 of 3 judged person were people)" in text
    assert "recall    0.667  (2 of 3 people judged person)" in text
    assert "Exact verdict accuracy: 0.333 (2 of 6)" in text
    assert "Misclassified: 4" in text
    assert "[machine as person]" in text
    assert "[missed person]" in text


def test_no_predictions_or_no_people_score_zero_not_a_crash() -> None:
    report = Report((_outcome("machine", "scanner", "scanner"),))
    assert (report.precision, report.recall, report.accuracy) == (0.0, 0.0, 1.0)
    assert Report(()).accuracy == 0.0


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(entry(user_agent="UA")) + "\n")  # a person judged unknown
    assert main([str(path)]) == 0
    assert "NOT MET" in capsys.readouterr().out
    assert main([str(path), "--check"]) == 1
    assert main([str(path), "--check", "--min-precision", "0", "--min-recall", "0"]) == 0
    other = tmp_path / "two.jsonl"
    other.write_text(json.dumps(entry(id="y", user_agent="UA")) + "\n")
    assert main([str(path), str(other)]) == 0
    out = capsys.readouterr().out
    assert "Labelled fetches: 2 (2 person, 0 machine)" in out
    assert "one.jsonl" in out
    assert "two.jsonl" in out
    other.write_text(json.dumps(entry(user_agent="UA")) + "\n")  # id "x" again
    assert main([str(path), str(other)]) == 2
    assert "more than once" in capsys.readouterr().err
    path.write_text("{not json\n")
    assert main([str(path)]) == 2
    assert "one.jsonl:1" in capsys.readouterr().err


def test_make_eval_opens_runs_the_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.eval_opens"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("precision", "recall", "Exact verdict accuracy", "Confusion", *VERDICTS):
        assert expected in out
    total = sum(len(raw_lines(path)) for path in default_paths())
    assert f"Labelled fetches: {total} " in out  # every file, not only labelled.jsonl
    makefile = (ROOT / "Makefile").read_text()
    assert "eval-opens:" in makefile
    assert "-m tools.eval_opens" in makefile


# -- the thresholds ----------------------------------------------------------------------------


def _failures(report: Report) -> str:
    return "; ".join(
        f"{o.entry.id}: {o.entry.label} judged {o.judgement.verdict} "
        f"({', '.join(o.judgement.reasons[:2])})"
        for o in report.outcomes
        if o.binary_error
    )


def test_the_optional_fields_give_the_gap_to_a_persons_fetch() -> None:
    plain = parse_entry(entry())
    assert (plain.signals.since_person, plain.signals.person_network) == (None, None)
    given = parse_entry(entry(seconds_after_person=12, person_network="203.0.113.0/24"))
    assert given.signals.since_person == timedelta(seconds=12)
    assert given.signals.person_network == "203.0.113.0/24"
    with pytest.raises(InvalidEntry):
        parse_entry(entry(seconds_after_person="soon"))
    with pytest.raises(InvalidEntry):
        parse_entry(entry(person_network=""))


def test_the_classifier_meets_the_thresholds_for_person() -> None:
    report = evaluate(load_all())
    assert report.precision >= MIN_PRECISION, _failures(report)
    assert report.recall >= MIN_RECALL, _failures(report)


def test_the_verdicts_that_count_as_a_person_are_human_and_proxy() -> None:
    assert {"human", "proxy"} == PERSON_VERDICTS
