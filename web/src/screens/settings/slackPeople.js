// The people of a Slack workspace a notification can go to, from `users.list` (GET /settings/slack/users).

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
