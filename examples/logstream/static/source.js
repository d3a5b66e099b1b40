"use strict";
// LogSource is one file of the view: its socket to /api/logs/stream,
// through the library's client (sockets.js, loaded before this file), which
// reconnects by itself and resumes after the last line received
// (since=GEN:OFFSET: its file generation and offset, so that a rotation in
// between is noticed). Each file of a view has its own, with its own
// position and reconnects: one failing leaves the others alone. Filters
// change by a message on the open socket, without reconnecting.
(function (global) {
  const backfillLines = 300;

  class LogSource {
    // hooks: frame(src, m) for each frame, status(src) when its status
    // changes, wanted() the filter the page wants, sinceTime() the time to
    // start from (RFC 3339, "" for the last lines).
    constructor(name, hooks) {
      this.name = name;
      this.hooks = hooks;
      this.received = false; // a line of this file arrived
      this.why = ""; // why the last attempt failed, once diagnosed
      this.diagnosed = 0; // the attempt diagnosed last
      this.failure = ""; // why it gave up
      this.applied = hooks.wanted(); // the filter the server applies
      this.sent = null; // the filter last sent on the current socket
      this.gone = false; // closed by the page: no more events
      const client = (this.client = new Sockets((pos) => this.url(pos), {
        type: null, // the frames are told apart by their members
        positionOf: positionOf,
        isReset: (m) => m.error === "gap", // the server could not resume exactly
        delay: 500,
        maxDelay: 10000,
        jitter: "equal",
      }));
      client.on("*", (m) => this.receive(m));
      // The gap notice goes in its place among the lines.
      client.addEventListener("reset", (e) => this.receive(e.detail.frame));
      client.addEventListener("status", (e) => {
        if (this.gone) return;
        const s = e.detail;
        if (s.state === "open") {
          this.diagnosed = 0;
          this.sent = this.applied; // the filter of the URL
          this.sendFilter(); // what changed while offline
        }
        if (s.state === "reconnecting" && !s.opened && this.diagnosed !== s.attempt) {
          this.diagnosed = s.attempt;
          this.why = "could not connect";
          this.diagnose();
        }
        hooks.status(this);
      });
    }

    // url resumes since pos; without one, a new view gets the last lines,
    // and one that lost its place (a gap) goes on from now.
    url(pos) {
      const p = new URLSearchParams();
      p.set("file", this.name);
      if (this.applied.level) p.set("level", this.applied.level);
      if (this.applied.search) p.set("search", this.applied.search);
      const since = this.hooks.sinceTime();
      if (pos !== null) p.set("since", pos);
      else if (since && !this.received) p.set("since_time", since);
      else p.set("backfill", String(this.received ? 0 : backfillLines));
      return "/api/logs/stream?" + p.toString();
    }

    receive(m) {
      if (this.gone) return;
      if (typeof m.line === "string") this.received = true;
      else if (m.filter) this.applied = { level: m.filter.level || "", search: m.filter.search || "" };
      else if (m.error && m.error !== "gap" && m.error !== "behind") this.sent = null; // refused: the next change is sent even if it is the same
      this.hooks.frame(this, m);
    }

    // sendFilter sends the filter the page wants, if the socket is open and
    // it is not the one last sent.
    sendFilter() {
      const f = this.hooks.wanted();
      if (this.gone || this.client.status.state !== "open" || sameFilter(f, this.sent)) return;
      this.sent = f;
      this.client.send(f);
    }

    // restart starts over from the last lines (or the Since time).
    restart() {
      this.received = false;
      this.client.position = null;
      this.client.reconnect();
    }

    retry() {
      this.failure = "";
      this.client.reconnect();
    }

    close() {
      this.gone = true;
      this.client.close();
    }

    get open() {
      return this.client.status.state === "open";
    }

    // failed: given up for good (refused, or a final close).
    get failed() {
      return this.client.status.state === "closed";
    }

    // statusText is the state and the words of the status line for this
    // file alone.
    statusText() {
      const s = this.client.status;
      switch (s.state) {
        case "connecting":
          return { state: "connecting", text: s.attempt ? "Reconnecting…" : "Connecting…" };
        case "open":
          return { state: "connected", text: "Live" };
        case "reconnecting":
          return { state: "offline", text: "Disconnected (" + this.reason(s) + "), retrying in " + s.seconds + " s" };
        case "paused":
          return { state: "offline", text: "Disconnected (" + this.reason(s) + "), waiting for " + (s.why === "offline" ? "the network" : "the page to be shown") };
        default:
          return { state: "failed", text: this.failure || "Disconnected (" + this.reason(s) + ")" };
      }
    }

    reason(s) {
      if (!s.opened) return this.why;
      if (s.code === 1008) return "too slow to keep up";
      if (s.code === 1001) return "server going away";
      if (s.reason) return s.reason;
      return "connection lost";
    }

    // diagnose asks over plain HTTP why the upgrade failed: the server
    // checks the request before upgrading. Its own refusals are final; a
    // refused handshake (the plain GET itself) means the request was fine.
    async diagnose() {
      let res, body;
      try {
        res = await fetch(this.url(this.client.position), { cache: "no-store" });
        body = (await res.text()).trim();
      } catch (e) {
        res = null;
      }
      if (this.gone) return;
      if (!res) {
        this.why = "server unreachable";
      } else if (res.status === 400 && body.startsWith("invalid filter") && (this.applied.level || this.applied.search)) {
        // A link with a filter the server refuses: open unfiltered, and
        // send it on the socket, where the refusal is shown by the search.
        this.applied = { level: "", search: "" };
        this.client.reconnect();
        return;
      } else if (res.status === 403 || (res.status === 400 && !body.startsWith("Bad Request"))) {
        this.failure = "Cannot stream: " + body;
        this.client.close();
        return;
      }
      if (this.client.status.state !== "open") this.hooks.status(this);
    }
  }

  // positionOf is a line's place, "GEN:OFFSET"; other frames have none.
  function positionOf(m) {
    if (typeof m.line !== "string") return undefined;
    return typeof m.gen === "string" ? m.gen + ":" + m.offset : String(m.offset);
  }

  function sameFilter(a, b) {
    return a !== null && b !== null && a.level === b.level && a.search === b.search;
  }

  global.LogSource = LogSource;
})(window);
