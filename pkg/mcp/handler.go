package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc/codes"

	"github.com/microtools/micro/pkg/call"
)

// Why the gathering of a server stream stopped early, as "stopped" says.
const (
	stoppedMaxMessages = "max-stream-messages"
	stoppedMaxBytes    = "max-response-bytes"
	stoppedTimeout     = "timeout"
)

// errStopGathering ends a server-streaming call from its response handler.
var errStopGathering = errors.New("mcp: enough messages gathered")

// endpointHandler is the handler of one endpoint tool: the arguments are
// the request, the answer the response (or the messages of a stream) as
// structured content and as JSON text; a failed call is a tool error.
func (s *Server) endpointHandler(t *endpointTool) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		body, err := requestBody(req.Params.Arguments, t.inputWrapped, streamsIn(t.info.Kind))
		if err != nil {
			return toolError(fmt.Sprintf("%s: %v", t.info.Name, err), nil), nil
		}
		callCtx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		defer cancel()
		r := &Request{Service: t.info.Service, Endpoint: t.call, Kind: t.info.Kind, Body: body, Headers: s.headers(), Protocol: t.protocol}
		if streamsOut(t.info.Kind) {
			return s.gather(ctx, callCtx, req, t, r), nil
		}
		var response json.RawMessage
		err = s.opts.Caller.Call(callCtx, r, func(msg json.RawMessage) error {
			if len(msg) > s.opts.MaxResponseBytes {
				return fmt.Errorf("the response of %d bytes is over the limit of %d (--max-response-bytes)", len(msg), s.opts.MaxResponseBytes)
			}
			response = msg
			return nil
		})
		if err != nil {
			return s.callError(t, err), nil
		}
		if len(response) == 0 {
			response = json.RawMessage("{}")
		}
		if t.outputWrapped {
			response, _ = json.Marshal(map[string]json.RawMessage{wrappedField: response})
		}
		return &sdk.CallToolResult{
			Content:           []sdk.Content{&sdk.TextContent{Text: string(response)}},
			StructuredContent: response,
		}, nil
	}
}

// requestBody is the JSON request of a call: the arguments object, its
// "value" for a request that is not an object, or the array of its
// "requests" for a stream of them.
func requestBody(args json.RawMessage, wrapped, stream bool) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(args)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		trimmed = []byte("{}")
	}
	if trimmed[0] != '{' {
		return nil, errors.New("the arguments are not a JSON object")
	}
	if stream {
		var obj struct {
			Requests []json.RawMessage `json:"requests"`
		}
		if err := json.Unmarshal(trimmed, &obj); err != nil {
			return nil, fmt.Errorf("the arguments need %q, an array of requests: %w", requestsField, err)
		}
		if obj.Requests == nil {
			return nil, fmt.Errorf("the arguments need %q, an array of requests", requestsField)
		}
		return json.Marshal(obj.Requests)
	}
	if !wrapped {
		return trimmed, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		return nil, fmt.Errorf("the arguments are not a JSON object: %w", err)
	}
	value, ok := obj[wrappedField]
	if !ok {
		return nil, fmt.Errorf("the arguments need %q", wrappedField)
	}
	return value, nil
}

// streamResult is the structured answer of a server-streaming tool.
type streamResult struct {
	Messages []json.RawMessage `json:"messages"`
	Count    int               `json:"count"`
	Complete bool              `json:"complete"`
	Stopped  string            `json:"stopped,omitempty"`
}

// gather calls a server-streaming endpoint and keeps its messages until the
// stream ends, MaxStreamMessages or MaxResponseBytes is reached, or the
// call's timeout runs out; each message is told to the client as a
// progress notification when it asked for them.
func (s *Server) gather(ctx, callCtx context.Context, req *sdk.CallToolRequest, t *endpointTool, r *Request) *sdk.CallToolResult {
	result := streamResult{Messages: []json.RawMessage{}}
	size := 0
	token := req.Params.GetProgressToken()
	err := s.opts.Caller.Call(callCtx, r, func(msg json.RawMessage) error {
		if size+len(msg) > s.opts.MaxResponseBytes {
			result.Stopped = stoppedMaxBytes
			return errStopGathering
		}
		size += len(msg) + 1
		result.Messages = append(result.Messages, msg)
		result.Count++
		if token != nil && req.Session != nil {
			_ = req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{
				ProgressToken: token,
				Progress:      float64(result.Count),
				Total:         float64(s.opts.MaxStreamMessages),
				Message:       fmt.Sprintf("%s: message %d", t.info.Name, result.Count),
			})
		}
		if result.Count >= s.opts.MaxStreamMessages {
			result.Stopped = stoppedMaxMessages
			return errStopGathering
		}
		return nil
	})
	switch {
	case err == nil:
		result.Complete = true
	case errors.Is(err, errStopGathering):
	case ctx.Err() == nil && (callCtx.Err() != nil || timedOut(err)):
		// The call's own timeout (which the server may report before the
		// local timer fires): answer with what came.
		result.Stopped = stoppedTimeout
	default:
		return s.callError(t, err)
	}
	data, err := json.Marshal(result)
	if err != nil {
		return toolError(fmt.Sprintf("%s: %v", t.info.Name, err), nil)
	}
	return &sdk.CallToolResult{
		Content:           []sdk.Content{&sdk.TextContent{Text: string(data)}},
		StructuredContent: json.RawMessage(data),
	}
}

// timedOut tells whether err is a deadline: the context's, or the
// DeadlineExceeded status the server answered with once its copy of the
// deadline passed.
func timedOut(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	report, ok := call.DescribeStatus(err, nil)
	return ok && report.Code == codes.DeadlineExceeded
}

// callError is the tool error of a failed call: a line that says what
// failed, then the status (code, message, decoded details) as JSON.
func (s *Server) callError(t *endpointTool, err error) *sdk.CallToolResult {
	report, isStatus := call.DescribeStatus(err, nil)
	var text string
	if isStatus {
		text = fmt.Sprintf("%s (%s %s) failed: %s (%d): %s", t.info.Name, t.info.Service, t.info.Endpoint, report.Name, uint32(report.Code), report.Message)
	} else {
		text = fmt.Sprintf("%s (%s %s) failed: %s", t.info.Name, t.info.Service, t.info.Endpoint, oneLine(err.Error()))
		report.Message = oneLine(err.Error())
	}
	return toolError(text, &report)
}

// toolError is a result with isError set: text, and the status as JSON
// when there is one.
func toolError(text string, report *call.StatusReport) *sdk.CallToolResult {
	content := []sdk.Content{&sdk.TextContent{Text: text}}
	if report != nil {
		if data, err := json.Marshal(map[string]any{"error": report}); err == nil {
			content = append(content, &sdk.TextContent{Text: string(data)})
		}
	}
	return &sdk.CallToolResult{IsError: true, Content: content}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
