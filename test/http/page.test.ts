import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/core/errors.js';
import { encodeWav } from '../../src/core/wav.js';
import { toSrt, toVtt } from '../../src/core/subtitles.js';
import type { Word } from '../../src/core/types.js';
import { speech } from '../support/audio.js';
import { postFile, startTestServer } from '../support/server.js';

// The upload page at `/`, driven in a real Chromium through playwright-core. The browser is
// Debian's chromium package (installed by .ci/run); CHROMIUM_PATH points at any other.

const PHRASE = 'xin chào các bạn hôm nay trời đẹp quá chúng ta đi chơi nhé';
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
const OUTPUT = path.resolve('test-output');
const WAIT_MS = 20_000;

const BROWSER_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome-stable', '/usr/bin/google-chrome'];

/** The Chromium to drive; a missing one fails the run with the command that installs it. */
function chromiumPath(): string {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH=${configured} does not exist. Point it at a Chromium or Chrome binary.`);
    return configured;
  }
  const found = BROWSER_CANDIDATES.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new Error(
      'The upload page test needs a Chromium and found none at ' +
        `${BROWSER_CANDIDATES.join(', ')}. Install Debian's: \`apt-get update && apt-get install -y chromium\`, ` +
        'or set CHROMIUM_PATH=/path/to/chromium.',
    );
  }
  return found;
}

let browser: Browser;
let fakeMicrophone: string;

beforeAll(async () => {
  await mkdir(OUTPUT, { recursive: true });
  // Chromium's fake microphone plays this file (in a loop) to getUserMedia.
  fakeMicrophone = path.join(OUTPUT, 'page-microphone.wav');
  await writeFile(fakeMicrophone, await speech('một hai ba bốn năm'));
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${fakeMicrophone}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
});

async function newPage(url: string, options: { lang?: string } = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 1000 }, locale: 'vi-VN' });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(options.lang ? `${url}/?lang=${options.lang}` : `${url}/`);
  await page.waitForSelector('html[lang]');
  expect(errors, 'the page threw').toEqual([]);
  return { context, page };
}

/** Calls into the page's own module (app.js), as the page loaded it. */
function pageModule<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate<T>(`import('/app.js').then((m) => ${expression})`);
}

async function chooseFile(page: Page, name: string, mimeType: string, buffer: Buffer): Promise<void> {
  await page.setInputFiles('#file', { name, mimeType, buffer });
  await page.waitForSelector('#chosen:not([hidden])');
}

async function errorText(page: Page): Promise<string> {
  await page.waitForSelector('#error:not([hidden])');
  return (await page.textContent('#error-message')) ?? '';
}

