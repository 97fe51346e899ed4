// A tiny element builder: h("button", {id, onclick}, "text", child...).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

export function pre(value, attrs = {}) {
  return h("pre", attrs, typeof value === "string" ? value : JSON.stringify(value, null, 2));
}

export function errorOf(e) {
  if (!e) return "";
  const b = e.body || {};
  const list = Array.isArray(b.errors) ? b.errors.map((x) => `${x.path || x.field || ""}: ${x.error || x.message || ""}`) : [];
  return [e.message, ...list].filter(Boolean).join(" — ");
}

export function section(title, ...children) {
  return h("section", {}, h("h2", {}, title), ...children);
}

export function select(attrs, options, current) {
  return h("select", attrs, ...options.map((o) => {
    const [value, label] = Array.isArray(o) ? o : [o, o];
    return h("option", {value, selected: value === current ? true : null}, label);
  }));
}
