/**
 * What the Kubernetes executor does to the cluster, and a start-up check (SelfSubjectAccessReview)
 * that its credentials may do all of it, so a missing permission fails start() with one clear
 * message rather than runs failing later. deploy/'s Role must grant at least this.
 */

import { AuthorizationV1Api, type KubeConfig } from "@kubernetes/client-node";
import { GantryError } from "../../core/errors.ts";
import { apiMessage, apiStatus } from "./api-errors.ts";

export interface Permission {
  verb: string;
  /** API group; "" is the core group. */
  group: string;
  resource: string;
  subresource?: string;
  /** What the executor does with it. */
  why: string;
}

/** Every request the executor sends, namespaced in the runs namespace. */
export const REQUIRED_PERMISSIONS: readonly Permission[] = [
  { verb: "create", group: "batch", resource: "jobs", why: "launch an attempt" },
  { verb: "get", group: "batch", resource: "jobs", why: "adopt a Job that already exists" },
  { verb: "list", group: "batch", resource: "jobs", why: "the Job informer" },
  { verb: "watch", group: "batch", resource: "jobs", why: "the Job informer" },
  { verb: "delete", group: "batch", resource: "jobs", why: "cancel an attempt" },
  { verb: "list", group: "", resource: "pods", why: "the pod informer" },
  { verb: "watch", group: "", resource: "pods", why: "the pod informer" },
  { verb: "get", group: "", resource: "pods", subresource: "log", why: "stream and archive logs" },
  { verb: "create", group: "", resource: "secrets", why: "the run token's Secret" },
  { verb: "create", group: "", resource: "configmaps", why: "the input files' ConfigMap" },
  { verb: "get", group: "", resource: "secrets", why: "check an adopted Job's Secret exists" },
  { verb: "get", group: "", resource: "configmaps", why: "check an adopted Job's ConfigMap exists" },
];

export function describePermission(p: Permission): string {
  const resource = p.subresource === undefined ? p.resource : `${p.resource}/${p.subresource}`;
  return `${p.verb} ${p.group === "" ? resource : `${resource}.${p.group}`}`;
}

/**
 * Throws GANTRY_ERR_CONFIG when the API server cannot be reached or any required permission is
 * denied in `namespace` (naming each missing one).
 */
export async function checkPermissions(
  kubeConfig: KubeConfig,
  namespace: string,
  permissions: readonly Permission[] = REQUIRED_PERMISSIONS,
): Promise<void> {
  const server = kubeConfig.getCurrentCluster()?.server ?? "(no server in the kubeconfig)";
  const user = kubeConfig.getCurrentUser()?.name ?? "the configured user";
  const authz = kubeConfig.makeApiClient(AuthorizationV1Api);
  const review = (p: Permission) =>
    authz.createSelfSubjectAccessReview({
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: {
          resourceAttributes: {
            namespace,
            verb: p.verb,
            group: p.group,
            resource: p.resource,
            ...(p.subresource === undefined ? {} : { subresource: p.subresource }),
          },
        },
      },
    });
  // One first, so an unreachable server gives one message, not ten.
  const [first, ...rest] = permissions;
  if (first === undefined) return;
  let results;
  try {
    results = [await review(first), ...(await Promise.all(rest.map(review)))];
  } catch (err) {
    const status = apiStatus(err);
    if (status === 401)
      throw new GantryError("GANTRY_ERR_CONFIG", [
        `the Kubernetes API server at ${server} rejected the credentials of ${user} (401 Unauthorized): ${apiMessage(err)}`,
      ]);
    if (status === 403)
      throw new GantryError("GANTRY_ERR_CONFIG", [
        `${user} may not create selfsubjectaccessreviews.authorization.k8s.io at ${server} (403), so Gantry cannot check its permissions: ${apiMessage(err)}`,
      ]);
    throw new GantryError("GANTRY_ERR_CONFIG", [
      `cannot reach the Kubernetes API server at ${server}: ${apiMessage(err)}`,
    ]);
  }
  const missing = permissions.filter((_, i) => results[i]?.status?.allowed !== true);
  if (missing.length === 0) return;
  throw new GantryError("GANTRY_ERR_CONFIG", [
    `the Kubernetes credentials (${user}) lack ${missing.length === 1 ? "a permission" : "permissions"} ` +
      `the executor needs in namespace "${namespace}": ` +
      missing.map((p) => `${describePermission(p)} (to ${p.why})`).join(", ") +
      `; grant them with a Role and RoleBinding in "${namespace}" (see deploy/)`,
  ]);
}
