package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// semanticChecker holds what the checks Envoy makes at load time (beyond PGV) need to know.
type semanticChecker struct {
	problems []string
	clusters map[string]bool // every static cluster name
	primary  map[string]bool // static clusters that are not EDS: the only ones a config source may use
}

func (c *semanticChecker) report(path fieldPath, format string, args ...any) {
	c.problems = append(c.problems, path.String()+": "+fmt.Sprintf(format, args...))
}

// semanticProblems runs the load-time checks over the bootstrap and every message the walker found,
// including those inside unpacked typed_config values.
func semanticProblems(bootstrap *bootstrapv3.Bootstrap, messages []located) []string {
	c := &semanticChecker{clusters: map[string]bool{}, primary: map[string]bool{}}
	c.checkClusters(bootstrap.GetStaticResources().GetClusters())
	c.checkListeners(bootstrap.GetStaticResources().GetListeners())
	for _, found := range messages {
		switch m := found.msg.(type) {
		case *corev3.ApiConfigSource:
			c.checkConfigSource(found.path, m)
		case *listenerv3.FilterChain:
			c.checkNetworkFilters(found.path, m)
		case *hcmv3.HttpConnectionManager:
			c.checkHTTPFilters(found.path, m)
		case *routev3.RouteConfiguration:
			c.checkRouteConfig(found.path, m)
		}
	}
	return c.problems
}

var clustersPath = fieldPath{{key: "static_resources"}, {key: "clusters"}}

// checkClusters records the static clusters and rejects duplicate names.
func (c *semanticChecker) checkClusters(clusters []*clusterv3.Cluster) {
	firstIndex := map[string]int{}
	for i, cluster := range clusters {
		name := cluster.GetName()
		if first, seen := firstIndex[name]; seen {
			c.report(clustersPath.elem(i).field("name"), "duplicate cluster name %q (also static_resources.clusters[%d])", name, first)
			continue
		}
		firstIndex[name] = i
		c.clusters[name] = true
		// EDS clusters are initialised in a second phase, after the config sources they would depend on.
		if cluster.GetType() != clusterv3.Cluster_EDS || cluster.GetClusterType() != nil {
			c.primary[name] = true
		}
	}
}

var listenersPath = fieldPath{{key: "static_resources"}, {key: "listeners"}}

// checkListeners rejects duplicate listener names and two listeners binding the same address.
func (c *semanticChecker) checkListeners(listeners []*listenerv3.Listener) {
	names := map[string]int{}
	addresses := map[string]string{} // address -> path of the listener that has it
	for i, listener := range listeners {
		path := listenersPath.elem(i)
		if first, seen := names[listener.GetName()]; seen {
			c.report(path.field("name"), "duplicate listener name %q (also static_resources.listeners[%d])", listener.GetName(), first)
		} else {
			names[listener.GetName()] = i
		}
		// A listener that does not bind (bind_to_port: false) only receives redirected connections.
		if bind := listener.GetBindToPort(); bind != nil && !bind.GetValue() {
			continue
		}
		claim := func(addressPath fieldPath, address *corev3.Address) {
			key := addressKey(address)
			if key == "" {
				return
			}
			if first, seen := addresses[key]; seen {
				c.report(addressPath, "duplicate listener address %s (also %s)", key, first)
				return
			}
			addresses[key] = addressPath.String()
		}
		claim(path.field("address"), listener.GetAddress())
		for j, extra := range listener.GetAdditionalAddresses() {
			claim(path.field("additional_addresses").elem(j).field("address"), extra.GetAddress())
		}
		c.checkFilterChainMatches(path, listener.GetFilterChains())
	}
}

// addressKey is a comparable form of a listener address; "" for addresses that may repeat (port 0 asks
// the kernel for a fresh port each time) or are absent.
func addressKey(address *corev3.Address) string {
	switch {
	case address == nil:
		return ""
	case address.GetSocketAddress() != nil:
		socket := address.GetSocketAddress()
		port := strconv.FormatUint(uint64(socket.GetPortValue()), 10)
		if socket.GetNamedPort() != "" {
			port = socket.GetNamedPort()
		} else if socket.GetPortValue() == 0 {
			return ""
		}
		return fmt.Sprintf("%s %s:%s", socket.GetProtocol(), socket.GetAddress(), port)
	case address.GetPipe() != nil:
		return "pipe " + address.GetPipe().GetPath()
	}
	return prototext.MarshalOptions{}.Format(address)
}

