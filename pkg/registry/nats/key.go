package nats

import (
	"fmt"
	"strings"
)

// escapeByte starts an escape: "=" and two upper-case hexadecimal digits.
const escapeByte = '='

// keyByteOK reports whether c may stand for itself in a key token.
func keyByteOK(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '/'
}

// escapeService escapes a service name for a key. Dots stay, so a dotted
// name such as go.micro.srv.greeter keeps its tokens, unless one would make
// an empty token (leading, trailing or doubled dots).
func escapeService(name string) string {
	return escape(name, true)
}

// escapeNodeID escapes a node ID into exactly one key token: every dot is
// escaped too.
func escapeNodeID(id string) string {
	return escape(id, false)
}

func escape(s string, keepDots bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case keyByteOK(c):
			b.WriteByte(c)
		case c == '.' && keepDots && i > 0 && i < len(s)-1 && s[i-1] != '.' && s[i+1] != '.':
			b.WriteByte(c)
		default:
			b.WriteByte(escapeByte)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0f])
		}
	}
	return b.String()
}

// unescape reverses escape.
func unescape(s string) (string, error) {
	if strings.IndexByte(s, escapeByte) < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != escapeByte {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("truncated escape at byte %d of %q", i, s)
		}
		hi, okHi := unhex(s[i+1])
		lo, okLo := unhex(s[i+2])
		if !okHi || !okLo {
			return "", fmt.Errorf("invalid escape %q at byte %d of %q", s[i:i+3], i, s)
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// recordKey is the key of one node's record: "<service>.<node id>".
func recordKey(service, nodeID string) string {
	return escapeService(service) + "." + escapeNodeID(nodeID)
}

// serviceFilter matches the keys of every node of one service and of no
// other service: the node ID is always exactly one token.
func serviceFilter(service string) string {
	return escapeService(service) + ".*"
}

// parseKey splits a record key into service name and node ID.
func parseKey(key string) (service, nodeID string, err error) {
	dot := strings.LastIndexByte(key, '.')
	if dot <= 0 || dot == len(key)-1 {
		return "", "", fmt.Errorf("key %q is not <service>.<node id>", key)
	}
	if service, err = unescape(key[:dot]); err != nil {
		return "", "", fmt.Errorf("key %q: service: %w", key, err)
	}
	if nodeID, err = unescape(key[dot+1:]); err != nil {
		return "", "", fmt.Errorf("key %q: node id: %w", key, err)
	}
	return service, nodeID, nil
}
