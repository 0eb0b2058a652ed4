package callutil

import (
	"encoding/json"
	"strconv"
	"strings"
)

// QuotedJSONFix tells whether text looks like JSON that a shell mangled
// (an unquoted argument: {"name":"Ada"} arrives as {name:Ada}, the quotes
// eaten by the shell), and returns the JSON it most likely was, written as
// the fix to give the user: quote the JSON in single quotes:
// '{"name":"Ada"}'. text that is valid JSON, or does not start like an
// object or array, is not mangled. `micro call`, `micro stream` and
// `micro publish` use it for the hint on a body they cannot read.
func QuotedJSONFix(text string) (fix string, mangled bool) {
	trimmed := strings.TrimSpace(text)
	if trimmed == "" || json.Valid([]byte(trimmed)) {
		return "", false
	}
	if first, last := trimmed[0], trimmed[len(trimmed)-1]; !(first == '{' && last == '}') && !(first == '[' && last == ']') {
		return "", false
	}
	var b strings.Builder
	quoted := false
	for i := 0; i < len(trimmed); {
		c := trimmed[i]
		if strings.IndexByte("{}[],: \t\n\r", c) >= 0 || c == '"' {
			if c == '"' {
				// A string that kept its quotes: copy it whole.
				end := i + 1
				for end < len(trimmed) && trimmed[end] != '"' {
					if trimmed[end] == '\\' {
						end++
					}
					end++
				}
				if end >= len(trimmed) {
					return "", false
				}
				b.WriteString(trimmed[i : end+1])
				i = end + 1
				continue
			}
			b.WriteByte(c)
			i++
			continue
		}
		end := i
		for end < len(trimmed) && strings.IndexByte("{}[],: \t\n\r\"", trimmed[end]) < 0 {
			end++
		}
		word := trimmed[i:end]
		if isJSONLiteral(word) {
			b.WriteString(word)
		} else {
			b.WriteString(strconv.Quote(word))
			quoted = true
		}
		i = end
	}
	fix = b.String()
	if !quoted || !json.Valid([]byte(fix)) {
		return "", false
	}
	return fix, true
}

// isJSONLiteral tells whether word is a JSON number, true, false or null.
func isJSONLiteral(word string) bool {
	switch word {
	case "true", "false", "null":
		return true
	}
	var n json.Number
	return json.Unmarshal([]byte(word), &n) == nil
}

// QuotingHint is the hint for a body that QuotedJSONFix finds mangled, or
// "" when it is not.
func QuotingHint(text string) string {
	fix, ok := QuotedJSONFix(text)
	if !ok {
		return ""
	}
	return "the shell ate the quotes of the JSON: quote the JSON in single quotes: '" + strings.ReplaceAll(fix, "'", `'\''`) + "'"
}
