// Monitor panel of the Polyvox page: /v1/monitor/start, /stop, /status, /select-engine.
import { apiJson } from "./api.js";
import { currentLanguage, currentVoice } from "./app.js";
import { $, button } from "./dom.js";
import { save, state } from "./store.js";

const call = (path, json) => apiJson(path, json === undefined ? {} : { json });

function message(text, isError = false) {
  const el = $("monitor-message");
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.dataset.code = isError ? (text.split(":")[0] || "") : "";
}

function persist() {
  state.monitorPath = $("monitor-path").value;
  state.monitorMode = $("monitor-mode").value;
  state.monitorFrom = $("monitor-from").value;
  save();
}

async function start() {
  persist();
  const body = {
    path: $("monitor-path").value.trim(), engine: state.engine,
    mode: $("monitor-mode").value, from: $("monitor-from").value,
  };
  const voice = currentVoice();
  const language = currentLanguage();
  if (voice) body.voice = voice;
  if (language) body.language = language;
  try {
    const data = await call("/v1/monitor/start", body);
    message(`Monitor ${data.id} started.`);
  } catch (error) {
    message(error.message, true);
  }
  await refresh();
}

function render(monitors) {
  const list = $("monitors");
  list.replaceChildren();
  for (const m of monitors) {
    const item = document.createElement("li");
    item.dataset.id = m.id;
    item.dataset.spoken = m.lines_spoken;
    const title = document.createElement("strong");
    title.textContent = m.path;
    const facts = document.createElement("div");
    facts.textContent = `${m.engine}${m.voice ? "/" + m.voice : ""} · ${m.state} · queue ${m.queue_length}` +
      ` · spoken ${m.lines_spoken} · dropped ${m.dropped} · undecodable ${m.undecodable_lines}` +
      ` · listeners ${m.listeners}` + (m.last_error ? ` · last error: ${m.last_error}` : "");
    const lines = document.createElement("ol");
    lines.className = "lines";
    lines.setAttribute("aria-label", "Recently spoken lines");
    for (const text of m.recent) {
      const li = document.createElement("li");
      li.textContent = text;
      lines.append(li);
    }
    const row = document.createElement("div");
    row.className = "row";
    const obs = document.createElement("a");
    obs.href = `/obs?monitor=${encodeURIComponent(m.id)}&captions=1`;
    obs.target = "_blank";
    obs.rel = "noopener";
    obs.textContent = "OBS source";
    row.append(
      button("Stop", `Stop monitor of ${m.path}`, async () => {
        await call("/v1/monitor/stop", { id: m.id }).catch((e) => message(e.message, true));
        await refresh();
      }),
      button("Use selected engine", `Speak ${m.path} with the selected engine`, async () => {
        const body = { id: m.id, engine: state.engine };
        const voice = currentVoice();
        if (voice) body.voice = voice;
        await call("/v1/monitor/select-engine", body).catch((e) => message(e.message, true));
        await refresh();
      }),
      obs,
    );
    item.append(title, facts, lines, row);
    list.append(item);
  }
}

const POLL_MS = 1000;
let pollTimer = null;

// Polled only while a monitor runs: an idle page asks once, then again after each start/stop.
async function refresh() {
  clearTimeout(pollTimer);
  pollTimer = null;
  const panel = $("monitor-panel");
  let data;
  try {
    data = await call("/v1/monitor/status");
  } catch (error) {
    message(error.message, true);
    panel.hidden = false; // the message explains why (a missing API key, say)
    panel.dataset.polling = "off";
    return;
  }
  // No allowed folder: the server refuses every path, so the panel has nothing to offer.
  panel.hidden = data.allowed_roots_count === 0 && data.monitors.length === 0;
  render(data.monitors);
  const running = data.monitors.some((m) => m.state !== "stopped" && m.state !== "failed");
  panel.dataset.polling = running ? "on" : "off";
  if (running) pollTimer = setTimeout(poll, POLL_MS);
}

function poll() {
  if (document.hidden) pollTimer = setTimeout(poll, POLL_MS);
  else refresh();
}

export function init() {
  $("monitor-path").value = state.monitorPath || "";
  $("monitor-mode").value = state.monitorMode || "lines";
  $("monitor-from").value = state.monitorFrom || "end";
  for (const id of ["monitor-path", "monitor-mode", "monitor-from"]) $(id).addEventListener("change", persist);
  $("monitor-start").addEventListener("click", start);
  refresh();
}
