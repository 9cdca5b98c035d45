// The conditions of profile, account and segment rules (SEMANTICS §6), in words a marketer reads.
import { requiredText } from './validate.js';

/** The API's limits on a condition (api/condition_fields.py): a property name, a comparison value. */
export const PROPERTY_MAX = 200;
export const VALUE_MAX = 1000;

export const CONDITIONS = [
  ['equals', 'equals'], ['not_equals', 'does not equal'], ['contains', 'contains'],
  ['not_contains', 'does not contain'], ['starts_with', 'starts with'], ['ends_with', 'ends with'],
  ['greater_than', 'is greater than'], ['less_than', 'is less than'], ['in', 'is one of'],
  ['exists', 'has a value'], ['not_exists', 'has no value'],
];

const WORDS = Object.fromEntries(CONDITIONS);

/** True when the condition ignores its comparison value. */
export const valueless = (condition) => condition === 'exists' || condition === 'not_exists';

/**
 * What the API would refuse in one segment rule, checked before sending: `{ field, value }`, each '' when fine.
 * An event condition tests a field of the event, so it needs one as much as a lead condition needs a property.
 */
export function conditionProblems(rule) {
  const field = requiredText(rule.field_name, rule.rule_type === 'event_metadata' ? 'Event field' : 'Property',
    { max: PROPERTY_MAX });
  if (valueless(rule.operator)) return { field, value: '' };
  const text = String(rule.value ?? '');
  let value = '';
  if (rule.operator === 'in') {
    if (!text.split(',').some((item) => item.trim())) value = 'List at least one value, such as software, fintech';
  } else if (!text.trim()) value = 'Value is required';
  if (!value && text.length > VALUE_MAX) value = `Value must be at most ${VALUE_MAX.toLocaleString('en-US')} characters`;
  return { field, value };
}

/** "industry is one of software, fintech", "phone has a value". */
export function conditionText(property, condition, value) {
  const op = WORDS[String(condition || '').toLowerCase()] || String(condition || '').replaceAll('_', ' ');
  return valueless(condition) ? `${property} ${op}` : `${property} ${op} ${value ?? ''}`.trim();
}

/**
 * A segment rule as a sentence: "has a page_view event whose page starts with /pricing". `typeName` names the
 * event type (lib/eventTypeNames.svelte.js: its name in the OU); by default as the rule spells it.
 */
export function segmentRuleText(rule, typeName = (t) => t) {
  const condition = conditionText(rule.field_name, rule.operator, rule.value);
  if (rule.rule_type !== 'event_metadata') return condition;
  return `has ${rule.event_type ? `a ${typeName(rule.event_type)}` : 'an'} event whose ${condition}`;
}

/**
 * Segment rules grouped as the server combines them: AND (or OR) inside a group, OR across groups.
 * @returns {{ group: number, op: string, rules: object[] }[]}
 */
export function ruleGroups(rules) {
  const groups = new Map();
  for (const r of [...rules].sort((a, b) => (a.logic_group - b.logic_group) || (a.order_index - b.order_index))) {
    const g = r.logic_group ?? 0;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(r);
  }
  return [...groups].map(([group, list]) => ({ group, op: groupOp(list), rules: list }));
}

const isOr = (r) => String(r.logic_op).toUpperCase() === 'OR';

/**
 * A group's AND/OR as the server reads it: OR when an active rule says OR. A group whose rules are all switched
 * off still has the mode its rules were saved with (the editor sends one logic_op to every rule of a group), so
 * unticking every condition and ticking them again keeps "any of these" instead of falling back to AND.
 */
function groupOp(list) {
  const active = list.filter((r) => r.active !== false);
  return (active.length ? active : list).some(isOr) ? 'OR' : 'AND';
}

/** True when no rule of the segment is switched on: the server then counts and lists nobody (it answers 422). */
export const allRulesOff = (rules) => !rules.some((r) => r.active !== false);

/**
 * The editor's groups as the API's rules, in the order shown: group by group, each rule with the group's
 * logic_op. order_index counts across the whole segment (never restarting at 0 in a later group): the server
 * replaces an order_index of 0 with the rule's place in the request, so a second group's first rule numbered 0
 * would sort after its own second rule.
 */
export function rulesFromGroups(groups) {
  let order = 0;
  return groups.flatMap((g, gi) => g.rules.map((r) => ({
    rule_id: r.rule_id, rule_type: r.rule_type, field_name: r.field_name.trim(), operator: r.operator,
    value: valueless(r.operator) ? null : r.value,
    event_type: r.rule_type === 'event_metadata' ? (r.event_type.trim() || null) : null,
    logic_group: gi, logic_op: g.op, order_index: order++, active: r.active !== false,
  })));
}
