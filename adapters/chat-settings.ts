import { MAX_HOTWORDS, MAX_HOTWORD_CHARS, splitHotwords } from '../src/core/beam-hotwords.js';
import type { Transcript } from '../src/core/types.js';
import type { ChatKey, ChatSettings, Store } from '../src/store/index.js';
import { toWritten } from '../src/text/written.js';
import type { JobAnswer, JobRequest, ReplyRecord, ReplyTarget } from './job-runner.js';
import { hotwordTooLongReply, hotwordsReply, hotwordsSaved, text, tooManyHotwordsReply, type EffectiveSettings, type ReplyLanguage, type SettingName } from './replies.js';

/**
 * What both bots do with a chat's settings: fill in the defaults, change one, turn a transcript
 * into the text the chat asked for, and keep it when the chat keeps its history.
 */

/** The settings as they apply: what the chat set, else the platform's defaults. */
export function effectiveSettings(stored: ChatSettings, defaults: EffectiveSettings): EffectiveSettings {
  return {
    language: stored.language ?? defaults.language,
    auto: stored.auto ?? defaults.auto,
    timestamps: stored.timestamps ?? defaults.timestamps,
    textStyle: stored.textStyle ?? defaults.textStyle,
    history: stored.history ?? defaults.history,
    ...(stored.hotwords?.length ? { hotwords: stored.hotwords } : {}),
  };
}

/** The defaults every chat starts from beside its language and auto-transcription. */
export const BASE_DEFAULTS = { timestamps: false, textStyle: 'written', history: false } as const;

const NEXT_LANGUAGE: Record<ReplyLanguage, ReplyLanguage> = { vi: 'en', en: 'both', both: 'vi' };

/** The patch that moves one setting on: on/off flipped, the language to the next of vi, en, both. */
export function toggle(name: SettingName, settings: EffectiveSettings): ChatSettings {
  switch (name) {
    case 'language':
      return { language: NEXT_LANGUAGE[settings.language] };
    case 'textStyle':
      return { textStyle: settings.textStyle === 'written' ? 'raw' : 'written' };
    case 'auto':
      return { auto: !settings.auto };
    case 'timestamps':
      return { timestamps: !settings.timestamps };
    case 'history':
      return { history: !settings.history };
  }
}

/** The words that clear a chat's hotwords instead of setting them. */
const CLEAR_HOTWORDS = new Set(['clear', '-']);

/** What a chat's hotwords command needs beside its text. */
export interface HotwordsCommand {
  /** The chat's settings as they apply now: its hotwords and its language. */
  settings: EffectiveSettings;
  /** The platform's command with an example, for a chat that has none yet. */
  usage: string;
  /** The platform's message limit: a long list is shown in part. */
  messageLimit: number;
  /** Whether the one who sent it may change this chat's settings (asked only for a change). */
  mayChange(): Promise<boolean>;
}

/**
 * Both bots' hotwords command, from the text after it: nothing shows the chat's list; `clear`
 * or `-` removes it; else the words and phrases, separated by commas (or new lines), replace
 * it, within the limits of the HTTP `hotwords` field. Returns the reply and whether the list
 * changed.
 */
export async function hotwordsCommand(store: Store, chat: ChatKey, argument: string, command: HotwordsCommand): Promise<{ reply: string; changed: boolean }> {
  const { language } = command.settings;
  const clear = CLEAR_HOTWORDS.has(argument.trim().toLowerCase());
  const hotwords = clear ? [] : splitHotwords(argument);
  if (!clear && hotwords.length === 0) return { reply: hotwordsReply(command.settings.hotwords ?? [], command.usage, language, command.messageLimit), changed: false };
  if (!(await command.mayChange())) return { reply: text('adminsOnly', language), changed: false };
  if (hotwords.length > MAX_HOTWORDS) return { reply: tooManyHotwordsReply(hotwords.length, MAX_HOTWORDS, language), changed: false };
  const long = hotwords.find((hotword) => [...hotword].length > MAX_HOTWORD_CHARS);
  if (long !== undefined) return { reply: hotwordTooLongReply([...long].slice(0, 20).join('').trimEnd(), MAX_HOTWORD_CHARS, language), changed: false };
  const stored = await store.updateSettings(chat, { hotwords: clear ? undefined : hotwords });
  return { reply: clear ? text('hotwordsCleared', language) : hotwordsSaved(stored.hotwords ?? [], language, command.messageLimit), changed: true };
}

/** A time in a transcript as m:ss. */
export function clock(seconds: number): string {
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}

/**
 * How a chat reads its transcripts: the written form or the words as heard, and with
 * timestamps each segment starts with its time (`[0:05]`), kept inline so that splitting a
 * long transcript into messages never separates a time from its words.
 */
export function renderFor(settings: Pick<EffectiveSettings, 'textStyle' | 'timestamps'>): NonNullable<JobRequest['render']> {
  const style = (words: string): string => (settings.textStyle === 'written' ? toWritten(words) : words).trim();
  return {
    partial: style,
    final(transcript: Transcript): string {
      if (!settings.timestamps || transcript.segments.length === 0) return style(transcript.text);
      return transcript.segments.map((segment) => `[${clock(segment.start)}] ${style(segment.text)}`).join(' ');
    },
  };
}

/** What keeps a delivered transcript in the chat's history (only called when the chat has it on). */
export function remember(store: Store, chat: ChatKey, messageRef: string, authorId: string): NonNullable<JobRequest['onDelivered']> {
  return async (transcript) => {
    await store.remember({
      chat,
      messageRef,
      authorId,
      transcript: transcript.text,
      written: toWritten(transcript.text),
      duration: transcript.duration,
      createdAt: new Date(),
    });
  };
}

/**
 * A job's answer rebuilt from its record, with the platform's target for its address: the one
 * way both the front that took the job and a front that delivers for it build what the runner sends.
 */
export function answerFrom(record: ReplyRecord, reply: ReplyTarget, store: Store): JobAnswer {
  const { history } = record;
  return {
    id: record.id,
    chat: record.chat,
    reply,
    language: record.language,
    messageLimit: record.messageLimit,
    heading: record.heading,
    documentAfterParts: record.documentAfterParts,
    documentName: record.documentName,
    render: renderFor(record.style),
    onDelivered: history ? remember(store, history.chat, history.messageRef, history.authorId) : undefined,
    context: record.context,
  };
}
