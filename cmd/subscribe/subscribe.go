// Package subscribe implements `micro subscribe TOPIC...`.
package subscribe

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/brokerutil"
	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/codec"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/registry"
)

// drainTimeout bounds how long the subscriptions take, once the command is
// done, to handle what they received and acknowledge it.
const drainTimeout = 5 * time.Second

// Options are the inputs of `micro subscribe`.
type Options struct {
	IO       *iostreams.IOStreams
	Config   func() (config.Config, error)
	Broker   func(context.Context, ...config.BrokerOption) (broker.Broker, error)
	Registry func(context.Context) (registry.Registry, error)
	Output   func() string
	// Context bounds one operation (a subscribe, a --reflect lookup) by the
	// global --timeout.
	Context func(context.Context) (context.Context, context.CancelFunc)

	Topics  []string
	Queue   string
	Durable string
	Stream  string
	Count   int
	Timeout time.Duration

	Conn  brokerutil.ConnectionFlags
	Types brokerutil.TypeFlags

	// Ready, when set, is called once every subscription is in place.
	Ready func()
}

// NewCmdSubscribe returns `micro subscribe`. runF replaces the run function
// in tests.
func NewCmdSubscribe(f *cmdutil.Factory, output func() string, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{
		IO: f.IO, Config: f.Config, Broker: f.Broker, Registry: f.Registry,
		Output: output, Context: f.WithTimeout,
	}
	cmd := &cobra.Command{
		Use:   "subscribe TOPIC...",
		Short: "Print the messages published to topics",
		Long: `Print the messages published to one or more topics, one line each, until
interrupted (exit 0), until --count messages arrived (exit 0), or until
--timeout has passed: exit 0, or 1 when --count messages had not arrived.

A topic may hold wildcards: "*" matches one token, ">" one or more at the
end ("orders.*", "orders.>", ">").

Each line has the message number, the topic, the headers as key=value and
the body. With -o json each message is one JSON object (NDJSON):
{"topic", "headers", "body", "encoding", "received"}, where the body is the
JSON itself when it is JSON, the protobuf message as JSON when its type is
known (encoding "protobuf"), and base64 otherwise (encoding "base64").

A protobuf body's type is the one its Micro-Message-Type header names, or
--type; the descriptors come from --proto, --protoset or --reflect.

--queue shares the messages with the other subscribers of the same group:
each message goes to one of them. --durable subscribes through JetStream
with a durable consumer: messages published while the subscriber is away
wait for it, and it resumes where it stopped (a stream is created for the
topic when none stores it). The durable may be a pull consumer, which micro
makes, or a push consumer made by another tool (nats consumer add): micro
consumes it on its deliver subject, in its deliver group. Either way it must
follow the topic given. --stream names the stream; it must store the topic
(one of its subjects matches it), or it is created for the topic when it
does not exist. With --broker rabbitmq, --queue NAME shares
the auto-delete queue NAME:TOPIC and --durable NAME the durable queue
NAME:TOPIC, which keeps the messages while no subscriber is there.

Lost connections are reported on stderr, and the subscription resumes
when the broker is back.`,
		Example: `  micro subscribe greeter.greeted
  micro subscribe 'orders.>' -o json | jq .body
  micro subscribe orders.created --queue workers
  micro subscribe orders.created --durable billing --count 10
  micro --broker rabbitmq subscribe orders.created --durable billing
  micro subscribe greeter.greeted --type greeter.v1.Greeted --proto greeter.proto -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmdutil.Usagef("%s needs at least one topic", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Topics = args
			if err := opts.validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Queue, "queue", "q", "", "share the messages with the other subscribers of this queue group")
	fl.StringVar(&opts.Durable, "durable", "", "subscribe through the durable JetStream consumer (or RabbitMQ durable queue) of this name: resume where it stopped")
	fl.StringVar(&opts.Stream, "stream", "", "with --durable: the stream to consume from; it must store the topic (created for the topic when missing)")
	fl.IntVarP(&opts.Count, "count", "n", 0, "exit after this many messages (0: until interrupted)")
	// --timeout shadows the global flag: here it bounds the subscription.
	fl.DurationVar(&opts.Timeout, "timeout", 0, "stop after this long; with --count, fewer messages by then is an error (0: no limit)")
	opts.Types.Bind(fl, "decode protobuf bodies without a Micro-Message-Type header as this message type")
	opts.Conn.Bind(fl)
	return cmd
}

func (opts *Options) validate() error {
	for _, topic := range opts.Topics {
		if err := broker.ValidatePattern(topic); err != nil {
			return &cmdutil.UsageError{Err: fmt.Errorf("subscribe: %w", err)}
		}
	}
	switch {
	case opts.Count < 0:
		return cmdutil.Usagef("--count %d: want 0 (no limit) or more", opts.Count)
	case opts.Timeout < 0:
		return cmdutil.Usagef("--timeout %s: want a positive duration, or 0 for no limit", opts.Timeout)
	case opts.Durable != "" && opts.Queue != "":
		return cmdutil.Usagef("--durable subscribers of the same name already share the messages: --queue does not go with it")
	case opts.Durable != "" && len(opts.Topics) > 1:
		return cmdutil.Usagef("--durable follows one topic (it may hold wildcards), not %d", len(opts.Topics))
	case opts.Stream != "" && opts.Durable == "":
		return cmdutil.Usagef("--stream is for --durable")
	case opts.Types.Type != "" && !opts.Types.HasSource():
		return cmdutil.Usagef("--type %s needs the message's descriptors: --proto FILE, --protoset FILE or --reflect SERVICE", opts.Types.Type)
	}
	var subOpts []broker.SubscribeOption
	if opts.Queue != "" {
		subOpts = append(subOpts, broker.Queue(opts.Queue))
	}
	if opts.Durable != "" {
		subOpts = append(subOpts, broker.Durable(opts.Durable))
	}
	if opts.Stream != "" {
		subOpts = append(subOpts, broker.Stream(opts.Stream))
	}
	if _, err := broker.NewSubscribeOptions(subOpts...); err != nil {
		return &cmdutil.UsageError{Err: err}
	}
	return opts.Types.Validate(false)
}

func run(ctx context.Context, opts *Options) error {
	p := &printer{
		out:    opts.IO.Out,
		json:   opts.Output() == cmdutil.OutputJSON,
		count:  opts.Count,
		done:   make(chan struct{}),
		failed: make(chan error, 1),
	}
	if opts.Types.HasSource() {
		lookupCtx, cancel := opts.Context(ctx)
		types, err := opts.Types.Load(lookupCtx, opts.Registry)
		if err == nil && opts.Types.Type != "" {
			// An unknown --type is found out now, not at the first message.
			_, err = types.Message(lookupCtx, opts.Types.Type)
			if err != nil {
				_ = types.Close()
				err = fmt.Errorf("subscribe --type: %w", err)
			}
		}
		cancel()
		if err != nil {
			return err
		}
		defer types.Close()
		p.types, p.typeName = types, opts.Types.Type
	}

	connector := &brokerutil.Connector{Config: opts.Config, Broker: opts.Broker, Flags: &opts.Conn, Events: opts.IO.ErrOut}
	br, err := connector.Connect(ctx)
	if err != nil {
		return err
	}
	defer connector.Quiet()
	var subOpts []broker.SubscribeOption
	switch {
	case opts.Queue != "":
		subOpts = append(subOpts, broker.Queue(opts.Queue))
	case opts.Durable != "":
		subOpts = append(subOpts, broker.Durable(opts.Durable), broker.CreateStream())
		if opts.Stream != "" {
			subOpts = append(subOpts, broker.Stream(opts.Stream))
		}
	}
	var subs []broker.Subscription
	defer func() {
		// Handle what was received, and acknowledge it, before the
		// connection closes.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
		defer cancel()
		for _, s := range subs {
			_ = s.Drain(dctx)
		}
	}()
	for _, topic := range opts.Topics {
		sctx, cancel := opts.Context(ctx)
		s, err := br.Subscribe(sctx, topic, broker.HandlerFunc(p.handle), subOpts...)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return brokerutil.StreamError(err, topic, opts.Stream)
		}
		subs = append(subs, s)
	}
	how := ""
	switch {
	case opts.Queue != "":
		how = " in queue group " + opts.Queue
	case opts.Durable != "":
		how = " as durable " + opts.Durable
	}
	fmt.Fprintf(opts.IO.ErrOut, "micro: subscribed to %s%s on %s; Ctrl-C to stop\n", strings.Join(opts.Topics, ", "), how, br)
	if opts.Ready != nil {
		opts.Ready()
	}

	var timeout <-chan time.Time
	if opts.Timeout > 0 {
		timer := time.NewTimer(opts.Timeout)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-ctx.Done():
		return nil // interrupted: the normal end of a subscription
	case <-p.done:
		return nil
	case err := <-p.failed:
		return err
	case <-timeout:
		if seen := p.received(); opts.Count > 0 && seen < opts.Count {
			return fmt.Errorf("subscribe: %d of %d messages arrived on %s within %s", seen, opts.Count, strings.Join(opts.Topics, ", "), opts.Timeout)
		}
		return nil
	}
}

// errEnough is what the handler returns for a message beyond --count: a
// durable subscription delivers it again, to the next subscriber.
var errEnough = errors.New("subscribe: --count messages were printed already")

// printer writes the messages of every subscription, one at a time.
type printer struct {
	out      io.Writer
	json     bool
	types    *brokerutil.Types
	typeName string
	count    int

	mu     sync.Mutex
	seen   int
	done   chan struct{}
	failed chan error
}

func (p *printer) received() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

func (p *printer) handle(ctx context.Context, msg *broker.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.count > 0 && p.seen >= p.count {
		return errEnough
	}
	body := render(ctx, p.types, p.typeName, msg)
	var err error
	if p.json {
		err = cmdutil.WriteJSONLine(p.out, jsonMessage{
			Topic:    msg.Topic,
			Headers:  headersOf(msg.Header),
			Body:     body.json(),
			Encoding: body.encoding,
			Type:     body.typ,
			Received: msg.ReceivedAt.UTC().Format(time.RFC3339Nano),
			Stream:   msg.Stream,
			Sequence: msg.Sequence,
		})
	} else {
		err = writeText(p.out, p.seen+1, msg, body)
	}
	if err != nil {
		select {
		case p.failed <- fmt.Errorf("subscribe: write the message: %w", err):
		default:
		}
		return err
	}
	p.seen++
	if p.count > 0 && p.seen == p.count {
		close(p.done)
	}
	return nil
}

// Encodings of the body in -o json.
const (
	encodingJSON     = "json"
	encodingProtobuf = "protobuf"
	encodingBase64   = "base64"
)

// jsonMessage is one line of -o json.
type jsonMessage struct {
	Topic    string              `json:"topic"`
	Headers  map[string][]string `json:"headers"`
	Body     json.RawMessage     `json:"body"`
	Encoding string              `json:"encoding"`
	Type     string              `json:"type,omitempty"`
	Received string              `json:"received"`
	Stream   string              `json:"stream,omitempty"`
	Sequence uint64              `json:"sequence,omitempty"`
}

func headersOf(h broker.Header) map[string][]string {
	if h == nil {
		return map[string][]string{}
	}
	return h
}

// body is a message body made fit to print.
type body struct {
	encoding string
	data     []byte // compact JSON, or the raw body for base64
	typ      string // the protobuf type it was decoded as
	textual  bool   // base64: the raw body is text a terminal can show
}

func (b body) json() json.RawMessage {
	if b.encoding == encodingBase64 {
		quoted, _ := json.Marshal(base64.StdEncoding.EncodeToString(b.data))
		return quoted
	}
	return b.data
}

// render decides how a body is shown: JSON as it is, protobuf of a known
// type decoded to JSON, anything else as base64 (or as text on a line).
func render(ctx context.Context, types *brokerutil.Types, typeFlag string, msg *broker.Message) body {
	mediaType := ""
	if ct := msg.ContentType(); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			mediaType = mt
		} else {
			mediaType = strings.ToLower(strings.TrimSpace(ct))
		}
	}
	isJSON := mediaType == codec.ContentTypeJSON || strings.HasSuffix(mediaType, "+json")
	if (isJSON || mediaType == "") && len(msg.Body) > 0 && json.Valid(msg.Body) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, msg.Body); err == nil {
			return body{encoding: encodingJSON, data: compact.Bytes()}
		}
	}
	isProto := false
	if c, ok := codec.Default().ByContentType(mediaType); ok && c.Name() == "proto" {
		isProto = true
	}
	if types != nil && (isProto || mediaType == "" || mediaType == codec.ContentTypeRaw) {
		name := msg.Header.Get(broker.HeaderMessageType)
		if name == "" {
			name = typeFlag
		}
		if name != "" {
			if mt, err := types.Message(ctx, name); err == nil {
				if data, err := types.Decode(mt, msg.Body); err == nil {
					return body{encoding: encodingProtobuf, data: data, typ: string(mt.Descriptor().FullName())}
				}
			}
		}
	}
	textual := utf8.Valid(msg.Body) && !isProto && (mediaType == "" || strings.HasPrefix(mediaType, "text/") || isJSON)
	return body{encoding: encodingBase64, data: msg.Body, textual: textual}
}

// writeText writes one line: "[#1] topic Key=Value {"name":"Ada"}".
func writeText(w io.Writer, n int, msg *broker.Message, b body) error {
	var line strings.Builder
	fmt.Fprintf(&line, "[#%d] %s", n, msg.Topic)
	for _, key := range slices.Sorted(maps.Keys(msg.Header)) {
		for _, value := range msg.Header[key] {
			line.WriteString(" " + iostreams.Escape(key) + "=" + iostreams.Escape(value))
		}
	}
	line.WriteByte(' ')
	switch {
	case b.encoding != encodingBase64:
		line.Write(b.data)
	case len(b.data) == 0:
		line.WriteString(`""`)
	case b.textual && printable(b.data):
		line.Write(b.data)
	case b.textual:
		line.WriteString(strconv.Quote(string(b.data)))
	default:
		line.WriteString("base64:" + base64.StdEncoding.EncodeToString(b.data))
	}
	line.WriteByte('\n')
	_, err := io.WriteString(w, line.String())
	return err
}

// printable reports whether text fits on one line as it is.
func printable(text []byte) bool {
	return !bytes.ContainsFunc(text, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' })
}
