"""Score the open classifier (chalicelib/core/classification.py) on labelled fetches.

    python -m tools.eval_opens [PATH ...] [--check] [--min-precision 0.97] [--min-recall 0.97]

Each line of each PATH (by default every ``*.jsonl`` file in tests/fixtures/opens/, described
in the README.md beside them: ``labelled.jsonl`` and ``public.jsonl``) is one fetch: its
signals, what actually happened ("person" or "machine") and the verdict expected. Ids must be
unique across all the files scored together. Prints precision and recall of "person" (a
verdict of human or proxy) against everything else, the accuracy of the exact verdict, a
confusion table (expected verdict by predicted verdict) and every entry judged wrong with
the classifier's reasons. With --check, exits 1 when precision or recall is below its
threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast, get_args

from chalicelib.core.classification import (
    PERSON_VERDICTS,
    VERDICTS,
    FetchKind,
    FetchSignals,
    Judgement,
    Verdict,
    classify,
)

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "opens"
# The hand-written scenarios and the user-agents.tsv rows; public.jsonl beside it holds
# fetches whose user agents are copied from public sources.
DEFAULT_PATH = DEFAULT_DIR / "labelled.jsonl"
MIN_PRECISION = 0.97
MIN_RECALL = 0.97
# Every entry is timed from this moment of sending; only the differences matter.
SENT_AT = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)

Label = Literal["person", "machine"]
FIELDS = (
    "id",
    "description",
    "label",
    "expected_verdict",
    "kind",
    "seconds_after_delivery",
    "seconds_after_send",
    "user_agent",
    "network",
    "method",
    "burst",
    "repeat",
    "from_sender",
    "source",
)
# May be left out (older entries): the time since the latest earlier fetch judged a
# person's and that fetch's network, as status.judge passes them when it knows them.
OPTIONAL_FIELDS = ("seconds_after_person", "person_network")


class InvalidEntry(ValueError):
    """A line of the labelled set that cannot be scored."""


@dataclass(frozen=True)
class LabelledFetch:
    id: str
    description: str
    label: Label
    expected_verdict: Verdict
    signals: FetchSignals
    source: str

    @property
    def is_person(self) -> bool:
        return self.label == "person"


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEntry(f"{name} must be a number, not {value!r}")
    return float(value)


def _text(value: Any, name: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidEntry(f"{name} must be a non-empty string, not {value!r}")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidEntry(f"{name} must be true or false, not {value!r}")
    return value


def parse_entry(data: dict[str, Any]) -> LabelledFetch:
    """One labelled fetch; raises InvalidEntry when a field is missing or wrong."""
    missing = [f for f in FIELDS if f not in data]
    extra = sorted(set(data) - set(FIELDS) - set(OPTIONAL_FIELDS))
    if missing or extra:
        raise InvalidEntry(f"missing fields {missing}, unknown fields {extra}")
    label = data["label"]
    if label not in ("person", "machine"):
        raise InvalidEntry(f"label must be person or machine, not {label!r}")
    expected = data["expected_verdict"]
    if expected not in VERDICTS:
        raise InvalidEntry(f"expected_verdict must be one of {VERDICTS}, not {expected!r}")
    if (label == "person") != (expected in PERSON_VERDICTS):
        raise InvalidEntry(f"a {label} cannot be expected to be {expected}")
    kind = data["kind"]
    if kind not in get_args(FetchKind):
        raise InvalidEntry(f"kind must be one of {get_args(FetchKind)}, not {kind!r}")
    after_send = _number(data["seconds_after_send"], "seconds_after_send")
    delivered_at: datetime | None = None
    if data["seconds_after_delivery"] is not None:
        after_delivery = _number(data["seconds_after_delivery"], "seconds_after_delivery")
        if after_delivery > after_send:
            raise InvalidEntry("delivered before it was sent")
        delivered_at = SENT_AT + timedelta(seconds=after_send - after_delivery)
    burst = data["burst"]
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise InvalidEntry(f"burst must be a whole number from 1, not {burst!r}")
    after_person = data.get("seconds_after_person")
    since_person = (
        None
        if after_person is None
        else timedelta(seconds=_number(after_person, "seconds_after_person"))
    )
    signals = FetchSignals(
        kind=cast(FetchKind, kind),
        at=SENT_AT + timedelta(seconds=after_send),
        user_agent=_text(data["user_agent"], "user_agent", optional=True),
        network=_text(data["network"], "network", optional=True),
        method=_text(data["method"], "method", optional=True),
        sent_at=SENT_AT,
        delivered_at=delivered_at,
        burst=burst,
        repeat=_flag(data["repeat"], "repeat"),
        from_sender=_flag(data["from_sender"], "from_sender"),
        since_person=since_person,
        person_network=_text(data.get("person_network"), "person_network", optional=True),
    )
    return LabelledFetch(
        id=str(_text(data["id"], "id")),
        description=str(_text(data["description"], "description")),
        label=cast(Label, label),
        expected_verdict=cast(Verdict, expected),
        signals=signals,
        source=str(_text(data["source"], "source")),
    )


def load(path: Path = DEFAULT_PATH) -> list[LabelledFetch]:
    entries: list[LabelledFetch] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise InvalidEntry("each line must be a JSON object")
            entries.append(parse_entry(data))
        except (ValueError, InvalidEntry) as error:
            raise InvalidEntry(f"{path}:{number}: {error}") from error
    ids = Counter(e.id for e in entries)
    duplicated = sorted(i for i, n in ids.items() if n > 1)
    if duplicated:
        raise InvalidEntry(f"{path}: ids used more than once: {duplicated}")
    return entries


def default_paths(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Every labelled file of the evaluation set, in name order."""
    return sorted(directory.glob("*.jsonl"))


