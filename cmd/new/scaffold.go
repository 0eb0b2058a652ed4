package new

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	codegen "github.com/microtools/micro/pkg/gen"
)

// templates holds the files of a new service. Each NAME.tmpl becomes NAME
// with "NAME" in the path replaced by the service name; gitignore becomes
// .gitignore (embed leaves out files that start with a dot).
//
//go:embed templates
var templates embed.FS

// eventName is the event message of the template, and the handler method
// that handles it.
const eventName = "Greeted"

// serviceVersion is the version a new service registers as.
const serviceVersion = "0.1.0"

// templateData is what the templates are executed with.
type templateData struct {
	Name           string // orders: directory, registered name, binary
	Service        string // Orders: proto service and handler type
	ProtoPackage   string // orders.v1
	GoPackage      string // orderspb: the Go package of the generated code
	Module         string // the module path
	Event          string // Greeted
	Topic          string // orders.greeted
	Version        string // the version it registers as
	MicroModule    string // github.com/microtools/micro
	MicroVersion   string // what go.mod requires of micro
	MicroDir       string // the local checkout that replaces it, if any
	GoVersion      string // the go line of go.mod
	GoImageVersion string // the golang image tag of the Dockerfile
}

func newTemplateData(name, module string, micro microRequirement, goLine, goImage string) templateData {
	return templateData{
		Name:           name,
		Service:        camel(name),
		ProtoPackage:   name + ".v1",
		GoPackage:      strings.ReplaceAll(name, "_", "") + "pb",
		Module:         module,
		Event:          eventName,
		Topic:          name + "." + strings.ToLower(eventName),
		Version:        serviceVersion,
		MicroModule:    microModule,
		MicroVersion:   micro.Version,
		MicroDir:       micro.Dir,
		GoVersion:      goLine,
		GoImageVersion: goImage,
	}
}

// file is one file of the new service; path is slash-separated.
type file struct {
	path    string
	content []byte
}

// render executes every template, then generates the Go code of the
// .proto file, all in memory: the files of the service, sorted by path.
func render(ctx context.Context, data templateData) ([]file, error) {
	var files []file
	err := fs.WalkDir(templates, "templates", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		text, err := templates.ReadFile(name)
		if err != nil {
			return err
		}
		tmpl, err := template.New(name).Funcs(template.FuncMap{
			"quote": quoteModPath,
			"lower": strings.ToLower,
		}).Option("missingkey=error").Parse(string(text))
		if err != nil {
			return fmt.Errorf("template %s: %w", name, err)
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, data); err != nil {
			return fmt.Errorf("template %s: %w", name, err)
		}
		target := outputPath(strings.TrimPrefix(name, "templates/"), data.Name)
		content := out.Bytes()
		if strings.HasSuffix(target, ".go") {
			formatted, err := format.Source(content)
			if err != nil {
				return fmt.Errorf("template %s makes invalid Go: %w", name, err)
			}
			content = formatted
		}
		files = append(files, file{path: target, content: content})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("new: %w", err)
	}

	generated, err := generate(ctx, files)
	if err != nil {
		return nil, err
	}
	files = append(files, generated...)
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.path, b.path) })
	return files, nil
}

// outputPath is where the template at name goes.
func outputPath(name, serviceName string) string {
	name = strings.TrimSuffix(name, ".tmpl")
	dir, base := path.Split(name)
	if base == "gitignore" {
		base = ".gitignore"
	}
	return dir + strings.ReplaceAll(base, "NAME", serviceName)
}

// generate compiles the rendered .proto files and returns their Go code,
// as `micro gen` in the new directory would write it.
func generate(ctx context.Context, files []file) ([]file, error) {
	const protoDir = "proto"
	sources := map[string][]byte{}
	var protos []string
	for _, f := range files {
		if rel, ok := strings.CutPrefix(f.path, protoDir+"/"); ok && strings.HasSuffix(rel, ".proto") {
			sources[rel] = f.content
			protos = append(protos, rel)
		}
	}
	generated, err := codegen.Generate(ctx, codegen.Options{
		ImportPaths: []string{protoDir},
		Files:       protos,
		Open: func(name string) (io.ReadCloser, error) {
			rel, _ := strings.CutPrefix(filepath.ToSlash(name), protoDir+"/")
			src, ok := sources[rel]
			if !ok {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			return io.NopCloser(bytes.NewReader(src)), nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("new: generate the code of %s: %w", strings.Join(protos, ", "), err)
	}
	out := make([]file, 0, len(generated))
	for _, g := range generated {
		out = append(out, file{path: protoDir + "/" + g.Name, content: g.Content})
	}
	return out, nil
}

// quoteModPath quotes a path in go.mod when it needs quotes.
func quoteModPath(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"'`\\") || strings.HasPrefix(s, "//") {
		return strconv.Quote(s)
	}
	return s
}

// errNotEmpty is returned when the target directory has files and --force
// was not given.
var errNotEmpty = errors.New("directory is not empty")

// checkTarget says whether dir can be written into: it must not exist, be
// empty, or force must be set. It must not be a file.
func checkTarget(dir string, force bool) error {
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("%s exists and is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("%s: %w (%d entries)", dir, errNotEmpty, len(entries))
	}
	return nil
}

// writeFiles writes files under dir, replacing files of the same name and
// leaving others alone.
func writeFiles(dir string, files []file) error {
	for _, f := range files {
		target := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(target, f.content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeTree draws paths (slash-separated, relative to root) as `tree` does.
func writeTree(w io.Writer, root string, paths []string) error {
	type node struct {
		children map[string]*node
	}
	top := &node{children: map[string]*node{}}
	for _, p := range paths {
		n := top
		for _, part := range strings.Split(p, "/") {
			child, ok := n.children[part]
			if !ok {
				child = &node{children: map[string]*node{}}
				n.children[part] = child
			}
			n = child
		}
	}
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(filepath.ToSlash(root), "/") + "/\n")
	var draw func(n *node, indent string)
	draw = func(n *node, indent string) {
		names := make([]string, 0, len(n.children))
		for name := range n.children {
			names = append(names, name)
		}
		slices.Sort(names)
		for i, name := range names {
			child := n.children[name]
			branch, next := "├── ", "│   "
			if i == len(names)-1 {
				branch, next = "└── ", "    "
			}
			label := name
			if len(child.children) > 0 {
				label += "/"
			}
			b.WriteString(indent + branch + label + "\n")
			draw(child, indent+next)
		}
	}
	draw(top, "")
	_, err := io.WriteString(w, b.String())
	return err
}
