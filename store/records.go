package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// recordVersion is written into every record. Load refuses records with a
// higher version (written by a newer node) instead of misreading them.
const recordVersion = 1

// Manager is one client manager: a bot's session tag and what the node
// remembers of its Discord session.
type Manager struct {
	Tag       string `json:"tag"`
	UserID    string `json:"user_id"`
	ShardID   string `json:"shard_id,omitempty"` // "" when the bot gave none
	SessionID string `json:"session_id,omitempty"`
	// Deadline is when the manager is destroyed unless a socket identifies
	// with its tag first. Zero while a socket is identified.
	Deadline time.Time `json:"deadline,omitzero"`
}

// VoiceClient is one guild's voice client: what the Discord voice
// connection needs, and the player's settings. Options, Context and
// Current are opaque JSON owned by the node.
type VoiceClient struct {
	ID        string          `json:"id"`
	GuildID   string          `json:"guild_id"`
	ChannelID string          `json:"channel_id,omitempty"`
	SessionID string          `json:"session_id,omitempty"`
	Token     string          `json:"token,omitempty"`
	Endpoint  string          `json:"endpoint,omitempty"`
	Options   json.RawMessage `json:"options,omitempty"`
	Context   json.RawMessage `json:"context,omitempty"`
	Current   json.RawMessage `json:"current,omitempty"`
	Paused    bool            `json:"paused,omitempty"`
	// Deadline is when the voice client is destroyed unless a new
	// VOICE_SERVER_UPDATE arrives (set when its voice connection ended for
	// good). Zero otherwise.
	Deadline time.Time `json:"deadline,omitzero"`
}

// Position is a playback checkpoint: the current source (by its tag) was at
// Offset when the checkpoint was taken at At.
type Position struct {
	SourceTag string        `json:"source_tag"`
	Offset    time.Duration `json:"offset"`
	At        time.Time     `json:"at"`
}

// Item is one queue entry: a unique key (the source's tag) and its bytes.
type Item struct {
	Key  string
	Data []byte
}

// Filter is an uploaded WASM filter module.
type Filter struct {
	Name    string    `json:"name"`
	SHA256  string    `json:"sha256"`
	Module  []byte    `json:"module"`
	Created time.Time `json:"created"`
}

// Session is everything stored under one manager, as Load returns it.
type Session struct {
	Manager      Manager
	VoiceClients []StoredVoiceClient
}

// StoredVoiceClient is a voice client with its queue and checkpoint.
type StoredVoiceClient struct {
	VoiceClient
	Queue    []Item
	Position Position // zero when none was taken
}

// State is the whole store, as Load returns it.
type State struct {
	Sessions []Session
	Filters  []Filter
	// Problems lists records that could not be read; they were skipped.
	Problems []error
}

// encode wraps a record with its version: {"v":1, ...fields}.
func encode[T any](rec T) ([]byte, error) {
	b, err := json.Marshal(struct {
		V int `json:"v"`
		R T   `json:"r"`
	}{recordVersion, rec})
	if err != nil {
		return nil, fmt.Errorf("store: encoding %T: %w", rec, err)
	}
	return b, nil
}

func decode[T any](b []byte) (T, error) {
	var w struct {
		V int `json:"v"`
		R T   `json:"r"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		var zero T
		return zero, fmt.Errorf("store: decoding %T: %w", zero, err)
	}
	if w.V != recordVersion {
		var zero T
		return zero, fmt.Errorf("%w %d in %T (this node reads %d)", ErrRecordVersion, w.V, zero, recordVersion)
	}
	return w.R, nil
}
