import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/core/errors.js';
import { Metrics } from '../../src/core/metrics.js';
import { windowsFor } from '../../src/core/transcriber.js';
import { encodeWav } from '../../src/core/wav.js';
import { buildApp, PUBLIC_DIR, SUBTITLES_MODULE } from '../../src/http/app.js';
import { MemoryJobBackend } from '../../src/jobs/memory-backend.js';
import { createLogger } from '../../src/logger.js';
import { synthesizeSpeech } from '../../testkit/tone-model.js';
import { speech } from '../support/audio.js';
import { testCore } from '../support/core.js';
import { postFile, waitUntil } from '../support/server.js';

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

/**
 * The service's app as main.ts builds it, with the embedded job backend the page sends its files
 * to, on a real port over the tone-model core.
 */
async function startPageServer(env: Record<string, string> = {}) {
  const log = createLogger({ level: 'silent' });
  const metrics = new Metrics({ defaultMetrics: false });
  const { core, config } = await testCore(env, log, { metrics });
  const jobs = MemoryJobBackend.fromConfig(config, core.transcriber, log);
  const app = await buildApp({ config, transcriber: core.transcriber, logger: log, metrics, jobs });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    core,
    async close() {
      await app.close();
      await jobs.close();
      await core.close();
    },
  };
}

/** Nearly ten minutes of the tone model's speech as a WAV: its words, and how many of the model's windows it takes. */
function longSpeech(): { wav: Buffer; words: number; windows: number } {
  const digits = 'một hai ba bốn năm sáu bảy tám chín mười'.split(' ');
  const words = Array.from({ length: 880 }, (_, i) => digits[(i * 7) % digits.length]);
  const samples = synthesizeSpeech(words.join(' '));
  return { wav: encodeWav(samples), words: words.length, windows: windowsFor(samples, { chunkSec: 20, strideSec: 4 }).length };
}

/** Keeps every text `selector` takes, in order, in `window.seen[selector]`. */
async function recordTexts(page: Page, selector: string): Promise<void> {
  await page.evaluate((sel) => {
    const store = window as unknown as { seen?: Record<string, string[]> };
    const seen: string[] = [];
    store.seen = { ...store.seen, [sel]: seen };
    const node = document.querySelector(sel) as HTMLElement;
    new MutationObserver(() => seen.push(node.textContent ?? '')).observe(node, { childList: true, characterData: true, subtree: true });
  }, selector);
}

function textsSeen(page: Page, selector: string): Promise<string[]> {
  return page.evaluate((sel) => (window as unknown as { seen: Record<string, string[]> }).seen[sel], selector);
}

