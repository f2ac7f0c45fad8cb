// Loading one kustomization file (kustomization.yaml, .yml or Kustomization) into a typed value:
// the fields the resolver applies, validated with errors naming file and line, and a warning for
// every field that could change images but is not applied. Never follows the entries it lists
// (that is build-kustomization.ts) and never reads anything but the one file.
import { OverlayError } from '../errors';
import type { ImageOverride } from './images-transformer';
import type { OverlayFiles } from './overlay-files';
import { isWithinDirectory, joinRepoPath } from './repo-path';
import { isJsonMap, setOwn } from './resource';
import type { JsonMap } from './resource';
import type { TargetSelector } from './select-resources';

export const KUSTOMIZATION_FILE_NAMES: readonly string[] = [
  'kustomization.yaml',
  'kustomization.yml',
  'Kustomization',
];

/** A string entry of a list field, with the line it is on. */
export interface Entry {
  readonly value: string;
  readonly line: number;
}

export interface PatchEntry {
  /** Repository-relative patch file, or undefined for an inline patch. */
  readonly path?: string;
  readonly inline?: string;
  readonly target?: TargetSelector;
  /** `options` of a `patches` entry: a strategic merge patch may rename / re-kind its target. */
  readonly options?: { readonly allowNameChange: boolean; readonly allowKindChange: boolean };
  readonly line: number;
}

/** A ConfigMap or Secret a generator creates: only its identity matters here (patches may select
 * it); its data holds no images. */
export interface GeneratedResource {
  readonly kind: 'ConfigMap' | 'Secret';
  readonly name: string;
  readonly namespace?: string;
  /** Keys from `literals` (with their values) and `files` (`key=path` or the file's name). */
  readonly data: Readonly<Record<string, string>>;
}

export interface Kustomization {
  /** Repository-relative path of the kustomization file. */
  readonly file: string;
  /** Its directory: entries are relative to it. */
  readonly directory: string;
  readonly isComponent: boolean;
  /** `resources` then the legacy `bases`, in kustomize's order. */
  readonly resources: readonly Entry[];
  readonly components: readonly Entry[];
  readonly patchesStrategicMerge: readonly PatchEntry[];
  readonly patches: readonly PatchEntry[];
  readonly patchesJson6902: readonly PatchEntry[];
  readonly namespace: string | undefined;
  /** The line of `namespace:` (where a namespace ID conflict is reported), computed when asked. */
  readonly namespaceLine: () => number;
  readonly namePrefix: string;
  readonly nameSuffix: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly images: readonly ImageOverride[];
  /** Inline replacements (and `path` entries resolved to files) and the line of the field. */
  readonly replacements: readonly {
    readonly path?: string;
    readonly inline?: unknown;
    readonly line: number;
  }[];
  readonly hasVars: boolean;
  /** True when a field brings resources the resolver cannot read (helmCharts). */
  readonly bringsUnreadResources: boolean;
  /** `transformers:` and `generators:` entries: inline configs or files/directories of configs
   * (builtin ones are applied, plugins warn). */
  readonly transformers: readonly Entry[];
  readonly generators: readonly Entry[];
  /** configMapGenerator/secretGenerator entries that create a resource (not behavior merge/replace). */
  readonly generated: readonly GeneratedResource[];
  readonly warnings: readonly string[];
}

// Fields that hold no images and change no identity a patch could select by: accepted silently.
const IGNORED_FIELDS: ReadonlySet<string> = new Set([
  'apiVersion',
  'kind',
  'metadata',
  'generatorOptions',
  'replicas',
  'sortOptions',
  'buildMetadata',
  'crds',
  'validators',
  'inventory',
  'helmGlobals',
]);

// Fields that could change the rendered images but are not applied: each one is a warning.
const UNSUPPORTED_FIELDS: Readonly<Record<string, string>> = {
  helmCharts: 'helmCharts are not inflated: images of the charts are not listed',
  helmChartInflationGenerator: 'helmChartInflationGenerator is not run: images of the charts are not listed',
  configurations:
    'configurations (custom field specs) are not applied: extra image fields they declare are not read',
  openapi: 'a custom openapi schema is not used: strategic merge patches merge lists by `name` only',
};

const HANDLED_FIELDS: ReadonlySet<string> = new Set([
  'resources',
  'bases',
  'components',
  'patches',
  'patchesStrategicMerge',
  'patchesJson6902',
  'namespace',
  'namePrefix',
  'nameSuffix',
  'commonLabels',
  'labels',
  'commonAnnotations',
  'images',
  'replacements',
  'vars',
  'configMapGenerator',
  'secretGenerator',
  'transformers',
  'generators',
]);

