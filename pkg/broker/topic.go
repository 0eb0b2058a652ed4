package broker

import (
	"fmt"
	"strings"
)

// ValidateTopic reports why topic cannot be published to: it must be
// non-empty, hold no whitespace or control characters, have no empty token
// (no leading, trailing or doubled dots) and no wildcard ("*", ">"). The
// error wraps ErrInvalidTopic.
func ValidateTopic(topic string) error {
	// The loop is the publish hot path: one pass, no allocation.
	prevDot := true // the start behaves as if after a dot
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		if c > '>' && c != 0x7f { // letters and '_': the common case
			prevDot = false
			continue
		}
		switch {
		case c == '.':
			if prevDot {
				return topicError(topic, i, "empty token")
			}
			prevDot = true
			continue
		case c <= ' ' || c == 0x7f:
			return topicError(topic, i, "whitespace or a control character")
		case c == '*' || c == '>':
			return fmt.Errorf("%w %q: wildcard %q at byte %d: wildcards are only for subscribing", ErrInvalidTopic, topic, c, i)
		}
		prevDot = false
	}
	switch {
	case topic == "":
		return fmt.Errorf("%w: the topic is empty", ErrInvalidTopic)
	case prevDot:
		return topicError(topic, len(topic)-1, "empty token")
	}
	return nil
}

// ValidatePattern reports why pattern cannot be subscribed to. The rules are
// those of ValidateTopic, except that a token may be a wildcard: "*" matches
// exactly one token, ">" one or more and only as the last token. A wildcard
// character inside a longer token ("a*") is refused, as NATS would take it
// literally. The error wraps ErrInvalidTopic.
func ValidatePattern(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("%w: the topic is empty", ErrInvalidTopic)
	}
	start := 0
	for i := 0; i <= len(pattern); i++ {
		if i < len(pattern) && pattern[i] != '.' {
			if c := pattern[i]; c <= ' ' || c == 0x7f {
				return topicError(pattern, i, "whitespace or a control character")
			}
			continue
		}
		token := pattern[start:i]
		switch {
		case token == "":
			return topicError(pattern, i, "empty token")
		case token == ">" && i != len(pattern):
			return topicError(pattern, start, `wildcard ">" before the last token`)
		case token != "*" && token != ">" && strings.ContainsAny(token, "*>"):
			return topicError(pattern, start, fmt.Sprintf("wildcard inside token %q: a wildcard must be a whole token", token))
		}
		start = i + 1
	}
	return nil
}

func topicError(topic string, at int, what string) error {
	return fmt.Errorf("%w %q: %s at byte %d", ErrInvalidTopic, topic, what, at)
}

// MatchTopic reports whether a message published to topic is delivered to a
// subscription to pattern. Both are assumed valid.
func MatchTopic(pattern, topic string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		if pt == ">" {
			return topic != ""
		}
		tt, trest, tmore := strings.Cut(topic, ".")
		if pt != "*" && pt != tt {
			return false
		}
		if !pmore || !tmore {
			return pmore == tmore
		}
		pattern, topic = prest, trest
	}
}
