package callutil

import "testing"

func TestQuotedJSONFix(t *testing.T) {
	cases := []struct {
		body string
		want string // "" when the body is not mangled JSON
	}{
		{`{name:Ada}`, `{"name":"Ada"}`},
		{`{name:Ada,count:3,ok:true,none:null}`, `{"name":"Ada","count":3,"ok":true,"none":null}`},
		{`{name:Ada Lovelace}`, `{"name":"Ada Lovelace"}`},
		{`{user:{name:Ada},tags:[a,b]}`, `{"user":{"name":"Ada"},"tags":["a","b"]}`},
		{`{"name":Ada}`, `{"name":"Ada"}`},
		{` {name: Ada} `, `{"name": "Ada"}`},
		{`[a,b]`, `["a","b"]`},
		{`{n:-1.5e3}`, `{"n":-1.5e3}`},
		{`{mood:MOOD_HAPPY,path:/x/y}`, `{"mood":"MOOD_HAPPY","path":"/x/y"}`},
		{`{q:<b>}`, `{"q":"<b>"}`},
		// Not mangled JSON: JSON already, not JSON-shaped, or not fixed by
		// quoting words.
		{`{"name":"Ada"}`, ""},
		{`{}`, ""},
		{`[1,2]`, ""},
		{`hello`, ""},
		{`name:Ada`, ""},
		{``, ""},
		{`{name:Ada`, ""},
		{`{{.Count}}`, ""},
		{`{name::Ada}`, ""},
		{`{"unterminated:1}`, ""},
	}
	for _, c := range cases {
		have, ok := QuotedJSONFix(c.body)
		if ok != (c.want != "") || have != c.want {
			t.Errorf("QuotedJSONFix(%q): want %q (%v), have %q (%v)", c.body, c.want, c.want != "", have, ok)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		`{"name":"Ada"}`:    `'{"name":"Ada"}'`,
		`{"name":"O'Hara"}`: `'{"name":"O'\''Hara"}'`,
	} {
		if have := ShellQuote(in); have != want {
			t.Errorf("ShellQuote(%q): want %s, have %s", in, want, have)
		}
	}
}

func TestQuotingHint(t *testing.T) {
	if have, want := QuotingHint(`{name:Ada}`), `the shell ate the quotes of the JSON: quote the JSON in single quotes: '{"name":"Ada"}'`; have != want {
		t.Errorf("hint: want %q, have %q", want, have)
	}
	if have := QuotingHint(`{"name":"Ada"}`); have != "" {
		t.Errorf("hint for valid JSON: want none, have %q", have)
	}
}
