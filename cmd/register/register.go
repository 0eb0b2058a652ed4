// Package register implements `micro register service`, which records a
// service that was not built with micro (a database, a legacy server) so that
// other commands find it by name.
package register

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/registry"
)

// Options are the inputs of `micro register service`.
type Options struct {
	IO       *iostreams.IOStreams
	Registry func(context.Context) (registry.Registry, error)
	Output   func() string
	Context  func(context.Context) (context.Context, context.CancelFunc)

	Record   string // a JSON service record, instead of the flags below
	Name     string
	ID       string
	Address  string
	Version  string
	Metadata []string
	TTL      time.Duration
}

// NewCmdRegister returns `micro register`. runF replaces the run function in tests.
func NewCmdRegister(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "register <command>",
		Short: "Register a service that was not built with micro",
		Args:  cmdutil.NoArgs,
	}
	opts := &Options{IO: f.IO, Registry: f.Registry, Output: f.Output, Context: f.WithTimeout}
	service := &cobra.Command{
		Use:   "service [JSON]",
		Short: "Register one node of a service",
		Long: `Register one node of a service by flags, or a whole service record given
as a JSON argument (the shape 'micro get service -o json' prints for one
version: name, version, metadata, endpoints, nodes with id, address and
metadata).

Without --ttl the record stays until 'micro deregister service' removes it.
With --ttl it expires unless registered again within that time.`,
		Example: `  micro register service --name postgres --address 127.0.0.1:5432 --version 16
  micro register service --name legacy --address 127.0.0.1:9000 --metadata team=core --metadata zone=a --ttl 1m
  micro register service '{"name":"legacy","nodes":[{"id":"legacy-1","address":"127.0.0.1:9000"}]}'`,
		Args: cmdutil.RangeArgs(0, 1, "flags or one JSON service record"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Record = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	fl := service.Flags()
	fl.StringVar(&opts.Name, "name", "", "service name")
	fl.StringVar(&opts.ID, "id", "", "node ID (default: NAME-<random>)")
	fl.StringVar(&opts.Address, "address", "", "node address, host:port")
	fl.StringVar(&opts.Version, "version", "", "service version")
	fl.StringArrayVar(&opts.Metadata, "metadata", nil, "node metadata as key=value (repeatable)")
	fl.DurationVar(&opts.TTL, "ttl", 0, "expire unless registered again within this time (default: never expire)")
	cmd.AddCommand(service)
	return cmd
}

// Service builds the record to register from opts and validates it.
func Service(opts *Options) (*registry.Service, error) {
	if opts.Record != "" {
		if opts.Name != "" || opts.Address != "" || opts.ID != "" || opts.Version != "" || len(opts.Metadata) > 0 {
			return nil, cmdutil.Usagef("give either a JSON record or --name/--address flags, not both")
		}
		return decodeRecord(opts.Record)
	}
	if opts.Name == "" || opts.Address == "" {
		return nil, cmdutil.Usagef("--name and --address are required (or give a JSON service record)")
	}
	if err := checkAddress(opts.Address); err != nil {
		return nil, cmdutil.Usagef("--address %q: %v", opts.Address, err)
	}
	md, err := ParseMetadata(opts.Metadata)
	if err != nil {
		return nil, err
	}
	id := opts.ID
	if id == "" {
		id = opts.Name + "-" + randomSuffix()
	}
	svc := &registry.Service{
		Name:    opts.Name,
		Version: opts.Version,
		Nodes:   []*registry.Node{{ID: id, Address: opts.Address, Metadata: md}},
	}
	if err := checkText(svc); err != nil {
		return nil, err
	}
	return svc, nil
}

// checkText refuses what other commands would have to escape: a service
// name or node ID with spaces, and control characters anywhere.
func checkText(svc *registry.Service) error {
	plain := func(what, s string) error {
		if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
			return cmdutil.Usagef("%s %q has white space in it: names are one word, such as greeter or go.micro.srv.greeter", what, s)
		}
		return printable(what, s)
	}
	if err := plain("service name", svc.Name); err != nil {
		return err
	}
	if err := printable("version", svc.Version); err != nil {
		return err
	}
	if err := printableMap("service metadata", svc.Metadata); err != nil {
		return err
	}
	for _, ep := range svc.Endpoints {
		if ep == nil {
			continue
		}
		if err := printable("endpoint", ep.Name); err != nil {
			return err
		}
		if err := printableMap("endpoint "+iostreams.Escape(ep.Name)+" metadata", ep.Metadata); err != nil {
			return err
		}
	}
	for _, node := range svc.Nodes {
		if node == nil {
			continue
		}
		if err := plain("node ID", node.ID); err != nil {
			return err
		}
		if err := printable("node address", node.Address); err != nil {
			return err
		}
		if err := printableMap("node "+iostreams.Escape(node.ID)+" metadata", node.Metadata); err != nil {
			return err
		}
	}
	return nil
}

// printable refuses control characters, which would reach the terminals
// of whoever lists the registry.
func printable(what, s string) error {
	if strings.ContainsFunc(s, func(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }) || !utf8.ValidString(s) {
		return cmdutil.Usagef("%s %q has control characters or bytes that are not UTF-8 in it", what, s)
	}
	return nil
}

func printableMap(what string, md map[string]string) error {
	for k, v := range md {
		if err := printable(what+" key", k); err != nil {
			return err
		}
		if err := printable(what+" "+iostreams.Escape(k), v); err != nil {
			return err
		}
	}
	return nil
}

func run(ctx context.Context, opts *Options) error {
	if opts.TTL < 0 {
		return cmdutil.Usagef("--ttl must not be negative")
	}
	svc, err := Service(opts)
	if err != nil {
		return err
	}
	ctx, cancel := opts.Context(ctx)
	defer cancel()
	reg, err := opts.Registry(ctx)
	if err != nil {
		return err
	}
	regOpt := registry.NoExpiry()
	if opts.TTL > 0 {
		regOpt = registry.WithTTL(opts.TTL)
	}
	if err := reg.Register(ctx, svc, regOpt); err != nil {
		return err
	}
	if opts.Output() == cmdutil.OutputJSON {
		return cmdutil.WriteJSON(opts.IO.Out, svc)
	}
	for _, node := range svc.Nodes {
		fmt.Fprintf(opts.IO.Out, "%s\t%s\t%s\n", iostreams.Escape(svc.Name), iostreams.Escape(node.ID), iostreams.Escape(node.Address))
	}
	return nil
}

func decodeRecord(text string) (*registry.Service, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	var svc registry.Service
	if err := dec.Decode(&svc); err != nil {
		return nil, cmdutil.Usagef("the service record is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, cmdutil.Usagef("the service record has data after the JSON object")
	}
	if err := registry.Validate(&svc); err != nil {
		return nil, &cmdutil.UsageError{Err: err}
	}
	if err := checkText(&svc); err != nil {
		return nil, err
	}
	for _, node := range svc.Nodes {
		if err := checkAddress(node.Address); err != nil {
			return nil, cmdutil.Usagef("node %q address %q: %v", node.ID, node.Address, err)
		}
	}
	return &svc, nil
}

// ParseMetadata turns key=value strings into a map.
func ParseMetadata(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	md := make(map[string]string, len(pairs))
	for _, pair := range pairs {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, cmdutil.Usagef("--metadata %q: want key=value", pair)
		}
		md[strings.TrimSpace(k)] = v
	}
	return md, nil
}

func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port")
	}
	if host == "" {
		return fmt.Errorf("the host is missing")
	}
	if p, err := net.LookupPort("tcp", port); err != nil || p == 0 {
		return fmt.Errorf("port %q is not a port number", port)
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
