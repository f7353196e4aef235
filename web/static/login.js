// The PC login page: get a code, show its QR, follow it (qrlogin.js: WebSocket, else SSE, else long-polls), then log in.
import { ApiError, byId, fill, getJSON, pageTexts, postJSON } from "./api.js";
import { Status, backoff, follow as followSession, pause, renderQr } from "./qrlogin.js";

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
/** On the OpenID provider's page: the authorization request this login answers ("" on the plain page). */
const AUTHORIZE = root.dataset.authorize || "";

let run = 0; // bumped for each new code: a loop of an older run sees it and stops
let idleCodes = 0; // codes in a row that expired with nobody scanning
let ticker = null; // the countdown's interval
let following = null; // aborts the run's following of its session when a newer run starts

class Superseded extends Error {}

function setState(state, text) {
  root.dataset.state = state;
  message.textContent = text;
}

/** Starts a new run: whatever an older one still follows is dropped. */
function nextRun() {
  run += 1;
  following?.abort(new Superseded());
  following = null;
  return run;
}

function showNetwork(lost) {
  network.textContent = T.offline;
  network.hidden = !lost;
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
      showNetwork(true);
      await pause(backoff(attempt));
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
  renderQr(qr, session, { base: "/" });
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
  nextRun();
  hideCode();
  showPerson(null);
  network.hidden = true;
  setState(state, text);
  again.hidden = false;
  again.focus();
}

/** Gets a fresh code and follows it until it is decided. */
async function newCode() {
  const myRun = nextRun();
  again.hidden = true;
  showPerson(null);
  try {
    const ask = () => (AUTHORIZE ? postJSON("/authorize/session", { request: AUTHORIZE }) : postJSON("/uuid", {}));
    const session = await persist(ask, myRun);
    showCode(session);
    await follow(session, myRun);
  } catch (error) {
    if (error instanceof Superseded) return;
    console.warn("login failed", error);
    stop("failed", T.failed);
  }
}

/** Follows the session (pushed, reconnecting after network loss) and acts on each new status. */
async function follow(session, myRun) {
  let scanned = false;
  following = new AbortController();
  const answer = await followSession(session, {
    base: "/",
    signal: following.signal,
    onNetwork: showNetwork,
    onTransport: (name) => {
      root.dataset.transport = name;
    },
    onChange: ({ status, expires_in, user }) => {
      if (status === Status.WAITING || status === Status.SCANNED) startCountdown(expires_in);
      if (status === Status.SCANNED && !scanned) {
        scanned = true;
        idleCodes = 0;
        showPerson(user, T.scanned);
        setState("scanned", T.confirm_on_phone);
      }
    },
  });
  if (myRun !== run) throw new Superseded();
  if (AUTHORIZE && (answer.status === Status.CONFIRMED || answer.status === Status.DENIED)) {
    return handBack(session, answer.status === Status.CONFIRMED ? answer.code : null, myRun);
  }
  if (answer.status === Status.CONFIRMED) return logIn(session, answer.code, myRun);
  if (answer.status === Status.DENIED) return stop("denied", T.denied);
  return expired(scanned);
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

/** The provider's page: back to the site that asked, with the login's code or its denial (only this tab can). */
async function handBack(session, code, myRun) {
  hideCode();
  setState(code ? "going-back" : "denied", code ? root.dataset.goingBack : root.dataset.deniedBack);
  const done = await persist(() => postJSON("/authorize/complete", { cursor: session.cursor, code }), myRun);
  nextRun();
  location.replace(done.redirect_to); // replace: Back should not land on a spent login page
}

/**
 * Logged in: go on to the operator's page, or say so and offer to log out.
 * The token stays in this tab's sessionStorage, which the next page (same origin) reads;
 * it never goes into a URL, where logs, history and Referer headers would keep it.
 */
function loggedIn(user) {
  nextRun(); // nothing more to follow
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

if (AUTHORIZE || !(await resume())) newCode();
