// Engine and Speak panels of the Polyvox page: /v1/engines, /v1/voices, /v1/synthesize.
import { api, apiJson } from "./api.js";
import { renderDownload, startDownload } from "./download.js";
import { $ } from "./dom.js";
import { playPcm } from "./pcm_player.js";
import { save, state } from "./store.js";

const HISTORY_SIZE = 8;

let engines = [];
let audio = null; // { ctx, sources, controller }

function setText(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle("error", isError);
}

// ---- engines ------------------------------------------------------------------------------------
async function loadEngines() {
  const data = await apiJson("/v1/engines");
  engines = data.engines;
  if (!engines.some((e) => e.name === state.engine)) state.engine = data.default;
  renderTabs();
  await selectEngine(state.engine, false);
  setText($("server-status"), `${engines.length} engines · default ${data.default}`);
}

function renderTabs() {
  const tabs = $("engine-tabs");
  tabs.replaceChildren();
  for (const engine of engines) {
    const tab = document.createElement("button");
    tab.type = "button";
    tab.role = "tab";
    tab.id = "tab-" + engine.name;
    tab.dataset.engine = engine.name;
    tab.setAttribute("aria-controls", "engine-panel");
    const selected = engine.name === state.engine;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    tab.append(engine.label || engine.name);
    const dot = document.createElement("span");
    dot.className = "dot" + (engine.loaded ? " on" : "") + (engineSpeaks(engine) ? "" : " off");
    dot.title = engineSpeaks(engine) ? (engine.loaded ? "loaded" : "not loaded") : STATE_LABELS[engine.state];
    tab.append(dot);
    tab.addEventListener("click", () => selectEngine(engine.name, true));
    tab.addEventListener("keydown", onTabKey);
    tabs.append(tab);
  }
}

function onTabKey(event) {
  const names = engines.map((e) => e.name);
  let index = names.indexOf(event.currentTarget.dataset.engine);
  if (event.key === "ArrowRight") index = (index + 1) % names.length;
  else if (event.key === "ArrowLeft") index = (index - 1 + names.length) % names.length;
  else if (event.key === "Home") index = 0;
  else if (event.key === "End") index = names.length - 1;
  else return;
  event.preventDefault();
  // Focus moves with the key at once (ARIA tabs pattern); the voice list follows when it arrives.
  $("tab-" + names[index]).focus();
  selectEngine(names[index], true);
}

function renderEngine() {
  const engine = engines.find((e) => e.name === state.engine);
  if (!engine) return;
  $("engine-panel").setAttribute("aria-labelledby", "tab-" + engine.name);
  $("engine-description").textContent = engine.description;
  $("engine-rtf").textContent = engine.rtf == null ? "not measured yet" : `${engine.rtf.toFixed(3)} (×${(1 / engine.rtf).toFixed(1)} real time)`;
  const speaks = engineSpeaks(engine);
  $("engine-state").textContent = stateText(engine);
  $("engine-state").classList.toggle("error", !speaks || engine.state === "failed");
  $("engine-state").dataset.state = engine.state || "ready";
  $("engine-languages").textContent = engine.languages.join(", ");
  $("engine-capabilities").textContent = capabilityText(engine.capabilities);
  $("engine-rate").textContent = `${engine.sample_rate} Hz`;
  $("engine-load").disabled = engine.loaded || !speaks;
  $("engine-unload").disabled = !engine.loaded;
  renderDownload(engine, loadEngines);
  renderParameters(engine);
}

const UNAVAILABLE = new Set(["needs_package", "needs_weights"]);
const STATE_LABELS = { needs_package: "needs its package", needs_weights: "needs its weights" };

/** Whether the engine can speak now (it has its package and weights). */
function engineSpeaks(engine) {
  return !UNAVAILABLE.has(engine.state);
}

/** The engine's state in words, with the one next step when it cannot speak. */
function stateText(engine) {
  if (!engineSpeaks(engine)) return `${STATE_LABELS[engine.state]}: ${engine.next_step}`;
  if (engine.state === "failed") return `failed: ${engine.last_error || "see the server log"} (reloaded on its next use)`;
  return engine.loaded ? `loaded · ${engine.users} in use` : "ready · not loaded";
}

const CAPABILITY_LABELS = { streaming: "streaming", phonemes: "phoneme input", ssml: "SSML", alignment: "word timings" };

