// Package handler implements the greeter.v1.Greeter example service: Hello
// (unary), Stream (server streaming), Collect (client streaming) and Chat
// (bidirectional streaming), and the handler of the greeter.greeted event
// (Events).
package handler
