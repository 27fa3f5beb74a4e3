import { FRAME_SECONDS, type CtcVocabulary, type FramePredictions } from './ctc.js';
import type { Word } from './types.js';

/** A `[frames, vocab]` matrix of per-frame natural-log probabilities (log-softmax), row-major. */
export interface FrameLogProbs {
  data: Float32Array;
  frames: number;
  vocab: number;
}

/**
 * A word-level language model as the beam search asks it (`ArpaModel` from src/text/arpa.ts is
 * one). Probabilities are log10, as ARPA files hold them.
 */
export interface WordLanguageModel {
  /** The highest n-gram order: the beam keeps `order - 1` words of history. */
  readonly order: number;
  /** log10 P(`<unk>`): what a word the model does not know scores. */
  readonly unknownLogProb: number;
  /** log10 P(word | context), context most recent last, starting with `<s>`. */
  logProb(context: readonly string[], word: string): number;
  /** Whether the model knows the word. */
  has(word: string): boolean;
  /**
   * The best unigram log10 probability of a word that starts with `prefix`, if any does (so once
   * undefined, undefined for every longer prefix: the search asks no further).
   */
  bestPrefixLogProb(prefix: string): number | undefined;
}

/** A word or phrase to favour, lower-case NFC Vietnamese (normalised again here), with its weight. */
export type Hotword = string | { phrase: string; weight?: number };

/** Options of {@link CtcBeamSearch}; every one has a default. */
export interface CtcBeamOptions {
  /**
   * Prefixes kept after each frame. @defaultValue 32: wav2vec2's CTC output is peaked (most
   * frames are blank at > 0.9), so few prefixes are ever close; 32 leaves room for a hotword or an
   * LM-preferred spelling to survive the frames until its word is complete (and for the many
   * alignments of earlier words that crowd a beam). bench/beam.ts measures the service's width
   * (BEAM_WIDTH, 16) on 3000 frames (60 s): 25–70 ms on peaked output, 0.2–0.5% of float32
   * inference on one CPU core; 190–250 ms on flat noise, under 2%. pyctcdecode's 100 buys nothing
   * on peaked output but time.
   */
  beamWidth?: number;
  /**
   * Tokens tried per frame, the most probable first. @defaultValue 8: a frame rarely has more than
   * three tokens above {@link tokenMinLogProb}. It does not bound flat (noisy) frames by itself: a
   * near-uniform frame over ~110 tokens has every one at about -4.7, so all 8 are tried on every
   * prefix; {@link extensionsPerFrame} is what bounds those.
   */
  topK?: number;
  /**
   * Extensions tried per frame: of a frame's (prefix, token) pairs that make a longer prefix (a
   * character, or a word break after a word), only this many are tried, those whose prefix score
   * plus token log-probability is highest (ties: the first in the search's own order, so a run is
   * repeatable). The pairs that keep a prefix's text (a blank, a held character, a break after a
   * break) are always tried. So a frame makes at most this many new prefixes (each with its
   * language-model and hotword look-ups) and scores at most beamWidth + this many.
   * @defaultValue 2 × beamWidth: a frame with at most two tokens above {@link tokenMinLogProb}
   * (nearly every frame of a trained wav2vec2: the blank at > 0.9, or a letter and the blank)
   * lengthens at most 2 × beamWidth prefixes, so the bound never changes what such frames decode;
   * a flat (noisy) frame, where all topK tokens pass, would otherwise lengthen every prefix by
   * every one of them (8 × 16 = 128 new prefixes at width 16) and now makes at most 32.
   */
  extensionsPerFrame?: number;
  /**
   * Tokens of a frame below this natural-log probability are not tried (the frame's best always
   * is). @defaultValue -5 (p < 0.7%), pyctcdecode's `token_min_logp`.
   */
  tokenMinLogProb?: number;
  /**
   * Prefixes scoring this far (natural log) below the frame's best are dropped, even when the beam
   * has room. @defaultValue -10, pyctcdecode's `beam_prune_logp`: e^-10 is past recovery.
   */
  beamPruneLogProb?: number;
  /** Words and phrases to favour (a team's names). @defaultValue none */
  hotwords?: readonly Hotword[];
  /**
   * The weight of a hotword with none of its own: natural-log bonus for completing it, given in
   * part (weight × characters so far ÷ its length) while it is being spelled. @defaultValue 5:
   * enough to flip a diacritic or a letter the model was unsure of (e^5 ≈ 150 : 1), not enough to
   * write a name over a word it heard clearly; pyctcdecode's 10 is for rarer, longer English
   * names, while Vietnamese names are short syllables that are also common words.
   */
  hotwordWeight?: number;
  /** A word-level n-gram model to fuse. @defaultValue none (acoustics and hotwords only) */
  languageModel?: WordLanguageModel;
  /**
   * Weight of the language model: each completed word adds alpha × ln P(word | history).
   * @defaultValue 0.5, pyctcdecode's; tune on held-out audio with the LM at hand.
   */
  alpha?: number;
  /**
   * Word insertion bonus (natural log) per completed word when a language model is set, which
   * offsets the LM's bias for fewer, longer words. @defaultValue 1.0 (pyctcdecode: 1.5, for
   * English's longer words; Vietnamese words are syllables, so the bonus per word is smaller)
   */
  beta?: number;
  /**
   * Natural-log penalty for a word the language model does not know (hotwords excepted), on top
   * of its `<unk>` probability; a partial word that no known word starts with gets it at once.
   * @defaultValue -10, pyctcdecode's `unk_score_offset`.
   */
  unknownWordOffset?: number;
  /**
   * Score the first word after `<s>` and the end with `</s>`, as the LM was trained on lines.
   * @defaultValue true, as pyctcdecode's `lm_score_boundary`.
   */
  scoreBoundary?: boolean;
}

