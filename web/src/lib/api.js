// The API client: every call the dashboard makes goes through here. It adds the session token (Bearer) and the
// active OU (X-OU-ID), never sends or keeps cookies, and turns an error answer into an ApiError carrying the
// API's own `{"error"}` sentence, which screens show as a sentence (its first letter capitalized).

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the server could not be reached)
   * @param {string} message the API's sentence
   * @param {unknown} [details] validation details, when the API gave them
   */
  constructor(status, message, details) {
    super(sentence(message));
    this.name = 'ApiError';
    this.status = status;
    this.details = details;
  }
}

/** The API's sentences start in lower case ("lead not found"), to be quoted in logs; a screen shows a sentence. */
export function sentence(text) {
  return /^[a-z]/.test(text) ? text[0].toUpperCase() + text.slice(1) : text;
}

/**
 * `?a=1&m=x&m=y`: arrays repeat their key; null, undefined and '' are left out.
 * @param {Record<string, unknown> | undefined} params
 */
export function queryString(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) if (v !== undefined && v !== null && v !== '') q.append(key, String(v));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

/**
 * The sentence to show for a failed response: the API's `error`, with validation details when given.
 * @param {Response} response
 */
export async function errorFromResponse(response) {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // the body could not be read; the status line below still says what happened
  }
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === 'string') return new ApiError(response.status, body.error, body.details);
  } catch {
    // not JSON: fall through to the status
  }
  const reason = response.statusText || 'request failed';
  return new ApiError(response.status, `The server answered ${response.status} ${reason}.`);
}

/**
 * @param {{
 *   fetch?: typeof fetch,
 *   token: () => string | null,
 *   ou: () => string | null,
 *   onUnauthorized?: (error: ApiError) => void,
 *   onForbidden?: (error: ApiError) => void,
 * }} options  onForbidden: a signed-in call was refused (403), as when the caller's role changed since it was read
 */
export function createApi({ fetch: doFetch = (...a) => globalThis.fetch(...a), token, ou, onUnauthorized, onForbidden }) {
  /**
   * @param {string} method
   * @param {string} path
   * @param {{query?: Record<string, unknown>, body?: unknown, form?: FormData, headers?: Record<string, string>,
   *          as?: 'json' | 'text' | 'blob' | 'response', signal?: AbortSignal, ou?: string | null}} [options]
   */
  async function request(method, path, options = {}) {
    const headers = { Accept: 'application/json', ...(options.headers || {}) };
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    const unit = options.ou === undefined ? ou() : options.ou;
    if (unit) headers['X-OU-ID'] = unit;
    let body;
    if (options.form) body = options.form;
    else if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    let response;
    try {
      response = await doFetch(path + queryString(options.query), {
        method, headers, body, credentials: 'omit', signal: options.signal, cache: 'no-store',
      });
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new ApiError(0, 'The server cannot be reached. Check that LeadVibe is running, then try again.');
    }
    if (!response.ok) {
      const error = await errorFromResponse(response);
      // Only for the session still signed in: a request sent before a sign-out (or before another member signed
      // in) comes back 401 for a token already dropped, which says nothing about the session now.
      const current = t && t === token();
      if (response.status === 401 && current && onUnauthorized) onUnauthorized(error);
      if (response.status === 403 && current && onForbidden) onForbidden(error);
      throw error;
    }
    const as = options.as || 'json';
    if (as === 'response') return response;
    if (as === 'blob') return response.blob();
    if (as === 'text') return response.text();
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  return {
    request,
    get: (path, query, options) => request('GET', path, { ...options, query }),
    post: (path, body, options) => request('POST', path, { ...options, body }),
    put: (path, body, options) => request('PUT', path, { ...options, body }),
    patch: (path, body, options) => request('PATCH', path, { ...options, body }),
    del: (path, body, options) => request('DELETE', path, { ...options, body }),
  };
}

/**
 * Total count of a list that reports it in `X-Total-Count` (a lead's events) or in a `total` field.
 * @param {Response} response
 */
export function totalCount(response) {
  const header = response.headers.get('X-Total-Count');
  return header === null ? null : Number(header);
}
