// Package mcp serves the services of a registry as Model Context Protocol
// tools, for AI agents: one tool per endpoint of every registered service,
// with JSON Schemas made from the endpoints' protobuf descriptors (or, for
// services without descriptors, from the field lists of their registry
// records), and built-in tools to list, describe and health-check services
// and, when allowed, to publish and read broker messages.
//
// A Server is built on the official Go SDK (github.com/modelcontextprotocol/go-sdk)
// and serves over any of its transports: stdio for clients that spawn it,
// streamable HTTP (Server.HTTPHandler) for the others. It follows the
// registry's watch and tells connected clients when the tool list changes
// (notifications/tools/list_changed).
//
// The Server makes calls through a Caller, a small interface defined here so
// that any client can stand behind it: the micro command adapts its call
// client to it. Tool descriptions come from the services' own proto comments
// and registry records, which anyone who can register writes: they are
// untrusted text for an agent. Options.Descriptions drops them, and every
// description is capped in length and stripped of control characters.
//
// Options.Allow and Options.Deny choose the endpoints served, and
// Options.ReadOnly keeps only those whose proto options say they have no
// side effects or are idempotent.
package mcp
