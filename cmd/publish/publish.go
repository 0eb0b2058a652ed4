// Package publish implements `micro publish TOPIC [JSON]`.
package publish

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nuid"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/cmd/brokerutil"
	"github.com/microtools/micro/cmd/callutil"
	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/codec"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/registry"
)

// Content types publish sets when no -H Content-Type is given.
const (
	contentTypeText   = "text/plain; charset=utf-8"
	contentTypeBinary = "application/octet-stream"
)

// Options are the inputs of `micro publish`.
type Options struct {
	IO       *iostreams.IOStreams
	Config   func() (config.Config, error)
	Broker   func(context.Context, ...config.BrokerOption) (broker.Broker, error)
	Registry func(context.Context) (registry.Registry, error)
	Output   func() string
	// Context bounds one operation (a JetStream acknowledgement, the final
	// flush, a --reflect lookup) by the global --timeout.
	Context func(context.Context) (context.Context, context.CancelFunc)

	Topic string
	// Body is the JSON argument; HasBody tells it from an empty one.
	Body    string
	HasBody bool
	// Data is -d: the body, @file, or @- for stdin.
	Data       string
	HasData    bool
	Headers    []string
	Count      int
	Lines      bool
	NoTemplate bool
	JetStream  bool
	Stream     string
	// Confirm waits for the broker to take each message: a RabbitMQ
	// publisher confirm, a flush on NATS.
	Confirm bool

	Conn  brokerutil.ConnectionFlags
	Types brokerutil.TypeFlags
}

