package appliance

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/discodo-go/discodo/appliance/audio"
	"github.com/discodo-go/discodo/appliance/protocol"
	"github.com/discodo-go/discodo/appliance/voice"
	"github.com/discodo-go/discodo/store"
	"github.com/discodo-go/discodo/wasm"
)

// Defaults of Config (node-protocol.md section 9).
const (
	DefaultVCTimeout     = 300 * time.Second
	DefaultMaxQueue      = 1000
	DefaultMaxQueueBytes = 768 << 10 // keeps getQueue under the 1 MiB frame limit
	DefaultMaxSessions   = 10000
	DefaultVolume        = 1.0
	DefaultCrossfade     = 10.0
	// DefaultCheckpointInterval bounds how stale a stored position is.
	DefaultCheckpointInterval = 2 * time.Second
)

// RESUMED forms (node-protocol.md section 3).
const (
	ResumedPairs    = "pairs"    // the seed: [[guild_id, channel_id], ...]
	ResumedDiscodo3 = "discodo3" // discodo's code: {guild_id: {id, channel}}
)

// Config configures a Node. The zero value works.
type Config struct {
	// VCTimeout is how long a manager outlives its last socket.
	VCTimeout time.Duration
	// ResumedFormat is ResumedPairs (default) or ResumedDiscodo3.
	ResumedFormat string
	// DefaultOptions are the options of new voice clients; nil means
	// autoplay on, volume 1.0, crossfade 10 s, no filter.
	DefaultOptions *Options
	// MaxQueue caps entries per queue; MaxQueueBytes caps their encoded size.
	MaxQueue      int
	MaxQueueBytes int
	// MaxSessions caps the number of managers (tags).
	MaxSessions int
	// Sources resolves queries (getSource, searchSources, loadSource) and
	// opens sources for the players; nil answers with ErrNotSupported.
	Sources *audio.Resolver
	// NewE2EE builds the DAVE session of each voice connection (package
	// dave, wired in main); nil offers no DAVE, which Discord refuses with
	// 4017: only for tests against a fake voice server.
	NewE2EE func(userID, channelID uint64, send func(op int, payload []byte, binary bool) error) (voice.E2EE, error)
	// VoiceTLS is the TLS configuration for wss:// voice endpoints; nil
	// uses the system trust store.
	VoiceTLS *tls.Config
	// FrameSource, when set, replaces the players as the audio of every
	// voice connection (tests of the voice path play a tone through it).
	FrameSource func(guildID string) voice.FrameSource
	// Filters runs the WASM filters (the filter option, /filters); nil
	// refuses filter chains.
	Filters *wasm.Host
	// Encoder sets the Opus bitrate and complexity of the players.
	Encoder audio.EncoderConfig
	// BufferLimit (BUFFERLIMIT) and PreloadTime (PRELOAD_TIME) of the
	// players; zero means the player's defaults (5 s, 10 s).
	BufferLimit, PreloadTime time.Duration
	// CheckpointInterval is how often the players' positions are stored
	// (only those that changed, in one commit); default 2 s.
	CheckpointInterval time.Duration
	// ObserveSend is handed to every voice connection (voice.Config).
	ObserveSend func(deviation time.Duration)
	// ObserveCommit, when set, gets the duration of every store commit.
	ObserveCommit func(time.Duration)
	Logger        *slog.Logger
}

// Subscriber is a socket watching a manager's events. Send queues one
// encoded frame and must not block; a socket that cannot keep up is the
// server's business (it disconnects it).
type Subscriber interface {
	Send(frame []byte)
}

// Node is the node's state: every client manager and what hangs under it.
type Node struct {
	cfg Config
	db  *store.DB
	log *slog.Logger

	mu       sync.Mutex
	managers map[string]*Manager
	wake     chan struct{}
	health   chan chan struct{} // Healthy's round trips through Run's loop
	later    chan func()        // work for Run's loop (FILTER_ERROR events)

	lastCheckpoint map[*VoiceClient]store.Position // Run's goroutine only

	figures figures

	// life ends when Run returns; voice connections run under it.
	life    context.Context
	stop    context.CancelFunc
	running sync.WaitGroup
}

