import { ArpaModel, BOS, EOS, UNK, UNKNOWN_LOG10, formatArpa } from './arpa.js';
import { corpusWords } from './lm/corpus-words.js';

/** The three discounts of modified Kneser–Ney: for n-grams seen once, twice, three times or more. */
export interface Discounts {
  d1: number;
  d2: number;
  d3: number;
}

/**
 * What an order falls back to when its count-of-counts give no valid discounts (a tiny corpus):
 * KenLM's `lmplz --discount_fallback` defaults.
 */
export const FALLBACK_DISCOUNTS: Readonly<Discounts> = Object.freeze({ d1: 0.5, d2: 1, d3: 1.5 });

/**
 * Chen & Goodman's estimates from count-of-counts `t[k-1]` = how many n-grams of one order have
 * (adjusted) count exactly k, k = 1..4:
 * Y = t1 / (t1 + 2 t2), D1 = 1 − 2Y t2/t1, D2 = 2 − 3Y t3/t2, D3+ = 3 − 4Y t4/t3.
 * Returns undefined unless every Dk is finite with 0 < Dk < k (as KenLM refuses them otherwise).
 */
export function modifiedKneserNeyDiscounts(t: readonly [number, number, number, number]): Discounts | undefined {
  const [t1, t2, t3, t4] = t;
  const y = t1 / (t1 + 2 * t2);
  const d = [1 - (2 * y * t2) / t1, 2 - (3 * y * t3) / t2, 3 - (4 * y * t4) / t3];
  if (!d.every((dk, i) => Number.isFinite(dk) && dk > 0 && dk < i + 1)) return undefined;
  return { d1: d[0], d2: d[1], d3: d[2] };
}

/** An estimated model: the ARPA tables and the discounts each order used. */
export interface KneserNeyEstimate {
  order: number;
  /** Per order (index 0: unigrams), n-gram → log10 P(last word | the words before it). */
  probs: Map<string, number>[];
  /** Per order, n-gram → log10 of its interpolation weight γ as a history (only histories). */
  backoffs: Map<string, number>[];
  /** Per order, the discounts used. */
  discounts: Discounts[];
  /** Per order, whether {@link FALLBACK_DISCOUNTS} replaced Chen & Goodman's estimates. */
  fellBack: boolean[];
}

/**
 * Interpolated modified Kneser–Ney (Chen & Goodman 1998, as KenLM's `lmplz` does it) over the
 * lines of a corpus, each line one sentence, split into words by {@link corpusWords} and wrapped
 * in `<s>` … `</s>`. Empty lines are skipped.
 *
 * - Counts a(·): raw counts at the highest order, and below it continuation counts (how many
 *   different words precede the n-gram), except for n-grams that start with `<s>`, which
 *   nothing can precede and which keep their raw counts.
 * - Per order, discounts D1, D2, D3+ from the count-of-counts of a(·)
 *   ({@link modifiedKneserNeyDiscounts}, else {@link FALLBACK_DISCOUNTS}).
 * - p(w | h) = (a(h w) − D(a(h w))) / Σ_v a(h v) + γ(h) · p(w | h′), h′ being h less its first
 *   word, with γ(h) = (D1 N1(h•) + D2 N2(h•) + D3 N3+(h•)) / Σ_v a(h v); the unigrams interpolate
 *   with the uniform distribution over the vocabulary (every word, `</s>` and `<unk>`; not `<s>`),
 *   which is where `<unk>` gets its probability. γ(h) is written as h's back-off weight, so ARPA's
 *   back-off gives exactly the interpolated probability of n-grams it does not list.
 *
 * @param order the highest n-gram order @defaultValue 3 (trigrams: what a corpus of a few
 *   million words supports; higher orders grow the file for little gain on short utterances)
 * @throws Error when the order is not an integer ≥ 1 or the corpus has no words
 */
