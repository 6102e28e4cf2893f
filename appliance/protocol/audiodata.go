package protocol

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Limits applied to AudioData on the way in (section 1: no frame over 1 MiB,
// so that getQueue always fits).
const (
	MaxDescriptionBytes = 1 << 10  // description is trimmed to 1 KiB
	MaxTitleBytes       = 1 << 10  // title is trimmed to 1 KiB
	MaxItemBytes        = 16 << 10 // an encoded item larger than this is refused
	MaxTagBytes         = 128
	MaxContextBytes     = 16 << 10 // a context object, encoded
)

// Text is a nullable string field: a JSON string or null.
type Text struct {
	S     string
	Valid bool
}

// T makes a valid Text.
func T(s string) Text { return Text{S: s, Valid: true} }

func (t *Text) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*t = Text{}
	if s != nil {
		*t = T(*s)
	}
	return nil
}

// LooseText is Text that also accepts a number, kept as written: some
// extractors and bots give numeric ids.
type LooseText struct{ Text }

func (t *LooseText) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] == '"' || b[0] == 'n' {
		return t.Text.UnmarshalJSON(b)
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("expected a string or a number, not %s", truncate(string(b), 20))
	}
	t.Text = T(n.String())
	return nil
}

func (t Text) MarshalJSON() ([]byte, error) {
	if !t.Valid {
		return []byte("null"), nil
	}
	return json.Marshal(t.S)
}

// AudioData is a queue entry (section 7). Every field is always sent
// (discodo's clients index them directly); absent ones are null, false or {}.
type AudioData struct {
	Type          string          `json:"_type"`
	Tag           string          `json:"tag"`
	ID            LooseText       `json:"id"`
	Title         Text            `json:"title"`
	WebpageURL    Text            `json:"webpage_url"`
	Thumbnail     Text            `json:"thumbnail"`
	URL           Text            `json:"url"`
	Duration      *float64        `json:"duration"`
	IsLive        bool            `json:"is_live"`
	IsFile        bool            `json:"is_file"`
	Uploader      Text            `json:"uploader"`
	Description   Text            `json:"description"`
	Subtitles     map[string]Text `json:"subtitles"`
	Chapters      json.RawMessage `json:"chapters"`
	Related       bool            `json:"related"`
	Context       json.RawMessage `json:"context"`
	StartPosition float64         `json:"start_position"`
}

// MarshalJSON always writes _type "AudioData" and {} for absent subtitles
// and context, whatever built the value.
func (a AudioData) MarshalJSON() ([]byte, error) {
	type plain AudioData
	return json.Marshal(plain(a.withDefaults()))
}

func (a AudioData) withDefaults() AudioData {
	a.Type = "AudioData"
	if a.Subtitles == nil {
		a.Subtitles = map[string]Text{}
	}
	if isNull(a.Context) {
		a.Context = json.RawMessage("{}")
	}
	return a
}

// AudioSource is the current source: AudioData plus playback facts.
type AudioSource struct {
	AudioData
	Seekable bool    `json:"seekable"`
	AsOf     float64 `json:"as_of"`    // node epoch seconds when Position was taken
	Position float64 `json:"position"` // seconds
}

// MarshalJSON sets _type, which AudioData's own marshalling would otherwise
// overwrite through the embedded field.
func (s AudioSource) MarshalJSON() ([]byte, error) {
	type plain AudioData
	return json.Marshal(struct {
		plain
		Type     string  `json:"_type"`
		Seekable bool    `json:"seekable"`
		AsOf     float64 `json:"as_of"`
		Position float64 `json:"position"`
	}{plain(s.AudioData.withDefaults()), "AudioSource", s.Seekable, s.AsOf, s.Position})
}

// audioDataIn is AudioData as a bot may post it: partial, or an AudioSource
// posted back (its position becomes start_position).
type audioDataIn struct {
	AudioData
	Position *float64 `json:"position"`
}

