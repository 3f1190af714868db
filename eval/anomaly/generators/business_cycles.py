#!/usr/bin/env python3
"""business_cycles.py -- labelled FOCUS 1.0 test data modelling how engineering
organisations really spend: weekly business cycles, non-linear growth, launches,
retirements, sparse services and monthly/annual charges, with a small number of
injected (labelled) anomalies.

Usage:  python3 business_cycles.py --seed N --out DIR
Writes DIR/billing.csv (FOCUS 1.0 cost-and-usage rows) and DIR/labels.csv.
Deterministic for a seed: every random draw comes from one random.Random(seed).
Standard library only.

Time span
---------
150 daily usage days, 2026-02-01 .. 2026-06-30 (5 calendar months).

Organisation
------------
* 5-10 teams (uniform) drawn from a fixed pool of 12 names; each team owns 3-6
  distinct services (uniform) drawn from a catalogue of 18 AWS ServiceNames
  (AmazonEC2, AmazonRDS, AmazonS3, AWSLambda, AWSCodeBuild, ...).  If fewer
  than 3 "sparse candidates" (AWSLambda, AmazonSQS, AmazonSNS, AmazonAthena,
  AWSGlue) exist, AWSLambda is added to teams that have room (< 6 services).
* A series is one (team, ServiceName).  Each team has its own SubAccountId
  (12 digits); teams are spread over two billing accounts (12-digit ids,
  "Northwind Production" / "Northwind R&D"), each account has >= 1 team.
* Each series is billed through 1-3 resources (1-4 for AmazonEC2) in one
  region.  Resource shares are fixed weights U(0.2,1) multiplied each day by
  U(0.9,1.1) and renormalised, so only the series total is meaningful.

Daily cost model (per series, day d, t = days since the series' first day)
-----------------------------------------------------------------------
    expected(d) = (F + V * W[weekday(d)] * G(t) * A(t)) * S(d)
    cost(d)     = max(0, expected(d) + A(t) * N(0, sd)) + spike_extra(d)
* base B = weekday noise-free level at t=0, log-uniform per service size class:
  large (EC2, RDS, EKS, Redshift, SageMaker, ElastiCache) 60-3000 USD/day,
  medium (S3, DynamoDB, CloudFront, Kinesis, CloudWatch, VPC, CodeBuild, Glue)
  20-800, small (Lambda, SQS, SNS, Athena) 8-200.
* F = baseline floor that never scales (not with weekday, growth or launch):
  S3 40-80% of B, weekday-only services 1-4%, others 3-20%.  V = B - F.
* Weekly profile W (chosen per series with service-specific weights):
  - "weekday"  (CI runners, dev environments, notebooks): Mon-Fri U(0.95,1.05),
    Sat = w ~ U(0.05,0.20), Sun = w*U(0.85,1.0)  -> weekend total ~6-23%;
  - "business" (business-hours services): Mon-Fri U(0.93,1.07),
    Sat = w ~ U(0.35,0.70), Sun = w*U(0.85,1.0);
  - "24x7": W = 1 every day (no weekly cycle).
* Growth G(t) (applies to V only):
  - 1-2 "new product" series: exponential, G = (1+g)^(t/30), g ~ U(5%,15%)/month;
  - 1 "being retired" series: exponential decline, G = (1-r)^(t/30),
    r ~ U(4%,10%)/month;
  - all other series: slow drift (1+g)^(t/30), g ~ U(-1%,+2%)/month.
* Noise: ADDITIVE Gaussian, constant sd per series (does not scale with the
  level): sd = B*U(1.5%,4%) for weekday-only series, B*U(2%,8%) otherwise;
  the sum is clipped at 0.
* New services: 1-2 series (non-sparse) start mid-way, first day uniform in
  day 35..100; no rows before it.  A(t) ramps linearly from ~10% to 100% over
  the first 7-14 days (launch ramp, also scales the noise); half of them also
  get exponential growth of 5-15%/month.  Launches are NOT labelled.
* Sparse services: 1-3 small series (sparse candidates) with B ~ U(1,6)
  USD/day; each day is a zero day with probability U(0.15,0.40) (per series);
  on other days cost = max(0.01, B*W + N(0, 0.3B)) (no floor; a sparse series
  drawn with the weekday profile becomes business with Sat = Sun = U(0.35,0.7)).
  For half (p=0.5 each) of the sparse
  series zero days have no rows at all, for the other half a 0.000000 row.
  Sparse series never receive injected events.
* ListCost = BilledCost = EffectiveCost, except for half of the EC2 / RDS /
  ElastiCache / Redshift / EKS series, where ListCost = cost/(1-disc),
  disc ~ U(5%,25%).

Monthly and annual charges (normal, never labelled)
---------------------------------------------------
* Support: one row per billing account per month, ServiceName
  "AWS Support (Business)", ChargeCategory Purchase, cost = AWS Business tiers
  (10% of the first 10k of the month's usage, 7% to 80k, 5% to 250k, 3% above,
  minimum 100 USD), tagged with the account's first team.
* Tax: one row per team per month, ServiceName "Tax", ChargeCategory Tax,
  rate per billing account U(5%,9%) of the team's monthly usage.
* Both: ChargePeriodStart = first of month 00:00, ChargePeriodEnd = first of
  next month 00:00.
* Annual upfront purchase: one team buys a 1-year reservation on one day
  (uniform day 20..130) under the ServiceName of its largest reservable series
  (EC2/RDS/ElastiCache/Redshift/EKS/SageMaker, else its largest series);
  amount = 365*B*U(0.25,0.5); ChargeCategory Purchase, ChargePeriodStart =
  day 00:00, ChargePeriodEnd = same day one year later, BillingPeriod = month
  of purchase.  The usage series is not reduced by it.

Injected, labelled events (only non-sparse series)
--------------------------------------------------
* Level shifts: 2-3 abrupt shifts on distinct series not launched mid-way;
  S(d) = 1+s from the shift day on, |s| ~ U(30%,70%), sign +/- with equal
  probability; shift day uniform in [series start+35, last day-21]; series with
  B >= 30 preferred (smaller only if fewer than 4 such series exist).  S multiplies the whole noise-free expected cost (floor
  included), so the label percent is exact w.r.t. the noise-free level.
  Label: kind=level_shift, first_day = first day at the new level, last_day
  empty, percent = 100*s.
* One gradual ramp per dataset on another such series: over L ~ U{7..14} days
  S rises (or falls) linearly, S = 1 + s*k/L on the k-th ramp day (k=1..L), and
  stays at 1+s afterwards; s as for shifts but positive with p=0.7.  It is
  labelled as a level_shift whose first_day is the day the ramp ENDS (the first
  day at the full new level, k = L), percent = 100*s.
* So labels.csv holds 3-4 level_shift rows (2-3 abrupt + 1 ramp).
* Spikes: 20-30 (uniform target; placement is retried until met).  Each adds
  extra(d) = p * expected(d) on 1-5 consecutive days (duration weights
  30/25/20/15/10 %), p log-uniform in [0.25, 3.0] (+25% .. +300%), rounded to
  0.1 percentage points.  The extra cost goes either to an existing resource of
  the series or to a new temporary resource (50/50).  Constraints:
  - first spike day >= series start + 28;
  - weekday-only series: spikes start Mon-Fri;
  - on every spike day extra(d) >= 5 USD;
  - no spike day in [shift day-3, shift day+10] or [ramp start-3, ramp end+10]
    on the same series, nor within 1 day of that series' annual purchase;
  - spikes on the same series are at least 3 clear days apart (never overlap);
  - at most 3 spikes per series.
  Label: kind=spike, first_day..last_day inclusive, percent = 100*p, i.e. the
  extra cost per day as a percentage of what that day would have cost without
  the spike (its noise-free expected cost; the realised ratio differs from it
  only by the additive noise of that day).

Output
------
billing.csv: FOCUS 1.0 columns BilledCost,EffectiveCost,ListCost,
BillingCurrency,BillingAccountId,BillingAccountName,BillingPeriodStart,
BillingPeriodEnd,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,ChargeClass,
ProviderName,ServiceName,ServiceCategory,SubAccountId,RegionId,ResourceId,Tags.
Amounts are plain decimals (<= 6 places), Tags = {"team": "<team>"}.
labels.csv: kind,team,service,first_day,last_day,percent (dates YYYY-MM-DD).
One summary line is printed to stdout.
"""

