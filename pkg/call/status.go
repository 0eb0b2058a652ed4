package call

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// StatusReport is a failed call's status in a form to print: the code, the
// message and the decoded google.rpc.Status details.
type StatusReport struct {
	Code    codes.Code     `json:"code"`
	Name    string         `json:"name"`
	Message string         `json:"message"`
	Details []StatusDetail `json:"details,omitempty"`
}

// StatusDetail is one detail of a status. Value is the detail in JSON when
// its type is known (google.rpc error details always are; others when the
// resolver knows them); otherwise it is empty and Error says why.
type StatusDetail struct {
	TypeURL string          `json:"@type"`
	Value   json.RawMessage `json:"value,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// DescribeStatus returns the status that err carries (an *RPCError, or any
// error status.FromError understands), with its details written as compact
// JSON using resolver (nil: the well-known and google.rpc types only). ok is
// false when err carries no status; the report then has code Unknown and
// err's text as message.
func DescribeStatus(err error, resolver Resolver) (report StatusReport, ok bool) {
	if resolver == nil {
		resolver = builtinResolver()
	}
	st, ok := statusOf(err)
	report = StatusReport{Code: st.Code(), Name: st.Code().String(), Message: st.Message()}
	marshal := protojson.MarshalOptions{Resolver: newFallbackResolver(resolver)}
	for _, detail := range st.Proto().GetDetails() {
		entry := StatusDetail{TypeURL: detail.GetTypeUrl()}
		mt, err := resolver.FindMessageByURL(detail.GetTypeUrl())
		switch {
		case errors.Is(err, protoregistry.NotFound):
			entry.Error = "unknown type"
		case err != nil:
			entry.Error = err.Error()
		default:
			msg := mt.New().Interface()
			if err := (proto.UnmarshalOptions{Resolver: resolver}).Unmarshal(detail.GetValue(), msg); err != nil {
				entry.Error = fmt.Sprintf("cannot decode: %v", err)
				break
			}
			value, err := marshal.Marshal(msg)
			if err != nil {
				entry.Error = fmt.Sprintf("cannot write as JSON: %v", err)
				break
			}
			entry.Value = compactJSON(value)
		}
		report.Details = append(report.Details, entry)
	}
	return report, ok
}

// statusOf finds the status in err: the innermost one, so that its message is
// the server's and not the text of the errors wrapping it.
func statusOf(err error) (*status.Status, bool) {
	var carrier interface{ GRPCStatus() *status.Status }
	if errors.As(err, &carrier) {
		if st := carrier.GRPCStatus(); st != nil {
			return st, true
		}
	}
	return status.New(codes.Unknown, fmt.Sprint(err)), false
}

func compactJSON(data []byte) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return data
	}
	return b.Bytes()
}

// String writes the report for a person, one item a line:
//
//	code: InvalidArgument (3)
//	message: name is required
//	detail: type.googleapis.com/google.rpc.BadRequest {"fieldViolations":[...]}
//	detail: type.googleapis.com/acme.Secret (unknown type)
func (r StatusReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "code: %s (%d)\nmessage: %s", r.Code, uint32(r.Code), r.Message)
	for _, d := range r.Details {
		if d.Value != nil {
			fmt.Fprintf(&b, "\ndetail: %s %s", d.TypeURL, d.Value)
		} else {
			fmt.Fprintf(&b, "\ndetail: %s (%s)", d.TypeURL, d.Error)
		}
	}
	return b.String()
}
