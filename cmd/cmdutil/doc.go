// Package cmdutil is what every command shares: the Factory of lazily built
// dependencies, output helpers, and the errors that map to exit codes.
package cmdutil
