// Where focus goes when what held it goes away: a new screen (a link followed, Back, signing in) or a dialog whose
// opener was removed meanwhile (the row just deleted). Left on <body>, a keyboard user starts again from the top of
// the page and a screen reader says nothing of what changed.

/** Focus an element that is not a Tab stop of its own (a heading, a list) without making it one. */
function focusTarget(el) {
  if (!el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
  el.focus();
}

let waiting = null; // the previous screen's wait for its heading, stopped when another screen comes

/**
 * After a route change: the screen's main heading (h1). A record's screen (a lead, an account) names it only once
 * loaded, so <main> holds focus until the heading appears, and gives it over then unless the user has moved on.
 */
export function focusScreen(main, { wait = 10000 } = {}) {
  waiting?.();
  waiting = null;
  if (!main) return;
  const heading = main.querySelector('h1');
  if (heading) return focusTarget(heading);
  main.focus();
  const observer = new MutationObserver(() => {
    const h = main.querySelector('h1');
    if (!h) return;
    const stillWaiting = document.activeElement === main;
    waiting();
    if (stillWaiting) focusTarget(h);
  });
  const timer = setTimeout(() => waiting?.(), wait);
  waiting = () => { observer.disconnect(); clearTimeout(timer); waiting = null; };
  observer.observe(main, { childList: true, subtree: true });
}

/** The part of the page an opener sits in (a list's card), remembered while a dialog is open. */
export function placeOf(opener) {
  return opener?.closest?.('section, .card, main') || null;
}

/**
 * After a dialog closes: the browser returns focus to its opener, but when that is gone (its row deleted) focus
 * falls to <body>; it goes to the heading of the list the opener was in instead, else the screen's.
 */
export function refocusAfterDialog(opener, place) {
  const active = document.activeElement;
  if (active && active !== document.body) return;
  if (opener?.isConnected) return opener.focus();
  const scope = [place, document.getElementById('main')].find((el) => el?.isConnected);
  if (!scope) return;
  focusTarget(scope.querySelector('h1, h2') || scope);
}

/** Before a control takes itself off the page (it replaces what it sat in): focus the part of the page it sits in,
 * so a keyboard user goes on from there and a screen reader reads what came instead. */
export function focusPlaceOf(control) {
  const place = placeOf(control);
  if (place) focusTarget(place);
}
