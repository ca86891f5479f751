// Voices panel of the Polyvox page: the voice library through /v1/voices (list, add, preview, delete, blend).
// After every change it dispatches "polyvox:voices-changed" on document, so the Speak panel lists the voice.
"use strict";

window.polyvoxVoices = (() => {
  const $ = (id) => document.getElementById(id);
  const BLEND_ENGINE = "kokoro";
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
  let busy = false;
  let listed = 0; // sequence number of the newest list request: older answers are dropped

  async function call(path, init = {}) {
    const response = await fetch(path, init);
    if (!response.ok) {
      let error = { code: "http_" + response.status, message: response.statusText };
      try { error = (await response.json()).error || error; } catch { /* not JSON */ }
      const failure = new Error(`${error.code}: ${error.message}`);
      failure.code = error.code;
      throw failure;
    }
    return response.status === 204 ? null : response.json();
  }

  function message(text, isError = false, code = "") {
    const el = $("voices-message");
    el.textContent = text;
    el.classList.toggle("error", isError);
    el.dataset.code = isError ? code : "";
  }

  const failed = (error) => message(error.message, true, error.code || "network_error");

  function setBusy(on) {
    busy = on;
    for (const id of ["voice-upload", "blend-create"]) $(id).disabled = on;
    if (!recording) $("voice-record").disabled = on;
  }

  function button(text, label, onClick) {
    const el = document.createElement("button");
    el.type = "button";
    el.textContent = text;
    el.setAttribute("aria-label", label);
    el.addEventListener("click", onClick);
    return el;
  }

  // ---- the list --------------------------------------------------------------------------------------
  function describe(voice, details) {
    const facts = [voice.language];
    if (voice.gender) facts.push(voice.gender);
    if (details) facts.push(`${details.analysis.seconds.toFixed(1)} s`);
    if (details && details.blend) facts.push("blend " + details.blend);
    return facts.join(" · ");
  }

  function render(voices, details) {
    const list = $("library-voices");
    list.replaceChildren();
    if (!voices.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No library voices yet.";
      list.append(empty);
      return;
    }
    for (const voice of voices) {
      const item = document.createElement("li");
      item.dataset.id = voice.id;
      const title = document.createElement("div");
      const name = document.createElement("strong");
      name.textContent = voice.name;
      const id = document.createElement("code");
      id.textContent = voice.id;
      title.append(name, " ", id);
      const facts = document.createElement("div");
      facts.className = "facts-line";
      facts.textContent = describe(voice, details.get(voice.id));
      const row = document.createElement("div");
      row.className = "row";
      row.append(
        button("Preview", `Preview ${voice.name}`, () => preview(voice)),
        button("Delete", `Delete ${voice.name}`, () => remove(voice)),
      );
      item.append(title, facts, row);
      list.append(item);
    }
  }

  async function refresh() {
    const mine = ++listed;
    try {
      const all = (await call("/v1/voices")).voices;
      const library = all.filter((v) => v.engine === "library");
      const details = new Map();
      await Promise.all(library.map(async (v) => {
        try {
          details.set(v.id, await call(`/v1/voices/${encodeURIComponent(v.id)}`));
        } catch { /* removed meanwhile: listed without details */ }
      }));
      if (mine !== listed) return;
      render(library, details);
      renderBlendChoices(all.filter((v) => v.engine === BLEND_ENGINE));
      $("library-voices").dataset.count = library.length;
    } catch (error) {
      failed(error);
    }
  }

  async function changed() {
    await refresh();
    document.dispatchEvent(new CustomEvent("polyvox:voices-changed"));
  }

  // ---- preview and delete ----------------------------------------------------------------------------
  function preview(voice) {
    const player = $("voice-preview");
    player.dataset.voice = voice.id;
    player.dataset.name = voice.name;
    player.dataset.state = "loading";
    delete player.dataset.seconds;
    player.src = `/v1/voices/${encodeURIComponent(voice.id)}/preview?response_format=wav`;
    message(`Loading the reference of ${voice.name}…`);
    player.play().catch((error) => {
      if (error.name === "AbortError") return; // another preview replaced this one
      player.dataset.state = "error";
      message(error.name === "NotAllowedError" ? "The browser blocked playback; press play on the player."
        : `The preview cannot be played: ${error.message}`, true, "preview_failed");
    });
  }

  function stopPreview(voiceId) {
    const player = $("voice-preview");
    if (player.dataset.voice !== voiceId) return;
    player.pause();
    player.removeAttribute("src");
    player.load();
    player.dataset.state = "idle";
  }

  function bindPlayer() {
    const player = $("voice-preview");
    player.addEventListener("loadedmetadata", () => { player.dataset.seconds = player.duration.toFixed(3); });
    player.addEventListener("playing", () => {
      player.dataset.state = "playing";
      message(`Playing the reference of ${player.dataset.name} (${player.duration.toFixed(1)} s).`);
    });
    player.addEventListener("ended", () => { player.dataset.state = "ended"; });
    player.addEventListener("error", () => {
      if (!player.getAttribute("src")) return;
      player.dataset.state = "error";
      message("The preview could not be loaded.", true, "preview_failed");
    });
  }

  async function remove(voice) {
    if (!window.confirm(`Delete the voice ${voice.name}? This cannot be undone.`)) return;
    stopPreview(voice.id);
    message(`Deleting ${voice.name}…`);
    try {
      await call(`/v1/voices/${encodeURIComponent(voice.id)}`, { method: "DELETE" });
      message(`Deleted ${voice.name}.`);
    } catch (error) {
      failed(error);
    }
    await changed();
    // The pressed button is gone: keep keyboard focus in the panel.
    const next = document.querySelector("#library-voices button") || $("voice-name");
    next.focus();
  }

  // ---- adding ---------------------------------------------------------------------------------------
  function newVoiceForm() {
    const name = $("voice-name").value.trim();
    if (!name) {
      message("Give the new voice a name first.", true, "name_required");
      $("voice-name").focus();
      return null;
    }
    const form = new FormData();
    form.append("name", name);
    form.append("language", $("voice-language").value.trim() || "en-us");
    const transcript = $("voice-transcript").value.trim();
    if (transcript) form.append("transcript", transcript);
    return form;
  }

  async function create(form, busyText) {
    setBusy(true);
    message(busyText);
    try {
      const voice = await call("/v1/voices", { method: "POST", body: form });
      message(`Added ${voice.name} (id ${voice.id}, ${voice.analysis.seconds.toFixed(1)} s of reference).`);
      $("voice-name").value = "";
      $("voice-transcript").value = "";
      $("voice-file").value = "";
      await changed();
    } catch (error) {
      failed(error);
    } finally {
      setBusy(false);
    }
  }

  async function addFile() {
    const file = $("voice-file").files[0];
    if (!file) {
      message("Choose an audio file first.", true, "file_required");
      $("voice-file").focus();
      return;
    }
    const form = newVoiceForm();
    if (!form) return;
    form.append("file", file, file.name);
    await create(form, `Adding ${form.get("name")} from ${file.name}…`);
  }

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
      record.disabled = busy;
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
      record.disabled = busy;
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
      ? "Blends need the Kokoro engine, and this server has no Kokoro voices." : hint.dataset.text;
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
  function init() {
    bindPlayer();
    $("voice-upload").addEventListener("click", addFile);
    $("voice-record").addEventListener("click", toggleRecording);
    $("blend-more").addEventListener("click", () => addPart(null).focus());
    $("blend-create").addEventListener("click", createBlend);
    return refresh();
  }

  return { init, refresh };
})();

document.addEventListener("DOMContentLoaded", () => window.polyvoxVoices.init());
