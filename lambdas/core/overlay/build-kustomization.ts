// The resource tree walk: builds a kustomization the way kustomize v5 does, in memory. Its
// `resources` (files, multi-document YAML, `kind: List`, directories built on their own) and legacy
// `bases` are accumulated, then its `components` are applied to that same accumulation, then its
// transformers run in kustomize's order: patchesStrategicMerge, patches, namespace, namePrefix/
// nameSuffix, labels, annotations, patchesJson6902, images, replacements. Vars are not
// applied (a warning when an image uses one). Reads only through OverlayFiles; throws OverlayError naming file and line.
// Each directory listed as a resource is built once per resolution and its result copied to every
// place that lists it, so bases shared by many kustomizations cost their size once, not once per path.
import { OverlayError, PlanningLimitError } from '../errors';
import { applyJsonPatch, toJsonPatch } from './json-patch';
import type { JsonPatchOperation } from './json-patch';
import { DEFAULT_IMAGE_FIELD_SPECS, transformImages } from './images-transformer';
import { KUSTOMIZATION_FILE_NAMES, loadKustomization } from './kustomization';
import type { Entry, Kustomization, PatchEntry } from './kustomization';
import {
  DEFAULT_NAMESPACE_FIELD_SPECS,
  addEntriesAt,
  addMetadataEntries,
  addNamePrefixSuffix,
  addPrefixSuffixAt,
  setNamespace,
} from './metadata-transformers';
import type { OverlayFiles } from './overlay-files';
import { isWithinDirectory, joinRepoPath } from './repo-path';
import {
  copyJson,
  copyResource,
  currentIdOf,
  describeId,
  isJsonMap,
  makeResource,
  metadataOf,
  sameId,
} from './resource';
import type { JsonMap, Resource } from './resource';
import { findResourcesById, selectResources } from './select-resources';
import { applyReplacements, readReplacements } from './replacements';
import type { Replacement } from './replacements';
import { applyStrategicMergePatch } from './strategic-merge-patch';
import { isBuiltinConfig, readGeneratorConfig, readTransformerConfig } from './transformer-configs';
import type { ConfigPatch } from './transformer-configs';
import { parseYamlDocuments } from './yaml-documents';

export interface BuildContext {
  readonly files: OverlayFiles;
  /** Warnings, one line each naming the file; duplicates are dropped by the caller. */
  readonly warnings: string[];
  /** Files that declare `vars`, for the final check on `$(VAR)` in images. */
  readonly varsFiles: string[];
  /** Directories built (or being built) in this resolution; see buildDirectoryOnce. */
  readonly builds?: DirectoryBuilds;
  /** Resources accumulated so far, by every kustomization of the resolution, and the limit. */
  readonly resources?: { count: number; readonly limit: number };
}

/** The builds of one resolution: each directory's accumulation, and which builds in progress wait
 * for which (a base shared along two paths can close a cycle no single path shows). */
export interface DirectoryBuilds {
  readonly results: Map<string, Promise<Accumulation>>;
  readonly waitingFor: Map<string, Set<string>>;
}

export function createDirectoryBuilds(): DirectoryBuilds {
  return { results: new Map(), waitingFor: new Map() };
}

/** The resources one kustomization accumulates (its components add to the same one). */
export interface Accumulation {
  readonly resources: Resource[];
  /** Set when a remote resource, Helm chart or generator plugin below was skipped: a patch for a
   * resource we could not read then becomes a warning instead of an error. */
  incomplete: boolean;
}

interface Frame {
  /** Kustomization directories being built, outermost first, for cycle detection. */
  readonly stack: readonly string[];
  /** The directory whose build this is (components are applied within the build listing them). */
  readonly owner?: string;
}