/** Waits until `selector`'s text matches `pattern`, and returns it. */
async function textMatching(page: Page, selector: string, pattern: RegExp): Promise<string> {
  const handle = await page.waitForFunction(
    ([sel, source]) => {
      const text = document.querySelector(sel)?.textContent ?? '';
      return new RegExp(source).test(text) ? text : undefined;
    },
    [selector, pattern.source] as const,
  );
  return (await handle.jsonValue()) as string;
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

/** Calls into one of the page's own modules (`/i18n.js`, say), as the page loaded it. */
function pageModule<T>(page: Page, module: string, expression: string): Promise<T> {
  return page.evaluate<T>(`import('${module}').then((m) => ${expression})`);
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
  let server: Awaited<ReturnType<typeof startPageServer>>;
  let audio: Buffer;
  let long: ReturnType<typeof longSpeech>;
  /** Twenty minutes of speech: seconds of the model's windows, time enough to act while they run. */
  let twenty: Buffer;
  beforeAll(async () => {
    // One job at a time, so that a job held running keeps the next one waiting; room for long files.
    server = await startPageServer({ QUEUE_CONCURRENCY: '1', MAX_DURATION_SEC: '1500', MAX_UPLOAD_MB: '64' });
    audio = await speech(PHRASE, 'mp3-44k-stereo');
    long = longSpeech();
    twenty = encodeWav(synthesizeSpeech(Array(1800).fill('mười').join(' ')));
  });
  afterAll(async () => server?.close());

  it('uploads an MP3, shows the exact transcript with word timings, and downloads it as SRT', async () => {
    const { context, page } = await newPage(server.url);
    try {
      // Every text the status line takes, in order, to see the upload and wait phases go by.
      await recordTexts(page, '#status');
      await chooseFile(page, 'loi-chao.mp3', 'audio/mpeg', audio);
      expect(await page.textContent('#file-name')).toBe('loi-chao.mp3');
      await page.click('#generate');
      await page.waitForSelector('#result:not([hidden]) .word');

      expect(await page.textContent('#transcript')).toBe(PHRASE);
      const words = await page.$$eval('#transcript .word', (spans) => spans.map((s) => [s.textContent, (s as HTMLElement).title]));
      expect(words.map(([word]) => word)).toEqual(PHRASE.split(' '));
      expect(words[0][1]).toMatch(/^\d+\.\d\d–\d+\.\d\d s · \d+%$/);
      expect(await page.textContent('#status')).toBe('Xong: đã chép lời 9,6 giây âm thanh.');
      // How many progress events an upload over loopback gives is up to the network stack, and
      // whether a look at the job finds it running depends on how fast it runs; each is said once.
      const statuses = (await textsSeen(page, '#status')).filter((s, i, all) => s !== all[i - 1] && !/^Đang tải lên… [1-9]\d*%$/.test(s));
      expect(statuses.filter((s) => s !== 'Đang chép lời…')).toEqual([
        'Đã chọn “loi-chao.mp3”. Bấm “Tạo bản chép lời”.',
        'Đang tải lên… 0%',
        'Đã tải lên. Đang xếp hàng…',
        // Nothing else in the queue: the 202 says so.
        'Đang chờ: bạn là người tiếp theo.',
        'Xong: đã chép lời 9,6 giây âm thanh.',
      ]);
      expect(statuses.indexOf('Đang chép lời…')).toBeOneOf([-1, 4]);

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
      // The job is taken at once and fails when its audio is read: the code, with no HTTP status.
      expect(await page.textContent('#error-code')).toBe('unsupported_media_type');
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
    const limited = await startPageServer({ MAX_UPLOAD_MB: '0.5', MAX_DURATION_SEC: '2' });
    const { context, page } = await newPage(limited.url);
    try {
      await page.waitForFunction(() => document.getElementById('limits')?.textContent?.includes('MB'));
      expect(await page.textContent('#limits')).toBe('MP3, WAV, M4A, OGG · tối đa 2 giây, 0,5 MB');
      let uploads = 0;
      page.on('request', (request) => {
        if (request.url().endsWith('/jobs')) uploads++;
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
      const result = { status: 'success', transcript: 'xin chào các bạn', written: 'xin chào các bạn', path: 'a.mp3', duration: 3.7, processing_ms: 10, device: 'cpu', words };
      await page.route(/\/jobs(\/[\w-]+)?$/, (route) =>
        route.request().method() === 'POST'
          ? route.fulfill({ status: 202, headers: { location: '/jobs/j1' }, json: { id: 'j1', status: 'queued', position: 0, eta_sec: 5 } })
          : route.fulfill({ json: { id: 'j1', status: 'done', position: null, progress: 1, result } }),
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
      const messages = await pageModule<Record<string, { vi: string; en: string }>>(page, '/i18n.js', 'm.ERROR_MESSAGES');
      for (const code of Object.keys(ERROR_CATALOGUE)) {
        expect(messages[code], code).toEqual(expect.objectContaining({ vi: expect.stringMatching(/\S/), en: expect.stringMatching(/\S/) }));
      }
      const labels = await pageModule<Record<'vi' | 'en', Record<string, string>>>(page, '/i18n.js', 'm.LABELS');
      expect(Object.keys(labels.en).sort()).toEqual(Object.keys(labels.vi).sort());
    } finally {
      await context.close();
    }
  });

  it('answers a Range past the end of one of its files 416 in the catalogue\'s shape, and the whole file after it', async () => {
    const past = await fetch(`${server.url}/app.js`, { headers: { range: 'bytes=999999-' } });
    expect(past.status).toBe(416);
    expect(await past.json()).toEqual({ status: 'error', error: 'range_not_satisfiable', message: 'The requested range is outside the file.' });
    const whole = await fetch(`${server.url}/app.js`);
    expect([whole.status, await whole.text()]).toEqual([200, await readFile(path.join(PUBLIC_DIR, 'app.js'), 'utf8')]);
  });

  it('loads its modules as they are, the subtitles one being the very file the server uses', async () => {
    const { context, page } = await newPage(server.url);
    try {
      const modules = ['app.js', 'i18n.js', 'recorder.js', 'storage.js', 'transcript.js', 'upload.js', 'subtitles.js'];
      for (const name of modules) {
        const response = await fetch(`${server.url}/${name}`);
        expect([name, response.status, response.headers.get('content-type')]).toEqual([name, 200, expect.stringMatching(/^(text|application)\/javascript; charset=utf-8$/)]);
        const source = name === 'subtitles.js' ? SUBTITLES_MODULE : path.join(PUBLIC_DIR, name);
        expect(await response.text()).toBe(await readFile(source, 'utf8'));
      }
      const words = [
        { word: 'một', start: 0.2, end: 0.5, confidence: 1 },
        { word: 'hai', start: 1.4, end: 1.7, confidence: 1 },
      ];
      expect(await pageModule<string>(page, '/subtitles.js', `m.toSrt(${JSON.stringify(words)})`)).toBe(
        '1\n00:00:00,200 --> 00:00:00,500\nmột\n\n2\n00:00:01,400 --> 00:00:01,700\nhai\n',
      );
    } finally {
      await context.close();
    }
  });

  it('says where a job stands in words, in both languages', async () => {
    const { context, page } = await newPage(server.url);
    try {
      const said = (lang: string, view: object): Promise<string[]> =>
        pageModule<string[]>(
          page,
          '/upload.js',
          `import('/i18n.js').then((i) => { i.setLanguage('${lang}'); const d = m.describeJob(${JSON.stringify(view)});` +
            ` return [i.t(d.status.key, d.status.params), d.detail ? i.t(d.detail.key, { ...d.detail.params, left: i.timeLeft(d.detail.leftSec ?? 0) }) : '', String(d.percent)]; })`,
        );
      expect(await said('vi', { status: 'queued', position: 0, progress: 0 })).toEqual(['Đang chờ: bạn là người tiếp theo.', '', 'undefined']);
      expect(await said('vi', { status: 'queued', position: 1, progress: 0 })).toEqual(['Đang chờ: còn 1 bản chép lời trước bạn.', '', 'undefined']);
      expect(await said('vi', { status: 'queued', position: 3, progress: 0 })).toEqual(['Đang chờ: còn 3 bản chép lời trước bạn.', '', 'undefined']);
      expect(await said('vi', { status: 'running', position: null, progress: 0.25, windows_done: 5, windows: 20, eta_sec: 75 })).toEqual([
        'Đang chép lời…',
        'Xong 5/20 đoạn · còn khoảng 1 phút 15 giây',
        '25',
      ]);
      expect(await said('vi', { status: 'running', position: null, progress: 0.05, windows_done: 1, windows: 20 })).toEqual(['Đang chép lời…', 'Xong 1/20 đoạn', '5']);
      expect(await said('en', { status: 'queued', position: 0, progress: 0 })).toEqual(['Waiting: you are next.', '', 'undefined']);
      expect(await said('en', { status: 'queued', position: 1, progress: 0 })).toEqual(['Waiting: 1 transcription ahead of you.', '', 'undefined']);
      expect(await said('en', { status: 'queued', position: 3, progress: 0 })).toEqual(['Waiting: 3 transcriptions ahead of you.', '', 'undefined']);
      expect(await said('en', { status: 'running', position: null, progress: 0.5, windows_done: 10, windows: 20, eta_sec: 8 })).toEqual([
        'Transcribing…',
        '10 of 20 windows done · about 8 s left',
        '50',
      ]);
      // A backend that gives only the share done still moves the bar.
      expect(await said('en', { status: 'running', position: null, progress: 0.5 })).toEqual(['Transcribing…', '', '50']);
    } finally {
      await context.close();
    }
  });

  it('shows a long file\'s progress, windows done of all and the time left, as the windows finish, then its transcript', async () => {
    const { context, page } = await newPage(server.url);
    try {
      await recordTexts(page, '#progress-text');
      const file = path.join(os.tmpdir(), 'dai.wav');
      await writeFile(file, long.wav);
      await page.setInputFiles('#file', file);
      await page.waitForSelector('#chosen:not([hidden])');

      await page.click('#generate');
      const first = await textMatching(page, '#progress-text', /^Xong \d+\/\d+ đoạn · còn khoảng (\d+ phút )?\d+ giây$/);
      await page.screenshot({ path: path.join(OUTPUT, 'page-progress.png') });
      expect(first).toMatch(new RegExp(`^Xong \\d+/${long.windows} đoạn · còn khoảng (\\d+ phút )?\\d+ giây$`));
      await page.waitForSelector('#result:not([hidden])', { timeout: 60_000 });
      expect(await page.textContent('#status')).toMatch(/^Xong: đã chép lời 5\d\d(,\d)? giây âm thanh\.$/);
      expect(await page.isHidden('#progress-text')).toBe(true);
      await page.uncheck('#written-form');
      expect(await page.$$eval('#transcript .word', (spans) => spans.length)).toBe(long.words);

      // Every state the job's events gave on the way: windows done of all (the time left once
      // their pace is known), never fewer than before, at least two of them before the end.
      const seen = (await textsSeen(page, '#progress-text')).filter((text) => text !== '');
      const done = seen.map((text) => {
        const match = /^Xong (\d+)\/(\d+) đoạn( · còn khoảng (\d+ phút )?\d+ giây)?$/.exec(text);
        expect(match, text).not.toBeNull();
        expect(Number(match?.[2])).toBe(long.windows);
        return Number(match?.[1]);
      });
      expect(done).toEqual([...done].sort((a, b) => a - b));
      expect(new Set(done.filter((k) => k < long.windows)).size).toBeGreaterThanOrEqual(2);
    } finally {
      await context.close();
    }
  });

  it('says in words how many transcriptions are ahead while others run, cancels a job that waits, and transcribes once they are done', async () => {
    const { context, page } = await newPage(server.url);
    await chooseFile(page, 'mot-hai-ba.wav', 'audio/wav', await speech('một hai ba'));
    const short = await speech('tốt');
    // Held: a job of twenty minutes running (the one place), which takes seconds, cancelled once
    // the page has said its piece; and a short one waiting behind it.
    const held = new AbortController();
    const running = server.core.transcriber.transcribe({ kind: 'buffer', data: twenty }, { signal: held.signal }).catch((error: unknown) => error);
    try {
      await waitUntil(async () => (server.core.transcriber.status().running === 1 ? true : undefined), WAIT_MS, 'the long job to run');
      const waiting = server.core.transcriber.transcribe({ kind: 'buffer', data: short });
      const [accepted] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/jobs') && r.request().method() === 'POST'), page.click('#generate')]);
      expect(await accepted.json()).toMatchObject({ status: 'queued', position: 2 });
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'Đang chờ: còn 2 bản chép lời trước bạn.');
      expect(await page.isHidden('#progress-text')).toBe(true);
      await page.click('#lang-en');
      expect(await page.textContent('#status')).toBe('Waiting: 2 transcriptions ahead of you.');
      await page.screenshot({ path: path.join(OUTPUT, 'page-queued.png') });

      // Cancelled while it waits, it leaves the queue.
      await page.click('#cancel');
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'Cancelled.');
      const { id } = (await accepted.json()) as { id: string };
      expect(await (await fetch(`${server.url}/jobs/${id}`)).json()).toEqual({
        id,
        status: 'cancelled',
        position: null,
        progress: 0,
        error: { error: 'cancelled', message: 'The job was cancelled.' },
      });
      expect(await page.isHidden('#cancel')).toBe(true);

      held.abort();
      expect((await waiting).text).toBe('tốt');
      await page.click('#generate');
      await page.waitForSelector('#result:not([hidden]) .word');
      expect(await page.textContent('#transcript')).toBe('một hai ba');
      expect(await page.textContent('#status')).toBe('Done: transcribed 1.9 s of audio.');
    } finally {
      held.abort();
      await running;
      await context.close();
    }
  });

  it('cancels a running job with the cancel button, and the next one works', async () => {
    const { context, page } = await newPage(server.url);
    try {
      // From a file, as the long one above: a path is handed to the browser, not 38 MB of bytes.
      const file = path.join(os.tmpdir(), 'hai-muoi-phut.wav');
      await writeFile(file, twenty);
      await page.setInputFiles('#file', file);
      await page.waitForSelector('#chosen:not([hidden])');
      const [accepted] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/jobs') && r.request().method() === 'POST'), page.click('#generate')]);
      // The browser keeps no body this big for the test to read; the job is named in its Location.
      const id = (accepted.headers().location ?? '').replace(/^\/jobs\//, '');
      await textMatching(page, '#progress-text', /^Xong \d+\/\d+ đoạn/);
      const [deleted] = await Promise.all([page.waitForResponse((r) => r.url().endsWith(`/jobs/${id}`) && r.request().method() === 'DELETE'), page.click('#cancel')]);
      expect(deleted.status()).toBe(200);
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'Đã hủy.');
      expect(await page.isHidden('#cancel')).toBe(true);
      expect(await page.isHidden('#progress-box')).toBe(true);
      expect(await page.isHidden('#result')).toBe(true);
      const view = (await (await fetch(`${server.url}/jobs/${id}`)).json()) as { status: string; progress: number; error: unknown };
      expect(view).toMatchObject({ status: 'cancelled', error: { error: 'cancelled', message: 'The job was cancelled.' } });
      expect(view.progress).toBeGreaterThan(0);
      expect(view.progress).toBeLessThan(1);
      await waitUntil(async () => (server.core.transcriber.status().running === 0 ? true : undefined), WAIT_MS, 'the cancelled job to stop');

      await chooseFile(page, 'mot-hai-ba.wav', 'audio/wav', await speech('một hai ba'));
      await page.click('#generate');
      await page.waitForSelector('#result:not([hidden]) .word');
      expect(await page.textContent('#transcript')).toBe('một hai ba');
    } finally {
      await context.close();
    }
  });
});

describe('GET /jobs/<id>/events, which the page follows', () => {
  let server: Awaited<ReturnType<typeof startPageServer>>;
  beforeAll(async () => {
    server = await startPageServer({ MAX_DURATION_SEC: '600' });
  });
  afterAll(async () => server?.close());

  /** The `data` of every `event: job` of a stream, read to its end. */
  async function jobEvents(response: Response): Promise<Record<string, unknown>[]> {
    const events = (await response.text()).split('\n\n').filter(Boolean);
    return events.map((event) => {
      const [name, data] = event.split('\n');
      expect(name).toBe('event: job');
      return JSON.parse(data.replace(/^data: /, '')) as Record<string, unknown>;
    });
  }

  it('sends the job each time one of its windows is done, then once it has ended, and ends', async () => {
    const { wav, windows } = longSpeech();
    const accepted = (await (await postFile(`${server.url}/jobs`, wav, 'dai.wav')).json()) as { id: string };
    const response = await fetch(`${server.url}/jobs/${accepted.id}/events`);
    expect([response.status, response.headers.get('content-type')]).toEqual([200, 'text/event-stream; charset=utf-8']);
    const events = await jobEvents(response);
    const last = events.at(-1) as Record<string, unknown>;
    expect(last).toMatchObject({ id: accepted.id, status: 'done', position: null, progress: 1, result: { status: 'success', path: 'dai.wav' } });
    const started = events.filter((event) => event.status === 'running');
    // While ffmpeg still decodes, the job runs with no windows yet: said only before the first.
    const decoding = started.findIndex((event) => event.windows !== undefined);
    for (const event of started.slice(0, decoding)) expect(event).toEqual({ id: accepted.id, status: 'running', position: null, progress: 0 });
    const running = started.slice(decoding);
    const done = running.map((event) => event.windows_done as number);
    // Every window is told as it finishes: no count is missed or said twice but the last.
    expect(done.filter((k, i) => k !== done[i - 1])).toEqual(Array.from({ length: windows }, (_, i) => i + 1));
    for (const event of running) expect(event).toEqual({ id: accepted.id, status: 'running', position: null, progress: expect.any(Number), windows_done: expect.any(Number), windows, ...(event.eta_sec === undefined ? {} : { eta_sec: expect.any(Number) }) });
    expect(running.filter((event) => typeof event.eta_sec === 'number').length).toBeGreaterThanOrEqual(windows - 2);
  });

  it('is 404 job_not_found for an unknown id, and the next one works', async () => {
    const response = await fetch(`${server.url}/jobs/00000000-0000-4000-8000-000000000000/events`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ status: 'error', error: 'job_not_found', message: expect.any(String) });
    const accepted = (await (await postFile(`${server.url}/jobs`, await speech('tốt'), 'tot.wav')).json()) as { id: string };
    const events = await jobEvents(await fetch(`${server.url}/jobs/${accepted.id}/events`));
    expect(events.at(-1)).toMatchObject({ status: 'done', result: { transcript: 'tốt' } });
  });
});

describe('the upload page with API_KEY set', () => {
  const KEY = 'page-test-key';
  let server: Awaited<ReturnType<typeof startPageServer>>;
  beforeAll(async () => {
    server = await startPageServer({ API_KEY: KEY });
  });
  afterAll(async () => server?.close());

  it('loads without a key, says a key is needed, and works once the key is entered', async () => {
    const { context, page } = await newPage(server.url);
    try {
      await chooseFile(page, 'mot-hai-ba.wav', 'audio/wav', await speech('một hai ba'));
      await page.click('#generate');
      expect(await errorText(page)).toBe('Máy chủ này cần khóa API: nhập khóa vào ô “Khóa API” bên dưới rồi thử lại.');
      expect(await page.getAttribute('#key-box', 'open')).toBe('');
      // The page's own files need no key; a job's events do, as every route does.
      expect((await fetch(`${server.url}/subtitles.js`)).status).toBe(200);
      expect((await fetch(`${server.url}/jobs/00000000-0000-4000-8000-000000000000/events`)).status).toBe(401);
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
