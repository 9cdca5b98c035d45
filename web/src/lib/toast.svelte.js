// Short confirmations and failures in the page corner, read out by screen readers.
import { untrack } from 'svelte';

export const toasts = $state([]);
let next = 0;

export function toast(text, tone = 'ok') {
  const id = ++next;
  // Untracked: pushing reads the list's length, and an effect that calls toast() would otherwise depend on the
  // list it grows and run again at once, without end (a session's end flooded the page with notices).
  untrack(() => toasts.push({ id, text, tone }));
  setTimeout(() => {
    const i = toasts.findIndex((t) => t.id === id);
    if (i >= 0) toasts.splice(i, 1);
  }, tone === 'error' ? 8000 : 4000);
}

/** Run an action, toast its outcome; returns true when it worked. */
export async function attempt(action, success) {
  try {
    await action();
    if (success) toast(success);
    return true;
  } catch (err) {
    toast(err?.message || String(err), 'error');
    return false;
  }
}
