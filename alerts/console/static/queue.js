"use strict";
// The queue page on the case store: filters, search, sort, paging, live updates (server-sent
// events), the next case, CSV export and bulk actions with a result per case.
(function () {
  const TX = window.TX;
  const FILTERS = ["status", "rule", "channel", "kind", "workflow", "assignee", "amount_min", "amount_max",
    "from", "to", "q", "sort", "offset"];
  const DEFAULTS = { status: "open", sort: "severity", offset: "0" };
  const LIMIT = 50;

  TX.ruleOrder = (a, b) => {
    const n = (r) => parseInt((r.match(/\d+/) || ["0"])[0], 10);
    return n(a) - n(b) || (a < b ? -1 : a > b ? 1 : 0);
  };
  TX.duration = (s) => TX.age(Math.max(0, Math.round(s)));

  TX.slaText = (c) => {
    const sla = c.sla || {};
    const parts = [];
    if (sla.hold_left_s !== null && sla.hold_left_s !== undefined) {
      parts.push(TX.el("div", { class: sla.hold_warning ? "sla-warn" : null,
        text: sla.hold_left_s > 0 ? TX.t("hold_left", { t: TX.duration(sla.hold_left_s) }) : TX.t("hold_over") }));
    }
    if (sla.limit_left_s !== null && sla.limit_left_s !== undefined) {
      parts.push(TX.el("div", { class: "muted small" + (sla.limit_warning ? " sla-warn" : ""),
        text: TX.t("limit_left", { t: TX.duration(Math.max(sla.limit_left_s, 0)) }) }));
    }
    parts.push(TX.el("div", { class: "muted small", title: TX.time(c.opened_at),
      text: TX.t("opened_for", { t: TX.duration(sla.open_s || 0) }) }));
    return parts;
  };

  TX.pages.queue = {
    data: null,
    seen: null,
    fresh: new Set(),
    selected: new Set(),
    codes: [],
    bulkResult: null,
    filters: (() => {
      const q = new URLSearchParams(location.search);
      return Object.fromEntries(FILTERS.map((k) => [k, q.get(k) || DEFAULTS[k] || ""]));
    })(),

    async start() {
      try { this.codes = (await TX.api("GET", "/api/case-work/reasons")).codes; } catch (e) { this.codes = ["other"]; }
      this.render();
      await this.load();
      this.live();
    },

    live() {
      // New cases appear without a reload: the console pushes "changed" when the case store changed.
      const source = new EventSource("/api/case-queue/events");
      source.addEventListener("changed", () => {
        clearTimeout(this.pending);
        this.pending = setTimeout(() => this.load(), 200);
      });
      source.addEventListener("hello", () => { const s = document.getElementById("live"); if (s) s.hidden = false; });
      this.source = source;
    },

    params(extra) {
      const q = new URLSearchParams(Object.entries({ ...this.filters, ...(extra || {}) }).filter(([, v]) => v !== ""));
      q.set("limit", String(LIMIT));
      return q;
    },

    async load() {
      try {
        this.data = await TX.api("GET", "/api/case-queue?" + this.params());
      } catch (e) {
        document.getElementById("queue-status").replaceChildren(TX.message(TX.t("error") + ": " + e.message, "err"));
        return;
      }
      const ids = this.data.cases.map((c) => c.case_id);
      if (this.seen !== null) for (const id of ids) if (!this.seen.has(id)) this.fresh.add(id);
      this.seen = new Set([...(this.seen || []), ...ids]);
      this.renderRuleOptions();
      this.renderTable();
    },

    set(name, value) {
      this.filters[name] = value;
      if (name !== "offset") this.filters.offset = "0";
      const q = new URLSearchParams(Object.entries(this.filters).filter(([k, v]) => v && v !== DEFAULTS[k]));
      history.replaceState(null, "", "/" + (q.toString() ? "?" + q : ""));
      this.load();
    },

    select(name, options, label) {
      return TX.el("label", {}, label, TX.el("select", { id: "f-" + name, name,
        onchange: (e) => this.set(name, e.target.value) },
      options.map(([v, text]) => TX.el("option", { value: v, selected: this.filters[name] === v, text }))));
    },

    input(name, label, attrs) {
      const box = TX.el("input", { id: "f-" + name, value: this.filters[name], ...(attrs || {}) });
      box.addEventListener(attrs && attrs.type === "date" ? "change" : "input", () => {
        clearTimeout(this.typing);
        this.typing = setTimeout(() => this.set(name, box.value.trim()), 350);
      });
      return TX.el("label", {}, label, box);
    },

    render() {
      const main = document.getElementById("main");
      const statuses = ["open", "open_alerts", "all", "active", "extended", "released", "confirmed", "expired",
        "dismissed", "escalated"];
      main.replaceChildren(
        TX.el("h1", { text: TX.t("queue_title") }),
        TX.el("div", { class: "buttons" },
          TX.el("span", { id: "live", class: "badge live", hidden: true, text: TX.t("live") }),
          TX.el("button", { type: "button", id: "next-case", text: TX.t("next_case"), onclick: () => this.nextCase() }),
          TX.el("a", { id: "export-csv", class: "button", href: "#", text: TX.t("export_csv"),
            onclick: (e) => { e.currentTarget.href = "/api/case-queue.csv?" + this.params({ offset: "" }); } }),
          TX.el("span", { id: "next-result" })),
        TX.el("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
          this.input("q", TX.t("q_search"), { type: "search", size: 34 }),
          this.select("status", statuses.map((s) => [s, TX.t("s_" + s)]), TX.t("f_status")),
          TX.el("label", {}, TX.t("f_rule"), TX.el("select", { id: "f-rule", onchange: (e) => this.set("rule", e.target.value) })),
          this.select("channel", [["", TX.t("f_all")], ["bank", TX.t("ch_bank")], ["police", TX.t("ch_police")]], TX.t("f_channel")),
          this.select("kind", [["", TX.t("f_all")], ...["hold", "freeze", "alert"].map((k) => [k, TX.t("kind_" + k)])], TX.t("q_kind")),
          this.select("workflow", [["", TX.t("f_all")], ...["new", "investigating", "resolved"].map((w) => [w, TX.t("wf_" + w)])], TX.t("q_workflow")),
          this.input("assignee", TX.t("q_assignee"), { size: 10, placeholder: "me / none" }),
          this.input("amount_min", TX.t("q_amount_min"), { type: "number", min: 0, step: 1000000, class: "narrow" }),
          this.input("amount_max", TX.t("q_amount_max"), { type: "number", min: 0, step: 1000000, class: "narrow" }),
          this.input("from", TX.t("q_from"), { type: "date" }),
          this.input("to", TX.t("q_to"), { type: "date" }),
          this.select("sort", ["severity", "age", "newest", "amount", "expiry"].map((s) => [s, TX.t("sort_" + s)]), TX.t("q_sort"))),
        TX.el("div", { id: "queue-status" }),
        TX.el("div", { id: "bulk" }),
        TX.el("div", { id: "queue" }),
        TX.el("div", { id: "pager", class: "buttons" }));
      if (this.data) { this.renderRuleOptions(); this.renderTable(); }
    },

    renderRuleOptions() {
      const box = document.getElementById("f-rule");
      if (!box) return;
      const rules = [...new Set([...(this.data ? this.data.rules : []), ...(this.filters.rule ? [this.filters.rule] : [])])];
      rules.sort(TX.ruleOrder);
      box.replaceChildren(...[["", TX.t("f_all")], ...rules.map((r) => [r, r])].map(([v, text]) =>
        TX.el("option", { value: v, selected: this.filters.rule === v, text })));
    },

    async nextCase() {
      const out = document.getElementById("next-result");
      try {
        const r = await TX.api("POST", "/api/case-work/next", { reason_code: "other", reason: "next case",
          command_id: TX.commandId() });
        if (!r.case_id) { out.replaceChildren(TX.message(TX.t("no_next"), "info")); return; }
        location.href = "/case/" + encodeURIComponent(r.case_id);
      } catch (e) {
        out.replaceChildren(TX.message(TX.t("error") + ": " + e.message, "err"));
      }
    },

    workCell(c) {
      return TX.el("td", {},
        TX.el("span", { class: "badge wf-" + c.workflow, text: TX.t("wf_" + c.workflow) + (c.resolution ? " · " + TX.t("res_" + c.resolution) : "") }),
        TX.el("div", { class: "muted small", text: c.claimed_by ? TX.t("claimed_by", { u: c.claimed_by })
          : (c.assignee ? "→ " + c.assignee : TX.t("unassigned")) }));
    },

    renderTable() {
      const d = this.data;
      const reason = TX.lang === "vi" ? "reason_vi" : "reason_en";
      const rows = d.cases.map((c) => {
        const box = TX.el("input", { type: "checkbox", class: "pick", "data-case": c.case_id, checked: this.selected.has(c.case_id),
          onclick: (e) => { e.stopPropagation(); if (e.target.checked) this.selected.add(c.case_id); else this.selected.delete(c.case_id); this.renderBulk(); } });
        return TX.el("tr", {
          class: "row-" + c.severity + (this.fresh.has(c.case_id) ? " new" : ""),
          "data-case": c.case_id, "data-account": c.account_id, "data-status": c.status, "data-workflow": c.workflow,
          onclick: () => { location.href = "/case/" + encodeURIComponent(c.case_id); },
        },
        TX.el("td", { onclick: (e) => e.stopPropagation() }, box),
        TX.el("td", {}, TX.badge("sev", c.severity)),
        TX.el("td", {}, TX.el("a", { href: "/case/" + encodeURIComponent(c.case_id), text: c.case_id }),
          TX.el("div", { class: "muted", text: TX.t("kind_" + c.kind) })),
        TX.el("td", { class: "mono", text: c.account_id }),
        TX.el("td", { text: [...c.rules].sort(TX.ruleOrder).join(", ") }),
        TX.el("td", {}, TX.badge("st", c.status)),
        this.workCell(c),
        TX.el("td", { class: "reason", text: c[reason] }),
        TX.el("td", { class: "num", text: TX.vnd(c.amount_vnd) }),
        TX.el("td", { class: "num" }, TX.slaText(c)),
        TX.el("td", { class: "num", text: c.alert_count }));
      });
      const a = d.cases.length ? d.offset + 1 : 0, b = d.offset + d.cases.length;
      const total = d.total_exact ? d.total.toLocaleString("vi-VN") : TX.t("more_than", { n: d.total.toLocaleString("vi-VN") });
      const freshCount = d.cases.filter((c) => this.fresh.has(c.case_id)).length;
      document.getElementById("queue-status").replaceChildren(TX.el("p", { class: "muted", id: "queue-count" },
        TX.t("page_of", { a, b, total, open: d.open_total.toLocaleString("vi-VN") }), " · ",
        TX.t("updated", { t: new Date().toLocaleTimeString(TX.lang === "vi" ? "vi-VN" : "en-GB") }),
        freshCount ? TX.el("strong", { class: "new-count", text: " · " + TX.t("new_cases", { n: freshCount }) }) : null));
      const all = TX.el("input", { type: "checkbox", id: "pick-page", title: TX.t("select_page"),
        checked: d.cases.length > 0 && d.cases.every((c) => this.selected.has(c.case_id)),
        onclick: (e) => { for (const c of d.cases) { if (e.target.checked) this.selected.add(c.case_id); else this.selected.delete(c.case_id); } this.renderTable(); } });
      const headers = ["c_severity", "c_case", "c_account", "c_rules", "c_status", "c_work", "c_reason", "c_amount",
        "c_sla", "c_alerts"].map((k) => TX.t(k));
      const table = TX.table(["", ...headers], rows, { id: "queue-table", class: "cases" });
      table.querySelector("th").replaceChildren(all);
      document.getElementById("queue").replaceChildren(rows.length ? table : TX.message(TX.t("queue_empty")));
      const off = d.offset;
      document.getElementById("pager").replaceChildren(
        TX.el("button", { type: "button", id: "page-prev", disabled: off <= 0, text: TX.t("prev"),
          onclick: () => this.set("offset", String(Math.max(off - LIMIT, 0))) }),
        TX.el("button", { type: "button", id: "page-next", disabled: b >= d.total, text: TX.t("next"),
          onclick: () => this.set("offset", String(off + LIMIT)) }));
      this.renderBulk();
    },

    renderBulk() {
      const slot = document.getElementById("bulk");
      if (!this.selected.size && !this.bulkResult) { slot.replaceChildren(); return; }
      const can = new Set(TX.me.permissions);
      const actions = ["dismiss", "release", ...(can.has("assign") ? ["assign"] : [])];
      const action = TX.el("select", { id: "bulk-action" }, actions.map((x) => TX.el("option", { value: x, text: TX.t("bulk_" + x) })));
      const code = TX.el("select", { id: "bulk-reason-code" }, this.codes.map((x) => TX.el("option", { value: x, text: TX.t("rc_" + x) })));
      const text = TX.el("input", { id: "bulk-reason", size: 30 });
      const assignee = TX.el("input", { id: "bulk-assignee", size: 12 });
      slot.replaceChildren(TX.el("form", { class: "card bulk", id: "bulk-form", onsubmit: (e) => { e.preventDefault(); this.bulk(action.value, code.value, text.value, assignee.value); } },
        TX.el("h2", { text: TX.t("bulk_title", { n: this.selected.size }) }),
        TX.el("div", { class: "filters" },
          TX.el("label", {}, TX.t("bulk_action"), action), TX.el("label", {}, TX.t("reason_code"), code),
          TX.el("label", {}, TX.t("reason_text"), text), can.has("assign") ? TX.el("label", {}, TX.t("assignee"), assignee) : null,
          TX.el("button", { type: "submit", id: "bulk-apply", disabled: !this.selected.size, text: TX.t("bulk_apply") })),
        this.bulkResult));
    },

    async bulk(action, code, text, assignee) {
      const body = { action, case_ids: [...this.selected], reason_code: code, reason: text, command_id: TX.commandId() };
      if (action === "assign") body.assignee = assignee.trim() || null;
      try {
        const r = await TX.api("POST", "/api/case-work/bulk", body);
        const rows = r.results.map((x) => TX.el("tr", { class: x.ok ? "ok" : "failed", "data-case": x.case_id },
          TX.el("td", { class: "mono", text: x.case_id }),
          TX.el("td", { text: x.ok ? (x.changed ? "✓" : "= " + (x.note || "")) : "✗ " + x.message })));
        this.bulkResult = TX.el("div", { id: "bulk-result" }, TX.message(TX.t("bulk_done", { ok: r.ok, failed: r.failed }), r.failed ? "warn" : "ok"),
          TX.table([TX.t("c_case"), TX.t("bulk_action")], rows, { class: "compact" }));
        this.selected.clear();
      } catch (e) {
        this.bulkResult = TX.message(TX.t("error") + ": " + e.message, "err");
      }
      await this.load();
    },
  };
})();

// Evidence fields, localised and formatted (shared by the case page).
(function () {
  const TX = window.TX;
  TX.field = (k) => {
    const key = "ev_" + k;
    const t = TX.t(key);
    return t === key ? k.replace(/_/g, " ") : t;
  };
  TX.fact = (k, v) => {
    if (v === null || v === undefined || v === "") return TX.t("none");
    if (Array.isArray(v)) return v.length ? v.map((x) => TX.fact(k, x)).join(", ") : TX.t("none");
    if (typeof v === "boolean") return TX.t(v ? "yes" : "no");
    if (typeof v === "number" && (k.endsWith("_vnd") || k === "amount")) return TX.vnd(v);
    if (typeof v === "number" && (k.startsWith("seconds_") || k.endsWith("_s"))) return TX.duration(v);
    if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v)) return TX.time(v);
    if (typeof v === "object") return Object.entries(v).map(([a, b]) => TX.field(a) + ": " + TX.fact(a, b)).join("; ");
    return String(v);
  };
})();
