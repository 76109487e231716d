// The torrow-hooks console: builds a hook URL, checks it, previews the message, lists deliveries.
// Plain script, no build step; it talks only to /api/ of the service that served it. Tokens live
// in this page's memory only (never in localStorage, a cookie or a URL).
"use strict";

// TEXTS (the words of this page in each language) comes from the catalogues: see
// locales/*/console.ftl, served as /console/console-texts.js.

const $ = (id) => document.getElementById(id);
const enc = (s) => encodeURIComponent(s); // spaces → %20, line breaks → %0A, Cyrillic → UTF-8
let lang = location.hash === "#en" ? "en" : "ru";
let channels = [];
let common = [];
let facts = { public_url: "", locales: [], timezones: [], samples: [], admin: false };
let shownDelivery = null;
const t = (key) => TEXTS[lang][key] || key;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function call(method, path, body, token) {
  const headers = { "accept-language": lang };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token !== undefined) headers.authorization = "Bearer " + token;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let json = {};
  try { json = await res.json(); } catch (_) { json = { ErrorMessage: res.statusText }; }
  return { status: res.status, json };
}

// ---------- the form ----------

const currentChannel = () => channels.find((c) => c.name === $("channel").value) || channels[0];
const currentParams = () => (currentChannel() ? currentChannel().params : []).concat(common);
const control = (name) => document.querySelector(`[data-param="${CSS.escape(name)}"] [name]`);

function field(p) {
  const id = "p-" + p.name;
  const box = el("div", { class: "field" + (p.kind === "flag" ? " flag" : ""), "data-param": p.name });
  const label = el("label", { for: id }, el("code", { text: p.name }), " ",
    el("span", { class: "help", "data-help": p.name }));
  let input;
  if (p.kind === "flag") {
    input = el("input", { id, name: p.name, type: "checkbox", checked: p.default === true });
    box.append(input, label);
  } else {
    if (p.kind === "multiline") input = el("textarea", { id, name: p.name, rows: 3 });
    else if (p.kind === "locale") {
      input = el("select", { id, name: p.name }, el("option", { value: "", "data-t": "default_locale" }));
      for (const l of facts.locales) input.append(el("option", { value: l, text: l }));
    } else if (p.kind === "template") {
      input = el("select", { id, name: p.name }, el("option", { value: "", text: "message" }));
      const names = new Set(Object.values(facts.templates || {}).flat());
      names.delete("message");
      for (const n of [...names].sort()) input.append(el("option", { value: n, text: n }));
    } else if (p.kind === "timezone") {
      input = el("input", { id, name: p.name, type: "text", list: "zones", autocomplete: "off" });
    } else {
      input = el("input", { id, name: p.name, type: p.secret ? "password" : "text", autocomplete: "off", spellcheck: "false" });
    }
    box.append(label, input);
  }
  box.append(el("p", { class: "field-message", role: "alert", hidden: true }));
  // A former name gets a field only when a pasted URL has it.
  if (p.legacy) box.hidden = true;
  return box;
}

// The channel's access fields, then errorEmail (where failures about that access are mailed).
function showChannelFields() {
  const set = $("channel-params");
  set.querySelectorAll(".field:not([data-param='errorEmail'])").forEach((f) => f.remove());
  const email = set.querySelector("[data-param='errorEmail']");
  for (const p of currentChannel().params) set.insertBefore(field(p), email);
  applyLanguage();
}

function value(p) {
  const input = control(p.name);
  if (!input) return null;
  if (p.kind === "flag") return input.checked === (p.default === true) ? null : String(input.checked);
  const v = p.kind === "multiline" ? input.value : input.value.trim();
  return v === "" ? null : v;
}

function query() {
  const parts = [];
  for (const p of currentParams()) {
    const v = value(p);
    if (v !== null) parts.push(enc(p.name) + "=" + enc(v));
  }
  const extra = $("extra").value.trim().replace(/^[?&]+/, "");
  if (extra) parts.push(extra);
  return parts.join("&");
}

function hookUrl() {
  const base = facts.public_url || location.origin;
  const q = query();
  return `${base}/webhook/${enc(currentChannel().name)}` + (q ? "?" + q : "");
}

function changed() {
  $("hook-url").value = hookUrl();
  $("copy-status").textContent = "";
  schedulePreview();
}

