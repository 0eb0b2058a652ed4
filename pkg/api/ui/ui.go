package ui

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Files returns the console's files: index.html, style.css and the
// JavaScript modules under js/.
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
