// qrlogin.js: show a login QR and follow its session until it is decided.
//
// Each change is pushed over a WebSocket (/ws); where that cannot connect, over Server-Sent
// Events (POST /events, read with fetch); where neither can, by long-polls (/wait). A transport
// that drops is reconnected with the status already seen, after a back-off pause (1 s doubling to
// 30 s, at once when the browser is back online). The cursor, the session's secret, only ever
// travels in a message or a request body, never in a URL.
//
//   import { newSession, renderQr, follow, exchange } from "https://login.example.com/static/qrlogin.js";
//   const session = await newSession();
//   renderQr(document.querySelector("img#qr"), session);
//   const answer = await follow(session, { onChange: (a) => console.log(a.state) });
//   if (answer.status === 2) await exchange(session, answer.code);  // or hand the code to your backend
import { ApiError } from "./api.js";

export { ApiError };

/** A session's statuses; -1 < status < 2 means still pending. */
export const Status = Object.freeze({ EXPIRED: -1, WAITING: 0, SCANNED: 1, CONFIRMED: 2, DENIED: 3 });
/** The transports, best first. */
export const TRANSPORTS = Object.freeze(["websocket", "sse", "poll"]);
/** The service this module was loaded from (its root URL): where it calls by default. */
export const DEFAULT_BASE = new URL("../", import.meta.url).href;

/** The first pause before reconnecting after a failure; it doubles each time, up to the most. */
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MOST_MS = 30_000;
/** A transport that has not connected by then is taken for blocked on this network. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Longest a long-poll may stay open on our side: well past the server's wait timeout. */
const POLL_TIMEOUT_MS = 90_000;
/** Longest any other call may take. */
const CALL_TIMEOUT_MS = 30_000;
/** An event stream silent this long (no event, no heartbeat comment: they come every 20 s) is dead. */
const STREAM_SILENCE_MS = 65_000;
/** The WebSocket close codes the server uses (README, "Push"). */
const Close = Object.freeze({ FINAL: 1000, RESTART: 1012, BAD_MESSAGE: 4400, RATE_LIMITED: 4429 });

/** Transports seen failing to connect here while a later one connected: skipped from then on. */
const blocked = new Set();

const isFinal = (status) => !(status === Status.WAITING || status === Status.SCANNED);

/** `path` on the service at `base`: a same-origin path stays relative, as a page would write it. */
function resolve(base, path) {
  const url = new URL(path, new URL(base, location.href));
  return url.origin === location.origin ? url.pathname + url.search : url.href;
}

/** The pause before attempt number `attempt` (from 0) after a failure. */
export function backoff(attempt) {
  return Math.min(BACKOFF_MOST_MS, BACKOFF_FIRST_MS * 2 ** attempt);
}

/**
 * Resolves after `ms`, or as soon as the browser is back online (while it says it is offline,
 * only then, or after the longest back-off); rejects with the signal's reason if it aborts.
 */
export function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener("online", done);
      signal?.removeEventListener("abort", aborted);
      resolve();
    };
    const aborted = () => {
      done();
      reject(signal.reason);
    };
    const timer = setTimeout(done, navigator.onLine === false ? BACKOFF_MOST_MS : ms);
    window.addEventListener("online", done);
    if (signal?.aborted) aborted();
    else signal?.addEventListener("abort", aborted);
  });
}

/** POSTs `body` as JSON to `path` on `base`; the JSON answer, or ApiError for an error answer. */
async function post(base, path, body, { timeoutMs = CALL_TIMEOUT_MS, signal } = {}) {
  const response = await fetch(resolve(base, path), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    cache: "no-store",
    signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
  });
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, answer?.error ?? "http_error", answer?.message ?? response.statusText);
  }
  return answer;
}

/** A new login session: `{uuid, cursor, status, expires_in, qr_content, qr_svg, qr_png}`. */
export function newSession({ base = DEFAULT_BASE, signal } = {}) {
  return post(base, "uuid", {}, { signal });
}

/** Shows the session's QR in `img` (an <img>; give it a width, height and alt of your own). */
export function renderQr(img, session, { base = DEFAULT_BASE } = {}) {
  img.src = resolve(base, session.qr_svg);
  img.dataset.uuid = session.uuid;
}

/** Exchanges a confirmed session's one-time code for the login: `{user, token, token_type, expires_in}`. */
export function exchange(session, code, { base = DEFAULT_BASE, signal } = {}) {
  return post(base, "token", { cursor: session.cursor, code }, { signal });
}

