// The Polyvox page (uses only the public HTTP API). Each panel is a module; this one starts them.
// Module scripts run once the document is parsed, so the elements are there.
import * as speak from "./app.js";
import * as dialogue from "./dialogue.js";
import * as monitor from "./monitor.js";
import * as voices from "./voices.js";
import "./voices-record-blend.js"; // recording and blending: attaches itself to the Voices panel

const engines = speak.init();
voices.init();
dialogue.init();
engines.then(() => monitor.init()); // the monitor form speaks with the engine the Speak panel selected
