"use strict";
// The case page's work card (claim, notes, resolution, assignment, the hold's clock) and the case
// timeline, from the case store. case.js renders the rest of the page.
(function () {
  const TX = window.TX;
  const page = TX.pages.case;
  const RESOLUTIONS = ["fraud", "not_fraud", "inconclusive"];

  const work = {
    data: null,
    codes: [],
    result: null,

    async load() {
      if (!this.codes.length) {
        try { this.codes = (await TX.api("GET", "/api/case-work/reasons")).codes; } catch (e) { this.codes = ["other"]; }
      }
      try {
        this.data = await TX.api("GET", "/api/case-work/" + encodeURIComponent(page.id));
      } catch (e) {
        this.data = null;
      }
      this.render();
    },

    slots() {
      let card = document.getElementById("work");
      if (!card) {
        card = TX.el("section", { id: "work", class: "card" });
        const head = document.getElementById("case-head");
        head.after(card);
        card.after(TX.el("section", { id: "timeline", class: "card" }));
      }
      return [card, document.getElementById("timeline")];
    },

    reasonPicker(id) {
      return TX.el("label", {}, TX.t("reason_code"), TX.el("select", { id }, this.codes.map((c) =>
        TX.el("option", { value: c, text: TX.t("rc_" + c) }))));
    },

    render() {
      const [card, tl] = this.slots();
      if (!this.data) { card.replaceChildren(); tl.replaceChildren(); return; }
      const c = this.data.case;
      const can = new Set(TX.me.permissions);
      const mine = c.claimed_by === TX.me.user;
      const note = TX.el("textarea", { id: "note-text", rows: 2, maxlength: 4000 });
      const assignee = TX.el("input", { id: "assign-to", size: 14, value: c.assignee || "" });
      const resolution = TX.el("select", { id: "resolution" }, RESOLUTIONS.map((r) => TX.el("option", { value: r, text: TX.t("res_" + r) })));
      const reasonText = TX.el("input", { id: "work-reason", size: 30 });
      card.replaceChildren(...[
        TX.el("h2", { text: TX.t("work") }),
        TX.kv([
          [TX.t("q_workflow"), TX.el("span", { id: "workflow", class: "badge wf-" + c.workflow,
            text: TX.t("wf_" + c.workflow) + (c.resolution ? " · " + TX.t("res_" + c.resolution) : "") })],
          [TX.t("q_assignee"), TX.el("span", { id: "assignee", text: c.assignee || TX.t("unassigned") })],
          ["", TX.el("span", { id: "claim", text: c.claimed_by ? TX.t("claimed_by", { u: c.claimed_by }) + " · " + TX.t("claim_until", { t: TX.time(c.claim_until) }) : "" })],
          [TX.t("c_sla"), TX.el("div", { id: "sla" }, TX.slaText(c))],
          [TX.t("notes", { n: c.note_count }), ""],
        ]),
        c.is_open ? TX.el("div", { class: "buttons" },
          mine ? TX.el("button", { type: "button", id: "unclaim", text: TX.t("a_unclaim"), onclick: () => this.act("unclaim", {}) })
            : TX.el("button", { type: "button", id: "claim-case", text: TX.t("a_claim"), onclick: () => this.act("claim", {}) })) : null,
        TX.el("form", { id: "note-form", onsubmit: (e) => { e.preventDefault(); this.act("note", { note: note.value }); } },
          TX.el("label", {}, TX.t("note_text"), note), TX.el("button", { type: "submit", id: "add-note", text: TX.t("a_note") })),
        c.workflow !== "resolved" ? TX.el("form", { id: "resolve-form", class: "filters",
          onsubmit: (e) => { e.preventDefault(); this.act("resolve", { resolution: resolution.value }); } },
        TX.el("label", {}, TX.t("resolution"), resolution), this.reasonPicker("resolve-reason-code"),
        TX.el("label", {}, TX.t("reason_text"), reasonText),
        TX.el("button", { type: "submit", id: "resolve", class: "danger", text: TX.t("a_resolve") })) : null,
        can.has("assign") && c.workflow !== "resolved" ? TX.el("form", { id: "assign-form", class: "filters",
          onsubmit: (e) => { e.preventDefault(); this.act("assign", { assignee: assignee.value.trim() || null }); } },
        TX.el("label", {}, TX.t("assignee"), assignee), this.reasonPicker("assign-reason-code"),
        TX.el("button", { type: "submit", id: "assign", text: TX.t("a_assign") })) : null,
        TX.el("div", { id: "work-result" }, this.result)].filter(Boolean)); // DOM would print a null
      tl.replaceChildren(TX.el("h2", { text: TX.t("timeline") }), this.timeline(this.data.timeline));
    },

    async act(action, body) {
      const codeBox = document.getElementById(action === "assign" ? "assign-reason-code" : "resolve-reason-code");
      const text = document.getElementById("work-reason");
      const full = { ...body, command_id: TX.commandId(), reason_code: codeBox ? codeBox.value : "other",
        reason: action === "resolve" && text ? text.value : "" };
      try {
        const r = await TX.api("POST", "/api/case-work/" + encodeURIComponent(page.id) + "/" + action, full);
        const outcomes = r.outcomes || [r.outcome];
        this.result = TX.message(outcomes.every((o) => !o.changed) ? TX.t("no_change", { note: outcomes[0].note || "" })
          : TX.t("done", { a: TX.t("a_" + action) }), "ok");
      } catch (e) {
        this.result = TX.message(TX.t("error") + ": " + e.message, "err");
      }
      await page.load();
    },

    timeline(items) {
      const rows = items.map((e) => TX.el("li", { class: "tl-" + e.kind, "data-kind": e.kind },
        TX.el("time", { text: TX.time(e.at) }), " ",
        TX.el("strong", { text: TX.t("tl_" + e.kind) }), " · ",
        TX.el("span", { class: "who", text: e.who + (e.role ? " (" + TX.t("role_" + e.role) + ")" : "") }),
        this.detail(e)));
      return TX.el("ol", { class: "timeline", id: "timeline-list" }, rows);
    },

    detail(e) {
      const f = e.facts || {};
      const reason = TX.lang === "vi" ? "reason_vi" : "reason_en";
      if (e.kind === "event") return TX.el("div", { class: "muted", text: TX.t("ev_type") + ": " + f.event_type + " · " + f.event_id
        + (f.amount ? " · " + TX.vnd(f.amount) : "") });
      if (e.kind === "alert") return TX.el("div", {}, f.rule_id + " ", TX.badge("sev", f.severity), " " + (f[reason] || ""));
      if (e.kind === "police_report") return TX.el("div", { class: "muted", text: f.report_id + " · " + TX.t("delivered") });
      if (e.kind.startsWith("hold_")) return TX.el("div", { class: "muted", text: TX.t("expires") + ": " + TX.time(f.expires_at) });
      const after = f.after || {};
      const bits = [];
      if (after.note) bits.push(TX.el("blockquote", { class: "note", text: after.note }));
      if (e.kind === "case_resolve" && after.resolution) bits.push(TX.el("div", { text: TX.t("res_" + after.resolution) }));
      if (e.kind === "case_assign") bits.push(TX.el("div", { text: "→ " + (after.assignee || TX.t("unassigned")) }));
      if (f.reason && f.reason !== "note") bits.push(TX.el("div", { class: "muted", text: TX.t("c_reason") + ": " + f.reason }));
      return TX.el("div", {}, bits);
    },
  };

  const load = page.load;
  page.load = async function () {
    await load.call(this);
    await work.load();
  };
  const render = page.render;
  page.render = function (full) {
    render.call(this, full);
    if (full) work.render();
  };
  TX.casework = work;
})();
