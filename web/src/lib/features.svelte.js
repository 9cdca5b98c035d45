// Which optional parts of the API this server has (profile/fit, segments, accounts, sample data), read from
// the OpenAPI document it serves, so panels appear exactly where their endpoints exist.
import { api } from './session.svelte.js';

export const features = $state({ loaded: false, paths: {} });

// Path parameters compare by position, not name: `/leads/{leadID}/profile` is `/leads/{lead_id}/profile`.
const shape = (path) => path.replace(/\{[^}]+\}/g, '{}');

let pending = null;

/** Read the server's OpenAPI document once; screens that show optional parts ask for it as they open. */
export function loadFeatures() {
  if (features.loaded) return Promise.resolve();
  pending ||= api.get('/schema/openapi.json', undefined, { ou: null }).then(
    (doc) => { features.paths = Object.fromEntries(Object.entries(doc.paths || {}).map(([p, ops]) => [shape(p), ops])); },
    () => { features.paths = {}; },
  ).finally(() => { features.loaded = true; pending = null; });
  return pending;
}

/** True when the server documents `method` on `path` (e.g. has('post', '/admin/seed')). */
export function has(method, path) {
  const ops = features.paths[shape(path)];
  return Boolean(ops && ops[method.toLowerCase()]);
}
