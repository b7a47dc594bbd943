// ergo-edge dashboard: the live state arrives by server-sent events (/api/events); the camera view is fetched as a
// JPEG when a newer frame is there. Every text goes in through textContent: nothing from the device becomes markup.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const LEVELS = ["negligible", "low", "medium", "high", "very high", "unknown"];
let source = null;
let viewSeq = null;
let viewLoading = false;
let running = true;  // the last state's: once the source has ended, a dropped stream is no news

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "style") Object.assign(node.style, value);  // CSSOM: the CSP allows no inline style attribute
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const slug = (risk) => (risk || "unknown").replace(" ", "-");
const fmt = (v, digits = 0) => (v === null || v === undefined ? "-" : Number(v).toFixed(digits));

function duration(seconds) {
  const s = Math.round(seconds || 0);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
}

function setStatus(text, kind) {
  const pill = document.getElementById("status");
  pill.textContent = text;
  pill.className = "pill " + (kind || "");
}

function renderPerson(p) {
  const card = el("div", {class: `person risk-${slug(p.risk)}`, "data-id": String(p.id)});
  card.append(el("div", {class: "scores"},
    el("span", {class: "label", text: `Person ${p.id}`}),
    el("span", {}, el("span", {class: "label", text: "REBA "}),
      el("span", {class: `big reba txt-${slug(p.risk)}`, text: fmt(p.reba)}),
      el("span", {class: "note", text: ` ${p.risk || "unknown"}`})),
    el("span", {}, el("span", {class: "label", text: "RULA "}), el("span", {class: "big rula", text: fmt(p.rula)}),
      el("span", {class: "note", text: ` action level ${fmt(p.rula_action_level)}`})),
    p.activity ? el("span", {class: "activity"}, el("span", {class: "label", text: "activity "}),
      el("b", {text: p.activity}), el("span", {class: "note",
        text: p.activity_confidence === null ? "" : ` ${Math.round(100 * p.activity_confidence)}%`})) : null));
  const drivers = el("div", {class: "drivers"}, el("span", {class: "label", text: "driven by "}));
  const names = [...new Set([...p.reba_drivers, ...p.rula_drivers])];
  if (names.length === 0) drivers.append(el("span", {class: "note", text: "no body part near its worst"}));
  for (const name of names) drivers.append(el("span", {class: "chip", text: name}));
  card.append(drivers);
  const parts = el("div", {class: "parts"});
  for (const part of p.reba_parts) {
    const width = Math.round(100 * part.level);
    parts.append(el("span", {text: `REBA ${part.part}${part.side ? " " + part.side[0].toUpperCase() : ""}`}),
      el("span", {class: part.level >= 0.5 ? "bar hot" : "bar"}, el("span", {style: {width: `${width}%`}})),
      el("span", {text: `${fmt(part.score)}/${fmt(part.max)}`}));
  }
  card.append(parts);
  card.append(el("div", {class: "metrics"},
    el("span", {}, el("span", {class: "label", text: "L5/S1 "}),
      el("b", {class: "l5s1", text: `${fmt(p.l5s1_compression_n)} N`}),
      el("span", {class: "note", text: " (limit 3400 N)"})),
    el("span", {}, el("span", {class: "label", text: "trunk "}), el("b", {text: `${fmt(p.trunk_flexion_deg)}°`})),
    el("span", {}, el("span", {class: "label", text: "lifts/min "}), el("b", {text: fmt(p.lifts_per_min, 1)})),
    p.learned_reba === null ? null : el("span", {}, el("span", {class: "label", text: "learned REBA "}),
      el("b", {text: fmt(p.learned_reba, 1)}))));
  return card;
}

function renderPeople(people) {
  const box = document.getElementById("people");
  box.replaceChildren(...(people.length ? people.map(renderPerson)
    : [el("p", {class: "empty", text: "no one in view"})]));
}

function acknowledge(eventId, button) {
  button.disabled = true;
  fetch("/api/ack", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: JSON.stringify({event_id: eventId})})
    .then((r) => { if (r.status === 401) location.href = "/"; else if (!r.ok) button.disabled = false; })
    .catch(() => { button.disabled = false; });
}

// Alerts are updated in place, keyed by the event that raised them, so a button stays put while it is pressed.
function renderAlerts(alerts) {
  const list = document.getElementById("alerts");
  const keep = new Set(alerts.map((a) => a.event_id));
  for (const item of [...list.children]) if (!keep.has(item.dataset.event)) item.remove();
  for (const a of alerts) {
    let item = list.querySelector(`li[data-event="${CSS.escape(a.event_id)}"]`);
    if (!item) {
      item = el("li", {class: `alert ${a.severity}`, "data-event": a.event_id},
        el("span", {class: "sev label", text: a.severity}), el("span", {class: "msg", text: a.message}),
        el("span", {class: "when", text: new Date(a.raised).toLocaleTimeString()}), el("span", {class: "action"}));
      list.append(item);
    }
    const action = item.querySelector(".action");
    if (a.acknowledged) {
      item.classList.add("is-acked");
      if (!action.querySelector(".acked")) {
        action.replaceChildren(el("span", {class: "acked",
          text: `acknowledged ${new Date(a.acknowledged.at).toLocaleTimeString()}`}));
      }
    } else if (!action.querySelector("button")) {
      const button = el("button", {class: "ack", type: "button", text: "Acknowledge"});
      button.addEventListener("click", () => acknowledge(a.event_id, button));
      action.replaceChildren(button);
    }
  }
  document.getElementById("alert-count").textContent = String(alerts.length);
  document.getElementById("no-alerts").classList.toggle("hidden", alerts.length > 0);
}