def load_all(paths: Sequence[Path] | None = None) -> list[LabelledFetch]:
    """The entries of several files (by default every file in DEFAULT_DIR); raises
    InvalidEntry when a file is malformed or an id is used in more than one file."""
    chosen = default_paths() if paths is None else list(paths)
    if not chosen:
        raise InvalidEntry("no labelled files to score")
    entries: list[LabelledFetch] = []
    where: dict[str, Path] = {}
    for path in chosen:
        for item in load(path):
            if item.id in where:
                raise InvalidEntry(
                    f"{path}: id {item.id!r} used more than once (also in {where[item.id]})"
                )
            where[item.id] = path
            entries.append(item)
    return entries


@dataclass(frozen=True)
class Outcome:
    entry: LabelledFetch
    judgement: Judgement

    @property
    def exact(self) -> bool:
        return self.judgement.verdict == self.entry.expected_verdict

    @property
    def binary_error(self) -> str | None:
        """ "missed person" or "machine as person" when the person/machine call is wrong."""
        if self.entry.is_person and not self.judgement.is_person:
            return "missed person"
        if not self.entry.is_person and self.judgement.is_person:
            return "machine as person"
        return None


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(frozen=True)
class Report:
    outcomes: tuple[Outcome, ...]

    @property
    def true_person(self) -> int:
        return sum(1 for o in self.outcomes if o.entry.is_person and o.judgement.is_person)

    @property
    def judged_person(self) -> int:
        return sum(1 for o in self.outcomes if o.judgement.is_person)

    @property
    def people(self) -> int:
        return sum(1 for o in self.outcomes if o.entry.is_person)

    @property
    def precision(self) -> float:
        """Of the fetches judged a person's, the share that were."""
        return _ratio(self.true_person, self.judged_person)

    @property
    def recall(self) -> float:
        """Of the people's fetches, the share judged a person's."""
        return _ratio(self.true_person, self.people)

    @property
    def accuracy(self) -> float:
        """The share of fetches given exactly the expected verdict."""
        return _ratio(sum(1 for o in self.outcomes if o.exact), len(self.outcomes))

    @property
    def confusion(self) -> dict[tuple[Verdict, Verdict], int]:
        """(expected verdict, predicted verdict) -> how many."""
        return dict(Counter((o.entry.expected_verdict, o.judgement.verdict) for o in self.outcomes))

    @property
    def misclassified(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.exact or o.binary_error)

    def meets(self, min_precision: float, min_recall: float) -> bool:
        return self.precision >= min_precision and self.recall >= min_recall


