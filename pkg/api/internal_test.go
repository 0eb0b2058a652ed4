package api

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"
)

func TestRequestTimeout(t *testing.T) {
	tests := []struct {
		name, header, value string
		want                time.Duration
		asked, wantErr      bool
	}{
		{"none", "", "", 0, false, false},
		{"connect", "Connect-Timeout-Ms", "250", 250 * time.Millisecond, true, false},
		{"connect not a number", "Connect-Timeout-Ms", "soon", 0, false, true},
		{"connect zero", "Connect-Timeout-Ms", "0", 0, false, true},
		{"connect too long", "Connect-Timeout-Ms", "12345678901", 0, false, true},
		{"grpc seconds", "Grpc-Timeout", "5S", 5 * time.Second, true, false},
		{"grpc millis", "Grpc-Timeout", "100m", 100 * time.Millisecond, true, false},
		{"grpc hours", "Grpc-Timeout", "1H", time.Hour, true, false},
		{"grpc nanos", "Grpc-Timeout", "10n", 10 * time.Nanosecond, true, false},
		{"grpc no unit", "Grpc-Timeout", "100", 0, false, true},
		{"grpc bad unit", "Grpc-Timeout", "100x", 0, false, true},
		{"grpc too many digits", "Grpc-Timeout", "123456789S", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set(tt.header, tt.value)
			}
			have, asked, err := requestTimeout(h)
			if (err != nil) != tt.wantErr || have != tt.want || asked != tt.asked {
				t.Errorf("want %v, %v, error %v; have %v, %v, %v", tt.want, tt.asked, tt.wantErr, have, asked, err)
			}
		})
	}
}

func TestPercentEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"100%", "100%25"},
		{"naïve\n", "na%C3%AFve%0A"},
	}
	for _, tt := range tests {
		if have := percentEncode(tt.in); have != tt.want {
			t.Errorf("percentEncode(%q): want %q, have %q", tt.in, tt.want, have)
		}
		if back := percentDecode(percentEncode(tt.in)); back != tt.in {
			t.Errorf("round trip of %q: have %q", tt.in, back)
		}
	}
}

func TestDecodeBase64Chunks(t *testing.T) {
	a, b := []byte("first frame"), []byte("2nd")
	tests := []struct {
		name, in string
		want     string
	}{
		{"one", base64.StdEncoding.EncodeToString(a), string(a)},
		{"padded chunks", base64.StdEncoding.EncodeToString(a) + base64.StdEncoding.EncodeToString(b), string(a) + string(b)},
		{"unpadded", base64.RawStdEncoding.EncodeToString(a), string(a)},
		{"with newlines", base64.StdEncoding.EncodeToString(a) + "\r\n", string(a)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have, err := decodeBase64Chunks([]byte(tt.in))
			if err != nil || string(have) != tt.want {
				t.Errorf("want %q, have %q, %v", tt.want, have, err)
			}
		})
	}
	if _, err := decodeBase64Chunks([]byte("not base64!")); err == nil {
		t.Error("want an error for text that is not base64")
	}
}

func TestReadEnvelope(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		want    string
		wantErr bool
	}{
		{"one frame", appendEnvelope(nil, 0, []byte("abc")), "abc", false},
		{"empty frame", appendEnvelope(nil, 0, nil), "", false},
		{"short header", []byte{0, 0}, "", true},
		{"truncated", appendEnvelope(nil, 0, []byte("abc"))[:6], "", true},
		{"two frames", appendEnvelope(appendEnvelope(nil, 0, []byte("a")), 0, []byte("b")), "", true},
		{"end-stream flag", appendEnvelope(nil, flagEndStream, []byte("{}")), "", true},
		{"compressed without encoding", appendEnvelope(nil, flagCompressed, []byte("x")), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have, err := readEnvelope(tt.body, "", 1<<20)
			if (err != nil) != tt.wantErr || string(have) != tt.want {
				t.Errorf("want %q (error %v), have %q, %v", tt.want, tt.wantErr, have, err)
			}
		})
	}
}

func TestParseHeaderRules(t *testing.T) {
	if _, err := parseHeaderRules([]string{"X-*", "Authorization"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"X-*-Y", "Bad Header", "a:b"} {
		if _, err := parseHeaderRules([]string{bad}); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
