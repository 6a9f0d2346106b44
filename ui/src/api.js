// The editor's client of the API under /-/api/: a session cookie authenticates every call
// and state-changing calls carry the session's CSRF token.

let csrf = "";

export function setCSRF(token) {
  csrf = token || "";
}

// APIError is a failed API call: its message is the server's, status the HTTP status and
// data the decoded body (problems of a refused commit, for example).
export class APIError extends Error {
  constructor(message, status, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path.startsWith("/") ? path : "/-/api/" + path, init);
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const msg = (data && data.error) || (typeof data === "string" && data.trim()) || res.statusText;
    throw new APIError(msg, res.status, data);
  }
  return data;
}

// Files travel as base64. Text is what decodes as UTF-8; anything else stays bytes.

export function decodeFile(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  try {
    return { b64, text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return { b64, text: null };
  }
}

export function encodeText(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}
