#!/usr/bin/env python3
"""heavy_tails.py - labelled test data for a cloud-cost anomaly detector:
cost series whose everyday noise is HEAVY-TAILED, not Gaussian.

Usage:  python3 heavy_tails.py --seed N --out DIR
Writes DIR/billing.csv (FOCUS 1.0 cost-and-usage rows) and DIR/labels.csv
(one row per injected event).  Standard library only; the output depends
only on the seed (everything is drawn from one random.Random(seed)).

What is generated
=================
Calendar
  * Data start 2026-01-01 and cover M whole months, M ~ U{4..7}.
  * Day index 0 = 2026-01-01.

Accounts, teams, series
  * 1-3 billing accounts (12-digit ids).  Account 1 is AWS; each further
    account is Microsoft with probability 0.5, else AWS.
  * 6-12 teams ("team-a", "team-b", ...), each owned by one account, with
    its own SubAccountId (12-digit for AWS, a GUID for Microsoft).
  * Each team has 2-5 services (ServiceName from the provider's catalogue,
    e.g. AmazonEC2, AmazonS3, Virtual Machines, Storage).  A series is
    (team, ServiceName).  Each series is billed on 1-3 resources
    (ResourceId) with fixed shares; the series total is what is described
    below, the split is only cosmetic.
  * Size of an ordinary series: base level (USD/day) drawn log-uniformly
    from one class: large 300-4000 (p=0.25), medium 30-300 (p=0.40),
    small 1-30 (p=0.35).

Ordinary (non-batch) series, cost on day t:
      cost_t = base * exp(L_t) * W_team,svc(weekday_t) * C_team(t) * S_t * N_t
  * Trend L_t: random walk with drift, L_0 = 0,
        L_t = L_{t-1} + d + e_t,  d ~ U(-0.0012, 0.0025) per day,
        e_t ~ Normal(0, sigma_tr), sigma_tr ~ U(0.001, 0.005)
    (i.e. slow trends of roughly -20%..+60% over the period, with noise in
    the trend itself).
  * Weekly pattern W, chosen per TEAM among
        flat;  business (Sat/Sun lower by a ~ U(0.15, 0.40));
        midweek (cosine bump peaking Tue, Wed or Thu, amplitude U(0.08, 0.25));
        weekend-heavy (Sat/Sun higher by U(0.10, 0.30));
        monday-batch (Monday higher by U(0.15, 0.35)),
    normalised to mean 1 over the week.  Each service applies it with its
    own strength f: storage-like services f ~ U(0.05, 0.3), others
    f ~ U(0.6, 1.2); W_svc = 1 + f * (W_team - 1).
  * Calendar pattern C, per team: none (p=0.55); month-end peak (p=0.30):
    the last 2-3 days of each month x(1 + U(0.08, 0.20)); month-start peak
    (p=0.15): the first 2 days of each month x(1 + U(0.08, 0.20)).  Storage-
    like services do not follow it.
  * Noise N_t = exp(clip(s * X_t, -0.30, +0.30)) with X_t i.i.d. and of unit
    variance, per series either
        Student-t with df ~ U{3,4,5}, rescaled by sqrt((df-2)/df)  (p=0.65)
        Laplace with scale 1/sqrt(2)                              (p=0.35)
    and spread s ~ U(0.02, 0.08) (small series: s ~ U(0.04, 0.08)).
    So s is the standard deviation of the log-noise (2-8 % typical spread);
    roughly 1-2 % of ordinary days sit 15-25 % off, occasionally up to the
    clip at about -26 % / +35 %.  None of this is labelled.
  * S_t: the level-shift factor (1 before any shift, 1 + p from the shift on).

Spiky-by-nature (batch) series: 2-5 in total (one extra batch service for a
team with probability 0.4, at least 2 overall), from batch-type services
(AWSGlue, AmazonEMR, AmazonSageMaker, Azure Data Factory, ...).  Each day the
job runs with probability q ~ U(0.15, 0.5); a run day costs
level * exp(Normal(0, 0.3)) with level ~ U(1.5, 8) USD, a non-run day costs
residual * exp(Normal(0, 0.1)) with residual ~ U(0.02, 0.3) USD.  So they
jump by several hundred percent but by only a few dollars; normal, never
labelled, and never used for injected events.

Hourly charging: in 1 or 2 (distinct) months, one team (chosen per month)
is billed hourly: every row of that team is split into 24 rows, one per hour
(ChargePeriodStart/End one hour apart), whose amounts sum to the day's
amount.  Hour weights: compute/traffic/db services 1 + a*cos(2*pi*(h-p)/24),
a ~ U(0.1, 0.5), p ~ U{12..17}, times exp(Normal(0, 0.03)); storage/flat
services ~flat with exp(Normal(0, 0.01)); batch run days put the whole cost
in a 2-6 hour window (the other hours get 0.000000 rows).  The daily
totals are unchanged by the split.

Monthly charges (normal, never labelled), charge period = the whole month:
  * per account one support fee, ChargeCategory Purchase, ServiceName
    "AWS Support (Business)" = max(100, 10% of the first 10k of the month's
    usage + 7% of the rest), or "Support" (Microsoft) = 100 or 1000 flat;
    Tags {"team": "shared"}.
  * per series one tax line, ChargeCategory Tax, same ServiceName and team,
    = rate * the series' usage of that month, rate ~ U(0.04, 0.10) per account.

Injected, labelled events (only on ordinary series):
  * 2-4 level shifts on distinct series with base level >= 30 USD/day:
    day ~ U{35 .. n_days-21}; p = +U(0.25, 1.00) (prob 0.6) or -U(0.25, 0.60);
    all of the series' cost from that day on is multiplied by 1 + p.
    Label: level_shift, first_day = first day at the new level, percent = 100p.
  * 20-30 spikes: duration ~ U{1..6} days, start day index >= 28; the start
    is a uniformly drawn weekend day with prob 0.12 (or when needed to reach
    at least 3 weekend starts), else any day, so typically 30-45 % of spikes
    start on a Saturday or Sunday; percent P drawn
    as: with prob 0.5 U(Pmin, 100), else log-uniform(100, 500), where
    Pmin = max(30, 600 * s) (a spike is at least ~6 noise sd's high).
    On a spike day cost = counterfactual * (1 + P/100), the counterfactual
    being that day's cost with everything above (noise included), so the
    label percent is exact.  The extra cost goes either onto the existing
    resources (scaled) or onto a new ResourceId seen only on spike days
    (p=0.5 each).  Constraints: extra cost >= 5 USD on every spike day (else
    the spike is not injected and another is drawn), no two spikes on the
    same series within 2 days of each other, none from 2 days before to 10
    days after a level shift on the same series, at most 3 per series.
    Label: spike, first_day..last_day inclusive, percent = P.

billing.csv: BilledCost = EffectiveCost; ListCost = BilledCost * (1 + u)
with u = 0 (p=0.5) or U(0.03, 0.15) per series (fees/tax: ListCost =
BilledCost).  Amounts are fixed-point decimals with 6 places.
"""

