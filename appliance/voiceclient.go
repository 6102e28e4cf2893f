package appliance

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/discodo-go/discodo/appliance/player"
	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/store"
)

// VoiceClient is one guild's voice client: its Discord voice session, its
// queue, options and context. Its fields are guarded by the manager's mu.
type VoiceClient struct {
	m       *Manager
	id      string
	guildID string

	channelID string
	sessionID string
	token     string
	endpoint  string

	queue   []entry
	options Options
	context json.RawMessage
	paused  bool

	// current is the source being heard (popped from the queue);
	// resume is where a restored one continues, until the player starts.
	current    *protocol.AudioData
	currentKey string // its queue key ("current:<tag>" for a restored one)
	resume     *player.Item
	play       *playing // the player, once the voice client first connected

	// The running Discord voice connection, if any.
	voice     *voiceRun
	connected bool
	// deadline: after a voice connection ended for good, the voice client
	// waits VC_TIMEOUT for a new VOICE_SERVER_UPDATE, then is destroyed.
	deadline time.Time
	gone     bool // destroyed: every later call fails with ErrVoiceClientNotFound
}

// entry is one queue item with its store key and encoded bytes.
type entry struct {
	key  string
	data protocol.AudioData
	enc  []byte
}

func newEntry(a protocol.AudioData) (entry, error) {
	enc, err := json.Marshal(a)
	if err != nil {
		return entry{}, fmt.Errorf("encoding source %q: %w", a.Tag, err)
	}
	return entry{key: protocol.NewUUID(), data: a, enc: enc}, nil
}

// ID returns the voice client id (a uuid, stable across restarts).
func (vc *VoiceClient) ID() string { return vc.id }

// GuildID returns the guild id.
func (vc *VoiceClient) GuildID() string { return vc.guildID }

func (vc *VoiceClient) record() (store.VoiceClient, error) {
	opts, err := json.Marshal(vc.options)
	if err != nil {
		return store.VoiceClient{}, err
	}
	var cur []byte
	if vc.current != nil {
		if cur, err = json.Marshal(vc.current); err != nil {
			return store.VoiceClient{}, err
		}
	}
	return store.VoiceClient{
		ID: vc.id, GuildID: vc.guildID, ChannelID: vc.channelID,
		SessionID: vc.sessionID, Token: vc.token, Endpoint: vc.endpoint,
		Options: opts, Context: vc.context, Paused: vc.paused, Deadline: vc.deadline,
		Current: cur,
	}, nil
}

func (m *Manager) restoreVoiceClient(svc store.StoredVoiceClient) (*VoiceClient, error) {
	vc := &VoiceClient{
		m: m, id: svc.ID, guildID: svc.GuildID, channelID: svc.ChannelID,
		sessionID: svc.SessionID, token: svc.Token, endpoint: svc.Endpoint,
		options: *m.node.cfg.DefaultOptions, context: svc.Context, paused: svc.Paused,
		deadline: svc.Deadline,
	}
	if len(svc.Options) > 0 {
		if err := json.Unmarshal(svc.Options, &vc.options); err != nil {
			return nil, fmt.Errorf("options: %w", err)
		}
	}
	if len(vc.context) == 0 {
		vc.context = json.RawMessage("{}")
	}
	if len(svc.Current) > 0 {
		var a protocol.AudioData
		if err := json.Unmarshal(svc.Current, &a); err != nil {
			m.node.log.Error("skipping an unreadable stored current source", "guild", svc.GuildID, "err", err)
		} else {
			// Continue from the checkpoint (a little before it when the
			// checkpoint was for another source: from its start position).
			vc.current, vc.currentKey = &a, "current:"+a.Tag
			it := item(vc.currentKey, a)
			if svc.Position.SourceTag == a.Tag {
				it.StartPosition = svc.Position.Offset
			}
			vc.resume = &it
		}
	}
	for _, it := range svc.Queue {
		var a protocol.AudioData
		if err := json.Unmarshal(it.Data, &a); err != nil {
			m.node.log.Error("skipping an unreadable stored queue item", "guild", svc.GuildID, "key", it.Key, "err", err)
			continue
		}
		vc.queue = append(vc.queue, entry{key: it.Key, data: a, enc: it.Data})
	}
	return vc, nil
}

// lock takes the manager's lock and checks that the voice client still
// exists; callers defer the returned unlock.
func (vc *VoiceClient) lock() (func(), error) {
	vc.m.mu.Lock()
	if vc.gone || vc.m.destroyed {
		vc.m.mu.Unlock()
		return nil, fmt.Errorf("%w: guild %s", ErrVoiceClientNotFound, vc.guildID)
	}
	return vc.m.mu.Unlock, nil
}

// save persists the voice client record. m.mu is held.
func (vc *VoiceClient) save() error {
	rec, err := vc.record()
	if err != nil {
		return err
	}
	if err := vc.m.node.update(func(tx *store.Tx) error { return tx.PutVoiceClient(vc.m.tag, rec) }); err != nil {
		return fmt.Errorf("storing voice client %s: %w", vc.guildID, err)
	}
	return nil
}

