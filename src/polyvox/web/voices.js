// Voices panel of the Polyvox page: the voice library through /v1/voices (list, add, preview, delete).
// After every change it dispatches "polyvox:voices-changed" on document, so the Speak panel lists the voice.
// Recording and blending live in voices-record-blend.js, which joins the panel through attach().
import { apiJson } from "./api.js";
import { $, button } from "./dom.js";

const attached = []; // attached parts: { bind(), setBusy(on), showVoices(all) }
let busy = false;
let listed = 0; // sequence number of the newest list request: older answers are dropped

export function message(text, isError = false, code = "") {
  const el = $("voices-message");
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.dataset.code = isError ? code : "";
}

const failed = (error) => message(error.message, true, error.code || "network_error");

function setBusy(on) {
  busy = on;
  $("voice-upload").disabled = on;
  for (const part of attached) part.setBusy(on);
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
    const all = (await apiJson("/v1/voices")).voices;
    const library = all.filter((v) => v.engine === "library");
    const details = new Map();
    await Promise.all(library.map(async (v) => {
      try {
        details.set(v.id, await apiJson(`/v1/voices/${encodeURIComponent(v.id)}`));
      } catch { /* removed meanwhile: listed without details */ }
    }));
    if (mine !== listed) return;
    render(library, details);
    for (const part of attached) part.showVoices(all);
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
  player.hidden = false; // no bare 0:00 player until there is something to play
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
  player.hidden = true;
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
    await apiJson(`/v1/voices/${encodeURIComponent(voice.id)}`, { method: "DELETE" });
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
export function newVoiceForm() {
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

export async function create(form, busyText) {
  setBusy(true);
  message(busyText);
  try {
    const voice = await apiJson("/v1/voices", { method: "POST", body: form });
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

// ---- wiring ---------------------------------------------------------------------------------------
// A part adds ways to make a voice; it attaches when its module runs, before main.js calls init().
export function attach(part) {
  attached.push(part);
}

export function init() {
  bindPlayer();
  $("voice-upload").addEventListener("click", addFile);
  for (const part of attached) part.bind();
  return refresh();
}

export const isBusy = () => busy;
