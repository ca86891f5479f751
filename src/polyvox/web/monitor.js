// Monitor panel of the Polyvox page: /v1/monitor/start, /stop, /status, /select-engine.
"use strict";

window.polyvoxMonitor = (() => {
  const $ = (id) => document.getElementById(id);
  let timer = null;

  async function call(path, json) {
    const init = json === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(json),
    };
    const response = await fetch(path, init);
    const data = await response.json();
    if (!response.ok) {
      const error = new Error(`${data.error.code}: ${data.error.message}`);
      error.code = data.error.code;
      throw error;
    }
    return data;
  }

  function message(text, isError = false) {
    const el = $("monitor-message");
    el.textContent = text;
    el.classList.toggle("error", isError);
    el.dataset.code = isError ? (text.split(":")[0] || "") : "";
  }

  function persist() {
    const state = window.polyvox.state;
    state.monitorPath = $("monitor-path").value;
    state.monitorMode = $("monitor-mode").value;
    state.monitorFrom = $("monitor-from").value;
    localStorage.setItem("polyvox.ui.v1", JSON.stringify(state));
  }

  async function start() {
    persist();
    const body = {
      path: $("monitor-path").value.trim(), engine: window.polyvox.state.engine,
      mode: $("monitor-mode").value, from: $("monitor-from").value,
    };
    const voice = window.polyvox.currentVoice();
    const language = window.polyvox.currentLanguage();
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

  function button(text, label, onClick) {
    const el = document.createElement("button");
    el.type = "button";
    el.textContent = text;
    el.setAttribute("aria-label", label);
    el.addEventListener("click", onClick);
    return el;
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
          const body = { id: m.id, engine: window.polyvox.state.engine };
          const voice = window.polyvox.currentVoice();
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

  async function refresh() {
    try {
      const data = await call("/v1/monitor/status");
      render(data.monitors);
    } catch (error) {
      message(error.message, true);
    }
  }

  function init() {
    const state = window.polyvox.state;
    $("monitor-path").value = state.monitorPath || "";
    $("monitor-mode").value = state.monitorMode || "lines";
    $("monitor-from").value = state.monitorFrom || "end";
    for (const id of ["monitor-path", "monitor-mode", "monitor-from"]) $(id).addEventListener("change", persist);
    $("monitor-start").addEventListener("click", start);
    refresh();
    timer = setInterval(() => { if (!document.hidden) refresh(); }, 1000);
  }

  return { init, refresh, stop: () => clearInterval(timer) };
})();