/**
 * Follows `session` until its state is final; resolves with that answer (the JSON of a /wait
 * answer: status 2 with the one-time `code`, 3 denied, -1 expired). Options:
 * - `status`: the status already known (default 0);
 * - `onChange(answer)`: each answer as it comes;
 * - `onNetwork(lost)`: true when the connection is lost (it is retried), false once back;
 * - `onTransport(name)`: "websocket", "sse" or "poll", whenever one connects;
 * - `signal`: an AbortSignal that ends the following (the promise rejects with its reason);
 * - `transports`: which to use, best first (default all three);
 * - `base`: the service's URL (default: where this module came from).
 * Rejects with ApiError when the service refuses the request itself (a bad cursor format).
 */
export async function follow(session, options = {}) {
  const { base = DEFAULT_BASE, signal, transports = TRANSPORTS } = options;
  const onChange = options.onChange ?? (() => {});
  const onNetwork = options.onNetwork ?? (() => {});
  const onTransport = options.onTransport ?? (() => {});
  let known = options.status ?? Status.WAITING;
  const usable = () => transports.filter((name) => !blocked.has(name));
  let round = usable(); // the transports still to try, best first
  let unreached = []; // those that could not connect in this round
  let attempt = 0;
  for (;;) {
    signal?.throwIfAborted();
    const name = round[0] ?? transports.at(-1);
    const link = {
      base,
      cursor: session.cursor,
      known,
      signal,
      opened() {
        for (const failed of unreached) blocked.add(failed);
        unreached = [];
        attempt = 0;
        onNetwork(false);
        onTransport(name);
      },
      seen(answer) {
        known = answer.status;
        onChange(answer);
      },
    };
    const end = await CONNECT[name](link);
    if (end.kind === "final") return end.answer;
    if (end.kind === "restart") continue; // the service moves: reconnect at once, same transport
    if (end.kind === "limited") {
      await pause(end.retryMs, signal);
      continue;
    }
    if (end.kind === "unreachable") {
      unreached.push(name);
      round = round.slice(1);
      if (round.length) continue; // perhaps blocked here: the next transport, at once
    }
    // Dropped, or nothing connects at all: the network. Pause, then start over from the best.
    onNetwork(true);
    await pause(backoff(attempt++), signal);
    round = usable();
    unreached = [];
  }
}

/** An AbortController for one connection: aborted by the caller's signal, or when the browser goes offline. */
function connection(signal) {
  const controller = new AbortController();
  const offline = () => controller.abort(new DOMException("offline", "NetworkError"));
  const cancel = () => controller.abort(signal.reason);
  window.addEventListener("offline", offline);
  signal?.addEventListener("abort", cancel);
  const release = () => {
    window.removeEventListener("offline", offline);
    signal?.removeEventListener("abort", cancel);
  };
  return { controller, release };
}

const CONNECT = { websocket: viaWebSocket, sse: viaEvents, poll: viaPoll };

/** One WebSocket: the first message names the session, then each change is pushed. */
function viaWebSocket(link) {
  return new Promise((resolve, reject) => {
    const url = new URL("ws", new URL(link.base, location.href));
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const { controller, release } = connection(link.signal);
    const socket = new WebSocket(url.href);
    let opened = false;
    let last = null;
    let settled = false;
    const settle = (outcome, error) => {
      if (settled) return;
      settled = true;
      clearTimeout(connecting);
      controller.signal.removeEventListener("abort", cut);
      release();
      socket.onopen = socket.onmessage = socket.onclose = null;
      if (socket.readyState < WebSocket.CLOSING) socket.close();
      if (link.signal?.aborted) reject(link.signal.reason);
      else if (error) reject(error);
      else resolve(outcome);
    };
    // Cut by the caller, the browser going offline, or a handshake that never completes (blocked).
    const cut = () => settle({ kind: opened ? "dropped" : "unreachable" });
    const connecting = setTimeout(cut, CONNECT_TIMEOUT_MS);
    controller.signal.addEventListener("abort", cut);
    socket.onopen = () => {
      clearTimeout(connecting);
      opened = true;
      socket.send(JSON.stringify({ cursor: link.cursor, status: link.known }));
      link.opened();
    };
    socket.onmessage = (event) => {
      last = JSON.parse(event.data);
      link.seen(last);
    };
    socket.onclose = (event) => {
      if (!opened) return settle({ kind: "unreachable" });
      if (event.code === Close.FINAL) {
        const state = event.reason;
        return settle({ kind: "final", answer: last ?? { status: STATUS_OF[state] ?? link.known, state } });
      }
      if (event.code === Close.RESTART) return settle({ kind: "restart" });
      if (event.code === Close.RATE_LIMITED) {
        const seconds = Number(/retry after (\d+)/.exec(event.reason)?.[1] ?? 2);
        return settle({ kind: "limited", retryMs: seconds * 1000 });
      }
      if (event.code === Close.BAD_MESSAGE) {
        const [error, message] = event.reason.split(": ", 2);
        return settle(null, new ApiError(400, error, message ?? event.reason));
      }
      settle({ kind: "dropped" }); // 1006 (cut), 4503 (storage), 4408, 1011: try again
    };
  });
}