// event builds an event's d: guild_id plus fields.
func (vc *VoiceClient) event(fields map[string]any) map[string]any {
	d := map[string]any{"guild_id": protocol.ID(vc.guildID)}
	for k, v := range fields {
		d[k] = v
	}
	return d
}

func (vc *VoiceClient) emit(op string, fields map[string]any) {
	vc.m.broadcast(op, vc.event(fields))
}

// state is getState's integer state. m.mu is held.
func (vc *VoiceClient) state() int {
	switch {
	case !vc.connected:
		return protocol.StateDisconnected
	case vc.current == nil && len(vc.queue) == 0:
		return protocol.StateStopped
	case vc.paused:
		return protocol.StatePaused
	}
	return protocol.StatePlaying
}

func (vc *VoiceClient) stateLocked() map[string]any {
	var current, duration, position, remaining any
	if vc.current != nil {
		s := vc.source(*vc.current, vc.currentKey)
		current, position, remaining = s, s.Position, remain(s)
		if s.Duration != nil {
			duration = *s.Duration
		}
	}
	return map[string]any{
		"id":          vc.id,
		"guild_id":    protocol.ID(vc.guildID),
		"channel_id":  protocol.ID(vc.channelID),
		"state":       vc.state(),
		"current":     current,
		"duration":    duration,
		"position":    position,
		"remain":      remaining,
		"remainQueue": len(vc.queue),
		"options":     vc.options,
		"context":     vc.context,
	}
}

func (vc *VoiceClient) entriesLocked() []json.RawMessage {
	out := make([]json.RawMessage, len(vc.queue))
	for i, e := range vc.queue {
		out[i] = e.enc
	}
	return out
}

// Entries returns the queue.
func (vc *VoiceClient) Entries() ([]json.RawMessage, error) {
	unlock, err := vc.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return vc.entriesLocked(), nil
}

// Options returns the player options.
func (vc *VoiceClient) Options() (Options, error) {
	unlock, err := vc.lock()
	if err != nil {
		return Options{}, err
	}
	defer unlock()
	return vc.options, nil
}

// SetOptions applies any subset of the options (POST /options) and returns
// all of them. A new filter chain is built first, outside the lock: a
// filter or parameter it refuses is a 400 naming them, and the previous
// chain stays.
func (vc *VoiceClient) SetOptions(ctx context.Context, body json.RawMessage) (Options, error) {
	next, err := applyOptions(Options{}, body)
	if err != nil {
		return Options{}, err
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(body, &fields)
	_, newFilter := fields["filter"]
	var chain filterChain
	if newFilter {
		canon, c, err := vc.m.node.checkFilter(ctx, next.Filter, vc.filterErrorLater)
		if err != nil {
			return Options{}, err
		}
		if c != nil {
			chain = c
		}
		next.Filter = canon
	}
	unlock, err := vc.lock()
	if err != nil {
		if chain != nil {
			chain.Close(ctx)
		}
		return Options{}, err
	}
	defer unlock()
	merged, _ := applyOptions(vc.options, body)
	if newFilter {
		merged.Filter = next.Filter
	}
	prev := vc.options
	vc.options = merged
	if err := vc.save(); err != nil {
		vc.options = prev
		if chain != nil {
			chain.Close(ctx)
		}
		return Options{}, err
	}
	if pl := vc.play; pl != nil {
		pl.p.SetVolume(merged.Volume)
		pl.p.SetCrossfade(seconds(merged.Crossfade))
		pl.p.SetAutoplay(merged.Autoplay)
		if newFilter {
			old := pl.chain
			pl.chain = chain
			if chain == nil {
				pl.p.SetFilter(nil)
			} else {
				pl.p.SetFilter(chain)
			}
			chain = nil
			if old != nil {
				old.Close(ctx) // SetFilter returned: the player no longer uses it
			}
		}
	}
	if chain != nil {
		chain.Close(ctx) // no player yet: it builds its own when it starts
	}
	return vc.options, nil
}

// Context returns the voice client's context object.
func (vc *VoiceClient) Context() (json.RawMessage, error) {
	unlock, err := vc.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return vc.context, nil
}

// SetContext replaces the context with a JSON object.
func (vc *VoiceClient) SetContext(raw json.RawMessage) (json.RawMessage, error) {
	ctx, err := protocol.NormalizeContext(raw)
	if err != nil {
		return nil, err
	}
	unlock, err := vc.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	prev := vc.context
	vc.context = ctx
	if err := vc.save(); err != nil {
		vc.context = prev
		return nil, err
	}
	return vc.context, nil
}

// Pause and Resume set the paused flag (persisted: a restart keeps it).
func (vc *VoiceClient) Pause() error  { return vc.setPaused(true) }
func (vc *VoiceClient) Resume() error { return vc.setPaused(false) }

func (vc *VoiceClient) setPaused(p bool) error {
	unlock, err := vc.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if vc.paused == p {
		return nil
	}
	vc.paused = p
	if err := vc.save(); err != nil {
		vc.paused = !p
		return err
	}
	if vc.play != nil {
		if p {
			vc.play.p.Pause()
		} else {
			vc.play.p.Resume()
		}
	}
	return nil
}
