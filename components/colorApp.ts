import * as pulumi from "@pulumi/pulumi";
import {
  type ColorAppArgs as ColorAppSpecArgs,
  colorAppSpec,
  colorCallers,
  hostOf,
  routeName,
  workloads,
} from "../mesh/colorApp";
import { colorAppMesh, colorAppNamespace, colorAppObjects } from "../mesh/colorAppObjects";
import type { EntrySetMember } from "../spire/entrySet";
import { defaultDenyPolicy } from "../spire/networkPolicy";
import { kubernetesObject } from "./kubernetesObject";
import { MeshWorkload, type RoutedBackend } from "./meshWorkload";
import { MtlsVirtualGateway } from "./mtlsVirtualGateway";
import type { SpireInstallation } from "./spireInstallation";

export interface ColorAppArgs extends Omit<ColorAppSpecArgs, "trustDomain" | "registeredIdentities"> {
  /** The SPIRE whose agents and trust domain the apps' identities come from. */
  readonly installation: SpireInstallation;
  /**
   * Entry names left without an entry (the walkthrough's green, `colorgreen`, until its registerGreen step).
   * Default: none, every app is registered.
   */
  readonly unregistered?: readonly string[];
  /**
   * Each workload creates its own SpireEntry (true), or none (false): `entries` then holds the members for a
   * SpireEntrySet of the stack. Default: true.
   */
  readonly register?: boolean;
  /**
   * Other SPIFFE IDs the stack registers, for the preview warning about peers without an entry. Default: none
   * given, and no such warning.
   */
  readonly registeredIdentities?: readonly string[];
  /** X.509-SVID lifetime of the apps' entries. Default: the server's. */
  readonly x509SvidTtl?: string;
  /**
   * Environment of the entries' commands (KUBECONFIG, SPIRE_MESH_KUBE_CONTEXT): see SpireEntryArgs. Default:
   * none, kubectl's own (its default kubeconfig and current context).
   */
  readonly environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** On delete, count the entries as deleted when the server's pod is gone. Default false: see SpireEntryArgs. */
  readonly deleteWithoutServer?: boolean;
}

/**
 * The walkthrough's demo on the mesh, built from MeshWorkloads: `front` calls virtual service `color`, routed by
 * header `color_header` to blue, green and red, each STRICT and admitting only front (its callers come from the
 * graph). Names, namespace, mesh and colours are arguments with the walkthrough's values as defaults. With
 * `gateway`, an MtlsVirtualGateway routes `/color` to the same virtual service, and the colours admit it too.
 */