// A pasted URL fills the form; what the form has no field for stays in "other parameters".
function applyPasted() {
  const text = $("paste").value.trim();
  if (!text) return;
  let url;
  try { url = new URL(text, location.origin); } catch (_) { return; }
  const m = url.pathname.match(/\/(?:webhook|preview)\/([^/?#]+)\/?$/);
  const name = m ? decodeURIComponent(m[1]) : null;
  if (name && channels.some((c) => c.name === name) && name !== $("channel").value) {
    $("channel").value = name;
    showChannelFields();
  }
  for (const p of currentParams()) {
    const input = control(p.name);
    if (p.kind === "flag") input.checked = p.default === true; else input.value = "";
  }
  const extras = [];
  for (const [k, v] of url.searchParams) {
    const p = currentParams().find((q) => q.name === k);
    const input = p && control(k);
    if (p && p.kind === "flag" && /^(true|false)$/i.test(v)) input.checked = v.toLowerCase() === "true";
    else if (p && (p.kind === "locale" || p.kind === "template") && v.trim()) {
      if (![...input.options].some((o) => o.value === v.trim())) input.append(el("option", { value: v.trim(), text: v.trim() }));
      input.value = v.trim();
    } else if (p && p.kind !== "flag") {
      input.value = v;
      input.closest(".field").hidden = false;
    }
    else extras.push(enc(k) + "=" + enc(v));
  }
  $("extra").value = extras.join("&");
  changed();
  runCheck();
}

// ---------- check ----------

function clearMessages() {
  document.querySelectorAll(".field-message").forEach((m) => { m.hidden = true; m.textContent = ""; m.className = "field-message"; });
}

const mentions = (text, name) =>
  new RegExp("(^|[^A-Za-z0-9_])" + name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "($|[^A-Za-z0-9_])").test(text);

// One line per message part; a part already shown there is not repeated.
function addFieldMessage(box, text, kind) {
  if ([...box.children].some((line) => line.textContent === text)) return;
  box.hidden = false;
  box.classList.add(kind);
  box.append(el("span", { class: "line", text }));
}

// Puts each part of a message next to every field it names.
function attribute(message, kind) {
  if (!message) return;
  const extraNames = $("extra").value.split("&").map((kv) => { try { return decodeURIComponent(kv.split("=")[0]); } catch (_) { return kv; } });
  for (const part of parts(message)) {
    for (const p of currentParams()) {
      if (mentions(part, p.name)) addFieldMessage(document.querySelector(`[data-param="${CSS.escape(p.name)}"] .field-message`), part, kind);
    }
    if (extraNames.some((n) => n && mentions(part, n))) addFieldMessage($("extra-message"), part, kind);
  }
}

// The parts of an answer's message, each once.
const parts = (message) => [...new Set((message || "").split("; ").map((s) => s.trim()).filter(Boolean))];

function messageList(label, message) {
  const list = el("ul", { class: "message-list" });
  for (const part of parts(message)) list.append(el("li", { text: part }));
  return [el("p", {}, el("b", { text: label })), list];
}

async function runCheck() {
  clearMessages();
  const out = $("check-result");
  out.hidden = false;
  out.className = "";
  out.textContent = t("checking");
  let res;
  try { res = await call("POST", "/api/check", { channel: currentChannel().name, query: query() }); } catch (e) {
    out.textContent = t("unreachable") + e; out.className = "error"; return;
  }
  const a = res.json;
  const headline = a.Status === "Success" ? t("status_ok") : a.Status === "Wrong parameters" ? t("status_wrong") : t("status_error");
  out.textContent = "";
  out.className = a.Status === "Success" ? "success" : "error";
  out.append(el("strong", { class: "status", text: headline }));
  if (a.ErrorMessage) out.append(...messageList(t("errors") + ":", a.ErrorMessage));
  if (a.WarningMessage) out.append(...messageList(t("warnings") + ":", a.WarningMessage));
  attribute(a.ErrorMessage, "error");
  attribute(a.WarningMessage, "warning");
}

async function copyUrl() {
  const url = $("hook-url").value;
  try {
    await navigator.clipboard.writeText(url);
  } catch (_) {
    $("hook-url").select();
    if (!document.execCommand("copy")) { $("copy-status").textContent = t("copy_failed"); return; }
  }
  $("copy-status").textContent = t("copied");
}

// ---------- preview ----------

let previewTimer = null;
let previewSeq = 0;
function schedulePreview() { clearTimeout(previewTimer); previewTimer = setTimeout(runPreview, 200); }

async function runPreview() {
  const seq = ++previewSeq;
  const sample = $("sample").value;
  const body = { channel: currentChannel().name, query: query() };
  const problem = $("preview-problem");
  if (sample === "own") {
    try { body.event = JSON.parse($("own-event").value || "null"); } catch (e) {
      problem.hidden = false; problem.className = "problem"; problem.textContent = t("not_json") + e.message; return;
    }
  } else body.sample = sample;
  let res;
  try { res = await call("POST", "/api/preview", body); } catch (e) {
    problem.hidden = false; problem.className = "problem"; problem.textContent = t("unreachable") + e; return;
  }
  if (seq !== previewSeq) return; // a newer preview is on its way
  const a = res.json;
  if (typeof a.Text === "string") {
    $("preview-text").textContent = a.Text;
    $("preview-recipient").textContent = a.Recipient || "—";
    problem.hidden = !a.WarningMessage;
    problem.className = "note";
    problem.replaceChildren(...parts(a.WarningMessage).map((w) => el("span", { class: "line", text: w })));
  } else {
    $("preview-text").textContent = "";
    $("preview-recipient").textContent = "—";
    problem.hidden = false;
    problem.className = "problem";
    problem.textContent = a.ErrorMessage || a.Status;
  }
}

// ---------- deliveries ----------

const when = (iso) => (iso ? new Date(iso).toLocaleString(lang === "ru" ? "ru-RU" : "en-US") : "");

async function loadDeliveries() {
  const problem = $("deliveries-problem");
  const params = new URLSearchParams({ limit: "100" });
  if ($("state-filter").value) params.set("state", $("state-filter").value);
  const res = await call("GET", "/api/deliveries?" + params, undefined, $("admin-token").value.trim());
  const table = $("delivery-list");
  const rows = table.querySelector("tbody");
  rows.textContent = "";
  if (res.status !== 200) {
    problem.hidden = false; problem.textContent = res.json.ErrorMessage; table.hidden = true; return;
  }
  const list = res.json.deliveries;
  // Failure-report addresses asked to confirm, not confirmed yet: reports wait for them.
  const awaiting = res.json.awaiting_confirmation || [];
  $("awaiting").hidden = awaiting.length === 0;
  $("awaiting").textContent = awaiting.length
    ? t("awaiting") + " " + awaiting.map((a) => `${a.address} (${when(a.asked_at)})`).join(", ")
    : "";
  problem.hidden = list.length > 0;
  problem.textContent = list.length ? "" : t("nothing");
  table.hidden = list.length === 0;
  // A link from a failure email: /console?delivery=<id> opens that delivery once the list loads.
  const wanted = new URLSearchParams(location.search).get("delivery");
  if (wanted && !shownDelivery) openDelivery(wanted);
  for (const d of list) {
    const open = el("button", { type: "button", "aria-label": t("open") + " " + d.id, text: t("open") });
    open.addEventListener("click", () => openDelivery(d.id));
    rows.append(el("tr", { "data-id": d.id },
      el("td", { text: when(d.created_at) }), el("td", { text: d.channel }), el("td", { text: d.recipient }),
      el("td", { text: d.order ? "№" + d.order : "" }), el("td", { class: "state " + d.state, text: t("st_" + d.state) }),
      el("td", { text: String(d.attempts) }), el("td", { text: d.last_error || "" }), el("td", {}, open)));
  }
}

async function openDelivery(id) {
  const res = await call("GET", "/api/deliveries/" + enc(id), undefined, $("admin-token").value.trim());
  const box = $("delivery-detail");
  if (res.status !== 200) { $("deliveries-problem").hidden = false; $("deliveries-problem").textContent = res.json.ErrorMessage; return; }
  const d = res.json;
  shownDelivery = d.id;
  box.hidden = false;
  $("detail-id").textContent = d.id;
  $("detail-facts").textContent = [when(d.created_at), d.channel, d.target, d.recipient, t("st_" + d.state)].filter(Boolean).join(" · ");
  $("detail-text").textContent = d.text;
  const list = $("detail-attempts");
  list.textContent = "";
  for (const a of d.attempts_made) {
    list.append(el("li", { text: `${t("attempt")} ${a.number} · ${when(a.ended_at)} · ${t("st_" + a.outcome)}` + (a.error ? ` · ${a.error}` : "") }));
  }
  $("replay").hidden = !d.can_replay;
  $("replay-status").textContent = "";
}

async function replay() {
  if (!shownDelivery) return;
  const res = await call("POST", `/api/deliveries/${enc(shownDelivery)}/replay`, undefined, $("admin-token").value.trim());
  $("replay-status").textContent = res.status === 200 ? t("replayed") : res.json.ErrorMessage;
  if (res.status === 200) { await loadDeliveries(); await openDelivery(shownDelivery); $("replay-status").textContent = t("replayed"); }
}

// ---------- language and start ----------

function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((n) => { n.textContent = t(n.dataset.t); });
  $("language").textContent = t("language");
  $("language").lang = lang === "ru" ? "en" : "ru";
  for (const span of document.querySelectorAll("[data-help]")) {
    const p = currentParams().find((q) => q.name === span.dataset.help);
    if (p) span.textContent = "— " + p.help[lang] + (p.required ? ` (${t("required")})` : "");
  }
  for (const o of $("sample").options) o.textContent = t(o.value === "own" ? "own" : "sample_" + o.value);
  const c = currentChannel();
  if (c) $("channel-title").textContent = c.title[lang];
  if (!facts.admin) { $("deliveries-problem").hidden = false; $("deliveries-problem").textContent = t("deliveries_off"); }
}

async function start() {
  const [ch, f] = await Promise.all([call("GET", "/api/channels"), call("GET", "/api/console")]);
  channels = ch.json.channels;
  common = ch.json.common;
  facts = f.json;
  const zones = el("datalist", { id: "zones" }, el("option", { value: "participant" }));
  // Russia's zones first, by Russian name with МСК±N; then every other IANA zone.
  const russian = new Set();
  for (const r of facts.russian_zones || []) {
    zones.append(el("option", { value: r.zone, label: r.label }));
    russian.add(r.zone);
  }
  for (const z of facts.timezones) if (!russian.has(z)) zones.append(el("option", { value: z }));
  document.body.append(zones);
  for (const c of channels) $("channel").append(el("option", { value: c.name, text: c.name }));
  $("channel").value = channels.some((c) => c.name === "wappi") ? "wappi" : channels[0].name;
  for (const s of facts.samples.concat(["own"])) $("sample").append(el("option", { value: s }));
  for (const p of common) (p.name === "errorEmail" ? $("channel-params") : $("common-params")).append(field(p));
  showChannelFields();

  $("channel").addEventListener("change", () => { showChannelFields(); changed(); });
  document.querySelector("#builder").addEventListener("input", (e) => { if (e.target.id !== "paste") changed(); });
  document.querySelector("#builder").addEventListener("change", (e) => { if (e.target.id !== "paste") changed(); });
  $("paste-apply").addEventListener("click", applyPasted);
  $("paste").addEventListener("paste", () => setTimeout(applyPasted, 0));
  $("paste").addEventListener("keydown", (e) => { if (e.key === "Enter") applyPasted(); });
  $("copy").addEventListener("click", copyUrl);
  $("check").addEventListener("click", runCheck);
  $("sample").addEventListener("change", () => { $("own-event-field").hidden = $("sample").value !== "own"; schedulePreview(); });
  $("own-event").addEventListener("input", schedulePreview);
  $("event-file").addEventListener("change", async () => {
    const file = $("event-file").files[0];
    if (file) { $("own-event").value = await file.text(); schedulePreview(); }
  });
  $("load-deliveries").addEventListener("click", loadDeliveries);
  $("replay").addEventListener("click", replay);
  $("language").addEventListener("click", () => {
    lang = lang === "ru" ? "en" : "ru";
    history.replaceState(null, "", lang === "en" ? "#en" : location.pathname);
    applyLanguage();
  });
  applyLanguage();
  changed();
  const wanted = new URLSearchParams(location.search).get("delivery");
  if (wanted) {
    $("deliveries-problem").hidden = false;
    $("deliveries-problem").textContent = t("open_wanted") + wanted;
    $("deliveries").scrollIntoView();
  }
}

document.addEventListener("DOMContentLoaded", start);
