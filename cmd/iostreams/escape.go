package iostreams

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every character that is not printable written as
// a Go escape (ESC as \x1b, U+009B as \u009b, a byte that is not UTF-8 as
// \xff), so that text from the network (registry records, server
// messages) cannot drive the terminal: clear the screen, set its title,
// hide a hyperlink. Spaces and printable text are unchanged. JSON output
// does not go through it: it is exact.
func Escape(s string) string { return escape(s, "") }

// escape is Escape that leaves the characters in keep as they are.
func escape(s, keep string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return needsEscape(r, keep) }) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case needsEscape(r, keep):
			quoted := strconv.QuoteRune(r)
			b.WriteString(quoted[1 : len(quoted)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune, keep string) bool {
	if r == ' ' || strings.ContainsRune(keep, r) {
		return false
	}
	return r == utf8.RuneError || !unicode.IsPrint(r)
}

// EscapeWriter returns a writer that escapes, as Escape does, every
// character written to w that is not printable, except the newlines and
// tabs of the layout. Text (not JSON) output of registry data goes
// through it.
func EscapeWriter(w io.Writer) io.Writer { return &escapeWriter{w: w} }

type escapeWriter struct{ w io.Writer }

func (e *escapeWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(e.w, escape(string(p), "\n\t")); err != nil {
		return 0, err
	}
	return len(p), nil
}
