// Package watch implements `micro watch [SERVICE]`.
package watch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/registry"
)

// Options are the inputs of `micro watch`.
type Options struct {
	IO       *iostreams.IOStreams
	Registry func(context.Context) (registry.Registry, error)
	Output   func() string
	Context  func(context.Context) (context.Context, context.CancelFunc)

	Service string
	Count   int
}

// NewCmdWatch returns `micro watch`. runF replaces the run function in tests.
func NewCmdWatch(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Registry: f.Registry, Output: f.Output, Context: f.WithTimeout}
	cmd := &cobra.Command{
		Use:   "watch [SERVICE]",
		Short: "Print registry events as they happen",
		Long: `Print one line per registry event — a node created, updated or
deleted — until interrupted, or until --count events were seen.

Each line has the time, the event type, the service, its version, the node
ID and its address. With -o json each event is one JSON object per line.`,
		Example: `  micro watch
  micro watch greeter
  micro watch greeter --count 1 -o json`,
		Args:              cmdutil.RangeArgs(0, 1, "at most one service name"),
		ValidArgsFunction: cmdutil.CompleteServiceNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Service = args[0]
			}
			if opts.Count < 0 {
				return cmdutil.Usagef("--count must not be negative")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Count, "count", "n", 0, "exit after this many events (0: until interrupted)")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	connectCtx, cancel := opts.Context(ctx)
	reg, err := opts.Registry(connectCtx)
	cancel()
	if err != nil {
		return err
	}
	var watchOpts []registry.WatchOption
	if opts.Service != "" {
		watchOpts = append(watchOpts, registry.WatchService(opts.Service))
	}
	watcher, err := reg.Watch(ctx, watchOpts...)
	if err != nil {
		return err
	}
	defer watcher.Stop()

	for seen := 0; opts.Count == 0 || seen < opts.Count; seen++ {
		event, err := watcher.Next()
		if errors.Is(err, context.Canceled) || errors.Is(err, registry.ErrWatcherStopped) {
			return nil // interrupted: a normal end of a watch
		}
		if err != nil {
			return err
		}
		if err := writeEvent(opts, event); err != nil {
			return err
		}
	}
	return nil
}

func writeEvent(opts *Options, event *registry.Event) error {
	if opts.Output() == cmdutil.OutputJSON {
		return cmdutil.WriteJSONLine(opts.IO.Out, event)
	}
	svc := event.Service
	for _, node := range svc.Nodes {
		version := svc.Version
		if version == "" {
			version = "-"
		}
		_, err := fmt.Fprintf(opts.IO.Out, "%s\t%s\t%s\t%s\t%s\t%s\n",
			event.Timestamp.UTC().Format(time.RFC3339), event.Type,
			text(svc.Name), text(version), text(node.ID), text(node.Address))
		if err != nil {
			return err
		}
	}
	return nil
}

// text is a field of a text line: registry data, escaped so that it can
// neither drive the terminal nor break the line into fields.
func text(field string) string {
	return iostreams.Escape(strings.NewReplacer("\t", " ", "\n", " ").Replace(field))
}
