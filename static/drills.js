// Drill scoreboard: each drill type's last runs and median times, from GET /drills/history.
// Its own module (one script tag, one container) so the main dashboard can change independently.
// Data goes in through textContent only.
"use strict";

(() => {
  const REFRESH_MS = 5000;
  const TIMES = [["ttd_s", "detect"], ["tta_s", "ack"], ["ttm_s", "mitigate"], ["ttr_s", "resolve"]];
  const root = document.getElementById("drill-history");
  if (!root) return;

  const cell = (tag, text, cls) => {
    const node = document.createElement(tag);
    node.textContent = text;
    if (cls) node.className = cls;
    return node;
  };
  const secs = (v) => (typeof v === "number" ? `${v.toFixed(1)} s` : "–");

  function run(r) {
    const chip = cell("li", r.status, `run ${r.status}`);
    chip.dataset.status = r.status;
    chip.dataset.runId = r.run_id;
    chip.title = [r.started_at, r.reason || "", ...TIMES.map(([k, name]) => `${name} ${secs(r[k])}`)]
      .filter(Boolean).join("\n");
    return chip;
  }

  function render(history) {
    const body = root.querySelector("tbody");
    body.replaceChildren();
    root.querySelector(".empty").hidden = history.drills.length > 0;
    for (const d of history.drills) {
      const tr = document.createElement("tr");
      tr.dataset.drill = d.drill;
      tr.append(cell("td", d.title || d.drill));
      const runs = document.createElement("ul");
      runs.className = "runs";
      runs.append(...d.runs.map(run));
      const last = document.createElement("td");
      last.append(runs);
      tr.append(last);
      for (const [key] of TIMES) {
        const td = cell("td", secs(d.medians[key]), "num");
        td.dataset.key = key;
        tr.append(td);
      }
      tr.append(cell("td", `${d.passed} / ${d.failed}`, "num"));
      body.append(tr);
    }
    root.dataset.loaded = "true";
  }

  async function refresh() {
    try {
      const answer = await fetch("/drills/history?last=5", { cache: "no-store" });
      if (answer.ok) render(await answer.json());
    } catch (err) {
      // the main dashboard's banner already reports an unreachable service
    }
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
})();
