// The YAML files of an overlay as plain values that can still name the line of any node, so errors
// can name file and line (core/yaml.ts: js-yaml, with aliases bounded as kustomize bounds them).
// Pure: text in, values out; never reads files itself.
import { OverlayError, PlanningLimitError } from '../errors';
import { readYaml, type YamlDocument } from '../yaml';

export type { YamlDocument };

// go-yaml v3's alias rule (core/yaml.ts) is per document: a document may alias 99 nodes for each one
// written, so a file of many small documents, or many files, multiplied the text ~99 times. 80
// documents of 2.4 KB (192 KB) made 7.8 million nodes when the resolver copied them (0.7 s, 173 MiB);
// 1 MiB of them would have been ~4 s and beyond the webhook's 512 MB. One document at go-yaml's
// limit stands for ~1.2 million aliased nodes at most; real overlays alias a few hundred.
export const MAX_ALIASED_NODES = 2_000_000;

/** The aliased nodes one resolution may read, all its files and inline patches together. */
export class AliasBudget {
  private used = 0;

  constructor(private readonly limit = MAX_ALIASED_NODES) {}

  spend(file: string, nodes: number): void {
    this.used += nodes;
    if (this.used > this.limit) {
      throw new PlanningLimitError(
        file,
        'the alias budget',
        `YAML aliases of the overlay's files expand to more than ${this.limit} nodes in all; write the values out`,
      );
    }
  }
}

export interface ParseOptions {
  /** kustomize reads kustomization files leniently (a repeated key: the last one wins) but
   * refuses repeated keys in resources and patches. */
  readonly duplicateKeys: 'last-wins' | 'error';
}

/** Parses every document of a (multi-document) YAML file, merge keys (`<<`) included as in
 * kustomize's yaml.v3. Throws OverlayError naming file and line for malformed YAML and for aliases
 * that expand beyond go-yaml v3's bound; PlanningLimitError once `aliases` is spent. Empty documents are kept as `null` values. */
export function parseYamlDocuments(
  file: string,
  text: string,
  options: ParseOptions = { duplicateKeys: 'error' },
  aliases?: AliasBudget,
): readonly YamlDocument[] {
  const read = readYaml(text, { duplicateKeys: options.duplicateKeys, mergeKeys: true });
  if (!read.ok) throw new OverlayError(file, read.reason, read.line);
  if (read.aliasedNodes > 0) aliases?.spend(file, read.aliasedNodes);
  return read.documents;
}
