// Small read-only queries over synthesized templates that aws-cdk-lib/assertions does not offer:
// every IAM statement a role ends up with (inline and attached policies), intrinsic values rendered
// as readable strings, and a dashboard body parsed back into JSON.
import type { Template } from 'aws-cdk-lib/assertions';

export interface Statement {
  readonly effect: string;
  readonly actions: readonly string[];
  readonly resources: readonly string[];
  readonly conditions?: unknown;
}

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

/** `{"Ref": "X"}` -> `${X}`, `{"Fn::GetAtt": ["X", "Arn"]}` -> `${X.Arn}`, Fn::Join flattened. */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if ('Ref' in v) return `\${${String(v.Ref)}}`;
    if ('Fn::GetAtt' in v) return `\${${(v['Fn::GetAtt'] as string[]).join('.')}}`;
    if ('Fn::Join' in v) {
      const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(sep);
    }
  }
  return JSON.stringify(value);
}

function asArray<T>(value: T | readonly T[] | undefined): readonly T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

function toStatements(document: unknown): Statement[] {
  const statements = (document as { Statement: Record<string, unknown>[] }).Statement;
  return statements.map((s) => ({
    effect: String(s.Effect),
    actions: asArray(s.Action as string | string[]).map(String),
    resources: asArray(s.Resource).map(render),
    ...(s.Condition === undefined ? {} : { conditions: s.Condition }),
  }));
}

/** Logical id of the single role whose RoleName or logical id matches. */
export function findRoleId(
  template: Template,
  match: (id: string, roleName: string | undefined) => boolean,
): string {
  const roles = template.findResources('AWS::IAM::Role') as Resources;
  const ids = Object.entries(roles)
    .filter(([id, r]) => match(id, r.Properties?.RoleName as string | undefined))
    .map(([id]) => id);
  if (ids.length !== 1) throw new Error(`expected one matching role, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}

/** Every permission statement of a role: inline `Policies` plus AWS::IAM::Policy resources on it. */
export function permissionsOf(template: Template, roleId: string): Statement[] {
  const role = (template.findResources('AWS::IAM::Role') as Resources)[roleId];
  if (role === undefined) throw new Error(`no role ${roleId}`);
  const inline = ((role.Properties?.Policies as { PolicyDocument: unknown }[] | undefined) ?? []).flatMap(
    (p) => toStatements(p.PolicyDocument),
  );
  const attached = Object.values(template.findResources('AWS::IAM::Policy') as Resources)
    .filter((p) => (p.Properties?.Roles as unknown[]).some((r) => render(r) === `\${${roleId}}`))
    .flatMap((p) => toStatements(p.Properties?.PolicyDocument));
  return [...inline, ...attached];
}

export function trustOf(template: Template, roleId: string): Statement[] {
  const role = (template.findResources('AWS::IAM::Role') as Resources)[roleId];
  return toStatements(role?.Properties?.AssumeRolePolicyDocument);
}

/** (action, resource) pairs, sorted: compare a role's whole grant in one assertion. */
export function grantsOf(statements: readonly Statement[]): string[] {
  return statements
    .filter((s) => s.effect === 'Allow')
    .flatMap((s) => s.actions.flatMap((a) => s.resources.map((r) => `${a} ${r}`)))
    .sort();
}

export function logicalIdOf(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1) throw new Error(`expected one ${type} ${prefix}*, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}

export interface DashboardWidget {
  readonly type: string;
  readonly properties: {
    readonly title?: string;
    readonly metrics?: readonly (readonly unknown[])[];
    readonly markdown?: string;
    readonly alarms?: readonly string[];
  };
}

/** The dashboard body with intrinsics rendered as `${LogicalId}`. */
export function dashboardWidgets(template: Template): DashboardWidget[] {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard') as Resources);
  if (dashboards.length !== 1) throw new Error(`expected one dashboard, found ${dashboards.length}`);
  const body = render(dashboards[0]!.Properties?.DashboardBody);
  return (JSON.parse(body) as { widgets: DashboardWidget[] }).widgets;
}
