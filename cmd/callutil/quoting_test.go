package callutil

import "testing"

func TestQuotedJSONFix(t *testing.T) {
	cases := []struct {
		text, want string
		mangled    bool
	}{
		{`{name:Ada}`, `{"name":"Ada"}`, true},
		{`{name:Ada,count:3,on:true}`, `{"name":"Ada","count":3,"on":true}`, true},
		{`{name:Ada Lovelace}`, ``, false}, // two words: cannot tell
		{`{tags:[a,b]}`, `{"tags":["a","b"]}`, true},
		{`{"name":Ada}`, `{"name":"Ada"}`, true},
		{`[Ada,Ben]`, `["Ada","Ben"]`, true},
		{`{"name":"Ada"}`, ``, false}, // valid
		{`{"name":`, ``, false},       // cut short, not mangled
		{`name:Ada`, ``, false},
		{`{}`, ``, false},
		{``, ``, false},
		{`{count:3}`, `{"count":3}`, true},
	}
	for _, tc := range cases {
		fix, mangled := QuotedJSONFix(tc.text)
		if fix != tc.want || mangled != tc.mangled {
			t.Errorf("%q: want %q %v, have %q %v", tc.text, tc.want, tc.mangled, fix, mangled)
		}
	}
	if have, want := QuotingHint(`{name:Ada}`), `the shell ate the quotes of the JSON: quote the JSON in single quotes: '{"name":"Ada"}'`; have != want {
		t.Errorf("hint: want %q, have %q", want, have)
	}
}
