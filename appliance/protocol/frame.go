package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Frame is one websocket message in either direction (section 1):
//
//	{"op": <string>, "d": <any, may be absent or null>}
//
// D aliases the decoded input; it is nil when d was absent.
type Frame struct {
	Op string          `json:"op"`
	D  json.RawMessage `json:"d"`
}

// DecodeFrame parses one text frame. It fails with ErrNotJSON for bytes that
// are not a JSON object and with ErrBadFrame for an object without a string
// op. It never panics, whatever the input (see FuzzDecodeFrame).
func DecodeFrame(data []byte) (Frame, error) {
	var raw struct {
		Op *json.RawMessage `json:"op"`
		D  json.RawMessage  `json:"d"`
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Frame{}, fmt.Errorf("%w: a frame is a JSON object {\"op\": ..., \"d\": ...}", ErrNotJSON)
	}
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return Frame{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	if raw.Op == nil {
		return Frame{}, fmt.Errorf("%w: no op", ErrBadFrame)
	}
	var op string
	if err := json.Unmarshal(*raw.Op, &op); err != nil {
		return Frame{}, fmt.Errorf("%w: op must be a string, got %s", ErrBadFrame, truncate(string(*raw.Op), 40))
	}
	if op == "" {
		return Frame{}, fmt.Errorf("%w: empty op", ErrBadFrame)
	}
	d := raw.D
	if bytes.Equal(bytes.TrimSpace(d), []byte("null")) {
		d = nil
	}
	return Frame{Op: op, D: d}, nil
}

// Encode marshals an outgoing frame. A nil d becomes {} (discodo.js throws
// on a null d); pass json.RawMessage("null") to send a null on purpose (a
// heartbeat echo).
func Encode(op string, d any) ([]byte, error) {
	if d == nil {
		d = struct{}{}
	}
	b, err := json.Marshal(struct {
		Op string `json:"op"`
		D  any    `json:"d"`
	}{op, d})
	if err != nil {
		return nil, fmt.Errorf("protocol: encoding %s: %w", op, err)
	}
	return b, nil
}

// DecodeData unmarshals d into v, turning JSON type errors into ErrBadRequest
// with the field that was wrong.
func DecodeData(d json.RawMessage, v any) error {
	if len(d) == 0 {
		d = []byte("{}")
	}
	if err := json.Unmarshal(d, v); err != nil {
		return fmt.Errorf("%w: %s", ErrBadRequest, describeJSONError(err))
	}
	return nil
}

func describeJSONError(err error) string {
	switch e := err.(type) {
	case *json.UnmarshalTypeError:
		if e.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", e.Field, jsonKind(e.Type.Kind().String()), e.Value)
		}
		return fmt.Sprintf("expected %s, not %s", jsonKind(e.Type.Kind().String()), e.Value)
	case *json.SyntaxError:
		return fmt.Sprintf("invalid JSON at byte %d: %v", e.Offset, e)
	}
	return err.Error()
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "float64", "float32", "int", "int64", "uint64", "int32", "uint32":
		return "a number"
	case "ptr":
		return "a value of another type"
	}
	return goKind
}
