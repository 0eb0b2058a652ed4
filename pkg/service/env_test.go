package service_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/pkg/service"
)

func mapLookup(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func TestEnvOptions(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    service.Options
		wantErr []string // substrings the error must contain
	}{
		{name: "nothing set"},
		{name: "empty values are unset", env: map[string]string{service.EnvServerAddress: "", service.EnvRegisterTTL: "  "}},
		{
			name: "everything",
			env: map[string]string{
				service.EnvServerAddress:    "127.0.0.1:9090",
				service.EnvServerAdvertise:  "greeter.internal:9090",
				service.EnvServiceVersion:   "1.2.3",
				service.EnvServiceMetadata:  "zone=eu-1, team = core ,,query=a=b",
				service.EnvRegisterTTL:      "1m",
				service.EnvRegisterInterval: "15",
			},
			want: service.Options{
				Address:          "127.0.0.1:9090",
				Advertise:        "greeter.internal:9090",
				Version:          "1.2.3",
				Metadata:         map[string]string{"zone": "eu-1", "team": "core", "query": "a=b"},
				RegisterTTL:      time.Minute,
				RegisterInterval: 15 * time.Second,
			},
		},
		{name: "advertise host only", env: map[string]string{service.EnvServerAdvertise: "10.0.0.5"}, want: service.Options{Advertise: "10.0.0.5"}},
		{name: "bad address", env: map[string]string{service.EnvServerAddress: "9090"}, wantErr: []string{"MICRO_SERVER_ADDRESS", `"9090"`}},
		{name: "bad ttl", env: map[string]string{service.EnvRegisterTTL: "soon"}, wantErr: []string{"MICRO_REGISTER_TTL", "soon", "duration"}},
		{name: "negative interval", env: map[string]string{service.EnvRegisterInterval: "-5s"}, wantErr: []string{"MICRO_REGISTER_INTERVAL", "positive"}},
		{name: "zero ttl", env: map[string]string{service.EnvRegisterTTL: "0"}, wantErr: []string{"MICRO_REGISTER_TTL", "positive"}},
		{name: "huge ttl", env: map[string]string{service.EnvRegisterTTL: "99999999999999"}, wantErr: []string{"MICRO_REGISTER_TTL", "too long"}},
		{name: "metadata without equals", env: map[string]string{service.EnvServiceMetadata: "zone=eu,team"}, wantErr: []string{"MICRO_SERVICE_METADATA", `"team"`, "key=value"}},
		{name: "metadata empty key", env: map[string]string{service.EnvServiceMetadata: "=x"}, wantErr: []string{"MICRO_SERVICE_METADATA", "key=value"}},
		{name: "reflection off", env: map[string]string{service.EnvServerReflection: "false"}, want: service.Options{NoReflection: true}},
		{name: "reflection on", env: map[string]string{service.EnvServerReflection: "ON"}},
		{name: "bad reflection", env: map[string]string{service.EnvServerReflection: "maybe"}, wantErr: []string{"MICRO_SERVER_REFLECTION", "maybe", "true or false"}},
		{
			name:    "every bad value reported",
			env:     map[string]string{service.EnvRegisterTTL: "x", service.EnvRegisterInterval: "y"},
			wantErr: []string{"MICRO_REGISTER_TTL", "MICRO_REGISTER_INTERVAL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := service.EnvOptions(mapLookup(tt.env))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want an error containing %q, have none", tt.wantErr)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("EnvOptions: %v", err)
			}
			var have service.Options
			for _, opt := range opts {
				if err := opt(&have); err != nil {
					t.Fatalf("apply option: %v", err)
				}
			}
			if have.Address != tt.want.Address || have.Advertise != tt.want.Advertise || have.Version != tt.want.Version ||
				have.RegisterTTL != tt.want.RegisterTTL || have.RegisterInterval != tt.want.RegisterInterval || have.NoReflection != tt.want.NoReflection ||
				!maps.Equal(have.Metadata, tt.want.Metadata) {
				t.Errorf("want %+v, have %+v", tt.want, have)
			}
		})
	}
}

func TestEnvOptionsNilLookup(t *testing.T) {
	if _, err := service.EnvOptions(nil); err == nil {
		t.Fatal("want an error for a nil lookup")
	}
}