// New restores the stored sessions (see the package comment for what
// happens to deadlines) and returns the node. It starts nothing.
func New(cfg Config, db *store.DB) (*Node, error) {
	if cfg.VCTimeout <= 0 {
		cfg.VCTimeout = DefaultVCTimeout
	}
	switch cfg.ResumedFormat {
	case "":
		cfg.ResumedFormat = ResumedPairs
	case ResumedPairs, ResumedDiscodo3:
	default:
		return nil, fmt.Errorf("appliance: resumed format %q: want %q or %q", cfg.ResumedFormat, ResumedPairs, ResumedDiscodo3)
	}
	if cfg.DefaultOptions == nil {
		cfg.DefaultOptions = &Options{Autoplay: true, Volume: DefaultVolume, Crossfade: DefaultCrossfade}
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.MaxQueueBytes <= 0 {
		cfg.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	life, stop := context.WithCancel(context.Background())
	n := &Node{
		cfg:      cfg,
		db:       db,
		log:      cfg.Logger,
		managers: make(map[string]*Manager),
		wake:     make(chan struct{}, 1),
		health:   make(chan chan struct{}),
		later:    make(chan func(), 256),
		life:     life,
		stop:     stop,
	}
	if err := n.restore(time.Now()); err != nil {
		stop()
		return nil, err
	}
	return n, nil
}

// Run runs the janitor that destroys managers at their deadline, until ctx
// ends; then it stops every voice connection and waits for them.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	for _, m := range n.managers {
		m.mu.Lock()
		for _, vc := range m.voiceClients {
			vc.connectLocked()
		}
		m.mu.Unlock()
	}
	n.mu.Unlock()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	checkpoints := time.NewTicker(n.cfg.CheckpointInterval)
	defer checkpoints.Stop()
	for {
		next := n.expire(time.Now())
		wait := time.Hour
		if !next.IsZero() {
			wait = time.Until(next)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			n.quiesce()
			n.checkpoint()
			n.stop()
			n.mu.Lock()
			for _, m := range n.managers {
				m.mu.Lock()
				for _, vc := range m.voiceClients {
					vc.disconnectLocked()
				}
				m.mu.Unlock()
			}
			n.mu.Unlock()
			n.running.Wait()
			return nil
		case <-n.wake:
		case <-timer.C:
		case reply := <-n.health:
			close(reply)
		case <-checkpoints.C:
			n.checkpoint()
		case fn := <-n.later:
			fn()
		}
	}
}

// Healthy checks that the node works: Run's loop answers (so the janitor
// is not stuck), the managers' locks can be taken and the store can be
// read. The systemd watchdog is petted only when it returns nil.
func (n *Node) Healthy(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case n.health <- reply:
	case <-ctx.Done():
		return fmt.Errorf("the node's loop does not answer: %w", ctx.Err())
	}
	<-reply
	n.mu.Lock()
	ms := make([]*Manager, 0, len(n.managers))
	for _, m := range n.managers {
		ms = append(ms, m)
	}
	n.mu.Unlock()
	for _, m := range ms {
		m.mu.Lock()
		m.mu.Unlock() //nolint:staticcheck // taking the lock is the check
	}
	if _, err := n.db.Load(); err != nil {
		return fmt.Errorf("the store cannot be read: %w", err)
	}
	return ctx.Err()
}

// silenceTail is how long a graceful stop lets the voice connections send
// their five F8 FF FE frames (discord-voice.md section 2.2) before closing.
const silenceTail = 6 * 20 * time.Millisecond

