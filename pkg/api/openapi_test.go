package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/microtools/micro/pkg/api"
)

// TestOpenAPI checks the document against the OpenAPI 3.1 schema with
// libopenapi-validator, checks that it describes every greeter method, and
// validates real requests and responses against it.
func TestOpenAPI(t *testing.T) {
	e := newEnv(t, api.Options{AuthToken: "t"})
	body := wantStatus(t, e.get(t, "/openapi.json", "Authorization: Bearer t"), 200)

	doc, err := libopenapi.NewDocument([]byte(body))
	if err != nil {
		t.Fatalf("parse the document: %v", err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Errorf("want OpenAPI 3.1.0, have %q", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("build the validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document: %s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s at %s", se.Reason, se.KeywordLocation)
			}
		}
		t.FailNow()
	}

	var parsed struct {
		Paths    map[string]map[string]map[string]any `json:"paths"`
		Security []any                                `json:"security"`
	}
	if err := json.Unmarshal([]byte(body), &parsed); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"Hello", "Stream", "Collect", "Chat"} {
		path := "/greeter/Greeter." + method
		op := parsed.Paths[path]["post"]
		if op == nil {
			t.Errorf("no POST %s in the document", path)
			continue
		}
		if op["x-grpc-method"] != "/greeter.v1.Greeter/"+method {
			t.Errorf("%s: x-grpc-method %v", path, op["x-grpc-method"])
		}
	}
	if len(parsed.Security) == 0 {
		t.Error("with an auth token the document should require the bearer scheme")
	}

	// Real traffic against the document.
	tests := []struct {
		name, body string
		valid      bool
	}{
		{"valid", `{"name":"Ada","delayMs":"5","mood":"MOOD_HAPPY","tags":["a"]}`, true},
		{"unknown field", `{"nme":"Ada"}`, false},
		{"wrong type", `{"name":7}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/greeter/Greeter.Hello", bytes.NewReader([]byte(tt.body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer t")
			ok, verrs := v.ValidateHttpRequest(req)
			if ok != tt.valid {
				var msgs []string
				for _, e := range verrs {
					msgs = append(msgs, e.Message+": "+e.Reason)
				}
				t.Errorf("want valid=%v, have %v: %s", tt.valid, ok, strings.Join(msgs, "; "))
			}
		})
	}
}
