// The Dialogue panel: a cast ("Alice = piper/joe", one speaker a line) and a script ("Alice: Hello."), spoken
// by POST /v1/audio/dialogue as one stream of 16-bit PCM, turn by turn, scheduled into Web Audio as it comes.
import { api } from "./api.js";
import { $ } from "./dom.js";
import { playPcm } from "./pcm_player.js";

let playing = null;

/** {"Alice": "piper/joe"} from "Alice = piper/joe" lines (blank lines and # comments skipped). */
export function parseCast(text) {
  const cast = {};
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith("#")) continue;
    const at = trimmed.indexOf("=");
    if (at < 1) throw new Error(`cast line "${trimmed}": write it as Name = voice`);
    cast[trimmed.slice(0, at).trim()] = trimmed.slice(at + 1).trim();
  }
  return cast;
}

function stop() {
  if (!playing) return;
  playing.controller.abort();
  for (const source of playing.sources) { try { source.stop(); } catch { /* not started */ } }
  playing.sources = [];
}

function show(player, counters, message, isError = false) {
  player.dataset.samplesReceived = counters.samples;
  player.dataset.secondsScheduled = counters.seconds.toFixed(3);
  player.dataset.chunks = counters.chunks;
  player.textContent = message;
  player.classList.toggle("error", isError);
}

async function play() {
  stop();
  const player = $("dialogue-player");
  const ctx = (playing && playing.ctx) || new AudioContext();
  playing = { ctx, sources: [], controller: new AbortController() };
  const mine = playing;
  await ctx.resume();
  const counters = { samples: 0, seconds: 0, chunks: 0 };
  const started = performance.now();
  player.dataset.state = "requesting";
  show(player, counters, "Synthesizing the first turn…");
  let response;
  try {
    const body = { script: $("dialogue-script").value, cast: parseCast($("dialogue-cast").value),
                   response_format: "pcm", stream: true };
    response = await api("/v1/audio/dialogue", { json: body, signal: mine.controller.signal });
  } catch (error) {
    player.dataset.state = "error";
    show(player, counters, error.message, true);
    return;
  }
  const turns = response.headers.get("X-Dialogue-Turns");
  player.dataset.state = "streaming";
  try {
    await playPcm(response, ctx, mine, (count, rate) => {
      if (!counters.chunks) player.dataset.firstAudioMs = Math.round(performance.now() - started);
      counters.samples += count;
      counters.seconds += count / rate;
      counters.chunks += 1;
      show(player, counters, `Playing… ${counters.seconds.toFixed(1)} s of ${turns} turns received`);
    });
  } catch (error) {
    player.dataset.state = mine.controller.signal.aborted ? "stopped" : "error";
    show(player, counters, mine.controller.signal.aborted ? "Stopped." : "stream ended early: " + error.message,
         !mine.controller.signal.aborted);
    return;
  }
  player.dataset.doneMs = Math.round(performance.now() - started);
  player.dataset.state = "done";
  show(player, counters, `${turns} turns, ${counters.seconds.toFixed(2)} s of audio` +
       ` (first audio after ${player.dataset.firstAudioMs} ms)`);
}

export function init() {
  $("dialogue-play").addEventListener("click", play);
  $("dialogue-stop").addEventListener("click", stop);
}
