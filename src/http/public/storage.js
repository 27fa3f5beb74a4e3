// Browser storage, which may throw (disabled cookies, private modes): the page then works
// without remembering.

/** The value kept under `key` in `area` (`localStorage` or `sessionStorage`), or undefined. */
export function remembered(area, key) {
  try {
    return window[area].getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Keeps `value` under `key` in `area`; an empty or missing value forgets it. */
export function remember(area, key, value) {
  try {
    if (value) window[area].setItem(key, value);
    else window[area].removeItem(key);
  } catch {
    // Not remembered: the page goes on without.
  }
}
