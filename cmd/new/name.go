package new

import (
	"fmt"
	"go/token"
	"os"
	"path/filepath"
	"strings"
)

// generatedNames are the messages of the template; a service must not be
// named like one of them.
var generatedNames = []string{"HelloRequest", "HelloResponse", "StreamRequest", "CollectResponse", eventName}

// validateName says why name cannot name a service. The name becomes the
// directory, the registered service name, the Go package of the generated
// code (NAMEpb), the proto package (NAME.v1) and, camel-cased, the proto
// service and the handler type (Name); so it must be a lower-case Go
// package name that is also a proto identifier.
func validateName(name string) error {
	if name == "" {
		return fmt.Errorf("a service name is required")
	}
	valid := name[0] >= 'a' && name[0] <= 'z'
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			valid = false
		}
	}
	if !valid {
		msg := fmt.Sprintf("service name %q is not a valid Go package name and proto identifier: use lower-case letters, digits and underscores, starting with a letter", name)
		if suggestion := suggestName(name); suggestion != "" && suggestion != name {
			msg += fmt.Sprintf(", such as %q", suggestion)
		}
		return fmt.Errorf("%s", msg)
	}
	if token.IsKeyword(name) {
		return fmt.Errorf("service name %q is a Go keyword, which cannot name a package: choose another, such as %q", name, name+"svc")
	}
	service := camel(name)
	for _, reserved := range generatedNames {
		if service == reserved {
			return fmt.Errorf("service name %q would make a proto service %s, which the template already uses for a message: choose another", name, service)
		}
	}
	return nil
}

// suggestName turns name into one validateName accepts, where it can:
// "My-Service" becomes "myservice".
func suggestName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		}
	}
	s := strings.TrimLeft(b.String(), "0123456789_")
	if s == "" || token.IsKeyword(s) {
		return ""
	}
	return s
}

// camel turns a service name into a Go and proto type name:
// "user_profile" becomes "UserProfile".
func camel(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// validateModulePath says why path cannot be a Go module path, roughly as
// the go command would: slash-separated elements of letters, digits and
// "-._~", none empty, none "." or "..", none starting with a dot.
func validateModulePath(path string) error {
	if path == "" {
		return fmt.Errorf("the module path is empty")
	}
	for _, elem := range strings.Split(path, "/") {
		if elem == "" || elem == "." || elem == ".." || strings.HasPrefix(elem, ".") || strings.HasSuffix(elem, ".") {
			return fmt.Errorf("module path %q is not valid: each slash-separated element must be non-empty and must not start or end with a dot", path)
		}
		for _, r := range elem {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
				return fmt.Errorf("module path %q is not valid: %q is not allowed; use letters, digits, '-', '.', '_', '~' and '/'", path, r)
			}
		}
	}
	return nil
}

// shadowsStandardLibrary reports whether the first element of a module
// path without a dot is also a directory of the standard library (time,
// net, internal, ...): the go command would look for its packages there.
func shadowsStandardLibrary(goroot, modulePath string) bool {
	first, _, _ := strings.Cut(modulePath, "/")
	if goroot == "" || strings.Contains(first, ".") {
		return false
	}
	info, err := os.Stat(filepath.Join(goroot, "src", first))
	return err == nil && info.IsDir()
}
