// Details tab: the selected workflow's records, one sortable, filterable table per kind,
// refreshed automatically when Auto-refresh is on. Scheduled Slurm nodes have View Logs.
"use strict";

Torc.modules.details = (() => {
  const E = Torc.el;
  const REFRESH_MS = 3000;
  let view = "jobs";
  let table = null;
  let timer = null;
  let loading = false;

  const fmtTime = (v) => (v === null || v === undefined ? "" : String(v).replace("T", " ").replace("Z", ""));
  const fmtBytes = (v) => (v === null || v === undefined ? "" : `${(v / 1048576).toFixed(1)} MB`);
  const fmtMtime = (v) => (v ? new Date(v * 1000).toISOString().replace("T", " ").slice(0, 19) : "");
  const fmtMinutes = (v) => (v === null || v === undefined ? "" : Number(v).toFixed(3));

  async function jobNames(id) {
    const jobs = await Torc.api.listAll("/jobs", { workflow_id: id });
    return new Map(jobs.map((j) => [j.id, j.name]));
  }

  // Each view: columns and a loader returning rows.
  const VIEWS = {
    jobs: {
      columns: [
        { key: "id", label: "ID" },
        { key: "name", label: "Name" },
        { key: "status", label: "Status", render: (r) => Torc.statusBadge(r.status) },
        { key: "command", label: "Command", class: "command" },
        { key: "blocked_by", label: "Blocked By" },
        { key: "requirements", label: "Resources" },
        { key: "attempt_id", label: "Attempt" },
      ],
      async load(id) {
        const [jobs, deps, reqs] = await Promise.all([
          Torc.api.listAll("/jobs", { workflow_id: id }),
          Torc.api.listAll(`/workflows/${id}/job_dependencies`, {}),
          Torc.api.listAll("/resource_requirements", { workflow_id: id }),
        ]);
        const blockers = new Map();
        deps.forEach((d) => {
          if (!blockers.has(d.job_id)) blockers.set(d.job_id, []);
          blockers.get(d.job_id).push(d.depends_on_job_name);
        });
        const reqNames = new Map(reqs.map((r) => [r.id, r.name]));
        return jobs.map((j) => ({ ...j, blocked_by: (blockers.get(j.id) || []).join(", "),
          requirements: reqNames.get(j.resource_requirements_id) || "" }));
      },
    },
    files: {
      columns: [
        { key: "id", label: "ID" }, { key: "name", label: "Name" }, { key: "path", label: "Path" },
        { key: "st_mtime", label: "Modified", render: (r) => fmtMtime(r.st_mtime) },
      ],
      load: (id) => Torc.api.listAll("/files", { workflow_id: id }),
    },
    user_data: {
      columns: [
        { key: "id", label: "ID" }, { key: "name", label: "Name" },
        { key: "data", label: "Data", class: "command", value: (r) => (r.data === null || r.data === undefined ? "" : typeof r.data === "string" ? r.data : JSON.stringify(r.data)) },
        { key: "is_ephemeral", label: "Ephemeral" },
      ],
      load: (id) => Torc.api.listAll("/user_data", { workflow_id: id }),
    },
    results: {
      columns: [
        { key: "id", label: "ID" }, { key: "job_id", label: "Job ID" }, { key: "job_name", label: "Job Name" },
        { key: "run_id", label: "Run" }, { key: "attempt_id", label: "Attempt" },
        { key: "status", label: "Status", render: (r) => Torc.statusBadge(r.status) },
        { key: "return_code", label: "Return Code" },
        { key: "exec_time_minutes", label: "Exec Time (min)", render: (r) => fmtMinutes(r.exec_time_minutes) },
        { key: "peak_memory_bytes", label: "Peak Memory", render: (r) => fmtBytes(r.peak_memory_bytes) },
        { key: "peak_cpu_percent", label: "Peak CPU %" },
        { key: "completion_time", label: "Completed", render: (r) => fmtTime(r.completion_time) },
      ],
      async load(id) {
        const [results, names] = await Promise.all([Torc.api.listAll("/results", { workflow_id: id, all_runs: true }), jobNames(id)]);
        return results.map((r) => ({ ...r, job_name: names.get(r.job_id) || "" }));
      },
    },
    compute_nodes: {
      columns: [
        { key: "id", label: "ID" }, { key: "hostname", label: "Hostname" }, { key: "pid", label: "PID" },
        { key: "compute_node_type", label: "Type" }, { key: "is_active", label: "Active" },
        { key: "num_cpus", label: "CPUs" }, { key: "memory_gb", label: "Memory (GB)" }, { key: "num_gpus", label: "GPUs" },
        { key: "start_time", label: "Started", render: (r) => fmtTime(r.start_time) },
        { key: "duration_seconds", label: "Duration (s)" },
      ],
      load: (id) => Torc.api.listAll("/compute_nodes", { workflow_id: id }),
    },
    resource_requirements: {
      columns: [
        { key: "id", label: "ID" }, { key: "name", label: "Name" }, { key: "num_cpus", label: "CPUs" },
        { key: "num_gpus", label: "GPUs" }, { key: "num_nodes", label: "Nodes" }, { key: "memory", label: "Memory" },
        { key: "runtime", label: "Runtime" },
      ],
      load: (id) => Torc.api.listAll("/resource_requirements", { workflow_id: id }),
    },
    schedulers: {
      columns: [
        { key: "id", label: "ID" }, { key: "name", label: "Name" }, { key: "account", label: "Account" },
        { key: "partition", label: "Partition" }, { key: "nodes", label: "Nodes" }, { key: "walltime", label: "Wall Time" },
        { key: "mem", label: "Memory" }, { key: "gres", label: "GRES" }, { key: "qos", label: "QoS" },
        { key: "extra", label: "Extra" },
      ],
      load: (id) => Torc.api.listAll("/slurm_schedulers", { workflow_id: id }),
    },
    scheduled_nodes: {
      columns: [
        { key: "id", label: "ID" }, { key: "scheduler_type", label: "Type" },
        { key: "scheduler_id", label: "Scheduler Job ID" }, { key: "scheduler_config_id", label: "Scheduler Config" },
        { key: "status", label: "Status" },
        { key: "logs", label: "Logs", value: () => "", render: (r) => (r.scheduler_type === "slurm"
          ? E("button", { class: "small", dataset: { slurmJob: r.scheduler_id }, onclick: (e) => { e.stopPropagation(); showSlurmLogs(r); } }, "View Logs") : "") },
      ],
      load: (id) => Torc.api.listAll("/scheduled_compute_nodes", { workflow_id: id }),
    },
  };

  let slurmLogs = null;
  async function showSlurmLogs(node) {
    const outputDir = Torc.$("debug-output-dir").value || "output";
    Torc.$("slurm-log-job").textContent = String(node.scheduler_id);
    Torc.$("slurm-log-content").textContent = "Loading…";
    Torc.$("slurm-log-path").textContent = "";
    Torc.showModal("slurm-log-modal");
    const answer = await Torc.api.request("POST", "/api/cli/slurm-logs", {
      workflow_id: Torc.state.workflowId, output_dir: outputDir, slurm_job_id: String(node.scheduler_id),
    }).catch((err) => ({ success: false, error: err.message }));
    slurmLogs = answer;
    showSlurmLog("stdout");
  }

  function showSlurmLog(stream) {
    document.querySelectorAll("#slurm-log-tabs button").forEach((b) => b.classList.toggle("active", b.dataset.slurmLog === stream));
    if (!slurmLogs || !slurmLogs.success) {
      Torc.$("slurm-log-content").textContent = (slurmLogs && slurmLogs.error) || "No logs.";
      return;
    }
    const file = slurmLogs[stream];
    Torc.$("slurm-log-path").textContent = file.path;
    Torc.$("slurm-log-content").textContent = file.exists ? (file.content || "(empty)") : `${file.path} does not exist`;
  }

  function show(name) {
    view = name;
    document.querySelectorAll("#detail-tabs button").forEach((b) => b.classList.toggle("active", b.dataset.detail === name));
    table = new Torc.DataTable(Torc.$("details-table"), VIEWS[name].columns, { sortKey: "id", sortDir: 1 });
    table.container.dataset.view = name;
    refresh();
  }

  async function refresh() {
    const id = Torc.state.workflowId;
    if (!id) { Torc.$("details-table").replaceChildren(E("p", { class: "muted", text: "Select a workflow in the sidebar." })); table = null; return; }
    if (!table) { show(view); return; }
    if (loading) return;
    loading = true;
    try {
      const rows = await VIEWS[view].load(id);
      if (Torc.state.workflowId === id && table) table.setRows(rows);
      Torc.$("details-updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      Torc.$("details-updated").textContent = `Update failed: ${err.message}`;
    } finally {
      loading = false;
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = null;
    if (Torc.$("auto-refresh").checked && Torc.state.tab === "details") timer = setInterval(refresh, REFRESH_MS);
  }

  function init() {
    document.querySelectorAll("#detail-tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.detail)));
    document.querySelectorAll("#slurm-log-tabs button").forEach((b) => b.addEventListener("click", () => showSlurmLog(b.dataset.slurmLog)));
    Torc.$("refresh-details").addEventListener("click", refresh);
    Torc.$("auto-refresh").addEventListener("change", () => {
      localStorage.setItem("torc.autoRefresh", Torc.$("auto-refresh").checked ? "1" : "");
      schedule();
    });
    Torc.$("auto-refresh").checked = localStorage.getItem("torc.autoRefresh") === "1";
    Torc.onWorkflowChange(() => { if (Torc.state.tab === "details") show(view); else table = null; });
  }

  Torc.tabs.details = {
    activate: () => { if (table) refresh(); else show(view); schedule(); },
    deactivate: () => { clearInterval(timer); timer = null; },
  };
  return { init, refresh, show };
})();