/** Builds the kustomization in `directory` into a fresh list of resources. */
export async function buildKustomization(
  context: BuildContext,
  directory: string,
  frame: Frame = { stack: [] },
): Promise<Resource[]> {
  const kustomization = await loadKustomization(
    context.files,
    await findKustomizationFile(context, directory),
  );
  const accumulation: Accumulation = { resources: [], incomplete: false };
  await accumulate(context, kustomization, accumulation, {
    stack: [...frame.stack, directory],
    owner: directory,
  });
  return accumulation.resources;
}

/** The kustomization file in `directory`; an OverlayError when there is none or more than one. */
export async function findKustomizationFile(
  context: BuildContext,
  directory: string,
  referrer?: { readonly file: string; readonly at: { readonly line: number } },
): Promise<string> {
  const entries = await context.files.listDirectory(directory);
  const found = entries.filter((e) => e.kind === 'file' && KUSTOMIZATION_FILE_NAMES.includes(e.name));
  const where = directory === '' ? 'the repository root' : directory;
  const fail = (reason: string): never => {
    if (referrer) throw new OverlayError(referrer.file, reason, referrer.at.line);
    throw new OverlayError(directory === '' ? '.' : directory, reason);
  };
  if (found.length === 0) {
    return fail(`no kustomization.yaml, kustomization.yml or Kustomization in ${where}`);
  }
  if (found.length > 1)
    return fail(`more than one kustomization file in ${where}: ${found.map((e) => e.name).join(', ')}`);
  return joinRepoPath(directory, found[0]!.name)!;
}

async function accumulate(
  context: BuildContext,
  kustomization: Kustomization,
  accumulation: Accumulation,
  frame: Frame,
): Promise<void> {
  const { file } = kustomization;
  // The deadline is checked at each kustomization too: building can be long without any read.
  context.files.signal?.throwIfAborted();
  const accumulated = accumulation.resources;
  context.warnings.push(...kustomization.warnings);
  if (kustomization.bringsUnreadResources) accumulation.incomplete = true;
  if (kustomization.hasVars) context.varsFiles.push(file);

  // Resources are independent of each other: read them concurrently, add them in order; when
  // several fail, the first in the file is the error reported, whatever finished first.
  const loaded = await Promise.allSettled(
    kustomization.resources.map((entry) => loadResourceEntry(context, kustomization, entry, frame)),
  );
  for (const [index, outcome] of loaded.entries()) {
    if (outcome.status === 'rejected') throw outcome.reason;
    if (outcome.value.incomplete) accumulation.incomplete = true;
    appendResources(
      accumulated,
      outcome.value.resources,
      file,
      kustomization.resources[index]!,
      context.resources,
    );
  }

  for (const entry of kustomization.components) {
    const directory = await resolveEntry(context, kustomization, entry, 'component');
    if (directory === undefined) {
      accumulation.incomplete = true;
      continue;
    }
    const kind = await context.files.kindOf(directory);
    if (kind !== 'directory') {
      throw new OverlayError(
        file,
        `component "${entry.value}" must be a directory with a kustomization`,
        entry.line,
      );
    }
    checkCycle(frame, directory, file, entry);
    const componentFile = await findKustomizationFile(context, directory, { file, at: entry });
    const component = await loadKustomization(context.files, componentFile);
    if (!component.isComponent) {
      throw new OverlayError(
        file,
        `"${entry.value}" is listed in components but is not kind: Component`,
        entry.line,
      );
    }
    await accumulate(context, component, accumulation, { ...frame, stack: [...frame.stack, directory] });
  }

  // Generators run after components, before transformers: their ConfigMaps and Secrets take part
  // in patch matching and name transformers like any resource (kustomize adds a hash suffix to
  // their names at the very end; no patch sees it).
  const generated = kustomization.generated.map((g) =>
    makeResource(
      {
        apiVersion: 'v1',
        kind: g.kind,
        metadata: g.namespace === undefined ? { name: g.name } : { name: g.name, namespace: g.namespace },
        data: { ...g.data },
      },
      file,
    ),
  );
  appendResources(accumulated, generated, file, { line: 1 }, context.resources);
  for (const entry of kustomization.generators) {
    await runGenerators(context, kustomization, entry, accumulation, frame);
  }
  for (const patch of kustomization.patchesStrategicMerge) {
    await applyPatch(context, kustomization, patch, accumulation, 'strategic');
  }
  for (const patch of kustomization.patches) {
    await applyPatch(context, kustomization, patch, accumulation, 'any');
  }
  if (kustomization.namespace !== undefined) {
    try {
      setNamespace(accumulated, {
        namespace: kustomization.namespace,
        fieldSpecs: DEFAULT_NAMESPACE_FIELD_SPECS,
        unsetOnly: false,
        subjects: 'defaultOnly',
      });
    } catch (e: unknown) {
      throw new OverlayError(kustomization.file, errorText(e), kustomization.namespaceLine());
    }
  }
  addNamePrefixSuffix(accumulated, kustomization.namePrefix, kustomization.nameSuffix);
  addMetadataEntries(accumulated, 'labels', kustomization.labels);
  addMetadataEntries(accumulated, 'annotations', kustomization.annotations);
  for (const patch of kustomization.patchesJson6902) {
    await applyPatch(context, kustomization, patch, accumulation, 'json');
  }
  transformImages(accumulated, kustomization.images, DEFAULT_IMAGE_FIELD_SPECS);
  // kustomize runs `replacements:` after `images:` (kusttarget.go: configureBuiltinTransformers).
  for (const entry of kustomization.replacements) {
    await applyReplacementEntry(context, kustomization, entry, accumulated);
  }
  // kustomize runs the `transformers:` configs after all the builtins of the fields above
  // (api/internal/target/kusttarget.go: runTransformers), in the order they are listed.
  for (const entry of kustomization.transformers) {
    await runTransformers(context, kustomization, entry, accumulation, frame);
  }
}