// checkFilterChainMatches rejects two filter chains of one listener that can match the same connection
// ("multiple filter chains with the same matching rules are defined"). Envoy expands each match into
// every combination of its criteria, an empty criterion being its own "any" entry, so two chains collide
// exactly when, criterion by criterion, their value sets intersect.
func (c *semanticChecker) checkFilterChainMatches(listenerPath fieldPath, chains []*listenerv3.FilterChain) {
	criteria := make([][]map[string]bool, len(chains))
	for i, chain := range chains {
		criteria[i] = matchCriteria(chain.GetFilterChainMatch())
		for j := range i {
			if collide(criteria[i], criteria[j]) {
				c.report(listenerPath.field("filter_chains").elem(i).field("filter_chain_match"),
					"matches the same connections as filter_chains[%d] (Envoy rejects filter chains with the same matching rules)", j)
				break
			}
		}
	}
}

func matchCriteria(match *listenerv3.FilterChainMatch) []map[string]bool {
	set := func(values ...string) map[string]bool {
		s := map[string]bool{}
		for _, v := range values {
			s[v] = true
		}
		if len(s) == 0 {
			s["*"] = true
		}
		return s
	}
	cidrs := func(ranges []*corev3.CidrRange) map[string]bool {
		var values []string
		for _, r := range ranges {
			values = append(values, fmt.Sprintf("%s/%d", r.GetAddressPrefix(), r.GetPrefixLen().GetValue()))
		}
		return set(values...)
	}
	var port, sourcePorts []string
	if p := match.GetDestinationPort(); p != nil {
		port = append(port, strconv.FormatUint(uint64(p.GetValue()), 10))
	}
	for _, p := range match.GetSourcePorts() {
		sourcePorts = append(sourcePorts, strconv.FormatUint(uint64(p), 10))
	}
	var transport []string
	if t := match.GetTransportProtocol(); t != "" {
		transport = append(transport, t)
	}
	return []map[string]bool{
		set(port...),
		cidrs(match.GetPrefixRanges()),
		set(match.GetServerNames()...),
		set(transport...),
		set(match.GetApplicationProtocols()...),
		cidrs(match.GetDirectSourcePrefixRanges()),
		set(match.GetSourceType().String()),
		cidrs(match.GetSourcePrefixRanges()),
		set(sourcePorts...),
	}
}

func collide(a, b []map[string]bool) bool {
	for i := range a {
		overlap := false
		for v := range a[i] {
			if b[i][v] {
				overlap = true
				break
			}
		}
		if !overlap {
			return false
		}
	}
	return true
}

// checkConfigSource applies Envoy's checkApiConfigSourceNames / validateClusterName rules: a gRPC config
// source (SDS, ADS, RDS, ...) must name a cluster that is static in the bootstrap and not EDS, because
// config sources are set up before any dynamic cluster exists.
func (c *semanticChecker) checkConfigSource(path fieldPath, source *corev3.ApiConfigSource) {
	switch source.GetApiType() {
	case corev3.ApiConfigSource_AGGREGATED_GRPC, corev3.ApiConfigSource_AGGREGATED_DELTA_GRPC:
		return // backed by dynamic_resources.ads_config, which is checked where it is defined
	case corev3.ApiConfigSource_GRPC, corev3.ApiConfigSource_DELTA_GRPC:
		if len(source.GetClusterNames()) > 0 {
			c.report(path.field("cluster_names"), "a gRPC config source must not set cluster_names; use grpc_services[].envoy_grpc.cluster_name")
		}
		if len(source.GetGrpcServices()) == 0 {
			c.report(path.field("grpc_services"), "a gRPC config source needs a gRPC service")
		}
	default: // REST
		if len(source.GetGrpcServices()) > 0 {
			c.report(path.field("grpc_services"), "a REST config source must not set grpc_services")
		}
		if len(source.GetClusterNames()) != 1 {
			c.report(path.field("cluster_names"), "a REST config source needs exactly one cluster name")
		}
	}
	for i, name := range source.GetClusterNames() {
		c.requirePrimary(path.field("cluster_names").elem(i), name)
	}
	for i, service := range source.GetGrpcServices() {
		if envoyGrpc := service.GetEnvoyGrpc(); envoyGrpc != nil {
			c.requirePrimary(path.field("grpc_services").elem(i).field("envoy_grpc").field("cluster_name"), envoyGrpc.GetClusterName())
		}
	}
}

func (c *semanticChecker) requirePrimary(path fieldPath, name string) {
	switch {
	case !c.clusters[name]:
		c.report(path, "cluster %q is not defined in static_resources.clusters; a config source needs a statically defined non-EDS cluster", name)
	case !c.primary[name]:
		c.report(path, "cluster %q is an EDS cluster; a config source needs a statically defined non-EDS cluster", name)
	}
}