import argparse
import csv
import datetime as dt
import json
import math
import os
import random
import sys
from decimal import Decimal, ROUND_HALF_UP

HEADER = [
    "BilledCost", "EffectiveCost", "ListCost", "BillingCurrency",
    "BillingAccountId", "BillingAccountName", "BillingPeriodStart",
    "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd",
    "ChargeCategory", "ChargeClass", "ProviderName", "ServiceName",
    "ServiceCategory", "SubAccountId", "RegionId", "ResourceId", "Tags",
]

START = dt.date(2026, 1, 1)

# (ServiceName, ServiceCategory, kind) ; kind in compute/db/storage/traffic/flat/batch
AWS_SERVICES = [
    ("AmazonEC2", "Compute", "compute"),
    ("AmazonRDS", "Databases", "db"),
    ("AmazonS3", "Storage", "storage"),
    ("AWSLambda", "Compute", "compute"),
    ("AmazonDynamoDB", "Databases", "storage"),
    ("AmazonEKS", "Compute", "compute"),
    ("AmazonElastiCache", "Databases", "db"),
    ("AmazonCloudWatch", "Management and Governance", "flat"),
    ("AmazonCloudFront", "Networking", "traffic"),
    ("AmazonRedshift", "Analytics", "db"),
    ("AWSDataTransfer", "Networking", "traffic"),
    ("AmazonEFS", "Storage", "storage"),
]
AWS_BATCH = [
    ("AWSGlue", "Analytics", "batch"),
    ("AmazonEMR", "Analytics", "batch"),
    ("AmazonSageMaker", "AI and Machine Learning", "batch"),
    ("AWSBatch", "Compute", "batch"),
]
AZ_SERVICES = [
    ("Virtual Machines", "Compute", "compute"),
    ("Storage", "Storage", "storage"),
    ("Azure SQL Database", "Databases", "db"),
    ("Azure Functions", "Compute", "compute"),
    ("Azure Cosmos DB", "Databases", "db"),
    ("Azure Kubernetes Service", "Compute", "compute"),
    ("Bandwidth", "Networking", "traffic"),
    ("Azure Monitor", "Management and Governance", "flat"),
    ("Azure App Service", "Compute", "compute"),
]
AZ_BATCH = [
    ("Azure Data Factory", "Analytics", "batch"),
    ("Azure Databricks", "Analytics", "batch"),
    ("Azure Machine Learning", "AI and Machine Learning", "batch"),
]
AWS_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"]
AZ_REGIONS = ["eastus", "westeurope", "northeurope", "westus2"]