const STATUS_OF = { expired: Status.EXPIRED, confirmed: Status.CONFIRMED, denied: Status.DENIED };

/** One event stream: POST /events read with fetch (EventSource could only GET, the cursor in the URL). */
async function viaEvents(link) {
  const { controller, release } = connection(link.signal);
  let silence = setTimeout(() => controller.abort(), CONNECT_TIMEOUT_MS);
  let opened = false;
  let last = null;
  try {
    const response = await fetch(resolve(link.base, "events"), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ cursor: link.cursor, status: link.known }),
      cache: "no-store",
      signal: controller.signal,
    });
    if (!response.ok) {
      const answer = await response.json().catch(() => null);
      if (response.status === 429) return { kind: "limited", retryMs: retryAfter(response) };
      if (response.status < 500) throw new ApiError(response.status, answer?.error ?? "http_error", answer?.message);
      return { kind: "unreachable" }; // a proxy's 502, or the like
    }
    if (!(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) return { kind: "unreachable" };
    opened = true;
    link.opened();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      clearTimeout(silence);
      silence = setTimeout(() => controller.abort(), STREAM_SILENCE_MS);
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replaceAll("\r\n", "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event.type === "message" && event.data) {
          last = JSON.parse(event.data);
          link.seen(last);
        } else if (event.type === "error") {
          const error = JSON.parse(event.data);
          if (error.status === 429) return { kind: "limited", retryMs: (error.retry_after ?? 2) * 1000 };
          if (error.status < 500) throw new ApiError(error.status, error.error, error.message);
          return { kind: "dropped" };
        }
      }
    }
    // The stream ended: done if the state is final, else the service moved (reconnect at once).
    return last && isFinal(last.status) ? { kind: "final", answer: last } : { kind: "restart" };
  } catch (error) {
    if (link.signal?.aborted) throw link.signal.reason;
    if (error instanceof ApiError) throw error;
    return { kind: opened ? "dropped" : "unreachable" };
  } finally {
    clearTimeout(silence);
    release();
  }
}

/** One text/event-stream block: its type ("message" unless named) and its data lines joined. */
function parseEvent(block) {
  const event = { type: "message", data: "" };
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // a heartbeat comment
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event.type = value;
    else if (field === "data") data.push(value);
  }
  event.data = data.join("\n");
  return event;
}

function retryAfter(response) {
  return (Number(response.headers.get("Retry-After")) || 2) * 1000;
}

/** Long-polls: /wait again after every answer, until the state is final. */
async function viaPoll(link) {
  const { controller, release } = connection(link.signal);
  let opened = false;
  try {
    for (;;) {
      const answer = await post(
        link.base,
        "wait",
        { cursor: link.cursor, status: link.known },
        { timeoutMs: POLL_TIMEOUT_MS, signal: controller.signal },
      );
      if (!opened) {
        opened = true;
        link.opened();
      }
      link.known = answer.status;
      link.seen(answer);
      if (isFinal(answer.status)) return { kind: "final", answer };
    }
  } catch (error) {
    if (link.signal?.aborted) throw link.signal.reason;
    if (error instanceof ApiError) {
      if (error.status === 429) return { kind: "limited", retryMs: 2_000 };
      if (error.status < 500) throw error;
      return { kind: "dropped" }; // the service answers, but fails: retry after a pause
    }
    return { kind: opened ? "dropped" : "unreachable" };
  } finally {
    release();
  }
}
