// Loading state for one API read: a screen renders `loading`, `error` (the API's sentence) or `data`.

/**
 * @template T
 * @param {() => Promise<T>} load
 * @param {{ keep?: boolean }} [options] keep: show the old data while reloading (no flicker on live refresh)
 */
export function resource(load, options = {}) {
  let generation = 0;
  const state = $state({
    loading: true,
    error: null,
    // The HTTP status of the failed read (0: the server was not reached; null: no failure).
    status: /** @type {number | null} */ (null),
    data: /** @type {T | null} */ (null),
    async reload(quiet = false) {
      const mine = ++generation;
      if (!quiet || !options.keep) state.loading = !quiet || state.data === null;
      try {
        const data = await load();
        if (mine !== generation) return;
        state.data = data;
        state.error = null;
        state.status = null;
      } catch (err) {
        if (mine !== generation || err?.name === 'AbortError') return;
        state.error = err?.message || String(err);
        state.status = typeof err?.status === 'number' ? err.status : null;
      } finally {
        if (mine === generation) state.loading = false;
      }
    },
  });
  return state;
}
