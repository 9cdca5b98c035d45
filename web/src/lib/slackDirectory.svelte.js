// The OU's Slack workspace for the screens that name channels and people: read once, only when Slack is connected.
import { api } from './session.svelte.js';
import { slackList, slackPeople } from './slack.js';

/**
 * `{ connected, ready, channels, people, errors }`, filled as the reads come back: `ready` once both lists were
 * read or failed (a failed one stays empty, ids are shown as they are, and `errors.channels` / `errors.people`
 * hold the API's sentence). `people`: `slackPeople`'s, by name.
 */
export function slackDirectory() {
  const state = $state({ connected: false, ready: false, channels: [], people: [], errors: { channels: '', people: '' } });
  const get = (path, query) => api.get(path, query);
  (async () => {
    try {
      if (!(await api.get('/settings/slack'))?.connected) return;
      state.connected = true;
      const [channels, users] = await Promise.allSettled([
        slackList(get, '/settings/slack/channels', 'channels'), slackList(get, '/settings/slack/users', 'members')]);
      if (channels.status === 'fulfilled') state.channels = channels.value.channels;
      else state.errors.channels = channels.reason?.message || String(channels.reason);
      if (users.status === 'fulfilled') state.people = slackPeople(users.value.members);
      else state.errors.people = users.reason?.message || String(users.reason);
    } catch {
      // Without the status, no names: targets are shown by their ids.
    } finally {
      state.ready = true;
    }
  })();
  return state;
}
