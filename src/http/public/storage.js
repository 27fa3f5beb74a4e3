// Browser storage, which may throw (disabled cookies, private modes): the page then works
// without remembering.

/**
 * Which of the window's storages: `localStorage` (kept across visits) or `sessionStorage` (this
 * tab's session only). Reading either property may itself throw, so it is read inside the try.
 * @typedef {'localStorage' | 'sessionStorage'} StorageArea
 */

/**
 * The value kept under `key` in `area`, or undefined.
 * @param {StorageArea} area
 * @param {string} key
 * @returns {string | undefined}
 */
export function remembered(area, key) {
  try {
    return window[area].getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Keeps `value` under `key` in `area`; an empty or missing value forgets it.
 * @param {StorageArea} area
 * @param {string} key
 * @param {string | undefined} value
 */
export function remember(area, key, value) {
  try {
    if (value) window[area].setItem(key, value);
    else window[area].removeItem(key);
  } catch {
    // Not remembered: the page goes on without.
  }
}
