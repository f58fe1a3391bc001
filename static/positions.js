// Desk panels of the dashboard: positions and PnL (GET /positions), risk limits (GET /risk) and the
// audit log (GET /admin/audit, with the admin token saved above). A module of its own so the status
// panels in dashboard.js and these evolve apart. Text from data goes in through textContent only.
"use strict";

(() => {
  const REFRESH_MS = 2500;
  const TOKEN_KEY = "optsim.adminToken";  // the same session key dashboard.js saves the token under
  const $ = (id) => document.getElementById(id);

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) node.append(child);
    return node;
  }

  const money = (v) => (v === null || v === undefined ? "–"
    : v.toLocaleString(undefined, {style: "currency", currency: "USD", minimumFractionDigits: 2}));
  const num = (v, digits = 2) => (v === null || v === undefined ? "–"
    : v.toLocaleString(undefined, {minimumFractionDigits: digits, maximumFractionDigits: digits}));
  const pnlClass = (v) => (v > 0 ? "pnl-up" : v < 0 ? "pnl-down" : "");

  function rows(tbody, list) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    for (const row of list) tbody.append(row);
  }

  // ------------------------------------------------------------ positions and PnL
  function renderPositions(view) {
    const table = $("positions");
    rows(table.tBodies[0], view.positions.map((p) => el("tr", {"data-symbol": p.occ_symbol, "data-account": p.account},
      el("td", {text: p.account}), el("td", {text: p.occ_symbol}),
      el("td", {class: "num", text: p.qty}), el("td", {class: "num", text: num(p.avg_price, 4)}),
      el("td", {class: "num", text: num(p.mark, 4), title: `mark: ${p.mark_source}`}),
      el("td", {class: `num ${pnlClass(p.realized_pnl)}`, text: money(p.realized_pnl), "data-value": p.realized_pnl}),
      el("td", {class: `num ${pnlClass(p.unrealized_pnl)}`, text: money(p.unrealized_pnl),
                "data-value": p.unrealized_pnl}),
      el("td", {class: "num", text: money(p.fees)}),
      el("td", {class: `num ${pnlClass(p.net_pnl)}`, text: money(p.net_pnl), "data-value": p.net_pnl}),
      el("td", {class: "num", text: num(p.delta, 0)}), el("td", {class: "num", text: num(p.gamma)}),
      el("td", {class: "num", text: num(p.vega)}), el("td", {class: "num", text: num(p.theta)}))));
    const t = view.total;
    rows(table.tFoot, [el("tr", {},
      el("th", {text: "Total"}), el("th", {text: `${view.count} series`}), el("th"), el("th"), el("th"),
      el("th", {class: `num ${pnlClass(t.realized_pnl)}`, text: money(t.realized_pnl)}),
      el("th", {class: `num ${pnlClass(t.unrealized_pnl)}`, text: money(t.unrealized_pnl)}),
      el("th", {class: "num", text: money(t.fees)}),
      el("th", {class: `num ${pnlClass(t.net_pnl)}`, text: money(t.net_pnl), id: "pnl-total", "data-value": t.net_pnl}),
      el("th", {class: "num", text: num(t.delta, 0)}), el("th", {class: "num", text: num(t.gamma)}),
      el("th", {class: "num", text: num(t.vega)}), el("th", {class: "num", text: num(t.theta)}))]);
    $("positions-empty").hidden = view.count > 0;
  }

  // ------------------------------------------------------------ risk limits
  function limitRow(scope, name, use) {
    const ratio = use.utilization;
    const bar = el("span", {class: "util-bar"});
    bar.style.width = `${Math.min(ratio, 1) * 100}%`;
    const level = ratio >= 1 ? "fail" : ratio >= 0.8 ? "warn" : "pass";
    return el("tr", {"data-limit": `${scope}:${name}`, "data-utilization": ratio, class: `util-${level}`},
      el("td", {text: scope}), el("td", {text: name}), el("td", {class: "num", text: num(use.used)}),
      el("td", {class: "num", text: num(use.limit)}),
      el("td", {class: "util"}, el("span", {class: "util-track"}, bar), el("span", {text: ` ${(ratio * 100).toFixed(1)}%`})));
  }

  function renderRisk(view) {
    const t = view.trading_state;
    const state = $("risk-state");
    state.textContent = `Trading ${t.state}` + (t.state === "ACTIVE" ? "" : ` — set by ${t.actor}: ${t.reason}`);
    state.dataset.state = t.state;
    const list = [limitRow("firm", "daily_loss", view.pnl.daily_loss), limitRow("firm", "drawdown", view.pnl.drawdown)];
    for (const acc of view.accounts) {
      for (const [name, use] of Object.entries(acc.limits)) list.push(limitRow(acc.account, name, use));
      for (const [root, u] of Object.entries(acc.underlyings)) {
        for (const [name, use] of Object.entries(u.limits)) list.push(limitRow(`${acc.account} ${root}`, name, use));
      }
    }
    rows($("risk-limits").tBodies[0], list);
  }

  // ------------------------------------------------------------ audit log
  async function renderAudit() {
    const token = sessionStorage.getItem(TOKEN_KEY) || "";
    const note = $("audit-note");
    if (!token) {
      note.textContent = "Enter the admin token above to see the audit log.";
      note.hidden = false;
      return;
    }
    const res = await fetch("/admin/audit?limit=50", {cache: "no-store", headers: {"Authorization": `Bearer ${token}`}});
    if (!res.ok) {
      note.textContent = `Audit log: HTTP ${res.status}` + (res.status === 401 || res.status === 403
        ? " (the admin token was refused)" : "");
      note.hidden = false;
      return;
    }
    const body = await res.json();
    note.hidden = body.count > 0;
    note.textContent = "No admin actions yet.";
    rows($("audit").tBodies[0], body.entries.map((e) => el("tr", {"data-seq": e.seq, "data-action": e.action},
      el("td", {text: new Date(e.ts).toLocaleTimeString()}), el("td", {text: e.actor}), el("td", {text: e.action}),
      el("td", {text: e.target ?? ""}), el("td", {text: e.reason ?? ""}), el("td", {text: e.remote_addr ?? ""}))));
  }

  async function refresh() {
    try {
      const [positions, risk] = await Promise.all([
        fetch("/positions", {cache: "no-store"}).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`)))),
        fetch("/risk", {cache: "no-store"}).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`)))),
      ]);
      renderPositions(positions);
      renderRisk(risk);
      await renderAudit();
      $("desk-error").hidden = true;
    } catch (err) {
      $("desk-error").textContent = `Positions and risk: ${err.message}; retrying.`;
      $("desk-error").hidden = false;
    } finally {
      setTimeout(refresh, REFRESH_MS);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const host = $("desk-panels");
    host.append(
      el("p", {id: "desk-error", class: "banner error", hidden: ""}),
      el("section", {class: "panel", id: "positions-panel"}, el("h2", {text: "Positions and PnL"}),
        el("table", {class: "grid", id: "positions"},
          el("thead", {}, el("tr", {}, ...["Account", "Series", "Qty", "Avg cost", "Mark", "Realized", "Unrealized",
            "Fees", "Net PnL", "Delta", "Gamma", "Vega", "Theta"].map((h) => el("th", {text: h})))),
          el("tbody"), el("tfoot")),
        el("p", {class: "muted", id: "positions-empty", text: "No positions yet."})),
      el("section", {class: "panel", id: "risk-panel"}, el("h2", {text: "Risk limits"}),
        el("p", {id: "risk-state", class: "sub"}),
        el("table", {class: "grid", id: "risk-limits"},
          el("thead", {}, el("tr", {}, ...["Scope", "Limit", "Used", "Cap", "Utilization"].map((h) => el("th", {text: h})))),
          el("tbody"))),
      el("section", {class: "panel", id: "audit-panel"}, el("h2", {text: "Audit log"}),
        el("table", {class: "grid", id: "audit"},
          el("thead", {}, el("tr", {}, ...["Time", "Who", "Action", "Target", "Why", "From"].map((h) => el("th", {text: h})))),
          el("tbody")),
        el("p", {class: "muted", id: "audit-note"})));
    const style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = "/static/positions.css";
    document.head.append(style);
    refresh();
  });
})();
