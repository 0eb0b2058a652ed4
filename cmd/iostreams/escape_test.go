package iostreams

import (
	"bytes"
	"testing"
)

func TestEscape(t *testing.T) {
	cases := []struct{ in, want string }{
		{"greeter", "greeter"},
		{"go.micro.srv.greeter v1", "go.micro.srv.greeter v1"},
		{"héllo wörld ∎", "héllo wörld ∎"},
		{"x\x1b[2J", `x\x1b[2J`},
		{"\x1b]0;title\x07", `\x1b]0;title\a`},
		{"csi\u009b31m", `csi\u009b31m`},
		{"bidi\u202eevil", `bidi\u202eevil`},
		{"bad\xffbyte", `bad\xffbyte`},
		{"del\x7f", `del\x7f`},
		{"tab\tnew\nline", `tab\tnew\nline`},
	}
	for _, c := range cases {
		if have := Escape(c.in); have != c.want {
			t.Errorf("Escape(%q): want %s, have %s", c.in, c.want, have)
		}
	}
}

func TestEscapeWriterKeepsLayout(t *testing.T) {
	var buf bytes.Buffer
	w := EscapeWriter(&buf)
	if _, err := w.Write([]byte("name\tx\x1b[2J\nnext\r\n")); err != nil {
		t.Fatal(err)
	}
	if want := "name\tx\\x1b[2J\nnext\\r\n"; buf.String() != want {
		t.Errorf("want %q, have %q", want, buf.String())
	}
}

func TestTableEscapes(t *testing.T) {
	for _, aligned := range []bool{true, false} {
		var buf bytes.Buffer
		table := NewTable(&buf, aligned, "NAME", "NODES")
		table.AddRow("evil\x1b[2J\tname\n", "1/1")
		if err := table.Render(); err != nil {
			t.Fatal(err)
		}
		if bytes.ContainsRune(buf.Bytes(), 0x1b) || !bytes.Contains(buf.Bytes(), []byte(`evil\x1b[2J name `)) {
			t.Errorf("aligned %v: want ESC escaped and the tab and newline as spaces, have %q", aligned, buf.String())
		}
	}
}
