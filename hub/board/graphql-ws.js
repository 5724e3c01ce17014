// A small client of the graphql-transport-ws protocol (the `graphql-ws` library's protocol), as the hub speaks it:
// connection_init (with the token in its payload) -> connection_ack; subscribe -> next* -> complete | error;
// ping -> pong. No retries here: the board decides when and from which cursor to resubscribe.

export const PROTOCOL = "graphql-transport-ws";

/** Close codes the hub uses (docs/live.md). */
export const CLOSE = {
  NORMAL: 1000,
  SLOW_CONSUMER: 1008,
  BAD_MESSAGE: 4400,
  UNAUTHORIZED: 4401,
  FORBIDDEN: 4403, // connection_init without a valid token
  INIT_TIMEOUT: 4408,
  DUPLICATE_ID: 4409,
  TOO_MANY_INITS: 4429,
};

export class GraphQLWsConnection {
  /**
   * @param {string} url ws:// or wss:// address of /graphql
   * @param {object} payload the connection_init payload, e.g. {authorization: "Bearer ..."}
   * @param {{onClose?: (event: {code: number, reason: string, acknowledged: boolean}) => void}} handlers
   */
  constructor(url, payload, handlers = {}) {
    this.url = url;
    this.payload = payload;
    this.onClose = handlers.onClose || (() => {});
    this.sinks = new Map();
    this.nextId = 1;
    this.acknowledged = false;
    this.closedByUs = false;
    this.socket = null;
  }

  /** Open the socket and initialise the connection; resolves on connection_ack, rejects if it closes first. */
  open() {
    return new Promise((resolve, reject) => {
      let settled = false;
      let socket;
      try {
        socket = new WebSocket(this.url, PROTOCOL);
      } catch (error) {
        reject(error);
        return;
      }
      this.socket = socket;
      socket.addEventListener("open", () => {
        this.send({ type: "connection_init", payload: this.payload });
      });
      socket.addEventListener("message", (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          return; // not ours to judge: the server never sends anything but JSON
        }
        if (message.type === "connection_ack") {
          this.acknowledged = true;
          if (!settled) {
            settled = true;
            resolve(message.payload || {});
          }
          return;
        }
        this.receive(message);
      });
      socket.addEventListener("close", (event) => {
        const acknowledged = this.acknowledged;
        this.acknowledged = false;
        const sinks = [...this.sinks.values()];
        this.sinks.clear();
        if (!settled) {
          settled = true;
          const error = new Error(`the connection closed before it was acknowledged (code ${event.code})`);
          error.code = event.code;
          reject(error);
        }
        if (!this.closedByUs) {
          this.onClose({ code: event.code, reason: event.reason, acknowledged });
        }
        for (const sink of sinks) sink.closed?.(event.code);
      });
    });
  }

  receive(message) {
    switch (message.type) {
      case "ping":
        this.send({ type: "pong" });
        return;
      case "pong":
        return;
      case "next": {
        const sink = this.sinks.get(message.id);
        sink?.next?.(message.payload);
        return;
      }
      case "error": {
        const sink = this.sinks.get(message.id);
        this.sinks.delete(message.id);
        sink?.error?.(message.payload);
        return;
      }
      case "complete": {
        const sink = this.sinks.get(message.id);
        this.sinks.delete(message.id);
        sink?.complete?.();
        return;
      }
      default:
        return;
    }
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  /**
   * Start an operation; the sink gets next(payload), error(errors), complete() and, if the socket goes, closed(code).
   * @returns {string} the operation id (pass it to `stop`)
   */
  subscribe(payload, sink) {
    const id = String(this.nextId++);
    this.sinks.set(id, sink);
    this.send({ id, type: "subscribe", payload });
    return id;
  }

  stop(id) {
    if (this.sinks.delete(id)) this.send({ id, type: "complete" });
  }

  /** Close on purpose: no onClose callback for this one. */
  close(code = CLOSE.NORMAL, reason = "") {
    this.closedByUs = true;
    this.sinks.clear();
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) {
      this.socket.close(code, reason);
    }
  }
}