export async function loadKustomization(files: OverlayFiles, file: string): Promise<Kustomization> {
  const documents = (await files.readYaml(file, { duplicateKeys: 'last-wins' })).filter(
    (d) => d.value !== null,
  );
  const directory = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '';
  if (documents.length > 1)
    throw new OverlayError(file, 'a kustomization must be a single YAML document', documents[1]!.lineOf([]));
  const document = documents[0];
  const root: JsonMap =
    document === undefined ? {} : requireMap(document.value, file, () => 1, 'the kustomization');
  const lineOf = (path: readonly (string | number)[]): number => document?.lineOf(path) ?? 1;
  const fail = (path: readonly (string | number)[], reason: string): never => {
    throw new OverlayError(file, reason, lineOf(path));
  };

  const warnings: string[] = [];
  for (const key of Object.keys(root)) {
    const unsupported = UNSUPPORTED_FIELDS[key];
    if (unsupported !== undefined) warnings.push(`${file}:${lineOf([key])}: ${unsupported}`);
    else if (!IGNORED_FIELDS.has(key) && !HANDLED_FIELDS.has(key)) {
      warnings.push(`${file}:${lineOf([key])}: unknown kustomization field "${key}" is ignored`);
    }
  }

  const kind = root['kind'];
  if (kind !== undefined && kind !== 'Kustomization' && kind !== 'Component') {
    fail(['kind'], `kind must be Kustomization or Component, not "${String(kind)}"`);
  }

  const stringList = (key: string): Entry[] => {
    const value = root[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) return fail([key], `${key} must be a list`);
    return value.map((item: unknown, index) => {
      if (typeof item !== 'string') return fail([key, index], `${key}[${index}] must be a string`);
      return withLine({ value: item }, () => lineOf([key, index]));
    });
  };
  const optionalString = (path: readonly (string | number)[], value: unknown): string | undefined => {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') return fail(path, `${path.join('.')} must be a string`);
    return value;
  };
  const stringRecord = (key: string): Record<string, string> => {
    const value = root[key];
    if (value === undefined || value === null) return {};
    if (!isJsonMap(value)) return fail([key], `${key} must be a map of strings`);
    const result: Record<string, string> = {};
    for (const [name, item] of Object.entries(value)) {
      setOwn(result, name, optionalString([key, name], item) ?? '');
    }
    return result;
  };
  const patchPath = (path: readonly (string | number)[], relative: string): string => {
    const resolved = joinRepoPath(directory, relative);
    if (resolved === undefined) return fail(path, `patch "${relative}" leaves the repository root`);
    if (!isWithinDirectory(directory, resolved)) {
      return fail(
        path,
        `file "${relative}" is not in or below ${directory || '.'} (kustomize's load restrictor)`,
      );
    }
    return resolved;
  };
  const target = (path: readonly (string | number)[], value: unknown): TargetSelector | undefined => {
    if (value === undefined || value === null) return undefined;
    const map = requireMap(value, file, () => lineOf(path), path.join('.'));
    const field = (name: string): string | undefined => optionalString([...path, name], map[name]);
    return {
      group: field('group'),
      version: field('version'),
      kind: field('kind'),
      name: field('name'),
      namespace: field('namespace'),
      labelSelector: field('labelSelector'),
      annotationSelector: field('annotationSelector'),
    };
  };
  const patchList = (key: string, withTarget: boolean): PatchEntry[] => {
    const value = root[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) return fail([key], `${key} must be a list`);
    return value.map((item: unknown, index): PatchEntry => {
      const line = (): number => lineOf([key, index]);
      if (typeof item === 'string') {
        // patchesStrategicMerge: a file path or an inline patch; like kustomize, a one-line entry is
        // a file when one exists there, else an inline patch (decided when the build reads it).
        return withLine(
          item.includes('\n') ? { inline: item } : { path: patchPath([key, index], item), inline: item },
          line,
        );
      }
      const map = requireMap(item, file, line, `${key}[${index}]`);
      const path = optionalString([key, index, 'path'], map['path']);
      const inline = optionalString([key, index, 'patch'], map['patch']);
      if (path !== undefined && inline !== undefined)
        fail([key, index], `${key}[${index}] has both path and patch`);
      if (path === undefined && inline === undefined)
        fail([key, index], `${key}[${index}] needs path or patch`);
      const selector = withTarget ? target([key, index, 'target'], map['target']) : undefined;
      const options = map['options'];
      if (key === 'patchesJson6902' && !selector?.name) {
        fail([key, index], `${key}[${index}] must specify the target name`);
      }
      return withLine(
        {
          ...(path === undefined ? { inline } : { path: patchPath([key, index, 'path'], path) }),
          ...(selector === undefined ? {} : { target: selector }),
          ...(isJsonMap(options)
            ? {
                options: {
                  allowNameChange: options['allowNameChange'] === true,
                  allowKindChange: options['allowKindChange'] === true,
                },
              }
            : {}),
        },
        line,
      );
    });
  };
  const images = (): ImageOverride[] => {
    const value = root['images'];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) return fail(['images'], 'images must be a list');
    return value.map((item: unknown, index): ImageOverride => {
      const map = requireMap(item, file, () => lineOf(['images', index]), `images[${index}]`);
      const field = (name: string): string | undefined => optionalString(['images', index, name], map[name]);
      const name = field('name');
      if (!name) return fail(['images', index], `images[${index}].name is required`);
      return {
        name,
        newName: field('newName'),
        newTag: field('newTag'),
        digest: field('digest'),
        tagSuffix: field('tagSuffix'),
      };
    });
  };
  const replacements = (): Kustomization['replacements'] => {
    const value = root['replacements'];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) return fail(['replacements'], 'replacements must be a list');
    return value.map((item: unknown, index) => {
      const line = (): number => lineOf(['replacements', index]);
      const map = requireMap(item, file, line, `replacements[${index}]`);
      const path = optionalString(['replacements', index, 'path'], map['path']);
      return withLine(
        path === undefined ? { inline: map } : { path: patchPath(['replacements', index, 'path'], path) },
        line,
      );
    });
  };

  const generated = (key: string, kind: GeneratedResource['kind']): GeneratedResource[] => {
    const value = root[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) return fail([key], `${key} must be a list`);
    return value.flatMap((item: unknown, index): GeneratedResource[] => {
      const map = requireMap(item, file, () => lineOf([key, index]), `${key}[${index}]`);
      const behavior = optionalString([key, index, 'behavior'], map['behavior']);
      if (behavior === 'merge' || behavior === 'replace') return [];
      const name = optionalString([key, index, 'name'], map['name']) ?? '';
      const namespace = optionalString([key, index, 'namespace'], map['namespace']);
      return [generatedResource(kind, name, namespace, map)];
    });
  };

  const labels: Record<string, string> = { ...stringRecord('commonLabels') };
  const labelsField = root['labels'];
  if (labelsField !== undefined && labelsField !== null) {
    if (!Array.isArray(labelsField)) fail(['labels'], 'labels must be a list');
    (labelsField as unknown[]).forEach((item, index) => {
      const map = requireMap(item, file, () => lineOf(['labels', index]), `labels[${index}]`);
      const pairs = map['pairs'];
      if (pairs === undefined || pairs === null) return;
      if (!isJsonMap(pairs)) fail(['labels', index, 'pairs'], `labels[${index}].pairs must be a map`);
      for (const [name, item2] of Object.entries(pairs)) {
        setOwn(labels, name, optionalString(['labels', index, 'pairs', name], item2) ?? '');
      }
    });
  }

  return {
    file,
    directory,
    isComponent: kind === 'Component',
    resources: [...stringList('resources'), ...stringList('bases')],
    components: stringList('components'),
    patchesStrategicMerge: patchList('patchesStrategicMerge', false),
    patches: patchList('patches', true),
    patchesJson6902: patchList('patchesJson6902', true),
    namespace: optionalString(['namespace'], root['namespace']) || undefined,
    namespaceLine: () => lineOf(['namespace']),
    namePrefix: optionalString(['namePrefix'], root['namePrefix']) ?? '',
    nameSuffix: optionalString(['nameSuffix'], root['nameSuffix']) ?? '',
    labels,
    annotations: stringRecord('commonAnnotations'),
    images: images(),
    replacements: replacements(),
    hasVars: Array.isArray(root['vars']) && root['vars'].length > 0,
    bringsUnreadResources: ['helmCharts', 'helmChartInflationGenerator'].some((key) => key in root),
    transformers: stringList('transformers'),
    generators: stringList('generators'),
    generated: [...generated('configMapGenerator', 'ConfigMap'), ...generated('secretGenerator', 'Secret')],
    warnings,
  };
}

