/**
 * What a user is told when node:util's parseArgs refuses the command line: its first sentence
 * ("Unknown option '--speed'"), without the advice about "--" that runs on after it.
 */
export function argsProblem(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split(/\.\s/)[0].replace(/\.$/, '');
}
