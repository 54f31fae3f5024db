// DAG tab: the selected workflow's jobs as a graph (Cytoscape.js). Nodes are jobs coloured
// by status; edges are file dependencies (a job writes a file another reads), user-data
// dependencies, and explicit ones (depends_on). Jobs are placed in layers by their longest
// chain of blockers (computed here: fast and stable for thousands of jobs), and only the
// colours change while the tab stays open.
"use strict";

Torc.modules.dag = (() => {
  const E = Torc.el;
  const STATUSES = ["uninitialized", "blocked", "ready", "pending", "running", "completed",
    "failed", "canceled", "terminated", "disabled", "pending_failed"];
  const REFRESH_MS = 3000;
  const PER_ROW = 40; // a wide layer wraps onto more rows
  let cy = null;
  let shownWorkflow = null;
  let timer = null;

  const COLORS = {}; // status -> colour, read once from the style sheet's variables
  const color = (status) => COLORS[status] || "#999";

  function legend() {
    const items = STATUSES.map((s) => E("div", { class: "item" }, E("span", { class: "swatch", style: `background:${color(s)}` }), s));
    Torc.$("dag-legend").replaceChildren(E("strong", { text: "Status" }), ...items,
      E("strong", { text: "Edges" }),
      E("div", { class: "item" }, E("span", { class: "edge file" }), "file"),
      E("div", { class: "item" }, E("span", { class: "edge" }), "explicit"));
  }

  function layers(jobIds, blockersOf) {
    const level = new Map();
    const visiting = new Set();
    const depth = (id) => {
      if (level.has(id)) return level.get(id);
      if (visiting.has(id)) return 0; // a cycle (the server refuses them): do not loop
      visiting.add(id);
      let d = 0;
      for (const b of blockersOf.get(id) || []) d = Math.max(d, depth(b) + 1);
      visiting.delete(id);
      level.set(id, d);
      return d;
    };
    jobIds.forEach(depth);
    return level;
  }

  function positions(jobs, level) {
    const byLevel = new Map();
    jobs.forEach((j) => {
      const l = level.get(j.id) || 0;
      if (!byLevel.has(l)) byLevel.set(l, []);
      byLevel.get(l).push(j.id);
    });
    const placed = new Map();
    let y = 0;
    [...byLevel.keys()].sort((a, b) => a - b).forEach((l) => {
      const ids = byLevel.get(l).sort((a, b) => a - b);
      const rows = Math.ceil(ids.length / PER_ROW);
      ids.forEach((id, i) => {
        const row = Math.floor(i / PER_ROW);
        const inRow = Math.min(PER_ROW, ids.length - row * PER_ROW);
        placed.set(id, { x: (i % PER_ROW - (inRow - 1) / 2) * 110, y: y + row * 60 });
      });
      y += rows * 60 + 70;
    });
    return placed;
  }

  async function draw() {
    const id = Torc.state.workflowId;
    const target = Torc.$("dag");
    if (!id) { if (cy) { cy.destroy(); cy = null; } shownWorkflow = null; Torc.$("dag-info").textContent = "Select a workflow in the sidebar."; return; }
    Torc.$("dag-info").textContent = "Loading…";
    const [jobs, deps, files, data] = await Promise.all([
      Torc.api.listAll("/jobs", { workflow_id: id }),
      Torc.api.listAll(`/workflows/${id}/job_dependencies`, {}),
      Torc.api.listAll(`/workflows/${id}/job_file_relationships`, {}),
      Torc.api.listAll(`/workflows/${id}/job_user_data_relationships`, {}),
    ]);
    const edges = new Map(); // "a->b" -> {kind, label}
    const add = (from, to, kind, label) => {
      if (from === null || to === null || from === undefined || to === undefined || from === to) return;
      const key = `${from}->${to}`;
      const known = edges.get(key);
      if (!known) edges.set(key, { from, to, kind, labels: label ? [label] : [] });
      else if (kind !== "explicit") { known.kind = known.kind === "explicit" ? kind : known.kind; if (label) known.labels.push(label); }
    };
    files.forEach((f) => add(f.producer_job_id, f.consumer_job_id, "file", f.file_name));
    data.forEach((u) => add(u.producer_job_id, u.consumer_job_id, "file", u.user_data_name));
    deps.forEach((d) => add(d.depends_on_job_id, d.job_id, "explicit", ""));
    const blockersOf = new Map();
    edges.forEach((e) => {
      if (!blockersOf.has(e.to)) blockersOf.set(e.to, []);
      blockersOf.get(e.to).push(e.from);
    });
    const placed = positions(jobs, layers(jobs.map((j) => j.id), blockersOf));
    const elements = jobs.map((j) => ({ group: "nodes", data: { id: `j${j.id}`, job: j.id, label: j.name, status: j.status, command: j.command }, position: placed.get(j.id) }));
    edges.forEach((e) => elements.push({ group: "edges", data: { id: `e${e.from}_${e.to}`, source: `j${e.from}`, target: `j${e.to}`, kind: e.kind, label: e.labels.slice(0, 3).join(", ") }, classes: e.kind }));
    if (cy) cy.destroy();
    cy = cytoscape({
      container: target,
      elements,
      layout: { name: "preset" },
      wheelSensitivity: 0.3,
      minZoom: 0.02,
      maxZoom: 4,
      textureOnViewport: jobs.length > 300,
      hideEdgesOnViewport: jobs.length > 300,
      style: [
        { selector: "node", style: { "background-color": (n) => color(n.data("status")), label: "data(label)", "font-size": 10, "text-valign": "bottom", "text-margin-y": 3, width: 26, height: 26, "min-zoomed-font-size": 7, "border-width": 1, "border-color": "#333" } },
        { selector: "node:selected", style: { "border-width": 4, "border-color": "#1f2d3d" } },
        { selector: "edge", style: { width: 1.5, "line-color": "#8a939e", "target-arrow-color": "#8a939e", "target-arrow-shape": "triangle", "curve-style": jobs.length > 300 ? "haystack" : "bezier", "arrow-scale": 0.8 } },
        { selector: "edge.file", style: { "line-style": "dashed", "line-color": "#2f6fde", "target-arrow-color": "#2f6fde" } },
        { selector: "edge.hidden-kind", style: { display: "none" } },
      ],
    });
    cy.on("tap", "node", (event) => showNode(event.target));
    cy.on("tap", (event) => { if (event.target === cy) Torc.$("dag-node").classList.add("hidden"); });
    applyEdgeFilter();
    cy.fit(undefined, 30);
    shownWorkflow = id;
    target.dataset.workflow = String(id);
    updateInfo(jobs);
  }

  function updateInfo(jobs) {
    const counts = {};
    jobs.forEach((j) => { counts[j.status] = (counts[j.status] || 0) + 1; });
    Torc.$("dag-info").textContent = `${jobs.length} jobs, ${cy.edges().length} edges · ` +
      Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ");
    Torc.$("dag").dataset.statuses = Object.keys(counts).sort().join(",");
  }

  function showNode(node) {
    const job = node.data();
    const incoming = node.incomers("node").map((n) => n.data("label"));
    const outgoing = node.outgoers("node").map((n) => n.data("label"));
    Torc.$("dag-node").replaceChildren(
      E("div", {}, E("strong", { text: `${job.label}` }), ` (job ${job.job}) `, Torc.statusBadge(job.status)),
      E("div", { class: "command" }, E("code", { text: job.command || "" })),
      E("div", { class: "muted", text: `Blocked by: ${incoming.join(", ") || "none"} · Blocks: ${outgoing.join(", ") || "none"}` }));
    Torc.$("dag-node").classList.remove("hidden");
    Torc.$("dag-node").dataset.job = String(job.job);
  }

  function applyEdgeFilter() {
    if (!cy) return;
    const showFile = Torc.$("dag-file-edges").checked;
    const showExplicit = Torc.$("dag-explicit-edges").checked;
    cy.edges().forEach((e) => e.toggleClass("hidden-kind", e.data("kind") === "file" ? !showFile : !showExplicit));
  }

  // Only the colours change: the graph is not laid out again.
  async function recolor() {
    const id = Torc.state.workflowId;
    if (!cy || shownWorkflow !== id) return;
    try {
      const jobs = await Torc.api.listAll("/jobs", { workflow_id: id });
      if (jobs.length !== cy.nodes().length) { await draw(); return; }
      cy.batch(() => jobs.forEach((j) => {
        const node = cy.getElementById(`j${j.id}`);
        if (node && node.data("status") !== j.status) node.data("status", j.status);
      }));
      updateInfo(jobs);
    } catch (_) { /* the connection indicator shows it */ }
  }

  function init() {
    const styles = getComputedStyle(document.documentElement);
    STATUSES.forEach((s) => { COLORS[s] = styles.getPropertyValue(`--${s}`).trim(); });
    legend();
    Torc.$("dag-fit").addEventListener("click", () => cy && cy.fit(undefined, 30));
    Torc.$("dag-refresh").addEventListener("click", () => draw().catch((err) => Torc.toast(err.message, "error")));
    Torc.$("dag-file-edges").addEventListener("change", applyEdgeFilter);
    Torc.$("dag-explicit-edges").addEventListener("change", applyEdgeFilter);
    Torc.onWorkflowChange(() => { if (Torc.state.tab === "dag") draw().catch((err) => Torc.toast(err.message, "error")); });
  }

  Torc.tabs.dag = {
    activate: () => {
      const work = shownWorkflow === Torc.state.workflowId && cy ? recolor() : draw();
      work.catch((err) => Torc.toast(err.message, "error"));
      if (cy) cy.resize();
      clearInterval(timer);
      timer = setInterval(recolor, REFRESH_MS);
    },
    deactivate: () => { clearInterval(timer); timer = null; },
  };
  return { init, draw, nodes: () => (cy ? cy.nodes().map((n) => n.data()) : []), cy: () => cy };
})();