// NewCmdPublish returns `micro publish`. runF replaces the run function in
// tests.
func NewCmdPublish(f *cmdutil.Factory, output func() string, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{
		IO: f.IO, Config: f.Config, Broker: f.Broker, Registry: f.Registry,
		Output: output, Context: f.WithTimeout,
	}
	cmd := &cobra.Command{
		Use:   "publish TOPIC [JSON]",
		Short: "Publish a message to a topic",
		Long: `Publish a message to a topic of the broker (NATS; the embedded server of
'micro server' by default).

The body is the JSON argument, -d (the body, @file, or @- for stdin), or
stdin when neither is given. With --lines each non-empty line of it is a
message of its own. A body that is JSON is sent with Content-Type
application/json; other text as text/plain, other bytes as
application/octet-stream; -H Content-Type:... overrides that.

--count N sends the message N times. The body and -H values are Go
templates: {{.Count}} is the message number from 1, {{.ID}} a unique ID,
{{.Time}} the time (RFC 3339), {{.Unix}} and {{.UnixNano}} the Unix time.
--no-template sends them as they are.

--type pkg.Message reads the JSON as that protobuf message and sends it
encoded as protobuf (Content-Type application/protobuf, Micro-Message-Type
naming the type); the descriptors come from --proto, --protoset or a
running service through --reflect. A body that does not fit the type is
an error and nothing is sent.

--jetstream waits until a JetStream stream has stored each message and
prints the stream and sequence (a summary with --count); a stream named
after the topic is created when none stores it. --stream names the stream:
it must store the topic, or is created for it when it does not exist.

--confirm waits until the broker has taken each message: with --broker
rabbitmq a publisher confirm (a message nobody's queue is bound for is an
error; one whose confirm was lost with the connection is sent again after
the reconnect); with NATS a flush.

Nothing is printed on success otherwise; --count and --lines print a
summary to stderr.`,
		Example: `  micro publish greeter.greeted '{"name":"Ada"}'
  micro publish orders.created -d @order.json -H Trace-Id:abc123
  micro publish orders.created --count 1000 '{"n":{{.Count}},"id":"{{.ID}}"}'
  tail -f events.ndjson | micro publish events --lines
  micro publish greeter.greeted '{"name":"Ada"}' --type greeter.v1.Greeted --proto greeter.proto
  micro publish orders.created --jetstream '{"id":7}'
  micro --broker rabbitmq publish orders.created --confirm '{"id":7}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 2 {
				if fixed, ok := callutil.QuotedJSONFix(strings.Join(args[1:], " ")); ok {
					return cmdutil.Usagef("%s takes a topic and one body, not %d arguments: they look like JSON that the shell split at its spaces and stripped of its quotes; quote the JSON in single quotes: %s",
						cmd.CommandPath(), len(args), callutil.ShellQuote(fixed))
				}
			}
			return cmdutil.RangeArgs(1, 2, "a topic and at most one JSON body")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Topic = args[0]
			if len(args) == 2 {
				opts.Body, opts.HasBody = args[1], true
			}
			opts.HasData = cmd.Flags().Changed("data")
			if err := opts.validate(cmd.Flags().Changed("count")); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Data, "data", "d", "", "the body: text, @file, or @- for stdin")
	fl.StringArrayVarP(&opts.Headers, "header", "H", nil, "a header as key:value (repeatable)")
	fl.IntVarP(&opts.Count, "count", "n", 1, "how many times to send the message; {{.Count}} numbers them")
	fl.BoolVar(&opts.Lines, "lines", false, "send each non-empty line of the body (stdin, -d @file) as a message")
	fl.BoolVar(&opts.NoTemplate, "no-template", false, "send the body and headers as they are, without expanding {{...}}")
	fl.BoolVar(&opts.JetStream, "jetstream", false, "publish through JetStream: wait for the stream to store each message and print stream and sequence")
	fl.StringVar(&opts.Stream, "stream", "", "with --jetstream: the stream to publish to; it must store the topic (created for the topic when missing)")
	fl.BoolVar(&opts.Confirm, "confirm", false, "wait until the broker has taken each message (RabbitMQ publisher confirms; a flush on NATS)")
	opts.Types.Bind(fl, "send the JSON body encoded as this protobuf message type (with --proto, --protoset or --reflect)")
	opts.Conn.Bind(fl)
	return cmd
}

// validate checks what can be checked without I/O, as usage errors.
func (opts *Options) validate(countChanged bool) error {
	if err := broker.ValidateTopic(opts.Topic); err != nil {
		return &cmdutil.UsageError{Err: fmt.Errorf("publish: %w", err)}
	}
	switch {
	case opts.HasBody && opts.HasData:
		return cmdutil.Usagef("give the body once: as an argument or with -d, not both")
	case opts.Count < 1:
		return cmdutil.Usagef("--count %d: want 1 or more", opts.Count)
	case opts.Lines && countChanged:
		return cmdutil.Usagef("--lines sends each line once: it does not go with --count")
	case opts.Lines && opts.HasBody:
		return cmdutil.Usagef("--lines reads the lines from stdin or -d @file, not from the argument")
	case opts.Stream != "" && !opts.JetStream:
		return cmdutil.Usagef("--stream is for --jetstream")
	case opts.Confirm && opts.JetStream:
		return cmdutil.Usagef("--jetstream waits for the stream's acknowledgement already: --confirm does not go with it")
	case opts.Types.HasSource() && opts.Types.Type == "":
		return cmdutil.Usagef("--proto, --protoset and --reflect describe the message of --type: give --type pkg.Message too")
	}
	if err := opts.Types.Validate(true); err != nil {
		return err
	}
	if opts.Stream != "" {
		if _, err := broker.NewPublishOptions(broker.JetStream(), broker.Stream(opts.Stream)); err != nil {
			return &cmdutil.UsageError{Err: fmt.Errorf("--stream: %w", err)}
		}
	}
	_, err := parseHeaders(opts.Headers, !opts.NoTemplate)
	return err
}

// header is one -H value, maybe a template.
type header struct {
	key, value string
	tmpl       *template.Template
}

func parseHeaders(values []string, templates bool) ([]header, error) {
	var out []header
	for _, h := range values {
		key, value, ok := strings.Cut(h, ":")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case !ok || key == "":
			return nil, cmdutil.Usagef("-H %q: want key:value", h)
		case strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f || r == ':' }):
			return nil, cmdutil.Usagef("-H %q: a header key has no spaces, colons or control characters", h)
		case strings.ContainsAny(value, "\r\n"):
			return nil, cmdutil.Usagef("-H %q: a header value is one line", h)
		}
		hd := header{key: key, value: value}
		if templates && strings.Contains(value, "{{") {
			tmpl, err := parseTemplate("-H "+key, value)
			if err != nil {
				return nil, err
			}
			hd.tmpl = tmpl
		}
		out = append(out, hd)
	}
	return out, nil
}

// templateData is what the templates of a message see.
type templateData struct {
	// Count numbers the messages of one run from 1.
	Count int
	// ID is unique to the message.
	ID string
	// Time is when the message was made, RFC 3339 with nanoseconds.
	Time string
	// Unix and UnixNano are the same time in seconds and nanoseconds.
	Unix     int64
	UnixNano int64
}

func parseTemplate(name, text string) (*template.Template, error) {
	tmpl, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, cmdutil.Usagef("%s: not a valid template: %v; use {{.Count}}, {{.ID}}, {{.Time}}, {{.Unix}} or {{.UnixNano}}, or --no-template to send it as it is",
			name, strings.TrimPrefix(err.Error(), "template: "))
	}
	return tmpl, nil
}

// unknownField finds the field name in text/template's error about it;
// compiled on first use, not at start-up.
var unknownField = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`can't evaluate field (\w+)`) })

func execute(tmpl *template.Template, data *templateData) ([]byte, error) {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		what := strings.TrimPrefix(err.Error(), "template: ")
		if m := unknownField().FindStringSubmatch(what); m != nil {
			what = "no field ." + m[1]
		}
		return nil, cmdutil.Usagef("%s: %s; the fields are .Count, .ID, .Time, .Unix and .UnixNano (or --no-template)", tmpl.Name(), what)
	}
	return b.Bytes(), nil
}

// builder makes the messages of one run.
type builder struct {
	topic      string
	headers    []header
	templates  bool
	types      *brokerutil.Types
	msgType    protoreflect.MessageType
	ids        *nuid.NUID
	count      int
	bodyTmpl   *template.Template // for a body used more than once
	bodyTmplOf string
}

// build makes message number n (from 1) of body.
func (b *builder) build(n int, body []byte) (*broker.Message, error) {
	var data *templateData // made once, for the templates that need it
	dataOf := func() *templateData {
		if data == nil {
			now := time.Now()
			data = &templateData{Count: n, ID: b.ids.Next(), Time: now.Format(time.RFC3339Nano), Unix: now.Unix(), UnixNano: now.UnixNano()}
		}
		return data
	}
	if b.templates && bytes.Contains(body, []byte("{{")) {
		tmpl := b.bodyTmpl
		if tmpl == nil || b.bodyTmplOf != string(body) {
			var err error
			if tmpl, err = parseTemplate("the body", string(body)); err != nil {
				return nil, err
			}
			b.bodyTmpl, b.bodyTmplOf = tmpl, string(body)
		}
		var err error
		if body, err = execute(tmpl, dataOf()); err != nil {
			return nil, err
		}
	}
	msg := &broker.Message{Header: broker.Header{}}
	for _, h := range b.headers {
		value := h.value
		if h.tmpl != nil {
			v, err := execute(h.tmpl, dataOf())
			if err != nil {
				return nil, err
			}
			if bytes.ContainsAny(v, "\r\n") {
				return nil, cmdutil.Usagef("-H %s: the template makes a value of more than one line", h.key)
			}
			value = string(v)
		}
		msg.Header.Add(h.key, value)
	}
	if b.msgType != nil {
		encoded, err := b.types.Encode(b.msgType, body)
		if err != nil {
			where := ""
			if b.count > 1 {
				where = fmt.Sprintf(" (message %d)", n)
			}
			return nil, fmt.Errorf("publish to %q: the body%s does not fit --type %s: %w; nothing was sent",
				b.topic, where, b.msgType.Descriptor().FullName(), err)
		}
		body = encoded
		if msg.Header.Get(broker.HeaderContentType) == "" {
			msg.Header.Set(broker.HeaderContentType, codec.ContentTypeProto)
		}
		msg.Header.Set(broker.HeaderMessageType, string(b.msgType.Descriptor().FullName()))
	} else if msg.Header.Get(broker.HeaderContentType) == "" && len(body) > 0 {
		msg.Header.Set(broker.HeaderContentType, contentTypeOf(body))
	}
	if len(msg.Header) == 0 {
		msg.Header = nil
	}
	msg.Body = body
	return msg, nil
}

// contentTypeOf is the Content-Type of a body given without one.
func contentTypeOf(body []byte) string {
	switch {
	case json.Valid(body):
		return codec.ContentTypeJSON
	case utf8.Valid(body):
		return contentTypeText
	default:
		return contentTypeBinary
	}
}

// bodySource gives the bodies of the messages: one body, or lines.
type bodySource struct {
	single []byte
	lines  *bufio.Reader
	close  func() error
}

// next returns the next body, or io.EOF.
func (s *bodySource) next() ([]byte, error) {
	for {
		line, err := s.lines.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			return nil, err
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) > 0 {
			return line, nil
		}
	}
}

