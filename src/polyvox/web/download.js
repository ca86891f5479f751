// The Download panel of an engine that needs its weights: the size and the licence (to accept where it
// restricts use), then a progress bar fed by /v1/models/{engine}/pull until the engine is ready.
import { apiJson } from "./api.js";
import { $ } from "./dom.js";

const POLL_MS = 500;
let following = null; // the engine whose pull the page is following

function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(bytes < 1e8 ? 1 : 0)} MB`;
}

/** Show the panel for an engine that needs its weights or is downloading them; hide it otherwise. */
export function renderDownload(engine, refresh) {
  const box = $("engine-download");
  const source = engine.weights_source;
  const shown = Boolean(source) && (engine.state === "needs_weights" || engine.state === "downloading");
  box.hidden = !shown;
  if (!shown) return;
  box.dataset.engine = engine.name;
  const note = source.note ? ` (${source.note})` : "";
  $("download-info").textContent =
    `About ${megabytes(source.size_bytes)} from ${source.repositories.join(", ")}. Licence: ${source.license}${note}.`;
  $("download-licence-link").href = source.license_url;
  $("download-accept-row").hidden = !source.must_accept;
  const downloading = engine.state === "downloading";
  $("engine-download-start").disabled = downloading;
  showProgress(engine.download, downloading);
  if (downloading) follow(engine.name, refresh);
}

function showProgress(download, running) {
  const bar = $("download-progress");
  const message = $("download-message");
  bar.hidden = !running;
  if (!download) return;
  bar.max = download.total_bytes || 1;
  bar.value = download.done_bytes;
  $("engine-download").dataset.done = String(download.done_bytes);
  message.classList.toggle("error", Boolean(download.error));
  message.textContent = download.error
    ? `The download failed: ${download.error}`
    : `${megabytes(download.done_bytes)} of ${megabytes(download.total_bytes)}`;
}

async function follow(name, refresh) {
  if (following === name) return;
  following = name;
  try {
    for (;;) {
      const pull = await apiJson(`/v1/models/${encodeURIComponent(name)}/pull`);
      showProgress(pull.download, Boolean(pull.download && pull.download.running));
      if (!pull.download || !pull.download.running) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    following = null;
  }
  await refresh();
}

/** Start the pull of the engine shown (with the licence accepted when the box is ticked). */
export async function startDownload(refresh) {
  const name = $("engine-download").dataset.engine;
  const message = $("download-message");
  try {
    await apiJson(`/v1/models/${encodeURIComponent(name)}/pull`, {
      json: { accept_license: $("download-accept").checked },
    });
  } catch (error) {
    message.textContent = error.message;
    message.classList.add("error");
    message.dataset.code = error.code || "";
    return;
  }
  message.classList.remove("error");
  delete message.dataset.code;
  await refresh(); // the engine is now `downloading`: the panel follows its pull from there
}
