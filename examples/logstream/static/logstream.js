"use strict";
// The log viewer: one or several files, each over its own socket (a
// LogSource, source.js), their lines merged into one list in order
// (LogMerge, merge.js) with a column naming the file when there are
// several (LogFilePick, filepick.js, chooses them). Log lines and file
// names are put in the page with textContent only: never as HTML (the
// search's matches are <mark> elements around text nodes). A structured
// line (a frame with fields) is shown by structured.js: its message, its
// fields as chips, all of them on demand.
// The view (files, level, search, since time, paused) is kept in the
// page's URL, so a link opens the same view and back/forward go through
// the views: picking files, a level or a time, or starting a search, is a
// new history entry; going on typing that search, and pausing, replace
// the current one. A filter, the
// pause and the download apply to every file of the view.
(() => {
  const fileName = document.getElementById("file-name");
  const statusLine = document.getElementById("status");
  const retryButton = document.getElementById("retry");
  const tools = document.getElementById("tools");
  const levelSelect = document.getElementById("level");
  const searchInput = document.getElementById("search");
  const sinceInput = document.getElementById("since-time");
  const filterError = document.getElementById("filter-error");
  const counts = document.getElementById("counts");
  const pauseButton = document.getElementById("pause");
  const downloadLink = document.getElementById("download");
  const list = document.getElementById("lines");
  const followButton = document.getElementById("follow");

  const maxLines = 500; // older lines leave the page
  const maxFiles = 8; // files in one view
  const searchDelay = 300;

  let files = []; // the server's
  let chosen = []; // the files shown, as the server names them
  const sources = new Map(); // name → LogSource, for each file shown
  const lastAt = new Map(); // name → order time of its last line
  let applied = { level: "", search: "" }; // the filter the server applies
  let paused = false;
  let held = []; // rows received while paused (the last maxLines)
  let heldCount = 0; // how many lines arrived while paused
  let follow = true; // keep the newest line in view
  let unseen = 0; // lines added below while not following
  let bottomTop = 0; // the list's scrollTop when the page last scrolled it to the end
  let incoming = []; // [source, frame] not handled yet
  let flushTimer = 0;
  let searchTimer = 0;
  let sinceTime = ""; // start from this time (RFC 3339) instead of the last lines
  let pauseWhenQuiet = false; // opened paused: hold lines once the backfill is in
  let quietTimer = 0;

  function setStatus(state, text) {
    statusLine.dataset.state = state;
    statusLine.textContent = text;
  }

  function wanted() {
    return { level: levelSelect.value, search: searchInput.value };
  }

  const pick = new LogFilePick(
    {
      pick: document.getElementById("file-pick"),
      summary: document.getElementById("file-summary"),
      list: document.getElementById("file-list"),
      cap: document.getElementById("file-cap"),
      legend: document.getElementById("file-legend"),
    },
    maxFiles,
    (names) => {
      showFiles(names);
      record("pick");
    },
  );
  const merge = new LogMerge(list, maxLines);

  // --- the list of lines ----------------------------------------------------

  function span(cls, text) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function two(n, w) {
    return String(n).padStart(w || 2, "0");
  }

  function formatTime(t) {
    if (!t) return "";
    const d = new Date(t);
    if (isNaN(d)) return "";
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds()) + "." + two(d.getMilliseconds(), 3);
  }

  // --- highlighting the search's matches ----------------------------------

  const maxHighlighted = 10000; // characters of a line looked at
  const maxMarks = 200; // marks per line
  let highlightFor = null; // the search the highlighter is for
  let highlighter = null; // a global RegExp, or null: no highlight
  let hitKeys = []; // the keys a field search names, in lower case

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");
  }

  // highlighterOf is the RegExp of a search as the server reads it: a
  // case-insensitive substring, or /re/ as a case-insensitive regular
  // expression, or a field search's text terms; null when the browser
  // rejects the expression (Go's syntax is not JavaScript's): the lines
  // are shown without highlight.
  function highlighterOf(search) {
    if (search === "") return null;
    const terms = LogFields.terms(search);
    try {
      if (terms) {
        return terms.texts.length === 0 ? null : new RegExp(terms.texts.map(escapeRegExp).join("|"), "gi");
      }
      if (search.length >= 2 && search.startsWith("/") && search.endsWith("/")) {
        return new RegExp(search.slice(1, -1), "gi");
      }
      return new RegExp(escapeRegExp(search), "gi");
    } catch (e) {
      return null;
    }
  }

  // highlightCurrent makes the highlighter that of the search applied.
  function highlightCurrent() {
    if (highlightFor === applied.search) return;
    highlightFor = applied.search;
    highlighter = highlighterOf(highlightFor);
    const terms = LogFields.terms(highlightFor);
    hitKeys = terms ? terms.keys : [];
  }

  // textNodes returns text as text nodes, with the search's matches in
  // <mark> elements: DOM nodes, never HTML.
  function textNodes(text) {
    highlightCurrent();
    const re = highlighter;
    if (!re) return [text];
    const nodes = [];
    const head = text.length > maxHighlighted ? text.slice(0, maxHighlighted) : text;
    let last = 0;
    re.lastIndex = 0;
    for (let m; nodes.length < 2 * maxMarks && (m = re.exec(head)) !== null; ) {
      if (m[0] === "") {
        re.lastIndex++; // an empty match marks nothing
        continue;
      }
      if (m.index > last) nodes.push(text.slice(last, m.index));
      const mark = document.createElement("mark");
      mark.textContent = m[0];
      nodes.push(mark);
      last = m.index + m[0].length;
    }
    if (last < text.length) nodes.push(text.slice(last));
    return nodes;
  }

  function lineItem(m, name) {
    const li = document.createElement("li");
    li.className = "line";
    li.dataset.level = m.level || "none";
    li.dataset.offset = String(m.offset);
    li.dataset.file = name;
    li.title = name + " · " + (m.time ? m.time + " · " : "") + "offset " + m.offset;
    if (LogFields.isStructured(m)) {
      highlightCurrent();
      li.append(span("time", formatTime(m.time)), fileCell(name), span("level", m.level || ""));
      LogFields.render(li, m, textNodes, (key) => hitKeys.includes(key.toLowerCase()));
      return li;
    }
    const text = document.createElement("span");
    text.className = "text";
    text.append(...textNodes(m.line));
    li.append(span("time", formatTime(m.time)), fileCell(name), span("level", m.level || ""), text);
    return li;
  }

  // fileCell names the line's file, in its colour: shown when the view
  // has several files.
  function fileCell(name) {
    const f = span("file", pick.label(name));
    f.dataset.slot = String(pick.slot(name));
    return f;
  }

  function noticeItem(text, problem) {
    const li = document.createElement("li");
    li.className = "notice" + (problem ? " problem" : "");
    li.textContent = text;
    return li;
  }

  // row is a line or notice of a file, for merge. A line without an order
  // time (an older server) is ordered as it arrives.
  function lineRow(m, name) {
    const at = typeof m.at === "number" ? m.at : Date.now() * 1000;
    lastAt.set(name, at);
    return { src: name, at: at, el: lineItem(m, name), line: true };
  }

  function noticeRow(name, text, problem) {
    const at = lastAt.has(name) ? lastAt.get(name) : merge.lastAt(name);
    const el = noticeItem(chosen.length > 1 ? pick.label(name) + ": " + text : text, problem);
    el.dataset.file = name;
    return { src: name, at: at, el: el, line: false };
  }

  function atBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 24;
  }

  function setFollow(on) {
    follow = on;
    list.dataset.follow = on ? "true" : "false";
    if (on) {
      unseen = 0;
      followButton.hidden = true;
    }
  }

  // toBottom scrolls the list to its end, and notes where that is.
  function toBottom() {
    list.scrollTop = list.scrollHeight;
    bottomTop = list.scrollTop;
  }

  function scrollToBottom() {
    toBottom();
    setFollow(true);
  }

  // firstShown is the first row in the reader's view, and where it is.
  function firstShown() {
    for (const li of list.children) {
      if (li.offsetTop + li.offsetHeight > list.scrollTop) return { el: li, top: li.offsetTop };
    }
    return null;
  }

  // show puts rows in their places (merge), drops the oldest beyond
  // maxLines, and keeps the reader's place when not following.
  function show(rows) {
    if (rows.length === 0) return;
    // A scroll the reader just made may not have been reported yet; the
    // list may also have got shorter, which is not the reader's doing.
    if (follow && list.scrollTop !== bottomTop && !atBottom()) setFollow(false);
    const anchor = follow ? null : firstShown();
    const added = merge.add(rows);
    if (follow) {
      toBottom();
    } else {
      // The rows put above the reader's first one move it down; the rows
      // dropped above, up: it stays where it is, or the top when dropped.
      list.scrollTop = anchor && anchor.el.isConnected ? list.scrollTop + anchor.el.offsetTop - anchor.top : 0;
      unseen += added;
      followButton.textContent = "↓ " + unseen + " new";
      followButton.hidden = false;
    }
    updateCounts();
  }

  function clearView() {
    merge.clear();
    lastAt.clear();
    held = [];
    heldCount = 0;
    setFollow(true);
    updateCounts();
  }

  // forget takes a file's rows out of the view, and out of those held.
  function forget(name) {
    merge.remove((r) => r.src === name);
    lastAt.delete(name);
    const before = held.length;
    held = held.filter((r) => r.src !== name);
    heldCount = Math.max(held.length, heldCount - (before - held.length));
    updateCounts();
  }

  function updateCounts() {
    const n = list.querySelectorAll(".line").length;
    counts.textContent = n + (n === 1 ? " line" : " lines") + (paused ? " · " + heldCount + " buffered" : "");
    pauseButton.textContent = paused ? "Resume (" + heldCount + ")" : "Pause";
  }

  // --- frames from the server ---------------------------------------------

  function receive(src, m) {
    incoming.push([src, m]);
    if (!flushTimer) flushTimer = setTimeout(flush, 10);
  }

  // flush handles the frames received since the last flush, in order, and
  // touches the page once for the rows among them.
  function flush() {
    flushTimer = 0;
    const frames = incoming;
    incoming = [];
    let rows = [];
    const keep = (row) => {
      if (!paused) return rows.push(row);
      if (row.line) heldCount++;
      held.push(row);
      if (held.length > maxLines) held.shift();
    };
    for (const [src, m] of frames) {
      if (src.gone) continue;
      const name = src.name;
      if (typeof m.line === "string") {
        keep(lineRow(m, name));
      } else if (m.filter) {
        // The lines that follow are the file's refill under the new filter.
        applied = { level: m.filter.level || "", search: m.filter.search || "" };
        updateDownload();
        rows = rows.filter((r) => r.src !== name);
        forget(name);
        setFollow(true);
        showFilterError("");
      } else if (m.error === "behind") {
        const n = Number(m.skipped) || 0;
        keep(noticeRow(name, "… " + n + " lines skipped here: the server could not apply this filter as fast as lines came …", true));
      } else if (m.error === "gap") {
        keep(noticeRow(name, "… lines may be missing here: the server could not resume exactly after the last line shown …", true));
      } else if (m.error) {
        showFilterError(m.error);
      }
    }
    show(rows);
    updateCounts();
    if (pauseWhenQuiet && holdWhenQuiet.wait) holdWhenQuiet.wait();
  }

  function showFilterError(text) {
    filterError.textContent = text;
    filterError.hidden = text === "";
    searchInput.setAttribute("aria-invalid", text === "" ? "false" : "true");
  }

  // --- filters --------------------------------------------------------------

  function sendFilter() {
    clearTimeout(searchTimer);
    for (const src of sources.values()) src.sendFilter();
  }

  levelSelect.addEventListener("change", () => {
    sendFilter();
    record("pick");
  });
  searchInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      sendFilter();
      record("typing");
    }, searchDelay);
  });
  tools.addEventListener("submit", (e) => {
    e.preventDefault();
    sendFilter();
    record("pick");
  });

  // --- the view in the URL --------------------------------------------------

  // viewOf reads a view from a URL's query:
  // ?file=&file=&level=&search=&since_time=&paused=1, file= once per file
  // shown.
  function viewOf(search) {
    const p = new URLSearchParams(search);
    return {
      files: p.getAll("file"),
      level: p.get("level") || "",
      search: p.get("search") || "",
      since: sinceOf(p.get("since_time") || ""),
      paused: p.get("paused") === "1",
    };
  }

  // sinceOf is a since_time as the stream takes it, RFC 3339: as it is, or
  // another time the browser reads, in UTC; "" for none or an unreadable
  // one.
  function sinceOf(t) {
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(t)) return t;
    const d = t ? new Date(t) : null;
    return d && !isNaN(d) ? d.toISOString() : "";
  }

  function urlOf(v) {
    const p = new URLSearchParams();
    if (files.length > 1) for (const f of v.files) p.append("file", f);
    if (v.level) p.set("level", v.level);
    if (v.search) p.set("search", v.search);
    if (v.since) p.set("since_time", v.since);
    if (v.paused) p.set("paused", "1");
    const q = p.toString();
    return location.pathname + (q ? "?" + q : "");
  }

  // record puts the view shown in the URL. how is "pick" (a new history
  // entry), "typing" (a new entry, unless the current one is already the
  // search being typed) or "replace".
  function record(how) {
    const url = urlOf({ files: chosen, level: levelSelect.value, search: searchInput.value, since: sinceTime, paused: paused || pauseWhenQuiet });
    if (url === location.pathname + location.search) return;
    const by = history.state && history.state.by;
    if (how === "replace" || (how === "typing" && by === "typing")) {
      history.replaceState(history.state, "", url);
    } else {
      history.pushState({ by: how }, "", url);
    }
  }

  // setControls shows a view's filter and time in the controls; a level
  // the page does not offer counts as none.
  function setControls(v) {
    levelSelect.value = v.level;
    if (levelSelect.value !== v.level) levelSelect.value = "";
    searchInput.value = v.search;
    sinceTime = v.since;
    sinceInput.value = localInput(v.since);
    updateDownload();
  }

  // localInput is an RFC 3339 time as the Since control shows it: the
  // browser's local time, to the second; "" for none.
  function localInput(t) {
    const d = t ? new Date(t) : null;
    if (!d || isNaN(d)) return "";
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }

  // namesOf is the files a view shows: those of the URL, or the first.
  function namesOf(v) {
    return v.files.length > 0 ? v.files : files.slice(0, 1);
  }

  // The back and forward buttons: the view of that entry, on the same
  // sockets for the files it still shows (started over when its since
  // time is another).
  window.addEventListener("popstate", () => {
    if (files.length === 0) return;
    const v = viewOf(location.search);
    clearTimeout(searchTimer);
    const since = sinceTime;
    setControls(v);
    const before = chosen.join("\n");
    if (pick.choose(namesOf(v)).join("\n") !== before || v.since !== since) {
      applied = wanted();
      setPaused(false);
      if (v.since !== since) startOver();
      showFiles(pick.chosen);
      if (v.paused) holdWhenQuiet();
      sendFilter();
      return;
    }
    setPaused(v.paused);
    sendFilter();
  });

  // --- pause ----------------------------------------------------------------

  function setPaused(on) {
    pauseWhenQuiet = false;
    clearTimeout(quietTimer);
    if (paused === on) return;
    paused = on;
    pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
    if (!paused) {
      const items = held;
      held = [];
      heldCount = 0;
      show(items);
    }
    updateCounts();
  }

  // holdWhenQuiet pauses once the lines the server sends first (its
  // backfill) have arrived: when none came for a moment, or after a
  // second at most. A paused link shows those, and holds the live ones.
  function holdWhenQuiet() {
    pauseWhenQuiet = true;
    pauseButton.setAttribute("aria-pressed", "true");
    const started = Date.now();
    const wait = () => {
      clearTimeout(quietTimer);
      quietTimer = setTimeout(() => {
        if (!pauseWhenQuiet) return;
        const starting = [...sources.values()].some((s) => !s.open && !s.failed);
        if (incoming.length > 0 || (starting && Date.now() - started < 10000)) return wait();
        setPaused(true);
      }, Date.now() - started > 1000 ? 0 : 200);
    };
    holdWhenQuiet.wait = wait;
    wait();
  }

  pauseButton.addEventListener("click", () => {
    setPaused(!(paused || pauseWhenQuiet));
    record("replace");
  });

  list.addEventListener("scroll", () => setFollow(atBottom()));
  followButton.addEventListener("click", scrollToBottom);
  // The list gets shorter without a scroll when the window does, or when
  // the tool bar wraps (a long filter error): the view stays at the bottom.
  new ResizeObserver(() => {
    if (follow) toBottom();
  }).observe(list);

  // --- the files and their sockets -------------------------------------------

  const hooks = {
    frame: receive,
    status: showStatus,
    wanted: wanted,
    sinceTime: () => sinceTime,
  };

  // showStatus shows the state of the view's sockets: live when every file
  // not given up is; else the first file's that is not, named when there
  // are several. Each file's own state is in the legend.
  function showStatus() {
    const all = [...sources.values()];
    for (const src of all) {
      const t = src.statusText();
      pick.setState(src.name, t.state === "connected" ? "" : t.text, t.state === "failed" || t.state === "offline");
    }
    const trying = all.filter((s) => !s.failed);
    const waiting = trying.filter((s) => !s.open);
    retryButton.hidden = !all.some((s) => s.failed || s.client.status.state === "reconnecting" || s.client.status.state === "paused");
    if (all.length === 0) return;
    if (trying.length > 0 && waiting.length === 0) {
      const failed = all.length - trying.length;
      setStatus("connected", failed === 0 ? "Live" : "Live · " + failed + " of " + all.length + " files failed");
      return;
    }
    const src = waiting[0] || all[0];
    const t = src.statusText();
    setStatus(t.state, all.length > 1 ? pick.label(src.name) + ": " + t.text : t.text);
  }

  retryButton.addEventListener("click", () => {
    for (const src of sources.values()) if (!src.open) src.retry();
  });

  // updateDownload points the download link at what the view shows: its
  // files (merged by the server when several), under the filter the
  // server applies.
  function updateDownload() {
    const p = new URLSearchParams();
    for (const f of chosen) p.append("file", f);
    if (applied.level) p.set("level", applied.level);
    if (applied.search) p.set("search", applied.search);
    if (sinceTime) p.set("since_time", sinceTime);
    downloadLink.href = "/api/logs/download?" + p.toString();
  }

  // showFiles shows names: the sockets of the files it no longer shows
  // close and their rows go; the files it adds open theirs, and their lines
  // are merged among the others'.
  function showFiles(names) {
    chosen = names.slice();
    for (const [name, src] of sources) {
      if (chosen.includes(name)) continue;
      src.close();
      sources.delete(name);
      forget(name);
    }
    for (const name of chosen) {
      if (!sources.has(name)) sources.set(name, new LogSource(name, hooks));
    }
    list.dataset.files = chosen.length > 1 ? "many" : "one";
    fileName.textContent = files.length > 1 ? "" : chosen[0] || "";
    updateDownload();
    showStatus();
  }

  // startOver shows the files again from the start (their last lines, or
  // since the time picked).
  function startOver() {
    incoming = [];
    clearView();
    for (const src of sources.values()) src.restart();
  }

  // A time picked starts the view over from the lines of that time on (the
  // browser's local time); none, from the last lines.
  sinceInput.addEventListener("change", () => {
    const d = sinceInput.value ? new Date(sinceInput.value) : null;
    sinceTime = d && !isNaN(d) ? d.toISOString() : "";
    updateDownload();
    startOver();
    record("pick");
  });

  async function start() {
    try {
      const res = await fetch("/api/files", { cache: "no-store" });
      if (!res.ok) throw new Error("status " + res.status);
      files = await res.json();
    } catch (e) {
      setStatus("offline", "Cannot list the files (" + e.message + "), retrying…");
      setTimeout(start, 2000);
      return;
    }
    pick.setFiles(files);
    // The view in the URL, if any: a link opens the view it names.
    const v = viewOf(location.search);
    setControls(v);
    applied = wanted();
    showFiles(pick.choose(namesOf(v)));
    if (v.paused) holdWhenQuiet();
  }

  updateCounts();
  start();
})();
