package wasm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Limits of a chain, checked by ParseChain.
const (
	// MaxChainLength is the most filters one chain may hold.
	MaxChainLength = 16
	// MaxParams is the most flattened parameters one filter may get.
	MaxParams = 256
	// MaxParamName is the longest flattened parameter name: the size of
	// the name buffer the node allocates in every instance.
	MaxParamName = 256
	// maxDepth bounds the nesting of parameter objects and arrays.
	maxDepth = 8
)

// Param is one flattened numeric parameter, as set_param receives it.
type Param struct {
	Name  string
	Value float64
}

// FilterSpec is one slot of a chain: a filter name and its parameters in
// the order they were given.
type FilterSpec struct {
	Name   string
	Params []Param
	// Raw is the parameters' JSON as given (nil when built in Go); it is
	// what MarshalJSON writes back.
	Raw json.RawMessage
}

// ChainSpec is a parsed filter option: the filters, in the order they run.
// Its zero value is the empty chain. ChainSpec implements json.Marshaler and
// json.Unmarshaler, so it can sit in the node's options struct.
type ChainSpec struct {
	Filters []FilterSpec
}

// ParseChain parses the filter option of a voice client
// (node-protocol.md §7 "Options", wasm-filter-abi.md "Parameters"). It
// accepts
//
//	null or {} or []                                      the empty chain
//	{"equalizer": {"gains": [0.2, 0.1]}, "timescale": {"speed": 1.25}}
//	[{"name": "equalizer", "params": {"gains": [0.2, 0.1]}}, ...]
//
// keeping the order of the object's keys (which encoding/json maps lose),
// and flattens each filter's parameters into numbers:
//
//	{"volume": 0.5}                       volume = 0.5
//	{"gains": [0.2, 0.1]}                 gains.0 = 0.2, gains.1 = 0.1
//	{"a": {"b": 1, "c": [true]}}          a.b = 1, a.c.0 = 1
//	{"mono": false}                       mono = 0
//
// A filter's parameters may also be a bare number, shorthand for a parameter
// named like the filter (Lavalink's "volume": 1.2), or null for the
// defaults. Anything else (strings, nulls inside, non-finite numbers) is a
// *ParamError naming the filter and the parameter. A filter name may repeat:
// the filter then runs twice.
func ParseChain(raw json.RawMessage) (ChainSpec, error) {
	p := parser{raw: raw, dec: json.NewDecoder(bytes.NewReader(raw))}
	p.dec.UseNumber()
	spec, err := p.chain()
	if err != nil {
		return ChainSpec{}, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return ChainSpec{}, fmt.Errorf("%w: data after the chain", ErrInvalidChain)
	}
	return spec, nil
}

// UnmarshalJSON parses b with ParseChain.
func (s *ChainSpec) UnmarshalJSON(b []byte) error {
	spec, err := ParseChain(b)
	if err != nil {
		return err
	}
	*s = spec
	return nil
}

// MarshalJSON writes the chain in the ordered object form, or in the array
// form when a filter name repeats (an object cannot hold it twice).
func (s ChainSpec) MarshalJSON() ([]byte, error) {
	seen := make(map[string]bool, len(s.Filters))
	dup := false
	for _, f := range s.Filters {
		dup = dup || seen[f.Name]
		seen[f.Name] = true
	}
	var b bytes.Buffer
	if dup {
		b.WriteByte('[')
	} else {
		b.WriteByte('{')
	}
	for i, f := range s.Filters {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(f.Name)
		params := f.Raw
		if params == nil {
			params = paramsJSON(f.Params)
		}
		if dup {
			fmt.Fprintf(&b, `{"name":%s,"params":%s}`, name, params)
		} else {
			fmt.Fprintf(&b, `%s:%s`, name, params)
		}
	}
	if dup {
		b.WriteByte(']')
	} else {
		b.WriteByte('}')
	}
	return b.Bytes(), nil
}

// paramsJSON writes flattened parameters as one flat object.
func paramsJSON(params []Param) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range params {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(p.Name)
		b.Write(name)
		b.WriteByte(':')
		b.WriteString(strconv.FormatFloat(p.Value, 'g', -1, 64))
	}
	b.WriteByte('}')
	return b.Bytes()
}

// parser walks the option token by token.
type parser struct {
	raw json.RawMessage
	dec *json.Decoder
}

func (p *parser) token() (json.Token, error) {
	t, err := p.dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidChain, err)
	}
	return t, nil
}

func (p *parser) chain() (ChainSpec, error) {
	var spec ChainSpec
	t, err := p.token()
	if err != nil {
		return spec, err
	}
	switch t {
	case nil:
		return spec, nil
	case json.Delim('{'):
		for p.dec.More() {
			t, err := p.token()
			if err != nil {
				return spec, err
			}
			f, err := p.filter(t.(string))
			if err != nil {
				return spec, err
			}
			if spec.Filters, err = appendFilter(spec.Filters, f); err != nil {
				return spec, err
			}
		}
		_, err = p.token() // '}'
		return spec, err
	case json.Delim('['):
		for p.dec.More() {
			f, err := p.element()
			if err != nil {
				return spec, err
			}
			if spec.Filters, err = appendFilter(spec.Filters, f); err != nil {
				return spec, err
			}
		}
		_, err = p.token() // ']'
		return spec, err
	}
	return spec, fmt.Errorf("%w: want an object or an array, got %v", ErrInvalidChain, t)
}

