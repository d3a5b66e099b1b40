"use strict";
// The log viewer: one socket to /api/logs/stream, through the library's
// client (sockets.js, loaded before this file), which reconnects by itself
// and resumes after the last line received (since=GEN:OFFSET: its file
// generation and offset, so that a rotation in between is noticed).
// Filters change by a message on the open socket, without reconnecting.
// Log lines are put in the page with textContent only: never as HTML (the
// search's matches are <mark> elements around text nodes).
// The view (file, level, search, paused) is kept in the page's URL, so a
// link opens the same view and back/forward go through the views: picking
// a file or a level, or starting a search, is a new history entry; going on
// typing that search, and pausing, replace the current one.
(() => {
  const filePick = document.getElementById("file-pick");
  const fileSelect = document.getElementById("file");
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
  const backfillLines = 300;
  const searchDelay = 300;

  let files = [];
  let file = null; // the file shown, as the server names it
  let client = null; // the socket's client, once the files are known
  let received = false; // a line of this file arrived
  let why = ""; // why the last attempt failed, once diagnosed
  let diagnosed = 0; // the attempt diagnosed last
  let failure = ""; // why the page gave up
  let applied = { level: "", search: "" }; // the filter the server applies
  let sent = null; // the filter last sent on the current socket
  let paused = false;
  let held = []; // lines received while paused (the last maxLines)
  let heldCount = 0; // how many lines arrived while paused
  let follow = true; // keep the newest line in view
  let unseen = 0; // lines added below while not following
  let incoming = []; // frames not handled yet
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

  function sameFilter(a, b) {
    return a !== null && b !== null && a.level === b.level && a.search === b.search;
  }

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

  // highlighterOf is the RegExp of a search as the server reads it: a
  // case-insensitive substring, or /re/ as a case-insensitive regular
  // expression; null when the browser rejects the expression (Go's syntax
  // is not JavaScript's): the lines are shown without highlight.
  function highlighterOf(search) {
    if (search === "") return null;
    try {
      if (search.length >= 2 && search.startsWith("/") && search.endsWith("/")) {
        return new RegExp(search.slice(1, -1), "gi");
      }
      return new RegExp(search.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&"), "gi");
    } catch (e) {
      return null;
    }
  }

  // textNodes returns text as text nodes, with the search's matches in
  // <mark> elements: DOM nodes, never HTML.
  function textNodes(text) {
    if (highlightFor !== applied.search) {
      highlightFor = applied.search;
      highlighter = highlighterOf(highlightFor);
    }
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

  function lineItem(m) {
    const li = document.createElement("li");
    li.className = "line";
    li.dataset.level = m.level || "none";
    li.dataset.offset = String(m.offset);
    li.title = (m.time ? m.time + " · " : "") + "offset " + m.offset;
    const text = document.createElement("span");
    text.className = "text";
    text.append(...textNodes(m.line));
    li.append(span("time", formatTime(m.time)), span("level", m.level || ""), text);
    return li;
  }

  function noticeItem(text, problem) {
    const li = document.createElement("li");
    li.className = "notice" + (problem ? " problem" : "");
    li.textContent = text;
    return li;
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

  function scrollToBottom() {
    list.scrollTop = list.scrollHeight;
    setFollow(true);
  }

  // show adds items at the bottom, drops the oldest beyond maxLines, and
  // keeps the reader's place when not following.
  function show(items) {
    if (items.length === 0) return;
    // A scroll the reader just made may not have been reported yet.
    if (follow && !atBottom()) setFollow(false);
    list.append(...items);
    const extra = list.childElementCount - maxLines;
    if (follow) {
      for (let i = 0; i < extra; i++) list.firstElementChild.remove();
      list.scrollTop = list.scrollHeight;
    } else {
      const before = list.scrollHeight;
      for (let i = 0; i < extra; i++) list.firstElementChild.remove();
      list.scrollTop -= before - list.scrollHeight;
      unseen += items.length;
      followButton.textContent = "↓ " + unseen + " new";
      followButton.hidden = false;
    }
    updateCounts();
  }

  function clearView() {
    list.replaceChildren();
    held = [];
    heldCount = 0;
    setFollow(true);
    updateCounts();
  }

  function updateCounts() {
    const n = list.querySelectorAll(".line").length;
    counts.textContent = n + (n === 1 ? " line" : " lines") + (paused ? " · " + heldCount + " buffered" : "");
    pauseButton.textContent = paused ? "Resume (" + heldCount + ")" : "Pause";
  }

  // --- frames from the server ---------------------------------------------

  function receive(m) {
    incoming.push(m);
    if (!flushTimer) flushTimer = setTimeout(flush, 10);
  }

  // flush handles the frames received since the last flush, in order, and
  // touches the page once for the lines among them.
  function flush() {
    flushTimer = 0;
    const frames = incoming;
    incoming = [];
    let items = [];
    for (const m of frames) {
      if (typeof m.line === "string") {
        received = true;
        const li = lineItem(m);
        if (paused) {
          heldCount++;
          held.push(li);
          if (held.length > maxLines) held.shift();
        } else {
          items.push(li);
        }
      } else if (m.filter) {
        // The lines that follow are the refill under the new filter.
        applied = { level: m.filter.level || "", search: m.filter.search || "" };
        updateDownload();
        items = [];
        clearView();
        showFilterError("");
      } else if (m.error === "behind") {
        const n = Number(m.skipped) || 0;
        items.push(noticeItem("… " + n + " lines skipped here: the server could not apply this filter as fast as lines came …", true));
      } else if (m.error === "gap") {
        items.push(noticeItem("… lines may be missing here: the server could not resume exactly after the last line shown …", true));
      } else if (m.error) {
        showFilterError(m.error);
        sent = null; // refused: the next change is sent even if it is the same
      }
    }
    show(items);
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
    const f = wanted();
    if (!client || client.status.state !== "open" || sameFilter(f, sent)) return;
    sent = f;
    client.send(f);
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

  // viewOf reads a view from a URL's query: ?file=&level=&search=&paused=1.
  function viewOf(search) {
    const p = new URLSearchParams(search);
    return { file: p.get("file"), level: p.get("level") || "", search: p.get("search") || "", paused: p.get("paused") === "1" };
  }

  function urlOf(v) {
    const p = new URLSearchParams();
    if (files.length > 1 && v.file !== null) p.set("file", v.file);
    if (v.level) p.set("level", v.level);
    if (v.search) p.set("search", v.search);
    if (v.paused) p.set("paused", "1");
    const q = p.toString();
    return location.pathname + (q ? "?" + q : "");
  }

  // record puts the view shown in the URL. how is "pick" (a new history
  // entry), "typing" (a new entry, unless the current one is already the
  // search being typed) or "replace".
  function record(how) {
    const url = urlOf({ file: file, level: levelSelect.value, search: searchInput.value, paused: paused || pauseWhenQuiet });
    if (url === location.pathname + location.search) return;
    const by = history.state && history.state.by;
    if (how === "replace" || (how === "typing" && by === "typing")) {
      history.replaceState(history.state, "", url);
    } else {
      history.pushState({ by: how }, "", url);
    }
  }

  // setControls shows a view's filter in the controls; a level the page
  // does not offer counts as none.
  function setControls(v) {
    levelSelect.value = v.level;
    if (levelSelect.value !== v.level) levelSelect.value = "";
    searchInput.value = v.search;
  }

  // The back and forward buttons: the view of that entry, on the same
  // socket unless the file changes.
  window.addEventListener("popstate", () => {
    if (files.length === 0) return;
    const v = viewOf(location.search);
    clearTimeout(searchTimer);
    setControls(v);
    const name = v.file !== null && files.includes(v.file) ? v.file : files[0];
    if (name !== file) {
      fileSelect.value = name;
      applied = wanted();
      setPaused(false);
      switchTo(name);
      if (v.paused) holdWhenQuiet();
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
        if (incoming.length > 0 || (client && client.status.state !== "open" && Date.now() - started < 10000)) return wait();
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
  window.addEventListener("resize", () => {
    if (follow) list.scrollTop = list.scrollHeight;
  });

  // --- the connection -------------------------------------------------------

  // positionOf is a line's place, "GEN:OFFSET"; other frames have none.
  function positionOf(m) {
    if (typeof m.line !== "string") return undefined;
    return typeof m.gen === "string" ? m.gen + ":" + m.offset : String(m.offset);
  }

  // streamURL resumes since pos; without one, a new view gets the last
  // lines, and one that lost its place (a gap) goes on from now.
  function streamURL(pos) {
    const p = new URLSearchParams();
    if (file !== null) p.set("file", file);
    if (applied.level) p.set("level", applied.level);
    if (applied.search) p.set("search", applied.search);
    if (pos !== null) p.set("since", pos);
    else if (sinceTime && !received) p.set("since_time", sinceTime);
    else p.set("backfill", String(received ? 0 : backfillLines));
    return "/api/logs/stream?" + p.toString();
  }

  function connect() {
    client = new Sockets(streamURL, {
      type: null, // the frames are told apart by their members
      positionOf: positionOf,
      isReset: (m) => m.error === "gap", // the server could not resume exactly
      delay: 500,
      maxDelay: 10000,
      jitter: "equal",
    });
    client.on("*", receive);
    // The gap notice goes in its place among the lines.
    client.addEventListener("reset", (e) => receive(e.detail.frame));
    client.addEventListener("status", (e) => {
      const s = e.detail;
      if (s.state === "open") {
        diagnosed = 0;
        sent = applied; // the filter in the URL
        sendFilter(); // what changed while offline
      }
      if (s.state === "reconnecting" && !s.opened && diagnosed !== s.attempt) {
        diagnosed = s.attempt;
        why = "could not connect";
        diagnose();
      }
      showStatus(s);
    });
  }

  function showStatus(s) {
    retryButton.hidden = s.state === "connecting" || s.state === "open";
    switch (s.state) {
      case "connecting":
        setStatus("connecting", s.attempt === 0 ? "Connecting…" : "Reconnecting…");
        break;
      case "open":
        setStatus("connected", "Live");
        break;
      case "reconnecting":
        setStatus("offline", "Disconnected (" + reason(s) + "), retrying in " + s.seconds + " s");
        break;
      case "paused":
        setStatus("offline", "Disconnected (" + reason(s) + "), waiting for " + (s.why === "offline" ? "the network" : "the page to be shown"));
        break;
      case "closed":
        setStatus("failed", failure || "Disconnected (" + reason(s) + ")");
        break;
    }
  }

  function reason(s) {
    if (!s.opened) return why;
    if (s.code === 1008) return "too slow to keep up";
    if (s.code === 1001) return "server going away";
    if (s.reason) return s.reason;
    return "connection lost";
  }

  // diagnose asks over plain HTTP why the upgrade failed: the server
  // checks the request before upgrading. Its own refusals are final; a
  // refused handshake (the plain GET itself) means the request was fine.
  async function diagnose() {
    let res, body;
    try {
      res = await fetch(streamURL(client.position), { cache: "no-store" });
      body = (await res.text()).trim();
    } catch (e) {
      res = null;
    }
    if (!res) {
      why = "server unreachable";
    } else if (res.status === 400 && body.startsWith("invalid filter") && (applied.level || applied.search)) {
      // A link with a filter the server refuses: open unfiltered, and
      // send it on the socket, where the refusal is shown by the search.
      applied = { level: "", search: "" };
      updateDownload();
      client.reconnect();
      return;
    } else if (res.status === 403 || (res.status === 400 && !body.startsWith("Bad Request"))) {
      failure = "Cannot stream: " + body;
      client.close();
      return;
    }
    if (client.status.state !== "open") showStatus(client.status);
  }

  retryButton.addEventListener("click", () => {
    failure = "";
    client.reconnect();
  });

  // updateDownload points the download link at what the view shows: the
  // file, under the filter the server applies.
  function updateDownload() {
    const p = new URLSearchParams();
    if (file !== null) p.set("file", file);
    if (applied.level) p.set("level", applied.level);
    if (applied.search) p.set("search", applied.search);
    downloadLink.href = "/api/logs/download?" + p.toString();
  }

  // switchTo starts over on another file.
  function switchTo(name) {
    file = name;
    updateDownload();
    fileName.textContent = files.length > 1 ? "" : name;
    incoming = [];
    received = false;
    clearView();
    if (!client) return connect();
    client.position = null;
    client.reconnect();
  }

  // A time picked starts the view over from the lines of that time on (the
  // browser's local time); none, from the last lines.
  sinceInput.addEventListener("change", () => {
    const d = sinceInput.value ? new Date(sinceInput.value) : null;
    sinceTime = d && !isNaN(d) ? d.toISOString() : "";
    if (file !== null) switchTo(file);
  });

  fileSelect.addEventListener("change", () => {
    switchTo(fileSelect.value);
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
    fileSelect.replaceChildren(
      ...files.map((f) => {
        const o = document.createElement("option");
        o.value = f;
        o.textContent = f;
        return o;
      }),
    );
    filePick.hidden = files.length < 2;
    // The view in the URL, if any: a link opens the view it names.
    const v = viewOf(location.search);
    const name = v.file !== null && files.includes(v.file) ? v.file : files[0];
    fileSelect.value = name;
    setControls(v);
    applied = wanted();
    switchTo(name);
    if (v.paused) holdWhenQuiet();
  }

  updateCounts();
  start();
})();
