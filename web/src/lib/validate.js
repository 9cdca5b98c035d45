// Checks a form runs before it sends, with the limits the API enforces (leadvibe/api: bounds.py, scoring_common.py,
// scoring_settings.py, orgs.py, ...), so a person reads what to fix beside the field instead of a refused request.
// Each check answers '' when the value is fine, else a sentence naming the field. The server still has the last
// word: a form keeps showing its answer when it refuses.

/** The API's integer range for weights, points, thresholds and scores (leadvibe/limits.py: ±10^9). */
export const INT_LIMIT = 1_000_000_000;
/** A level band whose top is the largest score there is reads "and above" (no upper bound). */
export const openEnded = (max) => max >= INT_LIMIT;
/** Names of OUs, rulesets, levels, segments, credentials and people: 1 to 100 characters. */
export const NAME_MAX = 100;
/** Session timeout in minutes (scoring_settings.py). */
export const SESSION_TIMEOUT = { min: 1, max: 1440 };

const EMAIL = /^[^@\s,;<>"]+@[^@\s,;<>"]+\.[^@\s,;<>"]+$/;
const fmt = (n) => n.toLocaleString('en-US', { maximumFractionDigits: 3 });
const blank = (v) => v === undefined || v === null || String(v).trim() === '';

/** A text that must not be blank: "Name is required"; longer than `max` characters says so. */
export function requiredText(value, label, { max = NAME_MAX } = {}) {
  if (blank(value)) return `${label} is required`;
  if (String(value).trim().length > max) return `${label} must be at most ${fmt(max)} characters`;
  return '';
}

/** A number within [min, max]; a whole number unless `whole` is false. Blank is fine unless `required`. */
export function numberIn(value, label, { min = -INT_LIMIT, max = INT_LIMIT, whole = true, required = true } = {}) {
  if (blank(value)) return required ? `${label} is required` : '';
  const n = Number(value);
  if (!Number.isFinite(n)) return `${label} must be a number`;
  if (whole && !Number.isInteger(n)) return `${label} must be a whole number`;
  if (n < min || n > max) {
    if (max >= INT_LIMIT && min > -INT_LIMIT) return `${label} must be at least ${fmt(min)}`;
    return `${label} must be between ${fmt(min)} and ${fmt(max)}`;
  }
  return '';
}

/** One email address, such as name@company.com. Blank is fine unless `required`. */
export function email(value, label = 'Email', { required = true } = {}) {
  if (blank(value)) return required ? `${label} is required` : '';
  const text = String(value).trim();
  if (!EMAIL.test(text) || text.length > 320) return `${label} must be an address such as name@company.com`;
  return '';
}

/** A person's password length (security/passwords.py). */
export const PASSWORD = { min: 8, max: 256 };

/** A password of 8 to 256 characters. Blank is fine unless `required` (an edit keeps the old one). */
export function password(value, label = 'Password', { required = true } = {}) {
  const text = String(value ?? '');
  if (!text) return required ? `${label} is required` : '';
  if (text.length < PASSWORD.min) return `${label} must be at least ${PASSWORD.min} characters`;
  if (text.length > PASSWORD.max) return `${label} must be at most ${PASSWORD.max} characters`;
  return '';
}

/** Comma-separated email addresses (blank is fine): names the first one that is not an address. */
export function emailList(value, label = 'Email recipients') {
  const bad = String(value ?? '').split(',').map((s) => s.trim()).filter(Boolean).find((s) => email(s) !== '');
  return bad ? `${label}: "${bad}" is not an email address` : '';
}

/** A refusal of the server that names one of the form's fields (`webhook_url` refused: webhook URL must be http or
 * https) as a message for that field, in the form's words ("Webhook URL must be http or https"); null when it names
 * none of them. `fields`: [{ key, label, what? }]. */
export function fieldFromError(message, fields) {
  const found = /^`([A-Za-z_]+)`\s+(.*)$/s.exec(String(message ?? ''));
  const field = found && fields.find((f) => f.key === found[1]);
  if (!field) return null;
  // Other fields it names (`max_score`) in the form's words too.
  const said = inFormWords(found[2], fields);
  // "refused: webhook URL resolves to …" already names the field in words
  const text = said.startsWith('refused: ') ? said.slice(9) : `${fieldWords(field)} ${said}`;
  return { key: field.key, message: text.charAt(0).toUpperCase() + text.slice(1) };
}

/** A field's name in a sentence: its `what`, else its label without a hint in brackets ("Email recipients"). */
const fieldWords = (f) => f.what || f.label.replace(/\s*\([^)]*\)\s*$/, '');
/** "Webhook URL" inside a sentence reads "webhook URL": a word in capitals (an acronym) keeps them. */
const midSentence = (text) => (/^[A-Z][a-z]/.test(text) ? text[0].toLowerCase() + text.slice(1) : text);

