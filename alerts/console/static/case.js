"use strict";
// The case page: evidence, reasons in both languages, the account's facts, and the officer's actions.
(function () {
  const TX = window.TX;

  TX.pages.case = {
    id: decodeURIComponent(location.pathname.split("/")[2] || ""),
    data: null,
    form: null, // the open action form survives refreshes

    async start() {
      const main = document.getElementById("main");
      main.replaceChildren(
        TX.el("p", {}, TX.el("a", { href: "/", text: TX.t("back") })),
        TX.el("div", { id: "case-head" }),
        TX.el("section", { id: "actions", class: "card" }),
        TX.el("div", { id: "form-slot" }),
        TX.el("div", { id: "case-body" }));
      await this.load();
      TX.watch(() => this.load());
    },

    async load() {
      try {
        this.data = await TX.api("GET", "/api/cases/" + encodeURIComponent(this.id));
      } catch (e) {
        document.getElementById("case-head").replaceChildren(TX.message(TX.t("error") + ": " + e.message, "err"));
        return;
      }
      this.render();
    },

    render(full) {
      if (!this.data) return;
      const d = this.data, c = d.case;
      document.querySelector("#main > p a").textContent = TX.t("back");
      document.getElementById("case-head").replaceChildren(
        TX.el("h1", {}, TX.el("span", { class: "mono", text: c.case_id }), " ", TX.badge("sev", c.severity), " ",
          TX.el("span", { id: "case-status" }, TX.badge("st", c.status))),
        TX.kv([
          [TX.t("c_account"), TX.el("span", { class: "mono", text: c.account_id })],
          [TX.t("kind"), TX.t("kind_" + c.kind)],
          [TX.t("c_rules"), [...c.rules].sort(TX.ruleOrder).join(", ")],
          [TX.t("c_channels"), c.channels.map((x) => TX.t("ch_" + x)).join(", ")],
          [TX.t("opened"), TX.time(c.opened_at) + " (" + TX.age(c.age_s) + ")"],
          [TX.t("c_amount"), TX.vnd(c.amount_vnd)],
          ["", d.account.suspicious ? TX.el("strong", { class: "warn", text: TX.t("listed") }) : TX.t("not_listed")],
        ]));
      this.renderActions();
      if (full && this.form) this.renderForm();
      document.getElementById("case-body").replaceChildren(
        this.holdCard(), this.reasonsCard(), this.factsCard(), this.evidenceCard(), this.accountCard());
    },

    renderActions() {
      const d = this.data;
      const actions = [...d.actions, d.account.suspicious ? "suspicious_remove" : "suspicious_add"];
      document.getElementById("actions").replaceChildren(
        TX.el("h2", { text: TX.t("actions") }),
        TX.el("div", { class: "buttons" }, actions.map((a) => TX.el("button", {
          type: "button", id: "act-" + a, class: a === "confirm" ? "danger" : null, text: TX.t("a_" + a),
          onclick: () => { this.form = { action: a, commandId: TX.commandId(), result: null }; this.renderForm(); },
        }))),
        TX.el("div", { id: "action-result" }, this.result || null));
    },

    renderForm() {
      const slot = document.getElementById("form-slot");
      const f = this.form;
      if (!f) { slot.replaceChildren(); return; }
      const reason = TX.el("textarea", { id: "reason", rows: 3, maxlength: 1000 });
      reason.value = f.reason || "";
      reason.addEventListener("input", () => { f.reason = reason.value; });
      const hours = TX.el("select", { id: "hours" }, [12, 24, 48, 72].map((h) =>
        TX.el("option", { value: h, selected: h === (f.hours || 24), text: h })));
      hours.addEventListener("change", () => { f.hours = Number(hours.value); });
      slot.replaceChildren(TX.el("form", { class: "card action-form", id: "action-form",
        onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      TX.el("h2", { text: TX.t("a_" + f.action) }),
      f.action === "confirm" ? TX.el("p", { class: "warn", text: TX.t("confirm_note") }) : null,
      TX.el("label", {}, TX.t("reason_label"), reason),
      f.action === "extend" ? TX.el("label", {}, TX.t("hours"), hours) : null,
      TX.el("div", { id: "form-error" }, f.error ? TX.message(f.error, "err") : null),
      TX.el("div", { class: "buttons" },
        TX.el("button", { type: "submit", id: "submit-action", text: TX.t("submit") }),
        TX.el("button", { type: "button", id: "cancel-action", text: TX.t("cancel"),
          onclick: () => { this.form = null; this.renderForm(); } }))));
      reason.focus();
    },

    async submit() {
      const f = this.form, d = this.data;
      if (!f.reason || !f.reason.trim()) { f.error = TX.t("reason_required"); this.renderForm(); return; }
      const body = { reason: f.reason.trim(), command_id: f.commandId };
      let method = "POST", path = "/api/cases/" + encodeURIComponent(this.id) + "/" + f.action;
      if (f.action === "extend") body.hours = f.hours || 24;
      if (f.action.startsWith("suspicious_")) {
        path = "/api/accounts/" + encodeURIComponent(d.case.account_id) + "/suspicious";
        method = f.action === "suspicious_add" ? "POST" : "DELETE";
      }
      try {
        const { outcome } = await TX.api(method, path, body);
        const text = outcome.changed ? TX.t("done", { a: TX.t("a_" + f.action) })
          : TX.t("no_change", { note: outcome.note || "" });
        this.result = TX.el("div", {}, TX.message(text, outcome.changed ? "ok" : "info"),
          outcome.delivered === false ? TX.message(TX.t("delivery_pending"), "warn") : null);
        this.form = null;
        this.renderForm();
        await this.load();
      } catch (e) {
        f.error = TX.t("error") + ": " + e.message;
        this.renderForm();
      }
    },

    holdCard() {
      const h = this.data.hold;
      if (!h) return null;
      return TX.el("section", { class: "card", id: "hold" }, TX.el("h2", { text: TX.t("hold") }), TX.kv([
        [TX.t("c_status"), TX.badge("st", h.status)],
        [TX.t("created"), TX.time(h.created_at)],
        [TX.t("expires"), TX.time(h.expires_at)],
        [TX.t("updated_by"), (h.updated_by || "txmon") + " · " + TX.time(h.updated_at)],
        [TX.t("c_alerts"), h.alert_ids.join(", ")],
      ]));
    },

    reasonsCard() {
      const [main, other] = TX.lang === "vi" ? ["reason_vi", "reason_en"] : ["reason_en", "reason_vi"];
      return TX.el("section", { class: "card", id: "reasons" }, TX.el("h2", { text: TX.t("reasons") }),
        TX.el("ul", {}, [...this.data.alerts].sort((x, y) => TX.ruleOrder(x.rule_id, y.rule_id)).map((a) => TX.el("li", { "data-rule": a.rule_id },
          TX.el("strong", { text: a.rule_id + " · " + a.rule_name + " " }), TX.badge("sev", a.severity),
          TX.el("p", { class: "reason", lang: main.slice(-2), text: a[main] }),
          TX.el("p", { class: "muted", lang: other.slice(-2), text: a[other] })))));
    },

    factsCard() {
      const f = this.data.facts, p = this.data.account.profile;
      const ips = f.ips.map((x) => x.ip + " (" + (x.country || TX.t("country_unknown")) + ")").join(", ");
      const devices = f.devices.map((x) => x.device_id + (x.device_never_seen ? " *" : "")).join(", ");
      const bio = f.biometric.map((b) => TX.el("li", {}, b.rule_id + ": " + b.fact + " = " + TX.value(b.value)));
      const rows = [[TX.t("ips"), ips || TX.t("none")], [TX.t("devices"), devices || TX.t("none")],
        [TX.t("biometrics"), bio.length ? TX.el("ul", {}, bio) : TX.t("none")]];
      const bioText = (b) => b.device_id + ": " + TX.t("bio_" + b.result) + " (" + TX.time(b.at) + ")";
      const profile = p ? TX.kv([
        [TX.t("p_known_devices"), p.known_devices.join(", ") || TX.t("none")],
        [TX.t("p_last_transfer_device"), TX.value(p.last_transfer_device)],
        [TX.t("p_biometrics"), p.biometrics.map(bioText).join("; ") || TX.t("none")],
        [TX.t("p_countries"), p.countries.join(", ") || TX.t("none")],
        [TX.t("p_otp_change"), TX.time(p.otp_phone_change_at)],
        [TX.t("p_otp_confirmed"), TX.value(p.otp_confirmed_by_biometrics)],
        [TX.t("p_new_device_login"), TX.time(p.new_device_login_at)],
      ]) : TX.t("none");
      return TX.el("section", { class: "card", id: "facts" }, TX.el("h2", { text: TX.t("facts") }), TX.kv(rows),
        TX.el("h3", { text: TX.t("profile") }), profile);
    },

    evidenceCard() {
      // Each alert's evidence and event as localised facts; facts every alert shares are shown once,
      // the generator's test label never.
      const alerts = [...this.data.alerts].sort((x, y) => TX.ruleOrder(x.rule_id, y.rule_id));
      const factsOf = (a) => {
        const out = new Map();
        for (const [k, v] of Object.entries(a.evidence || {})) out.set(k, v);
        for (const [k, v] of Object.entries(a.event || {})) {
          if (k === "label" || v === "" || v === null || out.has(k)) continue;
          if (k === "amount" && out.get("amount_vnd") === v) continue; // the same amount, once
          out.set(k, v);
        }
        return out;
      };
      const all = alerts.map(factsOf);
      const same = (k) => all.every((m) => m.has(k) && JSON.stringify(m.get(k)) === JSON.stringify(all[0].get(k)));
      const shared = alerts.length > 1 ? [...all[0].keys()].filter(same) : [];
      const list = (pairs) => TX.kv(pairs.map(([k, v]) => [TX.field(k), TX.fact(k, v)]));
      return TX.el("section", { class: "card", id: "evidence" }, TX.el("h2", { text: TX.t("evidence") }),
        shared.length ? TX.el("div", { class: "shared-facts", id: "shared-facts" }, TX.el("h3", { text: TX.t("shared_facts") }),
          list(shared.map((k) => [k, all[0].get(k)]))) : null,
        alerts.map((a, i) => TX.el("div", { class: "alert-evidence", "data-rule": a.rule_id },
          TX.el("h3", {}, TX.el("strong", { text: a.rule_id }), " · " + a.rule_name + " · " + TX.time(a.event_ts)),
          list([...all[i].entries()].filter(([k]) => !shared.includes(k))))));
    },

    accountCard() {
      const reason = TX.lang === "vi" ? "reason_vi" : "reason_en";
      const rows = this.data.account.recent_alerts.map((a) => TX.el("tr", {},
        TX.el("td", {}, TX.el("a", { href: "/case/" + encodeURIComponent(a.hold_id || a.alert_id), text: a.alert_id })),
        TX.el("td", { text: a.rule_id }), TX.el("td", {}, TX.badge("sev", a.severity)),
        TX.el("td", { text: TX.time(a.event_ts) }), TX.el("td", { text: a[reason] })));
      return TX.el("section", { class: "card", id: "recent" }, TX.el("h2", { text: TX.t("recent") }),
        TX.table([TX.t("c_case"), TX.t("c_rules"), TX.t("c_severity"), TX.t("r_event_ts"), TX.t("c_reason")], rows));
    },
  };
})();
