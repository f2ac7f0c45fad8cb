// Kept for demo/worker-process.ts (the demo's stand-in from before `image-promoter worker` existed):
// the real ECR credential provider.
export { createEcrCredentialProvider } from '../../lambdas/adapters/ecr-credentials';