describe('the upload page', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let audio: Buffer;
  beforeAll(async () => {
    server = await startTestServer();
    audio = await speech(PHRASE, 'mp3-44k-stereo');
  });
  afterAll(async () => server?.close());

  it('uploads an MP3, shows the exact transcript with word timings, and downloads it as SRT', async () => {
    const { context, page } = await newPage(server.url);
    try {
      // Every text the status line takes, in order, to see the upload and wait phases go by.
      await page.evaluate(() => {
        const seen: string[] = [];
        (window as unknown as { statuses: string[] }).statuses = seen;
        const status = document.getElementById('status') as HTMLElement;
        new MutationObserver(() => seen.push(status.textContent ?? '')).observe(status, { childList: true, characterData: true, subtree: true });
      });
      await chooseFile(page, 'loi-chao.mp3', 'audio/mpeg', audio);
      expect(await page.textContent('#file-name')).toBe('loi-chao.mp3');
      await page.click('#generate');
      await page.waitForSelector('#result:not([hidden]) .word');

      expect(await page.textContent('#transcript')).toBe(PHRASE);
      const words = await page.$$eval('#transcript .word', (spans) => spans.map((s) => [s.textContent, (s as HTMLElement).title]));
      expect(words.map(([word]) => word)).toEqual(PHRASE.split(' '));
      expect(words[0][1]).toMatch(/^\d+\.\d\d–\d+\.\d\d s · \d+%$/);
      expect(await page.textContent('#status')).toBe('Xong: đã chép lời 9,6 giây âm thanh.');
      // How many progress events an upload over loopback gives is up to the network stack.
      const statuses = await page.evaluate(() => (window as unknown as { statuses: string[] }).statuses);
      expect(statuses.filter((s) => !/^Đang tải lên… [1-9]\d*%$/.test(s))).toEqual([
        'Đã chọn “loi-chao.mp3”. Bấm “Tạo bản chép lời”.',
        'Đang tải lên… 0%',
        'Đã tải lên. Đang chờ và chép lời…',
        'Xong: đã chép lời 9,6 giây âm thanh.',
      ]);

      await page.check('#show-times');
      await page.screenshot({ path: path.join(OUTPUT, 'page.png'), fullPage: true });

      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#dl-srt')]);
      expect(download.suggestedFilename()).toBe('loi-chao.srt');
      const srt = await readFile(await download.path(), 'utf8');
      // One sentence with no pause in it is one cue, not cut after five seconds.
      expect(srt).toBe('1\n00:00:00,200 --> 00:00:09,420\nxin chào các bạn hôm nay trời đẹp quá chúng ta đi chơi nhé\n');
      // The page's SRT is the server's.
      const fromServer = await postFile(`${server.url}/wav2vec2?format=srt`, audio, 'loi-chao.mp3');
      expect(await fromServer.text()).toBe(srt);

      const [vtt] = await Promise.all([page.waitForEvent('download'), page.click('#dl-vtt')]);
      expect(vtt.suggestedFilename()).toBe('loi-chao.vtt');
      expect(await readFile(await vtt.path(), 'utf8')).toBe('WEBVTT\n\n00:00:00.200 --> 00:00:09.420\nxin chào các bạn hôm nay trời đẹp quá chúng ta đi chơi nhé\n');
      const [txt] = await Promise.all([page.waitForEvent('download'), page.click('#dl-txt')]);
      expect(await readFile(await txt.path(), 'utf8')).toBe(`${PHRASE}\n`);
    } finally {
      await context.close();
    }
  });

  it('plays the audio from a word when it is clicked, and copies the transcript', async () => {
    const { context, page } = await newPage(server.url);
    try {
      await context.grantPermissions(['clipboard-read', 'clipboard-write']);
      await chooseFile(page, 'loi-chao.mp3', 'audio/mpeg', audio);
      await page.click('#generate');
      await page.waitForSelector('#result:not([hidden]) .word');
      const start = await page.$eval('.word[data-index="5"]', (span) => Number((span as HTMLElement).title.split('–')[0]));

      await page.click('.word[data-index="5"]');
      await page.waitForFunction(
        (from) => {
          const player = document.getElementById('player') as HTMLAudioElement;
          return !player.paused && player.currentTime >= from;
        },
        start,
        { timeout: WAIT_MS },
      );
      expect(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.index)).toBe('5');

      await page.click('#copy');
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'Đã sao chép bản chép lời.');
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(PHRASE);
    } finally {
      await context.close();
    }
  });

  it('says in Vietnamese, then in English, that a PNG is not audio', async () => {
    const { context, page } = await newPage(server.url);
    try {
      await chooseFile(page, 'anh.png', 'image/png', PNG);
      await page.click('#generate');
      expect(await errorText(page)).toBe('Đây không phải tệp âm thanh hay video. Hãy chọn tệp MP3, WAV, M4A hoặc OGG.');
      expect(await page.textContent('#error-code')).toBe('unsupported_media_type · HTTP 415');
      await page.screenshot({ path: path.join(OUTPUT, 'page-error.png') });

      await page.click('#lang-en');
      expect(await page.textContent('#error-message')).toBe('That is not an audio or video file. Choose an MP3, WAV, M4A or OGG file.');
      expect(await page.getAttribute('html', 'lang')).toBe('en');
    } finally {
      await context.close();
    }
  });

  it('asks for a file before it sends anything', async () => {
    const { context, page } = await newPage(server.url);
    try {
      await page.click('#generate');
      expect(await errorText(page)).toBe('Chưa có âm thanh: hãy chọn một tệp hoặc ghi âm trước.');
    } finally {
      await context.close();
    }
  });

  it('speaks Vietnamese by default and English after the toggle, and remembers the choice', async () => {
    const { context, page } = await newPage(server.url);
    try {
      expect(await page.getAttribute('html', 'lang')).toBe('vi');
      expect(await page.textContent('#generate')).toBe('Tạo bản chép lời');
      expect(await page.getAttribute('#lang-vi', 'aria-pressed')).toBe('true');

      await page.click('#lang-en');
      expect(await page.textContent('#generate')).toBe('Generate transcript');
      expect(await page.textContent('#record-label')).toBe('Record from the microphone');
      expect(await page.getAttribute('#api-key', 'placeholder')).toBe('Paste the key here');
      expect(await page.title()).toBe('viet-stt · Vietnamese transcription');

      await page.reload();
      await page.waitForFunction(() => document.documentElement.lang === 'en');
      expect(await page.textContent('#generate')).toBe('Generate transcript');
    } finally {
      await context.close();
    }
  });

  it('records from the microphone and transcribes the recording', async () => {
    const { context, page } = await newPage(server.url);
    try {
      await context.grantPermissions(['microphone'], { origin: server.url });
      await page.click('#record');
      await page.waitForFunction(() => document.getElementById('record-time')?.textContent === '00:03', undefined, { timeout: WAIT_MS });
      await page.click('#record');
      await page.waitForSelector('#chosen:not([hidden])');
      expect(await page.textContent('#file-name')).toMatch(/^ghi-am-\d{8}-\d{6}\.webm$/);

      await page.click('#generate');
      await page.waitForSelector('#result:not([hidden])');
      // The fake microphone loops "một hai ba bốn năm" from wherever it was when recording began;
      // counted digits would be written as one number, so the words as heard are read here.
      await page.uncheck('#written-form');
      const heard = ((await page.textContent('#transcript')) ?? '').split(' ');
      expect(heard.length).toBeGreaterThanOrEqual(3);
      for (const word of heard) expect(['một', 'hai', 'ba', 'bốn', 'năm']).toContain(word);
    } finally {
      await context.close();
    }
  });

  it('reads its limits from /healthz: states them, refuses a file over MAX_UPLOAD_MB before sending it, stops a recording at MAX_DURATION_SEC', async () => {
    const limited = await startTestServer({ MAX_UPLOAD_MB: '0.5', MAX_DURATION_SEC: '2' });
    const { context, page } = await newPage(limited.url);
    try {
      await page.waitForFunction(() => document.getElementById('limits')?.textContent?.includes('MB'));
      expect(await page.textContent('#limits')).toBe('MP3, WAV, M4A, OGG · tối đa 2 giây, 0,5 MB');
      let uploads = 0;
      page.on('request', (request) => {
        if (request.url().endsWith('/wav2vec2')) uploads++;
      });
      // 20 s of 16 kHz WAV: 640 KB.
      await chooseFile(page, 'dai.wav', 'audio/wav', encodeWav(new Float32Array(16_000 * 20)));
      await page.click('#generate');
      expect(await errorText(page)).toBe('Tệp lớn hơn giới hạn tải lên của máy chủ. Giới hạn: 0,5 MB.');
      expect(uploads).toBe(0);

      await context.grantPermissions(['microphone'], { origin: limited.url });
      await page.click('#record');
      // The recording stops by itself at two seconds, and the file is ready to send.
      await page.waitForFunction(() => document.getElementById('file-name')?.textContent?.startsWith('ghi-am-'));
      expect(await page.textContent('#status')).toBe('Đã ghi âm 00:02. Bấm “Tạo bản chép lời”.');
    } finally {
      await context.close();
      await limited.close();
    }
  });

  it('shows the transcript in paragraphs at long pauses, and marks the words the model was unsure of', async () => {
    const { context, page } = await newPage(server.url);
    try {
      // The server's answer, as /wav2vec2 gives it: a 2 s pause after "chào", "các" heard at 40%.
      const words = [
        { word: 'xin', start: 0.2, end: 0.5, confidence: 0.97 },
        { word: 'chào', start: 0.6, end: 0.9, confidence: 0.95 },
        { word: 'các', start: 2.9, end: 3.1, confidence: 0.4 },
        { word: 'bạn', start: 3.2, end: 3.5, confidence: 0.93 },
      ];
      await page.route(/\/wav2vec2(\?.*)?$/, (route) =>
        route.fulfill({ json: { status: 'success', transcript: 'xin chào các bạn', written: 'xin chào các bạn', path: 'a.mp3', duration: 3.7, processing_ms: 10, device: 'cpu', words } }),
      );
      await chooseFile(page, 'a.mp3', 'audio/mpeg', audio);
      await page.click('#generate');
      await page.waitForSelector('#result:not([hidden])');
      expect(await page.$$eval('#transcript p', (ps) => ps.map((p) => p.textContent))).toEqual(['xin chào', 'các bạn']);
      expect(await page.$$eval('#transcript .word.unsure', (spans) => spans.map((s) => [s.textContent, (s as HTMLElement).title]))).toEqual([['các', '2.90–3.10 s · 40%']]);
      expect(await page.isVisible('#unsure-legend')).toBe(true);
      expect(await page.textContent('#unsure-legend')).toBe('Từ gạch chân chấm: mô hình không chắc (độ tin cậy dưới 60%).');
      await page.screenshot({ path: path.join(OUTPUT, 'page-paragraphs.png') });
    } finally {
      await context.close();
    }
  });

  it('shows the written form by default, and the words as heard (to click and play) after the toggle', async () => {
    const { context, page } = await newPage(server.url);
    try {
      const spoken = 'chuyển khoản năm trăm nghìn đồng lúc chín giờ ba mươi';
      const written = 'chuyển khoản 500.000 đồng lúc 9 giờ 30';
      const audio = await speech(spoken);
      await chooseFile(page, 'chuyen-khoan.wav', 'audio/wav', audio);
      await page.click('#generate');
      await page.waitForSelector('#result:not([hidden])');
      expect(await page.textContent('#transcript')).toBe(written);
      const [txt] = await Promise.all([page.waitForEvent('download'), page.click('#dl-txt')]);
      expect(await readFile(await txt.path(), 'utf8')).toBe(`${written}\n`);

      await page.uncheck('#written-form');
      expect(await page.textContent('#transcript')).toBe(spoken);
      expect(await page.$$eval('#transcript .word', (spans) => spans.length)).toBe(spoken.split(' ').length);
      await page.click('#lang-en');
      expect(await page.textContent('label:has(#written-form)')).toBe(' Written form');
    } finally {
      await context.close();
    }
  });

  it('has a sentence in both languages for every error code of the API', async () => {
    const { context, page } = await newPage(server.url);
    try {
      const messages = await pageModule<Record<string, { vi: string; en: string }>>(page, 'm.ERROR_MESSAGES');
      for (const code of Object.keys(ERROR_CATALOGUE)) {
        expect(messages[code], code).toEqual(expect.objectContaining({ vi: expect.stringMatching(/\S/), en: expect.stringMatching(/\S/) }));
      }
      const labels = await pageModule<Record<'vi' | 'en', Record<string, string>>>(page, 'm.LABELS');
      expect(Object.keys(labels.en).sort()).toEqual(Object.keys(labels.vi).sort());
    } finally {
      await context.close();
    }
  });

  it('builds the same subtitles as the server', async () => {
    const { context, page } = await newPage(server.url);
    try {
      const cases: Word[][] = [
        [],
        [{ word: 'một', start: 0, end: 0.4, confidence: 1 }],
        // A pause of 0.6 s, ten seconds of speech, and 84 characters each start a new cue.
        [
          { word: 'xin', start: 0.2, end: 0.5, confidence: 1 },
          { word: 'chào', start: 1.1, end: 1.5, confidence: 1 },
          { word: 'dài', start: 1.6, end: 11.9, confidence: 1 },
          ...Array.from({ length: 24 }, (_, i) => ({ word: 'nghiêng', start: 12 + i * 0.3, end: 12.2 + i * 0.3, confidence: 1 })),
          { word: 'giờ', start: 3599.9995, end: 3600.5, confidence: 1 },
        ],
      ];
      for (const words of cases) {
        const json = JSON.stringify(words);
        expect(await pageModule<string>(page, `m.toSrt(${json})`)).toBe(toSrt(words));
        expect(await pageModule<string>(page, `m.toVtt(${json})`)).toBe(toVtt(words));
      }
    } finally {
      await context.close();
    }
  });
});

