package appliance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/store"
)

// dispatch is a Discord gateway dispatch as the bot forwards it:
// {"op": 0, "t": "...", "s": n, "d": {...}}. Only t and d matter.
type dispatch struct {
	T string          `json:"t"`
	D json.RawMessage `json:"d"`
}

type voiceStateUpdate struct {
	GuildID   protocol.ID `json:"guild_id"`
	ChannelID protocol.ID `json:"channel_id"`
	UserID    protocol.ID `json:"user_id"`
	SessionID string      `json:"session_id"`
}

type voiceServerUpdate struct {
	GuildID  protocol.ID `json:"guild_id"`
	Token    string      `json:"token"`
	Endpoint *string     `json:"endpoint"`
}

type readyEvent struct {
	SessionID string `json:"session_id"`
}

// DiscordEvent handles a DISCORD_EVENT (node-protocol.md section 4): READY
// and RESUME give the session id; the bot's own VOICE_STATE_UPDATE gives a
// guild's channel and session; VOICE_SERVER_UPDATE gives the token and
// endpoint and (re)connects. Other dispatches are ignored.
func (m *Manager) DiscordEvent(raw json.RawMessage) error {
	var ev dispatch
	if err := protocol.DecodeData(raw, &ev); err != nil {
		return err
	}
	if ev.T == "" {
		return badRequest("DISCORD_EVENT needs the dispatch's t and d")
	}
	d := bytes.TrimSpace(ev.D)
	switch ev.T {
	case "READY", "RESUME", "RESUMED":
		var r readyEvent
		if err := protocol.DecodeData(d, &r); err != nil {
			return fmt.Errorf("%s: %w", ev.T, err)
		}
		if r.SessionID == "" {
			return nil // RESUMED carries none; keep the one we have
		}
		return m.setSessionID(r.SessionID)
	case "VOICE_STATE_UPDATE":
		var v voiceStateUpdate
		if err := protocol.DecodeData(d, &v); err != nil {
			return fmt.Errorf("VOICE_STATE_UPDATE: %w", err)
		}
		return m.voiceStateUpdate(v)
	case "VOICE_SERVER_UPDATE":
		var v voiceServerUpdate
		if err := protocol.DecodeData(d, &v); err != nil {
			return fmt.Errorf("VOICE_SERVER_UPDATE: %w", err)
		}
		return m.voiceServerUpdate(v)
	}
	return nil
}

func (m *Manager) setSessionID(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessionID == id {
		return nil
	}
	prev := m.sessionID
	m.sessionID = id
	if err := m.node.update(func(tx *store.Tx) error { return tx.PutManager(m.record()) }); err != nil {
		m.sessionID = prev
		return err
	}
	return nil
}

func (m *Manager) voiceStateUpdate(v voiceStateUpdate) error {
	if v.GuildID == "" {
		return badRequest("VOICE_STATE_UPDATE without guild_id")
	}
	if string(v.UserID) != m.userID {
		return nil // another member's voice state
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destroyed {
		return ErrManagerNotFound
	}
	vc, ok := m.voiceClients[string(v.GuildID)]
	if !ok {
		if v.ChannelID == "" {
			return nil // leaving a guild we never joined
		}
		vc, err := m.newVoiceClientLocked(string(v.GuildID), string(v.ChannelID), v.SessionID)
		if err != nil {
			return err
		}
		vc.emit(protocol.EventVCChannelEdited, map[string]any{"channel_id": v.ChannelID})
		vc.emit(protocol.EventVCCreated, map[string]any{"id": vc.id})
		return nil
	}
	prevChannel, prevSession := vc.channelID, vc.sessionID
	vc.channelID = string(v.ChannelID)
	if v.SessionID != "" {
		vc.sessionID = v.SessionID
	}
	if err := vc.save(); err != nil {
		vc.channelID, vc.sessionID = prevChannel, prevSession
		return err
	}
	vc.emit(protocol.EventVCChannelEdited, map[string]any{"channel_id": v.ChannelID})
	switch {
	case vc.channelID == "":
		vc.disconnectLocked() // the bot left the channel
	case vc.sessionID != prevSession:
		vc.connectLocked() // a new voice session
	case vc.channelID != prevChannel:
		// A move: the channel id is the DAVE group id, so the connection
		// follows the bot with a fresh Identify.
		vc.followChannelLocked()
	}
	return nil
}

func (m *Manager) voiceServerUpdate(v voiceServerUpdate) error {
	if v.GuildID == "" {
		return badRequest("VOICE_SERVER_UPDATE without guild_id")
	}
	if v.Token == "" {
		return badRequest("VOICE_SERVER_UPDATE without token")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destroyed {
		return ErrManagerNotFound
	}
	vc, ok := m.voiceClients[string(v.GuildID)]
	if !ok {
		var err error
		if vc, err = m.newVoiceClientLocked(string(v.GuildID), "", ""); err != nil {
			return err
		}
		vc.emit(protocol.EventVCCreated, map[string]any{"id": vc.id})
	}
	prevToken, prevEndpoint, prevDeadline := vc.token, vc.endpoint, vc.deadline
	vc.token, vc.endpoint, vc.deadline = v.Token, "", time.Time{}
	if v.Endpoint != nil {
		vc.endpoint = *v.Endpoint
	}
	if vc.sessionID == "" {
		vc.sessionID = m.sessionID
	}
	if err := vc.save(); err != nil {
		vc.token, vc.endpoint, vc.deadline = prevToken, prevEndpoint, prevDeadline
		return err
	}
	// Each update is a new voice session; a null endpoint means "wait for
	// the next one" (connectLocked stops the old connection and waits).
	vc.connectLocked()
	return nil
}
