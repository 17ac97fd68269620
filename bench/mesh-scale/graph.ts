/**
 * The service graph bench/mesh-scale deploys: N services spread over a few namespaces, each calling 1 to
 * `maxBackends` services created before it, a mix of http, grpc and tcp listeners, and one gateway per namespace
 * in front of about a tenth of the services (those are http: a gateway's routes speak HTTP). Drawn from a seeded PRNG per service, so a service's protocol,
 * backends and gateway do not depend on N: adding ten services adds ten callers and changes nothing else's
 * draws. Pure: no Pulumi.
 */
import { Checker } from "../../core/validation";

export type Protocol = "http" | "grpc" | "tcp";

export interface GraphConfig {
  readonly services: number;
  readonly namespaces: number;
  readonly seed: number;
  readonly maxBackends: number;
}

export interface ServiceNode {
  readonly index: number;
  readonly name: string;
  readonly namespace: string;
  readonly protocol: Protocol;
  /** Indexes of the services it calls, all lower than its own (they are created first). */
  readonly backends: readonly number[];
  /** Indexes of the services that call it. */
  readonly callers: readonly number[];
  /** Its namespace's gateway routes to it. */
  readonly gated: boolean;
}

export interface MeshGraph {
  readonly services: readonly ServiceNode[];
  /** Namespaces that have a gated service, each with one gateway in front of those services. */
  readonly gateways: readonly { readonly namespace: string; readonly targets: readonly number[] }[];
}

/** The largest mesh the bench builds: beyond it a render or an up is a capacity test, not a benchmark. */
export const MAX_SERVICES = 5000;
export const MAX_NAMESPACES = 20;
/** The share of services behind a gateway. */
export const GATED_SHARE = 0.1;

/** Checks the config values (strings or numbers as Pulumi's config gives them), each problem by field, value and rule. */
export function checkGraphConfig(raw: Readonly<Record<string, unknown>>): GraphConfig {
  const c = new Checker("bench/mesh-scale config");
  const integer = (field: string, min: number, max: number, fallback?: number): number => {
    const value = raw[field] ?? fallback;
    const n = typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    c.check(
      typeof n === "number" && Number.isInteger(n) && n >= min && n <= max,
      field,
      value,
      `must be an integer from ${min} to ${max}`,
    );
    return n as number;
  };
  const services = integer("services", 2, MAX_SERVICES);
  const namespaces = integer("namespaces", 1, MAX_NAMESPACES, 4);
  const seed = integer("seed", 0, 2 ** 32 - 1, 1);
  const maxBackends = integer("maxBackends", 1, 3, 3);
  if (c.ok)
    c.check(
      namespaces <= services,
      "namespaces",
      raw.namespaces,
      `must be at most services (${services}): each namespace holds a service`,
    );
  c.done();
  return { services, namespaces, seed, maxBackends };
}

/** mulberry32: a small, well-mixed 32-bit PRNG; the same seed gives the same sequence on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The draws of service `index` alone: its own stream from the seed and its index. */
const streamOf = (seed: number, index: number) => prng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ index);

export function meshGraph(config: GraphConfig): MeshGraph {
  const drawn = Array.from({ length: config.services }, (_, index) => {
    const random = streamOf(config.seed, index);
    const gated = random() < GATED_SHARE;
    // A gateway's routes speak HTTP, so gated services are http; the rest http, grpc or tcp.
    const roll = random();
    const protocol: Protocol = roll < 0.5 || gated ? "http" : roll < 0.75 ? "grpc" : "tcp";
    const wanted = 1 + Math.floor(random() * config.maxBackends);
    const backends = new Set<number>();
    while (backends.size < Math.min(wanted, index)) backends.add(Math.floor(random() * index));
    return { index, protocol, gated, backends: [...backends].sort((x, y) => x - y) };
  });
  const callers = drawn.map(() => [] as number[]);
  for (const s of drawn) for (const b of s.backends) callers[b].push(s.index);
  const services = drawn.map((s) => ({
    ...s,
    name: `svc-${s.index}`,
    namespace: `bench-${s.index % config.namespaces}`,
    callers: callers[s.index],
  }));
  const namespaces = [...new Set(services.map((s) => s.namespace))];
  const gateways = namespaces
    .map((namespace) => ({
      namespace,
      targets: services.filter((s) => s.gated && s.namespace === namespace).map((s) => s.index),
    }))
    .filter((g) => g.targets.length > 0);
  return { services, gateways };
}