Q6 = Decimal("0.000001")


def money(x):
    if x < 0:
        raise ValueError("negative amount")
    return format(Decimal(x).quantize(Q6, rounding=ROUND_HALF_UP), "f")


def ts(d, hour=0):
    return "%04d-%02d-%02dT%02d:00:00Z" % (d.year, d.month, d.day, hour)


def month_start(d):
    return dt.date(d.year, d.month, 1)


def next_month(d):
    return dt.date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def add_months(d, n):
    for _ in range(n):
        d = next_month(d)
    return d


def guid(rng):
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def unit_noise(rng, kind, df):
    """Unit-variance heavy-tailed variate."""
    if kind == "t":
        z = rng.gauss(0.0, 1.0)
        chi2 = rng.gammavariate(df / 2.0, 2.0)
        t = z / math.sqrt(chi2 / df)
        return t * math.sqrt((df - 2.0) / df)
    # Laplace, b = 1/sqrt(2) -> variance 1
    e = rng.expovariate(1.0) / math.sqrt(2.0)
    return e if rng.random() < 0.5 else -e


def weekly_profile(rng):
    kind = rng.choice(["flat", "business", "midweek", "weekend", "monday"])
    w = [1.0] * 7  # Monday=0 .. Sunday=6
    if kind == "business":
        a = rng.uniform(0.15, 0.40)
        w[5] = w[6] = 1.0 - a
    elif kind == "midweek":
        a = rng.uniform(0.08, 0.25)
        peak = rng.choice([1, 2, 3])
        w = [1.0 + a * math.cos(2 * math.pi * (d - peak) / 7.0) for d in range(7)]
    elif kind == "weekend":
        a = rng.uniform(0.10, 0.30)
        w[5] = w[6] = 1.0 + a
    elif kind == "monday":
        w[0] = 1.0 + rng.uniform(0.15, 0.35)
    m = sum(w) / 7.0
    return kind, [x / m for x in w]