/** What greedy decoding (`decodeCtc`) gives: the text and its words with times and confidences. */
export interface CtcDecoding {
  text: string;
  words: Word[];
}

/**
 * A decoding with the frames of its best alignment, in greedy's per-frame shape: each frame's id
 * is the character or word break the alignment emitted there, or the blank, with its probability
 * (for the blank, the most probable blank-class token's), so that what is built on greedy's
 * frames (segments) can be built on the beam's.
 */
export interface CtcAlignedDecoding extends CtcDecoding {
  alignment: FramePredictions;
}

/** Token classes. */
const BLANK = 0;
const DELIMITER = 1;
const CHAR = 2;

/** One character (or word break) of a prefix's best alignment, with the frames it covers. */
interface Span {
  token: number;
  start: number;
  /** Exclusive. */
  end: number;
  prev: Span | null;
}

/**
 * One prefix (collapsed text so far) of the search: its text state and scores are fixed when it is
 * made; its acoustic state (blank-ending and non-blank-ending log-probabilities, with the best
 * alignment of each) changes from frame to frame.
 */
class Prefix {
  children: Map<number, Prefix> | undefined;
  pB = -Infinity;
  pNB = -Infinity;
  sB: Span | null = null;
  sNB: Span | null = null;
  // Next frame's accumulators, valid when stamp is the frame being processed.
  stamp = -1;
  nB = -Infinity;
  nNB = -Infinity;
  bestB = -Infinity;
  bestNB = -Infinity;
  nsB: Span | null = null;
  nsNB: Span | null = null;
  score = -Infinity;
  /** The last frame the prefix was kept after (see {@link CtcBeamSearch.release}). */
  keptAt = -1;

  constructor(
    /** The prefix this one extends by one token (null for the empty prefix). */
    readonly parent: Prefix | null,
    /** The last token emitted (-1 for none); a delimiter when the prefix ends at a word break. */
    readonly last: number,
    /** The characters of the word being spelled ('' at a word break). */
    readonly partial: string,
    /** LM history: the last `order - 1` words (with `<s>`), most recent last. */
    readonly context: readonly string[],
    /** LM, insertion bonus and hotword scores of the completed words. */
    readonly fused: number,
    /** Look-ahead for the word being spelled: LM best prefix and the hotword ramp. */
    readonly lookahead: number,
    /** Hotword trie nodes matched so far, one per word break a hotword could have started at. */
    readonly hot: readonly number[],
    /**
     * Whether a word the language model knows starts with `partial` (true at a word break, and
     * with no model); once false it stays false for the rest of the word, and is not asked again.
     */
    readonly lmPrefix = true,
    /** Whether a word of a hotword starts with `partial`, kept as lmPrefix is (with a model only). */
    readonly hotPrefix = true,
  ) {}
}

