// What a check run `image-promotion/<environment>` shows for one job: its title (the commit status's
// one-line description) and a Markdown summary: the failure's one-line reason first when it failed,
// then one row per image (image, source → destination, digest, bytes, result). Pure. GitHub caps
// `output.summary` at 65,535 characters (Checks API, "Create a check run":
// https://docs.github.com/rest/checks/runs#create-a-check-run), so rows past that are counted, not
// shown. Never puts anything but references, digests, sizes and error lines into the summary.
import { statusDescription, type CommitStatus, type ImageReport } from './commit-status';
import { oneLine } from './errors';
import { formatBytes } from './promotion-summary';

export const MAX_CHECK_SUMMARY = 65535;

export interface CheckOutput {
  readonly title: string;
  readonly summary: string;
}

const TABLE_HEAD = [
  '| image | source → destination | digest | bytes | result |',
  '| --- | --- | --- | --- | --- |',
];

export function renderCheckOutput(
  status: Pick<CommitStatus, 'state' | 'description' | 'images'>,
  maxLength = MAX_CHECK_SUMMARY,
): CheckOutput {
  const title = statusDescription(status.description);
  const images = status.images ?? [];
  const head: string[] = [];
  if (status.state === 'failure' || status.state === 'error') {
    const failed = images.find((image) => image.result === 'failed');
    // The reason of the first failed image in full (the title may be cut at 140 characters).
    head.push(`**${escapeText(failed?.reason ?? status.description)}**`, '');
  }
  head.push(escapeText(status.description));
  if (images.length === 0) return { title, summary: head.join('\n') };

  const lines = [...head, '', ...TABLE_HEAD];
  let length = lines.join('\n').length;
  for (let i = 0; i < images.length; i++) {
    const row = renderRow(images[i]!);
    const left = images.length - i;
    // Room for this row and, if more rows follow, for the line that counts the rest.
    const after = left > 1 ? moreLine(left - 1).length + 1 : 0;
    if (length + 1 + row.length + after > maxLength) {
      lines.push(moreLine(left));
      break;
    }
    lines.push(row);
    length += 1 + row.length;
  }
  return { title, summary: lines.join('\n') };
}

function moreLine(count: number): string {
  return `… and ${count} more image${count === 1 ? '' : 's'} (the worker's log has every image)`;
}

function renderRow(image: ImageReport): string {
  const cells = [
    escapeText(shortName(image.destination)),
    `\`${escapeCode(image.source)}\` → \`${escapeCode(image.destination)}\``,
    image.digest === undefined ? '–' : `\`${escapeCode(image.digest)}\``,
    image.bytes === undefined ? '–' : formatBytes(image.bytes),
    escapeText(
      image.result === 'failed' && image.reason !== undefined ? `failed: ${image.reason}` : image.result,
    ),
  ];
  return `| ${cells.join(' | ')} |`;
}

/** `registry/shop/api:1.2` -> `shop/api:1.2` (the registry hosts are in the next column). */
function shortName(reference: string): string {
  const slash = reference.indexOf('/');
  return slash === -1 ? reference : reference.slice(slash + 1);
}

/** One line, with the characters that would end a table cell or start Markdown/HTML escaped. */
function escapeText(text: string): string {
  return oneLine(text).replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`);
}

/** Inside a code span only `|` (a cell end, even there) and backticks matter. */
function escapeCode(text: string): string {
  return oneLine(text).replace(/\|/g, '\\|').replace(/`/g, "'");
}
