package callutil

import (
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/registry"
)

// Printer writes what a call does: each response to stdout as it comes,
// and with -v the node, the method, headers, trailers and timings to
// stderr, the way curl -v does.
type Printer struct {
	out, errOut io.Writer
	format      call.Formatter
	verbose     bool

	start      time.Time
	selecting  time.Time // when the current attempt started
	selectTime time.Duration
	connect    time.Duration
	ahead      time.Duration // dial of a connection opened ahead, told before connect
	resolve    time.Duration
	resolved   time.Time
	responses  int
}

// NewPrinter returns a Printer that writes responses to out with format and,
// when verbose, the rest to errOut.
func NewPrinter(out, errOut io.Writer, format call.Formatter, verbose bool) *Printer {
	now := time.Now()
	return &Printer{out: out, errOut: errOut, format: format, verbose: verbose, start: now, selecting: now}
}

// Handler is the call's event handler.
func (p *Printer) Handler() call.EventHandler {
	h := call.HandlerFuncs{Response: p.response}
	if p.verbose {
		h.SendHeaders = func(md metadata.MD) { p.metadata("request headers", ">", md) }
		h.ReceiveHeaders = func(md metadata.MD) { p.metadata("response headers", "<", md) }
		h.Trailers = func(st *status.Status, md metadata.MD) {
			p.metadata("response trailers", "<", md)
			if st.Message() == "" {
				p.logf("status %s", st.Code())
			} else {
				p.logf("status %s: %s", st.Code(), st.Message())
			}
		}
	}
	return h
}

func (p *Printer) response(msg proto.Message) error {
	data, err := p.format(msg)
	if err != nil {
		return err
	}
	p.responses++
	data = append(data, '\n')
	if _, err := p.out.Write(data); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	return nil
}

// Trace is the call's trace: it prints the steps with -v, and times them.
func (p *Printer) Trace() *call.ClientTrace {
	return &call.ClientTrace{
		NodeSelected: func(node *registry.Node, version string) {
			p.selectTime = time.Since(p.selecting)
			if !p.verbose {
				return
			}
			v := ""
			if version != "" {
				v = ", version " + version
			}
			p.logf("node %s at %s%s (selected in %s)", node.ID, node.Address, v, ms(p.selectTime))
		},
		ConnectedAhead: func(address string, dial time.Duration) { p.ahead = dial },
		Connected: func(address string, took time.Duration, reused bool, err error) {
			p.connect = took
			ahead := p.ahead
			p.ahead = 0
			switch {
			case !p.verbose:
			case err != nil:
				p.logf("cannot connect to %s (%s): %v", address, ms(took), err)
			case reused:
				p.logf("connected to %s (connection reused)", address)
			case ahead > 0:
				p.logf("connected to %s in %s while the registry was read (the call waited %s for it)", address, ms(ahead), ms(took))
			default:
				p.logf("connected to %s in %s", address, ms(took))
			}
		},
		MethodResolved: func(method protoreflect.MethodDescriptor, from string, took time.Duration, err error) {
			p.resolve, p.resolved = took, time.Now()
			switch {
			case !p.verbose:
			case err != nil:
				p.logf("cannot resolve the method (%s): %v", ms(took), err)
			default:
				p.logf("method %s (%s) from %s in %s", call.FullMethodName(method), MethodKind(method), from, ms(took))
			}
		},
		Retrying: func(node *registry.Node, err error) {
			p.selecting = time.Now()
			if p.verbose {
				p.logf("node %s at %s failed; trying another: %v", node.ID, node.Address, err)
			}
		},
	}
}

// Finish prints the timings with -v.
func (p *Printer) Finish() {
	if !p.verbose {
		return
	}
	total := time.Since(p.start)
	callTime := time.Duration(0)
	if !p.resolved.IsZero() {
		callTime = time.Since(p.resolved)
	}
	p.logf("time: select %s, connect %s, resolve %s, call %s, total %s (%s)",
		ms(p.selectTime), ms(p.connect), ms(p.resolve), ms(callTime), ms(total), plural(p.responses, "response"))
}

func (p *Printer) logf(format string, args ...any) {
	fmt.Fprintf(p.errOut, "* "+format+"\n", args...)
}

// metadata prints md sorted by key, binary values in base64.
func (p *Printer) metadata(title, mark string, md metadata.MD) {
	if len(md) == 0 {
		p.logf("%s: none", title)
		return
	}
	p.logf("%s:", title)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range md[k] {
			if strings.HasSuffix(k, "-bin") {
				v = base64.StdEncoding.EncodeToString([]byte(v))
			}
			fmt.Fprintf(p.errOut, "%s %s: %s\n", mark, k, v)
		}
	}
}

// MethodKind names how a method streams: unary, server streaming, client
// streaming or bidi streaming.
func MethodKind(md protoreflect.MethodDescriptor) string {
	switch {
	case md.IsStreamingClient() && md.IsStreamingServer():
		return "bidi streaming"
	case md.IsStreamingClient():
		return "client streaming"
	case md.IsStreamingServer():
		return "server streaming"
	}
	return "unary"
}

// ms prints a duration in milliseconds with two decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
}
