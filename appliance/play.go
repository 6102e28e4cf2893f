package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/appliance/player"
	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/store"
	"github.com/discodo-go/discodo/wasm"
)

// A voice client's player lives as long as the voice client: it is made
// the first time the voice client connects (or at boot for a voice client
// that was playing) and stopped when the voice client is destroyed. It
// pulls nothing from the queue while no voice connection pulls frames from
// it (package player), so a disconnected voice client keeps its queue.
//
// The player never pops the queue itself: it peeks at the head, and the
// node pops the head when the source becomes audible (SourceStart) or
// fails (SourceTraceback). An entry is therefore never lost between being
// prepared and being heard, even across a crash.

// playing is the player of a voice client and what it needs.
type playing struct {
	p      *player.Player
	cancel context.CancelFunc
	done   chan struct{}
	chain  filterChain // the chain the player runs, nil for none
}

// filterChain is the WASM chain as the node holds it.
type filterChain interface {
	player.Filter
	Close(ctx context.Context) error
}

// queued is what a player Item carries back to the node: the queue entry.
type queued struct {
	key  string
	data protocol.AudioData
}

// startPlayerLocked makes and runs the voice client's player if it has
// none. resume is the source to continue from a checkpoint (a restart).
// m.mu is held.
func (vc *VoiceClient) startPlayerLocked(resume *player.Item) {
	n := vc.m.node
	if vc.play != nil || n.cfg.Sources == nil {
		return
	}
	host := &playerHost{vc: vc}
	p, err := player.New(player.Config{
		Host:        host,
		Opener:      n.cfg.Sources,
		Encoder:     n.cfg.Encoder,
		BufferLimit: n.cfg.BufferLimit,
		PreloadTime: n.cfg.PreloadTime,
		Volume:      vc.options.Volume,
		Crossfade:   seconds(vc.options.Crossfade),
		Autoplay:    vc.options.Autoplay,
		Paused:      vc.paused,
		Resume:      resume,
		Logger:      n.log.With("guild", vc.guildID),
	})
	if err != nil {
		n.log.Error("creating a player", "guild", vc.guildID, "err", err)
		return
	}
	if vc.options.Volume == 0 {
		p.SetVolume(0) // 0 means "default" to player.Config
	}
	ctx, cancel := context.WithCancel(n.life)
	pl := &playing{p: p, cancel: cancel, done: make(chan struct{})}
	vc.play = pl
	n.running.Add(2)
	go func() {
		defer n.running.Done()
		defer close(pl.done)
		if err := p.Run(ctx); err != nil {
			n.log.Error("a player stopped", "guild", vc.guildID, "err", err)
		}
	}()
	// The stored filter chain is built off the lock (instantiating WASM
	// takes milliseconds per filter) and handed over if nothing changed.
	filter := vc.options.Filter
	go func() {
		defer n.running.Done()
		chain := vc.buildChain(ctx, filter)
		if chain == nil {
			return
		}
		vc.m.mu.Lock()
		defer vc.m.mu.Unlock()
		if vc.play != pl || vc.gone || pl.chain != nil || string(vc.options.Filter) != string(filter) {
			chain.Close(context.Background()) // replaced meanwhile
			return
		}
		pl.chain = chain
		p.SetFilter(chain)
	}()
}

// buildChain builds a stored filter option's chain (at boot the filters
// were registered again first). A chain that no longer builds is reported
// with FILTER_ERROR and left out. No lock is held.
func (vc *VoiceClient) buildChain(ctx context.Context, filter json.RawMessage) filterChain {
	n := vc.m.node
	if len(filter) == 0 || string(filter) == "{}" || n.cfg.Filters == nil {
		return nil
	}
	_, chain, err := n.checkFilter(ctx, filter, vc.filterErrorLater)
	if err != nil {
		vc.filterErrorLater(chainNames(filter), err)
		return nil
	}
	if chain == nil {
		return nil
	}
	return chain
}

// chainNames names the filters of a chain option for FILTER_ERROR.
func chainNames(filter json.RawMessage) string {
	spec, err := wasm.ParseChain(filter)
	if err != nil {
		return "filter"
	}
	names := make([]string, len(spec.Filters))
	for i, f := range spec.Filters {
		names[i] = f.Name
	}
	return strings.Join(names, ",")
}

