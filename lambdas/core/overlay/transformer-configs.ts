// Configs listed under a kustomization's `transformers:` and `generators:` (inline, or files and
// directories of configs): kustomize runs a config as a builtin when its apiVersion is `builtin`
// (api/internal/plugins/loader: isBuiltinPlugin, group "" and version "builtin") and its kind names
// a builtin; anything else is a plugin, which the resolver does not run (a warning). This reads a
// config into a typed value with the fields kustomize's builtins read (api/builtins/*.go); the
// build applies them. Pure; throws OverlayError naming the config's file.
import { OverlayError } from '../errors';
import type { FieldSpec } from './field-specs';
import type { ImageOverride } from './images-transformer';
import { generatedResource } from './kustomization';
import type { GeneratedResource } from './kustomization';
import { isJsonMap, metadataOf } from './resource';
import type { JsonMap, Resource } from './resource';
import type { TargetSelector } from './select-resources';

/** A patch as a builtin patch transformer names it: a file (relative to the kustomization that
 * lists the transformer, as kustomize's plugin loader reads it) or inline text. */
export interface ConfigPatch {
  readonly path?: string;
  readonly inline?: string;
  readonly target?: TargetSelector;
  readonly allowNameChange: boolean;
  readonly allowKindChange: boolean;
}

export type NamespaceSubjects = 'defaultOnly' | 'allServiceAccounts' | 'none';

export type BuiltinTransformer =
  | { readonly kind: 'ImageTagTransformer'; readonly image: ImageOverride; readonly fieldSpecs: FieldSpec[] }
  | {
      readonly kind: 'PrefixSuffixTransformer';
      readonly prefix: string;
      readonly suffix: string;
      readonly fieldSpecs: FieldSpec[];
    }
  | {
      readonly kind: 'NamespaceTransformer';
      readonly namespace: string;
      readonly fieldSpecs: FieldSpec[];
      readonly unsetOnly: boolean;
      readonly subjects: NamespaceSubjects;
    }
  | {
      readonly kind: 'LabelTransformer' | 'AnnotationsTransformer';
      readonly entries: Record<string, string>;
      readonly fieldSpecs: FieldSpec[];
    }
  | { readonly kind: 'PatchTransformer'; readonly patch: ConfigPatch }
  | { readonly kind: 'PatchStrategicMergeTransformer'; readonly patches: ConfigPatch[] }
  | { readonly kind: 'PatchJson6902Transformer'; readonly patch: ConfigPatch }
  | { readonly kind: 'ReplacementTransformer'; readonly replacements: unknown[] }
  /** ReplicaCountTransformer, HashTransformer...: change no image and no identity a patch sees. */
  | { readonly kind: 'none' };

export type BuiltinGenerator =
  { readonly kind: 'generated'; readonly resource: GeneratedResource } | { readonly kind: 'helm' };

/** True when kustomize runs the config as a builtin (apiVersion `builtin`, no group). */
export function isBuiltinConfig(config: JsonMap): boolean {
  return config['apiVersion'] === 'builtin';
}

// Builtins that change neither images nor anything a later patch selects by.
const INERT_TRANSFORMERS: ReadonlySet<string> = new Set([
  'ReplicaCountTransformer',
  'HashTransformer',
  'LegacyOrderTransformer',
  'SortOrderTransformer',
]);

/** The transformer a builtin config describes, or undefined for a builtin kind the resolver does
 * not apply (the caller warns). */
