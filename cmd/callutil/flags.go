// Package callutil is what the commands that call services share (`micro
// call`, `micro stream`, `micro describe`, `micro health`): their connection,
// descriptor and output flags, the pkg/client Client built from them, the -v
// trace, and failed calls as exit codes.
package callutil

import (
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/microtools/micro/pkg/client"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/metadata"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/call"
)

// DefaultConnectTimeout bounds the wait for a connection to a node.
const DefaultConnectTimeout = 5 * time.Second

// ConnectionFlags say where a call goes and how it connects.
type ConnectionFlags struct {
	// Address bypasses the registry: the call goes to this host:port.
	Address        string
	ConnectTimeout time.Duration
	Retries        int
	// Transport is what the --address node speaks: grpc or http.
	Transport  string
	TLS        bool
	CACert     string
	Cert, Key  string
	Insecure   bool
	Authority  string
	MaxMsgSize int
}

// Bind adds the flags to fs.
func (f *ConnectionFlags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.Address, "address", "", "call this host:port instead of finding the service in the registry")
	fs.DurationVar(&f.ConnectTimeout, "connect-timeout", DefaultConnectTimeout, "time limit of connecting to a node; a refused connection fails at once")
	fs.IntVar(&f.Retries, "retries", client.DefaultRetries, "how many other nodes to try when a node cannot be reached (0: none)")
	fs.StringVar(&f.Transport, "transport", "", "what the --address node speaks: grpc (the default) or http (go-micro's mucp); registered nodes say it in their metadata")
	f.BindTLS(fs)
	fs.IntVar(&f.MaxMsgSize, "max-msg-size", 0, "largest message sent or received, in bytes (default: gRPC's 4 MiB received)")
}

// BindTLS adds the TLS flags alone to fs (--tls, --cacert, --cert, --key,
// --insecure, --authority), for commands that reach a service only to ask
// it for descriptors (`micro publish --reflect`).
func (f *ConnectionFlags) BindTLS(fs *pflag.FlagSet) {
	fs.BoolVar(&f.TLS, "tls", false, "connect with TLS, verifying the server with the system's CAs (or --cacert)")
	fs.StringVar(&f.CACert, "cacert", "", "PEM file of the CAs the server's certificate must chain to (implies --tls)")
	fs.StringVar(&f.Cert, "cert", "", "PEM file of a client certificate, for mutual TLS (with --key; implies --tls)")
	fs.StringVar(&f.Key, "key", "", "PEM file of the client certificate's private key (with --cert)")
	fs.BoolVar(&f.Insecure, "insecure", false, "TLS without verifying the server's certificate (implies --tls; for tests only)")
	fs.StringVar(&f.Authority, "authority", "", "the :authority of calls, and the name the server's certificate must be valid for")
}

// Validate reports flags that cannot work, as usage errors.
func (f *ConnectionFlags) Validate() error {
	if f.Address != "" {
		if _, _, err := net.SplitHostPort(f.Address); err != nil {
			return cmdutil.Usagef("--address %q is not host:port", f.Address)
		}
	}
	if (f.Cert == "") != (f.Key == "") {
		return cmdutil.Usagef("--cert and --key go together: a client certificate needs its key")
	}
	if f.ConnectTimeout <= 0 {
		return cmdutil.Usagef("--connect-timeout %s: want a positive duration such as 5s", f.ConnectTimeout)
	}
	if err := ValidateTransport(f.Transport); err != nil {
		return err
	}
	if f.Retries < 0 {
		return cmdutil.Usagef("--retries %d: want 0 or more", f.Retries)
	}
	if f.MaxMsgSize < 0 {
		return cmdutil.Usagef("--max-msg-size %d: want a number of bytes", f.MaxMsgSize)
	}
	return nil
}

// DialOptions are the flags as the options of the gRPC transport.
func (f *ConnectionFlags) DialOptions() grpctransport.DialOptions {
	return grpctransport.DialOptions{
		TLS:            f.TLS,
		CACert:         f.CACert,
		Cert:           f.Cert,
		Key:            f.Key,
		Insecure:       f.Insecure,
		Authority:      f.Authority,
		ConnectTimeout: f.ConnectTimeout,
		MaxMsgSize:     f.MaxMsgSize,
	}
}

// DescriptorFlags say where the descriptors of a service come from.
type DescriptorFlags struct {
	Protos      []string
	ImportPaths []string
	Protosets   []string
	Refresh     bool
	NoCache     bool
}

// Bind adds the flags to fs.
func (f *DescriptorFlags) Bind(fs *pflag.FlagSet) {
	f.BindFiles(fs, "describe the service with this .proto file instead of reflection (repeatable)", "describe the service with this compiled FileDescriptorSet (repeatable)")
	fs.BoolVar(&f.Refresh, "refresh", false, "fetch the descriptors through reflection again and rewrite the cache")
	fs.BoolVar(&f.NoCache, "no-cache", false, "neither read nor write the descriptor cache: ask the server through reflection")
}

// BindFiles adds --proto, --import-path and --protoset alone to fs, with
// the usage of --proto and --protoset as the command says them.
func (f *DescriptorFlags) BindFiles(fs *pflag.FlagSet, protoUsage, protosetUsage string) {
	fs.StringArrayVar(&f.Protos, "proto", nil, protoUsage)
	fs.StringArrayVar(&f.ImportPaths, "import-path", nil, "directory to find --proto files and their imports in (repeatable)")
	fs.StringArrayVar(&f.Protosets, "protoset", nil, protosetUsage)
}

