// A Slack workspace as names: its people and channels through the server's proxies of `users.list` and
// `conversations.list`, and a notification target ("channel:C1", "user:U2") said by name.

/**
 * Members who can receive a direct message, by name: no deactivated accounts, bots or Slackbot. Each as
 * `{ id, label }`, the label their full name and, when it differs, their handle ("Bo Berg (@bo)").
 */
export function slackPeople(members) {
  return (members || [])
    .filter((m) => m && m.id && !m.deleted && !m.is_bot && m.id !== 'USLACKBOT')
    .map((m) => {
      const name = m.profile?.real_name || m.real_name || m.name || m.id;
      const handle = m.profile?.display_name || m.name || '';
      return { id: m.id, label: handle && handle !== name ? `${name} (@${handle})` : name };
    })
    .sort((a, b) => a.label.localeCompare(b.label));
}

/**
 * Every page of a Slack list the server proxies (`/settings/slack/channels` -> `channels`, `/settings/slack/users`
 * -> `members`), following `next_cursor`, at most `pages` pages (5,000 entries at the 200 a page it asks for):
 * a workspace of many channels or people has them all offered. `get(path, query)`: the API's GET.
 */
export async function slackList(get, path, key, pages = 25) {
  const all = [];
  let cursor = '';
  for (let page = 0; page < pages; page += 1) {
    const body = await get(path, cursor ? { cursor } : undefined);
    all.push(...(body?.[key] || []));
    cursor = body?.response_metadata?.next_cursor || '';
    if (!cursor) break;
  }
  return { [key]: all };
}

/** A target written "kind:id" ("channel:C1", "user:U2") as `[kind, id]` (`['', '']` for none). */
export function parseSlackTarget(target) {
  const text = String(target ?? '');
  const at = text.indexOf(':');
  return at > 0 ? [text.slice(0, at), text.slice(at + 1)] : ['', ''];
}

/** A target the workspace's lists do not hold (a private channel, a person who left), said by its id. */
export function unlistedTargetLabel(kind, id) {
  return `${kind === 'user' ? 'Person' : 'Channel'} ${id}`;
}

/** A target as the deliveries name it ("channel:C1", "user:U2") by its channel's or person's name when the lists
 * hold it ("#sales", "Bo Berg (@bo)"), else as given. */
export function slackTargetName(target, channels = [], people = []) {
  const [kind, id] = parseSlackTarget(target);
  if (kind === 'channel') {
    const channel = channels.find((c) => c.id === id);
    if (channel) return `#${channel.name}`;
  }
  if (kind === 'user') {
    const person = people.find((p) => p.id === id);
    if (person) return person.label;
  }
  return String(target ?? '');
}