def resource_ids(rng, provider, svc, kind, team, sub, region, n):
    out = []
    for i in range(n):
        tag = "%010x" % rng.getrandbits(40)
        if provider == "AWS":
            if svc == "AmazonEC2":
                rid = "i-0%s%s" % (tag, "%06x" % rng.getrandbits(24))
            elif svc == "AmazonS3":
                rid = "%s-data-%s" % (team, tag[:6])
            else:
                short = svc.replace("Amazon", "").replace("AWS", "").lower()
                rid = "arn:aws:%s:%s:%s:%s/%s-%s" % (short, region, sub, kind, team, tag[:8])
        else:
            prov = {"compute": "Microsoft.Compute/virtualMachines",
                    "storage": "Microsoft.Storage/storageAccounts",
                    "db": "Microsoft.Sql/servers",
                    "traffic": "Microsoft.Network/publicIPAddresses",
                    "flat": "Microsoft.Insights/components",
                    "batch": "Microsoft.DataFactory/factories"}[kind]
            rid = "/subscriptions/%s/resourceGroups/rg-%s/providers/%s/%s-%s" % (
                sub, team, prov, team, tag[:8])
        out.append(rid)
    return out


def build(seed):
    rng = random.Random(seed)
    n_months = rng.randint(4, 7)
    end = add_months(START, n_months)
    n_days = (end - START).days
    days = [START + dt.timedelta(days=i) for i in range(n_days)]
    months = [add_months(START, k) for k in range(n_months)]

    # ---- accounts -------------------------------------------------------
    n_acc = rng.randint(1, 3)
    accounts = []
    for a in range(n_acc):
        provider = "AWS" if a == 0 or rng.random() < 0.5 else "Microsoft"
        accounts.append({
            "id": "%012d" % rng.randrange(10 ** 11, 10 ** 12),
            "name": ["Acme Corp", "Acme Labs", "Acme Retail"][a] + (" (Azure)" if provider == "Microsoft" else ""),
            "provider": provider,
            "tax": rng.uniform(0.04, 0.10),
            "az_support": rng.choice([100.0, 1000.0]),
        })

    # ---- teams and series ----------------------------------------------
    n_teams = rng.randint(6, 12)
    teams = []
    series = []
    for ti in range(n_teams):
        name = "team-" + "abcdefghijkl"[ti]
        # every account owns at least one team
        acc = accounts[ti] if ti < n_acc else rng.choice(accounts)
        prov = acc["provider"]
        sub = "%012d" % rng.randrange(10 ** 11, 10 ** 12) if prov == "AWS" else guid(rng)
        region = rng.choice(AWS_REGIONS if prov == "AWS" else AZ_REGIONS)
        wkind, weekly = weekly_profile(rng)
        cal = rng.choices(["none", "month_end", "month_start"], [0.55, 0.30, 0.15])[0]
        cal_amp = rng.uniform(0.08, 0.20)
        cal_len = rng.choice([2, 3]) if cal == "month_end" else 2
        team = {"name": name, "acc": acc, "sub": sub, "region": region,
                "weekly_kind": wkind, "weekly": weekly, "cal": cal,
                "cal_amp": cal_amp, "cal_len": cal_len}
        teams.append(team)
        n_svc = rng.randint(2, 5)
        catalogue = AWS_SERVICES if prov == "AWS" else AZ_SERVICES
        svcs = rng.sample(catalogue, n_svc)
        batch_pool = AWS_BATCH if prov == "AWS" else AZ_BATCH
        if rng.random() < 0.4 and n_svc < 5:
            svcs.append(rng.choice(batch_pool))
        for svc in svcs:
            series.append(make_series(rng, team, svc))
    # at least two batch series overall
    batch = [s for s in series if s["batch"]]
    while len(batch) < 2:
        cand = [t for t in teams if not any(s["batch"] and s["team"] is t for s in series)
                and sum(1 for s in series if s["team"] is t) < 5]
        t = rng.choice(cand)
        pool = AWS_BATCH if t["acc"]["provider"] == "AWS" else AZ_BATCH
        s = make_series(rng, t, rng.choice(pool))
        series.append(s)
        batch.append(s)

    # ---- hourly months -------------------------------------------------
    hourly = {}  # month index -> team name
    for mi in rng.sample(range(n_months), rng.randint(1, 2)):
        hourly[mi] = rng.choice(teams)["name"]

    # ---- base paths (trend, patterns, noise), before any event ---------
    for s in series:
        t = s["team"]
        if s["batch"]:
            q, lvl, res = s["q"], s["level"], s["residual"]
            path, runs = [], []
            for i in range(n_days):
                if rng.random() < q:
                    path.append(lvl * math.exp(rng.gauss(0.0, 0.3)))
                    runs.append(True)
                else:
                    path.append(res * math.exp(rng.gauss(0.0, 0.1)))
                    runs.append(False)
            s["base_path"] = path
            s["runs"] = runs
            continue
        L = 0.0
        path = []
        for i, d in enumerate(days):
            if i > 0:
                L += s["drift"] + rng.gauss(0.0, s["sigma_tr"])
            w = 1.0 + s["wk_strength"] * (t["weekly"][d.weekday()] - 1.0)
            c = 1.0
            if s["kind"] != "storage" and t["cal"] != "none":
                if t["cal"] == "month_end":
                    if (next_month(d) - d).days <= t["cal_len"]:
                        c = 1.0 + t["cal_amp"]
                elif d.day <= t["cal_len"]:
                    c = 1.0 + t["cal_amp"]
            x = s["spread"] * unit_noise(rng, s["noise"], s["df"])
            x = max(-0.30, min(0.30, x))
            path.append(s["base"] * math.exp(L) * w * c * math.exp(x))
        s["base_path"] = path

    ordinary = [s for s in series if not s["batch"]]

    # ---- level shifts ----------------------------------------------------
    labels = []
    shifts = {}  # series key -> (day, p)
    eligible = [s for s in ordinary if s["base"] >= 30]
    n_shift = min(rng.randint(2, 4), len(eligible))
    for s in rng.sample(eligible, n_shift):
        day = rng.randint(35, n_days - 21)
        if rng.random() < 0.6:
            p = rng.uniform(0.25, 1.00)
        else:
            p = -rng.uniform(0.25, 0.60)
        p = round(p, 4)
        shifts[s["key"]] = (day, p)
        labels.append(("level_shift", s, day, None, p * 100.0))

    # counterfactual = path with shift applied (spikes are relative to this)
    for s in series:
        cf = list(s["base_path"])
        if s["key"] in shifts:
            day, p = shifts[s["key"]]
            for i in range(day, n_days):
                cf[i] *= 1.0 + p
        s["cf"] = cf
        s["mult"] = [1.0] * n_days   # spike multiplier per day
        s["spike_new"] = [None] * n_days  # new-resource id for spike extra

    # ---- spikes ----------------------------------------------------------
    n_spikes = rng.randint(20, 30)
    n_weekend_min = 3
    placed = []
    blocked = {s["key"]: set() for s in ordinary}
    for s in ordinary:
        if s["key"] in shifts:
            day = shifts[s["key"]][0]
            blocked[s["key"]].update(range(day - 2, day + 11))
    per_series = {s["key"]: 0 for s in ordinary}
    weekend_starts = [i for i in range(28, n_days) if days[i].weekday() >= 5]
    attempts = 0
    while len(placed) < n_spikes and attempts < 200000:
        attempts += 1
        s = rng.choice(ordinary)
        if per_series[s["key"]] >= 3:
            continue
        dur = rng.randint(1, 6)
        n_we = sum(1 for sp in placed if days[sp[1]].weekday() >= 5)
        need_we = (n_spikes - len(placed)) <= (n_weekend_min - n_we)
        if need_we or rng.random() < 0.12:
            start = rng.choice(weekend_starts)
        else:
            start = rng.randint(28, n_days - 1)
        last = start + dur - 1
        if last >= n_days:
            continue
        pmin = max(30.0, 600.0 * s["spread"])
        if rng.random() < 0.5:
            pct = rng.uniform(pmin, 100.0)
        else:
            pct = math.exp(rng.uniform(math.log(100.0), math.log(500.0)))
        pct = round(pct, 2)
        rng_days = range(start, last + 1)
        if any(i in blocked[s["key"]] for i in rng_days):
            continue
        if min(s["cf"][i] for i in rng_days) * pct / 100.0 < 5.0:
            continue  # too small to matter in money: not injected
        new_rid = None
        if rng.random() < 0.5:
            new_rid = resource_ids(rng, s["provider"], s["svc"], s["kind"],
                                   s["team"]["name"], s["team"]["sub"],
                                   s["team"]["region"], 1)[0] + "-x"
        for i in rng_days:
            s["mult"][i] = 1.0 + pct / 100.0
            s["spike_new"][i] = new_rid
        blocked[s["key"]].update(range(start - 2, last + 3))
        per_series[s["key"]] += 1
        placed.append((s, start, last, pct))
        labels.append(("spike", s, start, last, pct))

    if len(placed) < n_spikes:
        sys.stderr.write("heavy_tails: placed only %d of %d spikes\n" % (len(placed), n_spikes))

    # ---- rows --------------------------------------------------------------
    rows = []
    usage_month = {}  # (series key, month idx) -> usage total
    acc_usage_month = {}
    for s in series:
        t = s["team"]
        acc = t["acc"]
        tags = json.dumps({"team": t["name"]})
        for i, d in enumerate(days):
            mi = (d.year - START.year) * 12 + d.month - START.month
            bps, bpe = ts(month_start(d)), ts(next_month(d))
            total = s["cf"][i] * s["mult"][i]
            usage_month[(s["key"], mi)] = usage_month.get((s["key"], mi), 0.0) + total
            acc_usage_month[(acc["id"], mi)] = acc_usage_month.get((acc["id"], mi), 0.0) + total
            pieces = []  # (resource id, amount)
            if s["spike_new"][i] is not None:
                for rid, sh in zip(s["rids"], s["shares"]):
                    pieces.append((rid, s["cf"][i] * sh))
                pieces.append((s["spike_new"][i], s["cf"][i] * (s["mult"][i] - 1.0)))
            else:
                for rid, sh in zip(s["rids"], s["shares"]):
                    pieces.append((rid, total * sh))
            if hourly.get(mi) == t["name"]:
                wts = hour_weights(rng, s, i)
                for h in range(24):
                    cs = ts(d, h)
                    ce = ts(d + dt.timedelta(days=1), 0) if h == 23 else ts(d, h + 1)
                    for rid, amt in pieces:
                        rows.append(usage_row(s, acc, bps, bpe, cs, ce, amt * wts[h], rid, tags))
            else:
                cs, ce = ts(d), ts(d + dt.timedelta(days=1))
                for rid, amt in pieces:
                    rows.append(usage_row(s, acc, bps, bpe, cs, ce, amt, rid, tags))

    for mi, m in enumerate(months):
        bps, bpe = ts(m), ts(next_month(m))
        for acc in accounts:
            u = acc_usage_month.get((acc["id"], mi), 0.0)
            if acc["provider"] == "AWS":
                fee = max(100.0, 0.10 * min(u, 10000.0) + 0.07 * max(0.0, u - 10000.0))
                svc, prov, region = "AWS Support (Business)", "AWS", ""
            else:
                fee = acc["az_support"]
                svc, prov, region = "Support", "Microsoft", ""
            f = money(fee)
            rows.append([f, f, f, "USD", acc["id"], acc["name"], bps, bpe, bps, bpe,
                         "Purchase", "", prov, svc, "Management and Governance",
                         acc["id"], region, "", json.dumps({"team": "shared"})])
        for s in series:
            acc = s["team"]["acc"]
            tax = acc["tax"] * usage_month.get((s["key"], mi), 0.0)
            f = money(tax)
            rows.append([f, f, f, "USD", acc["id"], acc["name"], bps, bpe, bps, bpe,
                         "Tax", "", s["provider"], s["svc"], s["category"],
                         s["team"]["sub"], "", "", json.dumps({"team": s["team"]["name"]})])

    labels.sort(key=lambda l: (l[2], l[1]["team"]["name"], l[1]["svc"]))
    return {
        "rows": rows, "labels": labels, "days": days, "series": series,
        "n_spikes": len(placed), "n_shifts": len(shifts), "hourly": hourly,
        "n_months": n_months,
    }