/** What an engine can do, in words: the true flags, then how it speaks library voices. */
function capabilityText(caps) {
  const names = Object.entries(CAPABILITY_LABELS).filter(([key]) => caps[key] === true).map(([, label]) => label);
  names.push(caps.cloning_mode === "native" ? "voice cloning" : "library voices by conversion");
  return names.join(", ");
}

function renderParameters(engine) {
  const box = $("parameters");
  box.replaceChildren();
  for (const name of engine.parameters) {
    const label = document.createElement("label");
    label.htmlFor = "param-" + name;
    label.textContent = name;
    const input = document.createElement("input");
    input.type = "text";
    input.inputMode = "decimal";
    input.id = "param-" + name;
    input.dataset.param = name;
    input.placeholder = "default";
    label.append(input);
    box.append(label);
  }
}

async function selectEngine(name, persist) {
  state.engine = name;
  if (persist) save();
  for (const tab of $("engine-tabs").children) {
    const selected = tab.dataset.engine === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
  renderEngine();
  const engine = engines.find((e) => e.name === name);
  const language = $("language");
  language.replaceChildren(new Option("any", ""), ...engine.languages.map((code) => new Option(code, code)));
  language.value = state.languages[name] || "";
  await loadVoices();
}

async function loadVoices() {
  // Every voice, so the library voices (engine "library", spoken by every engine) come along.
  const params = new URLSearchParams();
  if ($("language").value) params.set("language", $("language").value);
  const data = await apiJson("/v1/voices?" + params);
  const voices = data.voices.filter((v) => v.engine === state.engine)
    .map((v) => new Option(`${v.name} (${v.language})`, v.id));
  const library = document.createElement("optgroup");
  library.label = "Library voices";
  library.append(...data.voices.filter((v) => v.engine === "library")
    .map((v) => new Option(`${v.name} (${v.language})`, "library:" + v.id)));
  const select = $("voice");
  select.replaceChildren(new Option("default voice", ""), ...voices, ...(library.children.length ? [library] : []));
  const saved = state.voices[state.engine] || "";
  select.value = [...select.options].some((o) => o.value === saved) ? saved : "";
}

async function refreshEngines() {
  engines = (await apiJson("/v1/engines")).engines;
  renderTabs();
  renderEngine();
}

async function loadOrUnload(action) {
  const button = $("engine-" + action);
  button.disabled = true;
  setText($("engine-state"), action === "load" ? "loading…" : "unloading…");
  try {
    await api(`/v1/engines/${encodeURIComponent(state.engine)}/${action}`, { method: "POST" });
  } catch (error) {
    setText($("engine-state"), error.message, true);
    return;
  }
  await refreshEngines();
}

// ---- speaking ------------------------------------------------------------------------------------
function request(format, stream) {
  const body = { text: $("text").value, engine: state.engine, speed: Number($("speed").value), format, stream };
  if ($("voice").value) body.voice = $("voice").value;
  if ($("language").value) body.language = $("language").value;
  if ($("sample-rate").value) body.sample_rate = Number($("sample-rate").value);
  for (const input of document.querySelectorAll("[data-param]")) {
    if (input.value.trim() !== "") body[input.dataset.param] = Number(input.value);
  }
  return body;
}

function stopAudio() {
  if (!audio) return;
  audio.controller.abort();
  for (const source of audio.sources) { try { source.stop(); } catch { /* not started */ } }
  audio.sources = [];
}

async function speak() {
  stopAudio();
  const player = $("player");
  const ctx = (audio && audio.ctx) || new AudioContext();
  audio = { ctx, sources: [], controller: new AbortController() };
  const mine = audio;
  await ctx.resume();
  const counters = { samples: 0, seconds: 0, chunks: 0 };
  const show = (extra) => {
    player.dataset.samplesReceived = counters.samples;
    player.dataset.secondsScheduled = counters.seconds.toFixed(3);
    player.dataset.chunks = counters.chunks;
    if (extra) setText(player, extra);
  };
  player.dataset.state = "requesting";
  show("Synthesizing…");
  const started = performance.now();
  const body = request("pcm", true);
  let response;
  try {
    response = await api("/v1/synthesize", { json: body, signal: mine.controller.signal });
  } catch (error) {
    player.dataset.state = "error";
    setText(player, error.message, true);
    return;
  }
  player.dataset.state = "streaming";
  try {
    await playPcm(response, ctx, mine, (count, rate) => {
      if (!counters.chunks) player.dataset.firstAudioMs = Math.round(performance.now() - started);
      counters.samples += count;
      counters.seconds += count / rate;
      counters.chunks += 1;
      show(`Playing… ${counters.seconds.toFixed(1)} s received`);
    });
  } catch (error) {
    if (mine.controller.signal.aborted) { player.dataset.state = "stopped"; show("Stopped."); return; }
    player.dataset.state = "error";
    setText(player, "stream ended early: " + error.message, true);
    return;
  }
  player.dataset.doneMs = Math.round(performance.now() - started);
  player.dataset.state = "done";
  show(`${counters.seconds.toFixed(2)} s of audio from ${response.headers.get("X-Engine")} / ${response.headers.get("X-Voice")}` +
       ` (first audio after ${player.dataset.firstAudioMs} ms)`);
  addHistory({ text: body.text, engine: body.engine, voice: body.voice || "", language: body.language || "",
               seconds: Number(counters.seconds.toFixed(2)) });
}

async function download() {
  const player = $("player");
  const format = $("format").value;
  setText(player, `Preparing ${format}…`);
  try {
    const response = await api("/v1/synthesize", { json: request(format, false) });
    const blob = await response.blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `polyvox.${format === "opus" ? "ogg" : format}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    player.dataset.downloadBytes = blob.size;
    setText(player, `Downloaded ${blob.size} bytes of ${format}.`);
  } catch (error) {
    setText(player, error.message, true);
  }
}

function addHistory(entry) {
  state.history = [entry, ...state.history.filter((h) => h.text !== entry.text)].slice(0, HISTORY_SIZE);
  save();
  renderHistory();
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren();
  // No heading over an empty list: "Recent" appears with the first synthesis.
  list.hidden = $("history-heading").hidden = state.history.length === 0;
  for (const entry of state.history) {
    const item = document.createElement("li");
    const short = entry.text.length > 60 ? entry.text.slice(0, 57) + "…" : entry.text;
    item.append(`${short} — ${entry.engine}${entry.voice ? "/" + entry.voice : ""}, ${entry.seconds} s`);
    const again = document.createElement("button");
    again.type = "button";
    again.textContent = "Use";
    again.setAttribute("aria-label", "Use again: " + short);
    again.addEventListener("click", async () => {
      $("text").value = entry.text;
      state.text = entry.text;
      state.voices[entry.engine] = entry.voice;
      state.languages[entry.engine] = entry.language;
      if (engines.some((e) => e.name === entry.engine)) await selectEngine(entry.engine, true);
      $("text").focus();
    });
    item.append(again);
    list.append(item);
  }
}

// ---- wiring --------------------------------------------------------------------------------------
function bindControls() {
  $("speed").value = state.speed;
  $("speed-value").textContent = Number(state.speed).toFixed(2);
  $("format").value = state.format;
  $("sample-rate").value = state.sampleRate;
  if (state.text !== null) $("text").value = state.text;
  $("speed").addEventListener("input", () => {
    state.speed = Number($("speed").value);
    $("speed-value").textContent = state.speed.toFixed(2);
    save();
  });
  $("format").addEventListener("change", () => { state.format = $("format").value; save(); });
  $("sample-rate").addEventListener("change", () => { state.sampleRate = $("sample-rate").value; save(); });
  $("text").addEventListener("input", () => { state.text = $("text").value; save(); });
  $("language").addEventListener("change", async () => {
    state.languages[state.engine] = $("language").value;
    save();
    await loadVoices();
  });
  $("voice").addEventListener("change", () => { state.voices[state.engine] = $("voice").value; save(); });
  $("engine-load").addEventListener("click", () => loadOrUnload("load"));
  $("engine-unload").addEventListener("click", () => loadOrUnload("unload"));
  $("engine-download-start").addEventListener("click", () => startDownload(loadEngines));
  $("speak").addEventListener("click", speak);
  $("stop").addEventListener("click", stopAudio);
  $("download").addEventListener("click", download);
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); speak(); }
  });
}

/** The voice and language selected in the Speak panel ("" for the default). */
export const currentVoice = () => $("voice").value;
export const currentLanguage = () => $("language").value;

/** Bind the controls and list the engines; resolves once they are shown (or the server is unreachable). */
export async function init() {
  bindControls();
  renderHistory();
  try {
    await loadEngines();
    document.body.dataset.ready = "true";
  } catch (error) {
    setText($("server-status"), "Cannot reach the server: " + error.message, true);
  }
}

// The Voices panel added or removed a library voice: offer the current list.
document.addEventListener("polyvox:voices-changed", () => {
  if (engines.length) loadVoices().catch((error) => setText($("player"), error.message, true));
});
