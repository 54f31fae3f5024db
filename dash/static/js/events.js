// Events tab: the selected workflow's events, live (Server-Sent Events from torc-dash), with a
// Live / Reconnecting / Disconnected indicator and automatic reconnection.
"use strict";

Torc.modules.events = (() => {
  const E = Torc.el;
  const MAX_SHOWN = 2000;
  let connection = null;
  let retry = null;
  let delay = 1000;
  let lastTimestamp = null; // to resume after a reconnection without gaps or repeats
  let following = null;

  function indicator(state, title) {
    const node = Torc.$("events-indicator");
    node.className = `indicator ${state}`;
    node.textContent = { live: "Live", reconnecting: "Reconnecting", disconnected: "Disconnected" }[state];
    node.title = title || "";
    node.dataset.state = state;
  }

  function show(name, raw) {
    let event;
    try { event = JSON.parse(raw); } catch (_) { return; }
    lastTimestamp = Math.max(lastTimestamp || 0, event.timestamp || 0);
    const data = event.data && typeof event.data === "object" ? event.data : {};
    const { category, type, ...rest } = data;
    const time = event.timestamp ? new Date(event.timestamp).toLocaleTimeString(undefined, { hour12: false }) + "." + String(event.timestamp % 1000).padStart(3, "0") : "";
    const list = Torc.$("events-list");
    list.prepend(E("div", { class: `event ${name}`, dataset: { type: name, id: event.id } },
      E("span", { class: "time", text: time }),
      E("span", { class: "type", text: name }),
      E("span", { class: "category muted", text: category || "" }),
      E("span", { class: "data", text: JSON.stringify(rest) })));
    while (list.childElementCount > MAX_SHOWN) list.lastElementChild.remove();
  }

  function connect() {
    close();
    const id = Torc.state.workflowId;
    if (!id) { indicator("disconnected", "Select a workflow in the sidebar"); return; }
    following = id;
    const params = { workflow_id: id };
    if (lastTimestamp !== null) params.since = lastTimestamp;
    const handlers = {
      connected: () => { delay = 1000; indicator("live", `Following workflow ${id}`); },
      disconnected: (reason) => indicator("disconnected", reason),
      any: (data, name) => show(name, data),
      onclose: (err) => {
        connection = null;
        if (following !== id) return;
        indicator("reconnecting", err ? err.message : "stream ended");
        retry = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 15000);
      },
    };
    indicator("reconnecting", "connecting");
    connection = Torc.api.stream(`/api/events/stream${Torc.api.query(params)}`, handlers);
  }

  function close() {
    clearTimeout(retry);
    retry = null;
    const open = connection;
    connection = null;
    following = null;
    if (open) open.close();
  }

  function init() {
    Torc.$("events-clear").addEventListener("click", () => Torc.$("events-list").replaceChildren());
    // Events are followed from the moment a workflow is chosen, whichever tab is open.
    Torc.onWorkflowChange(() => {
      Torc.$("events-list").replaceChildren();
      lastTimestamp = null;
      connect();
    });
  }

  return { init, connect, close };
})();
