"""bench/cost.py: the dollars per million opens that section 10 prints from the run's
figures, checked against arithmetic done by hand here."""

from __future__ import annotations

import pytest

from bench import cost

# The repeat open of docs/SCALING.md: 2 WRU, 4 RRU in 5 requests, 5.0 ms of CPU.
OPEN = cost.Open(wru=2, rru=4, dynamodb_requests=5, cpu_ms=5.0)
PRICES = cost.Prices()


def test_lambda_duration_is_the_cpu_at_its_share_of_a_vcpu_plus_the_round_trips() -> None:
    assert OPEN.billed_seconds == pytest.approx((5.0 * 1769 / 512 + 5 * 5.0) / 1000)
    # 0.042 s x 0.5 GB x a million x $0.0000166667 + $0.20 of requests
    assert cost.lambda_part(OPEN, PRICES) == pytest.approx(
        0.20 + OPEN.billed_seconds * 0.5 * 1e6 * 0.0000166667
    )


def test_dynamodb_on_demand_and_provisioned() -> None:
    assert cost.dynamodb(OPEN, PRICES, provisioned=False) == pytest.approx(2 * 0.625 + 4 * 0.125)
    # A million requests a unit is 277.8 unit-hours at 100 %, 396.8 at the 70 % target.
    hours = 1e6 / 3600 / 0.7
    assert cost.dynamodb(OPEN, PRICES, provisioned=True) == pytest.approx(
        2 * hours * 0.00065 + 4 * hours * 0.00013
    )
    assert cost.dynamodb(OPEN, PRICES, provisioned=True) < cost.dynamodb(
        OPEN, PRICES, provisioned=False
    )


def test_the_load_balancer_is_priced_per_connection_and_by_the_month() -> None:
    assert cost.alb_per_million(PRICES) == pytest.approx(1e6 / (25 * 3600) * 0.008)
    assert cost.alb_monthly(PRICES) == pytest.approx(730 * (0.0225 + 2 * 0.005))


def test_the_doors_differ_by_their_own_price_only() -> None:
    http = cost.per_million(OPEN, PRICES, "HTTP API", provisioned=False)
    rest = cost.per_million(OPEN, PRICES, "REST API", provisioned=False)
    alb = cost.per_million(OPEN, PRICES, "load balancer", provisioned=False)
    assert rest - http == pytest.approx(2.50)
    assert http - alb == pytest.approx(1.00 - cost.alb_per_million(PRICES))


def test_the_volume_meeting_the_target_is_where_the_fixed_part_fits_under_it() -> None:
    variable = cost.per_million(OPEN, PRICES, "load balancer", provisioned=True)
    monthly = cost.alb_monthly(PRICES)
    volume = cost.volume_meeting(2.0, variable, monthly)
    assert volume is not None
    assert variable + monthly / volume == pytest.approx(2.0)
    assert cost.volume_meeting(2.0, 2.5, monthly) is None  # never, whatever the volume


def test_the_rows_put_the_target_beside_the_at_volume_lines_only() -> None:
    rows = cost.rows_for(OPEN)
    judged = [r for r in rows if r.target]
    assert [r.data["volume_millions"] for r in judged] == list(cost.MEASURED_VOLUMES_M)
    assert all(r.verdict == "pass" for r in judged)  # $1.86 and $1.63 with these figures
    assert [r.measure for r in rows[1:7:3]] == [
        "REST API, on-demand table",
        "REST API, provisioned table (70 %)",
    ]
    # Ten times the writes: nothing meets $2.
    heavy = cost.rows_for(cost.Open(wru=20, rru=4, dynamodb_requests=5, cpu_ms=5.0))
    assert all(r.verdict == "falls short" for r in heavy if r.target)
    assert heavy[-1].value == "never"


def test_section_10_reads_this_runs_figures_and_needs_them() -> None:
    from bench.core import Row

    measured = [
        Row(
            "1 DynamoDB capacity",
            "pixel open #10 (repeat)",
            "",
            data={
                "wru": 2,
                "rru": 4,
                "requests": {"BatchGetItem": 1, "Query": 2, "PutItem": 1, "UpdateItem": 1},
                "kind": "repeat_open",
            },
        ),
        Row(
            "3 CPU per request",
            "pixel route, real adapters vs moto",
            "",
            data={"cpu": {"median_ms": 5.0}, "kind": "pixel_route"},
        ),
    ]
    (inputs, *_) = cost.run(measured)
    assert inputs.data == {"wru": 2.0, "rru": 4.0, "requests": 5, "cpu_ms": 5.0, "billed_ms": 42.3}
    with pytest.raises(RuntimeError, match="sections 1 and 3"):
        cost.run(measured[:1])
