package call

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestPathAt(t *testing.T) {
	tests := []struct {
		json   string
		marker string // the error is at the first byte of it
		want   string
	}{
		{`{"name": 5}`, `5`, "name"},
		{`{"nmae": "x"}`, `"nmae"`, "nmae"},
		{`{"tags": x}`, `x}`, "tags"},
		{`{"a": 1, "b": [1, 2, {"c": true, "d": "!"}]}`, `"!"`, "b[2].d"},
		{`{"a": {"b": {"c": [[0, 1], [2, "z"]]}}}`, `"z"`, "a.b.c[1][1]"},
		{`{"items": [{"sku": 1}, {"sku": 2}]}`, `2}`, "items[1].sku"},
		{`{"a": [], "b": {}, "c": 3}`, `3`, "c"},
		{`{"a": 1}`, `{`, ""},
		{`[1, 2]`, `2`, "[1]"},
	}
	for _, tc := range tests {
		offset := strings.Index(tc.json, tc.marker)
		if have := pathAt([]byte(tc.json), offset); have != tc.want {
			t.Errorf("pathAt(%s, at %q): want %q, have %q", tc.json, tc.marker, tc.want, have)
		}
	}
}

func TestValueReader(t *testing.T) {
	tests := []struct {
		input  string
		values []string
		err    string // of the call after the values
	}{
		{"", nil, ""},
		{" \n\t ", nil, ""},
		{`{}`, []string{`{}`}, ""},
		{"{\"a\":1}\n{\"b\":[2,{\"c\":3}]}\n", []string{`{"a":1}`, `{"b":[2,{"c":3}]}`}, ""},
		{`{"a":"}{]["}{"b":"\"}"}`, []string{`{"a":"}{]["}`, `{"b":"\"}"}`}, ""},
		{`{"a":"\\"}x`, []string{`{"a":"\\"}`, `x`}, ""},
		{`[1] "s" 12 true null`, []string{`[1]`, `"s"`, `12`, `true`, `null`}, ""},
		{`{"a": [1}`, nil, `'}' does not close '['`},
		{`{"a": {`, nil, "ends inside the value that starts at byte 0"},
		{`{} {"a": "b`, []string{`{}`}, "ends inside the value that starts at byte 3"},
	}
	for _, tc := range tests {
		reader := valueReader{in: bufio.NewReaderSize(strings.NewReader(tc.input), 16)}
		var values []string
		var err error
		for {
			var value []byte
			value, err = reader.next()
			if err != nil {
				break
			}
			values = append(values, string(value))
		}
		if !reflect.DeepEqual(values, tc.values) {
			t.Errorf("values of %q: want %q, have %q", tc.input, tc.values, values)
		}
		if tc.err == "" && !errors.Is(err, io.EOF) {
			t.Errorf("end of %q: want io.EOF, have %v", tc.input, err)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("end of %q: want an error with %q, have %v", tc.input, tc.err, err)
		}
	}
}
