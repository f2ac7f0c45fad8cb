// The YAML files of an overlay as plain values that can still name the line of any node, so errors
// can name file and line (core/yaml.ts: js-yaml, with aliases bounded as kustomize bounds them).
// Pure: text in, values out; never reads files itself.
import { OverlayError } from '../errors';
import { readYaml, type YamlDocument } from '../yaml';

export type { YamlDocument };

export interface ParseOptions {
  /** kustomize reads kustomization files leniently (a repeated key: the last one wins) but
   * refuses repeated keys in resources and patches. */
  readonly duplicateKeys: 'last-wins' | 'error';
}

/** Parses every document of a (multi-document) YAML file, merge keys (`<<`) included as in
 * kustomize's yaml.v3. Throws OverlayError naming file and line for malformed YAML and for aliases
 * that expand beyond go-yaml v3's bound. Empty documents are kept as `null` values. */
export function parseYamlDocuments(
  file: string,
  text: string,
  options: ParseOptions = { duplicateKeys: 'error' },
): readonly YamlDocument[] {
  const read = readYaml(text, { duplicateKeys: options.duplicateKeys, mergeKeys: true });
  if (!read.ok) throw new OverlayError(file, read.reason, read.line);
  return read.documents;
}
