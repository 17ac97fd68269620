/**
 * Rule 3: host access only for the node agents. hostPID, hostNetwork, hostIPC, privileged containers and
 * hostPath volumes belong to the workloads in allowedWorkloads (the SPIRE agent, and the SPIFFE CSI driver
 * next to it). Every other workload may mount a Workload API socket directory (workloadApiSocketDirs)
 * read-only, which is how meshed pods reach the agent: only the agent may write there, so nobody else can
 * put a socket of its own in the agent's place.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import {
  arr,
  containersOf,
  type Finding,
  isWorkloadType,
  type Json,
  kindOfType,
  obj,
  plain,
  podSpecOf,
  reportAll,
  str,
  stringListSchema,
  subject,
} from "../support";

export const HOST_ACCESS = "host-access-agent-only";

export interface HostAccessConfig {
  /** Workloads allowed host access: `Kind/name` or `Kind/namespace/name`. */
  readonly allowedWorkloads?: readonly string[];
  /** Host directories (and sockets in them) any workload may mount read-only. */
  readonly workloadApiSocketDirs?: readonly string[];
}

export const HOST_ACCESS_DEFAULTS = {
  allowedWorkloads: ["DaemonSet/spire-agent", "DaemonSet/spiffe-csi-driver"],
  workloadApiSocketDirs: ["/run/spire/sockets"],
};

const description =
  "Host access only for the node agents: hostPID, hostNetwork, hostIPC, privileged containers and hostPath " +
  "volumes appear only on the workloads in allowedWorkloads (default: the spire-agent and spiffe-csi-driver " +
  "DaemonSets). Other workloads may mount a Workload API socket directory (workloadApiSocketDirs) read-only.";

const normalize = (p: string) => (p.length > 1 ? p.replace(/\/+$/, "") : p);
const within = (path: string, dir: string) =>
  normalize(path) === normalize(dir) || normalize(path).startsWith(`${normalize(dir)}/`);

export function hostAccessFindings(
  type: string,
  props: Json,
  pulumiName: string,
  config: Required<HostAccessConfig>,
): Finding[] {
  const pod = podSpecOf(type, props);
  if (!pod) return [];
  const kind = kindOfType(type);
  const name = str(props?.metadata?.name);
  const namespace = str(props?.metadata?.namespace);
  // Without a known name the workload cannot be matched against the allow-list: decided when it is known.
  if (name === undefined) return [];
  const allowed = config.allowedWorkloads.some(
    (w) => w === `${kind}/${name}` || (namespace !== undefined && w === `${kind}/${namespace}/${name}`),
  );
  if (allowed) return [];

  const what = subject(type, props, pulumiName);
  const rule = `host access is reserved to allowedWorkloads (${config.allowedWorkloads.join(", ") || "none"})`;
  const findings: Finding[] = [];
  const spec = pod.spec;
  for (const flag of ["hostPID", "hostNetwork", "hostIPC"]) {
    if (spec[flag] === true) findings.push({ message: `${what}: ${pod.path}.${flag} = true: ${rule}` });
  }
  const containers = containersOf(spec);
  for (const c of containers) {
    if (obj(c.container.securityContext)?.privileged === true) {
      findings.push({
        message: `${what}: ${pod.path}.${c.field} (${c.name}) securityContext.privileged = true: ${rule}`,
      });
    }
  }
  arr(spec.volumes).forEach((v, i) => {
    const volume = obj(v);
    const hostPath = obj(volume?.hostPath);
    if (!volume || !hostPath) return;
    const path = str(hostPath.path);
    if (path === undefined) return; // unknown during preview
    const field = `${pod.path}.volumes[${i}] (${str(volume.name) ?? "unnamed"}) hostPath.path = ${JSON.stringify(path)}`;
    if (!config.workloadApiSocketDirs.some((dir) => within(path, dir))) {
      findings.push({ message: `${what}: ${field}: ${rule}` });
      return;
    }
    const writers = containers.filter((c) =>
      arr(c.container.volumeMounts).some((m) => obj(m)?.name === volume.name && obj(m)?.readOnly !== true),
    );
    for (const c of writers) {
      findings.push({
        message:
          `${what}: ${field} is mounted writable in ${c.field} (${c.name}): outside allowedWorkloads a Workload ` +
          "API socket directory may only be mounted readOnly: true",
      });
    }
  });
  return findings;
}

export const hostAccessPolicy: ResourceValidationPolicy = {
  name: HOST_ACCESS,
  description,
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      allowedWorkloads: stringListSchema(
        "Workloads allowed host access, as Kind/name or Kind/namespace/name.",
        HOST_ACCESS_DEFAULTS.allowedWorkloads,
      ),
      workloadApiSocketDirs: stringListSchema(
        "Host directories holding the Workload API socket, which any workload may mount read-only.",
        HOST_ACCESS_DEFAULTS.workloadApiSocketDirs,
      ),
    },
  },
  validateResource: (args: ResourceValidationArgs, report) => {
    if (!isWorkloadType(args.type)) return;
    const config = { ...HOST_ACCESS_DEFAULTS, ...args.getConfig<HostAccessConfig>() };
    reportAll(report, description, hostAccessFindings(args.type, plain(args.props), args.name, config));
  },
};