/**
 * The configs one `transformers:`/`generators:` entry names: an inline config (one or more YAML
 * documents), or a file or kustomization directory of configs — accumulated like resources, as
 * kustomize does (configureExternalTransformers), so a directory's own kustomization applies to
 * its configs first.
 */
async function loadConfigs(
  context: BuildContext,
  kustomization: Kustomization,
  entry: Entry,
  frame: Frame,
): Promise<Resource[]> {
  const inline = inlineConfigs(entry.value);
  if (inline !== undefined) {
    return inline.map((config) => makeResource(copyJson(config), kustomization.file));
  }
  const loaded = await loadResourceEntry(context, kustomization, entry, frame);
  return loaded.resources;
}

/** The documents of an inline config, or undefined when the entry is a path (kustomize tries to
 * read the entry as resources first and takes it for a path when that fails). */
function inlineConfigs(text: string): JsonMap[] | undefined {
  if (!text.includes(':')) return undefined;
  let documents: readonly { readonly value: unknown }[];
  try {
    documents = parseYamlDocuments('', text);
  } catch {
    return undefined;
  }
  const values = documents.map((d) => d.value).filter((v) => v !== null && v !== undefined);
  if (values.length === 0 || !values.every(isJsonMap)) return undefined;
  return values;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function describeConfig(config: Resource): string {
  const name = metadataOf(config.object)['name'];
  return `${String(config.object['apiVersion'])} ${String(config.object['kind'])} "${String(name ?? '')}" (${config.file})`;
}

async function runTransformers(
  context: BuildContext,
  kustomization: Kustomization,
  entry: Entry,
  accumulation: Accumulation,
  frame: Frame,
): Promise<void> {
  const accumulated = accumulation.resources;
  for (const config of await loadConfigs(context, kustomization, entry, frame)) {
    const transformer = isBuiltinConfig(config.object) ? readTransformerConfig(config) : undefined;
    if (transformer === undefined) {
      const what = isBuiltinConfig(config.object) ? 'builtin transformer' : 'transformer plugin';
      context.warnings.push(
        `${kustomization.file}:${entry.line}: ${what} ${describeConfig(config)} is not run: ` +
          `images it would change are listed unchanged`,
      );
      continue;
    }
    switch (transformer.kind) {
      case 'ImageTagTransformer':
        transformImages(accumulated, [transformer.image], transformer.fieldSpecs);
        break;
      case 'PrefixSuffixTransformer':
        addPrefixSuffixAt(accumulated, transformer.prefix, transformer.suffix, transformer.fieldSpecs);
        break;
      case 'NamespaceTransformer':
        try {
          setNamespace(accumulated, transformer);
        } catch (e: unknown) {
          throw new OverlayError(
            kustomization.file,
            `${describeConfig(config)}: ${errorText(e)}`,
            entry.line,
          );
        }
        break;
      case 'LabelTransformer':
      case 'AnnotationsTransformer':
        addEntriesAt(accumulated, transformer.entries, transformer.fieldSpecs);
        break;
      case 'PatchTransformer':
      case 'PatchJson6902Transformer':
        await applyPatch(
          context,
          kustomization,
          configPatchEntry(kustomization, config, entry, transformer.patch),
          accumulation,
          transformer.kind === 'PatchJson6902Transformer' ? 'json' : 'any',
        );
        break;
      case 'PatchStrategicMergeTransformer':
        for (const patch of transformer.patches) {
          await applyPatch(
            context,
            kustomization,
            configPatchEntry(kustomization, config, entry, patch),
            accumulation,
            'strategic',
          );
        }
        break;
      case 'ReplacementTransformer':
        // Its `replacements` entries are read like the field's: `path` files relative to the
        // kustomization listing the transformer (builtins/ReplacementTransformer.go: Config).
        for (const item of transformer.replacements) {
          const path = isJsonMap(item) ? item['path'] : undefined;
          const replacementEntry =
            typeof path === 'string' && path !== ''
              ? { path: configPath(kustomization, config, path), line: entry.line }
              : { inline: item, line: entry.line };
          await applyReplacementEntry(context, kustomization, replacementEntry, accumulated);
        }
        break;
      case 'none':
        break;
    }
  }
}

/** A builtin patch config as a patch entry: its file is read through the kustomization that lists
 * the transformer (kustomize's plugin loader is that kustomization's), with its load restrictor. */
function configPatchEntry(
  kustomization: Kustomization,
  config: Resource,
  entry: Entry,
  patch: ConfigPatch,
): PatchEntry {
  const line = entry.line;
  if (patch.path === undefined) {
    return {
      inline: patch.inline ?? '',
      line,
      ...(patch.target ? { target: patch.target } : {}),
      options: patch,
    };
  }
  const path = configPath(kustomization, config, patch.path);
  return { path, line, ...(patch.target ? { target: patch.target } : {}), options: patch };
}

/** A file a builtin config names, relative to the kustomization listing it, load-restricted. */
function configPath(kustomization: Kustomization, config: Resource, relative: string): string {
  const path = joinRepoPath(kustomization.directory, relative);
  if (path === undefined || !isWithinDirectory(kustomization.directory, path)) {
    throw new OverlayError(
      config.file,
      `file "${relative}" of ${describeConfig(config)} is not in or below ` +
        `${kustomization.directory || '.'} (kustomize's load restrictor)`,
    );
  }
  return path;
}

async function runGenerators(
  context: BuildContext,
  kustomization: Kustomization,
  entry: Entry,
  accumulation: Accumulation,
  frame: Frame,
): Promise<void> {
  for (const config of await loadConfigs(context, kustomization, entry, frame)) {
    const generator = isBuiltinConfig(config.object) ? readGeneratorConfig(config) : undefined;
    if (generator?.kind === 'generated') {
      const g = generator.resource;
      const object: JsonMap = {
        apiVersion: 'v1',
        kind: g.kind,
        metadata: g.namespace === undefined ? { name: g.name } : { name: g.name, namespace: g.namespace },
        data: { ...g.data },
      };
      appendResources(
        accumulation.resources,
        [makeResource(object, config.file)],
        kustomization.file,
        entry,
        context.resources,
      );
      continue;
    }
    accumulation.incomplete = true;
    context.warnings.push(
      generator?.kind === 'helm'
        ? `${kustomization.file}:${entry.line}: ${describeConfig(config)}: charts are not inflated: images of the charts are not listed`
        : `${kustomization.file}:${entry.line}: generator plugin ${describeConfig(config)} is not run: ` +
            `images of the resources it generates are not listed`,
    );
  }
}

async function loadResourceEntry(
  context: BuildContext,
  kustomization: Kustomization,
  entry: Entry,
  frame: Frame,
): Promise<Accumulation> {
  const path = await resolveEntry(context, kustomization, entry, 'resource');
  if (path === undefined) return { resources: [], incomplete: true };
  const kind = await context.files.kindOf(path);
  if (kind === 'file') {
    if (!isWithinDirectory(kustomization.directory, path)) {
      throw new OverlayError(
        kustomization.file,
        `resource file "${entry.value}" is not in or below ${kustomization.directory || '.'} ` +
          `(kustomize's load restrictor): list its directory's kustomization instead`,
        entry.line,
      );
    }
    return { resources: await loadResourceFile(context, path), incomplete: false };
  }
  if (kind === 'directory') {
    checkCycle(frame, path, kustomization.file, entry);
    const build = async (): Promise<Accumulation> => {
      const nested = await findKustomizationFile(context, path, { file: kustomization.file, at: entry });
      const nestedKustomization = await loadKustomization(context.files, nested);
      if (nestedKustomization.isComponent) {
        throw new OverlayError(
          kustomization.file,
          `"${entry.value}" is a Component: list it under components, not resources`,
          entry.line,
        );
      }
      const nestedAccumulation: Accumulation = { resources: [], incomplete: false };
      await accumulate(context, nestedKustomization, nestedAccumulation, {
        stack: [...frame.stack, path],
        owner: path,
      });
      return nestedAccumulation;
    };
    if (context.builds === undefined) return build();
    const built = await buildDirectoryOnce(context.builds, path, frame, build, {
      file: kustomization.file,
      at: entry,
    });
    // Transformers of the kustomizations listing it change what they receive: each gets its own copy.
    return { resources: built.resources.map(copyResource), incomplete: built.incomplete };
  }
  throw new OverlayError(kustomization.file, `resource "${entry.value}" not found (${path})`, entry.line);
}

// Remote bases and resources: URLs, git URLs, `github.com/owner/repo//path?ref=x` forms.
const REMOTE =
  /^(?:[a-z][a-z0-9+.-]*:\/\/|git@|git::|github\.com\/|gitlab\.com\/|bitbucket\.org\/)|\?ref=|\?version=/i;

/** The repository path an entry names, undefined (and a warning) for a remote one. */
async function resolveEntry(
  context: BuildContext,
  kustomization: Kustomization,
  entry: Entry,
  what: string,
): Promise<string | undefined> {
  if (REMOTE.test(entry.value)) {
    context.warnings.push(
      `${kustomization.file}:${entry.line}: remote ${what} "${entry.value}" is not followed: its images are not listed`,
    );
    return undefined;
  }
  const path = joinRepoPath(kustomization.directory, entry.value);
  if (path === undefined) {
    throw new OverlayError(
      kustomization.file,
      `${what} "${entry.value}" leaves the repository root`,
      entry.line,
    );
  }
  return path;
}

/** The accumulation of `directory`, built by `build` the first time it is asked for in this
 * resolution and shared after that (callers copy). A build waiting for one that (transitively)
 * waits for it is a resource cycle through a shared base: an OverlayError, not a hang. */
async function buildDirectoryOnce(
  builds: DirectoryBuilds,
  directory: string,
  frame: Frame,
  build: () => Promise<Accumulation>,
  referrer: { readonly file: string; readonly at: { readonly line: number } },
): Promise<Accumulation> {
  let result = builds.results.get(directory);
  if (result === undefined) {
    result = build();
    builds.results.set(directory, result);
  }
  const owner = frame.owner;
  if (owner === undefined) return result;
  // The owner now waits for `directory` (whoever started it): record it, so a build below that
  // comes back to the owner by another path is seen as the cycle it is.
  const path = waitPath(builds.waitingFor, directory, owner);
  if (path !== undefined) {
    const cycle = [owner, ...path].map((d) => (d === '' ? '.' : d)).join(' -> ');
    throw new OverlayError(referrer.file, `resource cycle: ${cycle}`, referrer.at.line);
  }
  let waits = builds.waitingFor.get(owner);
  if (waits === undefined) builds.waitingFor.set(owner, (waits = new Set()));
  waits.add(directory);
  try {
    return await result;
  } finally {
    waits.delete(directory);
  }
}

/** The chain of waits from `from` to `to` (both included), or undefined when `from` does not wait
 * for `to`, directly or through others. */
function waitPath(
  waitingFor: ReadonlyMap<string, ReadonlySet<string>>,
  from: string,
  to: string,
): string[] | undefined {
  const seen = new Set<string>();
  const search = (at: string): string[] | undefined => {
    if (at === to) return [at];
    if (seen.has(at)) return undefined;
    seen.add(at);
    for (const next of waitingFor.get(at) ?? []) {
      const rest = search(next);
      if (rest !== undefined) return [at, ...rest];
    }
    return undefined;
  };
  return search(from);
}

function checkCycle(frame: Frame, directory: string, file: string, at: { readonly line: number }): void {
  const start = frame.stack.indexOf(directory);
  if (start === -1) return;
  const cycle = [...frame.stack.slice(start), directory].map((d) => (d === '' ? '.' : d)).join(' -> ');
  throw new OverlayError(file, `resource cycle: ${cycle}`, at.line);
}

async function loadResourceFile(context: BuildContext, path: string): Promise<Resource[]> {
  const { documents, owned } = await context.files.takeYaml(path);
  const resources: Resource[] = [];
  for (const document of documents) {
    if (document.value === null || document.value === undefined) continue;
    const fail = (reason: string): never => {
      throw new OverlayError(path, reason, document.lineOf([]));
    };
    if (!isJsonMap(document.value)) return fail('a resource must be a YAML map');
    const object = owned ? document.value : copyJson(document.value);
    const items = object['items'];
    if (typeof object['kind'] === 'string' && object['kind'].endsWith('List') && Array.isArray(items)) {
      for (const item of items) {
        if (!isJsonMap(item)) return fail('every item of a List must be a YAML map');
        resources.push(makeResource(item, path));
      }
      continue;
    }
    if (typeof object['kind'] !== 'string' || object['kind'] === '') return fail('resource has no kind');
    resources.push(makeResource(object, path));
  }
  return resources;
}

function appendResources(
  accumulated: Resource[],
  added: readonly Resource[],
  file: string,
  at: { readonly line: number },
  budget?: { count: number; readonly limit: number },
): void {
  if (budget !== undefined) {
    budget.count += added.length;
    if (budget.count > budget.limit) {
      throw new PlanningLimitError(
        file,
        'planning.maxResources',
        `more than ${budget.limit} resources accumulated by the kustomizations of one overlay`,
      );
    }
  }
  for (const resource of added) {
    const id = currentIdOf(resource.object);
    const existing = accumulated.find((other) => sameId(currentIdOf(other.object), id));
    if (existing !== undefined) {
      throw new OverlayError(
        file,
        `${describeId(id)} from ${resource.file} is already added (from ${existing.file}); ` +
          `kustomize refuses duplicate resources`,
        at.line,
      );
    }
    accumulated.push(resource);
  }
}

interface LoadedPatch {
  /** Where errors about the patch point: its file, or the kustomization for an inline patch. */
  readonly file: string;
  readonly at: { readonly line: number };
  readonly strategic?: readonly JsonMap[];
  readonly json?: readonly JsonPatchOperation[];
}

async function loadPatch(
  context: BuildContext,
  kustomization: Kustomization,
  entry: PatchEntry,
  expected: 'strategic' | 'json' | 'any',
): Promise<LoadedPatch> {
  let file = kustomization.file;
  let at: { readonly line: number } = entry;
  let values: unknown[];
  const isFile = entry.path !== undefined && (await context.files.kindOf(entry.path)) === 'file';
  if (entry.path !== undefined && !isFile && (entry.inline === undefined || !looksInline(entry.inline))) {
    throw new OverlayError(kustomization.file, `patch file ${entry.path} not found`, entry.line);
  }
  if (entry.path !== undefined && isFile) {
    requireStrictJsonList(await context.files.readText(entry.path), entry.path, { line: 1 });
    const documents = await context.files.readYaml(entry.path);
    file = entry.path;
    at = { line: 1 };
    values = documents.map((d) => d.value).filter((v) => v !== null && v !== undefined);
  } else {
    // Lines inside an inline patch are relative to the patch text; errors point at the entry.
    requireStrictJsonList(entry.inline ?? '', kustomization.file, entry);
    try {
      values = parseYamlDocuments(kustomization.file, entry.inline ?? '', undefined, context.files.aliases)
        .map((d) => d.value)
        .filter((v) => v !== null && v !== undefined);
    } catch (e: unknown) {
      if (e instanceof PlanningLimitError) throw e;
      const reason = e instanceof OverlayError ? e.reason : String(e);
      throw new OverlayError(kustomization.file, `inline patch: ${reason}`, entry.line);
    }
  }
  const fail = (reason: string): never => {
    throw new OverlayError(file, reason, at.line);
  };
  const json = values.length === 1 ? toJsonPatch(values[0]) : undefined;
  if (json !== undefined) {
    if (expected === 'strategic') fail('a JSON6902 patch cannot be listed in patchesStrategicMerge');
    if (entry.target === undefined) fail('a JSON6902 patch needs a target');
    return { file, at, json };
  }
  if (expected === 'json') fail('patchesJson6902 needs a list of JSON patch operations');
  if (values.length === 0) fail('the patch is empty');
  const strategic = values.map((value) => {
    if (!isJsonMap(value)) return fail('a strategic merge patch must be a YAML map (or a JSON6902 list)');
    return value;
  });
  return { file, at, strategic };
}

/** A one-line patchesStrategicMerge entry that is not a file: inline when it is a YAML map. */
function looksInline(text: string): boolean {
  try {
    return parseYamlDocuments('', text).some((d) => isJsonMap(d.value));
  } catch {
    return false;
  }
}

/** kustomize reads a patch that starts with `[` as JSON only: YAML flow style there is an error. */
function requireStrictJsonList(text: string, file: string, at: { readonly line: number }): void {
  if (!text.trimStart().startsWith('[')) return;
  try {
    JSON.parse(text);
  } catch {
    throw new OverlayError(file, 'a patch starting with "[" must be a JSON list of operations', at.line);
  }
}

async function applyPatch(
  context: BuildContext,
  kustomization: Kustomization,
  entry: PatchEntry,
  accumulation: Accumulation,
  expected: 'strategic' | 'json' | 'any',
): Promise<void> {
  const accumulated = accumulation.resources;
  const patch = await loadPatch(context, kustomization, entry, expected);
  const fail = (reason: string): never => {
    throw new OverlayError(patch.file, reason, patch.at.line);
  };
  const selected = (): Resource[] => {
    try {
      return selectResources(accumulated, entry.target!);
    } catch (e: unknown) {
      return fail(e instanceof Error ? e.message : String(e));
    }
  };

  if (patch.json !== undefined) {
    for (const resource of selected()) {
      try {
        applyJsonPatch(resource.object, patch.json);
      } catch (e: unknown) {
        fail(
          `JSON6902 patch on ${describeId(currentIdOf(resource.object))}: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    }
    return;
  }

  for (const document of patch.strategic ?? []) {
    let targets: Resource[];
    const body = copyJson(document);
    if (entry.target === undefined) {
      const id = currentIdOf(document);
      targets = findResourcesById(accumulated, id);
      if (targets.length === 0 && accumulation.incomplete) {
        context.warnings.push(
          `${patch.file}:${patch.at.line}: the patch for ${describeId(id)} matches no resource read here ` +
            `(remote resources, Helm charts or generator plugins are not followed): skipped`,
        );
        continue;
      }
      if (targets.length === 0) fail(`no resource matches the patch for ${describeId(id)}`);
      if (targets.length > 1) fail(`more than one resource matches the patch for ${describeId(id)}`);
    } else {
      targets = selected();
    }
    for (const resource of targets) {
      if (patchKeepingIdentity(resource, copyJson(body), entry.options) === 'deleted') {
        accumulated.splice(accumulated.indexOf(resource), 1);
      }
    }
  }
}

/** kustomize's Resource.ApplySmPatch: a patch never renames, re-kinds, re-versions or moves its target. */
function patchKeepingIdentity(
  resource: Resource,
  patch: JsonMap,
  options: PatchEntry['options'],
): 'merged' | 'deleted' {
  const apiVersion = resource.object['apiVersion'];
  const kind = resource.object['kind'];
  const before = metadataOf(resource.object);
  const name = before['name'];
  const namespace = before['namespace'];
  const idBefore = currentIdOf(resource.object);
  if (applyStrategicMergePatch(resource.object, patch) === 'deleted') return 'deleted';
  // `options.allowKindChange`/`allowNameChange` (api/resource: ApplySmPatch) keep what the patch
  // set; the changed identity is remembered like a rename.
  const keepKind = options?.allowKindChange === true && typeof patch['kind'] === 'string';
  const keepName = options?.allowNameChange === true && typeof metadataOf(patch)['name'] === 'string';
  // With a target, kustomize gives the patch the resource's group/version/kind before merging.
  if (!keepKind) {
    resource.object['apiVersion'] = apiVersion;
    resource.object['kind'] = kind;
  }
  const metadata = resource.object['metadata'];
  if (!isJsonMap(metadata)) return 'merged';
  if (keepKind || keepName) {
    if (!sameId(idBefore, currentIdOf(resource.object))) resource.previousIds.push(idBefore);
  }
  for (const [key, value] of [
    ...(keepName ? [] : ([['name', name]] as const)),
    ['namespace', namespace],
  ] as const) {
    if (value === undefined) Reflect.deleteProperty(metadata, key);
    else metadata[key] = value;
  }
  return 'merged';
}

/** Applies one `replacements:` entry (inline, or a file of one replacement or a list of them). */
async function applyReplacementEntry(
  context: BuildContext,
  kustomization: Kustomization,
  entry: Kustomization['replacements'][number],
  accumulated: readonly Resource[],
): Promise<void> {
  let value: unknown = entry.inline;
  let file = kustomization.file;
  // The file's line only on a fault: asking a document for a line loads its text a second time.
  let line = (): number | undefined => entry.line;
  if (entry.path !== undefined) {
    if ((await context.files.kindOf(entry.path)) !== 'file') {
      throw new OverlayError(kustomization.file, `replacement file ${entry.path} not found`, entry.line);
    }
    const documents = (await context.files.readYaml(entry.path)).filter(
      (d) => d.value !== null && d.value !== undefined,
    );
    const document = documents[0];
    value = document?.value;
    file = entry.path;
    line = () => document?.lineOf([]);
  }
  let replacements: Replacement[];
  try {
    replacements = readReplacements(value);
  } catch (e: unknown) {
    throw new OverlayError(file, errorText(e), line());
  }
  try {
    applyReplacements(accumulated, replacements);
  } catch (e: unknown) {
    throw new OverlayError(kustomization.file, errorText(e), entry.line);
  }
}