// stopPlayerLocked stops the player and closes its chain. m.mu is held;
// the player's goroutine may need m.mu to finish a Host call, so this does
// not wait for it (Node.Run waits for every player at the end).
func (vc *VoiceClient) stopPlayerLocked() {
	pl := vc.play
	if pl == nil {
		return
	}
	vc.play = nil
	vc.m.node.figures.retirePlayer(pl.p.Stats())
	pl.cancel()
	if pl.chain != nil {
		chain := pl.chain
		n := vc.m.node
		n.running.Add(1)
		go func() { // the chain is closed once the player is gone
			defer n.running.Done()
			<-pl.done
			chain.Close(context.Background())
		}()
	}
}

// item turns a queue entry into the player's Item.
func item(key string, a protocol.AudioData) player.Item {
	md := audio.Metadata{
		ID: a.ID.S, Title: a.Title.S, URL: a.URL.S, WebpageURL: a.WebpageURL.S, Thumbnail: a.Thumbnail.S,
		Uploader: a.Uploader.S, Description: a.Description.S, IsLive: a.IsLive, IsFile: a.IsFile,
	}
	if a.Duration != nil {
		md.Duration, md.HasDuration = seconds(*a.Duration), true
	}
	return player.Item{Tag: a.Tag, Source: md, StartPosition: seconds(a.StartPosition), Data: queued{key, a}}
}

// maxSeconds keeps huge offsets from overflowing a time.Duration (≈ 31
// years: past the end of any source, which is what such an offset means).
const maxSeconds = 1e9

func seconds(s float64) time.Duration {
	return time.Duration(max(0, min(s, maxSeconds)) * float64(time.Second))
}

// source builds the AudioSource of a queue entry that is (or was) heard;
// key is its queue key. Position, duration and seekability come from the
// player only while that very entry is audible (another entry may share
// its tag, and during a crossfade two are audible); a restored source not
// yet playing reports its checkpoint. m.mu is held.
func (vc *VoiceClient) source(a protocol.AudioData, key string) protocol.AudioSource {
	s := protocol.AudioSource{AudioData: a, Seekable: !a.IsLive, AsOf: float64(time.Now().UnixNano()) / 1e9}
	if vc.play != nil {
		if cur, ok := vc.play.p.Current(); ok {
			if q, _ := cur.Item.Data.(queued); q.key == key {
				s.Position = cur.Position.Seconds()
				s.Seekable = cur.Seekable
				if cur.HasDuration {
					d := cur.Duration.Seconds()
					s.Duration = &d
				}
				return s
			}
		}
	}
	if vc.resume != nil && key == vc.currentKey {
		s.Position = vc.resume.StartPosition.Seconds()
	}
	return s
}

// playerHost is the node's side of a player (player.Host).
type playerHost struct{ vc *VoiceClient }

func (h *playerHost) locked(fn func(vc *VoiceClient)) {
	vc := h.vc
	vc.m.mu.Lock()
	defer vc.m.mu.Unlock()
	if vc.gone {
		return
	}
	fn(vc)
}

func (h *playerHost) Peek() (it player.Item, ok bool) {
	h.locked(func(vc *VoiceClient) {
		if len(vc.queue) > 0 {
			it, ok = item(vc.queue[0].key, vc.queue[0].data), true
		}
	})
	return it, ok
}

// popIfHead pops the queue head when it is the entry of it. m.mu is held.
func (vc *VoiceClient) popIfHead(it player.Item) {
	if next, ok := vc.withoutHead(it); ok {
		if err := vc.commitQueueLocked(next, []queueEvent{{protocol.QueuePop, []any{0}}}); err != nil {
			vc.m.node.log.Error("popping the queue head", "guild", vc.guildID, "err", err)
		}
	}
}

// withoutHead returns the queue without its head when the head is the
// entry of it. m.mu is held.
func (vc *VoiceClient) withoutHead(it player.Item) ([]entry, bool) {
	q, _ := it.Data.(queued)
	if len(vc.queue) == 0 || vc.queue[0].key != q.key {
		return nil, false
	}
	return append([]entry(nil), vc.queue[1:]...), true
}