/**
 * CTC prefix beam search over per-frame log-probabilities, with hotwords and shallow fusion of a
 * word n-gram model as pyctcdecode does it, giving the same shape as greedy `decodeCtc`.
 *
 * - Tokens: the blank and the special tokens are blanks (greedy drops them after collapsing
 *   repeats, so they separate a doubled letter as the blank does); the word delimiter `|` and
 *   white-space tokens are word breaks (a break after a break, or at the start, adds nothing, as
 *   greedy folds runs of spaces); every other token is a character.
 * - A prefix's score = ln P(prefix | audio) summed over its alignments + its fused score + the
 *   look-ahead of the word it is spelling. Each completed word adds alpha × ln P_LM(word | history)
 *   + beta (+ {@link CtcBeamOptions.unknownWordOffset} for a word the LM does not know) + the weight of
 *   every hotword it completes. The word being spelled is scored by its best prefix: alpha × the
 *   best unigram ln-probability of a known word it starts (or the unknown-word score and offset when
 *   none does, as pyctcdecode penalises out-of-vocabulary partial words), so that prefixes mid-word
 *   compete fairly with prefixes that have paid for their last word, and prefixes leading only to
 *   rare or unknown words fall behind before the word ends; the look-ahead is replaced by the true
 *   conditional score when the word completes. A partial word that starts a hotword gets weight ×
 *   characters so far ÷ the hotword's length.
 * - Per frame, only the {@link CtcBeamOptions.topK} most probable tokens at or above
 *   {@link CtcBeamOptions.tokenMinLogProb} are tried (the best always is), and of the pairs that
 *   lengthen a prefix only the best {@link CtcBeamOptions.extensionsPerFrame}; prefixes more than
 *   {@link CtcBeamOptions.beamPruneLogProb} below the best are dropped, then all but the best
 *   {@link CtcBeamOptions.beamWidth}.
 * - Timings come from each prefix's best (Viterbi) alignment: the frames each character was
 *   emitted on. A word spans its first character's first frame to its last character's last; its
 *   confidence is the mean, over those frames, of the probability of what the alignment emitted
 *   (the character, or the blank between characters) — on the greedy path, greedy's confidence.
 *
 * Build one per vocabulary and option set (hotword trie, LM look-ups are prepared once), then
 * {@link decode} any number of matrices.
 */
export class CtcBeamSearch {
  /** Hotwords left out because the vocabulary cannot spell them (log these). */
  readonly unusableHotwords: readonly string[];
  private readonly kind: Int8Array;
  private readonly text: string[];
  private readonly blanks: number[];
  private readonly beamWidth: number;
  private readonly topK: number;
  private readonly extensionsPerFrame: number;
  private readonly tokenMinLogProb: number;
  private readonly beamPruneLogProb: number;
  private readonly lm: WordLanguageModel | undefined;
  private readonly lmWeight: number;
  private readonly beta: number;
  private readonly unknownWordOffset: number;
  private readonly scoreBoundary: boolean;
  // Hotword trie over characters (a space between a phrase's words); node 0 is the root.
  private readonly trieChildren: Map<string, number>[] = [new Map()];
  private readonly trieDepth: number[] = [0];
  private readonly trieRamp: number[] = [0];
  private readonly trieComplete: number[] = [0];
  private readonly hotWords = new Set<string>();
  private readonly hotPrefixes = new Set<string>();
  /** The ranks of a frame's extensions, for {@link extensionThreshold}: at most beamWidth × topK. */
  private readonly rankScratch: Float64Array;