import argparse
import csv
import json
import math
import os
import random
from datetime import date, timedelta
from decimal import Decimal, ROUND_HALF_EVEN

START = date(2026, 2, 1)
END = date(2026, 7, 1)          # exclusive
N_DAYS = (END - START).days     # 150
Q6 = Decimal("0.000001")

TEAM_POOL = [
    "data-platform", "payments", "search", "identity", "checkout",
    "ml-research", "mobile-backend", "platform-infra", "observability",
    "growth", "notifications", "analytics",
]

# name: (ServiceCategory, arn prefix, resource type, size class,
#        profile weights (weekday, business, 24x7), sparse candidate, reservable)
CATALOG = {
    "AmazonEC2":         ("Compute", "ec2", "instance", "large", (0.35, 0.25, 0.40), False, True),
    "AmazonRDS":         ("Databases", "rds", "db", "large", (0.0, 0.2, 0.8), False, True),
    "AmazonS3":          ("Storage", "s3", "bucket", "medium", (0.0, 0.1, 0.9), False, False),
    "AWSLambda":         ("Compute", "lambda", "function", "small", (0.0, 0.5, 0.5), True, False),
    "AmazonEKS":         ("Compute", "eks", "cluster", "large", (0.2, 0.3, 0.5), False, True),
    "AmazonDynamoDB":    ("Databases", "dynamodb", "table", "medium", (0.0, 0.3, 0.7), False, False),
    "AmazonCloudWatch":  ("Management and Governance", "logs", "log-group", "medium", (0.0, 0.4, 0.6), False, False),
    "AmazonElastiCache": ("Databases", "elasticache", "cluster", "large", (0.0, 0.0, 1.0), False, True),
    "AmazonRedshift":    ("Analytics", "redshift", "cluster", "large", (0.0, 0.6, 0.4), False, True),
    "AmazonSageMaker":   ("AI and Machine Learning", "sagemaker", "notebook-instance", "large", (0.6, 0.4, 0.0), False, True),
    "AWSCodeBuild":      ("Developer Tools", "codebuild", "project", "medium", (1.0, 0.0, 0.0), False, False),
    "AWSGlue":           ("Analytics", "glue", "job", "medium", (0.4, 0.6, 0.0), True, False),
    "AmazonAthena":      ("Analytics", "athena", "workgroup", "small", (0.3, 0.7, 0.0), True, False),
    "AmazonKinesis":     ("Analytics", "kinesis", "stream", "medium", (0.0, 0.0, 1.0), False, False),
    "AmazonCloudFront":  ("Networking", "cloudfront", "distribution", "medium", (0.0, 0.0, 1.0), False, False),
    "AmazonVPC":         ("Networking", "ec2", "natgateway", "medium", (0.0, 0.3, 0.7), False, False),
    "AmazonSQS":         ("Integration", "sqs", "queue", "small", (0.0, 0.5, 0.5), True, False),
    "AmazonSNS":         ("Integration", "sns", "topic", "small", (0.0, 0.5, 0.5), True, False),
}
SERVICE_NAMES = list(CATALOG.keys())
SIZE_RANGE = {"large": (60.0, 3000.0), "medium": (20.0, 800.0), "small": (8.0, 200.0)}
DISCOUNTABLE = {"AmazonEC2", "AmazonRDS", "AmazonElastiCache", "AmazonRedshift", "AmazonEKS"}
REGIONS = ["us-east-1", "us-east-1", "us-west-2", "eu-west-1", "eu-central-1"]
PROFILES = ["weekday", "business", "24x7"]

