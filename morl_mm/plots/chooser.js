// The report's chooser: picks a policy with exactly the rule of ParetoSet.select /
// select_by_constraints (morl_mm/pareto/pareto_set.py) on the study's float64 values, and moves the
// selected markers and the trajectory plot. Plotting is plotly's; this is only glue.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("chooser-data").textContent);
  const d = D.objectives.length, n = D.labels.length, S = D.scenario;
  const ATOL = 1e-6; // morl_mm.pareto.indicators.WEIGHT_ATOL
  const num = (x) => (x === null ? NaN : x);
  const V = D.values[S].map((row) => row.map(num));
  const scales = D.scales.map(num);
  const $ = (id) => document.getElementById(id);
  const fmt = (x, digits) => (Number.isFinite(x) ? Number(x.toPrecision(digits || 4)).toString() : "-");

  // -- the selection rules ------------------------------------------------------------------------
  function validateWeights(w) { // indicators.validate_weights
    if (w.length !== d) throw new Error(`weights: expected ${d} numbers, got ${w.length}`);
    if (!w.every(Number.isFinite)) throw new Error(`weights: must be finite, got [${w}]`);
    if (w.some((x) => x < -ATOL)) throw new Error(`weights: must be >= 0 (on the simplex), got [${w}]`);
    let sum = 0;
    for (const x of w) sum += x;
    if (Math.abs(sum - 1) > ATOL) throw new Error(`weights: must sum to 1 (on the simplex), got [${w}] with sum ${sum}`);
    return w.map((x) => Math.max(x, 0));
  }

  function argmaxFirst(indices, score) { // np.argmax: the first maximum; a NaN wins (the first NaN)
    let best = -1, bestValue = -Infinity;
    for (const i of indices) {
      const u = score(i);
      if (Number.isNaN(u)) return i;
      if (best < 0 || u > bestValue) { best = i; bestValue = u; }
    }
    return best;
  }

  function selectByWeights(weights) { // ParetoSet.select: argmax of w . (J / scales)
    const w = validateWeights(weights);
    const all = [...Array(n).keys()];
    return argmaxFirst(all, (i) => { let u = 0; for (let j = 0; j < d; j++) u += w[j] * (V[i][j] / scales[j]); return u; });
  }

  function selectByConstraints(maximise, atLeast, atMost) { // ParetoSet.select_by_constraints
    const target = D.objectives.indexOf(maximise);
    if (target < 0) throw new Error(`unknown objective '${maximise}'; objectives: ${D.objectives.join(", ")}`);
    const total = new Array(n).fill(0);
    for (const [bounds, sign] of [[atLeast, 1], [atMost, -1]]) {
      for (const [name, bound] of Object.entries(bounds)) {
        const j = D.objectives.indexOf(name);
        if (j < 0) throw new Error(`unknown objective '${name}'`);
        if (!Number.isFinite(bound)) throw new Error(`bound on '${name}' must be finite, got ${bound}`);
        for (let i = 0; i < n; i++) total[i] += Math.max(sign * (bound - V[i][j]), 0) / scales[j];
      }
    }
    const feasible = [...Array(n).keys()].filter((i) => total[i] === 0);
    if (feasible.length === 0) {
      const order = [...Array(n).keys()].sort((a, b) => { // np.argsort(kind="stable"): NaN last
        const x = total[a], y = total[b];
        if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) - Number.isNaN(y) || a - b;
        return x - y || a - b;
      });
      return { index: -1, closest: order.slice(0, 3), total };
    }
    return { index: argmaxFirst(feasible, (i) => V[i][target]) };
  }

  // -- the URL fragment ---------------------------------------------------------------------------
  // #weights=a,b,c  |  #maximise=pnl&min_quoting_ratio=0.9&max_inventory_risk=20  |  #policy=label
  function parseFragment() {
    const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    if (params.has("weights")) return { weights: params.get("weights").split(",").map((x) => (x.trim() === "" ? NaN : Number(x))) };
    if (params.has("policy")) return { label: params.get("policy") };
    const atLeast = {}, atMost = {};
    let any = false;
    for (const [key, raw] of params) {
      const m = /^(min|max)_(.+)$/.exec(key);
      if (!m) continue;
      const j = D.objectives.indexOf(m[2]);
      if (j < 0) throw new Error(`fragment: unknown objective in '${key}'`);
      const x = raw.trim() === "" ? NaN : Number(raw);
      any = true;
      if (m[1] === "min") atLeast[m[2]] = x;
      else if (D.bounds[j].cost) atLeast[m[2]] = -x; // a cost's magnitude at most x, as the CLI's --max-inventory-risk
      else atMost[m[2]] = x;
    }
    if (any) return { maximise: params.get("maximise") || "pnl", at_least: atLeast, at_most: atMost };
    return null;
  }

  function fragmentOf(c) {
    if (c.weights) return "weights=" + c.weights.join(","); // shortest round-trip form: the CLI reads the same doubles
    if (c.label) return "policy=" + encodeURIComponent(c.label);
    const parts = ["maximise=" + c.maximise];
    for (const [name, x] of Object.entries(c.at_least)) {
      const j = D.objectives.indexOf(name);
      parts.push(D.bounds[j].cost ? `max_${name}=${-x}` : `min_${name}=${x}`);
    }
    for (const [name, x] of Object.entries(c.at_most)) parts.push(`max_${name}=${x}`);
    return parts.join("&");
  }

  // -- the controls -------------------------------------------------------------------------------
  const weightInputs = D.objectives.map((_, j) => $(`w-${j}`));
  const constraintRows = [];
  (function buildConstraintSliders() {
    const box = $("constraint-sliders");
    D.bounds.forEach((b, j) => {
      const cost = b.cost;
      const low = cost ? -b.high : b.low, high = cost ? -b.low : b.high; // a cost's slider runs over its magnitude
      const step = high > low ? (high - low) / 200 : 1;
      const row = document.createElement("div");
      row.className = "slider";
      const name = D.objectives[j], unit = D.units[j] ? ` [${D.units[j]}]` : "";
      row.innerHTML = `<label><input type="checkbox" id="c-${j}-on"> ${cost ? "max" : "min"} ${name}${cost ? " (magnitude)" : ""}${unit}</label> ` +
        `<input type="range" id="c-${j}" min="${low}" max="${high}" step="${step}" value="${cost ? high : low}"> <output id="c-${j}-value"></output>`;
      box.appendChild(row);
      constraintRows.push({ j, cost, on: row.querySelector(`#c-${j}-on`), slider: row.querySelector(`#c-${j}`), out: row.querySelector(`#c-${j}-value`) });
    });
  })();

  function constraintsFromControls() {
    const c = { maximise: $("maximise").value, at_least: {}, at_most: {} };
    for (const r of constraintRows) {
      r.out.textContent = fmt(Number(r.slider.value));
      if (!r.on.checked || D.objectives[r.j] === c.maximise) continue;
      const x = Number(r.slider.value);
      if (r.cost) c.at_least[D.objectives[r.j]] = -x; else c.at_least[D.objectives[r.j]] = x;
    }
    return c;
  }

  function setControls(c) {
    const byWeights = !!c.weights || (!c.maximise && !c.label);
    $("mode-weights").checked = byWeights;
    $("mode-constraints").checked = !byWeights && !c.label;
    $("weights-panel").disabled = !byWeights;
    $("constraints-panel").disabled = byWeights;
    if (c.weights) c.weights.forEach((x, j) => { weightInputs[j].value = x; $(`w-${j}-value`).textContent = fmt(x, 3); });
    if (c.maximise) {
      $("maximise").value = c.maximise;
      for (const r of constraintRows) {
        const name = D.objectives[r.j];
        const given = name in c.at_least ? c.at_least[name] : name in c.at_most ? c.at_most[name] : null;
        r.on.checked = given !== null;
        if (given !== null) r.slider.value = r.cost && name in c.at_least ? -given : given;
        r.out.textContent = fmt(Number(r.slider.value));
      }
    }
  }

  function onWeightSlider(event) { // keep the weights on the simplex: rescale the others
    const k = Number(event.target.dataset.index);
    const w = weightInputs.map((x) => Number(x.value));
    const rest = w.reduce((a, x, j) => (j === k ? a : a + x), 0);
    const left = 1 - w[k];
    for (let j = 0; j < d; j++) if (j !== k) w[j] = rest > 0 ? (w[j] * left) / rest : left / (d - 1);
    const sum = w.reduce((a, x) => a + x, 0);
    w[k] += 1 - sum; // rounding: sum exactly 1
    apply({ weights: w }, true);
  }

  // -- the display --------------------------------------------------------------------------------
  function card(i) {
    const rows = D.scenarios.map((s) => {
      const v = D.values[s][i].map(num), c = D.ci[s] ? D.ci[s][i].map(num) : null;
      return `<tr><td class="text">${s}</td>` + v.map((x, j) => `<td>${fmt(x)}${c ? " ± " + fmt(c[j], 2) : ""}</td>`).join("") + "</tr>";
    });
    const head = "<tr><th class='text'>scenario</th>" + D.objectives.map((o, j) => `<th>${o}${D.units[j] ? " [" + D.units[j] + "]" : ""}</th>`).join("") + "</tr>";
    const metrics = Object.values(D.metrics).map((m) => `${m.header}: ${fmt(num(m.values[i]))}`).join("; ");
    return `<table class="compact"><thead>${head}</thead><tbody>${rows.join("")}</tbody></table>` +
      `<p class="note">Preference ${D.preference[i]}; ${D.nondominated[i] ? "non-dominated" : "dominated"} in '${S}'. ${nearestClassical(i)}</p>` +
      `<p class="note">Metrics in '${S}': ${metrics}</p>`;
  }

  function nearestClassical(i) { // summary.nearest_classical
    const r = D.objectives.indexOf(D.risk);
    let best = -1;
    for (let k = 0; k < n; k++) {
      if (D.kinds[k] !== "classical" || k === i || !Number.isFinite(V[k][r])) continue;
      if (best < 0 || Math.abs(V[k][r] - V[i][r]) < Math.abs(V[best][r] - V[i][r])) best = k;
    }
    if (best < 0) return "";
    const diffs = D.objectives.map((o, j) => `${o} ${V[i][j] - V[best][j] >= 0 ? "+" : ""}${fmt(V[i][j] - V[best][j])}`);
    return `Nearest classical strategy in ${D.risk}: ${D.labels[best]}; against it: ${diffs.join(", ")}.`;
  }

  function show(i, criterionText) {
    $("selected-policy").textContent = D.labels[i];
    $("selected-kind").textContent = `(${D.kinds[i]})`;
    $("selection-criterion").textContent = criterionText;
    $("selection-error").textContent = "";
    $("selected-card").innerHTML = card(i);
    const front = $("chooser-front");
    for (const t of front.layout.meta.selected_traces) Plotly.restyle(front, { x: [[V[i][t.x]]], y: [[V[i][t.y]]] }, [t.trace]);
    $("trajectory-label").textContent = D.labels[i];
    const traj = D.trajectories[D.labels[i]], plot = $("chooser-trajectory");
    if (!traj) {
      $("trajectory-note").textContent = `No sample episode of ${D.labels[i]} is embedded (only the non-dominated policies' are).`;
      Plotly.restyle(plot, { x: [[], [], [], [], []], y: [[], [], [], [], []] });
      return;
    }
    const t = D.time.map(num), dt = t.length > 1 ? t[1] - t[0] : 0, quoteTime = t.map((x) => x - dt);
    const series = (k) => (traj[k] || []).map(num);
    $("trajectory-note").textContent = "First stored sample episode, base model. Quotes are drawn at the step they rest in; gaps: side not quoted.";
    Plotly.restyle(plot, { x: [t, quoteTime, quoteTime, t, t], y: [series("mid"), series("bid"), series("ask"), series("inventory"), series("wealth")] });
  }

  function showError(message, closest) {
    $("selected-policy").textContent = "none";
    $("selected-kind").textContent = "";
    $("selected-card").innerHTML = "";
    let text = message;
    if (closest) text += " Closest: " + closest.idx.map((i) => `${D.labels[i]} (normalised violation ${fmt(closest.total[i], 3)})`).join(", ") + ".";
    $("selection-error").textContent = text;
  }

  function describe(c) {
    if (c.weights) return `by preference weights w = (${c.weights.map((x) => fmt(x, 3)).join(", ")}): the largest w · (J / scales) in '${S}'`;
    if (c.label) return "chosen by the principal";
    const b = Object.entries(c.at_least).map(([k, x]) => (D.bounds[D.objectives.indexOf(k)].cost ? `${k} magnitude <= ${-x}` : `${k} >= ${x}`))
      .concat(Object.entries(c.at_most).map(([k, x]) => `${k} <= ${x}`));
    return `by constraints: the largest ${c.maximise}` + (b.length ? ` with ${b.join(" and ")}` : " (no bound)") + ` in '${S}'`;
  }

  function apply(c, updateHash) {
    setControls(c);
    if (updateHash) history.replaceState(null, "", "#" + fragmentOf(c));
    try {
      if (c.weights) return show(selectByWeights(c.weights), describe(c));
      if (c.label) {
        const i = D.labels.indexOf(c.label);
        if (i < 0) throw new Error(`unknown policy label '${c.label}'`);
        return show(i, describe(c));
      }
      const r = selectByConstraints(c.maximise, c.at_least, c.at_most);
      if (r.index < 0) return showError(`No policy satisfies ${describe(c).replace(/^by constraints: the largest \S+ with /, "")}.`, { idx: r.closest, total: r.total });
      show(r.index, describe(c));
    } catch (err) {
      showError(String(err.message || err));
    }
  }

  function fromFragment() {
    let c;
    try { c = parseFragment(); } catch (err) { return showError(String(err.message || err)); }
    apply(c || D.initial, false);
  }

  weightInputs.forEach((x) => x.addEventListener("input", onWeightSlider));
  for (const r of constraintRows) { r.slider.addEventListener("input", () => apply(constraintsFromControls(), true)); r.on.addEventListener("change", () => apply(constraintsFromControls(), true)); }
  $("maximise").addEventListener("change", () => apply(constraintsFromControls(), true));
  $("mode-weights").addEventListener("change", () => apply({ weights: weightInputs.map((x) => Number(x.value)).every((x) => x >= 0) && Math.abs(weightInputs.reduce((a, x) => a + Number(x.value), 0) - 1) <= ATOL ? weightInputs.map((x) => Number(x.value)) : new Array(d).fill(1 / d) }, true));
  $("mode-constraints").addEventListener("change", () => apply(constraintsFromControls(), true));
  $("chooser-front").on("plotly_click", (ev) => { const p = ev.points[0]; if (p && p.customdata !== undefined) apply({ label: D.labels[p.customdata] }, true); });
  window.addEventListener("hashchange", fromFragment);
  if (!D.initial.weights) weightInputs.forEach((x) => { x.value = 1 / d; });
  fromFragment();
})();

// sortable tables: click a header (numbers sort by their leading value)
document.querySelectorAll("table.sortable").forEach((table) => {
  table.querySelectorAll("th").forEach((th, col) => {
    th.addEventListener("click", () => {
      const body = table.tBodies[0], rows = [...body.rows];
      const asc = th.dataset.order !== "asc";
      table.querySelectorAll("th").forEach((h) => delete h.dataset.order);
      th.dataset.order = asc ? "asc" : "desc";
      const key = (r) => { const t = r.cells[col].textContent.trim(), x = parseFloat(t); return Number.isNaN(x) ? t : x; };
      rows.sort((a, b) => { const x = key(a), y = key(b); const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y)); return asc ? c : -c; });
      rows.forEach((r) => body.appendChild(r));
    });
  });
});
