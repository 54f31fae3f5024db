// Workflows tab: the list, its actions, the run panel and the Create Workflow dialog.
"use strict";

Torc.modules.workflows = (() => {
  const E = Torc.el;
  let table;
  let runStream = null;
  let createMode = "upload";
  let uploaded = null; // {text, extension, name}

  function actions(w) {
    const button = (label, cls, fn) => E("button", {
      class: `small ${cls || ""}`, dataset: { action: label.toLowerCase().replace(/\s+/g, "-"), workflow: w.id },
      onclick: (e) => { e.stopPropagation(); fn(w); },
    }, label);
    return E("div", { class: "actions" },
      button("View", "", view),
      button("Initialize", "", initialize),
      button("Reinitialize", "", reinitialize),
      button("Run Locally", "", runLocally),
      button("Submit", "", submit),
      button("Reset", "", reset),
      button("Delete", "danger", remove));
  }

  function view(w) {
    Torc.selectWorkflow(w.id);
    Torc.showTab("dag");
  }

  async function initialize(w) {
    const result = await Torc.api.cli("initialize", { workflow_id: String(w.id), force: false });
    Torc.report(result, `Initialize workflow ${w.id}`);
    Torc.refreshSummary();
  }

  async function reinitialize(w) {
    const result = await Torc.api.cli("reinitialize", { workflow_id: String(w.id) });
    Torc.report(result, `Reinitialize workflow ${w.id}`);
    Torc.refreshSummary();
  }

  async function reset(w) {
    if (!confirm(`Reset the status of every job of workflow ${w.id}?`)) return;
    const result = await Torc.api.cli("reset-status", { workflow_id: String(w.id) });
    Torc.report(result, `Reset workflow ${w.id}`);
    Torc.refreshSummary();
  }

  async function submit(w) {
    const result = await Torc.api.cli("submit", { workflow_id: String(w.id) });
    Torc.report(result, `Submit workflow ${w.id}`);
  }

  async function remove(w) {
    if (!confirm(`Delete workflow ${w.id} (${w.name}) and everything in it?`)) return;
    const result = await Torc.api.cli("delete", { workflow_id: String(w.id) });
    Torc.report(result, `Delete workflow ${w.id}`);
    await refresh();
  }

  function runLocally(w, outputDir) {
    Torc.selectWorkflow(w.id);
    if (runStream) runStream.close();
    const output = Torc.$("run-output");
    const status = Torc.$("run-status");
    output.textContent = "";
    Torc.$("run-panel").classList.remove("hidden");
    Torc.$("run-title").textContent = `Run of workflow ${w.id} (${w.name})`;
    Torc.$("run-panel").dataset.state = "running";
    status.textContent = "starting…";
    const line = (text) => { output.textContent += text + "\n"; output.scrollTop = output.scrollHeight; };
    const params = Torc.api.query({ workflow_id: w.id, output_dir: outputDir });
    runStream = Torc.api.stream(`/api/cli/run-stream${params}`, {
      start: (data) => line(`» ${data}`),
      stdout: (data) => line(data),
      stderr: (data) => line(data),
      status: (data) => { status.textContent = data; Torc.refreshSummary(); },
      end: (data) => { line(`» ${data}`); Torc.$("run-panel").dataset.state = data; },
      exit_code: (data) => {
        line(`» exit code ${data}`);
        Torc.$("run-panel").dataset.exitCode = data;
        Torc.toast(`Workflow ${w.id} run ended (exit code ${data})`, data === "0" ? "success" : "error");
        Torc.refreshSummary();
      },
      onclose: (err) => { if (err) line(`» stream closed: ${err.message}`); },
    });
  }

  async function refresh() {
    try {
      const workflows = await Torc.loadWorkflows();
      table.setRows(workflows);
    } catch (err) {
      Torc.toast(`Cannot list workflows: ${err.message}`, "error");
    }
  }

  // The Create Workflow dialog -----------------------------------------------------------

  function setCreateMode(mode) {
    createMode = mode;
    document.querySelectorAll("#create-tabs button").forEach((b) => b.classList.toggle("active", b.dataset.create === mode));
    document.querySelectorAll("[data-create-pane]").forEach((p) => p.classList.toggle("hidden", p.dataset.createPane !== mode));
    Torc.$("create-foot").classList.toggle("hidden", mode === "wizard");
    if (mode === "wizard") Torc.modules.wizard.open();
  }

  function readFile(file) {
    const reader = new FileReader();
    reader.onload = () => {
      const extension = (file.name.split(".").pop() || "yaml").toLowerCase();
      uploaded = { text: reader.result, extension, name: file.name };
      Torc.$("spec-file-name").textContent = `${file.name} (${file.size} bytes)`;
    };
    reader.readAsText(file);
  }

  // Create from spec text or a server path; returns the CLI's answer (with workflow_id).
  async function create(body) {
    const result = await Torc.api.cli("create", body);
    if (result.success) {
      await refresh();
      if (result.workflow_id) Torc.selectWorkflow(result.workflow_id);
    }
    return result;
  }

  async function submitCreate() {
    let body;
    if (createMode === "upload") {
      if (!uploaded) { Torc.$("create-message").textContent = "Choose a specification file first."; return; }
      body = { spec: uploaded.text, is_file: false, file_extension: uploaded.extension };
    } else {
      const path = Torc.$("spec-path").value.trim();
      if (!path) { Torc.$("create-message").textContent = "Enter a path."; return; }
      body = { spec: path, is_file: true };
    }
    Torc.$("create-message").textContent = "Creating…";
    const result = await create(body);
    Torc.$("create-message").textContent = "";
    Torc.report(result, "Create workflow");
    if (result.success) Torc.hideModal("create-modal");
  }

  function init() {
    table = new Torc.DataTable(Torc.$("workflows-table"), [
      { key: "id", label: "ID" },
      { key: "name", label: "Name" },
      { key: "timestamp", label: "Timestamp" },
      { key: "user", label: "User" },
      { key: "description", label: "Description" },
      { key: "actions", label: "Actions", render: actions, value: () => "" },
    ], { sortKey: "id", sortDir: -1 });
    Torc.$("refresh-workflows").addEventListener("click", refresh);
    Torc.$("run-close").addEventListener("click", () => {
      if (runStream) runStream.close();
      Torc.$("run-panel").classList.add("hidden");
    });
    Torc.$("create-workflow-button").addEventListener("click", () => {
      uploaded = null;
      Torc.$("spec-file-name").textContent = "";
      Torc.$("create-message").textContent = "";
      setCreateMode("upload");
      Torc.showModal("create-modal");
    });
    document.querySelectorAll("#create-tabs button").forEach((b) => b.addEventListener("click", () => setCreateMode(b.dataset.create)));
    const zone = Torc.$("drop-zone");
    const input = Torc.$("spec-file");
    zone.addEventListener("click", () => input.click());
    input.addEventListener("change", () => { if (input.files[0]) readFile(input.files[0]); });
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault(); zone.classList.remove("over");
      if (e.dataTransfer.files[0]) readFile(e.dataTransfer.files[0]);
    });
    Torc.$("create-submit").addEventListener("click", submitCreate);
  }

  Torc.tabs.workflows = { activate: refresh };
  return { init, refresh, create, runLocally, initialize };
})();
