// The two secrets the Lambdas read from Secrets Manager: the GitHub webhook secret (generated here;
// copy it into the GitHub webhook settings) and the GitHub token (a generated placeholder the
// operator replaces with a real token). Never puts a secret value in the template or an output:
// outputs carry ARNs only.
import { Validations } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export class PromoterSecrets extends Construct {
  /** HMAC secret for X-Hub-Signature-256: a plain string, or JSON {"secrets": ["new", "old"]}. */
  readonly webhookSecret: Secret;
  /** GitHub token (PAT or App installation token) with `statuses: write` and `contents: read`. */
  readonly githubToken: Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.webhookSecret = new Secret(this, 'WebhookSecret', {
      description: 'image-promoter: GitHub webhook secret (copy into the repository webhook settings)',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    this.githubToken = new Secret(this, 'GitHubToken', {
      description: 'image-promoter: GitHub token (replace the generated placeholder with a real token)',
      generateSecretString: { passwordLength: 32, excludePunctuation: true },
    });
    for (const secret of [this.webhookSecret, this.githubToken]) {
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Both values live in GitHub settings too (webhook configuration, token), which a Secrets ' +
          'Manager rotation Lambda cannot change; rotate them as docs/deploy.md describes.',
      });
    }
  }
}