// wouldBlock reports whether reading the next line may wait for input.
func (s *bodySource) wouldBlock() bool { return s.lines != nil && s.lines.Buffered() == 0 }

func openBody(opts *Options) (*bodySource, error) {
	var r io.Reader
	name := "stdin"
	closer := func() error { return nil }
	switch {
	case opts.HasBody:
		return &bodySource{single: []byte(opts.Body), close: closer}, nil
	case opts.HasData && opts.Data == "@-":
		r = opts.IO.In
	case opts.HasData && strings.HasPrefix(opts.Data, "@"):
		name = opts.Data[1:]
		f, err := os.Open(name)
		if err != nil {
			return nil, cmdutil.Usagef("-d %s: %v", opts.Data, errors.Unwrap(err))
		}
		r, closer = f, f.Close
	case opts.HasData:
		if opts.Lines {
			r = strings.NewReader(opts.Data)
			break
		}
		return &bodySource{single: []byte(opts.Data), close: closer}, nil
	default:
		if opts.IO.IsStdinTTY() {
			return nil, cmdutil.Usagef("no body: give it as an argument, with -d (text, @file, @-), or on stdin")
		}
		r = opts.IO.In
	}
	if opts.Lines {
		return &bodySource{lines: bufio.NewReaderSize(r, 64*1024), close: closer}, nil
	}
	data, err := io.ReadAll(r)
	_ = closer()
	if err != nil {
		return nil, fmt.Errorf("publish: read the body from %s: %w", name, err)
	}
	return &bodySource{single: data, close: func() error { return nil }}, nil
}

