package api

import (
	"context"
	"strings"
)

// OpenAPI returns an OpenAPI 3.1 document of the go-micro routes of every
// registered service: from each service's descriptors, or from its registry
// endpoint records when it has none. Client and bidi streams are listed
// with their 501 answer.
func (g *Gateway) OpenAPI(ctx context.Context) (map[string]any, error) {
	list, err := g.services.listServices(ctx)
	if err != nil {
		return nil, err
	}
	s := newSchemas("#/components/schemas/")
	paths := map[string]any{}
	var tags []any
	done := map[string]bool{}
	for _, svc := range list {
		if done[svc.Name] {
			continue
		}
		done[svc.Name] = true
		records, err := g.services.records(ctx, svc.Name)
		if err != nil {
			continue
		}
		docs, source := g.describeEndpoints(ctx, svc.Name, records, s)
		tags = append(tags, map[string]any{"name": svc.Name, "description": "service " + svc.Name + " (schemas from its " + source + ")"})
		for _, doc := range docs {
			paths["/"+svc.Name+"/"+doc.Name] = map[string]any{"post": operation(svc.Name, doc)}
		}
	}
	s.defs["micro.Error"] = map[string]any{
		"type": "object",
		"properties": map[string]any{
			"code":    map[string]any{"type": "integer", "description": "the gRPC status code"},
			"status":  map[string]any{"type": "string", "description": "the code's name (NOT_FOUND)"},
			"message": map[string]any{"type": "string"},
			"details": map[string]any{"type": "array", "items": map[string]any{"type": "object"}, "description": "google.rpc.Status details, decoded, each with its @type"},
		},
		"required": []string{"code", "message"},
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "micro api",
			"version":     "1",
			"description": "Every registered service over HTTP: POST /{service}/{Service.Method} with JSON. Connect and gRPC-Web are served on /{package.Service}/{Method} too.",
		},
		"paths":      paths,
		"components": map[string]any{"schemas": s.defs},
	}
	if tags != nil {
		doc["tags"] = tags
	}
	if g.opts.AuthToken != "" {
		doc["components"].(map[string]any)["securitySchemes"] = map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}}
		doc["security"] = []any{map[string]any{"bearer": []any{}}}
	}
	return doc, nil
}

func operation(service string, doc EndpointDoc) map[string]any {
	errorResponse := map[string]any{
		"description": "the call failed: the gRPC status mapped to HTTP",
		"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/micro.Error"}}},
	}
	op := map[string]any{
		"operationId": service + "." + doc.Name,
		"tags":        []string{service},
		"summary":     service + " " + doc.Name + " (" + doc.Stream + ")",
		"requestBody": map[string]any{
			"required": false,
			"content":  map[string]any{"application/json": map[string]any{"schema": doc.Request}},
		},
	}
	if doc.Description != "" {
		op["description"] = doc.Description
	}
	if doc.Method != "" {
		op["x-grpc-method"] = doc.Method
	}
	op["x-micro-stream"] = doc.Stream
	responses := map[string]any{"default": errorResponse}
	switch doc.Stream {
	case "server":
		responses["200"] = map[string]any{
			"description": "the responses, one JSON object a line (NDJSON), or Server-Sent Events with Accept: text/event-stream",
			"content": map[string]any{
				"application/x-ndjson": map[string]any{"schema": doc.Response},
				"text/event-stream":    map[string]any{"schema": map[string]any{"type": "string"}},
			},
		}
	case "client", "bidi":
		responses["501"] = map[string]any{
			"description": strings.ToUpper(doc.Stream[:1]) + doc.Stream[1:] + " streaming is not served over HTTP: call it with gRPC (micro stream " + service + " " + doc.Name + ")",
			"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/micro.Error"}}},
		}
	default:
		responses["200"] = map[string]any{
			"description": "the response",
			"content":     map[string]any{"application/json": map[string]any{"schema": doc.Response}},
		}
	}
	op["responses"] = responses
	return op
}
