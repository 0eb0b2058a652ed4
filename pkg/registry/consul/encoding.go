package consul

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/microtools/micro/pkg/registry"
)

// Tag prefixes. The "-" forms hold hex of zlib-compressed data, as go-micro
// writes them; the "=" forms are go-micro's older plain encoding. go-micro
// decoders look at the first byte of every tag for 'v', 't' and 'e', so the
// prefix of our own service metadata tag must not start with one of them.
const (
	tagVersion         = "v-" // version string
	tagVersionPlain    = "v="
	tagMetadata        = "t-" // JSON object of node metadata (one key per tag when we write it)
	tagMetadataPlain   = "t="
	tagEndpoint        = "e-" // JSON endpoint
	tagEndpointPlain   = "e="
	tagServiceMetadata = "s-" // JSON object of service metadata; marks our own records
)

// Consul's limits on service Meta (agent/structs: ValidateServiceMetadata).
const (
	metaMaxPairs       = 64
	metaKeyMaxLength   = 128
	metaValueMaxLength = 512
	metaReservedPrefix = "consul-"
	metaVersionKey     = "version"
)

// maxDecodedTag bounds the data one compressed tag may expand to, so that a
// hostile tag cannot exhaust memory.
const maxDecodedTag = 1 << 20

// encodeTags returns the tags of one node: its plain tags (node.Tags) as
// they are, then the tags that carry the whole record: the version, the node
// metadata, the endpoints and the service metadata. The order is stable so
// that an unchanged record gives the same tags.
func encodeTags(svc *registry.Service, node *registry.Node) ([]string, error) {
	tags := slices.Clone(node.Tags)
	for _, key := range slices.Sorted(maps.Keys(node.Metadata)) {
		data, err := json.Marshal(map[string]string{key: node.Metadata[key]})
		if err != nil {
			return nil, err
		}
		tags = append(tags, tagMetadata+compress(data))
	}
	for _, ep := range svc.Endpoints {
		if ep == nil {
			continue
		}
		data, err := json.Marshal(ep)
		if err != nil {
			return nil, err
		}
		tags = append(tags, tagEndpoint+compress(data))
	}
	tags = append(tags, tagVersion+compress([]byte(svc.Version)))
	md := svc.Metadata
	if md == nil {
		md = map[string]string{}
	}
	data, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	tags = append(tags, tagServiceMetadata+compress(data))
	return tags, nil
}

// compress is hex of zlib of data.
func compress(data []byte) string {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	_, _ = w.Write(data) // writes to a bytes.Buffer do not fail
	_ = w.Close()
	return hex.EncodeToString(buf.Bytes())
}

// decompress undoes compress; it fails on anything else.
func decompress(s string) ([]byte, error) {
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	r, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxDecodedTag+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDecodedTag {
		return nil, errors.New("decoded tag too large")
	}
	return data, nil
}

// decodedTags is what the tags of one Consul service instance say.
type decodedTags struct {
	version    string
	hasVersion bool
	// nodeMetadata merges every t- or t= tag; hasNodeMetadata is set when at
	// least one of them decoded.
	nodeMetadata    map[string]string
	hasNodeMetadata bool
	endpoints       []*registry.Endpoint
	// serviceMetadata comes from our own s- tag; ours is set when it decoded,
	// which means this package wrote the record.
	serviceMetadata map[string]string
	ours            bool
	// plain are the tags that encode nothing, in their order: labels such
	// as "primary" that people and other tools give services.
	plain []string
}

// decodeTags reads go-micro's tags and ours from tags. Tags it does not know,
// or cannot decode ("e-commerce"), are plain tags: it never fails and never
// panics.
func decodeTags(tags []string) decodedTags {
	var d decodedTags
	for _, tag := range tags {
		if !d.decode(tag) {
			d.plain = append(d.plain, tag)
		}
	}
	return d
}

// decode reads one tag into d and reports whether it was an encoded one.
func (d *decodedTags) decode(tag string) bool {
	prefix, value := splitTag(tag)
	switch prefix {
	case tagVersion, tagVersionPlain:
		data, ok := tagData(prefix, value)
		if ok && !d.hasVersion {
			d.version, d.hasVersion = string(data), true
		}
		return ok
	case tagMetadata, tagMetadataPlain:
		var md map[string]string
		data, ok := tagData(prefix, value)
		if !ok || json.Unmarshal(data, &md) != nil || md == nil {
			return false
		}
		if d.nodeMetadata == nil {
			d.nodeMetadata = map[string]string{}
		}
		maps.Copy(d.nodeMetadata, md)
		d.hasNodeMetadata = true
		return true
	case tagEndpoint, tagEndpointPlain:
		var ep *registry.Endpoint
		data, ok := tagData(prefix, value)
		if !ok || json.Unmarshal(data, &ep) != nil || ep == nil {
			return false
		}
		d.endpoints = append(d.endpoints, ep)
		return true
	case tagServiceMetadata:
		var md map[string]string
		data, ok := tagData(prefix, value)
		if !ok || json.Unmarshal(data, &md) != nil || md == nil {
			return false
		}
		if d.serviceMetadata == nil {
			d.serviceMetadata = map[string]string{}
		}
		maps.Copy(d.serviceMetadata, md)
		d.ours = true
		return true
	}
	return false
}