// SourceStart pops the entry (if it is still the head) and makes it the
// current source in one commit, so that a power cut never loses it
// between the two.
func (h *playerHost) SourceStart(it player.Item) {
	h.locked(func(vc *VoiceClient) {
		q, _ := it.Data.(queued)
		a := q.data
		next, popped := vc.withoutHead(it)
		vc.current, vc.currentKey, vc.resume = &a, q.key, nil
		rec, err := vc.record()
		if err == nil {
			err = vc.m.node.update(func(tx *store.Tx) error {
				if popped {
					if err := tx.SetQueue(vc.m.tag, vc.guildID, storeItems(next)); err != nil {
						return err
					}
				}
				return tx.PutVoiceClient(vc.m.tag, rec)
			})
		}
		if err != nil {
			// The source is audible whatever the store says: memory
			// follows what is heard, and the next commit retries.
			vc.m.node.log.Error("storing the current source", "guild", vc.guildID, "err", err)
		}
		if popped {
			vc.queue = next
			vc.play.p.QueueChanged()
			vc.emit(protocol.EventQueue, map[string]any{"name": protocol.QueuePop, "args": []any{0}})
		}
		vc.emit(protocol.EventSourceStart, map[string]any{"source": vc.source(a, q.key)})
	})
}

func (h *playerHost) SourceStop(it player.Item, reason player.StopReason) {
	h.locked(func(vc *VoiceClient) {
		q, _ := it.Data.(queued)
		s := vc.source(q.data, q.key)
		if vc.current != nil && vc.currentKey == q.key {
			vc.current, vc.currentKey = nil, ""
			if err := vc.save(); err != nil {
				vc.m.node.log.Error("storing the current source", "guild", vc.guildID, "err", err)
			}
		}
		vc.emit(protocol.EventSourceStop, map[string]any{"source": s, "reason": string(reason)})
	})
}

func (h *playerHost) RequireNextSource(current player.Item, autoplay bool) {
	h.locked(func(vc *VoiceClient) {
		q, _ := current.Data.(queued)
		vc.emit(protocol.EventRequireNextSource, map[string]any{"current": vc.source(q.data, q.key), "autoplay": autoplay})
	})
}

func (h *playerHost) SourceTraceback(it player.Item, err error) {
	h.locked(func(vc *VoiceClient) {
		vc.popIfHead(it)
		q, _ := it.Data.(queued)
		vc.m.node.log.Warn("a source failed", "guild", vc.guildID, "tag", it.Tag, "err", err)
		vc.emit(protocol.EventSourceTraceback, map[string]any{"source": q.data, "traceback": err.Error()})
	})
}

func (h *playerHost) PlayerTraceback(err error) {
	h.locked(func(vc *VoiceClient) {
		vc.m.node.log.Error("the player hit an error", "guild", vc.guildID, "err", err)
		vc.emit(protocol.EventPlayerTraceback, map[string]any{"traceback": err.Error()})
	})
}

func (h *playerHost) FilterError(filter string, err error) { h.vc.filterErrorLater(filter, err) }