  constructor(
    private readonly vocabulary: CtcVocabulary,
    options: CtcBeamOptions = {},
  ) {
    this.beamWidth = positiveInteger(options.beamWidth ?? 32, 'beamWidth');
    this.topK = positiveInteger(options.topK ?? 8, 'topK');
    this.extensionsPerFrame = positiveInteger(options.extensionsPerFrame ?? 2 * this.beamWidth, 'extensionsPerFrame');
    this.rankScratch = new Float64Array(this.beamWidth * this.topK);
    this.tokenMinLogProb = options.tokenMinLogProb ?? -5;
    this.beamPruneLogProb = options.beamPruneLogProb ?? -10;
    this.lm = options.languageModel;
    this.lmWeight = (options.alpha ?? 0.5) * Math.LN10;
    this.beta = options.beta ?? 1.0;
    this.unknownWordOffset = options.unknownWordOffset ?? -10;
    this.scoreBoundary = options.scoreBoundary ?? true;

    const { tokens, blankId, delimiterId, specialIds } = vocabulary;
    this.kind = new Int8Array(tokens.length);
    this.text = tokens.slice();
    this.blanks = [];
    const spellable = new Set<string>();
    tokens.forEach((token, id) => {
      if (id === blankId || specialIds.has(id) || token === '') {
        this.kind[id] = BLANK;
        this.blanks.push(id);
      } else if (id === delimiterId || /\s/.test(token)) {
        this.kind[id] = DELIMITER;
      } else {
        this.kind[id] = CHAR;
        spellable.add(token);
      }
    });

    const unusable: string[] = [];
    const defaultWeight = options.hotwordWeight ?? 5;
    for (const entry of options.hotwords ?? []) {
      const raw = typeof entry === 'string' ? entry : entry.phrase;
      const weight = typeof entry === 'string' ? defaultWeight : (entry.weight ?? defaultWeight);
      const phrase = raw.normalize('NFC').toLowerCase().trim().split(/\s+/).join(' ');
      const chars = Array.from(phrase);
      if (phrase === '' || !chars.every((ch) => ch === ' ' || spellable.has(ch))) {
        unusable.push(raw);
        continue;
      }
      this.addHotword(chars, weight);
      for (const word of phrase.split(' ')) {
        this.hotWords.add(word);
        let prefix = '';
        for (const ch of word) this.hotPrefixes.add((prefix += ch));
      }
    }
    this.unusableHotwords = unusable;
  }

  /**
   * Decodes one `[frames, vocab]` log-probability matrix (the vocab axis may be longer than the
   * vocabulary; ids beyond it count as blanks).
   *
   * @param frameSeconds seconds per frame @defaultValue {@link FRAME_SECONDS} (wav2vec2 at 16 kHz)
   * @throws Error when the matrix's size does not match `frames × vocab` or the blank is outside it
   */
  decode(logProbs: FrameLogProbs, frameSeconds = FRAME_SECONDS): CtcDecoding {
    const { text, words } = this.decodeAligned(logProbs, frameSeconds);
    return { text, words };
  }

