/**
 * Who may do what. Roles come from API tokens: `admin` does everything, `submitter` creates runs and
 * sees and cancels only its own, `viewer` reads every run and changes nothing.
 */

export type Role = "admin" | "submitter" | "viewer";

export const ROLES: readonly Role[] = ["admin", "submitter", "viewer"];

export interface Principal {
  tokenId: string;
  role: Role;
  /** The subject the token acts as; runs it creates are owned by it. */
  owner: string;
}

export type Action = "runs:create" | "runs:read" | "runs:cancel" | "tokens:manage";

const GRANTS: Readonly<Record<Role, readonly Action[]>> = {
  admin: ["runs:create", "runs:read", "runs:cancel", "tokens:manage"],
  submitter: ["runs:create", "runs:read", "runs:cancel"],
  viewer: ["runs:read"],
};

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

export function may(principal: Principal, action: Action): boolean {
  return GRANTS[principal.role].includes(action);
}

/** A submitter sees only its own runs; admins and viewers see all. */
export function canSeeRun(principal: Principal, run: { owner: string }): boolean {
  return principal.role !== "submitter" || run.owner === principal.owner;
}

/**
 * Whether the principal reads a submission's grading material back (its cases' inputs and expected
 * outputs, its checker's sources): admins only. Everyone else who may see the run — its owner,
 * viewers — gets `gradingMaterialView`; the runner gets it all from its token-authorised payload.
 * The material is write-only for submitters so that a platform can grade its users' code against
 * cases they must not learn, whichever token they read the run with.
 */
export function canReadGradingMaterial(principal: Principal): boolean {
  return principal.role === "admin";
}

/** The owner filter a listing must apply for this principal (undefined = all owners). */
export function ownerScope(principal: Principal): string | undefined {
  return principal.role === "submitter" ? principal.owner : undefined;
}
