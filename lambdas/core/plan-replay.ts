// Skips resolving an overlay a second time when a push did not touch it. The resolver is a pure
// function of the answers its FileSource gives, so if every question it asked at `after` gets the
// same answer at `before`, it would render the same images there. Recording the questions at `after`
// and replaying them at `before` costs reads the FileSource has cached (unchanged blobs have the same
// object id) instead of parsing and building the overlay again. Never changes what is planned: any
// difference, or any doubt, means "resolve it".
import { isRetryable } from './errors';
import type { DirectoryEntry, EntryKind, FileSource } from './file-source';

type Question =
  | { readonly op: 'kindOf'; readonly path: string }
  | { readonly op: 'readFile'; readonly path: string }
  | { readonly op: 'listDirectory'; readonly path: string };

interface Answer {
  readonly question: Question;
  /** The answer as text, or the error's message prefixed with a marker. */
  readonly outcome: string;
}

export interface RecordingFileSource extends FileSource {
  /** Every distinct question asked at the recorded revision, with its answer. */
  readonly answers: () => Promise<readonly Answer[]>;
}

/** A FileSource that passes everything to `source` and remembers what it answered at `revision`. */
export function recordAnswers(source: FileSource, revision: string): RecordingFileSource {
  const answers = new Map<string, Promise<Answer>>();
  function remember<T>(rev: string, question: Question, ask: () => Promise<T>): Promise<T> {
    const result = ask();
    if (rev !== revision) return result;
    const key = `${question.op}\0${question.path}`;
    if (!answers.has(key)) {
      const answer = result.then(
        (value) => ({ question, outcome: describeAnswer(value) }),
        (e: unknown) => ({ question, outcome: describeFailure(e, revision) }),
      );
      answers.set(key, answer);
    }
    return result;
  }
  return {
    kindOf: (rev, path) => remember(rev, { op: 'kindOf', path }, () => source.kindOf(rev, path)),
    readFile: (rev, path) => remember(rev, { op: 'readFile', path }, () => source.readFile(rev, path)),
    listDirectory: (rev, path) =>
      remember(rev, { op: 'listDirectory', path }, () => source.listDirectory(rev, path)),
    answers: () => Promise.all(answers.values()),
  };
}

/** True when `source` answers every recorded question identically at `revision`. Retryable
 * failures of the outside system are thrown; anything else that differs is simply `false`. */
export async function answersMatch(
  source: FileSource,
  revision: string,
  answers: readonly Answer[],
): Promise<boolean> {
  const checks = await Promise.all(
    answers.map(async ({ question, outcome }) => {
      let now: string;
      try {
        now = describeAnswer(await ask(source, revision, question));
      } catch (e: unknown) {
        if (isRetryable(e)) throw e;
        now = describeFailure(e, revision);
      }
      return now === outcome;
    }),
  );
  return checks.every(Boolean);
}

function ask(
  source: FileSource,
  revision: string,
  question: Question,
): Promise<EntryKind | undefined | string | readonly DirectoryEntry[]> {
  switch (question.op) {
    case 'kindOf':
      return source.kindOf(revision, question.path);
    case 'readFile':
      return source.readFile(revision, question.path);
    case 'listDirectory':
      return source.listDirectory(revision, question.path);
  }
}

function describeAnswer(value: unknown): string {
  if (value === undefined) return '\0undefined';
  return typeof value === 'string' ? `=${value}` : JSON.stringify(value);
}

function describeFailure(e: unknown, revision: string): string {
  // The same failure at both revisions may name each revision ("no such file at revision X"): compare
  // without it. Anything else that differs only costs a resolution.
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return `\0error ${message.replaceAll(revision, '<revision>')}`;
}
