#!/usr/bin/env python3
"""Labelled synthetic FOCUS 1.0 billing data for evaluating a cost anomaly detector.

Generator "issue_spec": follows the tester's labelled-set specification.
Usage:  python3 issue_spec.py --seed N --out DIR
Writes DIR/billing.csv (FOCUS 1.0 cost-and-usage rows) and DIR/labels.csv
(one row per injected event). Output is fully determined by the seed: all
randomness comes from a single random.Random(seed), consumed in a fixed order.

Calendar
  181 days, 2026-01-01 .. 2026-06-30 (6 calendar months). Day index d = 0..180.

Series (24 = 8 teams x 3 services)
  Teams team-a .. team-h. Each team gets 3 distinct AWS services drawn without
  replacement from a pool of 14 (AmazonEC2, AmazonS3, AmazonRDS, AWSLambda, ...),
  each with its FOCUS ServiceCategory. Two billing accounts (12-digit ids):
  teams a-d in the first, e-h in the second; each team has its own SubAccountId.
  Per series (all drawn independently):
    base      daily level at d=0, log-uniform in [40, 2500] USD
    sigma     noise level, uniform in [0.03, 0.09]
    weekend   with prob 1/3 no weekly pattern (factor 1 every day); otherwise
              Saturday factor s ~ U(0.50, 0.92) and Sunday factor
              s * U(0.92, 1.05) (capped at 1); Mon-Fri factor 1
    trend     with prob 1/2 none; otherwise a monthly growth rate r with |r| ~
              U(0.01, 0.05) and random sign, applied as (1+r)^(d/30.4375)
    discount  ListCost = BilledCost * (1+k), k = 0 with prob 1/2, else U(0.03, 0.20)
    resources 1-3 ResourceIds; each day the series total is split among them by
              fixed weights times a U(0.9, 1.1) jitter (the split never changes
              the series total beyond 6-decimal rounding)
  Normal daily cost of a series:
    normal(d) = base * trend(d) * weekday(d) * shift(d) * max(0.5, 1 + N(0, sigma))
  The noise factor is drawn independently per series per day.

Injected, labelled events
  Level shifts: 3, on 3 distinct series chosen at random. Shift day t ~ U{35..150};
    percent P: random sign, |P| ~ U{30..80} (integer). shift(d) = 1 for d < t and
    1 + P/100 for d >= t (permanent). Label: kind=level_shift, first_day = t,
    last_day empty, percent = P.
  Spikes: 24. Series chosen uniformly at random (at most 3 spikes per series).
    Duration L ~ U{1..5} days; start day ~ U{21 .. 181-L} (never in the first 21
    days). Percent p = round(exp(U(ln 25, ln 400))) (log-uniform, 25..400 %).
    Rejected and redrawn if the span [start-2, end+2] touches another spike on the
    same series (spikes are separated by at least 2 normal days), or if the span
    intersects [t-2, t+10] for a level shift at day t on that series.
    During a spike: cost(d) = normal(d) * (1 + p/100), the same p every day, so
    the extra cost per day is exactly p % of what that day would have cost
    without the spike (including its noise, trend, weekday and shift factors).
    Label: kind=spike, first_day..last_day inclusive, percent = p.

Normal (never labelled) month-spanning charges, one row each per team per month,
ChargePeriodStart = first of the month 00:00, ChargePeriodEnd = first of the next
month 00:00:
  Support fee: ChargeCategory Purchase, ServiceName AWSSupportBusiness, category
    "Management and Governance"; amount = per-team fee U(150, 1500) USD for January,
    multiplied by U(0.98, 1.03) each following month.
  Tax: ChargeCategory Tax, ServiceName AWSTax, category "Other"; amount = per-team
    rate U(0.05, 0.10) times the team's usage total in that month (so it follows
    the team's spend, including injected events, but is itself never labelled).

Format
  billing.csv columns: BilledCost, EffectiveCost, ListCost, BillingCurrency (USD),
  BillingAccountId, BillingAccountName, BillingPeriodStart, BillingPeriodEnd,
  ChargePeriodStart, ChargePeriodEnd, ChargeCategory, ChargeClass (empty),
  ProviderName (AWS), ServiceName, ServiceCategory, SubAccountId, RegionId,
  ResourceId, Tags ({"team": "team-x"}). Timestamps like 2026-01-05T00:00:00Z.
  BilledCost = EffectiveCost; ListCost >= BilledCost. Amounts are Decimals
  quantised to 6 places, written in plain notation, never negative.
  labels.csv columns: kind, team, service, first_day, last_day, percent
  (days as YYYY-MM-DD; service = ServiceName).
"""

import argparse
import csv
import datetime
import json
import math
import os
import random
from decimal import Decimal, ROUND_HALF_EVEN