// DecodeAudioData parses and normalises one posted source: a full AudioData,
// an AudioSource posted back (resumes at its position), or a partial dict as
// an extractor returns it. It needs at least url or id, generates a tag when
// there is none, trims long text and refuses oversized or malformed entries
// with ErrBadRequest.
func DecodeAudioData(raw json.RawMessage) (AudioData, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return AudioData{}, fmt.Errorf("%w: a source must be an object with at least url or id", ErrBadRequest)
	}
	var in audioDataIn
	if err := json.Unmarshal(raw, &in); err != nil {
		return AudioData{}, fmt.Errorf("%w: source: %s", ErrBadRequest, describeJSONError(err))
	}
	a := in.AudioData
	if a.Type == "AudioSource" && in.Position != nil {
		a.StartPosition = *in.Position
	}
	a.Type = "AudioData"
	if (!a.URL.Valid || a.URL.S == "") && (!a.ID.Valid || a.ID.S == "") {
		return AudioData{}, fmt.Errorf("%w: a source needs url or id", ErrBadRequest)
	}
	if a.Tag == "" {
		a.Tag = NewUUID()
	}
	if len(a.Tag) > MaxTagBytes || strings.ContainsAny(a.Tag, "\n\x00") || !utf8.ValidString(a.Tag) {
		return AudioData{}, fmt.Errorf("%w: tag must be at most %d bytes of text without newlines", ErrBadRequest, MaxTagBytes)
	}
	if a.Duration != nil && (*a.Duration < 0 || math.IsInf(*a.Duration, 0)) {
		return AudioData{}, fmt.Errorf("%w: duration must be ≥ 0 or null, not %v", ErrBadRequest, *a.Duration)
	}
	if a.StartPosition < 0 {
		return AudioData{}, fmt.Errorf("%w: start_position must be ≥ 0, not %v", ErrBadRequest, a.StartPosition)
	}
	ctx, err := NormalizeContext(a.Context)
	if err != nil {
		return AudioData{}, err
	}
	a.Context = ctx
	if a.Subtitles == nil {
		a.Subtitles = map[string]Text{}
	}
	if isNull(a.Chapters) {
		a.Chapters = nil
	}
	a.Description.S = TrimUTF8(a.Description.S, MaxDescriptionBytes)
	a.Title.S = TrimUTF8(a.Title.S, MaxTitleBytes)
	if b, _ := json.Marshal(a); len(b) > MaxItemBytes {
		return AudioData{}, fmt.Errorf("%w: source %q encodes to %d bytes; the limit is %d", ErrBadRequest, a.Tag, len(b), MaxItemBytes)
	}
	return a, nil
}

// DecodeSources parses putSource's "source": one object or a list of them.
// list reports which form was given, so the answer can mirror it.
func DecodeSources(raw json.RawMessage) (items []AudioData, list bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var parts []json.RawMessage
		if err := json.Unmarshal(raw, &parts); err != nil {
			return nil, true, fmt.Errorf("%w: source: %s", ErrBadRequest, describeJSONError(err))
		}
		if len(parts) == 0 {
			return nil, true, fmt.Errorf("%w: source is an empty list", ErrBadRequest)
		}
		for i, p := range parts {
			a, err := DecodeAudioData(p)
			if err != nil {
				return nil, true, fmt.Errorf("source[%d]: %w", i, err)
			}
			items = append(items, a)
		}
		return items, true, nil
	}
	a, err := DecodeAudioData(raw)
	if err != nil {
		return nil, false, err
	}
	return []AudioData{a}, false, nil
}

// NormalizeContext checks that a context is a JSON object; null or absent
// becomes {}.
func NormalizeContext(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return json.RawMessage("{}"), nil
	}
	if raw[0] != '{' || !json.Valid(raw) {
		return nil, fmt.Errorf("%w: context must be a JSON object", ErrBadRequest)
	}
	if len(raw) > MaxContextBytes {
		return nil, fmt.Errorf("%w: context is %d bytes; the limit is %d", ErrBadRequest, len(raw), MaxContextBytes)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("%w: context: %v", ErrBadRequest, err)
	}
	return buf.Bytes(), nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// TrimUTF8 cuts s to at most n bytes without splitting a character.
func TrimUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// NewUUID returns a random version 4 UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
