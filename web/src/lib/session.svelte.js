// Who is signed in, in which OU, with which role. The token lives in sessionStorage (this tab only, gone when
// the tab closes) and in memory; never in a cookie. The active OU is sent as X-OU-ID on every call.
import { createApi } from './api.js';

const TOKEN_KEY = 'leadvibe.token';
const OU_KEY = 'leadvibe.ou';
const RANK = { Viewer: 1, Operator: 2, Owner: 3 };

function stored(key) {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

function store(key, value) {
  try {
    if (value) sessionStorage.setItem(key, value);
    else sessionStorage.removeItem(key);
  } catch {
    // storage disabled: the session lasts as long as the page
  }
}

export const session = $state({
  token: stored(TOKEN_KEY),
  me: null,
  organization: null,
  units: [],
  ou: stored(OU_KEY),
  role: null,
  ready: false,
  expired: false,
});

export const api = createApi({
  token: () => session.token,
  ou: () => session.ou,
  onUnauthorized: () => {
    forget();
    session.expired = true;
  },
  // A refusal may mean the role this page read has changed since (someone demoted the member, or they did it
  // themselves): read the roles again, so the screens stop offering what the member may no longer do.
  onForbidden: () => { refreshRoles(); },
});

let rolesReadAt = 0;
/** Read the member's identity, OUs and roles again (at most every 2 seconds), as at sign-in: the active OU stays
 * while it is still theirs. */
export async function refreshRoles() {
  if (Date.now() - rolesReadAt < 2000) return;
  rolesReadAt = Date.now();
  try {
    await loadIdentity();
  } catch {
    // the refusal stands as it was shown; the roles are read again on the next one
  }
}

function forget() {
  session.token = null;
  session.me = null;
  session.units = [];
  session.role = null;
  store(TOKEN_KEY, null);
}

/** True when the member's role in the active OU is at least `role` (Viewer, Operator, Owner). */
export function can(role) {
  return (RANK[session.role] || 0) >= RANK[role];
}

/** Org admins manage members, OUs and the Slack app. */
export function isAdmin() {
  return session.me?.role === 'admin';
}

/** Make an OU active: the server checks the membership and answers the role in it. */
export async function chooseOu(unitId) {
  const active = await api.post('/org-units/active', { ouId: unitId }, { ou: null });
  session.ou = active.unit_id;
  session.role = active.role;
  store(OU_KEY, active.unit_id);
}

async function loadIdentity() {
  const [me, list] = await Promise.all([api.get('/me', undefined, { ou: null }),
    api.get('/org-units', undefined, { ou: null })]);
  session.me = me;
  session.organization = list.organization;
  session.units = list.units;
  const wanted = list.units.find((u) => u.unit_id === session.ou) || list.units[0];
  if (wanted) {
    // The list already says the role in each OU: no extra round trip before the first screen.
    session.ou = wanted.unit_id;
    session.role = wanted.role;
    store(OU_KEY, wanted.unit_id);
  } else {
    session.ou = null;
    session.role = null;
  }
}

/** On page load: resume the tab's session when its token still works. */
export async function restore() {
  try {
    if (session.token) await loadIdentity();
  } catch {
    forget();
  } finally {
    session.ready = true;
  }
}

export async function signIn(email, password) {
  const answer = await api.post('/auth/login', { email, password }, { ou: null });
  session.token = answer.token;
  session.expired = false;
  store(TOKEN_KEY, answer.token);
  try {
    await loadIdentity();
  } catch (err) {
    forget();
    throw err;
  }
}

export async function signOut() {
  try {
    await api.post('/auth/logout', undefined, { ou: null });
  } catch {
    // the token is dropped here whatever the server says
  }
  forget();
  // The OU chosen goes too: the next member to sign in in this tab may not have it (a session that ended keeps it,
  // for the same member signing in again).
  session.ou = null;
  store(OU_KEY, null);
}

/** Reload the OU list (after creating or renaming one). */
export async function refreshUnits() {
  const list = await api.get('/org-units', undefined, { ou: null });
  session.units = list.units;
  session.organization = list.organization;
}
