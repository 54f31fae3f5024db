// Debugging tab: `torc reports results` as a table (failed jobs only by default), a log
// viewer for the selected job (stdout / stderr, Copy Path), and the Slurm log analysis and
// accounting commands.
"use strict";

Torc.modules.debugging = (() => {
  const E = Torc.el;
  let table;
  let selected = null;
  let logStream = "stdout";

  async function generate() {
    const id = Torc.state.workflowId;
    const message = Torc.$("debug-message");
    if (!id) { message.textContent = "Select a workflow in the sidebar."; return; }
    message.textContent = "Generating…";
    const result = await Torc.api.cli("results-report", {
      workflow_id: String(id), output_dir: Torc.$("debug-output-dir").value || "output",
      all_runs: Torc.$("debug-all-runs").checked,
    });
    if (!result.success) { message.textContent = ""; Torc.report(result, "Generate Report"); return; }
    const report = JSON.parse(result.stdout);
    let rows = report.results || [];
    if (Torc.$("debug-failed-only").checked) rows = rows.filter((r) => r.return_code !== 0);
    table.setRows(rows);
    message.textContent = `${rows.length} of ${report.total_results ?? (report.results || []).length} results`;
  }

  function select(row) {
    selected = row;
    Torc.$("log-viewer").classList.remove("hidden");
    Torc.$("log-job").textContent = `${row.job_name} (job ${row.job_id}, run ${row.run_id})`;
    showLog(logStream);
  }

  async function showLog(stream) {
    logStream = stream;
    document.querySelectorAll("#log-tabs button").forEach((b) => b.classList.toggle("active", b.dataset.log === stream));
    if (!selected) return;
    const path = stream === "stdout" ? selected.job_stdout : selected.job_stderr;
    const content = Torc.$("log-content");
    Torc.$("log-path").textContent = path || "";
    content.dataset.stream = stream;
    content.dataset.state = "loading";
    if (!path) { content.textContent = "No log file recorded for this job."; content.dataset.state = "empty"; return; }
    content.textContent = "Loading…";
    let answer;
    try {
      answer = await Torc.api.request("POST", "/api/cli/read-file", {
        workflow_id: String(Torc.state.workflowId), output_dir: Torc.$("debug-output-dir").value || "output", path,
      });
    } catch (err) {
      content.textContent = err.message; content.dataset.state = "error"; return;
    }
    if (!answer.exists) content.textContent = `${path} does not exist (No log content available)`;
    else content.textContent = (answer.truncated ? `… (the last ${answer.content.length} bytes of ${answer.size})\n` : "") + (answer.content || "(empty)");
    Torc.$("log-path").textContent = answer.path || path;
    content.dataset.state = "loaded";
  }

  async function copyPath() {
    const path = Torc.$("log-path").textContent;
    try {
      await navigator.clipboard.writeText(path);
      Torc.toast(`Copied ${path}`);
    } catch (_) {
      const area = E("textarea", {}, path);
      document.body.append(area); area.select(); document.execCommand("copy"); area.remove();
      Torc.toast(`Copied ${path}`);
    }
  }

  // A CLI JSON answer's first list as a table (Slurm parse-logs errors, sacct steps).
  function jsonTable(target, result, listKey, columns, empty) {
    if (!result.success) {
      target.replaceChildren(E("pre", { class: "log", text: (result.stderr || result.stdout || "failed").trim() }));
      return;
    }
    const data = JSON.parse(result.stdout || "{}");
    const rows = data[listKey] || [];
    if (!rows.length) { target.replaceChildren(E("p", { class: "muted", text: empty })); return; }
    const view = new Torc.DataTable(E("div"), columns);
    view.setRows(rows);
    target.replaceChildren(view.container);
  }

  async function analyzeSlurm() {
    const id = Torc.state.workflowId;
    const target = Torc.$("slurm-analysis");
    if (!id) { target.textContent = "Select a workflow in the sidebar."; return; }
    target.replaceChildren(E("p", { class: "muted", text: "Analyzing…" }));
    const result = await Torc.api.cli("slurm-parse-logs", { workflow_id: String(id), output_dir: Torc.$("slurm-output-dir").value || "output" });
    jsonTable(target, result, "errors", [
      { key: "file", label: "File" }, { key: "slurm_job_id", label: "Slurm Job ID" }, { key: "line", label: "Line" },
      { key: "pattern", label: "Pattern" }, { key: "severity", label: "Severity" },
      { key: "affected_jobs", label: "Affected Torc Jobs", value: (r) => (r.affected_jobs || []).map((j) => `${j.name} (ID: ${j.id})`).join(", ") },
    ], "No errors found in the Slurm logs.");
  }

  async function collectSacct() {
    const id = Torc.state.workflowId;
    const target = Torc.$("slurm-accounting");
    if (!id) { target.textContent = "Select a workflow in the sidebar."; return; }
    target.replaceChildren(E("p", { class: "muted", text: "Collecting…" }));
    const result = await Torc.api.cli("slurm-sacct", { workflow_id: String(id) });
    const duration = (s) => (s === null || s === undefined ? "" : `${Math.floor(s / 3600) ? Math.floor(s / 3600) + "h " : ""}${Math.floor(s % 3600 / 60)}m ${Math.round(s % 60)}s`);
    jsonTable(target, result, "steps", [
      { key: "slurm_job_id", label: "Slurm Job" }, { key: "step", label: "Job Step" }, { key: "state", label: "State" },
      { key: "exit_code", label: "Exit Code" }, { key: "elapsed_seconds", label: "Elapsed", render: (r) => duration(r.elapsed_seconds) },
      { key: "max_rss_bytes", label: "Max RSS", render: (r) => (r.max_rss_bytes ? `${(r.max_rss_bytes / 1048576).toFixed(1)}MB` : "") },
      { key: "cpu_seconds", label: "CPU Time", render: (r) => duration(r.cpu_seconds) }, { key: "nodes", label: "Nodes" },
    ], "No Slurm job steps for this workflow.");
  }

  function init() {
    table = new Torc.DataTable(Torc.$("debug-table"), [
      { key: "job_id", label: "Job ID" },
      { key: "job_name", label: "Job Name" },
      { key: "status", label: "Status", render: (r) => Torc.statusBadge(r.status) },
      { key: "return_code", label: "Return Code" },
      { key: "exec_time_minutes", label: "Execution Time (minutes)", render: (r) => (r.exec_time_minutes === null || r.exec_time_minutes === undefined ? "" : Number(r.exec_time_minutes).toFixed(3)) },
      { key: "run_id", label: "Run ID" },
    ], { sortKey: "job_id", onRowClick: select });
    Torc.$("debug-generate").addEventListener("click", generate);
    document.querySelectorAll("#log-tabs button").forEach((b) => b.addEventListener("click", () => showLog(b.dataset.log)));
    Torc.$("log-copy").addEventListener("click", copyPath);
    Torc.$("slurm-analyze").addEventListener("click", analyzeSlurm);
    Torc.$("slurm-sacct").addEventListener("click", collectSacct);
    Torc.onWorkflowChange(() => { table.setRows([]); selected = null; Torc.$("log-viewer").classList.add("hidden"); });
  }

  return { init, generate };
})();
