// One `/stream` connection per tab, read with fetch() so it can carry the Authorization header. Screens
// subscribe to it: Live shows the messages, Leads and Overview refresh from them.
import { readSse } from './sse.js';

const KEEP = 500;

export const live = $state({ status: 'off', messages: [], received: 0 });

const listeners = new Set();
let current = null; // { controller, ou }
let seq = 0;

/** Call `fn(message)` for every message; returns the unsubscribe function. */
export function onStream(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function deliver(raw) {
  let data;
  try {
    data = JSON.parse(raw.data);
  } catch {
    data = { text: raw.data };
  }
  const message = { key: ++seq, type: raw.event, data, at: new Date() };
  live.received += 1;
  live.messages.unshift(message);
  if (live.messages.length > KEEP) live.messages.length = KEEP;
  for (const fn of listeners) fn(message);
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

async function run(controller, token, ou) {
  let retry = 3000;
  while (!controller.signal.aborted) {
    live.status = 'connecting';
    try {
      const response = await fetch(`/stream?ouId=${encodeURIComponent(ou)}`, {
        headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
        credentials: 'omit', cache: 'no-store', signal: controller.signal,
      });
      if (response.status === 401 || response.status === 403) {
        live.status = 'off';
        return;
      }
      if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
      live.status = 'live';
      await readSse(response.body, deliver, (ms) => { retry = ms; });
    } catch (err) {
      if (controller.signal.aborted) break;
    }
    if (controller.signal.aborted) break;
    live.status = 'reconnecting';
    await sleep(retry, controller.signal);
  }
  live.status = 'off';
}

/** Follow the stream of `ou` (replacing any earlier connection). */
export function connectStream(token, ou) {
  if (current && current.ou === ou && current.token === token) return;
  disconnectStream();
  const controller = new AbortController();
  current = { controller, ou, token };
  live.messages = [];
  run(controller, token, ou);
}

export function disconnectStream() {
  if (current) current.controller.abort();
  current = null;
  live.status = 'off';
}

/**
 * Calls `fn` at most once per `ms` while messages of the given types (and, given `match`, only those it accepts)
 * arrive: a screen refreshing its data from the stream without flooding the server during a burst.
 */
export function refreshOn(types, ms, fn, match = () => true) {
  let timer = null;
  let last = 0;
  const off = onStream((m) => {
    if (!types.includes(m.type) || timer || !match(m)) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      fn();
    }, wait);
  });
  return () => {
    off();
    if (timer) clearTimeout(timer);
  };
}
