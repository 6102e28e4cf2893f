package appliance

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
)

// Limits of the options (node-protocol.md section 7 says ≥ 0; the upper
// bounds are ours: Lavalink's volume filter stops at 5, and a crossfade
// longer than a minute is a typo, not a choice).
const (
	MaxVolume    = 5.0
	MaxCrossfade = 60.0
)

// Options are a voice client's player options.
type Options struct {
	Autoplay  bool            `json:"autoplay"`
	Volume    float64         `json:"volume"`
	Crossfade float64         `json:"crossfade"`
	Filter    json.RawMessage `json:"filter"`
}

// MarshalJSON writes {} for an empty filter chain (discodo's default).
func (o Options) MarshalJSON() ([]byte, error) {
	type plain Options
	if len(bytes.TrimSpace(o.Filter)) == 0 || bytes.Equal(bytes.TrimSpace(o.Filter), []byte("null")) {
		o.Filter = json.RawMessage("{}")
	}
	return json.Marshal(plain(o))
}

// maxFilterBytes bounds the filter option, so that getState always fits a
// frame.
const maxFilterBytes = 16 << 10

var optionNames = []string{"autoplay", "volume", "crossfade", "filter"}

// applyOptions returns o changed by a POST /options body: any subset of the
// options. Unknown names and values of the wrong type or range are refused
// with ErrBadRequest naming the option; o itself is never changed. The
// filter chain is only checked for shape here: the node builds it to check
// its filters and parameters.
func applyOptions(o Options, body json.RawMessage) (Options, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return o, badRequest("options must be a JSON object with any of %s", strings.Join(optionNames, ", "))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return o, badRequest("options: %v", err)
	}
	for name := range fields {
		if !slices.Contains(optionNames, name) {
			return o, badRequest("unknown option %q; options are %s", name, strings.Join(optionNames, ", "))
		}
	}
	if raw, ok := fields["autoplay"]; ok {
		if err := json.Unmarshal(raw, &o.Autoplay); err != nil {
			return o, badRequest("autoplay must be true or false")
		}
	}
	var err error
	if raw, ok := fields["volume"]; ok {
		if o.Volume, err = number("volume", raw, 0, MaxVolume); err != nil {
			return o, err
		}
	}
	if raw, ok := fields["crossfade"]; ok {
		if o.Crossfade, err = number("crossfade", raw, 0, MaxCrossfade); err != nil {
			return o, err
		}
	}
	if raw, ok := fields["filter"]; ok {
		raw = bytes.TrimSpace(raw)
		switch {
		case bytes.Equal(raw, []byte("null")):
			raw = json.RawMessage("{}")
		case raw[0] != '{' && raw[0] != '[':
			return o, badRequest("filter must be an object {\"<name>\": {params}} or an array [{\"name\", \"params\"}]")
		case len(raw) > maxFilterBytes:
			return o, badRequest("filter is %d bytes; the limit is %d", len(raw), maxFilterBytes)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return o, badRequest("filter: %v", err)
		}
		o.Filter = buf.Bytes()
	}
	return o, nil
}

func number(name string, raw json.RawMessage, lo, hi float64) (float64, error) {
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, badRequest("%s must be a number", name)
	}
	if math.IsNaN(v) || v < lo || v > hi {
		return 0, badRequest("%s must be between %g and %g, not %g", name, lo, hi, v)
	}
	return v, nil
}
