// Type declarations for sockets.js, the browser side of
// github.com/macaron-contrib/sockets. sockets.js defines one global,
// Sockets; nothing is exported as a module.

/**
 * A WebSocket that reconnects by itself, resumes since the last position it
 * saw, dispatches JSON frames by type and queues what is sent while
 * disconnected. It never touches the page: every frame is handed over as
 * data (text stays text), so put it in the page with textContent.
 *
 * It connects once the script that made it is done, so that listeners added
 * right after the constructor miss nothing.
 */
declare class Sockets extends EventTarget {
  /**
   * @param url the socket's URL: http(s), ws(s) or relative to the page
   *   (http becomes ws, https wss). As a string, the last position seen is
   *   added to it when reconnecting, as the query parameter `options.since`.
   *   As a function, it is called before each attempt with that position
   *   (null: none) and returns the whole URL.
   */
  constructor(url: string | ((position: string | null) => string), options?: Sockets.Options);

  /** The options in force: the defaults, overridden by those given. */
  readonly options: Required<Sockets.Options>;
  /**
   * The last position seen (options.positionOf), sent back when
   * reconnecting; null before the first one and after a reset. The page may
   * set it, for example from storage, before the first connection.
   */
  position: string | null;
  /** The latest status, as last sent with the "status" event. */
  readonly status: Sockets.Status;
  /** Frames dropped from the queue since the client was made. */
  readonly dropped: number;
  /** Frames waiting in the queue for the next open socket. */
  readonly queued: number;

  /**
   * Calls fn with every JSON frame whose options.type member is type, or
   * with every frame for "*" (parsed JSON, or the text or ArrayBuffer as it
   * came when it is not JSON), after the handlers of its type. A handler
   * that throws is reported and the others still run. Returns a function
   * that removes fn.
   */
  on(type: string, fn: (frame: any) => void): () => void;

  /**
   * Sends {[options.type]: type, ...payload} as JSON. Returns true when the
   * frame was handed to an open socket; otherwise it is queued, to be sent
   * once, in order, when the next socket opens (at most options.queue
   * frames; beyond, the oldest is dropped and a "drop" event says so). A
   * frame handed to a socket that then closes is not sent again.
   */
  send(type: string, payload?: object): boolean;
  /** Sends a string or binary as it is, anything else as JSON; as above. */
  send(frame: string | ArrayBuffer | ArrayBufferView | Blob | object): boolean;

  /**
   * Closes for good, with code (1000, or 3000–4999) and reason: no more
   * reconnecting. Status "closed".
   */
  close(code?: number, reason?: string): void;

  /**
   * Connects again at once, closing the current socket if any, with the
   * backoff started over; also after close() or a final close code.
   */
  reconnect(): void;

  addEventListener<K extends keyof Sockets.EventMap>(
    type: K,
    listener: (this: Sockets, ev: Sockets.EventMap[K]) => any,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof Sockets.EventMap>(
    type: K,
    listener: (this: Sockets, ev: Sockets.EventMap[K]) => any,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

declare namespace Sockets {
  interface Options {
    /** The member that names a JSON frame's type, for on() and send(type, payload). Default "type". */
    type?: string | null;
    /** The query parameter that carries the position when url is a string; "" for none. Default "since". */
    since?: string;
    /** A frame's position, or undefined/null for none. Default: its "pos" member. */
    positionOf?: ((frame: any) => string | number | null | undefined) | null;
    /**
     * Recognises the server's "cannot recover" answer: the frame is not
     * dispatched; the position is forgotten and a "reset" event fires.
     * Default: a frame whose "error" member is "reload".
     */
    isReset?: ((frame: any) => boolean) | null;
    /** Close codes that mean "cannot recover" too (then reconnects without a position). Default none. */
    resetCodes?: number[];
    /**
     * Close codes after which it does not reconnect (status "closed").
     * Default [1003, 1007, 1009]: the server refused what it was sent. Any
     * other code reconnects: 1000, 1001 and 1012 (server going away or
     * restarting), 1006 (connection lost), 1008 (the library's slow-client
     * and rate-limit kick), 1011, 1013 (try again later).
     */
    finalCodes?: number[];
    /** The first reconnect delay in ms, doubled at each failed attempt. Default 1000. */
    delay?: number;
    /** The cap on the reconnect delay, in ms. Default 30000. */
    maxDelay?: number;
    /** "full": a random delay in [0, d]; "equal": in [d/2, d]. Default "full". */
    jitter?: "full" | "equal";
    /** After a socket has been open this long (ms), the backoff starts over. Default 10000. */
    stable?: number;
    /** Frames kept while disconnected; beyond, the oldest are dropped. Default 100. */
    queue?: number;
    /** Wait while the page is hidden (document.hidden) before reconnecting. Default true. */
    pauseHidden?: boolean;
    /** WebSocket subprotocols. Default none. */
    protocols?: string | string[];
  }

  type State = "connecting" | "open" | "reconnecting" | "paused" | "closed";

  /** The detail of a "status" event. */
  interface Status {
    state: State;
    /** How the last socket closed: its code (1006 when the connection failed or was lost; 0 for a bad URL). */
    code?: number;
    /** The close reason the server gave, as text. */
    reason?: string;
    /** Whether that socket had opened (false: the server could not be reached, or refused the upgrade). */
    opened?: boolean;
    /** Reconnecting: the number of this wait since the last stable connection (1 for the first). Connecting: the same. */
    attempt?: number;
    /** Reconnecting: the delay chosen, in ms. */
    delay?: number;
    /** Reconnecting: whole seconds left; the event comes again each second. */
    seconds?: number;
    /** Paused: what it waits for. */
    why?: "offline" | "hidden";
    /** Connecting: the position it resumes from. */
    position?: string | null;
  }

  interface EventMap {
    /** The connection's state changed, or a reconnect countdown ticked. */
    status: CustomEvent<Status>;
    /**
     * The server cannot resume from the position sent: the position is
     * forgotten; frame is the answer (options.isReset) or code the close
     * code (options.resetCodes). Start over: clear the view, or reload.
     */
    reset: CustomEvent<{ frame?: any; code?: number }>;
    /** A queued frame was dropped; dropped counts them all. */
    drop: CustomEvent<{ frame: string | ArrayBuffer | ArrayBufferView | Blob; dropped: number }>;
  }
}