// warnShellMangled warns when a body given on the command line looks like
// JSON whose quotes the shell removed ({name:Ada}): it is sent as the text
// it is, which a subscriber that wants JSON drops. It may be meant as text,
// so it is sent anyway.
func warnShellMangled(opts *Options, msg *broker.Message) {
	fromArgs := opts.HasBody || (opts.HasData && !strings.HasPrefix(opts.Data, "@"))
	if !fromArgs || opts.Lines || opts.Types.Type != "" {
		return
	}
	// A Content-Type given that is neither JSON nor ours says the body is
	// meant as it is.
	contentType := msg.Header.Get(broker.HeaderContentType)
	if contentType != contentTypeText && !strings.Contains(strings.ToLower(contentType), "json") {
		return
	}
	fixed, ok := callutil.QuotedJSONFix(string(msg.Body))
	if !ok {
		return
	}
	fmt.Fprintf(opts.IO.ErrOut, "micro: warning: the body %s is not JSON and is sent as it is (Content-Type %s); it looks like JSON whose double quotes the shell removed: quote the JSON in single quotes: %s\n",
		msg.Body, contentType, callutil.ShellQuote(fixed))
}

// flusher is a broker that can wait until the server has what was
// published (the NATS broker).
type flusher interface {
	Flush(ctx context.Context) error
}

