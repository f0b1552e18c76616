/**
 * Security and hygiene policy for anything with a pod template, in the spirit of kube-linter and
 * Pod Security "restricted": no privileged or host-namespace pods, no hostPath, non-root, no
 * privilege escalation or added capabilities, limits set, pinned images, bounded Jobs.
 */
import type { RuleContext } from "./rule-context.ts";
import { asArray, asStr, containersOf, isObj, podSpecOf } from "./workload.ts";
import type { Obj } from "./workload.ts";

/** True when an image reference has no tag (and no digest) or its tag is `latest`. */
export function imageTagProblem(image: string): "missing" | "latest" | undefined {
  if (image.includes("@")) return undefined;
  const lastSlash = image.lastIndexOf("/");
  const colon = image.indexOf(":", lastSlash + 1);
  if (colon < 0) return "missing";
  return image.slice(colon + 1) === "latest" ? "latest" : undefined;
}

export function checkPolicyRules(obj: Obj, ctx: RuleContext): void {
  const pod = podSpecOf(obj);
  if (pod !== undefined) checkPod(pod.spec, pod.path, ctx);
  const kind = obj["kind"];
  const jobSpec =
    kind === "Job"
      ? { spec: obj["spec"], path: ["spec"] }
      : kind === "CronJob" && isObj(obj["spec"]) && isObj(obj["spec"]["jobTemplate"])
        ? { spec: obj["spec"]["jobTemplate"]["spec"], path: ["spec", "jobTemplate", "spec"] }
        : undefined;
  if (jobSpec !== undefined && isObj(jobSpec.spec)) {
    const s = jobSpec.spec;
    if (s["activeDeadlineSeconds"] === undefined || s["activeDeadlineSeconds"] === null)
      ctx.report("policy-job-deadline", `${String(kind)} sets no activeDeadlineSeconds`, jobSpec.path);
    if (
      kind === "Job" &&
      (s["ttlSecondsAfterFinished"] === undefined || s["ttlSecondsAfterFinished"] === null)
    )
      ctx.report("policy-job-ttl", "Job sets no ttlSecondsAfterFinished", jobSpec.path);
  }
}

function checkPod(spec: Obj, path: string[], ctx: RuleContext): void {
  const hostNs = ["hostNetwork", "hostPID", "hostIPC"].filter((k) => spec[k] === true);
  if (hostNs.length > 0)
    ctx.report("policy-host-namespaces", `the pod sets ${hostNs.map((k) => `${k}: true`).join(", ")}`, [
      ...path,
      hostNs[0]!,
    ]);
  asArray(spec["volumes"]).forEach((v, i) => {
    if (isObj(v) && isObj(v["hostPath"]))
      ctx.report(
        "policy-host-path",
        `volume "${asStr(v["name"]) ?? i}" mounts hostPath ${JSON.stringify(v["hostPath"]["path"] ?? "")}`,
        [...path, "volumes", i, "hostPath"],
      );
  });
  const podSc = isObj(spec["securityContext"]) ? spec["securityContext"] : {};
  for (const { container: c, list, index } of containersOf(spec)) {
    const at = [...path, list, index];
    const label = `${list === "containers" ? "container" : list.replace(/s$/, "")} "${asStr(c["name"]) ?? index}"`;
    const sc = isObj(c["securityContext"]) ? c["securityContext"] : {};
    if (sc["privileged"] === true)
      ctx.report("policy-privileged", `${label} runs privileged`, [...at, "securityContext", "privileged"]);
    const runAsUser = sc["runAsUser"] ?? podSc["runAsUser"];
    const runAsNonRoot = sc["runAsNonRoot"] ?? podSc["runAsNonRoot"];
    if (runAsUser === 0)
      ctx.report("policy-run-as-root", `${label} runs as root (runAsUser: 0)`, [...at, "securityContext"]);
    else if (runAsNonRoot !== true && !(typeof runAsUser === "number" && runAsUser > 0))
      ctx.report(
        "policy-run-as-root",
        `${label} may run as root: neither runAsNonRoot: true nor a non-zero runAsUser is set`,
        at,
      );
    if (list !== "ephemeralContainers" && sc["allowPrivilegeEscalation"] !== false)
      ctx.report("policy-privilege-escalation", `${label} does not set allowPrivilegeEscalation: false`, at);
    const caps = isObj(sc["capabilities"]) ? asArray(sc["capabilities"]["add"]) : [];
    if (caps.length > 0)
      ctx.report(
        "policy-capabilities-added",
        `${label} adds capabilities ${caps.map((x) => String(x)).join(", ")}`,
        [...at, "securityContext", "capabilities", "add"],
      );
    if (list !== "ephemeralContainers") {
      const limits = isObj(c["resources"]) && isObj(c["resources"]["limits"]) ? c["resources"]["limits"] : {};
      const missing = ["cpu", "memory"].filter((r) => limits[r] === undefined || limits[r] === null);
      if (missing.length > 0)
        ctx.report("policy-limits-missing", `${label} has no ${missing.join(" or ")} limit`, at);
    }
    const image = c["image"];
    if (typeof image === "string" && image.trim() !== "") {
      const problem = imageTagProblem(image);
      if (problem !== undefined)
        ctx.report(
          "policy-image-tag",
          problem === "latest"
            ? `${label} uses image "${image}" (:latest)`
            : `${label} uses image "${image}" without a tag`,
          [...at, "image"],
        );
    }
  }
}
