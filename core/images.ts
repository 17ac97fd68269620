/**
 * The container image rule, worded once for every image field (SPIRE's, the CSI driver's, Envoy's, the demo
 * app's). Pure.
 */
import type { Checker } from "./validation";

export const IMAGE_RULE = "must be an image reference such as repo/name:tag";

// A Docker reference: optional registry host[:port]/, lowercase path components, optional :tag and @sha256 digest.
const imagePath =
  /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;
const hostAndImage = /^([a-zA-Z0-9.-]+(:\d+)?\/)?(.+)$/;

export const isImageRef = (s: unknown): boolean => {
  if (typeof s !== "string") return false;
  const match = hostAndImage.exec(s);
  return match !== null && imagePath.test(match[3]);
};

/** Records a problem at `field` unless `image` is an image reference. */
export function checkImage(c: Checker, field: string, image: unknown): boolean {
  return c.check(isImageRef(image), field, image, IMAGE_RULE);
}
