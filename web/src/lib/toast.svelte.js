// Short confirmations and failures in the page corner, read out by screen readers.
export const toasts = $state([]);
let next = 0;

export function toast(text, tone = 'ok') {
  const id = ++next;
  toasts.push({ id, text, tone });
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
