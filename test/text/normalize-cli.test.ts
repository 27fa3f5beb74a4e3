import { describe, expect, it } from 'vitest';
import { viet } from '../support/cli.js';

// `npx viet-stt normalize …` as a user types it: the bin script, in a child process.

describe('viet-stt normalize', () => {
  it.each<[string, string[], string]>([
    ['one argument', ['chuyển khoản năm trăm nghìn đồng'], 'chuyển khoản 500.000 đồng\n'],
    ['several arguments are one text', ['cuộc', 'họp', 'lúc', 'chín', 'giờ', 'sáng', 'mai'], 'cuộc họp lúc 9 giờ sáng mai\n'],
    ['words that are no number', ['xin chào các bạn'], 'xin chào các bạn\n'],
    ['already written text', ['ngày 18/5/2022'], 'ngày 18/5/2022\n'],
    ['an empty argument', [''], '\n'],
    ['text after -- may start with "-"', ['--', '-', 'hai mươi mốt'], '- 21\n'],
  ])('prints the written form of %s', async (_name, args, stdout) => {
    expect(await viet(['normalize', ...args])).toEqual({ code: 0, stdout, stderr: '' });
  });

  it.each<[string, string | string[], string]>([
    ['lines, one out for each in', 'hai mươi mốt\nba phẩy năm\nthứ hai\n', '21\n3,5\nthứ hai\n'],
    ['a last line without a newline', 'năm mươi phần trăm', '50%\n'],
    ['empty lines kept', '\nhai mươi\n\n', '\n20\n\n'],
    ['CRLF lines', 'mười lăm\r\nhai mươi\r\n', '15\n20\n'],
    ['nothing at all', '', ''],
    ['a line split across writes', ['ngày mười tám tháng ', 'năm\nhai triệu đồng\n'], 'ngày 18/5\n2.000.000 đồng\n'],
  ])('with no argument reads stdin: %s', async (_name, stdin, stdout) => {
    expect(await viet(['normalize'], { stdin })).toEqual({ code: 0, stdout, stderr: '' });
  });

  it('keeps up with a long input, line by line', async () => {
    const lines = Array.from({ length: 5000 }, (_, k) => (k % 2 ? 'hai nghìn rưỡi' : 'một người'));
    const run = await viet(['normalize'], { stdin: `${lines.join('\n')}\n` });
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n').slice(0, 4)).toEqual(['một người', '2.500', 'một người', '2.500']);
    expect(run.stdout.split('\n')).toHaveLength(5001);
  });

  it.each([['--help'], ['-h'], ['hai', '--help']])('%s prints its usage and exits 0', async (...args) => {
    const run = await viet(['normalize', ...args]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: viet-stt normalize \[<text>\.\.\.\]\n/);
    expect(run.stderr).toBe('');
  });

  it.each([['--bogus'], ['-x'], ['--help=yes']])('answers a bad option %s with one line on stderr and exit 2', async (option) => {
    const run = await viet(['normalize', option, 'hai mươi']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n')).toHaveLength(2);
    expect(run.stderr).toMatch(/^viet-stt normalize: .+; see viet-stt normalize --help\n$/);
  });

  it('is listed in the usage of viet-stt', async () => {
    const run = await viet(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('normalize [<text>...]');
  });
});
