// Tables with click-to-sort headers and a filter box. The filter matches every column, or
// one column with `column:value` (the column's label or key, e.g. `status:failed`); several
// terms separated by spaces must all match.
"use strict";

Torc.el = function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

Torc.statusBadge = (status) => Torc.el("span", { class: `status ${status}`, text: status });

Torc.DataTable = class DataTable {
  // columns: [{key, label, render(row) -> Node|string, value(row) -> sortable/filterable}]
  constructor(container, columns, options) {
    this.container = container;
    this.columns = columns;
    this.options = options || {};
    this.rows = [];
    this.sortKey = this.options.sortKey || null;
    this.sortDir = this.options.sortDir || 1;
    this.filterText = "";
    this.maxRows = this.options.maxRows || 5000;
    this.build();
  }

  build() {
    const E = Torc.el;
    this.filter = E("input", {
      class: "table-filter",
      placeholder: "Filter (e.g. status:failed or name:work)",
      oninput: () => { this.filterText = this.filter.value; this.render(); },
    });
    this.count = E("span", { class: "table-count" });
    this.table = E("table", { class: "data" });
    this.container.replaceChildren(
      E("div", { class: "toolbar" }, this.filter, this.count),
      E("div", { class: "table-wrap" }, this.table),
    );
  }

  setRows(rows) {
    this.rows = rows || [];
    this.render();
  }

  value(column, row) {
    if (column.value) return column.value(row);
    const v = row[column.key];
    return v === undefined ? null : v;
  }

  matches(row) {
    const terms = this.filterText.trim().split(/\s+/).filter(Boolean);
    return terms.every((term) => {
      const colon = term.indexOf(":");
      if (colon > 0) {
        const name = term.slice(0, colon).toLowerCase();
        const wanted = term.slice(colon + 1).toLowerCase();
        const column = this.columns.find((c) =>
          c.key.toLowerCase() === name || (c.label || "").toLowerCase().replace(/\s+/g, "_") === name
          || (c.label || "").toLowerCase() === name);
        if (column) return String(this.value(column, row) ?? "").toLowerCase().includes(wanted);
      }
      const needle = term.toLowerCase();
      return this.columns.some((c) => String(this.value(c, row) ?? "").toLowerCase().includes(needle));
    });
  }

  sorted(rows) {
    if (!this.sortKey) return rows;
    const column = this.columns.find((c) => c.key === this.sortKey);
    if (!column) return rows;
    const dir = this.sortDir;
    return rows.slice().sort((a, b) => {
      const x = this.value(column, a); const y = this.value(column, b);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      if (typeof x === "number" && typeof y === "number") return (x - y) * dir;
      return String(x).localeCompare(String(y), undefined, { numeric: true }) * dir;
    });
  }

  render() {
    const E = Torc.el;
    const head = E("tr", {}, this.columns.map((column) => E("th", {
      class: column.key === this.sortKey ? (this.sortDir > 0 ? "sorted-asc" : "sorted-desc") : null,
      dataset: { key: column.key },
      onclick: () => {
        if (this.sortKey === column.key) this.sortDir = -this.sortDir;
        else { this.sortKey = column.key; this.sortDir = 1; }
        this.render();
      },
    }, column.label || column.key)));
    const shown = this.sorted(this.rows.filter((row) => this.matches(row)));
    const body = shown.slice(0, this.maxRows).map((row) => {
      const tr = E("tr", {
        class: this.options.onRowClick ? "clickable" : null,
        dataset: { id: row.id ?? row.job_id ?? "" },
        onclick: this.options.onRowClick ? () => {
          this.table.querySelectorAll("tr.selected").forEach((r) => r.classList.remove("selected"));
          tr.classList.add("selected");
          this.options.onRowClick(row);
        } : null,
      }, this.columns.map((column) => {
        const content = column.render ? column.render(row) : this.value(column, row);
        return E("td", { class: column.class || null }, content ?? "");
      }));
      return tr;
    });
    this.table.replaceChildren(E("thead", {}, head), E("tbody", {}, body));
    const limited = shown.length > this.maxRows ? ` (first ${this.maxRows} shown)` : "";
    this.count.textContent = `${shown.length} of ${this.rows.length} rows${limited}`;
  }
};
