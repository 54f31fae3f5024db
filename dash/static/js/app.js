// The page: tabs, the selected workflow (sidebar), notifications, modals, connection state.
"use strict";

Object.assign(Torc, {
  state: { workflows: [], workflowId: null, tab: "workflows", config: null },
  tabs: {},            // name -> {activate(), deactivate()}
  workflowListeners: [],
  connected: null,

  $(id) { return document.getElementById(id); },

  toast(message, kind) {
    const node = Torc.el("div", { class: `toast ${kind || ""}`, text: message });
    Torc.$("toasts").append(node);
    setTimeout(() => node.remove(), kind === "error" ? 9000 : 5000);
  },

  // A CLI endpoint's answer as a notification.
  report(result, what) {
    const text = (result.stdout || "").trim() || (result.stderr || "").trim();
    if (result.success) Torc.toast(`${what}: ${text || "done"}`, "success");
    else Torc.toast(`${what} failed: ${(result.stderr || result.stdout || "").trim()}`, "error");
  },

  setConnection(ok, reason) {
    if (Torc.connected === ok) return;
    Torc.connected = ok;
    const node = Torc.$("connection");
    node.className = `connection ${ok ? "connected" : "disconnected"}`;
    node.textContent = ok ? "Connected" : "Disconnected";
    node.title = ok ? "torc-server answers" : (reason || "torc-server unreachable");
  },

  showModal(id) { Torc.$(id).classList.remove("hidden"); },
  hideModal(id) { Torc.$(id).classList.add("hidden"); },

  showTab(name) {
    const previous = Torc.state.tab;
    if (previous && Torc.tabs[previous] && Torc.tabs[previous].deactivate) Torc.tabs[previous].deactivate();
    Torc.state.tab = name;
    document.querySelectorAll("#main-tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    document.querySelectorAll("main > .tab").forEach((s) => s.classList.toggle("active", s.id === `tab-${name}`));
    if (Torc.tabs[name] && Torc.tabs[name].activate) Torc.tabs[name].activate();
  },

  onWorkflowChange(listener) { Torc.workflowListeners.push(listener); },

  selectWorkflow(id) {
    const value = id ? Number(id) : null;
    Torc.$("workflow-select").value = value ? String(value) : "";
    if (Torc.state.workflowId === value) return;
    Torc.state.workflowId = value;
    localStorage.setItem("torc.workflow", value ? String(value) : "");
    Torc.refreshSummary();
    Torc.workflowListeners.forEach((fn) => fn(value));
  },

  workflow() { return Torc.state.workflows.find((w) => w.id === Torc.state.workflowId) || null; },

  needWorkflow(target) {
    if (Torc.state.workflowId) return true;
    if (target) target.replaceChildren(Torc.el("p", { class: "muted", text: "Select a workflow in the sidebar." }));
    return false;
  },

  async loadWorkflows() {
    const workflows = await Torc.api.listAll("/workflows", {});
    workflows.sort((a, b) => b.id - a.id);
    Torc.state.workflows = workflows;
    const select = Torc.$("workflow-select");
    const current = Torc.state.workflowId;
    select.replaceChildren(Torc.el("option", { value: "", text: "(none)" }),
      ...workflows.map((w) => Torc.el("option", { value: String(w.id), text: `${w.id}: ${w.name}` })));
    if (current && workflows.some((w) => w.id === current)) select.value = String(current);
    else if (current) Torc.selectWorkflow(null);
    return workflows;
  },

  async refreshSummary() {
    const target = Torc.$("workflow-summary");
    const id = Torc.state.workflowId;
    if (!id) { target.replaceChildren(); return; }
    try {
      const counts = await Torc.api.get(`/workflows/${id}/job_status_counts`);
      const rows = Object.entries(counts.counts).filter(([, n]) => n > 0)
        .map(([name, n]) => Torc.el("div", { class: "row" }, Torc.statusBadge(name), String(n)));
      target.replaceChildren(Torc.el("div", { class: "row" }, Torc.el("strong", { text: "Jobs" }), String(counts.total)), ...rows);
    } catch (err) {
      target.replaceChildren(Torc.el("span", { class: "muted", text: err.message }));
    }
  },

  async start() {
    document.querySelectorAll("#main-tabs button").forEach((b) => b.addEventListener("click", () => Torc.showTab(b.dataset.tab)));
    document.querySelectorAll("[data-close]").forEach((b) => b.addEventListener("click", () => Torc.hideModal(b.dataset.close)));
    Torc.$("workflow-select").addEventListener("change", (e) => Torc.selectWorkflow(e.target.value));
    Object.values(Torc.modules || {}).forEach((m) => m.init && m.init());
    try {
      Torc.state.config = await Torc.api.local("GET", "/api/config");
    } catch (err) {
      Torc.toast(err.message, "error");
    }
    Object.values(Torc.modules || {}).forEach((m) => m.configured && m.configured(Torc.state.config));
    try {
      await Torc.loadWorkflows();
      const saved = Number(localStorage.getItem("torc.workflow")) || null;
      if (saved && Torc.state.workflows.some((w) => w.id === saved)) Torc.selectWorkflow(saved);
    } catch (err) {
      Torc.toast(`Cannot list workflows: ${err.message}`, "error");
    }
    Torc.showTab("workflows");
    document.body.dataset.ready = "true";
    // The sidebar's counts and the connection indicator stay current.
    setInterval(() => { if (Torc.state.workflowId) Torc.refreshSummary(); else Torc.api.get("/ping").catch(() => {}); }, 5000);
  },
});

Torc.modules = {};
