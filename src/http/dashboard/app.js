// allot dashboard: signs in with a token (kept in sessionStorage, this tab
// only), calls the JSON API with it and draws what that identity may see.
// The view and its choices live in the URL's fragment (#/view?key=value),
// so a link shows the same view. Money arrives as decimal strings and is
// shown with Intl.NumberFormat, which formats such strings exactly; charts
// get numbers, tables keep the API's figures.
"use strict";

(function () {
  const TOKEN_KEY = "allot.token";
  // Okabe-Ito: distinguishable with the common colour-vision deficiencies.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
  const GREY = "#9e9e9e";
  const VIEWS = ["month", "team", "unit-costs", "imports"];
  let charts = [];
  let who = null;
  let months = [];

  // ---- small helpers -----------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  const formatters = new Map();
  function money(amount, currency, digits) {
    if (amount === null || amount === undefined) return "";
    const key = currency + "/" + (digits || 2);
    if (!formatters.has(key)) {
      formatters.set(key, new Intl.NumberFormat(undefined, {
        style: "currency", currency, minimumFractionDigits: 2, maximumFractionDigits: digits || 2,
      }));
    }
    return formatters.get(key).format(amount);
  }

  // Sums of the API's two-place decimal strings, exactly (in cents).
  function sumMoney(amounts) {
    let cents = 0n;
    for (const a of amounts) {
      const negative = a.startsWith("-");
      const [whole, fraction = ""] = a.replace("-", "").split(".");
      const value = BigInt(whole) * 100n + BigInt((fraction + "00").slice(0, 2));
      cents += negative ? -value : value;
    }
    const sign = cents < 0n ? "-" : "";
    const abs = cents < 0n ? -cents : cents;
    return sign + (abs / 100n) + "." + String(abs % 100n).padStart(2, "0");
  }

  function number(value, digits) {
    if (value === null || value === undefined) return "";
    return new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }).format(value);
  }

  function percent(value) {
    if (value === null || value === undefined) return "";
    const n = Number(value);
    return (n > 0 ? "+" : "") + number(value, 1) + "%";
  }

  function route() {
    const hash = location.hash.replace(/^#\/?/, "");
    const [view, query] = hash.split("?");
    return { view: VIEWS.includes(view) ? view : "month", params: new URLSearchParams(query || "") };
  }

  function go(view, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    const next = "#/" + view + (q.toString() ? "?" + q : "");
    if (location.hash === next) render(); else location.hash = next;
  }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, params, accept) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) if (v) url.searchParams.set(k, v);
    const response = await fetch(url, {
      headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY), Accept: accept || "application/json" },
    });
    if (!response.ok) {
      let message = response.status + " " + response.statusText;
      try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
      if (response.status === 401) signOut(message);
      throw new ApiError(response.status, message);
    }
    return accept === "text/csv" ? response.blob() : response.json();
  }

  async function download(path, params, name) {
    const blob = await api(path, Object.assign({ format: "csv" }, params), "text/csv");
    const link = el("a", { href: URL.createObjectURL(blob), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  function clearCharts() {
    for (const c of charts) c.destroy();
    charts = [];
  }

  function chart(label, config) {
    const canvas = el("canvas", { role: "img", "aria-label": label });
    const box = el("div", { class: "chart" }, canvas);
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    // Drawn once the canvas is in the page, so that it has a size.
    queueMicrotask(() => charts.push(new Chart(canvas, config)));
    return box;
  }

  function table(caption, headers, rows, rowClass) {
    return el("div", { class: "table-wrap" },
      el("table", {},
        caption ? el("caption", {}, caption) : null,
        el("thead", {}, el("tr", {}, headers.map((h) => el("th", { class: h.num ? "num" : null, scope: "col" }, h.label || h)))),
        el("tbody", {}, rows.map((r, i) => el("tr", { class: rowClass ? rowClass(r, i) : null },
          r.map((c, j) => el("td", { class: headers[j].num ? "num" : null }, c)))))));
  }

  function byCurrency(items) {
    const out = new Map();
    for (const item of items) {
      if (!out.has(item.currency)) out.set(item.currency, []);
      out.get(item.currency).push(item);
    }
    return out;
  }

  function monthSelect(current, onchange) {
    return el("label", {}, "Month",
      el("select", { id: "month", onchange: (e) => onchange(e.target.value) },
        months.slice().reverse().map((m) => el("option", { value: m.month, selected: m.month === current }, m.month))));
  }

  function latestMonth() {
    return months.length ? months[months.length - 1].month : null;
  }

  function addMonths(month, n) {
    const [y, m] = month.split("-").map(Number);
    const d = new Date(Date.UTC(y, m - 1 + n, 1));
    return d.toISOString().slice(0, 7);
  }

  function lastDay(month) {
    const [y, m] = month.split("-").map(Number);
    return new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
  }

  function problem(message) {
    return el("p", { class: "error", role: "alert" }, message);
  }

  // ---- sign-in -------------------------------------------------------------

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    who = null;
    showSignIn(message || "");
  }

  function showSignIn(message) {
    clearCharts();
    document.getElementById("nav").hidden = true;
    document.getElementById("sign-out").hidden = true;
    document.getElementById("who").textContent = "";
    document.getElementById("view").hidden = true;
    document.getElementById("signin").hidden = false;
    document.getElementById("signin-error").textContent = message;
    document.getElementById("token").focus();
  }

  async function start() {
    if (!sessionStorage.getItem(TOKEN_KEY)) return showSignIn("");
    try {
      who = await api("/api/v1/whoami");
      months = (await api("/api/v1/months")).months;
    } catch (e) {
      if (e.status !== 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        showSignIn(e.message);
      }
      return;
    }
    document.getElementById("signin").hidden = true;
    document.getElementById("nav").hidden = false;
    document.getElementById("sign-out").hidden = false;
    document.getElementById("who").textContent = who.role === "admin" || who.role === "finance"
      ? who.role : who.role.replace(/^(team|group):/, "$1 ");
    document.getElementById("view").hidden = false;
    render();
  }

  // ---- views -------------------------------------------------------------

  let renders = 0;

  async function render() {
    if (!who) return;
    // A later render (the address changed again) makes this one stale: it
    // draws into its own detached element and says nothing when done.
    const generation = ++renders;
    const { view, params } = route();
    // Set again when the view is drawn: what a test (or a slow eye) waits for.
    delete document.body.dataset.ready;
    for (const a of document.querySelectorAll("#nav a")) {
      if (a.dataset.view === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    const target = document.getElementById("view");
    const body = el("div", { id: "view-" + view });
    clearCharts();
    target.replaceChildren(body);
    if (!months.length && view !== "imports") {
      body.append(el("h1", {}, "No month allocated yet"),
        el("p", {}, "Import a bill and run ", el("code", {}, "allot allocate --month YYYY-MM"), "; its figures show here."));
      document.body.dataset.ready = view;
      return;
    }
    try {
      if (view === "month") await monthView(body, params);
      else if (view === "team") await teamView(body, params);
      else if (view === "unit-costs") await unitCostView(body, params);
      else await importsView(body);
    } catch (e) {
      if (generation !== renders) return;
      if (e.status !== 401) body.append(problem(e.message));
    }
    if (generation === renders && who) document.body.dataset.ready = view;
  }

  async function monthView(body, params) {
    const month = params.get("month") || latestMonth();
    const by = params.get("by") || "team";
    const groupBy = { team: "team", group: "group", environment: "team,environment" }[by] || "team";
    const set = (k, v) => go("month", Object.assign({ month, by }, { [k]: v }));
    body.append(el("h1", {}, "Showback ", month),
      el("div", { class: "controls" },
        monthSelect(month, (m) => set("month", m)),
        el("label", {}, "By",
          el("select", { id: "by", onchange: (e) => set("by", e.target.value) },
            [["team", "team"], ["group", "group"], ["environment", "environment"]]
              .map(([v, l]) => el("option", { value: v, selected: v === by }, l))))));
    const report = await api("/api/v1/showback", { month, group_by: groupBy });
    if (report.stale) {
      body.append(el("p", { class: "stale", role: "status" },
        "An input changed after this month was allocated: these figures are stale until it is allocated again."));
    }
    body.append(el("p", { class: "note" }, "Cost basis: ", report.cost_basis, ". Allocated at ", report.allocated_at, "."));
    if (report.overlapping) {
      body.append(el("p", { class: "note" },
        "Some teams belong to more than one group: each group's row is its teams' whole cost, so the rows add up to more than the total."));
    }
    const name = (r) => by === "group" ? r.group : by === "environment" ? r.team + " / " + r.environment : r.team;
    const totals = new Map(report.totals.map((t) => [t.currency, t.total_cost]));
    for (const [currency, rows] of byCurrency(report.rows)) {
      const unallocated = sumMoney(rows.filter((r) => r.team === "unallocated").map((r) => r.total_cost));
      const total = totals.get(currency);
      const share = Number(total) ? (100 * Number(unallocated) / Number(total)) : 0;
      body.append(el("h2", {}, currency),
        el("div", { class: "cards" },
          el("div", { class: "card" }, el("div", { class: "label" }, "Total"), el("div", { class: "value", "data-total": currency }, money(total, currency))),
          who.sees_all && by !== "group" ? el("div", { class: "card" }, el("div", { class: "label" }, "Unallocated"),
            el("div", { class: "value", "data-unallocated": currency }, money(unallocated, currency), " ", el("small", {}, "(" + number(share, 1) + "% of the total)"))) : null));
      const labels = rows.map(name);
      const colours = rows.map((r) => ((r.team || r.group) === "unallocated" ? GREY : null));
      body.append(el("div", { class: "grid two" },
        chart(`Showback ${month} in ${currency} by ${by}: direct and shared cost`, {
          type: "bar",
          data: {
            labels,
            datasets: [
              { label: "direct", data: rows.map((r) => Number(r.direct_cost)), backgroundColor: colours.map((c) => c || PALETTE[0]) },
              { label: "shared", data: rows.map((r) => Number(r.shared_cost)), backgroundColor: colours.map((c) => c || PALETTE[1]) },
            ],
          },
          options: {
            indexAxis: "y",
            scales: { x: { stacked: true }, y: { stacked: true } },
            plugins: { tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + money(String(c.raw), currency) } } },
          },
        }),
        table(`${currency}: direct, shared and total cost`,
          [by === "group" ? "group" : "team", ...(by === "environment" ? ["environment"] : []), { label: "direct", num: true }, { label: "shared", num: true }, { label: "total", num: true }],
          [...rows.map((r) => [by === "group" ? r.group : r.team, ...(by === "environment" ? [r.environment] : []),
            money(r.direct_cost, currency), money(r.shared_cost, currency), money(r.total_cost, currency)]),
          ["total", ...(by === "environment" ? [""] : []), "", "", money(total, currency)]],
          (r, i) => (i === rows.length ? "total" : (rows[i].team || rows[i].group) === "unallocated" ? "unallocated" : null))));
    }
    if (!report.rows.length) body.append(el("p", {}, "Nothing you may see was allocated in ", month, "."));
    const file = (suffix) => `showback-${suffix}${month}.csv`;
    const failed = el("p", { class: "error", role: "alert" });
    const button = (label, params, name) => el("button", {
      type: "button",
      onclick: () => {
        failed.textContent = "";
        download("/api/v1/showback", params, name).catch((e) => { failed.textContent = label + ": " + e.message; });
      },
    }, label);
    body.append(el("h2", {}, "Downloads"), el("div", { class: "downloads" },
      button("Showback CSV", { month }, file("")),
      button("By service CSV", { month, group_by: "team,service" }, file("services-")),
      button("By environment CSV", { month, group_by: "team,environment" }, file("environments-")),
      button("Invoice view CSV", { month, period: "billing" }, file("invoice-"))), failed);
  }

  async function visibleTeams(month) {
    const report = await api("/api/v1/showback", { month });
    return [...new Set(report.rows.map((r) => r.team))].filter((t) => t !== "unallocated").sort();
  }

  async function teamView(body, params) {
    const month = params.get("month") || latestMonth();
    const teams = await visibleTeams(month);
    const team = params.get("team") || teams[0];
    const from = params.get("from") || month + "-01";
    const to = params.get("to") || lastDay(month);
    const set = (k, v) => go("team", Object.assign({ month, team, from, to }, { [k]: v }));
    body.append(el("h1", {}, "Team ", team || ""),
      el("div", { class: "controls" },
        el("label", {}, "Team", el("select", { id: "team", onchange: (e) => set("team", e.target.value) },
          teams.map((t) => el("option", { value: t, selected: t === team }, t)))),
        monthSelect(month, (m) => go("team", { month: m, team })),
        el("label", {}, "From", el("input", { id: "from", type: "date", value: from, onchange: (e) => set("from", e.target.value) })),
        el("label", {}, "To", el("input", { id: "to", type: "date", value: to, onchange: (e) => set("to", e.target.value) }))));
    if (!team) return body.append(el("p", {}, "No team's costs are visible to you in ", month, "."));
    const [costs, anomalies] = await Promise.all([
      api(`/api/v1/teams/${encodeURIComponent(team)}/costs`, { from, to, granularity: "day" }),
      api("/api/v1/anomalies", { from, to, team }),
    ]);
    body.append(el("p", { class: "note" },
      "Daily cost by service. A charge that covers several days (a monthly fee, a reservation) is spread evenly over them, as the API spreads it."));
    const list = el("ol", { class: "anomaly-list" });
    for (const [currency, points] of byCurrency(costs.points)) {
      const days = points.map((p) => p.start);
      const services = [...new Set(points.flatMap((p) => p.services.map((s) => s.service || "(no service)")))];
      const datasets = services.map((service, i) => ({
        type: "bar",
        label: service,
        data: points.map((p) => Number((p.services.find((s) => (s.service || "(no service)") === service) || { cost: 0 }).cost)),
        backgroundColor: PALETTE[i % PALETTE.length],
        stack: "cost",
      }));
      const marks = anomalies.anomalies.filter((a) => a.currency === currency);
      if (marks.length) {
        datasets.push({
          type: "line",
          label: "anomaly",
          showLine: false,
          pointStyle: "triangle",
          pointRadius: 8,
          pointHoverRadius: 10,
          backgroundColor: "#D55E00",
          borderColor: "#000000",
          data: points.map((p) => {
            const a = marks.find((m) => m.first_day <= p.start && p.start <= m.last_day);
            return a ? Number(p.cost) : null;
          }),
        });
      }
      const explanation = (day) => {
        const a = marks.find((m) => m.first_day <= day && day <= m.last_day);
        return a ? a.explanation : "";
      };
      body.append(el("h2", {}, currency), chart(`Daily cost of ${team} in ${currency} by service, ${from} to ${to}`, {
        type: "bar",
        data: { labels: days, datasets },
        options: {
          scales: { x: { stacked: true }, y: { stacked: true } },
          plugins: {
            tooltip: {
              callbacks: {
                label: (c) => (c.dataset.label === "anomaly" ? "anomaly: " + explanation(days[c.dataIndex])
                  : c.dataset.label + ": " + money(String(c.raw), currency)),
              },
            },
          },
          onClick: (_, elements) => {
            const hit = elements.find((e) => datasets[e.datasetIndex].label === "anomaly");
            if (!hit) return;
            const a = marks.find((m) => m.first_day <= days[hit.index] && days[hit.index] <= m.last_day);
            const item = a && document.getElementById("anomaly-" + a.id);
            if (item) { item.scrollIntoView({ block: "center" }); item.focus(); }
          },
        },
      }));
      body.append(el("details", {}, el("summary", {}, "The daily figures in ", currency),
        table(`${team}: daily cost in ${currency}`, ["day", { label: "cost", num: true }],
          points.map((p) => [p.start, money(p.cost, currency)]))));
    }
    if (!costs.points.length) body.append(el("p", {}, "No costs between ", from, " and ", to, "."));
    body.append(el("h2", {}, "Anomalies"));
    if (anomalies.anomalies.length) {
      for (const a of anomalies.anomalies) {
        list.append(el("li", { id: "anomaly-" + a.id, tabindex: "-1" },
          el("strong", {}, a.first_day === a.last_day ? a.first_day : a.first_day + " to " + a.last_day), " ",
          a.explanation, " ", el("span", { class: "note" }, "(" + a.status + ")")));
      }
      body.append(list);
    } else {
      body.append(el("p", {}, "No anomalies between ", from, " and ", to, "."));
    }
    const explained = await api(`/api/v1/teams/${encodeURIComponent(team)}/explain`, { month });
    body.append(el("h2", {}, "Where ", month, "'s cost came from"),
      table(`${team} in ${month}: each rule's and pool's part`,
        ["source", "rule or pool", "method", "currency", { label: "amount", num: true }],
        explained.items.map((i) => [i.source, i.rule || i.pool || "", i.method || "", i.currency, money(i.amount, i.currency)])));
  }

  async function unitCostView(body, params) {
    const month = params.get("month") || latestMonth();
    const teams = await visibleTeams(month);
    // Absent: every scope the month's summary has figures for.
    const chosen = params.get("scope");
    const from = addMonths(month, -12);
    const scopeName = (s) => (s === "" || s === "organisation" ? "organisation" : s.replace(":", " "));
    const [metrics, summary] = await Promise.all([api("/api/v1/metrics"), api("/api/v1/unit-costs/summary", { month })]);
    // Groups and environments with figures this month, besides the teams.
    const otherScopes = [...new Set(summary.entries.map((e) => e.scope))]
      .filter((s) => s.startsWith("group:") || s.startsWith("environment:")).sort();
    body.append(el("h1", {}, "Unit costs"),
      el("div", { class: "controls" },
        monthSelect(month, (m) => go("unit-costs", { month: m, scope: chosen })),
        el("label", {}, "Scope", el("select", { id: "scope", onchange: (e) => go("unit-costs", { month, scope: e.target.value || null }) },
          el("option", { value: "", selected: chosen === null }, "every scope with figures"),
          who.sees_all ? el("option", { value: "organisation", selected: chosen === "organisation" }, "organisation") : null,
          otherScopes.map((o) => el("option", { value: o, selected: chosen === o }, scopeName(o))),
          teams.map((t) => el("option", { value: "team:" + t, selected: chosen === "team:" + t }, "team " + t))))),
      el("p", { class: "note" }, "From ", from, " to ", month, ". A month without a figure is a gap in its line; the table says why."));
    for (const metric of metrics.metrics) {
      const scopes = chosen !== null ? [chosen]
        : [...new Set(summary.entries.filter((e) => e.metric === metric.name).map((e) => e.scope))];
      if (!scopes.length) {
        body.append(el("h2", {}, "Cost per ", metric.unit, " (", metric.name, ")"),
          el("p", {}, "No ", metric.name, " figures in ", month, " for what you may see."));
      }
      const all = await Promise.all(scopes.map((scope) => api("/api/v1/unit-costs",
        { metric: metric.name, from, to: month, scope: scope === "organisation" ? "" : scope })));
      for (const [k, scope] of scopes.entries()) {
        const series = all[k];
        const labels = [];
        for (let m = from; m <= month; m = addMonths(m, 1)) labels.push(m);
        body.append(el("h2", {}, "Cost per ", metric.unit, " (", metric.name, "), ", scopeName(scope)));
        const groups = byCurrency(series.rows.filter((r) => r.currency));
        body.append(chart(`Cost per ${metric.unit} for ${scopeName(scope)} by month, ${from} to ${month}`, {
          type: "line",
          data: {
            labels,
            datasets: [...groups].map(([currency, rows], i) => ({
              label: currency,
              spanGaps: false,
              borderColor: PALETTE[i % PALETTE.length],
              backgroundColor: PALETTE[i % PALETTE.length],
              data: labels.map((m) => {
                const r = rows.find((x) => x.month === m);
                return r && r.unit_cost !== null ? Number(r.unit_cost) : null;
              }),
            })),
          },
          options: {
            plugins: { tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + money(String(c.raw), c.dataset.label, 4) } } },
          },
        }));
        body.append(table(`Cost per ${metric.unit}, ${scopeName(scope)}`,
          ["month", "currency", { label: "cost", num: true }, { label: metric.unit + "s", num: true }, { label: "per " + metric.unit, num: true },
            { label: "month on month", num: true }, { label: "year on year", num: true }, "status"],
          series.rows.slice().reverse().map((r) => [r.month, r.currency, money(r.cost, r.currency), number(r.metric_value, 2),
            money(r.unit_cost, r.currency, 4), percent(r.mom_change_pct), percent(r.yoy_change_pct), r.status.replace(/_/g, " ")])));
      }
    }
    body.append(el("h2", {}, "Summary of ", month),
      table(`Unit costs in ${month} and the month before, with what moved them`,
        ["metric", "scope", "currency", { label: "per unit", num: true }, { label: "month on month", num: true }, { label: "year on year", num: true }, "moved most"],
        summary.entries.map((e) => [e.metric, scopeName(e.scope), e.current.currency, money(e.current.unit_cost, e.current.currency, 4),
          percent(e.current.mom_change_pct), percent(e.current.yoy_change_pct),
          e.movers.map((m) => m.name + " " + (Number(m.change) > 0 ? "+" : "") + money(m.change, e.current.currency)).join(", ")])));
  }

  async function importsView(body) {
    body.append(el("h1", {}, "Imports"));
    if (!who.sees_all) {
      body.append(el("p", {}, "Import runs concern the whole bill: they are shown to admin and finance identities."));
      return;
    }
    const runs = (await api("/api/v1/imports", { limit: "50" })).runs;
    if (!runs.length) {
      body.append(el("p", {}, "No scheduled or requested source has run yet. Configure ", el("code", {}, "[[source]]"),
        " in allot.toml; imports made with ", el("code", {}, "allot import"), " on the command line are not listed here."));
      return;
    }
    body.append(table("The latest runs of each configured source, newest first",
      ["started", "source", "trigger", "status", { label: "rows", num: true }, "months", "error"],
      runs.map((r) => [r.started_at, r.source, r.trigger, el("span", { class: "status-" + r.status }, r.status),
        number(r.rows, 0), r.months.join(" "), r.error || ""])));
  }

  // ---- wiring --------------------------------------------------------------

  document.getElementById("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("token");
    const token = input.value.trim();
    input.value = "";
    // A header value: printable ASCII only.
    if (!/^[\x21-\x7e]+$/.test(token)) return showSignIn("a token is printable ASCII without spaces; paste it again");
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  });
  document.getElementById("sign-out").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", render);
  start();
})();