// splitTag returns the two-byte prefix of tag and the rest, or "" when the
// tag is too short to have one.
func splitTag(tag string) (prefix, value string) {
	if len(tag) < 2 {
		return "", tag
	}
	return tag[:2], tag[2:]
}

// tagData is the payload of a tag: decompressed for the "-" forms, as is for
// the plain "=" forms.
func tagData(prefix, value string) ([]byte, bool) {
	if strings.HasSuffix(prefix, "=") {
		return []byte(value), true
	}
	data, err := decompress(value)
	return data, err == nil
}

// encodeMeta fills Consul Meta with the version, the node metadata and then
// the service metadata, skipping what Consul would refuse: invalid or
// reserved keys, values over 512 bytes, keys taken already, and everything
// past 64 entries. The tags carry the whole record, so nothing is lost.
func encodeMeta(svc *registry.Service, node *registry.Node) map[string]string {
	meta := map[string]string{}
	add := func(key, value string) {
		if len(meta) >= metaMaxPairs || !validMetaKey(key) || len(value) > metaValueMaxLength {
			return
		}
		if _, taken := meta[key]; taken {
			return
		}
		meta[key] = value
	}
	if svc.Version != "" {
		add(metaVersionKey, svc.Version)
	}
	for _, key := range slices.Sorted(maps.Keys(node.Metadata)) {
		add(key, node.Metadata[key])
	}
	for _, key := range slices.Sorted(maps.Keys(svc.Metadata)) {
		add(key, svc.Metadata[key])
	}
	return meta
}

// validMetaKey reports whether Consul accepts key in service Meta.
func validMetaKey(key string) bool {
	if key == "" || len(key) > metaKeyMaxLength || strings.HasPrefix(key, metaReservedPrefix) {
		return false
	}
	for _, c := range []byte(key) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// splitAddress returns the host and port Consul stores for a node address.
// An address without a usable port is stored whole, with port 0.
func splitAddress(addr string) (string, int) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return addr, 0
	}
	return host, port
}

// nodeAddress is the node address of a service instance: the service
// address, or the Consul node's when the service has none, with the port.
func nodeAddress(entry *api.ServiceEntry) string {
	host := entry.Service.Address
	if host == "" && entry.Node != nil {
		host = entry.Node.Address
	}
	if entry.Service.Port == 0 {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(entry.Service.Port))
}

// health is the worst status of the checks of one service instance, service
// and node checks alike; maintenance and unknown states count as critical.
func health(checks api.HealthChecks) string {
	worst := registry.HealthPassing
	for _, check := range checks {
		if check.CheckID == api.NodeMaint || strings.HasPrefix(check.CheckID, api.ServiceMaintPrefix) {
			return registry.HealthCritical
		}
		switch check.Status {
		case api.HealthPassing:
		case api.HealthWarning:
			worst = registry.HealthWarning
		default:
			return registry.HealthCritical
		}
	}
	return worst
}

// serviceFromEntry turns one Consul service instance into a single-node
// record. Records this package wrote are read from their tags; go-micro's
// from their tags, falling back on Meta; plain registrations from Meta.
func serviceFromEntry(entry *api.ServiceEntry) *registry.Service {
	tags := decodeTags(entry.Service.Tags)
	svc := &registry.Service{
		Name:      entry.Service.Service,
		Version:   tags.version,
		Endpoints: tags.endpoints,
	}
	if !tags.hasVersion {
		svc.Version = entry.Service.Meta[metaVersionKey]
	}
	node := &registry.Node{
		ID:      entry.Service.ID,
		Address: nodeAddress(entry),
		Tags:    tags.plain,
		Health:  health(entry.Checks),
	}
	switch {
	case tags.ours:
		svc.Metadata = tags.serviceMetadata
		node.Metadata = tags.nodeMetadata
	case tags.hasNodeMetadata:
		node.Metadata = tags.nodeMetadata
	case len(entry.Service.Meta) > 0:
		node.Metadata = maps.Clone(entry.Service.Meta)
	}
	svc.Nodes = []*registry.Node{node}
	return svc
}