export function estimateKneserNey(lines: Iterable<string>, order = 3): KneserNeyEstimate {
  if (!Number.isInteger(order) || order < 1) throw new Error(`the n-gram order must be an integer ≥ 1, not ${order}`);
  const raw: Map<string, number>[] = Array.from({ length: order }, () => new Map());
  for (const line of lines) {
    const words = corpusWords(line);
    if (words.length === 0) continue;
    const seq = [BOS, ...words, EOS];
    for (let i = 0; i < seq.length; i++) {
      let key = seq[i];
      for (let n = 1; n <= order && i + n <= seq.length; n++) {
        if (n > 1) key += ` ${seq[i + n - 1]}`;
        const m = raw[n - 1];
        m.set(key, (m.get(key) ?? 0) + 1);
      }
    }
  }
  if (raw[0].size === 0) throw new Error('the corpus has no words');

  // a(·): raw at the top; continuation counts below, raw for n-grams that start with <s>.
  const adjusted: Map<string, number>[] = raw.map((m, i) => {
    if (i === order - 1) return new Map(m);
    const a = new Map<string, number>();
    for (const [key, count] of m) if (firstWord(key) === BOS) a.set(key, count);
    for (const key of raw[i + 1].keys()) {
      const suffix = dropFirst(key);
      a.set(suffix, (a.get(suffix) ?? 0) + 1);
    }
    return a;
  });
  // <s> is never predicted: no unigram probability of its own (it is only a history).
  adjusted[0].delete(BOS);

  const discounts: Discounts[] = [];
  const fellBack: boolean[] = [];
  for (const a of adjusted) {
    const t: [number, number, number, number] = [0, 0, 0, 0];
    for (const count of a.values()) if (count <= 4) t[count - 1]++;
    const d = modifiedKneserNeyDiscounts(t);
    discounts.push(d ?? { ...FALLBACK_DISCOUNTS });
    fellBack.push(d === undefined);
  }

  const linear: Map<string, number>[] = [];
  const probs: Map<string, number>[] = [];
  const backoffs: Map<string, number>[] = Array.from({ length: order }, () => new Map());
  for (let n = 1; n <= order; n++) {
    const a = adjusted[n - 1];
    const { d1, d2, d3 } = discounts[n - 1];
    const discount = (count: number): number => (count === 1 ? d1 : count === 2 ? d2 : d3);
    // Σ_v a(h v) and N1, N2, N3+ of each history h.
    const histories = new Map<string, { sum: number; mass: number }>();
    for (const [key, count] of a) {
      const h = n === 1 ? '' : dropLast(key);
      const stats = histories.get(h) ?? { sum: 0, mass: 0 };
      stats.sum += count;
      stats.mass += discount(count);
      histories.set(h, stats);
    }
    const lin = new Map<string, number>();
    const vocabularySize = a.size + (a.has(UNK) ? 0 : 1);
    for (const [key, count] of a) {
      const h = n === 1 ? '' : dropLast(key);
      const { sum, mass } = histories.get(h) as { sum: number; mass: number };
      const lower = n === 1 ? 1 / vocabularySize : (linear[n - 2].get(dropFirst(key)) as number);
      lin.set(key, (count - discount(count)) / sum + (mass / sum) * lower);
    }
    if (n === 1) {
      const { sum, mass } = histories.get('') as { sum: number; mass: number };
      if (!lin.has(UNK)) lin.set(UNK, mass / sum / vocabularySize);
    } else {
      for (const [h, { sum, mass }] of histories) backoffs[n - 2].set(h, Math.log10(mass / sum));
    }
    linear.push(lin);
    const logs = new Map<string, number>();
    for (const [key, p] of lin) logs.set(key, Math.log10(p));
    if (n === 1) logs.set(BOS, UNKNOWN_LOG10);
    probs.push(logs);
  }
  return { order, probs, backoffs, discounts, fellBack };
}

/**
 * The interpolated modified Kneser–Ney model of {@link estimateKneserNey} as ARPA text, what
 * `viet-stt lm:build corpus.txt -o lm.arpa [--order 3]` writes.
 *
 * @param order the highest n-gram order @defaultValue 3
 */
export function buildArpa(lines: Iterable<string>, order = 3): string {
  const { probs, backoffs } = estimateKneserNey(lines, order);
  return formatArpa(probs, backoffs);
}

/** The same model, in memory, without a trip through ARPA text. */
export function buildKneserNeyModel(lines: Iterable<string>, order = 3): ArpaModel {
  const { probs, backoffs } = estimateKneserNey(lines, order);
  return new ArpaModel(probs, backoffs);
}

function firstWord(key: string): string {
  const space = key.indexOf(' ');
  return space < 0 ? key : key.slice(0, space);
}

function dropFirst(key: string): string {
  return key.slice(key.indexOf(' ') + 1);
}

function dropLast(key: string): string {
  return key.slice(0, key.lastIndexOf(' '));
}
