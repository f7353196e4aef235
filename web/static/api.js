// What both pages share: calling the JSON API, and the translated texts the server put in the page.

/** An answer of the API that is an error: `error` is its machine-readable code. */
export class ApiError extends Error {
  constructor(status, error, message) {
    super(message);
    this.status = status;
    this.error = error;
  }
}

/** Longest a call may take before it is given up as a network failure. */
const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * POSTs `body` as JSON and returns the JSON answer.
 * Throws ApiError for an error answer; a network failure or timeout throws whatever fetch throws.
 */
export function postJSON(path, body, { headers = {}, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  const init = { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) };
  return call(path, init, timeoutMs);
}

/** GETs `path` and returns the JSON answer; throws as postJSON does. */
export function getJSON(path, { headers = {}, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  return call(path, { method: "GET", headers }, timeoutMs);
}

async function call(path, init, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(path, { ...init, cache: "no-store", signal: controller.signal });
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError(response.status, answer?.error ?? "http_error", answer?.message ?? response.statusText);
    }
    return answer;
  } finally {
    clearTimeout(timer);
  }
}

/** The page's texts, in the person's language (a JSON block the server rendered). */
export function pageTexts() {
  return JSON.parse(document.getElementById("texts").textContent);
}

/** `template` with each `{name}` replaced by `values.name`; for textContent only, never HTML. */
export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
}

/** The element with this id. */
export const byId = (id) => document.getElementById(id);