  /** {@link decode}, with the frames of the winning alignment. */
  decodeAligned(logProbs: FrameLogProbs, frameSeconds = FRAME_SECONDS): CtcAlignedDecoding {
    const { data, frames, vocab } = logProbs;
    if (!Number.isInteger(frames) || frames < 0 || !Number.isInteger(vocab) || vocab < 1 || data.length !== frames * vocab) {
      throw new Error(`log-probabilities of length ${data.length} are not [${frames}, ${vocab}]`);
    }
    if (this.vocabulary.blankId >= vocab) throw new Error(`the blank id ${this.vocabulary.blankId} is outside a vocab axis of ${vocab}`);
    if (frames === 0) return this.words(null, logProbs, frameSeconds);
    const kind = (id: number): number => (id < this.kind.length ? this.kind[id] : BLANK);

    const root = new Prefix(null, -1, '', this.lm && this.scoreBoundary ? ['<s>'] : [], 0, 0, this.trieChildren[0].size > 0 ? [0] : []);
    root.pB = 0;
    let beams: Prefix[] = [root];
    const candIds = new Int32Array(this.topK);
    const candLp = new Float64Array(this.topK);
    let next: Prefix[] = [];

    for (let t = 0; t < frames; t++) {
      const row = t * vocab;
      // The frame's candidates: the topK most probable tokens ≥ tokenMinLogProb, best first (ties:
      // lower id first, as greedy's argmax), and the best always.
      let count = 0;
      let bestId = 0;
      let bestLp = -Infinity;
      for (let v = 0; v < vocab; v++) {
        const lp = data[row + v];
        if (lp > bestLp) {
          bestLp = lp;
          bestId = v;
        }
        if (lp < this.tokenMinLogProb || (count === this.topK && lp <= candLp[count - 1])) continue;
        let i = count < this.topK ? count++ : count - 1;
        while (i > 0 && candLp[i - 1] < lp) {
          candLp[i] = candLp[i - 1];
          candIds[i] = candIds[i - 1];
          i--;
        }
        candLp[i] = lp;
        candIds[i] = v;
      }
      if (count === 0) {
        candIds[0] = bestId;
        candLp[0] = bestLp;
        count = 1;
      }

      // Extensions are capped (extensionsPerFrame): when the frame has more, only those ranked at
      // or above the cap's threshold are tried, ties in the order of the loop below.
      const cap = this.extensionThreshold(beams, candIds, candLp, count, kind);
      const threshold = cap.threshold;
      let ties = cap.ties;
      const admit = (rank: number): boolean => rank > threshold || (rank === threshold && ties-- > 0);

      next = [];
      const touch = (node: Prefix): void => {
        if (node.stamp === t) return;
        node.stamp = t;
        node.nB = node.nNB = node.bestB = node.bestNB = -Infinity;
        node.nsB = node.nsNB = null;
        next.push(node);
      };
      for (const beam of beams) {
        const total = logAddExp(beam.pB, beam.pNB);
        const bestSpan = beam.pB >= beam.pNB ? beam.sB : beam.sNB;
        const textScore = beam.fused + beam.lookahead;
        for (let c = 0; c < count; c++) {
          const id = candIds[c];
          const lp = candLp[c];
          const k = kind(id);
          if (k === BLANK) {
            touch(beam);
            const value = total + lp;
            beam.nB = logAddExp(beam.nB, value);
            if (value > beam.bestB) {
              beam.bestB = value;
              beam.nsB = bestSpan;
            }
          } else if (k === DELIMITER && beam.partial === '') {
            // A break after a break (or before any word) leaves the text as it is.
            touch(beam);
            const value = total + lp;
            beam.nNB = logAddExp(beam.nNB, value);
            if (value > beam.bestNB) {
              beam.bestNB = value;
              beam.nsNB = bestSpan;
            }
          } else if (id === beam.last) {
            // The same character again: a repeat (from non-blank), or a doubled letter (from blank).
            if (beam.pNB > -Infinity) {
              touch(beam);
              const value = beam.pNB + lp;
              beam.nNB = logAddExp(beam.nNB, value);
              if (value > beam.bestNB) {
                beam.bestNB = value;
                const head = beam.sNB as Span;
                beam.nsNB = { token: id, start: head.start, end: t + 1, prev: head.prev };
              }
            }
            if (beam.pB > -Infinity && admit(beam.pB + lp + textScore)) this.extend(beam, id, beam.pB + lp, beam.sB, t, touch);
          } else if (admit(total + lp + textScore)) {
            this.extend(beam, id, total + lp, bestSpan, t, touch);
          }
        }
      }

      // Score, prune by distance from the best, keep the best beamWidth.
      let best = -Infinity;
      for (const node of next) {
        node.score = logAddExp(node.nB, node.nNB) + node.fused + node.lookahead;
        if (node.score > best) best = node.score;
      }
      const floor = best + this.beamPruneLogProb;
      let kept = next.filter((node) => node.score >= floor);
      if (kept.length > this.beamWidth) kept = kept.sort((a, b) => b.score - a.score).slice(0, this.beamWidth);
      for (const node of kept) {
        node.pB = node.nB;
        node.pNB = node.nNB;
        node.sB = node.nsB;
        node.sNB = node.nsNB;
      }
      for (const node of kept) node.keptAt = t;
      for (const node of beams) this.release(node, t);
      for (const node of next) this.release(node, t);
      beams = kept;
    }

    // Finish: complete the word being spelled, close the sentence, pick the best.
    let winner: Prefix | undefined;
    let winnerScore = -Infinity;
    for (const beam of beams) {
      let fused = beam.fused;
      let context = beam.context;
      if (beam.partial !== '') {
        const done = this.completeWord(beam);
        fused += done.score;
        context = done.context;
      }
      if (this.lm && this.scoreBoundary) fused += this.lmWeight * this.lm.logProb(context, '</s>');
      const score = logAddExp(beam.pB, beam.pNB) + fused;
      if (score > winnerScore) {
        winnerScore = score;
        winner = beam;
      }
    }
    if (!winner) return this.words(null, logProbs, frameSeconds);
    return this.words(winner.pB >= winner.pNB ? winner.sB : winner.sNB, logProbs, frameSeconds);
  }

