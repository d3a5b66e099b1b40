"use strict";
// LogFilePick is the choice of the files of the view: a checkbox per file
// the server streams (at most max at a time, said plainly when reached),
// a button to show one file only, and the legend of the files shown: each
// with its colour and a short name (the colour is never the only cue: the
// rows show the name too), and its state when it is not live. Names are
// put in the page with textContent only.
(function (global) {
  class LogFilePick {
    // el: {pick, summary, list, cap, legend}; onChange(names) when the
    // reader changes the files.
    constructor(el, max, onChange) {
      this.el = el;
      this.max = max;
      this.onChange = onChange;
      this.files = []; // the server's, in its order
      this.chosen = []; // the files shown, in the server's order, then any others
      this.slots = new Map(); // name → colour slot, 0 … max-1
      this.labels = new Map(); // name → short name
      this.states = new Map(); // name → {text, problem}
      this.capped = 0; // files the last link named beyond max
      el.list.addEventListener("change", () => this.picked([...el.list.querySelectorAll("input:checked")].map((i) => i.value)));
      el.list.addEventListener("click", (e) => {
        const only = e.target.closest("button.only");
        if (only) this.picked([only.value]);
      });
      // The menu closes on a click elsewhere, and on Escape.
      document.addEventListener("click", (e) => {
        if (el.pick.open && !el.pick.contains(e.target)) el.pick.open = false;
      });
      document.addEventListener("keydown", (e) => {
        if (e.key !== "Escape" || !el.pick.open) return;
        el.pick.open = false;
        el.pick.querySelector("summary").focus();
      });
    }

    // setFiles lists the server's files.
    setFiles(files) {
      this.files = files.slice();
      this.labels = shortNames(files);
      this.el.list.replaceChildren(
        ...files.map((f) => {
          const li = document.createElement("li");
          const label = document.createElement("label");
          const box = document.createElement("input");
          box.type = "checkbox";
          box.value = f;
          label.append(box, swatch(), text("name", this.label(f)));
          label.title = f;
          const only = document.createElement("button");
          only.type = "button";
          only.className = "only link";
          only.value = f;
          only.textContent = "only";
          only.setAttribute("aria-label", "Show only " + f);
          li.append(label, only);
          return li;
        }),
      );
      this.el.pick.hidden = files.length < 2;
    }

    // choose shows names (the first max of them; a file the server does
    // not list is kept, for its refusal to be shown) and returns them.
    choose(names) {
      const unique = names.filter((n, i) => n !== "" && names.indexOf(n) === i);
      this.capped = Math.max(0, unique.length - this.max);
      const kept = unique.slice(0, this.max);
      this.chosen = this.files.filter((f) => kept.includes(f)).concat(kept.filter((n) => !this.files.includes(n)));
      for (const n of this.slots.keys()) if (!this.chosen.includes(n)) this.slots.delete(n);
      for (const n of this.chosen) {
        if (this.slots.has(n)) continue;
        const used = new Set(this.slots.values());
        let s = 0;
        while (used.has(s)) s++;
        this.slots.set(n, s);
      }
      for (const n of this.states.keys()) if (!this.chosen.includes(n)) this.states.delete(n);
      this.render();
      return this.chosen.slice();
    }

    // picked is a choice of the reader's: at least one file.
    picked(names) {
      if (names.length === 0) {
        this.render(); // the last one stays checked
        return;
      }
      const before = this.chosen.join("\n");
      this.choose(names);
      if (this.chosen.join("\n") !== before) this.onChange(this.chosen.slice());
    }

    label(name) {
      return this.labels.get(name) || name;
    }

    slot(name) {
      return this.slots.get(name) || 0;
    }

    // setState shows a file's state in the legend: "" when live.
    setState(name, text, problem) {
      const was = this.states.get(name);
      if (was && was.text === text && was.problem === problem) return;
      if (!was && text === "") return;
      this.states.set(name, { text: text, problem: problem });
      this.renderLegend();
    }

    render() {
      const full = this.chosen.length >= this.max;
      for (const box of this.el.list.querySelectorAll("input")) {
        box.checked = this.chosen.includes(box.value);
        box.disabled = full && !box.checked;
        box.parentElement.querySelector(".swatch").dataset.slot = box.checked ? String(this.slot(box.value)) : "";
      }
      let cap = "";
      if (this.capped > 0) cap = "The link names " + (this.capped + this.max) + " files: the first " + this.max + " are shown (" + this.max + " at most in one view)";
      else if (full && this.files.length > this.max) cap = this.max + " files at most in one view";
      this.el.cap.textContent = cap;
      this.el.cap.hidden = cap === "";
      const n = this.chosen.length;
      this.el.summary.textContent = n === 1 ? this.label(this.chosen[0]) : n + " files";
      this.renderLegend();
    }

    renderLegend() {
      const many = this.chosen.length > 1;
      this.el.legend.hidden = !many;
      this.el.legend.replaceChildren(
        ...(many ? this.chosen : []).map((n) => {
          const li = document.createElement("li");
          li.dataset.file = n;
          li.title = n;
          const sw = swatch();
          sw.dataset.slot = String(this.slot(n));
          li.append(sw, text("name", this.label(n)));
          const st = this.states.get(n);
          if (st && st.text) {
            li.append(text("state", st.text));
            if (st.problem) li.classList.add("problem");
          }
          return li;
        }),
      );
    }
  }

  function swatch() {
    const s = document.createElement("span");
    s.className = "swatch";
    s.setAttribute("aria-hidden", "true");
    return s;
  }

  function text(cls, t) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = t;
    return s;
  }

  // shortNames names each file by the fewest last parts of its path that
  // tell it from the others: app.log, or api/app.log beside web/app.log.
  function shortNames(files) {
    const parts = files.map((f) => f.split("/").filter((p) => p !== ""));
    const names = new Map();
    files.forEach((f, i) => {
      let k = 1;
      const tail = (p, n) => p.slice(-n).join("/");
      while (k < parts[i].length && parts.some((p, j) => j !== i && tail(p, k) === tail(parts[i], k))) k++;
      names.set(f, tail(parts[i], k) || f);
    });
    return names;
  }

  global.LogFilePick = LogFilePick;
})(window);