START = datetime.date(2026, 1, 1)
N_DAYS = 181  # 2026-01-01 .. 2026-06-30
TEAMS = [f"team-{c}" for c in "abcdefgh"]
SERVICES = [
    ("AmazonEC2", "Compute", "i-"),
    ("AmazonS3", "Storage", "bucket-"),
    ("AmazonRDS", "Databases", "db-"),
    ("AWSLambda", "Compute", "fn-"),
    ("AmazonDynamoDB", "Databases", "table-"),
    ("AmazonCloudFront", "Networking", "dist-"),
    ("AmazonEKS", "Compute", "cluster-"),
    ("AmazonElastiCache", "Databases", "cache-"),
    ("AmazonRedshift", "Analytics", "rs-"),
    ("AmazonSageMaker", "AI and Machine Learning", "sm-"),
    ("AmazonVPC", "Networking", "vpc-"),
    ("AmazonCloudWatch", "Management and Governance", "log-"),
    ("AmazonSNS", "Integration", "topic-"),
    ("AmazonKinesis", "Analytics", "stream-"),
]
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1"]
HEADER = [
    "BilledCost", "EffectiveCost", "ListCost", "BillingCurrency", "BillingAccountId",
    "BillingAccountName", "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart",
    "ChargePeriodEnd", "ChargeCategory", "ChargeClass", "ProviderName", "ServiceName",
    "ServiceCategory", "SubAccountId", "RegionId", "ResourceId", "Tags",
]
Q6 = Decimal("0.000001")

N_SHIFTS = 3
N_SPIKES = 24
MAX_SPIKES_PER_SERIES = 3
SPIKE_MIN_START = 21
SPIKE_GAP = 2
SHIFT_GUARD_BEFORE = 2
SHIFT_GUARD_AFTER = 10


def dec(x):
    """Non-scientific Decimal string with at most 6 decimals."""
    d = Decimal(repr(float(x))).quantize(Q6, rounding=ROUND_HALF_EVEN)
    if d == 0:
        d = Decimal("0.000000")
    return format(d, "f")


def ts(day):
    return day.strftime("%Y-%m-%dT00:00:00Z")


def month_start(day):
    return day.replace(day=1)


def next_month(day):
    return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def acct_id(rng):
    return str(rng.randrange(10 ** 11, 10 ** 12))


