// Resource Plots tab: find the time-series databases under a directory of the selected
// workflow's runs and draw their Plotly charts (the figures `torc plot-resources` makes).
"use strict";

Torc.modules.plots = (() => {
  const E = Torc.el;

  async function scan() {
    const id = Torc.state.workflowId;
    const message = Torc.$("plots-message");
    if (!id) { message.textContent = "Select a workflow in the sidebar."; return; }
    message.textContent = "Scanning…";
    let answer;
    try {
      answer = await Torc.api.request("POST", "/api/cli/list-resource-dbs", {
        workflow_id: String(id), output_dir: Torc.$("plots-base-dir").value || "output",
      });
    } catch (err) {
      message.textContent = err.message;
      Torc.$("plots-databases").replaceChildren();
      return;
    }
    const list = answer.databases.map((db, i) => E("label", {},
      E("input", { type: "checkbox", value: db.path, checked: i === 0, dataset: { db: db.name } }),
      `${db.name} (${(db.size / 1024).toFixed(0)} kB)`));
    Torc.$("plots-databases").replaceChildren(...list);
    message.textContent = `${answer.databases.length} database(s) in ${answer.base_dir}`;
  }

  async function generate() {
    const id = Torc.state.workflowId;
    const message = Torc.$("plots-message");
    const chosen = Array.from(document.querySelectorAll("#plots-databases input:checked")).map((i) => i.value);
    if (!chosen.length) { message.textContent = "Scan for databases and select at least one."; return; }
    message.textContent = "Generating…";
    const result = await Torc.api.cli("plot-resources", {
      workflow_id: String(id), output_dir: Torc.$("plots-base-dir").value || "output", db_paths: chosen,
    });
    const target = Torc.$("plots");
    target.replaceChildren();
    if (!result.success) { message.textContent = ""; Torc.report(result, "Generate Plots"); return; }
    for (const plot of result.plots || []) {
      const node = E("div", { class: "plot", dataset: { plot: plot.name } });
      target.append(node);
      const figure = plot.figure;
      const layout = { ...(figure.layout || {}), autosize: true };
      delete layout.template; // the page's own look; also keeps the basic bundle's trace set
      await Plotly.newPlot(node, figure.data || [], layout, { responsive: true, displaylogo: false });
    }
    message.textContent = `${(result.plots || []).length} plot(s)`;
    target.dataset.ready = "true";
  }

  function init() {
    Torc.$("plots-scan").addEventListener("click", scan);
    Torc.$("plots-generate").addEventListener("click", generate);
    Torc.onWorkflowChange(() => { Torc.$("plots-databases").replaceChildren(); Torc.$("plots").replaceChildren(); });
  }

  return { init, scan, generate };
})();