export function readTransformerConfig(config: Resource): BuiltinTransformer | undefined {
  const object = config.object;
  const kind = String(object['kind']);
  const read = reader(config);
  switch (kind) {
    case 'ImageTagTransformer': {
      const tag = read.map(object['imageTag'], 'imageTag') ?? {};
      const field = (name: string): string | undefined => read.string(tag[name], `imageTag.${name}`);
      return {
        kind,
        image: {
          name: field('name') ?? '',
          newName: field('newName'),
          newTag: field('newTag'),
          digest: field('digest'),
          tagSuffix: field('tagSuffix'),
        },
        fieldSpecs: read.fieldSpecs(object['fieldSpecs']),
      };
    }
    case 'PrefixSuffixTransformer':
    case 'PrefixTransformer':
    case 'SuffixTransformer': {
      // kustomize refuses these without fieldSpecs ("fieldSpecs is not expected to be nil").
      if (object['fieldSpecs'] === undefined || object['fieldSpecs'] === null) {
        return read.fail(`${kind} needs fieldSpecs`);
      }
      return {
        kind: 'PrefixSuffixTransformer',
        prefix: kind === 'SuffixTransformer' ? '' : (read.string(object['prefix'], 'prefix') ?? ''),
        suffix: kind === 'PrefixTransformer' ? '' : (read.string(object['suffix'], 'suffix') ?? ''),
        fieldSpecs: read.fieldSpecs(object['fieldSpecs']),
      };
    }
    case 'NamespaceTransformer': {
      const subjects =
        read.string(object['setRoleBindingSubjects'], 'setRoleBindingSubjects') || 'defaultOnly';
      if (subjects !== 'defaultOnly' && subjects !== 'allServiceAccounts' && subjects !== 'none') {
        return read.fail(`invalid setRoleBindingSubjects "${subjects}"`);
      }
      const namespace = metadataOf(object)['namespace'];
      return {
        kind,
        namespace: typeof namespace === 'string' ? namespace : '',
        fieldSpecs: read.fieldSpecs(object['fieldSpecs']),
        unsetOnly: object['unsetOnly'] === true,
        subjects,
      };
    }
    case 'LabelTransformer':
    case 'AnnotationsTransformer': {
      const field = kind === 'LabelTransformer' ? 'labels' : 'annotations';
      const map = read.map(object[field], field) ?? {};
      const entries: Record<string, string> = {};
      for (const [key, value] of Object.entries(map))
        entries[key] = read.string(value, `${field}.${key}`) ?? '';
      return { kind, entries, fieldSpecs: read.fieldSpecs(object['fieldSpecs']) };
    }
    case 'PatchTransformer': {
      const patch = read.patch(object, 'patch');
      if (patch.path === undefined && patch.inline === undefined) {
        return read.fail('PatchTransformer needs patch or path');
      }
      return { kind, patch };
    }
    case 'PatchJson6902Transformer': {
      const patch = read.patch(object, 'jsonOp');
      if (patch.target === undefined) return read.fail('PatchJson6902Transformer needs a target');
      if (patch.path === undefined && patch.inline === undefined) {
        return read.fail('PatchJson6902Transformer needs jsonOp or path');
      }
      return { kind, patch };
    }
    case 'PatchStrategicMergeTransformer': {
      const patches: ConfigPatch[] = [];
      const paths = object['paths'];
      if (paths !== undefined && paths !== null) {
        if (!Array.isArray(paths)) return read.fail('paths must be a list');
        for (const [index, path] of paths.entries()) {
          const value = read.string(path, `paths[${index}]`);
          if (value) patches.push({ path: value, allowNameChange: false, allowKindChange: false });
        }
      }
      const inline = read.string(object['patches'], 'patches');
      if (inline) patches.push({ inline, allowNameChange: false, allowKindChange: false });
      if (patches.length === 0) return read.fail('PatchStrategicMergeTransformer needs paths or patches');
      return { kind, patches };
    }
    case 'ReplacementTransformer': {
      const replacements = object['replacements'];
      return { kind, replacements: Array.isArray(replacements) ? replacements : [] };
    }
    default:
      return INERT_TRANSFORMERS.has(kind) ? { kind: 'none' } : undefined;
  }
}

/** The resource a builtin generator config adds, or undefined for a kind the resolver does not run. */
export function readGeneratorConfig(config: Resource): BuiltinGenerator | undefined {
  const object = config.object;
  const kind = object['kind'];
  if (kind === 'HelmChartInflationGenerator') return { kind: 'helm' };
  if (kind !== 'ConfigMapGenerator' && kind !== 'SecretGenerator') return undefined;
  const metadata = metadataOf(object);
  const name = typeof metadata['name'] === 'string' ? metadata['name'] : '';
  const namespace = typeof metadata['namespace'] === 'string' ? metadata['namespace'] : undefined;
  return {
    kind: 'generated',
    resource: generatedResource(
      kind === 'ConfigMapGenerator' ? 'ConfigMap' : 'Secret',
      name,
      namespace,
      object,
    ),
  };
}

function reader(config: Resource) {
  const fail = (reason: string): never => {
    throw new OverlayError(
      config.file,
      `${String(config.object['kind'])} "${String(metadataOf(config.object)['name'] ?? '')}": ${reason}`,
    );
  };
  const string = (value: unknown, what: string): string | undefined => {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') return fail(`${what} must be a string`);
    return value;
  };
  const map = (value: unknown, what: string): JsonMap | undefined => {
    if (value === undefined || value === null) return undefined;
    if (!isJsonMap(value)) return fail(`${what} must be a map`);
    return value;
  };
  const fieldSpecs = (value: unknown): FieldSpec[] => {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) return fail('fieldSpecs must be a list');
    return value.map((item: unknown, index) => {
      const spec = map(item, `fieldSpecs[${index}]`) ?? {};
      const path = string(spec['path'], `fieldSpecs[${index}].path`) ?? '';
      return {
        group: string(spec['group'], `fieldSpecs[${index}].group`),
        version: string(spec['version'], `fieldSpecs[${index}].version`),
        kind: string(spec['kind'], `fieldSpecs[${index}].kind`),
        path,
        create: spec['create'] === true,
      };
    });
  };
  const target = (value: unknown): TargetSelector | undefined => {
    const selector = map(value, 'target');
    if (selector === undefined) return undefined;
    const field = (name: string): string | undefined => string(selector[name], `target.${name}`);
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
  const patch = (object: JsonMap, inlineField: string): ConfigPatch => {
    const options = map(object['options'], 'options') ?? {};
    const path = string(object['path'], 'path');
    const inline = string(object[inlineField], inlineField);
    if (path && inline) fail(`path and ${inlineField} are mutually exclusive`);
    return {
      ...(path ? { path } : {}),
      ...(inline ? { inline } : {}),
      ...(object['target'] === undefined || object['target'] === null
        ? {}
        : { target: target(object['target']) }),
      allowNameChange: options['allowNameChange'] === true,
      allowKindChange: options['allowKindChange'] === true,
    };
  };
  return { fail, string, map, fieldSpecs, patch };
}
