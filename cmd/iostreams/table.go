package iostreams

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Table prints rows either aligned with a header, for people, or as
// tab-separated lines without a header, for scripts that cut and awk.
type Table struct {
	out     io.Writer
	aligned bool
	header  []string
	rows    [][]string
}

// NewTable starts a table on w: aligned with a header, or tab-separated.
func NewTable(w io.Writer, aligned bool, header ...string) *Table {
	return &Table{out: w, aligned: aligned, header: header}
}

// AddRow adds one row. Tabs and newlines in a field become spaces, so a
// field never breaks the layout, and other characters that are not
// printable are escaped (see Escape): fields often come from the registry,
// which anyone may write to.
func (t *Table) AddRow(fields ...string) {
	clean := make([]string, len(fields))
	for i, f := range fields {
		clean[i] = Escape(strings.NewReplacer("\t", " ", "\n", " ").Replace(f))
	}
	t.rows = append(t.rows, clean)
}

// Render writes the table.
func (t *Table) Render() error {
	if !t.aligned {
		for _, row := range t.rows {
			if _, err := fmt.Fprintln(t.out, strings.Join(row, "\t")); err != nil {
				return err
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(t.out, 0, 4, 2, ' ', 0)
	if len(t.header) > 0 {
		fmt.Fprintln(w, strings.Join(t.header, "\t"))
	}
	for _, row := range t.rows {
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	return w.Flush()
}
