// OBS browser source: plays each line a Polyvox monitor speaks, in order, with an optional caption.
// Query: monitor=<id> (default: the first running monitor), captions=1, volume=0..1, status=0 hides the badge.
import { apiJson } from "./api.js";

const params = new URLSearchParams(location.search);
const body = document.body;
const statusEl = document.getElementById("status");
const caption = document.getElementById("caption");
const showCaptions = ["1", "true", "yes"].includes((params.get("captions") || "").toLowerCase());
const volume = Math.min(Math.max(Number(params.get("volume") ?? 1) || 0, 0), 1);
if (params.get("status") === "0") statusEl.hidden = true;

const ctx = new AudioContext();
const gain = ctx.createGain();
gain.gain.value = params.has("volume") ? volume : 1;
gain.connect(ctx.destination);
const received = [];
let next = 0;
let chain = Promise.resolve();
let captionTimer = null;
window.polyvoxObs = { received, ctx }; // what was received, for a look from the console (and the tests)

function status(text) {
  statusEl.textContent = text;
}

function count(name, add) {
  body.dataset[name] = String(Number(body.dataset[name]) + add);
}

function decode(base64) {
  const raw = atob(base64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return ctx.decodeAudioData(bytes.buffer);
}

async function play(line) {
  const buffer = await decode(line.audio);
  const source = ctx.createBufferSource();
  source.buffer = buffer;
  source.connect(gain);
  const start = Math.max(next, ctx.currentTime + 0.05);
  source.start(start);
  next = start + buffer.duration;
  count("linesPlayed", 1);
  count("samples", buffer.length);
  body.dataset.seconds = (Number(body.dataset.seconds) + buffer.duration).toFixed(3);
  if (showCaptions) {
    const delay = Math.max(0, (start - ctx.currentTime) * 1000);
    setTimeout(() => {
      caption.textContent = line.text;
      caption.classList.add("on");
      clearTimeout(captionTimer);
      captionTimer = setTimeout(() => caption.classList.remove("on"), buffer.duration * 1000 + 1500);
    }, delay);
  }
}

function onLine(event) {
  const line = JSON.parse(event.data);
  received.push({ seq: line.seq, text: line.text, seconds: line.seconds });
  count("linesReceived", 1);
  body.dataset.lastSeq = line.seq;
  status(`${ctx.state === "running" ? "Playing" : "Audio blocked: click to enable"} · line ${line.seq}`);
  // Decoding is asynchronous: chain it so lines are scheduled in the order they were spoken.
  chain = chain.then(() => play(line)).catch((error) => status("Cannot play a line: " + error.message));
}

function connect(id) {
  const source = new EventSource(`/v1/monitor/${encodeURIComponent(id)}/events`);
  source.addEventListener("hello", () => {
    body.dataset.state = "connected";
    body.dataset.monitor = id;
    status(`Connected to monitor ${id}` + (ctx.state === "running" ? "" : " · click to enable audio"));
  });
  source.addEventListener("line", onLine);
  source.addEventListener("end", () => {
    source.close();
    body.dataset.state = "ended";
    status(`Monitor ${id} stopped.`);
    if (!params.get("monitor")) setTimeout(findMonitor, 2000);
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      body.dataset.state = "error";
      status(`Monitor ${id} is not available.`);
      if (!params.get("monitor")) setTimeout(findMonitor, 2000);
    } else {
      status("Reconnecting…");
    }
  };
}

async function findMonitor() {
  try {
    const data = await apiJson("/v1/monitor/status");
    const running = data.monitors.find((m) => m.state !== "stopped");
    if (running) return connect(running.id);
    status("Waiting for a monitor to start…");
  } catch {
    status("Waiting for the server…");
  }
  setTimeout(findMonitor, 2000);
}

// OBS allows audio without a click; an ordinary tab may need one.
document.addEventListener("click", () => ctx.resume());
ctx.resume().catch(() => {});
const id = params.get("monitor");
if (id) connect(id); else findMonitor();