HEADER = [
    "BilledCost", "EffectiveCost", "ListCost", "BillingCurrency", "BillingAccountId",
    "BillingAccountName", "BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart",
    "ChargePeriodEnd", "ChargeCategory", "ChargeClass", "ProviderName", "ServiceName",
    "ServiceCategory", "SubAccountId", "RegionId", "ResourceId", "Tags",
]


def day(i):
    return START + timedelta(days=i)


def ts(d):
    return d.isoformat() + "T00:00:00Z"


def month_start(d):
    return date(d.year, d.month, 1)


def next_month(d):
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def q(x):
    """Quantize to 6 decimal places (Decimal, never negative zero)."""
    v = Decimal(x).quantize(Q6, rounding=ROUND_HALF_EVEN) if not isinstance(x, Decimal) \
        else x.quantize(Q6, rounding=ROUND_HALF_EVEN)
    if v == 0:
        v = Decimal("0").quantize(Q6)
    return v


def fmt(v):
    s = format(v.normalize(), "f")
    return "0" if s in ("-0", "") else s


def loguniform(rng, lo, hi):
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def digits12(rng):
    return str(rng.randrange(10**11, 10**12))


def hexid(rng, n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


class Series:
    pass


def build_series(rng, team, svc, sub_acct):
    cat, prefix, rtype, size, weights, sparse_cand, reservable = CATALOG[svc]
    s = Series()
    s.team, s.service, s.category, s.sub_acct = team, svc, cat, sub_acct
    s.prefix, s.rtype, s.size = prefix, rtype, size
    s.sparse_cand, s.reservable = sparse_cand, reservable
    s.sparse = False
    s.start = 0
    s.launch_len = 0
    s.profile = rng.choices(PROFILES, weights=weights)[0]
    lo, hi = SIZE_RANGE[size]
    s.base = loguniform(rng, lo, hi)
    if svc == "AmazonS3":
        f = rng.uniform(0.40, 0.80)
    elif s.profile == "weekday":
        f = rng.uniform(0.01, 0.04)
    else:
        f = rng.uniform(0.03, 0.20)
    s.floor_frac = f
    if s.profile == "weekday":
        w = rng.uniform(0.05, 0.20)
        wk = [rng.uniform(0.95, 1.05) for _ in range(5)]
        s.weekly = wk + [w, w * rng.uniform(0.85, 1.0)]
        s.sd_frac = rng.uniform(0.015, 0.04)
    elif s.profile == "business":
        w = rng.uniform(0.35, 0.70)
        wk = [rng.uniform(0.93, 1.07) for _ in range(5)]
        s.weekly = wk + [w, w * rng.uniform(0.85, 1.0)]
        s.sd_frac = rng.uniform(0.02, 0.08)
    else:
        s.weekly = [1.0] * 7
        s.sd_frac = rng.uniform(0.02, 0.08)
    s.growth_kind = "drift"
    s.growth_rate = rng.uniform(-0.01, 0.02)
    s.region = rng.choice(REGIONS)
    s.discount = rng.uniform(0.05, 0.25) if (svc in DISCOUNTABLE and rng.random() < 0.5) else 0.0
    nres = rng.randint(1, 4 if svc == "AmazonEC2" else 3)
    s.resources = [resource_id(rng, s) for _ in range(nres)]
    s.res_w = [rng.uniform(0.2, 1.0) for _ in range(nres)]
    s.shift = None      # (day, s)
    s.ramp = None       # (start_day, end_day, s)
    s.spikes = []       # dicts
    s.purchase_day = None
    return s


def resource_id(rng, s, tmp=False):
    name = f"{s.team}-{'tmp-' if tmp else ''}{hexid(rng, 6)}"
    if s.service == "AmazonEC2" or s.rtype == "natgateway":
        pre = "i-" if s.rtype == "instance" else "nat-"
        return f"arn:aws:ec2:{s.region}:{s.sub_acct}:{s.rtype}/{pre}{hexid(rng, 17)}"
    if s.service == "AmazonS3":
        return f"arn:aws:s3:::{name}"
    return f"arn:aws:{s.prefix}:{s.region}:{s.sub_acct}:{s.rtype}/{name}"


def finalize_levels(s):
    s.F = s.base * s.floor_frac
    s.V = s.base - s.F
    s.sd = s.base * s.sd_frac


def expected(s, i):
    """Noise-free expected cost of series s on day index i (None if inactive)."""
    if i < s.start:
        return None
    t = i - s.start
    if s.growth_kind == "exp":
        g = (1 + s.growth_rate) ** (t / 30.0)
    elif s.growth_kind == "decline":
        g = (1 - s.growth_rate) ** (t / 30.0)
    else:
        g = (1 + s.growth_rate) ** (t / 30.0)
    a = launch_frac(s, i)
    e = s.F + s.V * s.weekly[day(i).weekday()] * g * a
    return e * shift_factor(s, i)


def launch_frac(s, i):
    if s.launch_len <= 0:
        return 1.0
    k = i - s.start + 1
    if k >= s.launch_len:
        return 1.0
    return 0.1 + 0.9 * (k - 1) / (s.launch_len - 1)


def shift_factor(s, i):
    f = 1.0
    if s.shift is not None and i >= s.shift[0]:
        f *= 1 + s.shift[1]
    if s.ramp is not None:
        rs, re_, r = s.ramp
        if i >= re_:
            f *= 1 + r
        elif i >= rs:
            L = re_ - rs + 1
            f *= 1 + r * (i - rs + 1) / L
    return f


def generate(seed):
    rng = random.Random(seed)

    # ---------------- organisation ----------------
    n_teams = rng.randint(5, 10)
    teams = rng.sample(TEAM_POOL, n_teams)
    accounts = [
        {"id": digits12(rng), "name": "Northwind Production", "tax": rng.uniform(0.05, 0.09)},
        {"id": digits12(rng), "name": "Northwind R&D", "tax": rng.uniform(0.05, 0.09)},
    ]
    team_acct = {}
    team_sub = {}
    team_svcs = {}
    for k, t in enumerate(teams):
        team_acct[t] = k if k < 2 else rng.randint(0, 1)
        team_sub[t] = digits12(rng)
        team_svcs[t] = rng.sample(SERVICE_NAMES, rng.randint(3, 6))
    n_sparse = rng.randint(1, 3)
    n_cand = sum(CATALOG[v][5] for t in teams for v in team_svcs[t])
    for t in teams:
        if n_cand >= n_sparse:
            break
        if "AWSLambda" not in team_svcs[t] and len(team_svcs[t]) < 6:
            team_svcs[t].append("AWSLambda")
            n_cand += 1

    series = []
    for t in teams:
        for v in team_svcs[t]:
            series.append(build_series(rng, t, v, team_sub[t]))

    # ---------------- roles ----------------
    cands = [s for s in series if s.sparse_cand]
    for s in rng.sample(cands, min(n_sparse, len(cands))):
        s.sparse = True
        s.base = rng.uniform(1.0, 6.0)
        s.floor_frac = 0.0
        s.zero_p = rng.uniform(0.15, 0.40)
        s.zero_rows = rng.random() < 0.5
        if s.profile == "weekday":
            s.profile = "business"
            w = rng.uniform(0.35, 0.7)
            s.weekly = [1.0] * 5 + [w, w]
        s.resources = s.resources[:1]
        s.res_w = [1.0]
        s.discount = 0.0
    normal = [s for s in series if not s.sparse]

    pool = normal[:]
    rng.shuffle(pool)
    n_new = rng.randint(1, 2)
    new_svcs = pool[:n_new]
    for s in new_svcs:
        s.start = rng.randint(35, 100)
        s.launch_len = rng.randint(7, 14)
        if rng.random() < 0.5:
            s.growth_kind = "exp"
            s.growth_rate = rng.uniform(0.05, 0.15)
    rest = pool[n_new:]
    n_exp = rng.randint(1, 2)
    for s in rest[:n_exp]:
        s.growth_kind = "exp"
        s.growth_rate = rng.uniform(0.05, 0.15)
    rest[n_exp].growth_kind = "decline"
    rest[n_exp].growth_rate = rng.uniform(0.04, 0.10)
    for s in series:
        finalize_levels(s)

    labels = []

    # ---------------- level shifts and the ramp ----------------
    big = [s for s in normal if s.launch_len == 0 and s.base >= 30]
    small = [s for s in normal if s.launch_len == 0 and s.base < 30]
    rng.shuffle(big)
    rng.shuffle(small)
    shift_cands = big + small   # B >= 30 preferred; smaller only as a fallback
    n_shift = rng.randint(2, 3)
    for s in shift_cands[:n_shift]:
        d = rng.randint(s.start + 35, N_DAYS - 21)
        mag = rng.uniform(0.30, 0.70) * (1 if rng.random() < 0.5 else -1)
        mag = round(mag, 3)
        s.shift = (d, mag)
        labels.append(("level_shift", s.team, s.service, day(d).isoformat(), "", f"{mag * 100:.1f}"))
    rs_ser = shift_cands[n_shift]
    L = rng.randint(7, 14)
    r0 = rng.randint(rs_ser.start + 35, N_DAYS - 21 - L)
    mag = round(rng.uniform(0.30, 0.70) * (1 if rng.random() < 0.7 else -1), 3)
    rs_ser.ramp = (r0, r0 + L - 1, mag)
    labels.append(("level_shift", rs_ser.team, rs_ser.service,
                   day(r0 + L - 1).isoformat(), "", f"{mag * 100:.1f}"))

    # ---------------- annual purchase ----------------
    p_team = rng.choice(teams)
    tser = [s for s in normal if s.team == p_team]
    res_ser = [s for s in tser if s.reservable]
    p_ser = max(res_ser or tser, key=lambda s: s.base)
    p_day = rng.randint(20, 130)
    p_ser.purchase_day = p_day
    p_amount = 365 * p_ser.base * rng.uniform(0.25, 0.50)

    # ---------------- noise (drawn before spikes) ----------------
    for s in series:
        s.noise = {}
        for i in range(s.start, N_DAYS):
            s.noise[i] = rng.gauss(0.0, 1.0)
        if s.sparse:
            s.zero = {i: rng.random() < s.zero_p for i in range(s.start, N_DAYS)}

    # ---------------- spikes ----------------
    n_spikes = rng.randint(20, 30)
    placed = 0
    attempts = 0
    while placed < n_spikes and attempts < 200000:
        attempts += 1
        s = rng.choice(normal)
        if len(s.spikes) >= 3:
            continue
        dur = rng.choices([1, 2, 3, 4, 5], weights=[30, 25, 20, 15, 10])[0]
        lo = s.start + 28
        hi = N_DAYS - dur
        if hi < lo:
            continue
        a = rng.randint(lo, hi)
        b = a + dur - 1
        if s.profile == "weekday" and day(a).weekday() >= 5:
            continue
        bad = []
        if s.shift:
            bad.append((s.shift[0] - 3, s.shift[0] + 10))
        if s.ramp:
            bad.append((s.ramp[0] - 3, s.ramp[1] + 10))
        if s.purchase_day is not None:
            bad.append((s.purchase_day - 1, s.purchase_day + 1))
        for sp in s.spikes:
            bad.append((sp["a"] - 4, sp["b"] + 4))  # >= 3 clear days between
        if any(a <= y and b >= x for x, y in bad):
            continue
        p = round(loguniform(rng, 0.25, 3.0), 3)
        if min(p * expected(s, i) for i in range(a, b + 1)) < 5.0:
            continue
        tmp = rng.random() < 0.5
        rid = resource_id(rng, s, tmp=True) if tmp else rng.choice(s.resources)
        s.spikes.append({"a": a, "b": b, "p": p, "rid": rid})
        labels.append(("spike", s.team, s.service, day(a).isoformat(),
                       day(b).isoformat(), f"{p * 100:.1f}"))
        placed += 1

    # ---------------- rows ----------------
    rows = []
    usage_team_month = {}
    usage_acct_month = {}
    truth = {}   # (team, service, day_idx) -> (counterfactual, extra)

    def add_row(cost, list_cost, acct, cps, cpe, bp, cat, svc_name, svc_cat, sub, region, rid, team):
        rows.append([fmt(cost), fmt(cost), fmt(list_cost), "USD", acct["id"], acct["name"],
                     ts(bp), ts(next_month(bp)), ts(cps), ts(cpe), cat, "", "AWS",
                     svc_name, svc_cat, sub, region, rid, json.dumps({"team": team})])

    for i in range(N_DAYS):
        d = day(i)
        mkey = (d.year, d.month)
        for s in series:
            if i < s.start:
                continue
            acct = accounts[team_acct[s.team]]
            parts = []   # (rid, amount float)
            if s.sparse:
                if s.zero[i]:
                    total = 0.0
                    if s.zero_rows:
                        parts.append((s.resources[0], 0.0))
                else:
                    total = max(0.01, s.base * s.weekly[d.weekday()] + 0.3 * s.base * s.noise[i])
                    parts.append((s.resources[0], total))
                truth[(s.team, s.service, i)] = (total, 0.0, total)
            else:
                e = expected(s, i)
                cf = max(0.0, e + launch_frac(s, i) * s.sd * s.noise[i])
                w = [x * rng.uniform(0.9, 1.1) for x in s.res_w]
                sw = sum(w)
                for rid, x in zip(s.resources, w):
                    parts.append((rid, cf * x / sw))
                extra = 0.0
                for sp in s.spikes:
                    if sp["a"] <= i <= sp["b"]:
                        extra = sp["p"] * e
                        ids = [rid for rid, _ in parts]
                        if sp["rid"] in ids:
                            k = ids.index(sp["rid"])
                            parts[k] = (sp["rid"], parts[k][1] + extra)
                        else:
                            parts.append((sp["rid"], extra))
                truth[(s.team, s.service, i)] = (cf, extra, e)
            # round, keep the series total exact to 6 places
            target = q(sum(x for _, x in parts)) if parts else Decimal(0)
            amounts = [q(x) for _, x in parts]
            if amounts:
                diff = target - sum(amounts)
                j = max(range(len(amounts)), key=lambda k: amounts[k])
                amounts[j] = max(Decimal(0).quantize(Q6), amounts[j] + diff)
            for (rid, _), amt in zip(parts, amounts):
                lc = q(Decimal(amt) / Decimal(str(1 - s.discount))) if s.discount else amt
                add_row(amt, lc, acct, d, d + timedelta(days=1), month_start(d), "Usage",
                        s.service, s.category, s.sub_acct, s.region, rid, s.team)
                usage_team_month[(s.team, mkey)] = usage_team_month.get((s.team, mkey), Decimal(0)) + amt
                usage_acct_month[(team_acct[s.team], mkey)] = \
                    usage_acct_month.get((team_acct[s.team], mkey), Decimal(0)) + amt

    # monthly support (per billing account) and tax (per team)
    m = START
    while m < END:
        mkey = (m.year, m.month)
        for ai, acct in enumerate(accounts):
            owner = next(t for t in teams if team_acct[t] == ai)
            u = float(usage_acct_month.get((ai, mkey), 0))
            fee = 0.0
            for lo, hi, rate in ((0, 10000, .10), (10000, 80000, .07), (80000, 250000, .05), (250000, 1e18, .03)):
                if u > lo:
                    fee += (min(u, hi) - lo) * rate
            fee = q(max(100.0, fee))
            add_row(fee, fee, acct, m, next_month(m), m, "Purchase", "AWS Support (Business)",
                    "Management and Governance", team_sub[owner], "", "", owner)
        for t in teams:
            acct = accounts[team_acct[t]]
            u = usage_team_month.get((t, mkey), Decimal(0))
            tax = q(u * Decimal(str(round(acct["tax"], 4))))
            add_row(tax, tax, acct, m, next_month(m), m, "Tax", "Tax", "Other",
                    team_sub[t], "", "", t)
        m = next_month(m)

    # annual upfront purchase
    pd_ = day(p_day)
    amt = q(round(p_amount, 2))
    add_row(amt, amt, accounts[team_acct[p_team]], pd_, date(pd_.year + 1, pd_.month, pd_.day),
            month_start(pd_), "Purchase", p_ser.service, p_ser.category, p_ser.sub_acct,
            p_ser.region, f"arn:aws:{p_ser.prefix}:{p_ser.region}:{p_ser.sub_acct}:reserved/ri-{hexid(rng, 12)}",
            p_team)

    rows.sort(key=lambda r: r[8])   # stable: by ChargePeriodStart
    labels.sort(key=lambda r: (r[3], r[1], r[2], r[0]))
    n_shifts = sum(1 for l in labels if l[0] == "level_shift")
    return {"rows": rows, "labels": labels, "series": series, "truth": truth,
            "n_spikes": placed, "n_shifts": n_shifts, "teams": teams}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    g = generate(args.seed)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "billing.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(g["rows"])
    with open(os.path.join(args.out, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["kind", "team", "service", "first_day", "last_day", "percent"])
        w.writerows(g["labels"])
    print(f"business_cycles seed={args.seed}: rows={len(g['rows'])} teams={len(g['teams'])} "
          f"series={len(g['series'])} spikes={g['n_spikes']} level_shifts={g['n_shifts']} "
          f"(incl. 1 ramp) -> {args.out}")


if __name__ == "__main__":
    main()
