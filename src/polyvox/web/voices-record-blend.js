// Voices panel of the Polyvox page, second half: a new voice recorded from the microphone, or blended from
// Kokoro voices. It uses the core's helpers from voices.js and attaches to it.
import { apiJson } from "./api.js";
import { $, button } from "./dom.js";
import { attach, create, isBusy, message, newVoiceForm } from "./voices.js";

const MAX_BLEND_PARTS = 8; // the server's limit
const MAX_RECORD_SECONDS = 30;
const RECORD_TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm"];
const EXTENSIONS = { "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a" };
const MIC_ERRORS = {
  NotAllowedError: ["microphone_denied",
    "Microphone access was denied. Allow it in the browser's site settings, or add a voice from a file."],
  SecurityError: ["microphone_denied",
    "The browser does not allow the microphone on this page. Add a voice from a file instead."],
  NotFoundError: ["no_microphone", "No microphone was found. Connect one, or add a voice from a file."],
  NotReadableError: ["microphone_unavailable",
    "The microphone cannot be opened (is another program using it?)."],
  OverconstrainedError: ["microphone_unavailable", "The microphone cannot record mono audio."],
};
let recording = null; // { recorder, stream, form, started, timer }

// ---- recording ------------------------------------------------------------------------------------
function recordingSupported() {
  return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);
}

async function startRecording() {
  const form = newVoiceForm();
  if (!form) return;
  if (!recordingSupported()) {
    message(window.isSecureContext ? "This browser cannot record audio. Add a voice from a file instead."
      : "Browsers allow the microphone only on https:// pages or on localhost. Add a voice from a file instead.",
    true, "microphone_unavailable");
    return;
  }
  const record = $("voice-record");
  record.disabled = true;
  message("Asking for the microphone…");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
  } catch (error) {
    record.disabled = isBusy();
    const [code, text] = MIC_ERRORS[error.name] ||
      ["microphone_unavailable", `The microphone cannot be opened (${error.name || error.message}).`];
    message(text, true, code);
    return;
  }
  let recorder;
  try {
    const mimeType = RECORD_TYPES.find((type) => MediaRecorder.isTypeSupported(type));
    recorder = new MediaRecorder(stream, mimeType ? { mimeType } : {});
  } catch (error) {
    for (const track of stream.getTracks()) track.stop();
    record.disabled = isBusy();
    message(`This browser cannot record audio: ${error.message}`, true, "microphone_unavailable");
    return;
  }
  const chunks = [];
  const mine = { recorder, stream, form, started: performance.now(), timer: null };
  recording = mine;
  recorder.addEventListener("dataavailable", (event) => { if (event.data.size) chunks.push(event.data); });
  recorder.addEventListener("stop", () => finishRecording(mine, chunks));
  recorder.addEventListener("error", (event) => {
    message(`Recording failed: ${event.error ? event.error.message : "unknown error"}`, true, "recording_failed");
  });
  recorder.start();
  record.textContent = "Stop and add";
  record.dataset.state = "recording";
  record.disabled = false;
  message(`Recording ${form.get("name")}… press “Stop and add” when done (at most ${MAX_RECORD_SECONDS} s).`);
  mine.timer = setInterval(() => {
    const seconds = (performance.now() - mine.started) / 1000;
    $("voice-record-time").textContent = `${seconds.toFixed(1)} s`;
    if (seconds >= MAX_RECORD_SECONDS) stopRecording();
  }, 100);
}

function stopRecording() {
  if (!recording) return;
  clearInterval(recording.timer);
  if (recording.recorder.state !== "inactive") recording.recorder.stop();
}

async function finishRecording(mine, chunks) {
  clearInterval(mine.timer);
  for (const track of mine.stream.getTracks()) track.stop();
  recording = null;
  const record = $("voice-record");
  record.textContent = "Record";
  record.dataset.state = "idle";
  $("voice-record-time").textContent = "";
  const seconds = (performance.now() - mine.started) / 1000;
  const type = mine.recorder.mimeType || (chunks[0] && chunks[0].type) || "audio/webm";
  const blob = new Blob(chunks, { type });
  if (!blob.size) {
    message("The recording is empty: nothing came from the microphone.", true, "recording_empty");
    return;
  }
  $("voices-message").dataset.recordedSeconds = seconds.toFixed(2);
  mine.form.append("file", blob, `recording.${EXTENSIONS[type.split(";")[0]] || "webm"}`);
  await create(mine.form, `Adding ${mine.form.get("name")} (${seconds.toFixed(1)} s recorded)…`);
}

function toggleRecording() {
  if (recording) stopRecording();
  else startRecording();
}

// ---- blending -------------------------------------------------------------------------------------
let blendEngine = null; // a promise of the engine blends are made with: the first that declares blending

