// The default planning budgets (config `planning`), as plain constants: the overlay resolver and the
// file sources import them from here, not from config.ts, so that `image-promoter images` does not
// load the config schema (zod), the config reader and node:crypto just for five numbers.
/** What planning one push may cost, so that whoever can push to the overlays repository cannot make
 * the webhook spend unbounded memory, time or GitHub quota (`planning` in the config). Files, bytes
 * and resources count per overlay at one revision; GitHub calls per delivery (both revisions, every
 * environment). A limit reached is the pusher's error: a `failure` status naming limit and file. */
export const DEFAULT_PLANNING_LIMITS = {
  // Public overlays read a few hundred files at most (the largest of the real-world corpus in
  // test/: ~270 files for a whole repository); 2,000 leaves room and refuses 4,000-file floods.
  maxFiles: 2000,
  // Real overlays total a few MB (3.2 MB for argo-rollouts with its CRDs); the webhook Lambda has
  // 512 MB and parsed YAML takes several times its text.
  maxBytes: 32 * 1024 * 1024,
  // Operators ship single CRD files of 1.4-3.7 MB (kueue's workloads CRD is 1.4 MB): twice the
  // largest seen.
  maxFileBytes: 8 * 1024 * 1024,
  // Every resource each kustomization accumulates counts once (a base listed twice counts twice).
  maxResources: 10_000,
  // One Git Trees call per revision plus one Git Blobs call per distinct file read: a few hundred
  // for real overlays. A token has 5,000 calls an hour, shared with every commit status.
  maxGitHubCalls: 1000,
} as const;