def make_series(rng, team, svc):
    name, cat, kind = svc
    prov = team["acc"]["provider"]
    s = {"team": team, "svc": name, "category": cat, "kind": kind,
         "provider": prov, "key": (team["name"], name),
         "batch": kind == "batch"}
    if s["batch"]:
        s["q"] = rng.uniform(0.15, 0.5)
        s["level"] = rng.uniform(1.5, 8.0)
        s["residual"] = rng.uniform(0.02, 0.3)
        s["job_start"] = rng.randint(0, 20)
        s["job_len"] = rng.randint(2, 6)
    else:
        cls = rng.choices(["large", "medium", "small"], [0.25, 0.40, 0.35])[0]
        lo, hi = {"large": (300, 4000), "medium": (30, 300), "small": (1, 30)}[cls]
        s["base"] = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        s["drift"] = rng.uniform(-0.0012, 0.0025)
        s["sigma_tr"] = rng.uniform(0.001, 0.005)
        s["wk_strength"] = rng.uniform(0.05, 0.3) if kind == "storage" else rng.uniform(0.6, 1.2)
        s["noise"] = "t" if rng.random() < 0.65 else "laplace"
        s["df"] = rng.randint(3, 5)
        s["spread"] = rng.uniform(0.04, 0.08) if cls == "small" else rng.uniform(0.02, 0.08)
    n_res = rng.randint(1, 3)
    raw = [rng.uniform(0.3, 1.0) for _ in range(n_res)]
    s["shares"] = [x / sum(raw) for x in raw]
    s["rids"] = resource_ids(rng, prov, name, kind, team["name"], team["sub"],
                             team["region"], n_res)
    s["list_markup"] = 0.0 if rng.random() < 0.5 else rng.uniform(0.03, 0.15)
    s["amp"] = rng.uniform(0.1, 0.5)
    s["peak"] = rng.randint(12, 17)
    return s


