// A command was called wrongly: the CLI prints the message and the command's usage, exit status 2.
export class UsageError extends Error {
  override name = 'UsageError';
}