func run(ctx context.Context, opts *Options) error {
	headers, err := parseHeaders(opts.Headers, !opts.NoTemplate)
	if err != nil {
		return err
	}
	b := &builder{topic: opts.Topic, headers: headers, templates: !opts.NoTemplate, ids: nuid.New(), count: opts.Count}
	if opts.Types.Type != "" {
		lookupCtx, cancel := opts.Context(ctx)
		types, err := opts.Types.Load(lookupCtx, opts.Registry)
		if err != nil {
			cancel()
			return err
		}
		defer types.Close()
		mt, err := types.Message(lookupCtx, opts.Types.Type)
		cancel()
		if err != nil {
			return fmt.Errorf("publish --type: %w; nothing was sent", err)
		}
		b.types, b.msgType = types, mt
	}
	src, err := openBody(opts)
	if err != nil {
		return err
	}
	defer src.close()

	// The first message is made before connecting: a body that does not
	// fit, or a template that fails, sends nothing.
	var first []byte
	if opts.Lines {
		if first, err = src.next(); errors.Is(err, io.EOF) {
			fmt.Fprintln(opts.IO.ErrOut, "micro: no lines to publish")
			return nil
		} else if err != nil {
			return fmt.Errorf("publish: read a line: %w", err)
		}
	} else {
		first = src.single
	}
	msg, err := b.build(1, first)
	if err != nil {
		return err
	}
	warnShellMangled(opts, msg)

	connector := &brokerutil.Connector{Config: opts.Config, Broker: opts.Broker, Flags: &opts.Conn, Events: opts.IO.ErrOut}
	br, err := connector.Connect(ctx)
	if err != nil {
		return err
	}
	defer connector.Quiet()
	p := &publisher{opts: opts, broker: br, started: time.Now()}
	if opts.JetStream {
		p.pubOpts = []broker.PublishOption{broker.CreateStream()}
		if opts.Stream != "" {
			p.pubOpts = append(p.pubOpts, broker.Stream(opts.Stream))
		}
	}

	if err := p.publish(ctx, msg); err != nil {
		return err
	}
	for n := 2; ; n++ {
		var body []byte
		if opts.Lines {
			if src.wouldBlock() {
				if err := p.flush(ctx); err != nil {
					return err
				}
			}
			body, err = src.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("publish: read line %d: %w (%d messages were sent)", n, err, p.sent)
			}
		} else {
			if n > opts.Count {
				break
			}
			body = src.single
		}
		msg, err := b.build(n, body)
		if err != nil {
			return fmt.Errorf("%w (%d messages were sent)", err, p.sent)
		}
		if err := p.publish(ctx, msg); err != nil {
			return err
		}
	}
	if err := p.flush(ctx); err != nil {
		return err
	}
	return p.report()
}

// publisher sends the messages of one run and keeps count.
type publisher struct {
	opts    *Options
	broker  broker.Broker
	pubOpts []broker.PublishOption
	started time.Time

	sent       int
	unflushed  bool
	stream     string
	first      uint64
	last       uint64
	duplicates int
}

