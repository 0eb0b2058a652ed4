package callutil

import (
	"bytes"
	"encoding/json"
	"strings"
)

// structural are the bytes of JSON's syntax that a shell leaves in place
// when it removes the double quotes around keys and strings.
const structural = "{}[],:"

// QuotedJSONFix reports whether text looks like JSON whose double quotes a
// shell removed, as from an unquoted argument: {"name":"Ada"} typed without
// single quotes reaches the program as {name:Ada}. It returns the JSON with
// its strings quoted again, the fix to show the user. Text that is JSON
// already, or that does not start with { or [, or that quoting bare words
// does not turn into JSON, is not mangled. `micro call`, `micro stream` and
// `micro publish` use it for the hint on a body they cannot read.
func QuotedJSONFix(text string) (fix string, mangled bool) {
	trimmed := bytes.TrimSpace([]byte(text))
	if len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[') || json.Valid(trimmed) {
		return "", false
	}
	requoted, ok := requote(string(trimmed))
	if !ok || !json.Valid([]byte(requoted)) {
		return "", false
	}
	return requoted, true
}

// requote puts double quotes around each bare word of s (a run of text
// between JSON's structural characters) that is not a number, true, false
// or null. Quoted strings are kept as they are. It reports false when s
// holds no bare word, so that there was nothing the shell removed.
func requote(s string) (string, bool) {
	var out strings.Builder
	quotedAny := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case strings.IndexByte(structural, c) >= 0 || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			out.WriteByte(c)
			i++
		case c == '"':
			end := closingQuote(s, i)
			if end < 0 {
				return "", false
			}
			out.WriteString(s[i : end+1])
			i = end + 1
		default:
			end := i
			for end < len(s) && strings.IndexByte(structural, s[end]) < 0 && s[end] != '"' {
				end++
			}
			word := strings.TrimRight(s[i:end], " \t\r\n")
			if isJSONLiteral(word) {
				out.WriteString(word)
			} else {
				out.WriteString(jsonString(word))
				quotedAny = true
			}
			out.WriteString(s[i+len(word) : end])
			i = end
		}
	}
	return out.String(), quotedAny
}

// closingQuote is the index of the quote that ends the JSON string starting
// at s[start], or -1.
func closingQuote(s string, start int) int {
	for i := start + 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func isJSONLiteral(word string) bool {
	switch word {
	case "true", "false", "null":
		return true
	}
	var n json.Number
	return word != "" && word[0] != '"' && json.Unmarshal([]byte(word), &n) == nil
}

// jsonString is word as a JSON string, without HTML escaping.
func jsonString(word string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(word) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// ShellQuote is s in single quotes for a POSIX shell: 'it'\”s'.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// QuotingHint is the hint for a body that QuotedJSONFix finds mangled, or
// "" when it is not.
func QuotingHint(text string) string {
	fix, ok := QuotedJSONFix(text)
	if !ok {
		return ""
	}
	return "the shell ate the quotes of the JSON: quote the JSON in single quotes: " + ShellQuote(fix)
}
