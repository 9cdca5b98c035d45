// Which optional parts of the API this server has (profile/fit, segments, accounts, sample data), read from
// the OpenAPI document it serves, so panels appear exactly where their endpoints exist.
import { api } from './session.svelte.js';

export const features = $state({ loaded: false, paths: {} });

// Path parameters compare by position, not name: `/leads/{leadID}/profile` is `/leads/{lead_id}/profile`.
const shape = (path) => path.replace(/\{[^}]+\}/g, '{}');

export async function loadFeatures() {
  if (features.loaded) return;
  try {
    const doc = await api.get('/schema/openapi.json', undefined, { ou: null });
    features.paths = Object.fromEntries(Object.entries(doc.paths || {}).map(([p, ops]) => [shape(p), ops]));
  } catch {
    features.paths = {};
  }
  features.loaded = true;
}

/** True when the server documents `method` on `path` (e.g. has('post', '/admin/seed')). */
export function has(method, path) {
  const ops = features.paths[shape(path)];
  return Boolean(ops && ops[method.toLowerCase()]);
}
