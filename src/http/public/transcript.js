// The transcript as people read it: the written form, or the words as heard in paragraphs (click
// one to play from there, the word being played highlighted), a copy button and downloads.
import { toSrt, toVtt } from './subtitles.js';

/** @typedef {import('./subtitles.js').Word} Word */

/**
 * The body of a /wav2vec2 success (a done job's `result`), as far as the page reads it; the page
 * copes with any field missing.
 * @typedef {object} TranscriptResult
 * @property {string} [transcript] The words as heard.
 * @property {string} [written] The written form (digits, dates, money).
 * @property {Word[]} [words]
 * @property {number} [duration] Seconds of audio.
 * @property {number} [processing_ms]
 * @property {string} [device]
 */

/** A result as the card shows it, with the name of the file it came from. @typedef {TranscriptResult & { name: string }} Shown */

/**
 * The transcript card's elements.
 * @typedef {object} TranscriptElements
 * @property {HTMLElement} result
 * @property {HTMLElement} meta
 * @property {HTMLElement} transcript
 * @property {HTMLElement} unsureLegend
 * @property {HTMLInputElement} showTimes
 * @property {HTMLInputElement} writtenForm
 * @property {HTMLButtonElement} copy
 * @property {HTMLAudioElement} player
 */

/**
 * What the card needs of the rest of the page.
 * @typedef {object} TranscriptHelpers
 * @property {typeof import('./i18n.js').t} t
 * @property {typeof import('./i18n.js').number} number
 * @property {(key: string, params?: import('./i18n.js').LabelParams) => void} say
 * @property {(code: string) => void} fail
 */

/** A pause at least this long between two words starts a new paragraph of the transcript. */
export const PARAGRAPH_PAUSE_SEC = 1.5;
/** Words the model heard with less confidence than this are marked as unsure. */
export const LOW_CONFIDENCE = 0.6;

/**
 * Plain text, as the server's ?format=txt sends it.
 * @param {string} transcript
 * @returns {string}
 */
export function toTxt(transcript) {
  return `${transcript}\n`;
}

/** @type {Partial<Record<string, { build: (result: Shown, text: string) => string, type: string }>>} */
const DOWNLOADS = {
  txt: { build: (_result, text) => toTxt(text), type: 'text/plain;charset=utf-8' },
  srt: { build: (result) => toSrt(result.words ?? []), type: 'application/x-subrip;charset=utf-8' },
  vtt: { build: (result) => toVtt(result.words ?? []), type: 'text/vtt;charset=utf-8' },
};

/**
 * The transcript card. `el` holds its elements (result, meta, transcript, unsureLegend,
 * showTimes, writtenForm, copy, player); `say(key, params)` puts a label on the status line,
 * `fail(code)` shows an error, and `t` and `number` are i18n.js's.
 *
 * @param {TranscriptElements} el
 * @param {TranscriptHelpers} helpers
 */