/** A server sentence in the form's words: each backticked API field name it holds (`webhook_url`) becomes that
 * field's name as the form labels it ("webhook URL"); a name the form does not show stays as it is.
 * `fields`: [{ key, label, what? }]. */
export function inFormWords(message, fields) {
  return String(message ?? '').replace(/`([A-Za-z_]+)`/g, (whole, key) => {
    const field = (fields || []).find((f) => f.key === key);
    return field ? midSentence(fieldWords(field)) : whole;
  });
}

/** The failing checks of a form: { field: message } without the passing ones (empty when all pass). */
export function failures(checks) {
  return Object.fromEntries(Object.entries(checks).filter(([, message]) => message));
}

/** Focus the first field marked invalid inside `root` (call once the messages are on the page). */
export function focusInvalid(root) {
  root?.querySelector('[aria-invalid="true"]')?.focus();
}

/** Attributes of a field with a problem: marked invalid and described by its message (element `id`), and by a
 * warning beside it (element `noteId`) when there is one. */
export function invalidAttrs(message, id, noteId = '') {
  const describedBy = [message ? id : '', noteId].filter(Boolean).join(' ');
  return { ...(message ? { 'aria-invalid': 'true' } : {}), ...(describedBy ? { 'aria-describedby': describedBy } : {}) };
}

/**
 * A warning, not a refusal (the API takes it for segments): "Another segment is already called “Hot leads”" when another of
 * `items` (not the one edited, `id`) has the name `name`, whatever its case and outer spaces; else ''.
 */
export function sameName(name, items, { noun, idKey, id = undefined, nameKey = 'name' }) {
  const wanted = String(name ?? '').trim().toLowerCase();
  if (!wanted) return '';
  const other = (items || []).find((it) => it[idKey] !== id && String(it[nameKey] ?? '').trim().toLowerCase() === wanted);
  return other ? `Another ${noun} is already called “${String(other[nameKey]).trim()}”` : '';
}

/**
 * A refusal, for names the API keeps unique (a kind of levels: it answers 409, comparing them as `sameName` does):
 * "Another level is already called “Warm”: choose another name"; else ''.
 */
export function uniqueName(name, items, options) {
  const taken = sameName(name, items, options);
  return taken && `${taken}: choose another name`;
}

/**
 * A warning, not a refusal (the API takes overlapping bands): when the band [min, max] (an empty `max`: and above)
 * shares scores with other `items` (not the one edited, `id`), it names them, lowest first, and says which level a
 * shared score gets (the band that starts lowest, as the server decides); else ''. Levels are
 * `{ name, min_score, max_score }`, each written by `band(level)` ("20 – 59").
 */
export function overlappingBand(min, max, items, { idKey, id = undefined, band }) {
  if (blank(min) || !Number.isFinite(Number(min))) return '';
  const lo = Number(min);
  const hi = blank(max) ? INT_LIMIT : Number(max);
  if (!Number.isFinite(hi) || hi < lo) return '';
  const named = (items || []).filter((it) => it[idKey] !== id && it.min_score <= hi && lo <= it.max_score)
    .sort((a, b) => a.min_score - b.min_score).map((it) => `“${it.name}” (${band(it)})`);
  if (!named.length) return '';
  const list = named.length === 1 ? named[0] : `${named.slice(0, -1).join(', ')} and ${named.at(-1)}`;
  return `Overlaps ${list}: a score in more than one band gets the level that starts lowest`;
}