function renderExposure(exposure, counts) {
  const box = document.getElementById("exposure");
  if (!exposure) { box.replaceChildren(el("p", {class: "empty", text: "not started"})); return; }
  document.getElementById("shift").textContent = `shift from ${exposure.shift.replace("T", " ")}`;
  const head = el("tr", {}, el("th", {text: "person"}), el("th", {text: "tracked"}),
    el("th", {text: "time in each REBA risk level"}), el("th", {text: "high+"}), el("th", {text: "alerts"}),
    el("th", {text: "lifts/h"}));
  const rows = [...exposure.persons, ...(exposure.all ? [exposure.all] : [])].map((row) => {
    const stack = el("div", {class: "stack", title: LEVELS.map((l) => `${l}: ${duration(row.reba_s[l])}`)
      .join(", ")});
    for (const level of LEVELS) {
      const share = row.tracked_s > 0 ? 100 * (row.reba_s[level] || 0) / row.tracked_s : 0;
      if (share > 0) stack.append(el("span", {class: `bg-${slug(level)}`, style: {width: `${share.toFixed(2)}%`}}));
    }
    const high = (row.reba_s["high"] || 0) + (row.reba_s["very high"] || 0);
    return el("tr", {"data-person": String(row.id)}, el("td", {text: row.id === "all" ? "everyone" : `#${row.id}`}),
      el("td", {text: duration(row.tracked_s)}), el("td", {}, stack), el("td", {text: duration(high)}),
      el("td", {text: String(row.alerts)}), el("td", {text: fmt(row.lifts_per_hour, 1)}));
  });
  const raised = Object.entries(counts || {}).map(([rule, n]) => `${rule} ${n}`).join(", ");
  box.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)),
    el("p", {class: "note", text: `alerts raised this run: ${raised || "none"}`}));
}

function renderHealth(h) {
  const temps = (h.temperatures || []).map((t) => `${t.zone} ${fmt(t.celsius, 1)} °C`).join(", ");
  const stages = Object.entries(h.stage_ms || {}).map(([s, ms]) => `${s} ${fmt(ms, 1)}`).join(" · ");
  const rows = [["fps", `${fmt(h.fps, 1)} (run ${fmt(h.fps_run, 1)})`], ["frames", String(h.frames)],
    ["dropped frames", String(h.dropped)], ["reconnects", String(h.reconnects)],
    ["source gaps", `${h.gaps}${h.in_gap ? " (camera lost now)" : ""}`], ["stage ms (median)", stages || "-"],
    ["alert sink failures", String(h.sink_failures)], ["temperature", temps || "not readable here"],
    ["dashboard CPU", h.uptime_s > 0 ? `${fmt(100 * h.dashboard_cpu_s / h.uptime_s, 1)} % of a core` : "-"],
    ["uptime", duration(h.uptime_s)]];
  document.getElementById("health").replaceChildren(...rows.flatMap(([k, v]) =>
    [el("dt", {text: k}), el("dd", {"data-key": k, text: v})]));
}

function loadView(seq) {
  if (seq === null || seq === viewSeq || viewLoading) return;
  viewLoading = true;
  const next = new Image();
  next.onload = () => {
    const img = document.getElementById("view");
    img.src = next.src; img.dataset.seq = String(seq); viewSeq = seq; viewLoading = false;
  };
  next.onerror = () => { viewLoading = false; };
  next.src = `/api/frame.jpg?seq=${seq}`;
}

function render(state) {
  document.getElementById("stream-t").textContent = fmt(state.t, 1);
  document.getElementById("wall-time").textContent = new Date(state.wall_time).toLocaleTimeString();
  running = state.running;
  setStatus(running ? "live" : "source ended", running ? "live" : "ended");
  document.getElementById("privacy").textContent = state.face_blur ? "faces blurred" : "face blur off (config)";
  renderPeople(state.people);
  renderAlerts(state.alerts);
  renderExposure(state.exposure, state.alert_counts);
  renderHealth(state.health);
  loadView(state.view_seq);
  document.body.dataset.seq = String(state.seq);
}

function connect() {
  source = new EventSource("/api/events");
  source.onopen = () => { if (running) setStatus("live", "live"); };
  source.onmessage = (event) => render(JSON.parse(event.data));
  source.addEventListener("expired", () => { source.close(); location.href = "/"; });
  source.onerror = () => {
    if (source.readyState !== EventSource.CLOSED) { if (running) setStatus("reconnecting", "lost"); return; }
    // Closed for good (an HTTP error such as 401): a new page load goes through the login when one is needed.
    setStatus("disconnected", "lost");
    fetch("/api/state", {credentials: "same-origin"}).then((r) => {
      if (r.status === 401) location.href = "/"; else setTimeout(connect, 2000);
    }).catch(() => setTimeout(connect, 2000));
  };
}

connect();