// checkNetworkFilters: a terminal network filter (HCM, tcp_proxy) must be the last one in its chain, and
// the last one must be terminal ("terminal filter named ... must be the last filter in a network filter chain").
func (c *semanticChecker) checkNetworkFilters(path fieldPath, chain *listenerv3.FilterChain) {
	filters := chain.GetFilters()
	for i, filter := range filters {
		typeName, known := extensionType(filter.GetTypedConfig())
		if !known {
			continue // configured by discovery: its type is not known until then
		}
		terminal := typeName == hcmType || typeName == tcpProxyType
		switch {
		case terminal && i < len(filters)-1:
			c.report(path.field("filters").elem(i), "terminal filter %q (%s) must be the last filter in a network filter chain", filter.GetName(), typeName)
		case !terminal && i == len(filters)-1:
			c.report(path.field("filters").elem(i), "non-terminal filter %q (%s) is the last filter in a network filter chain", filter.GetName(), typeName)
		}
	}
}

// checkHTTPFilters: the router is the terminal HTTP filter, so like Envoy (per filter: "terminal filter
// named ... must be the last filter", "non-terminal filter ... is the last filter") it must come last, and
// it must be there: without it no request would ever reach a cluster.
func (c *semanticChecker) checkHTTPFilters(path fieldPath, hcm *hcmv3.HttpConnectionManager) {
	filters := hcm.GetHttpFilters()
	filtersPath := path.field("http_filters")
	last := len(filters) - 1
	routers := 0
	for i, filter := range filters {
		typeName, known := extensionType(filter.GetTypedConfig())
		if !known && filter.GetName() != "envoy.filters.http.router" {
			continue // configured by discovery: its type is not known until then
		}
		// Without a typed_config Envoy falls back to looking the extension up by name.
		isRouter := !known || typeName == routerType
		switch {
		case isRouter && i < last:
			c.report(filtersPath.elem(i), "terminal filter %q (router) must be the last filter in an HTTP filter chain; %d filter(s) follow it",
				filter.GetName(), last-i)
		case !isRouter && i == last:
			c.report(filtersPath.elem(i), "non-terminal filter %q (%s) is the last filter in an HTTP filter chain; the router must be last",
				filter.GetName(), typeName)
		}
		if isRouter {
			routers++
		}
	}
	if routers == 0 {
		c.report(filtersPath, "no router filter (%s); it must be the last HTTP filter", routerType)
	}
}

// extensionType is the message type a typed_config carries; false when there is no typed_config.
func extensionType(config *anypb.Any) (protoreflect.FullName, bool) {
	if config == nil {
		return "", false
	}
	return config.MessageName(), true
}

// checkRouteConfig: an inline route_config defaults to validate_clusters: true, so every cluster a route
// names must exist; and domains must be unique across the virtual hosts of one route configuration.
func (c *semanticChecker) checkRouteConfig(path fieldPath, config *routev3.RouteConfiguration) {
	domains := map[string]string{} // lower-cased domain -> path where first seen
	validate := config.GetValidateClusters() == nil || config.GetValidateClusters().GetValue()
	for i, host := range config.GetVirtualHosts() {
		hostPath := path.field("virtual_hosts").elem(i)
		for j, domain := range host.GetDomains() {
			domainPath := hostPath.field("domains").elem(j)
			key := strings.ToLower(domain) // Envoy matches hosts case-insensitively
			if first, seen := domains[key]; seen {
				c.report(domainPath, "duplicate domain %q in one route configuration (also %s)", domain, first)
				continue
			}
			domains[key] = domainPath.String()
		}
		if !validate {
			continue
		}
		for j, route := range host.GetRoutes() {
			c.checkRouteClusters(hostPath.field("routes").elem(j).field("route"), route.GetRoute())
		}
	}
}

func (c *semanticChecker) checkRouteClusters(path fieldPath, action *routev3.RouteAction) {
	if action == nil {
		return // redirect, direct_response, ...: no cluster
	}
	c.requireCluster(path.field("cluster"), action.GetCluster())
	for i, weighted := range action.GetWeightedClusters().GetClusters() {
		c.requireCluster(path.field("weighted_clusters").field("clusters").elem(i).field("name"), weighted.GetName())
	}
	for i, mirror := range action.GetRequestMirrorPolicies() {
		c.requireCluster(path.field("request_mirror_policies").elem(i).field("cluster"), mirror.GetCluster())
	}
}

func (c *semanticChecker) requireCluster(path fieldPath, name string) {
	if name != "" && !c.clusters[name] {
		known := make([]string, 0, len(c.clusters))
		for n := range c.clusters {
			known = append(known, n)
		}
		slices.Sort(known)
		c.report(path, "unknown cluster %q (static clusters: %s)", name, strings.Join(known, ", "))
	}
}
