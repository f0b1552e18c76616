/**
 * Generates the benchmark corpus for `bench/validate.ts`: many kinds, mostly valid, with a known
 * share of schema-invalid objects (wrong types, missing required fields, unknown fields, bad enums,
 * bad date-times, duplicate keys, broken YAML, unknown kinds). Every object has a unique name
 * (`r<id>`), and documents that do not parse get a file of their own, so results from both tools
 * can be matched object by object. Deterministic for a given seed.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { seededRandom } from "../test/helpers/seeded-random.ts";

export interface CorpusEntry {
  id: number;
  file: string;
  kind: string;
  name: string;
  /** The mutation applied, or "valid". */
  mutation: string;
}

const container = (name: string, i: number, extra = "") => `      - name: ${name}
        image: registry.example.com/team/${name}:1.${i % 20}.${i % 7}
        args: ["--port", "8080", "--id", "${i}"]
        ports:
        - containerPort: 8080
          protocol: TCP
        env:
        - name: APP_ENV
          value: production
        - name: POD_NAME
          valueFrom:
            fieldRef: {fieldPath: metadata.name}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {cpu: "1", memory: 512Mi}
        securityContext:
          runAsNonRoot: true
          runAsUser: 1000
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 10${extra}`;

const podSpec = (n: string, i: number, indent: string, restart = "Always") =>
  `restartPolicy: ${restart}
serviceAccountName: ${n}
containers:
${container(n, i)}`
    .split("\n")
    .map((l, k) => (k === 0 ? l : indent + l.replace(/^ {6}/, "")))
    .join("\n");

type Gen = (n: string, i: number) => string;

const GENERATORS: Record<string, Gen> = {
  Deployment: (n, i) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${n}
  namespace: team-${i % 13}
  labels: {app: ${n}, tier: backend}
  creationTimestamp: "2024-05-01T10:00:00Z"
spec:
  replicas: ${1 + (i % 5)}
  selector:
    matchLabels: {app: ${n}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: ${n}, tier: backend}
    spec:
      ${podSpec(n, i, "      ")}
`,
  StatefulSet: (n, i) => `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ${n}, namespace: data}
spec:
  serviceName: ${n}
  replicas: 3
  selector:
    matchLabels: {app: ${n}}
  template:
    metadata:
      labels: {app: ${n}}
    spec:
      ${podSpec(n, i, "      ")}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 10Gi}}
`,
  DaemonSet: (n, i) => `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ${n}, namespace: kube-system}
spec:
  selector:
    matchLabels: {app: ${n}}
  template:
    metadata:
      labels: {app: ${n}}
    spec:
      tolerations:
      - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}
      ${podSpec(n, i, "      ")}
`,
  Job: (n, i) => `apiVersion: batch/v1
kind: Job
metadata:
  name: ${n}
  namespace: batch
  labels: {app: grader, component: runner}
spec:
  backoffLimit: 1
  activeDeadlineSeconds: 120
  ttlSecondsAfterFinished: 300
  template:
    spec:
      ${podSpec(n, i, "      ", "Never")}
`,
  CronJob: (n, i) => `apiVersion: batch/v1
kind: CronJob
metadata: {name: ${n}, namespace: batch}
spec:
  schedule: "*/${1 + (i % 30)} * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      activeDeadlineSeconds: 600
      template:
        spec:
          ${podSpec(n, i, "          ", "OnFailure")}
`,
  Pod: (n, i) => `apiVersion: v1
kind: Pod
metadata: {name: ${n}, namespace: default, labels: {app: ${n}}}
spec:
  ${podSpec(n, i, "  ", "Never")}
`,
  Service: (n, i) => `apiVersion: v1
kind: Service
metadata: {name: ${n}, namespace: team-${i % 13}}
spec:
  type: ClusterIP
  selector: {app: ${n}}
  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP}
  - {name: metrics, port: 9090, targetPort: metrics}
`,
  ConfigMap: (n, i) => `apiVersion: v1
