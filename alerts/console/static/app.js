"use strict";
// The console core (API calls with the CSRF token, language switch, header, polling); the queue page is queue.js.
// Pages build the DOM with TX.el, never from HTML strings: case data cannot inject markup.
(function () {
  const I18N = window.TX_I18N;
  const TX = (window.TX = {
    lang: localStorage.getItem("txmon.lang") === "en" ? "en" : "vi",
    pages: {},
    me: null,
    version: null,

    t(key, vars) {
      let s = (I18N[TX.lang] || {})[key] || I18N.en[key] || key;
      for (const [k, v] of Object.entries(vars || {})) s = s.replace("{" + k + "}", String(v));
      return s;
    },

    el(tag, attrs, ...children) {
      const node = document.createElement(tag);
      for (const [k, v] of Object.entries(attrs || {})) {
        if (v === null || v === undefined || v === false) continue;
        if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
        else if (k === "text") node.textContent = v;
        else node.setAttribute(k, v === true ? "" : String(v));
      }
      for (const c of children.flat(Infinity)) {
        if (c === null || c === undefined || c === false) continue;
        node.append(c instanceof Node ? c : document.createTextNode(String(c)));
      }
      return node;
    },

    async api(method, path, body) {
      const headers = { Accept: "application/json" };
      const opts = { method, headers, credentials: "same-origin" };
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        opts.body = JSON.stringify(body);
      }
      if (method !== "GET" && TX.me) headers["X-CSRF-Token"] = TX.me.csrf;
      const r = await fetch(path, opts);
      if (r.status === 401) {
        location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
        throw new Error("login required");
      }
      let data = {};
      try { data = await r.json(); } catch (e) { data = {}; }
      if (!r.ok) {
        const err = new Error(data.message || r.statusText);
        err.status = r.status;
        err.code = data.error;
        throw err;
      }
      return data;
    },

    commandId() {
      if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
      const b = crypto.getRandomValues(new Uint8Array(16));
      return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    },

    time(iso) {
      if (!iso) return TX.t("none");
      const d = new Date(iso);
      if (isNaN(d)) return String(iso);
      return d.toLocaleString(TX.lang === "vi" ? "vi-VN" : "en-GB", { timeZone: "Asia/Ho_Chi_Minh" });
    },

    age(s) {
      if (s < 120) return s + (TX.lang === "vi" ? " giây" : " s");
      if (s < 7200) return Math.floor(s / 60) + (TX.lang === "vi" ? " phút" : " min");
      if (s < 172800) return Math.floor(s / 3600) + (TX.lang === "vi" ? " giờ" : " h");
      return Math.floor(s / 86400) + (TX.lang === "vi" ? " ngày" : " d");
    },

    vnd(n) {
      return n === null || n === undefined ? TX.t("none") : Number(n).toLocaleString("vi-VN") + " VND";
    },

    value(v) {
      if (v === null || v === undefined || v === "") return TX.t("none");
      if (typeof v === "boolean") return TX.t(v ? "yes" : "no");
      if (typeof v === "object") return JSON.stringify(v);
      return String(v);
    },

    badge(kind, value) {
      return TX.el("span", { class: "badge " + kind + "-" + value, text: TX.t((kind === "sev" ? "sev_" : "s_") + value) });
    },

    table(headers, rows, attrs) {
      return TX.el("table", attrs || {},
        TX.el("thead", {}, TX.el("tr", {}, headers.map((h) => TX.el("th", { text: h })))),
        TX.el("tbody", {}, rows));
    },

    kv(pairs) {
      return TX.el("dl", { class: "kv" }, pairs.map(([k, v]) => [TX.el("dt", { text: k }), TX.el("dd", {}, v)]));
    },

    message(text, kind) {
      return TX.el("p", { class: "msg " + (kind || "info"), role: "status", text });
    },

    // Calls onChange whenever something new arrived or a case changed (no page reload).
    watch(onChange, everyMs, path) {
      // The police role polls its own channel's version: /api/version counts every bank alert.
      setInterval(async () => {
        try {
          const { version } = await TX.api("GET", path || "/api/version");
          if (TX.version !== null && version !== TX.version) onChange();
          TX.version = version;
        } catch (e) { /* next tick retries */ }
      }, everyMs || 2000);
    },

    header() {
      const top = document.getElementById("top");
      top.replaceChildren();
      const can = new Set(TX.me.permissions);
      const links = [["cases", "/", "nav_queue"], ["police", "/police", "nav_police"],
        ["cases", "/suspicious", "nav_suspicious"], ["audit", "/audit", "nav_audit"], ["users", "/users", "nav_users"]];
      const page = document.body.dataset.page;
      const nav = TX.el("nav", {}, links.filter(([p]) => can.has(p)).map(([, href, key]) =>
        TX.el("a", { href, class: href === location.pathname ? "here" : null, text: TX.t(key) })));
      const lang = TX.el("span", { class: "lang" }, ["vi", "en"].map((l) =>
        TX.el("button", { type: "button", id: "lang-" + l, class: l === TX.lang ? "on" : null, text: l.toUpperCase(),
          onclick: () => TX.setLang(l) })));
      const who = TX.el("span", { class: "who", id: "who" }, TX.me.user + " · " + TX.t("role_" + TX.me.role));
      const out = TX.el("button", { type: "button", id: "logout", text: TX.t("logout"), onclick: TX.logout });
      const own = TX.el("a", { href: "/password", id: "own-password", text: TX.t("nav_password") });
      top.append(TX.el("a", { class: "brand", href: "/", text: "txmon" }), nav, TX.el("span", { class: "grow" }),
        who, own, lang, out);
      document.title = TX.t("title") + (page ? " · " + page : "");
      document.documentElement.lang = TX.lang;
    },

    setLang(l) {
      TX.lang = l;
      localStorage.setItem("txmon.lang", l);
      TX.header();
      const page = TX.pages[document.body.dataset.page];
      if (page) page.render(true);
    },

    async logout() {
      try { await TX.api("POST", "/api/logout"); } finally { location.href = "/login"; }
    },

    async start() {
      TX.me = await TX.api("GET", "/api/me");
      TX.header();
      const page = TX.pages[document.body.dataset.page];
      if (page) await page.start();
    },
  });

  window.addEventListener("DOMContentLoaded", () => {
    TX.start().catch((e) => {
      document.getElementById("main").replaceChildren(TX.message(TX.t("error") + ": " + e.message, "err"));
    });
  });
})();
