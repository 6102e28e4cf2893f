package protocol_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/discodo-go/discodo/appliance/protocol"
)

func TestIDDecodesNumbersAndStringsWithoutFloats(t *testing.T) {
	for in, want := range map[string]protocol.ID{
		`18446744073709551615`: "18446744073709551615", // max uint64: float64 would round it
		`"852400327470727178"`: "852400327470727178",
		`852400327470727179`:   "852400327470727179",
		`"007"`:                "7",
		`null`:                 "",
	} {
		var id protocol.ID
		if err := json.Unmarshal([]byte(in), &id); err != nil || id != want {
			t.Errorf("%s -> %q, %v; want %q", in, id, err, want)
		}
	}
	for _, in := range []string{`1.5`, `-1`, `"abc"`, `"18446744073709551616"`, `1e3`, `true`, `{}`, `""`} {
		var id protocol.ID
		if err := json.Unmarshal([]byte(in), &id); !errors.Is(err, protocol.ErrBadID) {
			t.Errorf("%s: err = %v, want ErrBadID", in, err)
		}
	}
	b, _ := json.Marshal(struct{ ID protocol.ID }{"852400327470727178"})
	if string(b) != `{"ID":"852400327470727178"}` {
		t.Errorf("ids are sent as strings: %s", b)
	}
}

func TestDecodeFrame(t *testing.T) {
	f, err := protocol.DecodeFrame([]byte(` {"op":"HEARTBEAT","d":{"a":[1,2]}} `))
	if err != nil || f.Op != "HEARTBEAT" || string(f.D) != `{"a":[1,2]}` {
		t.Fatalf("%+v %v", f, err)
	}
	f, err = protocol.DecodeFrame([]byte(`{"op":"X","d":null}`))
	if err != nil || f.D != nil {
		t.Fatalf("null d: %+v %v", f, err)
	}
	for in, want := range map[string]error{
		`not json`:  protocol.ErrNotJSON,
		`[1,2]`:     protocol.ErrNotJSON,
		`{"op":`:    protocol.ErrNotJSON,
		`{"d":1}`:   protocol.ErrBadFrame,
		`{"op":5}`:  protocol.ErrBadFrame,
		`{"op":""}`: protocol.ErrBadFrame,
		``:          protocol.ErrNotJSON,
	} {
		if _, err := protocol.DecodeFrame([]byte(in)); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", in, err, want)
		}
	}
}

func TestEncodeNeverSendsNullD(t *testing.T) {
	b, _ := protocol.Encode("X", nil)
	if string(b) != `{"op":"X","d":{}}` {
		t.Errorf("nil d: %s", b)
	}
	b, _ = protocol.Encode("HEARTBEAT_ACK", json.RawMessage("null"))
	if string(b) != `{"op":"HEARTBEAT_ACK","d":null}` {
		t.Errorf("echoed null: %s", b)
	}
}

func TestDecodeAudioData(t *testing.T) {
	a, err := protocol.DecodeAudioData([]byte(`{"url":"http://x/a.ogg","title":"T","description":"` + strings.Repeat("é", 1000) + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Tag == "" || a.Type != "AudioData" || len(a.Description.S) > protocol.MaxDescriptionBytes || !strings.HasPrefix(a.Description.S, "é") {
		t.Errorf("normalised: tag %q type %q desc %d bytes", a.Tag, a.Type, len(a.Description.S))
	}
	b, _ := json.Marshal(a)
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"_type", "tag", "id", "title", "webpage_url", "thumbnail", "url", "duration", "is_live", "is_file", "uploader", "description", "subtitles", "chapters", "related", "context", "start_position"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %s missing from %s", k, b)
		}
	}
	if m["id"] != nil || m["is_live"] != false || len(m["context"].(map[string]any)) != 0 {
		t.Errorf("defaults: %s", b)
	}

	// An AudioSource posted back resumes at its position.
	a, err = protocol.DecodeAudioData([]byte(`{"_type":"AudioSource","tag":"t1","id":123,"position":42.5,"start_position":0,"seekable":true}`))
	if err != nil || a.StartPosition != 42.5 || a.Tag != "t1" || a.ID.S != "123" || a.Type != "AudioData" {
		t.Errorf("AudioSource posted back: %+v %v", a, err)
	}

	for _, in := range []string{
		`{}`, `{"title":"no url"}`, `[]`, `"x"`, `{"url":5.5e999}`,
		`{"url":"u","duration":-1}`, `{"url":"u","start_position":-3}`,
		`{"url":"u","context":[1]}`, `{"url":"u","is_live":"yes"}`,
		`{"url":"u","tag":"a\nb"}`, `{"url":"u","chapters":"` + strings.Repeat("x", 20000) + `"}`,
	} {
		if _, err := protocol.DecodeAudioData([]byte(in)); !errors.Is(err, protocol.ErrBadRequest) {
			t.Errorf("%.60s: err = %v, want ErrBadRequest", in, err)
		}
	}
}

func TestAudioSourceType(t *testing.T) {
	s := protocol.AudioSource{AudioData: protocol.AudioData{Tag: "x"}, Position: 3}
	b, _ := json.Marshal(s)
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["_type"] != "AudioSource" || m["position"] != 3.0 || m["tag"] != "x" {
		t.Errorf("%s", b)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{`{"op":"IDENTIFY","d":{"user_id":1}}`, `{"op":null}`, `{}`, `[`, `{"op":"a","d":[1,{"x":null}]}`, "\xff\xfe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := protocol.DecodeFrame(b)
		if err == nil && fr.Op == "" {
			t.Fatal("decoded a frame without op")
		}
		var id protocol.ID
		_ = json.Unmarshal(b, &id)
	})
}

func FuzzDecodeSources(f *testing.F) {
	for _, s := range []string{`{"url":"u"}`, `[{"id":"a"},{"url":"b","context":{"k":1}}]`, `{"_type":"AudioSource","position":1,"id":1}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		items, _, err := protocol.DecodeSources(b)
		if err != nil {
			if !errors.Is(err, protocol.ErrBadRequest) {
				t.Fatalf("error without ErrBadRequest: %v", err)
			}
			return
		}
		for _, a := range items {
			enc, err := json.Marshal(a)
			if err != nil || len(enc) > protocol.MaxItemBytes+64 {
				t.Fatalf("accepted item does not encode within limits: %d bytes, %v", len(enc), err)
			}
			if a.Tag == "" || a.Type != "AudioData" {
				t.Fatalf("not normalised: %+v", a)
			}
		}
	})
}
