// Ops dashboard: polls /api/summary and draws it with plain DOM and hand-written SVG.
// Every piece of text that comes from data goes in through textContent or setAttribute, never
// innerHTML, so an incident summary holding markup is shown as text.
"use strict";

(() => {
  const REFRESH_MS = 2500;
  const FETCH_TIMEOUT_MS = 4000;
  const TOKEN_KEY = "optsim.adminToken";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f6feb", "#cf222e", "#bf8700", "#1a7f37", "#8250df", "#e16f24", "#0598bc",
                   "#bc4c00", "#6e7781", "#d63384", "#2da44e"];
  const $ = (id) => document.getElementById(id);
  let lastGood = null;
  let timer = null;

  // ------------------------------------------------------------ DOM helpers
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("data-") || key === "title" || key === "href" || key === "type") {
        node.setAttribute(key, String(value));
      } else node[key] = value;
    }
    for (const child of children) node.append(child);
    return node;
  }

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.floor(seconds);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }

  const pct = (ratio) => (ratio === null || ratio === undefined ? "–" : `${(ratio * 100).toFixed(1)}%`);
  const clock = (epoch) => new Date(epoch * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});

  // ------------------------------------------------------------ status strip
  function setStatus(tile, status) {
    tile.classList.remove("status-pass", "status-warn", "status-fail");
    tile.classList.add(`status-${status}`);
  }

  function renderHealth(health) {
    const node = $("health-status");
    node.textContent = health.status.toUpperCase();
    node.dataset.status = health.status;
    $("health-http").textContent = `HTTP ${health.http_status}`;
    setStatus($("tile-health"), health.status);
    const body = clear($("checks").tBodies[0]);
    for (const [name, check] of Object.entries(health.checks)) {
      const observed = check.observedValue === null ? "–" : `${check.observedValue}${check.observedUnit ? " " + check.observedUnit : ""}`;
      body.append(el("tr", {"data-check": name},
        el("td", {text: name}),
        el("td", {class: `st st-${check.status}`, text: check.status}),
        el("td", {text: observed}),
        el("td", {text: check.output || ""})));
    }
  }

  function renderFeed(feed) {
    const node = $("feed-age");
    const known = feed.heartbeat_age_s !== null && feed.heartbeat_age_s !== undefined;
    node.textContent = known ? `${feed.heartbeat_age_s.toFixed(2)} s` : "no heartbeat";
    node.dataset.value = known ? feed.heartbeat_age_s : "";
    node.dataset.status = feed.status;
    $("feed-thresholds").textContent = `warn > ${feed.warn_after_s} s · stale > ${feed.stale_after_s} s · seq ${feed.seq ?? "–"}`;
    setStatus($("tile-feed"), feed.status);
    const gauge = clear($("feed-gauge"));
    const max = feed.stale_after_s * 2;
    const x = (v) => Math.min(200, (v / max) * 200);
    gauge.append(svg("rect", {x: 0, y: 3, width: x(feed.warn_after_s), height: 8, class: "zone-pass"}));
    gauge.append(svg("rect", {x: x(feed.warn_after_s), y: 3, width: x(feed.stale_after_s) - x(feed.warn_after_s), height: 8, class: "zone-warn"}));
    gauge.append(svg("rect", {x: x(feed.stale_after_s), y: 3, width: 200 - x(feed.stale_after_s), height: 8, class: "zone-fail"}));
    if (known) gauge.append(svg("rect", {x: Math.max(0, x(feed.heartbeat_age_s) - 1.5), y: 0, width: 3, height: 14, class: "marker"}));
  }

  function renderKillSwitch(state) {
    const engaged = state !== "ACTIVE";
    const node = $("kill-switch");
    node.textContent = engaged ? `ENGAGED` : "OFF";
    node.dataset.state = state;
    $("trading-state").textContent = `trading state ${state}`;
    setStatus($("tile-kill"), state === "HALTED" ? "fail" : engaged ? "warn" : "pass");
  }

  function renderVenues(venues) {
    const list = clear($("venues"));
    for (const v of venues) {
      list.append(el("li", {class: `chip ${v.up ? "up" : "down"}`, "data-venue": v.venue, "data-up": v.up,
                            text: `${v.venue} ${v.up ? "up" : "down"}`}));
    }
    const down = venues.filter((v) => !v.up).length;
    setStatus($("tile-venues"), down === 0 ? "pass" : down === venues.length ? "fail" : "warn");
  }

  function renderOpenIncidents(inc) {
    const list = clear($("open-by-severity"));
    for (const [sev, n] of Object.entries(inc.open_by_severity)) {
      list.append(el("li", {class: `chip ${sev.toLowerCase()}${n ? "" : " none"}`, "data-sev": sev, "data-value": n,
                            text: `${sev}: ${n}`}));
    }
    const sev1 = inc.open_by_severity.SEV1 || 0;
    setStatus($("tile-incidents"), sev1 ? "fail" : inc.open ? "warn" : "pass");
  }

  function renderFills(orders) {
    const node = $("fill-rate");
    node.textContent = pct(orders.fill_rate);
    node.dataset.value = orders.fill_rate ?? "";
    const st = orders.by_status;
    $("fill-counts").textContent = `filled ${st.filled || 0} · rejected ${st.rejected || 0} · cancelled ${st.cancelled || 0}` +
      ` · ${orders.fills} fills, ${orders.contracts} contracts · ${orders.open} open`;
    $("fill-counts").dataset.fills = orders.fills;
  }

  // ------------------------------------------------------------ incidents table and actions
  function renderIncidents(inc) {
    const body = clear($("incidents").tBodies[0]);
    $("incidents-empty").hidden = inc.table.length > 0;
    for (const row of inc.table) {
      const link = row.runbook.startsWith("/runbook#") ? row.runbook : "/runbook";
      const actions = el("td", {class: "actions"},
        el("button", {type: "button", class: "ack", text: "Ack", disabled: row.status !== "open",
                      onclick: () => act(row.incident_id, "ack")}),
        el("button", {type: "button", class: "resolve", text: "Resolve", disabled: row.status === "resolved",
                      onclick: () => act(row.incident_id, "resolve")}));
      body.append(el("tr", {"data-id": row.incident_id, "data-status": row.status, class: `row-${row.status}`},
        el("td", {class: "mono", text: row.incident_id}),
        el("td", {text: row.type}),
        el("td", {class: `sev ${row.severity.toLowerCase()}`, text: row.severity}),
        el("td", {text: age(row.age_s), title: row.opened_at}),
        el("td", {class: "status", text: row.status + (row.acknowledged_by && row.status === "acknowledged" ? ` (${row.acknowledged_by})` : "")}),
        el("td", {class: "summary", text: row.summary}),
        el("td", {}, el("a", {href: link, text: "runbook"})),
        actions));
    }
  }

  function message(text, kind) {
    const node = $("action-message");
    node.textContent = text;
    node.className = `banner ${kind}`;
    node.hidden = false;
  }

  async function act(id, action) {
    const token = sessionStorage.getItem(TOKEN_KEY) || "";
    if (!token) {
      message(`Cannot ${action === "ack" ? "acknowledge" : "resolve"} ${id}: enter the admin token above first.`, "error");
      return;
    }
    try {
      const res = await fetch(`/incidents/${encodeURIComponent(id)}/${action}`, {
        method: "POST", cache: "no-store",
        headers: {"Authorization": `Bearer ${token}`, "Content-Type": "application/json"},
        body: JSON.stringify({actor: "dashboard"}),
      });
      if (res.status === 401 || res.status === 403) {
        message(`Not authorised (HTTP ${res.status}): the admin token was refused. Check it and save it again.`, "error");
      } else if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        message(`${id}: ${body.message || `HTTP ${res.status}`}`, "error");
      } else {
        const inc = await res.json();
        message(`${inc.incident_id} is now ${inc.status}.`, "ok");
      }
    } catch (err) {
      message(`${id}: request failed (${err.message})`, "error");
    }
    refresh();
  }

  // ------------------------------------------------------------ charts
  function barChart(target, data) {
    const chart = clear($(target));
    const entries = Object.entries(data).sort((a, b) => b[1] - a[1]).slice(0, 8);
    if (!entries.length) {
      chart.append(svg("text", {x: 280, y: 80, "text-anchor": "middle", class: "empty"}, "no data yet"));
      return;
    }
    const max = Math.max(...entries.map((e) => e[1]));
    const rowH = Math.min(30, 150 / entries.length);
    entries.forEach(([key, value], i) => {
      const y = 5 + i * rowH;
      const g = svg("g", {"data-key": key, "data-value": value});
      g.append(svg("text", {x: 115, y: y + rowH * 0.65, "text-anchor": "end", class: "label"}, key));
      g.append(svg("rect", {x: 120, y: y + 2, width: Math.max(1, (value / max) * 380), height: rowH - 4,
                            fill: PALETTE[i % PALETTE.length]}));
      g.append(svg("text", {x: 125 + (value / max) * 380, y: y + rowH * 0.65, class: "value"}, value));
      chart.append(g);
    });
  }

  function axes(chart, w, h, left, bottom, yMax, yLabel) {
    chart.append(svg("line", {x1: left, y1: 5, x2: left, y2: h - bottom, class: "axis"}));
    chart.append(svg("line", {x1: left, y1: h - bottom, x2: w - 5, y2: h - bottom, class: "axis"}));
    chart.append(svg("text", {x: left - 4, y: 12, "text-anchor": "end", class: "tick"}, yLabel(yMax)));
    chart.append(svg("text", {x: left - 4, y: h - bottom, "text-anchor": "end", class: "tick"}, yLabel(0)));
  }

  function latencyChart(latency) {
    const chart = clear($("chart-latency"));
    const legend = clear($("legend-latency"));
    const [w, h, left, bottom] = [560, 200, 55, 20];
    const points = latency.series;
    const values = points.flatMap((p) => [p.p99, p.p95, p.p50]).filter((v) => v !== null);
    const yMax = Math.max(latency.slo_p99_s * 1.1, ...values, 0.001) * 1000;
    axes(chart, w, h, left, bottom, yMax, (v) => `${v.toFixed(v < 10 ? 1 : 0)} ms`);
    const t0 = points.length ? points[0].t : 0;
    const span = Math.max(latency.bucket_s, (points.length ? points[points.length - 1].t : 0) - t0);
    const x = (t) => left + ((t - t0) / span) * (w - left - 10);
    const y = (s) => h - bottom - ((s * 1000) / yMax) * (h - bottom - 10);
    const slo = y(latency.slo_p99_s);
    chart.append(svg("line", {x1: left, y1: slo, x2: w - 5, y2: slo, class: "slo"}));
    chart.append(svg("text", {x: w - 8, y: slo - 3, "text-anchor": "end", class: "tick"}, "p99 SLO"));
    if (points.length) {
      chart.append(svg("text", {x: left, y: h - 5, class: "tick"}, clock(t0)));
      chart.append(svg("text", {x: w - 5, y: h - 5, "text-anchor": "end", class: "tick"}, clock(t0 + span)));
    }
    [["p50", PALETTE[3]], ["p95", PALETTE[2]], ["p99", PALETTE[1]]].forEach(([q, color]) => {
      let run = [];
      const flush = () => {
        if (run.length === 1) chart.append(svg("circle", {cx: run[0][0], cy: run[0][1], r: 2.5, fill: color, "data-q": q}));
        if (run.length > 1) chart.append(svg("polyline", {points: run.map((p) => p.join(",")).join(" "), stroke: color, class: "line", "data-q": q}));
        run = [];
      };
      for (const p of points) {
        if (p[q] === null) flush();
        else run.push([x(p.t).toFixed(1), y(p[q]).toFixed(1)]);
      }
      flush();
      const last = [...points].reverse().find((p) => p[q] !== null);
      const text = `${q} ${last ? (last[q] * 1000).toFixed(2) + " ms" : "–"}`;
      legend.append(el("li", {"data-q": q}, el("span", {class: "swatch", "data-color": color}), text));
    });
    colorSwatches(legend);
  }

  function incidentChart(over) {
    const chart = clear($("chart-incidents"));
    const legend = clear($("legend-incidents"));
    const [w, h, left, bottom] = [560, 200, 30, 20];
    const types = Object.keys(over.by_type).sort();
    const totals = Array.from({length: over.buckets}, (_, i) => types.reduce((n, t) => n + over.by_type[t][i], 0));
    const yMax = Math.max(1, ...totals);
    axes(chart, w, h, left, bottom, yMax, (v) => String(v));
    const bw = (w - left - 10) / over.buckets;
    chart.append(svg("text", {x: left, y: h - 5, class: "tick"}, clock(over.start)));
    chart.append(svg("text", {x: w - 5, y: h - 5, "text-anchor": "end", class: "tick"}, "now"));
    const stack = new Array(over.buckets).fill(0);
    types.forEach((type, k) => {
      const color = PALETTE[k % PALETTE.length];
      over.by_type[type].forEach((n, i) => {
        if (!n) return;
        const hh = (n / yMax) * (h - bottom - 10);
        const yy = h - bottom - stack[i] - hh;
        stack[i] += hh;
        const bar = svg("rect", {x: left + i * bw + 1, y: yy, width: Math.max(1, bw - 2), height: hh, fill: color,
                                 "data-type": type, "data-value": n});
        bar.append(svg("title", {}, `${type}: ${n} at ${clock(over.start + i * over.bucket_s)}`));
        chart.append(bar);
      });
      const total = over.by_type[type].reduce((a, b) => a + b, 0);
      legend.append(el("li", {"data-type": type}, el("span", {class: "swatch", "data-color": color}), `${type} (${total})`));
    });
    if (!types.length) chart.append(svg("text", {x: w / 2, y: h / 2, "text-anchor": "middle", class: "empty"}, "no incidents in the window"));
    colorSwatches(legend);
  }

  // Swatch colours are set through the CSSOM (allowed by the CSP), not a style attribute.
  function colorSwatches(legend) {
    for (const s of legend.querySelectorAll(".swatch")) s.style.background = s.dataset.color;
  }

  // ------------------------------------------------------------ refresh loop
  function render(s) {
    renderHealth(s.health);
    renderFeed(s.feed);
    renderKillSwitch(s.trading_state);
    renderVenues(s.venues);
    renderOpenIncidents(s.incidents);
    renderFills(s.orders);
    renderIncidents(s.incidents);
    barChart("chart-underlying", s.orders.by_underlying);
    barChart("chart-venue", s.orders.by_venue);
    barChart("chart-fills", s.orders.fills_by_venue);
    barChart("chart-rejects", s.orders.reject_reasons);
    latencyChart(s.latency);
    incidentChart(s.incidents.over_time);
  }

  async function refresh() {
    clearTimeout(timer);
    const abort = new AbortController();
    const giveUp = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
    try {
      const res = await fetch("/api/summary", {cache: "no-store", signal: abort.signal});
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const summary = await res.json();
      render(summary);
      lastGood = new Date();
      const stamp = $("last-updated");
      stamp.textContent = lastGood.toLocaleTimeString();
      stamp.dateTime = lastGood.toISOString();
      stamp.dataset.generated = summary.generated_at;
      $("fetch-banner").hidden = true;
    } catch (err) {
      const reason = err.name === "AbortError" ? "timed out" : err.message;
      const banner = $("fetch-banner");
      banner.textContent = `Cannot reach the service (${reason}). Showing data from ` +
        (lastGood ? lastGood.toLocaleTimeString() : "never") + "; retrying.";
      banner.hidden = false;
    } finally {
      clearTimeout(giveUp);
      timer = setTimeout(refresh, REFRESH_MS);
    }
  }

  function showTokenState() {
    $("token-state").textContent = sessionStorage.getItem(TOKEN_KEY) ? "token set for this tab" : "no token";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = $("token").value.trim();
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      $("token").value = "";
      showTokenState();
    });
    $("token-clear").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showTokenState();
    });
    showTokenState();
    refresh();
  });
})();
