import { describe, expect, it } from 'vitest';
import { groupWords, toSrt, toVtt } from '../../src/core/subtitles.js';
import type { Word } from '../../src/core/types.js';

const word = (text: string, start: number, end: number): Word => ({ word: text, start, end, confidence: 1 });

// A pause of 0.6 s, a cue that would pass ten seconds, and one that would pass 84 characters
// each start a new cue; a time a hair under the hour rounds to it.
const WORDS: Word[] = [
  word('xin', 0.2, 0.5),
  word('chào', 1.1, 1.5),
  word('dài', 1.6, 11.9),
  ...Array.from({ length: 24 }, (_, i) => word('nghiêng', 12 + i * 0.3, 12.2 + i * 0.3)),
  word('giờ', 3599.9995, 3600.5),
];
const TEN = Array(10).fill('nghiêng').join(' ');
const FOUR = Array(4).fill('nghiêng').join(' ');

describe('subtitles', () => {
  it('cuts cues at pauses, at ten seconds and at 84 characters', () => {
    expect(groupWords(WORDS).map((group) => group.map((w) => w.word).join(' '))).toEqual(['xin', 'chào', 'dài', TEN, TEN, FOUR, 'giờ']);
    expect(groupWords(WORDS, { maxGapSeconds: 1, maxSeconds: 60, maxChars: 1000 }).map((group) => group.length)).toEqual([27, 1]);
  });

  it('writes SRT', () => {
    expect(toSrt(WORDS)).toBe(
      '1\n00:00:00,200 --> 00:00:00,500\nxin\n\n' +
        '2\n00:00:01,100 --> 00:00:01,500\nchào\n\n' +
        '3\n00:00:01,600 --> 00:00:11,900\ndài\n\n' +
        `4\n00:00:12,000 --> 00:00:14,900\n${TEN}\n\n` +
        `5\n00:00:15,000 --> 00:00:17,900\n${TEN}\n\n` +
        `6\n00:00:18,000 --> 00:00:19,100\n${FOUR}\n\n` +
        '7\n01:00:00,000 --> 01:00:00,500\ngiờ\n',
    );
    expect(toSrt([word('hai', 0, 0.4)], (cue) => cue.toUpperCase())).toBe('1\n00:00:00,000 --> 00:00:00,400\nHAI\n');
    expect(toSrt([])).toBe('');
  });

  it('writes WebVTT', () => {
    expect(toVtt(WORDS)).toBe(
      'WEBVTT\n\n' +
        '00:00:00.200 --> 00:00:00.500\nxin\n\n' +
        '00:00:01.100 --> 00:00:01.500\nchào\n\n' +
        '00:00:01.600 --> 00:00:11.900\ndài\n\n' +
        `00:00:12.000 --> 00:00:14.900\n${TEN}\n\n` +
        `00:00:15.000 --> 00:00:17.900\n${TEN}\n\n` +
        `00:00:18.000 --> 00:00:19.100\n${FOUR}\n\n` +
        '01:00:00.000 --> 01:00:00.500\ngiờ\n',
    );
    expect(toVtt([])).toBe('WEBVTT\n\n');
  });
});