function blendingEngine() {
  blendEngine = blendEngine || apiJson("/v1/engines")
    .then(({ engines }) => (engines.find((e) => e.capabilities.blending) || { name: "" }).name)
    .catch(() => { blendEngine = null; return ""; }); // asked again on the next listing
  return blendEngine;
}

let blendChoices = [];

function renderBlendChoices(voices) {
  const same = voices.length === blendChoices.length && voices.every((v, i) => v.id === blendChoices[i].id);
  if (same) return;
  blendChoices = voices;
  const fieldset = $("blend");
  const hint = $("blend-hint");
  hint.dataset.text = hint.dataset.text || hint.textContent;
  fieldset.disabled = voices.length < 2;
  hint.textContent = fieldset.disabled
    ? "Blends need an engine that mixes voices (Kokoro), and this server has none with voices."
    : hint.dataset.text;
  if (fieldset.disabled) {
    $("blend-parts").replaceChildren();
    return;
  }
  const parts = $("blend-parts");
  const chosen = [...parts.querySelectorAll("select")].map((s) => s.value);
  parts.replaceChildren();
  const start = chosen.length >= 2 ? chosen : voices.slice(0, 2).map((v) => v.id);
  for (const id of start) addPart(id);
}

function addPart(voiceId) {
  const parts = $("blend-parts");
  const item = document.createElement("li");
  const voiceLabel = document.createElement("label");
  const voiceText = document.createElement("span");
  const select = document.createElement("select");
  select.className = "blend-voice";
  for (const v of blendChoices) {
    select.append(new Option(`${v.name} (${v.language}${v.gender ? ", " + v.gender : ""})`, v.id));
  }
  const used = new Set([...parts.querySelectorAll("select")].map((s) => s.value));
  const fresh = blendChoices.find((v) => !used.has(v.id));
  select.value = voiceId && blendChoices.some((v) => v.id === voiceId) ? voiceId : (fresh || blendChoices[0]).id;
  voiceLabel.append(voiceText, select);
  const weightLabel = document.createElement("label");
  const weight = document.createElement("input");
  weight.type = "number";
  weight.className = "blend-weight";
  weight.min = "0";
  weight.step = "any";
  weight.value = "1";
  weight.inputMode = "decimal";
  const share = document.createElement("output");
  weight.addEventListener("input", shares);
  weightLabel.append("Weight", weight);
  const drop = button("Remove", "", () => {
    item.remove();
    renumber();
    parts.querySelector("select").focus();
  });
  item.append(voiceLabel, weightLabel, share, drop);
  parts.append(item);
  renumber();
  return select;
}

function renumber() {
  const items = [...$("blend-parts").children];
  items.forEach((item, index) => {
    item.querySelector("label span").textContent = `Voice ${index + 1}`;
    const drop = item.querySelector("button");
    drop.setAttribute("aria-label", `Remove voice ${index + 1} from the blend`);
    drop.disabled = items.length <= 2;
  });
  $("blend-more").disabled = items.length >= MAX_BLEND_PARTS;
  shares();
}

function weights() {
  return [...$("blend-parts").children].map((item) => ({
    id: item.querySelector("select").value,
    weight: Number(item.querySelector("input").value),
    share: item.querySelector("output"),
  }));
}

function shares() {
  const parts = weights();
  const total = parts.reduce((sum, p) => sum + (p.weight > 0 ? p.weight : 0), 0);
  for (const p of parts) {
    p.share.textContent = total > 0 && p.weight > 0 ? `${Math.round((100 * p.weight) / total)} %` : "–";
  }
}

async function createBlend() {
  const parts = weights();
  if (parts.some((p) => !(p.weight > 0) || !Number.isFinite(p.weight))) {
    message("Every weight must be a positive number.", true, "invalid_weight");
    return;
  }
  if (new Set(parts.map((p) => p.id)).size < 2) {
    message("Choose at least two different voices to blend.", true, "blend_too_small");
    return;
  }
  const form = newVoiceForm();
  if (!form) return;
  const spec = parts.map((p) => `${p.id}(${p.weight})`).join("+");
  form.append("blend", spec);
  await create(form, `Blending ${spec}: Kokoro reads a few sentences in the mix…`);
}

// ---- wiring ---------------------------------------------------------------------------------------
attach({
  bind() {
    $("voice-record").addEventListener("click", toggleRecording);
    $("blend-more").addEventListener("click", () => addPart(null).focus());
    $("blend-create").addEventListener("click", createBlend);
  },
  setBusy(on) {
    $("blend-create").disabled = on;
    if (!recording) $("voice-record").disabled = on;
  },
  showVoices(all) {
    return blendingEngine().then((engine) => {
      renderBlendChoices(all.filter((v) => engine && v.engine === engine));
    });
  },
});
