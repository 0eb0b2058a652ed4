package cmdutil

import (
	"encoding/json"
	"io"

	"github.com/microtools/micro/cmd/iostreams"
)

// Output formats accepted by -o.
const (
	OutputAuto  = ""
	OutputTable = "table"
	OutputText  = "text"
	OutputJSON  = "json"
)

// ValidateOutput checks an -o value.
func ValidateOutput(format string) error {
	switch format {
	case OutputAuto, OutputTable, OutputText, OutputJSON:
		return nil
	}
	return Usagef("unknown output format %q: use table, text or json", format)
}

// WriteJSON writes v as indented JSON followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteJSONLine writes v as one line of JSON, for NDJSON streams.
func WriteJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// NewTable starts a table on stdout: aligned with a header for -o table or a
// terminal, tab-separated without a header for -o text or a pipe.
func NewTable(ios *iostreams.IOStreams, format string, header ...string) *iostreams.Table {
	aligned := format == OutputTable || (format == OutputAuto && ios.IsStdoutTTY())
	return iostreams.NewTable(ios.Out, aligned, header...)
}
