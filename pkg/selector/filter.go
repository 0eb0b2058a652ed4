package selector

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Filter decides which nodes a call may use.
type Filter interface {
	// Keep reports whether the call may use the candidate.
	Keep(c Candidate) bool
	// String describes the filter for error messages: `version "v2"`.
	String() string
}

// FilterFunc makes a Filter of a function; description names it in errors.
func FilterFunc(description string, keep func(Candidate) bool) Filter {
	return funcFilter{description: description, keep: keep}
}

type funcFilter struct {
	description string
	keep        func(Candidate) bool
}

func (f funcFilter) Keep(c Candidate) bool { return f.keep(c) }
func (f funcFilter) String() string        { return f.description }

type versionFilter string

func (f versionFilter) Keep(c Candidate) bool { return c.Version == string(f) }
func (f versionFilter) String() string        { return fmt.Sprintf("version %q", string(f)) }

type metadataFilter struct{ key, value string }

func (f metadataFilter) Keep(c Candidate) bool {
	v, ok := c.Node.Metadata[f.key]
	return ok && v == f.value
}

func (f metadataFilter) String() string { return fmt.Sprintf("metadata %s=%s", f.key, f.value) }

// filterNodes returns the nodes every filter keeps.
func filterNodes(nodes []*cachedNode, filters []Filter) []*cachedNode {
	var kept []*cachedNode
	for _, n := range nodes {
		c := n.candidate()
		if !slices.ContainsFunc(filters, func(f Filter) bool { return !f.Keep(c) }) {
			kept = append(kept, n)
		}
	}
	return kept
}

// maxListedNodes bounds how many nodes a no-match error lists.
const maxListedNodes = 5

// noMatchError says which filters left nothing and what there is instead:
// the versions, and for metadata filters the values the nodes have.
func noMatchError(service string, filters []Filter, nodes []*cachedNode) error {
	wanted := make([]string, len(filters))
	var keys []string
	for i, f := range filters {
		wanted[i] = f.String()
		if mf, ok := f.(metadataFilter); ok && !slices.Contains(keys, mf.key) {
			keys = append(keys, mf.key)
		}
	}

	perVersion := map[string]int{}
	for _, n := range nodes {
		perVersion[n.version]++
	}
	var versions []string
	for _, v := range slices.Sorted(maps.Keys(perVersion)) {
		versions = append(versions, fmt.Sprintf("version %q (%s)", v, plural(perVersion[v], "node")))
	}
	have := fmt.Sprintf("%s: %s", plural(len(nodes), "node"), strings.Join(versions, ", "))

	if len(keys) > 0 {
		var listed []string
		for _, n := range nodes[:min(len(nodes), maxListedNodes)] {
			var pairs []string
			for _, k := range keys {
				v, ok := n.node.Metadata[k]
				if !ok {
					v = "<unset>"
				}
				pairs = append(pairs, k+"="+v)
			}
			listed = append(listed, fmt.Sprintf("%s (%s)", n.node.ID, strings.Join(pairs, " ")))
		}
		if len(nodes) > maxListedNodes {
			listed = append(listed, fmt.Sprintf("and %d more", len(nodes)-maxListedNodes))
		}
		have += "; " + strings.Join(listed, ", ")
	}
	return fmt.Errorf("selector: %w: service %q has no node with %s; it has %s",
		ErrNoMatch, service, strings.Join(wanted, " and "), have)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
