// Talking to torc-dash: the server's API through the dashboard's proxy (/torc-service/v1),
// the dashboard's own endpoints (/api/...), and its Server-Sent Event streams.
"use strict";

window.Torc = window.Torc || {};

Torc.api = (() => {
  const API = "/torc-service/v1";
  const PAGE = 10000; // the server's largest page

  // Credentials for servers that require authentication: this browser session only. The
  // X-Torc-Dash header marks the page's own requests: the proxy then answers a 401 without a
  // Basic challenge, which would open the browser's sign-in dialog (dash/proxy.py).
  function authHeaders() {
    const user = sessionStorage.getItem("torc.username");
    if (!user) return { "X-Torc-Dash": "page" };
    const password = sessionStorage.getItem("torc.password") || "";
    const bytes = new TextEncoder().encode(`${user}:${password}`);
    let binary = "";
    bytes.forEach((b) => { binary += String.fromCharCode(b); });
    return { "X-Torc-Dash": "page", Authorization: "Basic " + btoa(binary) };
  }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function request(method, url, body) {
    const headers = { ...authHeaders() };
    const options = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      Torc.setConnection(false, "torc-dash unreachable");
      throw new ApiError(0, `torc-dash unreachable: ${err.message}`);
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (url.startsWith(API)) {
      Torc.setConnection(response.status !== 502, response.status === 502 ? messageOf(data) : "");
    }
    if (!response.ok) {
      throw new ApiError(response.status, messageOf(data) || `${response.status} ${response.statusText}`);
    }
    return data;
  }

  function messageOf(data) {
    if (!data) return "";
    if (typeof data === "string") return data;
    return data.message || data.errorMessage || data.stderr || JSON.stringify(data);
  }

  function query(params) {
    const entries = Object.entries(params || {}).filter(([, v]) => v !== undefined && v !== null && v !== "");
    return entries.length ? "?" + new URLSearchParams(entries).toString() : "";
  }

  // Every item of a list endpoint, page by page.
  async function listAll(path, params) {
    const items = [];
    let offset = 0;
    for (;;) {
      const page = await request("GET", API + path + query({ ...params, offset, limit: PAGE }));
      items.push(...page.items);
      offset += page.count;
      if (!page.has_more || page.count === 0) return items;
    }
  }

  // A dashboard CLI endpoint: {success, stdout, stderr, exit_code}; HTTP errors keep the shape.
  async function cli(name, body) {
    try {
      return await request("POST", `/api/cli/${name}`, body || {});
    } catch (err) {
      return { success: false, stdout: "", stderr: err.message, exit_code: err.status || 1 };
    }
  }

  // A Server-Sent Event stream read with fetch (so credentials travel in a header, which
  // EventSource cannot send). handlers: {event: fn(data), onopen, onclose(error)}.
  function stream(url, handlers) {
    const controller = new AbortController();
    const done = (async () => {
      let response;
      try {
        response = await fetch(url, { headers: authHeaders(), signal: controller.signal });
        if (!response.ok || !response.body) throw new Error(`${response.status} ${response.statusText}`);
      } catch (err) {
        if (handlers.onclose) handlers.onclose(controller.signal.aborted ? null : err);
        return;
      }
      if (handlers.onopen) handlers.onopen();
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      try {
        for (;;) {
          const { value, done: finished } = await reader.read();
          if (finished) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            dispatch(buffer.slice(0, cut), handlers);
            buffer = buffer.slice(cut + 2);
          }
        }
        if (handlers.onclose) handlers.onclose(null);
      } catch (err) {
        if (handlers.onclose) handlers.onclose(controller.signal.aborted ? null : err);
      }
    })();
    return { close: () => controller.abort(), done };
  }

  function dispatch(frame, handlers) {
    let name = "message";
    const data = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith(":")) continue; // a comment (keepalive)
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (!data.length && name === "message") return;
    const handler = handlers[name] || handlers.any;
    if (handler) handler(data.join("\n"), name);
  }

  return {
    API, ApiError, request, listAll, cli, stream, query, authHeaders,
    get: (path, params) => request("GET", API + path + query(params)),
    post: (path, body, params) => request("POST", API + path + query(params), body),
    put: (path, body) => request("PUT", API + path, body),
    del: (path) => request("DELETE", API + path),
    local: (method, path, body) => request(method, path, body),
  };
})();
