package main

// A type URL in "@type" resolves only if its Go package is linked in: importing a generated package
// registers its messages in protoregistry.GlobalTypes. The packages below are every extension a mesh
// bootstrap may use; a type URL from any other extension is reported as unresolvable, which is the
// intended strictness for a generator (add the package here when the generator starts using it).
import (
	"fmt"
	"strings"

	accessfilev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	accessstreamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	httprbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	networkrbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	downstreamconnectionsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3" // also SPIFFECertValidatorConfig
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// category is an Envoy extension category: Envoy looks a typed_config up only among the factories of the
// category its position calls for, so e.g. an UpstreamTlsContext on a listener is rejected even though the
// type itself resolves.
type category string

const (
	downstreamSocket category = "downstream transport socket"
	upstreamSocket   category = "upstream transport socket"
	networkFilter    category = "network filter"
	listenerFilter   category = "listener filter"
	httpFilter       category = "HTTP filter"
	accessLogger     category = "access logger"
	protocolOptions  category = "upstream protocol options"
	certValidator    category = "certificate validator"
	resourceMonitor  category = "resource monitor"
)

func fullName(m proto.Message) protoreflect.FullName { return m.ProtoReflect().Descriptor().FullName() }

// extensionCategories lists, per linked-in extension config type, the categories it is registered under.
var extensionCategories = map[protoreflect.FullName][]category{
	fullName(&tlsv3.DownstreamTlsContext{}):                          {downstreamSocket},
	fullName(&tlsv3.UpstreamTlsContext{}):                            {upstreamSocket},
	fullName(&rawbufferv3.RawBuffer{}):                               {downstreamSocket, upstreamSocket},
	fullName(&hcmv3.HttpConnectionManager{}):                         {networkFilter},
	fullName(&tcpproxyv3.TcpProxy{}):                                 {networkFilter},
	fullName(&networkrbacv3.RBAC{}):                                  {networkFilter},
	fullName(&tlsinspectorv3.TlsInspector{}):                         {listenerFilter},
	fullName(&originaldstv3.OriginalDst{}):                           {listenerFilter},
	fullName(&routerv3.Router{}):                                     {httpFilter},
	fullName(&httprbacv3.RBAC{}):                                     {httpFilter},
	fullName(&accessstreamv3.StdoutAccessLog{}):                      {accessLogger},
	fullName(&accessstreamv3.StderrAccessLog{}):                      {accessLogger},
	fullName(&accessfilev3.FileAccessLog{}):                          {accessLogger},
	fullName(&upstreamhttpv3.HttpProtocolOptions{}):                  {protocolOptions},
	fullName(&tlsv3.SPIFFECertValidatorConfig{}):                     {certValidator},
	fullName(&downstreamconnectionsv3.DownstreamConnectionsConfig{}): {resourceMonitor},
}

// slotCategories maps the field that holds an extension wrapper (TransportSocket, Filter, ...) to the
// category its typed_config must belong to. Fields not listed here are not category-checked.
var slotCategories = map[protoreflect.FullName]category{
	"envoy.config.listener.v3.FilterChain.transport_socket":                                          downstreamSocket,
	"envoy.config.cluster.v3.Cluster.transport_socket":                                               upstreamSocket,
	"envoy.config.cluster.v3.Cluster.TransportSocketMatch.transport_socket":                          upstreamSocket,
	"envoy.config.listener.v3.FilterChain.filters":                                                   networkFilter,
	"envoy.config.listener.v3.Listener.listener_filters":                                             listenerFilter,
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.http_filters": httpFilter,
	"envoy.config.listener.v3.Listener.access_log":                                                   accessLogger,
	"envoy.config.bootstrap.v3.Admin.access_log":                                                     accessLogger,
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.access_log":   accessLogger,
	"envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.access_log":                              accessLogger,
	"envoy.config.cluster.v3.Cluster.typed_extension_protocol_options":                               protocolOptions,
	"envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext.custom_validator_config": certValidator,
	"envoy.config.overload.v3.OverloadManager.resource_monitors":                                     resourceMonitor,
}

// Type URLs (without the "type.googleapis.com/" prefix) the semantic checks look for.
var (
	routerType   = fullName(&routerv3.Router{})
	hcmType      = fullName(&hcmv3.HttpConnectionManager{})
	tcpProxyType = fullName(&tcpproxyv3.TcpProxy{})
)

// A misspelled slot name would silently switch its check off, so every slot must name a real field.
func init() {
	for slot := range slotCategories {
		if _, err := protoregistry.GlobalFiles.FindDescriptorByName(slot); err != nil {
			panic(fmt.Sprintf("slotCategories: no field %s: %v", slot, err))
		}
	}
}

// categoryError says why an extension config of type typeName does not fit a slot of category want;
// "" if it fits.
func categoryError(want category, typeName protoreflect.FullName) string {
	for _, have := range extensionCategories[typeName] {
		if have == want {
			return ""
		}
	}
	if have := extensionCategories[typeName]; len(have) > 0 {
		return fmt.Sprintf("type %s is %s, but this position needs %s", typeName, withArticle(have[0]), withArticle(want))
	}
	return fmt.Sprintf("type %s is not a known %s", typeName, want)
}

func withArticle(c category) string {
	if strings.ContainsRune("aeiouAEIOU", rune(c[0])) {
		return "an " + string(c)
	}
	return "a " + string(c)
}
