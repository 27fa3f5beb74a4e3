/**
 * ARPA back-off n-gram models (the text format SRILM, KenLM's `lmplz` and `buildArpa` write):
 * reading one, and scoring words with it. Probabilities and back-off weights are log10, as in
 * the file.
 */

/** What an ARPA file's text got wrong, with the 1-based line it was found on. */
export class ArpaFormatError extends Error {
  override readonly name = 'ArpaFormatError';

  constructor(
    message: string,
    /** 1-based line number in the ARPA text (0 when the problem is the file as a whole). */
    readonly line: number,
  ) {
    super(line > 0 ? `ARPA line ${line}: ${message}` : `ARPA: ${message}`);
  }
}

/** Sentence start, end and unknown word, as ARPA files spell them. */
export const BOS = '<s>';
export const EOS = '</s>';
export const UNK = '<unk>';

/**
 * log10 probability given to a word the model does not know when it has no `<unk>` unigram:
 * the value SRILM and KenLM write for "never", so that it stays finite in sums.
 */
export const UNKNOWN_LOG10 = -99;

/** Options of {@link ArpaModel.score}. */
export interface ScoreOptions {
  /** Condition the first word on `<s>`. @defaultValue true (the model was trained on whole lines) */
  bos?: boolean;
  /** Add log10 P(`</s>` | last words). @defaultValue true (as KenLM's `score(…, eos=True)`) */
  eos?: boolean;
}

/** A word-level back-off n-gram model read from ARPA text. */
export class ArpaModel {
  /** The highest n-gram order. */
  readonly order: number;
  /** How many n-grams of each order the model holds (index 0: unigrams). */
  readonly counts: readonly number[];
  /** log10 P(`<unk>`), or {@link UNKNOWN_LOG10} when the model has no `<unk>`. */
  readonly unknownLogProb: number;
  private readonly probs: Map<string, number>[];
  private readonly backoffs: Map<string, number>[];
  private prefixBest: Map<string, number> | undefined;

  /**
   * @param probs per order (index 0: unigrams), n-gram (words joined by one space) → log10 prob
   * @param backoffs per order, n-gram → log10 back-off weight (absent means 0)
   */
  constructor(probs: Map<string, number>[], backoffs: Map<string, number>[]) {
    if (probs.length === 0 || probs.length !== backoffs.length) throw new Error('ArpaModel needs one map of probabilities and one of back-offs per order');
    this.order = probs.length;
    this.probs = probs;
    this.backoffs = backoffs;
    this.counts = probs.map((m) => m.size);
    this.unknownLogProb = probs[0].get(UNK) ?? UNKNOWN_LOG10;
  }

  /** True when `word` is one of the model's unigrams (`<s>`, `</s>` and `<unk>` included). */
  has(word: string): boolean {
    return this.probs[0].has(word);
  }

  /**
   * log10 P(word | context) with Katz-style back-off as ARPA defines it: the longest stored
   * n-gram ending in `word` gives the probability, plus the back-off weight of every history
   * that had to be shortened on the way to it. A word the model does not know scores as
   * `<unk>`, after all the back-offs.
   *
   * @param context the preceding words, most recent last (only the last `order - 1` count);
   *   start with `<s>` for the start of a sentence
   */
  logProb(context: readonly string[], word: string): number {
    const keep = Math.min(context.length, this.order - 1);
    let backoff = 0;
    for (let start = context.length - keep; start <= context.length; start++) {
      const history = start < context.length ? context.slice(start).join(' ') : '';
      const n = context.length - start + 1;
      const prob = this.probs[n - 1].get(history ? `${history} ${word}` : word);
      if (prob !== undefined) return backoff + prob;
      if (history) backoff += this.backoffs[n - 2].get(history) ?? 0;
    }
    return backoff + this.unknownLogProb;
  }

  /** log10 probability of a sequence of words: the sum of {@link logProb} over it. */
  score(words: readonly string[], options: ScoreOptions = {}): number {
    const context: string[] = options.bos === false ? [] : [BOS];
    let total = 0;
    for (const word of words) {
      total += this.logProb(context, word);
      context.push(word);
    }
    if (options.eos !== false) total += this.logProb(context, EOS);
    return total;
  }

  /**
   * The best unigram log10 probability among the words that start with `prefix`, or undefined
   * when no word does: a decoder's look-ahead for a word it has only partly spelled. `<s>`,
   * `</s>` and `<unk>` are no one's prefix. Built on first use (one entry per distinct prefix).
   */
  bestPrefixLogProb(prefix: string): number | undefined {
    if (!this.prefixBest) {
      const best = new Map<string, number>();
      for (const [word, prob] of this.probs[0]) {
        if (word === BOS || word === EOS || word === UNK) continue;
        // Code points, not UTF-16 units, so that a prefix never splits a character.
        const chars = Array.from(word);
        let p = '';
        for (const ch of chars) {
          p += ch;
          const known = best.get(p);
          if (known === undefined || prob > known) best.set(p, prob);
        }
      }
      this.prefixBest = best;
    }
    return this.prefixBest.get(prefix);
  }
}

/**
 * Reads ARPA text: anything before `\data\` is ignored, then `ngram N=count` lines, then one
 * `\N-grams:` section per order (`log10prob<TAB>w1 … wN[<TAB>log10backoff]`, any white space
 * accepted between fields), then `\end\`. The counts in `\data\` must match the sections.
 *
 * @param source the whole text, or its lines (for instance from a file read line by line)
 * @throws ArpaFormatError naming the line that is wrong
 */