def hour_weights(rng, s, i):
    if s["batch"]:
        if s["runs"][i]:
            w = [0.0] * 24
            for h in range(s["job_start"], s["job_start"] + s["job_len"]):
                w[h % 24] = math.exp(rng.gauss(0.0, 0.2))
        else:
            w = [math.exp(rng.gauss(0.0, 0.01)) for _ in range(24)]
    elif s["kind"] in ("storage", "flat"):
        w = [math.exp(rng.gauss(0.0, 0.01)) for _ in range(24)]
    else:
        w = [(1.0 + s["amp"] * math.cos(2 * math.pi * (h - s["peak"]) / 24.0))
             * math.exp(rng.gauss(0.0, 0.03)) for h in range(24)]
    tot = sum(w)
    return [x / tot for x in w]


def usage_row(s, acc, bps, bpe, cs, ce, amount, rid, tags):
    amount = max(0.0, amount)
    b = money(amount)
    lst = money(amount * (1.0 + s["list_markup"]))
    return [b, b, lst, "USD", acc["id"], acc["name"], bps, bpe, cs, ce,
            "Usage", "", s["provider"], s["svc"], s["category"],
            s["team"]["sub"], s["team"]["region"], rid, tags]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    data = build(args.seed)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "billing.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(data["rows"])
    days = data["days"]
    with open(os.path.join(args.out, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["kind", "team", "service", "first_day", "last_day", "percent"])
        for kind, s, first, last, pct in data["labels"]:
            w.writerow([kind, s["team"]["name"], s["svc"], days[first].isoformat(),
                        "" if last is None else days[last].isoformat(),
                        "%.2f" % pct])
    hourly = ",".join("%s:%s" % (add_months(START, m).strftime("%Y-%m"), t)
                      for m, t in sorted(data["hourly"].items()))
    print("heavy_tails seed=%d rows=%d spikes=%d shifts=%d months=%d series=%d hourly=%s"
          % (args.seed, len(data["rows"]), data["n_spikes"], data["n_shifts"],
             data["n_months"], len(data["series"]), hourly))


if __name__ == "__main__":
    main()