  /**
   * The rank an extension needs to be tried this frame ({@link CtcBeamOptions.extensionsPerFrame}):
   * -Infinity with no ties to spend when the frame has no more extensions than the cap; else the
   * cap-th best rank, and how many extensions ranked exactly that may still be tried. It walks the
   * pairs as the frame's loop does and ranks each as it will (the value it would add plus the
   * prefix's text score).
   */
  private extensionThreshold(
    beams: readonly Prefix[],
    candIds: Int32Array,
    candLp: Float64Array,
    count: number,
    kind: (id: number) => number,
  ): { threshold: number; ties: number } {
    const ranks = this.rankScratch;
    let n = 0;
    for (const beam of beams) {
      const total = logAddExp(beam.pB, beam.pNB);
      const textScore = beam.fused + beam.lookahead;
      for (let c = 0; c < count; c++) {
        const id = candIds[c];
        const k = kind(id);
        if (k === BLANK || (k === DELIMITER && beam.partial === '')) continue;
        if (id === beam.last) {
          if (beam.pB > -Infinity) ranks[n++] = beam.pB + candLp[c] + textScore;
        } else {
          ranks[n++] = total + candLp[c] + textScore;
        }
      }
    }
    const cap = this.extensionsPerFrame;
    if (n <= cap) return { threshold: -Infinity, ties: Infinity };
    const sorted = ranks.subarray(0, n).sort();
    const threshold = sorted[n - cap];
    let above = 0;
    for (let i = n - cap + 1; i < n; i++) if (sorted[i] > threshold) above++;
    return { threshold, ties: cap - above };
  }

  /**
   * Forgets a prefix that left the beam this frame and has no prefix of its own in it any more
   * (nor do its ancestors, in turn), so that what the search holds stays bounded by the beam and
   * the text's length rather than growing with every prefix ever tried. A prefix made again later
   * is made the same (its text state depends only on its parent and token).
   */
  private release(node: Prefix, t: number): void {
    for (let at: Prefix | null = node; at && at.keptAt !== t && !at.children?.size; at = at.parent) {
      const siblings: Map<number, Prefix> | undefined = at.parent?.children;
      if (siblings?.get(at.last) !== at) return;
      siblings.delete(at.last);
    }
  }

  /** Adds `value` to the prefix `beam` + `id` (a character, or a break after a word). */
  private extend(beam: Prefix, id: number, value: number, prev: Span | null, t: number, touch: (node: Prefix) => void): void {
    let child = beam.children?.get(id);
    if (!child) {
      child = this.makeChild(beam, id);
      (beam.children ??= new Map()).set(id, child);
    }
    touch(child);
    child.nNB = logAddExp(child.nNB, value);
    if (value > child.bestNB) {
      child.bestNB = value;
      child.nsNB = { token: id, start: t, end: t + 1, prev };
    }
  }

  private makeChild(parent: Prefix, id: number): Prefix {
    if (this.kind[id] === DELIMITER) {
      const done = this.completeWord(parent);
      const hot: number[] = this.trieChildren[0].size > 0 ? [0] : [];
      for (const node of parent.hot) {
        const after = this.trieChildren[node].get(' ');
        if (after !== undefined) hot.push(after);
      }
      return new Prefix(parent, id, '', done.context, parent.fused + done.score, this.ramp(hot), hot);
    }
    const token = this.text[id];
    const partial = parent.partial + token;
    let hot: number[] = parent.hot as number[];
    if (hot.length > 0) {
      hot = [];
      for (const node of parent.hot) {
        let at: number | undefined = node;
        for (const ch of token) {
          at = this.trieChildren[at].get(ch);
          if (at === undefined) break;
        }
        if (at !== undefined) hot.push(at);
      }
    }
    let lookahead = this.ramp(hot);
    if (!this.lm) return new Prefix(parent, id, partial, parent.context, parent.fused, lookahead, hot);
    // Both look-ups are prefix-closed: what no word starts with, no longer spelling of it does
    // (and a word spelled on through noise can grow long, each look-up hashing all of it).
    const best = parent.lmPrefix ? this.lm.bestPrefixLogProb(partial) : undefined;
    const hotPrefix = parent.hotPrefix && this.hotPrefixes.has(partial);
    if (best !== undefined) lookahead += this.lmWeight * best;
    else lookahead += this.lmWeight * this.lm.unknownLogProb + (hotPrefix ? 0 : this.unknownWordOffset);
    return new Prefix(parent, id, partial, parent.context, parent.fused, lookahead, hot, best !== undefined, hotPrefix);
  }

  /** The score a prefix's word in progress earns as it completes, and the history after it. */
  private completeWord(prefix: Prefix): { score: number; context: readonly string[] } {
    const word = prefix.partial;
    let score = 0;
    for (const node of prefix.hot) score += this.trieComplete[node];
    if (!this.lm) return { score, context: prefix.context };
    score += this.lmWeight * this.lm.logProb(prefix.context, word) + this.beta;
    if (!this.lm.has(word) && !(prefix.hotPrefix && this.hotWords.has(word))) score += this.unknownWordOffset;
    const keep = this.lm.order - 1;
    const context = keep <= 0 ? [] : [...prefix.context, word].slice(-keep);
    return { score, context };
  }

