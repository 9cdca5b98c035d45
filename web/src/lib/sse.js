// A server-sent events parser for streams read with fetch() (an EventSource cannot send the Authorization
// header). Follows the HTML standard's event-stream rules: lines end with LF, CRLF or CR (Litestar's own
// ServerSentEvent ends them with CRLF, our stream hub with LF), `:` starts a comment, a blank line dispatches.

/**
 * Incremental parser: feed it text as it arrives, in chunks cut anywhere.
 * @param {(msg: {event: string, data: string, id: string}) => void} onMessage
 * @param {(ms: number) => void} [onRetry] called with a `retry:` value
 */
export function createSseParser(onMessage, onRetry) {
  let buffer = '';
  let pendingCR = false; // the last chunk ended with CR: a following LF belongs to the same line break
  let data = [];
  let event = '';
  let lastId = '';

  function line(text) {
    if (text === '') {
      if (data.length) onMessage({ event: event || 'message', data: data.join('\n'), id: lastId });
      data = [];
      event = '';
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) lastId = value;
    else if (field === 'retry' && /^\d+$/.test(value) && onRetry) onRetry(Number(value));
  }

  return {
    /** @param {string} chunk */
    feed(chunk) {
      if (pendingCR && chunk.startsWith('\n')) chunk = chunk.slice(1);
      pendingCR = false;
      buffer += chunk;
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer[i];
        if (c !== '\n' && c !== '\r') continue;
        line(buffer.slice(start, i));
        if (c === '\r') {
          if (i + 1 === buffer.length) pendingCR = true;
          else if (buffer[i + 1] === '\n') i++;
        }
        start = i + 1;
      }
      buffer = buffer.slice(start);
    },
  };
}

/**
 * Read an SSE response body to its end, calling onMessage for each message.
 * @param {ReadableStream<Uint8Array>} body
 * @param {(msg: {event: string, data: string, id: string}) => void} onMessage
 * @param {(ms: number) => void} [onRetry]
 */
export async function readSse(body, onMessage, onRetry) {
  const parser = createSseParser(onMessage, onRetry);
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    parser.feed(value);
  }
}
