"use strict";
// The police channel, the suspicious list, the audit trail (supervisors) and user management (supervisors).
(function () {
  const TX = window.TX;

  function page(title, ...parts) {
    document.getElementById("main").replaceChildren(TX.el("h1", { text: TX.t(title) }), ...parts);
  }

  function failed(slot, e) {
    document.getElementById(slot).replaceChildren(TX.message(TX.t("error") + ": " + e.message, "err"));
  }

  TX.pages.police = {
    reports: null,
    account: "",
    async start() { this.render(); await this.load(); TX.watch(() => this.load(), 2000, "/api/police/version"); },
    async load() {
      const q = this.account ? "?account=" + encodeURIComponent(this.account) : "";
      try { this.reports = (await TX.api("GET", "/api/police/reports" + q)).reports; } catch (e) { failed("reports", e); return; }
      this.renderTable();
    },
    render() {
      const account = TX.el("input", { id: "f-account", type: "search", value: this.account, placeholder: TX.t("f_account") });
      account.addEventListener("change", () => { this.account = account.value.trim(); this.load(); });
      page("police_title", TX.el("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
        TX.el("label", {}, TX.t("f_account"), account)), TX.el("div", { id: "reports" }));
      if (this.reports) this.renderTable();
    },
    renderTable() {
      const reason = TX.lang === "vi" ? "reason_vi" : "reason_en";
      const rows = this.reports.map((r) => TX.el("tr", { "data-report": r.report_id, "data-account": r.account_id,
        class: "row-" + r.severity },
      TX.el("td", { text: TX.t("r_" + r.kind) }),
      TX.el("td", { class: "mono", text: r.account_id }),
      TX.el("td", { text: r.reporting_bank }),
      TX.el("td", { class: "num", text: TX.vnd(r.amount_vnd) }),
      TX.el("td", { class: "mono", text: [r.counterparty_account, r.counterparty_bank].filter(Boolean).join(" @ ") || TX.t("none") }),
      TX.el("td", { class: "mono", text: (r.ip || TX.t("none")) + (r.ip_country ? " (" + r.ip_country + ")" : "") }),
      TX.el("td", { class: "mono", text: TX.value(r.device_id) }),
      TX.el("td", { text: TX.time(r.event_ts) }),
      TX.el("td", { text: r.rule_id }),
      TX.el("td", { class: "reason", text: r[reason] }),
      TX.el("td", { text: TX.time(r.reported_at) }),
      TX.el("td", { class: "mono small", text: r.idempotency_key })));
      const headers = ["r_kind", "c_account", "r_bank", "c_amount", "r_counterparty", "r_ip", "r_device", "r_event_ts",
        "c_rules", "c_reason", "r_reported", "r_key"].map((k) => TX.t(k));
      document.getElementById("reports").replaceChildren(rows.length
        ? TX.table(headers, rows, { id: "reports-table" }) : TX.message(TX.t("reports_empty")));
    },
  };

  TX.pages.suspicious = {
    entries: null,
    msg: null,
    async start() { await this.load(); TX.watch(() => this.load()); },
    async load() {
      try { this.entries = (await TX.api("GET", "/api/suspicious")).accounts; } catch (e) { failed("main", e); return; }
      this.render();
    },
    async change(account, reason, listed) {
      try {
        const { outcome } = await TX.api(listed ? "POST" : "DELETE",
          "/api/accounts/" + encodeURIComponent(account) + "/suspicious", { reason, command_id: TX.commandId() });
        this.msg = TX.message(outcome.changed ? TX.t("done", { a: TX.t(listed ? "a_suspicious_add" : "a_suspicious_remove") })
          : TX.t("no_change", { note: outcome.note || "" }), outcome.changed ? "ok" : "info");
      } catch (e) { this.msg = TX.message(TX.t("error") + ": " + e.message, "err"); }
      await this.load();
    },
    render() {
      if (!this.entries) return;
      const canAct = TX.me.permissions.includes("act");
      const account = TX.el("input", { id: "s-account", required: true, placeholder: TX.t("c_account") });
      const reason = TX.el("input", { id: "s-reason", required: true, placeholder: TX.t("reason_label") });
      const add = canAct ? TX.el("form", { class: "filters", onsubmit: (e) => {
        e.preventDefault();
        if (account.value.trim() && reason.value.trim()) this.change(account.value.trim(), reason.value.trim(), true);
      } }, account, reason, TX.el("button", { type: "submit", id: "s-add", text: TX.t("add") })) : null;
      const rows = this.entries.map((x) => {
        const why = TX.el("input", { placeholder: TX.t("reason_label"), class: "inline" });
        return TX.el("tr", { "data-account": x.account_id }, TX.el("td", { class: "mono", text: x.account_id }),
          TX.el("td", { text: x.reason }), TX.el("td", { text: x.by }), TX.el("td", { text: TX.time(x.at) }),
          TX.el("td", {}, canAct ? [why, TX.el("button", { type: "button", text: TX.t("remove"), onclick: () => {
            if (why.value.trim()) this.change(x.account_id, why.value.trim(), false); else why.focus();
          } })] : null));
      });
      page("suspicious_title", add, TX.el("div", { id: "s-msg" }, this.msg), rows.length
        ? TX.table([TX.t("c_account"), TX.t("c_reason"), TX.t("l_by"), TX.t("l_at"), ""], rows, { id: "suspicious-table" })
        : TX.message(TX.t("list_empty")));
    },
  };

  TX.pages.audit = {
    records: null,
    filters: { account: "", who: "", action: "" },
    async start() { this.render(); await this.load(); TX.watch(() => this.load()); },
    async load() {
      const q = new URLSearchParams(Object.entries(this.filters).filter(([, v]) => v));
      try { this.records = (await TX.api("GET", "/api/audit?" + q)).records; } catch (e) { failed("audit", e); return; }
      this.renderTable();
    },
    render() {
      const inputs = ["account", "who", "action"].map((k) => {
        const input = TX.el("input", { id: "f-" + k, type: "search", value: this.filters[k] });
        input.addEventListener("change", () => { this.filters[k] = input.value.trim(); this.load(); });
        return TX.el("label", {}, TX.t("f_" + k), input);
      });
      page("audit_title", TX.el("form", { class: "filters", onsubmit: (e) => e.preventDefault() }, inputs),
        TX.el("div", { id: "audit" }));
      if (this.records) this.renderTable();
    },
    renderTable() {
      const rows = this.records.map((r) => TX.el("tr", { "data-command": r.command_id, "data-action": r.action },
        TX.el("td", { text: TX.time(r.when) }), TX.el("td", { text: r.who }), TX.el("td", { text: r.role }),
        TX.el("td", { text: r.action }), TX.el("td", { class: "mono", text: r.subject }),
        TX.el("td", { class: "reason", text: r.reason }), TX.el("td", { class: "small", text: TX.value(r.before) }),
        TX.el("td", { class: "small", text: TX.value(r.after) }), TX.el("td", { class: "mono small", text: r.command_id })));
      const headers = ["a_when", "a_who", "a_role", "a_action", "a_subject", "c_reason", "a_before", "a_after",
        "a_command"].map((k) => TX.t(k));
      document.getElementById("audit").replaceChildren(rows.length
        ? TX.table(headers, rows, { id: "audit-table" }) : TX.message(TX.t("audit_empty")));
    },
  };

  const ROLES = ["officer", "supervisor", "police"];

  TX.pages.users = {
    users: null,
    msg: null,
    async start() { await this.load(); },
    async load() {
      try { this.users = (await TX.api("GET", "/api/users")).users; } catch (e) { failed("main", e); return; }
      this.render();
    },
    async send(method, path, body, okKey, name) {
      try {
        await TX.api(method, path, { ...body, command_id: TX.commandId() });
        this.msg = TX.message(TX.t(okKey, { n: name }), "ok");
      } catch (e) { this.msg = TX.message(TX.t("error") + ": " + e.message, "err"); }
      await this.load();
    },
    render() {
      if (!this.users) return;
      const name = TX.el("input", { id: "u-name", required: true, placeholder: TX.t("u_name") });
      const role = TX.el("select", { id: "u-role" }, ROLES.map((r) => TX.el("option", { value: r, text: TX.t("role_" + r) })));
      const password = TX.el("input", { id: "u-password", type: "password", required: true, minlength: 10,
        autocomplete: "new-password", placeholder: TX.t("u_new_password") });
      const create = TX.el("form", { class: "filters", onsubmit: (e) => {
        e.preventDefault();
        this.send("POST", "/api/users", { name: name.value.trim(), role: role.value, password: password.value },
          "u_created_ok", name.value.trim());
      } }, name, role, password, TX.el("button", { type: "submit", id: "u-create", text: TX.t("u_create") }));
      const rows = this.users.map((u) => {
        const why = TX.el("input", { placeholder: TX.t("reason_label"), class: "inline" });
        const newRole = TX.el("select", {}, ROLES.map((r) => TX.el("option", { value: r, selected: r === u.role, text: TX.t("role_" + r) })));
        const pw = TX.el("input", { type: "password", class: "inline", autocomplete: "new-password", placeholder: TX.t("u_new_password") });
        const update = (body) => {
          if (!why.value.trim()) { why.focus(); return; }
          this.send("POST", "/api/users/" + encodeURIComponent(u.name), { ...body, reason: why.value.trim() }, "u_updated_ok", u.name);
        };
        return TX.el("tr", { "data-user": u.name }, TX.el("td", { text: u.name }), TX.el("td", { text: TX.t("role_" + u.role) }),
          TX.el("td", { text: TX.value(u.active) }), TX.el("td", { text: TX.time(u.created_at) + " · " + u.created_by }),
          TX.el("td", {}, why, newRole, TX.el("button", { type: "button", text: TX.t("u_set_role"), onclick: () => update({ role: newRole.value }) }),
            TX.el("button", { type: "button", text: TX.t(u.active ? "u_deactivate" : "u_activate"), onclick: () => update({ active: !u.active }) }),
            pw, TX.el("button", { type: "button", text: TX.t("u_reset"), onclick: () => pw.value && update({ password: pw.value }) })));
      });
      page("users_title", create, TX.el("div", { id: "u-msg" }, this.msg),
        TX.table([TX.t("u_name"), TX.t("u_role"), TX.t("u_active"), TX.t("u_created"), ""], rows, { id: "users-table" }));
    },
  };

  // A user's own password (any role); supervisors confirm with their TOTP code.
  TX.pages.password = {
    msg: null,
    async start() { this.render(); },
    async send(current, next, code) {
      try {
        const r = await TX.api("POST", "/api/me/password", { current_password: current, new_password: next, code });
        TX.me.csrf = r.csrf;  // the change starts a new session
        this.msg = TX.message(TX.t("pw_changed"), "ok");
      } catch (e) { this.msg = TX.message(TX.t("error") + ": " + e.message, "err"); }
      this.render();
    },
    render() {
      const current = TX.el("input", { id: "pw-current", type: "password", required: true,
        autocomplete: "current-password", placeholder: TX.t("pw_current") });
      const next = TX.el("input", { id: "pw-new", type: "password", required: true, minlength: 10,
        autocomplete: "new-password", placeholder: TX.t("u_new_password") });
      const code = TX.el("input", { id: "pw-code", inputmode: "numeric", maxlength: 6,
        autocomplete: "one-time-code", placeholder: TX.t("totp_code") });
      const parts = TX.me.role === "supervisor" ? [current, next, code] : [current, next];
      const form = TX.el("form", { class: "filters", onsubmit: (e) => {
        e.preventDefault();
        this.send(current.value, next.value, code.value.trim());
      } }, ...parts, TX.el("button", { type: "submit", id: "pw-submit", text: TX.t("pw_change") }));
      page("pw_title", form, TX.el("p", { class: "muted", text: TX.t("pw_rules") }), TX.el("div", { id: "pw-msg" }, this.msg));
    },
  };
})();