// quiesce ends the audio of every voice connection, so that each sends its
// silence frames, and gives them the time to do it.
func (n *Node) quiesce() {
	n.mu.Lock()
	playing := 0
	for _, m := range n.managers {
		m.mu.Lock()
		for _, vc := range m.voiceClients {
			if vc.voice != nil {
				vc.voice.conn.SetSource(nil)
				playing++
			}
		}
		m.mu.Unlock()
	}
	n.mu.Unlock()
	if playing > 0 {
		time.Sleep(silenceTail)
	}
}

func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// expire destroys every manager whose deadline is at or before now and
// returns the earliest deadline still pending (zero when none).
func (n *Node) expire(now time.Time) time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	var next time.Time
	earliest := func(d time.Time) {
		if !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	for _, m := range n.managers {
		m.mu.Lock()
		if d := m.deadline; !d.IsZero() && !now.Before(d) {
			n.log.Info("VC_TIMEOUT passed: destroying the manager", "tag", m.tag, "deadline", d)
			n.destroyLocked(m)
			m.mu.Unlock()
			continue
		}
		earliest(m.deadline)
		for _, vc := range m.voiceClients {
			if d := vc.deadline; !d.IsZero() && !now.Before(d) {
				n.log.Info("no VOICE_SERVER_UPDATE within VC_TIMEOUT: destroying the voice client", "tag", m.tag, "guild", vc.guildID)
				if err := m.destroyVoiceClientLocked(vc); err != nil {
					n.log.Error("destroying a voice client", "guild", vc.guildID, "err", err)
				}
				continue
			}
			earliest(vc.deadline)
		}
		m.mu.Unlock()
	}
	return next
}

// destroyLocked removes a manager and everything under it. n.mu and m.mu
// are held.
func (n *Node) destroyLocked(m *Manager) {
	if err := n.update(func(tx *store.Tx) error { return tx.DeleteManager(m.tag) }); err != nil {
		// The memory state goes anyway: a stale record is cleaned at the
		// next start, when its deadline has passed.
		n.log.Error("deleting a manager from the store", "tag", m.tag, "err", err)
	}
	for _, vc := range m.voiceClients {
		vc.disconnectLocked()
		vc.stopPlayerLocked()
		vc.gone = true
		m.broadcast(protocol.EventVCDestroyed, vc.event(nil))
	}
	m.voiceClients = nil
	m.destroyed = true
	delete(n.managers, m.tag)
}

// restore loads the store into memory at boot.
func (n *Node) restore(now time.Time) error {
	st, err := n.db.Load()
	if err != nil {
		return err
	}
	for _, p := range st.Problems {
		n.log.Error("skipping an unreadable stored record", "err", p)
	}
	n.restoreFilters(context.Background(), st.Filters)
	for _, s := range st.Sessions {
		rec := s.Manager
		if !rec.Deadline.IsZero() && !now.Before(rec.Deadline) {
			n.log.Info("VC_TIMEOUT passed while the node was down: cleaning up", "tag", rec.Tag, "deadline", rec.Deadline)
			if err := n.update(func(tx *store.Tx) error { return tx.DeleteManager(rec.Tag) }); err != nil {
				return err
			}
			continue
		}
		if rec.Deadline.IsZero() {
			// Sockets were open when the node died: count from now.
			rec.Deadline = now.Add(n.cfg.VCTimeout)
			if err := n.update(func(tx *store.Tx) error { return tx.PutManager(rec) }); err != nil {
				return err
			}
		}
		m := n.newManager(rec.Tag, rec.UserID, rec.ShardID)
		m.sessionID = rec.SessionID
		m.deadline = rec.Deadline
		for _, svc := range s.VoiceClients {
			vc, err := m.restoreVoiceClient(svc)
			if err != nil {
				n.log.Error("skipping an unreadable stored voice client", "tag", rec.Tag, "guild", svc.GuildID, "err", err)
				continue
			}
			m.voiceClients[vc.guildID] = vc
		}
		n.managers[m.tag] = m
		n.log.Info("restored a session", "tag", m.tag, "voice_clients", len(m.voiceClients), "deadline", m.deadline)
	}
	return nil
}