def evaluate(entries: Sequence[LabelledFetch]) -> Report:
    return Report(tuple(Outcome(entry, classify(entry.signals)) for entry in entries))


def format_report(
    report: Report,
    path: Path | Sequence[Path] | None = None,
    min_precision: float = MIN_PRECISION,
    min_recall: float = MIN_RECALL,
) -> str:
    lines: list[str] = []
    total = len(report.outcomes)
    machines = total - report.people
    paths = [path] if isinstance(path, Path) else list(path or ())
    where = f"  ({', '.join(str(p) for p in paths)})" if paths else ""
    lines.append(f"Labelled fetches: {total} ({report.people} person, {machines} machine){where}")
    lines.append("")
    lines.append('"person" = verdict human or proxy; anything else counts as machine')
    lines.append(
        f"  precision {report.precision:.3f}  "
        f"({report.true_person} of {report.judged_person} judged person were people)"
    )
    lines.append(
        f"  recall    {report.recall:.3f}  "
        f"({report.true_person} of {report.people} people judged person)"
    )
    exact = sum(1 for o in report.outcomes if o.exact)
    lines.append(f"Exact verdict accuracy: {report.accuracy:.3f} ({exact} of {total})")
    met = report.meets(min_precision, min_recall)
    lines.append(
        f"Thresholds: precision >= {min_precision:.2f}, recall >= {min_recall:.2f}: "
        + ("met" if met else "NOT MET")
    )
    lines.append("")
    lines.append("Confusion (rows: expected verdict, columns: predicted verdict)")
    width = max(len(v) for v in VERDICTS)
    lines.append(" " * width + "".join(f"  {v:>{len(v)}}" for v in VERDICTS) + "  total")
    confusion = report.confusion
    for expected in VERDICTS:
        row = [confusion.get((expected, predicted), 0) for predicted in VERDICTS]
        cells = "".join(f"  {n:>{len(v)}}" for v, n in zip(VERDICTS, row, strict=True))
        lines.append(f"{expected:<{width}}{cells}  {sum(row):>5}")
    lines.append("")
    wrong = report.misclassified
    lines.append(f"Misclassified: {len(wrong)}")
    for outcome in wrong:
        entry, judgement = outcome.entry, outcome.judgement
        flag = f"  [{outcome.binary_error}]" if outcome.binary_error else ""
        lines.append(
            f"- {entry.id}: expected {entry.expected_verdict} ({entry.label}), "
            f"got {judgement.verdict} {judgement.confidence:.2f}{flag}"
        )
        lines.append(f"    {entry.description}")
        lines.append(f"    reasons: {', '.join(judgement.reasons)}")
        lines.append(f"    source: {entry.source}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.eval_opens",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="labelled files to score together (default: every *.jsonl in tests/fixtures/opens/)",
    )
    parser.add_argument("--min-precision", type=float, default=MIN_PRECISION)
    parser.add_argument("--min-recall", type=float, default=MIN_RECALL)
    parser.add_argument("--check", action="store_true", help="exit 1 when a threshold is not met")
    args = parser.parse_args(argv)
    paths: list[Path] = args.paths or default_paths()
    try:
        entries = load_all(paths)
    except (OSError, InvalidEntry) as error:
        print(f"eval_opens: {error}", file=sys.stderr)
        return 2
    report = evaluate(entries)
    print(format_report(report, paths, args.min_precision, args.min_recall))
    if args.check and not report.meets(args.min_precision, args.min_recall):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
