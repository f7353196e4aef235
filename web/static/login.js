// The PC login page: get a code, show its QR, follow it with /wait long-polls, then log in.
import { ApiError, byId, fill, getJSON, pageTexts, postJSON } from "./api.js";

const Status = { EXPIRED: -1, WAITING: 0, SCANNED: 1, CONFIRMED: 2, DENIED: 3 };
/** Longest a /wait may stay open on our side: well past the server's own wait timeout. */
const WAIT_TIMEOUT_MS = 90_000;
/** The first pause before retrying after a failure; it doubles each time, up to the most. */
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MOST_MS = 30_000;
/** Where the login token is kept for the rest of the site (this tab only). */
const TOKEN_KEY = "qrlogin.token";

const T = pageTexts();
const root = byId("login");
const qr = byId("qr");
const countdown = byId("countdown");
const person = byId("person");
const avatar = byId("avatar");
const initial = byId("initial");
const who = byId("who");
const message = byId("message");
const network = byId("network");
const again = byId("again");
const logout = byId("logout");
/** Where the operator wants a logged-in person to go next (same origin for the token to be read); "" for nowhere. */
const AFTER_LOGIN = root.dataset.afterLogin;
/** Fresh codes fetched on expiry with nobody scanning, before the page stops and asks. */
const IDLE_CODES = Number(root.dataset.idleCodes) || 5;

let run = 0; // bumped for each new code: a loop of an older run sees it and stops
let idleCodes = 0; // codes in a row that expired with nobody scanning
let ticker = null; // the countdown's interval

class Superseded extends Error {}

function setState(state, text) {
  root.dataset.state = state;
  message.textContent = text;
}

/** Resolves after the back-off pause for `attempt`, or as soon as the browser is back online. */
function pause(attempt) {
  const ms = Math.min(BACKOFF_MOST_MS, BACKOFF_FIRST_MS * 2 ** attempt);
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener("online", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    window.addEventListener("online", done);
  });
}

/** `call()`, retried with back-off while the network or the server (5xx) fails; other errors are thrown. */
async function persist(call, myRun) {
  for (let attempt = 0; ; attempt++) {
    try {
      const answer = await call();
      network.hidden = true;
      if (myRun !== run) throw new Superseded();
      return answer;
    } catch (error) {
      if (error instanceof Superseded || (error instanceof ApiError && error.status < 500)) throw error;
      network.textContent = T.offline;
      network.hidden = false;
      await pause(attempt);
      if (myRun !== run) throw new Superseded();
    }
  }
}

function startCountdown(seconds) {
  stopCountdown();
  const end = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    const time = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    countdown.textContent = fill(T.expires_in, { time });
    if (left === 0) {
      qr.classList.add("stale");
      stopCountdown();
    }
  };
  tick();
  ticker = setInterval(tick, 1000);
}

function stopCountdown() {
  clearInterval(ticker);
  ticker = null;
}

/** Shows the user's picture (or their initial) and `line`; hides the person for no user. */
function showPerson(user, line) {
  person.hidden = !user;
  if (!user) return;
  const name = user.name || user.sub;
  who.textContent = fill(line, { name });
  initial.textContent = (Array.from(name)[0] || "?").toUpperCase();
  const picture = user.picture && user.picture.startsWith("https:");
  avatar.hidden = !picture;
  initial.hidden = picture;
  if (picture) {
    avatar.alt = fill(T.picture_of, { name });
    avatar.src = user.picture;
  }
}

avatar.addEventListener("error", () => {
  avatar.hidden = true;
  initial.hidden = false;
});

function showCode(session) {
  qr.src = session.qr_svg;
  qr.dataset.uuid = session.uuid;
  qr.classList.remove("stale");
  qr.hidden = false;
  countdown.hidden = false;
  startCountdown(session.expires_in);
  setState("waiting", T.waiting);
}

function hideCode() {
  stopCountdown();
  qr.hidden = true;
  qr.removeAttribute("src");
  countdown.hidden = true;
}

/** Ends this run with `text` and a button for a new code. */
function stop(state, text) {
  run += 1;
  hideCode();
  showPerson(null);
  network.hidden = true;
  setState(state, text);
  again.hidden = false;
  again.focus();
}

/** Gets a fresh code and follows it until it is decided. */
async function newCode() {
  const myRun = ++run;
  again.hidden = true;
  showPerson(null);
  try {
    const session = await persist(() => postJSON("/uuid", {}), myRun);
    showCode(session);
    await follow(session, myRun);
  } catch (error) {
    if (error instanceof Superseded) return;
    console.warn("login failed", error);
    stop("failed", T.failed);
  }
}

/** Long-polls the session, re-polling after every answer, and acts on each new status. */
async function follow(session, myRun) {
  let status = Status.WAITING;
  let scanned = false;
  for (;;) {
    const body = { cursor: session.cursor, status };
    const answer = await persist(() => postJSON("/wait", body, { timeoutMs: WAIT_TIMEOUT_MS }), myRun);
    status = answer.status;
    if (status === Status.WAITING || status === Status.SCANNED) {
      startCountdown(answer.expires_in);
    }
    if (status === Status.SCANNED && !scanned) {
      scanned = true;
      idleCodes = 0;
      showPerson(answer.user, T.scanned);
      setState("scanned", T.confirm_on_phone);
    } else if (status === Status.CONFIRMED) {
      return logIn(session, answer.code, myRun);
    } else if (status === Status.DENIED) {
      return stop("denied", T.denied);
    } else if (status === Status.EXPIRED) {
      return expired(scanned);
    }
  }
}

function expired(scanned) {
  if (!scanned) idleCodes += 1;
  if (idleCodes >= IDLE_CODES) return stop("idle", T.idle);
  setState("expired", T.expired);
  newCode();
}

/** Exchanges the one-time code for the login token, then goes on as a logged-in page does. */
async function logIn(session, code, myRun) {
  hideCode();
  setState("logging-in", T.logging_in);
  const login = await persist(() => postJSON("/token", { cursor: session.cursor, code }), myRun);
  sessionStorage.setItem(TOKEN_KEY, login.token);
  loggedIn(login.user);
}

/**
 * Logged in: go on to the operator's page, or say so and offer to log out.
 * The token stays in this tab's sessionStorage, which the next page (same origin) reads;
 * it never goes into a URL, where logs, history and Referer headers would keep it.
 */
function loggedIn(user) {
  run += 1; // nothing more to follow
  hideCode();
  showPerson(user, T.logged_in);
  if (AFTER_LOGIN) {
    setState("going-on", T.going_on);
    location.replace(AFTER_LOGIN); // replace: Back should not land on a spent login page
    return;
  }
  setState("logged-in", T.done);
  logout.hidden = false;
}

/** A token this tab already holds: still good, the page is logged in (a reload keeps the login). */
async function resume() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return false;
  try {
    const me = await getJSON("/me", { headers: { Authorization: `Bearer ${token}` } });
    loggedIn(me.user);
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    return false; // expired, or /me unreachable: a fresh code is the way on either way
  }
}

again.addEventListener("click", () => {
  idleCodes = 0;
  newCode();
});

logout.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  logout.hidden = true;
  idleCodes = 0;
  newCode();
});

if (!(await resume())) newCode();