func (n *Node) newManager(tag, userID, shardID string) *Manager {
	return &Manager{
		node:         n,
		tag:          tag,
		userID:       userID,
		shardID:      shardID,
		subs:         make(map[Subscriber]struct{}),
		voiceClients: make(map[string]*VoiceClient),
	}
}

// Tag returns the session tag of a user and optional shard:
// "<user_id>" or "<user_id>-<shard_id>".
func Tag(userID, shardID protocol.ID) string {
	if shardID == "" {
		return string(userID)
	}
	return string(userID) + "-" + string(shardID)
}

// Identify attaches sub to the manager of (userID, shardID), creating it if
// needed, and sends IDENTIFIED — then RESUMED when the manager already
// existed — to sub before any other event of the manager can reach it.
func (n *Node) Identify(userID, shardID protocol.ID, sub Subscriber) (*Manager, error) {
	if userID == "" {
		return nil, badRequest("IDENTIFY needs user_id")
	}
	tag := Tag(userID, shardID)
	now := time.Now()

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.life.Err() != nil {
		return nil, ErrClosed
	}
	m := n.managers[tag]
	if m != nil {
		m.mu.Lock()
		if !m.deadline.IsZero() && !now.Before(m.deadline) {
			n.destroyLocked(m) // exactly at VC_TIMEOUT: a fresh session
			m.mu.Unlock()
			m = nil
		} else {
			m.mu.Unlock()
		}
	}
	resumed := m != nil
	if m == nil {
		if len(n.managers) >= n.cfg.MaxSessions {
			return nil, fmt.Errorf("%w: the node holds %d sessions (its limit)", ErrTooManySessions, len(n.managers))
		}
		m = n.newManager(tag, string(userID), string(shardID))
		if err := n.update(func(tx *store.Tx) error { return tx.PutManager(m.record()) }); err != nil {
			return nil, fmt.Errorf("storing the new session %q: %w", tag, err)
		}
		n.managers[tag] = m
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.deadline.IsZero() {
		prev := m.deadline
		m.deadline = time.Time{}
		if err := n.update(func(tx *store.Tx) error { return tx.PutManager(m.record()) }); err != nil {
			m.deadline = prev
			return nil, fmt.Errorf("storing the resumed session %q: %w", tag, err)
		}
		n.poke()
	}
	m.subs[sub] = struct{}{}
	send(sub, protocol.OpIdentified, "ClientManager initialized.")
	if resumed {
		send(sub, protocol.OpResumed, m.resumedLocked())
	}
	for _, b := range m.held {
		sub.Send(b)
	}
	m.held = nil
	n.log.Info("identified", "tag", tag, "resumed", resumed, "sockets", len(m.subs))
	return m, nil
}

// FindManager returns the manager of a user for a REST request. With no
// shard given and no unsharded session, the user's only sharded session is
// used (neither existing client sends Shard-ID).
func (n *Node) FindManager(userID, shardID protocol.ID) (*Manager, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m, ok := n.managers[Tag(userID, shardID)]; ok {
		return m, nil
	}
	if shardID == "" {
		var only *Manager
		for _, m := range n.managers {
			if m.userID == string(userID) {
				if only != nil {
					return nil, fmt.Errorf("%w: user %s has several sharded sessions: send Shard-ID", ErrManagerNotFound, userID)
				}
				only = m
			}
		}
		if only != nil {
			return only, nil
		}
	}
	return nil, fmt.Errorf("%w: no session %q", ErrManagerNotFound, Tag(userID, shardID))
}

func send(sub Subscriber, op string, d any) {
	b, err := protocol.Encode(op, d)
	if err != nil {
		return
	}
	sub.Send(b)
}
