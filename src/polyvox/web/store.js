// The page's one store: what the user chose (engine, voices, text, monitor form...), kept in localStorage.

const STORE_KEY = "polyvox.ui.v1";

function read() {
  try { return JSON.parse(localStorage.getItem(STORE_KEY) || "{}") || {}; } catch { return {}; }
}

export const state = Object.assign(
  { engine: null, voices: {}, languages: {}, speed: 1, format: "wav", sampleRate: "", text: null,
    monitorPath: "", monitorMode: "lines", monitorFrom: "end", history: [] },
  read(),
);

export function save() { localStorage.setItem(STORE_KEY, JSON.stringify(state)); }
