// Configuration tab: the managed server (start / stop), the server the dashboard uses (API
// URL, Test Connection) and credentials. Form values are kept in local storage; the password
// only in session storage.
"use strict";

Torc.modules.config = (() => {
  const FIELDS = { "cfg-server-port": "serverPort", "cfg-database": "database", "cfg-interval": "interval", "cfg-log-level": "logLevel", "cfg-api-url": "apiUrl" };

  function save() {
    const values = {};
    for (const [id, key] of Object.entries(FIELDS)) values[key] = Torc.$(id).value;
    localStorage.setItem("torc.settings", JSON.stringify(values));
  }

  function restore() {
    let values = {};
    try { values = JSON.parse(localStorage.getItem("torc.settings") || "{}"); } catch (_) { values = {}; }
    for (const [id, key] of Object.entries(FIELDS)) if (values[key] !== undefined && values[key] !== "") Torc.$(id).value = values[key];
    Torc.$("cfg-username").value = sessionStorage.getItem("torc.username") || "";
  }

  function showStatus(status) {
    const line = status.running
      ? `Managed server running (pid ${status.pid}) at ${status.api_url}, database ${status.database}`
      : "No managed server running.";
    Torc.$("cfg-server-status").textContent = line;
    Torc.$("cfg-server-status").dataset.running = status.running ? "true" : "false";
  }

  async function refreshStatus() {
    try { showStatus(await Torc.api.local("GET", "/api/server/status")); } catch (err) { Torc.$("cfg-server-status").textContent = err.message; }
  }

  async function startServer() {
    save();
    Torc.$("cfg-server-status").textContent = "Starting…";
    const answer = await Torc.api.local("POST", "/api/server/start", {
      port: Torc.$("cfg-server-port").value, database: Torc.$("cfg-database").value,
      completion_check_interval_secs: Torc.$("cfg-interval").value, log_level: Torc.$("cfg-log-level").value,
    }).catch((err) => ({ success: false, message: err.message }));
    Torc.toast(answer.message, answer.success ? "success" : "error");
    if (answer.success) { Torc.$("cfg-api-url").value = answer.api_url; Torc.loadWorkflows().catch(() => {}); }
    refreshStatus();
  }

  async function stopServer() {
    const answer = await Torc.api.local("POST", "/api/server/stop", {}).catch((err) => ({ success: false, message: err.message }));
    Torc.toast(answer.message, answer.success ? "success" : "error");
    refreshStatus();
  }

  async function test() {
    save();
    const target = Torc.$("cfg-api-status");
    target.textContent = "Testing…";
    const answer = await Torc.api.local("POST", "/api/config/test", { api_url: Torc.$("cfg-api-url").value })
      .catch((err) => ({ success: false, message: err.message }));
    target.textContent = answer.message;
    target.dataset.success = answer.success ? "true" : "false";
  }

  async function apply() {
    save();
    const answer = await Torc.api.local("POST", "/api/config", { api_url: Torc.$("cfg-api-url").value })
      .catch((err) => ({ success: false, message: err.message }));
    if (answer.success) {
      Torc.toast(`The dashboard now uses ${answer.api_url}`, "success");
      Torc.loadWorkflows().catch((err) => Torc.toast(err.message, "error"));
    } else Torc.toast(answer.message || answer.stderr, "error");
  }

  function saveCredentials() {
    const user = Torc.$("cfg-username").value.trim();
    if (user) {
      sessionStorage.setItem("torc.username", user);
      sessionStorage.setItem("torc.password", Torc.$("cfg-password").value);
    } else {
      sessionStorage.removeItem("torc.username");
      sessionStorage.removeItem("torc.password");
    }
    Torc.$("cfg-password").value = "";
    Torc.toast(user ? `Requests now carry the credentials of ${user}` : "Credentials removed");
    Torc.loadWorkflows().catch((err) => Torc.toast(err.message, "error"));
  }

  function configured(config) {
    restore();
    if (!config) return;
    if (!Torc.$("cfg-api-url").value) Torc.$("cfg-api-url").value = config.api_url;
    Torc.$("cfg-api-status").textContent = `The dashboard uses ${config.api_url}`;
    showStatus(config.server);
  }

  function init() {
    Torc.$("cfg-start").addEventListener("click", startServer);
    Torc.$("cfg-stop").addEventListener("click", stopServer);
    Torc.$("cfg-test").addEventListener("click", test);
    Torc.$("cfg-apply").addEventListener("click", apply);
    Torc.$("cfg-save-credentials").addEventListener("click", saveCredentials);
    Object.keys(FIELDS).forEach((id) => Torc.$(id).addEventListener("change", save));
  }

  Torc.tabs.config = { activate: refreshStatus };
  return { init, configured };
})();
