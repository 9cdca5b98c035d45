// Client-side routes under /ui/. The server answers the app's page for any /ui/... path, so a deep link or a
// reload lands on the same screen.
import { readQuery, writeQuery, refinesTyping } from './query.js';

export const BASE = '/ui';

const ROUTES = [
  ['overview', /^\/?$/],
  ['leads', /^\/leads\/?$/],
  ['lead', /^\/leads\/(?<id>[^/]+)\/?$/],
  ['live', /^\/live\/?$/],
  ['events', /^\/events\/?$/],
  ['scoring', /^\/scoring(?:\/(?<tab>[a-z-]+))?\/?$/],
  ['triggers', /^\/triggers(?:\/(?<tab>[a-z-]+))?\/?$/],
  ['settings', /^\/settings(?:\/(?<tab>[a-z-]+))?\/?$/],
  ['segments', /^\/segments(?:\/(?<id>[^/]+))?\/?$/],
  ['accounts', /^\/accounts\/?$/],
  ['account', /^\/accounts\/(?<id>[^/]+)\/?$/],
];

function parse(location) {
  let path = location.pathname;
  if (path === BASE || path.startsWith(`${BASE}/`)) path = path.slice(BASE.length);
  else path = '/';
  for (const [name, pattern] of ROUTES) {
    const m = pattern.exec(path);
    if (m) {
      const params = {};
      for (const [k, v] of Object.entries(m.groups || {})) if (v !== undefined) params[k] = decodeURIComponent(v);
      return { name, params, query: new URLSearchParams(location.search) };
    }
  }
  return { name: 'missing', params: {}, query: new URLSearchParams(location.search) };
}

export const route = $state(parse(window.location));

/** The URL of a screen: href('/leads/ld_1') -> /ui/leads/ld_1 */
export function href(path, query) {
  const q = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null
    && v !== '')).toString() : '';
  return `${BASE}${path}${q ? `?${q}` : ''}`;
}

function apply() {
  Object.assign(route, parse(window.location));
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  apply();
  if (!replace) window.scrollTo(0, 0);
}

/** Keep a screen's filters in the address bar (without a history entry per keystroke). */
export function setQuery(values) {
  const q = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || v === null || v === '') q.delete(k);
    else q.set(k, String(v));
  }
  const text = q.toString();
  history.replaceState(null, '', `${window.location.pathname}${text ? `?${text}` : ''}`);
  route.query = new URLSearchParams(text);
}

export function startRouter() {
  // `/` and `/home` serve the same page; the app lives under /ui/.
  if (!window.location.pathname.startsWith(BASE)) history.replaceState(null, '', `${BASE}/`);
  apply();
  window.addEventListener('popstate', apply);
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target instanceof Element ? e.target.closest('a[href]') : null;
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, window.location.href);
    if (url.origin !== window.location.origin || !url.pathname.startsWith(`${BASE}/`)) return;
    // A link to a place on this page (#profile-title) is the browser's to follow: no navigation, no scroll to top.
    if (url.hash && url.pathname === window.location.pathname && url.search === window.location.search) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
}

/**
 * A list's filters, sort and page kept in the address: `values` (reactive, read from the address) and `commit()`,
 * which writes them into it as a new history entry, so Back returns to the previous page of results and a reload
 * or a shared link keeps them. Refining a search already typed replaces the entry instead (one per keystroke
 * would bury the previous page under letters). When Back or Forward brings other values for this screen,
 * `values` takes them and `onback()` runs (to reload the list).
 *
 * defaults: { key: default } (a number reads as a number, an array as a repeated parameter);
 * params: { key: parameter name } where they differ; typed: keys of free-text fields.
 */
export function listState(defaults, { params = {}, typed = [], onback = () => {} } = {}) {
  const path = window.location.pathname;
  const values = $state(readQuery(window.location.search, defaults, params));
  const typedNames = typed.map((k) => params[k] || k);

  function commit() {
    const before = window.location.search.replace(/^\?/, '');
    const after = writeQuery(before, values, defaults, params);
    if (after === before) return;
    const url = `${window.location.pathname}${after ? `?${after}` : ''}`;
    if (refinesTyping(before, after, typedNames)) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    route.query = new URLSearchParams(after);
  }

  function popped() {
    if (window.location.pathname !== path) return; // another screen: this one is going away
    Object.assign(values, readQuery(window.location.search, defaults, params));
    onback();
  }
  $effect(() => {
    window.addEventListener('popstate', popped);
    return () => window.removeEventListener('popstate', popped);
  });

  return { values, commit };
}
