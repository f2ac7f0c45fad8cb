// What prune sees of an ECR repository through ECR's own API, and how it deletes there:
// DescribeRepositories lists the repositories, DescribeImages every image with its tags (untagged
// ones included: the registry API cannot list those), BatchGetImage the manifests (children of an
// index, the `subject` of a referrer), BatchDeleteImage removes one manifest by digest with its tags
// (ECR API Reference: "You can remove a tag from an image by specifying the image's tag in your
// request. When you remove the last tag from an image, the image is deleted"; by imageDigest the
// image goes whatever its tags). Never deletes a repository.
import {
  BatchDeleteImageCommand,
  BatchGetImageCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  type ECRClientConfig,
} from '@aws-sdk/client-ecr';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { AwsServiceError, PlanningLimitError, toAwsServiceError } from '../core/errors';
import { parseEcrRegistry } from '../core/image-ref';
import { MANIFEST_MEDIA_TYPES, parseManifest } from '../core/manifest';
import {
  MAX_PRUNE_MANIFESTS_PER_REPOSITORY,
  type PruneRegistry,
  type RepositoryContent,
  type StoredManifest,
} from '../core/prune';

/** BatchGetImage takes at most 100 image ids per call (ECR API Reference, BatchGetImage imageIds). */
const BATCH_GET_IMAGES = 100;
/** DescribeImages / DescribeRepositories page size maximum (ECR API Reference: maxResults 1-1000). */
const PAGE_SIZE = 1000;

export interface EcrImagesOptions {
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly clientConfig?: ECRClientConfig;
}

export function createEcrImages(registry: string, options: EcrImagesOptions = {}): PruneRegistry {
  const ecr = parseEcrRegistry(registry);
  if (ecr === undefined) throw new Error(`${registry} is not an ECR registry`);
  const client = new ECRClient({
    ...options.clientConfig,
    region: ecr.region,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });
  const registryId = ecr.accountId;
  return {
    registry,
    async listRepositories() {
      const names: string[] = [];
      let nextToken: string | undefined;
      do {
        const page = await call('DescribeRepositories', registry, () =>
          client.send(new DescribeRepositoriesCommand({ registryId, maxResults: PAGE_SIZE, nextToken })),
        );
        names.push(...(page.repositories ?? []).flatMap((r) => r.repositoryName ?? []));
        nextToken = page.nextToken;
      } while (nextToken !== undefined);
      return names;
    },
    async readRepository(repositoryName): Promise<RepositoryContent> {
      const details: { digest: string; tags: string[]; mediaType: string }[] = [];
      let nextToken: string | undefined;
      do {
        const page = await call('DescribeImages', `${registry}/${repositoryName}`, () =>
          client.send(
            new DescribeImagesCommand({ registryId, repositoryName, maxResults: PAGE_SIZE, nextToken }),
          ),
        );
        for (const image of page.imageDetails ?? []) {
          if (image.imageDigest === undefined) continue;
          details.push({
            digest: image.imageDigest,
            tags: [...(image.imageTags ?? [])],
            mediaType: image.imageManifestMediaType ?? '',
          });
        }
        if (details.length > MAX_PRUNE_MANIFESTS_PER_REPOSITORY) {
          throw new PlanningLimitError(
            `${registry}/${repositoryName}`,
            'prune manifests per repository',
            `more than ${MAX_PRUNE_MANIFESTS_PER_REPOSITORY} images; prune it in parts or with a lifecycle policy`,
          );
        }
        nextToken = page.nextToken;
      } while (nextToken !== undefined);

      const manifests: StoredManifest[] = [];
      for (let start = 0; start < details.length; start += BATCH_GET_IMAGES) {
        const part = details.slice(start, start + BATCH_GET_IMAGES);
        const got = await call('BatchGetImage', `${registry}/${repositoryName}`, () =>
          client.send(
            new BatchGetImageCommand({
              registryId,
              repositoryName,
              imageIds: part.map((d) => ({ imageDigest: d.digest })),
              acceptedMediaTypes: [...MANIFEST_MEDIA_TYPES],
            }),
          ),
        );
        const bodies = new Map<string, { manifest: string; mediaType: string | undefined }>();
        for (const image of got.images ?? []) {
          const digest = image.imageId?.imageDigest;
          if (digest !== undefined && image.imageManifest !== undefined) {
            bodies.set(digest, { manifest: image.imageManifest, mediaType: image.imageManifestMediaType });
          }
        }
        for (const detail of part) {
          const body = bodies.get(detail.digest);
          // Gone between the two calls: nothing to decide about.
          if (body === undefined) continue;
          const parsed = parseManifest(
            Buffer.from(body.manifest, 'utf8'),
            body.mediaType ?? detail.mediaType,
          );
          manifests.push({
            digest: detail.digest,
            tags: detail.tags,
            mediaType: parsed.mediaType,
            children: parsed.kind === 'index' ? parsed.manifests.map((m) => m.digest) : [],
            ...(parsed.subject === undefined ? {} : { subject: parsed.subject.digest }),
          });
        }
      }
      return { repository: repositoryName, manifests };
    },
    async deleteManifest(repositoryName, digest) {
      const result = await call('BatchDeleteImage', `${registry}/${repositoryName}@${digest}`, () =>
        client.send(
          new BatchDeleteImageCommand({ registryId, repositoryName, imageIds: [{ imageDigest: digest }] }),
        ),
      );
      const failure = result.failures?.[0];
      if (failure === undefined) return 'deleted';
      if (failure.failureCode === 'ImageNotFound') return 'absent';
      throw new AwsServiceError(
        `ECR BatchDeleteImage ${registry}/${repositoryName}@${digest} failed (${failure.failureCode ?? '?'}: ` +
          `${failure.failureReason ?? ''}); the image stays`,
        'ecr',
        false,
        { awsCode: failure.failureCode ?? 'Failure' },
      );
    },
  };
}

async function call<T>(action: string, what: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (e: unknown) {
    throw toAwsServiceError(
      e,
      'ecr',
      `ECR ${action} ${what}`,
      'check the IAM permissions (ecr:DescribeRepositories, ecr:DescribeImages, ecr:BatchGetImage, ecr:BatchDeleteImage on the destination)',
    );
  }
}
