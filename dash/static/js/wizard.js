// The workflow wizard (Create Workflow → Wizard): Basics, Jobs, Schedulers, Actions, Review.
// It builds a spec, shows it on the Review step and submits exactly that text.
"use strict";

Torc.modules.wizard = (() => {
  const E = Torc.el;
  const STEPS = ["Basics", "Jobs", "Schedulers", "Actions", "Review"];
  const PRESETS = {
    small: { label: "Small (1 CPU, 1GB)", num_cpus: 1, memory: "1g", num_gpus: 0 },
    medium: { label: "Medium (8 CPUs, 50GB)", num_cpus: 8, memory: "50g", num_gpus: 0 },
    gpu: { label: "GPU (1 CPU, 10GB, 1 GPU)", num_cpus: 1, memory: "10g", num_gpus: 1 },
    custom: { label: "Custom" },
  };
  const TRIGGERS = {
    on_workflow_start: "When workflow starts",
    on_jobs_ready: "When jobs become ready",
    on_jobs_complete: "When jobs complete",
  };
  const SCHEDULER_FIELDS = [
    ["name", "Scheduler Name", "compute"], ["account", "Account", "my_project"],
    ["nodes", "Nodes", "1"], ["walltime", "Wall Time (HH:MM:SS)", "02:00:00"],
    ["partition", "Partition", "standard"], ["qos", "QoS", ""], ["gres", "GRES", "gpu:2"],
    ["mem", "Memory", "64G"], ["tmp", "Temp Storage", ""], ["extra", "Extra Slurm Options", ""],
  ];
  let step = 0;
  let model;

  function fresh() {
    return { name: "", description: "", jobs: [], schedulers: [], actions: [],
      initialize: true, run: false };
  }

  function newJob() {
    return { name: "", command: "", blockedBy: [], preset: "small", scheduler: "", parameters: "",
      custom: { num_cpus: 1, memory: "1g", num_gpus: 0, num_nodes: 1, runtime: "PT1H" } };
  }

  // Spec generation ----------------------------------------------------------------------

  function requirementOf(job) {
    const base = job.preset === "custom" ? job.custom : PRESETS[job.preset];
    const cpus = Number(base.num_cpus) || 1;
    const memory = String(base.memory || "1g").trim().toLowerCase();
    const gpus = Number(base.num_gpus) || 0;
    const nodes = job.preset === "custom" ? Number(base.num_nodes) || 1 : 1;
    const runtime = job.preset === "custom" ? (base.runtime || "PT1H") : "PT1H";
    let name = `res_${cpus}cpu_${memory}`;
    if (gpus) name += `_${gpus}gpu`;
    if (nodes !== 1) name += `_${nodes}node`;
    if (runtime !== "PT1H") name += `_${runtime.toLowerCase()}`;
    return { name, num_cpus: cpus, memory, num_gpus: gpus, num_nodes: nodes, runtime };
  }

  // `i: "1:5"` lines -> {i: "1:5"}
  function parseParameters(text) {
    const parameters = {};
    for (const raw of text.split(/\n|,(?=\s*\w+\s*:)/)) {
      const line = raw.trim();
      if (!line) continue;
      const colon = line.indexOf(":");
      if (colon <= 0) throw new Error(`parameter "${line}" is not name: "values"`);
      let value = line.slice(colon + 1).trim();
      if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'") && !value.startsWith("['"))) {
        value = value.slice(1, -1);
      }
      parameters[line.slice(0, colon).trim()] = value;
    }
    return parameters;
  }

  function spec() {
    const result = { name: model.name.trim() };
    if (model.description.trim()) result.description = model.description.trim();
    const requirements = [];
    result.jobs = model.jobs.map((job) => {
      const entry = { name: job.name.trim(), command: job.command.trim() };
      if (job.blockedBy.length) entry.depends_on = job.blockedBy.slice();
      const requirement = requirementOf(job);
      if (!requirements.some((r) => r.name === requirement.name)) requirements.push(requirement);
      entry.resource_requirements = requirement.name;
      if (job.scheduler) entry.scheduler = job.scheduler;
      if (job.parameters.trim()) entry.parameters = parseParameters(job.parameters);
      return entry;
    });
    result.resource_requirements = requirements;
    const schedulers = model.schedulers.map((s) => {
      const entry = {};
      for (const [key] of SCHEDULER_FIELDS) {
        const value = String(s[key] || "").trim();
        if (value) entry[key] = key === "nodes" ? Number(value) : value;
      }
      return entry;
    });
    if (schedulers.length) result.slurm_schedulers = schedulers;
    const actions = model.actions.map((a) => {
      const entry = { trigger_type: a.trigger, action_type: "schedule_nodes" };
      if (a.trigger !== "on_workflow_start" && a.jobs.length) entry.jobs = a.jobs.slice();
      entry.scheduler = a.scheduler;
      entry.scheduler_type = "slurm";
      entry.num_allocations = Number(a.allocations) || 1;
      return entry;
    });
    if (actions.length) result.actions = actions;
    return result;
  }

  function specText() { return JSON.stringify(spec(), null, 2); }

  // Validation per step --------------------------------------------------------------------

  function problem() {
    if (step === 0 && !model.name.trim()) return "Workflow Name is required.";
    if (step === 1) {
      if (!model.jobs.length) return "Add at least one job.";
      const names = model.jobs.map((j) => j.name.trim());
      if (names.some((n) => !n)) return "Every job needs a name.";
      if (model.jobs.some((j) => !j.command.trim())) return "Every job needs a command.";
      const twice = names.find((n, i) => names.indexOf(n) !== i);
      if (twice) return `Job name ${twice} is used twice.`;
      try { model.jobs.forEach((j) => parseParameters(j.parameters)); } catch (err) { return err.message; }
    }
    if (step === 2) {
      if (model.schedulers.some((s) => !String(s.name || "").trim() || !String(s.account || "").trim())) {
        return "Every scheduler needs a name and an account.";
      }
    }
    if (step === 3 && model.actions.some((a) => !a.scheduler)) return "Every action needs a scheduler.";
    return "";
  }

  // Rendering ----------------------------------------------------------------------------

  function field(label, value, onchange, attrs) {
    const input = E(attrs && attrs.multiline ? "textarea" : "input", {
      value: attrs && attrs.multiline ? null : value, placeholder: (attrs && attrs.placeholder) || "",
      rows: attrs && attrs.multiline ? 2 : null, dataset: attrs && attrs.data,
      oninput: (e) => onchange(e.target.value),
      onchange: attrs && attrs.rerender ? () => render() : null,
    });
    if (attrs && attrs.multiline) input.value = value;
    return E("label", {}, label, input);
  }

  function select(label, options, value, onchange, attrs) {
    const node = E("select", { multiple: attrs && attrs.multiple, dataset: attrs && attrs.data,
      onchange: (e) => onchange(attrs && attrs.multiple
        ? Array.from(e.target.selectedOptions).map((o) => o.value) : e.target.value) },
    options.map(([v, text]) => E("option", { value: v, text })));
    if (attrs && attrs.multiple) Array.from(node.options).forEach((o) => { o.selected = value.includes(o.value); });
    else node.value = value;
    return E("label", {}, label, node);
  }

  function basics() {
    return E("div", { class: "wizard-pane" },
      field("Workflow Name", model.name, (v) => { model.name = v; }, { placeholder: "data-pipeline", data: { field: "workflow-name" } }),
      field("Description", model.description, (v) => { model.description = v; }, { placeholder: "optional", data: { field: "workflow-description" } }));
  }

  function jobCard(job, index) {
    const others = model.jobs.filter((j) => j !== job && j.name.trim()).map((j) => [j.name.trim(), j.name.trim()]);
    const schedulerNames = model.schedulers.map((s) => String(s.name || "").trim()).filter(Boolean);
    const custom = job.preset === "custom" ? E("div", { class: "wizard-pane" },
      field("CPUs", job.custom.num_cpus, (v) => { job.custom.num_cpus = v; }),
      field("Memory", job.custom.memory, (v) => { job.custom.memory = v; }),
      field("GPUs", job.custom.num_gpus, (v) => { job.custom.num_gpus = v; }),
      field("Nodes", job.custom.num_nodes, (v) => { job.custom.num_nodes = v; }),
      field("Runtime", job.custom.runtime, (v) => { job.custom.runtime = v; })) : null;
    return E("div", { class: "item-card", dataset: { job: index } },
      E("div", { class: "head" }, `Job ${index + 1}`,
        E("button", { class: "small danger", onclick: () => { model.jobs.splice(index, 1); render(); } }, "Remove")),
      field("Job Name", job.name, (v) => { job.name = v; }, { placeholder: "preprocess", data: { field: "job-name" }, rerender: true }),
      field("Command", job.command, (v) => { job.command = v; }, { placeholder: "python preprocess.py", data: { field: "job-command" } }),
      select("Blocked By", others, job.blockedBy, (v) => { job.blockedBy = v; }, { multiple: true, data: { field: "job-blocked-by" } }),
      select("Resources", Object.entries(PRESETS).map(([k, p]) => [k, p.label]), job.preset,
        (v) => { job.preset = v; render(); }, { data: { field: "job-resources" } }),
      custom,
      select("Scheduler", [["", "(none: runs locally)"], ...schedulerNames.map((n) => [n, n])], job.scheduler,
        (v) => { job.scheduler = v; }, { data: { field: "job-scheduler" } }),
      field("Parameters", job.parameters, (v) => { job.parameters = v; },
        { multiline: true, placeholder: 'i: "1:5"', data: { field: "job-parameters" } }));
  }

  function jobs() {
    return E("div", { class: "wizard-pane" },
      model.jobs.map(jobCard),
      E("div", {}, E("button", { id: "wizard-add-job", onclick: () => { model.jobs.push(newJob()); render(); } }, "+ Add Job")),
      E("p", { class: "muted", text: "Jobs without a scheduler assigned will run locally. Blocked By: hold Ctrl/Cmd to select several jobs. Parameters: name: \"1:10\", \"0:100:10\" or \"['a', 'b']\"." }));
  }

  function schedulerCard(scheduler, index) {
    return E("div", { class: "item-card", dataset: { scheduler: index } },
      E("div", { class: "head" }, `Scheduler ${index + 1}`,
        E("button", { class: "small danger", onclick: () => { model.schedulers.splice(index, 1); render(); } }, "Remove")),
      SCHEDULER_FIELDS.map(([key, label, example]) => field(label, scheduler[key] || "", (v) => { scheduler[key] = v; },
        { placeholder: example, data: { field: `scheduler-${key}` }, rerender: key === "name" })));
  }

  function schedulers() {
    return E("div", { class: "wizard-pane" },
      E("p", { class: "muted", text: "Slurm schedulers (optional): skip this step for local execution." }),
      model.schedulers.map(schedulerCard),
      E("div", {}, E("button", { id: "wizard-add-scheduler", onclick: () => { model.schedulers.push({ nodes: "1" }); render(); } }, "+ Add Scheduler")));
  }

  function actionCard(action, index) {
    const schedulerNames = model.schedulers.map((s) => String(s.name || "").trim()).filter(Boolean);
    const jobNames = model.jobs.map((j) => j.name.trim()).filter(Boolean);
    return E("div", { class: "item-card", dataset: { action: index } },
      E("div", { class: "head" }, `Action ${index + 1}`,
        E("button", { class: "small danger", onclick: () => { model.actions.splice(index, 1); render(); } }, "Remove")),
      select("Trigger", Object.entries(TRIGGERS), action.trigger, (v) => { action.trigger = v; render(); }, { data: { field: "action-trigger" } }),
      select("Scheduler", [["", "(choose)"], ...schedulerNames.map((n) => [n, n])], action.scheduler,
        (v) => { action.scheduler = v; }, { data: { field: "action-scheduler" } }),
      action.trigger === "on_workflow_start" ? null
        : select("Jobs", jobNames.map((n) => [n, n]), action.jobs, (v) => { action.jobs = v; }, { multiple: true, data: { field: "action-jobs" } }),
      field("Number of Allocations", action.allocations, (v) => { action.allocations = v; }, { data: { field: "action-allocations" } }));
  }

  function actions() {
    return E("div", { class: "wizard-pane" },
      E("p", { class: "muted", text: "Actions (optional) schedule Slurm nodes when the workflow starts or jobs become ready or complete." }),
      model.actions.map(actionCard),
      E("div", {}, E("button", { id: "wizard-add-action", onclick: () => {
        model.actions.push({ trigger: "on_workflow_start", scheduler: "", jobs: [], allocations: "1" }); render();
      } }, "+ Add Action")));
  }

  function review() {
    return E("div", { class: "wizard-pane" },
      E("p", { class: "muted", text: "The specification below is exactly what will be submitted." }),
      E("pre", { class: "spec", id: "wizard-spec" }, specText()),
      E("label", { class: "check" }, E("input", { type: "checkbox", id: "wizard-initialize", checked: model.initialize,
        onchange: (e) => { model.initialize = e.target.checked; } }), "Initialize workflow after creation (recommended)"),
      E("label", { class: "check" }, E("input", { type: "checkbox", id: "wizard-run", checked: model.run,
        onchange: (e) => { model.run = e.target.checked; } }), "Run workflow immediately"));
  }

  function render() {
    const root = Torc.$("wizard");
    const pane = [basics, jobs, schedulers, actions, review][step]();
    const indicators = E("div", { class: "steps" }, STEPS.map((name, i) => E("div", {
      class: `step ${i === step ? "active" : ""} ${i < step ? "done" : ""}`, dataset: { step: i + 1 } }, `${i + 1}. ${name}`)));
    const message = E("span", { id: "wizard-message", class: "muted" });
    const nav = E("div", { class: "wizard-nav" },
      E("button", { id: "wizard-back", disabled: step === 0, onclick: () => { step -= 1; render(); } }, "Back"),
      message,
      step < STEPS.length - 1
        ? E("button", { id: "wizard-next", class: "primary", onclick: () => {
          const why = problem();
          if (why) { message.textContent = why; return; }
          step += 1; render();
        } }, "Next")
        : E("button", { id: "wizard-create", class: "primary", onclick: () => create(message) }, "Create"));
    root.replaceChildren(indicators, pane, nav);
  }

  async function create(message) {
    const text = Torc.$("wizard-spec").textContent;
    message.textContent = "Creating…";
    const result = await Torc.modules.workflows.create({ spec: text, is_file: false, file_extension: "json" });
    if (!result.success) {
      message.textContent = "";
      Torc.report(result, "Create workflow");
      return;
    }
    const id = result.workflow_id;
    if (model.initialize || model.run) {
      const init = await Torc.api.cli("initialize", { workflow_id: String(id), force: false });
      if (!init.success) { Torc.report(init, `Initialize workflow ${id}`); }
    }
    Torc.toast(`Created workflow ${id} (${model.name})`, "success");
    Torc.hideModal("create-modal");
    const workflow = Torc.state.workflows.find((w) => w.id === id);
    if (model.run && workflow) {
      Torc.showTab("workflows");
      Torc.modules.workflows.runLocally(workflow);
    }
    model = fresh();
    step = 0;
  }

  function open() {
    if (!model) model = fresh();
    render();
  }

  return { open, spec, specText, parseParameters };
})();