// Validate reports flags that cannot work, as usage errors.
func (f *DescriptorFlags) Validate() error {
	if len(f.ImportPaths) > 0 && len(f.Protos) == 0 {
		return cmdutil.Usagef("--import-path needs --proto: it says where the .proto files are")
	}
	if (len(f.Protos) > 0 || len(f.Protosets) > 0) && (f.Refresh || f.NoCache) {
		return cmdutil.Usagef("--refresh and --no-cache are about descriptors fetched through reflection; --proto and --protoset are read as they are")
	}
	if f.Refresh && f.NoCache {
		return cmdutil.Usagef("--refresh rewrites the cache that --no-cache leaves alone: give one of them")
	}
	return nil
}

// HeaderFlags are the metadata of requests: -H for the call and the
// reflection requests that describe it, --rpc-header and --reflect-header
// for one of them only.
type HeaderFlags struct {
	Headers        []string
	RPCHeaders     []string
	ReflectHeaders []string
}

// Bind adds the flags to fs.
func (f *HeaderFlags) Bind(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&f.Headers, "header", "H", nil, "metadata as key:value for the call and the reflection requests (repeatable)")
	fs.StringArrayVar(&f.RPCHeaders, "rpc-header", nil, "metadata as key:value for the call only, not reflection (repeatable)")
	fs.StringArrayVar(&f.ReflectHeaders, "reflect-header", nil, "metadata as key:value for the reflection requests only (repeatable)")
}

// Validate reports headers that cannot be sent, as usage errors.
func (f *HeaderFlags) Validate() error {
	if _, err := f.RPC(); err != nil {
		return err
	}
	_, err := f.Reflection()
	return err
}

// RPC is the metadata of the call: -H and --rpc-header.
func (f *HeaderFlags) RPC() (metadata.MD, error) {
	return parseHeaders(map[string][]string{"-H": f.Headers, "--rpc-header": f.RPCHeaders})
}

// Reflection is the metadata of the reflection requests: -H and
// --reflect-header.
func (f *HeaderFlags) Reflection() (metadata.MD, error) {
	return parseHeaders(map[string][]string{"-H": f.Headers, "--reflect-header": f.ReflectHeaders})
}

// RequestFlags are the request metadata and how responses are written.
type RequestFlags struct {
	HeaderFlags
	EmitDefaults bool
	ProtoNames   bool
	Verbose      bool
}

// Bind adds the flags to fs.
func (f *RequestFlags) Bind(fs *pflag.FlagSet) {
	f.HeaderFlags.Bind(fs)
	fs.BoolVar(&f.EmitDefaults, "emit-defaults", false, "write fields that have their default value (0, \"\", false, [], a proto2 field's declared default)")
	fs.BoolVar(&f.ProtoNames, "proto-names", false, "name fields as in the .proto file (delay_ms) instead of lowerCamelCase (delayMs)")
	fs.BoolVarP(&f.Verbose, "verbose", "v", false, "print the node, the method, headers, trailers and timings to stderr")
}

// Metadata is the metadata of the call (-H and --rpc-header).
func (f *RequestFlags) Metadata() (metadata.MD, error) { return f.RPC() }

// parseHeaders parses key:value flags into metadata; byFlag names the flag
// of each list, for errors.
func parseHeaders(byFlag map[string][]string) (metadata.MD, error) {
	md := metadata.MD{}
	flags := make([]string, 0, len(byFlag))
	for flag := range byFlag {
		flags = append(flags, flag)
	}
	slices.Sort(flags)
	for _, flag := range flags {
		for _, h := range byFlag[flag] {
			if err := addHeader(md, flag, h); err != nil {
				return nil, err
			}
		}
	}
	return md, nil
}

// addHeader parses one key:value of flag into md.
func addHeader(md metadata.MD, flag, h string) error {
	key, value, ok := strings.Cut(h, ":")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return cmdutil.Usagef("%s %q: want key:value", flag, h)
	}
	key = strings.ToLower(key)
	if strings.HasPrefix(key, "grpc-") {
		return cmdutil.Usagef("%s %q: keys starting with grpc- are reserved by gRPC", flag, h)
	}
	value = strings.TrimSpace(value)
	if strings.HasSuffix(key, "-bin") {
		// Given in base64, as they travel; gRPC encodes them again.
		raw, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			if raw, err = base64.RawStdEncoding.DecodeString(value); err != nil {
				return cmdutil.Usagef("%s %q: the value of a -bin key is base64", flag, h)
			}
		}
		md.Append(key, string(raw))
		return nil
	}
	for _, r := range value {
		if r < 0x20 || r > 0x7e {
			return cmdutil.Usagef("%s %q: values are printable ASCII (binary ones go in keys ending in -bin)", flag, h)
		}
	}
	md.Append(key, value)
	return nil
}

// FormatOptions are how responses are written for an -o value: indented by
// default, one line each with -o json.
func (f *RequestFlags) FormatOptions(output string) call.FormatOptions {
	opts := call.FormatOptions{EmitDefaults: f.EmitDefaults, ProtoNames: f.ProtoNames}
	if output != cmdutil.OutputJSON {
		opts.Indent = "  "
	}
	return opts
}

// ValidateEndpoint checks that endpoint has the form of one:
// Service.Method, package.Service.Method or package.Service/Method.
func ValidateEndpoint(endpoint string) error {
	trimmed := strings.TrimPrefix(endpoint, "/")
	cut := strings.LastIndexAny(trimmed, "./")
	if cut <= 0 || cut == len(trimmed)-1 || strings.ContainsAny(trimmed, " \t{") {
		return cmdutil.Usagef("endpoint %q is not Service.Method (Greeter.Hello), package.Service.Method or package.Service/Method", endpoint)
	}
	return nil
}

// plural is "1 node", "2 nodes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