def hexid(rng, n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def generate(seed):
    rng = random.Random(seed)
    days = [START + datetime.timedelta(days=i) for i in range(N_DAYS)]

    accounts = [(acct_id(rng), "acme-production"), (acct_id(rng), "acme-platform")]
    teams = []
    for ti, team in enumerate(TEAMS):
        acct = accounts[0] if ti < 4 else accounts[1]
        teams.append({
            "team": team,
            "account": acct,
            "sub": acct_id(rng),
            "support_fee": rng.uniform(150, 1500),
            "tax_rate": rng.uniform(0.05, 0.10),
            "services": rng.sample(range(len(SERVICES)), 3),
        })

    series = []
    for t in teams:
        for si in t["services"]:
            name, cat, prefix = SERVICES[si]
            if rng.random() < 1 / 3:
                sat = sun = 1.0
            else:
                sat = rng.uniform(0.50, 0.92)
                sun = min(1.0, sat * rng.uniform(0.92, 1.05))
            if rng.random() < 0.5:
                trend = 0.0
            else:
                trend = rng.uniform(0.01, 0.05) * rng.choice([-1, 1])
            discount = 0.0 if rng.random() < 0.5 else rng.uniform(0.03, 0.20)
            n_res = rng.randint(1, 3)
            region = rng.choice(REGIONS)
            series.append({
                "team": t,
                "service": name,
                "category": cat,
                "base": math.exp(rng.uniform(math.log(40), math.log(2500))),
                "sigma": rng.uniform(0.03, 0.09),
                "sat": sat,
                "sun": sun,
                "trend": trend,
                "discount": discount,
                "region": region,
                "resources": [f"{prefix}{hexid(rng, 12)}" for _ in range(n_res)],
                "weights": [rng.uniform(0.5, 2.0) for _ in range(n_res)],
                "shift_day": None,
                "shift_pct": 0,
                "spikes": [],
            })

    labels = []
    # Level shifts on distinct series.
    for idx in rng.sample(range(len(series)), N_SHIFTS):
        s = series[idx]
        s["shift_day"] = rng.randint(35, 150)
        s["shift_pct"] = rng.randint(30, 80) * rng.choice([-1, 1])

    # Spikes.
    placed = 0
    while placed < N_SPIKES:
        idx = rng.randrange(len(series))
        s = series[idx]
        if len(s["spikes"]) >= MAX_SPIKES_PER_SERIES:
            continue
        length = rng.randint(1, 5)
        start = rng.randint(SPIKE_MIN_START, N_DAYS - length)
        end = start + length - 1
        pct = int(round(math.exp(rng.uniform(math.log(25), math.log(400)))))
        ok = all(end + SPIKE_GAP < a or start - SPIKE_GAP > b for a, b, _ in s["spikes"])
        if ok and s["shift_day"] is not None:
            lo, hi = s["shift_day"] - SHIFT_GUARD_BEFORE, s["shift_day"] + SHIFT_GUARD_AFTER
            if not (end < lo or start > hi):
                ok = False
        if not ok:
            continue
        s["spikes"].append((start, end, pct))
        placed += 1

    # Daily usage rows.
    rows = []
    team_month_usage = {}
    for s in series:
        t = s["team"]
        tags = json.dumps({"team": t["team"]})
        spike_pct = {}
        for a, b, p in s["spikes"]:
            for d in range(a, b + 1):
                spike_pct[d] = p
        wsum = sum(s["weights"])
        for d, day in enumerate(days):
            wd = day.weekday()
            wf = s["sat"] if wd == 5 else s["sun"] if wd == 6 else 1.0
            tf = (1.0 + s["trend"]) ** (d / 30.4375)
            sf = 1.0
            if s["shift_day"] is not None and d >= s["shift_day"]:
                sf = 1.0 + s["shift_pct"] / 100.0
            noise = max(0.5, 1.0 + rng.gauss(0.0, s["sigma"]))
            cost = s["base"] * tf * wf * sf * noise
            if d in spike_pct:
                cost *= 1.0 + spike_pct[d] / 100.0
            total = Decimal(repr(cost)).quantize(Q6)
            # Split over resources; last resource takes the remainder.
            jw = [w * rng.uniform(0.9, 1.1) for w in s["weights"]]
            js = sum(jw)
            parts = []
            acc = Decimal(0)
            for w in jw[:-1]:
                part = Decimal(repr(cost * w / js)).quantize(Q6)
                parts.append(part)
                acc += part
            parts.append(total - acc)
            mkey = (t["team"], day.month)
            team_month_usage[mkey] = team_month_usage.get(mkey, 0.0) + float(total)
            for res, part in zip(s["resources"], parts):
                if part < 0:
                    part = Decimal("0.000000")
                billed = format(part, "f")
                lst = dec(float(part) * (1.0 + s["discount"])) if s["discount"] else billed
                rows.append([
                    billed, billed, lst, "USD", t["account"][0], t["account"][1],
                    ts(month_start(day)), ts(next_month(day)),
                    ts(day), ts(day + datetime.timedelta(days=1)),
                    "Usage", "", "AWS", s["service"], s["category"], t["sub"],
                    s["region"], res, tags,
                ])
        for a, b, p in sorted(s["spikes"]):
            labels.append(["spike", t["team"], s["service"], days[a].isoformat(),
                           days[b].isoformat(), str(p)])
        if s["shift_day"] is not None:
            labels.append(["level_shift", t["team"], s["service"],
                           days[s["shift_day"]].isoformat(), "", str(s["shift_pct"])])

    # Monthly support fee and tax per team (normal, unlabelled).
    months = sorted({month_start(day) for day in days})
    for t in teams:
        tags = json.dumps({"team": t["team"]})
        fee = t["support_fee"]
        for mi, m in enumerate(months):
            if mi > 0:
                fee *= rng.uniform(0.98, 1.03)
            tax = t["tax_rate"] * team_month_usage[(t["team"], m.month)]
            common = [t["account"][0], t["account"][1], ts(m), ts(next_month(m)),
                      ts(m), ts(next_month(m))]
            f = dec(fee)
            rows.append([f, f, f, "USD"] + common + [
                "Purchase", "", "AWS", "AWSSupportBusiness", "Management and Governance",
                t["sub"], "", f"support-{t['team']}", tags])
            x = dec(tax)
            rows.append([x, x, x, "USD"] + common + [
                "Tax", "", "AWS", "AWSTax", "Other", t["sub"], "", "", tags])

    labels.sort(key=lambda r: (r[3], r[1], r[2], r[0]))
    return rows, labels


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rows, labels = generate(args.seed)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "billing.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    with open(os.path.join(args.out, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "team", "service", "first_day", "last_day", "percent"])
        w.writerows(labels)
    n_spk = sum(1 for r in labels if r[0] == "spike")
    n_sh = sum(1 for r in labels if r[0] == "level_shift")
    print(f"issue_spec seed={args.seed}: wrote {len(rows)} billing rows "
          f"({len(TEAMS) * 3} series x {N_DAYS} days + monthly charges), "
          f"{n_spk} spikes, {n_sh} level shifts -> {args.out}")


if __name__ == "__main__":
    main()
