// The OU's Slack workspace for the screens that name channels and people: read once, only when Slack is connected.
import { api } from './session.svelte.js';
import { slackList, slackPeople } from './slack.js';

/**
 * `{ connected, ready, channels, people }`, filled as the reads come back: `ready` once both lists were read or
 * failed (then they stay empty and ids are shown as they are). `people`: `slackPeople`'s, by name.
 */
export function slackDirectory() {
  const state = $state({ connected: false, ready: false, channels: [], people: [] });
  const get = (path, query) => api.get(path, query);
  (async () => {
    try {
      if (!(await api.get('/settings/slack'))?.connected) return;
      state.connected = true;
      const [channels, users] = await Promise.allSettled([
        slackList(get, '/settings/slack/channels', 'channels'), slackList(get, '/settings/slack/users', 'members')]);
      if (channels.status === 'fulfilled') state.channels = channels.value.channels;
      if (users.status === 'fulfilled') state.people = slackPeople(users.value.members);
    } catch {
      // Without the status, no names: targets are shown by their ids.
    } finally {
      state.ready = true;
    }
  })();
  return state;
}
