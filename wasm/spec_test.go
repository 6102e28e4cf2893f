package wasm

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParseChain(t *testing.T) {
	type P = []Param
	for _, tc := range []struct {
		in   string
		want []FilterSpec // Raw not compared
	}{
		{`null`, nil},
		{`{}`, nil},
		{` [ ] `, nil},
		// Key order is kept, whatever it is.
		{`{"timescale": {"speed": 1.25}, "equalizer": {"gains": [0.2, -0.1]}, "volume": {"volume": 2}}`, []FilterSpec{
			{Name: "timescale", Params: P{{"speed", 1.25}}},
			{Name: "equalizer", Params: P{{"gains.0", 0.2}, {"gains.1", -0.1}}},
			{Name: "volume", Params: P{{"volume", 2}}},
		}},
		{`{"b": {}, "a": null, "c": {"z": 1, "y": 2}}`, []FilterSpec{
			{Name: "b"}, {Name: "a"}, {Name: "c", Params: P{{"z", 1}, {"y", 2}}},
		}},
		// Flattening: nesting, arrays in arrays, booleans, sparse arrays as objects.
		{`{"f": {"a": {"b": 1, "c": [true, false, [3]]}, "gains": {"3": 0.5}, "x.y": 1e-3}}`, []FilterSpec{
			{Name: "f", Params: P{{"a.b", 1}, {"a.c.0", 1}, {"a.c.1", 0}, {"a.c.2.0", 3}, {"gains.3", 0.5}, {"x.y", 0.001}}},
		}},
		// The array form, name and params in any order, repeats allowed.
		{`[{"params": {"volume": 0.5}, "name": "volume"}, {"name": "volume"}, {"name": "volume", "params": null}]`, []FilterSpec{
			{Name: "volume", Params: P{{"volume", 0.5}}}, {Name: "volume"}, {Name: "volume"},
		}},
		// A bare number is a parameter named like the filter (Lavalink's volume).
		{`{"volume": 1.2}`, []FilterSpec{{Name: "volume", Params: P{{"volume", 1.2}}}}},
	} {
		spec, err := ParseChain([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		for i := range spec.Filters {
			spec.Filters[i].Raw = nil
		}
		if !reflect.DeepEqual(spec.Filters, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.in, spec.Filters, tc.want)
		}
	}
}

func TestParseChainErrors(t *testing.T) {
	for _, tc := range []struct {
		in            string
		filter, param string // for a ParamError
		err           error
	}{
		{`"volume"`, "", "", ErrInvalidChain},
		{`{"volume": {"volume": 1}`, "", "", ErrInvalidChain},
		{`{"volume": {}} {}`, "", "", ErrInvalidChain},
		{`[1]`, "", "", ErrInvalidChain},
		{`[{"name": 1}]`, "", "", ErrInvalidChain},
		{`[{"params": {}}]`, "", "", ErrInvalidChain},
		{`[{"name": "a", "extra": 1}]`, "", "", ErrInvalidChain},
		{`{"": {}}`, "", "", ErrInvalidChain},
		{`{"` + strings.Repeat("a", 65) + `": {}}`, "", "", ErrInvalidChain},
		{`{` + strings.Repeat(`"v": {},`, MaxChainLength) + `"v": {}}`, "", "", ErrInvalidChain},
		{`{"volume": {"volume": "loud"}}`, "volume", "volume", ErrParamType},
		{`{"volume": {"volume": null}}`, "volume", "volume", ErrParamType},
		{`{"equalizer": {"gains": [0.1, "x"]}}`, "equalizer", "gains.1", ErrParamType},
		{`{"equalizer": {"a": {"b": {"c": null}}}}`, "equalizer", "a.b.c", ErrParamType},
		{`{"volume": "loud"}`, "volume", "", ErrParamType},
		{`{"volume": [1]}`, "volume", "", ErrParamType},
		{`{"volume": {"volume": 1e999}}`, "volume", "volume", ErrParamRange},
		{`[{"name": "eq", "params": {"g": [[[[[[[[[1]]]]]]]]]}}]`, "eq", "g.0.0.0.0.0.0.0", ErrParamType},
		{`{"f": {"` + strings.Repeat("n", MaxParamName+1) + `": 1}}`, "f", strings.Repeat("n", MaxParamName+1), nil},
	} {
		_, err := ParseChain([]byte(tc.in))
		if err == nil {
			t.Errorf("%s: no error", tc.in)
			continue
		}
		if tc.filter != "" {
			pe, ok := errors.AsType[*ParamError](err)
			if !ok || pe.Filter != tc.filter || pe.Param != tc.param {
				t.Errorf("%s: %v, want a ParamError for %q %q", tc.in, err, tc.filter, tc.param)
				continue
			}
			if !strings.Contains(err.Error(), `"`+tc.filter+`"`) {
				t.Errorf("%s: %q does not name the filter", tc.in, err)
			}
		}
		if tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.in, err, tc.err)
		}
	}
}

