package appliance

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/store"
)

// Manager is a client manager: one bot session tag, the sockets watching
// it, and its voice clients by guild.
type Manager struct {
	node    *Node
	tag     string
	userID  string
	shardID string

	mu           sync.Mutex
	sessionID    string
	subs         map[Subscriber]struct{}
	deadline     time.Time // zero while a socket is identified
	voiceClients map[string]*VoiceClient
	destroyed    bool
	// held keeps the VC_ERRORs raised while no socket watched (a voice
	// connection restored at boot that Discord refused); the next socket
	// to identify gets them after RESUMED.
	held [][]byte
}

// Tag returns the manager's session tag.
func (m *Manager) Tag() string { return m.tag }

func (m *Manager) record() store.Manager {
	return store.Manager{Tag: m.tag, UserID: m.userID, ShardID: m.shardID, SessionID: m.sessionID, Deadline: m.deadline}
}

// Leave detaches a socket. When it was the last one, the VC_TIMEOUT
// countdown starts (and is persisted).
func (m *Manager) Leave(sub Subscriber) {
	n := m.node
	n.mu.Lock()
	defer n.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.subs[sub]; !ok {
		return
	}
	delete(m.subs, sub)
	if len(m.subs) > 0 || m.destroyed {
		return
	}
	m.deadline = time.Now().Add(n.cfg.VCTimeout)
	if err := n.update(func(tx *store.Tx) error { return tx.PutManager(m.record()) }); err != nil {
		// Memory keeps the deadline; after a restart without this record
		// the tag gets start-up + VC_TIMEOUT, which is later, never earlier.
		n.log.Error("storing the VC_TIMEOUT deadline", "tag", m.tag, "err", err)
	}
	n.log.Info("last socket left: counting down VC_TIMEOUT", "tag", m.tag, "deadline", m.deadline)
	n.poke()
}

// maxHeld bounds the events kept for a manager without sockets.
const maxHeld = 64

// broadcast encodes an event once and queues it on every socket. m.mu is
// held. With no socket, VC_ERROR is held for the next one.
func (m *Manager) broadcast(op string, d any) {
	if len(m.subs) == 0 && op != protocol.EventVCError {
		return
	}
	b, err := protocol.Encode(op, d)
	if err != nil {
		m.node.log.Error("encoding an event", "op", op, "err", err)
		return
	}
	if len(b) > protocol.MaxFrameBytes {
		m.node.log.Error("dropping an event over the frame limit", "op", op, "bytes", len(b))
		return
	}
	if len(m.subs) == 0 {
		if len(m.held) < maxHeld {
			m.held = append(m.held, b)
		}
		return
	}
	for s := range m.subs {
		s.Send(b)
	}
}

// resumedLocked builds RESUMED's d in the configured form.
func (m *Manager) resumedLocked() any {
	guilds := make([]string, 0, len(m.voiceClients))
	for g := range m.voiceClients {
		guilds = append(guilds, g)
	}
	slices.Sort(guilds)
	if m.node.cfg.ResumedFormat == ResumedDiscodo3 {
		type entry struct {
			ID      string      `json:"id"`
			Channel protocol.ID `json:"channel"`
		}
		vcs := make(map[string]entry, len(guilds))
		for _, g := range guilds {
			vc := m.voiceClients[g]
			vcs[g] = entry{vc.id, protocol.ID(vc.channelID)}
		}
		return map[string]any{"voice_clients": vcs}
	}
	pairs := make([][2]protocol.ID, 0, len(guilds))
	for _, g := range guilds {
		pairs = append(pairs, [2]protocol.ID{protocol.ID(g), protocol.ID(m.voiceClients[g].channelID)})
	}
	return map[string]any{"voice_clients": pairs}
}

// VoiceClient returns the voice client of a guild.
func (m *Manager) VoiceClient(guild protocol.ID) (*VoiceClient, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.voiceClientLocked(guild)
}

func (m *Manager) voiceClientLocked(guild protocol.ID) (*VoiceClient, error) {
	if guild == "" {
		return nil, badRequest("guild_id is required")
	}
	vc, ok := m.voiceClients[string(guild)]
	if !ok || m.destroyed {
		return nil, fmt.Errorf("%w: no voice client for guild %s", ErrVoiceClientNotFound, guild)
	}
	return vc, nil
}

// DestroyVoiceClient is VC_DESTROY: it disconnects the guild's voice client,
// drops its queue and emits VC_DESTROYED.
func (m *Manager) DestroyVoiceClient(guild protocol.ID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	vc, err := m.voiceClientLocked(guild)
	if err != nil {
		return err
	}
	return m.destroyVoiceClientLocked(vc)
}

func (m *Manager) destroyVoiceClientLocked(vc *VoiceClient) error {
	if err := m.node.update(func(tx *store.Tx) error { return tx.DeleteVoiceClient(m.tag, vc.guildID) }); err != nil {
		return fmt.Errorf("deleting voice client %s: %w", vc.guildID, err)
	}
	vc.disconnectLocked()
	vc.stopPlayerLocked()
	vc.gone = true
	delete(m.voiceClients, vc.guildID)
	m.broadcast(protocol.EventVCDestroyed, vc.event(nil))
	return nil
}

// State returns getState's d for a guild.
func (m *Manager) State(guild protocol.ID) (any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vc, err := m.voiceClientLocked(guild)
	if err != nil {
		return nil, err
	}
	return vc.stateLocked(), nil
}

// Queue returns getQueue's d for a guild.
func (m *Manager) Queue(guild protocol.ID) (any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	vc, err := m.voiceClientLocked(guild)
	if err != nil {
		return nil, err
	}
	return map[string]any{"guild_id": protocol.ID(vc.guildID), "entries": vc.entriesLocked()}, nil
}

// newVoiceClientLocked creates and persists a voice client. m.mu is held.
func (m *Manager) newVoiceClientLocked(guild, channel, sessionID string) (*VoiceClient, error) {
	if sessionID == "" {
		sessionID = m.sessionID
	}
	opts := *m.node.cfg.DefaultOptions
	vc := &VoiceClient{
		m:         m,
		id:        protocol.NewUUID(),
		guildID:   guild,
		channelID: channel,
		sessionID: sessionID,
		options:   opts,
		context:   json.RawMessage("{}"),
	}
	rec, err := vc.record()
	if err != nil {
		return nil, err
	}
	if err := m.node.update(func(tx *store.Tx) error { return tx.PutVoiceClient(m.tag, rec) }); err != nil {
		return nil, fmt.Errorf("storing voice client %s: %w", guild, err)
	}
	m.voiceClients[guild] = vc
	return vc, nil
}
