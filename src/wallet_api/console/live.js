// The event stream read with fetch(), so the key travels as a bearer header (EventSource cannot
// send one) and never in a URL. Parses Server-Sent Events and resumes with Last-Event-ID.
import { ApiError, apiUrl, getJson, refusal, requestHeaders } from "./api.js";

const RETRY_MS = 1000;
// How many events before the newest the feed shows when the page opens.
const CONTEXT_EVENTS = 20;

async function hasEventsAfter(sequence) {
  const page = await getJson("/api/v1/events", { after: sequence, limit: 1 });
  return page.items.length > 0;
}

// The newest event's sequence, found by doubling then halving with one-event pages: a few dozen
// small requests even for billions of events, instead of replaying the feed from its start.
export async function newestSequence() {
  if (!(await hasEventsAfter(0))) return 0;
  let low = 0;
  let high = 1;
  while (await hasEventsAfter(high)) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await hasEventsAfter(middle)) low = middle;
    else high = middle;
  }
  return high;
}

function parseBlock(block) {
  const event = { id: null, type: "message", data: "" };
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") event.id = value;
    else if (field === "event") event.type = value;
    else if (field === "data") data.push(value);
  }
  event.data = data.join("\n");
  return data.length ? event : null;
}

export class EventStream {
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.controller = null;
  }

  start() {
    this.stop();
    this.controller = new AbortController();
    this.run(this.controller.signal);
  }

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  async run(signal) {
    while (!signal.aborted) {
      try {
        await this.follow(signal);
        this.onState("Stream closed; reconnecting.");
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
          this.onState("Stopped.", error);
          return;
        }
        this.onState("Disconnected; reconnecting.", error);
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  async follow(signal) {
    if (this.lastId === null) {
      this.lastId = String(Math.max(0, (await newestSequence()) - CONTEXT_EVENTS));
    }
    const extra = { Accept: "text/event-stream" };
    extra["Last-Event-ID"] = this.lastId;
    const response = await fetch(apiUrl("/api/v1/events/stream"), {
      headers: requestHeaders(extra),
      cache: "no-store",
      signal,
    });
    if (!response.ok) throw await refusal(response);
    this.onState("Connected.");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const event = parseBlock(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event) {
          if (event.id !== null) this.lastId = event.id;
          this.onEvent(event.type, JSON.parse(event.data));
        }
        end = buffer.indexOf("\n\n");
      }
    }
  }
}
