package call

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// RequestSupplier gives the requests of a call one at a time: each call
// returns the next request, as a message of type input (or of any type with
// the same wire form, such as generated code's), and io.EOF after the last.
// Any other error ends the call with that error.
//
// Invoke calls a supplier from one goroutine at a time, but for a
// bidirectional stream not the caller's: see Invoke.
type RequestSupplier func(input protoreflect.MessageType) (proto.Message, error)

// NewJSONSupplier returns a supplier that reads JSON values from r: one
// value, several separated by newlines (NDJSON) or simply concatenated. A
// message is a JSON object, but for the well-known types, which take their
// own JSON forms ("a" for a StringValue, "2s" for a Duration, [1,"x"] for a
// ListValue, any value for a Value; see TakesJSONObject). A
// value is parsed as soon as it is complete, so a bidirectional stream can be
// fed line by line from a terminal. Messages are parsed as ParseJSON does.
// Errors name the position of the value ("request 3: ..."). A value that
// names a field the type lacks (ErrUnknownField) is read again, once, by the
// next call, which may give a newer type: a caller that refreshed stale
// descriptors reads the same request with them. An empty r gives
// no requests; Invoke sends one empty request to a method that needs one.
func NewJSONSupplier(r io.Reader, resolver Resolver) RequestSupplier {
	s := &jsonSupplier{values: valueReader{in: bufio.NewReaderSize(r, 512)}, resolver: resolver}
	return s.next
}

type jsonSupplier struct {
	values   valueReader
	resolver Resolver
	count    int
	done     error // once set, every call returns it
	// again is a value that named an unknown field, to read again on the
	// next call (once: retried).
	again   []byte
	retried bool

	// Whether the input type has required fields to check, worked out
	// once per type.
	checkedType   protoreflect.MessageDescriptor
	checkRequired bool
}

func (s *jsonSupplier) next(input protoreflect.MessageType) (proto.Message, error) {
	if s.done != nil {
		return nil, s.done
	}
	value := s.again
	if value != nil {
		// The value that named an unknown field, read again with the
		// type given now (descriptors fetched afresh).
		s.again = nil
	} else {
		var err error
		value, err = s.values.next()
		if errors.Is(err, io.EOF) {
			s.done = io.EOF
			return nil, io.EOF
		}
		s.count++
		if err != nil {
			s.done = fmt.Errorf("request %d: %w", s.count, err)
			return nil, s.done
		}
	}
	desc := input.Descriptor()
	if value[0] != '{' && TakesJSONObject(desc) {
		s.done = fmt.Errorf("request %d: want a JSON object for %s, got %s", s.count, desc.FullName(), abbreviate(value))
		return nil, s.done
	}
	if desc != s.checkedType {
		s.checkedType, s.checkRequired = desc, hasRequiredFields(desc)
	}
	msg := input.New().Interface()
	if err := parseJSON(value, msg, s.resolver, s.checkRequired); err != nil {
		err = fmt.Errorf("request %d: %w", s.count, err)
		if errors.Is(err, ErrUnknownField) && !s.retried {
			// Not final: the next call reads this value again, as the
			// same request, for a caller that fetched newer descriptors.
			s.again, s.retried = slices.Clone(value), true
			return nil, err
		}
		s.done = err
		return nil, s.done
	}
	return msg, nil
}

// TakesJSONObject tells whether the JSON form of messages of type md is an
// object: true for every message but the well-known types of
// google.protobuf whose JSON form is a string, a number, a boolean, an array
// or any value (wrappers, Timestamp, Duration, FieldMask, Value,
// ListValue). ParseJSON reads each of them in its form.
func TakesJSONObject(md protoreflect.MessageDescriptor) bool {
	if md.ParentFile() == nil || md.ParentFile().Package() != "google.protobuf" {
		return true
	}
	switch md.Name() {
	case "DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value",
		"BoolValue", "StringValue", "BytesValue", "Timestamp", "Duration", "FieldMask", "Value", "ListValue":
		return false
	}
	return true
}

// valueReader splits a stream into JSON values without parsing them: it
// finds where each ends by its brackets and strings, and leaves the rest to
// the parser. A value is returned as soon as its last byte is read.
type valueReader struct {
	in     *bufio.Reader
	offset int64  // bytes read so far
	value  []byte // the current value, reused
	open   []byte // the brackets open in it, reused
}

// next returns the next value (valid until the following call), or io.EOF
// when only white space is left.
func (v *valueReader) next() ([]byte, error) {
	v.value, v.open = v.value[:0], v.open[:0]
	c, err := v.skipSpace()
	if err != nil {
		return nil, err
	}
	start := v.offset - 1
	v.value = append(v.value, c)
	switch c {
	case '{', '[':
		v.open = append(v.open, c)
	case '"':
		if err := v.readString(start); err != nil {
			return nil, err
		}
		return v.value, nil
	default:
		// A literal or a number (or something that is not JSON): up to
		// the next delimiter.
		for {
			c, err := v.in.ReadByte()
			if errors.Is(err, io.EOF) {
				return v.value, nil
			}
			if err != nil {
				return nil, fmt.Errorf("read JSON: %w", err)
			}
			if isSpace(c) || bytes.IndexByte([]byte(`{}[]",:`), c) >= 0 {
				_ = v.in.UnreadByte()
				return v.value, nil
			}
			v.offset++
			v.value = append(v.value, c)
		}
	}
	for len(v.open) > 0 {
		c, err := v.readByte(start)
		if err != nil {
			return nil, err
		}
		v.value = append(v.value, c)
		switch c {
		case '"':
			if err := v.readString(start); err != nil {
				return nil, err
			}
		case '{', '[':
			v.open = append(v.open, c)
		case '}', ']':
			want := byte('{')
			if c == ']' {
				want = '['
			}
			if last := v.open[len(v.open)-1]; last != want {
				return nil, fmt.Errorf("malformed JSON at byte %d of the input: %q does not close %q", v.offset-1, c, last)
			}
			v.open = v.open[:len(v.open)-1]
		}
	}
	return v.value, nil
}

// skipSpace returns the first byte that is not white space.
func (v *valueReader) skipSpace() (byte, error) {
	for {
		c, err := v.in.ReadByte()
		if errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		if err != nil {
			return 0, fmt.Errorf("read JSON: %w", err)
		}
		v.offset++
		if !isSpace(c) {
			return c, nil
		}
	}
}

// readByte reads a byte inside the value that started at start.
func (v *valueReader) readByte(start int64) (byte, error) {
	c, err := v.in.ReadByte()
	if errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("malformed JSON: the input ends inside the value that starts at byte %d: %w", start, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return 0, fmt.Errorf("read JSON: %w", err)
	}
	v.offset++
	return c, nil
}

// readString reads the rest of a string whose opening quote was read.
func (v *valueReader) readString(start int64) error {
	escaped := false
	for {
		c, err := v.readByte(start)
		if err != nil {
			return err
		}
		v.value = append(v.value, c)
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			return nil
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// abbreviate shows at most 40 bytes of a JSON value in a message.
func abbreviate(value []byte) string {
	if len(value) > 40 {
		return string(value[:40]) + "..."
	}
	return string(value)
}

// Messages returns a supplier that gives msgs, in order, as they are: no
// copy, no JSON. It is the fast path for callers that build their requests.
func Messages(msgs ...proto.Message) RequestSupplier {
	next := 0
	return func(protoreflect.MessageType) (proto.Message, error) {
		if next == len(msgs) {
			return nil, io.EOF
		}
		next++
		return msgs[next-1], nil
	}
}