// playerError maps the player's errors for the bot.
func (vc *VoiceClient) playerError(err error) error {
	switch {
	case errors.Is(err, player.ErrNotPlaying):
		return vc.notPlaying()
	case errors.Is(err, player.ErrNotSeekable), errors.Is(err, player.ErrNegativeSeek):
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return err
}

// Current returns the current source, or nil when nothing plays.
func (vc *VoiceClient) Current() (*protocol.AudioSource, error) {
	unlock, err := vc.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if vc.current == nil {
		return nil, nil
	}
	s := vc.source(*vc.current, vc.currentKey)
	return &s, nil
}

// SetCurrentContext sets the context of the current source.
func (vc *VoiceClient) SetCurrentContext(raw json.RawMessage) (*protocol.AudioSource, error) {
	ctx, err := protocol.NormalizeContext(raw)
	if err != nil {
		return nil, err
	}
	unlock, err := vc.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if vc.current == nil {
		return nil, vc.notPlaying()
	}
	prev := vc.current.Context
	vc.current.Context = ctx
	if err := vc.save(); err != nil {
		vc.current.Context = prev
		return nil, err
	}
	s := vc.source(*vc.current, vc.currentKey)
	return &s, nil
}

// Seek moves the current source to offset seconds (any offset ≥ 0).
func (vc *VoiceClient) Seek(offset float64) error {
	if offset < 0 {
		return badRequest("offset must be ≥ 0 seconds, not %g", offset)
	}
	unlock, err := vc.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if vc.play == nil || vc.current == nil {
		return vc.notPlaying()
	}
	return vc.playerError(vc.play.p.Seek(seconds(offset)))
}

// Skip ends the current source and drops the offset-1 entries after it
// (each one a QUEUE_EVENT delItem [0]).
func (vc *VoiceClient) Skip(offset int) error {
	if offset < 1 {
		return badRequest("offset must be ≥ 1, not %d", offset)
	}
	unlock, err := vc.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if vc.play == nil || vc.current == nil {
		return vc.notPlaying()
	}
	if _, ok := vc.play.p.Current(); !ok { // a restored source not heard yet
		return fmt.Errorf("%w on guild %s: the current source is still opening", ErrNotPlaying, vc.guildID)
	}
	if drop := offset - 1; drop > 0 {
		if drop > len(vc.queue) {
			return badRequest("offset %d is bigger than the queue (%d entries) plus the current source", offset, len(vc.queue))
		}
		events := make([]queueEvent, drop)
		for i := range events {
			events[i] = queueEvent{protocol.QueueDelItem, []any{0}}
		}
		if err := vc.commitQueueLocked(append([]entry(nil), vc.queue[drop:]...), events); err != nil {
			return err
		}
	}
	return vc.playerError(vc.play.p.Skip())
}

// SeekState returns GET /seek's duration, position and remain.
func (vc *VoiceClient) SeekState() (map[string]any, error) {
	unlock, err := vc.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if vc.current == nil {
		return nil, vc.notPlaying()
	}
	s := vc.source(*vc.current, vc.currentKey)
	return map[string]any{"duration": s.Duration, "position": s.Position, "remain": remain(s)}, nil
}

func remain(s protocol.AudioSource) any {
	if s.Duration == nil {
		return nil
	}
	return max(0, *s.Duration-s.Position)
}

// checkpoint takes every playing voice client's position and commits those
// that changed since the last pass, in one batched commit (SD-card wear).
// It runs on Node.Run's goroutine every CheckpointInterval, and once at
// shutdown.
func (n *Node) checkpoint() {
	type pos struct {
		tag, guild, key string
		vc              *VoiceClient
		p               *player.Player
		at              store.Position
	}
	var playing []pos
	n.mu.Lock()
	for _, m := range n.managers {
		m.mu.Lock()
		for _, vc := range m.voiceClients {
			if vc.play != nil && vc.current != nil {
				playing = append(playing, pos{tag: m.tag, guild: vc.guildID, key: vc.currentKey, vc: vc, p: vc.play.p})
			}
		}
		m.mu.Unlock()
	}
	n.mu.Unlock()

	// The players are asked without the node's locks: one busy in a slow
	// frame must not stall every other session.
	now := time.Now()
	seen := make(map[*VoiceClient]store.Position)
	var changed []pos
	for _, c := range playing {
		cur, ok := c.p.Current()
		if q, _ := cur.Item.Data.(queued); !ok || q.key != c.key {
			continue
		}
		c.at = store.Position{SourceTag: cur.Item.Tag, Offset: cur.Position.Truncate(20 * time.Millisecond), At: now}
		last, ok := n.lastCheckpoint[c.vc]
		if ok && last.SourceTag == c.at.SourceTag && last.Offset == c.at.Offset {
			seen[c.vc] = last
			continue
		}
		seen[c.vc] = c.at
		changed = append(changed, c)
	}
	if len(changed) > 0 {
		err := n.update(func(tx *store.Tx) error {
			for _, c := range changed {
				if err := tx.PutPosition(c.tag, c.guild, c.at); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			return nil
		})
		if err != nil {
			n.log.Error("storing position checkpoints", "err", err)
			return
		}
	}
	n.lastCheckpoint = seen // the players that stopped drop out
}

func (vc *VoiceClient) notPlaying() error {
	return fmt.Errorf("%w on guild %s", ErrNotPlaying, vc.guildID)
}
