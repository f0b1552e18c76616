export {
  KubernetesExecutor,
  createKubernetesExecutor,
  type KubernetesExecutorOptions,
  type CreateKubernetesExecutorOptions,
} from "./kubernetes-executor.ts";
export { REQUIRED_PERMISSIONS, checkPermissions, type Permission } from "./permissions.ts";
export type { KubernetesExecutorLogger } from "./logger.ts";
