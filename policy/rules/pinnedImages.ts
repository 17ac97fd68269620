/**
 * Rule 4: every container image of every workload the stack creates is pinned: a version tag other than
 * `latest`, or a digest (with requireDigest, a digest). Images that only appear in outputs (a verification
 * command, say) are not resources and are not checked.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import {
  containersOf,
  type Finding,
  isWorkloadType,
  type Json,
  plain,
  podSpecOf,
  reportAll,
  str,
  subject,
} from "../support";

export const PINNED_IMAGES = "images-pinned";

export interface PinnedImagesConfig {
  /** Accept only digests (`image@sha256:...`), not tags. */
  readonly requireDigest?: boolean;
}

export const PINNED_IMAGES_DEFAULTS = { requireDigest: false };

const description =
  "Container images are pinned: a version tag (not latest) or a digest, the SPIRE and Envoy images included, " +
  "so that a preview shows exactly what runs. With requireDigest, only digests count.";

/** The tag and digest of an image reference; a `:` before the last `/` is a registry port, not a tag. */
export function imageParts(image: string): { tag?: string; digest?: string } {
  const [name, digest] = image.split("@", 2);
  const colon = name.lastIndexOf(":");
  const tag = colon > name.lastIndexOf("/") ? name.slice(colon + 1) : undefined;
  return { tag: tag || undefined, digest: digest || undefined };
}

/** Why an image is not pinned, or undefined when it is. */
export function imageProblem(image: string, requireDigest: boolean): string | undefined {
  const { tag, digest } = imageParts(image);
  if (digest) return undefined;
  if (requireDigest) return "has no digest: requireDigest accepts only image@sha256:...";
  if (!tag) return "has no tag, so it means latest: pin a version tag or a digest";
  if (tag === "latest") return "uses the latest tag: pin a version tag or a digest";
  return undefined;
}

export function pinnedImageFindings(
  type: string,
  props: Json,
  pulumiName: string,
  config: Required<PinnedImagesConfig>,
): Finding[] {
  const pod = podSpecOf(type, props);
  if (!pod) return [];
  const what = subject(type, props, pulumiName);
  return containersOf(pod.spec).flatMap((c) => {
    const image = str(c.container.image);
    if (image === undefined) return []; // missing is the API server's business; unknown is checked on update
    const problem = imageProblem(image, config.requireDigest);
    return problem
      ? [
          {
            message: `${what}: ${pod.path}.${c.field} (${c.name}) image = ${JSON.stringify(image)} ${problem}`,
          },
        ]
      : [];
  });
}

export const pinnedImagesPolicy: ResourceValidationPolicy = {
  name: PINNED_IMAGES,
  description,
  enforcementLevel: "advisory",
  configSchema: {
    properties: {
      requireDigest: {
        type: "boolean",
        default: PINNED_IMAGES_DEFAULTS.requireDigest,
        description: "Accept only digests (image@sha256:...), not version tags.",
      },
    },
  },
  validateResource: (args: ResourceValidationArgs, report) => {
    if (!isWorkloadType(args.type)) return;
    const config = { ...PINNED_IMAGES_DEFAULTS, ...args.getConfig<PinnedImagesConfig>() };
    reportAll(report, description, pinnedImageFindings(args.type, plain(args.props), args.name, config));
  },
};
