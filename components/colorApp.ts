import * as pulumi from "@pulumi/pulumi";
import { type ColorAppArgs, colorAppSpec, colorAppVirtualNodes, workloads } from "../mesh/colorApp";
import { colorAppMesh, colorAppNamespace, colorAppObjects } from "../mesh/colorAppObjects";
import type { PodAdditions } from "../mesh/envoySidecar";
import { meshNodePlan } from "../mesh/meshNode";
import { kubernetesObject } from "./kubernetesObject";
import { MtlsVirtualNode } from "./mtlsVirtualNode";

export type { ColorAppArgs } from "../mesh/colorApp";

/**
 * The walkthrough's demo on the mesh: `front` calls virtual service `color`, routed by header `color_header` to
 * blue, green and red, each a STRICT mTLS virtual node that allows only front. Names, namespace, mesh, trust
 * domain and colours are arguments with the walkthrough's values as defaults.
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
  /** Host and port of front, for the curler, e.g. front.howto-k8s-mtls-sds-based.svc.cluster.local:8080. */
  public readonly frontHost: pulumi.Output<string>;
  public readonly virtualNodes: Readonly<Record<string, MtlsVirtualNode>>;

  /**
   * @param name The _unique_ name of this component; children are named after it.
   * @param args Names and images; all optional.
   * @param opts A bag of options that control this resource's behavior; pass the kubernetes provider here.
   */
  constructor(name: string, args: ColorAppArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    const spec = colorAppSpec(args);
    const nodeArgs = colorAppVirtualNodes(spec);
    // Check every node before anything is registered; the MtlsVirtualNode children plan them again when built.
    for (const node of nodeArgs) meshNodePlan(node);
    super("spire-mesh:index:ColorApp", name, {}, opts);

    const make = (
      suffix: string,
      object: ReturnType<typeof colorAppNamespace>,
      dependsOn: pulumi.Resource[] = [],
    ) => kubernetesObject(`${name}-${suffix}`, object, { parent: this, dependsOn });
    const namespace = make("namespace", colorAppNamespace(spec));
    const meshObject = colorAppMesh(spec);
    // App Mesh resolves virtual nodes by mesh, so the mesh comes before them.
    const mesh = meshObject ? make("mesh", meshObject) : undefined;

    const nodes: Record<string, MtlsVirtualNode> = {};
    const pods: Record<string, PodAdditions> = {};
    for (const node of nodeArgs) {
      nodes[node.name] = new MtlsVirtualNode(
        `${name}-${node.name}`,
        { ...node, registeredIdentities: spec.registeredIdentities },
        { parent: this, dependsOn: mesh ? [namespace, mesh] : [namespace] },
      );
      const additions = nodes[node.name].podAdditions;
      if (additions) pods[node.name] = additions;
    }
    const objects = colorAppObjects(spec, pods);
    const code = make("code", objects.code, [namespace]);
    const accounts = Object.fromEntries(
      Object.entries(objects.serviceAccounts).map(([w, sa]) => [
        w,
        make(`${w}-service-account`, sa, [namespace]),
      ]),
    );
    for (const [workload, policy] of Object.entries(objects.networkPolicies)) {
      make(`${workload}-network-policy`, policy, [namespace]);
    }
    if (mesh && objects.virtualRouter && objects.virtualService) {
      // Routes name virtual nodes, so the router comes after them.
      const router = make("virtual-router", objects.virtualRouter, [
        namespace,
        mesh,
        ...Object.values(nodes),
      ]);
      make("virtual-service", objects.virtualService, [router]);
    }
    for (const [workload, service] of Object.entries(objects.services))
      make(`${workload}-service`, service, [namespace]);
    // App Mesh's injector looks up the pod's virtual node when the pod is created, and an envoy sidecar needs its
    // bootstrap ConfigMap, so each node comes before its pods.
    for (const [workload, deployment] of Object.entries(objects.deployments)) {
      make(`${workload}-deployment`, deployment, [namespace, code, accounts[workload], nodes[workload]]);
    }

    this.virtualNodes = nodes;
    this.namespace = pulumi.output(spec.namespace);
    this.meshName = pulumi.output(spec.meshName);
    this.identities = pulumi.output(Object.fromEntries(workloads(spec).map((w) => [w.name, w.identity])));
    this.podLabels = pulumi.output(
      Object.fromEntries(workloads(spec).map((w) => [w.name, { ...w.podLabels }])),
    );
    this.colorHost = pulumi.output(`${spec.virtualService}.${spec.namespace}.svc.cluster.local:${spec.port}`);
    this.frontHost = pulumi.output(`${spec.front.service}.${spec.namespace}.svc.cluster.local:${spec.port}`);
    this.registerOutputs({
      namespace: this.namespace,
      meshName: this.meshName,
      identities: this.identities,
      podLabels: this.podLabels,
      colorHost: this.colorHost,
      frontHost: this.frontHost,
    });
  }
}
