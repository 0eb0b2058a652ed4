// Package ui holds the web console's files (HTML, CSS and JavaScript
// modules), embedded in the binary. pkg/api serves them at /ui/; there is
// no build step and nothing is loaded from anywhere else.
package ui
