"use strict";
// The room page: one websocket to /sockets/rooms/ROOM/NAME, reconnected with
// exponential backoff. Everything users wrote is put in the page with
// textContent, never parsed as HTML.
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
  const minDelay = 500;
  const maxDelay = 10000;
  const utf8 = new TextEncoder();
  const socketPath = "/sockets/rooms/" + encodeURIComponent(room) + "/" + encodeURIComponent(me);

  let ws = null; // the current socket, or null between attempts
  let joined = false; // the members frame of the current socket arrived
  let fresh = false; // the next history or members frame starts a new view
  let attempt = 0; // failed attempts since the last successful join
  let retryTimer = 0;
  let countdown = 0;
  let members = new Set();

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

  function receive(m) {
    switch (m.typ) {
      case "history":
        if (fresh) startView();
        append(messageLine(m, true), true);
        break;
      case "members": {
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
        attempt = 0;
        setJoined(true);
        setStatus("connected", "Connected as " + me);
        break;
      }
      case "message":
        append(messageLine(m, false), false);
        break;
      case "status":
        if (m.text === "joined") members.add(m.from);
        else if (m.text === "left") members.delete(m.from);
        renderMembers();
        append(noticeLine("notice", m.from, m.text), false);
        break;
      case "error":
        append(noticeLine("problem", "", m.text), true);
        break;
    }
  }

  // --- the connection -----------------------------------------------------

  function connect() {
    clearTimeout(retryTimer);
    clearInterval(countdown);
    retryButton.hidden = true;
    if (ws) return;
    setStatus("connecting", attempt === 0 ? "Connecting…" : "Reconnecting…");
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const sock = new WebSocket(proto + location.host + socketPath);
    let opened = false;
    ws = sock;
    sock.onopen = () => {
      opened = true;
      fresh = true;
      setStatus("connecting", "Joining…");
    };
    sock.onmessage = (e) => {
      if (ws !== sock) return;
      let m;
      try {
        m = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      receive(m);
    };
    sock.onclose = (e) => {
      if (ws !== sock) return;
      ws = null;
      setJoined(false);
      if (opened) retry(closeReason(e));
      else diagnose();
    };
  }

  function closeReason(e) {
    if (e.code === 1008) return "too slow to keep up";
    if (e.reason) return e.reason;
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
      retry("server unreachable");
      return;
    }
    if (res.status === 409) {
      retry("the name " + me + " is in use in this room");
    } else if (res.status === 400 && body.startsWith("invalid")) {
      setStatus("failed", "Cannot join: " + body);
    } else {
      retry("could not connect");
    }
  }

  function retry(why) {
    const base = Math.min(maxDelay, minDelay * 2 ** attempt);
    const delay = base / 2 + (Math.random() * base) / 2;
    attempt++;
    let left = Math.ceil(delay / 1000);
    const show = () => setStatus("offline", "Disconnected (" + why + "), retrying in " + left + " s");
    show();
    retryButton.hidden = false;
    countdown = setInterval(() => {
      left = Math.max(0, left - 1);
      show();
    }, 1000);
    retryTimer = setTimeout(connect, delay);
  }

  // --- sending --------------------------------------------------------------

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim() || !joined || !ws || ws.readyState !== WebSocket.OPEN) return;
    if (utf8.encode(text).length > maxTextBytes) {
      append(noticeLine("problem", "", "Message too long: at most " + maxTextBytes + " bytes."), true);
      return;
    }
    ws.send(JSON.stringify({ typ: "message", text: text }));
    append(messageLine({ from: me, text: text }, false), true);
    input.value = "";
  });

  list.addEventListener("scroll", () => {
    if (atBottom()) newBelow.hidden = true;
  });
  newBelow.addEventListener("click", scrollToBottom);
  retryButton.addEventListener("click", () => {
    attempt = 0;
    connect();
  });
  window.addEventListener("online", () => {
    if (!ws) connect();
  });

  connect();
})();