kind: ConfigMap
metadata: {name: ${n}, namespace: team-${i % 13}}
data:
  LOG_LEVEL: info
  config.yaml: |
    server:
      port: 8080
      workers: ${i % 16}
`,
  Secret: (n) => `apiVersion: v1
kind: Secret
metadata: {name: ${n}, namespace: default}
type: Opaque
data:
  password: cGFzc3dvcmQxMjM=
stringData:
  user: admin
`,
  Ingress: (n) => `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ${n}, namespace: web}
spec:
  ingressClassName: nginx
  rules:
  - host: ${n}.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service: {name: ${n}, port: {number: 80}}
`,
  NetworkPolicy: (n) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${n}, namespace: web}
spec:
  podSelector: {matchLabels: {app: ${n}}}
  policyTypes: [Ingress, Egress]
  egress:
  - to:
    - ipBlock: {cidr: 10.0.0.0/8}
    ports:
    - {protocol: TCP, port: 443}
`,
  Role: (n) => `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ${n}, namespace: batch}
rules:
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create, get, list, watch, delete]
`,
  RoleBinding: (n) => `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ${n}, namespace: batch}
subjects:
- {kind: ServiceAccount, name: ${n}, namespace: batch}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ${n}}
`,
  HorizontalPodAutoscaler: (n) => `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: ${n}, namespace: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ${n}}
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 70}
`,
  PodDisruptionBudget: (n) => `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: ${n}, namespace: web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: ${n}}}
`,
  PersistentVolumeClaim: (n) => `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: ${n}, namespace: data}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: standard
  resources: {requests: {storage: 5Gi}}
`,
  ServiceAccount: (n) => `apiVersion: v1
kind: ServiceAccount
metadata: {name: ${n}, namespace: batch}
automountServiceAccountToken: false
`,
  Namespace: (n) => `apiVersion: v1
kind: Namespace
metadata: {name: ${n}, labels: {team: platform}}
`,
  ResourceQuota: (n) => `apiVersion: v1
kind: ResourceQuota
metadata: {name: ${n}, namespace: batch}
spec:
  hard: {requests.cpu: "20", requests.memory: 64Gi, pods: "100"}
`,
};

/** Mutations that make an object schema-invalid, by kind ("*" = any kind). Each is [name, edit]. */
type Mutation = [string, (yaml: string) => string | undefined];
const MUTATIONS: Mutation[] = [
  [
    "wrong-type-replicas",
    (y) =>
      y.includes("\n  replicas: ") ? y.replace(/\n {2}replicas: \d+/, '\n  replicas: "three"') : undefined,
  ],
  [
    "unknown-field-spec",
    (y) => (y.includes("\nspec:\n") ? y.replace("\nspec:\n", "\nspec:\n  replica: 2\n") : undefined),
  ],
  [
    "unknown-field-container",
    (y) =>
      y.includes("        image: ")
        ? y.replace(/(\n +)image: /, "$1imagePullPolcy: Always$1image: ")
        : undefined,
  ],
  [
    "missing-container-name",
    (y) =>
      y.includes("      - name: ") && y.includes("        image:")
        ? y.replace(/\n( +)- name: [^\n]+\n\1 {2}image:/, "\n$1- image:")
        : undefined,
  ],
  [
    "bad-enum-restart",
    (y) =>
      y.includes("restartPolicy: ") ? y.replace(/restartPolicy: \w+/, "restartPolicy: Sometimes") : undefined,
  ],
  [
    "wrong-type-port",
    (y) =>
      y.includes("containerPort: 8080") ? y.replace("containerPort: 8080", "containerPort: http") : undefined,
  ],
  [
    "yaml11-bool-env",
    (y) => (y.includes("value: production") ? y.replace("value: production", "value: yes") : undefined),
  ],
  [
    "bad-date-time",
    (y) =>
      y.includes("\nmetadata:\n  name:")
        ? y.replace("\nmetadata:\n", '\nmetadata:\n  creationTimestamp: "yesterday"\n')
        : undefined,
  ],
  [
    "label-not-string",
    (y) =>
      y.includes("labels: {app: ") ? y.replace("labels: {app: ", "labels: {replicas: 3, app: ") : undefined,
  ],
  [
    "missing-required-port",
    (y) =>
      y.includes("{name: http, port: 80, ")
        ? y.replace("{name: http, port: 80, ", "{name: http, ")
        : undefined,
  ],
  [
    "missing-schedule",
    (y) => (y.includes("\n  schedule: ") ? y.replace(/\n {2}schedule: [^\n]+/, "") : undefined),
  ],
  ["missing-verbs", (y) => (y.includes("  verbs: [") ? y.replace(/\n {2}verbs: [^\n]+/, "") : undefined)],
  [
    "duplicate-key",
    (y) => (y.includes("\nkind: ") ? y.replace(/\nkind: (\w+)/, "\nkind: $1\nkind: $1") : undefined),
  ],
  ["unknown-kind", (y) => y.replace(/\nkind: (\w+)/, "\nkind: $1Typo")],
  [
    "wrong-api-version",
    (y) =>
      y.startsWith("apiVersion: apps/v1")
        ? y.replace("apiVersion: apps/v1", "apiVersion: extensions/v1beta1")
        : undefined,
  ],
  [
    "int-or-string-bool",
    (y) => (y.includes("targetPort: 8080") ? y.replace("targetPort: 8080", "targetPort: true") : undefined),
  ],
  ["yaml-syntax", (y) => y.replace(/\nmetadata:/, "\nmetadata: [unclosed\n  x:")],
  // Where the two validators are known to differ (see KNOWN_DIFFERENCES): the API server rejects both.
  [
    "secret-not-base64",
    (y) => (y.includes("password: cGFzc3dvcmQxMjM=") ? y.replace("cGFzc3dvcmQxMjM=", "hunter2!") : undefined),
  ],
  [
    "int32-overflow",
    (y) =>
      y.includes("\n  replicas: ") ? y.replace(/\n {2}replicas: \d+/, "\n  replicas: 3000000000") : undefined,
  ],
];