func appendFilter(filters []FilterSpec, f FilterSpec) ([]FilterSpec, error) {
	if len(filters) == MaxChainLength {
		return filters, fmt.Errorf("%w: more than %d filters", ErrInvalidChain, MaxChainLength)
	}
	return append(filters, f), nil
}

// element parses {"name": "...", "params": ...} of the array form.
func (p *parser) element() (FilterSpec, error) {
	t, err := p.token()
	if err != nil {
		return FilterSpec{}, err
	}
	if t != json.Delim('{') {
		return FilterSpec{}, fmt.Errorf("%w: array element %v is not an object", ErrInvalidChain, t)
	}
	var (
		name      string
		hasName   bool
		paramsRaw json.RawMessage
	)
	for p.dec.More() {
		t, err := p.token()
		if err != nil {
			return FilterSpec{}, err
		}
		switch key := t.(string); key {
		case "name":
			t, err := p.token()
			if err != nil {
				return FilterSpec{}, err
			}
			if name, hasName = t.(string); !hasName {
				return FilterSpec{}, fmt.Errorf("%w: filter name %v is not a string", ErrInvalidChain, t)
			}
		case "params":
			// The name may come after the params: keep them raw and
			// flatten them once the element is complete.
			var v json.RawMessage
			if err := p.dec.Decode(&v); err != nil {
				return FilterSpec{}, fmt.Errorf("%w: %v", ErrInvalidChain, err)
			}
			paramsRaw = v
		default:
			return FilterSpec{}, fmt.Errorf("%w: unknown key %q in a filter (want name, params)", ErrInvalidChain, key)
		}
	}
	if _, err := p.token(); err != nil { // '}'
		return FilterSpec{}, err
	}
	if !hasName {
		return FilterSpec{}, fmt.Errorf("%w: a filter without a name", ErrInvalidChain)
	}
	if paramsRaw == nil {
		paramsRaw = json.RawMessage("null")
	}
	sub := parser{raw: paramsRaw, dec: json.NewDecoder(bytes.NewReader(paramsRaw))}
	sub.dec.UseNumber()
	return sub.filter(name)
}

// filter parses the parameters of the filter called name.
func (p *parser) filter(name string) (FilterSpec, error) {
	if name == "" || len(name) > 64 {
		return FilterSpec{}, fmt.Errorf("%w: filter name %q must have 1 to 64 bytes", ErrInvalidChain, name)
	}
	f := FilterSpec{Name: name}
	start := p.dec.InputOffset()
	t, err := p.token()
	if err != nil {
		return f, err
	}
	switch v := t.(type) {
	case nil:
	case json.Number:
		if err := f.add(name, v); err != nil {
			return f, err
		}
	case json.Delim:
		if v != '{' {
			return f, &ParamError{Filter: name, Param: "", Err: fmt.Errorf("%w: parameters must be an object", ErrParamType)}
		}
		if err := p.object(&f, "", 1); err != nil {
			return f, err
		}
	default:
		return f, &ParamError{Filter: name, Param: "", Err: fmt.Errorf("%w: parameters must be an object, got %v", ErrParamType, t)}
	}
	f.Raw = json.RawMessage(bytes.TrimLeft(p.raw[start:p.dec.InputOffset()], " \t\r\n:,"))
	return f, nil
}

// object flattens the members of an object whose '{' was read.
func (p *parser) object(f *FilterSpec, prefix string, depth int) error {
	for p.dec.More() {
		t, err := p.token()
		if err != nil {
			return err
		}
		if err := p.value(f, join(prefix, t.(string)), depth); err != nil {
			return err
		}
	}
	_, err := p.token() // '}'
	return err
}

// value flattens one parameter value named name.
func (p *parser) value(f *FilterSpec, name string, depth int) error {
	t, err := p.token()
	if err != nil {
		return err
	}
	switch v := t.(type) {
	case json.Number:
		return f.add(name, v)
	case bool:
		n := json.Number("0")
		if v {
			n = "1"
		}
		return f.add(name, n)
	case json.Delim:
		if depth == maxDepth {
			return &ParamError{Filter: f.Name, Param: name, Err: fmt.Errorf("%w: nested deeper than %d", ErrParamType, maxDepth)}
		}
		if v == '{' {
			return p.object(f, name, depth+1)
		}
		for i := 0; p.dec.More(); i++ {
			if err := p.value(f, join(name, strconv.Itoa(i)), depth+1); err != nil {
				return err
			}
		}
		_, err := p.token() // ']'
		return err
	case string:
		return &ParamError{Filter: f.Name, Param: name, Err: fmt.Errorf("%w: got the string %q", ErrParamType, v)}
	default: // null
		return &ParamError{Filter: f.Name, Param: name, Err: fmt.Errorf("%w: got null", ErrParamType)}
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// add appends one parameter after checking its name and value.
func (f *FilterSpec) add(name string, n json.Number) error {
	if len(f.Params) == MaxParams {
		return &ParamError{Filter: f.Name, Param: name, Err: fmt.Errorf("more than %d parameters", MaxParams)}
	}
	if name == "" || len(name) > MaxParamName {
		return &ParamError{Filter: f.Name, Param: name, Err: fmt.Errorf("a parameter name must have 1 to %d bytes", MaxParamName)}
	}
	v, err := strconv.ParseFloat(string(n), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsInf(v, 0) {
		return &ParamError{Filter: f.Name, Param: name, Err: fmt.Errorf("%w: %s is not a finite number", ErrParamRange, n)}
	}
	f.Params = append(f.Params, Param{Name: name, Value: v})
	return nil
}
