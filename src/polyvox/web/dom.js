// Small DOM helpers the page's panels share.

export const $ = (id) => document.getElementById(id);

/** A plain button with its own accessible label. */
export function button(text, label, onClick) {
  const el = document.createElement("button");
  el.type = "button";
  el.textContent = text;
  el.setAttribute("aria-label", label);
  el.addEventListener("click", onClick);
  return el;
}