/** The placeholder a ConfigMap/Secret generator entry (or builtin generator config) creates. */
export function generatedResource(
  kind: GeneratedResource['kind'],
  name: string,
  namespace: string | undefined,
  map: JsonMap,
): GeneratedResource {
  const data: Record<string, string> = {};
  const list = (field: string): unknown[] => (Array.isArray(map[field]) ? (map[field] as unknown[]) : []);
  for (const literal of list('literals')) {
    if (typeof literal !== 'string') continue;
    const eq = literal.indexOf('=');
    if (eq > 0) setOwn(data, literal.slice(0, eq), literal.slice(eq + 1));
  }
  for (const source of list('files')) {
    if (typeof source !== 'string') continue;
    const eq = source.indexOf('=');
    setOwn(data, eq > 0 ? source.slice(0, eq) : source.slice(source.lastIndexOf('/') + 1), '');
  }
  return namespace ? { kind, name, namespace, data } : { kind, name, data };
}

/** Adds a lazily computed `line`: lines cost a full parse of the file, and are rarely needed. */
function withLine<T extends object>(value: T, line: () => number): T & { readonly line: number } {
  return Object.defineProperty(value, 'line', { get: line, enumerable: true }) as T & {
    readonly line: number;
  };
}

function requireMap(value: unknown, file: string, line: () => number, what: string): JsonMap {
  if (!isJsonMap(value)) throw new OverlayError(file, `${what} must be a map`, line());
  return value;
}