func (p *publisher) publish(ctx context.Context, msg *broker.Message) error {
	if err := ctx.Err(); err != nil {
		return p.interrupted()
	}
	if !p.opts.JetStream {
		var err error
		if p.opts.Confirm {
			pctx, cancel := p.opts.Context(ctx)
			err = p.broker.Publish(pctx, p.opts.Topic, msg, broker.Confirm())
			cancel()
		} else {
			err = p.broker.Publish(ctx, p.opts.Topic, msg)
		}
		if err != nil {
			return p.failed(ctx, err)
		}
		p.sent++
		p.unflushed = true
		return nil
	}
	var ack broker.PublishAck
	pctx, cancel := p.opts.Context(ctx)
	err := p.broker.Publish(pctx, p.opts.Topic, msg, append(p.pubOpts, broker.AckTo(&ack))...)
	cancel()
	if err != nil {
		return p.failed(ctx, err)
	}
	p.sent++
	if p.sent == 1 {
		p.first = ack.Sequence
	}
	p.stream, p.last = ack.Stream, ack.Sequence
	if ack.Duplicate {
		p.duplicates++
	}
	if p.opts.Count == 1 {
		return p.writeAck(ack)
	}
	return nil
}

func (p *publisher) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return p.interrupted()
	}
	if p.sent > 0 {
		err = fmt.Errorf("%w (%d messages were sent before)", err, p.sent)
	}
	return brokerutil.StreamError(err, p.opts.Topic, p.opts.Stream)
}

func (p *publisher) interrupted() error {
	return fmt.Errorf("publish to %q: interrupted after %d messages", p.opts.Topic, p.sent)
}

// flush waits until the server has every message sent so far.
func (p *publisher) flush(ctx context.Context) error {
	f, ok := p.broker.(flusher)
	if !ok || !p.unflushed {
		return nil
	}
	fctx, cancel := p.opts.Context(ctx)
	defer cancel()
	if err := f.Flush(fctx); err != nil {
		if ctx.Err() != nil {
			return p.interrupted()
		}
		return brokerutil.ConnectError(fmt.Errorf("publish to %q: %w (%d messages may not have arrived)", p.opts.Topic, err, p.sent))
	}
	p.unflushed = false
	return nil
}

// jsonAck is the -o json form of one stored message.
type jsonAck struct {
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"sequence"`
	Duplicate bool   `json:"duplicate"`
}

// jsonSummary is the -o json form of the messages of --count stored.
type jsonSummary struct {
	Stream        string `json:"stream"`
	FirstSequence uint64 `json:"first_sequence"`
	LastSequence  uint64 `json:"last_sequence"`
	Messages      int    `json:"messages"`
	Duplicates    int    `json:"duplicates"`
}

func (p *publisher) writeAck(ack broker.PublishAck) error {
	if p.opts.Output() == cmdutil.OutputJSON {
		return cmdutil.WriteJSONLine(p.opts.IO.Out, jsonAck{Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate})
	}
	dup := ""
	if ack.Duplicate {
		dup = " duplicate"
	}
	_, err := fmt.Fprintf(p.opts.IO.Out, "stream %s sequence %d%s\n", ack.Stream, ack.Sequence, dup)
	return err
}

// report writes the summary of a run of more than one message: the
// stream's (stdout) with --jetstream and --count, and the rate (stderr).
func (p *publisher) report() error {
	if p.sent <= 1 && p.opts.Count <= 1 {
		return nil
	}
	took := time.Since(p.started)
	rate := float64(p.sent) / took.Seconds()
	fmt.Fprintf(p.opts.IO.ErrOut, "published %d messages to %s in %s (%.0f msg/s)\n", p.sent, p.opts.Topic, roundDuration(took), rate)
	if !p.opts.JetStream || p.opts.Count == 1 {
		return nil
	}
	if p.opts.Output() == cmdutil.OutputJSON {
		return cmdutil.WriteJSONLine(p.opts.IO.Out, jsonSummary{
			Stream: p.stream, FirstSequence: p.first, LastSequence: p.last, Messages: p.sent, Duplicates: p.duplicates,
		})
	}
	dups := ""
	if p.duplicates > 0 {
		dups = fmt.Sprintf(", %d duplicates", p.duplicates)
	}
	_, err := fmt.Fprintf(p.opts.IO.Out, "stream %s sequences %d-%d: %d messages%s\n", p.stream, p.first, p.last, p.sent, dups)
	return err
}

// roundDuration keeps three significant digits or so: 1.23s, 45.6ms.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
