"use strict";
// The room page: one socket to /sockets/rooms/ROOM/NAME, through the
// library's client (sockets.js, loaded before this file), which reconnects by
// itself, since the last position it saw: the server then sends the members
// and what the page missed. A first join, or one the server cannot resume
// (a "reset"), gets the room's history, which replaces the view. Everything
// users wrote is put in the page with textContent, never parsed as HTML.
(() => {
  const root = document.getElementById("chat");
  if (!root) return; // the page is asking for a name

  const room = root.dataset.room;
  const me = root.dataset.name;
  const list = document.getElementById("messages");
  const membersList = document.getElementById("members");
  const memberCount = document.getElementById("member-count");
  const statusLine = document.getElementById("status");
  const retryButton = document.getElementById("retry");
  const newBelow = document.getElementById("new-below");
  const form = document.getElementById("send");
  const input = document.getElementById("text");
  const sendButton = document.getElementById("send-button");

  const maxTextBytes = 4096;
  const maxItems = 2000; // older lines are dropped from the page
  const utf8 = new TextEncoder();
  const socketPath = "/sockets/rooms/" + encodeURIComponent(room) + "/" + encodeURIComponent(me);

  let joined = false; // the members frame of the current socket arrived
  let fresh = false; // the next history or members frame starts a new view
  let resuming = false; // the current socket was opened since a position
  let gap = false; // the server could not resume: say so in the new view
  let storageDown = false; // the server cannot store messages for now
  let members = new Set();
  let why = ""; // why the last attempt failed, once diagnosed
  let diagnosed = 0; // the attempt diagnosed last
  let failure = ""; // why the page gave up

  try {
    localStorage.setItem("chat.name", me);
  } catch (e) {
    // storage disabled: the lobby will not remember the name
  }

  function setStatus(state, text) {
    statusLine.dataset.state = state;
    root.dataset.state = state;
    statusLine.textContent = text;
  }

  function showJoined() {
    if (storageDown) setStatus("degraded", "Connected as " + me + ", but messages cannot be sent: the chat's storage is unavailable");
    else setStatus("connected", "Connected as " + me);
  }

  function setJoined(on) {
    joined = on;
    input.disabled = !on;
    sendButton.disabled = !on;
    if (on) input.focus();
  }

  // --- the message list ---------------------------------------------------

  function atBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 32;
  }

  function scrollToBottom() {
    list.scrollTop = list.scrollHeight;
    newBelow.hidden = true;
  }

  // append adds a line, and follows it only when the reader was already at
  // the bottom (or when the reader wrote it).
  function append(li, follow) {
    const stick = follow || atBottom();
    list.appendChild(li);
    while (list.childElementCount > maxItems) {
      const first = list.firstElementChild;
      const h = first.offsetHeight;
      first.remove();
      if (!stick) list.scrollTop -= h;
    }
    if (stick) scrollToBottom();
    else newBelow.hidden = false;
  }

  function span(cls, text) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function messageLine(m, past) {
    const li = document.createElement("li");
    li.className = "message" + (m.from === me ? " mine" : "") + (past ? " past" : "");
    li.append(span("from", m.from || "?"), span("text", m.text));
    return li;
  }

  function noticeLine(cls, who, what) {
    const li = document.createElement("li");
    li.className = cls;
    if (who) li.append(span("from", who), " ");
    li.append(span("text", what));
    return li;
  }

  function startView() {
    fresh = false;
    list.replaceChildren();
    newBelow.hidden = true;
    if (gap) append(noticeLine("notice", "", "Some messages could not be recovered: the history is shown again."), true);
    gap = false;
  }

  // --- members ------------------------------------------------------------

  function renderMembers() {
    const names = [...members].sort((a, b) => a.localeCompare(b));
    membersList.replaceChildren(
      ...names.map((n) => {
        const li = document.createElement("li");
        li.textContent = n;
        if (n === me) li.className = "me";
        return li;
      }),
    );
    memberCount.textContent = "(" + names.length + ")";
  }

  // --- frames from the server ---------------------------------------------

  // sockets.js remembers the "pos" of each frame and reconnects with
  // ?since=POS.
  const client = new Sockets(socketPath, { type: "typ", delay: 500, maxDelay: 10000, jitter: "equal" });

  client.on("history", (m) => {
    if (fresh) startView();
    append(messageLine(m, true), true);
  });
  client.on("members", (m) => {
    if (fresh) startView();
    let names = [];
    try {
      names = JSON.parse(m.text);
    } catch (e) {
      names = [];
    }
    members = new Set(Array.isArray(names) ? names : []);
    members.add(me);
    renderMembers();
    setJoined(true);
    storageDown = false; // a join needs the storage
    showJoined();
  });
  // The server never echoes a member's own messages, but a page resuming
  // gets what it missed, its own included: those are on the page already.
  client.on("message", (m) => {
    if (m.from !== me) append(messageLine(m, false), false);
  });
  client.on("status", (m) => {
    if (m.text === "joined") members.add(m.from);
    else if (m.text === "left") members.delete(m.from);
    renderMembers();
    append(noticeLine("notice", m.from, m.text), false);
  });
  client.on("error", (m) => append(noticeLine("problem", "", m.text), true));
  // The server lost its storage (NATS): messages cannot be sent until it
  // says it is back.
  client.on("storage", (m) => {
    storageDown = m.text === "unavailable";
    if (joined) showJoined();
  });

  // --- the connection's state -----------------------------------------------

  client.addEventListener("reset", () => {
    fresh = true;
    gap = true;
  });
  client.addEventListener("status", (e) => {
    const s = e.detail;
    if (s.state === "connecting") resuming = s.position != null;
    if (s.state === "open") {
      fresh = !resuming;
      diagnosed = 0;
    } else {
      setJoined(false);
    }
    if (s.state === "reconnecting" && !s.opened && diagnosed !== s.attempt) {
      diagnosed = s.attempt;
      why = "could not connect";
      diagnose();
    }
    showStatus(s);
  });

  function showStatus(s) {
    retryButton.hidden = s.state === "connecting" || s.state === "open" || failure !== "";
    switch (s.state) {
      case "connecting":
        setStatus("connecting", s.attempt === 0 ? "Connecting…" : "Reconnecting…");
        break;
      case "open":
        setStatus("connecting", "Joining…");
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
    if (s.reason) return s.reason;
    return "connection lost";
  }

  // diagnose asks over plain HTTP why the upgrade failed: the server checks
  // the name and room before upgrading.
  async function diagnose() {
    let res, body;
    try {
      res = await fetch(socketPath, { cache: "no-store" });
      body = (await res.text()).trim();
    } catch (e) {
      res = null;
    }
    if (!res) {
      why = "server unreachable";
    } else if (res.status === 409) {
      why = "the name " + me + " is in use in this room";
    } else if (res.status === 400 && body.startsWith("invalid")) {
      failure = "Cannot join: " + body;
      client.close();
      return;
    }
    if (client.status.state !== "open") showStatus(client.status);
  }

  // --- sending --------------------------------------------------------------

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim() || !joined) return;
    if (utf8.encode(text).length > maxTextBytes) {
      append(noticeLine("problem", "", "Message too long: at most " + maxTextBytes + " bytes."), true);
      return;
    }
    client.send("message", { text: text });
    append(messageLine({ from: me, text: text }, false), true);
    input.value = "";
  });

  list.addEventListener("scroll", () => {
    if (atBottom()) newBelow.hidden = true;
  });
  newBelow.addEventListener("click", scrollToBottom);
  retryButton.addEventListener("click", () => {
    failure = "";
    client.reconnect();
  });
})();
