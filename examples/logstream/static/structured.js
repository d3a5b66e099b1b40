"use strict";
// Structured lines in the log viewer (loaded before logstream.js): a line
// frame with "fields" (a JSON or logfmt line, parsed by the server) shows
// its message, then its fields as key=value chips; its toggle, or a click
// on the chips, opens every field in full, JSON values indented, and the
// raw line. And the terms of a field search, read as the server reads
// them, for highlighting. Every text from a line is put in the page as
// text (textContent, text nodes), never as HTML.
const LogFields = (() => {
  const maxChips = 8; // chips shown; "+N" says how many more
  const maxChipValue = 80; // characters of a value in a chip
  const maxIndented = 20000; // longer JSON values are shown as they are

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function clip(s, n) {
    return s.length > n ? s.slice(0, n) + "…" : s;
  }

  // indentJSON lays out compact JSON text over lines, two spaces a level,
  // as text: its numbers stay as written (JSON.parse would round big
  // ones).
  function indentJSON(s) {
    if (s.length > maxIndented || !/^[[{]/.test(s)) return s;
    let out = "";
    let depth = 0;
    let inString = false;
    const nl = () => "\n" + "  ".repeat(depth);
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      if (inString) {
        out += c;
        if (c === "\\") out += s[++i] || "";
        else if (c === '"') inString = false;
        continue;
      }
      switch (c) {
        case '"':
          inString = true;
          out += c;
          break;
        case "{":
        case "[":
          if (s[i + 1] === (c === "{" ? "}" : "]")) {
            out += c + s[++i];
            break;
          }
          depth++;
          out += c + nl();
          break;
        case "}":
        case "]":
          depth = Math.max(0, depth - 1);
          out += nl() + c;
          break;
        case ",":
          out += c + nl();
          break;
        case ":":
          out += ": ";
          break;
        default:
          out += c;
      }
    }
    return out;
  }

  // detail is every field of the line in full: time, level and message as
  // the frame has them, the other fields, then the raw line.
  function detail(m) {
    const box = el("div", "detail");
    const list = el("dl");
    const row = (key, value, cls) => {
      const dt = el("dt", cls, key);
      const dd = el("dd", cls, value);
      list.append(dt, dd);
    };
    if (m.time) row("time", m.time, "column");
    if (m.level) row("level", m.level, "column");
    if (typeof m.msg === "string") row("msg", m.msg, "column");
    for (const [k, v] of Object.entries(m.fields)) row(k, indentJSON(String(v)));
    row("line", m.line, "raw");
    box.append(list);
    return box;
  }

  // render fills li, which has its time and level columns, for a
  // structured line m: the message (textNodes: its highlighted text
  // nodes), the chips, the toggle; hit(key) says whether a field search
  // names the key.
  function render(li, m, textNodes, hit) {
    li.classList.add("structured");
    const body = el("span", "body");
    const toggle = el("button", "toggle", "▸");
    toggle.type = "button";
    toggle.title = "All the fields";
    toggle.setAttribute("aria-expanded", "false");
    const text = el("span", "text");
    text.append(...textNodes(typeof m.msg === "string" ? m.msg : ""));
    const chips = el("span", "fields");
    const entries = Object.entries(m.fields);
    for (const [k, v] of entries.slice(0, maxChips)) {
      const chip = el("span", "chip");
      if (hit(k)) chip.classList.add("hit");
      chip.dataset.key = k;
      chip.title = k + "=" + clip(String(v), 2000);
      const value = el("span", "v");
      value.append(...textNodes(clip(String(v), maxChipValue)));
      chip.append(el("span", "k", k), "=", value);
      chips.append(chip);
    }
    if (entries.length > maxChips) chips.append(el("span", "chip more", "+" + (entries.length - maxChips)));
    body.append(toggle, text, chips);
    li.append(body);

    let open = null;
    const flip = () => {
      if (open) {
        open.remove();
        open = null;
      } else {
        open = detail(m);
        li.append(open);
      }
      li.classList.toggle("open", open !== null);
      toggle.textContent = open ? "▾" : "▸";
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    };
    toggle.addEventListener("click", flip);
    chips.addEventListener("click", flip);
  }

  const fieldTerm = /^[\p{L}\p{Nd}_@](?:[\p{L}\p{Nd}_@.\-]*[\p{L}\p{Nd}_@])?(?=>=|<=|!=|>|<|=)/u;

  // splitTerms splits a search at spaces and tabs outside double quotes;
  // null for an unterminated quote.
  function splitTerms(s) {
    const tokens = [];
    let i = 0;
    while (i < s.length) {
      if (s[i] === " " || s[i] === "\t") {
        i++;
        continue;
      }
      const start = i;
      let inQuote = false;
      for (; i < s.length && (inQuote || (s[i] !== " " && s[i] !== "\t")); i++) {
        if (s[i] === '"') inQuote = !inQuote;
        else if (s[i] === "\\" && inQuote) i++;
      }
      if (inQuote) return null;
      tokens.push(s.slice(start, Math.min(i, s.length)));
    }
    return tokens;
  }

  function unquote(s) {
    try {
      return JSON.parse(s);
    } catch (e) {
      return s.slice(1, -1);
    }
  }

  // terms reads a search as the server does: null when it is not a field
  // search (a /regexp/, or no term is key OP value), else its text terms
  // and the keys its field terms name (lower case).
  function terms(search) {
    if (search.length >= 2 && search.startsWith("/") && search.endsWith("/")) return null;
    const tokens = splitTerms(search);
    if (!tokens || !tokens.some((t) => fieldTerm.test(t))) return null;
    const texts = [];
    const keys = [];
    for (const t of tokens) {
      const key = fieldTerm.exec(t);
      if (key) keys.push(key[0].toLowerCase());
      else if (t.startsWith('"')) texts.push(unquote(t));
      else texts.push(t);
    }
    return { texts: texts.filter((t) => t !== ""), keys: keys };
  }

  // isStructured reports whether a line frame is shown as a structured
  // line: it has fields, and a message or fields besides its columns
  // (else its raw line says more).
  function isStructured(m) {
    return m.fields !== null && typeof m.fields === "object" && (typeof m.msg === "string" || Object.keys(m.fields).length > 0);
  }

  return { render: render, terms: terms, isStructured: isStructured };
})();
