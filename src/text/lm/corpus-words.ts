/**
 * The words of one corpus line as the acoustic model spells them: NFC (precomposed Vietnamese
 * letters, as the model's vocabulary holds them), lower case, and every run of characters that is
 * not a letter, a combining mark or a digit (punctuation, symbols, white space) taken as a word
 * break. `"Xin chào, Tuấn!"` → `["xin", "chào", "tuấn"]`.
 */
export function corpusWords(line: string): string[] {
  return line
    .normalize('NFC')
    .toLowerCase()
    .split(/[^\p{L}\p{M}\p{N}]+/u)
    .filter((word) => word !== '');
}
