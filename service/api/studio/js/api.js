// The public API, as any client sees it: every request carries the user's key.

const KEY_STORAGE = "ganforge.apiKey";
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

export const apiKey = {
  get: () => localStorage.getItem(KEY_STORAGE) || "",
  set: (value) => (value ? localStorage.setItem(KEY_STORAGE, value) : localStorage.removeItem(KEY_STORAGE)),
};

export const isTerminal = (job) => TERMINAL.has(job.status);

/** An answer other than 2xx; `problem` is the RFC 9457 body when the API sent one. */
export class ApiError extends Error {
  constructor(status, problem) {
    const detail = typeof problem === "object" && problem ? problem.detail || problem.title : problem;
    super(`${status}: ${detail || "request failed"}`);
    this.status = status;
    this.problem = typeof problem === "object" ? problem : null;
  }
}

function headers(extra = {}) {
  const result = new Headers(extra);
  const key = apiKey.get();
  if (key) result.set("Authorization", `Bearer ${key}`);
  return result;
}

/** fetch() with the key; `json` or `form` is the body, `wait` asks for `Prefer: wait=N`. */
export async function request(method, path, { json, form, wait, signal } = {}) {
  const sent = headers();
  let body;
  if (json !== undefined) {
    sent.set("Content-Type", "application/json");
    body = JSON.stringify(json);
  } else if (form) {
    body = form; // the browser writes the multipart boundary
  }
  if (wait) sent.set("Prefer", `wait=${wait}`);
  const answer = await fetch(path, { method, headers: sent, body, signal });
  const type = answer.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await answer.json() : await answer.text();
  if (!answer.ok) throw new ApiError(answer.status, data);
  return data;
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, options) => request("POST", path, options);

const blobUrls = new Map();

/** An object URL for an image behind the key (an <img src> cannot send headers). */
export async function blobUrl(path) {
  if (!blobUrls.has(path)) {
    const answer = await fetch(path, { headers: headers() });
    if (!answer.ok) throw new ApiError(answer.status, await answer.text());
    blobUrls.set(path, URL.createObjectURL(await answer.blob()));
  }
  return blobUrls.get(path);
}

/**
 * A job's Server-Sent Events as {event, data, id}. EventSource cannot send the key, so this
 * reads the stream with fetch() and parses the lines itself.
 */
export async function* events(jobId, { signal, after } = {}) {
  const sent = headers({ Accept: "text/event-stream" });
  if (after) sent.set("Last-Event-ID", after); // resume: the API replays what came after it
  const answer = await fetch(`/jobs/${jobId}/events`, { headers: sent, signal });
  if (!answer.ok) throw new ApiError(answer.status, await answer.text());
  const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let message = { event: "message", data: [], id: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r?\n/);
    buffer = lines.pop(); // a partial line waits for the next chunk
    for (const line of lines) {
      if (line === "") { // a blank line ends an event
        if (message.data.length) yield { event: message.event, id: message.id, data: JSON.parse(message.data.join("\n")) };
        message = { event: "message", data: [], id: null };
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") message.event = text;
        else if (field === "data") message.data.push(text);
        else if (field === "id") message.id = text;
      }
    }
  }
}

/** The finished job: as answered when already terminal, else from its event stream's `end`. */
export async function finished(job) {
  if (isTerminal(job)) return job;
  for await (const { event, data } of events(job.id)) {
    if (event === "end") return data;
  }
  return get(`/jobs/${job.id}`);
}

/** A readable line for an error, with each failing field of a validation problem. */
export function describe(error) {
  const fields = error.problem?.errors?.map((e) => `${e.field}: ${e.message}`) || [];
  return [error.message, ...fields].join("\n");
}