describe('the upload page with API_KEY set', () => {
  const KEY = 'page-test-key';
  let server: Awaited<ReturnType<typeof startTestServer>>;
  beforeAll(async () => {
    server = await startTestServer({ API_KEY: KEY });
  });
  afterAll(async () => server?.close());

  it('loads without a key, says a key is needed, and works once the key is entered', async () => {
    const { context, page } = await newPage(server.url);
    try {
      await chooseFile(page, 'mot-hai-ba.wav', 'audio/wav', await speech('một hai ba'));
      await page.click('#generate');
      expect(await errorText(page)).toBe('Máy chủ này cần khóa API: nhập khóa vào ô “Khóa API” bên dưới rồi thử lại.');
      expect(await page.getAttribute('#key-box', 'open')).toBe('');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('api-key');

      await page.fill('#api-key', 'wrong-key');
      await page.click('#generate');
      expect(await errorText(page)).toBe('Máy chủ này cần khóa API: nhập khóa vào ô “Khóa API” bên dưới rồi thử lại.');

      await page.fill('#api-key', KEY);
      await page.click('#generate');
      await page.waitForSelector('#result:not([hidden]) .word');
      expect(await page.textContent('#transcript')).toBe('một hai ba');
      expect(await page.isHidden('#error')).toBe(true);

      // The key stays for the browser session, not beyond it.
      await page.reload();
      await page.waitForSelector('#key-box[open]');
      expect(await page.inputValue('#api-key')).toBe(KEY);
      expect(await page.evaluate(() => window.sessionStorage.getItem('viet-stt.apiKey'))).toBe(KEY);
      expect(await page.evaluate(() => window.localStorage.getItem('viet-stt.apiKey'))).toBeNull();
    } finally {
      await context.close();
    }
  });
});
