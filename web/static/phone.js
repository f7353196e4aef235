// The phone page: scan the session with the app's credential, show who asks, then confirm or deny.
import { ApiError, byId, fill, pageTexts, postJSON } from "./api.js";

/** Where the app's credential is kept once taken from the URL (this tab only). */
const CREDENTIAL_KEY = "qrlogin.credential";
/** Errors after which nothing on this page can succeed any more. */
const FINAL_ERRORS = new Set(["session_not_found", "invalid_state", "user_mismatch"]);

const T = pageTexts();
const root = byId("phone");
const uuid = root.dataset.uuid;
const pick = byId("pick"); // demo mode only
const ask = byId("ask");
const question = byId("question");
const message = byId("message");
const buttons = [...document.querySelectorAll("#phone button")];

let credential = takeCredential();

/**
 * The app's credential: the app opens this page with `#token=<its access token>`.
 * A fragment is never sent to a server nor in a Referer; we also take it out of the address bar and history.
 */
function takeCredential() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) {
    sessionStorage.setItem(CREDENTIAL_KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(CREDENTIAL_KEY);
}

function setState(state, text) {
  root.dataset.state = state;
  message.textContent = text;
}

function busy(on) {
  for (const button of buttons) button.disabled = on;
}

/** Calls an app action on this session; on failure says why and returns null. */
async function act(path) {
  busy(true);
  try {
    return await postJSON(path, { uuid }, { headers: { Authorization: `Bearer ${credential}` } });
  } catch (error) {
    const code = error instanceof ApiError ? error.error : "";
    if (FINAL_ERRORS.has(code)) {
      if (pick) pick.hidden = true;
      ask.hidden = true;
    }
    setState("error", T[code] || T.failed);
    return null;
  } finally {
    busy(false);
  }
}

/** "Chrome 131 on Windows", or a sentence that reads naturally when either part is not known. */
function describeAgent({ browser, os }) {
  if (browser && os) return fill(T.browser_on_os, { browser, os });
  if (browser) return fill(T.browser_only, { browser });
  if (os) return fill(T.os_only, { os });
  return T.unknown;
}

/**
 * The demo credential for `name`: a header carries only Latin-1 and a Bearer token only token68,
 * so a name like 张伟 goes as base64url of its UTF-8 ("demo64:"); plain names stay readable.
 */
function demoCredential(name) {
  if (/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) return `demo:${name}`;
  const bytes = new TextEncoder().encode(name);
  const base64 = btoa(String.fromCharCode(...bytes));
  return `demo64:${base64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

function showRequester(requester, user) {
  byId("agent").textContent = describeAgent(requester);
  byId("ip").textContent = requester.ip || T.not_given;
  byId("ua").textContent = requester.user_agent || T.not_given;
  const when = byId("when");
  when.dateTime = requester.created_at;
  when.textContent = new Date(requester.created_at).toLocaleString(document.documentElement.lang);
  question.textContent = fill(T.ask, { name: user.name || user.sub });
}

async function scan() {
  setState("checking", T.checking);
  const answer = await act("/scan");
  if (!answer) return;
  if (pick) pick.hidden = true;
  showRequester(answer.requester, answer.user);
  ask.hidden = false;
  setState("asking", "");
  question.focus();
}

async function decide(path, state) {
  const answer = await act(path);
  if (!answer) return;
  ask.hidden = true;
  setState(state, T[state]);
}

byId("confirm").addEventListener("click", () => decide("/confirm", "confirmed"));
byId("deny").addEventListener("click", () => decide("/cancel", "denied"));

if (credential) {
  scan();
} else if (pick) {
  pick.hidden = false;
  setState("picking", "");
  pick.addEventListener("submit", (event) => {
    event.preventDefault();
    credential = demoCredential(pick.elements.who.value);
    scan();
  });
} else {
  setState("need-app", T.missing_credential);
}