/** Why Gantry and kubeconform disagree on objects with these mutations. */
export const KNOWN_DIFFERENCES: Record<string, string> = {
  "secret-not-base64":
    "Secret data values have format: byte; Gantry checks base64 as the API server does, kubeconform's JSON Schema validator ignores the byte format",
  "int32-overflow":
    "replicas has format: int32; Gantry checks the 32-bit range as the API server does, kubeconform ignores the int32 format",
};

export function generateCorpus(
  dir: string,
  count: number,
  seed = 42,
  invalidShare = 0.2,
  docsPerFile = 10,
): CorpusEntry[] {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const random = seededRandom(seed);
  const kinds = Object.keys(GENERATORS);
  const entries: CorpusEntry[] = [];
  let batch: string[] = [];
  let fileNo = 0;
  const flush = () => {
    if (batch.length === 0) return;
    writeFileSync(join(dir, `f${String(fileNo).padStart(5, "0")}.yaml`), batch.join("---\n"));
    fileNo++;
    batch = [];
  };
  for (let id = 0; id < count; id++) {
    const kind = kinds[Math.floor(random() * kinds.length)]!;
    const name = `r${id}`;
    let text = GENERATORS[kind]!(name, id);
    let mutation = "valid";
    if (random() < invalidShare) {
      const applicable = MUTATIONS.map(([mName, edit]) => [mName, edit(text)] as const).filter(
        ([, out]) => out !== undefined && out !== text,
      );
      const [mName, out] = applicable[Math.floor(random() * applicable.length)]!;
      text = out!;
      mutation = mName;
    }
    if (mutation === "yaml-syntax") {
      // A document that does not parse gets its own file, so it can be matched by file name.
      const file = `broken-${id}.yaml`;
      writeFileSync(join(dir, file), text);
      entries.push({ id, file, kind, name, mutation });
      continue;
    }
    entries.push({ id, file: `f${String(fileNo).padStart(5, "0")}.yaml`, kind, name, mutation });
    batch.push(text);
    if (batch.length >= docsPerFile) flush();
  }
  flush();
  return entries;
}