  /** The hotword bonus for what is spelled so far: the best weight × matched ÷ length. */
  private ramp(hot: readonly number[]): number {
    let best = 0;
    for (const node of hot) best = Math.max(best, this.trieDepth[node] * this.trieRamp[node]);
    return best;
  }

  private addHotword(chars: string[], weight: number): void {
    let node = 0;
    for (const ch of chars) {
      let nextNode = this.trieChildren[node].get(ch);
      if (nextNode === undefined) {
        nextNode = this.trieChildren.length;
        this.trieChildren.push(new Map());
        this.trieDepth.push(this.trieDepth[node] + 1);
        this.trieRamp.push(0);
        this.trieComplete.push(0);
        this.trieChildren[node].set(ch, nextNode);
      }
      node = nextNode;
      this.trieRamp[node] = Math.max(this.trieRamp[node], weight / chars.length);
    }
    this.trieComplete[node] = Math.max(this.trieComplete[node], weight);
  }

  /** Words, times, confidences and the per-frame alignment from an alignment's spans. */
  private words(last: Span | null, logProbs: FrameLogProbs, frameSeconds: number): CtcAlignedDecoding {
    const spans: Span[] = [];
    for (let s = last; s; s = s.prev) spans.push(s);
    spans.reverse();
    const { data, frames, vocab } = logProbs;
    const ids = new Int32Array(frames).fill(this.vocabulary.blankId);
    const probs = new Float32Array(frames);
    for (let f = 0; f < frames; f++) {
      let blank = 0;
      for (const id of this.blanks) if (id < vocab) blank = Math.max(blank, Math.exp(data[f * vocab + id]));
      probs[f] = blank;
    }
    for (const span of spans) {
      for (let f = span.start; f < span.end; f++) {
        ids[f] = span.token;
        probs[f] = Math.exp(data[f * vocab + span.token]);
      }
    }
    const words: Word[] = [];
    let group: Span[] = [];
    const finish = (): void => {
      if (group.length === 0) return;
      const start = group[0].start;
      const end = group[group.length - 1].end;
      let sum = 0;
      for (let f = start; f < end; f++) sum += probs[f];
      words.push({
        word: group.map((span) => this.text[span.token]).join(''),
        start: round3(start * frameSeconds),
        end: round3(end * frameSeconds),
        confidence: round3(sum / (end - start)),
      });
      group = [];
    };
    for (const span of spans) {
      if (this.kind[span.token] === DELIMITER) finish();
      else group.push(span);
    }
    finish();
    return { text: words.map((w) => w.word).join(' '), words, alignment: { ids, probs } };
  }
}

/**
 * One-shot {@link CtcBeamSearch}: builds the search and decodes one matrix. Prefer building one
 * `CtcBeamSearch` and reusing it when the options do not change.
 */
export function decodeCtcBeam(
  logProbs: FrameLogProbs,
  vocabulary: CtcVocabulary,
  options: CtcBeamOptions = {},
  frameSeconds = FRAME_SECONDS,
): CtcDecoding {
  return new CtcBeamSearch(vocabulary, options).decode(logProbs, frameSeconds);
}

/**
 * Row-wise log-softmax of a `[frames, vocab]` logits matrix into a new Float32Array: what a worker
 * sends for the beam search (in float64 inside a row, so the row sums to 1 in probability).
 */
export function logSoftmaxFrames(logits: Float32Array, frames: number, vocab: number): Float32Array {
  if (logits.length !== frames * vocab) throw new Error(`logits of length ${logits.length} are not [${frames}, ${vocab}]`);
  const out = new Float32Array(logits.length);
  for (let f = 0; f < frames; f++) {
    const row = f * vocab;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) if (logits[row + v] > max) max = logits[row + v];
    let sum = 0;
    for (let v = 0; v < vocab; v++) sum += Math.exp(logits[row + v] - max);
    const norm = max + Math.log(sum);
    for (let v = 0; v < vocab; v++) out[row + v] = logits[row + v] - norm;
  }
  return out;
}

/** ln(e^a + e^b), exact at -Infinity. */
function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be an integer ≥ 1, not ${value}`);
  return value;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
