package testenv

import "testing"

func TestCIValue(t *testing.T) {
	cases := map[string]bool{"true": true, "1": true, "TRUE": true, "True": true, "": false, "0": false, "false": false, "no": false}
	for v, want := range cases {
		if have := ciValue(v); have != want {
			t.Errorf("CI=%q: want %v, have %v", v, want, have)
		}
	}
}

func TestInCIReadsCI(t *testing.T) {
	t.Setenv("CI", "1")
	if !InCI() {
		t.Error("CI=1 should count as CI")
	}
	t.Setenv("CI", "")
	if InCI() {
		t.Error("an empty CI is not CI")
	}
}
