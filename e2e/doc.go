// Package e2e holds the end-to-end tests: they build the micro binary and the
// example services, run them as a user would, and check what they print and
// how they exit.
package e2e