export class ColorApp extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly meshName: pulumi.Output<string>;
  /** Workload name -> SPIFFE ID, e.g. blue -> spiffe://<td>/colorblue. */
  public readonly identities: pulumi.Output<Record<string, string>>;
  /** Workload name -> pod labels, for finding its pods. */
  public readonly podLabels: pulumi.Output<Record<string, Record<string, string>>>;
  /** Host and port front calls (its COLOR_HOST), e.g. color.howto-k8s-mtls-sds-based.svc.cluster.local:8080. */
  public readonly colorHost: pulumi.Output<string>;
  /** Host and port of front, for the curler. */
  public readonly frontHost: pulumi.Output<string>;
  /** Host and port of the gateway, when there is one. */
  public readonly gatewayHost: pulumi.Output<string | undefined>;
  public readonly workloads: Readonly<Record<string, MeshWorkload>>;
  public readonly gateway?: MtlsVirtualGateway;
  /** The entries of the registered workloads, for a SpireEntrySet (with `register: false`). */
  public readonly entries: readonly EntrySetMember[];

  /**
   * @param name The _unique_ name of this component; children are named after it.
   * @param args The installation, names and images.
   * @param opts A bag of options that control this resource's behavior; pass the kubernetes provider here.
   */
  constructor(name: string, args: ColorAppArgs, opts?: pulumi.ComponentResourceOptions) {
    const settings = args.installation.settings;
    const unregistered = args.unregistered ?? [];
    const spec = colorAppSpec({ ...args, trustDomain: settings.trustDomain });
    const registered = workloads(spec).filter((w) => !unregistered.includes(w.entryName));
    const gatewayRegistered = spec.gateway !== undefined && !unregistered.includes(spec.gateway.entryName);
    super("spire-mesh:index:ColorApp", name, {}, opts);

    const make = (
      suffix: string,
      object: ReturnType<typeof colorAppNamespace>,
      dependsOn: pulumi.Resource[] = [],
    ) => kubernetesObject(`${name}-${suffix}`, object, { parent: this, dependsOn });
    const namespace = make("namespace", colorAppNamespace(spec, settings.workloadApi));
    // Its namespace is ours: nothing in or out of any pod there but what each workload's own policy allows.
    make("default-deny", defaultDenyPolicy(spec.namespace), [namespace]);
    const meshObject = colorAppMesh(spec);
    // App Mesh resolves virtual nodes by mesh, so the mesh comes before them.
    const mesh = meshObject ? make("mesh", meshObject) : undefined;
    const objects = colorAppObjects(spec);
    const code = make("code", objects.code, [namespace]);
    make("color-service", objects.colorService, [namespace]);

    // Stacks made before ColorApp was built on MeshWorkload hold each workload's objects and node directly under
    // the ColorApp, and its entry at the stack's root: aliases keep them where they are instead of replacing them
    // (a replacement would create the same-named object anew, then delete it with the old one).
    const formerPlaces: pulumi.ResourceTransformation = (a) =>
      a.opts.parent instanceof MeshWorkload
        ? {
            props: a.props,
            opts: pulumi.mergeOptions(a.opts, {
              aliases: [
                { parent: a.type === "spire-mesh:index:SpireEntry" ? pulumi.rootStackResource : this },
              ],
            }),
          }
        : undefined;
    const knownIds = [
      ...registered.map((w) => w.identity),
      ...(gatewayRegistered && spec.gateway ? [spec.gateway.identity] : []),
      ...(args.registeredIdentities ?? []),
    ];
    const workload = (
      w: (typeof registered)[number],
      more: Partial<ConstructorParameters<typeof MeshWorkload>[1]>,
    ) =>
      new MeshWorkload(
        `${name}-${w.name}`,
        {
          name: w.name,
          namespace: spec.namespace,
          installation: args.installation,
          ...objects.apps[w.name],
          port: spec.port,
          podLabels: w.podLabels,
          serviceAccount: w.serviceAccount,
          serviceName: w.service,
          identity: w.identity,
          entryName: w.entryName,
          register: args.register !== false && !unregistered.includes(w.entryName),
          dataPlane: spec.dataPlane,
          meshName: spec.meshName,
          ...(spec.envoyImage ? { envoyImage: spec.envoyImage } : {}),
          registeredIdentities: knownIds,
          x509SvidTtl: args.x509SvidTtl,
          environment: args.environment,
          deleteWithoutServer: args.deleteWithoutServer,
          ...more,
        },
        {
          parent: this,
          dependsOn: [namespace, code, ...(mesh ? [mesh] : [])],
          transformations: [formerPlaces],
        },
      );
    // The colours first: front's backends must exist, and each admits exactly the callers the graph gives it.
    const colors = spec.colorWorkloads.map((w) => workload(w, { callers: colorCallers(spec, w.name) }));
    const colorService: RoutedBackend = {
      virtualService: spec.virtualService,
      hostname: hostOf(spec, spec.virtualService),
      port: spec.port,
      // The router's routes, in the same priority order.
      routes: colors.map((target, i) => ({
        name: routeName(spec, spec.colorWorkloads[i].name),
        header: spec.routeHeader,
        value: spec.colorWorkloads[i].name,
        target,
      })),
    };
    const front = workload(spec.front, { backends: [colorService] });
    let virtualService: pulumi.Resource | undefined;
    if (mesh && objects.virtualRouter && objects.virtualService) {
      // Routes name virtual nodes, so the router comes after them.
      const router = make("virtual-router", objects.virtualRouter, [
        namespace,
        mesh,
        ...colors.map((c) => c.virtualNode),
      ]);
      virtualService = make("virtual-service", objects.virtualService, [router]);
    }
    const g = spec.gateway;
    if (g) {
      this.gateway = new MtlsVirtualGateway(
        `${name}-gateway`,
        {
          name: g.name,
          namespace: spec.namespace,
          installation: args.installation,
          identity: g.identity,
          serviceAccount: g.serviceAccount,
          podLabels: g.podLabels,
          listener: g.listener,
          // The colour virtual service, not front: each colour is then reached over mTLS with an exact SAN
          // check from the gateway, while front keeps the walkthrough's plaintext curler.
          backends: [colorService],
          routes: [{ prefix: g.prefix, virtualService: spec.virtualService }],
          replicas: g.replicas,
          serviceType: g.serviceType,
          dataPlane: spec.dataPlane,
          meshName: spec.meshName,
          ...(spec.envoyImage ? { envoyImage: spec.envoyImage } : {}),
          entryName: g.entryName,
          register: args.register !== false && gatewayRegistered,
          registeredIdentities: knownIds,
          x509SvidTtl: args.x509SvidTtl,
          environment: args.environment,
          deleteWithoutServer: args.deleteWithoutServer,
        },
        // On appmesh its GatewayRoute names the virtual service, which must exist first.
        {
          parent: this,
          dependsOn: [namespace, ...(mesh ? [mesh] : []), ...(virtualService ? [virtualService] : [])],
        },
      );
    }

    this.workloads = Object.fromEntries([front, ...colors].map((m, i) => [workloads(spec)[i].name, m]));
    this.entries = [
      ...[front, ...colors]
        .filter((_, i) => !unregistered.includes(workloads(spec)[i].entryName))
        .map((m) => m.entry),
      ...(this.gateway && gatewayRegistered ? [this.gateway.entry] : []),
    ];
    this.namespace = pulumi.output(spec.namespace);
    this.meshName = pulumi.output(spec.meshName);
    this.identities = pulumi.output(
      Object.fromEntries([...workloads(spec), ...(g ? [g] : [])].map((w) => [w.name, w.identity])),
    );
    this.podLabels = pulumi.output(
      Object.fromEntries(workloads(spec).map((w) => [w.name, { ...w.podLabels }])),
    );
    this.colorHost = pulumi.output(`${hostOf(spec, spec.virtualService)}:${spec.port}`);
    this.frontHost = pulumi.output(`${hostOf(spec, spec.front.service)}:${spec.port}`);
    this.gatewayHost = pulumi.output(g ? `${hostOf(spec, g.service)}:${g.listener.port}` : undefined);
    this.registerOutputs({
      namespace: this.namespace,
      meshName: this.meshName,
      identities: this.identities,
      podLabels: this.podLabels,
      colorHost: this.colorHost,
      frontHost: this.frontHost,
      gatewayHost: this.gatewayHost,
    });
  }
}
