package mcp

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Description modes, for Options.Descriptions.
const (
	// DescriptionsComments puts the proto comments of each endpoint (or
	// its registry record's text) in its tool's description, after the
	// line that Server writes itself.
	DescriptionsComments = "comments"
	// DescriptionsNone leaves them out: tools are described only by what
	// the Server writes (the method, its kind, the service).
	DescriptionsNone = "none"
)

// DefaultMaxDescriptionLength caps the text taken from a service for one
// description, in characters.
const DefaultMaxDescriptionLength = 1024

// cleanText makes untrusted text (a proto comment) fit for a tool
// description: control and format characters (bidirectional overrides,
// zero-width characters) are dropped, tabs become spaces, blank lines at the
// ends and the spaces ending each line go, and the text is cut to max
// characters, ending in "…" when cut.
func cleanText(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteRune(r)
		case r == '\t':
			b.WriteByte(' ')
		case unicode.Is(unicode.Cc, r), unicode.Is(unicode.Cf, r), r == utf8.RuneError:
		default:
			b.WriteRune(r)
		}
	}
	lines := strings.Split(b.String(), "\n")
	for i, line := range lines {
		lines[i] = strings.TrimRight(line, " ")
	}
	out := strings.Trim(strings.Join(lines, "\n"), "\n ")
	if max > 0 && utf8.RuneCountInString(out) > max {
		runes := []rune(out)
		out = strings.TrimRight(string(runes[:max-1]), " \n") + "…"
	}
	return out
}
