"""Section 10: dollars per million repeat pixel opens, from this run's figures (section
1's capacity units and requests of a repeat open, section 3's CPU of the pixel route)
at the dated list prices below, through each built door and table mode, beside the
target of $2 per million opens all included. docs/SCALING.md explains each line.

Not measured on AWS: Lambda's duration is derived (CPU scaled to the function's share of
a vCPU, plus one assumed in-region round trip per DynamoDB request), and the load
balancer's capacity units assume the worst case of one new connection per fetch.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.core import Row, verdict

SECTION = "10 dollars per million opens"
TARGET_DOLLARS = 2.0
MEASURED_VOLUMES_M = (50, 100)  # opens a month at which the at-volume lines are priced


@dataclass(frozen=True)
class Prices:
    """us-east-1 list prices (docs/SCALING.md names where and when each was read)."""

    dynamodb_wru: float = 0.625 / 1e6  # on demand, per write request unit
    dynamodb_rru: float = 0.125 / 1e6
    wcu_hour: float = 0.00065  # provisioned
    rcu_hour: float = 0.00013
    utilization: float = 0.70  # the template's TableCapacityTargetUtilization
    lambda_request: float = 0.20 / 1e6
    lambda_gb_second: float = 0.0000166667  # x86
    http_api_request: float = 1.00 / 1e6
    rest_api_request: float = 3.50 / 1e6
    alb_hour: float = 0.0225
    alb_lcu_hour: float = 0.008
    alb_new_connections_per_lcu: float = 25.0  # a second
    public_ipv4_hour: float = 0.005
    alb_addresses: int = 2  # one per Availability Zone, two at least
    data_out_gb: float = 0.09
    hours_a_month: float = 730.0


@dataclass(frozen=True)
class Open:
    """What one repeat open costs in this run."""

    wru: float
    rru: float
    dynamodb_requests: int
    cpu_ms: float
    memory_mb: int = 512
    round_trip_ms: float = 5.0  # DynamoDB in-region: an assumption, not measured
    answer_kb: float = 0.35

    @property
    def billed_seconds(self) -> float:
        on_cpu = self.cpu_ms * 1769 / self.memory_mb  # a function has memory / 1,769 MB of a vCPU
        return (on_cpu + self.dynamodb_requests * self.round_trip_ms) / 1000


def dynamodb(one: Open, prices: Prices, provisioned: bool) -> float:
    """Per million opens."""
    if provisioned:
        per_unit = 1e6 / 3600 / prices.utilization  # unit-hours per million requests
        return one.wru * per_unit * prices.wcu_hour + one.rru * per_unit * prices.rcu_hour
    return 1e6 * (one.wru * prices.dynamodb_wru + one.rru * prices.dynamodb_rru)


def lambda_part(one: Open, prices: Prices) -> float:
    gb_seconds = one.billed_seconds * one.memory_mb / 1024
    return 1e6 * (prices.lambda_request + gb_seconds * prices.lambda_gb_second)


def data_out(one: Open, prices: Prices) -> float:
    return one.answer_kb * prices.data_out_gb  # 0.35 KB x a million fetches = 0.35 GB


def alb_per_million(prices: Prices) -> float:
    lcu_hours = 1e6 / (prices.alb_new_connections_per_lcu * 3600)
    return lcu_hours * prices.alb_lcu_hour


def alb_monthly(prices: Prices) -> float:
    return prices.hours_a_month * (prices.alb_hour + prices.alb_addresses * prices.public_ipv4_hour)


DOORS = ("REST API", "HTTP API", "load balancer")


def door_per_million(door: str, prices: Prices) -> float:
    return {
        "REST API": prices.rest_api_request * 1e6,
        "HTTP API": prices.http_api_request * 1e6,
        "load balancer": alb_per_million(prices),
    }[door]


def per_million(one: Open, prices: Prices, door: str, provisioned: bool) -> float:
    """Dollars per million repeat opens, before any fixed monthly part."""
    return (
        door_per_million(door, prices)
        + dynamodb(one, prices, provisioned)
        + lambda_part(one, prices)
        + data_out(one, prices)
    )


def volume_meeting(target: float, variable: float, monthly: float) -> float | None:
    """Millions of opens a month from which ``variable`` + ``monthly`` / volume ≤ target."""
    if variable >= target:
        return None
    return monthly / (target - variable)


def rows_for(one: Open, prices: Prices | None = None) -> list[Row]:
    p = prices or Prices()
    rows = [
        Row(
            SECTION,
            "a repeat open, from sections 1 and 3",
            f"{one.wru:g} WRU, {one.rru:g} RRU, {one.dynamodb_requests} requests, "
            f"{one.cpu_ms:.1f} ms CPU ≈ {one.billed_seconds * 1000:.0f} ms billed at "
            f"{one.memory_mb} MB",
            data={
                "wru": one.wru,
                "rru": one.rru,
                "requests": one.dynamodb_requests,
                "cpu_ms": round(one.cpu_ms, 3),
                "billed_ms": round(one.billed_seconds * 1000, 1),
            },
        )
    ]
    for provisioned in (False, True):
        table = (
            f"provisioned table ({p.utilization * 100:.0f} %)" if provisioned else "on-demand table"
        )
        for door in DOORS:
            total = per_million(one, p, door, provisioned)
            fixed = f" + ${alb_monthly(p):.2f} a month" if door == "load balancer" else ""
            value = (
                f"${total:.2f}{fixed} (door ${door_per_million(door, p):.2f}, DynamoDB "
                f"${dynamodb(one, p, provisioned):.2f}, Lambda ${lambda_part(one, p):.2f})"
            )
            rows.append(
                Row(
                    SECTION,
                    f"{door}, {table}",
                    value,
                    data={"dollars_per_million": round(total, 4), "door": door},
                )
            )
    variable = per_million(one, p, "load balancer", True)
    monthly = alb_monthly(p)
    for volume in MEASURED_VOLUMES_M:
        total = variable + monthly / volume
        rows.append(
            Row(
                SECTION,
                f"load balancer + provisioned table, {volume} M opens a month, all in",
                f"${total:.2f} per million",
                f"≤ ${TARGET_DOLLARS:g}",
                verdict(total <= TARGET_DOLLARS),
                {"dollars_per_million": round(total, 4), "volume_millions": volume},
            )
        )
    from_volume = volume_meeting(TARGET_DOLLARS, variable, monthly)
    rows.append(
        Row(
            SECTION,
            f"opens a month from which that is ≤ ${TARGET_DOLLARS:g} per million",
            "never" if from_volume is None else f"{from_volume:.0f} M",
            data={"volume_millions": None if from_volume is None else round(from_volume, 1)},
        )
    )
    return rows


def run(rows: list[Row]) -> list[Row]:
    """This run's repeat open (the last one section 1 measured) and the pixel route's
    CPU with the real adapters (section 3)."""
    repeats = [r for r in rows if r.data.get("kind") == "repeat_open"]
    routes = [r for r in rows if r.data.get("kind") == "pixel_route"]
    if not repeats or not routes:
        raise RuntimeError("needs sections 1 and 3 in the same run")
    repeat, route = repeats[-1].data, routes[-1].data
    one = Open(
        wru=float(repeat["wru"]),
        rru=float(repeat["rru"]),
        dynamodb_requests=sum(int(n) for n in repeat["requests"].values()),
        cpu_ms=float(route["cpu"]["median_ms"]),
    )
    return rows_for(one)
