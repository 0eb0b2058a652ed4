package mcp

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// MaxToolNameLength is the longest tool name a Server makes: the limit that
// MCP clients and model APIs put on function names (^[a-zA-Z0-9_-]{1,64}$).
const MaxToolNameLength = 64

// toolKey is what identifies an endpoint tool, whatever its name: the
// registered service and the endpoint's full name.
type toolKey struct {
	service  string
	endpoint string
}

// nameCandidate is an endpoint to name: its key, its short name (the
// registered service, the gRPC service's short name and the method:
// greeter_Greeter_Hello) and its long one (with the gRPC package:
// greeter_greeter_v1_Greeter_Hello).
type nameCandidate struct {
	key   toolKey
	short string
	long  string
}

// sanitizeName maps s into the characters tool names may have: letters,
// digits, '_' and '-'; every other run of characters becomes one '_'.
func sanitizeName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	lastUnderscore := false
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-'
		if ok {
			b.WriteRune(r)
			lastUnderscore = false
			continue
		}
		if !lastUnderscore {
			b.WriteByte('_')
			lastUnderscore = true
		}
	}
	out := strings.Trim(b.String(), "_")
	if out == "" {
		return "tool"
	}
	return out
}

// hashedName shortens name to fit MaxToolNameLength with a suffix made from
// the key, so that two keys never get the same name by chance.
func hashedName(name string, key toolKey) string {
	sum := sha256.Sum256([]byte(key.service + "\x00" + key.endpoint))
	suffix := "_" + hex.EncodeToString(sum[:4])
	if len(name)+len(suffix) > MaxToolNameLength {
		name = strings.TrimRight(name[:MaxToolNameLength-len(suffix)], "_")
	}
	return name + suffix
}

// assignNames gives each candidate a tool name that is unique among them
// and not in reserved, and the same whichever order they come in:
//
//   - the short name, when no other candidate (and no reserved name) has it;
//   - otherwise the long name, for every candidate sharing the short one;
//   - a name still shared, or longer than MaxToolNameLength, keeps its
//     start and ends in '_' and 8 hex digits of a hash of its key.
func assignNames(candidates []nameCandidate, reserved map[string]bool) map[toolKey]string {
	count := func(names []string) map[string]int {
		n := map[string]int{}
		for _, name := range names {
			n[name]++
		}
		return n
	}
	shorts := make([]string, len(candidates))
	for i, c := range candidates {
		shorts[i] = c.short
	}
	shortCount := count(shorts)
	picked := make([]string, len(candidates))
	for i, c := range candidates {
		if shortCount[c.short] == 1 && !reserved[c.short] {
			picked[i] = c.short
		} else {
			picked[i] = c.long
		}
	}
	pickedCount := count(picked)
	out := make(map[toolKey]string, len(candidates))
	for i, c := range candidates {
		name := picked[i]
		if pickedCount[name] > 1 || reserved[name] || len(name) > MaxToolNameLength {
			name = hashedName(name, c.key)
		}
		out[c.key] = name
	}
	return out
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
