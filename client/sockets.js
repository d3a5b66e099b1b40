/* sockets.js, the browser side of github.com/macaron-contrib/sockets: a
 * WebSocket that reconnects, resumes, dispatches JSON frames by type and
 * queues what is sent while away. It never touches the page. The API is in
 * sockets.d.ts. */
(function (global) {
  "use strict";

  const defaults = {
    type: "type", // the member naming a JSON frame's type, for on() and send()
    since: "since", // the query parameter carrying the position ("": none)
    positionOf: (f) => f.pos, // a frame's position, or undefined
    isReset: (f) => f.error === "reload", // the server cannot resume: start over
    resetCodes: [], // close codes meaning the same
    finalCodes: [1003, 1007, 1009], // close codes after which it stays closed
    delay: 1000, // first reconnect delay (ms), doubled at each attempt
    maxDelay: 30000, // its cap (ms)
    jitter: "full", // "full": random in [0, d]; "equal": in [d/2, d]
    stable: 10000, // open this long (ms), the backoff starts over
    queue: 100, // frames kept while away; beyond, the oldest are dropped
    pauseHidden: true, // no reconnecting while the page is hidden
    protocols: undefined, // WebSocket subprotocols
  };

  class Sockets extends EventTarget {
    // It connects once the calling script is done: listeners added right
    // after miss nothing.
    constructor(url, options) {
      super();
      const self = this;
      const o = (self.options = Object.assign({}, defaults, options));
      const handlers = new Map(); // type → [fn], replaced, never changed
      let queue = [];
      let ws = null; // the current socket
      let opened = false; // ws opened
      let closed = false; // for good: close() or a final code
      let paused = false; // waiting for the network or the page
      let attempt = 0; // reconnects since the last stable connection
      let timer, ticker, stable;
      let last = {}; // how the last socket ended: code, reason, opened

      self.position = null; // the last position seen
      self.dropped = 0; // frames dropped from the queue
      self.status = { state: "connecting" };
      Object.defineProperty(self, "queued", { get: () => queue.length }); // frames waiting

      const emit = (name, detail) => self.dispatchEvent(new CustomEvent(name, { detail: detail }));
      const setStatus = (state, more) => emit("status", (self.status = Object.assign({ state: state }, more)));
      const asleep = () => navigator.onLine === false || (o.pauseHidden && document.hidden);

      function clear() {
        clearTimeout(timer);
        clearInterval(ticker);
        paused = false;
      }

      function target() {
        const p = self.position;
        const fn = typeof url === "function";
        const u = new URL(fn ? url(p) : url, location.href);
        if (!fn && p != null && o.since) u.searchParams.set(o.since, p);
        return u.href.replace(/^http/, "ws");
      }

      function connect() {
        clear();
        if (closed || ws) return;
        if (asleep()) return pause();
        let sock;
        try {
          sock = ws = new WebSocket(target(), o.protocols);
        } catch (e) {
          return finish({ code: 0, reason: e.message }); // a bad URL stays bad
        }
        opened = false;
        sock.binaryType = "arraybuffer";
        setStatus("connecting", { attempt: attempt, position: self.position });
        sock.onopen = () => {
          if (ws !== sock) return;
          opened = true;
          stable = setTimeout(() => (attempt = 0), o.stable);
          queue.splice(0).forEach((d) => sock.send(d)); // each once, in order
          setStatus("open");
        };
        sock.onmessage = (e) => ws === sock && receive(e.data);
        sock.onclose = (e) => {
          if (ws !== sock) return;
          ws = null;
          clearTimeout(stable);
          const info = { code: e.code, reason: e.reason, opened: opened };
          if (o.finalCodes.includes(e.code)) return finish(info);
          if (o.resetCodes.includes(e.code)) reset(null, e.code);
          // min(maxDelay, delay·2^attempt), jittered
          const d = Math.min(o.maxDelay, o.delay * 2 ** attempt++);
          wait(o.jitter === "equal" ? d / 2 + (Math.random() * d) / 2 : Math.random() * d, info);
        };
      }

      // wait reconnects in ms, with a status each second.
      function wait(ms, info) {
        clear();
        last = info || last;
        if (asleep()) return pause();
        const at = Date.now() + ms;
        const tick = () =>
          setStatus("reconnecting", Object.assign({ delay: ms, seconds: Math.ceil((at - Date.now()) / 1000), attempt: attempt }, last));
        tick();
        ticker = setInterval(tick, 1000);
        timer = setTimeout(connect, ms);
      }

      function pause() {
        paused = true;
        setStatus("paused", Object.assign({ why: navigator.onLine === false ? "offline" : "hidden" }, last));
      }

      function finish(info) {
        closed = true;
        clear();
        watch(false);
        setStatus("closed", info);
      }

      // onNet pauses a wait while offline or hidden, and ends it when back,
      // at a random moment within the first delay: no thundering herd.
      function onNet(e) {
        if (closed || ws) return;
        if (asleep()) paused || (clear(), pause());
        else if (paused || e.type === "online") wait(Math.random() * o.delay);
      }

      function watch(on) {
        const f = on ? "addEventListener" : "removeEventListener";
        global[f]("online", onNet);
        global[f]("offline", onNet);
        document[f]("visibilitychange", onNet);
      }

      function reset(frame, code) {
        self.position = null;
        emit("reset", { frame: frame, code: code });
      }

      // receive parses text as JSON when it can, notes the position, and
      // hands the frame to the handlers of its type, then to "*".
      function receive(f) {
        if (typeof f === "string") {
          try {
            f = JSON.parse(f);
          } catch (e) {
            // plain text, as it came
          }
          if (f && typeof f === "object") {
            if (o.isReset && o.isReset(f)) return reset(f);
            const p = o.positionOf && o.positionOf(f);
            if (p != null) self.position = String(p);
            const t = o.type && f[o.type];
            if (t != null && t !== "*") call(String(t), f);
          }
        }
        call("*", f);
      }

      function call(type, f) {
        for (const fn of handlers.get(type) || []) {
          try {
            fn(f);
          } catch (e) {
            setTimeout(() => {
              throw e; // reported; the other handlers still run
            });
          }
        }
      }

      self.on = (type, fn) => {
        const list = () => handlers.get((type = String(type))) || [];
        handlers.set(type, list().concat(fn));
        return () => handlers.set(type, list().filter((g) => g !== fn));
      };

      // send: true if handed to an open socket, else queued for the next.
      self.send = function (a, b) {
        let d = arguments.length > 1 ? Object.assign({ [o.type]: a }, b, { [o.type]: a }) : a;
        if (!(typeof d === "string" || d instanceof Blob || d instanceof ArrayBuffer || ArrayBuffer.isView(d))) d = JSON.stringify(d);
        if (ws && opened && ws.readyState === 1) return ws.send(d), true;
        queue.push(d);
        while (queue.length > o.queue) emit("drop", { frame: queue.shift(), dropped: ++self.dropped });
        return false;
      };

      self.close = (code, reason) => {
        if (ws) ws.close(code || 1000, reason);
        ws = null;
        finish({ code: code || 1000, reason: reason || "", opened: opened });
      };

      self.reconnect = () => {
        if (closed) watch(true);
        closed = false;
        attempt = 0;
        clearTimeout(stable);
        if (ws) ws.close(1000);
        ws = null;
        connect();
      };

      watch(true);
      Promise.resolve().then(connect);
    }
  }

  global.Sockets = Sockets;
})(window);