func TestChainSpecJSON(t *testing.T) {
	in := `{"timescale":{"speed": 1.25},"equalizer":{"gains":[0.2,-0.1]}}`
	var spec ChainSpec
	if err := json.Unmarshal([]byte(in), &spec); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"timescale":{"speed":1.25},"equalizer":{"gains":[0.2,-0.1]}}`; string(out) != want {
		t.Errorf("Marshal = %s, want %s", out, want)
	}
	// Repeated names come back in the array form; specs built in Go
	// marshal their flattened parameters.
	spec = ChainSpec{Filters: []FilterSpec{{Name: "volume", Params: []Param{{"volume", 0.5}}}, {Name: "volume"}}}
	out, _ = json.Marshal(spec)
	if want := `[{"name":"volume","params":{"volume":0.5}},{"name":"volume","params":{}}]`; string(out) != want {
		t.Errorf("Marshal = %s, want %s", out, want)
	}
}

func FuzzParseChain(f *testing.F) {
	for _, s := range []string{
		`{"equalizer": {"gains": [0.2, 0.15, 0, 1, -0.25]}, "timescale": {"speed": 1.25}}`,
		`[{"name": "volume", "params": {"volume": 0.5}}, {"params": {"a": {"b": [true]}}, "name": "x"}]`,
		`{"volume": 1.2, "lowPass": null, "karaoke": {}}`,
		`{"a": {"b": {"c": {"d": [[[1e308, -0, 5e-324]]]}}}}`,
		`[{"name": "v"}, {"name": "v"}]`,
		`{"v": {"x": "y"}}`, `[`, `{"a":`, `nul`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		spec, err := ParseChain(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidChain) && !errors.As(err, new(*ParamError)) {
				t.Fatalf("%q: error %v is neither ErrInvalidChain nor a ParamError", b, err)
			}
			return
		}
		if len(spec.Filters) > MaxChainLength {
			t.Fatalf("%d filters", len(spec.Filters))
		}
		for _, fs := range spec.Filters {
			if fs.Name == "" || len(fs.Name) > 64 || len(fs.Params) > MaxParams {
				t.Fatalf("filter %q with %d params", fs.Name, len(fs.Params))
			}
			for _, p := range fs.Params {
				if p.Name == "" || len(p.Name) > MaxParamName || math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
					t.Fatalf("param %q = %v", p.Name, p.Value)
				}
			}
		}
		// What Marshal writes parses back to the same chain.
		out, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseChain(out)
		if err != nil {
			t.Fatalf("%q -> %s: %v", b, out, err)
		}
		for i := range spec.Filters {
			spec.Filters[i].Raw, again.Filters[i].Raw = nil, nil
		}
		if !reflect.DeepEqual(spec, again) {
			t.Fatalf("%q -> %s -> %+v, want %+v", b, out, again, spec)
		}
	})
}