export function transcriptView(el, { t, number, say, fail }) {
  /** @type {Shown | undefined} */
  let result;
  /** @type {string | undefined} */
  let audioUrl;
  /** @type {string | undefined} */
  let downloadUrl;
  /** @type {Element | undefined} */
  let currentSpan;

  /**
   * The text people read by default: the written form (digits, dates, money) when the server sent one.
   * @param {Shown} shown
   */
  const shownText = (shown) => (el.writtenForm.checked && typeof shown.written === 'string' ? shown.written : (shown.transcript ?? ''));

  function render() {
    if (!result) return;
    const words = Array.isArray(result.words) ? result.words : [];
    const fragment = document.createDocumentFragment();
    let unsure = 0;
    // The written form reads as plain text; the words as heard can be clicked to play from.
    const written = el.writtenForm.checked && typeof result.written === 'string' && result.written !== result.transcript ? result.written : undefined;
    if (written !== undefined) {
      const paragraph = document.createElement('p');
      paragraph.textContent = written;
      fragment.append(paragraph);
    } else if (words.length > 0 && words.map((w) => w.word).join(' ') === result.transcript) {
      // A new paragraph at each long pause; words the model was unsure of are marked.
      let paragraph = document.createElement('p');
      fragment.append(paragraph);
      words.forEach((word, i) => {
        if (i > 0 && word.start - words[i - 1].end >= PARAGRAPH_PAUSE_SEC) {
          paragraph = document.createElement('p');
          fragment.append(paragraph);
        } else if (i > 0) {
          paragraph.append(' ');
        }
        const span = document.createElement('span');
        span.className = 'word';
        span.textContent = word.word;
        span.dataset.index = String(i);
        span.dataset.time = wordTime(word.start);
        const confidence = typeof word.confidence === 'number' ? word.confidence : 1;
        span.title = `${word.start.toFixed(2)}–${word.end.toFixed(2)} s · ${Math.round(confidence * 100)}%`;
        if (confidence < LOW_CONFIDENCE) {
          span.classList.add('unsure');
          unsure++;
        }
        span.setAttribute('role', 'button');
        span.tabIndex = i === 0 ? 0 : -1;
        paragraph.append(span);
      });
    } else if (result.transcript) {
      fragment.append(result.transcript);
    } else {
      const empty = document.createElement('span');
      empty.className = 'muted';
      empty.dataset.i18n = 'noSpeech';
      empty.textContent = t('noSpeech');
      fragment.append(empty);
    }
    el.transcript.replaceChildren(fragment);
    el.unsureLegend.hidden = unsure === 0;
    el.transcript.classList.toggle('show-times', el.showTimes.checked);
  }

  function renderMeta() {
    if (!result) return;
    el.meta.textContent = t('meta', {
      duration: number(result.duration ?? 0, 2),
      processing: number((result.processing_ms ?? 0) / 1000, 2),
      device: result.device ?? '?',
    });
  }

  /** @param {HTMLElement} span */
  function playFrom(span) {
    const word = result?.words?.[Number(span.dataset.index)];
    if (!word || !audioUrl) return;
    el.player.currentTime = word.start;
    void el.player.play().catch(() => undefined);
  }

  /** @param {HTMLElement} span */
  function focusWord(span) {
    for (const other of wordSpans('.word[tabindex="0"]')) other.tabIndex = -1;
    span.tabIndex = 0;
    span.focus();
  }

  /**
   * The word span that `node` is in, if any.
   * @param {EventTarget | null} node
   * @returns {HTMLElement | null}
   */
  const wordSpan = (node) => {
    const span = node instanceof window.Element ? node.closest('.word') : null;
    return span instanceof HTMLElement ? span : null;
  };

  /**
   * The transcript's word spans that match `selector` (the spans render() makes).
   * @param {string} selector
   */
  const wordSpans = (selector) => /** @type {NodeListOf<HTMLElement>} */ (el.transcript.querySelectorAll(selector));

  el.transcript.addEventListener('click', (event) => {
    const span = wordSpan(event.target);
    if (!span) return;
    focusWord(span);
    playFrom(span);
  });

  // One tab stop for the whole transcript; arrows move between words, Enter or Space plays.
  el.transcript.addEventListener('keydown', (event) => {
    const span = wordSpan(event.target);
    if (!span) return;
    const spans = wordSpans('.word');
    const index = Number(span.dataset.index);
    const moves = { ArrowRight: index + 1, ArrowDown: index + 1, ArrowLeft: index - 1, ArrowUp: index - 1, Home: 0, End: spans.length - 1 };
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      playFrom(span);
    } else if (Object.hasOwn(moves, event.key)) {
      event.preventDefault();
      const next = spans[Math.max(0, Math.min(spans.length - 1, moves[/** @type {keyof typeof moves} */ (event.key)]))];
      if (next) focusWord(next);
    }
  });

  // The word being played is highlighted.
  el.player.addEventListener('timeupdate', () => {
    const words = result?.words;
    if (!words?.length || el.result.hidden) return;
    const time = el.player.currentTime;
    let low = 0;
    let high = words.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (words[mid].start <= time) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    const span = found >= 0 && time <= words[found].end + 0.3 ? el.transcript.querySelector(`.word[data-index="${found}"]`) : null;
    if (span === currentSpan) return;
    currentSpan?.classList.remove('current');
    span?.classList.add('current');
    currentSpan = span ?? undefined;
  });

  el.showTimes.addEventListener('change', () => el.transcript.classList.toggle('show-times', el.showTimes.checked));
  el.writtenForm.addEventListener('change', render);

  el.copy.addEventListener('click', async () => {
    if (!result) return;
    try {
      await navigator.clipboard.writeText(shownText(result));
      say('copied');
    } catch {
      const range = document.createRange();
      range.selectNodeContents(el.transcript);
      // No selection only where the page is not shown (a hidden frame): nothing to copy from.
      const selection = window.getSelection();
      if (selection) {
        selection.removeAllRanges();
        selection.addRange(range);
      }
      if (selection && document.execCommand('copy')) say('copied');
      else fail('copy_failed');
    }
  });

  for (const button of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('[data-format]'))) {
    button.addEventListener('click', () => {
      const extension = button.dataset.format ?? '';
      const format = DOWNLOADS[extension];
      if (!result || !format) return;
      const base = result.name.replace(/\.[^.]+$/, '') || 'transcript';
      const name = `${base}.${extension}`;
      if (downloadUrl) URL.revokeObjectURL(downloadUrl);
      downloadUrl = URL.createObjectURL(new Blob([format.build(result, shownText(result))], { type: format.type }));
      const link = document.createElement('a');
      link.href = downloadUrl;
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      say('downloaded', { name });
    });
  }

  return {
    /**
     * Shows `shown` (the /wav2vec2 body, with the file's `name`) for the audio at `url`.
     * @param {Shown} shown
     * @param {string | undefined} url
     */
    show(shown, url) {
      result = shown;
      audioUrl = url;
      render();
      renderMeta();
      el.result.hidden = false;
      el.result.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    },
    hide() {
      el.result.hidden = true;
    },
    /** Says again what it says in the page's language. */
    translate: renderMeta,
  };
}

/**
 * A word's start as m:ss.s, fine enough to tell neighbouring words apart.
 * @param {number} seconds
 * @returns {string}
 */
function wordTime(seconds) {
  const tenths = Math.round(seconds * 10);
  const minutes = Math.floor(tenths / 600);
  const rest = (tenths % 600) / 10;
  return `${minutes}:${rest.toFixed(1).padStart(4, '0')}`;
}