export function parseArpa(source: string | Iterable<string>): ArpaModel {
  const lines = typeof source === 'string' ? source.split(/\r?\n/) : source;
  const declared: number[] = [];
  const probs: Map<string, number>[] = [];
  const backoffs: Map<string, number>[] = [];
  let state: 'preamble' | 'data' | 'grams' | 'end' = 'preamble';
  let order = 0;
  let lineNo = 0;

  const closeSection = (): void => {
    if (order > 0 && probs[order - 1].size !== declared[order - 1]) {
      throw new ArpaFormatError(`\\data\\ declares ${declared[order - 1]} ${order}-grams but the section holds ${probs[order - 1].size}`, lineNo);
    }
  };

  for (const raw of lines) {
    lineNo++;
    const line = raw.trim();
    if (state === 'end') continue;
    if (line === '') continue;
    if (state === 'preamble') {
      if (line === '\\data\\') state = 'data';
      continue;
    }
    const section = /^\\(\d+)-grams:$/.exec(line);
    if (section) {
      const n = Number(section[1]);
      if (state === 'data') {
        if (declared.length === 0) throw new ArpaFormatError('\\data\\ declares no n-gram counts', lineNo);
        for (let i = 0; i < declared.length; i++) {
          if (declared[i] === undefined) throw new ArpaFormatError(`\\data\\ has no count for ${i + 1}-grams`, lineNo);
          probs.push(new Map());
          backoffs.push(new Map());
        }
      } else {
        closeSection();
      }
      if (n !== order + 1) throw new ArpaFormatError(`expected the \\${order + 1}-grams: section, found \\${n}-grams:`, lineNo);
      if (n > declared.length) throw new ArpaFormatError(`\\${n}-grams: is not declared in \\data\\`, lineNo);
      order = n;
      state = 'grams';
      continue;
    }
    if (line === '\\end\\') {
      if (state !== 'grams') throw new ArpaFormatError('\\end\\ before any n-grams', lineNo);
      closeSection();
      if (order !== declared.length) throw new ArpaFormatError(`\\data\\ declares ${declared.length} orders but only ${order} sections follow`, lineNo);
      state = 'end';
      continue;
    }
    if (state === 'data') {
      const m = /^ngram\s+(\d+)\s*=\s*(\d+)$/.exec(line);
      if (!m) throw new ArpaFormatError(`expected "ngram N=count", found ${JSON.stringify(line)}`, lineNo);
      const n = Number(m[1]);
      if (n < 1) throw new ArpaFormatError('n-gram orders start at 1', lineNo);
      declared[n - 1] = Number(m[2]);
      continue;
    }
    // An n-gram line of the current section.
    const fields = line.split(/\s+/);
    if (fields.length !== order + 1 && fields.length !== order + 2) {
      throw new ArpaFormatError(`a ${order}-gram line needs a probability, ${order} word(s) and an optional back-off`, lineNo);
    }
    const prob = parseLog10(fields[0], lineNo);
    const key = fields.slice(1, order + 1).join(' ');
    if (probs[order - 1].has(key)) throw new ArpaFormatError(`${JSON.stringify(key)} appears twice`, lineNo);
    probs[order - 1].set(key, prob);
    if (fields.length === order + 2) {
      const backoff = parseLog10(fields[order + 1], lineNo, false);
      if (backoff !== 0) backoffs[order - 1].set(key, backoff);
    }
  }
  if (state !== 'end') throw new ArpaFormatError(state === 'preamble' ? 'no \\data\\ section' : 'no \\end\\ line', 0);
  return new ArpaModel(probs, backoffs);
}

/** A log10 field: probabilities are ≤ 0; back-off weights may be positive (Katz models). */
function parseLog10(field: string, line: number, probability = true): number {
  const value = /^-inf(inity)?$/i.test(field) ? -Infinity : Number(field);
  if (Number.isNaN(value) || value === Infinity) throw new ArpaFormatError(`${JSON.stringify(field)} is not a number`, line);
  if (probability && value > 1e-6) throw new ArpaFormatError(`${JSON.stringify(field)} is not a log10 probability (≤ 0)`, line);
  return value;
}

/**
 * Writes ARPA text: `\data\` with the counts, one `\N-grams:` section per order, `\end\`. Each
 * order's n-grams are sorted (so the same model always gives the same text); a back-off column is
 * written where the n-gram has a weight. Values are written with 7 decimals.
 *
 * @param probs per order (index 0: unigrams), n-gram (words joined by one space) → log10 prob
 * @param backoffs per order, n-gram → log10 back-off weight
 */
export function formatArpa(probs: readonly ReadonlyMap<string, number>[], backoffs: readonly ReadonlyMap<string, number>[]): string {
  const out: string[] = ['\\data\\'];
  probs.forEach((m, i) => out.push(`ngram ${i + 1}=${m.size}`));
  probs.forEach((m, i) => {
    out.push('', `\\${i + 1}-grams:`);
    for (const key of [...m.keys()].sort()) {
      const backoff = backoffs[i]?.get(key);
      const prob = m.get(key) as number;
      out.push(backoff === undefined ? `${fixed(prob)}\t${key}` : `${fixed(prob)}\t${key}\t${fixed(backoff)}`);
    }
  });
  out.push('', '\\end\\', '');
  return out.join('\n');
}

function fixed(value: number): string {
  if (value === -Infinity) return String(UNKNOWN_LOG10);
  const text = value.toFixed(7);
  return text === '-0.0000000' ? '0.0000000' : text;
}
