/**
 * Rule 3: host access only for the node agents. hostPID, hostNetwork, hostIPC, privileged containers, added
 * capabilities beyond the runtime's defaults, host ports, an unmasked /proc and hostPath volumes belong to the
 * workloads in allowedWorkloads (the SPIRE agent, and the SPIFFE CSI driver next to it). An entry names the
 * workload's namespace and, optionally, the type of the Pulumi component that must own it: a DaemonSet called
 * spire-agent in some other namespace, or outside the SpireInstallation, is not the agent. Every other
 * workload may mount a Workload API socket directory (workloadApiSocketDirs) read-only, which is how meshed
 * pods reach the agent: only the agent may write there, so nobody else can put a socket of its own in the
 * agent's place.
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
  patchedType,
  plain,
  podSpecOf,
  reportAll,
  str,
  stringListSchema,
  subject,
} from "../support";

export const HOST_ACCESS = "host-access-agent-only";

export interface HostAccessConfig {
  /** Workloads allowed host access: `Kind/namespace/name`, optionally `@<type of the owning Pulumi component>`. */
  readonly allowedWorkloads?: readonly string[];
  /** Host directories (and sockets in them) any workload may mount read-only. */
  readonly workloadApiSocketDirs?: readonly string[];
}

const INSTALLATION = "spire-mesh:index:SpireInstallation";

export const HOST_ACCESS_DEFAULTS = {
  allowedWorkloads: [
    `DaemonSet/spire/spire-agent@${INSTALLATION}`,
    `DaemonSet/spire/spiffe-csi-driver@${INSTALLATION}`,
  ],
  workloadApiSocketDirs: ["/run/spire/sockets"],
};

const description =
  "Host access only for the node agents: hostPID, hostNetwork, hostIPC, privileged containers, added " +
  "capabilities beyond the runtime's defaults, hostPort, procMount: Unmasked and hostPath volumes appear only " +
  "on the workloads in allowedWorkloads (default: the spire-agent and spiffe-csi-driver DaemonSets of a " +
  "SpireInstallation in namespace spire). Other workloads may mount a Workload API socket directory " +
  "(workloadApiSocketDirs) read-only.";

/** `Kind/namespace/name`, then optionally `@` and the Pulumi type of the component that must own the workload. */
const ALLOWED_WORKLOAD = /^([A-Za-z]+)\/([a-z0-9.-]+)\/([a-z0-9.-]+)(?:@(\S+))?$/;

/**
 * The capabilities a container runtime grants by default (Pod Security's baseline list): adding one of these
 * changes nothing on the host. Anything else (SYS_ADMIN, NET_ADMIN, SYS_PTRACE, ALL...) is host access.
 */
const RUNTIME_DEFAULT_CAPABILITIES = new Set([
  "AUDIT_WRITE",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "MKNOD",
  "NET_BIND_SERVICE",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_CHROOT",
]);

/** The type token of a parent URN: `urn:pulumi:s::p::a$b$<type>::name` -> `<type>`. */
const typeOfUrn = (urn: string | undefined): string | undefined => urn?.split("::")[2]?.split("$").pop();

/** Whether an allowedWorkloads entry names this workload; a malformed entry names none. */
function isAllowed(
  entry: string,
  kind: string,
  namespace: string | undefined,
  name: string,
  ownerType?: string,
) {
  const m = ALLOWED_WORKLOAD.exec(entry);
  if (!m) return false;
  const [, k, ns, n, owner] = m;
  return k === kind && ns === namespace && n === name && (owner === undefined || owner === ownerType);
}

const normalize = (p: string) => (p.length > 1 ? p.replace(/\/+$/, "") : p);
const within = (path: string, dir: string) =>
  normalize(path) === normalize(dir) || normalize(path).startsWith(`${normalize(dir)}/`);

export function hostAccessFindings(
  type: string,
  props: Json,
  pulumiName: string,
  config: Required<HostAccessConfig>,
  parentUrn?: string,
): Finding[] {
  const pod = podSpecOf(type, props);
  if (!pod) return [];
  // A DaemonSetPatch of the agent is matched as the DaemonSet it patches (and must have the same owner).
  const kind = kindOfType(patchedType(type));
  const name = str(props?.metadata?.name);
  const namespace = str(props?.metadata?.namespace);
  // Without a known name the workload cannot be matched against the allow-list: decided when it is known.
  if (name === undefined) return [];
  const ownerType = typeOfUrn(parentUrn);
  if (config.allowedWorkloads.some((w) => isAllowed(w, kind, namespace, name, ownerType))) return [];

  const what = subject(type, props, pulumiName);
  const rule = `host access is reserved to allowedWorkloads (${config.allowedWorkloads.join(", ") || "none"})`;
  const findings: Finding[] = [];
  const spec = pod.spec;
  for (const flag of ["hostPID", "hostNetwork", "hostIPC"]) {
    if (spec[flag] === true) findings.push({ message: `${what}: ${pod.path}.${flag} = true: ${rule}` });
  }
  const containers = containersOf(spec);
  for (const c of containers) {
    const at = `${pod.path}.${c.field} (${c.name})`;
    const context = obj(c.container.securityContext);
    if (context?.privileged === true) {
      findings.push({ message: `${what}: ${at} securityContext.privileged = true: ${rule}` });
    }
    const added = arr(obj(context?.capabilities)?.add).filter(
      (cap) => typeof cap === "string" && !RUNTIME_DEFAULT_CAPABILITIES.has(cap.replace(/^CAP_/, "")),
    );
    if (added.length > 0) {
      findings.push({
        message: `${what}: ${at} securityContext.capabilities.add = ${JSON.stringify(added)}: ${rule}`,
      });
    }
    const procMount = str(context?.procMount);
    if (procMount !== undefined && procMount !== "Default") {
      findings.push({
        message: `${what}: ${at} securityContext.procMount = ${JSON.stringify(procMount)}: ${rule}`,
      });
    }
    arr(c.container.ports).forEach((p, i) => {
      const hostPort = obj(p)?.hostPort;
      if (typeof hostPort === "number" && hostPort !== 0) {
        findings.push({ message: `${what}: ${at} ports[${i}].hostPort = ${hostPort}: ${rule}` });
      }
    });
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
        "Workloads allowed host access, as Kind/namespace/name, optionally followed by @ and the Pulumi type " +
          "of the component that must own the workload (its parent).",
        HOST_ACCESS_DEFAULTS.allowedWorkloads,
        ALLOWED_WORKLOAD.source,
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
    reportAll(
      report,
      description,
      hostAccessFindings(args.type, plain(args.props), args.name, config, args.opts?.parent),
    );
  },
};
